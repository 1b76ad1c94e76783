#!/usr/bin/python3
"""dejavm-lat attached to real dejavm runs: its histograms hold exactly the exits the trace holds.

  - pio-storm n=N started by dejavm-lat (-- ARGS), recorded, while a second, untraced
    pio-storm runs: the test-reg histogram holds exactly N samples (the guest's N reads; its
    writes are coalesced, no exit), every device's PIO histogram holds exactly the PIO exits the
    trace has for that device's ports, exits by reason plus "not re-entered" equal the
    trace's exit counts; the JSON parses and the text report says the same.
  - mmio-storm: the MMIO histogram holds exactly the trace's MMIO exits, all to test-mmio.
  - virtio-blk-io reads=M, normal and deterministic mode: M samples in the virtio request
    histograms (service, total) and M io_uring READV samples; with --no-usdt no virtio
    histograms, still M io_uring samples, and no usdt probe among those used.
  - --pid on a running dejavm: samples, only of that process.
  - not root: exit 77 and a message that says so.
Skips (77) with the tool's message where BPF cannot be used (not root, no BTF, ...).
"""
import functools
import json
import os
import subprocess
import sys
import tempfile
import time

import dejavm_test
from dejavm_test import BIN, TOOL, guest

run = functools.partial(dejavm_test.run, timeout=120)

LAT = os.environ["DEJAVM_LAT_BIN"]
DEVICES = {"test-reg": range(0x510, 0x514), "serial": range(0x3f8, 0x400),
           "debug-port": range(0x80, 0x81), "test-exit": range(0x501, 0x502)}


def lat(args, timeout=120):
    p = run([LAT] + args, timeout=timeout)
    if p.returncode == 77:
        print("SKIP: " + p.stderr.strip())
        sys.exit(77)
    return p


def last_json(p):
    assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    assert lines, p.stdout[-2000:]
    return json.loads(lines[-1])


def check_hist(h):
    """A histogram's buckets add up to its count, lie inside their bounds, and are sorted."""
    assert sum(b[2] for b in h["buckets"]) == h["count"], h
    assert all(b[0] <= b[1] for b in h["buckets"]), h
    assert [b[0] for b in h["buckets"]] == sorted(b[0] for b in h["buckets"]), h
    if h["count"]:
        assert h["buckets"][0][0] <= h["mean"] <= h["buckets"][-1][1], h


def exit_ports(trace):
    """The port of every PIO exit, in order: the last pio event before the next exit (the
    coalesced writes drained at an exit are recorded before that exit's own access)."""
    p = run([TOOL, "dump", trace])
    assert p.returncode == 0, p.stderr
    ports, pending = [], None
    for line in p.stdout.splitlines():
        e = json.loads(line)
        if e["type"] == "exit":
            if pending is not None:
                ports.append(pending)
            pending = -1 if e["reason"] == 2 else None
        elif e["type"] == "pio" and pending is not None:
            pending = e["port"]
    if pending is not None:
        ports.append(pending)
    return ports


def test_pio_storm(tmp, n=3000):
    trace = os.path.join(tmp, "storm.trace")
    # An untraced neighbour doing the same thing: none of its exits may show up.
    other = subprocess.Popen([BIN, "--kernel", guest("pio-storm"), "--cmdline", "n=400000",
                              "--serial", "null"])
    try:
        p = lat(["--json", "--", BIN, "--kernel", guest("pio-storm"), "--cmdline", "n=%d" % n,
                 "--record", trace])
    finally:
        other.kill()
        other.wait()
    assert "pio-storm: n=%d " % n in p.stdout and "mismatches=0" in p.stdout, p.stdout
    j = last_json(p)
    assert "tp_btf/kvm_userspace_exit" in j["probes"] and "tp_btf/sys_enter" in j["probes"], j
    for section in ("exit", "pio", "mmio", "io_uring"):
        for v in j[section].values():
            check_hist(v.get("hist", v))
    # Exactly the guest's N reads of the test register (the writes are coalesced, no exit).
    assert j["pio"]["test-reg"]["hist"]["count"] == n, j["pio"]["test-reg"]
    assert j["pio"]["test-reg"]["ports"] == [0x510], j["pio"]["test-reg"]

    stats = json.loads(run([TOOL, "stats", trace, "--json"]).stdout)
    ports = exit_ports(trace)
    assert len(ports) == stats["exits"]["io"] and -1 not in ports, (len(ports), stats["exits"])
    # Every exit is in the histograms or still waiting to be re-entered (the last one: the
    # guest's test-exit write ends the VM), by reason ...
    nr = j["not_reentered"]
    assert nr == {"io": 1}, nr
    assert set(j["exit"]) == {"io"}, j["exit"].keys()
    assert j["exit"]["io"]["count"] + nr["io"] == stats["exits"]["io"]
    # ... and by device: exactly the trace's PIO exits to that device's ports.
    assert ports[-1] == 0x501
    seen = set()
    for dev, rng in DEVICES.items():
        want = sum(1 for port in ports[:-1] if port in rng)
        got = j["pio"].get(dev, {"hist": {"count": 0}})["hist"]["count"]
        assert got == want, (dev, got, want)
        seen.add(dev)
    assert set(j["pio"]) <= seen, j["pio"].keys()
    assert sum(v["hist"]["count"] for v in j["pio"].values()) == j["exit"]["io"]["count"]

    # The text report: the same numbers, and which probes were used.
    p = lat(["--", BIN, "--kernel", guest("pio-storm"), "--cmdline", "n=%d" % n])
    assert p.returncode == 0, p.stderr
    assert "probes used: tp_btf/kvm_userspace_exit; tp_btf/sys_enter" in p.stdout, p.stdout
    text = p.stdout.split("test-reg (port 0x510)\n", 1)[1]
    assert "     count %d, mean " % n in text.split("\n\n")[0], text[:2000]
    print("pio-storm n=%d: %d PIO exits in the trace, all in the histograms" % (n, len(ports)))


def test_mmio_storm(tmp, n=500):
    trace = os.path.join(tmp, "mmio.trace")
    p = lat(["--json", "--", BIN, "--kernel", guest("mmio-storm"), "--cmdline", "n=%d" % n,
             "--record", trace])
    assert "mismatches=0" in p.stdout, p.stdout
    j = last_json(p)
    stats = json.loads(run([TOOL, "stats", trace, "--json"]).stdout)
    mmio = stats["exits"]["mmio"]
    assert mmio >= n, stats["exits"]
    # Every MMIO exit went to the test device's window (the last exit, test-exit, is PIO).
    assert j["exit"]["mmio"]["count"] == mmio, (j["exit"], stats["exits"])
    assert set(j["mmio"]) == {"test-mmio"} and j["mmio"]["test-mmio"]["count"] == mmio, j["mmio"]
    check_hist(j["mmio"]["test-mmio"])
    print("mmio-storm n=%d: %d MMIO exits in the trace and in the histogram" % (n, mmio))


def test_virtio(tmp, m=40):
    img = os.path.join(tmp, "disk.img")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    base = ["--", BIN, "--kernel", guest("virtio-blk-io"), "--cmdline", "reads=%d" % m,
            "--disk", "path=" + img]
    for mode in ([], ["--deterministic"]):
        p = lat(["--json"] + base + mode)
        assert "virtio-blk-io: %d reads, 0 failed" % m in p.stdout, p.stdout[-1000:]
        j = last_json(p)
        assert "usdt dejavm:req_submit" in j["probes"], j["probes"]
        vq = j["virtio"]["00:01.0 q0"]
        for stage in ("wait", "service", "total", "irq"):
            check_hist(vq[stage])
        assert vq["service"]["count"] == m and vq["total"]["count"] == m, (mode, vq)
        assert vq["wait"]["count"] == m, (mode, vq["wait"])
        assert j["io_uring"]["READV"]["count"] == m, (mode, j["io_uring"])
        assert set(j["io_uring"]) == {"READV"}, j["io_uring"].keys()
        # MMIO by device and register block: notifications exit only in deterministic mode
        # (normal mode: ioeventfd, no exit).
        labels = set(j["mmio"])
        assert "virtio 00:01.0 common" in labels and all(
            l.startswith("virtio 00:01.0 ") for l in labels), labels
        notify = j["mmio"].get("virtio 00:01.0 notify", {"count": 0})["count"]
        assert notify >= m if mode else notify == 0, (mode, labels, notify)
    p = lat(["--json", "--no-usdt"] + base)
    j = last_json(p)
    assert "usdt dejavm" not in j["probes"] and j["virtio"] == {}, j
    assert j["io_uring"]["READV"]["count"] == m, j["io_uring"]
    print("virtio-blk-io reads=%d: %d virtio and %d io_uring samples" % (m, m, m))


def test_pid(tmp):
    vm = subprocess.Popen([BIN, "--kernel", guest("pio-storm"), "--cmdline", "n=100000000",
                           "--serial", "null"])
    try:
        time.sleep(0.3)
        p = lat(["--json", "--duration", "1", "--pid", str(vm.pid)])
        j = last_json(p)
        assert j["pid"] == vm.pid, j
        assert j["pio"]["test-reg"]["hist"]["count"] > 1000, j["pio"]
        assert vm.poll() is None, "dejavm-lat --pid must leave the VM running"
    finally:
        vm.kill()
        vm.wait()
    # An interval report per second, then the final one.
    p = lat(["--json", "--interval", "0.3", "--pid", str(os.getpid()), "--duration", "1"])
    reports = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(reports) >= 3 and all(r["exit"] == {} for r in reports), p.stdout


def test_not_root():
    p = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", LAT, "--pid", "1"])
    assert p.returncode == 77 and "not root" in p.stderr, (p.returncode, p.stderr)


def main():
    pre = lat(["--duration", "0.1", "--pid", str(os.getpid())])  # skips when BPF is not usable
    assert pre.returncode == 0, pre.stderr
    with tempfile.TemporaryDirectory() as tmp:
        test_pio_storm(tmp)
        test_mmio_storm(tmp)
        test_virtio(tmp)
        test_pid(tmp)
    if os.geteuid() == 0:
        test_not_root()
    print("ok")


if __name__ == "__main__":
    main()
