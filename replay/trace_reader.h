/* SPDX-License-Identifier: MIT */
/*
 * The trace reader: opens a dejavm trace (docs/trace-format.md), parses its header and delivers
 * its events in seq order, merging the per-stream frames back into one sequence.
 *
 * It trusts nothing in the file: every length is checked before use, a frame may not decompress
 * to more than 64 MiB, an event may not hold more than 64 Ki msgpack objects (the header 1 Mi),
 * and at most 256 MiB of decompressed frames are held while merging. A truncated or damaged
 * file still delivers every event before the damage (for a truncated file: every event of every
 * complete frame); what went wrong is reported afterwards as "FILE: offset N: ..." in
 * trace_reader_status().
 *
 *	struct trace_reader *r = trace_reader_open(path, &err);
 *	struct trace_ev ev;
 *	while (trace_reader_next(r, &ev) > 0)
 *		use(ev.seq, ev.desc ? ev.desc->name : "?", ev.fields[0].via.u64);
 *	st = trace_reader_status(r);  // complete / truncated / damaged, message, counts
 *	trace_reader_close(r);
 */
#ifndef DEJAVM_TRACE_READER_H
#define DEJAVM_TRACE_READER_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace.h"

struct trace_reader;

/* One decoded event; the pointers stay valid until the next trace_reader_next() call. */
struct trace_ev {
	unsigned int type;
	unsigned int stream;		     /* vCPU id, or TRACE_VCPU_NONE (255) */
	uint64_t seq;			     /* global, dense, from 0 */
	uint64_t ts;			     /* ns since the VM started */
	const struct trace_event_desc *desc; /* NULL: a type this reader does not know */
	/*
	 * The values after [type, dseq, stream, dts]. For a known type the first desc->nfields
	 * are checked against the schema (UINT, PORT, GPA, SIZE, WRITE, PRED: POSITIVE_INTEGER,
	 * INT: POSITIVE or NEGATIVE_INTEGER, BIN, STR, MAP of STR -> POSITIVE_INTEGER); any
	 * further ones come from a newer writer and are unchecked. PRED fields hold the decoded
	 * value, not the stored difference (in raw too). Sync records are never delivered.
	 */
	uint32_t nfields;
	const msgpack_object *fields;
	const msgpack_object *raw; /* the whole array as stored */
	uint64_t index;		   /* events delivered before this one */
	uint64_t frame;		   /* number of the zstd frame holding it (0 is the header) */
	uint64_t frame_offset;	   /* file offset of that frame */
};

/* A zstd frame of the file, as the sequential scan found it. */
enum trace_frame_kind {
	TRACE_FRAME_HEADER,
	TRACE_FRAME_EVENTS,
	TRACE_FRAME_SKIPPABLE,
	TRACE_FRAME_CHECKPOINT, /* first_seq: the checkpoint's seq */
};

struct trace_frame_info {
	uint64_t offset, csize, dsize;
	enum trace_frame_kind kind;
	unsigned int stream; /* of its first event */
	uint64_t nevents;    /* events decoded from it (those before any damage) */
	uint64_t first_seq;  /* valid when nevents */
};

/* A checkpoint frame (docs/trace-format.md): where it is and the point it holds. */
struct trace_checkpoint {
	uint64_t offset, size; /* the whole skippable frame */
	uint64_t seq, vtime_ns;
};

/* The dejavm index (skippable frame 0x184D2A5D), when the file has a valid one. */
struct trace_index_entry {
	uint64_t offset, csize, dsize;
	unsigned int stream;
	int64_t base_seq; /* seq before the frame's first event: -1 at the start of a stream */
	uint64_t base_ts, nevents;
};

struct trace_status {
	bool complete;	/* header, every frame, index, seek table and end event, all consistent */
	bool truncated; /* the recording stops early: no trailer, no end event, a cut frame */
	bool damaged;	/* corrupt or inconsistent data */
	bool done;	/* trace_reader_next() has returned 0: the fields below are final */
	uint64_t problem_offset; /* where the truncation or the first damage starts */
	const char *message;	 /* the first problem, "FILE: offset N: ...", or NULL */
	uint64_t events;	 /* delivered so far */
	uint64_t missing;	 /* seqs that never appeared (between delivered ones) */
	uint64_t first_seq, last_seq, last_ts; /* of the delivered events */
	uint64_t file_size;		       /* compressed */
	uint64_t raw_bytes;    /* decompressed bytes of the frames read, header included */
	uint64_t frames;       /* zstd frames scanned, header and skippable ones included */
	bool has_index;	       /* a valid index + seek table were found */
	uint64_t index_events; /* what the index says */
	bool has_end;	       /* the last event is an `end` */
};

/*
 * Opens and maps PATH and parses its header. On failure returns NULL and sets *err to a
 * malloc'd one-line message ("x.trace: offset 0: not a dejavm trace (...)"); free it.
 */
struct trace_reader *trace_reader_open(const char *path, char **err);
void trace_reader_close(struct trace_reader *r);

/* Delivers the next event in seq order: 1, or 0 at the end (see trace_reader_status()). */
int trace_reader_next(struct trace_reader *r, struct trace_ev *ev);

const struct trace_status *trace_reader_status(const struct trace_reader *r);
/* Every problem found so far (the first is status->message), at most 32. */
const char *const *trace_reader_problems(const struct trace_reader *r, size_t *n);
const char *trace_reader_path(const struct trace_reader *r);
/* Bytes of the file scanned so far, for progress bars. */
uint64_t trace_reader_pos(const struct trace_reader *r);

/* The header map. */
const msgpack_object *trace_reader_header(const struct trace_reader *r);
/* Frames scanned so far (all of them once next() returned 0), at most 1 Mi are listed. */
const struct trace_frame_info *trace_reader_frames(const struct trace_reader *r, size_t *n);
/* The index entries (NULL, 0 without a valid index). */
const struct trace_index_entry *trace_reader_index(const struct trace_reader *r, size_t *n);
/* The seq of the trace's first event: 0, or the header's first_seq (a restored run's trace). */
uint64_t trace_reader_first_seq(const struct trace_reader *r);
/*
 * The checkpoint frames in file order, found by walking the frame headers (nothing is
 * decompressed) up to the end or the first damage. n is 0 when there are none.
 */
const struct trace_checkpoint *trace_reader_checkpoints(struct trace_reader *r, size_t *n);
/*
 * Checkpoint i's payload (checkpoint.h), decompressed and checked against its frame's checksum:
 * malloc'd, or NULL with *err a malloc'd "FILE: offset N: checkpoint i (seq S): ..." message.
 */
void *trace_reader_checkpoint_payload(struct trace_reader *r, size_t i, size_t *len, char **err);

/*
 * Decoding loose records, as the tracer's sink hands them over (trace_set_sink): each buffer
 * holds one event, preceded by a sync record when it starts a frame. Returns 1 and fills ev
 * (valid until the next call), 0 for a buffer without an event, -1 with a message in err.
 */
struct trace_decoder;
struct trace_decoder *trace_decoder_new(void);
void trace_decoder_free(struct trace_decoder *d);
int trace_decoder_feed(struct trace_decoder *d, const void *data, size_t len, struct trace_ev *ev,
		       char *err, size_t errlen);

/* Lookups in msgpack objects. */
/* A dotted path in nested maps ("config.kernel"); NULL when absent or not a map. */
const msgpack_object *trace_obj_get(const msgpack_object *map, const char *path);
/* true and the value when o is a string / non-negative integer (o may be NULL). */
bool trace_obj_str(const msgpack_object *o, const char **s, size_t *len);
bool trace_obj_u64(const msgpack_object *o, uint64_t *v);
/* The value of a schema field by name (NULL when the event has no such field). */
const msgpack_object *trace_ev_field(const struct trace_ev *ev, const char *name);

#endif
