#!/usr/bin/python3
"""Deterministic recordings do not depend on the host: a loaded, slow host and an exit budget
of 1 ms (the watchdog kicks the vCPU whenever it ran 1 ms without an exit) give the same trace,
byte for byte, as an idle host with the default budget.

For every test guest (hello, timer, timer spin=1, pio-storm, mmio-storm, virtio-blk-io,
virtio-bad, virtio-bus-master, pci-intx, virtio-pci-cfg, virtio-wide-access, virtio-repeat,
legacy-width, rtc-set): one recording with the default --exit-budget, then three with
--exit-budget 1 while a busy process runs on every core; all four must be identical and say
they are reproducible. A VMM the host stops (SIGSTOP) for longer than --spin-limit while its
guest computes gets no host-chosen landmark either. (The tiny-Linux boots get the same test in replay_test.py --linux and
virtio_linux.py, with a 30 ms budget.)

Environment (meson sets it): DEJAVM_BIN, DEJAVM_TRACE_BIN, DEJAVM_GUEST_DIR.
"""
import hashlib
import json
import os
import signal
import subprocess
import time
import unittest

from dejavm_test import BIN, CpuHog, guest, info, run, run_tests, scratch_dir

TMP = scratch_dir("dejavm-determinism-test-")
DISK = os.path.join(TMP, "disk.img")
ENTROPY = os.path.join(TMP, "entropy")

CASES = [
    ("hello", "hello", "", []),
    ("timer", "timer", "ticks=20 hz=100", []),
    ("timer-spin", "timer", "ticks=3 hz=100 spin=1", []),
    ("pio-storm", "pio-storm", "n=3000", []),
    ("mmio-storm", "mmio-storm", "n=500", []),
    ("virtio-blk-io", "virtio-blk-io", "", ["--disk", "path=%s,serial=test-serial-123" % DISK]),
    ("virtio-bad", "virtio-bad", "", ["--rng", "src=" + ENTROPY, "--memory", "size=64M"]),
    # machine version 2's PCI rules: BME, INTx, the PCI_CFG window, 8-byte accesses
    ("virtio-bus-master", "virtio-bus-master", "", ["--rng", "src=" + ENTROPY]),
    ("pci-intx", "pci-intx", "", ["--rng", "src=" + ENTROPY]),
    ("virtio-pci-cfg", "virtio-pci-cfg", "", ["--rng", "src=" + ENTROPY]),
    ("virtio-wide-access", "virtio-wide-access", "", ["--rng", "src=" + ENTROPY]),
    ("virtio-repeat", "virtio-repeat", "", ["--disk", "path=%s" % DISK, "--rng",
                                            "src=" + ENTROPY, "--console", "null", "--memory",
                                            "size=128M"]),
    ("legacy-width", "legacy-width", "pic=1", []),
    ("rtc-set", "rtc-set", "", []),
]


def record(name, guest_name, cmdline, extra, budget, n=0):
    # the disk the guest writes to starts as the same bytes, at the same path (in the header)
    open(DISK, "wb").write(b"\xab" * (1 << 20))
    path = os.path.join(TMP, "%s-%s-%d.trace" % (name, budget or "default", n))
    args = [BIN, "--deterministic", "--serial", "null", "--record", path, "--stats=json",
            "--kernel", guest(guest_name), "--cmdline", cmdline] + extra
    if budget:
        args += ["--exit-budget", budget]
    p = run(args, 300)
    assert p.returncode == 0, "%s: exit %d: %s" % (name, p.returncode, p.stderr)
    return open(path, "rb").read(), json.loads(p.stderr.strip().splitlines()[-1]), path


class Determinism(unittest.TestCase):
    def test_recordings_do_not_depend_on_host_load_or_the_exit_budget(self):
        open(ENTROPY, "wb").write(b"".join(hashlib.sha256(b"%d" % i).digest()
                                           for i in range(4096)))
        refs = {c[0]: record(*c, None) for c in CASES}
        kicks = {}
        with CpuHog():
            for name, g, cmdline, extra in CASES:
                for i in range(3):
                    data, st, path = record(name, g, cmdline, extra, "1", i + 1)
                    self.assertEqual(data, refs[name][0],
                                     "%s: recording %d with --exit-budget 1 under load differs "
                                     "from the default one (dejavm-trace diff %s %s)"
                                     % (name, i + 1, refs[name][2], path))
                    kicks[name] = kicks.get(name, 0) + st["kicks"]["total"]
                    self.assertEqual(st["nondeterministic"], 0, name)
        for name, _, _, _ in CASES:
            self.assertTrue(info(refs[name][2])["reproducible"], name)
        # the spinning guest really was kicked: at every tick, in every recording
        self.assertGreaterEqual(kicks["timer-spin"], 9, kicks)
        print("kicks with --exit-budget 1, three recordings each: %s" % kicks)

    def test_a_vmm_the_host_stops_gets_no_host_chosen_landmark(self):
        """--spin-limit counts the vCPU's own running time, not the host's clock: a guest that
        computes for a while without an exit (about 0.5 s of CPU time on this 2-core host while
        another test suite ran: this host's CPU time stretches under load too, 3x was seen, so
        the limit of 3 s is well above it), recorded while the host stops the VMM for longer than the limit (SIGSTOP, as
        a loaded host that does not run it would), gives the same trace as an undisturbed
        recording, with no host-chosen landmark."""
        args = ["--deterministic", "--kernel", guest("hello"), "--cmdline", "compute=100000",
                "--spin-limit", "3000", "--exit-budget", "20"]
        serial = os.path.join(TMP, "compute.out")  # (the same path: the headers hold it)
        args += ["--serial", "file=" + serial]
        ref = os.path.join(TMP, "compute-ref.trace")
        p = run([BIN, "--record", ref] + args)
        self.assertEqual(p.returncode, 0, p.stderr)
        stopped = os.path.join(TMP, "compute-stopped.trace")
        open(serial, "w").close()
        vmm = subprocess.Popen([BIN, "--record", stopped] + args,
                               stderr=subprocess.PIPE, text=True)
        for _ in range(3000):
            if b"computing" in open(serial, "rb").read() or vmm.poll() is not None:
                break
            time.sleep(0.01)
        os.kill(vmm.pid, signal.SIGSTOP)
        time.sleep(4)
        os.kill(vmm.pid, signal.SIGCONT)
        err = vmm.communicate(timeout=300)[1]
        self.assertEqual(vmm.returncode, 0, err)
        self.assertIn(b"hello: computed 100000", open(serial, "rb").read())
        self.assertNotIn("host-chosen", err)
        self.assertTrue(info(ref)["reproducible"], "the undisturbed recording: %s" % ref)
        self.assertTrue(info(stopped)["reproducible"], err)
        self.assertEqual(open(stopped, "rb").read(), open(ref, "rb").read(),
                         "dejavm-trace diff %s %s" % (ref, stopped))


if __name__ == "__main__":
    run_tests([Determinism], ["DEJAVM_BIN", "DEJAVM_TRACE_BIN", "DEJAVM_GUEST_DIR"])
