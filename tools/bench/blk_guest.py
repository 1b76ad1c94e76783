#!/usr/bin/env python3
"""Guest-visible virtio-blk IOPS: dejavm against QEMU (pc, virtio-blk-pci) on the same guest.

The tiny Linux's init, given `dejavm.blkbench=N` on its command line, makes N random 4 KiB
O_DIRECT reads of /dev/vda one after the other (queue depth 1, the only depth a libc-less init
can drive) and prints "blkbench: N reads of 4096 B in T ns" from its own monotonic clock.
Both VMMs get the same vmlinux, initramfs, command line, RAM and a 64 MiB raw image opened
with O_DIRECT on the host (dejavm direct=on, QEMU cache=none,aio=io_uring), both use MSI-X.
Runs alternate, so drift on the machine hits both alike. Prints IOPS and the ratio.
Usage: blk_guest.py --dejavm BUILD/dejavm --linux-dir DIR [--reads N] [--reps R]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

RESULT = re.compile(rb"blkbench: (\d+) reads of 4096 B in (\d+) ns")


def iops(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900)
    m = RESULT.search(p.stdout)
    if not m:
        sys.exit("no blkbench result from %s: %r %r" % (cmd[0], p.stdout[-600:], p.stderr[-300:]))
    return int(m.group(1)) * 1e9 / int(m.group(2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dejavm", required=True)
    ap.add_argument("--linux-dir", required=True)
    ap.add_argument("--reads", type=int, default=400)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()

    k = os.path.join(a.linux_dir, "vmlinux")
    i = os.path.join(a.linux_dir, "initramfs.cpio")
    cmdline = open(os.path.join(a.linux_dir, "cmdline.txt")).read().strip()
    cmdline += " dejavm.blkbench=%d" % a.reads
    with tempfile.TemporaryDirectory(prefix="dejavm-blk-guest-") as tmp:
        img = os.path.join(tmp, "disk.img")
        with open(img, "wb") as f:
            f.write(os.urandom(64 << 20))
        dj = [a.dejavm, "--kernel", k, "--initramfs", i, "--cmdline", cmdline,
              "--memory", "size=64M", "--disk", "path=%s,direct=on" % img]
        qm = ["qemu-system-x86_64", "-accel", "kvm", "-M", "pc",
              "-cpu", "qemu64,vendor=GenuineIntel", "-m", "64M", "-nodefaults",
              "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
              "-kernel", k, "-initrd", i, "-append", cmdline,
              "-drive", "file=%s,format=raw,if=none,id=d0,cache=none,aio=io_uring" % img,
              "-device", "virtio-blk-pci,drive=d0"]
        r_dj, r_qm = [], []
        for _ in range(a.reps):
            r_dj.append(iops(dj))
            r_qm.append(iops(qm))
    m_dj, m_qm = statistics.median(r_dj), statistics.median(r_qm)
    print("guest-visible 4 KiB random reads, QD1, %d per run (median of %d):" % (a.reads, a.reps))
    print("    dejavm %8.1f IOPS  %s" % (m_dj, " ".join("%.1f" % r for r in r_dj)))
    print("    qemu   %8.1f IOPS  %s" % (m_qm, " ".join("%.1f" % r for r in r_qm)))
    print("    ratio dejavm/qemu = %.2fx" % (m_dj / m_qm))


if __name__ == "__main__":
    main()
