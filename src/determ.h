/* SPDX-License-Identifier: MIT */
/*
 * Deterministic mode (--deterministic): the guest sees only virtual time, and interrupts reach it
 * only at VM exits, so the same images and command line give the same exits, device accesses
 * and interrupts, in the same order, with the same timestamps (docs/determinism.md).
 *
 *   - One vCPU, no in-kernel irqchip or PIT: the VMM's own 8259 PIC, 8254 PIT and RTC.
 *   - Virtual time starts at 0 and advances DET_NS_PER_EXIT at every exit; at HLT it jumps to the
 *     PIT's next deadline. The RTC counts from --rtc-epoch. The trace's ts is this clock.
 *   - Interrupts are injected (KVM_INTERRUPT) before re-entering the guest after an exit at which
 *     it can take them (IF set). When one is pending while IF is clear, the vCPU single-steps
 *     until the guest sets IF and it is injected there: KVM's interrupt-window exit would do
 *     the same in one exit, but on PVM hosts it comes at a host-timing-dependent point.
 *   - A vCPU that runs --exit-budget ms of host time without an exit is stopped by a signal and
 *     searched for a fixed point (fixpoint.h): a loop that only waits gets time at a canonical
 *     point of the loop, recorded as a landmark, which does not depend on where the host stopped
 *     it; a kick that finds no such loop changes nothing. Only a loop that counts while it waits
 *     (no fixed point) for --spin-limit gets a landmark at a host-chosen point, counted as
 *     nondeterministic in the trace.
 */
#ifndef DEJAVM_DETERM_H
#define DEJAVM_DETERM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#define DET_NS_PER_EXIT 1000 /* virtual nanoseconds one VM exit takes */
/* A loop without a fixed point gets time at a host-chosen point after --spin-limit, once this
 * many kicks in a row found it. */
#define DET_FALLBACK_KICKS 2

struct vm;
struct vcpu;
struct landmark;

int determ_init(struct vm *vm);
void determ_free(struct vm *vm);
/* Drives an ISA interrupt line of the VMM's PIC (vm_set_irq in deterministic mode). */
void determ_set_irq(struct vm *vm, unsigned int irq, bool level);

/* Hides what would let host time or host randomness into the guest (RDRAND, kvmclock, ...). */
void determ_mask_cpuid(struct kvm_cpuid2 *cpuid);

/* An exit happened: virtual time advances. */
void determ_exit(struct vcpu *v);
/* KVM_EXIT_HLT: time jumps to the next timer deadline. false: nothing can ever wake the vCPU. */
bool determ_hlt(struct vcpu *v, const char **why);
/*
 * The vCPU stands at a landmark (a fixed point, or a host-chosen point of a loop that counts):
 * records it and lets time pass, as at HLT for a fixed point. false: nothing can ever end the
 * loop (why says what).
 */
bool determ_landmark(struct vcpu *v, const struct landmark *lm, const char **why);
/* After an exit was handled: timers fire, and a pending interrupt is injected if it can be. */
void determ_before_run(struct vcpu *v);
/* An interrupt is pending but the guest has IF clear: the vCPU single-steps until it is set. */
bool determ_irq_blocked(const struct vcpu *v);

/* FNV-1a 64 of the general registers and RFLAGS without TF and RF (see docs/determinism.md). */
uint64_t determ_regs_hash(const struct kvm_regs *r);

/*
 * Test-only fault injection, from $DEJAVM_TEST_MUTATE, to prove that a replay finds a changed
 * device behaviour: "pio-read:PORT:N:XOR" flips bits XOR of the N-th (from 1) read of PORT;
 * "tick:N" drops the N-th rising edge of the PIT's IRQ0; "serial:N:XOR" flips bits XOR of the
 * N-th byte the UART transmits (a VMM bug in its output: the guest does not see it).
 */
void determ_mutate_read(struct vm *vm, uint16_t port, uint8_t *data, uint32_t size);
void determ_mutate_tx(struct vm *vm, uint8_t *c);

#endif
