/*
 * legacy-width: accesses wider than a byte to the ISA devices. Those have byte registers, and
 * a PC (and QEMU) splits a wider access into one per byte, lowest port first: outw(0x70,
 * idx | val << 8) selects a CMOS register and writes it. Checks, one line each:
 *   - CMOS: a 16-bit write to the index port writes the data port too; a 16-bit read gives the
 *     index port's 0xff and the data; the bytes of a 32-bit write past 0x71 go nowhere;
 *   - UART: a 16-bit write at 0x3fe writes the MSR (read-only) and the scratch register;
 *   - with pic=1 (the VMM's own PIC: --deterministic; KVM's drops such writes): a 16-bit write
 *     at 0x20 is an OCW3 and the IMR;
 *   - the test registers (docs/guest-abi.md) have byte lanes: a narrower write changes the
 *     bytes it covers and only those;
 * then "legacy-width: N of N checks held", and a 16-bit write to the exit port ends the VM with
 * its low byte: 0 when all held, 1 otherwise (2 if the write did not end it).
 * With i8042=C (0-255) it only writes command C to the i8042 (port 0x64): a command that pulses
 * the reset line (0xF0-0xFF with bit 0 clear) resets, which ends the VM with status 0; else it
 * prints "legacy-width: i8042 command 0x.. did not reset" and exits 7. With i8042w=C it writes
 * C to 0x64 with a 16-bit write (C | 0xff00: the high byte goes to port 0x65, which is nothing).
 */
#include "rt.h"

static unsigned int checks, held;

static void check(const char *what, unsigned long got, unsigned long want)
{
	checks++;
	held += got == want;
	rt_printf("legacy-width: %s: 0x%lx%s", what, got, got == want ? "\n" : "");
	if (got != want)
		rt_printf(", want 0x%lx\n", want);
}

static uint8_t cmos_read(uint8_t reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

int main(const char *cmdline)
{
	unsigned long cmd = rt_arg_ulong(cmdline, "i8042", 256),
		      cmdw = rt_arg_ulong(cmdline, "i8042w", 256);

	if (cmd < 256 || cmdw < 256) {
		if (cmd < 256)
			outb(0x64, cmd);
		else
			outw(0x64, 0xff00 | cmdw);
		rt_printf("legacy-width: i8042 command 0x%lx did not reset\n",
			  cmd < 256 ? cmd : cmdw);
		return 7;
	}

	/* CMOS NVRAM bytes 0x40-0x41 (free for the OS) */
	outw(0x70, 0x40 | 0x5a << 8);
	check("CMOS 0x40 after outw(0x70, 0x40 | 0x5a << 8)", cmos_read(0x40), 0x5a);
	outb(0x70, 0x40);
	check("inw(0x70) with 0x40 selected", inw(0x70), 0x5aff);
	outl(0x70, 0x41 | 0x3c << 8 | 0x11u << 16 | 0x22u << 24);
	check("CMOS 0x41 after a 32-bit write at 0x70", cmos_read(0x41), 0x3c);
	check("CMOS 0x40 still", cmos_read(0x40), 0x5a);

	/* UART: MSR (read-only) at 0x3fe, scratch at 0x3ff */
	outw(0x3fe, 0x00 | 0xc3 << 8);
	check("UART scratch after outw(0x3fe, 0xc300)", inb(0x3ff), 0xc3);
	check("inw(0x3fe) >> 8", inw(0x3fe) >> 8, 0xc3);

	if (rt_arg_ulong(cmdline, "pic", 0)) {
		uint8_t imr = inb(0x21);

		outw(0x20, 0x0a | 0xa5 << 8); /* OCW3 (read IRR), then the IMR */
		check("PIC IMR after outw(0x20, 0x0a | 0xa5 << 8)", inb(0x21), 0xa5);
		outb(0x21, imr);
	}

	/* test registers: byte lanes */
	outl(RT_PORT_TESTDEV, 0x11223344);
	outb(RT_PORT_TESTDEV + 2, 0xaa);
	check("test register after a byte write at 0x512", ~inl(RT_PORT_TESTDEV), 0x11aa3344);
	check("inw(0x512)", inw(RT_PORT_TESTDEV + 2), (uint16_t)~0x11aa);
	mmio_write64(RT_MMIO_TESTDEV + 8, 0x0123456789abcdefULL);
	mmio_write32(RT_MMIO_TESTDEV + 12, 0x5566aa77);
	check("MMIO 64-bit register after a 32-bit write to its high half",
	      ~mmio_read64(RT_MMIO_TESTDEV + 8), 0x5566aa7789abcdefULL);

	rt_printf("legacy-width: %u of %u checks held\n", held, checks);
	outw(RT_PORT_EXIT, 0x0100 | (held == checks ? 0 : 1));
	rt_printf("legacy-width: a 16-bit write to the exit port did not end the VM\n");
	return 2;
}
