// SPDX-License-Identifier: MIT
/*
 * virtio-net (virtio type 1) on a host tap device, like cloud-hypervisor's: --net tap=NAME opens
 * the tap (TUNSETIFF creates it if it does not exist) with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
 * and with ip=/mask= gives the host side that address and brings it up.
 *
 * Features: MAC and STATUS (the link is always up), and VERSION_1 from the transport; no
 * offloads, no mergeable rx buffers, one queue pair (0 receive, 1 transmit). Every buffer starts
 * with the 12-byte struct virtio_net_hdr_mrg_rxbuf; without offloads the device writes it zeroed
 * (num_buffers 1) and ignores what the driver puts in it. The tap's vnet header is set to the
 * same 12 bytes and offloads off, so the host kernel hands over whole, checksummed frames.
 *
 * Transmit: each chain's frame is written to the tap (writev straight from guest memory).
 * Receive: a frame is read from the tap only when there is a place for it: one frame waits in
 * the device while the guest has posted no receive buffer, and the tap is not read again until
 * the guest posts some (the host kernel queues the rest). The frames the guest receives are
 * recorded (dma_write), so a replay with --feed needs no tap: it opens none, drops what the guest
 * sends, and receives a frame where the recording did (chain_next/dma_next replay hooks).
 *
 * Normal mode: a thread per device polls the tap and the queues' ioeventfds. Deterministic mode:
 * no thread; the tap is looked at (non-blocking) only at synchronous exits: when the guest
 * notifies a queue, and at HLT. After the guest sent something, a few HLT exits wait up to
 * DET_WAIT_MS of host time for an answer, since virtual time would otherwise race ahead of the
 * host that answers.
 *
 * Malformed chains (a transmit chain with device-writable buffers or shorter than the header, a
 * receive chain with device-readable buffers or shorter than the header, frames over
 * NET_MAX_FRAME) are logged and returned used with length 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../log.h"
#include "../persist.h"
#include "../trace.h"
#include "../virtio/virtio_pci.h"
#include "../vm.h"

#define NET_RXQ	       0
#define NET_TXQ	       1
#define NET_HDR_LEN    12    /* struct virtio_net_hdr_mrg_rxbuf, always with VERSION_1 */
#define NET_MAX_FRAME  65550 /* bytes after the header, in either direction */
#define NET_QUEUE_SIZE 256
/* io_done events: op 0 a frame received, 1 a frame sent; status 0 done, 1 malformed chain */
#define NET_OP_RX   0
#define NET_OP_TX   1
#define DET_WAITS   4 /* deterministic mode: HLT exits that wait for the tap after a send */
#define DET_WAIT_MS 20

struct virtio_net {
	struct virtio_dev vdev;
	const struct net_config *cfg;
	int tap; /* -1: none (replay) */
	struct virtio_net_config config;
	uint8_t *frame;	     /* header + frame, as the guest gets it */
	size_t frame_len;    /* a frame from the tap waiting for a receive buffer; 0: none */
	bool rx_stalled;     /* ... and the guest has none posted: the tap is not read meanwhile */
	unsigned int warned; /* malformed chains logged (log_capped) */
	unsigned int det_waits;
	struct virtio_thread io; /* normal mode: serves the tap and the queues' ioeventfds */
};

static void bad_chain(struct virtio_net *n, unsigned int q, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One line per malformed chain (the first few as warnings: log_capped); it is used with 0 bytes. */
static void bad_chain(struct virtio_net *n, unsigned int q, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_capped(&n->warned, "virtio-net %s: %s chain %u: %s; returned unused", n->cfg->tap,
		   q == NET_TXQ ? "transmit" : "receive", n->vdev.chain.head, why);
}

/* The frame of the transmit chain in d->chain to the tap, after a header of our own. */
static void tap_send(struct virtio_net *n)
{
	static const uint8_t hdr[NET_HDR_LEN]; /* no offloads: nothing for the host to do */
	const struct vq_chain *c = &n->vdev.chain;
	struct iovec iov[IOV_MAX]; /* ours, then the frame's buffers */
	int niov = vq_chain_iov(c, &n->vdev.vm->mem, false, NET_HDR_LEN, c->out_bytes - NET_HDR_LEN,
				iov + 1, IOV_MAX - 1);

	iov[0] = (struct iovec){.iov_base = (void *)hdr, .iov_len = NET_HDR_LEN};
	if (niov < 0)
		log_debug("virtio-net %s: a frame in more than %d buffers: dropped", n->cfg->tap,
			  IOV_MAX - 1);
	else if (writev(n->tap, iov, niov + 1) < 0)
		log_debug("virtio-net %s: sending a frame of %" PRIu64 " bytes: %s", n->cfg->tap,
			  c->out_bytes - NET_HDR_LEN, strerror(errno));
}

/* Every chain of the transmit queue; returns how many. */
static unsigned int serve_tx(struct virtio_net *n)
{
	struct virtio_dev *d = &n->vdev;
	unsigned int done = 0;

	while (virtio_pop(d, NET_TXQ) > 0) {
		const struct vq_chain *c = &d->chain;
		bool ok = false;

		if (c->n_out != c->n)
			bad_chain(n, NET_TXQ, "%u of its %u buffers are device-writable",
				  c->n - c->n_out, c->n);
		else if (c->out_bytes < NET_HDR_LEN)
			bad_chain(n, NET_TXQ, "%" PRIu64 " bytes, less than the %d-byte header",
				  c->out_bytes, NET_HDR_LEN);
		else if (c->out_bytes - NET_HDR_LEN > NET_MAX_FRAME)
			bad_chain(n, NET_TXQ, "a frame of %" PRIu64 " bytes (at most %d)",
				  c->out_bytes - NET_HDR_LEN, NET_MAX_FRAME);
		else
			ok = true;
		if (ok && n->tap >= 0)
			tap_send(n); /* replay: what the guest sends goes nowhere */
		if (ok) {
			atomic_fetch_add_explicit(&d->counters->tx_bytes,
						  c->out_bytes - NET_HDR_LEN, memory_order_relaxed);
			atomic_fetch_add_explicit(&d->counters->tx_frames, 1, memory_order_relaxed);
		}
		if (d->vm->trace)
			trace_io_done(d->vm->trace, d->pci.slot, NET_TXQ, c->head, NET_OP_TX, 0,
				      ok ? c->out_bytes - NET_HDR_LEN : 0, !ok, 0,
				      ok ? vq_chain_hash(c, &d->vm->mem, false, NET_HDR_LEN,
							 c->out_bytes - NET_HDR_LEN)
					 : 0);
		virtio_used(d, NET_TXQ, c->head, 0);
		done++;
	}
	if (done) {
		virtio_interrupt(d, NET_TXQ);
		n->det_waits = DET_WAITS;
	}
	return done;
}

/* The next frame from the tap into n->frame; false when there is none now. */
static bool tap_receive(struct virtio_net *n)
{
	for (;;) {
		ssize_t r = read(n->tap, n->frame, NET_HDR_LEN + NET_MAX_FRAME);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (errno != EAGAIN)
				log_warn("virtio-net %s: reading the tap: %s", n->cfg->tap,
					 strerror(errno));
			return false;
		}
		if (r <= NET_HDR_LEN)
			continue; /* no frame after the header: nothing to give */
		memset(n->frame, 0, NET_HDR_LEN);
		n->frame[10] = 1; /* num_buffers: one buffer per frame, without MRG_RXBUF */
		n->frame_len = r;
		return true;
	}
}

/* The waiting frame into the receive chain in d->chain; returns the bytes written. */
static uint32_t rx_fill(struct virtio_net *n)
{
	const struct vq_chain *c = &n->vdev.chain;
	uint32_t written;

	if (c->n_out) {
		bad_chain(n, NET_RXQ, "%u of its %u buffers are device-readable", c->n_out, c->n);
		return 0; /* the frame waits for the next chain */
	}
	if (c->in_bytes < NET_HDR_LEN) {
		bad_chain(n, NET_RXQ, "%" PRIu64 " bytes, less than the %d-byte header",
			  c->in_bytes, NET_HDR_LEN);
		return 0;
	}
	if (n->frame_len > c->in_bytes) {
		bad_chain(n, NET_RXQ,
			  "a frame of %zu bytes does not fit its %" PRIu64
			  " bytes; the frame is dropped",
			  n->frame_len - NET_HDR_LEN, c->in_bytes - NET_HDR_LEN);
		n->frame_len = 0;
		return 0;
	}
	written = virtio_write_chain(&n->vdev, 0, n->frame, n->frame_len);
	n->frame_len = 0;
	return written;
}

/* Replay without a tap: a frame where the recording received one, with its recorded bytes. */
static bool replay_receive(struct virtio_net *n, uint32_t *written)
{
	struct virtio_dev *d = &n->vdev;
	const struct vm_replay_hooks *h = d->vm->replay;
	size_t len;

	if (!h || !h->chain_next || !h->chain_next(h->ctx, d->pci.slot, NET_RXQ) ||
	    virtio_pop(d, NET_RXQ) <= 0)
		return false;
	len = h->dma_next ? h->dma_next(h->ctx, d->pci.slot) : 0;
	if (len > NET_HDR_LEN + NET_MAX_FRAME)
		len = 0; /* not what this device writes: the comparison reports it */
	memset(n->frame, 0, len);
	*written = len ? virtio_write_chain(d, 0, n->frame, len) : 0;
	return true;
}

/* Frames from the tap (or the trace) into the guest's receive buffers while both have some. */
static void serve_rx(struct virtio_net *n)
{
	struct virtio_dev *d = &n->vdev;
	unsigned int done = 0;

	while (virtio_queue_ready(d, NET_RXQ)) {
		uint32_t written = 0;
		int r;

		if (n->tap < 0) {
			if (!replay_receive(n, &written))
				break;
		} else {
			if (!n->frame_len && !tap_receive(n))
				break;
			r = virtio_pop(d, NET_RXQ);
			n->rx_stalled = r == 0;
			if (r <= 0)
				break;
			written = rx_fill(n);
		}
		/* written is 0 exactly when the chain was malformed, in a replay too */
		if (written > NET_HDR_LEN) {
			atomic_fetch_add_explicit(&d->counters->rx_bytes, written - NET_HDR_LEN,
						  memory_order_relaxed);
			atomic_fetch_add_explicit(&d->counters->rx_frames, 1, memory_order_relaxed);
		}
		if (d->vm->trace)
			trace_io_done(d->vm->trace, d->pci.slot, NET_RXQ, d->chain.head, NET_OP_RX,
				      0, written > NET_HDR_LEN ? written - NET_HDR_LEN : 0,
				      !written, 0,
				      written > NET_HDR_LEN
					      ? vq_chain_hash(&d->chain, &d->vm->mem, true,
							      NET_HDR_LEN, written - NET_HDR_LEN)
					      : 0);
		virtio_used(d, NET_RXQ, d->chain.head, written);
		done++;
	}
	if (done)
		virtio_interrupt(d, NET_RXQ);
}

/* A notification at an exit: deterministic mode, or a queue without an ioeventfd. */
static void net_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_net *n = d->priv;

	if (q == NET_TXQ)
		serve_tx(n);
	n->rx_stalled = false;
	serve_rx(n);
	virtio_thread_wake(&n->io);
}

/* Deterministic mode, at HLT: what the tap holds (after a send, wait for the answer a little). */
static void net_hlt(void *arg)
{
	struct virtio_net *n = arg;
	struct virtio_dev *d = &n->vdev;

	pthread_mutex_lock(&d->lock);
	if (n->tap >= 0 && n->det_waits && !n->frame_len && virtio_queue_ready(d, NET_RXQ)) {
		struct pollfd p = {.fd = n->tap, .events = POLLIN};

		n->det_waits--;
		if (poll(&p, 1, DET_WAIT_MS) < 0 && errno != EINTR)
			log_warn("virtio-net %s: poll: %s", n->cfg->tap, strerror(errno));
	}
	if (!n->rx_stalled)
		serve_rx(n);
	pthread_mutex_unlock(&d->lock);
}

static void net_reset(struct virtio_dev *d)
{
	struct virtio_net *n = d->priv;

	n->rx_stalled = false; /* a waiting frame is kept for the next driver */
}

static void net_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_net *n = d->priv;

	memcpy(data, (const uint8_t *)&n->config + off, len);
}

/* Normal mode: the tap and the two queues' ioeventfds, served as they come. */
static void *net_thread(void *arg)
{
	struct virtio_net *n = arg;
	struct virtio_dev *d = &n->vdev;
	struct pollfd p[5] = {
		{.fd = n->tap},
		{.fd = d->notify_fd[NET_RXQ], .events = POLLIN},
		{.fd = d->notify_fd[NET_TXQ], .events = POLLIN},
		{.fd = n->io.wake_fd, .events = POLLIN},
		{.fd = n->io.stop_fd, .events = POLLIN},
	};
	uint64_t v;

	for (;;) {
		bool live;

		pthread_mutex_lock(&d->lock);
		live = virtio_queue_ready(d, NET_RXQ);
		p[0].events = live && !n->rx_stalled ? POLLIN : 0;
		pthread_mutex_unlock(&d->lock);
		/* Not live yet: nothing tells this thread when the driver is ready, so look again.
		 */
		if (poll(p, 5, live ? -1 : 100) < 0) {
			if (errno == EINTR)
				continue;
			log_err("virtio-net %s: I/O thread: poll: %s", n->cfg->tap,
				strerror(errno));
			return NULL;
		}
		if (p[4].revents)
			return NULL;
		for (unsigned int i = 1; i < 4; i++)
			if ((p[i].revents & POLLIN) && read(p[i].fd, &v, sizeof(v)) != sizeof(v))
				p[i].revents = 0;
		pthread_mutex_lock(&d->lock);
		if ((p[2].revents & POLLIN) && virtio_queue_ready(d, NET_TXQ)) {
			serve_tx(n);
			virtio_rearm(d, NET_TXQ);
			serve_tx(n); /* what came before the rearm took effect */
		}
		if (p[1].revents & POLLIN) {
			n->rx_stalled = false;
			if (virtio_queue_ready(d, NET_RXQ))
				virtio_rearm(d, NET_RXQ);
		}
		if (!n->rx_stalled)
			serve_rx(n);
		pthread_mutex_unlock(&d->lock);
	}
}

static int start_thread(struct vm *vm, struct virtio_net *n)
{
	int r;

	for (unsigned int q = 0; q < 2; q++) {
		r = virtio_notify_eventfd(&n->vdev, q);
		if (r < 0)
			log_warn("virtio-net %s: no ioeventfd for queue %u (%s): its notifications "
				 "exit",
				 n->cfg->tap, q, strerror(-r));
	}
	return virtio_thread_start(vm, &n->io, "virtio-net", net_thread, n);
}

/* ip= and mask= on the host side of the tap, and the link up (as cloud-hypervisor does). */
static int tap_configure(const struct net_config *cfg)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;
	const char *what = "socket";

	if (s < 0)
		goto fail;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, cfg->tap, IFNAMSIZ - 1);
	if (cfg->ip) {
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, cfg->ip, &sin->sin_addr); /* checked by the command line */
		what = "ip= (SIOCSIFADDR)";
		if (ioctl(s, SIOCSIFADDR, &ifr))
			goto fail;
		inet_pton(AF_INET, cfg->mask, &sin->sin_addr);
		what = "mask= (SIOCSIFNETMASK)";
		if (ioctl(s, SIOCSIFNETMASK, &ifr))
			goto fail;
	}
	what = "bringing it up (SIOCSIFFLAGS)";
	if (ioctl(s, SIOCGIFFLAGS, &ifr))
		goto fail;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr))
		goto fail;
	close(s);
	return 0;
fail:
	r = -errno;
	log_err("--net tap=%s: %s: %s", cfg->tap, what, strerror(errno));
	if (s >= 0)
		close(s);
	return r;
}

static int tap_open(struct virtio_net *n)
{
	const struct net_config *cfg = n->cfg;
	struct ifreq ifr;
	int hdr_len = NET_HDR_LEN;

	n->tap = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (n->tap < 0) {
		log_err("--net tap=%s: /dev/net/tun: %s", cfg->tap, strerror(errno));
		return -errno;
	}
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, cfg->tap, IFNAMSIZ - 1);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(n->tap, TUNSETIFF, &ifr)) {
		log_err("--net tap=%s: cannot open or create the tap (TUNSETIFF): %s%s", cfg->tap,
			strerror(errno),
			errno == EPERM	  ? " (it needs CAP_NET_ADMIN, or a tap owned by this user)"
			: errno == EINVAL ? " (an interface of that name that is not a tap?)"
					  : "");
		return -errno;
	}
	if (ioctl(n->tap, TUNSETVNETHDRSZ, &hdr_len) || ioctl(n->tap, TUNSETOFFLOAD, 0)) {
		log_err("--net tap=%s: setting the vnet header and offloads: %s", cfg->tap,
			strerror(errno));
		return -errno;
	}
	return tap_configure(cfg);
}

/* The frame that waits for a receive buffer, and where receiving stands. */
#define NET_STATE(F)        \
	F(BOOL, rx_stalled) \
	F(UINT, warned)     \
	F(UINT, det_waits)

static void net_save(struct virtio_dev *d, struct msgpack_packer *pk)
{
	struct virtio_net *n = d->priv;

	msgpack_pack_map(pk, 1 + PERSIST_NFIELDS(NET_STATE));
	persist_bin(pk, "frame", n->frame, n->frame_len);
	PERSIST_PUT_FIELDS(pk, n, NET_STATE);
}

static bool net_load(struct virtio_dev *d, struct persist_in *in)
{
	struct virtio_net *n = d->priv;
	const void *frame;
	size_t len;

	if (!persist_get_bin(in, "frame", NET_HDR_LEN + NET_MAX_FRAME, &frame, &len) ||
	    !PERSIST_LOAD(in, n, NET_STATE))
		return false;
	if (len) /* (an empty bin's pointer may be NULL) */
		memcpy(n->frame, frame, len);
	n->frame_len = len;
	return true;
}

static const struct virtio_ops net_ops = {
	.name = "virtio-net",
	.device_id = 1,
	.class_code = 0x020000, /* network controller, ethernet */
	.features = 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS,
	.num_queues = 2,
	.queue_max = NET_QUEUE_SIZE,
	.config_size = offsetof(struct virtio_net_config, mtu) + 2,
	.config_read = net_config_read,
	.notify = net_notify,
	.reset = net_reset,
	.save = net_save,
	.load = net_load,
};

/* When the VM stops (before --stats and the trace's end): what the log did not show. */
static void net_stopped(void *arg)
{
	struct virtio_net *n = arg;

	log_capped_summary(n->warned, "virtio-net %s: malformed chains", n->cfg->tap);
}

static void net_free(void *arg)
{
	struct virtio_net *n = arg;

	virtio_thread_stop(&n->io);
	if (n->tap >= 0)
		close(n->tap);
	free(n->frame);
	free(n);
}

int virtio_net_add(struct vm *vm, const struct net_config *cfg)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->tap = -1;
	n->cfg = cfg;
	n->frame = malloc(NET_HDR_LEN + NET_MAX_FRAME);
	if (!n->frame || vm_on_destroy(vm, net_free, n)) {
		free(n->frame);
		free(n);
		return -ENOMEM;
	}
	memcpy(n->config.mac, cfg->mac, sizeof(n->config.mac));
	n->config.status = VIRTIO_NET_S_LINK_UP;
	n->config.max_virtqueue_pairs = 1;
	n->config.mtu = 1500;
	if (!cfg->no_tap && (r = tap_open(n)))
		return r;
	r = vm_on_stop(vm, net_stopped, n);
	if (r)
		return r;
	n->vdev.id = cfg->id;
	r = virtio_pci_add(vm, &n->vdev, &net_ops, n);
	if (r)
		return r;
	if (vm->cfg->deterministic)
		return vm_on_hlt(vm, net_hlt, n);
	if (n->tap >= 0 && vm->vm_fd >= 0)
		return start_thread(vm, n);
	return 0;
}
