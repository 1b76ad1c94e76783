// SPDX-License-Identifier: MIT
/*
 * virtio-blk device model vs raw io_uring, on the same file, in one run:
 *   - 4 KiB random reads at queue depth 32
 *   - sequential 1 MiB reads (one 1 MiB data buffer per request)
 * The device side is dejavm's real code path: a VM's guest memory, PCI bus and virtio-blk
 * (virtio_blk_add), driven through its BAR like a guest driver (MMIO bus accesses), with QD
 * requests put in the avail ring before each notification. The peer is liburing reading the
 * same offsets into the same amount of memory, QD at a time. Both sides check every request
 * completed (the device: used index and status bytes). Prints MB/s and the ratio.
 *
 * usage: blk_bench FILE [--seconds S]   (FILE: a raw image, e.g. 256 MiB; page cache warm)
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pci.h"
#include "virtio/virtio_pci.h"
#include "vm.h"

#define QD	 32
#define RING_GPA 0x100000ULL
#define HDR_GPA	 0x200000ULL
#define DATA_GPA 0x400000ULL /* QD buffers of up to 1 MiB */
#define BAR	 PCI_WIN_MMIO32_BASE

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void mmio_w(struct vm *vm, uint64_t off, uint64_t v, uint32_t len)
{
	bus_access(&vm->mmio_bus, BAR + off, (uint8_t *)&v, len, true);
}

/* The driver's side of virtio 1.x setup for queue 0 (no interrupts wanted: we poll used). */
static void driver_setup(struct vm *vm)
{
	mmio_w(vm, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	mmio_w(vm, VIRTIO_PCI_COMMON_STATUS, 3, 1);
	mmio_w(vm, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	mmio_w(vm, VIRTIO_PCI_COMMON_GF, 1, 4);
	mmio_w(vm, VIRTIO_PCI_COMMON_STATUS, 11, 1);
	mmio_w(vm, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	mmio_w(vm, VIRTIO_PCI_COMMON_Q_SIZE, 128, 2);
	mmio_w(vm, VIRTIO_PCI_COMMON_Q_DESCLO, RING_GPA, 4);
	mmio_w(vm, VIRTIO_PCI_COMMON_Q_AVAILLO, RING_GPA + 0x1000, 4);
	mmio_w(vm, VIRTIO_PCI_COMMON_Q_USEDLO, RING_GPA + 0x2000, 4);
	mmio_w(vm, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	mmio_w(vm, VIRTIO_PCI_COMMON_STATUS, 15, 1);
}

/* QD read requests of `len` bytes at the given sectors, then one notification. */
static void device_batch(struct vm *vm, const uint64_t *sector, uint32_t len, uint16_t *idx)
{
	struct vring_desc *desc = gpa_to_hva(&vm->mem, RING_GPA, 16 * 128);
	uint16_t *avail = gpa_to_hva(&vm->mem, RING_GPA + 0x1000, 4 + 2 * 128);
	uint16_t *used = gpa_to_hva(&vm->mem, RING_GPA + 0x2000, 4 + 8 * 128);

	avail[0] = VRING_AVAIL_F_NO_INTERRUPT;
	for (unsigned int i = 0; i < QD; i++) {
		struct virtio_blk_outhdr *h = gpa_to_hva(&vm->mem, HDR_GPA + 32 * i, 32);

		*h = (struct virtio_blk_outhdr){VIRTIO_BLK_T_IN, 0, sector[i]};
		((uint8_t *)h)[16] = 0xff; /* the status byte: the device must overwrite it */
		desc[3 * i] =
			(struct vring_desc){HDR_GPA + 32 * i, 16, VRING_DESC_F_NEXT, 3 * i + 1};
		desc[3 * i + 1] =
			(struct vring_desc){DATA_GPA + (uint64_t)i * (1 << 20), len,
					    VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3 * i + 2};
		desc[3 * i + 2] =
			(struct vring_desc){HDR_GPA + 32 * i + 16, 1, VRING_DESC_F_WRITE, 0};
		avail[2 + (*idx + i) % 128] = 3 * i;
	}
	*idx += QD;
	__atomic_store_n(&avail[1], *idx, __ATOMIC_RELEASE);
	mmio_w(vm, VIRTIO_PCI_NOTIFY_OFF, 0, 2); /* notify queue 0: the device serves the batch */
	/* Served at the notify (no I/O thread here): all of them used, and every one OK. */
	for (unsigned int i = 0; i < QD; i++) {
		const uint8_t *status = gpa_to_hva(&vm->mem, HDR_GPA + 32 * i + 16, 1);

		if (__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) != *idx || *status) {
			fprintf(stderr,
				"blk_bench: device request %u: used idx %u (want %u), status %u\n",
				i, used[1], *idx, *status);
			exit(1);
		}
	}
}

static void peer_batch(struct io_uring *ring, int fd, uint8_t *buf, const uint64_t *sector,
		       uint32_t len)
{
	struct io_uring_cqe *cqe;

	for (unsigned int i = 0; i < QD; i++)
		io_uring_prep_read(io_uring_get_sqe(ring), fd, buf + (size_t)i * (1 << 20), len,
				   sector[i] * 512);
	io_uring_submit_and_wait(ring, QD);
	for (unsigned int i = 0; i < QD; i++) {
		io_uring_wait_cqe(ring, &cqe);
		if (cqe->res != (int)len) {
			fprintf(stderr, "blk_bench: peer read: %d\n", cqe->res);
			exit(1);
		}
		io_uring_cqe_seen(ring, cqe);
	}
}

static void run(const char *what, struct vm *vm, int fd, uint64_t nsect, uint32_t len, bool random,
		double secs)
{
	static uint8_t peer_buf[QD << 20];
	uint64_t sector[QD], pos = 0, dev_bytes = 0, peer_bytes = 0;
	struct io_uring ring;
	static uint16_t idx; /* the avail index carries on from one run to the next */
	double t0, dev_s = 0, peer_s = 0;
	unsigned int seed = 1;

	io_uring_queue_init(QD, &ring, 0);
	/* Alternate short rounds so drift hits both alike. */
	for (int round = 0; round < 10; round++) {
		for (int side = 0; side < 2; side++) {
			uint64_t bytes = 0;

			t0 = now();
			while (now() - t0 < secs / 20) {
				for (unsigned int i = 0; i < QD; i++) {
					uint64_t max = nsect - len / 512;

					sector[i] = random ? (uint64_t)rand_r(&seed) % max & ~7ULL
							   : (pos = (pos + len / 512) % max);
				}
				if (side)
					peer_batch(&ring, fd, peer_buf, sector, len);
				else
					device_batch(vm, sector, len, &idx);
				bytes += (uint64_t)QD * len;
			}
			*(side ? &peer_s : &dev_s) += now() - t0;
			*(side ? &peer_bytes : &dev_bytes) += bytes;
		}
	}
	io_uring_queue_exit(&ring);
	printf("%s: virtio-blk %.0f MB/s, raw io_uring %.0f MB/s: ratio %.2f (goal >= 0.8)\n", what,
	       dev_bytes / dev_s / 1e6, peer_bytes / peer_s / 1e6,
	       (dev_bytes / dev_s) / (peer_bytes / peer_s));
}

int main(int argc, char **argv)
{
	struct vm_config cfg;
	struct vm vm;
	struct stat st;
	double secs = argc > 3 && !strcmp(argv[2], "--seconds") ? atof(argv[3]) : 4;
	int fd;

	if (argc < 2 || stat(argv[1], &st) || st.st_size < (64 << 20)) {
		fprintf(stderr, "usage: blk_bench FILE [--seconds S]  (FILE: >= 64 MiB)\n");
		return 2;
	}
	config_init(&cfg);
	cfg.mem_size = 64ULL << 20;
	cfg.disks[0] = (struct disk_config){
		.path = argv[1], .num_queues = 1, .queue_size = 128, .readonly = true};
	cfg.nr_disks = cfg.nr_virtio = 1;
	memset(&vm, 0, sizeof(vm));
	vm.cfg = &cfg;
	vm.rng_fd = -1;
	vm.vm_fd = -1; /* no KVM here: no ioeventfd, no I/O thread; requests run on notify */
	bus_init(&vm.pio_bus, "pio");
	bus_init(&vm.mmio_bus, "mmio");
	vm.pci = calloc(1, sizeof(*vm.pci));
	if (guest_mem_alloc(&vm.mem, cfg.mem_size) ||
	    pci_bus_init(vm.pci, &vm.pio_bus, PCI_WIN_MMIO32_BASE, PCI_WIN_MMIO32_SIZE, 0, 0,
			 PCI_WIN_IO_BASE, PCI_WIN_IO_SIZE) ||
	    virtio_blk_add(&vm, &cfg.disks[0])) {
		fprintf(stderr, "blk_bench: cannot set up the device\n");
		return 1;
	}
	driver_setup(&vm);
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	run("4 KiB random reads, QD 32", &vm, fd, st.st_size / 512, 4096, true, secs);
	run("1 MiB sequential reads, QD 32", &vm, fd, st.st_size / 512, 1 << 20, false, secs);
	close(fd);
	return 0;
}
