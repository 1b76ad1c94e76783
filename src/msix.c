// SPDX-License-Identifier: MIT
/* MSI-X: see msix.h. */
#include "msix.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "persist.h"
#include "trace.h"
#include "vm.h"

#define MSIX_CTRL_MASKED 0x1u
/* Message Control, the upper byte (config offset cap + 3): bit 6 Function Mask, bit 7 Enable */
#define MC_HI_MASKALL 0x40u
#define MC_HI_ENABLE  0x80u

int msix_init(struct msix *m, struct vm *vm, struct pci_device *pci, unsigned int nr,
	      unsigned int bar, uint32_t table_off, uint32_t pba_off)
{
	struct __attribute__((packed)) {
		uint8_t id, next;
		uint16_t control;
		uint32_t table, pba;
	} cap = {.control = nr - 1, .table = table_off | bar, .pba = pba_off | bar};

	memset(m, 0, sizeof(*m));
	if (!nr || nr > MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS || (table_off | pba_off) & 7)
		return -EINVAL;
	m->vm = vm;
	m->pci = pci;
	m->nr = nr;
	for (unsigned int i = 0; i < nr; i++) {
		m->table[i].ctrl = MSIX_CTRL_MASKED; /* the reset state (PCI spec 6.8.2.9) */
		m->fd[i] = m->gsi[i] = -1;
	}
	m->cap = pci_cap_add(pci, PCI_CAP_ID_MSIX, &cap, sizeof(cap));
	if (!m->cap)
		return -ENOSPC;
	pci->wmask[m->cap + PCI_MSIX_FLAGS + 1] = MC_HI_MASKALL | MC_HI_ENABLE;
	return 0;
}

static uint8_t control_hi(const struct msix *m)
{
	return m->pci->cfg[m->cap + PCI_MSIX_FLAGS + 1];
}

bool msix_enabled(const struct msix *m)
{
	return m->nr && (control_hi(m) & MC_HI_ENABLE);
}

static bool masked(const struct msix *m, unsigned int vec)
{
	return (control_hi(m) & MC_HI_MASKALL) || (m->table[vec].ctrl & MSIX_CTRL_MASKED);
}

/* Points the vector's GSI at the entry's address/data, binding the irqfd the first time. */
static int route(struct msix *m, unsigned int vec)
{
	const struct msix_entry *e = &m->table[vec];
	uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;
	int r;

	if (m->gsi[vec] < 0) {
		m->gsi[vec] = vm_msi_gsi_alloc(m->vm);
		if (m->gsi[vec] < 0)
			return m->gsi[vec];
	}
	r = vm_msi_route(m->vm, m->gsi[vec], addr, e->data);
	if (r)
		return r;
	if (m->fd[vec] < 0) {
		struct kvm_irqfd irqfd = {.gsi = m->gsi[vec]};

		irqfd.fd = m->fd[vec] = eventfd(0, EFD_CLOEXEC);
		if (m->fd[vec] < 0)
			return -errno;
		if (ioctl(m->vm->vm_fd, KVM_IRQFD, &irqfd)) {
			r = -errno;
			close(m->fd[vec]);
			m->fd[vec] = -1;
			return r;
		}
	}
	m->routed[vec] = true;
	return 0;
}

static void deliver(struct msix *m, unsigned int vec)
{
	const uint64_t one = 1;
	int r;

	/*
	 * A message is a memory write, which a function may not make while Bus Master Enable is
	 * clear: it goes nowhere, as on QEMU (the bus-master address space is empty), and is
	 * not left pending either (a kexec'd kernel must not get its predecessor's interrupts).
	 */
	if (!pci_bus_master(m->pci)) {
		log_debug("00:%02x.0 MSI-X vector %u: Bus Master Enable is clear: not sent",
			  m->pci->slot, vec);
		return;
	}
	r = m->routed[vec] ? 0 : route(m, vec);

	if (m->vm->trace)
		trace_msi(m->vm->trace, m->pci->slot, vec, m->table[vec].data);
	if (r)
		log_warn("00:%02x.0 MSI-X vector %u: no KVM route (%s); interrupt lost",
			 m->pci->slot, vec, strerror(-r));
	else if (write(m->fd[vec], &one, sizeof(one)) != sizeof(one))
		log_warn("00:%02x.0 MSI-X vector %u: eventfd: %s", m->pci->slot, vec,
			 strerror(errno));
}

void msix_signal(struct msix *m, unsigned int vec)
{
	if (vec >= m->nr)
		return;
	if (masked(m, vec))
		m->pending |= 1u << vec;
	else
		deliver(m, vec);
}

/*
 * After a mask bit was cleared, or MSI-X enabled: what was held back goes out now. Not while
 * MSI-X is disabled: the function must not send messages then, and its pending bits stay as
 * they are until it is enabled again (PCI 3.0 6.8.2.3).
 */
static void flush_pending(struct msix *m)
{
	if (!msix_enabled(m))
		return;
	for (unsigned int vec = 0; vec < m->nr; vec++) {
		if ((m->pending & 1u << vec) && !masked(m, vec)) {
			m->pending &= ~(1u << vec);
			deliver(m, vec);
		}
	}
}

void msix_cfg_write(struct msix *m, uint32_t off, unsigned int len)
{
	if (m->nr && off <= m->cap + PCI_MSIX_FLAGS + 1u &&
	    off + len > m->cap + PCI_MSIX_FLAGS + 1u)
		flush_pending(m);
}

/*
 * Table and PBA accesses: aligned dwords or qwords inside (PCI spec 6.8.2), others are dropped.
 * (size - off, not off + len: off comes from the guest and may be anything.)
 */
static bool valid(uint64_t off, uint32_t len, uint64_t size)
{
	return (len == 4 || len == 8) && !(off & (len - 1)) && off < size && len <= size - off;
}

void msix_table_read(struct msix *m, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0xff, len);
	if (!valid(off, len, m->nr * MSIX_ENTRY_SIZE))
		return;
	memcpy(data, (const uint8_t *)m->table + off, len);
}

void msix_table_write(struct msix *m, uint64_t off, const uint8_t *data, uint32_t len)
{
	unsigned int vec = off / MSIX_ENTRY_SIZE;
	struct msix_entry old;
	uint32_t *w;

	if (!valid(off, len, m->nr * MSIX_ENTRY_SIZE))
		return;
	old = m->table[vec];
	w = (uint32_t *)((uint8_t *)m->table + off);
	memcpy(w, data, len);
	m->table[vec].ctrl &= MSIX_CTRL_MASKED; /* the other bits are reserved */
	if (memcmp(&old, &m->table[vec], offsetof(struct msix_entry, ctrl)))
		m->routed[vec] = false; /* new address/data: re-route at the next delivery */
	if ((old.ctrl & MSIX_CTRL_MASKED) && !(m->table[vec].ctrl & MSIX_CTRL_MASKED))
		flush_pending(m);
}

void msix_pba_read(struct msix *m, uint64_t off, uint8_t *data, uint32_t len)
{
	uint64_t pba = m->pending;

	memset(data, 0, len);
	if (valid(off, len, sizeof(pba)))
		memcpy(data, (const uint8_t *)&pba + off, len);
}

void msix_save(const struct msix *m, struct msgpack_packer *pk, const char *key)
{
	persist_key(pk, key);
	msgpack_pack_map(pk, 2);
	persist_bin(pk, "table", m->table, m->nr * sizeof(m->table[0]));
	persist_u64(pk, "pending", m->pending);
}

bool msix_load(struct msix *m, struct persist_in *in, const char *key)
{
	struct persist_in sub;
	const void *table;
	size_t len;
	uint64_t pending;

	if (!persist_sub(in, key, &sub) ||
	    !persist_get_bin(&sub, "table", sizeof(m->table), &table, &len) ||
	    !persist_get_u64(&sub, "pending", (1ULL << m->nr) - 1, &pending))
		return false;
	if (len != m->nr * sizeof(m->table[0]))
		return persist_fail(&sub, "table",
				    "%zu bytes, this device has %u vectors (%zu bytes)", len, m->nr,
				    m->nr * sizeof(m->table[0]));
	memcpy(m->table, table, len);
	m->pending = pending;
	for (unsigned int vec = 0; vec < m->nr; vec++) {
		m->table[vec].ctrl &= MSIX_CTRL_MASKED; /* the other bits are reserved */
		m->routed[vec] = false;
	}
	return true;
}

void msix_free(struct msix *m)
{
	for (unsigned int vec = 0; vec < m->nr; vec++) {
		struct kvm_irqfd irqfd = {
			.fd = m->fd[vec], .gsi = m->gsi[vec], .flags = KVM_IRQFD_FLAG_DEASSIGN};

		if (m->fd[vec] < 0)
			continue;
		ioctl(m->vm->vm_fd, KVM_IRQFD, &irqfd);
		close(m->fd[vec]);
		m->fd[vec] = -1;
	}
}
