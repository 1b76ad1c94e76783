// SPDX-License-Identifier: MIT
/* The system-call filters of each thread kind (sandbox.h, docs/seccomp.md). */
#include "sandbox.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#define NR_NAMES 512 /* x86-64 has about 460 system calls */

static enum seccomp_mode mode = SECCOMP_OFF;
static __thread char thread_name[24];
static char *names[NR_NAMES]; /* the calls' names, read before any filter (the report's) */

/*
 * What every thread does: memory (malloc, thread stacks), locks and signals, time, its own
 * exit, reading and writing the descriptors it was given, stat for stdio, and installing the
 * next filter (a thread adds its own to the one it inherited).
 */
static const char common[] =
	"read write readv writev pread64 pwrite64 lseek close fstat newfstatat fcntl poll "
	"ppoll futex mmap munmap mremap mprotect madvise brk rt_sigprocmask rt_sigreturn "
	"rt_sigaction sigaltstack exit exit_group gettid getpid tgkill clock_gettime "
	"clock_nanosleep nanosleep sched_yield sched_getaffinity rseq set_robust_list "
	"restart_syscall getrandom prctl seccomp eventfd2";

/* Threads that start threads: a device's (the API's actions), the main thread's (all). */
static const char spawn[] = "clone clone3";

/* Disk, tap and entropy I/O: a vCPU in deterministic mode, a device thread in normal mode. */
static const char device_io[] = "preadv pwritev fdatasync fallocate io_uring_enter";

/* The REST API's HTTP server (libmicrohttpd) and its actions (vm.snapshot writes files). */
static const char api[] =
	"accept accept4 recvfrom recvmsg sendto sendmsg shutdown setsockopt getsockopt "
	"getsockname epoll_create1 epoll_ctl epoll_wait epoll_pwait pipe2 openat mkdir rename "
	"unlink fsync fdatasync statx";

/*
 * The main thread: what every other thread may, and building VMs (every KVM and terminal ioctl:
 * the KVM, tap and pty set-up), the API's socket, signals, files, a replay's forked jobs.
 */
static const char main_only[] =
	"ioctl openat socket bind listen connect signalfd4 wait4 kill uname fsync unlink rename "
	"mkdir statx umask io_uring_setup io_uring_register";

#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer's own: LeakSanitizer stops the world at exit with ptrace from a clone. */
static const char sanitizer[] =
	"ptrace wait4 openat readlink getdents64 getdents getrlimit setrlimit clone "
	"prlimit64 getppid kill process_vm_readv sched_getparam";
#endif

/* The KVM requests a vCPU thread makes: its own state, interrupts, MSI routes, the dirty log. */
static const unsigned long vcpu_ioctls[] = {
	KVM_RUN,	   KVM_GET_REGS,	KVM_SET_REGS,		KVM_GET_SREGS,
	KVM_SET_SREGS,	   KVM_INTERRUPT,	KVM_SET_GUEST_DEBUG,	KVM_GET_FPU,
	KVM_GET_MSRS,	   KVM_SET_MSRS,	KVM_GET_XSAVE,		KVM_GET_XSAVE2,
	KVM_GET_XCRS,	   KVM_GET_LAPIC,	KVM_GET_VCPU_EVENTS,	KVM_GET_DEBUGREGS,
	KVM_GET_MP_STATE,  KVM_CHECK_EXTENSION, KVM_GET_MSR_INDEX_LIST, KVM_SET_GSI_ROUTING,
	KVM_IRQFD,	   KVM_IOEVENTFD,	KVM_IRQ_LINE,		KVM_SET_USER_MEMORY_REGION,
	KVM_GET_DIRTY_LOG,
};
/* A device thread's: an MSI-X vector routed at its first delivery, an INTx line. */
static const unsigned long device_ioctls[] = {KVM_SET_GSI_ROUTING, KVM_IRQFD, KVM_IRQ_LINE};
/* The API's: a snapshot reads the vCPUs' and KVM's devices' state; a vm.pause reads nothing. */
static const unsigned long api_ioctls[] = {
	KVM_GET_REGS,	   KVM_GET_SREGS,    KVM_GET_MSRS,	  KVM_GET_XSAVE,
	KVM_GET_XSAVE2,	   KVM_GET_XCRS,     KVM_GET_LAPIC,	  KVM_GET_VCPU_EVENTS,
	KVM_GET_DEBUGREGS, KVM_GET_MP_STATE, KVM_CHECK_EXTENSION, KVM_GET_MSR_INDEX_LIST,
	KVM_GET_IRQCHIP,   KVM_GET_PIT2,     KVM_GET_CLOCK,	  KVM_SET_GSI_ROUTING,
	KVM_IRQFD,	   KVM_IRQ_LINE,
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Async-signal-safe: a string and a number to stderr. */
static void say(const char *s)
{
	if (write(STDERR_FILENO, s, strlen(s)) < 0)
		return;
}

static void say_num(long v)
{
	char buf[24], *p = buf + sizeof(buf);

	*--p = '\0';
	do
		*--p = '0' + v % 10;
	while (v /= 10);
	say(p);
}

/* SIGSYS from a filter: the report, then the process ends as if killed by SIGSYS. */
static void denied(int sig, siginfo_t *si, void *uc)
{
	int nr = si->si_syscall;

	(void)sig, (void)uc;
	say("dejavm: seccomp: thread ");
	say(thread_name[0] ? thread_name : "?");
	say(" made a system call it is not allowed: ");
	say(nr >= 0 && nr < NR_NAMES && names[nr] ? names[nr] : "?");
	say(" (");
	say_num(nr);
	say("); stopping (see docs/seccomp.md, or run with --seccomp log)\n");
	syscall(SYS_exit_group, 128 + SIGSYS);
}

int seccomp_parse_mode(const char *s, enum seccomp_mode *m)
{
	if (!strcmp(s, "true"))
		*m = SECCOMP_ON;
	else if (!strcmp(s, "false"))
		*m = SECCOMP_OFF;
	else if (!strcmp(s, "log"))
		*m = SECCOMP_LOG;
	else
		return -1;
	return 0;
}

void seccomp_set_mode(enum seccomp_mode m)
{
	struct sigaction sa = {.sa_sigaction = denied, .sa_flags = SA_SIGINFO};

	mode = m;
	if (m == SECCOMP_OFF)
		return;
	/*
	 * State glibc loads on first use, loaded now while every call is allowed: gmtime_r (the
	 * RTC, on a vCPU) reads /etc/localtime the first time, and a vCPU may not open files.
	 */
	tzset();
	if (m != SECCOMP_ON)
		return;
	for (int nr = 0; nr < NR_NAMES; nr++)
		names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
}

enum seccomp_mode seccomp_mode(void)
{
	return mode;
}

/* Allows every call named in list (space-separated). */
static int allow(scmp_filter_ctx ctx, const char *list)
{
	char name[32];

	for (const char *p = list; *p;) {
		size_t len = strcspn(p, " ");
		int nr, r;

		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		p += len + (p[len] == ' ');
		nr = seccomp_syscall_resolve_name(name);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r)
			return r;
	}
	return 0;
}

/* ioctl only with these requests (the low 32 bits: glibc passes the request as an int). */
static int allow_ioctls(scmp_filter_ctx ctx, const unsigned long *req, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
					 SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, req[i]));

		if (r)
			return r;
	}
	return 0;
}

int seccomp_install(enum seccomp_thread kind, const char *name)
{
	scmp_filter_ctx ctx;
	int r;

	snprintf(thread_name, sizeof(thread_name), "%s", name);
	if (kind != SECCOMP_MAIN)	  /* (the process keeps its name) */
		prctl(PR_SET_NAME, name); /* top -H, and the tests, tell the threads apart */
	if (mode == SECCOMP_OFF)
		return 0;
	ctx = seccomp_init(mode == SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	r = allow(ctx, common);
#if defined(__SANITIZE_ADDRESS__)
	if (!r)
		r = allow(ctx, sanitizer);
#endif
	switch (kind) {
	case SECCOMP_MAIN:
		r = r ?: allow(ctx, spawn) ?: allow(ctx, device_io) ?: allow(ctx, api);
		r = r ?: allow(ctx, main_only);
		break;
	case SECCOMP_VCPU:
		r = r ?: allow(ctx, device_io) ?: allow_ioctls(ctx, vcpu_ioctls, N(vcpu_ioctls));
		break;
	case SECCOMP_DEVICE:
		r = r ?: allow(ctx, device_io);
		r = r ?: allow_ioctls(ctx, device_ioctls, N(device_ioctls));
		break;
	case SECCOMP_WRITER:
		break;
	case SECCOMP_API:
		r = r ?: allow(ctx, spawn) ?: allow(ctx, api) ?:
			 allow_ioctls(ctx, api_ioctls, N(api_ioctls));
		break;
	}
	if (!r)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r)
		log_err("seccomp: cannot install the %s thread's filter: %s", name, strerror(-r));
	return r;
}

void seccomp_test_trigger(void)
{
	const char *name = getenv("DEJAVM_TEST_SYSCALL");
	int nr;

	if (!name || !*name)
		return;
	nr = seccomp_syscall_resolve_name(name);
	log_warn("test trigger: thread %s calls %s ($DEJAVM_TEST_SYSCALL)", thread_name, name);
	if (nr != __NR_SCMP_ERROR)
		syscall(nr, 0, 0, 0, 0, 0,
			0); /* (execve(NULL, ...) fails with EFAULT if allowed) */
}
