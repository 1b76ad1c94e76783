/* hello: print one fixed line and exit 0.  See docs/guest-abi.md. */
#include "rt.h"

int main(const char *cmdline)
{
	(void)cmdline;
	rt_puts("hello from dejavm test guest\n");
	return 0;
}
