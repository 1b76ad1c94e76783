#!/usr/bin/python3
"""Deterministic mode and replay benchmark, in one run, side by side:

  replay/record wall-time ratio for the tiny-Linux boot (dejavm replay --feed vs the
      deterministic recording it replays; goal <= 1.0)
  deterministic/normal wall-time ratio for pio-storm and for the tiny-Linux boot (the boot in
      normal mode with its usual command line, and with the deterministic one, so that the
      cost of the mode and of the command line can be told apart)

Runs alternate, medians are printed. Usage:
  determinism.py --build BUILD --linux-dir DIR [--n N] [--reps R]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit("%s failed (%d): %s" % (" ".join(cmd[:3]), p.returncode,
                                         p.stderr.decode()[-500:]))
    return dt


def medians(cmds, reps):
    times = {k: [] for k in cmds}
    for _ in range(reps):  # alternate so machine drift hits all alike
        for k, c in cmds.items():
            times[k].append(run(c))
    return {k: statistics.median(v) for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--linux-dir", required=True)
    ap.add_argument("--n", type=int, default=200000, help="pio-storm round trips")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    dejavm = os.path.join(a.build, "dejavm")
    storm = [dejavm, "--serial", "null", "--kernel",
             os.path.join(a.build, "corpora", "guests", "pio-storm.elf"), "--cmdline",
             "n=%d" % a.n]
    d = a.linux_dir
    linux = [dejavm, "--serial", "null", "--kernel", os.path.join(d, "vmlinux"),
             "--initramfs", os.path.join(d, "initramfs.cpio"), "--cmdline"]
    cmdline = open(os.path.join(d, "cmdline.txt")).read().strip()
    det_cmdline = open(os.path.join(d, "cmdline-deterministic.txt")).read().strip()
    trace = os.path.join(tempfile.mkdtemp(prefix="dejavm-bench-"), "boot.trace")
    run(linux + [det_cmdline, "--deterministic", "--record", trace])  # the trace to replay

    m = medians({"storm-normal": storm, "storm-det": storm + ["--deterministic"]}, a.reps)
    print("pio-storm n=%d: normal %.2f s, deterministic %.2f s (medians of %d): "
          "deterministic/normal %.3f"
          % (a.n, m["storm-normal"], m["storm-det"], a.reps, m["storm-det"] / m["storm-normal"]))

    m = medians({
        "normal": linux + [cmdline],
        "normal-detcl": linux + [det_cmdline],
        "det": linux + [det_cmdline, "--deterministic"],
        "record": linux + [det_cmdline, "--deterministic", "--record", trace + ".new"],
        "replay": [dejavm, "replay", trace],
    }, a.reps)
    print("tiny-Linux boot: normal %.2f s, normal with the deterministic cmdline %.2f s, "
          "deterministic %.2f s (medians of %d)" % (m["normal"], m["normal-detcl"], m["det"],
                                                   a.reps))
    print("  deterministic/normal %.3f (same cmdline: %.3f)"
          % (m["det"] / m["normal"], m["det"] / m["normal-detcl"]))
    print("  record %.2f s, replay --feed %.2f s: replay/record %.3f (goal <= 1.0)"
          % (m["record"], m["replay"], m["replay"] / m["record"]))
    os.unlink(trace)
    os.unlink(trace + ".new")


if __name__ == "__main__":
    main()
