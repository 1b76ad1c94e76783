/*
 * A minimal polling virtio-pci (modern) driver for the test guests: find a device on bus 0,
 * set up queue 0 in low memory, submit a chain, look at status and the used ring. Interrupts
 * stay disabled; the VMM serves a notification before the guest's next instruction.
 */
#ifndef DEJAVM_GUEST_VIRTIO_H
#define DEJAVM_GUEST_VIRTIO_H

#include "pci.h"
#include "rt.h"

#define VQ_SIZE	   8
#define VQ_RING	   0x200000UL  /* desc (16*8) at +0, avail at +0x1000, used at +0x2000 */
#define VQ_BUF	   0x210000UL  /* 64 KiB of buffers */
#define VQ_RAM_END 0x4000000UL /* the default 64 MiB */

/* virtio_pci_common_cfg offsets (BAR 0 + 0), ISR at +0x1000, device config at +0x2000 */
enum {
	VC_DFSEL = 0,
	VC_DF = 4,
	VC_GFSEL = 8,
	VC_GF = 12,
	VC_MSIX = 16,
	VC_NUMQ = 18,
	VC_STATUS = 20,
	VC_QSEL = 22,
	VC_QSZ = 24,
	VC_QMSIX = 26,
	VC_QEN = 28,
	VC_QDESC = 32,
	VC_QAVAIL = 40,
	VC_QUSED = 48,
	VC_ISR = 0x1000,
	VC_DEVCFG = 0x2000,
	VC_NOTIFY = 0x3000
};
enum { VS_ACK = 1, VS_DRIVER = 2, VS_DRIVER_OK = 4, VS_FEATURES_OK = 8, VS_NEEDS_RESET = 0x40 };
enum { VD_NEXT = 1, VD_WRITE = 2, VD_INDIRECT = 4 };

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static uintptr_t vbar;
static struct vdesc *const vdesc = (struct vdesc *)VQ_RING;
static volatile uint16_t *const vavail = (volatile uint16_t *)(VQ_RING + 0x1000);
static volatile uint16_t *const vused = (volatile uint16_t *)(VQ_RING + 0x2000);

static inline void vw8(unsigned int off, uint8_t v)
{
	*(volatile uint8_t *)(vbar + off) = v;
}
static inline void vw16(unsigned int off, uint16_t v)
{
	*(volatile uint16_t *)(vbar + off) = v;
}
static inline void vw32(unsigned int off, uint32_t v)
{
	*(volatile uint32_t *)(vbar + off) = v;
}
static inline uint8_t vr8(unsigned int off)
{
	return *(volatile uint8_t *)(vbar + off);
}
static inline uint16_t vr16(unsigned int off)
{
	return *(volatile uint16_t *)(vbar + off);
}
static inline uint32_t vr32(unsigned int off)
{
	return *(volatile uint32_t *)(vbar + off);
}

static inline void vw64(unsigned int off, uint64_t v)
{
	vw32(off, (uint32_t)v);
	vw32(off + 4, (uint32_t)(v >> 32));
}

/* Both halves in one 8-byte access (virtio 4.1.3.1 allows it for the 64-bit fields). */
static inline void vw64_whole(unsigned int off, uint64_t v)
{
	mmio_write64(vbar + off, v);
}
static inline uint64_t vr64_whole(unsigned int off)
{
	return mmio_read64(vbar + off);
}

/*
 * The device at 00:slot.0 if it is virtio type `type`: maps BAR 0 (as the VMM placed it) and
 * sets Bus Master Enable, without which a device may not touch memory (as Linux's
 * pci_set_master() before the driver uses the device).
 */
static inline int virtio_find(unsigned int slot, unsigned int type)
{
	if (pci_read32(slot, 0) != ((0x1040u + type) << 16 | 0x1af4))
		return -1;
	vbar = pci_read32(slot, 0x10) & ~0xfu;
	vbar |= (uint64_t)pci_read32(slot, 0x14) << 32; /* BAR 0 is 64-bit: the upper half */
	pci_command(slot, PCI_CMD_MASTER, 0);
	return 0;
}

/* An entry of a used ring (at ring + 0x2004). */
struct vused_elem {
	uint32_t id, len;
};

static inline volatile struct vused_elem *vused_at(uint64_t ring, uint16_t i)
{
	return (volatile struct vused_elem *)(ring + 0x2004) + i % VQ_SIZE;
}

/* Reset, clear ring_bytes of rings at VQ_RING, negotiate VERSION_1 plus `features`. */
static inline void virtio_negotiate(uint32_t ring_bytes, uint32_t features)
{
	vw8(VC_STATUS, 0);
	memset((void *)VQ_RING, 0, ring_bytes);
	vw8(VC_STATUS, VS_ACK | VS_DRIVER);
	vw32(VC_GFSEL, 1);
	vw32(VC_GF, 1); /* VIRTIO_F_VERSION_1 (bit 32) */
	vw32(VC_GFSEL, 0);
	vw32(VC_GF, features);
	vw8(VC_STATUS, VS_ACK | VS_DRIVER | VS_FEATURES_OK);
}

/*
 * Queue q with `size` entries (a power of 2, at most 256 so that each ring fits its 4 KiB):
 * descriptors at desc_at, avail/used rings at ring + 0x1000/0x2000.
 */
static inline void virtio_queue_sized(uint16_t q, uint16_t size, uint64_t desc_at, uint64_t ring)
{
	vw16(VC_QSEL, q);
	vw16(VC_QSZ, size);
	vw64(VC_QDESC, desc_at);
	vw64(VC_QAVAIL, ring + 0x1000);
	vw64(VC_QUSED, ring + 0x2000);
	vw16(VC_QEN, 1);
}

/* Queue q with VQ_SIZE entries (virtio_queue_sized). */
static inline void virtio_queue(uint16_t q, uint64_t desc_at, uint64_t ring)
{
	virtio_queue_sized(q, VQ_SIZE, desc_at, ring);
}

static inline void virtio_driver_ok(void)
{
	vw8(VC_STATUS, VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
}

/* Reset, negotiate VERSION_1 plus `features` (low 32 bits), set up queue 0 at desc_at. */
static inline void virtio_setup(uint64_t desc_at, uint32_t features)
{
	virtio_negotiate(0x3000, features);
	virtio_queue(0, desc_at, VQ_RING);
	virtio_driver_ok();
}

/* Puts head in the next avail slot, moves avail idx to idx, notifies queue 0. */
static inline void virtio_submit(uint16_t head, uint16_t idx)
{
	vavail[2 + (uint16_t)(idx - 1) % VQ_SIZE] = head;
	vavail[1] = idx;
	vw16(VC_NOTIFY, 0);
}

#endif
