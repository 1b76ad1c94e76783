/* SPDX-License-Identifier: MIT */
/*
 * Boot-time guest state: the structures a kernel expects in memory (GDT, PVH start_info or
 * Linux boot_params, identity page tables, command line, e820) and the first vCPU registers.
 * Pure functions over guest memory and KVM register structs, so they are unit-testable.
 */
#ifndef DEJAVM_BOOT_H
#define DEJAVM_BOOT_H

#include <linux/kvm.h>
#include "loader.h"
#include "memory.h"
#include "mptable.h"

/* Fixed low-memory layout, all below the EBDA. */
#define BOOT_GDT_ADDR	    0x500
#define BOOT_IDT_ADDR	    0x540
#define PVH_START_INFO_ADDR 0x6000
#define PVH_MODLIST_ADDR    0x6040
#define PVH_MEMMAP_ADDR	    0x6100
#define ZERO_PAGE_ADDR	    0x7000
#define BOOT_PML4_ADDR	    0x9000
#define BOOT_PDPT_ADDR	    0xa000
#define BOOT_PD_ADDR	    0xb000 /* 4 pages: identity map of 4 GiB in 2 MiB pages */
#define BOOT_CMDLINE_ADDR   0x20000
#define BOOT_CMDLINE_MAX    0x10000

/* GDT selectors: PVH enters through a 32-bit CS; the Linux 64-bit protocol wants 0x10/0x18. */
#define GDT_CODE32 0x08
#define GDT_CODE64 0x10
#define GDT_DATA   0x18
#define GDT_TSS	   0x20

#define PVH_START_MAGIC 0x336ec578

struct boot_args {
	unsigned int nr_cpus;
	const char *cmdline;
	uint64_t initrd_addr;
	uint64_t initrd_size;			/* 0: none */
	const struct mptable_pci_irq *pci_irqs; /* for the MP table */
	unsigned int nr_pci_irqs;
};

/*
 * Writes the boot structures for img into gm and fills the first vCPU's registers. sregs must
 * hold KVM's reset values (KVM_GET_SREGS) on entry. Returns 0, or -1 with err set.
 */
int boot_setup(struct guest_mem *gm, const struct boot_image *img, const struct boot_args *args,
	       struct kvm_regs *regs, struct kvm_sregs *sregs, char *err, size_t errlen);

#endif
