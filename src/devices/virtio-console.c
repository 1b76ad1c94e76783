// SPDX-License-Identifier: MIT
/*
 * virtio-console (virtio type 3), one port, no multiport: hvc0 in Linux. Queue 1 (transmit)
 * carries the guest's output to --console null|tty|file=PATH and into the trace (a `serial`
 * event with port 0x10000 + PCI slot). Queue 0 (receive) gets no input yet: its buffers stay
 * with the device until the guest resets it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../log.h"
#include "../trace.h"
#include "../virtio/virtio_pci.h"
#include "../vm.h"

#define TX_QUEUE	1
#define CHUNK		4096
#define TRACE_PORT_BASE 0x10000 /* serial events: virtio consoles are 0x10000 + PCI slot */

struct virtio_console {
	struct virtio_dev vdev;
	int fd; /* -1: discard */
};

static void console_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_console *c = d->priv;
	uint8_t buf[CHUNK];

	if (q != TX_QUEUE)
		return; /* receive buffers wait for input we do not have yet */
	while (virtio_pop(d, q) > 0) {
		for (uint64_t off = 0; off < d->chain.out_bytes;) {
			size_t n = vq_chain_read(&d->chain, &d->vm->mem, off, buf, sizeof(buf));

			if (!n)
				break;
			if (d->vm->trace)
				trace_serial(d->vm->trace, TRACE_PORT_BASE + d->pci.slot, buf, n);
			if (c->fd >= 0 && write(c->fd, buf, n) != (ssize_t)n) {
				log_warn("virtio-console: output write failed: %s; further output "
					 "dropped",
					 strerror(errno));
				c->fd = -1;
			}
			off += n;
		}
		virtio_push(d, q, d->chain.head, 0);
	}
}

static const struct virtio_ops console_ops = {
	.name = "virtio-console",
	.device_id = 3,
	.class_code = 0x078000, /* communication controller, other */
	.num_queues = 2,
	.queue_max = 128,
	.notify = console_notify,
};

static void console_free(void *arg)
{
	struct virtio_console *c = arg;

	if (c->fd > 2)
		close(c->fd);
	free(c);
}

int virtio_console_init(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct virtio_console *c;

	if (cfg->console == CONSOLE_OFF)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c || vm_on_destroy(vm, console_free, c)) {
		free(c);
		return -ENOMEM;
	}
	c->fd = cfg->console == CONSOLE_TTY ? STDOUT_FILENO : -1;
	if (cfg->console == CONSOLE_FILE) {
		c->fd = open(cfg->console_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (c->fd < 0) {
			int err = -errno;

			log_err("--console file=%s: %s", cfg->console_path, strerror(errno));
			return err;
		}
	}
	return virtio_pci_add(vm, &c->vdev, &console_ops, c);
}
