/*
 * virtio-pci-cfg: the VIRTIO_PCI_CAP_PCI_CFG capability (virtio 1.x 4.1.4.9), a window on the
 * device's BAR through config space alone. Run with `--rng src=...`, in either mode. The guest
 * finds the capability, sets the device up, submits a request and notifies, all through the
 * window (cap.bar, cap.offset, cap.length, then pci_cfg_data), and checks each against what
 * the BAR itself shows. A window the spec does not allow (another BAR, a length other than 1, 2
 * or 4, an offset that is not a multiple of the length, or one outside the virtio structures)
 * reaches nothing: pci_cfg_data keeps what it held. `machine=1`: machine version 1
 * (`--machine-version 1`) had no such capability. Prints one line per case and
 * "virtio-pci-cfg: N of N cases held"; exits 0 when all held. See docs/guest-abi.md.
 */
#include "rt.h"
#include "virtio.h"

#define SLOT	   1
#define PCI_CFG	   5 /* VIRTIO_PCI_CAP_PCI_CFG */
#define NOTIFY_CFG 2
#define DATA	   16 /* pci_cfg_data within the capability */
#define UNTOUCHED  0x5a5a5a5au

static unsigned int cap;
static int held, cases;

static void check(const char *what, int ok)
{
	rt_printf("virtio-pci-cfg: %s: %s\n", what, ok ? "held" : "FAILED");
	held += ok;
	cases++;
}

/* The first vendor capability of virtio type `type`, 0 if none. */
static unsigned int virtio_cap(uint8_t type)
{
	for (unsigned int c = pci_cap_next(SLOT, 9, 0); c; c = pci_cap_next(SLOT, 9, c))
		if (pci_read8(SLOT, c + 3) == type)
			return c;
	return 0;
}

static void window(uint8_t bar, uint32_t off, uint32_t len)
{
	pci_write8(SLOT, cap + 4, bar);
	pci_write32(SLOT, cap + 8, off);
	pci_write32(SLOT, cap + 12, len);
}

/* A read of len bytes at off of BAR 0 through the window. */
static uint32_t win_read(uint32_t off, uint32_t len)
{
	uint32_t v;

	window(0, off, len);
	v = pci_read32(SLOT, cap + DATA);
	return len == 4 ? v : v & ((1u << (8 * len)) - 1);
}

static void win_write(uint32_t off, uint32_t len, uint32_t v)
{
	window(0, off, len);
	pci_write32(SLOT, cap + DATA, v);
}

/* A window that must reach nothing: a write does not, and a read leaves the data as it was. */
static void refused(const char *what, uint8_t bar, uint32_t off, uint32_t len)
{
	uint8_t status = vr8(VC_STATUS);
	int ok;

	window(bar, off, len);
	pci_write32(SLOT, cap + DATA, 0); /* were it done: a device reset, or a zeroed field */
	pci_write32(SLOT, cap + DATA, UNTOUCHED);
	ok = pci_read32(SLOT, cap + DATA) == UNTOUCHED && vr8(VC_STATUS) == status;
	check(what, ok);
}

int main(const char *cmdline)
{
	unsigned int notify, mult;
	uint32_t notify_off;

	if (virtio_find(SLOT, 4)) {
		rt_printf("virtio-pci-cfg: no virtio-rng at 00:01.0 (run with --rng src=...)\n");
		return 1;
	}
	cap = virtio_cap(PCI_CFG);
	if (rt_arg_ulong(cmdline, "machine", 2) == 1) {
		check("no PCI_CFG capability in machine version 1", cap == 0);
		goto out;
	}
	check("the PCI_CFG capability is there", cap != 0);
	if (!cap)
		goto out;
	check("it is 20 bytes (struct virtio_pci_cfg_cap)", pci_read8(SLOT, cap + 2) == 20);
	pci_write8(SLOT, cap + 3, 1);
	pci_write8(SLOT, cap + 2, 0);
	check("its type and length are read-only",
	      pci_read8(SLOT, cap + 3) == PCI_CFG && pci_read8(SLOT, cap + 2) == 20);

	/* Reads through the window equal the BAR's. */
	check("num_queues through the window", win_read(VC_NUMQ, 2) == 1 && vr16(VC_NUMQ) == 1);
	win_write(VC_DFSEL, 4, 1);
	check("device_feature_select written through the window", vr32(VC_DFSEL) == 1);
	check("device_feature through the window: VERSION_1", win_read(VC_DF, 4) == 1);
	window(0, VC_NUMQ, 2);
	pci_write32(SLOT, cap + DATA, 0xabcd0000u);
	check("a 2-byte read stores 2 bytes of pci_cfg_data",
	      pci_read32(SLOT, cap + DATA) == 0xabcd0001u);

	/* The whole set-up, a request and its notification, through the window only. */
	win_write(VC_STATUS, 1, 0);
	memset((void *)VQ_RING, 0, 0x3000);
	win_write(VC_STATUS, 1, VS_ACK | VS_DRIVER);
	win_write(VC_GFSEL, 4, 1);
	win_write(VC_GF, 4, 1);
	win_write(VC_GFSEL, 4, 0);
	win_write(VC_GF, 4, 0);
	win_write(VC_STATUS, 1, VS_ACK | VS_DRIVER | VS_FEATURES_OK);
	check("FEATURES_OK through the window",
	      win_read(VC_STATUS, 1) == (VS_ACK | VS_DRIVER | VS_FEATURES_OK));
	win_write(VC_QSEL, 2, 0);
	win_write(VC_QSZ, 2, VQ_SIZE);
	win_write(VC_QDESC, 4, VQ_RING);
	win_write(VC_QDESC + 4, 4, 0);
	win_write(VC_QAVAIL, 4, VQ_RING + 0x1000);
	win_write(VC_QAVAIL + 4, 4, 0);
	win_write(VC_QUSED, 4, VQ_RING + 0x2000);
	win_write(VC_QUSED + 4, 4, 0);
	win_write(VC_QEN, 2, 1);
	win_write(VC_STATUS, 1, VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
	check("queue enabled through the window",
	      vr16(VC_QEN) == 1 && vr32(VC_QUSED) == VQ_RING + 0x2000);
	notify = virtio_cap(NOTIFY_CFG);
	mult = pci_read32(SLOT, notify + 16);
	notify_off = pci_read32(SLOT, notify + 8) + mult * win_read(30, 2); /* queue_notify_off */
	vdesc[0] = (struct vdesc){VQ_BUF, 16, VD_WRITE, 0};
	vavail[2] = 0;
	vavail[1] = 1;
	win_write(notify_off, 2, 0);
	check("a notification through the window: request served", vused[1] == 1);
	check("ISR through the window, then acknowledged",
	      win_read(0x1000, 1) == 1 && win_read(0x1000, 1) == 0);

	/* Windows the spec does not allow reach nothing. */
	refused("another BAR", 1, VC_STATUS, 1);
	refused("a length of 3", 0, VC_STATUS, 3);
	refused("a length of 8", 0, VC_QDESC, 8);
	refused("an offset not a multiple of the length", 0, VC_STATUS - 1, 2);
	refused("outside the virtio structures (ISR is 4 bytes)", 0, 0x1004, 4);
	refused("the MSI-X table", 0, 0x4000, 4);
	refused("past the BAR", 0, 0x10000, 4);
	check("the device still runs",
	      vr8(VC_STATUS) == (VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK));
out:
	rt_printf("virtio-pci-cfg: %d of %d cases held\n", held, cases);
	return held == cases ? 0 : 1;
}
