// SPDX-License-Identifier: MIT
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

void config_init(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cpus = 1;
	cfg->mem_size = DEFAULT_MEM_SIZE;
	cfg->serial = SERIAL_TTY;
	cfg->cmdline = "";
	cfg->rtc_epoch = DEFAULT_RTC_EPOCH;
	cfg->exit_budget_ms = DEFAULT_EXIT_BUDGET_MS;
	cfg->spin_limit_ms = DEFAULT_SPIN_LIMIT_MS;
	cfg->seccomp = SECCOMP_ON;
	cfg->machine_version = MACHINE_VERSION_CURRENT;
}

void config_device_id(const struct vm_config *cfg, const char *kind, unsigned int order,
		      const char *user_id, char *buf, size_t len)
{
	unsigned int n = 0;

	if (user_id) {
		snprintf(buf, len, "%s", user_id);
		return;
	}
	if (strcmp(kind, "disk") && strcmp(kind, "net")) {
		snprintf(buf, len, "__%s", kind);
		return;
	}
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		n += cfg->disks[i].order < order;
	for (unsigned int i = 0; i < cfg->nr_nets; i++)
		n += cfg->nets[i].order < order;
	snprintf(buf, len, "_%s%u", kind, n);
}

int config_net_of_tap(const struct vm_config *cfg, const char *tap)
{
	for (unsigned int i = 0; i < cfg->nr_nets; i++)
		if (!strcmp(cfg->nets[i].tap, tap))
			return i;
	return -1;
}

int parse_size(const char *s, uint64_t *bytes)
{
	unsigned shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'K':
	case 'k':
		shift = 10;
		end++;
		break;
	case 'M':
	case 'm':
		shift = 20;
		end++;
		break;
	case 'G':
	case 'g':
		shift = 30;
		end++;
		break;
	case 'T':
	case 't':
		shift = 40;
		end++;
		break;
	}
	if (*end)
		return -1;
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*bytes = (uint64_t)v << shift;
	return 0;
}

/*
 * Splits "k1=v1,k2=v2" in place. Calls fn for each pair; a bare word is passed with key NULL
 * (so "--serial tty" and "--serial file=x" share one parser).
 */
static int for_each_kv(char *s, int (*fn)(void *ctx, const char *key, const char *val), void *ctx)
{
	char *save = NULL;

	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int r;

		if (eq) {
			*eq = '\0';
			r = fn(ctx, tok, eq + 1);
		} else {
			r = fn(ctx, NULL, tok);
		}
		if (r)
			return r;
	}
	return 0;
}

struct kv_ctx {
	struct vm_config *cfg;
	FILE *err;
	const char *flag;
};

static int bad_kv(struct kv_ctx *c, const char *key, const char *val, const char *why)
{
	if (key)
		fprintf(c->err, "dejavm: %s: %s=%s: %s\n", c->flag, key, val, why);
	else
		fprintf(c->err, "dejavm: %s: '%s': %s\n", c->flag, val, why);
	return -1;
}

static int cpus_kv(void *ctx, const char *key, const char *val)
{
	struct kv_ctx *c = ctx;
	char *end;

	if (!key || strcmp(key, "boot"))
		return bad_kv(c, key, val, "unknown option (expected boot=N)");
	errno = 0;
	unsigned long n = strtoul(val, &end, 10);
	if (errno || end == val || *end || *val == '-' || n == 0 || n > 255)
		return bad_kv(c, key, val, "expected a vCPU count from 1 to 255");
	if (n > MAX_CPUS)
		return bad_kv(c, key, val, "SMP is not supported yet: only boot=1 works");
	c->cfg->cpus = n;
	return 0;
}

static int memory_kv(void *ctx, const char *key, const char *val)
{
	struct kv_ctx *c = ctx;
	uint64_t size;

	if (!key || strcmp(key, "size"))
		return bad_kv(c, key, val, "unknown option (expected size=N[K|M|G])");
	if (parse_size(val, &size))
		return bad_kv(c, key, val, "not a size (examples: 64M, 1G, 524288K)");
	if (size < MIN_MEM_SIZE || size > MAX_MEM_SIZE)
		return bad_kv(c, key, val, "out of range (2M to 1T)");
	if (size & 0xfff)
		return bad_kv(c, key, val, "must be a multiple of 4K");
	c->cfg->mem_size = size;
	return 0;
}

static int serial_kv(void *ctx, const char *key, const char *val)
{
	struct kv_ctx *c = ctx;

	if (key && !strcmp(key, "file")) {
		if (!*val)
			return bad_kv(c, key, val, "empty file name");
		c->cfg->serial = SERIAL_FILE;
		c->cfg->serial_path = val;
		return 0;
	}
	if (!key && !strcmp(val, "tty"))
		c->cfg->serial = SERIAL_TTY;
	else if (!key && !strcmp(val, "null"))
		c->cfg->serial = SERIAL_NULL;
	else if (!key && !strcmp(val, "off"))
		c->cfg->serial = SERIAL_OFF;
	else
		return bad_kv(c, key, val, "expected tty, file=PATH, null or off");
	return 0;
}

static int on_off(struct kv_ctx *c, const char *key, const char *val, bool *out)
{
	if (!strcmp(val, "on") || !strcmp(val, "true"))
		*out = true;
	else if (!strcmp(val, "off") || !strcmp(val, "false"))
		*out = false;
	else
		return bad_kv(c, key, val, "expected on or off");
	return 0;
}

static int disk_kv(void *ctx, const char *key, const char *val)
{
	struct kv_ctx *c = ctx;
	struct disk_config *d = &c->cfg->disks[c->cfg->nr_disks];
	unsigned long long n;
	char *end;

	if (!key)
		return bad_kv(c, key, val, "expected key=value (path=FILE, readonly=on, ...)");
	if (!strcmp(key, "path") || !strcmp(key, "serial") || !strcmp(key, "id")) {
		if (!*val)
			return bad_kv(c, key, val, "empty value");
		if (!strcmp(key, "serial") && strlen(val) > VIRTIO_BLK_ID_BYTES)
			return bad_kv(c, key, val, "at most 20 bytes (VIRTIO_BLK_ID_BYTES)");
		*(!strcmp(key, "path")	   ? &d->path
		  : !strcmp(key, "serial") ? &d->serial
					   : &d->id) = val;
		return 0;
	}
	if (!strcmp(key, "readonly"))
		return on_off(c, key, val, &d->readonly);
	if (!strcmp(key, "direct"))
		return on_off(c, key, val, &d->direct);
	if (!strcmp(key, "io_engine")) {
		if (strcmp(val, "io_uring") && strcmp(val, "sync"))
			return bad_kv(c, key, val, "expected io_uring or sync");
		d->sync_engine = !strcmp(val, "sync");
		return 0;
	}
	if (strcmp(key, "num_queues") && strcmp(key, "queue_size"))
		return bad_kv(c, key, val,
			      "unknown option (path, readonly, direct, serial, "
			      "num_queues, queue_size, id, io_engine)");
	errno = 0;
	n = strtoull(val, &end, 10);
	if (errno || end == val || *end || *val == '-')
		return bad_kv(c, key, val, "expected a number");
	if (!strcmp(key, "num_queues")) {
		if (n < 1 || n > 8)
			return bad_kv(c, key, val, "1 to 8");
		d->num_queues = n;
	} else {
		if (n < 2 || n > 1024 || (n & (n - 1)))
			return bad_kv(c, key, val, "a power of 2 from 2 to 1024");
		d->queue_size = n;
	}
	return 0;
}

int parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		unsigned int v = 0;

		for (int j = 0; j < 2; j++, s++) {
			unsigned int c = (unsigned char)*s;

			if (c >= '0' && c <= '9')
				v = v * 16 + c - '0';
			else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				v = v * 16 + (c | 0x20) - 'a' + 10;
			else
				return -1;
		}
		if (*s != (i < 5 ? ':' : '\0'))
			return -1;
		s++;
		mac[i] = v;
	}
	return 0;
}

void default_mac(const char *tap, uint8_t mac[6])
{
	uint32_t h = 2166136261u; /* FNV-1a 32 of the tap name */

	for (; *tap; tap++)
		h = (h ^ (uint8_t)*tap) * 16777619u;
	mac[0] = 0x52; /* locally administered, unicast */
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = h >> 16;
	mac[4] = h >> 8;
	mac[5] = h;
}

const char *tap_name_error(const char *name)
{
	if (!*name || strlen(name) >= NET_IFNAMSIZ)
		return "a tap name is 1 to 15 bytes (IFNAMSIZ)";
	if (strpbrk(name, "/: \t\n") || !strcmp(name, ".") || !strcmp(name, ".."))
		return "not a valid interface name";
	return NULL;
}

const char *ipv4_error(const char *s, bool netmask)
{
	struct in_addr a;
	uint32_t m;

	if (inet_pton(AF_INET, s, &a) != 1)
		return "expected an IPv4 address like 192.168.249.1";
	m = ntohl(a.s_addr);
	if (netmask && (m & (~m >> 1)))
		return "not a netmask (contiguous ones)";
	return NULL;
}

static int net_kv(void *ctx, const char *key, const char *val)
{
	struct kv_ctx *c = ctx;
	struct net_config *n = &c->cfg->nets[c->cfg->nr_nets];
	const char *why;

	if (!key)
		return bad_kv(c, key, val, "expected key=value (tap=NAME, mac=MAC, ip=, mask=)");
	if (!strcmp(key, "tap")) {
		if ((why = tap_name_error(val)))
			return bad_kv(c, key, val, why);
		n->tap = val;
		return 0;
	}
	if (!strcmp(key, "mac")) {
		if (parse_mac(val, n->mac))
			return bad_kv(c, key, val, "expected a MAC address like 52:54:00:12:34:56");
		if (n->mac[0] & 1)
			return bad_kv(c, key, val, "a multicast MAC cannot be a device's address");
		n->mac_set = true;
		return 0;
	}
	if (!strcmp(key, "ip") || !strcmp(key, "mask")) {
		if ((why = ipv4_error(val, !strcmp(key, "mask"))))
			return bad_kv(c, key, val, why);
		*(!strcmp(key, "mask") ? &n->mask : &n->ip) = val;
		return 0;
	}
	return bad_kv(c, key, val, "unknown option (tap, mac, ip, mask)");
}

/* --disk values stay valid for the whole run (the last parse's); argv is not written to. */
static char *keep_copy(const char *s, unsigned int slot)
{
	static char pool[MAX_DISKS][4096];

	if (strlen(s) >= sizeof(pool[0]))
		return NULL;
	return strcpy(pool[slot], s);
}

static void usage(FILE *f)
{
	fputs("Usage: dejavm --kernel PATH [options]\n"
	      "\n"
	      "Boots a guest on KVM.\n"
	      "\n"
	      "  --kernel PATH          ELF with a PVH note (vmlinux, test guests) or bzImage\n"
	      "  --initramfs PATH       initial ramdisk\n"
	      "  --cmdline STRING       guest kernel command line\n"
	      "  --cpus boot=N          number of vCPUs (only 1 for now)\n"
	      "  --memory size=SIZE     guest RAM, e.g. 64M, 1G (default 64M)\n"
	      "  --serial MODE          COM1 output: tty (default), file=PATH, null, off\n"
	      "  --log-file PATH        VMM messages go to PATH instead of stderr\n"
	      "  --stats[=text|json]    print exit counts and run time at exit (on stderr)\n"
	      "  --record FILE          record every exit and device access into a trace\n"
	      "  --disk path=FILE[,readonly=on][,direct=on][,serial=ID][,num_queues=N]\n"
	      "         [,queue_size=N][,id=NAME][,io_engine=io_uring|sync]\n"
	      "                         a virtio-blk PCI device on a raw image (several allowed)\n"
	      "  --rng src=PATH         a virtio-rng PCI device fed from PATH (e.g. /dev/urandom)\n"
	      "  --net tap=NAME[,mac=MAC][,ip=A.B.C.D][,mask=A.B.C.D]\n"
	      "                         a virtio-net PCI device on a tap device (created if it does\n"
	      "                         not exist; ip/mask go to the host side of the tap)\n"
	      "  --console MODE         a virtio-console (hvc0): off (default), null, tty,\n"
	      "                         file=PATH, pty (output and input on a new pty, whose\n"
	      "                         path is printed)\n"
	      "  --deterministic        one vCPU, PIC/PIT/RTC in the VMM on a virtual clock,\n"
	      "                         interrupts only at exits: the same guest gives the same trace\n"
	      "  --rtc-epoch SECONDS    deterministic: the guest's RTC at boot, in Unix seconds\n"
	      "                         (default 1577836800, 2020-01-01)\n"
	      "  --exit-budget MS       deterministic: look for a loop that only waits for time\n"
	      "                         in a vCPU that ran MS ms (its CPU time) without an exit\n"
	      "                         (default 100; it never changes the trace)\n"
	      "  --spin-limit MS        deterministic: a vCPU that runs MS ms (its CPU time)\n"
	      "                         without an exit,\n"
	      "                         in a loop that counts (no fixed point), gets its next\n"
	      "                         tick at a host-chosen point; the trace then says it is\n"
	      "                         not reproducible (default 10000)\n"
	      "  --checkpoint-every N[ms|events]\n"
	      "                         with --deterministic --record: a checkpoint in the trace\n"
	      "                         every N virtual ms (or N events), from which `dejavm\n"
	      "                         replay --from/--jobs` start\n"
	      "  --restore source_url=file:///DIR\n"
	      "                         start from a snapshot (vm.snapshot) instead of a kernel; with\n"
	      "                         --api-socket the VM waits, paused, for vm.resume. --serial,\n"
	      "                         --console, --record and the deterministic-mode budgets may\n"
	      "                         be given with it; the rest comes from the snapshot\n"
	      "  --api-socket PATH      serve cloud-hypervisor's REST API (/api/v1/...) on a unix\n"
	      "                         socket (also path=PATH); without --kernel the VMM waits\n"
	      "                         for vm.create and vm.boot, and stays after the VM ends\n"
	      "  --machine-version N    the virtual hardware of an older dejavm, for guests that\n"
	      "                         rely on it: 1 (before PCI 3.0's bus-master and INTx\n"
	      "                         rules), 2 (default); replays and restores take the\n"
	      "                         recorded one\n"
	      "  --seccomp true|false|log\n"
	      "                         system-call filters per thread (default true: a denied\n"
	      "                         call stops the VMM with a report; log: the kernel logs it)\n"
	      "  -v, --verbose          more VMM messages (repeat for debug)\n"
	      "  --version              print the version and exit\n"
	      "  -h, --help             print this help and exit\n"
	      "\n"
	      "Exit status: the guest's test-exit status, 0 after an i8042 reset, 1 on a VMM\n"
	      "error, 2 on a bad command line, 3 when the guest crashed (see the report).\n",
	      f);
}

enum {
	OPT_KERNEL = 256,
	OPT_INITRAMFS,
	OPT_CMDLINE,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_SERIAL,
	OPT_LOG_FILE,
	OPT_STATS,
	OPT_VERSION,
	OPT_RECORD,
	OPT_DETERMINISTIC,
	OPT_RTC_EPOCH,
	OPT_EXIT_BUDGET,
	OPT_SPIN_LIMIT,
	OPT_RNG,
	OPT_DISK,
	OPT_CONSOLE,
	OPT_NET,
	OPT_API_SOCKET,
	OPT_CHECKPOINT_EVERY,
	OPT_RESTORE,
	OPT_SECCOMP,
	OPT_MACHINE_VERSION
};

/* --checkpoint-every N[ms|events]: N virtual milliseconds (the default unit) or N events. */
static int checkpoint_every(const char *val, struct vm_config *cfg, FILE *err)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(val, &end, 10);
	if (errno || end == val || *val == '-' || !n || n > UINT32_MAX ||
	    (*end && strcmp(end, "ms") && strcmp(end, "events"))) {
		fprintf(err,
			"dejavm: --checkpoint-every: '%s': expected N, Nms (virtual "
			"milliseconds) or Nevents, N from 1 to %u\n",
			val, UINT32_MAX);
		return -1;
	}
	cfg->checkpoint_every = n;
	cfg->checkpoint_events = !strcmp(end, "events");
	return 0;
}

/* --restore source_url=file:///DIR[,prefault=on|off] (cloud-hypervisor's). */
static int restore_kv(void *ctx, const char *key, const char *val)
{
	struct kv_ctx *c = ctx;
	bool prefault;

	if (key && !strcmp(key, "source_url")) {
		if (strncmp(val, "file://", 7) || !val[7])
			return bad_kv(c, key, val, "expected file:///DIR (a local directory)");
		c->cfg->restore_dir = val + 7;
		return 0;
	}
	if (key && !strcmp(key, "prefault")) /* the memory is read in whole anyway */
		return on_off(c, key, val, &prefault);
	return bad_kv(c, key, val, "unknown option (expected source_url=file:///DIR)");
}

/* What a snapshot holds: these options cannot be given with --restore. */
static const struct {
	int opt;
	const char *name;
} restore_conflicts[] = {
	{OPT_KERNEL, "--kernel"},
	{OPT_INITRAMFS, "--initramfs"},
	{OPT_CMDLINE, "--cmdline"},
	{OPT_CPUS, "--cpus"},
	{OPT_MEMORY, "--memory"},
	{OPT_DISK, "--disk"},
	{OPT_NET, "--net"},
	{OPT_RNG, "--rng"},
	{OPT_RTC_EPOCH, "--rtc-epoch"},
	{OPT_DETERMINISTIC, "--deterministic"},
	{OPT_MACHINE_VERSION, "--machine-version"},
};

enum cli_result cli_parse(int argc, char **argv, struct vm_config *cfg, FILE *out, FILE *err)
{
	static const struct option opts[] = {
		{"kernel", required_argument, NULL, OPT_KERNEL},
		{"initramfs", required_argument, NULL, OPT_INITRAMFS},
		{"cmdline", required_argument, NULL, OPT_CMDLINE},
		{"cpus", required_argument, NULL, OPT_CPUS},
		{"memory", required_argument, NULL, OPT_MEMORY},
		{"serial", required_argument, NULL, OPT_SERIAL},
		{"log-file", required_argument, NULL, OPT_LOG_FILE},
		{"stats", optional_argument, NULL, OPT_STATS},
		{"record", required_argument, NULL, OPT_RECORD},
		{"deterministic", no_argument, NULL, OPT_DETERMINISTIC},
		{"rtc-epoch", required_argument, NULL, OPT_RTC_EPOCH},
		{"exit-budget", required_argument, NULL, OPT_EXIT_BUDGET},
		{"spin-limit", required_argument, NULL, OPT_SPIN_LIMIT},
		{"rng", required_argument, NULL, OPT_RNG},
		{"disk", required_argument, NULL, OPT_DISK},
		{"console", required_argument, NULL, OPT_CONSOLE},
		{"net", required_argument, NULL, OPT_NET},
		{"api-socket", required_argument, NULL, OPT_API_SOCKET},
		{"checkpoint-every", required_argument, NULL, OPT_CHECKPOINT_EVERY},
		{"restore", required_argument, NULL, OPT_RESTORE},
		{"seccomp", required_argument, NULL, OPT_SECCOMP},
		{"machine-version", required_argument, NULL, OPT_MACHINE_VERSION},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, OPT_VERSION},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct kv_ctx kv = {.cfg = cfg, .err = err};
	uint64_t given = 0; /* 1 << (opt - OPT_KERNEL) for each long option seen */
	int opt;

	config_init(cfg);
	optind = 0; /* GNU: full re-initialisation, so tests can parse several times */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		int (*kvfn)(void *, const char *, const char *) = NULL;

		/*
		 * One console and one rng: a second would take a second place among the virtio
		 * devices that no device holds, and a trace or snapshot of that VM could not be
		 * read back.
		 */
		if ((opt == OPT_CONSOLE || opt == OPT_RNG) &&
		    (given & 1ULL << (opt - OPT_KERNEL))) {
			fprintf(err, "dejavm: %s: given twice (a VM has one)\n",
				opt == OPT_CONSOLE ? "--console" : "--rng");
			return CLI_USAGE;
		}
		if (opt >= OPT_KERNEL && opt < OPT_KERNEL + 64)
			given |= 1ULL << (opt - OPT_KERNEL);
		switch (opt) {
		case OPT_KERNEL:
			cfg->kernel = optarg;
			break;
		case OPT_INITRAMFS:
			cfg->initramfs = optarg;
			break;
		case OPT_CMDLINE:
			cfg->cmdline = optarg;
			break;
		case OPT_CPUS:
			kvfn = cpus_kv;
			kv.flag = "--cpus";
			break;
		case OPT_MEMORY:
			kvfn = memory_kv;
			kv.flag = "--memory";
			break;
		case OPT_SERIAL:
			/* Not split at commas: a file name may contain them. */
			kv.flag = "--serial";
			if (!strncmp(optarg, "file=", 5)) {
				if (serial_kv(&kv, "file", optarg + 5))
					return CLI_USAGE;
			} else if (serial_kv(&kv, NULL, optarg)) {
				return CLI_USAGE;
			}
			break;
		case OPT_LOG_FILE:
			cfg->log_file = optarg;
			break;
		case OPT_RECORD:
			if (!*optarg) {
				fprintf(err, "dejavm: --record: empty file name\n");
				return CLI_USAGE;
			}
			cfg->record_path = optarg;
			break;
		case OPT_STATS:
			if (!optarg || !strcmp(optarg, "text")) {
				cfg->stats = STATS_TEXT;
			} else if (!strcmp(optarg, "json")) {
				cfg->stats = STATS_JSON;
			} else {
				fprintf(err, "dejavm: --stats: '%s': expected text or json\n",
					optarg);
				return CLI_USAGE;
			}
			break;
		case OPT_DETERMINISTIC:
			cfg->deterministic = true;
			break;
		case OPT_CONSOLE:
			/* Not split at commas: a file name may contain them. */
			if (!strncmp(optarg, "file=", 5) && optarg[5]) {
				cfg->console = CONSOLE_FILE;
				cfg->console_path = optarg + 5;
			} else if (!strcmp(optarg, "tty") || !strcmp(optarg, "null")) {
				cfg->console = optarg[0] == 't' ? CONSOLE_TTY : CONSOLE_NULL;
			} else if (!strcmp(optarg, "pty")) {
				cfg->console = CONSOLE_PTY;
			} else if (!strcmp(optarg, "off")) {
				cfg->console = CONSOLE_OFF;
				break;
			} else {
				fprintf(err,
					"dejavm: --console: '%s': expected off, null, tty, pty or "
					"file=PATH\n",
					optarg);
				return CLI_USAGE;
			}
			cfg->console_order = cfg->nr_virtio++;
			break;
		case OPT_DISK: {
			struct disk_config *d = &cfg->disks[cfg->nr_disks];
			char *copy;

			if (cfg->nr_disks == MAX_DISKS) {
				fprintf(err, "dejavm: --disk: at most %d disks\n", MAX_DISKS);
				return CLI_USAGE;
			}
			copy = keep_copy(optarg, cfg->nr_disks);
			kv.flag = "--disk";
			if (!copy) {
				fprintf(err, "dejavm: --disk: too long\n");
				return CLI_USAGE;
			}
			memset(d, 0, sizeof(*d));
			d->num_queues = 1;
			d->queue_size = 128;
			if (for_each_kv(copy, disk_kv, &kv))
				return CLI_USAGE;
			if (!d->path) {
				fprintf(err, "dejavm: --disk: path=FILE is required\n");
				return CLI_USAGE;
			}
			d->order = cfg->nr_virtio++;
			cfg->nr_disks++;
			break;
		}
		case OPT_NET: {
			static char pool[MAX_NETS][256]; /* the values stay valid for the run */
			struct net_config *n = &cfg->nets[cfg->nr_nets];

			kv.flag = "--net";
			if (cfg->nr_nets == MAX_NETS) {
				fprintf(err, "dejavm: --net: at most %d network devices\n",
					MAX_NETS);
				return CLI_USAGE;
			}
			if (strlen(optarg) >= sizeof(pool[0])) {
				fprintf(err, "dejavm: --net: too long\n");
				return CLI_USAGE;
			}
			memset(n, 0, sizeof(*n));
			if (for_each_kv(strcpy(pool[cfg->nr_nets], optarg), net_kv, &kv))
				return CLI_USAGE;
			if (!n->tap) {
				fprintf(err, "dejavm: --net: tap=NAME is required\n");
				return CLI_USAGE;
			}
			if (n->mask && !n->ip) {
				fprintf(err, "dejavm: --net: mask=%s without ip=\n", n->mask);
				return CLI_USAGE;
			}
			if (config_net_of_tap(cfg, n->tap) >= 0) {
				fprintf(err, "dejavm: --net: tap=%s: given twice\n", n->tap);
				return CLI_USAGE;
			}
			if (n->ip && !n->mask)
				n->mask = "255.255.255.0";
			if (!n->mac_set)
				default_mac(n->tap, n->mac);
			n->order = cfg->nr_virtio++;
			cfg->nr_nets++;
			break;
		}
		case OPT_RNG:
			/* Not split at commas: a path may contain them. */
			if (!strncmp(optarg, "src=", 4) && optarg[4]) {
				cfg->rng_path = optarg + 4;
				cfg->rng_order = cfg->nr_virtio++;
			} else {
				fprintf(err, "dejavm: --rng: '%s': expected src=PATH\n", optarg);
				return CLI_USAGE;
			}
			break;
		case OPT_RTC_EPOCH:
		case OPT_EXIT_BUDGET:
		case OPT_SPIN_LIMIT: {
			const char *name = opt == OPT_RTC_EPOCH	    ? "--rtc-epoch"
					   : opt == OPT_EXIT_BUDGET ? "--exit-budget"
								    : "--spin-limit";
			char *end;
			long long v;

			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 0 ||
			    (opt != OPT_RTC_EPOCH && (v < 1 || v > MAX_EXIT_BUDGET_MS))) {
				fprintf(err, "dejavm: %s: '%s': expected %s\n", name, optarg,
					opt == OPT_RTC_EPOCH ? "Unix seconds (>= 0)"
							     : "milliseconds, 1 to 3600000");
				return CLI_USAGE;
			}
			if (opt == OPT_RTC_EPOCH)
				cfg->rtc_epoch = v;
			else if (opt == OPT_EXIT_BUDGET)
				cfg->exit_budget_ms = v;
			else
				cfg->spin_limit_ms = v;
			break;
		}
		case OPT_API_SOCKET: /* PATH, or cloud-hypervisor's path=PATH */
			cfg->api_socket = strncmp(optarg, "path=", 5) ? optarg : optarg + 5;
			if (!*cfg->api_socket || !strncmp(optarg, "fd=", 3)) {
				fprintf(err,
					"dejavm: --api-socket: '%s': expected PATH or path=PATH\n",
					optarg);
				return CLI_USAGE;
			}
			break;
		case OPT_CHECKPOINT_EVERY:
			if (checkpoint_every(optarg, cfg, err))
				return CLI_USAGE;
			break;
		case OPT_RESTORE: {
			/* a copy that lives as long as the configuration (restore_dir points into
			 * it) */
			static char copy[4096];

			kv.flag = "--restore";
			if (strlen(optarg) >= sizeof(copy)) {
				fprintf(err, "dejavm: --restore: too long\n");
				return CLI_USAGE;
			}
			if (for_each_kv(strcpy(copy, optarg), restore_kv, &kv))
				return CLI_USAGE;
			break;
		}
		case OPT_SECCOMP:
			if (seccomp_parse_mode(optarg, &cfg->seccomp)) {
				fprintf(err,
					"dejavm: --seccomp: '%s': expected true, false or log\n",
					optarg);
				return CLI_USAGE;
			}
			break;
		case OPT_MACHINE_VERSION: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-' ||
			    v < MACHINE_VERSION_MIN || v > MACHINE_VERSION_CURRENT) {
				fprintf(err, "dejavm: --machine-version: '%s': expected %d to %d\n",
					optarg, MACHINE_VERSION_MIN, MACHINE_VERSION_CURRENT);
				return CLI_USAGE;
			}
			cfg->machine_version = v;
			break;
		}
		case 'v':
			cfg->verbosity++;
			break;
		case OPT_VERSION:
			fprintf(out, "dejavm %s\n", DEJAVM_VERSION);
			return CLI_EXIT;
		case 'h':
			usage(out);
			return CLI_EXIT;
		case ':':
			fprintf(err, "dejavm: %s needs a value\n", argv[optind - 1]);
			return CLI_USAGE;
		default:
			if (!strncmp(argv[optind - 1], "--", 2) && strchr(argv[optind - 1], '='))
				fprintf(err, "dejavm: %s: this option takes no value\n",
					argv[optind - 1]);
			else if (optopt && optopt < 256)
				fprintf(err, "dejavm: unknown option '-%c' (try --help)\n", optopt);
			else if (optopt)
				fprintf(err, "dejavm: %s needs a value\n", argv[optind - 1]);
			else
				fprintf(err, "dejavm: unknown option '%s' (try --help)\n",
					argv[optind - 1]);
			return CLI_USAGE;
		}
		if (kvfn) {
			char *copy;
			int r;

			if (!*optarg) {
				fprintf(err, "dejavm: %s: empty value\n", kv.flag);
				return CLI_USAGE;
			}
			copy = strdup(optarg); /* strtok_r writes; argv stays intact */
			r = copy ? for_each_kv(copy, kvfn, &kv) : -1;
			free(copy);
			if (r)
				return CLI_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(err, "dejavm: unexpected argument '%s' (try --help)\n", argv[optind]);
		return CLI_USAGE;
	}
	if (cfg->restore_dir) {
		for (size_t i = 0; i < sizeof(restore_conflicts) / sizeof(restore_conflicts[0]);
		     i++) {
			if (!(given & 1ULL << (restore_conflicts[i].opt - OPT_KERNEL)))
				continue;
			fprintf(err,
				"dejavm: %s cannot be given with --restore: the snapshot holds "
				"the VM's configuration\n",
				restore_conflicts[i].name);
			return CLI_USAGE;
		}
		cfg->restore_overrides =
			(given & 1ULL << (OPT_SERIAL - OPT_KERNEL) ? OVERRIDE_SERIAL : 0) |
			(given & 1ULL << (OPT_CONSOLE - OPT_KERNEL) ? OVERRIDE_CONSOLE : 0) |
			(given & 1ULL << (OPT_EXIT_BUDGET - OPT_KERNEL) ? OVERRIDE_EXIT_BUDGET
									: 0) |
			(given & 1ULL << (OPT_SPIN_LIMIT - OPT_KERNEL) ? OVERRIDE_SPIN_LIMIT : 0);
		return CLI_RUN;
	}
	if (cfg->checkpoint_every && (!cfg->deterministic || !cfg->record_path)) {
		fprintf(err, "dejavm: --checkpoint-every needs --deterministic and --record FILE: "
			     "checkpoints are points a deterministic replay starts from\n");
		return CLI_USAGE;
	}
	if (!cfg->kernel && !cfg->api_socket) {
		fprintf(err,
			"dejavm: --kernel PATH (or --api-socket PATH) is required (try --help)\n");
		return CLI_USAGE;
	}
	if (cfg->deterministic && cfg->console == CONSOLE_PTY) {
		fprintf(err,
			"dejavm: --console pty: input arrives at any time, which deterministic "
			"mode cannot schedule; use null, tty or file=PATH\n");
		return CLI_USAGE;
	}
	return CLI_RUN;
}
