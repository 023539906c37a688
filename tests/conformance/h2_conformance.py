#!/usr/bin/python3
"""HTTP/2 conformance checks (RFC 9113 and RFC 7541) against `valk static`.

The cases follow the list of h2spec (not packaged for Debian): for each
section, what a client may send that is wrong, and the connection error
(GOAWAY), stream error (RST_STREAM) or answer the RFC requires. Frames are
built by hand so that malformed ones can be sent; header blocks are
encoded with python3-hpack.

  h2_conformance.py VALK_BINARY [--tls CERT KEY] [-k NAME-SUBSTRING] [-v]
"""
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h2wire import *  # noqa: E402,F401,F403 - the frame vocabulary of every case

# ---- the cases -----------------------------------------------------------------

CASES = []


def case(name):
    def register(fn):
        CASES.append((name, fn))
        return fn
    return register


@case("3.4/1 preface and SETTINGS give SETTINGS")
def _(c):
    c.handshake()


@case("3.4/2 an invalid preface is a connection error")
def _(c):
    c.send(b"INVALID CONNECTION PREFACE\r\n\r\n", settings())
    expect_connection_error(c, PROTOCOL_ERROR)


@case("4.1/1 a frame of unknown type is ignored")
def _(c):
    c.handshake()
    c.send(frame(0x16, 0, 0, b"x" * 8))
    still_alive(c)


@case("4.1/2 undefined flags are ignored")
def _(c):
    c.handshake()
    c.send(ping(flags=0x16))
    expect_ping_ack(c)


@case("4.1/3 the reserved bit of the stream id is ignored")
def _(c):
    c.handshake()
    block = c.block(request_headers(c))
    c.send(struct.pack(">I", len(block))[1:] + bytes([HEADERS, END_STREAM | END_HEADERS]) +
           struct.pack(">I", 0x80000001) + block)
    expect_response(c, 1)


@case("4.2/1 DATA of 2^14 octets is accepted")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, request_headers(c, method="POST"), END_HEADERS),
           frame(DATA, END_STREAM, 1, b"x" * 16384))
    expect_response(c, 1)


@case("4.2/2 DATA over SETTINGS_MAX_FRAME_SIZE is a frame size error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, request_headers(c, method="POST"), END_HEADERS),
           frame(DATA, END_STREAM, 1, b"x" * 16385))
    expect_stream_error(c, 1, FRAME_SIZE_ERROR)


@case("4.2/3 HEADERS over SETTINGS_MAX_FRAME_SIZE is a connection error")
def _(c):
    c.handshake()
    extra = [("x-long%d" % i, "v" * 1000) for i in range(17)]
    block = c.block(request_headers(c, extra=extra))
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, block + b"\x00" * (16385 - len(block))))
    expect_connection_error(c, FRAME_SIZE_ERROR)


@case("4.3/1 an invalid header block is a compression error")
def _(c):
    c.handshake()
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, b"\xff\xff\xff\xff\xff"))
    expect_connection_error(c, COMPRESSION_ERROR)


@case("4.3/2 PRIORITY inside a header block is a connection error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, flags=END_STREAM), frame(PRIORITY, 0, 1, priority_payload(0)))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("4.3/3 HEADERS of another stream inside a header block is a connection error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, flags=END_STREAM), headers_frame(c, 3))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("5.1/1 idle: DATA is a connection error")
def _(c):
    c.handshake()
    c.send(frame(DATA, END_STREAM, 1, b"test"))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("5.1/2 idle: RST_STREAM is a connection error")
def _(c):
    c.handshake()
    c.send(rst_stream(1))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("5.1/3 idle: WINDOW_UPDATE is a connection error")
def _(c):
    c.handshake()
    c.send(window_update(1, 100))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("5.1/4 idle: CONTINUATION is a connection error")
def _(c):
    c.handshake()
    c.send(frame(CONTINUATION, END_HEADERS, 1, c.block(request_headers(c))))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("5.1/5 half closed (remote): DATA is a stream error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1), frame(DATA, END_STREAM, 1, b"test"))
    expect_stream_error(c, 1, STREAM_CLOSED)


@case("5.1/6 half closed (remote): HEADERS is a stream error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1), headers_frame(c, 1))
    expect_stream_error(c, 1, STREAM_CLOSED)


@case("5.1/7 half closed (remote): CONTINUATION is a connection error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1), frame(CONTINUATION, END_HEADERS, 1, c.block([("x-a", "b")])))
    expect_connection_error(c, STREAM_CLOSED, PROTOCOL_ERROR)


def closed_by_reset(c):
    c.handshake()
    c.send(headers_frame(c, 1, flags=END_HEADERS), rst_stream(1))


@case("5.1/8 closed: DATA after RST_STREAM is an error")
def _(c):
    closed_by_reset(c)
    c.send(frame(DATA, 0, 1, b"test"))
    expect_stream_error(c, 1, STREAM_CLOSED)


@case("5.1/9 closed: HEADERS after RST_STREAM is an error")
def _(c):
    closed_by_reset(c)
    c.send(headers_frame(c, 1))
    expect_stream_error(c, 1, STREAM_CLOSED)


@case("5.1/10 closed: CONTINUATION after RST_STREAM is a connection error")
def _(c):
    closed_by_reset(c)
    c.send(frame(CONTINUATION, END_HEADERS, 1, c.block([("x-a", "b")])))
    expect_connection_error(c, STREAM_CLOSED, PROTOCOL_ERROR)


def closed_by_end_stream(c):
    c.handshake()
    c.send(headers_frame(c, 1))
    expect_response(c, 1)


@case("5.1/11 closed: DATA after END_STREAM is an error")
def _(c):
    closed_by_end_stream(c)
    c.send(frame(DATA, END_STREAM, 1, b"test"))
    expect_connection_error(c, STREAM_CLOSED)


@case("5.1/12 closed: HEADERS after END_STREAM is an error")
def _(c):
    closed_by_end_stream(c)
    c.send(headers_frame(c, 1))
    expect_connection_error(c, STREAM_CLOSED)


@case("5.1/13 closed: CONTINUATION after END_STREAM is an error")
def _(c):
    closed_by_end_stream(c)
    c.send(frame(CONTINUATION, END_HEADERS, 1, c.block([("x-a", "b")])))
    expect_connection_error(c, STREAM_CLOSED, PROTOCOL_ERROR)


@case("5.1.1/1 an even stream id is a connection error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 2))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("5.1.1/2 a stream id below one used before is a connection error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 5))
    expect_response(c, 5)
    c.send(headers_frame(c, 3))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("5.1.2/1 streams over SETTINGS_MAX_CONCURRENT_STREAMS are refused")
def _(c):
    limit = c.handshake().get(MAX_CONCURRENT_STREAMS)
    if limit is None:
        raise Failure("the server sets no SETTINGS_MAX_CONCURRENT_STREAMS")
    # Open streams (no END_STREAM): a POST whose body never comes.
    frames = [headers_frame(c, 2 * i + 1, request_headers(c, method="POST"), END_HEADERS)
              for i in range(limit + 1)]
    c.send(*frames)
    expect_stream_error(c, 2 * limit + 1, PROTOCOL_ERROR, REFUSED_STREAM)


@case("5.3.1/1 HEADERS depending on its own stream is a stream error")
def _(c):
    c.handshake()
    c.send(frame(HEADERS, END_STREAM | END_HEADERS | PRIORITY_FLAG, 1,
                 priority_payload(1) + c.block(request_headers(c))))
    expect_stream_error(c, 1, PROTOCOL_ERROR)


@case("5.3.1/2 PRIORITY depending on its own stream is a stream error")
def _(c):
    c.handshake()
    c.send(frame(PRIORITY, 0, 1, priority_payload(1)))
    expect_stream_error(c, 1, PROTOCOL_ERROR)


@case("5.4.1/1 an invalid PING gets GOAWAY")
def _(c):
    c.handshake()
    c.send(ping(stream_id=3))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("5.5/1 an unknown extension frame is ignored")
def _(c):
    c.handshake()
    c.send(frame(0xFF, 0, 0, b"ext"))
    still_alive(c)


@case("5.5/2 an unknown frame inside a header block is a connection error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, flags=END_STREAM), frame(0xFF, 0, 1, b"ext"))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.1/1 DATA on stream 0 is a connection error")
def _(c):
    c.handshake()
    c.send(frame(DATA, END_STREAM, 0, b"test"))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.1/2 DATA on a half closed (remote) stream is a stream error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1), frame(DATA, END_STREAM, 1, b"test"))
    expect_stream_error(c, 1, STREAM_CLOSED)


@case("6.1/3 DATA with an invalid pad length is a connection error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, request_headers(c, method="POST"), END_HEADERS),
           frame(DATA, END_STREAM | PADDED, 1, b"\x06test"))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.2/1 HEADERS with END_HEADERS then PRIORITY is fine")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1), frame(PRIORITY, 0, 1, priority_payload(0)))
    expect_response(c, 1)


@case("6.2/2 HEADERS on stream 0 is a connection error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 0))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.2/3 HEADERS with an invalid pad length is a connection error")
def _(c):
    c.handshake()
    block = c.block(request_headers(c))
    c.send(frame(HEADERS, END_STREAM | END_HEADERS | PADDED, 1,
                 bytes([len(block) + 10]) + block))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.3/1 PRIORITY on stream 0 is a connection error")
def _(c):
    c.handshake()
    c.send(frame(PRIORITY, 0, 0, priority_payload(1)))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.3/2 PRIORITY of the wrong length is a stream error")
def _(c):
    c.handshake()
    c.send(frame(PRIORITY, 0, 1, priority_payload(0) + b"\x00"))
    expect_stream_error(c, 1, FRAME_SIZE_ERROR)


@case("6.4/1 RST_STREAM on stream 0 is a connection error")
def _(c):
    c.handshake()
    c.send(rst_stream(0))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.4/2 RST_STREAM of the wrong length is a connection error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, flags=END_HEADERS), frame(RST_STREAM, 0, 1, b"\x00" * 3))
    expect_connection_error(c, FRAME_SIZE_ERROR)


@case("6.5/1 SETTINGS ACK with a payload is a connection error")
def _(c):
    c.handshake()
    c.send(frame(SETTINGS, ACK, 0, struct.pack(">HI", INITIAL_WINDOW_SIZE, 100)))
    expect_connection_error(c, FRAME_SIZE_ERROR)


@case("6.5/2 SETTINGS on a stream is a connection error")
def _(c):
    c.handshake()
    c.send(settings((INITIAL_WINDOW_SIZE, 100), stream_id=1))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.5/3 SETTINGS of a length not a multiple of 6 is a connection error")
def _(c):
    c.handshake()
    c.send(frame(SETTINGS, 0, 0, b"\x00\x04\x00\x00"))
    expect_connection_error(c, FRAME_SIZE_ERROR)


@case("6.5.2/1 SETTINGS_ENABLE_PUSH above 1 is a connection error")
def _(c):
    c.handshake()
    c.send(settings((ENABLE_PUSH, 2)))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.5.2/2 SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 is a connection error")
def _(c):
    c.handshake()
    c.send(settings((INITIAL_WINDOW_SIZE, 2**31)))
    expect_connection_error(c, FLOW_CONTROL_ERROR)


@case("6.5.2/3 SETTINGS_MAX_FRAME_SIZE below 2^14 is a connection error")
def _(c):
    c.handshake()
    c.send(settings((MAX_FRAME_SIZE, 16383)))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.5.2/4 SETTINGS_MAX_FRAME_SIZE above 2^24-1 is a connection error")
def _(c):
    c.handshake()
    c.send(settings((MAX_FRAME_SIZE, 2**24)))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.5.2/5 an unknown setting is ignored")
def _(c):
    c.handshake()
    c.send(settings((0xFF, 1)))
    wait_for(c, is_ack(SETTINGS), "SETTINGS ACK")


@case("6.5.3/1 several values of one setting are applied in order")
def _(c):
    c.handshake()
    c.send(settings((INITIAL_WINDOW_SIZE, 100), (INITIAL_WINDOW_SIZE, 1)), headers_frame(c, 1))
    expect_one_octet_data(c)


@case("6.5.3/2 SETTINGS gets an ACK")
def _(c):
    c.handshake()
    c.send(settings((INITIAL_WINDOW_SIZE, 65535)))
    wait_for(c, is_ack(SETTINGS), "SETTINGS ACK")


@case("6.7/1 PING gets an ACK with the same data")
def _(c):
    c.handshake()
    c.send(ping(b"h2spec!!"))
    expect_ping_ack(c, b"h2spec!!")


@case("6.7/2 a PING ACK is not answered")
def _(c):
    c.handshake()
    c.send(ping(b"unknown!", flags=ACK), ping(b"answered"))
    if wait_for(c, lambda f: f[0] == PING, "PING ACK")[3] != b"answered":
        raise Failure("the server answered a PING ACK")


@case("6.7/3 PING on a stream is a connection error")
def _(c):
    c.handshake()
    c.send(ping(stream_id=1))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.7/4 PING of the wrong length is a connection error")
def _(c):
    c.handshake()
    c.send(ping(b"1234567"))
    expect_connection_error(c, FRAME_SIZE_ERROR)


@case("6.8/1 GOAWAY on a stream is a connection error")
def _(c):
    c.handshake()
    c.send(frame(GOAWAY, 0, 1, struct.pack(">II", 0, NO_ERROR)))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.9/1 WINDOW_UPDATE of 0 on the connection is a connection error")
def _(c):
    c.handshake()
    c.send(window_update(0, 0))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.9/2 WINDOW_UPDATE of 0 on a stream is a stream error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, request_headers(c, method="POST"), END_HEADERS),
           window_update(1, 0))
    expect_stream_error(c, 1, PROTOCOL_ERROR)


@case("6.9/3 WINDOW_UPDATE of the wrong length is a connection error")
def _(c):
    c.handshake()
    c.send(frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"))
    expect_connection_error(c, FRAME_SIZE_ERROR)


@case("6.9.1/1 a window of 1 gets DATA of 1 octet")
def _(c):
    c.handshake((INITIAL_WINDOW_SIZE, 1))
    c.send(headers_frame(c, 1))
    expect_one_octet_data(c)


@case("6.9.1/2 a connection window over 2^31-1 is a connection error")
def _(c):
    c.handshake()
    c.send(window_update(0, 2**31 - 1), window_update(0, 2**31 - 1))
    expect_connection_error(c, FLOW_CONTROL_ERROR)


@case("6.9.1/3 a stream window over 2^31-1 is a stream error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, request_headers(c, method="POST"), END_HEADERS),
           window_update(1, 2**31 - 1), window_update(1, 2**31 - 1))
    expect_stream_error(c, 1, FLOW_CONTROL_ERROR)


@case("6.9.2/1 a raised SETTINGS_INITIAL_WINDOW_SIZE lets DATA through")
def _(c):
    c.handshake((INITIAL_WINDOW_SIZE, 0))
    c.send(headers_frame(c, 1))
    time.sleep(0.2)
    c.send(settings((INITIAL_WINDOW_SIZE, BODY_SIZE * 2)))
    status, body = expect_response(c, 1)
    if len(body) != BODY_SIZE:
        raise Failure("got %d bytes of %d" % (len(body), BODY_SIZE))


@case("6.9.2/2 a window made negative by SETTINGS recovers")
def _(c):
    c.handshake((INITIAL_WINDOW_SIZE, 100))
    c.send(headers_frame(c, 1))
    got = 0
    while got < 100:
        got += len(wait_for(c, lambda f: f[0] == DATA, "DATA")[3])
    c.send(settings((INITIAL_WINDOW_SIZE, 1)))  # the window is now 1 - 100
    c.send(window_update(1, 100))  # and now 1
    expect_one_octet_data(c)


@case("6.9.2/3 SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1 is a connection error")
def _(c):
    c.handshake()
    c.send(settings((INITIAL_WINDOW_SIZE, 2**31)))
    expect_connection_error(c, FLOW_CONTROL_ERROR)


def split_block(c, n=3):
    block = c.block(request_headers(c, extra=[("x-part%d" % i, "v" * 20) for i in range(6)]))
    size = len(block) // n + 1
    return [block[i:i + size] for i in range(0, len(block), size)]


@case("6.10/1 HEADERS with several CONTINUATION frames is fine")
def _(c):
    c.handshake()
    parts = split_block(c)
    c.send(frame(HEADERS, END_STREAM, 1, parts[0]),
           *[frame(CONTINUATION, END_HEADERS if i == len(parts) - 1 else 0, 1, p)
             for i, p in enumerate(parts[1:], start=1)])
    expect_response(c, 1)


@case("6.10/2 CONTINUATION followed by another frame is a connection error")
def _(c):
    c.handshake()
    parts = split_block(c)
    c.send(frame(HEADERS, END_STREAM, 1, parts[0]), frame(CONTINUATION, 0, 1, parts[1]),
           frame(DATA, 0, 1, b"test"))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.10/3 CONTINUATION on stream 0 is a connection error")
def _(c):
    c.handshake()
    parts = split_block(c)
    c.send(frame(HEADERS, END_STREAM, 1, parts[0]), frame(CONTINUATION, END_HEADERS, 0, parts[1]))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("6.10/4 CONTINUATION after END_HEADERS is a connection error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1), frame(CONTINUATION, END_HEADERS, 1, c.block([("x-a", "b")])))
    expect_connection_error(c, PROTOCOL_ERROR, STREAM_CLOSED)


@case("6.10/5 CONTINUATION after CONTINUATION with END_HEADERS is a connection error")
def _(c):
    c.handshake()
    parts = split_block(c, 2)
    c.send(frame(HEADERS, END_STREAM, 1, parts[0]), frame(CONTINUATION, END_HEADERS, 1, parts[1]),
           frame(CONTINUATION, END_HEADERS, 1, c.block([("x-a", "b")])))
    expect_connection_error(c, PROTOCOL_ERROR, STREAM_CLOSED)


@case("6.10/6 CONTINUATION after DATA is a connection error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, request_headers(c, method="POST"), END_HEADERS),
           frame(DATA, 0, 1, b"test"), frame(CONTINUATION, END_HEADERS, 1, c.block([("x-a", "b")])))
    expect_connection_error(c, PROTOCOL_ERROR)


@case("8.1/1 trailers without END_STREAM are a stream error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, request_headers(c, method="POST"), END_HEADERS),
           frame(DATA, 0, 1, b"test"), headers_frame(c, 1, [("x-trailer", "v")], END_HEADERS))
    expect_stream_error(c, 1, PROTOCOL_ERROR)


def malformed(c, headers):
    c.handshake()
    c.send(headers_frame(c, 1, headers))
    expect_stream_error(c, 1, PROTOCOL_ERROR)


def base(c, drop=None):
    return [h for h in request_headers(c) if h[0] != drop]


@case("8.2/1 an upper-case header name is malformed")
def _(c):
    malformed(c, base(c) + [("X-Upper", "v")])


@case("8.2.1/1 a header name with a space is malformed")
def _(c):
    malformed(c, base(c) + [("x bad", "v")])


@case("8.2.1/2 a header value with a newline is malformed")
def _(c):
    malformed(c, base(c) + [("x-bad", "a\r\nb")])


@case("8.2.2/1 a connection header is malformed")
def _(c):
    malformed(c, base(c) + [("connection", "keep-alive")])


@case("8.2.2/2 TE other than trailers is malformed")
def _(c):
    malformed(c, base(c) + [("te", "gzip")])


@case("8.3/1 an unknown pseudo-header is malformed")
def _(c):
    malformed(c, base(c) + [(":test", "v")])


@case("8.3/2 a response pseudo-header in a request is malformed")
def _(c):
    malformed(c, base(c) + [(":status", "200")])


@case("8.3/3 a pseudo-header after a regular header is malformed")
def _(c):
    malformed(c, base(c)[:3] + [("x-a", "b")] + base(c)[3:])


@case("8.3/4 a pseudo-header in trailers is malformed")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, request_headers(c, method="POST"), END_HEADERS),
           frame(DATA, 0, 1, b"test"), headers_frame(c, 1, [(":method", "GET")]))
    expect_stream_error(c, 1, PROTOCOL_ERROR)


@case("8.3.1/1 an empty :path is malformed")
def _(c):
    malformed(c, base(c, ":path") + [(":path", "")])


for _name in (":method", ":scheme", ":path"):
    def _missing(c, name=_name):
        malformed(c, base(c, name))

    def _twice(c, name=_name):
        malformed(c, base(c) + [h for h in base(c) if h[0] == name])

    case("8.3.1/%s missing is malformed" % _name)(_missing)
    case("8.3.1/%s twice is malformed" % _name)(_twice)


@case("8.1.1/1 DATA shorter than content-length is malformed")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, request_headers(c, method="POST", extra=[("content-length", "6")]),
                         END_HEADERS),
           frame(DATA, END_STREAM, 1, b"test"))
    expect_stream_error(c, 1, PROTOCOL_ERROR)


@case("8.1.1/2 DATA frames longer than content-length are malformed")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, request_headers(c, method="POST", extra=[("content-length", "4")]),
                         END_HEADERS),
           frame(DATA, 0, 1, b"test"), frame(DATA, END_STREAM, 1, b"test"))
    expect_stream_error(c, 1, PROTOCOL_ERROR)


@case("8.4/1 PUSH_PROMISE from a client is a connection error")
def _(c):
    c.handshake()
    c.send(headers_frame(c, 1, flags=END_HEADERS),
           frame(PUSH_PROMISE, END_HEADERS, 1, struct.pack(">I", 2) + c.block(request_headers(c))))
    expect_connection_error(c, PROTOCOL_ERROR)


# ---- HPACK (RFC 7541) ----------------------------------------------------------


def bad_block(c, block):
    c.handshake()
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, block))
    expect_connection_error(c, COMPRESSION_ERROR)


@case("hpack 2.3.3/1 an index past the tables is a compression error")
def _(c):
    bad_block(c, b"\xfe\x01")  # indexed, 126 + 1


@case("hpack 4.2/1 a table size update over the limit is a compression error")
def _(c):
    bad_block(c, b"\x3f\xe1\xff\x03" + c.block(request_headers(c)))  # 65504 > 4096


@case("hpack 5.2/1 a Huffman string with EOS is a compression error")
def _(c):
    bad_block(c, b"\x82\x86\x84\x41\x84\xff\xff\xff\xff")


@case("hpack 5.2/2 Huffman padding longer than 7 bits is a compression error")
def _(c):
    bad_block(c, b"\x82\x86\x84\x41\x82\xf1\xe3\xff")  # "ab" + a full byte of padding


@case("hpack 5.2/3 Huffman padding that is not EOS is a compression error")
def _(c):
    bad_block(c, b"\x82\x86\x84\x41\x81\x00")


@case("hpack 6.1/1 index 0 is a compression error")
def _(c):
    bad_block(c, b"\x80")


@case("hpack 6.3/1 a table size update after a field is a compression error")
def _(c):
    bad_block(c, b"\x82\x20")


# ---- running ---------------------------------------------------------------------


def start_server(binary, tls):
    root = tempfile.mkdtemp(prefix="h2conf")
    with open(os.path.join(root, "index.html"), "wb") as f:
        f.write(b"x" * BODY_SIZE)
    args = [binary, "static", "--port", "0", "--reactors", "1", "--log-level", "off", root]
    if tls:
        args[2:2] = ["--tls-cert", tls[0], "--tls-key", tls[1]]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    m = re.search(r"://[^ ]*:(\d+)", line)
    if not m:
        proc.kill()
        sys.exit("valk static did not start: " + line)
    return proc, int(m.group(1))


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    binary, tls, only, verbose = args[0], None, None, False
    i = 1
    while i < len(args):
        if args[i] == "--tls":
            tls = (args[i + 1], args[i + 2])
            i += 3
        elif args[i] == "-k":
            only = args[i + 1]
            i += 2
        elif args[i] == "-v":
            verbose = True
            i += 1
        else:
            sys.exit("unknown argument " + args[i])
    proc, port = start_server(binary, tls)
    failed = 0
    ran = 0
    try:
        for name, fn in CASES:
            if only and only not in name:
                continue
            ran += 1
            conn = Conn(port, tls is not None)
            try:
                fn(conn)
                if verbose:
                    print("ok    " + name)
            except (Failure, OSError) as e:
                failed += 1
                print("FAIL  %s: %s" % (name, e))
            finally:
                conn.sock.close()
        if proc.poll() is not None:
            print("FAIL  the server exited with %s" % proc.returncode)
            failed += 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print("h2 conformance (%s): %d cases, %d passed, %d failed" %
          ("h2 over TLS" if tls else "h2c", ran, ran - failed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
