#!/usr/bin/python3
"""Traces written by earlier minor versions of the format read and replay with this build.

  python3 compat_test.py --compat corpora/traces/compat

corpora/traces/compat holds traces recorded by earlier builds (named minorN-*.trace), never
regenerated, and in images/ the images they were recorded from (zstd-compressed, MANIFEST with
their SHA-256). Every trace must decode completely, with the fields appended since shown as
absent, and replay with "events matched": a newer dejavm replays what an older one recorded.

Environment (meson sets it): DEJAVM_BIN, DEJAVM_TRACE_BIN.
"""
import argparse
import os
import subprocess
import tempfile
import unittest

import dejavm_test
from dejavm_test import BIN, TOOL, dump, golden_image_args, info, run, run_tests, shipped_images

COMPAT = ""  # the traces of this host's CPU vendor (dejavm_test.golden_dir)
IMAGES = ""


def traces():
    return sorted(os.path.join(COMPAT, f) for f in os.listdir(COMPAT) if f.endswith(".trace"))


class Compat(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dejavm-compat-")
        src = IMAGES
        for f in os.listdir(src):
            if f.endswith(".zst"):
                subprocess.run(["zstd", "-d", "-q", "-f", os.path.join(src, f), "-o",
                                os.path.join(cls.tmp.name, f[:-4])], check=True)
        cls.shipped = shipped_images(os.path.join(src, "MANIFEST"), cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_there_are_older_traces(self):
        self.assertGreaterEqual(len(traces()), 4)
        for t in traces():
            self.assertIsNone(info(t)["minor"], t)  # written before minor 2, which says

    def test_every_older_trace_decodes_completely(self):
        for t in traces():
            i = info(t)
            self.assertEqual(i["status"], "complete", t)
            events = dump(t)
            self.assertEqual(len(events), i["events"], t)
            for e in events:
                if e["type"] == "io_done":
                    self.assertNotIn("hash", e, t)  # appended in minor 2: absent

    def test_every_older_trace_replays(self):
        for t in traces():
            p = run([BIN, "replay", t] + golden_image_args(t, self.shipped), 600)
            self.assertEqual(p.returncode, 0, "%s: %s%s" % (t, p.stdout, p.stderr))
            self.assertIn("events matched", p.stdout, t)


def main():
    global COMPAT, IMAGES
    ap = argparse.ArgumentParser()
    ap.add_argument("--compat", required=True)
    a, _ = ap.parse_known_args()
    COMPAT = dejavm_test.golden_dir(a.compat)
    IMAGES = os.path.join(a.compat, "images")
    assert TOOL
    run_tests([Compat], ["DEJAVM_BIN", "DEJAVM_TRACE_BIN"])


if __name__ == "__main__":
    main()
