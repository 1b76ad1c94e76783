/* SPDX-License-Identifier: MIT */
/*
 * System-call filters (libseccomp), cloud-hypervisor's --seccomp true|false|log: each thread
 * installs the allow-list of its kind before it touches guest data, on top of the one it
 * inherited (a thread's calls must pass every filter it has). The main thread's list is the
 * widest (it builds VMs and starts everything); a vCPU may only run guests and reach devices,
 * its ioctls limited to the KVM requests it makes. docs/seccomp.md lists every call and why.
 *
 * A denied call in mode true stops the process with a report naming the thread and the call
 * (exit status 159, 128 + SIGSYS); in mode log the kernel logs it (audit) and it goes on.
 */
#ifndef DEJAVM_SANDBOX_H
#define DEJAVM_SANDBOX_H

enum seccomp_mode { SECCOMP_OFF, SECCOMP_ON, SECCOMP_LOG };

enum seccomp_thread {
	SECCOMP_MAIN,	/* the process: builds, runs and tears down VMs, serves signals, replays */
	SECCOMP_VCPU,	/* runs a vCPU: KVM_RUN, its exits, devices reached from them */
	SECCOMP_DEVICE, /* a device's I/O thread: disk I/O, a tap, a pty */
	SECCOMP_WRITER, /* the trace writer: compresses and writes */
	SECCOMP_API,	/* the REST API's threads: HTTP, and the actions (a snapshot) */
};

/* --seccomp's value (true, false or log) as a mode: 0, or -1 when it is none of them. */
int seccomp_parse_mode(const char *s, enum seccomp_mode *mode);
/* The process's mode (from --seccomp), before any filter is installed. */
void seccomp_set_mode(enum seccomp_mode mode);
enum seccomp_mode seccomp_mode(void);
/*
 * Installs kind's filter on the calling thread, named name in a report (a copy is kept).
 * Nothing in mode off. 0, or -errno (the thread must then not go on: its caller stops).
 */
int seccomp_install(enum seccomp_thread kind, const char *name);
/* Test only: $DEJAVM_TEST_SYSCALL=NAME makes the calling thread call NAME once (here). */
void seccomp_test_trigger(void);

#endif
