/*
 * fault: execute an instruction that ends the run abnormally, selected by
 * `kind` (see docs/guest-abi.md):
 *   kind=0 (default)  popcnt at CPL0      (emulation failure on PVM hosts)
 *   kind=1            triple fault        (IDT limit 0, then ud2)
 *   kind=2            cmpxchg16b at CPL0  (emulation failure on PVM hosts)
 * If execution continues past the instruction, prints
 * "fault: <name> did not fault" and exits 3; unknown kind: exits 2.
 */
#include "rt.h"

static uint64_t cx16_mem[2] __attribute__((aligned(16)));

int main(const char *cmdline)
{
	unsigned long kind = rt_arg_ulong(cmdline, "kind", 0);
	const char *name;

	switch (kind) {
	case 0: {
		name = "popcnt";
		rt_printf("fault: executing %s\n", name);
		uint64_t in = 0xf0f0, out;
		__asm__ volatile("popcnt %1, %0" : "=r"(out) : "r"(in));
		break;
	}
	case 1: {
		name = "triple fault";
		rt_printf("fault: executing %s\n", name);
		struct __attribute__((packed)) {
			uint16_t limit;
			uint64_t base;
		} idtr = {0, 0};
		__asm__ volatile("lidt %0; ud2" : : "m"(idtr));
		break;
	}
	case 2: {
		name = "cmpxchg16b";
		rt_printf("fault: executing %s\n", name);
		uint64_t lo = 0, hi = 0;
		__asm__ volatile("lock cmpxchg16b %0"
				 : "+m"(*(volatile uint64_t(*)[2])cx16_mem), "+a"(lo), "+d"(hi)
				 : "b"(1UL), "c"(2UL)
				 : "memory", "cc");
		break;
	}
	default:
		rt_printf("fault: unknown kind=%lu\n", kind);
		return 2;
	}
	rt_printf("fault: %s did not fault\n", name);
	return 3;
}
