// SPDX-License-Identifier: MIT
#include "boot.h"
#include "mptable.h"

#include <stdio.h>
#include <string.h>

/* struct hvm_start_info and hvm_memmap_table_entry (xen/include/public/arch-x86/hvm/start_info.h)
 */
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

/* struct boot_e820_entry in Linux's boot_params, packed to 20 bytes */
struct boot_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES	     0x1e8
#define BP_HDR		     0x1f1
#define BP_TYPE_OF_LOADER    0x210
#define BP_LOADFLAGS	     0x211
#define BP_RAMDISK_IMAGE     0x218
#define BP_RAMDISK_SIZE	     0x21c
#define BP_CMD_LINE_PTR	     0x228
#define BP_E820_TABLE	     0x2d0

static void *boot_ptr(struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	return gpa_to_hva(gm, gpa, len);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static const uint64_t boot_gdt[] = {
	0,
	0x00cf9b000000ffffULL, /* GDT_CODE32: 32-bit code, flat */
	0x00af9b000000ffffULL, /* GDT_CODE64: 64-bit code */
	0x00cf93000000ffffULL, /* GDT_DATA: data, flat */
	0x00008b0000000067ULL, /* GDT_TSS: 32-bit TSS (busy), base 0 */
};

static void write_gdt(struct guest_mem *gm)
{
	memcpy(boot_ptr(gm, BOOT_GDT_ADDR, sizeof(boot_gdt)), boot_gdt, sizeof(boot_gdt));
	memset(boot_ptr(gm, BOOT_IDT_ADDR, 8), 0, 8);
}

/* The KVM view of GDT entry sel, as the CPU would have it after loading the selector. */
static struct kvm_segment segment(uint16_t sel)
{
	uint64_t desc = boot_gdt[sel >> 3];
	struct kvm_segment s = {
		.base = ((desc >> 16) & 0xffffff) | (((desc >> 56) & 0xff) << 24),
		.limit = (uint32_t)(((desc & 0xffff) | (((desc >> 48) & 0xf) << 16))),
		.selector = sel,
		.type = (desc >> 40) & 0xf,
		.present = (desc >> 47) & 1,
		.dpl = (desc >> 45) & 3,
		.db = (desc >> 54) & 1,
		.s = (desc >> 44) & 1,
		.l = (desc >> 53) & 1,
		.g = (desc >> 55) & 1,
	};
	if (s.g)
		s.limit = (s.limit << 12) | 0xfff;
	return s;
}

static void set_segments(struct kvm_sregs *sregs, uint16_t cs_sel)
{
	sregs->cs = segment(cs_sel);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = segment(GDT_DATA);
	sregs->tr = segment(GDT_TSS);
	sregs->gdt.base = BOOT_GDT_ADDR;
	sregs->gdt.limit = sizeof(boot_gdt) - 1;
	sregs->idt.base = BOOT_IDT_ADDR;
	sregs->idt.limit = 0;
}

/* Identity map of [0, 4 GiB) with 2 MiB pages, as the 64-bit boot protocol requires. */
static void write_page_tables(struct guest_mem *gm)
{
	uint64_t *pml4 = boot_ptr(gm, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = boot_ptr(gm, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = boot_ptr(gm, BOOT_PD_ADDR, 4 * 4096);

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | 0x3;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096ULL) | 0x3;
	for (uint64_t i = 0; i < 2048; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB */
}

static int write_cmdline(struct guest_mem *gm, const struct boot_image *img, const char *cmdline,
			 char *err, size_t errlen)
{
	size_t len = strlen(cmdline);
	size_t max =
		img->cmdline_max < BOOT_CMDLINE_MAX - 1 ? img->cmdline_max : BOOT_CMDLINE_MAX - 1;

	if (len > max) {
		snprintf(err, errlen, "--cmdline: %zu bytes, the kernel accepts at most %zu", len,
			 max);
		return -1;
	}
	memcpy(boot_ptr(gm, BOOT_CMDLINE_ADDR, len + 1), cmdline, len + 1);
	return 0;
}

static void setup_pvh(struct guest_mem *gm, const struct boot_args *args, struct kvm_regs *regs,
		      struct kvm_sregs *sregs)
{
	struct e820_entry map[E820_MAX];
	int n = e820_build(gm, map);
	struct hvm_start_info *si = boot_ptr(gm, PVH_START_INFO_ADDR, sizeof(*si));
	struct hvm_memmap_table_entry *mm = boot_ptr(gm, PVH_MEMMAP_ADDR, n * sizeof(*mm));

	memset(si, 0, sizeof(*si));
	si->magic = PVH_START_MAGIC;
	si->version = 1; /* memmap fields valid */
	si->cmdline_paddr = BOOT_CMDLINE_ADDR;
	si->memmap_paddr = PVH_MEMMAP_ADDR;
	si->memmap_entries = n;
	for (int i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_table_entry){map[i].addr, map[i].size, map[i].type, 0};
	if (args->initrd_size) {
		struct hvm_modlist_entry *mod = boot_ptr(gm, PVH_MODLIST_ADDR, sizeof(*mod));

		*mod = (struct hvm_modlist_entry){args->initrd_addr, args->initrd_size, 0, 0};
		si->nr_modules = 1;
		si->modlist_paddr = PVH_MODLIST_ADDR;
	}

	/* PVH entry: 32-bit protected mode, paging off, EBX = start_info. */
	set_segments(sregs, GDT_CODE32);
	sregs->cr0 = 0x11; /* PE | ET */
	sregs->cr4 = 0;
	sregs->efer = 0;
	regs->rbx = PVH_START_INFO_ADDR;
}

static void setup_linux64(struct guest_mem *gm, const struct boot_image *img,
			  const struct boot_args *args, struct kvm_regs *regs,
			  struct kvm_sregs *sregs)
{
	uint8_t *bp = boot_ptr(gm, ZERO_PAGE_ADDR, 4096);
	struct e820_entry map[E820_MAX];
	int n = e820_build(gm, map);

	memset(bp, 0, 4096);
	memcpy(bp + BP_HDR, img->setup_header, sizeof(img->setup_header));
	bp[BP_TYPE_OF_LOADER] = 0xff; /* undefined loader */
	bp[BP_LOADFLAGS] |= 0x01;     /* LOADED_HIGH */
	put32(bp + BP_CMD_LINE_PTR, BOOT_CMDLINE_ADDR);
	put32(bp + BP_EXT_CMD_LINE_PTR, 0);
	put32(bp + BP_RAMDISK_IMAGE, (uint32_t)args->initrd_addr);
	put32(bp + BP_RAMDISK_SIZE, (uint32_t)args->initrd_size);
	put32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(args->initrd_addr >> 32));
	put32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(args->initrd_size >> 32));
	bp[BP_E820_ENTRIES] = n;
	for (int i = 0; i < n; i++) {
		struct boot_e820_entry e = {map[i].addr, map[i].size, map[i].type};

		memcpy(bp + BP_E820_TABLE + i * sizeof(e), &e, sizeof(e));
	}

	write_page_tables(gm);
	set_segments(sregs, GDT_CODE64);
	sregs->cr3 = BOOT_PML4_ADDR;
	sregs->cr4 = 0x20;	 /* PAE */
	sregs->cr0 = 0x80000011; /* PG | ET | PE */
	sregs->efer = 0x500;	 /* LME | LMA */
	regs->rsi = ZERO_PAGE_ADDR;
}

int boot_setup(struct guest_mem *gm, const struct boot_image *img, const struct boot_args *args,
	       struct kvm_regs *regs, struct kvm_sregs *sregs, char *err, size_t errlen)
{
	if (guest_mem_low_end(gm) < HIGH_RAM_START) {
		snprintf(err, errlen, "guest RAM below 1 MiB cannot hold the boot structures");
		return -1;
	}
	if (write_cmdline(gm, img, args->cmdline ? args->cmdline : "", err, errlen))
		return -1;
	write_gdt(gm);
	if (mptable_write(gm, args->nr_cpus ? args->nr_cpus : 1, args->pci_irqs,
			  args->nr_pci_irqs) < 0) {
		snprintf(err, errlen, "cannot write the MP table for %u vCPUs", args->nr_cpus);
		return -1;
	}
	memset(regs, 0, sizeof(*regs));
	regs->rflags = 0x2;
	regs->rip = img->entry;
	if (img->kind == BOOT_PVH)
		setup_pvh(gm, args, regs, sregs);
	else
		setup_linux64(gm, img, args, regs, sregs);
	return 0;
}
