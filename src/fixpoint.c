// SPDX-License-Identifier: MIT
/* The fixed-point search of deterministic mode (fixpoint.h, docs/determinism.md). */
#include "fixpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "determ.h"
#include "vcpu.h"
#include "vm.h"

#define RFLAGS_IGNORED (1ULL << 8 | 1ULL << 16) /* TF and RF: the debugger's, not the guest's */
#define CR0_PE	       (1ULL << 0)
#define EFER_LMA       (1ULL << 10)
#define HASH_SLOTS     (4 * FP_MAX_STEPS) /* open addressing, a power of two */

/* Per-vCPU scratch space: the states seen in this search and an index of them. */
struct fp_scratch {
	struct kvm_regs states[FP_MAX_STEPS + 1];
	uint16_t slots[HASH_SLOTS]; /* index + 1 into states, 0: empty */
	uint8_t pages[FP_MAX_PAGES][FP_PAGE_SIZE];
};

struct search {
	struct vcpu *v;
	struct fp_scratch *s;
	struct fp_result *res;
	struct kvm_sregs sregs; /* for the page walks and the CPL: refreshed where they change */
	int op; /* the opcode about to be stepped, after its prefixes (0x0fXX: two bytes) */
};

enum { STEP_ERROR = -1, STEP_UNSAFE = -2 };

static bool same_state(const struct kvm_regs *a, const struct kvm_regs *b)
{
	struct kvm_regs x = *a, y = *b;

	x.rflags &= ~RFLAGS_IGNORED;
	y.rflags &= ~RFLAGS_IGNORED;
	return !memcmp(&x, &y, sizeof(x));
}

/* The opcode of the instruction at RIP after its prefixes, or -1 when it cannot be read. */
static int next_opcode(struct search *sr)
{
	bool long_mode = sr->sregs.cs.l && (sr->sregs.efer & EFER_LMA);
	uint8_t insn[15];
	int n = guest_insn(sr->v->vm, &sr->res->regs, &sr->sregs, insn, sizeof(insn));

	for (int i = 0; i < n; i++) {
		uint8_t b = insn[i];

		if (b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x26 ||
		    b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 || b == 0x65 ||
		    (long_mode && (b & 0xf0) == 0x40))
			continue;
		if (b != 0x0f)
			return b;
		return i + 1 < n ? 0x0f00 | insn[i + 1] : -1;
	}
	return -1;
}

/*
 * Single-stepping must stay invisible to the guest. Where the trap flag KVM sets to step is not
 * hidden (guest user mode runs natively on the PVM hosts, and all guest code does on VT-x and
 * AMD-V), the guest sees it in what RFLAGS-saving instructions and events store: an exception
 * or system call in user mode then returns with TF set and the process gets SIGTRAP (seen: the
 * tiny Linux's init killed at --exit-budget 1). So the search steps no user-mode code at all,
 * and no instruction that saves RFLAGS or changes privilege; PUSHF is stepped and what it
 * stored gets TF cleared (it is the debugger's, never the guest's). Nor HLT, which exits when
 * run but, stepped, just goes on here (a "fixed point" of sti; hlt; cli loops was seen).
 */
static bool safe_to_step(struct search *sr)
{
	if ((sr->sregs.cr0 & CR0_PE) && sr->sregs.cs.dpl == 3)
		return false; /* user mode */
	sr->op = next_opcode(sr);
	switch (sr->op) {
	case -1:     /* unreadable (not mapped: the fetch faults; 32-bit paging: not walked) */
	case 0xf4:   /* HLT: stepped on PVM it does not exit, which it would when run */
	case 0xcc:   /* INT3 */
	case 0xcd:   /* INT n */
	case 0xce:   /* INTO */
	case 0xf1:   /* INT1 */
	case 0xcf:   /* IRET */
	case 0xca:   /* RETF imm */
	case 0xcb:   /* RETF */
	case 0x0f05: /* SYSCALL */
	case 0x0f07: /* SYSRET */
	case 0x0f34: /* SYSENTER */
	case 0x0f35: /* SYSEXIT */
		return false;
	default:
		return true;
	}
}

/* After a step: TF cleared in what a PUSHF stored; sregs reloaded after MOV to CRn, LGDT... */
static int after_step(struct search *sr)
{
	struct vcpu *v = sr->v;
	uint64_t gpa;
	uint8_t *flags;

	if (sr->op == 0x9c &&
	    !guest_linear_to_phys(v->vm, &sr->sregs, sr->sregs.ss.base + sr->res->regs.rsp + 1,
				  &gpa) &&
	    (flags = gpa_to_hva(&v->vm->mem, gpa, 1)))
		*flags &= ~1; /* bit 8 of the stored flags */
	if ((sr->op == 0x0f22 || sr->op == 0x0f01) && ioctl(v->fd, KVM_GET_SREGS, &sr->sregs))
		return -1;
	return 0;
}

/* One single-step. Returns the exit reason, STEP_UNSAFE (not taken) or STEP_ERROR. */
static int step(struct search *sr)
{
	struct vcpu *v = sr->v;

	if (!safe_to_step(sr))
		return STEP_UNSAFE;
	v->io_pending = false; /* a step completes it */
	while (ioctl(v->fd, KVM_RUN, 0) < 0) {
		/* a pause (vm_pause) waits here, and the search goes on as if none had come */
		if (errno == EINTR && atomic_load(&v->vm->pause_req) &&
		    !atomic_load(&v->vm->stopping)) {
			v->run->immediate_exit = 0;
			vcpu_park(v);
			continue;
		}
		if (errno != EINTR && errno != EAGAIN)
			vm_request_stop(v->vm, EXIT_VMM_ERROR, "vCPU %u: KVM_RUN (single-step): %s",
					v->id, strerror(errno));
		v->run->immediate_exit = 0;
		return STEP_ERROR;
	}
	sr->res->steps++;
	/* Progress for the exit-budget watchdog, which must not kick a search. */
	atomic_fetch_add_explicit(&v->exits, 1, memory_order_relaxed);
	if (v->run->exit_reason != KVM_EXIT_DEBUG)
		return v->run->exit_reason;
	sr->res->regs = v->run->s.regs.regs;
	return after_step(sr) ? STEP_ERROR : KVM_EXIT_DEBUG;
}

/* What ended a search at a step that returned r (not KVM_EXIT_DEBUG). */
static enum fp_kind step_end(int r)
{
	return r == STEP_UNSAFE ? FP_UNSAFE : r == STEP_ERROR ? FP_ERROR : FP_EXITED;
}

/*
 * Steps n times, checking that the vCPU goes through states[first + 1 ...] (modulo a pass of len
 * states from first). Returns FP_FIXED when it did, else what ended it.
 */
static enum fp_kind follow(struct search *sr, uint32_t first, uint32_t len, uint32_t n)
{
	for (uint32_t k = 1; k <= n; k++) {
		int r = step(sr);

		if (r != KVM_EXIT_DEBUG)
			return step_end(r);
		if (!same_state(&sr->res->regs, &sr->s->states[first + k % len]))
			return FP_CYCLE; /* the same registers took another path: memory changed */
	}
	return FP_FIXED;
}

static uint32_t min_rip_index(const struct fp_scratch *s, uint32_t first, uint32_t len)
{
	uint32_t best = first;

	for (uint32_t k = first + 1; k < first + len; k++) {
		const struct kvm_regs *a = &s->states[k], *b = &s->states[best];

		if (a->rip < b->rip ||
		    (a->rip == b->rip && determ_regs_hash(a) < determ_regs_hash(b)))
			best = k;
	}
	return best;
}

static int get_fpu_sregs(struct vcpu *v, struct kvm_fpu *fpu, struct kvm_sregs *sregs)
{
	memset(fpu, 0, sizeof(*fpu));
	memset(sregs, 0, sizeof(*sregs));
	if (ioctl(v->fd, KVM_GET_FPU, fpu) || ioctl(v->fd, KVM_GET_SREGS, sregs))
		return -errno;
	return 0;
}

static uint32_t coalesced_tail(const struct vm *vm)
{
	return vm->coalesced_ring ? __atomic_load_n(&vm->coalesced_ring->last, __ATOMIC_ACQUIRE)
				  : 0;
}

static bool page_in(uint64_t page, const uint64_t *pages, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (pages[i] == page)
			return true;
	return false;
}

/*
 * The vCPU is at states[first + len], whose registers equal states[first]'s. Two more passes
 * tell whether it is a fixed point: the registers go through the same states, and the second
 * pass writes only pages the first one wrote, leaving them as the first left them (so memory,
 * like the registers, ends the second pass as it ended the first). FPU, SSE and segment state
 * must not change either, nor may the guest post coalesced writes.
 */
static enum fp_kind check_passes(struct search *sr, uint32_t first, uint32_t len)
{
	struct vcpu *v = sr->v;
	struct vm *vm = v->vm;
	struct fp_result *res = sr->res;
	struct kvm_fpu fpu[2];
	struct kvm_sregs sregs[2];
	uint64_t written[FP_MAX_PAGES];
	uint32_t tail;
	enum fp_kind k;
	int n;

	k = follow(sr, first, len, len);
	if (k != FP_FIXED)
		return k;
	n = vm_dirty_pages(vm, res->pages, FP_MAX_PAGES);
	if (n < 0)
		return FP_ERROR;
	if (n > FP_MAX_PAGES)
		return FP_CYCLE; /* a loop that writes this much memory is doing work */
	res->nr_pages = n;
	for (int i = 0; i < n; i++) {
		const void *p = gpa_to_hva(&vm->mem, res->pages[i], FP_PAGE_SIZE);

		if (!p)
			return FP_CYCLE;
		memcpy(sr->s->pages[i], p, FP_PAGE_SIZE);
	}
	if (get_fpu_sregs(v, &fpu[0], &sregs[0]))
		return FP_ERROR;
	tail = coalesced_tail(vm);

	k = follow(sr, first, len, len);
	if (k != FP_FIXED)
		return k;
	n = vm_dirty_pages(vm, written, FP_MAX_PAGES);
	if (n < 0)
		return FP_ERROR;
	if (n > FP_MAX_PAGES)
		return FP_CYCLE;
	for (int i = 0; i < n; i++)
		if (!page_in(written[i], res->pages, res->nr_pages))
			return FP_CYCLE;
	for (unsigned int i = 0; i < res->nr_pages; i++)
		if (memcmp(sr->s->pages[i], gpa_to_hva(&vm->mem, res->pages[i], FP_PAGE_SIZE),
			   FP_PAGE_SIZE))
			return FP_CYCLE; /* e.g. a counter in memory: the loop makes progress */
	if (get_fpu_sregs(v, &fpu[1], &sregs[1]))
		return FP_ERROR;
	if (memcmp(&fpu[0], &fpu[1], sizeof(fpu[0])) ||
	    memcmp(&sregs[0], &sregs[1], sizeof(sregs[0])) || tail != coalesced_tail(vm))
		return FP_CYCLE;

	/* A fixed point: go on to its canonical state (at most one more pass). */
	return follow(sr, first, len, min_rip_index(sr->s, first, len) - first);
}

/*
 * KVM's dirty log costs the guest dearly on some hosts (2.4x the tiny-Linux boot time on the PVM
 * development hosts) and switching it costs ~25 ms there: it is on only while passes are checked,
 * which only a loop whose registers repeat gets to (about once per landmark).
 */
static enum fp_kind verify(struct search *sr, uint32_t first, uint32_t len)
{
	struct vm *vm = sr->v->vm;
	enum fp_kind k;

	sr->res->cycle = len;
	sr->res->cycle_rip = sr->s->states[min_rip_index(sr->s, first, len)].rip;
	if (vm_dirty_log(vm, true)) /* a log that starts empty */
		return FP_ERROR;
	k = check_passes(sr, first, len);
	if (vm_dirty_log(vm, false))
		return FP_ERROR;
	return k;
}

/* Index of an earlier state equal to states[n], or UINT32_MAX; records states[n] if new. */
static uint32_t seen_before(struct fp_scratch *s, uint32_t n)
{
	uint64_t h = determ_regs_hash(&s->states[n]);

	for (uint32_t i = (h * 0x9E3779B97F4A7C15ULL) >> 52;; i = (i + 1) % HASH_SLOTS) {
		uint16_t e = s->slots[i];

		if (!e) {
			s->slots[i] = n + 1;
			return UINT32_MAX;
		}
		if (same_state(&s->states[e - 1], &s->states[n]))
			return e - 1;
	}
}

/*
 * No state repeated. If the RIPs of the second half of the search repeat with a short period, the
 * vCPU is in a loop that counts or computes (FP_CYCLE); its signature is the period and the
 * smallest RIP of one pass.
 */
static enum fp_kind rip_cycle(struct search *sr, uint32_t n)
{
	const struct kvm_regs *st = sr->s->states;

	for (uint32_t p = 1; p <= n / 4; p++) {
		uint32_t j;

		if (st[n - p].rip != st[n].rip)
			continue;
		for (j = n / 2 + p; j <= n && st[j].rip == st[j - p].rip; j++)
			;
		if (j > n) {
			sr->res->cycle = p;
			sr->res->cycle_rip = st[min_rip_index(sr->s, n - p, p)].rip;
			return FP_CYCLE;
		}
	}
	return FP_NONE;
}

/*
 * An event KVM still has to deliver (an interrupt injected just before a kick stopped KVM_RUN,
 * an exception) would be delivered at the first single-step, with TF in the RFLAGS it saves:
 * the handler's IRET then makes the guest trap (seen: the timer guest's #DB). No search then.
 */
static bool event_pending(struct vcpu *v)
{
	struct kvm_vcpu_events ev;

	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev))
		return true;
	return ev.interrupt.injected || ev.exception.injected || ev.exception.pending ||
	       ev.nmi.injected || ev.nmi.pending;
}

static enum fp_kind search(struct search *sr)
{
	struct vcpu *v = sr->v;
	struct fp_scratch *s = sr->s;
	uint32_t n = 0, first;

	if (ioctl(v->fd, KVM_GET_REGS, &s->states[0]) || ioctl(v->fd, KVM_GET_SREGS, &sr->sregs))
		return FP_ERROR;
	if (event_pending(v))
		return FP_UNSAFE;
	sr->res->regs = s->states[0];
	memset(s->slots, 0, sizeof(s->slots));
	seen_before(s, 0);
	for (;;) {
		int r;

		/* A loop whose RIPs repeat for a few passes but not its registers counts. */
		if (n == FP_MAX_STEPS ||
		    (n >= 128 && !(n & (n - 1)) && rip_cycle(sr, n) == FP_CYCLE))
			return rip_cycle(sr, n);
		r = step(sr);
		if (r != KVM_EXIT_DEBUG)
			return step_end(r);
		s->states[++n] = sr->res->regs;
		first = seen_before(s, n);
		if (first != UINT32_MAX)
			return verify(sr, first, n - first);
	}
}

void fixpoint_search(struct vcpu *v, struct fp_result *res)
{
	struct search sr = {.v = v, .res = res};
	int r;

	memset(res, 0, sizeof(*res));
	if (!v->fp_scratch)
		v->fp_scratch = malloc(sizeof(struct fp_scratch));
	sr.s = v->fp_scratch;
	if (!sr.s) {
		res->kind = FP_ERROR;
		return;
	}
	r = vcpu_set_single_step(v, true);
	if (r) {
		vm_request_stop(v->vm, EXIT_VMM_ERROR, "KVM_SET_GUEST_DEBUG: %s", strerror(-r));
		res->kind = FP_ERROR;
		return;
	}
	res->kind = search(&sr);
	if (res->kind != FP_FIXED && res->kind != FP_CYCLE)
		res->nr_pages = res->cycle = 0;
	r = vcpu_set_single_step(v, false);
	if (r) {
		vm_request_stop(v->vm, EXIT_VMM_ERROR, "KVM_SET_GUEST_DEBUG: %s", strerror(-r));
		res->kind = FP_ERROR;
	}
}

void fixpoint_pass_pages(struct vcpu *v, struct fp_result *res)
{
	struct search sr = {.v = v, .res = res};
	struct vm *vm = v->vm;
	int n;

	res->nr_pages = 0;
	if (!res->cycle || ioctl(v->fd, KVM_GET_SREGS, &sr.sregs) || event_pending(v) ||
	    vcpu_set_single_step(v, true) || vm_dirty_log(vm, true)) {
		vcpu_set_single_step(v, false);
		return;
	}
	for (uint32_t k = 0; k < res->cycle; k++) {
		int r = step(&sr);

		if (r != KVM_EXIT_DEBUG) {
			if (r != STEP_UNSAFE) /* (that one just ends the pass early) */
				res->kind = step_end(r);
			break;
		}
	}
	n = vm_dirty_pages(vm, res->pages, FP_MAX_PAGES);
	res->nr_pages = n < 0 ? 0 : n > FP_MAX_PAGES ? FP_MAX_PAGES : n;
	vm_dirty_log(vm, false);
	if (vcpu_set_single_step(v, false))
		res->kind = FP_ERROR;
}

uint64_t fixpoint_mem_hash(const struct vm *vm, const uint64_t *pages, unsigned int n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *p = gpa_to_hva(&vm->mem, pages[i], FP_PAGE_SIZE);

		for (unsigned int b = 0; b < FP_PAGE_SIZE; b++)
			h = (h ^ (p ? p[b] : 0xff)) * 0x100000001b3ULL;
	}
	return h;
}

void fixpoint_landmark(const struct vm *vm, const struct fp_result *res, bool fixed, uint64_t after,
		       struct landmark *lm)
{
	memset(lm, 0, sizeof(*lm));
	lm->after = after;
	lm->rip = res->regs.rip;
	lm->regs_hash = determ_regs_hash(&res->regs);
	lm->fixed = fixed;
	lm->cycle = res->cycle;
	lm->nr_pages = res->nr_pages;
	memcpy(lm->pages, res->pages, res->nr_pages * sizeof(res->pages[0]));
	lm->mem_hash = fixpoint_mem_hash(vm, lm->pages, lm->nr_pages);
}
