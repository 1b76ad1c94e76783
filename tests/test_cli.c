// SPDX-License-Identifier: MIT
/* Unit tests for the command line: parse_size() and cli_parse(). */
#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "harness.h"

#define MAX_ARGS 32

/* One cli_parse() run with its output and error streams captured. */
struct run {
	enum cli_result r;
	struct vm_config cfg;
	char *argv[MAX_ARGS + 2];
	char *out, *err;
	size_t out_len, err_len;
};

static void run_free(struct run *rn)
{
	free(rn->out);
	free(rn->err);
	rn->out = rn->err = NULL;
}

/* Runs "dejavm ARGS..." (NULL-terminated); rn must be released with run_free(). */
static enum cli_result run_argv(struct run *rn, int argc, char **args)
{
	FILE *out, *err;

	ck_assert_int_le(argc, MAX_ARGS);
	memset(rn, 0, sizeof(*rn));
	rn->argv[0] = "dejavm";
	for (int i = 0; i < argc; i++)
		rn->argv[i + 1] = args[i];
	rn->argv[argc + 1] = NULL;
	out = open_memstream(&rn->out, &rn->out_len);
	err = open_memstream(&rn->err, &rn->err_len);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(err);
	/* Poison cfg so the defaults must come from cli_parse itself. */
	memset(&rn->cfg, 0xa5, sizeof(rn->cfg));
	rn->r = cli_parse(argc + 1, rn->argv, &rn->cfg, out, err);
	fclose(out);
	fclose(err);
	return rn->r;
}

static enum cli_result run(struct run *rn, ...)
{
	char *args[MAX_ARGS];
	int argc = 0;
	va_list ap;

	va_start(ap, rn);
	for (char *a = va_arg(ap, char *); a; a = va_arg(ap, char *)) {
		ck_assert_int_lt(argc, MAX_ARGS);
		args[argc++] = a;
	}
	va_end(ap);
	return run_argv(rn, argc, args);
}

/* ------------------------------------------------------------------ parse_size */

START_TEST(test_parse_size_valid)
{
	static const struct {
		const char *s;
		uint64_t v;
	} cases[] = {
		{"64M", 64ULL << 20},
		{"1G", 1ULL << 30},
		{"4096", 4096},
		{"512K", 512ULL << 10},
		{"1T", 1ULL << 40},
		{"64m", 64ULL << 20},
		{"1g", 1ULL << 30},
		{"512k", 512ULL << 10},
		{"2t", 2ULL << 40},
		{"0", 0},
		{"0M", 0},
		{"007K", 7ULL << 10},
		{"18446744073709551615", UINT64_MAX},
		{"17179869183G", 17179869183ULL << 30}, /* largest G that fits */
		{"16777215T", 16777215ULL << 40},	/* largest T that fits */
		{"18014398509481983K", 18014398509481983ULL << 10},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0x1234;

		ck_assert_msg(parse_size(cases[i].s, &v) == 0, "parse_size(\"%s\") failed",
			      cases[i].s);
		ck_assert_msg(v == cases[i].v, "parse_size(\"%s\") = %llu, expected %llu",
			      cases[i].s, (unsigned long long)v, (unsigned long long)cases[i].v);
	}
}
END_TEST

START_TEST(test_parse_size_invalid)
{
	static const char *const bad[] = {
		"",
		"M",
		"K",
		"-1",
		"-1M",
		"+1M",
		"1X",
		"1MB",
		"1KiB",
		"1.5G",
		"1,5G",
		"0x10",
		"99999999999999999999",
		"18446744073709551616",
		"17179869184G", /* 2^34 GiB = 2^64: overflow */
		"16777216T",
		"18014398509481984K",
		" 1M",
		"1M ",
		"1 M",
		"\t1M",
		"1M\n",
		"M1",
		"1MM",
		"1GK",
		"abc",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 0x1234;

		ck_assert_msg(parse_size(bad[i], &v) == -1, "parse_size(\"%s\") accepted (%llu)",
			      bad[i], (unsigned long long)v);
	}
	{
		uint64_t v;

		ck_assert_int_eq(parse_size(NULL, &v), -1);
	}
}
END_TEST

/* ------------------------------------------------------------------ valid command lines */

START_TEST(test_defaults)
{
	struct run rn;

	ck_assert_int_eq(run(&rn, "--kernel", "vmlinux", NULL), CLI_RUN);
	ck_assert_str_eq(rn.cfg.kernel, "vmlinux");
	ck_assert_ptr_null(rn.cfg.initramfs);
	ck_assert_ptr_nonnull(rn.cfg.cmdline);
	ck_assert_str_eq(rn.cfg.cmdline, "");
	ck_assert_uint_eq(rn.cfg.cpus, 1);
	ck_assert_uint_eq(rn.cfg.mem_size, 64ULL << 20);
	ck_assert_uint_eq(rn.cfg.mem_size, DEFAULT_MEM_SIZE);
	ck_assert_int_eq(rn.cfg.serial, SERIAL_TTY);
	ck_assert_ptr_null(rn.cfg.serial_path);
	ck_assert_ptr_null(rn.cfg.log_file);
	ck_assert_int_eq(rn.cfg.verbosity, 0);
	ck_assert_int_eq(rn.cfg.stats, STATS_NONE);
	ck_assert(!rn.cfg.deterministic);
	ck_assert_int_eq(rn.cfg.rtc_epoch, 1577836800);
	ck_assert_uint_eq(rn.cfg.exit_budget_ms, DEFAULT_EXIT_BUDGET_MS);
	ck_assert_uint_eq(rn.cfg.machine_version, MACHINE_VERSION_CURRENT);
	ck_assert_uint_eq(rn.out_len, 0);
	ck_assert_uint_eq(rn.err_len, 0);
	run_free(&rn);

	/* config_init on its own gives the same defaults. */
	struct vm_config cfg;

	memset(&cfg, 0x5a, sizeof(cfg));
	config_init(&cfg);
	ck_assert_ptr_null(cfg.kernel);
	ck_assert_ptr_null(cfg.initramfs);
	ck_assert_str_eq(cfg.cmdline, "");
	ck_assert_uint_eq(cfg.cpus, 1);
	ck_assert_uint_eq(cfg.mem_size, 64ULL << 20);
	ck_assert_int_eq(cfg.serial, SERIAL_TTY);
	ck_assert_int_eq(cfg.stats, STATS_NONE);
	ck_assert_int_eq(cfg.verbosity, 0);
}
END_TEST

static void check_all_flags(const struct run *rn)
{
	ck_assert_int_eq(rn->r, CLI_RUN);
	ck_assert_str_eq(rn->cfg.kernel, "/boot/vmlinux");
	ck_assert_str_eq(rn->cfg.initramfs, "/boot/initrd.cpio");
	ck_assert_str_eq(rn->cfg.cmdline, "console=ttyS0 quiet panic=-1");
	ck_assert_uint_eq(rn->cfg.cpus, 1);
	ck_assert_uint_eq(rn->cfg.mem_size, 128ULL << 20);
	ck_assert_int_eq(rn->cfg.serial, SERIAL_FILE);
	ck_assert_str_eq(rn->cfg.serial_path, "/tmp/x,y");
	ck_assert_str_eq(rn->cfg.log_file, "/tmp/vmm.log");
	ck_assert_int_eq(rn->cfg.verbosity, 2);
	ck_assert_int_eq(rn->cfg.stats, STATS_JSON);
	ck_assert_uint_eq(rn->out_len, 0);
	ck_assert_msg(rn->err_len == 0, "unexpected error output: %s", rn->err);
}

START_TEST(test_all_flags_separate)
{
	struct run rn;

	run(&rn, "--kernel", "/boot/vmlinux", "--initramfs", "/boot/initrd.cpio", "--cmdline",
	    "console=ttyS0 quiet panic=-1", "--cpus", "boot=1", "--memory", "size=128M", "--serial",
	    "file=/tmp/x,y", "--log-file", "/tmp/vmm.log", "--stats=json", "-v", "-v", NULL);
	check_all_flags(&rn);
	run_free(&rn);
}
END_TEST

START_TEST(test_all_flags_equals)
{
	struct run rn;

	run(&rn, "--kernel=/boot/vmlinux", "--initramfs=/boot/initrd.cpio",
	    "--cmdline=console=ttyS0 quiet panic=-1", "--cpus=boot=1", "--memory=size=128M",
	    "--serial=file=/tmp/x,y", "--log-file=/tmp/vmm.log", "--stats=json", "--verbose", "-v",
	    NULL);
	check_all_flags(&rn);
	run_free(&rn);

	/* Options may come in any order, and -vv counts twice. */
	run(&rn, "-vv", "--stats=json", "--serial", "file=/tmp/x,y", "--memory", "size=131072K",
	    "--log-file", "/tmp/vmm.log", "--cmdline", "console=ttyS0 quiet panic=-1",
	    "--initramfs", "/boot/initrd.cpio", "--kernel", "/boot/vmlinux", NULL);
	check_all_flags(&rn);
	run_free(&rn);
}
END_TEST

START_TEST(test_deterministic_flags)
{
	struct run rn;

	ck_assert_int_eq(run(&rn, "--kernel", "k", "--deterministic", "--rtc-epoch", "0",
			     "--exit-budget=250", NULL),
			 CLI_RUN);
	ck_assert(rn.cfg.deterministic);
	ck_assert_int_eq(rn.cfg.rtc_epoch, 0);
	ck_assert_uint_eq(rn.cfg.exit_budget_ms, 250);
	ck_assert_uint_eq(rn.err_len, 0);
	run_free(&rn);
	ck_assert_int_eq(run(&rn, "--kernel", "k", "--machine-version", "1", NULL), CLI_RUN);
	ck_assert_uint_eq(rn.cfg.machine_version, 1);
	run_free(&rn);
	ck_assert_int_eq(run(&rn, "--kernel", "k", "--rtc-epoch=4102444800", NULL), CLI_RUN);
	ck_assert_int_eq(rn.cfg.rtc_epoch, 4102444800LL);
	ck_assert_ptr_null(rn.cfg.rng_path);
	run_free(&rn);
	ck_assert_int_eq(run(&rn, "--kernel", "k", "--rng", "src=/dev/a,b", NULL), CLI_RUN);
	ck_assert_str_eq(rn.cfg.rng_path, "/dev/a,b");
	run_free(&rn);
}
END_TEST

START_TEST(test_net_flags)
{
	struct run rn;
	uint8_t mac[6];

	ck_assert_int_eq(run(&rn, "--kernel", "k", "--rng", "src=/dev/urandom", "--net",
			     "tap=dvtap0,ip=10.77.0.1,mask=255.255.0.0,mac=52:54:00:AA:bb:cc",
			     "--net", "tap=t1", NULL),
			 CLI_RUN);
	ck_assert_uint_eq(rn.err_len, 0);
	ck_assert_uint_eq(rn.cfg.nr_nets, 2);
	ck_assert_uint_eq(rn.cfg.nr_virtio, 3);
	ck_assert_uint_eq(rn.cfg.rng_order, 0);
	ck_assert_str_eq(rn.cfg.nets[0].tap, "dvtap0");
	ck_assert_str_eq(rn.cfg.nets[0].ip, "10.77.0.1");
	ck_assert_str_eq(rn.cfg.nets[0].mask, "255.255.0.0");
	ck_assert_uint_eq(rn.cfg.nets[0].order, 1);
	ck_assert_mem_eq(rn.cfg.nets[0].mac, "\x52\x54\x00\xaa\xbb\xcc", 6);
	/* no mac=: a fixed, locally administered unicast one derived from the tap name */
	ck_assert_str_eq(rn.cfg.nets[1].tap, "t1");
	ck_assert_ptr_null(rn.cfg.nets[1].ip);
	ck_assert_ptr_null(rn.cfg.nets[1].mask);
	ck_assert_uint_eq(rn.cfg.nets[1].order, 2);
	default_mac("t1", mac);
	ck_assert_mem_eq(rn.cfg.nets[1].mac, mac, 6);
	ck_assert_mem_eq(mac, "\x52\x54\x00", 3);
	run_free(&rn);
	/* ip= alone: the mask defaults to /24 */
	ck_assert_int_eq(run(&rn, "--kernel", "k", "--net", "tap=t0,ip=192.168.249.1", NULL),
			 CLI_RUN);
	ck_assert_str_eq(rn.cfg.nets[0].mask, "255.255.255.0");
	default_mac("t0", mac);
	ck_assert_mem_eq(rn.cfg.nets[0].mac, mac, 6);
	ck_assert_mem_ne(rn.cfg.nets[0].mac, "\x52\x54\x00\x00\x00\x00", 6);
	run_free(&rn);
}
END_TEST

START_TEST(test_serial_modes)
{
	static const struct {
		const char *arg;
		enum serial_mode mode;
		const char *path;
	} cases[] = {
		{"tty", SERIAL_TTY, NULL},
		{"null", SERIAL_NULL, NULL},
		{"off", SERIAL_OFF, NULL},
		{"file=/tmp/x,y", SERIAL_FILE, "/tmp/x,y"},
		{"file=out.txt", SERIAL_FILE, "out.txt"},
		{"file=a=b,c=d", SERIAL_FILE, "a=b,c=d"},
		{"file=,", SERIAL_FILE, ","},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char eq[64];
		struct run rn;

		for (int form = 0; form < 2; form++) {
			if (form == 0) {
				run(&rn, "--kernel", "k", "--serial", (char *)cases[i].arg, NULL);
			} else {
				snprintf(eq, sizeof(eq), "--serial=%s", cases[i].arg);
				run(&rn, "--kernel", "k", eq, NULL);
			}
			ck_assert_msg(rn.r == CLI_RUN, "--serial %s: %s", cases[i].arg, rn.err);
			ck_assert_int_eq(rn.cfg.serial, cases[i].mode);
			if (cases[i].path)
				ck_assert_str_eq(rn.cfg.serial_path, cases[i].path);
			run_free(&rn);
		}
	}
}
END_TEST

START_TEST(test_stats_forms)
{
	struct run rn;

	ck_assert_int_eq(run(&rn, "--kernel", "k", "--stats", NULL), CLI_RUN);
	ck_assert_int_eq(rn.cfg.stats, STATS_TEXT);
	run_free(&rn);
	ck_assert_int_eq(run(&rn, "--kernel", "k", "--stats=text", NULL), CLI_RUN);
	ck_assert_int_eq(rn.cfg.stats, STATS_TEXT);
	run_free(&rn);
	ck_assert_int_eq(run(&rn, "--kernel", "k", "--stats=json", NULL), CLI_RUN);
	ck_assert_int_eq(rn.cfg.stats, STATS_JSON);
	run_free(&rn);
	/* The last one wins. */
	ck_assert_int_eq(run(&rn, "--stats=json", "--kernel", "k", "--stats", NULL), CLI_RUN);
	ck_assert_int_eq(rn.cfg.stats, STATS_TEXT);
	run_free(&rn);
}
END_TEST

START_TEST(test_memory_and_cpus_values)
{
	static const struct {
		const char *arg;
		uint64_t size;
	} mem[] = {
		{"size=2M", 2ULL << 20},
		{"size=2048K", 2ULL << 20},
		{"size=1T", 1ULL << 40},
		{"size=1G", 1ULL << 30},
		{"size=3145732K", (3ULL << 30) + 4096},
		{"size=2101248", 2101248},
		{"size=64m", 64ULL << 20},
		{"size=8M,size=16M", 16ULL << 20},
	};
	struct run rn;

	for (size_t i = 0; i < sizeof(mem) / sizeof(mem[0]); i++) {
		run(&rn, "--kernel", "k", "--memory", (char *)mem[i].arg, NULL);
		ck_assert_msg(rn.r == CLI_RUN, "--memory %s: %s", mem[i].arg, rn.err);
		ck_assert_uint_eq(rn.cfg.mem_size, mem[i].size);
		run_free(&rn);
	}
	/* A bad key is rejected even if a later one would be fine. */
	ck_assert_int_eq(run(&rn, "--kernel", "k", "--memory", "size=1M,size=8M", NULL), CLI_USAGE);
	run_free(&rn);
	ck_assert_int_eq(run(&rn, "--kernel", "k", "--cpus", "boot=1", NULL), CLI_RUN);
	ck_assert_uint_eq(rn.cfg.cpus, 1);
	run_free(&rn);
	ck_assert_int_eq(run(&rn, "--kernel", "k", "--cpus", "boot=01", NULL), CLI_RUN);
	ck_assert_uint_eq(rn.cfg.cpus, 1);
	run_free(&rn);
	/* Later flags override earlier ones. */
	ck_assert_int_eq(run(&rn, "--kernel", "a", "--kernel", "b", "--memory", "size=8M",
			     "--memory", "size=16M", NULL),
			 CLI_RUN);
	ck_assert_str_eq(rn.cfg.kernel, "b");
	ck_assert_uint_eq(rn.cfg.mem_size, 16ULL << 20);
	run_free(&rn);
}
END_TEST

START_TEST(test_argv_not_modified)
{
	char kv[] = "size=256M";
	char cpus[] = "boot=1";
	struct run rn;

	ck_assert_int_eq(run(&rn, "--kernel", "k", "--memory", kv, "--cpus", cpus, NULL), CLI_RUN);
	ck_assert_str_eq(kv, "size=256M");
	ck_assert_str_eq(cpus, "boot=1");
	ck_assert_uint_eq(rn.cfg.mem_size, 256ULL << 20);
	run_free(&rn);
}
END_TEST

/* ------------------------------------------------------------------ bad command lines */

struct bad_case {
	const char *args[10];
	const char *needle;  /* must appear in the error message */
	const char *needle2; /* optional second substring */
};

static const struct bad_case bad_cases[] = {
	{{NULL}, "--kernel", NULL},
	{{"--cmdline", "x", NULL}, "--kernel", NULL},
	{{"--api-socket", "", NULL}, "--api-socket", NULL},
	{{"--api-socket", "path=", NULL}, "--api-socket", "path=PATH"},
	{{"--api-socket", "fd=3", NULL}, "--api-socket", NULL},
	{{"--kernel", "k", "--memory", "size=0", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--memory", "size=1M", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--memory", "size=2T", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--memory", "size=4097", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--memory", "size=2049K", NULL}, "--memory", "4K"},
	{{"--kernel", "k", "--memory", "size=1099511631872", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--memory", "foo=1", NULL}, "--memory", "foo"},
	{{"--kernel", "k", "--memory", "", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--memory=", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--memory", "size=", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--memory", "64M", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--memory", "size=64Q", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--memory", "size=64M,x=1", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--memory", "size=-64M", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--cpus", "boot=0", NULL}, "--cpus", NULL},
	{{"--kernel", "k", "--cpus", "boot=2", NULL}, "--cpus", "SMP"},
	{{"--kernel", "k", "--cpus=boot=255", NULL}, "--cpus", "SMP"},
	{{"--kernel", "k", "--cpus", "boot=256", NULL}, "--cpus", NULL},
	{{"--kernel", "k", "--cpus", "boot=abc", NULL}, "--cpus", NULL},
	{{"--kernel", "k", "--cpus", "boot=-1", NULL}, "--cpus", NULL},
	{{"--kernel", "k", "--cpus", "boot=1x", NULL}, "--cpus", NULL},
	{{"--kernel", "k", "--cpus", "boot=", NULL}, "--cpus", NULL},
	{{"--kernel", "k", "--cpus", "boot=18446744073709551617", NULL}, "--cpus", NULL},
	{{"--kernel", "k", "--cpus", "max=1", NULL}, "--cpus", "max"},
	{{"--kernel", "k", "--cpus", "1", NULL}, "--cpus", NULL},
	{{"--kernel", "k", "--cpus", "", NULL}, "--cpus", NULL},
	{{"--kernel", "k", "--serial", "pty", NULL}, "--serial", "pty"},
	{{"--kernel", "k", "--serial", "file=", NULL}, "--serial", NULL},
	{{"--kernel", "k", "--serial=file=", NULL}, "--serial", NULL},
	{{"--kernel", "k", "--serial", "bogus", NULL}, "--serial", "bogus"},
	{{"--kernel", "k", "--serial", "", NULL}, "--serial", NULL},
	{{"--kernel", "k", "--serial", "TTY", NULL}, "--serial", NULL},
	{{"--kernel", "k", "--serial", "path=/tmp/x", NULL}, "--serial", NULL},
	{{"--kernel", "k", "--stats=xml", NULL}, "--stats", "xml"},
	{{"--kernel", "k", "--stats=", NULL}, "--stats", NULL},
	{{"--kernel", "k", "--frobnicate", NULL}, "--frobnicate", NULL},
	{{"--frobnicate=3", "--kernel", "k", NULL}, "--frobnicate", NULL},
	{{"--kernel", "k", "-x", NULL}, "-x", NULL},
	{{"--kernel", NULL}, "--kernel", NULL},
	{{"--kernel", "k", "--memory", NULL}, "--memory", NULL},
	{{"--kernel", "k", "--cpus", NULL}, "--cpus", NULL},
	{{"--kernel", "k", "--serial", NULL}, "--serial", NULL},
	{{"--kernel", "k", "--initramfs", NULL}, "--initramfs", NULL},
	{{"--kernel", "k", "--cmdline", NULL}, "--cmdline", NULL},
	{{"--kernel", "k", "--log-file", NULL}, "--log-file", NULL},
	{{"--kernel", "k", "stray", NULL}, "stray", NULL},
	{{"stray", "--kernel", "k", NULL}, "stray", NULL},
	{{"--kernel", "k", "--stats", "json", NULL}, "json", NULL},
	{{"--kernel", "k", "--version=1", NULL}, "--version", NULL},
	{{"--kernel", "k", "--deterministic=yes", NULL}, "--deterministic", NULL},
	{{"--kernel", "k", "--rtc-epoch", "-1", NULL}, "--rtc-epoch", "Unix seconds"},
	{{"--kernel", "k", "--rtc-epoch", "2020-01-01", NULL}, "--rtc-epoch", NULL},
	{{"--kernel", "k", "--rtc-epoch", NULL}, "--rtc-epoch", NULL},
	{{"--kernel", "k", "--exit-budget", "0", NULL}, "--exit-budget", "1 to 3600000"},
	{{"--kernel", "k", "--exit-budget", "3600001", NULL}, "--exit-budget", NULL},
	{{"--kernel", "k", "--exit-budget", "10ms", NULL}, "--exit-budget", NULL},
	{{"--kernel", "k", "--machine-version", "0", NULL}, "--machine-version", "1 to 2"},
	{{"--kernel", "k", "--machine-version", "3", NULL}, "--machine-version", "1 to 2"},
	{{"--kernel", "k", "--machine-version", "2x", NULL}, "--machine-version", NULL},
	{{"--kernel", "k", "--machine-version", "-1", NULL}, "--machine-version", NULL},
	{{"--restore", "source_url=file:///tmp/s", "--machine-version", "1", NULL},
	 "--machine-version",
	 "snapshot"},
	{{"--kernel", "k", "--rng", "/dev/urandom", NULL}, "--rng", "src=PATH"},
	{{"--kernel", "k", "--rng", "src=", NULL}, "--rng", NULL},
	{{"--kernel", "k", "--console", "pts", NULL}, "--console", "pty"},
	{{"--kernel", "k", "--console", "null", "--console", "null", NULL}, "--console", "twice"},
	{{"--kernel", "k", "--console", "null", "--console=off", NULL}, "--console", "twice"},
	{{"--kernel", "k", "--rng", "src=/a", "--rng", "src=/b", NULL}, "--rng", "twice"},
	{{"--kernel", "k", "--console", "pty", "--deterministic", NULL},
	 "--console pty",
	 "deterministic"},
	{{"--kernel", "k", "--net", "mac=52:54:00:00:00:01", NULL}, "--net", "tap=NAME"},
	{{"--kernel", "k", "--net", "tap=", NULL}, "--net", "tap="},
	{{"--kernel", "k", "--net", "tap=a-name-of-16-bytes", NULL}, "tap=", "IFNAMSIZ"},
	{{"--kernel", "k", "--net", "tap=a/b", NULL}, "tap=a/b", NULL},
	{{"--kernel", "k", "--net", "tap=t0,mac=52:54:00:aa:bb", NULL}, "mac=", NULL},
	{{"--kernel", "k", "--net", "tap=t0,mac=52:54:00:aa:bb:cc:dd", NULL}, "mac=", NULL},
	{{"--kernel", "k", "--net", "tap=t0,mac=52-54-00-aa-bb-cc", NULL}, "mac=", NULL},
	{{"--kernel", "k", "--net", "tap=t0,mac=01:00:5e:00:00:01", NULL}, "mac=", "multicast"},
	{{"--kernel", "k", "--net", "tap=t0,ip=10.0.0.256", NULL}, "ip=", "IPv4"},
	{{"--kernel", "k", "--net", "tap=t0,ip=10.0.0.1,mask=255.0.255.0", NULL},
	 "mask=",
	 "netmask"},
	{{"--kernel", "k", "--net", "tap=t0,mask=255.255.255.0", NULL}, "mask=", "ip="},
	{{"--kernel", "k", "--net", "tap=t0,queues=2", NULL}, "queues=", "unknown"},
	{{"--kernel", "k", "--net", "tap=t0", "--net", "tap=t0", NULL}, "--net", "twice"},
	{{"--kernel", "k", "--net", "tap=t0", "--net", "tap=t1", "--net", "tap=t2", NULL},
	 "--net",
	 "at most"},
};

START_TEST(test_bad_command_lines)
{
	const struct bad_case *c = &bad_cases[_i];
	char *args[10];
	char desc[256] = "";
	int argc = 0;
	struct run rn;

	for (; c->args[argc]; argc++) {
		args[argc] = (char *)c->args[argc];
		strncat(desc, c->args[argc], sizeof(desc) - strlen(desc) - 2);
		strcat(desc, " ");
	}
	run_argv(&rn, argc, args);
	ck_assert_msg(rn.r == CLI_USAGE, "[%s] returned %d, expected CLI_USAGE", desc, rn.r);
	ck_assert_msg(rn.err_len > 0, "[%s] printed no error", desc);
	ck_assert_msg(strstr(rn.err, c->needle), "[%s] error \"%s\" does not mention \"%s\"", desc,
		      rn.err, c->needle);
	if (c->needle2)
		ck_assert_msg(strstr(rn.err, c->needle2), "[%s] error \"%s\" lacks \"%s\"", desc,
			      rn.err, c->needle2);
	ck_assert_msg(rn.err[rn.err_len - 1] == '\n', "[%s] error not newline-terminated", desc);
	ck_assert_msg(rn.out_len == 0, "[%s] wrote to stdout: %s", desc, rn.out);
	run_free(&rn);
}
END_TEST

/* ------------------------------------------------------------------ --help, --version */

START_TEST(test_help_version)
{
	struct run rn;

	ck_assert_int_eq(run(&rn, "--version", NULL), CLI_EXIT);
	ck_assert_str_eq(rn.out, "dejavm " DEJAVM_VERSION "\n");
	ck_assert_uint_eq(rn.err_len, 0);
	run_free(&rn);

	ck_assert_int_eq(run(&rn, "--help", NULL), CLI_EXIT);
	ck_assert_ptr_nonnull(strstr(rn.out, "Usage:"));
	ck_assert_ptr_nonnull(strstr(rn.out, "--kernel"));
	ck_assert_ptr_nonnull(strstr(rn.out, "--memory"));
	ck_assert_uint_eq(rn.err_len, 0);
	run_free(&rn);

	ck_assert_int_eq(run(&rn, "-h", NULL), CLI_EXIT);
	ck_assert_ptr_nonnull(strstr(rn.out, "Usage:"));
	run_free(&rn);

	/* --help wins over a missing --kernel, and stops before later bad flags. */
	ck_assert_int_eq(run(&rn, "--memory", "size=8M", "--help", "--bogus", NULL), CLI_EXIT);
	ck_assert_ptr_nonnull(strstr(rn.out, "Usage:"));
	ck_assert_uint_eq(rn.err_len, 0);
	run_free(&rn);

	ck_assert_int_eq(run(&rn, "--kernel", "k", "--version", NULL), CLI_EXIT);
	ck_assert_str_eq(rn.out, "dejavm " DEJAVM_VERSION "\n");
	run_free(&rn);
}
END_TEST

/* ------------------------------------------------------------------ repeated parsing */

START_TEST(test_repeated_parse)
{
	struct run rn;

	for (int round = 0; round < 3; round++) {
		/* Stops in the middle of a short-option cluster: getopt's nextchar is left set. */
		ck_assert_int_eq(run(&rn, "-hvv", NULL), CLI_EXIT);
		run_free(&rn);

		ck_assert_int_eq(run(&rn, "--kernel", "a", "-v", "-v", "-v", "--memory", "size=32M",
				     "--stats", NULL),
				 CLI_RUN);
		ck_assert_int_eq(rn.cfg.verbosity, 3);
		ck_assert_uint_eq(rn.cfg.mem_size, 32ULL << 20);
		run_free(&rn);

		/* Nothing carries over from the previous parse. */
		ck_assert_int_eq(run(&rn, "--kernel", "b", NULL), CLI_RUN);
		ck_assert_str_eq(rn.cfg.kernel, "b");
		ck_assert_int_eq(rn.cfg.verbosity, 0);
		ck_assert_uint_eq(rn.cfg.mem_size, DEFAULT_MEM_SIZE);
		ck_assert_int_eq(rn.cfg.stats, STATS_NONE);
		run_free(&rn);

		ck_assert_int_eq(run(&rn, "--kernel", "k", "--memory", "size=1M", "-v", NULL),
				 CLI_USAGE);
		run_free(&rn);

		ck_assert_int_eq(run(&rn, "--kernel", "k", "--frobnicate", NULL), CLI_USAGE);
		run_free(&rn);

		/* --api-socket alone: no kernel needed (the API creates the VM); both forms */
		ck_assert_int_eq(run(&rn, "--api-socket", "/tmp/s", NULL), CLI_RUN);
		ck_assert_str_eq(rn.cfg.api_socket, "/tmp/s");
		ck_assert_ptr_null(rn.cfg.kernel);
		run_free(&rn);
		ck_assert_int_eq(run(&rn, "--api-socket", "path=/tmp/t", "--kernel", "k", NULL),
				 CLI_RUN);
		ck_assert_str_eq(rn.cfg.api_socket, "/tmp/t");
		run_free(&rn);

		ck_assert_int_eq(run(&rn, "--kernel", NULL), CLI_USAGE);
		run_free(&rn);

		/* A shorter argv than last time, with the option in another position. */
		ck_assert_int_eq(run(&rn, "-v", "--kernel=c", NULL), CLI_RUN);
		ck_assert_str_eq(rn.cfg.kernel, "c");
		ck_assert_int_eq(rn.cfg.verbosity, 1);
		run_free(&rn);
	}
}
END_TEST

static Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("parse_size");

	tcase_add_test(tc, test_parse_size_valid);
	tcase_add_test(tc, test_parse_size_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("cli_parse");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_all_flags_separate);
	tcase_add_test(tc, test_all_flags_equals);
	tcase_add_test(tc, test_deterministic_flags);
	tcase_add_test(tc, test_serial_modes);
	tcase_add_test(tc, test_net_flags);
	tcase_add_test(tc, test_stats_forms);
	tcase_add_test(tc, test_memory_and_cpus_values);
	tcase_add_test(tc, test_argv_not_modified);
	tcase_add_loop_test(tc, test_bad_command_lines, 0,
			    sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_help_version);
	tcase_add_test(tc, test_repeated_parse);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(cli_suite());
}
