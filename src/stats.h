/* SPDX-License-Identifier: MIT */
/* Per-exit-reason counters and their --stats report. */
#ifndef DEJAVM_STATS_H
#define DEJAVM_STATS_H

#include <stdint.h>
#include <stdio.h>

#define STATS_MAX_REASON 64

struct exit_stats {
	uint64_t by_reason[STATS_MAX_REASON];
	uint64_t pio_in, pio_out, mmio_read, mmio_write;
	uint64_t pio_unhandled, mmio_unhandled;
	uint64_t pio_coalesced, mmio_coalesced; /* writes that came through the coalesced ring */
	uint64_t landmarks; /* deterministic mode: forced exits after --exit-budget */
	uint64_t irq_steps_started; /* deterministic: interrupts that waited for IF (stepping) */
	uint64_t run_ns;
};

/* "io", "mmio", "hlt", ... (KVM_EXIT_* without the prefix, lower case). */
const char *exit_reason_name(unsigned int reason);
void stats_print_text(const struct exit_stats *s, FILE *f);
void stats_print_json(const struct exit_stats *s, FILE *f);

#endif
