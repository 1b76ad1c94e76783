// SPDX-License-Identifier: MIT
/* dejavm-trace dump (JSON lines) and export (Chrome trace-event JSON for Perfetto). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

#define MAX_TYPES 64

struct filter {
	uint64_t types[MAX_TYPES];
	size_t ntypes;
	uint64_t from, to, port, addr, limit;
	bool has_port, has_addr;
};

static bool parse_types(const char *arg, struct filter *f)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	bool ok = copy != NULL;

	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && ok;
	     tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		bool found = false;

		if (f->ntypes == MAX_TYPES) {
			ok = false;
			break;
		}
		for (unsigned int i = 0; i < trace_event_ndescs; i++) {
			if (!strcmp(tok, trace_event_descs[i].name)) {
				f->types[f->ntypes++] = trace_event_descs[i].type;
				found = true;
			}
		}
		if (!found && parse_u64(tok, &v))
			f->types[f->ntypes++] = v, found = true;
		if (!found) {
			fprintf(stderr, "dejavm-trace dump: unknown event type '%s'\n", tok);
			ok = false;
		}
	}
	free(copy);
	return ok && f->ntypes;
}

static bool filter_match(const struct filter *f, const struct trace_ev *ev)
{
	if (f->ntypes) {
		bool found = false;

		for (size_t i = 0; i < f->ntypes && !found; i++)
			found = f->types[i] == ev->type;
		if (!found)
			return false;
	}
	if (f->has_port || f->has_addr) {
		uint64_t a, len;

		if (f->has_port && ev->type == TRACE_pio &&
		    trace_obj_u64(trace_ev_field(ev, "port"), &a) && a == f->port)
			return true;
		if (f->has_addr && ev->type == TRACE_mmio &&
		    trace_obj_u64(trace_ev_field(ev, "addr"), &a) &&
		    trace_obj_u64(trace_ev_field(ev, "len"), &len) && f->addr >= a &&
		    f->addr - a < (len ? len : 1))
			return true;
		return false;
	}
	return true;
}

static int dump_usage(FILE *f, int ret)
{
	fprintf(f,
		"usage: dejavm-trace dump FILE [--type T[,T..]] [--from SEQ] [--to SEQ] [--port P]\n"
		"                         [--addr A] [--limit N]\n"
		"One JSON object per line per event, in seq order:\n"
		"  {\"seq\":S,\"ts\":NS,\"stream\":V,\"type\":\"pio\",<fields by schema name>}\n"
		"bin fields are lowercase hex (serial data also as \"text\"), maps are objects,\n"
		"unknown types are {..,\"type\":N,\"raw\":[fields]}, fields a newer writer added\n"
		"are in \"extra\":[..].\n"
		"  --type    event type names or numbers (dejavm-trace schema)\n"
		"  --from/--to  seq range, inclusive\n"
		"  --port P  only pio events on port P; --addr A: only mmio events covering A\n"
		"            (both: either); numbers are decimal or 0x hex\n"
		"  --limit N stop after N events\n");
	return ret;
}

int cmd_dump(int argc, char **argv)
{
	struct filter f = {.to = UINT64_MAX, .limit = UINT64_MAX};
	const char *path = NULL, *v;
	struct trace_reader *r;
	struct progress pg;
	struct trace_ev ev;
	uint64_t shown = 0;
	bool early = false;
	struct out o;
	int ret;

	if (want_help(argc, argv))
		return dump_usage(stdout, EXIT_OK);
	for (int i = 1; i < argc; i++) {
		uint64_t *num = NULL;

		if ((v = opt_value(argc, argv, &i, "--type"))) {
			if (!parse_types(v, &f))
				return dump_usage(stderr, EXIT_USAGE);
			continue;
		}
		if ((v = opt_value(argc, argv, &i, "--from")))
			num = &f.from;
		else if ((v = opt_value(argc, argv, &i, "--to")))
			num = &f.to;
		else if ((v = opt_value(argc, argv, &i, "--port")))
			num = &f.port, f.has_port = true;
		else if ((v = opt_value(argc, argv, &i, "--addr")))
			num = &f.addr, f.has_addr = true;
		else if ((v = opt_value(argc, argv, &i, "--limit")))
			num = &f.limit;
		if (num) {
			if (!parse_u64(v, num)) {
				fprintf(stderr, "dejavm-trace dump: '%s' is not a number\n", v);
				return EXIT_USAGE;
			}
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "dejavm-trace dump: unknown option '%s'\n", argv[i]);
			return dump_usage(stderr, EXIT_USAGE);
		} else if (!path) {
			path = argv[i];
		} else {
			fprintf(stderr, "dejavm-trace dump: one FILE only\n");
			return EXIT_USAGE;
		}
	}
	if (!path)
		return dump_usage(stderr, EXIT_USAGE);
	r = open_trace(path);
	if (!r)
		return EXIT_DIFFERS;
	out_init(&o, stdout);
	progress_init(&pg, r, "dump");
	while (shown < f.limit && trace_reader_next(r, &ev) > 0) {
		progress_tick(&pg, r);
		if (ev.seq < f.from || !filter_match(&f, &ev))
			continue;
		if (ev.seq > f.to) {
			early = true;
			break;
		}
		out_event_json(&o, &ev);
		out_c(&o, '\n');
		shown++;
		if (o.failed)
			break;
	}
	if (shown == f.limit)
		early = true;
	progress_done(&pg);
	if (out_flush(&o)) {
		fprintf(stderr, "dejavm-trace dump: cannot write the output: %s\n",
			strerror(errno));
		ret = EXIT_DIFFERS;
	} else if (early) {
		/* Stopped before the end: only problems seen so far count. */
		ret = trace_reader_status(r)->message ? report_status(r) : EXIT_OK;
	} else {
		ret = report_status(r);
	}
	out_free(&o);
	trace_reader_close(r);
	return ret;
}

/* ---- export ---- */

#define TID_VMM	   256
#define TID_SERIAL 257

static unsigned int tid_of(unsigned int stream)
{
	return stream == TRACE_VCPU_NONE ? TID_VMM : stream + 1;
}

struct pending_exit {
	bool on;
	uint64_t ts, reason, rip;
};

struct exporter {
	struct out o;
	bool first;
	bool seen[256];
	struct pending_exit pend[256];
};

static void ev_begin(struct exporter *x)
{
	out_s(&x->o, x->first ? "\n" : ",\n");
	x->first = false;
}

static void thread_meta(struct exporter *x, unsigned int tid, const char *name, unsigned int sort)
{
	ev_begin(x);
	out_s(&x->o, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":");
	out_u64(&x->o, tid);
	out_s(&x->o, ",\"args\":{\"name\":");
	out_json_str(&x->o, name, strlen(name));
	out_s(&x->o, "}}");
	ev_begin(x);
	out_s(&x->o, "{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":");
	out_u64(&x->o, tid);
	out_s(&x->o, ",\"args\":{\"sort_index\":");
	out_u64(&x->o, sort);
	out_s(&x->o, "}}");
}

static void close_exit(struct exporter *x, unsigned int stream, uint64_t end_ts)
{
	struct pending_exit *p = &x->pend[stream];
	char buf[32];

	if (!p->on)
		return;
	p->on = false;
	ev_begin(x);
	out_s(&x->o, "{\"name\":");
	const char *name = exit_reason_str(p->reason, buf, sizeof(buf));
	out_json_str(&x->o, name, strlen(name));
	out_s(&x->o, ",\"cat\":\"exit\",\"ph\":\"X\",\"pid\":1,\"tid\":");
	out_u64(&x->o, tid_of(stream));
	out_s(&x->o, ",\"ts\":");
	out_us(&x->o, p->ts);
	out_s(&x->o, ",\"dur\":");
	out_us(&x->o, end_ts > p->ts ? end_ts - p->ts : 0);
	out_s(&x->o, ",\"args\":{\"reason\":");
	out_u64(&x->o, p->reason);
	out_printf(&x->o, ",\"rip\":\"0x%" PRIx64 "\"}}", p->rip);
}

/* An instant event; the caller writes the args object's members after it, then "}}". */
static void instant(struct exporter *x, const char *name, size_t nlen, const char *cat,
		    unsigned int tid, uint64_t ts, bool global)
{
	ev_begin(x);
	out_s(&x->o, "{\"name\":");
	out_json_str(&x->o, name, nlen);
	out_s(&x->o, ",\"cat\":\"");
	out_s(&x->o, cat);
	out_s(&x->o, global ? "\",\"ph\":\"i\",\"s\":\"g\",\"pid\":1,\"tid\":"
			    : "\",\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":");
	out_u64(&x->o, tid);
	out_s(&x->o, ",\"ts\":");
	out_us(&x->o, ts);
	out_s(&x->o, ",\"args\":{");
}

static void export_event(struct exporter *x, const struct trace_ev *ev)
{
	const msgpack_object *f = ev->fields;
	unsigned int tid = tid_of(ev->stream);
	char name[96];

	if (!x->seen[ev->stream]) {
		char tname[32];

		x->seen[ev->stream] = true;
		if (ev->stream == TRACE_VCPU_NONE)
			snprintf(tname, sizeof(tname), "vmm");
		else
			snprintf(tname, sizeof(tname), "vCPU %u", ev->stream);
		thread_meta(x, tid, tname, tid);
	}
	if (!ev->desc) {
		snprintf(name, sizeof(name), "type %u", ev->type);
		instant(x, name, strlen(name), "unknown", tid, ev->ts, false);
		out_s(&x->o, "\"raw\":[");
		for (uint32_t i = 0; i < ev->nfields; i++) {
			if (i)
				out_c(&x->o, ',');
			out_json_obj(&x->o, &f[i]);
		}
		out_s(&x->o, "]}}");
		return;
	}
	switch (ev->type) {
	case TRACE_exit:
		close_exit(x, ev->stream, ev->ts);
		x->pend[ev->stream] =
			(struct pending_exit){true, ev->ts, f[0].via.u64, f[1].via.u64};
		return;
	case TRACE_pio:
	case TRACE_mmio:
		snprintf(name, sizeof(name), "%s %s 0x%" PRIx64, ev->desc->name,
			 f[2].via.u64 ? "write" : "read", f[0].via.u64);
		instant(x, name, strlen(name), ev->desc->name, tid, ev->ts, false);
		out_printf(&x->o,
			   "\"%s\":\"0x%" PRIx64 "\",\"size\":%" PRIu64 ",\"value\":\"0x%" PRIx64
			   "\",\"handled\":%" PRIu64 "}}",
			   ev->type == TRACE_pio ? "port" : "addr", f[0].via.u64, f[1].via.u64,
			   f[3].via.u64, f[4].via.u64);
		return;
	case TRACE_serial: {
		size_t n = f[1].via.bin.size;

		while (n && (f[1].via.bin.ptr[n - 1] == '\n' || f[1].via.bin.ptr[n - 1] == '\r'))
			n--;
		instant(x, n ? f[1].via.bin.ptr : "(empty)", n ? n : 7, "serial", TID_SERIAL,
			ev->ts, false);
		out_s(&x->o, "\"text\":");
		out_json_str(&x->o, f[1].via.bin.ptr, f[1].via.bin.size);
		out_printf(&x->o, ",\"port\":\"0x%" PRIx64 "\",\"stream\":%u}}", f[0].via.u64,
			   ev->stream);
		return;
	}
	case TRACE_irq:
		snprintf(name, sizeof(name), "irq %" PRIu64 " %s", f[0].via.u64,
			 f[1].via.u64 ? "raise" : "lower");
		instant(x, name, strlen(name), "irq", tid, ev->ts, false);
		out_printf(&x->o, "\"line\":%" PRIu64 ",\"level\":%" PRIu64 "}}", f[0].via.u64,
			   f[1].via.u64);
		return;
	case TRACE_end:
		for (unsigned int s = 0; s < 256; s++)
			close_exit(x, s, ev->ts);
		/* fallthrough */
	default: {
		/* mem_write, end and types added later: the schema fields as args. */
		size_t nl = snprintf(name, sizeof(name), "%s", ev->desc->name);

		if (ev->type == TRACE_mem_write && f[3].via.str.size)
			nl = snprintf(name, sizeof(name), "mem_write %.*s",
				      (int)(f[3].via.str.size < 64 ? f[3].via.str.size : 64),
				      f[3].via.str.ptr);
		else if (ev->type == TRACE_end)
			nl = snprintf(name, sizeof(name), "end: %.*s",
				      (int)(f[1].via.str.size < 64 ? f[1].via.str.size : 64),
				      f[1].via.str.ptr);
		if (nl >= sizeof(name))
			nl = sizeof(name) - 1;
		instant(x, name, nl, ev->desc->name, tid, ev->ts, ev->type == TRACE_end);
		for (unsigned int i = 0; i < ev->desc->nfields && i < ev->nfields; i++) {
			if (i)
				out_c(&x->o, ',');
			out_json_str(&x->o, ev->desc->fields[i].name,
				     strlen(ev->desc->fields[i].name));
			out_c(&x->o, ':');
			out_json_obj(&x->o, &f[i]);
		}
		out_s(&x->o, "}}");
		return;
	}
	}
}

static int export_usage(FILE *f, int ret)
{
	fprintf(f, "usage: dejavm-trace export FILE --format perfetto [-o OUT]\n"
		   "Writes Chrome trace-event JSON ({\"traceEvents\":[...]}) that ui.perfetto.dev "
		   "and\nchrome://tracing open: one track per vCPU with each exit as a slice "
		   "until the\nnext exit (named by exit reason), PIO/MMIO/IRQ/memory writes as "
		   "instant events\nwith their values, a \"serial\" track with the guest's output "
		   "lines, and the end\nevent. ts is in microseconds. Default output: stdout.\n");
	return ret;
}

int cmd_export(int argc, char **argv)
{
	const char *path = NULL, *format = NULL, *outp = NULL, *v;
	struct exporter *x;
	struct trace_reader *r;
	struct progress pg;
	struct trace_ev ev;
	const msgpack_object *h;
	FILE *f = stdout;
	int ret;

	if (want_help(argc, argv))
		return export_usage(stdout, EXIT_OK);
	for (int i = 1; i < argc; i++) {
		if ((v = opt_value(argc, argv, &i, "--format")))
			format = v;
		else if ((v = opt_value(argc, argv, &i, "-o")) ||
			 (v = opt_value(argc, argv, &i, "--output")))
			outp = v;
		else if (argv[i][0] == '-' && argv[i][1])
			return export_usage(stderr, EXIT_USAGE);
		else if (!path)
			path = argv[i];
		else
			return export_usage(stderr, EXIT_USAGE);
	}
	if (!path || !format)
		return export_usage(stderr, EXIT_USAGE);
	if (strcmp(format, "perfetto") && strcmp(format, "chrome")) {
		fprintf(stderr, "dejavm-trace export: unknown format '%s' (perfetto)\n", format);
		return EXIT_USAGE;
	}
	r = open_trace(path);
	if (!r)
		return EXIT_DIFFERS;
	if (outp && strcmp(outp, "-") && !(f = fopen(outp, "w"))) {
		fprintf(stderr, "dejavm-trace export: %s: %s\n", outp, strerror(errno));
		trace_reader_close(r);
		return EXIT_DIFFERS;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		fprintf(stderr, "dejavm-trace export: out of memory\n");
		exit(EXIT_DIFFERS);
	}
	out_init(&x->o, f);
	x->first = true;
	h = trace_reader_header(r);
	out_s(&x->o, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"format\":\"dejavm-trace\"");
	const char *keys[] = {"dejavm_version", "cmdline", "config.kernel"};
	for (size_t i = 0; i < 3; i++) {
		const char *s;
		size_t n;

		if (trace_obj_str(trace_obj_get(h, keys[i]), &s, &n)) {
			out_s(&x->o, ",\"");
			out_s(&x->o, keys[i]);
			out_s(&x->o, "\":");
			out_json_str(&x->o, s, n);
		}
	}
	out_s(&x->o, "},\"traceEvents\":[");
	ev_begin(x);
	out_s(&x->o, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,"
		     "\"args\":{\"name\":\"dejavm\"}}");
	thread_meta(x, TID_SERIAL, "serial", TID_SERIAL);
	progress_init(&pg, r, "export");
	while (trace_reader_next(r, &ev) > 0) {
		export_event(x, &ev);
		progress_tick(&pg, r);
	}
	progress_done(&pg);
	for (unsigned int s = 0; s < 256; s++)
		close_exit(x, s, trace_reader_status(r)->last_ts);
	out_s(&x->o, "\n]}\n");
	ret = report_status(r);
	int werr = out_flush(&x->o);

	if (f != stdout && fclose(f))
		werr = -1;
	if (werr) {
		fprintf(stderr, "dejavm-trace export: cannot write %s: %s\n",
			outp ? outp : "stdout", strerror(errno));
		ret = EXIT_DIFFERS;
	}
	out_free(&x->o);
	free(x);
	trace_reader_close(r);
	return ret;
}
