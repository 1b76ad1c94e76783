/*
 * dejavm test-guest runtime: PVH entry, switch to 64-bit long mode, C entry.
 * See docs/guest-abi.md.  Every instruction executed here is software-emulated
 * on the PVM development hosts (~0.5 us each): the page tables are therefore
 * built by the assembler, not by a loop at run time.
 */

#define XEN_ELFNOTE_PHYS32_ENTRY	18
#define MSR_EFER			0xc0000080
#define EFER_LME			(1 << 8)
#define CR0_PE				(1 << 0)
#define CR0_PG				(1 << 31)
#define CR4_PAE				(1 << 5)
#define SEL_CODE64			0x08
#define SEL_DATA			0x10
#define STACK_SIZE			16384

/* ---- PVH ELF note: name "Xen", type 18, desc = 32-bit entry address ---- */
	.file "start.S" /* a fixed STT_FILE name (not gcc's temp file): reproducible guests */
	.section .note.Xen, "a", @note
	.balign 4
	.long	4			/* namesz */
	.long	4			/* descsz */
	.long	XEN_ELFNOTE_PHYS32_ENTRY
	.asciz	"Xen"
	.balign 4
	.long	_start32
	.balign 4

/* ---- 32-bit entry: protected mode, paging off, EBX = hvm_start_info ---- */
	.section .text.boot, "ax"
	.code32
	.globl	_start32
	.type	_start32, @function
_start32:
	cli
	movl	%ebx, rt_start_info_paddr	/* in .data: survives the .bss clear */
	lgdt	gdt_desc
	movl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0
	ljmp	$SEL_CODE64, $start64
	.size	_start32, . - _start32

	.code64
start64:
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	leaq	stack_top(%rip), %rsp
	cld
	/* zero .bss (16-byte aligned bounds, see guest.ld) */
	leaq	__bss_start(%rip), %rdi
	leaq	__bss_end(%rip), %rcx
	subq	%rdi, %rcx
	shrq	$3, %rcx
	xorl	%eax, %eax
	rep stosq
	xorl	%ebp, %ebp
	call	rt_start		/* noreturn */
1:	cli
	hlt
	jmp	1b

/* ---- interrupt entry stubs: one per vector, common frame, see rt_frame ---- */
	.text
	.balign 16
isr_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, %rdi		/* 16-byte aligned: 5+2+15 qwords pushed */
	cld
	call	rt_dispatch
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp		/* vector, error code */
	iretq

	/* rt_isr_stubs[v] = address of the stub for vector v */
	.pushsection .rodata
	.balign 8
	.globl	rt_isr_stubs
rt_isr_stubs:
	.popsection

	vec = 0
	.rept 256
	.pushsection .rodata
	.quad	1f
	.popsection
1:
	/* vectors where the CPU pushes an error code */
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$vec
	jmp	isr_common
	vec = vec + 1
	.endr

/* ---- data ---- */
	.data
	.balign 8
	.globl	rt_start_info_paddr
rt_start_info_paddr:
	.quad	0

	.balign 8
gdt:
	.quad	0				/* null */
	.quad	0x00af9a000000ffff		/* 0x08: 64-bit code, DPL0 */
	.quad	0x00cf92000000ffff		/* 0x10: data, 4 GiB flat */
gdt_end:
	.balign 8
	.word	0				/* pad so that base is 8-aligned */
gdt_desc:
	.word	gdt_end - gdt - 1
	.quad	gdt			/* 32-bit lgdt reads the low 4 bytes */

/*
 * Static page tables: identity map 0..4 GiB and 64..65 GiB (the VMM's 64-bit PCI window, where
 * the virtio BARs are) with 2 MiB pages.
 * PML4[0] -> PDPT, PDPT[0..3] -> PD0..PD3, PDPT[64] -> PD4, PDs: 2560 large-page entries.
 * Flags: 0x3 = present|writable, 0x83 = present|writable|PS.
 */
	.section .data.pagetables, "aw"
	.balign 4096
pml4:
	.quad	pdpt + 0x3
	.fill	511, 8, 0
pdpt:
	.quad	pd + 0x0000 + 0x3
	.quad	pd + 0x1000 + 0x3
	.quad	pd + 0x2000 + 0x3
	.quad	pd + 0x3000 + 0x3
	.fill	60, 8, 0
	.quad	pd + 0x4000 + 0x3
	.fill	447, 8, 0
pd:
	page = 0
	.rept 2048
	.quad	(page << 21) | 0x83
	page = page + 1
	.endr
	page = 64 << 9
	.rept 512
	.quad	(page << 21) | 0x83
	page = page + 1
	.endr

	.section .stack, "aw", @nobits
	.balign 16
stack_bottom:
	.skip	STACK_SIZE
stack_top:

	.section .note.GNU-stack, "", @progbits
