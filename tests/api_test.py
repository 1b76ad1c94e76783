#!/usr/bin/python3
"""The REST API (--api-socket) and dejavm-remote, end to end, with the real binaries.

  python3 api_test.py [--linux]

Without --linux, with the test guests: the lifecycle through dejavm-remote and curl (create,
boot, pause, resume, shutdown, boot again, delete, vmm.shutdown), cloud-hypervisor's status
codes and error bodies for actions the state does not allow, malformed requests of every kind
through http.client (bad JSON, wrong types, unknown and missing fields, out-of-range values, a
body over 1 MiB, unknown paths, wrong methods), a client that sends half a request and 100
concurrent clients while a guest runs, the socket's mode and a live or stale socket at its path,
and a deterministic recording paused and resumed mid-run that is byte-identical to one never
paused (and replays). With --linux (DEJAVM_LINUX_DIR): the tiny Linux with a disk, an rng and a
console: vm.info's device tree matches the guest's boot log (BDFs and BARs), vm.counters agree
with the trace's io_done events, and vm.reboot boots the guest a second time.
"""
import argparse
import concurrent.futures
import json
import os
import re
import socket
import stat
import subprocess
import time
import unittest

import dejavm_test
from dejavm_test import (BIN, LINUX, CpuHog, UnixHTTPConnection, dump, guest, require_linux,
                         scratch_dir)

TMP = scratch_dir("dejavm-api-test-")


def Vmm(name, *args):
    """A dejavm started with only --api-socket (plus args), stopped at the end."""
    return dejavm_test.Vmm(TMP, name, *args)


def storm_config(n, **dejavm):
    cfg = {"payload": {"kernel": guest("pio-storm"), "cmdline": "n=%d" % n},
           "serial": {"mode": "Null"}}
    if dejavm:
        cfg["dejavm"] = dejavm
    return cfg


class Guests(unittest.TestCase):
    def test_lifecycle_through_dejavm_remote_and_curl(self):
        with Vmm("life") as v:
            self.assertEqual(stat.S_IMODE(os.stat(v.sock).st_mode), 0o600)
            p = v.remote("ping")
            self.assertEqual(p.returncode, 0, p.stderr)
            ping = json.loads(p.stdout)
            self.assertEqual(ping["pid"], v.proc.pid)
            self.assertTrue(ping["version"])
            p = v.remote("create", stdin=json.dumps(storm_config(1 << 40)))
            self.assertEqual((p.returncode, p.stdout), (0, ""), p.stderr)
            self.assertEqual(v.state(), "Created")
            p = v.remote("pause")  # cloud-hypervisor: 500, the state named
            self.assertEqual(p.returncode, 1)
            self.assertIn("500", p.stderr)
            self.assertIn("The VM could not be paused", p.stderr)
            self.assertIn("Created", p.stderr)
            self.assertEqual(v.remote("boot").returncode, 0)
            self.assertEqual(v.state(), "Running")
            status, err = v.request("PUT", "vm.boot")
            self.assertEqual(status, 500)
            self.assertEqual(err[:2], ["Error from API", "The VM could not boot"])
            p = v.remote("add-disk", "path=/tmp/x.img")  # no hot-plug: it says so
            self.assertEqual(p.returncode, 1)
            self.assertIn("no hot-plug", p.stderr)
            # curl, as users drive it
            out = subprocess.run(["curl", "-s", "-i", "--unix-socket", v.sock,
                                  "http://localhost/api/v1/vmm.ping"], capture_output=True,
                                 text=True).stdout
            self.assertTrue(out.startswith("HTTP/1.1 200"), out)
            self.assertIn('"pid":%d' % v.proc.pid, out)
            out = subprocess.run(["curl", "-s", "-X", "PUT", "-w", "%{http_code}",
                                  "--unix-socket", v.sock, "http://localhost/api/v1/vm.pause"],
                                 capture_output=True, text=True).stdout
            self.assertEqual(out, "204")
            self.assertEqual(v.state(), "Paused")
            p = v.remote("pause")
            self.assertEqual(p.returncode, 1)
            self.assertIn("Paused", p.stderr)
            self.assertEqual(v.remote("resume").returncode, 0)
            self.assertEqual(v.remote("resume").returncode, 1)
            self.assertEqual(v.remote("shutdown").returncode, 0)
            self.assertEqual(v.state(), "Shutdown")
            self.assertEqual(v.remote("counters").returncode, 1)
            self.assertEqual(v.remote("boot").returncode, 0)  # a shut-down VM boots again
            info = json.loads(v.remote("info").stdout)
            self.assertEqual((info["state"], info["dejavm"]["boots"]), ("Running", 2))
            self.assertEqual(v.remote("delete").returncode, 0)
            status, err = v.request("GET", "vm.info")
            self.assertEqual(status, 404)
            self.assertEqual(err[-1], "VM is not created")
            p = v.remote("shutdown-vmm")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(v.proc.wait(30), 0)
            self.assertFalse(os.path.exists(v.sock))

    def test_with_kernel_the_vm_boots_at_once_and_is_controllable(self):
        with Vmm("at-once", "--kernel", guest("pio-storm"), "--cmdline", "n=%d" % (1 << 40),
                 "--serial", "null") as v:
            v.wait_state("Running", 30)
            self.assertEqual(v.request("PUT", "vm.pause")[0], 204)
            self.assertEqual(v.request("PUT", "vm.resume")[0], 204)
            self.assertEqual(v.request("PUT", "vm.shutdown")[0], 204)
            self.assertEqual(v.state(), "Shutdown")

    def test_a_guest_that_ends_leaves_the_vmm_serving(self):
        with Vmm("ends") as v:
            self.assertEqual(v.request("PUT", "vm.create", storm_config(1000))[0], 204)
            self.assertEqual(v.request("PUT", "vm.boot")[0], 204)
            v.wait_state("Shutdown")
            info = v.request("GET", "vm.info")[1]
            self.assertEqual(info["dejavm"]["exit_status"], 0)
            self.assertEqual(v.request("GET", "vmm.ping")[0], 200)

    def test_bad_requests_get_an_error_that_names_the_field(self):
        storm = guest("pio-storm")
        cases = [
            ("PUT", "vm.create", "{", 400, "Failed to deserialize JSON"),
            ("PUT", "vm.create", "[1]", 400, "VmConfig: expected an object"),
            ("PUT", "vm.create", "", 400, "no body"),
            ("PUT", "vm.create", {"payload": {"kernel": 5}}, 400, "payload.kernel: expected a string"),
            ("PUT", "vm.create", {"payload": {}}, 400, "payload.kernel: required"),
            ("PUT", "vm.create", {"bogus": 1, "payload": {"kernel": storm}}, 400,
             "unknown field 'bogus'"),
            ("PUT", "vm.create", {"payload": {"kernel": storm}, "memory": {"size": 4096}}, 400,
             "memory.size: 4096 is out of range"),
            ("PUT", "vm.create", {"payload": {"kernel": storm}, "memory": {"size": (64 << 20) + 1}},
             400, "is not a multiple of 4096"),
            ("PUT", "vm.create", {"payload": {"kernel": storm}, "cpus": {"boot_vcpus": 0}}, 400,
             "cpus.boot_vcpus"),
            ("PUT", "vm.create", {"payload": {"kernel": storm}, "disks": [{"readonly": True}]},
             400, "disks[0].path: required"),
            ("PUT", "vm.create", {"payload": {"kernel": storm},
                                  "disks": [{"path": "/x", "vhost_user": True}]},
             400, "disks[0].vhost_user: true is not supported"),
            ("PUT", "vm.create", {"payload": {"kernel": storm}, "net": [{"tap": "t", "mac": "zz"}]},
             400, "net[0].mac: 'zz' is not a MAC"),
            ("PUT", "vm.create", {"payload": {"kernel": storm},
                                  "disks": [{"path": "/x", "serial": "s" * 21}]},
             400, "disks[0].serial: at most 20 bytes"),
            ("PUT", "vm.create", {"payload": {"kernel": storm}, "net": [{"tap": "a/b"}]},
             400, "net[0].tap: 'a/b': not a valid interface name"),
            ("PUT", "vm.create", {"payload": {"kernel": storm},
                                  "net": [{"tap": "t", "ip": "10.0.0.256"}]},
             400, "net[0].ip: '10.0.0.256': expected an IPv4 address"),
            ("PUT", "vm.create", {"payload": {"kernel": storm},
                                  "net": [{"tap": "t", "ip": "10.0.0.1", "mask": "255.0.255.0"}]},
             400, "net[0].mask: '255.0.255.0': not a netmask"),
            ("PUT", "vm.create", {"payload": {"kernel": storm}, "serial": {"mode": "File"}},
             400, "serial.file: required"),
            ("PUT", "vm.create", {"payload": {"kernel": storm}, "console": {"mode": "Bogus"}},
             400, "console.mode: 'Bogus'"),
            ("PUT", "vm.create", "x" * (2 << 20), 413, "over 1048576 bytes"),
            ("GET", "vm.nope", None, 404, "no such endpoint"),
            ("GET", "v2/vm.info", None, 404, "Not Found"),
            ("GET", "vm.boot", None, 405, "use PUT"),
            ("DELETE", "vm.info", None, 405, "use GET"),
            ("PUT", "vm.boot", None, 404, "VM is not created"),
            ("PUT", "vm.add-disk", {"path": "/x"}, 404, "VM is not created"),
            ("GET", "vm.counters", None, 500, "not running"),
            ("PUT", "vm.shutdown", None, 500, "The VM could not shutdown"),
        ]
        with Vmm("bad") as v:
            for method, path, body, status, msg in cases:
                got, err = v.request(method, path, body)
                self.assertEqual(got, status, (method, path, body and str(body)[:80], err))
                self.assertIsInstance(err, list, (path, err))
                self.assertIn(msg, " ".join(err), (path, str(body)[:80]))
            # ch-remote's add-disk sends cloud-hypervisor's defaults: accepted
            ok = {"payload": {"kernel": storm}, "iommu": False, "disks": [
                {"path": "/x", "pci_segment": 0, "vhost_user": False, "sparse": True,
                 "image_type": "Unknown", "lock_granularity": "ByteRange"}]}
            self.assertEqual(v.request("PUT", "vm.create", ok)[0], 204)
            got, err = v.request("PUT", "vm.create", ok)
            self.assertEqual((got, err[-1][:24]), (500, "VM is already created (v"))
            got, dev = v.request("PUT", "vm.add-disk", {"path": "/y", "readonly": True})
            self.assertEqual((got, dev), (200, {"id": "_disk1", "bdf": "0000:00:02.0"}))
            got, dev = v.request("PUT", "vm.add-rng", {"src": "/dev/urandom"})
            self.assertEqual((got, dev), (200, {"id": "__rng", "bdf": "0000:00:03.0"}))
            self.assertEqual(v.request("PUT", "vm.add-rng", {"src": "/dev/urandom"})[0], 400)
            got, err = v.request("PUT", "vm.boot")  # /x does not exist: the reason comes back
            self.assertEqual(got, 500)
            self.assertIn("/x", err[-1])
            self.assertEqual(v.state(), "Created")
            p = v.remote("add-disk", "path=/z,readonly=maybe")
            self.assertEqual(p.returncode, 2)
            self.assertIn("readonly=maybe", p.stderr)
            self.assertEqual(v.request("GET", "vmm.ping")[0], 200)
            self.assertEqual(v.proc.poll(), None)

    def test_slow_and_many_clients_do_not_block_the_vm_or_each_other(self):
        with Vmm("many") as v:
            v.request("PUT", "vm.create", storm_config(1 << 40))
            v.request("PUT", "vm.boot")
            idle = socket.socket(socket.AF_UNIX)  # connects and sends nothing
            idle.connect(v.sock)
            half = socket.socket(socket.AF_UNIX)  # half a request, never finished
            half.connect(v.sock)
            half.sendall(b"PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            t0 = time.monotonic()
            self.assertEqual(v.request("GET", "vmm.ping")[0], 200)
            self.assertLess(time.monotonic() - t0, 5)

            def one(i):
                return v.request("GET", "vm.info" if i % 2 else "vmm.ping")[0]
            with concurrent.futures.ThreadPoolExecutor(100) as ex:
                self.assertEqual(set(ex.map(one, range(100))), {200})
            self.assertEqual(v.state(), "Running")
            idle.close()
            half.close()

    def test_a_socket_in_use_is_refused_and_a_stale_one_replaced(self):
        with Vmm("inuse") as v:
            p = subprocess.run([BIN, "--api-socket", v.sock], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(p.returncode, 1)
            self.assertIn("another VMM is serving it", p.stderr)
            self.assertEqual(v.request("GET", "vmm.ping")[0], 200)
        stale = os.path.join(TMP, "stale.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(stale)
        s.close()  # the file stays, nobody listens
        p = subprocess.Popen([BIN, "--api-socket", "path=" + stale])
        for _ in range(200):
            try:
                c = UnixHTTPConnection(stale)
                c.request("GET", "/api/v1/vmm.ping")
                self.assertEqual(c.getresponse().status, 200)
                break
            except OSError:
                time.sleep(0.02)
        else:
            self.fail("a stale socket was not replaced")
        p.terminate()
        self.assertEqual(p.wait(30), 128 + 15)
        regular = os.path.join(TMP, "regular-file")
        open(regular, "w").close()
        p = subprocess.run([BIN, "--api-socket", regular], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a socket", p.stderr)

    def test_pause_costs_nothing_in_a_deterministic_recording(self):
        traces = []
        with CpuHog():
            for pauses in (0, 3):
                trace = os.path.join(TMP, "det-%d.trace" % pauses)
                with Vmm("det-%d" % pauses) as v:
                    cfg = storm_config(400000, deterministic=True, record=trace)
                    self.assertEqual(v.request("PUT", "vm.create", cfg)[0], 204)
                    self.assertEqual(v.request("PUT", "vm.boot")[0], 204)
                    for _ in range(pauses):
                        time.sleep(0.3)
                        self.assertEqual(v.request("PUT", "vm.pause")[0], 204)
                        rec = v.request("GET", "vm.info")[1]["dejavm"]["recording"]
                        self.assertEqual(rec["state"], "recording")
                        time.sleep(0.4)  # several exit budgets: the watchdog stays still
                        self.assertEqual(v.request("PUT", "vm.resume")[0], 204)
                    v.wait_state("Shutdown")
                    self.assertEqual(v.state(), "Shutdown", v.output())
                    self.assertEqual(v.request("GET", "vm.info")[1]["dejavm"]["recording"]
                                     ["state"], "finished")
                traces.append(open(trace, "rb").read())
        self.assertGreater(len(dump(os.path.join(TMP, "det-3.trace"))), 400000)
        self.assertEqual(traces[0], traces[1], "a paused recording differs from an unpaused one")
        p = dejavm_test.run([BIN, "replay", os.path.join(TMP, "det-3.trace")])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("events matched", p.stdout)

    def test_pauses_in_the_middle_of_fixed_point_searches_cost_nothing(self):
        """timer spin=1 busy-waits for its ticks: at a 1 ms exit budget, a landmark per tick,
        each found by single-stepping; pauses as fast as the API takes them land in those
        searches. 150 ticks: long enough for 20 pauses in the ASan build on a loaded host (50
        gave 18 there)."""
        traces, pauses = [], 0
        for paused in (False, True):
            trace = os.path.join(TMP, "spin-%d.trace" % paused)
            with Vmm("spin-%d" % paused) as v:
                cfg = {"payload": {"kernel": guest("timer"), "cmdline": "spin=1 ticks=150"},
                       "dejavm": {"deterministic": True, "record": trace, "exit_budget_ms": 1}}
                self.assertEqual(v.request("PUT", "vm.create", cfg)[0], 204)
                self.assertEqual(v.request("PUT", "vm.boot")[0], 204)
                while paused and v.request("PUT", "vm.pause")[0] == 204:
                    pauses += 1
                    time.sleep(0.002)
                    self.assertEqual(v.request("PUT", "vm.resume")[0], 204)
                v.wait_state("Shutdown")
            traces.append(open(trace, "rb").read())
        landmarks = [e for e in dump(os.path.join(TMP, "spin-1.trace")) if e["type"] == "landmark"]
        self.assertGreater(len(landmarks), 20)
        self.assertGreater(pauses, 20)
        self.assertEqual(traces[0], traces[1], "%d pauses changed the recording" % pauses)

    def test_a_recording_shut_down_through_the_api_replays_to_its_stop(self):
        trace = os.path.join(TMP, "det-stopped.trace")
        with Vmm("det-stopped") as v:
            v.request("PUT", "vm.create", storm_config(1 << 40, deterministic=True, record=trace))
            v.request("PUT", "vm.boot")
            time.sleep(0.5)
            self.assertEqual(v.request("PUT", "vm.shutdown")[0], 204)
        end = dump(trace)[-1]
        self.assertEqual(end["reason"], "shut down through the API")
        p = dejavm_test.run([BIN, "replay", trace])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("events matched", p.stdout)

    def test_pause_in_normal_mode_is_an_event(self):
        trace = os.path.join(TMP, "normal-pause.trace")
        with Vmm("normal-pause") as v:
            v.request("PUT", "vm.create", storm_config(1 << 40, record=trace))
            v.request("PUT", "vm.boot")
            time.sleep(0.2)
            self.assertEqual(v.request("PUT", "vm.pause")[0], 204)
            self.assertEqual(v.request("PUT", "vm.resume")[0], 204)
            self.assertEqual(v.request("PUT", "vm.shutdown")[0], 204)
        states = [e["paused"] for e in dump(trace) if e["type"] == "vm_state"]
        self.assertEqual(states, [1, 0])


class Linux(unittest.TestCase):
    def test_session_with_disk_rng_console_counters_and_reboot(self):
        image = os.path.join(TMP, "disk.img")
        with open(image, "wb") as f:
            f.write(os.urandom(1 << 20))
        serial = os.path.join(TMP, "linux-serial.out")
        trace = os.path.join(TMP, "linux.trace")
        cmdline = open(os.path.join(LINUX, "cmdline.txt")).read().strip()
        cfg = {"memory": {"size": 128 << 20},
               "payload": {"kernel": os.path.join(LINUX, "vmlinux"),
                           "initramfs": os.path.join(LINUX, "initramfs.cpio"), "cmdline": cmdline},
               "disks": [{"path": image, "readonly": True}], "rng": {"src": "/dev/urandom"},
               "serial": {"mode": "File", "file": serial}, "console": {"mode": "Null"},
               "dejavm": {"record": trace}}
        with Vmm("linux") as v:
            self.assertEqual(v.remote("create", stdin=json.dumps(cfg)).returncode, 0)
            self.assertEqual(v.remote("boot").returncode, 0)
            # the disk has been read (its partitions, at probe) and init runs
            for _ in range(1200):
                log = open(serial, errors="replace").read()
                if "dejavm-guest: init reached" in log:
                    break
                time.sleep(0.05)
            self.assertIn("[vda]", log)
            self.assertEqual(v.remote("pause").returncode, 0)
            tree = json.loads(v.remote("info").stdout)["device_tree"]
            counters = json.loads(v.remote("counters").stdout)
            time.sleep(0.5)  # the trace writer flushes what it has every 100 ms
            # device tree: config order, BARs where the guest's log shows them
            want = [("_disk0", "0000:00:01.0"), ("__rng", "0000:00:02.0"),
                    ("__console", "0000:00:03.0")]
            for dev, bdf in want:
                node = tree["_virtio-pci-" + dev]
                self.assertEqual((node["pci_bdf"], node["children"]), (bdf, [dev]))
                self.assertEqual(tree[dev]["parent"], "_virtio-pci-" + dev)
                bar = node["resources"][0]["PciBar"]
                m = re.search(r"pci %s: BAR 0 \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)" % bdf, log)
                self.assertTrue(m, bdf)
                self.assertEqual((bar["base"], bar["size"]),
                                 (int(m.group(1), 16), int(m.group(2), 16) - int(m.group(1), 16) + 1))
            # counters: what the trace's io_done events of the disk (slot 1) add up to
            done = [e for e in dump(trace, truncated=True)
                    if e["type"] == "io_done" and e["dev"] == 1 and e["status"] == 0]
            reads = [e for e in done if e["op"] == 0]
            self.assertGreater(len(reads), 0)
            self.assertEqual(counters["_disk0"]["read_ops"], len(reads))
            self.assertEqual(counters["_disk0"]["read_bytes"], sum(e["bytes"] for e in reads))
            self.assertEqual(counters["_disk0"]["write_ops"], 0)
            p = v.remote("reboot")  # from Paused: the guest would reboot itself soon
            self.assertEqual(p.returncode, 0, p.stderr)
            info = json.loads(v.remote("info").stdout)
            self.assertEqual((info["state"], info["dejavm"]["boots"]), ("Running", 2))
            self.assertEqual(info["dejavm"]["recording"]["state"], "finished")
            v.wait_state("Shutdown", 300)  # the second boot ends as the guest reboots itself
            log = open(serial, errors="replace").read()
            self.assertEqual(log.count("] Linux version"), 2, log[-2000:])
            self.assertIn("dejavm-guest: rebooting", log.split("] Linux version")[2])
        # the first boot's trace is complete and reads
        self.assertTrue(any(e["type"] == "end" for e in dump(trace)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--linux", action="store_true")
    a = ap.parse_args()
    if a.linux:
        require_linux()
    dejavm_test.run_tests([Linux] if a.linux else [Guests],
                          ["DEJAVM_BIN", "DEJAVM_TRACE_BIN", "DEJAVM_GUEST_DIR",
                           "DEJAVM_REMOTE_BIN"])


if __name__ == "__main__":
    main()
