// SPDX-License-Identifier: MIT
/*
 * Intel 8254 PIT at 0x40-0x43 plus the PIT bits of port 0x61, for deterministic mode. Nothing
 * ticks: each channel remembers when it started counting (t0, virtual ns) and how many input
 * ticks it had counted before (base), and every value is computed from *clock_ns on demand with
 * exact integer math, so the same clock values and accesses always give the same results.
 *
 * Simplifications: BCD counting is binary (the bit is kept for the status byte); a new count
 * restarts modes 2/3 at once instead of at the end of the current period; mode 3 counter reads
 * follow QEMU's approximation; null count clears after the first tick of a run; mode 4/5's
 * one-tick low pulse at terminal count (N ticks) gives a rising edge at N + 1 ticks.
 */
#include <stdlib.h>
#include <string.h>

#include "../bus.h"
#include "../persist.h"
#include "pit.h"

#define PIT_BASE      0x40
#define PORT_B	      0x61
#define NSEC_PER_SEC  1000000000ULL
#define REFRESH_NS    15085 /* port 0x61 bit 4 flips at this period (DRAM refresh) */
#define NO_EDGE	      UINT64_MAX
#define PORTB_GATE2   0x01
#define PORTB_RW      0x0f /* gate, speaker enable (no speaker), NMI check enables: kept */
#define PORTB_REFRESH 0x10
#define PORTB_OUT2    0x20

enum { RW_LSB = 1, RW_MSB = 2, RW_WORD = 3 };

struct pit_channel {
	uint8_t ctrl;	 /* RW, mode and BCD bits of the last control word, as in status */
	uint8_t mode;	 /* 0-5 (6 and 7 alias 2 and 3) */
	uint32_t count;	 /* 1..65536 once written; 0: no count since the control word */
	bool started;	 /* the count reached the counting element (modes 1/5: triggered) */
	bool running;	 /* time advances the count (gate high, or modes 1/5 after trigger) */
	bool gate;	 /* fixed high on channels 0 and 1; port 0x61 bit 0 for channel 2 */
	uint64_t t0;	 /* virtual ns when the current stretch of counting began */
	uint64_t base;	 /* ticks counted before t0 (gate pauses in modes 0/4) */
	uint64_t edge;	 /* tick of the next rising edge of OUT not yet reported */
	uint8_t latched; /* bytes of latch_val still to read: RW_LSB, RW_MSB, RW_WORD or 0 */
	uint16_t latch_val;
	bool status_latched;
	uint8_t status;
	bool read_msb, write_msb; /* lsb-then-msb flip-flops */
	uint8_t write_lsb;
};

struct pit {
	const uint64_t *clock_ns;
	pit_irq0_fn irq0;
	void *ctx;
	uint8_t port_b;
	struct pit_channel ch[3];
};

static uint64_t ns_to_ticks(uint64_t ns)
{
	return (unsigned __int128)ns * PIT_FREQ_HZ / NSEC_PER_SEC;
}

/* The smallest ns with ns_to_ticks(ns) >= ticks. */
static uint64_t ticks_to_ns(uint64_t ticks)
{
	return ((unsigned __int128)ticks * NSEC_PER_SEC + PIT_FREQ_HZ - 1) / PIT_FREQ_HZ;
}

static uint64_t elapsed(const struct pit_channel *c, uint64_t now)
{
	if (!c->running || now < c->t0)
		return c->base;
	return c->base + ns_to_ticks(now - c->t0);
}

/* The first rising edge of OUT strictly after d ticks of counting. */
static uint64_t edge_after(const struct pit_channel *c, uint64_t d)
{
	uint64_t n = c->count;

	if (!c->started)
		return NO_EDGE;
	switch (c->mode) {
	case 2:
	case 3:
		return (d / n + 1) * n;
	case 4:
	case 5:
		n++;
		/* fallthrough */
	default:
		return d < n ? n : NO_EDGE;
	}
}

static bool channel_out(const struct pit_channel *c, uint64_t d)
{
	uint64_t n = c->count;

	if (!c->started)
		return c->mode != 0; /* a mode 0 control word drives OUT low; the others high */
	switch (c->mode) {
	case 0:
	case 1:
		return d >= n;
	case 2:
		return !c->gate || d % n != n - 1;
	case 3:
		return !c->gate || d % n < (n + 1) / 2;
	default:
		return d != n;
	}
}

static uint16_t channel_count(const struct pit_channel *c, uint64_t d)
{
	uint64_t n = c->count;

	if (!c->started)
		return n;
	switch (c->mode) {
	case 2:
		return n - d % n;
	case 3:
		/* Counts down by two, twice a period. */
		return (n - 2 * (d % n) % n) & 0xfffe;
	default:
		return n - d; /* modes 0, 1, 4, 5 wrap past zero and keep counting */
	}
}

static void start(struct pit_channel *c, uint64_t now)
{
	c->started = true;
	c->running = c->gate || c->mode == 1 || c->mode == 5;
	c->t0 = now;
	c->base = 0;
	c->edge = edge_after(c, 0);
}

static void load_count(struct pit_channel *c, uint32_t raw, uint64_t now)
{
	c->count = raw ? raw : 0x10000;
	/* Modes 1 and 5 wait for a rising gate; the others load on the next clock. */
	if (c->mode != 1 && c->mode != 5)
		start(c, now);
}

static void set_gate(struct pit_channel *c, bool gate, uint64_t now)
{
	if (gate == c->gate)
		return;
	if (c->mode == 1 || c->mode == 5 || (gate && (c->mode == 2 || c->mode == 3))) {
		/* A rising gate (re)triggers these modes; a falling one does not stop 1 and 5. */
		c->gate = gate;
		if (gate && c->count)
			start(c, now);
		return;
	}
	/* Modes 0 and 4 pause while the gate is low; 2 and 3 stop and restart on the rise. */
	c->base = elapsed(c, now);
	c->t0 = now;
	c->gate = gate;
	c->running = gate && c->started;
}

static void latch_count(struct pit_channel *c, uint64_t now)
{
	if (c->latched)
		return; /* later latch commands are ignored until the value has been read */
	c->latch_val = channel_count(c, elapsed(c, now));
	c->latched = c->ctrl >> 4;
}

static void latch_status(struct pit_channel *c, uint64_t now)
{
	uint64_t d = elapsed(c, now);

	if (c->status_latched)
		return;
	c->status = channel_out(c, d) << 7 | (!c->started || d == 0) << 6 | c->ctrl;
	c->status_latched = true;
}

static void control_word(struct pit *p, uint8_t val, uint64_t now)
{
	struct pit_channel *c;

	if ((val >> 6) == 3) {
		/* Read-back: bits 3-1 select counters, bit 5 low latches counts, bit 4 status. */
		for (int i = 0; i < 3; i++) {
			if (!(val & 2 << i))
				continue;
			if (!(val & 0x20))
				latch_count(&p->ch[i], now);
			if (!(val & 0x10))
				latch_status(&p->ch[i], now);
		}
		return;
	}
	c = &p->ch[val >> 6];
	if (!(val & 0x30)) {
		latch_count(c, now);
		return;
	}
	/* A new mode resets the counter's logic: it waits for a count, OUT at its initial level. */
	c->ctrl = val & 0x3f;
	c->mode = (val >> 1 & 7) > 5 ? (val >> 1 & 3) : (val >> 1 & 7);
	c->count = 0;
	c->started = c->running = false;
	c->base = 0;
	c->edge = NO_EDGE;
	c->latched = 0;
	c->status_latched = false;
	c->read_msb = c->write_msb = false;
}

static void write_count(struct pit_channel *c, uint8_t val, uint64_t now)
{
	switch (c->ctrl >> 4) {
	case RW_LSB:
		load_count(c, val, now);
		break;
	case RW_MSB:
		load_count(c, val << 8, now);
		break;
	default:
		if (!c->write_msb) {
			c->write_lsb = val;
			c->write_msb = true;
			/* In mode 0 the first byte stops counting (and drives OUT low). */
			if (c->mode == 0) {
				c->started = c->running = false;
				c->edge = NO_EDGE;
			}
			return;
		}
		c->write_msb = false;
		load_count(c, c->write_lsb | val << 8, now);
	}
}

static uint8_t read_count(struct pit_channel *c, uint64_t now)
{
	uint16_t v;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->latched) {
		v = c->latch_val;
		if (c->latched == RW_MSB) {
			c->latched = 0;
			return v >> 8;
		}
		/* A word latch hands out its lsb first, then waits for the msb read. */
		c->latched = c->latched == RW_WORD ? RW_MSB : 0;
		return v;
	}
	v = channel_count(c, elapsed(c, now));
	switch (c->ctrl >> 4) {
	case RW_LSB:
		return v;
	case RW_MSB:
		return v >> 8;
	default:
		c->read_msb = !c->read_msb;
		return c->read_msb ? v : v >> 8;
	}
}

static void pit_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pit *p = opaque;

	memset(data, 0, len);
	if (off < 3)
		data[0] = read_count(&p->ch[off], *p->clock_ns);
	/* The control word register is write-only: it reads as 0, as in QEMU and KVM. */
}

static void pit_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pit *p = opaque;
	uint64_t now = *p->clock_ns;

	(void)len;
	/* Report edges that happened before this write could move or cancel them. */
	pit_update(p);
	if (off == 3)
		control_word(p, data[0], now);
	else
		write_count(&p->ch[off], data[0], now);
}

static void port_b_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pit *p = opaque;
	uint64_t now = *p->clock_ns;
	const struct pit_channel *c = &p->ch[2];

	(void)off;
	memset(data, 0, len);
	data[0] = p->port_b;
	if ((now / REFRESH_NS) & 1)
		data[0] |= PORTB_REFRESH;
	if (channel_out(c, elapsed(c, now)))
		data[0] |= PORTB_OUT2;
}

static void port_b_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pit *p = opaque;

	(void)off;
	(void)len;
	p->port_b = data[0] & PORTB_RW;
	set_gate(&p->ch[2], data[0] & PORTB_GATE2, *p->clock_ns);
}

static const struct bus_ops pit_ops = {.read = pit_read, .write = pit_write, .byte_registers = 1};
static const struct bus_ops port_b_ops = {
	.read = port_b_read, .write = port_b_write, .byte_registers = 1};

struct pit *pit_new(const uint64_t *clock_ns, pit_irq0_fn irq0, void *ctx)
{
	struct pit *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->clock_ns = clock_ns;
	p->irq0 = irq0;
	p->ctx = ctx;
	for (int i = 0; i < 3; i++) {
		/* Unprogrammed: lsb/msb, mode 3, no count, so OUT is high and nothing counts. */
		p->ch[i].ctrl = RW_WORD << 4 | 3 << 1;
		p->ch[i].mode = 3;
		p->ch[i].gate = i != 2;
		p->ch[i].edge = NO_EDGE;
	}
	return p;
}

#define CHANNEL_STATE(F)        \
	F(UINT, ctrl)           \
	F(UINT, mode)           \
	F(UINT, count)          \
	F(BOOL, started)        \
	F(BOOL, running)        \
	F(BOOL, gate)           \
	F(UINT, t0)             \
	F(UINT, base)           \
	F(UINT, edge)           \
	F(UINT, latched)        \
	F(UINT, latch_val)      \
	F(BOOL, status_latched) \
	F(UINT, status)         \
	F(BOOL, read_msb)       \
	F(BOOL, write_msb)      \
	F(UINT, write_lsb)

void pit_save(void *pit, struct msgpack_packer *pk)
{
	struct pit *p = pit;

	msgpack_pack_map(pk, 2);
	persist_u64(pk, "port_b", p->port_b);
	persist_key(pk, "channels");
	msgpack_pack_array(pk, 3);
	for (int i = 0; i < 3; i++)
		PERSIST_SAVE(pk, &p->ch[i], CHANNEL_STATE);
}

bool pit_load(void *pit, struct persist_in *in)
{
	struct pit *p = pit;

	if (!persist_get_UINT(in, "port_b", &p->port_b, sizeof(p->port_b)))
		return false;
	for (int i = 0; i < 3; i++) {
		struct pit_channel *c = &p->ch[i];
		struct persist_in ci;

		if (!persist_elem(in, "channels", i, 3, &ci) ||
		    !PERSIST_LOAD(&ci, c, CHANNEL_STATE))
			return false;
		if (c->mode > 5 || c->count > 65536 || c->latched > RW_WORD)
			return persist_fail(&ci, NULL,
					    "mode %u, count %u or latched %u out of range", c->mode,
					    c->count, c->latched);
	}
	return true;
}

void pit_free(struct pit *p)
{
	free(p);
}

int pit_register(struct pit *p, struct bus *pio_bus)
{
	int r = bus_register(pio_bus, PIT_BASE, 4, &pit_ops, p, "pit");

	return r ? r : bus_register(pio_bus, PORT_B, 1, &port_b_ops, p, "pit-port61");
}

void pit_update(struct pit *p)
{
	struct pit_channel *c = &p->ch[0];
	uint64_t d = elapsed(c, *p->clock_ns);

	if (c->edge == NO_EDGE || d < c->edge)
		return;
	c->edge = edge_after(c, d);
	if (p->irq0)
		p->irq0(p->ctx);
}

uint64_t pit_next_deadline(const struct pit *p)
{
	const struct pit_channel *c = &p->ch[0];

	/* Channel 0's gate is always high, so it runs whenever it has an edge to come. */
	if (c->edge == NO_EDGE || !c->running)
		return UINT64_MAX;
	return c->t0 + ticks_to_ns(c->edge - c->base);
}
