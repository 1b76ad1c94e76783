// SPDX-License-Identifier: MIT
/*
 * The trace reader against the real encoder and real recordings: a round trip of every event
 * type with extreme values from two interleaved threads; a recorded pio-storm checked value by
 * value (and dejavm-trace dump --port agreeing); a small real trace cut at every byte and with
 * bits flipped in every frame, read without crashing and with the damage located; and
 * dejavm-trace diff on equal and on different runs.
 */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "harness.h"
#include "trace.h"
#include "trace_reader.h"

/* ---- helpers ---- */

static char guest_path[4096];

static const char *guest(const char *name)
{
	snprintf(guest_path, sizeof(guest_path), "%s/%s.elf", test_env("DEJAVM_GUEST_DIR"), name);
	return guest_path;
}

/* Runs argv[0] = the program named by env var `bin`, with up to 12 more arguments. */
static void run(struct run_result *r, const char *bin, ...)
{
	char *argv[16] = {(char *)test_env(bin)};
	va_list ap;
	int n = 1;

	va_start(ap, bin);
	while (n < 15 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	ck_assert_int_eq(run_cmd(argv, 120, 0, r), 0);
}

/* Records guest `name` with `cmdline` into a fresh temp file; caller unlinks and frees. */
static char *record(const char *name, const char *cmdline)
{
	char *path = test_tmpfile("trace");
	struct run_result r;

	ck_assert_ptr_nonnull(path);
	run(&r, "DEJAVM_BIN", "--kernel", guest(name), "--serial", "null", "--cmdline", cmdline,
	    "--record", path, NULL);
	ck_assert_msg(r.status == 0, "recording %s: status %d: %s", name, r.status, r.err);
	run_result_free(&r);
	return path;
}

/* ---- (a) round trip through the real encoder ---- */

static const uint64_t U[] = {0,	      1,	  127,	       128,	  255,	      0xffff,
			     0x10000, 0xffffffff, 0x100000000, INT64_MAX, UINT64_MAX, 0x510};
static const int64_t I[] = {0, -1, -32, -33, 127, -128, INT32_MIN, INT64_MIN, INT64_MAX, 1};
static const size_t LEN[] = {0, 1, 31, 32, 255, 256, 65535, 65536};
#define NU   (sizeof(U) / sizeof(U[0]))
#define NI   (sizeof(I) / sizeof(I[0]))
#define NLEN (sizeof(LEN) / sizeof(LEN[0]))

#define RT_PER_THREAD 6000

struct rt_expect {
	unsigned int type, stream;
	uint64_t ts;
};

struct rt {
	struct tracer *t;
	pthread_mutex_t lock;
	pthread_cond_t turn_changed;
	unsigned int turn; /* which thread emits now: they take turns in blocks */
	bool done[2];
	struct rt_expect *exp;
	size_t n;
	uint64_t now;
	uint64_t exit_ts[256], prev_ts[256];
};

static uint64_t rt_u(uint64_t seed, unsigned int j)
{
	return U[(seed + 3 * j) % NU];
}

static size_t rt_len(uint64_t seed, unsigned int j)
{
	/* 64 KiB only now and then, to keep the file small. */
	size_t k = (seed / 7 + j) % (2 * NLEN);

	return k < NLEN ? LEN[k] : LEN[k % 5];
}

static uint8_t rt_byte(uint64_t seed, unsigned int j, size_t k)
{
	return (uint8_t)(seed * 31 + j * 101 + k * 7);
}

static char rt_char(uint64_t seed, unsigned int j, size_t k)
{
	return 'a' + (seed + j + k) % 26;
}

static void *rt_bin(uint64_t seed, unsigned int j, size_t *len)
{
	uint8_t *p;

	*len = rt_len(seed, j);
	p = malloc(*len ? *len : 1);
	ck_assert_ptr_nonnull(p);
	for (size_t k = 0; k < *len; k++)
		p[k] = rt_byte(seed, j, k);
	return p;
}

static char *rt_str(uint64_t seed, unsigned int j)
{
	size_t len = rt_len(seed, j);
	char *p = malloc(len + 1);

	ck_assert_ptr_nonnull(p);
	for (size_t k = 0; k < len; k++)
		p[k] = rt_char(seed, j, k);
	p[len] = '\0';
	return p;
}

static const char *const map_keys[] = {"io", "mmio", "hlt", "a-key-of-some-length", ""};

static size_t rt_map(uint64_t seed, unsigned int j, struct trace_kv *kv)
{
	size_t n = (seed + j) % 6;

	for (size_t k = 0; k < n; k++)
		kv[k] = (struct trace_kv){map_keys[k % 5], rt_u(seed + k, j)};
	return n;
}

static void rt_emit(struct tracer *t, unsigned int type, uint64_t s)
{
	struct trace_kv kv[8];
	size_t l1, n;
	void *b1;
	char *s1;

	switch (type) {
	case TRACE_exit:
		trace_exit(t, rt_u(s, 0), rt_u(s, 1));
		break;
	case TRACE_pio:
		trace_pio(t, rt_u(s, 0), rt_u(s, 1), rt_u(s, 2), rt_u(s, 3), rt_u(s, 4));
		break;
	case TRACE_mmio:
		trace_mmio(t, rt_u(s, 0), rt_u(s, 1), rt_u(s, 2), rt_u(s, 3), rt_u(s, 4));
		break;
	case TRACE_serial:
		b1 = rt_bin(s, 1, &l1);
		trace_serial(t, rt_u(s, 0), b1, l1);
		free(b1);
		break;
	case TRACE_irq:
		trace_irq(t, rt_u(s, 0), rt_u(s, 1));
		break;
	case TRACE_mem_write:
		b1 = rt_bin(s, 2, &l1);
		s1 = rt_str(s, 3);
		trace_mem_write(t, rt_u(s, 0), rt_u(s, 1), b1, l1, s1);
		free(b1);
		free(s1);
		break;
	case TRACE_end:
		s1 = rt_str(s, 1);
		n = rt_map(s, 5, kv);
		trace_end(t, I[s % NI], s1, rt_u(s, 2), rt_u(s, 3), rt_u(s, 4), kv, n, rt_u(s, 6));
		free(s1);
		break;
	case TRACE_intr:
		trace_intr(t, rt_u(s, 0));
		break;
	case TRACE_vq_chain:
		b1 = rt_bin(s, 3, &l1);
		trace_vq_chain(t, rt_u(s, 0), rt_u(s, 1), rt_u(s, 2), b1, l1);
		free(b1);
		break;
	case TRACE_io_done:
		trace_io_done(t, rt_u(s, 0), rt_u(s, 1), rt_u(s, 2), rt_u(s, 3), rt_u(s, 4),
			      rt_u(s, 5), rt_u(s, 6), rt_u(s, 7), rt_u(s, 8));
		break;
	case TRACE_dma_write:
		b1 = rt_bin(s, 2, &l1);
		trace_dma_write(t, rt_u(s, 0), rt_u(s, 1), b1, l1);
		free(b1);
		break;
	case TRACE_landmark:
		b1 = rt_bin(s, 5, &l1);
		trace_landmark(t, rt_u(s, 0), rt_u(s, 1), rt_u(s, 2), rt_u(s, 3), rt_u(s, 4), b1,
			       l1, rt_u(s, 6));
		free(b1);
		break;
	case TRACE_regs:
		trace_regs(t, rt_u(s, 0), rt_u(s, 1), rt_u(s, 2), rt_u(s, 3), rt_u(s, 4),
			   rt_u(s, 5), rt_u(s, 6), rt_u(s, 7), rt_u(s, 8), rt_u(s, 9), rt_u(s, 10),
			   rt_u(s, 11), rt_u(s, 12), rt_u(s, 13), rt_u(s, 14), rt_u(s, 15),
			   rt_u(s, 16));
		break;
	case TRACE_msi:
		trace_msi(t, rt_u(s, 0), rt_u(s, 1), rt_u(s, 2));
		break;
	case TRACE_vm_state:
		trace_vm_state(t, rt_u(s, 0));
		break;
	default:
		ck_abort_msg("type %u: add it to rt_emit()", type);
	}
}

/* What the round trip covered: the extremes must all have been through the codec. */
static struct {
	size_t max_bin, max_str;
	bool empty_bin, empty_str, empty_map, u64_max, i64_min, pred_cut;
} seen;

/* Checks the decoded fields of event `s` against what rt_emit() gave the encoder. */
static void rt_check_fields(const struct trace_ev *ev, uint64_t s)
{
	const struct trace_event_desc *d = ev->desc;

	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(ev->nfields, d->nfields);
	for (unsigned int j = 0; j < d->nfields; j++) {
		const msgpack_object *o = &ev->fields[j];
		struct trace_kv kv[8];
		size_t len, n;
		uint64_t want_u;
		void *want;

		switch (d->fields[j].kind) {
		case TF_UINT:
		case TF_PORT:
		case TF_GPA:
		case TF_SIZE:
		case TF_WRITE:
		case TF_PRED:
		case TF_REG:
			ck_assert_int_eq(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
			seen.u64_max |= o->via.u64 == UINT64_MAX;
			/* A predicted value keeps its low `size` bytes (field 1 of pio and mmio).
			 */
			want_u = rt_u(s, j);
			if (d->fields[j].kind == TF_PRED) {
				ck_assert_int_eq(d->fields[1].kind, TF_SIZE);
				want_u &= trace_pred_mask(rt_u(s, 1));
				seen.pred_cut |= want_u != rt_u(s, j);
			}
			ck_assert_msg(o->via.u64 == want_u,
				      "seq %" PRIu64 " %s.%s: %" PRIu64 " != %" PRIu64, ev->seq,
				      d->name, d->fields[j].name, o->via.u64, want_u);
			break;
		case TF_INT:
			ck_assert(o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
				  o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER);
			ck_assert_int_eq(o->via.i64, I[s % NI]);
			seen.i64_min |= o->via.i64 == INT64_MIN;
			break;
		case TF_BIN:
			ck_assert_int_eq(o->type, MSGPACK_OBJECT_BIN);
			want = rt_bin(s, j, &len);
			ck_assert_uint_eq(o->via.bin.size, len);
			seen.empty_bin |= !len;
			seen.max_bin = len > seen.max_bin ? len : seen.max_bin;
			/* One assertion per field: check records each one, per byte is slow. */
			ck_assert_msg(!memcmp(o->via.bin.ptr, want, len), "seq %" PRIu64 " %s.%s",
				      ev->seq, d->name, d->fields[j].name);
			free(want);
			break;
		case TF_STR:
			ck_assert_int_eq(o->type, MSGPACK_OBJECT_STR);
			want = rt_str(s, j);
			len = strlen(want);
			ck_assert_uint_eq(o->via.str.size, len);
			seen.empty_str |= !len;
			seen.max_str = len > seen.max_str ? len : seen.max_str;
			ck_assert_msg(!memcmp(o->via.str.ptr, want, len), "seq %" PRIu64 " %s.%s",
				      ev->seq, d->name, d->fields[j].name);
			free(want);
			break;
		case TF_MAP:
			ck_assert_int_eq(o->type, MSGPACK_OBJECT_MAP);
			n = rt_map(s, j, kv);
			ck_assert_uint_eq(o->via.map.size, n);
			seen.empty_map |= !n;
			for (size_t k = 0; k < n; k++) {
				const msgpack_object_kv *p = &o->via.map.ptr[k];

				ck_assert_int_eq(p->key.type, MSGPACK_OBJECT_STR);
				ck_assert_uint_eq(p->key.via.str.size, strlen(kv[k].key));
				ck_assert(!memcmp(p->key.via.str.ptr, kv[k].key,
						  p->key.via.str.size));
				ck_assert_uint_eq(p->val.via.u64, kv[k].value);
			}
			break;
		}
	}
}

static uint64_t rt_clock(void *ctx)
{
	return ((struct rt *)ctx)->now;
}

struct rt_thread {
	struct rt *rt;
	bool attach; /* thread 0: attached to stream 0; thread 1: not attached */
};

static void *rt_thread(void *arg)
{
	struct rt_thread *th = arg;
	struct rt *rt = th->rt;
	unsigned int stream = th->attach ? 0 : TRACE_VCPU_NONE, me = th->attach ? 0 : 1;
	unsigned int block = 0;

	if (th->attach)
		trace_attach_thread(rt->t, 0);
	for (int i = 0; i < RT_PER_THREAD; i++) {
		pthread_mutex_lock(&rt->lock);
		/* Interleaved for certain, not by the scheduler's whim: blocks of 1 to 40 events.
		 */
		while (rt->turn != me && !rt->done[!me])
			pthread_cond_wait(&rt->turn_changed, &rt->lock);
		size_t s = rt->n++;
		/* An increasing clock with big jumps, ending near UINT64_MAX. */
		if (s == 2 * RT_PER_THREAD - 2)
			rt->now = UINT64_MAX - 1000;
		else if (s == 2 * RT_PER_THREAD - 1)
			rt->now = UINT64_MAX;
		else if (s % 997 == 0)
			rt->now += 1ULL << 40;
		else
			rt->now += s % 3;
		/* every type of the schema, in an order that varies */
		unsigned int type = trace_event_descs[(s * 5 + s / 7) % trace_event_ndescs].type;
		uint64_t ts;

		/* The recorder's rule: a vCPU's non-exit events carry the exit's ts. */
		if (type == TRACE_exit || stream == TRACE_VCPU_NONE)
			ts = rt->exit_ts[stream] = rt->now;
		else
			ts = rt->exit_ts[stream];
		if (ts < rt->prev_ts[stream])
			ts = rt->prev_ts[stream];
		rt->prev_ts[stream] = ts;
		rt->exp[s] = (struct rt_expect){type, stream, ts};
		rt_emit(rt->t, type, s);
		if (++block >= 1 + s % 40) {
			block = 0;
			rt->turn = !me;
			pthread_cond_broadcast(&rt->turn_changed);
		}
		pthread_mutex_unlock(&rt->lock);
	}
	pthread_mutex_lock(&rt->lock);
	rt->done[me] = true;
	pthread_cond_broadcast(&rt->turn_changed);
	pthread_mutex_unlock(&rt->lock);
	return NULL;
}

/* ctx: NULL, or the format version to claim. */
static void rt_header(msgpack_packer *pk, void *ctx)
{
	msgpack_pack_map(pk, 3);
	msgpack_pack_str_with_body(pk, "format", 6);
	msgpack_pack_str_with_body(pk, TRACE_FORMAT_NAME, strlen(TRACE_FORMAT_NAME));
	msgpack_pack_str_with_body(pk, "version", 7);
	msgpack_pack_uint64(pk, ctx ? *(const uint64_t *)ctx : TRACE_FORMAT_VERSION);
	msgpack_pack_str_with_body(pk, "cmdline", 7);
	msgpack_pack_str_with_body(pk, "round trip", 10);
}

static void rt_error(void *ctx, const char *msg)
{
	(void)ctx;
	ck_abort_msg("trace writer: %s", msg);
}

START_TEST(round_trip_every_type_from_two_threads)
{
	struct rt rt = {.lock = PTHREAD_MUTEX_INITIALIZER,
			.turn_changed = PTHREAD_COND_INITIALIZER};
	struct rt_thread th[2] = {{&rt, true}, {&rt, false}};
	char *path = test_tmpfile("roundtrip.trace"), *err = NULL;
	const struct trace_status *st;
	struct trace_reader *r;
	struct trace_ev ev;
	uint64_t n = 0, total, by_type[64] = {0}, by_stream[2] = {0};
	pthread_t tid[2];
	size_t nframes;
	const struct trace_frame_info *frames;
	unsigned int stream_switches = 0, prev_stream = 0;

	rt.exp = calloc(2 * RT_PER_THREAD + 1, sizeof(*rt.exp));
	ck_assert_ptr_nonnull(rt.exp);
	rt.t = trace_open(path, 1, rt_header, NULL, rt_error);
	ck_assert_ptr_nonnull(rt.t);
	trace_set_clock(rt.t, rt_clock, &rt);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&tid[i], NULL, rt_thread, &th[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(tid[i], NULL);
	total = rt.n;
	/* A proper end so that the file is complete: from this (unattached) thread. */
	rt.exp[total] = (struct rt_expect){TRACE_end, TRACE_VCPU_NONE, rt.now};
	trace_end(rt.t, 0, "done", total, 0, 0, NULL, 0, 0);
	ck_assert_int_eq(trace_close(rt.t), 0);

	r = trace_reader_open(path, &err);
	ck_assert_msg(r, "%s", err);
	{
		const char *cmdline;
		size_t len;

		ck_assert(trace_obj_str(trace_obj_get(trace_reader_header(r), "cmdline"), &cmdline,
					&len));
		ck_assert_uint_eq(len, 10);
		ck_assert(!memcmp(cmdline, "round trip", 10));
	}
	while (trace_reader_next(r, &ev) > 0) {
		const struct rt_expect *e = &rt.exp[n];

		ck_assert_uint_eq(ev.seq, n);
		ck_assert_uint_eq(ev.index, n);
		ck_assert_msg(ev.type == e->type && ev.stream == e->stream,
			      "seq %" PRIu64 ": type %u stream %u, expected %u %u", n, ev.type,
			      ev.stream, e->type, e->stream);
		ck_assert_msg(ev.ts == e->ts, "seq %" PRIu64 ": ts %" PRIu64 ", expected %" PRIu64,
			      n, ev.ts, e->ts);
		if (n < total)
			rt_check_fields(&ev, n);
		by_type[ev.type]++;
		by_stream[ev.stream == 0 ? 0 : 1]++;
		if (n && ev.stream != prev_stream)
			stream_switches++;
		prev_stream = ev.stream;
		n++;
	}
	ck_assert(seen.u64_max && seen.i64_min && seen.empty_bin && seen.empty_str &&
		  seen.empty_map && seen.pred_cut);
	ck_assert_uint_eq(seen.max_bin, 65536);
	ck_assert_uint_eq(seen.max_str, 65536);
	st = trace_reader_status(r);
	ck_assert_msg(st->complete, "not complete: %s", st->message);
	ck_assert_ptr_null(st->message);
	ck_assert_uint_eq(n, total + 1);
	ck_assert_uint_eq(st->events, total + 1);
	ck_assert_uint_eq(st->missing, 0);
	ck_assert(st->has_index);
	ck_assert_uint_eq(st->index_events, total + 1);
	for (unsigned int i = 0; i < trace_event_ndescs; i++)
		ck_assert_msg(by_type[trace_event_descs[i].type] > 100, "type %s: %" PRIu64,
			      trace_event_descs[i].name, by_type[trace_event_descs[i].type]);
	ck_assert_uint_eq(by_stream[0], RT_PER_THREAD);
	ck_assert_uint_eq(by_stream[1], RT_PER_THREAD + 1);
	ck_assert_msg(stream_switches > 100, "the threads did not interleave (%u)",
		      stream_switches);
	/* Both streams filled several frames, so the merge had real work to do. */
	frames = trace_reader_frames(r, &nframes);
	unsigned int per_stream[2] = {0, 0};
	for (size_t i = 0; i < nframes; i++)
		if (frames[i].kind == TRACE_FRAME_EVENTS)
			per_stream[frames[i].stream == 0 ? 0 : 1]++;
	ck_assert_msg(per_stream[0] >= 2 && per_stream[1] >= 2, "frames: %u + %u", per_stream[0],
		      per_stream[1]);
	trace_reader_close(r);
	unlink(path);
	free(path);
	free(rt.exp);
}
END_TEST

/* ---- (b) a real pio-storm ---- */

#define STORM_N 1000

START_TEST(pio_storm_values_match_the_guest)
{
	char *path = record("pio-storm", "n=1000"), *err = NULL;
	uint64_t writes = 0, reads = 0, values[2 * STORM_N], nvalues = 0;
	struct trace_reader *r = trace_reader_open(path, &err);
	struct trace_ev ev;
	struct run_result res;
	const char *line;

	ck_assert_msg(r, "%s", err);
	while (trace_reader_next(r, &ev) > 0) {
		uint64_t port, write, value, size;

		if (ev.type != TRACE_pio)
			continue;
		ck_assert(trace_obj_u64(trace_ev_field(&ev, "port"), &port));
		if (port != 0x510)
			continue;
		ck_assert(trace_obj_u64(trace_ev_field(&ev, "write"), &write));
		ck_assert(trace_obj_u64(trace_ev_field(&ev, "value"), &value));
		ck_assert(trace_obj_u64(trace_ev_field(&ev, "size"), &size));
		ck_assert_uint_eq(size, 4);
		ck_assert_uint_lt(nvalues, 2 * STORM_N);
		values[nvalues++] = value;
		if (write) {
			uint32_t v = (uint32_t)(writes * 0x9E3779B1u + 1);

			ck_assert_msg(value == v, "write %" PRIu64 ": 0x%" PRIx64 ", expected 0x%x",
				      writes, value, v);
			ck_assert_uint_eq(reads, writes);
			writes++;
		} else {
			uint32_t v = (uint32_t)(reads * 0x9E3779B1u + 1);

			ck_assert_msg(value == (uint32_t)~v,
				      "read %" PRIu64 ": 0x%" PRIx64 ", expected 0x%x", reads,
				      value, (uint32_t)~v);
			reads++;
			ck_assert_uint_eq(reads, writes);
		}
	}
	ck_assert_msg(trace_reader_status(r)->complete, "%s", trace_reader_status(r)->message);
	ck_assert_uint_eq(writes, STORM_N);
	ck_assert_uint_eq(reads, STORM_N);
	trace_reader_close(r);

	/* The tool agrees, line by line. */
	run(&res, "DEJAVM_TRACE_BIN", "dump", path, "--port", "0x510", NULL);
	ck_assert_msg(res.status == 0, "dump: %d: %s", res.status, res.err);
	line = res.out;
	for (uint64_t i = 0; i < nvalues; i++) {
		const char *v = strstr(line, "\"value\":"), *nl = strchr(line, '\n');

		ck_assert_msg(v && nl && v < nl, "line %" PRIu64 ": %s", i, line);
		ck_assert_ptr_nonnull(strstr(line, "\"port\":1296,"));
		ck_assert_uint_eq(strtoull(v + 8, NULL, 10), values[i]);
		line = nl + 1;
	}
	ck_assert_str_eq(line, "");
	run_result_free(&res);
	unlink(path);
	free(path);
}
END_TEST

/* ---- (c) damaged input ---- */

struct readout {
	bool opened, complete;
	uint64_t events;
	char *message; /* the open error or the first problem */
};

static volatile uint64_t sink;

static void read_all(const char *path, struct readout *out)
{
	struct trace_reader *r;
	struct trace_ev ev;
	char *err = NULL;
	uint64_t last = 0, sum = 0;

	memset(out, 0, sizeof(*out));
	r = trace_reader_open(path, &err);
	if (!r) {
		out->message = err;
		return;
	}
	out->opened = true;
	while (trace_reader_next(r, &ev) > 0) {
		if (out->events)
			ck_assert_uint_gt(ev.seq, last);
		last = ev.seq;
		/* Touch every field: ASan sees any pointer into freed or foreign memory. */
		for (uint32_t i = 0; i < ev.nfields; i++) {
			const msgpack_object *o = &ev.fields[i];

			if (o->type == MSGPACK_OBJECT_BIN || o->type == MSGPACK_OBJECT_STR)
				for (uint32_t k = 0; k < o->via.bin.size; k++)
					sum += (uint8_t)o->via.bin.ptr[k];
		}
		out->events++;
	}
	sink = sum;
	out->complete = trace_reader_status(r)->complete;
	if (trace_reader_status(r)->message)
		out->message = strdup(trace_reader_status(r)->message);
	trace_reader_close(r);
}

static void assert_located(const char *path, const struct readout *o, const char *what)
{
	ck_assert_msg(o->message, "%s: no message", what);
	ck_assert_msg(!strncmp(o->message, path, strlen(path)), "%s: '%s' does not name the file",
		      what, o->message);
	ck_assert_msg(strstr(o->message, ": offset "), "%s: '%s' names no offset", what,
		      o->message);
}

/* The reference: frames of the intact trace and the events of each. */
struct ref {
	unsigned char *data;
	size_t len;
	struct trace_frame_info frames[256];
	size_t nframes;
	uint64_t events;
};

static void load_ref(const char *path, struct ref *ref)
{
	char *err = NULL;
	struct trace_reader *r = trace_reader_open(path, &err);
	const struct trace_frame_info *f;
	struct trace_ev ev;

	ck_assert_msg(r, "%s", err);
	while (trace_reader_next(r, &ev) > 0)
		ref->events++;
	ck_assert(trace_reader_status(r)->complete);
	f = trace_reader_frames(r, &ref->nframes);
	ck_assert_uint_le(ref->nframes, 256);
	ck_assert_uint_ge(ref->nframes, 4); /* header, boot events, vCPU events + end: 2+ */
	memcpy(ref->frames, f, ref->nframes * sizeof(*f));
	trace_reader_close(r);
	ref->data = test_read_file(path, &ref->len);
}

/* Events in the event frames that end at or before `end`. */
static uint64_t events_before(const struct ref *ref, uint64_t end)
{
	uint64_t n = 0;

	for (size_t i = 0; i < ref->nframes; i++)
		if (ref->frames[i].kind == TRACE_FRAME_EVENTS &&
		    ref->frames[i].offset + ref->frames[i].csize <= end)
			n += ref->frames[i].nevents;
	return n;
}

START_TEST(cut_at_every_byte)
{
	char *orig = record("hello", ""), *path = test_tmpfile("cut.trace");
	struct ref ref = {0};
	struct readout o;
	uint64_t opened = 0;

	load_ref(orig, &ref);
	for (size_t cut = 0; cut < ref.len; cut++) {
		char what[64];

		snprintf(what, sizeof(what), "cut at %zu of %zu", cut, ref.len);
		test_write_file(path, ref.data, cut);
		read_all(path, &o);
		assert_located(path, &o, what);
		ck_assert_msg(!o.complete, "%s: complete", what);
		if (cut >= ref.frames[0].csize) {
			ck_assert_msg(o.opened, "%s: %s", what, o.message);
			ck_assert_msg(o.events == events_before(&ref, cut),
				      "%s: %" PRIu64 " events, the complete frames have %" PRIu64,
				      what, o.events, events_before(&ref, cut));
			opened++;
		} else {
			ck_assert_msg(!o.opened, "%s: opened with a cut header", what);
		}
		free(o.message);
	}
	ck_assert_uint_gt(opened, 0);
	/* And the whole file is fine. */
	test_write_file(path, ref.data, ref.len);
	read_all(path, &o);
	ck_assert(o.complete);
	ck_assert_uint_eq(o.events, ref.events);
	free(o.message);
	unlink(path);
	unlink(orig);
	free(path);
	free(orig);
	free(ref.data);
}
END_TEST

/* The hello guest recorded into path with a checkpoint every 25 events, loaded as ref. */
static void record_checkpoints(const char *path, struct ref *ref)
{
	struct run_result rr;

	run(&rr, "DEJAVM_BIN", "--kernel", guest("hello"), "--serial", "null", "--deterministic",
	    "--checkpoint-every", "25events", "--record", path, NULL);
	ck_assert_msg(rr.status == 0, "recording: %d: %s", rr.status, rr.err);
	run_result_free(&rr);
	load_ref(path, ref);
}

/*
 * A trace with checkpoint frames (--checkpoint-every), cut at every byte: the events of the
 * complete event frames are read, the checkpoints listed are exactly those whose frames are
 * whole, and each of them decompresses (its checksum holds); nothing reads past the cut.
 */
START_TEST(cut_at_every_byte_with_checkpoints)
{
	char *orig = test_tmpfile("ckpt.trace"), *path = test_tmpfile("ckcut.trace");
	struct ref ref = {0};
	size_t nck_full = 0;

	record_checkpoints(orig, &ref);
	for (size_t i = 0; i < ref.nframes; i++)
		nck_full += ref.frames[i].kind == TRACE_FRAME_CHECKPOINT;
	ck_assert_uint_ge(nck_full, 2);
	for (size_t cut = 0; cut <= ref.len; cut++) {
		struct trace_reader *r;
		char *err = NULL, what[64];
		size_t n, want = 0;
		struct readout o;

		snprintf(what, sizeof(what), "cut at %zu of %zu", cut, ref.len);
		test_write_file(path, ref.data, cut);
		read_all(path, &o);
		if (cut < ref.len)
			assert_located(path, &o, what);
		free(o.message);
		if (!(r = trace_reader_open(path, &err))) {
			ck_assert_msg(cut < ref.frames[0].csize, "%s: %s", what, err);
			free(err);
			continue;
		}
		for (size_t i = 0; i < ref.nframes; i++)
			want += ref.frames[i].kind == TRACE_FRAME_CHECKPOINT &&
				ref.frames[i].offset + ref.frames[i].csize <= cut;
		trace_reader_checkpoints(r, &n);
		ck_assert_msg(n == want, "%s: %zu checkpoints listed, %zu are whole", what, n,
			      want);
		for (size_t i = 0; i < n; i++) {
			size_t len;
			void *p = trace_reader_checkpoint_payload(r, i, &len, &err);

			ck_assert_msg(p && len > 100, "%s: checkpoint %zu: %s", what, i, err);
			free(p);
		}
		ck_assert_ptr_null(trace_reader_checkpoint_payload(r, n, &n, &err));
		ck_assert_msg(err && strstr(err, "has no checkpoint"), "%s", err);
		free(err);
		trace_reader_close(r);
	}
	unlink(path);
	unlink(orig);
	free(path);
	free(orig);
	free(ref.data);
}
END_TEST

/*
 * A checkpoint frame with a flipped byte: its payload is refused with the file and offset, or
 * (a bit zstd's bitstream does not use) it is the very same payload.
 */
START_TEST(flipped_checkpoint_is_refused)
{
	char *orig = test_tmpfile("ckflip.trace");
	struct ref ref = {0};
	unsigned int tried = 0, refused = 0;
	void *good[64];
	size_t good_len[64], ngood;
	struct trace_reader *gr;
	char *gerr = NULL;

	record_checkpoints(orig, &ref);
	gr = trace_reader_open(orig, &gerr);
	ck_assert_msg(gr, "%s", gerr);
	trace_reader_checkpoints(gr, &ngood);
	ck_assert_uint_le(ngood, 64);
	for (size_t i = 0; i < ngood; i++)
		ck_assert_ptr_nonnull(
			good[i] = trace_reader_checkpoint_payload(gr, i, &good_len[i], &gerr));
	trace_reader_close(gr);
	for (size_t f = 0, k = 0; f < ref.nframes; f++) {
		const struct trace_frame_info *fi = &ref.frames[f];

		if (fi->kind != TRACE_FRAME_CHECKPOINT)
			continue;
		/* every 97th byte of the payload's zstd frame (past seq and vtime) */
		for (uint64_t at = fi->offset + 24; at < fi->offset + fi->csize;
		     at += 97, tried++) {
			struct trace_reader *r;
			char *err = NULL, off[32];
			size_t n, len;
			void *p;

			ref.data[at] ^= 0x40;
			test_write_file(orig, ref.data, ref.len);
			ref.data[at] ^= 0x40;
			r = trace_reader_open(orig, &err);
			ck_assert_msg(r, "%s", err);
			trace_reader_checkpoints(r, &n);
			ck_assert_uint_gt(n, k);
			p = trace_reader_checkpoint_payload(r, k, &len, &err);
			snprintf(off, sizeof(off), "offset %" PRIu64 ":", fi->offset);
			if (p) /* what it says must not have changed */
				ck_assert_msg(len == good_len[k] && !memcmp(p, good[k], len),
					      "flip at %" PRIu64
					      ": checkpoint %zu read, and differs",
					      at, k);
			else
				ck_assert_msg(err && strstr(err, off) && strstr(err, orig), "%s",
					      err);
			refused += !p;
			free(p);
			free(err);
			trace_reader_close(r);
		}
		k++;
	}
	ck_assert_uint_gt(tried, 10);
	ck_assert_msg(refused * 10 >= tried * 9, "only %u of %u flips refused", refused, tried);
	for (size_t i = 0; i < ngood; i++)
		free(good[i]);
	unlink(orig);
	free(orig);
	free(ref.data);
}
END_TEST

START_TEST(bit_flips_in_every_frame)
{
	char *orig = record("hello", ""), *path = test_tmpfile("flip.trace");
	struct ref ref = {0};
	uint64_t tried = 0, detected = 0, silent = 0;
	struct {
		uint64_t start, end;
	} regions[260];
	size_t nregions = 0;

	load_ref(orig, &ref);
	/* Every frame the scan saw, plus the trailer (index + seek table) after the last one. */
	for (size_t i = 0; i < ref.nframes; i++)
		regions[nregions++] = (typeof(regions[0])){
			ref.frames[i].offset, ref.frames[i].offset + ref.frames[i].csize};
	regions[nregions] = (typeof(regions[0])){regions[nregions - 1].end, ref.len};
	nregions++;
	for (size_t i = 0; i < nregions; i++) {
		uint64_t size = regions[i].end - regions[i].start;
		uint64_t step = size / 80 ? size / 80 : 1;

		ck_assert_uint_gt(size, 0);
		for (uint64_t pos = regions[i].start; pos < regions[i].end; pos += step) {
			unsigned int bit = (pos * 5 + i) % 8;
			struct readout o;
			char what[80];

			snprintf(what, sizeof(what), "bit %u of byte %" PRIu64 " (region %zu)", bit,
				 pos, i);
			ref.data[pos] ^= 1u << bit;
			test_write_file(path, ref.data, ref.len);
			ref.data[pos] ^= 1u << bit;
			read_all(path, &o);
			tried++;
			if (o.complete) {
				silent++; /* a literal changed: no checksum can tell */
			} else {
				detected++;
				assert_located(path, &o, what);
			}
			/* The frames before the flipped one are delivered. */
			ck_assert_msg(!o.opened ||
					      o.events >= events_before(&ref, regions[i].start),
				      "%s: %" PRIu64 " events, %" PRIu64 " come before it", what,
				      o.events, events_before(&ref, regions[i].start));
			free(o.message);
		}
	}
	printf("bit flips: %" PRIu64 " tried, %" PRIu64 " detected, %" PRIu64
	       " undetected (changed values)\n",
	       tried, detected, silent);
	ck_assert_uint_ge(tried, 300);
	ck_assert_uint_gt(detected, tried / 2);
	unlink(path);
	unlink(orig);
	free(path);
	free(orig);
	free(ref.data);
}
END_TEST

/*
 * Bit flips in a compressed frame mostly stop at zstd's checksum. Here every event frame of a
 * real recording is decompressed, one byte of its msgpack is changed (a flipped bit, or a
 * hostile marker: a huge str/bin/array length, an ext, a reserved byte), and the frame is
 * compressed again with a valid checksum: the reader's own validation must then find it, with
 * the file and offset, or decode values that are merely different. Never a crash (ASan runs it).
 */
START_TEST(hostile_msgpack_behind_valid_checksums)
{
	static const uint8_t markers[] = {0xc1, 0xdb, 0xc6, 0xdd, 0xdf, 0xc7, 0xd4, 0xcf, 0x9f};
	char *orig = record("hello", ""), *path = test_tmpfile("hostile-mp.trace");
	struct ref ref = {0};
	uint64_t tried = 0, reader_found = 0, changed = 0;
	ZSTD_CCtx *cc = ZSTD_createCCtx();

	ck_assert_ptr_nonnull(cc);
	ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1)));
	load_ref(orig, &ref);
	for (size_t i = 0; i < ref.nframes; i++) {
		const struct trace_frame_info *f = &ref.frames[i];
		unsigned long long dsize;
		uint8_t *raw;

		if (f->kind != TRACE_FRAME_EVENTS)
			continue;
		dsize = ZSTD_getFrameContentSize(ref.data + f->offset, f->csize);
		ck_assert(dsize != ZSTD_CONTENTSIZE_ERROR && dsize != ZSTD_CONTENTSIZE_UNKNOWN);
		raw = malloc(dsize);
		ck_assert_uint_eq(ZSTD_decompress(raw, dsize, ref.data + f->offset, f->csize),
				  dsize);
		for (uint64_t pos = 5; pos < dsize; pos += dsize / 60 ? dsize / 60 : 1) {
			uint8_t keep = raw[pos], *out;
			size_t cap = ZSTD_compressBound(dsize), c, len;
			struct readout o;
			char what[80];

			raw[pos] = tried % 2 ? keep ^ (1u << (pos % 8))
					     : markers[tried / 2 % sizeof(markers)];
			out = malloc(f->offset + cap + (ref.len - f->offset - f->csize));
			memcpy(out, ref.data, f->offset);
			c = ZSTD_compress2(cc, out + f->offset, cap, raw, dsize);
			ck_assert(!ZSTD_isError(c));
			memcpy(out + f->offset + c, ref.data + f->offset + f->csize,
			       ref.len - f->offset - f->csize);
			len = f->offset + c + (ref.len - f->offset - f->csize);
			raw[pos] = keep;
			test_write_file(path, out, len);
			free(out);
			snprintf(what, sizeof(what), "byte %" PRIu64 " of frame %zu's msgpack", pos,
				 i);
			read_all(path, &o);
			tried++;
			if (getenv("DEJAVM_TEST_VERBOSE") && o.message)
				printf("%s: %" PRIu64 " events: %s\n", what, o.events, o.message);
			/*
			 * The frame's size changed, so the index may disagree even where the data
			 * decoded as other values: a decoding problem is one with events missing.
			 */
			if (!o.complete) {
				assert_located(path, &o, what);
				ck_assert_msg(!strstr(o.message, "checksum"), "%s: %s", what,
					      o.message);
			}
			if (o.events < ref.events)
				reader_found++;
			else
				changed++;
			free(o.message);
		}
		free(raw);
	}
	printf("hostile msgpack behind valid checksums: %" PRIu64 " tried, %" PRIu64
	       " stopped the decoder, %" PRIu64 " decoded as other values\n",
	       tried, reader_found, changed);
	ck_assert_uint_ge(tried, 100);
	ck_assert_uint_gt(reader_found, tried / 10);
	ZSTD_freeCCtx(cc);
	unlink(path);
	unlink(orig);
	free(path);
	free(orig);
	free(ref.data);
}
END_TEST

/* How craft() makes its traces: the header's version, and whether frames get a sync record. */
static uint64_t craft_version = TRACE_FORMAT_VERSION;
static bool craft_no_sync;

/*
 * A trace made by hand: a header frame, then one zstd frame per buffer, each starting with the
 * sync record [0, -1, 0, 0] (stream 0 from the start), no trailer.
 */
static void craft(const char *path, const void *const *bufs, const size_t *lens, size_t n)
{
	static const unsigned char sync[] = {0x94, 0, 0xff, 0, 0};
	size_t ns = craft_no_sync ? 0 : sizeof(sync);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rt_header(&pk, &craft_version);
	for (size_t i = 0; i <= n; i++) {
		size_t len = i ? ns + lens[i - 1] : sb.size, cap = ZSTD_compressBound(len), c;
		void *dst = malloc(cap);
		char *src = malloc(len ? len : 1);

		ck_assert_ptr_nonnull(dst);
		ck_assert_ptr_nonnull(src);
		if (i) {
			memcpy(src, sync, ns);
			memcpy(src + ns, bufs[i - 1], lens[i - 1]);
		} else {
			memcpy(src, sb.data, sb.size);
		}
		c = ZSTD_compress(dst, cap, src, len, 1);
		ck_assert(!ZSTD_isError(c));
		ck_assert_uint_eq(fwrite(dst, 1, c, f), c);
		free(dst);
		free(src);
	}
	msgpack_sbuffer_destroy(&sb);
	ck_assert_int_eq(fclose(f), 0);
}

/* Reads a crafted trace; returns the events delivered and the first problem (caller frees). */
static uint64_t craft_read(const char *path, const void *data, size_t len, char **msg)
{
	const void *bufs[1] = {data};
	struct readout o;

	craft(path, bufs, &len, 1);
	read_all(path, &o);
	ck_assert_msg(o.opened, "%s", o.message);
	assert_located(path, &o, "crafted");
	*msg = o.message;
	return o.events;
}

START_TEST(hostile_inputs)
{
	char *path = test_tmpfile("hostile.trace"), *msg;
	static const unsigned char not_zstd[] = "\x7f"
						"ELF this is not a trace";
	/* [2, 1, 0, 0, port...]: a good pio, then one whose port is a string */
	static const unsigned char bad_kind[] = {0x99, 2, 1, 0, 0, 0xcc, 0x80, 1, 1, 1, 1,
						 0x99, 2, 1, 0, 0, 0xa1, 'x',  1, 1, 1, 1};
	/* a good exit, then an array announcing 2^32-1 elements */
	static const unsigned char huge[] = {0x96, 1,	 1,    0,    0, 2, 7, 0xdd,
					     0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4};
	/* a second event of stream 0 with dseq 0 (the seq would repeat) */
	static const unsigned char dseq0[] = {0x96, 1, 1, 0, 0, 2, 7, 0x96, 1, 0, 0, 0, 2, 7};
	/* unknown type 16 with 3 values, a known exit with one extra value, then a cut array */
	static const unsigned char unknown[] = {0x97, 16, 1, 0, 5, 0xc0, 0xc3, 0x91, 0x80, 0x97, 1,
						1,    0,  0, 2, 7, 0xa2, 'h',  'i',  0x95, 1};
	/* an io_done as format minor 0 wrote it (8 fields, no hash), then one with only 7 */
	static const unsigned char older[] = {0x9c, 9, 1, 0, 0, 1, 0, 3, 0, 0, 0, 0, 0,
					      0x9b, 9, 1, 0, 0, 1, 0, 3, 0, 0, 0, 0};
	unsigned char deep[200];
	struct readout o;
	uint64_t n;

	test_write_file(path, "", 0);
	read_all(path, &o);
	assert_located(path, &o, "empty");
	free(o.message);
	test_write_file(path, not_zstd, sizeof(not_zstd));
	read_all(path, &o);
	assert_located(path, &o, "not zstd");
	ck_assert_ptr_nonnull(strstr(o.message, "not a dejavm trace"));
	free(o.message);

	n = craft_read(path, bad_kind, sizeof(bad_kind), &msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_msg(strstr(msg, "field 'port' is a string, expected an unsigned integer"), "%s",
		      msg);
	ck_assert_msg(strstr(msg, "event 1: seq 1:"), "%s", msg);
	free(msg);

	n = craft_read(path, older, sizeof(older), &msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_msg(strstr(msg, "io_done event has 7 fields, at least 8 expected"), "%s", msg);
	free(msg);

	n = craft_read(path, huge, sizeof(huge), &msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_msg(strstr(msg, "array of 4294967295 elements"), "%s", msg);
	free(msg);

	n = craft_read(path, dseq0, sizeof(dseq0), &msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_msg(strstr(msg, "bad seq delta 0"), "%s", msg);
	free(msg);

	/* a frame without its sync record: nothing in it can be decoded */
	craft_no_sync = true;
	n = craft_read(path, dseq0, sizeof(dseq0), &msg);
	craft_no_sync = false;
	ck_assert_uint_eq(n, 0);
	ck_assert_msg(strstr(msg, "an event before the frame's sync record"), "%s", msg);
	free(msg);

	/* a version 1 trace is refused, naming the file and both versions */
	{
		char *err = NULL;
		const void *bufs[1] = {dseq0};
		size_t len = sizeof(dseq0);

		craft_version = 1;
		craft(path, bufs, &len, 1);
		craft_version = TRACE_FORMAT_VERSION;
		ck_assert_ptr_null(trace_reader_open(path, &err));
		ck_assert_ptr_nonnull(err);
		ck_assert_msg(strstr(err, path) && strstr(err, "version 1 ") &&
				      strstr(err, "knows 2"),
			      "%s", err);
		free(err);
	}

	/* 100 nested arrays inside an unknown event */
	memcpy(deep, (unsigned char[]){0x95, 9, 1, 0, 0}, 5);
	memset(deep + 5, 0x91, 100);
	deep[105] = 0;
	n = craft_read(path, deep, 106, &msg);
	ck_assert_uint_eq(n, 0);
	ck_assert_msg(strstr(msg, "nested deeper than"), "%s", msg);
	free(msg);

	/* Unknown types and longer arrays are delivered; the tool shows them. */
	{
		const void *bufs[1] = {unknown};
		size_t len = sizeof(unknown);
		struct trace_reader *r;
		struct trace_ev ev;
		struct run_result res;

		craft(path, bufs, &len, 1);
		r = trace_reader_open(path, NULL);
		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(trace_reader_next(r, &ev), 1);
		ck_assert_uint_eq(ev.type, 16);
		ck_assert_ptr_null(ev.desc);
		ck_assert_uint_eq(ev.nfields, 3);
		ck_assert_uint_eq(ev.ts, 5);
		ck_assert_int_eq(trace_reader_next(r, &ev), 1);
		ck_assert_uint_eq(ev.type, TRACE_exit);
		ck_assert_uint_eq(ev.seq, 1);
		ck_assert_uint_eq(ev.nfields, 3);
		ck_assert_int_eq(trace_reader_next(r, &ev), 0);
		ck_assert(trace_reader_status(r)->damaged);
		trace_reader_close(r);
		run(&res, "DEJAVM_TRACE_BIN", "dump", path, NULL);
		ck_assert_int_eq(res.status, 1);
		ck_assert_str_eq(
			res.out,
			"{\"seq\":0,\"ts\":5,\"stream\":0,\"type\":16,\"raw\":[null,true,[{}]]}\n"
			"{\"seq\":1,\"ts\":5,\"stream\":0,\"type\":\"exit\",\"reason\":2,"
			"\"rip\":7,\"extra\":[\"hi\"]}\n");
		ck_assert_ptr_nonnull(strstr(res.err, "offset "));
		run_result_free(&res);
	}

	/* A frame that says it decompresses to more than 64 MiB is refused before allocating. */
	{
		size_t big = (64u << 20) + 1;
		void *zeros = calloc(1, big);
		const void *bufs[1] = {zeros};

		ck_assert_ptr_nonnull(zeros);
		craft(path, bufs, &big, 1);
		free(zeros);
		read_all(path, &o);
		assert_located(path, &o, "64 MiB frame");
		ck_assert_msg(strstr(o.message, "MiB limit"), "%s", o.message);
		ck_assert_uint_eq(o.events, 0);
		free(o.message);
	}

	unlink(path);
	read_all(path, &o);
	ck_assert_ptr_nonnull(strstr(o.message, "No such file"));
	free(o.message);
	free(path);
}
END_TEST

/* ---- (d) diff ---- */

START_TEST(diff_of_two_hello_runs_is_empty)
{
	char *a = record("hello", ""), *b = record("hello", "");
	struct run_result r;

	run(&r, "DEJAVM_TRACE_BIN", "diff", a, b, NULL);
	ck_assert_msg(r.status == 0, "status %d\n%s%s", r.status, r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "identical"));
	run_result_free(&r);
	unlink(a);
	unlink(b);
	free(a);
	free(b);
}
END_TEST

/* The first seq at which the two traces differ (ts and end.stall_ns ignored), by the reader. */
static uint64_t first_difference(const char *pa, const char *pb)
{
	struct trace_reader *ra = trace_reader_open(pa, NULL), *rb = trace_reader_open(pb, NULL);
	struct trace_ev ea, eb;
	uint64_t i = 0;

	ck_assert(ra && rb);
	for (;; i++) {
		int ga = trace_reader_next(ra, &ea), gb = trace_reader_next(rb, &eb);
		bool same = ga && gb && ea.type == eb.type && ea.stream == eb.stream &&
			    ea.nfields == eb.nfields;

		for (uint32_t k = 0; same && k < ea.nfields; k++)
			same = (ea.type == TRACE_end && k == 4) ||
			       msgpack_object_equal(ea.fields[k], eb.fields[k]);
		if (!same)
			break;
	}
	trace_reader_close(ra);
	trace_reader_close(rb);
	return i;
}

START_TEST(diff_names_the_first_differing_seq)
{
	char *a = record("pio-storm", "n=10"), *b = record("pio-storm", "n=11"), want[64];
	struct run_result r;

	snprintf(want, sizeof(want), "first difference at event %" PRIu64 " (seq %" PRIu64 ")",
		 first_difference(a, b), first_difference(a, b));
	run(&r, "DEJAVM_TRACE_BIN", "diff", a, b, "--context", "2", NULL);
	ck_assert_msg(r.status == 1, "status %d\n%s%s", r.status, r.out, r.err);
	ck_assert_msg(strstr(r.out, want), "'%s' not in:\n%s", want, r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "note: the configs differ"));
	ck_assert_ptr_nonnull(strstr(r.out, "(A, expected)"));
	ck_assert_ptr_nonnull(strstr(r.out, "(B, actual)"));
	run_result_free(&r);
	/* A trace against itself. */
	run(&r, "DEJAVM_TRACE_BIN", "diff", a, a, NULL);
	ck_assert_int_eq(r.status, 0);
	run_result_free(&r);
	unlink(a);
	unlink(b);
	free(a);
	free(b);
}
END_TEST

START_TEST(tool_rejects_bad_usage_and_bad_files)
{
	char *path = test_tmpfile("bad.trace");
	struct run_result r;

	run(&r, "DEJAVM_TRACE_BIN", "info", NULL);
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
	run(&r, "DEJAVM_TRACE_BIN", "frobnicate", NULL);
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
	run(&r, "DEJAVM_TRACE_BIN", "dump", "--help", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "usage:"));
	run_result_free(&r);
	run(&r, "DEJAVM_TRACE_BIN", "info", path, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, path));
	ck_assert_ptr_null(strchr(strchr(r.err, '\n') + 1, '\n')); /* one line */
	run_result_free(&r);
	test_write_file(path, "garbage", 7);
	run(&r, "DEJAVM_TRACE_BIN", "dump", path, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "offset 0"));
	run_result_free(&r);
	unlink(path);
	free(path);
}
END_TEST

static void add(Suite *s, const char *name, const TTest *test)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

int main(void)
{
	Suite *s = suite_create("trace_reader");
	/* One case each, so that CK_RUN_CASE=<name> runs one. */
	add(s, "round_trip", round_trip_every_type_from_two_threads);
	add(s, "pio_storm", pio_storm_values_match_the_guest);
	add(s, "cuts", cut_at_every_byte);
	add(s, "checkpoint cuts", cut_at_every_byte_with_checkpoints);
	add(s, "checkpoint flips", flipped_checkpoint_is_refused);
	add(s, "bit_flips", bit_flips_in_every_frame);
	add(s, "hostile_msgpack", hostile_msgpack_behind_valid_checksums);
	add(s, "hostile", hostile_inputs);
	add(s, "diff_equal", diff_of_two_hello_runs_is_empty);
	add(s, "diff_differs", diff_names_the_first_differing_seq);
	add(s, "tool_usage", tool_rejects_bad_usage_and_bad_files);
	return run_suite(s);
}
