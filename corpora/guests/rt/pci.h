/*
 * PCI configuration space of bus 0 for the test guests, through configuration mechanism #1
 * (ports 0xCF8/0xCFC): reads and writes of a byte, word or dword, and the capability list.
 */
#ifndef DEJAVM_GUEST_PCI_H
#define DEJAVM_GUEST_PCI_H

#include "rt.h"

enum {
	PCI_CMD = 0x04,
	PCI_STS = 0x06,
	PCI_INT_LINE = 0x3c,
	PCI_CAPS = 0x34,
};
enum {
	PCI_CMD_MEM = 1u << 1,
	PCI_CMD_MASTER = 1u << 2,
	PCI_CMD_INTX_DISABLE = 1u << 10,
	PCI_STS_INTERRUPT = 1u << 3,
	PCI_STS_CAPS = 1u << 4,
};

static inline void pci_addr(unsigned int slot, unsigned int off)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
}

static inline uint32_t pci_read32(unsigned int slot, unsigned int off)
{
	pci_addr(slot, off);
	return inl(0xcfc);
}
static inline uint16_t pci_read16(unsigned int slot, unsigned int off)
{
	pci_addr(slot, off);
	return inw(0xcfc + (off & 2));
}
static inline uint8_t pci_read8(unsigned int slot, unsigned int off)
{
	pci_addr(slot, off);
	return inb(0xcfc + (off & 3));
}
static inline void pci_write32(unsigned int slot, unsigned int off, uint32_t v)
{
	pci_addr(slot, off);
	outl(0xcfc, v);
}
static inline void pci_write16(unsigned int slot, unsigned int off, uint16_t v)
{
	pci_addr(slot, off);
	outw(0xcfc + (off & 2), v);
}
static inline void pci_write8(unsigned int slot, unsigned int off, uint8_t v)
{
	pci_addr(slot, off);
	outb(0xcfc + (off & 3), v);
}

/* COMMAND with bits set and cleared (a read-modify-write of the 16-bit register). */
static inline void pci_command(unsigned int slot, uint16_t set, uint16_t clear)
{
	pci_write16(slot, PCI_CMD, (pci_read16(slot, PCI_CMD) & ~clear) | set);
}

/*
 * The config offset of the first capability with this ID after the one at `after` (0: from
 * the start of the list), 0 if none. Gives up after 48 (a list that loops).
 */
static inline unsigned int pci_cap_next(unsigned int slot, uint8_t id, unsigned int after)
{
	unsigned int off = after ? pci_read8(slot, after + 1) : pci_read8(slot, PCI_CAPS);

	if (!(pci_read16(slot, PCI_STS) & PCI_STS_CAPS))
		return 0;
	for (int n = 0; off >= 0x40 && n < 48; n++, off = pci_read8(slot, off + 1))
		if (pci_read8(slot, off) == id)
			return off;
	return 0;
}

#endif
