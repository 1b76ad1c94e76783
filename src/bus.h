/* SPDX-License-Identifier: MIT */
/*
 * PIO and MMIO buses. Devices register [base, base+len) ranges with an ops table; an exit is
 * routed by a binary search over the sorted, non-overlapping ranges. A VMM has a few dozen
 * ranges at most, so a sorted array beats a tree on both code size and lookup time.
 */
#ifndef DEJAVM_BUS_H
#define DEJAVM_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct bus_ops {
	/* offset is relative to the registered base; len is 1, 2, 4 or 8 (MMIO up to 8). */
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
	/*
	 * 1: a device of byte registers (the ISA ones). A wider access is split into one access per
	 * byte, each routed on its own, lowest address first, as QEMU's memory core does for a
	 * device with impl.max_access_size 1: outw(0x70, idx | val << 8) selects a CMOS register
	 * and writes it. 0: the device takes accesses of any width.
	 */
	uint8_t byte_registers;
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	struct bus_range *ranges;
	unsigned int nr, cap;
};

void bus_init(struct bus *bus, const char *name);
void bus_free(struct bus *bus);

/* Returns 0, -EINVAL for an empty or wrapping range, -EEXIST on overlap, -ENOMEM. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, const char *name);

/*
 * Removes the range that starts exactly at base and belongs to opaque (so one device cannot
 * remove another's range). Returns 0 or -ENOENT.
 */
int bus_unregister(struct bus *bus, uint64_t base, void *opaque);

/* The range containing addr, or NULL. */
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

/*
 * Routes one access. Accesses that hit no device (or straddle a range's end) read as all ones
 * and drop writes, as on a PC; returns false for them so the caller can count and log. One that
 * touches a device of byte registers is split into bytes (bus_ops.byte_registers), each of
 * which hits its device or nothing; it returns true if any byte hit a device.
 */
bool bus_access(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
