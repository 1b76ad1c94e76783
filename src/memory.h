/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM and the e820 map. RAM starts at 0; above 3 GiB it continues at 4 GiB, leaving
 * [3 GiB, 4 GiB) for 32-bit MMIO (test device, later PCI BARs), as most x86 VMMs do.
 * Every host access to guest memory goes through gpa_to_hva(), which checks bounds.
 */
#ifndef DEJAVM_MEMORY_H
#define DEJAVM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#define MMIO_HOLE_START 0xc0000000ULL
#define MMIO_HOLE_END	0x100000000ULL
#define EBDA_START	0x9fc00ULL
#define HIGH_RAM_START	0x100000ULL /* 1 MiB */

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_MAX      8

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	struct mem_region regions[2];
	unsigned int nr;
	uint64_t ram_size;
};

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* Fills regions for ram_size bytes without allocating (hva NULL). */
void guest_mem_layout(struct guest_mem *gm, uint64_t ram_size);
/* Lays out and maps the RAM. Returns 0 or -errno. */
int guest_mem_alloc(struct guest_mem *gm, uint64_t ram_size);
void guest_mem_free(struct guest_mem *gm);

/* Host pointer to [gpa, gpa+len) if it lies inside one RAM region, else NULL. */
void *gpa_to_hva(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
/* Highest guest-physical address + 1 of RAM below 4 GiB. */
uint64_t guest_mem_low_end(const struct guest_mem *gm);

/* The e820 map for gm; returns the number of entries (<= E820_MAX). */
int e820_build(const struct guest_mem *gm, struct e820_entry *map);

#endif
