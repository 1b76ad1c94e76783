/* SPDX-License-Identifier: MIT */
/*
 * Checkpoints (--checkpoint-every N[ms|events], deterministic mode): at the top of the vCPU loop,
 * once N virtual ms (or N events) have passed since the last one, the VM's state (snapshot.h)
 * and the guest pages that changed since go into the trace as a checkpoint frame. `dejavm
 * replay --from SEQ` starts at one, and `--jobs N` replays the segments between them at once.
 * The point is a synchronous one that depends on the guest alone (virtual time or events), so
 * a replay reaches the same points, where it checks that its state equals the recorded one.
 *
 * Changed pages are found by their XXH3-128, not KVM's dirty log: the log slows guests 2.4x on
 * the PVM hosts, hashing 64 MiB takes ~3 ms, and the VMM's own writes into the guest (virtio)
 * show up too.
 *
 * Payload (msgpack map, docs/trace-format.md): seq, vtime_ns, state, memory: [[gpa, bytes], ...]
 * (runs of changed pages), memory_xxh128: for every CHECKPOINT_DIGEST_PAGES pages of RAM in
 * order (2 MiB), the XXH3-128 of their pages' XXH3-128s: all of RAM, so that a replay finds
 * a page that differs even where neither run changed it, and says where. Memory at checkpoint k
 * is the boot image (vm_load) with the pages of checkpoints 0..k applied in order.
 */
#ifndef DEJAVM_CHECKPOINT_H
#define DEJAVM_CHECKPOINT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHECKPOINT_DIGEST_PAGES 512

struct vm;
struct vcpu;

/*
 * Starts checkpointing per vm->cfg->checkpoint_every, from guest memory as it is now (after
 * vm_load, or a restore: vm->resumed says from which seq). 0 or -errno.
 */
int checkpoint_init(struct vm *vm);
void checkpoint_free(struct vm *vm);
/* At the top of the vCPU loop: is a checkpoint due? */
bool checkpoint_due(const struct vm *vm);
/*
 * Takes it: into the trace, or to the replay's checkpoint hook, which compares it. On failure
 * the VM is stopped with the reason.
 */
void checkpoint_take(struct vcpu *v);
/* Applies the memory runs of a checkpoint payload's map to guest RAM. 0, or -1 with err. */
int checkpoint_apply_memory(struct vm *vm, const msgpack_object *payload, char *err, size_t len);
/*
 * A checkpoint payload as the trace holds it (msgpack, untrusted), into vm as `dejavm replay
 * --from` builds its VM: its memory runs, and with state its state map too (vm_state_load).
 * 0, or -1 with err.
 */
int checkpoint_restore(struct vm *vm, const void *payload, size_t size, bool state, char *err,
		       size_t len);

#endif
