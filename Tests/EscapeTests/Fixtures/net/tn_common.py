"""Shared helpers for the testnet fixture: JSON-line logs, bounded threads, addresses."""

import json
import os
import socket
import sys
import threading
import time

IDLE_TIMEOUT = 30.0  # seconds an idle client socket may stay open
MAX_CONNECTIONS = 1024  # per service; further connections are closed at once


def addresses(subnet):
    """The fixed address plan for subnet N."""
    return {
        "host_v4": "10.203.%d.1" % subnet,
        "host_v6": "fd00:203:%d::1" % subnet,
        "v4": ["10.203.%d.2" % subnet, "10.203.%d.3" % subnet],
        "v6": "fd00:203:%d::2" % subnet,
    }


def warn(msg):
    """Best effort: stderr may be a closed pipe when the test process is gone."""
    try:
        sys.stderr.write("testnet[%d]: %s\n" % (os.getpid(), msg))
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class JsonLog:
    """One JSON object per line, line-buffered and flushed per line, safe across threads."""

    def __init__(self, path, truncate=True):
        self._lock = threading.Lock()
        self._f = open(path, "w" if truncate else "a", buffering=1, encoding="utf-8")

    def write(self, **fields):
        fields.setdefault("ts", round(time.time(), 6))
        line = json.dumps(fields, sort_keys=False, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                self._f.write(line)
                self._f.flush()
            except (OSError, ValueError):
                pass


def client_ip(addr):
    """The IP string of a peer address tuple, with IPv4-mapped IPv6 unwrapped."""
    ip = addr[0] if isinstance(addr, tuple) else str(addr)
    if ip.startswith("::ffff:") and "." in ip:
        ip = ip[7:]
    return ip


def listen_tcp(host, port, backlog=128):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


class Acceptor:
    """Accept loop on one listening socket (daemon thread, lives as long as the process);
    one daemon thread per connection, at most MAX_CONNECTIONS at once (semaphore passed in,
    excess connections are closed at once). handler(conn, addr) owns conn."""

    def __init__(self, sock, handler, sem, name):
        self.sock = sock
        self.handler = handler
        self.sem = sem
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self):
        self.thread.start()

    def _loop(self):
        while True:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                time.sleep(0.05)  # e.g. EMFILE: back off instead of spinning
                continue
            if not self.sem.acquire(blocking=False):
                conn.close()
                continue
            conn.settimeout(IDLE_TIMEOUT)
            threading.Thread(target=self._run, args=(conn, addr), daemon=True).start()

    def _run(self, conn, addr):
        try:
            self.handler(conn, addr)
        except Exception as e:  # a client misbehaving must not take the service down
            warn("%s: %s: %r" % (self.thread.name, client_ip(addr), e))
        finally:
            try:
                conn.close()
            except OSError:
                pass
            self.sem.release()
