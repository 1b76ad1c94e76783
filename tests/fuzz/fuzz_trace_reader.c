// SPDX-License-Identifier: MIT
/*
 * The trace reader on a whole file (replay/trace_reader.c): the input is the file. It is opened
 * as dejavm-trace and dejavm replay open one, every event is delivered in seq order and printed
 * as `dejavm-trace dump` prints it, and what `info` shows is read: status, problems, frames, the
 * index, and the checkpoints: their payloads restored into the VM of the header's configuration,
 * as `dejavm replay --from` does.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config_msgpack.h"
#include "fuzz.h"
#include "out.h"
#include "trace_reader.h"
#include "vm.h"

/* More events than any seed holds; an input that makes more (a zstd bomb) is only cut short. */
#define MAX_EVENTS	(1u << 16)
#define MAX_CHECKPOINTS 8
#define MAX_RAM		(64ull << 20) /* the VM a checkpoint is restored into */

static void read_info(struct trace_reader *r)
{
	const struct trace_status *st = trace_reader_status(r);
	const struct trace_frame_info *frames;
	const struct trace_index_entry *index;
	const char *const *problems;
	size_t n;
	volatile uint64_t sum = st->events + st->missing + st->raw_bytes;

	frames = trace_reader_frames(r, &n);
	for (size_t i = 0; i < n; i++)
		sum += frames[i].offset + frames[i].nevents + frames[i].first_seq;
	index = trace_reader_index(r, &n);
	for (size_t i = 0; i < n; i++)
		sum += index[i].base_seq + index[i].nevents;
	problems = trace_reader_problems(r, &n);
	for (size_t i = 0; i < n; i++)
		sum += strlen(problems[i]);
	sum += trace_reader_pos(r) + trace_reader_first_seq(r);
	(void)sum;
}

/*
 * What `dejavm replay --from` does before it runs: the VM of the header's configuration (here
 * without KVM and kernel, its backends kept inside the process), and the checkpoints up to the
 * one it starts from into it: their memory runs, and the last one's state.
 */
static void read_checkpoints(struct trace_reader *r)
{
	static char disk_path[32];
	struct config_strings strs = {0};
	struct vm_config cfg;
	struct vm vm;
	bool built = false;
	size_t n;

	if (!disk_path[0] && ftruncate(fuzz_memfd(NULL, 0, disk_path), 1 << 20))
		abort();
	config_init(&cfg);
	trace_reader_checkpoints(r, &n);
	if (!config_unpack(trace_obj_get(trace_reader_header(r), "config"), &cfg, &strs, NULL,
			   NULL) &&
	    n && cfg.deterministic && cfg.mem_size <= MAX_RAM) {
		fuzz_neuter_backends(&cfg, disk_path);
		built = !vm_create_without_kvm(&vm, &cfg);
		if (!built)
			vm_destroy(&vm);
	}
	for (size_t i = 0; i < n && i < MAX_CHECKPOINTS; i++) {
		size_t len;
		char *err, msg[512];
		void *payload = trace_reader_checkpoint_payload(r, i, &len, &err);

		if (payload && built)
			checkpoint_restore(&vm, payload, len,
					   i + 1 == n || i + 1 == MAX_CHECKPOINTS, msg,
					   sizeof(msg));
		free(payload);
		free(err);
	}
	if (built)
		vm_destroy(&vm);
	config_strings_free(&strs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace_reader *r;
	struct trace_ev ev;
	struct out o;
	char path[32], *err = NULL;
	unsigned int n = 0;
	int fd;

	fuzz_init();
	fd = fuzz_memfd(data, size, path);
	r = trace_reader_open(path, &err);
	close(fd); /* the reader maps the file */
	if (!r) {
		free(err);
		return 0;
	}
	read_checkpoints(r);
	out_init(&o, NULL);
	while (n++ < MAX_EVENTS && trace_reader_next(r, &ev) > 0)
		fuzz_use_event(&o, &ev);
	out_free(&o);
	read_info(r);
	trace_reader_close(r);
	return 0;
}
