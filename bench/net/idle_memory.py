#!/usr/bin/env python3
"""Opens N idle connections to a server and reports its RSS growth per connection.

Usage: idle_memory.py --pid PID --port PORT --proto {h2,h2c,h1tls,h1} [-n N]

Each connection is brought to a settled idle state before the next one opens,
so that the server has finished all the work the connection caused:
  h2     TLS with ALPN h2, client preface + SETTINGS, the server's SETTINGS
         read and ACKed, then a PING answered (the server has processed the
         ACK and flushed everything by the time the PING ACK arrives)
  h2c    the same over cleartext (prior knowledge)
  h1tls  TLS with ALPN http/1.1, one keep-alive GET of --path answered
  h1     the same over cleartext
With --h2-get, h2 and h2c connections also GET --path (on stream 1) before
the PING, to see what a connection that has served a body keeps.
The server's VmRSS is read from /proc/PID/status before the first and after
the last connection (after a short pause for the allocator to settle), and
the delta divided by N is printed in KiB. The connections close on exit.
"""

import argparse
import socket
import ssl
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, SETTINGS, PING = 0x0, 0x1, 0x4, 0x6
ACK = END_STREAM = 0x1
END_HEADERS = 0x4


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def read_frames(sock, buf, want):
    """Reads frames until `want(type, flags)` is true; returns the rest of buf."""
    while True:
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            ftype, flags = buf[3], buf[4]
            buf = buf[9 + n:]
            if want(ftype, flags):
                return buf
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("server closed the connection")
        buf += chunk


def get_headers(scheme, host, path):
    """A HPACK block for GET: indexed :method GET and :scheme, literal
    :authority and :path (name indexed, value not huffman-coded)."""
    def literal(index, value):
        v = value.encode()
        assert len(v) < 127
        return bytes([index, len(v)]) + v
    return bytes([0x82, 0x87 if scheme == "https" else 0x86]) + \
        literal(0x01, host) + literal(0x04, path)


def settle_h2(sock, get=None):
    sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
    seen = set()

    def settings_both(ftype, flags):
        if ftype == SETTINGS:
            seen.add(flags & ACK)
        return seen == {0, 1}

    buf = read_frames(sock, b"", settings_both)
    sock.sendall(frame(SETTINGS, ACK, 0))
    if get is not None:
        # The body must fit the default 64 KiB windows: no WINDOW_UPDATE is sent.
        sock.sendall(frame(HEADERS, END_STREAM | END_HEADERS, 1, get))
        buf = read_frames(sock, buf, lambda t, f: t in (DATA, HEADERS) and f & END_STREAM)
    sock.sendall(frame(PING, 0, 0, b"idlemem!"))
    read_frames(sock, buf, lambda t, f: t == PING and f & ACK)


def settle_h1(sock, host, path):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("server closed the connection")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("server closed the connection")
        body += chunk


def open_conn(args, ctx):
    sock = socket.create_connection((args.host, args.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ctx is not None:
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
        want = "h2" if args.proto == "h2" else "http/1.1"
        if sock.selected_alpn_protocol() != want:
            raise RuntimeError(f"ALPN gave {sock.selected_alpn_protocol()}, wanted {want}")
    if args.proto in ("h2", "h2c"):
        get = None
        if args.h2_get:
            get = get_headers("https" if ctx else "http", args.host, args.path)
        settle_h2(sock, get)
    else:
        settle_h1(sock, args.host, args.path)
    return sock


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pid", type=int, required=True, help="server process to measure")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/hello.txt", help="what HTTP/1.1 requests")
    p.add_argument("--h2-get", action="store_true", help="h2 and h2c request --path too")
    p.add_argument("--proto", choices=["h2", "h2c", "h1tls", "h1"], required=True)
    p.add_argument("-n", type=int, default=1000, help="connections (default 1000)")
    p.add_argument("--settle", type=float, default=0.5,
                   help="seconds between the last connection and the measurement (default "
                   "0.5; valk releases an idle h2 session's buffers after 2)")
    p.add_argument("--warmup", type=int, default=20,
                   help="connections opened and closed before the baseline (default 20)")
    args = p.parse_args()

    ctx = None
    if args.proto in ("h2", "h1tls"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"] if args.proto == "h2" else ["http/1.1"])

    # The first connections pay for one-time state (the reactor's read
    # buffer, the pool's first blocks, lazily built OpenSSL tables).
    for c in [open_conn(args, ctx) for _ in range(args.warmup)]:
        c.close()
    time.sleep(0.3)
    before = vm_rss_kib(args.pid)
    conns = [open_conn(args, ctx) for _ in range(args.n)]
    time.sleep(args.settle)
    after = vm_rss_kib(args.pid)
    print(f"{args.proto}\t{args.n}\t{before}\t{after}\t{(after - before) / args.n:.1f}")
    sys.stdout.flush()
    for c in conns:
        c.close()


if __name__ == "__main__":
    main()
