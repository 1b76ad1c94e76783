/* SPDX-License-Identifier: MIT */
/*
 * MSI-X for a PCI function: the capability, the vector table and the pending-bit array (both
 * in one of the device's memory BARs), delivered by KVM: each vector is an eventfd bound to a
 * GSI (KVM_IRQFD) whose route (KVM_SET_GSI_ROUTING) is the guest's address/data pair. Signalling
 * a vector is then one write(2), from the vCPU or a device's I/O thread, without an exit.
 * Masking is kept here: a masked vector's signal sets its pending bit and fires on unmask, if
 * MSI-X is enabled then (else when it is). Nothing is sent while the function's Bus Master
 * Enable is clear (pci_bus_master): the message is lost, as on QEMU.
 * The caller serializes all calls for one function (the device's lock).
 */
#ifndef DEJAVM_MSIX_H
#define DEJAVM_MSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "pci.h"

#define MSIX_MAX_VECTORS 16
#define MSIX_ENTRY_SIZE	 16

struct vm;
struct persist_in;
struct msgpack_packer;

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl; /* ctrl bit 0: vector masked */
};

struct msix {
	struct vm *vm;
	struct pci_device *pci;
	unsigned int nr; /* vectors; 0: the function has no MSI-X */
	uint8_t cap;	 /* the capability's config-space offset */
	struct msix_entry table[MSIX_MAX_VECTORS];
	uint32_t pending;	       /* the PBA */
	int fd[MSIX_MAX_VECTORS];      /* irqfd eventfds, -1: not yet bound */
	int gsi[MSIX_MAX_VECTORS];     /* the vector's KVM GSI, -1: none yet */
	bool routed[MSIX_MAX_VECTORS]; /* the GSI's route is the entry's current address/data */
};

/*
 * Adds the capability for nr vectors (1..MSIX_MAX_VECTORS) with the table at table_off and the
 * PBA at pba_off of memory BAR bar. Call before pci_bus_add. Returns 0 or -EINVAL/-ENOSPC.
 */
int msix_init(struct msix *m, struct vm *vm, struct pci_device *pci, unsigned int nr,
	      unsigned int bar, uint32_t table_off, uint32_t pba_off);
/* Guest accesses to the table (off from the table's start) and the PBA (off from its start). */
void msix_table_read(struct msix *m, uint64_t off, uint8_t *data, uint32_t len);
void msix_table_write(struct msix *m, uint64_t off, const uint8_t *data, uint32_t len);
void msix_pba_read(struct msix *m, uint64_t off, uint8_t *data, uint32_t len);
/* The guest wrote config space at off (the device's pci cfg_write hook): enable/function mask. */
void msix_cfg_write(struct msix *m, uint32_t off, unsigned int len);
/* MSI-X Enable is set: interrupts go through vectors, not INTx. */
bool msix_enabled(const struct msix *m);
/* Signals vector vec (delivered, or left pending while masked). Needs msix_enabled(). */
void msix_signal(struct msix *m, unsigned int vec);
/*
 * The vector table and pending bits as a snapshot holds them, under key (the enable and mask
 * bits are in config space). Loaded vectors are routed to KVM again at their next delivery.
 */
void msix_save(const struct msix *m, struct msgpack_packer *pk, const char *key);
bool msix_load(struct msix *m, struct persist_in *in, const char *key);
/* Unbinds the eventfds and closes them. */
void msix_free(struct msix *m);

#endif
