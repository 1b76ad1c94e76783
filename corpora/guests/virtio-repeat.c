/*
 * virtio-repeat: asks virtio devices for unbounded work, the way a hostile driver can. For each
 * virtio-blk, virtio-rng and virtio-console on bus 0 (run with e.g. `dejavm --disk path=IMAGE
 * --rng src=/dev/urandom --console null --memory size=128M`):
 *   - an avail ring whose 8 entries all hold head 0: one chain would be served 8 times (and a
 *     request would complete 8 times);
 *   - virtio-console only: a chain naming one 64 MiB buffer 63 times (4 GiB of output from one
 *     chain), alone and then in all 128 entries of the transmit ring (512 GiB);
 * each must be refused before any of it is served: DEVICE_NEEDS_RESET (status bit 0x40), a
 * configuration interrupt status (ISR bit 1) and nothing in the used ring. After a reset the
 * device must serve a well-formed request. Prints one line per case and
 * "virtio-repeat: N of N cases refused, every device recovered"; exits 0 when all held, else 1.
 * Interrupts stay disabled: the guest polls. See docs/guest-abi.md.
 */
#include "rt.h"
#include "virtio.h"

#define BIG_BUF	  0x4000000UL /* 64 MiB at 64 MiB: needs --memory size=128M */
#define BIG_LEN	  0x4000000U
#define BIG_DESCS 63
#define CON_QSIZE 128 /* the virtio-console's queue size */
#define T_GET_ID  8

static unsigned int cases, refused, recovered, devices;

/* The device refused: needs reset, said so with a configuration interrupt, used nothing. */
static void expect_refused(const char *dev, unsigned int slot, const char *what)
{
	uint8_t status = vr8(VC_STATUS), isr;
	uint16_t used;
	int ok;

	/* normal mode: a disk's I/O thread looks at the ring (ioeventfd) while this runs on */
	for (unsigned int i = 0; !(status & VS_NEEDS_RESET) && !vused[1] && i < 200000; i++)
		status = vr8(VC_STATUS);
	isr = vr8(VC_ISR);
	used = vused[1];
	ok = (status & VS_NEEDS_RESET) && (isr & 2) && used == 0;

	cases++;
	refused += ok;
	rt_printf("virtio-repeat: 00:%02x.0 %s: %s: %s (status 0x%x, isr 0x%x, used %u)\n", slot,
		  dev, what, ok ? "refused" : "NOT REFUSED", status, isr, used);
}

/* Reset, and queue q (of size entries) set up again with empty rings. */
static void setup(uint16_t q, uint16_t size)
{
	virtio_negotiate(0x3000, 0);
	virtio_queue_sized(q, size, VQ_RING, VQ_RING);
	virtio_driver_ok();
}

/* Entries [0, n) of the avail ring all hold head 0; the queue is notified once. */
static void post_head0(uint16_t q, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++)
		vavail[2 + i] = 0;
	vavail[1] = n;
	vw16(VC_NOTIFY + 4 * q, q);
}

/* A well-formed request after a reset: one use, no reset needed. */
static void expect_recovered(const char *dev, unsigned int slot, uint16_t q, void (*chain)(void))
{
	setup(q, VQ_SIZE);
	chain();
	post_head0(q, 1);
	/* normal mode: a disk's I/O thread serves it (ioeventfd), so wait for the used entry */
	for (unsigned long spin = 0; vused[1] != 1 && spin < 100000000UL; spin++)
		__asm__ volatile("" : : : "memory");
	if (vused[1] == 1 && !(vr8(VC_STATUS) & VS_NEEDS_RESET)) {
		recovered++;
		return;
	}
	rt_printf("virtio-repeat: 00:%02x.0 %s: did NOT recover (status 0x%x, used %u)\n", slot,
		  dev, vr8(VC_STATUS), vused[1]);
}

/* The chains at head 0: a GET_ID request, 16 bytes of entropy, one byte of output. */
static void blk_chain(void)
{
	static const uint32_t hdr[4] = {T_GET_ID, 0, 0, 0};

	memcpy((void *)VQ_BUF, hdr, sizeof(hdr));
	vdesc[0] = (struct vdesc){VQ_BUF, 16, VD_NEXT, 1};
	vdesc[1] = (struct vdesc){VQ_BUF + 0x100, 20, VD_WRITE | VD_NEXT, 2};
	vdesc[2] = (struct vdesc){VQ_BUF + 0x200, 1, VD_WRITE, 0};
}

static void rng_chain(void)
{
	vdesc[0] = (struct vdesc){VQ_BUF, 16, VD_WRITE, 0};
}

static void console_chain(void)
{
	*(volatile char *)VQ_BUF = '.';
	vdesc[0] = (struct vdesc){VQ_BUF, 1, 0, 0};
}

/* One 64 MiB buffer, BIG_DESCS times in one chain at head 0. */
static void console_big_chain(void)
{
	for (uint16_t i = 0; i < BIG_DESCS; i++)
		vdesc[i] = (struct vdesc){BIG_BUF, BIG_LEN, i + 1 < BIG_DESCS ? VD_NEXT : 0, i + 1};
}

static void device(unsigned int slot, const char *dev, uint16_t q, void (*chain)(void))
{
	devices++;
	setup(q, VQ_SIZE);
	chain();
	post_head0(q, VQ_SIZE);
	expect_refused(dev, slot, "head 0 in every avail entry");
	if (chain == console_chain) {
		setup(q, CON_QSIZE);
		console_big_chain();
		post_head0(q, 1);
		expect_refused(dev, slot, "one 64 MiB buffer 63 times in a chain");
		setup(q, CON_QSIZE);
		console_big_chain();
		post_head0(q, CON_QSIZE);
		expect_refused(dev, slot, "that chain in all 128 avail entries");
	}
	expect_recovered(dev, slot, q, chain);
}

int main(const char *cmdline)
{
	(void)cmdline;
	for (unsigned int slot = 1; slot < 8; slot++) {
		if (!virtio_find(slot, 2))
			device(slot, "virtio-blk", 0, blk_chain);
		else if (!virtio_find(slot, 4))
			device(slot, "virtio-rng", 0, rng_chain);
		else if (!virtio_find(slot, 3))
			device(slot, "virtio-console", 1, console_chain); /* queue 1: transmit */
	}
	if (!devices) {
		rt_printf("virtio-repeat: no virtio-blk, -rng or -console on bus 0\n");
		return 1;
	}
	rt_printf("virtio-repeat: %u of %u cases refused, %s\n", refused, cases,
		  recovered == devices ? "every device recovered" : "a device did NOT recover");
	return refused == cases && recovered == devices ? 0 : 1;
}
