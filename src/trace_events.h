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
 *
 * Sync records: every zstd frame of events starts with [0, base_seq, stream, base_ts] (type 0,
 * TRACE_SYNC; base_seq a msgpack int, -1 at the start of the stream). It is not an event (no
 * seq, not counted, never shown): a decoder sets the stream's previous seq and ts to the bases
 * and empties the stream's value-prediction table, so every frame decodes on its own.
 *
 * Value prediction: a PRED field holds (value - predicted) mod 2^(8*w), w the event's SIZE field
 * (w outside 1..7: 64 bits; a value wider than w bytes keeps its low w bytes). The prediction
 * comes from a per-stream table of 256 slots {key, value}, all empty after a sync record:
 *   key  = (addr << 2) | (space << 1) | (write != 0), wrapping at 64 bits, where addr is the
 *          event's PORT (space 0) or GPA (space 1) field and write its WRITE field
 *   slot = (key * 0x9E3779B97F4A7C15) >> 56, the multiply wrapping at 64 bits
 *   predicted = the slot's value if the slot holds key, else 0
 * after which the slot holds {key, value}. A device register's next value is then usually a
 * small or repeated delta, which zstd sees through where it cannot see through the values.
 * Compatibility: a field may be appended to an event (readers accept longer arrays and ignore
 * what they do not know, and shorter ones down to the event's required fields, the rest absent),
 * which raises the header's minor version; a type number is never reused; unknown types are
 * shown as raw arrays. Anything else raises the format version, which readers check.
 *
 * Register fields: the i-th REG field of an event (counting from 0) holds its value XOR the value
 * of the i-th REG field of the stream's previous event with REG fields (0 after a sync record):
 * registers change little from one exit to the next, so most of them code as 0 or a small number.
 *
 * Field kinds: UINT (msgpack uint), INT (int), BIN (bin), STR (str), MAP (map str -> uint);
 * and for value prediction, all msgpack uint: PORT (an I/O port), GPA (a guest-physical address),
 * SIZE (bytes), WRITE (0 or 1), PRED (a predicted value, coded as above), REG (a register, coded
 * as above). An event with a PRED field has one PORT or GPA, one SIZE and one WRITE field, all
 * before it.
 */
#ifndef DEJAVM_TRACE_EVENTS_H
#define DEJAVM_TRACE_EVENTS_H

#include <stdint.h>

#define TRACE_FIELDS_exit(F)                                                              \
	F(UINT, reason,                                                                   \
	  "KVM_EXIT_*: 2 io, 5 hlt, 6 mmio, 7 irq window, 8 shutdown, 17 internal error") \
	F(UINT, rip, "guest RIP at the exit")

#define TRACE_FIELDS_pio(F)                                                              \
	F(PORT, port, "I/O port")                                                        \
	F(SIZE, size, "access size in bytes: 1, 2 or 4")                                 \
	F(WRITE, write, "1: the guest wrote (OUT); 0: the guest read (IN)")              \
	F(PRED, value, "the value the guest wrote, or the value the VMM returned to it") \
	F(UINT, handled, "1: a device took the access; 0: no device there (reads give all ones)")

#define TRACE_FIELDS_mmio(F)                                                             \
	F(GPA, addr, "guest-physical address")                                           \
	F(SIZE, len, "access length in bytes, 1 to 8")                                   \
	F(WRITE, write, "1: the guest wrote; 0: the guest read")                         \
	F(PRED, value, "little-endian value the guest wrote, or the VMM returned to it") \
	F(UINT, handled, "1: a device took the access; 0: no device there")

#define TRACE_FIELDS_serial(F)                                                                 \
	F(UINT, port, "UART base port (0x3f8: COM1); 0x10000 + PCI slot for a virtio console") \
	F(BIN, data, "bytes the guest transmitted: a line, or what was pending at a flush")

#define TRACE_FIELDS_irq(F)                             \
	F(UINT, line, "interrupt line (ISA IRQ / GSI)") \
	F(UINT, level, "1: raised, 0: lowered")

#define TRACE_FIELDS_mem_write(F)                                \
	F(UINT, gpa, "guest-physical address of the first byte") \
	F(UINT, len, "bytes written")                            \
	F(BIN, sha256, "SHA-256 of the bytes as written")        \
	F(STR, what, "what was written: kernel, initramfs, boot structures, ...")

#define TRACE_FIELDS_end(F)                                                                \
	F(INT, status, "dejavm's exit status")                                             \
	F(STR, reason, "why the run ended")                                                \
	F(UINT, events, "events before this one (so a reader can tell none are missing)")  \
	F(UINT, lost, "events dropped: always 0, the recorder blocks instead of dropping") \
	F(UINT, stall_ns, "time vCPUs spent waiting for the trace writer (back-pressure)") \
	F(MAP, exits, "exits by reason name, as --stats counts them")                      \
	F(UINT, nondeterministic, "landmarks at host-chosen points: 0 when the run is reproducible")

#define TRACE_FIELDS_vq_chain(F)                                                 \
	F(UINT, dev, "PCI slot of the device (00:dev.0)")                        \
	F(UINT, queue, "virtqueue index")                                        \
	F(UINT, head, "head descriptor index (the request id in the used ring)") \
	F(BIN, descs,                                                            \
	  "per buffer 13 bytes: guest address (8, LE), length (4, LE), device-writable (1)")

#define TRACE_FIELDS_io_done(F)                                                                                    \
	F(UINT, dev, "PCI slot of the device")                                                                     \
	F(UINT, queue, "virtqueue index")                                                                          \
	F(UINT, head, "the request's head descriptor index")                                                       \
	F(UINT, op,                                                                                                \
	  "device-specific operation (virtio-blk: VIRTIO_BLK_T_*; entropy: 0; virtio-net: 0 receive, 1 transmit)") \
	F(UINT, offset, "byte offset on the backing device (0 when it has none)")                                  \
	F(UINT, bytes,                                                                                             \
	  "bytes transferred to or from the guest (virtio-net: the frame, no header)")                             \
	F(UINT, status,                                                                                            \
	  "device-specific status (virtio-blk: VIRTIO_BLK_S_*; virtio-net: 1 malformed chain)")                    \
	F(UINT, latency_ns,                                                                                        \
	  "host time from taking the request to completing it; 0 when deterministic and for virtio-net")           \
	F(UINT, hash,                                                                                              \
	  "XXH3-64 of the bytes the request moved: the sectors written (at offset) or read, the frame sent or received, the entropy given; 0 if none moved")

#define TRACE_FIELDS_dma_write(F)                                                     \
	F(UINT, dev, "PCI slot of the device")                                        \
	F(UINT, offset, "offset in the device-writable part of the chain just taken") \
	F(BIN, data, "the bytes written (a replay with --feed gives the guest these)")

#define TRACE_FIELDS_intr(F) F(UINT, vector, "the vector the PIC gave on its acknowledge cycle")

#define TRACE_FIELDS_landmark(F)                                                                                 \
	F(UINT, after, "seq of the last exit event before it")                                                   \
	F(UINT, rip, "guest RIP where the vCPU was stopped")                                                     \
	F(UINT, regs_hash,                                                                                       \
	  "FNV-1a 64 of the general registers and RFLAGS (TF, RF masked), see docs")                             \
	F(UINT, fixed,                                                                                           \
	  "1: a fixed point (a loop that only waits: the same point whatever the host); 0: a host-chosen point") \
	F(UINT, cycle, "instructions in one pass of the loop the vCPU was in (0: none found)")                   \
	F(BIN, pages, "guest-physical addresses (8 bytes each, LE) of the pages one pass writes")                \
	F(UINT, mem_hash, "FNV-1a 64 of those pages' bytes at the landmark, in order")

#define TRACE_FIELDS_regs(F) \
	F(REG, rax, "rax")   \
	F(REG, rbx, "rbx")   \
	F(REG, rcx, "rcx")   \
	F(REG, rdx, "rdx")   \
	F(REG, rsi, "rsi")   \
	F(REG, rdi, "rdi")   \
	F(REG, rsp, "rsp")   \
	F(REG, rbp, "rbp")   \
	F(REG, r8, "r8")     \
	F(REG, r9, "r9")     \
	F(REG, r10, "r10")   \
	F(REG, r11, "r11")   \
	F(REG, r12, "r12")   \
	F(REG, r13, "r13")   \
	F(REG, r14, "r14")   \
	F(REG, r15, "r15")   \
	F(REG, rflags, "rflags")

#define TRACE_FIELDS_msi(F)                    \
	F(UINT, dev, "PCI slot of the device") \
	F(UINT, vector, "the MSI-X vector")    \
	F(UINT, data, "the vector's message data (its low byte is the guest's interrupt vector)")

#define TRACE_FIELDS_vm_state(F) \
	F(UINT, paused, "1: the VM was paused (its vCPUs parked between exits), 0: resumed")

/*
 * E(type, name, required, doc): required is how many fields the event had when its type was
 * introduced. Fields after those were appended later (see Compatibility above): a trace written
 * before them lacks them, and a reader takes them as absent.
 */
#define TRACE_EVENTS(E)                                                                           \
	E(1, exit, 2, "A VM exit as KVM reported it, recorded before the VMM handles it.")        \
	E(2, pio, 5, "One port I/O access (a string instruction gives one per element).")         \
	E(3, mmio, 5, "One MMIO access that reached the VMM.")                                    \
	E(4, serial, 2, "Output the guest sent through a UART, as the host saw it.")              \
	E(5, irq, 2, "The VMM changed the level of an interrupt line.")                           \
	E(6, mem_write, 4,                                                                        \
	  "The VMM wrote guest memory (boot loading is summarised by range + hash).")             \
	E(7, end, 6, "The last event: how the run ended and its totals.")                         \
	E(8, vq_chain, 4, "A virtio device took a descriptor chain from a virtqueue.")            \
	E(9, io_done, 8, "A virtio device completed a request.")                                  \
	E(10, intr, 1, "Deterministic mode: an interrupt injected before the guest ran on.")      \
	E(11, landmark, 3,                                                                        \
	  "Deterministic mode: a vCPU that ran long without exits was given time here.")          \
	E(12, regs, 17,                                                                           \
	  "Deterministic mode: the general registers at the exit recorded just before.")          \
	E(13, dma_write, 3, "A virtio device wrote data from outside the VM into guest buffers.") \
	E(14, msi, 3,                                                                             \
	  "Normal mode: a device's MSI-X vector fired (a masked one fires on unmask).")           \
	E(15, vm_state, 1,                                                                        \
	  "Normal mode: the VM was paused or resumed (the API's vm.pause, vm.resume); deterministic mode records nothing, a pause changes nothing there.")

#define TRACE_TYPE_MAX	    16
#define TRACE_VCPU_NONE	    255
#define TRACE_HEADER_FIELDS 4 /* type, dseq, stream, dts */
#define TRACE_SYNC	    0 /* [0, base_seq, stream, base_ts]: a sync record, not an event */
#define TRACE_PRED_SLOTS    256
#define TRACE_PRED_MUL	    0x9E3779B97F4A7C15ULL

enum trace_field_kind {
	TF_UINT,
	TF_INT,
	TF_BIN,
	TF_STR,
	TF_MAP,
	TF_PORT,
	TF_GPA,
	TF_SIZE,
	TF_WRITE,
	TF_PRED,
	TF_REG
};
#define TRACE_MAX_REGS 17 /* REG fields in one event */

/* The prediction key and width of a PRED field (see the top of this file). */
static inline uint64_t trace_pred_key(uint64_t addr, unsigned int space, uint64_t write)
{
	return addr << 2 | (uint64_t)space << 1 | (write != 0);
}

static inline unsigned int trace_pred_slot(uint64_t key)
{
	return (key * TRACE_PRED_MUL) >> 56;
}

static inline uint64_t trace_pred_mask(uint64_t size)
{
	return size >= 1 && size <= 7 ? (1ULL << (8 * size)) - 1 : UINT64_MAX;
}

#define TRACE_ENUM(num, name, required, doc) TRACE_##name = num,
enum trace_type { TRACE_EVENTS(TRACE_ENUM) };
#undef TRACE_ENUM

#endif
