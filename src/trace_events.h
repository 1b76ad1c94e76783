/* SPDX-License-Identifier: MIT */
/*
 * THE definition of every trace event. The encoder (trace.h), the decoder and JSON dump
 * (replay/trace_reader.c, dejavm-trace), and docs/trace-format.md (`dejavm-trace schema`) are all
 * expansions of these lists; nothing else names an event's fields.
 *
 * On disk each event is one msgpack array: [type, dseq, stream, dts, field1, field2, ...]
 *   type    the number below
 *   stream  the producer: a vCPU id, or 255 for other threads of the VMM
 *   dseq    seq - (previous seq of the same stream, -1 at the start): seq is the global, dense
 *           sequence number from 0, so a reader can merge streams back into one order
 *   dts     ts - (previous ts of the same stream, 0 at the start), where ts is nanoseconds since
 *           the VM started. Events a vCPU emits while handling an exit carry the exit's ts.
 * Deltas keep traces small (zstd does not see through counters); decoding needs only a running
 * sum per stream, and the frame index stores each frame's starting sums for seeking.
 * Compatibility: a field may be appended to an event (readers accept longer arrays and ignore
 * what they do not know); a type number is never reused; unknown types are shown as raw arrays.
 *
 * Field kinds: UINT (msgpack uint), INT (int), BIN (bin), STR (str), MAP (map str -> uint).
 */
#ifndef DEJAVM_TRACE_EVENTS_H
#define DEJAVM_TRACE_EVENTS_H

#define TRACE_FIELDS_exit(F)                                                                       \
	F(UINT, reason, "KVM exit reason (KVM_EXIT_*): 2 io, 6 mmio, 8 shutdown, 17 internal error") \
	F(UINT, rip, "guest RIP at the exit")

#define TRACE_FIELDS_pio(F)                                                                        \
	F(UINT, port, "I/O port")                                                                  \
	F(UINT, size, "access size in bytes: 1, 2 or 4")                                           \
	F(UINT, write, "1: the guest wrote (OUT); 0: the guest read (IN)")                         \
	F(UINT, value, "the value the guest wrote, or the value the VMM returned to it")           \
	F(UINT, handled, "1: a device took the access; 0: no device there (reads give all ones)")

#define TRACE_FIELDS_mmio(F)                                                                       \
	F(UINT, addr, "guest-physical address")                                                    \
	F(UINT, len, "access length in bytes, 1 to 8")                                             \
	F(UINT, write, "1: the guest wrote; 0: the guest read")                                    \
	F(UINT, value, "little-endian value the guest wrote, or the VMM returned to it")           \
	F(UINT, handled, "1: a device took the access; 0: no device there")

#define TRACE_FIELDS_serial(F)                                                                     \
	F(UINT, port, "UART base port (0x3f8: COM1)")                                              \
	F(BIN, data, "bytes the guest transmitted: a line, or what was pending at a flush")

#define TRACE_FIELDS_irq(F)                                                                        \
	F(UINT, line, "interrupt line (ISA IRQ / GSI)")                                            \
	F(UINT, level, "1: raised, 0: lowered")

#define TRACE_FIELDS_mem_write(F)                                                                  \
	F(UINT, gpa, "guest-physical address of the first byte")                                   \
	F(UINT, len, "bytes written")                                                              \
	F(BIN, sha256, "SHA-256 of the bytes as written")                                          \
	F(STR, what, "what was written: kernel, initramfs, boot structures, ...")

#define TRACE_FIELDS_end(F)                                                                        \
	F(INT, status, "dejavm's exit status")                                                     \
	F(STR, reason, "why the run ended")                                                        \
	F(UINT, events, "events before this one (so a reader can tell none are missing)")         \
	F(UINT, lost, "events dropped: always 0, the recorder blocks instead of dropping")        \
	F(UINT, stall_ns, "time vCPUs spent waiting for the trace writer (back-pressure)")         \
	F(MAP, exits, "exits by reason name, as --stats counts them")

/*
 * E(type, name, doc). Types 8 (vq_chain: virtqueue descriptor chain) and 9 (io_done: I/O
 * completion) are reserved for the virtio devices.
 */
#define TRACE_EVENTS(E)                                                                            \
	E(1, exit, "A VM exit as KVM reported it, recorded before the VMM handles it.")            \
	E(2, pio, "One port I/O access (a string instruction gives one per element).")             \
	E(3, mmio, "One MMIO access that reached the VMM.")                                        \
	E(4, serial, "Output the guest sent through a UART, as the host saw it.")                  \
	E(5, irq, "The VMM changed the level of an interrupt line.")                               \
	E(6, mem_write, "The VMM wrote guest memory (boot loading is summarised by range + hash).") \
	E(7, end, "The last event: how the run ended and its totals.")

#define TRACE_TYPE_MAX 16
#define TRACE_VCPU_NONE 255
#define TRACE_HEADER_FIELDS 4 /* type, dseq, stream, dts */

enum trace_field_kind { TF_UINT, TF_INT, TF_BIN, TF_STR, TF_MAP };

#define TRACE_ENUM(num, name, doc) TRACE_##name = num,
enum trace_type { TRACE_EVENTS(TRACE_ENUM) };
#undef TRACE_ENUM

#endif
