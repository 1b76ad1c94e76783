/*
 * pci-msix: MSI-X masking and enabling as PCI 3.0 6.8.2 has them, and Bus Master Enable. Run
 * with `--rng src=...` in normal mode (deterministic mode has no MSI-X): the virtio-rng at
 * 00:01.0 signals its queue on table entry 0 (vector 0x50) and configuration changes on entry 1
 * (vector 0x51), both to the local APIC; the guest keeps interrupts disabled and looks for the
 * vector in the APIC's IRR, then takes it. A masked vector (per-vector Mask or Function Mask)
 * sets its pending bit and is sent when unmasked, but only while MSI-X is enabled: clearing
 * MSI-X Enable leaves pending bits as they are (the device interrupts through INTx meanwhile),
 * and enabling it again sends them. With Bus Master Enable clear no message is sent (the
 * request waits for BME; a message due meanwhile is lost, as on QEMU). `machine=1`: machine
 * version 1 (`--machine-version 1`), which ignored BME. Prints one line per case and
 * "pci-msix: N of N cases held"; exits 0 when all held. See docs/guest-abi.md.
 */
#include "rt.h"
#include "virtio.h"

#define SLOT	 1
#define QVEC	 0x50 /* table entry 0: queue 0 */
#define CVEC	 0x51 /* table entry 1: configuration */
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_IRR 0x200

#define MC_ENABLE  0x8000u
#define MC_MASKALL 0x4000u

static unsigned int cap;
static uintptr_t table, pba;
static volatile unsigned int taken[256];
static uint16_t avail_idx;
static int v1;

static void on_vector(struct rt_frame *f)
{
	taken[f->vector]++;
	mmio_write32(RT_LAPIC_BASE + APIC_EOI, 0);
}

static int irr(unsigned int vec)
{
	return (mmio_read32(RT_LAPIC_BASE + APIC_IRR + 0x10 * (vec / 32)) >> (vec % 32)) & 1;
}

/* Whether vec shows up in the IRR within `loops` looks (an exit between them). */
static int arrives(unsigned int vec, unsigned long loops)
{
	for (unsigned long i = 0; i < loops; i++) {
		if (irr(vec))
			return 1;
		inl(RT_PORT_TESTDEV);
	}
	return 0;
}

#define NEGATIVE_LOOPS 2000
#define POSITIVE_LOOPS 200000

/*
 * Takes the pending interrupts and returns vec's count. KVM injects at an entry, and on the
 * PVM hosts ring-0 code runs emulated between exits: IF must be set across an exit.
 */
static unsigned int take(unsigned int vec)
{
	unsigned int before = taken[vec];

	rt_sti();
	for (int i = 0; i < 1000 && taken[vec] == before; i++)
		inl(RT_PORT_TESTDEV);
	rt_cli();
	return taken[vec];
}

static uint16_t control(void)
{
	return pci_read16(SLOT, cap + 2);
}

static void set_control(uint16_t set, uint16_t clear)
{
	pci_write16(SLOT, cap + 2, (control() & ~clear) | set);
}

static void entry_mask(unsigned int e, int masked)
{
	mmio_write32(table + 16 * e + 12, masked);
}

static int pending(unsigned int e)
{
	return (mmio_read32(pba) >> e) & 1;
}

/* One entropy request; served at its notification (virtio-rng has no I/O thread). */
static int request(void)
{
	vdesc[0] = (struct vdesc){VQ_BUF, 16, VD_WRITE, 0};
	virtio_submit(0, ++avail_idx);
	return vused[1] == avail_idx;
}

static void bus_master(int on)
{
	pci_command(SLOT, on ? PCI_CMD_MASTER : 0, on ? 0 : PCI_CMD_MASTER);
}

static int report(const char *what, int ok)
{
	rt_printf("pci-msix: %s: %s (control 0x%x, pba 0x%x, irr 0x%x/0x%x)\n", what,
		  ok ? "held" : "FAILED", control(), mmio_read32(pba), irr(QVEC), irr(CVEC));
	return ok;
}

/* Delivered now: in the IRR, then taken once. */
static int delivered(unsigned int vec)
{
	unsigned int before = taken[vec];

	return arrives(vec, POSITIVE_LOOPS) && take(vec) == before + 1;
}

int main(const char *cmdline)
{
	int held = 0, cases = 0, ok;
	uint32_t t, p;

	v1 = rt_arg_ulong(cmdline, "machine", 2) == 1;
	if (virtio_find(SLOT, 4)) {
		rt_printf("pci-msix: no virtio-rng at 00:01.0 (run with --rng src=...)\n");
		return 1;
	}
	cap = pci_cap_next(SLOT, 0x11, 0);
	if (!cap) {
		rt_printf("pci-msix: no MSI-X capability (deterministic mode has none)\n");
		return 1;
	}
	t = pci_read32(SLOT, cap + 4);
	p = pci_read32(SLOT, cap + 8);
	if ((t & 7) || (p & 7)) {
		rt_printf("pci-msix: table or PBA not in BAR 0\n");
		return 1;
	}
	table = vbar + (t & ~7u);
	pba = vbar + (p & ~7u);

	rt_idt_set(QVEC, on_vector);
	rt_idt_set(CVEC, on_vector);
	mmio_write32(RT_LAPIC_BASE + APIC_SVR, 0x1ff); /* software-enabled, spurious 0xff */
	for (unsigned int e = 0; e < 2; e++) {
		mmio_write32(table + 16 * e, 0xfee00000u); /* APIC ID 0, fixed, edge */
		mmio_write32(table + 16 * e + 4, 0);
		mmio_write32(table + 16 * e + 8, e ? CVEC : QVEC);
		entry_mask(e, 0);
	}
	virtio_negotiate(0x3000, 0);
	vw16(VC_MSIX, 1);
	virtio_queue(0, VQ_RING, VQ_RING);
	vw16(VC_QSEL, 0);
	vw16(VC_QMSIX, 0);
	if (vr16(VC_MSIX) != 1 || vr16(VC_QMSIX) != 0)
		rt_printf("pci-msix: vectors not taken: config %u, queue %u\n", vr16(VC_MSIX),
			  vr16(VC_QMSIX));
	virtio_driver_ok();
	set_control(MC_ENABLE, MC_MASKALL);

	/* 1: enabled and unmasked: sent at once */
	request();
	held += report("unmasked vector sent", delivered(QVEC) && !pending(0)), cases++;

	/* 2: per-vector mask: pending, sent when unmasked */
	entry_mask(0, 1);
	ok = request() && !arrives(QVEC, NEGATIVE_LOOPS) && pending(0);
	held += report("masked vector pends", ok), cases++;
	entry_mask(0, 0);
	held += report("unmasked: sent, pending bit cleared", delivered(QVEC) && !pending(0)),
		cases++;

	/* 3: Function Mask: the same for every vector */
	set_control(MC_MASKALL, 0);
	ok = request() && !arrives(QVEC, NEGATIVE_LOOPS) && pending(0);
	held += report("function mask holds the vector", ok), cases++;
	set_control(0, MC_MASKALL);
	held += report("function mask cleared: sent", delivered(QVEC) && !pending(0)), cases++;

	/* 4: MSI-X disabled while a vector pends under Function Mask: nothing is sent */
	set_control(MC_MASKALL, 0);
	request();
	set_control(0, MC_ENABLE | MC_MASKALL);
	ok = !arrives(QVEC, NEGATIVE_LOOPS) && pending(0);
	held += report("disabled with function mask cleared: not sent, still pending", ok), cases++;
	ok = request() && vr8(VC_ISR) == 1 && !arrives(QVEC, NEGATIVE_LOOPS);
	held += report("disabled: the device interrupts through INTx", ok), cases++;
	set_control(MC_ENABLE, 0);
	held += report("enabled again: the pending vector is sent", delivered(QVEC) && !pending(0)),
		cases++;

	/* 5: a vector unmasked while MSI-X is disabled is not sent either */
	entry_mask(0, 1);
	request();
	set_control(0, MC_ENABLE);
	entry_mask(0, 0);
	ok = !arrives(QVEC, NEGATIVE_LOOPS) && pending(0);
	held += report("unmasked while disabled: not sent, still pending", ok), cases++;
	vr8(VC_ISR);
	set_control(MC_ENABLE, 0);
	held += report("enabled again: sent", delivered(QVEC) && !pending(0)), cases++;

	/* 6: Bus Master Enable clear: no DMA and no message until it is set again */
	bus_master(0);
	if (v1) {
		ok = request() && delivered(QVEC);
	} else {
		ok = !request() && !arrives(QVEC, NEGATIVE_LOOPS);
		bus_master(1);
		ok = ok && vused[1] == avail_idx && delivered(QVEC);
	}
	held += report(v1 ? "bus master clear: served and sent (version 1)"
			  : "bus master clear: served and sent once it is set",
		       ok),
		cases++;
	bus_master(1);

	/* 7: a pending vector unmasked while BME is clear: the message goes nowhere */
	entry_mask(0, 1);
	request();
	bus_master(0);
	entry_mask(0, 0);
	if (v1) {
		ok = delivered(QVEC) && !pending(0);
	} else {
		ok = !arrives(QVEC, NEGATIVE_LOOPS) && !pending(0);
		bus_master(1);
		ok = ok && !arrives(QVEC, NEGATIVE_LOOPS);
	}
	held += report(v1 ? "unmasked with bus master clear: sent (version 1)"
			  : "unmasked with bus master clear: lost, as on QEMU",
		       ok),
		cases++;
	bus_master(1);

	/* 8: a configuration interrupt (DEVICE_NEEDS_RESET) with BME clear is not sent */
	vw8(VC_STATUS, 0);
	vw8(VC_STATUS, VS_ACK | VS_DRIVER);
	vw16(VC_MSIX, 1);
	bus_master(0);
	vw16(VC_QSEL, 0);
	vw32(VC_QDESC, VQ_RAM_END); /* outside RAM: refused when the queue is enabled */
	vw16(VC_QEN, 1);
	ok = (vr8(VC_STATUS) & VS_NEEDS_RESET) &&
	     arrives(CVEC, v1 ? POSITIVE_LOOPS : NEGATIVE_LOOPS) == v1;
	held += report(v1 ? "needs-reset with bus master clear: sent (version 1)"
			  : "needs-reset with bus master clear: not sent",
		       ok),
		cases++;
	bus_master(1);
	if (v1)
		take(CVEC);

	rt_printf("pci-msix: %d of %d cases held\n", held, cases);
	return held == cases ? 0 : 1;
}
