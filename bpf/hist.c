// SPDX-License-Identifier: MIT
/* Printing log2 histograms (hist.h) as bcc's tools do, and as JSON. No BPF needed. */
#include "hist_fmt.h"

#include <string.h>

typedef unsigned long long ull;

void lat_hist_add(struct lat_hist *h, uint64_t v)
{
	h->slots[lat_slot(v)]++;
	h->count++;
	h->sum += v;
}

void lat_hist_merge(struct lat_hist *dst, const struct lat_hist *src)
{
	for (unsigned int i = 0; i < LAT_SLOTS; i++)
		dst->slots[i] += src->slots[i];
	dst->count += src->count;
	dst->sum += src->sum;
}

/* [first, last] slots that hold samples; false when the histogram is empty. */
static bool used_slots(const struct lat_hist *h, unsigned int *first, unsigned int *last)
{
	int lo = -1, hi = -1;

	for (unsigned int i = 0; i < LAT_SLOTS; i++) {
		if (!h->slots[i])
			continue;
		if (lo < 0)
			lo = i;
		hi = i;
	}
	if (lo < 0)
		return false;
	*first = lo;
	*last = hi;
	return true;
}

/* Value at quantile q (0..1), as the upper bound of the slot it falls in; 0 when empty. */
uint64_t lat_hist_quantile(const struct lat_hist *h, double q)
{
	uint64_t total = 0, want, seen = 0;

	for (unsigned int i = 0; i < LAT_SLOTS; i++)
		total += h->slots[i];
	if (!total)
		return 0;
	want = (uint64_t)(q * (double)total);
	if ((double)want < q * (double)total)
		want++; /* the ceiling: the smallest count with at least q of the samples */
	if (want < 1)
		want = 1;
	if (want > total)
		want = total;
	for (unsigned int i = 0; i < LAT_SLOTS; i++) {
		seen += h->slots[i];
		if (seen >= want)
			return lat_slot_hi(i);
	}
	return lat_slot_hi(LAT_SLOTS - 1);
}

/*
 *      nsecs               : count     distribution
 *        512 -> 1023       : 3        |****************************************|
 * Rows from the first to the last used slot; the bar is 40 wide at the largest count.
 */
void lat_hist_print(FILE *f, const struct lat_hist *h, const char *unit)
{
	unsigned int first, last;
	uint64_t max = 0;

	if (!used_slots(h, &first, &last)) {
		fprintf(f, "     (no samples)\n");
		return;
	}
	for (unsigned int i = first; i <= last; i++)
		if (h->slots[i] > max)
			max = h->slots[i];
	fprintf(f, "%14s%10s : count     distribution\n", unit, "");
	for (unsigned int i = first; i <= last; i++) {
		char bar[LAT_BAR_WIDTH + 1];
		unsigned int stars = (unsigned int)(h->slots[i] * LAT_BAR_WIDTH / max);
		char hi[24];

		if (i == LAT_SLOTS - 1)
			snprintf(hi, sizeof(hi), "inf");
		else
			snprintf(hi, sizeof(hi), "%llu", (ull)lat_slot_hi(i));
		memset(bar, ' ', LAT_BAR_WIDTH);
		memset(bar, '*', stars);
		bar[LAT_BAR_WIDTH] = '\0';
		fprintf(f, "%10llu -> %-10s : %-8llu |%s|\n", (ull)lat_slot_lo(i), hi,
			(ull)h->slots[i], bar);
	}
	fprintf(f,
		"     count %llu, mean %llu %s, p50 <= %llu, p99 <= %llu"
		"\n",
		(ull)h->count, (ull)(h->count ? h->sum / h->count : 0), unit,
		(ull)lat_hist_quantile(h, 0.5), (ull)lat_hist_quantile(h, 0.99));
}

/* {"count":N,"sum":S,"mean":M,"buckets":[[lo,hi,count],...]} with the used slots only. */
void lat_hist_json(FILE *f, const struct lat_hist *h)
{
	unsigned int first, last;
	bool sep = false;

	fprintf(f, "{\"count\":%llu,\"sum\":%llu,\"mean\":%llu,\"buckets\":[", (ull)h->count,
		(ull)h->sum, (ull)(h->count ? h->sum / h->count : 0));
	if (used_slots(h, &first, &last)) {
		for (unsigned int i = first; i <= last; i++) {
			if (!h->slots[i])
				continue;
			fprintf(f, "%s[%llu,%llu,%llu]", sep ? "," : "", (ull)lat_slot_lo(i),
				(ull)lat_slot_hi(i), (ull)h->slots[i]);
			sep = true;
		}
	}
	fprintf(f, "]}");
}

/* A JSON string; our labels are ASCII, but quote and escape anyway. */
void lat_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}
