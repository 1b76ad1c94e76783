// SPDX-License-Identifier: MIT
/*
 * The part of the i8042 keyboard controller a guest needs to reset the machine: a command on
 * port 0x64 that pulses the reset line ends the VM with status 0 (Linux: reboot=k writes 0xFE).
 * No keyboard or mouse: the status register always says "buffers empty".
 */
#include "../vm.h"

#define I8042_DATA_PORT	   0x60
#define I8042_COMMAND_PORT 0x64
/*
 * Commands 0xF0-0xFF pulse output port lines 0-3 low for a moment: a bit clear in the command's
 * low nibble names a line to pulse. Line 0 is the CPU's reset: 0xFE is the usual command, but any
 * even one of them resets (as in QEMU); 0xFF pulses nothing.
 */
#define I8042_CMD_PULSE	      0xf0
#define I8042_PULSE_RESET_BIT 0x01

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
	if ((data[0] & I8042_CMD_PULSE) == I8042_CMD_PULSE && !(data[0] & I8042_PULSE_RESET_BIT))
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
