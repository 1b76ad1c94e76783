// SPDX-License-Identifier: MIT
/* Unit tests for the guest memory layout, e820, gpa_to_hva() and boot_setup(). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "mptable.h"
#include "loader.h"
#include "memory.h"
#include "harness.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* ------------------------------------------------------------------ guest memory helpers */

static uint8_t *hva(struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	uint8_t *p = gpa_to_hva(gm, gpa, len);

	ck_assert_msg(p, "gpa 0x%llx+0x%llx not in guest RAM", (unsigned long long)gpa,
		      (unsigned long long)len);
	return p;
}

static uint64_t rd(struct guest_mem *gm, uint64_t gpa, unsigned int size)
{
	uint64_t v = 0;

	memcpy(&v, hva(gm, gpa, size), size);
	return v;
}

/* ------------------------------------------------------------------ layout and e820 */

START_TEST(test_layout_sizes)
{
	struct guest_mem gm;

	memset(&gm, 0x5a, sizeof(gm));
	guest_mem_layout(&gm, 64 * MiB);
	ck_assert_uint_eq(gm.nr, 1);
	ck_assert_uint_eq(gm.ram_size, 64 * MiB);
	ck_assert_uint_eq(gm.regions[0].gpa, 0);
	ck_assert_uint_eq(gm.regions[0].size, 64 * MiB);
	ck_assert_ptr_null(gm.regions[0].hva);
	ck_assert_uint_eq(guest_mem_low_end(&gm), 64 * MiB);

	guest_mem_layout(&gm, 3 * GiB);
	ck_assert_uint_eq(gm.nr, 1);
	ck_assert_uint_eq(gm.regions[0].size, 3 * GiB);
	ck_assert_uint_eq(guest_mem_low_end(&gm), 3 * GiB);

	guest_mem_layout(&gm, 3 * GiB + 4 * KiB);
	ck_assert_uint_eq(gm.nr, 2);
	ck_assert_uint_eq(gm.ram_size, 3 * GiB + 4 * KiB);
	ck_assert_uint_eq(gm.regions[0].gpa, 0);
	ck_assert_uint_eq(gm.regions[0].size, 3 * GiB);
	ck_assert_uint_eq(gm.regions[1].gpa, 4 * GiB);
	ck_assert_uint_eq(gm.regions[1].size, 4 * KiB);
	ck_assert_ptr_null(gm.regions[1].hva);
	ck_assert_uint_eq(guest_mem_low_end(&gm), 3 * GiB);

	guest_mem_layout(&gm, 8 * GiB);
	ck_assert_uint_eq(gm.nr, 2);
	ck_assert_uint_eq(gm.regions[0].size, 3 * GiB);
	ck_assert_uint_eq(gm.regions[1].gpa, 4 * GiB);
	ck_assert_uint_eq(gm.regions[1].size, 5 * GiB);
	ck_assert_uint_eq(guest_mem_low_end(&gm), 3 * GiB);

	guest_mem_layout(&gm, 1ULL << 40);
	ck_assert_uint_eq(gm.nr, 2);
	ck_assert_uint_eq(gm.regions[1].size, (1ULL << 40) - 3 * GiB);

	/* Layout-only memory has no host pointers to hand out. */
	ck_assert_ptr_null(gpa_to_hva(&gm, 0x1000, 1));
}
END_TEST

static const uint64_t e820_sizes[] = {
	2 * MiB, 64 * MiB, 3 * GiB - 4 * KiB, 3 * GiB, 3 * GiB + 4 * KiB, 8 * GiB, 1ULL << 40,
};

START_TEST(test_e820)
{
	uint64_t ram = e820_sizes[_i];
	struct e820_entry map[E820_MAX + 1];
	uint64_t total_ram = 0, low_end;
	struct guest_mem gm;
	int n;

	guest_mem_layout(&gm, ram);
	low_end = ram < 3 * GiB ? ram : 3 * GiB;
	memset(map, 0xee, sizeof(map));
	n = e820_build(&gm, map);
	ck_assert_int_ge(n, 3);
	ck_assert_int_le(n, E820_MAX);
	ck_assert_int_eq(n, ram > 3 * GiB ? 4 : 3);
	/* Nothing written past the returned count. */
	ck_assert_uint_eq(map[n].addr, 0xeeeeeeeeeeeeeeeeULL);

	ck_assert_uint_eq(map[0].addr, 0);
	ck_assert_uint_eq(map[0].size, 0x9fc00);
	ck_assert_uint_eq(map[0].type, E820_RAM);
	ck_assert_uint_eq(map[1].addr, 0x9fc00);
	ck_assert_uint_eq(map[1].addr + map[1].size, 1 * MiB);
	ck_assert_uint_eq(map[1].type, E820_RESERVED);
	ck_assert_uint_eq(map[2].addr, 1 * MiB);
	ck_assert_uint_eq(map[2].addr + map[2].size, low_end);
	ck_assert_uint_eq(map[2].type, E820_RAM);
	if (n == 4) {
		ck_assert_uint_eq(map[3].addr, 4 * GiB);
		ck_assert_uint_eq(map[3].size, ram - 3 * GiB);
		ck_assert_uint_eq(map[3].type, E820_RAM);
	}

	for (int i = 0; i < n; i++) {
		ck_assert_uint_gt(map[i].size, 0);
		ck_assert(map[i].type == E820_RAM || map[i].type == E820_RESERVED);
		if (i > 0) /* sorted, no overlaps */
			ck_assert_uint_le(map[i - 1].addr + map[i - 1].size, map[i].addr);
		if (map[i].type != E820_RAM)
			continue;
		total_ram += map[i].size;
		/* Every RAM entry lies inside one RAM region, never in the MMIO hole. */
		int inside = 0;

		for (unsigned int r = 0; r < gm.nr; r++)
			if (map[i].addr >= gm.regions[r].gpa &&
			    map[i].addr + map[i].size <= gm.regions[r].gpa + gm.regions[r].size)
				inside = 1;
		ck_assert_msg(inside, "e820 RAM entry %d is outside guest RAM", i);
		ck_assert(map[i].addr + map[i].size <= MMIO_HOLE_START ||
			  map[i].addr >= MMIO_HOLE_END);
	}
	ck_assert_uint_eq(total_ram, ram - (1 * MiB - 0x9fc00));
}
END_TEST

/* ------------------------------------------------------------------ gpa_to_hva */

START_TEST(test_gpa_to_hva_bounds)
{
	const uint64_t sz = 16 * MiB;
	struct guest_mem gm;
	uint8_t *base, *p;

	ck_assert_int_eq(guest_mem_alloc(&gm, sz), 0);
	ck_assert_uint_eq(gm.nr, 1);
	base = gm.regions[0].hva;
	ck_assert_ptr_nonnull(base);

	ck_assert_ptr_eq(gpa_to_hva(&gm, 0, 1), base);
	ck_assert_ptr_eq(gpa_to_hva(&gm, 0, sz), base);
	ck_assert_ptr_eq(gpa_to_hva(&gm, sz - 1, 1), base + sz - 1);
	ck_assert_ptr_eq(gpa_to_hva(&gm, sz - 16, 16), base + sz - 16);
	ck_assert_ptr_eq(gpa_to_hva(&gm, 0x123456, 0x1000), base + 0x123456);
	ck_assert_ptr_null(gpa_to_hva(&gm, sz - 15, 16));
	ck_assert_ptr_null(gpa_to_hva(&gm, sz - 1, 2));
	ck_assert_ptr_null(gpa_to_hva(&gm, sz, 1));
	ck_assert_ptr_null(gpa_to_hva(&gm, 0, sz + 1));
	ck_assert_ptr_null(gpa_to_hva(&gm, sz + 1, 0));
	ck_assert_ptr_null(gpa_to_hva(&gm, 1ULL << 32, 1));
	/* An empty range at the very end: either refused or the one-past-the-end pointer. */
	p = gpa_to_hva(&gm, sz, 0);
	ck_assert(p == NULL || p == base + sz);

	/* Lengths and addresses that would wrap a naive gpa + len check. */
	ck_assert_ptr_null(gpa_to_hva(&gm, 0, UINT64_MAX));
	ck_assert_ptr_null(gpa_to_hva(&gm, 1, UINT64_MAX));
	ck_assert_ptr_null(gpa_to_hva(&gm, sz - 1, UINT64_MAX));
	ck_assert_ptr_null(gpa_to_hva(&gm, 0x1000, UINT64_MAX - 0xfff));
	ck_assert_ptr_null(gpa_to_hva(&gm, UINT64_MAX, 1));
	ck_assert_ptr_null(gpa_to_hva(&gm, UINT64_MAX, 2));
	ck_assert_ptr_null(gpa_to_hva(&gm, UINT64_MAX, 0));
	ck_assert_ptr_null(gpa_to_hva(&gm, UINT64_MAX - 15, 16));
	ck_assert_ptr_null(gpa_to_hva(&gm, UINT64_MAX - 15, 17));
	ck_assert_ptr_null(gpa_to_hva(&gm, UINT64_MAX - sz + 1, sz));

	/* The memory is really there, zeroed and writable, first to last byte. */
	p = gpa_to_hva(&gm, 0, sz);
	ck_assert_uint_eq(p[0], 0);
	ck_assert_uint_eq(p[sz - 1], 0);
	p[0] = 0x11;
	p[sz - 1] = 0x22;
	ck_assert_uint_eq(*(uint8_t *)gpa_to_hva(&gm, sz - 1, 1), 0x22);

	guest_mem_free(&gm);
	ck_assert_ptr_null(gm.regions[0].hva);
	ck_assert_ptr_null(gpa_to_hva(&gm, 0, 1));
	guest_mem_free(&gm); /* idempotent */
}
END_TEST

START_TEST(test_gpa_to_hva_hole)
{
	const uint64_t ram = 8 * GiB;
	struct guest_mem gm;
	uint8_t *lo, *hi;

	ck_assert_int_eq(guest_mem_alloc(&gm, ram), 0);
	ck_assert_uint_eq(gm.nr, 2);
	lo = gm.regions[0].hva;
	hi = gm.regions[1].hva;
	ck_assert_ptr_nonnull(lo);
	ck_assert_ptr_nonnull(hi);

	ck_assert_ptr_eq(gpa_to_hva(&gm, 3 * GiB - 1, 1), lo + 3 * GiB - 1);
	ck_assert_ptr_eq(gpa_to_hva(&gm, 3 * GiB - 4096, 4096), lo + 3 * GiB - 4096);
	ck_assert_ptr_null(gpa_to_hva(&gm, 3 * GiB - 1, 2)); /* into the hole */
	ck_assert_ptr_null(gpa_to_hva(&gm, 3 * GiB, 1));
	ck_assert_ptr_null(gpa_to_hva(&gm, 0xfee00000, 4));
	ck_assert_ptr_null(gpa_to_hva(&gm, 4 * GiB - 1, 1));
	ck_assert_ptr_null(gpa_to_hva(&gm, 4 * GiB - 1, 2)); /* out of the hole */
	ck_assert_ptr_eq(gpa_to_hva(&gm, 4 * GiB, 1), hi);
	ck_assert_ptr_eq(gpa_to_hva(&gm, 4 * GiB, 5 * GiB), hi);
	ck_assert_ptr_eq(gpa_to_hva(&gm, 9 * GiB - 1, 1), hi + 5 * GiB - 1);
	ck_assert_ptr_null(gpa_to_hva(&gm, 9 * GiB - 1, 2));
	ck_assert_ptr_null(gpa_to_hva(&gm, 9 * GiB, 1));
	ck_assert_ptr_null(gpa_to_hva(&gm, 0, 9 * GiB)); /* spans both regions */
	ck_assert_ptr_null(gpa_to_hva(&gm, 3 * GiB - 4096, 1 * GiB + 8192));
	ck_assert_ptr_null(gpa_to_hva(&gm, 4 * GiB, UINT64_MAX));
	ck_assert_ptr_null(gpa_to_hva(&gm, UINT64_MAX - 4096, 8192));

	/* Both mappings are usable (NORESERVE: only the touched pages are committed). */
	lo[3 * GiB - 1] = 0xab;
	hi[5 * GiB - 1] = 0xcd;
	ck_assert_uint_eq(*(uint8_t *)gpa_to_hva(&gm, 9 * GiB - 1, 1), 0xcd);

	guest_mem_free(&gm);
	ck_assert_ptr_null(gm.regions[0].hva);
	ck_assert_ptr_null(gm.regions[1].hva);
}
END_TEST

/* ------------------------------------------------------------------ boot_setup */

static void fill_low_memory(struct guest_mem *gm)
{
	/* Poison everything below 1 MiB so that unwritten fields show up. */
	memset(hva(gm, 0, 1 * MiB), 0xcc, 1 * MiB);
}

static struct boot_image pvh_image(void)
{
	struct boot_image img;

	memset(&img, 0, sizeof(img));
	img.kind = BOOT_PVH;
	img.entry = 0x100000;
	img.load_start = 0x100000;
	img.load_end = 0x180000;
	img.initrd_addr_max = UINT32_MAX;
	img.cmdline_max = 65535;
	return img;
}

/* Decodes the GDT descriptor for sel from guest memory and compares it with seg. */
static void check_segment(struct guest_mem *gm, const struct kvm_sregs *sregs,
			  const struct kvm_segment *seg, const char *what)
{
	ck_assert_msg(seg->selector + 7U <= sregs->gdt.limit, "%s selector 0x%x beyond GDT limit",
		      what, seg->selector);
	uint64_t d = rd(gm, sregs->gdt.base + (seg->selector & ~7U), 8);
	uint64_t base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
	uint32_t limit = (d & 0xffff) | (((d >> 48) & 0xf) << 16);

	if ((d >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	ck_assert_msg(seg->base == base, "%s base", what);
	ck_assert_msg(seg->limit == limit, "%s limit 0x%x, GDT says 0x%x", what, seg->limit, limit);
	ck_assert_msg(seg->type == ((d >> 40) & 0xf), "%s type", what);
	ck_assert_msg(seg->s == ((d >> 44) & 1), "%s s", what);
	ck_assert_msg(seg->dpl == ((d >> 45) & 3), "%s dpl", what);
	ck_assert_msg(seg->present == ((d >> 47) & 1), "%s present", what);
	ck_assert_msg(seg->l == ((d >> 53) & 1), "%s l", what);
	ck_assert_msg(seg->db == ((d >> 54) & 1), "%s db", what);
	ck_assert_msg(seg->g == ((d >> 55) & 1), "%s g", what);
	ck_assert_msg(seg->present, "%s not present", what);
}

static void check_flat_data(struct guest_mem *gm, const struct kvm_sregs *sregs,
			    const struct kvm_segment *seg, const char *what)
{
	check_segment(gm, sregs, seg, what);
	ck_assert_uint_eq(seg->selector, GDT_DATA);
	ck_assert_uint_eq(seg->base, 0);
	ck_assert_uint_eq(seg->limit, 0xffffffff);
	ck_assert_uint_eq(seg->s, 1);
	ck_assert_uint_eq(seg->type & 0xa, 0x2); /* data, writable */
	ck_assert_uint_eq(seg->dpl, 0);
}

static void check_common_sregs(struct guest_mem *gm, const struct kvm_sregs *sregs)
{
	ck_assert_uint_eq(sregs->gdt.base, BOOT_GDT_ADDR);
	check_flat_data(gm, sregs, &sregs->ds, "ds");
	check_flat_data(gm, sregs, &sregs->es, "es");
	check_flat_data(gm, sregs, &sregs->ss, "ss");
	check_flat_data(gm, sregs, &sregs->fs, "fs");
	check_flat_data(gm, sregs, &sregs->gs, "gs");
	/* VMX wants a usable busy TSS in TR. */
	check_segment(gm, sregs, &sregs->tr, "tr");
	ck_assert_uint_eq(sregs->tr.s, 0);
	ck_assert_uint_eq(sregs->tr.type, 11);
	ck_assert_uint_eq(sregs->cs.base, 0);
	ck_assert_uint_eq(sregs->cs.s, 1);
	ck_assert_uint_eq(sregs->cs.type & 0x8, 0x8); /* code */
	ck_assert_uint_eq(sregs->cs.dpl, 0);
}

static void check_memmap_entries(struct guest_mem *gm, uint64_t paddr, uint32_t count)
{
	struct e820_entry map[E820_MAX];
	int n = e820_build(gm, map);

	ck_assert_int_eq(count, n);
	for (int i = 0; i < n; i++) {
		uint64_t e = paddr + i * 24ULL; /* struct hvm_memmap_table_entry */

		ck_assert_uint_eq(rd(gm, e, 8), map[i].addr);
		ck_assert_uint_eq(rd(gm, e + 8, 8), map[i].size);
		ck_assert_uint_eq(rd(gm, e + 16, 4), map[i].type);
		ck_assert_uint_eq(rd(gm, e + 20, 4), 0);
	}
}

START_TEST(test_boot_pvh)
{
	const char *cmdline = "console=ttyS0 earlyprintk=serial foo=\"a b\"";
	struct boot_image img = pvh_image();
	struct boot_args args = {
		.cmdline = cmdline, .initrd_addr = 0x3000000, .initrd_size = 0x12345};
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct guest_mem gm;
	char err[256] = "";
	uint64_t si;

	ck_assert_int_eq(guest_mem_alloc(&gm, 64 * MiB), 0);
	fill_low_memory(&gm);
	memset(&regs, 0xaa, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	sregs.efer = 0x500; /* stale long-mode bits must be cleared */
	sregs.cr4 = 0x20;
	ck_assert_msg(boot_setup(&gm, &img, &args, &regs, &sregs, err, sizeof(err)) == 0, "%s",
		      err);

	/* Registers: entry, start_info in EBX, interrupts off. */
	ck_assert_uint_eq(regs.rip, 0x100000);
	si = regs.rbx;
	ck_assert_uint_eq(si, PVH_START_INFO_ADDR);
	ck_assert_uint_eq(regs.rflags & 0x2, 0x2);
	ck_assert_uint_eq(regs.rflags & 0x200, 0);
	ck_assert_uint_eq(regs.rax, 0);

	/* struct hvm_start_info, read by offset. */
	ck_assert_uint_eq(rd(&gm, si + 0, 4), 0x336ec578);
	ck_assert_uint_eq(rd(&gm, si + 4, 4), 1);
	ck_assert_uint_eq(rd(&gm, si + 8, 4), 0);  /* flags */
	ck_assert_uint_eq(rd(&gm, si + 12, 4), 1); /* nr_modules */
	ck_assert_uint_eq(rd(&gm, si + 32, 8), 0); /* rsdp_paddr */
	ck_assert_uint_eq(rd(&gm, si + 52, 4), 0); /* reserved */

	uint64_t cmd = rd(&gm, si + 24, 8);

	ck_assert_uint_ge(cmd, 0x1000);
	ck_assert_uint_lt(cmd + strlen(cmdline) + 1, EBDA_START);
	ck_assert_str_eq((const char *)hva(&gm, cmd, strlen(cmdline) + 1), cmdline);

	uint64_t mod = rd(&gm, si + 16, 8);

	ck_assert_uint_ne(mod, 0);
	ck_assert_uint_eq(rd(&gm, mod, 8), 0x3000000);
	ck_assert_uint_eq(rd(&gm, mod + 8, 8), 0x12345);
	ck_assert_uint_eq(rd(&gm, mod + 16, 8), 0);
	ck_assert_uint_eq(rd(&gm, mod + 24, 8), 0);

	check_memmap_entries(&gm, rd(&gm, si + 40, 8), rd(&gm, si + 48, 4));

	/* 32-bit protected mode, paging off, flat segments. */
	ck_assert_uint_eq(sregs.cr0 & 1, 1);
	ck_assert_uint_eq(sregs.cr0 & 0x80000000, 0);
	ck_assert_uint_eq(sregs.cr4 & 0x20, 0);
	ck_assert_uint_eq(sregs.efer & 0x500, 0);
	ck_assert_uint_eq(sregs.cs.selector, 0x08);
	ck_assert_uint_eq(sregs.cs.db, 1);
	ck_assert_uint_eq(sregs.cs.l, 0);
	ck_assert_uint_eq(sregs.cs.limit, 0xffffffff);
	check_segment(&gm, &sregs, &sregs.cs, "cs");
	check_common_sregs(&gm, &sregs);
	guest_mem_free(&gm);
}
END_TEST

START_TEST(test_boot_pvh_no_initrd_8g)
{
	struct boot_image img = pvh_image();
	struct boot_args args = {0};
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct guest_mem gm;
	char err[256] = "";

	ck_assert_int_eq(guest_mem_alloc(&gm, 8 * GiB), 0);
	fill_low_memory(&gm);
	memset(&sregs, 0, sizeof(sregs));
	img.entry = 0x1234560;
	ck_assert_msg(boot_setup(&gm, &img, &args, &regs, &sregs, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_uint_eq(regs.rip, 0x1234560);
	ck_assert_uint_eq(rd(&gm, regs.rbx, 4), PVH_START_MAGIC);
	ck_assert_uint_eq(rd(&gm, regs.rbx + 12, 4), 0); /* nr_modules */
	ck_assert_uint_eq(rd(&gm, regs.rbx + 16, 8), 0); /* modlist_paddr */
	/* A NULL command line is an empty one. */
	ck_assert_uint_eq(rd(&gm, rd(&gm, regs.rbx + 24, 8), 1), 0);
	ck_assert_uint_eq(rd(&gm, regs.rbx + 48, 4), 4);
	check_memmap_entries(&gm, rd(&gm, regs.rbx + 40, 8), 4);
	ck_assert_uint_eq(rd(&gm, rd(&gm, regs.rbx + 40, 8) + 3 * 24, 8), 4 * GiB);
	guest_mem_free(&gm);
}
END_TEST

/* A plausible 2.15 setup header as the loader would have copied it from a bzImage. */
static struct boot_image bz_image(void)
{
	struct boot_image img;
	uint8_t *h = img.setup_header;

	memset(&img, 0, sizeof(img));
	for (size_t i = 0; i < sizeof(img.setup_header); i++)
		h[i] = (uint8_t)(i * 7 + 3);
#define H(off) (h + (off)-BZ_SETUP_HDR_OFF)
	*H(0x1f1) = 27;				   /* setup_sects */
	memcpy(H(0x1fe), "\x55\xaa", 2);	   /* boot_flag */
	memcpy(H(0x202), "HdrS", 4);		   /* header */
	memcpy(H(0x206), "\x0f\x02", 2);	   /* version 2.15 */
	*H(0x210) = 0;				   /* type_of_loader */
	*H(0x211) = 0x01;			   /* loadflags: LOADED_HIGH */
	memcpy(H(0x22c), "\xff\xff\xff\x7f", 4);   /* initrd_addr_max */
	memcpy(H(0x236), "\x7f\x00", 2);	   /* xloadflags */
	memcpy(H(0x238), "\xff\x07\0\0", 4);	   /* cmdline_size 2047 */
	memcpy(H(0x258), "\0\0\0\x01\0\0\0\0", 8); /* pref_address 16 MiB */
#undef H
	img.kind = BOOT_BZIMAGE;
	img.entry = 0x1000200;
	img.load_start = 0x1000000;
	img.load_end = 0x1800000;
	img.initrd_addr_max = 0x7fffffff;
	img.cmdline_max = 2047;
	return img;
}

/* Follows the 4-level page tables from cr3 like the MMU would; returns the physical address. */
static uint64_t walk(struct guest_mem *gm, uint64_t cr3, uint64_t va, int *mapped)
{
	uint64_t table = cr3 & ~0xfffULL;
	static const int shifts[] = {39, 30, 21, 12};

	for (int level = 0; level < 4; level++) {
		uint64_t e = rd(gm, table + ((va >> shifts[level]) & 0x1ff) * 8, 8);

		if (!(e & 1)) {
			*mapped = 0;
			return 0;
		}
		ck_assert_msg(e & 2, "va 0x%llx: level %d entry not writable",
			      (unsigned long long)va, level);
		uint64_t addr = e & 0x000ffffffffff000ULL;

		if (level == 3 || (level > 0 && (e & 0x80))) {
			uint64_t mask = (1ULL << shifts[level]) - 1;

			*mapped = 1;
			return (addr & ~mask) | (va & mask);
		}
		table = addr;
	}
	*mapped = 0;
	return 0;
}

START_TEST(test_boot_bzimage)
{
	const char *cmdline = "console=ttyS0 root=/dev/ram0";
	struct boot_image img = bz_image();
	struct boot_args args = {
		.cmdline = cmdline, .initrd_addr = 0x2000000, .initrd_size = 0x345678};
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct guest_mem gm;
	char err[256] = "";
	uint64_t zp, cmd;
	uint8_t *bp;

	ck_assert_int_eq(guest_mem_alloc(&gm, 64 * MiB), 0);
	fill_low_memory(&gm);
	memset(&regs, 0xaa, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	ck_assert_msg(boot_setup(&gm, &img, &args, &regs, &sregs, err, sizeof(err)) == 0, "%s",
		      err);

	ck_assert_uint_eq(regs.rip, 0x1000200);
	zp = regs.rsi;
	ck_assert_uint_eq(zp, 0x7000);
	ck_assert_uint_eq(regs.rflags & 0x2, 0x2);
	ck_assert_uint_eq(regs.rflags & 0x200, 0);
	bp = hva(&gm, zp, 4096);

	/* The setup header is copied verbatim except for the fields the loader fills in. */
	for (uint32_t off = BZ_SETUP_HDR_OFF; off < BZ_SETUP_HDR_END; off++) {
		if (off == 0x210 || off == 0x211 || (off >= 0x218 && off < 0x220) ||
		    (off >= 0x228 && off < 0x22c))
			continue;
		ck_assert_msg(bp[off] == img.setup_header[off - BZ_SETUP_HDR_OFF],
			      "zero page byte 0x%x = 0x%02x, header has 0x%02x", off, bp[off],
			      img.setup_header[off - BZ_SETUP_HDR_OFF]);
	}
	ck_assert_mem_eq(bp + 0x202, "HdrS", 4);
	ck_assert_uint_eq(bp[0x210], 0xff);		      /* type_of_loader */
	ck_assert_uint_eq(bp[0x211] & 1, 1);		      /* LOADED_HIGH */
	ck_assert_uint_eq(rd(&gm, zp + 0x218, 4), 0x2000000); /* ramdisk_image */
	ck_assert_uint_eq(rd(&gm, zp + 0x21c, 4), 0x345678);  /* ramdisk_size */
	ck_assert_uint_eq(rd(&gm, zp + 0x0c0, 4), 0);	      /* ext_ramdisk_image */
	ck_assert_uint_eq(rd(&gm, zp + 0x0c4, 4), 0);	      /* ext_ramdisk_size */
	ck_assert_uint_eq(rd(&gm, zp + 0x0c8, 4), 0);	      /* ext_cmd_line_ptr */
	cmd = rd(&gm, zp + 0x228, 4);
	ck_assert_uint_ge(cmd, 0x1000);
	ck_assert_uint_lt(cmd + strlen(cmdline) + 1, EBDA_START);
	ck_assert_str_eq((const char *)hva(&gm, cmd, strlen(cmdline) + 1), cmdline);
	/* The rest of the zero page is zeroed, not left as it was. */
	ck_assert_uint_eq(bp[0], 0);
	ck_assert_uint_eq(bp[0x1f0], 0);
	ck_assert_uint_eq(bp[0x268], 0);
	ck_assert_uint_eq(bp[0xfff], 0);

	/* e820 table: count at 0x1e8, packed 20-byte entries at 0x2d0. */
	struct e820_entry map[E820_MAX];
	int n = e820_build(&gm, map);

	ck_assert_uint_eq(bp[0x1e8], n);
	for (int i = 0; i < n; i++) {
		uint64_t e = zp + 0x2d0 + 20ULL * i;

		ck_assert_uint_eq(rd(&gm, e, 8), map[i].addr);
		ck_assert_uint_eq(rd(&gm, e + 8, 8), map[i].size);
		ck_assert_uint_eq(rd(&gm, e + 16, 4), map[i].type);
	}
	ck_assert_uint_eq(rd(&gm, zp + 0x2d0 + 20ULL * n, 8), 0);

	/* 64-bit mode. */
	ck_assert_uint_eq(sregs.efer & 0x500, 0x500);
	ck_assert_uint_eq(sregs.cr0 & 0x80000001, 0x80000001);
	ck_assert_uint_eq(sregs.cr4 & 0x20, 0x20);
	ck_assert_uint_eq(sregs.cs.selector, 0x10);
	ck_assert_uint_eq(sregs.cs.l, 1);
	ck_assert_uint_eq(sregs.cs.db, 0);
	ck_assert_uint_eq(sregs.ds.selector, 0x18);
	check_segment(&gm, &sregs, &sregs.cs, "cs");
	check_common_sregs(&gm, &sregs);

	/* Identity-mapped page tables covering (at least) the first 4 GiB. */
	static const uint64_t vas[] = {
		0,	  0x1234567, 0x7000,	 0x1000200,  0x1fffff,
		0x200000, 0x3ffffff, 0xbfffffff, 0xfee00000, 0xffffffff,
	};
	for (size_t i = 0; i < sizeof(vas) / sizeof(vas[0]); i++) {
		int mapped;
		uint64_t pa = walk(&gm, sregs.cr3, vas[i], &mapped);

		ck_assert_msg(mapped, "va 0x%llx not mapped", (unsigned long long)vas[i]);
		ck_assert_msg(pa == vas[i], "va 0x%llx maps to 0x%llx", (unsigned long long)vas[i],
			      (unsigned long long)pa);
	}
	/* The page tables live in RAM below 1 MiB, clear of the zero page and command line. */
	ck_assert_uint_ge(sregs.cr3, 0x1000);
	ck_assert_uint_lt(sregs.cr3, EBDA_START);
	ck_assert(sregs.cr3 + 4096 <= zp || sregs.cr3 >= zp + 4096);
	guest_mem_free(&gm);
}
END_TEST

START_TEST(test_boot_bzimage_initrd_above_4g)
{
	struct boot_image img = bz_image();
	struct boot_args args = {
		.cmdline = "", .initrd_addr = 0x123456000ULL, .initrd_size = 0x100001000ULL};
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct guest_mem gm;
	char err[256] = "";

	ck_assert_int_eq(guest_mem_alloc(&gm, 64 * MiB), 0);
	memset(&sregs, 0, sizeof(sregs));
	ck_assert_msg(boot_setup(&gm, &img, &args, &regs, &sregs, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_uint_eq(rd(&gm, 0x7000 + 0x218, 4), 0x23456000);
	ck_assert_uint_eq(rd(&gm, 0x7000 + 0x0c0, 4), 0x1);
	ck_assert_uint_eq(rd(&gm, 0x7000 + 0x21c, 4), 0x1000);
	ck_assert_uint_eq(rd(&gm, 0x7000 + 0x0c4, 4), 0x1);
	guest_mem_free(&gm);
}
END_TEST

START_TEST(test_boot_cmdline_limits)
{
	struct boot_image pvh = pvh_image(), bz = bz_image();
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct guest_mem gm;
	char err[256];
	char *long_cmd = malloc(70000);

	ck_assert_ptr_nonnull(long_cmd);
	ck_assert_int_eq(guest_mem_alloc(&gm, 64 * MiB), 0);

	/* bzImage: cmdline_size from the header (2047 here; 255 in another case). */
	for (int max = 0; max < 2; max++) {
		uint32_t lim = max ? 255 : 2047;

		bz.cmdline_max = lim;
		memset(long_cmd, 'x', lim);
		long_cmd[lim] = '\0';
		memset(&sregs, 0, sizeof(sregs));
		struct boot_args args = {.cmdline = long_cmd};

		ck_assert_msg(boot_setup(&gm, &bz, &args, &regs, &sregs, err, sizeof(err)) == 0,
			      "%u bytes rejected: %s", lim, err);
		ck_assert_uint_eq(strlen((char *)hva(&gm, rd(&gm, 0x7000 + 0x228, 4), lim + 1)),
				  lim);
		long_cmd[lim] = 'x';
		long_cmd[lim + 1] = '\0';
		err[0] = '\0';
		ck_assert_int_eq(boot_setup(&gm, &bz, &args, &regs, &sregs, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "--cmdline"), "message: %s", err);
		char num[16];

		snprintf(num, sizeof(num), "%u", lim);
		ck_assert_msg(strstr(err, num), "message does not give the limit: %s", err);
	}

	/* PVH: 65535 bytes fit, 65536 do not. */
	memset(long_cmd, 'y', 65536);
	long_cmd[65535] = '\0';
	struct boot_args args = {.cmdline = long_cmd};

	memset(&sregs, 0, sizeof(sregs));
	ck_assert_msg(boot_setup(&gm, &pvh, &args, &regs, &sregs, err, sizeof(err)) == 0, "%s",
		      err);
	uint64_t cmd = rd(&gm, regs.rbx + 24, 8);

	ck_assert_uint_eq(strlen((char *)hva(&gm, cmd, 65536)), 65535);
	ck_assert_uint_lt(cmd + 65536, EBDA_START);
	long_cmd[65535] = 'y';
	long_cmd[65536] = '\0';
	err[0] = '\0';
	ck_assert_int_eq(boot_setup(&gm, &pvh, &args, &regs, &sregs, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "--cmdline"), "message: %s", err);

	/* A header claiming a huge cmdline_size cannot push the command line past its area. */
	bz.cmdline_max = UINT32_MAX;
	memset(long_cmd, 'z', 69999);
	long_cmd[69999] = '\0';
	ck_assert_int_eq(boot_setup(&gm, &bz, &args, &regs, &sregs, err, sizeof(err)), -1);

	free(long_cmd);
	guest_mem_free(&gm);
}
END_TEST

static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

/* What Linux's MP-table parser checks: signatures, checksums, lengths, and the entries. */
START_TEST(test_mptable)
{
	struct guest_mem gm;
	const uint8_t *mpf, *table, *e;
	uint32_t physptr;
	uint16_t length, count;
	int cpus = 0, ioapics = 0, isa_irqs = 0, lints = 0, buses = 0, pci_irqs = 0;
	const struct mptable_pci_irq pci[2] = {{1, 16}, {2, 17}};

	ck_assert_int_eq(guest_mem_alloc(&gm, 64 * MiB), 0);
	ck_assert_int_eq(mptable_write(&gm, 1, pci, MPTABLE_MAX_PCI_IRQS + 1), -1);
	ck_assert_int_gt(mptable_write(&gm, 1, pci, 2), 0);
	mpf = gpa_to_hva(&gm, MPTABLE_ADDR, 16);
	ck_assert_mem_eq(mpf, "_MP_", 4);
	ck_assert_uint_eq(sum8(mpf, 16), 0);
	ck_assert_uint_eq(mpf[8], 1);  /* length in paragraphs */
	ck_assert_uint_eq(mpf[9], 4);  /* MP spec 1.4 */
	ck_assert_uint_eq(mpf[11], 0); /* feature1 0: a configuration table follows */
	memcpy(&physptr, mpf + 4, 4);
	memcpy(&length, gpa_to_hva(&gm, physptr + 4, 2), 2);
	ck_assert_uint_lt(physptr + length, HIGH_RAM_START - 0x60000); /* inside the EBDA */
	table = gpa_to_hva(&gm, physptr, length);
	ck_assert_mem_eq(table, "PCMP", 4);
	ck_assert_uint_eq(sum8(table, length), 0);
	memcpy(&count, table + 34, 2);
	e = table + 44;
	for (unsigned int i = 0; i < count; i++) {
		ck_assert_msg(e < table + length, "entry %u past the table", i);
		switch (e[0]) {
		case 0:
			cpus++;
			ck_assert_uint_eq(e[3], 3);
			e += 20;
			break; /* enabled, boot CPU */
		case 1:
			ck_assert_mem_eq(e + 2, e[1] ? "ISA   " : "PCI   ", 6); /* PCI: id 0 */
			buses++;
			e += 8;
			break;
		case 2:
			ioapics++;
			ck_assert_uint_eq(e[1], 1);
			e += 8;
			break; /* id after the CPU */
		case 3:
			if (e[4] == 0) { /* PCI bus: INTA# of 00:slot.0, level, active high */
				ck_assert_uint_eq(e[5], pci[pci_irqs].slot << 2);
				ck_assert_uint_eq(e[7], pci[pci_irqs].line);
				ck_assert_uint_eq(e[2], 0x0d);
				pci_irqs++;
				e += 8;
				break;
			}
			/* ISA IRQ 0 is wired to IOAPIC pin 2, the others to their own pin. */
			ck_assert_uint_eq(e[7], e[5] == 0 ? 2 : e[5]);
			isa_irqs++;
			e += 8;
			break;
		case 4:
			lints++;
			e += 8;
			break;
		default:
			ck_abort_msg("unknown MP entry type %u", e[0]);
		}
	}
	ck_assert_ptr_eq(e, table + length);
	ck_assert_int_eq(cpus, 1);
	ck_assert_int_eq(ioapics, 1);
	ck_assert_int_eq(isa_irqs, 16);
	ck_assert_int_eq(lints, 2);
	ck_assert_int_eq(buses, 2);
	ck_assert_int_eq(pci_irqs, 2);
	guest_mem_free(&gm);
}
END_TEST

START_TEST(test_boot_tiny_ram)
{
	struct boot_image img = pvh_image();
	struct boot_args args = {.cmdline = "x"};
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct guest_mem gm;
	char err[256] = "";

	ck_assert_int_eq(guest_mem_alloc(&gm, 512 * KiB), 0);
	memset(&sregs, 0, sizeof(sregs));
	ck_assert_int_eq(boot_setup(&gm, &img, &args, &regs, &sregs, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "1 MiB"), "message: %s", err);
	guest_mem_free(&gm);
}
END_TEST

static Suite *layout_suite(void)
{
	Suite *s = suite_create("layout");
	TCase *tc = tcase_create("memory");

	tcase_add_test(tc, test_layout_sizes);
	tcase_add_loop_test(tc, test_e820, 0, sizeof(e820_sizes) / sizeof(e820_sizes[0]));
	tcase_add_test(tc, test_gpa_to_hva_bounds);
	tcase_add_test(tc, test_gpa_to_hva_hole);
	suite_add_tcase(s, tc);

	tc = tcase_create("boot");
	tcase_add_test(tc, test_boot_pvh);
	tcase_add_test(tc, test_boot_pvh_no_initrd_8g);
	tcase_add_test(tc, test_boot_bzimage);
	tcase_add_test(tc, test_boot_bzimage_initrd_above_4g);
	tcase_add_test(tc, test_boot_cmdline_limits);
	tcase_add_test(tc, test_boot_tiny_ram);
	tcase_add_test(tc, test_mptable);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(layout_suite());
}
