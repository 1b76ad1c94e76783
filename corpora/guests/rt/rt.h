/*
 * dejavm test-guest runtime (freestanding, x86-64, ring 0).
 * ABI and device reference: docs/guest-abi.md.
 */
#ifndef DEJAVM_GUEST_RT_H
#define DEJAVM_GUEST_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- platform (must match the VMM) ---- */
#define RT_PORT_COM1	 0x3f8	      /* 16550: THR at +0, LSR at +5 */
#define RT_PORT_PROGRESS 0x80	      /* boot-progress debug port */
#define RT_PORT_EXIT	 0x501	      /* outb(status) ends the VM */
#define RT_PORT_TESTDEV	 0x510	      /* 32-bit: out stores v, in returns ~v */
#define RT_MMIO_TESTDEV	 0xfe000000UL /* +0: 32-bit reg, +8: 64-bit reg */
#define RT_LAPIC_BASE	 0xfee00000UL

#define RT_PROGRESS_MAIN 0x01 /* runtime C entry reached (64-bit, stack ok) */
#define RT_PROGRESS_EXIT 0x02 /* main() returned, about to rt_exit() */

#define RT_EXIT_EXCEPTION 99 /* unexpected exception or interrupt */

/* Xen PVH boot information (EBX at entry). */
#define HVM_START_MAGIC 0x336ec578
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;	 /* version >= 1 */
	uint32_t memmap_entries; /* version >= 1 */
	uint32_t reserved;
};

/* Saved state passed to interrupt handlers (layout fixed by start.S). */
struct rt_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

/* ---- port and MMIO access ---- */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t mmio_read32(uintptr_t a)
{
	return *(volatile uint32_t *)a;
}
static inline void mmio_write32(uintptr_t a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}
static inline uint64_t mmio_read64(uintptr_t a)
{
	return *(volatile uint64_t *)a;
}
static inline void mmio_write64(uintptr_t a, uint64_t v)
{
	*(volatile uint64_t *)a = v;
}

static inline void rt_cli(void)
{
	__asm__ volatile("cli" : : : "memory");
}
static inline void rt_sti(void)
{
	__asm__ volatile("sti" : : : "memory");
}
static inline void rt_hlt(void)
{
	__asm__ volatile("hlt" : : : "memory");
}
/* sti; hlt: the interrupt shadow of STI guarantees no wake-up is lost. */
static inline void rt_sti_hlt(void)
{
	__asm__ volatile("sti; hlt" : : : "memory");
}

/* ---- runtime API ---- */
extern const struct hvm_start_info *rt_start_info; /* NULL if the magic was wrong */

void rt_putc(char c);
void rt_puts(const char *s); /* writes s as is: no newline appended */
int rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_vprintf(const char *fmt, va_list ap);
void rt_progress(uint8_t code);
__attribute__((noreturn)) void rt_exit(int status);

/* key=123 or key=0x1f among space-separated tokens; def if absent/malformed. */
unsigned long rt_arg_ulong(const char *cmdline, const char *key, unsigned long def);

/* Install handler for vector (0-255); NULL restores the default handler
 * (print "guest: exception N at RIP=..." / "guest: unexpected interrupt N",
 * exit 99).  Handlers run with interrupts disabled (interrupt gates); the stub
 * saves all general-purpose registers and returns with iretq. */
void rt_idt_set(int vector, void (*handler)(struct rt_frame *));

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
size_t strlen(const char *s);

/* Provided by each guest. */
int main(const char *cmdline);

#endif
