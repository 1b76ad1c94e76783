#!/usr/bin/env python3
"""What dejavm-lat and the USDT probes cost, in one run, on the pio-storm guest.

Each configuration runs pio-storm with two round-trip counts; the time per round trip is
(t2 - t1) / (n2 - n1), so process start-up, BPF loading and VM creation cancel out. The
configurations alternate within every repetition, so drift on the (shared) machine hits all
alike; best of --reps. Ratios are against the plain dejavm measured in the same run:

  (a) dejavm-lat attached (tracepoints only, --no-usdt) / plain        goal <= 1.10
  (b) the USDT probes compiled in but not attached: build / -Dusdt=disabled build
  (c) the exit USDT probes enabled (bpftrace on exit_received + exit_handled) / plain
  (d) dejavm-lat with its USDT probes too (none fires on pio-storm: a check) / plain

Needs root (BPF). Usage: lat.py [--build build] [--nousdt-build build-nousdt] [--reps 5]
The -Dusdt=disabled build is set up (dejavm only) if it does not exist.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

BPFTRACE_PROG = ("usdt:%s:dejavm:exit_received { @t[tid] = nsecs; } "
                 "usdt:%s:dejavm:exit_handled /@t[tid]/ { @ns = hist(nsecs - @t[tid]); "
                 "delete(@t[tid]); } END { clear(@t); }")


def timed(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if b"pio-storm: n=" not in p.stdout or b"mismatches=0" not in p.stdout:
        sys.exit("pio-storm did not finish under %s: %r %r" % (cmd[0], p.stdout[-300:],
                                                              p.stderr[-300:]))
    return dt


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
    if not os.path.exists(os.path.join(a.nousdt_build, "dejavm")):
        if not os.path.exists(a.nousdt_build):
            subprocess.run(["meson", "setup", a.nousdt_build, "-Dusdt=disabled",
                            "-Dtests=disabled", "-Dbpf=disabled"], check=True,
                           stdout=subprocess.DEVNULL)
        subprocess.run(["ninja", "-C", a.nousdt_build, "dejavm"], check=True,
                       stdout=subprocess.DEVNULL)
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
    per_trip = {k: [] for k in configs}
    for _ in range(a.reps):
        for name, cmd in configs.items():
            t1 = timed(cmd(a.n1))
            t2 = timed(cmd(a.n2))
            per_trip[name].append((t2 - t1) / (a.n2 - a.n1))
    best = {k: min(v) for k, v in per_trip.items()}
    print("pio-storm, time per round trip (n=%d..%d, best of %d; all configurations "
          "interleaved):" % (a.n1, a.n2, a.reps))
    for name, v in best.items():
        print("    %-28s %6.3f us   (all: %s)" % (name, v * 1e6,
                                                 " ".join("%.3f" % (x * 1e6) for x in per_trip[name])))
    base = best["plain"]
    print("(a) dejavm-lat attached, tracepoints only / plain   = %.3f   (goal <= 1.10)"
          % (best["dejavm-lat (tracepoints)"] / base))
    print("(b) USDT probes compiled in, not attached / compiled out = %.3f"
          % (base / best["usdt compiled out"]))
    if bpftrace:
        print("(c) exit USDT probes enabled (bpftrace) / plain    = %.3f   (+%.2f us per round trip, one exit)"
              % (best["bpftrace on exit USDT"] / base,
                 (best["bpftrace on exit USDT"] - base) * 1e6))
    else:
        print("(c) skipped: no bpftrace")
    print("(d) dejavm-lat with its virtio USDT probes / plain  = %.3f"
          % (best["dejavm-lat (+ virtio USDT)"] / base))


if __name__ == "__main__":
    main()
