#!/usr/bin/python3
"""virtio-console input: `--console pty` and the virtio-console-echo test guest.

The VMM prints the pty's path; a line written there reaches the guest through receive buffers of
5 bytes (so it is split across chains: the device must keep what one buffer could not take), and
the guest prints it back on COM1. The trace holds the input as dma_write events, in order, one
per receive chain. A write before the guest has posted any buffer waits in the pty, not lost. The most devices
with threads of their own (4 disks and a pty console) start and stop cleanly.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

BIN, TOOL = os.environ["DEJAVM_BIN"], os.environ["DEJAVM_TRACE_BIN"]
GUEST = os.path.join(os.environ["DEJAVM_GUEST_DIR"], "virtio-console-echo.elf")
LINE = b"hello from the pty, longer than one buffer"


WAITS = "bytes of input wait for a receive buffer"  # the VMM's -v message


def echo(tmp, when):
    """when: "early", written as soon as the pty exists, or "posted", once the guest says it
    has posted its receive buffers. Returns the chains and whether the input had to wait."""
    trace = os.path.join(tmp, "echo-%s.trace" % when)
    p = subprocess.Popen([BIN, "-v", "--kernel", GUEST, "--console", "pty", "--record", trace],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = p.stderr.readline().decode(errors="replace")
        m = re.match(r"dejavm: virtio-console \(hvc0\) on (/dev/pts/\d+)$", first.strip())
        assert m, "no pty path on stderr: %r" % first
        fd = os.open(m.group(1), os.O_RDWR | os.O_NOCTTY)
        head = b""
        if when == "posted":  # wait for the state, not for a time
            while b"receive buffers posted" not in head:
                line = p.stdout.readline()
                assert line, "the guest ended before posting its buffers: %r" % head
                head += line
        os.write(fd, LINE + b"\n")
        out, err = p.communicate(timeout=120)
        os.close(fd)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out = (head + out).decode(errors="replace")
    err = err.decode(errors="replace")
    assert p.returncode == 0, "status %d: %s %s" % (p.returncode, out, err)
    want = "virtio-console-echo: line '%s' in %d chains" % (LINE.decode(), (len(LINE) + 1 + 4) // 5)
    assert want in out, "guest output %r lacks %r" % (out, want)
    d = subprocess.run([TOOL, "dump", trace, "--type", "dma_write"], stdout=subprocess.PIPE,
                       text=True, check=True)
    events = [json.loads(line) for line in d.stdout.splitlines()]
    got = b"".join(bytes.fromhex(e["data"]) for e in events)
    assert got == LINE + b"\n", "trace dma_write bytes %r" % got
    assert all(len(bytes.fromhex(e["data"])) <= 5 for e in events)
    if when == "posted":
        assert WAITS not in err, err
    return len(events), WAITS in err


def all_device_threads(tmp):
    disks = []
    for i in range(4):
        disks += ["--disk", "path=" + os.path.join(tmp, "d%d.img" % i)]
        with open(disks[-1][5:], "wb") as f:
            f.truncate(1 << 20)
    hello = os.path.join(os.environ["DEJAVM_GUEST_DIR"], "hello.elf")
    p = subprocess.run([BIN, "--kernel", hello, "--console", "pty", "--rng", "src=/dev/urandom",
                        "--serial", "null"] + disks, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 0, "4 disks + pty console: status %d: %s" % (p.returncode, p.stderr)


def main():
    with tempfile.TemporaryDirectory(prefix="dejavm-console-") as tmp:
        all_device_threads(tmp)
        # The guest takes a while to boot, so input written at once is there before its
        # buffers; the VMM says so, and the rare run where the guest was first is tried again.
        for attempt in range(5):
            n, waited = echo(tmp, "early")
            if waited:
                break
        assert waited, "in 5 runs the input never came before the receive buffers"
        print("input written before the guest posted buffers (attempt %d): %d receive chains, "
              "the line intact in guest and trace" % (attempt + 1, n))
        n, _ = echo(tmp, "posted")
        print("input written after the guest posted its buffers: %d receive chains, the line "
              "intact" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
