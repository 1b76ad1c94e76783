// SPDX-License-Identifier: MIT
/*
 * The part of the i8042 keyboard controller a guest needs to reset the machine: command 0xFE
 * on port 0x64 pulses the reset line, which ends the VM with status 0 (Linux: reboot=k).
 * No keyboard or mouse: the status register always says "buffers empty".
 */
#include "../vm.h"

#define I8042_DATA_PORT	   0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET	   0xfe

static void i8042_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	for (uint32_t i = 0; i < len; i++)
		data[i] = 0;
}

static void i8042_command(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct vm *vm = opaque;

	(void)off;
	(void)len;
	if (data[0] == I8042_CMD_RESET)
		vm_request_stop(vm, 0, "guest reset through the i8042 controller");
}

static const struct bus_ops i8042_data_ops = {.read = i8042_read, .byte_registers = 1};
static const struct bus_ops i8042_command_ops = {
	.read = i8042_read, .write = i8042_command, .byte_registers = 1};

int i8042_init(struct vm *vm)
{
	/* 0x60 and 0x64 only: 0x61 is the PIT's speaker port. */
	int r = bus_register(&vm->pio_bus, I8042_DATA_PORT, 1, &i8042_data_ops, vm, "i8042");

	return r ? r
		 : bus_register(&vm->pio_bus, I8042_COMMAND_PORT, 1, &i8042_command_ops, vm,
				"i8042");
}
