/*
 * virtio-console-echo: reads one line of input from the virtio-console at 00:01.0 (run with
 * `dejavm --console pty` and write a line to the pty) through receive buffers of 5 bytes, so
 * input longer than a buffer must be split across chains, and prints it on COM1 as
 * "virtio-console-echo: line '<text>'" followed by "virtio-console-echo: done".
 */
#include "rt.h"
#include "virtio.h"

#define RX_BUF	 VQ_BUF /* VQ_SIZE buffers, 16 bytes apart */
#define RX_LEN	 5
#define MAX_LINE 120

int main(const char *cmdline)
{
	char line[MAX_LINE + 1];
	unsigned int len = 0, chains = 0;
	uint16_t seen = 0, idx = 0;

	(void)cmdline;
	if (virtio_find(1, 3)) {
		rt_printf("virtio-console-echo: no virtio-console at 00:01.0\n");
		return 1;
	}
	virtio_setup(VQ_RING, 0); /* queue 0: receive */
	for (uint16_t i = 0; i < VQ_SIZE; i++) {
		vdesc[i] = (struct vdesc){RX_BUF + 16 * i, RX_LEN, VD_WRITE, 0};
		vavail[2 + i] = i;
	}
	idx = VQ_SIZE;
	vavail[1] = idx;
	vw16(VC_NOTIFY, 0);
	rt_printf("virtio-console-echo: receive buffers posted\n");
	while (len < MAX_LINE && (!len || line[len - 1] != '\n')) {
		unsigned long spin;
		uint32_t id, n;

		/* A thread of the VMM fills the buffers: wait for the used entry. */
		for (spin = 0; vused[1] == seen && spin < 50000000UL; spin++)
			__asm__ volatile("" : : : "memory");
		if (vused[1] == seen) {
			rt_printf("virtio-console-echo: no input\n");
			return 1;
		}
		id = vused_at(VQ_RING, seen)->id;
		n = vused_at(VQ_RING, seen)->len;
		seen++;
		chains++;
		if (id >= VQ_SIZE || n > RX_LEN) {
			rt_printf("virtio-console-echo: bad used entry %u len %u\n", id, n);
			return 1;
		}
		for (uint32_t i = 0; i < n && len < MAX_LINE; i++)
			line[len++] = ((const char *)(RX_BUF + 16 * id))[i];
		virtio_submit((uint16_t)id, ++idx); /* give the buffer back */
	}
	line[len && line[len - 1] == '\n' ? len - 1 : len] = 0;
	rt_printf("virtio-console-echo: line '%s' in %u chains\n", line, chains);
	rt_printf("virtio-console-echo: done\n");
	return 0;
}
