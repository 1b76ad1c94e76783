// SPDX-License-Identifier: MIT
/*
 * dejavm-trace: look into dejavm traces (docs/trace-format.md). Subcommands: info, dump, stats,
 * diff, export, schema. Exit status: 0 ok, 1 the traces differ or a file is truncated, damaged
 * or unreadable, 2 usage error.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: dejavm-trace COMMAND [ARGS]   (dejavm-trace COMMAND --help for more)\n"
		   "  info FILE [--json]          header, counts, sizes, completeness\n"
		   "  dump FILE [FILTERS]         events as JSON lines\n"
		   "  stats FILE [--json]         exits, PIO ports, MMIO pages, exit intervals\n"
		   "  diff A B [--context N]      first difference between two event streams\n"
		   "  export FILE --format perfetto [-o OUT]   Chrome trace-event JSON\n"
		   "  schema [--markdown]         the event schema\n"
		   "exit status: 0 ok, 1 differs / truncated / damaged / unreadable, 2 usage\n");
}

/* ---- schema ---- */

static const char *const kind_names[] = {"uint", "int",	 "bin",	  "str",  "map", "port",
					 "gpa",	 "size", "write", "pred", "reg"};

/* Markdown table cells: a '|' would end the cell. */
static void md_cell(const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			putchar('\\');
		putchar(*s);
	}
}

int cmd_schema(int argc, char **argv)
{
	bool md = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: dejavm-trace schema [--markdown]\n"
			       "Prints every event type with its fields, from the schema compiled "
			       "into this build\n(src/trace_events.h). --markdown: the tables of "
			       "docs/trace-format.md.\n");
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--markdown")) {
			md = true;
		} else {
			fprintf(stderr, "dejavm-trace schema: unexpected argument '%s'\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!md) {
		printf("dejavm trace format \"%s\" version %d, minor %d\n", TRACE_FORMAT_NAME,
		       TRACE_FORMAT_VERSION, TRACE_FORMAT_MINOR);
		printf("each event: [type, dseq, stream, dts, fields...]\n");
		for (unsigned int i = 0; i < trace_event_ndescs; i++) {
			const struct trace_event_desc *d = &trace_event_descs[i];

			printf("\n%u %s: %s\n", d->type, d->name, d->doc);
			for (unsigned int j = 0; j < d->nfields; j++)
				printf("  [%u] %-10s %-4s %s%s\n", TRACE_HEADER_FIELDS + j,
				       d->fields[j].name, kind_names[d->fields[j].kind],
				       j >= d->required ? "(appended: absent in older traces) "
							: "",
				       d->fields[j].doc);
		}
		return EXIT_OK;
	}
	printf("| type | name | fields | description |\n|---:|---|---|---|\n");
	for (unsigned int i = 0; i < trace_event_ndescs; i++) {
		const struct trace_event_desc *d = &trace_event_descs[i];

		printf("| %u | [`%s`](#%u-%s) | ", d->type, d->name, d->type, d->name);
		for (unsigned int j = 0; j < d->nfields; j++)
			printf("%s`%s`", j ? ", " : "", d->fields[j].name);
		printf(" | ");
		md_cell(d->doc);
		printf(" |\n");
	}
	for (unsigned int i = 0; i < trace_event_ndescs; i++) {
		const struct trace_event_desc *d = &trace_event_descs[i];

		printf("\n### %u `%s`\n\n", d->type, d->name);
		md_cell(d->doc);
		printf("\n\n`[%u, dseq, stream, dts", d->type);
		for (unsigned int j = 0; j < d->nfields; j++)
			printf(", %s", d->fields[j].name);
		printf("]`\n\n| index | field | kind | meaning |\n|---:|---|---|---|\n");
		for (unsigned int j = 0; j < d->nfields; j++) {
			printf("| %u | `%s` | %s | %s", TRACE_HEADER_FIELDS + j, d->fields[j].name,
			       kind_names[d->fields[j].kind],
			       j >= d->required ? "*Appended: absent in older traces.* " : "");
			md_cell(d->fields[j].doc);
			printf(" |\n");
		}
	}
	return EXIT_OK;
}

/* ---- info ---- */

/* Prints a header string without letting control characters reach the terminal. */
static void put_str(const msgpack_object *o)
{
	const char *s;
	size_t n;

	if (!trace_obj_str(o, &s, &n)) {
		fputs(o && o->type == MSGPACK_OBJECT_NIL ? "-" : "?", stdout);
		return;
	}
	for (size_t i = 0; i < n; i++)
		putchar((unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i]);
}

static uint64_t hdr_u64(const msgpack_object *h, const char *path)
{
	uint64_t v = 0;

	trace_obj_u64(trace_obj_get(h, path), &v);
	return v;
}

static void json_kv_obj(struct out *o, const char *key, const msgpack_object *v, bool comma)
{
	static const msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};

	if (comma)
		out_c(o, ',');
	out_json_str(o, key, strlen(key));
	out_c(o, ':');
	out_json_obj(o, v ? v : &nil);
}

static const char *status_word(const struct trace_status *st)
{
	return st->complete ? "complete" : st->damaged ? "damaged" : "truncated";
}

/* Landmarks at host-chosen points (fixed 0): the seq of the first few, and how many. */
struct host_points {
	uint64_t seq[8];
	uint64_t n;
};

static bool is_deterministic(const msgpack_object *h)
{
	const msgpack_object *d = trace_obj_get(h, "config.deterministic");

	return d && d->type == MSGPACK_OBJECT_BOOLEAN && d->via.boolean;
}

/* The checkpoints (seq, virtual time, bytes) of a trace recorded with --checkpoint-every. */
struct ckpt_list {
	const struct trace_checkpoint *c;
	size_t n;
};

static void info_json(const struct trace_reader *r, const uint64_t *by_type, const bool *streams,
		      const msgpack_object *end, size_t event_frames, const struct host_points *hp,
		      const struct ckpt_list *ck)
{
	const struct trace_status *st = trace_reader_status(r);
	const msgpack_object *h = trace_reader_header(r);
	static const char *const keys[] = {"version",  "minor",	 "dejavm_version",
					   "build_id", "host",	 "config",
					   "cmdline",  "images", "restored"};
	const char *const *probs;
	struct out o;
	size_t np;
	bool first = true;

	out_init(&o, stdout);
	out_s(&o, "{\"file\":");
	out_json_str(&o, trace_reader_path(r), strlen(trace_reader_path(r)));
	json_kv_obj(&o, "format", trace_obj_get(h, "format"), true);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		json_kv_obj(&o, keys[i], trace_obj_get(h, keys[i]), true);
	out_s(&o, ",\"cpuid_entries\":");
	const msgpack_object *cpuid = trace_obj_get(h, "cpuid");
	out_u64(&o, cpuid && cpuid->type == MSGPACK_OBJECT_ARRAY ? cpuid->via.array.size : 0);
	out_s(&o, ",\"events\":");
	out_u64(&o, st->events);
	out_s(&o, ",\"by_type\":{");
	for (unsigned int t = 0; t <= TRACE_TYPE_MAX; t++) {
		const struct trace_event_desc *d = trace_event_desc(t);
		char name[32];

		if (!by_type[t])
			continue;
		if (d)
			snprintf(name, sizeof(name), "%s", d->name);
		else if (t < TRACE_TYPE_MAX)
			snprintf(name, sizeof(name), "%u", t);
		else
			snprintf(name, sizeof(name), "other");
		if (!first)
			out_c(&o, ',');
		first = false;
		out_json_str(&o, name, strlen(name));
		out_c(&o, ':');
		out_u64(&o, by_type[t]);
	}
	out_s(&o, "},\"first_seq\":");
	out_u64(&o, st->first_seq);
	out_s(&o, ",\"last_seq\":");
	out_u64(&o, st->last_seq);
	out_s(&o, ",\"missing\":");
	out_u64(&o, st->missing);
	out_s(&o, ",\"streams\":[");
	first = true;
	for (unsigned int s = 0; s < 256; s++) {
		if (!streams[s])
			continue;
		if (!first)
			out_c(&o, ',');
		first = false;
		out_u64(&o, s);
	}
	out_s(&o, "],\"duration_ns\":");
	out_u64(&o, st->last_ts);
	out_s(&o, ",\"compressed_bytes\":");
	out_u64(&o, st->file_size);
	out_s(&o, ",\"raw_bytes\":");
	out_u64(&o, st->raw_bytes);
	out_printf(&o, ",\"bytes_per_event\":%.3f",
		   st->events ? (double)st->file_size / st->events : 0.0);
	out_s(&o, ",\"frames\":");
	out_u64(&o, st->frames);
	out_s(&o, ",\"event_frames\":");
	out_u64(&o, event_frames);
	out_printf(&o, ",\"index\":%s", st->has_index ? "true" : "false");
	out_printf(&o, ",\"status\":\"%s\"", status_word(st));
	out_printf(&o, ",\"truncated\":%s,\"damaged\":%s", st->truncated ? "true" : "false",
		   st->damaged ? "true" : "false");
	if (!st->complete) {
		out_s(&o, ",\"problem_offset\":");
		out_u64(&o, st->problem_offset);
	}
	out_s(&o, ",\"problems\":[");
	probs = trace_reader_problems(r, &np);
	for (size_t i = 0; i < np; i++) {
		if (i)
			out_c(&o, ',');
		out_json_str(&o, probs[i], strlen(probs[i]));
	}
	out_printf(&o,
		   "],\"reproducible\":%s,\"host_chosen_landmarks\":%" PRIu64
		   ",\"host_chosen_seqs\":[",
		   is_deterministic(h) && !hp->n ? "true" : "false", hp->n);
	for (uint64_t i = 0; i < hp->n && i < 8; i++)
		out_printf(&o, "%s%" PRIu64, i ? "," : "", hp->seq[i]);
	out_s(&o, "],\"checkpoints\":[");
	for (size_t i = 0; i < ck->n; i++)
		out_printf(&o,
			   "%s{\"seq\":%" PRIu64 ",\"vtime_ns\":%" PRIu64 ",\"bytes\":%" PRIu64
			   ",\"offset\":%" PRIu64 "}",
			   i ? "," : "", ck->c[i].seq, ck->c[i].vtime_ns, ck->c[i].size,
			   ck->c[i].offset);
	out_s(&o, "],\"end\":");
	if (end) {
		static const char *const ek[] = {"status",   "reason", "events",	  "lost",
						 "stall_ns", "exits",  "nondeterministic"};
		size_t n = end->via.array.size - TRACE_HEADER_FIELDS; /* the reader checked it */

		out_c(&o, '{');
		for (size_t i = 0; i < sizeof(ek) / sizeof(ek[0]) && i < n; i++)
			json_kv_obj(&o, ek[i], &end->via.array.ptr[TRACE_HEADER_FIELDS + i], i);
		out_c(&o, '}');
	} else {
		out_s(&o, "null");
	}
	out_s(&o, "}\n");
	out_flush(&o);
	out_free(&o);
}

static void human_bytes(uint64_t b, char *buf, size_t len)
{
	if (b >= 10ULL << 30)
		snprintf(buf, len, "%.1f GiB", b / 1073741824.0);
	else if (b >= 10ULL << 20)
		snprintf(buf, len, "%.1f MiB", b / 1048576.0);
	else if (b >= 10ULL << 10)
		snprintf(buf, len, "%.1f KiB", b / 1024.0);
	else
		snprintf(buf, len, "%" PRIu64 " bytes", b);
}

static void info_text(const struct trace_reader *r, const uint64_t *by_type, const bool *streams,
		      const msgpack_object *end, size_t event_frames, const struct host_points *hp,
		      const struct ckpt_list *ck)
{
	const struct trace_status *st = trace_reader_status(r);
	const msgpack_object *h = trace_reader_header(r), *images = trace_obj_get(h, "images");
	const char *const *probs;
	char a[32], b[32];
	size_t np;

	printf("file        %s\n", trace_reader_path(r));
	printf("format      ");
	put_str(trace_obj_get(h, "format"));
	if (trace_obj_get(h, "minor"))
		printf(" version %" PRIu64 " minor %" PRIu64 ", written by dejavm ",
		       hdr_u64(h, "version"), hdr_u64(h, "minor"));
	else /* minors 0 and 1 did not say */
		printf(" version %" PRIu64 " minor 0-1, written by dejavm ", hdr_u64(h, "version"));
	put_str(trace_obj_get(h, "dejavm_version"));
	printf(" (build id ");
	put_str(trace_obj_get(h, "build_id"));
	printf(")\nhost        ");
	put_str(trace_obj_get(h, "host.kernel"));
	printf(" ");
	put_str(trace_obj_get(h, "host.machine"));
	printf(", KVM API %" PRIu64 "\n", hdr_u64(h, "host.kvm_api"));
	printf("config      kernel ");
	put_str(trace_obj_get(h, "config.kernel"));
	printf(", initramfs ");
	put_str(trace_obj_get(h, "config.initramfs"));
	printf("\n            cmdline \"");
	put_str(trace_obj_get(h, "config.cmdline"));
	human_bytes(hdr_u64(h, "config.memory"), a, sizeof(a));
	printf("\", cpus %" PRIu64 ", memory %s, serial ", hdr_u64(h, "config.cpus"), a);
	put_str(trace_obj_get(h, "config.serial"));
	printf("\n");
	for (uint32_t i = 0;
	     images && images->type == MSGPACK_OBJECT_ARRAY && i < images->via.array.size; i++) {
		const msgpack_object *im = &images->via.array.ptr[i];

		printf(i ? "            " : "images      ");
		put_str(trace_obj_get(im, "role"));
		printf(" ");
		put_str(trace_obj_get(im, "path"));
		printf(", %" PRIu64 " bytes, sha256 ", hdr_u64(im, "size"));
		put_str(trace_obj_get(im, "sha256"));
		printf("\n");
	}
	printf("events      %" PRIu64, st->events);
	if (st->events)
		printf(", seq %" PRIu64 "..%" PRIu64, st->first_seq, st->last_seq);
	if (st->missing)
		printf(" (%" PRIu64 " missing)", st->missing);
	printf(", streams");
	for (unsigned int s = 0; s < 256; s++)
		if (streams[s])
			printf(s == TRACE_VCPU_NONE ? " vmm" : " vcpu%u", s);
	printf("\n");
	for (unsigned int t = 0; t <= TRACE_TYPE_MAX; t++) {
		const struct trace_event_desc *d = trace_event_desc(t);

		if (!by_type[t])
			continue;
		if (d)
			printf("  %-10s %12" PRIu64 "\n", d->name, by_type[t]);
		else if (t < TRACE_TYPE_MAX)
			printf("  type %-5u %12" PRIu64 "  (unknown to this reader)\n", t,
			       by_type[t]);
		else
			printf("  type >=%-3u %11" PRIu64 "  (unknown to this reader)\n", t,
			       by_type[t]);
	}
	printf("duration    %.6f s (last ts %" PRIu64 " ns)\n", st->last_ts / 1e9, st->last_ts);
	human_bytes(st->file_size, a, sizeof(a));
	human_bytes(st->raw_bytes, b, sizeof(b));
	printf("size        %s compressed (%" PRIu64 " bytes), %s raw (%" PRIu64
	       " bytes), %.2f bytes/event compressed\n",
	       a, st->file_size, b, st->raw_bytes,
	       st->events ? (double)st->file_size / st->events : 0.0);
	printf("frames      %" PRIu64 " (header, %zu event frames, %zu checkpoints, %" PRIu64
	       " other)%s\n",
	       st->frames, event_frames, ck->n, st->frames - event_frames - ck->n - 1,
	       st->has_index ? ", index and seek table present" : ", no index");
	if (trace_obj_get(h, "restored")) {
		printf("restored    from the snapshot ");
		put_str(trace_obj_get(h, "restored.snapshot"));
		printf(": its events go on from seq %" PRIu64 "\n", hdr_u64(h, "first_seq"));
	}
	for (size_t i = 0; i < ck->n; i++) {
		human_bytes(ck->c[i].size, a, sizeof(a));
		printf("%s%3zu at seq %" PRIu64 ", virtual time %.3f ms, %s\n",
		       i ? "            " : "checkpoints ", i, ck->c[i].seq,
		       ck->c[i].vtime_ns / 1e6, a);
	}
	if (st->complete)
		printf("status      complete\n");
	else
		printf("status      %s at offset %" PRIu64 "\n", status_word(st),
		       st->problem_offset);
	probs = trace_reader_problems(r, &np);
	for (size_t i = 0; i < np; i++)
		printf("  %s\n", probs[i]);
	if (!is_deterministic(h)) {
		printf("reproducible no: recorded in normal mode (host time, KVM's interrupts)\n");
	} else if (hp->n) {
		printf("reproducible no: %" PRIu64 " landmark%s at host-chosen points (seq", hp->n,
		       hp->n == 1 ? "" : "s");
		for (uint64_t i = 0; i < hp->n && i < 8; i++)
			printf(" %" PRIu64, hp->seq[i]);
		printf("%s): a loop that counts while it waits got time where the host\n"
		       "            stopped it\n",
		       hp->n > 8 ? " ..." : "");
	} else {
		printf("reproducible yes: deterministic, %" PRIu64 " landmark%s, all at fixed "
		       "points\n",
		       by_type[TRACE_landmark], by_type[TRACE_landmark] == 1 ? "" : "s");
	}
	if (end) {
		const msgpack_object *f = end->via.array.ptr + TRACE_HEADER_FIELDS;

		printf("end         status %" PRId64 ", reason \"", f[0].via.i64);
		put_str(&f[1]);
		printf("\", lost %" PRIu64 ", stall %" PRIu64 " ns\n            exits",
		       f[3].via.u64, f[4].via.u64);
		for (uint32_t i = 0; i < f[5].via.map.size; i++) {
			printf(" ");
			put_str(&f[5].via.map.ptr[i].key);
			printf(" %" PRIu64, f[5].via.map.ptr[i].val.via.u64);
		}
		printf("\n");
	} else {
		printf("end         none\n");
	}
}

/* A deep copy of the end event's array (its memory goes away with the next event). */
static msgpack_object *copy_end(const struct trace_ev *ev, msgpack_zone *z)
{
	msgpack_object *o = msgpack_zone_malloc(z, sizeof(*o));
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t off = 0;
	char *data;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, *ev->raw);
	data = msgpack_zone_malloc(z, sb.size ? sb.size : 1);
	if (!o || !data) {
		msgpack_sbuffer_destroy(&sb);
		return NULL;
	}
	memcpy(data, sb.data, sb.size);
	if (msgpack_unpack(data, sb.size, &off, z, o) != MSGPACK_UNPACK_SUCCESS)
		o = NULL;
	msgpack_sbuffer_destroy(&sb);
	return o;
}

int cmd_info(int argc, char **argv)
{
	uint64_t by_type[TRACE_TYPE_MAX + 1] = {0};
	bool streams[256] = {false}, json = false;
	const struct trace_frame_info *frames;
	const msgpack_object *end = NULL;
	struct host_points hp = {{0}, 0};
	struct ckpt_list ck;
	const char *path = NULL;
	struct trace_reader *r;
	struct progress pg;
	struct trace_ev ev;
	size_t nframes, event_frames = 0;
	msgpack_zone zone;
	int ret;

	if (want_help(argc, argv)) {
		printf("usage: dejavm-trace info FILE [--json]\n"
		       "Header (format, dejavm version and build, host, config, images), events by "
		       "type,\nseq range, duration, sizes, frames, whether the trace is complete "
		       "(or where it\nis truncated or damaged) and the end event. Exit status 1 "
		       "if it is not complete.\n");
		return EXIT_OK;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "dejavm-trace info: unknown option '%s'\n", argv[i]);
			return EXIT_USAGE;
		} else if (!path) {
			path = argv[i];
		} else {
			fprintf(stderr, "dejavm-trace info: one FILE only\n");
			return EXIT_USAGE;
		}
	}
	if (!path) {
		fprintf(stderr, "usage: dejavm-trace info FILE [--json]\n");
		return EXIT_USAGE;
	}
	r = open_trace(path);
	if (!r)
		return EXIT_DIFFERS;
	msgpack_zone_init(&zone, 4096);
	progress_init(&pg, r, "info");
	while (trace_reader_next(r, &ev) > 0) {
		by_type[ev.type < TRACE_TYPE_MAX ? ev.type : TRACE_TYPE_MAX]++;
		streams[ev.stream] = true;
		if (ev.type == TRACE_landmark) {
			uint64_t fixed = 1;

			trace_obj_u64(trace_ev_field(&ev, "fixed"), &fixed);
			if (!fixed && hp.n++ < 8)
				hp.seq[hp.n - 1] = ev.seq;
		}
		if (ev.type == TRACE_end) {
			msgpack_zone_clear(&zone);
			end = copy_end(&ev, &zone);
		} else {
			end = NULL; /* only the last event counts */
		}
		progress_tick(&pg, r);
	}
	progress_done(&pg);
	frames = trace_reader_frames(r, &nframes);
	for (size_t i = 0; i < nframes; i++)
		event_frames += frames[i].kind == TRACE_FRAME_EVENTS;
	ck.c = trace_reader_checkpoints(r, &ck.n);
	if (json)
		info_json(r, by_type, streams, end, event_frames, &hp, &ck);
	else
		info_text(r, by_type, streams, end, event_frames, &hp, &ck);
	fflush(stdout);
	ret = trace_reader_status(r)->complete ? EXIT_OK : EXIT_DIFFERS;
	if (ret)
		fprintf(stderr, "dejavm-trace: %s\n", trace_reader_status(r)->message);
	msgpack_zone_destroy(&zone);
	trace_reader_close(r);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{"info", cmd_info}, {"dump", cmd_dump},	    {"stats", cmd_stats},
		{"diff", cmd_diff}, {"export", cmd_export}, {"schema", cmd_schema},
	};

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "dejavm-trace: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
