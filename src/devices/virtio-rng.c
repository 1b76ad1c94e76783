// SPDX-License-Identifier: MIT
/*
 * virtio-rng (entropy device, virtio type 4): one queue; each device-writable buffer is filled
 * from --rng src=PATH (default /dev/urandom). The bytes go into the trace (dma_write), so a
 * replay with --feed gives the guest the same ones without reading the source.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "../trace.h"
#include "../virtio/virtio_pci.h"
#include "../vm.h"

#define RNG_MAX_REQUEST 4096 /* bytes given per request, like QEMU's default */

struct virtio_rng {
	struct virtio_dev vdev;
	int fd;
	const char *path;
};

static void rng_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_rng *r = d->priv;
	uint8_t buf[RNG_MAX_REQUEST];
	int got;

	while ((got = virtio_pop(d, q)) > 0) {
		uint64_t t0 = monotonic_ns();
		size_t want = d->chain.in_bytes < sizeof(buf) ? d->chain.in_bytes : sizeof(buf);
		ssize_t n = want ? read(r->fd, buf, want) : 0;
		size_t done = 0;

		if (n < 0) {
			log_warn("virtio-rng: reading %s: %s; the request gets no bytes", r->path,
				 strerror(errno));
			n = 0;
		}
		if (n)
			done = virtio_write_chain(d, 0, buf, n);
		if (d->vm->trace)
			trace_io_done(d->vm->trace, d->pci.slot, q, d->chain.head, 0, 0, done, 0,
				      d->vm->det ? 0 : monotonic_ns() - t0,
				      vq_chain_hash(&d->chain, &d->vm->mem, true, 0, done));
		virtio_push(d, q, d->chain.head, done);
	}
}

static const struct virtio_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = 4,
	.class_code = 0xff0000, /* "unclassified device", as QEMU and cloud-hypervisor use */
	.features = 0,
	.num_queues = 1,
	.queue_max = 256,
	.notify = rng_notify,
};

int virtio_rng_init(struct vm *vm)
{
	struct virtio_rng *r;
	int err;

	if (!vm->cfg->rng_path)
		return 0;
	r = vm_own(vm, calloc(1, sizeof(*r)));
	if (!r)
		return -ENOMEM;
	r->path = vm->cfg->rng_path;
	r->fd = open(r->path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		err = -errno;
		log_err("--rng src=%s: cannot open: %s", r->path, strerror(errno));
		return err;
	}
	vm->rng_fd = r->fd;
	return virtio_pci_add(vm, &r->vdev, &rng_ops, r);
}
