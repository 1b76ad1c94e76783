// SPDX-License-Identifier: MIT
/*
 * The kernel loader (src/loader.c) and the boot structures written for what it loaded
 * (src/boot.c), as vm_load() runs them: the input is the --kernel file. Built twice, as two
 * targets with their own corpora: fuzz_elf (ELF through the PVH note) and fuzz_bzimage (the
 * 64-bit Linux boot protocol); each one leaves the other's inputs out of its corpus.
 */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "fuzz.h"
#include "loader.h"
#include "memory.h"

#define RAM_SIZE (64ull << 20) /* the default --memory */

static struct guest_mem mem;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t initramfs[4096] = "070701"; /* a cpio header's magic, as a start */
	struct boot_args args = {.nr_cpus = 1, .cmdline = "console=ttyS0 reboot=k"};
	bool elf = size >= SELFMAG && !memcmp(data, ELFMAG, SELFMAG);
	struct boot_image img;
	struct kvm_regs regs;
	struct kvm_sregs sregs = {0};
	char err[512];

	fuzz_init();
	if (elf != FUZZ_ELF)
		return -1; /* the other target's input */
	if (!mem.nr && guest_mem_alloc(&mem, RAM_SIZE))
		abort();
	if (load_kernel(&mem, "kernel", data, size, &img, err, sizeof(err)))
		return 0;
	if (!load_initramfs(&mem, "initramfs", initramfs, sizeof(initramfs), &img,
			    &args.initrd_addr, err, sizeof(err)))
		args.initrd_size = sizeof(initramfs);
	boot_setup(&mem, &img, &args, &regs, &sregs, err, sizeof(err));
	return 0;
}
