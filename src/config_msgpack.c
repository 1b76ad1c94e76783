// SPDX-License-Identifier: MIT
/* The VM configuration <-> a msgpack map (config_msgpack.h). */
#include "config_msgpack.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "determ.h"
#include "log.h"
#include "persist.h"
#include "vm.h"

static const char *const serial_modes[] = {"tty", "file", "null", "off"};
static const char *const console_modes[] = {"off", "null", "tty", "file", "pty"};

static void pack_disk(msgpack_packer *pk, const struct disk_config *d, bool identity)
{
	char hex[33] = "00000000000000000000000000000000";
	uint64_t size = 0;

	if (identity) {
		int r = blk_image_identity(d->path, &size, hex);

		if (r)
			log_warn("--disk path=%s: cannot read it for the trace header: %s", d->path,
				 strerror(-r));
	}
	msgpack_pack_map(pk, 9 + 2 * identity);
	persist_str(pk, "path", d->path);
	if (identity) {
		/* the size the guest saw: a replay with --feed needs no image, only this */
		persist_u64(pk, "size", size);
		/* what it held when the run began: a --live replay checks it has the same */
		persist_str(pk, "xxh3_128", hex);
	}
	persist_u64(pk, "readonly", d->readonly);
	persist_str(pk, "serial", d->serial);
	persist_u64(pk, "num_queues", d->num_queues);
	persist_u64(pk, "queue_size", d->queue_size);
	persist_u64(pk, "order", d->order);
	persist_u64(pk, "direct", d->direct);
	persist_str(pk, "io_engine", d->sync_engine ? "sync" : "io_uring");
	persist_str(pk, "id", d->id);
}

static void pack_net(msgpack_packer *pk, const struct net_config *n)
{
	char mac[18];

	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
		 n->mac[3], n->mac[4], n->mac[5]);
	msgpack_pack_map(pk, 6);
	persist_str(pk, "tap", n->tap);
	persist_str(pk, "mac", mac);
	persist_str(pk, "ip", n->ip);
	persist_str(pk, "mask", n->mask);
	persist_u64(pk, "order", n->order);
	persist_str(pk, "id", n->id);
}

void config_pack(msgpack_packer *pk, const struct vm_config *cfg, bool disk_identity)
{
	/* "net" and "checkpoint_every_*" only when there are: traces without them stay as they were
	 */
	msgpack_pack_map(pk, 18 + (cfg->nr_nets > 0) + (cfg->checkpoint_every > 0));
	persist_str(pk, "kernel", cfg->kernel);
	persist_str(pk, "initramfs", cfg->initramfs);
	persist_str(pk, "cmdline", cfg->cmdline);
	persist_u64(pk, "cpus", cfg->cpus);
	persist_u64(pk, "memory", cfg->mem_size);
	persist_str(pk, "serial", serial_modes[cfg->serial]);
	persist_str(pk, "serial_path", cfg->serial_path);
	persist_key(pk, "deterministic");
	if (cfg->deterministic)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	persist_u64(pk, "rtc_epoch", cfg->rtc_epoch);
	persist_u64(pk, "ns_per_exit", cfg->deterministic ? DET_NS_PER_EXIT : 0);
	/* absent from what dejavm wrote before machine versions: they are version 1 */
	persist_u64(pk, "machine_version", cfg->machine_version);
	persist_str(pk, "rng", cfg->rng_path);
	persist_key(pk, "disks");
	msgpack_pack_array(pk, cfg->nr_disks);
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		pack_disk(pk, &cfg->disks[i], disk_identity);
	persist_u64(pk, "rng_order", cfg->rng_order);
	persist_u64(pk, "console", cfg->console != CONSOLE_OFF);
	persist_str(pk, "console_mode", console_modes[cfg->console]);
	persist_str(pk, "console_path", cfg->console_path);
	persist_u64(pk, "console_order", cfg->console_order);
	if (cfg->checkpoint_every)
		persist_u64(pk,
			    cfg->checkpoint_events ? "checkpoint_every_events"
						   : "checkpoint_every_ms",
			    cfg->checkpoint_every);
	if (!cfg->nr_nets)
		return;
	persist_key(pk, "net");
	msgpack_pack_array(pk, cfg->nr_nets);
	for (unsigned int i = 0; i < cfg->nr_nets; i++)
		pack_net(pk, &cfg->nets[i]);
}

/* ---- decoding ---- */

struct unpack {
	struct config_strings *strs;
	void (*say)(void *ctx, const char *msg);
	void *ctx;
	int bad;
};

static void problem(struct unpack *u, const char *where, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void problem(struct unpack *u, const char *where, const char *key, const char *fmt, ...)
{
	char msg[320];
	int n = snprintf(msg, sizeof(msg), "%s.%s: ", where, key);
	va_list ap;

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(msg))
		vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	u->bad++;
	if (u->say)
		u->say(u->ctx, msg);
}

static const msgpack_object *find(const msgpack_object *map, const char *key)
{
	size_t len = strlen(key);

	for (uint32_t i = 0; map && map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == len &&
		    !memcmp(kv->key.via.str.ptr, key, len))
			return &kv->val;
	}
	return NULL;
}

/* A string (nil: NULL, when nullable) copied into strs. */
static void get_str(struct unpack *u, const msgpack_object *map, const char *where, const char *key,
		    bool nullable, const char **out)
{
	const msgpack_object *o = find(map, key);

	if (o && o->type == MSGPACK_OBJECT_NIL && nullable) {
		*out = NULL;
		return;
	}
	if (!o || o->type != MSGPACK_OBJECT_STR || memchr(o->via.str.ptr, 0, o->via.str.size)) {
		problem(u, where, key, "%s", o ? "not a string" : "missing");
		return;
	}
	if (u->strs->n == CONFIG_MAX_STRINGS ||
	    !(u->strs->s[u->strs->n] = strndup(o->via.str.ptr, o->via.str.size))) {
		problem(u, where, key, "too many strings (or out of memory)");
		return;
	}
	*out = u->strs->s[u->strs->n++];
}

/* An unsigned integer in [min, max]; absent: def (UINT64_MAX: required). */
static uint64_t get_u64(struct unpack *u, const msgpack_object *map, const char *where,
			const char *key, uint64_t min, uint64_t max, uint64_t def)
{
	const msgpack_object *o = find(map, key);

	if (!o && def != UINT64_MAX)
		return def;
	if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		problem(u, where, key, "%s", o ? "not an unsigned integer" : "missing");
		return min;
	}
	if (o->via.u64 < min || o->via.u64 > max) {
		problem(u, where, key, "%" PRIu64 " is out of range (%" PRIu64 " to %" PRIu64 ")",
			o->via.u64, min, max);
		return min;
	}
	return o->via.u64;
}

/* The index of a string among names, or -1 (reported). */
static int get_enum(struct unpack *u, const msgpack_object *map, const char *where, const char *key,
		    const char *const *names, int n)
{
	const msgpack_object *o = find(map, key);

	for (int i = 0; o && o->type == MSGPACK_OBJECT_STR && i < n; i++)
		if (strlen(names[i]) == o->via.str.size &&
		    !memcmp(names[i], o->via.str.ptr, o->via.str.size))
			return i;
	problem(u, where, key, "%s", o ? "not one of the known modes" : "missing");
	return -1;
}

/* Each order must be a distinct position among the nr_virtio devices. */
static void take_order(struct unpack *u, const char *where, uint64_t order, unsigned int nr,
		       uint32_t *used, unsigned int *out)
{
	if (order >= nr || (*used & (1u << order))) {
		problem(u, where, "order",
			"%" PRIu64 " is not a free position among the %u virtio "
			"devices",
			order, nr);
		return;
	}
	*used |= 1u << order;
	*out = order;
}

static void unpack_disk(struct unpack *u, const msgpack_object *m, const char *where,
			struct disk_config *d, unsigned int nr_virtio, uint32_t *used)
{
	const char *engine = "io_uring";

	memset(d, 0, sizeof(*d));
	get_str(u, m, where, "path", false, &d->path);
	d->readonly = get_u64(u, m, where, "readonly", 0, 1, UINT64_MAX);
	get_str(u, m, where, "serial", true, &d->serial);
	if (d->serial && strlen(d->serial) > VIRTIO_BLK_ID_BYTES)
		problem(u, where, "serial", "longer than %d bytes", VIRTIO_BLK_ID_BYTES);
	d->num_queues = get_u64(u, m, where, "num_queues", 1, 8, UINT64_MAX);
	d->queue_size = get_u64(u, m, where, "queue_size", 2, 1024, UINT64_MAX);
	if (d->queue_size & (d->queue_size - 1))
		problem(u, where, "queue_size", "%u is not a power of 2", d->queue_size);
	take_order(u, where, get_u64(u, m, where, "order", 0, UINT32_MAX, UINT64_MAX), nr_virtio,
		   used, &d->order);
	d->direct = get_u64(u, m, where, "direct", 0, 1, 0);
	if (find(m, "io_engine"))
		get_str(u, m, where, "io_engine", false, &engine);
	if (strcmp(engine, "io_uring") && strcmp(engine, "sync"))
		problem(u, where, "io_engine", "'%s': not io_uring or sync", engine);
	d->sync_engine = !strcmp(engine, "sync");
	if (find(m, "id"))
		get_str(u, m, where, "id", true, &d->id);
}

static void unpack_net(struct unpack *u, const msgpack_object *m, const char *where,
		       struct net_config *n, unsigned int nr_virtio, uint32_t *used)
{
	const char *mac = NULL, *why;

	memset(n, 0, sizeof(*n));
	get_str(u, m, where, "tap", false, &n->tap);
	if (n->tap && (why = tap_name_error(n->tap)))
		problem(u, where, "tap", "'%s': %s", n->tap, why);
	get_str(u, m, where, "mac", false, &mac);
	if (mac && parse_mac(mac, n->mac))
		problem(u, where, "mac", "'%s' is not a MAC address", mac);
	n->mac_set = true;
	/* the host side of the tap is configured from these (virtio-net: tap_configure) */
	get_str(u, m, where, "ip", true, &n->ip);
	get_str(u, m, where, "mask", true, &n->mask);
	if (n->ip && (why = ipv4_error(n->ip, false)))
		problem(u, where, "ip", "'%s': %s", n->ip, why);
	if (n->mask && (why = ipv4_error(n->mask, true)))
		problem(u, where, "mask", "'%s': %s", n->mask, why);
	if (!n->ip != !n->mask)
		problem(u, where, n->ip ? "mask" : "ip", "missing: ip and mask go together");
	take_order(u, where, get_u64(u, m, where, "order", 0, UINT32_MAX, UINT64_MAX), nr_virtio,
		   used, &n->order);
	if (find(m, "id"))
		get_str(u, m, where, "id", true, &n->id);
}

/* The elements of an array of maps at key (absent: none). */
static const msgpack_object *array_at(struct unpack *u, const msgpack_object *map, const char *key,
				      unsigned int max, unsigned int *n)
{
	const msgpack_object *a = find(map, key);

	*n = 0;
	if (!a)
		return NULL;
	if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size > max) {
		problem(u, "config", key, "not an array of at most %u", max);
		return NULL;
	}
	*n = a->via.array.size;
	return a->via.array.ptr;
}

int config_unpack(const msgpack_object *map, struct vm_config *cfg, struct config_strings *strs,
		  void (*say)(void *ctx, const char *msg), void *ctx)
{
	struct unpack u = {strs, say, ctx, 0};
	const msgpack_object *det, *disks, *nets;
	const char *w = "config";
	uint32_t used = 0;
	int mode;

	if (!map || map->type != MSGPACK_OBJECT_MAP) {
		problem(&u, "snapshot", "config", "missing or not a map");
		return u.bad;
	}
	get_str(&u, map, w, "kernel", true, &cfg->kernel);
	get_str(&u, map, w, "initramfs", true, &cfg->initramfs);
	get_str(&u, map, w, "cmdline", false, &cfg->cmdline);
	cfg->cpus = get_u64(&u, map, w, "cpus", 1, MAX_CPUS, UINT64_MAX);
	cfg->mem_size = get_u64(&u, map, w, "memory", MIN_MEM_SIZE, MAX_MEM_SIZE, UINT64_MAX);
	if (cfg->mem_size & 0xfff)
		problem(&u, w, "memory", "not a multiple of 4 KiB");
	if ((mode = get_enum(&u, map, w, "serial", serial_modes, 4)) >= 0)
		cfg->serial = mode;
	get_str(&u, map, w, "serial_path", true, &cfg->serial_path);
	if (cfg->serial == SERIAL_FILE && !cfg->serial_path)
		problem(&u, w, "serial_path", "missing for serial file");
	det = find(map, "deterministic");
	if (!det || det->type != MSGPACK_OBJECT_BOOLEAN)
		problem(&u, w, "deterministic", "missing or not true/false");
	else
		cfg->deterministic = det->via.boolean;
	cfg->rtc_epoch = get_u64(&u, map, w, "rtc_epoch", 0, INT64_MAX, UINT64_MAX);
	if (cfg->deterministic &&
	    get_u64(&u, map, w, "ns_per_exit", 0, UINT32_MAX, UINT64_MAX) != DET_NS_PER_EXIT)
		problem(&u, w, "ns_per_exit", "not this build's %d virtual ns per exit",
			DET_NS_PER_EXIT);
	cfg->machine_version = get_u64(&u, map, w, "machine_version", MACHINE_VERSION_MIN,
				       MACHINE_VERSION_CURRENT, MACHINE_VERSION_MIN);
	cfg->checkpoint_every = get_u64(&u, map, w, "checkpoint_every_ms", 1, UINT32_MAX, 0);
	if (!cfg->checkpoint_every) {
		cfg->checkpoint_every =
			get_u64(&u, map, w, "checkpoint_every_events", 1, UINT32_MAX, 0);
		cfg->checkpoint_events = cfg->checkpoint_every > 0;
	}
	get_str(&u, map, w, "rng", true, &cfg->rng_path);
	if ((mode = get_enum(&u, map, w, "console_mode", console_modes, 5)) >= 0)
		cfg->console = mode;
	get_str(&u, map, w, "console_path", true, &cfg->console_path);
	if (cfg->console == CONSOLE_FILE && !cfg->console_path)
		problem(&u, w, "console_path", "missing for console file");
	disks = array_at(&u, map, "disks", MAX_DISKS, &cfg->nr_disks);
	nets = array_at(&u, map, "net", MAX_NETS, &cfg->nr_nets);
	cfg->nr_virtio = cfg->nr_disks + cfg->nr_nets + (cfg->rng_path != NULL) +
			 (cfg->console != CONSOLE_OFF);
	if (cfg->rng_path)
		take_order(&u, "config.rng",
			   get_u64(&u, map, w, "rng_order", 0, UINT32_MAX, UINT64_MAX),
			   cfg->nr_virtio, &used, &cfg->rng_order);
	if (cfg->console != CONSOLE_OFF)
		take_order(&u, "config.console",
			   get_u64(&u, map, w, "console_order", 0, UINT32_MAX, UINT64_MAX),
			   cfg->nr_virtio, &used, &cfg->console_order);
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		char where[32];

		snprintf(where, sizeof(where), "config.disks[%u]", i);
		if (disks[i].type != MSGPACK_OBJECT_MAP)
			problem(&u, where, "", "not a map");
		else
			unpack_disk(&u, &disks[i], where, &cfg->disks[i], cfg->nr_virtio, &used);
	}
	for (unsigned int i = 0; i < cfg->nr_nets; i++) {
		char where[32];

		snprintf(where, sizeof(where), "config.net[%u]", i);
		if (nets[i].type != MSGPACK_OBJECT_MAP)
			problem(&u, where, "", "not a map");
		else
			unpack_net(&u, &nets[i], where, &cfg->nets[i], cfg->nr_virtio, &used);
	}
	return u.bad;
}

void config_strings_free(struct config_strings *strs)
{
	for (unsigned int i = 0; i < strs->n; i++)
		free(strs->s[i]);
	strs->n = 0;
}
