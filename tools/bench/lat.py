#!/usr/bin/env python3
"""What dejavm-lat and the USDT probes cost, in one run, on the pio-storm guest.

Each configuration runs pio-storm with two round-trip counts; the time per round trip is
(t2 - t1) / (n2 - n1), so process start-up, BPF loading and VM creation cancel out. Every
repetition measures plain dejavm first and last and the other configurations in between, and
divides each by the mean of its two plain measurements: a ratio per repetition, taken on the
same stretch of a shared, noisy machine. Printed: the median ratio over --reps (and all of
them). Ratios are against the plain dejavm measured in the same run:

  (a) dejavm-lat attached (tracepoints only, --no-usdt) / plain        goal <= 1.10
  (b) the USDT probes compiled in but not attached: build / -Dusdt=disabled build
  (c) the exit USDT probes enabled (bpftrace on exit_received + exit_handled) / plain
  (d) dejavm-lat with its USDT probes too (none fires on pio-storm: a check) / plain

Needs root (BPF). Usage: lat.py [--build build] [--nousdt-build build-nousdt] [--reps 5]
The -Dusdt=disabled build is set up if it does not exist; both builds are brought up to date.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys

import core  # the benchmark next to this one: per_trip()

BPFTRACE_PROG = ("usdt:%s:dejavm:exit_received { @t[tid] = nsecs; } "
                 "usdt:%s:dejavm:exit_handled /@t[tid]/ { @ns = hist(nsecs - @t[tid]); "
                 "delete(@t[tid]); } END { clear(@t); }")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--nousdt-build", default="build-nousdt")
    ap.add_argument("--n1", type=int, default=20000)
    ap.add_argument("--n2", type=int, default=220000)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()

    dejavm = os.path.abspath(os.path.join(a.build, "dejavm"))
    lat = os.path.join(a.build, "bpf", "dejavm-lat")
    storm = os.path.join(a.build, "corpora", "guests", "pio-storm.elf")
    if not os.path.exists(lat):
        sys.exit("no %s: build with the bpf feature (libbpf, clang, bpftool)" % lat)
    if os.geteuid() != 0:
        sys.exit("needs root (BPF)")
    if not os.path.exists(a.nousdt_build):
        subprocess.run(["meson", "setup", a.nousdt_build, "-Dusdt=disabled",
                        "-Dtests=disabled", "-Dbpf=disabled"], check=True,
                       stdout=subprocess.DEVNULL)
    # Always: the two builds must be of the same sources.
    for build in (a.build, a.nousdt_build):
        subprocess.run(["ninja", "-C", build, "dejavm"], check=True, stdout=subprocess.DEVNULL)
    nousdt = os.path.join(a.nousdt_build, "dejavm")
    bpftrace = shutil.which("bpftrace")

    def vm(binary, n):
        return [binary, "--kernel", storm, "--cmdline", "n=%d" % n, "--serial", "tty"]

    configs = {
        "plain": lambda n: vm(dejavm, n),
        "dejavm-lat (tracepoints)": lambda n: [lat, "--no-usdt", "--"] + vm(dejavm, n),
        "dejavm-lat (+ virtio USDT)": lambda n: [lat, "--"] + vm(dejavm, n),
        "usdt compiled out": lambda n: vm(nousdt, n),
    }
    if bpftrace:
        prog = BPFTRACE_PROG % (dejavm, dejavm)
        configs["bpftrace on exit USDT"] = lambda n: [
            bpftrace, "-q", "-e", prog, "-c", " ".join(vm(dejavm, n))]
    def per_trip(cmd):
        return core.per_trip(cmd, a.n1, a.n2, (b"pio-storm: n=", b"mismatches=0"))

    others = [k for k in configs if k != "plain"]
    times = {k: [] for k in configs}
    ratios = {k: [] for k in others}
    for _ in range(a.reps):
        before = per_trip(configs["plain"])
        rep = {k: per_trip(configs[k]) for k in others}
        after = per_trip(configs["plain"])
        times["plain"] += [before, after]
        for k in others:
            times[k].append(rep[k])
            ratios[k].append(rep[k] / ((before + after) / 2))
    med = {k: statistics.median(v) for k, v in ratios.items()}
    print("pio-storm, time per round trip (n=%d..%d, %d repetitions):" % (a.n1, a.n2, a.reps))
    for name, v in times.items():
        print("    %-28s median %6.3f us   (all: %s)" % (
            name, statistics.median(v) * 1e6, " ".join("%.2f" % (x * 1e6) for x in v)))

    def line(label, k, extra=""):
        print("%s = %.3f  (per repetition: %s)%s" % (
            label, med[k], " ".join("%.3f" % r for r in ratios[k]), extra))

    line("(a) dejavm-lat attached, tracepoints only / plain ", "dejavm-lat (tracepoints)",
         "   goal <= 1.10")
    # (b) is the other way round: plain has the probes, the other build has none.
    print("(b) USDT compiled in (NOPs) / compiled out         = %.3f  (per repetition: %s)" % (
        1 / med["usdt compiled out"],
        " ".join("%.3f" % (1 / r) for r in ratios["usdt compiled out"])))
    if bpftrace:
        k = "bpftrace on exit USDT"
        line("(c) exit USDT probes enabled (bpftrace) / plain   ", k,
             "   +%.2f us per round trip (one exit, two probes)" % (
                 (statistics.median(times[k]) - statistics.median(times["plain"])) * 1e6))
    else:
        print("(c) skipped: no bpftrace")
    line("(d) dejavm-lat with its virtio USDT too / plain   ", "dejavm-lat (+ virtio USDT)")


if __name__ == "__main__":
    main()
