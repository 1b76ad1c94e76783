// SPDX-License-Identifier: MIT
/*
 * MC146818 CMOS/RTC at 0x70/0x71: index register (bit 7 = NMI mask) and 128 bytes of NVRAM,
 * with the clock registers in BCD or binary and 24- or 12-hour format as register B says. No
 * alarm or periodic interrupts: Linux only reads the time at boot.
 *
 * The clock is a base plus the offset the guest set: the host's UTC time in normal mode, and in
 * deterministic mode --rtc-epoch plus the virtual clock, never the host's, so that what the guest
 * reads is a function of virtual time and of its own writes. The guest sets the time as on the
 * chip (and as in QEMU): with register B's SET bit the registers stop following the clock and
 * take its writes; clearing SET starts the clock from them. A write to a clock register without
 * SET sets the time at once. The offset is snapshot state; the registers written under SET are
 * in the NVRAM.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../persist.h"
#include "../vm.h"

#define CMOS_INDEX_PORT 0x70
#define RTC_SECONDS	0x00
#define RTC_MINUTES	0x02
#define RTC_HOURS	0x04
#define RTC_WEEKDAY	0x06
#define RTC_DAY		0x07
#define RTC_MONTH	0x08
#define RTC_YEAR	0x09
#define RTC_REG_A	0x0a
#define RTC_REG_B	0x0b
#define RTC_REG_C	0x0c
#define RTC_REG_D	0x0d
#define RTC_CENTURY	0x32
#define RTC_B_SET	0x80
#define RTC_B_UIE	0x10
#define RTC_B_BINARY	0x04
#define RTC_B_24H	0x02
#define RTC_HOURS_PM	0x80 /* 12-hour format */
#define RTC_D_VRT	0x80
/* A clock offset a snapshot may hold: more than any time the registers can say (year 16665). */
#define MAX_CLOCK_OFFSET (1LL << 40)

struct cmos {
	const struct vm *vm;
	uint8_t index;
	uint8_t nvram[128];
	int64_t clock_offset; /* seconds the guest moved the clock by */
};

static const uint8_t clock_regs[] = {RTC_SECONDS, RTC_MINUTES, RTC_HOURS, RTC_WEEKDAY,
				     RTC_DAY,	  RTC_MONTH,   RTC_YEAR,  RTC_CENTURY};

static bool is_clock_reg(uint8_t reg)
{
	return memchr(clock_regs, reg, sizeof(clock_regs)) != NULL;
}

/*
 * Calendar arithmetic of our own, proleptic Gregorian, UTC: glibc's gmtime_r() and timegm()
 * read the time zone database on first use (openat /etc/localtime on the vCPU thread, which its
 * system-call filter refuses), and a device that must be a pure function of virtual time has no
 * business with the host's zone files anyway.
 */
static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

/* Days since 1970-01-01 of year-month-day, month in 1..12 (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned int m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

struct civil {
	int64_t year;
	unsigned int month, day, hour, min, sec, wday; /* month, day from 1; wday 0: Sunday */
};

static struct civil civil_from_seconds(int64_t t)
{
	int64_t days = floor_div(t, 86400), secs = t - days * 86400, z = days + 719468;
	int64_t era = floor_div(z, 146097), doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	struct civil c = {
		.day = doy - (153 * mp + 2) / 5 + 1,
		.month = mp < 10 ? mp + 3 : mp - 9,
		.hour = secs / 3600,
		.min = secs / 60 % 60,
		.sec = secs % 60,
		.wday = days + 4 - floor_div(days + 4, 7) * 7, /* 1970-01-01 was a Thursday */
	};

	c.year = yoe + era * 400 + (c.month <= 2);
	return c;
}

/*
 * Seconds since 1970 of the fields as registers give them: out-of-range values carry over
 * (month 13 is January of the next year, day 0 the last of the month before), as QEMU's
 * mktimegm() does, so any bytes the guest writes give one well-defined time.
 */
static int64_t seconds_from_fields(int64_t year, int64_t month, int64_t day, int64_t hour,
				   int64_t min, int64_t sec)
{
	int64_t m0 = month - 1, dy = floor_div(m0, 12);

	return (days_from_civil(year + dy, (unsigned int)(m0 - 12 * dy) + 1, 1) + day - 1) * 86400 +
	       hour * 3600 + min * 60 + sec;
}

/* The clock before the guest's offset, in seconds. */
static int64_t base_seconds(const struct cmos *c)
{
	if (c->vm->det)
		return c->vm->cfg->rtc_epoch + (int64_t)(c->vm->vtime_ns / 1000000000ULL);
	return time(NULL);
}

static uint8_t to_bcd(const struct cmos *c, unsigned int v)
{
	return (c->nvram[RTC_REG_B] & RTC_B_BINARY) ? v : ((v / 10) << 4) | (v % 10);
}

static int from_bcd(const struct cmos *c, uint8_t v)
{
	return (c->nvram[RTC_REG_B] & RTC_B_BINARY) ? v : (v >> 4) * 10 + (v & 0x0f);
}

/* Clock register reg at time t, in the format register B asks for. */
static uint8_t clock_value(const struct cmos *c, uint8_t reg, int64_t t)
{
	struct civil tm = civil_from_seconds(t);

	switch (reg) {
	case RTC_SECONDS:
		return to_bcd(c, tm.sec);
	case RTC_MINUTES:
		return to_bcd(c, tm.min);
	case RTC_HOURS:
		if (c->nvram[RTC_REG_B] & RTC_B_24H)
			return to_bcd(c, tm.hour);
		return to_bcd(c, tm.hour % 12 ? tm.hour % 12 : 12) |
		       (tm.hour >= 12 ? RTC_HOURS_PM : 0);
	case RTC_WEEKDAY:
		return to_bcd(c, tm.wday + 1);
	case RTC_DAY:
		return to_bcd(c, tm.day);
	case RTC_MONTH:
		return to_bcd(c, tm.month);
	case RTC_YEAR:
		return to_bcd(c, tm.year - floor_div(tm.year, 100) * 100);
	default: /* RTC_CENTURY */
		return to_bcd(c, floor_div(tm.year, 100));
	}
}

/* The clock registers stop at the time it is now (SET, or a write to one of them). */
static void latch_clock(struct cmos *c)
{
	int64_t now = base_seconds(c) + c->clock_offset;

	for (unsigned int i = 0; i < sizeof(clock_regs); i++)
		c->nvram[clock_regs[i]] = clock_value(c, clock_regs[i], now);
}

/* The clock runs on from what the registers say (the weekday follows from the date). */
static void set_clock_from_regs(struct cmos *c)
{
	uint8_t h = c->nvram[RTC_HOURS];
	int hour = from_bcd(c, h & ~RTC_HOURS_PM);

	if (!(c->nvram[RTC_REG_B] & RTC_B_24H))
		hour = hour % 12 + (h & RTC_HOURS_PM ? 12 : 0);
	c->clock_offset =
		seconds_from_fields(
			from_bcd(c, c->nvram[RTC_CENTURY]) * 100 + from_bcd(c, c->nvram[RTC_YEAR]),
			from_bcd(c, c->nvram[RTC_MONTH]), from_bcd(c, c->nvram[RTC_DAY]), hour,
			from_bcd(c, c->nvram[RTC_MINUTES]), from_bcd(c, c->nvram[RTC_SECONDS])) -
		base_seconds(c);
}

static uint8_t cmos_value(struct cmos *c, uint8_t reg)
{
	if (is_clock_reg(reg))
		return (c->nvram[RTC_REG_B] & RTC_B_SET)
			       ? c->nvram[reg]
			       : clock_value(c, reg, base_seconds(c) + c->clock_offset);
	switch (reg) {
	case RTC_REG_A:
		return c->nvram[RTC_REG_A] & 0x7f; /* update never in progress */
	case RTC_REG_C:
		return 0;
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		return c->nvram[reg];
	}
}

static void cmos_set(struct cmos *c, uint8_t reg, uint8_t v)
{
	uint8_t b = c->nvram[RTC_REG_B];

	if (is_clock_reg(reg)) {
		if (b & RTC_B_SET) {
			c->nvram[reg] = v;
			return;
		}
		latch_clock(c);
		c->nvram[reg] = v;
		set_clock_from_regs(c);
		return;
	}
	switch (reg) {
	case RTC_REG_B:
		if ((v & RTC_B_SET) && !(b & RTC_B_SET)) {
			latch_clock(c);
			v &= ~RTC_B_UIE; /* as QEMU: no update-ended interrupts while set */
		} else if (!(v & RTC_B_SET) && (b & RTC_B_SET)) {
			set_clock_from_regs(c); /* in the format the registers were written in */
		}
		c->nvram[RTC_REG_B] = v;
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		c->nvram[reg] = v;
	}
}

/* One byte at a time: the bus splits wider accesses (byte_registers). */
static void cmos_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct cmos *c = opaque;

	memset(data, 0, len);
	data[0] = off == 0 ? 0xff : cmos_value(c, c->index);
}

static void cmos_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct cmos *c = opaque;

	(void)len;
	if (off == 0)
		c->index = data[0] & 0x7f; /* bit 7 masks NMIs: nothing to mask here */
	else
		cmos_set(c, c->index, data[0]);
}

static const struct bus_ops cmos_ops = {
	.read = cmos_read, .write = cmos_write, .byte_registers = 1};

/*
 * The clock itself is not state: it comes from the host, or from --rtc-epoch and the virtual
 * clock. What the guest set is: its offset (left out while 0, as before the guest could set it).
 */
#define CMOS_STATE(F)  \
	F(UINT, index) \
	F(BIN, nvram)  \
	F(UINT0, clock_offset)

static void cmos_save(void *opaque, msgpack_packer *pk)
{
	PERSIST_SAVE(pk, (struct cmos *)opaque, CMOS_STATE);
}

static bool cmos_load(void *opaque, struct persist_in *in)
{
	struct cmos *c = opaque;

	if (!PERSIST_LOAD(in, c, CMOS_STATE))
		return false;
	if (c->clock_offset > MAX_CLOCK_OFFSET || c->clock_offset < -MAX_CLOCK_OFFSET)
		return persist_fail(in, "clock_offset", "%lld s: further than any clock can be",
				    (long long)c->clock_offset);
	return c->index < sizeof(c->nvram) ||
	       persist_fail(in, "index", "%u: not a CMOS register", c->index);
}

int cmos_init(struct vm *vm)
{
	struct cmos *c = vm_own(vm, calloc(1, sizeof(struct cmos)));

	if (!c)
		return -1;
	c->vm = vm;
	c->nvram[RTC_REG_A] = 0x26; /* 32.768 kHz base, 1024 Hz rate */
	c->nvram[RTC_REG_B] = RTC_B_24H;
	if (bus_register(&vm->pio_bus, CMOS_INDEX_PORT, 2, &cmos_ops, c, "cmos"))
		return -1;
	/* Selecting a register has no visible effect until the data port is read (as in QEMU). */
	vm_coalesce_writes(vm, true, CMOS_INDEX_PORT, 1);
	return vm_persist(vm, "cmos", cmos_save, cmos_load, c, NULL);
}
