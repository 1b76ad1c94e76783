/*
 * hello: print one fixed line and end the VM.  Arguments (docs/guest-abi.md):
 *   status=N   exit through the test-exit port with status N (default 0)
 *   reset=1    end through an i8042 reset (0xfe to port 0x64) instead
 *   compute=N  first count to N in memory without an exit (a computation, not a wait: no
 *              fixed point), between "hello: computing" and "hello: computed N"
 */
#include "rt.h"

static volatile unsigned long counter;

int main(const char *cmdline)
{
	unsigned long n = rt_arg_ulong(cmdline, "compute", 0);

	if (n) {
		rt_puts("hello: computing\n");
		while (counter < n)
			counter++;
		rt_printf("hello: computed %lu\n", counter);
	}
	rt_puts("hello from dejavm test guest\n");
	if (rt_arg_ulong(cmdline, "reset", 0))
		outb(0x64, 0xfe);
	return (int)(rt_arg_ulong(cmdline, "status", 0) & 0xff);
}
