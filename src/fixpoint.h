/* SPDX-License-Identifier: MIT */
/*
 * Deterministic mode: is a vCPU that ran long without an exit only waiting for time?
 *
 * The exit-budget watchdog stops a vCPU at an instruction the host chose. fixpoint_search()
 * single-steps it from there, looking for a fixed point: a cycle of instructions after which the
 * registers are exactly as before and every page the cycle wrote is unchanged from one pass to
 * the next. A guest in such a loop can only be waiting (for an interrupt, for time to pass): its
 * state is the same at every pass, so the VMM can stop it at a canonical point of the cycle
 * (the state with the smallest RIP, then register hash) whichever instruction the host stopped it
 * at, and give it time there. Anything else the search finds changes nothing: single-steps are
 * invisible to the guest. docs/determinism.md says why this is enough and what it costs.
 */
#ifndef DEJAVM_FIXPOINT_H
#define DEJAVM_FIXPOINT_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#define FP_MAX_STEPS 1024 /* single-steps one search takes at most to find a cycle */
#define FP_MAX_PAGES 16	  /* pages one pass of a fixed point may write */
#define FP_PAGE_SIZE 4096

struct vm;
struct vcpu;

enum fp_kind {
	FP_NONE,   /* no cycle in FP_MAX_STEPS: a computation, or a loop too long to see */
	FP_CYCLE,  /* a short cycle of RIPs whose registers or memory change from pass to pass */
	FP_FIXED,  /* a fixed point: the vCPU now stands at its canonical state */
	FP_EXITED, /* a step ended in a real exit (in v->run), to be handled like any other */
	FP_UNSAFE, /* at user mode or an instruction the guest would see stepped (fixpoint.c) */
	FP_ERROR,  /* an ioctl failed or the vCPU was kicked to stop: the search was abandoned */
};

struct fp_result {
	enum fp_kind kind;
	uint32_t steps;	      /* single-steps the search took */
	uint32_t cycle;	      /* FP_CYCLE, FP_FIXED: instructions in one pass */
	uint64_t cycle_rip;   /* FP_CYCLE, FP_FIXED: the smallest RIP of the pass */
	struct kvm_regs regs; /* where the vCPU stands now */
	/* FP_FIXED, and FP_CYCLE when the registers repeat: the pages one pass writes (ascending)
	 */
	unsigned int nr_pages;
	uint64_t pages[FP_MAX_PAGES];
};

/*
 * A point the guest stopped at without an exit, as the trace's landmark event holds it: where
 * the recording stopped (rip, regs_hash, and mem_hash over pages), and whether that point was a
 * fixed point (the same whatever the host did) or a host-chosen one.
 */
struct landmark {
	uint64_t after; /* seq of the last exit before it */
	uint64_t rip, regs_hash, mem_hash;
	bool fixed;
	uint32_t cycle;
	unsigned int nr_pages;
	uint64_t pages[FP_MAX_PAGES];
};

/*
 * Searches from where the vCPU stands (it must not be single-stepping). Leaves single-stepping
 * off. Needs the VM's dirty log (vm_dirty_pages()) and KVM_SYNC_X86_REGS in v->run.
 */
void fixpoint_search(struct vcpu *v, struct fp_result *res);
/*
 * A loop that is not a fixed point is to get time at a host-chosen point: one more pass of it
 * (res->cycle single-steps) tells which pages it writes, so that a replay can tell that pass
 * from the others by their contents. res->kind becomes FP_EXITED or FP_ERROR if the pass ended
 * otherwise.
 */
void fixpoint_pass_pages(struct vcpu *v, struct fp_result *res);
/* FNV-1a 64 over the 4 KiB pages at the guest-physical addresses pages[0..n) (absent: 0xff). */
uint64_t fixpoint_mem_hash(const struct vm *vm, const uint64_t *pages, unsigned int n);
/* The landmark of where the vCPU stands, with regs and the pages of res (fixed or not). */
void fixpoint_landmark(const struct vm *vm, const struct fp_result *res, bool fixed, uint64_t after,
		       struct landmark *lm);

#endif
