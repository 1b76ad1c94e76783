// SPDX-License-Identifier: MIT
/*
 * Integration: recording survives what users do to it. SIGKILL mid-record leaves a file that is
 * readable up to its last complete frame and that dejavm-trace calls truncated; SIGTERM ends the
 * trace cleanly with its end event; a trace that cannot be written stops the VM with an error
 * instead of losing events.
 */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char *storm_path(void)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/pio-storm.elf", test_env("DEJAVM_GUEST_DIR")), 0);
	return p;
}

/* dejavm-trace SUBCOMMAND FILE [EXTRA] */
static void trace_tool(struct run_result *r, const char *cmd, const char *file, const char *extra)
{
	char *argv[] = {(char *)test_env("DEJAVM_TRACE_BIN"), (char *)cmd, (char *)file,
			(char *)extra, NULL};
	ck_assert_int_eq(run_cmd(argv, 60, 0, r), 0);
}

/* The number after "events" at the start of a line of `info` output. */
static unsigned long info_events(const char *out)
{
	const char *p = strstr(out, "\nevents ");

	ck_assert_msg(p, "no events line in: %s", out);
	return strtoul(p + strlen("\nevents "), NULL, 10);
}

START_TEST(sigkill_leaves_a_readable_truncated_trace)
{
	char *trace = test_tmpfile("killed.trace"), *storm = storm_path();
	char *argv[] = {(char *)test_env("DEJAVM_BIN"),
			"--kernel",
			storm,
			"--cmdline",
			"n=1000000000",
			"--serial",
			"null",
			"--record",
			trace,
			NULL};
	struct run_result r;

	/* Once several frames are on disk: 128 KiB is some 20,000 pio-storm events. */
	ck_assert_int_eq(run_cmd_signal_at_size(argv, 60, trace, 128 << 10, SIGKILL, &r), 0);
	ck_assert_int_eq(r.status, 128 + SIGKILL);
	run_result_free(&r);

	trace_tool(&r, "info", trace, NULL);
	ck_assert_msg(r.status == 1, "info on a killed recording: status %d\n%s%s", r.status, r.out,
		      r.err);
	ck_assert_msg(strstr(r.out, "truncated") || strstr(r.err, "truncated"), "%s%s", r.out,
		      r.err);
	ck_assert_msg(info_events(r.out) > 1000, "only %lu events survived", info_events(r.out));
	run_result_free(&r);

	/* What survived decodes: the first events are the boot writes and the first exits. */
	trace_tool(&r, "dump", trace, "--limit=3");
	ck_assert_msg(strstr(r.out, "\"type\":\"mem_write\""), "dump: %s\n%s", r.out, r.err);
	run_result_free(&r);
	unlink(trace);
	free(trace);
	free(storm);
}
END_TEST

START_TEST(sigterm_finishes_the_trace)
{
	char *trace = test_tmpfile("termed.trace"), *storm = storm_path();
	char *argv[] = {(char *)test_env("DEJAVM_BIN"),
			"--kernel",
			storm,
			"--cmdline",
			"n=1000000000",
			"--serial",
			"null",
			"--record",
			trace,
			NULL};
	struct run_result r;

	/* Once the guest runs: its first event frame is on disk. */
	ck_assert_int_eq(run_cmd_signal_at_size(argv, 60, trace, 16 << 10, SIGTERM, &r), 0);
	ck_assert_int_eq(r.status, 128 + SIGTERM);
	run_result_free(&r);

	trace_tool(&r, "info", trace, NULL);
	ck_assert_msg(r.status == 0, "info: status %d\n%s%s", r.status, r.out, r.err);
	ck_assert_msg(strstr(r.out, "complete") && !strstr(r.out, "truncated"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "status 143") && strstr(r.out, "signal"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "lost 0"), "%s", r.out);
	run_result_free(&r);
	unlink(trace);
	free(trace);
	free(storm);
}
END_TEST

START_TEST(unwritable_trace_is_refused)
{
	char *storm = storm_path();
	char *argv[] = {(char *)test_env("DEJAVM_BIN"), "--kernel", storm, "--record",
			"/nonexistent-dir/x.trace",	NULL};
	struct run_result r;

	ck_assert_int_eq(run_cmd(argv, 30, 0, &r), 0);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "/nonexistent-dir/x.trace") && strstr(r.err, "No such file"),
		      "%s", r.err);
	run_result_free(&r);
	free(storm);
}
END_TEST

START_TEST(full_disk_stops_the_vm_instead_of_dropping_events)
{
	char *storm = storm_path();
	/* /dev/full: every write fails with ENOSPC, as on a full disk. */
	char *argv[] = {(char *)test_env("DEJAVM_BIN"),
			"--kernel",
			storm,
			"--cmdline",
			"n=1000000000",
			"--serial",
			"null",
			"--record",
			"/dev/full",
			NULL};
	struct run_result r;

	ck_assert_int_eq(run_cmd(argv, 60, 0, &r), 0);
	ck_assert_msg(r.status == 1, "status %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "/dev/full") && strstr(r.err, "No space left"), "%s", r.err);
	run_result_free(&r);
	free(storm);
}
END_TEST

/*
 * A disk that fills up while the guest runs (a 2 MiB tmpfs): the first write that fails
 * stops the VM with an error naming the file, and what was written before is a truncated
 * trace that reads and replays up to its cut. Needs root to mount; CI=true (which runs as
 * root) fails without it.
 */
START_TEST(disk_full_mid_run_stops_the_vm_and_keeps_what_was_written)
{
	char *dir = test_tmpfile("tmpfs"), *storm = storm_path(), *trace;
	char *argv[] = {(char *)test_env("DEJAVM_BIN"),
			"--deterministic",
			"--kernel",
			storm,
			"--cmdline",
			"n=1000000000",
			"--serial",
			"null",
			"--record",
			NULL,
			NULL};
	char *replay[] = {(char *)test_env("DEJAVM_BIN"), "replay", NULL, NULL};
	struct run_result r;

	ck_assert_int_eq(mkdir(dir, 0700), 0);
	/*
	 * In a mount namespace of this test's own process (and the VMMs it starts): the tmpfs
	 * goes away with them, even when an assertion ends the test early.
	 */
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=2m")) {
		ck_assert_msg(!getenv("CI") || strcmp(getenv("CI"), "true"),
			      "cannot mount a tmpfs: %s (this test needs root)", strerror(errno));
		printf("disk_full_mid_run: skipped, cannot mount a tmpfs: %s\n", strerror(errno));
		rmdir(dir);
		free(dir), free(storm);
		return;
	}
	ck_assert_int_ge(asprintf(&trace, "%s/full.trace", dir), 0);
	argv[9] = trace;
	ck_assert_int_eq(run_cmd(argv, 60, 0, &r), 0);
	ck_assert_msg(r.status == 1, "status %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, trace) && strstr(r.err, "No space left"), "%s", r.err);
	run_result_free(&r);

	trace_tool(&r, "info", trace, NULL);
	ck_assert_msg(r.status == 1 && strstr(r.out, "truncated"), "%s%s", r.out, r.err);
	ck_assert_msg(info_events(r.out) > 1000, "only %lu events written before the disk filled",
		      info_events(r.out));
	run_result_free(&r);
	replay[2] = trace;
	ck_assert_int_eq(run_cmd(replay, 120, 0, &r), 0);
	ck_assert_msg(r.status == 0 && strstr(r.out, "up to the cut") &&
			      strstr(r.out, "no divergence"),
		      "status %d: %s%s", r.status, r.out, r.err);
	run_result_free(&r);

	ck_assert_int_eq(umount(dir), 0);
	rmdir(dir);
	free(trace), free(dir), free(storm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("record");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, sigkill_leaves_a_readable_truncated_trace);
	tcase_add_test(tc, sigterm_finishes_the_trace);
	tcase_add_test(tc, unwritable_trace_is_refused);
	tcase_add_test(tc, full_disk_stops_the_vm_instead_of_dropping_events);
	tcase_add_test(tc, disk_full_mid_run_stops_the_vm_and_keeps_what_was_written);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
