// SPDX-License-Identifier: MIT
/*
 * What a guest reaches through port and memory accesses: PCI config space (0xCF8/0xCFC), the
 * virtio-pci transport in each device's BAR (common and device configuration, ISR,
 * notifications), MSI-X table and PBA, and behind the notifications each device model walking
 * the rings the guest wrote. The VM is built without KVM (vm_create_without_kvm) with a
 * virtio-rng, a virtio-console, a virtio-blk on a memfd and a virtio-net without a tap, as the
 * unit tests build their devices without a VM; its legacy devices (serial, CMOS, i8042, test
 * device, and in deterministic mode the PIC and PIT) sit on the same buses.
 *
 * Input: one byte (bit 0: deterministic mode, which has no MSI-X), then operations until the
 * input ends, one byte each and their arguments:
 *   0 CONFIG_ADDRESS := u32           1 read CONFIG_DATA + u8 (low 2 bits; width from bits 2-3)
 *   2 write CONFIG_DATA + u8, u32     3 config write to a slot: u8 slot, u8 register, u8 width,
 *                                       u32 (CONFIG_ADDRESS then CONFIG_DATA, as Linux does it)
 *   4 read BAR 0 of a slot: u8 slot, u16 offset, u8 width
 *   5 write BAR 0 of a slot: u8 slot, u16 offset, u8 width, u64
 *   6 any port: u16 port, u8 width and direction, u32     7 any address: u64, u8, u64
 *   8 guest memory: u32 gpa, u8 length, the bytes (the rings and buffers the devices read)
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "pci.h"
#include "vm.h"

#define RAM_SIZE (4ull << 20)

static uint32_t width(uint8_t b, bool pio)
{
	return 1u << (b % (pio ? 3 : 4)); /* ports 1, 2, 4 bytes; memory also 8 */
}

static void bus_op(struct bus *bus, uint64_t addr, uint32_t len, bool write, uint64_t value)
{
	uint8_t data[8];

	memcpy(data, &value, sizeof(data));
	bus_access(bus, addr, data, len, write);
}

static uint64_t bar0(const struct vm *vm, uint8_t slot)
{
	const struct pci_device *d = vm->pci->devs[slot % PCI_MAX_SLOTS];

	return d ? d->bar[0].addr : 0;
}

static void run(struct vm *vm, struct fuzz_in *in)
{
	while (in->n) {
		uint8_t op = fuzz_u8(in) % 9, b;
		uint64_t addr;

		switch (op) {
		case 0:
			bus_op(&vm->pio_bus, 0xcf8, 4, true, fuzz_u32(in));
			break;
		case 1:
		case 2:
			b = fuzz_u8(in);
			bus_op(&vm->pio_bus, 0xcfc + (b & 3), width(b >> 2, true), op == 2,
			       op == 2 ? fuzz_u32(in) : 0);
			break;
		case 3: {
			uint8_t slot = fuzz_u8(in) % PCI_MAX_SLOTS, reg = fuzz_u8(in);
			uint32_t len = width(fuzz_u8(in), true);

			bus_op(&vm->pio_bus, 0xcf8, 4, true,
			       0x80000000u | slot << 11 | (reg & 0xfc));
			bus_op(&vm->pio_bus, 0xcfc + (reg & 3 & ~(len - 1)), len, true,
			       fuzz_u32(in));
			break;
		}
		case 4:
		case 5:
			b = fuzz_u8(in);
			addr = bar0(vm, b) + fuzz_u16(in);
			b = fuzz_u8(in);
			bus_op(&vm->mmio_bus, addr, width(b, false), op == 5,
			       op == 5 ? fuzz_u64(in) : 0);
			break;
		case 6:
			addr = fuzz_u16(in);
			b = fuzz_u8(in);
			bus_op(&vm->pio_bus, addr, width(b, true), b & 0x80, fuzz_u32(in));
			break;
		case 7:
			addr = fuzz_u64(in);
			b = fuzz_u8(in);
			bus_op(&vm->mmio_bus, addr, width(b, false), b & 0x80, fuzz_u64(in));
			break;
		default: {
			uint64_t gpa = fuzz_u32(in) % RAM_SIZE;
			size_t len;
			const uint8_t *p = fuzz_bytes(in, fuzz_u8(in), &len);
			uint8_t *dst = gpa_to_hva(&vm->mem, gpa, len);

			if (dst)
				memcpy(dst, p, len);
			break;
		}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char disk_path[32];
	struct fuzz_in in = {data, size};
	struct vm_config cfg;
	struct vm vm;

	fuzz_init();
	if (!disk_path[0] && ftruncate(fuzz_memfd(NULL, 0, disk_path), 1 << 20))
		abort();
	config_init(&cfg);
	cfg.mem_size = RAM_SIZE;
	cfg.deterministic = fuzz_u8(&in) & 1;
	cfg.rng_path = "/dev/zero";
	cfg.rng_order = 0;
	cfg.console = CONSOLE_NULL;
	cfg.console_order = 1;
	cfg.disks[0] = (struct disk_config){
		.path = disk_path, .num_queues = 2, .queue_size = 64, .order = 2, .serial = "fuzz"};
	cfg.nets[0] = (struct net_config){.tap = "fuzz0", .order = 3, .no_tap = true};
	cfg.nr_disks = cfg.nr_nets = 1;
	cfg.nr_virtio = 4;
	fuzz_neuter_backends(&cfg, disk_path);
	if (vm_create_without_kvm(&vm, &cfg))
		abort(); /* nothing of the input went into it yet */
	run(&vm, &in);
	vm_destroy(&vm);
	return 0;
}
