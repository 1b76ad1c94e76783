#!/usr/bin/python3
"""Recorder benchmark, in one run, side by side:

  record/normal wall-time ratio for pio-storm (1M round trips) and the tiny-Linux boot
  trace bytes per event for pio-storm
  encode + compress throughput on one core (trace_encode under taskset -c 0)

Goals (issue 3): ratios <= 1.05, <= 2 bytes/event, >= 10 M events/s.
Usage: record.py --build BUILD [--linux-dir DIR] [--n N] [--reps R]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import msgpack  # Debian's python3-msgpack


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit("%s failed (%d): %s" % (cmd[0], p.returncode, p.stderr.decode()[-500:]))
    return dt


def trace_events(path):
    """Event count from the trace's end event (read with zstd + msgpack only)."""
    raw = subprocess.run(["zstd", "-dcq", path], stdout=subprocess.PIPE, check=True).stdout
    last = None
    u = msgpack.Unpacker(raw=False, max_buffer_size=len(raw) + 1)
    u.feed(raw)
    n = 0
    for obj in u:
        if isinstance(obj, list) and obj[0] != 0:  # type 0: a sync record, not an event
            n += 1
            last = obj
    if not last or last[0] != 7:
        sys.exit("%s: no end event" % path)
    return n


def compare(name, cmd, trace, reps):
    normal, record = [], []
    for _ in range(reps):  # alternate so machine drift hits both alike
        normal.append(run(cmd))
        record.append(run(cmd + ["--record", trace]))
    n, r = statistics.median(normal), statistics.median(record)
    print("%s: normal %.2f s, record %.2f s (medians of %d), ratio %.3f (goal <= 1.05)"
          % (name, n, r, reps, r / n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--linux-dir")
    ap.add_argument("--n", type=int, default=1000000)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    dejavm = os.path.join(a.build, "dejavm")
    storm = os.path.join(a.build, "corpora", "guests", "pio-storm.elf")
    tmp = tempfile.mkdtemp(prefix="dejavm-bench-")
    trace = os.path.join(tmp, "bench.trace")

    compare("pio-storm n=%d" % a.n, [dejavm, "--kernel", storm, "--cmdline", "n=%d" % a.n,
                                     "--serial", "null"], trace, a.reps)
    events = trace_events(trace)
    size = os.path.getsize(trace)
    print("pio-storm trace: %d events, %d bytes, %.2f bytes/event (goal <= 2)"
          % (events, size, size / events))

    if a.linux_dir:
        cmdline = open(os.path.join(a.linux_dir, "cmdline.txt")).read().strip()
        compare("tiny-Linux boot", [dejavm, "--kernel", os.path.join(a.linux_dir, "vmlinux"),
                                    "--initramfs", os.path.join(a.linux_dir, "initramfs.cpio"),
                                    "--cmdline", cmdline, "--serial", "null"], trace, a.reps)
        events = trace_events(trace)
        print("tiny-Linux trace: %d events, %d bytes, %.2f bytes/event"
              % (events, os.path.getsize(trace), os.path.getsize(trace) / events))

    out = subprocess.run(["taskset", "-c", "0", os.path.join(a.build, "tools", "bench",
                                                              "trace_encode"), "10000000",
                          os.path.join(tmp, "encode.trace")],
                         stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    print("encode+compress on one core: %s (goal >= 10 M events/s)" % out)
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
