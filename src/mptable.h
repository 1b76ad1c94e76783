/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables: how a guest without ACPI finds its CPUs, the
 * IOAPIC and the ISA interrupt routing (as Firecracker and QEMU's microvm provide). Linux scans
 * for the floating pointer first thing; without one it walks the whole BIOS area, which is
 * expensive when page-table updates are emulated.
 */
#ifndef DEJAVM_MPTABLE_H
#define DEJAVM_MPTABLE_H

#include "memory.h"

#define MPTABLE_ADDR EBDA_START /* floating pointer; the table follows it */
#define IOAPIC_ADDR  0xfec00000U
#define LAPIC_ADDR   0xfee00000U

/* INTA# of the device at 00:slot.0 is wired to IOAPIC pin `line`, level, active high. */
struct mptable_pci_irq {
	uint8_t slot, line;
};
#define MPTABLE_MAX_PCI_IRQS 8

/* Writes the floating pointer and configuration table; returns the bytes used, or -1. */
int mptable_write(struct guest_mem *gm, unsigned int nr_cpus, const struct mptable_pci_irq *pci,
		  unsigned int nr_pci);

#endif
