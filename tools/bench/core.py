#!/usr/bin/env python3
"""Core VMM benchmark: dejavm against QEMU (microvm, KVM) in one run, on the same guests.

(a) PIO round trips per second with the pio-storm guest. Each VMM runs the guest with two
    round-trip counts; the rate is (n2 - n1) / (t2 - t1), so process start-up and VM creation
    cancel out. (b) Tiny-Linux boot time from process start to the init marker on the serial
    console, same vmlinux, initramfs, command line and RAM.

Prints the numbers and the ratios (goals: (a) >= 1.2x QEMU, (b) <= 0.9x QEMU's time).
Usage: core.py --dejavm BUILD/dejavm --guest-dir BUILD/corpora/guests [--linux-dir DIR]
"""
import argparse
import os
import select
import statistics
import subprocess
import sys
import time

MARKER = b"dejavm-guest: init reached"


def qemu_base(mem="64M"):
    # microvm without ACPI and with a PVH ELF is QEMU's fastest path; -cpu host is refused on
    # this PVM host, and the Intel vendor keeps Linux off the AMD FXSAVE-leak path (FNCLEX).
    return ["qemu-system-x86_64", "-accel", "kvm", "-M", "microvm,acpi=off",
            "-cpu", "qemu64,vendor=GenuineIntel", "-m", mem, "-nodefaults", "-no-user-config",
            "-nographic", "-serial", "stdio", "-no-reboot",
            "-device", "isa-debug-exit,iobase=0x501,iosize=1"]


def timed(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return time.perf_counter() - t0, p


def per_trip(cmd_for_n, n1, n2, done=(b"pio-storm: n=",)):
    """Seconds per pio-storm round trip from the difference of runs with n1 and n2 of them, so
    process start-up and VM creation cancel out. Every marker in done must be in the output
    (QEMU has no test register, so only dejavm's runs can also ask for b"mismatches=0")."""
    times = []
    for n in (n1, n2):
        t, p = timed(cmd_for_n(n))
        if not all(m in p.stdout for m in done):
            sys.exit("pio-storm did not finish under %s: %r %r" % (cmd_for_n(n)[0],
                                                                  p.stdout[-300:],
                                                                  p.stderr[-300:]))
        times.append(t)
    return (times[1] - times[0]) / (n2 - n1)


def pio_rate(cmd_for_n, n1, n2, reps):
    """Round trips per second, best of reps."""
    return max(1 / per_trip(cmd_for_n, n1, n2) for _ in range(reps))


def boot_to_marker(cmd, limit=600):
    """Seconds from start until MARKER appears on stdout; the VM is then killed."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    buf = b""
    try:
        while time.perf_counter() - t0 < limit:
            r, _, _ = select.select([p.stdout], [], [], 1.0)
            if not r:
                continue
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            if MARKER in buf:
                return time.perf_counter() - t0
    finally:
        p.kill()
        p.wait()
    sys.exit("no boot marker from %s; output tail: %r" % (cmd[0], buf[-500:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dejavm", required=True)
    ap.add_argument("--guest-dir", required=True)
    ap.add_argument("--linux-dir")
    ap.add_argument("--n1", type=int, default=20000)
    ap.add_argument("--n2", type=int, default=120000)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()

    storm = os.path.join(a.guest_dir, "pio-storm.elf")
    dj = lambda n: [a.dejavm, "--kernel", storm, "--cmdline", "n=%d" % n, "--serial", "tty"]
    qm = lambda n: qemu_base() + ["-kernel", storm, "-append", "n=%d" % n]
    r_dj = pio_rate(dj, a.n1, a.n2, a.reps)
    r_qm = pio_rate(qm, a.n1, a.n2, a.reps)
    print("(a) PIO round trips/s (pio-storm, n=%d..%d, best of %d):" % (a.n1, a.n2, a.reps))
    print("    dejavm %10.0f/s  (%.2f us per round trip)" % (r_dj, 1e6 / r_dj))
    print("    qemu   %10.0f/s  (%.2f us per round trip)" % (r_qm, 1e6 / r_qm))
    print("    ratio dejavm/qemu = %.2fx   (goal >= 1.20x)" % (r_dj / r_qm))

    if not a.linux_dir:
        print("(b) skipped: no --linux-dir")
        return
    k = os.path.join(a.linux_dir, "vmlinux")
    i = os.path.join(a.linux_dir, "initramfs.cpio")
    cmdline = open(os.path.join(a.linux_dir, "cmdline.txt")).read().strip()
    t_dj, t_qm = [], []
    for _ in range(a.reps):  # alternate, so drift on the machine hits both alike
        t_dj.append(boot_to_marker([a.dejavm, "--kernel", k, "--initramfs", i,
                                    "--cmdline", cmdline, "--memory", "size=64M"]))
        t_qm.append(boot_to_marker(qemu_base() + ["-kernel", k, "-initrd", i,
                                                  "-append", cmdline]))
    m_dj, m_qm = statistics.median(t_dj), statistics.median(t_qm)
    print("(b) tiny-Linux boot to init marker (median of %d):" % a.reps)
    print("    dejavm %6.2f s  %s" % (m_dj, " ".join("%.2f" % t for t in t_dj)))
    print("    qemu   %6.2f s  %s" % (m_qm, " ".join("%.2f" % t for t in t_qm)))
    print("    ratio dejavm/qemu = %.2f   (goal <= 0.90)" % (m_dj / m_qm))


if __name__ == "__main__":
    main()
