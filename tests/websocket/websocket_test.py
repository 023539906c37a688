#!/usr/bin/python3
"""WebSocket checks (RFC 6455) against `valk serve examples/websocket.lisp`,
valk/websocket's server side against tests/websocket/app.lisp, and
valk/proxy's joining of connections through examples/gateway.lisp (its
/api/ in front of app.lisp).

Two clients: Debian's python3-websockets, an implementation of its own, for
what a real client does (over ws:// and wss://); and frames built by hand
for what a broken or hostile one sends.

  websocket_test.py VALK_BINARY [-k NAME-SUBSTRING]
"""
import asyncio
import base64
import hashlib
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import zlib

import websockets

from frames import FrameClient
from h2_websocket import H2Connection

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VALK = None  # the binary under test
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


# ---- a client of frames built by hand ------------------------------------------


class Raw(FrameClient):
    """A WebSocket over its own HTTP/1.1 connection."""

    def __init__(self, port, version="13", path="/echo", origin=None, extensions=None):
        super().__init__()
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: {version}\r\n"
                + (f"Origin: {origin}\r\n" if origin else "")
                + (f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else "")
                + "\r\n"
            ).encode()
        )
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode()
        self.status = int(self.head.split(" ")[1])

    def send(self, data):
        self.s.sendall(data)

    def more(self):
        return self.s.recv(65536)

    def expect_eof(self):
        self.s.settimeout(5)
        while True:
            if not self.s.recv(65536):
                return


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


# ---- the cases -----------------------------------------------------------------


@case
async def echoes_text_and_binary(port, tls, app, gateway):
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo") as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\xffbinary")
        assert await ws.recv() == b"\x00\xffbinary"
        await ws.send("grüße ✓")
        assert await ws.recv() == "grüße ✓"
        await ws.send("count")
        assert await ws.recv() == "messages: 4"
    assert ws.close_code == 1000, ws.close_code


@case
async def echoes_over_tls(port, tls, app, gateway):
    context = ssl.create_default_context(cafile=os.path.join(ROOT, "certs/ca.crt"))
    context.check_hostname = False
    async with websockets.connect(f"wss://127.0.0.1:{tls}/echo", ssl=context) as ws:
        await ws.send("over tls")
        assert await ws.recv() == "over tls"
        big = os.urandom(60000)
        await ws.send(big)
        assert await ws.recv() == big


@case
async def a_ping_gets_a_pong(port, tls, app, gateway):
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo") as ws:
        await asyncio.wait_for(await ws.ping(b"are you there"), 5)


@case
async def the_clients_close_code_comes_back(port, tls, app, gateway):
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo") as ws:
        await ws.close(4001, "done here")
    assert ws.close_code == 4001, ws.close_code


@case
async def a_message_over_max_message_closes_with_1009(port, tls, app, gateway):
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo", max_size=None) as ws:
        await ws.send("x" * 70000)  # the example takes 65 536 bytes at most
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("an oversized message was echoed")
        except websockets.ConnectionClosed as e:
            assert e.rcvd.code == 1009, e.rcvd


@case
async def many_connections_at_once(port, tls, app, gateway):
    async def one(i):
        async with websockets.connect(f"ws://127.0.0.1:{port}/echo") as ws:
            for j in range(20):
                await ws.send(f"{i}/{j}")
                assert await ws.recv() == f"{i}/{j}"

    await asyncio.gather(*(one(i) for i in range(200)))


@case
async def fragments_are_joined_and_pings_between_them_answered(port, tls, app, gateway):
    r = Raw(port)
    assert r.status == 101, r.head
    r.send_frame(0x1, b"hel", fin=False)
    r.send_frame(0x9, b"ping in the middle")
    r.send_frame(0x0, b"lo", fin=True)
    assert r.read_frame() == (0xA, b"ping in the middle")
    assert r.read_frame() == (0x1, b"hello")


@case
async def the_handshake_answers_as_rfc_6455_says(port, tls, app, gateway):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = s.recv(65536).decode()
    assert head.startswith("HTTP/1.1 101 Switching Protocols\r\n"), head
    # RFC 6455 1.3's own example key and answer.
    assert "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head, head
    assert re.search(r"\r\nupgrade: websocket\r\n", head), head
    assert re.search(r"\r\nconnection: upgrade\r\n", head), head


@case
async def a_key_that_is_not_16_bytes_gets_400(port, tls, app, gateway):
    for key in (b"c2hvcnQ=", b"dGhlIHNhbXBsZSBub25jZQ", b"!!!!!!!!!!!!!!!!!!!!!!=="):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = s.recv(65536).decode()
        assert head.startswith("HTTP/1.1 400 Bad Request\r\n"), (key, head)


@case
async def a_plain_request_gets_426(port, tls, app, gateway):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    head = s.recv(65536).decode()
    assert head.startswith("HTTP/1.1 426 Upgrade Required\r\n"), head
    assert "sec-websocket-version: 13\r\n" in head, head


@case
async def another_version_gets_426_naming_13(port, tls, app, gateway):
    r = Raw(port, version="8")
    assert r.status == 426, r.head
    assert "sec-websocket-version: 13" in r.head, r.head


@case
async def an_unmasked_frame_is_a_protocol_error(port, tls, app, gateway):
    r = Raw(port)
    r.send_frame(0x1, b"not masked", mask=False)
    r.expect_close(1002)
    r.expect_eof()


@case
async def text_that_is_not_utf8_closes_with_1007(port, tls, app, gateway):
    r = Raw(port)
    r.send_frame(0x1, b"\xc3\x28 broken")
    r.expect_close(1007)
    r.expect_eof()


@case
async def reserved_bits_without_an_extension_are_a_protocol_error(port, tls, app, gateway):
    r = Raw(port)
    r.send_frame(0x1, b"x", rsv=0x4)
    r.expect_close(1002)


@case
async def a_client_that_vanishes_leaves_the_others_served(port, tls, app, gateway):
    r = Raw(port)
    r.send_frame(0x1, b"half a fra", fin=False)
    r.s.close()  # no close frame, no rest of the message
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo") as ws:
        await ws.send("still here")
        assert await ws.recv() == "still here"


@case
async def the_close_handshake_ends_with_the_servers_eof(port, tls, app, gateway):
    r = Raw(port)
    r.send_frame(0x8, close_payload(1000, b"bye"))
    r.expect_close(1000)
    r.expect_eof()


# ---- the server side, against tests/websocket/app.lisp --------------------------


def seen(app):
    with urllib.request.urlopen(f"http://127.0.0.1:{app}/seen", timeout=5) as r:
        return json.loads(r.read())


async def seen_when(app, holds):
    """What app.lisp saw, once `holds` of it (or after 5 s)."""
    for _ in range(50):
        got = seen(app)
        if holds(got):
            break
        await asyncio.sleep(0.1)
    return got


async def held_back(app, n, size, next_message):
    """With app.lisp's /flood just opened for `n` messages of `size`: checks
    that its sender waits while the client reads nothing, then that all
    `n` come (`next_message()` awaits the next) and the sender ends."""
    await asyncio.sleep(1)
    assert seen(app).get("flood-sent") != n, "the sender did not wait for the client"
    for _ in range(n):
        assert len(await next_message()) == size
    got = await seen_when(app, lambda s: s.get("flood-sent") == n)
    assert got.get("flood-sent") == n, got


async def flood(app, url, n, size):
    """held_back, with python3-websockets on app.lisp's /flood at `url`."""
    async with websockets.connect(f"{url}?n={n}&size={size}", max_queue=1) as ws:
        await held_back(app, n, size, lambda: asyncio.wait_for(ws.recv(), 10))


@case
async def the_server_closes_with_its_code_and_reason(port, tls, app, gateway):
    async with websockets.connect(f"ws://127.0.0.1:{app}/server-close") as ws:
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("a message came")
        except websockets.ConnectionClosed:
            pass
    assert (ws.close_code, ws.close_reason) == (4002, "server says bye"), ws.close_code


@case
async def a_handler_that_raises_closes_with_1011(port, tls, app, gateway):
    async with websockets.connect(f"ws://127.0.0.1:{app}/raise") as ws:
        await ws.send("go")
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("a message came")
        except websockets.ConnectionClosedError:
            pass
    assert ws.close_code == 1011, ws.close_code


@case
async def the_handler_sees_the_clients_close_and_cannot_send_after(port, tls, app, gateway):
    async with websockets.connect(f"ws://127.0.0.1:{app}/status") as ws:
        await ws.close(4100, "see you")
    got = await seen_when(app, lambda s: s.get("late-send"))
    assert got.get("status") == {"code": 4100, "reason": "see you"}, got
    assert got.get("late-send") == "websocket-closed", got


@case
async def only_pages_of_allowed_origins_may_open_one(port, tls, app, gateway):
    # Raw's Host is "x": a page of http://x is the server's own.
    assert Raw(app, path="/server-close", origin="http://x").status == 101
    assert Raw(app, path="/server-close").status == 101  # no Origin: not a browser
    r = Raw(app, path="/server-close", origin="http://evil.example")
    assert r.status == 403, r.head
    assert Raw(app, path="/origins", origin="http://good.example").status == 101
    assert Raw(app, path="/origins", origin="http://x").status == 101
    assert Raw(app, path="/origins", origin="https://evil.example").status == 403
    assert Raw(app, path="/any-origin", origin="https://evil.example").status == 101


@case
async def the_server_pings_at_its_interval(port, tls, app, gateway):
    r = Raw(app, path="/pings")
    assert r.status == 101, r.head
    assert r.read_frame() == (0x9, b"")
    first = time.monotonic()
    assert r.read_frame() == (0x9, b"")
    between = time.monotonic() - first
    assert 0.05 < between < 2, f"pings {between:.3f} s apart, at 100 ms"
    r.send_frame(0x8, close_payload(1000))
    r.expect_close(1000)


@case
async def a_close_reason_that_is_not_utf8_is_dropped(port, tls, app, gateway):
    # Sent a byte at a time, so that the server reads it in pieces: wslay
    # then passes the reason on unchecked (fuzz_websocket found it), and a
    # Lisp string must be valid UTF-8.
    r = Raw(app, path="/status")
    r.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = b"\x01\x02\x03\x04"
    payload = close_payload(4300, b"b\xbb\x9a")
    frame = bytes([0x88, 0x80 | len(payload)]) + key
    frame += bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    for b in frame:
        r.s.sendall(bytes([b]))
        await asyncio.sleep(0.01)
    r.expect_close(4300)
    got = await seen_when(app, lambda s: (s.get("status") or {}).get("code") == 4300)
    assert got.get("status") == {"code": 4300, "reason": ""}, got


@case
async def the_servers_preferred_subprotocol_is_chosen(port, tls, app, gateway):
    async with websockets.connect(f"ws://127.0.0.1:{app}/protocols", subprotocols=["a", "b"]) as ws:
        assert ws.subprotocol == "b", ws.subprotocol
        assert ws.response_headers["x-extra"] == "1"
        assert await ws.recv() == "b"
    async with websockets.connect(f"ws://127.0.0.1:{app}/protocols") as ws:
        assert ws.subprotocol is None
        assert await ws.recv() == ""


@case
async def another_fiber_sends_while_one_receives(port, tls, app, gateway):
    async with websockets.connect(f"ws://127.0.0.1:{app}/ticker") as ws:
        await ws.send("echo me")
        got = [await asyncio.wait_for(ws.recv(), 5) for _ in range(6)]
    assert "echo me" in got, got
    assert [m for m in got if m != "echo me"] == [f"tick {i}" for i in range(5)], got


async def leave(app, port, path):
    """Opens app.lisp's /finally (at `path` on `port`: app.lisp's own or the
    gateway's), takes its first message and leaves without a close frame;
    checks that the handler's `finally` ran."""

    def go():
        r = Raw(port, path=path)
        assert r.status == 101, r.head
        assert r.read_frame() == (0x1, b"x")
        r.s.close()

    await left(app, go)


async def left(app, go):
    """Runs `go`, which opens app.lisp's /finally and leaves; checks that
    the handler's `finally` ran."""
    before = seen(app).get("left", 0)
    go()
    got = await seen_when(app, lambda s: s.get("left", 0) == before + 1)
    assert got.get("left", 0) == before + 1, got


@case
async def a_client_that_leaves_runs_the_handlers_finally(port, tls, app, gateway):
    await leave(app, app, "/finally")


@case
async def a_client_that_does_not_read_holds_the_sender_back(port, tls, app, gateway):
    # 20 MB of 1 KiB messages: far more than the buffers on the way.
    await flood(app, f"ws://127.0.0.1:{app}/flood", 20000, 1024)


# ---- permessage-deflate (RFC 7692), app.lisp's /compressed ------------------------

OFFER = "permessage-deflate; client_max_window_bits"


def deflated(data):
    """A message's payload as a permessage-deflate sender makes it."""
    z = zlib.compressobj(wbits=-15)
    out = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflated(payload):
    return zlib.decompressobj(wbits=-15).decompress(payload + b"\x00\x00\xff\xff")


@case
async def permessage_deflate_with_python_websockets(port, tls, app, gateway):
    async with websockets.connect(f"ws://127.0.0.1:{app}/compressed") as ws:
        assert ws.response_headers.get("sec-websocket-extensions") == (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        for m in ["short", "x" * 1000, "grüße " * 300, b"\x00\x01" * 500, os.urandom(3000)]:
            await ws.send(m)
            assert await ws.recv() == m
    # Routes without :compress decline the offer.
    async with websockets.connect(f"ws://127.0.0.1:{app}/echo") as ws:
        assert ws.response_headers.get("sec-websocket-extensions") is None


@case
async def compressed_frames_by_hand(port, tls, app, gateway):
    r = Raw(app, path="/compressed", extensions=OFFER)
    assert r.status == 101, r.head
    text = ("hello, compressed world " * 40).encode()
    r.send_frame(0x1, deflated(text), rsv=4)
    op, payload = r.read_frame()
    assert (op, r.rsv) == (0x1, 4), (op, r.rsv)  # it comes back compressed
    assert len(payload) < len(text) // 4, len(payload)
    assert inflated(payload) == text
    # Short messages, and those that do not shrink, go as they are.
    r.send_frame(0x1, deflated(b"hi"), rsv=4)
    assert r.read_frame() == (0x1, b"hi") and r.rsv == 0
    noise = os.urandom(2000)
    r.send_frame(0x2, noise)
    assert r.read_frame() == (0x2, noise) and r.rsv == 0
    # A server that starts afresh for every message: each inflates alone.
    for _ in range(2):
        r.send_frame(0x1, text)
        op, payload = r.read_frame()
        assert r.rsv == 4 and inflated(payload) == text
    r.send_frame(0x8, close_payload(1000))
    r.expect_close(1000)


@case
async def a_narrower_window_is_taken_and_unknown_parameters_declined(port, tls, app, gateway):
    # The client asks the server to compress within 2^10 bytes: a window of
    # 10 bits inflates what comes (zlib refuses data that reaches further).
    r = Raw(app, path="/compressed", extensions="permessage-deflate; server_max_window_bits=10")
    assert "server_max_window_bits=10" in r.head, r.head
    text = os.urandom(3000).hex().encode()  # repeats only across more than 1 KiB
    text = text + text
    r.send_frame(0x1, text)
    op, payload = r.read_frame()
    assert r.rsv == 4, r.rsv
    assert zlib.decompressobj(wbits=-10).decompress(payload + b"\x00\x00\xff\xff") == text
    # Offers the server cannot take are declined: a window below 9 bits
    # (zlib's least), or a parameter RFC 7692 does not define.
    for offer in ["permessage-deflate; server_max_window_bits=8", "permessage-deflate; x=1"]:
        r = Raw(app, path="/compressed", extensions=offer)
        assert r.status == 101 and "sec-websocket-extensions" not in r.head.lower(), r.head
    # Of several offers, the first it can take.
    r = Raw(app, path="/compressed",
            extensions="permessage-deflate; x=1, permessage-deflate; server_max_window_bits=12")
    assert "server_max_window_bits=12" in r.head, r.head


@case
async def compressed_input_is_checked_after_inflating(port, tls, app, gateway):
    # 100 KB of zeros is a few hundred bytes compressed, and over the
    # route's 64 KiB.
    cases = [(0x2, deflated(bytes(100000)), 1009),
             (0x1, deflated(b"\xff\xfe" * 100), 1007),
             (0x1, b"\xff\xff\xff not deflate", 1002)]
    for op, payload, code in cases:
        r = Raw(app, path="/compressed", extensions=OFFER)
        assert r.status == 101, r.head
        r.send_frame(op, payload, rsv=4)
        r.expect_close(code)
        r.expect_eof()


# ---- through valk/proxy: examples/gateway.lisp's /api/ in front of app.lisp ----


@case
async def a_websocket_goes_through_the_gateway(port, tls, app, gateway):
    # A page of the gateway's origin: the upstream knows the gateway's
    # host from x-forwarded-host.
    origin = f"http://127.0.0.1:{gateway}"
    async with websockets.connect(f"ws://127.0.0.1:{gateway}/api/echo", origin=origin) as ws:
        await ws.send("through")
        assert await ws.recv() == "through"
        big = os.urandom(200000)
        await ws.send(big)
        assert await ws.recv() == big
        await asyncio.wait_for(await ws.ping(b"via"), 5)


@case
async def close_codes_pass_through_the_gateway_both_ways(port, tls, app, gateway):
    async with websockets.connect(f"ws://127.0.0.1:{gateway}/api/server-close") as ws:
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            pass
    assert (ws.close_code, ws.close_reason) == (4002, "server says bye"), ws.close_code
    async with websockets.connect(f"ws://127.0.0.1:{gateway}/api/status") as ws:
        await ws.close(4200, "from afar")
    got = await seen_when(app, lambda s: (s.get("status") or {}).get("code") == 4200)
    assert got.get("status") == {"code": 4200, "reason": "from afar"}, got


@case
async def a_client_leaving_the_gateway_ends_the_upstream_handler(port, tls, app, gateway):
    await leave(app, gateway, "/api/finally")


@case
async def a_client_that_does_not_read_holds_the_upstream_back(port, tls, app, gateway):
    # 96 MB: more than the buffers of two connections (loopback TCP grows
    # each to several MB).
    await flood(app, f"ws://127.0.0.1:{gateway}/api/flood", 6000, 16384)


@case
async def an_upstream_that_refuses_the_upgrade_answers_as_it_does(port, tls, app, gateway):
    s = socket.create_connection(("127.0.0.1", gateway), timeout=5)
    s.sendall(
        b"GET /api/seen HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = s.recv(65536).decode()
    assert head.startswith("HTTP/1.1 200 OK\r\n"), head


# ---- a server that answers one handshake as it is told -----------------------


def one_answer_server(answer, heads=None):
    """Listens for one connection, reads a request head (appended to `heads`
    if given), sends answer(head) and holds the connection 2 s; returns the
    port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        if heads is not None:
            heads.append(head)
        conn.sendall(answer(head))
        time.sleep(2)
        conn.close()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def accepting(head, extensions=None, accept=None):
    """A 101 accepting the WebSocket handshake `head` (with `accept` in
    place of the right Sec-WebSocket-Accept if given)."""
    key = re.search(rb"(?i)sec-websocket-key: *(\S+)", head).group(1)
    right = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept or right.decode()}\r\n"
            + (f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else "")
            + "\r\n").encode()


# ---- valk as the client: tests/websocket/client.lisp ---------------------------


async def run_client(url, refuse_url, compress=False, ca=None):
    p = await asyncio.create_subprocess_exec(
        VALK, "run", os.path.join(ROOT, "tests/websocket/client.lisp"),
        env={**os.environ, "URL": url, "REFUSE_URL": refuse_url,
             **({"COMPRESS": "1"} if compress else {}), **({"CA": ca} if ca else {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(p.communicate(), 30)
    return out.decode()


CLIENT_OUTPUT = """compressed: false
text: hello from valk
binary: true bytes
large: 60000
text: after the ping
closed: :websocket-closed
refused: [:websocket-error 200]
"""


@case
async def valk_as_a_client_talks_to_python_websockets(port, tls, app, gateway):
    received = []

    async def echo(ws):
        async for message in ws:
            received.append(message)
            await ws.send(message)

    # python3-websockets as the server: it refuses unmasked client frames.
    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        there = server.sockets[0].getsockname()[1]
        out = await run_client(f"ws://127.0.0.1:{there}/", f"ws://127.0.0.1:{port}/")
    assert out == CLIENT_OUTPUT, out
    assert received[0] == "hello from valk" and received[1] == b"bytes", received[:2]


@case
async def valk_as_a_client_talks_to_valk(port, tls, app, gateway):
    out = await run_client(f"ws://127.0.0.1:{port}/echo", f"ws://127.0.0.1:{port}/")
    assert out == CLIENT_OUTPUT, out


@case
async def valk_as_a_client_over_tls(port, tls, app, gateway):
    # wss:// by the certificate's name; the refusal, too, over TLS.
    out = await run_client(f"wss://localhost:{tls}/echo", f"wss://localhost:{tls}/", ca=CA)
    assert out == CLIENT_OUTPUT, out
    # Without the development CA, the server is not trusted.
    out = await run_client(f"wss://localhost:{tls}/echo", f"wss://localhost:{tls}/")
    assert "(:http-error)" in out and "certificate was not accepted" in out, out


@case
async def valk_as_a_client_compresses_when_the_server_takes_it(port, tls, app, gateway):
    compressed = CLIENT_OUTPUT.replace("compressed: false", "compressed: true")
    out = await run_client(f"ws://127.0.0.1:{app}/compressed", f"ws://127.0.0.1:{port}/", True)
    assert out == compressed, out
    # python3-websockets as the server, which takes the offer too.
    async with websockets.serve(echo_all, "127.0.0.1", 0) as server:
        there = server.sockets[0].getsockname()[1]
        out = await run_client(f"ws://127.0.0.1:{there}/", f"ws://127.0.0.1:{port}/", True)
    assert out == compressed, out
    # A server that declines it: plain frames.
    out = await run_client(f"ws://127.0.0.1:{app}/echo", f"ws://127.0.0.1:{port}/", True)
    assert out == CLIENT_OUTPUT, out


@case
async def valk_as_a_client_refuses_extensions_it_did_not_offer(port, tls, app, gateway):
    there = one_answer_server(lambda head: accepting(head, "permessage-deflate"))
    out = await run_client(f"ws://127.0.0.1:{there}/", f"ws://127.0.0.1:{port}/")
    assert "the server took extensions not offered: permessage-deflate" in out, out


async def echo_all(ws):
    async for message in ws:
        await ws.send(message)


# ---- over HTTP/2: extended CONNECT (RFC 8441) -------------------------------------

CA = os.path.join(ROOT, "certs/ca.crt")


@case
async def h2_websockets_share_a_connection_with_other_requests(port, tls, app, gateway):
    for at, ca in ((port, None), (tls, CA)):  # h2c, and h2 over TLS
        c = H2Connection(at, ca)
        a, b = c.websocket("/echo"), c.websocket("/echo")
        assert (a.status, b.status) == (200, 200), (a.status, a.headers)
        assert "sec-websocket-accept" not in a.headers and "upgrade" not in a.headers, a.headers
        a.send_frame(0x1, b"to a")
        b.send_frame(0x2, b"\x00to b")
        assert b.read_frame() == (0x2, b"\x00to b")
        assert a.read_frame() == (0x1, b"to a")
        status, page = c.get("/")
        assert status == 200 and b"WebSocket" in page, status
        # The close handshake ends both sides of a's stream; b goes on.
        a.send_frame(0x8, close_payload(1000, b"bye"))
        a.expect_close(1000)
        a.end()
        a.expect_end()
        assert a.reset is None, a.reset
        b.send_frame(0x1, b"count")
        assert b.read_frame() == (0x1, b"messages: 2")
        # The client's side ending without a close frame ends the handler.
        b.end()
        b.expect_close(1000)
        b.expect_end()
        c.close()


@case
async def h2_handshakes_are_checked_as_http1_ones_are(port, tls, app, gateway):
    c = H2Connection(app)
    assert c.websocket("/server-close", origin="https://evil.example").status == 403
    assert c.websocket("/server-close", origin=f"http://127.0.0.1:{app}").status == 200
    assert c.websocket("/echo", version="8").status == 426
    assert c.websocket("/nowhere").status == 404
    # A GET route that speaks no WebSocket must not seem to accept one.
    assert c.websocket("/seen").status == 501
    ws = c.websocket("/protocols", protocols="a, b")
    assert ws.status == 200 and ws.headers.get("sec-websocket-protocol") == "b", ws.headers
    assert ws.headers.get("x-extra") == "1", ws.headers
    assert ws.read_frame() == (0x1, b"b")
    c.close()


@case
async def h2_frames_are_checked_as_on_http1(port, tls, app, gateway):
    c = H2Connection(port)
    ws = c.websocket("/echo")
    ws.send_frame(0x1, b"\xff\xfe")
    ws.expect_close(1007)
    unmasked = c.websocket("/echo")
    unmasked.send_frame(0x1, b"hi", mask=False)
    unmasked.expect_close(1002)
    big = c.websocket("/echo")  # examples/websocket.lisp takes 64 KiB at most
    big.send_frame(0x2, os.urandom(70000))
    big.expect_close(1009)
    c.close()


@case
async def h2_a_client_that_resets_the_stream_runs_the_handlers_finally(port, tls, app, gateway):
    c = H2Connection(app)

    def go():
        ws = c.websocket("/finally")
        assert ws.read_frame() == (0x1, b"x")
        c.c.reset_stream(ws.id)
        c.flush()

    await left(app, go)
    # The connection and its other streams go on.
    assert c.get("/seen")[0] == 200
    c.close()


@case
async def h2_a_client_that_does_not_read_holds_the_sender_back(port, tls, app, gateway):
    n, size = 2000, 16384  # 32 MB, far past the stream's window
    c = H2Connection(app)
    ws = c.websocket(f"/flood?n={n}&size={size}")

    async def next_message():
        op, payload = ws.read_frame()
        assert op == 0x1, op
        return payload

    await held_back(app, n, size, next_message)
    c.close()


@case
async def h2_many_websockets_on_one_connection(port, tls, app, gateway):
    c = H2Connection(port)
    sockets = [c.websocket("/echo") for _ in range(64)]
    for i, ws in enumerate(sockets):
        ws.send_frame(0x1, f"n{i}".encode())
    for i, ws in enumerate(sockets):
        assert ws.read_frame() == (0x1, f"n{i}".encode())
    c.close()


@case
async def h2_websockets_go_through_the_gateway_as_http1_upgrades(port, tls, app, gateway):
    c = H2Connection(gateway)
    ws = c.websocket("/api/echo", origin=f"http://127.0.0.1:{gateway}")
    assert ws.status == 200, (ws.status, ws.data)
    assert "sec-websocket-accept" not in ws.headers, ws.headers
    big = os.urandom(200000)
    ws.send_frame(0x2, big)
    assert ws.read_frame() == (0x2, big)
    closing = c.websocket("/api/server-close")
    op, payload = closing.read_frame()
    assert (op, payload) == (0x8, close_payload(4002, b"server says bye")), (op, payload)
    closing.expect_end()
    # The upstream refuses what is not a WebSocket route; so does the gateway.
    assert c.websocket("/api/seen").status == 501
    c.close()


@case
async def the_gateway_checks_the_upstreams_accept_for_an_h2_websocket(port, tls, app, gateway):
    # The key is the gateway's own (an HTTP/2 client sends none), so only
    # the gateway can tell a wrong accept.
    heads = []
    there = one_answer_server(lambda head: accepting(head, accept="d3Jvbmc="), heads)
    g, (at,) = start(VALK, ["--port", "0"], "examples/gateway.lisp",
                     {"UPSTREAM": f"http://127.0.0.1:{there}"})
    c = H2Connection(at)
    try:
        assert c.websocket("/api/echo").status == 502
        head = heads[0].decode()
        assert head.startswith("GET /echo HTTP/1.1\r\n"), head
        assert re.search(r"(?i)sec-websocket-key: \S+", head), head
    finally:
        c.close()
        g.terminate()
        g.wait(10)


# ---- a server of its own -------------------------------------------------------


async def shutting_down_closes_open_websockets(valk):
    """SIGTERM: the open WebSocket closes at once, not at the drain deadline
    (10 s), and the server exits 0. (HTTP/2's, reset at once, is checked by
    tests/unit/net/connect_protocol_test.cc: python3-h2 takes no frame after
    a GOAWAY.)"""
    p, (port,) = start(valk, ["--port", "0", "--threads", "1"], "examples/websocket.lisp")
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/echo") as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            began = time.monotonic()
            p.terminate()
            try:
                await asyncio.wait_for(ws.recv(), 8)
                raise AssertionError("a message came")
            except websockets.ConnectionClosed:
                pass
            took = time.monotonic() - began
            assert took < 3, f"closed after {took:.1f} s"
        assert p.wait(8) == 0, p.returncode
    finally:
        p.kill()


# ---- running them --------------------------------------------------------------


def start(valk, args, app, env=None):
    p = subprocess.Popen([valk, "serve", *args, os.path.join(ROOT, app)],
                         stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    deadline = time.time() + 20
    output = ""
    while time.time() < deadline:
        line = p.stderr.readline()
        output += line
        ports = re.findall(r"https?://[^ ]+:(\d+)", line)
        if "serving" in line and ports:
            # The rest of its log is read as it comes, so that the server
            # never blocks on a full pipe, and checked at the end.
            p.log = []
            threading.Thread(target=lambda: p.log.extend(p.stderr), daemon=True).start()
            return p, [int(x) for x in ports]
        if p.poll() is not None:
            break
    p.kill()
    sys.exit(f"valk serve did not start:\n{output}")


def main():
    global VALK
    valk = VALK = sys.argv[1]
    only = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else ""
    cert, key = os.path.join(ROOT, "certs/dev.crt"), os.path.join(ROOT, "certs/dev.key")
    p, (port, tls) = start(valk, ["--port", "0", "--tls-port", "0", "--tls-cert", cert,
                                  "--tls-key", key], "examples/websocket.lisp")
    q, (app,) = start(valk, ["--port", "0", "--threads", "1"], "tests/websocket/app.lisp")
    g, (gateway,) = start(valk, ["--port", "0"], "examples/gateway.lisp",
                          {"UPSTREAM": f"http://127.0.0.1:{app}"})
    failed = ran = 0
    try:
        for fn in CASES:
            if only not in fn.__name__:
                continue
            ran += 1
            try:
                asyncio.run(asyncio.wait_for(fn(port, tls, app, gateway), 60))
                print(f"ok   {fn.__name__}")
            except Exception as e:  # noqa: BLE001 - every failure is reported
                failed += 1
                print(f"FAIL {fn.__name__}: {type(e).__name__}: {e}")
        if not only or only in "shutting_down_closes_open_websockets":
            ran += 1
            try:
                asyncio.run(shutting_down_closes_open_websockets(valk))
                print("ok   shutting_down_closes_open_websockets")
            except Exception as e:  # noqa: BLE001
                failed += 1
                print(f"FAIL shutting_down_closes_open_websockets: {type(e).__name__}: {e}")
        for server in (p, q, g):
            if server.poll() is not None:
                failed += 1
                print("FAIL a server exited")
    finally:
        for server in (p, q, g):
            server.terminate()
            server.wait(10)
    for server in (p, q, g):
        time.sleep(0.2)  # the reader thread takes the last lines
        log = "".join(server.log)
        if "Sanitizer" in log or "runtime error" in log:
            failed += 1
            print(f"FAIL a sanitizer spoke:\n{log}")
    print(f"{ran} cases, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
