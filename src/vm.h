/* SPDX-License-Identifier: MIT */
/*
 * The VM: KVM handles, guest memory, the two buses and the devices on them. vcpu.c runs the
 * vCPUs and holds the one dispatch point every exit goes through.
 */
#ifndef DEJAVM_VM_H
#define DEJAVM_VM_H

#include <pthread.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "bus.h"
#include "config.h"
#include "memory.h"
#include "stats.h"

struct kvm_coalesced_mmio_ring;
struct kvm_coalesced_mmio;
struct persist_in;
struct msgpack_packer;
struct checkpointer;

/* Exit statuses of the dejavm process (besides a guest's own test-exit status). */
#define EXIT_VMM_ERROR	 1
#define EXIT_USAGE	 2
#define EXIT_GUEST_CRASH 3

struct vcpu;
struct serial;
struct tracer;
struct determ;
struct pci_bus;
struct landmark;
struct pci_device;

#define VM_MAX_MSI_ROUTES 64
#define VM_MSI_GSI_BASE	  24 /* after the IOAPIC's 24 pins */

/*
 * How `dejavm replay` (replay/replay.c) steers a run; the events themselves are compared as the
 * tracer emits them. NULL hooks are skipped.
 */
struct vm_replay_hooks {
	void *ctx;
	/* A guest read was answered by the device model with data: may replace it (--feed). */
	void (*read)(void *ctx, bool pio, uint64_t addr, uint32_t len, uint8_t *data);
	/*
	 * Before KVM_RUN after an exit: true when the next recorded event is a landmark after the
	 * vCPU's last exit, which it fills in; the vCPU then runs to it (a breakpoint on its RIP).
	 */
	bool (*landmark_next)(void *ctx, struct vcpu *v, struct landmark *lm);
	/* A device is about to write len bytes from outside into guest buffers: may replace them.
	 */
	void (*dma)(void *ctx, void *data, size_t len);
	/*
	 * A device without its backend (virtio-net: no tap) asks whether the recording took a
	 * chain from its queue q at this point: true when the next recorded event is a vq_chain of
	 * device dev (PCI slot), queue q. Only with --feed.
	 */
	bool (*chain_next)(void *ctx, unsigned int dev, unsigned int q);
	/* Then: the length of the recorded dma_write of dev that follows, 0 if none follows. */
	size_t (*dma_next)(void *ctx, unsigned int dev);
	/*
	 * Before the vCPU injects and before it runs: true when the recording was stopped (by a
	 * signal) here, and the hook has stopped the VM the same way.
	 */
	bool (*stop_here)(void *ctx);
	/*
	 * After KVM_RUN returned with a guest exit, before it is handled: true when the recording
	 * was stopped while the guest ran, after it had posted the writes that end the trace to
	 * the coalesced ring; the hook has stopped the VM, and this exit is not handled (in the
	 * recording the signal came before it).
	 */
	bool (*stop_after_run)(void *ctx);
	/* A checkpoint is due at seq (checkpoint.h): the replay compares its payload (msgpack). */
	void (*checkpoint)(void *ctx, uint64_t seq, const void *payload, size_t len);
};

/* An image the guest was built from; its hash goes into the trace header. */
struct vm_image {
	const char *role; /* "kernel", "initramfs" */
	const char *path;
	uint64_t size;
	uint8_t sha256[32];
};

/* Guest memory the VMM filled before the first instruction (recorded as mem_write). */
struct vm_boot_write {
	uint64_t gpa, len;
	const char *what;
};

struct vm_callback {
	void (*fn)(void *arg);
	void *arg;
};

/*
 * A part of the VM in a snapshot or checkpoint (persist.h, docs/snapshot-format.md): a device,
 * the PCI bus, the VMM's PIC and PIT. Saved and loaded by name, in the order they were added.
 */
struct vm_part {
	const char *name;
	void (*save)(void *opaque, struct msgpack_packer *pk);
	bool (*load)(void *opaque, struct persist_in *in);
	void *opaque;
	pthread_mutex_t *lock; /* held around a snapshot (device threads pause), NULL: none */
};

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	struct guest_mem mem;
	struct bus pio_bus;
	struct bus mmio_bus;
	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	struct serial *serial;
	struct pci_bus *pci; /* segment 0, bus 0 */
	int rng_fd;	     /* --rng source, -1: none */
	void *owned[32];     /* device state freed with the VM (vm_own) */
	unsigned int nr_owned;
	/*
	 * vm_on_destroy(), vm_on_stop() (device threads: disks, nets, a console pty; the disks' and
	 * nets' log summaries), vm_on_hlt()
	 */
	struct vm_callback cleanups[MAX_DISKS + MAX_NETS + 16],
		stoppers[2 * (MAX_DISKS + MAX_NETS) + 1], hlt_hooks[MAX_NETS];
	unsigned int nr_cleanups, nr_stoppers, nr_hlt_hooks, nr_flushers;
	struct vm_flusher {
		const char *what;     /* for messages: the disk's path */
		int (*fn)(void *arg); /* 0 or -errno */
		void *arg;
	} flushers[MAX_DISKS];
	struct vm_part parts[MAX_DISKS + MAX_NETS + 8]; /* vm_persist() */
	unsigned int nr_parts;
	/* Writes a snapshot found in KVM's coalesced ring: drained before the ring (vcpu.c). */
	struct kvm_coalesced_mmio *restored_ring;
	unsigned int nr_restored_ring;
	struct checkpointer *ckpt; /* deterministic recording or replay with checkpoints */
	/* A restored snapshot or checkpoint of a recording: where its trace goes on from. */
	bool resumed;
	uint64_t resume_seq, resume_ts[MAX_CPUS];
	struct exit_stats stats;
	struct vm_image images[2];
	unsigned int nr_images;
	struct vm_boot_write boot_writes[4];
	unsigned int nr_boot_writes;
	struct tracer *trace; /* non-NULL when recording (or replaying: then events are compared) */
	struct determ *det;   /* non-NULL in deterministic mode */
	uint64_t vtime_ns;    /* deterministic mode: the virtual clock (ns since boot) */
	const struct vm_replay_hooks *replay;
	/* KVM's coalesced MMIO/PIO ring (in the vCPU mmap), NULL if the host has none */
	struct kvm_coalesced_mmio_ring *coalesced_ring;
	int coalesced_page; /* its page offset in the vCPU mmap, 0: none */

	/* Set once, by whoever ends the run first (device, failure exit or signal). */
	atomic_bool stopping;
	int exit_status;
	char stop_reason[128];
	int done_fd;	 /* eventfd: the vCPU thread has returned */
	int stop_signal; /* the termination signal that stopped it, 0: none */

	/*
	 * vm_pause(): the vCPUs park at the top of their loop, between exits, until vm_resume().
	 * Deterministic mode: nothing of it is in the trace, and host time paused is not counted
	 * by the watchdog; normal mode records a vm_state event.
	 */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool pause_req;
	unsigned int nr_parked;
	/*
	 * Test only ($DEJAVM_TEST_PAUSE_AFTER=N): after its N-th exit the vCPU pauses the VM
	 * itself, at an exact point; vm_run() then calls on_self_pause (vmm.c: state Paused).
	 */
	uint64_t test_pause_after;
	int self_pause_fd; /* eventfd: the vCPU paused the VM */
	struct vm_callback on_self_pause;

	/* The devices on the PCI bus as vm.info and vm.counters show them (vm_add_device). */
	struct vm_device {
		char id[32];	  /* config_device_id(): "_disk0", "_net1", "__rng", ... */
		const char *kind; /* "disk", "net", "rng", "console" */
		struct pci_device *pci;
		struct vm_counters counters;
	} devices[MAX_DISKS + MAX_NETS + 2];
	unsigned int nr_devices;

	/* MSI routes (normal mode), set with the irqchip's own in KVM_SET_GSI_ROUTING */
	pthread_mutex_t msi_lock;
	struct vm_msi_route {
		uint32_t gsi, data;
		uint64_t addr;
	} msi_routes[VM_MAX_MSI_ROUTES];
	unsigned int nr_msi_routes;
};

int vm_create(struct vm *vm, const struct vm_config *cfg);
/*
 * The VM without KVM, for what drives its devices directly (tests/fuzz): guest
 * RAM, the buses and every device of cfg (deterministic: with the VMM's PIC and PIT), no vCPU.
 * vm_fd is -1, so devices start no I/O thread (a queue is served when it is notified) and
 * interrupt lines and MSI routes only log that KVM refused them. Free it with vm_destroy().
 */
int vm_create_without_kvm(struct vm *vm, const struct vm_config *cfg);
/* Loads kernel/initramfs, writes boot structures, sets the boot vCPU's registers. */
int vm_load(struct vm *vm);
/*
 * vmm.c: starts the vCPU threads, serves stdin, signals and the exit-budget watchdog until the
 * VM ends; returns the status.
 */
int vm_run(struct vm *vm);
/*
 * Blocks SIGINT/SIGTERM/SIGHUP in the calling thread (and the threads it creates later): call it
 * before any thread exists, so that only vm_run's signalfd ever receives them.
 */
void vm_block_signals(sigset_t *set);
void vm_destroy(struct vm *vm);

/*
 * A device on the PCI bus gets its id and counters (NULL when the table is full, which the
 * configuration's limits rule out). id NULL: named as cloud-hypervisor does (config_device_id).
 */
struct vm_device *vm_add_device(struct vm *vm, const char *kind, const char *id,
				struct pci_device *pci);
/*
 * Parks the vCPUs between exits and returns when all are parked (or the VM is stopping), and
 * lets them run on. Any thread but a vCPU's may call them; the caller serializes them.
 */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);

/* Ends the run with status (first caller wins) and kicks the vCPUs out of KVM_RUN. */
void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* fn(arg) runs in vm_destroy(), before the devices' memory goes. Returns 0 or -ENOSPC. */
int vm_on_destroy(struct vm *vm, void (*fn)(void *arg), void *arg);
/* fn(arg) runs when the vCPUs have stopped, before the trace is closed: stop device threads. */
int vm_on_stop(struct vm *vm, void (*fn)(void *arg), void *arg);
/* Runs (once) what vm_on_stop() registered: vm_run() does, when the vCPUs have returned. */
void vm_run_stoppers(struct vm *vm);
/*
 * Normal mode: a GSI of its own for one MSI-X vector (-ENOSPC when all are taken), and
 * (re)pointing it at an MSI address/data pair. Both take msi_lock; any thread may call them.
 */
int vm_msi_gsi_alloc(struct vm *vm);
int vm_msi_route(struct vm *vm, unsigned int gsi, uint64_t addr, uint32_t data);
/*
 * Deterministic mode: fn(arg) runs on the vCPU at every HLT exit, before the VMM looks for a
 * pending interrupt: a device with input from outside (virtio-net) takes it in there, at a
 * synchronous exit. Returns 0 or -ENOSPC.
 */
int vm_on_hlt(struct vm *vm, void (*fn)(void *arg), void *arg);
/* A part of the VM's state for snapshots (struct vm_part); name must outlive the VM. */
int vm_persist(struct vm *vm, const char *name,
	       void (*save)(void *opaque, struct msgpack_packer *pk),
	       bool (*load)(void *opaque, struct persist_in *in), void *opaque,
	       pthread_mutex_t *lock);
/*
 * fn(arg) runs before a snapshot is taken: a disk flushes its writes to the image (0 or
 * -errno; a failure fails the snapshot, named by what). Returns 0 or -ENOSPC.
 */
int vm_on_snapshot(struct vm *vm, const char *what, int (*fn)(void *arg), void *arg);
/* Hands ptr to the VM, which frees it in vm_destroy(); returns ptr (NULL if it could not). */
void *vm_own(struct vm *vm, void *ptr);
/*
 * Lets KVM post guest writes to [addr, addr+len) to the coalesced ring instead of exiting: only
 * for registers whose writes have no effect the guest could see before its next exit (the ring
 * is drained, in order, before any exit is handled). Returns 0, or -errno (the range then just
 * exits as usual).
 */
int vm_coalesce_writes(struct vm *vm, bool pio, uint64_t addr, uint32_t len);
/*
 * Deterministic mode: the guest-physical addresses of the pages the guest wrote since the last
 * call (KVM's dirty log, which this clears), ascending; up to max are stored. Returns how many
 * there were, or -errno (the VM is then stopping).
 */
int vm_dirty_pages(struct vm *vm, uint64_t *gpas, unsigned int max);
/* KVM's dirty log of guest RAM on or off (it costs, on some hosts a lot: only while needed). */
int vm_dirty_log(struct vm *vm, bool on);
/* Drives an interrupt line of the in-kernel PIC/IOAPIC. */
void vm_set_irq(struct vm *vm, unsigned int irq, bool level);

/* record.c: starts recording into cfg->record_path (header + boot writes) / ends it. */
int record_start(struct vm *vm);
/* Deterministic mode: vm->trace's clock becomes vm->vtime_ns (record_start() does it). */
void record_use_virtual_time(struct vm *vm);
/* The mem_write events of what vm_load() put in guest memory (record_start() emits them). */
void record_boot_writes(struct vm *vm);
int record_finish(struct vm *vm, int status);

/* Device constructors (src/devices/). Each registers its ranges on the VM's buses. */
int serial_init(struct vm *vm);
void serial_input(struct serial *s, const uint8_t *data, size_t len);
void serial_flush(struct serial *s);
void serial_free(struct serial *s);
int i8042_init(struct vm *vm);
int cmos_init(struct vm *vm);
int debugport_init(struct vm *vm);
int testdev_init(struct vm *vm);
int virtio_rng_init(struct vm *vm);
int virtio_console_init(struct vm *vm);
int virtio_blk_add(struct vm *vm, const struct disk_config *cfg);
/*
 * A disk image's identity, as the trace header holds it: its size (a block device's too) and
 * the XXH3-128 of its bytes (canonical, in lowercase hex), read once. 0 or -errno.
 */
int blk_image_identity(const char *path, uint64_t *size, char xxh3_128[33]);
int virtio_net_add(struct vm *vm, const struct net_config *cfg);

#endif
