// SPDX-License-Identifier: MIT
/* Checkpoints in deterministic recordings (checkpoint.h). */
#include "checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "log.h"
#include "persist.h"
#include "snapshot.h"
#include "trace.h"
#include "vcpu.h"
#include "vm.h"

#define PAGE	     4096
#define RUN_MAX	     (4u << 20) /* bytes of pages in one memory run */
#define DIGEST_PAGES CHECKPOINT_DIGEST_PAGES

struct checkpointer {
	uint64_t every; /* virtual ns, or events */
	bool events;
	uint64_t next; /* the virtual time or seq the next one is due at */
	size_t npages;
	XXH128_hash_t *hash; /* each page's, as of the last checkpoint (or the start) */
};

/* Every page's hash into c->hash; returns how many changed (their flags in changed, if set). */
static size_t hash_pages(const struct vm *vm, struct checkpointer *c, uint8_t *changed)
{
	size_t p = 0, n = 0;

	for (unsigned int i = 0; i < vm->mem.nr; i++) {
		const struct mem_region *r = &vm->mem.regions[i];

		for (uint64_t off = 0; off < r->size; off += PAGE, p++) {
			XXH128_hash_t h = XXH3_128bits(r->hva + off, PAGE);

			if (changed) {
				changed[p] = !XXH128_isEqual(h, c->hash[p]);
				n += changed[p];
			}
			c->hash[p] = h;
		}
	}
	return n;
}

int checkpoint_init(struct vm *vm)
{
	struct checkpointer *c = calloc(1, sizeof(*c));
	uint64_t seq = vm->resumed ? vm->resume_seq : 0;

	if (!c)
		return -ENOMEM;
	c->events = vm->cfg->checkpoint_events;
	c->every = c->events ? vm->cfg->checkpoint_every : vm->cfg->checkpoint_every * 1000000ULL;
	c->next = (c->events ? seq : vm->vtime_ns) + c->every;
	c->npages = vm->mem.ram_size / PAGE;
	c->hash = calloc(c->npages ? c->npages : 1, sizeof(*c->hash));
	if (!c->hash) {
		free(c);
		return -ENOMEM;
	}
	hash_pages(vm, c, NULL);
	checkpoint_free(vm);
	vm->ckpt = c;
	return 0;
}

void checkpoint_free(struct vm *vm)
{
	if (!vm->ckpt)
		return;
	free(vm->ckpt->hash);
	free(vm->ckpt);
	vm->ckpt = NULL;
}

bool checkpoint_due(const struct vm *vm)
{
	const struct checkpointer *c = vm->ckpt;

	return (c->events ? trace_events_emitted(vm->trace) : vm->vtime_ns) >= c->next;
}

/* [[gpa, bytes], ...]: the changed pages, in runs of adjacent ones (at most RUN_MAX each). */
static void pack_memory(const struct vm *vm, const uint8_t *changed, msgpack_packer *pk)
{
	size_t nruns = 0, p;

	for (int pass = 0; pass < 2; pass++) {
		p = 0;
		if (pass)
			msgpack_pack_array(pk, nruns);
		for (unsigned int i = 0; i < vm->mem.nr; i++) {
			const struct mem_region *r = &vm->mem.regions[i];

			for (uint64_t off = 0; off < r->size;) {
				uint64_t start = off;

				if (!changed[p]) {
					off += PAGE, p++;
					continue;
				}
				while (off < r->size && changed[p] && off - start < RUN_MAX)
					off += PAGE, p++;
				if (!pass) {
					nruns++;
					continue;
				}
				msgpack_pack_array(pk, 2);
				msgpack_pack_uint64(pk, r->gpa + start);
				msgpack_pack_bin_with_body(pk, r->hva + start, off - start);
			}
		}
	}
}

void checkpoint_take(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct checkpointer *c = vm->ckpt;
	uint64_t seq = trace_events_emitted(vm->trace), vtime = vm->vtime_ns;
	uint8_t *changed = malloc(c->npages ? c->npages : 1);
	size_t ndigests = (c->npages + DIGEST_PAGES - 1) / DIGEST_PAGES;
	XXH128_canonical_t *digests = calloc(ndigests ? ndigests : 1, sizeof(*digests));
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[256];

	c->next = (c->events ? seq : vtime) + c->every;
	vcpu_complete_io(v); /* its registers as a restore will have them */
	if (!changed || !digests) {
		free(changed);
		free(digests);
		vm_request_stop(vm, EXIT_VMM_ERROR, "checkpoint at seq %" PRIu64 ": out of memory",
				seq);
		return;
	}
	hash_pages(vm, c, changed);
	for (size_t i = 0; i < ndigests; i++) {
		size_t n = c->npages - i * DIGEST_PAGES < DIGEST_PAGES
				   ? c->npages - i * DIGEST_PAGES
				   : DIGEST_PAGES;

		XXH128_canonicalFromHash(&digests[i], XXH3_128bits(c->hash + i * DIGEST_PAGES,
								   n * sizeof(*c->hash)));
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	persist_u64(&pk, "seq", seq);
	persist_u64(&pk, "vtime_ns", vtime);
	persist_key(&pk, "state");
	vm_parts_lock(vm);
	if (vm_state_save(vm, &pk, err, sizeof(err))) {
		vm_parts_unlock(vm);
		free(changed);
		free(digests);
		msgpack_sbuffer_destroy(&sb);
		vm_request_stop(vm, EXIT_VMM_ERROR, "checkpoint at seq %" PRIu64 ": %s", seq, err);
		return;
	}
	vm_parts_unlock(vm);
	persist_key(&pk, "memory");
	pack_memory(vm, changed, &pk);
	persist_bin(&pk, "memory_xxh128", digests, ndigests * sizeof(*digests));
	free(changed);
	free(digests);
	vm->stats.checkpoints++;
	if (vm->replay && vm->replay->checkpoint) {
		vm->replay->checkpoint(vm->replay->ctx, seq, sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
	} else {
		size_t size = sb.size;

		/* a trace that cannot be written stops the VM through the tracer's on_error */
		trace_checkpoint(vm->trace, seq, vtime, msgpack_sbuffer_release(&sb), size);
	}
}

int checkpoint_apply_memory(struct vm *vm, const msgpack_object *payload, char *err, size_t len)
{
	struct persist_err e = {0};
	struct persist_in in;
	const msgpack_object *runs;

	if (!persist_open(&in, payload, "checkpoint", &e))
		goto bad;
	runs = persist_find(&in, "memory");
	if (!runs || runs->type != MSGPACK_OBJECT_ARRAY) {
		persist_fail(&in, "memory", "missing, or not an array");
		goto bad;
	}
	for (uint32_t i = 0; i < runs->via.array.size; i++) {
		const msgpack_object *r = &runs->via.array.ptr[i];
		const msgpack_object *gpa = r->via.array.ptr, *data = gpa + 1;
		void *dst;

		if (r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size != 2 ||
		    gpa->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    data->type != MSGPACK_OBJECT_BIN || !data->via.bin.size ||
		    (gpa->via.u64 | data->via.bin.size) % PAGE ||
		    !(dst = gpa_to_hva(&vm->mem, gpa->via.u64, data->via.bin.size))) {
			persist_fail(&in, "memory", "run %u is not [gpa, whole pages] inside RAM",
				     i);
			goto bad;
		}
		memcpy(dst, data->via.bin.ptr, data->via.bin.size);
	}
	return 0;
bad:
	snprintf(err, len, "%s", e.msg);
	return -1;
}

int checkpoint_restore(struct vm *vm, const void *payload, size_t size, bool state, char *err,
		       size_t len)
{
	struct persist_err e = {0};
	struct persist_in in;
	msgpack_zone zone;
	msgpack_object obj;
	msgpack_unpack_return u;
	size_t off = 0;
	int r = -1;

	msgpack_zone_init(&zone, 4096);
	u = persist_unpack(payload, size, &off, &zone, &obj);
	if (u != MSGPACK_UNPACK_SUCCESS && u != MSGPACK_UNPACK_EXTRA_BYTES)
		snprintf(err, len, "its payload is not msgpack");
	else if (!checkpoint_apply_memory(vm, &obj, err, len)) {
		persist_open(&in, &obj, "checkpoint", &e); /* a map: checkpoint_apply_memory says */
		r = state ? vm_state_load(vm, persist_find(&in, "state"), err, len) : 0;
	}
	msgpack_zone_destroy(&zone);
	return r;
}
