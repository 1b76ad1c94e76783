// SPDX-License-Identifier: MIT
/*
 * Two cascaded 8259A PICs (master 0x20/0x21, slave 0xa0/0xa1) and the ELCR (0x4d0/0x4d1), for
 * deterministic mode. Everything happens inside the calls: a port access, a line change or an
 * acknowledge updates the state and nothing else ever does.
 *
 * Simplifications and choices: the cascade is wired on master IR2 whatever ICW3 and the single
 * mode bit say; 8086 mode is assumed (ICW4 bit 0 and the MCS-80 bits of ICW1 are ignored); ISA
 * IRQ2 has no pin (pic_set_irq(2) does nothing: IR2 carries the slave); an edge-triggered
 * request stays latched in IRR when its line drops, as in QEMU; master IR2 follows the slave's
 * INT level as well as latching its rising edges, so a slave in auto-EOI mode loses no request
 * behind one already taken; in special mask mode in-service levels block no other level (only
 * themselves); a poll read works on either port, as in QEMU. Power-on state is all zeros (IMR
 * clear, vector base 0), like QEMU's and KVM's PIC after reset.
 */
#include <stdlib.h>
#include <string.h>

#include "../bus.h"
#include "../persist.h"
#include "pic.h"

#define MASTER_BASE 0x20
#define SLAVE_BASE  0xa0
#define ELCR_BASE   0x4d0
#define CASCADE_IR  2

#define ICW1	    0x10
#define ICW1_IC4    0x01
#define ICW1_SNGL   0x02
#define ICW1_LTIM   0x08
#define ICW4_AEOI   0x02
#define ICW4_SFNM   0x10
#define OCW3	    0x08
#define OCW3_RIS    0x01
#define OCW3_RR	    0x02
#define OCW3_POLL   0x04
#define OCW3_SMM    0x20
#define OCW3_ESMM   0x40
#define OCW2_ROTATE 0x80
#define POLL_INT    0x80

/* What the next write to the data port is. */
enum { NEXT_OCW1, NEXT_ICW2, NEXT_ICW3, NEXT_ICW4 };

struct chip {
	struct pic *pic;
	bool master;
	uint8_t line; /* input pin levels */
	uint8_t edge; /* requests latched by rising edges; level-mode IRR bits come from line */
	uint8_t imr, isr;
	uint8_t elcr, elcr_mask;
	uint8_t base;	  /* vector of IR0 (ICW2) */
	uint8_t prio_add; /* IR number with the highest priority */
	uint8_t next;	  /* NEXT_* */
	bool ic4, single, ltim;
	bool aeoi, rotate_aeoi, sfnm, special_mask, read_isr, poll;
};

struct pic {
	struct chip c[2]; /* master, slave */
};

static uint8_t level_mask(const struct chip *c)
{
	return c->ltim ? 0xff : c->elcr;
}

/* The IRR: edge latches, lines in level mode, and on the master the slave's INT on IR2. */
static uint8_t irr(const struct chip *c)
{
	uint8_t lvl = level_mask(c);
	uint8_t follow = lvl | (c->master ? 1 << CASCADE_IR : 0);

	return (c->edge & ~lvl) | (c->line & follow);
}

/* Priority (0 is the highest) of the best level in mask under the current rotation; 8 if none. */
static int priority(const struct chip *c, uint8_t mask)
{
	for (int p = 0; p < 8; p++)
		if (mask & 1 << ((p + c->prio_add) & 7))
			return p;
	return 8;
}

/* The IR this chip raises INT for, or -1. */
static int chip_irq(const struct chip *c)
{
	uint8_t req = irr(c) & ~c->imr, in_service = c->isr;
	int p, n, cur;

	if (c->special_mask) {
		req &= ~c->isr;
		in_service = 0;
	}
	p = priority(c, req);
	if (p == 8)
		return -1;
	n = (p + c->prio_add) & 7;
	cur = priority(c, in_service);
	/* Special fully nested: the slave already ranked a new request against its own ISR. */
	if (p < cur || (p == cur && c->master && c->sfnm && n == CASCADE_IR))
		return n;
	return -1;
}

static void set_line(struct chip *c, unsigned int n, bool level)
{
	uint8_t m = 1 << n;

	if (level && !(c->line & m) && !(level_mask(c) & m))
		c->edge |= m;
	c->line = level ? c->line | m : c->line & ~m;
}

/* Master IR2 is the slave's INT output: call after anything that may change it. */
static void cascade(struct pic *p)
{
	set_line(&p->c[0], CASCADE_IR, chip_irq(&p->c[1]) >= 0);
}

static void intack(struct chip *c, int n)
{
	if (!c->aeoi)
		c->isr |= 1 << n;
	else if (c->rotate_aeoi)
		c->prio_add = (n + 1) & 7;
	c->edge &= ~(1 << n);
}

static void write_icw1(struct chip *c, uint8_t val)
{
	/* A line already high must rise again to request; level requests follow the line. */
	c->edge = c->imr = c->isr = c->prio_add = 0;
	c->aeoi = c->rotate_aeoi = c->sfnm = c->special_mask = c->read_isr = c->poll = false;
	c->ic4 = val & ICW1_IC4;
	c->single = val & ICW1_SNGL;
	c->ltim = val & ICW1_LTIM;
	c->next = NEXT_ICW2;
}

static void write_ocw2(struct chip *c, uint8_t val)
{
	int n = val & 7;

	switch (val >> 5) {
	case 0: /* rotate in auto-EOI mode: clear */
	case 4: /* set */
		c->rotate_aeoi = val & OCW2_ROTATE;
		break;
	case 1: /* non-specific EOI: the highest-priority level in service */
	case 5: /* and rotate */
		if (priority(c, c->isr) == 8)
			break;
		n = (priority(c, c->isr) + c->prio_add) & 7;
		/* fallthrough */
	case 3: /* specific EOI */
	case 7: /* and rotate */
		c->isr &= ~(1 << n);
		if (val & OCW2_ROTATE)
			c->prio_add = (n + 1) & 7;
		break;
	case 6: /* set priority: n becomes the lowest */
		c->prio_add = (n + 1) & 7;
		break;
	}
}

static void chip_write(struct chip *c, uint64_t off, uint8_t val)
{
	if (off == 0) {
		if (val & ICW1) {
			write_icw1(c, val);
		} else if (val & OCW3) {
			if (val & OCW3_POLL)
				c->poll = true;
			if (val & OCW3_RR)
				c->read_isr = val & OCW3_RIS;
			if (val & OCW3_ESMM)
				c->special_mask = val & OCW3_SMM;
		} else {
			write_ocw2(c, val);
		}
		return;
	}
	switch (c->next) {
	case NEXT_OCW1:
		c->imr = val;
		break;
	case NEXT_ICW2:
		c->base = val & 0xf8;
		c->next = !c->single ? NEXT_ICW3 : c->ic4 ? NEXT_ICW4 : NEXT_OCW1;
		break;
	case NEXT_ICW3:
		c->next = c->ic4 ? NEXT_ICW4 : NEXT_OCW1;
		break;
	case NEXT_ICW4:
		c->aeoi = val & ICW4_AEOI;
		c->sfnm = val & ICW4_SFNM;
		c->next = NEXT_OCW1;
		break;
	}
}

static uint8_t chip_read(struct chip *c, uint64_t off)
{
	if (c->poll) {
		/* The poll word, and the read acknowledges the interrupt it reports. */
		int n = chip_irq(c);

		c->poll = false;
		if (n < 0)
			return 0;
		intack(c, n);
		return POLL_INT | n;
	}
	if (off)
		return c->imr;
	return c->read_isr ? c->isr : irr(c);
}

static void pic_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct chip *c = opaque;

	memset(data, 0, len);
	data[0] = chip_read(c, off);
	cascade(c->pic);
}

static void pic_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct chip *c = opaque;

	(void)len;
	chip_write(c, off, data[0]);
	cascade(c->pic);
}

static void elcr_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pic *p = opaque;

	memset(data, 0, len);
	data[0] = p->c[off].elcr;
}

static void elcr_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pic *p = opaque;
	struct chip *c = &p->c[off];

	(void)len;
	c->elcr = data[0] & c->elcr_mask;
	c->edge &= ~c->elcr; /* stale latches must not come back if the line turns edge again */
	cascade(p);
}

static const struct bus_ops pic_ops = {.read = pic_read, .write = pic_write, .byte_registers = 1};
static const struct bus_ops elcr_ops = {
	.read = elcr_read, .write = elcr_write, .byte_registers = 1};

struct pic *pic_new(void)
{
	struct pic *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->c[0].pic = p->c[1].pic = p;
	p->c[0].master = true;
	/* As on PIIX: IRQ0-2 (timer, keyboard, cascade), 8 (RTC) and 13 (FPU) are always edge. */
	p->c[0].elcr_mask = 0xf8;
	p->c[1].elcr_mask = 0xde;
	return p;
}

/* What a chip's ports and lines have set (master and elcr_mask are what the chip is). */
#define CHIP_STATE(F)         \
	F(UINT, line)         \
	F(UINT, edge)         \
	F(UINT, imr)          \
	F(UINT, isr)          \
	F(UINT, elcr)         \
	F(UINT, base)         \
	F(UINT, prio_add)     \
	F(UINT, next)         \
	F(BOOL, ic4)          \
	F(BOOL, single)       \
	F(BOOL, ltim)         \
	F(BOOL, aeoi)         \
	F(BOOL, rotate_aeoi)  \
	F(BOOL, sfnm)         \
	F(BOOL, special_mask) \
	F(BOOL, read_isr)     \
	F(BOOL, poll)

void pic_save(void *pic, struct msgpack_packer *pk)
{
	struct pic *p = pic;

	msgpack_pack_map(pk, 1);
	persist_key(pk, "chips");
	msgpack_pack_array(pk, 2);
	for (int i = 0; i < 2; i++)
		PERSIST_SAVE(pk, &p->c[i], CHIP_STATE);
}

bool pic_load(void *pic, struct persist_in *in)
{
	struct pic *p = pic;

	for (int i = 0; i < 2; i++) {
		struct chip *c = &p->c[i];
		struct persist_in ci;

		if (!persist_elem(in, "chips", i, 2, &ci) || !PERSIST_LOAD(&ci, c, CHIP_STATE))
			return false;
		if (c->next > NEXT_ICW4 || c->prio_add > 7 || (c->elcr & ~c->elcr_mask))
			return persist_fail(&ci, NULL,
					    "next %u, prio_add %u or elcr 0x%x out of range",
					    c->next, c->prio_add, c->elcr);
	}
	return true;
}

void pic_free(struct pic *p)
{
	free(p);
}

int pic_register(struct pic *p, struct bus *pio_bus)
{
	int r = bus_register(pio_bus, MASTER_BASE, 2, &pic_ops, &p->c[0], "pic-master");

	if (!r)
		r = bus_register(pio_bus, SLAVE_BASE, 2, &pic_ops, &p->c[1], "pic-slave");
	return r ? r : bus_register(pio_bus, ELCR_BASE, 2, &elcr_ops, p, "elcr");
}

void pic_set_irq(struct pic *p, unsigned int irq, bool level)
{
	if (irq >= 16 || irq == CASCADE_IR)
		return;
	set_line(&p->c[irq / 8], irq % 8, level);
	cascade(p);
}

bool pic_intr_pending(const struct pic *p)
{
	return chip_irq(&p->c[0]) >= 0;
}

uint8_t pic_acknowledge(struct pic *p)
{
	struct chip *m = &p->c[0], *s = &p->c[1];
	int n = chip_irq(m), sn;
	uint8_t vec;

	if (n < 0)
		return m->base + 7; /* the request went away: spurious, and no state changes */
	if (n == CASCADE_IR) {
		/* The master's IR2 latch outlives a slave request that vanished: slave spurious. */
		sn = chip_irq(s);
		if (sn >= 0)
			intack(s, sn);
		vec = s->base + (sn >= 0 ? sn : 7);
	} else {
		vec = m->base + n;
	}
	intack(m, n);
	cascade(p);
	return vec;
}
