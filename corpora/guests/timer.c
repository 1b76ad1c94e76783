/*
 * timer: count `ticks` PIT interrupts at `hz` Hz through the (in-kernel)
 * 8259 PIC, sleeping in HLT between them.  See docs/guest-abi.md.
 *
 * Guard against hanging forever: HLT with no interrupt coming would sleep
 * forever, and a loop-iteration bound cannot help once the CPU sleeps.  So
 * the guest arms an independent wake-up source before the first HLT: the
 * local APIC timer in one-shot mode (vector 0x40), set to `guard_ms`
 * milliseconds (default 2000 + 10 * ticks * 1000 / hz; the count assumes
 * KVM's 1 GHz APIC bus clock, divide-by-128).  If it fires before all ticks
 * arrived, the guest prints "timer: no interrupts" (no tick at all) or
 * "timer: stalled after K of N ticks" and exits 1.  In the normal case it
 * is disarmed before it fires, so it adds no interrupt to the run.
 */
#include "rt.h"

#define PIT_HZ	       1193182UL
#define VEC_PIT	       0x20
#define VEC_SPURIOUS7  0x27
#define VEC_WATCHDOG   0x40
#define VEC_LAPIC_SPUR 0xff

#define LAPIC_EOI	0x0b0
#define LAPIC_SVR	0x0f0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_DCR 0x3e0
#define LAPIC_MASKED	(1u << 16)

static volatile unsigned long ticks;
static volatile int watchdog_fired;
static volatile unsigned long spin_count; /* spin=2 */

static inline void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(RT_LAPIC_BASE + reg, v);
}

static void pit_irq(struct rt_frame *f)
{
	(void)f;
	ticks++;
	outb(0x20, 0x20); /* non-specific EOI to the master PIC */
}

static void watchdog_irq(struct rt_frame *f)
{
	(void)f;
	watchdog_fired = 1;
	lapic_write(LAPIC_EOI, 0);
}

static void ignore_irq(struct rt_frame *f)
{
	(void)f; /* spurious: no EOI */
}

int main(const char *cmdline)
{
	unsigned long hz = rt_arg_ulong(cmdline, "hz", 1000);
	unsigned long want = rt_arg_ulong(cmdline, "ticks", 50);
	if (hz == 0)
		hz = 1;
	unsigned long guard_ms = rt_arg_ulong(cmdline, "guard_ms", 2000 + 10 * want * 1000 / hz);
	unsigned long spin = rt_arg_ulong(cmdline, "spin", 0);

	unsigned long div = (PIT_HZ + hz / 2) / hz;
	if (div < 2)
		div = 2;
	if (div > 65535)
		div = 65535;

	rt_idt_set(VEC_PIT, pit_irq);
	rt_idt_set(VEC_SPURIOUS7, ignore_irq);
	rt_idt_set(VEC_WATCHDOG, watchdog_irq);
	rt_idt_set(VEC_LAPIC_SPUR, ignore_irq);

	/* 8259: ICW1 (edge, cascade, ICW4), ICW2 bases 0x20/0x28, ICW3, ICW4 8086. */
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, 0x20);
	outb(0xa1, 0x28);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
	outb(0x21, 0xfe); /* unmask IRQ0 only */
	outb(0xa1, 0xff);

	/* LAPIC: software-enable it (spurious vector 0xff) and route LINT0 as
	 * ExtINT, unmasked.  The dejavm VMM already sets LINT0 = ExtINT; QEMU's
	 * microvm leaves it masked, so the PIC would never reach the CPU. */
	uint64_t count = (uint64_t)guard_ms * 7812; /* 1 GHz / 128 per ms */
	if (count == 0)
		count = 1;
	if (count > 0xffffffffu)
		count = 0xffffffffu;
	lapic_write(LAPIC_SVR, 0x100 | VEC_LAPIC_SPUR);
	lapic_write(LAPIC_LVT_LINT0, 0x700);
	/* Watchdog: one-shot LAPIC timer, armed after the PIT is programmed. */
	lapic_write(LAPIC_TIMER_DCR, 0xa);	    /* divide by 128 */
	lapic_write(LAPIC_LVT_TIMER, VEC_WATCHDOG); /* one-shot, unmasked */

	/* PIT channel 0, lobyte/hibyte, mode 2 (rate generator), binary. */
	outb(0x43, 0x34);
	outb(0x40, (uint8_t)div);
	outb(0x40, (uint8_t)(div >> 8));
	lapic_write(LAPIC_TIMER_ICR, (uint32_t)count);

	/* Check with interrupts off, then sti;hlt: a tick pending at the check
	 * is delivered after the STI shadow and wakes the HLT, none is lost. */
	if (spin) {
		/*
		 * Busy-wait with interrupts on: no exit at all until a tick arrives (under
		 * dejavm --deterministic, only the exit-budget watchdog ends such a stretch).
		 * spin=1 only reads: a fixed point, the same state at every pass. spin=2 also
		 * increments a counter in memory and spin=3 one in a register: loops that count
		 * while they wait, like a delay-loop calibration, which no VMM can give time at a
		 * point the host did not choose. The count is printed, so a replay that stopped
		 * at another pass shows. spin=4 inverts a word in memory (NOT changes no register
		 * and no flag): the state repeats only every other pass, which only the memory
		 * tells.
		 */
		unsigned long count = 0;

		rt_sti();
		if (spin == 2) {
			while (ticks < want && !watchdog_fired)
				__asm__ volatile("addq $1, %0" : "+m"(spin_count));
			count = spin_count;
		} else if (spin == 3) {
			while (ticks < want && !watchdog_fired)
				__asm__ volatile("incq %0" : "+r"(count));
		} else if (spin == 4) {
			while (ticks < want && !watchdog_fired)
				__asm__ volatile("notq %0" : "+m"(spin_count));
			count = spin_count;
		} else {
			while (ticks < want && !watchdog_fired)
				__asm__ volatile("" : : : "memory");
		}
		rt_cli();
		if (spin == 2 || spin == 3)
			rt_printf("timer: spun %lu times\n", count);
		else if (spin == 4)
			rt_printf("timer: word %lx\n", count);
	}
	while (ticks < want && !watchdog_fired) {
		rt_sti_hlt();
		rt_cli();
	}

	lapic_write(LAPIC_TIMER_ICR, 0); /* stop the watchdog */
	lapic_write(LAPIC_LVT_TIMER, LAPIC_MASKED | VEC_WATCHDOG);
	outb(0x21, 0xff); /* mask the PIT */

	unsigned long got = ticks;
	if (got < want) {
		if (got == 0)
			rt_printf("timer: no interrupts\n");
		else
			rt_printf("timer: stalled after %lu of %lu ticks\n", got, want);
		return 1;
	}
	rt_printf("timer: %lu ticks at %lu Hz\n", got, hz);
	return 0;
}
