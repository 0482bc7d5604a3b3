"""Authoritative DNS for the zone `test`, hand-written wire format, UDP and TCP."""

import ipaddress
import json
import os
import re
import socket
import struct
import threading

from tn_common import Acceptor, client_ip, listen_tcp, warn

ZONE = "test"
DEFAULT_TTL = 5
T_A, T_NS, T_CNAME, T_SOA, T_TXT, T_AAAA, T_OPT, T_ANY = 1, 2, 5, 6, 16, 28, 41, 255
TYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
              33: "SRV", 41: "OPT", 64: "SVCB", 65: "HTTPS", 255: "ANY"}
TYPE_CODES = {"A": T_A, "AAAA": T_AAAA, "TXT": T_TXT, "CNAME": T_CNAME}
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
MAX_JUMPS = 32
OUR_UDP_SIZE = 1232
MAX_TCP_QUERIES = 1000  # per connection


class FormErr(Exception):
    pass


def default_records(n):
    a = lambda v: [{"type": "A", "value": v}]
    return {
        "allowed.test": a("10.203.%d.2" % n),
        "other.test": a("10.203.%d.3" % n),
        "denied.test": a("10.203.%d.2" % n),
        "webhook.test": a("10.203.%d.2" % n),
        "paste.test": a("10.203.%d.2" % n),
        "registry.test": a("10.203.%d.2" % n),
        # CDN-style hosts: many short subdomains, as a build's downloads use them.
        "*.cdn.test": a("10.203.%d.2" % n),
        "pypi.test": a("10.203.%d.2" % n),
        "git.test": a("10.203.%d.2" % n),
        "v6.test": [{"type": "AAAA", "value": "fd00:203:%d::2" % n}],
        "rebind.test": a("127.0.0.1"),
        "metadata.test": a("169.254.169.254"),
        "private.test": a("192.168.77.10"),
        "alias.test": [{"type": "CNAME", "value": "allowed.test"}],
        "txt.test": [{"type": "TXT", "value": "hello"}],
        # About 10 KB: truncated over UDP, whole over TCP.
        "big.test": [{"type": "TXT", "value": "%02d" % i + "x" * 240} for i in range(40)],
    }


def norm(name):
    return name.strip().rstrip(".").lower()


def in_zone(name):
    return name == ZONE or name.endswith("." + ZONE)


def encode_name(name):
    out = bytearray()
    for label in [x for x in name.rstrip(".").split(".") if x]:
        b = label.encode("idna") if not label.isascii() else label.encode("ascii")
        if len(b) > 63:
            raise ValueError("label too long: %r" % label)
        out += bytes([len(b)]) + b
    out += b"\0"
    if len(out) > 255:
        raise ValueError("name too long")
    return bytes(out)


def compile_records(raw):
    """JSON zone object -> {name: [(type, rdata_bytes, ttl, cname_target_or_None)]}."""
    zone = {}
    if not isinstance(raw, dict):
        raise ValueError("zones.json must be a JSON object")
    for name, rrs in raw.items():
        key = norm(name)
        if not in_zone(key):
            warn("zones.json: %r is outside the zone %r; it will never be served" % (name, ZONE))
        if not isinstance(rrs, list):
            rrs = [rrs]
        out = zone.setdefault(key, [])
        for rr in rrs:
            try:
                t = TYPE_CODES[str(rr["type"]).upper()]
                v = rr["value"]
                ttl = int(rr.get("ttl", DEFAULT_TTL))
                target = None
                if t == T_A:
                    data = ipaddress.IPv4Address(v).packed
                elif t == T_AAAA:
                    data = ipaddress.IPv6Address(v).packed
                elif t == T_CNAME:
                    target = norm(v)
                    data = encode_name(target)
                else:
                    parts = v if isinstance(v, list) else [v]
                    data = b""
                    for p in parts:
                        b = str(p).encode("utf-8")
                        chunks = [b[i:i + 255] for i in range(0, len(b), 255)] or [b""]
                        data += b"".join(bytes([len(c)]) + c for c in chunks)
                out.append((t, data, ttl, target))
            except (KeyError, ValueError, TypeError) as e:
                warn("zones.json: skipping record %r for %r: %r" % (rr, name, e))
    return zone


class Zone:
    """Records, from DIR/zones.json when present (re-read when the file changes), else defaults."""

    def __init__(self, path, subnet):
        self.path = path
        self.defaults = compile_records(default_records(subnet))
        self.records = self.defaults
        self._sig = self._bad = None
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self):
        try:
            st = os.stat(self.path)
            sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            sig = None
        with self._lock:
            if sig == self._sig or sig == self._bad:
                return self.records
            if sig is None:
                self.records = self.defaults
            else:
                try:
                    with open(self.path, encoding="utf-8") as f:
                        self.records = compile_records(json.load(f))
                except (OSError, ValueError) as e:
                    warn("zones.json unreadable, keeping previous records: %r" % e)
                    self._bad = sig  # warn once; retried when the file changes again
                    return self.records
            self._sig = sig
            return self.records

    def names(self):
        """In-zone names usable as certificate SANs (wildcards included)."""
        ok = re.compile(r"(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*")
        return sorted(n for n in self.refresh() if in_zone(n) and ok.fullmatch(n))


def soa_rr():
    rdata = (encode_name("ns." + ZONE) + encode_name("hostmaster." + ZONE)
             + struct.pack("!IIIII", 1, 3600, 600, 86400, DEFAULT_TTL))
    return (T_SOA, rdata, DEFAULT_TTL, None)


def lookup(records, name):
    """RRs owned by name: exact, apex SOA, wildcard, [] for an empty non-terminal.
    None means NXDOMAIN."""
    if name in records:
        rrs = list(records[name])
        return rrs + [soa_rr()] if name == ZONE else rrs
    if name == ZONE:
        return [soa_rr()]
    labels = name.split(".")
    for i in range(1, len(labels)):
        wild = "*." + ".".join(labels[i:])
        if wild in records:
            return list(records[wild])
    suffix = "." + name
    if any(n.endswith(suffix) for n in records):
        return []
    return None


def resolve(records, qname, qtype):
    """-> (rcode, authoritative, answers [(owner, rr)], authority [(owner, rr)])."""
    if not in_zone(qname):
        return REFUSED, False, [], []
    answers, seen, name = [], set(), qname
    for _ in range(9):  # CNAME chain bound
        rrs = lookup(records, name)
        if rrs is None:
            return NXDOMAIN, True, answers, [(ZONE, soa_rr())]
        cname = [r for r in rrs if r[0] == T_CNAME]
        if cname and qtype not in (T_CNAME, T_ANY):
            answers.append((name, cname[0]))
            target = cname[0][3]
            if not in_zone(target) or target in seen:
                return NOERROR, True, answers, []
            seen.add(name)
            name = target
            continue
        match = [(name, r) for r in rrs if qtype == T_ANY or r[0] == qtype]
        answers += match
        return NOERROR, True, answers, ([] if answers else [(ZONE, soa_rr())])
    return SERVFAIL, True, answers, []


def read_name(msg, off):
    """Decode a (possibly compressed) name; -> (list of raw label bytes, offset after it)."""
    labels, jumps, end, total = [], 0, None, 0
    while True:
        if off >= len(msg):
            raise FormErr("name runs past the message")
        ln = msg[off]
        if ln & 0xC0 == 0xC0:
            if off + 1 >= len(msg):
                raise FormErr("truncated pointer")
            ptr = ((ln & 0x3F) << 8) | msg[off + 1]
            jumps += 1
            if jumps > MAX_JUMPS or ptr >= off:
                raise FormErr("bad compression pointer")
            if end is None:
                end = off + 2
            off = ptr
            continue
        if ln & 0xC0:
            raise FormErr("unsupported label type")
        off += 1
        if ln == 0:
            break
        if off + ln > len(msg):
            raise FormErr("label runs past the message")
        labels.append(bytes(msg[off:off + ln]))
        total += ln + 1
        if total > 255:
            raise FormErr("name too long")
        off += ln
    return labels, (end if end is not None else off)


def skip_rr(msg, off):
    _, off = read_name(msg, off)
    if off + 10 > len(msg):
        raise FormErr("truncated RR")
    rtype, rclass, _ttl, rdlen = struct.unpack_from("!HHIH", msg, off)
    off += 10 + rdlen
    if off > len(msg):
        raise FormErr("truncated rdata")
    return rtype, rclass, off


def build_rr(owner_wire, rr):
    rtype, rdata, ttl, _ = rr
    return owner_wire + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def handle_query(msg, zone, limit):
    """-> (response bytes or None, log fields). limit: max response size (UDP) or None."""
    info = {"name": None, "type": None, "rcode": None}
    if len(msg) < 12:
        return None, info
    qid, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", msg, 0)
    if flags & 0x8000:
        return None, info  # a response; never answer those
    opcode = (flags >> 11) & 0xF
    rd = flags & 0x0100

    def reply(rcode, aa=False, question=b"", qdcount=0, answers=(), authority=(), edns=None):
        info["rcode"] = RCODE_NAMES.get(rcode, str(rcode))
        ans = [build_rr(encode_name(o) if isinstance(o, str) else o, r) for o, r in answers]
        auth = [build_rr(encode_name(o), r) for o, r in authority]
        opt = [b"\0" + struct.pack("!HHIH", T_OPT, OUR_UDP_SIZE, 0, 0)] if edns else []
        tc = 0
        body = b"".join(ans) + b"".join(auth)
        size = 12 + len(question) + len(body) + sum(map(len, opt))
        cap = limit if limit is not None else 65535
        if size > cap:
            tc, ans, auth = 0x0200, [], []
        hflags = 0x8000 | (opcode << 11) | (0x0400 if aa else 0) | tc | rd | rcode
        hdr = struct.pack("!HHHHHH", qid, hflags, qdcount, len(ans), len(auth), len(opt))
        return hdr + question + b"".join(ans) + b"".join(auth) + b"".join(opt)

    if opcode != 0:
        return reply(NOTIMP), info
    if qd != 1:
        return reply(FORMERR), info
    try:
        labels, off = read_name(msg, 12)
        if off + 4 > len(msg):
            raise FormErr("truncated question")
        qtype, qclass = struct.unpack_from("!HH", msg, off)
        off += 4
    except FormErr:
        return reply(FORMERR), info
    edns = None
    try:  # only to find an OPT record; anything malformed after the question is ignored
        for _ in range(min(an + ns + ar, 64)):
            rtype, rclass, off = skip_rr(msg, off)
            if rtype == T_OPT:
                edns = rclass
    except FormErr:
        pass
    qname_wire = b"".join(bytes([len(l)]) + l for l in labels) + b"\0"  # original case kept
    question = qname_wire + struct.pack("!HH", qtype, qclass)
    qname = norm(".".join(l.decode("latin-1") for l in labels))
    info["name"] = qname
    info["type"] = TYPE_NAMES.get(qtype, "TYPE%d" % qtype)
    if limit is not None:
        limit = 512 if edns is None else max(512, min(edns, 4096))
    if qclass not in (1, 255):
        return reply(REFUSED, False, question, 1, edns=edns), info
    rcode, aa, answers, authority = resolve(zone.refresh(), qname, qtype)
    # The owner of the first answer is the question name as sent (case preserved).
    answers = [(qname_wire if o == qname else o, r) for o, r in answers]
    return reply(rcode, aa, question, 1, answers, authority, edns), info


class DnsServer:
    def __init__(self, hosts, zone, log, sem):
        self.zone, self.log = zone, log
        self.udp, self.tcp = [], []
        for h in hosts:
            fam = socket.AF_INET6 if ":" in h else socket.AF_INET
            u = socket.socket(fam, socket.SOCK_DGRAM)
            if fam == socket.AF_INET6:
                u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            u.bind((h, 53))
            self.udp.append(u)
            self.tcp.append(Acceptor(listen_tcp(h, 53), self._tcp_conn, sem, "dns-tcp-" + h))
        self.threads = [threading.Thread(target=self._udp_loop, args=(u,), daemon=True,
                                         name="dns-udp") for u in self.udp]

    def start(self):
        for t in self.threads:
            t.start()
        for a in self.tcp:
            a.start()

    def _answer(self, msg, limit, proto, addr):
        try:
            resp, info = handle_query(msg, self.zone, limit)
        except Exception as e:  # never let one packet kill the loop
            warn("dns: %r" % e)
            return None
        if resp is not None:
            self.log.write(name=info["name"], type=info["type"], proto=proto,
                           client=client_ip(addr), rcode=info["rcode"])
        return resp

    def _udp_loop(self, sock):
        while True:
            try:
                msg, addr = sock.recvfrom(4096)
            except OSError:
                continue
            resp = self._answer(msg, 512, "udp", addr)
            if resp is not None:
                try:
                    sock.sendto(resp, addr)
                except OSError:
                    pass

    def _tcp_conn(self, conn, addr):
        f = conn.makefile("rb")
        try:
            for _ in range(MAX_TCP_QUERIES):
                hdr = f.read(2)
                if len(hdr) < 2:
                    return
                (ln,) = struct.unpack("!H", hdr)
                msg = f.read(ln)
                if len(msg) < ln:
                    return
                resp = self._answer(msg, None, "tcp", addr)
                if resp is None:
                    return
                conn.sendall(struct.pack("!H", len(resp)) + resp)
        except (OSError, socket.timeout):
            return
        finally:
            f.close()
