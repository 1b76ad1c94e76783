"""What the Python tests share: the programs meson passes in, running them, reading traces
through dejavm-trace, and the skip rule for tests that boot the tiny Linux."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.environ.get("DEJAVM_BIN", "")
TOOL = os.environ.get("DEJAVM_TRACE_BIN", "")
GUESTS = os.environ.get("DEJAVM_GUEST_DIR", "")
LINUX = os.environ.get("DEJAVM_LINUX_DIR", "")
REMOTE = os.environ.get("DEJAVM_REMOTE_BIN", "")


def run(args, timeout=300, env=None):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace", timeout=timeout, env=env)


def guest(name):
    return os.path.join(GUESTS, name + ".elf")


def dump(trace, *args, truncated=False):
    """The trace's events as dicts (`dejavm-trace dump TRACE ARGS`, e.g. "--type", "msi");
    truncated: the trace is expected to be (dejavm-trace then exits 1 after the events)."""
    p = run([TOOL, "dump", trace] + list(args))
    assert p.returncode == (1 if truncated else 0), p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def skip(why):
    print("skipped: " + why)
    sys.exit(77)


def require_linux():
    """Skips (77) without DEJAVM_LINUX_DIR, or fails when DEJAVM_REQUIRE_LINUX=1 (CI)."""
    if LINUX:
        return
    if os.environ.get("DEJAVM_REQUIRE_LINUX") == "1":
        sys.exit("DEJAVM_LINUX_DIR is not set but DEJAVM_REQUIRE_LINUX=1")
    skip("DEJAVM_LINUX_DIR is not set")


def cpu_vendor():
    """This host's CPU vendor, as CPUID says it ("GenuineIntel", "AuthenticAMD")."""
    for line in open("/proc/cpuinfo"):
        if line.startswith("vendor_id"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def golden_dir(base):
    """The golden traces recorded on a CPU of this host's vendor (BASE/VENDOR): on the PVM hosts
    the guest sees the host's CPUID, and the flags an instruction leaves undefined are the CPU's,
    so a trace replays exactly only on CPUs like the one it was recorded on
    (docs/determinism.md)."""
    d = os.path.join(base, cpu_vendor())
    if not os.path.isdir(d):
        sys.exit("%s: no golden traces for this host's CPU vendor (%s): record them with "
                 "tools/regen-golden.sh --keep-images" % (base, cpu_vendor()))
    return d


IMAGES = os.environ.get("DEJAVM_IMAGE_DIR", "")        # BUILD/corpora/images
MANIFEST = os.environ.get("DEJAVM_IMAGE_MANIFEST", "")  # corpora/images/MANIFEST


def shipped_images(manifest=None, images=None):
    """{sha256: path} of the images a MANIFEST names (default: corpora/images's, decompressed
    in the build) in the directory images."""
    found = {}
    for line in open(manifest or MANIFEST):
        if line.strip() and not line.startswith("#"):
            name, sha = line.split()[:2]
            found[sha] = os.path.join(images or IMAGES, name)
    return found


def info(trace):
    """`dejavm-trace info --json TRACE` as a dict."""
    p = run([TOOL, "info", "--json", trace])
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def golden_image_args(trace, shipped=None):
    """--kernel/--initramfs for a golden trace: the shipped images with the recorded SHA-256."""
    shipped, args = shipped or shipped_images(), []
    for im in info(trace)["images"]:
        assert im["sha256"] in shipped, "%s: its %s (sha256 %s) is not shipped" % (
            trace, im["role"], im["sha256"])
        args += ["--" + im["role"], shipped[im["sha256"]]]
    return args


class CpuHog:
    """A busy process per core for the duration of a with-block: the host is slow and loaded."""

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                      for _ in range(os.cpu_count() or 2)]
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


SCRATCH = []


def scratch_dir(prefix):
    """A temporary directory that run_tests() removes if every test passes (kept to look at if
    one fails)."""
    d = tempfile.mkdtemp(prefix=prefix)
    SCRATCH.append(d)
    return d


def run_tests(classes, needed_env):
    """Runs the unittest classes and exits with their result, once the variables are set."""
    for var in needed_env:
        if not os.environ.get(var):
            sys.exit("%s is not set (run through meson test)" % var)
    suite = unittest.TestSuite(unittest.TestLoader().loadTestsFromTestCase(c) for c in classes)
    ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    for d in SCRATCH:
        if ok:
            shutil.rmtree(d, ignore_errors=True)
        else:
            print("kept %s" % d)
    sys.exit(0 if ok else 1)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Vmm:
    """A dejavm started with --api-socket TMP/NAME.sock (plus args, and env's variables added;
    prefix: a command it runs under, e.g. ip netns exec), stopped at the end; its log must hold
    no sanitizer report."""

    def __init__(self, tmp, name, *args, env=None, prefix=()):
        self.sock = os.path.join(tmp, name + ".sock")
        self.log = open(os.path.join(tmp, name + ".log"), "w+")
        self.proc = subprocess.Popen(list(prefix) + [BIN, "--api-socket", self.sock, "-v"] +
                                     list(args),
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})))
        for _ in range(200):
            if os.path.exists(self.sock):
                break
            time.sleep(0.02)
        assert os.path.exists(self.sock), self.output()

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def request(self, method, path, body=None, headers=None):
        c = UnixHTTPConnection(self.sock)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, "/api/v1/" + path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data else None

    def remote(self, *args, stdin=None):
        return subprocess.run([REMOTE, "--api-socket", self.sock] + list(args), input=stdin,
                              capture_output=True, text=True, timeout=120)

    def state(self):
        return self.request("GET", "vm.info")[1]["state"]

    def wait_state(self, want, timeout=120):
        for _ in range(int(timeout / 0.05)):
            if self.state() == want:
                return
            time.sleep(0.05)
        raise AssertionError("never %s: %s" % (want, self.output()))

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.request("PUT", "vmm.shutdown")
            except OSError:
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        out = self.output()  # an ASan/UBSan build reports here, also at exit (leaks)
        assert "Sanitizer" not in out and "runtime error" not in out, out[-3000:]
