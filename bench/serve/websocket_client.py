#!/usr/bin/python3
"""Load for bench/serve/websocket.sh (Debian's python3-websockets).

  websocket_client.py idle URL N        opens N WebSockets, has each echo one
                                        message, prints "open N", then holds
                                        them until stdin closes
  websocket_client.py echo URL C SECS   C WebSockets each send a message of
                                        SIZE (32) bytes and await its echo,
                                        over and over for SECS; prints the
                                        round trips
  websocket_client.py h2idle URL N      as idle, but the N WebSockets are
                                        streams of HTTP/2 connections (RFC
                                        8441), 100 to a connection
  websocket_client.py h2echo URL C SECS as echo, the C WebSockets streams of
                                        one HTTP/2 connection (python3-h2),
                                        all sending, then all awaiting

With COMPRESS set, permessage-deflate is offered (python3-websockets'
default) and the messages are JSON-like text that compresses; without it,
nothing is offered.
"""
import asyncio
import json
import os
import socket
import sys
import time

import websockets

COMPRESSION = "deflate" if os.environ.get("COMPRESS") else None
SIZE = int(os.environ.get("SIZE", "32"))


def message():
    if not COMPRESSION:
        return "x" * SIZE
    row = json.dumps({"id": 12345, "user": "ada", "text": "hello there", "ok": True})
    return (row * (SIZE // len(row) + 1))[:SIZE]


async def idle(url, n):
    sockets = []
    for i in range(n):
        ws = await websockets.connect(url, ping_interval=None, compression=COMPRESSION)
        await ws.send("hello")
        await ws.recv()
        sockets.append(ws)
    print(f"open {len(sockets)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for ws in sockets:
        await ws.close()


async def echo(url, c, secs):
    done = 0
    text = message()
    deadline = time.monotonic() + secs

    async def one():
        nonlocal done
        async with websockets.connect(url, ping_interval=None, compression=COMPRESSION) as ws:
            while time.monotonic() < deadline:
                await ws.send(text)
                await ws.recv()
                done += 1

    await asyncio.gather(*(one() for _ in range(c)))
    print(f"round-trips {done}", flush=True)


def h2idle(url, n):
    conns = []
    while len(conns) * 100 < n:
        s, c, ids = h2_open(url, min(100, n - len(conns) * 100))
        h2_round(s, c, ids, text_frame(b"hello"))
        conns.append(s)
    print(f"open {n}", flush=True)
    sys.stdin.read()
    for s in conns:
        s.close()


def text_frame(payload):
    """A client's text frame (masked, with a zero mask: the payload as is)."""
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0xFE]) + n.to_bytes(2, "big")
    return head + bytes(4) + payload


def h2_open(url, k):
    """An HTTP/2 connection (python3-h2) with k WebSocket streams open."""
    import h2.config
    import h2.connection
    import h2.settings

    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    s = socket.create_connection((host, int(port)))
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
    s.sendall(c.data_to_send())
    while c.remote_settings.get(8) != 1:  # ENABLE_CONNECT_PROTOCOL
        c.receive_data(s.recv(65536))
        s.sendall(c.data_to_send())
    ids = []
    for _ in range(k):
        sid = c.get_next_available_stream_id()
        c.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"),
                             (":scheme", "http"), (":authority", f"{host}:{port}"),
                             (":path", path), ("sec-websocket-version", "13")])
        ids.append(sid)
    return s, c, ids


def h2_round(s, c, ids, frame):
    """Sends `frame` on every stream and waits for as many echoes (the
    server's copy is the same but for the 4 bytes of mask)."""
    for sid in ids:
        c.send_data(sid, frame)
    s.sendall(c.data_to_send())
    expected = len(ids) * (len(frame) - 4)
    got = 0
    while got < expected:
        for e in c.receive_data(s.recv(65536)):
            if getattr(e, "data", None):
                got += len(e.data)
                c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        s.sendall(c.data_to_send())


def h2echo(url, k, secs):
    s, c, ids = h2_open(url, k)
    frame = text_frame(b"x" * SIZE)
    done = 0
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        h2_round(s, c, ids, frame)
        done += len(ids)
    print(f"round-trips {done}", flush=True)
    s.close()


if __name__ == "__main__":
    if sys.argv[1] == "h2echo":
        h2echo(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif sys.argv[1] == "h2idle":
        h2idle(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "idle":
        asyncio.run(idle(sys.argv[2], int(sys.argv[3])))
    else:
        asyncio.run(echo(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
