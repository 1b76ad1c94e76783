/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.x, spec section 2.7), device side. The guest is hostile: every
 * ring index, descriptor and buffer it writes is copied once, validated, and only then used;
 * every host access to guest memory goes through gpa_to_hva(). A malformed ring breaks the
 * queue (see vq_pop) instead of crashing or touching host memory outside guest RAM.
 *
 * Threading: one device thread owns a struct vq; the driver runs concurrently on a vCPU.
 */
#ifndef DEJAVM_VIRTQUEUE_H
#define DEJAVM_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../memory.h"

#define VQ_MAX_SIZE 1024

#define VIRTQ_DESC_F_NEXT	   1
#define VIRTQ_DESC_F_WRITE	   2
#define VIRTQ_DESC_F_INDIRECT	   4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

/*
 * The transport zeroes this when the driver (re)enables or resets the queue, then fills in
 * the layout fields and calls vq_check_layout().
 */
struct vq {
	uint16_t size; /* power of 2, <= VQ_MAX_SIZE */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx; /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated */

	/* device state */
	uint16_t last_avail;	 /* next avail ring slot to consume */
	uint16_t used_idx;	 /* our copy of used->idx; never read back from the guest */
	uint16_t signalled_used; /* used_idx at the last vq_need_notify() */
	bool signalled_valid;
	bool broken;	 /* the driver wrote a malformed ring: device needs reset */
	char error[160]; /* why, when broken */
	/*
	 * Heads popped and not pushed yet. Not snapshot state: every device pushes what it pops
	 * before it lets go of its lock, so the set is empty whenever a snapshot can be taken.
	 */
	uint64_t in_flight[VQ_MAX_SIZE / 64];
	/*
	 * The device's limit on the bytes of a chain in either direction (0: 4 GiB - 1), set by the
	 * device's reset hook: a longer chain is malformed. Configuration, not state.
	 */
	uint32_t max_chain_bytes;
};

/* One guest buffer, as the device sees it. */
struct vq_buf {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
};

struct vq_chain {
	uint16_t head;	       /* the id to give back to vq_push() */
	unsigned int n, n_out; /* buffers in total; the first n_out are device-readable */
	uint64_t out_bytes;    /* < 4 GiB */
	uint64_t in_bytes;     /* < 4 GiB, so it fits the used ring's len */
	struct vq_buf bufs[VQ_MAX_SIZE];
};

/* Size valid, rings aligned (desc 16, avail 2, used 4) and inside RAM. 0 or -1 with err. */
int vq_check_layout(const struct vq *q, const struct guest_mem *m, char *err, size_t errlen);

/*
 * Takes the next available chain. Returns 1 with *c filled, 0 when the ring is empty, -1 when
 * the driver broke the ring or the queue was already broken: err (and q->error) says what.
 * A broken queue stays broken, with its first message, until the transport resets it;
 * last_avail is not advanced past the bad chain. A head the driver made available twice
 * without the device having used it in between (still in flight, or twice among the entries
 * published now) breaks the ring: one chain must not become two requests, nor the same request
 * again and again at every notification.
 */
int vq_pop(struct vq *q, const struct guest_mem *m, struct vq_chain *c, char *err, size_t errlen);

/*
 * Publishes head with written bytes in the used ring (it is no longer in flight). -1 if the used
 * ring is not usable (the queue is then broken) or head >= size (a device bug; the queue stays
 * as it was).
 */
int vq_push(struct vq *q, const struct guest_mem *m, uint16_t head, uint32_t written);

/* After one or more pushes: should the device interrupt the driver? */
bool vq_need_notify(struct vq *q, const struct guest_mem *m);

/*
 * Asks the driver to notify (enable) or not to bother (disable) on new buffers: avail_event
 * = last_avail with event_idx, else used->flags. Pop again after enabling: a buffer added
 * just before may have come without a notification. -1 if the used ring is not in RAM.
 */
int vq_set_notify(struct vq *q, const struct guest_mem *m, bool enable);

/*
 * Copy from the device-readable part / into the device-writable part of a chain, starting
 * off bytes into that part. Return the bytes copied (short at the end of the part).
 */
size_t vq_chain_read(const struct vq_chain *c, const struct guest_mem *m, uint64_t off, void *dst,
		     size_t len);
size_t vq_chain_write(const struct vq_chain *c, const struct guest_mem *m, uint64_t off,
		      const void *src, size_t len);

struct iovec;
/*
 * iovecs over bytes [start, start+len) of the chain's device-writable (or readable) part,
 * pointing into guest memory (vq_pop() checked every buffer), so that a backend reads or writes
 * the guest's buffers directly. Returns the count, or -1 if it needs more than max.
 */
int vq_chain_iov(const struct vq_chain *c, const struct guest_mem *m, bool writable, uint64_t start,
		 uint64_t len, struct iovec *iov, unsigned int max);
/*
 * XXH3-64 of bytes [start, start+len) of the chain's device-writable (or readable) part: what a
 * request moved, as the trace's io_done holds it (short at the end of the part; 0: no bytes).
 */
uint64_t vq_chain_hash(const struct vq_chain *c, const struct guest_mem *m, bool writable,
		       uint64_t start, uint64_t len);
/* The same hash over iovecs, e.g. vq_chain_iov()'s as a backend was given them. */
uint64_t iov_hash(const struct iovec *iov, unsigned int n);

#endif
