"""WebSocket frames built and read by hand (RFC 6455, 5.2), over whatever
carries them: an upgraded HTTP/1.1 connection or an HTTP/2 stream."""
import os
import struct


def frame(opcode, payload, fin=True, mask=True, rsv=0):
    """The bytes of one frame; a client's are masked."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if mask:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


class FrameClient:
    """Sends and reads frames; a subclass carries them: send(bytes), and
    more() for the next bytes that come (b"" at the end)."""

    def __init__(self):
        self.buf = b""
        self.rsv = 0  # the reserved bits of the last frame read (4: RSV1)

    def send_frame(self, opcode, payload, fin=True, mask=True, rsv=0):
        self.send(frame(opcode, payload, fin, mask, rsv))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.more()
            if not chunk:
                raise EOFError("the server ended the WebSocket")
            self.buf += chunk

    def read_frame(self):
        """(opcode, payload) of the next frame; the server's are unmasked."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert b1 & 0x80 == 0, "a server frame must not be masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload = self.buf[off : off + n]
        self.buf = self.buf[off + n :]
        self.rsv = (b0 >> 4) & 0x7
        return b0 & 0x0F, payload

    def expect_close(self, code):
        while True:
            op, payload = self.read_frame()
            if op == 0x8:
                got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                assert got == code, f"close code {got}, wanted {code}"
                return
            assert op in (0x1, 0x2, 0xA), f"unexpected opcode {op}"
