#!/usr/bin/python3
"""Deterministic mode and replay benchmark, in one run, side by side:

  replay/record wall-time ratio for the tiny-Linux boot (dejavm replay --feed vs the
      deterministic recording it replays; goal <= 1.0)
  deterministic/normal wall-time ratio for pio-storm and for the tiny-Linux boot (the boot in
      normal mode with its usual command line, and with the deterministic one, so that the
      cost of the mode and of the command line can be told apart)
  the exit-budget watchdog: for timer spin=1 (3 ticks at 100 Hz, busy-waiting without exits)
      deterministic/normal wall time at --exit-budget 1, 10 and 10000 ms, and the replay of
      the 10000 ms recording against the recording; for the tiny-Linux boot at the default
      budget and at 30 ms, the kicks by outcome and the single-steps per kick (median, max)

Runs alternate, medians are printed. Usage:
  determinism.py --build BUILD --linux-dir DIR [--n N] [--reps R]
"""
import json
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd, stats=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit("%s failed (%d): %s" % (" ".join(cmd[:3]), p.returncode,
                                         p.stderr.decode()[-500:]))
    if stats is not None:  # the command had --stats=json: its last stderr line
        stats.append(json.loads(p.stderr.decode().strip().splitlines()[-1]))
    return dt


def kick_summary(stats):
    k = [s["kicks"] for s in stats]
    return ("%d kicks a run: %d found a fixed point, %d a loop that is not one, %d no loop, "
            "%d ran into an exit, %d not steppable; single-steps per kick: median %d, max %d"
            % (statistics.median(x["total"] for x in k), statistics.median(x["fixed"] for x in k),
               statistics.median(x["cycle"] for x in k), statistics.median(x["none"] for x in k),
               statistics.median(x["exited"] for x in k),
               statistics.median(x["unsafe"] for x in k),
               statistics.median(x["steps_median"] for x in k), max(x["steps_max"] for x in k)))


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

    timer = [dejavm, "--serial", "null", "--kernel",
             os.path.join(a.build, "corpora", "guests", "timer.elf"), "--cmdline",
             "ticks=3 hz=100 spin=1"]
    spin_trace = os.path.join(os.path.dirname(trace), "spin.trace")
    cmds = {"normal": timer}
    for b in ("1", "10", "10000"):
        cmds["det-" + b] = timer + ["--deterministic", "--exit-budget", b]
    m = medians(cmds, a.reps)
    print("timer spin=1 (busy-waits for 3 ticks at 100 Hz): normal %.3f s; deterministic/normal "
          "at --exit-budget 1: %.2f, 10: %.2f, 10000: %.2f (medians of %d)"
          % (m["normal"], m["det-1"] / m["normal"], m["det-10"] / m["normal"],
             m["det-10000"] / m["normal"], a.reps))
    stats = []
    t_rec = run(timer + ["--deterministic", "--exit-budget", "10000", "--record", spin_trace,
                         "--stats=json"], stats)
    t_rep = statistics.median(run([dejavm, "replay", spin_trace]) for _ in range(a.reps))
    print("  recorded at --exit-budget 10000 in %.2f s, replayed in %.3f s: replay/record %.4f; "
          "%s" % (t_rec, t_rep, t_rep / t_rec, kick_summary(stats)))
    os.unlink(spin_trace)

    for budget in (None, "30"):
        stats = []
        cmd = linux + [det_cmdline, "--deterministic", "--stats=json"]
        if budget:
            cmd += ["--exit-budget", budget]
        t = statistics.median(run(cmd, stats) for _ in range(a.reps))
        print("tiny-Linux boot, deterministic, --exit-budget %s: %.2f s (median of %d); %s"
              % (budget or "default", t, a.reps, kick_summary(stats)))


if __name__ == "__main__":
    main()
