// SPDX-License-Identifier: MIT
/*
 * virtio-blk's serving of a notification (src/devices/virtio-blk.c) on a real deterministic VM,
 * the test playing the driver through the PCI and MMIO buses as a guest would. Linked with
 * --wrap=virtio_pop: the wrapper is a driver that refills the whole queue the moment the device
 * has used it, so that every batch comes back full and the device must look again, as a fast
 * driver on another CPU can make it do for as long as it likes.
 */
#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "harness.h"
#include "virtio/virtio_pci.h"
#include "vm.h"

#define QSIZE	  8	     /* queue_size=8: a batch is 8 requests */
#define DESC_GPA  0x200000UL /* desc, avail +0x1000, used +0x2000 */
#define TABLE_GPA 0x210000UL /* head i's indirect table at + 0x100 * i */
#define REQ_GPA	  0x220000UL /* head i's header at + 0x100 * i, id at +0x20, status at +0x40 */
#define REFILLS	  500
#define T_GET_ID  8

static struct vm vm;
static struct vm_config cfg;
static uint64_t bar;
static char *img;

static uint8_t *ram(uint64_t gpa, uint64_t len)
{
	uint8_t *p = gpa_to_hva(&vm.mem, gpa, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

static volatile uint16_t *avail_idx(void)
{
	return (volatile uint16_t *)ram(DESC_GPA + 0x1000 + 2, 2);
}

static volatile uint16_t *used_idx(void)
{
	return (volatile uint16_t *)ram(DESC_GPA + 0x2000 + 2, 2);
}

static void bus_write(bool pio, uint64_t addr, uint64_t v, uint32_t len)
{
	ck_assert(bus_access(pio ? &vm.pio_bus : &vm.mmio_bus, addr, (uint8_t *)&v, len, true));
}

static uint32_t pci_read(unsigned int slot, unsigned int off)
{
	uint32_t v = 0;

	bus_write(true, 0xcf8, 0x80000000u | slot << 11 | off, 4);
	bus_access(&vm.pio_bus, 0xcfc, (uint8_t *)&v, 4, false);
	return v;
}

/*
 * The refilling driver: when the device finds the queue empty, every request it took has been
 * used (a batch completes before the device looks again), so all QSIZE heads go back at once.
 * The depth of the device's stack at each look is noted.
 */
static unsigned int refills;
static uintptr_t frame_min = UINTPTR_MAX, frame_max;

int __real_virtio_pop(struct virtio_dev *d, unsigned int q);
int __wrap_virtio_pop(struct virtio_dev *d, unsigned int q);

int __wrap_virtio_pop(struct virtio_dev *d, unsigned int q)
{
	uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
	int r = __real_virtio_pop(d, q);

	frame_min = frame < frame_min ? frame : frame_min;
	frame_max = frame > frame_max ? frame : frame_max;
	if (r == 0 && refills < REFILLS && *used_idx() == *avail_idx()) {
		refills++;
		*avail_idx() += QSIZE; /* the ring holds heads 0..7 in order: they stay */
		r = __real_virtio_pop(d, q);
	}
	return r;
}

static void setup(void)
{
	char *argv[] = {"dejavm",   "--kernel", (char *)test_env("DEJAVM_TEST_GUEST"),
			"--disk",   NULL,	"--deterministic",
			"--serial", "null",	NULL};
	char disk[4200];
	int fd;

	img = test_tmpfile("disk");
	fd = open(img, O_CREAT | O_RDWR | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	snprintf(disk, sizeof(disk), "path=%s,serial=loop-test,queue_size=%d", img, QSIZE);
	argv[4] = disk;
	ck_assert_int_eq(cli_parse(8, argv, &cfg, stdout, stderr), CLI_RUN);
	ck_assert_int_eq(vm_create(&vm, &cfg), 0);
	/* 00:01.0 is the disk; BAR 0 as the VMM placed it */
	ck_assert_uint_eq(pci_read(1, 0), (0x1040u + 2) << 16 | 0x1af4);
	bar = (pci_read(1, 0x10) & ~0xfULL) | (uint64_t)pci_read(1, 0x14) << 32;
	ck_assert_uint_ne(bar, 0);
}

static void teardown(void)
{
	vm_destroy(&vm);
	unlink(img);
	free(img);
}

/*
 * What rt/pci.h and rt/virtio.h do: memory space and bus mastering on (machine version 2 does
 * no DMA without them), reset, VERSION_1 and INDIRECT_DESC, queue 0 of QSIZE, DRIVER_OK.
 */
static void driver_init(void)
{
	bus_write(true, 0xcf8, 0x80000000u | 1u << 11 | 0x04, 4);
	bus_write(true, 0xcfc, 0x6, 2); /* COMMAND: Memory Space, Bus Master */
	bus_write(false, bar + 20, 0, 1);
	bus_write(false, bar + 20, 1 | 2, 1);
	bus_write(false, bar + 8, 1, 4);
	bus_write(false, bar + 12, 1, 4); /* VIRTIO_F_VERSION_1 */
	bus_write(false, bar + 8, 0, 4);
	bus_write(false, bar + 12, 1u << 28, 4); /* VIRTIO_RING_F_INDIRECT_DESC */
	bus_write(false, bar + 20, 1 | 2 | 8, 1);
	bus_write(false, bar + 22, 0, 2);
	bus_write(false, bar + 24, QSIZE, 2);
	bus_write(false, bar + 32, DESC_GPA, 4);
	bus_write(false, bar + 40, DESC_GPA + 0x1000, 4);
	bus_write(false, bar + 48, DESC_GPA + 0x2000, 4);
	bus_write(false, bar + 28, 1, 2);
	bus_write(false, bar + 20, 1 | 2 | 8 | 4, 1);
}

/* Head i: an indirect table of a GET_ID request (header, 20 bytes of id, status). */
static void post_requests(void)
{
	for (unsigned int i = 0; i < QSIZE; i++) {
		uint64_t req = REQ_GPA + 0x100 * i, table = TABLE_GPA + 0x100 * i;
		uint64_t d[2] = {table, (uint64_t)(3 * 16) | (uint64_t)4 << 32}; /* INDIRECT */
		uint64_t t[6] = {req,	     16 | (uint64_t)1 << 32 | (uint64_t)1 << 48,
				 req + 0x20, 20 | (uint64_t)3 << 32 | (uint64_t)2 << 48,
				 req + 0x40, 1 | (uint64_t)2 << 32};
		uint32_t hdr[4] = {T_GET_ID, 0, 0, 0};

		memcpy(ram(DESC_GPA + 16 * i, 16), d, 16);
		memcpy(ram(table, sizeof(t)), t, sizeof(t));
		memcpy(ram(req, 16), hdr, 16);
		memcpy(ram(DESC_GPA + 0x1000 + 4 + 2 * i, 2), &(uint16_t){i}, 2);
	}
	*avail_idx() = QSIZE;
}

/*
 * One notification while the driver keeps every batch full: the device serves all of it
 * (REFILLS + 1 batches), and its stack does not grow with the batches (it did, by a frame per
 * batch, when a full batch recursed).
 */
START_TEST(full_batches_are_served_in_a_loop)
{
	driver_init();
	post_requests();
	bus_write(false, bar + 0x3000, 0, 2);
	ck_assert_uint_eq(refills, REFILLS);
	ck_assert_uint_eq(*used_idx(), (uint16_t)(QSIZE * (REFILLS + 1)));
	for (unsigned int i = 0; i < QSIZE; i++) {
		ck_assert_uint_eq(*ram(REQ_GPA + 0x100 * i + 0x40, 1), 0); /* VIRTIO_BLK_S_OK */
		ck_assert_str_eq((const char *)ram(REQ_GPA + 0x100 * i + 0x20, 20), "loop-test");
	}
	ck_assert_msg(frame_max - frame_min < 64,
		      "the device's stack went %zu bytes deeper over %u full batches",
		      (size_t)(frame_max - frame_min), REFILLS);
	uint8_t status = 0;

	bus_access(&vm.mmio_bus, bar + 20, &status, 1, false);
	ck_assert_uint_eq(status, 1 | 2 | 8 | 4); /* DRIVER_OK, no NEEDS_RESET */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio-blk");
	TCase *tc = tcase_create("serve");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, full_batches_are_served_in_a_loop);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
