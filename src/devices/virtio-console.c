// SPDX-License-Identifier: MIT
/*
 * virtio-console (virtio type 3), one port, no multiport: hvc0 in Linux. Queue 1 (transmit)
 * carries the guest's output to --console null|tty|file=PATH|pty and into the trace (a `serial`
 * event with port 0x10000 + PCI slot). Queue 0 (receive) carries input, with --console pty only:
 * a thread reads the pty and fills the guest's receive buffers (recorded as dma_write). With the
 * other modes its buffers stay with the device until the guest resets it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <string.h>
#include <unistd.h>

#include "../log.h"
#include "../persist.h"
#include "../trace.h"
#include "../virtio/virtio_pci.h"
#include "../vm.h"

#define RX_QUEUE 0
#define TX_QUEUE 1
#define CHUNK	 4096
/*
 * Bytes in one chain, either way: more is malformed (DEVICE_NEEDS_RESET), so that a notification
 * cannot ask for gigabytes of output (a chain may name one large buffer many times). Linux sends
 * at most 128 descriptors (the queue, no indirect tables) of at most a page each (splice; hvc
 * writes up to a page, write() to a port 32 KiB), 512 KiB, and posts receive buffers of a page.
 */
#define MAX_CHAIN_BYTES (1u << 20)
#define TRACE_PORT_BASE 0x10000 /* serial events: virtio consoles are 0x10000 + PCI slot */

struct virtio_console {
	struct virtio_dev vdev;
	int fd; /* output, -1: discard */
	/* --console pty: the master (in and out) and a slave kept open, so the master never hangs
	 * up */
	int pty_fd, pty_slave_fd;
	struct virtio_thread input;
	/* input read from the pty that no receive buffer has taken yet (room for a restored
	 * snapshot's and what the pty gave before the restore: console_load) */
	uint8_t in[2 * CHUNK];
	size_t in_len, in_off;
};

/* Gives pending input to the guest's receive buffers; returns true when all of it went. */
static bool deliver_input(struct virtio_console *c)
{
	struct virtio_dev *d = &c->vdev;
	bool pushed = false;

	while (c->in_off < c->in_len && virtio_queue_ready(d, RX_QUEUE) &&
	       virtio_pop(d, RX_QUEUE) > 0) {
		size_t n = virtio_write_chain(d, 0, c->in + c->in_off, c->in_len - c->in_off);

		c->in_off += n;
		virtio_used(d, RX_QUEUE, d->chain.head, n);
		pushed = true;
	}
	if (pushed)
		virtio_interrupt(d, RX_QUEUE);
	return c->in_off == c->in_len;
}

/*
 * Reads the pty while the guest has room for input; when it has none, waits for its next
 * receive notification (input.wake_fd) and leaves the rest in the pty, whose buffer then fills.
 */
static void *console_input_thread(void *arg)
{
	struct virtio_console *c = arg;
	struct pollfd p[3] = {{.fd = c->input.stop_fd, .events = POLLIN},
			      {.fd = c->input.wake_fd, .events = POLLIN},
			      {.fd = c->pty_fd, .events = POLLIN}};
	bool drained = true;
	uint64_t n;

	for (;;) {
		if (poll(p, drained ? 3 : 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("virtio-console: input thread: poll: %s", strerror(errno));
			return NULL;
		}
		if (p[0].revents)
			return NULL;
		if ((p[1].revents & POLLIN) && read(c->input.wake_fd, &n, sizeof(n)) < 0)
			continue;
		pthread_mutex_lock(&c->vdev.lock);
		if (drained && (p[2].revents & POLLIN)) {
			ssize_t r = read(c->pty_fd, c->in, CHUNK);

			c->in_off = 0;
			c->in_len = r > 0 ? (size_t)r : 0;
			if (c->in_len && !virtio_queue_ready(&c->vdev, RX_QUEUE))
				log_info(
					"virtio-console: %zu bytes of input wait for a receive buffer",
					c->in_len);
		}
		drained = deliver_input(c);
		pthread_mutex_unlock(&c->vdev.lock);
		p[2].revents = 0;
	}
}

/* A new pty in raw mode; its path goes to stderr, as QEMU's and cloud-hypervisor's do. */
static int open_pty(struct virtio_console *c)
{
	struct termios t;
	const char *name;
	int r;

	c->pty_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (c->pty_fd < 0 || grantpt(c->pty_fd) || unlockpt(c->pty_fd) ||
	    !(name = ptsname(c->pty_fd)))
		goto fail;
	c->pty_slave_fd = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (c->pty_slave_fd < 0 || tcgetattr(c->pty_slave_fd, &t))
		goto fail;
	cfmakeraw(&t);
	if (tcsetattr(c->pty_slave_fd, TCSANOW, &t))
		goto fail;
	c->fd = c->pty_fd; /* output: dropped when nobody reads and the pty is full */
	fprintf(stderr, "dejavm: virtio-console (hvc0) on %s\n", name);
	return 0;
fail:
	r = -errno;
	log_err("--console pty: cannot open a pty: %s", strerror(errno));
	return r;
}

static void console_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_console *c = d->priv;
	uint8_t buf[CHUNK];

	if (q == RX_QUEUE) {
		/* New receive buffers: the input thread may go on (without one, they wait). */
		virtio_thread_wake(&c->input);
		return;
	}
	while (virtio_pop(d, q) > 0) {
		for (uint64_t off = 0; off < d->chain.out_bytes;) {
			size_t n = vq_chain_read(&d->chain, &d->vm->mem, off, buf, sizeof(buf));

			if (!n)
				break;
			if (d->vm->trace)
				trace_serial(d->vm->trace, TRACE_PORT_BASE + d->pci.slot, buf, n);
			if (c->fd == c->pty_fd && c->fd >= 0) {
				if (write(c->fd, buf, n) < 0 && errno != EAGAIN)
					log_debug("virtio-console: pty: %s", strerror(errno));
			} else if (c->fd >= 0 && write(c->fd, buf, n) != (ssize_t)n) {
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

/* The transport zeroed the queues: our limit on a chain again (see MAX_CHAIN_BYTES). */
static void console_reset(struct virtio_dev *d)
{
	d->vq[RX_QUEUE].max_chain_bytes = MAX_CHAIN_BYTES;
	d->vq[TX_QUEUE].max_chain_bytes = MAX_CHAIN_BYTES;
}

/* Input read from the pty that no receive buffer has taken yet. */
static void console_save(struct virtio_dev *d, struct msgpack_packer *pk)
{
	struct virtio_console *c = d->priv;

	msgpack_pack_map(pk, 1);
	persist_bin(pk, "input", c->in + c->in_off, c->in_len - c->in_off);
}

/*
 * The input thread runs from the start: what it read before the state was loaded stays, after
 * the snapshot's (its device still reset, it could not deliver it; the load's kick wakes it).
 */
static bool console_load(struct virtio_dev *d, struct persist_in *in)
{
	struct virtio_console *c = d->priv;
	size_t len, have = c->in_len - c->in_off;
	const void *p;

	if (!persist_get_bin(in, "input", CHUNK, &p, &len))
		return false;
	memmove(c->in + len, c->in + c->in_off, have);
	if (len) /* (an empty bin's pointer may be NULL) */
		memcpy(c->in, p, len);
	c->in_off = 0;
	c->in_len = len + have;
	return true;
}

static const struct virtio_ops console_ops = {
	.name = "virtio-console",
	.device_id = 3,
	.class_code = 0x078000, /* communication controller, other */
	.num_queues = 2,
	.queue_max = 128,
	.notify = console_notify,
	.reset = console_reset,
	.save = console_save,
	.load = console_load,
};

static void console_free(void *arg)
{
	struct virtio_console *c = arg;

	virtio_thread_stop(&c->input);
	if (c->fd > 2 && c->fd != c->pty_fd)
		close(c->fd);
	if (c->pty_fd >= 0)
		close(c->pty_fd);
	if (c->pty_slave_fd >= 0)
		close(c->pty_slave_fd);
	free(c);
}

int virtio_console_init(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct virtio_console *c;
	int r;

	if (cfg->console == CONSOLE_OFF)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c || vm_on_destroy(vm, console_free, c)) {
		free(c);
		return -ENOMEM;
	}
	c->fd = cfg->console == CONSOLE_TTY ? STDOUT_FILENO : -1;
	c->pty_fd = c->pty_slave_fd = -1;
	if (cfg->console == CONSOLE_PTY) {
		r = open_pty(c);
		if (r)
			return r;
	}
	if (cfg->console == CONSOLE_FILE) {
		c->fd = open(cfg->console_path,
			     O_WRONLY | O_CREAT | O_CLOEXEC |
				     (config_appends(cfg, OVERRIDE_CONSOLE) ? O_APPEND : O_TRUNC),
			     0644);
		if (c->fd < 0) {
			int err = -errno;

			log_err("--console file=%s: cannot open: %s", cfg->console_path,
				strerror(errno));
			return err;
		}
	}
	r = virtio_pci_add(vm, &c->vdev, &console_ops, c);
	/* The input thread takes the device lock, which virtio_pci_add() sets up. */
	if (!r && c->pty_fd >= 0)
		r = virtio_thread_start(vm, &c->input, "virtio-console", console_input_thread, c);
	return r;
}
