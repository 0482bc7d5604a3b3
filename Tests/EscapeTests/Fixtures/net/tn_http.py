"""HTTP/HTTPS: JSON echo, /bytes/N, PEP 503 index for `wardendemo`, git http-backend CGI (pushes only to writable.git)."""

import json
import os
import re
import shutil
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from tn_assets import WHEEL_NAME
from tn_common import IDLE_TIMEOUT, client_ip

MAX_BYTES = 8 << 30  # /bytes/N upper bound (8 GiB)
WRITE_SIZE = 64 << 10
COLLECT_LIMIT = 8 << 20  # bytes one /collect POST may carry
CGI_TIMEOUT = 120  # seconds a git http-backend run may take
X_CHUNK = memoryview(b"x" * WRITE_SIZE)


class App:
    """What the handler needs: logs, git project root, the wheel."""

    def __init__(self, log, git_root, cgi_err_path, wheel_path, wheel_sha, collect_path=None):
        self.log = log
        # An audit collector (/collect): each POSTed body appended here whole.
        self.collect_path = collect_path
        self.collect_lock = threading.Lock()
        # /collect?fail=N answers 503 to the first N POSTs with that query (a collector that is down).
        self.collect_refused = {}
        self.git_root = git_root
        self.cgi_err_path = cgi_err_path
        with open(wheel_path, "rb") as f:
            self.wheel = f.read()
        self.wheel_sha = wheel_sha


class BodyError(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "warden-testnet"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    # --- connection ---
    def setup(self):
        if self.server.tls is not None:
            self.request.settimeout(self.timeout)
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            if self.server.tls is not None:
                try:
                    self.request.close()
                except OSError:
                    pass

    def log_message(self, *args):
        pass

    def version_string(self):
        return self.server_version

    # --- request body ---
    def body_chunks(self):
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BodyError("bad chunk header")
                if size == 0:
                    for _ in range(128):  # trailers
                        if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                            break
                    return
                while size > 0:
                    data = self.rfile.read(min(size, WRITE_SIZE))
                    if not data:
                        raise BodyError("body truncated")
                    size -= len(data)
                    yield data
                self.rfile.readline(8)
        else:
            try:
                n = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise BodyError("bad Content-Length")
            if n < 0:
                raise BodyError("bad Content-Length")
            while n > 0:
                data = self.rfile.read(min(n, WRITE_SIZE))
                if not data:
                    raise BodyError("body truncated")
                n -= len(data)
                yield data

    def drain_body(self):
        for chunk in self.body_chunks():
            self.body_length += len(chunk)

    # --- responses ---
    def reply(self, status, body, ctype="application/json", extra=()):
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            self.bytes_sent += len(body)

    def do_GET(self):
        self.status, self.body_length, self.bytes_sent, self.error = None, 0, 0, None
        path = urlsplit(self.path).path
        try:
            if path == "/git" or path.startswith("/git/"):
                self.git(path)
                return
            if path == "/collect" and self.command == "POST" and self.server.app.collect_path:
                self.collect()
                return
            self.drain_body()
            m = re.fullmatch(r"/bytes/(\d{1,12})", path)
            if m and self.command in ("GET", "HEAD"):
                self.send_bytes(int(m.group(1)))
            elif path.startswith("/simple") and self.command in ("GET", "HEAD"):
                self.pypi_index(path)
            elif path == "/packages/" + WHEEL_NAME and self.command in ("GET", "HEAD"):
                self.reply(200, self.server.app.wheel, "application/octet-stream")
            else:
                self.echo()
        except BodyError as e:
            self.error = str(e)
            self.close_connection = True
            self.reply(400, json.dumps({"error": str(e)}).encode())
        except (OSError, socket.timeout, ssl.SSLError) as e:
            self.error = repr(e)
            self.close_connection = True
        finally:
            self.server.app.log.write(
                method=self.command, path=self.path, host=self.headers.get("Host", ""),
                client=client_ip(self.client_address), body_length=self.body_length,
                port=self.server.server_address[1], scheme=self.server.scheme,
                status=self.status, bytes_sent=self.bytes_sent,
                **({"error": self.error} if self.error else {}))

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def collect(self):
        body = bytearray()
        for chunk in self.body_chunks():
            body += chunk
            if len(body) > COLLECT_LIMIT:
                raise BodyError("collector body over %d bytes" % COLLECT_LIMIT)
        self.body_length = len(body)
        app = self.server.app
        query = urlsplit(self.path).query
        m = re.fullmatch(r"fail=(\d{1,3})", query)
        with app.collect_lock:
            if m and app.collect_refused.get(query, 0) < int(m.group(1)):
                app.collect_refused[query] = app.collect_refused.get(query, 0) + 1
                refuse = True
            else:
                refuse = False
                with open(app.collect_path, "ab") as f:
                    f.write(bytes(body))
        if refuse:
            self.reply(503, b'{"error":"collector unavailable"}\n')
        else:
            self.reply(200, b'{"ok":true}\n')

    def echo(self):
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        body = {"method": self.command, "path": self.path, "host": self.headers.get("Host", ""),
                "headers": headers, "body_length": self.body_length,
                "client": client_ip(self.client_address), "port": self.server.server_address[1],
                "scheme": self.server.scheme}
        self.reply(200, (json.dumps(body, indent=1) + "\n").encode())

    def send_bytes(self, n):
        if n > MAX_BYTES:
            self.reply(400, b'{"error":"at most 8 GiB"}\n')
            return
        self.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        left = n
        while left > 0:
            k = min(left, WRITE_SIZE)
            self.wfile.write(X_CHUNK[:k])
            left -= k
            self.bytes_sent += k

    def pypi_index(self, path):
        app = self.server.app
        head = ('<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" '
                'content="1.0"><title>%s</title></head><body>\n')
        if path in ("/simple", "/simple/"):
            html = head % "Simple index" + '<a href="/simple/wardendemo/">wardendemo</a>\n'
        elif path.rstrip("/") == "/simple/wardendemo":
            html = head % "Links for wardendemo" + '<a href="/packages/%s#sha256=%s">%s</a>\n' % (
                WHEEL_NAME, app.wheel_sha, WHEEL_NAME)
        else:
            self.reply(404, b"not found\n", "text/plain")
            return
        self.reply(200, (html + "</body></html>\n").encode(), "text/html; charset=utf-8")

    # --- git smart HTTP through `git http-backend` (CGI) ---
    def git(self, path):
        app = self.server.app
        u = urlsplit(self.path)
        if path.endswith("/git-receive-pack") and not path.startswith("/git/writable.git/"):
            # Pushes are advertised (so a client gets as far as sending its pack) but refused
            # here: the repository never changes. The request is still logged. Only
            # writable.git takes them (pushes to the project's own remote).
            self.drain_body()
            self.reply(403, b"pushes are refused by the test host\n", "text/plain")
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": app.git_root, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_PROJECT_ROOT": app.git_root, "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": self.server_version,
            "SERVER_PROTOCOL": self.request_version, "SERVER_NAME": "git.test",
            "SERVER_PORT": str(self.server.server_address[1]), "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "/git", "PATH_INFO": unquote(path[len("/git"):]) or "/",
            "QUERY_STRING": u.query, "REMOTE_ADDR": client_ip(self.client_address),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
        }
        if "service=git-receive-pack" in u.query:
            env["REMOTE_USER"] = "tester"  # http-backend advertises receive-pack only to a user
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            env["CONTENT_LENGTH"] = self.headers.get("Content-Length") or "0"
        for k, v in self.headers.items():
            key = "HTTP_" + k.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "HTTP_PROXY"):
                env[key] = v
        with open(app.cgi_err_path, "ab") as err, \
                tempfile.SpooledTemporaryFile(max_size=8 << 20) as out:
            proc = subprocess.Popen(["git", "http-backend"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=err, env=env,
                                    cwd=app.git_root, close_fds=True)
            killer = threading.Timer(CGI_TIMEOUT, proc.kill)
            killer.daemon = True
            killer.start()
            feed_error = []

            def feed():
                try:
                    for chunk in self.body_chunks():
                        self.body_length += len(chunk)
                        try:
                            proc.stdin.write(chunk)
                        except (BrokenPipeError, ValueError):
                            pass  # backend stopped reading; keep draining the client
                except Exception as e:
                    feed_error.append(e)
                    proc.kill()
                finally:
                    try:
                        proc.stdin.close()
                    except OSError:
                        pass

            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
            try:
                shutil.copyfileobj(proc.stdout, out, WRITE_SIZE)
                proc.wait(10)
            finally:
                killer.cancel()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
                proc.stdout.close()
            feeder.join(CGI_TIMEOUT)
            if feed_error:
                raise feed_error[0] if isinstance(feed_error[0], BodyError) else \
                    BodyError("request body: %r" % feed_error[0])
            self.send_cgi(out)

    def send_cgi(self, out):
        size = out.tell()
        out.seek(0)
        status, headers = 200, []
        for _ in range(100):
            line = out.readline(8192)
            if line in (b"\r\n", b"\n"):
                break
            if not line or b":" not in line:
                self.reply(502, b'{"error":"bad CGI output"}\n')
                return
            k, v = line.decode("latin-1").split(":", 1)
            k, v = k.strip(), v.strip()
            if k.lower() == "status":
                status = int(v.split()[0])
            elif k.lower() not in ("content-length", "connection", "transfer-encoding"):
                headers.append((k, v))
        body_len = size - out.tell()
        self.status = status
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(body_len))
        self.end_headers()
        if self.command == "HEAD":
            return
        while True:
            data = out.read(WRITE_SIZE)
            if not data:
                break
            self.wfile.write(data)
            self.bytes_sent += len(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024

    def __init__(self, host, port, app, tls, sem):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app, self.tls, self.sem = app, tls, sem
        self.scheme = "https" if tls else "http"
        super().__init__((host, port), Handler)

    def server_bind(self):
        # Not HTTPServer.server_bind: that one calls getfqdn() (a DNS lookup).
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "testnet", self.server_address[1]

    def process_request(self, request, client_address):
        if not self.sem.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self.sem.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.sem.release()

    def handle_error(self, request, client_address):
        pass  # TLS handshake failures, resets: nothing to report


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class HttpServers:
    """One server per (address family, port): 0.0.0.0 and :: on 80 (plain) and 443 (TLS)."""

    def __init__(self, app, tls, sem, ports=(80, 443)):
        self.servers = []
        for host in ("0.0.0.0", "::"):
            self.servers.append(Server(host, ports[0], app, None, sem))
            self.servers.append(Server(host, ports[1], app, tls, sem))

    def start(self):
        for s in self.servers:
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.5},
                             daemon=True, name="http-%d" % s.server_address[1]).start()
