// SPDX-License-Identifier: MIT
/*
 * Unit tests for the split virtqueue engine. The test plays the driver: it writes descriptor
 * tables and rings into a real guest RAM and checks what the device side makes of them,
 * including every kind of malformed ring a hostile guest can write.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "memory.h"
#include "virtio/virtqueue.h"

#define RAM_SIZE  (16ULL << 20)
#define DESC_GPA  0x10000ULL
#define AVAIL_GPA 0x20000ULL
#define USED_GPA  0x30000ULL
#define TABLE_GPA 0x40000ULL /* indirect tables */
#define DATA_GPA  0x100000ULL

static struct guest_mem m;
static uint8_t *ram;
static struct vq q;
static struct vq_chain ch;
static uint16_t drv_avail; /* the driver's avail idx */
static char err[256];

static void mem_setup(void)
{
	ck_assert_int_eq(guest_mem_alloc(&m, RAM_SIZE), 0);
	ram = gpa_to_hva(&m, 0, RAM_SIZE);
	ck_assert_ptr_nonnull(ram);
}

static void mem_teardown(void)
{
	guest_mem_free(&m);
}

/* A freshly enabled queue with empty rings, as the transport would set it up. */
static void init(uint16_t size, bool indirect, bool event_idx)
{
	memset(&q, 0, sizeof(q));
	memset(ram + DESC_GPA, 0, 0x40000);
	q.size = size;
	q.desc_gpa = DESC_GPA;
	q.avail_gpa = AVAIL_GPA;
	q.used_gpa = USED_GPA;
	q.indirect = indirect;
	q.event_idx = event_idx;
	drv_avail = 0;
	err[0] = '\0';
	ck_assert_int_eq(vq_check_layout(&q, &m, err, sizeof(err)), 0);
}

static void put16(uint64_t gpa, uint16_t v)
{
	memcpy(ram + gpa, &v, 2);
}

static uint16_t get16(uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, ram + gpa, 2);
	return v;
}

static uint32_t get32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, ram + gpa, 4);
	return v;
}

/* Descriptor i of the table at table_gpa (little-endian host, as x86). */
static void tdesc(uint64_t table_gpa, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		  uint16_t next)
{
	uint8_t *d = ram + table_gpa + 16 * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void desc(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	tdesc(DESC_GPA, i, addr, len, flags, next);
}

static void set_avail_idx(uint16_t idx)
{
	drv_avail = idx;
	put16(AVAIL_GPA + 2, idx);
}

/* Makes head available: ring entry, then idx, as a driver does. */
static void avail_add(uint16_t head)
{
	put16(AVAIL_GPA + 4 + 2 * (drv_avail & (q.size - 1)), head);
	set_avail_idx(drv_avail + 1);
}

/* Both the driver and the device start at idx (tests of 16-bit wraparound). */
static void start_at(uint16_t idx)
{
	q.last_avail = q.used_idx = q.signalled_used = idx;
	set_avail_idx(idx);
	put16(USED_GPA + 2, idx);
}

static void used_elem(unsigned int slot, uint32_t *id, uint32_t *len)
{
	*id = get32(USED_GPA + 4 + 8 * slot);
	*len = get32(USED_GPA + 8 + 8 * slot);
}

static void set_used_event(uint16_t v)
{
	put16(AVAIL_GPA + 4 + 2 * q.size, v);
}

static void push_ok(uint16_t head, uint32_t written)
{
	ck_assert_int_eq(vq_push(&q, &m, head, written), 0);
}

/* The ring is malformed: -1 naming the problem, and the queue stays broken. */
static void expect_broken(const char *what)
{
	uint16_t last = q.last_avail;

	err[0] = '\0';
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, what), "error \"%s\" does not mention \"%s\"", err, what);
	ck_assert(q.broken);
	ck_assert_str_eq(q.error, err);
	ck_assert_uint_eq(q.last_avail, last);
	err[0] = '\0';
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), -1);
	ck_assert_str_eq(err, q.error);
	ck_assert_uint_eq(q.last_avail, last);
}

static void expect_buf(unsigned int i, uint64_t gpa, uint32_t len, bool write)
{
	ck_assert_uint_eq(ch.bufs[i].gpa, gpa);
	ck_assert_uint_eq(ch.bufs[i].len, len);
	ck_assert_int_eq(ch.bufs[i].write, write);
}

START_TEST(test_layout)
{
	static const struct {
		uint16_t size;
		uint64_t desc, avail, used;
		const char *msg;
	} bad[] = {
		{0, DESC_GPA, AVAIL_GPA, USED_GPA, "queue size 0 is not a power of 2"},
		{3, DESC_GPA, AVAIL_GPA, USED_GPA, "queue size 3 is not a power of 2"},
		{2048, DESC_GPA, AVAIL_GPA, USED_GPA, "queue size 2048"},
		{8, DESC_GPA + 8, AVAIL_GPA, USED_GPA, "descriptor table at 0x10008 is not 16"},
		{8, DESC_GPA, AVAIL_GPA + 1, USED_GPA, "avail ring at 0x20001 is not 2-byte"},
		{8, DESC_GPA, AVAIL_GPA, USED_GPA + 2, "used ring at 0x30002 is not 4-byte"},
		{8, DESC_GPA, RAM_SIZE - 4, USED_GPA, "avail ring at 0xfffffc (22 bytes) is out"},
		{8, DESC_GPA, RAM_SIZE, USED_GPA, "avail ring at 0x1000000 (22 bytes) is out"},
		{8, 0xfffffffffffffff0ULL, AVAIL_GPA, USED_GPA,
		 "descriptor table at 0xfffffffffffffff0 (128 bytes) is outside"},
		{8, DESC_GPA, AVAIL_GPA, MMIO_HOLE_START, "used ring at 0xc0000000 (70 bytes)"},
		{8, DESC_GPA, AVAIL_GPA, RAM_SIZE - 8, "used ring at 0xfffff8 (70 bytes)"},
	};

	init(8, false, false);
	q.size = 1024;
	ck_assert_int_eq(vq_check_layout(&q, &m, err, sizeof(err)), 0);
	q.size = 1;
	q.avail_gpa = RAM_SIZE - 8; /* exactly the last 8 bytes of RAM */
	ck_assert_int_eq(vq_check_layout(&q, &m, err, sizeof(err)), 0);

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&q, 0, sizeof(q));
		q.size = bad[i].size;
		q.desc_gpa = bad[i].desc;
		q.avail_gpa = bad[i].avail;
		q.used_gpa = bad[i].used;
		err[0] = '\0';
		ck_assert_int_eq(vq_check_layout(&q, &m, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, bad[i].msg), "case %u: \"%s\"", i, err);
		/* A transport that forgot to check: pop refuses too, without touching memory. */
		expect_broken(bad[i].msg);
	}
}
END_TEST

START_TEST(test_single_descriptor)
{
	init(8, false, false);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 0);
	desc(5, DATA_GPA, 100, 0, 0);
	avail_add(5);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_uint_eq(ch.head, 5);
	ck_assert_uint_eq(ch.n, 1);
	ck_assert_uint_eq(ch.n_out, 1);
	ck_assert_uint_eq(ch.out_bytes, 100);
	ck_assert_uint_eq(ch.in_bytes, 0);
	expect_buf(0, DATA_GPA, 100, false);
	ck_assert_uint_eq(q.last_avail, 1);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 0);
	ck_assert(!q.broken);
}
END_TEST

START_TEST(test_multi_descriptor)
{
	init(8, false, false);
	/* 3 -> 5 -> 1 -> 7 -> 0: two readable, then writable, one of them empty. */
	desc(3, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 5);
	desc(5, DATA_GPA + 0x100, 32, VIRTQ_DESC_F_NEXT, 1);
	desc(1, DATA_GPA + 0x200, 64, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 7);
	desc(7, DATA_GPA + 0x300, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
	desc(0, RAM_SIZE - 1, 1, VIRTQ_DESC_F_WRITE, 0); /* last byte of RAM */
	desc(2, DATA_GPA + 0x400, 8, VIRTQ_DESC_F_WRITE, 0);
	avail_add(3);
	avail_add(2);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_uint_eq(ch.head, 3);
	ck_assert_uint_eq(ch.n, 5);
	ck_assert_uint_eq(ch.n_out, 2);
	ck_assert_uint_eq(ch.out_bytes, 48);
	ck_assert_uint_eq(ch.in_bytes, 65);
	expect_buf(0, DATA_GPA, 16, false);
	expect_buf(1, DATA_GPA + 0x100, 32, false);
	expect_buf(2, DATA_GPA + 0x200, 64, true);
	expect_buf(3, DATA_GPA + 0x300, 0, true);
	expect_buf(4, RAM_SIZE - 1, 1, true);
	/* Writable only. */
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_uint_eq(ch.head, 2);
	ck_assert_uint_eq(ch.n, 1);
	ck_assert_uint_eq(ch.n_out, 0);
	ck_assert_uint_eq(ch.out_bytes, 0);
	ck_assert_uint_eq(ch.in_bytes, 8);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 0);
}
END_TEST

/* A chain as long as the queue is legal; one more link is a loop. */
START_TEST(test_longest_chain)
{
	init(8, false, false);
	for (unsigned int i = 0; i < 8; i++)
		desc(i, DATA_GPA + i, 1, i < 7 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	avail_add(0);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_uint_eq(ch.n, 8);
	ck_assert_uint_eq(ch.out_bytes, 8);
	push_ok(0, 0);
	desc(7, DATA_GPA + 7, 1, VIRTQ_DESC_F_NEXT, 0);
	avail_add(0);
	expect_broken("descriptor 0: chain longer than the queue (loop?)");
}
END_TEST

START_TEST(test_indirect)
{
	init(8, true, false);
	/* WRITE on the descriptor that refers to a table must be ignored. */
	desc(2, TABLE_GPA, 4 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	tdesc(TABLE_GPA, 0, DATA_GPA, 10, VIRTQ_DESC_F_NEXT, 2);
	tdesc(TABLE_GPA, 2, DATA_GPA + 0x10, 20, VIRTQ_DESC_F_NEXT, 1);
	tdesc(TABLE_GPA, 1, DATA_GPA + 0x20, 30, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	tdesc(TABLE_GPA, 3, DATA_GPA + 0x40, 40, VIRTQ_DESC_F_WRITE, 0);
	avail_add(2);
	/* Zero or more direct descriptors may precede the indirect one (spec 2.7.5.3.2). */
	desc(4, DATA_GPA + 0x80, 5, VIRTQ_DESC_F_NEXT, 6);
	desc(6, TABLE_GPA + 0x100 + 3, 32, VIRTQ_DESC_F_INDIRECT, 0); /* unaligned table */
	tdesc(TABLE_GPA + 0x103, 0, DATA_GPA + 0x90, 6, VIRTQ_DESC_F_NEXT, 1);
	tdesc(TABLE_GPA + 0x103, 1, DATA_GPA + 0xa0, 7, VIRTQ_DESC_F_WRITE, 0);
	avail_add(4);

	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_uint_eq(ch.head, 2);
	ck_assert_uint_eq(ch.n, 4);
	ck_assert_uint_eq(ch.n_out, 2);
	ck_assert_uint_eq(ch.out_bytes, 30);
	ck_assert_uint_eq(ch.in_bytes, 70);
	expect_buf(0, DATA_GPA, 10, false);
	expect_buf(1, DATA_GPA + 0x10, 20, false);
	expect_buf(2, DATA_GPA + 0x20, 30, true);
	expect_buf(3, DATA_GPA + 0x40, 40, true);

	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_uint_eq(ch.head, 4);
	ck_assert_uint_eq(ch.n, 3);
	ck_assert_uint_eq(ch.n_out, 2);
	expect_buf(0, DATA_GPA + 0x80, 5, false);
	expect_buf(1, DATA_GPA + 0x90, 6, false);
	expect_buf(2, DATA_GPA + 0xa0, 7, true);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 0);
}
END_TEST

/* The largest table is legal, and the sums of many full-RAM buffers just fit in 4 GiB - 1. */
START_TEST(test_limits)
{
	init(256, true, false);
	desc(0, TABLE_GPA, VQ_MAX_SIZE * 16, VIRTQ_DESC_F_INDIRECT, 0);
	for (unsigned int i = 0; i < VQ_MAX_SIZE; i++)
		tdesc(TABLE_GPA, i, DATA_GPA + i, 1, i + 1 < VQ_MAX_SIZE ? VIRTQ_DESC_F_NEXT : 0,
		      i + 1);
	avail_add(0);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_uint_eq(ch.n, VQ_MAX_SIZE);
	ck_assert_uint_eq(ch.out_bytes, VQ_MAX_SIZE);
	expect_buf(VQ_MAX_SIZE - 1, DATA_GPA + VQ_MAX_SIZE - 1, 1, false);
	push_ok(0, 0);

	/* 255 x 16 MiB + (16 MiB - 1) = 4 GiB - 1, in each direction. */
	for (unsigned int i = 0; i < 256; i++)
		desc(i, 0, i < 255 ? RAM_SIZE : RAM_SIZE - 1, i < 255 ? VIRTQ_DESC_F_NEXT : 0,
		     i + 1);
	avail_add(0);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_uint_eq(ch.out_bytes, UINT32_MAX);
	push_ok(0, 0);
	for (unsigned int i = 0; i < 256; i++)
		desc(i, 0, i < 255 ? RAM_SIZE : RAM_SIZE - 1,
		     VIRTQ_DESC_F_WRITE | (i < 255 ? VIRTQ_DESC_F_NEXT : 0), i + 1);
	avail_add(0);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_uint_eq(ch.in_bytes, UINT32_MAX);
	ck_assert_uint_eq(ch.n, 256);
}
END_TEST

START_TEST(test_wraparound)
{
	uint32_t id, len;

	init(4, false, false);
	start_at(65534);
	for (unsigned int i = 0; i < 4; i++) {
		desc(i, DATA_GPA + 0x100 * i, 8, VIRTQ_DESC_F_WRITE, 0);
		avail_add(3 - i);
	}
	ck_assert_uint_eq(get16(AVAIL_GPA + 2), 2);
	for (unsigned int i = 0; i < 4; i++) {
		ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
		ck_assert_uint_eq(ch.head, 3 - i);
		ck_assert_uint_eq(ch.bufs[0].gpa, DATA_GPA + 0x100 * (3 - i));
		push_ok(ch.head, 10 + i);
	}
	ck_assert_uint_eq(q.last_avail, 2);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 0);
	ck_assert_uint_eq(q.used_idx, 2);
	ck_assert_uint_eq(get16(USED_GPA + 2), 2);
	/* 65534 & 3 = 2: slots 2, 3, 0, 1. */
	for (unsigned int i = 0; i < 4; i++) {
		used_elem((2 + i) & 3, &id, &len);
		ck_assert_uint_eq(id, 3 - i);
		ck_assert_uint_eq(len, 10 + i);
	}
	ck_assert(!q.broken);
}
END_TEST

START_TEST(test_push)
{
	uint32_t id, len;

	init(8, false, false);
	push_ok(5, 77);
	push_ok(0, 0);
	used_elem(0, &id, &len);
	ck_assert_uint_eq(id, 5);
	ck_assert_uint_eq(len, 77);
	used_elem(1, &id, &len);
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(get16(USED_GPA + 2), 2);
	/* A head that cannot exist is refused without touching the ring. */
	ck_assert_int_eq(vq_push(&q, &m, 8, 1), -1);
	ck_assert_uint_eq(get16(USED_GPA + 2), 2);
	ck_assert_uint_eq(q.used_idx, 2);
	ck_assert(!q.broken);
	/* A used ring outside RAM: -1 and the queue is broken. */
	q.used_gpa = RAM_SIZE - 8;
	ck_assert_int_eq(vq_push(&q, &m, 1, 1), -1);
	ck_assert(q.broken);
	ck_assert_ptr_nonnull(strstr(q.error, "used ring at 0xfffff8"));
}
END_TEST

START_TEST(test_notify_flags)
{
	init(8, false, false);
	push_ok(0, 1);
	ck_assert(vq_need_notify(&q, &m));
	put16(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	push_ok(1, 1);
	ck_assert(!vq_need_notify(&q, &m));
	set_used_event(2); /* ignored without EVENT_IDX */
	push_ok(2, 1);
	ck_assert(!vq_need_notify(&q, &m));
	put16(AVAIL_GPA, 0);
	ck_assert(vq_need_notify(&q, &m));
}
END_TEST

START_TEST(test_notify_event_idx)
{
	init(8, false, true);
	put16(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT); /* ignored with EVENT_IDX */
	set_used_event(1);
	push_ok(0, 1);
	ck_assert(vq_need_notify(&q, &m)); /* nothing signalled yet: always */
	push_ok(0, 1);			   /* used idx 2 passes used_event 1 */
	ck_assert(vq_need_notify(&q, &m));
	set_used_event(3);
	push_ok(0, 1); /* idx 3: entry 2 written, the driver waits for entry 3 */
	ck_assert(!vq_need_notify(&q, &m));
	push_ok(0, 1);
	ck_assert(vq_need_notify(&q, &m));
	ck_assert(!vq_need_notify(&q, &m)); /* nothing new since */
	set_used_event(5);
	push_ok(0, 1);
	push_ok(0, 1);
	push_ok(0, 1); /* 4 -> 7 crosses entry 5 in one batch */
	ck_assert(vq_need_notify(&q, &m));
	set_used_event(6); /* already behind us: stale */
	push_ok(0, 1);
	ck_assert(!vq_need_notify(&q, &m));
}
END_TEST

START_TEST(test_notify_event_idx_wrap)
{
	init(8, false, true);
	start_at(65534);
	q.signalled_valid = true;
	set_used_event(65535);
	push_ok(0, 1);
	push_ok(0, 1); /* 65534 -> 0 */
	ck_assert_uint_eq(q.used_idx, 0);
	ck_assert(vq_need_notify(&q, &m));
	set_used_event(0);
	push_ok(0, 1); /* -> 1 */
	ck_assert(vq_need_notify(&q, &m));
	set_used_event(65533); /* way behind, across the wrap */
	push_ok(0, 1);
	ck_assert(!vq_need_notify(&q, &m));

	start_at(65533);
	q.signalled_valid = true;
	set_used_event(1);
	push_ok(0, 1);
	push_ok(0, 1);
	push_ok(0, 1); /* 65533 -> 0: entry 1 not yet written */
	ck_assert(!vq_need_notify(&q, &m));
	push_ok(0, 1);
	ck_assert(!vq_need_notify(&q, &m)); /* -> 1: entry 0 written */
	push_ok(0, 1);
	ck_assert(vq_need_notify(&q, &m)); /* -> 2: entry 1 written */
}
END_TEST

START_TEST(test_set_notify)
{
	init(8, false, false);
	ck_assert_int_eq(vq_set_notify(&q, &m, false), 0);
	ck_assert_uint_eq(get16(USED_GPA), VIRTQ_USED_F_NO_NOTIFY);
	ck_assert_uint_eq(get16(USED_GPA + 4 + 8 * 8), 0);
	ck_assert_int_eq(vq_set_notify(&q, &m, true), 0);
	ck_assert_uint_eq(get16(USED_GPA), 0);

	init(8, false, true);
	start_at(65535);
	ck_assert_int_eq(vq_set_notify(&q, &m, true), 0);
	ck_assert_uint_eq(get16(USED_GPA + 4 + 8 * 8), 65535);
	ck_assert_uint_eq(get16(USED_GPA), 0);
	desc(0, DATA_GPA, 1, 0, 0);
	avail_add(0);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_int_eq(vq_set_notify(&q, &m, false), 0);
	ck_assert_uint_eq(get16(USED_GPA + 4 + 8 * 8), 65535); /* left stale */
	ck_assert_int_eq(vq_set_notify(&q, &m, true), 0);
	ck_assert_uint_eq(get16(USED_GPA + 4 + 8 * 8), 0);
	ck_assert_uint_eq(get16(USED_GPA), 0);

	q.used_gpa = MMIO_HOLE_START;
	ck_assert_int_eq(vq_set_notify(&q, &m, true), -1);
}
END_TEST

START_TEST(test_chain_read_write)
{
	char buf[32];

	init(8, false, false);
	memcpy(ram + DATA_GPA, "abc", 3);
	memcpy(ram + DATA_GPA + 0x100, "defgh", 5);
	memcpy(ram + DATA_GPA + 0x200, "ijklmno", 7);
	memset(ram + DATA_GPA + 0x300, '.', 0x200);
	desc(0, DATA_GPA, 3, VIRTQ_DESC_F_NEXT, 1);
	desc(1, DATA_GPA + 0x100, 5, VIRTQ_DESC_F_NEXT, 2);
	desc(2, DATA_GPA + 0x200, 7, VIRTQ_DESC_F_NEXT, 3);
	desc(3, DATA_GPA + 0x300, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 4);
	desc(4, DATA_GPA + 0x380, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 5);
	desc(5, DATA_GPA + 0x400, 4, VIRTQ_DESC_F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);

	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(vq_chain_read(&ch, &m, 0, buf, sizeof(buf)), 15);
	ck_assert_str_eq(buf, "abcdefghijklmno");
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(vq_chain_read(&ch, &m, 2, buf, 10), 10);
	ck_assert_str_eq(buf, "cdefghijkl");
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(vq_chain_read(&ch, &m, 8, buf, 1), 1);
	ck_assert_str_eq(buf, "i");
	ck_assert_uint_eq(vq_chain_read(&ch, &m, 14, buf, 10), 1);
	ck_assert_int_eq(buf[0], 'o');
	ck_assert_uint_eq(vq_chain_read(&ch, &m, 15, buf, 10), 0);
	ck_assert_uint_eq(vq_chain_read(&ch, &m, UINT64_MAX, buf, 10), 0);

	ck_assert_uint_eq(vq_chain_write(&ch, &m, 3, "XYZWV", 5), 5);
	ck_assert_int_eq(memcmp(ram + DATA_GPA + 0x300, "...X.", 5), 0);
	ck_assert_int_eq(memcmp(ram + DATA_GPA + 0x380, ".", 1), 0);
	ck_assert_int_eq(memcmp(ram + DATA_GPA + 0x400, "YZWV.", 5), 0);
	ck_assert_uint_eq(vq_chain_write(&ch, &m, 0, "123456789", 9), 8);
	ck_assert_int_eq(memcmp(ram + DATA_GPA + 0x300, "1234.", 5), 0);
	ck_assert_int_eq(memcmp(ram + DATA_GPA + 0x400, "5678.", 5), 0);
	ck_assert_uint_eq(vq_chain_write(&ch, &m, 8, "x", 1), 0);
	/* Neither helper touched the other part. */
	ck_assert_int_eq(memcmp(ram + DATA_GPA, "abc", 3), 0);
	ck_assert_int_eq(memcmp(ram + DATA_GPA + 0x200, "ijklmno", 7), 0);
}
END_TEST

/*
 * A head is the device's from the moment the driver makes it available until the device uses
 * it: made available again before that, it would become a second request (or, repeated in the
 * ring, the same request once per entry). Used, it may come back at once.
 */
START_TEST(test_head_in_flight)
{
	init(8, false, false);
	desc(3, DATA_GPA, 16, 0, 0);
	avail_add(3);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	push_ok(3, 0);
	avail_add(3); /* used, then made available again: legal */
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_uint_eq(ch.head, 3);
	ck_assert_uint_eq(q.last_avail, 2);
	avail_add(3); /* still in flight: the device has not used it */
	expect_broken("avail ring entry 2: head 3 is made available again before it was used");
}
END_TEST

START_TEST(test_head_repeated_in_ring)
{
	init(8, false, false);
	desc(2, DATA_GPA, 16, 0, 0);
	desc(5, DATA_GPA, 16, 0, 0);
	avail_add(5);
	avail_add(2);
	avail_add(5);
	/* Both entries were published before the device took the first: nothing is taken. */
	expect_broken("avail ring entries 0 and 2 both hold head 5");
	ck_assert_uint_eq(q.last_avail, 0);

	/* The repetition the issue found: one head in every entry, across the wrap. */
	init(8, false, false);
	start_at(65533);
	desc(0, DATA_GPA, 16, 0, 0);
	for (unsigned int i = 0; i < 8; i++)
		avail_add(0);
	expect_broken("avail ring entries 5 and 6 both hold head 0");

	/* Distinct heads in a full ring are fine, and so is a head after its own use. */
	init(8, false, false);
	for (unsigned int i = 0; i < 8; i++) {
		desc(i, DATA_GPA, 16, 0, 0);
		avail_add(7 - i);
	}
	for (unsigned int i = 0; i < 8; i++) {
		ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
		ck_assert_uint_eq(ch.head, 7 - i);
	}
	for (unsigned int i = 0; i < 8; i++)
		push_ok(i, 0);
	avail_add(4);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert(!q.broken);
}
END_TEST

/*
 * A device's limit on a chain's bytes: a chain may name one buffer many times, which the 4 GiB
 * limit alone lets grow to 4 GiB of work per chain. The walk stops at the descriptor that
 * crosses the limit.
 */
START_TEST(test_max_chain_bytes)
{
	init(128, false, false);
	q.max_chain_bytes = 1u << 20;
	for (unsigned int i = 0; i < 4; i++)
		desc(i, DATA_GPA, 256 << 10, i < 3 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	avail_add(0);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_uint_eq(ch.out_bytes, 1u << 20); /* exactly the limit */
	push_ok(0, 0);
	/* 63 times the same buffer: refused at the fifth. */
	for (unsigned int i = 0; i < 63; i++)
		desc(i, DATA_GPA, 256 << 10, i < 62 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	avail_add(0);
	expect_broken("descriptor 4: total device-readable length 1310720 exceeds the 1048576 "
		      "bytes this device takes in a chain");

	/* Device-writable bytes count on their own; 0 means only the 4 GiB limit. */
	init(8, false, false);
	q.max_chain_bytes = 100;
	desc(0, DATA_GPA, 100, VIRTQ_DESC_F_NEXT, 1);
	desc(1, DATA_GPA, 100, VIRTQ_DESC_F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	push_ok(0, 0);
	desc(1, DATA_GPA, 101, VIRTQ_DESC_F_WRITE, 0);
	avail_add(0);
	expect_broken("descriptor 1: total device-writable length 101 exceeds the 100 bytes");
	init(8, false, false);
	desc(0, 0, RAM_SIZE, 0, 0);
	avail_add(0);
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
}
END_TEST

/* Once broken, a queue stays broken (with its first reason) until the transport resets it. */
START_TEST(test_broken_is_sticky)
{
	init(8, false, false);
	desc(0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 0);
	avail_add(0);
	expect_broken("descriptor 0: chain longer than the queue (loop?)");
	desc(0, DATA_GPA, 1, 0, 0); /* the driver "fixes" it: too late */
	desc(1, RAM_SIZE, 1, 0, 0);
	avail_add(1);
	expect_broken("descriptor 0: chain longer than the queue (loop?)");
	ck_assert_uint_eq(q.last_avail, 0);

	/* Reset: zeroed state, layout set again; the repaired ring works. */
	memset(&q, 0, sizeof(q));
	q.size = 8;
	q.desc_gpa = DESC_GPA;
	q.avail_gpa = AVAIL_GPA;
	q.used_gpa = USED_GPA;
	ck_assert_int_eq(vq_pop(&q, &m, &ch, err, sizeof(err)), 1);
	ck_assert_uint_eq(ch.head, 0);
	expect_broken("descriptor 1: address 0x1000000 length 1 outside guest memory");
}
END_TEST

/* Malformed rings, one per loop iteration: each builds its ring and names the expected error. */
static void bad_head(void)
{
	init(8, false, false);
	avail_add(8);
}

static void bad_next(void)
{
	init(8, false, false);
	desc(0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 8);
	avail_add(0);
}

static void bad_beyond_ram(void)
{
	init(8, false, false);
	desc(0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	desc(1, RAM_SIZE, 1, 0, 0);
	avail_add(0);
}

static void bad_straddle(void)
{
	init(8, false, false);
	desc(7, RAM_SIZE - 8, 16, VIRTQ_DESC_F_WRITE, 0);
	avail_add(7);
}

static void bad_overflow(void)
{
	init(8, false, false);
	desc(0, 0xfffffffffffff000ULL, 0x2000, 0, 0);
	avail_add(0);
}

static void bad_overflow_max(void)
{
	init(8, false, false);
	desc(0, UINT64_MAX, UINT32_MAX, VIRTQ_DESC_F_WRITE, 0);
	avail_add(0);
}

static void bad_zero_len(void)
{
	init(8, false, false);
	desc(0, 0xffffffffffffffffULL, 0, 0, 0);
	avail_add(0);
}

static void bad_mmio_hole(void)
{
	init(8, false, false);
	desc(0, MMIO_HOLE_START, 16, 0, 0);
	avail_add(0);
}

static void bad_loop2(void)
{
	init(8, false, false);
	desc(4, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 6);
	desc(6, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 4);
	avail_add(4);
}

static void bad_self_loop(void)
{
	init(8, false, false);
	desc(3, DATA_GPA, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	avail_add(3);
}

static void bad_avail_jump(void)
{
	init(256, false, false);
	set_avail_idx(300);
}

static void bad_avail_jump_wrap(void)
{
	init(8, false, false);
	start_at(65530);
	set_avail_idx(3);
}

static void bad_avail_backwards(void)
{
	init(8, false, false);
	start_at(10);
	set_avail_idx(9);
}

static void bad_indirect_not_negotiated(void)
{
	init(8, false, false);
	desc(0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	tdesc(TABLE_GPA, 0, DATA_GPA, 1, 0, 0);
	avail_add(0);
}

static void bad_indirect_next(void)
{
	init(8, true, false);
	desc(0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	desc(1, DATA_GPA, 1, 0, 0);
	tdesc(TABLE_GPA, 0, DATA_GPA, 1, 0, 0);
	avail_add(0);
}

static void bad_indirect_len(void)
{
	init(8, true, false);
	desc(0, TABLE_GPA, 20, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
}

static void bad_indirect_len0(void)
{
	init(8, true, false);
	desc(0, TABLE_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
}

static void bad_indirect_big(void)
{
	init(8, true, false);
	desc(0, TABLE_GPA, 16 * (VQ_MAX_SIZE + 1), VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
}

static void bad_indirect_outside(void)
{
	init(8, true, false);
	desc(0, RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
}

static void bad_indirect_overflow(void)
{
	init(8, true, false);
	desc(0, 0xfffffffffffffff0ULL, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
}

static void bad_indirect_nested(void)
{
	init(8, true, false);
	desc(0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	tdesc(TABLE_GPA, 0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	tdesc(TABLE_GPA, 1, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
}

static void bad_indirect_next_oob(void)
{
	init(8, true, false);
	desc(0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	tdesc(TABLE_GPA, 0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 2);
	tdesc(TABLE_GPA, 2, DATA_GPA, 1, 0, 0); /* beyond the table's length */
	avail_add(0);
}

static void bad_indirect_loop(void)
{
	init(8, true, false);
	desc(0, TABLE_GPA, 48, VIRTQ_DESC_F_INDIRECT, 0);
	tdesc(TABLE_GPA, 0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	tdesc(TABLE_GPA, 1, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 2);
	tdesc(TABLE_GPA, 2, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	avail_add(0);
}

static void bad_indirect_buffer(void)
{
	init(8, true, false);
	desc(0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	tdesc(TABLE_GPA, 0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	tdesc(TABLE_GPA, 1, MMIO_HOLE_END, 4, VIRTQ_DESC_F_WRITE, 0);
	avail_add(0);
}

static void bad_order(void)
{
	init(8, false, false);
	desc(0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(1, DATA_GPA, 1, 0, 0);
	avail_add(0);
}

static void bad_order_indirect(void)
{
	init(8, true, false);
	desc(0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	tdesc(TABLE_GPA, 0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	tdesc(TABLE_GPA, 1, DATA_GPA, 1, 0, 0);
	avail_add(0);
}

static void bad_order_into_indirect(void)
{
	init(8, true, false);
	desc(0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(1, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	tdesc(TABLE_GPA, 0, DATA_GPA, 1, 0, 0);
	avail_add(0);
}

static void bad_total_out(void)
{
	init(256, false, false);
	for (unsigned int i = 0; i < 256; i++)
		desc(i, 0, RAM_SIZE, i < 255 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	avail_add(0);
}

static void bad_total_in(void)
{
	init(256, true, false);
	desc(0, TABLE_GPA, 16 * 300, VIRTQ_DESC_F_INDIRECT, 0);
	for (unsigned int i = 0; i < 300; i++)
		tdesc(TABLE_GPA, i, 0, RAM_SIZE, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, i + 1);
	avail_add(0);
}

static void bad_too_many_buffers(void)
{
	init(4, true, false);
	desc(0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	desc(1, TABLE_GPA, 16 * VQ_MAX_SIZE, VIRTQ_DESC_F_INDIRECT, 0);
	for (unsigned int i = 0; i < VQ_MAX_SIZE; i++)
		tdesc(TABLE_GPA, i, DATA_GPA, 1, i + 1 < VQ_MAX_SIZE ? VIRTQ_DESC_F_NEXT : 0,
		      i + 1);
	avail_add(0);
}

static void bad_desc_table(void)
{
	init(8, false, false);
	q.desc_gpa = RAM_SIZE - 64;
	avail_add(0);
}

static const struct bad_case {
	void (*build)(void);
	const char *msg;
} bad_cases[] = {
	{bad_head, "avail ring entry 0: head 8 >= queue size 8"},
	{bad_next, "descriptor 0: next 8 >= queue size 8"},
	{bad_beyond_ram, "descriptor 1: address 0x1000000 length 1 outside guest memory"},
	{bad_straddle, "descriptor 7: address 0xfffff8 length 16 outside guest memory"},
	{bad_overflow, "descriptor 0: address 0xfffffffffffff000 length 8192 outside"},
	{bad_overflow_max, "descriptor 0: address 0xffffffffffffffff length 4294967295 outside"},
	{bad_zero_len, "descriptor 0: address 0xffffffffffffffff length 0 outside"},
	{bad_mmio_hole, "descriptor 0: address 0xc0000000 length 16 outside guest memory"},
	{bad_loop2, "chain longer than the queue (loop?)"},
	{bad_self_loop, "descriptor 3: chain longer than the queue (loop?)"},
	{bad_avail_jump, "avail idx moved by 300 > queue size 256"},
	{bad_avail_jump_wrap, "avail idx moved by 9 > queue size 8"},
	{bad_avail_backwards, "avail idx moved by 65535 > queue size 8"},
	{bad_indirect_not_negotiated, "descriptor 0: indirect, but VIRTIO_F_INDIRECT_DESC not"},
	{bad_indirect_next, "descriptor 0: both INDIRECT and NEXT set"},
	{bad_indirect_len, "indirect table length 20 not a non-zero multiple of 16"},
	{bad_indirect_len0, "indirect table length 0 not a non-zero multiple of 16"},
	{bad_indirect_big, "indirect table of 1025 entries, more than 1024"},
	{bad_indirect_outside, "indirect table at 0xfffff0 length 32 outside guest memory"},
	{bad_indirect_overflow, "indirect table at 0xfffffffffffffff0 length 32 outside"},
	{bad_indirect_nested, "indirect descriptor 1: nested indirect descriptor"},
	{bad_indirect_next_oob, "indirect descriptor 0: next 2 >= table entries 2"},
	{bad_indirect_loop, "chain longer than its table (loop?)"},
	{bad_indirect_buffer, "indirect descriptor 1: address 0x100000000 length 4 outside"},
	{bad_order, "descriptor 1: device-readable descriptor after a device-writable one"},
	{bad_order_indirect,
	 "indirect descriptor 1: device-readable descriptor after a device-writable one"},
	{bad_order_into_indirect,
	 "indirect descriptor 0: device-readable descriptor after a device-writable one"},
	{bad_total_out, "descriptor 255: total device-readable length 4294967296 exceeds 4 GiB"},
	{bad_total_in,
	 "indirect descriptor 255: total device-writable length 4294967296 exceeds 4 GiB"},
	{bad_too_many_buffers, "indirect descriptor 1023: chain has more than 1024 buffers"},
	{bad_desc_table, "descriptor table at 0xffffc0 (128 bytes) is outside guest memory"},
};

START_TEST(test_malformed)
{
	bad_cases[_i].build();
	expect_broken(bad_cases[_i].msg);
}
END_TEST

/*
 * Random rings: pop must never crash, never hand out a buffer outside RAM, and always keep
 * its totals and order invariants. The driver side is random garbage with a bias towards
 * plausible values so that chains get long and interesting.
 */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

START_TEST(test_fuzz)
{
	static const uint64_t addrs[] = {0,	    DATA_GPA,	    RAM_SIZE - 1,   RAM_SIZE,
					 TABLE_GPA, UINT64_MAX - 7, MMIO_HOLE_START};
	unsigned int ok = 0, broken = 0;
	uint8_t scratch[64];

	init(16, true, true);
	for (unsigned int iter = 0; iter < 20000; iter++) {
		for (unsigned int i = 0; i < 4; i++) {
			uint64_t r = rnd(), addr = addrs[r % 7] + (r >> 8) % 64;
			uint32_t len = (r >> 16) % 3 ? (r >> 20) % 64 : (uint32_t)(r >> 24);
			uint16_t flags = (r >> 40) % 8, next = (r >> 48) % 18;
			bool table = (r >> 56) % 2;

			if (table)
				tdesc(TABLE_GPA, (r >> 4) % 8, addr, len, flags, next);
			else
				desc((r >> 4) % 16, addr, len, flags, next);
		}
		if (rnd() % 2) {
			uint64_t r = rnd();

			desc(r % 16, TABLE_GPA, 16 * ((r >> 8) % 9), VIRTQ_DESC_F_INDIRECT, 0);
		}
		avail_add(rnd() % 17);
		if (rnd() % 64 == 0)
			set_avail_idx(rnd());

		int ret = vq_pop(&q, &m, &ch, err, sizeof(err));

		if (ret < 0) {
			ck_assert(q.broken);
			ck_assert(err[0]);
			broken++;
			init(16, true, true);
			continue;
		}
		if (ret == 0)
			continue;
		ok++;
		ck_assert_uint_lt(ch.head, 16);
		ck_assert_uint_le(ch.n_out, ch.n);
		ck_assert_uint_le(ch.n, VQ_MAX_SIZE);
		ck_assert_uint_le(ch.out_bytes, UINT32_MAX);
		ck_assert_uint_le(ch.in_bytes, UINT32_MAX);
		for (unsigned int i = 0; i < ch.n; i++) {
			ck_assert_uint_le(ch.bufs[i].gpa, RAM_SIZE);
			ck_assert_uint_le(ch.bufs[i].len, RAM_SIZE - ch.bufs[i].gpa);
			ck_assert_int_eq(ch.bufs[i].write, i >= ch.n_out);
		}
		vq_chain_read(&ch, &m, rnd() % 128, scratch, sizeof(scratch));
		vq_chain_write(&ch, &m, rnd() % 128, scratch, rnd() % sizeof(scratch));
		push_ok(ch.head, (uint32_t)ch.in_bytes);
		vq_need_notify(&q, &m);
	}
	/* The generator must reach both outcomes, or this test proves little. */
	ck_assert_uint_gt(ok, 1000);
	ck_assert_uint_gt(broken, 1000);
}
END_TEST

/*
 * A driver that rewrites a descriptor while the device reads it (double-fetch attack): whatever
 * pop returns must lie inside RAM, i.e. what was validated is what is handed out.
 */
static volatile bool stop_flipping;

static void *flipper(void *arg)
{
	uint8_t *d = ram + DESC_GPA;

	(void)arg;
	for (uint64_t i = 0; !stop_flipping; i++) {
		uint64_t addr = i & 1 ? 0xfffffffffffff000ULL : DATA_GPA;
		uint32_t len = i & 1 ? 0x10000 : 16;

		__atomic_store_n((uint64_t *)d, addr, __ATOMIC_RELAXED);
		__atomic_store_n((uint32_t *)(d + 8), len, __ATOMIC_RELAXED);
	}
	return NULL;
}

START_TEST(test_concurrent_rewrite)
{
	unsigned int ok = 0;
	pthread_t t;

	init(8, false, false);
	desc(0, DATA_GPA, 16, 0, 0);
	stop_flipping = false;
	ck_assert_int_eq(pthread_create(&t, NULL, flipper, NULL), 0);
	for (unsigned int i = 0; i < 200000; i++) {
		avail_add(0);
		int ret = vq_pop(&q, &m, &ch, err, sizeof(err));

		if (ret < 0) {
			init(8, false, false);
			continue;
		}
		ck_assert_int_eq(ret, 1);
		ok++;
		ck_assert_uint_le(ch.bufs[0].gpa, RAM_SIZE);
		ck_assert_uint_le(ch.bufs[0].len, RAM_SIZE - ch.bufs[0].gpa);
		push_ok(0, 0);
	}
	stop_flipping = true;
	pthread_join(t, NULL);
	ck_assert_uint_gt(ok, 0);
}
END_TEST

static Suite *virtqueue_suite(void)
{
	Suite *s = suite_create("virtqueue");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_single_descriptor);
	tcase_add_test(tc, test_multi_descriptor);
	tcase_add_test(tc, test_longest_chain);
	tcase_add_test(tc, test_indirect);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_wraparound);
	tcase_add_test(tc, test_push);
	tcase_add_test(tc, test_notify_flags);
	tcase_add_test(tc, test_notify_event_idx);
	tcase_add_test(tc, test_notify_event_idx_wrap);
	tcase_add_test(tc, test_set_notify);
	tcase_add_test(tc, test_chain_read_write);
	tcase_add_test(tc, test_head_in_flight);
	tcase_add_test(tc, test_head_repeated_in_ring);
	tcase_add_test(tc, test_max_chain_bytes);
	tcase_add_test(tc, test_broken_is_sticky);
	tcase_add_loop_test(tc, test_malformed, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_fuzz);
	tcase_add_test(tc, test_concurrent_rewrite);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(virtqueue_suite());
}
