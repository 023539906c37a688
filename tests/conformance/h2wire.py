"""Raw HTTP/2 for the conformance cases: frames built by hand (so that
malformed ones can be sent), a client connection that reads frames and
keeps an HPACK decoder in step, and what a case may expect back."""
import select
import socket
import ssl
import struct
import time

import hpack

# Frame types and flags.
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

# Error codes.
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = range(10)
CODE_NAMES = {
    0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
    4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM",
    8: "CANCEL", 9: "COMPRESSION_ERROR", 11: "ENHANCE_YOUR_CALM"
}

# Settings.
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE = \
    1, 2, 3, 4, 5

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
BODY_SIZE = 1000  # index.html of the served directory
TIMEOUT = 3.0


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream_id) + payload


def settings(*pairs, flags=0, stream_id=0):
    return frame(SETTINGS, flags, stream_id, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def ping(data=b"12345678", flags=0, stream_id=0):
    return frame(PING, flags, stream_id, data)


def window_update(stream_id, increment):
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))


def rst_stream(stream_id, code=CANCEL):
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def priority_payload(depends_on, weight=15, exclusive=False):
    return struct.pack(">IB", depends_on | (0x80000000 if exclusive else 0), weight)


class Failure(Exception):
    pass


class Conn:
    """One client connection, speaking raw frames."""

    def __init__(self, port, tls):
        self.tls = tls
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.buf = b""
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.closed = False

    def send(self, *chunks):
        try:
            self.sock.sendall(b"".join(chunks))
        except OSError:
            self.closed = True

    def handshake(self, *pairs):
        """Preface and SETTINGS both ways; returns the server's settings."""
        self.send(PREFACE, settings(*pairs))
        server_settings, acked = None, False
        while server_settings is None or not acked:
            f = self.read_frame()
            if f is None:
                raise Failure("the connection closed during the handshake")
            ftype, flags, _, payload = f
            if ftype == SETTINGS and flags & ACK:
                acked = True
            elif ftype == SETTINGS:
                server_settings = dict(struct.unpack(">HI", payload[i:i + 6])
                                       for i in range(0, len(payload), 6))
                self.send(settings(flags=ACK))
        return server_settings

    def read_frame(self, timeout=TIMEOUT):
        """(type, flags, stream id, payload), or None once the connection ends."""
        deadline = time.time() + timeout
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            if self.closed:
                return None
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError
            pending = self.tls and self.sock.pending()
            if not pending and not select.select([self.sock], [], [], left)[0]:
                raise TimeoutError
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
                return None
            self.buf += data
        length = int.from_bytes(self.buf[:3], "big")
        ftype, flags = self.buf[3], self.buf[4]
        stream_id = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
        payload = self.buf[9:9 + length]
        self.buf = self.buf[9 + length:]
        if ftype in (HEADERS, CONTINUATION, PUSH_PROMISE):
            self.decode_headers(ftype, flags, payload)
        return ftype, flags, stream_id, payload

    def decode_headers(self, ftype, flags, payload):
        # Keeps the HPACK decoder in step; the answer's :status is all we check.
        if ftype == HEADERS:
            if flags & PADDED:
                payload = payload[1:len(payload) - payload[0]]
            if flags & PRIORITY_FLAG:
                payload = payload[5:]
        self.last_headers = self.decoder.decode(bytes(payload))

    def block(self, headers):
        return self.encoder.encode(headers)


def request_headers(conn, path="/", method="GET", extra=()):
    return [(":method", method), (":scheme", "https" if conn.tls else "http"),
            (":authority", "localhost"), (":path", path)] + list(extra)


def headers_frame(conn, stream_id, headers=None, flags=END_STREAM | END_HEADERS):
    block = conn.block(headers if headers is not None else request_headers(conn))
    return frame(HEADERS, flags, stream_id, block)


# ---- what a case expects ------------------------------------------------------


def describe(f):
    ftype, flags, sid, payload = f
    names = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING",
             "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]
    name = names[ftype] if ftype < len(names) else "type %d" % ftype
    extra = ""
    if ftype in (RST_STREAM, GOAWAY):
        code = int.from_bytes(payload[-4:] if ftype == RST_STREAM else payload[4:8], "big")
        extra = " " + CODE_NAMES.get(code, str(code))
    return "%s(stream %d, flags 0x%x, %d bytes%s)" % (name, sid, flags, len(payload), extra)


def expect_error(conn, codes, stream_id=None):
    """GOAWAY with one of `codes` or the connection closing; with a stream
    id, also RST_STREAM on that stream with one of `codes`."""
    kind = "connection" if stream_id is None else "stream"
    seen = []
    try:
        while True:
            f = conn.read_frame()
            if f is None:
                return
            ftype, _, sid, payload = f
            if ftype == GOAWAY or (ftype == RST_STREAM and sid == stream_id):
                code = int.from_bytes(payload[4:8] if ftype == GOAWAY else payload, "big")
                if code in codes:
                    return
                raise Failure("%s, expected %s" % (
                    describe(f), " or ".join(CODE_NAMES[c] for c in codes)))
            seen.append(describe(f))
    except TimeoutError:
        raise Failure("no %s error; got %s" % (kind, ", ".join(seen) or "nothing"))


def expect_connection_error(conn, *codes):
    expect_error(conn, codes)


def expect_stream_error(conn, stream_id, *codes):
    expect_error(conn, codes, stream_id)


def expect_response(conn, stream_id):
    """The complete answer on the stream; returns (status, body)."""
    status, body = None, b""
    try:
        while True:
            f = conn.read_frame()
            if f is None:
                raise Failure("the connection closed before the answer ended")
            ftype, flags, sid, payload = f
            if ftype == GOAWAY or (ftype == RST_STREAM and sid == stream_id):
                raise Failure("got " + describe(f))
            if sid != stream_id:
                continue
            if ftype == HEADERS and status is None:
                status = dict(conn.last_headers).get(":status")
            if ftype == DATA:
                body += payload
            if ftype in (HEADERS, DATA) and flags & END_STREAM:
                return status, body
    except TimeoutError:
        raise Failure("no complete answer")


def wait_for(conn, match, what):
    """The first frame `match` accepts; a GOAWAY, the connection closing or
    nothing in time fails the case."""
    try:
        while True:
            f = conn.read_frame()
            if f is None or f[0] == GOAWAY:
                raise Failure("got " + (describe(f) if f else "a closed connection"))
            if match(f):
                return f
    except TimeoutError:
        raise Failure("no " + what)


def is_ack(ftype):
    return lambda f: f[0] == ftype and f[1] & ACK


def expect_ping_ack(conn, data=b"12345678"):
    if wait_for(conn, is_ack(PING), "PING ACK")[3] != data:
        raise Failure("PING ACK with other data")


def expect_one_octet_data(conn):
    f = wait_for(conn, lambda f: f[0] == DATA, "DATA")
    if len(f[3]) != 1:
        raise Failure("DATA of %d bytes with a window of 1" % len(f[3]))


def still_alive(conn):
    conn.send(ping(b"alive!!!"))
    expect_ping_ack(conn, b"alive!!!")
