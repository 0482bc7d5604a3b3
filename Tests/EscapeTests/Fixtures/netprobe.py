"""Network probes run inside a sandbox by the network guard's tests. Each prints one line:
JSON with what happened. Every socket has a timeout; every loop is bounded."""
import json, socket, ssl, sys, threading, time


def out(**fields):
    print(json.dumps(fields), flush=True)


def http_exchange(sock, requests):
    """Sends raw requests one at a time, reading one response each; returns statuses."""
    statuses = []
    for raw in requests:
        try:
            sock.sendall(raw)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            if not data:
                statuses.append("closed")
                break
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = lines[0].split(" ")[1] if " " in lines[0] else lines[0]
            headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            statuses.append({"status": status, "block": headers.get("x-warden-block", "")})
        except (ConnectionResetError, BrokenPipeError, socket.timeout) as e:
            statuses.append(type(e).__name__)
            break
    return statuses


def connect(host, port, family=0):
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    f, t, p, _, addr = infos[0]
    s = socket.socket(f, t, p)
    s.settimeout(8)
    s.connect(addr)
    return s


def main():
    kind = sys.argv[1]
    args = sys.argv[2:]
    try:
        if kind == "requests":
            # requests HOST PORT HOSTHEADER... : one raw GET per Host header on one connection.
            s = connect(args[0], int(args[1]))
            reqs = [f"GET / HTTP/1.1\r\nHost: {h}\r\n\r\n".encode() for h in args[2:]]
            out(results=http_exchange(s, reqs))
        elif kind == "raw":
            # raw HOST PORT HEX...: sends each request's bytes in turn on one connection,
            # reading one response each; reports their heads.
            s = connect(args[0], int(args[1]))
            out(results=http_exchange(s, [bytes.fromhex(h) for h in args[2:]]))
        elif kind == "udp":
            s = socket.socket(socket.AF_INET6 if ":" in args[0] else socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(2)
            try:
                s.sendto(b"probe", (args[0], int(args[1])))
                s.recvfrom(100)
                out(result="answered")
            except OSError as e:
                out(result=type(e).__name__, errno=e.errno)
        elif kind == "tls":
            # tls HOST PORT SNI|- CAFILE
            ctx = ssl.create_default_context(cafile=args[3])
            sni = None if args[2] == "-" else args[2]
            if sni is None:
                ctx.check_hostname = False
            s = connect(args[0], int(args[1]))
            try:
                t = ctx.wrap_socket(s, server_hostname=sni)
                t.sendall(f"GET / HTTP/1.1\r\nHost: {sni or args[0]}\r\nConnection: close\r\n\r\n".encode())
                data = t.recv(100)
                out(result="ok", status=data.split(b" ")[1].decode() if data else "")
            except (ssl.SSLError, ConnectionResetError, OSError) as e:
                out(result=type(e).__name__)
        elif kind == "urllib":
            # urllib URL [CAFILE]: one GET with the standard library; reports status or error.
            import urllib.request, urllib.error
            ctx = ssl.create_default_context(cafile=args[1]) if len(args) > 1 else None
            try:
                with urllib.request.urlopen(args[0], timeout=8, context=ctx) as r:
                    out(status=r.status, body=len(r.read()))
            except urllib.error.HTTPError as e:
                out(status=e.code, block=e.headers.get("X-Warden-Block", ""))
            except (urllib.error.URLError, OSError) as e:
                out(error=type(getattr(e, "reason", e)).__name__, message=str(e))
        elif kind == "dnstcp":
            # dnstcp NAME: one A query over TCP to the sandbox's resolver; reports the answers.
            name = args[0]
            query = bytes([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
            for label in name.split("."):
                query += bytes([len(label)]) + label.encode()
            query += b"\0\0\1\0\1"
            s = connect("127.0.0.1", 53)
            s.sendall(len(query).to_bytes(2, "big") + query)
            data = b""
            while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            answer = data[2:]
            rcode = answer[3] & 0xF if len(answer) > 3 else -1
            count = int.from_bytes(answer[6:8], "big") if len(answer) > 8 else 0
            addresses = []
            at = len(query)
            for _ in range(count):
                if at < len(answer) and answer[at] & 0xC0 == 0xC0:
                    at += 2  # compressed name
                else:
                    while at < len(answer) and answer[at] != 0:
                        at += 1 + answer[at]
                    at += 1
                rtype = int.from_bytes(answer[at:at + 2], "big")
                length = int.from_bytes(answer[at + 8:at + 10], "big")
                if rtype == 1 and length == 4:
                    addresses.append(".".join(str(b) for b in answer[at + 10:at + 14]))
                at += 10 + length
            out(rcode=rcode, addresses=addresses)
        elif kind == "dnstcpmany":
            # dnstcpmany NAME N: N queries pipelined on one TCP connection before reading any
            # answer; reports how many well-framed answers came back and their sizes.
            name, count = args[0], int(args[1])
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # A small receive buffer: the guard's answers back up on its side, as with a slow reader.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", 53))
            s.settimeout(20)
            qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
            for i in range(count):
                query = i.to_bytes(2, "big") + bytes([1, 0, 0, 1, 0, 0, 0, 0, 0, 0]) + qname + b"\0\x10\0\x01"
                s.sendall(len(query).to_bytes(2, "big") + query)
            time.sleep(1)
            data, answers, sizes = b"", 0, set()
            while answers < count:
                while len(data) >= 2 and len(data) >= 2 + int.from_bytes(data[:2], "big"):
                    size = int.from_bytes(data[:2], "big")
                    sizes.add(size)
                    data = data[2 + size:]
                    answers += 1
                if answers >= count:
                    break
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            out(answers=answers, sizes=sorted(sizes))
        elif kind == "rawsock":
            # rawsock inet|packet: tries to open a raw socket, reports the error.
            try:
                if args[0] == "packet":
                    socket.socket(17, socket.SOCK_RAW, 0x0300)  # AF_PACKET, ETH_P_ALL
                else:
                    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
                out(result="opened")
            except OSError as e:
                out(result=type(e).__name__, errno=e.errno)
        elif kind == "proxied":
            # proxied PROXYPORT URL... : one absolute-form GET per URL on one proxy connection.
            s = connect("127.0.0.1", int(args[0]))
            reqs = []
            for url in args[1:]:
                authority = url.split("/")[2]
                reqs.append(f"GET {url} HTTP/1.1\r\nHost: {authority}\r\nProxy-Connection: keep-alive\r\n\r\n".encode())
            out(results=http_exchange(s, reqs))
        elif kind == "tunnel":
            # tunnel PROXYPORT HOST:PORT SNI CAFILE: CONNECT, then TLS with that server name.
            s = connect("127.0.0.1", int(args[0]))
            answer = http_exchange(s, [f"CONNECT {args[1]} HTTP/1.1\r\nHost: {args[1]}\r\n\r\n".encode()])
            connected = answer[0] if answer else "closed"
            if not (isinstance(connected, dict) and connected["status"] == "200"):
                out(connect=connected)
                return
            ctx = ssl.create_default_context(cafile=args[3])
            try:
                t = ctx.wrap_socket(s, server_hostname=args[2])
                t.sendall(f"GET / HTTP/1.1\r\nHost: {args[2]}\r\nConnection: close\r\n\r\n".encode())
                data = t.recv(100)
                out(connect=connected, result="ok", status=data.split(b" ")[1].decode() if data else "")
            except (ssl.SSLError, ConnectionResetError, OSError) as e:
                out(connect=connected, result=type(e).__name__)
        elif kind == "many":
            # many HOST PORT N: N connections held open at once, then one request on each.
            n = int(args[2])
            socks = []
            for _ in range(n):
                socks.append(connect(args[0], int(args[1])))
            ok = 0
            for s in socks:
                r = http_exchange(s, [f"GET / HTTP/1.1\r\nHost: {args[0]}\r\n\r\n".encode()])
                if r and isinstance(r[0], dict) and r[0]["status"] == "200":
                    ok += 1
            out(opened=len(socks), ok=ok)
        elif kind == "slowloris":
            # Sends a request head one byte per second; reports when the guard gave up.
            s = connect(args[0], int(args[1]))
            start = time.time()
            head = f"GET / HTTP/1.1\r\nHost: {args[0]}\r\nX-Slow: " + "a" * 40
            result = "sent-all"
            for b in head.encode():
                try:
                    s.send(bytes([b]))
                except OSError as e:
                    result = type(e).__name__
                    break
                time.sleep(0.5)
                if time.time() - start > 25:
                    break
            try:
                data = s.recv(200)
                result = data.split(b"\r\n")[0].decode() if data else "closed"
            except OSError as e:
                result = type(e).__name__
            out(result=result, seconds=round(time.time() - start, 1))
        else:
            out(error="unknown probe " + kind)
    except Exception as e:  # every failure becomes a line the test reads
        out(error=type(e).__name__, message=str(e))


main()
