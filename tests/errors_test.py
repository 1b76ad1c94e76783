#!/usr/bin/python3
"""Every flag of dejavm, given a bad value, fails with a message that names the flag, the value
(or the file) and the reason: exit 2 for a command line that cannot be right, 1 for one whose
files or devices cannot be set up. No message is repeated, and the VMM never crashes.

  python3 errors_test.py        (DEJAVM_BIN, DEJAVM_GUEST_DIR from meson)
"""
import os
import re
import unittest

from dejavm_test import BIN, guest, run, run_tests, scratch_dir

TMP = scratch_dir("dejavm-errors-test-")


def text_file():
    p = os.path.join(TMP, "not-a-kernel.txt")
    open(p, "w").write("hello\n")
    return p


# (arguments after --kernel hello.elf unless they hold --kernel or --restore, exit status, the
# strings the message must hold)
CASES = [
    (["--kernel", "/nonexist/vmlinux"], 1, ["--kernel /nonexist/vmlinux: cannot open",
                                            "No such file"]),
    (["--kernel", "@TEXT"], 1, ["--kernel @TEXT", "ELF"]),
    (["--initramfs", "/nonexist/initrd"], 1, ["--initramfs /nonexist/initrd: cannot open"]),
    (["--cmdline", "x" * 70000], 1, ["--cmdline", "70000 bytes", "at most 65535"]),
    (["--cpus", "boot=0"], 2, ["--cpus", "boot=0"]),
    (["--cpus", "boot=2"], 2, ["--cpus", "boot=2", "SMP"]),
    (["--memory", "size=12Q"], 2, ["--memory", "size=12Q"]),
    (["--memory", "size=1M"], 2, ["--memory", "size=1M", "out of range"]),
    (["--serial", "bogus"], 2, ["--serial", "bogus"]),
    (["--serial", "file=/nonexist/out"], 1, ["--serial file=/nonexist/out: cannot open",
                                             "No such file"]),
    (["--log-file", "/nonexist/log"], 2, ["--log-file /nonexist/log: cannot open"]),
    (["--stats=xml"], 2, ["--stats", "xml"]),
    (["--record", "/nonexist/t.trace"], 1, ["--record /nonexist/t.trace: cannot create",
                                            "No such file"]),
    (["--record", ""], 2, ["--record", "empty"]),
    (["--disk", "path=/nonexist/d.img"], 1, ["--disk path=/nonexist/d.img: cannot open",
                                             "No such file"]),
    (["--disk", "path=x.img,queue_size=3"], 2, ["--disk", "queue_size=3"]),
    (["--disk", "readonly=on"], 2, ["--disk", "path=FILE is required"]),
    (["--disk", "path=x.img,bogus=1"], 2, ["--disk", "bogus=1"]),
    (["--rng", "src=/nonexist/rng"], 1, ["--rng src=/nonexist/rng: cannot open",
                                         "No such file"]),
    (["--rng", "/dev/urandom"], 2, ["--rng", "/dev/urandom", "src=PATH"]),
    (["--net", "tap=a/b"], 2, ["--net", "tap=a/b"]),
    (["--net", "tap=t0,mac=01:00:00:00:00:00"], 2, ["--net", "mac=01:00:00:00:00:00"]),
    (["--net", "tap=t0,mask=255.0.0.0"], 2, ["--net", "mask=255.0.0.0", "without ip="]),
    (["--console", "bogus"], 2, ["--console", "bogus"]),
    (["--console", "file=/nonexist/hvc"], 1, ["--console file=/nonexist/hvc: cannot open"]),
    (["--deterministic", "--console", "pty"], 2, ["--console pty", "deterministic"]),
    (["--rtc-epoch", "-1"], 2, ["--rtc-epoch", "-1"]),
    (["--machine-version", "9"], 2, ["--machine-version", "'9'", "1 to 2"]),
    (["--exit-budget", "0"], 2, ["--exit-budget", "'0'"]),
    (["--spin-limit", "x"], 2, ["--spin-limit", "'x'"]),
    (["--api-socket", "/nonexist/api.sock"], 1, ["--api-socket /nonexist/api.sock: cannot create "
                                                 "the socket", "No such file"]),
    (["--api-socket", "fd=3"], 2, ["--api-socket", "fd=3"]),
    (["--checkpoint-every", "0"], 2, ["--checkpoint-every", "'0'"]),
    (["--checkpoint-every", "5"], 2, ["--checkpoint-every", "--deterministic", "--record"]),
    (["--restore", "source_url=file:///nonexist/snap"], 1,
     ["--restore", "/nonexist/snap/state.msgpack", "No such file"]),
    (["--restore", "source_url=http://example/snap"], 2, ["--restore",
                                                          "source_url=http://example/snap"]),
    (["--restore", "source_url=file:///x", "--memory", "size=64M"], 2,
     ["--memory cannot be given with --restore"]),
    (["--seccomp", "maybe"], 2, ["--seccomp", "'maybe'", "true, false or log"]),
    (["--bogus"], 2, ["unknown option '--bogus'"]),
    (["extra-argument"], 2, ["unexpected argument 'extra-argument'"]),
]


class Errors(unittest.TestCase):
    def test_every_flag_with_a_bad_value(self):
        flags = set()
        for args, status, wanted in CASES:
            args = [a.replace("@TEXT", text_file()) for a in args]
            wanted = [w.replace("@TEXT", text_file()) for w in wanted]
            cmd = [BIN] + args
            if "--kernel" not in args and "--restore" not in args:
                cmd = [BIN, "--kernel", guest("hello"), "--serial", "null"] + args
            p = run(cmd, timeout=60)
            what = " ".join(args)
            self.assertEqual(p.returncode, status, "%s: %s" % (what, p.stderr))
            for w in wanted:
                self.assertIn(w, p.stderr, what)
            self.assertNotIn("Sanitizer", p.stderr, what)
            lines = [l for l in p.stderr.splitlines() if l]
            self.assertEqual(len(lines), len(set(lines)), "%s: repeated: %s" % (what, p.stderr))
            self.assertLessEqual(len(lines), 2, "%s: %s" % (what, p.stderr))
            flags.update(re.match(r"--[a-z-]+", a).group(0) for a in args if a.startswith("--"))
        # every option --help lists has a case
        listed = re.findall(r"^  (--[a-z-]+)", run([BIN, "--help"]).stdout, re.M)
        self.assertGreater(len(listed), 15)
        for flag in listed:
            if flag not in ("--help", "--version", "--verbose"):
                self.assertIn(flag, flags)


if __name__ == "__main__":
    run_tests([Errors], ["DEJAVM_BIN", "DEJAVM_GUEST_DIR"])
