// SPDX-License-Identifier: MIT
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "checkpoint.h"
#include "determ.h"
#include "mptable.h"
#include "pci.h"
#include "loader.h"
#include "log.h"
#include "sha256.h"
#include "snapshot.h"
#include "trace.h"
#include "vcpu.h"

#define KVM_TSS_ADDR	      0xfffbd000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

static int kvm_check_caps(struct vm *vm)
{
	static const struct {
		int cap;
		const char *name;
	} needed[] = {
		{KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
		{KVM_CAP_PIT2, "KVM_CAP_PIT2"},
		{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
		{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
		{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
	};
	int version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);

	if (version != KVM_API_VERSION) {
		log_err("/dev/kvm: API version %d, dejavm needs %d", version, KVM_API_VERSION);
		return -1;
	}
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0) {
			log_err("/dev/kvm: %s is missing", needed[i].name);
			return -1;
		}
	}
	return 0;
}

/* Memory slot i: region i of guest RAM, with flags (KVM_MEM_LOG_DIRTY_PAGES). 0 or -errno. */
static int set_slot(struct vm *vm, unsigned int i, uint32_t flags)
{
	struct kvm_userspace_memory_region region = {
		.slot = i,
		.flags = flags,
		.guest_phys_addr = vm->mem.regions[i].gpa,
		.memory_size = vm->mem.regions[i].size,
		.userspace_addr = (uintptr_t)vm->mem.regions[i].hva,
	};

	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) ? -errno : 0;
}

/* Guest RAM in this process, not yet KVM's. */
static int map_memory(struct vm *vm)
{
	int r = guest_mem_alloc(&vm->mem, vm->cfg->mem_size);

	if (r) {
		log_err("cannot map %llu MiB of guest RAM: %s",
			(unsigned long long)(vm->cfg->mem_size >> 20), strerror(-r));
		return -1;
	}
	return 0;
}

static int setup_memory(struct vm *vm)
{
	int r;

	if (map_memory(vm))
		return -1;
	for (unsigned int i = 0; i < vm->mem.nr; i++) {
		r = set_slot(vm, i, 0);
		if (r) {
			log_err("KVM_SET_USER_MEMORY_REGION slot %u: %s", i, strerror(-r));
			return -1;
		}
	}
	return 0;
}

int vm_dirty_log(struct vm *vm, bool on)
{
	for (unsigned int i = 0; i < vm->mem.nr; i++) {
		int err = set_slot(vm, i, on ? KVM_MEM_LOG_DIRTY_PAGES : 0);

		if (err) {
			vm_request_stop(vm, EXIT_VMM_ERROR,
					"dirty log %s: KVM_SET_USER_MEMORY_REGION: %s",
					on ? "on" : "off", strerror(-err));
			return err;
		}
	}
	return 0;
}

int vm_dirty_pages(struct vm *vm, uint64_t *gpas, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < vm->mem.nr; i++) {
		const struct mem_region *r = &vm->mem.regions[i];
		size_t words = (r->size / 4096 + 63) / 64;
		uint64_t *bitmap = calloc(words, sizeof(*bitmap));
		struct kvm_dirty_log log = {.slot = i, .dirty_bitmap = bitmap};

		if (!bitmap)
			return -ENOMEM;
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log)) {
			int err = -errno;

			free(bitmap);
			vm_request_stop(vm, EXIT_VMM_ERROR, "KVM_GET_DIRTY_LOG: %s",
					strerror(-err));
			return err;
		}
		for (size_t w = 0; w < words; w++)
			for (uint64_t b = bitmap[w]; b; b &= b - 1, n++)
				if (n < max)
					gpas[n] = r->gpa + ((w * 64 + __builtin_ctzll(b)) << 12);
		free(bitmap);
	}
	return n;
}

static int setup_irqchip(struct vm *vm)
{
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};

	/* Only meaningful on VMX; other backends may refuse, which is harmless. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR))
		log_debug("KVM_SET_TSS_ADDR: %s (ignored)", strerror(errno));
	uint64_t identity = KVM_IDENTITY_MAP_ADDR;
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity))
		log_debug("KVM_SET_IDENTITY_MAP_ADDR: %s (ignored)", strerror(errno));
	if (vm->cfg->deterministic)
		return determ_init(vm) ? -1 : 0; /* the VMM's own PIC and PIT instead */
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0)) {
		log_err("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -1;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit)) {
		log_err("KVM_CREATE_PIT2: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The 64-bit window: at PCI_WIN_MMIO64_BASE, or at the first GiB boundary above RAM. */
static uint64_t mmio64_base(const struct vm *vm)
{
	const struct mem_region *top = &vm->mem.regions[vm->mem.nr - 1];
	uint64_t end = (top->gpa + top->size + (1ULL << 30) - 1) & ~((1ULL << 30) - 1);

	return end > PCI_WIN_MMIO64_BASE ? end : PCI_WIN_MMIO64_BASE;
}

/*
 * PCI segment 0, bus 0, before the devices that live on it. 32-bit BARs go in the MMIO hole
 * below 4 GiB, 64-bit ones (the virtio devices') above RAM, as on cloud-hypervisor.
 * Deterministic mode: the INTx lines virtio devices use are level-triggered in the PIC's ELCR
 * (IRQ 5, 9, 10, 11), as a PC's firmware leaves them for PCI.
 */
static int setup_pci(struct vm *vm)
{
	static const uint8_t elcr[2] = {1 << 5, 1 << 1 | 1 << 2 | 1 << 3};
	int r;

	vm->pci = vm_own(vm, calloc(1, sizeof(*vm->pci)));
	if (!vm->pci)
		return -ENOMEM;
	r = pci_bus_init(vm->pci, &vm->pio_bus, PCI_WIN_MMIO32_BASE, PCI_WIN_MMIO32_SIZE,
			 mmio64_base(vm), PCI_WIN_MMIO64_SIZE, PCI_WIN_IO_BASE, PCI_WIN_IO_SIZE);
	if (r) {
		vm->pci = NULL;
		return r;
	}
	r = vm_persist(vm, "pci", pci_bus_save, pci_bus_load, vm->pci, NULL);
	if (r)
		return r;
	if (vm->det) {
		bus_access(&vm->pio_bus, 0x4d0, (uint8_t *)&elcr[0], 1, true);
		bus_access(&vm->pio_bus, 0x4d1, (uint8_t *)&elcr[1], 1, true);
	}
	return 0;
}

static int virtio_devices_init(struct vm *vm);

static int setup_devices(struct vm *vm)
{
	static const struct {
		const char *name;
		int (*init)(struct vm *vm);
	} devices[] = {
		{"PCI bus", setup_pci},
		{"serial", serial_init},
		{"i8042", i8042_init},
		{"cmos", cmos_init},
		{"debug-port", debugport_init},
		{"test device", testdev_init},
		{"virtio devices", virtio_devices_init},
	};
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		unsigned long said = log_error_count();
		int r = devices[i].init(vm);

		if (r) {
			if (log_error_count() ==
			    said) /* else the device named its option and file */
				log_err("%s: cannot set up: %s", devices[i].name,
					r < 0 ? strerror(-r) : "failed");
			return -1;
		}
	}
	return 0;
}

/* What every VM starts from: nothing open, nothing on the buses. */
static void vm_init(struct vm *vm, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->kvm_fd = vm->vm_fd = vm->done_fd = vm->rng_fd = vm->self_pause_fd = -1;
	bus_init(&vm->pio_bus, "pio");
	bus_init(&vm->mmio_bus, "mmio");
	pthread_mutex_init(&vm->msi_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
}

int vm_create_without_kvm(struct vm *vm, const struct vm_config *cfg)
{
	vm_init(vm, cfg);
	if (map_memory(vm) || (cfg->deterministic && determ_init(vm)))
		return -1;
	return setup_devices(vm);
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	vm_init(vm, cfg);
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		log_err("cannot open /dev/kvm: %s%s", strerror(errno),
			errno == EACCES ? " (add yourself to the kvm group, or run as root)" : "");
		return -1;
	}
	if (kvm_check_caps(vm))
		return -1;
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		log_err("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -1;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		log_err("KVM_CREATE_VM: %s", strerror(errno));
		return -1;
	}
	vm->coalesced_page = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
	if (vm->coalesced_page < 0 || (vm->coalesced_page + 1) * getpagesize() > vm->vcpu_mmap_size)
		vm->coalesced_page = 0;
	vm->done_fd = eventfd(0, EFD_CLOEXEC);
	vm->self_pause_fd = eventfd(0, EFD_CLOEXEC);
	if (getenv("DEJAVM_TEST_PAUSE_AFTER"))
		vm->test_pause_after = strtoull(getenv("DEJAVM_TEST_PAUSE_AFTER"), NULL, 10);
	if (vm->done_fd < 0 || vm->self_pause_fd < 0) {
		log_err("eventfd: %s", strerror(errno));
		return -1;
	}
	if (setup_memory(vm) || setup_irqchip(vm) || setup_devices(vm))
		return -1;

	vm->nr_vcpus = cfg->cpus;
	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -1;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		int r = vcpu_create(vm, &vm->vcpus[i], i);

		if (r) {
			log_err("cannot create vCPU %u: %s", i, strerror(-r));
			return -1;
		}
	}
	/* One ring for the whole VM, mapped through every vCPU's kvm_run area. */
	if (vm->coalesced_page)
		vm->coalesced_ring =
			(void *)((uint8_t *)vm->vcpus[0].run + vm->coalesced_page * getpagesize());
	return 0;
}

static void add_image(struct vm *vm, const char *role, const char *path, const uint8_t *buf,
		      size_t size)
{
	struct vm_image *im = &vm->images[vm->nr_images++];

	im->role = role;
	im->path = path;
	im->size = size;
	if (vm->cfg->record_path) /* only a trace needs it: ~50 ms for a 12 MB vmlinux */
		sha256(buf, size, im->sha256);
}

static void add_boot_write(struct vm *vm, uint64_t gpa, uint64_t len, const char *what)
{
	vm->boot_writes[vm->nr_boot_writes++] = (struct vm_boot_write){gpa, len, what};
}

int vm_load(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct boot_image img;
	struct boot_args args = {.nr_cpus = cfg->cpus, .cmdline = cfg->cmdline};
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	const char *what; /* the option whose file err is about ("" for none) */
	char err[512];
	uint8_t *buf;
	size_t size;
	int r;

	what = "--kernel";
	if (read_whole_file(cfg->kernel, &buf, &size, err, sizeof(err)))
		goto fail;
	add_image(vm, "kernel", cfg->kernel, buf, size);
	r = load_kernel(&vm->mem, cfg->kernel, buf, size, &img, err, sizeof(err));
	free(buf);
	if (r)
		goto fail;
	add_boot_write(vm, img.load_start, img.load_end - img.load_start, "kernel");
	log_debug("kernel: %s, [0x%llx, 0x%llx), entry 0x%llx",
		  img.kind == BOOT_PVH ? "PVH ELF" : "bzImage", (unsigned long long)img.load_start,
		  (unsigned long long)img.load_end, (unsigned long long)img.entry);
	if (cfg->initramfs) {
		what = "--initramfs";
		if (read_whole_file(cfg->initramfs, &buf, &size, err, sizeof(err)))
			goto fail;
		add_image(vm, "initramfs", cfg->initramfs, buf, size);
		r = load_initramfs(&vm->mem, cfg->initramfs, buf, size, &img, &args.initrd_addr,
				   err, sizeof(err));
		free(buf);
		if (r)
			goto fail;
		args.initrd_size = size;
		add_boot_write(vm, args.initrd_addr, size, "initramfs");
		log_debug("initramfs: %zu bytes at 0x%llx", size,
			  (unsigned long long)args.initrd_addr);
	}
	/* The MP table tells a guest in APIC mode how the PCI INTx lines reach the IOAPIC. */
	struct mptable_pci_irq pci_irqs[MPTABLE_MAX_PCI_IRQS];

	for (unsigned int s = 1; vm->pci && s < PCI_MAX_SLOTS; s++) {
		const struct pci_device *d = vm->pci->devs[s];

		if (d && d->cfg[PCI_INTERRUPT_PIN] && args.nr_pci_irqs < MPTABLE_MAX_PCI_IRQS)
			pci_irqs[args.nr_pci_irqs++] =
				(struct mptable_pci_irq){s, d->cfg[PCI_INTERRUPT_LINE]};
	}
	args.pci_irqs = pci_irqs;
	if (vcpu_get_sregs(&vm->vcpus[0], &sregs)) {
		log_err("KVM_GET_SREGS: %s", strerror(errno));
		return -1;
	}
	what = "";
	if (boot_setup(&vm->mem, &img, &args, &regs, &sregs, err, sizeof(err)))
		goto fail;
	add_boot_write(vm, BOOT_GDT_ADDR, BOOT_CMDLINE_ADDR + BOOT_CMDLINE_MAX - BOOT_GDT_ADDR,
		       "boot structures");
	add_boot_write(vm, MPTABLE_ADDR, HIGH_RAM_START - MPTABLE_ADDR, "MP table");
	r = vcpu_set_boot_regs(&vm->vcpus[0], &regs, &sregs);
	if (r) {
		log_err("cannot set the boot registers: %s", strerror(-r));
		return -1;
	}
	return 0;
fail:
	log_err("%s%s%s", what, *what ? " " : "", err); /* err names the file and what is wrong */
	return -1;
}

static int add_callback(struct vm_callback *list, unsigned int *nr, unsigned int max,
			void (*fn)(void *arg), void *arg)
{
	if (*nr == max)
		return -ENOSPC;
	list[(*nr)++] = (struct vm_callback){fn, arg};
	return 0;
}

#define ADD_CALLBACK(vm, list, fn, arg)                                                            \
	add_callback((vm)->list, &(vm)->nr_##list, sizeof((vm)->list) / sizeof((vm)->list[0]), fn, \
		     arg)

int vm_on_destroy(struct vm *vm, void (*fn)(void *arg), void *arg)
{
	return ADD_CALLBACK(vm, cleanups, fn, arg);
}

int vm_on_stop(struct vm *vm, void (*fn)(void *arg), void *arg)
{
	return ADD_CALLBACK(vm, stoppers, fn, arg);
}

/* The device threads stop once: after the vCPUs, or at destroy if the VM never ran. */
void vm_run_stoppers(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_stoppers; i++)
		vm->stoppers[i].fn(vm->stoppers[i].arg);
	vm->nr_stoppers = 0;
}

int vm_on_hlt(struct vm *vm, void (*fn)(void *arg), void *arg)
{
	return ADD_CALLBACK(vm, hlt_hooks, fn, arg);
}

int vm_on_snapshot(struct vm *vm, const char *what, int (*fn)(void *arg), void *arg)
{
	if (vm->nr_flushers == sizeof(vm->flushers) / sizeof(vm->flushers[0]))
		return -ENOSPC;
	vm->flushers[vm->nr_flushers++] = (struct vm_flusher){what, fn, arg};
	return 0;
}

int vm_persist(struct vm *vm, const char *name,
	       void (*save)(void *opaque, struct msgpack_packer *pk),
	       bool (*load)(void *opaque, struct persist_in *in), void *opaque,
	       pthread_mutex_t *lock)
{
	if (vm->nr_parts == sizeof(vm->parts) / sizeof(vm->parts[0]))
		return -ENOSPC;
	vm->parts[vm->nr_parts++] = (struct vm_part){name, save, load, opaque, lock};
	return 0;
}

/* The virtio devices, on the PCI bus in command-line order (00:01.0, 00:02.0, ...). */
static int virtio_devices_init(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;

	for (unsigned int order = 0; order < cfg->nr_virtio; order++) {
		int r = 0;

		if (cfg->rng_path && cfg->rng_order == order)
			r = virtio_rng_init(vm);
		if (cfg->console != CONSOLE_OFF && cfg->console_order == order)
			r = virtio_console_init(vm);
		for (unsigned int i = 0; i < cfg->nr_disks; i++)
			if (cfg->disks[i].order == order)
				r = virtio_blk_add(vm, &cfg->disks[i]);
		for (unsigned int i = 0; i < cfg->nr_nets; i++)
			if (cfg->nets[i].order == order)
				r = virtio_net_add(vm, &cfg->nets[i]);
		if (r)
			return r;
	}
	return 0;
}

void *vm_own(struct vm *vm, void *ptr)
{
	if (!ptr)
		return NULL;
	if (vm->nr_owned == sizeof(vm->owned) / sizeof(vm->owned[0])) {
		free(ptr);
		return NULL;
	}
	vm->owned[vm->nr_owned++] = ptr;
	return ptr;
}

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
{
	bool expected = false;

	if (atomic_compare_exchange_strong(&vm->stopping, &expected, true)) {
		va_list ap;

		vm->exit_status = status;
		va_start(ap, fmt);
		vsnprintf(vm->stop_reason, sizeof(vm->stop_reason), fmt, ap);
		va_end(ap);
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	/* parked vCPUs (and a vm_pause() waiting for them) see the stop too */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_pause(struct vm *vm)
{
	unsigned int started = 0;

	atomic_store(&vm->pause_req, true);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		started += atomic_load(&vm->vcpus[i].started);
		vcpu_kick(&vm->vcpus[i]);
	}
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->nr_parked < started && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
	if (vm->trace && !vm->det)
		trace_vm_state(vm->trace, 1);
}

void vm_resume(struct vm *vm)
{
	if (vm->trace && !vm->det)
		trace_vm_state(vm->trace, 0);
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_req, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

struct vm_device *vm_add_device(struct vm *vm, const char *kind, const char *id,
				struct pci_device *pci)
{
	struct vm_device *d;

	if (vm->nr_devices == sizeof(vm->devices) / sizeof(vm->devices[0]))
		return NULL;
	d = &vm->devices[vm->nr_devices++];
	d->kind = kind;
	d->pci = pci;
	/* virtio devices are at slots 1, 2, ... in their configuration order */
	config_device_id(vm->cfg, kind, pci->slot - 1, id, d->id, sizeof(d->id));
	return d;
}

int vm_coalesce_writes(struct vm *vm, bool pio, uint64_t addr, uint32_t len)
{
	struct kvm_coalesced_mmio_zone zone = {.addr = addr, .size = len, .pio = pio};

	if (!vm->coalesced_page ||
	    (pio && ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO) <= 0))
		return -ENOTSUP;
	return ioctl(vm->vm_fd, KVM_REGISTER_COALESCED_MMIO, &zone) ? -errno : 0;
}

int vm_msi_gsi_alloc(struct vm *vm)
{
	int gsi = -ENOSPC;

	pthread_mutex_lock(&vm->msi_lock);
	if (vm->nr_msi_routes < VM_MAX_MSI_ROUTES) {
		gsi = VM_MSI_GSI_BASE + vm->nr_msi_routes;
		/* address 0: no route yet (KVM drops a GSI without one) */
		vm->msi_routes[vm->nr_msi_routes++] = (struct vm_msi_route){.gsi = gsi};
	}
	pthread_mutex_unlock(&vm->msi_lock);
	return gsi;
}

/*
 * KVM_SET_GSI_ROUTING replaces the whole table, so it always holds KVM's default irqchip routes
 * (GSI 0-15 to both PICs and the IOAPIC, 16-23 to the IOAPIC) and then the MSI ones.
 */
int vm_msi_route(struct vm *vm, unsigned int gsi, uint64_t addr, uint32_t data)
{
	enum { NR_IRQCHIP = 16 * 2 + 8 };
	struct kvm_irq_routing *r;
	unsigned int n = 0;
	int ret = 0;

	r = calloc(1, sizeof(*r) + (NR_IRQCHIP + VM_MAX_MSI_ROUTES) * sizeof(r->entries[0]));
	if (!r)
		return -ENOMEM;
	for (unsigned int i = 0; i < 24; i++) {
		if (i < 16)
			r->entries[n++] = (struct kvm_irq_routing_entry){
				.gsi = i,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = {i < 8 ? KVM_IRQCHIP_PIC_MASTER
						    : KVM_IRQCHIP_PIC_SLAVE,
					      i % 8}};
		r->entries[n++] =
			(struct kvm_irq_routing_entry){.gsi = i,
						       .type = KVM_IRQ_ROUTING_IRQCHIP,
						       .u.irqchip = {KVM_IRQCHIP_IOAPIC, i}};
	}
	pthread_mutex_lock(&vm->msi_lock);
	for (unsigned int i = 0; i < vm->nr_msi_routes; i++) {
		struct vm_msi_route *m = &vm->msi_routes[i];

		if (m->gsi == gsi) {
			m->addr = addr;
			m->data = data;
		}
		if (!m->addr)
			continue;
		r->entries[n++] =
			(struct kvm_irq_routing_entry){.gsi = m->gsi,
						       .type = KVM_IRQ_ROUTING_MSI,
						       .u.msi = {.address_lo = (uint32_t)m->addr,
								 .address_hi = m->addr >> 32,
								 .data = m->data}};
	}
	r->nr = n;
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, r))
		ret = -errno;
	pthread_mutex_unlock(&vm->msi_lock);
	free(r);
	return ret;
}

void vm_set_irq(struct vm *vm, unsigned int irq, bool level)
{
	struct kvm_irq_level l = {.irq = irq, .level = level};

	if (vm->det) {
		determ_set_irq(vm, irq, level);
		return;
	}
	if (vm->trace)
		trace_irq(vm->trace, irq, level);
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l))
		log_warn("KVM_IRQ_LINE %u: %s", irq, strerror(errno));
}

void vm_destroy(struct vm *vm)
{
	for (unsigned int i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	serial_free(vm->serial);
	vm->serial = NULL;
	vm_run_stoppers(vm); /* if vm_run() never ran */
	while (vm->nr_cleanups) {
		vm->nr_cleanups--;
		vm->cleanups[vm->nr_cleanups].fn(vm->cleanups[vm->nr_cleanups].arg);
	}
	if (vm->pci)
		pci_bus_free(vm->pci);
	vm->pci = NULL;
	if (vm->rng_fd >= 0)
		close(vm->rng_fd);
	vm->rng_fd = -1;
	determ_free(vm);
	checkpoint_free(vm);
	free(vm->restored_ring);
	vm->restored_ring = NULL;
	vm->nr_restored_ring = vm->nr_parts = vm->nr_flushers = 0;
	for (unsigned int i = 0; i < vm->nr_owned; i++)
		free(vm->owned[i]);
	vm->nr_owned = 0;
	bus_free(&vm->pio_bus);
	bus_free(&vm->mmio_bus);
	guest_mem_free(&vm->mem);
	if (vm->done_fd >= 0)
		close(vm->done_fd);
	if (vm->self_pause_fd >= 0)
		close(vm->self_pause_fd);
	vm->self_pause_fd = -1;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->done_fd = vm->vm_fd = vm->kvm_fd = -1;
}
