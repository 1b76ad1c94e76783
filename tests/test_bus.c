// SPDX-License-Identifier: MIT
/* Unit tests for the PIO/MMIO bus: registration, lookup and access routing. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "harness.h"

/* A device that records its last access and answers reads with offset-derived bytes. */
struct rec_dev {
	int reads, writes;
	uint64_t offset;
	uint32_t len;
	uint8_t data[8];
};

static void rec_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct rec_dev *d = opaque;

	d->reads++;
	d->offset = offset;
	d->len = len;
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(0x40 + offset + i);
}

static void rec_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct rec_dev *d = opaque;

	d->writes++;
	d->offset = offset;
	d->len = len;
	memcpy(d->data, data, len);
}

static const struct bus_ops rec_ops = {.read = rec_read, .write = rec_write};
static const struct bus_ops write_only_ops = {.write = rec_write};
static const struct bus_ops read_only_ops = {.read = rec_read};
static const struct bus_ops no_ops = {0};

START_TEST(test_find_boundaries)
{
	struct bus bus;
	int a, b;

	bus_init(&bus, "pio");
	ck_assert_str_eq(bus.name, "pio");
	ck_assert_ptr_null(bus_find(&bus, 0));
	ck_assert_ptr_null(bus_find(&bus, 0x3f8));
	ck_assert_ptr_null(bus_find(&bus, UINT64_MAX));

	ck_assert_int_eq(bus_register(&bus, 0x3f8, 8, &rec_ops, &a, "com1"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x60, 1, &rec_ops, &b, "i8042"), 0);

	const struct bus_range *r = bus_find(&bus, 0x3f8);

	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->base, 0x3f8);
	ck_assert_uint_eq(r->len, 8);
	ck_assert_ptr_eq(r->ops, &rec_ops);
	ck_assert_ptr_eq(r->opaque, &a);
	ck_assert_str_eq(r->name, "com1");
	ck_assert_ptr_eq(bus_find(&bus, 0x3ff), r);
	ck_assert_ptr_eq(bus_find(&bus, 0x3fc), r);
	ck_assert_ptr_null(bus_find(&bus, 0x3f7));
	ck_assert_ptr_null(bus_find(&bus, 0x400));

	r = bus_find(&bus, 0x60);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->name, "i8042");
	ck_assert_ptr_eq(r->opaque, &b);
	ck_assert_ptr_null(bus_find(&bus, 0x5f));
	ck_assert_ptr_null(bus_find(&bus, 0x61));
	ck_assert_ptr_null(bus_find(&bus, 0));
	ck_assert_ptr_null(bus_find(&bus, UINT64_MAX));
	ck_assert_uint_eq(bus.nr, 2);

	bus_free(&bus);
	ck_assert_uint_eq(bus.nr, 0);
	ck_assert_ptr_null(bus_find(&bus, 0x3f8));
	/* Usable again after bus_free. */
	ck_assert_int_eq(bus_register(&bus, 0x3f8, 8, &rec_ops, &a, "com1"), 0);
	ck_assert_ptr_nonnull(bus_find(&bus, 0x3f8));
	bus_free(&bus);
	bus_free(&bus); /* idempotent */
}
END_TEST

START_TEST(test_adjacent_ranges)
{
	struct bus bus;

	bus_init(&bus, "mmio");
	ck_assert_int_eq(bus_register(&bus, 0x100, 0x10, &rec_ops, NULL, "mid"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x110, 0x10, &rec_ops, NULL, "high"), 0);
	ck_assert_int_eq(bus_register(&bus, 0xf0, 0x10, &rec_ops, NULL, "low"), 0);
	ck_assert_int_eq(bus_register(&bus, 0xef, 1, &rec_ops, NULL, "byte"), 0);
	ck_assert_uint_eq(bus.nr, 4);

	ck_assert_str_eq(bus_find(&bus, 0xef)->name, "byte");
	ck_assert_str_eq(bus_find(&bus, 0xf0)->name, "low");
	ck_assert_str_eq(bus_find(&bus, 0xff)->name, "low");
	ck_assert_str_eq(bus_find(&bus, 0x100)->name, "mid");
	ck_assert_str_eq(bus_find(&bus, 0x10f)->name, "mid");
	ck_assert_str_eq(bus_find(&bus, 0x110)->name, "high");
	ck_assert_str_eq(bus_find(&bus, 0x11f)->name, "high");
	ck_assert_ptr_null(bus_find(&bus, 0x120));
	ck_assert_ptr_null(bus_find(&bus, 0xee));

	/* The ends of the address space. */
	ck_assert_int_eq(bus_register(&bus, 0, 1, &rec_ops, NULL, "zero"), 0);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX, 1, &rec_ops, NULL, "top"), 0);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX - 0xf, 0x10, &rec_ops, NULL, "x"), -EEXIST);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX - 0xf, 0xf, &rec_ops, NULL, "below-top"), 0);
	ck_assert_str_eq(bus_find(&bus, 0)->name, "zero");
	ck_assert_str_eq(bus_find(&bus, UINT64_MAX)->name, "top");
	ck_assert_str_eq(bus_find(&bus, UINT64_MAX - 1)->name, "below-top");
	ck_assert_str_eq(bus_find(&bus, UINT64_MAX - 0xf)->name, "below-top");
	ck_assert_ptr_null(bus_find(&bus, UINT64_MAX - 0x10));
	ck_assert_ptr_null(bus_find(&bus, 1));
	bus_free(&bus);

	/* One range covering everything but the last byte, then the last byte. */
	bus_init(&bus, "mmio");
	ck_assert_int_eq(bus_register(&bus, 0, UINT64_MAX, &rec_ops, NULL, "all"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x1000, 1, &rec_ops, NULL, "x"), -EEXIST);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX, 1, &rec_ops, NULL, "last"), 0);
	ck_assert_str_eq(bus_find(&bus, UINT64_MAX - 1)->name, "all");
	ck_assert_str_eq(bus_find(&bus, UINT64_MAX)->name, "last");
	ck_assert_str_eq(bus_find(&bus, 0)->name, "all");
	bus_free(&bus);
}
END_TEST

START_TEST(test_overlaps_rejected)
{
	static const struct {
		uint64_t base, len;
		const char *what;
	} cases[] = {
		{0x1010, 0x10, "contained"},
		{0x1000, 1, "first byte"},
		{0x10ff, 1, "last byte"},
		{0xf00, 0x400, "containing"},
		{0xff0, 0x20, "overlapping start"},
		{0x10f0, 0x20, "overlapping end"},
		{0x1000, 0x100, "identical"},
		{0x1000, 0x200, "same base, longer"},
		{0xfff, 2, "straddling base"},
		{0x10ff, 0x1000, "straddling end into next"},
		{0x0, 0x1001, "from zero to first byte"},
		{0x1100, 1, "first byte of the second range"},
		{0x10ff, 2, "bridging both ranges"},
		{0x0, 0x10000, "containing both"},
	};
	struct bus bus;

	bus_init(&bus, "pio");
	ck_assert_int_eq(bus_register(&bus, 0x1000, 0x100, &rec_ops, NULL, "a"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x1100, 0x100, &rec_ops, NULL, "b"), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = bus_register(&bus, cases[i].base, cases[i].len, &rec_ops, NULL, "x");

		ck_assert_msg(r == -EEXIST, "%s [0x%llx, +0x%llx): got %d, expected -EEXIST",
			      cases[i].what, (unsigned long long)cases[i].base,
			      (unsigned long long)cases[i].len, r);
	}
	ck_assert_uint_eq(bus.nr, 2);
	ck_assert_str_eq(bus_find(&bus, 0x1000)->name, "a");
	ck_assert_str_eq(bus_find(&bus, 0x11ff)->name, "b");
	ck_assert_ptr_null(bus_find(&bus, 0x1200));
	bus_free(&bus);
}
END_TEST

START_TEST(test_invalid_ranges)
{
	struct bus bus;

	bus_init(&bus, "mmio");
	ck_assert_int_eq(bus_register(&bus, 0x100, 0, &rec_ops, NULL, "empty"), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, 0, 0, &rec_ops, NULL, "empty"), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX, 0, &rec_ops, NULL, "empty"), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX - 1, 4, &rec_ops, NULL, "wrap"), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX, 2, &rec_ops, NULL, "wrap"), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, 2, UINT64_MAX, &rec_ops, NULL, "wrap"), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX, UINT64_MAX, &rec_ops, NULL, "wrap"),
			 -EINVAL);
	ck_assert_uint_eq(bus.nr, 0);
	/* Nothing was registered, so even address 0 and the top are free. */
	ck_assert_ptr_null(bus_find(&bus, 0));
	ck_assert_ptr_null(bus_find(&bus, UINT64_MAX));
	/* An empty range is rejected even where it would overlap (EINVAL, not EEXIST). */
	ck_assert_int_eq(bus_register(&bus, 0x100, 0x10, &rec_ops, NULL, "a"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x108, 0, &rec_ops, NULL, "empty"), -EINVAL);
	ck_assert_uint_eq(bus.nr, 1);
	bus_free(&bus);
}
END_TEST

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

struct ref_range {
	uint64_t base, len;
	int id;
};

static const struct ref_range *linear_find(const struct ref_range *ref, int n, uint64_t addr)
{
	for (int i = 0; i < n; i++)
		if (addr >= ref[i].base && addr - ref[i].base < ref[i].len)
			return &ref[i];
	return NULL;
}

static int linear_overlaps(const struct ref_range *ref, int n, uint64_t base, uint64_t len)
{
	uint64_t last = base + len - 1;

	for (int i = 0; i < n; i++)
		if (base <= ref[i].base + ref[i].len - 1 && ref[i].base <= last)
			return 1;
	return 0;
}

static void check_lookup(const struct bus *bus, const struct ref_range *ref, int n, uint64_t addr)
{
	const struct ref_range *want = linear_find(ref, n, addr);
	const struct bus_range *got = bus_find(bus, addr);

	if (!want) {
		ck_assert_msg(!got, "addr 0x%llx: found [0x%llx, +0x%llx), expected nothing",
			      (unsigned long long)addr, (unsigned long long)got->base,
			      (unsigned long long)got->len);
		return;
	}
	ck_assert_msg(got, "addr 0x%llx: nothing found, expected range %d",
		      (unsigned long long)addr, want->id);
	ck_assert_msg(got->opaque == (void *)want && got->base == want->base &&
			      got->len == want->len,
		      "addr 0x%llx: found [0x%llx, +0x%llx), expected [0x%llx, +0x%llx)",
		      (unsigned long long)addr, (unsigned long long)got->base,
		      (unsigned long long)got->len, (unsigned long long)want->base,
		      (unsigned long long)want->len);
}

START_TEST(test_many_random_ranges)
{
	enum { WANT = 200 };
	/* Three address-space scales: dense small PIO ranges, sparse MMIO, and the full space. */
	static const uint64_t spans[] = {0x2000, 1ULL << 32, UINT64_MAX};
	struct ref_range ref[WANT];
	uint64_t span = spans[_i];
	struct bus bus;
	int n = 0, attempts = 0, rejected = 0;

	rng_state = 0x9e3779b97f4a7c15ULL + _i;
	bus_init(&bus, "mmio");
	while (n < WANT) {
		uint64_t base = rnd() % span;
		uint64_t maxlen = span / 64;
		uint64_t len = 1 + rnd() % (rnd() % 4 ? 16 : maxlen);
		int expect, r;

		ck_assert_int_lt(++attempts, 100000);
		if (base + len - 1 < base) /* keep the reference simple: no wrapping ranges */
			len = UINT64_MAX - base + 1;
		expect = linear_overlaps(ref, n, base, len) ? -EEXIST : 0;
		r = bus_register(&bus, base, len, &rec_ops, &ref[n], "r");
		ck_assert_msg(r == expect, "register [0x%llx, +0x%llx) #%d: got %d, expected %d",
			      (unsigned long long)base, (unsigned long long)len, n, r, expect);
		if (r) {
			rejected++;
		} else {
			ref[n] = (struct ref_range){base, len, n};
			n++;
		}
		ck_assert_uint_eq(bus.nr, n);
	}
	ck_assert_int_gt(rejected, 0); /* the overlap path was exercised */

	/* The table stays sorted and disjoint. */
	for (unsigned int i = 1; i < bus.nr; i++)
		ck_assert(bus.ranges[i - 1].base + bus.ranges[i - 1].len - 1 < bus.ranges[i].base);

	/* Every range's edges and neighbours, then random addresses. */
	for (int i = 0; i < n; i++) {
		uint64_t first = ref[i].base, last = ref[i].base + ref[i].len - 1;

		check_lookup(&bus, ref, n, first);
		check_lookup(&bus, ref, n, last);
		check_lookup(&bus, ref, n, first - 1);
		check_lookup(&bus, ref, n, last + 1);
		check_lookup(&bus, ref, n, first + ref[i].len / 2);
	}
	for (int i = 0; i < 20000; i++)
		check_lookup(&bus, ref, n, rnd() % span);
	check_lookup(&bus, ref, n, 0);
	check_lookup(&bus, ref, n, UINT64_MAX);
	bus_free(&bus);
}
END_TEST

/* ------------------------------------------------------------------ bus_access */

START_TEST(test_access_unhandled)
{
	struct rec_dev dev = {0};
	uint8_t data[8];
	struct bus bus;

	bus_init(&bus, "pio");
	/* Empty bus. */
	memset(data, 0x11, sizeof(data));
	ck_assert(!bus_access(&bus, 0x80, data, 4, false));
	ck_assert_uint_eq(data[0] & data[1] & data[2] & data[3], 0xff);
	ck_assert_uint_eq(data[4], 0x11); /* only len bytes written */

	ck_assert_int_eq(bus_register(&bus, 0x100, 4, &rec_ops, &dev, "dev"), 0);
	for (uint32_t len = 1; len <= 8; len *= 2) {
		memset(data, 0x11, sizeof(data));
		ck_assert(!bus_access(&bus, 0x200, data, len, false));
		for (uint32_t i = 0; i < sizeof(data); i++)
			ck_assert_uint_eq(data[i], i < len ? 0xff : 0x11);
		memset(data, 0x22, sizeof(data));
		ck_assert(!bus_access(&bus, 0x200, data, len, true));
		ck_assert_uint_eq(data[0], 0x22); /* the write buffer is not touched */
	}
	/* Just below and just above the range. */
	ck_assert(!bus_access(&bus, 0xff, data, 1, false));
	ck_assert(!bus_access(&bus, 0x104, data, 1, true));
	ck_assert_int_eq(dev.reads + dev.writes, 0);
	bus_free(&bus);
}
END_TEST

START_TEST(test_access_straddling)
{
	struct rec_dev dev = {0};
	uint8_t data[8];
	struct bus bus;

	bus_init(&bus, "mmio");
	ck_assert_int_eq(bus_register(&bus, 0x100, 4, &rec_ops, &dev, "dev"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x104, 4, &rec_ops, &dev, "next"), 0);

	/* 0x102..0x105 straddles the end of the first range (even though "next" is there). */
	memset(data, 0, sizeof(data));
	ck_assert(!bus_access(&bus, 0x102, data, 4, false));
	ck_assert_uint_eq(data[0] & data[1] & data[2] & data[3], 0xff);
	ck_assert(!bus_access(&bus, 0x102, data, 4, true));
	ck_assert(!bus_access(&bus, 0x103, data, 2, false));
	ck_assert(!bus_access(&bus, 0x100, data, 8, false));
	ck_assert(!bus_access(&bus, 0x106, data, 4, true));
	ck_assert_int_eq(dev.reads + dev.writes, 0);

	/* Exactly fitting accesses are handled. */
	ck_assert(bus_access(&bus, 0x100, data, 4, false));
	ck_assert_int_eq(dev.reads, 1);
	ck_assert(bus_access(&bus, 0x103, data, 1, false));
	ck_assert_uint_eq(dev.offset, 3);
	ck_assert(bus_access(&bus, 0x104, data, 4, true));
	ck_assert_int_eq(dev.writes, 1);
	bus_free(&bus);

	/* A one-byte range at the very top: a 2-byte access must not wrap around. */
	bus_init(&bus, "mmio");
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX, 1, &rec_ops, &dev, "top"), 0);
	ck_assert(bus_access(&bus, UINT64_MAX, data, 1, false));
	ck_assert(!bus_access(&bus, UINT64_MAX, data, 2, false));
	ck_assert_uint_eq(data[0] & data[1], 0xff);
	bus_free(&bus);
}
END_TEST

START_TEST(test_access_offsets)
{
	struct rec_dev com1 = {0}, other = {0};
	uint8_t data[8];
	struct bus bus;

	bus_init(&bus, "pio");
	ck_assert_int_eq(bus_register(&bus, 0x3f8, 8, &rec_ops, &com1, "com1"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x2f8, 8, &rec_ops, &other, "com2"), 0);

	memset(data, 0, sizeof(data));
	ck_assert(bus_access(&bus, 0x3fa, data, 2, false));
	ck_assert_int_eq(com1.reads, 1);
	ck_assert_uint_eq(com1.offset, 2);
	ck_assert_uint_eq(com1.len, 2);
	ck_assert_uint_eq(data[0], 0x42);
	ck_assert_uint_eq(data[1], 0x43);
	ck_assert_uint_eq(data[2], 0); /* the device only fills len bytes */

	data[0] = 0x5a;
	ck_assert(bus_access(&bus, 0x3fd, data, 1, true));
	ck_assert_int_eq(com1.writes, 1);
	ck_assert_uint_eq(com1.offset, 5);
	ck_assert_uint_eq(com1.len, 1);
	ck_assert_uint_eq(com1.data[0], 0x5a);

	ck_assert(bus_access(&bus, 0x2f8, data, 1, false));
	ck_assert_int_eq(other.reads, 1);
	ck_assert_uint_eq(other.offset, 0);
	ck_assert_int_eq(com1.reads, 1);
	bus_free(&bus);

	/* MMIO: 8-byte accesses, large bases. */
	bus_init(&bus, "mmio");
	ck_assert_int_eq(bus_register(&bus, 0xfee00000, 0x1000, &rec_ops, &com1, "lapic"), 0);
	memcpy(data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	ck_assert(bus_access(&bus, 0xfee00ff8, data, 8, true));
	ck_assert_uint_eq(com1.offset, 0xff8);
	ck_assert_uint_eq(com1.len, 8);
	ck_assert_mem_eq(com1.data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	ck_assert(!bus_access(&bus, 0xfee00ffc, data, 8, true));
	bus_free(&bus);
}
END_TEST

/* A device of byte registers: every access it gets, in order. */
struct byte_dev {
	unsigned int n;
	struct {
		uint64_t offset;
		uint32_t len;
		bool write;
		uint8_t value;
	} log[16];
};

static void byte_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct byte_dev *d = opaque;

	d->log[d->n++ % 16] = (typeof(d->log[0])){offset, len, false, 0};
	memset(data, 0, len);
	data[0] = (uint8_t)(0xa0 + offset);
}

static void byte_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct byte_dev *d = opaque;

	d->log[d->n++ % 16] = (typeof(d->log[0])){offset, len, true, data[0]};
}

static const struct bus_ops byte_ops = {
	.read = byte_read, .write = byte_write, .byte_registers = 1};

static void expect_byte_access(const struct byte_dev *d, unsigned int i, uint64_t offset,
			       bool write, uint8_t value)
{
	ck_assert_uint_lt(i, d->n);
	ck_assert_uint_eq(d->log[i].offset, offset);
	ck_assert_uint_eq(d->log[i].len, 1);
	ck_assert_int_eq(d->log[i].write, write);
	if (write)
		ck_assert_uint_eq(d->log[i].value, value);
}

/*
 * Devices of byte registers get a wider access as one access per byte, lowest address first,
 * each byte routed on its own (QEMU's memory core with impl.max_access_size 1): outw(0x70, idx |
 * val << 8) is a CMOS index and data write.
 */
START_TEST(test_access_byte_registers)
{
	struct byte_dev cmos = {0}, kbd = {0};
	struct rec_dev wide = {0};
	uint8_t data[8];
	struct bus bus;

	bus_init(&bus, "pio");
	ck_assert_int_eq(bus_register(&bus, 0x70, 2, &byte_ops, &cmos, "cmos"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x72, 2, &rec_ops, &wide, "wide"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x64, 1, &byte_ops, &kbd, "i8042"), 0);

	memcpy(data, "\x0e\x5a", 2);
	ck_assert(bus_access(&bus, 0x70, data, 2, true));
	ck_assert_uint_eq(cmos.n, 2);
	expect_byte_access(&cmos, 0, 0, true, 0x0e);
	expect_byte_access(&cmos, 1, 1, true, 0x5a);

	memset(data, 0, sizeof(data));
	ck_assert(bus_access(&bus, 0x70, data, 2, false));
	ck_assert_uint_eq(cmos.n, 4);
	expect_byte_access(&cmos, 2, 0, false, 0);
	expect_byte_access(&cmos, 3, 1, false, 0);
	ck_assert_mem_eq(data, "\xa0\xa1", 2);

	/* Bytes past the device go where they land: a neighbour, one byte at a time, or nothing. */
	memcpy(data, "\x01\x02\x03\x04", 4);
	ck_assert(bus_access(&bus, 0x71, data, 4, true));
	ck_assert_uint_eq(cmos.n, 5);
	expect_byte_access(&cmos, 4, 1, true, 0x01);
	ck_assert_int_eq(wide.writes, 2);
	ck_assert_uint_eq(wide.offset, 1);
	ck_assert_uint_eq(wide.len, 1);
	ck_assert_uint_eq(wide.data[0], 0x03);
	memset(data, 0, sizeof(data));
	ck_assert(bus_access(&bus, 0x64, data, 2, false));
	ck_assert_mem_eq(data, "\xa0\xff", 2);
	ck_assert_uint_eq(kbd.n, 1);
	/* An access that starts before the device reaches it too. */
	memcpy(data, "\x11\xfe", 2);
	ck_assert(bus_access(&bus, 0x63, data, 2, true));
	ck_assert_uint_eq(kbd.n, 2);
	expect_byte_access(&kbd, 1, 0, true, 0xfe);
	memset(data, 0, sizeof(data));
	ck_assert(bus_access(&bus, 0x6e, data, 4, false));
	ck_assert_mem_eq(data, "\xff\xff\xa0\xa1", 4);

	/* A device without byte registers still gets its accesses whole, and nothing else. */
	ck_assert(bus_access(&bus, 0x72, data, 2, true));
	ck_assert_uint_eq(wide.len, 2);
	ck_assert(!bus_access(&bus, 0x73, data, 2, true));
	ck_assert(!bus_access(&bus, 0x65, data, 2, true));
	bus_free(&bus);
}
END_TEST

START_TEST(test_access_missing_ops)
{
	struct rec_dev dev = {0};
	uint8_t data[8];
	struct bus bus;

	bus_init(&bus, "pio");
	ck_assert_int_eq(bus_register(&bus, 0x10, 4, &write_only_ops, &dev, "wo"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x20, 4, &read_only_ops, &dev, "ro"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x30, 4, &no_ops, &dev, "none"), 0);

	/* A registered device without read: all ones, but the access was handled. */
	memset(data, 0, sizeof(data));
	ck_assert(bus_access(&bus, 0x11, data, 2, false));
	ck_assert_uint_eq(data[0], 0xff);
	ck_assert_uint_eq(data[1], 0xff);
	ck_assert_uint_eq(data[2], 0);
	ck_assert(bus_access(&bus, 0x11, data, 2, true));
	ck_assert_int_eq(dev.writes, 1);
	ck_assert_uint_eq(dev.offset, 1);

	/* Without write: the write is dropped, still handled. */
	ck_assert(bus_access(&bus, 0x20, data, 1, true));
	ck_assert_int_eq(dev.writes, 1);
	ck_assert(bus_access(&bus, 0x20, data, 1, false));
	ck_assert_int_eq(dev.reads, 1);

	memset(data, 0, sizeof(data));
	ck_assert(bus_access(&bus, 0x30, data, 4, false));
	ck_assert_uint_eq(data[0] & data[1] & data[2] & data[3], 0xff);
	ck_assert(bus_access(&bus, 0x30, data, 4, true));
	ck_assert_int_eq(dev.reads, 1);
	ck_assert_int_eq(dev.writes, 1);
	bus_free(&bus);
}
END_TEST

/* ------------------------------------------------------------------ bus_unregister */

START_TEST(test_unregister)
{
	struct rec_dev a = {0}, b = {0}, c = {0};
	uint8_t data[4];
	struct bus bus;

	bus_init(&bus, "pio");
	ck_assert_int_eq(bus_unregister(&bus, 0, NULL), -ENOENT); /* empty bus */
	ck_assert_int_eq(bus_register(&bus, 0x100, 0x10, &rec_ops, &a, "a"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x200, 0x10, &rec_ops, &b, "b"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x300, 0x10, &rec_ops, &c, "c"), 0);

	/* Not the start of a range, between ranges, past the end, or another owner's range. */
	ck_assert_int_eq(bus_unregister(&bus, 0x201, &b), -ENOENT);
	ck_assert_int_eq(bus_unregister(&bus, 0x20f, &b), -ENOENT);
	ck_assert_int_eq(bus_unregister(&bus, 0x250, &b), -ENOENT);
	ck_assert_int_eq(bus_unregister(&bus, 0xff, &a), -ENOENT);
	ck_assert_int_eq(bus_unregister(&bus, 0x400, &c), -ENOENT);
	ck_assert_int_eq(bus_unregister(&bus, UINT64_MAX, &c), -ENOENT);
	ck_assert_int_eq(bus_unregister(&bus, 0x200, &a), -ENOENT);
	ck_assert_int_eq(bus_unregister(&bus, 0x200, NULL), -ENOENT);
	ck_assert_uint_eq(bus.nr, 3);

	/* The middle one: its neighbours stay, and accesses to it now miss. */
	ck_assert_int_eq(bus_unregister(&bus, 0x200, &b), 0);
	ck_assert_uint_eq(bus.nr, 2);
	ck_assert_ptr_null(bus_find(&bus, 0x200));
	ck_assert_ptr_null(bus_find(&bus, 0x20f));
	ck_assert_str_eq(bus_find(&bus, 0x10f)->name, "a");
	ck_assert_str_eq(bus_find(&bus, 0x300)->name, "c");
	ck_assert(!bus_access(&bus, 0x204, data, 1, false));
	ck_assert_int_eq(b.reads, 0);
	ck_assert_int_eq(bus_unregister(&bus, 0x200, &b), -ENOENT); /* only once */

	/* The range can be taken again, by someone else and with another length. */
	ck_assert_int_eq(bus_register(&bus, 0x1f0, 0x100, &rec_ops, &b, "b2"), 0);
	ck_assert_str_eq(bus_find(&bus, 0x200)->name, "b2");
	ck_assert_int_eq(bus_unregister(&bus, 0x1f0, &b), 0);

	/* First and last. */
	ck_assert_int_eq(bus_unregister(&bus, 0x300, &c), 0);
	ck_assert_str_eq(bus_find(&bus, 0x100)->name, "a");
	ck_assert_int_eq(bus_unregister(&bus, 0x100, &a), 0);
	ck_assert_uint_eq(bus.nr, 0);
	ck_assert_ptr_null(bus_find(&bus, 0x100));
	ck_assert_int_eq(bus_unregister(&bus, 0x100, &a), -ENOENT);
	bus_free(&bus);

	/* The ends of the address space. */
	bus_init(&bus, "mmio");
	ck_assert_int_eq(bus_register(&bus, 0, 1, &rec_ops, &a, "zero"), 0);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX, 1, &rec_ops, &a, "top"), 0);
	ck_assert_int_eq(bus_unregister(&bus, UINT64_MAX, &a), 0);
	ck_assert_ptr_null(bus_find(&bus, UINT64_MAX));
	ck_assert_str_eq(bus_find(&bus, 0)->name, "zero");
	ck_assert_int_eq(bus_unregister(&bus, 0, &a), 0);
	ck_assert_uint_eq(bus.nr, 0);
	bus_free(&bus);
}
END_TEST

/* Random registrations and removals against a linear reference; the table stays sorted. */
START_TEST(test_unregister_random)
{
	enum { SLOTS = 64 };
	struct ref_range ref[SLOTS];
	bool used[SLOTS] = {false};
	int owner[SLOTS];
	struct bus bus;
	int removed = 0, refused = 0;

	rng_state = 0x243f6a8885a308d3ULL;
	bus_init(&bus, "mmio");
	for (int step = 0; step < 20000; step++) {
		int k = (int)(rnd() % SLOTS);

		if (!used[k]) {
			uint64_t base = rnd() % 0x10000, len = 1 + rnd() % 0x400;
			struct ref_range live[SLOTS];
			int n = 0;

			for (int j = 0; j < SLOTS; j++)
				if (used[j])
					live[n++] = ref[j];
			int expect = linear_overlaps(live, n, base, len) ? -EEXIST : 0;

			ck_assert_int_eq(bus_register(&bus, base, len, &rec_ops, &owner[k], "r"),
					 expect);
			if (!expect) {
				ref[k] = (struct ref_range){base, len, k};
				used[k] = true;
			}
		} else if (rnd() % 4 == 0) {
			/* Wrong owner or an address inside the range: refused, nothing changes. */
			int other = (k + 1) % SLOTS;

			ck_assert_int_eq(bus_unregister(&bus, ref[k].base, &owner[other]), -ENOENT);
			if (ref[k].len > 1)
				ck_assert_int_eq(bus_unregister(&bus, ref[k].base + 1, &owner[k]),
						 -ENOENT);
			refused++;
		} else {
			ck_assert_int_eq(bus_unregister(&bus, ref[k].base, &owner[k]), 0);
			used[k] = false;
			removed++;
		}

		unsigned int live = 0;

		for (int j = 0; j < SLOTS; j++) {
			if (!used[j])
				continue;
			live++;
			const struct bus_range *r = bus_find(&bus, ref[j].base + ref[j].len - 1);

			ck_assert_ptr_nonnull(r);
			ck_assert_ptr_eq(r->opaque, &owner[j]);
			ck_assert_uint_eq(r->base, ref[j].base);
		}
		ck_assert_uint_eq(bus.nr, live);
		for (unsigned int i = 1; i < bus.nr; i++)
			ck_assert(bus.ranges[i - 1].base + bus.ranges[i - 1].len - 1 <
				  bus.ranges[i].base);
	}
	ck_assert_int_gt(removed, 100);
	ck_assert_int_gt(refused, 100);
	bus_free(&bus);
}
END_TEST

static Suite *bus_suite(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("register_find");

	tcase_add_test(tc, test_find_boundaries);
	tcase_add_test(tc, test_adjacent_ranges);
	tcase_add_test(tc, test_overlaps_rejected);
	tcase_add_test(tc, test_invalid_ranges);
	tcase_add_loop_test(tc, test_many_random_ranges, 0, 3);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("access");
	tcase_add_test(tc, test_access_unhandled);
	tcase_add_test(tc, test_access_straddling);
	tcase_add_test(tc, test_access_offsets);
	tcase_add_test(tc, test_access_byte_registers);
	tcase_add_test(tc, test_access_missing_ops);
	suite_add_tcase(s, tc);

	tc = tcase_create("unregister");
	tcase_add_test(tc, test_unregister);
	tcase_add_test(tc, test_unregister_random);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(bus_suite());
}
