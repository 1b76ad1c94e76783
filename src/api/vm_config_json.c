// SPDX-License-Identifier: MIT
#include "vm_config_json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli.h"

static __attribute__((format(printf, 3, 4))) int bad(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/*
 * cloud-hypervisor's fields that dejavm does not implement, with the value that means "not
 * used": ch-remote sends them all (add-disk sends "vhost_user": false, ...), so they are
 * accepted with that value (or null) and refused with any other.
 */
static const char *const ch_defaults[][2] = {
	{"VmConfig",
	 "{\"pvpanic\":false,\"iommu\":false,\"watchdog\":false,"
	 "\"landlock_enable\":false,\"debug_console\":{\"mode\":\"Off\",\"iobase\":233}}"},
	{"cpus", "{\"kvm_hyperv\":false,\"max_phys_bits\":46,\"features\":{\"amx\":false},"
		 "\"nested\":true,\"core_scheduling\":\"Vm\",\"profile\":\"Host\"}"},
	{"memory", "{\"mergeable\":false,\"hotplug_method\":\"Acpi\",\"shared\":false,"
		   "\"hugepages\":false,\"prefault\":false,\"reserve\":false,\"thp\":true}"},
	{"disk", "{\"pci_segment\":0,\"iommu\":false,\"vhost_user\":false,"
		 "\"disable_io_uring\":false,\"disable_aio\":false,\"backing_files\":false,"
		 "\"sparse\":true,\"image_type\":\"Raw\",\"lock_granularity\":\"ByteRange\"}"},
	{"net", "{\"pci_segment\":0,\"iommu\":false,\"num_queues\":2,\"queue_size\":256,"
		"\"vhost_user\":false,\"vhost_mode\":\"Client\",\"offload_tso\":true,"
		"\"offload_ufo\":true,\"offload_csum\":true}"},
	{"device", "{\"pci_segment\":0,\"iommu\":false}"},
};

/*
 * where must be an object whose keys are all in known (NULL-terminated), or cloud-hypervisor
 * fields of kind (ch_defaults, NULL: none) with their "not used" value.
 */
static int check_object(const json_t *j, const char *where, const char *const *known,
			const char *kind, char *err, size_t len)
{
	json_t *defaults = NULL, *v, *dv;
	const char *key;
	int ret = 0;

	if (!json_is_object(j))
		return bad(err, len, "%s: expected an object, got %s", where, type_name(j));
	for (size_t i = 0; kind && i < sizeof(ch_defaults) / sizeof(ch_defaults[0]); i++)
		if (!strcmp(ch_defaults[i][0], kind))
			defaults = json_loads(ch_defaults[i][1], 0, NULL);
	json_object_foreach((json_t *)j, key, v)
	{
		const char *const *k = known;
		char *got, *want;

		while (*k && strcmp(*k, key))
			k++;
		if (*k)
			continue;
		dv = defaults ? json_object_get(defaults, key) : NULL;
		if (!dv) {
			ret = bad(err, len, "%s: unknown field '%s'", where, key);
			break;
		}
		/* "image_type": "Unknown" is ch-remote's "find out": a raw image here */
		if (json_is_null(v) || json_equal(v, dv) ||
		    (!strcmp(key, "image_type") && json_is_string(v) &&
		     !strcmp(json_string_value(v), "Unknown")))
			continue;
		got = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		want = json_dumps(dv, JSON_ENCODE_ANY | JSON_COMPACT);
		ret = bad(err, len, "%s.%s: %s is not supported by dejavm (only %s)", where, key,
			  got ? got : "this", want ? want : "the default");
		free(got);
		free(want);
		break;
	}
	json_decref(defaults);
	return ret;
}

static int check_array(const json_t *v, const char *where, size_t max, char *err, size_t len)
{
	if (!json_is_array(v))
		return bad(err, len, "%s: expected an array, got %s", where, type_name(v));
	if (json_array_size(v) > max)
		return bad(err, len, "%s: %zu devices, at most %zu", where, json_array_size(v),
			   max);
	return 0;
}

/* Optional fields: absent (or null) leaves *out as it is. */
static int get_str(const json_t *o, const char *key, const char *where, const char **out, char *err,
		   size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad(err, len, "%s.%s: expected a string, got %s", where, key, type_name(v));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad(err, len, "%s.%s: contains a NUL byte", where, key);
	*out = json_string_value(v);
	return 0;
}

static int get_bool(const json_t *o, const char *key, const char *where, bool *out, char *err,
		    size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return bad(err, len, "%s.%s: expected a boolean, got %s", where, key, type_name(v));
	*out = json_is_true(v);
	return 0;
}

static int get_uint(const json_t *o, const char *key, const char *where, uint64_t min, uint64_t max,
		    uint64_t *out, char *err, size_t len)
{
	json_t *v = json_object_get(o, key);
	json_int_t i;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return bad(err, len, "%s.%s: expected an integer, got %s", where, key,
			   type_name(v));
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return bad(err, len,
			   "%s.%s: %" JSON_INTEGER_FORMAT " is out of range (%" PRIu64
			   " to %" PRIu64 ")",
			   where, key, i, min, max);
	*out = i;
	return 0;
}

static int get_uint32(const json_t *o, const char *key, const char *where, uint64_t min,
		      uint64_t max, unsigned int *out, char *err, size_t len)
{
	uint64_t v = *out;

	if (get_uint(o, key, where, min, max, &v, err, len))
		return -1;
	*out = v;
	return 0;
}

int disk_from_json(const json_t *j, const char *where, struct disk_config *d, char *err, size_t len)
{
	static const char *const known[] = {"path",	  "readonly", "direct", "num_queues",
					    "queue_size", "id",	      "serial", NULL};

	memset(d, 0, sizeof(*d));
	d->num_queues = 1;
	d->queue_size = 128;
	if (check_object(j, where, known, "disk", err, len) ||
	    get_str(j, "path", where, &d->path, err, len) ||
	    get_bool(j, "readonly", where, &d->readonly, err, len) ||
	    get_bool(j, "direct", where, &d->direct, err, len) ||
	    get_uint32(j, "num_queues", where, 1, 8, &d->num_queues, err, len) ||
	    get_uint32(j, "queue_size", where, 2, 1024, &d->queue_size, err, len) ||
	    get_str(j, "id", where, &d->id, err, len) ||
	    get_str(j, "serial", where, &d->serial, err, len))
		return -1;
	if (!d->path || !*d->path)
		return bad(err, len, "%s.path: required", where);
	if (d->serial && strlen(d->serial) > VIRTIO_BLK_ID_BYTES)
		return bad(err, len, "%s.serial: at most %d bytes (VIRTIO_BLK_ID_BYTES)", where,
			   VIRTIO_BLK_ID_BYTES);
	if (d->queue_size & (d->queue_size - 1))
		return bad(err, len, "%s.queue_size: %u is not a power of two", where,
			   d->queue_size);
	if (d->id && (!*d->id || strlen(d->id) > 31))
		return bad(err, len, "%s.id: 1 to 31 characters", where);
	return 0;
}

int net_from_json(const json_t *j, const char *where, struct net_config *n, char *err, size_t len)
{
	static const char *const known[] = {"tap", "mac", "ip", "mask", "id", NULL};
	const char *mac = NULL, *why;

	memset(n, 0, sizeof(*n));
	if (check_object(j, where, known, "net", err, len) ||
	    get_str(j, "tap", where, &n->tap, err, len) ||
	    get_str(j, "id", where, &n->id, err, len) || get_str(j, "mac", where, &mac, err, len) ||
	    get_str(j, "ip", where, &n->ip, err, len) ||
	    get_str(j, "mask", where, &n->mask, err, len))
		return -1;
	if (!n->tap || !*n->tap)
		return bad(err, len, "%s.tap: required (dejavm's net devices are taps)", where);
	if ((why = tap_name_error(n->tap)))
		return bad(err, len, "%s.tap: '%s': %s", where, n->tap, why);
	if (mac && parse_mac(mac, n->mac))
		return bad(err, len, "%s.mac: '%s' is not a MAC address", where, mac);
	if (n->ip && (why = ipv4_error(n->ip, false)))
		return bad(err, len, "%s.ip: '%s': %s", where, n->ip, why);
	if (n->mask && (why = ipv4_error(n->mask, true)))
		return bad(err, len, "%s.mask: '%s': %s", where, n->mask, why);
	n->mac_set = mac != NULL;
	if (!n->mac_set)
		default_mac(n->tap, n->mac);
	if (n->mask && !n->ip)
		return bad(err, len, "%s.mask: given without ip", where);
	if (n->ip && !n->mask)
		n->mask = "255.255.255.0";
	return 0;
}

int rng_from_json(const json_t *j, const char *where, const char **src, char *err, size_t len)
{
	static const char *const known[] = {"src", NULL};

	*src = NULL;
	if (check_object(j, where, known, "device", err, len) ||
	    get_str(j, "src", where, src, err, len))
		return -1;
	if (!*src || !**src)
		return bad(err, len, "%s.src: required", where);
	return 0;
}

static const char *const serial_modes[] = {
	[SERIAL_TTY] = "Tty", [SERIAL_FILE] = "File", [SERIAL_NULL] = "Null", [SERIAL_OFF] = "Off"};
static const char *const console_modes[] = {[CONSOLE_OFF] = "Off",
					    [CONSOLE_NULL] = "Null",
					    [CONSOLE_TTY] = "Tty",
					    [CONSOLE_FILE] = "File",
					    [CONSOLE_PTY] = "Pty"};

/* ConsoleConfig {mode, file}: the index of mode in modes, and file (required with File). */
static int output_from_json(const json_t *o, const char *where, const char *const *modes,
			    unsigned int nmodes, unsigned int file_mode, int *mode,
			    const char **file, char *err, size_t len)
{
	static const char *const known[] = {"mode", "file", "id", NULL};
	const char *m = NULL;
	char list[64] = "";

	if (!o || json_is_null(o))
		return 0;
	if (check_object(o, where, known, "device", err, len) ||
	    get_str(o, "mode", where, &m, err, len) || get_str(o, "file", where, file, err, len))
		return -1;
	for (unsigned int i = 0; m && i < nmodes; i++)
		if (!strcmp(m, modes[i])) {
			*mode = i;
			if (i == file_mode && (!*file || !**file))
				return bad(err, len, "%s.file: required with mode File", where);
			return 0;
		}
	for (unsigned int i = 0; i < nmodes; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 modes[i]);
	return bad(err, len, "%s.mode: %s%s%s: expected one of %s", where, m ? "'" : "",
		   m ? m : "required", m ? "'" : "", list);
}

int config_from_json(const json_t *j, struct vm_config *cfg, char *err, size_t len)
{
	static const char *const known[] = {"cpus", "memory", "payload", "disks",  "net",
					    "rng",  "serial", "console", "dejavm", NULL};
	static const char *const cpus_known[] = {"boot_vcpus", "max_vcpus", NULL};
	static const char *const memory_known[] = {"size", NULL};
	static const char *const payload_known[] = {"kernel", "cmdline", "initramfs", NULL};
	static const char *const dejavm_known[] = {
		"deterministic", "record",	    "rtc_epoch", "exit_budget_ms",
		"spin_limit_ms", "machine_version", NULL};
	json_t *v;
	int mode;

	config_init(cfg);
	cfg->serial = SERIAL_NULL; /* cloud-hypervisor's default */
	if (check_object(j, "VmConfig", known, "VmConfig", err, len))
		return -1;
	if ((v = json_object_get(j, "cpus"))) {
		unsigned int max = MAX_CPUS;

		if (check_object(v, "cpus", cpus_known, "cpus", err, len) ||
		    get_uint32(v, "boot_vcpus", "cpus", 1, MAX_CPUS, &cfg->cpus, err, len) ||
		    get_uint32(v, "max_vcpus", "cpus", 1, MAX_CPUS, &max, err, len))
			return -1;
		if (max < cfg->cpus)
			return bad(err, len, "cpus.max_vcpus: %u is less than boot_vcpus %u", max,
				   cfg->cpus);
	}
	if ((v = json_object_get(j, "memory")) &&
	    (check_object(v, "memory", memory_known, "memory", err, len) ||
	     get_uint(v, "size", "memory", MIN_MEM_SIZE, MAX_MEM_SIZE, &cfg->mem_size, err, len)))
		return -1;
	/* KVM maps guest RAM in pages (and --memory, a snapshot and a trace header say so too) */
	if (cfg->mem_size & 0xfff)
		return bad(err, len, "memory.size: %" PRIu64 " is not a multiple of 4096",
			   cfg->mem_size);
	v = json_object_get(j, "payload");
	if (!v)
		return bad(err, len, "payload: required (payload.kernel is the kernel to boot)");
	if (check_object(v, "payload", payload_known, NULL, err, len) ||
	    get_str(v, "kernel", "payload", &cfg->kernel, err, len) ||
	    get_str(v, "cmdline", "payload", &cfg->cmdline, err, len) ||
	    get_str(v, "initramfs", "payload", &cfg->initramfs, err, len))
		return -1;
	if (!cfg->kernel || !*cfg->kernel)
		return bad(err, len, "payload.kernel: required");
	if ((v = json_object_get(j, "disks"))) {
		size_t i;
		json_t *d;

		if (check_array(v, "disks", MAX_DISKS, err, len))
			return -1;
		json_array_foreach(v, i, d)
		{
			char where[40];

			snprintf(where, sizeof(where), "disks[%zu]", i);
			if (disk_from_json(d, where, &cfg->disks[i], err, len))
				return -1;
			cfg->disks[i].order = cfg->nr_virtio++;
			cfg->nr_disks++;
		}
	}
	if ((v = json_object_get(j, "net"))) {
		size_t i;
		json_t *n;

		if (check_array(v, "net", MAX_NETS, err, len))
			return -1;
		json_array_foreach(v, i, n)
		{
			char where[40];
			int k;

			snprintf(where, sizeof(where), "net[%zu]", i);
			if (net_from_json(n, where, &cfg->nets[i], err, len))
				return -1;
			k = config_net_of_tap(cfg, cfg->nets[i].tap); /* nets[0, i) */
			if (k >= 0)
				return bad(err, len, "%s.tap: %s is in net[%d] too", where,
					   cfg->nets[i].tap, k);
			cfg->nets[i].order = cfg->nr_virtio++;
			cfg->nr_nets++;
		}
	}
	if ((v = json_object_get(j, "rng")) && !json_is_null(v)) {
		if (rng_from_json(v, "rng", &cfg->rng_path, err, len))
			return -1;
		cfg->rng_order = cfg->nr_virtio++;
	}
	mode = cfg->serial;
	if (output_from_json(json_object_get(j, "serial"), "serial", serial_modes, 4, SERIAL_FILE,
			     &mode, &cfg->serial_path, err, len))
		return -1;
	cfg->serial = mode;
	mode = cfg->console;
	if (output_from_json(json_object_get(j, "console"), "console", console_modes, 5,
			     CONSOLE_FILE, &mode, &cfg->console_path, err, len))
		return -1;
	cfg->console = mode;
	if (cfg->console != CONSOLE_OFF)
		cfg->console_order = cfg->nr_virtio++;
	if ((v = json_object_get(j, "dejavm"))) {
		uint64_t epoch = cfg->rtc_epoch;

		if (check_object(v, "dejavm", dejavm_known, NULL, err, len) ||
		    get_bool(v, "deterministic", "dejavm", &cfg->deterministic, err, len) ||
		    get_str(v, "record", "dejavm", &cfg->record_path, err, len) ||
		    get_uint(v, "rtc_epoch", "dejavm", 0, INT64_MAX, &epoch, err, len) ||
		    get_uint32(v, "exit_budget_ms", "dejavm", 1, MAX_EXIT_BUDGET_MS,
			       &cfg->exit_budget_ms, err, len) ||
		    get_uint32(v, "spin_limit_ms", "dejavm", 1, MAX_EXIT_BUDGET_MS,
			       &cfg->spin_limit_ms, err, len) ||
		    get_uint32(v, "machine_version", "dejavm", MACHINE_VERSION_MIN,
			       MACHINE_VERSION_CURRENT, &cfg->machine_version, err, len))
			return -1;
		cfg->rtc_epoch = epoch;
	}
	if (cfg->deterministic && cfg->console == CONSOLE_PTY)
		return bad(err, len,
			   "console.mode: Pty: input arrives at any time, which "
			   "deterministic mode cannot schedule");
	return 0;
}

/* key: s, only when s is set (cloud-hypervisor leaves out what is not). */
static void set_str(json_t *o, const char *key, const char *s)
{
	if (s)
		json_object_set_new(o, key, json_string(s));
}

static json_t *output_json(const char *mode, const char *file)
{
	json_t *o = json_pack("{s:s}", "mode", mode);

	set_str(o, "file", file);
	return o;
}

json_t *config_to_json(const struct vm_config *cfg)
{
	json_t *disks = json_array(), *nets = json_array(), *payload, *dejavm, *j;
	char mac[18], id[40];

	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		const struct disk_config *d = &cfg->disks[i];
		json_t *o;

		config_device_id(cfg, "disk", d->order, d->id, id, sizeof(id));
		o = json_pack("{s:s, s:s, s:b, s:b, s:i, s:i}", "id", id, "path", d->path,
			      "readonly", d->readonly, "direct", d->direct, "num_queues",
			      d->num_queues, "queue_size", d->queue_size);
		set_str(o, "serial", d->serial);
		json_array_append_new(disks, o);
	}
	for (unsigned int i = 0; i < cfg->nr_nets; i++) {
		const struct net_config *n = &cfg->nets[i];
		json_t *o;

		config_device_id(cfg, "net", n->order, n->id, id, sizeof(id));
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
			 n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		o = json_pack("{s:s, s:s, s:s}", "id", id, "tap", n->tap, "mac", mac);
		set_str(o, "ip", n->ip);
		set_str(o, "mask", n->mask);
		json_array_append_new(nets, o);
	}
	payload = json_pack("{s:s, s:s}", "kernel", cfg->kernel ? cfg->kernel : "", "cmdline",
			    cfg->cmdline ? cfg->cmdline : "");
	set_str(payload, "initramfs", cfg->initramfs);
	dejavm = json_pack("{s:b, s:I, s:i, s:i, s:i}", "deterministic", cfg->deterministic,
			   "rtc_epoch", (json_int_t)cfg->rtc_epoch, "exit_budget_ms",
			   cfg->exit_budget_ms, "spin_limit_ms", cfg->spin_limit_ms,
			   "machine_version", cfg->machine_version);
	set_str(dejavm, "record", cfg->record_path);
	j = json_pack("{s:{s:i, s:i}, s:{s:I}, s:o, s:o, s:o, s:o, s:o, s:o}", "cpus", "boot_vcpus",
		      cfg->cpus, "max_vcpus", cfg->cpus, "memory", "size",
		      (json_int_t)cfg->mem_size, "payload", payload, "disks", disks, "net", nets,
		      "serial", output_json(serial_modes[cfg->serial], cfg->serial_path), "console",
		      output_json(console_modes[cfg->console], cfg->console_path), "dejavm",
		      dejavm);
	if (cfg->rng_path)
		json_object_set_new(j, "rng", json_pack("{s:s}", "src", cfg->rng_path));
	return j;
}
