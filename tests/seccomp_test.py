#!/usr/bin/python3
"""System-call filters (--seccomp true|false|log, src/sandbox.c, docs/seccomp.md):

  - every thread runs filtered: the main thread under one filter, each vCPU, device I/O thread,
    the trace writer and the API's threads under their own on top of it (/proc/PID/task);
  - a call outside a thread's list stops the VMM (status 159) with a report naming the thread
    and the call, before the guest runs, in a run and in a replay;
  - --seccomp log: the call goes on (the kernel's audit log has it), the guest runs to its end;
  - --seccomp false: no filter at all.

Every other test runs with the default (true), so the lists also cover everything they do.

  python3 seccomp_test.py       (DEJAVM_BIN, DEJAVM_GUEST_DIR, DEJAVM_REMOTE_BIN from meson)
"""
import os
import subprocess
import unittest

from dejavm_test import BIN, Vmm, guest, run, run_tests, scratch_dir

TMP = scratch_dir("dejavm-seccomp-test-")
HELLO = b"hello from dejavm test guest"


def path(name):
    return os.path.join(TMP, name)


def threads(pid):
    """{thread name: [Seccomp mode, number of filters]} of each of the process's threads."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        d = "/proc/%d/task/%s/" % (pid, tid)
        comm = open(d + "comm").read().strip()
        status = dict(line.split(":", 1) for line in open(d + "status").read().splitlines())
        out.setdefault(comm, []).append([int(status["Seccomp"]),
                                         int(status["Seccomp_filters"])])
    return out


def hello(*args, env=None):
    serial = path("hello.serial")
    p = run([BIN, "--kernel", guest("hello"), "--serial", "file=" + serial] + list(args),
            60, dict(os.environ, **(env or {})))
    return p, open(serial, "rb").read()


class Filters(unittest.TestCase):
    def test_every_thread_is_filtered(self):
        img = path("disk.img")
        with open(img, "wb") as f:
            f.write(bytes(1 << 20))
        with Vmm(TMP, "threads", "--kernel", guest("virtio-blk-io"), "--cmdline", "",
                 "--disk", "path=%s,serial=snapdisk" % img, "--record", path("threads.trace"),
                 env={"DEJAVM_TEST_PAUSE_AFTER": "900"}) as v:
            v.wait_state("Paused")  # (and the API thread has served a request)
            t = threads(v.proc.pid)
            mode = 2  # SECCOMP_MODE_FILTER
            self.assertEqual(t.pop(os.path.basename(BIN)), [[mode, 1]], t)
            ours = ("vcpu0", "virtio-blk", "trace-writer", "api")
            for name in ours:
                self.assertIn(name, t, "no %s thread: %s" % (name, t))
            # the others (libmicrohttpd's workers before their first request, io_uring's and
            # KVM's workers) inherit the filters of the thread that made them
            for name, each in t.items():
                for s in each:
                    self.assertEqual(s[0], mode, "%s: %s" % (name, t))
                    if name in ours:
                        self.assertEqual(s[1], 2, "%s: %s" % (name, t))
                    else:
                        self.assertIn(s[1], (1, 2), "%s: %s" % (name, t))

    def test_a_denied_call_stops_the_vmm_and_names_thread_and_call(self):
        p, serial = hello(env={"DEJAVM_TEST_SYSCALL": "socket"})
        self.assertEqual(p.returncode, 159, p.stderr)
        self.assertIn("seccomp: thread vcpu0 made a system call it is not allowed: socket (41)",
                      p.stderr)
        self.assertNotIn(HELLO, serial, "the guest ran after the denied call")

    def test_log_mode_lets_the_call_through(self):
        before = dmesg()
        p, serial = hello("--seccomp", "log", env={"DEJAVM_TEST_SYSCALL": "socket"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(HELLO, serial)
        if before is not None:  # the kernel's audit record (type=1326), when dmesg is readable
            new = dmesg()[len(before):]
            self.assertTrue(any("type=1326" in l and "syscall=41" in l and 'comm="vcpu0"' in l
                                for l in new), new[-20:])

    def test_false_installs_nothing(self):
        p, serial = hello("--seccomp", "false", env={"DEJAVM_TEST_SYSCALL": "socket"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(HELLO, serial)

    def test_a_replay_is_filtered_too(self):
        trace = path("hello.trace")
        p = run([BIN, "--kernel", guest("hello"), "--serial", "null", "--deterministic",
                 "--record", trace])
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run([BIN, "replay", trace], env=dict(os.environ, DEJAVM_TEST_SYSCALL="socket"))
        self.assertEqual(p.returncode, 159, p.stdout + p.stderr)
        self.assertIn("thread vcpu0 made a system call it is not allowed: socket", p.stderr)
        p = run([BIN, "replay", trace, "--seccomp", "false"],
                env=dict(os.environ, DEJAVM_TEST_SYSCALL="socket"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_bad_mode(self):
        for args in ([BIN, "--kernel", guest("hello"), "--seccomp", "yes"],
                     [BIN, "replay", "x.trace", "--seccomp", "yes"]):
            p = run(args)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("--seccomp: 'yes': expected true, false or log", p.stderr)


def dmesg():
    p = subprocess.run(["dmesg"], capture_output=True, text=True, errors="replace")
    return p.stdout.splitlines() if p.returncode == 0 else None


if __name__ == "__main__":
    run_tests([Filters], ["DEJAVM_BIN", "DEJAVM_GUEST_DIR"])
