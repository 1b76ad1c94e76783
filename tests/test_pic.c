// SPDX-License-Identifier: MIT
/*
 * Unit tests for the cascaded 8259A PICs and the ELCR, driven as a guest would: port accesses
 * through a real PIO bus, plus the VMM's line, INTR and acknowledge calls.
 */
#include <check.h>
#include <stdint.h>

#include "bus.h"
#include "devices/pic.h"
#include "harness.h"

#define M_CMD  0x20
#define M_DATA 0x21
#define S_CMD  0xa0
#define S_DATA 0xa1
#define ELCR_M 0x4d0
#define ELCR_S 0x4d1

static struct bus bus;
static struct pic *pic;

static void setup(void)
{
	bus_init(&bus, "pio");
	pic = pic_new();
	ck_assert_ptr_nonnull(pic);
	ck_assert_int_eq(pic_register(pic, &bus), 0);
}

static void teardown(void)
{
	pic_free(pic);
	bus_free(&bus);
}

static void out(uint16_t port, uint8_t v)
{
	ck_assert(bus_access(&bus, port, &v, 1, true));
}

static uint8_t in(uint16_t port)
{
	uint8_t v = 0x5a;

	ck_assert(bus_access(&bus, port, &v, 1, false));
	return v;
}

/* OCW3 read-register select, then the read, then back to IRR (as Linux's i8259A_irq_real). */
static uint8_t read_isr(uint16_t cmd)
{
	uint8_t v;

	out(cmd, 0x0b);
	v = in(cmd);
	out(cmd, 0x0a);
	return v;
}

static uint8_t read_irr(uint16_t cmd)
{
	out(cmd, 0x0a);
	return in(cmd);
}

/* A rising edge that then goes away: what an edge-triggered ISA device does. */
static void pulse(unsigned int irq)
{
	pic_set_irq(pic, irq, true);
	pic_set_irq(pic, irq, false);
}

/* Linux 6.1 init_8259A(auto_eoi), then every line unmasked. */
static void linux_init(bool auto_eoi)
{
	out(M_DATA, 0xff);
	out(M_CMD, 0x11);
	out(M_DATA, 0x30);
	out(M_DATA, 0x04);
	out(M_DATA, auto_eoi ? 0x03 : 0x01);
	out(S_CMD, 0x11);
	out(S_DATA, 0x38);
	out(S_DATA, 0x02);
	out(S_DATA, 0x01);
	out(M_DATA, 0xff);
	out(S_DATA, 0xff);
	ck_assert_uint_eq(in(M_DATA), 0xff);
	ck_assert_uint_eq(in(S_DATA), 0xff);
	out(M_DATA, 0x00);
	out(S_DATA, 0x00);
}

START_TEST(test_linux_init_irq0)
{
	linux_init(false);
	/* probe_8259A */
	out(S_DATA, 0xff);
	out(M_DATA, 0xfb);
	ck_assert_uint_eq(in(M_DATA), 0xfb);
	out(M_DATA, 0xfe);
	ck_assert(!pic_intr_pending(pic));

	pic_set_irq(pic, 0, true);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(read_irr(M_CMD), 0x01);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x30);
	ck_assert(!pic_intr_pending(pic));
	ck_assert_uint_eq(read_isr(M_CMD), 0x01);
	ck_assert_uint_eq(read_irr(M_CMD), 0x00);
	/* mask_and_ack_8259A */
	ck_assert_uint_eq(in(M_DATA), 0xfe);
	out(M_DATA, 0xff);
	out(M_CMD, 0x60);
	ck_assert_uint_eq(read_isr(M_CMD), 0x00);
	out(M_DATA, 0xfe);

	pic_set_irq(pic, 0, false);
	pic_set_irq(pic, 0, true);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x30);
}
END_TEST

START_TEST(test_icw_sequences)
{
	/* Single mode with ICW4: no ICW3, so the fourth byte is the IMR. */
	out(M_CMD, 0x13);
	out(M_DATA, 0x57);
	out(M_DATA, 0x01);
	out(M_DATA, 0xa5);
	ck_assert_uint_eq(in(M_DATA), 0xa5);
	pic_set_irq(pic, 1, true);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x51); /* low 3 bits of ICW2 ignored */

	/* Cascade without ICW4: ICW2, ICW3, then the IMR. */
	out(S_CMD, 0x10);
	out(S_DATA, 0x70);
	out(S_DATA, 0x02);
	out(S_DATA, 0x3c);
	ck_assert_uint_eq(in(S_DATA), 0x3c);
}
END_TEST

START_TEST(test_icw1_resets)
{
	linux_init(false);
	out(ELCR_M, 0x10); /* IRQ4 level */
	pic_set_irq(pic, 4, true);
	pic_set_irq(pic, 3, true);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x33);
	pic_set_irq(pic, 5, true);
	out(M_CMD, 0xc0);
	out(M_CMD, 0x68);
	out(M_CMD, 0x0b);
	out(M_DATA, 0x55);

	out(M_CMD, 0x11);
	out(M_DATA, 0x40);
	out(M_DATA, 0x04);
	out(M_DATA, 0x01);
	ck_assert_uint_eq(in(M_DATA), 0x00);
	/* IRR selected again; edge latches gone (lines 3 and 5 still high), level IRQ4 stays. */
	ck_assert_uint_eq(in(M_CMD), 0x10);
	ck_assert_uint_eq(read_isr(M_CMD), 0x00);
	ck_assert_uint_eq(in(ELCR_M), 0x10);
	/* Priority back to IRQ0 highest; special mask mode off, so IRQ0 blocks IRQ4 and IRQ7. */
	pulse(7);
	pulse(0);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x40);
	ck_assert(!pic_intr_pending(pic));
	out(M_CMD, 0x20);
	pic_set_irq(pic, 4, false);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x47);
	ck_assert_uint_eq(read_isr(M_CMD), 0x80); /* a real IRQ7, not a spurious one */
}
END_TEST

START_TEST(test_mask)
{
	linux_init(false);
	out(M_DATA, 0x02);
	pulse(1);
	ck_assert(!pic_intr_pending(pic));
	ck_assert_uint_eq(read_irr(M_CMD), 0x02); /* latched while masked */
	out(M_DATA, 0x00);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x31);
	out(M_CMD, 0x20);

	/* A masked slave line keeps the cascade quiet; the master's mask gates the whole slave. */
	out(S_DATA, 0x10);
	pulse(12);
	ck_assert(!pic_intr_pending(pic));
	ck_assert_uint_eq(read_irr(S_CMD), 0x10);
	ck_assert_uint_eq(read_irr(M_CMD), 0x00);
	out(M_DATA, 0x04);
	out(S_DATA, 0x00);
	ck_assert_uint_eq(read_irr(M_CMD), 0x04);
	ck_assert(!pic_intr_pending(pic));
	out(M_DATA, 0x00);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x3c);
}
END_TEST

START_TEST(test_priority)
{
	linux_init(false);
	pulse(3);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x33);
	pulse(5);
	ck_assert(!pic_intr_pending(pic));
	pulse(1);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x31);
	ck_assert_uint_eq(read_isr(M_CMD), 0x0a);
	ck_assert(!pic_intr_pending(pic));
	out(M_CMD, 0x20); /* non-specific EOI: IRQ1 */
	ck_assert_uint_eq(read_isr(M_CMD), 0x08);
	ck_assert(!pic_intr_pending(pic));
	out(M_CMD, 0x20);
	ck_assert_uint_eq(read_isr(M_CMD), 0x00);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x35);
	ck_assert(!pic_intr_pending(pic));
	/* Two requests at once: the lower number wins. */
	out(M_CMD, 0x20);
	pulse(6);
	pulse(4);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x34);
}
END_TEST

START_TEST(test_specific_eoi)
{
	linux_init(false);
	pulse(3);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x33);
	pulse(1);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x31);
	out(M_CMD, 0x63);
	ck_assert_uint_eq(read_isr(M_CMD), 0x02);
	out(M_CMD, 0x66); /* not in service: no effect */
	ck_assert_uint_eq(read_isr(M_CMD), 0x02);
	out(M_CMD, 0x61);
	ck_assert_uint_eq(read_isr(M_CMD), 0x00);
	out(M_CMD, 0x20); /* nothing in service: no effect */
	ck_assert_uint_eq(read_isr(M_CMD), 0x00);
}
END_TEST

START_TEST(test_cascade)
{
	linux_init(false);
	pulse(8);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(read_irr(M_CMD), 0x04);
	ck_assert_uint_eq(read_irr(S_CMD), 0x01);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x38);
	ck_assert_uint_eq(read_isr(M_CMD), 0x04);
	ck_assert_uint_eq(read_isr(S_CMD), 0x01);
	ck_assert_uint_eq(read_irr(M_CMD), 0x00);

	pulse(12);
	ck_assert(!pic_intr_pending(pic)); /* IRQ8 in service on the slave */
	out(S_CMD, 0x60);
	ck_assert_uint_eq(read_irr(M_CMD), 0x04);
	ck_assert(!pic_intr_pending(pic)); /* IR2 still in service on the master */
	out(M_CMD, 0x62);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x3c);
	ck_assert_uint_eq(read_isr(S_CMD), 0x10);
	ck_assert_uint_eq(read_isr(M_CMD), 0x04);

	/* IR2 outranks master IRQ3 in service and is outranked by IRQ1. */
	out(S_CMD, 0x64);
	out(M_CMD, 0x62);
	pulse(3);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x33);
	pulse(10);
	ck_assert(pic_intr_pending(pic));
	pulse(1);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x31);
	ck_assert(!pic_intr_pending(pic));
	out(M_CMD, 0x61);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x3a);
	ck_assert_uint_eq(read_isr(M_CMD), 0x0c);
	ck_assert_uint_eq(read_isr(S_CMD), 0x04);
}
END_TEST

START_TEST(test_auto_eoi)
{
	linux_init(true);
	pulse(0);
	pulse(3);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x30);
	ck_assert_uint_eq(read_isr(M_CMD), 0x00);
	pulse(0);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x30);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x33);
	ck_assert(!pic_intr_pending(pic));

	/* Slave in auto-EOI too: a second slave request is not lost behind the first. */
	out(S_CMD, 0x11);
	out(S_DATA, 0x38);
	out(S_DATA, 0x02);
	out(S_DATA, 0x03);
	pulse(12);
	pulse(9);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x39);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x3c);
	ck_assert(!pic_intr_pending(pic));
	ck_assert_uint_eq(read_isr(M_CMD), 0x00);
	ck_assert_uint_eq(read_isr(S_CMD), 0x00);

	/* Rotate in auto-EOI: an acknowledged level becomes the lowest. */
	out(M_CMD, 0x80);
	pulse(0);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x30);
	pulse(0);
	pulse(7);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x37);
	out(M_CMD, 0x00);
	pulse(6);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x30); /* IRQ7's ack rotated IRQ0 to the top */
	pulse(0);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x30); /* no rotation now: IRQ0 still outranks 6 */
	ck_assert_uint_eq(pic_acknowledge(pic), 0x36);
}
END_TEST

START_TEST(test_poll)
{
	linux_init(false);
	out(M_CMD, 0x0c);
	ck_assert_uint_eq(in(M_CMD), 0x00);
	ck_assert_uint_eq(read_isr(M_CMD), 0x00);

	pulse(5);
	pulse(3);
	out(M_CMD, 0x0c);
	ck_assert_uint_eq(in(M_CMD), 0x83);
	ck_assert_uint_eq(read_isr(M_CMD), 0x08);
	ck_assert_uint_eq(in(M_CMD), 0x20); /* one-shot: IRR again */
	ck_assert(!pic_intr_pending(pic));
	out(M_CMD, 0x20);
	out(M_CMD, 0x0c);
	ck_assert_uint_eq(in(M_CMD), 0x85);
	out(M_CMD, 0x20);
	ck_assert(!pic_intr_pending(pic));
}
END_TEST

START_TEST(test_read_irr_isr)
{
	linux_init(false);
	out(M_DATA, 0x10);
	pulse(1);
	pulse(4);
	ck_assert_uint_eq(in(M_CMD), 0x12); /* IRR after ICW1, masked bits included */
	ck_assert_uint_eq(pic_acknowledge(pic), 0x31);
	out(M_CMD, 0x0b);
	ck_assert_uint_eq(in(M_CMD), 0x02);
	ck_assert_uint_eq(in(M_CMD), 0x02);  /* the select sticks */
	ck_assert_uint_eq(in(M_DATA), 0x10); /* the data port is the IMR either way */
	out(M_CMD, 0x08);		     /* OCW3 without RR: select unchanged */
	ck_assert_uint_eq(in(M_CMD), 0x02);
	out(M_CMD, 0x0a);
	ck_assert_uint_eq(in(M_CMD), 0x10);

	/*
	 * A wider access is one per byte, lowest port first (QEMU's 8259 and ELCR take bytes only):
	 * 16 bits at the command port are it and the data port.
	 */
	uint8_t w[4] = {0xff, 0xff, 0xff, 0xff};

	ck_assert(bus_access(&bus, M_CMD, w, 2, false));
	ck_assert_uint_eq(w[0], 0x10); /* IRR, as selected */
	ck_assert_uint_eq(w[1], 0x10); /* the IMR */
	ck_assert_uint_eq(w[2], 0xff);
	w[0] = 0x0b; /* OCW3: read the ISR */
	w[1] = 0x5a; /* IMR */
	ck_assert(bus_access(&bus, M_CMD, w, 2, true));
	ck_assert_uint_eq(in(M_DATA), 0x5a);
	ck_assert_uint_eq(in(M_CMD), 0x02); /* the ISR */
	w[0] = 0x30;
	w[1] = 0x0e;
	ck_assert(bus_access(&bus, ELCR_M, w, 2, true));
	ck_assert_uint_eq(in(ELCR_M), 0x30);
	ck_assert_uint_eq(in(ELCR_S), 0x0e);
	ck_assert(!bus_access(&bus, 0x22, w, 1, false));
}
END_TEST

START_TEST(test_spurious_master)
{
	linux_init(false);
	out(ELCR_M, 0x20);
	pic_set_irq(pic, 5, true);
	ck_assert(pic_intr_pending(pic));
	pic_set_irq(pic, 5, false);
	ck_assert(!pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x37);
	ck_assert_uint_eq(read_isr(M_CMD), 0x00); /* Linux sees IRQ7 not in service */
	ck_assert_uint_eq(read_irr(M_CMD), 0x00);

	/* An edge request stays latched when its line drops (as in QEMU). */
	pulse(4);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x34);
}
END_TEST

START_TEST(test_spurious_slave)
{
	linux_init(false);
	out(ELCR_S, 0x04);
	pic_set_irq(pic, 10, true);
	ck_assert(pic_intr_pending(pic));
	pic_set_irq(pic, 10, false);
	ck_assert_uint_eq(read_irr(S_CMD), 0x00);
	ck_assert_uint_eq(read_irr(M_CMD), 0x04); /* the master latched IR2's edge */
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x3f);
	ck_assert_uint_eq(read_isr(M_CMD), 0x04);
	ck_assert_uint_eq(read_isr(S_CMD), 0x00);
	ck_assert(!pic_intr_pending(pic));
	out(M_CMD, 0x62);
	ck_assert_uint_eq(read_isr(M_CMD), 0x00);
	ck_assert(!pic_intr_pending(pic));
}
END_TEST

START_TEST(test_elcr_level)
{
	linux_init(false);
	out(ELCR_M, 0xff);
	out(ELCR_S, 0xff);
	ck_assert_uint_eq(in(ELCR_M), 0xf8);
	ck_assert_uint_eq(in(ELCR_S), 0xde);
	out(ELCR_M, 0x00);
	out(ELCR_S, 0x08);

	/* A line turned level loses its edge latch for good: IRR follows the (low) line. */
	out(M_DATA, 0x08);
	pulse(3);
	ck_assert_uint_eq(read_irr(M_CMD), 0x08);
	out(ELCR_M, 0x08);
	ck_assert_uint_eq(read_irr(M_CMD), 0x00);
	out(ELCR_M, 0x00);
	ck_assert_uint_eq(read_irr(M_CMD), 0x00);
	out(M_DATA, 0x00);

	pic_set_irq(pic, 11, true);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x3b);
	ck_assert_uint_eq(read_irr(S_CMD), 0x08); /* IRR follows the line, ack or not */
	ck_assert(!pic_intr_pending(pic));
	out(S_CMD, 0x63);
	out(M_CMD, 0x62);
	ck_assert(pic_intr_pending(pic)); /* still high: requests again */
	ck_assert_uint_eq(pic_acknowledge(pic), 0x3b);
	pic_set_irq(pic, 11, false);
	out(S_CMD, 0x63);
	out(M_CMD, 0x62);
	ck_assert(!pic_intr_pending(pic));
	ck_assert_uint_eq(read_irr(S_CMD), 0x00);
	ck_assert_uint_eq(read_irr(M_CMD), 0x00);

	/* ICW1's LTIM makes every line of that chip level-triggered. */
	out(M_CMD, 0x19);
	out(M_DATA, 0x30);
	out(M_DATA, 0x04);
	out(M_DATA, 0x01);
	pic_set_irq(pic, 1, true);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x31);
	out(M_CMD, 0x61);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x31);
	out(M_CMD, 0x61);
	pic_set_irq(pic, 1, false);
	ck_assert(!pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x37);
}
END_TEST

START_TEST(test_rotation)
{
	linux_init(false);
	pulse(0);
	pulse(1);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x30);
	out(M_CMD, 0xa0); /* rotate on non-specific EOI: IRQ0 lowest, IRQ1 highest */
	ck_assert_uint_eq(read_isr(M_CMD), 0x00);
	pulse(0);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x31);
	out(M_CMD, 0xe1); /* rotate on specific EOI: IRQ1 lowest, IRQ2 highest */
	ck_assert_uint_eq(pic_acknowledge(pic), 0x30);

	/* Set priority: IRQ4 lowest, so IRQ5 outranks IRQ0 (in service) and IRQ3 does not. */
	out(M_CMD, 0xc4);
	pulse(3);
	ck_assert(!pic_intr_pending(pic));
	pulse(6);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x36);
	out(M_CMD, 0x20); /* non-specific EOI goes to IRQ6, the highest in service now */
	ck_assert_uint_eq(read_isr(M_CMD), 0x01);
	out(M_CMD, 0x20);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x33);
	out(M_CMD, 0xc7); /* IRQ7 lowest: the power-on order */
	out(M_CMD, 0x20);
	pulse(7);
	pulse(0);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x30);
}
END_TEST

START_TEST(test_special_mask)
{
	linux_init(false);
	pulse(3);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x33);
	pulse(5);
	ck_assert(!pic_intr_pending(pic));
	out(M_DATA, 0x08);
	out(M_CMD, 0x68);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x35);
	ck_assert_uint_eq(read_isr(M_CMD), 0x28);
	pulse(6);
	ck_assert(pic_intr_pending(pic));
	out(M_CMD, 0x48); /* off again: IRQ3 and IRQ5 in service block IRQ6 */
	ck_assert(!pic_intr_pending(pic));
	out(M_CMD, 0x65);
	out(M_CMD, 0x63);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x36);
}
END_TEST

START_TEST(test_edge_no_retrigger)
{
	linux_init(false);
	pic_set_irq(pic, 0, true);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x30);
	out(M_CMD, 0x60);
	ck_assert(!pic_intr_pending(pic));
	pic_set_irq(pic, 0, true); /* still high: no new edge */
	ck_assert(!pic_intr_pending(pic));
	ck_assert_uint_eq(read_irr(M_CMD), 0x00);
	pic_set_irq(pic, 0, false);
	ck_assert(!pic_intr_pending(pic));
	pic_set_irq(pic, 0, true);
	ck_assert(pic_intr_pending(pic));
	ck_assert_uint_eq(pic_acknowledge(pic), 0x30);

	/* Several edges before the ack collapse into one request. */
	out(M_CMD, 0x60);
	pulse(4);
	pulse(4);
	ck_assert_uint_eq(pic_acknowledge(pic), 0x34);
	out(M_CMD, 0x64);
	ck_assert(!pic_intr_pending(pic));
	/* ISA IRQ2 is the cascade, not a line: driving it does nothing. */
	pic_set_irq(pic, 2, true);
	pic_set_irq(pic, 16, true);
	ck_assert(!pic_intr_pending(pic));
}
END_TEST

static Suite *pic_suite(void)
{
	Suite *s = suite_create("pic");
	TCase *tc = tcase_create("pic");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_linux_init_irq0);
	tcase_add_test(tc, test_icw_sequences);
	tcase_add_test(tc, test_icw1_resets);
	tcase_add_test(tc, test_mask);
	tcase_add_test(tc, test_priority);
	tcase_add_test(tc, test_specific_eoi);
	tcase_add_test(tc, test_cascade);
	tcase_add_test(tc, test_auto_eoi);
	tcase_add_test(tc, test_poll);
	tcase_add_test(tc, test_read_irr_isr);
	tcase_add_test(tc, test_spurious_master);
	tcase_add_test(tc, test_spurious_slave);
	tcase_add_test(tc, test_elcr_level);
	tcase_add_test(tc, test_rotation);
	tcase_add_test(tc, test_special_mask);
	tcase_add_test(tc, test_edge_no_retrigger);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(pic_suite());
}
