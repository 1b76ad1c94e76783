// SPDX-License-Identifier: MIT
/* Snapshots and the VM-state map (snapshot.h, docs/snapshot-format.md). */
#include "snapshot.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "config_msgpack.h"
#include "log.h"
#include "persist.h"
#include "sha256.h"
#include "trace.h"
#include "vcpu.h"
#include "vm.h"

#define PAGE	     4096
#define RUN_MAX	     (4u << 20) /* bytes of pages in one frame of the memory file */
#define MEMORY_LEVEL 1		/* zstd level: memory is big, and mostly compresses well anyway */
#define MAX_RING     256	/* KVM's coalesced ring holds fewer (170) */

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- the VM-state map ---- */

/* What the exit counters hold that a trace's end event and --stats go on from. */
#define STATS_STATE(F)          \
	F(BIN, by_reason)       \
	F(UINT, pio_in)         \
	F(UINT, pio_out)        \
	F(UINT, mmio_read)      \
	F(UINT, mmio_write)     \
	F(UINT, pio_unhandled)  \
	F(UINT, mmio_unhandled) \
	F(UINT, pio_coalesced)  \
	F(UINT, mmio_coalesced) \
	F(UINT, landmarks)      \
	F(UINT, nondeterministic)

/* KVM's own devices in normal mode: both PICs, the IOAPIC, the PIT, and the kvmclock. */
static const struct irqchip_part {
	const char *name;
	int chip; /* KVM_IRQCHIP_*, -1: the PIT */
} irqchip_parts[] = {
	{"pic_master", KVM_IRQCHIP_PIC_MASTER},
	{"pic_slave", KVM_IRQCHIP_PIC_SLAVE},
	{"ioapic", KVM_IRQCHIP_IOAPIC},
	{"pit", -1},
};
#define NR_IRQCHIP_PARTS (sizeof(irqchip_parts) / sizeof(irqchip_parts[0]))

static int kvm_save(struct vm *vm, msgpack_packer *pk)
{
	struct kvm_clock_data clock = {0};
	int r = 0;

	msgpack_pack_map(pk, NR_IRQCHIP_PARTS + 1);
	for (size_t i = 0; i < NR_IRQCHIP_PARTS; i++) {
		const struct irqchip_part *p = &irqchip_parts[i];

		if (p->chip >= 0) {
			struct kvm_irqchip c = {.chip_id = p->chip};

			if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c) && !r)
				r = -errno;
			persist_bin(pk, p->name, &c, sizeof(c));
		} else {
			struct kvm_pit_state2 pit = {0};

			if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) && !r)
				r = -errno;
			persist_bin(pk, p->name, &pit, sizeof(pit));
		}
	}
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) && !r)
		r = -errno;
	persist_u64(pk, "clock_ns", clock.clock);
	return r;
}

static bool kvm_load(struct vm *vm, struct persist_in *in)
{
	struct kvm_clock_data clock = {0};

	for (size_t i = 0; i < NR_IRQCHIP_PARTS; i++) {
		const struct irqchip_part *p = &irqchip_parts[i];
		struct kvm_irqchip c = {.chip_id = p->chip};
		struct kvm_pit_state2 pit;
		int r;

		if (p->chip >= 0) {
			if (!persist_get_BIN(in, p->name, &c, sizeof(c)))
				return false;
			if (c.chip_id != (uint32_t)p->chip)
				return persist_fail(in, p->name, "chip %u, not %d", c.chip_id,
						    p->chip);
			r = ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &c);
		} else {
			if (!persist_get_BIN(in, p->name, &pit, sizeof(pit)))
				return false;
			r = ioctl(vm->vm_fd, KVM_SET_PIT2, &pit);
		}
		if (r)
			return persist_fail(in, p->name, "KVM refuses it: %s", strerror(errno));
	}
	if (!persist_get_UINT(in, "clock_ns", &clock.clock, sizeof(clock.clock)))
		return false;
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock))
		return persist_fail(in, "clock_ns", "KVM_SET_CLOCK: %s", strerror(errno));
	return true;
}

void vm_parts_lock(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_parts; i++)
		if (vm->parts[i].lock)
			pthread_mutex_lock(vm->parts[i].lock);
}

void vm_parts_unlock(struct vm *vm)
{
	for (unsigned int i = vm->nr_parts; i--;)
		if (vm->parts[i].lock)
			pthread_mutex_unlock(vm->parts[i].lock);
}

/* Writes KVM posted to its coalesced ring that no exit has handled yet (with those restored). */
static void save_ring(const struct vm *vm, msgpack_packer *pk)
{
	struct kvm_coalesced_mmio_ring *ring = vm->coalesced_ring;
	const uint32_t max = ring ? (4096 - sizeof(*ring)) / sizeof(ring->coalesced_mmio[0]) : 0;
	struct kvm_coalesced_mmio e[MAX_RING];
	unsigned int n = 0;

	for (unsigned int i = 0; i < vm->nr_restored_ring && n < MAX_RING; i++)
		e[n++] = vm->restored_ring[i];
	for (uint32_t i = ring ? ring->first : 0;
	     ring && i != __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE) && n < MAX_RING;
	     i = (i + 1) % max)
		e[n++] = ring->coalesced_mmio[i];
	persist_bin(pk, "coalesced", e, n * sizeof(e[0]));
}

static bool load_ring(struct vm *vm, struct persist_in *in)
{
	const void *p;
	size_t len;

	if (!persist_get_bin(in, "coalesced", MAX_RING * sizeof(*vm->restored_ring), &p, &len))
		return false;
	if (len % sizeof(*vm->restored_ring))
		return persist_fail(in, "coalesced", "%zu bytes: not whole entries", len);
	free(vm->restored_ring);
	vm->restored_ring = len ? malloc(len) : NULL;
	if (len && !vm->restored_ring)
		return persist_fail(in, "coalesced", "out of memory");
	if (len)
		memcpy(vm->restored_ring, p, len);
	vm->nr_restored_ring = len / sizeof(*vm->restored_ring);
	return true;
}

int vm_state_save(struct vm *vm, msgpack_packer *pk, char *err, size_t len)
{
	msgpack_pack_map(pk, 5 + (vm->trace != NULL));
	persist_key(pk, "vcpus");
	msgpack_pack_array(pk, vm->nr_vcpus);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		int r = vcpu_save(&vm->vcpus[i], pk);

		if (r)
			return fail(err, len, "vCPU %u: cannot read its state from KVM: %s", i,
				    strerror(-r));
	}
	if (vm->det) {
		persist_u64(pk, "vtime_ns", vm->vtime_ns);
	} else {
		int r;

		persist_key(pk, "kvm");
		r = kvm_save(vm, pk);
		if (r)
			return fail(err, len, "cannot read KVM's irqchip, PIT or clock: %s",
				    strerror(-r));
	}
	persist_key(pk, "parts");
	msgpack_pack_map(pk, vm->nr_parts);
	for (unsigned int i = 0; i < vm->nr_parts; i++) {
		persist_key(pk, vm->parts[i].name);
		vm->parts[i].save(vm->parts[i].opaque, pk);
	}
	persist_key(pk, "stats");
	PERSIST_SAVE(pk, &vm->stats, STATS_STATE);
	save_ring(vm, pk);
	if (vm->trace) {
		persist_key(pk, "trace");
		msgpack_pack_map(pk, 2);
		persist_u64(pk, "seq", trace_events_emitted(vm->trace));
		persist_key(pk, "ts");
		msgpack_pack_array(pk, vm->nr_vcpus);
		for (unsigned int i = 0; i < vm->nr_vcpus; i++)
			msgpack_pack_uint64(pk, trace_stream_ts(vm->trace, i));
	}
	return 0;
}

/* Every part this VM has must be in the snapshot, and nothing else. */
static bool load_parts(struct vm *vm, struct persist_in *in)
{
	struct persist_in parts, sub;

	if (!persist_sub(in, "parts", &parts))
		return false;
	for (uint32_t k = 0; k < parts.map->via.map.size; k++) {
		const msgpack_object *key = &parts.map->via.map.ptr[k].key;
		bool known = false;

		for (unsigned int i = 0; key->type == MSGPACK_OBJECT_STR && i < vm->nr_parts; i++)
			known |= strlen(vm->parts[i].name) == key->via.str.size &&
				 !memcmp(vm->parts[i].name, key->via.str.ptr, key->via.str.size);
		if (!known)
			return persist_fail(
				&parts, NULL,
				"'%.*s': this VM has no such device (the snapshot's "
				"configuration differs)",
				key->type == MSGPACK_OBJECT_STR ? (int)key->via.str.size : 1,
				key->type == MSGPACK_OBJECT_STR ? key->via.str.ptr : "?");
	}
	for (unsigned int i = 0; i < vm->nr_parts; i++)
		if (!persist_sub(&parts, vm->parts[i].name, &sub) ||
		    !vm->parts[i].load(vm->parts[i].opaque, &sub))
			return false;
	return true;
}

static bool load_trace(struct vm *vm, struct persist_in *in)
{
	const msgpack_object *ts;
	struct persist_in t;

	vm->resumed = false;
	if (!persist_find(in, "trace"))
		return true; /* not taken during a recording */
	if (!persist_sub(in, "trace", &t) ||
	    !persist_get_u64(&t, "seq", UINT64_MAX / 2, &vm->resume_seq))
		return false;
	ts = persist_find(&t, "ts");
	if (!ts || ts->type != MSGPACK_OBJECT_ARRAY || ts->via.array.size != vm->nr_vcpus)
		return persist_fail(&t, "ts", "not an array of %u timestamps", vm->nr_vcpus);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (ts->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return persist_fail(&t, "ts", "entry %u is not a timestamp", i);
		vm->resume_ts[i] = ts->via.array.ptr[i].via.u64;
	}
	vm->resumed = true;
	return true;
}

int vm_state_load(struct vm *vm, const msgpack_object *state, char *err, size_t len)
{
	struct persist_err e = {0};
	struct persist_in in, sub;
	bool ok = persist_open(&in, state, "state", &e);

	if (ok && vm->det)
		ok = persist_get_UINT(&in, "vtime_ns", &vm->vtime_ns, sizeof(vm->vtime_ns));
	else if (ok)
		ok = persist_sub(&in, "kvm", &sub) && kvm_load(vm, &sub);
	/* the vCPUs (their LAPICs) before the devices, whose restart may interrupt them */
	for (unsigned int i = 0; ok && i < vm->nr_vcpus; i++)
		ok = persist_elem(&in, "vcpus", i, vm->nr_vcpus, &sub) &&
		     vcpu_load(&vm->vcpus[i], &sub);
	ok = ok && load_parts(vm, &in) && persist_sub(&in, "stats", &sub) &&
	     PERSIST_LOAD(&sub, &vm->stats, STATS_STATE) && load_ring(vm, &in) &&
	     load_trace(vm, &in);
	if (!ok)
		return fail(err, len, "%s", e.set ? e.msg : "the state is malformed");
	return 0;
}

/* ---- the memory file ---- */

/* A run of non-zero pages, as the memory file and the state's index hold it. */
struct mem_run {
	uint64_t gpa, len, offset, csize;
};

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (unsigned int i = 0; i < PAGE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			return false;
	return true;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * Every run of non-zero pages (at most RUN_MAX bytes each, within one RAM region) as one zstd
 * frame with a checksum, appended to fd. Returns the runs (malloc'd) or NULL with err.
 */
static struct mem_run *write_memory(struct vm *vm, int fd, size_t *nruns, uint64_t *file_size,
				    char *err, size_t len)
{
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	size_t bound = ZSTD_compressBound(RUN_MAX), cap = 64, n = 0;
	struct mem_run *runs = malloc(cap * sizeof(*runs));
	uint8_t *dst = malloc(bound);
	uint64_t offset = 0;
	int r = 0;

	if (!cctx || !runs || !dst) {
		r = -ENOMEM;
		goto out;
	}
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, MEMORY_LEVEL);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	for (unsigned int i = 0; !r && i < vm->mem.nr; i++) {
		const struct mem_region *reg = &vm->mem.regions[i];

		for (uint64_t off = 0; !r && off < reg->size;) {
			uint64_t start;
			size_t csize;

			if (page_is_zero(reg->hva + off)) {
				off += PAGE;
				continue;
			}
			start = off;
			while (off < reg->size && off - start < RUN_MAX &&
			       !page_is_zero(reg->hva + off))
				off += PAGE;
			csize = ZSTD_compress2(cctx, dst, bound, reg->hva + start, off - start);
			if (ZSTD_isError(csize)) {
				fail(err, len, "memory: zstd: %s", ZSTD_getErrorName(csize));
				r = -EIO;
				break;
			}
			r = write_all(fd, dst, csize);
			if (n == cap) {
				void *p = realloc(runs, 2 * cap * sizeof(*runs));

				if (!p) {
					r = -ENOMEM;
					break;
				}
				runs = p;
				cap *= 2;
			}
			runs[n++] = (struct mem_run){reg->gpa + start, off - start, offset, csize};
			offset += csize;
		}
	}
out:
	ZSTD_freeCCtx(cctx);
	free(dst);
	if (r) {
		if (r != -EIO)
			fail(err, len, "%s: %s", SNAPSHOT_MEMORY_FILE, strerror(-r));
		free(runs);
		return NULL;
	}
	*nruns = n;
	*file_size = offset;
	return runs;
}

/* ---- writing a snapshot ---- */

/* The images the guest was booted from, and the disks as they are now (flushed), by SHA-256. */
static int pack_images(struct vm *vm, msgpack_packer *pk, char *err, size_t len)
{
	const struct vm_config *cfg = vm->cfg;
	char hex[65];

	persist_key(pk, "images");
	msgpack_pack_array(pk, vm->nr_images);
	for (unsigned int i = 0; i < vm->nr_images; i++) {
		const struct vm_image *im = &vm->images[i];

		msgpack_pack_map(pk, 4);
		persist_str(pk, "role", im->role);
		persist_str(pk, "path", im->path);
		persist_u64(pk, "size", im->size);
		sha256_hex(im->sha256, hex);
		persist_str(pk, "sha256", hex);
	}
	persist_key(pk, "disks");
	msgpack_pack_array(pk, cfg->nr_disks);
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		uint8_t digest[32];
		uint64_t size;
		int r = sha256_file(cfg->disks[i].path, &size, digest);

		if (r)
			return fail(err, len, "disk %s: cannot read it: %s", cfg->disks[i].path,
				    strerror(-r));
		sha256_hex(digest, hex);
		msgpack_pack_map(pk, 3);
		persist_str(pk, "path", cfg->disks[i].path);
		persist_u64(pk, "size", size);
		persist_str(pk, "sha256", hex);
	}
	return 0;
}

static int write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), r;

	if (fd < 0)
		return -errno;
	r = write_all(fd, data, size);
	if (!r && fsync(fd))
		r = -errno;
	if (close(fd) && !r)
		r = -errno;
	return r;
}

static char *path_in(const char *dir, const char *name, const char *suffix)
{
	char *p;

	return asprintf(&p, "%s/%s%s", dir, name, suffix) < 0 ? NULL : p;
}

int vm_snapshot(struct vm *vm, const char *dir, char *err, size_t len)
{
	char *mem_tmp = path_in(dir, SNAPSHOT_MEMORY_FILE, ".new");
	char *mem = path_in(dir, SNAPSHOT_MEMORY_FILE, "");
	char *state_tmp = path_in(dir, SNAPSHOT_STATE_FILE, ".new");
	char *state = path_in(dir, SNAPSHOT_STATE_FILE, "");
	struct mem_run *runs = NULL;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t file_size = 0;
	size_t nruns = 0;
	struct stat st;
	int fd = -1, r = -1;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (!mem_tmp || !mem || !state_tmp || !state) {
		fail(err, len, "out of memory");
		goto out;
	}
	if (mkdir(dir, 0755) && errno != EEXIST) {
		fail(err, len, "%s: cannot create the directory: %s", dir, strerror(errno));
		goto out;
	}
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		fail(err, len, "%s: not a directory", dir);
		goto out;
	}
	vm_parts_lock(vm); /* from here no device thread touches the guest */
	for (unsigned int i = 0; i < vm->nr_flushers; i++) {
		int e = vm->flushers[i].fn(vm->flushers[i].arg);

		if (e) {
			fail(err, len, "disk %s: cannot flush its writes for the snapshot: %s",
			     vm->flushers[i].what, strerror(-e));
			goto unlock;
		}
	}
	fd = open(mem_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fail(err, len, "%s: %s", mem_tmp, strerror(errno));
		goto unlock;
	}
	runs = write_memory(vm, fd, &nruns, &file_size, err, len);
	if (!runs)
		goto unlock;
	if (fsync(fd) || close(fd)) {
		fd = -1;
		fail(err, len, "%s: %s", mem_tmp, strerror(errno));
		goto unlock;
	}
	fd = -1;

	msgpack_pack_map(&pk, 8);
	persist_str(&pk, "format", SNAPSHOT_FORMAT_NAME);
	persist_u64(&pk, "version", SNAPSHOT_FORMAT_VERSION);
	persist_str(&pk, "dejavm_version", DEJAVM_VERSION);
	persist_key(&pk, "config");
	config_pack(&pk, vm->cfg, false);
	if (pack_images(vm, &pk, err, len))
		goto unlock;
	persist_key(&pk, "memory");
	msgpack_pack_map(&pk, 4);
	persist_u64(&pk, "size", vm->mem.ram_size);
	persist_str(&pk, "file", SNAPSHOT_MEMORY_FILE);
	persist_u64(&pk, "file_size", file_size);
	persist_key(&pk, "runs"); /* [gpa, bytes, offset in the file, compressed bytes] */
	msgpack_pack_array(&pk, nruns);
	for (size_t i = 0; i < nruns; i++) {
		msgpack_pack_array(&pk, 4);
		msgpack_pack_uint64(&pk, runs[i].gpa);
		msgpack_pack_uint64(&pk, runs[i].len);
		msgpack_pack_uint64(&pk, runs[i].offset);
		msgpack_pack_uint64(&pk, runs[i].csize);
	}
	persist_key(&pk, "state");
	if (vm_state_save(vm, &pk, err, len))
		goto unlock;
	r = write_file(state_tmp, sb.data, sb.size);
	if (r) {
		fail(err, len, "%s: %s", state_tmp, strerror(-r));
		r = -1;
		goto unlock;
	}
	/* The memory file first: a state file is never there without its memory. */
	if (rename(mem_tmp, mem) || rename(state_tmp, state)) {
		fail(err, len, "%s: %s", dir, strerror(errno));
		goto unlock;
	}
	r = 0;
unlock:
	vm_parts_unlock(vm);
out:
	if (fd >= 0)
		close(fd);
	if (r && mem_tmp)
		unlink(mem_tmp);
	if (r && state_tmp)
		unlink(state_tmp);
	msgpack_sbuffer_destroy(&sb);
	free(runs);
	free(mem_tmp);
	free(mem);
	free(state_tmp);
	free(state);
	return r;
}

/* ---- restoring one ---- */

struct snapshot {
	char *dir, *state_path, *mem_path;
	void *buf; /* the state file */
	size_t len;
	msgpack_zone zone;
	msgpack_object root;
	const msgpack_object *state, *runs;
	struct vm_config cfg;
	struct config_strings strs;
	uint64_t file_size;
	const msgpack_object *images;
};

const char *snapshot_url_path(const char *url)
{
	if (!strncmp(url, "file://", 7))
		return url[7] ? url + 7 : NULL;
	return strstr(url, "://") || !*url ? NULL : url;
}

/* A file of the snapshot, whole, into memory. */
static int read_file(const char *path, void **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	struct stat st;
	size_t got = 0;

	*buf = NULL;
	if (fd < 0 || fstat(fd, &st))
		return -errno;
	if (st.st_size > (1 << 30))
		r = -EFBIG;
	else if (!(*buf = malloc(st.st_size ? st.st_size : 1)))
		r = -ENOMEM;
	while (!r && got < (size_t)st.st_size) {
		ssize_t n = read(fd, (uint8_t *)*buf + got, st.st_size - got);

		if (n <= 0)
			r = n ? -errno : -EIO;
		got += n > 0 ? n : 0;
	}
	close(fd);
	*len = got;
	return r;
}

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
	struct persist_err e = {0};
	struct persist_in in;

	persist_open(&in, map, "", &e);
	return persist_find(&in, key);
}

static void say_config(void *ctx, const char *msg)
{
	struct {
		char *err;
		size_t len;
		const char *path;
	} *c = ctx;

	if (!*c->err) /* the first problem */
		snprintf(c->err, c->len, "%s: %s", c->path, msg);
	log_err("%s: %s", c->path, msg);
}

/* Each disk must hold what it held when the snapshot was taken. */
static int check_disks(struct snapshot *s, char *err, size_t len)
{
	const msgpack_object *d = get(&s->root, "disks");

	if (!d || d->type != MSGPACK_OBJECT_ARRAY || d->via.array.size != s->cfg.nr_disks)
		return fail(err, len, "%s: disks: not %u entries, as config.disks has",
			    s->state_path, s->cfg.nr_disks);
	for (unsigned int i = 0; i < s->cfg.nr_disks; i++) {
		const msgpack_object *want = get(&d->via.array.ptr[i], "sha256");
		const char *path = s->cfg.disks[i].path;
		uint8_t digest[32];
		char hex[65];
		uint64_t size;
		int r;

		if (!want || want->type != MSGPACK_OBJECT_STR || want->via.str.size != 64)
			return fail(err, len, "%s: disks[%u].sha256: missing", s->state_path, i);
		r = sha256_file(path, &size, digest);
		if (r)
			return fail(err, len, "disk %s: %s (the snapshot needs it as it was)", path,
				    strerror(-r));
		sha256_hex(digest, hex);
		if (memcmp(hex, want->via.str.ptr, 64))
			return fail(err, len,
				    "disk %s: sha256 %s, but the snapshot in %s was taken with "
				    "sha256 %.64s: the disk changed since (restore needs it as it "
				    "was when the snapshot was taken)",
				    path, hex, s->dir, want->via.str.ptr);
	}
	return 0;
}

/* [gpa, bytes, offset, compressed bytes]: a run of the memory file's index. */
static bool run_at(const msgpack_object *r, uint64_t v[4])
{
	if (r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size != 4)
		return false;
	for (int k = 0; k < 4; k++) {
		if (r->via.array.ptr[k].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return false;
		v[k] = r->via.array.ptr[k].via.u64;
	}
	return true;
}

/* The memory file must be there and as long as the state says; each run inside RAM. */
static int check_memory(struct snapshot *s, char *err, size_t len)
{
	const msgpack_object *m = get(&s->root, "memory");
	struct persist_err e = {0};
	struct persist_in in;
	uint64_t size, next_gpa = 0;
	struct guest_mem layout;
	struct stat st;

	if (!persist_open(&in, m, "memory", &e) ||
	    !persist_get_u64(&in, "size", UINT64_MAX, &size) ||
	    !persist_get_u64(&in, "file_size", UINT64_MAX, &s->file_size))
		return fail(err, len, "%s: %s", s->state_path, e.msg);
	if (size != s->cfg.mem_size)
		return fail(err, len,
			    "%s: memory.size %" PRIu64 " differs from config.memory %" PRIu64,
			    s->state_path, size, s->cfg.mem_size);
	s->runs = persist_find(&in, "runs");
	if (!s->runs || s->runs->type != MSGPACK_OBJECT_ARRAY)
		return fail(err, len, "%s: memory.runs: missing", s->state_path);
	guest_mem_layout(&layout, size);
	for (uint32_t i = 0; i < s->runs->via.array.size; i++) {
		uint64_t v[4];
		bool in_ram = false;

		if (!run_at(&s->runs->via.array.ptr[i], v))
			return fail(err, len, "%s: memory.runs[%u]: not [gpa, bytes, offset, size]",
				    s->state_path, i);
		for (unsigned int k = 0; k < layout.nr; k++)
			in_ram |= v[0] >= layout.regions[k].gpa && v[1] <= layout.regions[k].size &&
				  v[0] - layout.regions[k].gpa <= layout.regions[k].size - v[1];
		if ((v[0] | v[1]) % PAGE || !v[1] || v[1] > RUN_MAX || !in_ram || v[0] < next_gpa)
			return fail(err, len,
				    "%s: memory.runs[%u]: %" PRIu64 " bytes at 0x%" PRIx64
				    " are not whole pages of RAM after the previous run",
				    s->state_path, i, v[1], v[0]);
		if (v[2] > s->file_size || v[3] > s->file_size - v[2])
			return fail(err, len,
				    "%s: memory.runs[%u]: bytes %" PRIu64 "+%" PRIu64
				    " are past the memory file's %" PRIu64,
				    s->state_path, i, v[2], v[3], s->file_size);
		next_gpa = v[0] + v[1];
	}
	if (stat(s->mem_path, &st))
		return fail(err, len, "%s: %s (the snapshot's memory)", s->mem_path,
			    strerror(errno));
	if ((uint64_t)st.st_size != s->file_size)
		return fail(err, len, "%s: %" PRIu64 " bytes, %s says %" PRIu64 "%s", s->mem_path,
			    (uint64_t)st.st_size, s->state_path, s->file_size,
			    (uint64_t)st.st_size < s->file_size ? " (truncated)" : "");
	return 0;
}

struct snapshot *snapshot_open(const char *dir, bool disks, char *err, size_t len)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct {
		char *err;
		size_t len;
		const char *path;
	} ctx = {err, len, NULL};
	const msgpack_object *f, *v;
	size_t off = 0;
	int r;

	if (!s) {
		fail(err, len, "out of memory");
		return NULL;
	}
	msgpack_zone_init(&s->zone, 4096);
	s->dir = strdup(dir);
	s->state_path = path_in(dir, SNAPSHOT_STATE_FILE, "");
	s->mem_path = path_in(dir, SNAPSHOT_MEMORY_FILE, "");
	config_init(&s->cfg);
	if (!s->dir || !s->state_path || !s->mem_path) {
		fail(err, len, "out of memory");
		goto bad;
	}
	r = read_file(s->state_path, &s->buf, &s->len);
	if (r) {
		fail(err, len, "%s: %s%s", s->state_path, strerror(-r),
		     r == -ENOENT ? " (not a dejavm snapshot directory?)" : "");
		goto bad;
	}
	switch (persist_unpack(s->buf, s->len, &off, &s->zone, &s->root)) {
	case MSGPACK_UNPACK_SUCCESS:
		break;
	case MSGPACK_UNPACK_EXTRA_BYTES:
		fail(err, len, "%s: offset %zu: stray bytes after the state", s->state_path, off);
		goto bad;
	case MSGPACK_UNPACK_CONTINUE:
		fail(err, len, "%s: offset %zu: the file ends inside the state (truncated)",
		     s->state_path, s->len);
		goto bad;
	default:
		fail(err, len, "%s: offset %zu: not msgpack", s->state_path, off);
		goto bad;
	}
	f = get(&s->root, "format");
	if (s->root.type != MSGPACK_OBJECT_MAP || !f || f->type != MSGPACK_OBJECT_STR ||
	    f->via.str.size != strlen(SNAPSHOT_FORMAT_NAME) ||
	    memcmp(f->via.str.ptr, SNAPSHOT_FORMAT_NAME, f->via.str.size)) {
		fail(err, len, "%s: offset 0: not a dejavm snapshot (no format \"%s\")",
		     s->state_path, SNAPSHOT_FORMAT_NAME);
		goto bad;
	}
	v = get(&s->root, "version");
	if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    v->via.u64 != SNAPSHOT_FORMAT_VERSION) {
		fail(err, len,
		     "%s: snapshot format version %" PRIu64
		     " is not the one this dejavm reads (%d): %s",
		     s->state_path,
		     v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0,
		     SNAPSHOT_FORMAT_VERSION,
		     v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
				     v->via.u64 > SNAPSHOT_FORMAT_VERSION
			     ? "restore it with the dejavm that took it, or a newer one"
			     : "it is not a snapshot this dejavm wrote");
		goto bad;
	}
	err[0] = '\0';
	ctx.path = s->state_path;
	if (config_unpack(get(&s->root, "config"), &s->cfg, &s->strs, say_config, &ctx))
		goto bad;
	s->state = get(&s->root, "state");
	s->images = get(&s->root, "images");
	if (!s->state || s->state->type != MSGPACK_OBJECT_MAP) {
		fail(err, len, "%s: state: missing", s->state_path);
		goto bad;
	}
	if (check_memory(s, err, len) || (disks && check_disks(s, err, len)))
		goto bad;
	return s;
bad:
	snapshot_close(s);
	return NULL;
}

const struct vm_config *snapshot_config(const struct snapshot *s)
{
	return &s->cfg;
}

/* The runs of the memory file into guest RAM (fresh: what no run covers stays zero). */
static int restore_memory(struct snapshot *s, struct vm *vm, char *err, size_t len)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	int fd = open(s->mem_path, O_RDONLY | O_CLOEXEC), r = 0;
	const uint8_t *map = MAP_FAILED;

	if (fd < 0 || !dctx) {
		r = fail(err, len, "%s: %s", s->mem_path,
			 fd < 0 ? strerror(errno) : "out of memory");
		goto out;
	}
	if (s->file_size) {
		map = mmap(NULL, s->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			r = fail(err, len, "%s: mmap: %s", s->mem_path, strerror(errno));
			goto out;
		}
	}
	for (uint32_t i = 0; i < s->runs->via.array.size; i++) {
		uint64_t v[4], gpa, n, off;
		void *dst;
		size_t got;

		run_at(&s->runs->via.array.ptr[i], v); /* check_memory(): well formed, in RAM */
		gpa = v[0], n = v[1], off = v[2];
		dst = gpa_to_hva(&vm->mem, gpa, n);
		got = dst ? ZSTD_decompressDCtx(dctx, dst, n, map + off, v[3]) : 0;

		if (!dst || ZSTD_isError(got) || got != n) {
			r = fail(err, len,
				 "%s: offset %" PRIu64 ": run %u (%" PRIu64
				 " bytes at gpa 0x%" PRIx64 "): %s",
				 s->mem_path, off, i, n, gpa,
				 !dst		     ? "not in RAM"
				 : ZSTD_isError(got) ? ZSTD_getErrorName(got)
						     : "short");
			break;
		}
	}
out:
	if (map != MAP_FAILED)
		munmap((void *)map, s->file_size);
	if (fd >= 0)
		close(fd);
	ZSTD_freeDCtx(dctx);
	return r;
}

/* The images the snapshot's guest was booted from: what a recording from here names. */
static void restore_images(struct snapshot *s, struct vm *vm)
{
	const msgpack_object *a = s->images;

	vm->nr_images = 0;
	for (uint32_t i = 0; a && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size &&
			     vm->nr_images < sizeof(vm->images) / sizeof(vm->images[0]);
	     i++) {
		const msgpack_object *role = get(&a->via.array.ptr[i], "role");
		const msgpack_object *hex = get(&a->via.array.ptr[i], "sha256");
		const msgpack_object *size = get(&a->via.array.ptr[i], "size");
		struct vm_image *im = &vm->images[vm->nr_images];

		if (!role || role->type != MSGPACK_OBJECT_STR || !hex ||
		    hex->type != MSGPACK_OBJECT_STR || hex->via.str.size != 64 || !size ||
		    size->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			continue;
		im->role = role->via.str.size == 6 && !memcmp(role->via.str.ptr, "kernel", 6)
				   ? "kernel"
				   : "initramfs";
		im->path = im->role[0] == 'k' ? vm->cfg->kernel : vm->cfg->initramfs;
		im->size = size->via.u64;
		for (int k = 0; k < 32; k++)
			sscanf(hex->via.str.ptr + 2 * k, "%2hhx", &im->sha256[k]);
		vm->nr_images++;
	}
}

int snapshot_restore(struct snapshot *s, struct vm *vm, char *err, size_t len)
{
	char msg[512];

	if (restore_memory(s, vm, err, len))
		return -1;
	if (vm_state_load(vm, s->state, msg, sizeof(msg)))
		return fail(err, len, "%s: %s", s->state_path, msg);
	restore_images(s, vm);
	return 0;
}

void snapshot_close(struct snapshot *s)
{
	if (!s)
		return;
	config_strings_free(&s->strs);
	msgpack_zone_destroy(&s->zone);
	free(s->buf);
	free(s->dir);
	free(s->state_path);
	free(s->mem_path);
	free(s);
}
