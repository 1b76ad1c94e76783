// SPDX-License-Identifier: MIT
/*
 * What a recording says about the VM: the trace header (format, build, host, configuration,
 * images, CPUID), the boot-time memory writes, and the end event. The events in between are
 * emitted at the exit dispatch point (vcpu.c) and by the devices.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "checkpoint.h"
#include "config_msgpack.h"
#include "determ.h"
#include "log.h"
#include "persist.h"
#include "sha256.h"
#include "trace.h"
#include "vcpu.h"
#include "vm.h"

#define TRACE_ZSTD_LEVEL 3

static int find_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
	char *hex = data;

	(void)size;
	if (info->dlpi_name && info->dlpi_name[0])
		return 0; /* only the main program */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;

		if (ph->p_type != PT_NOTE)
			continue;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const void *)p;
			const uint8_t *desc = p + sizeof(*nh) + ((nh->n_namesz + 3) & ~3u);

			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(p + sizeof(*nh), "GNU", 4) && desc + nh->n_descsz <= end) {
				for (unsigned int j = 0; j < nh->n_descsz && j < 32; j++)
					snprintf(hex + 2 * j, 3, "%02x", desc[j]);
				return 1;
			}
			p = desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
	return 0;
}

static void pack_host(msgpack_packer *pk, struct vm *vm)
{
	static const struct {
		int cap;
		const char *name;
	} caps[] = {
		{KVM_CAP_IRQCHIP, "irqchip"},
		{KVM_CAP_PIT2, "pit2"},
		{KVM_CAP_IOEVENTFD, "ioeventfd"},
		{KVM_CAP_IRQFD, "irqfd"},
		{KVM_CAP_SYNC_REGS, "sync_regs"},
		{KVM_CAP_COALESCED_PIO, "coalesced_pio"},
		{KVM_CAP_SET_GUEST_DEBUG, "set_guest_debug"},
		{KVM_CAP_TSC_CONTROL, "tsc_control"},
		{KVM_CAP_GET_TSC_KHZ, "get_tsc_khz"},
		{KVM_CAP_X86_USER_SPACE_MSR, "x86_user_space_msr"},
	};
	struct utsname u;

	uname(&u);
	msgpack_pack_map(pk, 4);
	persist_str(pk, "kernel", u.release);
	persist_str(pk, "machine", u.machine);
	persist_u64(pk, "kvm_api", ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0));
	persist_key(pk, "kvm_caps");
	msgpack_pack_map(pk, sizeof(caps) / sizeof(caps[0]));
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		int r = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, caps[i].cap);

		persist_u64(pk, caps[i].name, r > 0 ? r : 0);
	}
}

static void pack_header(msgpack_packer *pk, void *ctx)
{
	struct vm *vm = ctx;
	const struct kvm_cpuid2 *cpuid = vm->vcpus[0].cpuid;
	char build_id[65] = "";

	const char *restored = vm->cfg->restore_dir;

	dl_iterate_phdr(find_build_id, build_id);
	msgpack_pack_map(pk, 10 + 2 * (restored != NULL));
	persist_str(pk, "format", TRACE_FORMAT_NAME);
	/* version 3 only where an older reader would misread: checkpoint frames, a first seq */
	persist_u64(pk, "version",
		    vm->cfg->checkpoint_every || restored ? TRACE_FORMAT_VERSION_CKPT
							  : TRACE_FORMAT_VERSION);
	persist_u64(pk, "minor", TRACE_FORMAT_MINOR);
	persist_str(pk, "dejavm_version", DEJAVM_VERSION);
	persist_str(pk, "build_id", build_id);
	persist_key(pk, "host");
	pack_host(pk, vm);
	persist_key(pk, "config");
	config_pack(pk, vm->cfg, true);
	if (restored) {
		/* a run restored from a snapshot: its events go on from there (docs) */
		persist_u64(pk, "first_seq", vm->resumed ? vm->resume_seq : 0);
		persist_key(pk, "restored");
		msgpack_pack_map(pk, 2);
		persist_str(pk, "snapshot", restored);
		persist_u64(pk, "vtime_ns", vm->det ? vm->vtime_ns : 0);
	}
	persist_str(pk, "cmdline", vm->cfg->cmdline);
	persist_key(pk, "images");
	msgpack_pack_array(pk, vm->nr_images);
	for (unsigned int i = 0; i < vm->nr_images; i++) {
		char hex[65];

		sha256_hex(vm->images[i].sha256, hex);
		msgpack_pack_map(pk, 4);
		persist_str(pk, "role", vm->images[i].role);
		persist_str(pk, "path", vm->images[i].path);
		persist_u64(pk, "size", vm->images[i].size);
		persist_str(pk, "sha256", hex);
	}
	/* [function, index, flags, eax, ebx, ecx, edx] per entry, as given to KVM_SET_CPUID2 */
	persist_key(pk, "cpuid");
	msgpack_pack_array(pk, cpuid ? cpuid->nent : 0);
	for (unsigned int i = 0; cpuid && i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		msgpack_pack_array(pk, 7);
		msgpack_pack_uint32(pk, e->function);
		msgpack_pack_uint32(pk, e->index);
		msgpack_pack_uint32(pk, e->flags);
		msgpack_pack_uint32(pk, e->eax);
		msgpack_pack_uint32(pk, e->ebx);
		msgpack_pack_uint32(pk, e->ecx);
		msgpack_pack_uint32(pk, e->edx);
	}
}

static void on_trace_error(void *ctx, const char *msg)
{
	struct vm *vm = ctx;

	log_err("%s; stopping the VM so that no event goes unrecorded", msg);
	vm_request_stop(vm, EXIT_VMM_ERROR, "%s", msg);
}

void record_boot_writes(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_boot_writes; i++) {
		const struct vm_boot_write *w = &vm->boot_writes[i];
		const void *p = gpa_to_hva(&vm->mem, w->gpa, w->len);
		uint8_t digest[32];

		if (!p)
			continue;
		sha256(p, w->len, digest);
		trace_mem_write(vm->trace, w->gpa, w->len, digest, sizeof(digest), w->what);
	}
}

static uint64_t virtual_ns(void *ctx)
{
	const struct vm *vm = ctx;

	return vm->vtime_ns;
}

/*
 * Deterministic mode stamps events with virtual time, and the tracer then cuts frames by it,
 * never by host time: set before the first event, so that even the boot events' frames do not
 * depend on how long hashing the images took.
 */
void record_use_virtual_time(struct vm *vm)
{
	if (vm->det)
		trace_set_clock(vm->trace, virtual_ns, vm);
}

int record_start(struct vm *vm)
{
	const char *path = vm->cfg->record_path;

	vm->trace = trace_open(path, TRACE_ZSTD_LEVEL, pack_header, vm, on_trace_error);
	if (!vm->trace) {
		log_err("--record %s: cannot create the trace: %s", path, strerror(errno));
		return -1;
	}
	if (vm->resumed)
		trace_resume(vm->trace, vm->resume_seq, vm->resume_ts, vm->nr_vcpus);
	record_use_virtual_time(vm);
	record_boot_writes(vm);
	/* Before the vCPU streams start, so a single-vCPU trace is in seq order in the file. */
	trace_flush(vm->trace);
	if (vm->cfg->checkpoint_every && checkpoint_init(vm)) {
		log_err("--checkpoint-every: out of memory for the page hashes");
		return -1;
	}
	return 0;
}

int record_finish(struct vm *vm, int status)
{
	struct trace_kv exits[STATS_MAX_REASON];
	size_t n = 0;
	int r;

	if (!vm->trace)
		return 0;
	for (unsigned int i = 0; i < STATS_MAX_REASON; i++)
		if (vm->stats.by_reason[i])
			exits[n++] = (struct trace_kv){exit_reason_name(i), vm->stats.by_reason[i]};
	/* Host time has no place in a deterministic trace: the stall is in --stats only. */
	trace_end(vm->trace, status, vm->stop_reason, trace_events_emitted(vm->trace), 0,
		  vm->det ? 0 : trace_stall_ns(vm->trace), exits, n, vm->stats.nondeterministic);
	r = trace_close(vm->trace);
	vm->trace = NULL;
	return r;
}
