/*
 * pci-intx: a PCI function's INTx as PCI 3.0 (6.2.2, 6.2.3) has it. Run with `--deterministic
 * --rng src=...`: the virtio-rng at 00:01.0 interrupts through its INTx line, which the VMM's
 * 8259 shows in its IRR (level-triggered). STATUS.Interrupt must show the device's interrupt
 * (virtio: ISR not 0) whatever COMMAND.Interrupt Disable says; Interrupt Disable must keep the
 * line de-asserted, and clearing it must assert a still-pending interrupt again. `machine=1`:
 * run as machine version 1 (`--machine-version 1`), where STATUS.Interrupt reads 0 and
 * Interrupt Disable changes nothing. `pic=0`: normal mode, where the line goes to KVM's IOAPIC
 * and only STATUS is checked. Prints one line per case and "pci-intx: N of N cases held"; exits
 * 0 when all held. Interrupts stay disabled in the CPU. See docs/guest-abi.md.
 */
#include "rt.h"
#include "virtio.h"

#define SLOT 1

static unsigned int line;
static int v1, pic;
static uint16_t avail_idx;

/* The 8259's IRR bit of the device's line: with ELCR level mode, the line's level. */
static int line_high(void)
{
	uint16_t port = line < 8 ? 0x20 : 0xa0;

	outb(port, 0x0a); /* OCW3: read the IRR */
	return (inb(port) >> (line % 8)) & 1;
}

static int status_int(void)
{
	return !!(pci_read16(SLOT, PCI_STS) & PCI_STS_INTERRUPT);
}

/* One entropy request, served at its notification: ISR bit 0 and the line go up. */
static int request(void)
{
	vdesc[0] = (struct vdesc){VQ_BUF, 16, VD_WRITE, 0};
	virtio_submit(0, ++avail_idx);
	return vused[1] == avail_idx;
}

static void intx_disable(int on)
{
	pci_command(SLOT, on ? PCI_CMD_INTX_DISABLE : 0, on ? 0 : PCI_CMD_INTX_DISABLE);
}

/* STATUS.Interrupt and the line as they must be; version 1 never sets the status bit. */
static int check(const char *what, int want_status, int want_line)
{
	int st = status_int(), hi = pic ? line_high() : want_line;
	int ok = st == (v1 ? 0 : want_status) && hi == want_line;

	rt_printf("pci-intx: %s: %s (status.interrupt %d, line %d, command 0x%x)\n", what,
		  ok ? "held" : "FAILED", st, hi, pci_read16(SLOT, PCI_CMD));
	return ok;
}

int main(const char *cmdline)
{
	int held = 0, cases = 0;

	v1 = rt_arg_ulong(cmdline, "machine", 2) == 1;
	pic = rt_arg_ulong(cmdline, "pic", 1) != 0;
	if (virtio_find(SLOT, 4)) {
		rt_printf("pci-intx: no virtio-rng at 00:01.0 (run with --rng src=...)\n");
		return 1;
	}
	line = pci_read8(SLOT, PCI_INT_LINE);
	if ((pic && line >= 16) || pci_read8(SLOT, 0x3d) != 1) {
		rt_printf("pci-intx: interrupt line %u, pin %u: not an ISA line on INTA#\n", line,
			  pci_read8(SLOT, 0x3d));
		return 1;
	}
	virtio_setup(VQ_RING, 0);
	held += check("no interrupt yet", 0, 0), cases++;

	if (!request())
		rt_printf("pci-intx: the request was not served\n");
	held += check("request done: interrupt pending, line asserted", 1, 1), cases++;

	intx_disable(1);
	held += check("interrupt disable de-asserts the line, status still shows it", 1, v1),
		cases++;
	intx_disable(0);
	held += check("interrupt enable asserts the pending interrupt again", 1, 1), cases++;

	if (vr8(VC_ISR) != 1)
		rt_printf("pci-intx: ISR was not 1\n");
	held += check("ISR read: nothing pending", 0, 0), cases++;

	intx_disable(1);
	request();
	held += check("interrupt while disabled: status only", 1, v1), cases++;
	intx_disable(0);
	held += check("enabled again: line asserted", 1, 1), cases++;
	vr8(VC_ISR);
	held += check("acknowledged", 0, 0), cases++;

	/* The other STATUS bits stay as they were. */
	int caps = !!(pci_read16(SLOT, PCI_STS) & PCI_STS_CAPS);

	rt_printf("pci-intx: capability list bit: %s\n", caps ? "held" : "FAILED");
	held += caps, cases++;

	rt_printf("pci-intx: %d of %d cases held\n", held, cases);
	return held == cases ? 0 : 1;
}
