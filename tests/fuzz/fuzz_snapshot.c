// SPDX-License-Identifier: MIT
/*
 * The snapshot reader (src/snapshot.c) and the device loaders behind it (src/persist.c and each
 * device's): snapshot_open() on a directory whose state.msgpack and memory files come from the
 * input, then, as a restore does, the VM built from its configuration (without KVM, its
 * devices' backends kept inside the process: fuzz_neuter_backends) and snapshot_restore():
 * the memory runs, the virtual clock, every part (PCI bus and config spaces, serial, CMOS, test
 * device, PIC and PIT, each virtio transport, its queues, MSI-X and device state), the exit
 * counters, KVM's coalesced writes and the trace position. Normal-mode snapshots stop at KVM's
 * irqchip state, which only KVM can take, and no snapshot's vCPUs are loaded (there are none).
 *
 * Input: a 32-bit little-endian length, that many bytes of state.msgpack, and the memory file.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "snapshot.h"
#include "vm.h"

#define MAX_RAM (64ull << 20) /* what the fuzzer maps per input; larger snapshots stop at open */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[128], state_path[160], mem_path[160], disk_path[32];
	struct fuzz_in in = {data, size};
	const uint8_t *state, *memory;
	size_t state_len, mem_len;
	struct vm_config cfg;
	struct snapshot *s;
	struct vm vm;
	char err[512];

	fuzz_init();
	if (!dir[0]) {
		fuzz_path(dir, sizeof(dir), "snapshot");
		snprintf(state_path, sizeof(state_path), "%s/%s", dir, SNAPSHOT_STATE_FILE);
		snprintf(mem_path, sizeof(mem_path), "%s/%s", dir, SNAPSHOT_MEMORY_FILE);
		if (mkdir(dir, 0700) || ftruncate(fuzz_memfd(NULL, 0, disk_path), 1 << 20))
			abort();
	}
	state = fuzz_bytes(&in, fuzz_u32(&in), &state_len);
	memory = fuzz_bytes(&in, in.n, &mem_len);
	fuzz_write_file(state_path, state, state_len);
	fuzz_write_file(mem_path, memory, mem_len);
	s = snapshot_open(dir, false, err, sizeof(err));
	if (!s)
		return 0;
	cfg = *snapshot_config(s);
	fuzz_neuter_backends(&cfg, disk_path);
	if (cfg.mem_size <= MAX_RAM) {
		if (!vm_create_without_kvm(&vm, &cfg))
			snapshot_restore(s, &vm, err, sizeof(err));
		vm_destroy(&vm);
	}
	snapshot_close(s);
	return 0;
}
