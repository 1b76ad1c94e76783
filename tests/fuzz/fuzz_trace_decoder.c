// SPDX-License-Identifier: MIT
/*
 * The single-record decoder (trace_decoder_feed in replay/trace_reader.c), as dejavm replay
 * feeds it the records a run emits: one decoder for a sequence of records, each of them what
 * the tracer's sink hands over (an event, preceded by a sync record when it starts a frame).
 * Input: records, each a 16-bit little-endian length and that many bytes (the last one takes
 * what is left). Decoded events are printed and compared as the replayer does.
 */
#include <string.h>

#include "fuzz.h"
#include "out.h"
#include "trace_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct trace_decoder *d = trace_decoder_new();
	struct out o;

	fuzz_init();
	if (!d)
		return 0;
	out_init(&o, NULL);
	while (in.n) {
		struct trace_ev ev;
		char err[256];
		size_t len;
		const uint8_t *rec = fuzz_bytes(&in, fuzz_u16(&in), &len);

		if (trace_decoder_feed(d, rec, len, &ev, err, sizeof(err)) == 1)
			fuzz_use_event(&o, &ev);
	}
	out_free(&o);
	trace_decoder_free(d);
	return 0;
}
