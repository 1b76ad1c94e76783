// SPDX-License-Identifier: MIT
/*
 * The command line (cli_parse in src/cli.c): the input is the arguments after "dejavm", each
 * ended by a NUL byte (the last one by the input's end), at most 64 of them. cli_parse only
 * parses (it opens and creates nothing); what it prints goes to /dev/null. A configuration it
 * accepts must survive the trip through a trace header or a snapshot unchanged
 * (fuzz_check_config_roundtrip), as `dejavm replay` and a restore rebuild the VM from that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	char *argv[MAX_ARGS + 2], *copy = malloc(size + 1);
	struct vm_config cfg;
	int argc = 0;

	fuzz_init();
	if (!null && !(null = fopen("/dev/null", "w")))
		abort();
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[argc++] = "dejavm";
	for (char *p = copy; argc <= MAX_ARGS && p < copy + size; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	if (cli_parse(argc, argv, &cfg, null, null) == CLI_RUN && !cfg.restore_dir)
		fuzz_check_config_roundtrip(&cfg);
	free(copy);
	return 0;
}
