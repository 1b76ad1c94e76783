/* SPDX-License-Identifier: MIT */
/*
 * The VM configuration as one msgpack map: the trace header's "config" and a snapshot's. Every
 * field of struct vm_config that shapes the VM is there (docs/trace-format.md, Header); the
 * host-side ones (log file, API socket, --stats, the exit budget and spin limit, which never
 * change a deterministic trace) are not.
 */
#ifndef DEJAVM_CONFIG_MSGPACK_H
#define DEJAVM_CONFIG_MSGPACK_H

#include <msgpack.h>
#include <stdbool.h>

#include "config.h"

/*
 * kernel, initramfs, cmdline, serial_path, rng, console_path; each disk's path, serial,
 * io_engine, id; each net's tap, mac, ip, mask, id
 */
#define CONFIG_MAX_STRINGS (6 + 4 * MAX_DISKS + 5 * MAX_NETS)

/* Copies of a decoded configuration's strings. */
struct config_strings {
	char *s[CONFIG_MAX_STRINGS];
	unsigned int n;
};

/*
 * disk_identity: each disk's size and XXH3-128, read now (the trace header: a --feed replay
 * needs the size, a --live one checks the content).
 */
void config_pack(msgpack_packer *pk, const struct vm_config *cfg, bool disk_identity);
/*
 * cfg from map (config_init() first), strings copied into strs. Every problem is reported
 * through say(ctx, "config.FIELD: ...") and counted: returns how many (0: cfg is complete).
 */
int config_unpack(const msgpack_object *map, struct vm_config *cfg, struct config_strings *strs,
		  void (*say)(void *ctx, const char *msg), void *ctx);
void config_strings_free(struct config_strings *strs);

#endif
