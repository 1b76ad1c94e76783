// SPDX-License-Identifier: MIT
/*
 * Encode + compress throughput of the recorder, in events per second: a vCPU-like producer
 * emits exit/pio pairs shaped like a pio-storm through the real emitters into a real trace
 * file, with the writer thread compressing. Run it under `taskset -c 0` to keep producer and
 * writer on one core (tools/bench/record.py does).
 * Usage: trace_encode [EVENTS] [FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trace.h"

static void pack_header(msgpack_packer *pk, void *ctx)
{
	(void)ctx;
	msgpack_pack_map(pk, 1);
	msgpack_pack_str_with_body(pk, "format", 6);
	msgpack_pack_str_with_body(pk, TRACE_FORMAT_NAME, strlen(TRACE_FORMAT_NAME));
}

static void on_error(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s\n", msg);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 10000000;
	const char *path = argc > 2 ? argv[2] : "/tmp/dejavm-trace-encode.trace";
	struct tracer *t = trace_open(path, 3, pack_header, NULL, on_error);
	double t0, t1;

	if (!t) {
		perror(path);
		return 1;
	}
	trace_attach_thread(t, 0);
	trace_start_clock(t);
	t0 = now();
	for (unsigned long i = 0; i < n / 4; i++) {
		uint32_t v = (uint32_t)i * 0x9E3779B1u + 1;

		trace_exit(t, 2, 0x101000);
		trace_pio(t, 0x510, 4, 1, v, 1);
		trace_exit(t, 2, 0x101008);
		trace_pio(t, 0x510, 4, 0, ~v, 1);
	}
	if (trace_close(t))
		return 1;
	t1 = now();
	printf("%lu events in %.3f s: %.2f M events/s (encode + zstd + write)\n", n / 4 * 4,
	       t1 - t0, n / 4 * 4 / (t1 - t0) / 1e6);
	return 0;
}
