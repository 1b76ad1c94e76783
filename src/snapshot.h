/* SPDX-License-Identifier: MIT */
/*
 * Snapshots (docs/snapshot-format.md): a paused VM's whole state in a directory, restored in a
 * new process as cloud-hypervisor's vm.snapshot / vm.restore do; and the VM-state map that a
 * trace's checkpoints (checkpoint.h) share with them.
 *
 *   DIR/state.msgpack  format, version, configuration, images and disks (SHA-256), the memory
 *                      file's index, and the state: vCPUs, interrupt controllers and clocks,
 *                      devices (vm_persist), counters, where a recording stood
 *   DIR/memory         the guest RAM that is not zero: runs of pages, one zstd frame each
 */
#ifndef DEJAVM_SNAPSHOT_H
#define DEJAVM_SNAPSHOT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define SNAPSHOT_FORMAT_NAME	"dejavm-snapshot"
#define SNAPSHOT_FORMAT_VERSION 1 /* raised whenever an older dejavm could misread a snapshot */
#define SNAPSHOT_STATE_FILE	"state.msgpack"
#define SNAPSHOT_MEMORY_FILE	"memory"

struct vm;

/*
 * The VM's state as one msgpack map: every vCPU, KVM's irqchip, PIT and clock (normal mode) or
 * the virtual clock (deterministic mode; the VMM's PIC and PIT are parts), every part
 * (vm_persist), the exit counters, KVM's coalesced writes not handled yet, and where the
 * recording stands. The vCPUs must be parked, not started, or the caller. 0, or -1 with err.
 */
int vm_state_save(struct vm *vm, msgpack_packer *pk, char *err, size_t len);
/* Loads it into a VM built from the same configuration (vm_create). 0, or -1 with err. */
int vm_state_load(struct vm *vm, const msgpack_object *state, char *err, size_t len);
/* Takes the locks of every part (a device thread finishes its batch first) / releases them. */
void vm_parts_lock(struct vm *vm);
void vm_parts_unlock(struct vm *vm);

/*
 * Writes a snapshot of the VM (its vCPUs parked) into dir, created if missing; a snapshot
 * already there is replaced. Disks are flushed first. 0, or -1 with err.
 */
int vm_snapshot(struct vm *vm, const char *dir, char *err, size_t len);

/* A snapshot directory opened for a restore: first its configuration, to build the VM from. */
struct snapshot;
/*
 * Reads and checks DIR/state.msgpack and that the memory file fits it, and with disks that each
 * disk holds what it held when the snapshot was taken (SHA-256).
 */
struct snapshot *snapshot_open(const char *dir, bool disks, char *err, size_t len);
const struct vm_config *snapshot_config(const struct snapshot *s);
/* Guest memory and state into vm (built by vm_create from snapshot_config()). 0 or -1. */
int snapshot_restore(struct snapshot *s, struct vm *vm, char *err, size_t len);
void snapshot_close(struct snapshot *s);

/* The directory of a cloud-hypervisor URL "file:///dir" (or of a plain path); NULL otherwise. */
const char *snapshot_url_path(const char *url);

#endif
