"""HTTP/2 over TLS on port 8443 (ALPN h2 only), with the python3-h2 library: every request on
every stream gets a JSON echo {method, path, authority, body_length, protocol}; each is logged to
http.log like the HTTP/1.1 servers' requests (with "protocol": "h2")."""
import json
import socket
import ssl
import threading

from tn_common import client_ip


class H2Server:
    def __init__(self, log, cert, key, sem, port=8443):
        from h2.config import H2Configuration  # noqa: F401 (fail at start when h2 is missing)
        self.log, self.sem, self.port = log, sem, port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_cert_chain(cert, key)
        self.ctx.set_alpn_protocols(["h2"])
        self.listeners = []
        for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((host, port))
            s.listen(128)
            self.listeners.append(s)

    def start(self):
        for s in self.listeners:
            threading.Thread(target=self.accept, args=(s,), daemon=True, name="h2-%d" % self.port).start()

    def accept(self, listener):
        while True:
            try:
                sock, address = listener.accept()
            except OSError:
                return
            if not self.sem.acquire(blocking=False):
                sock.close()
                continue
            threading.Thread(target=self.serve, args=(sock, address), daemon=True).start()

    def serve(self, raw, address):
        from h2.config import H2Configuration
        from h2.connection import H2Connection
        from h2.events import ConnectionTerminated, DataReceived, RequestReceived, StreamEnded, StreamReset
        try:
            raw.settimeout(30)
            sock = self.ctx.wrap_socket(raw, server_side=True)
            if sock.selected_alpn_protocol() != "h2":
                return
            conn = H2Connection(config=H2Configuration(client_side=False, header_encoding="utf-8"))
            conn.initiate_connection()
            sock.sendall(conn.data_to_send())
            streams = {}
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                for event in conn.receive_data(data):
                    if isinstance(event, RequestReceived):
                        streams[event.stream_id] = {"headers": dict(event.headers), "body": 0}
                    elif isinstance(event, DataReceived):
                        if event.stream_id in streams:
                            streams[event.stream_id]["body"] += len(event.data)
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, StreamEnded) and event.stream_id in streams:
                        self.respond(conn, event.stream_id, streams.pop(event.stream_id), address)
                    elif isinstance(event, StreamReset):
                        streams.pop(event.stream_id, None)
                    elif isinstance(event, ConnectionTerminated):
                        sock.sendall(conn.data_to_send())
                        return
                sock.sendall(conn.data_to_send())
        except Exception:
            pass
        finally:
            self.sem.release()
            try:
                raw.close()
            except OSError:
                pass

    def respond(self, conn, stream_id, request, address):
        h = request["headers"]
        echo = {"method": h.get(":method"), "path": h.get(":path"), "host": h.get(":authority"),
                "body_length": request["body"], "client": client_ip(address), "port": self.port,
                "scheme": "https", "protocol": "h2"}
        body = json.dumps(echo).encode()
        conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/json"),
                                      ("content-length", str(len(body)))])
        conn.send_data(stream_id, body, end_stream=True)
        self.log.write(method=echo["method"], path=echo["path"], host=echo["host"], client=echo["client"],
                       body_length=echo["body_length"], port=self.port, scheme="https", protocol="h2", status=200,
                       bytes_sent=len(body))
