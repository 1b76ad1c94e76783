// SPDX-License-Identifier: MIT
#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "determ.h"
#include "log.h"
#include "probes.h"
#include "trace.h"
#include "vm.h"

#define SIG_KICK SIGUSR1

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
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	int r;

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->id = id;
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
	v->cpuid = NULL;
	v->run = NULL;
	v->fd = -1;
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
		log_debug("unhandled PIO %s port 0x%x size %u", is_write ? "out" : "in", port, size);
	}
	if (vm->trace)
		trace_pio(vm->trace, port, size, is_write, le_value(data, size), handled);
	/* After the event, which holds what the device model said: the guest may get the trace's. */
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
static void drain_coalesced(struct vcpu *v)
{
	struct kvm_coalesced_mmio_ring *ring = v->vm->coalesced_ring;
	const uint32_t max = (4096 - sizeof(*ring)) / sizeof(ring->coalesced_mmio[0]);

	if (!ring)
		return;
	while (ring->first != __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE)) {
		struct kvm_coalesced_mmio *e = &ring->coalesced_mmio[ring->first % max];
		uint32_t len = e->len < sizeof(e->data) ? e->len : sizeof(e->data);

		if (e->pio) {
			v->vm->stats.pio_coalesced++;
			pio_access(v, e->phys_addr, len, e->data, true);
		} else {
			v->vm->stats.mmio_coalesced++;
			mmio_access(v, e->phys_addr, len, e->data, true);
		}
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

/* Deterministic mode: the watchdog stopped a vCPU that ran --exit-budget without exiting. */
static void forced_exit(struct vcpu *v)
{
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_REGS, &regs)) {
		vm_request_stop(v->vm, EXIT_VMM_ERROR, "KVM_GET_REGS: %s", strerror(errno));
		return;
	}
	determ_forced_exit(v, &regs);
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

	if (reason == KVM_EXIT_INTR && vm->det) {
		/* A kick: to stop (not part of the guest's run), or the exit-budget watchdog. */
		if (!atomic_load(&vm->stopping))
			forced_exit(v);
		return;
	}
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
		for (unsigned int i = 0; i < vm->nr_hlt_hooks; i++)
			vm->hlt_hooks[i].fn(vm->hlt_hooks[i].arg);
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

int vcpu_set_single_step(struct vcpu *v, bool on)
{
	struct kvm_guest_debug dbg = { 0 };

	if (on)
		dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
	return ioctl(v->fd, KVM_SET_GUEST_DEBUG, &dbg) ? -errno : 0;
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

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	const struct vm_replay_hooks *replay = vm->replay;
	bool stepping = false;
	sigset_t set;
	uint64_t one = 1;

	current_vcpu = v;
	if (vm->trace) {
		trace_attach_thread(vm->trace, v->id);
		v->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	}
	sigemptyset(&set);
	sigaddset(&set, SIG_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (!atomic_load_explicit(&vm->stopping, memory_order_relaxed)) {
		/* Single-steps towards a landmark are not exits: nothing is injected between them. */
		if (vm->det && !stepping) {
			determ_before_run(v);
			irq_step(v, determ_irq_blocked(v));
		}
		if (replay && replay->before_run && !stepping)
			stepping = replay->before_run(replay->ctx, v);
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
		DEJAVM_PROBE(exit_received, v->id, v->run->exit_reason);
		if (v->run->exit_reason == KVM_EXIT_DEBUG && (stepping || v->irq_stepping)) {
			struct kvm_regs regs;

			/* Progress for the exit-budget watchdog, but not an exit of the guest's. */
			atomic_fetch_add_explicit(&v->exits, 1, memory_order_relaxed);
			if (!stepping)
				continue; /* waiting for IF: the loop's top injects once it is set */
			stepping = !replay->debug_exit(replay->ctx, v, &regs);
			if (!stepping) {
				v->irq_stepping = false; /* the replayer turned single-stepping off */
				determ_forced_exit(v, &regs); /* the landmark, as when recording */
			}
			continue;
		}
		stepping = false;
		atomic_fetch_add_explicit(&v->exits, 1, memory_order_relaxed);
		vcpu_dispatch_exit(v);
		DEJAVM_PROBE(exit_handled, v->id, v->run->exit_reason, DEJAVM_EXIT_ADDR(v->run));
	}
	drain_coalesced(v); /* writes posted after the last exit still count */
	if (write(vm->done_fd, &one, sizeof(one)) < 0)
		log_warn("vCPU %u: cannot signal its end: %s", v->id, strerror(errno));
	return NULL;
}

static void install_kick_handler(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };

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
