/*
 * virtio-flood: keeps every virtio-blk, virtio-rng and virtio-console on bus 0 as busy as a
 * driver can, for `n` rounds, each device in turn in every round, each with rings of its own
 * (run with e.g. `dejavm --disk path=IMAGE (>= 8 MiB)
 * --rng src=/dev/urandom --console null`), so that a test can watch the VMM's memory meanwhile
 * (tests/bounds_test.py). mode=
 *   notify: a request and a notification, then a notification with nothing new, per round;
 *   chains: the largest chains each queue allows, the queue at the size the device offers:
 *           virtio-blk (indirect tables) every head at once, 1024-entry tables (refused with
 *           IOERR: more than seg_max), every eighth one the largest request it takes, a 4 MiB
 *           read in 126 buffers of 32 KiB; virtio-rng one chain of all 256 descriptors;
 *           virtio-console one chain of all 128, 1 MiB of output (its limit);
 *   reset:  a device reset, the whole set-up again and one request, per round.
 * Each device's turn waits until it has used what was posted. Prints
 * "virtio-flood: mode=M: R rounds on D devices, U chains used" and exits 0, or 1 when a device
 * stopped using chains (it names the device and the round).
 */
#include "rt.h"
#include "virtio.h"

#define BLK_HDR	   VQ_BUF	      /* virtio-blk's request header; its status at +0x100 */
#define SMALL_BUF  (BLK_HDR + 0x1000) /* the other devices' buffers: 4 KiB of them */
#define TABLE_GPA  0x300000UL	      /* the indirect tables: 1024 entries, 16 KiB each */
#define TABLE2_GPA 0x310000UL
#define DATA_GPA   0x400000UL /* 4 MiB that every large buffer points into */
#define SEG	   32768
#define SEGS	   126 /* virtio-blk's seg_max */
#define T_IN	   0
#define F_INDIRECT (1u << 28)

enum { NOTIFY, CHAINS, RESET };

static unsigned long used_total;

struct dev {
	unsigned int slot, type;
	uint16_t q, size, idx;
	uintptr_t bar;
	uint64_t ring; /* descriptors, avail ring at +0x1000, used ring at +0x2000 */
	struct vdesc *desc;
	volatile uint16_t *avail, *used;
};

static int starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

static int wait_used(const struct dev *d, unsigned long round)
{
	for (unsigned long spin = 0; d->used[1] != d->idx && spin < 200000000UL; spin++)
		__asm__ volatile("" : : : "memory");
	if (d->used[1] == d->idx)
		return 0;
	rt_printf("virtio-flood: 00:%02x.0 type %u stopped at round %lu (used %u, want %u, "
		  "status 0x%x)\n",
		  d->slot, d->type, round, d->used[1], d->idx, vr8(VC_STATUS));
	return -1;
}

/*
 * Queue d->q with `size` entries, from a reset; INDIRECT_DESC for virtio-blk in chains mode.
 * Only the rings' indices are cleared: the whole rings would cost milliseconds of emulated
 * stores per reset.
 */
static void setup(struct dev *d, uint16_t size, uint32_t features)
{
	vbar = d->bar;
	virtio_negotiate(0, features);
	d->avail[1] = d->used[0] = d->used[1] = 0;
	/*
	 * No interrupts (VIRTQ_AVAIL_F_NO_INTERRUPT): the guest polls, and in deterministic mode an
	 * interrupt pending while IF is clear would have every instruction single-stepped.
	 */
	d->avail[0] = 1;
	d->idx = 0;
	virtio_queue_sized(d->q, size, d->ring, d->ring);
	virtio_driver_ok();
}

/* One small valid request at head 0: a 4 KiB read, 64 bytes of entropy, 64 bytes of output. */
static void small_request(const struct dev *d)
{
	static const uint32_t hdr[4] = {T_IN, 0, 0, 0};

	if (d->type == 2) {
		memcpy((void *)BLK_HDR, hdr, sizeof(hdr));
		d->desc[0] = (struct vdesc){BLK_HDR, 16, VD_NEXT, 1};
		d->desc[1] = (struct vdesc){DATA_GPA, 4096, VD_WRITE | VD_NEXT, 2};
		d->desc[2] = (struct vdesc){BLK_HDR + 0x100, 1, VD_WRITE, 0};
	} else {
		d->desc[0] = (struct vdesc){SMALL_BUF, 64, d->type == 4 ? VD_WRITE : 0, 0};
	}
}

/* Makes heads 0..n-1 available (of a ring of size entries), and notifies. */
static void post(struct dev *d, uint16_t n, uint16_t size)
{
	vbar = d->bar;
	for (uint16_t i = 0; i < n; i++)
		d->avail[2 + (uint16_t)(d->idx + i) % size] = i;
	d->idx += n;
	d->avail[1] = d->idx;
	vw16(VC_NOTIFY + 4 * d->q, d->q);
}

/* The indirect tables of chains mode: 1024 entries (refused), and the largest request. */
static void blk_tables(void)
{
	static const uint32_t hdr[4] = {T_IN, 0, 0, 0};
	struct vdesc *t = (struct vdesc *)TABLE_GPA, *u = (struct vdesc *)TABLE2_GPA;

	memcpy((void *)BLK_HDR, hdr, sizeof(hdr));
	for (unsigned int i = 0; i < 1024; i++)
		t[i] = (struct vdesc){i ? DATA_GPA + 512 * i : BLK_HDR, i ? 512 : 16,
				      (uint16_t)((i ? VD_WRITE : 0) | (i < 1023 ? VD_NEXT : 0)),
				      (uint16_t)(i + 1)};
	t[1023] = (struct vdesc){BLK_HDR + 0x100, 1, VD_WRITE, 0};
	u[0] = (struct vdesc){BLK_HDR, 16, VD_NEXT, 1};
	for (unsigned int i = 1; i <= SEGS; i++)
		u[i] = (struct vdesc){DATA_GPA + (uint64_t)SEG * (i - 1), SEG, VD_WRITE | VD_NEXT,
				      (uint16_t)(i + 1)};
	u[SEGS + 1] = (struct vdesc){BLK_HDR + 0x100, 1, VD_WRITE, 0};
}

/* Before the first round: the queue, and the chains that every round posts again. */
static void prepare(struct dev *d, int mode)
{
	if (mode != CHAINS) {
		setup(d, VQ_SIZE, 0);
		small_request(d);
		return;
	}
	if (d->type == 2) {
		setup(d, d->size, F_INDIRECT);
		blk_tables();
		for (uint16_t i = 0; i < d->size; i++)
			d->desc[i] = (struct vdesc){i % 8 ? TABLE_GPA : TABLE2_GPA,
						    16 * (i % 8 ? 1024 : SEGS + 2), VD_INDIRECT, 0};
		return;
	}
	setup(d, d->size, 0);
	for (uint16_t i = 0; i < d->size; i++)
		d->desc[i] = (struct vdesc){
			d->type == 4 ? SMALL_BUF + 64 * (i % 64) : DATA_GPA + 8192 * (uint64_t)i,
			d->type == 4 ? 64 : 8192,
			(uint16_t)((d->type == 4 ? VD_WRITE : 0) | (i + 1 < d->size ? VD_NEXT : 0)),
			(uint16_t)(i + 1)};
}

/* One round's turn of device d; the number of chains it used, or -1. */
static long turn(struct dev *d, int mode, unsigned long round)
{
	uint16_t n = mode == CHAINS && d->type == 2 ? d->size : 1;

	if (mode == RESET) {
		setup(d, VQ_SIZE, 0);
		small_request(d);
	}
	post(d, n, mode == CHAINS ? d->size : VQ_SIZE);
	if (mode == NOTIFY)
		vw16(VC_NOTIFY + 4 * d->q, d->q); /* nothing new */
	return wait_used(d, round) ? -1 : n;
}

int main(const char *cmdline)
{
	static const char *const names[] = {"notify", "chains", "reset"};
	unsigned long rounds = rt_arg_ulong(cmdline, "n", 1000);
	const char *m = cmdline;
	struct dev devs[4];
	unsigned int ndev = 0;
	int mode = -1;

	for (; m && *m && mode < 0; m++)
		for (int k = 0; k < 3 && mode < 0; k++)
			if (starts_with(m, "mode=") && starts_with(m + 5, names[k]))
				mode = k;
	if (mode < 0) {
		rt_printf("virtio-flood: mode=notify, chains or reset\n");
		return 2;
	}
	for (unsigned int slot = 1; slot < 8 && ndev < 4; slot++)
		for (unsigned int type = 2; type <= 4; type++)
			if (!virtio_find(slot, type)) {
				struct dev *d = &devs[ndev];
				uint64_t ring = VQ_RING + 0x4000 * ndev++; /* 4 fit below VQ_BUF */

				vw16(VC_QSEL, type == 3 ? 1 : 0);
				*d = (struct dev){slot,
						  type,
						  type == 3 ? 1 : 0,
						  vr16(VC_QSZ),
						  0,
						  vbar,
						  ring,
						  (struct vdesc *)ring,
						  (volatile uint16_t *)(ring + 0x1000),
						  (volatile uint16_t *)(ring + 0x2000)};
			}
	for (unsigned int i = 0; i < ndev; i++)
		prepare(&devs[i], mode);
	for (unsigned long r = 0; r < rounds; r++)
		for (unsigned int i = 0; i < ndev; i++) {
			long n = turn(&devs[i], mode, r);

			if (n < 0)
				return 1;
			used_total += n;
		}
	rt_printf("virtio-flood: mode=%s: %lu rounds on %u devices, %lu chains used\n", names[mode],
		  rounds, ndev, used_total);
	return 0;
}
