#!/usr/bin/python3
"""A guest cannot make the VMM's memory grow: virtio-flood floods notifications, posts the
largest chains each queue allows, and resets its devices over and over (a virtio-blk, a
virtio-rng and a virtio-console), each for a few seconds, in normal mode and in deterministic
mode while recording. The VMM's resident set is sampled meanwhile (/proc/PID/status, every
10 ms) and must stay under a fixed bound, guest RAM plus a VMM budget, at its peak (VmHWM);
and, once the run is under way, it must not grow: a leak per request or per reset would (the
test says how small a leak it would see).

Environment (meson sets it): DEJAVM_BIN, DEJAVM_GUEST_DIR, DEJAVM_SANITIZED (meson's
b_sanitize: a sanitized build gets a larger budget).
"""
import os
import statistics
import subprocess
import time
import unittest

from dejavm_test import BIN, guest, run_tests, scratch_dir

TMP = scratch_dir("dejavm-bounds-test-")
MiB = 1 << 20
GUEST_RAM = 16 * MiB  # virtio-flood uses its first 9 MiB
# The VMM's own memory: code, libraries and heap (~7 MiB resident), the disk's 4 MiB bounce
# buffer, and while recording the tracer's: at most 16 MiB queued for its writer, the buffer
# being written and each stream's (1 MiB, or 5 with a 4 MiB disk read in it), the compressed
# frame as large, and zstd's context: ~44 MiB in all.
VMM_BUDGET = 48 * MiB
# AddressSanitizer's build holds more for the same work: shadow memory (an eighth of what is
# allocated), redzones around each allocation, and freed blocks in quarantine (a 4 MiB read's
# buffers among them): twice the budget there. The growth checks below are the same.
if os.environ.get("DEJAVM_SANITIZED", "none") != "none":
    VMM_BUDGET *= 2
BOUND = GUEST_RAM + VMM_BUDGET
GROWTH = 2 * MiB  # from the run under way to its second half
# While recording, a writer that falls behind (a loaded host) holds up to 16 MiB more in flight
# later in the run than earlier, without a leak: only larger leaks show there.
TRACE_QUEUE = 16 * MiB
# mode, rounds (a few seconds each here), and per round: requests, device resets
MODES = [("notify", 4000, 3, 0), ("chains", 150, 130, 0), ("reset", 1500, 3, 3)]


def status_kib(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                fields[k] = int(v.split()[0]) * 1024
    return fields


def flood(mode, rounds, det):
    disk = os.path.join(TMP, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(8 * MiB)
    args = [BIN, "--kernel", guest("virtio-flood"), "--cmdline", "mode=%s n=%d" % (mode, rounds),
            "--memory", "size=%dM" % (GUEST_RAM // MiB), "--disk", "path=" + disk, "--rng",
            "src=/dev/urandom", "--console", "null", "--serial", "file=" + disk + ".serial"]
    if det:
        args += ["--deterministic", "--record", os.path.join(TMP, "flood.trace")]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0, samples, hwm = time.monotonic(), [], 0
    while p.poll() is None:
        try:
            s = status_kib(p.pid)
        except (OSError, ValueError):
            break  # it is exiting
        if "VmRSS" in s:
            samples.append((time.monotonic() - t0, s["VmRSS"]))
            hwm = max(hwm, s.get("VmHWM", 0))
        time.sleep(0.01)
    err = p.communicate(timeout=600)[1]
    out = open(disk + ".serial").read()
    return p.returncode, out, err, samples, hwm


class Bounds(unittest.TestCase):
    def check(self, mode, rounds, per_round, resets_per_round, det):
        name = "%s, %s" % (mode, "deterministic, recording" if det else "normal mode")
        status, out, err, samples, hwm = flood(mode, rounds, det)
        self.assertEqual(status, 0, "%s: %s%s" % (name, out, err))
        self.assertIn("virtio-flood: mode=%s: %d rounds on 3 devices" % (mode, rounds), out)
        self.assertGreater(len(samples), 20, "%s: too short a run to watch" % name)
        # The resident set once the run is under way (the median over its second eighth:
        # start-up and the guest's first touch of its buffers are over) and in its second half
        # (the median: a recording's buffers in flight come and go, and the last samples, as
        # the VMM frees guest RAM and exits, only go down). A leak grows it linearly: by about
        # 0.56 of all it leaked from the one to the other.
        elapsed = samples[-1][0]
        early = statistics.median([rss for t, rss in samples if elapsed / 8 <= t <= elapsed / 4])
        late = statistics.median([rss for t, rss in samples if t >= elapsed / 2])
        seen, growth = 0.56 * rounds, GROWTH + (TRACE_QUEUE if det else 0)
        print("%-34s start %5.1f MiB, under way %5.1f, second half %5.1f, peak %5.1f, end "
              "%5.1f, bound %5.1f MiB (%.1f s: a leak of %d bytes per request%s would show)"
              % (name + ":", samples[0][1] / MiB, early / MiB, late / MiB, hwm / MiB,
                 samples[-1][1] / MiB, BOUND / MiB, elapsed, growth / (seen * per_round),
                 " or %d per reset" % (growth / (seen * resets_per_round))
                 if resets_per_round else ""))
        self.assertLessEqual(hwm, BOUND, "%s: peak resident set %.1f MiB" % (name, hwm / MiB))
        self.assertLessEqual(late - early, growth,
                             "%s: the resident set grew from %.1f to %.1f MiB as the run went "
                             "on" % (name, early / MiB, late / MiB))

    def test_notification_flood(self):
        for det in (False, True):
            self.check(*MODES[0], det)

    def test_largest_chains(self):
        for det in (False, True):
            self.check(*MODES[1], det)

    def test_constant_reset(self):
        for det in (False, True):
            self.check(*MODES[2], det)


if __name__ == "__main__":
    run_tests([Bounds], ["DEJAVM_BIN", "DEJAVM_GUEST_DIR"])
