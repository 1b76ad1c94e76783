/*
 * virtio-net-bad: a hostile virtio-net driver. Run with `dejavm --net tap=NAME,ip=10.77.0.1,...`
 * (tests/net_linux.py does, in a network namespace): it finds the virtio-net at 00:01.0, sets up
 * the receive (0) and transmit (1) queues and submits malformed chains:
 *   transmit: a device-writable buffer in the chain, a chain shorter than the 12-byte header, a
 *             frame of 70000 bytes;
 *   receive:  a device-readable buffer, a buffer shorter than the header, a buffer too small for
 *             the frame that arrives.
 * Each must come back in the used ring with length 0 and the device must not need a reset. Then
 * it sends ARP requests for 10.77.0.1 until a reply arrives in one of the good receive buffers,
 * with a zeroed virtio_net_hdr (num_buffers 1). Prints one line per case and
 * "virtio-net-bad: N of N cases held"; exits 0 when all held, else 1. Interrupts stay disabled:
 * the guest polls the used rings, and notifies the receive queue while it waits (in
 * deterministic mode the device reads the tap only at such exits).
 */
#include "rt.h"
#include "virtio.h"

#define TXQ_RING  (VQ_RING + 0x4000) /* desc, avail +0x1000, used +0x2000 */
#define RX_BUFS	  VQ_BUF	     /* 8 x 2 KiB */
#define TX_BUFS	  (VQ_BUF + 0x4000)
#define BIG_FRAME 0x300000UL /* 70000 bytes */
#define HDR	  12
#define WAIT	  200000

static struct vdesc *const txdesc = (struct vdesc *)TXQ_RING;
static volatile uint16_t *const txavail = (volatile uint16_t *)(TXQ_RING + 0x1000);
static volatile uint16_t *const txused = (volatile uint16_t *)(TXQ_RING + 0x2000);
static uint8_t mac[6];

static int mem_eq(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;

	while (n--)
		if (*p++ != *q++)
			return 0;
	return 1;
}
static uint16_t tx_idx, rx_idx;

static void setup(void)
{
	virtio_negotiate(0x7000, 1u << 5 | 1u << 16); /* MAC, STATUS; both queues' rings */
	virtio_queue(0, VQ_RING, VQ_RING);
	virtio_queue(1, TXQ_RING, TXQ_RING);
	virtio_driver_ok();
	for (int i = 0; i < 6; i++)
		mac[i] = vr8(VC_DEVCFG + i);
}

/* Waits (exiting: a notification and a test-device access per round) until *idx reaches want. */
static int wait_used(volatile uint16_t *used, uint16_t want, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		if ((uint16_t)(used[1] - want) < 0x8000)
			return 1;
		vw16(VC_NOTIFY, 0); /* the receive queue: the device looks at the tap */
		outl(RT_PORT_TESTDEV, i);
	}
	return 0;
}

/* One transmit chain of n descriptors from txdesc[0]; its used length, or -1 if none came. */
static long transmit(unsigned int n)
{
	for (unsigned int i = 0; i + 1 < n; i++) {
		txdesc[i].flags |= VD_NEXT;
		txdesc[i].next = i + 1;
	}
	txavail[2 + tx_idx % VQ_SIZE] = 0;
	txavail[1] = ++tx_idx;
	vw16(VC_NOTIFY + 4, 1);
	if (!wait_used(txused, tx_idx, WAIT))
		return -1;
	return vused_at(TXQ_RING, tx_idx - 1)->len;
}

static int held(const char *what, int ok)
{
	int reset = vr8(VC_STATUS) & VS_NEEDS_RESET;

	rt_printf("virtio-net-bad: %s: %s%s\n", what, ok && !reset ? "held" : "FAILED",
		  reset ? " (device needs reset)" : "");
	return ok && !reset;
}

static void arp_request(void)
{
	uint8_t *f = (uint8_t *)TX_BUFS;
	static const uint8_t tail[] = {0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1};

	memset(f, 0, HDR + 42);
	memset(f + HDR, 0xff, 6);
	memcpy(f + HDR + 6, mac, 6);
	memcpy(f + HDR + 12, tail, sizeof(tail));
	memcpy(f + HDR + 22, mac, 6);
	memcpy(f + HDR + 28, "\x0a\x4d\x00\x02", 4); /* 10.77.0.2 */
	memcpy(f + HDR + 38, "\x0a\x4d\x00\x01", 4); /* 10.77.0.1 */
	txdesc[0] = (struct vdesc){TX_BUFS, HDR + 42, 0, 0};
	transmit(1);
}

static void post_rx(uint16_t id, uint32_t len, uint16_t flags)
{
	vdesc[id] = (struct vdesc){RX_BUFS + id * 0x800, len, flags, 0};
	vavail[2 + rx_idx % VQ_SIZE] = id;
	vavail[1] = ++rx_idx;
}

/* A used receive entry holding an ARP reply from 10.77.0.1 to us, with a proper header. */
static int arp_reply(uint16_t i)
{
	uint16_t id = vused_at(VQ_RING, i)->id;
	uint32_t len = vused_at(VQ_RING, i)->len;
	const uint8_t *b = (const uint8_t *)(RX_BUFS + id * 0x800);
	static const uint8_t hdr[HDR] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};

	return id >= 3 && len >= HDR + 42 && mem_eq(b, hdr, HDR) && mem_eq(b + HDR, mac, 6) &&
	       b[HDR + 12] == 8 && b[HDR + 13] == 6 && b[HDR + 21] == 2 &&
	       mem_eq(b + HDR + 28, "\x0a\x4d\x00\x01", 4);
}

int main(const char *cmdline)
{
	int ok = 0, cases = 0, got = 0;
	uint32_t bad_len[3] = {~0u, ~0u, ~0u};
	uint16_t seen = 0;
	long r;

	(void)cmdline;
	if (virtio_find(1, 1)) {
		rt_printf("virtio-net-bad: no virtio-net at 00:01.0 (run with --net tap=...)\n");
		return 1;
	}
	setup();
	rt_printf("virtio-net-bad: mac %x:%x:%x:%x:%x:%x\n", mac[0], mac[1], mac[2], mac[3], mac[4],
		  mac[5]);

	/* Transmit: a device-writable buffer in the chain */
	memset((void *)TX_BUFS, 0, HDR + 60);
	txdesc[0] = (struct vdesc){TX_BUFS, HDR + 60, 0, 0};
	txdesc[1] = (struct vdesc){TX_BUFS + 0x400, 16, VD_WRITE, 0};
	r = transmit(2);
	ok += held("transmit chain with a device-writable buffer", r == 0), cases++;

	txdesc[0] = (struct vdesc){TX_BUFS, 8, 0, 0};
	r = transmit(1);
	ok += held("transmit chain shorter than the header", r == 0), cases++;

	memset((void *)BIG_FRAME, 0, 70000);
	txdesc[0] = (struct vdesc){BIG_FRAME, 70000, 0, 0};
	r = transmit(1);
	ok += held("transmit frame of 70000 bytes", r == 0), cases++;

	/* Receive: three bad buffers first, then good ones */
	post_rx(0, 1526, 0);
	post_rx(1, 8, VD_WRITE);
	post_rx(2, HDR + 20, VD_WRITE);
	for (uint16_t id = 3; id < VQ_SIZE; id++)
		post_rx(id, 1526, VD_WRITE);
	vw16(VC_NOTIFY, 0);
	/* Every frame that arrives is looked at; the good buffers are given back for the next. */
	for (int tries = 0; tries < 10 && !got; tries++) {
		arp_request();
		while (!got && wait_used(vused, seen + 1, WAIT / 10)) {
			if (seen < 3)
				bad_len[seen] = vused_at(VQ_RING, seen)->len;
			else if (!(got = arp_reply(seen)))
				post_rx(vused_at(VQ_RING, seen)->id, 1526, VD_WRITE),
					vw16(VC_NOTIFY, 0);
			seen++;
		}
	}
	cases += 4;
	ok += held("receive chain with a device-readable buffer", bad_len[0] == 0);
	ok += held("receive buffer shorter than the header", bad_len[1] == 0);
	ok += held("receive buffer too small for the frame", bad_len[2] == 0);
	ok += held("an ARP reply in a good buffer afterwards", got);

	rt_printf("virtio-net-bad: %d of %d cases held\n", ok, cases);
	return ok == cases ? 0 : 1;
}
