/* SPDX-License-Identifier: MIT */
/*
 * Two cascaded 8259A PICs (master 0x20/0x21, slave 0xa0/0xa1 on master IRQ2) and the ELCR
 * (0x4d0/0x4d1), as deterministic mode's interrupt controller. It has no thread and no clock:
 * the vCPU thread drives it, so interrupts reach the guest only at exits.
 */
#ifndef DEJAVM_PIC_H
#define DEJAVM_PIC_H

#include <stdbool.h>
#include <stdint.h>

struct bus;
struct pic;
struct persist_in;
struct msgpack_packer;

struct pic *pic_new(void);
void pic_free(struct pic *p);
/* Registers 0x20-0x21, 0xa0-0xa1 and 0x4d0-0x4d1 on the PIO bus. Returns 0 or -errno. */
int pic_register(struct pic *p, struct bus *pio_bus);

/* Drives ISA line irq (0-15). Edge-triggered lines latch a request on a rising edge. */
void pic_set_irq(struct pic *p, unsigned int irq, bool level);
/* The INTR pin: an unmasked request with a higher priority than anything in service. */
bool pic_intr_pending(const struct pic *p);
/*
 * The CPU's interrupt-acknowledge cycle: returns the vector to deliver and moves the request
 * from IRR to ISR (or clears it in auto-EOI mode). If the request went away, the spurious
 * vector of IRQ7 (master) or IRQ15 (slave) is returned, as on real hardware.
 */
uint8_t pic_acknowledge(struct pic *p);
/* Both chips' state as a snapshot holds it (persist.h; void * for vm_persist). */
void pic_save(void *pic, struct msgpack_packer *pk);
bool pic_load(void *pic, struct persist_in *in);

#endif
