#!/usr/bin/python3
"""The PCI and virtio-pci rules a guest relies on, each checked by the test guest that found it
broken (corpora/guests, docs/guest-abi.md):

  - virtio-bus-master: no DMA while COMMAND's Bus Master Enable is clear, and what was notified
    meanwhile is done once it is set (PCI 3.0 6.2.2);
  - pci-intx: STATUS.Interrupt and COMMAND.Interrupt Disable (PCI 3.0 6.2.2, 6.2.3);
  - pci-msix: MSI-X Enable, Function Mask, per-vector masks and the pending bits (PCI 3.0
    6.8.2), and no message while Bus Master Enable is clear;
  - virtio-wide-access: 8-byte accesses to the 64-bit common-configuration fields, and widths
    the spec forbids (virtio 1.x 4.1.3.1);
  - virtio-pci-cfg: the VIRTIO_PCI_CAP_PCI_CFG window (virtio 1.x 4.1.4.9).

What a well-behaved guest can see comes with machine version 2 (src/machine.h): each guest also
runs as machine version 1 (--machine-version 1, its machine=1 argument) and must see exactly what
dejavm showed before. Deterministic runs are recorded with checkpoints and replayed.

  python3 pci_spec_test.py        (DEJAVM_BIN, DEJAVM_TRACE_BIN, DEJAVM_GUEST_DIR from meson)
"""
import os
import re
import unittest

from dejavm_test import BIN, dump, guest, info, run, run_tests, scratch_dir

TMP = scratch_dir("dejavm-pci-spec-test-")
RNG = ["--rng", "src=/dev/urandom"]


def disk():
    path = os.path.join(TMP, "disk.img")
    open(path, "wb").write(b"\xab" * (1 << 20))
    return ["--disk", "path=%s,serial=bus-master" % path]


class GuestCase(unittest.TestCase):
    def run_guest(self, name, cases, devices, cmdline="", det=False, v1=False, record=None):
        """Runs the guest; every one of its `cases` must hold. Returns the finished process;
        with record (deterministic), and the trace, replayed from every checkpoint."""
        args = [BIN, "--kernel", guest(name), "--serial", "tty"] + devices
        if v1:
            args += ["--machine-version", "1"]
            cmdline = (cmdline + " machine=1").strip()
        args += ["--cmdline", cmdline]
        if det:
            args.append("--deterministic")
        if record:
            record = os.path.join(TMP, record)
            args += ["--record", record, "--checkpoint-every", "500events"]
        p = run(args, 300)
        what = "%s %s%s%s" % (name, cmdline, " det" if det else "", " v1" if v1 else "")
        self.assertEqual(p.returncode, 0, "%s: %s%s" % (what, p.stdout, p.stderr))
        self.assertIn("%s: %d of %d cases held" % (name, cases, cases), p.stdout,
                      "%s: %s" % (what, p.stdout))
        self.assertNotIn("FAILED", p.stdout, what)
        if record:
            self.assertEqual(info(record)["config"]["machine_version"], 1 if v1 else 2)
            r = run([BIN, "replay", record, "--jobs", "2"], 600)
            self.assertEqual(r.returncode, 0, "%s: replay: %s%s" % (what, r.stdout, r.stderr))
            self.assertIn("events matched", r.stdout, what)
        return p, record


class BusMaster(GuestCase):
    """virtio-bus-master: nothing read or written while BME is clear, done once it is set."""

    def test_virtio_rng(self):
        self.run_guest("virtio-bus-master", 6, RNG)
        self.run_guest("virtio-bus-master", 6, RNG, det=True, record="bme-rng.trace")

    def test_virtio_blk(self):
        # normal mode: the notification goes to the disk's I/O thread through an ioeventfd
        self.run_guest("virtio-bus-master", 6, disk())
        self.run_guest("virtio-bus-master", 6, disk(), det=True)

    def test_version_1_ignores_bus_master_enable(self):
        self.run_guest("virtio-bus-master", 6, RNG, v1=True)
        self.run_guest("virtio-bus-master", 6, disk(), v1=True)
        self.run_guest("virtio-bus-master", 6, RNG, det=True, v1=True, record="bme-v1.trace")


class Msix(GuestCase):
    """pci-msix (normal mode: deterministic mode has no MSI-X): masks, Enable, pending bits."""

    def test_masks_enable_and_bus_master(self):
        self.run_guest("pci-msix", 13, RNG)

    def test_version_1(self):
        # the same but for Bus Master Enable, which version 1 ignored
        self.run_guest("pci-msix", 13, RNG, v1=True)


class WideAccess(GuestCase):
    """virtio-wide-access: 8-byte accesses to the 64-bit fields, forbidden widths do nothing."""

    def test_eight_byte_fields_and_forbidden_widths(self):
        p, _ = self.run_guest("virtio-wide-access", 16, RNG)
        # the first forbidden access is reported, once
        self.assertEqual(p.stderr.count("no field of that width"), 1, p.stderr)
        self.assertIn("offset 36 written with 8 bytes", p.stderr)
        self.run_guest("virtio-wide-access", 16, RNG, det=True, record="wide.trace")

    def test_every_machine_version(self):
        # only a guest that breaks the spec sees it: version 1 has it too
        self.run_guest("virtio-wide-access", 16, RNG, v1=True)


class PciCfgWindow(GuestCase):
    """virtio-pci-cfg: the VIRTIO_PCI_CAP_PCI_CFG capability reaches BAR 0 from config space."""

    def test_window(self):
        self.run_guest("virtio-pci-cfg", 19, RNG)
        self.run_guest("virtio-pci-cfg", 19, RNG, det=True, record="pci-cfg.trace")

    def test_version_1_has_no_such_capability(self):
        # a capability list Linux walks: what version 1 showed it stays as it was
        self.run_guest("virtio-pci-cfg", 1, RNG, v1=True)
        self.run_guest("virtio-pci-cfg", 1, RNG, det=True, v1=True)


class Intx(GuestCase):
    """pci-intx: STATUS.Interrupt shows the interrupt, Interrupt Disable masks the line."""

    def test_status_and_interrupt_disable(self):
        _, trace = self.run_guest("pci-intx", 9, RNG, det=True, record="intx.trace")
        # the VMM's side: the line drops at Interrupt Disable and comes back when it is cleared
        levels = [e["level"] for e in dump(trace, "--type", "irq")]
        self.assertEqual(levels, [1, 0, 1, 0, 1, 0], levels)
        self.run_guest("pci-intx", 9, RNG, cmdline="pic=0")

    def test_version_1_ignores_interrupt_disable(self):
        _, trace = self.run_guest("pci-intx", 9, RNG, det=True, v1=True, record="intx-v1.trace")
        levels = [e["level"] for e in dump(trace, "--type", "irq")]
        self.assertEqual(levels, [1, 0, 1, 0], levels)
        self.run_guest("pci-intx", 9, RNG, cmdline="pic=0", v1=True)


if __name__ == "__main__":
    run_tests([BusMaster, Intx, Msix, WideAccess, PciCfgWindow], ["DEJAVM_BIN", "DEJAVM_TRACE_BIN", "DEJAVM_GUEST_DIR"])
