// SPDX-License-Identifier: MIT
/* Unit tests for the 8254 PIT on a virtual clock, driven through a real PIO bus. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bus.h"
#include "devices/pit.h"
#include "harness.h"

static struct bus bus;
static struct pit *pit;
static uint64_t clock_ns;
static int irqs;

static void count_irq0(void *ctx)
{
	ck_assert_ptr_eq(ctx, &irqs);
	irqs++;
}

static void setup(void)
{
	clock_ns = 0;
	irqs = 0;
	bus_init(&bus, "pio");
	pit = pit_new(&clock_ns, count_irq0, &irqs);
	ck_assert_ptr_nonnull(pit);
	ck_assert_int_eq(pit_register(pit, &bus), 0);
}

static void teardown(void)
{
	pit_free(pit);
	bus_free(&bus);
}

static void outb(uint16_t port, uint8_t val)
{
	ck_assert(bus_access(&bus, port, &val, 1, true));
}

static uint8_t inb(uint16_t port)
{
	uint8_t val = 0x5a;

	ck_assert(bus_access(&bus, port, &val, 1, false));
	return val;
}

/* The first virtual time at which a counter loaded at t0 has counted the given ticks. */
static uint64_t at_tick(uint64_t t0, uint64_t ticks)
{
	return t0 + ((unsigned __int128)ticks * 1000000000 + PIT_FREQ_HZ - 1) / PIT_FREQ_HZ;
}

/* Read-back of one counter's status byte. */
static uint8_t status(int ch)
{
	outb(0x43, 0xe0 | 2 << ch);
	return inb(0x40 + ch);
}

static void program(uint8_t ctrl, uint16_t count)
{
	outb(0x43, ctrl);
	outb(0x40 + (ctrl >> 6), count & 0xff);
	outb(0x40 + (ctrl >> 6), count >> 8);
}

static uint16_t read_latched(int ch)
{
	uint16_t v;

	outb(0x43, ch << 6);
	v = inb(0x40 + ch);
	return v | inb(0x40 + ch) << 8;
}

START_TEST(test_unprogrammed)
{
	uint8_t data[4] = {1, 2, 3, 4};
	struct pit *other = pit_new(&clock_ns, NULL, NULL);

	ck_assert_uint_eq(pit_next_deadline(pit), UINT64_MAX);
	clock_ns = 10000000000ULL;
	pit_update(pit);
	ck_assert_int_eq(irqs, 0);
	ck_assert_uint_eq(pit_next_deadline(pit), UINT64_MAX);
	/* A second PIT cannot register; 0x43 reads 0; wider reads pad with zeros. */
	ck_assert_int_eq(pit_register(other, &bus), -EEXIST);
	pit_free(other);
	ck_assert(bus_access(&bus, 0x43, data, 1, false));
	ck_assert_uint_eq(data[0], 0);
	memset(data, 0x5a, sizeof(data));
	ck_assert(bus_access(&bus, 0x42, data, 2, false));
	ck_assert_uint_eq(data[1], 0);
	ck_assert_uint_eq(data[2], 0x5a);
	ck_assert_ptr_nonnull(bus_find(&bus, 0x40));
	ck_assert_ptr_null(bus_find(&bus, 0x60));
	ck_assert_ptr_null(bus_find(&bus, 0x62));
}
END_TEST

START_TEST(test_mode2_1000hz)
{
	/* Exact edges of 1193 ticks at 1193182 Hz: ceil(k * 1193e9 / 1193182). */
	static const uint64_t edge_ns[] = {999848,  1999695, 2999543, 3999390,
					   4999238, 5999085, 6998933};
	const uint64_t t0 = 1000;

	clock_ns = t0;
	program(0x34, 1193);
	for (unsigned int k = 0; k < sizeof(edge_ns) / sizeof(edge_ns[0]); k++) {
		uint64_t dl = pit_next_deadline(pit);

		ck_assert_uint_eq(dl, t0 + edge_ns[k]);
		ck_assert_uint_eq(dl, at_tick(t0, 1193 * (k + 1)));
		clock_ns = dl - 1;
		pit_update(pit);
		ck_assert_int_eq(irqs, (int)k);
		ck_assert_uint_eq(pit_next_deadline(pit), dl);
		clock_ns = dl;
		pit_update(pit);
		ck_assert_int_eq(irqs, (int)k + 1);
		pit_update(pit); /* the same instant again: nothing new */
		ck_assert_int_eq(irqs, (int)k + 1);
	}
	/* The counter reloads: one tick after an edge it reads N - 1. */
	clock_ns = at_tick(t0, 7 * 1193 + 1);
	ck_assert_uint_eq(read_latched(0), 1192);
	clock_ns = at_tick(t0, 8 * 1193 - 1); /* count 1: OUT low for one tick */
	ck_assert_uint_eq(read_latched(0), 1);
	ck_assert_uint_eq(status(0) & 0x80, 0);
	clock_ns = at_tick(t0, 8 * 1193);
	ck_assert_uint_eq(status(0) & 0x80, 0x80);
}
END_TEST

START_TEST(test_skipped_periods_collapse)
{
	program(0x34, 1193);
	clock_ns = 4999238 + 10; /* past five edges */
	pit_update(pit);
	ck_assert_int_eq(irqs, 1);
	ck_assert_uint_eq(pit_next_deadline(pit), 5999085);
	clock_ns = 5999085;
	pit_update(pit);
	ck_assert_int_eq(irqs, 2);
}
END_TEST

START_TEST(test_latch_freezes)
{
	program(0x34, 1193);
	clock_ns = at_tick(0, 100);
	outb(0x43, 0x00);
	clock_ns = at_tick(0, 600);
	outb(0x43, 0x00); /* ignored: the first latch has not been read */
	ck_assert_uint_eq(inb(0x40), 1093 & 0xff);
	clock_ns = at_tick(0, 700);
	ck_assert_uint_eq(inb(0x40), 1093 >> 8);
	/* Unlatched again: the live count. */
	ck_assert_uint_eq(inb(0x40), (1193 - 700) & 0xff);
	ck_assert_uint_eq(inb(0x40), (1193 - 700) >> 8);
	/* 1 ns before the 701st tick the count still reads 1193 - 700. */
	clock_ns = at_tick(0, 701) - 1;
	ck_assert_uint_eq(read_latched(0), 1193 - 700);
	clock_ns++;
	ck_assert_uint_eq(read_latched(0), 1193 - 701);
}
END_TEST

START_TEST(test_rw_modes)
{
	clock_ns = 5000;
	/* lsb then msb; reads alternate lsb, msb. The clock stands still, so the count does too. */
	program(0x30, 0x1234);
	ck_assert_uint_eq(inb(0x40), 0x34);
	ck_assert_uint_eq(inb(0x40), 0x12);
	ck_assert_uint_eq(inb(0x40), 0x34);
	/* A new control word resets the read flip-flop. */
	outb(0x43, 0x30);
	outb(0x40, 0x78);
	outb(0x40, 0x56);
	ck_assert_uint_eq(inb(0x40), 0x78);
	ck_assert_uint_eq(inb(0x40), 0x56);
	/* lsb only: the msb is zero; every read is the lsb. */
	outb(0x43, 0x10);
	outb(0x40, 0x56);
	ck_assert_uint_eq(inb(0x40), 0x56);
	ck_assert_uint_eq(inb(0x40), 0x56);
	ck_assert_uint_eq(pit_next_deadline(pit), at_tick(5000, 0x56));
	/* msb only: the lsb is zero. */
	outb(0x43, 0x20);
	outb(0x40, 0x12);
	ck_assert_uint_eq(inb(0x40), 0x12);
	/* A latched msb-only count is one byte; the read after it is live again. */
	outb(0x43, 0x00);
	clock_ns = at_tick(5000, 0x100);
	ck_assert_uint_eq(inb(0x40), 0x12);
	ck_assert_uint_eq(inb(0x40), 0x11);
	ck_assert_uint_eq(pit_next_deadline(pit), at_tick(5000, 0x1200));
	/* Mode 0: the first byte of a word stops counting until the second arrives. */
	program(0x30, 1000);
	outb(0x40, 0x10);
	ck_assert_uint_eq(pit_next_deadline(pit), UINT64_MAX);
	clock_ns = 6000000;
	outb(0x40, 0x00);
	ck_assert_uint_eq(pit_next_deadline(pit), at_tick(6000000, 0x10));
}
END_TEST

START_TEST(test_readback_status)
{
	clock_ns = 100;
	outb(0x43, 0x30);
	/* OUT low, null count, lsb/msb, mode 0. */
	ck_assert_uint_eq(status(0), 0x70);
	outb(0x40, 0xa9);
	outb(0x40, 0x04);
	ck_assert_uint_eq(status(0), 0x70); /* no tick yet: still null count */
	clock_ns = at_tick(100, 1);
	ck_assert_uint_eq(status(0), 0x30);
	clock_ns = at_tick(100, 1193);
	ck_assert_uint_eq(status(0), 0xb0);

	/* Status and count together: status first, then the count. */
	program(0x34, 1193);
	clock_ns = at_tick(clock_ns, 3);
	outb(0x43, 0xc2);
	ck_assert_uint_eq(inb(0x40), 0xb4);
	ck_assert_uint_eq(inb(0x40), 1190 & 0xff);
	ck_assert_uint_eq(inb(0x40), 1190 >> 8);

	/* Channel 2, lsb only, mode 7 (= 3), BCD: the status keeps the bits as written. */
	outb(0x43, 0x9f);
	ck_assert_uint_eq(status(2), 0xdf);
	/* Read-back of two counters at once latches both counts. */
	outb(0x43, 0x34);
	outb(0x40, 50);
	outb(0x40, 0);
	outb(0x42, 40);
	clock_ns = at_tick(clock_ns, 5);
	outb(0x43, 0xda); /* count only, counters 0 and 2 */
	clock_ns = at_tick(clock_ns, 10);
	ck_assert_uint_eq(inb(0x40), 45);
	ck_assert_uint_eq(inb(0x40), 0);
	/* Channel 2 gate is low (port 0x61 bit 0 clear): mode 3 has not counted. */
	ck_assert_uint_eq(inb(0x42), 40);
	ck_assert_uint_eq(status(2) & 0x80, 0x80);
}
END_TEST

START_TEST(test_mode0_oneshot)
{
	clock_ns = 7;
	program(0x30, 1000);
	ck_assert_uint_eq(pit_next_deadline(pit), 7 + 838096);
	clock_ns = 7 + 838095;
	pit_update(pit);
	ck_assert_int_eq(irqs, 0);
	ck_assert_uint_eq(status(0) & 0x80, 0);
	clock_ns = 7 + 838096;
	pit_update(pit);
	ck_assert_int_eq(irqs, 1);
	ck_assert_uint_eq(status(0) & 0x80, 0x80);
	ck_assert_uint_eq(pit_next_deadline(pit), UINT64_MAX);
	/* The counter wraps and keeps counting; OUT stays high and no IRQ follows. */
	clock_ns = at_tick(7, 1001);
	ck_assert_uint_eq(read_latched(0), 0xffff);
	clock_ns = 1000000000;
	pit_update(pit);
	ck_assert_int_eq(irqs, 1);
	ck_assert_uint_eq(status(0) & 0x80, 0x80);
	/* Re-arming with a new count fires again. */
	outb(0x40, 100);
	outb(0x40, 0);
	ck_assert_uint_eq(status(0) & 0x80, 0);
	clock_ns = pit_next_deadline(pit);
	ck_assert_uint_eq(clock_ns, at_tick(1000000000, 100));
	pit_update(pit);
	ck_assert_int_eq(irqs, 2);
}
END_TEST

START_TEST(test_linux_oneshot_and_shutdown)
{
	/* Linux 6.1 clockevent: oneshot is mode 4 (0x38), each event a new lsb/msb count. */
	outb(0x43, 0x38);
	ck_assert_uint_eq(pit_next_deadline(pit), UINT64_MAX);
	clock_ns = 2000;
	outb(0x40, 1000 & 0xff);
	outb(0x40, 1000 >> 8);
	/* OUT pulses low at terminal count; the rising edge is one tick later. */
	ck_assert_uint_eq(pit_next_deadline(pit), at_tick(2000, 1001));
	clock_ns = at_tick(2000, 1000);
	pit_update(pit);
	ck_assert_int_eq(irqs, 0);
	ck_assert_uint_eq(status(0) & 0x80, 0);
	clock_ns = at_tick(2000, 1001);
	pit_update(pit);
	ck_assert_int_eq(irqs, 1);
	ck_assert_uint_eq(status(0) & 0x80, 0x80);
	ck_assert_uint_eq(pit_next_deadline(pit), UINT64_MAX);

	/* Next event, then clockevent_i8253_disable() before it expires. */
	outb(0x40, 0x00);
	outb(0x40, 0x10);
	ck_assert_uint_eq(pit_next_deadline(pit), at_tick(clock_ns, 0x1001));
	outb(0x43, 0x30);
	outb(0x40, 0);
	outb(0x40, 0);
	outb(0x43, 0x30);
	ck_assert_uint_eq(pit_next_deadline(pit), UINT64_MAX);
	clock_ns += 1000000000;
	pit_update(pit);
	ck_assert_int_eq(irqs, 1);
}
END_TEST

START_TEST(test_linux_calibration_ch2)
{
	const uint64_t start = 123456;
	uint64_t t0, high;

	clock_ns = start;
	/* quick_pit_calibrate(): gate high, speaker off, counter 2 mode 0 from 0xffff. */
	outb(0x61, (inb(0x61) & ~0x02) | 0x01);
	ck_assert_uint_eq(inb(0x61) & 0x03, 0x01);
	outb(0x43, 0xb0);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0); /* mode 0 drives OUT2 low */
	clock_ns += 500;
	t0 = clock_ns;
	outb(0x42, 0xff);
	outb(0x42, 0xff);
	/* pit_verify_msb(): lsb then msb. */
	inb(0x42);
	ck_assert_uint_eq(inb(0x42), 0xff);
	clock_ns = at_tick(t0, 256) - 1;
	inb(0x42);
	ck_assert_uint_eq(inb(0x42), 0xff);
	clock_ns = at_tick(t0, 256);
	ck_assert_uint_eq(inb(0x42), 0xff); /* lsb of 0xfeff */
	ck_assert_uint_eq(inb(0x42), 0xfe);
	clock_ns = at_tick(t0, 0x1234);
	ck_assert_uint_eq(read_latched(2), 0xffff - 0x1234);

	/* pit_calibrate_tsc(): poll OUT2 until the count has elapsed. */
	high = t0 + 54924564;
	ck_assert_uint_eq(high, at_tick(t0, 0xffff));
	clock_ns = high - 1;
	ck_assert_uint_eq(inb(0x61) & 0x21, 0x01);
	clock_ns = high;
	ck_assert_uint_eq(inb(0x61) & 0x21, 0x21);
	/* Channel 2 never raises IRQ0. */
	pit_update(pit);
	ck_assert_int_eq(irqs, 0);
	ck_assert_uint_eq(pit_next_deadline(pit), UINT64_MAX);

	/* A low gate pauses mode 0; raising it resumes where it stopped. */
	outb(0x43, 0xb0);
	t0 = clock_ns;
	outb(0x42, 0x00);
	outb(0x42, 0x10);
	clock_ns = at_tick(t0, 0x100);
	outb(0x61, 0x00);
	clock_ns += 10000000;
	ck_assert_uint_eq(read_latched(2), 0x0f00);
	ck_assert_uint_eq(inb(0x61) & 0x21, 0x00);
	t0 = clock_ns;
	outb(0x61, 0x01);
	clock_ns = at_tick(t0, 0x0f00) - 1;
	ck_assert_uint_eq(inb(0x61) & 0x20, 0);
	clock_ns = at_tick(t0, 0x0f00);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0x20);
}
END_TEST

START_TEST(test_port61_refresh)
{
	outb(0x61, 0x03);
	ck_assert_uint_eq(inb(0x61) & 0x13, 0x03);
	clock_ns = 15084;
	ck_assert_uint_eq(inb(0x61) & 0x10, 0);
	clock_ns = 15085;
	ck_assert_uint_eq(inb(0x61) & 0x13, 0x13);
	clock_ns = 30169;
	ck_assert_uint_eq(inb(0x61) & 0x10, 0x10);
	clock_ns = 30170;
	ck_assert_uint_eq(inb(0x61) & 0x10, 0);
	clock_ns = 15085ULL * 1000001;
	ck_assert_uint_eq(inb(0x61) & 0x10, 0x10);
	/* Only the low bits are writable; the status bits are not. */
	outb(0x61, 0xf2);
	ck_assert_uint_eq(inb(0x61) & 0xcf, 0x02);
}
END_TEST

START_TEST(test_count_zero_is_65536)
{
	clock_ns = 42;
	program(0x34, 0);
	ck_assert_uint_eq(read_latched(0), 0);
	ck_assert_uint_eq(pit_next_deadline(pit), 42 + 54925402);
	clock_ns = at_tick(42, 1);
	ck_assert_uint_eq(read_latched(0), 0xffff);
	clock_ns = 42 + 54925401;
	pit_update(pit);
	ck_assert_int_eq(irqs, 0);
	clock_ns = 42 + 54925402;
	pit_update(pit);
	ck_assert_int_eq(irqs, 1);
	ck_assert_uint_eq(pit_next_deadline(pit), at_tick(42, 2 * 65536));
}
END_TEST

START_TEST(test_reprogram_moves_deadline)
{
	program(0x34, 1193);
	ck_assert_uint_eq(pit_next_deadline(pit), 999848);
	clock_ns = 500000;
	program(0x34, 2386);
	ck_assert_uint_eq(pit_next_deadline(pit), 500000 + 1999695);
	clock_ns = 999848;
	pit_update(pit);
	ck_assert_int_eq(irqs, 0);
	clock_ns = 500000 + 1999695;
	pit_update(pit);
	ck_assert_int_eq(irqs, 1);

	/* An edge that passed before a reprogramming write is reported by that write. */
	clock_ns = 500000 + 4000000; /* just past the second edge, at 3999390 */
	outb(0x43, 0x34);
	ck_assert_int_eq(irqs, 2);
	ck_assert_uint_eq(pit_next_deadline(pit), UINT64_MAX);
	outb(0x40, 100);
	outb(0x40, 0);
	ck_assert_uint_eq(pit_next_deadline(pit), at_tick(clock_ns, 100));
}
END_TEST

START_TEST(test_mode3_square_wave)
{
	program(0x36, 1000);
	ck_assert_uint_eq(pit_next_deadline(pit), 838096);
	clock_ns = at_tick(0, 499);
	ck_assert_uint_eq(status(0) & 0x80, 0x80);
	clock_ns = at_tick(0, 500);
	ck_assert_uint_eq(status(0) & 0x80, 0);
	clock_ns = at_tick(0, 999);
	ck_assert_uint_eq(status(0) & 0x80, 0);
	pit_update(pit);
	ck_assert_int_eq(irqs, 0);
	clock_ns = at_tick(0, 1000);
	ck_assert_uint_eq(status(0) & 0x80, 0x80);
	pit_update(pit);
	ck_assert_int_eq(irqs, 1);
	ck_assert_uint_eq(pit_next_deadline(pit), at_tick(0, 2000));
	/* Counts down by two each half period. */
	clock_ns = at_tick(0, 1010);
	ck_assert_uint_eq(read_latched(0), 980);
}
END_TEST

START_TEST(test_mode1_gate_trigger)
{
	/* Channel 2, mode 1: nothing happens until the gate rises. */
	program(0xb2, 100);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0x20);
	clock_ns = 1000000;
	ck_assert_uint_eq(inb(0x61) & 0x20, 0x20);
	outb(0x61, 0x01);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0);
	clock_ns = at_tick(1000000, 100) - 1;
	ck_assert_uint_eq(inb(0x61) & 0x20, 0);
	clock_ns = at_tick(1000000, 100);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0x20);
	/* Retrigger. */
	outb(0x61, 0x00);
	outb(0x61, 0x01);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0);
}
END_TEST

static Suite *pit_suite(void)
{
	Suite *s = suite_create("pit");
	TCase *tc = tcase_create("pit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unprogrammed);
	tcase_add_test(tc, test_mode2_1000hz);
	tcase_add_test(tc, test_skipped_periods_collapse);
	tcase_add_test(tc, test_latch_freezes);
	tcase_add_test(tc, test_rw_modes);
	tcase_add_test(tc, test_readback_status);
	tcase_add_test(tc, test_mode0_oneshot);
	tcase_add_test(tc, test_linux_oneshot_and_shutdown);
	tcase_add_test(tc, test_linux_calibration_ch2);
	tcase_add_test(tc, test_port61_refresh);
	tcase_add_test(tc, test_count_zero_is_65536);
	tcase_add_test(tc, test_reprogram_moves_deadline);
	tcase_add_test(tc, test_mode3_square_wave);
	tcase_add_test(tc, test_mode1_gate_trigger);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(pit_suite());
}
