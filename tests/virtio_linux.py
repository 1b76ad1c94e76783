#!/usr/bin/python3
"""The tiny Linux on dejavm's PCI bus with virtio-blk and virtio-rng, in normal and deterministic mode.

Checks, from the guest's own boot log and from the trace:
  - the host bridge at 00:00.0 (8086:0d57), virtio-blk at 00:01.0 (1af4:1042, class 018000) and
    virtio-rng at 00:02.0 (1af4:1044, class ff0000), in command-line order, with 64-bit BARs in
    the window at 64 GiB; in normal mode their interrupts are MSI-X (msi events in the trace, a
    vector per queue, no INTx line raised, and PCI-MSI lines in the guest's /proc/interrupts),
    in deterministic mode INTx on the VMM's PIC (XT-PIC lines);
  - Linux finds the partition on /dev/vda, and the bytes the disk gave it are the image's;
  - init (tools/guest-kernel/init.c) sees the PCI devices, reads the disk's serial from sysfs,
    reads /dev/vda and writes to it (the image on the host changes there and nowhere else), gets
    bytes from /dev/hwrng that the device gave, and prints a line on hvc0 (virtio-console);
  - every byte the rng gave the guest came from the --rng source, in order (the source is a file
    of known bytes), with a vq_chain and an io_done event per request;
  - deterministic mode: a recording as usual and three with a 30 ms exit budget on a host loaded
    by a CPU hog (the watchdog kicks the vCPU many times in every boot) are byte-identical; a
    replay with --feed matches with the image and the entropy source deleted (their data is in
    the trace), --live cannot start.
Skips (77) without DEJAVM_LINUX_DIR unless DEJAVM_REQUIRE_LINUX=1.
"""
import hashlib
import os
import re
import shutil
import tempfile

from dejavm_test import BIN, LINUX, TOOL, CpuHog, dump, require_linux, run

IMAGE = b""  # the disk image as created


def boot(tmp, name, source, image, deterministic, extra=()):
    cmdline = open(os.path.join(LINUX, "cmdline-deterministic.txt" if deterministic
                                else "cmdline.txt")).read().strip()
    # One serial file for all: its path is in the trace header, which must not differ.
    trace, serial = os.path.join(tmp, name + ".trace"), os.path.join(tmp, "serial.out")
    args = [BIN, "--kernel", os.path.join(LINUX, "vmlinux"), "--initramfs",
            os.path.join(LINUX, "initramfs.cpio"), "--cmdline", cmdline,
            "--disk", "path=" + image + ",serial=dejavm-test-disk", "--rng", "src=" + source,
            "--console", "file=" + os.path.join(tmp, "hvc0.out"),
            "--serial", "file=" + serial, "--record", trace]
    p = run(args + (["--deterministic"] if deterministic else []) + list(extra))
    assert p.returncode == 0, "%s: dejavm exited %d: %s" % (name, p.returncode, p.stderr)
    log = open(serial, errors="replace").read()
    assert "dejavm-guest: init reached" in log, name + ": no init marker"
    # What init saw of the devices (tools/guest-kernel/init.c check_devices).
    for want in ("pci: 0000:00:00.0\npci: 0000:00:01.0\npci: 0000:00:02.0\npci: 0000:00:03.0\n",
                 "vda/serial: dejavm-test-disk\n", "vda: sector 8: %s\n" % IMAGE[4096:4112].hex(),
                 "vda: wrote sector 16\n", "hvc0: written\n"):
        assert want in log, "%s: init did not print %r" % (name, want)
    assert open(os.path.join(tmp, "hvc0.out")).read() == "dejavm-guest: hello on hvc0\n"
    written = open(image, "rb").read()
    assert written[16 * 512:17 * 512].startswith(b"dejavm-guest: written by the guest"), name
    assert written[:16 * 512] == IMAGE[:16 * 512] and written[17 * 512:] == IMAGE[17 * 512:]
    hwrng = bytes.fromhex(log.split("hwrng: ")[1][:32])
    given = b"".join(bytes.fromhex(e["data"]) for e in dump(trace, "--type", "dma_write") if e["dev"] == 2)
    assert hwrng in given, "%s: /dev/hwrng gave bytes the device did not" % name
    return trace, log


def check_disk(trace, image_bytes):
    done = [e for e in dump(trace, "--type", "io_done") if e["dev"] == 1]
    dma = [e for e in dump(trace, "--type", "dma_write") if e["dev"] == 1]
    reads = [e for e in done if e["op"] == 0]
    ids = [e for e in done if e["op"] == 8]  # GET_ID: its data is the serial
    assert reads and ids and all(e["status"] == 0 for e in done), done
    assert len(dma) == len(reads) + len(ids)
    assert any(e["op"] == 1 for e in done) and any(e["op"] == 4 for e in done)  # OUT, FLUSH
    for r in reads:
        w = [e for e in dma if e["seq"] < r["seq"]][-1]  # the request's data, just before it
        data = bytes.fromhex(w["data"])
        assert len(data) == r["bytes"]
        assert data == image_bytes[r["offset"]:r["offset"] + r["bytes"]], "read %r" % r
    return len(reads)


def check_data(trace, pool):
    chains = [e for e in dump(trace, "--type", "vq_chain") if e["dev"] == 2]
    done = [e for e in dump(trace, "--type", "io_done") if e["dev"] == 2]
    dma = [e for e in dump(trace, "--type", "dma_write") if e["dev"] == 2]
    assert chains and len(chains) == len(done) == len(dma), (len(chains), len(done), len(dma))
    given = b"".join(bytes.fromhex(e["data"]) for e in dma)
    assert given == pool[:len(given)], "the guest got bytes that are not the source's, in order"
    for c, d, w in zip(chains, done, dma):
        assert c["head"] == d["head"]
        room = sum(int.from_bytes(bytes.fromhex(c["descs"])[i + 8:i + 12], "little")
                   for i in range(0, len(c["descs"]) // 2, 13))
        assert d["bytes"] == len(bytes.fromhex(w["data"])) <= room
    return len(given)


def check_msix(trace):
    """Normal mode: completions interrupt through MSI-X vectors (vector 0 is for config
    changes, queue 0 has vector 1), and no device raised an INTx line."""
    msi = dump(trace, "--type", "msi")
    for dev in (1, 2):
        done = [e for e in dump(trace, "--type", "io_done") if e["dev"] == dev]
        got = [e for e in msi if e["dev"] == dev]
        assert got and {e["vector"] for e in got} == {1}, (dev, got)
        assert 0 < len(got) <= len(done), (dev, len(got), len(done))
        assert all(e["data"] == got[0]["data"] for e in got)
    lines = {e["line"] for e in dump(trace, "--type", "irq")}
    assert not lines & {16, 17, 18, 19}, "INTx raised although MSI-X is on: %s" % lines


def main():
    require_linux()
    tmp = tempfile.mkdtemp(prefix="dejavm-virtio-linux-")
    pool = b"".join(hashlib.sha256(b"dejavm %d" % i).digest() for i in range(2048))  # 64 KiB
    source = os.path.join(tmp, "entropy.bin")
    open(source, "wb").write(pool)
    disk = bytearray(pool[:1 << 20] * 16)[:1 << 20]  # 1 MiB of known bytes, one partition
    disk[446:462] = bytes([0, 0, 0, 0, 0x83, 0, 0, 0]) + (1).to_bytes(4, "little") + \
        (100).to_bytes(4, "little")
    disk[462:510] = bytes(48)  # the other three entries: empty
    disk[510:512] = b"\x55\xaa"
    global IMAGE
    IMAGE = bytes(disk)
    image = os.path.join(tmp, "disk.img")
    open(image, "wb").write(disk)

    trace, log = boot(tmp, "normal", source, image, False)
    for want in ("pci 0000:00:00.0: [8086:0d57] type 00 class 0x060000",
                 "pci 0000:00:01.0: [1af4:1042] type 00 class 0x018000",
                 "pci 0000:00:01.0: BAR 0 [mem 0x1000000000-0x1000007fff 64bit pref]",
                 "pci 0000:00:02.0: [1af4:1044] type 00 class 0xff0000",
                 "pci 0000:00:02.0: BAR 0 [mem 0x1000008000-0x100000ffff 64bit pref]",
                 "[vda] 2048 512-byte logical blocks", " vda: vda1"):
        assert want in log, "normal mode: the boot log lacks %r" % want
    check_msix(trace)
    # init shows /proc/interrupts: a vector per queue, as the driver asked for them
    for want in (r"PCI-MSI \d+-edge +virtio0-config", r"PCI-MSI \d+-edge +virtio0-req\.0",
                 r"PCI-MSI \d+-edge +virtio1-input"):
        assert re.search(r"interrupts: +\d+: +[1-9]\d* +" + want if "config" not in want
                         else want, log), "normal mode: no %r in /proc/interrupts" % want
    reads, n = check_disk(trace, IMAGE), check_data(trace, pool)
    print("normal mode: devices at the expected BDFs; %d disk reads with the image's bytes; "
          "%d entropy bytes, all from the source" % (reads, n))

    traces = []
    for i in range(4):  # each from the pristine image: the guest writes to it
        open(image, "wb").write(IMAGE)
        if i == 0:
            trace, log = boot(tmp, "deterministic-0", source, image, True)
        else:
            with CpuHog():
                trace, log = boot(tmp, "deterministic-%d" % i, source, image, True,
                                  ["--exit-budget", "30"])
        traces.append(trace)
        for want in (r"interrupts: +10: +[1-9]\d* +XT-PIC +virtio0",
                     r"interrupts: +11: +[1-9]\d* +XT-PIC +virtio1"):
            assert re.search(want, log), "deterministic mode: no %r in /proc/interrupts" % want
    for i in range(1, 4):
        assert open(traces[0], "rb").read() == open(traces[i], "rb").read(), \
            "recording %d (--exit-budget 30, under load) differs: dejavm-trace diff %s %s" % (
                i, traces[0], traces[i])
    reads, n = check_disk(traces[0], IMAGE), check_data(traces[0], pool)
    os.unlink(source)
    os.unlink(image)
    p = run([BIN, "replay", traces[0]])
    assert p.returncode == 0, "replay --feed without image and source: " + p.stdout + p.stderr
    assert "events matched" in p.stdout
    p = run([BIN, "replay", traces[0], "--live"])
    assert p.returncode == 1 and "disk.img" in p.stderr, p.stdout + p.stderr
    print("deterministic mode: 4 identical recordings (3 under load), %d disk reads, %d entropy bytes; replay "
          "--feed matches with the image and the source gone" % (reads, n))
    shutil.rmtree(tmp)  # kept only when an assertion failed, to look at


if __name__ == "__main__":
    main()
