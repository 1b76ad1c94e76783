/* SPDX-License-Identifier: MIT */
/*
 * cloud-hypervisor's VmConfig JSON (vm.create, vm.info) <-> struct vm_config, with jansson.
 * Strict: an unknown field, a wrong type or a value out of range is an error naming the field
 * ("disks[1].queue_size: ..."). Strings point into the JSON, valid while it lives.
 */
#ifndef DEJAVM_VM_CONFIG_JSON_H
#define DEJAVM_VM_CONFIG_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "../config.h"

/* 0, or -1 with the message in err. */
int config_from_json(const json_t *j, struct vm_config *cfg, char *err, size_t len);
/* One DiskConfig / NetConfig (vm.add-disk, vm.add-net); where names it in messages. */
int disk_from_json(const json_t *j, const char *where, struct disk_config *d, char *err,
		   size_t len);
int net_from_json(const json_t *j, const char *where, struct net_config *n, char *err, size_t len);
/* RngConfig: its src. */
int rng_from_json(const json_t *j, const char *where, const char **src, char *err, size_t len);
/* The configuration as vm.info shows it (a new reference). */
json_t *config_to_json(const struct vm_config *cfg);

#endif
