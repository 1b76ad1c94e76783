#!/usr/bin/python3
"""The tiny Linux on dejavm's PCI bus with a virtio-rng device, in normal and deterministic mode.

Checks, from the guest's own boot log and from the trace:
  - the host bridge at 00:00.0 (8086:0d57) and virtio-rng at 00:01.0 (1af4:1044, class ff0000)
    with its BAR in the 32-bit window, and in normal mode INTA routed through the MP table to
    IOAPIC pin 16;
  - every byte the device gave the guest came from the --rng source, in order (the source is a
    file of known bytes), with a vq_chain and an io_done event per request;
  - deterministic mode: the boot still reaches init; a replay with --feed matches with the source
    file deleted (the entropy is in the trace), and without --feed it cannot start without it.
Skips (77) without DEJAVM_LINUX_DIR unless DEJAVM_REQUIRE_LINUX=1.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

BIN, TOOL = os.environ.get("DEJAVM_BIN"), os.environ.get("DEJAVM_TRACE_BIN")
LINUX = os.environ.get("DEJAVM_LINUX_DIR")


def run(args, timeout=300):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace", timeout=timeout)


def dump(trace, typ):
    p = run([TOOL, "dump", trace, "--type", typ])
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def boot(tmp, name, source, deterministic):
    cmdline = open(os.path.join(LINUX, "cmdline-deterministic.txt" if deterministic
                                else "cmdline.txt")).read().strip()
    trace, serial = os.path.join(tmp, name + ".trace"), os.path.join(tmp, name + ".out")
    args = [BIN, "--kernel", os.path.join(LINUX, "vmlinux"), "--initramfs",
            os.path.join(LINUX, "initramfs.cpio"), "--cmdline", cmdline, "--rng", "src=" + source,
            "--serial", "file=" + serial, "--record", trace]
    p = run(args + (["--deterministic"] if deterministic else []))
    assert p.returncode == 0, "%s: dejavm exited %d: %s" % (name, p.returncode, p.stderr)
    log = open(serial, errors="replace").read()
    assert "dejavm-guest: init reached" in log, name + ": no init marker"
    return trace, log


def check_data(trace, pool):
    chains, done, dma = dump(trace, "vq_chain"), dump(trace, "io_done"), dump(trace, "dma_write")
    assert chains and len(chains) == len(done) == len(dma), (len(chains), len(done), len(dma))
    given = b"".join(bytes.fromhex(e["data"]) for e in dma)
    assert given == pool[:len(given)], "the guest got bytes that are not the source's, in order"
    for c, d, w in zip(chains, done, dma):
        assert c["dev"] == d["dev"] == w["dev"] == 1 and c["head"] == d["head"]
        room = sum(int.from_bytes(bytes.fromhex(c["descs"])[i + 8:i + 12], "little")
                   for i in range(0, len(c["descs"]) // 2, 13))
        assert d["bytes"] == len(bytes.fromhex(w["data"])) <= room
    return len(given)


def main():
    if not LINUX:
        if os.environ.get("DEJAVM_REQUIRE_LINUX") == "1":
            sys.exit("DEJAVM_LINUX_DIR is not set but DEJAVM_REQUIRE_LINUX=1")
        print("skipped: DEJAVM_LINUX_DIR is not set")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="dejavm-virtio-linux-")
    pool = b"".join(hashlib.sha256(b"dejavm %d" % i).digest() for i in range(2048))  # 64 KiB
    source = os.path.join(tmp, "entropy.bin")
    open(source, "wb").write(pool)

    trace, log = boot(tmp, "normal", source, False)
    for want in ("pci 0000:00:00.0: [8086:0d57] type 00 class 0x060000",
                 "pci 0000:00:01.0: [1af4:1044] type 00 class 0xff0000",
                 "pci 0000:00:01.0: BAR 0 [mem 0xc0000000-0xc0003fff]",
                 "virtio-pci 0000:00:01.0: PCI->APIC IRQ transform: INT A -> IRQ 16"):
        assert want in log, "normal mode: the boot log lacks %r" % want
    n = check_data(trace, pool)
    print("normal mode: devices at the expected BDFs; %d entropy bytes, all from the source" % n)

    trace, log = boot(tmp, "deterministic", source, True)
    n = check_data(trace, pool)
    os.unlink(source)
    p = run([BIN, "replay", trace])
    assert p.returncode == 0, "replay --feed without the source: " + p.stdout + p.stderr
    assert "events matched" in p.stdout
    p = run([BIN, "replay", trace, "--live"])
    assert p.returncode == 1 and "entropy.bin" in p.stderr, p.stdout + p.stderr
    print("deterministic mode: %d entropy bytes; replay --feed matches with the source gone" % n)


if __name__ == "__main__":
    main()
