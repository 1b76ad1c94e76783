/* SPDX-License-Identifier: MIT */
/*
 * cloud-hypervisor's REST API (/api/v1/vmm.*, /api/v1/vm.*) on a unix socket, served by
 * libmicrohttpd's pool of event-driven threads (a client that sends half a request holds
 * none), driving the lifecycle in vmm.h. Bodies are JSON (jansson).
 */
#ifndef DEJAVM_API_H
#define DEJAVM_API_H

#include <stddef.h>

struct vmm;
struct MHD_Daemon;

#define API_MAX_BODY (1u << 20) /* a bigger request body gets 413 */
#define API_THREADS  4		/* libmicrohttpd's pool */

struct api {
	struct MHD_Daemon *daemon;
	_Atomic unsigned int nr_waiting; /* actions on threads of their own, not yet answered */
	struct vmm *vmm;
	int fd;
	char *path;
};

/*
 * Listens on path (mode 0600): a stale socket there is replaced, a live one (another VMM) or
 * any other file is refused. 0, or -1 with a message logged.
 */
int api_start(struct api *a, struct vmm *m, const char *path);
/* Stops serving and removes the socket. */
void api_stop(struct api *a);

/*
 * One request served on the calling thread, as the server serves it but without HTTP (tests,
 * tests/fuzz): the route of method and url runs on body; returns the status, with the JSON body
 * in *json (malloc'd, NULL: none) and for 405 the method to use in *allow. The actions that
 * wait for vmm_main() (vm.boot, vm.restore, and vm.reboot, vm.shutdown, vm.delete of a built
 * VM) wait here too: without a vmm_main() running, call only the others.
 */
unsigned int api_serve(struct vmm *m, const char *method, const char *url, const char *body,
		       size_t len, char **json, const char **allow);

#endif
