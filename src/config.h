/* SPDX-License-Identifier: MIT */
/* The VM configuration: everything the command line (and later a trace header) can set. */
#ifndef DEJAVM_CONFIG_H
#define DEJAVM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine.h"
#include "sandbox.h"

struct kvm_cpuid2;

enum serial_mode { SERIAL_TTY, SERIAL_FILE, SERIAL_NULL, SERIAL_OFF };
enum console_mode { CONSOLE_OFF, CONSOLE_NULL, CONSOLE_TTY, CONSOLE_FILE, CONSOLE_PTY };
enum stats_format { STATS_NONE, STATS_TEXT, STATS_JSON };

#define DEFAULT_MEM_SIZE    (64ULL << 20)
#define MIN_MEM_SIZE	    (2ULL << 20)
#define MAX_MEM_SIZE	    (1ULL << 40)
#define MAX_CPUS	    1	       /* SMP lands later */
#define DEFAULT_RTC_EPOCH   1577836800 /* 2020-01-01T00:00:00Z */
#define MAX_DISKS	    4
#define MAX_NETS	    2
#define NET_IFNAMSIZ	    16 /* IFNAMSIZ: a tap name is at most 15 bytes */
#define VIRTIO_BLK_ID_BYTES 20 /* GET_ID answers at most this much (virtio spec, Linux) */
/* Host ms without an exit before a vCPU is searched for a loop that only waits (fixpoint.h). */
#define DEFAULT_EXIT_BUDGET_MS 100
#define MAX_EXIT_BUDGET_MS     3600000
/* ... and before one that loops without a fixed point gets time anyway (not reproducible). */
#define DEFAULT_SPIN_LIMIT_MS 10000

/* --disk path=FILE[,readonly=on][,direct=on][,serial=ID][,num_queues=N][,queue_size=N][,id=NAME] */
struct disk_config {
	const char *path;
	const char *serial; /* NULL: derived from the image file, as cloud-hypervisor does */
	const char *id;
	bool readonly, direct;
	bool sync_engine; /* io_engine=sync instead of io_uring */
	unsigned int num_queues, queue_size;
	unsigned int order; /* position among the virtio devices on the command line */
	uint64_t feed_size; /* replay --feed: no image; the recorded size in bytes */
};

/* --net tap=NAME[,mac=MAC][,ip=A.B.C.D][,mask=A.B.C.D] */
struct net_config {
	const char *tap;    /* host tap device; created if it does not exist */
	const char *ip;	    /* NULL: the host side of the tap is left as it is */
	const char *mask;   /* with ip: its netmask (default 255.255.255.0) */
	const char *id;	    /* the API's id, NULL: config_device_id() names it */
	uint8_t mac[6];	    /* the guest's MAC */
	unsigned int order; /* position among the virtio devices on the command line */
	bool mac_set;	    /* mac= was given */
	bool no_tap;	    /* replay: no tap is opened; received frames come from the trace */
};

struct vm_config {
	const char *kernel;
	const char *initramfs;
	const char *cmdline;
	unsigned int cpus;
	uint64_t mem_size;
	enum serial_mode serial;
	const char *serial_path;
	const char *log_file;
	int verbosity;
	enum stats_format stats;
	const char *record_path;      /* --record FILE */
	bool deterministic;	      /* --deterministic: see determ.h */
	unsigned int machine_version; /* what the guest sees of the hardware (machine.h) */
	int64_t rtc_epoch; /* --rtc-epoch: the guest's wall clock at boot (deterministic) */
	unsigned int exit_budget_ms;	/* --exit-budget: look for a wait loop after this long */
	unsigned int spin_limit_ms;	/* --spin-limit: time at a host-chosen point after this */
	const struct kvm_cpuid2 *cpuid; /* replay: the recorded CPUID table, as is */
	const char *rng_path;		/* --rng src=PATH: a virtio-rng device */
	unsigned int rng_order;		/* its position among the virtio devices */
	enum console_mode console;	/* --console: a virtio-console (hvc0) */
	const char *console_path;
	unsigned int console_order;
	struct disk_config disks[MAX_DISKS];
	unsigned int nr_disks;
	struct net_config nets[MAX_NETS];
	unsigned int nr_nets;
	unsigned int nr_virtio; /* virtio devices on the command line */
	/* --checkpoint-every N[ms|events]: deterministic recordings hold a checkpoint every N
	 * virtual ms (or N events), from which a replay can start (checkpoint.h); 0: none */
	uint64_t checkpoint_every;
	bool checkpoint_events;
	const char *restore_dir; /* --restore source_url=file://DIR: start from this snapshot */
	unsigned int restore_overrides; /* with --restore: what the command line sets (below) */
	const char *api_socket;		/* --api-socket PATH: the REST API (api.h) */
	enum seccomp_mode seccomp;	/* --seccomp true|false|log (sandbox.h) */
	bool rebooted; /* a boot after the first (vm.reboot): output files are appended to */
};

/* With --restore, options of the command line that replace the snapshot's. */
#define OVERRIDE_SERIAL	     (1u << 0)
#define OVERRIDE_CONSOLE     (1u << 1)
#define OVERRIDE_EXIT_BUDGET (1u << 2)
#define OVERRIDE_SPIN_LIMIT  (1u << 3)

void config_init(struct vm_config *cfg);
/*
 * Whether an output file (OVERRIDE_SERIAL, OVERRIDE_CONSOLE) is appended to rather than
 * truncated: after a reboot, and after a restore that kept the snapshot's file (it goes on).
 */
static inline bool config_appends(const struct vm_config *cfg, unsigned int which)
{
	return cfg->rebooted || (cfg->restore_dir && !(cfg->restore_overrides & which));
}
/* The index of the net device on tap among cfg->nets[0, nr_nets), or -1. */
int config_net_of_tap(const struct vm_config *cfg, const char *tap);
/*
 * The id of the virtio device at position order, as cloud-hypervisor names them: the user's id,
 * else "_disk0", "_net1", ... (one counter over disks and nets), "__rng", "__console".
 */
void config_device_id(const struct vm_config *cfg, const char *kind, unsigned int order,
		      const char *user_id, char *buf, size_t len);

#endif
