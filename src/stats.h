/* SPDX-License-Identifier: MIT */
/* Per-exit-reason counters and their --stats report. */
#ifndef DEJAVM_STATS_H
#define DEJAVM_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#define STATS_MAX_REASON     64
#define STATS_MAX_KICK_STEPS 4096

struct exit_stats {
	uint64_t by_reason[STATS_MAX_REASON];
	uint64_t pio_in, pio_out, mmio_read, mmio_write;
	uint64_t pio_unhandled, mmio_unhandled;
	uint64_t pio_coalesced, mmio_coalesced; /* writes that came through the coalesced ring */
	uint64_t landmarks;	   /* deterministic mode: landmarks (time given without an exit) */
	uint64_t nondeterministic; /* of which at host-chosen points */
	/* deterministic mode: exit-budget kicks, by what the fixed-point search found */
	uint64_t kicks, kicks_fixed, kicks_cycle, kicks_none, kicks_exited, kicks_unsafe;
	uint64_t search_steps; /* single-steps all searches took */
	uint64_t search_steps_max;
	uint32_t kick_steps[STATS_MAX_KICK_STEPS + 1]; /* kicks by steps taken (the last: more) */
	uint64_t irq_steps_started; /* deterministic: interrupts that waited for IF (stepping) */
	uint64_t checkpoints;	    /* taken (--checkpoint-every) */
	uint64_t run_ns;
};

/* "io", "mmio", "hlt", ... (KVM_EXIT_* without the prefix, lower case). */
const char *exit_reason_name(unsigned int reason);
/* One device's counters as vm.counters shows them (cloud-hypervisor's names); any thread adds. */
struct vm_counters {
	atomic_uint_fast64_t read_bytes, write_bytes, read_ops, write_ops; /* virtio-blk */
	atomic_uint_fast64_t rx_bytes, rx_frames, tx_bytes, tx_frames;	   /* virtio-net */
};

/* The median of the single-steps the exit-budget kicks took. */
unsigned int stats_kick_steps_median(const struct exit_stats *s);
void stats_print_text(const struct exit_stats *s, FILE *f);
void stats_print_json(const struct exit_stats *s, FILE *f);

#endif
