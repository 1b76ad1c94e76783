// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * dejavm-lat's BPF side (libbpf CO-RE). Everything is filtered to one process (targ_tgid).
 *
 * Exits (tracepoints only): tp_btf/kvm_userspace_exit stamps the thread; its next
 * ioctl(KVM_RUN) (tp_btf/sys_enter) closes the interval, by exit reason and, for PIO and MMIO
 * exits, by port or address, read from the vCPU's kvm_run (ioctl fd -> struct file ->
 * struct kvm_vcpu -> run), which still describes the exit just handled.
 *
 * io_uring (tracepoints): io_uring_submit_req to io_uring_complete, keyed by (ring, user_data).
 *
 * virtio requests (USDT in dejavm, as no tracepoint knows about virtqueues): vq_notify,
 * req_submit, req_complete, irq_inject.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "lat.h"

#define NR_IOCTL    16	   /* x86-64 */
#define KVM_RUN_CMD 0xae80 /* _IO(KVMIO, 0x80) */
#define EXIT_IO	    2
#define EXIT_MMIO   6
#define EXIT_INTR   10

const volatile __u32 targ_tgid = 0;

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct lat_inflight);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct lat_key);
	__type(value, struct lat_hist);
} hists SEC(".maps");

/* virtio: per (slot, queue) the last notification and the oldest completion not signalled. */
struct vq_id {
	__u32 slot;
	__u32 queue;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct vq_id);
	__type(value, __u64);
} vq_notified SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct vq_id);
	__type(value, __u64);
} vq_unsignalled SEC(".maps");

struct dj_req_id {
	__u32 slot;
	__u32 queue;
	__u32 head;
	__u32 pad;
};

struct dj_req {
	__u64 notified;
	__u64 submitted;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct dj_req_id);
	__type(value, struct dj_req);
} reqs SEC(".maps");

struct dj_sqe_id {
	__u64 ctx;
	__u64 user_data;
};

struct dj_sqe {
	__u64 ts;
	__u32 opcode;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct dj_sqe_id);
	__type(value, struct dj_sqe);
} sqes SEC(".maps");

static struct lat_hist zero_hist;

static __always_inline bool ours(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == targ_tgid;
}

static __always_inline void hist_add(__u32 kind, __u32 a, __u64 b, __u64 delta)
{
	struct lat_key k = {.kind = kind, .a = a, .b = b};
	struct lat_hist *h = bpf_map_lookup_elem(&hists, &k);
	unsigned int slot;

	if (!h) {
		bpf_map_update_elem(&hists, &k, &zero_hist, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &k);
		if (!h)
			return;
	}
	slot = lat_slot(delta);
	barrier_var(slot); /* clang 14: keep the bound check on the register that indexes */
	if (slot >= LAT_SLOTS)
		return;
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum, delta);
}

SEC("tp_btf/kvm_userspace_exit")
int BPF_PROG(kvm_userspace_exit, __u32 reason, int err)
{
	struct lat_inflight f = {.ts = bpf_ktime_get_ns(), .reason = err ? EXIT_INTR : reason};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (!ours())
		return 0;
	bpf_map_update_elem(&inflight, &tid, &f, BPF_ANY);
	return 0;
}

/* The kvm_run of the vCPU behind ioctl fd `fd` of the current task, or NULL. */
static __always_inline struct kvm_run *vcpu_run(unsigned long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	struct kvm_vcpu *vcpu;

	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return NULL;
	vcpu = BPF_CORE_READ(file, private_data);
	return vcpu ? BPF_CORE_READ(vcpu, run) : NULL;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct lat_inflight *f;
	struct kvm_run *run;
	__u64 delta;
	__u32 reason;

	if (id != NR_IOCTL || !ours())
		return 0;
	if ((__u32)BPF_CORE_READ(regs, si) != KVM_RUN_CMD)
		return 0;
	f = bpf_map_lookup_elem(&inflight, &tid);
	if (!f)
		return 0; /* the first KVM_RUN, or the exit came before we attached */
	delta = bpf_ktime_get_ns() - f->ts;
	reason = f->reason;
	bpf_map_delete_elem(&inflight, &tid);
	hist_add(LAT_EXIT, reason, 0, delta);
	if (reason != EXIT_IO && reason != EXIT_MMIO)
		return 0;
	run = vcpu_run(BPF_CORE_READ(regs, di));
	if (!run || BPF_CORE_READ(run, exit_reason) != reason)
		return 0;
	if (reason == EXIT_IO)
		hist_add(LAT_PIO, BPF_CORE_READ(run, io.port), 0, delta);
	else
		/* by 4 KiB page: all the report names (a register block), and the map stays small
		 */
		hist_add(LAT_MMIO, 0, BPF_CORE_READ(run, mmio.phys_addr) & ~0xfffULL, delta);
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(io_uring_submit_req, struct io_kiocb *req)
{
	struct dj_sqe_id k;
	struct dj_sqe v = {.ts = bpf_ktime_get_ns()};

	if (!ours())
		return 0;
	k.ctx = (__u64)BPF_CORE_READ(req, ctx);
	k.user_data = BPF_CORE_READ(req, cqe.user_data);
	v.opcode = BPF_CORE_READ(req, opcode);
	bpf_map_update_elem(&sqes, &k, &v, BPF_ANY);
	return 0;
}

/* Not filtered by pid: a completion may run on an io-wq worker; the ring identifies ours. */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(io_uring_complete, struct io_ring_ctx *ring, void *req, struct io_uring_cqe *cqe)
{
	struct dj_sqe_id k = {.ctx = (__u64)ring, .user_data = BPF_CORE_READ(cqe, user_data)};
	struct dj_sqe *v = bpf_map_lookup_elem(&sqes, &k);

	if (!v)
		return 0;
	hist_add(LAT_URING, v->opcode, 0, bpf_ktime_get_ns() - v->ts);
	bpf_map_delete_elem(&sqes, &k);
	return 0;
}

SEC("usdt")
int BPF_USDT(vq_notify, __u32 slot, __u32 queue)
{
	struct vq_id k = {slot, queue};
	__u64 now = bpf_ktime_get_ns();

	bpf_map_update_elem(&vq_notified, &k, &now, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(req_submit, __u32 slot, __u32 queue, __u32 head, __u32 type)
{
	struct vq_id q = {slot, queue};
	struct dj_req_id k = {slot, queue, head, 0};
	struct dj_req v = {.submitted = bpf_ktime_get_ns()};
	__u64 *n = bpf_map_lookup_elem(&vq_notified, &q);

	(void)type;
	if (n && *n <= v.submitted) {
		v.notified = *n;
		hist_add(LAT_VQ_WAIT, slot, queue, v.submitted - v.notified);
	}
	bpf_map_update_elem(&reqs, &k, &v, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(req_complete, __u32 slot, __u32 queue, __u32 head, __u32 status)
{
	struct vq_id q = {slot, queue};
	struct dj_req_id k = {slot, queue, head, 0};
	struct dj_req *v = bpf_map_lookup_elem(&reqs, &k);
	__u64 now = bpf_ktime_get_ns();

	(void)status;
	if (!v)
		return 0;
	hist_add(LAT_VQ_SERVICE, slot, queue, now - v->submitted);
	if (v->notified)
		hist_add(LAT_VQ_TOTAL, slot, queue, now - v->notified);
	bpf_map_delete_elem(&reqs, &k);
	bpf_map_update_elem(&vq_unsignalled, &q, &now, BPF_NOEXIST);
	return 0;
}

SEC("usdt")
int BPF_USDT(irq_inject, __u32 slot, __u32 queue)
{
	struct vq_id q = {slot, queue};
	__u64 *t = bpf_map_lookup_elem(&vq_unsignalled, &q);

	if (!t)
		return 0;
	hist_add(LAT_VQ_IRQ, slot, queue, bpf_ktime_get_ns() - *t);
	bpf_map_delete_elem(&vq_unsignalled, &q);
	return 0;
}
