#!/usr/bin/python3
"""Makes the seed corpora of the fuzz targets (corpora/fuzz/<target>/) from real inputs; see
corpora/fuzz/README for what each seed is. Needs a normal build (the test guests, dejavm,
dejavm-trace, dejavm-remote), /dev/kvm (it records a trace with checkpoints and takes snapshots),
zstd, python3-msgpack, and the tiny Linux's bzImage (tools/guest-kernel/build.sh).

    /usr/bin/python3 tests/fuzz/make_corpora.py --build build [--out corpora/fuzz] [--only GROUP...]

It replaces the seeds it makes; the regression inputs (regress-*) are kept."""
import argparse
import glob
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time

import msgpack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "corpora", "traces")
VIRTIO_BAR_BASE = 0x1000000000  # the 64-bit window (pci.h), for guests below 63 GiB of RAM
VIRTIO_BAR_SIZE = 0x8000
# The fuzz_pci VM's devices, by slot (tests/fuzz/fuzz_pci.c)
FUZZ_SLOT = {"rng": 1, "console": 2, "disk": 3, "net": 4}


def put(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def clear(out, target):
    """Removes the seeds this script made before, keeping the regression inputs."""
    for f in glob.glob(os.path.join(out, target, "*")):
        if not os.path.basename(f).startswith("regress-"):
            os.unlink(f)


# ---- traces ----

def records(path):
    """The header and every record (sync records included) of a trace, as raw msgpack bytes."""
    raw = subprocess.run(["zstd", "-dcq", path], check=True, capture_output=True).stdout
    u = msgpack.Unpacker(raw=True, strict_map_key=False)
    u.feed(raw)
    out, pos = [], 0
    for obj in u:
        end = u.tell()
        out.append((obj, raw[pos:end]))
        pos = end
    return out


def sink_records(recs):
    """The records as the tracer's sink hands them over: a sync record goes with the event
    after it, in one buffer."""
    out, pending = [], b""
    for obj, raw in recs[1:]:
        if obj[0] == 0:
            pending += raw
        else:
            out.append(pending + raw)
            pending = b""
    return out


def header_config(path):
    return records(path)[0][0][b"config"]


def trace_seeds(out, build, tmp):
    clear(out, "trace_reader")
    traces = {}
    for name in ["hello", "timer", "timer-count", "timer-spin", "mmio-storm", "pio-storm",
                 "linux-rng", "linux-disk"]:
        traces[name] = os.path.join(GOLDEN, "GenuineIntel", name + ".trace")
    for name in ["hello", "timer"]:
        traces["compat-minor1-" + name] = os.path.join(GOLDEN, "compat", "GenuineIntel",
                                                       "minor1-%s.trace" % name)
    # a deterministic recording with checkpoint frames (format version 3)
    ckpt = os.path.join(tmp, "timer-ckpt.trace")
    subprocess.run([os.path.join(build, "dejavm"), "--deterministic", "--serial", "null",
                    "--kernel", guest(build, "timer"), "--record", ckpt,
                    "--checkpoint-every", "2"], check=True)
    traces["timer-ckpt"] = ckpt
    # a normal-mode recording with virtio requests (vq_chain, io_done, dma_write)
    normal = os.path.join(tmp, "virtio-blk-io.trace")
    image = os.path.join(tmp, "disk.img")
    with open(image, "wb") as f:
        f.truncate(1 << 20)
    subprocess.run([os.path.join(build, "dejavm"), "--serial", "null", "--kernel",
                    guest(build, "virtio-blk-io"), "--disk", "path=" + image,
                    "--record", normal], check=True)
    traces["virtio-blk-io-normal"] = normal
    for name, path in traces.items():
        with open(path, "rb") as f:
            put(out, "trace_reader", name + ".trace", f.read())
    # the same file cut short: a recording killed half way
    with open(traces["hello"], "rb") as f:
        data = f.read()
    put(out, "trace_reader", "hello-cut.trace", data[:len(data) // 2])

    clear(out, "trace_decoder")
    for name in ["hello", "timer", "timer-ckpt", "mmio-storm", "linux-rng",
                 "virtio-blk-io-normal"]:
        recs = sink_records(records(traces[name]))[:300]
        put(out, "trace_decoder", name + ".records",
            b"".join(struct.pack("<H", len(r)) + r for r in recs))


# ---- PCI, MSI-X, virtio transport (tests/fuzz/fuzz_pci.c's operations) ----

def op_pio(port, size, write, value):
    width = {1: 0, 2: 1, 4: 2}[size]
    return struct.pack("<BHBI", 6, port, width | (0x80 if write else 0), value & 0xffffffff)


def op_cfg_addr(value):
    return struct.pack("<BI", 0, value)


def op_cfg_data(port, size, write, value):
    b = (port & 3) | {1: 0, 2: 1, 4: 2}[size] << 2
    return struct.pack("<BBI", 2, b, value) if write else struct.pack("<BB", 1, b)


def op_bar(slot, off, size, write, value):
    width = {1: 0, 2: 1, 4: 2, 8: 3}[size]
    if write:
        return struct.pack("<BBHBQ", 5, slot, off, width, value)
    return struct.pack("<BBHB", 4, slot, off, width)


def op_cfg_write(slot, reg, size, value):
    return struct.pack("<BBBBI", 3, slot, reg, {1: 0, 2: 1, 4: 2}[size], value)


def op_mem(gpa, data):
    out = b""
    for i in range(0, len(data), 255):
        chunk = data[i:i + 255]
        out += struct.pack("<BIB", 8, gpa + i, len(chunk)) + chunk
    return out


def pci_from_trace(build, path, slots, limit=4000):
    """A real guest's port and BAR accesses, from a trace: config space, the virtio registers
    and the legacy devices' ports; the trace's slots are moved to fuzz_pci's (slots: the
    trace's slot -> ours). The guest memory the devices read is not in a trace."""
    dump = subprocess.run([os.path.join(build, "tools", "trace", "dejavm-trace"), "dump", path,
                           "--type", "pio,mmio"], check=True, capture_output=True,
                          text=True).stdout
    ops = [b"\x01"]  # deterministic: the golden traces are
    for line in dump.splitlines():
        e = json.loads(line)
        if e["type"] == "pio":
            port, size, write, value = e["port"], e["size"], e["write"], e["value"]
            if port == 0xcf8 and size == 4 and write and value & 0x80000000:
                dev = value >> 11 & 31
                value = value & ~(31 << 11) | slots.get(dev, dev) << 11
                ops.append(op_cfg_addr(value))
            elif 0xcfc <= port <= 0xcff:
                ops.append(op_cfg_data(port, size, write, value))
            elif size in (1, 2, 4):
                ops.append(op_pio(port, size, write, value))
        else:
            addr, size = e["addr"], e["len"]
            slot = (addr - VIRTIO_BAR_BASE) // VIRTIO_BAR_SIZE + 1
            if addr >= VIRTIO_BAR_BASE and slot in slots and size in (1, 2, 4, 8):
                ops.append(op_bar(slots[slot], (addr - VIRTIO_BAR_BASE) % VIRTIO_BAR_SIZE,
                                  size, e["write"], e["value"]))
        if len(ops) > limit:
            break
    return b"".join(ops)


def virtio_driver(slot, msix_cap, queues, queue_size=8):
    """Normal mode: what Linux's virtio-pci and MSI-X code do to one device, then a request on
    each of its queues (queues: per queue, the chain's buffers as (length, device-writable)),
    rings and buffers in guest memory, each queue notified, and the ISR, the MSI-X table and
    PBA read back."""
    bar = VIRTIO_BAR_BASE + (slot - 1) * VIRTIO_BAR_SIZE  # where pci_bus_add put it
    ops = [b"\x00"]
    for reg in range(0, 0x100, 4):  # the whole config space, as lspci -xxx
        ops.append(op_cfg_addr(0x80000000 | slot << 11 | reg))
        ops.append(op_cfg_data(0xcfc, 4, False, 0))
    ops.append(op_cfg_write(slot, 0x10, 4, 0xffffffff))  # BAR sizing, then back
    ops.append(op_cfg_write(slot, 0x10, 4, bar & 0xffffffff))
    ops.append(op_cfg_write(slot, 0x04, 2, 0x0006))  # memory decoding, bus master
    ops.append(op_cfg_write(slot, msix_cap + 2, 2, 0x8000))  # MSI-X enable
    for vec in range(len(queues) + 1):  # address, data, unmask
        base = 0x4000 + 16 * vec
        ops += [op_bar(slot, base, 4, True, 0xfee00000), op_bar(slot, base + 4, 4, True, 0),
                op_bar(slot, base + 8, 4, True, 0x40 + vec), op_bar(slot, base + 12, 4, True, 0)]
    common = [(0x14, 1, 0), (0x14, 1, 1), (0x14, 1, 3), (0x00, 4, 0), (0x04, 4, None),
              (0x00, 4, 1), (0x04, 4, None), (0x08, 4, 1), (0x0c, 4, 1), (0x08, 4, 0),
              (0x0c, 4, 0), (0x14, 1, 11), (0x14, 1, None), (0x10, 2, 0)]
    for q in range(len(queues)):
        ring = 0x10000 + 0x10000 * q
        common += [(0x16, 2, q), (0x18, 2, queue_size), (0x1a, 2, q + 1), (0x20, 4, ring),
                   (0x24, 4, 0), (0x28, 4, ring + 0x1000), (0x2c, 4, 0),
                   (0x30, 4, ring + 0x2000), (0x34, 4, 0), (0x1c, 2, 1)]
    common.append((0x14, 1, 15))
    for off, size, value in common:
        ops.append(op_bar(slot, off, size, value is not None, value or 0))
    for q, bufs in enumerate(queues):
        ring = 0x10000 + 0x10000 * q
        desc = b""
        for i, (length, writable) in enumerate(bufs):
            more = i + 1 < len(bufs)
            desc += struct.pack("<QIHH", ring + 0x4000 + 0x1000 * i, length,
                                (1 if more else 0) | (2 if writable else 0), i + 1 if more else 0)
        ops.append(op_mem(ring, desc))
        # the first buffer: a request header (virtio-blk: type 0, a read of sector 0)
        ops.append(op_mem(ring + 0x4000, bytes(16)))
        ops.append(op_mem(ring + 0x1000, struct.pack("<HHH", 0, 1, 0)))
        ops.append(op_bar(slot, 0x3000 + 4 * q, 2, True, q))  # notify
    ops.append(op_bar(slot, 0x1000, 1, False, 0))  # ISR
    ops.append(op_bar(slot, 0x5000, 8, False, 0))  # PBA
    ops.append(op_bar(slot, 0x4000, 8, False, 0))
    ops.append(op_bar(slot, 0x2000, 4, False, 0))  # device config
    ops.append(op_bar(slot, 0x14, 1, True, 0))  # reset
    return b"".join(ops)


def pci_seeds(out, build):
    clear(out, "pci")
    golden = os.path.join(GOLDEN, "GenuineIntel", "%s.trace")
    put(out, "pci", "linux-rng", pci_from_trace(build, golden % "linux-rng", {1: FUZZ_SLOT["rng"]}))
    put(out, "pci", "linux-disk",
        pci_from_trace(build, golden % "linux-disk", {1: FUZZ_SLOT["disk"]}))
    # the MSI-X capability follows the virtio ones: common, ISR, [device,] notify (pci.c)
    put(out, "pci", "msix-rng", virtio_driver(FUZZ_SLOT["rng"], 0x74, [[(64, True)]]))
    put(out, "pci", "msix-console", virtio_driver(FUZZ_SLOT["console"], 0x74,
                                                  [[(64, True)], [(32, False)]]))
    put(out, "pci", "msix-disk", virtio_driver(FUZZ_SLOT["disk"], 0x84,
                                               [[(16, False), (512, True), (1, True)]] * 2))
    put(out, "pci", "msix-net", virtio_driver(FUZZ_SLOT["net"], 0x84,
                                              [[(1526, True)], [(12, False), (60, False)]], 16))


# ---- virtqueues (tests/fuzz/fuzz_virtqueue.c's operations) ----

def vq_write(gpa, data):
    return struct.pack("<BHB", 0, gpa, len(data)) + data


def vq_desc(table, i, addr, length, flags, nxt):
    return vq_write(table + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))


def vq_setup(log2, desc, avail, used, start=0, indirect=False, event_idx=False):
    flags = log2 << 4 | (1 if indirect else 0) | (2 if event_idx else 0)
    return struct.pack("<BHHHH", flags, desc, avail, used, start)


def vq_avail(avail, slot, head, idx):
    return vq_write(avail + 4 + 2 * slot, struct.pack("<H", head)) + \
        vq_write(avail + 2, struct.pack("<H", idx))


def virtqueue_seeds(out):
    clear(out, "virtqueue")
    pop = struct.pack("<BH", 1, 512)
    seeds = {}
    # a block request: header out, data in, status in; then the interrupt question
    s = vq_setup(3, 0x1000, 0x2000, 0x3000)
    s += vq_desc(0x1000, 0, 0x8000, 16, 1, 1) + vq_desc(0x1000, 1, 0x9000, 512, 3, 2)
    s += vq_desc(0x1000, 2, 0xa000, 1, 2, 0)
    s += vq_avail(0x2000, 0, 0, 1) + pop + b"\x03" + struct.pack("<BB", 4, 1)
    seeds["blk-request"] = s
    # the same chain through an indirect table
    s = vq_setup(3, 0x1000, 0x2000, 0x3000, indirect=True)
    s += vq_desc(0x1000, 0, 0x4000, 48, 4, 0)
    s += vq_desc(0x4000, 0, 0x8000, 16, 1, 1) + vq_desc(0x4000, 1, 0x9000, 512, 3, 2)
    s += vq_desc(0x4000, 2, 0xa000, 1, 2, 0)
    s += vq_avail(0x2000, 0, 0, 1) + pop + b"\x03"
    seeds["indirect"] = s
    # EVENT_IDX across the 16-bit wrap, several chains, used_event set by the driver
    s = vq_setup(2, 0x1000, 0x2000, 0x3000, start=0xfffe, event_idx=True)
    for i in range(4):
        s += vq_desc(0x1000, i, 0x8000 + 0x100 * i, 64, 2, 0)
        s += vq_avail(0x2000, (0xfffe + i) & 3, i, (0xfffe + i + 1) & 0xffff)
    s += vq_write(0x2000 + 4 + 2 * 4, struct.pack("<H", 0xffff))
    s += (pop + b"\x03") * 4 + struct.pack("<BB", 4, 1)
    seeds["event-idx-wrap"] = s
    # a chain that loops, and a device that publishes a head it never had
    s = vq_setup(1, 0x1000, 0x2000, 0x3000)
    s += vq_desc(0x1000, 0, 0x8000, 8, 1, 1) + vq_desc(0x1000, 1, 0x8000, 8, 1, 0)
    s += vq_avail(0x2000, 0, 0, 1) + pop + struct.pack("<BHI", 2, 7, 9) + b"\x05" + pop
    seeds["loop-then-reset"] = s
    # the largest queue, a long chain of small buffers
    s = vq_setup(10, 0x0000, 0x4000, 0x5000)
    for i in range(64):
        s += vq_desc(0x0000, i, 0x8000 + 64 * i, 64, 1 | (2 if i >= 32 else 0), i + 1)
    s += vq_desc(0x0000, 64, 0xa000, 1, 2, 0)
    s += vq_avail(0x4000, 0, 0, 1) + pop + b"\x03"
    seeds["long-chain"] = s
    for name, data in seeds.items():
        put(out, "virtqueue", name, data)


# ---- kernels ----

def guest(build, name):
    return os.path.join(build, "corpora", "guests", name + ".elf")


def loader_seeds(out, build):
    clear(out, "elf")
    for name in ["hello", "timer", "virtio-net-bad"]:
        with open(guest(build, name), "rb") as f:
            put(out, "elf", name + ".elf", f.read())
    clear(out, "bzimage")
    kernel = sorted(glob.glob(os.path.expanduser("~/.cache/dejavm/linux-*/bzImage")),
                    key=os.path.getmtime)[-1]
    with open(kernel, "rb") as f:
        head = bytearray(f.read(20 << 10))  # the setup (16 KiB here) and 4 KiB of payload
    put(out, "bzimage", "linux-head.bzImage", bytes(head))
    # the same, its sizes made to fit the cut so that it loads: syssize, init_size
    setup = ((head[0x1f1] or 4) + 1) * 512
    struct.pack_into("<I", head, 0x1f4, (len(head) - setup) // 16)
    struct.pack_into("<I", head, 0x260, 1 << 20)
    put(out, "bzimage", "linux-head-fitted.bzImage", bytes(head))


# ---- command lines, API requests ----

CMDLINES = [
    ["--kernel", "build/corpora/guests/hello.elf"],
    ["--kernel", "build/corpora/guests/pio-storm.elf", "--cmdline", "n=100000", "--stats"],
    ["--kernel", "vmlinux", "--initramfs", "initramfs.cpio", "--cmdline",
     "console=ttyS0 panic=-1 reboot=k", "--memory", "size=128M", "--serial", "file=serial.log",
     "--log-file", "vmm.log", "--stats=json", "-v"],
    ["--deterministic", "--kernel", "vmlinux", "--initramfs", "initramfs.cpio", "--record",
     "boot.trace", "--checkpoint-every", "40", "--rtc-epoch", "1577836800", "--exit-budget",
     "100", "--spin-limit", "10000", "--seccomp", "log"],
    ["--kernel", "vmlinux", "--disk", "path=root.img,readonly=on,serial=abc,num_queues=2,"
     "queue_size=256,id=root,io_engine=sync", "--disk", "path=data.img,direct=on",
     "--rng", "src=/dev/urandom", "--console", "pty"],
    ["--kernel", "vmlinux", "--net", "tap=dvtap0,mac=52:54:00:12:34:56,ip=10.77.0.1,"
     "mask=255.255.255.0", "--net", "tap=dvtap1", "--console", "file=console.log"],
    ["--restore", "source_url=file:///tmp/snap,prefault=on", "--serial", "null",
     "--api-socket", "/tmp/dv2.sock"],
    ["--api-socket", "path=/tmp/dv.sock", "--cpus", "boot=1", "--seccomp", "false"],
    ["--kernel", "k", "--cpus", "boot=2"],
    ["--kernel", "k", "--memory", "size=3G", "--checkpoint-every", "10events"],
    ["--help"],
    ["--version"],
]


def cli_seeds(out):
    clear(out, "cli")
    for i, args in enumerate(CMDLINES):
        put(out, "cli", "cmdline-%02d" % i, b"\0".join(a.encode() for a in args))


def api_seeds(out):
    clear(out, "api")
    storm = {"payload": {"kernel": "build/corpora/guests/pio-storm.elf", "cmdline": "n=1000"},
             "serial": {"mode": "Null"}}
    linux = {"cpus": {"boot_vcpus": 1, "max_vcpus": 1}, "memory": {"size": 134217728},
             "payload": {"kernel": "/path/vmlinux", "initramfs": "/path/initramfs.cpio",
                         "cmdline": "console=ttyS0"},
             "disks": [{"path": "/img/root.raw", "readonly": False}],
             "net": [{"tap": "tap0", "mac": "52:54:00:12:34:56"}],
             "rng": {"src": "/dev/urandom"}, "serial": {"mode": "File", "file": "/tmp/serial.log"},
             "console": {"mode": "Off"},
             "dejavm": {"deterministic": True, "record": "/tmp/boot.trace"}}
    ch_remote = {"payload": {"kernel": "k"}, "iommu": False, "pvpanic": False, "disks": [
        {"path": "/x", "pci_segment": 0, "vhost_user": False, "sparse": True,
         "image_type": "Unknown", "id": "d0", "serial": "s", "num_queues": 2,
         "queue_size": 256, "direct": True}],
        "memory": {"size": 1 << 30, "mergeable": False, "thp": True},
        "cpus": {"boot_vcpus": 1, "kvm_hyperv": False}}

    def rq(method, path, body=None):
        text = "%s /api/v1/%s\n" % (method, path)
        if body is not None:
            text += body if isinstance(body, str) else json.dumps(body)
        return text.encode()

    seqs = {
        "create-info-delete": [rq("GET", "vmm.ping"), rq("PUT", "vm.create", storm),
                               rq("GET", "vm.info"), rq("GET", "vm.counters"),
                               rq("PUT", "vm.pause"), rq("PUT", "vm.delete"),
                               rq("GET", "vm.info")],
        "linux-config": [rq("PUT", "vm.create", linux), rq("GET", "vm.info")],
        "ch-remote-fields": [rq("PUT", "vm.create", ch_remote), rq("GET", "vm.info")],
        "add-devices": [rq("PUT", "vm.create", storm),
                        rq("PUT", "vm.add-disk", {"path": "/y", "readonly": True}),
                        rq("PUT", "vm.add-net", {"tap": "t0", "ip": "10.0.0.1",
                                                 "mask": "255.255.255.0", "id": "n"}),
                        rq("PUT", "vm.add-rng", {"src": "/dev/urandom"}),
                        rq("PUT", "vm.add-rng", {"src": "/dev/urandom"}),
                        rq("GET", "vm.info")],
        "errors": [rq("PUT", "vm.create", "{"), rq("PUT", "vm.create", {"payload": {}}),
                   rq("GET", "vm.create"), rq("GET", "nope"), rq("PUT", "vm.snapshot",
                   {"destination_url": "file:///tmp/x"}), rq("PUT", "vm.resume"),
                   rq("PUT", "vm.add-disk", {"path": "/x"}), rq("PUT", "vmm.shutdown")],
    }
    for name, seq in seqs.items():
        put(out, "api", name, b"\0".join(seq))


# ---- snapshots ----

def remote(build, sock, *args):
    return subprocess.run([os.path.join(build, "tools", "remote", "dejavm-remote"),
                           "--api-socket", sock] + list(args), capture_output=True, text=True)


def take_snapshot(build, tmp, name, args, exits):
    """A snapshot of a VM paused after its exits-th exit (DEJAVM_TEST_PAUSE_AFTER), as the fuzz
    input: the state file's length, the state file, the memory file."""
    sock, snap = os.path.join(tmp, name + ".sock"), os.path.join(tmp, name + ".snap")
    vmm = subprocess.Popen([os.path.join(build, "dejavm"), "--api-socket", sock,
                            "--serial", "null"] + args,
                           env=dict(os.environ, DEJAVM_TEST_PAUSE_AFTER=str(exits)))
    try:
        for _ in range(300):
            p = remote(build, sock, "info")
            if p.returncode == 0 and json.loads(p.stdout)["state"] == "Paused":
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("%s: never paused" % name)
        p = remote(build, sock, "snapshot", "file://" + snap)
        if p.returncode:
            raise RuntimeError("%s: snapshot: %s" % (name, p.stderr))
        remote(build, sock, "shutdown-vmm")
        vmm.wait(60)
    finally:
        if vmm.poll() is None:
            vmm.kill()
            vmm.wait()
    with open(os.path.join(snap, "state.msgpack"), "rb") as f:
        state = f.read()
    with open(os.path.join(snap, "memory"), "rb") as f:
        memory = f.read()
    return struct.pack("<I", len(state)) + state + memory


def snapshot_seeds(out, build, tmp):
    clear(out, "snapshot")
    image = os.path.join(tmp, "snap-disk.img")
    with open(image, "wb") as f:
        f.truncate(1 << 20)
    snaps = {
        "hello-normal": (["--kernel", guest(build, "hello"), "--memory", "size=8M"], 5),
        "timer-deterministic": (["--deterministic", "--kernel", guest(build, "timer"),
                                 "--memory", "size=8M"], 100),
        # the guest looks for its disk at 00:01.0
        "virtio-deterministic": (["--deterministic", "--kernel", guest(build, "virtio-blk-io"),
                                  "--memory", "size=8M", "--disk", "path=" + image,
                                  "--rng", "src=/dev/urandom", "--console", "null"], 600),
        "virtio-normal": (["--kernel", guest(build, "virtio-blk-io"), "--memory", "size=8M",
                           "--disk", "path=" + image + ",io_engine=sync", "--console", "null"],
                          600),
    }
    for name, (args, exits) in snaps.items():
        put(out, "snapshot", name, take_snapshot(build, tmp, name, args, exits))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "corpora", "fuzz"))
    groups = {
        "traces": lambda: trace_seeds(a.out, build, tmp),  # trace_reader and trace_decoder
        "pci": lambda: pci_seeds(a.out, build),
        "virtqueue": lambda: virtqueue_seeds(a.out),
        "loaders": lambda: loader_seeds(a.out, build),  # elf and bzimage
        "cli": lambda: cli_seeds(a.out),
        "api": lambda: api_seeds(a.out),
        "snapshot": lambda: snapshot_seeds(a.out, build, tmp),
    }
    ap.add_argument("--only", nargs="+", choices=sorted(groups), default=sorted(groups),
                    help="make only these seeds")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    tmp = tempfile.mkdtemp(prefix="dejavm-corpora-")
    try:
        for g in a.only:
            groups[g]()
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
