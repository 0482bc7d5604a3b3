#!/usr/bin/env python3
"""Simulated "external" hosts for Warden's end-to-end network tests.

    python3 testnet.py --name NAME --subnet N --state DIR [--ttl SECONDS]

Run as root. Creates netns wdt-NAME joined to the host netns by a veth pair (host side
wdt-NAME 10.203.N.1/24 fd00:203:N::1/64, peer eth0 10.203.N.2 10.203.N.3 fd00:203:N::2),
serves DNS/HTTP/HTTPS/git/pip/bulk TCP inside it, writes DIR/ready.json once everything
listens, and tears it all down on stdin EOF, SIGTERM/SIGINT/SIGHUP or after --ttl seconds.
See README.md next to this file.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import argparse  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from tn_common import MAX_CONNECTIONS, JsonLog, addresses, warn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PORTS = {"dns": 53, "http": 80, "https": 443, "h2": 8443, "bulk": 9000, "sink": 9001}
STARTUP_TIMEOUT = 90.0
LOCK_DIR = "/run/wdt-testnet"


# ---------------------------------------------------------------- signals

class Stop:
    """Signal handlers only record the signal and wake select() through a pipe."""

    def __init__(self):
        self.signal = None
        self.r, self.w = os.pipe()
        os.set_blocking(self.w, False)
        signal.set_wakeup_fd(self.w, warn_on_full_buffer=False)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, self._handler)

    def _handler(self, signum, _frame):
        if self.signal is None:
            self.signal = signal.Signals(signum).name

    def drain(self):
        try:
            os.set_blocking(self.r, False)
            while os.read(self.r, 4096):
                pass
        except OSError:
            pass


# ---------------------------------------------------------------- host-side network plumbing

def ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def link_exists(name):
    return os.path.exists("/sys/class/net/%s" % name)


def netns_exists(ns):
    return os.path.exists("/run/netns/%s" % ns)


def wait_until(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def netns_pids(ns):
    if not netns_exists(ns):
        return []
    r = ip("netns", "pids", ns, check=False)
    return [int(p) for p in r.stdout.split() if p.isdigit() and int(p) != os.getpid()]


def kill_netns_processes(ns):
    """SIGTERM, then SIGKILL, every process still inside netns ns (bounded)."""
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        pids = netns_pids(ns)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        wait_until(lambda: not netns_pids(ns), wait, 0.1)


def remove_net(ns):
    """Remove netns ns and host link ns (same name); idempotent, bounded."""
    kill_netns_processes(ns)
    if link_exists(ns):
        ip("link", "del", ns, check=False)  # deletes the peer eth0 too
    if netns_exists(ns):
        ip("netns", "del", ns, check=False)
    ok = wait_until(lambda: not link_exists(ns) and not netns_exists(ns), 5.0)
    if not ok:
        warn("could not fully remove %s (link=%s netns=%s)"
             % (ns, link_exists(ns), netns_exists(ns)))
    return ok


def write_sysctl(path, value):
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        warn("sysctl %s: %r" % (path, e))


def create_net(ns, n):
    a = addresses(n)
    ip("netns", "add", ns)
    ip("link", "add", ns, "type", "veth", "peer", "name", "eth0", "netns", ns)
    # Host side: no router advertisements accepted, no forwarding from this link.
    write_sysctl("/proc/sys/net/ipv6/conf/%s/accept_ra" % ns, "0")
    write_sysctl("/proc/sys/net/ipv4/conf/%s/forwarding" % ns, "0")
    ip("addr", "add", a["host_v4"] + "/24", "dev", ns)
    ip("-6", "addr", "add", a["host_v6"] + "/64", "dev", ns, "nodad")
    ip("link", "set", ns, "up")
    ip("-n", ns, "link", "set", "lo", "up")
    for v4 in a["v4"]:
        ip("-n", ns, "addr", "add", v4 + "/24", "dev", "eth0")
    ip("-n", ns, "-6", "addr", "add", a["v6"] + "/64", "dev", "eth0", "nodad")
    ip("-n", ns, "link", "set", "eth0", "up")


def subnet_in_use(n):
    r = ip("-o", "addr", "show", "to", "10.203.%d.0/24" % n, check=False)
    r6 = ip("-o", "-6", "addr", "show", "to", "fd00:203:%d::/64" % n, check=False)
    return (r.stdout + r6.stdout).strip()


# ---------------------------------------------------------------- single instance per NAME

def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def take_lock(name):
    """Exclusive flock on LOCK_DIR/NAME.lock. A live previous instance with the same NAME is
    asked to stop (SIGTERM, it tears down itself), killed after 15 s if it does not."""
    os.makedirs(LOCK_DIR, mode=0o755, exist_ok=True)
    fd = os.open(os.path.join(LOCK_DIR, name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)

    def try_lock():
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    if not try_lock():
        try:
            pid = int(os.pread(fd, 32, 0).decode().strip() or 0)
        except ValueError:
            pid = 0
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            if pid > 0 and pid != os.getpid() and "testnet.py" in cmdline(pid):
                warn("stopping previous instance %s (pid %d) with %s" % (name, pid, sig.name))
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if wait_until(try_lock, wait, 0.1):
                break
        else:
            raise RuntimeError("another instance holds %s/%s.lock" % (LOCK_DIR, name))
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    return fd


# ---------------------------------------------------------------- parent (host netns)

def write_ready(path, info):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def tcp_probe(host, port, timeout):
    def ok():
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            return False
    return wait_until(ok, timeout, 0.1)


def run(args):
    name, n = args.name, args.subnet
    ns = "wdt-" + name
    a = addresses(n)
    state = os.path.abspath(args.state)
    os.makedirs(state, mode=0o755, exist_ok=True)
    ready_path = os.path.join(state, "ready.json")
    unlink(ready_path)
    stop = Stop()
    started = time.monotonic()
    try:
        lock = take_lock(name)
    except (RuntimeError, OSError) as e:
        warn("%s" % e)
        return 1
    events = JsonLog(os.path.join(state, "testnet.log"))
    events.write(event="start", name=name, subnet=n, pid=os.getpid(), ttl=args.ttl)
    child, reason, rc = None, None, 1
    try:
        remove_net(ns)  # leftovers of a crashed run with the same NAME
        if link_exists(ns) or netns_exists(ns):
            raise RuntimeError("leftover %s could not be removed" % ns)
        used = subnet_in_use(n)
        if used:
            raise RuntimeError("subnet %d already in use:\n%s" % (n, used))
        create_net(ns, n)
        # The server's stderr goes to a file: a test that never drains our stderr pipe must
        # not be able to block the servers.
        with open(os.path.join(state, "server.err"), "wb") as err:
            child = subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-B",
                 os.path.join(HERE, "testnet.py"), "--serve", "--name", name, "--subnet", str(n),
                 "--state", state, "--ttl", str(args.ttl + STARTUP_TIMEOUT)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                start_new_session=True)
        ttl_deadline = started + args.ttl
        ready_deadline = time.monotonic() + STARTUP_TIMEOUT
        ready, buf = False, b""
        try:
            os.fstat(0)
            watch_stdin = True
        except OSError:
            watch_stdin = False
            reason, rc = "stdin-closed", 0
        while reason is None:
            now = time.monotonic()
            if stop.signal:
                reason, rc = "signal:" + stop.signal, 0
                break
            if now >= ttl_deadline:
                reason, rc = "ttl", 0
                break
            if not ready and now >= ready_deadline:
                reason = "startup-timeout"
                break
            fds = [stop.r, child.stdout] + ([0] if watch_stdin else [])
            try:
                r, _, _ = select.select(fds, [], [], max(0.0, min(1.0, ttl_deadline - now)))
            except InterruptedError:
                continue
            if stop.r in r:
                stop.drain()
            if 0 in r:
                try:
                    data = os.read(0, 65536)
                except OSError:
                    data = b""
                if not data:
                    reason, rc = "stdin-eof", 0
                    break
            if child.stdout in r:
                data = os.read(child.stdout.fileno(), 65536)
                if not data:
                    reason = "server-exited:%s" % child.wait(5)
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    line = line.decode(errors="replace")
                    if line.startswith("ERROR "):
                        warn("server failed: " + line[6:])
                        reason = "server-error"
                    elif line.startswith("READY ") and not ready:
                        extra = json.loads(line[6:])
                        if not tcp_probe(a["v4"][0], PORTS["http"], 5.0):
                            reason = "probe-failed"
                            break
                        info = {"netns": ns, "host_side": a["host_v4"], "addresses": a["v4"],
                                "v6": a["v6"], "dns": a["v4"][0],
                                "ca": os.path.join(state, "ca.pem"), "ports": PORTS,
                                "name": name, "subnet": n, "host_if": ns,
                                "host_side_v6": a["host_v6"], "pid": os.getpid(),
                                "state": state, "expires": round(time.time() + ttl_deadline
                                                                 - time.monotonic(), 3)}
                        info.update(extra)
                        write_ready(ready_path, info)
                        ready = True
                        events.write(event="ready", seconds=round(time.monotonic() - started, 3))
                        try:
                            sys.stdout.write(json.dumps(info) + "\n")
                            sys.stdout.flush()
                        except (OSError, ValueError):
                            pass
        return rc
    except Exception as e:
        reason, rc = "error: %s" % e, 1
        return 1
    finally:
        unlink(ready_path)
        if child is not None:
            try:
                child.stdin.close()
            except OSError:
                pass
            if child.poll() is None:
                try:
                    child.terminate()
                    child.wait(5)
                except subprocess.TimeoutExpired:
                    child.kill()
                    try:
                        child.wait(5)
                    except subprocess.TimeoutExpired:
                        pass
            child.stdout.close()
        try:
            clean = remove_net(ns)
        except Exception as e:
            clean = False
            warn("tear-down of %s failed: %r" % (ns, e))
        if rc != 0:
            warn("torn down (%s); see %s/server.err" % (reason, state))
        events.write(event="down", reason=reason, clean=clean,
                     seconds=round(time.monotonic() - started, 3))
        os.close(lock)


# ---------------------------------------------------------------- child (inside the netns)

def serve(args):
    from tn_assets import make_certs, make_git, make_wheel
    from tn_bulk import Bulk
    from tn_dns import DnsServer, Zone
    from tn_h2 import H2Server
    from tn_http import App, HttpServers, tls_context

    stop = Stop()
    deadline = time.monotonic() + args.ttl
    n, state = args.subnet, args.state
    a = addresses(n)

    def say(line):
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            pass

    try:
        for path, value in (("/proc/sys/net/ipv4/ip_forward", "0"),
                            ("/proc/sys/net/ipv6/conf/all/forwarding", "0"),
                            ("/proc/sys/net/ipv6/conf/eth0/accept_ra", "0")):
            write_sysctl(path, value)
        logs = {k: os.path.join(state, k + ".log") for k in ("dns", "http", "bulk")}
        zone = Zone(os.path.join(state, "zones.json"), n)
        names = ["allowed.test", "*.test"] + zone.names()
        names = list(dict.fromkeys(names))
        ca, cert, key = make_certs(state, args.name, names, a["v4"] + [a["v6"]])
        git_root, commit = make_git(state)
        wheel, wheel_sha = make_wheel(state)
        http_log = JsonLog(logs["http"])
        app = App(http_log, git_root, os.path.join(state, "git-http-backend.err"),
                  wheel, wheel_sha, os.path.join(state, "collect.jsonl"))
        for s in (
            DnsServer([a["v4"][0], a["v6"]], zone, JsonLog(logs["dns"]),
                      threading.BoundedSemaphore(MAX_CONNECTIONS)),
            HttpServers(app, tls_context(cert, key), threading.BoundedSemaphore(MAX_CONNECTIONS)),
            H2Server(http_log, cert, key, threading.BoundedSemaphore(MAX_CONNECTIONS)),
            Bulk(JsonLog(logs["bulk"]), threading.BoundedSemaphore(MAX_CONNECTIONS)),
        ):
            s.start()
        say("READY " + json.dumps({
            "logs": logs, "cert_names": names, "git": "http://git.test/git/demo.git",
            "git_commit": commit, "pypi": "http://pypi.test/simple/", "wheel_sha256": wheel_sha,
            "server_pid": os.getpid()}))
        while stop.signal is None and time.monotonic() < deadline:
            r, _, _ = select.select([0, stop.r], [], [], 1.0)
            if stop.r in r:
                stop.drain()
            if 0 in r and not os.read(0, 65536):
                break  # the parent is gone or tearing down
        return 0
    except Exception as e:
        say("ERROR %s" % e)
        return 1
    # No graceful stop: main() calls os._exit(), the kernel closes every socket at once, and
    # the parent then kills whatever is left in the netns (e.g. a running git http-backend).


# ---------------------------------------------------------------- CLI

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--name", required=True, help="instance name, <= 8 of [A-Za-z0-9_-]")
    p.add_argument("--subnet", required=True, type=int, help="N in 10.203.N.0/24 (0-255)")
    p.add_argument("--state", required=True, help="directory for logs, CA, ready.json")
    p.add_argument("--ttl", type=float, default=900.0, help="seconds before tear-down")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,8}", args.name):
        p.error("--name must be 1-8 characters of [A-Za-z0-9_-]")
    if not 0 <= args.subnet <= 255:
        p.error("--subnet must be 0-255")
    if not 0 < args.ttl < 10 ** 7:
        p.error("--ttl must be a positive number of seconds")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        warn("must run as root")
        return 2
    if args.serve:
        rc = serve(args)
        os._exit(rc)  # do not wait for connection threads
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
