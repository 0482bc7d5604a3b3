"""Start-up assets: test CA + server certificate (openssl CLI), bare git repo, demo wheel."""

import base64
import hashlib
import os
import secrets
import shutil
import subprocess
import zipfile

CMD_TIMEOUT = 60


def run(cmd, env=None, cwd=None, stdin=None):
    r = subprocess.run(cmd, env=env, cwd=cwd, input=stdin, capture_output=True,
                       timeout=CMD_TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode,
                                                   r.stderr.decode(errors="replace").strip()))
    return r.stdout


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, mode=0o755)
    return path


def make_certs(state, name, dns_names, ips):
    """DIR/ca.pem (+ DIR/tls/ca.key) and DIR/tls/server.{pem,key} for dns_names and ips."""
    tls = fresh_dir(os.path.join(state, "tls"))
    ca_pem = os.path.join(state, "ca.pem")
    ca_key = os.path.join(tls, "ca.key")
    cnf = os.path.join(tls, "openssl.cnf")
    alt = ["DNS.%d = %s" % (i + 1, d) for i, d in enumerate(dns_names)]
    alt += ["IP.%d = %s" % (i + 1, ip) for i, ip in enumerate(ips)]
    with open(cnf, "w") as f:
        f.write("\n".join([
            "[req]", "distinguished_name = dn", "prompt = no",
            "[dn]", "CN = Warden testnet CA %s" % name,
            "[srv_dn]", "CN = allowed.test",
            "[v3_ca]", "basicConstraints = critical,CA:TRUE,pathlen:0",
            "keyUsage = critical,keyCertSign,cRLSign", "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid:always",
            "[v3_srv]", "basicConstraints = critical,CA:FALSE",
            "keyUsage = critical,digitalSignature", "extendedKeyUsage = serverAuth",
            "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid",
            "subjectAltName = @alt", "[alt]"] + alt) + "\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run(["openssl", "req", "-x509", "-config", cnf, "-extensions", "v3_ca", "-days", "2",
         "-keyout", ca_key, "-out", ca_pem] + ec)
    srv_key = os.path.join(tls, "server.key")
    srv_csr = os.path.join(tls, "server.csr")
    srv_pem = os.path.join(tls, "server.pem")
    run(["openssl", "req", "-new", "-config", cnf, "-subj", "/CN=allowed.test",
         "-keyout", srv_key, "-out", srv_csr] + ec)
    run(["openssl", "x509", "-req", "-in", srv_csr, "-CA", ca_pem, "-CAkey", ca_key,
         "-set_serial", "0x" + secrets.token_hex(8), "-days", "2", "-extfile", cnf,
         "-extensions", "v3_srv", "-out", srv_pem])
    for p in (ca_key, srv_key):
        os.chmod(p, 0o600)
    os.chmod(ca_pem, 0o644)
    return ca_pem, srv_pem, srv_key


def git_env(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=home, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
               GIT_AUTHOR_NAME="Warden Test", GIT_AUTHOR_EMAIL="test@git.test",
               GIT_COMMITTER_NAME="Warden Test", GIT_COMMITTER_EMAIL="test@git.test",
               GIT_AUTHOR_DATE="2024-01-01T00:00:00Z", GIT_COMMITTER_DATE="2024-01-01T00:00:00Z")
    return env


def make_git(state):
    """DIR/git/demo.git: bare, one commit on main with README.md (fixed dates: stable hash)."""
    root = fresh_dir(os.path.join(state, "git"))
    repo = os.path.join(root, "demo.git")
    env = git_env(root)
    run(["git", "init", "--quiet", "--bare", "--initial-branch=main", repo], env=env)
    env["GIT_DIR"] = repo
    blob = run(["git", "hash-object", "-w", "--stdin"], env=env,
               stdin=b"hello from the test host\n").decode().strip()
    tree = run(["git", "mktree"], env=env,
               stdin=("100644 blob %s\tREADME.md\n" % blob).encode()).decode().strip()
    commit = run(["git", "commit-tree", tree, "-m", "Initial commit"], env=env).decode().strip()
    run(["git", "update-ref", "refs/heads/main", commit], env=env)
    run(["git", "update-server-info"], env=env)
    # writable.git: the same history, and it takes pushes (the only repository that does).
    writable = os.path.join(root, "writable.git")
    env.pop("GIT_DIR")
    run(["git", "clone", "--quiet", "--bare", repo, writable], env=env)
    run(["git", "--git-dir", writable, "config", "http.receivepack", "true"], env=env)
    return root, commit


WHEEL_NAME = "wardendemo-1.0-py3-none-any.whl"


def make_wheel(state):
    """DIR/pypi/wardendemo-1.0-py3-none-any.whl, byte-for-byte reproducible. -> (path, sha256)."""
    d = fresh_dir(os.path.join(state, "pypi"))
    info = "wardendemo-1.0.dist-info/"
    files = [
        ("wardendemo/__init__.py", b"VALUE = 42\n"),
        (info + "METADATA", b"Metadata-Version: 2.1\nName: wardendemo\nVersion: 1.0\n"
                            b"Summary: Warden testnet demo package\n\n"),
        (info + "WHEEL", b"Wheel-Version: 1.0\nGenerator: warden-testnet\n"
                         b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = ""
    for path, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += "%s,sha256=%s,%d\n" % (path, digest, len(data))
    record += info + "RECORD,,\n"
    files.append((info + "RECORD", record.encode()))
    path = os.path.join(d, WHEEL_NAME)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files:
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return path, sha
