// SPDX-License-Identifier: MIT
/*
 * Unit tests for the kernel and initramfs loader: crafted PVH ELF and bzImage images, every
 * rejection path, truncation sweeps (crafted and the real test guest), and read_whole_file().
 * Every image handed to load_kernel() sits in a buffer of exactly its size, so that an
 * out-of-bounds read shows up under ASan.
 */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"
#include "memory.h"
#include "harness.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

#define RAM_SIZE (64 * MiB)
#define POISON	 0xcc

static struct guest_mem gm;

static void gm_setup(void)
{
	ck_assert_int_eq(guest_mem_alloc(&gm, RAM_SIZE), 0);
	/* Poison the area the crafted images load into, to see what the loader writes. */
	memset(gpa_to_hva(&gm, 1 * MiB, 4 * MiB), POISON, 4 * MiB);
}

static void gm_teardown(void)
{
	guest_mem_free(&gm);
}

static uint8_t *ram(uint64_t gpa, uint64_t len)
{
	uint8_t *p = gpa_to_hva(&gm, gpa, len);

	ck_assert_msg(p, "gpa 0x%llx+0x%llx not in RAM", (unsigned long long)gpa,
		      (unsigned long long)len);
	return p;
}

/* A heap copy of exactly size bytes (at least 1 allocated, never read past size). */
static uint8_t *dup_exact(const uint8_t *buf, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);

	ck_assert_ptr_nonnull(p);
	memcpy(p, buf, size);
	return p;
}

/* Index of the first non-zero byte, or len. */
static size_t first_nonzero(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len && !p[i])
		i++;
	return i;
}

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* ------------------------------------------------------------------ crafted ELF images */

#define ELF_NAME   "crafted.elf"
#define PH_OFF	   0x40
#define NOTE_OFF   0x140
#define TEXT_OFF   0x200
#define TEXT_SIZE  0x300
#define TEXT_PADDR 0x200000ULL
#define DATA_OFF   0x500
#define DATA_FILE  0x100
#define DATA_MEM   0x2000
#define DATA_PADDR 0x300000ULL
#define SHDR_OFF   0x600 /* trailing "section headers": not loaded */
#define ELF_SIZE   0x700
#define ENTRY	   0x200010ULL
#define LOAD_END   (DATA_PADDR + DATA_MEM)
#define ELF_NEEDED 0x600 /* bytes the loader must have: headers, note and both segments */

struct elf_img {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[4];
	unsigned int nph; /* program headers serialised at PH_OFF */
	size_t size;
	uint8_t file[ELF_SIZE];
};

/* Writes one note at off; returns its length. */
static size_t put_note(uint8_t *p, const char *name, uint32_t namesz, uint32_t type,
		       const void *desc, uint32_t descsz)
{
	Elf64_Nhdr nh = {.n_namesz = namesz, .n_descsz = descsz, .n_type = type};
	size_t name_al = (namesz + 3) & ~3U, desc_al = (descsz + 3) & ~3U;

	memcpy(p, &nh, sizeof(nh));
	memset(p + sizeof(nh), 0, name_al + desc_al);
	memcpy(p + sizeof(nh), name, namesz);
	memcpy(p + sizeof(nh) + name_al, desc, descsz);
	return sizeof(nh) + name_al + desc_al;
}

static uint8_t text_byte(size_t i)
{
	return (uint8_t)(i * 13 + 1);
}

static uint8_t data_byte(size_t i)
{
	return (uint8_t)(i * 29 + 7) | 1; /* never 0: bss must be told apart */
}

/* A valid PVH ELF: text + data/bss PT_LOADs and a PT_NOTE with a desc_size-byte entry. */
static void elf_default(struct elf_img *e, unsigned int desc_size)
{
	uint64_t entry = ENTRY;
	size_t note_len;

	memset(e, 0, sizeof(*e));
	e->size = ELF_SIZE;
	memcpy(e->eh.e_ident, ELFMAG, SELFMAG);
	e->eh.e_ident[EI_CLASS] = ELFCLASS64;
	e->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	e->eh.e_ident[EI_VERSION] = EV_CURRENT;
	e->eh.e_type = ET_EXEC;
	e->eh.e_machine = EM_X86_64;
	e->eh.e_version = EV_CURRENT;
	e->eh.e_entry = 0xffffffff81000000ULL; /* the 64-bit entry, which PVH ignores */
	e->eh.e_phoff = PH_OFF;
	e->eh.e_shoff = SHDR_OFF;
	e->eh.e_ehsize = sizeof(Elf64_Ehdr);
	e->eh.e_phentsize = sizeof(Elf64_Phdr);
	e->eh.e_phnum = 3;
	e->eh.e_shentsize = sizeof(Elf64_Shdr);
	e->eh.e_shnum = 4;
	e->nph = 3;

	note_len =
		put_note(e->file + NOTE_OFF, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &entry, desc_size);
	for (size_t i = 0; i < TEXT_SIZE; i++)
		e->file[TEXT_OFF + i] = text_byte(i);
	for (size_t i = 0; i < DATA_FILE; i++)
		e->file[DATA_OFF + i] = data_byte(i);
	for (size_t i = SHDR_OFF; i < ELF_SIZE; i++)
		e->file[i] = (uint8_t)(0xa0 ^ i);

	e->ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
				.p_flags = PF_R | PF_X,
				.p_offset = TEXT_OFF,
				.p_vaddr = 0xffffffff80000000ULL + TEXT_PADDR,
				.p_paddr = TEXT_PADDR,
				.p_filesz = TEXT_SIZE,
				.p_memsz = TEXT_SIZE,
				.p_align = 0x100};
	e->ph[1] = (Elf64_Phdr){.p_type = PT_LOAD,
				.p_flags = PF_R | PF_W,
				.p_offset = DATA_OFF,
				.p_vaddr = 0xffffffff80000000ULL + DATA_PADDR,
				.p_paddr = DATA_PADDR,
				.p_filesz = DATA_FILE,
				.p_memsz = DATA_MEM,
				.p_align = 0x100};
	e->ph[2] = (Elf64_Phdr){.p_type = PT_NOTE,
				.p_flags = PF_R,
				.p_offset = NOTE_OFF,
				.p_filesz = note_len,
				.p_memsz = note_len,
				.p_align = 4};
}

/* Serialises e into a heap buffer of exactly e->size bytes. */
static uint8_t *elf_build(const struct elf_img *e)
{
	uint8_t file[ELF_SIZE];

	memcpy(file, e->file, sizeof(file));
	memcpy(file, &e->eh, sizeof(e->eh));
	memcpy(file + PH_OFF, e->ph, e->nph * sizeof(Elf64_Phdr));
	return dup_exact(file, e->size);
}

static int load_buf(const uint8_t *buf, size_t size, struct boot_image *img, char *err,
		    size_t errlen)
{
	err[0] = '\0';
	memset(img, 0x5a, sizeof(*img));
	return load_kernel(&gm, ELF_NAME, buf, size, img, err, errlen);
}

static int load_elf_img(const struct elf_img *e, struct boot_image *img, char *err, size_t errlen)
{
	uint8_t *buf = elf_build(e);
	int r = load_buf(buf, e->size, img, err, errlen);

	free(buf);
	return r;
}

static void check_elf_loaded(const struct boot_image *img, uint64_t entry)
{
	const uint8_t *text = ram(TEXT_PADDR, TEXT_SIZE), *data = ram(DATA_PADDR, DATA_MEM + 1);

	ck_assert_int_eq(img->kind, BOOT_PVH);
	ck_assert_uint_eq(img->entry, entry);
	ck_assert_uint_eq(img->load_start, TEXT_PADDR);
	ck_assert_uint_eq(img->load_end, LOAD_END);
	ck_assert_uint_eq(img->initrd_addr_max, UINT32_MAX);
	ck_assert_uint_gt(img->cmdline_max, 255);
	size_t i;

	/* (Plain loops, one assertion each: a passing ck_assert costs a syscall.) */
	for (i = 0; i < TEXT_SIZE && text[i] == text_byte(i); i++)
		;
	ck_assert_msg(i == TEXT_SIZE, "text byte %zu not loaded", i);
	for (i = 0; i < DATA_FILE && data[i] == data_byte(i); i++)
		;
	ck_assert_msg(i == DATA_FILE, "data byte %zu not loaded", i);
	i = first_nonzero(data + DATA_FILE, DATA_MEM - DATA_FILE);
	ck_assert_msg(i == DATA_MEM - DATA_FILE, "bss byte %zu not zeroed", i);
	/* Nothing written around the segments. */
	ck_assert_uint_eq(*ram(TEXT_PADDR - 1, 1), POISON);
	ck_assert_uint_eq(*ram(TEXT_PADDR + TEXT_SIZE, 1), POISON);
	ck_assert_uint_eq(*ram(DATA_PADDR - 1, 1), POISON);
	ck_assert_uint_eq(data[DATA_MEM], POISON);
}

static void check_default_elf_loaded(const struct boot_image *img)
{
	check_elf_loaded(img, ENTRY);
}

START_TEST(test_elf_valid)
{
	struct elf_img e;
	struct boot_image img;
	char err[512];

	elf_default(&e, _i ? 8 : 4);
	ck_assert_msg(load_elf_img(&e, &img, err, sizeof(err)) == 0, "%s", err);
	check_default_elf_loaded(&img);
}
END_TEST

START_TEST(test_elf_note_search)
{
	static const uint8_t gnu_desc[20] = {1, 2, 3};
	uint64_t other = 0x1234, entry = ENTRY + 0x100;
	struct elf_img e;
	struct boot_image img;
	char err[512];
	size_t off = NOTE_OFF;

	/* Other notes first: a GNU build-id, another Xen note type, an odd-length name. */
	elf_default(&e, 4);
	memset(e.file + NOTE_OFF, 0, TEXT_OFF - NOTE_OFF);
	off += put_note(e.file + off, "GNU", 4, 3, gnu_desc, sizeof(gnu_desc));
	off += put_note(e.file + off, "Xen", 4, 1, &other, 8);
	off += put_note(e.file + off, "Linux", 6, XEN_ELFNOTE_PHYS32_ENTRY, &other, 4);
	off += put_note(e.file + off, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &entry, 4);
	ck_assert_uint_le(off, TEXT_OFF);
	e.ph[2].p_filesz = off - NOTE_OFF;
	ck_assert_msg(load_elf_img(&e, &img, err, sizeof(err)) == 0, "%s", err);
	check_elf_loaded(&img, ENTRY + 0x100);

	/* The PVH note in a second PT_NOTE segment, after one without it. */
	elf_default(&e, 4);
	memset(e.file + NOTE_OFF, 0, TEXT_OFF - NOTE_OFF);
	off = put_note(e.file + NOTE_OFF, "GNU", 4, 3, gnu_desc, sizeof(gnu_desc));
	e.ph[2].p_filesz = off;
	e.ph[3] = e.ph[2];
	e.ph[3].p_offset = NOTE_OFF + off;
	e.ph[3].p_filesz =
		put_note(e.file + NOTE_OFF + off, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &entry, 4);
	e.nph = e.eh.e_phnum = 4;
	ck_assert_msg(load_elf_img(&e, &img, err, sizeof(err)) == 0, "%s", err);
	check_elf_loaded(&img, ENTRY + 0x100);
}
END_TEST

START_TEST(test_elf_odd_segments)
{
	struct elf_img e;
	struct boot_image img;
	char err[512];

	/* A PT_LOAD with p_memsz 0 loads nothing, whatever its other fields say. */
	elf_default(&e, 4);
	e.ph[3] = (Elf64_Phdr){.p_type = PT_LOAD,
			       .p_offset = UINT64_MAX - 4,
			       .p_paddr = 0x10,
			       .p_filesz = 0,
			       .p_memsz = 0};
	e.nph = e.eh.e_phnum = 4;
	ck_assert_msg(load_elf_img(&e, &img, err, sizeof(err)) == 0, "%s", err);
	check_default_elf_loaded(&img);

	/* A bss-only segment (p_filesz 0) is zero-filled and extends load_end. */
	elf_default(&e, 4);
	e.ph[3] = (Elf64_Phdr){.p_type = PT_LOAD,
			       .p_offset = ELF_SIZE,
			       .p_paddr = 0x400000,
			       .p_filesz = 0,
			       .p_memsz = 0x3000};
	e.nph = e.eh.e_phnum = 4;
	memset(ram(0x400000, 0x3001), POISON, 0x3001);
	ck_assert_msg(load_elf_img(&e, &img, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(img.load_end, 0x403000);
	ck_assert_uint_eq(img.load_start, TEXT_PADDR);
	ck_assert_uint_eq(first_nonzero(ram(0x400000, 0x3000), 0x3000), 0x3000);
	ck_assert_uint_eq(*ram(0x403000, 1), POISON);

	/* A segment that ends exactly at the end of guest RAM. */
	elf_default(&e, 4);
	e.ph[1].p_paddr = RAM_SIZE - DATA_MEM;
	ck_assert_msg(load_elf_img(&e, &img, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(img.load_end, RAM_SIZE);
	ck_assert_uint_eq(*ram(RAM_SIZE - 1, 1), 0);

	/* Segments in descending address order. */
	elf_default(&e, 4);
	Elf64_Phdr t = e.ph[0];

	e.ph[0] = e.ph[1];
	e.ph[1] = t;
	ck_assert_msg(load_elf_img(&e, &img, err, sizeof(err)) == 0, "%s", err);
	check_default_elf_loaded(&img);
}
END_TEST

/* ------------------------------------------------------------------ ELF rejections */

struct elf_reject {
	const char *what;
	void (*mutate)(struct elf_img *e);
	const char *reason; /* substring the message must contain, besides the file name */
};

static void m_class32(struct elf_img *e)
{
	e->eh.e_ident[EI_CLASS] = ELFCLASS32;
}
static void m_classnone(struct elf_img *e)
{
	e->eh.e_ident[EI_CLASS] = ELFCLASSNONE;
}
static void m_bigendian(struct elf_img *e)
{
	e->eh.e_ident[EI_DATA] = ELFDATA2MSB;
}
static void m_i386(struct elf_img *e)
{
	e->eh.e_machine = EM_386;
}
static void m_aarch64(struct elf_img *e)
{
	e->eh.e_machine = EM_AARCH64;
}
static void m_dyn(struct elf_img *e)
{
	e->eh.e_type = ET_DYN;
}
static void m_rel(struct elf_img *e)
{
	e->eh.e_type = ET_REL;
}
static void m_phentsize(struct elf_img *e)
{
	e->eh.e_phentsize = 32;
}
static void m_phnum0(struct elf_img *e)
{
	e->eh.e_phnum = 0;
}
static void m_phoff_past_end(struct elf_img *e)
{
	e->eh.e_phoff = 0x10000;
}
static void m_phoff_huge(struct elf_img *e)
{
	e->eh.e_phoff = UINT64_MAX - 8;
}
static void m_phoff_at_end(struct elf_img *e)
{
	e->eh.e_phoff = ELF_SIZE;
}
static void m_phoff_last_crosses(struct elf_img *e)
{
	e->eh.e_phoff = ELF_SIZE - 3 * sizeof(Elf64_Phdr) + 1;
}
static void m_phnum_max(struct elf_img *e)
{
	e->eh.e_phnum = 0xffff;
}
static void m_phnum_pn_xnum(struct elf_img *e)
{
	e->eh.e_phnum = PN_XNUM;
}
static void m_no_note(struct elf_img *e)
{
	e->ph[2].p_type = PT_NULL;
}
static void m_note_type(struct elf_img *e)
{
	uint32_t type = 17;

	memcpy(e->file + NOTE_OFF + 8, &type, 4);
}
static void m_note_name_short(struct elf_img *e)
{
	uint32_t namesz = 3;

	memcpy(e->file + NOTE_OFF, &namesz, 4);
}
static void m_note_name_case(struct elf_img *e)
{
	memcpy(e->file + NOTE_OFF + 12, "XEN", 4);
}
static void set_descsz(struct elf_img *e, uint32_t descsz)
{
	memcpy(e->file + NOTE_OFF + 4, &descsz, 4);
	e->ph[2].p_filesz = 16 + ((descsz + 3) & ~3U);
	e->ph[2].p_memsz = e->ph[2].p_filesz;
}
static void m_desc2(struct elf_img *e)
{
	set_descsz(e, 2);
}
static void m_desc0(struct elf_img *e)
{
	set_descsz(e, 0);
}
static void m_desc16(struct elf_img *e)
{
	set_descsz(e, 16);
}
static void m_note_past_segment(struct elf_img *e)
{
	e->ph[2].p_filesz = 16; /* header and name, not the value */
}
static void m_note_descsz_huge(struct elf_img *e)
{
	uint32_t descsz = 0xfffffffe;

	memcpy(e->file + NOTE_OFF + 4, &descsz, 4);
}
static void m_note_namesz_huge(struct elf_img *e)
{
	uint32_t namesz = 0xffffffff;

	memcpy(e->file + NOTE_OFF, &namesz, 4);
}
static void m_note_seg_past_eof(struct elf_img *e)
{
	e->ph[2].p_offset = ELF_SIZE - 8;
}
static void m_note_seg_huge_off(struct elf_img *e)
{
	e->ph[2].p_offset = UINT64_MAX - 4;
}
static void m_seg_past_eof(struct elf_img *e)
{
	e->ph[0].p_filesz = e->ph[0].p_memsz = ELF_SIZE - TEXT_OFF + 1;
}
static void m_seg_huge_off(struct elf_img *e)
{
	e->ph[0].p_offset = UINT64_MAX - 0x10;
}
static void m_seg_huge_filesz(struct elf_img *e)
{
	e->ph[1].p_filesz = e->ph[1].p_memsz = UINT64_MAX;
}
static void m_filesz_gt_memsz(struct elf_img *e)
{
	e->ph[1].p_filesz = 0x100;
	e->ph[1].p_memsz = 0xff;
}
static void m_below_1m(struct elf_img *e)
{
	e->ph[0].p_paddr = 0x80000;
}
static void m_straddles_1m(struct elf_img *e)
{
	e->ph[0].p_paddr = 0xfff00;
}
static void m_above_ram(struct elf_img *e)
{
	e->ph[1].p_paddr = 0x10000000;
}
static void m_straddles_ram_end(struct elf_img *e)
{
	e->ph[1].p_paddr = RAM_SIZE - 0x100;
}
static void m_in_mmio_hole(struct elf_img *e)
{
	e->ph[1].p_paddr = 0xc0000000;
}
static void m_paddr_wraps(struct elf_img *e)
{
	e->ph[1].p_paddr = UINT64_MAX - 0xff;
}
static void m_memsz_huge(struct elf_img *e)
{
	e->ph[1].p_memsz = UINT64_MAX;
}
static void set_entry(struct elf_img *e, uint64_t entry)
{
	memcpy(e->file + NOTE_OFF + 16, &entry, 4);
}
static void m_entry_after(struct elf_img *e)
{
	set_entry(e, 0x400000);
}
static void m_entry_at_end(struct elf_img *e)
{
	set_entry(e, LOAD_END);
}
static void m_entry_before(struct elf_img *e)
{
	set_entry(e, TEXT_PADDR - 1);
}
static void m_entry_zero(struct elf_img *e)
{
	set_entry(e, 0);
}
static void m_entry_above_4g(struct elf_img *e)
{
	uint64_t entry = (1ULL << 32) + ENTRY;

	elf_default(e, 8);
	memcpy(e->file + NOTE_OFF + 16, &entry, 8);
}
static void m_no_load(struct elf_img *e)
{
	e->ph[0].p_type = PT_NULL;
	e->ph[1].p_type = PT_NOTE + 0x100;
}
static void m_all_memsz_zero(struct elf_img *e)
{
	e->ph[0].p_memsz = e->ph[0].p_filesz = 0;
	e->ph[1].p_memsz = e->ph[1].p_filesz = 0;
}
static void m_truncated_header(struct elf_img *e)
{
	e->size = sizeof(Elf64_Ehdr) - 1;
}
static void m_ident_only(struct elf_img *e)
{
	e->size = EI_NIDENT - 1;
}
static void m_magic_only(struct elf_img *e)
{
	e->size = SELFMAG;
}

static const struct elf_reject elf_rejects[] = {
	{"32-bit class", m_class32, "32-bit"},
	{"class none", m_classnone, "class"},
	{"big-endian", m_bigendian, "x86-64"},
	{"i386 machine", m_i386, "x86-64"},
	{"aarch64 machine", m_aarch64, "x86-64"},
	{"ET_DYN", m_dyn, "not an executable"},
	{"ET_REL", m_rel, "not an executable"},
	{"phentsize 32", m_phentsize, "program header"},
	{"phnum 0", m_phnum0, "program header"},
	{"phoff past end", m_phoff_past_end, "truncated"},
	{"phoff near UINT64_MAX", m_phoff_huge, "truncated"},
	{"phoff at end", m_phoff_at_end, "truncated"},
	{"last phdr crosses EOF", m_phoff_last_crosses, "truncated"},
	{"phnum 0xffff", m_phnum_max, "truncated"},
	{"phnum PN_XNUM", m_phnum_pn_xnum, "truncated"},
	{"no PT_NOTE", m_no_note, "PVH"},
	{"note type 17", m_note_type, "PVH"},
	{"note name 'Xe'", m_note_name_short, "PVH"},
	{"note name 'XEN'", m_note_name_case, "PVH"},
	{"2-byte descriptor", m_desc2, "2-byte"},
	{"0-byte descriptor", m_desc0, "0-byte"},
	{"16-byte descriptor", m_desc16, "16-byte"},
	{"note past its segment", m_note_past_segment, "past its segment"},
	{"note descsz huge", m_note_descsz_huge, "past its segment"},
	{"note namesz huge", m_note_namesz_huge, "past its segment"},
	{"PT_NOTE past EOF", m_note_seg_past_eof, "past the end"},
	{"PT_NOTE offset huge", m_note_seg_huge_off, "past the end"},
	{"PT_LOAD past EOF", m_seg_past_eof, "truncated"},
	{"PT_LOAD offset huge", m_seg_huge_off, "truncated"},
	{"PT_LOAD filesz huge", m_seg_huge_filesz, "truncated"},
	{"p_filesz > p_memsz", m_filesz_gt_memsz, "segment 1"},
	{"below 1 MiB", m_below_1m, "below 1 MiB"},
	{"straddles 1 MiB", m_straddles_1m, "below 1 MiB"},
	{"above RAM", m_above_ram, "outside guest RAM"},
	{"straddles end of RAM", m_straddles_ram_end, "outside guest RAM"},
	{"in the MMIO hole", m_in_mmio_hole, "outside guest RAM"},
	{"paddr wraps", m_paddr_wraps, "outside guest RAM"},
	{"memsz huge", m_memsz_huge, "outside guest RAM"},
	{"entry after image", m_entry_after, "outside the loaded image"},
	{"entry at load_end", m_entry_at_end, "outside the loaded image"},
	{"entry before image", m_entry_before, "outside the loaded image"},
	{"entry 0", m_entry_zero, "outside the loaded image"},
	{"entry above 4 GiB", m_entry_above_4g, "outside the loaded image"},
	{"no PT_LOAD", m_no_load, "no loadable segment"},
	{"all PT_LOAD empty", m_all_memsz_zero, "no loadable segment"},
	{"truncated ELF header", m_truncated_header, "truncated"},
	{"shorter than e_ident", m_ident_only, "ELF"},
	{"ELF magic only", m_magic_only, "ELF"},
};

START_TEST(test_elf_rejects)
{
	const struct elf_reject *c = &elf_rejects[_i];
	struct elf_img e;
	struct boot_image img;
	char err[512];

	elf_default(&e, 4);
	c->mutate(&e);
	ck_assert_msg(load_elf_img(&e, &img, err, sizeof(err)) == -1, "%s: accepted", c->what);
	ck_assert_msg(!strncmp(err, ELF_NAME ": ", strlen(ELF_NAME) + 2),
		      "%s: message does not start with the file name: %s", c->what, err);
	ck_assert_msg(strstr(err, c->reason), "%s: message lacks \"%s\": %s", c->what, c->reason,
		      err);
	ck_assert_msg(strlen(err) > strlen(ELF_NAME) + 10, "%s: message too short: %s", c->what,
		      err);
}
END_TEST

START_TEST(test_not_a_kernel)
{
	static const uint8_t zeros[0x300];
	struct boot_image img;
	char err[512];
	uint8_t *junk;

	/* Zero-length and short files. */
	for (size_t size = 0; size < sizeof(zeros); size += size < 16 ? 1 : 61) {
		uint8_t *buf = dup_exact(zeros, size);

		ck_assert_int_eq(load_buf(buf, size, &img, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, ELF_NAME) && strstr(err, "not a kernel"), "%zu: %s", size,
			      err);
		free(buf);
	}
	/* Random junk of several sizes. */
	for (int round = 0; round < 8; round++) {
		size_t size = round < 4 ? (size_t)1 << (4 * round + 2) : 1 + rnd() % 100000;

		junk = malloc(size);
		ck_assert_ptr_nonnull(junk);
		for (size_t i = 0; i < size; i++)
			junk[i] = (uint8_t)rnd();
		junk[0] = 'J'; /* not \x7fELF */
		ck_assert_int_eq(load_buf(junk, size, &img, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, ELF_NAME) && strstr(err, "not a kernel"), "%zu: %s", size,
			      err);
		free(junk);
	}
}
END_TEST

START_TEST(test_small_err_buffer)
{
	struct elf_img e;
	struct boot_image img;
	char err[16];

	elf_default(&e, 4);
	m_no_note(&e);
	memset(err, 'Q', sizeof(err));
	ck_assert_int_eq(load_elf_img(&e, &img, err, 8), -1);
	ck_assert_uint_eq(strlen(err), 7);
	ck_assert_uint_eq(err[8], 'Q'); /* nothing written past errlen */
	memset(err, 'Q', sizeof(err));
	ck_assert_int_eq(load_elf_img(&e, &img, err, 1), -1);
	ck_assert_uint_eq(err[0], 0);
	ck_assert_uint_eq(err[1], 'Q');
}
END_TEST

/* Random byte flips in the headers, note and segments: the loader must never crash, and what
 * it accepts must be sane. */
START_TEST(test_elf_fuzz)
{
	struct elf_img e;
	struct boot_image img;
	char err[512];
	int accepted = 0;

	rng_state = 0x5eed0000ULL + 1;
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t *buf;
		int flips = 1 + rnd() % 4, r;

		elf_default(&e, rnd() % 2 ? 8 : 4);
		buf = elf_build(&e);
		for (int f = 0; f < flips; f++) {
			/* Mostly the header, program headers and note, where the parsing is. */
			size_t at = rnd() % 4 ? rnd() % (TEXT_OFF) : rnd() % ELF_SIZE;

			buf[at] ^= (uint8_t)(1u << (rnd() % 8)) | (rnd() % 8 ? 0 : 0xff);
		}
		r = load_buf(buf, ELF_SIZE, &img, err, sizeof(err));
		free(buf);
		if (r) {
			ck_assert_int_eq(r, -1);
			ck_assert_msg(strstr(err, ELF_NAME), "iter %d: %s", iter, err);
			continue;
		}
		accepted++;
		ck_assert_int_eq(img.kind, BOOT_PVH);
		ck_assert_uint_ge(img.load_start, 1 * MiB);
		ck_assert_uint_le(img.load_end, RAM_SIZE);
		ck_assert_uint_lt(img.load_start, img.load_end);
		ck_assert_uint_ge(img.entry, img.load_start);
		ck_assert_uint_lt(img.entry, img.load_end);
	}
	ck_assert_int_gt(accepted, 100); /* flips in harmless bytes still load */
}
END_TEST

/* ------------------------------------------------------------------ truncation sweeps */

START_TEST(test_elf_truncation_crafted)
{
	struct elf_img e;
	struct boot_image img;
	char err[512];
	uint8_t *full;

	elf_default(&e, 4);
	full = elf_build(&e);
	for (size_t cut = 0; cut < ELF_SIZE; cut++) {
		uint8_t *buf = dup_exact(full, cut);
		int r = load_buf(buf, cut, &img, err, sizeof(err));

		free(buf);
		if (cut < ELF_NEEDED) {
			ck_assert_msg(r == -1, "cut at %zu bytes: accepted", cut);
			ck_assert_msg(strstr(err, ELF_NAME), "cut at %zu: %s", cut, err);
		} else {
			/* Only the trailing section headers are gone. */
			ck_assert_msg(r == 0, "cut at %zu: %s", cut, err);
			check_default_elf_loaded(&img);
		}
	}
	free(full);
}
END_TEST

struct ref_load {
	uint64_t start, end, needed;
};

/* Independent reading of an ELF's program headers: load range and the bytes it needs. */
static struct ref_load ref_elf(const uint8_t *buf, size_t size)
{
	struct ref_load ref = {UINT64_MAX, 0, 0};
	Elf64_Ehdr eh;

	ck_assert_uint_ge(size, sizeof(eh));
	memcpy(&eh, buf, sizeof(eh));
	ref.needed = eh.e_phoff + eh.e_phnum * sizeof(Elf64_Phdr);
	ck_assert_uint_le(ref.needed, size);
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
			continue;
		if (ph.p_offset + ph.p_filesz > ref.needed)
			ref.needed = ph.p_offset + ph.p_filesz;
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		if (ph.p_paddr < ref.start)
			ref.start = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > ref.end)
			ref.end = ph.p_paddr + ph.p_memsz;
	}
	return ref;
}

START_TEST(test_elf_truncation_real_guest)
{
	const char *path = getenv("DEJAVM_TEST_GUEST");
	struct boot_image full_img, img;
	struct ref_load ref;
	char err[512];
	uint8_t *file;
	size_t size;
	Elf64_Ehdr eh;

	if (!path || !*path) {
		printf("test_elf_truncation_real_guest: DEJAVM_TEST_GUEST not set, skipped\n");
		return;
	}
	ck_assert_msg(read_whole_file(path, &file, &size, err, sizeof(err)) == 0, "%s", err);
	ref = ref_elf(file, size);

	/* The whole file loads, exactly where its program headers say. */
	ck_assert_msg(load_kernel(&gm, path, file, size, &full_img, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_int_eq(full_img.kind, BOOT_PVH);
	ck_assert_uint_eq(full_img.load_start, ref.start);
	ck_assert_uint_eq(full_img.load_end, ref.end);
	ck_assert_uint_ge(full_img.entry, ref.start);
	ck_assert_uint_lt(full_img.entry, ref.end);
	memcpy(&eh, file, sizeof(eh));
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, file + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		const uint8_t *dst = ram(ph.p_paddr, ph.p_memsz);

		ck_assert_mem_eq(dst, file + ph.p_offset, ph.p_filesz);
		ck_assert_uint_eq(first_nonzero(dst + ph.p_filesz, ph.p_memsz - ph.p_filesz),
				  ph.p_memsz - ph.p_filesz);
	}

	/* Every cut: no crash; -1 whenever loaded bytes are missing; else the same image. */
	int loaded_cuts = 0;

	for (size_t cut = 0; cut < size; cut++) {
		uint8_t *buf = dup_exact(file, cut);
		int r = load_kernel(&gm, path, buf, cut, &img, err, sizeof(err));

		free(buf);
		if (cut < ref.needed) {
			ck_assert_msg(r == -1, "%s cut at %zu of %zu bytes: accepted", path, cut,
				      size);
			ck_assert_msg(strstr(err, path), "cut at %zu: %s", cut, err);
			continue;
		}
		if (r)
			continue;
		loaded_cuts++;
		ck_assert_uint_eq(img.entry, full_img.entry);
		ck_assert_uint_eq(img.load_start, full_img.load_start);
		ck_assert_uint_eq(img.load_end, full_img.load_end);
	}
	printf("test_elf_truncation_real_guest: %s: %zu cuts, %d loaded "
	       "(first %llu bytes needed)\n",
	       path, size, loaded_cuts, (unsigned long long)ref.needed);
	free(file);
}
END_TEST

/* ------------------------------------------------------------------ bzImage */

#define BZ_NAME	       "crafted.bzImage"
#define BZ_SETUP_SECTS 4
#define BZ_SETUP_SIZE  ((BZ_SETUP_SECTS + 1) * 512)
#define BZ_PAYLOAD     0x1000
#define BZ_SIZE	       (BZ_SETUP_SIZE + BZ_PAYLOAD)
#define BZ_CAP	       0x20000

struct bz_img {
	size_t size;
	uint8_t buf[BZ_CAP];
};

static void put(uint8_t *p, uint64_t v, unsigned int size)
{
	memcpy(p, &v, size); /* little-endian host */
}

static uint8_t payload_byte(size_t i)
{
	return (uint8_t)(i * 31 + 5);
}

static void bz_default(struct bz_img *b)
{
	memset(b, 0, sizeof(*b));
	b->size = BZ_SIZE;
	for (size_t i = 0; i < BZ_SETUP_SIZE; i++)
		b->buf[i] = (uint8_t)(i ^ 0x5a);
	memset(b->buf + 0x1f1, 0, BZ_SETUP_HDR_END - 0x1f1);
	b->buf[0x1f1] = BZ_SETUP_SECTS;		 /* setup_sects */
	put(b->buf + 0x1f4, BZ_PAYLOAD / 16, 4); /* syssize */
	put(b->buf + 0x1fe, 0xaa55, 2);		 /* boot_flag */
	put(b->buf + 0x200, 0x6aeb, 2);		 /* jump */
	memcpy(b->buf + 0x202, "HdrS", 4);	 /* header */
	put(b->buf + 0x206, 0x020f, 2);		 /* version 2.15 */
	b->buf[0x211] = 0x01;			 /* loadflags: LOADED_HIGH */
	put(b->buf + 0x214, 0x100000, 4);	 /* code32_start */
	put(b->buf + 0x22c, 0x37ffffff, 4);	 /* initrd_addr_max */
	put(b->buf + 0x230, 0x200000, 4);	 /* kernel_alignment */
	b->buf[0x234] = 1;			 /* relocatable_kernel */
	put(b->buf + 0x236, 0x0003, 2);		 /* xloadflags: KERNEL_64, ABOVE_4G */
	put(b->buf + 0x238, 2047, 4);		 /* cmdline_size */
	put(b->buf + 0x258, 0x1000000, 8);	 /* pref_address */
	put(b->buf + 0x260, 0x200000, 4);	 /* init_size */
	for (size_t i = 0; i < BZ_PAYLOAD; i++)
		b->buf[BZ_SETUP_SIZE + i] = payload_byte(i);
}

static int load_bz(const struct bz_img *b, struct boot_image *img, char *err, size_t errlen)
{
	uint8_t *buf = dup_exact(b->buf, b->size);
	int r;

	err[0] = '\0';
	memset(img, 0x5a, sizeof(*img));
	r = load_kernel(&gm, BZ_NAME, buf, b->size, img, err, errlen);
	free(buf);
	return r;
}

static void check_payload(uint64_t at, size_t len)
{
	const uint8_t *p = ram(at, len);

	size_t i;

	for (i = 0; i < len && p[i] == payload_byte(i); i++)
		;
	ck_assert_msg(i == len, "payload byte %zu at 0x%llx", i, (unsigned long long)at);
}

START_TEST(test_bz_valid)
{
	struct bz_img *b = malloc(sizeof(*b));
	struct boot_image img;
	char err[512];

	ck_assert_ptr_nonnull(b);
	bz_default(b);
	ck_assert_msg(load_bz(b, &img, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(img.kind, BOOT_BZIMAGE);
	ck_assert_uint_eq(img.load_start, 0x1000000);
	ck_assert_uint_eq(img.entry, 0x1000200);
	ck_assert_uint_eq(img.load_end, 0x1000000 + 0x200000); /* init_size > payload */
	ck_assert_uint_eq(img.initrd_addr_max, 0x37ffffff);
	ck_assert_uint_eq(img.cmdline_max, 2047);
	ck_assert_mem_eq(img.setup_header, b->buf + BZ_SETUP_HDR_OFF, sizeof(img.setup_header));
	check_payload(0x1000000, BZ_PAYLOAD);

	/* pref_address is honoured. */
	bz_default(b);
	put(b->buf + 0x258, 0x2000000, 8);
	ck_assert_msg(load_bz(b, &img, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(img.load_start, 0x2000000);
	ck_assert_uint_eq(img.entry, 0x2000200);
	check_payload(0x2000000, BZ_PAYLOAD);

	/* A payload larger than init_size: load_end covers the payload. */
	bz_default(b);
	put(b->buf + 0x260, 0x100, 4);
	ck_assert_msg(load_bz(b, &img, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(img.load_end, 0x1000000 + BZ_PAYLOAD);

	/* setup_sects 0 means 4. */
	bz_default(b);
	b->buf[0x1f1] = 0;
	ck_assert_msg(load_bz(b, &img, err, sizeof(err)) == 0, "%s", err);
	check_payload(0x1000000, BZ_PAYLOAD);

	/* More setup sectors shift the payload. */
	bz_default(b);
	b->buf[0x1f1] = 8;
	memmove(b->buf + 9 * 512, b->buf + BZ_SETUP_SIZE, BZ_PAYLOAD);
	b->size = 9 * 512 + BZ_PAYLOAD;
	ck_assert_msg(load_bz(b, &img, err, sizeof(err)) == 0, "%s", err);
	check_payload(0x1000000, BZ_PAYLOAD);

	/* A kernel that ends exactly at the end of RAM. */
	bz_default(b);
	put(b->buf + 0x258, RAM_SIZE - 0x200000, 8);
	ck_assert_msg(load_bz(b, &img, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(img.load_end, RAM_SIZE);

	/* Protocol 2.12 is the oldest with the 64-bit entry. */
	bz_default(b);
	put(b->buf + 0x206, 0x020c, 2);
	ck_assert_msg(load_bz(b, &img, err, sizeof(err)) == 0, "%s", err);
	free(b);
}
END_TEST

struct bz_reject {
	const char *what;
	uint32_t off, size;
	uint64_t val;
	const char *reason;
};

static const struct bz_reject bz_rejects[] = {
	{"protocol 2.11", 0x206, 2, 0x020b, "too old"},
	{"protocol 2.00", 0x206, 2, 0x0200, "too old"},
	{"no XLF_KERNEL_64", 0x236, 2, 0x0002, "XLF_KERNEL_64"},
	{"setup larger than the file", 0x1f1, 1, 200, "truncated"},
	{"setup exactly the file", 0x1f1, 1, BZ_SIZE / 512 - 1, "truncated"},
	{"init_size beyond RAM", 0x260, 4, 0x8000000, "guest RAM"},
	{"init_size 4 GiB - 1", 0x260, 4, 0xffffffff, "guest RAM"},
	{"ends 1 byte past RAM", 0x258, 8, RAM_SIZE - 0x200000 + 0x1000, "guest RAM"},
	{"pref_address beyond RAM", 0x258, 8, 0x40000000, "guest RAM"},
	{"pref_address near UINT64_MAX", 0x258, 8, 0xfffffffffff00000ULL, "guest RAM"},
};

START_TEST(test_bz_rejects)
{
	const struct bz_reject *c = &bz_rejects[_i];
	struct bz_img *b = malloc(sizeof(*b));
	struct boot_image img;
	char err[512];

	ck_assert_ptr_nonnull(b);
	bz_default(b);
	put(b->buf + c->off, c->val, c->size);
	ck_assert_msg(load_bz(b, &img, err, sizeof(err)) == -1, "%s: accepted", c->what);
	ck_assert_msg(!strncmp(err, BZ_NAME ": ", strlen(BZ_NAME) + 2),
		      "%s: message does not start with the file name: %s", c->what, err);
	ck_assert_msg(strstr(err, c->reason), "%s: message lacks \"%s\": %s", c->what, c->reason,
		      err);
	free(b);
}
END_TEST

START_TEST(test_bz_above_4g_rejected)
{
	struct bz_img *b = malloc(sizeof(*b));
	struct guest_mem big;
	struct boot_image img;
	char err[512] = "";
	uint8_t *buf;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(guest_mem_alloc(&big, 8 * GiB), 0);
	bz_default(b);
	put(b->buf + 0x258, 4 * GiB, 8); /* in RAM, but the loader wants it below 4 GiB */
	buf = dup_exact(b->buf, b->size);
	ck_assert_int_eq(load_kernel(&big, BZ_NAME, buf, b->size, &img, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "4 GiB"), "%s", err);
	/* The default address works in the same guest. */
	put(b->buf + 0x258, 0x1000000, 8);
	memcpy(buf, b->buf, b->size);
	ck_assert_msg(load_kernel(&big, BZ_NAME, buf, b->size, &img, err, sizeof(err)) == 0, "%s",
		      err);
	free(buf);
	guest_mem_free(&big);
	free(b);
}
END_TEST

/* Files that stop inside the setup header: rejected, and never read past their end. */
START_TEST(test_bz_short_header)
{
	struct bz_img *b = malloc(sizeof(*b));
	struct boot_image img;
	char err[512];

	ck_assert_ptr_nonnull(b);
	bz_default(b);
	for (size_t size = 0x206; size <= BZ_SETUP_HDR_END; size++) {
		b->size = size;
		ck_assert_msg(load_bz(b, &img, err, sizeof(err)) == -1, "%zu bytes: accepted",
			      size);
		ck_assert_msg(strstr(err, BZ_NAME), "%zu bytes: %s", size, err);
	}
	free(b);
}
END_TEST

START_TEST(test_bz_truncation_sweep)
{
	struct bz_img *b = malloc(sizeof(*b));
	struct boot_image img;
	char err[512];

	ck_assert_ptr_nonnull(b);
	bz_default(b);
	for (size_t cut = 0; cut < BZ_SIZE; cut++) {
		uint8_t *buf = dup_exact(b->buf, cut);
		int r;

		err[0] = '\0';
		r = load_kernel(&gm, BZ_NAME, buf, cut, &img, err, sizeof(err));
		free(buf);
		if (cut <= BZ_SETUP_SIZE) {
			ck_assert_msg(r == -1, "cut at %zu: accepted", cut);
			ck_assert_msg(strstr(err, BZ_NAME), "cut at %zu: %s", cut, err);
		} else if (r == 0) {
			/* No payload length in the header to check against: a short payload. */
			ck_assert_uint_eq(img.load_start, 0x1000000);
			ck_assert_uint_eq(img.entry, 0x1000200);
			check_payload(0x1000000, cut - BZ_SETUP_SIZE);
		}
	}
	free(b);
}
END_TEST

/* ------------------------------------------------------------------ load_initramfs */

static struct boot_image pvh_img(uint64_t load_end)
{
	struct boot_image img = {.kind = BOOT_PVH,
				 .entry = 0x100000,
				 .load_start = 0x100000,
				 .load_end = load_end,
				 .initrd_addr_max = UINT32_MAX,
				 .cmdline_max = 65535};
	return img;
}

static uint8_t *pattern(size_t size)
{
	uint8_t *p = malloc(size);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(i * 17 + 3);
	return p;
}

START_TEST(test_initramfs_placement)
{
	const size_t size = 0x12345;
	uint8_t *data = pattern(size);
	struct boot_image img = pvh_img(LOAD_END);
	char err[512] = "";
	uint64_t addr = 0;

	/* PVH: the top of RAM. */
	ck_assert_msg(load_initramfs(&gm, "initrd", data, size, &img, &addr, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(addr & 0xfff, 0);
	ck_assert_uint_ge(addr, img.load_end);
	ck_assert_uint_le(addr + size, RAM_SIZE);
	ck_assert_uint_eq(addr, (RAM_SIZE - size) & ~0xfffULL); /* as high as possible */
	ck_assert_mem_eq(ram(addr, size), data, size);

	/* bzImage: below initrd_addr_max. */
	struct boot_image bz = {.kind = BOOT_BZIMAGE,
				.entry = 0x1000200,
				.load_start = 0x1000000,
				.load_end = 0x1200000,
				.initrd_addr_max = 0x37fffff,
				.cmdline_max = 2047};

	ck_assert_msg(load_initramfs(&gm, "initrd", data, size, &bz, &addr, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(addr & 0xfff, 0);
	ck_assert_uint_le(addr + size - 1, bz.initrd_addr_max);
	ck_assert_uint_eq(addr, (0x3800000 - size) & ~0xfffULL);
	ck_assert_uint_ge(addr, bz.load_end);
	ck_assert_mem_eq(ram(addr, size), data, size);

	/* Exactly fitting between the kernel and the limit, then one byte too many. */
	bz.initrd_addr_max = 0x1212fff;
	ck_assert_msg(load_initramfs(&gm, "initrd", data, size, &bz, &addr, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(addr, 0x1200000);
	bz.initrd_addr_max = 0x1212343;
	ck_assert_msg(load_initramfs(&gm, "initrd", data, size, &bz, &addr, err, sizeof(err)) == -1,
		      "placed at 0x%llx", (unsigned long long)addr);
	ck_assert_msg(strstr(err, "--memory"), "%s", err);
	free(data);
}
END_TEST

START_TEST(test_initramfs_8g_below_hole)
{
	const size_t size = 0x5000;
	uint8_t *data = pattern(size);
	struct boot_image img = pvh_img(LOAD_END);
	struct guest_mem big;
	char err[512] = "";
	uint64_t addr = 0;

	ck_assert_int_eq(guest_mem_alloc(&big, 8 * GiB), 0);
	ck_assert_msg(load_initramfs(&big, "initrd", data, size, &img, &addr, err, sizeof(err)) ==
			      0,
		      "%s", err);
	ck_assert_uint_eq(addr, 3 * GiB - size);
	ck_assert_mem_eq(gpa_to_hva(&big, addr, size), data, size);
	guest_mem_free(&big);
	free(data);
}
END_TEST

START_TEST(test_initramfs_errors)
{
	struct boot_image img = pvh_img(LOAD_END);
	size_t big = RAM_SIZE + 1;
	uint8_t *data = calloc(1, big);
	char err[512] = "";
	uint64_t addr = 0x1234;

	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(load_initramfs(&gm, "initrd.img", data, 0, &img, &addr, err, sizeof(err)),
			 -1);
	ck_assert_msg(strstr(err, "initrd.img") && strstr(err, "empty"), "%s", err);

	/* Larger than RAM, larger than the room above the kernel, and just too large. */
	const size_t sizes[] = {big, RAM_SIZE, RAM_SIZE - 0x1000, RAM_SIZE - LOAD_END + 1};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(load_initramfs(&gm, "initrd.img", data, sizes[i], &img, &addr, err,
					     sizeof(err)) == -1,
			      "%zu bytes placed at 0x%llx", sizes[i], (unsigned long long)addr);
		ck_assert_msg(strstr(err, "initrd.img") && strstr(err, "--memory"), "%s", err);
	}
	/* The largest that fits lands right on the kernel's end. */
	ck_assert_msg(load_initramfs(&gm, "initrd.img", data, RAM_SIZE - LOAD_END, &img, &addr, err,
				     sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(addr, LOAD_END);
	free(data);
}
END_TEST

/* With a limit and a kernel end that are not page-aligned, the initrd must still not overlap
 * the kernel. */
START_TEST(test_initramfs_unaligned_limits)
{
	const size_t size = 0x1000;
	uint8_t *data = pattern(size);
	struct boot_image bz = {.kind = BOOT_BZIMAGE,
				.entry = 0x1000200,
				.load_start = 0x1000000,
				.load_end = 0x2fff900,
				.initrd_addr_max = 0x300094f,
				.cmdline_max = 2047};
	char err[512] = "";
	uint64_t addr = 0;
	int r = load_initramfs(&gm, "initrd", data, size, &bz, &addr, err, sizeof(err));

	if (r == 0) {
		ck_assert_uint_eq(addr & 0xfff, 0);
		ck_assert_msg(addr >= bz.load_end,
			      "initrd at 0x%llx overlaps the kernel, which ends at 0x%llx",
			      (unsigned long long)addr, (unsigned long long)bz.load_end);
		ck_assert_uint_le(addr + size - 1, bz.initrd_addr_max);
	} else {
		ck_assert_msg(strstr(err, "--memory"), "%s", err);
	}
	free(data);
}
END_TEST

/* Random kernel ends, limits and sizes against a reference computation. */
START_TEST(test_initramfs_random)
{
	const size_t maxsize = 16 * MiB;
	uint8_t *data = pattern(maxsize);
	char err[512];

	rng_state = 0xabcdef12345ULL;
	for (int iter = 0; iter < 3000; iter++) {
		int aligned_limits = iter % 2;
		struct boot_image img = pvh_img(1 * MiB + rnd() % (48 * MiB));
		size_t size = 1 + (rnd() % 16 ? rnd() % 0x20000 : rnd() % maxsize);
		uint64_t top, best, addr = 0;
		int fits, r;

		if (rnd() % 2)
			img.initrd_addr_max = 2 * MiB + rnd() % (80 * MiB);
		if (aligned_limits) {
			img.load_end = (img.load_end + 0xfff) & ~0xfffULL;
			img.initrd_addr_max |= 0xfff;
		}
		top = (uint64_t)img.initrd_addr_max + 1 < RAM_SIZE ? img.initrd_addr_max + 1ULL
								   : RAM_SIZE;
		if (!aligned_limits && iter % 4 == 2 && top > size + 2 * MiB) {
			/* A kernel end just below where a rounded-up size would start. */
			img.load_end = top - ((size + 0xfff) & ~0xfffULL) - rnd() % 0x1000;
		}
		best = top >= size ? (top - size) & ~0xfffULL : 0;
		fits = top >= size && best >= img.load_end;

		r = load_initramfs(&gm, "initrd", data, size, &img, &addr, err, sizeof(err));
		if (r == 0) {
			ck_assert_msg(fits, "iter %d: placed at 0x%llx, but nothing fits", iter,
				      (unsigned long long)addr);
			ck_assert_uint_eq(addr & 0xfff, 0);
			ck_assert_msg(addr >= img.load_end,
				      "iter %d: initrd [0x%llx, +0x%zx) overlaps the kernel ending "
				      "at 0x%llx (initrd_addr_max 0x%x)",
				      iter, (unsigned long long)addr, size,
				      (unsigned long long)img.load_end, img.initrd_addr_max);
			ck_assert_uint_le(addr + size, top);
			if (aligned_limits)
				ck_assert_uint_eq(addr, best);
			if (size <= 0x20000 || iter % 8 == 0)
				ck_assert_int_eq(memcmp(ram(addr, size), data, size), 0);
		} else {
			ck_assert_int_eq(r, -1);
			/* Page-aligned limits: the loader must find any place that exists. */
			if (aligned_limits)
				ck_assert_msg(!fits,
					      "iter %d: %zu bytes rejected but 0x%llx fits: %s",
					      iter, size, (unsigned long long)best, err);
		}
	}
	free(data);
}
END_TEST

/* ------------------------------------------------------------------ read_whole_file */

START_TEST(test_read_whole_file)
{
	char path[] = "/tmp/dejavm-test-XXXXXX";
	char err[512];
	uint8_t *buf = NULL;
	size_t size = 12345;
	const size_t n = 100000;
	uint8_t *data = pattern(n);
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
	ck_assert_msg(read_whole_file(path, &buf, &size, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(size, n);
	ck_assert_mem_eq(buf, data, n);
	free(buf);

	/* An empty file is read as 0 bytes (load_kernel then rejects it). */
	ck_assert_int_eq(truncate(path, 0), 0);
	buf = NULL;
	ck_assert_msg(read_whole_file(path, &buf, &size, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(size, 0);
	ck_assert_ptr_nonnull(buf);
	struct boot_image img;

	ck_assert_int_eq(load_kernel(&gm, path, buf, size, &img, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path), "%s", err);
	free(buf);
	unlink(path);
	free(data);
}
END_TEST

START_TEST(test_read_whole_file_errors)
{
	static const struct {
		const char *path;
		const char *reason;
	} cases[] = {
		{"/nonexistent-dejavm-dir/vmlinux", "No such file"},
		{"", "No such file"},
		{"/tmp", "not a regular file"},
		{"/dev/null", "not a regular file"},
		{"/proc/self/fd", "not a regular file"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *buf = (uint8_t *)"untouched";
		size_t size = 777;
		char err[512] = "";

		ck_assert_int_eq(read_whole_file(cases[i].path, &buf, &size, err, sizeof(err)), -1);
		ck_assert_msg(!strncmp(err, cases[i].path, strlen(cases[i].path)),
			      "message does not start with the path: %s", err);
		ck_assert_msg(strstr(err, cases[i].reason), "%s: %s", cases[i].path, err);
		ck_assert_str_eq((char *)buf, "untouched");
		ck_assert_uint_eq(size, 777);
	}
}
END_TEST

static Suite *loader_suite(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("elf");

	tcase_add_checked_fixture(tc, gm_setup, gm_teardown);
	tcase_add_loop_test(tc, test_elf_valid, 0, 2);
	tcase_add_test(tc, test_elf_note_search);
	tcase_add_test(tc, test_elf_odd_segments);
	tcase_add_loop_test(tc, test_elf_rejects, 0, sizeof(elf_rejects) / sizeof(elf_rejects[0]));
	tcase_add_test(tc, test_not_a_kernel);
	tcase_add_test(tc, test_small_err_buffer);
	tcase_add_test(tc, test_elf_fuzz);
	tcase_add_test(tc, test_elf_truncation_crafted);
	tcase_add_test(tc, test_elf_truncation_real_guest);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	tc = tcase_create("bzimage");
	tcase_add_checked_fixture(tc, gm_setup, gm_teardown);
	tcase_add_test(tc, test_bz_valid);
	tcase_add_loop_test(tc, test_bz_rejects, 0, sizeof(bz_rejects) / sizeof(bz_rejects[0]));
	tcase_add_test(tc, test_bz_above_4g_rejected);
	tcase_add_test(tc, test_bz_short_header);
	tcase_add_test(tc, test_bz_truncation_sweep);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("initramfs");
	tcase_add_checked_fixture(tc, gm_setup, gm_teardown);
	tcase_add_test(tc, test_initramfs_placement);
	tcase_add_test(tc, test_initramfs_8g_below_hole);
	tcase_add_test(tc, test_initramfs_errors);
	tcase_add_test(tc, test_initramfs_unaligned_limits);
	tcase_add_test(tc, test_initramfs_random);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, gm_setup, gm_teardown);
	tcase_add_test(tc, test_read_whole_file);
	tcase_add_test(tc, test_read_whole_file_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(loader_suite());
}
