// SPDX-License-Identifier: MIT
/*
 * dejavm-lat: latency histograms of one running dejavm, from BPF (libbpf, lat.bpf.c).
 *
 *   dejavm-lat [--interval S] [--duration S] [--json] [--no-usdt] --pid PID
 *   dejavm-lat [options] -- [DEJAVM] ARGS...     starts dejavm (the one next to this tool,
 *                                                  or DEJAVM) with ARGS, traced from its start
 *
 * Prints, like bcc's tools, log2 histograms in ns: exit to re-entry by exit reason, PIO and
 * MMIO handling (the same interval) by device, virtio request latency by device and queue, and
 * io_uring submit-to-complete by opcode; and which probes it used. Exit status: the traced
 * dejavm's when it started one, else 0; 1 for errors; 77 when BPF cannot be used here.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hist_fmt.h"
#include "lat.h"
#include "lat.skel.h"
#include "stats.h"
#include "virtio/virtio_pci.h"

#define EXIT_UNAVAILABLE 77

struct opts {
	pid_t pid;
	double interval, duration;
	bool json, usdt, verbose;
	char **cmd; /* after "--" */
};

/* What was attached and what was not, and why: printed with every report. */
static char used[1024], missing[2048];

static void note(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len && len + 2 < size) {
		strcpy(buf + len, "; ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static bool verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* dejavm's names (src/stats.c, as in --stats and dejavm-trace stats): "io", "mmio", ... */
static void exit_name(unsigned int reason, char *buf, size_t size)
{
	const char *name = exit_reason_name(reason);

	if (strcmp(name, "other"))
		snprintf(buf, size, "%s", name);
	else
		snprintf(buf, size, "reason %u", reason);
}

/* dejavm's port I/O devices (src/devices/, src/pci.c). */
static const struct {
	unsigned int lo, hi;
	const char *name;
} pio_devices[] = {
	{0x20, 0x21, "pic-master"},
	{0x40, 0x43, "pit"},
	{0x60, 0x60, "i8042"},
	{0x61, 0x61, "pit-port61"},
	{0x64, 0x64, "i8042"},
	{0x70, 0x71, "cmos"},
	{0x80, 0x80, "debug-port"},
	{0xa0, 0xa1, "pic-slave"},
	{0x3f8, 0x3ff, "serial"},
	{0x4d0, 0x4d1, "elcr"},
	{0x501, 0x501, "test-exit"},
	{0x510, 0x513, "test-reg"},
	{0xcf8, 0xcfb, "pci-config-address"},
	{0xcfc, 0xcff, "pci-config-data"},
};

static void pio_name(unsigned int port, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof(pio_devices) / sizeof(pio_devices[0]); i++)
		if (port >= pio_devices[i].lo && port <= pio_devices[i].hi) {
			snprintf(buf, size, "%s", pio_devices[i].name);
			return;
		}
	snprintf(buf, size, "port 0x%x", port);
}

/*
 * The test device's window, and the virtio BARs where dejavm puts them at boot (slot order in
 * the 64-bit window, when the guest has less than 64 GiB of RAM and keeps the assignment, as
 * Linux does), named by device and register block; anything else by its 4 KiB page.
 */
static void mmio_name(unsigned long long addr, char *buf, size_t size)
{
	static const char *const blocks[] = {
		"common", "isr", "device-config", "notify", "msix-table", "msix-pba", "?", "?"};
	unsigned long long off = addr - PCI_WIN_MMIO64_BASE;

	if (addr >= 0xfe000000ULL && addr < 0xfe001000ULL)
		snprintf(buf, size, "test-mmio");
	else if (addr >= PCI_WIN_MMIO64_BASE && off < PCI_MAX_SLOTS * VIRTIO_PCI_BAR_SIZE)
		snprintf(buf, size, "virtio 00:%02llx.0 %s", off / VIRTIO_PCI_BAR_SIZE + 1,
			 blocks[off % VIRTIO_PCI_BAR_SIZE / 0x1000]);
	else
		snprintf(buf, size, "mmio page 0x%llx", addr & ~0xfffULL);
}

static const char *const uring_ops[] = {
	"NOP",		"READV",    "WRITEV",	      "FSYNC",		 "READ_FIXED",
	"WRITE_FIXED",	"POLL_ADD", "POLL_REMOVE",    "SYNC_FILE_RANGE", "SENDMSG",
	"RECVMSG",	"TIMEOUT",  "TIMEOUT_REMOVE", "ACCEPT",		 "ASYNC_CANCEL",
	"LINK_TIMEOUT", "CONNECT",  "FALLOCATE",      "OPENAT",		 "CLOSE",
	"FILES_UPDATE", "STATX",    "READ",	      "WRITE",
};

static void uring_name(unsigned int op, char *buf, size_t size)
{
	if (op < sizeof(uring_ops) / sizeof(uring_ops[0]))
		snprintf(buf, size, "%s", uring_ops[op]);
	else
		snprintf(buf, size, "opcode %u", op);
}

/* One printed histogram: a label within a section, the merged samples, and what it covers. */
struct row {
	enum lat_kind kind;
	char label[64];
	struct lat_hist h;
	unsigned int ports[8], nports;
	struct lat_hist vq[4]; /* virtio: wait, service, total, irq */
};

struct rows {
	struct row *r;
	size_t n, cap;
};

static struct row *row_get(struct rows *rs, enum lat_kind kind, const char *label)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->r[i].kind == kind && !strcmp(rs->r[i].label, label))
			return &rs->r[i];
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 32;
		struct row *r = realloc(rs->r, cap * sizeof(*r));

		if (!r)
			return NULL;
		rs->r = r;
		rs->cap = cap;
	}
	memset(&rs->r[rs->n], 0, sizeof(rs->r[0]));
	rs->r[rs->n].kind = kind;
	snprintf(rs->r[rs->n].label, sizeof(rs->r[0].label), "%s", label);
	return &rs->r[rs->n++];
}

static int by_label(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return x->kind != y->kind ? (int)x->kind - (int)y->kind : strcmp(x->label, y->label);
}

/* Reads (and with clear, empties) the histogram map into rows grouped by kind and label. */
static int collect(struct lat_bpf *skel, struct rows *rs, bool clear)
{
	int fd = bpf_map__fd(skel->maps.hists);
	struct lat_key key, next, *prev = NULL;
	struct lat_hist h;
	char label[64];

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &h))
			continue;
		enum lat_kind kind = key.kind;
		struct row *r;

		switch (key.kind) {
		case LAT_EXIT:
			exit_name(key.a, label, sizeof(label));
			break;
		case LAT_PIO:
			pio_name(key.a, label, sizeof(label));
			break;
		case LAT_MMIO:
			mmio_name(key.b, label, sizeof(label));
			break;
		case LAT_URING:
			uring_name(key.a, label, sizeof(label));
			break;
		case LAT_VQ_WAIT:
		case LAT_VQ_SERVICE:
		case LAT_VQ_TOTAL:
		case LAT_VQ_IRQ:
			kind = LAT_VQ_WAIT; /* one row per queue, four histograms */
			snprintf(label, sizeof(label), "00:%02x.0 q%llu", key.a,
				 (unsigned long long)key.b);
			break;
		default:
			continue;
		}
		r = row_get(rs, kind, label);
		if (!r)
			return -ENOMEM;
		if (kind == LAT_VQ_WAIT) {
			lat_hist_merge(&r->vq[key.kind - LAT_VQ_WAIT], &h);
			continue;
		}
		lat_hist_merge(&r->h, &h);
		if (kind == LAT_PIO && r->nports < 8) {
			bool seen = false;

			for (unsigned int i = 0; i < r->nports; i++)
				seen |= r->ports[i] == key.a;
			if (!seen)
				r->ports[r->nports++] = key.a;
		}
	}
	if (clear) {
		/* Delete what was read; samples added meanwhile are lost, as with bcc's tools. */
		while (!bpf_map_get_next_key(fd, NULL, &next))
			if (bpf_map_delete_elem(fd, &next))
				break;
	}
	if (rs->n) /* qsort(NULL, 0, ...) is undefined */
		qsort(rs->r, rs->n, sizeof(rs->r[0]), by_label);
	return 0;
}

/* Threads that left KVM_RUN and had not come back when we looked, by exit reason. */
static void not_reentered(struct lat_bpf *skel, unsigned long long counts[64])
{
	int fd = bpf_map__fd(skel->maps.inflight);
	__u32 key, next, *prev = NULL;
	struct lat_inflight f;

	memset(counts, 0, 64 * sizeof(counts[0]));
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(fd, &key, &f))
			counts[f.reason < 64 ? f.reason : 63]++;
	}
}

static const char *const section_title[] = {
	[LAT_EXIT] = "exit to re-entry by exit reason (kvm_userspace_exit -> next KVM_RUN)",
	[LAT_PIO] = "PIO handling by device (exit to re-entry)",
	[LAT_MMIO] = "MMIO handling by device (exit to re-entry)",
	[LAT_VQ_WAIT] = "virtio requests by device and queue",
	[LAT_URING] = "io_uring submit -> complete by opcode",
};
static const char *const section_json[] = {
	[LAT_EXIT] = "exit",	  [LAT_PIO] = "pio",	    [LAT_MMIO] = "mmio",
	[LAT_VQ_WAIT] = "virtio", [LAT_URING] = "io_uring",
};
static const char *const vq_stage[] = {"wait", "service", "total", "irq"};
static const char *const vq_stage_text[] = {
	"notify seen -> request submitted",
	"submitted -> completed",
	"notify seen -> completed",
	"oldest unsignalled completion -> interrupt",
};
static const enum lat_kind sections[] = {LAT_EXIT, LAT_PIO, LAT_MMIO, LAT_VQ_WAIT, LAT_URING};

static void report_text(const struct rows *rs, pid_t pid, double elapsed,
			const unsigned long long *nr)
{
	char name[64];

	printf("dejavm-lat: pid %d, %.2f s\n", (int)pid, elapsed);
	printf("probes used: %s\n", used[0] ? used : "none");
	if (missing[0])
		printf("not available: %s\n", missing);
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		bool any = false;

		for (size_t i = 0; i < rs->n; i++) {
			const struct row *r = &rs->r[i];

			if (r->kind != sections[s])
				continue;
			if (!any)
				printf("\n== %s\n", section_title[sections[s]]);
			any = true;
			if (r->kind == LAT_VQ_WAIT) {
				for (unsigned int k = 0; k < 4; k++) {
					if (!r->vq[k].count)
						continue;
					printf("\n%s %s (%s)\n", r->label, vq_stage[k],
					       vq_stage_text[k]);
					lat_hist_print(stdout, &r->vq[k], "nsecs");
				}
				continue;
			}
			printf("\n%s", r->label);
			for (unsigned int p = 0; p < r->nports; p++)
				printf("%s0x%x", p ? "," : " (port ", r->ports[p]);
			printf("%s\n", r->nports ? ")" : "");
			lat_hist_print(stdout, &r->h, "nsecs");
		}
	}
	for (unsigned int i = 0; i < 64; i++) {
		if (!nr[i])
			continue;
		exit_name(i, name, sizeof(name));
		printf("not re-entered (yet): %s %llu\n", name, nr[i]);
	}
	fflush(stdout);
}

static void report_json(const struct rows *rs, pid_t pid, double elapsed,
			const unsigned long long *nr)
{
	char name[64];
	bool sep;

	printf("{\"pid\":%d,\"elapsed_s\":%.3f,\"unit\":\"ns\",\"probes\":", (int)pid, elapsed);
	lat_json_str(stdout, used);
	printf(",\"unavailable\":");
	lat_json_str(stdout, missing);
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		printf(",\"%s\":{", section_json[sections[s]]);
		sep = false;
		for (size_t i = 0; i < rs->n; i++) {
			const struct row *r = &rs->r[i];

			if (r->kind != sections[s])
				continue;
			printf("%s", sep ? "," : "");
			sep = true;
			lat_json_str(stdout, r->label);
			putchar(':');
			if (r->kind == LAT_VQ_WAIT) {
				putchar('{');
				for (unsigned int k = 0; k < 4; k++) {
					printf("%s\"%s\":", k ? "," : "", vq_stage[k]);
					lat_hist_json(stdout, &r->vq[k]);
				}
				putchar('}');
			} else if (r->kind == LAT_PIO) {
				printf("{\"ports\":[");
				for (unsigned int p = 0; p < r->nports; p++)
					printf("%s%u", p ? "," : "", r->ports[p]);
				printf("],\"hist\":");
				lat_hist_json(stdout, &r->h);
				putchar('}');
			} else {
				lat_hist_json(stdout, &r->h);
			}
		}
		putchar('}');
	}
	printf(",\"not_reentered\":{");
	sep = false;
	for (unsigned int i = 0; i < 64; i++) {
		if (!nr[i])
			continue;
		exit_name(i, name, sizeof(name));
		printf("%s\"%s\":%llu", sep ? "," : "", name, nr[i]);
		sep = true;
	}
	printf("}}\n");
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(struct lat_bpf *skel, const struct opts *o, pid_t pid, double elapsed,
		   bool clear)
{
	struct rows rs = {0};
	unsigned long long nr[64];

	if (collect(skel, &rs, clear)) {
		fprintf(stderr, "dejavm-lat: out of memory\n");
		free(rs.r);
		return;
	}
	not_reentered(skel, nr);
	if (o->json)
		report_json(&rs, pid, elapsed, nr);
	else
		report_text(&rs, pid, elapsed, nr);
	free(rs.r);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dejavm-lat [--interval S] [--duration S] [--json] [--no-usdt] --pid PID\n"
		"       dejavm-lat [options] -- [DEJAVM] DEJAVM-ARGS...\n"
		"Log2 latency histograms (ns) of one dejavm: exit to re-entry by reason, PIO/MMIO\n"
		"handling by device, virtio requests by device and queue (USDT), io_uring.\n"
		"  --pid PID        attach to a running dejavm\n"
		"  -- ARGS          start dejavm with ARGS (DEJAVM: a dejavm binary; default: the one\n"
		"                   next to this tool's directory, or dejavm in PATH); exit status: its\n"
		"  --interval S     print (and reset) every S seconds\n"
		"  --duration S     stop after S seconds\n"
		"  --json           one JSON object per report\n"
		"  --no-usdt        tracepoints only (no virtio request histograms)\n"
		"  --verbose        libbpf's debug messages\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"interval", required_argument, NULL, 'i'},
		{"duration", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"no-usdt", no_argument, NULL, 'U'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	char *end;
	int c;

	*o = (struct opts){.usdt = true};
	while ((c = getopt_long(argc, argv, "+p:i:d:jUvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->pid = strtol(optarg, &end, 10);
			if (*end || o->pid <= 0)
				goto bad;
			break;
		case 'i':
		case 'd':
			*(c == 'i' ? &o->interval : &o->duration) = strtod(optarg, &end);
			if (*end || (c == 'i' ? o->interval : o->duration) <= 0)
				goto bad;
			break;
		case 'j':
			o->json = true;
			break;
		case 'U':
			o->usdt = false;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc)
		o->cmd = &argv[optind];
	if (!o->pid == !o->cmd) {
		fprintf(stderr, "dejavm-lat: give either --pid PID or -- DEJAVM-ARGS\n");
		usage(stderr);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "dejavm-lat: bad value '%s'\n", optarg);
	return -1;
}

/* The dejavm to start: ARGS[0] if it is an executable file, else the build's or PATH's. */
static char **command(char **args, char *self_dir_dejavm)
{
	size_t n = 0;
	char **argv;
	struct stat st;

	while (args[n])
		n++;
	argv = calloc(n + 2, sizeof(*argv));
	if (!argv)
		return NULL;
	if (args[0][0] != '-' && !stat(args[0], &st) && S_ISREG(st.st_mode) &&
	    !access(args[0], X_OK)) {
		memcpy(argv, args, n * sizeof(*argv));
		return argv;
	}
	argv[0] = access(self_dir_dejavm, X_OK) ? "dejavm" : self_dir_dejavm;
	memcpy(argv + 1, args, n * sizeof(*argv));
	return argv;
}

/*
 * Starts the command stopped right after its exec (ptrace), so that every exit is seen: the
 * caller attaches, then lets it run (PTRACE_DETACH). Returns the pid or -1.
 */
static pid_t start_stopped(char **argv)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "dejavm-lat: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) {
		fprintf(stderr, "dejavm-lat: %s did not start\n", argv[0]);
		return -1;
	}
	return pid;
}

/* Checks what BPF needs here; the message names what is missing. 0, or EXIT_UNAVAILABLE. */
static int preflight(struct lat_bpf *skel, bool *exits_ok, bool *uring_ok)
{
	static const struct {
		const char *tp;
		bool exits;
	} tps[] = {
		{"kvm_userspace_exit", true},
		{"sys_enter", true},
		{"io_uring_submit_req", false},
		{"io_uring_complete", false},
	};
	struct btf *btf;
	char name[96];

	if (geteuid() != 0) {
		fprintf(stderr,
			"dejavm-lat: BPF cannot be used: not root (loading BPF programs and "
			"attaching to tracepoints needs CAP_BPF and CAP_PERFMON; run as root)\n");
		return EXIT_UNAVAILABLE;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr,
			"dejavm-lat: BPF cannot be used: no kernel BTF "
			"(/sys/kernel/btf/vmlinux: %s; needs CONFIG_DEBUG_INFO_BTF=y)\n",
			strerror(errno));
		return EXIT_UNAVAILABLE;
	}
	btf = btf__load_vmlinux_btf();
	if (!btf) {
		fprintf(stderr, "dejavm-lat: BPF cannot be used: cannot read the kernel BTF: %s\n",
			strerror(errno));
		return EXIT_UNAVAILABLE;
	}
	*exits_ok = *uring_ok = true;
	for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++) {
		snprintf(name, sizeof(name), "btf_trace_%s", tps[i].tp);
		if (btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF) >= 0)
			continue;
		note(missing, sizeof(missing), "tracepoint %s (not in this kernel)", tps[i].tp);
		*(tps[i].exits ? exits_ok : uring_ok) = false;
	}
	if (btf__find_by_name_kind(btf, "kvm_vcpu", BTF_KIND_STRUCT) < 0) {
		note(missing, sizeof(missing), "struct kvm_vcpu in BTF (KVM not built in?)");
		*exits_ok = false;
	}
	btf__free(btf);
	bpf_program__set_autoload(skel->progs.kvm_userspace_exit, *exits_ok);
	bpf_program__set_autoload(skel->progs.sys_enter, *exits_ok);
	bpf_program__set_autoload(skel->progs.io_uring_submit_req, *uring_ok);
	bpf_program__set_autoload(skel->progs.io_uring_complete, *uring_ok);
	return 0;
}

/* The link goes into the skeleton's slot, so lat_bpf__destroy() detaches and frees it. */
static int attach_tp(struct bpf_program *prog, struct bpf_link **slot, const char *what)
{
	struct bpf_link *l = bpf_program__attach(prog);

	if (!l) {
		note(missing, sizeof(missing), "%s (attach: %s)", what, strerror(errno));
		return -1;
	}
	*slot = l;
	note(used, sizeof(used), "%s", what);
	return 0;
}

static int attach_usdts(struct lat_bpf *skel, pid_t pid)
{
	struct {
		struct bpf_program *prog;
		struct bpf_link **slot;
		const char *name;
	} u[] = {
		{skel->progs.vq_notify, &skel->links.vq_notify, "vq_notify"},
		{skel->progs.req_submit, &skel->links.req_submit, "req_submit"},
		{skel->progs.req_complete, &skel->links.req_complete, "req_complete"},
		{skel->progs.irq_inject, &skel->links.irq_inject, "irq_inject"},
	};
	char exe[64], path[PATH_MAX];
	ssize_t n;
	int ok = 0;

	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	n = readlink(exe, path, sizeof(path) - 1);
	if (n < 0) {
		note(missing, sizeof(missing), "usdt (%s: %s)", exe, strerror(errno));
		return -1;
	}
	path[n] = '\0';
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		/* The binary's path as seen from here; /proc/PID/exe also works across mounts. */
		struct bpf_link *l =
			bpf_program__attach_usdt(u[i].prog, pid, exe, "dejavm", u[i].name, NULL);

		if (!l) {
			note(missing, sizeof(missing),
			     "usdt dejavm:%s (%s; dejavm built with -Dusdt=disabled?)", u[i].name,
			     strerror(errno));
			continue;
		}
		*u[i].slot = l;
		note(used, sizeof(used), "usdt dejavm:%s", u[i].name);
		ok++;
	}
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct lat_bpf *skel = NULL;
	bool exits_ok, uring_ok, detached = false;
	pid_t pid, child = 0;
	double t0, last;
	int rc = 1, status = 0;
	char self[PATH_MAX], sibling[PATH_MAX + 16];
	char **cmd = NULL;

	if (parse(argc, argv, &o))
		return 2;
	verbose = o.verbose;
	libbpf_set_print(libbpf_print);
	skel = lat_bpf__open();
	if (!skel) {
		fprintf(stderr, "dejavm-lat: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	rc = preflight(skel, &exits_ok, &uring_ok);
	if (rc)
		goto out;
	rc = 1;
	if (!exits_ok && !uring_ok && !o.usdt) {
		fprintf(stderr, "dejavm-lat: BPF cannot be used: missing %s\n", missing);
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	if (o.cmd) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		self[n > 0 ? n : 0] = '\0';
		if (strrchr(self, '/'))
			*strrchr(self, '/') = '\0';
		snprintf(sibling, sizeof(sibling), "%s/../dejavm", self);
		cmd = command(o.cmd, sibling);
		if (!cmd)
			goto out;
		child = start_stopped(cmd);
		if (child < 0)
			goto out;
		pid = child;
	} else {
		pid = o.pid;
		if (kill(pid, 0)) {
			fprintf(stderr, "dejavm-lat: no process %d: %s\n", (int)pid,
				strerror(errno));
			goto out;
		}
	}
	skel->rodata->targ_tgid = pid;
	if (!o.usdt) {
		bpf_program__set_autoload(skel->progs.vq_notify, false);
		bpf_program__set_autoload(skel->progs.req_submit, false);
		bpf_program__set_autoload(skel->progs.req_complete, false);
		bpf_program__set_autoload(skel->progs.irq_inject, false);
	}
	if (lat_bpf__load(skel)) {
		int e = errno;

		fprintf(stderr,
			"dejavm-lat: BPF cannot be used: loading the programs failed: %s%s\n",
			strerror(e),
			e == EPERM ? " (kernel lockdown, or missing CAP_BPF/CAP_PERFMON)" : "");
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	if (exits_ok) {
		attach_tp(skel->progs.kvm_userspace_exit, &skel->links.kvm_userspace_exit,
			  "tp_btf/kvm_userspace_exit");
		attach_tp(skel->progs.sys_enter, &skel->links.sys_enter,
			  "tp_btf/sys_enter (ioctl KVM_RUN)");
	}
	if (uring_ok) {
		attach_tp(skel->progs.io_uring_submit_req, &skel->links.io_uring_submit_req,
			  "tp_btf/io_uring_submit_req");
		attach_tp(skel->progs.io_uring_complete, &skel->links.io_uring_complete,
			  "tp_btf/io_uring_complete");
	}
	if (o.usdt)
		attach_usdts(skel, pid);
	else
		note(missing, sizeof(missing), "usdt (--no-usdt: no virtio request histograms)");
	if (!used[0]) {
		fprintf(stderr, "dejavm-lat: BPF cannot be used: nothing attached: %s\n", missing);
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (child && ptrace(PTRACE_DETACH, child, NULL, NULL)) {
		fprintf(stderr, "dejavm-lat: cannot start %s: %s\n", cmd[0], strerror(errno));
		goto out;
	}
	detached = true;
	t0 = last = now_s();
	rc = 0;
	while (!stop) {
		double t;

		usleep(20000);
		t = now_s();
		if (child) {
			pid_t w = waitpid(child, &status, WNOHANG);

			if (w == child) {
				child = 0;
				rc = WIFEXITED(status) ? WEXITSTATUS(status)
						       : 128 + WTERMSIG(status);
				break;
			}
		} else if (kill(pid, 0) && errno == ESRCH) {
			break;
		}
		if (o.duration && t - t0 >= o.duration)
			break;
		if (o.interval && t - last >= o.interval) {
			report(skel, &o, pid, t - last, true);
			last = t;
		}
	}
	report(skel, &o, pid, now_s() - last, false);
out:
	if (child > 0) { /* stopped early (error, --duration, signal): the VM goes too */
		kill(child, detached ? SIGTERM : SIGKILL); /* a traced child would only stop */
		waitpid(child, &status, 0);
	}
	lat_bpf__destroy(skel);
	free(cmd);
	return rc;
}
