/*
 * virtio-bus-master: a virtio device must not touch guest memory while its PCI COMMAND Bus
 * Master Enable is clear, and must do what was notified meanwhile once it is set again. Run
 * with `--rng src=...` or `--disk path=IMAGE` (00:01.0), in either mode. With BME clear the
 * guest submits a request and notifies: the used ring (index, entries, avail_event) and the
 * request's buffer must stay as they were, and a malformed chain must not be found out (its
 * descriptors were not read). Setting BME must then complete the request, or report the
 * malformed chain, without another notification. `machine=1`: the device is run as machine
 * version 1 (`--machine-version 1`), which ignored BME: everything happens at the notification.
 * Prints one line per case and "virtio-bus-master: N of N cases held"; exits 0 when all held.
 * Interrupts stay disabled: the guest polls the used ring. See docs/guest-abi.md.
 */
#include "rt.h"
#include "virtio.h"

#define SLOT	    1
#define F_EVENT_IDX (1u << 29)
#define ID_BUF	    (VQ_BUF + 0x100) /* what the device writes */
#define HDR_BUF	    VQ_BUF	     /* virtio-blk: the request header */
#define STATUS_BUF  (VQ_BUF + 0x200) /* virtio-blk: the status byte */
#define PATTERN	    0xa5

static int is_blk, v1;
static uint16_t avail_idx;

/* The used ring as the driver last saw it: flags, idx, 8 entries, avail_event. */
#define USED_BYTES (4 + 8 * VQ_SIZE + 2)
static uint8_t used_copy[USED_BYTES];

static int used_unchanged(void)
{
	const volatile uint8_t *u = (const volatile uint8_t *)(VQ_RING + 0x2000);

	for (int i = 0; i < USED_BYTES; i++)
		if (u[i] != used_copy[i])
			return 0;
	return 1;
}

static void used_save(void)
{
	memcpy(used_copy, (const void *)(VQ_RING + 0x2000), USED_BYTES);
}

/*
 * Polls until the used index reaches idx or the status has bit, with an exit between looks
 * (a virtio-blk I/O thread completes on its own time). Returns whether it did.
 */
static int wait_for(uint16_t idx, uint8_t bit, unsigned long loops)
{
	for (unsigned long i = 0; i < loops; i++) {
		if (vused[1] == idx || (vr8(VC_STATUS) & bit))
			return 1;
		inl(RT_PORT_TESTDEV);
	}
	return 0;
}

/* Long enough for a device that serves a notification when it should not to have done so. */
#define NEGATIVE_LOOPS 3000
#define POSITIVE_LOOPS 400000

/* A request whose buffer is at `buf`: GET_ID for virtio-blk, entropy for virtio-rng. */
static void submit(uint64_t buf)
{
	memset((void *)ID_BUF, PATTERN, 32);
	if (is_blk) {
		static const uint32_t get_id[4] = {8, 0, 0, 0}; /* VIRTIO_BLK_T_GET_ID */

		memcpy((void *)HDR_BUF, get_id, sizeof(get_id));
		*(volatile uint8_t *)STATUS_BUF = 0xff;
		vdesc[0] = (struct vdesc){HDR_BUF, 16, VD_NEXT, 1};
		vdesc[1] = (struct vdesc){buf, 20, VD_WRITE | VD_NEXT, 2};
		vdesc[2] = (struct vdesc){STATUS_BUF, 1, VD_WRITE, 0};
	} else {
		vdesc[0] = (struct vdesc){buf, 16, VD_WRITE, 0};
	}
	used_save();
	virtio_submit(0, ++avail_idx);
}

static int buffer_written(void)
{
	for (int i = 0; i < 16; i++)
		if (((volatile uint8_t *)ID_BUF)[i] != PATTERN)
			return 1;
	return 0;
}

static int report(const char *what, int ok)
{
	rt_printf("virtio-bus-master: %s: %s (used idx %u, status 0x%x)\n", what,
		  ok ? "held" : "FAILED", vused[1], vr8(VC_STATUS));
	return ok;
}

static void bus_master(int on)
{
	pci_command(SLOT, on ? PCI_CMD_MASTER : 0, on ? 0 : PCI_CMD_MASTER);
}

int main(const char *cmdline)
{
	int held = 0, cases = 0, ok;

	v1 = rt_arg_ulong(cmdline, "machine", 2) == 1;
	if (!virtio_find(SLOT, 2))
		is_blk = 1;
	else if (virtio_find(SLOT, 4)) {
		rt_printf("virtio-bus-master: no virtio-blk or virtio-rng at 00:01.0\n");
		return 1;
	}
	virtio_setup(VQ_RING, F_EVENT_IDX);

	/* 1: with BME set (virtio_find), a request is served at its notification */
	submit(ID_BUF);
	ok = wait_for(avail_idx, 0, POSITIVE_LOOPS) && buffer_written();
	held += report("served with bus mastering on", ok), cases++;
	vr8(VC_ISR); /* acknowledges the interrupt (INTx) */

	/* 2: BME clear: the notification moves nothing in memory */
	bus_master(0);
	submit(ID_BUF);
	if (v1)
		ok = wait_for(avail_idx, 0, POSITIVE_LOOPS) && buffer_written();
	else
		ok = !wait_for(avail_idx, 0, NEGATIVE_LOOPS) && used_unchanged() &&
		     !buffer_written() && !(vr8(VC_ISR) & 1);
	held += report(v1 ? "served with bus mastering off (version 1)"
			  : "nothing read or written with bus mastering off",
		       ok),
		cases++;

	/* 3: BME set again: the notified request is done without another notification */
	bus_master(1);
	ok = wait_for(avail_idx, 0, POSITIVE_LOOPS) && buffer_written();
	held += report("done once bus mastering is back", ok), cases++;
	vr8(VC_ISR);

	/* 4: a chain outside RAM with BME clear: not even its descriptors are read */
	bus_master(0);
	submit(VQ_RAM_END + 0x1000);
	if (v1)
		ok = wait_for(0xffff, VS_NEEDS_RESET, POSITIVE_LOOPS);
	else
		ok = !wait_for(0xffff, VS_NEEDS_RESET, NEGATIVE_LOOPS) && used_unchanged();
	held += report(v1 ? "malformed chain found with bus mastering off (version 1)"
			  : "malformed chain not read with bus mastering off",
		       ok),
		cases++;
	bus_master(1);
	ok = wait_for(0xffff, VS_NEEDS_RESET, POSITIVE_LOOPS);
	held += report("malformed chain found once bus mastering is back", ok), cases++;

	/* 5: after a reset the device works as before */
	avail_idx = 0;
	virtio_setup(VQ_RING, F_EVENT_IDX);
	submit(ID_BUF);
	ok = wait_for(avail_idx, 0, POSITIVE_LOOPS) && buffer_written() &&
	     !(vr8(VC_STATUS) & VS_NEEDS_RESET);
	held += report("served after a reset", ok), cases++;

	rt_printf("virtio-bus-master: %d of %d cases held\n", held, cases);
	return held == cases ? 0 : 1;
}
