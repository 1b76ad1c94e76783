// SPDX-License-Identifier: MIT
/* Helpers of the fuzz targets: see fuzz.h. */
#include "fuzz.h"

#include <dirent.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config_msgpack.h"
#include "log.h"
#include "out.h"
#include "trace_reader.h"

uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t lo = fuzz_u8(in);

	return lo | (uint16_t)fuzz_u8(in) << 8;
}

uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t lo = fuzz_u16(in);

	return lo | (uint32_t)fuzz_u16(in) << 16;
}

uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t lo = fuzz_u32(in);

	return lo | (uint64_t)fuzz_u32(in) << 32;
}

const uint8_t *fuzz_bytes(struct fuzz_in *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;

	*got = n < in->n ? n : in->n;
	in->p += *got;
	in->n -= *got;
	return p;
}

static char private_dir[64];

static void remove_private_dir(void)
{
	DIR *d = opendir(private_dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[sizeof(private_dir) + 256];

		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", private_dir, e->d_name);
			unlink(path);
		}
	}
	if (d)
		closedir(d);
	rmdir(private_dir);
}

void fuzz_init(void)
{
	/* tmpfs when there is one: the snapshot target writes two files per input */
	const char *base = access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm";

	if (private_dir[0])
		return;
	if (!getenv("DEJAVM_FUZZ_LOG") && log_open("/dev/null"))
		abort();
	snprintf(private_dir, sizeof(private_dir), "%s/dejavm-fuzz-XXXXXX", base);
	if (!mkdtemp(private_dir)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(remove_private_dir);
}

void fuzz_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", private_dir, name);
}

void fuzz_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f || (len && fwrite(data, len, 1, f) != 1) || fclose(f)) {
		perror(path);
		abort();
	}
}

int fuzz_memfd(const void *data, size_t len, char path[32])
{
	int fd = memfd_create("dejavm-fuzz", MFD_CLOEXEC);

	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len)) {
		perror("fuzz: memfd");
		abort();
	}
	snprintf(path, 32, "/proc/self/fd/%d", fd);
	return fd;
}

/* ---- the configuration round trip ---- */

static void say(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "fuzz: config_unpack: %s\n", msg);
}

static void mismatch(const char *field)
{
	fprintf(stderr, "fuzz: config.%s differs after config_pack -> config_unpack\n", field);
	abort();
}

static bool str_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

#define SAME(field)                       \
	do {                              \
		if (a->field != b->field) \
			mismatch(#field); \
	} while (0)
#define SAME_STR(field)                            \
	do {                                       \
		if (!str_same(a->field, b->field)) \
			mismatch(#field);          \
	} while (0)

static void compare(const struct vm_config *a, const struct vm_config *b)
{
	SAME_STR(kernel);
	SAME_STR(initramfs);
	SAME_STR(cmdline);
	SAME(cpus);
	SAME(mem_size);
	SAME(serial);
	SAME_STR(serial_path);
	SAME(deterministic);
	SAME(rtc_epoch);
	SAME(checkpoint_every);
	SAME(checkpoint_events);
	SAME_STR(rng_path);
	if (a->rng_path)
		SAME(rng_order);
	SAME(console);
	SAME_STR(console_path);
	if (a->console != CONSOLE_OFF)
		SAME(console_order);
	SAME(nr_virtio);
	SAME(nr_disks);
	for (unsigned int i = 0; i < a->nr_disks; i++) {
		SAME_STR(disks[i].path);
		SAME_STR(disks[i].serial);
		SAME_STR(disks[i].id);
		SAME(disks[i].readonly);
		SAME(disks[i].direct);
		SAME(disks[i].sync_engine);
		SAME(disks[i].num_queues);
		SAME(disks[i].queue_size);
		SAME(disks[i].order);
	}
	SAME(nr_nets);
	for (unsigned int i = 0; i < a->nr_nets; i++) {
		SAME_STR(nets[i].tap);
		SAME_STR(nets[i].ip);
		SAME_STR(nets[i].mask);
		SAME_STR(nets[i].id);
		SAME(nets[i].order);
		if (memcmp(a->nets[i].mac, b->nets[i].mac, 6))
			mismatch("nets[i].mac");
	}
}

void fuzz_check_config_roundtrip(const struct vm_config *cfg)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object obj;
	struct config_strings strs = {0};
	struct vm_config back;
	size_t off = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	config_pack(&pk, cfg, false);
	msgpack_zone_init(&zone, 4096);
	if (msgpack_unpack(sb.data, sb.size, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS)
		mismatch("(not msgpack)");
	config_init(&back);
	if (config_unpack(&obj, &back, &strs, say, NULL))
		mismatch("(refused, see above)");
	compare(cfg, &back);
	config_strings_free(&strs);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
}

void fuzz_neuter_backends(struct vm_config *cfg, const char *disk_path)
{
	if (cfg->serial != SERIAL_OFF)
		cfg->serial = SERIAL_NULL;
	if (cfg->console != CONSOLE_OFF)
		cfg->console = CONSOLE_NULL;
	if (cfg->rng_path)
		cfg->rng_path = "/dev/zero";
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		cfg->disks[i].path = disk_path;
		cfg->disks[i].sync_engine = true;
		cfg->disks[i].direct = false;
	}
	for (unsigned int i = 0; i < cfg->nr_nets; i++)
		cfg->nets[i].no_tap = true;
	cfg->record_path = NULL;
	cfg->checkpoint_every = 0;
	cfg->log_file = NULL;
	cfg->api_socket = NULL;
	cfg->seccomp = SECCOMP_OFF;
}

void fuzz_use_event(struct out *o, const struct trace_ev *ev)
{
	out_event_json(o, ev);
	if (ev->desc)
		for (unsigned int i = 0; i < ev->desc->nfields; i++)
			trace_ev_field(ev, ev->desc->fields[i].name);
	/* as the replayer compares (the previous event's fields are gone by now) */
	trace_ev_diff(ev, ev, o);
	o->len = 0;
}
