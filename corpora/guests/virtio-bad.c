/*
 * virtio-bad: a hostile virtio driver. Run with `dejavm --rng src=/dev/urandom`: it finds the
 * virtio-rng at 00:01.0 through config space, and for each malformed case below sets the
 * device up, submits the bad ring or chain, notifies, and checks that the device answered with
 * DEVICE_NEEDS_RESET (status bit 0x40) and a configuration interrupt status (ISR bit 1). Then
 * a well-formed request must work after a reset. Prints one line per case and
 * "virtio-bad: N of N cases reported, device recovered"; exits 0 when all held, else 1.
 * Interrupts stay disabled: the guest polls ISR and the used ring. See docs/guest-abi.md.
 */
#include "rt.h"
#include "virtio.h"

/* The device must have said "needs reset" and raised a configuration interrupt. */
static int reported(const char *what)
{
	uint8_t status = vr8(VC_STATUS), isr = vr8(VC_ISR);
	int ok = (status & VS_NEEDS_RESET) && (isr & 2);

	rt_printf("virtio-bad: %s: %s (status 0x%x, isr 0x%x)\n", what,
		  ok ? "reported" : "NOT REPORTED", status, isr);
	return ok;
}

int main(const char *cmdline)
{
	int ok = 0, cases = 0;

	(void)cmdline;
	if (virtio_find(1, 4)) {
		rt_printf("virtio-bad: no virtio-rng at 00:01.0 (run with --rng src=...)\n");
		return 1;
	}
	if (vr16(VC_NUMQ) != 1)
		rt_printf("virtio-bad: num_queues %u, expected 1\n", vr16(VC_NUMQ));

	/* 1: a buffer outside guest RAM */
	virtio_setup(VQ_RING, 0);
	vdesc[0] = (struct vdesc){VQ_RAM_END + 0x1000, 64, VD_WRITE, 0};
	virtio_submit(0, 1);
	ok += reported("buffer outside guest memory"), cases++;

	/* 2: a loop: 0 -> 1 -> 0 */
	virtio_setup(VQ_RING, 0);
	vdesc[0] = (struct vdesc){VQ_BUF, 16, VD_WRITE | VD_NEXT, 1};
	vdesc[1] = (struct vdesc){VQ_BUF + 16, 16, VD_WRITE | VD_NEXT, 0};
	virtio_submit(0, 1);
	ok += reported("descriptor loop"), cases++;

	/* 3: next beyond the queue */
	virtio_setup(VQ_RING, 0);
	vdesc[0] = (struct vdesc){VQ_BUF, 16, VD_WRITE | VD_NEXT, 100};
	virtio_submit(0, 1);
	ok += reported("next index beyond the queue"), cases++;

	/* 4: an absurd length that runs past RAM */
	virtio_setup(VQ_RING, 0);
	vdesc[0] = (struct vdesc){VQ_BUF, 0xffffffffu, VD_WRITE, 0};
	virtio_submit(0, 1);
	ok += reported("absurd length"), cases++;

	/* 5: an indirect table the driver did not negotiate */
	virtio_setup(VQ_RING, 0);
	vdesc[0] = (struct vdesc){VQ_BUF, 32, VD_INDIRECT, 0};
	virtio_submit(0, 1);
	ok += reported("indirect descriptor not negotiated"), cases++;

	/* 6: the avail index jumps by more than the queue size */
	virtio_setup(VQ_RING, 0);
	vdesc[0] = (struct vdesc){VQ_BUF, 16, VD_WRITE, 0};
	virtio_submit(0, 100);
	ok += reported("avail index jumps by 100"), cases++;

	/* 7: a device-readable buffer after a device-writable one */
	virtio_setup(VQ_RING, 0);
	vdesc[0] = (struct vdesc){VQ_BUF, 16, VD_WRITE | VD_NEXT, 1};
	vdesc[1] = (struct vdesc){VQ_BUF + 16, 16, 0, 0};
	virtio_submit(0, 1);
	ok += reported("readable after writable"), cases++;

	/* 8: a descriptor table outside guest RAM (refused when the queue is enabled) */
	virtio_setup(VQ_RAM_END - 64, 0);
	ok += reported("descriptor table outside guest memory"), cases++;

	/* 9: writes to read-only registers change nothing */
	virtio_setup(VQ_RING, 0);
	vw16(VC_NUMQ, 7);
	vw32(VC_DF, 0xffffffffu);
	cases++;
	if (vr16(VC_NUMQ) == 1 && !(vr8(VC_STATUS) & VS_NEEDS_RESET)) {
		ok++;
		rt_printf("virtio-bad: writes to read-only fields: ignored\n");
	} else {
		rt_printf("virtio-bad: writes to read-only fields: NOT IGNORED\n");
	}

	/* After a reset, a well-formed request gets its bytes. */
	virtio_setup(VQ_RING, 0);
	memset((void *)VQ_BUF, 0, 64);
	vdesc[0] = (struct vdesc){VQ_BUF, 64, VD_WRITE, 0};
	virtio_submit(0, 1);
	int recovered = vused[1] == 1 && !(vr8(VC_STATUS) & VS_NEEDS_RESET);

	rt_printf("virtio-bad: %d of %d cases reported, device %s\n", ok, cases,
		  recovered ? "recovered" : "did NOT recover");
	return ok == cases && recovered ? 0 : 1;
}
