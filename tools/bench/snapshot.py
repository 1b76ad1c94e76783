#!/usr/bin/python3
"""Snapshots and checkpoints, measured in one run, against QEMU where it can be run:

  python3 tools/bench/snapshot.py --build build [--linux-dir DIR] [--reps 3] [--no-qemu]

1. Checkpointing cost: the tiny-Linux deterministic boot recorded with --checkpoint-every 1
   (virtual ms) and without, alternately: the ratio of the median wall times (goal <= 1.10), and
   the bytes per checkpoint.
2. Replay from the last checkpoint: the time to its first compared event (--report's
   first_compared_s) against the time a full replay takes to get there (checkpoint_reached_s),
   and both wall times.
3. `replay --jobs 2` wall time / a single replay's (goal <= 0.6 on the 2 cores here).
4. Snapshot and restore of the tiny Linux paused at its init marker, with 64 MiB and 1 GiB of
   RAM: dejavm (vm.snapshot into a directory; --restore until vm.info says Paused) against QEMU
   (stop, then migrate to a file; -incoming from that file until the migration completed).

The Linux comes from --linux-dir (default: what tools/guest-kernel/build.sh --print-dir says).
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests"))
import dejavm_test  # noqa: E402  (Vmm, the API client)


def sh(args, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def timed(args):
    t0 = time.monotonic()
    p = sh(args)
    assert p.returncode == 0, (args, p.stdout[-2000:], p.stderr[-2000:])
    return time.monotonic() - t0, p


def linux_args(lx, deterministic, memory=None):
    cmdline = open(os.path.join(lx, "cmdline-deterministic.txt" if deterministic
                                else "cmdline.txt")).read().strip()
    a = ["--kernel", os.path.join(lx, "vmlinux"), "--initramfs",
         os.path.join(lx, "initramfs.cpio"), "--cmdline", cmdline]
    if memory:
        a += ["--memory", "size=" + memory]
    return a + (["--deterministic"] if deterministic else [])


def checkpoints(dejavm, tool, lx, tmp, reps):
    plain, ck = os.path.join(tmp, "plain.trace"), os.path.join(tmp, "ck.trace")
    t_plain, t_ck = [], []
    for _ in range(reps):  # alternately, so that the host's mood hits both alike
        t_plain.append(timed([dejavm, "--serial", "null", "--record", plain] +
                             linux_args(lx, True))[0])
        t_ck.append(timed([dejavm, "--serial", "null", "--record", ck, "--checkpoint-every",
                           "1"] + linux_args(lx, True))[0])
    info = json.loads(sh([tool, "info", "--json", ck]).stdout)
    sizes = [c["bytes"] for c in info["checkpoints"]]
    r = statistics.median(t_ck) / statistics.median(t_plain)
    print("checkpoints: record %.2f s with --checkpoint-every 1, %.2f s without: ratio %.3f "
          "(goal <= 1.10)" % (statistics.median(t_ck), statistics.median(t_plain), r))
    print("checkpoints: %d over %.1f virtual ms, %.1f KiB each on average (min %.1f, max %.1f), "
          "%.1f KiB in all; the trace without them: %.1f KiB" % (
              len(sizes), info["duration_ns"] / 1e6, statistics.mean(sizes) / 1024,
              min(sizes) / 1024, max(sizes) / 1024, sum(sizes) / 1024,
              os.path.getsize(plain) / 1024))
    return ck, info


def replays(dejavm, ck, info, tmp, reps):
    last = info["checkpoints"][-1]["seq"]
    full, frm, jobs = [], [], []
    for _ in range(reps):
        rep = os.path.join(tmp, "r.json")
        w, _ = timed([dejavm, "replay", ck, "--report", rep])
        full.append((w, json.load(open(rep))["checkpoint_reached_s"][-1]))
        w, _ = timed([dejavm, "replay", ck, "--from", str(last), "--report", rep])
        frm.append((w, json.load(open(rep))["first_compared_s"]))
        jobs.append(timed([dejavm, "replay", ck, "--jobs", "2"])[0])
    fw, ff = (statistics.median(x) for x in zip(*full))
    mw, mf = (statistics.median(x) for x in zip(*frm))
    print("replay: the last checkpoint (seq %d) reached after %.3f s from the boot, the first "
          "event compared %.3f s after the start with --from it: ratio %.4f; wall %.2f s full, "
          "%.2f s --from" % (last, ff, mf, mf / ff, fw, mw))
    print("replay: --jobs 2 %.2f s, single %.2f s: ratio %.3f (goal <= 0.6)" % (
        statistics.median(jobs), fw, statistics.median(jobs) / fw))


class Qmp:
    def __init__(self, path):
        for _ in range(300):
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.05)
        self.f = self.s.makefile("rw")
        self.f.readline()  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "return" in r or "error" in r:
                return r

    def migrated(self):
        while True:
            st = self.cmd("query-migrate")["return"].get("status")
            if st == "completed":
                return
            assert st in (None, "setup", "active", "device"), st
            time.sleep(0.005)


def wait_marker(serial, proc):
    for _ in range(6000):
        if os.path.exists(serial) and b"init reached" in open(serial, "rb").read():
            return
        assert proc.poll() is None, "the VM ended before its init marker"
        time.sleep(0.01)
    raise AssertionError("no init marker")


def dejavm_snapshot(dejavm, lx, memory, tmp):
    snap, serial = os.path.join(tmp, "snap-" + memory), os.path.join(tmp, "d.serial")
    with dejavm_test.Vmm(tmp, "bench-" + memory, "--serial", "file=" + serial,
                         *linux_args(lx, False, memory)) as v:
        wait_marker(serial, v.proc)
        assert v.request("PUT", "vm.pause")[0] == 204
        t0 = time.monotonic()
        st, body = v.request("PUT", "vm.snapshot", {"destination_url": "file://" + snap})
        t_snap = time.monotonic() - t0
        assert st == 204, body
    size = sum(os.path.getsize(os.path.join(snap, f)) for f in os.listdir(snap))
    t0 = time.monotonic()
    with dejavm_test.Vmm(tmp, "bench-r-" + memory, "--restore",
                         "source_url=file://" + snap) as v:
        v.wait_state("Paused")
        t_restore = time.monotonic() - t0
    return t_snap, t_restore, size


def qemu_snapshot(lx, memory, tmp):
    qemu = shutil.which("qemu-system-x86_64")
    cmdline = open(os.path.join(lx, "cmdline.txt")).read().strip()
    base = [qemu, "-M", "microvm,acpi=off", "-accel", "kvm", "-cpu", "qemu64", "-m", memory,
            "-kernel", os.path.join(lx, "vmlinux"), "-initrd",
            os.path.join(lx, "initramfs.cpio"), "-append", cmdline, "-nodefaults",
            "-no-user-config", "-display", "none", "-no-reboot"]
    img, serial = os.path.join(tmp, "qemu-" + memory + ".mig"), os.path.join(tmp, "q.serial")
    sock = os.path.join(tmp, "qmp.sock")
    p = subprocess.Popen(base + ["-serial", "file:" + serial, "-qmp",
                                 "unix:%s,server=on,wait=off" % sock],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        q = Qmp(sock)
        wait_marker(serial, p)
        q.cmd("stop")
        t0 = time.monotonic()
        r = q.cmd("migrate", uri="exec:cat > " + img)
        assert "return" in r, r
        q.migrated()
        t_snap = time.monotonic() - t0
    finally:
        p.kill()
        p.wait()
    os.remove(sock)
    t0 = time.monotonic()
    p = subprocess.Popen(base + ["-serial", "null", "-S", "-incoming", "exec:cat " + img, "-qmp",
                                 "unix:%s,server=on,wait=off" % sock],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        Qmp(sock).migrated()
        t_restore = time.monotonic() - t0
    finally:
        p.kill()
        p.wait()
    return t_snap, t_restore, os.path.getsize(img)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--linux-dir")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-qemu", action="store_true")
    a = ap.parse_args()
    dejavm = os.path.abspath(os.path.join(a.build, "dejavm"))
    tool = os.path.abspath(os.path.join(a.build, "tools", "trace", "dejavm-trace"))
    dejavm_test.BIN = dejavm
    lx = a.linux_dir or sh(["tools/guest-kernel/build.sh", "--print-dir"]).stdout.split()[-1]
    with tempfile.TemporaryDirectory(prefix="dejavm-bench-snap-") as tmp:
        ck, info = checkpoints(dejavm, tool, lx, tmp, a.reps)
        replays(dejavm, ck, info, tmp, a.reps)
        for memory in ("64M", "1G"):
            d = [dejavm_snapshot(dejavm, lx, memory, tmp) for _ in range(a.reps)]
            ds, dr, dsize = (statistics.median(x) for x in zip(*d))
            line = "snapshot %s: dejavm %.3f s (%.1f MiB), restore %.3f s" % (
                memory, ds, dsize / 2**20, dr)
            if not a.no_qemu and shutil.which("qemu-system-x86_64"):
                q = [qemu_snapshot(lx, memory, tmp) for _ in range(a.reps)]
                qs, qr, qsize = (statistics.median(x) for x in zip(*q))
                line += "; QEMU migrate to file %.3f s (%.1f MiB), -incoming %.3f s; " \
                        "ratios dejavm/QEMU %.2f, %.2f" % (qs, qsize / 2**20, qr, ds / qs, dr / qr)
            print(line)


if __name__ == "__main__":
    main()
