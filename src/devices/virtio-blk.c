// SPDX-License-Identifier: MIT
/*
 * virtio-blk (virtio type 2) on a raw image: IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES.
 * The backend is io_uring (liburing) or, with io_engine=sync, plain preadv/pwritev; both read
 * and write the guest's buffers directly.
 *
 * Normal mode: notifications arrive on eventfds (KVM_IOEVENTFD, no exit) and an I/O thread per
 * disk serves them: every chain of the queue is taken, the data requests are submitted to
 * io_uring in one batch, the completions reaped, the used ring updated and the guest
 * interrupted, while the vCPU runs on. Deterministic mode serves the same batch on the vCPU at
 * the notify exit, so completions are visible to the guest only at that exit.
 *
 * Host errors (EIO, ENOSPC, short reads) become VIRTIO_BLK_S_IOERR for that request only. The
 * trace's io_done holds the offset each I/O went to and a hash of its sectors, so a replay
 * compares what the VMM wrote, not only what the guest asked for. Data
 * read from the image is recorded (dma_write), so a replay with --feed needs no image: it then
 * runs without a backend, reads get the recorded bytes and writes go nowhere.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <linux/fs.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "../log.h"
#include "../probes.h"
#include "../trace.h"
#include "../virtio/virtio_pci.h"
#include "../vm.h"

#define SECTOR	       512
#define SEG_MAX	       126	  /* data buffers per request we advertise */
#define SIZE_MAX_BYTES 32768	  /* bytes per buffer we advertise (enforced): < 4 MiB in all */
#define MAX_REQ_BYTES  (4u << 20) /* bounce buffer per request */
_Static_assert(SEG_MAX *SIZE_MAX_BYTES <= MAX_REQ_BYTES, "every request's data is recorded");
#define MAX_DISCARD 64 /* segments in one DISCARD / WRITE_ZEROES */

struct virtio_blk {
	struct virtio_dev vdev;
	const struct disk_config *cfg;
	int fd;	       /* -1: no backend (replay --feed) */
	uint64_t size; /* bytes; capacity is size / 512 */
	struct io_uring ring;
	bool ring_ok;
	char id[VIRTIO_BLK_ID_BYTES];
	uint8_t *bounce;
	struct virtio_blk_config config;
	struct virtio_ops ops;	     /* queue count and size differ per disk */
	unsigned long fail_nth, ios; /* $DEJAVM_TEST_BLK_EIO=N: the N-th backend I/O fails */
	/* $DEJAVM_TEST_BLK_WRITES: planted bugs the trace must show, "late" or "flip" (below) */
	enum { WRITES_OK, WRITES_LATE, WRITES_FLIP } test_writes;
	struct virtio_thread io; /* normal mode: serves ioeventfd notifications */
	struct blk_req *reqs;	 /* one batch: queue_size requests */
	/*
	 * Malformed requests logged (log_capped). Not snapshot state: it only decides what the log
	 * of this process shows.
	 */
	unsigned int warned;
};

/* $DEJAVM_TEST_BLK_EIO=N: true for the N-th backend I/O, which then fails with EIO. */
static bool injected_eio(struct virtio_blk *b)
{
	if (!b->fail_nth || ++b->ios != b->fail_nth)
		return false;
	log_warn("test failure switch: backend I/O %lu of %s fails with EIO", b->ios, b->cfg->path);
	return true;
}

/* DISCARD / WRITE_ZEROES on the backend: rare, so plain fallocate for both engines. */
static int backend_fallocate(struct virtio_blk *b, uint32_t type, uint64_t off, uint64_t len)
{
	int mode = FALLOC_FL_KEEP_SIZE |
		   (type == VIRTIO_BLK_T_DISCARD ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);

	if (injected_eio(b))
		return -EIO;
	if (b->fd < 0)
		return 0; /* replay --feed: no image */
	return fallocate(b->fd, mode, off, len) ? -errno : 0;
}

/* The whole range [off, off+len) must be inside the disk, in whole sectors. */
static bool in_range(const struct virtio_blk *b, uint64_t sector, uint64_t len)
{
	return !(len % SECTOR) && sector <= b->size / SECTOR &&
	       len / SECTOR <= b->size / SECTOR - sector;
}

/* DISCARD / WRITE_ZEROES: a list of {sector, num_sectors, flags} segments. */
static uint8_t discard(struct virtio_blk *b, uint32_t type, uint64_t data_len, uint64_t *done)
{
	struct virtio_blk_discard_write_zeroes seg[MAX_DISCARD];
	unsigned int n = data_len / sizeof(seg[0]);

	if (data_len % sizeof(seg[0]) || !n || n > MAX_DISCARD || b->cfg->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (vq_chain_read(&b->vdev.chain, &b->vdev.vm->mem, sizeof(struct virtio_blk_outhdr), seg,
			  data_len) != data_len)
		return VIRTIO_BLK_S_IOERR;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t len = (uint64_t)seg[i].num_sectors * SECTOR;

		if (!in_range(b, seg[i].sector, len) || seg[i].flags & ~1u)
			return VIRTIO_BLK_S_IOERR;
		if (backend_fallocate(b, type, seg[i].sector * SECTOR, len) < 0)
			return VIRTIO_BLK_S_IOERR;
		*done += len;
	}
	return VIRTIO_BLK_S_OK;
}

/* One request of a batch, from the chain it came in until it is completed. */
struct blk_req {
	uint16_t head;
	uint32_t type;
	uint64_t sector, data_len, t0;
	uint64_t off;	      /* on the backend: where the I/O goes, as recorded */
	uint64_t hash;	      /* of the sectors written, as the backend got them (iov_hash) */
	void *flipped;	      /* $DEJAVM_TEST_BLK_WRITES=flip: what is written instead */
	uint8_t *status_byte; /* the chain's last device-writable byte; NULL: there is none */
	uint32_t written;     /* bytes put in device-writable buffers besides the status byte */
	uint8_t status;
	bool io; /* goes to the backend with the batch */
	int res;
	unsigned int niov;
	struct iovec iov[SEG_MAX + 2]; /* last: prepare() clears only what comes before */
};

/*
 * The limits the device advertises, which keep every request within the bounce buffer that
 * records (and feeds) its data: at most SEG_MAX data buffers (vq_chain_iov() returned n of
 * them) of at most SIZE_MAX_BYTES each. A driver that ignores them gets IOERR, not silence.
 */
static bool within_limits(struct virtio_blk *b, const struct blk_req *r, int n)
{
	for (int k = 0; k < n; k++) {
		if (r->iov[k].iov_len > SIZE_MAX_BYTES) {
			log_capped(&b->warned,
				   "virtio-blk %s: request %u has a buffer of %zu bytes, more than "
				   "the size_max of %u it was offered: IOERR",
				   b->cfg->path, r->head, r->iov[k].iov_len, SIZE_MAX_BYTES);
			return false;
		}
	}
	if (n > SEG_MAX) {
		log_capped(
			&b->warned,
			"virtio-blk %s: request %u has %d data buffers, more than the seg_max of "
			"%u it was offered: IOERR",
			b->cfg->path, r->head, n, SEG_MAX);
		return false;
	}
	return true;
}

/* Takes the chain in b->vdev.chain apart into r: an I/O for the batch, or done at once. */
static void prepare(struct virtio_blk *b, unsigned int q, struct blk_req *r)
{
	struct virtio_dev *d = &b->vdev;
	const struct vq_chain *c = &d->chain;
	struct virtio_blk_outhdr hdr;
	struct iovec last;
	int n = -1;

	memset(r, 0, offsetof(struct blk_req, iov));
	r->head = c->head;
	r->t0 = d->vm->trace ? monotonic_ns() : 0; /* only the trace wants the latency */
	r->status = VIRTIO_BLK_S_IOERR;
	r->type = UINT32_MAX;
	/* A request: the 16-byte header readable, the status byte the last writable one. */
	if (c->in_bytes >= 1 &&
	    vq_chain_iov(c, &d->vm->mem, true, c->in_bytes - 1, 1, &last, 1) == 1)
		r->status_byte = last.iov_base;
	if (!r->status_byte || c->out_bytes < sizeof(hdr) ||
	    vq_chain_read(c, &d->vm->mem, 0, &hdr, sizeof(hdr)) != sizeof(hdr)) {
		log_capped(&b->warned, "virtio-blk %s: request %u without header or status byte",
			   b->cfg->path, c->head);
		return;
	}
	r->type = hdr.type;
	r->sector = hdr.sector;
	r->off = hdr.sector * SECTOR;
	if (b->test_writes == WRITES_LATE && hdr.type == VIRTIO_BLK_T_OUT)
		r->off += SECTOR;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
		r->data_len = c->in_bytes - 1;
		if (in_range(b, hdr.sector, r->data_len))
			n = vq_chain_iov(c, &d->vm->mem, true, 0, r->data_len, r->iov, SEG_MAX + 2);
		break;
	case VIRTIO_BLK_T_OUT:
		r->data_len = c->out_bytes - sizeof(hdr);
		if (!b->cfg->readonly && in_range(b, hdr.sector, r->data_len))
			n = vq_chain_iov(c, &d->vm->mem, false, sizeof(hdr), r->data_len, r->iov,
					 SEG_MAX + 2);
		break;
	case VIRTIO_BLK_T_FLUSH:
		n = 0;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VIRTIO_BLK_ID_BYTES];
		size_t len = c->in_bytes - 1 < sizeof(id) ? c->in_bytes - 1 : sizeof(id);

		memcpy(id, b->id, sizeof(id));
		r->written = virtio_write_chain(d, 0, id, len);
		r->data_len = len;
		r->status = VIRTIO_BLK_S_OK;
		return;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		r->status = discard(b, hdr.type, c->out_bytes - sizeof(hdr), &r->data_len);
		return;
	default:
		r->status = VIRTIO_BLK_S_UNSUPP;
		return;
	}
	(void)q;
	DEJAVM_PROBE(req_submit, d->pci.slot, q, r->head, r->type);
	if (n >= 0 && !within_limits(b, r, n))
		n = -1;
	if (n >= 0) {
		r->niov = n;
		r->io = true;
	}
}

/* $DEJAVM_TEST_BLK_WRITES=flip: the write's data with its first byte flipped, from a copy. */
static void flip_first_byte(struct blk_req *r)
{
	uint8_t *p = malloc(r->data_len ? r->data_len : 1);
	size_t pos = 0;

	if (!p)
		return;
	for (unsigned int k = 0; k < r->niov; pos += r->iov[k++].iov_len)
		memcpy(p + pos, r->iov[k].iov_base, r->iov[k].iov_len);
	p[0] ^= 0xff;
	r->flipped = p;
	r->iov[0] = (struct iovec){.iov_base = p, .iov_len = r->data_len};
	r->niov = 1;
}

/* The batch's I/Os: one io_uring submission, then every completion (or the sync engine). */
static void run_batch(struct virtio_blk *b, struct blk_req *reqs, unsigned int nr)
{
	unsigned int queued = 0;

	for (unsigned int i = 0; i < nr; i++) {
		struct blk_req *r = &reqs[i];
		off_t off = r->off;

		if (!r->io)
			continue;
		if (injected_eio(b)) {
			r->res = -EIO;
			r->io = false;
			continue;
		}
		if (r->type == VIRTIO_BLK_T_OUT) {
			if (b->test_writes == WRITES_FLIP)
				flip_first_byte(r);
			if (b->vdev.vm->trace) /* only the trace wants it */
				r->hash = iov_hash(r->iov, r->niov);
		}
		if (b->fd < 0) { /* replay --feed: reads get the recorded data later */
			for (unsigned int k = 0; k < r->niov; k++)
				if (r->type == VIRTIO_BLK_T_IN)
					memset(r->iov[k].iov_base, 0, r->iov[k].iov_len);
			r->res = r->data_len;
		} else if (b->ring_ok) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

			if (r->type == VIRTIO_BLK_T_IN)
				io_uring_prep_readv(sqe, b->fd, r->iov, r->niov, off);
			else if (r->type == VIRTIO_BLK_T_OUT)
				io_uring_prep_writev(sqe, b->fd, r->iov, r->niov, off);
			else /* FLUSH: after every write before it in the batch */
				io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC),
					io_uring_sqe_set_flags(sqe, IOSQE_IO_DRAIN);
			io_uring_sqe_set_data64(sqe, i);
			queued++;
			continue;
		} else if (r->type == VIRTIO_BLK_T_IN) {
			r->res = preadv(b->fd, r->iov, r->niov, off);
		} else if (r->type == VIRTIO_BLK_T_OUT) {
			r->res = pwritev(b->fd, r->iov, r->niov, off);
		} else {
			r->res = fdatasync(b->fd) ? -errno : 0;
		}
		if (r->res < 0 && r->res != -EIO)
			r->res = -errno;
	}
	/*
	 * The vCPU thread waits here in deterministic mode, where the exit-budget watchdog's
	 * signal may interrupt the wait (-EINTR): that must not fail the request.
	 */
	if (queued) {
		int e;

		do
			e = io_uring_submit_and_wait(&b->ring, queued);
		while (e == -EINTR);
		if (e < 0)
			log_warn("virtio-blk %s: io_uring submit: %s", b->cfg->path, strerror(-e));
	}
	for (unsigned int got = 0; got < queued; got++) {
		struct io_uring_cqe *cqe;
		int e;

		do
			e = io_uring_wait_cqe(&b->ring, &cqe);
		while (e == -EINTR);
		if (e)
			break;
		reqs[io_uring_cqe_get_data64(cqe)].res = cqe->res;
		io_uring_cqe_seen(&b->ring, cqe);
	}
}

/* Status byte, trace events and the used ring for one request, in the order they came. */
static void complete(struct virtio_blk *b, unsigned int q, struct blk_req *r)
{
	struct virtio_dev *d = &b->vdev;
	uint64_t hash = 0;

	if (r->io)
		r->status =
			(r->type == VIRTIO_BLK_T_FLUSH ? r->res >= 0 : r->res == (int)r->data_len)
				? VIRTIO_BLK_S_OK
				: VIRTIO_BLK_S_IOERR;
	if (r->io && r->type == VIRTIO_BLK_T_IN && r->status == VIRTIO_BLK_S_OK) {
		/* What the disk gave the guest: recorded, and replaced in a --feed replay. */
		if (virtio_dma_hooked(d)) { /* within_limits(): it fits the bounce buffer */
			size_t pos = 0;

			for (unsigned int k = 0; k < r->niov; pos += r->iov[k++].iov_len)
				memcpy(b->bounce + pos, r->iov[k].iov_base, r->iov[k].iov_len);
			virtio_dma(d, 0, b->bounce, r->data_len);
			pos = 0;
			for (unsigned int k = 0; k < r->niov; pos += r->iov[k++].iov_len)
				memcpy(r->iov[k].iov_base, b->bounce + pos, r->iov[k].iov_len);
		}
		r->written = r->data_len;
		if (d->vm->trace) /* the sectors as the guest got them */
			hash = iov_hash(r->iov, r->niov);
	} else if (r->type == VIRTIO_BLK_T_OUT && r->status == VIRTIO_BLK_S_OK) {
		hash = r->hash;
	}
	free(r->flipped);
	if (r->io && r->status != VIRTIO_BLK_S_OK)
		log_debug("virtio-blk %s: request %u type %u sector %" PRIu64 ": %s", b->cfg->path,
			  r->head, r->type, r->sector, r->res < 0 ? strerror(-r->res) : "short");
	if (r->status_byte)
		*r->status_byte = r->status;
	if (r->status == VIRTIO_BLK_S_OK && r->type == VIRTIO_BLK_T_IN) {
		atomic_fetch_add_explicit(&d->counters->read_bytes, r->data_len,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&d->counters->read_ops, 1, memory_order_relaxed);
	} else if (r->status == VIRTIO_BLK_S_OK && r->type == VIRTIO_BLK_T_OUT) {
		atomic_fetch_add_explicit(&d->counters->write_bytes, r->data_len,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&d->counters->write_ops, 1, memory_order_relaxed);
	}
	if (d->vm->trace)
		trace_io_done(d->vm->trace, d->pci.slot, q, r->head, r->type, r->io ? r->off : 0,
			      r->status == VIRTIO_BLK_S_OK ? r->data_len : 0, r->status,
			      d->vm->det ? 0 : monotonic_ns() - r->t0, hash);
	DEJAVM_PROBE(req_complete, d->pci.slot, q, r->head, r->status);
	virtio_used(d, q, r->head, r->written + (r->status_byte != NULL));
}

/*
 * A notification: every chain the queue holds is taken (recorded as it is), the I/Os go to
 * the backend in batches of up to queue_size, and the requests complete in the order they came.
 * A full batch means the driver may have added more meanwhile (normal mode): look again, for as
 * long as it keeps the queue full. Returns the requests served.
 */
static unsigned int serve_queue(struct virtio_dev *d, unsigned int q)
{
	struct virtio_blk *b = d->priv;
	unsigned int nr, total = 0;

	do {
		nr = 0;
		while (nr < b->cfg->queue_size && virtio_pop(d, q) > 0)
			prepare(b, q, &b->reqs[nr++]);
		run_batch(b, b->reqs, nr);
		for (unsigned int i = 0; i < nr; i++)
			complete(b, q, &b->reqs[i]);
		if (nr)
			virtio_interrupt(d, q); /* one look at the guest's wishes per batch */
		total += nr;
	} while (nr == b->cfg->queue_size);
	return total;
}

static void blk_notify(struct virtio_dev *d, unsigned int q)
{
	serve_queue(d, q);
}

/*
 * Normal mode: KVM signals queue notifications on eventfds (no exit) and this thread serves
 * them, so the vCPU runs on while the I/O completes. The guest may add requests meanwhile, so
 * after asking for the next kick (avail_event) the queue is looked at once more.
 */
static void *blk_io_thread(void *arg)
{
	struct virtio_blk *b = arg;
	struct virtio_dev *d = &b->vdev;
	struct pollfd p[VIRTIO_MAX_QUEUES + 1];
	unsigned int nq = d->ops->num_queues;
	uint64_t n;

	for (unsigned int q = 0; q < nq; q++)
		p[q] = (struct pollfd){.fd = d->notify_fd[q], .events = POLLIN};
	p[nq] = (struct pollfd){.fd = b->io.stop_fd, .events = POLLIN};
	for (;;) {
		if (poll(p, nq + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("virtio-blk %s: I/O thread: poll: %s", b->cfg->path,
				strerror(errno));
			return NULL;
		}
		if (p[nq].revents)
			return NULL;
		for (unsigned int q = 0; q < nq; q++) {
			if (!(p[q].revents & POLLIN) || read(p[q].fd, &n, sizeof(n)) != sizeof(n))
				continue;
			DEJAVM_PROBE(vq_notify, d->pci.slot, q);
			pthread_mutex_lock(&d->lock);
			while (virtio_queue_ready(d, q)) {
				serve_queue(d, q);
				virtio_rearm(d, q);
				if (!serve_queue(d, q))
					break;
			}
			pthread_mutex_unlock(&d->lock);
		}
	}
}

/* Normal mode only: deterministic mode serves notifications at their exits, on the vCPU. */
static int start_io_thread(struct vm *vm, struct virtio_blk *b)
{
	struct virtio_dev *d = &b->vdev;
	int r;

	for (unsigned int q = 0; q < d->ops->num_queues; q++) {
		r = virtio_notify_eventfd(d, q);
		if (r < 0) {
			log_warn("virtio-blk %s: no ioeventfd (%s): notifications exit",
				 b->cfg->path, strerror(-r));
			return 0;
		}
	}
	return virtio_thread_start(vm, &b->io, "virtio-blk", blk_io_thread, b);
}

static void blk_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_blk *b = d->priv;

	memcpy(data, (const uint8_t *)&b->config + off, len);
}

/* Like cloud-hypervisor's default: the image file's device and inode numbers. */
static void default_id(struct virtio_blk *b, const struct stat *st)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%" PRIx64 "%" PRIx64 "%" PRIx64, (uint64_t)st->st_dev,
		 (uint64_t)st->st_rdev, (uint64_t)st->st_ino);
	memcpy(b->id, buf, strnlen(buf, sizeof(b->id)));
}

/* The bytes a disk image holds: a file's size, or a block device's (BLKGETSIZE64). */
static int image_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) ? -errno : 0;
	*size = st.st_size;
	return 0;
}

int blk_image_identity(const char *path, uint64_t *size, char xxh3_128[33])
{
	enum { CHUNK = 4 << 20 };
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;
	XXH3_state_t st;
	uint8_t *buf = NULL;
	uint64_t pos = 0;

	if (fd < 0)
		return -errno;
	r = image_size(fd, size);
	if (!r && !(buf = malloc(CHUNK)))
		r = -ENOMEM;
	XXH3_128bits_reset(&st);
	while (!r && pos < *size) {
		ssize_t n = pread(fd, buf, CHUNK, pos);

		if (n <= 0) {
			r = n ? -errno : -EIO; /* shorter than its size: changing under us */
			break;
		}
		XXH3_128bits_update(&st, buf, n);
		pos += n;
	}
	if (!r) {
		XXH128_canonical_t c;

		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
		for (unsigned int k = 0; k < sizeof(c.digest); k++)
			snprintf(xxh3_128 + 2 * k, 3, "%02x", c.digest[k]);
	}
	free(buf);
	close(fd);
	return r;
}

static int blk_open(struct virtio_blk *b)
{
	const struct disk_config *c = b->cfg;
	struct stat st;
	int flags = (c->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (c->direct ? O_DIRECT : 0), r;

	if (c->feed_size) { /* replay --feed: the recorded size, no image */
		b->fd = -1;
		b->size = c->feed_size;
		return 0;
	}
	b->fd = open(c->path, flags);
	if (b->fd < 0 || fstat(b->fd, &st)) {
		log_err("--disk path=%s: cannot open: %s", c->path, strerror(errno));
		return -errno;
	}
	r = image_size(b->fd, &b->size);
	if (r) {
		log_err("--disk path=%s: cannot tell its size: %s", c->path, strerror(-r));
		return r;
	}
	if (b->size % SECTOR)
		log_warn("--disk path=%s: %" PRIu64 " bytes is not a whole number of sectors; "
			 "the last %" PRIu64 " bytes are not visible",
			 c->path, b->size, b->size % SECTOR);
	if (!c->serial)
		default_id(b, &st);
	if (!c->sync_engine) {
		r = io_uring_queue_init(c->queue_size, &b->ring, 0);

		if (r)
			log_warn("--disk path=%s: io_uring: %s; using io_engine=sync", c->path,
				 strerror(-r));
		b->ring_ok = !r;
	}
	return 0;
}

static const struct virtio_ops blk_ops_template = {
	.name = "virtio-blk",
	.device_id = 2,
	.class_code = 0x018000, /* mass storage, other */
	.num_queues = 1,
	.config_size = sizeof(struct virtio_blk_config),
	.config_read = blk_config_read,
	.notify = blk_notify,
};

/* Before a snapshot (the device's lock is held: its I/O thread has no batch): to the image. */
static int blk_flush(void *arg)
{
	struct virtio_blk *b = arg;

	return b->fd >= 0 && fdatasync(b->fd) ? -errno : 0;
}

/* When the VM stops (before --stats and the trace's end): what the log did not show. */
static void blk_stopped(void *arg)
{
	struct virtio_blk *b = arg;

	log_capped_summary(b->warned, "virtio-blk %s: malformed requests", b->cfg->path);
}

static void blk_free(void *arg)
{
	struct virtio_blk *b = arg;

	virtio_thread_stop(&b->io);
	if (b->ring_ok)
		io_uring_queue_exit(&b->ring);
	if (b->fd >= 0)
		close(b->fd);
	free(b->bounce);
	free(b->reqs);
	free(b);
}

int virtio_blk_add(struct vm *vm, const struct disk_config *cfg)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	struct virtio_ops *ops;
	int r;

	if (!b)
		return -ENOMEM;
	b->fd = -1;
	b->cfg = cfg;
	if (getenv("DEJAVM_TEST_BLK_EIO"))
		b->fail_nth = strtoul(getenv("DEJAVM_TEST_BLK_EIO"), NULL, 10);
	if (getenv("DEJAVM_TEST_BLK_WRITES")) {
		const char *w = getenv("DEJAVM_TEST_BLK_WRITES");

		b->test_writes = !strcmp(w, "late")   ? WRITES_LATE
				 : !strcmp(w, "flip") ? WRITES_FLIP
						      : WRITES_OK;
		log_warn("test switch DEJAVM_TEST_BLK_WRITES=%s: %s", w,
			 b->test_writes == WRITES_LATE	 ? "every write goes one sector late"
			 : b->test_writes == WRITES_FLIP ? "every write has its first byte flipped"
							 : "not understood (late or flip)");
	}
	b->bounce = malloc(MAX_REQ_BYTES);
	b->reqs = calloc(cfg->queue_size, sizeof(*b->reqs));
	if (!b->bounce || !b->reqs || vm_on_destroy(vm, blk_free, b)) {
		free(b->bounce);
		free(b->reqs);
		free(b);
		return -ENOMEM;
	}
	r = blk_open(b);
	if (!r)
		r = vm_on_snapshot(vm, cfg->path, blk_flush, b);
	if (!r)
		r = vm_on_stop(vm, blk_stopped, b);
	if (r)
		return r;
	ops = &b->ops;
	if (cfg->serial)
		memcpy(b->id, cfg->serial, strnlen(cfg->serial, sizeof(b->id)));
	b->config.capacity = b->size / SECTOR;
	b->config.seg_max = SEG_MAX;
	b->config.size_max = SIZE_MAX_BYTES;
	b->config.blk_size = SECTOR;
	b->config.num_queues = cfg->num_queues;
	b->config.max_discard_sectors = UINT32_MAX;
	b->config.max_discard_seg = MAX_DISCARD;
	b->config.discard_sector_alignment = 1;
	b->config.max_write_zeroes_sectors = UINT32_MAX;
	b->config.max_write_zeroes_seg = MAX_DISCARD;
	*ops = blk_ops_template;
	ops->num_queues = cfg->num_queues;
	ops->queue_max = cfg->queue_size;
	ops->features = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_SIZE_MAX |
			1ULL << VIRTIO_BLK_F_BLK_SIZE | 1ULL << VIRTIO_BLK_F_FLUSH |
			1ULL << VIRTIO_RING_F_EVENT_IDX | 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (cfg->readonly)
		ops->features |= 1ULL << VIRTIO_BLK_F_RO;
	else
		ops->features |= 1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	if (cfg->num_queues > 1)
		ops->features |= 1ULL << VIRTIO_BLK_F_MQ;
	b->vdev.id = cfg->id;
	r = virtio_pci_add(vm, &b->vdev, ops, b);
	if (!r && !vm->cfg->deterministic && vm->vm_fd >= 0)
		r = start_io_thread(vm, b);
	return r;
}
