/*
 * mmio-storm: n round trips through the MMIO test register at 0xfe000000
 * (32-bit, offset 0): write v, r = read; the device returns ~v.  Same
 * checksum and output rules as pio-storm, plus one 64-bit round trip at
 * offset 8: if it fails, an extra line is printed before the summary line
 * (mismatches= counts the 32-bit loop only) and the exit status is 1.
 * See docs/guest-abi.md.
 */
#include "rt.h"

int main(const char *cmdline)
{
	unsigned long n = rt_arg_ulong(cmdline, "n", 1000);
	uint64_t checksum = 0;
	unsigned long mismatches = 0;

	for (unsigned long i = 0; i < n; i++) {
		uint32_t v = (uint32_t)i * 0x9E3779B1u + 1;
		mmio_write32(RT_MMIO_TESTDEV, v);
		uint32_t r = mmio_read32(RT_MMIO_TESTDEV);
		checksum = checksum * 31 + r;
		if (__builtin_expect((r ^ v) != 0xffffffffu, 0)) /* r != ~v */
			mismatches++;
	}

	uint64_t v64 = 0x0123456789abcdefULL ^ n;
	mmio_write64(RT_MMIO_TESTDEV + 8, v64);
	uint64_t r64 = mmio_read64(RT_MMIO_TESTDEV + 8);
	if (r64 != ~v64) {
		rt_printf(
			"mmio-storm: 64-bit register: wrote 0x%016lx read 0x%016lx (expected 0x%016lx)\n",
			v64, r64, ~v64);
	}

	rt_printf("mmio-storm: n=%lu checksum=0x%016lx mismatches=%lu\n", n, checksum, mismatches);
	return (mismatches || r64 != ~v64) ? 1 : 0;
}
