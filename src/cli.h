/* SPDX-License-Identifier: MIT */
/* cloud-hypervisor-style command line: --kernel, --memory size=64M, --serial file=PATH, ... */
#ifndef DEJAVM_CLI_H
#define DEJAVM_CLI_H

#include <stdio.h>
#include "config.h"

enum cli_result {
	CLI_RUN = 0,   /* configuration complete: boot the VM */
	CLI_EXIT = 1,  /* --help or --version printed: exit 0 */
	CLI_USAGE = 2, /* bad command line, message printed: exit 2 */
};

/* Parses argv into cfg (initialised with defaults first); messages go to err. */
enum cli_result cli_parse(int argc, char **argv, struct vm_config *cfg, FILE *out, FILE *err);

/*
 * "64M", "1G", "4096", "512K" (binary multiples) -> bytes. Returns 0, or -1 on junk, overflow
 * or a missing number.
 */
int parse_size(const char *s, uint64_t *bytes);
/* "52:54:00:12:34:56" -> 6 bytes; 0 or -1. */
int parse_mac(const char *s, uint8_t mac[6]);
/* --net without mac=: 52:54:00 and 3 bytes of a hash of the tap name (stable across runs). */
void default_mac(const char *tap, uint8_t mac[6]);
/*
 * What is wrong with a tap name (1 to 15 bytes, an interface name) or an IPv4 address (a
 * netmask: contiguous ones), NULL when nothing: the command line's checks, which the API and a
 * configuration read from a snapshot or a trace header make too (virtio-net relies on them).
 */
const char *tap_name_error(const char *name);
const char *ipv4_error(const char *s, bool netmask);

#endif
