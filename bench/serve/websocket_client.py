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
    import h2.config
    import h2.connection

    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    conns = []
    opened = 0
    while opened < n:
        k = min(100, n - opened)
        s = socket.create_connection((host, int(port)))
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        c.initiate_connection()
        s.sendall(c.data_to_send())
        while c.remote_settings.get(8) != 1:  # ENABLE_CONNECT_PROTOCOL
            c.receive_data(s.recv(65536))
            s.sendall(c.data_to_send())
        for _ in range(k):
            sid = c.get_next_available_stream_id()
            c.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"),
                                 (":scheme", "http"), (":authority", f"{host}:{port}"),
                                 (":path", path), ("sec-websocket-version", "13")])
            # One masked text frame, "hello" (a zero mask), to be echoed.
            c.send_data(sid, bytes([0x81, 0x85, 0, 0, 0, 0]) + b"hello")
        s.sendall(c.data_to_send())
        echoes = 0
        while echoes < k:
            for e in c.receive_data(s.recv(65536)):
                if getattr(e, "data", None):
                    echoes += e.data.count(b"hello")
                    c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            s.sendall(c.data_to_send())
        opened += k
        conns.append((s, c))
    print(f"open {opened}", flush=True)
    sys.stdin.read()
    for s, _ in conns:
        s.close()


if __name__ == "__main__":
    if sys.argv[1] == "h2idle":
        h2idle(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "idle":
        asyncio.run(idle(sys.argv[2], int(sys.argv[3])))
    else:
        asyncio.run(echo(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
