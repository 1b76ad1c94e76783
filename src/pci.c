// SPDX-License-Identifier: MIT
/*
 * PCI config space and BAR assignment (see pci.h). As in QEMU, config space is a byte array
 * plus a write mask and a guest write changes only the mask's bits: that one rule gives
 * read-only IDs and capabilities, and BAR sizing (the address bits below the size are not
 * writable, so writing all ones reads back ~(size - 1) with the type bits).
 */
#include "pci.h"

#include <errno.h>
#include <string.h>

#include "persist.h"

#define CONFIG_ADDRESS_PORT 0xcf8
#define CONFIG_DATA_PORT    0xcfc
#define CONFIG_ENABLE	    0x80000000u
/* Reserved, or AMD's extended register number: we only have 256 bytes, so nothing is there. */
#define CONFIG_RESERVED 0x7f000000u

#define PCI_CLASS_HOST_BRIDGE 0x060000

/* Little-endian field access, whatever the host (config space is little-endian). */
static uint32_t get_le(const uint8_t *a, uint32_t off, unsigned int len)
{
	uint32_t v = 0;

	for (unsigned int i = 0; i < len; i++)
		v |= (uint32_t)a[off + i] << (8 * i);
	return v;
}

static void put_le(uint8_t *a, uint32_t off, uint32_t v, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		a[off + i] = (uint8_t)(v >> (8 * i));
}

void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_code,
		     uint16_t subsys_vendor, uint16_t subsys_id, uint8_t revision)
{
	memset(d, 0, sizeof(*d));
	put_le(d->cfg, PCI_VENDOR_ID, vendor, 2);
	put_le(d->cfg, PCI_DEVICE_ID, device, 2);
	d->cfg[PCI_REVISION_ID] = revision;
	put_le(d->cfg, PCI_CLASS_PROG, class_code, 3);
	d->cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	put_le(d->cfg, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor, 2);
	put_le(d->cfg, PCI_SUBSYSTEM_ID, subsys_id, 2);
	/* The header's guest-writable bits; BARs get theirs from pci_bar_init. */
	put_le(d->wmask, PCI_COMMAND,
	       PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE,
	       2);
	d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	d->wmask[PCI_LATENCY_TIMER] = 0xff;
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->cap_next = PCI_CAP_START;
	d->machine_version = MACHINE_VERSION_CURRENT;
}

static bool bar_in_use(const struct pci_device *d, unsigned int bar)
{
	return d->bar[bar].size || (bar > 0 && d->bar[bar - 1].is64);
}

int pci_bar_init(struct pci_device *d, unsigned int bar, uint64_t size, unsigned int flags)
{
	unsigned int type = flags & (PCI_BAR_MEM32 | PCI_BAR_MEM64 | PCI_BAR_IO);
	bool io = type == PCI_BAR_IO, is64 = type == PCI_BAR_MEM64;
	bool prefetch = flags & PCI_BAR_PREFETCH;
	uint64_t max = io ? 0x10000 : is64 ? 1ULL << 63 : 1ULL << 31;
	uint32_t off = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint64_t mask = ~(size - 1);

	if (bar >= PCI_NUM_BARS || (is64 && bar + 1 >= PCI_NUM_BARS))
		return -EINVAL;
	if ((type != PCI_BAR_MEM32 && !io && !is64) || (flags & ~(type | PCI_BAR_PREFETCH)) ||
	    (io && prefetch))
		return -EINVAL;
	if ((size & (size - 1)) || size < (io ? 4 : 16) || size > max)
		return -EINVAL;
	if (bar_in_use(d, bar) || (is64 && bar_in_use(d, bar + 1)))
		return -EBUSY;
	d->bar[bar] = (struct pci_bar){.size = size, .io = io, .is64 = is64, .prefetch = prefetch};
	if (io) {
		put_le(d->cfg, off, PCI_BASE_ADDRESS_SPACE_IO, 4);
		put_le(d->wmask, off, (uint32_t)(mask & PCI_BASE_ADDRESS_IO_MASK), 4);
		return 0;
	}
	put_le(d->cfg, off,
	       (is64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
		       (prefetch ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0),
	       4);
	put_le(d->wmask, off, (uint32_t)(mask & PCI_BASE_ADDRESS_MEM_MASK), 4);
	if (is64)
		put_le(d->wmask, off + 4, (uint32_t)(mask >> 32), 4);
	return 0;
}

uint8_t pci_cap_add(struct pci_device *d, uint8_t cap_id, const void *body, uint8_t len)
{
	unsigned int off = d->cap_next;

	if (len < 2 || off < PCI_CAP_START || off + len > PCI_CFG_SIZE)
		return 0;
	memcpy(d->cfg + off, body, len);
	d->cfg[off + PCI_CAP_LIST_ID] = cap_id;
	d->cfg[off + PCI_CAP_LIST_NEXT] = 0;
	d->cfg[d->cap_last ? d->cap_last + PCI_CAP_LIST_NEXT : PCI_CAPABILITY_LIST] = (uint8_t)off;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->cap_last = (uint8_t)off;
	/* The low two bits of a capability pointer are reserved: keep every capability aligned. */
	d->cap_next = (uint16_t)((off + len + 3) & ~3u);
	return (uint8_t)off;
}

void pci_set_irq_pin(struct pci_device *d, uint8_t pin, uint8_t line)
{
	d->cfg[PCI_INTERRUPT_PIN] = pin;
	d->cfg[PCI_INTERRUPT_LINE] = line;
}

static bool pci30(const struct pci_device *d)
{
	return d->machine_version >= MACHINE_VERSION_PCI30;
}

bool pci_bus_master(const struct pci_device *d)
{
	return !pci30(d) || (get_le(d->cfg, PCI_COMMAND, 2) & PCI_COMMAND_MASTER);
}

bool pci_intx_update(struct pci_device *d, bool pending)
{
	if (!pci30(d))
		return pending;
	if (pending)
		d->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		d->cfg[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
	return pending && !(get_le(d->cfg, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE);
}

/* Where BAR i decodes according to config space right now; 0: nowhere. */
static uint64_t bar_decoded(const struct pci_device *d, unsigned int i)
{
	const struct pci_bar *b = &d->bar[i];
	uint32_t off = PCI_BASE_ADDRESS_0 + 4 * i;
	uint64_t addr = get_le(d->cfg, off, 4), mask = get_le(d->wmask, off, 4);

	if (!b->size ||
	    !(get_le(d->cfg, PCI_COMMAND, 2) & (b->io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)))
		return 0;
	if (b->is64) {
		addr |= (uint64_t)get_le(d->cfg, off + 4, 4) << 32;
		mask |= (uint64_t)get_le(d->wmask, off + 4, 4) << 32;
	}
	addr &= mask;
	/* All address bits set is a sizing probe in progress, not a place to map the BAR at. */
	return addr == mask ? 0 : addr;
}

/* Tells the device about every BAR whose decoded address changed. */
static void bars_update(struct pci_device *d)
{
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t old = d->bar[i].addr, now = bar_decoded(d, i);

		if (now == old)
			continue;
		d->bar[i].addr = now;
		if (d->ops && d->ops->bar_moved)
			d->ops->bar_moved(d->opaque, i, old, now);
	}
}

static uint32_t dev_cfg_read(struct pci_device *d, uint32_t off, unsigned int len)
{
	uint32_t v = get_le(d->cfg, off, len);

	if (off >= PCI_CAP_START && d->ops && d->ops->cfg_read)
		v = d->ops->cfg_read(d->opaque, off, v, len);
	return v;
}

static void dev_cfg_write(struct pci_device *d, uint32_t off, uint32_t val, unsigned int len)
{
	uint16_t command = get_le(d->cfg, PCI_COMMAND, 2);

	for (unsigned int i = 0; i < len; i++) {
		uint8_t m = d->wmask[off + i];

		d->cfg[off + i] = (d->cfg[off + i] & ~m) | ((uint8_t)(val >> (8 * i)) & m);
	}
	if (off >= PCI_CAP_START) {
		if (d->ops && d->ops->cfg_write)
			d->ops->cfg_write(d->opaque, off, val, len);
		return;
	}
	bars_update(d); /* COMMAND or a BAR may have changed; cheap enough to always look */
	if (get_le(d->cfg, PCI_COMMAND, 2) != command && d->ops && d->ops->command_changed)
		d->ops->command_changed(d->opaque, command);
}

/*
 * The device a CONFIG_DATA access at offset/len goes to and its config offset, or NULL:
 * disabled latch, another bus or function, an empty slot, or an access that is not a naturally
 * aligned byte, word or dword (which no driver issues; ignoring it keeps the rest simple).
 */
static struct pci_device *config_target(const struct pci_bus *pb, uint64_t offset, uint32_t len,
					uint32_t *off)
{
	uint32_t a = pb->config_address;

	if ((len != 1 && len != 2 && len != 4) || offset % len || offset + len > 4)
		return NULL;
	if (!(a & CONFIG_ENABLE) || (a & CONFIG_RESERVED) || ((a >> 16) & 0xff) || ((a >> 8) & 7))
		return NULL;
	*off = (a & 0xfc) + (uint32_t)offset;
	return pb->devs[(a >> 11) & 0x1f];
}

static void data_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	uint32_t off;
	struct pci_device *d = config_target(opaque, offset, len, &off);

	if (d)
		put_le(data, 0, dev_cfg_read(d, off, len), len);
	else
		memset(data, 0xff, len);
}

static void data_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	uint32_t off;
	struct pci_device *d = config_target(opaque, offset, len, &off);

	if (d)
		dev_cfg_write(d, off, get_le(data, 0, len), len);
}

/*
 * Only dword accesses reach CONFIG_ADDRESS (as on real chipsets, where 0xCF9 is something
 * else); Linux's type 1 probe writes a byte to 0xCFB first and expects it to be ignored.
 */
static void addr_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	const struct pci_bus *pb = opaque;

	if (offset == 0 && len == 4)
		put_le(data, 0, pb->config_address, 4);
	else
		memset(data, 0xff, len);
}

static void addr_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct pci_bus *pb = opaque;

	if (offset == 0 && len == 4)
		pb->config_address = get_le(data, 0, 4) & ~3u; /* bits 1:0 read as 0 */
}

static const struct bus_ops addr_ops = {.read = addr_read, .write = addr_write};
static const struct bus_ops data_ops = {.read = data_read, .write = data_write};

/* A window must not wrap or start at 0 (address 0 means "not decoded"). */
static bool window_ok(uint64_t base, uint64_t size, uint64_t limit)
{
	return !size || (base && base <= limit && size <= limit - base);
}

int pci_bus_init(struct pci_bus *pb, struct bus *pio_bus, uint64_t mmio32_base,
		 uint64_t mmio32_size, uint64_t mmio64_base, uint64_t mmio64_size, uint16_t io_base,
		 uint16_t io_size)
{
	int r;

	if (!window_ok(mmio32_base, mmio32_size, 1ULL << 32) ||
	    !window_ok(mmio64_base, mmio64_size, UINT64_MAX) ||
	    !window_ok(io_base, io_size, 0x10000))
		return -EINVAL;
	memset(pb, 0, sizeof(*pb));
	pb->mmio32 = (struct pci_window){mmio32_base, mmio32_size, mmio32_base};
	pb->mmio64 = (struct pci_window){mmio64_base, mmio64_size, mmio64_base};
	pb->io = (struct pci_window){io_base, io_size, io_base};
	r = bus_register(pio_bus, CONFIG_ADDRESS_PORT, 4, &addr_ops, pb, "pci-config-address");
	if (r)
		return r;
	r = bus_register(pio_bus, CONFIG_DATA_PORT, 4, &data_ops, pb, "pci-config-data");
	if (r) {
		bus_unregister(pio_bus, CONFIG_ADDRESS_PORT, pb);
		return r;
	}
	pb->pio_bus = pio_bus;
	pci_device_init(&pb->host_bridge, PCI_HOST_BRIDGE_VENDOR, PCI_HOST_BRIDGE_DEVICE,
			PCI_CLASS_HOST_BRIDGE, 0, 0, 0);
	pb->devs[0] = &pb->host_bridge;
	return 0;
}

/* Next naturally aligned size bytes of w, or -ENOSPC. */
static int window_alloc(struct pci_window *w, uint64_t size, uint64_t *addr)
{
	uint64_t a = (w->next + size - 1) & ~(size - 1);

	if (a < w->next || a - w->base > w->size || size > w->size - (a - w->base))
		return -ENOSPC;
	*addr = a;
	w->next = a + size;
	return 0;
}

int pci_bus_add(struct pci_bus *pb, struct pci_device *d)
{
	/* Allocate from copies of the windows so that a failure leaves everything untouched. */
	struct pci_window mmio32 = pb->mmio32, mmio64 = pb->mmio64, io = pb->io;
	uint64_t addr[PCI_NUM_BARS] = {0};
	uint16_t cmd = 0;
	unsigned int slot = 1;

	while (slot < PCI_MAX_SLOTS && pb->devs[slot])
		slot++;
	if (slot == PCI_MAX_SLOTS)
		return -ENOSPC;
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *b = &d->bar[i];
		struct pci_window *w = b->io ? &io : b->is64 && mmio64.size ? &mmio64 : &mmio32;

		if (b->size && window_alloc(w, b->size, &addr[i]))
			return -ENOSPC;
	}
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		uint32_t off = PCI_BASE_ADDRESS_0 + 4 * i;

		if (!d->bar[i].size)
			continue;
		/* The address is aligned to the size, so it does not touch the type bits. */
		put_le(d->cfg, off, get_le(d->cfg, off, 4) | (uint32_t)addr[i], 4);
		if (d->bar[i].is64)
			put_le(d->cfg, off + 4, (uint32_t)(addr[i] >> 32), 4);
		cmd |= d->bar[i].io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
	}
	pb->mmio32 = mmio32;
	pb->mmio64 = mmio64;
	pb->io = io;
	put_le(d->cfg, PCI_COMMAND, get_le(d->cfg, PCI_COMMAND, 2) | cmd, 2);
	d->slot = slot;
	pb->devs[slot] = d;
	bars_update(d);
	return (int)slot;
}

void pci_device_save(const struct pci_device *d, struct msgpack_packer *pk, const char *key)
{
	persist_bin(pk, key, d->cfg, sizeof(d->cfg));
}

bool pci_device_load(struct pci_device *d, struct persist_in *in, const char *key)
{
	uint8_t cfg[PCI_CFG_SIZE];

	if (!persist_get_BIN(in, key, cfg, sizeof(cfg)))
		return false;
	for (unsigned int i = 0; i < PCI_CFG_SIZE; i++)
		if ((cfg[i] ^ d->cfg[i]) & ~d->wmask[i] &
		    ~(i == PCI_STATUS && pci30(d) ? PCI_STATUS_INTERRUPT : 0))
			return persist_fail(
				in, key,
				"byte 0x%02x is 0x%02x, this build's device has 0x%02x there "
				"and the guest cannot change it (a snapshot of another device)",
				i, cfg[i], d->cfg[i]);
	memcpy(d->cfg, cfg, sizeof(cfg));
	bars_update(d);
	return true;
}

void pci_bus_save(void *bus, struct msgpack_packer *pk)
{
	const struct pci_bus *pb = bus;

	msgpack_pack_map(pk, 2);
	persist_u64(pk, "config_address", pb->config_address);
	pci_device_save(&pb->host_bridge, pk, "host_bridge");
}

bool pci_bus_load(void *bus, struct persist_in *in)
{
	struct pci_bus *pb = bus;

	return persist_get_UINT(in, "config_address", &pb->config_address,
				sizeof(pb->config_address)) &&
	       pci_device_load(&pb->host_bridge, in, "host_bridge");
}

void pci_bus_free(struct pci_bus *pb)
{
	if (pb->pio_bus) {
		bus_unregister(pb->pio_bus, CONFIG_ADDRESS_PORT, pb);
		bus_unregister(pb->pio_bus, CONFIG_DATA_PORT, pb);
	}
	pb->pio_bus = NULL;
	memset(pb->devs, 0, sizeof(pb->devs));
}
