// SPDX-License-Identifier: MIT
/*
 * The test device the project's guests use (docs/guest-abi.md):
 *   PIO 0x501   write: end the VM with the byte written as dejavm's exit status (a wider write:
 *               its low byte, as QEMU's isa-debug-exit takes the value of any width)
 *   PIO 0x510   32-bit register: a read returns ~(last value written)
 *   MMIO 0xfe000000 (4 KiB): offset 0 a 32-bit, offset 8 a 64-bit register, same semantics
 * The registers make every read depend on the VMM having routed the previous write right.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../persist.h"
#include "../vm.h"

#define TESTDEV_EXIT_PORT 0x501
#define TESTDEV_REG_PORT  0x510
#define TESTDEV_MMIO_BASE 0xfe000000ULL
#define TESTDEV_MMIO_SIZE 0x1000

struct testdev {
	struct vm *vm;
	uint32_t pio_reg;
	uint32_t mmio_reg32;
	uint64_t mmio_reg64;
};

static void exit_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct testdev *t = opaque;

	(void)off;
	(void)len;
	vm_request_stop(t->vm, data[0], "guest test-exit with status %u", data[0]);
}

/*
 * The registers have byte lanes, like a device register with byte enables: an access of any
 * width at any offset reads or writes the register bytes it covers (little-endian), and nothing
 * else; bytes where there is no register read as 0.
 */
static uint8_t *reg_byte(struct testdev *t, bool mmio, uint64_t off)
{
	if (!mmio)
		return off < 4 ? (uint8_t *)&t->pio_reg + off : NULL;
	if (off < 4)
		return (uint8_t *)&t->mmio_reg32 + off;
	return off >= 8 && off < 16 ? (uint8_t *)&t->mmio_reg64 + (off - 8) : NULL;
}

static void lanes_read(struct testdev *t, bool mmio, uint64_t off, uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		const uint8_t *b = reg_byte(t, mmio, off + i);

		data[i] = b ? (uint8_t) ~*b : 0; /* a read returns the complement */
	}
}

static void lanes_write(struct testdev *t, bool mmio, uint64_t off, const uint8_t *data,
			uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		uint8_t *b = reg_byte(t, mmio, off + i);

		if (b)
			*b = data[i];
	}
}

static void reg_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	lanes_read(opaque, false, off, data, len);
}

static void reg_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	lanes_write(opaque, false, off, data, len);
}

static void mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	lanes_read(opaque, true, off, data, len);
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	lanes_write(opaque, true, off, data, len);
}

#define TESTDEV_STATE(F)    \
	F(UINT, pio_reg)    \
	F(UINT, mmio_reg32) \
	F(UINT, mmio_reg64)

static void testdev_save(void *opaque, msgpack_packer *pk)
{
	PERSIST_SAVE(pk, (struct testdev *)opaque, TESTDEV_STATE);
}

static bool testdev_load(void *opaque, struct persist_in *in)
{
	return PERSIST_LOAD(in, (struct testdev *)opaque, TESTDEV_STATE);
}

static const struct bus_ops exit_ops = {.write = exit_write, .byte_registers = 1};
static const struct bus_ops reg_ops = {.read = reg_read, .write = reg_write};
static const struct bus_ops mmio_ops = {.read = mmio_read, .write = mmio_write};

int testdev_init(struct vm *vm)
{
	struct testdev *t = vm_own(vm, calloc(1, sizeof(struct testdev)));
	int r;

	if (!t)
		return -1;
	t->vm = vm;
	r = bus_register(&vm->pio_bus, TESTDEV_EXIT_PORT, 1, &exit_ops, t, "test-exit");
	if (!r)
		r = bus_register(&vm->pio_bus, TESTDEV_REG_PORT, 4, &reg_ops, t, "test-reg");
	if (!r)
		r = bus_register(&vm->mmio_bus, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE, &mmio_ops, t,
				 "test-mmio");
	/*
	 * Register writes only store a value for the next read, which is itself an exit: they
	 * can wait in KVM's coalesced ring (the drain before that read applies them in order).
	 */
	if (!r) {
		vm_coalesce_writes(vm, true, TESTDEV_REG_PORT, 4);
		vm_coalesce_writes(vm, false, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE);
		r = vm_persist(vm, "testdev", testdev_save, testdev_load, t, NULL);
	}
	return r;
}
