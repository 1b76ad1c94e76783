#!/usr/bin/python3
"""A recorded tiny-Linux boot holds the guest's serial output byte for byte.

Boots the tiny Linux with --record and --serial file=..., decodes the trace independently of
dejavm's reader (zstd -dc + Debian's python3-msgpack), and checks that the serial events,
concatenated in seq order, equal the bytes the UART wrote to the file, and that the trace
ends with the end event of a clean reset. Skips (77) without DEJAVM_LINUX_DIR unless
DEJAVM_REQUIRE_LINUX=1.
"""
import os
import subprocess
import tempfile

import msgpack

from dejavm_test import LINUX, require_linux

SERIAL, END = 4, 7


def main():
    require_linux()
    d = LINUX
    tmp = tempfile.mkdtemp(prefix="dejavm-record-linux-")
    trace, serial = os.path.join(tmp, "boot.trace"), os.path.join(tmp, "serial.out")
    cmdline = open(os.path.join(d, "cmdline.txt")).read().strip()
    p = subprocess.run([os.environ["DEJAVM_BIN"], "--kernel", os.path.join(d, "vmlinux"),
                        "--initramfs", os.path.join(d, "initramfs.cpio"), "--cmdline", cmdline,
                        "--serial", "file=" + serial, "--record", trace],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert p.returncode == 0, "dejavm exited %d: %s" % (p.returncode, p.stderr.decode())
    want = open(serial, "rb").read()
    assert b"dejavm-guest: init reached" in want, "no marker in the serial output"

    raw = subprocess.run(["zstd", "-dcq", trace], stdout=subprocess.PIPE, check=True).stdout
    u = msgpack.Unpacker(raw=False, max_buffer_size=len(raw) + 1)
    u.feed(raw)
    header = next(u)
    assert header["format"] == "dejavm-trace", header.get("format")
    prev_seq, events = {}, {}
    for e in u:
        stream = e[2]
        if e[0] == 0:  # a sync record: [0, base_seq, stream, base_ts]
            prev_seq[stream] = e[1]
            continue
        seq = prev_seq.get(stream, -1) + e[1]
        prev_seq[stream] = seq
        events[seq] = e
    order = [events[s] for s in sorted(events)]
    assert sorted(events) == list(range(len(events))), "sequence numbers are not dense"
    got = b"".join(e[5] for e in order if e[0] == SERIAL)
    assert got == want, "serial events (%d bytes) differ from the UART output (%d bytes)" % (
        len(got), len(want))
    end = order[-1]
    assert end[0] == END and end[4] == 0 and end[7] == 0, "bad end event: %r" % (end,)
    assert end[6] == len(order) - 1, "end event counts %d events, trace has %d" % (
        end[6], len(order) - 1)
    print("ok: %d events, %d serial bytes match, trace %d bytes" % (
        len(order), len(got), os.path.getsize(trace)))
    for f in (trace, serial):
        os.unlink(f)
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
