/*
 * hello: print one fixed line and end the VM.  Arguments (docs/guest-abi.md):
 *   status=N  exit through the test-exit port with status N (default 0)
 *   reset=1   end through an i8042 reset (0xfe to port 0x64) instead
 */
#include "rt.h"

int main(const char *cmdline)
{
	rt_puts("hello from dejavm test guest\n");
	if (rt_arg_ulong(cmdline, "reset", 0))
		outb(0x64, 0xfe);
	return (int)(rt_arg_ulong(cmdline, "status", 0) & 0xff);
}
