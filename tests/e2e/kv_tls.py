"""TLS on synod-kv's Redis client port (docs/security.md): one node started
with --tls-clients (certificates from scripts/make-certs.sh), then one with
--tls-auth-clients yes.

  python3 tests/e2e/kv_tls.py --bin build/examples/synod-kv

Checks, each naming what failed:
  cli        redis-cli --tls --cacert CA sets and gets; INFO clients says tls:yes.
  benchmark  redis-benchmark --tls --cacert CA runs SET and GET without error.
  plaintext  a plaintext client is closed without an answer; a client that
             trusts another CA refuses the server; INFO tls_failures counts
             both, and the log names the failure.
  maxclients the client over --maxclients gets -ERR max number of clients
             reached inside TLS, after its handshake.
  clientcert with --tls-auth-clients yes a client without a certificate is
             refused, one with a certificate from the cluster CA is served.
"""
import argparse
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Failures(list):
    def check(self, ok, what):
        if not ok:
            self.append(what)
        return ok


def cli(port, pki, *args, ca="ca.crt", cert=None):
    cmd = ["redis-cli", "--tls", "--cacert", os.path.join(pki, ca), "-p", str(port)]
    if cert:
        cmd += ["--cert", os.path.join(pki, cert + ".crt"), "--key", os.path.join(pki, cert + ".key")]
    out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=20)
    return (out.stdout + out.stderr).strip()


def info_field(port, pki, field, **kw):
    for line in cli(port, pki, "INFO", "everything", **kw).splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


def start(binary, port, pki, workdir, extra):
    log = os.path.join(workdir, "node-%d.log" % port)
    cmd = [binary, "--id", "1", "--peers", "1=127.0.0.1:%d" % (port + 1000), "--listen",
           "127.0.0.1:%d" % port, "--memory", "--bootstrap", "--tls-cert",
           os.path.join(pki, "node1.crt"), "--tls-key", os.path.join(pki, "node1.key"),
           "--tls-ca", os.path.join(pki, "ca.crt"), "--tls-clients"] + extra
    proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 15
    while time.time() < deadline:
        if cli(port, pki, "SET", "ready", "1", **({"cert": "node2"} if "--tls-auth-clients" in extra else {})) == "OK":
            return proc, log
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("node on %d never accepted a TLS SET; log %s" % (port, log))


def tls_socket(port, pki, cert=None):
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
    if cert:
        ctx.load_cert_chain(os.path.join(pki, cert + ".crt"), os.path.join(pki, cert + ".key"))
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                           server_hostname="localhost")


def check_open_node(f, binary, port, pki, workdir):
    proc, log = start(binary, port, pki, workdir, ["--maxclients", "3"])
    try:
        f.check(cli(port, pki, "SET", "greeting", "hello") == "OK", "cli: SET over TLS")
        f.check(cli(port, pki, "GET", "greeting") == "hello", "cli: GET over TLS")
        f.check(info_field(port, pki, "tls") == "yes", "cli: INFO clients tls:yes")
        bench = subprocess.run(["redis-benchmark", "--tls", "--cacert", os.path.join(pki, "ca.crt"),
                                "-p", str(port), "-t", "set,get", "-n", "20000", "-P", "8", "-c", "2",
                                "-q"], capture_output=True, text=True, timeout=120)
        rates = [x for x in bench.stdout.replace("\r", "\n").splitlines() if "requests per second" in x]
        f.check(bench.returncode == 0 and len(rates) == 2,
                "benchmark: redis-benchmark --tls: %s" % (bench.stdout + bench.stderr)[-300:])
        before = int(info_field(port, pki, "tls_failures") or -1)
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"PING\r\n")
        try:
            got = s.recv(100)
        except OSError:
            got = b""
        f.check(not got.startswith(b"+PONG"), "plaintext: a plaintext PING was answered: %r" % got)
        s.close()
        wrong = cli(port, pki, "PING", ca="other-ca.crt")
        f.check("PONG" not in wrong and "verify failed" in wrong,
                "plaintext: a client trusting another CA connected: %s" % wrong)
        time.sleep(0.3)
        after = int(info_field(port, pki, "tls_failures") or -1)
        f.check(after >= before + 2, "plaintext: tls_failures went %d -> %d" % (before, after))
        f.check("TLS" in open(log).read(), "plaintext: no TLS failure in the log")
        # --maxclients 3: two held, the probe below is the third; the fourth is refused.
        held = [tls_socket(port, pki) for _ in range(2)]
        for h in held:
            h.sendall(b"PING\r\n")
            h.recv(100)
        probe = tls_socket(port, pki)
        probe.sendall(b"PING\r\n")
        f.check(probe.recv(100).startswith(b"+PONG"), "maxclients: the third client served")
        over = tls_socket(port, pki)
        got = over.recv(100)
        f.check(got.startswith(b"-ERR max number of clients reached"),
                "maxclients: the fourth client got %r" % got)
        for sock in held + [probe, over]:
            sock.close()
    finally:
        proc.kill()
        proc.wait()


def check_client_certs(f, binary, port, pki, workdir):
    proc, _ = start(binary, port, pki, workdir, ["--tls-auth-clients", "yes"])
    try:
        anonymous = cli(port, pki, "PING")
        f.check("PONG" not in anonymous,
                "clientcert: a client without a certificate was served: %s" % anonymous)
        f.check(cli(port, pki, "PING", cert="node2") == "PONG",
                "clientcert: a client with a certificate from the CA was refused")
        s = tls_socket(port, pki, cert="node2")
        s.sendall(b"GET ready\r\n")
        f.check(s.recv(100) == b"$1\r\n1\r\n", "clientcert: GET over a verified client session")
        s.close()
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--base-port", type=int, default=23100 + (os.getpid() % 400) * 4)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="synod-kv-tls-")
    pki = os.path.join(workdir, "pki")
    make = os.path.join(HERE, "..", "..", "scripts", "make-certs.sh")
    subprocess.run(["bash", make, pki, "1", "1", "2"], check=True, stdout=subprocess.DEVNULL)
    other = os.path.join(workdir, "other")
    subprocess.run(["bash", make, other, "1", "1"], check=True, stdout=subprocess.DEVNULL)
    shutil.copy(os.path.join(other, "ca.crt"), os.path.join(pki, "other-ca.crt"))
    f = Failures()
    t0 = time.time()
    check_open_node(f, os.path.abspath(args.bin), args.base_port, pki, workdir)
    check_client_certs(f, os.path.abspath(args.bin), args.base_port + 2, pki, workdir)
    if f:
        print("kv client TLS FAILED:")
        for x in f:
            print("  " + x)
        print("logs kept in " + workdir)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("kv client TLS: ok in %.1f s (redis-cli and redis-benchmark over TLS, plaintext and "
          "foreign CA refused, maxclients inside TLS, client certificates required)" % (time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
