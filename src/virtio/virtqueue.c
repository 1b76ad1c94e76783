// SPDX-License-Identifier: MIT
/*
 * Split virtqueue engine, device side (virtio 1.2 section 2.7).
 *
 * Everything the driver writes is untrusted and may change under our feet: ring indices are
 * read once with single loads, descriptors are copied to the stack once before they are
 * checked, and every guest range is translated with gpa_to_hva() (which is overflow-safe) before
 * it is touched. Limits: chains hold at most VQ_MAX_SIZE buffers, each direction below 4 GiB (or
 * the device's max_chain_bytes), and a head is taken at most once until it is used: with at most
 * `size` entries available, the work one notification can ask for is bounded.
 */
#include "virtqueue.h"

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include <endian.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct vring_desc) == 16, "virtq_desc is 16 bytes");

/*
 * avail: flags, idx, ring[size], used_event. used: flags, idx, {id, len}[size], avail_event.
 * The event fields are counted even without EVENT_IDX, as the spec's size table does.
 */
#define AVAIL_BYTES(n) (6 + 2 * (uint64_t)(n))
#define USED_BYTES(n)  (6 + 8 * (uint64_t)(n))
#define AVAIL_RING(n)  (4 + 2 * (uint64_t)(n)) /* offset of ring[n]; n = size: used_event */
#define USED_RING(n)   (4 + 8 * (uint64_t)(n)) /* offset of ring[n]; n = size: avail_event */

/* Single loads and stores: the guest must not see or cause torn or repeated accesses. */
static uint16_t load16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED));
}

static void store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELAXED);
}

static void store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, htole32(v), __ATOMIC_RELAXED);
}

/*
 * One copy of descriptor i of a table. The compiler barrier keeps the compiler from reading
 * the guest's copy again later instead of ours: what we validate is what we use. memcpy
 * because indirect tables need not be aligned.
 */
static void read_desc(struct vring_desc *d, const uint8_t *table, unsigned int i)
{
	memcpy(d, table + 16 * (size_t)i, sizeof(*d));
	__asm__ __volatile__("" ::: "memory");
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

static bool size_ok(uint16_t size)
{
	return size && size <= VQ_MAX_SIZE && !(size & (size - 1));
}

/* Host view of a ring; NULL if the size is bad, gpa misaligned or the ring not in RAM. */
static uint8_t *ring_hva(const struct vq *q, const struct guest_mem *m, uint64_t gpa, uint64_t len,
			 uint64_t align)
{
	if (!size_ok(q->size) || (gpa & (align - 1)))
		return NULL;
	return gpa_to_hva(m, gpa, len);
}

__attribute__((format(printf, 3, 4))) static int msg(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Marks the queue broken with the first reason only: later errors are consequences. */
__attribute__((format(printf, 2, 3))) static int fail(struct vq *q, const char *fmt, ...)
{
	va_list ap;

	if (q->broken)
		return -1;
	va_start(ap, fmt);
	vsnprintf(q->error, sizeof(q->error), fmt, ap);
	va_end(ap);
	q->broken = true;
	return -1;
}

int vq_check_layout(const struct vq *q, const struct guest_mem *m, char *err, size_t errlen)
{
	const struct {
		const char *name;
		uint64_t gpa, len, align;
	} r[] = {
		{"descriptor table", q->desc_gpa, 16 * (uint64_t)q->size, 16},
		{"avail ring", q->avail_gpa, AVAIL_BYTES(q->size), 2},
		{"used ring", q->used_gpa, USED_BYTES(q->size), 4},
	};

	if (!size_ok(q->size))
		return msg(err, errlen, "queue size %u is not a power of 2 in [1, %u]", q->size,
			   VQ_MAX_SIZE);
	for (unsigned int i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		if (r[i].gpa & (r[i].align - 1))
			return msg(err, errlen,
				   "%s at 0x%" PRIx64 " is not %" PRIu64 "-byte aligned", r[i].name,
				   r[i].gpa, r[i].align);
		if (!gpa_to_hva(m, r[i].gpa, r[i].len))
			return msg(err, errlen,
				   "%s at 0x%" PRIx64 " (%" PRIu64
				   " bytes) is outside guest memory",
				   r[i].name, r[i].gpa, r[i].len);
	}
	return 0;
}

/* Appends one validated buffer to the chain; what/i name the descriptor in messages. */
static int add_buf(struct vq *q, const struct guest_mem *m, struct vq_chain *c,
		   const struct vring_desc *d, const char *what, unsigned int i)
{
	bool write = d->flags & VIRTQ_DESC_F_WRITE;
	uint64_t *total = write ? &c->in_bytes : &c->out_bytes;

	if (c->n == VQ_MAX_SIZE)
		return fail(q, "%s %u: chain has more than %u buffers", what, i, VQ_MAX_SIZE);
	/* Zero-length buffers are legal and count, but their address must still be RAM. */
	if (!gpa_to_hva(m, d->addr, d->len))
		return fail(q,
			    "%s %u: address 0x%" PRIx64 " length %" PRIu32 " outside guest memory",
			    what, i, d->addr, d->len);
	/* Devices parse "request, then room for the reply": order is part of the ABI. */
	if (!write && c->n > c->n_out)
		return fail(q, "%s %u: device-readable descriptor after a device-writable one",
			    what, i);
	*total += d->len;
	if (*total > UINT32_MAX)
		return fail(q, "%s %u: total device-%s length %" PRIu64 " exceeds 4 GiB - 1", what,
			    i, write ? "writable" : "readable", *total);
	if (q->max_chain_bytes && *total > q->max_chain_bytes)
		return fail(q,
			    "%s %u: total device-%s length %" PRIu64 " exceeds the %" PRIu32
			    " bytes this device takes in a chain",
			    what, i, write ? "writable" : "readable", *total, q->max_chain_bytes);
	c->n_out += !write;
	c->bufs[c->n++] = (struct vq_buf){.gpa = d->addr, .len = d->len, .write = write};
	return 0;
}

/* The table an INDIRECT descriptor d (number i of the main table) refers to. */
static int walk_indirect(struct vq *q, const struct guest_mem *m, struct vq_chain *c,
			 const struct vring_desc *d, unsigned int i)
{
	unsigned int entries = d->len / 16, count = 0, j = 0;
	const uint8_t *table;

	if (!q->indirect)
		return fail(q, "descriptor %u: indirect, but VIRTIO_F_INDIRECT_DESC not negotiated",
			    i);
	/* Spec 2.7.5.3.1: the driver MUST NOT set both; the table ends the chain. */
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return fail(q, "descriptor %u: both INDIRECT and NEXT set", i);
	if (!d->len || d->len % 16)
		return fail(q,
			    "descriptor %u: indirect table length %" PRIu32
			    " not a non-zero multiple of 16",
			    i, d->len);
	if (entries > VQ_MAX_SIZE)
		return fail(q, "descriptor %u: indirect table of %u entries, more than %u", i,
			    entries, VQ_MAX_SIZE);
	table = gpa_to_hva(m, d->addr, d->len);
	if (!table)
		return fail(q,
			    "descriptor %u: indirect table at 0x%" PRIx64 " length %" PRIu32
			    " outside guest memory",
			    i, d->addr, d->len);
	/* The WRITE flag of d itself is ignored, as the spec requires. */
	for (;;) {
		struct vring_desc e;

		if (++count > entries)
			return fail(q,
				    "indirect descriptor %u: chain longer than its table (loop?)",
				    j);
		read_desc(&e, table, j);
		if (e.flags & VIRTQ_DESC_F_INDIRECT)
			return fail(q, "indirect descriptor %u: nested indirect descriptor", j);
		if (add_buf(q, m, c, &e, "indirect descriptor", j) < 0)
			return -1;
		if (!(e.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (e.next >= entries)
			return fail(q, "indirect descriptor %u: next %u >= table entries %u", j,
				    e.next, entries);
		j = e.next;
	}
}

/*
 * Follows the chain from head. Zero or more direct descriptors may end in one INDIRECT
 * descriptor (spec 2.7.5.3.2), so the buffer count is capped at VQ_MAX_SIZE overall.
 */
static int walk(struct vq *q, const struct guest_mem *m, const uint8_t *desc, uint16_t head,
		struct vq_chain *c)
{
	unsigned int i = head, count = 0;

	for (;;) {
		struct vring_desc d;

		/* No honest chain is longer than the table: this bounds a loop of any shape. */
		if (++count > q->size)
			return fail(q, "descriptor %u: chain longer than the queue (loop?)", i);
		read_desc(&d, desc, i);
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return walk_indirect(q, m, c, &d, i);
		if (add_buf(q, m, c, &d, "descriptor", i) < 0)
			return -1;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= q->size)
			return fail(q, "descriptor %u: next %u >= queue size %u", i, d.next,
				    q->size);
		i = d.next;
	}
}

static bool in_flight(const struct vq *q, uint16_t head)
{
	return q->in_flight[head / 64] >> (head % 64) & 1;
}

/*
 * A chain the driver made available is the device's until it comes back in the used ring, so a
 * driver makes a head available again only after it saw it used. Head, about to be taken from
 * ring slot `slot`, must therefore not be in flight, nor appear again among the other entries
 * published now: the driver wrote those before the device took this one, so it cannot have seen
 * it used. This holds whatever the driver does meanwhile (a device thread and a vCPU run
 * concurrently), and needs no state beyond the ring and the in-flight set.
 */
static int check_head(struct vq *q, const uint8_t *avail, uint16_t slot, uint16_t pending,
		      uint16_t head)
{
	if (in_flight(q, head))
		return fail(q,
			    "avail ring entry %u: head %u is made available again before it was "
			    "used",
			    slot & (q->size - 1), head);
	for (uint16_t k = 1; k < pending; k++) {
		uint16_t other = (uint16_t)(slot + k) & (q->size - 1);

		if (load16(avail + AVAIL_RING(other)) == head)
			return fail(
				q,
				"avail ring entries %u and %u both hold head %u (made available "
				"twice before it was used)",
				slot & (q->size - 1), other, head);
	}
	return 0;
}

int vq_pop(struct vq *q, const struct guest_mem *m, struct vq_chain *c, char *err, size_t errlen)
{
	uint8_t *desc, *avail;
	uint16_t avail_idx, pending, head;

	if (q->broken)
		goto broken;
	if (vq_check_layout(q, m, q->error, sizeof(q->error)) < 0) {
		q->broken = true;
		goto broken;
	}
	desc = gpa_to_hva(m, q->desc_gpa, 16 * (uint64_t)q->size);
	avail = gpa_to_hva(m, q->avail_gpa, AVAIL_BYTES(q->size));

	/* Acquire pairs with the driver's barrier before its idx store: ring entries are seen. */
	avail_idx = le16toh(__atomic_load_n((uint16_t *)(avail + 2), __ATOMIC_ACQUIRE));
	pending = avail_idx - q->last_avail;
	if (pending > q->size) {
		fail(q, "avail idx moved by %u > queue size %u", pending, q->size);
		goto broken;
	}
	if (!pending)
		return 0;
	head = load16(avail + AVAIL_RING(q->last_avail & (q->size - 1)));
	if (head >= q->size) {
		fail(q, "avail ring entry %u: head %u >= queue size %u",
		     q->last_avail & (q->size - 1), head, q->size);
		goto broken;
	}
	if (check_head(q, avail, q->last_avail, pending, head) < 0)
		goto broken;
	c->head = head;
	c->n = c->n_out = 0;
	c->out_bytes = c->in_bytes = 0;
	if (walk(q, m, desc, head, c) < 0)
		goto broken;
	q->last_avail++;
	q->in_flight[head / 64] |= 1ULL << (head % 64);
	return 1;
broken:
	msg(err, errlen, "%s", q->error);
	return -1;
}

int vq_push(struct vq *q, const struct guest_mem *m, uint16_t head, uint32_t written)
{
	uint8_t *used = ring_hva(q, m, q->used_gpa, USED_BYTES(q->size), 4), *elem;

	if (!used)
		return fail(q, "used ring at 0x%" PRIx64 " is not usable", q->used_gpa);
	if (head >= q->size) /* a device bug, not the driver's: the queue stays usable */
		return -1;
	q->in_flight[head / 64] &= ~(1ULL << (head % 64));
	elem = used + USED_RING(q->used_idx & (q->size - 1));
	store32(elem, head);
	store32(elem + 4, written);
	q->used_idx++;
	/* Release: a driver that sees the new idx sees the entry and the data we wrote. */
	__atomic_store_n((uint16_t *)(used + 2), htole16(q->used_idx), __ATOMIC_RELEASE);
	return 0;
}

bool vq_need_notify(struct vq *q, const struct guest_mem *m)
{
	uint16_t old = q->signalled_used, new = q->used_idx, event;
	bool valid = q->signalled_valid;
	const uint8_t *avail;

	/*
	 * Full barrier: our used idx store must be globally visible before we read flags or
	 * used_event. The driver does the mirror image (write used_event, mb, re-read used idx);
	 * without this, each side can miss the other's update and the driver waits forever.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail = ring_hva(q, m, q->avail_gpa, AVAIL_BYTES(q->size), 2);
	if (!avail)
		return true; /* a spurious interrupt is harmless, a missing one hangs the guest */
	q->signalled_used = new;
	q->signalled_valid = true;
	if (!q->event_idx)
		return !(load16(avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	event = load16(avail + AVAIL_RING(q->size));
	/* vring_need_event(): did used idx move past used_event within (old, new], mod 2^16? */
	return !valid || (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

int vq_set_notify(struct vq *q, const struct guest_mem *m, bool enable)
{
	uint8_t *used = ring_hva(q, m, q->used_gpa, USED_BYTES(q->size), 4);

	if (!used)
		return -1;
	if (q->event_idx) {
		/* EVENT_IDX: flags stay 0; a stale avail_event already mutes the driver. */
		if (enable)
			store16(used + USED_RING(q->size), q->last_avail);
	} else {
		store16(used, enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
	}
	/* Order the store before the caller's next read of avail idx (mirror of need_notify). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return 0;
}

/* Copies between host and buffers [first, end) of c, skipping off bytes first. */
static size_t copy(const struct vq_chain *c, const struct guest_mem *m, unsigned int first,
		   unsigned int end, uint64_t off, uint8_t *host, size_t len, bool to_guest)
{
	size_t done = 0;

	for (unsigned int i = first; i < end && done < len; i++) {
		const struct vq_buf *b = &c->bufs[i];
		uint64_t n;
		uint8_t *g;

		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		n = b->len - off < len - done ? b->len - off : len - done;
		/* Checked at pop already; again here because c is caller memory. */
		g = gpa_to_hva(m, b->gpa + off, n);
		if (!g)
			break;
		if (to_guest)
			memcpy(g, host + done, n);
		else
			memcpy(host + done, g, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t vq_chain_read(const struct vq_chain *c, const struct guest_mem *m, uint64_t off, void *dst,
		     size_t len)
{
	return copy(c, m, 0, c->n_out, off, dst, len, false);
}

size_t vq_chain_write(const struct vq_chain *c, const struct guest_mem *m, uint64_t off,
		      const void *src, size_t len)
{
	return copy(c, m, c->n_out, c->n, off, (uint8_t *)src, len, true);
}

uint64_t vq_chain_hash(const struct vq_chain *c, const struct guest_mem *m, bool writable,
		       uint64_t start, uint64_t len)
{
	struct iovec iov[VQ_MAX_SIZE]; /* a chain has at most that many buffers */
	int n = vq_chain_iov(c, m, writable, start, len, iov, VQ_MAX_SIZE);

	return n > 0 ? iov_hash(iov, n) : 0;
}

uint64_t iov_hash(const struct iovec *iov, unsigned int n)
{
	XXH3_state_t st;
	uint64_t hashed = 0;

	XXH3_64bits_reset(&st);
	for (unsigned int i = 0; i < n; i++) {
		if (!iov[i].iov_base) /* vq_pop() checked every buffer: cannot happen */
			continue;
		XXH3_64bits_update(&st, iov[i].iov_base, iov[i].iov_len);
		hashed += iov[i].iov_len;
	}
	return hashed ? XXH3_64bits_digest(&st) : 0;
}

int vq_chain_iov(const struct vq_chain *c, const struct guest_mem *m, bool writable, uint64_t start,
		 uint64_t len, struct iovec *iov, unsigned int max)
{
	uint64_t pos = 0;
	int n = 0;

	for (unsigned int i = 0; i < c->n; i++) {
		uint64_t bs, be, s, e;

		if (c->bufs[i].write != writable)
			continue;
		bs = pos;
		be = pos += c->bufs[i].len;
		s = bs > start ? bs : start;
		e = be < start + len ? be : start + len;
		if (s >= e)
			continue;
		if ((unsigned int)n == max)
			return -1;
		iov[n].iov_base = gpa_to_hva(m, c->bufs[i].gpa + (s - bs), e - s);
		iov[n++].iov_len = e - s;
	}
	return n;
}
