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

#define PCI_ADDR(slot, off) (0x80000000u | (slot) << 11 | (off))
#define QSIZE		    8
#define RING		    0x200000UL /* desc (16*8) at +0, avail at +0x1000, used at +0x2000 */
#define BUF		    0x210000UL
#define RAM_END		    0x4000000UL /* the default 64 MiB */

/* virtio_pci_common_cfg offsets (BAR 0 + 0), ISR at +0x1000, notify at +0x3000 */
enum { DFSEL = 0, DF = 4, GFSEL = 8, GF = 12, NUMQ = 18, STATUS = 20, QSEL = 22, QSZ = 24,
       QEN = 28, QDESC = 32, QAVAIL = 40, QUSED = 48 };
enum { ACK = 1, DRIVER = 2, DRIVER_OK = 4, FEATURES_OK = 8, NEEDS_RESET = 0x40 };
enum { F_NEXT = 1, F_WRITE = 2, F_INDIRECT = 4 };

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static uintptr_t bar;

static void w8(unsigned int off, uint8_t v) { *(volatile uint8_t *)(bar + off) = v; }
static void w16(unsigned int off, uint16_t v) { *(volatile uint16_t *)(bar + off) = v; }
static void w32(unsigned int off, uint32_t v) { *(volatile uint32_t *)(bar + off) = v; }
static uint8_t r8(unsigned int off) { return *(volatile uint8_t *)(bar + off); }
static uint16_t r16(unsigned int off) { return *(volatile uint16_t *)(bar + off); }

static void w64(unsigned int off, uint64_t v)
{
	w32(off, (uint32_t)v);
	w32(off + 4, (uint32_t)(v >> 32));
}

static struct desc *const desc = (struct desc *)RING;
static volatile uint16_t *const avail = (volatile uint16_t *)(RING + 0x1000); /* flags, idx, ring */
static volatile uint16_t *const used = (volatile uint16_t *)(RING + 0x2000);  /* flags, idx, ... */

/* Reset, negotiate VERSION_1 only, and set up queue 0 at desc_at (the rest at RING). */
static void setup(uint64_t desc_at)
{
	w8(STATUS, 0);
	memset((void *)RING, 0, 0x3000);
	w8(STATUS, ACK | DRIVER);
	w32(GFSEL, 1);
	w32(GF, 1); /* VIRTIO_F_VERSION_1 (bit 32) */
	w32(GFSEL, 0);
	w32(GF, 0);
	w8(STATUS, ACK | DRIVER | FEATURES_OK);
	w16(QSEL, 0);
	w16(QSZ, QSIZE);
	w64(QDESC, desc_at);
	w64(QAVAIL, RING + 0x1000);
	w64(QUSED, RING + 0x2000);
	w16(QEN, 1);
	w8(STATUS, ACK | DRIVER | FEATURES_OK | DRIVER_OK);
}

/* Puts head at avail slot 0, moves avail idx to idx, notifies queue 0. */
static void submit(uint16_t head, uint16_t idx)
{
	avail[2] = head;
	avail[1] = idx;
	w16(0x3000, 0);
}

/* The device must have said "needs reset" and raised a configuration interrupt. */
static int reported(const char *what)
{
	uint8_t status = r8(STATUS), isr = r8(0x1000);
	int ok = (status & NEEDS_RESET) && (isr & 2);

	rt_printf("virtio-bad: %s: %s (status 0x%x, isr 0x%x)\n", what,
		  ok ? "reported" : "NOT REPORTED", status, isr);
	return ok;
}

int main(const char *cmdline)
{
	int ok = 0, cases = 0;

	(void)cmdline;
	outl(0xcf8, PCI_ADDR(1, 0));
	if (inl(0xcfc) != 0x10441af4) {
		rt_printf("virtio-bad: no virtio-rng at 00:01.0 (run with --rng src=...)\n");
		return 1;
	}
	outl(0xcf8, PCI_ADDR(1, 0x10));
	bar = inl(0xcfc) & ~0xfu;
	if (r16(NUMQ) != 1)
		rt_printf("virtio-bad: num_queues %u, expected 1\n", r16(NUMQ));

	/* 1: a buffer outside guest RAM */
	setup(RING);
	desc[0] = (struct desc){ RAM_END + 0x1000, 64, F_WRITE, 0 };
	submit(0, 1);
	ok += reported("buffer outside guest memory"), cases++;

	/* 2: a loop: 0 -> 1 -> 0 */
	setup(RING);
	desc[0] = (struct desc){ BUF, 16, F_WRITE | F_NEXT, 1 };
	desc[1] = (struct desc){ BUF + 16, 16, F_WRITE | F_NEXT, 0 };
	submit(0, 1);
	ok += reported("descriptor loop"), cases++;

	/* 3: next beyond the queue */
	setup(RING);
	desc[0] = (struct desc){ BUF, 16, F_WRITE | F_NEXT, 100 };
	submit(0, 1);
	ok += reported("next index beyond the queue"), cases++;

	/* 4: an absurd length that runs past RAM */
	setup(RING);
	desc[0] = (struct desc){ BUF, 0xffffffffu, F_WRITE, 0 };
	submit(0, 1);
	ok += reported("absurd length"), cases++;

	/* 5: an indirect table the driver did not negotiate */
	setup(RING);
	desc[0] = (struct desc){ BUF, 32, F_INDIRECT, 0 };
	submit(0, 1);
	ok += reported("indirect descriptor not negotiated"), cases++;

	/* 6: the avail index jumps by more than the queue size */
	setup(RING);
	desc[0] = (struct desc){ BUF, 16, F_WRITE, 0 };
	submit(0, 100);
	ok += reported("avail index jumps by 100"), cases++;

	/* 7: a device-readable buffer after a device-writable one */
	setup(RING);
	desc[0] = (struct desc){ BUF, 16, F_WRITE | F_NEXT, 1 };
	desc[1] = (struct desc){ BUF + 16, 16, 0, 0 };
	submit(0, 1);
	ok += reported("readable after writable"), cases++;

	/* 8: a descriptor table outside guest RAM (refused when the queue is enabled) */
	setup(RAM_END - 64);
	ok += reported("descriptor table outside guest memory"), cases++;

	/* 9: writes to read-only registers change nothing */
	setup(RING);
	w16(NUMQ, 7);
	w32(DF, 0xffffffffu);
	cases++;
	if (r16(NUMQ) == 1 && !(r8(STATUS) & NEEDS_RESET)) {
		ok++;
		rt_printf("virtio-bad: writes to read-only fields: ignored\n");
	} else {
		rt_printf("virtio-bad: writes to read-only fields: NOT IGNORED\n");
	}

	/* After a reset, a well-formed request gets its bytes. */
	setup(RING);
	memset((void *)BUF, 0, 64);
	desc[0] = (struct desc){ BUF, 64, F_WRITE, 0 };
	submit(0, 1);
	int recovered = used[1] == 1 && !(r8(STATUS) & NEEDS_RESET);

	rt_printf("virtio-bad: %d of %d cases reported, device %s\n", ok, cases,
		  recovered ? "recovered" : "did NOT recover");
	return ok == cases && recovered ? 0 : 1;
}
