// SPDX-License-Identifier: MIT
/* dejavm: parse the command line, build the VM, run it, report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "replay.h"
#include "vm.h"

int main(int argc, char **argv)
{
	struct vm_config cfg;
	struct vm vm;
	sigset_t sigs;
	int status;

	if (argc > 1 && !strcmp(argv[1], "replay"))
		return replay_main(argc - 1, argv + 1);
	switch (cli_parse(argc, argv, &cfg, stdout, stderr)) {
	case CLI_EXIT: return 0;
	case CLI_USAGE: return EXIT_USAGE;
	case CLI_RUN: break;
	}
	vm_block_signals(&sigs); /* before the trace writer or any vCPU thread starts */
	log_max_level = cfg.verbosity >= 2 ? LOG_DEBUG : cfg.verbosity == 1 ? LOG_INFO : LOG_WARN;
	if (log_open(cfg.log_file)) {
		fprintf(stderr, "dejavm: --log-file %s: cannot open: %m\n", cfg.log_file);
		return EXIT_USAGE;
	}
	if (vm_create(&vm, &cfg) || vm_load(&vm) || (cfg.record_path && record_start(&vm))) {
		vm_destroy(&vm);
		log_close();
		return EXIT_VMM_ERROR;
	}
	status = vm_run(&vm);
	if (record_finish(&vm, status) && status == 0)
		status = EXIT_VMM_ERROR; /* the trace is incomplete: say so in the status too */
	if (cfg.stats == STATS_TEXT)
		stats_print_text(&vm.stats, stderr);
	else if (cfg.stats == STATS_JSON)
		stats_print_json(&vm.stats, stderr);
	vm_destroy(&vm);
	log_close();
	return status;
}
