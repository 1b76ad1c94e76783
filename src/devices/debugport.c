// SPDX-License-Identifier: MIT
/*
 * Port 0x80 boot-progress codes (POST codes), logged with the time since the VM started, like
 * cloud-hypervisor's debug I/O port. Shown with -v.
 */
#include "../log.h"
#include "../vm.h"

#define DEBUG_PORT 0x80

static void debugport_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	(void)len;
	log_info("boot progress: code 0x%02x", data[0]);
}

static const struct bus_ops debugport_ops = {.write = debugport_write, .byte_registers = 1};

int debugport_init(struct vm *vm)
{
	return bus_register(&vm->pio_bus, DEBUG_PORT, 1, &debugport_ops, vm, "debug-port");
}
