// SPDX-License-Identifier: MIT
/*
 * Recorder plumbing. Producers (vCPU threads) append msgpack events to their own buffer under a
 * per-stream mutex that only the writer ever contends for; a full buffer (1 MiB) goes to the
 * writer thread, which compresses it into one zstd frame and writes it. At most MAX_CHUNKS
 * buffers exist, and at most MAX_QUEUED bytes of them wait for the writer: beyond that a
 * producer waits (back-pressure, counted in stall_ns) instead of dropping. A buffer that one big
 * event (a 4 MiB disk read) made grow goes back to its usual size when it is written, so what
 * the tracer holds stays bounded whatever the guest makes it record. The writer also flushes
 * partial buffers every 100 ms, so a SIGKILL loses at most that much. Sequence numbers are global
 * and dense, so a reader can merge the streams. With a replaced clock (deterministic mode's virtual
 * time) frames are cut by that clock instead, so that frame boundaries, and with them the file's
 * bytes, do not depend on the host. Without a path (a replay), events only go to the sink and
 * buffers are reused in place.
 */
#include "trace.h"

#include "config.h"
#include "probes.h"
#include "sandbox.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define CHUNK_FLUSH	  (1u << 20)
#define CHUNK_INITIAL	  (CHUNK_FLUSH + (64u << 10))
#define CHUNK_SLACK	  (64u << 10) /* growth beyond what an event needs */
#define MAX_CHUNKS	  16
#define MAX_QUEUED	  (MAX_CHUNKS * (size_t)CHUNK_FLUSH) /* bytes queued for the writer */
#define FLUSH_INTERVAL_NS 100000000L
#define SHARED_STREAM	  (TRACE_MAX_STREAMS - 1)

struct chunk {
	struct chunk *next;
	size_t len, cap;
	uint64_t first_seq, nevents;
	uint64_t base_seq, base_ts; /* the stream's running sums before the first event */
	unsigned int stream;
	bool checkpoint; /* a checkpoint's payload (base_seq, base_ts: its seq and virtual time) */
	char *data;	 /* mmap()ed (a checkpoint's: malloc()ed): a shrunk tail goes to the OS */
};

struct stream {
	pthread_mutex_t lock;
	struct chunk *cur;
	msgpack_packer pk;
	unsigned int vcpu;
	struct tracer *t;
	uint64_t prev_seq, prev_ts; /* delta bases: -1 and 0 at the start */
	uint64_t exit_ts;	    /* ts of the exit being handled (vCPU streams) */
	size_t ev_start;	    /* offset in cur of the event being written (with its sync) */
	struct pred_slot {
		uint64_t key, value;
		bool used;
	} pred[TRACE_PRED_SLOTS];      /* value prediction, emptied at every frame's sync record */
	uint64_t regs[TRACE_MAX_REGS]; /* REG fields of the last event with them, likewise */
};

struct frame {
	uint64_t offset;
	uint32_t csize, dsize;
	unsigned int stream;
	uint64_t base_seq, base_ts, nevents;
};

struct tracer {
	int fd;
	char *path;
	int level;
	ZSTD_CCtx *cctx;
	void *zbuf;
	size_t zcap;
	_Atomic uint64_t seq;
	struct stream streams[TRACE_MAX_STREAMS];

	pthread_mutex_t qlock;
	pthread_cond_t work, space;
	struct chunk *q_head, *q_tail, *free;
	unsigned int nchunks;
	size_t queued; /* bytes of the event buffers in q_head */
	bool stopping;
	pthread_t writer;

	struct frame *frames;
	size_t nframes, capframes;
	uint64_t offset;
	bool failed;
	void (*on_error)(void *ctx, const char *msg);
	void *ctx;
	_Atomic uint64_t stall_ns;
	_Atomic uint64_t written_bytes, written_frames; /* for other threads: trace_written() */

	uint64_t (*clock)(void *ctx);
	void *clock_ctx;
	void (*sink)(void *ctx, const void *data, size_t len);
	void *sink_ctx;
	struct timespec t0;
	bool clock_started;
};

static __thread struct stream *thread_stream;

static uint64_t mono_ns(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000000000ULL + now.tv_nsec - t0->tv_nsec;
}

static uint64_t event_time(struct tracer *t)
{
	if (t->clock)
		return t->clock(t->clock_ctx);
	return t->clock_started ? mono_ns(&t->t0) : 0;
}

static struct chunk *chunk_new(void)
{
	struct chunk *c = calloc(1, sizeof(*c));
	void *p = c ? mmap(NULL, CHUNK_INITIAL, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0)
		    : MAP_FAILED;

	if (p == MAP_FAILED) {
		free(c);
		return NULL;
	}
	c->data = p;
	c->cap = CHUNK_INITIAL;
	return c;
}

static void chunk_free(struct chunk *c)
{
	if (c && c->checkpoint)
		free(c->data);
	else if (c)
		munmap(c->data, c->cap);
	free(c);
}

/* Empty, and back to its usual size if an event made it grow (the tail's pages are returned). */
static void chunk_reset(struct chunk *c)
{
	void *p;

	c->len = 0;
	c->nevents = 0;
	if (c->cap <= CHUNK_INITIAL)
		return;
	p = mremap(c->data, c->cap, CHUNK_INITIAL, 0);
	if (p != MAP_FAILED) { /* (shrinking in place does not fail; if it did, it stays big) */
		c->data = p;
		c->cap = CHUNK_INITIAL;
	}
}

/* msgpack-c write callback: append to the stream's current buffer, growing it for big events. */
static int stream_write(void *data, const char *buf, size_t len)
{
	struct stream *s = data;
	struct chunk *c = s->cur;

	if (c->len + len > c->cap) {
		/* Only big events outgrow a buffer (it is cut at CHUNK_FLUSH): room for this one.
		 */
		size_t cap = c->len + len + CHUNK_SLACK;
		void *p = mremap(c->data, c->cap, cap, MREMAP_MAYMOVE);

		if (p == MAP_FAILED)
			return -1;
		c->data = p;
		c->cap = cap;
	}
	memcpy(c->data + c->len, buf, len);
	c->len += len;
	return 0;
}

static void report(struct tracer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(struct tracer *t, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n = snprintf(msg, sizeof(msg), "trace %s: ", t->path);

	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	t->failed = true;
	if (t->on_error)
		t->on_error(t->ctx, msg);
}

static int write_all(struct tracer *t, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(t->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			report(t, "cannot write at offset %llu: %s", (unsigned long long)t->offset,
			       n < 0 ? strerror(errno) : "short write");
			return -1;
		}
		p += n, len -= n, t->offset += n;
	}
	return 0;
}

/* Room for bound compressed bytes in t->zbuf. 0, or -1 after reporting. */
static int zbuf_reserve(struct tracer *t, size_t bound)
{
	void *p;

	if (bound <= t->zcap)
		return 0;
	p = realloc(t->zbuf, bound);
	if (!p) {
		report(t, "out of memory for a %zu-byte frame", bound);
		return -1;
	}
	t->zbuf = p;
	t->zcap = bound;
	return 0;
}

/* Room for one more entry in the frame index. 0, or -1 after reporting. */
static int frames_reserve(struct tracer *t)
{
	size_t cap = t->capframes ? t->capframes * 2 : 64;
	struct frame *f;

	if (t->nframes < t->capframes)
		return 0;
	f = realloc(t->frames, cap * sizeof(*f));
	if (!f) {
		report(t, "out of memory for the frame index");
		return -1;
	}
	t->frames = f;
	t->capframes = cap;
	return 0;
}

/* Compresses one buffer into one zstd frame and appends it (writer thread, or open/close). */
static int write_frame(struct tracer *t, const void *data, size_t len, const struct chunk *c)
{
	size_t bound = ZSTD_compressBound(len), csize;

	if (t->failed || zbuf_reserve(t, bound))
		return -1;
	csize = ZSTD_compress2(t->cctx, t->zbuf, t->zcap, data, len);
	if (ZSTD_isError(csize)) {
		report(t, "zstd: %s", ZSTD_getErrorName(csize));
		return -1;
	}
	if (frames_reserve(t))
		return -1;
	t->frames[t->nframes] = (struct frame){t->offset, csize, len, 0, 0, 0, 0};
	if (c)
		t->frames[t->nframes] = (struct frame){
			t->offset, csize, len, c->stream, c->base_seq, c->base_ts, c->nevents};
	if (write_all(t, t->zbuf, csize))
		return -1;
	DEJAVM_PROBE(trace_flush, len, csize);
	t->nframes++;
	atomic_store_explicit(&t->written_bytes, t->offset, memory_order_relaxed);
	atomic_store_explicit(&t->written_frames, t->nframes, memory_order_relaxed);
	return 0;
}

/*
 * A checkpoint frame: a zstd skippable frame holding the checkpoint's seq and virtual time (8
 * bytes LE each), then its payload as one zstd frame with a checksum (docs/trace-format.md).
 */
static int write_checkpoint(struct tracer *t, const struct chunk *c)
{
	size_t bound = ZSTD_compressBound(c->len), csize;
	uint32_t hdr[2];
	uint64_t pos[2] = {c->base_seq, c->base_ts}, offset = t->offset;

	if (t->failed || zbuf_reserve(t, bound))
		return -1;
	csize = ZSTD_compress2(t->cctx, t->zbuf, t->zcap, c->data, c->len);
	if (ZSTD_isError(csize) || csize > UINT32_MAX - sizeof(pos)) {
		report(t, "zstd: %s", ZSTD_isError(csize) ? ZSTD_getErrorName(csize) : "too big");
		return -1;
	}
	if (frames_reserve(t))
		return -1;
	hdr[0] = TRACE_CKPT_MAGIC;
	hdr[1] = sizeof(pos) + csize;
	if (write_all(t, hdr, sizeof(hdr)) || write_all(t, pos, sizeof(pos)) ||
	    write_all(t, t->zbuf, csize))
		return -1;
	t->frames[t->nframes++] = (struct frame){
		offset, sizeof(hdr) + hdr[1], 0, TRACE_CKPT_STREAM, c->base_seq, c->base_ts, 0};
	atomic_store_explicit(&t->written_bytes, t->offset, memory_order_relaxed);
	atomic_store_explicit(&t->written_frames, t->nframes, memory_order_relaxed);
	return 0;
}

static void give_back(struct tracer *t, struct chunk *c)
{
	size_t len = c->len, page = getpagesize(), used = (len + page - 1) / page * page;

	chunk_reset(c);
	/*
	 * Its pages go back to the OS until it is used again: what the tracer holds is what is in
	 * flight, not the most that ever was (a zero-filled page per 4 KiB of events on reuse).
	 */
	madvise(c->data, used < c->cap ? used : c->cap, MADV_DONTNEED);
	pthread_mutex_lock(&t->qlock);
	t->queued -= len;
	c->next = t->free;
	t->free = c;
	pthread_cond_broadcast(&t->space);
	pthread_mutex_unlock(&t->qlock);
}

/*
 * Takes a buffer for s (whose current one is queued for writing). With wait, blocks until one
 * is free; without, returns NULL if none is. Called with qlock held.
 */
static struct chunk *take_chunk_locked(struct tracer *t, bool wait)
{
	struct timespec a, b;
	bool waited = false;

	while ((!t->free && t->nchunks >= MAX_CHUNKS) || (t->queued >= MAX_QUEUED && t->q_head)) {
		if (!wait)
			return NULL;
		if (!waited)
			clock_gettime(CLOCK_MONOTONIC, &a);
		waited = true;
		pthread_cond_wait(&t->space, &t->qlock);
	}
	if (waited) {
		clock_gettime(CLOCK_MONOTONIC, &b);
		atomic_fetch_add(&t->stall_ns, (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000LL +
							  b.tv_nsec - a.tv_nsec));
	}
	if (t->free) {
		struct chunk *c = t->free;

		t->free = c->next;
		return c;
	}
	struct chunk *c = chunk_new();
	if (c)
		t->nchunks++;
	return c;
}

/* Queues s's current buffer for the writer and gives s a fresh one. s->lock is held. */
static bool submit(struct tracer *t, struct stream *s, bool wait)
{
	struct chunk *fresh;

	pthread_mutex_lock(&t->qlock);
	fresh = take_chunk_locked(t, wait);
	if (fresh) {
		struct chunk *full = s->cur;

		full->next = NULL;
		if (t->q_tail)
			t->q_tail->next = full;
		else
			t->q_head = full;
		t->q_tail = full;
		t->queued += full->len;
		pthread_cond_signal(&t->work);
		s->cur = fresh;
	}
	pthread_mutex_unlock(&t->qlock);
	return fresh != NULL;
}

static void flush_partial(struct tracer *t, bool wait)
{
	for (unsigned int i = 0; i < TRACE_MAX_STREAMS; i++) {
		struct stream *s = &t->streams[i];

		pthread_mutex_lock(&s->lock);
		if (s->cur->len && t->fd < 0)
			chunk_reset(s->cur); /* no file: the sink had the events */
		else if (s->cur->len)
			submit(t, s, wait);
		pthread_mutex_unlock(&s->lock);
	}
}

static void *writer_thread(void *arg)
{
	struct tracer *t = arg;

	if (seccomp_install(SECCOMP_WRITER, "trace-writer"))
		report(t, "its system-call filter cannot be installed (see the log)");

	for (;;) {
		struct chunk *c;
		struct timespec deadline;

		pthread_mutex_lock(&t->qlock);
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += FLUSH_INTERVAL_NS;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		while (!t->q_head && !t->stopping) {
			if (pthread_cond_timedwait(&t->work, &t->qlock, &deadline) == ETIMEDOUT)
				break;
		}
		c = t->q_head;
		if (c) {
			t->q_head = c->next;
			if (!t->q_head)
				t->q_tail = NULL;
		}
		bool stop = !c && t->stopping;
		pthread_mutex_unlock(&t->qlock);
		if (stop)
			break;
		if (!c) {
			/* The interval passed: make what we have durable (host time: not with a
			 * replaced clock, whose frames trace_event_begin() cuts). */
			if (!t->clock)
				flush_partial(t, false);
			continue;
		}
		if (c->checkpoint) {
			write_checkpoint(t, c);
			chunk_free(c); /* not one of the pool's */
			continue;
		}
		write_frame(t, c->data, c->len, c);
		give_back(t, c);
	}
	return NULL;
}

struct tracer *trace_open(const char *path, int level,
			  void (*pack_header)(msgpack_packer *, void *), void *ctx,
			  void (*on_error)(void *ctx, const char *msg))
{
	struct tracer *t = calloc(1, sizeof(*t));
	msgpack_sbuffer hdr;
	msgpack_packer pk;
	int err;

	if (!t)
		return NULL;
	t->fd = -1;
	t->level = level;
	t->on_error = on_error;
	t->ctx = ctx;
	pthread_mutex_init(&t->qlock, NULL);
	pthread_cond_init(&t->work, NULL);
	pthread_cond_init(&t->space, NULL);
	for (unsigned int i = 0; i < TRACE_MAX_STREAMS; i++) {
		struct stream *s = &t->streams[i];

		pthread_mutex_init(&s->lock, NULL);
		s->t = t;
		s->vcpu = i == SHARED_STREAM ? TRACE_VCPU_NONE : i;
		s->prev_seq = UINT64_MAX;
		s->cur = chunk_new();
		if (!s->cur) {
			errno = ENOMEM;
			goto fail;
		}
		msgpack_packer_init(&s->pk, s, stream_write);
	}
	if (!path)
		return t; /* events go to the sink only */
	t->path = strdup(path);
	t->cctx = ZSTD_createCCtx();
	if (!t->path || !t->cctx) {
		errno = ENOMEM;
		goto fail;
	}
	/* A checksum per frame, so a flipped bit in event data is an error, not a wrong value. */
	ZSTD_CCtx_setParameter(t->cctx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(t->cctx, ZSTD_c_checksumFlag, 1);
	t->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (t->fd < 0)
		goto fail;

	msgpack_sbuffer_init(&hdr);
	msgpack_packer_init(&pk, &hdr, msgpack_sbuffer_write);
	pack_header(&pk, ctx);
	err = write_frame(t, hdr.data, hdr.size, NULL);
	msgpack_sbuffer_destroy(&hdr);
	if (err) {
		errno = EIO;
		goto fail;
	}
	err = pthread_create(&t->writer, NULL, writer_thread, t);
	if (err) {
		errno = err;
		goto fail;
	}
	return t;
fail:
	err = errno;
	/* The file stays: never remove a path the user named (it may not even be a file). */
	if (t->fd >= 0)
		close(t->fd);
	for (unsigned int i = 0; i < TRACE_MAX_STREAMS; i++)
		chunk_free(t->streams[i].cur);
	ZSTD_freeCCtx(t->cctx);
	free(t->zbuf);
	free(t->frames);
	free(t->path);
	free(t);
	errno = err;
	return NULL;
}

void trace_flush(struct tracer *t)
{
	flush_partial(t, true);
}

void trace_attach_thread(struct tracer *t, unsigned int vcpu)
{
	/* MAX_CPUS is 1 for now; raise TRACE_MAX_STREAMS with it, or events lose their vCPU id. */
	_Static_assert(MAX_CPUS < TRACE_MAX_STREAMS, "a trace stream per vCPU");
	thread_stream = vcpu < SHARED_STREAM ? &t->streams[vcpu] : NULL;
}

void trace_set_clock(struct tracer *t, uint64_t (*now_ns)(void *), void *ctx)
{
	t->clock = now_ns;
	t->clock_ctx = ctx;
}

void trace_set_sink(struct tracer *t, void (*sink)(void *ctx, const void *data, size_t len),
		    void *ctx)
{
	t->sink = sink;
	t->sink_ctx = ctx;
}

void trace_start_clock(struct tracer *t)
{
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	t->clock_started = true;
}

void trace_written(const struct tracer *t, uint64_t *bytes, uint64_t *frames)
{
	*bytes = atomic_load_explicit(&t->written_bytes, memory_order_relaxed);
	*frames = atomic_load_explicit(&t->written_frames, memory_order_relaxed);
}

uint64_t trace_events_emitted(const struct tracer *t)
{
	return atomic_load(&t->seq);
}

uint64_t trace_stream_ts(const struct tracer *t, unsigned int vcpu)
{
	return vcpu < SHARED_STREAM ? t->streams[vcpu].prev_ts : 0;
}

void trace_resume(struct tracer *t, uint64_t seq, const uint64_t *ts, unsigned int n)
{
	atomic_store(&t->seq, seq);
	for (unsigned int i = 0; i < n && i < SHARED_STREAM; i++)
		t->streams[i].prev_ts = t->streams[i].exit_ts = ts[i];
}

int trace_checkpoint(struct tracer *t, uint64_t seq, uint64_t vtime_ns, void *payload, size_t len)
{
	struct chunk *c;

	if (t->fd < 0 || t->failed || !(c = calloc(1, sizeof(*c)))) {
		free(payload);
		return t->fd < 0 ? 0 : -1;
	}
	*c = (struct chunk){.len = len,
			    .cap = len,
			    .base_seq = seq,
			    .base_ts = vtime_ns,
			    .checkpoint = true,
			    .data = payload};
	pthread_mutex_lock(&t->qlock);
	if (t->q_tail)
		t->q_tail->next = c;
	else
		t->q_head = c;
	t->q_tail = c;
	pthread_cond_signal(&t->work);
	pthread_mutex_unlock(&t->qlock);
	return 0;
}

uint64_t trace_stall_ns(const struct tracer *t)
{
	return atomic_load(&((struct tracer *)t)->stall_ns);
}

static struct stream *current_stream(struct tracer *t)
{
	struct stream *s = thread_stream;

	return s && s->t == t ? s : &t->streams[SHARED_STREAM];
}

msgpack_packer *trace_event_begin(struct tracer *t, unsigned int type, unsigned int nfields)
{
	struct stream *s = current_stream(t);
	struct chunk *c;
	uint64_t seq, ts;

	pthread_mutex_lock(&s->lock);
	if (type == TRACE_exit || s->vcpu == TRACE_VCPU_NONE)
		ts = s->exit_ts = event_time(t);
	else
		ts = s->exit_ts; /* an effect of the exit being handled */
	if (ts < s->prev_ts)
		ts = s->prev_ts; /* a stream's clock never runs backwards */
	c = s->cur;
	if (c->len >= CHUNK_FLUSH ||
	    (t->clock && c->nevents && ts - c->base_ts >= (uint64_t)FLUSH_INTERVAL_NS)) {
		if (t->fd < 0)
			chunk_reset(c); /* no file: the sink had the events */
		else
			submit(t, s, true);
		c = s->cur;
	}
	s->ev_start = c->len;
	seq = atomic_fetch_add_explicit(&t->seq, 1, memory_order_relaxed);
	if (!c->nevents) {
		c->first_seq = seq;
		c->base_seq = s->prev_seq;
		c->base_ts = s->prev_ts;
		c->stream = s->vcpu;
		/* The frame's sync record: it decodes without the frames before it. */
		msgpack_pack_array(&s->pk, 4);
		msgpack_pack_uint8(&s->pk, TRACE_SYNC);
		msgpack_pack_int64(&s->pk, (int64_t)s->prev_seq);
		msgpack_pack_uint8(&s->pk, s->vcpu);
		msgpack_pack_uint64(&s->pk, s->prev_ts);
		memset(s->pred, 0, sizeof(s->pred));
		memset(s->regs, 0, sizeof(s->regs));
	}
	c->nevents++;
	msgpack_pack_array(&s->pk, TRACE_HEADER_FIELDS + nfields);
	msgpack_pack_uint8(&s->pk, type);
	msgpack_pack_uint64(&s->pk, seq - s->prev_seq);
	msgpack_pack_uint8(&s->pk, s->vcpu);
	msgpack_pack_uint64(&s->pk, ts - s->prev_ts);
	s->prev_seq = seq;
	s->prev_ts = ts;
	return &s->pk;
}

uint64_t trace_predict(msgpack_packer *pk, uint64_t key, uint64_t size, uint64_t value)
{
	struct stream *s = pk->data;
	struct pred_slot *p = &s->pred[trace_pred_slot(key)];
	uint64_t mask = trace_pred_mask(size), predicted = p->used && p->key == key ? p->value : 0;

	value &= mask;
	*p = (struct pred_slot){key, value, true};
	return (value - predicted) & mask;
}

uint64_t trace_reg_code(msgpack_packer *pk, unsigned int i, uint64_t value)
{
	struct stream *s = pk->data;
	uint64_t code = value ^ s->regs[i];

	s->regs[i] = value;
	return code;
}

void trace_event_end(struct tracer *t)
{
	struct stream *s = current_stream(t);

	if (t->sink)
		t->sink(t->sink_ctx, s->cur->data + s->ev_start, s->cur->len - s->ev_start);
	pthread_mutex_unlock(&s->lock);
}

/* The zstd seekable format's seek table, then our own index just before it. */
static int write_index(struct tracer *t)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint32_t hdr[2], footer_n;
	uint8_t descriptor = 0;
	int r;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "events", 6);
	msgpack_pack_uint64(&pk, atomic_load(&t->seq));
	msgpack_pack_str_with_body(&pk, "frames", 6);
	msgpack_pack_array(&pk, t->nframes);
	/* [offset, csize, dsize, stream, base_seq (-1 as int), base_ts, nevents]; frame 0: header
	 */
	for (size_t i = 0; i < t->nframes; i++) {
		const struct frame *f = &t->frames[i];

		msgpack_pack_array(&pk, 7);
		msgpack_pack_uint64(&pk, f->offset);
		msgpack_pack_uint32(&pk, f->csize);
		msgpack_pack_uint32(&pk, f->dsize);
		msgpack_pack_uint32(&pk, f->stream);
		msgpack_pack_int64(&pk, (int64_t)f->base_seq);
		msgpack_pack_uint64(&pk, f->base_ts);
		msgpack_pack_uint64(&pk, f->nevents);
	}
	hdr[0] = TRACE_INDEX_MAGIC;
	hdr[1] = sb.size;
	r = write_all(t, hdr, sizeof(hdr)) || write_all(t, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	if (r)
		return -1;

	hdr[0] = TRACE_SEEK_MAGIC;
	hdr[1] = t->nframes * 8 + 9;
	if (write_all(t, hdr, sizeof(hdr)))
		return -1;
	for (size_t i = 0; i < t->nframes; i++) {
		uint32_t e[2] = {t->frames[i].csize, t->frames[i].dsize};

		if (write_all(t, e, sizeof(e)))
			return -1;
	}
	footer_n = t->nframes;
	hdr[0] = TRACE_SEEK_FOOTER;
	return write_all(t, &footer_n, 4) || write_all(t, &descriptor, 1) ||
	       write_all(t, &hdr[0], 4);
}

int trace_close(struct tracer *t)
{
	int r = 0;

	if (!t)
		return 0;
	flush_partial(t, true);
	if (t->fd < 0)
		goto free;
	pthread_mutex_lock(&t->qlock);
	t->stopping = true;
	pthread_cond_signal(&t->work);
	pthread_mutex_unlock(&t->qlock);
	pthread_join(t->writer, NULL);
	if (t->failed || write_index(t))
		r = -1;
	if (fdatasync(t->fd) && !r) {
		report(t, "cannot sync: %s", strerror(errno));
		r = -1;
	}
	if (close(t->fd) && !r) {
		report(t, "cannot close: %s", strerror(errno));
		r = -1;
	}
free:
	for (unsigned int i = 0; i < TRACE_MAX_STREAMS; i++) {
		chunk_free(t->streams[i].cur);
		pthread_mutex_destroy(&t->streams[i].lock);
	}
	while (t->free) {
		struct chunk *c = t->free;

		t->free = c->next;
		chunk_free(c);
	}
	ZSTD_freeCCtx(t->cctx);
	free(t->zbuf);
	free(t->frames);
	free(t->path);
	free(t);
	return r;
}
