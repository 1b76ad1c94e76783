// SPDX-License-Identifier: MIT
/*
 * 16550A UART at 0x3f8 (COM1, IRQ 4). Output is written as soon as the guest writes THR, so the
 * transmitter is always empty; input comes from stdin (main thread) into a 64-byte FIFO.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../determ.h"
#include "../log.h"
#include "../persist.h"
#include "../trace.h"
#include "../vm.h"

#define COM1_BASE 0x3f8
#define COM1_IRQ  4
#define RX_FIFO	  64

#define UART_IER_RDI  0x01
#define UART_IER_THRI 0x02
#define UART_IIR_NONE 0x01
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI  0x04
#define UART_FCR_EN   0x01
#define UART_FCR_CLRR 0x02
#define UART_LCR_DLAB 0x80
#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10
#define UART_LSR_DR   0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

struct serial {
	struct vm *vm;
	pthread_mutex_t lock;
	int out_fd; /* -1: discard */
	bool out_is_tty;
	uint8_t ier, fcr, lcr, mcr, scr, dll, dlm;
	bool thr_ipending; /* THRE interrupt latched until IIR read or THR write */
	bool irq_level;
	uint8_t rx[RX_FIFO];
	unsigned int rx_head, rx_len;
	char out[4096];
	size_t out_len;
	uint8_t line[256]; /* what the guest sent since the last serial trace event */
	size_t line_len;
};

static void trace_line_flush(struct serial *s)
{
	if (s->vm->trace && s->line_len)
		trace_serial(s->vm->trace, COM1_BASE, s->line, s->line_len);
	s->line_len = 0;
}

static void out_flush_locked(struct serial *s)
{
	size_t done = 0;

	while (done < s->out_len) {
		ssize_t r = write(s->out_fd, s->out + done, s->out_len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* The guest must not stall on a closed pipe; say it once. */
			log_warn("serial: output write failed: %s; further output dropped",
				 r ? strerror(errno) : "short write");
			s->out_fd = -1;
			break;
		}
		done += r;
	}
	s->out_len = 0;
}

static uint8_t iir(const struct serial *s)
{
	if ((s->ier & UART_IER_RDI) && s->rx_len)
		return UART_IIR_RDI;
	if ((s->ier & UART_IER_THRI) && s->thr_ipending)
		return UART_IIR_THRI;
	return UART_IIR_NONE;
}

/* On a PC, OUT2 gates the UART's interrupt onto the ISA bus. */
static void update_irq(struct serial *s)
{
	bool level = iir(s) != UART_IIR_NONE && (s->mcr & UART_MCR_OUT2);

	if (level != s->irq_level) {
		s->irq_level = level;
		vm_set_irq(s->vm, COM1_IRQ, level);
	}
}

static void rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_len < RX_FIFO)
		s->rx[(s->rx_head + s->rx_len++) % RX_FIFO] = c;
}

static void transmit(struct serial *s, uint8_t c)
{
	if (s->mcr & UART_MCR_LOOP) {
		rx_push(s, c);
		s->thr_ipending = true;
		return;
	}
	determ_mutate_tx(s->vm, &c);
	if (s->vm->trace) {
		s->line[s->line_len++] = c;
		if (c == '\n' || s->line_len == sizeof(s->line))
			trace_line_flush(s);
	}
	if (s->out_fd >= 0) {
		s->out[s->out_len++] = c;
		if (s->out_is_tty || c == '\n' || s->out_len == sizeof(s->out))
			out_flush_locked(s);
	}
	s->thr_ipending = true;
}

static void serial_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	uint8_t v = 0;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case 0:
		if (s->lcr & UART_LCR_DLAB) {
			v = s->dll;
		} else if (s->rx_len) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % RX_FIFO;
			s->rx_len--;
		}
		break;
	case 1:
		v = (s->lcr & UART_LCR_DLAB) ? s->dlm : s->ier;
		break;
	case 2:
		v = iir(s) | ((s->fcr & UART_FCR_EN) ? 0xc0 : 0);
		if ((v & 0x0f) == UART_IIR_THRI)
			s->thr_ipending = false; /* reading IIR acknowledges THRE */
		break;
	case 3:
		v = s->lcr;
		break;
	case 4:
		v = s->mcr;
		break;
	case 5:
		v = UART_LSR_THRE | UART_LSR_TEMT | (s->rx_len ? UART_LSR_DR : 0);
		break;
	case 6:
		if (s->mcr & UART_MCR_LOOP)
			v = ((s->mcr & UART_MCR_OUT2) << 4) | ((s->mcr & UART_MCR_OUT1) << 4) |
			    ((s->mcr & UART_MCR_DTR) << 5) | ((s->mcr & UART_MCR_RTS) << 3);
		else
			v = 0xb0; /* DCD, DSR, CTS */
		break;
	case 7:
		v = s->scr;
		break;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	memset(data, 0, len);
	data[0] = v;
}

static void serial_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	uint8_t v = data[0];

	(void)len;
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case 0:
		if (s->lcr & UART_LCR_DLAB)
			s->dll = v;
		else
			transmit(s, v);
		break;
	case 1:
		if (s->lcr & UART_LCR_DLAB) {
			s->dlm = v;
		} else {
			/* Enabling THRI with an empty transmitter raises THRE at once. */
			if ((v & UART_IER_THRI) && !(s->ier & UART_IER_THRI))
				s->thr_ipending = true;
			s->ier = v & 0x0f;
		}
		break;
	case 2:
		s->fcr = v & 0xc9;
		if (v & UART_FCR_CLRR)
			s->rx_len = 0;
		break;
	case 3:
		s->lcr = v;
		break;
	case 4:
		s->mcr = v & 0x1f;
		break;
	case 7:
		s->scr = v;
		break;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops serial_ops = {
	.read = serial_read, .write = serial_write, .byte_registers = 1};

/* What the guest can observe, and the line the trace has not had yet (snapshot: persist.h). */
#define SERIAL_STATE(F)       \
	F(UINT, ier)          \
	F(UINT, fcr)          \
	F(UINT, lcr)          \
	F(UINT, mcr)          \
	F(UINT, scr)          \
	F(UINT, dll)          \
	F(UINT, dlm)          \
	F(BOOL, thr_ipending) \
	F(BOOL, irq_level)    \
	F(BIN, rx)            \
	F(UINT, rx_head)      \
	F(UINT, rx_len)       \
	F(BIN, line)          \
	F(UINT, line_len)

/* The output so far reaches its file; the trace's line stays (it goes on after a restore). */
static void serial_save(void *opaque, msgpack_packer *pk)
{
	struct serial *s = opaque; /* s->lock is held (vm_parts_lock) */

	if (s->out_fd >= 0)
		out_flush_locked(s);
	PERSIST_SAVE(pk, s, SERIAL_STATE);
}

static bool serial_load(void *opaque, struct persist_in *in)
{
	struct serial *s = opaque;

	if (!PERSIST_LOAD(in, s, SERIAL_STATE))
		return false;
	if (s->rx_head >= RX_FIFO || s->rx_len > RX_FIFO)
		return persist_fail(in, "rx_head", "%u/%u: outside the %d-byte FIFO", s->rx_head,
				    s->rx_len, RX_FIFO);
	if (s->line_len >= sizeof(s->line))
		return persist_fail(in, "line_len", "%zu: outside the line buffer", s->line_len);
	return true;
}

void serial_input(struct serial *s, const uint8_t *data, size_t len)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < len; i++)
		rx_push(s, data[i]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

void serial_flush(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	trace_line_flush(s);
	if (s->out_fd >= 0)
		out_flush_locked(s);
	pthread_mutex_unlock(&s->lock);
}

void serial_free(struct serial *s)
{
	if (!s)
		return;
	serial_flush(s);
	if (s->out_fd > 2)
		close(s->out_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int serial_init(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct serial *s;
	int r;

	if (cfg->serial == SERIAL_OFF)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->vm = vm;
	s->out_fd = -1;
	s->mcr = UART_MCR_OUT2;
	pthread_mutex_init(&s->lock, NULL);
	if (cfg->serial == SERIAL_TTY) {
		s->out_fd = STDOUT_FILENO;
		s->out_is_tty = isatty(STDOUT_FILENO);
	} else if (cfg->serial == SERIAL_FILE) {
		s->out_fd =
			open(cfg->serial_path,
			     O_WRONLY | O_CREAT | O_CLOEXEC |
				     (config_appends(cfg, OVERRIDE_SERIAL) ? O_APPEND : O_TRUNC),
			     0644);
		if (s->out_fd < 0) {
			r = -errno;
			log_err("--serial file=%s: cannot open: %s", cfg->serial_path,
				strerror(errno));
			serial_free(s);
			return r;
		}
	}
	r = bus_register(&vm->pio_bus, COM1_BASE, 8, &serial_ops, s, "serial");
	if (r) {
		serial_free(s);
		return r;
	}
	vm->serial = s;
	return vm_persist(vm, "serial", serial_save, serial_load, s, &s->lock);
}
