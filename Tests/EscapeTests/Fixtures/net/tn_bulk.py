"""Bulk TCP: port 9000 sends N zero bytes on request, port 9001 counts bytes to EOF."""

import socket
import time

from tn_common import Acceptor, client_ip, listen_tcp

MAX_BULK = 64 << 30  # largest N accepted on the source port
ZEROS = memoryview(bytes(1 << 20))
MAX_LINE = 64


def finish(conn):
    """Half-close, then read what the client still sends (bounded) so close() sends no RST."""
    try:
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(5)
        for _ in range(64):
            if not conn.recv(65536):
                break
    except OSError:
        pass


class Bulk:
    def __init__(self, log, sem, source_port=9000, sink_port=9001):
        self.log = log
        self.acceptors = []
        for host in ("0.0.0.0", "::"):
            self.acceptors.append(Acceptor(listen_tcp(host, source_port), self.source, sem,
                                           "bulk-%s" % host))
            self.acceptors.append(Acceptor(listen_tcp(host, sink_port), self.sink, sem,
                                           "sink-%s" % host))

    def start(self):
        for a in self.acceptors:
            a.start()

    def source(self, conn, addr):
        t0, line, sent, n, err = time.monotonic(), b"", 0, None, None
        port = conn.getsockname()[1]
        try:
            while b"\n" not in line and len(line) <= MAX_LINE:
                data = conn.recv(MAX_LINE + 1 - len(line))
                if not data:
                    break
                line += data
            text = line.split(b"\n")[0].strip()
            if not text.isdigit() or int(text) > MAX_BULK:
                err = "bad request line %r" % line[:MAX_LINE]
                conn.sendall(b"ERR expected a decimal byte count <= %d\n" % MAX_BULK)
                return
            n = int(text)
            while sent < n:
                k = min(n - sent, len(ZEROS))
                conn.sendall(ZEROS[:k])
                sent += k
            finish(conn)
        except OSError as e:
            err = repr(e)
        finally:
            fields = dict(port=port, client=client_ip(addr), requested=n, bytes=sent,
                          seconds=round(time.monotonic() - t0, 6))
            if err:
                fields["error"] = err
            self.log.write(**fields)

    def sink(self, conn, addr):
        t0, total, err = time.monotonic(), 0, None
        port = conn.getsockname()[1]
        buf = bytearray(1 << 18)
        try:
            while True:
                k = conn.recv_into(buf)
                if not k:
                    break
                total += k
            conn.sendall(b"%d\n" % total)
            finish(conn)
        except OSError as e:
            err = repr(e)
        finally:
            fields = dict(port=port, client=client_ip(addr), bytes=total,
                          seconds=round(time.monotonic() - t0, 6))
            if err:
                fields["error"] = err
            self.log.write(**fields)
