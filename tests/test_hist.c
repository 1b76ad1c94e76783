// SPDX-License-Identifier: MIT
/* Unit tests for dejavm-lat's log2 histograms (bpf/hist.h, bpf/hist.c): no BPF involved. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "hist_fmt.h"

/* The slot of v, by the definition: 0 for 0, else floor(log2(v)) + 1, capped at 63. */
static unsigned int slot_by_loop(uint64_t v)
{
	unsigned int s = 0;

	while (v) {
		s++;
		v >>= 1;
	}
	return s < LAT_SLOTS ? s : LAT_SLOTS - 1;
}

START_TEST(test_slot_edges)
{
	ck_assert_uint_eq(lat_slot(0), 0);
	ck_assert_uint_eq(lat_slot(1), 1);
	ck_assert_uint_eq(lat_slot(2), 2);
	ck_assert_uint_eq(lat_slot(3), 2);
	ck_assert_uint_eq(lat_slot(4), 3);
	ck_assert_uint_eq(lat_slot(1023), 10);
	ck_assert_uint_eq(lat_slot(1024), 11);
	ck_assert_uint_eq(lat_slot(1ULL << 61), 62);
	ck_assert_uint_eq(lat_slot((1ULL << 62) - 1), 62);
	ck_assert_uint_eq(lat_slot(1ULL << 62), 63);
	ck_assert_uint_eq(lat_slot(UINT64_MAX), 63);
	/* Every power of two and its neighbours, against the plain definition. */
	for (unsigned int b = 0; b < 64; b++) {
		uint64_t p = 1ULL << b;

		ck_assert_uint_eq(lat_slot(p), slot_by_loop(p));
		ck_assert_uint_eq(lat_slot(p - 1), slot_by_loop(p - 1));
		ck_assert_uint_eq(lat_slot(p + 1), slot_by_loop(p + 1));
	}
}
END_TEST

START_TEST(test_slot_random)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t v = x >> (x & 63); /* all magnitudes */

		ck_assert_uint_eq(lat_slot(v), slot_by_loop(v));
	}
}
END_TEST

/* Slot bounds tile [0, 2^64): each slot's lo and hi fall in it, and hi + 1 is the next lo. */
START_TEST(test_slot_bounds)
{
	for (unsigned int i = 0; i < LAT_SLOTS; i++) {
		ck_assert_uint_eq(lat_slot(lat_slot_lo(i)), i);
		ck_assert_uint_eq(lat_slot(lat_slot_hi(i)), i);
		if (i + 1 < LAT_SLOTS)
			ck_assert_uint_eq(lat_slot_hi(i) + 1, lat_slot_lo(i + 1));
	}
	ck_assert_uint_eq(lat_slot_hi(LAT_SLOTS - 1), UINT64_MAX);
}
END_TEST

START_TEST(test_add_merge_quantile)
{
	struct lat_hist a = {0}, b = {0};

	for (uint64_t v = 1; v <= 100; v++)
		lat_hist_add(&a, v);
	ck_assert_uint_eq(a.count, 100);
	ck_assert_uint_eq(a.sum, 5050);
	ck_assert_uint_eq(a.slots[1], 1);  /* 1 */
	ck_assert_uint_eq(a.slots[2], 2);  /* 2, 3 */
	ck_assert_uint_eq(a.slots[7], 37); /* 64..100 */
	/* 50th value (50) is in [32, 63]; the 99th (99) in [64, 127]; the 1st (1) in [1, 1]. */
	ck_assert_uint_eq(lat_hist_quantile(&a, 0.5), 63);
	ck_assert_uint_eq(lat_hist_quantile(&a, 0.99), 127);
	ck_assert_uint_eq(lat_hist_quantile(&a, 0.0), 1);
	ck_assert_uint_eq(lat_hist_quantile(&b, 0.5), 0);
	lat_hist_add(&b, 0);
	lat_hist_add(&b, 5000);
	ck_assert_uint_eq(lat_hist_quantile(&b, 0.5), 0);
	ck_assert_uint_eq(lat_hist_quantile(&b, 0.51), 8191);
	lat_hist_merge(&a, &b);
	ck_assert_uint_eq(a.count, 102);
	ck_assert_uint_eq(a.sum, 10050);
	ck_assert_uint_eq(a.slots[0], 1);
	ck_assert_uint_eq(a.slots[13], 1);
}
END_TEST

/* Output captured in memory: mem_open(), print to m.f, then mem_text() (caller frees). */
struct mem {
	char *buf;
	size_t len;
	FILE *f;
};

static FILE *mem_open(struct mem *m)
{
	m->buf = NULL;
	m->f = open_memstream(&m->buf, &m->len);
	ck_assert_ptr_nonnull(m->f);
	return m->f;
}

static char *mem_text(struct mem *m)
{
	fclose(m->f);
	return m->buf;
}

static char *render(const struct lat_hist *h, bool json)
{
	struct mem m;

	if (json)
		lat_hist_json(mem_open(&m), h);
	else
		lat_hist_print(mem_open(&m), h, "nsecs");
	return mem_text(&m);
}

START_TEST(test_text)
{
	struct lat_hist h = {0};
	char *s;

	s = render(&h, false);
	ck_assert_str_eq(s, "     (no samples)\n");
	free(s);
	for (int i = 0; i < 4; i++)
		lat_hist_add(&h, 600); /* [512, 1023] */
	lat_hist_add(&h, 3000);	       /* [2048, 4095], with an empty slot between */
	s = render(&h, false);
	ck_assert_str_eq(
		s,
		"         nsecs           : count     distribution\n"
		"       512 -> 1023       : 4        |****************************************|\n"
		"      1024 -> 2047       : 0        |                                        |\n"
		"      2048 -> 4095       : 1        |**********                              |\n"
		"     count 5, mean 1080 nsecs, p50 <= 1023, p99 <= 4095\n");
	free(s);
	memset(&h, 0, sizeof(h));
	lat_hist_add(&h, UINT64_MAX); /* the open-ended last slot */
	s = render(&h, false);
	ck_assert_ptr_nonnull(strstr(s, "4611686018427387904 -> inf"));
	free(s);
}
END_TEST

START_TEST(test_json)
{
	struct lat_hist h = {0};
	char *s;

	s = render(&h, true);
	ck_assert_str_eq(s, "{\"count\":0,\"sum\":0,\"mean\":0,\"buckets\":[]}");
	free(s);
	lat_hist_add(&h, 0);
	lat_hist_add(&h, 600);
	lat_hist_add(&h, 700);
	lat_hist_add(&h, 3000);
	s = render(&h, true);
	/* Empty slots between used ones are left out; each bucket is [lo, hi, count]. */
	ck_assert_str_eq(s, "{\"count\":4,\"sum\":4300,\"mean\":1075,\"buckets\":"
			    "[[0,0,1],[512,1023,2],[2048,4095,1]]}");
	free(s);
}
END_TEST

START_TEST(test_json_str)
{
	struct mem m;
	char *buf;

	lat_json_str(mem_open(&m), "a\"b\\c\n");
	buf = mem_text(&m);
	ck_assert_str_eq(buf, "\"a\\\"b\\\\c\\u000a\"");
	free(buf);
}
END_TEST

static Suite *hist_suite(void)
{
	Suite *s = suite_create("hist");
	TCase *tc = tcase_create("slots");

	tcase_add_test(tc, test_slot_edges);
	tcase_add_test(tc, test_slot_random);
	tcase_add_test(tc, test_slot_bounds);
	tcase_add_test(tc, test_add_merge_quantile);
	suite_add_tcase(s, tc);
	tc = tcase_create("format");
	tcase_add_test(tc, test_text);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_json_str);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(hist_suite());
}
