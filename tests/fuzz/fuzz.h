/* SPDX-License-Identifier: MIT */
/*
 * What the libFuzzer targets (tests/fuzz/fuzz_*.c) share: reading an input field by field, a
 * quiet VMM log, files the code under test opens by path, the configuration round trip that
 * the command-line and API targets check, and a VM without KVM whose devices take a snapshot.
 */
#ifndef DEJAVM_FUZZ_H
#define DEJAVM_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct vm;
struct out;
struct trace_ev;

/* The input, consumed from the front; reads past its end give zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

uint8_t fuzz_u8(struct fuzz_in *in);
uint16_t fuzz_u16(struct fuzz_in *in); /* little-endian */
uint32_t fuzz_u32(struct fuzz_in *in);
uint64_t fuzz_u64(struct fuzz_in *in);
/* Up to n bytes (fewer at the end): a pointer into the input, *got set to how many. */
const uint8_t *fuzz_bytes(struct fuzz_in *in, size_t n, size_t *got);

/*
 * Once per process: the VMM's log goes to /dev/null (set DEJAVM_FUZZ_LOG=1 to see it) and a
 * private directory is made for fuzz_path(), removed at exit.
 */
void fuzz_init(void);
/* DIR/name in the private directory (a static buffer per call site is the caller's). */
void fuzz_path(char *buf, size_t len, const char *name);
/* Writes data into path (created or truncated); aborts when it cannot, which is not a finding. */
void fuzz_write_file(const char *path, const void *data, size_t len);
/* A memfd holding data, and /proc/self/fd/N to open it by: no disk, nothing left behind. */
int fuzz_memfd(const void *data, size_t len, char path[32]);

/*
 * A configuration the VMM accepted (command line, vm.create) must survive config_pack() ->
 * config_unpack() unchanged: that is what a trace header and a snapshot keep of it, and what a
 * replay or a restore builds the VM from. Aborts, naming the field, when it does not.
 */
void fuzz_check_config_roundtrip(const struct vm_config *cfg);

/*
 * cfg's devices with backends that touch nothing outside the process: the serial port and a
 * console to null (those that are off stay off), the rng reads /dev/zero, every disk is
 * disk_path (a memfd) through the sync engine, and nets have no tap. No recording.
 */
void fuzz_neuter_backends(struct vm_config *cfg, const char *disk_path);

/*
 * A decoded event, used as the replayer and dejavm-trace use one: printed as JSON, each field
 * looked up by name, compared with itself. o is emptied after.
 */
void fuzz_use_event(struct out *o, const struct trace_ev *ev);

#endif
