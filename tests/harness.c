// SPDX-License-Identifier: MIT
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *read_fd(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char *buf = malloc(size + 1);
	ssize_t got = 0;

	if (!buf)
		return NULL;
	lseek(fd, 0, SEEK_SET);
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n <= 0)
			break;
		got += n;
	}
	buf[got] = '\0';
	return buf;
}

int run_cmd(char *const argv[], int timeout_s, int term_after_ms, struct run_result *r)
{
	return run_cmd_signal(argv, timeout_s, term_after_ms, SIGTERM, r);
}

static int run_cmd_impl(char *const argv[], int timeout_s, int term_after_ms, int sig,
			const char *watch, off_t watch_bytes, struct run_result *r);

int run_cmd_signal(char *const argv[], int timeout_s, int term_after_ms, int sig,
		   struct run_result *r)
{
	return run_cmd_impl(argv, timeout_s, term_after_ms, sig, NULL, 0, r);
}

int run_cmd_signal_at_size(char *const argv[], int timeout_s, const char *path, off_t bytes,
			   int sig, struct run_result *r)
{
	return run_cmd_impl(argv, timeout_s, 0, sig, path, bytes, r);
}

/* Sends sig after term_after_ms, or once the file watch has watch_bytes, whichever is set. */
static int run_cmd_impl(char *const argv[], int timeout_s, int term_after_ms, int sig,
			const char *watch, off_t watch_bytes, struct run_result *r)
{
	int out = memfd_create("stdout", MFD_CLOEXEC), err = memfd_create("stderr", MFD_CLOEXEC);
	double t0 = now();
	bool termed = false;
	struct stat st;
	pid_t pid;
	int ws;

	memset(r, 0, sizeof(*r));
	if (out < 0 || err < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(devnull, STDIN_FILENO);
		dup2(out, STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t w = waitpid(pid, &ws, WNOHANG);
		double t = now() - t0;

		if (w == pid)
			break;
		if (!termed && ((term_after_ms > 0 && t * 1000 >= term_after_ms) ||
				(watch && !stat(watch, &st) && st.st_size >= watch_bytes))) {
			kill(pid, sig);
			termed = true;
		}
		if (t > timeout_s) {
			kill(pid, SIGKILL);
			waitpid(pid, &ws, 0);
			r->status = -1;
			goto done;
		}
		usleep(2000);
	}
	r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
done:
	r->secs = now() - t0;
	r->out = read_fd(out);
	r->err = read_fd(err);
	close(out);
	close(err);
	return 0;
}

void run_result_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

const char *test_env(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v && *v, "environment variable %s is not set (run through meson test)", name);
	return v;
}

char *test_tmpfile(const char *tag)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	static unsigned int seq;
	char *path;

	if (asprintf(&path, "%s/dejavm-test-%d-%u-%s", dir, getpid(), seq++, tag) < 0)
		return NULL;
	unlink(path);
	return path;
}

char *slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *s;

	if (fd < 0)
		return NULL;
	s = read_fd(fd);
	close(fd);
	return s;
}

void *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	*len = n;
	return buf;
}

void test_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}
