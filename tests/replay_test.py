#!/usr/bin/python3
"""Deterministic mode and `dejavm replay`, end to end, with the real binary and real guests.

  python3 replay_test.py --golden DIR [--linux]

Environment (meson sets it): DEJAVM_BIN, DEJAVM_TRACE_BIN, DEJAVM_GUEST_DIR, and for --linux
DEJAVM_LINUX_DIR (skips with 77 when unset, unless DEJAVM_REQUIRE_LINUX=1).

Without --linux: test guests recorded three times give byte-identical traces; the golden
traces of the test guests replay in --live mode too (golden_test.py replays every golden with
--feed), landmarks are at fixed points and reached, a guest that waits where the recording did
not is a divergence, a loop that counts gets host-chosen landmarks that replay exactly; the
tiny-Linux goldens hold what they should, and linux-rng diverges with --live where its entropy
comes in; test-only mutations of one PIO read value, one PIT tick and one serial status bit are
found at exactly the event that changed; cut, damaged and foreign files are refused with a
message; a different image is refused (and --force still ends cleanly); normal-mode traces
replay where they can. The goldens replay against the images shipped in corpora/images.
With --linux: the tiny Linux built on this machine, recorded once as usual and three times with
a 30 ms exit budget on a host loaded by a CPU hog, gives four byte-identical traces, which
replay.
"""
import argparse
import concurrent.futures
import json
import os
import signal
import subprocess
import time
import unittest

import msgpack

import dejavm_test
from dejavm_test import BIN, LINUX, CpuHog, dump, golden_image_args, guest, require_linux
GOLDEN = ""
TMP = dejavm_test.scratch_dir("dejavm-replay-test-")


def run(args, env=None, timeout=300):
    e = dict(os.environ)
    for k in ("DEJAVM_TEST_MUTATE", "DEJAVM_TEST_BLK_WRITES"):
        e.pop(k, None)
    e.update(env or {})
    return dejavm_test.run(args, timeout, e)


def record(path, kernel, cmdline="", extra=(), stats=False):
    p = run([BIN, "--deterministic", "--serial", "null", "--record", path, "--kernel", kernel,
             "--cmdline", cmdline] + list(extra) + (["--stats=json"] if stats else []))
    assert p.returncode == 0, "recording %s failed (%d): %s" % (path, p.returncode, p.stderr)
    if stats:
        return open(path, "rb").read(), json.loads(p.stderr.strip().splitlines()[-1])
    return open(path, "rb").read()


def wait_for_events(trace, n=3000):
    """Until a recording in progress has written n events (a frame or more) to trace."""
    for _ in range(600):
        if os.path.exists(trace) and os.path.getsize(trace) > 4096:
            p = run([dejavm_test.TOOL, "info", "--json", trace])
            if p.stdout and json.loads(p.stdout)["events"] >= n:
                return
        time.sleep(0.1)
    raise AssertionError("%s: the recording wrote no %d events in 60 s" % (trace, n))


def with_header(src, dst, change):
    """Copies trace src to dst with its header (frame 0) rewritten by change(dict). The trailer
    (index and seek table) would no longer match, so it is left off: dst is a cut trace."""
    raw = open(src, "rb").read()
    nframes = int.from_bytes(raw[-9:-5], "little")
    table = raw[-9 - 8 * nframes:-9]
    sizes = [int.from_bytes(table[8 * i:8 * i + 4], "little") for i in range(nframes)]
    header = msgpack.unpackb(subprocess.run(["zstd", "-dc"], input=raw[:sizes[0]],
                                            capture_output=True, check=True).stdout, raw=False)
    change(header)
    frame0 = subprocess.run(["zstd", "-q", "-c"], input=msgpack.packb(header),
                            capture_output=True, check=True).stdout
    open(dst, "wb").write(frame0 + raw[sizes[0]:sum(sizes)])


def replay(trace, *args, env=None, images=None, report=None):
    rep = report or os.path.join(TMP, "report.json")
    if os.path.exists(rep):
        os.unlink(rep)
    if images is None:
        images = golden_image_args(trace) if os.path.dirname(trace) == GOLDEN else []
    p = run([BIN, "replay", trace, "--report", rep] + images + list(args), env=env)
    report = json.load(open(rep)) if os.path.exists(rep) else None
    return p, report


class Guests(unittest.TestCase):
    def test_three_recordings_are_byte_identical(self):
        for name, cmdline in [("hello", ""), ("timer", "ticks=20 hz=100"),
                              ("pio-storm", "n=3000"), ("mmio-storm", "n=500")]:
            runs = [record(os.path.join(TMP, "%s-%d.trace" % (name, i)), guest(name), cmdline)
                    for i in range(3)]
            self.assertEqual(runs[0], runs[1], name)
            self.assertEqual(runs[0], runs[2], name)
            # and the trace says what happened: virtual time (1000 ns per exit, jumps at HLT),
            # the PIT's interrupts through the VMM's PIC
            evs = dump(os.path.join(TMP, "%s-0.trace" % name))
            exits = [e for e in evs if e["type"] == "exit"]
            if name == "timer":
                self.assertEqual(len([e for e in evs if e["type"] == "intr"]), 20)
                self.assertEqual(len([e for e in exits if e["reason"] == 5]), 20)  # HLT
            else:
                self.assertEqual([e["ts"] for e in exits],
                                 [1000 * (i + 1) for i in range(len(exits))])

    def test_golden_traces_of_test_guests_replay_live(self):
        goldens = sorted(f for f in os.listdir(GOLDEN) if f.endswith(".trace"))
        self.assertIn("timer-spin.trace", goldens)
        for f in goldens:
            if f.startswith("linux-"):
                continue
            p, rep = replay(os.path.join(GOLDEN, f), "--live")
            self.assertEqual(p.returncode, 0, "%s --live: %s%s" % (f, p.stdout, p.stderr))
            self.assertEqual(rep["result"], "matched")
            self.assertEqual(rep["matched"], rep["events"])
            self.assertIn("all %d events matched" % rep["events"], p.stdout)

    def test_landmarks_are_fixed_points_and_reached(self):
        t = os.path.join(GOLDEN, "timer-spin.trace")
        landmarks = dump(t, "--type", "landmark")
        self.assertEqual(len(landmarks), 3)  # one per tick: nothing else ends the busy-wait
        # the loop only reads (no page written): a fixed point, stopped at its canonical RIP
        self.assertEqual({(e["fixed"], e["rip"], e["pages"]) for e in landmarks},
                         {(1, landmarks[0]["rip"], "")})
        self.assertTrue(all(0 < e["cycle"] < 16 for e in landmarks), landmarks)
        # the same boot recorded here, with the watchdog kicking at 1 ms or 2 s: the same trace
        a, sa = record(os.path.join(TMP, "spin-a.trace"), guest("timer"), "ticks=3 hz=100 spin=1",
                       ["--exit-budget", "1"], stats=True)
        b, sb = record(os.path.join(TMP, "spin-b.trace"), guest("timer"), "ticks=3 hz=100 spin=1",
                       ["--exit-budget", "2000"], stats=True)
        self.assertEqual(a, b)
        self.assertEqual(sa["kicks"]["fixed"], 3, sa)
        self.assertEqual(sb["kicks"]["fixed"], 3, sb)
        self.assertEqual(sa["nondeterministic"], 0)

    def test_a_guest_that_waits_where_the_recording_did_not_diverges(self):
        """The tick after the first landmark is dropped: the replayed guest waits at the fixed
        point again, which its watchdog finds, where the recording has the tick's irq event."""
        t = os.path.join(GOLDEN, "timer-spin.trace")
        ticks = [e for e in dump(t, "--type", "irq") if e["line"] == 0 and e["level"] == 1]
        p, rep = replay(t, "--exit-budget", "20", env={"DEJAVM_TEST_MUTATE": "tick:1"})
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        d = rep["divergence"]
        self.assertEqual(d["seq"], ticks[0]["seq"])
        self.assertEqual(d["expected"]["type"], "irq")
        self.assertEqual(d["actual"]["type"], "landmark")
        self.assertEqual(d["actual"]["fixed"], 1)

    def test_a_loop_that_counts_gets_host_chosen_landmarks_that_replay(self):
        """spin=2 adds 1 to a counter in memory at every pass: no fixed point. After
        --spin-limit each tick comes where the host stopped the loop, so two recordings are
        either identical or both say they are not reproducible (never silently different), and
        each replays exactly, counter included (the landmark names the page it is in)."""
        runs = []
        for i in range(2):
            path = os.path.join(TMP, "count-%d.trace" % i)
            data, st = record(path, guest("timer"), "ticks=2 hz=100 spin=2",
                              ["--exit-budget", "20", "--spin-limit", "100"], stats=True)
            runs.append((path, data, st))
            lms = dump(path, "--type", "landmark")
            self.assertEqual([e["fixed"] for e in lms], [0, 0])
            self.assertTrue(all(len(e["pages"]) == 16 for e in lms), lms)  # the counter's page
            self.assertEqual(st["nondeterministic"], 2)
            i = dejavm_test.info(path)
            self.assertFalse(i["reproducible"])
            self.assertEqual(i["host_chosen_seqs"], [e["seq"] for e in lms])
            self.assertEqual(i["end"]["nondeterministic"], 2)
            p, rep = replay(path)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(rep["matched"], rep["events"])
        if runs[0][1] != runs[1][1]:
            self.assertTrue(all(not dejavm_test.info(r[0])["reproducible"] for r in runs))
        # the counter the guest printed is the recorded one: a replay stopping at another pass
        # of the loop would have printed another
        count = [e["text"] for e in dump(runs[0][0], "--type", "serial") if "spun" in e["text"]]
        self.assertEqual(len(count), 1)

    def test_a_loop_whose_memory_alone_changes_is_not_a_fixed_point(self):
        """spin=4 inverts a word in memory: registers and flags repeat at every pass, only the
        page the word is in tells the passes apart, so only the memory check can see that the
        loop is not a fixed point (break it and this fails)."""
        path = os.path.join(TMP, "not.trace")
        _, st = record(path, guest("timer"), "ticks=2 hz=100 spin=4",
                       ["--exit-budget", "20", "--spin-limit", "100"], stats=True)
        self.assertEqual(st["kicks"]["fixed"], 0, st)
        self.assertEqual([e["fixed"] for e in dump(path, "--type", "landmark")], [0, 0])
        p, rep = replay(path)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def mutation(self, trace, mutate, want_seq, field):
        env = mutate if isinstance(mutate, dict) else {"DEJAVM_TEST_MUTATE": mutate}
        p, rep = replay(trace, env=env)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(rep["result"], "diverged")
        d = rep["divergence"]
        self.assertEqual(d["seq"], want_seq, "%s: %s" % (mutate, json.dumps(d)))
        self.assertEqual(d["expected"]["seq"], want_seq)
        self.assertIn(field, d["differing"])
        self.assertIn("DIVERGENCE at event %d" % d["index"], p.stdout)
        self.assertEqual(len(d["last_matching"]), 5)
        self.assertEqual(d["last_matching"][-1]["seq"], want_seq - 1)
        return d

    def test_mutated_pio_read_value_is_found_at_its_event(self):
        t = os.path.join(GOLDEN, "pio-storm.trace")
        reads = [e for e in dump(t, "--type", "pio", "--port", "0x510") if e["write"] == 0]
        d = self.mutation(t, "pio-read:0x510:700:0x4", reads[699]["seq"], "value")
        self.assertEqual(d["actual"]["value"], reads[699]["value"] ^ 4)

    def test_dropped_timer_tick_is_found_at_its_event(self):
        t = os.path.join(GOLDEN, "timer.trace")
        ticks = [e for e in dump(t, "--type", "irq") if e["line"] == 0 and e["level"] == 1]
        self.assertEqual(len(ticks), 20)
        # hz=100 on virtual time: the PIT's 11932 counts of 1/1193182 s (10000150.6 ns) each,
        # to the nanosecond
        for a, b in zip(ticks, ticks[1:]):
            self.assertLess(abs(b["ts"] - a["ts"] - 11932 * 10**9 / 1193182), 1, (a, b))
        d = self.mutation(t, "tick:7", ticks[6]["seq"], "type")
        self.assertEqual(d["expected"]["type"], "irq")

    def test_serial_status_bit_is_found_at_its_event(self):
        t = os.path.join(GOLDEN, "hello.trace")
        lsr = [e for e in dump(t, "--type", "pio", "--port", "0x3fd") if e["write"] == 0]
        d = self.mutation(t, "pio-read:0x3fd:5:0x20", lsr[4]["seq"], "value")
        self.assertEqual(d["actual"]["value"], lsr[4]["value"] ^ 0x20)

    def test_disk_write_one_sector_late_is_found_at_its_event(self):
        """The VMM's own output is compared: io_done holds the offset each write went to."""
        t = os.path.join(GOLDEN, "linux-disk.trace")
        writes = [e for e in dump(t, "--type", "io_done") if e["dev"] == 1 and e["op"] == 1]
        d = self.mutation(t, {"DEJAVM_TEST_BLK_WRITES": "late"}, writes[0]["seq"], "offset")
        self.assertEqual(d["actual"]["offset"], writes[0]["offset"] + 512)

    def test_disk_write_data_changed_is_found_at_its_event(self):
        """... and a hash of the sectors it wrote, as the backend got them."""
        t = os.path.join(GOLDEN, "linux-disk.trace")
        writes = [e for e in dump(t, "--type", "io_done") if e["dev"] == 1 and e["op"] == 1]
        d = self.mutation(t, {"DEJAVM_TEST_BLK_WRITES": "flip"}, writes[0]["seq"], "hash")
        self.assertNotEqual(d["actual"]["hash"], writes[0]["hash"])
        self.assertEqual(d["differing"].split(" ")[0], "hash")

    def test_disk_images_are_identified_and_block_devices_replay(self):
        """The header holds each disk's size and XXH3-128 as the run began: --live refuses the
        image the guest has since written, takes a pristine copy, and finds a write gone one
        sector late there too. A block device (a loop device) is a disk like a file."""
        pristine = bytes(range(256)) * 4096  # 1 MiB
        img, t = os.path.join(TMP, "id-disk.img"), os.path.join(TMP, "id-disk.trace")
        open(img, "wb").write(pristine)
        args = ["--disk", "path=%s,serial=test-serial-123" % img]
        record(t, guest("virtio-blk-io"), "", args)
        disk = dejavm_test.info(t)["config"]["disks"][0]
        self.assertEqual(disk["size"], len(pristine))
        self.assertRegex(disk["xxh3_128"], "^[0-9a-f]{32}$")
        self.assertNotEqual(open(img, "rb").read(), pristine)  # the guest wrote it
        p, _ = replay(t, "--live")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("id-disk.img: 1048576 bytes, xxh3-128", p.stderr)
        self.assertIn(disk["xxh3_128"], p.stderr)
        self.assertIn("refusing to replay against different images", p.stderr)
        open(img, "wb").write(pristine)
        p, _ = replay(t, "--live")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        writes = [e for e in dump(t, "--type", "io_done") if e["op"] == 1 and e["status"] == 0]
        open(img, "wb").write(pristine)
        p, rep = replay(t, "--live", env={"DEJAVM_TEST_BLK_WRITES": "late"})
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(rep["divergence"]["seq"], writes[0]["seq"])
        open(img, "wb").write(pristine)
        loop = subprocess.run(["losetup", "-f", "--show", img], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        self.assertEqual(loop.returncode, 0, "losetup (this test needs root): " + loop.stderr)
        dev = loop.stdout.strip()
        try:
            bt = os.path.join(TMP, "id-blockdev.trace")
            record(bt, guest("virtio-blk-io"), "", ["--disk", "path=%s,serial=test-serial-123"
                                                     % dev])
            self.assertEqual(dejavm_test.info(bt)["config"]["disks"][0]["size"], len(pristine))
            self.assertEqual(dump(bt, "--type", "serial"), dump(t, "--type", "serial"))
            p, _ = replay(bt)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        finally:
            subprocess.run(["losetup", "-d", dev])

    def test_a_signal_that_came_while_the_guest_ran_replays_to_its_stop(self):
        """A recording whose SIGINT came while the guest ran, after it had posted a write to
        KVM's coalesced ring and before its next exit: the trace ends read, write, end. The
        replay runs the guest to that next exit and stops there without handling it (it
        stopped before running it, and diverged at the write: seen in CI's ASan run). Recorded
        on an Intel host (corpora/traces/regress), from the shipped pio-storm.elf."""
        t = os.path.join(os.path.dirname(GOLDEN), "regress",
                         "GenuineIntel-signal-while-guest-runs.trace")
        tail = dump(t)[-3:]
        self.assertEqual([(e["type"], e.get("write")) for e in tail],
                         [("pio", 0), ("pio", 1), ("end", None)])
        if dejavm_test.cpu_vendor() != "GenuineIntel":
            return  # (CPUID differs: the trace is for an Intel host's replay)
        p, rep = replay(t, images=dejavm_test.golden_image_args(t))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("where the recording was", p.stdout)
        self.assertTrue(rep["stop_reproduced"])
        self.assertEqual(rep["matched"], tail[-1]["seq"] + 1)

    def test_a_recording_stopped_by_a_signal_replays_to_its_stop(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            t = os.path.join(TMP, "stopped.trace")
            rec = subprocess.Popen([BIN, "--deterministic", "--serial", "null", "--record", t,
                                    "--kernel", guest("pio-storm"), "--cmdline", "n=100000000"],
                                   stderr=subprocess.DEVNULL)
            wait_for_events(t)
            rec.send_signal(sig)
            self.assertEqual(rec.wait(60), 128 + sig)
            end = dump(t, "--type", "end")[0]
            self.assertEqual(end["status"], 128 + sig)
            p, rep = replay(t)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("where the recording was", p.stdout)
            self.assertTrue(rep["stop_reproduced"])
            self.assertEqual(rep["matched"], end["seq"] + 1)

    def test_a_killed_recording_replays_up_to_its_cut(self):
        """SIGKILL: no trailer, frames lost. The complete prefix replays, and a divergence in it
        is still found."""
        t = os.path.join(TMP, "killed.trace")
        rec = subprocess.Popen([BIN, "--deterministic", "--serial", "null", "--record", t,
                                "--kernel", guest("pio-storm"), "--cmdline", "n=100000000"],
                               stderr=subprocess.DEVNULL)
        wait_for_events(t)
        rec.kill()
        rec.wait(60)
        p = run([dejavm_test.TOOL, "info", "--json", t])
        self.assertEqual(p.returncode, 1, "a truncated trace is not a complete one")
        i = json.loads(p.stdout)
        self.assertEqual(i["status"], "truncated")
        p, rep = replay(t)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("replayed %d events up to the cut at offset" % i["events"], p.stdout)
        self.assertIn("no divergence", p.stdout)
        self.assertTrue(rep["truncated"])
        self.assertEqual(rep["matched"], i["events"])
        reads = [e for e in dump(t, "--type", "pio", "--port", "0x510", truncated=True)
                 if e["write"] == 0]
        d = self.mutation(t, "pio-read:0x510:700:0x4", reads[699]["seq"], "value")
        self.assertEqual(d["actual"]["value"], reads[699]["value"] ^ 4)
        # a golden cut in its middle: the same
        src = open(os.path.join(GOLDEN, "timer.trace"), "rb").read()
        cut = os.path.join(TMP, "cut.trace")
        open(cut, "wb").write(src[:len(src) // 2])
        p, rep = replay(cut, images=golden_image_args(os.path.join(GOLDEN, "timer.trace")))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("cut.trace: offset", p.stderr)
        self.assertIn("up to the cut", p.stdout)

    def test_cut_damaged_and_foreign_files_are_refused(self):
        src = open(os.path.join(GOLDEN, "timer.trace"), "rb").read()
        bad = bytearray(src)
        bad[len(bad) // 2] ^= 0x10
        flip = os.path.join(TMP, "flip.trace")
        open(flip, "wb").write(bad)
        p, rep = replay(flip)
        self.assertEqual(p.returncode, 1)
        self.assertIn("flip.trace: offset", p.stderr)
        self.assertIn("refusing to replay a damaged trace", p.stderr)
        # the report of a refused trace has every message, each problem the reader found too
        self.assertEqual(rep["result"], "refused")
        self.assertTrue(any("flip.trace: offset" in m for m in rep["messages"]), rep)
        self.assertIn("refusing to replay a damaged trace", rep["messages"][-1])
        problems = json.loads(run([dejavm_test.TOOL, "info", "--json", flip]).stdout)["problems"]
        self.assertGreaterEqual(len(problems), 1)
        for prob in problems:
            self.assertIn(prob, p.stderr)
        p = run([BIN, "replay", guest("hello")])
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a dejavm trace", p.stderr)
        p = run([BIN, "replay", os.path.join(TMP, "missing.trace")])
        self.assertEqual(p.returncode, 1)
        self.assertIn("missing.trace", p.stderr)
        for args in ([], ["a", "b"], ["--bogus", "x"], ["--exit-budget", "0", "x"]):
            self.assertEqual(run([BIN, "replay"] + args).returncode, 2, args)

    def test_every_problem_of_a_header_is_listed(self):
        t = os.path.join(GOLDEN, "linux-disk.trace")
        same = os.path.join(TMP, "same-header.trace")
        with_header(t, same, lambda h: None)  # the rewriting alone changes nothing
        p, _ = replay(same, *golden_image_args(t))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("up to the cut", p.stdout)

        def spoil(h):
            c = h["config"]
            del c["cmdline"]
            c["cpus"], c["memory"], c["ns_per_exit"] = 3, 4096, 999
            c["disks"][0].pop("size")
            c["disks"].append({"path": 7})
            c["net"] = [{"tap": "tap0", "mac": "52:54:zz:00:00:01"}, {"mac": "52:54:00:00:00:02"}]
        bad = os.path.join(TMP, "bad-header.trace")
        with_header(t, bad, spoil)
        p, rep = replay(bad, *golden_image_args(t))
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(p.stdout, "")
        wanted = ["no config.cmdline", "config.cpus 3", "config.memory 4096",
                  "config.ns_per_exit: recorded with 999", "config.disks[0] has no size",
                  "config.disks[1].path", "config.net[0].mac 52:54:zz:00:00:01 is not a MAC",
                  "config.net[1] has no tap"]
        for w in wanted:
            self.assertIn(w, p.stderr)
            self.assertTrue(any(w in m for m in rep["messages"]), (w, rep))
        self.assertEqual(rep["result"], "refused")
        # with --live, the header's problems and the images' are listed together
        p, rep = replay(bad, "--live", "--kernel", os.path.join(TMP, "nope.elf"))
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        for w in wanted[:3] + ["nope.elf"]:
            self.assertIn(w, p.stderr)

    def test_different_image_is_refused_unless_forced(self):
        t = os.path.join(GOLDEN, "hello.trace")
        p, rep = replay(t, "--kernel", guest("timer"), images=[])
        self.assertEqual(p.returncode, 1)
        self.assertIn("timer.elf: sha256", p.stderr)
        self.assertIn("refusing to replay against different images", p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertEqual(rep["result"], "refused")
        self.assertTrue(any("timer.elf: sha256" in m for m in rep["messages"]), rep)
        # a report that cannot be written after a match is a warning: the result stands
        p = run([BIN, "replay", t, "--report", "/dev/full"] + golden_image_args(t))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("events matched", p.stdout)
        self.assertIn("--report /dev/full", p.stderr)
        p = run([BIN, "replay", t, "--kernel", guest("timer"), "--force"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("DIVERGENCE at event 0", p.stdout)  # the boot mem_write hash differs
        p = run([BIN, "replay", t, "--kernel", os.path.join(TMP, "nope.elf")])
        self.assertEqual(p.returncode, 1)
        self.assertIn("nope.elf", p.stderr)

    def test_normal_mode_traces_replay_where_they_can(self):
        for name, cmdline in [("hello", ""), ("timer", "ticks=10 hz=200"), ("pio-storm", "n=500")]:
            t = os.path.join(TMP, "normal-%s.trace" % name)
            p = run([BIN, "--serial", "null", "--record", t, "--kernel", guest(name), "--cmdline",
                     cmdline])
            self.assertEqual(p.returncode, 0, p.stderr)
            p, rep = replay(t)
            self.assertEqual(p.returncode, 3, name + ": " + p.stdout + p.stderr)
            self.assertIn("recorded in normal mode", p.stderr)
            self.assertIn("normal-mode trace", p.stdout)
            self.assertIn("not an exact replay", p.stdout)
            self.assertFalse(rep["exact"])
            self.assertEqual(rep["result"], "matched")
            if name == "pio-storm":
                self.assertGreater(rep["reads_not_compared"], 400)

    def test_normal_mode_replay_finds_what_it_compares(self):
        """What a normal-mode replay compares it does compare: the serial output."""
        t = os.path.join(TMP, "normal-hello-serial.trace")
        p = run([BIN, "--serial", "null", "--record", t, "--kernel", guest("hello")])
        self.assertEqual(p.returncode, 0, p.stderr)
        serial = dump(t, "--type", "serial")
        d = self.mutation(t, "serial:3:0x20", serial[0]["seq"], "data")
        self.assertEqual(d["expected"]["type"], "serial")
        t = os.path.join(TMP, "normal-pci.trace")
        img = os.path.join(TMP, "normal-pci.img")
        open(img, "wb").write(bytes(1 << 20))
        p = run([BIN, "--serial", "null", "--record", t, "--kernel", guest("virtio-blk-io"),
                 "--disk", "path=" + img])
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run([BIN, "replay", t])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("normal mode with virtio devices", p.stderr)
        self.assertIn("Record with --deterministic", p.stderr)

    def test_every_kind_of_field_is_compared(self):
        """DEJAVM_TEST_MUTATE=event:SEQ:FIELD:XOR changes one field of the replay's event SEQ,
        as a VMM bug would: each is found at exactly that seq (taken from dejavm-trace dump),
        naming that field. Break a comparison (out.c, replay.c) and its row fails."""
        rows = [  # golden, event type, which of them (index), field
            ("hello", "exit", 10, "reason"), ("hello", "exit", 11, "rip"),
            ("hello", "regs", 12, "rax"), ("hello", "regs", 13, "r15"),
            ("hello", "regs", 14, "rflags"), ("hello", "pio", 15, "value"),
            ("hello", "pio", 16, "port"), ("hello", "serial", 0, "data"),
            ("hello", "mem_write", 1, "sha256"), ("hello", "end", 0, "status"),
            ("mmio-storm", "mmio", 100, "value"), ("mmio-storm", "mmio", 101, "addr"),
            ("timer", "intr", 3, "vector"), ("timer", "irq", 4, "line"),
            ("timer-spin", "landmark", 1, "rip"), ("timer-spin", "landmark", 2, "regs_hash"),
            # (io_done's hash and offset: the disk-write tests, planted in the device)
            ("linux-rng", "dma_write", 0, "data"), ("linux-disk", "vq_chain", 3, "descs"),
        ]
        jobs = []
        for name, typ, k, field in rows:
            t = os.path.join(GOLDEN, name + ".trace")
            ev = dump(t, "--type", typ)[k]
            jobs.append((t, ev, field))

        def one(job):
            t, ev, field = job
            p, rep = replay(t, env={"DEJAVM_TEST_MUTATE": "event:%d:%s:0x4" % (ev["seq"], field)},
                            report=os.path.join(TMP, "report-%d-%s.json" % (ev["seq"], field)))
            return job, p, rep

        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            for (t, ev, field), p, rep in pool.map(one, jobs):
                what = "%s seq %d %s.%s" % (os.path.basename(t), ev["seq"], ev["type"], field)
                self.assertEqual(p.returncode, 1, what + ": " + p.stdout + p.stderr)
                d = rep["divergence"]
                self.assertEqual(d["seq"], ev["seq"], what)
                self.assertEqual(d["differing"].split(" ")[0], field, what)

    def test_feed_gives_the_guest_the_recorded_reads(self):
        """A normal-mode replay does not compare read values (they saw host time) but gives
        the guest the recorded ones: a device model that answers one read of pio-storm
        differently changes nothing the guest does. Without --feed's reads, the guest would
        compute on the changed value and its next write would differ."""
        t = os.path.join(TMP, "normal-feed.trace")
        p = run([BIN, "--serial", "null", "--record", t, "--kernel", guest("pio-storm"),
                 "--cmdline", "n=500"])
        self.assertEqual(p.returncode, 0, p.stderr)
        p, rep = replay(t, env={"DEJAVM_TEST_MUTATE": "pio-read:0x510:50:0x4"})
        self.assertIn("test mutation: read 50 of port 0x510", p.stderr)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertEqual(rep["result"], "matched")

    def test_changed_serial_byte_is_found_at_its_event(self):
        t = os.path.join(GOLDEN, "hello.trace")
        serial = dump(t, "--type", "serial")
        d = self.mutation(t, "serial:5:0x1", serial[0]["seq"], "data")
        self.assertNotEqual(d["actual"]["data"], serial[0]["data"])


    def test_golden_linux_disk_holds_every_request(self):
        """A boot that read and wrote a disk (golden_test.py replays it without the image)."""
        t = os.path.join(GOLDEN, "linux-disk.trace")
        ops = {e["op"] for e in dump(t, "--type", "io_done") if e["dev"] == 1}
        self.assertTrue({0, 1, 4, 8} <= ops, ops)  # IN, OUT, FLUSH, GET_ID

    def test_golden_linux_rng_diverges_live_where_its_entropy_comes_in(self):
        """virtio-rng entropy is in the trace: --feed needs no source (golden_test.py), --live
        gives the guest other bytes and diverges at the first dma_write."""
        t = os.path.join(GOLDEN, "linux-rng.trace")
        dma = dump(t, "--type", "dma_write")
        done = dump(t, "--type", "io_done")
        self.assertGreater(len(dma), 0)
        self.assertEqual([len(e["data"]) // 2 for e in dma], [e["bytes"] for e in done])
        p, rep = replay(t, "--live")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(rep["divergence"]["seq"], dma[0]["seq"])
        self.assertEqual(rep["divergence"]["differing"].split(" ")[0], "data")


class Linux(unittest.TestCase):
    def test_linux_recordings_are_byte_identical_under_load_and_replay(self):
        """The tiny Linux built on this machine: recorded once as usual, then three times on a
        host loaded by a CPU hog with a 30 ms exit budget, so that the watchdog kicks the vCPU
        many times in every boot: four identical traces."""
        cmdline = open(os.path.join(LINUX, "cmdline-deterministic.txt")).read().strip()
        args = ["--initramfs", os.path.join(LINUX, "initramfs.cpio")]
        kernel = os.path.join(LINUX, "vmlinux")
        runs = [record(os.path.join(TMP, "linux-0.trace"), kernel, cmdline, args)]
        with CpuHog():
            for i in range(1, 4):
                data, st = record(os.path.join(TMP, "linux-%d.trace" % i), kernel, cmdline,
                                  args + ["--exit-budget", "30"], stats=True)
                runs.append(data)
                self.assertGreaterEqual(st["kicks"]["total"], 20, st)
        for i in range(1, 4):
            self.assertEqual(runs[0], runs[i], "recording %d differs" % i)
        serial = "".join(e["text"] for e in dump(os.path.join(TMP, "linux-0.trace"), "--type",
                                                  "serial"))
        self.assertIn("dejavm-guest: init reached", serial)
        self.assertIn("Calibrating delay loop (skipped)", serial)
        p, rep = replay(os.path.join(TMP, "linux-1.trace"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(rep["matched"], rep["events"])


def main():
    global GOLDEN
    ap = argparse.ArgumentParser()
    ap.add_argument("--golden", required=True)
    ap.add_argument("--linux", action="store_true")
    a, rest = ap.parse_known_args()
    GOLDEN = dejavm_test.golden_dir(a.golden)
    if a.linux:
        require_linux()
    dejavm_test.run_tests([Linux] if a.linux else [Guests],
                          ["DEJAVM_BIN", "DEJAVM_TRACE_BIN", "DEJAVM_GUEST_DIR"])


if __name__ == "__main__":
    main()
