/* SPDX-License-Identifier: MIT */
/*
 * Log2 latency histograms, shared by the BPF programs (which fill them) and dejavm-lat (which
 * prints them) -- no libc, no libbpf, so it compiles for both sides and is unit-tested alone.
 *
 * Slot 0 holds 0, slot i (1..62) holds [2^(i-1), 2^i - 1], slot 63 holds everything from 2^62.
 */
#ifndef DEJAVM_BPF_HIST_H
#define DEJAVM_BPF_HIST_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define LAT_SLOTS 64

struct lat_hist {
	__u64 slots[LAT_SLOTS];
	__u64 count;
	__u64 sum; /* of the samples, ns */
};

/* floor(log2(v)) + 1 for v > 0, 0 for 0, at most LAT_SLOTS - 1. Branch-light, no loops (BPF). */
static inline unsigned int lat_slot(__u64 v)
{
	unsigned int r = 0, s;

	if (!v)
		return 0;
	s = (v > 0xffffffffULL) << 5;
	v >>= s;
	r |= s;
	s = (v > 0xffff) << 4;
	v >>= s;
	r |= s;
	s = (v > 0xff) << 3;
	v >>= s;
	r |= s;
	s = (v > 0xf) << 2;
	v >>= s;
	r |= s;
	s = (v > 0x3) << 1;
	v >>= s;
	r |= s;
	r |= (unsigned int)(v >> 1);
	r += 1;
	return r < LAT_SLOTS ? r : LAT_SLOTS - 1;
}

/* The smallest and largest value slot i holds (the last slot is open-ended: ~0). */
static inline __u64 lat_slot_lo(unsigned int i)
{
	return i ? 1ULL << (i - 1) : 0;
}

static inline __u64 lat_slot_hi(unsigned int i)
{
	return i == 0 ? 0 : i >= LAT_SLOTS - 1 ? ~0ULL : (1ULL << i) - 1;
}

#endif
