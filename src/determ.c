// SPDX-License-Identifier: MIT
/* Deterministic mode: the virtual clock, the VMM's PIC and PIT, and injection at exits. */
#include "determ.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "devices/pic.h"
#include "devices/pit.h"
#include "fixpoint.h"
#include "log.h"
#include "trace.h"
#include "vcpu.h"
#include "vm.h"

#define RFLAGS_TF (1ULL << 8)
#define RFLAGS_RF (1ULL << 16)

struct determ {
	struct vm *vm;
	struct pic *pic;
	struct pit *pit;
	/* $DEJAVM_TEST_MUTATE */
	enum { MUTATE_NONE, MUTATE_PIO_READ, MUTATE_TICK, MUTATE_SERIAL } mutate;
	uint16_t mutate_port;
	uint8_t mutate_xor;
	uint64_t mutate_nth, mutate_seen;
};

static void pit_irq0(void *ctx)
{
	struct determ *d = ctx;

	if (d->mutate == MUTATE_TICK && ++d->mutate_seen == d->mutate_nth) {
		log_warn("test mutation: PIT tick %" PRIu64 " dropped", d->mutate_nth);
		return;
	}
	/* The PIC latches IRQ0 on the rising edge: a pulse is one tick. */
	determ_set_irq(d->vm, 0, true);
	determ_set_irq(d->vm, 0, false);
}

static void parse_mutation(struct determ *d)
{
	const char *m = getenv("DEJAVM_TEST_MUTATE");
	unsigned int port, xor;
	unsigned long long nth;

	if (!m || !*m || !strncmp(m, "event:", 6) || !strncmp(m, "memory:", 7))
		return; /* event: and memory: are the replayer's (replay.c) */
	if (sscanf(m, "pio-read:%i:%llu:%i", &port, &nth, &xor) == 3 && port <= 0xffff &&
	    xor <= 0xff && nth) {
		d->mutate = MUTATE_PIO_READ;
		d->mutate_port = port;
		d->mutate_xor = xor;
		d->mutate_nth = nth;
	} else if (sscanf(m, "tick:%llu", &nth) == 1 && nth) {
		d->mutate = MUTATE_TICK;
		d->mutate_nth = nth;
	} else if (sscanf(m, "serial:%llu:%i", &nth, &xor) == 2 && nth && xor <= 0xff) {
		d->mutate = MUTATE_SERIAL;
		d->mutate_nth = nth;
		d->mutate_xor = xor;
	} else {
		log_warn("DEJAVM_TEST_MUTATE=%s: not understood (pio-read:PORT:N:XOR, tick:N or "
			 "serial:N:XOR)",
			 m);
	}
}

int determ_init(struct vm *vm)
{
	struct determ *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->vm = vm;
	vm->det = d;
	parse_mutation(d);
	d->pic = pic_new();
	d->pit = pit_new(&vm->vtime_ns, pit_irq0, d);
	if (!d->pic || !d->pit)
		return -ENOMEM;
	r = pic_register(d->pic, &vm->pio_bus);
	if (!r)
		r = pit_register(d->pit, &vm->pio_bus);
	if (!r)
		r = vm_persist(vm, "pic", pic_save, pic_load, d->pic, NULL);
	if (!r)
		r = vm_persist(vm, "pit", pit_save, pit_load, d->pit, NULL);
	return r;
}

void determ_free(struct vm *vm)
{
	struct determ *d = vm->det;

	if (!d)
		return;
	if (d->pic)
		pic_free(d->pic);
	if (d->pit)
		pit_free(d->pit);
	free(d);
	vm->det = NULL;
}

void determ_set_irq(struct vm *vm, unsigned int irq, bool level)
{
	if (vm->trace)
		trace_irq(vm->trace, irq, level);
	pic_set_irq(vm->det->pic, irq, level);
}

void determ_mask_cpuid(struct kvm_cpuid2 *cpuid)
{
	for (unsigned int i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			e->ecx &= ~(1u << 30 | 1u << 24 |
				    1u << 21);		/* RDRAND, TSC-deadline, x2APIC */
			e->edx &= ~(1u << 9 | 1u << 4); /* APIC (none), TSC */
			break;
		case 7:
			if (e->index == 0) {
				e->ebx &= ~(1u << 18); /* RDSEED */
				e->ecx &= ~(1u << 22); /* RDPID */
			}
			break;
		case 0x40000001:
			e->eax = 0; /* no KVM paravirt features: no kvmclock, no steal time */
			break;
		case 0x80000001:
			e->edx &= ~(1u << 27); /* RDTSCP */
			break;
		case 0x80000007:
			e->edx &= ~(1u << 8); /* invariant TSC */
			break;
		}
	}
}

void determ_exit(struct vcpu *v)
{
	v->vm->vtime_ns += DET_NS_PER_EXIT;
}

/* Time skips ahead to the next PIT deadline, as if the guest had idled until then. */
static bool skip_to_deadline(struct vm *vm)
{
	uint64_t deadline = pit_next_deadline(vm->det->pit);

	if (deadline == UINT64_MAX)
		return false;
	if (deadline > vm->vtime_ns)
		vm->vtime_ns = deadline;
	return true;
}

bool determ_hlt(struct vcpu *v, const char **why)
{
	struct determ *d = v->vm->det;

	if (!v->run->if_flag) {
		*why = "KVM_EXIT_HLT with interrupts disabled (nothing can wake the vCPU)";
		return false;
	}
	if (pic_intr_pending(d->pic) || skip_to_deadline(v->vm))
		return true;
	*why = "KVM_EXIT_HLT with no interrupt pending and no timer armed";
	return false;
}

uint64_t determ_regs_hash(const struct kvm_regs *r)
{
	const uint64_t regs[] = {
		r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi,
		r->rsp, r->rbp, r->r8,	r->r9,	r->r10, r->r11,
		r->r12, r->r13, r->r14, r->r15, r->rip, r->rflags & ~(RFLAGS_TF | RFLAGS_RF)};
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		for (int b = 0; b < 64; b += 8)
			h = (h ^ ((regs[i] >> b) & 0xff)) * 0x100000001b3ULL;
	return h;
}

bool determ_landmark(struct vcpu *v, const struct landmark *lm, const char **why)
{
	struct vm *vm = v->vm;

	vm->stats.landmarks++;
	if (!lm->fixed)
		vm->stats.nondeterministic++;
	if (vm->trace) {
		uint8_t pages[FP_MAX_PAGES * 8];

		for (unsigned int i = 0; i < lm->nr_pages; i++)
			for (unsigned int b = 0; b < 8; b++)
				pages[8 * i + b] = lm->pages[i] >> (8 * b);
		trace_landmark(vm->trace, lm->after, lm->rip, lm->regs_hash, lm->fixed, lm->cycle,
			       pages, 8 * lm->nr_pages, lm->mem_hash);
	}
	vm->vtime_ns += DET_NS_PER_EXIT;
	if (!lm->fixed) {
		/* A loop that counts or computes: it gets its next tick here, wherever that is. */
		skip_to_deadline(vm);
		return true;
	}
	/* A loop that only waits is a HLT spelled as a loop. */
	if (!v->run->if_flag) {
		*why = "a loop that waits with interrupts disabled (nothing can end it)";
		return false;
	}
	if (pic_intr_pending(vm->det->pic) || skip_to_deadline(vm))
		return true;
	*why = "a loop that waits with no interrupt pending and no timer armed";
	return false;
}

/* IF set and no interrupt shadow, as KVM reported them with the last exit. */
static bool can_take_interrupt(const struct kvm_run *run)
{
	return run->ready_for_interrupt_injection && run->if_flag;
}

void determ_before_run(struct vcpu *v)
{
	struct determ *d = v->vm->det;
	struct kvm_run *run = v->run;

	pit_update(d->pit);
	if (!pic_intr_pending(d->pic) || !can_take_interrupt(run))
		return;
	struct kvm_interrupt irq = {.irq = pic_acknowledge(d->pic)};

	if (v->vm->trace)
		trace_intr(v->vm->trace, irq.irq);
	if (ioctl(v->fd, KVM_INTERRUPT, &irq))
		vm_request_stop(v->vm, EXIT_VMM_ERROR, "KVM_INTERRUPT vector 0x%x: %s", irq.irq,
				strerror(errno));
}

bool determ_irq_blocked(const struct vcpu *v)
{
	return pic_intr_pending(v->vm->det->pic) && !can_take_interrupt(v->run);
}

void determ_mutate_tx(struct vm *vm, uint8_t *c)
{
	struct determ *d = vm->det;

	if (!d || d->mutate != MUTATE_SERIAL || ++d->mutate_seen != d->mutate_nth)
		return;
	log_warn("test mutation: serial byte %" PRIu64 ": 0x%x becomes 0x%x", d->mutate_nth, *c,
		 *c ^ d->mutate_xor);
	*c ^= d->mutate_xor;
}

void determ_mutate_read(struct vm *vm, uint16_t port, uint8_t *data, uint32_t size)
{
	struct determ *d = vm->det;

	(void)size;
	if (!d || d->mutate != MUTATE_PIO_READ || port != d->mutate_port)
		return;
	if (++d->mutate_seen == d->mutate_nth) {
		log_warn("test mutation: read %" PRIu64 " of port 0x%x: 0x%x becomes 0x%x",
			 d->mutate_nth, port, data[0], data[0] ^ d->mutate_xor);
		data[0] ^= d->mutate_xor;
	}
}
