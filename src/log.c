// SPDX-License-Identifier: MIT
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <time.h>

enum log_level log_max_level = LOG_WARN;
static FILE *log_file;
static __thread char first_error[256];
static __thread unsigned long errors;

unsigned long log_error_count(void)
{
	return errors;
}

const char *log_first_error(void)
{
	return first_error;
}

void log_clear_error(void)
{
	first_error[0] = '\0';
}
static struct timespec log_t0;

int log_open(const char *path)
{
	if (!path)
		return 0;
	FILE *f = fopen(path, "a");
	if (!f)
		return -errno;
	setvbuf(f, NULL, _IOLBF, 0);
	log_file = f;
	return 0;
}

void log_close(void)
{
	if (log_file)
		fclose(log_file);
	log_file = NULL;
}

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

void log_start_clock(void)
{
	clock_gettime(CLOCK_MONOTONIC, &log_t0);
}

unsigned long long log_elapsed_ns(void)
{
	struct timespec now;

	if (!log_t0.tv_sec && !log_t0.tv_nsec)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - log_t0.tv_sec) * 1000000000ULL + now.tv_nsec - log_t0.tv_nsec;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	FILE *out = log_file ? log_file : stderr;
	unsigned long long ns = log_elapsed_ns();
	va_list ap;

	errors += level == LOG_ERROR;
	if (level == LOG_ERROR && !first_error[0]) { /* the cause, for log_first_error() */
		va_start(ap, fmt);
		vsnprintf(first_error, sizeof(first_error), fmt, ap);
		va_end(ap);
	}
	if (level > log_max_level)
		return;
	/* Before the VM runs there is no useful time to show. */
	if (log_t0.tv_sec || log_t0.tv_nsec)
		fprintf(out, "dejavm[+%llu.%06llus] %s: ", ns / 1000000000ULL, ns / 1000 % 1000000,
			names[level]);
	else
		fprintf(out, "dejavm: %s: ", names[level]);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}

void log_capped(unsigned int *count, const char *fmt, ...)
{
	enum log_level level = *count < LOG_CAPPED_WARN ? LOG_WARN : LOG_DEBUG;
	char msg[512];
	va_list ap;

	if (*count < UINT_MAX)
		++*count;
	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(level, "%s", msg);
}

void log_capped_summary(unsigned int count, const char *who, ...)
{
	char name[256];
	va_list ap;

	if (count <= LOG_CAPPED_WARN)
		return;
	va_start(ap, who);
	vsnprintf(name, sizeof(name), who, ap);
	va_end(ap);
	log_warn("%s: %s%u more like the above were not shown as warnings (-vv shows each)", name,
		 count == UINT_MAX ? "at least " : "", count - LOG_CAPPED_WARN);
}
