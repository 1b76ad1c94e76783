/* SPDX-License-Identifier: MIT */
/*
 * Machine versions, as QEMU's machine types: a number for what a guest can see of the virtual
 * hardware. A change that a well-behaved guest could see (a capability in a list Linux walks, a
 * register that reads differently) would change the recorded exits of a boot, so it comes with
 * a new version: a recording or snapshot holds the version it ran with (config.machine_version,
 * absent: 1), a replay or restore runs as that one, and new runs use the current one (or
 * --machine-version N). The devices ask their struct pci_device.
 *
 *  1: dejavm before machine versions existed.
 *  2: PCI functions obey COMMAND's Bus Master Enable (no DMA, no MSI-X while it is clear) and
 *     Interrupt Disable, and STATUS.Interrupt shows the INTx state (PCI 3.0 6.2.2, 6.2.3);
 *     virtio-pci devices have a VIRTIO_PCI_CAP_PCI_CFG capability (virtio 1.x 4.1.4.9).
 */
#ifndef DEJAVM_MACHINE_H
#define DEJAVM_MACHINE_H

#define MACHINE_VERSION_MIN	1
#define MACHINE_VERSION_CURRENT 2
/* The first version with PCI 3.0 BME/INTx rules and VIRTIO_PCI_CAP_PCI_CFG. */
#define MACHINE_VERSION_PCI30 2

#endif
