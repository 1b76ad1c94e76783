/*
 * virtio-blk-io: exercises every virtio-blk request type on the disk at 00:01.0 (run with
 * `dejavm --disk path=IMAGE[,serial=...]`, an image of at least 1 MiB). Prints one line per
 * request, "virtio-blk-io: <what>: status <s>" (0 OK, 1 IOERR, 2 UNSUPP), plus what it read
 * back, and ends with "virtio-blk-io: done". The test (tests/test_guests.c) compares the lines
 * and then the image itself. See docs/guest-abi.md.
 *
 * With reads=M on the command line it does only M 4 KiB reads (sectors 0, 8, 16, ... within
 * the disk) and prints "virtio-blk-io: M reads, K failed": exactly M requests, M backend I/Os
 * (tests/lat_test.py counts them with dejavm-lat).
 *
 * With bad=N it sends only N malformed requests, a 16-byte header without a status byte, 8 to a
 * notification, and prints "virtio-blk-io: N malformed requests, K used": each must come back
 * (used, with no status to write), and the VMM must not log a line for each.
 */
#include "rt.h"
#include "virtio.h"

#define HDR	       VQ_BUF		 /* struct virtio_blk_outhdr: type, ioprio, sector */
#define STAT	       (VQ_BUF + 0x100)	 /* the status byte */
#define DATA	       (VQ_BUF + 0x1000) /* up to 60 KiB of data */
#define T_IN	       0
#define T_OUT	       1
#define T_FLUSH	       4
#define T_GET_ID       8
#define T_DISCARD      11
#define T_WRITE_ZEROES 13

struct outhdr {
	uint32_t type, ioprio;
	uint64_t sector;
};

static uint16_t next_idx;

/* One request: header, data (out or in, len bytes; none if len is 0), status. */
static int request(const char *what, uint32_t type, uint64_t sector, uint32_t len, int data_in)
{
	volatile uint8_t *status = (volatile uint8_t *)STAT;
	int n = 0;

	*(struct outhdr *)HDR = (struct outhdr){type, 0, sector};
	*status = 0xff;
	vdesc[n] = (struct vdesc){HDR, sizeof(struct outhdr), VD_NEXT, (uint16_t)(n + 1)};
	n++;
	if (len) {
		vdesc[n] = (struct vdesc){DATA, len, (uint16_t)(VD_NEXT | (data_in ? VD_WRITE : 0)),
					  (uint16_t)(n + 1)};
		n++;
	}
	vdesc[n] = (struct vdesc){STAT, 1, VD_WRITE, 0};
	virtio_submit(0, ++next_idx);
	/* In normal mode an I/O thread serves the queue (ioeventfd): wait for the used entry. */
	for (unsigned long spin = 0; vused[1] != next_idx && spin < 100000000UL; spin++)
		__asm__ volatile("" : : : "memory");
	rt_printf("virtio-blk-io: %s: status %u\n", what, *status);
	return *status;
}

int main(const char *cmdline)
{
	uint8_t *data = (uint8_t *)DATA;
	uint64_t capacity;
	unsigned long reads = rt_arg_ulong(cmdline, "reads", 0);
	unsigned long nbad = rt_arg_ulong(cmdline, "bad", 0);
	int bad = 0;

	if (virtio_find(1, 2)) {
		rt_printf("virtio-blk-io: no virtio-blk at 00:01.0 (run with --disk path=...)\n");
		return 1;
	}
	/* VIRTIO_BLK_F_DISCARD (13) and WRITE_ZEROES (14), if offered */
	virtio_setup(VQ_RING, vr32(VC_DF) & (1u << 13 | 1u << 14));
	capacity = vr32(VC_DEVCFG) | (uint64_t)vr32(VC_DEVCFG + 4) << 32;
	rt_printf("virtio-blk-io: capacity %lu sectors, read-only %u\n", (unsigned long)capacity,
		  (vr32(VC_DF) >> 5) & 1);
	if (nbad) {
		unsigned long used = 0;

		*(struct outhdr *)HDR = (struct outhdr){T_IN, 0, 0};
		for (uint16_t i = 0; i < VQ_SIZE; i++)
			vdesc[i] = (struct vdesc){HDR, sizeof(struct outhdr), 0, 0};
		for (unsigned long done = 0; done < nbad;) {
			uint16_t n = nbad - done < VQ_SIZE ? nbad - done : VQ_SIZE;

			for (uint16_t i = 0; i < n; i++)
				vavail[2 + (uint16_t)(next_idx + i) % VQ_SIZE] = i;
			next_idx += n;
			vavail[1] = next_idx;
			vw16(VC_NOTIFY, 0);
			for (unsigned long spin = 0; vused[1] != next_idx && spin < 100000000UL;
			     spin++)
				__asm__ volatile("" : : : "memory");
			used += (uint16_t)(vused[1] - (next_idx - n)) <= n
					? (uint16_t)(vused[1] - (next_idx - n))
					: 0;
			done += n;
		}
		rt_printf("virtio-blk-io: %lu malformed requests, %lu used\n", nbad, used);
		return used == nbad ? 0 : 1;
	}
	if (reads) {
		unsigned long failed = 0;

		for (unsigned long i = 0; i < reads; i++)
			failed += request("read", T_IN, (i * 8) % (capacity & ~7UL), 4096, 1) != 0;
		rt_printf("virtio-blk-io: %lu reads, %lu failed\n", reads, failed);
		return failed ? 1 : 0;
	}

	memset(data, 0, 32);
	request("get id", T_GET_ID, 0, 20, 1);
	rt_printf("virtio-blk-io: id '%s'\n", (const char *)data);

	for (int i = 0; i < 4096; i++)
		data[i] = (uint8_t)(i * 7 + 1);
	request("write sector 100", T_OUT, 100, 4096, 0);
	request("flush", T_FLUSH, 0, 0, 0);
	memset(data, 0, 4096);
	if (!request("read sector 100", T_IN, 100, 4096, 1))
		for (int i = 0; i < 4096; i++)
			bad += data[i] != (uint8_t)(i * 7 + 1);
	rt_printf("virtio-blk-io: read back %s\n", bad ? "DIFFERS" : "matches");

	/* {sector, num_sectors, flags} */
	*(uint64_t *)data = 200;
	*(uint32_t *)(data + 8) = 8;
	*(uint32_t *)(data + 12) = 0;
	request("write zeroes sectors 200-207", T_WRITE_ZEROES, 0, 16, 0);
	*(uint64_t *)data = 300;
	request("discard sectors 300-307", T_DISCARD, 0, 16, 0);

	request("read past the end", T_IN, capacity, 512, 1);
	request("read of 100 bytes", T_IN, 0, 100, 1);
	request("read of 40 KiB in one buffer", T_IN, 0, 40960, 1); /* size_max is 32 KiB */
	request("unknown type 99", 99, 0, 512, 1);
	rt_printf("virtio-blk-io: done\n");
	return 0;
}
