/* SPDX-License-Identifier: MIT */
/* What lat.bpf.c and lat.c (dejavm-lat) share: histogram keys and the per-thread exit state. */
#ifndef DEJAVM_BPF_LAT_H
#define DEJAVM_BPF_LAT_H

#include "hist.h"

enum lat_kind {
	LAT_EXIT = 1,	/* a = exit reason: kvm_userspace_exit to the thread's next KVM_RUN */
	LAT_PIO,	/* a = port: the same interval for KVM_EXIT_IO */
	LAT_MMIO,	/* b = guest-physical address: the same for KVM_EXIT_MMIO */
	LAT_VQ_WAIT,	/* a = PCI slot, b = queue: notification seen to request submitted */
	LAT_VQ_SERVICE, /* submitted to completed (status written) */
	LAT_VQ_TOTAL,	/* notification seen to completed */
	LAT_VQ_IRQ,	/* oldest completion not yet signalled to the interrupt */
	LAT_URING,	/* a = io_uring opcode: io_uring_submit_req to io_uring_complete */
};

struct lat_key {
	__u32 kind;
	__u32 a;
	__u64 b;
};

/* A thread between kvm_userspace_exit and its next KVM_RUN (map "inflight", key: tid). */
struct lat_inflight {
	__u64 ts;
	__u32 reason;
	__u32 pad;
};

#endif
