/* SPDX-License-Identifier: MIT */
/*
 * Kernel and initramfs loading: ELF (vmlinux and the test guests) through the PVH entry note,
 * bzImage through the 64-bit Linux boot protocol. Every offset read from a file is checked
 * against its size; every destination against guest RAM. Errors name the file and the reason.
 */
#ifndef DEJAVM_LOADER_H
#define DEJAVM_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include "memory.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define BZ_SETUP_HDR_OFF	 0x1f1
#define BZ_SETUP_HDR_END	 0x268 /* end of the 2.15 setup header we copy */

enum boot_kind { BOOT_PVH, BOOT_BZIMAGE };

struct boot_image {
	enum boot_kind kind;
	uint64_t entry;		  /* PVH: 32-bit physical entry; bzImage: 64-bit entry */
	uint64_t load_start;	  /* lowest guest-physical byte written */
	uint64_t load_end;	  /* highest + 1, including bss / init_size */
	uint32_t initrd_addr_max; /* highest address an initrd byte may occupy */
	uint32_t cmdline_max;	  /* longest command line, without the NUL */
	uint8_t setup_header[BZ_SETUP_HDR_END - BZ_SETUP_HDR_OFF]; /* bzImage only */
};

/* Reads a whole file. Returns 0, or -1 with err set ("PATH: reason"). Caller frees *buf. */
int read_whole_file(const char *path, uint8_t **buf, size_t *size, char *err, size_t errlen);

/* Recognises and loads a kernel image held in buf (name: for messages). Returns 0 or -1. */
int load_kernel(struct guest_mem *gm, const char *name, const uint8_t *buf, size_t size,
		struct boot_image *img, char *err, size_t errlen);

/*
 * Places an initramfs as high as allowed: below min(RAM below 4 GiB, img->initrd_addr_max + 1),
 * page-aligned, above the kernel. Returns 0 with *addr set, or -1 with err set.
 */
int load_initramfs(struct guest_mem *gm, const char *name, const uint8_t *buf, size_t size,
		   const struct boot_image *img, uint64_t *addr, char *err, size_t errlen);

#endif
