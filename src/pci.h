/* SPDX-License-Identifier: MIT */
/*
 * PCI segment 0, bus 0, reached through configuration mechanism #1 (ports 0xCF8/0xCFC) as on
 * cloud-hypervisor: a host bridge at 00:00.0 and single-function devices at 00:01.0, 00:02.0,
 * ... in the order they are added. The VMM assigns every BAR before the guest boots and turns
 * decoding on, so Linux keeps the assignment; a guest that moves a BAR or toggles decoding is
 * reported through bar_moved so the device can move its ranges on the PIO/MMIO bus.
 * Single-threaded: the caller serializes all calls and config accesses.
 */
#ifndef DEJAVM_PCI_H
#define DEJAVM_PCI_H

#include <linux/pci_regs.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "machine.h"

struct persist_in;
struct msgpack_packer;

#define PCI_CFG_SIZE  256
#define PCI_NUM_BARS  6
#define PCI_MAX_SLOTS 32
#define PCI_CAP_START 0x40 /* first byte after the type 0 header */

#define PCI_HOST_BRIDGE_VENDOR 0x8086
#define PCI_HOST_BRIDGE_DEVICE 0x0d57

/* The default windows: [3 GiB, 3.5 GiB) stays clear of the test device, IOAPIC and LAPIC. */
#define PCI_WIN_MMIO32_BASE 0xc0000000ULL
#define PCI_WIN_MMIO32_SIZE 0x20000000ULL
/* 64-bit BARs: from 64 GiB (or the first GiB above RAM), 64 GiB of room. */
#define PCI_WIN_MMIO64_BASE 0x1000000000ULL
#define PCI_WIN_MMIO64_SIZE 0x1000000000ULL
#define PCI_WIN_IO_BASE	    0x1000
#define PCI_WIN_IO_SIZE	    0xf000

/* pci_bar_init flags: exactly one of MEM32, MEM64, IO; PREFETCH only with a memory BAR. */
#define PCI_BAR_MEM32	 0x1u
#define PCI_BAR_MEM64	 0x2u
#define PCI_BAR_IO	 0x4u
#define PCI_BAR_PREFETCH 0x8u

struct pci_bar {
	uint64_t addr; /* where the BAR decodes now, as last reported by bar_moved; 0: nowhere */
	uint64_t size; /* 0: BAR unused (or the upper half of a 64-bit BAR) */
	bool io, is64, prefetch;
};

struct pci_device_ops {
	/*
	 * The BAR now decodes at new_addr instead of old_addr (0: not decoded). Called when the
	 * device is added, when the guest rewrites the BAR while decoding is on, and when the
	 * guest flips the COMMAND IO/MEM enable bit. d->bar[bar].addr is already new_addr.
	 */
	void (*bar_moved)(void *opaque, unsigned int bar, uint64_t old_addr, uint64_t new_addr);
	/* After the generic code applied (through wmask) a guest write at off >= 0x40. */
	void (*cfg_write)(void *opaque, uint32_t off, uint32_t val, unsigned int len);
	/* Optional: what the guest reads at off >= 0x40; val is what cfg[] holds. */
	uint32_t (*cfg_read)(void *opaque, uint32_t off, uint32_t val, unsigned int len);
	/* Optional: a guest write changed COMMAND from old_command (after bar_moved calls). */
	void (*command_changed)(void *opaque, uint16_t old_command);
};

struct pci_device {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may change; devices set it for caps */
	struct pci_bar bar[PCI_NUM_BARS];
	const struct pci_device_ops *ops; /* may be NULL; set after pci_device_init */
	void *opaque;
	unsigned int slot; /* set by pci_bus_add */
	uint16_t cap_next; /* where the next capability goes */
	uint8_t cap_last;  /* the last capability, 0: none yet */
	/* what the function shows the guest (machine.h); pci_device_init: the current one */
	unsigned int machine_version;
};

struct pci_window {
	uint64_t base, size, next; /* a bump allocator: nothing is ever freed */
};

struct pci_bus {
	struct bus *pio_bus;
	struct pci_device *devs[PCI_MAX_SLOTS];
	struct pci_device host_bridge;
	uint32_t config_address; /* the 0xCF8 latch */
	struct pci_window mmio32, mmio64, io;
};

/* Clears d and fills the read-only header. class_code is class << 16 | subclass << 8 | progif. */
void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_code,
		     uint16_t subsys_vendor, uint16_t subsys_id, uint8_t revision);

/*
 * Declares a BAR before pci_bus_add. size is a power of two, >= 16 for memory (<= 2 GiB for
 * MEM32) and 4..64 KiB for IO. A MEM64 BAR also takes bar + 1. Returns 0, -EINVAL or -EBUSY.
 */
int pci_bar_init(struct pci_device *d, unsigned int bar, uint64_t size, unsigned int flags);

/*
 * Appends a capability. body/len is the whole capability including its 2-byte header, whose
 * ID and next bytes are filled in here (so a struct virtio_pci_cap can be passed as is).
 * The capability is read-only to the guest until the device sets wmask bits in it.
 * Returns its config-space offset, or 0 when it does not fit (or len < 2).
 */
uint8_t pci_cap_add(struct pci_device *d, uint8_t cap_id, const void *body, uint8_t len);

/* pin 1 = INTA# .. 4 = INTD#, 0 = none; line is what the guest's Interrupt Line reads. */
void pci_set_irq_pin(struct pci_device *d, uint8_t pin, uint8_t line);

/*
 * Whether the function may access memory: DMA and MSI(-X) messages, which are memory writes.
 * PCI 3.0 6.2.2: not while COMMAND's Bus Master Enable is clear. Machine version 1 ignored it.
 */
bool pci_bus_master(const struct pci_device *d);

/*
 * The function's INTx condition is `pending` (PCI 3.0 6.2.2, 6.2.3): STATUS.Interrupt shows it
 * whatever COMMAND.Interrupt Disable says, and the pin is asserted only while Interrupt Disable
 * is clear. Returns whether the pin is asserted; call it again when COMMAND changed. Machine
 * version 1: STATUS.Interrupt stays 0 and Interrupt Disable is not obeyed.
 */
bool pci_intx_update(struct pci_device *d, bool pending);

/*
 * Registers 0xCF8 (CONFIG_ADDRESS) and 0xCFC (CONFIG_DATA) on pio_bus and adds the host
 * bridge. The 32-bit window must lie below 4 GiB; a window of size 0 is absent, and 64-bit
 * BARs then come from the 32-bit window. Returns 0, -EINVAL or bus_register's error.
 */
int pci_bus_init(struct pci_bus *pb, struct bus *pio_bus, uint64_t mmio32_base,
		 uint64_t mmio32_size, uint64_t mmio64_base, uint64_t mmio64_size, uint16_t io_base,
		 uint16_t io_size);

/*
 * Puts d at the next free slot, assigns its BARs (each naturally aligned), enables MEM/IO
 * decoding and reports every BAR through bar_moved(0 -> addr). Returns the slot, or -ENOSPC
 * when the slots or a window ran out (then nothing was assigned).
 */
int pci_bus_add(struct pci_bus *pb, struct pci_device *d);

/*
 * A function's config space in a snapshot, under key: all 256 bytes. Loading checks that every
 * bit the guest cannot write equals this device's (else the snapshot is of another device or
 * build), but for STATUS.Interrupt from machine version 2 (the device's state: it sets it
 * again, pci_intx_update), takes the rest, and moves the BARs that the guest had moved (bar_moved).
 */
void pci_device_save(const struct pci_device *d, struct msgpack_packer *pk, const char *key);
bool pci_device_load(struct pci_device *d, struct persist_in *in, const char *key);
/* The bus's own state: the CONFIG_ADDRESS latch and the host bridge (persist.h, vm_persist). */
void pci_bus_save(void *pb, struct msgpack_packer *pk);
bool pci_bus_load(void *pb, struct persist_in *in);

/* Unregisters the ports. Devices stay as they are (their owners free them). */
void pci_bus_free(struct pci_bus *pb);

#endif
