// SPDX-License-Identifier: MIT
/*
 * MC146818 CMOS/RTC at 0x70/0x71: index register (bit 7 = NMI mask) and 128 bytes of NVRAM,
 * with the clock registers read from the host's UTC time in BCD, 24-hour mode. No alarms, no
 * periodic interrupt: Linux only reads the time at boot. In deterministic mode the time is
 * --rtc-epoch plus the virtual clock, never the host's.
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
#define RTC_B_24H	0x02
#define RTC_B_BINARY	0x04
#define RTC_D_VRT	0x80

struct cmos {
	const struct vm *vm;
	uint8_t index;
	uint8_t nvram[128];
};

/*
 * Calendar arithmetic of our own, proleptic Gregorian, UTC: glibc's gmtime_r() reads the time
 * zone database on first use (openat /etc/localtime on the vCPU thread, which its system-call
 * filter refuses: the first CMOS clock read stopped the VM), and a device that must be a pure
 * function of virtual time has no business with the host's zone files anyway.
 */
static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

struct civil {
	int64_t year;
	unsigned int month, day, hour, min, sec, wday; /* month, day from 1; wday 0: Sunday */
};

/* The date and time t seconds after 1970-01-01 00:00 (H. Hinnant's civil_from_days). */
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

static uint8_t to_bcd(const struct cmos *c, unsigned int v)
{
	return (c->nvram[RTC_REG_B] & RTC_B_BINARY) ? v : ((v / 10) << 4) | (v % 10);
}

static uint8_t cmos_value(struct cmos *c, uint8_t reg)
{
	int64_t now = c->vm->det
			      ? c->vm->cfg->rtc_epoch + (int64_t)(c->vm->vtime_ns / 1000000000ULL)
			      : time(NULL);
	struct civil tm = civil_from_seconds(now);

	switch (reg) {
	case RTC_SECONDS:
		return to_bcd(c, tm.sec);
	case RTC_MINUTES:
		return to_bcd(c, tm.min);
	case RTC_HOURS:
		return to_bcd(c, tm.hour);
	case RTC_WEEKDAY:
		return to_bcd(c, tm.wday + 1);
	case RTC_DAY:
		return to_bcd(c, tm.day);
	case RTC_MONTH:
		return to_bcd(c, tm.month);
	case RTC_YEAR:
		return to_bcd(c, tm.year - floor_div(tm.year, 100) * 100);
	case RTC_CENTURY:
		return to_bcd(c, floor_div(tm.year, 100));
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
	else if (c->index >= RTC_REG_A && c->index != RTC_REG_C && c->index != RTC_REG_D)
		c->nvram[c->index] = data[0];
}

static const struct bus_ops cmos_ops = {
	.read = cmos_read, .write = cmos_write, .byte_registers = 1};

/* The clock is not state: it comes from the host, or from --rtc-epoch and the virtual clock. */
#define CMOS_STATE(F)  \
	F(UINT, index) \
	F(BIN, nvram)

static void cmos_save(void *opaque, msgpack_packer *pk)
{
	PERSIST_SAVE(pk, (struct cmos *)opaque, CMOS_STATE);
}

static bool cmos_load(void *opaque, struct persist_in *in)
{
	struct cmos *c = opaque;

	if (!PERSIST_LOAD(in, c, CMOS_STATE))
		return false;
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
