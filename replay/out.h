/* SPDX-License-Identifier: MIT */
/* Buffered output, JSON encoding and comparison of events, progress bar (dejavm-trace, replay). */
#ifndef DEJAVM_TRACE_TOOL_OUT_H
#define DEJAVM_TRACE_TOOL_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trace_reader.h"

#define EXIT_OK	     0
#define EXIT_DIFFERS 1 /* also: the file is truncated or damaged, or cannot be read */
#define EXIT_USAGE   2

/* An output buffer: stdout, a file, or memory (f == NULL). */
struct out {
	FILE *f;
	char *buf;
	size_t len, cap;
	bool failed;
};

void out_init(struct out *o, FILE *f);
void out_free(struct out *o);
int out_flush(struct out *o); /* -1 if a write failed */
void out_mem(struct out *o, const void *p, size_t n);
void out_s(struct out *o, const char *s);
void out_c(struct out *o, char c);
void out_u64(struct out *o, uint64_t v);
void out_i64(struct out *o, int64_t v);
void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string: UTF-8 decoded (each invalid byte becomes U+FFFD), escaped as json.dumps does. */
void out_json_str(struct out *o, const void *p, size_t n);
void out_hex(struct out *o, const void *p, size_t n); /* lowercase, no quotes */
/* Any msgpack object as JSON: bin as a hex string, ext as {"ext":T,"data":hex}. */
void out_json_obj(struct out *o, const msgpack_object *obj);
/* ns as microseconds with 3 decimals, exact. */
void out_us(struct out *o, uint64_t ns);
/* The dump form of an event: {"seq":..,"ts":..,"stream":..,"type":"pio",<fields>} (no \n). */
void out_event_json(struct out *o, const struct trace_ev *ev);

/* Progress on stderr while reading r, only when stderr is a tty. */
struct progress {
	bool on;
	uint64_t total, last_ns, ticks;
	const char *what;
};
void progress_init(struct progress *p, const struct trace_reader *r, const char *what);
void progress_tick(struct progress *p, const struct trace_reader *r);
void progress_done(struct progress *p);

/* Opens a trace or prints the error; NULL then. */
struct trace_reader *open_trace(const char *path);
/* Prints the reader's problems to stderr; returns EXIT_OK if the file was complete. */
int report_status(const struct trace_reader *r);

bool parse_u64(const char *s, uint64_t *v); /* decimal or 0x hex */
/* "--opt=value" or "--opt value": returns the value and advances *i; NULL if not this option. */
const char *opt_value(int argc, char **argv, int *i, const char *name);
bool want_help(int argc, char **argv);

const char *exit_reason_str(uint64_t reason, char *buf, size_t len);

int cmd_info(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_schema(int argc, char **argv);

/*
 * Compares two events, ignoring ts and end.stall_ns (host time): appends "name (A x, B y)" for
 * each differing part to o and returns how many differ (0: equal).
 */
int trace_ev_diff(const struct trace_ev *a, const struct trace_ev *b, struct out *o);
/* One differing part, as trace_ev_diff writes it: "name (A x, B y)", after ", " unless *n is 0. */
void out_field_diff(struct out *o, int *n, const char *name, const msgpack_object *a,
		    const msgpack_object *b);

#endif
