// SPDX-License-Identifier: MIT
/*
 * The REST API (src/api/api.c) without its HTTP server, and cloud-hypervisor's VmConfig JSON
 * (src/api/vm_config_json.c). The input is a sequence of requests, each ended by a NUL byte
 * (the last one by the input's end): "METHOD PATH", a newline, the body. Each one is served by
 * api_serve() against one VMM that never builds a VM: vm.boot and vm.restore, which wait for
 * the main loop to build it, are skipped. Every body is also read as a VmConfig, and every
 * configuration the VMM accepts (vm.create, vm.add-*) must survive the trip through a snapshot
 * or a trace header unchanged (fuzz_check_config_roundtrip).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/vm_config_json.h"
#include "fuzz.h"
#include "vmm.h"

/* vm.create's conversion on its own, and vm.info's view of the result. */
static void read_config(const char *body, size_t len)
{
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	struct vm_config cfg;
	char err[512];

	if (!j)
		return;
	if (!config_from_json(j, &cfg, err, sizeof(err))) {
		json_t *back = config_to_json(&cfg);
		char *text = json_dumps(back, JSON_COMPACT);

		fuzz_check_config_roundtrip(&cfg);
		free(text);
		json_decref(back);
	}
	json_decref(j);
}

static void serve(struct vmm *m, char *rq, size_t len)
{
	char *nl = memchr(rq, '\n', len), *space, *json;
	const char *body = "", *allow;
	size_t body_len = 0;

	if (nl) {
		*nl = '\0';
		body = nl + 1;
		body_len = len - (nl + 1 - rq);
		read_config(body, body_len);
	}
	space = strchr(rq, ' ');
	if (!space)
		return;
	*space = '\0';
	if (!strcmp(space + 1, "/api/v1/vm.boot") || !strcmp(space + 1, "/api/v1/vm.restore"))
		return;
	api_serve(m, rq, space + 1, body, body_len, &json, &allow);
	free(json);
	if (m->state == VMM_CREATED)
		fuzz_check_config_roundtrip(&m->cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	struct vmm m;

	fuzz_init();
	if (!copy || vmm_init(&m, true)) {
		free(copy);
		return 0;
	}
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (char *p = copy; p < copy + size;) {
		size_t len = strlen(p);

		serve(&m, p, len);
		p += len + 1;
	}
	vmm_free(&m);
	free(copy);
	return 0;
}
