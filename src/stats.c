// SPDX-License-Identifier: MIT
#include "stats.h"

#include <inttypes.h>
#include <linux/kvm.h>

const char *exit_reason_name(unsigned int reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "unknown",
		[KVM_EXIT_EXCEPTION] = "exception",
		[KVM_EXIT_IO] = "io",
		[KVM_EXIT_HYPERCALL] = "hypercall",
		[KVM_EXIT_DEBUG] = "debug",
		[KVM_EXIT_HLT] = "hlt",
		[KVM_EXIT_MMIO] = "mmio",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
		[KVM_EXIT_SHUTDOWN] = "shutdown",
		[KVM_EXIT_FAIL_ENTRY] = "fail_entry",
		[KVM_EXIT_INTR] = "intr",
		[KVM_EXIT_SET_TPR] = "set_tpr",
		[KVM_EXIT_TPR_ACCESS] = "tpr_access",
		[KVM_EXIT_NMI] = "nmi",
		[KVM_EXIT_INTERNAL_ERROR] = "internal_error",
		[KVM_EXIT_OSI] = "osi",
		[KVM_EXIT_WATCHDOG] = "watchdog",
		[KVM_EXIT_EPR] = "epr",
		[KVM_EXIT_SYSTEM_EVENT] = "system_event",
		[KVM_EXIT_IOAPIC_EOI] = "ioapic_eoi",
		[KVM_EXIT_HYPERV] = "hyperv",
		[KVM_EXIT_X86_RDMSR] = "x86_rdmsr",
		[KVM_EXIT_X86_WRMSR] = "x86_wrmsr",
		[KVM_EXIT_DIRTY_RING_FULL] = "dirty_ring_full",
		[KVM_EXIT_X86_BUS_LOCK] = "x86_bus_lock",
	};
	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "other";
}

unsigned int stats_kick_steps_median(const struct exit_stats *s)
{
	uint64_t seen = 0;

	for (unsigned int i = 0; i <= STATS_MAX_KICK_STEPS; i++) {
		seen += s->kick_steps[i];
		if (s->kicks && 2 * seen >= s->kicks)
			return i;
	}
	return 0;
}

void stats_print_text(const struct exit_stats *s, FILE *f)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < STATS_MAX_REASON; i++)
		total += s->by_reason[i];
	fprintf(f, "dejavm stats: run time %.6f s, %" PRIu64 " exits\n", s->run_ns / 1e9, total);
	for (unsigned int i = 0; i < STATS_MAX_REASON; i++)
		if (s->by_reason[i])
			fprintf(f, "  %-16s %12" PRIu64 "\n", exit_reason_name(i), s->by_reason[i]);
	fprintf(f,
		"  pio: %" PRIu64 " in, %" PRIu64 " out (%" PRIu64 " coalesced), %" PRIu64
		" unhandled\n",
		s->pio_in, s->pio_out, s->pio_coalesced, s->pio_unhandled);
	fprintf(f,
		"  mmio: %" PRIu64 " read, %" PRIu64 " write (%" PRIu64 " coalesced), %" PRIu64
		" unhandled\n",
		s->mmio_read, s->mmio_write, s->mmio_coalesced, s->mmio_unhandled);
	if (s->landmarks)
		fprintf(f, "  landmarks: %" PRIu64 " (%" PRIu64 " at host-chosen points)\n",
			s->landmarks, s->nondeterministic);
	if (s->kicks)
		fprintf(f,
			"  exit-budget kicks: %" PRIu64 ": %" PRIu64 " found a fixed point, "
			"%" PRIu64 " a loop that is not one, %" PRIu64 " no loop, %" PRIu64
			" ran into an exit, %" PRIu64 " stopped short of user mode or of an"
			" instruction that would show it; single-steps: median %u, max %" PRIu64
			", total %" PRIu64 "\n",
			s->kicks, s->kicks_fixed, s->kicks_cycle, s->kicks_none, s->kicks_exited,
			s->kicks_unsafe, stats_kick_steps_median(s), s->search_steps_max,
			s->search_steps);
	if (s->irq_steps_started)
		fprintf(f, "  interrupts that waited for IF (single-stepped): %" PRIu64 "\n",
			s->irq_steps_started);
}

void stats_print_json(const struct exit_stats *s, FILE *f)
{
	uint64_t total = 0;
	const char *sep = "";

	for (unsigned int i = 0; i < STATS_MAX_REASON; i++)
		total += s->by_reason[i];
	fprintf(f, "{\"run_time_ns\":%" PRIu64 ",\"exits_total\":%" PRIu64 ",\"exits\":{",
		s->run_ns, total);
	for (unsigned int i = 0; i < STATS_MAX_REASON; i++) {
		if (!s->by_reason[i])
			continue;
		fprintf(f, "%s\"%s\":%" PRIu64, sep, exit_reason_name(i), s->by_reason[i]);
		sep = ",";
	}
	fprintf(f,
		"},\"pio\":{\"in\":%" PRIu64 ",\"out\":%" PRIu64 ",\"coalesced\":%" PRIu64
		",\"unhandled\":%" PRIu64 "},"
		"\"mmio\":{\"read\":%" PRIu64 ",\"write\":%" PRIu64 ",\"coalesced\":%" PRIu64
		",\"unhandled\":%" PRIu64 "},\"landmarks\":%" PRIu64
		",\"nondeterministic\":%" PRIu64 ",\"kicks\":{\"total\":%" PRIu64
		",\"fixed\":%" PRIu64 ",\"cycle\":%" PRIu64 ",\"none\":%" PRIu64
		",\"exited\":%" PRIu64 ",\"unsafe\":%" PRIu64 ",\"steps_median\":%u,"
		"\"steps_max\":%" PRIu64 ",\"steps_total\":%" PRIu64 "}}\n",
		s->pio_in, s->pio_out, s->pio_coalesced, s->pio_unhandled, s->mmio_read,
		s->mmio_write, s->mmio_coalesced, s->mmio_unhandled, s->landmarks,
		s->nondeterministic, s->kicks, s->kicks_fixed, s->kicks_cycle, s->kicks_none,
		s->kicks_exited, s->kicks_unsafe, stats_kick_steps_median(s), s->search_steps_max,
		s->search_steps);
}
