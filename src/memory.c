// SPDX-License-Identifier: MIT
#include "memory.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

void guest_mem_layout(struct guest_mem *gm, uint64_t ram_size)
{
	memset(gm, 0, sizeof(*gm));
	gm->ram_size = ram_size;
	if (ram_size <= MMIO_HOLE_START) {
		gm->regions[0] = (struct mem_region){0, ram_size, NULL};
		gm->nr = 1;
	} else {
		gm->regions[0] = (struct mem_region){0, MMIO_HOLE_START, NULL};
		gm->regions[1] =
			(struct mem_region){MMIO_HOLE_END, ram_size - MMIO_HOLE_START, NULL};
		gm->nr = 2;
	}
}

int guest_mem_alloc(struct guest_mem *gm, uint64_t ram_size)
{
	guest_mem_layout(gm, ram_size);
	for (unsigned int i = 0; i < gm->nr; i++) {
		void *p = mmap(NULL, gm->regions[i].size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) {
			int err = -errno;

			guest_mem_free(gm);
			return err;
		}
		gm->regions[i].hva = p;
		/*
		 * Transparent huge pages: far fewer host faults and shadow/EPT entries when the
		 * guest first touches its memory (QEMU does the same). Advice only.
		 */
		madvise(p, gm->regions[i].size, MADV_HUGEPAGE);
	}
	return 0;
}

void guest_mem_free(struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nr; i++) {
		if (gm->regions[i].hva)
			munmap(gm->regions[i].hva, gm->regions[i].size);
		gm->regions[i].hva = NULL;
	}
}

void *gpa_to_hva(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < gm->nr; i++) {
		const struct mem_region *r = &gm->regions[i];

		if (gpa >= r->gpa && len <= r->size && gpa - r->gpa <= r->size - len)
			return r->hva ? r->hva + (gpa - r->gpa) : NULL;
	}
	return NULL;
}

uint64_t guest_mem_low_end(const struct guest_mem *gm)
{
	return gm->regions[0].gpa + gm->regions[0].size;
}

int e820_build(const struct guest_mem *gm, struct e820_entry *map)
{
	int n = 0;

	/* Low RAM up to the EBDA; the legacy VGA/BIOS area is reserved, as on a PC. */
	map[n++] = (struct e820_entry){0, EBDA_START, E820_RAM};
	map[n++] = (struct e820_entry){EBDA_START, HIGH_RAM_START - EBDA_START, E820_RESERVED};
	if (guest_mem_low_end(gm) > HIGH_RAM_START)
		map[n++] = (struct e820_entry){HIGH_RAM_START,
					       guest_mem_low_end(gm) - HIGH_RAM_START, E820_RAM};
	if (gm->nr > 1)
		map[n++] = (struct e820_entry){gm->regions[1].gpa, gm->regions[1].size, E820_RAM};
	return n;
}
