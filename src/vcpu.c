// SPDX-License-Identifier: MIT
#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "determ.h"
#include "fixpoint.h"
#include "log.h"
#include "persist.h"
#include "probes.h"
#include "sandbox.h"
#include "trace.h"
#include "vm.h"

#define SIG_KICK     SIGUSR1
#define MSR_IA32_TSC 0x10
#define MAX_MSRS     1024

static __thread struct vcpu *current_vcpu;

/* SIG_KICK: KVM_RUN returns EINTR; immediate_exit covers a kick just before entry. */
static void kick_handler(int sig)
{
	(void)sig;
	if (current_vcpu)
		current_vcpu->run->immediate_exit = 1;
}

static int setup_cpuid(struct vcpu *v)
{
	const struct kvm_cpuid2 *fixed = v->vm->cfg->cpuid;
	struct kvm_cpuid2 *cpuid = NULL;
	int nent = 64, r;

	if (fixed) { /* a replay: exactly the recorded table */
		size_t size = sizeof(*fixed) + fixed->nent * sizeof(fixed->entries[0]);

		cpuid = malloc(size);
		if (!cpuid)
			return -ENOMEM;
		memcpy(cpuid, fixed, size);
		goto set;
	}
	for (;;) {
		free(cpuid);
		cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
		if (!cpuid)
			return -ENOMEM;
		cpuid->nent = nent;
		if (!ioctl(v->vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid))
			break;
		if (errno != E2BIG || nent >= 1024) {
			r = -errno;
			free(cpuid);
			return r;
		}
		nent *= 2;
	}
	for (unsigned int i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			e->ecx |= 1u << 31; /* running under a hypervisor */
			e->ebx = (e->ebx & 0x00ffffff) | (v->id << 24);
			break;
		case 0xb:
		case 0x1f:
			e->edx = v->id;
			break;
		case 0x80000008:
			/*
			 * XSAVEERPTR: FXSAVE saves the error pointers, so Linux skips its AMD
			 * "FXSAVE leak" workaround, which runs FNCLEX (not emulated on PVM hosts).
			 */
			e->ebx |= 1u << 2;
			break;
		}
	}
	if (v->vm->det)
		determ_mask_cpuid(cpuid);
set:
	r = ioctl(v->fd, KVM_SET_CPUID2, cpuid) ? -errno : 0;
	if (r)
		free(cpuid);
	else
		v->cpuid = cpuid;
	return r;
}

/* Virtual-wire mode, as firmware leaves it: PIC interrupts through LINT0, NMI on LINT1. */
static int setup_lapic(struct vcpu *v)
{
	struct kvm_lapic_state lapic;
	uint32_t lvt0 = 0x700, lvt1 = 0x400; /* ExtINT, NMI; both unmasked */

	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic))
		return -errno;
	memcpy(&lapic.regs[0x350], &lvt0, 4);
	memcpy(&lapic.regs[0x360], &lvt1, 4);
	return ioctl(v->fd, KVM_SET_LAPIC, &lapic) ? -errno : 0;
}

int vcpu_create(struct vm *vm, struct vcpu *v, unsigned int id)
{
	struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
	int r;

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->id = id;
	v->loop.exits = UINT64_MAX; /* no kick yet */
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (v->fd < 0)
		return -errno;
	v->run = mmap(NULL, vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		r = -errno;
		v->run = NULL;
		return r;
	}
	r = setup_cpuid(v);
	if (r) {
		log_err("vCPU %u: KVM_SET_CPUID2: %s", id, strerror(-r));
		return r;
	}
	r = v->vm->det ? 0 : setup_lapic(v); /* deterministic mode has no in-kernel LAPIC */
	if (r) {
		log_err("vCPU %u: LAPIC setup: %s", id, strerror(-r));
		return r;
	}
	if (ioctl(v->fd, KVM_SET_FPU, &fpu))
		return -errno;
	return 0;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->vm->vcpu_mmap_size);
	if (v->fd >= 0)
		close(v->fd);
	free(v->cpuid);
	free(v->fp_scratch);
	v->cpuid = NULL;
	v->fp_scratch = NULL;
	v->run = NULL;
	v->fd = -1;
}

/* The MSRs KVM saves and restores (KVM_GET_MSR_INDEX_LIST), read once. */
static struct kvm_msr_list *msr_list(int kvm_fd)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct kvm_msr_list *list;

	pthread_mutex_lock(&lock);
	if (!list && (list = calloc(1, sizeof(*list) + MAX_MSRS * sizeof(list->indices[0])))) {
		list->nmsrs = MAX_MSRS;
		if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list))
			list->nmsrs = 0;
	}
	pthread_mutex_unlock(&lock);
	return list;
}

static struct kvm_msrs *msrs_alloc(unsigned int n)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + (n ? n : 1) * sizeof(m->entries[0]));

	if (m)
		m->nmsrs = n;
	return m;
}

/* One MSR of this vCPU; false when KVM cannot read it. */
static bool msr_get(struct vcpu *v, uint32_t index, __u64 *value)
{
	/* a header and one entry (a struct ending in both is a GNU extension clang warns of) */
	union {
		struct kvm_msrs h;
		uint8_t bytes[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} one = {.h = {.nmsrs = 1}};

	one.h.entries[0].index = index;
	if (ioctl(v->fd, KVM_GET_MSRS, &one) != 1)
		return false;
	*value = one.h.entries[0].data;
	return true;
}

/* [[index, value], ...] of every MSR KVM reads (the TSC only in normal mode: host time). */
static int save_msrs(struct vcpu *v, msgpack_packer *pk)
{
	const struct kvm_msr_list *list = msr_list(v->vm->kvm_fd);
	struct kvm_msrs *m;
	unsigned int n = 0, got = 0;
	int r;

	if (!list)
		return -ENOMEM;
	m = msrs_alloc(list->nmsrs);
	if (!m)
		return -ENOMEM;
	for (unsigned int i = 0; i < list->nmsrs; i++)
		if (!(v->vm->det && list->indices[i] == MSR_IA32_TSC))
			m->entries[n++].index = list->indices[i];
	m->nmsrs = n;
	r = ioctl(v->fd, KVM_GET_MSRS, m);
	if (r < 0) {
		r = -errno;
		free(m);
		return r;
	}
	/* KVM stops at the first it cannot read: the rest one by one, skipping those. */
	for (unsigned int i = 0; i < n; i++)
		if (i < (unsigned int)r || msr_get(v, m->entries[i].index, &m->entries[i].data))
			m->entries[got++] = m->entries[i];
	persist_key(pk, "msrs");
	msgpack_pack_array(pk, got);
	for (unsigned int i = 0; i < got; i++) {
		msgpack_pack_array(pk, 2);
		msgpack_pack_uint32(pk, m->entries[i].index);
		msgpack_pack_uint64(pk, m->entries[i].data);
	}
	free(m);
	return 0;
}

/* Sets them all; one KVM refuses is fine if this vCPU already has that value. */
static bool load_msrs(struct vcpu *v, struct persist_in *in)
{
	const msgpack_object *a = persist_find(in, "msrs");
	struct kvm_msrs *m;
	unsigned int n;
	bool ok = true;

	if (!a || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size > MAX_MSRS)
		return persist_fail(in, "msrs", "missing, or not an array of at most %d", MAX_MSRS);
	n = a->via.array.size;
	m = msrs_alloc(n);
	if (!m)
		return persist_fail(in, "msrs", "out of memory");
	for (unsigned int i = 0; i < n; i++) {
		const msgpack_object *e = &a->via.array.ptr[i];

		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2 ||
		    e->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    e->via.array.ptr[0].via.u64 > UINT32_MAX ||
		    e->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			free(m);
			return persist_fail(in, "msrs", "entry %u is not [index, value]", i);
		}
		m->entries[i].index = e->via.array.ptr[0].via.u64;
		m->entries[i].data = e->via.array.ptr[1].via.u64;
	}
	for (unsigned int done = 0; ok && done < n;) {
		struct kvm_msrs *rest = msrs_alloc(n - done);
		int r;
		__u64 have;

		if (!rest) {
			ok = persist_fail(in, "msrs", "out of memory");
			break;
		}
		memcpy(rest->entries, m->entries + done, (n - done) * sizeof(m->entries[0]));
		r = ioctl(v->fd, KVM_SET_MSRS, rest);
		free(rest);
		if (r < 0) {
			ok = persist_fail(in, "msrs", "KVM_SET_MSRS: %s", strerror(errno));
			break;
		}
		done += r;
		if (done == n)
			break;
		if (!msr_get(v, m->entries[done].index, &have) || have != m->entries[done].data)
			ok = persist_fail(in, "msrs",
					  "MSR 0x%x = 0x%llx cannot be set on this host "
					  "(KVM_SET_MSRS refuses it)",
					  m->entries[done].index,
					  (unsigned long long)m->entries[done].data);
		done++;
	}
	free(m);
	return ok;
}

/* The XSAVE area's size here: 4 KiB, or what KVM_CAP_XSAVE2 says. */
static size_t xsave_size(const struct vcpu *v)
{
	int n = ioctl(v->vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	return n > (int)sizeof(struct kvm_xsave) ? (size_t)n : sizeof(struct kvm_xsave);
}

/* The KVM structures a vCPU's state is made of: ioctl pairs, saved as their bytes. */
static const struct vcpu_part {
	const char *name;
	unsigned long get, set;
	size_t size;	  /* 0: the XSAVE area's */
	bool normal_only; /* the in-kernel LAPIC (deterministic mode has none) */
} vcpu_parts[] = {
	/* restored in this order: segments and EFER before the MSRs and the LAPIC that need them */
	{"sregs", KVM_GET_SREGS, KVM_SET_SREGS, sizeof(struct kvm_sregs), false},
	{"regs", KVM_GET_REGS, KVM_SET_REGS, sizeof(struct kvm_regs), false},
	{"xcrs", KVM_GET_XCRS, KVM_SET_XCRS, sizeof(struct kvm_xcrs), false},
	{"xsave", KVM_GET_XSAVE2, KVM_SET_XSAVE, 0, false},
	{"lapic", KVM_GET_LAPIC, KVM_SET_LAPIC, sizeof(struct kvm_lapic_state), true},
	{"events", KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, sizeof(struct kvm_vcpu_events), false},
	{"debugregs", KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, sizeof(struct kvm_debugregs), false},
	{"mp_state", KVM_GET_MP_STATE, KVM_SET_MP_STATE, sizeof(struct kvm_mp_state), false},
};
#define NR_VCPU_PARTS (sizeof(vcpu_parts) / sizeof(vcpu_parts[0]))

static bool part_used(const struct vcpu *v, const struct vcpu_part *p)
{
	return !(p->normal_only && v->vm->det);
}

/*
 * XSTATE_BV says which components the XSAVE area holds; for x87 and SSE in their initial state
 * it varies with what the host did (seen: bit 0 set in one recording, clear in the next, the
 * area the same initial values both times). Setting both bits describes the same state, and
 * keeps deterministic checkpoints the same byte for byte.
 */
static void xsave_canonical(uint8_t *xsave)
{
	xsave[512] |= 0x3; /* XSTATE_BV: x87, SSE */
}

int vcpu_save(struct vcpu *v, msgpack_packer *pk)
{
	size_t xsize = xsave_size(v);
	uint8_t *buf = calloc(1, xsize > 4096 ? xsize : 4096);
	unsigned int n = 4; /* msrs, if_flag, ready_for_interrupt_injection, last_exit_seq */
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < NR_VCPU_PARTS; i++)
		n += part_used(v, &vcpu_parts[i]);
	msgpack_pack_map(pk, n);
	for (size_t i = 0; i < NR_VCPU_PARTS; i++) {
		const struct vcpu_part *p = &vcpu_parts[i];
		size_t size = p->size ? p->size : xsize;

		if (!part_used(v, p))
			continue;
		memset(buf, 0, size);
		/* KVM_GET_XSAVE2 only where the area is bigger than KVM_GET_XSAVE's */
		if (ioctl(v->fd, p->get == KVM_GET_XSAVE2 && size == 4096 ? KVM_GET_XSAVE : p->get,
			  buf) &&
		    !r)
			r = -errno;
		if (p->get == KVM_GET_XSAVE2 && v->vm->det)
			xsave_canonical(buf);
		persist_bin(pk, p->name, buf, size);
	}
	free(buf);
	if (!r)
		r = save_msrs(v, pk);
	/* what KVM said with the last exit: deterministic mode injects by them before running */
	persist_u64(pk, "if_flag", v->run->if_flag);
	persist_u64(pk, "ready_for_interrupt_injection", v->run->ready_for_interrupt_injection);
	persist_u64(pk, "last_exit_seq", v->last_exit_seq);
	return r;
}

bool vcpu_load(struct vcpu *v, struct persist_in *in)
{
	size_t xsize = xsave_size(v);
	uint8_t *buf = calloc(1, xsize);
	uint64_t if_flag, ready;
	bool ok = buf != NULL;

	for (size_t i = 0; ok && i < NR_VCPU_PARTS; i++) {
		const struct vcpu_part *p = &vcpu_parts[i];
		size_t size = p->size ? p->size : xsize;

		if (!part_used(v, p))
			continue;
		ok = persist_get_BIN(in, p->name, buf, size);
		if (ok && ioctl(v->fd, p->set, buf))
			ok = persist_fail(in, p->name, "KVM refuses it: %s", strerror(errno));
		/* MSRs after the LAPIC (the TSC deadline needs it), before the events */
		if (ok && !strcmp(p->name, v->vm->det ? "xsave" : "lapic"))
			ok = load_msrs(v, in);
	}
	free(buf);
	ok = ok && persist_get_u64(in, "if_flag", 1, &if_flag) &&
	     persist_get_u64(in, "ready_for_interrupt_injection", 1, &ready) &&
	     persist_get_UINT(in, "last_exit_seq", &v->last_exit_seq, sizeof(v->last_exit_seq));
	if (ok) {
		v->run->if_flag = if_flag;
		v->run->ready_for_interrupt_injection = ready;
	}
	return ok;
}

int vcpu_get_sregs(struct vcpu *v, struct kvm_sregs *sregs)
{
	return ioctl(v->fd, KVM_GET_SREGS, sregs) ? -errno : 0;
}

int vcpu_set_boot_regs(struct vcpu *v, const struct kvm_regs *regs, const struct kvm_sregs *sregs)
{
	if (ioctl(v->fd, KVM_SET_SREGS, sregs))
		return -errno;
	return ioctl(v->fd, KVM_SET_REGS, regs) ? -errno : 0;
}

static uint64_t le_value(const uint8_t *data, uint32_t len)
{
	uint64_t v = 0;

	memcpy(&v, data, len < 8 ? len : 8);
	return v;
}

/* One PIO access, from an exit or from the coalesced ring. */
static void pio_access(struct vcpu *v, uint16_t port, uint32_t size, uint8_t *data, bool is_write)
{
	struct vm *vm = v->vm;
	bool handled = bus_access(&vm->pio_bus, port, data, size, is_write);

	if (!is_write && vm->det)
		determ_mutate_read(vm, port, data, size);
	if (is_write)
		vm->stats.pio_out++;
	else
		vm->stats.pio_in++;
	if (!handled) {
		vm->stats.pio_unhandled++;
		log_debug("unhandled PIO %s port 0x%x size %u", is_write ? "out" : "in", port,
			  size);
	}
	if (vm->trace)
		trace_pio(vm->trace, port, size, is_write, le_value(data, size), handled);
	/* After the event, which holds what the device model said: the guest may get the trace's.
	 */
	if (!is_write && vm->replay && vm->replay->read)
		vm->replay->read(vm->replay->ctx, true, port, size, data);
}

/* One MMIO access, from an exit or from the coalesced ring. */
static void mmio_access(struct vcpu *v, uint64_t addr, uint32_t len, uint8_t *data, bool is_write)
{
	struct vm *vm = v->vm;
	bool handled = bus_access(&vm->mmio_bus, addr, data, len, is_write);

	if (is_write)
		vm->stats.mmio_write++;
	else
		vm->stats.mmio_read++;
	if (!handled) {
		vm->stats.mmio_unhandled++;
		log_debug("unhandled MMIO %s 0x%llx len %u", is_write ? "write" : "read",
			  (unsigned long long)addr, len);
	}
	if (vm->trace)
		trace_mmio(vm->trace, addr, len, is_write, le_value(data, len), handled);
	if (!is_write && vm->replay && vm->replay->read)
		vm->replay->read(vm->replay->ctx, false, addr, len, data);
}

static void handle_pio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint64_t bytes = (uint64_t)run->io.size * run->io.count;

	if (run->io.data_offset + bytes > (uint64_t)v->vm->vcpu_mmap_size || run->io.size > 8) {
		vm_request_stop(v->vm, EXIT_VMM_ERROR,
				"KVM gave a PIO exit with data outside kvm_run");
		return;
	}
	/* String I/O (rep ins/outs) arrives as count back-to-back accesses. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		pio_access(v, run->io.port, run->io.size, data, is_write);
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;

	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	mmio_access(v, run->mmio.phys_addr, len, run->mmio.data, run->mmio.is_write);
}

/*
 * Writes KVM posted to the coalesced ring instead of exiting (vm_coalesce_writes). They happened
 * before the current exit, so they are applied (and recorded) first, in guest order.
 */
static void apply_coalesced(struct vcpu *v, struct kvm_coalesced_mmio *e)
{
	uint32_t len = e->len < sizeof(e->data) ? e->len : sizeof(e->data);

	if (e->pio) {
		v->vm->stats.pio_coalesced++;
		pio_access(v, e->phys_addr, len, e->data, true);
	} else {
		v->vm->stats.mmio_coalesced++;
		mmio_access(v, e->phys_addr, len, e->data, true);
	}
}

static void drain_coalesced(struct vcpu *v)
{
	struct kvm_coalesced_mmio_ring *ring = v->vm->coalesced_ring;
	const uint32_t max = (4096 - sizeof(*ring)) / sizeof(ring->coalesced_mmio[0]);

	/* A restored snapshot's ring came first (snapshot.c) */
	for (unsigned int i = 0; i < v->vm->nr_restored_ring; i++)
		apply_coalesced(v, &v->vm->restored_ring[i]);
	v->vm->nr_restored_ring = 0;
	if (!ring)
		return;
	while (ring->first != __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE)) {
		apply_coalesced(v, &ring->coalesced_mmio[ring->first % max]);
		__atomic_store_n(&ring->first, (ring->first + 1) % max, __ATOMIC_RELEASE);
	}
}

static void guest_failure(struct vcpu *v, const char *what)
{
	/* One report, even if several vCPUs fail at once. */
	static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&report_lock);
	if (!atomic_load(&v->vm->stopping)) {
		if (v->vm->serial)
			serial_flush(v->vm->serial); /* the guest's last words come first */
		report_failure(v, what, stderr);
	}
	pthread_mutex_unlock(&report_lock);
	vm_request_stop(v->vm, EXIT_GUEST_CRASH, "%s", what);
}

static void handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(v->vm, 0, "guest powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(v->vm, 0, "guest reset");
		break;
	default:
		guest_failure(v, "KVM_EXIT_SYSTEM_EVENT (crash)");
		break;
	}
}

/* Deterministic mode: the guest waits (HLT, or a loop that only waits): devices take input. */
static void run_hlt_hooks(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_hlt_hooks; i++)
		vm->hlt_hooks[i].fn(vm->hlt_hooks[i].arg);
}

/* The exit event; in deterministic mode also the registers, so a replay can tell which differ. */
static void record_exit(struct vcpu *v, unsigned int reason)
{
	struct tracer *t = v->vm->trace;
	const struct kvm_regs *r = &v->run->s.regs.regs;

	if (!t)
		return;
	v->last_exit_seq = trace_events_emitted(t); /* the seq this event gets */
	/* RIP comes with the exit (KVM_SYNC_X86_REGS), so recording costs no extra ioctl. */
	trace_exit(t, reason, r->rip);
	if (v->vm->det)
		trace_regs(t, r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp, r->rbp, r->r8,
			   r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15, r->rflags);
}

/*
 * The one dispatch point for VM exits: every exit of every vCPU passes here, so this is where
 * devices are reached, statistics are kept and the recorder hooks in.
 */
static void vcpu_dispatch_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned int reason = run->exit_reason;
	struct vm *vm = v->vm;
	const char *why;

	if (reason == KVM_EXIT_INTR && vm->det)
		return; /* a kick to stop: not the guest's (the watchdog's: vcpu_thread) */
	v->io_pending = reason == KVM_EXIT_IO || reason == KVM_EXIT_MMIO;
	vm->stats.by_reason[reason < STATS_MAX_REASON ? reason : STATS_MAX_REASON - 1]++;
	if (vm->det)
		determ_exit(v);
	record_exit(v, reason);
	drain_coalesced(v);
	switch (reason) {
	case KVM_EXIT_IO:
		handle_pio(v);
		break;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		break;
	case KVM_EXIT_INTR:
		break; /* kicked: the run loop looks at vm->stopping */
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(v);
		break;
	case KVM_EXIT_HLT:
		if (!vm->det) {
			guest_failure(v, "KVM_EXIT_HLT (the guest halted with nothing to wake it)");
			break;
		}
		run_hlt_hooks(vm);
		if (!determ_hlt(v, &why))
			guest_failure(v, why);
		break;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		guest_failure(v, "unexpected KVM_EXIT_IRQ_WINDOW_OPEN (never requested)");
		break;
	case KVM_EXIT_SHUTDOWN:
		guest_failure(v, "KVM_EXIT_SHUTDOWN (triple fault)");
		break;
	case KVM_EXIT_FAIL_ENTRY:
		guest_failure(v, "KVM_EXIT_FAIL_ENTRY (KVM could not enter the guest)");
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		guest_failure(v, "KVM_EXIT_INTERNAL_ERROR");
		break;
	default:
		guest_failure(v, "unhandled exit");
		break;
	}
}

int vcpu_set_debug(struct vcpu *v, enum vcpu_debug mode, uint64_t addr)
{
	struct kvm_guest_debug dbg = {0};

	if (mode == VCPU_DEBUG_STEP) {
		dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
	} else if (mode == VCPU_DEBUG_BREAK) {
		dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
		dbg.arch.debugreg[0] = addr;
		dbg.arch.debugreg[7] = 0x401; /* DR0 enabled (local), on execution; bit 10 is 1 */
	}
	return ioctl(v->fd, KVM_SET_GUEST_DEBUG, &dbg) ? -errno : 0;
}

int vcpu_set_single_step(struct vcpu *v, bool on)
{
	return vcpu_set_debug(v, on ? VCPU_DEBUG_STEP : VCPU_DEBUG_OFF, 0);
}

/*
 * Deterministic mode: while an interrupt waits for the guest to set IF, single-step, so that it
 * is injected at exactly the instruction that sets it (see determ.h).
 */
static void irq_step(struct vcpu *v, bool on)
{
	int r;

	if (on == v->irq_stepping)
		return;
	r = vcpu_set_single_step(v, on);
	if (r)
		vm_request_stop(v->vm, EXIT_VMM_ERROR, "KVM_SET_GUEST_DEBUG: %s", strerror(-r));
	v->irq_stepping = on;
	if (on)
		v->vm->stats.irq_steps_started++;
}

static void set_debug(struct vcpu *v, enum vcpu_debug mode, uint64_t addr)
{
	int r = vcpu_set_debug(v, mode, addr);

	if (r)
		vm_request_stop(v->vm, EXIT_VMM_ERROR, "KVM_SET_GUEST_DEBUG: %s", strerror(-r));
}

/* Replay: a hardware breakpoint on the landmark's RIP (a linear address: CS base + RIP). */
static void arm_landmark_breakpoint(struct vcpu *v)
{
	struct kvm_sregs sregs;
	uint64_t base = 0;

	if (!vcpu_get_sregs(v, &sregs) && !(sregs.efer & (1ULL << 10))) /* not in long mode */
		base = sregs.cs.base;
	set_debug(v, VCPU_DEBUG_BREAK, base + v->seek.rip);
	v->stepping_over = false;
}

/* The vCPU stands at a landmark: recorded, and time passes (determ_landmark). */
static void at_landmark(struct vcpu *v, const struct landmark *lm)
{
	const char *why;

	v->seeking = false;
	if (lm->fixed)
		run_hlt_hooks(v->vm);
	if (!determ_landmark(v, lm, &why))
		guest_failure(v, why);
}

/*
 * How long the guest has run on this vCPU: the thread's CPU time (KVM_RUN's guest time counts
 * as the thread's), less the VMM's own work on kicks (searches, landmarks). Not host time: a
 * loaded host that runs the vCPU a sixth of the time, or a VMM stopped for a while, must not
 * bring the --spin-limit sooner in the guest's progress, or the same recording would get a
 * host-chosen landmark on one machine and none on another.
 */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t guest_run_ns(const struct vcpu *v)
{
	/* During a kick: the guest's time up to it (the kick's work so far is not the guest's) */
	return (v->kick_start_ns ? v->kick_start_ns : thread_cpu_ns()) - v->kick_cpu_ns;
}

static void count_kick(struct exit_stats *st, const struct fp_result *fp)
{
	uint64_t *by_kind[] = {[FP_NONE] = &st->kicks_none,	[FP_CYCLE] = &st->kicks_cycle,
			       [FP_FIXED] = &st->kicks_fixed,	[FP_EXITED] = &st->kicks_exited,
			       [FP_UNSAFE] = &st->kicks_unsafe, [FP_ERROR] = &st->kicks_none};

	st->kicks++;
	(*by_kind[fp->kind])++;
	st->search_steps += fp->steps;
	if (fp->steps > st->search_steps_max)
		st->search_steps_max = fp->steps;
	st->kick_steps[fp->steps < STATS_MAX_KICK_STEPS ? fp->steps : STATS_MAX_KICK_STEPS]++;
}

/*
 * Liveness: a vCPU that never exits and never reaches a fixed point would never see time pass.
 * It gets time at a host-chosen point (not reproducible, and the trace says so) when the kicks
 * found the same loop without a fixed point (one that counts while it waits, like Linux's delay
 * calibration) for --spin-limit, or no loop that only waits for 3 x --spin-limit.
 */
static const char *give_up_waiting(struct vcpu *v, const struct fp_result *fp)
{
	uint64_t now = guest_run_ns(v), limit = v->vm->cfg->spin_limit_ms * 1000000ULL;
	bool same_loop;

	if (v->loop.exits != v->guest_exits) { /* the first kick since an exit */
		memset(&v->loop, 0, sizeof(v->loop));
		v->loop.exits = v->guest_exits;
		v->loop.stretch_ns = now;
	}
	same_loop =
		fp->kind == FP_CYCLE && fp->cycle_rip == v->loop.rip && fp->cycle == v->loop.len;
	if (!same_loop) {
		v->loop.rip = fp->kind == FP_CYCLE ? fp->cycle_rip : 0;
		v->loop.len = fp->kind == FP_CYCLE ? fp->cycle : 0;
		v->loop.kicks = 0;
		v->loop.since_ns = now;
	}
	v->loop.kicks++;
	if (fp->kind == FP_CYCLE && v->loop.kicks >= DET_FALLBACK_KICKS &&
	    now - v->loop.since_ns >= limit)
		return "loops without an exit in a loop that is not a fixed point (it counts or "
		       "computes)";
	if (now - v->loop.stretch_ns >= 3 * limit)
		return "ran without an exit, and no loop that only waits was found";
	return NULL;
}

/*
 * Replay, on the way to a host-chosen landmark: only its breakpoint can find it, as a search
 * would single-step the guest past it (a counter passes the recorded value within one search).
 * The recording reached it after looping for its --spin-limit; a replay that has not after
 * SEEK_LIMIT times this one's took another path: the landmark of where it stands now is then
 * compared with the recorded one, and differs.
 */
#define SEEK_LIMIT 20
static bool seek_given_up(struct vcpu *v)
{
	struct fp_result here = {.kind = FP_CYCLE, .regs = v->run->s.regs.regs};
	struct landmark lm;

	if (guest_run_ns(v) - v->seek_ns < SEEK_LIMIT * v->vm->cfg->spin_limit_ms * 1000000ULL)
		return false;
	log_warn("vCPU %u: not at the recorded host-chosen landmark at RIP 0x%llx after %.0f s",
		 v->id, (unsigned long long)v->seek.rip, (guest_run_ns(v) - v->seek_ns) / 1e9);
	set_debug(v, VCPU_DEBUG_OFF, 0);
	here.nr_pages = v->seek.nr_pages;
	memcpy(here.pages, v->seek.pages, sizeof(here.pages));
	fixpoint_landmark(v->vm, &here, false, v->last_exit_seq, &lm);
	at_landmark(v, &lm);
	return false;
}

/*
 * Deterministic mode: the watchdog kicked the vCPU out of KVM_RUN after --exit-budget without an
 * exit. Returns true when the search ran into a real exit, which the caller then handles.
 */
static bool watchdog_search(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct fp_result fp;
	struct landmark lm;
	const char *why;

	if (v->irq_stepping)
		return false; /* a late kick: single-steps are progress */
	if (v->seeking && !v->seek.fixed)
		return seek_given_up(v);
	fixpoint_search(v, &fp);
	count_kick(&vm->stats, &fp);
	log_debug("vCPU %u: kick after exit seq %llu: at RIP 0x%llx %s after %u steps (loop of %u "
		  "at 0x%llx)",
		  v->id, (unsigned long long)v->last_exit_seq, (unsigned long long)fp.regs.rip,
		  (const char *[]){"no loop", "a loop, not fixed", "a fixed point", "an exit",
				   "not steppable", "error"}[fp.kind],
		  fp.steps, fp.cycle, (unsigned long long)fp.cycle_rip);
	if (fp.kind == FP_EXITED)
		return true;
	if (fp.kind == FP_FIXED) {
		fixpoint_landmark(vm, &fp, true, v->last_exit_seq, &lm);
		at_landmark(v, &lm);
	} else if ((why = give_up_waiting(v, &fp)) && !v->seeking) {
		/* (a replay seeking a host-chosen landmark reaches it by its breakpoint instead) */
		log_warn("vCPU %u %s for %.1f s, at RIP 0x%llx: it gets its next tick at a "
			 "host-chosen point, so this recording is not reproducible. A guest that "
			 "waits should HLT or read the timer (Linux: boot with lpj=N); one that "
			 "computes this long without an exit needs a larger --spin-limit",
			 v->id, why,
			 (guest_run_ns(v) - v->loop.stretch_ns) / 1e9 +
				 vm->cfg->exit_budget_ms / 1e3,
			 (unsigned long long)fp.regs.rip);
		v->loop.exits = UINT64_MAX; /* a new stretch from here */
		fixpoint_pass_pages(v, &fp);
		if (fp.kind == FP_EXITED)
			return true;
		if (fp.kind != FP_ERROR) {
			fixpoint_landmark(vm, &fp, false, v->last_exit_seq, &lm);
			at_landmark(v, &lm);
		}
	}
	if (v->seeking && !atomic_load(&vm->stopping))
		arm_landmark_breakpoint(v); /* the search used single-steps instead */
	return false;
}

/* The kick's own work is not the guest's running time (guest_run_ns). */
static bool watchdog_kick(struct vcpu *v)
{
	bool exited;

	v->kick_start_ns = thread_cpu_ns();
	exited = watchdog_search(v);
	v->kick_cpu_ns += thread_cpu_ns() - v->kick_start_ns;
	v->kick_start_ns = 0;
	return exited;
}

/*
 * Replay: the vCPU hit the breakpoint on the landmark's RIP (or finished stepping over it). It is
 * at the landmark when the registers and the pages the recording hashed match; a fixed point is
 * then confirmed by a search of its own, which stops at the canonical point it was recorded at.
 * Returns true when that search ran into a real exit, which the caller then handles.
 */
static bool landmark_hit(struct vcpu *v)
{
	const struct kvm_regs *r = &v->run->s.regs.regs;
	struct fp_result fp;
	struct landmark lm;

	if (v->stepping_over) {
		arm_landmark_breakpoint(v);
		return false;
	}
	if (r->rip != v->seek.rip || determ_regs_hash(r) != v->seek.regs_hash ||
	    fixpoint_mem_hash(v->vm, v->seek.pages, v->seek.nr_pages) != v->seek.mem_hash) {
		/* Not yet: past the breakpoint by one single-step, then it is armed again. */
		set_debug(v, VCPU_DEBUG_STEP, 0);
		v->stepping_over = true;
		return false;
	}
	set_debug(v, VCPU_DEBUG_OFF, 0);
	if (!v->seek.fixed) {
		lm = v->seek;
		lm.after = v->last_exit_seq;
		at_landmark(v, &lm);
		return false;
	}
	fixpoint_search(v, &fp);
	if (fp.kind == FP_EXITED)
		return true;
	if (fp.kind == FP_FIXED) {
		/* another fixed point than the recorded one shows as a difference in this event */
		fixpoint_landmark(v->vm, &fp, true, v->last_exit_seq, &lm);
		at_landmark(v, &lm);
	} else if (!atomic_load(&v->vm->stopping)) {
		/* memory still settling: a later pass (or the watchdog) will tell */
		arm_landmark_breakpoint(v);
	}
	return false;
}

/*
 * vm_pause(): parked here, between exits, until vm_resume() or a stop. The host time parked
 * is not the guest's: the watchdog's clocks of a stretch and a seek skip it.
 */
void vcpu_complete_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t if_flag = run->if_flag, ready = run->ready_for_interrupt_injection;

	if (!v->io_pending)
		return;
	run->immediate_exit = 1;
	/* EINTR once KVM completed it; a single-step in progress may end it in a debug exit */
	if (ioctl(v->fd, KVM_RUN, 0) && errno != EINTR && errno != EAGAIN)
		vm_request_stop(v->vm, EXIT_VMM_ERROR, "vCPU %u: KVM_RUN (I/O completion): %s",
				v->id, strerror(errno));
	run->immediate_exit = 0;
	run->if_flag = if_flag;
	run->ready_for_interrupt_injection = ready;
	v->io_pending = false;
}

void vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;
	vcpu_complete_io(v); /* a snapshot may be taken meanwhile */
	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_req) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->nr_parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

/* $DEJAVM_TEST_PAUSE_AFTER: the VM pauses here, as vm.pause would; vm_run() tells the VMM. */
static void pause_self(struct vcpu *v)
{
	uint64_t one = 1;

	log_info("vCPU %u: exit %llu: pausing the VM ($DEJAVM_TEST_PAUSE_AFTER)", v->id,
		 (unsigned long long)v->guest_exits);
	atomic_store(&v->vm->pause_req, true);
	if (write(v->vm->self_pause_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("vCPU %u: cannot tell the VMM it paused: %s", v->id, strerror(errno));
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	const struct vm_replay_hooks *replay = vm->replay;
	sigset_t set;
	uint64_t one = 1;
	char name[16];

	current_vcpu = v;
	snprintf(name, sizeof(name), "vcpu%u", v->id);
	if (seccomp_install(SECCOMP_VCPU, name)) {
		vm_request_stop(vm, EXIT_VMM_ERROR, "vCPU %u: its system-call filter: see the log",
				v->id);
		goto out;
	}
	seccomp_test_trigger();
	if (vm->trace)
		trace_attach_thread(vm->trace, v->id);
	/* Registers come with every exit: the recorder and the fixed-point search need them. */
	if (vm->trace || vm->det)
		v->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	sigemptyset(&set);
	sigaddset(&set, SIG_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (!atomic_load_explicit(&vm->stopping, memory_order_relaxed)) {
		unsigned int reason;

		/* Between exits, before anything is injected: where a restore starts from too. */
		if (vm->ckpt && checkpoint_due(vm))
			checkpoint_take(v);
		if (atomic_load(&vm->pause_req)) {
			vcpu_park(v);
			continue;
		}
		if (replay && replay->stop_here && !v->seeking && replay->stop_here(replay->ctx))
			continue;
		/* On the way to a landmark nothing is injected: the recording had no exit there. */
		if (vm->det && !v->seeking) {
			determ_before_run(v);
			irq_step(v, determ_irq_blocked(v));
		}
		if (replay && replay->stop_here && !v->seeking && replay->stop_here(replay->ctx))
			continue;
		if (replay && replay->landmark_next && !v->seeking && !v->irq_stepping &&
		    replay->landmark_next(replay->ctx, v, &v->seek)) {
			v->seeking = true;
			v->seek_ns = guest_run_ns(v);
			arm_landmark_breakpoint(v);
		}
		v->io_pending = false; /* this KVM_RUN completes it */
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->run->exit_reason = KVM_EXIT_INTR;
				v->run->immediate_exit = 0; /* a kick only matters when stopping */
			} else {
				vm_request_stop(vm, EXIT_VMM_ERROR, "vCPU %u: KVM_RUN failed: %s",
						v->id, strerror(errno));
				break;
			}
		}
		reason = v->run->exit_reason;
		DEJAVM_PROBE(exit_received, v->id, reason);
		if (replay && replay->stop_after_run && reason != KVM_EXIT_INTR && !v->seeking &&
		    replay->stop_after_run(replay->ctx))
			break; /* the writes it posted are drained below, as the recording's were */
		if (reason == KVM_EXIT_INTR && atomic_load(&vm->pause_req)) {
			continue; /* not the guest's exit: parked at the loop's top, no search */
		} else if (reason == KVM_EXIT_INTR && vm->det) {
			if (atomic_load(&vm->stopping) || !watchdog_kick(v))
				continue;
		} else if (reason == KVM_EXIT_DEBUG && v->irq_stepping) {
			/* waiting for IF: the loop's top injects once it is set */
			atomic_fetch_add_explicit(&v->exits, 1, memory_order_relaxed);
			continue;
		} else if (reason == KVM_EXIT_DEBUG && v->seeking) {
			/* not progress: a replay that never matches is for the watchdog to find */
			if (!landmark_hit(v))
				continue;
		}
		if (v->seeking) { /* an exit where the recording has the landmark: a difference */
			v->seeking = false;
			set_debug(v, VCPU_DEBUG_OFF, 0);
		}
		atomic_fetch_add_explicit(&v->exits, 1, memory_order_relaxed);
		v->guest_exits++;
		vcpu_dispatch_exit(v);
		if (v->guest_exits == vm->test_pause_after)
			pause_self(v);
		DEJAVM_PROBE(exit_handled, v->id, v->run->exit_reason, DEJAVM_EXIT_ADDR(v->run));
	}
	drain_coalesced(v); /* writes posted after the last exit still count */
out:
	if (write(vm->done_fd, &one, sizeof(one)) < 0)
		log_warn("vCPU %u: cannot signal its end: %s", v->id, strerror(errno));
	return NULL;
}

static void install_kick_handler(void)
{
	/* Other system calls of the vCPU thread (disk I/O in deterministic mode) just restart. */
	struct sigaction sa = {.sa_handler = kick_handler, .sa_flags = SA_RESTART};

	sigemptyset(&sa.sa_mask);
	sigaction(SIG_KICK, &sa, NULL);
}

int vcpu_start(struct vcpu *v)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int r;

	pthread_once(&once, install_kick_handler);
	r = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (r)
		return -r;
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	/* A vCPU stopping itself needs no signal; v->thread is set once started reads true. */
	if (current_vcpu == v || !atomic_load(&v->started))
		return;
	pthread_kill(v->thread, SIG_KICK);
}
