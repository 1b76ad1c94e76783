// SPDX-License-Identifier: MIT
/*
 * dejavm-trace diff: compares two event streams in seq order, ignoring ts (and the end event's
 * stall_ns, which measures the host, not the guest), and shows the first difference.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

#define MAX_CONTEXT 1000

static int diff_usage(FILE *f, int ret)
{
	fprintf(f, "usage: dejavm-trace diff A B [--context N]\n"
		   "Compares the events of two traces in seq order, ignoring timestamps (and "
		   "end.stall_ns),\nand prints the first differing event (A expected, B actual) "
		   "with N events of\ncontext before it (default 3) and the fields that differ. "
		   "A difference in the\nheaders' configs is only noted. Exit status: 0 "
		   "identical, 1 different (or a\ntrace is damaged), 2 usage.\n");
	return ret;
}

static void note_configs(const struct trace_reader *ra, const struct trace_reader *rb)
{
	const msgpack_object *ca = trace_obj_get(trace_reader_header(ra), "config");
	const msgpack_object *cb = trace_obj_get(trace_reader_header(rb), "config");
	struct out o;
	bool any = false;

	if (!ca || !cb || ca->type != MSGPACK_OBJECT_MAP || msgpack_object_equal(*ca, *cb))
		return;
	out_init(&o, NULL);
	for (uint32_t i = 0; i < ca->via.map.size; i++) {
		const msgpack_object_kv *kv = &ca->via.map.ptr[i];
		const msgpack_object *vb = NULL;

		for (uint32_t j = 0; cb->type == MSGPACK_OBJECT_MAP && j < cb->via.map.size; j++)
			if (msgpack_object_equal(kv->key, cb->via.map.ptr[j].key))
				vb = &cb->via.map.ptr[j].val;
		if (vb && msgpack_object_equal(kv->val, *vb))
			continue;
		out_s(&o, any ? ", " : "");
		any = true;
		if (kv->key.type == MSGPACK_OBJECT_STR)
			out_mem(&o, kv->key.via.str.ptr, kv->key.via.str.size);
		else
			out_json_obj(&o, &kv->key);
		out_s(&o, " ");
		out_json_obj(&o, &kv->val);
		out_s(&o, " vs ");
		if (vb)
			out_json_obj(&o, vb);
		else
			out_s(&o, "(none)");
	}
	if (!any)
		out_s(&o, "(keys differ)");
	printf("note: the configs differ: %.*s\n", (int)o.len, o.buf);
	out_free(&o);
}

/* The last n formatted events of A, oldest first. */
struct ring {
	char **lines;
	size_t n, next, used;
};

static void ring_push(struct ring *r, struct out *line)
{
	char *s;

	if (!r->n)
		return;
	s = strndup(line->buf ? line->buf : "", line->len);
	free(r->lines[r->next]);
	r->lines[r->next] = s;
	r->next = (r->next + 1) % r->n;
	if (r->used < r->n)
		r->used++;
}

static void print_context(struct ring *r)
{
	if (!r->used)
		return;
	printf("  context (equal in both):\n");
	for (size_t i = 0; i < r->used; i++) {
		const char *s = r->lines[(r->next + r->n - r->used + i) % r->n];

		printf("    %s\n", s ? s : "?");
	}
}

int cmd_diff(int argc, char **argv)
{
	const char *pa = NULL, *pb = NULL, *v;
	uint64_t context = 3, count = 0;
	struct trace_reader *ra, *rb;
	struct ring ring = {0};
	struct trace_ev ea, eb;
	struct progress pg;
	struct out line;
	int ret = EXIT_DIFFERS;

	if (want_help(argc, argv))
		return diff_usage(stdout, EXIT_OK);
	for (int i = 1; i < argc; i++) {
		if ((v = opt_value(argc, argv, &i, "--context"))) {
			if (!parse_u64(v, &context) || context > MAX_CONTEXT) {
				fprintf(stderr, "dejavm-trace diff: --context: 0 to %d\n",
					MAX_CONTEXT);
				return EXIT_USAGE;
			}
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return diff_usage(stderr, EXIT_USAGE);
		} else if (!pa) {
			pa = argv[i];
		} else if (!pb) {
			pb = argv[i];
		} else {
			return diff_usage(stderr, EXIT_USAGE);
		}
	}
	if (!pb)
		return diff_usage(stderr, EXIT_USAGE);
	ra = open_trace(pa);
	rb = ra ? open_trace(pb) : NULL;
	if (!rb) {
		trace_reader_close(ra);
		return EXIT_DIFFERS;
	}
	note_configs(ra, rb);
	ring.n = context;
	ring.lines = calloc(context ? context : 1, sizeof(char *));
	out_init(&line, NULL);
	progress_init(&pg, ra, "diff");
	for (;; count++) {
		int ga = trace_reader_next(ra, &ea), gb = trace_reader_next(rb, &eb);

		progress_tick(&pg, ra);
		if (!ga && !gb) {
			progress_done(&pg);
			printf("identical: %" PRIu64 " events (timestamps ignored)\n", count);
			ret = EXIT_OK;
			break;
		}
		if (!ga || !gb) {
			progress_done(&pg);
			printf("%s ends after %" PRIu64 " events, %s goes on:\n", ga ? "B" : "A",
			       count, ga ? "A" : "B");
			print_context(&ring);
			line.len = 0;
			out_event_json(&line, ga ? &ea : &eb);
			printf("  %c %.*s  (%s)\n", ga ? '-' : '+', (int)line.len,
			       line.buf ? line.buf : "", ga ? "A" : "B");
			break;
		}
		line.len = 0;
		if (trace_ev_diff(&ea, &eb, &line)) {
			progress_done(&pg);
			printf("first difference at event %" PRIu64 " (seq %" PRIu64 "%s):\n",
			       count, ea.seq, ea.seq == eb.seq ? "" : " in A");
			print_context(&ring);
			printf("  differing: %.*s\n", (int)line.len, line.buf);
			line.len = 0;
			out_event_json(&line, &ea);
			printf("  - %.*s  (A, expected)\n", (int)line.len, line.buf);
			line.len = 0;
			out_event_json(&line, &eb);
			printf("  + %.*s  (B, actual)\n", (int)line.len, line.buf);
			break;
		}
		if (context) {
			line.len = 0;
			out_event_json(&line, &ea);
			ring_push(&ring, &line);
		}
	}
	fflush(stdout);
	/* A damaged file makes the comparison meaningless even if what was read is equal. */
	if (trace_reader_status(ra)->done && trace_reader_status(rb)->done) {
		if (report_status(ra) | report_status(rb))
			ret = EXIT_DIFFERS;
	} else {
		for (struct trace_reader *r = ra; r; r = r == ra ? rb : NULL)
			if (trace_reader_status(r)->message)
				fprintf(stderr, "dejavm-trace: %s\n",
					trace_reader_status(r)->message);
	}
	for (size_t i = 0; i < ring.n; i++)
		free(ring.lines[i]);
	free(ring.lines);
	out_free(&line);
	trace_reader_close(ra);
	trace_reader_close(rb);
	return ret;
}
