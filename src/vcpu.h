/* SPDX-License-Identifier: MIT */
/* vCPUs: creation, CPUID/LAPIC setup, and the KVM_RUN loop with the one exit dispatch point. */
#ifndef DEJAVM_VCPU_H
#define DEJAVM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fixpoint.h"

struct vm;
struct persist_in;
struct msgpack_packer;

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	_Atomic bool started;	  /* read by other threads to kick it */
	struct kvm_cpuid2 *cpuid; /* the table given to the guest (the trace header records it) */
	uint64_t last_exit_seq;	  /* trace seq of the last exit event (landmarks refer to it) */
	_Atomic uint64_t exits;	  /* exits so far: the deterministic-mode watchdog reads it */
	bool irq_stepping;	  /* deterministic: single-stepping until the guest sets IF */
	bool io_pending;      /* the last KVM_RUN ended in a PIO/MMIO exit KVM completes later */
	uint64_t guest_exits; /* the guest's own exits (no kicks, no single-steps) */
	void *fp_scratch;     /* fixpoint.c's, allocated at the first search */
	/* Kicks since the last exit (exits: guest_exits then) and the loop they found lately. */
	struct {
		uint64_t exits, stretch_ns; /* guest_run_ns() at the stretch's first kick */
		uint64_t rip, since_ns;	    /* the loop (FP_CYCLE), first seen then */
		uint32_t len;
		unsigned int kicks;
	} loop;
	/* Replay: running to the recorded landmark seek (a hardware breakpoint on its RIP). */
	bool seeking, stepping_over;
	struct landmark seek;
	uint64_t seek_ns;	/* guest_run_ns() when the seek began */
	uint64_t kick_cpu_ns;	/* the vCPU thread's CPU time spent on kicks (searches) */
	uint64_t kick_start_ns; /* its CPU time when the kick in progress began, else 0 */
};

int vcpu_create(struct vm *vm, struct vcpu *v, unsigned int id);
void vcpu_destroy(struct vcpu *v);
int vcpu_set_boot_regs(struct vcpu *v, const struct kvm_regs *regs, const struct kvm_sregs *sregs);
int vcpu_get_sregs(struct vcpu *v, struct kvm_sregs *sregs);
int vcpu_start(struct vcpu *v);
enum vcpu_debug { VCPU_DEBUG_OFF, VCPU_DEBUG_STEP, VCPU_DEBUG_BREAK };
/* No guest debugging, single-stepping, or a hardware breakpoint at linear address addr. */
int vcpu_set_debug(struct vcpu *v, enum vcpu_debug mode, uint64_t addr);
/* KVM_GUESTDBG_SINGLESTEP on or off. Returns 0 or -errno. */
int vcpu_set_single_step(struct vcpu *v, bool on);
/* Makes a vCPU leave KVM_RUN (and not re-enter it) as soon as possible. */
void vcpu_kick(struct vcpu *v);
/* On the vCPU's thread, vm_pause() asked for it: parked until vm_resume() or a stop. */
void vcpu_park(struct vcpu *v);
/*
 * On the vCPU's thread, between exits: KVM finishes a PIO/MMIO instruction (a read's value into
 * its register, RIP past it) only when KVM_RUN is called next; this calls it without running
 * the guest, so that the registers are the whole truth for a snapshot. What KVM said of IF with
 * the last exit stays as it was: deterministic mode injects by it, as it would have.
 */
void vcpu_complete_io(struct vcpu *v);

/*
 * Everything KVM holds of a stopped vCPU that the guest can observe (registers, FPU/XSAVE,
 * MSRs, LAPIC, pending events, debug registers, run state), one map in a snapshot. In
 * deterministic mode host-time MSRs (the TSC) are left out, so the map depends on the guest
 * alone. Any thread may call these while the vCPU is parked or not running. 0 or -errno.
 */
int vcpu_save(struct vcpu *v, struct msgpack_packer *pk);
bool vcpu_load(struct vcpu *v, struct persist_in *in);

/* report.c: the one-paragraph report of a failure exit (registers, RIP, instruction bytes). */
void report_failure(struct vcpu *v, const char *what, FILE *f);
/*
 * report.c: up to max bytes of the instruction at RIP, read through the guest's page tables.
 * Returns how many (fewer where the bytes leave mapped RAM), -1 when RIP is not mapped, -2
 * under 32-bit paging (not walked).
 */
int guest_insn(const struct vm *vm, const struct kvm_regs *r, const struct kvm_sregs *s,
	       uint8_t *buf, size_t max);
/* report.c: a linear address through the guest's page tables: 0, -1 unmapped, -2 32-bit paging. */
int guest_linear_to_phys(const struct vm *vm, const struct kvm_sregs *s, uint64_t linear,
			 uint64_t *gpa);

#endif
