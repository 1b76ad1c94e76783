// SPDX-License-Identifier: MIT
/*
 * virtio 1.x modern PCI transport. BAR 0 (32 KiB, 64-bit memory) holds the common and device
 * configuration, ISR, notifications and MSI-X: virtio_pci.h has the layout.
 * Interrupts: MSI-X once the driver enables it, else legacy INTx, level-triggered on the line
 * written in the device's Interrupt Line register. Deterministic mode offers no MSI-X: its
 * interrupts go through the VMM's PIC, at exits.
 */
#include "virtio_pci.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <string.h>

#include "../log.h"
#include "../persist.h"
#include "../probes.h"
#include "../sandbox.h"
#include "../trace.h"
#include "../vm.h"

#define NOTIFY_MULT   4
#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_PCI_ID 0x1040 /* + device type: a modern-only device */
#define ISR_QUEUE     0x1
#define ISR_CONFIG    0x2

/*
 * INTx lines, level-triggered: in normal mode IOAPIC pins 16-19 (GSIs no ISA device uses; the
 * MP table says so); in deterministic mode, which has only the PIC, ISA IRQs a PC leaves to PCI
 * (their ELCR bits are set, see vm.c).
 */
static const uint8_t isa_lines[] = {10, 11, 9, 5};

/*
 * virtio 4.1.4.5.1: without MSI-X, STATUS.Interrupt is the OR of the ISR bits and the INTx pin
 * follows PCI's rules (Interrupt Disable); pci_intx_update() applies them.
 */
static void update_irq(struct virtio_dev *d)
{
	bool level = pci_intx_update(&d->pci, d->isr != 0 && !msix_enabled(&d->msix));

	if (level != d->irq_level) {
		d->irq_level = level;
		vm_set_irq(d->vm, d->irq_line, level);
	}
}

static void device_reset(struct virtio_dev *d)
{
	d->dfselect = d->gfselect = 0;
	d->driver_features = 0;
	d->status = 0;
	d->isr = 0;
	d->queue_select = 0;
	d->config_vector = VIRTIO_MSI_NO_VECTOR;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		d->queue_vector[i] = VIRTIO_MSI_NO_VECTOR;
	memset(d->vq, 0, sizeof(d->vq));
	memset(d->vq_enabled, 0, sizeof(d->vq_enabled));
	for (unsigned int i = 0; i < d->ops->num_queues; i++)
		d->vq[i].size = d->ops->queue_max;
	if (d->ops->reset)
		d->ops->reset(d);
	update_irq(d);
}

/* The driver's MSI-X vector for it (none: no interrupt), or the INTx line with its ISR bit. */
static void interrupt(struct virtio_dev *d, uint16_t vector, uint8_t isr_bit)
{
	if (msix_enabled(&d->msix)) {
		if (vector != VIRTIO_MSI_NO_VECTOR)
			msix_signal(&d->msix, vector);
		return;
	}
	d->isr |= isr_bit;
	update_irq(d);
}

/* A malformed ring or request the device cannot go on from: tell the driver (virtio 2.1.2). */
static void needs_reset(struct virtio_dev *d, const char *why)
{
	if (!(d->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		log_warn("%s at 00:%02x.0: %s; the device needs a reset", d->ops->name, d->pci.slot,
			 why);
	d->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	interrupt(d, d->config_vector, ISR_CONFIG);
}

static uint64_t device_features(const struct virtio_dev *d)
{
	return d->ops->features | 1ULL << VIRTIO_F_VERSION_1;
}

static struct vq *selected(struct virtio_dev *d)
{
	return d->queue_select < d->ops->num_queues ? &d->vq[d->queue_select] : NULL;
}

static uint64_t common_read(struct virtio_dev *d, uint64_t off)
{
	struct vq *q = selected(d);

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		return d->dfselect;
	case VIRTIO_PCI_COMMON_DF:
		return d->dfselect < 2 ? (uint32_t)(device_features(d) >> (32 * d->dfselect)) : 0;
	case VIRTIO_PCI_COMMON_GFSELECT:
		return d->gfselect;
	case VIRTIO_PCI_COMMON_GF:
		return d->gfselect < 2 ? (uint32_t)(d->driver_features >> (32 * d->gfselect)) : 0;
	case VIRTIO_PCI_COMMON_MSIX:
		return d->config_vector;
	case VIRTIO_PCI_COMMON_NUMQ:
		return d->ops->num_queues;
	case VIRTIO_PCI_COMMON_STATUS:
		return d->status;
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return d->config_generation;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		return d->queue_select;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		return q ? q->size : 0;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		return q ? d->queue_vector[d->queue_select] : VIRTIO_MSI_NO_VECTOR;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		return q ? d->vq_enabled[d->queue_select] : 0;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return q ? d->queue_select : 0;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
		return q ? (uint32_t)q->desc_gpa : 0;
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		return q ? q->desc_gpa >> 32 : 0;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
		return q ? (uint32_t)q->avail_gpa : 0;
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		return q ? q->avail_gpa >> 32 : 0;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		return q ? (uint32_t)q->used_gpa : 0;
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		return q ? q->used_gpa >> 32 : 0;
	default:
		return 0;
	}
}

static void set_half(uint64_t *v, bool hi, uint32_t val)
{
	*v = hi ? (*v & 0xffffffffULL) | (uint64_t)val << 32 : (*v & ~0xffffffffULL) | val;
}

static void enable_queue(struct virtio_dev *d, struct vq *q)
{
	char err[160];

	q->event_idx = d->driver_features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	q->indirect = d->driver_features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	if (vq_check_layout(q, &d->vm->mem, err, sizeof(err))) {
		needs_reset(d, err);
		return;
	}
	d->vq_enabled[d->queue_select] = true;
}

static void set_status(struct virtio_dev *d, uint8_t status)
{
	if (!status) {
		device_reset(d);
		return;
	}
	/* FEATURES_OK only sticks if the driver asked for nothing we do not offer. */
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) && !(d->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    (d->driver_features & ~device_features(d)))
		status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	d->status = status | (d->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static uint16_t msix_vector(const struct virtio_dev *d, uint32_t val)
{
	return (uint16_t)val < d->msix.nr ? (uint16_t)val : VIRTIO_MSI_NO_VECTOR;
}

static void common_write(struct virtio_dev *d, uint64_t off, uint32_t val)
{
	struct vq *q = selected(d);
	bool live = q && d->vq_enabled[d->queue_select]; /* an enabled queue's layout is fixed */

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		d->dfselect = val;
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		d->gfselect = val;
		break;
	case VIRTIO_PCI_COMMON_GF:
		if (d->gfselect < 2 && !(d->status & VIRTIO_CONFIG_S_FEATURES_OK))
			set_half(&d->driver_features, d->gfselect, val);
		break;
	case VIRTIO_PCI_COMMON_STATUS:
		set_status(d, val);
		break;
	/* A vector the table does not have reads back as NO_VECTOR: the driver checks (4.1.5.1.2).
	 */
	case VIRTIO_PCI_COMMON_MSIX:
		d->config_vector = msix_vector(d, val);
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		if (q)
			d->queue_vector[d->queue_select] = msix_vector(d, val);
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		d->queue_select = val;
		break;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		/* A power of two no bigger than the maximum; anything else is kept out. */
		if (q && !live && val && val <= d->ops->queue_max && !(val & (val - 1)))
			q->size = val;
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (q && !live && val == 1)
			enable_queue(d, q);
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		if (q && !live)
			set_half(&q->desc_gpa, off == VIRTIO_PCI_COMMON_Q_DESCHI, val);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		if (q && !live)
			set_half(&q->avail_gpa, off == VIRTIO_PCI_COMMON_Q_AVAILHI, val);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		if (q && !live)
			set_half(&q->used_gpa, off == VIRTIO_PCI_COMMON_Q_USEDHI, val);
		break;
	default:
		break; /* read-only fields */
	}
}

/* The width of the common-configuration field at off (virtio 4.1.4.3), 0: none starts there. */
static unsigned int common_width(uint64_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_STATUS:
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return 1;
	case VIRTIO_PCI_COMMON_MSIX:
	case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_Q_SELECT:
	case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX:
	case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return 2;
	case VIRTIO_PCI_COMMON_DFSELECT:
	case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_GFSELECT:
	case VIRTIO_PCI_COMMON_GF:
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		return 4;
	default:
		return 0;
	}
}

/*
 * virtio 4.1.3.1: each field is accessed at its own width; the 64-bit ones, queue_desc,
 * queue_driver and queue_device, as two 32-bit halves or whole, in one 8-byte access (the Rust
 * virtio-drivers crate makes those). Any other access reaches no field: a write changes
 * nothing and a read gives 0, and the first one is reported (a driver bug worth seeing).
 */
static bool common_access(struct virtio_dev *d, uint64_t off, uint32_t len, bool write)
{
	bool wide = off == VIRTIO_PCI_COMMON_Q_DESCLO || off == VIRTIO_PCI_COMMON_Q_AVAILLO ||
		    off == VIRTIO_PCI_COMMON_Q_USEDLO;

	if (common_width(off) == len || (wide && len == 8))
		return true;
	if (off >= sizeof(struct virtio_pci_common_cfg))
		return false; /* past the structure: no field at all */
	if (!d->width_reported)
		log_warn("%s at 00:%02x.0: common configuration offset %" PRIu64
			 " %s with %u bytes: no field of that width starts there; ignored (virtio "
			 "4.1.3.1, reported once)",
			 d->ops->name, d->pci.slot, off, write ? "written" : "read", len);
	d->width_reported = true;
	return false;
}

static uint64_t le_get(const uint8_t *data, uint32_t len)
{
	uint64_t v = 0;

	memcpy(&v, data, len < 8 ? len : 8);
	return v;
}

static void bar_read_locked(struct virtio_dev *d, uint64_t off, uint8_t *data, uint32_t len)
{
	uint64_t v = 0;

	memset(data, 0, len);
	if (off < VIRTIO_PCI_ISR_OFF) {
		if (common_access(d, off, len, false))
			v = common_read(d, off) | (len == 8 ? common_read(d, off + 4) << 32 : 0);
	} else if (off == VIRTIO_PCI_ISR_OFF) {
		v = d->isr; /* reading acknowledges: the line drops */
		d->isr = 0;
		update_irq(d);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
		off -= VIRTIO_PCI_DEVICE_OFF;
		if (d->ops->config_read && off < d->ops->config_size &&
		    len <= d->ops->config_size - off)
			d->ops->config_read(d, off, data, len);
		return;
	} else if (off >= VIRTIO_PCI_MSIX_OFF && d->msix.nr) {
		if (off < VIRTIO_PCI_PBA_OFF)
			msix_table_read(&d->msix, off - VIRTIO_PCI_MSIX_OFF, data, len);
		else
			msix_pba_read(&d->msix, off - VIRTIO_PCI_PBA_OFF, data, len);
		return;
	}
	memcpy(data, &v, len < 8 ? len : 8);
}

static void bar_write_locked(struct virtio_dev *d, uint64_t off, const uint8_t *data, uint32_t len)
{
	if (off < VIRTIO_PCI_ISR_OFF) {
		uint64_t v = le_get(data, len);

		if (!common_access(d, off, len, true))
			return;
		common_write(d, off, v); /* the low half of a 64-bit field first, as Linux does */
		if (len == 8)
			common_write(d, off + 4, v >> 32);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
		off -= VIRTIO_PCI_DEVICE_OFF;
		if (d->ops->config_write && off < d->ops->config_size &&
		    len <= d->ops->config_size - off)
			d->ops->config_write(d, off, data, len);
	} else if (off >= VIRTIO_PCI_MSIX_OFF) {
		if (off < VIRTIO_PCI_PBA_OFF && d->msix.nr)
			msix_table_write(&d->msix, off - VIRTIO_PCI_MSIX_OFF, data, len);
	} else if (off >= VIRTIO_PCI_NOTIFY_OFF) {
		unsigned int q = (off - VIRTIO_PCI_NOTIFY_OFF) / NOTIFY_MULT;

		if (virtio_queue_ready(d, q) && d->ops->notify) {
			DEJAVM_PROBE(vq_notify, d->pci.slot, q);
			d->ops->notify(d, q);
			/*
			 * With EVENT_IDX the driver kicks only when its avail index passes the
			 * avail_event we publish: ask for the next one. (The vCPU that notified
			 * is the one running this, so no buffer can slip in meanwhile.)
			 */
			virtio_rearm(d, q);
		}
	}
}

static void bar_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_dev *d = opaque;

	pthread_mutex_lock(&d->lock);
	bar_read_locked(d, off, data, len);
	pthread_mutex_unlock(&d->lock);
}

static void bar_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_dev *d = opaque;

	pthread_mutex_lock(&d->lock);
	bar_write_locked(d, off, data, len);
	pthread_mutex_unlock(&d->lock);
}

static const struct bus_ops bar_ops = {.read = bar_read, .write = bar_write};

static int ioeventfd(struct virtio_dev *d, unsigned int q, uint64_t bar, bool assign)
{
	struct kvm_ioeventfd e = {.addr = bar + VIRTIO_PCI_NOTIFY_OFF + NOTIFY_MULT * q,
				  .len = 2,
				  .fd = d->notify_fd[q],
				  .flags = assign ? 0 : 1u << kvm_ioeventfd_flag_nr_deassign};

	return ioctl(d->vm->vm_fd, KVM_IOEVENTFD, &e) ? -errno : 0;
}

int virtio_notify_eventfd(struct virtio_dev *d, unsigned int q)
{
	int r;

	d->notify_fd[q] = eventfd(0, EFD_CLOEXEC);
	if (d->notify_fd[q] < 0)
		return -errno;
	r = d->bar_addr ? ioeventfd(d, q, d->bar_addr, true) : 0;
	if (r) {
		close(d->notify_fd[q]);
		d->notify_fd[q] = -1;
		return r;
	}
	return d->notify_fd[q];
}

bool virtio_queue_ready(const struct virtio_dev *d, unsigned int q)
{
	return q < d->ops->num_queues && d->vq_enabled[q] &&
	       (d->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(d->status & VIRTIO_CONFIG_S_NEEDS_RESET) && pci_bus_master(&d->pci);
}

void virtio_rearm(struct virtio_dev *d, unsigned int q)
{
	if (!d->vq[q].broken && !(d->status & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	    pci_bus_master(&d->pci))
		vq_set_notify(&d->vq[q], &d->vm->mem, true);
}

/*
 * Every ready queue is looked at once, as if notified: after a restore in normal mode (a
 * notification the device thread had not read when the snapshot was taken went with the
 * eventfd, and the driver will not send it again), and when Bus Master Enable is set again.
 */
static void kick_queues(struct virtio_dev *d)
{
	const uint64_t one = 1;

	for (unsigned int q = 0; q < d->ops->num_queues; q++) {
		if (!virtio_queue_ready(d, q))
			continue;
		if (d->notify_fd[q] >= 0) {
			if (write(d->notify_fd[q], &one, sizeof(one)) != sizeof(one))
				log_warn("%s: cannot kick queue %u: %s", d->ops->name, q,
					 strerror(errno));
		} else if (d->ops->notify) {
			d->ops->notify(d, q);
			virtio_rearm(d, q);
		}
	}
}

static void bar_moved(void *opaque, unsigned int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct virtio_dev *d = opaque;

	if (bar)
		return;
	for (unsigned int q = 0; q < d->ops->num_queues; q++)
		if (d->notify_fd[q] >= 0 && old_addr)
			ioeventfd(d, q, old_addr, false);
	if (old_addr)
		bus_unregister(&d->vm->mmio_bus, old_addr, d);
	d->bar_addr = 0;
	if (new_addr) {
		if (bus_register(&d->vm->mmio_bus, new_addr, VIRTIO_PCI_BAR_SIZE, &bar_ops, d,
				 d->ops->name))
			log_warn("%s: BAR 0 moved onto another device at 0x%" PRIx64
				 ": not decoded",
				 d->ops->name, new_addr);
		else
			d->bar_addr = new_addr;
	}
	for (unsigned int q = 0; q < d->ops->num_queues; q++)
		if (d->notify_fd[q] >= 0 && d->bar_addr && ioeventfd(d, q, d->bar_addr, true))
			log_warn("%s: KVM_IOEVENTFD: %s; queue %u notifications still exit",
				 d->ops->name, strerror(errno), q);
}

/* Whether [off, off + len) lies in the structure at [start, start + size) of BAR 0. */
static bool within(uint32_t off, uint32_t len, uint32_t start, uint32_t size)
{
	return off >= start && off - start < size && len <= size - (off - start);
}

static uint32_t cfg_le32(const struct virtio_dev *d, unsigned int off)
{
	const uint8_t *b = d->pci.cfg + off;

	return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

/*
 * The BAR access the VIRTIO_PCI_CAP_PCI_CFG window stands for (virtio 4.1.4.9): cap.length
 * bytes at cap.offset of BAR cap.bar, from or into pci_cfg_data. Only what the spec lets a
 * driver use reaches the BAR: BAR 0 (the one the other capabilities name), a length of 1, 2 or
 * 4, an offset that is a multiple of it, inside one of the virtio structures (not the MSI-X
 * table); any other window leaves pci_cfg_data as it is. Returns whether it was made.
 */
static bool cfg_window(struct virtio_dev *d, bool write)
{
	unsigned int cap = d->cfg_cap;
	uint32_t off = cfg_le32(d, cap + offsetof(struct virtio_pci_cap, offset));
	uint32_t len = cfg_le32(d, cap + offsetof(struct virtio_pci_cap, length));
	uint8_t *data = d->pci.cfg + cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);

	if (d->pci.cfg[cap + offsetof(struct virtio_pci_cap, bar)] != 0 ||
	    (len != 1 && len != 2 && len != 4) || off % len)
		return false;
	if (!within(off, len, VIRTIO_PCI_COMMON_OFF, sizeof(struct virtio_pci_common_cfg)) &&
	    !within(off, len, VIRTIO_PCI_ISR_OFF, VIRTIO_PCI_ISR_LEN) &&
	    !within(off, len, VIRTIO_PCI_DEVICE_OFF, d->ops->config_size) &&
	    !within(off, len, VIRTIO_PCI_NOTIFY_OFF, NOTIFY_MULT * d->ops->num_queues))
		return false;
	if (write)
		bar_write_locked(d, off, data, len);
	else
		bar_read_locked(d, off, data, len);
	return true;
}

/* Whether a config access at [off, off + len) touches pci_cfg_data. */
static bool on_cfg_data(const struct virtio_dev *d, uint32_t off, unsigned int len)
{
	uint32_t data = d->cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);

	return d->cfg_cap && off < data + 4 && off + len > data;
}

/*
 * Config space is written by the vCPU's 0xCFC accesses: the MSI-X enable and mask bits, and
 * the PCI_CFG window (a write to pci_cfg_data is a write to the BAR).
 */
static void cfg_write(void *opaque, uint32_t off, uint32_t val, unsigned int len)
{
	struct virtio_dev *d = opaque;

	(void)val;
	pthread_mutex_lock(&d->lock);
	if (on_cfg_data(d, off, len))
		cfg_window(d, true);
	msix_cfg_write(&d->msix, off, len);
	update_irq(d); /* INTx is off while MSI-X is enabled */
	pthread_mutex_unlock(&d->lock);
}

/* A read of pci_cfg_data is a read of the BAR, whose bytes it then holds. */
static uint32_t cfg_read(void *opaque, uint32_t off, uint32_t val, unsigned int len)
{
	struct virtio_dev *d = opaque;

	if (!on_cfg_data(d, off, len))
		return val;
	pthread_mutex_lock(&d->lock);
	if (cfg_window(d, false)) {
		val = 0;
		for (unsigned int i = 0; i < len; i++)
			val |= (uint32_t)d->pci.cfg[off + i] << (8 * i);
	}
	pthread_mutex_unlock(&d->lock);
	return val;
}

/*
 * COMMAND: Interrupt Disable masks or unmasks the INTx pin. While Bus Master Enable is clear
 * the queues are not ready (virtio_queue_ready), so a notification moves nothing in memory; as
 * a real device latches it, the queues are looked at when BME is set again.
 */
static void command_changed(void *opaque, uint16_t old_command)
{
	struct virtio_dev *d = opaque;

	pthread_mutex_lock(&d->lock);
	update_irq(d);
	if (d->pci.machine_version >= MACHINE_VERSION_PCI30 &&
	    !(old_command & PCI_COMMAND_MASTER) && pci_bus_master(&d->pci))
		kick_queues(d);
	pthread_mutex_unlock(&d->lock);
}

static const struct pci_device_ops pci_ops = {.bar_moved = bar_moved,
					      .cfg_write = cfg_write,
					      .cfg_read = cfg_read,
					      .command_changed = command_changed};

static void add_cap(struct virtio_dev *d, uint8_t type, uint32_t off, uint32_t len)
{
	struct virtio_pci_notify_cap c = {.cap = {.cap_len = sizeof(struct virtio_pci_cap),
						  .cfg_type = type,
						  .bar = 0,
						  .offset = off,
						  .length = len}};

	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
		c.cap.cap_len = sizeof(c);
		c.notify_off_multiplier = NOTIFY_MULT;
	}
	pci_cap_add(&d->pci, PCI_CAP_ID_VNDR, &c, c.cap.cap_len);
}

/*
 * VIRTIO_PCI_CAP_PCI_CFG (virtio 4.1.4.9): BAR access through config space alone, for firmware
 * that has not mapped the BAR. The driver writes cap.bar, cap.offset, cap.length and
 * pci_cfg_data; the rest is read-only. Its state is in config space, saved with it.
 */
static int add_cfg_cap(struct virtio_dev *d)
{
	struct virtio_pci_cfg_cap c = {
		.cap = {.cap_len = sizeof(c), .cfg_type = VIRTIO_PCI_CAP_PCI_CFG}};
	unsigned int cap = pci_cap_add(&d->pci, PCI_CAP_ID_VNDR, &c, sizeof(c));

	if (!cap)
		return -ENOSPC;
	d->cfg_cap = cap;
	d->pci.wmask[cap + offsetof(struct virtio_pci_cap, bar)] = 0xff;
	memset(d->pci.wmask + cap + offsetof(struct virtio_pci_cap, offset), 0xff, 8);
	memset(d->pci.wmask + cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data), 0xff, 4);
	return 0;
}

/* With the VM: the queues' ioeventfds and the MSI-X vectors' irqfds. */
static void virtio_dev_free(void *arg)
{
	struct virtio_dev *d = arg;

	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (d->notify_fd[q] >= 0)
			close(d->notify_fd[q]);
	msix_free(&d->msix);
}

static void thread_stop_cb(void *t)
{
	virtio_thread_stop(t);
}

/* A device thread filters its system calls before it serves the device (sandbox.h). */
static void *device_thread(void *arg)
{
	struct virtio_thread *t = arg;

	if (seccomp_install(SECCOMP_DEVICE, t->name)) {
		vm_request_stop(t->vm, EXIT_VMM_ERROR,
				"%s: its thread's system-call filter: see the log", t->name);
		return NULL;
	}
	return t->fn(t->arg);
}

int virtio_thread_start(struct vm *vm, struct virtio_thread *t, const char *name,
			void *(*fn)(void *), void *arg)
{
	int r;

	t->name = name;
	t->vm = vm;
	t->fn = fn;
	t->arg = arg;
	t->stop_fd = eventfd(0, EFD_CLOEXEC);
	t->wake_fd = eventfd(0, EFD_CLOEXEC);
	r = t->stop_fd < 0 || t->wake_fd < 0 ? -errno : vm_on_stop(vm, thread_stop_cb, t);
	if (!r)
		r = -pthread_create(&t->thread, NULL, device_thread, t);
	if (r) {
		if (t->stop_fd >= 0)
			close(t->stop_fd);
		if (t->wake_fd >= 0)
			close(t->wake_fd);
		return r;
	}
	t->started = true;
	return 0;
}

static void signal_fd(const struct virtio_thread *t, int fd, const char *what)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		log_warn("%s: cannot %s its thread: %s", t->name, what, strerror(errno));
}

void virtio_thread_wake(struct virtio_thread *t)
{
	if (t->started)
		signal_fd(t, t->wake_fd, "wake");
}

void virtio_thread_stop(struct virtio_thread *t)
{
	if (!t->started)
		return;
	signal_fd(t, t->stop_fd, "stop");
	pthread_join(t->thread, NULL);
	close(t->stop_fd);
	close(t->wake_fd);
	t->started = false;
}

/* The driver's side of the transport, and each queue's, as a snapshot holds them. */
#define TRANSPORT_STATE(F)         \
	F(UINT, dfselect)          \
	F(UINT, gfselect)          \
	F(UINT, driver_features)   \
	F(UINT, status)            \
	F(UINT, config_generation) \
	F(UINT, isr)               \
	F(UINT, queue_select)      \
	F(UINT, config_vector)     \
	F(BIN, queue_vector)       \
	F(BIN, vq_enabled)         \
	F(BOOL, irq_level)
#define VQ_STATE(F)              \
	F(UINT, size)            \
	F(UINT, desc_gpa)        \
	F(UINT, avail_gpa)       \
	F(UINT, used_gpa)        \
	F(BOOL, event_idx)       \
	F(BOOL, indirect)        \
	F(UINT, last_avail)      \
	F(UINT, used_idx)        \
	F(UINT, signalled_used)  \
	F(BOOL, signalled_valid) \
	F(BOOL, broken)          \
	F(BIN, error)
#define COUNTERS(X)    \
	X(read_bytes)  \
	X(write_bytes) \
	X(read_ops)    \
	X(write_ops)   \
	X(rx_bytes)    \
	X(rx_frames)   \
	X(tx_bytes)    \
	X(tx_frames)
#define COUNTER_COUNT_(name) +1
#define COUNTER_PUT_(name)   persist_u64(pk, #name, atomic_load(&d->counters->name));
#define COUNTER_GET_(name)                                             \
	if (ok && (ok = persist_get_u64(&sub, #name, UINT64_MAX, &v))) \
		atomic_store(&d->counters->name, v);

static void virtio_save(void *opaque, struct msgpack_packer *pk)
{
	struct virtio_dev *d = opaque; /* d->lock is held: a device thread finished its batch */

	msgpack_pack_map(pk, 4 + PERSIST_NFIELDS(TRANSPORT_STATE) + (d->msix.nr > 0) +
				     (d->ops->save != NULL));
	pci_device_save(&d->pci, pk, "pci");
	PERSIST_PUT_FIELDS(pk, d, TRANSPORT_STATE);
	persist_key(pk, "vq");
	msgpack_pack_array(pk, d->ops->num_queues);
	for (unsigned int q = 0; q < d->ops->num_queues; q++)
		PERSIST_SAVE(pk, &d->vq[q], VQ_STATE);
	if (d->msix.nr)
		msix_save(&d->msix, pk, "msix");
	persist_key(pk, "counters");
	msgpack_pack_map(pk, 0 COUNTERS(COUNTER_COUNT_));
	COUNTERS(COUNTER_PUT_)
	persist_u64(pk, "num_queues", d->ops->num_queues);
	if (d->ops->save) {
		persist_key(pk, "device");
		d->ops->save(d, pk);
	}
}

/* What only the loaded state can get wrong: vectors, flags and the enabled queues' rings. */
static bool transport_check(struct virtio_dev *d, struct persist_in *in)
{
	char err[160];

	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		uint16_t v = d->queue_vector[q];

		if (*(uint8_t *)&d->vq_enabled[q] > 1 ||
		    (q >= d->ops->num_queues && d->vq_enabled[q]))
			return persist_fail(in, "vq_enabled", "queue %u: not a flag", q);
		if (v != VIRTIO_MSI_NO_VECTOR && v >= d->msix.nr)
			return persist_fail(in, "queue_vector", "queue %u: vector %u of %u", q, v,
					    d->msix.nr);
		if (q < d->ops->num_queues && d->vq_enabled[q] &&
		    vq_check_layout(&d->vq[q], &d->vm->mem, err, sizeof(err)))
			return persist_fail(in, "vq", "queue %u: %s", q, err);
	}
	if (d->config_vector != VIRTIO_MSI_NO_VECTOR && d->config_vector >= d->msix.nr)
		return persist_fail(in, "config_vector", "vector %u of %u", d->config_vector,
				    d->msix.nr);
	return true;
}

static bool virtio_load(void *opaque, struct persist_in *in)
{
	struct virtio_dev *d = opaque;
	struct persist_in sub;
	uint64_t nq;
	bool ok;

	pthread_mutex_lock(&d->lock);
	ok = persist_get_u64(in, "num_queues", VIRTIO_MAX_QUEUES, &nq);
	if (ok && nq != d->ops->num_queues)
		ok = persist_fail(in, "num_queues", "%" PRIu64 ", this device has %u", nq,
				  d->ops->num_queues);
	ok = ok && pci_device_load(&d->pci, in, "pci") && PERSIST_LOAD(in, d, TRANSPORT_STATE);
	for (unsigned int q = 0; ok && q < d->ops->num_queues; q++)
		ok = persist_elem(in, "vq", q, d->ops->num_queues, &sub) &&
		     PERSIST_LOAD(&sub, &d->vq[q], VQ_STATE);
	ok = ok && (!d->msix.nr || msix_load(&d->msix, in, "msix")) && transport_check(d, in);
	/* STATUS.Interrupt follows from the ISR and MSI-X as loaded (irq_level is the pin's) */
	if (ok)
		pci_intx_update(&d->pci, d->isr != 0 && !msix_enabled(&d->msix));
	if (ok && persist_sub(in, "counters", &sub)) {
		uint64_t v;

		COUNTERS(COUNTER_GET_)
	} else {
		ok = false;
	}
	if (ok && d->ops->load)
		ok = persist_sub(in, "device", &sub) && d->ops->load(d, &sub);
	if (ok && !d->vm->det)
		kick_queues(d);
	pthread_mutex_unlock(&d->lock);
	return ok;
}

/* The kind in cloud-hypervisor's device ids ("_disk0", "_net0", "_rng", "_console"). */
static const char *device_kind(uint16_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET:
		return "net";
	case VIRTIO_ID_BLOCK:
		return "disk";
	case VIRTIO_ID_CONSOLE:
		return "console";
	case VIRTIO_ID_RNG:
		return "rng";
	default:
		return "virtio";
	}
}

int virtio_pci_add(struct vm *vm, struct virtio_dev *d, const struct virtio_ops *ops, void *priv)
{
	struct vm_device *vd;
	int slot, r;

	if (ops->num_queues > VIRTIO_MAX_QUEUES || ops->queue_max > VQ_MAX_SIZE ||
	    !ops->queue_max || (ops->queue_max & (ops->queue_max - 1)))
		return -EINVAL;
	d->vm = vm;
	d->ops = ops;
	d->priv = priv;
	pthread_mutex_init(&d->lock, NULL);
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		d->notify_fd[q] = -1;
	pci_device_init(&d->pci, VIRTIO_VENDOR, VIRTIO_PCI_ID + ops->device_id, ops->class_code,
			VIRTIO_VENDOR, ops->device_id, 1);
	d->pci.ops = &pci_ops;
	d->pci.opaque = d;
	d->pci.machine_version = vm->cfg->machine_version;
	if (pci_bar_init(&d->pci, 0, VIRTIO_PCI_BAR_SIZE, PCI_BAR_MEM64 | PCI_BAR_PREFETCH))
		return -EINVAL;
	add_cap(d, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF,
		sizeof(struct virtio_pci_common_cfg));
	add_cap(d, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, VIRTIO_PCI_ISR_LEN);
	if (ops->config_size)
		add_cap(d, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF, ops->config_size);
	add_cap(d, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF, NOTIFY_MULT * ops->num_queues);
	if (!vm->det && msix_init(&d->msix, vm, &d->pci, ops->num_queues + 1, 0,
				  VIRTIO_PCI_MSIX_OFF, VIRTIO_PCI_PBA_OFF))
		return -EINVAL;
	/* Last in the list: every capability before it stays where version 1 has it. */
	if (d->pci.machine_version >= MACHINE_VERSION_PCI30 && add_cfg_cap(d))
		return -ENOSPC;
	if (vm_on_destroy(vm, virtio_dev_free, d))
		return -ENOSPC;
	device_reset(d);
	slot = pci_bus_add(vm->pci, &d->pci);
	if (slot < 0)
		return slot;
	vd = vm_add_device(vm, device_kind(ops->device_id), d->id, &d->pci);
	if (!vd)
		return -ENOSPC;
	d->counters = &vd->counters;
	r = vm_persist(vm, vd->id, virtio_save, virtio_load, d, &d->lock);
	if (r)
		return r;
	d->irq_line = vm->det ? isa_lines[(slot - 1) % sizeof(isa_lines)] : 16 + (slot - 1) % 4;
	pci_set_irq_pin(&d->pci, 1, d->irq_line);
	return 0;
}

int virtio_pop(struct virtio_dev *d, unsigned int q)
{
	struct vq_chain *c = &d->chain;
	char err[160];
	int r = vq_pop(&d->vq[q], &d->vm->mem, c, err, sizeof(err));

	if (r < 0) {
		needs_reset(d, err);
		return -1;
	}
	if (r && d->vm->trace) {
		uint8_t descs[VQ_MAX_SIZE * 13];
		size_t n = 0;

		/* Each buffer as gpa (8 bytes LE), len (4), write flag (1). */
		for (unsigned int i = 0; i < c->n; i++, n += 13) {
			memcpy(descs + n, &c->bufs[i].gpa, 8);
			memcpy(descs + n + 8, &c->bufs[i].len, 4);
			descs[n + 12] = c->bufs[i].write;
		}
		trace_vq_chain(d->vm->trace, d->pci.slot, q, c->head, descs, n);
	}
	return r;
}

bool virtio_used(struct virtio_dev *d, unsigned int q, uint16_t head, uint32_t written)
{
	if (vq_push(&d->vq[q], &d->vm->mem, head, written)) {
		needs_reset(d, "the used ring is not in guest memory");
		return false;
	}
	return true;
}

void virtio_interrupt(struct virtio_dev *d, unsigned int q)
{
	if (!vq_need_notify(&d->vq[q], &d->vm->mem))
		return;
	DEJAVM_PROBE(irq_inject, d->pci.slot, q);
	interrupt(d, d->queue_vector[q], ISR_QUEUE);
}

void virtio_push(struct virtio_dev *d, unsigned int q, uint16_t head, uint32_t written)
{
	if (virtio_used(d, q, head, written))
		virtio_interrupt(d, q);
}

bool virtio_dma_hooked(const struct virtio_dev *d)
{
	return d->vm->trace || (d->vm->replay && d->vm->replay->dma);
}

void virtio_dma(struct virtio_dev *d, uint64_t off, void *data, size_t len)
{
	const struct vm_replay_hooks *replay = d->vm->replay;

	if (replay && replay->dma)
		replay->dma(replay->ctx, data, len);
	if (len && d->vm->trace)
		trace_dma_write(d->vm->trace, d->pci.slot, off, data, len);
}

size_t virtio_write_chain(struct virtio_dev *d, uint64_t off, void *data, size_t len)
{
	const struct vm_replay_hooks *replay = d->vm->replay;
	size_t n, room = d->chain.in_bytes > off ? d->chain.in_bytes - off : 0;

	if (len > room)
		len = room;
	if (replay && replay->dma)
		replay->dma(replay->ctx, data, len);
	n = vq_chain_write(&d->chain, &d->vm->mem, off, data, len);

	if (n && d->vm->trace)
		trace_dma_write(d->vm->trace, d->pci.slot, off, data, n);
	return n;
}
