/* SPDX-License-Identifier: MIT */
/*
 * The VM's lifecycle, one object that the command line and the API both drive:
 *
 *   (none) --create--> Created --boot--> Running <--pause/resume--> Paused
 *                         ^                 |  \--reboot: torn down, built again, booted
 *                         |             shutdown (or the guest ends)
 *                       delete              v
 *   (none) <------------------------- Shutdown --boot--> Running ...
 *
 * The process's main thread runs vmm_main(): it builds each VM (vm.c), runs it (vm_run) and
 * tears it down. Any other thread (the API's) calls the actions, which take the lock, and those
 * that need the main thread (boot, reboot, shutdown) wait for it to have done them.
 */
#ifndef DEJAVM_VMM_H
#define DEJAVM_VMM_H

#include <pthread.h>
#include <stdbool.h>

#include "config.h"
#include "vm.h"

enum vmm_state { VMM_NO_VM, VMM_CREATED, VMM_RUNNING, VMM_PAUSED, VMM_SHUTDOWN };

/* What went wrong with an action: the API's status code follows from it. */
enum vmm_error {
	VMM_OK = 0,
	VMM_EINVAL, /* the request itself is wrong (a field, a value) */
	VMM_ESTATE, /* not in this state (boot twice, pause a created VM, ...) */
	VMM_ENOVM,  /* no VM is created */
	VMM_EFAIL,  /* it was tried and failed (the VM could not be built, ...) */
};

/* Owned copies of a configuration's strings. */
#define VMM_MAX_STRINGS 64

struct vmm {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* broadcast when state, boots or attempts change */
	enum vmm_state state;
	struct vm_config cfg; /* valid from Created on; its strings are in strings[] */
	char *strings[VMM_MAX_STRINGS];
	unsigned int nr_strings;
	struct vm vm;		  /* built while Running or Paused */
	struct snapshot *restore; /* vm.restore, --restore: the next build restores this */
	bool start_paused;	  /* ... and the VM starts Paused (cloud-hypervisor's vm.restore) */
	bool boot_requested, exit_requested, reboot_requested;
	bool building;	       /* vmm_main() builds a VM, without the lock (build()) */
	bool stay;	       /* the process outlives its VM (an API socket) */
	bool recorded;	       /* the trace has its boot: a reboot is not recorded */
	unsigned int boots;    /* VMs built and started */
	unsigned int attempts; /* boots tried, including those that failed */
	int wake_fd;	       /* eventfd: wakes vmm_main() */
	int status;	       /* how the last VM ended (its exit status) */
	char error[256];       /* why the last boot failed */
};

/* stay: keep the process (and its API) when the VM ends. 0 or -errno. */
int vmm_init(struct vmm *m, bool stay);
void vmm_free(struct vmm *m);
const char *vmm_state_name(enum vmm_state s);

/* Whether m->vm is built (Running or Paused); with the lock held. */
static inline bool vmm_vm_built(const struct vmm *m)
{
	return m->state == VMM_RUNNING || m->state == VMM_PAUSED;
}

/*
 * The actions. Each returns VMM_OK or an error with a message in err (len bytes), which names
 * the field or the state. vmm_create() copies cfg, strings too.
 */
enum vmm_error vmm_create(struct vmm *m, const struct vm_config *cfg, char *err, size_t len);
/* What vm.add-* answer: the new device's id and its PCI slot (bus 0, function 0). */
struct vmm_new_device {
	char id[40];
	unsigned int slot;
};

/* Created only (a running VM has no hot-plug): the device goes after those there. */
enum vmm_error vmm_add_disk(struct vmm *m, const struct disk_config *d, struct vmm_new_device *dev,
			    char *err, size_t len);
enum vmm_error vmm_add_net(struct vmm *m, const struct net_config *n, struct vmm_new_device *dev,
			   char *err, size_t len);
enum vmm_error vmm_add_rng(struct vmm *m, const char *src, struct vmm_new_device *dev, char *err,
			   size_t len);
enum vmm_error vmm_boot(struct vmm *m, char *err, size_t len);
enum vmm_error vmm_pause(struct vmm *m, char *err, size_t len);
enum vmm_error vmm_resume(struct vmm *m, char *err, size_t len);
enum vmm_error vmm_shutdown(struct vmm *m, char *err, size_t len);
enum vmm_error vmm_reboot(struct vmm *m, char *err, size_t len);
enum vmm_error vmm_delete(struct vmm *m, char *err, size_t len);
/* Paused only: a snapshot of the VM into the directory of url ("file:///DIR"). */
enum vmm_error vmm_snapshot(struct vmm *m, const char *url, char *err, size_t len);
/*
 * No VM yet: the VM of the snapshot at url, built by vmm_main() (wait: until it is), Paused if
 * paused, else Running. overrides: a command line's output options (--serial, --console,
 * --record, --checkpoint-every, --exit-budget, --spin-limit), NULL: none.
 */
enum vmm_error vmm_restore(struct vmm *m, const char *url, const struct vm_config *overrides,
			   bool paused, bool wait, char *err, size_t len);
/* vmm.shutdown: the VM is stopped if it runs, and vmm_main() returns. */
void vmm_exit(struct vmm *m);

/*
 * The main thread's loop: builds, runs and tears down VMs as the actions ask, until
 * vmm_exit(), a termination signal, or (without stay) the end of the first VM. Returns the
 * process's exit status: the last VM's, or EXIT_VMM_ERROR if it could not be built.
 */
int vmm_main(struct vmm *m);

#endif
