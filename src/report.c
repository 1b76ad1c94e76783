// SPDX-License-Identifier: MIT
/*
 * The report printed when a guest ends in a failure exit: what happened, where (RIP, CPU mode,
 * the instruction bytes found there through the guest's own page tables) and the registers
 * that usually explain it. One paragraph, so it fits in a CI log.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"
#include "vcpu.h"
#include "vm.h"

#define CR0_PE	 (1ULL << 0)
#define CR0_PG	 (1ULL << 31)
#define CR4_PAE	 (1ULL << 5)
#define CR4_LA57 (1ULL << 12)
#define EFER_LMA (1ULL << 10)
#define PTE_P	 (1ULL << 0)
#define PTE_PS	 (1ULL << 7)
#define PTE_ADDR 0x000ffffffffff000ULL

/* Linear to guest-physical through 4- or 5-level long-mode page tables; -1 when unmapped. */
static int walk_long_mode(const struct guest_mem *gm, uint64_t cr3, bool la57, uint64_t va,
			  uint64_t *gpa)
{
	uint64_t table = cr3 & PTE_ADDR;

	for (int level = la57 ? 5 : 4; level >= 1; level--) {
		unsigned int shift = 12 + 9 * (level - 1);
		uint64_t *pte = gpa_to_hva(gm, table + ((va >> shift) & 511) * 8, 8);

		if (!pte || !(*pte & PTE_P))
			return -1;
		if (level == 1 || ((level == 2 || level == 3) && (*pte & PTE_PS))) {
			uint64_t page_mask = (1ULL << shift) - 1;

			*gpa = ((*pte & PTE_ADDR) & ~page_mask) | (va & page_mask);
			return 0;
		}
		table = *pte & PTE_ADDR;
	}
	return -1;
}

static const char *cpu_mode(const struct kvm_sregs *s)
{
	if (!(s->cr0 & CR0_PE))
		return "real mode";
	if (s->efer & EFER_LMA)
		return s->cs.l ? "64-bit" : "compatibility mode";
	return s->cr0 & CR0_PG ? "32-bit protected mode, paging" : "32-bit protected mode";
}

int guest_linear_to_phys(const struct vm *vm, const struct kvm_sregs *s, uint64_t linear,
			 uint64_t *gpa)
{
	if (!(s->cr0 & CR0_PG)) {
		*gpa = linear;
		return 0;
	}
	if (!(s->efer & EFER_LMA))
		return -2;
	return walk_long_mode(&vm->mem, s->cr3, s->cr4 & CR4_LA57, linear, gpa);
}

int guest_insn(const struct vm *vm, const struct kvm_regs *r, const struct kvm_sregs *s,
	       uint8_t *buf, size_t max)
{
	uint64_t linear = s->cs.base + r->rip;
	size_t n = 0;

	for (; n < max; n++) {
		/* Byte by byte: the instruction may cross into another page, or an unmapped one. */
		uint64_t gpa;
		const uint8_t *b;
		int e = guest_linear_to_phys(vm, s, linear + n, &gpa);

		if (e)
			return n ? (int)n : e;
		b = gpa_to_hva(&vm->mem, gpa, 1);
		if (!b)
			break;
		buf[n] = *b;
	}
	return n;
}

/* Writes up to 15 instruction bytes at the guest's RIP as hex into buf. */
static void insn_bytes(struct vcpu *v, const struct kvm_regs *r, const struct kvm_sregs *s,
		       char *buf, size_t len)
{
	uint8_t insn[15];
	int n = guest_insn(v->vm, r, s, insn, sizeof(insn));
	size_t pos = 0;

	if (n == -1) {
		snprintf(buf, len, "(RIP not mapped in the guest page tables)");
		return;
	}
	if (n == -2) {
		snprintf(buf, len, "(32-bit paging: not walked)");
		return;
	}
	buf[0] = '\0';
	for (int i = 0; i < n && pos + 4 < len; i++)
		pos += snprintf(buf + pos, len - pos, "%s%02x", i ? " " : "", insn[i]);
	if (!pos)
		snprintf(buf, len, "(RIP is outside guest RAM)");
}

static void internal_error_detail(const struct kvm_run *run, char *buf, size_t len)
{
	static const char *const sub[] = {"", "emulation failure", "simultaneous exceptions",
					  "delivery event failure", "unexpected exit reason"};
	unsigned int s = run->internal.suberror;
	size_t pos;

	pos = snprintf(buf, len, ", suberror %u%s%s", s, s < 5 && s ? " " : "",
		       s < 5 ? sub[s] : "");
	for (unsigned int i = 0; i < run->internal.ndata && i < 4 && pos < len; i++)
		pos += snprintf(buf + pos, len - pos, "%s0x%llx", i ? " " : ", data ",
				(unsigned long long)run->internal.data[i]);
}

void report_failure(struct vcpu *v, const char *what, FILE *f)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	char bytes[64], detail[160] = "";

	if (v->run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		internal_error_detail(v->run, detail, sizeof(detail));
	else if (v->run->exit_reason == KVM_EXIT_FAIL_ENTRY)
		snprintf(detail, sizeof(detail), ", hardware reason 0x%llx",
			 (unsigned long long)v->run->fail_entry.hardware_entry_failure_reason);
	if (ioctl(v->fd, KVM_GET_REGS, &r) || ioctl(v->fd, KVM_GET_SREGS, &s)) {
		fprintf(f, "dejavm: guest failure on vCPU %u: %s%s (registers unavailable)\n",
			v->id, what, detail);
		return;
	}
	insn_bytes(v, &r, &s, bytes, sizeof(bytes));
	fprintf(f,
		"dejavm: guest failure on vCPU %u: %s%s. RIP 0x%llx (%s, CS 0x%x), instruction "
		"bytes at RIP: %s. RAX 0x%llx RBX 0x%llx RCX 0x%llx RDX 0x%llx RSI 0x%llx RDI "
		"0x%llx RSP 0x%llx RBP 0x%llx RFLAGS 0x%llx CR0 0x%llx CR2 0x%llx CR3 0x%llx CR4 "
		"0x%llx EFER 0x%llx. After %.3f s of guest run time.\n",
		v->id, what, detail, r.rip, cpu_mode(&s), s.cs.selector, bytes, r.rax, r.rbx, r.rcx,
		r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.rflags, s.cr0, s.cr2, s.cr3, s.cr4, s.efer,
		log_elapsed_ns() / 1e9);
}
