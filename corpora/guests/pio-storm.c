/*
 * pio-storm: n round trips through the PIO test register (port 0x510):
 * outl(v), r = inl(); the device returns ~v.  Prints a uint64 checksum
 * (checksum = checksum * 31 + r, starting at 0) and the number of mismatches
 * (r != ~v).  Exit 0 iff there was no mismatch.  See docs/guest-abi.md.
 * The loop is benchmarked: keep it tight and print nothing inside it.
 */
#include "rt.h"

int main(const char *cmdline)
{
	unsigned long n = rt_arg_ulong(cmdline, "n", 1000);
	uint64_t checksum = 0;
	unsigned long mismatches = 0;

	for (unsigned long i = 0; i < n; i++) {
		uint32_t v = (uint32_t)i * 0x9E3779B1u + 1;
		outl(RT_PORT_TESTDEV, v);
		uint32_t r = inl(RT_PORT_TESTDEV);
		checksum = checksum * 31 + r;
		if (__builtin_expect((r ^ v) != 0xffffffffu, 0)) /* r != ~v */
			mismatches++;
	}
	rt_printf("pio-storm: n=%lu checksum=0x%016lx mismatches=%lu\n", n, checksum, mismatches);
	return mismatches ? 1 : 0;
}
