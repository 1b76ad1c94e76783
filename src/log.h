/* SPDX-License-Identifier: MIT */
/* VMM diagnostics: levels, optional log file, timestamps relative to VM start. */
#ifndef DEJAVM_LOG_H
#define DEJAVM_LOG_H

#include <stdint.h>
#include <stdio.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_max_level;

/* Opens PATH for the log (NULL: stderr). Returns 0 or -errno. */
int log_open(const char *path);
void log_close(void);
/* Marks t=0 for the "+x.xxxs" prefix (the moment the first vCPU starts). */
void log_start_clock(void);
/* CLOCK_MONOTONIC in nanoseconds: the one host clock for durations (stats, latencies). */
uint64_t monotonic_ns(void);
/* Nanoseconds since log_start_clock(). */
unsigned long long log_elapsed_ns(void);

/*
 * The calling thread's first log_err() message since log_clear_error() ("" if none): the cause
 * of a failure, for an API's error response.
 */
const char *log_first_error(void);
void log_clear_error(void);
/* How many errors the calling thread has logged: a caller tells whether a callee said why. */
unsigned long log_error_count(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Messages about something a guest can repeat at will (a device's malformed requests): *count
 * counts them; the first LOG_CAPPED_WARN are warnings, the rest debug messages, so that a guest
 * cannot flood the log. log_capped_summary() then says, once, how many were not warnings.
 */
#define LOG_CAPPED_WARN 10
void log_capped(unsigned int *count, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "WHO: N more ..." when count passed LOG_CAPPED_WARN; nothing otherwise. who is printf-style. */
void log_capped_summary(unsigned int count, const char *who, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)  log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (log_max_level >= LOG_DEBUG)          \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
