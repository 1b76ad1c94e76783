// SPDX-License-Identifier: MIT
/*
 * The trace reader (trace_reader.h). The file is mapped whole and scanned frame by frame from
 * offset 0; the trailer (index + seek table) is only used to cross-check what the scan finds,
 * so a file without one (the recorder was killed) is read the same way.
 *
 * Merging: each event frame holds events of one stream in seq order. Frames are loaded lazily,
 * in file order (which is the order the per-stream running sums need), and become "runs";
 * the next event is the head of the run whose head seq is the next expected one. A frame is
 * loaded only when no run holds that seq, so memory holds just the frames the writer put out
 * of order. Loading a frame validates every event once (so delivery cannot fail half way
 * through an event); delivery parses them again, one at a time.
 *
 * msgpack is parsed by a small parser of our own into msgpack_object trees, because
 * msgpack-c's allocates an array's elements before it knows they are there (a 5-byte hostile
 * array header makes it ask for 96 GiB).
 */
#include "trace_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#define MAX_FRAME_DSIZE	 (64u << 20)  /* a frame's decompressed size */
#define MAX_LOADED_BYTES (256u << 20) /* frames held while merging */
#define MAX_LOADED_RUNS	 256
#define MAX_OBJECTS	 (1u << 20) /* msgpack objects in the header or an index entry */
#define MAX_EV_OBJECTS	 (1u << 16) /* ... in one event */
#define ARENA_KEEP	 4096	    /* objects an arena keeps across resets */
#define MAX_DEPTH	 32
#define MAX_PROBLEMS	 32
#define MAX_FRAME_LIST	 (1u << 20)
#define NSTREAMS	 256

/* ---- a bump allocator for msgpack_object trees ---- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t cap, used;
	msgpack_object o[];
};

struct arena {
	struct arena_chunk *head;
};

static msgpack_object *arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;

	if (!c || c->cap - c->used < n) {
		size_t cap = n > 1024 ? n : 1024;

		c = malloc(sizeof(*c) + cap * sizeof(msgpack_object));
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	c->used += n;
	return c->o + c->used - n;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_chunk *c = a->head;

		a->head = c->next;
		free(c);
	}
}

/*
 * Keeps one chunk as big as all of them were, so a steady state allocates nothing; but not
 * more than ARENA_KEEP objects, so that one huge event does not pin its memory.
 */
static void arena_reset(struct arena *a)
{
	size_t total = 0;

	if (!a->head)
		return;
	if (a->head->next || a->head->cap > ARENA_KEEP) {
		for (struct arena_chunk *c = a->head; c; c = c->next)
			total += c->cap;
		arena_free(a);
		if (total <= ARENA_KEEP && arena_alloc(a, total))
			a->head->used = 0;
		return;
	}
	a->head->used = 0;
}

/* ---- msgpack ---- */

struct mp {
	const uint8_t *p, *start, *end;
	struct arena *a;
	size_t nobj, max_obj;
	char err[96];
};

static void mp_init(struct mp *m, const void *data, size_t len, struct arena *a)
{
	m->p = m->start = data;
	m->end = m->start + len;
	m->a = a;
	m->nobj = 0;
	m->max_obj = MAX_OBJECTS;
	m->err[0] = '\0';
}

static int mp_fail(struct mp *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int mp_fail(struct mp *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	return -1;
}

static size_t mp_left(const struct mp *m)
{
	return m->end - m->p;
}

static int mp_be(struct mp *m, unsigned int n, uint64_t *v)
{
	if (mp_left(m) < n)
		return mp_fail(m, "msgpack: the data ends inside an object");
	*v = 0;
	for (unsigned int i = 0; i < n; i++)
		*v = *v << 8 | *m->p++;
	return 0;
}

static int mp_bytes(struct mp *m, uint64_t n, const char **ptr)
{
	if (mp_left(m) < n)
		return mp_fail(m, "msgpack: %" PRIu64 " bytes announced, %zu left", n, mp_left(m));
	*ptr = (const char *)m->p;
	m->p += n;
	return 0;
}

static int mp_obj(struct mp *m, msgpack_object *o, int depth);

static int mp_container(struct mp *m, msgpack_object *o, uint64_t n, bool map, int depth)
{
	uint64_t nobj = map ? 2 * n : n;
	msgpack_object *elems = NULL;

	if (depth >= MAX_DEPTH)
		return mp_fail(m, "msgpack: nested deeper than %d", MAX_DEPTH);
	/* Each element takes at least one byte: this bounds what we allocate by the input. */
	if (nobj > mp_left(m))
		return mp_fail(m, "msgpack: %s of %" PRIu64 " elements in %zu bytes",
			       map ? "map" : "array", n, mp_left(m));
	if (nobj > m->max_obj - m->nobj)
		return mp_fail(m, "msgpack: more than %zu objects", m->max_obj);
	m->nobj += nobj;
	if (nobj && !(elems = arena_alloc(m->a, nobj)))
		return mp_fail(m, "out of memory");
	for (uint64_t i = 0; i < nobj; i++)
		if (mp_obj(m, &elems[i], depth + 1))
			return -1;
	if (map) {
		o->type = MSGPACK_OBJECT_MAP;
		o->via.map.size = n;
		o->via.map.ptr = (msgpack_object_kv *)elems;
	} else {
		o->type = MSGPACK_OBJECT_ARRAY;
		o->via.array.size = n;
		o->via.array.ptr = elems;
	}
	return 0;
}

static void mp_int(msgpack_object *o, int64_t v)
{
	o->type = v < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER : MSGPACK_OBJECT_POSITIVE_INTEGER;
	o->via.i64 = v;
}

static int mp_obj(struct mp *m, msgpack_object *o, int depth)
{
	uint64_t v = 0, n = 0;
	uint8_t c;

	if (!mp_left(m))
		return mp_fail(m, "msgpack: the data ends inside an object");
	c = *m->p++;
	if (c <= 0x7f) {
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = c;
		return 0;
	}
	if (c >= 0xe0) {
		mp_int(o, (int8_t)c);
		return 0;
	}
	if (c <= 0x8f)
		return mp_container(m, o, c & 0x0f, true, depth);
	if (c <= 0x9f)
		return mp_container(m, o, c & 0x0f, false, depth);
	if (c <= 0xbf) {
		o->type = MSGPACK_OBJECT_STR;
		o->via.str.size = c & 0x1f;
		return mp_bytes(m, c & 0x1f, &o->via.str.ptr);
	}
	switch (c) {
	case 0xc0:
		o->type = MSGPACK_OBJECT_NIL;
		return 0;
	case 0xc2:
	case 0xc3:
		o->type = MSGPACK_OBJECT_BOOLEAN;
		o->via.boolean = c == 0xc3;
		return 0;
	case 0xc4:
	case 0xc5:
	case 0xc6:
		o->type = MSGPACK_OBJECT_BIN;
		if (mp_be(m, 1u << (c - 0xc4), &n))
			return -1;
		o->via.bin.size = n;
		return mp_bytes(m, n, &o->via.bin.ptr);
	case 0xc7:
	case 0xc8:
	case 0xc9:
		if (mp_be(m, 1u << (c - 0xc7), &n) || mp_be(m, 1, &v))
			return -1;
		o->type = MSGPACK_OBJECT_EXT;
		o->via.ext.type = (int8_t)v;
		o->via.ext.size = n;
		return mp_bytes(m, n, &o->via.ext.ptr);
	case 0xca: {
		float f;
		uint32_t u;

		if (mp_be(m, 4, &v))
			return -1;
		u = v;
		memcpy(&f, &u, 4);
		o->type = MSGPACK_OBJECT_FLOAT32;
		o->via.f64 = f;
		return 0;
	}
	case 0xcb:
		if (mp_be(m, 8, &v))
			return -1;
		o->type = MSGPACK_OBJECT_FLOAT64;
		memcpy(&o->via.f64, &v, 8);
		return 0;
	case 0xcc:
	case 0xcd:
	case 0xce:
	case 0xcf:
		if (mp_be(m, 1u << (c - 0xcc), &v))
			return -1;
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = v;
		return 0;
	case 0xd0:
	case 0xd1:
	case 0xd2:
	case 0xd3: {
		unsigned int bytes = 1u << (c - 0xd0);

		if (mp_be(m, bytes, &v))
			return -1;
		if (bytes < 8 && (v >> (8 * bytes - 1)))
			v |= ~0ULL << (8 * bytes); /* sign-extend */
		mp_int(o, (int64_t)v);
		return 0;
	}
	case 0xd4:
	case 0xd5:
	case 0xd6:
	case 0xd7:
	case 0xd8:
		if (mp_be(m, 1, &v))
			return -1;
		o->type = MSGPACK_OBJECT_EXT;
		o->via.ext.type = (int8_t)v;
		o->via.ext.size = 1u << (c - 0xd4);
		return mp_bytes(m, o->via.ext.size, &o->via.ext.ptr);
	case 0xd9:
	case 0xda:
	case 0xdb:
		if (mp_be(m, 1u << (c - 0xd9), &n))
			return -1;
		o->type = MSGPACK_OBJECT_STR;
		o->via.str.size = n;
		return mp_bytes(m, n, &o->via.str.ptr);
	case 0xdc:
	case 0xdd:
		if (mp_be(m, c == 0xdc ? 2 : 4, &n))
			return -1;
		return mp_container(m, o, n, false, depth);
	case 0xde:
	case 0xdf:
		if (mp_be(m, c == 0xde ? 2 : 4, &n))
			return -1;
		return mp_container(m, o, n, true, depth);
	default:
		return mp_fail(m, "msgpack: invalid byte 0x%02x", c);
	}
}

/* One top-level object; the arena is reset first. */
static int mp_next(struct mp *m, msgpack_object *o)
{
	arena_reset(m->a);
	m->nobj = 0;
	return mp_obj(m, o, 0);
}

/* Reads just the header of an array (map: false) or map; fails on anything else. */
static int mp_container_header(struct mp *m, bool map, uint64_t *n)
{
	uint8_t c;

	if (!mp_left(m))
		return mp_fail(m, "msgpack: the data ends inside an object");
	c = *m->p;
	if (map && c >= 0x80 && c <= 0x8f) {
		m->p++;
		*n = c & 0x0f;
		return 0;
	}
	if (!map && c >= 0x90 && c <= 0x9f) {
		m->p++;
		*n = c & 0x0f;
		return 0;
	}
	if (c == (map ? 0xde : 0xdc) || c == (map ? 0xdf : 0xdd)) {
		m->p++;
		return mp_be(m, (c & 1) ? 4 : 2, n);
	}
	return mp_fail(m, "expected %s", map ? "a map" : "an array");
}

/* ---- lookups ---- */

static bool str_eq(const msgpack_object *o, const char *s, size_t len)
{
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == len &&
	       !memcmp(o->via.str.ptr, s, len);
}

const msgpack_object *trace_obj_get(const msgpack_object *map, const char *path)
{
	while (map && map->type == MSGPACK_OBJECT_MAP) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		const msgpack_object *found = NULL;

		for (uint32_t i = 0; i < map->via.map.size && !found; i++)
			if (str_eq(&map->via.map.ptr[i].key, path, len))
				found = &map->via.map.ptr[i].val;
		if (!found || !dot)
			return found;
		map = found;
		path = dot + 1;
	}
	return NULL;
}

bool trace_obj_str(const msgpack_object *o, const char **s, size_t *len)
{
	if (!o || o->type != MSGPACK_OBJECT_STR)
		return false;
	*s = o->via.str.ptr;
	*len = o->via.str.size;
	return true;
}

bool trace_obj_u64(const msgpack_object *o, uint64_t *v)
{
	if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*v = o->via.u64;
	return true;
}

const msgpack_object *trace_ev_field(const struct trace_ev *ev, const char *name)
{
	if (!ev->desc)
		return NULL;
	for (unsigned int i = 0; i < ev->desc->nfields && i < ev->nfields; i++)
		if (!strcmp(ev->desc->fields[i].name, name))
			return &ev->fields[i];
	return NULL;
}

/* ---- the reader ---- */

/* Value prediction while decoding a frame: the table of the stream of its last sync record. */
struct pred_state {
	bool synced;
	unsigned int stream;
	struct {
		uint64_t key, value;
		bool used;
	} slot[TRACE_PRED_SLOTS];
	uint64_t regs[TRACE_MAX_REGS]; /* REG fields of the stream's last event with them */
};

struct run {
	uint8_t *buf;
	size_t len, pos;
	uint64_t frame, offset;
	uint64_t nevents, delivered;
	uint64_t prev_seq[NSTREAMS], prev_ts[NSTREAMS]; /* running sums, for delivery */
	struct pred_state pred;
	struct arena arena;
	msgpack_object raw;
	struct trace_ev head; /* valid while delivered < nevents */
};

enum problem_kind { P_TRUNCATED, P_DAMAGED, P_NOTE };

struct trace_reader {
	char *path;
	const uint8_t *map;
	uint64_t size;
	ZSTD_DCtx *dctx;
	struct arena scratch, hdr_arena, idx_arena;
	uint8_t *hdr_buf;
	size_t hdr_len;
	msgpack_object header;

	uint64_t pos, data_end; /* scan position; where the event frames end */
	uint64_t nzstd;		/* zstd frames scanned (header included) */
	bool scan_done;
	uint64_t prev_seq[NSTREAMS], prev_ts[NSTREAMS]; /* running sums of the scan */
	struct pred_state scan_pred;

	struct run **runs;
	size_t nruns, caprun;
	uint64_t loaded_bytes;
	struct run *advance; /* delivered the last event: advance it on the next call */
	uint64_t next_seq;
	bool started;
	unsigned int last_type;
	uint64_t end_events; /* the end event's `events` field */
	uint64_t end_frame_off;

	struct trace_frame_info *frames;
	size_t nframes, capframes;
	struct trace_index_entry *index;
	size_t nindex;
	bool trailer_ok, trailer_broken;
	uint64_t first_seq;		/* the header's first_seq, 0 without */
	uint64_t header_csize;		/* where the frames after the header start */
	struct trace_checkpoint *ckpts; /* trace_reader_checkpoints(), once walked */
	size_t nckpts;
	bool ckpts_walked;
	uint64_t ckpt_max; /* the largest payload a checkpoint may decompress to */

	char *problems[MAX_PROBLEMS];
	size_t nproblems;
	struct trace_status st;
};

static void problem(struct trace_reader *r, enum problem_kind kind, uint64_t offset,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void problem(struct trace_reader *r, enum problem_kind kind, uint64_t offset,
		    const char *fmt, ...)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s: offset %" PRIu64 ": ", r->path, offset);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	if (kind != P_NOTE && !r->st.truncated && !r->st.damaged)
		r->st.problem_offset = offset;
	if (kind == P_TRUNCATED)
		r->st.truncated = true;
	else if (kind == P_DAMAGED)
		r->st.damaged = true;
	if (r->nproblems < MAX_PROBLEMS) {
		r->problems[r->nproblems] = strdup(msg);
		if (r->problems[r->nproblems])
			r->nproblems++;
	}
	if (!r->st.message && r->nproblems)
		r->st.message = r->problems[0];
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static const char *kind_name(enum trace_field_kind k)
{
	static const char *const names[] = {"an unsigned integer",
					    "an integer",
					    "binary data",
					    "a string",
					    "a map of string to unsigned integer",
					    "an unsigned integer (port)",
					    "an unsigned integer (address)",
					    "an unsigned integer (size)",
					    "an unsigned integer (write flag)",
					    "an unsigned integer (predicted value)",
					    "an unsigned integer (register)"};

	return (unsigned int)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static const char *obj_type_name(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return "nil";
	case MSGPACK_OBJECT_BOOLEAN:
		return "a boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return "an unsigned integer";
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return "a negative integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return "a float";
	case MSGPACK_OBJECT_STR:
		return "a string";
	case MSGPACK_OBJECT_BIN:
		return "binary data";
	case MSGPACK_OBJECT_ARRAY:
		return "an array";
	case MSGPACK_OBJECT_MAP:
		return "a map";
	default:
		return "an extension";
	}
}

static bool kind_ok(enum trace_field_kind k, const msgpack_object *o)
{
	switch (k) {
	case TF_UINT:
	case TF_PORT:
	case TF_GPA:
	case TF_SIZE:
	case TF_WRITE:
	case TF_PRED:
	case TF_REG:
		return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
	case TF_INT:
		return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
		       o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
	case TF_BIN:
		return o->type == MSGPACK_OBJECT_BIN;
	case TF_STR:
		return o->type == MSGPACK_OBJECT_STR;
	case TF_MAP:
		if (o->type != MSGPACK_OBJECT_MAP)
			return false;
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (o->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR ||
			    o->via.map.ptr[i].val.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				return false;
		return true;
	}
	return false;
}

/*
 * A sync record [0, base_seq, stream, base_ts]: sets the stream's running sums and starts its
 * prediction table afresh. Returns 1, or -1 with a message in err.
 */
static int decode_sync(const msgpack_object *raw, uint64_t *prev_seq, uint64_t *prev_ts,
		       struct pred_state *pred, char *err, size_t errlen)
{
	const msgpack_object *a = raw->via.array.ptr;
	uint64_t base_seq, base_ts, stream, ps;

	if ((a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
	     !(a[1].type == MSGPACK_OBJECT_NEGATIVE_INTEGER && a[1].via.i64 == -1)) ||
	    a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    a[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		snprintf(err, errlen,
			 "a sync record is malformed (want [0, seq >= -1, stream, ts])");
		return -1;
	}
	base_seq = a[1].type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? UINT64_MAX : a[1].via.u64;
	stream = a[2].via.u64;
	base_ts = a[3].via.u64;
	if (stream >= NSTREAMS) {
		snprintf(err, errlen, "sync record: stream %" PRIu64 " is out of range (0-255)",
			 stream);
		return -1;
	}
	ps = prev_seq[stream];
	if ((ps != UINT64_MAX && (base_seq == UINT64_MAX || base_seq < ps)) ||
	    base_ts < prev_ts[stream]) {
		snprintf(err, errlen,
			 "sync record: stream %" PRIu64 " goes back to seq %" PRId64 " ts %" PRIu64
			 " from seq %" PRId64 " ts %" PRIu64,
			 stream, (int64_t)base_seq, base_ts, (int64_t)ps, prev_ts[stream]);
		return -1;
	}
	prev_seq[stream] = base_seq;
	prev_ts[stream] = base_ts;
	memset(pred, 0, sizeof(*pred));
	pred->synced = true;
	pred->stream = stream;
	return 1;
}

/*
 * Decodes the record at m (one msgpack array) with the running sums and the prediction state,
 * which it updates: an event's PRED fields are replaced by the values they code. Returns 0 for
 * an event, 1 for a sync record (ev is then not filled), or -1 with a message in err (the sums
 * are then unchanged).
 */
static int decode_record(const msgpack_object *raw, uint64_t *prev_seq, uint64_t *prev_ts,
			 struct pred_state *pred, struct trace_ev *ev, char *err, size_t errlen);

static int decode_event(struct mp *m, uint64_t *prev_seq, uint64_t *prev_ts,
			struct pred_state *pred, struct trace_ev *ev, msgpack_object *raw,
			char *err, size_t errlen)
{
	m->max_obj = MAX_EV_OBJECTS;
	if (mp_next(m, raw)) {
		snprintf(err, errlen, "%s", m->err);
		return -1;
	}
	return decode_record(raw, prev_seq, prev_ts, pred, ev, err, errlen);
}

/* decode_event() for a record already parsed into raw. */
static int decode_record(const msgpack_object *raw, uint64_t *prev_seq, uint64_t *prev_ts,
			 struct pred_state *pred, struct trace_ev *ev, char *err, size_t errlen)
{
	static const char *const hdr_names[] = {"type", "dseq", "stream", "dts"};
	const msgpack_object *a;
	uint64_t h[TRACE_HEADER_FIELDS];

	if (raw->type != MSGPACK_OBJECT_ARRAY) {
		snprintf(err, errlen, "an event is %s, expected an array", obj_type_name(raw));
		return -1;
	}
	a = raw->via.array.ptr;
	if (raw->via.array.size < TRACE_HEADER_FIELDS) {
		snprintf(err, errlen, "an event array has %u elements, at least %d expected",
			 raw->via.array.size, TRACE_HEADER_FIELDS);
		return -1;
	}
	if (a[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[0].via.u64 == TRACE_SYNC)
		return decode_sync(raw, prev_seq, prev_ts, pred, err, errlen);
	for (int i = 0; i < TRACE_HEADER_FIELDS; i++) {
		if (a[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			snprintf(err, errlen,
				 "event header '%s' is %s, expected an unsigned integer",
				 hdr_names[i], obj_type_name(&a[i]));
			return -1;
		}
		h[i] = a[i].via.u64;
	}
	if (h[0] > UINT32_MAX) {
		snprintf(err, errlen, "event type %" PRIu64 " is out of range", h[0]);
		return -1;
	}
	if (h[2] >= NSTREAMS) {
		snprintf(err, errlen,
			 "type %" PRIu64 ": stream %" PRIu64 " is out of range (0-255)", h[0],
			 h[2]);
		return -1;
	}
	if (!pred->synced) {
		snprintf(err, errlen, "type %" PRIu64 ": an event before the frame's sync record",
			 h[0]);
		return -1;
	}
	if (pred->stream != h[2]) {
		snprintf(err, errlen,
			 "type %" PRIu64 ": a stream %" PRIu64
			 " event after a sync record of stream %u",
			 h[0], h[2], pred->stream);
		return -1;
	}
	uint64_t ps = prev_seq[h[2]], seq = ps + h[1], ts = prev_ts[h[2]] + h[3];

	if (!h[1] || (ps != UINT64_MAX && seq < ps)) {
		snprintf(err, errlen,
			 "type %" PRIu64 ": stream %" PRIu64 ": bad seq delta %" PRIu64
			 " after seq %" PRId64,
			 h[0], h[2], h[1], (int64_t)ps);
		return -1;
	}
	if (ts < prev_ts[h[2]]) {
		snprintf(err, errlen, "seq %" PRIu64 ": ts overflows", seq);
		return -1;
	}
	ev->type = h[0];
	ev->stream = h[2];
	ev->seq = seq;
	ev->ts = ts;
	ev->desc = trace_event_desc(ev->type);
	ev->nfields = raw->via.array.size - TRACE_HEADER_FIELDS;
	ev->fields = a + TRACE_HEADER_FIELDS;
	ev->raw = raw;
	if (ev->desc) {
		const struct trace_event_desc *d = ev->desc;
		uint64_t key = 0, size = 0;
		unsigned int reg = 0;

		if (ev->nfields < d->required) {
			snprintf(err, errlen,
				 "seq %" PRIu64 ": %s event has %u fields, at least %u expected",
				 seq, d->name, ev->nfields, d->required);
			return -1;
		}
		/* Fields appended after the trace was written are absent (a lower minor). */
		for (unsigned int i = 0; i < d->nfields && i < ev->nfields; i++) {
			if (!kind_ok(d->fields[i].kind, &ev->fields[i])) {
				snprintf(err, errlen,
					 "seq %" PRIu64 ": %s field '%s' is %s, expected %s", seq,
					 d->name, d->fields[i].name, obj_type_name(&ev->fields[i]),
					 kind_name(d->fields[i].kind));
				return -1;
			}
			uint64_t v = ev->fields[i].via.u64;

			switch (d->fields[i].kind) {
			case TF_PORT:
				key |= trace_pred_key(v, 0, 0);
				break;
			case TF_GPA:
				key |= trace_pred_key(v, 1, 0);
				break;
			case TF_WRITE:
				key |= v != 0;
				break;
			case TF_SIZE:
				size = v;
				break;
			case TF_PRED: {
				unsigned int slot = trace_pred_slot(key);
				uint64_t mask = trace_pred_mask(size);

				if (pred->slot[slot].used && pred->slot[slot].key == key)
					v += pred->slot[slot].value;
				v &= mask;
				pred->slot[slot].key = key;
				pred->slot[slot].value = v;
				pred->slot[slot].used = true;
				/* The arena's array: ev->fields is const only to the caller. */
				((msgpack_object *)ev->fields)[i].via.u64 = v;
				break;
			}
			case TF_REG:
				if (reg < TRACE_MAX_REGS) {
					v ^= pred->regs[reg];
					pred->regs[reg++] = v;
					((msgpack_object *)ev->fields)[i].via.u64 = v;
				}
				break;
			default:
				break;
			}
		}
	}
	prev_seq[h[2]] = seq;
	prev_ts[h[2]] = ts;
	return 0;
}

/* Fills r->index from the trailer, if the file has a consistent one. */
static void read_trailer(struct trace_reader *r)
{
	const uint8_t *f;
	uint64_t nframes, entry, tsize, st, sum = 0, ioff, isize, n, events = UINT64_MAX;
	struct mp m;
	bool have_frames = false;

	if (r->size < 9)
		return;
	f = r->map + r->size - 9;
	if (le32(f + 5) != TRACE_SEEK_FOOTER)
		return; /* no trailer: the scan will say the file is truncated */
	r->trailer_broken = true;
	nframes = le32(f);
	if (f[4] & 0x7c) {
		problem(r, P_DAMAGED, r->size - 9, "seek table: reserved descriptor bits 0x%02x",
			f[4]);
		return;
	}
	entry = (f[4] & 0x80) ? 12 : 8;
	tsize = 8 + nframes * entry + 9;
	if (tsize > r->size) {
		problem(r, P_DAMAGED, r->size - 9, "seek table: %" PRIu64 " frames do not fit",
			nframes);
		return;
	}
	st = r->size - tsize;
	if (le32(r->map + st) != TRACE_SEEK_MAGIC || le32(r->map + st + 4) != tsize - 8) {
		problem(r, P_DAMAGED, st, "seek table: no skippable frame header here");
		return;
	}
	for (uint64_t i = 0; i < nframes; i++)
		sum += le32(r->map + st + 8 + i * entry);
	ioff = sum;
	if (ioff + 8 > st || le32(r->map + ioff) != TRACE_INDEX_MAGIC ||
	    (isize = le32(r->map + ioff + 4)) != st - ioff - 8) {
		problem(r, P_DAMAGED, ioff < st ? ioff : st,
			"index: not found where the seek table's frame sizes end");
		return;
	}

	/* {"events": N, "frames": [[offset, csize, dsize, stream, base_seq, base_ts, n], ...]} */
	mp_init(&m, r->map + ioff + 8, isize, &r->idx_arena);
	if (mp_container_header(&m, true, &n))
		goto bad;
	for (uint64_t k = 0; k < n; k++) {
		msgpack_object key, val;

		if (mp_next(&m, &key))
			goto bad;
		if (str_eq(&key, "frames", 6)) {
			uint64_t cnt;

			if (mp_container_header(&m, false, &cnt))
				goto bad;
			if (cnt != nframes || cnt > mp_left(&m) / 8) {
				snprintf(m.err, sizeof(m.err),
					 "%" PRIu64 " frames, the seek table has %" PRIu64, cnt,
					 nframes);
				goto bad;
			}
			free(r->index);
			r->index = calloc(cnt ? cnt : 1, sizeof(*r->index));
			if (!r->index) {
				snprintf(m.err, sizeof(m.err), "out of memory");
				goto bad;
			}
			for (uint64_t i = 0; i < cnt; i++) {
				struct trace_index_entry *e = &r->index[i];
				const msgpack_object *a;

				if (mp_next(&m, &val))
					goto bad;
				a = val.via.array.ptr;
				if (val.type != MSGPACK_OBJECT_ARRAY || val.via.array.size < 7 ||
				    a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
				    a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
				    a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
				    a[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
				    (a[4].type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
				     a[4].type != MSGPACK_OBJECT_NEGATIVE_INTEGER) ||
				    a[5].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
				    a[6].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
					snprintf(m.err, sizeof(m.err),
						 "frame entry %" PRIu64 " is malformed", i);
					goto bad;
				}
				*e = (struct trace_index_entry){
					a[0].via.u64, a[1].via.u64, a[2].via.u64, a[3].via.u64,
					a[4].via.i64, a[5].via.u64, a[6].via.u64};
				if (e->csize != le32(r->map + st + 8 + i * entry) ||
				    e->dsize != le32(r->map + st + 12 + i * entry)) {
					snprintf(m.err, sizeof(m.err),
						 "frame %" PRIu64 " disagrees with the seek table",
						 i);
					goto bad;
				}
			}
			r->nindex = cnt;
			have_frames = true;
		} else {
			if (mp_next(&m, &val))
				goto bad;
			if (str_eq(&key, "events", 6) && !trace_obj_u64(&val, &events)) {
				snprintf(m.err, sizeof(m.err),
					 "'events' is not an unsigned integer");
				goto bad;
			}
		}
	}
	if (!have_frames || events == UINT64_MAX) {
		snprintf(m.err, sizeof(m.err), "'frames' or 'events' is missing");
		goto bad;
	}
	arena_free(&r->idx_arena);
	r->trailer_ok = true;
	r->trailer_broken = false;
	r->data_end = ioff;
	r->st.has_index = true;
	r->st.index_events = events;
	return;
bad:
	arena_free(&r->idx_arena);
	free(r->index);
	r->index = NULL;
	r->nindex = 0;
	problem(r, P_DAMAGED, ioff, "index: %s", m.err);
}

static struct trace_frame_info *add_frame(struct trace_reader *r, uint64_t off, uint64_t csize,
					  uint64_t dsize, enum trace_frame_kind kind)
{
	static struct trace_frame_info spare;
	struct trace_frame_info *f;

	r->st.frames++;
	r->st.raw_bytes += dsize;
	if (r->nframes >= MAX_FRAME_LIST) {
		f = &spare; /* counted, not listed */
	} else {
		if (r->nframes == r->capframes) {
			size_t cap = r->capframes ? 2 * r->capframes : 64;
			void *p = realloc(r->frames, cap * sizeof(*r->frames));

			if (!p)
				return &spare;
			r->frames = p;
			r->capframes = cap;
		}
		f = &r->frames[r->nframes++];
	}
	*f = (struct trace_frame_info){.offset = off, .csize = csize, .dsize = dsize, .kind = kind};
	return f;
}

/*
 * The zstd frame at off: its compressed size and its decompressed data (malloc'd). Returns
 * 0, or -1 after reporting (truncated: the frame does not fit in the file).
 */
static int read_zstd_frame(struct trace_reader *r, uint64_t off, uint64_t end, uint64_t *csize,
			   uint8_t **out, size_t *dsize)
{
	const uint8_t *src = r->map + off;
	uint64_t left = end - off, n = r->nzstd;
	unsigned long long content;
	size_t cs, got;
	uint8_t *buf;

	cs = ZSTD_findFrameCompressedSize(src, left);
	if (ZSTD_isError(cs)) {
		if (ZSTD_getErrorCode(cs) == ZSTD_error_srcSize_wrong && !r->trailer_ok)
			problem(r, P_TRUNCATED, off,
				"truncated: frame %" PRIu64 " is incomplete (%" PRIu64
				" bytes left in the file)",
				n, left);
		else
			problem(r, P_DAMAGED, off, "frame %" PRIu64 ": zstd: %s", n,
				ZSTD_getErrorName(cs));
		return -1;
	}
	content = ZSTD_getFrameContentSize(src, cs);
	if (content == ZSTD_CONTENTSIZE_ERROR) {
		problem(r, P_DAMAGED, off, "frame %" PRIu64 ": zstd: bad frame header", n);
		return -1;
	}
	if (content != ZSTD_CONTENTSIZE_UNKNOWN && content > MAX_FRAME_DSIZE) {
		problem(r, P_DAMAGED, off,
			"frame %" PRIu64 ": says it holds %llu bytes, more than the %u MiB limit",
			n, content, MAX_FRAME_DSIZE >> 20);
		return -1;
	}
	if (content == ZSTD_CONTENTSIZE_UNKNOWN) {
		/* Not what dejavm writes, but legal zstd: decompress with a growing buffer. */
		ZSTD_inBuffer in = {src, cs, 0};
		ZSTD_outBuffer o = {NULL, 0, 0};
		size_t ret = 1;

		ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
		buf = NULL;
		while (ret) {
			if (o.pos == o.size) {
				size_t cap = o.size ? 2 * o.size : 1 << 16;
				void *p;

				if (o.size >= MAX_FRAME_DSIZE) {
					free(buf);
					problem(r, P_DAMAGED, off,
						"frame %" PRIu64
						": decompresses to more than %u MiB",
						n, MAX_FRAME_DSIZE >> 20);
					return -1;
				}
				if (!(p = realloc(buf, cap))) {
					free(buf);
					problem(r, P_DAMAGED, off,
						"frame %" PRIu64 ": out of memory", n);
					return -1;
				}
				buf = o.dst = p;
				o.size = cap;
			}
			size_t before = in.pos + o.pos;

			ret = ZSTD_decompressStream(r->dctx, &o, &in);
			if (ZSTD_isError(ret)) {
				free(buf);
				problem(r, P_DAMAGED, off, "frame %" PRIu64 ": zstd: %s", n,
					ZSTD_getErrorName(ret));
				return -1;
			}
			if (ret && in.pos == in.size && o.pos < o.size &&
			    in.pos + o.pos == before) {
				free(buf);
				problem(r, P_DAMAGED, off,
					"frame %" PRIu64 ": zstd: frame is incomplete", n);
				return -1;
			}
		}
		*out = buf;
		*dsize = o.pos;
		*csize = cs;
		return 0;
	}
	buf = malloc(content ? content : 1);
	if (!buf) {
		problem(r, P_DAMAGED, off, "frame %" PRIu64 ": out of memory for %llu bytes", n,
			content);
		return -1;
	}
	got = ZSTD_decompressDCtx(r->dctx, buf, content, src, cs);
	if (ZSTD_isError(got) || got != content) {
		free(buf);
		problem(r, P_DAMAGED, off, "frame %" PRIu64 ": zstd: %s", n,
			ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
		return -1;
	}
	*out = buf;
	*dsize = content;
	*csize = cs;
	return 0;
}

static void check_index_entry(struct trace_reader *r, uint64_t n, uint64_t off, uint64_t csize,
			      uint64_t dsize)
{
	const struct trace_index_entry *e;

	if (!r->trailer_ok)
		return;
	if (n >= r->nindex) {
		problem(r, P_DAMAGED, off, "frame %" PRIu64 " is not in the index (%zu frames)", n,
			r->nindex);
		return;
	}
	e = &r->index[n];
	if (e->offset != off || e->csize != csize || e->dsize != dsize)
		problem(r, P_DAMAGED, off,
			"index: frame %" PRIu64 " is at %" PRIu64 " (%" PRIu64 " -> %" PRIu64
			" bytes), the file has it at %" PRIu64 " (%" PRIu64 " -> %" PRIu64 ")",
			n, e->offset, e->csize, e->dsize, off, csize, dsize);
}

static void free_run(struct run *run)
{
	if (!run)
		return;
	arena_free(&run->arena);
	free(run->buf);
	free(run);
}

/* Parses the run's next event into its head; false when it has no more. */
static bool run_advance(struct run *run)
{
	struct mp m;
	char err[160];

	if (run->delivered >= run->nevents)
		return false;
	for (;;) { /* skipping sync records */
		mp_init(&m, run->buf + run->pos, run->len - run->pos, &run->arena);
		int rc = decode_event(&m, run->prev_seq, run->prev_ts, &run->pred, &run->head,
				      &run->raw, err, sizeof(err));

		if (rc < 0) {
			run->nevents = run->delivered; /* cannot happen: the load validated it */
			return false;
		}
		run->pos += m.p - m.start;
		if (!rc)
			break;
	}
	run->head.frame = run->frame;
	run->head.frame_offset = run->offset;
	return true;
}

static void remove_run(struct trace_reader *r, struct run *run)
{
	for (size_t i = 0; i < r->nruns; i++) {
		if (r->runs[i] == run) {
			r->runs[i] = r->runs[--r->nruns];
			break;
		}
	}
	r->loaded_bytes -= run->len;
	free_run(run);
}

/* The load pass over an event frame: validates it, advances the sums, queues it as a run. */
static void load_events(struct trace_reader *r, uint64_t off, uint64_t zn, uint8_t *buf, size_t len,
			struct trace_frame_info *fi)
{
	struct run *run = calloc(1, sizeof(*run));
	struct trace_ev ev;
	msgpack_object raw;
	uint64_t n = 0, base_seq = 0, base_ts = 0;
	bool damaged = false, synced = false;
	struct mp m;
	char err[320];

	if (!run) {
		free(buf);
		problem(r, P_DAMAGED, off, "frame %" PRIu64 ": out of memory", zn);
		r->scan_done = true;
		return;
	}
	memcpy(run->prev_seq, r->prev_seq, sizeof(r->prev_seq));
	memcpy(run->prev_ts, r->prev_ts, sizeof(r->prev_ts));
	mp_init(&m, buf, len, &r->scratch);
	while (m.p < m.end) {
		size_t at = m.p - m.start;

		int rc;

		if (!at)
			r->scan_pred.synced = false; /* a frame must start with its sync record */
		rc = decode_event(&m, r->prev_seq, r->prev_ts, &r->scan_pred, &ev, &raw, err,
				  sizeof(err));
		if (rc < 0) {
			problem(r, P_DAMAGED, off,
				"frame %" PRIu64 ", byte %zu of its data: event %" PRIu64 ": %s",
				zn, at, n, err);
			r->scan_done = true; /* what follows cannot be trusted */
			damaged = true;
			break;
		}
		if (rc == 1) {
			if (!synced) {
				base_seq = r->prev_seq[r->scan_pred.stream];
				base_ts = r->prev_ts[r->scan_pred.stream];
				synced = true;
			}
			continue;
		}
		if (!n) {
			fi->stream = ev.stream;
			fi->first_seq = ev.seq;
		}
		n++;
	}
	fi->nevents = n;
	if (r->trailer_ok && !damaged && zn < r->nindex) {
		const struct trace_index_entry *e = &r->index[zn];

		if (e->nevents != n ||
		    (n && (e->stream != fi->stream || e->base_seq != (int64_t)base_seq ||
			   e->base_ts != base_ts)))
			problem(r, P_DAMAGED, off,
				"index: frame %" PRIu64 " disagrees with its data (%" PRIu64
				" events of stream %u from seq %" PRId64 ", the data has %" PRIu64
				" of stream %u from %" PRId64 ")",
				zn, e->nevents, e->stream, e->base_seq, n, fi->stream,
				(int64_t)base_seq);
	}
	if (!n) {
		free(buf);
		free(run);
		return;
	}
	if (r->nruns == r->caprun) {
		size_t cap = r->caprun ? 2 * r->caprun : 16;
		void *p = realloc(r->runs, cap * sizeof(*r->runs));

		if (!p) {
			free(buf);
			free(run);
			problem(r, P_DAMAGED, off, "frame %" PRIu64 ": out of memory", zn);
			r->scan_done = true;
			return;
		}
		r->runs = p;
		r->caprun = cap;
	}
	run->buf = buf;
	run->len = len;
	run->frame = zn;
	run->offset = off;
	run->nevents = n;
	r->runs[r->nruns++] = run;
	r->loaded_bytes += len;
	if (!run_advance(run))
		remove_run(r, run);
}

static void scan_end(struct trace_reader *r)
{
	r->scan_done = true;
	if (r->trailer_ok) {
		if (r->nzstd != r->nindex)
			problem(r, P_DAMAGED, r->pos,
				"index: it lists %zu frames, the file has %" PRIu64, r->nindex,
				r->nzstd);
	} else if (!r->trailer_broken) {
		problem(r, P_TRUNCATED, r->pos,
			"truncated: the file ends after frame %" PRIu64
			" without the index and seek table (the recording did not finish)",
			r->nzstd ? r->nzstd - 1 : 0);
	}
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/*
 * A checkpoint frame (its payload is read only when asked for): counted among the frames the
 * index lists, which must say the same seq and virtual time.
 */
static void scan_checkpoint(struct trace_reader *r, uint64_t off, uint64_t size)
{
	const struct trace_index_entry *e =
		r->trailer_ok && r->nzstd < r->nindex ? &r->index[r->nzstd] : NULL;
	struct trace_frame_info *fi;
	uint64_t seq, vtime;

	if (size < 16) {
		problem(r, P_DAMAGED, off,
			"frame %" PRIu64 ": a checkpoint frame of %" PRIu64
			" bytes (its seq and time alone take 16)",
			r->nzstd, size);
		r->scan_done = true;
		return;
	}
	seq = le64(r->map + off + 8);
	vtime = le64(r->map + off + 16);
	check_index_entry(r, r->nzstd, off, 8 + size, 0);
	if (e &&
	    (e->stream != TRACE_CKPT_STREAM || e->base_seq != (int64_t)seq || e->base_ts != vtime))
		problem(r, P_DAMAGED, off,
			"index: frame %" PRIu64 " disagrees with the checkpoint there (seq %" PRIu64
			", virtual time %" PRIu64 ")",
			r->nzstd, seq, vtime);
	fi = add_frame(r, off, 8 + size, 0, TRACE_FRAME_CHECKPOINT);
	fi->first_seq = seq;
	fi->stream = TRACE_CKPT_STREAM;
	r->nzstd++;
	r->pos += 8 + size;
}

/* Scans the frame at r->pos: loads an event frame, skips a skippable one. */
static void scan_one(struct trace_reader *r)
{
	uint64_t off = r->pos, left = r->data_end - off, csize;
	enum problem_kind cut = r->trailer_ok ? P_DAMAGED : P_TRUNCATED;
	struct trace_frame_info *fi;
	uint32_t magic;
	uint8_t *buf;
	size_t dsize;

	if (!left) {
		scan_end(r);
		return;
	}
	if (left < 8) {
		problem(r, cut, off, "%s%" PRIu64 " bytes that are not a whole frame",
			cut == P_TRUNCATED ? "truncated: " : "", left);
		r->scan_done = true;
		return;
	}
	magic = le32(r->map + off);
	if ((magic & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START) {
		uint64_t size = le32(r->map + off + 4);

		if (size > left - 8) {
			problem(r, cut, off,
				"%sskippable frame 0x%08x of %" PRIu64 " bytes, %" PRIu64 " left",
				cut == P_TRUNCATED ? "truncated: " : "", magic, size, left - 8);
			r->scan_done = true;
			return;
		}
		if (magic == TRACE_CKPT_MAGIC) {
			scan_checkpoint(r, off, size);
			return;
		}
		add_frame(r, off, 8 + size, 0, TRACE_FRAME_SKIPPABLE);
		r->pos += 8 + size;
		return;
	}
	if (magic != ZSTD_MAGICNUMBER) {
		problem(r, P_DAMAGED, off, "frame %" PRIu64 ": not a zstd frame (magic 0x%08x)",
			r->nzstd, magic);
		r->scan_done = true;
		return;
	}
	if (read_zstd_frame(r, off, r->data_end, &csize, &buf, &dsize)) {
		r->scan_done = true;
		return;
	}
	check_index_entry(r, r->nzstd, off, csize, dsize);
	fi = add_frame(r, off, csize, dsize, TRACE_FRAME_EVENTS);
	r->pos += csize;
	load_events(r, off, r->nzstd++, buf, dsize, fi);
}

static void finish(struct trace_reader *r)
{
	struct trace_status *st = &r->st;

	st->done = true;
	st->has_end = st->events && r->last_type == TRACE_end;
	if (!st->has_end && !st->truncated && !st->damaged)
		problem(r, P_TRUNCATED, r->pos,
			"truncated: the last event is not `end` (the recording did not finish)");
	if (st->has_end && r->end_events != st->last_seq && !st->truncated && !st->damaged)
		problem(r, P_DAMAGED, r->end_frame_off,
			"the end event says %" PRIu64 " events came before it, its seq is %" PRIu64,
			r->end_events, st->last_seq);
	if (r->trailer_ok && !st->truncated && !st->damaged &&
	    (st->index_events != r->first_seq + st->events ||
	     (st->events && st->last_seq + 1 != r->first_seq + st->events)))
		problem(r, P_DAMAGED, r->data_end,
			"index: it says %" PRIu64 " events, the file has %" PRIu64,
			st->index_events, r->first_seq + st->events);
	if (st->missing && (st->truncated || st->damaged))
		problem(r, P_NOTE, st->problem_offset,
			"%" PRIu64 " events are missing between seq %" PRIu64 " and %" PRIu64
			" (lost with the damaged part)",
			st->missing, st->first_seq, st->last_seq);
	st->complete = r->trailer_ok && st->has_end && !st->truncated && !st->damaged;
}

int trace_reader_next(struct trace_reader *r, struct trace_ev *ev)
{
	struct run *best;

	if (r->advance) {
		struct run *run = r->advance;

		r->advance = NULL;
		run->delivered++;
		if (!run_advance(run))
			remove_run(r, run);
	}
	if (r->st.done)
		return 0;
	for (;;) {
		best = NULL;
		for (size_t i = 0; i < r->nruns; i++)
			if (!best || r->runs[i]->head.seq < best->head.seq)
				best = r->runs[i];
		if (best && best->head.seq == r->next_seq)
			break;
		if (best && best->head.seq < r->next_seq) {
			problem(r, P_DAMAGED, best->offset,
				"frame %" PRIu64 ": seq %" PRIu64 " appears again or out of order",
				best->frame, best->head.seq);
			best->delivered++;
			if (!run_advance(best))
				remove_run(r, best);
			continue;
		}
		if (!r->scan_done && r->nruns < MAX_LOADED_RUNS &&
		    r->loaded_bytes < MAX_LOADED_BYTES) {
			scan_one(r);
			continue;
		}
		if (!best) {
			finish(r);
			return 0;
		}
		/* A gap: the seq is not in the file (or not where it could be). */
		if (!r->scan_done)
			problem(r, P_DAMAGED, best->offset,
				"seq %" PRIu64 " not found in the next %zu frames (%" PRIu64
				" bytes of data)",
				r->next_seq, r->nruns, r->loaded_bytes);
		else if (!r->st.truncated && !r->st.damaged)
			problem(r, P_DAMAGED, best->offset,
				"missing events: seq %" PRIu64 " never appears", r->next_seq);
		r->st.missing += best->head.seq - r->next_seq;
		r->next_seq = best->head.seq;
	}
	*ev = best->head;
	ev->index = r->st.events++;
	if (!ev->index)
		r->st.first_seq = ev->seq;
	r->st.last_seq = ev->seq;
	if (ev->ts > r->st.last_ts)
		r->st.last_ts = ev->ts;
	r->next_seq = ev->seq + 1;
	r->last_type = ev->type;
	if (ev->type == TRACE_end) {
		const msgpack_object *o = trace_ev_field(ev, "events");

		r->end_events = o ? o->via.u64 : 0;
		r->end_frame_off = ev->frame_offset;
	}
	r->advance = best;
	return 1;
}

static void reader_free(struct trace_reader *r)
{
	for (size_t i = 0; i < r->nruns; i++)
		free_run(r->runs[i]);
	free(r->runs);
	for (size_t i = 0; i < r->nproblems; i++)
		free(r->problems[i]);
	free(r->frames);
	free(r->index);
	free(r->ckpts);
	free(r->hdr_buf);
	arena_free(&r->scratch);
	arena_free(&r->hdr_arena);
	arena_free(&r->idx_arena);
	ZSTD_freeDCtx(r->dctx);
	if (r->map)
		munmap((void *)r->map, r->size);
	free(r->path);
	free(r);
}

void trace_reader_close(struct trace_reader *r)
{
	if (r)
		reader_free(r);
}

static struct trace_reader *open_fail(struct trace_reader *r, char **err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct trace_reader *open_fail(struct trace_reader *r, char **err, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (err)
		*err = msg ? msg : strdup("out of memory");
	else
		free(msg);
	if (r)
		reader_free(r);
	return NULL;
}

/* Frame 0: one msgpack map with format "dejavm-trace" and version 1. */
static struct trace_reader *read_header(struct trace_reader *r, char **err)
{
	const char *fmt;
	size_t dsize, flen;
	uint64_t csize, version;
	struct mp m;

	if (r->size < 4 || le32(r->map) != ZSTD_MAGICNUMBER)
		return open_fail(r, err,
				 "%s: offset 0: not a dejavm trace (it does not start with a zstd "
				 "frame: %02x %02x %02x %02x)",
				 r->path, r->map[0], r->size > 1 ? r->map[1] : 0,
				 r->size > 2 ? r->map[2] : 0, r->size > 3 ? r->map[3] : 0);
	if (read_zstd_frame(r, 0, r->size, &csize, &r->hdr_buf, &dsize))
		return open_fail(r, err, "%s", r->problems[r->nproblems - 1]);
	r->hdr_len = dsize;
	mp_init(&m, r->hdr_buf, dsize, &r->hdr_arena);
	if (mp_next(&m, &r->header))
		return open_fail(r, err, "%s: offset 0: header: %s", r->path, m.err);
	if (r->header.type != MSGPACK_OBJECT_MAP)
		return open_fail(r, err, "%s: offset 0: not a dejavm trace (the header is %s)",
				 r->path, obj_type_name(&r->header));
	if (!trace_obj_str(trace_obj_get(&r->header, "format"), &fmt, &flen) ||
	    flen != strlen(TRACE_FORMAT_NAME) || memcmp(fmt, TRACE_FORMAT_NAME, flen))
		return open_fail(r, err, "%s: offset 0: not a dejavm trace (no format \"%s\")",
				 r->path, TRACE_FORMAT_NAME);
	if (!trace_obj_u64(trace_obj_get(&r->header, "version"), &version))
		return open_fail(r, err, "%s: offset 0: header: no version", r->path);
	/*
	 * Any minor version reads: fields appended since are ignored, those not yet there absent.
	 * Version 3 is 2 with checkpoint frames and a first seq (trace.h).
	 */
	if (version != TRACE_FORMAT_VERSION && version != TRACE_FORMAT_VERSION_CKPT)
		return open_fail(
			r, err,
			"%s: offset 0: trace format version %" PRIu64
			" is not supported (this reader knows 2 and %d): %s",
			r->path, version, TRACE_FORMAT_VERSION_CKPT,
			version > TRACE_FORMAT_VERSION_CKPT
				? "read it with the dejavm that recorded it, or a newer one"
				: "it comes from an older dejavm; replay it with that one, "
				  "or record it again");
	if (m.p != m.end)
		return open_fail(r, err, "%s: offset 0: header: %zu stray bytes after the map",
				 r->path, (size_t)(m.end - m.p));
	if (trace_obj_get(&r->header, "first_seq") &&
	    (!trace_obj_u64(trace_obj_get(&r->header, "first_seq"), &r->first_seq) ||
	     r->first_seq > UINT64_MAX / 2))
		return open_fail(r, err, "%s: offset 0: header: first_seq is not a seq", r->path);
	r->next_seq = r->first_seq;
	/* a checkpoint holds the VM's state and the memory that changed: at most its RAM */
	r->ckpt_max = (trace_obj_u64(trace_obj_get(&r->header, "config.memory"), &version) &&
				       version < (1ULL << 40)
			       ? version
			       : 0) +
		      (64u << 20);
	r->pos = r->header_csize = csize;
	return r;
}

struct trace_reader *trace_reader_open(const char *path, char **err)
{
	struct trace_reader *r = calloc(1, sizeof(*r));
	struct stat sb;
	int fd;

	if (err)
		*err = NULL;
	if (!r || !(r->path = strdup(path)))
		return open_fail(r, err, "%s: out of memory", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return open_fail(r, err, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		return open_fail(r, err, "%s: not a regular file", path);
	}
	if (!sb.st_size) {
		close(fd);
		return open_fail(r, err, "%s: offset 0: empty file, not a dejavm trace", path);
	}
	r->size = sb.st_size;
	r->map = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return open_fail(r, err, "%s: cannot map it: %s", path, strerror(errno));
	}
	madvise((void *)r->map, r->size, MADV_SEQUENTIAL);
	r->dctx = ZSTD_createDCtx();
	if (!r->dctx)
		return open_fail(r, err, "%s: out of memory", path);
	r->st.file_size = r->size;
	r->data_end = r->size;
	for (int i = 0; i < NSTREAMS; i++)
		r->prev_seq[i] = UINT64_MAX;
	if (!read_header(r, err))
		return NULL;
	read_trailer(r);
	if (r->pos > r->data_end)
		return open_fail(r, err, "%s: offset 0: the header frame overlaps the index", path);
	check_index_entry(r, 0, 0, r->pos, r->hdr_len);
	add_frame(r, 0, r->pos, r->hdr_len, TRACE_FRAME_HEADER);
	r->nzstd = 1;
	return r;
}

uint64_t trace_reader_first_seq(const struct trace_reader *r)
{
	return r->first_seq;
}

const struct trace_checkpoint *trace_reader_checkpoints(struct trace_reader *r, size_t *n)
{
	size_t cap = 0;

	for (uint64_t off = r->header_csize; !r->ckpts_walked && off + 8 <= r->data_end;) {
		uint32_t magic = le32(r->map + off);
		uint64_t size;

		if ((magic & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START) {
			size = 8 + (uint64_t)le32(r->map + off + 4);
		} else if (magic == ZSTD_MAGICNUMBER) {
			size = ZSTD_findFrameCompressedSize(r->map + off, r->data_end - off);
			if (ZSTD_isError(size))
				break; /* the damage: scan_one() says what it is */
		} else {
			break;
		}
		if (size > r->data_end - off)
			break;
		if (magic == TRACE_CKPT_MAGIC && size >= 24) {
			if (r->nckpts == cap) {
				void *p =
					realloc(r->ckpts, (cap ? 2 * cap : 16) * sizeof(*r->ckpts));

				if (!p)
					break;
				r->ckpts = p;
				cap = cap ? 2 * cap : 16;
			}
			r->ckpts[r->nckpts++] = (struct trace_checkpoint){
				off, size, le64(r->map + off + 8), le64(r->map + off + 16)};
		}
		off += size;
	}
	r->ckpts_walked = true;
	*n = r->nckpts;
	return r->ckpts;
}

void *trace_reader_checkpoint_payload(struct trace_reader *r, size_t i, size_t *len, char **err)
{
	const struct trace_checkpoint *c;
	const uint8_t *src;
	unsigned long long content;
	size_t cs, got;
	uint8_t *buf = NULL;
	const char *why = NULL;

	*err = NULL;
	if (!r->ckpts_walked)
		trace_reader_checkpoints(r, &cs);
	if (i >= r->nckpts) {
		open_fail(NULL, err, "%s: it has no checkpoint %zu (%zu in all)", r->path, i,
			  r->nckpts);
		return NULL;
	}
	c = &r->ckpts[i];
	src = r->map + c->offset + 24;
	cs = ZSTD_findFrameCompressedSize(src, c->size - 24);
	content = ZSTD_isError(cs) ? ZSTD_CONTENTSIZE_ERROR : ZSTD_getFrameContentSize(src, cs);
	if (ZSTD_isError(cs))
		why = ZSTD_getErrorName(cs);
	else if (cs != c->size - 24)
		why = "its zstd frame does not end where the checkpoint frame does";
	else if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
		why = "its zstd frame does not say its size";
	else if (content > r->ckpt_max)
		why = "it decompresses to more than the guest's RAM and state could need";
	else if (!(buf = malloc(content ? content : 1)))
		why = "out of memory";
	if (!why) {
		got = ZSTD_decompressDCtx(r->dctx, buf, content, src, cs);
		if (ZSTD_isError(got) || got != content)
			why = ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short";
	}
	if (why) {
		free(buf);
		open_fail(NULL, err, "%s: offset %" PRIu64 ": checkpoint %zu (seq %" PRIu64 "): %s",
			  r->path, c->offset, i, c->seq, why);
		return NULL;
	}
	*len = content;
	return buf;
}

const struct trace_status *trace_reader_status(const struct trace_reader *r)
{
	return &r->st;
}

const char *const *trace_reader_problems(const struct trace_reader *r, size_t *n)
{
	*n = r->nproblems;
	return (const char *const *)r->problems;
}

const char *trace_reader_path(const struct trace_reader *r)
{
	return r->path;
}

uint64_t trace_reader_pos(const struct trace_reader *r)
{
	return r->pos;
}

const msgpack_object *trace_reader_header(const struct trace_reader *r)
{
	return &r->header;
}

const struct trace_frame_info *trace_reader_frames(const struct trace_reader *r, size_t *n)
{
	*n = r->nframes;
	return r->frames;
}

const struct trace_index_entry *trace_reader_index(const struct trace_reader *r, size_t *n)
{
	*n = r->nindex;
	return r->index;
}

/* ---- decoding single records (dejavm replay: the events a run emits) ---- */

struct trace_decoder {
	struct arena arena;
	msgpack_object raw;
	uint64_t prev_seq[NSTREAMS], prev_ts[NSTREAMS];
	struct pred_state pred[NSTREAMS]; /* one per stream: their records interleave */
};

struct trace_decoder *trace_decoder_new(void)
{
	struct trace_decoder *d = calloc(1, sizeof(*d));

	if (d)
		memset(d->prev_seq, 0xff, sizeof(d->prev_seq));
	return d;
}

void trace_decoder_free(struct trace_decoder *d)
{
	if (!d)
		return;
	arena_free(&d->arena);
	free(d);
}

int trace_decoder_feed(struct trace_decoder *d, const void *data, size_t len, struct trace_ev *ev,
		       char *err, size_t errlen)
{
	struct mp m;
	int got = 0;

	arena_reset(&d->arena); /* the previous event's objects */
	mp_init(&m, data, len, &d->arena);
	while (mp_left(&m)) {
		const msgpack_object *a;
		uint64_t stream;
		int rc;

		if (got) {
			snprintf(err, errlen, "more than one event in one record");
			return -1;
		}
		m.max_obj = MAX_EV_OBJECTS;
		/* The sync record's objects must survive the event's parse: no reset between. */
		m.nobj = 0;
		if (mp_obj(&m, &d->raw, 0)) {
			snprintf(err, errlen, "%s", m.err);
			return -1;
		}
		a = d->raw.via.array.ptr;
		if (d->raw.type != MSGPACK_OBJECT_ARRAY ||
		    d->raw.via.array.size < TRACE_HEADER_FIELDS ||
		    a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[2].via.u64 >= NSTREAMS) {
			snprintf(err, errlen, "a record is not [type, dseq, stream, dts, ...]");
			return -1;
		}
		stream = a[2].via.u64;
		rc = decode_record(&d->raw, d->prev_seq, d->prev_ts, &d->pred[stream], ev, err,
				   errlen);
		if (rc < 0)
			return -1;
		got = rc == 0;
	}
	return got;
}
