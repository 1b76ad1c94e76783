// SPDX-License-Identifier: MIT
#include "mptable.h"

#include <string.h>

#define MP_SPEC_REV  4
#define APIC_VERSION 0x14
#define IOAPIC_VER   0x11
#define ISA_IRQS     16

struct mpf_intel { /* floating pointer */
	char signature[4];
	uint32_t physptr;
	uint8_t length;
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mpc_table { /* configuration table header */
	char signature[4];
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;
	uint32_t lapic;
	uint32_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type, apicid, apicver, cpuflag;
	uint32_t cpufeature, featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type, busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type, apicid, apicver, flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc { /* type 3: I/O interrupt; type 4: local interrupt */
	uint8_t type, irqtype;
	uint16_t irqflag;
	uint8_t srcbus, srcbusirq, dstapic, dstirq;
} __attribute__((packed));

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
#define PCI_BUS_ID	  0
#define ISA_BUS_ID	  1
#define MP_IRQ_LEVEL_HIGH 0x0d /* polarity 01 active high, trigger 11 level */
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += b[i];
	return -sum;
}

int mptable_write(struct guest_mem *gm, unsigned int nr_cpus, const struct mptable_pci_irq *pci,
		  unsigned int nr_pci)
{
	size_t size = sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
		      nr_cpus * sizeof(struct mpc_cpu) + 2 * sizeof(struct mpc_bus) +
		      sizeof(struct mpc_ioapic) +
		      (ISA_IRQS + 2 + nr_pci) * sizeof(struct mpc_intsrc);
	uint8_t *base = gpa_to_hva(gm, MPTABLE_ADDR, size);
	struct mpf_intel *mpf = (void *)base;
	struct mpc_table *table = (void *)(mpf + 1);
	uint8_t *p = (uint8_t *)(table + 1);
	uint8_t ioapic_id = nr_cpus; /* APIC ids 0..nr_cpus-1 are the CPUs */
	uint16_t entries = 0;

	if (!base || size > 1024 || nr_cpus > 254 || nr_pci > MPTABLE_MAX_PCI_IRQS)
		return -1; /* it must fit in the 1 KiB EBDA */
	memset(base, 0, size);

	for (unsigned int i = 0; i < nr_cpus; i++, entries++, p += sizeof(struct mpc_cpu)) {
		struct mpc_cpu cpu = {
			.type = MP_PROCESSOR,
			.apicid = i,
			.apicver = APIC_VERSION,
			.cpuflag = 1 | (i == 0 ? 2 : 0), /* enabled; the first is the boot CPU */
			.cpufeature = 0x600,		 /* family 6 */
			.featureflag = 0x201,		 /* FPU, APIC */
		};
		memcpy(p, &cpu, sizeof(cpu));
	}
	/* Linux matches an MP bus id against the PCI bus number: the PCI bus must be id 0. */
	memcpy(p, &(struct mpc_bus){MP_BUS, PCI_BUS_ID, "PCI   "}, sizeof(struct mpc_bus));
	p += sizeof(struct mpc_bus), entries++;
	memcpy(p, &(struct mpc_bus){MP_BUS, ISA_BUS_ID, "ISA   "}, sizeof(struct mpc_bus));
	p += sizeof(struct mpc_bus), entries++;
	memcpy(p, &(struct mpc_ioapic){MP_IOAPIC, ioapic_id, IOAPIC_VER, 1, IOAPIC_ADDR},
	       sizeof(struct mpc_ioapic));
	p += sizeof(struct mpc_ioapic), entries++;
	/* KVM's default routing sends ISA IRQ 0 (the PIT) to IOAPIC pin 2, the rest 1:1. */
	for (unsigned int irq = 0; irq < ISA_IRQS;
	     irq++, entries++, p += sizeof(struct mpc_intsrc)) {
		struct mpc_intsrc src = {MP_INTSRC, MP_INT,	  0, ISA_BUS_ID, irq,
					 ioapic_id, irq ? irq : 2};

		memcpy(p, &src, sizeof(src));
	}
	/* PCI INTA# lines: source IRQ (slot << 2) | pin, level-triggered and active high, as the
	 * VMM drives them (KVM_IRQ_LINE 1 = asserted). */
	for (unsigned int i = 0; i < nr_pci; i++, entries++, p += sizeof(struct mpc_intsrc)) {
		struct mpc_intsrc src = {MP_INTSRC,
					 MP_INT,
					 MP_IRQ_LEVEL_HIGH,
					 PCI_BUS_ID,
					 (uint8_t)(pci[i].slot << 2),
					 ioapic_id,
					 pci[i].line};

		memcpy(p, &src, sizeof(src));
	}
	/* Virtual wire: the PIC through LINT0 as ExtINT, NMIs on LINT1, on every CPU. */
	memcpy(p, &(struct mpc_intsrc){MP_LINTSRC, MP_EXTINT, 0, 0, 0, 0xff, 0},
	       sizeof(struct mpc_intsrc));
	p += sizeof(struct mpc_intsrc), entries++;
	memcpy(p, &(struct mpc_intsrc){MP_LINTSRC, MP_NMI, 0, 0, 0, 0xff, 1},
	       sizeof(struct mpc_intsrc));
	p += sizeof(struct mpc_intsrc), entries++;

	memcpy(table->signature, "PCMP", 4);
	table->length = p - (uint8_t *)table;
	table->spec = MP_SPEC_REV;
	memcpy(table->oem, "DEJAVM  ", 8);
	memcpy(table->productid, "000000000000", 12);
	table->oemcount = entries;
	table->lapic = LAPIC_ADDR;
	table->checksum = checksum(table, table->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = MPTABLE_ADDR + sizeof(*mpf);
	mpf->length = 1; /* in 16-byte units */
	mpf->specification = MP_SPEC_REV;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
	return p - base;
}
