// SPDX-License-Identifier: MIT
/*
 * dejavm replay TRACE. The run is an ordinary deterministic-mode run of the VMM whose tracer has
 * no file: every event it emits goes to on_event(), is decoded with the trace reader's decoder
 * and compared with the next recorded event. The first difference stops the VM and is reported
 * with its context. --feed also gives the guest the recorded values of its reads.
 */
#include "replay.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <cpuid.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "determ.h"
#include "fixpoint.h"
#include "loader.h"
#include "log.h"
#include "out.h"
#include "persist.h"
#include "sha256.h"
#include "sandbox.h"
#include "snapshot.h"
#include "trace.h"
#include "trace_reader.h"
#include "vcpu.h"
#include "vm.h"

#define CONTEXT		5  /* matching events shown before a divergence */
#define EXIT_PARTLY	3  /* a normal-mode trace matched where it could be compared */
#define NREGS		17 /* the regs event's fields */
#define MAX_HDR_STRINGS (5 + 2 * MAX_DISKS + MAX_NETS)

static const char *const reg_names[NREGS] = {"rax", "rbx", "rcx", "rdx", "rsi",	  "rdi",
					     "rsp", "rbp", "r8",  "r9",	 "r10",	  "r11",
					     "r12", "r13", "r14", "r15", "rflags"};

struct replayer {
	const char *path;
	struct trace_reader *r;
	struct trace_decoder *dec;
	struct vm *vm;
	bool det;  /* recorded with --deterministic: everything must match, ts included */
	bool feed; /* reads get the recorded values */
	uint64_t total;
	/* A truncated trace (killed, crashed): the events before cut_seq, the first one missing. */
	bool truncated, cut_reached;
	uint64_t cut_seq, cut_offset;
	bool stop_reproduced; /* the recording was stopped by a signal, and so was the replay */
	bool stop_tail_valid; /* it was: its tail (coalesced writes, end) starts at stop_tail_seq */
	uint64_t stop_tail_seq;
	bool stop_at_next_exit; /* that tail has posted writes: stop at the next exit instead */
	int stop_status;	/* and its end event's status and reason */
	char stop_reason[128];
	/* Normal-mode traces: recorded events skipped, and reads whose value was not compared. */
	uint64_t not_compared, reads_not_compared;
	/* $DEJAVM_TEST_MUTATE=event:SEQ:FIELD:XOR, to prove each comparison (test_mutate_event) */
	bool mutate;
	uint64_t mutate_seq, mutate_xor;
	char mutate_field[32];
	char *mutate_bin;
	/* $DEJAVM_TEST_MUTATE=memory:GPA:XOR: a byte of guest memory the replay starts with */
	uint64_t mutate_gpa, mutate_mem_xor;

	struct trace_ev exp; /* the next recorded event, when have_exp */
	bool have_exp;
	uint64_t matched;
	bool fed_valid; /* a read just matched: the guest gets fed_value */
	uint64_t fed_value;

	/* Context for a report. */
	struct out ring[CONTEXT];
	unsigned int ring_len, ring_pos;
	uint8_t serial_line[256];
	size_t serial_len;
	uint64_t exp_rip, act_rip;
	uint64_t exp_regs[NREGS], act_regs[NREGS];
	bool exp_has_regs, act_has_regs;

	/* Normal-mode traces: the exit held back until its access is known (on_event). */
	struct trace_ev held;
	msgpack_object held_fields[2]; /* reason, rip */
	bool holding;

	/* The divergence. */
	bool diverged;
	char why[256];
	uint64_t div_seq, div_index;
	struct out expected, actual, differing;
	char *strings[MAX_HDR_STRINGS]; /* hdr_str() copies */
	unsigned int nstrings;
	uint32_t disk_entry[MAX_DISKS]; /* cfg disk i came from config.disks[disk_entry[i]] */
	uint64_t last_seq;		/* of the recorded events (validate) */

	/* Checkpoints (--checkpoint-every): each one the replay reaches is compared. */
	const struct trace_checkpoint *ckpts;
	size_t nckpts;
	long from_ckpt;	 /* the replay starts from this checkpoint, -1: from the boot */
	long until_ckpt; /* --jobs: its segment ends at this one, -1: at the trace's end */
	uint64_t ckpts_verified;
	double ckpt_matched_s[64]; /* host seconds from the start when checkpoint i matched */
	bool segment_done;	   /* the segment's last checkpoint matched: the VM stopped there */
	uint64_t t0_ns, first_compare_ns; /* host time of the start and of the first comparison */
};

/*
 * What the replayer tells the user, on stderr as "dejavm replay: ...", and kept so that a
 * --report of a replay that never ran (a refused trace or image) says all of it too.
 */
#define MAX_SAID 64
static char *said[MAX_SAID];
static unsigned int nsaid;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	fprintf(stderr, "dejavm replay: %s\n", msg ? msg : fmt);
	if (msg && nsaid < MAX_SAID)
		said[nsaid++] = msg;
	else
		free(msg);
}

/* Every problem the reader found (not only the first). */
static void say_problems(const struct trace_reader *r)
{
	size_t n;
	const char *const *p = trace_reader_problems(r, &n);

	for (size_t i = 0; i < n; i++)
		say("%s", p[i]);
}

static uint64_t field_u64(const struct trace_ev *ev, const char *name)
{
	uint64_t v = 0;

	trace_obj_u64(trace_ev_field(ev, name), &v);
	return v;
}

/*
 * Accesses KVM handled itself in normal mode (in-kernel PIC, PIT, ELCR, LAPIC, IOAPIC): they
 * never reached the recorder, so a normal-mode trace cannot hold them.
 */
static bool kvm_handled(const struct trace_ev *ev)
{
	uint64_t a;

	if (ev->type == TRACE_pio) {
		a = field_u64(ev, "port");
		return a == 0x20 || a == 0x21 || a == 0xa0 || a == 0xa1 ||
		       (a >= 0x40 && a <= 0x43) || a == 0x61 || a == 0x4d0 || a == 0x4d1;
	}
	if (ev->type == TRACE_mmio) {
		a = field_u64(ev, "addr");
		return (a >> 12) == 0xfee00 || (a >> 12) == 0xfec00;
	}
	return false;
}

/* Events a normal-mode recording cannot be compared on: its PIC and PIT were KVM's. */
static bool skipped(const struct replayer *rp, const struct trace_ev *ev)
{
	uint64_t reason;

	if (rp->det)
		return false;
	switch (ev->type) {
	case TRACE_regs:
	case TRACE_intr:
	case TRACE_landmark:
	case TRACE_irq:
	case TRACE_vm_state: /* a pause through the API: nothing the guest did */
		return true;
	case TRACE_exit:
		/* a kick is not the guest's; HLT and interrupt windows stay in KVM in normal mode
		 */
		reason = field_u64(ev, "reason");
		return reason == KVM_EXIT_INTR || reason == KVM_EXIT_HLT ||
		       reason == KVM_EXIT_IRQ_WINDOW_OPEN;
	default:
		return kvm_handled(ev);
	}
}

static void next_expected(struct replayer *rp)
{
	for (;;) {
		rp->have_exp = trace_reader_next(rp->r, &rp->exp) > 0;
		if (!rp->have_exp || !skipped(rp, &rp->exp))
			break;
		rp->not_compared++;
	}
	if (rp->have_exp && rp->truncated && rp->exp.seq >= rp->cut_seq)
		rp->have_exp = false; /* past a gap: the rest of the trace is not a prefix */
}

/* An end event that says the run was stopped by a signal (SIGINT, SIGTERM). */
/* An end event of a run stopped from outside: a signal (SIGINT, SIGTERM) or the API. */
static bool stopped_by_signal(const struct trace_ev *ev)
{
	const char *reason;
	size_t len;

	return ev->type == TRACE_end &&
	       trace_obj_str(trace_ev_field(ev, "reason"), &reason, &len) &&
	       ((len >= 18 && !memcmp(reason, "stopped by signal ", 18)) ||
		memmem(reason, len, "through the API", 15));
}

/*
 * The vCPU is about to inject or run. A recording stopped by a signal stopped at this point
 * when all that is left of it is the end and, before it, the writes the guest had posted to
 * KVM's coalesced ring (drained once the vCPU left its loop). Without such writes the signal
 * came between exits: the replay stops here too, with the recorded status and reason. With
 * them it came while the guest ran, after it had posted them: the replay runs the guest once
 * more and stops at its next exit, before handling it (stop_after_run); the writes it posted
 * meanwhile are then drained as the recording's were, and compared.
 */
static bool stop_here(void *ctx)
{
	struct replayer *rp = ctx;

	if (!rp->stop_tail_valid || rp->diverged || !rp->have_exp ||
	    rp->exp.seq < rp->stop_tail_seq || rp->stop_reproduced || rp->stop_at_next_exit)
		return false;
	if (rp->exp.type != TRACE_end) {
		rp->stop_at_next_exit = true;
		return false;
	}
	rp->stop_reproduced = true;
	vm_request_stop(rp->vm, rp->stop_status, "%s", rp->stop_reason);
	return true;
}

static bool stop_after_run(void *ctx)
{
	struct replayer *rp = ctx;

	if (!rp->stop_at_next_exit || rp->stop_reproduced)
		return false;
	rp->stop_reproduced = true;
	vm_request_stop(rp->vm, rp->stop_status, "%s", rp->stop_reason);
	return true;
}

static bool is_read(const struct trace_ev *ev)
{
	return (ev->type == TRACE_pio || ev->type == TRACE_mmio) && !field_u64(ev, "write");
}

/* Appends the differences between recorded event e and the replay's a; returns how many. */
static int compare(struct replayer *rp, const struct trace_ev *e, const struct trace_ev *a,
		   struct out *o)
{
	int n;

	if (rp->det || e->type != a->type) {
		n = trace_ev_diff(e, a, o);
		if (rp->det && e->type == a->type && e->ts != a->ts)
			out_printf(o, "%sts (A %" PRIu64 ", B %" PRIu64 ")", n++ ? ", " : "", e->ts,
				   a->ts);
		return n;
	}
	/* Normal mode: reads saw host time and KVM's devices; the end's totals count skipped
	 * events. What the guest did (exits, writes, addresses) must still match. */
	n = 0;
	rp->reads_not_compared += is_read(e);
	for (unsigned int i = 0; i < e->nfields && i < a->nfields && e->desc; i++) {
		const char *name = i < e->desc->nfields ? e->desc->fields[i].name : "";

		if ((is_read(e) && !strcmp(name, "value")) || (e->type == TRACE_end && i >= 2) ||
		    msgpack_object_equal(e->fields[i], a->fields[i]))
			continue;
		out_field_diff(o, &n, name, &e->fields[i], &a->fields[i]);
	}
	return n;
}

static void diverge(struct replayer *rp, const struct trace_ev *e, const struct trace_ev *a,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void diverge(struct replayer *rp, const struct trace_ev *e, const struct trace_ev *a,
		    const char *fmt, ...)
{
	va_list ap;

	if (rp->diverged)
		return;
	rp->diverged = true;
	va_start(ap, fmt);
	vsnprintf(rp->why, sizeof(rp->why), fmt, ap);
	va_end(ap);
	rp->div_seq = e ? e->seq : a ? a->seq : 0;
	rp->div_index = e ? e->index : rp->matched;
	if (e)
		out_event_json(&rp->expected, e);
	if (a)
		out_event_json(&rp->actual, a);
	if (e && a && e->type == TRACE_regs && a->type == TRACE_regs) {
		for (unsigned int i = 0; i < NREGS; i++) {
			rp->exp_regs[i] = e->fields[i].via.u64;
			rp->act_regs[i] = a->fields[i].via.u64;
		}
		rp->exp_has_regs = rp->act_has_regs = true;
	}
	if (e && a && e->type == TRACE_exit && a->type == TRACE_exit) {
		rp->exp_rip = field_u64(e, "rip");
		rp->act_rip = field_u64(a, "rip");
	}
	vm_request_stop(rp->vm, EXIT_VMM_ERROR, "replay diverged at event %" PRIu64, rp->div_seq);
}

/* What a report shows about where the guest was: its RIP, registers and console. */
static void track(struct replayer *rp, const struct trace_ev *ev, bool recorded)
{
	if (ev->type == TRACE_exit) {
		*(recorded ? &rp->exp_rip : &rp->act_rip) = field_u64(ev, "rip");
	} else if (ev->type == TRACE_regs && ev->nfields >= NREGS) {
		for (unsigned int i = 0; i < NREGS; i++)
			(recorded ? rp->exp_regs : rp->act_regs)[i] = ev->fields[i].via.u64;
		*(recorded ? &rp->exp_has_regs : &rp->act_has_regs) = true;
	} else if (ev->type == TRACE_serial && !recorded && ev->nfields >= 2 &&
		   ev->fields[1].type == MSGPACK_OBJECT_BIN) {
		const msgpack_object_bin *b = &ev->fields[1].via.bin;
		size_t n = b->size < sizeof(rp->serial_line) ? b->size : sizeof(rp->serial_line);

		if (n && !(n == 1 && b->ptr[0] == '\n')) { /* a line, not just its end */
			memcpy(rp->serial_line, b->ptr, n);
			rp->serial_len = n;
		}
	}
}

/* Compares one event of the replay with the next recorded one. */
static void compare_actual(struct replayer *rp, const struct trace_ev *act)
{
	struct out *slot;

	track(rp, act, false);
	if (!rp->first_compare_ns)
		rp->first_compare_ns = monotonic_ns();
	if (!rp->have_exp && rp->truncated) {
		/* the cut: what the replay does from here was never recorded */
		rp->cut_reached = true;
		vm_request_stop(rp->vm, 0, "the replay reached the recording's cut");
		return;
	}
	if (!rp->have_exp) {
		diverge(rp, NULL, act, "the replay goes on after the recording's last event");
		return;
	}
	if (compare(rp, &rp->exp, act, &rp->differing)) {
		diverge(rp, &rp->exp, act, "the replay differs from the recording");
		return;
	}
	rp->matched++;
	track(rp, &rp->exp, true);
	rp->fed_valid = is_read(&rp->exp);
	rp->fed_value = rp->fed_valid ? field_u64(&rp->exp, "value") : 0;
	slot = &rp->ring[rp->ring_pos];
	rp->ring_pos = (rp->ring_pos + 1) % CONTEXT;
	rp->ring_len += rp->ring_len < CONTEXT;
	slot->len = 0;
	out_event_json(slot, &rp->exp);
	next_expected(rp);
}

/*
 * Test only: the replay's event SEQ gets field FIELD changed (an unsigned one XORed with XOR, a
 * binary one its first byte), as if the VMM had got it wrong: the replay must report exactly
 * that event and field. Every kind of field goes through the same comparison.
 */
static void test_mutate_event(struct replayer *rp, struct trace_ev *ev)
{
	msgpack_object *f;

	if (!rp->mutate || ev->seq != rp->mutate_seq)
		return;
	f = (msgpack_object *)trace_ev_field(ev, rp->mutate_field); /* the decoder's own copy */
	if (!f) {
		log_warn("test mutation: seq %" PRIu64 " (%s) has no field %s", ev->seq,
			 ev->desc ? ev->desc->name : "?", rp->mutate_field);
		return;
	}
	log_warn("test mutation: seq %" PRIu64 " %s.%s changed", ev->seq, ev->desc->name,
		 rp->mutate_field);
	if (f->type == MSGPACK_OBJECT_BIN && f->via.bin.size) {
		free(rp->mutate_bin);
		rp->mutate_bin = malloc(f->via.bin.size);
		if (!rp->mutate_bin)
			return;
		memcpy(rp->mutate_bin, f->via.bin.ptr, f->via.bin.size);
		rp->mutate_bin[0] ^= rp->mutate_xor ? (char)rp->mutate_xor : 1;
		f->via.bin.ptr = rp->mutate_bin;
	} else if (f->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		f->via.u64 ^= rp->mutate_xor;
	}
}

static void parse_test_mutation(struct replayer *rp)
{
	const char *m = getenv("DEJAVM_TEST_MUTATE");
	unsigned long long seq, xor;
	char field[32];

	if (m && sscanf(m, "memory:%lli:%lli", (long long *)&seq, (long long *)&xor) == 2 && xor) {
		rp->mutate_gpa = seq;
		rp->mutate_mem_xor = xor;
	} else if (m &&
		   sscanf(m, "event:%llu:%31[a-z0-9_]:%lli", &seq, field, (long long *)&xor) == 3) {
		rp->mutate = true;
		rp->mutate_seq = seq;
		rp->mutate_xor = xor;
		snprintf(rp->mutate_field, sizeof(rp->mutate_field), "%s", field);
	}
}

/* The tracer's sink: every event the replay emits, in order, from the thread emitting it. */
static void on_event(void *ctx, const void *data, size_t len)
{
	struct replayer *rp = ctx;
	struct trace_ev act;
	char err[160];
	int rc;

	if (rp->diverged || rp->cut_reached || rp->segment_done)
		return; /* (a segment's end: the VM's stop flushes the UART's line, its end event)
			 */
	rc = trace_decoder_feed(rp->dec, data, len, &act, err, sizeof(err));
	if (rc < 0) {
		struct out hex;

		out_init(&hex, NULL);
		out_hex(&hex, data, len < 32 ? len : 32);
		diverge(rp, NULL, NULL,
			"internal error: cannot decode the replay's event after %" PRIu64
			" matched: %s (its %zu bytes: %.*s%s)",
			rp->matched, err, len, (int)hex.len, hex.buf ? hex.buf : "",
			len > 32 ? "..." : "");
		out_free(&hex);
		return;
	}
	if (!rc)
		return;
	test_mutate_event(rp, &act);
	if (rp->det) {
		compare_actual(rp, &act);
		return;
	}
	/*
	 * A normal-mode trace: an exit is held back until the access it led to is known. If KVM
	 * handled that access in normal mode, the recording has neither and neither is compared.
	 */
	if (skipped(rp, &act)) {
		if (kvm_handled(&act))
			rp->holding = false;
		return;
	}
	if (rp->holding) {
		rp->holding = false;
		compare_actual(rp, &rp->held);
		if (rp->diverged)
			return;
	}
	if (act.type == TRACE_exit) {
		rp->held = act;
		memcpy(rp->held_fields, act.fields, sizeof(rp->held_fields));
		rp->held.fields = rp->held_fields;
		rp->held.nfields = 2;
		rp->holding = true;
		return;
	}
	compare_actual(rp, &act);
}

/* --feed: the recorded event that comes next, if it is a `type` (of device dev, if >= 0). */
static const struct trace_ev *fed_next(const struct replayer *rp, enum trace_type type, int dev)
{
	if (!rp->feed || rp->diverged || !rp->have_exp || rp->exp.type != type ||
	    (dev >= 0 && field_u64(&rp->exp, "dev") != (uint64_t)dev))
		return NULL;
	return &rp->exp;
}

/* The data of a fed dma_write event, NULL if there is none. */
static const msgpack_object *fed_data(const struct trace_ev *e)
{
	const msgpack_object *o = e ? trace_ev_field(e, "data") : NULL;

	return o && o->type == MSGPACK_OBJECT_BIN ? o : NULL;
}

/* --feed: data a device brings in from outside (entropy, disk reads) comes from the trace. */
static void feed_dma(void *ctx, void *data, size_t len)
{
	const msgpack_object *o = fed_data(fed_next(ctx, TRACE_dma_write, -1));

	if (o && o->via.bin.size == len)
		memcpy(data, o->via.bin.ptr, len); /* else the comparison reports it */
}

/* --feed, a device without backend: did the recording take a chain of dev's queue q here? */
static bool feed_chain_next(void *ctx, unsigned int dev, unsigned int q)
{
	const struct trace_ev *e = fed_next(ctx, TRACE_vq_chain, dev);

	return e && field_u64(e, "queue") == q;
}

/* --feed: the length of the recorded dma_write of dev that comes next, 0 if none does. */
static size_t feed_dma_next(void *ctx, unsigned int dev)
{
	const msgpack_object *o = fed_data(fed_next(ctx, TRACE_dma_write, dev));

	return o ? o->via.bin.size : 0;
}

/* --feed: the guest reads what it read when recorded (the device model's answer was compared). */
static void feed_read(void *ctx, bool pio, uint64_t addr, uint32_t len, uint8_t *data)
{
	struct replayer *rp = ctx;

	(void)pio, (void)addr;
	if (!rp->feed || !rp->fed_valid)
		return;
	for (uint32_t i = 0; i < len && i < 8; i++)
		data[i] = rp->fed_value >> (8 * i);
	rp->fed_valid = false;
}

/*
 * The next recorded event is a landmark after this vCPU's last exit: the vCPU runs to it (a
 * breakpoint on its RIP, vcpu.c), and stops where its registers and pages match.
 */
static bool landmark_next(void *ctx, struct vcpu *v, struct landmark *lm)
{
	struct replayer *rp = ctx;
	const msgpack_object *pages;

	if (rp->diverged || !rp->have_exp || rp->exp.type != TRACE_landmark ||
	    field_u64(&rp->exp, "after") != v->last_exit_seq)
		return false;
	memset(lm, 0, sizeof(*lm));
	lm->after = v->last_exit_seq;
	lm->rip = field_u64(&rp->exp, "rip");
	lm->regs_hash = field_u64(&rp->exp, "regs_hash");
	lm->fixed = field_u64(&rp->exp, "fixed");
	lm->cycle = field_u64(&rp->exp, "cycle");
	lm->mem_hash = field_u64(&rp->exp, "mem_hash");
	pages = trace_ev_field(&rp->exp, "pages");
	if (pages && pages->type == MSGPACK_OBJECT_BIN) {
		const uint8_t *p = (const uint8_t *)pages->via.bin.ptr;

		for (uint32_t i = 0; i + 8 <= pages->via.bin.size && lm->nr_pages < FP_MAX_PAGES;
		     i += 8, lm->nr_pages++)
			for (unsigned int b = 0; b < 8; b++)
				lm->pages[lm->nr_pages] |= (uint64_t)p[i + b] << (8 * b);
	}
	return true;
}

/* ---- checkpoints ---- */

/* The first place two msgpack objects differ, as a path ("state.vcpus[0].regs byte 128"). */
static bool obj_diff(const msgpack_object *a, const msgpack_object *b, struct out *path)
{
	size_t mark = path->len;

	if (a->type != b->type) {
		out_s(path, " (a different type)");
		return true;
	}
	if (a->type == MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < a->via.map.size; i++) {
			const msgpack_object_kv *kv = &a->via.map.ptr[i];
			const msgpack_object *other = NULL;

			for (uint32_t j = 0; j < b->via.map.size && !other; j++)
				if (msgpack_object_equal(kv->key, b->via.map.ptr[j].key))
					other = &b->via.map.ptr[j].val;
			if (kv->key.type == MSGPACK_OBJECT_STR)
				out_printf(path, ".%.*s", (int)kv->key.via.str.size,
					   kv->key.via.str.ptr);
			if (!other) {
				out_s(path, " (only in the recording)");
				return true;
			}
			if (obj_diff(&kv->val, other, path))
				return true;
			path->len = mark;
		}
		if (a->via.map.size != b->via.map.size) {
			out_s(path, " (the replay has more fields)");
			return true;
		}
		return false;
	}
	if (a->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < a->via.array.size && i < b->via.array.size; i++) {
			out_printf(path, "[%u]", i);
			if (obj_diff(&a->via.array.ptr[i], &b->via.array.ptr[i], path))
				return true;
			path->len = mark;
		}
		if (a->via.array.size == b->via.array.size)
			return false;
		out_printf(path, " (%u elements recorded, %u replayed)", a->via.array.size,
			   b->via.array.size);
		return true;
	}
	if (a->type == MSGPACK_OBJECT_BIN) {
		const msgpack_object_bin *x = &a->via.bin, *y = &b->via.bin;

		for (uint32_t i = 0; i < x->size && i < y->size; i++)
			if (x->ptr[i] != y->ptr[i]) {
				out_printf(path, " byte %u (recorded 0x%02x, replayed 0x%02x)", i,
					   (uint8_t)x->ptr[i], (uint8_t)y->ptr[i]);
				return true;
			}
		if (x->size == y->size)
			return false;
		out_printf(path, " (%u bytes recorded, %u replayed)", x->size, y->size);
		return true;
	}
	if (msgpack_object_equal(*a, *b))
		return false;
	if (a->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		out_printf(path, " (recorded %" PRIu64 ", replayed %" PRIu64 ")", a->via.u64,
			   b->via.u64);
	return true;
}

/*
 * The replay reached the point where the recording took a checkpoint (checkpoint.h): its state
 * and the pages it changed since must be the recorded ones, byte for byte.
 */
static void on_checkpoint(void *ctx, uint64_t seq, const void *payload, size_t len)
{
	struct replayer *rp = ctx;
	msgpack_unpacked a, b;
	struct out path;
	void *rec = NULL;
	size_t rlen = 0, k = 0;
	char *err = NULL;

	if (rp->diverged || rp->cut_reached)
		return;
	while (k < rp->nckpts && rp->ckpts[k].seq != seq)
		k++;
	if (k == rp->nckpts) {
		if (rp->truncated)
			return; /* the recording may have been killed before it wrote this one */
		diverge(rp, NULL, NULL,
			"the replay takes a checkpoint at seq %" PRIu64 " where the recording has "
			"none: its virtual time or event count differs",
			seq);
		rp->div_seq = seq;
		return;
	}
	rec = trace_reader_checkpoint_payload(rp->r, k, &rlen, &err);
	if (!rec) {
		diverge(rp, NULL, NULL, "%s", err);
		free(err);
		return;
	}
	if (rlen == len && !memcmp(rec, payload, len)) {
		free(rec);
		if (k < sizeof(rp->ckpt_matched_s) / sizeof(rp->ckpt_matched_s[0]))
			rp->ckpt_matched_s[k] = (monotonic_ns() - rp->t0_ns) / 1e9;
		rp->ckpts_verified++;
		if ((long)k == rp->until_ckpt) {
			rp->segment_done = true;
			vm_request_stop(rp->vm, 0, "the segment ends at checkpoint %zu", k);
		}
		return;
	}
	msgpack_unpacked_init(&a);
	msgpack_unpacked_init(&b);
	out_init(&path, NULL);
	out_s(&path, "checkpoint");
	if (!persist_fits(rec, rlen) || !persist_fits(payload, len) ||
	    msgpack_unpack_next(&a, rec, rlen, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    msgpack_unpack_next(&b, payload, len, NULL) != MSGPACK_UNPACK_SUCCESS)
		out_s(&path, " (does not decode)");
	else if (!obj_diff(&a.data, &b.data, &path))
		out_s(&path, " (the same values, encoded otherwise)");
	else if (strstr(path.buf, "memory_xxh128 byte ")) {
		/* which 2 MiB of RAM: the pages before it are in the digests before its own */
		unsigned long byte =
			strtoul(strstr(path.buf, "memory_xxh128 byte ") + 19, NULL, 10);
		uint64_t page = byte / 16 * CHECKPOINT_DIGEST_PAGES, gpa = page * 4096;

		if (gpa >= rp->vm->mem.regions[0].size && rp->vm->mem.nr > 1)
			gpa += rp->vm->mem.regions[1].gpa - rp->vm->mem.regions[0].size;
		out_printf(&path, ": guest memory in [0x%" PRIx64 ", 0x%" PRIx64 ") differs", gpa,
			   gpa + (uint64_t)4096 * CHECKPOINT_DIGEST_PAGES);
	}
	diverge(rp, NULL, NULL,
		"the state at checkpoint %zu (seq %" PRIu64 ") differs from the recording's: %.*s",
		k, seq, (int)path.len, path.buf);
	rp->div_seq = seq;
	out_free(&path);
	msgpack_unpacked_destroy(&a);
	msgpack_unpacked_destroy(&b);
	free(rec);
}

/*
 * Builds checkpoint k's VM: the boot image (vm_load) with the pages of checkpoints 0..k, then
 * k's state. The trace goes on from its seq. 0, or -1 after saying why.
 */
static int restore_checkpoint(struct replayer *rp, struct vm *vm, size_t k)
{
	char msg[512];
	int ret = 0;

	for (size_t i = 0; i <= k && !ret; i++) {
		size_t len;
		char *err = NULL;
		void *p = trace_reader_checkpoint_payload(rp->r, i, &len, &err);

		if (!p) {
			say("%s", err);
			free(err);
			return -1;
		}
		if (checkpoint_restore(vm, p, len, i == k, msg, sizeof(msg))) {
			say("%s: offset %" PRIu64 ": checkpoint %zu (seq %" PRIu64 "): %s",
			    rp->path, rp->ckpts[i].offset, i, rp->ckpts[i].seq, msg);
			ret = -1;
		}
		free(p);
	}
	if (!ret && !vm->resumed) {
		say("%s: checkpoint %zu holds no trace position", rp->path, k);
		ret = -1;
	}
	if (!ret)
		trace_resume(vm->trace, vm->resume_seq, vm->resume_ts, vm->nr_vcpus);
	return ret;
}

/* ---- the trace header ---- */

/* A NUL-terminated copy the replayer frees at the end; NULL when it keeps too many already. */
static char *keep_str(struct replayer *rp, const char *s, size_t len)
{
	return rp->nstrings < MAX_HDR_STRINGS ? rp->strings[rp->nstrings++] = strndup(s, len)
					      : NULL;
}

/* A string of the header, NUL-terminated: a copy the replayer frees at the end. */
static const char *hdr_str(struct replayer *rp, const char *path)
{
	const msgpack_object *o = trace_obj_get(trace_reader_header(rp->r), path);
	const char *s;
	size_t len;

	return trace_obj_str(o, &s, &len) ? keep_str(rp, s, len) : NULL;
}

static bool hdr_u64(const struct trace_reader *r, const char *path, uint64_t *v)
{
	return trace_obj_u64(trace_obj_get(trace_reader_header(r), path), v);
}

static struct kvm_cpuid2 *hdr_cpuid(const struct trace_reader *r)
{
	const msgpack_object *o = trace_obj_get(trace_reader_header(r), "cpuid");
	struct kvm_cpuid2 *c;
	uint32_t n;

	if (!o || o->type != MSGPACK_OBJECT_ARRAY || !o->via.array.size || o->via.array.size > 1024)
		return NULL;
	n = o->via.array.size;
	c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	if (!c)
		return NULL;
	c->nent = n;
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object *e = &o->via.array.ptr[i];
		uint64_t v[7];

		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size < 7)
			goto bad;
		for (int j = 0; j < 7; j++)
			if (!trace_obj_u64(&e->via.array.ptr[j], &v[j]) || v[j] > UINT32_MAX)
				goto bad;
		c->entries[i] = (struct kvm_cpuid_entry2){.function = v[0],
							  .index = v[1],
							  .flags = v[2],
							  .eax = v[3],
							  .ebx = v[4],
							  .ecx = v[5],
							  .edx = v[6]};
	}
	return c;
bad:
	free(c);
	return NULL;
}

/*
 * --live: each disk image must hold what it held when the recording began (size and XXH3-128
 * in the header; traces of minor < 2 have no hash, and only the size is checked). Returns how
 * many differ.
 */
static int check_disks(const struct replayer *rp, const struct vm_config *cfg, bool force)
{
	const msgpack_object *a = trace_obj_get(trace_reader_header(rp->r), "config.disks");
	int bad = 0;

	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		const msgpack_object *m = &a->via.array.ptr[rp->disk_entry[i]];
		const char *want = NULL;
		size_t wlen = 0;
		uint64_t want_size = 0, size;
		char hex[33];
		int r = blk_image_identity(cfg->disks[i].path, &size, hex);

		if (r) {
			say("disk %s: %s (--live needs the images)", cfg->disks[i].path,
			    strerror(-r));
			bad++;
			continue;
		}
		trace_obj_u64(trace_obj_get(m, "size"), &want_size);
		trace_obj_str(trace_obj_get(m, "xxh3_128"), &want, &wlen);
		if (size != want_size || (want && (wlen != 32 || memcmp(hex, want, 32)))) {
			say("disk %s: %" PRIu64 " bytes, xxh3-128 %s, but %s "
			    "began with %" PRIu64 " bytes, xxh3-128 %.*s (a disk changes as the "
			    "guest writes it: replay against a copy made before the recording)%s",
			    cfg->disks[i].path, size, hex, rp->path, want_size, (int)wlen,
			    want ? want : "", force ? " (--force: replaying anyway)" : "");
			bad++;
		}
	}
	return bad;
}

/* Each image must be the one recorded (same SHA-256), unless --force. */
static int check_images(const struct replayer *rp, const struct vm_config *cfg, bool force)
{
	const msgpack_object *imgs = trace_obj_get(trace_reader_header(rp->r), "images");
	int bad = 0, missing = 0;

	for (uint32_t i = 0; imgs && imgs->type == MSGPACK_OBJECT_ARRAY && i < imgs->via.array.size;
	     i++) {
		const msgpack_object *im = &imgs->via.array.ptr[i];
		const char *role, *want;
		size_t rlen, wlen;
		const char *path;
		char err[512], hex[65];
		uint8_t *buf, digest[32];
		size_t size;

		if (!trace_obj_str(trace_obj_get(im, "role"), &role, &rlen) ||
		    !trace_obj_str(trace_obj_get(im, "sha256"), &want, &wlen))
			continue;
		path = !strncmp(role, "kernel", rlen) && rlen == 6 ? cfg->kernel : cfg->initramfs;
		if (!path)
			continue;
		if (read_whole_file(path, &buf, &size, err, sizeof(err))) {
			say("%.*s image: %s (pass --%.*s PATH if it moved)", (int)rlen, role, err,
			    (int)rlen, role);
			missing++;
			continue;
		}
		sha256(buf, size, digest);
		free(buf);
		sha256_hex(digest, hex);
		if (wlen != 64 || memcmp(hex, want, 64)) {
			say("%.*s %s: sha256 %s, but %s was recorded with %.*s%s", (int)rlen, role,
			    path, hex, rp->path, (int)wlen, want,
			    force ? " (--force: replaying anyway)" : "");
			bad++;
		}
	}
	if (!rp->feed)
		bad += check_disks(rp, cfg, force);
	if (missing)
		return -1;
	if (bad && !force) {
		say("refusing to replay against different images "
		    "(--force replays anyway; expect a divergence)");
		return -1;
	}
	return 0;
}

/*
 * The whole file is read before a VM is built from it. A damaged trace is refused; a truncated
 * one (a recording killed or crashed) replays up to its cut: the events before the first seq
 * missing, whose count becomes rp->total.
 */
static int validate(struct replayer *rp)
{
	char *err = NULL;
	struct trace_reader *r = trace_reader_open(rp->path, &err);
	const struct trace_status *st;
	struct trace_ev ev;
	uint64_t next_seq, prefix = 0, tail = 0;
	bool gap = false;
	int ret = 0;

	if (!r) {
		say("%s", err);
		free(err);
		return -1;
	}
	next_seq = trace_reader_first_seq(r);
	while (trace_reader_next(r, &ev) > 0) {
		gap |= ev.seq != next_seq;
		if (!gap)
			prefix++;
		next_seq = ev.seq + 1;
		if (stopped_by_signal(&ev)) {
			const msgpack_object *status = trace_ev_field(&ev, "status");
			const char *reason;
			size_t len;

			trace_obj_str(trace_ev_field(&ev, "reason"), &reason, &len);
			rp->stop_tail_valid = true;
			rp->stop_tail_seq = tail + 1;
			rp->stop_status = status ? (int)status->via.i64 : 0;
			snprintf(rp->stop_reason, sizeof(rp->stop_reason), "%.*s", (int)len,
				 reason);
		}
		/* the writes just before the end: posted to the coalesced ring, drained at the stop
		 */
		if (!((ev.type == TRACE_pio || ev.type == TRACE_mmio) && field_u64(&ev, "write")))
			tail = ev.seq;
	}
	st = trace_reader_status(r);
	if (st->damaged) {
		say_problems(r);
		say("refusing to replay a damaged trace");
		ret = -1;
	} else if (!st->complete) {
		rp->truncated = true;
		rp->cut_seq = trace_reader_first_seq(r) + prefix;
		rp->cut_offset = st->problem_offset;
		say_problems(r);
		say("the trace is truncated (its recording was killed or crashed): replaying its "
		    "%" PRIu64 " events up to the cut",
		    prefix);
	}
	rp->total = rp->truncated ? prefix : st->events;
	rp->last_seq = st->events ? st->last_seq : 0;
	trace_reader_close(r);
	return ret;
}

/* ---- reports ---- */

/* --report for a replay that was refused before it ran: why, in every message said. */
static int write_refusal_report(const struct replayer *rp, const char *path)
{
	FILE *f = fopen(path, "w");
	struct out o;

	if (!f)
		return -1;
	out_init(&o, f);
	out_s(&o, "{\"trace\":");
	out_json_str(&o, rp->path, strlen(rp->path));
	out_s(&o, ",\"result\":\"refused\",\"messages\":[");
	for (unsigned int i = 0; i < nsaid; i++) {
		if (i)
			out_c(&o, ',');
		out_json_str(&o, said[i], strlen(said[i]));
	}
	out_s(&o, "]}\n");
	int bad = out_flush(&o);

	bad |= fclose(f);
	out_free(&o);
	return bad ? -1 : 0;
}

static void started_from(const struct replayer *rp, char *buf, size_t len);

static void print_report(struct replayer *rp, FILE *f)
{
	char from[64];

	started_from(rp, from, sizeof(from));
	fprintf(f,
		"dejavm replay: DIVERGENCE at event %" PRIu64 " (seq %" PRIu64 ") of %" PRIu64
		": %s\n",
		rp->div_index, rp->div_seq, rp->total, rp->why);
	fprintf(f, "  the replay started %s\n", from);
	fprintf(f, "  last %u matching events:\n", rp->ring_len);
	for (unsigned int i = 0; i < rp->ring_len; i++) {
		const struct out *o =
			&rp->ring[(rp->ring_pos + CONTEXT - rp->ring_len + i) % CONTEXT];

		fprintf(f, "    %.*s\n", (int)o->len, o->buf);
	}
	if (rp->differing.len)
		fprintf(f, "  differing: %.*s\n", (int)rp->differing.len, rp->differing.buf);
	fprintf(f, "  - recorded: %.*s\n", (int)rp->expected.len,
		rp->expected.len ? rp->expected.buf : "(none)");
	fprintf(f, "  + replayed: %.*s\n", (int)rp->actual.len,
		rp->actual.len ? rp->actual.buf : "(none)");
	fprintf(f, "  RIP: replay 0x%" PRIx64 ", recording 0x%" PRIx64 "\n", rp->act_rip,
		rp->exp_rip);
	if (rp->exp_has_regs && rp->act_has_regs) {
		int n = 0;

		fprintf(f, "  registers that differ:");
		for (unsigned int i = 0; i < NREGS; i++)
			if (rp->exp_regs[i] != rp->act_regs[i] && ++n)
				fprintf(f, " %s (recorded 0x%" PRIx64 ", replay 0x%" PRIx64 ")",
					reg_names[i], rp->exp_regs[i], rp->act_regs[i]);
		fprintf(f, "%s\n", n ? "" : " none at the last exit");
	}
	fprintf(f, "  last serial line: ");
	if (rp->serial_len) {
		struct out o;

		out_init(&o, NULL);
		out_json_str(&o, rp->serial_line, rp->serial_len);
		fprintf(f, "%.*s\n", (int)o.len, o.buf);
		out_free(&o);
	} else {
		fprintf(f, "(none)\n");
	}
}

static void json_raw(struct out *o, const char *key, const struct out *v)
{
	out_printf(o, ",\"%s\":", key);
	if (v->len)
		out_mem(o, v->buf, v->len);
	else
		out_s(o, "null");
}

static int write_json_report(struct replayer *rp, FILE *f, double wall_s, double first_s)
{
	struct out o;
	char from[64];
	int bad;

	started_from(rp, from, sizeof(from));
	out_init(&o, f);
	out_s(&o, "{\"trace\":");
	out_json_str(&o, rp->path, strlen(rp->path));
	out_printf(&o, ",\"result\":\"%s\",\"deterministic_trace\":%s,\"mode\":\"%s\"",
		   rp->diverged ? "diverged" : "matched", rp->det ? "true" : "false",
		   rp->feed ? "feed" : "live");
	out_printf(&o, ",\"events\":%" PRIu64 ",\"matched\":%" PRIu64 ",\"wall_time_s\":%.3f",
		   rp->total, rp->matched, wall_s);
	out_printf(&o, ",\"first_compared_s\":%.3f,\"started\":", first_s);
	out_json_str(&o, from, strlen(from));
	out_printf(&o, ",\"checkpoints\":%zu,\"checkpoints_matched\":%" PRIu64, rp->nckpts,
		   rp->ckpts_verified);
	/* when the replay passed each checkpoint (0: not passed), e.g. to compare with --from */
	out_s(&o, ",\"checkpoint_reached_s\":[");
	for (size_t i = 0; i < rp->nckpts && i < sizeof(rp->ckpt_matched_s) / sizeof(double); i++)
		out_printf(&o, "%s%.3f", i ? "," : "", rp->ckpt_matched_s[i]);
	out_c(&o, ']');
	out_printf(&o, ",\"truncated\":%s", rp->truncated ? "true" : "false");
	if (rp->truncated)
		out_printf(&o, ",\"cut_offset\":%" PRIu64, rp->cut_offset);
	out_printf(&o, ",\"stop_reproduced\":%s", rp->stop_reproduced ? "true" : "false");
	out_printf(&o, ",\"exact\":%s,\"not_compared\":%" PRIu64 ",\"reads_not_compared\":%" PRIu64,
		   rp->det ? "true" : "false", rp->not_compared, rp->reads_not_compared);
	if (rp->diverged) {
		out_printf(&o,
			   ",\"divergence\":{\"index\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"why\":",
			   rp->div_index, rp->div_seq);
		out_json_str(&o, rp->why, strlen(rp->why));
		json_raw(&o, "expected", &rp->expected);
		json_raw(&o, "actual", &rp->actual);
		out_s(&o, ",\"differing\":");
		out_json_str(&o, rp->differing.buf ? rp->differing.buf : "", rp->differing.len);
		out_printf(&o, ",\"rip\":%" PRIu64 ",\"expected_rip\":%" PRIu64, rp->act_rip,
			   rp->exp_rip);
		out_s(&o, ",\"registers\":{");
		for (unsigned int i = 0, n = 0; rp->exp_has_regs && rp->act_has_regs && i < NREGS;
		     i++)
			if (rp->exp_regs[i] != rp->act_regs[i])
				out_printf(&o,
					   "%s\"%s\":{\"expected\":%" PRIu64 ",\"actual\":%" PRIu64
					   "}",
					   n++ ? "," : "", reg_names[i], rp->exp_regs[i],
					   rp->act_regs[i]);
		out_s(&o, "},\"last_matching\":[");
		for (unsigned int i = 0; i < rp->ring_len; i++) {
			const struct out *r =
				&rp->ring[(rp->ring_pos + CONTEXT - rp->ring_len + i) % CONTEXT];

			if (i)
				out_c(&o, ',');
			out_mem(&o, r->buf, r->len);
		}
		out_s(&o, "],\"last_serial_line\":");
		out_json_str(&o, rp->serial_line, rp->serial_len);
		out_c(&o, '}');
	}
	out_s(&o, "}\n");
	bad = out_flush(&o);
	out_free(&o);
	return bad ? -1 : 0;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fputs("Usage: dejavm replay TRACE [options]\n"
	      "\n"
	      "Rebuilds the VM TRACE was recorded from (images checked by SHA-256), runs it in\n"
	      "deterministic mode and compares every event with the recorded one. Stops at the\n"
	      "first divergence and reports it; exit status 0 when every event matched, 1 on a\n"
	      "divergence or error, 2 on a bad command line, 3 when a normal-mode trace matched\n"
	      "where it could be compared (not an exact replay). A truncated trace replays up to\n"
	      "its cut.\n"
	      "\n"
	      "  --feed                 the guest's reads return the recorded values (default)\n"
	      "  --live                 the guest's reads return what the device models say\n"
	      "  --force                replay even if an image's hash differs\n"
	      "  --report FILE          also write the result as JSON\n"
	      "  --kernel PATH          the kernel, if it moved since the recording\n"
	      "  --initramfs PATH       the initramfs, likewise\n"
	      "  --serial MODE          the guest's COM1 output: null (default), tty, file=PATH\n"
	      "  --from SEQ             start at the last checkpoint at or before event SEQ (a\n"
	      "                         trace recorded with --checkpoint-every) and compare from\n"
	      "                         there\n"
	      "  --jobs N               replay the segments between checkpoints on N processes at\n"
	      "                         once, each checking that it ends in the state the next\n"
	      "                         checkpoint holds; the first divergence in trace order is\n"
	      "                         reported\n"
	      "  --seccomp true|false|log  system-call filters per thread (default true)\n"
	      "  --exit-budget MS       look for a loop that only waits in a vCPU that ran MS ms\n"
	      "                         without an exit (default 100; the recording's budget\n"
	      "                         does not matter)\n"
	      "  -v, --verbose          more VMM messages\n"
	      "  -h, --help             print this help and exit\n",
	      f);
}

enum {
	OPT_FEED = 256,
	OPT_LIVE,
	OPT_FORCE,
	OPT_REPORT,
	OPT_KERNEL,
	OPT_INITRAMFS,
	OPT_SERIAL,
	OPT_EXIT_BUDGET,
	OPT_FROM,
	OPT_JOBS,
	OPT_SECCOMP
};

#define MAX_JOBS 64

struct replay_opts {
	const char *trace, *report, *kernel, *initramfs, *serial;
	bool live, force, from_set;
	enum seccomp_mode seccomp;
	unsigned int exit_budget_ms, jobs;
	uint64_t from;
	int verbosity;
};

static int parse_args(int argc, char **argv, struct replay_opts *o)
{
	static const struct option opts[] = {
		{"feed", no_argument, NULL, OPT_FEED},
		{"live", no_argument, NULL, OPT_LIVE},
		{"force", no_argument, NULL, OPT_FORCE},
		{"report", required_argument, NULL, OPT_REPORT},
		{"kernel", required_argument, NULL, OPT_KERNEL},
		{"initramfs", required_argument, NULL, OPT_INITRAMFS},
		{"serial", required_argument, NULL, OPT_SERIAL},
		{"exit-budget", required_argument, NULL, OPT_EXIT_BUDGET},
		{"from", required_argument, NULL, OPT_FROM},
		{"jobs", required_argument, NULL, OPT_JOBS},
		{"seccomp", required_argument, NULL, OPT_SECCOMP},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int opt;
	char *end;

	memset(o, 0, sizeof(*o));
	o->exit_budget_ms = DEFAULT_EXIT_BUDGET_MS;
	o->jobs = 1;
	o->seccomp = SECCOMP_ON;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_FEED:
			o->live = false;
			break;
		case OPT_LIVE:
			o->live = true;
			break;
		case OPT_FORCE:
			o->force = true;
			break;
		case OPT_REPORT:
			o->report = optarg;
			break;
		case OPT_KERNEL:
			o->kernel = optarg;
			break;
		case OPT_INITRAMFS:
			o->initramfs = optarg;
			break;
		case OPT_SERIAL:
			o->serial = optarg;
			break;
		case OPT_EXIT_BUDGET: {
			unsigned long long ms;

			errno = 0;
			ms = strtoull(optarg, &end, 10);
			if (errno || *end || !ms || ms > MAX_EXIT_BUDGET_MS || *optarg == '-') {
				say("--exit-budget: '%s': %s %u (ms)", optarg, "expected 1 to",
				    MAX_EXIT_BUDGET_MS);
				return -1;
			}
			o->exit_budget_ms = ms;
			break;
		}
		case OPT_SECCOMP:
			if (seccomp_parse_mode(optarg, &o->seccomp)) {
				say("--seccomp: '%s': expected true, false or log", optarg);
				return -1;
			}
			break;
		case OPT_FROM:
		case OPT_JOBS: {
			unsigned long long v;

			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg || *optarg == '-' ||
			    (opt == OPT_JOBS && (!v || v > MAX_JOBS))) {
				if (opt == OPT_FROM)
					say("--from: '%s': expected an event's seq", optarg);
				else
					say("--jobs: '%s': expected 1 to %d", optarg, MAX_JOBS);
				return -1;
			}
			if (opt == OPT_FROM) {
				o->from = v;
				o->from_set = true;
			} else {
				o->jobs = v;
			}
			break;
		}
		case 'v':
			o->verbosity++;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			say("bad option '%s' (try --help)", argv[optind - 1]);
			return -1;
		}
	}
	if (optind != argc - 1) {
		say("expected one TRACE argument (try --help)");
		return -1;
	}
	o->trace = argv[optind];
	return 0;
}

/*
 * The disks, in their recorded order. With --feed there is no image: the device gets the
 * recorded size and its reads the recorded data. With --live the images must be there.
 * Returns the number of problems, each said.
 */
static int disks_from_header(struct replayer *rp, struct vm_config *cfg)
{
	const msgpack_object *a = trace_obj_get(trace_reader_header(rp->r), "config.disks");
	int bad = 0;

	for (uint32_t i = 0; a && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size; i++) {
		const msgpack_object *m = &a->via.array.ptr[i];
		struct disk_config *d = &cfg->disks[cfg->nr_disks];
		const char *s;
		size_t len;
		uint64_t v;

		if (cfg->nr_disks == MAX_DISKS || rp->nstrings + 2 > MAX_HDR_STRINGS) {
			say("%s: config.disks has %u entries, this build replays up to %d",
			    rp->path, a->via.array.size, MAX_DISKS);
			return bad + 1;
		}
		if (!trace_obj_str(trace_obj_get(m, "path"), &s, &len)) {
			say("%s: config.disks[%u].path is missing or not a string", rp->path, i);
			bad++;
			continue;
		}
		memset(d, 0, sizeof(*d));
		if (rp->feed &&
		    (!trace_obj_u64(trace_obj_get(m, "size"), &d->feed_size) || !d->feed_size)) {
			say("%s: config.disks[%u] has no size", rp->path, i);
			bad++;
			continue;
		}
		d->path = keep_str(rp, s, len);
		if (trace_obj_str(trace_obj_get(m, "serial"), &s, &len))
			d->serial = keep_str(rp, s, len);
		d->num_queues = trace_obj_u64(trace_obj_get(m, "num_queues"), &v) && v ? v : 1;
		d->queue_size = trace_obj_u64(trace_obj_get(m, "queue_size"), &v) && v ? v : 128;
		d->readonly = trace_obj_u64(trace_obj_get(m, "readonly"), &v) && v;
		d->order = trace_obj_u64(trace_obj_get(m, "order"), &v) ? v : i;
		rp->disk_entry[cfg->nr_disks++] = i;
		cfg->nr_virtio++;
	}
	return bad;
}

/*
 * The network devices, in their recorded order. No tap is opened: what the guest sends goes
 * nowhere, and with --feed it receives the recorded frames where the recording did.
 * Returns the number of problems, each said.
 */
static int nets_from_header(struct replayer *rp, struct vm_config *cfg)
{
	const msgpack_object *a = trace_obj_get(trace_reader_header(rp->r), "config.net");
	int bad = 0;

	for (uint32_t i = 0; a && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size; i++) {
		const msgpack_object *m = &a->via.array.ptr[i];
		struct net_config *n = &cfg->nets[cfg->nr_nets];
		const char *s, *mac;
		size_t len, mac_len;
		char buf[18];
		uint64_t v;

		if (cfg->nr_nets == MAX_NETS || rp->nstrings == MAX_HDR_STRINGS) {
			say("%s: config.net has %u entries, this build replays up to %d", rp->path,
			    a->via.array.size, MAX_NETS);
			return bad + 1;
		}
		if (!trace_obj_str(trace_obj_get(m, "tap"), &s, &len) ||
		    !trace_obj_str(trace_obj_get(m, "mac"), &mac, &mac_len)) {
			say("%s: config.net[%u] has no tap or mac string", rp->path, i);
			bad++;
			continue;
		}
		memset(n, 0, sizeof(*n));
		snprintf(buf, sizeof(buf), "%.*s", (int)mac_len, mac);
		if (mac_len >= sizeof(buf) || parse_mac(buf, n->mac)) {
			say("%s: config.net[%u].mac %.*s is not a MAC", rp->path, i, (int)mac_len,
			    mac);
			bad++;
			continue;
		}
		n->tap = keep_str(rp, s, len);
		n->mac_set = true;
		n->no_tap = true;
		n->order = trace_obj_u64(trace_obj_get(m, "order"), &v) ? v : cfg->nr_virtio;
		cfg->nr_nets++;
		cfg->nr_virtio++;
	}
	return bad;
}

/*
 * The VM configuration from the header (paths overridable). Every problem is said, not just
 * the first: 0, -1 for a header this build cannot replay, -2 for a bad option.
 */
static int config_from_header(struct replayer *rp, const struct replay_opts *o,
			      struct vm_config *cfg)
{
	uint64_t v, ns_per_exit = 0;
	const msgpack_object *det;
	bool bad = false, bad_opt = false;

	config_init(cfg);
	cfg->kernel = o->kernel ? o->kernel : hdr_str(rp, "config.kernel");
	cfg->initramfs = o->initramfs ? o->initramfs : hdr_str(rp, "config.initramfs");
	cfg->cmdline = hdr_str(rp, "config.cmdline");
	if (!cfg->kernel) {
		say("%s: the header has no config.kernel string (--kernel PATH gives one)",
		    rp->path);
		bad = true;
	}
	if (!cfg->cmdline) {
		say("%s: the header has no config.cmdline string", rp->path);
		bad = true;
	}
	if (hdr_u64(rp->r, "config.cpus", &v))
		cfg->cpus = v > UINT32_MAX ? 0 : v;
	if (hdr_u64(rp->r, "config.memory", &v))
		cfg->mem_size = v;
	if (hdr_u64(rp->r, "config.rtc_epoch", &v))
		cfg->rtc_epoch = v;
	hdr_u64(rp->r, "config.ns_per_exit", &ns_per_exit);
	/* The hardware the guest saw: a trace from before machine versions saw version 1. */
	cfg->machine_version = MACHINE_VERSION_MIN;
	if (trace_obj_get(trace_reader_header(rp->r), "config.machine_version")) {
		if (!hdr_u64(rp->r, "config.machine_version", &v) || v < MACHINE_VERSION_MIN ||
		    v > MACHINE_VERSION_CURRENT) {
			say("%s: config.machine_version is not a machine version this build has "
			    "(%d to %d): a newer dejavm recorded it",
			    rp->path, MACHINE_VERSION_MIN, MACHINE_VERSION_CURRENT);
			bad = true;
		} else {
			cfg->machine_version = v;
		}
	}
	det = trace_obj_get(trace_reader_header(rp->r), "config.deterministic");
	rp->det = det && det->type == MSGPACK_OBJECT_BOOLEAN && det->via.boolean;
	if (cfg->cpus != 1) {
		say("%s: config.cpus %u cannot be replayed (this build replays 1 vCPU)", rp->path,
		    cfg->cpus);
		bad = true;
	}
	if (cfg->mem_size < MIN_MEM_SIZE || cfg->mem_size > MAX_MEM_SIZE) {
		say("%s: config.memory %" PRIu64 " cannot be replayed (2 MiB to 1 TiB)", rp->path,
		    cfg->mem_size);
		bad = true;
	}
	if (rp->det && ns_per_exit != DET_NS_PER_EXIT && !o->force) {
		say("%s: config.ns_per_exit: recorded with %" PRIu64 " virtual ns per exit, "
		    "this build uses %d: every timestamp would differ (--force replays anyway)",
		    rp->path, ns_per_exit, DET_NS_PER_EXIT);
		bad = true;
	}
	cfg->deterministic = true;
	cfg->exit_budget_ms = o->exit_budget_ms;
	cfg->serial = SERIAL_NULL;
	if (o->serial && !strcmp(o->serial, "tty")) {
		cfg->serial = SERIAL_TTY;
	} else if (o->serial && !strncmp(o->serial, "file=", 5) && o->serial[5]) {
		cfg->serial = SERIAL_FILE;
		cfg->serial_path = o->serial + 5;
	} else if (o->serial && strcmp(o->serial, "null")) {
		say("--serial %s: expected null, tty or file=PATH", o->serial);
		bad_opt = true;
	}
	cfg->verbosity = o->verbosity;
	/* --feed gives the guest the recorded entropy: the source need not exist here. */
	cfg->rng_path = hdr_str(rp, "config.rng");
	if (cfg->rng_path && rp->feed)
		cfg->rng_path = "/dev/zero";
	if (hdr_u64(rp->r, "config.rng_order", &v))
		cfg->rng_order = v;
	if (hdr_u64(rp->r, "config.console", &v) && v) { /* its output is in the trace */
		cfg->console = CONSOLE_NULL;
		if (hdr_u64(rp->r, "config.console_order", &v))
			cfg->console_order = v;
	}
	cfg->nr_virtio = (cfg->rng_path ? 1 : 0) + (cfg->console != CONSOLE_OFF);
	if (disks_from_header(rp, cfg))
		bad = true;
	if (nets_from_header(rp, cfg))
		bad = true;
	/* the replay reaches the recording's checkpoints by the same rule, and compares them */
	if (hdr_u64(rp->r, "config.checkpoint_every_ms", &v) && v) {
		cfg->checkpoint_every = v;
	} else if (hdr_u64(rp->r, "config.checkpoint_every_events", &v) && v) {
		cfg->checkpoint_every = v;
		cfg->checkpoint_events = true;
	}
	cfg->cpuid = hdr_cpuid(rp->r);
	if (!cfg->cpuid)
		say("%s: no usable CPUID table in the header; the guest gets this host's",
		    rp->path);
	return bad_opt ? -2 : bad ? -1 : 0;
}

/*
 * Builds the VM, from the boot or from rp->from_ckpt, and the recorded events it starts from.
 * 0, or -1 after saying why (the VM is then destroyed).
 */
static int build_vm(struct replayer *rp, struct vm *vm, struct vm_replay_hooks *hooks,
		    const struct vm_config *cfg)
{
	uint64_t start = trace_reader_first_seq(rp->r);
	const char *snap = hdr_str(rp, "restored.snapshot");
	struct snapshot *s = NULL;
	char err[512];

	/* A recording that began from a snapshot replays from it (its disks: --feed or checked) */
	if (snap && !(s = snapshot_open(snap, !rp->feed, err, sizeof(err)))) {
		say("%s began from the snapshot %s, which its replay needs: %s", rp->path, snap,
		    err);
		return -1;
	}
	if (vm_create(vm, cfg) || (!s && vm_load(vm)))
		goto fail;
	if (s && snapshot_restore(s, vm, err, sizeof(err))) {
		say("%s", err);
		goto fail;
	}
	if (!(vm->trace = trace_open(NULL, 0, NULL, NULL, NULL)))
		goto fail;
	snapshot_close(s);
	s = NULL;
	if (snap && vm->resumed)
		trace_resume(vm->trace, vm->resume_seq, vm->resume_ts, vm->nr_vcpus);
	rp->vm = vm;
	hooks->ctx = rp;
	vm->replay = hooks;
	trace_set_sink(vm->trace, on_event, rp);
	record_use_virtual_time(vm);
	if (rp->from_ckpt >= 0) {
		if (restore_checkpoint(rp, vm, rp->from_ckpt))
			goto fail;
		start = rp->ckpts[rp->from_ckpt].seq;
	}
	if (rp->mutate_mem_xor) { /* a VMM bug that leaves a byte of memory wrong */
		uint8_t *b = gpa_to_hva(&vm->mem, rp->mutate_gpa, 1);

		log_warn("test mutation: guest memory at 0x%" PRIx64 " %s", rp->mutate_gpa,
			 b ? "changed" : "is not RAM");
		if (b)
			*b ^= rp->mutate_mem_xor;
	}
	if (cfg->checkpoint_every && checkpoint_init(vm)) {
		say("out of memory for the checkpoints' page hashes");
		goto fail;
	}
	next_expected(rp);
	while (rp->have_exp && rp->exp.seq < start) /* what the checkpoint's state holds already */
		next_expected(rp);
	return 0;
fail:
	snapshot_close(s);
	vm_destroy(vm);
	rp->vm = NULL;
	return -1;
}

/* Where the replay started, for its reports: "" from the boot. */
static void started_from(const struct replayer *rp, char *buf, size_t len)
{
	const char *snap =
		trace_obj_get(trace_reader_header(rp->r), "restored.snapshot") ? "y" : NULL;

	if (rp->from_ckpt < 0 && snap)
		snprintf(buf, len, "from the snapshot it was recorded from");
	else if (rp->from_ckpt < 0)
		snprintf(buf, len, "from the boot");
	else
		snprintf(buf, len, "from checkpoint %ld (seq %" PRIu64 ")", rp->from_ckpt,
			 rp->ckpts[rp->from_ckpt].seq);
}

/* Builds and runs the VM, comparing as it goes; prints the result to f. Returns the status. */
static int replay_run(struct replayer *rp, const struct replay_opts *o, const struct vm_config *cfg,
		      FILE *f, char **json)
{
	static const struct vm_replay_hooks hooks_template = {
		.read = feed_read,
		.dma = feed_dma,
		.landmark_next = landmark_next,
		.chain_next = feed_chain_next,
		.dma_next = feed_dma_next,
		.stop_here = stop_here,
		.stop_after_run = stop_after_run,
		.checkpoint = on_checkpoint,
	};
	struct vm_replay_hooks hooks = hooks_template;
	struct vm vm;
	char from[64];
	double wall, first;
	int status;

	rp->t0_ns = monotonic_ns();
	if (build_vm(rp, &vm, &hooks, cfg))
		return EXIT_VMM_ERROR;
	if (rp->from_ckpt < 0)
		record_boot_writes(&vm);
	status = vm_run(&vm);
	record_finish(&vm, status);
	wall = (monotonic_ns() - rp->t0_ns) / 1e9;
	first = rp->first_compare_ns ? (rp->first_compare_ns - rp->t0_ns) / 1e9 : wall;
	if (!rp->diverged && rp->have_exp && !rp->segment_done)
		diverge(rp, &rp->exp, NULL, "the replay ended (%s) before the recording did",
			vm.stop_reason);
	started_from(rp, from, sizeof(from));

	if (rp->diverged) {
		print_report(rp, f);
	} else if (rp->segment_done) {
		fprintf(f,
			"dejavm replay: %s: %" PRIu64
			" events matched %s to checkpoint %ld (seq %" PRIu64 ") in %.2f s\n",
			o->trace, rp->matched, from, rp->until_ckpt, rp->ckpts[rp->until_ckpt].seq,
			wall);
	} else if (rp->truncated) {
		fprintf(f,
			"dejavm replay: %s: replayed %" PRIu64
			" events up to the cut at offset %" PRIu64
			" (%s): no divergence (%s trace, --%s) in %.2f s\n",
			o->trace, rp->matched, rp->cut_offset, from,
			rp->det ? "deterministic" : "normal-mode", rp->feed ? "feed" : "live",
			wall);
	} else {
		const struct trace_status *st = trace_reader_status(rp->r);

		fprintf(f,
			"dejavm replay: %s: all %" PRIu64 " events matched (%s trace, --%s, %s) "
			"in %.2f s",
			o->trace, rp->matched, rp->det ? "deterministic" : "normal-mode",
			rp->feed ? "feed" : "live", from, wall);
		if (rp->stop_reproduced)
			fprintf(f, "; %s, where the recording was", vm.stop_reason);
		if (rp->nckpts)
			fprintf(f,
				"; %" PRIu64 " checkpoints matched; first event compared after "
				"%.2f s",
				rp->ckpts_verified, first);
		if (rp->det) /* such a trace holds no host time: the recording's speed is unknown */
			fprintf(f, "; guest virtual time %.3f s; %.0f events/s\n",
				vm.vtime_ns / 1e9, wall > 0 ? rp->matched / wall : 0);
		else
			fprintf(f,
				"; the recording took %.2f s: %.2fx its speed\n"
				"dejavm replay: not an exact replay: %" PRIu64
				" recorded events were "
				"not compared (accesses KVM handled, interrupts and time: not in a "
				"normal-mode trace) nor the values of %" PRIu64 " reads (they saw "
				"host time); exit status %d\n",
				st->last_ts / 1e9, wall > 0 ? st->last_ts / 1e9 / wall : 0,
				rp->not_compared, rp->reads_not_compared, EXIT_PARTLY);
	}
	fflush(f);
	if (json) {
		size_t len;
		FILE *mem = open_memstream(json, &len);

		if (!mem || write_json_report(rp, mem, wall, first) | fclose(mem)) {
			free(*json);
			*json = NULL;
		}
	}
	vm_destroy(&vm);
	rp->vm = NULL;
	return rp->diverged ? EXIT_VMM_ERROR : rp->det ? 0 : EXIT_PARTLY;
}

/* --report FILE: json as made (NULL: it could not be). The result stands either way. */
static void write_report(const char *path, const char *json)
{
	FILE *f;
	int bad;

	if (!path)
		return;
	f = json ? fopen(path, "w") : NULL;
	bad = !f || fputs(json, f) < 0;
	if (f)
		bad |= fclose(f) != 0;
	if (bad)
		say("warning: --report %s could not be written (%s); the result above stands", path,
		    json ? strerror(errno) : "out of memory");
}

/*
 * --from SEQ: the last checkpoint at or before SEQ (none: the boot). A SEQ the trace does not
 * reach is refused. 0, or -1 after saying why.
 */
static int pick_checkpoint(struct replayer *rp, uint64_t seq)
{
	size_t ni;
	const struct trace_index_entry *idx = trace_reader_index(rp->r, &ni);
	uint64_t end_off = ni ? idx[ni - 1].offset : trace_reader_status(rp->r)->file_size;

	if (seq > rp->last_seq || !rp->total) {
		say("%s: offset %" PRIu64 ": --from %" PRIu64
		    " is past the trace's last event (seq %" PRIu64 ")",
		    rp->path, end_off, seq, rp->last_seq);
		return -1;
	}
	for (size_t k = 0; k < rp->nckpts; k++)
		if (rp->ckpts[k].seq <= seq &&
		    (rp->from_ckpt < 0 || rp->ckpts[k].seq >= rp->ckpts[rp->from_ckpt].seq))
			rp->from_ckpt = k;
	if (rp->from_ckpt < 0)
		say("%s: no checkpoint at or before seq %" PRIu64 "%s: replaying from the boot",
		    rp->path, seq,
		    rp->nckpts ? "" : " (it was recorded without --checkpoint-every)");
	return 0;
}

/* The CPU vendor of leaf 0's ebx, edx, ecx ("GenuineIntel"). */
static void vendor_of(uint32_t ebx, uint32_t ecx, uint32_t edx, char out[13])
{
	memcpy(out, &ebx, 4);
	memcpy(out + 4, &edx, 4);
	memcpy(out + 8, &ecx, 4);
	out[12] = '\0';
}

/*
 * On the PVM hosts the guest's CPUID shows the host's CPU whatever the VMM set, and the flags an
 * instruction leaves undefined are the CPU's own: a trace recorded on another vendor's CPU (its
 * CPUID table says which) will likely not replay here, and the user should know before.
 */
static void check_cpu_vendor(const struct replayer *rp, const struct vm_config *cfg)
{
	unsigned int a, b, c, d;
	char here[13], there[13] = "";

	for (uint32_t i = 0; cfg->cpuid && i < cfg->cpuid->nent; i++)
		if (cfg->cpuid->entries[i].function == 0)
			vendor_of(cfg->cpuid->entries[i].ebx, cfg->cpuid->entries[i].ecx,
				  cfg->cpuid->entries[i].edx, there);
	if (!*there || !__get_cpuid(0, &a, &b, &c, &d))
		return;
	vendor_of(b, c, d, here);
	if (strcmp(here, there))
		say("warning: %s was recorded on a CPU from %s, and this host's is from %s: where the guest "
		    "sees the host's CPUID (PVM hosts) or reads flags an instruction leaves undefined, "
		    "it will take another path, and the replay will diverge",
		    rp->path, there, here);
}

/* ---- --jobs: the segments between checkpoints on several processes ---- */

/* What a segment's process reports: this, then its text and its JSON report. */
struct segment_result {
	int32_t segment, status;
	uint64_t matched, verified, div_seq;
	double wall;
	uint32_t text_len, json_len;
};

struct segment {
	pid_t pid;
	int fd; /* its result pipe, -1: done or not started */
	struct segment_result res;
	char *text, *json;
	bool done;
};

static int write_all_fd(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* In the child: replays segment j (checkpoint j - 1, or the boot, to checkpoint j or the end). */
static void __attribute__((noreturn)) run_segment(struct replayer *rp, const struct replay_opts *o,
						  const struct vm_config *cfg, int j, int fd)
{
	struct segment_result res = {.segment = j};
	char *text = NULL, *json = NULL;
	size_t tlen = 0;
	FILE *mem = open_memstream(&text, &tlen);
	uint64_t t0 = monotonic_ns();

	rp->from_ckpt = j - 1;
	rp->until_ckpt = (size_t)j < rp->nckpts ? j : -1;
	res.status = mem ? replay_run(rp, o, cfg, mem, o->report ? &json : NULL) : EXIT_VMM_ERROR;
	if (mem)
		fclose(mem);
	res.matched = rp->matched;
	res.verified = rp->ckpts_verified;
	res.div_seq = rp->diverged ? rp->div_seq : 0;
	res.wall = (monotonic_ns() - t0) / 1e9;
	res.text_len = text ? tlen : 0;
	res.json_len = json ? strlen(json) : 0;
	if (write_all_fd(fd, &res, sizeof(res)) || write_all_fd(fd, text, res.text_len) ||
	    write_all_fd(fd, json, res.json_len))
		_exit(EXIT_VMM_ERROR);
	_exit(0);
}

static int start_segment(struct replayer *rp, const struct replay_opts *o,
			 const struct vm_config *cfg, struct segment *s, int j)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return -1;
	fflush(stdout);
	fflush(stderr);
	s->pid = fork();
	if (s->pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (!s->pid) {
		close(p[0]);
		run_segment(rp, o, cfg, j, p[1]);
	}
	close(p[1]);
	s->fd = p[0];
	return 0;
}

/* The whole of a finished segment's pipe: its result, text and report. */
static void collect_segment(struct segment *s)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int status;

	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *p = realloc(buf, cap = cap ? 2 * cap : 1 << 16);

			if (!p)
				break;
			buf = p;
		}
		n = read(s->fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	close(s->fd);
	s->fd = -1;
	waitpid(s->pid, &status, 0);
	s->done = true;
	if (len < sizeof(s->res) || (memcpy(&s->res, buf, sizeof(s->res)),
				     len != sizeof(s->res) + s->res.text_len + s->res.json_len)) {
		s->res.status = EXIT_VMM_ERROR;
		s->res.text_len = s->res.json_len = 0;
		if (asprintf(&s->text,
			     "dejavm replay: the process of segment %d ended without its "
			     "result (status 0x%x)\n",
			     s->res.segment, status) < 0)
			s->text = NULL;
	} else {
		s->text = strndup(buf + sizeof(s->res), s->res.text_len);
		s->json = strndup(buf + sizeof(s->res) + s->res.text_len, s->res.json_len);
	}
	free(buf);
}

/*
 * Replays the segments between checkpoints on o->jobs processes, each from its checkpoint to
 * the next, and reports the first divergence in trace order: a segment's own is reported once
 * every segment before it has matched. Returns the exit status.
 */
static int run_jobs(struct replayer *rp, const struct replay_opts *o, const struct vm_config *cfg)
{
	int nseg = rp->nckpts + 1, next = 0, running = 0, first_bad = nseg, ret = 0;
	struct segment *seg = calloc(nseg, sizeof(*seg));
	uint64_t matched = 0, verified = 0, t0 = monotonic_ns();
	double wall;

	if (!seg)
		return EXIT_VMM_ERROR;
	for (int j = 0; j < nseg; j++)
		seg[j].fd = -1;
	while (next < nseg || running) {
		struct pollfd pfd[MAX_JOBS];
		int which[MAX_JOBS], n = 0;

		while (running < (int)o->jobs && next < first_bad) {
			if (start_segment(rp, o, cfg, &seg[next], next)) {
				say("--jobs: cannot start a process: %s", strerror(errno));
				first_bad = next;
				break;
			}
			next++, running++;
		}
		if (next >= first_bad)
			next = nseg; /* nothing after a divergence is needed */
		for (int j = 0; j < nseg && n < MAX_JOBS; j++)
			if (seg[j].fd >= 0) {
				pfd[n] = (struct pollfd){.fd = seg[j].fd, .events = POLLIN};
				which[n++] = j;
			}
		if (!n)
			break;
		if (poll(pfd, n, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			struct segment *s = &seg[which[i]];

			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			collect_segment(s);
			running--;
			if (s->res.status == EXIT_VMM_ERROR && which[i] < first_bad) {
				first_bad = which[i];
				for (int k = first_bad + 1; k < nseg; k++)
					if (seg[k].fd >= 0)
						kill(seg[k].pid, SIGKILL);
			}
		}
	}
	wall = (monotonic_ns() - t0) / 1e9;
	for (int j = 0; j < nseg && j < first_bad; j++) {
		matched += seg[j].res.matched;
		verified += seg[j].res.verified;
		if (o->verbosity && seg[j].text)
			fputs(seg[j].text, stdout);
	}
	if (first_bad < nseg) {
		ret = seg[first_bad].res.status ? seg[first_bad].res.status : EXIT_VMM_ERROR;
		printf("dejavm replay: %s: segment %d of %d (checkpoint %d to %s) diverged; the %d "
		       "before it matched (%" PRIu64 " events)\n",
		       o->trace, first_bad, nseg, first_bad - 1,
		       first_bad < (int)rp->nckpts ? "the next" : "the end", first_bad, matched);
		if (seg[first_bad].text)
			fputs(seg[first_bad].text, stdout);
	} else {
		printf("dejavm replay: %s: all %" PRIu64
		       " events matched in %d segments between %zu "
		       "checkpoints on %u processes (%" PRIu64 " checkpoints matched) in %.2f s\n",
		       o->trace, matched, nseg, rp->nckpts, o->jobs, verified, wall);
		ret = rp->det ? 0 : EXIT_PARTLY;
	}
	fflush(stdout);
	if (o->report) {
		char *json = NULL;
		size_t len;
		FILE *mem = open_memstream(&json, &len);
		struct out w;

		if (mem) {
			out_init(&w, mem);
			out_s(&w, "{\"trace\":");
			out_json_str(&w, o->trace, strlen(o->trace));
			out_printf(
				&w,
				",\"result\":\"%s\",\"jobs\":%u,\"segments\":%d,\"checkpoints\":%zu,"
				"\"matched\":%" PRIu64 ",\"checkpoints_matched\":%" PRIu64
				",\"wall_time_s\":%.3f,\"diverged_segment\":",
				first_bad < nseg ? "diverged" : "matched", o->jobs, nseg,
				rp->nckpts, matched, verified, wall);
			if (first_bad < nseg && seg[first_bad].json && *seg[first_bad].json) {
				out_printf(&w, "{\"segment\":%d,\"report\":", first_bad);
				out_mem(&w, seg[first_bad].json,
					strcspn(seg[first_bad].json, "\n"));
				out_c(&w, '}');
			} else {
				out_s(&w, "null");
			}
			out_s(&w, "}\n");
			out_flush(&w);
			out_free(&w);
			fclose(mem);
		}
		write_report(o->report, json);
		free(json);
	}
	for (int j = 0; j < nseg; j++) {
		if (seg[j].fd >= 0) {
			kill(seg[j].pid, SIGKILL);
			close(seg[j].fd);
			waitpid(seg[j].pid, NULL, 0);
		}
		free(seg[j].text);
		free(seg[j].json);
	}
	free(seg);
	return ret;
}

int replay_main(int argc, char **argv)
{
	struct replay_opts o;
	struct replayer rp = {0};
	struct vm_config cfg;
	sigset_t sigs;
	char *err = NULL;
	int ret = EXIT_VMM_ERROR, r;
	bool ran = false;

	if (parse_args(argc, argv, &o))
		return EXIT_USAGE;
	vm_block_signals(&sigs); /* before any thread exists */
	log_max_level = o.verbosity >= 2 ? LOG_DEBUG : o.verbosity == 1 ? LOG_INFO : LOG_WARN;
	seccomp_set_mode(o.seccomp); /* a trace is input: its guest runs filtered (sandbox.h) */
	if (seccomp_install(SECCOMP_MAIN, "main"))
		return EXIT_VMM_ERROR;
	rp.path = o.trace;
	rp.feed = !o.live;
	parse_test_mutation(&rp);
	config_init(&cfg);
	out_init(&rp.expected, NULL);
	out_init(&rp.actual, NULL);
	out_init(&rp.differing, NULL);
	for (unsigned int i = 0; i < CONTEXT; i++)
		out_init(&rp.ring[i], NULL);
	if (validate(&rp))
		goto out;
	rp.r = trace_reader_open(o.trace, &err);
	rp.dec = trace_decoder_new();
	if (!rp.r || !rp.dec) {
		say("%s", err ? err : "out of memory");
		free(err);
		goto out;
	}
	/* Every reason not to replay is said before giving up, the first one decides nothing. */
	r = config_from_header(&rp, &o, &cfg);
	if (check_images(&rp, &cfg, o.force))
		r = r ? r : -1;
	if (!rp.det && cfg.nr_virtio) {
		r = r ? r : -1;
		say("%s was recorded in normal mode with virtio devices, which then "
		    "interrupt through MSI-X and the IOAPIC; a replay's VM (deterministic, the "
		    "VMM's PIC) has neither, so the guest would see another machine. Record with "
		    "--deterministic to replay it.",
		    o.trace);
	}
	if (r) {
		ret = r == -2 ? EXIT_USAGE : EXIT_VMM_ERROR;
		goto out;
	}
	if (!rp.det) {
		say("%s was recorded in normal mode: KVM's in-kernel PIC and PIT "
		    "delivered its interrupts, which were not recorded, and its reads saw host "
		    "time. The replay feeds the recorded read values and compares exits, "
		    "addresses and writes; it is exact only for a guest that takes no "
		    "interrupts. Record with --deterministic for an exact replay.",
		    o.trace);
		rp.feed = true; /* read values saw host time: only the recorded ones make sense */
	}
	check_cpu_vendor(&rp, &cfg);
	rp.ckpts = trace_reader_checkpoints(rp.r, &rp.nckpts);
	rp.from_ckpt = rp.until_ckpt = -1;
	if (o.from_set && pick_checkpoint(&rp, o.from))
		goto out;
	if ((o.from_set || o.jobs > 1) && !rp.feed && cfg.nr_disks) {
		say("--live with --from or --jobs: a checkpoint does not hold the disks' contents, "
		    "which the guest may have changed by then; replay them with --feed");
		goto out;
	}
	if (o.jobs > 1 && rp.nckpts && !o.from_set) {
		ret = run_jobs(&rp, &o, &cfg);
	} else {
		char *json = NULL;

		ret = replay_run(&rp, &o, &cfg, stdout, o.report ? &json : NULL);
		write_report(o.report, json);
		free(json);
	}
	ran = true;
out:
	if (!ran && o.report && write_refusal_report(&rp, o.report))
		say("--report %s: not written", o.report);
	for (unsigned int i = 0; i < nsaid; i++)
		free(said[i]);
	nsaid = 0;
	trace_reader_close(rp.r);
	trace_decoder_free(rp.dec);
	out_free(&rp.expected);
	out_free(&rp.actual);
	out_free(&rp.differing);
	for (unsigned int i = 0; i < CONTEXT; i++)
		out_free(&rp.ring[i]);
	for (unsigned int i = 0; i < rp.nstrings; i++)
		free(rp.strings[i]);
	free(rp.mutate_bin);
	free((void *)cfg.cpuid);
	return ret;
}
