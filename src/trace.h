/* SPDX-License-Identifier: MIT */
/*
 * The trace recorder: typed emitters generated from trace_events.h, per-thread event buffers
 * and a writer thread that compresses full buffers into independent zstd frames.
 *
 * File layout (docs/trace-format.md):
 *   zstd frame: header (one msgpack map)
 *   zstd frames: events (msgpack arrays), each frame holding whole events of one producer,
 *                after a sync record that makes it decodable on its own (trace_events.h)
 *   skippable frame (magic 0x184D2A5D): dejavm frame index, msgpack
 *   skippable frame (magic 0x184D2A5E): zstd seekable-format seek table
 * `zstd -dc FILE` therefore yields the header followed by the events: plain msgpack.
 */
#ifndef DEJAVM_TRACE_H
#define DEJAVM_TRACE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_events.h"

#define TRACE_FORMAT_NAME    "dejavm-trace"
#define TRACE_FORMAT_VERSION 2 /* raised when an older reader could misread a trace */
/*
 * Version 3 is version 2 with checkpoint frames or a first seq above 0 (a recording that goes
 * on from a snapshot): only such traces carry it, so older readers refuse just those.
 */
#define TRACE_FORMAT_VERSION_CKPT 3
/*
 * Raised when fields are appended (trace_events.h: Compatibility); the header's "minor", absent
 * before 2. 0: format 2 as first released; 1: landmark fixed, cycle, pages, mem_hash and
 * end.nondeterministic; 2: io_done.hash and the offset the I/O really went to.
 */
#define TRACE_FORMAT_MINOR 2
#define TRACE_INDEX_MAGIC  0x184D2A5DU /* zstd skippable frame: dejavm frame index */
#define TRACE_SEEK_MAGIC   0x184D2A5EU /* zstd skippable frame: seekable-format seek table */
#define TRACE_SEEK_FOOTER  0x8F92EAB1U /* zstd seekable format footer magic */
#define TRACE_CKPT_MAGIC   0x184D2A5CU /* zstd skippable frame: a checkpoint */
#define TRACE_CKPT_STREAM  254	       /* a checkpoint's stream in the frame index */
#define TRACE_MAX_STREAMS  9	       /* vCPUs + one shared stream for other threads */

struct tracer;

struct trace_kv {
	const char *key;
	uint64_t value;
};

/* The schema: one entry per event type, generated from trace_events.h (trace_schema.c). */
struct trace_field_desc {
	const char *name;
	enum trace_field_kind kind;
	const char *doc;
};

struct trace_event_desc {
	unsigned int type;
	const char *name;
	const char *doc;
	unsigned int nfields;
	unsigned int required; /* fields every trace has; later ones may be absent (older minor) */
	const struct trace_field_desc *fields;
};

extern const struct trace_event_desc trace_event_descs[];
extern const unsigned int trace_event_ndescs;
/* NULL for a type this build does not know. */
const struct trace_event_desc *trace_event_desc(unsigned int type);

/*
 * Creates PATH and writes the header frame; pack_header packs one msgpack map. level is the
 * zstd level. on_error is called (from the writer thread) when the file cannot be written: the
 * recording cannot go on, and the caller must stop the VM rather than lose events silently.
 * Returns NULL with errno set.
 */
struct tracer *trace_open(const char *path, int level,
			  void (*pack_header)(msgpack_packer *, void *), void *ctx,
			  void (*on_error)(void *ctx, const char *msg));
/*
 * Flushes every buffer, writes the index and the seek table, syncs and closes. Returns 0, or -1
 * if anything could not be written (the message went to on_error).
 */
int trace_close(struct tracer *t);

/*
 * Also hands every event, as the msgpack bytes written for it (preceded by its frame's sync
 * record when it starts one), to sink(ctx, ...), called with the stream locked. `dejavm replay`
 * decodes them with the trace reader's decoder and compares them with the recorded events.
 * With path NULL, trace_open() creates a tracer with no file (and no header) for the sink only.
 */
void trace_set_sink(struct tracer *t, void (*sink)(void *ctx, const void *data, size_t len),
		    void *ctx);
/* Hands every partial buffer to the writer now (e.g. boot events before the vCPUs start). */
void trace_flush(struct tracer *t);
/* Binds the calling thread to stream `vcpu` (its own buffer); other threads share one. */
void trace_attach_thread(struct tracer *t, unsigned int vcpu);
/* Replaces the clock (ns since VM start) that stamps events; default: CLOCK_MONOTONIC. */
void trace_set_clock(struct tracer *t, uint64_t (*now_ns)(void *), void *ctx);
void trace_start_clock(struct tracer *t);

uint64_t trace_events_emitted(const struct tracer *t);
/* The timestamp of stream vcpu's last event (the exit its next events belong to). */
uint64_t trace_stream_ts(const struct tracer *t, unsigned int vcpu);
/*
 * Before the first event: the trace goes on from a snapshot or checkpoint of another run, whose
 * next event was seq and whose vCPU streams' last events had the timestamps ts[0..n).
 */
void trace_resume(struct tracer *t, uint64_t seq, const uint64_t *ts, unsigned int n);
/*
 * A checkpoint (checkpoint.h) at event seq and virtual time vtime_ns: payload (malloc'd, taken
 * over) is compressed by the writer thread into a checkpoint frame (docs/trace-format.md).
 * Without a file it is freed. Returns 0, or -1 when the trace is failing already.
 */
int trace_checkpoint(struct tracer *t, uint64_t seq, uint64_t vtime_ns, void *payload, size_t len);
/* What the writer has put in the file so far (any thread may ask): bytes and zstd frames. */
void trace_written(const struct tracer *t, uint64_t *bytes, uint64_t *frames);
uint64_t trace_stall_ns(const struct tracer *t);

/* Low level: begin an event (returns the packer, stream locked) / end it. */
msgpack_packer *trace_event_begin(struct tracer *t, unsigned int type, unsigned int nfields);
void trace_event_end(struct tracer *t);
/*
 * Between begin and end: the value to store for a PRED field (value - predicted, in size
 * bytes) under `key` (trace_pred_key()), updating the stream's prediction table.
 */
uint64_t trace_predict(msgpack_packer *pk, uint64_t key, uint64_t size, uint64_t value);
/* Between begin and end: the value to store for the i-th REG field (XOR the stream's last). */
uint64_t trace_reg_code(msgpack_packer *pk, unsigned int i, uint64_t value);

/* The typed emitters: trace_exit(t, reason, rip), trace_pio(t, port, size, ...), ... */
#define TF_PARAM_UINT(n)	  , uint64_t n
#define TF_PARAM_INT(n)		  , int64_t n
#define TF_PARAM_BIN(n)		  , const void *n, size_t n##_len
#define TF_PARAM_STR(n)		  , const char *n
#define TF_PARAM_MAP(n)		  , const struct trace_kv *n, size_t n##_len
#define TF_PARAM_PORT(n)	  , uint64_t n
#define TF_PARAM_GPA(n)		  , uint64_t n
#define TF_PARAM_SIZE(n)	  , uint64_t n
#define TF_PARAM_WRITE(n)	  , uint64_t n
#define TF_PARAM_PRED(n)	  , uint64_t n
#define TF_PARAM_REG(n)		  , uint64_t n
#define TF_PARAM(kind, name, doc) TF_PARAM_##kind(name)
#define TF_PACK_UINT(pk, n)	  msgpack_pack_uint64(pk, n)
#define TF_PACK_INT(pk, n)	  msgpack_pack_int64(pk, n)
#define TF_PACK_BIN(pk, n)	  (msgpack_pack_bin(pk, n##_len), msgpack_pack_bin_body(pk, n, n##_len))
#define TF_PACK_STR(pk, n)	  msgpack_pack_str_with_body(pk, n, strlen(n))
#define TF_PACK_MAP(pk, n)                                                            \
	do {                                                                          \
		msgpack_pack_map(pk, n##_len);                                        \
		for (size_t i_ = 0; i_ < n##_len; i_++) {                             \
			msgpack_pack_str_with_body(pk, n[i_].key, strlen(n[i_].key)); \
			msgpack_pack_uint64(pk, n[i_].value);                         \
		}                                                                     \
	} while (0)
/* The prediction fields: the key and size are gathered in pkey_ / psize_ before the PRED one. */
#define TF_PACK_PORT(pk, n)	  (pkey_ |= trace_pred_key(n, 0, 0), msgpack_pack_uint64(pk, n))
#define TF_PACK_GPA(pk, n)	  (pkey_ |= trace_pred_key(n, 1, 0), msgpack_pack_uint64(pk, n))
#define TF_PACK_WRITE(pk, n)	  (pkey_ |= (n != 0), msgpack_pack_uint64(pk, n))
#define TF_PACK_SIZE(pk, n)	  (psize_ = n, msgpack_pack_uint64(pk, n))
#define TF_PACK_PRED(pk, n)	  msgpack_pack_uint64(pk, trace_predict(pk, pkey_, psize_, n))
#define TF_PACK_REG(pk, n)	  msgpack_pack_uint64(pk, trace_reg_code(pk, preg_++, n))
#define TF_PACK(kind, name, doc)  TF_PACK_##kind(pk, name);
#define TF_COUNT(kind, name, doc) +1

#define TRACE_EMITTER(num, name, required, doc)                                                  \
	static inline void trace_##name(struct tracer *t TRACE_FIELDS_##name(TF_PARAM))          \
	{                                                                                        \
		msgpack_packer *pk = trace_event_begin(t, num, 0 TRACE_FIELDS_##name(TF_COUNT)); \
		uint64_t pkey_ __attribute__((unused)) = 0, psize_ __attribute__((unused)) = 0;  \
		unsigned int preg_ __attribute__((unused)) = 0;                                  \
		TRACE_FIELDS_##name(TF_PACK) trace_event_end(t);                                 \
	}
TRACE_EVENTS(TRACE_EMITTER)
#undef TRACE_EMITTER

#endif
