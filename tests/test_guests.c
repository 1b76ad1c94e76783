// SPDX-License-Identifier: MIT
/*
 * Integration: dejavm boots each test guest; serial output, exit status, the failure report and
 * the --stats counters are checked against what the guest really did.
 */
#include <check.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <unistd.h>

#include "harness.h"

static char guest_path[4096];

static const char *guest(const char *name)
{
	snprintf(guest_path, sizeof(guest_path), "%s/%s.elf", test_env("DEJAVM_GUEST_DIR"), name);
	return guest_path;
}

/* Runs dejavm with up to 12 extra arguments (NULL-terminated). */
static void dejavm(struct run_result *r, int timeout_s, int term_after_ms, ...)
{
	char *argv[16] = {(char *)test_env("DEJAVM_BIN")};
	va_list ap;
	int n = 1;

	va_start(ap, term_after_ms);
	while (n < 15 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	ck_assert_int_eq(run_cmd(argv, timeout_s, term_after_ms, r), 0);
}

/* The number after "key": in a flat JSON text (first occurrence after "after"). */
static uint64_t json_u64(const char *json, const char *after, const char *key)
{
	char pat[64];
	const char *p = strstr(json, after);

	ck_assert_msg(p, "'%s' not in stats: %s", after, json);
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(p, pat);
	ck_assert_msg(p, "'%s' not in stats: %s", key, json);
	return strtoull(p + strlen(pat), NULL, 10);
}

START_TEST(hello_prints_its_line)
{
	struct run_result r;

	dejavm(&r, 30, 0, "--kernel", guest("hello"), NULL);
	ck_assert_msg(r.status == 0, "status %d, stderr: %s", r.status, r.err);
	ck_assert_str_eq(r.out, "hello from dejavm test guest\n");
	ck_assert_str_eq(r.err, "");
	run_result_free(&r);
}
END_TEST

START_TEST(test_exit_status_is_passed_through)
{
	struct run_result r;

	dejavm(&r, 30, 0, "--kernel", guest("hello"), "--cmdline", "status=42", NULL);
	ck_assert_int_eq(r.status, 42);
	run_result_free(&r);
}
END_TEST

START_TEST(i8042_reset_ends_with_status_0)
{
	struct run_result r;

	dejavm(&r, 30, 0, "--kernel", guest("hello"), "--cmdline", "reset=1 status=9", "-v", NULL);
	ck_assert_msg(r.status == 0, "status %d, stderr: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "i8042"));
	run_result_free(&r);
}
END_TEST

START_TEST(pio_storm_counts_every_round_trip)
{
	struct run_result r;

	dejavm(&r, 60, 0, "--kernel", guest("pio-storm"), "--cmdline", "n=1000", "--stats=json",
	       NULL);
	ck_assert_msg(r.status == 0, "status %d, stderr: %s", r.status, r.err);
	ck_assert_msg(strstr(r.out, "pio-storm: n=1000 checksum=0x67f9f9b60c24fd4c mismatches=0"),
		      "output: %s", r.out);
	/* n reads and n writes on the test register, plus the runtime's serial and port 0x80. */
	uint64_t in = json_u64(r.err, "\"pio\":{", "in"), out = json_u64(r.err, "\"pio\":{", "out");
	ck_assert_msg(in >= 1000 && in < 1200, "pio in %" PRIu64, in);
	ck_assert_msg(out >= 1000 && out < 1200, "pio out %" PRIu64, out);
	ck_assert_uint_eq(json_u64(r.err, "\"pio\":{", "unhandled"), 0);
	/* Writes to the test register may wait in KVM's coalesced ring instead of exiting. */
	uint64_t coalesced = json_u64(r.err, "\"pio\":{", "coalesced");
	ck_assert_uint_le(coalesced, 1000);
	ck_assert_uint_eq(json_u64(r.err, "\"exits\"", "io"), in + out - coalesced);
	run_result_free(&r);
}
END_TEST

START_TEST(mmio_storm_counts_every_access)
{
	struct run_result r;

	dejavm(&r, 60, 0, "--kernel", guest("mmio-storm"), "--cmdline", "n=500", "--stats=json",
	       NULL);
	ck_assert_msg(r.status == 0, "status %d, stderr: %s", r.status, r.err);
	ck_assert_msg(strstr(r.out, "mmio-storm: n=500 checksum=0x") &&
			      strstr(r.out, "mismatches=0"),
		      "output: %s", r.out);
	/* 500 32-bit round trips and one 64-bit one: exactly 501 reads and 501 writes. */
	ck_assert_uint_eq(json_u64(r.err, "\"mmio\":{", "read"), 501);
	ck_assert_uint_eq(json_u64(r.err, "\"mmio\":{", "write"), 501);
	ck_assert_uint_eq(json_u64(r.err, "\"exits\"", "mmio"),
			  1002 - json_u64(r.err, "\"mmio\":{", "coalesced"));
	run_result_free(&r);
}
END_TEST

START_TEST(timer_counts_pit_interrupts)
{
	struct run_result r;

	dejavm(&r, 60, 0, "--kernel", guest("timer"), "--cmdline", "hz=1000 ticks=50", NULL);
	ck_assert_msg(r.status == 0, "status %d, out: %s, err: %s", r.status, r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "timer: 50 ticks at 1000 Hz"));
	/* (The rate is host time here; the deterministic tests check it on virtual time.) */
	run_result_free(&r);
}
END_TEST

static void assert_report(const struct run_result *r, const char *what)
{
	ck_assert_msg(r->status == 3, "status %d, stderr: %s", r->status, r->err);
	ck_assert_msg(strstr(r->err, what), "no '%s' in: %s", what, r->err);
	ck_assert_ptr_nonnull(strstr(r->err, "RIP 0x"));
	ck_assert_ptr_nonnull(strstr(r->err, "instruction bytes at RIP: "));
	ck_assert_ptr_nonnull(strstr(r->err, "RFLAGS 0x"));
	ck_assert_ptr_nonnull(strstr(r->err, "CR3 0x"));
}

START_TEST(fault_unemulated_instruction_is_reported)
{
	struct run_result r;

	dejavm(&r, 30, 0, "--kernel", guest("fault"), "--cmdline", "kind=0", NULL);
	ck_assert_ptr_nonnull(strstr(r.out, "fault: executing popcnt"));
	if (strstr(r.out, "did not fault")) {
		/* Real VT-x/AMD-V runs POPCNT natively: the guest says so and exits 3. */
		ck_assert_int_eq(r.status, 3);
	} else {
		assert_report(&r, "KVM_EXIT_INTERNAL_ERROR");
		/* POPCNT RAX,RAX is f3 48 0f b8 c0: the report shows the bytes at RIP. */
		ck_assert_msg(strstr(r.err, "instruction bytes at RIP: f3 48 0f b8"), "%s", r.err);
	}
	run_result_free(&r);
}
END_TEST

START_TEST(fault_triple_fault_is_reported)
{
	struct run_result r;

	dejavm(&r, 30, 0, "--kernel", guest("fault"), "--cmdline", "kind=1", NULL);
	ck_assert_ptr_nonnull(strstr(r.out, "fault: executing triple fault"));
	assert_report(&r, "KVM_EXIT_SHUTDOWN");
	ck_assert_msg(strstr(r.err, "instruction bytes at RIP: 0f 0b"), "%s", r.err); /* ud2 */
	run_result_free(&r);
}
END_TEST

START_TEST(serial_to_file_null_and_off)
{
	struct run_result r;
	char *path = test_tmpfile("serial"), *opt, *text;

	ck_assert_int_ge(asprintf(&opt, "file=%s", path), 0);
	dejavm(&r, 30, 0, "--kernel", guest("hello"), "--serial", opt, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "");
	text = slurp(path);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, "hello from dejavm test guest\n");
	free(text);
	run_result_free(&r);

	dejavm(&r, 30, 0, "--kernel", guest("hello"), "--serial", "null", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "");
	run_result_free(&r);

	/* No UART at all: the guest's writes go nowhere but it still runs to its exit. */
	dejavm(&r, 30, 0, "--kernel", guest("hello"), "--serial", "off", "--stats=json", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "");
	ck_assert_uint_gt(json_u64(r.err, "\"pio\":{", "unhandled"), 0);
	run_result_free(&r);
	unlink(path);
	free(path);
	free(opt);
}
END_TEST

START_TEST(log_file_gets_boot_progress)
{
	struct run_result r;
	char *path = test_tmpfile("log"), *text;

	dejavm(&r, 30, 0, "--kernel", guest("hello"), "-v", "--log-file", path, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.err, "");
	text = slurp(path);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, "boot progress: code 0x01") &&
			      strstr(text, "boot progress: code 0x02"),
		      "log: %s", text);
	free(text);
	run_result_free(&r);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(stats_text_report)
{
	struct run_result r;

	dejavm(&r, 30, 0, "--kernel", guest("hello"), "--stats", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.err, "dejavm stats: run time "));
	ck_assert_ptr_nonnull(strstr(r.err, "  io "));
	run_result_free(&r);
}
END_TEST

START_TEST(sigterm_stops_a_running_guest)
{
	struct run_result r;

	/* 10^9 round trips would take hours: only the signal can end this run. */
	dejavm(&r, 30, 300, "--kernel", guest("pio-storm"), "--cmdline", "n=1000000000", NULL);
	ck_assert_int_eq(r.status, 128 + 15);
	ck_assert_msg(r.secs < 10, "took %.1f s to stop", r.secs);
	run_result_free(&r);
}
END_TEST

START_TEST(bad_kernel_files_are_refused)
{
	struct run_result r;
	char *path = test_tmpfile("junk.elf");
	FILE *f = fopen(path, "w");

	fputs("\x7f"
	      "ELF\x01 this is a 32-bit ELF header, cut short",
	      f);
	fclose(f);
	dejavm(&r, 30, 0, "--kernel", path, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, path) && strstr(r.err, "32-bit"), "%s", r.err);
	run_result_free(&r);

	dejavm(&r, 30, 0, "--kernel", "/nonexistent/vmlinux", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "/nonexistent/vmlinux: cannot open"), "%s", r.err);
	run_result_free(&r);

	dejavm(&r, 30, 0, "--kernel", guest("hello"), "--initramfs", "/nonexistent/initrd", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "/nonexistent/initrd"), "%s", r.err);
	run_result_free(&r);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(bad_command_lines_exit_2)
{
	static const char *const bad[][3] = {
		{"--memory", "size=12Q", NULL}, {"--cpus", "boot=2", NULL},
		{"--serial", "pty", NULL},	{"--stats=xml", NULL, NULL},
		{"--bogus", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run_result r;

		dejavm(&r, 30, 0, "--kernel", guest("hello"), bad[i][0], bad[i][1], NULL);
		ck_assert_msg(r.status == 2, "%s %s: status %d", bad[i][0], bad[i][1], r.status);
		ck_assert_msg(strstr(r.err, "dejavm: "), "%s: no message", bad[i][0]);
		ck_assert_str_eq(r.out, "");
		run_result_free(&r);
	}
}
END_TEST

/* A hostile virtio driver: every malformed ring is refused with DEVICE_NEEDS_RESET and a log
 * line naming the problem, in both modes, and the device works again after a reset. */
START_TEST(malformed_virtqueues_are_reported_not_fatal)
{
	static const char *const problems[] = {
		"address 0x4001000 length 64 outside guest memory",
		"chain longer than the queue",
		"next 100 >= queue size 8",
		"length 4294967295 outside guest memory",
		"VIRTIO_F_INDIRECT_DESC not negotiated",
		"avail idx moved by 100 > queue size 8",
		"device-readable descriptor after a device-writable one",
		"descriptor table at 0x3ffffc0 (128 bytes) is outside guest memory",
	};
	struct run_result r;

	for (int det = 0; det < 2; det++) {
		dejavm(&r, 60, 0, "--kernel", guest("virtio-bad"), "--rng", "src=/dev/urandom",
		       "--memory", "size=64M", det ? "--deterministic" : NULL, NULL);
		ck_assert_msg(r.status == 0, "status %d\nstdout: %s\nstderr: %s", r.status, r.out,
			      r.err);
		ck_assert_ptr_nonnull(strstr(r.out, "9 of 9 cases reported, device recovered"));
		for (size_t i = 0; i < sizeof(problems) / sizeof(problems[0]); i++)
			ck_assert_msg(strstr(r.err, problems[i]), "no '%s' in: %s", problems[i],
				      r.err);
		run_result_free(&r);
	}
	/* Without the device the guest says so instead of poking at nothing. */
	dejavm(&r, 60, 0, "--kernel", guest("virtio-bad"), NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "no virtio-rng at 00:01.0"));
	run_result_free(&r);
}
END_TEST

/* Writes a 1 MiB image of 0xab bytes; returns its path (free it). */
static char *blk_image(void)
{
	char *path = test_tmpfile("disk");
	static uint8_t buf[1 << 20];

	memset(buf, 0xab, sizeof(buf));
	test_write_file(path, buf, sizeof(buf));
	return path;
}

/* Sector s of the image is all `byte`, or the guest's write pattern when pattern is set. */
static void check_sector(const uint8_t *img, unsigned int s, int byte, bool pattern)
{
	for (unsigned int i = 0; i < 512; i++) {
		uint8_t want = pattern ? (uint8_t)((s - 100) * 512 * 7 + i * 7 + 1) : (uint8_t)byte;

		ck_assert_msg(img[s * 512 + i] == want, "sector %u byte %u: 0x%02x, want 0x%02x", s,
			      i, img[s * 512 + i], want);
	}
}

/* Every virtio-blk request type, against the image file itself; read-only and an EIO too. */
START_TEST(virtio_blk_requests_reach_the_image)
{
	static const char *const modes[] = {"", ",io_engine=sync", ",readonly=on", "eio", "det"};

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		bool ro = !strcmp(modes[m], ",readonly=on"), eio = !strcmp(modes[m], "eio");
		char *img_path = blk_image(), disk[4200];
		struct run_result r;
		uint8_t *img;
		size_t img_len;

		snprintf(disk, sizeof(disk), "path=%s,serial=test-serial-123%s", img_path,
			 modes[m][0] == ',' ? modes[m] : "");
		if (eio)
			setenv("DEJAVM_TEST_BLK_EIO", "1",
			       1); /* the first backend I/O: the write */
		dejavm(&r, 60, 0, "--kernel", guest("virtio-blk-io"), "--disk", disk,
		       !strcmp(modes[m], "det") ? "--deterministic" : NULL, NULL);
		unsetenv("DEJAVM_TEST_BLK_EIO");
		ck_assert_msg(r.status == 0, "%s: status %d: %s", modes[m], r.status, r.err);
		ck_assert_ptr_nonnull(strstr(r.out, ro ? "read-only 1" : "read-only 0"));
		ck_assert_ptr_nonnull(strstr(r.out, "id 'test-serial-123'\n"));
		ck_assert_ptr_nonnull(strstr(r.out, ro || eio ? "write sector 100: status 1"
							      : "write sector 100: status 0"));
		ck_assert_ptr_nonnull(
			strstr(r.out, ro || eio ? "read back DIFFERS" : "read back matches"));
		ck_assert_ptr_nonnull(strstr(r.out, ro ? "write zeroes sectors 200-207: status 1"
						       : "write zeroes sectors 200-207: status 0"));
		ck_assert_ptr_nonnull(strstr(r.out, "read past the end: status 1"));
		ck_assert_ptr_nonnull(strstr(r.out, "read of 100 bytes: status 1"));
		ck_assert_ptr_nonnull(strstr(r.out, "read of 40 KiB in one buffer: status 1"));
		ck_assert_ptr_nonnull(strstr(r.out, "unknown type 99: status 2"));
		ck_assert_ptr_nonnull(strstr(r.out, "virtio-blk-io: done"));
		/* What is on disk: the write (unless refused or failed), zeroes, nothing else. */
		img = test_read_file(img_path, &img_len);
		ck_assert_uint_eq(img_len, 1 << 20);
		for (unsigned int s2 = 0; s2 < 2048; s2++) {
			bool written = s2 >= 100 && s2 < 108 && !ro && !eio;
			bool zeroed = ((s2 >= 200 && s2 < 208) || (s2 >= 300 && s2 < 308)) && !ro;

			check_sector(img, s2, zeroed ? 0 : 0xab, written);
		}
		free(img);
		unlink(img_path);
		free(img_path);
		run_result_free(&r);
	}
}
END_TEST

/* How many times needle occurs in haystack. */
static unsigned int count_of(const char *haystack, const char *needle)
{
	unsigned int n = 0;

	for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/*
 * Work a notification cannot ask for: one head in every avail entry (each device would serve
 * it 8 times), and a virtio-console chain naming one 64 MiB buffer 63 times, alone and in all
 * 128 entries (4 GiB, then 512 GiB of output: over a minute of one notification before). Each
 * is refused with DEVICE_NEEDS_RESET before anything is served, in both modes.
 */
START_TEST(virtio_repeated_heads_and_oversized_chains_are_refused)
{
	char *img_path = blk_image(), disk[4200];

	snprintf(disk, sizeof(disk), "path=%s", img_path);
	for (int det = 0; det < 2; det++) {
		struct run_result r;

		dejavm(&r, 60, 0, "--kernel", guest("virtio-repeat"), "--disk", disk, "--rng",
		       "src=/dev/urandom", "--console", "null", "--memory", "size=128M",
		       det ? "--deterministic" : NULL, NULL);
		ck_assert_msg(r.status == 0, "status %d\nstdout: %s\nstderr: %s", r.status, r.out,
			      r.err);
		ck_assert_msg(strstr(r.out, "5 of 5 cases refused, every device recovered"), "%s",
			      r.out);
		/* Named as what they are: the repetition, and the device's limit on a chain. */
		ck_assert_uint_eq(count_of(r.err, "both hold head 0 (made available twice before "
						  "it was used); the device needs a reset"),
				  4);
		ck_assert_msg(strstr(r.err, "virtio-console at 00:03.0: descriptor 0: total "
					    "device-readable length 67108864 exceeds the 1048576 "
					    "bytes this device takes in a chain"),
			      "%s", r.err);
		run_result_free(&r);
	}
	unlink(img_path);
	free(img_path);
}
END_TEST

/* A flood of malformed disk requests: each is used, and the log gets 10 lines and a summary. */
START_TEST(virtio_blk_malformed_requests_are_logged_a_few_times)
{
	char *img_path = blk_image(), disk[4200];

	snprintf(disk, sizeof(disk), "path=%s", img_path);
	for (int det = 0; det < 2; det++) {
		struct run_result r;
		char summary[4400];

		dejavm(&r, 60, 0, "--kernel", guest("virtio-blk-io"), "--disk", disk, "--cmdline",
		       "bad=5000", det ? "--deterministic" : NULL, NULL);
		ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
		ck_assert_ptr_nonnull(strstr(r.out, "5000 malformed requests, 5000 used"));
		ck_assert_uint_eq(count_of(r.err, "without header or status byte"), 10);
		snprintf(summary, sizeof(summary),
			 "virtio-blk %s: malformed requests: 4990 more like the above were not "
			 "shown as warnings",
			 img_path);
		ck_assert_msg(count_of(r.err, summary) == 1, "%s", r.err);
		run_result_free(&r);
	}
	unlink(img_path);
	free(img_path);
}
END_TEST

/*
 * The ISA devices have byte registers: a wider access is one per byte, lowest port first, as
 * QEMU makes it (a 16-bit write to the CMOS index port writes the data port too). The VMM's own
 * PIC serves deterministic mode only (KVM's drops wider writes).
 */
START_TEST(legacy_devices_take_wide_accesses_a_byte_at_a_time)
{
	for (int det = 0; det < 2; det++) {
		struct run_result r;

		dejavm(&r, 60, 0, "--kernel", guest("legacy-width"), "--cmdline",
		       det ? "pic=1" : "", det ? "--deterministic" : NULL, NULL);
		ck_assert_msg(r.status == 0, "status %d\nstdout: %s\nstderr: %s", r.status, r.out,
			      r.err);
		ck_assert_msg(strstr(r.out, det ? "10 of 10 checks held" : "9 of 9 checks held"),
			      "%s", r.out);
		run_result_free(&r);
	}
}
END_TEST

/*
 * i8042 commands 0xF0-0xFF pulse output lines whose bit is clear; line 0 resets the machine
 * (QEMU: any such even command resets). Odd ones, and other commands, do not.
 */
START_TEST(i8042_pulse_commands_reset_when_they_pulse_line_0)
{
	static const struct {
		const char *arg;
		bool resets;
	} cases[] = {
		{"i8042=0xfe", true},  {"i8042=0xf0", true},  {"i8042=0xf2", true},
		{"i8042=0xfa", true},  {"i8042w=0xfe", true}, {"i8042=0xff", false},
		{"i8042=0xf1", false}, {"i8042=0xfd", false}, {"i8042=0xee", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run_result r;

		dejavm(&r, 30, 0, "--kernel", guest("legacy-width"), "--cmdline", cases[i].arg,
		       "-v", NULL);
		if (cases[i].resets) {
			ck_assert_msg(r.status == 0 && strstr(r.err, "reset through the i8042"),
				      "%s: status %d, %s%s", cases[i].arg, r.status, r.out, r.err);
		} else {
			ck_assert_msg(r.status == 7 && strstr(r.out, "did not reset"),
				      "%s: status %d, %s%s", cases[i].arg, r.status, r.out, r.err);
			ck_assert_ptr_null(strstr(r.err, "reset through the i8042"));
		}
		run_result_free(&r);
	}
}
END_TEST

/*
 * The guest sets the CMOS clock (with register B's SET bit, and without) and it runs on from
 * there: in deterministic mode from --rtc-epoch and the virtual clock, to the second.
 */
START_TEST(rtc_time_writes_set_the_clock)
{
	for (int det = 0; det < 2; det++) {
		struct run_result r;

		dejavm(&r, 60, 0, "--kernel", guest("rtc-set"), det ? "--deterministic" : NULL,
		       NULL);
		ck_assert_msg(r.status == 0, "status %d\nstdout: %s\nstderr: %s", r.status, r.out,
			      r.err);
		ck_assert_msg(strstr(r.out, "rtc-set: 14 of 14 checks held"), "%s", r.out);
		if (det) {
			ck_assert_msg(strstr(r.out, "rtc-set: before: 2020-01-01 00:00:00\n") &&
					      strstr(r.out, "rtc-set: after reads: 2031-06-15 "
							    "12:00:56 weekday 1\n"),
				      "%s", r.out);
		}
		run_result_free(&r);
	}
}
END_TEST

START_TEST(version_and_help)
{
	struct run_result r;

	dejavm(&r, 10, 0, "--version", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "dejavm "));
	run_result_free(&r);
	dejavm(&r, 10, 0, "--help", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "--kernel"));
	run_result_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("guests");
	TCase *tc = tcase_create("boot");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, hello_prints_its_line);
	tcase_add_test(tc, test_exit_status_is_passed_through);
	tcase_add_test(tc, i8042_reset_ends_with_status_0);
	tcase_add_test(tc, pio_storm_counts_every_round_trip);
	tcase_add_test(tc, mmio_storm_counts_every_access);
	tcase_add_test(tc, timer_counts_pit_interrupts);
	tcase_add_test(tc, fault_unemulated_instruction_is_reported);
	tcase_add_test(tc, fault_triple_fault_is_reported);
	tcase_add_test(tc, serial_to_file_null_and_off);
	tcase_add_test(tc, log_file_gets_boot_progress);
	tcase_add_test(tc, stats_text_report);
	tcase_add_test(tc, sigterm_stops_a_running_guest);
	tcase_add_test(tc, bad_kernel_files_are_refused);
	tcase_add_test(tc, bad_command_lines_exit_2);
	tcase_add_test(tc, malformed_virtqueues_are_reported_not_fatal);
	tcase_add_test(tc, virtio_blk_requests_reach_the_image);
	tcase_add_test(tc, virtio_repeated_heads_and_oversized_chains_are_refused);
	tcase_add_test(tc, virtio_blk_malformed_requests_are_logged_a_few_times);
	tcase_add_test(tc, legacy_devices_take_wide_accesses_a_byte_at_a_time);
	tcase_add_test(tc, i8042_pulse_commands_reset_when_they_pulse_line_0);
	tcase_add_test(tc, rtc_time_writes_set_the_clock);
	tcase_add_test(tc, version_and_help);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
