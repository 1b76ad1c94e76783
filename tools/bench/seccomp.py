#!/usr/bin/python3
"""What the system-call filters cost, in one run, side by side (--seccomp true against false):

  pio-storm round trips per second (every round trip is a KVM_RUN ioctl through the vCPU's
      filter), and the tiny-Linux boot's wall time (normal mode, virtio devices on their own
      threads). Goal: within 2% (true/false wall-time ratio <= 1.02).

Runs alternate, medians are printed. Usage:
  seccomp.py --build BUILD --linux-dir DIR [--n N] [--reps R]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit("%s failed (%d): %s" % (" ".join(cmd[:3]), p.returncode,
                                         p.stderr.decode()[-500:]))
    return dt


def compare(name, cmd, reps, what):
    times = {"true": [], "false": []}
    for _ in range(reps):  # alternate so machine drift hits both alike
        for mode in times:
            times[mode].append(run(cmd + ["--seccomp", mode]))
    on, off = (statistics.median(times[m]) for m in ("true", "false"))
    print("%s: --seccomp true %.3f s, false %.3f s (medians of %d)%s: true/false %.3f "
          "(goal <= 1.02)" % (name, on, off, reps, what(on, off), on / off))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--linux-dir", required=True)
    ap.add_argument("--n", type=int, default=300000, help="pio-storm round trips")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    dejavm = os.path.join(a.build, "dejavm")
    storm = [dejavm, "--serial", "null", "--kernel",
             os.path.join(a.build, "corpora", "guests", "pio-storm.elf"), "--cmdline",
             "n=%d" % a.n]
    compare("pio-storm n=%d" % a.n, storm, a.reps,
            lambda on, off: "; round trips/s %.0f vs %.0f" % (a.n / on, a.n / off))
    d = a.linux_dir
    linux = [dejavm, "--serial", "null", "--kernel", os.path.join(d, "vmlinux"),
             "--initramfs", os.path.join(d, "initramfs.cpio"), "--cmdline",
             open(os.path.join(d, "cmdline.txt")).read().strip()]
    compare("tiny-Linux boot", linux, a.reps, lambda on, off: "")


if __name__ == "__main__":
    main()
