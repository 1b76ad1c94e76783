/*
 * dejavm test-guest runtime: serial output, printf, exit, command line,
 * IDT.  See docs/guest-abi.md.  Keep it small: on the development hosts every
 * guest instruction at CPL0 is emulated (~0.5 us).
 */
#include "rt.h"

extern uint64_t rt_start_info_paddr;	 /* start.S, saved EBX */
extern const uint64_t rt_isr_stubs[256]; /* start.S */

const struct hvm_start_info *rt_start_info;

/* ---- libc bits gcc may call even with -ffreestanding ---- */
void *memset(void *d, int c, size_t n)
{
	void *r = d;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return r;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *r = d;
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return r;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* ---- output ---- */
void rt_putc(char c)
{
	/* Wait for THR empty (LSR bit 5), bounded so a missing UART cannot hang us. */
	for (int i = 0; i < 100000; i++)
		if (inb(RT_PORT_COM1 + 5) & 0x20)
			break;
	outb(RT_PORT_COM1, (uint8_t)c);
}

void rt_puts(const char *s)
{
	while (*s)
		rt_putc(*s++);
}

static int put_num(unsigned long long v, unsigned base, int width, char pad, int neg)
{
	char buf[24];
	int n = 0, out = 0;

	do {
		unsigned d = (unsigned)(v % base);
		buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v);
	if (neg && pad == '0') {
		rt_putc('-');
		out++;
		width--;
	}
	for (int w = n + (neg && pad != '0'); w < width; w++, out++)
		rt_putc(pad);
	if (neg && pad != '0') {
		rt_putc('-');
		out++;
	}
	while (n) {
		rt_putc(buf[--n]);
		out++;
	}
	return out;
}

int rt_vprintf(const char *fmt, va_list ap)
{
	int out = 0;

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			rt_putc(*fmt);
			out++;
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, lng = 0;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			long long v =
				lng ? va_arg(ap, long) : va_arg(ap, int); /* long == long long */
			unsigned long long u =
				v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
			out += put_num(u, 10, width, pad, v < 0);
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v =
				lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			out += put_num(v, *fmt == 'x' ? 16 : 10, width, pad, 0);
			break;
		}
		case 'p':
			rt_puts("0x");
			out += 2 + put_num((uintptr_t)va_arg(ap, void *), 16, width, pad, 0);
			break;
		case 'c':
			rt_putc((char)va_arg(ap, int));
			out++;
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int n = (int)strlen(s);
			for (; n < width; width--, out++)
				rt_putc(' ');
			rt_puts(s);
			out += n;
			break;
		}
		case '%':
			rt_putc('%');
			out++;
			break;
		case '\0':
			return out;
		default:
			rt_putc('%');
			rt_putc(*fmt);
			out += 2;
			break;
		}
	}
	return out;
}

int rt_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = rt_vprintf(fmt, ap);
	va_end(ap);
	return n;
}

void rt_progress(uint8_t code)
{
	outb(RT_PORT_PROGRESS, code);
}

void rt_exit(int status)
{
	outb(RT_PORT_EXIT, (uint8_t)status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* ---- command line ---- */
unsigned long rt_arg_ulong(const char *cmdline, const char *key, unsigned long def)
{
	size_t klen = strlen(key);
	const char *p = cmdline;

	if (!p)
		return def;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *tok = p;
		while (*p && *p != ' ')
			p++;
		size_t tlen = (size_t)(p - tok);
		if (tlen <= klen || tok[klen] != '=')
			continue;
		size_t i;
		for (i = 0; i < klen && tok[i] == key[i]; i++)
			;
		if (i < klen)
			continue;
		const char *v = tok + klen + 1, *end = p;
		unsigned base = 10;
		if (end - v > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
			base = 16;
			v += 2;
		}
		if (v == end)
			return def; /* empty value */
		unsigned long r = 0;
		for (; v < end; v++) {
			unsigned d;
			if (*v >= '0' && *v <= '9')
				d = (unsigned)(*v - '0');
			else if (base == 16 && *v >= 'a' && *v <= 'f')
				d = (unsigned)(*v - 'a' + 10);
			else if (base == 16 && *v >= 'A' && *v <= 'F')
				d = (unsigned)(*v - 'A' + 10);
			else
				return def; /* malformed value */
			r = r * base + d;
		}
		return r; /* first match wins */
	}
	return def;
}

/* ---- IDT ---- */
struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t attr;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));
static void (*handlers[256])(struct rt_frame *);

static void set_gate(int v)
{
	uint64_t a = rt_isr_stubs[v];
	idt[v] = (struct idt_gate){
		.off_lo = (uint16_t)a,
		.sel = 0x08,
		.attr = 0x8e, /* present, DPL0, 64-bit interrupt gate */
		.off_mid = (uint16_t)(a >> 16),
		.off_hi = (uint32_t)(a >> 32),
	};
}

void rt_idt_set(int vector, void (*handler)(struct rt_frame *))
{
	if (vector < 0 || vector > 255)
		return;
	handlers[vector] = handler;
	set_gate(vector);
}

static void default_handler(struct rt_frame *f)
{
	if (f->vector < 32) {
		rt_printf("guest: exception %lu at RIP=0x%lx err=0x%lx", f->vector, f->rip,
			  f->error_code);
		if (f->vector == 14) {
			uint64_t cr2;
			__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
			rt_printf(" cr2=0x%lx", cr2);
		}
		rt_putc('\n');
	} else {
		rt_printf("guest: unexpected interrupt %lu at RIP=0x%lx\n", f->vector, f->rip);
	}
	rt_exit(RT_EXIT_EXCEPTION);
}

void rt_dispatch(struct rt_frame *f);
void rt_dispatch(struct rt_frame *f)
{
	void (*h)(struct rt_frame *) = handlers[f->vector & 0xff];
	(h ? h : default_handler)(f);
}

static void idt_init(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} idtr = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};

	/* Only the exception vectors get gates now (each one costs emulated
	 * instructions); other vectors are not present until rt_idt_set(), so a
	 * stray interrupt raises #NP, reported by the default handler. */
	for (int v = 0; v < 32; v++)
		set_gate(v);
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

/* ---- C entry, called from start.S on the boot stack ---- */
__attribute__((noreturn)) void rt_start(void);
__attribute__((noreturn)) void rt_start(void)
{
	const char *cmdline = "";

	rt_progress(RT_PROGRESS_MAIN);
	idt_init();
	const struct hvm_start_info *si =
		(const struct hvm_start_info *)(uintptr_t)rt_start_info_paddr;
	if (si && si->magic == HVM_START_MAGIC) {
		rt_start_info = si;
		if (si->cmdline_paddr)
			cmdline = (const char *)(uintptr_t)si->cmdline_paddr;
	} else {
		rt_printf("guest: bad hvm_start_info at 0x%lx, ignoring it\n", rt_start_info_paddr);
	}

	int status = main(cmdline);
	rt_progress(RT_PROGRESS_EXIT);
	rt_exit(status);
}
