// SPDX-License-Identifier: MIT
/*
 * virtio-blk (virtio type 2) on a raw image: IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES.
 * The backend is io_uring (liburing) or, with io_engine=sync, plain preadv/pwritev.
 *
 * A notification is served on the vCPU thread that made it: every chain of the queue is taken,
 * the data requests are submitted to io_uring together, and the vCPU waits for their
 * completions before the used ring is updated and the guest interrupted. Completions are thus
 * visible to the guest only at that exit, which deterministic mode needs; normal mode would do
 * better with an I/O thread and ioeventfd (not done yet, see the issue notes).
 *
 * Host errors (EIO, ENOSPC, short reads) become VIRTIO_BLK_S_IOERR for that request only. Data
 * read from the image is recorded (dma_write), so a replay with --feed needs no image: it then
 * runs without a backend, reads get the recorded bytes and writes go nowhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "../trace.h"
#include "../virtio/virtio_pci.h"
#include "../vm.h"

#define SECTOR	       512
#define SEG_MAX	       126	    /* data buffers per request we advertise */
#define SIZE_MAX_BYTES 32768	    /* bytes per buffer we advertise: requests stay < 4 MiB */
#define MAX_REQ_BYTES  (4u << 20) /* bounce buffer per request */
#define MAX_DISCARD    64	    /* segments in one DISCARD / WRITE_ZEROES */

struct virtio_blk {
	struct virtio_dev vdev;
	const struct disk_config *cfg;
	int fd;		  /* -1: no backend (replay --feed) */
	uint64_t size;	  /* bytes; capacity is size / 512 */
	struct io_uring ring;
	bool ring_ok;
	char id[VIRTIO_BLK_ID_BYTES];
	uint8_t *bounce;
	struct virtio_blk_config config;
	struct virtio_ops ops; /* queue count and size differ per disk */
	unsigned long fail_nth, ios; /* $DEJAVM_TEST_BLK_EIO=N: the N-th backend I/O fails */
};

static uint64_t host_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* One I/O on the backend: io_uring (one SQE, submitted and reaped here) or the sync engine. */
static ssize_t backend_io(struct virtio_blk *b, uint32_t type, void *buf, size_t len, off_t off)
{
	struct iovec iov = { buf, len };

	if (b->fail_nth && ++b->ios == b->fail_nth) {
		log_warn("test failure switch: backend I/O %lu of %s fails with EIO", b->ios,
			 b->cfg->path);
		return -EIO;
	}
	if (b->fd < 0)
		return type == VIRTIO_BLK_T_IN ? (memset(buf, 0, len), (ssize_t)len) : (ssize_t)len;
	if (b->ring_ok) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
		struct io_uring_cqe *cqe;
		int r;

		if (!sqe)
			return -EBUSY;
		switch (type) {
		case VIRTIO_BLK_T_IN: io_uring_prep_readv(sqe, b->fd, &iov, 1, off); break;
		case VIRTIO_BLK_T_OUT: io_uring_prep_writev(sqe, b->fd, &iov, 1, off); break;
		case VIRTIO_BLK_T_FLUSH: io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC); break;
		default:
			io_uring_prep_fallocate(sqe, b->fd,
						FALLOC_FL_KEEP_SIZE | (type == VIRTIO_BLK_T_DISCARD
									       ? FALLOC_FL_PUNCH_HOLE
									       : FALLOC_FL_ZERO_RANGE),
						off, len);
			break;
		}
		r = io_uring_submit_and_wait(&b->ring, 1);
		if (r < 0)
			return r;
		r = io_uring_wait_cqe(&b->ring, &cqe);
		if (r < 0)
			return r;
		r = cqe->res;
		io_uring_cqe_seen(&b->ring, cqe);
		return type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_OUT ? r : r < 0 ? r : (int)len;
	}
	switch (type) {
	case VIRTIO_BLK_T_IN: return preadv(b->fd, &iov, 1, off) < 0 ? -errno : (ssize_t)len;
	case VIRTIO_BLK_T_OUT: return pwritev(b->fd, &iov, 1, off) < 0 ? -errno : (ssize_t)len;
	case VIRTIO_BLK_T_FLUSH: return fdatasync(b->fd) ? -errno : 0;
	default:
		return fallocate(b->fd,
				 FALLOC_FL_KEEP_SIZE | (type == VIRTIO_BLK_T_DISCARD
								? FALLOC_FL_PUNCH_HOLE
								: FALLOC_FL_ZERO_RANGE),
				 off, len)
			       ? -errno
			       : (ssize_t)len;
	}
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
		if (backend_io(b, type, NULL, len, seg[i].sector * SECTOR) < 0)
			return VIRTIO_BLK_S_IOERR;
		*done += len;
	}
	return VIRTIO_BLK_S_OK;
}

/* Serves the chain in b->vdev.chain; returns the bytes written into the guest's buffers. */
static uint32_t serve(struct virtio_blk *b, unsigned int q)
{
	struct virtio_dev *d = &b->vdev;
	const struct vq_chain *c = &d->chain;
	struct virtio_blk_outhdr hdr;
	uint64_t t0 = host_ns(), done = 0, data_len = 0, off = 0;
	uint32_t written = 0;
	uint8_t status = VIRTIO_BLK_S_IOERR;
	ssize_t r;

	/* A request: the 16-byte header readable, the status byte the last writable one. */
	if (c->in_bytes < 1 || c->out_bytes < sizeof(hdr) ||
	    vq_chain_read(c, &d->vm->mem, 0, &hdr, sizeof(hdr)) != sizeof(hdr)) {
		log_warn("virtio-blk %s: request %u without header or status byte",
			 b->cfg->path, c->head);
		hdr.type = UINT32_MAX;
		goto reply;
	}
	off = hdr.sector * SECTOR;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
		data_len = c->in_bytes - 1;
		if (!in_range(b, hdr.sector, data_len) || data_len > MAX_REQ_BYTES)
			break;
		r = backend_io(b, hdr.type, b->bounce, data_len, off);
		if (r == (ssize_t)data_len) {
			written = virtio_write_chain(d, 0, b->bounce, data_len);
			done = data_len;
			status = VIRTIO_BLK_S_OK;
		}
		break;
	case VIRTIO_BLK_T_OUT:
		data_len = c->out_bytes - sizeof(hdr);
		if (b->cfg->readonly || !in_range(b, hdr.sector, data_len) ||
		    data_len > MAX_REQ_BYTES ||
		    vq_chain_read(c, &d->vm->mem, sizeof(hdr), b->bounce, data_len) != data_len)
			break;
		r = backend_io(b, hdr.type, b->bounce, data_len, off);
		if (r == (ssize_t)data_len) {
			done = data_len;
			status = VIRTIO_BLK_S_OK;
		}
		break;
	case VIRTIO_BLK_T_FLUSH:
		status = backend_io(b, hdr.type, NULL, 0, 0) < 0 ? VIRTIO_BLK_S_IOERR
								 : VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VIRTIO_BLK_ID_BYTES];
		size_t n = c->in_bytes - 1 < sizeof(id) ? c->in_bytes - 1 : sizeof(id);

		memcpy(id, b->id, sizeof(id));
		written = virtio_write_chain(d, 0, id, n);
		done = n;
		status = VIRTIO_BLK_S_OK;
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		off = 0;
		status = discard(b, hdr.type, c->out_bytes - sizeof(hdr), &done);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
reply:
	if (c->in_bytes >= 1) {
		uint8_t s = status;

		/* The status byte is the guest's, not outside data: not fed, not a dma_write. */
		vq_chain_write(c, &d->vm->mem, c->in_bytes - 1, &s, 1);
		written += 1;
	}
	if (d->vm->trace)
		trace_io_done(d->vm->trace, d->pci.slot, q, c->head, hdr.type, off, done, status,
			      d->vm->det ? 0 : host_ns() - t0);
	return written;
}

static void blk_notify(struct virtio_dev *d, unsigned int q)
{
	while (virtio_pop(d, q) > 0)
		virtio_push(d, q, d->chain.head, serve(d->priv, q));
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

static int blk_open(struct virtio_blk *b)
{
	const struct disk_config *c = b->cfg;
	struct stat st;
	int flags = (c->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (c->direct ? O_DIRECT : 0);

	if (c->feed_size) { /* replay --feed: the recorded size, no image */
		b->fd = -1;
		b->size = c->feed_size;
		return 0;
	}
	b->fd = open(c->path, flags);
	if (b->fd < 0 || fstat(b->fd, &st)) {
		log_err("--disk path=%s: %s", c->path, strerror(errno));
		return -errno;
	}
	b->size = S_ISBLK(st.st_mode) ? (uint64_t)lseek(b->fd, 0, SEEK_END) : (uint64_t)st.st_size;
	if (b->size % SECTOR)
		log_warn("--disk path=%s: %" PRIu64 " bytes is not a whole number of sectors; "
			 "the last %" PRIu64 " bytes are not visible",
			 c->path, b->size, b->size % SECTOR);
	if (!c->serial)
		default_id(b, &st);
	if (!c->sync_engine) {
		int r = io_uring_queue_init(c->queue_size, &b->ring, 0);

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

static void blk_free(void *arg)
{
	struct virtio_blk *b = arg;

	if (b->ring_ok)
		io_uring_queue_exit(&b->ring);
	if (b->fd >= 0)
		close(b->fd);
	free(b->bounce);
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
	b->bounce = malloc(MAX_REQ_BYTES);
	if (!b->bounce || vm_on_destroy(vm, blk_free, b)) {
		free(b->bounce);
		free(b);
		return -ENOMEM;
	}
	r = blk_open(b);
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
			1ULL << VIRTIO_BLK_F_BLK_SIZE |
			1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_RING_F_EVENT_IDX |
			1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (cfg->readonly)
		ops->features |= 1ULL << VIRTIO_BLK_F_RO;
	else
		ops->features |= 1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	if (cfg->num_queues > 1)
		ops->features |= 1ULL << VIRTIO_BLK_F_MQ;
	return virtio_pci_add(vm, &b->vdev, ops, b);
}
