// SPDX-License-Identifier: MIT
/*
 * The split-virtqueue walker (src/virtio/virtqueue.c), driven as a device drives it, against a
 * driver that writes whatever it likes into guest memory between the device's steps.
 *
 * Input: a 9-byte queue set-up (flags: bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bits 4-7 log2 of
 * the queue size; the descriptor table's, avail and used rings' addresses, 16 bits each; the
 * index both sides start at), then operations until the input ends, one byte each and their
 * arguments: 0 the driver writes bytes (u16 gpa, u8 length, the bytes), 1 the device pops a
 * chain, reads its request, writes its reply (u16 bytes) and publishes it, 2 the device
 * publishes any head (u16 head, u32 length), 3 asks whether to interrupt, 4 asks for (or not)
 * notifications (u8), 5 the transport resets the queue.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "fuzz.h"
#include "memory.h"
#include "virtio/virtqueue.h"

#define RAM_SIZE (64u << 10)

static struct guest_mem mem;
static uint8_t *ram;
static struct vq_chain chain;
static uint8_t scratch[RAM_SIZE];

static void queue_init(struct vq *q, const struct vq *setup)
{
	char err[160];

	*q = *setup;
	vq_check_layout(q, &mem, err, sizeof(err)); /* vq_pop checks it again: as a transport */
}

static void serve_one(struct vq *q, struct fuzz_in *in)
{
	struct iovec iov[64];
	char err[160];
	uint32_t reply = fuzz_u16(in);
	size_t got;

	if (vq_pop(q, &mem, &chain, err, sizeof(err)) != 1)
		return;
	/* the request (a device reads its header, then the rest) */
	got = vq_chain_read(&chain, &mem, 0, scratch, 16);
	got += vq_chain_read(&chain, &mem, got, scratch, sizeof(scratch));
	vq_chain_hash(&chain, &mem, false, 0, chain.out_bytes);
	/* the reply, directly into the buffers as the disk's io_uring backend writes them */
	if (vq_chain_iov(&chain, &mem, true, 0, reply, iov, 64) > 0)
		vq_chain_hash(&chain, &mem, true, 0, reply);
	memset(scratch, 0x5a, reply);
	got = vq_chain_write(&chain, &mem, 0, scratch, reply);
	vq_push(q, &mem, chain.head, got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct vq setup = {0}, q;
	uint8_t flags;

	fuzz_init();
	if (!ram) {
		if (guest_mem_alloc(&mem, RAM_SIZE))
			abort();
		ram = gpa_to_hva(&mem, 0, RAM_SIZE);
	}
	memset(ram, 0, RAM_SIZE);
	flags = fuzz_u8(&in);
	setup.indirect = flags & 1;
	setup.event_idx = flags & 2;
	setup.size = 1u << ((flags >> 4) > 10 ? 10 : flags >> 4);
	setup.desc_gpa = fuzz_u16(&in);
	setup.avail_gpa = fuzz_u16(&in);
	setup.used_gpa = fuzz_u16(&in);
	setup.last_avail = setup.used_idx = setup.signalled_used = fuzz_u16(&in);
	queue_init(&q, &setup);
	while (in.n) {
		switch (fuzz_u8(&in) % 6) {
		case 0: {
			uint16_t gpa = fuzz_u16(&in);
			size_t len;
			const uint8_t *p = fuzz_bytes(&in, fuzz_u8(&in), &len);

			len = len < RAM_SIZE - gpa ? len : RAM_SIZE - gpa;
			memcpy(ram + gpa, p, len);
			break;
		}
		case 1:
			serve_one(&q, &in);
			break;
		case 2: {
			uint16_t head = fuzz_u16(&in);

			vq_push(&q, &mem, head, fuzz_u32(&in));
			break;
		}
		case 3:
			vq_need_notify(&q, &mem);
			break;
		case 4:
			vq_set_notify(&q, &mem, fuzz_u8(&in) & 1);
			break;
		default:
			queue_init(&q, &setup);
			break;
		}
	}
	return 0;
}
