/*
 * rtc-set: sets the CMOS clock as an OS does and reads it back. With register B's SET bit it
 * writes 2031-06-15 12:34:56 (BCD, 24-hour) while the clock registers hold still, then clears SET
 * and the clock runs from there; it reads the hour in binary 12-hour format too, and sets the
 * minutes without SET (which takes effect at once). Then it reads the clock `reads` times
 * (default 300: exits for a snapshot to land between) and prints the last time read:
 *   rtc-set: before: YYYY-MM-DD hh:mm:ss
 *   rtc-set: <check>: <value> [, want <value>]      (one line per check)
 *   rtc-set: after reads: YYYY-MM-DD hh:mm:ss weekday W
 *   rtc-set: N of N checks held
 * Exit status 0 when all held, else 1. A second may pass between a write and a read in normal
 * mode (host time): the checks allow it. See docs/guest-abi.md.
 */
#include "rt.h"

#define REG_B	 0x0b
#define B_SET	 0x80
#define B_BINARY 0x04
#define B_24H	 0x02
#define HOURS_PM 0x80
#define N_CLOCK	 8

static const uint8_t regs[N_CLOCK] = {0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32};
static unsigned int checks, held;

static uint8_t rd(uint8_t reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static void wr(uint8_t reg, uint8_t v)
{
	outb(0x70, reg);
	outb(0x71, v);
}

static unsigned int bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 15);
}

static void check(const char *what, unsigned int got, unsigned int want, unsigned int slack)
{
	int ok = got >= want && got <= want + slack;

	checks++;
	held += ok;
	rt_printf("rtc-set: %s: %u%s", what, got, ok ? "\n" : "");
	if (!ok)
		rt_printf(", want %u\n", want);
}

/* The clock registers (BCD, 24-hour) as "YYYY-MM-DD hh:mm:ss"; v[] gets them. */
static void print_time(const char *what, uint8_t v[N_CLOCK])
{
	for (int i = 0; i < N_CLOCK; i++)
		v[i] = rd(regs[i]);
	rt_printf("rtc-set: %s: %02u%02u-%02u-%02u %02u:%02u:%02u", what, bcd(v[7]), bcd(v[6]),
		  bcd(v[5]), bcd(v[4]), bcd(v[2]), bcd(v[1]), bcd(v[0]));
}

int main(const char *cmdline)
{
	static const uint8_t set[N_CLOCK] = {0x56, 0x34, 0x12, 0x07, 0x15, 0x06, 0x31, 0x20};
	unsigned long reads = rt_arg_ulong(cmdline, "reads", 300);
	uint8_t v[N_CLOCK], b = rd(REG_B);

	print_time("before", v);
	rt_printf("\n");

	wr(REG_B, b | B_SET);
	for (int i = 0; i < N_CLOCK; i++)
		wr(regs[i], set[i]);
	/* While SET holds, the registers are what was written, whatever the time. */
	for (int i = 0; i < 100; i++)
		outl(RT_PORT_TESTDEV, i);
	check("seconds while SET", rd(0x00), 0x56, 0);
	check("weekday as written while SET", rd(0x06), 0x07, 0);
	wr(REG_B, b);
	check("year", bcd(rd(0x32)) * 100 + bcd(rd(0x09)), 2031, 0);
	check("month", bcd(rd(0x08)), 6, 0);
	check("day", bcd(rd(0x07)), 15, 0);
	check("weekday (2031-06-15 is a Sunday: 1)", rd(0x06), 1, 0);
	check("hours", bcd(rd(0x04)), 12, 0);
	check("minutes", bcd(rd(0x02)), 34, 0);
	check("seconds", bcd(rd(0x00)), 56, 1);

	/* Binary, 12-hour: 12:34 is 12 PM. */
	wr(REG_B, (b & ~B_24H) | B_BINARY);
	check("hour register, binary 12-hour", rd(0x04), HOURS_PM | 12, 0);
	check("minutes, binary", rd(0x02), 34, 0);
	wr(REG_B, b);

	/* Without SET, a write to a clock register sets the time at once. */
	wr(0x02, 0x00);
	check("minutes after writing 0 without SET", bcd(rd(0x02)), 0, 0);
	check("hours still", bcd(rd(0x04)), 12, 0);
	check("seconds still", bcd(rd(0x00)), 56, 1);

	for (unsigned long i = 1; i < reads; i++)
		for (int k = 0; k < N_CLOCK; k++)
			v[k] = rd(regs[k]);
	print_time("after reads", v);
	rt_printf(" weekday %u\n", v[3]);
	rt_printf("rtc-set: %u of %u checks held\n", held, checks);
	return held == checks ? 0 : 1;
}
