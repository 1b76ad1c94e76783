/*
 * virtio-wide-access: access widths in the virtio-pci common configuration (virtio 1.x
 * 4.1.3.1). Run with `--rng src=...`, in either mode. The 64-bit fields queue_desc,
 * queue_driver and queue_device take one 8-byte access whole (as the Rust virtio-drivers crate
 * makes them), as well as two 4-byte ones; an 8-byte address above 4 GiB must not lose its
 * upper half (here it is outside RAM, so enabling the queue must fail). Accesses of a width the
 * spec forbids (a field at that offset is not that wide, or an 8-byte access that does not
 * cover a 64-bit field) do nothing: a write changes no field, a read gives 0. Prints one line
 * per case and "virtio-wide-access: N of N cases held"; exits 0 when all held. See
 * docs/guest-abi.md.
 */
#include "rt.h"
#include "virtio.h"

#define HIGH_DESC 0x100200000ULL /* 4 GiB + 2 MiB: outside the guest's 64 MiB */

static int held, cases;

static void check(const char *what, int ok)
{
	rt_printf("virtio-wide-access: %s: %s\n", what, ok ? "held" : "FAILED");
	held += ok;
	cases++;
}

/* A fresh device in DRIVER state with queue 0 selected. */
static void fresh(void)
{
	virtio_negotiate(0x3000, 0);
	vw16(VC_QSEL, 0);
}

static void wide_read_back(const char *what, unsigned int off, uint64_t v)
{
	uint64_t whole = vr64_whole(off);
	uint32_t lo = vr32(off), hi = vr32(off + 4);

	rt_printf("virtio-wide-access: %s reads 0x%lx (halves 0x%x 0x%x)\n", what, whole, hi, lo);
	check(what, whole == v && lo == (uint32_t)v && hi == (uint32_t)(v >> 32));
}

int main(const char *cmdline)
{
	uint64_t desc, avail, used;

	(void)cmdline;
	if (virtio_find(1, 4)) {
		rt_printf(
			"virtio-wide-access: no virtio-rng at 00:01.0 (run with --rng src=...)\n");
		return 1;
	}

	/* 1: an 8-byte store above 4 GiB keeps both halves, and the device uses all of it */
	fresh();
	vw64_whole(VC_QDESC, HIGH_DESC);
	wide_read_back("queue_desc after an 8-byte store above 4 GiB", VC_QDESC, HIGH_DESC);
	vw64_whole(VC_QAVAIL, VQ_RING + 0x1000);
	vw64_whole(VC_QUSED, VQ_RING + 0x2000);
	vw16(VC_QEN, 1);
	check("a ring above RAM is refused when the queue is enabled",
	      (vr8(VC_STATUS) & VS_NEEDS_RESET) && !vr16(VC_QEN));

	/* 2: the three fields set with 8-byte stores: the queue works */
	fresh();
	desc = VQ_RING, avail = VQ_RING + 0x1000, used = VQ_RING + 0x2000;
	vw64_whole(VC_QDESC, desc | 0xffffffff00000000ULL); /* overwritten whole below */
	vw64_whole(VC_QDESC, desc);
	vw64_whole(VC_QAVAIL, avail);
	vw64_whole(VC_QUSED, used);
	wide_read_back("queue_desc", VC_QDESC, desc);
	wide_read_back("queue_driver", VC_QAVAIL, avail);
	wide_read_back("queue_device", VC_QUSED, used);
	vw16(VC_QSZ, VQ_SIZE);
	vw16(VC_QEN, 1);
	virtio_driver_ok();
	vdesc[0] = (struct vdesc){VQ_BUF, 16, VD_WRITE, 0};
	virtio_submit(0, 1);
	check("a queue set up with 8-byte stores serves a request",
	      vused[1] == 1 && !(vr8(VC_STATUS) & VS_NEEDS_RESET));

	/* 3: an 8-byte access that does not start a 64-bit field does nothing */
	fresh();
	vw32(VC_QDESC, 0x1000);
	vw32(VC_QDESC + 4, 0);
	vw32(VC_QAVAIL, 0x2000);
	vw64_whole(VC_QDESC + 4, 0x0000300000000004ULL); /* desc's upper and driver's lower half */
	check("an 8-byte store across two fields changes neither",
	      vr32(VC_QDESC + 4) == 0 && vr32(VC_QAVAIL) == 0x2000);
	check("an 8-byte read across two fields reads 0", vr64_whole(VC_QDESC + 4) == 0);
	vw64_whole(VC_DFSEL, 0x0000000100000001ULL);
	check("an 8-byte store on device_feature_select (32-bit) does nothing",
	      vr32(VC_DFSEL) == 0);
	check("an 8-byte read of device_feature_select reads 0", vr64_whole(VC_DFSEL) == 0);

	/* 4: narrower or wider than the field */
	vw8(VC_QSEL, 3);
	check("a 1-byte store on queue_select (16-bit) does nothing", vr16(VC_QSEL) == 0);
	uint16_t size = vr16(VC_QSZ);

	vw32(VC_QSEL, 0x00040003u);
	check("a 4-byte store on queue_select and queue_size changes neither",
	      vr16(VC_QSEL) == 0 && vr16(VC_QSZ) == size);
	vw32(VC_DFSEL, 1); /* device_feature: VIRTIO_F_VERSION_1, bit 0 of the upper word */
	check("a 2-byte read of device_feature (32-bit) reads 0",
	      vr16(VC_DF) == 0 && vr32(VC_DF) == 1);
	check("a 4-byte read from device_status (8-bit) reads 0",
	      vr32(VC_STATUS) == 0 && vr8(VC_STATUS) == (VS_ACK | VS_DRIVER | VS_FEATURES_OK));
	vw8(VC_STATUS, 0);
	vw8(VC_STATUS, VS_ACK | VS_DRIVER); /* driver_feature is writable until FEATURES_OK */
	vw32(VC_GFSEL, 0);
	vw16(VC_GF, 0xffff);
	check("a 2-byte store on driver_feature (32-bit) does nothing", vr32(VC_GF) == 0);

	/* 5: the natural widths still work, and the device serves requests after all this */
	fresh();
	virtio_queue(0, VQ_RING, VQ_RING);
	virtio_driver_ok();
	vdesc[0] = (struct vdesc){VQ_BUF, 16, VD_WRITE, 0};
	virtio_submit(0, 1);
	check("natural widths: a request is served",
	      vused[1] == 1 && !(vr8(VC_STATUS) & VS_NEEDS_RESET));

	rt_printf("virtio-wide-access: %d of %d cases held\n", held, cases);
	return held == cases ? 0 : 1;
}
