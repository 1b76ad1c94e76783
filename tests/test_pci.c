// SPDX-License-Identifier: MIT
/*
 * Unit tests for PCI config space, driven as a guest would: port I/O on 0xCF8/0xCFC of a real
 * PIO bus, using the access patterns of Linux's conf1 and drivers/pci/probe.c.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "harness.h"
#include "pci.h"

#define MMIO64_BASE 0x8000000000ULL
#define MMIO64_SIZE 0x100000000ULL

static struct bus pio;
static struct pci_bus pb;

/* ------------------------------------------------------------------ port I/O */

static uint32_t in(uint16_t port, uint32_t len)
{
	uint8_t b[8];
	uint32_t v = 0;

	memset(b, 0x5a, sizeof(b));
	bus_access(&pio, port, b, len, false);
	for (uint32_t i = 0; i < len && i < 4; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void out(uint16_t port, uint32_t v, uint32_t len)
{
	uint8_t b[8] = {0};

	for (uint32_t i = 0; i < len && i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bus_access(&pio, port, b, len, true);
}

static uint32_t conf_addr(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int reg)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

/* As arch/x86/pci/direct.c: latch the dword, then the byte lanes of CONFIG_DATA. */
static uint32_t cfg_rd(unsigned int dev, unsigned int reg, uint32_t len)
{
	out(0xcf8, conf_addr(0, dev, 0, reg), 4);
	return in(0xcfc + (reg & (len == 4 ? 0 : len == 2 ? 2 : 3)), len);
}

static void cfg_wr(unsigned int dev, unsigned int reg, uint32_t val, uint32_t len)
{
	out(0xcf8, conf_addr(0, dev, 0, reg), 4);
	out(0xcfc + (reg & (len == 4 ? 0 : len == 2 ? 2 : 3)), val, len);
}

static uint32_t rd32(unsigned int dev, unsigned int reg)
{
	return cfg_rd(dev, reg, 4);
}

static void wr32(unsigned int dev, unsigned int reg, uint32_t val)
{
	cfg_wr(dev, reg, val, 4);
}

/* All 64 dwords of a function's config space. */
static void snapshot(unsigned int dev, uint32_t snap[64])
{
	for (unsigned int i = 0; i < 64; i++)
		snap[i] = rd32(dev, 4 * i);
}

/* ------------------------------------------------------------------ test devices */

struct move {
	unsigned int bar;
	uint64_t old_addr, new_addr;
};

struct tdev {
	struct pci_device pci;
	struct move moves[64];
	int nmoves;
	uint64_t mapped[PCI_NUM_BARS]; /* what the device believes from bar_moved alone */
	uint32_t w_off, w_val, w_cfg;  /* the last cfg_write, and cfg[] at that time */
	unsigned int w_len;
	int nwrites, nreads;
	int ncommands;		 /* command_changed calls */
	uint16_t command_before; /* the last one's old_command */
};

static void t_bar_moved(void *opaque, unsigned int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct tdev *t = opaque;

	ck_assert_uint_lt(bar, PCI_NUM_BARS);
	ck_assert_uint_ne(old_addr, new_addr);
	ck_assert_uint_eq(t->mapped[bar], old_addr); /* reports form a consistent history */
	ck_assert_uint_eq(t->pci.bar[bar].addr, new_addr);
	ck_assert_uint_ne(t->pci.bar[bar].size, 0);
	ck_assert_uint_eq(new_addr % t->pci.bar[bar].size, 0);
	t->mapped[bar] = new_addr;
	if (t->nmoves < 64)
		t->moves[t->nmoves] = (struct move){bar, old_addr, new_addr};
	t->nmoves++;
}

static void t_cfg_write(void *opaque, uint32_t off, uint32_t val, unsigned int len)
{
	struct tdev *t = opaque;

	ck_assert_uint_ge(off, 0x40);
	t->w_off = off;
	t->w_val = val;
	t->w_len = len;
	t->w_cfg = 0;
	for (unsigned int i = 0; i < len; i++)
		t->w_cfg |= (uint32_t)t->pci.cfg[off + i] << (8 * i);
	t->nwrites++;
}

static uint32_t t_cfg_read(void *opaque, uint32_t off, uint32_t val, unsigned int len)
{
	struct tdev *t = opaque;

	ck_assert_uint_ge(off, 0x40);
	t->nreads++;
	return off == 0xf0 && len == 4 ? 0x12345678 : val;
}

static void t_command_changed(void *opaque, uint16_t old_command)
{
	struct tdev *t = opaque;

	ck_assert_uint_ne(old_command, t->pci.cfg[PCI_COMMAND] | t->pci.cfg[PCI_COMMAND + 1] << 8);
	t->command_before = old_command;
	t->ncommands++;
}

static const struct pci_device_ops t_ops = {
	.bar_moved = t_bar_moved,
	.cfg_write = t_cfg_write,
	.cfg_read = t_cfg_read,
	.command_changed = t_command_changed,
};

static void tdev_init(struct tdev *t, uint16_t vendor, uint16_t device, uint32_t class_code,
		      uint16_t subsys_id, uint8_t rev)
{
	memset(t, 0, sizeof(*t));
	pci_device_init(&t->pci, vendor, device, class_code, 0x1af4, subsys_id, rev);
	t->pci.ops = &t_ops;
	t->pci.opaque = t;
}

static void expect_move(struct tdev *t, int i, unsigned int bar, uint64_t old_addr,
			uint64_t new_addr)
{
	ck_assert_int_gt(t->nmoves, i);
	ck_assert_uint_eq(t->moves[i].bar, bar);
	ck_assert_uint_eq(t->moves[i].old_addr, old_addr);
	ck_assert_uint_eq(t->moves[i].new_addr, new_addr);
}

static void setup_bus(uint64_t m32_base, uint64_t m32_size, uint64_t m64_base, uint64_t m64_size,
		      uint16_t io_base, uint16_t io_size)
{
	bus_init(&pio, "pio");
	ck_assert_int_eq(
		pci_bus_init(&pb, &pio, m32_base, m32_size, m64_base, m64_size, io_base, io_size),
		0);
}

static void setup_default(void)
{
	setup_bus(PCI_WIN_MMIO32_BASE, PCI_WIN_MMIO32_SIZE, MMIO64_BASE, MMIO64_SIZE,
		  PCI_WIN_IO_BASE, PCI_WIN_IO_SIZE);
}

static void teardown(void)
{
	pci_bus_free(&pb);
	bus_free(&pio);
}

/*
 * net at 00:01.0: BAR0/1 64-bit prefetchable 16 KiB, BAR2 IO 32, BAR4 32-bit 4 KiB, INTA.
 * blk at 00:02.0: BAR0 32-bit 8 KiB, BAR1 IO 64, BAR2 IO 4.
 */
static struct tdev net, blk;

#define NET_BAR0 MMIO64_BASE
#define NET_BAR2 0x1000
#define NET_BAR4 0xc0000000u
#define BLK_BAR0 0xc0002000u /* after net's 4 KiB, aligned up to 8 KiB */
#define BLK_BAR1 0x1040	     /* after net's 32 bytes, aligned up to 64 */
#define BLK_BAR2 0x1080

static void add_two_devices(void)
{
	tdev_init(&net, 0x1af4, 0x1041, 0x020000, 1, 1);
	ck_assert_int_eq(pci_bar_init(&net.pci, 0, 0x4000, PCI_BAR_MEM64 | PCI_BAR_PREFETCH), 0);
	ck_assert_int_eq(pci_bar_init(&net.pci, 2, 0x20, PCI_BAR_IO), 0);
	ck_assert_int_eq(pci_bar_init(&net.pci, 4, 0x1000, PCI_BAR_MEM32), 0);
	pci_set_irq_pin(&net.pci, 1, 10);
	tdev_init(&blk, 0x1af4, 0x1042, 0x018000, 2, 1);
	ck_assert_int_eq(pci_bar_init(&blk.pci, 0, 0x2000, PCI_BAR_MEM32), 0);
	ck_assert_int_eq(pci_bar_init(&blk.pci, 1, 0x40, PCI_BAR_IO), 0);
	ck_assert_int_eq(pci_bar_init(&blk.pci, 2, 4, PCI_BAR_IO), 0);
	ck_assert_int_eq(pci_bus_add(&pb, &net.pci), 1);
	ck_assert_int_eq(pci_bus_add(&pb, &blk.pci), 2);
	ck_assert_uint_eq(net.pci.slot, 1);
	ck_assert_uint_eq(blk.pci.slot, 2);
}

/* ------------------------------------------------------------------ tests */

START_TEST(test_enumerate)
{
	setup_default();
	add_two_devices();

	/* What pci_scan_slot does: vendor/device of every function on bus 0. */
	for (unsigned int dev = 0; dev < 32; dev++) {
		for (unsigned int fn = 0; fn < 8; fn++) {
			uint32_t want = 0xffffffff;

			out(0xcf8, conf_addr(0, dev, fn, 0), 4);
			if (fn == 0 && dev == 0)
				want = 0x0d578086;
			else if (fn == 0 && dev == 1)
				want = 0x10411af4;
			else if (fn == 0 && dev == 2)
				want = 0x10421af4;
			ck_assert_msg(in(0xcfc, 4) == want, "00:%02x.%u: 0x%08x, expected 0x%08x",
				      dev, fn, in(0xcfc, 4), want);
			/* Nothing else of an absent function reads either. */
			out(0xcf8, conf_addr(0, dev, fn, 0x08), 4);
			if (want == 0xffffffff)
				ck_assert_uint_eq(in(0xcfc, 4), 0xffffffff);
		}
	}
	/* Other buses are empty, even at the slots that are populated on bus 0. */
	static const unsigned int buses[] = {1, 2, 17, 128, 254, 255};

	for (unsigned int i = 0; i < sizeof(buses) / sizeof(buses[0]); i++) {
		for (unsigned int dev = 0; dev < 3; dev++) {
			out(0xcf8, conf_addr(buses[i], dev, 0, 0), 4);
			ck_assert_uint_eq(in(0xcfc, 4), 0xffffffff);
			ck_assert_uint_eq(in(0xcfe, 2), 0xffff);
			ck_assert_uint_eq(in(0xcfd, 1), 0xff);
		}
	}

	/* The host bridge: class 06/00/00, header type 0, no BARs, no capabilities. */
	ck_assert_uint_eq(rd32(0, 0x08), 0x06000000);
	ck_assert_uint_eq(cfg_rd(0, PCI_CLASS_DEVICE, 2), 0x0600); /* pci_sanity_check */
	ck_assert_uint_eq(cfg_rd(0, PCI_HEADER_TYPE, 1), 0);
	for (unsigned int reg = 0x10; reg < 0x28; reg += 4)
		ck_assert_uint_eq(rd32(0, reg), 0);
	ck_assert_uint_eq(cfg_rd(0, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);

	/* The devices: class/revision, header type, subsystem, interrupt. */
	ck_assert_uint_eq(rd32(1, 0x08), 0x02000001);
	ck_assert_uint_eq(rd32(2, 0x08), 0x01800001);
	ck_assert_uint_eq(cfg_rd(1, PCI_HEADER_TYPE, 1), 0);
	ck_assert_uint_eq(cfg_rd(2, PCI_HEADER_TYPE, 1), 0);
	ck_assert_uint_eq(rd32(1, PCI_SUBSYSTEM_VENDOR_ID), 0x00011af4);
	ck_assert_uint_eq(rd32(2, PCI_SUBSYSTEM_VENDOR_ID), 0x00021af4);
	ck_assert_uint_eq(cfg_rd(1, PCI_INTERRUPT_PIN, 1), 1);
	ck_assert_uint_eq(cfg_rd(1, PCI_INTERRUPT_LINE, 1), 10);
	ck_assert_uint_eq(cfg_rd(2, PCI_INTERRUPT_PIN, 1), 0);

	/* Assigned BARs with decoding on, each reported once to its device. */
	ck_assert_uint_eq(rd32(1, 0x10), (uint32_t)NET_BAR0 | 0xc);
	ck_assert_uint_eq(rd32(1, 0x14), NET_BAR0 >> 32);
	ck_assert_uint_eq(rd32(1, 0x18), NET_BAR2 | 1);
	ck_assert_uint_eq(rd32(1, 0x1c), 0);
	ck_assert_uint_eq(rd32(1, 0x20), NET_BAR4);
	ck_assert_uint_eq(rd32(1, 0x24), 0);
	ck_assert_uint_eq(rd32(2, 0x10), BLK_BAR0);
	ck_assert_uint_eq(rd32(2, 0x14), BLK_BAR1 | 1);
	ck_assert_uint_eq(rd32(2, 0x18), BLK_BAR2 | 1);
	ck_assert_uint_eq(rd32(2, 0x1c), 0);
	ck_assert_uint_eq(cfg_rd(1, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	ck_assert_uint_eq(cfg_rd(2, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	ck_assert_int_eq(net.nmoves, 3);
	expect_move(&net, 0, 0, 0, NET_BAR0);
	expect_move(&net, 1, 2, 0, NET_BAR2);
	expect_move(&net, 2, 4, 0, NET_BAR4);
	ck_assert_int_eq(blk.nmoves, 3);
	expect_move(&blk, 0, 0, 0, BLK_BAR0);
	expect_move(&blk, 1, 1, 0, BLK_BAR1);
	expect_move(&blk, 2, 2, 0, BLK_BAR2);
	teardown();
}
END_TEST

START_TEST(test_config_address)
{
	setup_default();
	add_two_devices();

	/* pci_check_type1(): a byte write to 0xCFB must not disturb the dword latch. */
	out(0xcf8, conf_addr(0, 1, 0, 0), 4);
	out(0xcfb, 0x01, 1);
	uint32_t saved = in(0xcf8, 4);

	ck_assert_uint_eq(saved, conf_addr(0, 1, 0, 0));
	out(0xcf8, 0x80000000, 4);
	ck_assert_uint_eq(in(0xcf8, 4), 0x80000000);
	out(0xcf8, saved, 4);
	ck_assert_uint_eq(in(0xcfc, 4), 0x10411af4);

	/* Bits 1:0 read as 0 and do not shift the register. */
	out(0xcf8, conf_addr(0, 1, 0, 0) | 3, 4);
	ck_assert_uint_eq(in(0xcf8, 4), conf_addr(0, 1, 0, 0));
	ck_assert_uint_eq(in(0xcfc, 4), 0x10411af4);

	/* Byte and word accesses to CONFIG_ADDRESS: all ones, writes dropped. */
	for (uint16_t port = 0xcf8; port < 0xcfc; port++) {
		ck_assert_uint_eq(in(port, 1), 0xff);
		out(port, 0, 1);
		if (port % 2 == 0) {
			ck_assert_uint_eq(in(port, 2), 0xffff);
			out(port, 0, 2);
		}
	}
	ck_assert_uint_eq(in(0xcf8, 4), conf_addr(0, 1, 0, 0));

	/* Enable bit clear: CONFIG_DATA is not config space. */
	out(0xcf8, conf_addr(0, 1, 0, PCI_COMMAND) & ~0x80000000u, 4);
	ck_assert_uint_eq(in(0xcfc, 4), 0xffffffff);
	out(0xcfc, 0, 4);
	ck_assert_uint_eq(cfg_rd(1, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	ck_assert_int_eq(net.nmoves, 3);

	/* AMD extended register bits (reg >= 256) or reserved bits: nothing there. */
	for (uint32_t bit = 24; bit < 31; bit++) {
		out(0xcf8, conf_addr(0, 1, 0, 0) | 1u << bit, 4);
		ck_assert_uint_eq(in(0xcfc, 4), 0xffffffff);
		out(0xcf8, conf_addr(0, 1, 0, PCI_COMMAND) | 1u << bit, 4);
		out(0xcfc, 0, 4);
	}
	ck_assert_uint_eq(cfg_rd(1, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);

	/* A write to a function other than 0 does not reach function 0. */
	out(0xcf8, conf_addr(0, 1, 3, PCI_COMMAND), 4);
	out(0xcfc, 0, 4);
	out(0xcf8, conf_addr(1, 1, 0, PCI_COMMAND), 4);
	out(0xcfc, 0, 4);
	ck_assert_uint_eq(cfg_rd(1, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	ck_assert_int_eq(net.nmoves, 3);
	teardown();
}
END_TEST

/* __pci_read_base(): save, write all ones, read the size, restore. */
static uint32_t size_bar(unsigned int dev, unsigned int reg)
{
	uint32_t orig = rd32(dev, reg), sz;

	wr32(dev, reg, 0xffffffff);
	sz = rd32(dev, reg);
	wr32(dev, reg, orig);
	ck_assert_uint_eq(rd32(dev, reg), orig);
	return sz;
}

START_TEST(test_bar_sizing)
{
	setup_default();
	add_two_devices();
	net.nmoves = blk.nmoves = 0;

	/* Linux turns decoding off while sizing: the device hears unmap, then map at the end. */
	uint16_t cmd = cfg_rd(1, PCI_COMMAND, 2);

	cfg_wr(1, PCI_COMMAND, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY), 2);
	ck_assert_int_eq(net.nmoves, 3);
	expect_move(&net, 0, 0, NET_BAR0, 0);
	expect_move(&net, 1, 2, NET_BAR2, 0);
	expect_move(&net, 2, 4, NET_BAR4, 0);
	ck_assert_uint_eq(size_bar(1, 0x10), 0xffffc000 | 0xc); /* 64-bit, prefetchable */
	ck_assert_uint_eq(size_bar(1, 0x14), 0xffffffff);	/* upper half */
	ck_assert_uint_eq(size_bar(1, 0x18), 0xffffffe1);	/* IO, 32 ports */
	ck_assert_uint_eq(size_bar(1, 0x1c), 0);		/* unused */
	ck_assert_uint_eq(size_bar(1, 0x20), 0xfffff000);	/* 32-bit, 4 KiB */
	ck_assert_uint_eq(size_bar(1, 0x24), 0);
	/* The expansion ROM BAR: Linux writes ~PCI_ROM_ADDRESS_ENABLE; 0 means no ROM. */
	wr32(1, PCI_ROM_ADDRESS, ~PCI_ROM_ADDRESS_ENABLE);
	ck_assert_uint_eq(rd32(1, PCI_ROM_ADDRESS), 0);
	wr32(1, PCI_ROM_ADDRESS, 0xffffffff);
	ck_assert_uint_eq(rd32(1, PCI_ROM_ADDRESS), 0);
	ck_assert_int_eq(net.nmoves, 3); /* nothing while decoding was off */
	cfg_wr(1, PCI_COMMAND, cmd, 2);
	ck_assert_int_eq(net.nmoves, 6);
	expect_move(&net, 3, 0, 0, NET_BAR0);
	expect_move(&net, 4, 2, 0, NET_BAR2);
	expect_move(&net, 5, 4, 0, NET_BAR4);

	/* The other device, with decoding left on (as firmware might): a BAR holding the sizing
	 * pattern is not mapped anywhere, and comes back on restore. */
	ck_assert_uint_eq(size_bar(2, 0x10), 0xffffe000);
	ck_assert_int_eq(blk.nmoves, 2);
	expect_move(&blk, 0, 0, BLK_BAR0, 0);
	expect_move(&blk, 1, 0, 0, BLK_BAR0);
	ck_assert_uint_eq(size_bar(2, 0x14), 0xffffffc1);
	ck_assert_int_eq(blk.nmoves, 4);
	expect_move(&blk, 2, 1, BLK_BAR1, 0);
	expect_move(&blk, 3, 1, 0, BLK_BAR1);
	ck_assert_uint_eq(size_bar(2, 0x18), 0xfffffffd); /* IO, 4 ports */
	ck_assert_int_eq(blk.nmoves, 6);
	expect_move(&blk, 4, 2, BLK_BAR2, 0);
	expect_move(&blk, 5, 2, 0, BLK_BAR2);
	ck_assert_uint_eq(size_bar(2, 0x1c), 0);
	ck_assert_int_eq(blk.nmoves, 6);

	/* Word-sized sizing of the upper half of the 32-bit BAR takes the same mask. */
	cfg_wr(1, 0x22, 0xffff, 2);
	ck_assert_uint_eq(rd32(1, 0x20), 0xffff0000 | (NET_BAR4 & 0xffff));
	teardown();
}
END_TEST

START_TEST(test_bar_relocate)
{
	setup_default();
	add_two_devices();
	net.nmoves = 0;

	/* 32-bit BAR: only the writable address bits are taken. */
	wr32(1, 0x20, 0xd0000000);
	ck_assert_uint_eq(rd32(1, 0x20), 0xd0000000);
	ck_assert_int_eq(net.nmoves, 1);
	expect_move(&net, 0, 4, NET_BAR4, 0xd0000000);
	ck_assert_uint_eq(net.pci.bar[4].addr, 0xd0000000);
	wr32(1, 0x20, 0xd0000fff); /* low bits: not writable, same address */
	ck_assert_uint_eq(rd32(1, 0x20), 0xd0000000);
	ck_assert_int_eq(net.nmoves, 1);
	wr32(1, 0x20, 0xd0001abc);
	ck_assert_uint_eq(rd32(1, 0x20), 0xd0001000);
	ck_assert_int_eq(net.nmoves, 2);
	expect_move(&net, 1, 4, 0xd0000000, 0xd0001000);
	/* A byte write to the top byte moves it too. */
	cfg_wr(1, 0x23, 0xc8, 1);
	ck_assert_uint_eq(rd32(1, 0x20), 0xc8001000);
	expect_move(&net, 2, 4, 0xd0001000, 0xc8001000);

	/* 64-bit BAR: each half changes the address; the type bits stay. */
	wr32(1, 0x10, 0x10000000);
	ck_assert_uint_eq(rd32(1, 0x10), 0x1000000c);
	expect_move(&net, 3, 0, NET_BAR0, 0x8010000000ULL);
	wr32(1, 0x14, 0x1);
	ck_assert_uint_eq(rd32(1, 0x14), 1);
	expect_move(&net, 4, 0, 0x8010000000ULL, 0x110000000ULL);
	ck_assert_uint_eq(net.pci.bar[0].addr, 0x110000000ULL);
	ck_assert_uint_eq(net.pci.bar[1].addr, 0); /* the upper half is not a BAR of its own */

	/* IO BAR: bit 0 stays set. */
	wr32(1, 0x18, 0x2000);
	ck_assert_uint_eq(rd32(1, 0x18), 0x2001);
	expect_move(&net, 5, 2, NET_BAR2, 0x2000);
	wr32(1, 0x18, 0x201f);
	ck_assert_uint_eq(rd32(1, 0x18), 0x2001);
	ck_assert_int_eq(net.nmoves, 6);

	/* Writing the same values again reports nothing; the other device heard nothing. */
	wr32(1, 0x10, 0x10000000);
	wr32(1, 0x14, 1);
	wr32(1, 0x20, 0xc8001000);
	ck_assert_int_eq(net.nmoves, 6);
	ck_assert_int_eq(blk.nmoves, 3);
	teardown();
}
END_TEST

START_TEST(test_command_decode)
{
	setup_default();
	add_two_devices();
	net.nmoves = 0;

	/* Only the implemented bits stick. */
	cfg_wr(1, PCI_COMMAND, 0xffff, 2);
	uint16_t all =
		PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE;

	ck_assert_uint_eq(cfg_rd(1, PCI_COMMAND, 2), all);
	ck_assert_int_eq(net.nmoves, 0);

	/* MEM off: both memory BARs unmapped, the IO BAR untouched. */
	cfg_wr(1, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
	ck_assert_int_eq(net.nmoves, 2);
	expect_move(&net, 0, 0, NET_BAR0, 0);
	expect_move(&net, 1, 4, NET_BAR4, 0);
	ck_assert_uint_eq(net.pci.bar[2].addr, NET_BAR2);
	ck_assert_uint_eq(net.pci.bar[4].addr, 0);

	/* Relocating while off is silent; the register still takes the value. */
	wr32(1, 0x20, 0xd0000000);
	ck_assert_uint_eq(rd32(1, 0x20), 0xd0000000);
	ck_assert_int_eq(net.nmoves, 2);

	/* MEM on again (with a byte write to COMMAND): mapped at the new place. */
	cfg_wr(1, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 1);
	ck_assert_int_eq(net.nmoves, 4);
	expect_move(&net, 2, 0, 0, NET_BAR0);
	expect_move(&net, 3, 4, 0, 0xd0000000);

	/* IO off with a dword write that also hits STATUS (read-only). */
	wr32(1, PCI_COMMAND, 0xffff0000 | PCI_COMMAND_MEMORY);
	ck_assert_int_eq(net.nmoves, 5);
	expect_move(&net, 4, 2, NET_BAR2, 0);
	ck_assert_uint_eq(rd32(1, PCI_COMMAND), PCI_COMMAND_MEMORY);

	/* Everything off, then on. */
	cfg_wr(1, PCI_COMMAND, 0, 2);
	ck_assert_int_eq(net.nmoves, 7);
	for (int i = 0; i < PCI_NUM_BARS; i++)
		ck_assert_uint_eq(net.pci.bar[i].addr, 0);
	cfg_wr(1, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	ck_assert_int_eq(net.nmoves, 10);
	ck_assert_uint_eq(net.pci.bar[0].addr, NET_BAR0);
	ck_assert_uint_eq(net.pci.bar[2].addr, NET_BAR2);
	ck_assert_uint_eq(net.pci.bar[4].addr, 0xd0000000);
	ck_assert_int_eq(blk.nmoves, 3);
	ck_assert_uint_eq(cfg_rd(2, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	teardown();
}
END_TEST

/*
 * Bus Master Enable, Interrupt Disable and STATUS.Interrupt (PCI 3.0 6.2.2, 6.2.3) as machine
 * version 2 has them, and version 1, which ignored them.
 */
START_TEST(test_command_master_and_intx)
{
	setup_default();
	add_two_devices();

	/* The VMM turns decoding on, not bus mastering: that is the driver's. */
	ck_assert(!pci_bus_master(&net.pci));
	cfg_wr(1, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	ck_assert(pci_bus_master(&net.pci));
	ck_assert_int_eq(net.ncommands, 1);
	ck_assert_uint_eq(net.command_before, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	cfg_wr(1, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	ck_assert_int_eq(net.ncommands, 1); /* no change, no call */

	/* A pending interrupt: STATUS shows it, the pin is asserted until Interrupt Disable. */
	ck_assert(pci_intx_update(&net.pci, true));
	ck_assert_uint_eq(cfg_rd(1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	cfg_wr(1, PCI_COMMAND + 1, PCI_COMMAND_INTX_DISABLE >> 8, 1);
	ck_assert_int_eq(net.ncommands, 2);
	ck_assert(!pci_intx_update(&net.pci, true));
	ck_assert_uint_eq(cfg_rd(1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	/* A guest cannot write the bit (it is the device's), nor clear it by writing 1. */
	cfg_wr(1, PCI_STATUS, 0xffff, 2);
	ck_assert_uint_eq(cfg_rd(1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	ck_assert(!pci_intx_update(&net.pci, false));
	ck_assert_uint_eq(cfg_rd(1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	cfg_wr(1, PCI_COMMAND + 1, 0, 1);
	ck_assert(pci_intx_update(&net.pci, true));

	/* Machine version 1: BME is not looked at, STATUS.Interrupt stays 0, nothing masks. */
	blk.pci.machine_version = 1;
	ck_assert(pci_bus_master(&blk.pci));
	cfg_wr(2, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE, 2);
	ck_assert(pci_intx_update(&blk.pci, true));
	ck_assert_uint_eq(cfg_rd(2, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	teardown();
}
END_TEST

START_TEST(test_capabilities)
{
	struct tdev cap;
	uint8_t msix[12] = {0xee, 0xee, 0x03, 0x00, 0x01, 0, 0, 0, 0x01, 0x08, 0, 0};
	uint8_t vndr[16] = {0, 0, 16, 1, 4, 0, 0, 0, 0, 0x10, 0, 0x10, 0, 0x10, 0, 0};
	uint8_t small[5] = {0, 0, 5, 0xab, 0xcd};
	uint8_t big[200];

	setup_default();
	tdev_init(&cap, 0x1af4, 0x1043, 0x078000, 3, 1);
	ck_assert_uint_eq(pci_cap_add(&cap.pci, PCI_CAP_ID_MSIX, msix, sizeof(msix)), 0x40);
	ck_assert_uint_eq(pci_cap_add(&cap.pci, PCI_CAP_ID_VNDR, small, sizeof(small)), 0x4c);
	ck_assert_uint_eq(pci_cap_add(&cap.pci, PCI_CAP_ID_VNDR, vndr, sizeof(vndr)), 0x54);
	memset(big, 0x77, sizeof(big));
	ck_assert_uint_eq(pci_cap_add(&cap.pci, PCI_CAP_ID_VNDR, big, sizeof(big)), 0);
	ck_assert_uint_eq(pci_cap_add(&cap.pci, PCI_CAP_ID_VNDR, big, 1), 0);
	ck_assert_uint_eq(pci_cap_add(&cap.pci, PCI_CAP_ID_VNDR, big, 0x98), 0x64); /* to 0xfc */
	ck_assert_uint_eq(pci_cap_add(&cap.pci, PCI_CAP_ID_VNDR, big, 8), 0);	    /* full */
	ck_assert_uint_eq(pci_cap_add(&cap.pci, PCI_CAP_ID_VNDR, big, 4), 0xfc);    /* to 256 */
	ck_assert_uint_eq(pci_cap_add(&cap.pci, PCI_CAP_ID_VNDR, big, 2), 0);
	/* MSI-X Message Control: the device lets the guest write Enable and Function Mask. */
	cap.pci.wmask[0x43] = 0xc0;
	ck_assert_int_eq(pci_bus_add(&pb, &cap.pci), 1);

	/* pci_find_capability(): STATUS.CAP_LIST, then the list from 0x34. */
	ck_assert_uint_eq(cfg_rd(1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
	static const struct {
		uint8_t off, id;
	} want[] = {{0x40, PCI_CAP_ID_MSIX},
		    {0x4c, PCI_CAP_ID_VNDR},
		    {0x54, PCI_CAP_ID_VNDR},
		    {0x64, PCI_CAP_ID_VNDR},
		    {0xfc, PCI_CAP_ID_VNDR}};
	unsigned int n = 0;

	for (uint8_t pos = cfg_rd(1, PCI_CAPABILITY_LIST, 1); pos; n++) {
		ck_assert_uint_lt(n, 5);
		ck_assert_uint_eq(pos, want[n].off);
		ck_assert_uint_eq(pos % 4, 0);
		uint16_t ent = cfg_rd(1, pos, 2);

		ck_assert_uint_eq(ent & 0xff, want[n].id);
		pos = ent >> 8;
	}
	ck_assert_uint_eq(n, 5);

	/* Bodies as given (after the 2-byte header), through dword and byte reads. */
	ck_assert_uint_eq(rd32(1, 0x40), 0x00030000 | 0x4c00 | PCI_CAP_ID_MSIX);
	ck_assert_uint_eq(rd32(1, 0x44), 1);
	ck_assert_uint_eq(rd32(1, 0x48), 0x0801);
	ck_assert_uint_eq(cfg_rd(1, 0x4e, 1), 5);
	ck_assert_uint_eq(cfg_rd(1, 0x4f, 1), 0xab);
	ck_assert_uint_eq(cfg_rd(1, 0x50, 1), 0xcd);
	ck_assert_uint_eq(rd32(1, 0x54), 0x01100000 | 0x6400 | PCI_CAP_ID_VNDR);
	ck_assert_uint_eq(rd32(1, 0x5c), 0x10000000 | 0x1000);
	ck_assert_uint_eq(rd32(1, 0xfc), 0x77770000 | PCI_CAP_ID_VNDR);
	ck_assert_uint_eq(cfg_rd(1, 0xfd, 1), 0); /* the last one ends the list */

	/* Writes: applied through wmask first, then the device hears about them. */
	int reads = cap.nreads;

	cfg_wr(1, 0x42, 0xffff, 2);
	ck_assert_int_eq(cap.nwrites, 1);
	ck_assert_uint_eq(cap.w_off, 0x42);
	ck_assert_uint_eq(cap.w_val, 0xffff);
	ck_assert_uint_eq(cap.w_len, 2);
	ck_assert_uint_eq(cap.w_cfg, 0xc003); /* already applied when called */
	ck_assert_uint_eq(cfg_rd(1, 0x42, 2), 0xc003);
	ck_assert_int_gt(cap.nreads, reads);
	wr32(1, 0x40, 0);
	ck_assert_int_eq(cap.nwrites, 2);
	ck_assert_uint_eq(cap.w_cfg, 0x00034c11);
	ck_assert_uint_eq(rd32(1, 0x40), 0x00034c11);
	/* Read-only capability bytes survive. */
	wr32(1, 0x54, 0);
	wr32(1, 0x5c, 0xffffffff);
	cfg_wr(1, 0x4f, 0, 1);
	ck_assert_uint_eq(rd32(1, 0x54), 0x01106409);
	ck_assert_uint_eq(rd32(1, 0x5c), 0x10001000); /* as given */
	ck_assert_uint_eq(cfg_rd(1, 0x4f, 1), 0xab);
	ck_assert_int_eq(cap.nwrites, 5);

	/* cfg_read overrides what the guest sees, only for that access. */
	ck_assert_uint_eq(rd32(1, 0xf0), 0x12345678);
	ck_assert_uint_eq(cfg_rd(1, 0xf0, 2), 0x7777);
	/* Header accesses do not go to the device's callbacks. */
	reads = cap.nreads;
	wr32(1, PCI_INTERRUPT_LINE, 5);
	ck_assert_uint_eq(rd32(1, 0), 0x10431af4);
	ck_assert_int_eq(cap.nreads, reads);
	ck_assert_int_eq(cap.nwrites, 5);
	teardown();
}
END_TEST

/* The header bytes the guest may change besides COMMAND and the BARs. */
static bool header_byte_writable(unsigned int off)
{
	return off == PCI_CACHE_LINE_SIZE || off == PCI_LATENCY_TIMER || off == PCI_INTERRUPT_LINE;
}

/* Writes all ones, then all zeros, to the header except COMMAND and the BARs. */
static void check_read_only(unsigned int dev)
{
	uint32_t before[64], after[64];

	snapshot(dev, before);
	for (int pass = 0; pass < 2; pass++) {
		uint32_t val = pass ? 0 : 0xffffffff;

		for (unsigned int reg = 0; reg < 0x40; reg += 4) {
			if (reg >= 0x10 && reg < 0x28) /* BARs: see the BAR tests */
				continue;
			if (reg == PCI_COMMAND) /* STATUS, with COMMAND as it is */
				wr32(dev, reg, (val & 0xffff0000) | cfg_rd(dev, PCI_COMMAND, 2));
			else
				wr32(dev, reg, val);
		}
		snapshot(dev, after);
		for (unsigned int off = 0; off < PCI_CFG_SIZE; off++) {
			uint8_t b = before[off / 4] >> (8 * (off % 4));
			uint8_t a = after[off / 4] >> (8 * (off % 4));

			if (header_byte_writable(off))
				ck_assert_msg(a == (uint8_t)val, "dev %u off 0x%x: 0x%02x", dev,
					      off, a);
			else
				ck_assert_msg(a == b, "dev %u off 0x%x: 0x%02x, was 0x%02x", dev,
					      off, a, b);
		}
	}
}

START_TEST(test_read_only_fields)
{
	setup_default();
	add_two_devices();
	check_read_only(0);
	check_read_only(1);
	check_read_only(2);
	/* Spot checks of what must have survived. */
	ck_assert_uint_eq(rd32(1, 0), 0x10411af4);
	ck_assert_uint_eq(rd32(1, 0x08), 0x02000001);
	ck_assert_uint_eq(cfg_rd(1, PCI_HEADER_TYPE, 1), 0);
	ck_assert_uint_eq(cfg_rd(1, PCI_INTERRUPT_PIN, 1), 1);
	ck_assert_uint_eq(cfg_rd(1, PCI_INTERRUPT_LINE, 1), 0);
	ck_assert_uint_eq(rd32(0, 0), 0x0d578086);
	ck_assert_uint_eq(rd32(0, 0x08), 0x06000000);
	/* Header writes with decoding on do not move BARs. */
	ck_assert_int_eq(net.nmoves, 3);
	teardown();
}
END_TEST

START_TEST(test_byte_word_lanes)
{
	setup_default();
	add_two_devices();

	/* Each byte lane of the dword selected by CONFIG_ADDRESS. */
	out(0xcf8, conf_addr(0, 1, 0, 0), 4);
	ck_assert_uint_eq(in(0xcfc, 1), 0xf4);
	ck_assert_uint_eq(in(0xcfd, 1), 0x1a);
	ck_assert_uint_eq(in(0xcfe, 1), 0x41);
	ck_assert_uint_eq(in(0xcff, 1), 0x10);
	ck_assert_uint_eq(in(0xcfc, 2), 0x1af4);
	ck_assert_uint_eq(in(0xcfe, 2), 0x1041);

	/* Interrupt line / pin / min_gnt / max_lat in one dword. */
	out(0xcf8, conf_addr(0, 1, 0, 0x3c), 4);
	out(0xcfc, 0x0b, 1);
	out(0xcfd, 0x03, 1); /* pin: read-only */
	out(0xcfe, 0xffff, 2);
	ck_assert_uint_eq(in(0xcfc, 1), 0x0b);
	ck_assert_uint_eq(in(0xcfd, 1), 0x01);
	ck_assert_uint_eq(in(0xcfc, 4), 0x0000010b);

	/* Cache line, latency timer, header type, BIST. */
	out(0xcf8, conf_addr(0, 1, 0, 0x0c), 4);
	out(0xcfc, 0x10, 1);
	out(0xcfd, 0x40, 1);
	out(0xcfe, 0xff, 1);
	out(0xcff, 0xff, 1);
	ck_assert_uint_eq(in(0xcfc, 4), 0x00004010);
	out(0xcfe, 0xffff, 2);
	ck_assert_uint_eq(in(0xcfc, 4), 0x00004010);
	out(0xcfc, 0x2008, 2);
	ck_assert_uint_eq(in(0xcfc, 4), 0x00002008);
	ck_assert_uint_eq(in(0xcfd, 1), 0x20);
	ck_assert_uint_eq(in(0xcfe, 1), 0x00);

	/* The same lanes on the other device are independent. */
	ck_assert_uint_eq(rd32(2, 0x0c), 0);
	ck_assert_uint_eq(cfg_rd(2, PCI_DEVICE_ID, 2), 0x1042);
	ck_assert_uint_eq(cfg_rd(2, PCI_CLASS_DEVICE + 1, 1), 0x01);
	teardown();
}
END_TEST

/* Every function's config space plus the latch, through port I/O. */
struct state {
	uint32_t cfg[3][64];
	uint32_t latch;
};

static void state_get(struct state *s)
{
	s->latch = in(0xcf8, 4);
	for (unsigned int dev = 0; dev < 3; dev++)
		snapshot(dev, s->cfg[dev]);
	out(0xcf8, s->latch, 4);
}

START_TEST(test_malformed_accesses)
{
	struct state before, after;
	uint8_t buf[8];

	setup_default();
	add_two_devices();
	/* Point at something writable, so a wrongly accepted write would show. */
	out(0xcf8, conf_addr(0, 1, 0, 0x0c), 4);
	state_get(&before);

	/* Unaligned word, dwords straddling the end, odd lengths, 8 bytes. */
	ck_assert_uint_eq(in(0xcfd, 2), 0xffff);
	out(0xcfd, 0xabcd, 2);
	ck_assert_uint_eq(in(0xcff, 2) & 0xffff, 0xffff);
	out(0xcff, 0xabcd, 2);
	for (uint16_t port = 0xcfd; port < 0xd00; port++) {
		ck_assert_uint_eq(in(port, 4), 0xffffffff);
		out(port, 0x12345678, 4);
	}
	for (uint32_t len = 3; len <= 8; len++) {
		for (uint16_t port = 0xcf8; port < 0xd00; port++) {
			if (len == 4 && (port == 0xcf8 || port == 0xcfc))
				continue;
			memset(buf, 0, sizeof(buf));
			bus_access(&pio, port, buf, len, false);
			for (uint32_t i = 0; i < len; i++)
				ck_assert_uint_eq(buf[i], 0xff);
			memset(buf, 0x33, sizeof(buf));
			bus_access(&pio, port, buf, len, true);
		}
	}
	ck_assert_uint_eq(in(0xcf8, 4), conf_addr(0, 1, 0, 0x0c));
	state_get(&after);
	ck_assert_mem_eq(&before, &after, sizeof(before));
	ck_assert_int_eq(net.nmoves, 3);
	ck_assert_int_eq(blk.nmoves, 3);
	teardown();
}
END_TEST

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

/* Random garbage, valid or not, then the invariants a guest cannot break. */
START_TEST(test_random_accesses)
{
	static const uint32_t lens[] = {1, 2, 4, 3, 8, 0};
	uint8_t buf[8];

	setup_default();
	add_two_devices();
	for (int i = 0; i < 200000; i++) {
		uint64_t r = rnd();
		uint16_t port = 0xcf6 + r % 12;
		uint32_t len = lens[(r >> 8) % 6];
		bool write = (r >> 16) & 1;

		if (len == 0)
			len = 1;
		if ((r >> 20) % 4 == 0) {
			/* A mostly valid latch: bus 0, devices 0-3, sometimes other junk. */
			uint32_t a = (uint32_t)(rnd() >> 7);

			if ((r >> 24) % 8)
				a = conf_addr(0, a % 4, (r >> 28) % 8 ? 0 : a % 8, a);
			out(0xcf8, a, 4);
			continue;
		}
		for (uint32_t j = 0; j < sizeof(buf); j++)
			buf[j] = (uint8_t)(rnd() >> 32);
		bus_access(&pio, port, buf, len, write);
	}
	static const uint32_t ids[] = {0x0d578086, 0x10411af4, 0x10421af4};
	static const uint32_t class_rev[] = {0x06000000, 0x02000001, 0x01800001};

	for (unsigned int dev = 0; dev < 3; dev++) {
		ck_assert_uint_eq(rd32(dev, 0), ids[dev]);
		ck_assert_uint_eq(rd32(dev, 0x08), class_rev[dev]);
		ck_assert_uint_eq(cfg_rd(dev, PCI_HEADER_TYPE, 1), 0);
		ck_assert_uint_eq(cfg_rd(dev, PCI_INTERRUPT_PIN, 1), dev == 1);
		ck_assert_uint_eq(cfg_rd(dev, PCI_STATUS, 2), 0);
		ck_assert_uint_eq(rd32(dev, PCI_ROM_ADDRESS), 0);
		ck_assert_uint_eq(rd32(dev, PCI_CAPABILITY_LIST), 0);
		ck_assert_uint_eq(cfg_rd(dev, PCI_COMMAND, 2) & ~0x407u, 0);
	}
	/* BAR type bits, and what the devices believe matches what is programmed. */
	ck_assert_uint_eq(rd32(1, 0x10) & 0xf, 0xc);
	ck_assert_uint_eq(rd32(1, 0x18) & 0x3, 0x1);
	ck_assert_uint_eq(rd32(1, 0x20) & 0xf, 0);
	ck_assert_uint_eq(rd32(1, 0x1c), 0);
	ck_assert_uint_eq(rd32(2, 0x14) & 0x3, 0x1);
	ck_assert_uint_eq(rd32(2, 0x18) & 0x3, 0x1);
	ck_assert_uint_eq(rd32(2, 0x1c), 0);
	ck_assert_int_gt(net.nmoves, 3);
	ck_assert_int_gt(blk.nmoves, 3);
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		ck_assert_uint_eq(net.mapped[i], net.pci.bar[i].addr);
		ck_assert_uint_eq(blk.mapped[i], blk.pci.bar[i].addr);
	}
	uint16_t cmd = cfg_rd(1, PCI_COMMAND, 2);
	uint64_t bar4 = rd32(1, 0x20);

	if ((cmd & PCI_COMMAND_MEMORY) && bar4 != 0xfffff000)
		ck_assert_uint_eq(net.pci.bar[4].addr, bar4);
	else
		ck_assert_uint_eq(net.pci.bar[4].addr, 0);
	teardown();
}
END_TEST

START_TEST(test_exhaustion)
{
	static struct tdev d[40];
	int n = 0;

	/* 12 KiB of 32-bit MMIO, no 64-bit window, 64 ports. */
	setup_bus(0xc0000000, 0x3000, 0, 0, 0x1000, 0x40);

	tdev_init(&d[n], 0x1af4, 0x1041, 0x020000, 1, 1);
	ck_assert_int_eq(pci_bar_init(&d[n].pci, 0, 0x1000, PCI_BAR_MEM32), 0);
	ck_assert_int_eq(pci_bus_add(&pb, &d[n++].pci), 1);

	/* The second BAR does not fit: nothing happens, not even to the first. */
	tdev_init(&d[n], 0x1af4, 0x1041, 0x020000, 1, 1);
	ck_assert_int_eq(pci_bar_init(&d[n].pci, 0, 0x1000, PCI_BAR_MEM32), 0);
	ck_assert_int_eq(pci_bar_init(&d[n].pci, 1, 0x4000, PCI_BAR_MEM32), 0);
	ck_assert_int_eq(pci_bus_add(&pb, &d[n].pci), -ENOSPC);
	ck_assert_int_eq(d[n].nmoves, 0);
	ck_assert_uint_eq(rd32(2, 0), 0xffffffff);
	n++;

	/* Without a 64-bit window a 64-bit BAR comes from the 32-bit one. */
	tdev_init(&d[n], 0x1af4, 0x1041, 0x020000, 1, 1);
	ck_assert_int_eq(pci_bar_init(&d[n].pci, 0, 0x1000, PCI_BAR_MEM64), 0);
	ck_assert_int_eq(pci_bus_add(&pb, &d[n].pci), 2);
	ck_assert_uint_eq(rd32(2, 0x10), 0xc0001004);
	ck_assert_uint_eq(rd32(2, 0x14), 0);
	ck_assert_uint_eq(d[n++].pci.bar[0].addr, 0xc0001000);

	/* 8 KiB aligned would end past the window; 4 KiB still fits. */
	tdev_init(&d[n], 0x1af4, 0x1041, 0x020000, 1, 1);
	ck_assert_int_eq(pci_bar_init(&d[n].pci, 0, 0x2000, PCI_BAR_MEM32), 0);
	ck_assert_int_eq(pci_bus_add(&pb, &d[n++].pci), -ENOSPC);
	tdev_init(&d[n], 0x1af4, 0x1041, 0x020000, 1, 1);
	ck_assert_int_eq(pci_bar_init(&d[n].pci, 0, 0x1000, PCI_BAR_MEM32), 0);
	ck_assert_int_eq(pci_bus_add(&pb, &d[n].pci), 3);
	ck_assert_uint_eq(rd32(3, 0x10), 0xc0002000);
	n++;
	tdev_init(&d[n], 0x1af4, 0x1041, 0x020000, 1, 1);
	ck_assert_int_eq(pci_bar_init(&d[n].pci, 0, 0x10, PCI_BAR_MEM32), 0);
	ck_assert_int_eq(pci_bus_add(&pb, &d[n++].pci), -ENOSPC);

	/* IO: 0x20 at 0x1000, then 0x40 would need 0x1040..0x107f. */
	tdev_init(&d[n], 0x1af4, 0x1041, 0x020000, 1, 1);
	ck_assert_int_eq(pci_bar_init(&d[n].pci, 0, 0x20, PCI_BAR_IO), 0);
	ck_assert_int_eq(pci_bus_add(&pb, &d[n++].pci), 4);
	tdev_init(&d[n], 0x1af4, 0x1041, 0x020000, 1, 1);
	ck_assert_int_eq(pci_bar_init(&d[n].pci, 0, 0x40, PCI_BAR_IO), 0);
	ck_assert_int_eq(pci_bus_add(&pb, &d[n++].pci), -ENOSPC);
	tdev_init(&d[n], 0x1af4, 0x1041, 0x020000, 1, 1);
	ck_assert_int_eq(pci_bar_init(&d[n].pci, 0, 0x20, PCI_BAR_IO), 0);
	ck_assert_int_eq(pci_bus_add(&pb, &d[n].pci), 5);
	ck_assert_uint_eq(rd32(5, 0x10), 0x1021);
	n++;

	/* Slots: devices without BARs fill 6..31, then there is no room. */
	for (int slot = 6; slot < 32; slot++) {
		ck_assert_int_lt(n, 40);
		tdev_init(&d[n], 0x1af4, 0x1041, 0x020000, 1, 1);
		ck_assert_int_eq(pci_bus_add(&pb, &d[n++].pci), slot);
	}
	tdev_init(&d[n], 0x1af4, 0x1041, 0x020000, 1, 1);
	ck_assert_int_eq(pci_bus_add(&pb, &d[n].pci), -ENOSPC);
	for (unsigned int dev = 0; dev < 32; dev++)
		ck_assert_uint_ne(rd32(dev, 0), 0xffffffff);
	teardown();
}
END_TEST

START_TEST(test_bar_init_invalid)
{
	struct pci_device d;

	pci_device_init(&d, 0x1af4, 0x1041, 0x020000, 0x1af4, 1, 1);
	ck_assert_int_eq(pci_bar_init(&d, 6, 0x1000, PCI_BAR_MEM32), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 5, 0x1000, PCI_BAR_MEM64), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 0, 0x1000, 0), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 0, 0x1000, PCI_BAR_PREFETCH), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 0, 0x1000, PCI_BAR_MEM32 | PCI_BAR_IO), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 0, 0x1000, PCI_BAR_MEM32 | PCI_BAR_MEM64), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 0, 0x100, PCI_BAR_IO | PCI_BAR_PREFETCH), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 0, 0x1000, PCI_BAR_MEM32 | 0x100), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 0, 0, PCI_BAR_MEM32), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 0, 8, PCI_BAR_MEM32), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 0, 0x3000, PCI_BAR_MEM32), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 0, 1ULL << 32, PCI_BAR_MEM32), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 0, 2, PCI_BAR_IO), -EINVAL);
	ck_assert_int_eq(pci_bar_init(&d, 0, 0x20000, PCI_BAR_IO), -EINVAL);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		ck_assert_uint_eq(d.bar[i].size, 0);
		ck_assert_uint_eq(d.cfg[0x10 + 4 * i], 0);
	}

	/* The smallest and largest sizes of each kind, and slot conflicts. */
	ck_assert_int_eq(pci_bar_init(&d, 0, 16, PCI_BAR_MEM32), 0);
	ck_assert_int_eq(pci_bar_init(&d, 0, 16, PCI_BAR_MEM32), -EBUSY);
	ck_assert_int_eq(pci_bar_init(&d, 1, 1ULL << 40, PCI_BAR_MEM64 | PCI_BAR_PREFETCH), 0);
	ck_assert_int_eq(pci_bar_init(&d, 2, 4, PCI_BAR_IO), -EBUSY); /* upper half of BAR1 */
	ck_assert_int_eq(pci_bar_init(&d, 3, 4, PCI_BAR_IO), 0);
	ck_assert_int_eq(pci_bar_init(&d, 4, 1ULL << 31, PCI_BAR_MEM32), 0);
	ck_assert_int_eq(pci_bar_init(&d, 5, 0x10000, PCI_BAR_IO), 0);
	pci_device_init(&d, 0x1af4, 0x1041, 0x020000, 0x1af4, 1, 1);
	ck_assert_int_eq(pci_bar_init(&d, 1, 0x1000, PCI_BAR_MEM32), 0);
	ck_assert_int_eq(pci_bar_init(&d, 0, 0x1000, PCI_BAR_MEM64), -EBUSY);
	ck_assert_uint_eq(d.bar[0].size, 0);
}
END_TEST

START_TEST(test_init_free)
{
	struct pci_bus pb2;
	uint8_t dummy;
	static const struct bus_ops none = {0};

	bus_init(&pio, "pio");
	/* Windows that wrap, cross 4 GiB or start at 0 are refused, registering nothing. */
	ck_assert_int_eq(pci_bus_init(&pb, &pio, 0xf0000000, 0x20000000, 0, 0, 0x1000, 0x100),
			 -EINVAL);
	ck_assert_int_eq(pci_bus_init(&pb, &pio, 0, 0x1000, 0, 0, 0x1000, 0x100), -EINVAL);
	ck_assert_int_eq(pci_bus_init(&pb, &pio, 0xc0000000, 0x1000, UINT64_MAX - 0xfff, 0x2000,
				      0x1000, 0x100),
			 -EINVAL);
	ck_assert_int_eq(pci_bus_init(&pb, &pio, 0xc0000000, 0x1000, 0, 0, 0xff00, 0x200), -EINVAL);
	ck_assert_uint_eq(pio.nr, 0);
	/* The last 32-bit window that fits. */
	ck_assert_int_eq(pci_bus_init(&pb, &pio, 0xf0000000, 0x10000000, 0, 0, 0xff00, 0x100), 0);
	ck_assert_uint_eq(pio.nr, 2);
	ck_assert_uint_eq(rd32(0, 0), 0x0d578086);

	/* A second bus on the same ports fails and leaves the first alone. */
	ck_assert_int_eq(pci_bus_init(&pb2, &pio, 0xc0000000, 0x1000, 0, 0, 0x1000, 0x100),
			 -EEXIST);
	ck_assert_uint_eq(pio.nr, 2);
	ck_assert_uint_eq(rd32(0, 0), 0x0d578086);

	pci_bus_free(&pb);
	ck_assert_uint_eq(pio.nr, 0);
	ck_assert_ptr_null(bus_find(&pio, 0xcf8));
	ck_assert_ptr_null(bus_find(&pio, 0xcfc));
	pci_bus_free(&pb); /* idempotent */

	/* CONFIG_DATA taken: CONFIG_ADDRESS is released again. */
	ck_assert_int_eq(bus_register(&pio, 0xcfe, 1, &none, &dummy, "other"), 0);
	ck_assert_int_eq(pci_bus_init(&pb, &pio, 0xc0000000, 0x1000, 0, 0, 0x1000, 0x100), -EEXIST);
	ck_assert_uint_eq(pio.nr, 1);
	ck_assert_int_eq(bus_unregister(&pio, 0xcfe, &dummy), 0);

	/* And it all works again. */
	bus_free(&pio);
	setup_default();
	add_two_devices();
	ck_assert_uint_eq(rd32(2, 0), 0x10421af4);
	teardown();
}
END_TEST

static Suite *pci_suite(void)
{
	Suite *s = suite_create("pci");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, test_enumerate);
	tcase_add_test(tc, test_config_address);
	tcase_add_test(tc, test_read_only_fields);
	tcase_add_test(tc, test_byte_word_lanes);
	tcase_add_test(tc, test_capabilities);
	suite_add_tcase(s, tc);

	tc = tcase_create("bars");
	tcase_add_test(tc, test_bar_sizing);
	tcase_add_test(tc, test_bar_relocate);
	tcase_add_test(tc, test_command_decode);
	tcase_add_test(tc, test_command_master_and_intx);
	tcase_add_test(tc, test_exhaustion);
	tcase_add_test(tc, test_bar_init_invalid);
	tcase_add_test(tc, test_init_free);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_add_test(tc, test_malformed_accesses);
	tcase_add_test(tc, test_random_accesses);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(pci_suite());
}
