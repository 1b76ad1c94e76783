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

static uint8_t to_bcd(const struct cmos *c, unsigned int v)
{
	return (c->nvram[RTC_REG_B] & RTC_B_BINARY) ? v : ((v / 10) << 4) | (v % 10);
}

static uint8_t cmos_value(struct cmos *c, uint8_t reg)
{
	time_t now = c->vm->det ? c->vm->cfg->rtc_epoch + (time_t)(c->vm->vtime_ns / 1000000000ULL)
				: time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (reg) {
	case RTC_SECONDS:
		return to_bcd(c, tm.tm_sec);
	case RTC_MINUTES:
		return to_bcd(c, tm.tm_min);
	case RTC_HOURS:
		return to_bcd(c, tm.tm_hour);
	case RTC_WEEKDAY:
		return to_bcd(c, tm.tm_wday + 1);
	case RTC_DAY:
		return to_bcd(c, tm.tm_mday);
	case RTC_MONTH:
		return to_bcd(c, tm.tm_mon + 1);
	case RTC_YEAR:
		return to_bcd(c, tm.tm_year % 100);
	case RTC_CENTURY:
		return to_bcd(c, (tm.tm_year + 1900) / 100);
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

static const struct bus_ops cmos_ops = {.read = cmos_read, .write = cmos_write};

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
