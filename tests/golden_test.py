#!/usr/bin/python3
"""Every golden trace replays on a machine that has never built anything for the project.

  python3 golden_test.py --golden DIR

The images each golden was recorded from ship in corpora/images (their SHA-256 in MANIFEST);
the replays use those, decompressed into the build, and nothing else: no DEJAVM_LINUX_DIR, an
empty DEJAVM_CACHE, and a linux-source-6.1 version other than the one the shipped kernel was
built from (DEJAVM_LINUX_SOURCE_VERSION, which tools/guest-kernel/build.sh takes for the
installed one), as on a machine where the distribution published an update after the goldens
were recorded. The cache must still be empty afterwards. Every golden replays at the default
--exit-budget, and at 1 ms, where the replay's watchdog kicks all the time (the recording's
budget must not matter): every test-guest golden and one of the tiny Linux. And each golden says truly whether it is reproducible.

Environment (meson sets it): DEJAVM_BIN, DEJAVM_TRACE_BIN, DEJAVM_IMAGE_DIR,
DEJAVM_IMAGE_MANIFEST, DEJAVM_GUEST_KERNEL_BUILD (build.sh).
"""
import argparse
import concurrent.futures
import os
import subprocess
import unittest

import dejavm_test
from dejavm_test import BIN, MANIFEST, golden_image_args, info, run, run_tests, scratch_dir

GOLDEN = ""
BUILD_SH = os.environ.get("DEJAVM_GUEST_KERNEL_BUILD", "")
NOT_REPRODUCIBLE = {"timer-count"}  # counts in memory while it waits: host-chosen landmarks


def goldens():
    return sorted(os.path.join(GOLDEN, f) for f in os.listdir(GOLDEN) if f.endswith(".trace"))


def shipped_source():
    """The linux-source-6.1 version the shipped kernel came from (MANIFEST)."""
    for line in open(MANIFEST):
        if line.startswith("vmlinux "):
            return line.split("linux-source-6.1 ")[1].split(" ")[0]
    raise AssertionError("MANIFEST names no vmlinux")


class Goldens(unittest.TestCase):
    def test_every_golden_replays_anywhere(self):
        cache = scratch_dir("dejavm-empty-cache-")
        env = {k: v for k, v in os.environ.items() if k != "DEJAVM_LINUX_DIR"}
        fake = shipped_source() + "+moved.1"
        env.update(DEJAVM_CACHE=cache, DEJAVM_LINUX_SOURCE_VERSION=fake)
        if BUILD_SH:  # on this "machine" the tiny Linux builder would make another kernel
            keys = [subprocess.run(["bash", BUILD_SH, "--print-key"], stdout=subprocess.PIPE,
                                   text=True, env=dict(env, DEJAVM_LINUX_SOURCE_VERSION=v)).stdout
                    for v in (shipped_source(), fake)]
            self.assertNotEqual(keys[0], keys[1])

        def replay(job):
            trace, budget = job
            args = [BIN, "replay", trace] + golden_image_args(trace)
            if budget:
                args += ["--exit-budget", budget]
            linux = os.path.basename(trace).startswith("linux-")
            try:
                return job, run(args, 900 if linux else 120, env)
            except subprocess.TimeoutExpired as e:
                return job, subprocess.CompletedProcess(args, -1, e.stdout or "",
                                                        "timed out: %s" % (e.stderr or ""))

        # At 1 ms every Linux golden behaves alike (~50-70 s each): one of them is enough.
        jobs = [(t, b) for t in goldens() for b in (None, "1")
                if b is None or not os.path.basename(t).startswith("linux-")
                or os.path.basename(t) == "linux-boot.trace"]
        self.assertGreaterEqual(len(jobs), 14)
        # A replay's watchdog must not step the guest past a host-chosen landmark (it did, in
        # about one replay of six at 1 ms, and the replay then ran forever): more tries of those.
        jobs += [(t, "1") for t in goldens() for _ in range(7)
                 if os.path.basename(t)[:-len(".trace")] in NOT_REPRODUCIBLE]
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            for (trace, budget), p in pool.map(replay, jobs):
                what = "%s (--exit-budget %s)" % (os.path.basename(trace), budget or "default")
                self.assertEqual(p.returncode, 0, "%s: %s%s" % (what, p.stdout, p.stderr))
                self.assertIn("events matched", p.stdout, what)
        self.assertEqual(os.listdir(cache), [], "something built into the cache")

    def test_goldens_say_whether_they_are_reproducible(self):
        for trace in goldens():
            name = os.path.basename(trace)[:-len(".trace")]
            i = info(trace)
            self.assertEqual(i["reproducible"], name not in NOT_REPRODUCIBLE, name)
            self.assertEqual(i["host_chosen_landmarks"] > 0, name in NOT_REPRODUCIBLE, name)
            self.assertEqual(i["end"]["nondeterministic"], i["host_chosen_landmarks"], name)
            p = run([os.environ["DEJAVM_TRACE_BIN"], "info", trace])
            self.assertIn("reproducible %s" % ("no" if name in NOT_REPRODUCIBLE else "yes"),
                          p.stdout, name)


def main():
    global GOLDEN
    ap = argparse.ArgumentParser()
    ap.add_argument("--golden", required=True)
    a, rest = ap.parse_known_args()
    GOLDEN = dejavm_test.golden_dir(a.golden)
    run_tests([Goldens], ["DEJAVM_BIN", "DEJAVM_TRACE_BIN", "DEJAVM_IMAGE_DIR",
                          "DEJAVM_IMAGE_MANIFEST"])


if __name__ == "__main__":
    main()
