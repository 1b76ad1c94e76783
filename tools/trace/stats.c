// SPDX-License-Identifier: MIT
/* dejavm-trace stats: exits by reason, PIO by port, MMIO by page, intervals between exits. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

#define NBUCKETS 65

/* A small open-addressing map from u64 to two counters. */
struct counts {
	uint64_t key, a, b;
	bool used;
};

struct cmap {
	struct counts *slots;
	size_t cap, n;
};

static struct counts *cmap_get(struct cmap *m, uint64_t key)
{
	if (2 * (m->n + 1) > m->cap) {
		struct cmap big = {calloc(m->cap ? 2 * m->cap : 64, sizeof(struct counts)),
				   m->cap ? 2 * m->cap : 64, 0};

		if (!big.slots) {
			fprintf(stderr, "dejavm-trace: out of memory\n");
			exit(EXIT_DIFFERS);
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->slots[i].used)
				*cmap_get(&big, m->slots[i].key) = m->slots[i];
		free(m->slots);
		*m = big;
	}
	size_t i = (key * 0x9E3779B97F4A7C15ULL >> 20) & (m->cap - 1);

	while (m->slots[i].used && m->slots[i].key != key)
		i = (i + 1) & (m->cap - 1);
	if (!m->slots[i].used) {
		m->slots[i] = (struct counts){key, 0, 0, true};
		m->n++;
	}
	return &m->slots[i];
}

static int by_key(const void *x, const void *y)
{
	const struct counts *a = x, *b = y;

	return a->key < b->key ? -1 : a->key > b->key;
}

static int by_count_desc(const void *x, const void *y)
{
	const struct counts *a = x, *b = y;

	if (a->a != b->a)
		return a->a > b->a ? -1 : 1;
	return by_key(x, y);
}

/* The used slots, sorted; caller frees. */
static struct counts *cmap_sorted(const struct cmap *m, int (*cmp)(const void *, const void *))
{
	struct counts *v = malloc((m->n ? m->n : 1) * sizeof(*v));
	size_t k = 0;

	if (!v) {
		fprintf(stderr, "dejavm-trace: out of memory\n");
		exit(EXIT_DIFFERS);
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].used)
			v[k++] = m->slots[i];
	qsort(v, k, sizeof(*v), cmp);
	return v;
}

static unsigned int bucket_of(uint64_t v)
{
	return v <= 1 ? 0 : 63 - __builtin_clzll(v);
}

static uint64_t bucket_low(unsigned int b)
{
	return b ? 1ULL << b : 0;
}

static uint64_t bucket_high(unsigned int b)
{
	return b >= 63 ? UINT64_MAX : b ? (2ULL << b) - 1 : 1;
}

struct stats {
	struct cmap exits, pio, mmio;
	uint64_t nexits;
	uint64_t hist[NBUCKETS], nint, min, max;
	long double sum;
	bool have_last[256];
	uint64_t last[256];
};

static void collect(struct stats *s, const struct trace_ev *ev)
{
	const msgpack_object *f = ev->fields;

	if (!ev->desc)
		return;
	switch (ev->type) {
	case TRACE_exit:
		s->nexits++;
		cmap_get(&s->exits, f[0].via.u64)->a++;
		if (s->have_last[ev->stream]) {
			uint64_t d = ev->ts - s->last[ev->stream];

			s->hist[bucket_of(d)]++;
			if (!s->nint || d < s->min)
				s->min = d;
			if (d > s->max)
				s->max = d;
			s->sum += d;
			s->nint++;
		}
		s->have_last[ev->stream] = true;
		s->last[ev->stream] = ev->ts;
		break;
	case TRACE_pio: {
		struct counts *c = cmap_get(&s->pio, f[0].via.u64);

		if (f[2].via.u64)
			c->b++;
		else
			c->a++;
		break;
	}
	case TRACE_mmio: {
		struct counts *c = cmap_get(&s->mmio, f[0].via.u64 & ~0xfffULL);

		if (f[2].via.u64)
			c->b++;
		else
			c->a++;
		break;
	}
	}
}

static void print_text(const struct stats *s)
{
	struct counts *v;
	char buf[32];
	unsigned int lo = NBUCKETS, hi = 0, width;
	uint64_t peak = 0;

	printf("exits by reason: %" PRIu64 " total\n", s->nexits);
	v = cmap_sorted(&s->exits, by_count_desc);
	for (size_t i = 0; i < s->exits.n; i++)
		printf("  %-16s %12" PRIu64 "  %5.1f%%\n",
		       exit_reason_str(v[i].key, buf, sizeof(buf)), v[i].a,
		       100.0 * v[i].a / s->nexits);
	free(v);

	printf("\npio by port:\n  %-10s %12s %12s\n", "port", "in", "out");
	v = cmap_sorted(&s->pio, by_key);
	for (size_t i = 0; i < s->pio.n; i++)
		printf("  0x%-8" PRIx64 " %12" PRIu64 " %12" PRIu64 "\n", v[i].key, v[i].a, v[i].b);
	free(v);

	printf("\nmmio by page:\n  %-18s %12s %12s\n", "page", "read", "write");
	v = cmap_sorted(&s->mmio, by_key);
	for (size_t i = 0; i < s->mmio.n; i++)
		printf("  0x%-16" PRIx64 " %12" PRIu64 " %12" PRIu64 "\n", v[i].key, v[i].a,
		       v[i].b);
	free(v);

	printf("\ntime between consecutive exits of a vCPU: %" PRIu64 " intervals", s->nint);
	if (s->nint)
		printf(", min %" PRIu64 " ns, avg %.0Lf ns, max %" PRIu64 " ns", s->min,
		       s->sum / s->nint, s->max);
	printf("\n");
	for (unsigned int b = 0; b < NBUCKETS; b++) {
		if (!s->hist[b])
			continue;
		if (b < lo)
			lo = b;
		hi = b;
		if (s->hist[b] > peak)
			peak = s->hist[b];
	}
	if (!peak)
		return;
	width = snprintf(buf, sizeof(buf), "%" PRIu64, bucket_high(hi));
	if (width < 5)
		width = 5;
	printf("%*s%-*s : count     distribution\n", (int)width + 1, "ns", (int)width + 3, "");
	for (unsigned int b = lo; b <= hi; b++) {
		char stars[41];
		int n = (int)(s->hist[b] * 40 / peak);

		memset(stars, '*', n);
		stars[n] = '\0';
		printf("%*" PRIu64 " -> %-*" PRIu64 " : %-8" PRIu64 " |%-40s|\n", (int)width,
		       bucket_low(b), (int)width, bucket_high(b), s->hist[b], stars);
	}
}

static void print_json(const struct stats *s)
{
	struct counts *v;
	char buf[32];
	struct out o;

	out_init(&o, stdout);
	out_s(&o, "{\"exits_total\":");
	out_u64(&o, s->nexits);
	out_s(&o, ",\"exits\":{");
	v = cmap_sorted(&s->exits, by_count_desc);
	for (size_t i = 0; i < s->exits.n; i++) {
		const char *name = exit_reason_str(v[i].key, buf, sizeof(buf));

		if (i)
			out_c(&o, ',');
		out_json_str(&o, name, strlen(name));
		out_c(&o, ':');
		out_u64(&o, v[i].a);
	}
	free(v);
	out_s(&o, "},\"pio\":[");
	v = cmap_sorted(&s->pio, by_key);
	for (size_t i = 0; i < s->pio.n; i++)
		out_printf(&o, "%s{\"port\":%" PRIu64 ",\"in\":%" PRIu64 ",\"out\":%" PRIu64 "}",
			   i ? "," : "", v[i].key, v[i].a, v[i].b);
	free(v);
	out_s(&o, "],\"mmio\":[");
	v = cmap_sorted(&s->mmio, by_key);
	for (size_t i = 0; i < s->mmio.n; i++)
		out_printf(&o,
			   "%s{\"page\":%" PRIu64 ",\"read\":%" PRIu64 ",\"write\":%" PRIu64 "}",
			   i ? "," : "", v[i].key, v[i].a, v[i].b);
	free(v);
	out_printf(&o, "],\"exit_interval_ns\":{\"count\":%" PRIu64, s->nint);
	if (s->nint)
		out_printf(&o, ",\"min\":%" PRIu64 ",\"max\":%" PRIu64 ",\"mean\":%.1Lf", s->min,
			   s->max, s->sum / s->nint);
	out_s(&o, ",\"log2_buckets\":[");
	bool first = true;
	for (unsigned int b = 0; b < NBUCKETS; b++) {
		if (!s->hist[b])
			continue;
		out_printf(&o, "%s{\"low\":%" PRIu64 ",\"high\":%" PRIu64 ",\"count\":%" PRIu64 "}",
			   first ? "" : ",", bucket_low(b), bucket_high(b), s->hist[b]);
		first = false;
	}
	out_s(&o, "]}}\n");
	out_flush(&o);
	out_free(&o);
}

int cmd_stats(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false;
	struct trace_reader *r;
	struct progress pg;
	struct trace_ev ev;
	struct stats *s;
	int ret;

	if (want_help(argc, argv)) {
		printf("usage: dejavm-trace stats FILE [--json]\n"
		       "Exits by reason, PIO accesses by port (in/out), MMIO accesses by 4 KiB "
		       "page\n(read/write), and the time between consecutive exits of each vCPU "
		       "as a log2\nhistogram in ns.\n");
		return EXIT_OK;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if ((argv[i][0] == '-' && argv[i][1]) || path) {
			fprintf(stderr, "usage: dejavm-trace stats FILE [--json]\n");
			return EXIT_USAGE;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		fprintf(stderr, "usage: dejavm-trace stats FILE [--json]\n");
		return EXIT_USAGE;
	}
	r = open_trace(path);
	if (!r)
		return EXIT_DIFFERS;
	s = calloc(1, sizeof(*s));
	if (!s) {
		fprintf(stderr, "dejavm-trace: out of memory\n");
		return EXIT_DIFFERS;
	}
	progress_init(&pg, r, "stats");
	while (trace_reader_next(r, &ev) > 0) {
		collect(s, &ev);
		progress_tick(&pg, r);
	}
	progress_done(&pg);
	if (json)
		print_json(s);
	else
		print_text(s);
	fflush(stdout);
	ret = report_status(r);
	free(s->exits.slots);
	free(s->pio.slots);
	free(s->mmio.slots);
	free(s);
	trace_reader_close(r);
	return ret;
}
