"""WebSockets over HTTP/2 (RFC 8441) by hand: an HTTP/2 connection of
Debian's python3-h2 (cleartext by prior knowledge, or TLS with ALPN h2)
whose streams open WebSockets with an extended CONNECT, their frames built
and read by frames.FrameClient."""
import socket
import ssl

import h2.config
import h2.connection
import h2.events
import h2.settings

from frames import FrameClient


class H2Connection:
    def __init__(self, port, tls_ca=None):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if tls_ca:
            context = ssl.create_default_context(cafile=tls_ca)
            context.check_hostname = False  # certs/dev.crt names localhost
            context.set_alpn_protocols(["h2"])
            s = context.wrap_socket(s, server_hostname="localhost")
            assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
        self.s = s
        self.scheme = "https" if tls_ca else "http"
        self.authority = f"127.0.0.1:{port}"
        self.c = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.c.initiate_connection()
        self.flush()
        self.streams = {}  # id -> Stream
        self.closed = False
        while h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL not in self.c.remote_settings:
            self.pump()

    def flush(self):
        data = self.c.data_to_send()
        if data:
            self.s.sendall(data)

    def pump(self):
        """Reads once (up to the socket's timeout) and files what came."""
        data = self.s.recv(65536)
        if not data:
            self.closed = True
            raise EOFError("the server closed the connection")
        for e in self.c.receive_data(data):
            st = self.streams.get(getattr(e, "stream_id", None))
            if isinstance(e, h2.events.ResponseReceived):
                st.headers = dict(e.headers)
                st.status = int(st.headers[":status"])
            elif isinstance(e, h2.events.DataReceived):
                st.data += e.data
                self.c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, h2.events.StreamEnded):
                st.ended = True
            elif isinstance(e, h2.events.StreamReset):
                st.reset = e.error_code
        self.flush()

    def request(self, method, path, headers=()):
        """Opens a stream; with a body of its own unless method is GET."""
        sid = self.c.get_next_available_stream_id()
        self.c.send_headers(sid, [(":method", method), (":scheme", self.scheme),
                                  (":authority", self.authority), (":path", path), *headers],
                            end_stream=method == "GET")
        self.flush()
        st = self.streams[sid] = Stream(self, sid)
        return st

    def websocket(self, path, origin=None, version="13", protocols=None):
        headers = [(":protocol", "websocket"), ("sec-websocket-version", version)]
        if origin:
            headers.append(("origin", origin))
        if protocols:
            headers.append(("sec-websocket-protocol", protocols))
        st = self.request("CONNECT", path, headers)
        while st.status is None and st.reset is None:
            self.pump()
        return st

    def get(self, path):
        st = self.request("GET", path)
        while not st.ended and st.reset is None:
            self.pump()
        return st.status, st.data

    def close(self):
        self.s.close()


class Stream(FrameClient):
    """One stream; as a WebSocket, its DATA carries the frames both ways."""

    def __init__(self, conn, sid):
        super().__init__()
        self.conn, self.id = conn, sid
        self.headers, self.status, self.data = {}, None, b""
        self.ended = False
        self.reset = None  # RST_STREAM's code

    def send(self, data):
        c = self.conn.c
        while data:
            # What the stream's window and the frame size let through now.
            n = min(len(data), c.local_flow_control_window(self.id), c.max_outbound_frame_size)
            if n == 0:
                self.conn.pump()
                continue
            c.send_data(self.id, data[:n])
            self.conn.flush()
            data = data[n:]

    def more(self):
        while not self.data and not self.ended and self.reset is None:
            self.conn.pump()
        chunk, self.data = self.data, b""
        return chunk

    def end(self):
        """Ends the client's side of the stream."""
        self.conn.c.end_stream(self.id)
        self.conn.flush()

    def expect_end(self):
        """Waits for the server to end its side (or reset the stream)."""
        while not self.ended and self.reset is None:
            self.conn.pump()
