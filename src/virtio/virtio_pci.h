/* SPDX-License-Identifier: MIT */
/*
 * The virtio 1.x modern PCI transport: one BAR with the common, ISR, device-config and notify
 * structures (described by vendor capabilities), split virtqueues (virtqueue.h), and MSI-X
 * (normal mode: a vector per queue plus one for configuration changes) or a legacy INTx line
 * (deterministic mode, or a driver without MSI-X). A device model supplies a struct virtio_ops;
 * BAR accesses run on the vCPU thread that made them, under the device's lock.
 */
#ifndef DEJAVM_VIRTIO_PCI_H
#define DEJAVM_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../msix.h"
#include "../pci.h"
#include "../stats.h"
#include "virtqueue.h"

#define VIRTIO_MAX_QUEUES 8

struct persist_in;
struct msgpack_packer;

/* BAR 0 of every virtio device (64-bit, from the 64-bit window in slot order): */
#define VIRTIO_PCI_BAR_SIZE   0x8000
#define VIRTIO_PCI_COMMON_OFF 0x0000 /* struct virtio_pci_common_cfg */
#define VIRTIO_PCI_ISR_OFF    0x1000 /* ISR status (reading it acknowledges the interrupt) */
#define VIRTIO_PCI_ISR_LEN    4	     /* as its capability says */
#define VIRTIO_PCI_DEVICE_OFF 0x2000 /* device-specific configuration */
#define VIRTIO_PCI_NOTIFY_OFF 0x3000 /* notifications: queue q at +4 * q */
#define VIRTIO_PCI_MSIX_OFF   0x4000 /* MSI-X table (normal mode) */
#define VIRTIO_PCI_PBA_OFF    0x5000 /* MSI-X pending bits */

struct vm;
struct virtio_dev;

struct virtio_ops {
	const char *name;   /* "virtio-rng", for messages */
	uint16_t device_id; /* virtio device type: 2 block, 3 console, 4 entropy, ... */
	uint32_t class_code;
	uint64_t features; /* the device's; the transport adds VERSION_1 */
	unsigned int num_queues;
	uint16_t queue_max;
	uint32_t config_size;
	/* Device-specific configuration space (may be NULL when config_size is 0). */
	void (*config_read)(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(struct virtio_dev *d, uint32_t off, const uint8_t *data, uint32_t len);
	/* The driver notified queue q (it is enabled and DRIVER_OK is set). */
	void (*notify)(struct virtio_dev *d, unsigned int q);
	/* The driver reset the device. */
	void (*reset)(struct virtio_dev *d);
	/* Optional: the device's own state in a snapshot (one map) and reading it back. */
	void (*save)(struct virtio_dev *d, struct msgpack_packer *pk);
	bool (*load)(struct virtio_dev *d, struct persist_in *in);
};

struct virtio_dev {
	struct vm *vm;
	const struct virtio_ops *ops;
	void *priv;
	struct pci_device pci;
	uint8_t irq_line;
	bool irq_level;
	uint64_t bar_addr; /* where BAR 0 decodes now, 0: nowhere */
	/* Held by the vCPU (BAR accesses) and by a device's I/O thread, when it has one. */
	pthread_mutex_t lock;
	int notify_fd[VIRTIO_MAX_QUEUES]; /* ioeventfd for a queue's notify address, -1: none */

	/* common configuration */
	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	uint8_t status, config_generation, isr;
	uint16_t queue_select;
	uint16_t config_vector, queue_vector[VIRTIO_MAX_QUEUES]; /* MSI-X vectors */
	struct msix msix; /* msix.nr 0: none (deterministic mode) */
	struct vq vq[VIRTIO_MAX_QUEUES];
	bool vq_enabled[VIRTIO_MAX_QUEUES];
	struct vq_chain chain; /* scratch for the device's vq_pop() */
	const char *id;	       /* set before virtio_pci_add: the user's id, NULL: "_disk0"... */
	bool width_reported;   /* an access of a width virtio forbids was logged */
	uint8_t cfg_cap; /* the VIRTIO_PCI_CAP_PCI_CFG capability (machine version 2), 0: none */
	struct vm_counters *counters; /* vm.counters: set by virtio_pci_add */
};

/*
 * A device's own thread (normal mode: I/O, tap, pty), stopped and joined when the VM stops
 * (vm_on_stop) or when the device is freed, whichever comes first. The thread polls stop_fd
 * and returns when it becomes readable; wake_fd becomes readable on virtio_thread_wake().
 */
struct virtio_thread {
	pthread_t thread;
	int stop_fd, wake_fd; /* eventfds */
	bool started;
	const char *name; /* for messages */
	struct vm *vm;
	void *(*fn)(void *); /* what the thread runs, once filtered (sandbox.h) */
	void *arg;
};

/* Creates the eventfds, arranges the stop and starts fn(arg). Returns 0 or -errno. */
int virtio_thread_start(struct vm *vm, struct virtio_thread *t, const char *name,
			void *(*fn)(void *), void *arg);
/* From another thread (a notify exit): wakes it. Does nothing when it is not running. */
void virtio_thread_wake(struct virtio_thread *t);
/* Stops and joins the thread and closes its eventfds; does nothing when it is not running. */
void virtio_thread_stop(struct virtio_thread *t);

/* Puts d on the VM's PCI bus (next slot) with its BAR and capabilities. Returns 0 or -errno. */
int virtio_pci_add(struct vm *vm, struct virtio_dev *d, const struct virtio_ops *ops, void *priv);
/*
 * Pops the next chain of queue q into d->chain and records it: 1, 0 (empty), or -1 when the
 * ring is malformed (the device is then marked DEVICE_NEEDS_RESET and the guest told).
 */
int virtio_pop(struct virtio_dev *d, unsigned int q);
/* Returns chain head to queue q with `written` bytes and interrupts the guest if it wants. */
void virtio_push(struct virtio_dev *d, unsigned int q, uint16_t head, uint32_t written);
/* The two halves, for a batch: several virtio_used(), then one virtio_interrupt(). */
bool virtio_used(struct virtio_dev *d, unsigned int q, uint16_t head, uint32_t written);
void virtio_interrupt(struct virtio_dev *d, unsigned int q);
/*
 * Normal mode: queue q's notifications become an eventfd (KVM_IOEVENTFD on its notify address,
 * kept there when the BAR moves) for the device's I/O thread, instead of exits. Returns the fd
 * or -errno.
 */
int virtio_notify_eventfd(struct virtio_dev *d, unsigned int q);
/* Queue q may be served: enabled, DRIVER_OK, and the device not waiting for a reset. */
bool virtio_queue_ready(const struct virtio_dev *d, unsigned int q);
/* After serving queue q outside a notify exit: ask for the next kick (EVENT_IDX). */
void virtio_rearm(struct virtio_dev *d, unsigned int q);

/*
 * Writes data into the device-writable part of d->chain and into the trace (dma_write). In a
 * replay with --feed, data is first replaced by the recorded bytes.
 */
size_t virtio_write_chain(struct virtio_dev *d, uint64_t off, void *data, size_t len);
/*
 * For devices that let the backend write guest buffers directly (zero copy): data, a copy of
 * what landed there, goes into the trace, and in a replay with --feed is first replaced by
 * the recorded bytes (the caller then copies it back). virtio_dma_hooked(): whether to bother.
 */
bool virtio_dma_hooked(const struct virtio_dev *d);
void virtio_dma(struct virtio_dev *d, uint64_t off, void *data, size_t len);

#endif
