#!/usr/bin/python3
"""Load for bench/serve/websocket.sh (Debian's python3-websockets).

  websocket_client.py idle URL N        opens N WebSockets, has each echo one
                                        message, prints "open N", then holds
                                        them until stdin closes
  websocket_client.py echo URL C SECS   C WebSockets each send a 32-byte
                                        message and await its echo, over and
                                        over for SECS; prints the round trips
"""
import asyncio
import sys
import time

import websockets


async def idle(url, n):
    sockets = []
    for i in range(n):
        ws = await websockets.connect(url, ping_interval=None)
        await ws.send("hello")
        await ws.recv()
        sockets.append(ws)
    print(f"open {len(sockets)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for ws in sockets:
        await ws.close()


async def echo(url, c, secs):
    done = 0
    message = "x" * 32
    deadline = time.monotonic() + secs

    async def one():
        nonlocal done
        async with websockets.connect(url, ping_interval=None) as ws:
            while time.monotonic() < deadline:
                await ws.send(message)
                await ws.recv()
                done += 1

    await asyncio.gather(*(one() for _ in range(c)))
    print(f"round-trips {done}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "idle":
        asyncio.run(idle(sys.argv[2], int(sys.argv[3])))
    else:
        asyncio.run(echo(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
