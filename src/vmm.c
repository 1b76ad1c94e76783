// SPDX-License-Identifier: MIT
/*
 * The process side of a VM: its lifecycle (vmm.h), and vm_run(), which serves the termination
 * signals, the terminal's input and the exit-budget watchdog while the vCPUs run.
 */
#include "vmm.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "snapshot.h"
#include "stats.h"
#include "trace.h"
#include "vcpu.h"

static struct termios saved_termios;
static bool termios_saved;

static void restore_terminal(void)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
	termios_saved = false;
}

/* Characters go to the guest as typed; Ctrl-C still stops the VM. */
static bool setup_terminal_input(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios))
		return false;
	t = saved_termios;
	t.c_lflag &= ~(ICANON | ECHO | ECHONL | IEXTEN);
	t.c_iflag &= ~(ICRNL | INLCR | IXON);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t))
		return false;
	termios_saved = true;
	atexit(restore_terminal);
	return true;
}

/* A vCPU thread's CPU time: its guest's running time, and the VMM's on its exits. */
static uint64_t vcpu_cpu_ns(struct vcpu *v)
{
	struct timespec ts;
	clockid_t clock;

	if (!atomic_load(&v->started) || pthread_getcpuclockid(v->thread, &clock) ||
	    clock_gettime(clock, &ts))
		return 0;
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * Deterministic mode: a vCPU that ran for a whole --exit-budget without an exit is kicked out
 * of KVM_RUN, to look for a loop that only waits for time (vcpu.c). Its thread's CPU time, not
 * the host's clock: on a loaded host a vCPU that barely ran is not kicked (a kick in the middle
 * of a computation is wasted work). Called every half budget.
 */
static void exit_budget_watchdog(struct vm *vm, uint64_t *exits_seen, uint64_t *ran_since)
{
	uint64_t budget = vm->cfg->exit_budget_ms * 1000000ULL;

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		uint64_t n = atomic_load_explicit(&v->exits, memory_order_relaxed);
		uint64_t cpu = vcpu_cpu_ns(v);

		if (n != exits_seen[i]) {
			exits_seen[i] = n;
			ran_since[i] = cpu;
		} else if (cpu - ran_since[i] >= budget && !atomic_load(&vm->stopping) &&
			   !atomic_load(&vm->pause_req)) {
			vcpu_kick(v);
			ran_since[i] = cpu;
		}
	}
}

void vm_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

int vm_run(struct vm *vm)
{
	sigset_t sigs;
	struct pollfd pfd[4];
	/* Deterministic mode takes no input from the host: typed characters would come at random.
	 */
	bool input =
		vm->serial && vm->cfg->serial == SERIAL_TTY && !vm->det && setup_terminal_input();
	/* A replay has the watchdog too: it finds a guest waiting where the recording did not. */
	int timeout_ms = vm->det ? (int)(vm->cfg->exit_budget_ms + 1) / 2 : -1;
	uint64_t exits_seen[MAX_CPUS] = {0}, ran_since[MAX_CPUS] = {0};
	unsigned int running = 0;
	uint64_t t0;
	int sfd;

	/* Termination signals (blocked in every thread, vm_block_signals) are read here. */
	vm_block_signals(&sigs);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return EXIT_VMM_ERROR;
	}

	log_start_clock();
	if (vm->trace && !vm->det) /* deterministic: virtual time, set by record_start() */
		trace_start_clock(vm->trace);
	t0 = monotonic_ns();
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		int r = vcpu_start(&vm->vcpus[i]);

		if (r) {
			vm_request_stop(vm, EXIT_VMM_ERROR, "cannot start vCPU %u: %s", i,
					strerror(-r));
			break;
		}
		running++;
	}

	pfd[0] = (struct pollfd){.fd = vm->done_fd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
	pfd[2] = (struct pollfd){.fd = input ? STDIN_FILENO : -1, .events = POLLIN};
	pfd[3] = (struct pollfd){.fd = vm->self_pause_fd, .events = POLLIN};
	while (running) {
		int n = poll(pfd, 4, timeout_ms);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			vm_request_stop(vm, EXIT_VMM_ERROR, "poll: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			exit_budget_watchdog(vm, exits_seen, ran_since);
			continue;
		}
		if (pfd[0].revents & POLLIN) {
			uint64_t n;

			if (read(vm->done_fd, &n, sizeof(n)) == sizeof(n))
				running = n >= running ? 0 : running - n;
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				vm->stop_signal = si.ssi_signo;
				vm_request_stop(vm, 128 + si.ssi_signo, "stopped by signal %s",
						strsignal(si.ssi_signo));
			}
		}
		if (pfd[3].revents & POLLIN) {
			uint64_t n;

			if (read(vm->self_pause_fd, &n, sizeof(n)) == sizeof(n) &&
			    vm->on_self_pause.fn)
				vm->on_self_pause.fn(vm->on_self_pause.arg);
		}
		if (pfd[2].revents & (POLLIN | POLLHUP)) {
			uint8_t buf[64];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

			if (n > 0)
				serial_input(vm->serial, buf, n);
			else
				pfd[2].fd = -1; /* EOF: the guest just gets no more input */
		}
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].started)
			pthread_join(vm->vcpus[i].thread, NULL);
	vm_run_stoppers(vm);
	vm->stats.run_ns = monotonic_ns() - t0;
	close(sfd);
	restore_terminal();
	if (vm->serial)
		serial_flush(vm->serial);
	log_info("VM stopped: %s (exit status %d)", vm->stop_reason, vm->exit_status);
	return vm->exit_status;
}

const char *vmm_state_name(enum vmm_state s)
{
	static const char *const names[] = {"NotCreated", "Created", "Running", "Paused",
					    "Shutdown"};

	return names[s];
}

int vmm_init(struct vmm *m, bool stay)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->changed, NULL);
	m->stay = stay;
	m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return m->wake_fd < 0 ? -errno : 0;
}

static void drop_config(struct vmm *m)
{
	for (unsigned int i = 0; i < m->nr_strings; i++)
		free(m->strings[i]);
	m->nr_strings = 0;
	config_init(&m->cfg);
}

void vmm_free(struct vmm *m)
{
	snapshot_close(m->restore);
	m->restore = NULL;
	drop_config(m);
	if (m->wake_fd >= 0)
		close(m->wake_fd);
	m->wake_fd = -1;
}

static void wake(struct vmm *m)
{
	uint64_t one = 1;

	if (write(m->wake_fd, &one, sizeof(one)) < 0)
		log_warn("cannot wake the main thread: %s", strerror(errno));
}

static __attribute__((format(printf, 4, 5))) enum vmm_error fail(enum vmm_error e, char *err,
								 size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return e;
}

/* Without a VM, boot and reboot answer "not created" (404), the others "not running" (500). */
static enum vmm_error wrong_state(const struct vmm *m, const char *action, char *err, size_t len)
{
	if (m->state == VMM_NO_VM && (!strcmp(action, "boot") || !strcmp(action, "reboot")))
		return fail(VMM_ENOVM, err, len, "VM is not created");
	if (m->state == VMM_NO_VM)
		return fail(VMM_ESTATE, err, len, "VM is not running (none is created)");
	return fail(VMM_ESTATE, err, len, "cannot %s a VM that is %s", action,
		    vmm_state_name(m->state));
}

/* A copy of s the VMM owns (NULL stays NULL); false when the table is full. */
static bool keep(struct vmm *m, const char **s)
{
	if (!*s)
		return true;
	if (m->nr_strings == VMM_MAX_STRINGS || !(m->strings[m->nr_strings] = strdup(*s)))
		return false;
	*s = m->strings[m->nr_strings++];
	return true;
}

static bool keep_disk(struct vmm *m, struct disk_config *d)
{
	return keep(m, &d->path) && keep(m, &d->serial) && keep(m, &d->id);
}

static bool keep_net(struct vmm *m, struct net_config *n)
{
	return keep(m, &n->tap) && keep(m, &n->ip) && keep(m, &n->mask) && keep(m, &n->id);
}

enum vmm_error vmm_create(struct vmm *m, const struct vm_config *cfg, char *err, size_t len)
{
	enum vmm_error e = VMM_OK;
	bool ok;

	pthread_mutex_lock(&m->lock);
	if (m->state != VMM_NO_VM) {
		e = fail(VMM_ESTATE, err, len, "VM is already created (vm.delete it first)");
		goto out;
	}
	m->cfg = *cfg;
	ok = keep(m, &m->cfg.kernel) && keep(m, &m->cfg.initramfs) && keep(m, &m->cfg.cmdline) &&
	     keep(m, &m->cfg.serial_path) && keep(m, &m->cfg.log_file) &&
	     keep(m, &m->cfg.record_path) && keep(m, &m->cfg.rng_path) &&
	     keep(m, &m->cfg.console_path) && keep(m, &m->cfg.restore_dir);
	for (unsigned int i = 0; ok && i < m->cfg.nr_disks; i++)
		ok = keep_disk(m, &m->cfg.disks[i]);
	for (unsigned int i = 0; ok && i < m->cfg.nr_nets; i++)
		ok = keep_net(m, &m->cfg.nets[i]);
	if (!ok) {
		drop_config(m);
		e = fail(VMM_EINVAL, err, len, "the configuration has too many strings");
		goto out;
	}
	m->cfg.cpuid = NULL;
	m->state = VMM_CREATED;
	m->recorded = false;
	pthread_cond_broadcast(&m->changed);
out:
	pthread_mutex_unlock(&m->lock);
	return e;
}

/* The new device: virtio devices sit at slots 1, 2, ... in their order. */
static void new_device(struct vmm_new_device *dev, const struct vm_config *cfg, const char *kind,
		       unsigned int order, const char *user_id)
{
	config_device_id(cfg, kind, order, user_id, dev->id, sizeof(dev->id));
	dev->slot = order + 1;
}

static enum vmm_error before_boot(struct vmm *m, const char *what, char *err, size_t len)
{
	if (m->state == VMM_CREATED && !m->building && !m->boot_requested)
		return VMM_OK;
	if (m->state == VMM_CREATED)
		return fail(VMM_ESTATE, err, len, "cannot add a %s: the VM is booting", what);
	if (m->state == VMM_NO_VM)
		return fail(VMM_ENOVM, err, len, "VM is not created");
	return fail(VMM_ESTATE, err, len,
		    "cannot add a %s to a VM that is %s: dejavm has no hot-plug; add it "
		    "between vm.create and vm.boot",
		    what, vmm_state_name(m->state));
}

enum vmm_error vmm_add_disk(struct vmm *m, const struct disk_config *d, struct vmm_new_device *dev,
			    char *err, size_t len)
{
	enum vmm_error e;
	struct disk_config *nd;

	pthread_mutex_lock(&m->lock);
	if ((e = before_boot(m, "disk", err, len)))
		goto out;
	if (m->cfg.nr_disks == MAX_DISKS) {
		e = fail(VMM_EINVAL, err, len, "at most %d disks", MAX_DISKS);
		goto out;
	}
	nd = &m->cfg.disks[m->cfg.nr_disks];
	*nd = *d;
	if (!keep_disk(m, nd)) {
		e = fail(VMM_EINVAL, err, len, "the configuration has too many strings");
		goto out;
	}
	nd->order = m->cfg.nr_virtio++;
	m->cfg.nr_disks++;
	new_device(dev, &m->cfg, "disk", nd->order, d->id);
out:
	pthread_mutex_unlock(&m->lock);
	return e;
}

enum vmm_error vmm_add_net(struct vmm *m, const struct net_config *n, struct vmm_new_device *dev,
			   char *err, size_t len)
{
	enum vmm_error e;
	struct net_config *nn;

	pthread_mutex_lock(&m->lock);
	if ((e = before_boot(m, "net device", err, len)))
		goto out;
	if (m->cfg.nr_nets == MAX_NETS) {
		e = fail(VMM_EINVAL, err, len, "at most %d net devices", MAX_NETS);
		goto out;
	}
	if (config_net_of_tap(&m->cfg, n->tap) >= 0) {
		e = fail(VMM_EINVAL, err, len, "tap %s is already in use", n->tap);
		goto out;
	}
	nn = &m->cfg.nets[m->cfg.nr_nets];
	*nn = *n;
	if (!keep_net(m, nn)) {
		e = fail(VMM_EINVAL, err, len, "the configuration has too many strings");
		goto out;
	}
	nn->order = m->cfg.nr_virtio++;
	m->cfg.nr_nets++;
	new_device(dev, &m->cfg, "net", nn->order, n->id);
out:
	pthread_mutex_unlock(&m->lock);
	return e;
}

enum vmm_error vmm_add_rng(struct vmm *m, const char *src, struct vmm_new_device *dev, char *err,
			   size_t len)
{
	enum vmm_error e;

	pthread_mutex_lock(&m->lock);
	if ((e = before_boot(m, "rng", err, len)))
		goto out;
	if (m->cfg.rng_path) {
		e = fail(VMM_EINVAL, err, len, "the VM has an rng already (one at most)");
		goto out;
	}
	m->cfg.rng_path = src;
	if (!keep(m, &m->cfg.rng_path)) {
		m->cfg.rng_path = NULL;
		e = fail(VMM_EINVAL, err, len, "the configuration has too many strings");
		goto out;
	}
	m->cfg.rng_order = m->cfg.nr_virtio++;
	new_device(dev, &m->cfg, "rng", m->cfg.rng_order, NULL);
out:
	pthread_mutex_unlock(&m->lock);
	return e;
}

/* With the lock held: until the attempt after `before` is over (built or failed). */
static enum vmm_error wait_for_boot(struct vmm *m, unsigned int before, char *err, size_t len)
{
	while (m->attempts == before && !m->exit_requested)
		pthread_cond_wait(&m->changed, &m->lock);
	if (!vmm_vm_built(m))
		return fail(VMM_EFAIL, err, len, "the VM could not be booted: %s",
			    m->error[0] ? m->error : "the VMM is shutting down");
	return VMM_OK;
}

enum vmm_error vmm_boot(struct vmm *m, char *err, size_t len)
{
	enum vmm_error e;

	pthread_mutex_lock(&m->lock);
	if (m->state != VMM_CREATED && m->state != VMM_SHUTDOWN) {
		e = wrong_state(m, "boot", err, len);
	} else if (m->building || m->boot_requested) {
		e = fail(VMM_ESTATE, err, len, "the VM is booting already");
	} else {
		m->boot_requested = true;
		wake(m);
		e = wait_for_boot(m, m->attempts, err, len);
	}
	pthread_mutex_unlock(&m->lock);
	return e;
}

static enum vmm_error set_paused(struct vmm *m, bool pause, char *err, size_t len)
{
	enum vmm_error e = VMM_OK;

	pthread_mutex_lock(&m->lock);
	if (m->state != (pause ? VMM_RUNNING : VMM_PAUSED)) {
		e = wrong_state(m, pause ? "pause" : "resume", err, len);
	} else if (pause && (vm_pause(&m->vm), atomic_load(&m->vm.stopping))) {
		e = fail(VMM_ESTATE, err, len, "cannot pause a VM that is stopping");
	} else {
		if (!pause)
			vm_resume(&m->vm);
		m->state = pause ? VMM_PAUSED : VMM_RUNNING;
		pthread_cond_broadcast(&m->changed);
	}
	pthread_mutex_unlock(&m->lock);
	return e;
}

enum vmm_error vmm_pause(struct vmm *m, char *err, size_t len)
{
	return set_paused(m, true, err, len);
}

enum vmm_error vmm_resume(struct vmm *m, char *err, size_t len)
{
	return set_paused(m, false, err, len);
}

/* With the lock held, the VM running or paused: until the main thread has torn it down. */
static void stop_and_wait(struct vmm *m, const char *why)
{
	unsigned int boots = m->boots;

	vm_request_stop(&m->vm, 0, "%s", why);
	while (vmm_vm_built(m) && m->boots == boots)
		pthread_cond_wait(&m->changed, &m->lock);
}

enum vmm_error vmm_shutdown(struct vmm *m, char *err, size_t len)
{
	enum vmm_error e = VMM_OK;

	pthread_mutex_lock(&m->lock);
	if (!vmm_vm_built(m))
		e = wrong_state(m, "shut down", err, len);
	else
		stop_and_wait(m, "shut down through the API");
	pthread_mutex_unlock(&m->lock);
	return e;
}

enum vmm_error vmm_reboot(struct vmm *m, char *err, size_t len)
{
	enum vmm_error e;
	unsigned int attempts;

	pthread_mutex_lock(&m->lock);
	if (!vmm_vm_built(m)) {
		e = wrong_state(m, "reboot", err, len);
	} else {
		attempts = m->attempts;
		m->reboot_requested = true;
		vm_request_stop(&m->vm, 0, "rebooted through the API");
		e = wait_for_boot(m, attempts, err, len);
	}
	pthread_mutex_unlock(&m->lock);
	return e;
}

enum vmm_error vmm_delete(struct vmm *m, char *err, size_t len)
{
	pthread_mutex_lock(&m->lock);
	(void)err, (void)len;
	while ((m->building || m->boot_requested || m->reboot_requested) && !m->exit_requested)
		pthread_cond_wait(&m->changed, &m->lock);
	if (vmm_vm_built(m))
		stop_and_wait(m, "deleted through the API");
	if (!vmm_vm_built(m)) {
		drop_config(m);
		m->state = VMM_NO_VM;
		pthread_cond_broadcast(&m->changed);
	}
	pthread_mutex_unlock(&m->lock);
	return VMM_OK;
}

enum vmm_error vmm_snapshot(struct vmm *m, const char *url, char *err, size_t len)
{
	const char *dir = snapshot_url_path(url);
	enum vmm_error e = VMM_OK;

	if (!dir)
		return fail(VMM_EINVAL, err, len,
			    "destination_url '%s': expected file:///DIR (a local directory)", url);
	pthread_mutex_lock(&m->lock);
	if (m->state != VMM_PAUSED)
		e = m->state == VMM_NO_VM ? fail(VMM_ENOVM, err, len, "VM is not created")
					  : fail(VMM_ESTATE, err, len,
						 "cannot snapshot a VM that is %s: pause it first",
						 vmm_state_name(m->state));
	else if (vm_snapshot(&m->vm, dir, err, len))
		e = VMM_EFAIL;
	pthread_mutex_unlock(&m->lock);
	return e;
}

/* The command line's output options over the snapshot's (restore_overrides says which). */
static void apply_overrides(struct vm_config *cfg, const struct vm_config *o)
{
	if (o->restore_overrides & OVERRIDE_SERIAL) {
		cfg->serial = o->serial;
		cfg->serial_path = o->serial_path;
	}
	if ((o->restore_overrides & OVERRIDE_CONSOLE) && cfg->console != CONSOLE_OFF) {
		cfg->console = o->console == CONSOLE_OFF ? CONSOLE_NULL : o->console;
		cfg->console_path = o->console_path;
	}
	if (o->restore_overrides & OVERRIDE_EXIT_BUDGET)
		cfg->exit_budget_ms = o->exit_budget_ms;
	if (o->restore_overrides & OVERRIDE_SPIN_LIMIT)
		cfg->spin_limit_ms = o->spin_limit_ms;
	cfg->record_path = o->record_path;
	cfg->checkpoint_every = o->checkpoint_every;
	cfg->checkpoint_events = o->checkpoint_events;
	cfg->log_file = o->log_file;
	cfg->stats = o->stats;
	cfg->verbosity = o->verbosity;
	cfg->api_socket = o->api_socket;
}

enum vmm_error vmm_restore(struct vmm *m, const char *url, const struct vm_config *overrides,
			   bool paused, bool wait, char *err, size_t len)
{
	const char *dir = snapshot_url_path(url);
	struct snapshot *s;
	struct vm_config cfg;
	enum vmm_error e;
	unsigned int attempts;

	if (!dir)
		return fail(VMM_EINVAL, err, len,
			    "source_url '%s': expected file:///DIR (a local directory)", url);
	pthread_mutex_lock(&m->lock);
	if (m->state != VMM_NO_VM) {
		e = fail(VMM_ESTATE, err, len, "a VM is already created (vm.delete it first)");
		goto out;
	}
	s = snapshot_open(dir, true, err, len);
	if (!s) {
		e = VMM_EINVAL;
		goto out;
	}
	cfg = *snapshot_config(s);
	cfg.restore_dir = dir;
	cfg.checkpoint_every = 0; /* the snapshot's recording had them; a new one says so itself */
	if (overrides)
		apply_overrides(&cfg, overrides);
	if ((cfg.checkpoint_every && (!cfg.deterministic || !cfg.record_path)) ||
	    (cfg.deterministic && cfg.console == CONSOLE_PTY)) {
		snapshot_close(s);
		e = fail(
			VMM_EINVAL, err, len, "%s",
			cfg.checkpoint_every
				? "--checkpoint-every needs a deterministic snapshot and --record FILE"
				: "--console pty: a deterministic VM takes no input");
		goto out;
	}
	pthread_mutex_unlock(&m->lock);
	e = vmm_create(m, &cfg, err, len); /* copies the strings: the snapshot's go with it */
	pthread_mutex_lock(&m->lock);
	if (e) {
		snapshot_close(s);
		goto out;
	}
	m->restore = s;
	m->start_paused = paused;
	m->boot_requested = true;
	attempts = m->attempts;
	wake(m);
	if (wait)
		e = wait_for_boot(m, attempts, err, len);
out:
	pthread_mutex_unlock(&m->lock);
	return e;
}

void vmm_exit(struct vmm *m)
{
	pthread_mutex_lock(&m->lock);
	m->exit_requested = true;
	if (vmm_vm_built(m))
		vm_request_stop(&m->vm, 0, "the VMM was shut down through the API");
	wake(m);
	pthread_cond_broadcast(&m->changed);
	pthread_mutex_unlock(&m->lock);
}

/* The VM paused itself (a test's $DEJAVM_TEST_PAUSE_AFTER): Paused, as after vm.pause. */
static void self_paused(void *arg)
{
	struct vmm *m = arg;

	pthread_mutex_lock(&m->lock);
	if (m->state == VMM_RUNNING) {
		vm_pause(&m->vm); /* waits for the vCPUs to park */
		m->state = VMM_PAUSED;
		pthread_cond_broadcast(&m->changed);
	}
	pthread_mutex_unlock(&m->lock);
}

/*
 * Builds and loads the VM of m->cfg (and starts its recording). Called with the lock held; it
 * is released meanwhile (a recording hashes its disks: seconds for a big one), with building
 * set: the configuration stays as it is (vmm_add_*, vmm_delete wait or refuse).
 */
static int build(struct vmm *m, struct vm_config *run_cfg)
{
	struct snapshot *restore = m->restore;
	char err[512];
	int r;

	*run_cfg = m->cfg;
	run_cfg->rebooted = m->boots > 0;
	if (!restore)
		run_cfg->restore_dir = NULL; /* a reboot after a restore boots the kernel */
	if (m->recorded)
		run_cfg->record_path = NULL; /* the trace holds the first boot; see vm.info */
	m->building = true;
	m->restore = NULL;
	pthread_mutex_unlock(&m->lock);
	log_clear_error();
	r = vm_create(&m->vm, run_cfg);
	if (!r && restore && snapshot_restore(restore, &m->vm, err, sizeof(err))) {
		log_err("--restore: %s", err);
		r = -1;
	}
	r = r || (!restore && vm_load(&m->vm)) || (run_cfg->record_path && record_start(&m->vm));
	snapshot_close(restore);
	if (r)
		vm_destroy(&m->vm);
	else if (restore && m->start_paused)
		atomic_store(&m->vm.pause_req, true); /* the vCPUs park before they run */
	if (!r)
		m->vm.on_self_pause = (struct vm_callback){self_paused, m};
	pthread_mutex_lock(&m->lock);
	m->building = false;
	if (r) {
		snprintf(m->error, sizeof(m->error), "%s",
			 *log_first_error() ? log_first_error() : "see the VMM's log");
		return -1;
	}
	m->recorded |= run_cfg->record_path != NULL;
	return 0;
}

/* Waits for a request, a signal ends the process (returns false). Lock held on entry/exit. */
static bool wait_for_request(struct vmm *m, int sfd)
{
	while (!m->boot_requested && !m->exit_requested) {
		struct pollfd pfd[2] = {{.fd = m->wake_fd, .events = POLLIN},
					{.fd = sfd, .events = POLLIN}};
		uint64_t n;

		pthread_mutex_unlock(&m->lock);
		if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
			pthread_mutex_lock(&m->lock);
			return false;
		}
		pthread_mutex_lock(&m->lock);
		if (pfd[0].revents & POLLIN)
			(void)!read(m->wake_fd, &n, sizeof(n));
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				log_info("stopped by signal %s", strsignal(si.ssi_signo));
				m->status = 128 + si.ssi_signo;
			}
			return false;
		}
	}
	return !m->exit_requested;
}

int vmm_main(struct vmm *m)
{
	struct vm_config run_cfg;
	sigset_t sigs;
	int sfd, status;
	bool signalled;

	vm_block_signals(&sigs);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return EXIT_VMM_ERROR;
	}
	pthread_mutex_lock(&m->lock);
	while (wait_for_request(m, sfd)) {
		m->boot_requested = false;
		m->error[0] = '\0';
		if (build(m, &run_cfg)) {
			m->attempts++;
			m->status = EXIT_VMM_ERROR;
			pthread_cond_broadcast(&m->changed);
			if (!m->stay)
				break;
			continue;
		}
		m->state = atomic_load(&m->vm.pause_req) ? VMM_PAUSED : VMM_RUNNING;
		m->start_paused = false;
		m->boots++;
		m->attempts++;
		pthread_cond_broadcast(&m->changed);
		pthread_mutex_unlock(&m->lock);

		status = vm_run(&m->vm);
		if (record_finish(&m->vm, status) && status == 0)
			status = EXIT_VMM_ERROR; /* the trace is incomplete: say so in the status
						    too */
		if (m->cfg.stats == STATS_TEXT)
			stats_print_text(&m->vm.stats, stderr);
		else if (m->cfg.stats == STATS_JSON)
			stats_print_json(&m->vm.stats, stderr);

		pthread_mutex_lock(&m->lock);
		signalled = m->vm.stop_signal;
		vm_destroy(&m->vm);
		m->status = status;
		m->state = VMM_SHUTDOWN;
		if (signalled) {
			pthread_cond_broadcast(&m->changed);
			break; /* Ctrl-C, SIGTERM: the whole VMM ends, as without an API */
		}
		if (m->reboot_requested) {
			m->reboot_requested = false;
			m->boot_requested = true;
		}
		pthread_cond_broadcast(&m->changed);
		if (!m->stay && !m->boot_requested)
			break;
	}
	m->exit_requested = true;
	pthread_cond_broadcast(&m->changed);
	status = m->status;
	pthread_mutex_unlock(&m->lock);
	close(sfd);
	return status;
}
