/* SPDX-License-Identifier: MIT */
/*
 * 8254 PIT (0x40-0x43) and the port 0x61 bits that belong to it (channel 2 gate, speaker
 * enable, OUT2), for deterministic mode. Its only time base is a virtual clock owned by the
 * VMM (*clock_ns, nanoseconds): the same sequence of clock values and port accesses always
 * gives the same counter reads and the same IRQ0 edges.
 */
#ifndef DEJAVM_PIT_H
#define DEJAVM_PIT_H

#include <stdbool.h>
#include <stdint.h>

#define PIT_FREQ_HZ 1193182ULL

struct bus;
struct pit;
struct persist_in;
struct msgpack_packer;

/* Called for each rising edge of channel 0's output (IRQ0 on a PC). */
typedef void (*pit_irq0_fn)(void *ctx);

struct pit *pit_new(const uint64_t *clock_ns, pit_irq0_fn irq0, void *ctx);
void pit_free(struct pit *p);
/* Registers 0x40-0x43 and 0x61 on the PIO bus. Returns 0 or -errno. */
int pit_register(struct pit *p, struct bus *pio_bus);

/*
 * Brings the PIT up to *clock_ns: calls irq0 once if channel 0's output had one or more rising
 * edges since the last update (several periods that passed unseen collapse into one, as the
 * PIC's edge latch would make them).
 */
void pit_update(struct pit *p);
/* Virtual time (ns) of channel 0's next rising edge after the last update, or UINT64_MAX. */
uint64_t pit_next_deadline(const struct pit *p);
/* The channels and port 0x61 as a snapshot holds them (persist.h; void * for vm_persist). */
void pit_save(void *pit, struct msgpack_packer *pk);
bool pit_load(void *pit, struct persist_in *in);

#endif
