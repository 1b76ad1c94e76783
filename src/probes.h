/* SPDX-License-Identifier: MIT */
/*
 * USDT (statically defined tracing) probes, provider "dejavm". With the meson option `usdt`
 * enabled (the default where <sys/sdt.h> exists) each DEJAVM_PROBE() is one NOP in the code and
 * a note in the ELF (.note.stapsdt) that bpftrace, `dejavm-lat` (libbpf) or perf can attach
 * to; with it disabled the macro expands to nothing and its arguments are not evaluated.
 *
 *   exit_received(vcpu, exit_reason)            KVM_RUN returned
 *   exit_handled(vcpu, exit_reason, addr)       the exit was dispatched; addr: port or MMIO address
 *   vq_notify(slot, queue)                      a queue notification reached the device (the
 *                                               notify exit, or the disk's I/O thread in normal
 * mode) req_submit(slot, queue, head, type)         a virtio-blk request goes to the backend
 *   req_complete(slot, queue, head, status)     ... and is complete (status written)
 *   irq_inject(slot, queue)                     a used-buffer interrupt was raised for the guest
 *   trace_flush(bytes_in, bytes_out)            one trace frame was written
 *
 * `bpftrace -l 'usdt:build/dejavm:*'` lists them. Keep call sites to one line.
 */
#ifndef DEJAVM_PROBES_H
#define DEJAVM_PROBES_H

#ifdef DEJAVM_USDT
#define SDT_USE_VARIADIC
#include <sys/sdt.h>
#define DEJAVM_PROBE(name, ...) STAP_PROBEV(dejavm, name, ##__VA_ARGS__)
#else
#define DEJAVM_PROBE(name, ...) ((void)0)
#endif

/* exit_handled's address argument: the port of a PIO exit, the address of an MMIO exit, or 0. */
#define DEJAVM_EXIT_ADDR(run)                                                              \
	((run)->exit_reason == KVM_EXIT_IO     ? (unsigned long long)(run)->io.port        \
	 : (run)->exit_reason == KVM_EXIT_MMIO ? (unsigned long long)(run)->mmio.phys_addr \
					       : 0ULL)

#endif
