// SPDX-License-Identifier: MIT
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

void bus_free(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
}

/* Index of the first range whose base is > addr. */
static unsigned int upper_bound(const struct bus *bus, uint64_t addr)
{
	unsigned int lo = 0, hi = bus->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, const char *name)
{
	if (!len || base + len - 1 < base)
		return -EINVAL;
	unsigned int i = upper_bound(bus, base);
	/* ranges[i-1].base <= base < ranges[i].base: only those two can overlap. */
	if (i > 0 && bus->ranges[i - 1].base + bus->ranges[i - 1].len - 1 >= base)
		return -EEXIST;
	if (i < bus->nr && base + len - 1 >= bus->ranges[i].base)
		return -EEXIST;
	if (bus->nr == bus->cap) {
		unsigned int cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *r = realloc(bus->ranges, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		bus->ranges = r;
		bus->cap = cap;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nr - i) * sizeof(bus->ranges[0]));
	bus->ranges[i] = (struct bus_range){base, len, ops, opaque, name};
	bus->nr++;
	return 0;
}

int bus_unregister(struct bus *bus, uint64_t base, void *opaque)
{
	unsigned int i = upper_bound(bus, base);

	if (i == 0 || bus->ranges[i - 1].base != base || bus->ranges[i - 1].opaque != opaque)
		return -ENOENT;
	i--;
	memmove(&bus->ranges[i], &bus->ranges[i + 1], (bus->nr - i - 1) * sizeof(bus->ranges[0]));
	bus->nr--;
	return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	unsigned int i = upper_bound(bus, addr);

	if (i == 0)
		return NULL;
	const struct bus_range *r = &bus->ranges[i - 1];
	return addr - r->base < r->len ? r : NULL;
}

/* Whether a device of byte registers decodes any byte of [addr, addr + len). */
static bool touches_byte_registers(const struct bus *bus, uint64_t addr, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		const struct bus_range *r = bus_find(bus, addr + i);

		if (r && r->ops->byte_registers)
			return true;
	}
	return false;
}

bool bus_access(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	const struct bus_range *r = bus_find(bus, addr);
	bool inside = r && len <= r->len - (addr - r->base);

	/* (an access inside one device that takes any width is the common case: no search) */
	if (len > 1 && !(inside && !r->ops->byte_registers) &&
	    touches_byte_registers(bus, addr, len)) {
		bool hit = false;

		for (uint32_t i = 0; i < len; i++)
			hit |= bus_access(bus, addr + i, data + i, 1, is_write);
		return hit;
	}
	if (!inside) {
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	if (is_write) {
		if (r->ops->write)
			r->ops->write(r->opaque, addr - r->base, data, len);
	} else if (r->ops->read) {
		r->ops->read(r->opaque, addr - r->base, data, len);
	} else {
		memset(data, 0xff, len);
	}
	return true;
}
