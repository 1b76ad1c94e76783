// SPDX-License-Identifier: MIT
/*
 * Integration: the tiny Linux (tools/guest-kernel/build.sh) boots under dejavm to its init
 * marker and resets through the i8042, from the ELF vmlinux (PVH) and from the bzImage
 * (64-bit boot protocol). DEJAVM_LINUX_DIR names the artifact directory; without it the test
 * is skipped, unless DEJAVM_REQUIRE_LINUX=1 (as tools/test.sh sets) makes that a failure.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MARKER "dejavm-guest: init reached"

static char *artifact(const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", getenv("DEJAVM_LINUX_DIR"), name), 0);
	return p;
}

static char *kernel_cmdline(void)
{
	char *path = artifact("cmdline.txt"), *s = slurp(path);

	ck_assert_msg(s, "cannot read %s", path);
	s[strcspn(s, "\n")] = '\0';
	free(path);
	return s;
}

static void boot(const char *kernel_name, struct run_result *r)
{
	char *kernel = artifact(kernel_name), *initrd = artifact("initramfs.cpio");
	char *cmdline = kernel_cmdline();
	char *argv[] = {(char *)test_env("DEJAVM_BIN"),
			"--kernel",
			kernel,
			"--initramfs",
			initrd,
			"--cmdline",
			cmdline,
			"--memory",
			"size=64M",
			NULL};

	ck_assert_int_eq(run_cmd(argv, 300, 0, r), 0);
	free(kernel);
	free(initrd);
	free(cmdline);
}

static void assert_booted(const struct run_result *r)
{
	ck_assert_msg(r->status == 0, "status %d\n--- stdout tail:\n%s\n--- stderr:\n%s", r->status,
		      strlen(r->out) > 3000 ? r->out + strlen(r->out) - 3000 : r->out, r->err);
	ck_assert_msg(strstr(r->out, "Linux version 6.1"), "no kernel banner");
	ck_assert_msg(strstr(r->out, MARKER), "no init marker");
	/* init's look at /proc and /sys, and the reboot it asks for */
	ck_assert_ptr_nonnull(strstr(r->out, "proc/version: Linux version"));
	ck_assert_ptr_nonnull(strstr(r->out, "dejavm-guest: rebooting"));
	ck_assert_ptr_null(strstr(r->out, "dejavm-guest: error"));
	ck_assert_ptr_null(strstr(r->err, "guest failure"));
}

START_TEST(vmlinux_boots_to_init_marker)
{
	struct run_result r;

	boot("vmlinux", &r);
	assert_booted(&r);
	printf("vmlinux (PVH) boot to reset: %.1f s\n", r.secs);
	run_result_free(&r);
}
END_TEST

START_TEST(bzimage_boots_to_init_marker)
{
	struct run_result r;

	boot("bzImage", &r);
	assert_booted(&r);
	/* The 64-bit boot protocol passes our e820 map: the kernel prints it back. */
	ck_assert_ptr_nonnull(strstr(r.out, "BIOS-e820: [mem 0x0000000000100000-"));
	printf("bzImage (64-bit boot protocol) boot to reset: %.1f s\n", r.secs);
	run_result_free(&r);
}
END_TEST

int main(void)
{
	const char *dir = getenv("DEJAVM_LINUX_DIR");
	const char *require = getenv("DEJAVM_REQUIRE_LINUX");
	Suite *s;
	TCase *tc;

	if (!dir || !*dir) {
		if (require && !strcmp(require, "1")) {
			fprintf(stderr, "DEJAVM_LINUX_DIR is not set but DEJAVM_REQUIRE_LINUX=1\n");
			return 1;
		}
		printf("skipped: set DEJAVM_LINUX_DIR to the output of "
		       "tools/guest-kernel/build.sh --print-dir\n");
		return 77;
	}
	s = suite_create("linux");
	tc = tcase_create("boot");
	tcase_set_timeout(tc, 320);
	tcase_add_test(tc, vmlinux_boots_to_init_marker);
	tcase_add_test(tc, bzimage_boots_to_init_marker);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
