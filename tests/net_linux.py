#!/usr/bin/python3
"""The tiny Linux with virtio-net on a tap device in a network namespace of its own: it pings the
host side of the tap. No traffic leaves the machine.

Checks, from the guest's own boot log and from the trace:
  - virtio-rng at 00:01.0 and virtio-net at 00:02.0 (1af4:1041, class 020000), in command-line
    order; init (tools/guest-kernel/init.c) sees both, eth0 has the MAC given with mac=;
  - with dejavm.ip=10.77.0.2/24 dejavm.ping=10.77.0.1 init configures eth0 and gets 3/3 echo
    replies from the host side of the tap, which dejavm created and configured (ip=, mask=);
  - the trace holds the transmit and receive chains (vq_chain, queues 1 and 0), an io_done for
    each (op 0 receive / 1 transmit, the frame's length, status 0), and every received
    frame as a dma_write: a zeroed 12-byte virtio_net_hdr (num_buffers 1) and an Ethernet frame
    to the guest's MAC, among them the three echo replies;
  - deterministic mode: the recording's ping works too, and `dejavm replay --feed` of it matches
    outside the namespace, with no tap (the frames come from the trace).
Needs root and the `ip` tool (skips with 77 otherwise); skips without DEJAVM_LINUX_DIR unless
DEJAVM_REQUIRE_LINUX=1. The namespace is always deleted.
"""
import functools
import json
import os
import shutil
import tempfile

import dejavm_test
from dejavm_test import BIN, LINUX, TOOL, dump, require_linux, skip

run = functools.partial(dejavm_test.run, timeout=600)

NS = "dejavm-net-%d" % os.getpid()
MAC = "52:54:00:aa:bb:cc"
GUEST_IP, HOST_IP = "10.77.0.2", "10.77.0.1"
NET_DEV = 2  # PCI slot: after the rng


def boot(tmp, name, deterministic):
    cmdline = open(os.path.join(LINUX, "cmdline-deterministic.txt" if deterministic
                                else "cmdline.txt")).read().strip()
    cmdline += " dejavm.ip=%s/24 dejavm.ping=%s" % (GUEST_IP, HOST_IP)
    trace, serial = os.path.join(tmp, name + ".trace"), os.path.join(tmp, name + ".serial")
    args = ["ip", "netns", "exec", NS, BIN, "--kernel", os.path.join(LINUX, "vmlinux"),
            "--initramfs", os.path.join(LINUX, "initramfs.cpio"), "--cmdline", cmdline,
            "--rng", "src=/dev/urandom",
            "--net", "tap=dvtap0,ip=%s,mask=255.255.255.0,mac=%s" % (HOST_IP, MAC),
            "--serial", "file=" + serial, "--record", trace]
    p = run(args + (["--deterministic"] if deterministic else []))
    assert p.returncode == 0, "%s: dejavm exited %d: %s" % (name, p.returncode, p.stderr)
    log = open(serial, errors="replace").read()
    assert "dejavm-guest: init reached" in log, name + ": no init marker"
    for want in ("pci 0000:00:02.0: [1af4:1041] type 00 class 0x020000",
                 "pci 0000:00:01.0: [1af4:1044] type 00 class 0xff0000",
                 "pci: 0000:00:01.0\npci: 0000:00:02.0\n",
                 "init: eth0 mac %s\n" % MAC, "init: eth0 %s/24 up\n" % GUEST_IP,
                 "init: ping %s: 3/3 replies\n" % HOST_IP):
        assert want in log, "%s: the boot log lacks %r:\n%s" % (
            name, want, "\n".join(l for l in log.splitlines() if "init:" in l or "error" in l))
    for seq in (1, 2, 3):
        assert "init: ping reply from %s: icmp_seq=%d ttl=64" % (HOST_IP, seq) in log, name
    return trace, log


def check_trace(name, trace):
    p = run([TOOL, "info", trace, "--json"])
    assert p.returncode == 0, p.stderr
    net = json.loads(p.stdout)["config"]["net"]
    assert net == [{"tap": "dvtap0", "mac": MAC, "ip": HOST_IP, "mask": "255.255.255.0",
                    "order": 1, "id": None}], net
    chains = [e for e in dump(trace, "--type", "vq_chain") if e["dev"] == NET_DEV]
    dma = [e for e in dump(trace, "--type", "dma_write") if e["dev"] == NET_DEV]
    rx = [e for e in chains if e["queue"] == 0]
    tx = [e for e in chains if e["queue"] == 1]
    assert len(tx) >= 4, "%s: %d transmit chains (ARP + 3 echo requests at least)" % (name,
                                                                                     len(tx))
    for c in tx:  # every buffer of a transmit chain is device-readable
        d = bytes.fromhex(c["descs"])
        assert all(d[i + 12] == 0 for i in range(0, len(d), 13)), c
    # Every receive chain got exactly one frame, recorded right after it was taken.
    assert rx and len(rx) == len(dma), "%s: %d receive chains, %d dma_write" % (name, len(rx),
                                                                               len(dma))
    replies = 0
    mac = bytes.fromhex(MAC.replace(":", ""))
    for c, w in zip(rx, dma):
        assert c["seq"] < w["seq"] and w["offset"] == 0
        data = bytes.fromhex(w["data"])
        hdr, frame = data[:12], data[12:]
        assert hdr == bytes(10) + b"\x01\x00", "%s: virtio_net_hdr %s" % (name, hdr.hex())
        assert len(frame) >= 14 and frame[0:6] in (mac, b"\xff" * 6) or frame[0] & 1, frame[:14]
        if (frame[12:14] == b"\x08\x00" and frame[23] == 1 and frame[26:30] == bytes(
                map(int, HOST_IP.split("."))) and frame[14 + (frame[14] & 15) * 4] == 0):
            replies += 1
    assert replies >= 3, "%s: %d ICMP echo replies among the received frames" % (name, replies)
    # Every chain taken has its completion: the frame's length (received: as recorded in the
    # dma_write after the 12-byte header), status 0, in the queue's order.
    done = [e for e in dump(trace, "--type", "io_done") if e["dev"] == NET_DEV]
    for q, op, taken in ((0, 0, rx), (1, 1, tx)):
        got = [e for e in done if e["queue"] == q]
        assert [e["head"] for e in got] == [c["head"] for c in taken], (name, q)
        assert all(e["op"] == op and e["status"] == 0 and e["bytes"] >= 14 for e in got), got
    assert [e["bytes"] for e in done if e["queue"] == 0] == [
        len(bytes.fromhex(w["data"])) - 12 for w in dma], name
    # Each frame's XXH3-64 is in its io_done (what a replay compares of what the guest sent).
    assert all(e["hash"] != 0 for e in done), name
    assert len({e["hash"] for e in done if e["queue"] == 1}) > 1, name
    return len(tx), len(rx)


def bad_guest(tmp, deterministic):
    """corpora/guests/virtio-net-bad.c: malformed chains come back unused; the device works on."""
    guest = os.path.join(os.environ["DEJAVM_GUEST_DIR"], "virtio-net-bad.elf")
    trace = os.path.join(tmp, "bad-%d.trace" % deterministic)
    p = run(["ip", "netns", "exec", NS, BIN, "--kernel", guest, "--record", trace,
             "--net", "tap=dvbad0,ip=%s,mac=%s" % (HOST_IP, MAC)] +
            (["--deterministic"] if deterministic else []), timeout=120)
    assert p.returncode == 0, "virtio-net-bad: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr)
    assert "virtio-net-bad: 7 of 7 cases held" in p.stdout, p.stdout
    for want in ("transmit chain 0: 1 of its 2 buffers are device-writable; returned unused",
                 "transmit chain 0: 8 bytes, less than the 12-byte header",
                 "transmit chain 0: a frame of 69988 bytes (at most 65550)",
                 "receive chain 0: 1 of its 1 buffers are device-readable",
                 "receive chain 1: 8 bytes, less than the 12-byte header",
                 "receive chain 2: a frame of "):
        assert want in p.stderr, "virtio-net-bad: no %r in:\n%s" % (want, p.stderr)
    assert "needs a reset" not in p.stderr, p.stderr
    return trace


def bad_guest_restored(tmp):
    """virtio-net-bad paused half way, snapshotted, the VMM ended, restored (a new tap of the same
    name): the device's state goes on, every case still holds."""
    guest = os.path.join(os.environ["DEJAVM_GUEST_DIR"], "virtio-net-bad.elf")
    args = ["--kernel", guest, "--net", "tap=dvbad1,ip=%s,mac=%s" % (HOST_IP, MAC)]
    netns = ["ip", "netns", "exec", NS]
    p = run(netns + [BIN, "--serial", "null", "--stats=json"] + args, timeout=120)
    assert p.returncode == 0, p.stderr
    exits = json.loads(p.stderr[p.stderr.rindex('{"run_time_ns'):])["exits_total"]
    before, after = os.path.join(tmp, "bad.before"), os.path.join(tmp, "bad.after")
    snap = os.path.join(tmp, "bad.snap")
    with dejavm_test.Vmm(tmp, "bad", "--serial", "file=" + before, *args, prefix=netns,
                         env={"DEJAVM_TEST_PAUSE_AFTER": str(exits // 2)}) as v:
        v.wait_state("Paused")
        st, body = v.request("PUT", "vm.snapshot", {"destination_url": "file://" + snap})
        assert st == 204, (st, body, v.output())
    p = run(netns + [BIN, "--restore", "source_url=file://" + snap, "--serial",
                     "file=" + after], timeout=120)
    out = open(before).read() + open(after).read()
    assert p.returncode == 0, "restored virtio-net-bad: exit %d\n%s%s" % (p.returncode, out,
                                                                          p.stderr)
    assert "virtio-net-bad: 7 of 7 cases held" in out, out
    assert "needs a reset" not in p.stderr, p.stderr


def main():
    require_linux()
    if os.geteuid() != 0:
        skip("needs root (a network namespace and a tap device)")
    if not shutil.which("ip"):
        skip("needs the ip tool (iproute2)")
    if not os.path.exists("/dev/net/tun"):
        skip("no /dev/net/tun")
    p = run(["ip", "netns", "add", NS])
    if p.returncode:
        skip("cannot create a network namespace: " + p.stderr.strip())
    tmp = tempfile.mkdtemp(prefix="dejavm-net-linux-")
    try:
        # An interface of that name that is not a tap: a clear error naming it, exit 1.
        p = run(["ip", "netns", "exec", NS, BIN, "--kernel", os.path.join(
            os.environ["DEJAVM_GUEST_DIR"], "hello.elf"), "--net", "tap=lo"], timeout=60)
        assert p.returncode == 1 and "--net tap=lo: cannot open or create the tap" in p.stderr, \
            (p.returncode, p.stderr)
        bad_guest(tmp, False)
        bad_trace = bad_guest(tmp, True)
        bad_guest_restored(tmp)
        print("virtio-net-bad: snapshotted half way and restored, every case held")
        print("virtio-net-bad: malformed transmit and receive chains returned unused, in normal "
              "and deterministic mode")
        trace, _ = boot(tmp, "normal", False)
        ntx, nrx = check_trace("normal", trace)
        print("normal mode: virtio-net at 00:02.0, eth0 %s, 3/3 ping replies; %d transmit and "
              "%d receive chains, every received frame recorded" % (MAC, ntx, nrx))
        trace, _ = boot(tmp, "deterministic", True)
        ntx, nrx = check_trace("deterministic", trace)
    finally:
        run(["ip", "netns", "del", NS])
    # Outside the namespace, with no tap: the received frames come from the trace.
    p = run([BIN, "replay", bad_trace])
    assert p.returncode == 0 and "events matched" in p.stdout, p.stdout + p.stderr
    p = run([BIN, "replay", trace], timeout=900)
    assert p.returncode == 0, "replay --feed: " + p.stdout + p.stderr
    assert "events matched" in p.stdout, p.stdout
    # A transmitted frame that differs (its hash changed, as a VMM bug in the device would) is
    # found at its io_done.
    sent = [e for e in dump(trace, "--type", "io_done") if e["dev"] == NET_DEV and e["op"] == 1]
    env = dict(os.environ, DEJAVM_TEST_MUTATE="event:%d:hash:0x10" % sent[1]["seq"])
    p = run([BIN, "replay", trace], timeout=900, env=env)
    assert p.returncode == 1 and "DIVERGENCE at event %d (seq %d)" % (
        sent[1]["seq"], sent[1]["seq"]) in p.stdout and "differing: hash" in p.stdout, p.stdout
    print("deterministic mode: 3/3 ping replies, %d transmit and %d receive chains; replay --feed "
          "without a tap matches, and finds a changed transmitted frame" % (ntx, nrx))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
