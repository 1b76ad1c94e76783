// SPDX-License-Identifier: MIT
/* dejavm-trace: output buffer, JSON encoding, progress bar, option helpers. */
#include "out.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"

#define OUT_CHUNK (1u << 16)

void out_init(struct out *o, FILE *f)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
}

void out_free(struct out *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

int out_flush(struct out *o)
{
	if (o->f && o->len) {
		if (fwrite(o->buf, 1, o->len, o->f) != o->len)
			o->failed = true;
		o->len = 0;
	}
	if (o->f && fflush(o->f))
		o->failed = true;
	return o->failed ? -1 : 0;
}

static void out_reserve(struct out *o, size_t n)
{
	if (o->f && o->len + n > OUT_CHUNK && o->len) {
		if (fwrite(o->buf, 1, o->len, o->f) != o->len)
			o->failed = true;
		o->len = 0;
	}
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : OUT_CHUNK;
		char *p;

		while (cap < o->len + n)
			cap *= 2;
		p = realloc(o->buf, cap);
		if (!p) {
			fprintf(stderr, "dejavm-trace: out of memory\n");
			exit(EXIT_DIFFERS);
		}
		o->buf = p;
		o->cap = cap;
	}
}

void out_mem(struct out *o, const void *p, size_t n)
{
	if (!n)
		return;
	out_reserve(o, n);
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

void out_s(struct out *o, const char *s)
{
	out_mem(o, s, strlen(s));
}

void out_c(struct out *o, char c)
{
	out_reserve(o, 1);
	o->buf[o->len++] = c;
}

void out_u64(struct out *o, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[sizeof(tmp) - 1 - n++] = '0' + v % 10;
		v /= 10;
	} while (v);
	out_mem(o, tmp + sizeof(tmp) - n, n);
}

void out_i64(struct out *o, int64_t v)
{
	if (v < 0) {
		out_c(o, '-');
		out_u64(o, -(uint64_t)v);
	} else {
		out_u64(o, v);
	}
}

void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	out_reserve(o, n + 1);
	va_start(ap, fmt);
	vsnprintf(o->buf + o->len, n + 1, fmt, ap);
	va_end(ap);
	o->len += n;
}

static const char hexd[] = "0123456789abcdef";

void out_hex(struct out *o, const void *p, size_t n)
{
	const uint8_t *b = p;

	out_reserve(o, 2 * n);
	for (size_t i = 0; i < n; i++) {
		o->buf[o->len++] = hexd[b[i] >> 4];
		o->buf[o->len++] = hexd[b[i] & 15];
	}
}

static void out_u16esc(struct out *o, unsigned int cp)
{
	char e[6] = {'\\',	   'u', hexd[cp >> 12 & 15], hexd[cp >> 8 & 15], hexd[cp >> 4 & 15],
		     hexd[cp & 15]};

	out_mem(o, e, 6);
}

/* Length of the valid UTF-8 sequence at p (strict: no overlongs, surrogates, > U+10FFFF), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n, unsigned int *cp)
{
	uint8_t c = p[0];
	size_t len;
	uint8_t lo = 0x80, hi = 0xbf;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		*cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		*cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		*cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		uint8_t b = p[i];

		if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf))
			return 0;
		*cp = *cp << 6 | (b & 0x3f);
	}
	return len;
}

void out_json_str(struct out *o, const void *data, size_t n)
{
	const uint8_t *p = data;

	out_c(o, '"');
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		unsigned int cp;
		size_t len;

		if (c >= 0x20 && c < 0x7f) {
			if (c == '"' || c == '\\')
				out_c(o, '\\');
			out_c(o, c);
			i++;
			continue;
		}
		switch (c) {
		case '\n':
			out_mem(o, "\\n", 2), i++;
			continue;
		case '\r':
			out_mem(o, "\\r", 2), i++;
			continue;
		case '\t':
			out_mem(o, "\\t", 2), i++;
			continue;
		case '\b':
			out_mem(o, "\\b", 2), i++;
			continue;
		case '\f':
			out_mem(o, "\\f", 2), i++;
			continue;
		}
		len = utf8_seq(p + i, n - i, &cp);
		if (!len) {
			cp = 0xfffd;
			len = 1;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			out_u16esc(o, 0xd800 | cp >> 10);
			out_u16esc(o, 0xdc00 | (cp & 0x3ff));
		} else {
			out_u16esc(o, cp);
		}
		i += len;
	}
	out_c(o, '"');
}

void out_json_obj(struct out *o, const msgpack_object *obj)
{
	char num[40];

	switch (obj->type) {
	case MSGPACK_OBJECT_NIL:
		out_s(o, "null");
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		out_s(o, obj->via.boolean ? "true" : "false");
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		out_u64(o, obj->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		out_i64(o, obj->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (obj->via.f64 != obj->via.f64 || obj->via.f64 - obj->via.f64 != 0)
			out_s(o, "null"); /* NaN, inf: not JSON */
		else
			out_mem(o, num, snprintf(num, sizeof(num), "%.17g", obj->via.f64));
		break;
	case MSGPACK_OBJECT_STR:
		out_json_str(o, obj->via.str.ptr, obj->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		out_c(o, '"');
		out_hex(o, obj->via.bin.ptr, obj->via.bin.size);
		out_c(o, '"');
		break;
	case MSGPACK_OBJECT_EXT:
		out_s(o, "{\"ext\":");
		out_i64(o, obj->via.ext.type);
		out_s(o, ",\"data\":\"");
		out_hex(o, obj->via.ext.ptr, obj->via.ext.size);
		out_s(o, "\"}");
		break;
	case MSGPACK_OBJECT_ARRAY:
		out_c(o, '[');
		for (uint32_t i = 0; i < obj->via.array.size; i++) {
			if (i)
				out_c(o, ',');
			out_json_obj(o, &obj->via.array.ptr[i]);
		}
		out_c(o, ']');
		break;
	case MSGPACK_OBJECT_MAP:
		out_c(o, '{');
		for (uint32_t i = 0; i < obj->via.map.size; i++) {
			const msgpack_object *k = &obj->via.map.ptr[i].key;

			if (i)
				out_c(o, ',');
			if (k->type == MSGPACK_OBJECT_STR) {
				out_json_obj(o, k);
			} else {
				/* JSON keys are strings: a non-string key is its JSON text. */
				struct out tmp;

				out_init(&tmp, NULL);
				out_json_obj(&tmp, k);
				out_json_str(o, tmp.buf, tmp.len);
				out_free(&tmp);
			}
			out_c(o, ':');
			out_json_obj(o, &obj->via.map.ptr[i].val);
		}
		out_c(o, '}');
		break;
	}
}

void out_us(struct out *o, uint64_t ns)
{
	char frac[4] = {'.', '0' + ns % 1000 / 100, '0' + ns % 100 / 10, '0' + ns % 10};

	out_u64(o, ns / 1000);
	out_mem(o, frac, 4);
}

void out_event_json(struct out *o, const struct trace_ev *ev)
{
	const struct trace_event_desc *d = ev->desc;

	out_s(o, "{\"seq\":");
	out_u64(o, ev->seq);
	out_s(o, ",\"ts\":");
	out_u64(o, ev->ts);
	out_s(o, ",\"stream\":");
	out_u64(o, ev->stream);
	out_s(o, ",\"type\":");
	if (!d) {
		out_u64(o, ev->type);
		out_s(o, ",\"raw\":[");
		for (uint32_t i = 0; i < ev->nfields; i++) {
			if (i)
				out_c(o, ',');
			out_json_obj(o, &ev->fields[i]);
		}
		out_s(o, "]}");
		return;
	}
	out_c(o, '"');
	out_s(o, d->name);
	out_c(o, '"');
	for (unsigned int i = 0; i < d->nfields && i < ev->nfields; i++) {
		const msgpack_object *f = &ev->fields[i];

		out_s(o, ",\"");
		out_s(o, d->fields[i].name);
		out_s(o, "\":");
		out_json_obj(o, f);
		if (ev->type == TRACE_serial && f->type == MSGPACK_OBJECT_BIN) {
			out_s(o, ",\"text\":");
			out_json_str(o, f->via.bin.ptr, f->via.bin.size);
		}
	}
	if (ev->nfields > d->nfields) {
		out_s(o, ",\"extra\":[");
		for (uint32_t i = d->nfields; i < ev->nfields; i++) {
			if (i > d->nfields)
				out_c(o, ',');
			out_json_obj(o, &ev->fields[i]);
		}
		out_c(o, ']');
	}
	out_c(o, '}');
}

void progress_init(struct progress *p, const struct trace_reader *r, const char *what)
{
	memset(p, 0, sizeof(*p));
	p->on = isatty(STDERR_FILENO) && !getenv("DEJAVM_NO_PROGRESS");
	p->total = trace_reader_status(r)->file_size;
	p->what = what;
	p->last_ns = monotonic_ns();
}

void progress_tick(struct progress *p, const struct trace_reader *r)
{
	uint64_t t, pos;
	int pct, bar = 30;
	char hashes[31];

	if (!p->on || (++p->ticks & 0x3fff))
		return;
	t = monotonic_ns();
	if (t - p->last_ns < 100000000)
		return;
	p->last_ns = t;
	pos = trace_reader_pos(r);
	pct = p->total ? (int)(pos * 100 / p->total) : 100;
	if (pct > 100)
		pct = 100;
	memset(hashes, '#', sizeof(hashes));
	fprintf(stderr, "\r%s [%-*.*s] %3d%% %" PRIu64 " events", p->what, bar, pct * bar / 100,
		hashes, pct, trace_reader_status(r)->events);
	fflush(stderr);
}

void progress_done(struct progress *p)
{
	if (p->on && p->ticks >= 0x4000)
		fprintf(stderr, "\r\033[K");
}

struct trace_reader *open_trace(const char *path)
{
	char *err = NULL;
	struct trace_reader *r = trace_reader_open(path, &err);

	if (!r) {
		fprintf(stderr, "dejavm-trace: %s\n", err ? err : path);
		free(err);
	}
	return r;
}

int report_status(const struct trace_reader *r)
{
	const struct trace_status *st = trace_reader_status(r);
	const char *const *probs;
	size_t n;

	probs = trace_reader_problems(r, &n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "dejavm-trace: %s\n", probs[i]);
	return st->complete ? EXIT_OK : EXIT_DIFFERS;
}

bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	*v = strtoull(s, &end, (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10);
	return !errno && !*end;
}

const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n))
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n])
		return NULL;
	if (*i + 1 >= argc) {
		fprintf(stderr, "dejavm-trace: %s needs a value\n", name);
		exit(EXIT_USAGE);
	}
	return argv[++*i];
}

bool want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

const char *exit_reason_str(uint64_t reason, char *buf, size_t len)
{
	const char *name = reason < 1024 ? exit_reason_name(reason) : "other";

	if (strcmp(name, "other"))
		return name;
	snprintf(buf, len, "exit_%" PRIu64, reason);
	return buf;
}

static bool ignored(const struct trace_ev *ev, unsigned int i)
{
	return ev->type == TRACE_end && ev->desc && i < ev->desc->nfields &&
	       !strcmp(ev->desc->fields[i].name, "stall_ns");
}

void out_field_diff(struct out *o, int *n, const char *name, const msgpack_object *a,
		    const msgpack_object *b)
{
	out_printf(o, "%s%s (A ", (*n)++ ? ", " : "", name);
	out_json_obj(o, a);
	out_s(o, ", B ");
	out_json_obj(o, b);
	out_c(o, ')');
}

int trace_ev_diff(const struct trace_ev *a, const struct trace_ev *b, struct out *o)
{
	int n = 0;

	if (a->type != b->type) {
		out_printf(o, "%stype (A %u, B %u)", n++ ? ", " : "", a->type, b->type);
		return n; /* the fields mean different things */
	}
	if (a->stream != b->stream)
		out_printf(o, "%sstream (A %u, B %u)", n++ ? ", " : "", a->stream, b->stream);
	for (uint32_t i = 0; i < a->nfields && i < b->nfields; i++) {
		char name[32];

		if (ignored(a, i) || msgpack_object_equal(a->fields[i], b->fields[i]))
			continue;
		if (a->desc && i < a->desc->nfields)
			snprintf(name, sizeof(name), "%s", a->desc->fields[i].name);
		else
			snprintf(name, sizeof(name), "field %u", TRACE_HEADER_FIELDS + i);
		out_field_diff(o, &n, name, &a->fields[i], &b->fields[i]);
	}
	/*
	 * Fields only one has: appended to the format after the other was written (a lower minor
	 * version), so there is nothing to compare them with. Unknown types must match exactly.
	 */
	if (a->nfields != b->nfields && !a->desc)
		out_printf(o, "%snumber of fields (A %u, B %u)", n++ ? ", " : "", a->nfields,
			   b->nfields);
	return n;
}
