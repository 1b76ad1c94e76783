/* SPDX-License-Identifier: MIT */
/* Runs dejavm (or any program) as a child with a time limit and captures its output. */
#ifndef DEJAVM_TEST_HARNESS_H
#define DEJAVM_TEST_HARNESS_H

#include <check.h>
#include <sys/types.h>

struct run_result {
	int status;  /* exit status; 128+N when killed by signal N; -1 when the time limit hit */
	char *out;   /* NUL-terminated stdout */
	char *err;   /* NUL-terminated stderr */
	double secs; /* wall time */
};

/*
 * argv[0] is run as is (a path). If term_after_ms > 0, SIGTERM is sent after that long.
 * Returns 0 when the child could be run.
 */
int run_cmd(char *const argv[], int timeout_s, int term_after_ms, struct run_result *r);
/* The same, sending signal sig (instead of SIGTERM) after signal_after_ms. */
int run_cmd_signal(char *const argv[], int timeout_s, int signal_after_ms, int sig,
		   struct run_result *r);
/*
 * The same, sending sig once the file at path has at least bytes (a recording that has written
 * that much): a state to wait for, not a delay that a slow host may not meet.
 */
int run_cmd_signal_at_size(char *const argv[], int timeout_s, const char *path, off_t bytes,
			   int sig, struct run_result *r);
void run_result_free(struct run_result *r);

/* Runs every test of s (forked, as check does by default); returns main()'s exit status. */
int run_suite(Suite *s);

/* getenv() that fails the test with a clear message when the variable is missing. */
const char *test_env(const char *name);

/* A fresh file name under $TMPDIR (or /tmp) for this test; caller frees. */
char *test_tmpfile(const char *tag);

/* Reads a whole text file; NULL when it cannot be read. Caller frees. */
char *slurp(const char *path);

/* A whole binary file, its size in *len (fails the test if it cannot be read). Caller frees. */
void *test_read_file(const char *path, size_t *len);
/* Writes len bytes to path, replacing it (fails the test if it cannot). */
void test_write_file(const char *path, const void *data, size_t len);

#endif
