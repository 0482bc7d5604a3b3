"""Inside a sandbox: looks for the sandbox CA's private key anywhere the sandbox can read.

An EC private key, in any encoding OpenSSL writes (SEC1, PKCS#8, PEM or DER), carries its
public point; so does nothing else but the certificate. The script takes the point from the
CA certificate, then searches every readable regular file outside /proc, /sys, /dev and /usr
(read-only host trees Warden never writes) for the point raw, in hex, or in base64 at any of
the three alignments (PEM line breaks removed). The certificate files themselves are the
control: the search must find the point there. Prints one JSON line.
"""
import base64, json, os, subprocess, sys

CERT = "/run/warden/tls/warden-ca.pem"
EXPECTED = {CERT, "/run/warden/tls/ca-bundle.pem", "/etc/ssl/certs/ca-certificates.crt"}
SKIP = ("/proc", "/sys", "/dev", "/usr")


def point_of(cert):
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, capture_output=True, check=True).stdout
    return der[-65:]


def needles(point):
    found = [point, point.hex().encode(), point.hex().upper().encode()]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + point)
        found.append(encoded[4:-4])
    return found


def contains(data, patterns):
    flat = data.replace(b"\n", b"").replace(b"\r", b"")
    return any(p in data or p in flat for p in patterns)


def main():
    point = point_of(CERT)
    patterns = needles(point)
    hits, expected_hits, scanned = [], [], 0
    for root, dirs, files in os.walk("/", followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.join(root, d).startswith(SKIP)]
        for name in files:
            path = os.path.join(root, name)
            try:
                if not os.path.isfile(path) or os.path.islink(path) or os.path.getsize(path) > 64 << 20:
                    continue
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            scanned += 1
            if contains(data, patterns):
                (expected_hits if path in EXPECTED else hits).append(path)
    print(json.dumps({"point": point.hex(), "hits": hits, "expected": sorted(expected_hits), "scanned": scanned}))


if __name__ == "__main__":
    sys.exit(main())
