// SPDX-License-Identifier: MIT
/* dejavm: parse the command line, then drive the VM's lifecycle (vmm.h), with an API or not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli.h"
#include "log.h"
#include "replay.h"
#include "sandbox.h"
#include "vmm.h"

int main(int argc, char **argv)
{
	struct vm_config cfg;
	struct vmm vmm;
	struct api api = {.fd = -1};
	sigset_t sigs;
	char err[512];
	int status;

	if (argc > 1 && !strcmp(argv[1], "replay"))
		return replay_main(argc - 1, argv + 1);
	switch (cli_parse(argc, argv, &cfg, stdout, stderr)) {
	case CLI_EXIT:
		return 0;
	case CLI_USAGE:
		return EXIT_USAGE;
	case CLI_RUN:
		break;
	}
	vm_block_signals(&sigs); /* before the API, the trace writer or any vCPU thread starts */
	log_max_level = cfg.verbosity >= 2 ? LOG_DEBUG : cfg.verbosity == 1 ? LOG_INFO : LOG_WARN;
	if (log_open(cfg.log_file)) {
		fprintf(stderr, "dejavm: --log-file %s: cannot open: %m\n", cfg.log_file);
		return EXIT_USAGE;
	}
	/* From here on the process may only make the calls its threads need (sandbox.h). */
	seccomp_set_mode(cfg.seccomp);
	if (seccomp_install(SECCOMP_MAIN, "main"))
		return EXIT_VMM_ERROR;
	if (vmm_init(&vmm, cfg.api_socket != NULL)) {
		log_err("eventfd: %m");
		return EXIT_VMM_ERROR;
	}
	/*
	 * With --kernel the VM boots at once; with only --api-socket it waits for vm.create. A
	 * restored VM runs at once, or with an API waits Paused for vm.resume (cloud-hypervisor).
	 */
	if (cfg.restore_dir) {
		char url[4096];

		snprintf(url, sizeof(url), "file://%s", cfg.restore_dir);
		if (vmm_restore(&vmm, url, &cfg, cfg.api_socket != NULL, false, err, sizeof(err))) {
			log_err("--restore: %s", err);
			return EXIT_VMM_ERROR;
		}
	} else if (cfg.kernel) {
		if (vmm_create(&vmm, &cfg, err, sizeof(err))) {
			log_err("%s", err);
			return EXIT_VMM_ERROR;
		}
		vmm.boot_requested = true;
	}
	if (cfg.api_socket && api_start(&api, &vmm, cfg.api_socket)) {
		vmm_free(&vmm);
		log_close();
		return EXIT_VMM_ERROR;
	}
	status = vmm_main(&vmm);
	api_stop(&api);
	vmm_free(&vmm);
	log_close();
	return status;
}
