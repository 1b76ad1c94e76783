// SPDX-License-Identifier: MIT
/*
 * Unit tests for MSI-X (src/msix.c) on a real KVM VM with an in-kernel irqchip: the capability
 * as config space shows it, table and PBA accesses as Linux's drivers/pci/msi makes them,
 * masking and pending bits, and the KVM routes and irqfds a delivery sets up.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "harness.h"
#include "msix.h"
#include "pci.h"
#include "vm.h"

#define NVEC	 3
#define PBA_OFF	 0x800
#define MSI_ADDR 0xfee00000u

static struct vm vm;
static struct pci_device pci;
static struct msix m;

static void setup(void)
{
	memset(&vm, 0, sizeof(vm));
	pthread_mutex_init(&vm.msi_lock, NULL);
	vm.kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	ck_assert_msg(vm.kvm_fd >= 0, "cannot open /dev/kvm");
	vm.vm_fd = ioctl(vm.kvm_fd, KVM_CREATE_VM, 0);
	ck_assert_int_ge(vm.vm_fd, 0);
	ck_assert_int_eq(ioctl(vm.vm_fd, KVM_CREATE_IRQCHIP, 0), 0);
	pci_device_init(&pci, 0x1af4, 0x1042, 0x018000, 0x1af4, 2, 1);
	ck_assert_int_eq(pci_bar_init(&pci, 0, 0x1000, PCI_BAR_MEM64), 0);
	ck_assert_int_eq(msix_init(&m, &vm, &pci, NVEC, 0, 0, PBA_OFF), 0);
	pci.cfg[PCI_COMMAND] |= PCI_COMMAND_MASTER; /* the driver's pci_set_master() */
}

static void teardown(void)
{
	msix_free(&m);
	close(vm.vm_fd);
	close(vm.kvm_fd);
}

static uint32_t table_rd(unsigned int vec, unsigned int word)
{
	uint32_t v;

	msix_table_read(&m, vec * MSIX_ENTRY_SIZE + 4 * word, (uint8_t *)&v, 4);
	return v;
}

static void table_wr(unsigned int vec, unsigned int word, uint32_t v)
{
	msix_table_write(&m, vec * MSIX_ENTRY_SIZE + 4 * word, (const uint8_t *)&v, 4);
}

static uint64_t pba(void)
{
	uint64_t v;

	msix_pba_read(&m, 0, (uint8_t *)&v, 8);
	return v;
}

/* What the guest's config write does: the generic code applies wmask, then the hook runs. */
static void control_write(uint16_t control)
{
	uint8_t *hi = &pci.cfg[m.cap + PCI_MSIX_FLAGS + 1];

	*hi = (*hi & ~pci.wmask[m.cap + PCI_MSIX_FLAGS + 1]) |
	      ((control >> 8) & pci.wmask[m.cap + PCI_MSIX_FLAGS + 1]);
	msix_cfg_write(&m, m.cap + PCI_MSIX_FLAGS, 2);
}

/* Linux's msix_setup: address, data, then unmask. */
static void program(unsigned int vec, uint32_t data)
{
	table_wr(vec, 0, MSI_ADDR);
	table_wr(vec, 1, 0);
	table_wr(vec, 2, data);
	table_wr(vec, 3, 0);
}

START_TEST(capability_layout)
{
	uint16_t control;
	uint32_t table, pbao;

	ck_assert_uint_eq(pci.cfg[m.cap], PCI_CAP_ID_MSIX);
	memcpy(&control, &pci.cfg[m.cap + PCI_MSIX_FLAGS], 2);
	memcpy(&table, &pci.cfg[m.cap + PCI_MSIX_TABLE], 4);
	memcpy(&pbao, &pci.cfg[m.cap + PCI_MSIX_PBA], 4);
	ck_assert_uint_eq(control & PCI_MSIX_FLAGS_QSIZE, NVEC - 1);
	ck_assert_uint_eq(control & (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL), 0);
	ck_assert_uint_eq(table, 0);	  /* BIR 0, offset 0 */
	ck_assert_uint_eq(pbao, PBA_OFF); /* BIR 0 */
	/* Only Enable and Function Mask are writable; the table size is not. */
	ck_assert_uint_eq(pci.wmask[m.cap + PCI_MSIX_FLAGS], 0);
	ck_assert_uint_eq(pci.wmask[m.cap + PCI_MSIX_FLAGS + 1], 0xc0);
	ck_assert(!msix_enabled(&m));
	control_write(PCI_MSIX_FLAGS_ENABLE | 0x3ff);
	ck_assert(msix_enabled(&m));
	memcpy(&control, &pci.cfg[m.cap + PCI_MSIX_FLAGS], 2);
	ck_assert_uint_eq(control & PCI_MSIX_FLAGS_QSIZE, NVEC - 1);
}
END_TEST

START_TEST(entries_reset_masked_and_read_back)
{
	for (unsigned int v = 0; v < NVEC; v++) {
		ck_assert_uint_eq(table_rd(v, 3), 1); /* masked after reset */
		ck_assert_uint_eq(table_rd(v, 0), 0);
	}
	program(1, 0x4041);
	ck_assert_uint_eq(table_rd(1, 0), MSI_ADDR);
	ck_assert_uint_eq(table_rd(1, 2), 0x4041);
	ck_assert_uint_eq(table_rd(1, 3), 0);
	table_wr(1, 3, 0xfffffffe); /* reserved control bits stay 0 */
	ck_assert_uint_eq(table_rd(1, 3), 0);
	/* A qword access covers address low and high. */
	uint64_t q;
	msix_table_read(&m, MSIX_ENTRY_SIZE, (uint8_t *)&q, 8);
	ck_assert_uint_eq(q, MSI_ADDR);
}
END_TEST

START_TEST(bad_accesses_are_ignored)
{
	uint8_t b[4] = {1, 2, 3, 4};
	uint32_t v;

	program(0, 0x30);
	msix_table_write(&m, 1, b, 2);			    /* unaligned, short */
	msix_table_write(&m, 2, b, 4);			    /* unaligned dword */
	msix_table_write(&m, NVEC * MSIX_ENTRY_SIZE, b, 4); /* past the table */
	msix_table_write(&m, UINT64_MAX - 3, b, 4);	    /* wraps */
	ck_assert_uint_eq(table_rd(0, 0), MSI_ADDR);
	ck_assert_uint_eq(table_rd(0, 2), 0x30);
	msix_table_read(&m, NVEC * MSIX_ENTRY_SIZE, (uint8_t *)&v, 4);
	ck_assert_uint_eq(v, 0xffffffff);
	msix_table_read(&m, 1, (uint8_t *)&v, 4);
	ck_assert_uint_eq(v, 0xffffffff);
}
END_TEST

START_TEST(masked_vector_pends_until_unmasked)
{
	control_write(PCI_MSIX_FLAGS_ENABLE);
	table_wr(2, 0, MSI_ADDR);
	table_wr(2, 2, 0x45);
	msix_signal(&m, 2); /* still masked: pending, no route yet */
	ck_assert_uint_eq(pba(), 1u << 2);
	ck_assert_int_eq(m.fd[2], -1);
	ck_assert_uint_eq(vm.nr_msi_routes, 0);
	table_wr(2, 3, 0); /* unmask: delivered now */
	ck_assert_uint_eq(pba(), 0);
	ck_assert_int_ge(m.fd[2], 0);
	ck_assert_uint_eq(vm.nr_msi_routes, 1);
	ck_assert_uint_eq(vm.msi_routes[0].gsi, VM_MSI_GSI_BASE);
	ck_assert_uint_eq(vm.msi_routes[0].addr, MSI_ADDR);
	ck_assert_uint_eq(vm.msi_routes[0].data, 0x45);
}
END_TEST

START_TEST(function_mask_holds_every_vector)
{
	program(0, 0x41);
	program(1, 0x42);
	control_write(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	msix_signal(&m, 0);
	msix_signal(&m, 1);
	msix_signal(&m, 7); /* no such vector: nothing */
	ck_assert_uint_eq(pba(), 3);
	control_write(PCI_MSIX_FLAGS_ENABLE);
	ck_assert_uint_eq(pba(), 0);
	ck_assert_uint_eq(vm.nr_msi_routes, 2);
	ck_assert_int_ge(m.fd[0], 0);
	ck_assert_int_ge(m.fd[1], 0);
}
END_TEST

START_TEST(new_address_reroutes)
{
	control_write(PCI_MSIX_FLAGS_ENABLE);
	program(0, 0x41);
	msix_signal(&m, 0);
	ck_assert_uint_eq(vm.msi_routes[0].data, 0x41);
	/* The guest moves the interrupt (another CPU/vector): masked, rewritten, unmasked. */
	table_wr(0, 3, 1);
	table_wr(0, 2, 0x51);
	table_wr(0, 3, 0);
	ck_assert(!m.routed[0]);
	msix_signal(&m, 0);
	ck_assert(m.routed[0]);
	ck_assert_uint_eq(vm.nr_msi_routes, 1); /* the same GSI, re-pointed */
	ck_assert_uint_eq(vm.msi_routes[0].data, 0x51);
}
END_TEST

/* PCI 3.0 6.8.2.3: with MSI-X Enable clear nothing is sent; pending bits wait for it. */
START_TEST(disabled_function_sends_nothing)
{
	program(0, 0x41);
	control_write(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	msix_signal(&m, 0);
	ck_assert_uint_eq(pba(), 1);
	control_write(0); /* Enable and Function Mask cleared at once */
	ck_assert_uint_eq(pba(), 1);
	ck_assert_int_eq(m.fd[0], -1); /* never routed: nothing was sent */
	table_wr(1, 2, 0x42);
	table_wr(1, 3, 1);
	control_write(PCI_MSIX_FLAGS_ENABLE);
	ck_assert_uint_eq(pba(), 0); /* enabled: vector 0 goes out */
	ck_assert_int_ge(m.fd[0], 0);
	msix_signal(&m, 1);
	control_write(0);
	table_wr(1, 3, 0); /* unmasked while disabled: still nothing */
	ck_assert_uint_eq(pba(), 2);
	ck_assert_int_eq(m.fd[1], -1);
	control_write(PCI_MSIX_FLAGS_ENABLE);
	ck_assert_uint_eq(pba(), 0);
	ck_assert_int_ge(m.fd[1], 0);
}
END_TEST

/* A message is a memory write: none while Bus Master Enable is clear, and it is not kept. */
START_TEST(bus_master_clear_sends_nothing)
{
	control_write(PCI_MSIX_FLAGS_ENABLE);
	program(0, 0x41);
	pci.cfg[PCI_COMMAND] &= ~PCI_COMMAND_MASTER;
	msix_signal(&m, 0);
	ck_assert_uint_eq(pba(), 0);
	ck_assert_int_eq(m.fd[0], -1);
	table_wr(0, 3, 1);
	msix_signal(&m, 0);
	ck_assert_uint_eq(pba(), 1); /* masked: pending, as ever */
	table_wr(0, 3, 0);
	ck_assert_uint_eq(pba(), 0); /* unmasked: sent nowhere */
	ck_assert_int_eq(m.fd[0], -1);
	/* Machine version 1 did not look at BME. */
	pci.machine_version = 1;
	msix_signal(&m, 0);
	ck_assert_int_ge(m.fd[0], 0);
}
END_TEST

START_TEST(bad_init_arguments)
{
	struct msix other;
	struct pci_device p2;

	pci_device_init(&p2, 0x1af4, 0x1042, 0x018000, 0x1af4, 2, 1);
	ck_assert_int_eq(msix_init(&other, &vm, &p2, 0, 0, 0, PBA_OFF), -EINVAL);
	ck_assert_int_eq(msix_init(&other, &vm, &p2, MSIX_MAX_VECTORS + 1, 0, 0, PBA_OFF), -EINVAL);
	ck_assert_int_eq(msix_init(&other, &vm, &p2, 1, PCI_NUM_BARS, 0, PBA_OFF), -EINVAL);
	ck_assert_int_eq(msix_init(&other, &vm, &p2, 1, 0, 4, PBA_OFF), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("msix");
	TCase *tc = tcase_create("msix");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, capability_layout);
	tcase_add_test(tc, entries_reset_masked_and_read_back);
	tcase_add_test(tc, bad_accesses_are_ignored);
	tcase_add_test(tc, masked_vector_pends_until_unmasked);
	tcase_add_test(tc, function_mask_holds_every_vector);
	tcase_add_test(tc, new_address_reroutes);
	tcase_add_test(tc, disabled_function_sends_nothing);
	tcase_add_test(tc, bus_master_clear_sends_nothing);
	tcase_add_test(tc, bad_init_arguments);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
