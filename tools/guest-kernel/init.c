// SPDX-License-Identifier: MIT
/*
 * /init of the dejavm test initramfs.
 *
 * Freestanding static x86_64 program: no libc, raw system calls, no SSE.
 * Build (tools/guest-kernel/build.sh does this):
 *   gcc -static -nostdlib -ffreestanding -fno-stack-protector -O2 \
 *       -mgeneral-regs-only -fno-pie -no-pie -o init init.c
 *
 * It prints the marker line "dejavm-guest: init reached", mounts /proc, /sys
 * and /dev, prints a little of /proc and /sys (each line prefixed with where
 * it came from), prints "dejavm-guest: rebooting" and reboots. With reboot=k
 * on the kernel command line the kernel resets through the i8042 controller,
 * which ends the VM. On any failure it prints
 * "dejavm-guest: error: <what> <errno>" and carries on / still reboots.
 * Its own output is deterministic; only what the kernel reports varies.
 */

typedef unsigned long size_t;
typedef long ssize_t;

#define SYS_read	  0
#define SYS_write	  1
#define SYS_open	  2
#define SYS_close	  3
#define SYS_fcntl	  72
#define SYS_dup2	  33
#define SYS_exit	  60
#define SYS_mkdir	  83
#define SYS_mount	  165
#define SYS_reboot	  169
#define SYS_getdents64	  217
#define SYS_pread64	  17
#define SYS_pwrite64	  18
#define SYS_fsync	  74
#define SYS_clock_gettime 228
#define SYS_lseek	  8
#define SYS_ioctl	  16
#define SYS_socket	  41
#define SYS_sendto	  44
#define SYS_recvfrom	  45
#define SYS_setsockopt	  54

#define O_RDONLY    0
#define O_RDWR	    2
#define O_NOCTTY    0400
#define O_DIRECT    040000
#define O_DIRECTORY 0200000
#define O_CLOEXEC   02000000
#define F_GETFD	    1
#define EBUSY	    16
#define EEXIST	    17
#define EINTR	    4
#define EAGAIN	    11

#define AF_INET	       2
#define SOCK_DGRAM     2
#define SOCK_RAW       3
#define IPPROTO_ICMP   1
#define SOL_SOCKET     1
#define SO_RCVTIMEO    20
#define SIOCGIFFLAGS   0x8913
#define SIOCSIFFLAGS   0x8914
#define SIOCSIFADDR    0x8916
#define SIOCSIFNETMASK 0x891c
#define SIOCGIFHWADDR  0x8927
#define IFF_UP	       0x1

#define LINUX_REBOOT_MAGIC1	 0xfee1deadUL
#define LINUX_REBOOT_MAGIC2	 672274793UL
#define LINUX_REBOOT_CMD_RESTART 0x01234567UL

static long syscall6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define sys0(n)		       syscall6(n, 0, 0, 0, 0, 0, 0)
#define sys1(n, a)	       syscall6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b)	       syscall6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c)       syscall6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d)    syscall6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e) syscall6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* gcc may emit calls to these even with -ffreestanding. */
void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	if (p < q) {
		while (n--)
			*p++ = *q++;
	} else {
		while (n--)
			p[n] = q[n];
	}
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;

	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

static size_t str_len(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static int str_cmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

/* ---- output: whole lines, one write() each, so they stay unbroken ---- */

static int out_fd = 1;
static char line[1024];
static size_t line_len;

static void put(const char *s, size_t n)
{
	while (n-- && line_len < sizeof(line) - 1)
		line[line_len++] = *s++;
}

static void puts_(const char *s)
{
	put(s, str_len(s));
}

static void put_ulong(unsigned long v)
{
	char buf[24];
	int i = sizeof(buf);

	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(buf + i, sizeof(buf) - i);
}

static void flush_line(void)
{
	size_t off = 0;

	line[line_len++] = '\n';
	while (off < line_len) {
		long r = sys3(SYS_write, out_fd, line + off, line_len - off);

		if (r == -EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	line_len = 0;
}

static void say(const char *msg)
{
	puts_(msg);
	flush_line();
}

/* "dejavm-guest: error: <verb> <object> <errno>" */
static void error(const char *verb, const char *object, long ret)
{
	puts_("dejavm-guest: error: ");
	puts_(verb);
	if (object) {
		puts_(" ");
		puts_(object);
	}
	puts_(" ");
	put_ulong((unsigned long)(ret < 0 ? -ret : ret));
	flush_line();
}

/* ---- helpers ------------------------------------------------------------ */

static void do_mount(const char *src, const char *dir, const char *type)
{
	long r = sys2(SYS_mkdir, dir, 0755);

	if (r < 0 && r != -EEXIST)
		error("mkdir", dir, r);
	r = sys5(SYS_mount, src, dir, type, 0, 0);
	if (r < 0 && r != -EBUSY)
		error("mount", dir, r);
}

static char filebuf[16384];

static int contains(const char *s, size_t n, const char *what)
{
	size_t m = str_len(what);

	for (size_t i = 0; i + m <= n; i++)
		if (!memcmp(s + i, what, m))
			return 1;
	return 0;
}

/*
 * Print up to max_lines lines of a file, each as "<prefix>: <line>"; with match, only the lines
 * that contain it.
 */
static void show_lines(const char *path, const char *prefix, int max_lines, const char *match)
{
	long fd = sys3(SYS_open, path, O_RDONLY | O_CLOEXEC, 0);
	size_t len = 0;
	size_t i, start;
	int lines = 0;

	if (fd < 0) {
		error("open", path, fd);
		return;
	}
	for (;;) {
		long r = sys3(SYS_read, fd, filebuf + len, sizeof(filebuf) - 1 - len);

		if (r == -EINTR)
			continue;
		if (r < 0) {
			error("read", path, r);
			break;
		}
		if (r == 0 || (len += (size_t)r) >= sizeof(filebuf) - 1)
			break;
	}
	sys1(SYS_close, fd);

	if (len && filebuf[len - 1] != '\n')
		filebuf[len++] = '\n';
	for (i = 0, start = 0; i < len && lines < max_lines; i++) {
		if (filebuf[i] != '\n')
			continue;
		if (match && !contains(filebuf + start, i - start, match)) {
			start = i + 1;
			continue;
		}
		puts_(prefix);
		puts_(": ");
		put(filebuf + start, i - start);
		flush_line();
		start = i + 1;
		lines++;
	}
}

static void show_file(const char *path, const char *prefix, int max_lines)
{
	show_lines(path, prefix, max_lines, 0);
}

struct linux_dirent64 {
	unsigned long d_ino;
	long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static char dentbuf[8192];
static char namebuf[4096];
static const char *names[128];

/* Print the entries of a directory, sorted, one "<prefix>: <name>" a line. */
static void show_dir(const char *path, const char *prefix)
{
	long fd = sys3(SYS_open, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	size_t used = 0;
	int n = 0, i, j;

	if (fd < 0) {
		error("open", path, fd);
		return;
	}
	for (;;) {
		long r = sys3(SYS_getdents64, fd, dentbuf, sizeof(dentbuf));
		long off;

		if (r < 0) {
			error("getdents64", path, r);
			break;
		}
		if (r == 0)
			break;
		for (off = 0; off < r;) {
			struct linux_dirent64 *d = (void *)(dentbuf + off);
			size_t len = str_len(d->d_name);

			off += d->d_reclen;
			if (!str_cmp(d->d_name, ".") || !str_cmp(d->d_name, ".."))
				continue;
			if (n == (int)(sizeof(names) / sizeof(names[0])) ||
			    used + len + 1 > sizeof(namebuf))
				continue;
			memcpy(namebuf + used, d->d_name, len + 1);
			names[n++] = namebuf + used;
			used += len + 1;
		}
	}
	sys1(SYS_close, fd);

	/* insertion sort: the order getdents64 returns is not guaranteed */
	for (i = 1; i < n; i++) {
		const char *t = names[i];

		for (j = i; j > 0 && str_cmp(names[j - 1], t) > 0; j--)
			names[j] = names[j - 1];
		names[j] = t;
	}
	for (i = 0; i < n; i++) {
		puts_(prefix);
		puts_(": ");
		puts_(names[i]);
		flush_line();
	}
}

/* ---- virtio devices (only when dejavm gave the VM some) ---------------------- */

static void put_hex(const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		char c[2] = {digits[p[i] >> 4], digits[p[i] & 15]};

		put(c, 2);
	}
}

/* Reads n bytes at off from path and prints "prefix: <hex>"; 0 or -errno. */
static long show_bytes(const char *path, long off, size_t n, const char *prefix)
{
	unsigned char buf[64];
	long fd = sys3(SYS_open, path, O_RDONLY | O_CLOEXEC, 0), r;

	if (fd < 0)
		return fd;
	r = syscall6(SYS_pread64, fd, (long)buf, (long)n, off, 0, 0);
	sys1(SYS_close, fd);
	if (r != (long)n)
		return r < 0 ? r : -5;
	puts_(prefix);
	puts_(": ");
	put_hex(buf, n);
	flush_line();
	return 0;
}

/*
 * What a test of dejavm's PCI/virtio devices looks at: the PCI devices, the disk's serial and
 * a read and a write of /dev/vda (the host checks the image afterwards), bytes from the
 * hardware RNG, and a line on the virtio console. Each line says what it saw or the errno.
 */
static void check_devices(void)
{
	static const char msg[] = "dejavm-guest: written by the guest to sector 16\n";
	long fd, r;

	show_dir("/sys/bus/pci/devices", "pci");
	fd = sys3(SYS_open, "/dev/vda", O_RDONLY | O_CLOEXEC, 0);
	if (fd >= 0) {
		sys1(SYS_close, fd);
		show_file("/sys/block/vda/serial", "vda/serial", 1);
		if ((r = show_bytes("/dev/vda", 4096, 16, "vda: sector 8")))
			error("read", "/dev/vda", r);
		fd = sys3(SYS_open, "/dev/vda", O_RDWR | O_CLOEXEC, 0);
		r = fd < 0 ? fd
			   : syscall6(SYS_pwrite64, fd, (long)msg, sizeof(msg) - 1, 16 * 512, 0, 0);
		if (r >= 0)
			r = sys1(SYS_fsync,
				 fd); /* through to the device: VIRTIO_BLK_T_OUT + FLUSH */
		if (fd >= 0)
			sys1(SYS_close, fd);
		if (r < 0)
			error("write", "/dev/vda", r);
		else
			say("vda: wrote sector 16");
	}
	/* Which interrupts the devices use: MSI-X vectors ("PCI-MSI ... virtio0-requests") or INTx.
	 */
	show_lines("/proc/interrupts", "interrupts", 16, "virtio");
	/* ENOENT / ENODEV: no hardware RNG, which is fine */
	if ((r = show_bytes("/dev/hwrng", 0, 16, "hwrng")) && r != -2 && r != -19)
		error("read", "/dev/hwrng", r);
	fd = sys3(SYS_open, "/dev/hvc0", O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
	if (fd >= 0) {
		static const char hello[] = "dejavm-guest: hello on hvc0\n";

		r = sys3(SYS_write, fd, hello, sizeof(hello) - 1);
		sys1(SYS_close, fd);
		if (r < 0)
			error("write", "/dev/hvc0", r);
		else
			say("hvc0: written");
	}
}

/* ---- network (only with dejavm.ip= and dejavm.ping= on the command line) ---- */

/*
 * From the command line: "dejavm.ip=A.B.C.D/NN" (eth0's address and prefix length) and
 * "dejavm.ping=A.B.C.D" (whom to ping). Addresses are kept in network byte order as the
 * 4 bytes in memory. Parsed from the buffer show_file() read /proc/cmdline into, so the path
 * without these options makes no system call it did not make before.
 */
static unsigned char net_ip[4], net_peer[4];
static unsigned int net_prefix;
static int net_have_ip, net_have_peer;
static unsigned long blkbench_reads; /* dejavm.blkbench=N: N random 4 KiB reads of /dev/vda */

/* Parses "A.B.C.D" at s into ip; returns the end or 0. */
static const char *parse_ipv4(const char *s, unsigned char ip[4])
{
	for (int i = 0; i < 4; i++) {
		unsigned int v = 0;
		int digits = 0;

		if (i && *s++ != '.')
			return 0;
		while (*s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (unsigned int)(*s++ - '0');
			digits++;
		}
		if (!digits || v > 255)
			return 0;
		ip[i] = (unsigned char)v;
	}
	return s;
}

static int has_prefix(const char *s, const char *end, const char *prefix)
{
	size_t n = str_len(prefix);

	return (size_t)(end - s) >= n && !memcmp(s, prefix, n);
}

/* The command line is the first line of buf. */
static void parse_args(const char *buf, size_t size)
{
	const char *end = buf, *s = buf;

	while ((size_t)(end - buf) < size && *end != '\n' && *end)
		end++;
	while (s < end) {
		const char *w = s, *p;

		while (w < end && *w != ' ')
			w++;
		if (has_prefix(s, w, "dejavm.ip=")) {
			p = parse_ipv4(s + 10, net_ip);
			if (p && p < w && *p == '/') {
				unsigned int v = 0;

				for (p++; p < w && *p >= '0' && *p <= '9' && v <= 32; p++)
					v = v * 10 + (unsigned int)(*p - '0');
				net_prefix = v;
				net_have_ip = p == w && v <= 32;
			}
			if (!net_have_ip)
				say("init: bad dejavm.ip= (want A.B.C.D/NN)");
		} else if (has_prefix(s, w, "dejavm.blkbench=")) {
			for (p = s + 16;
			     p < w && *p >= '0' && *p <= '9' && blkbench_reads < 1000000; p++)
				blkbench_reads = blkbench_reads * 10 + (unsigned long)(*p - '0');
		} else if (has_prefix(s, w, "dejavm.ping=")) {
			p = parse_ipv4(s + 12, net_peer);
			net_have_peer = p == w;
			if (!net_have_peer)
				say("init: bad dejavm.ping= (want A.B.C.D)");
		}
		s = w + 1;
	}
}

static void put_ipv4(const unsigned char ip[4])
{
	for (int i = 0; i < 4; i++) {
		if (i)
			puts_(".");
		put_ulong(ip[i]);
	}
}

struct sockaddr_in_ {
	unsigned short family;
	unsigned short port;
	unsigned char addr[4];
	unsigned char zero[8];
};

struct ifreq_ {
	char name[16];
	union {
		struct sockaddr_in_ addr;
		struct {
			unsigned short family;
			unsigned char data[14];
		} hwaddr;
		short flags;
		char pad[24];
	};
};

struct timeval_ {
	long sec, usec;
};

static long ifreq_ioctl(long fd, unsigned long req, struct ifreq_ *ifr, const char *what)
{
	long r = sys3(SYS_ioctl, fd, req, ifr);

	if (r < 0)
		error("ioctl", what, r);
	return r;
}

/* eth0: prints its MAC, sets the address and netmask, brings it up; 0 or -errno. */
static long net_configure(void)
{
	struct ifreq_ ifr;
	unsigned int mask = net_prefix ? ~0u << (32 - net_prefix) : 0;
	long fd = sys3(SYS_socket, AF_INET, SOCK_DGRAM, 0), r;

	if (fd < 0) {
		error("socket", "AF_INET", fd);
		return fd;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.name, "eth0", 5);
	if ((r = ifreq_ioctl(fd, SIOCGIFHWADDR, &ifr, "SIOCGIFHWADDR eth0")) < 0)
		goto out;
	puts_("init: eth0 mac ");
	for (int i = 0; i < 6; i++) {
		if (i)
			puts_(":");
		put_hex(ifr.hwaddr.data + i, 1);
	}
	flush_line();

	memset(&ifr.addr, 0, sizeof(ifr.addr));
	ifr.addr.family = AF_INET;
	memcpy(ifr.addr.addr, net_ip, 4);
	if ((r = ifreq_ioctl(fd, SIOCSIFADDR, &ifr, "SIOCSIFADDR eth0")) < 0)
		goto out;
	for (int i = 0; i < 4; i++)
		ifr.addr.addr[i] = (unsigned char)(mask >> (24 - 8 * i));
	if ((r = ifreq_ioctl(fd, SIOCSIFNETMASK, &ifr, "SIOCSIFNETMASK eth0")) < 0)
		goto out;
	if ((r = ifreq_ioctl(fd, SIOCGIFFLAGS, &ifr, "SIOCGIFFLAGS eth0")) < 0)
		goto out;
	ifr.flags |= IFF_UP;
	if ((r = ifreq_ioctl(fd, SIOCSIFFLAGS, &ifr, "SIOCSIFFLAGS eth0")) < 0)
		goto out;
	puts_("init: eth0 ");
	put_ipv4(net_ip);
	puts_("/");
	put_ulong(net_prefix);
	puts_(" up");
	flush_line();
out:
	sys1(SYS_close, fd);
	return r < 0 ? r : 0;
}

static unsigned short icmp_checksum(const unsigned char *p, size_t n)
{
	unsigned long sum = 0;

	for (; n > 1; p += 2, n -= 2)
		sum += (unsigned long)(p[0] << 8 | p[1]);
	if (n)
		sum += (unsigned long)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (unsigned short)~sum;
}

#define PING_COUNT 3
#define PING_ID	   0xd17a
#define PING_DATA  56

/*
 * Three ICMP echo requests to net_peer over a raw socket, each waiting up to ~3 s (SO_RCVTIMEO)
 * for its reply. Prints "init: ping reply from A.B.C.D: icmp_seq=N ttl=T" per reply and then
 * "init: ping A.B.C.D: N/3 replies".
 */
static void net_ping(void)
{
	static unsigned char pkt[8 + PING_DATA], buf[1024];
	struct timeval_ tv = {3, 0};
	struct sockaddr_in_ to;
	int replies = 0;
	long fd = sys3(SYS_socket, AF_INET, SOCK_RAW, IPPROTO_ICMP), r;

	if (fd < 0) {
		error("socket", "SOCK_RAW", fd);
		goto done;
	}
	r = syscall6(SYS_setsockopt, fd, SOL_SOCKET, SO_RCVTIMEO, (long)&tv, sizeof(tv), 0);
	if (r < 0)
		error("setsockopt", "SO_RCVTIMEO", r);
	memset(&to, 0, sizeof(to));
	to.family = AF_INET;
	memcpy(to.addr, net_peer, 4);
	for (unsigned int seq = 1; seq <= PING_COUNT; seq++) {
		unsigned short sum;

		memset(pkt, 0, sizeof(pkt));
		pkt[0] = 8; /* echo request */
		pkt[4] = PING_ID >> 8;
		pkt[5] = PING_ID & 0xff;
		pkt[7] = (unsigned char)seq;
		for (int i = 0; i < PING_DATA; i++)
			pkt[8 + i] = (unsigned char)i;
		sum = icmp_checksum(pkt, sizeof(pkt));
		pkt[2] = (unsigned char)(sum >> 8);
		pkt[3] = (unsigned char)sum;
		r = syscall6(SYS_sendto, fd, (long)pkt, sizeof(pkt), 0, (long)&to, sizeof(to));
		if (r < 0) {
			error("sendto", "icmp", r);
			continue;
		}
		/* Other ICMP (a late reply to an earlier request...) may come first: a few tries.
		 */
		for (int tries = 0; tries < 4; tries++) {
			size_t ihl;

			r = syscall6(SYS_recvfrom, fd, (long)buf, sizeof(buf), 0, 0, 0);
			if (r == -EINTR)
				continue;
			if (r < 0) {
				if (r != -EAGAIN)
					error("recvfrom", "icmp", r);
				break;
			}
			ihl = (size_t)(buf[0] & 15) * 4;
			if ((size_t)r < ihl + 8 || memcmp(buf + 12, net_peer, 4) || buf[ihl] != 0 ||
			    buf[ihl + 4] != PING_ID >> 8 || buf[ihl + 5] != (PING_ID & 0xff) ||
			    buf[ihl + 6] != 0 || buf[ihl + 7] != seq)
				continue;
			replies++;
			puts_("init: ping reply from ");
			put_ipv4(net_peer);
			puts_(": icmp_seq=");
			put_ulong(seq);
			puts_(" ttl=");
			put_ulong(buf[8]);
			puts_(" bytes=");
			put_ulong((unsigned long)r - ihl);
			flush_line();
			break;
		}
	}
	sys1(SYS_close, fd);
done:
	puts_("init: ping ");
	put_ipv4(net_peer);
	puts_(": ");
	put_ulong((unsigned long)replies);
	puts_("/");
	put_ulong(PING_COUNT);
	puts_(" replies");
	flush_line();
}

static void check_net(void)
{
	if (!net_have_ip || !net_have_peer)
		return;
	if (net_configure() == 0)
		net_ping();
}

/* ---- dejavm.blkbench=N: guest-visible read latency (tools/bench/blk_guest.py) ---- */

struct timespec_ {
	long sec, nsec;
};

static unsigned long now_ns(void)
{
	struct timespec_ t = {0, 0};

	sys2(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, &t);
	return (unsigned long)t.sec * 1000000000UL + (unsigned long)t.nsec;
}

static unsigned char bench_buf[4096] __attribute__((aligned(4096)));

/* N reads of 4 KiB at random aligned offsets, one at a time, with O_DIRECT: no page cache. */
static void blkbench(void)
{
	unsigned long seed = 1, t0, size;
	long fd = sys3(SYS_open, "/dev/vda", O_RDONLY | O_DIRECT | O_CLOEXEC, 0), r = 0;

	if (fd < 0) {
		error("open", "/dev/vda", fd);
		return;
	}
	size = (unsigned long)syscall6(SYS_lseek, fd, 0, 2 /* SEEK_END */, 0, 0, 0);
	if ((long)size < 4096) {
		error("lseek", "/dev/vda", (long)size);
		sys1(SYS_close, fd);
		return;
	}
	t0 = now_ns();
	for (unsigned long i = 0; i < blkbench_reads && r >= 0; i++) {
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		r = syscall6(SYS_pread64, fd, (long)bench_buf, 4096,
			     (long)((seed >> 17) % (size / 4096) * 4096), 0, 0);
		if (r != 4096)
			r = r < 0 ? r : -5;
	}
	t0 = now_ns() - t0;
	sys1(SYS_close, fd);
	if (r < 0) {
		error("pread64", "/dev/vda", r);
		return;
	}
	puts_("blkbench: ");
	put_ulong(blkbench_reads);
	puts_(" reads of 4096 B in ");
	put_ulong(t0);
	puts_(" ns");
	flush_line();
}

/* ---- main --------------------------------------------------------------- */

static void setup_console(void)
{
	long fd;

	/* The kernel opens /dev/console as fds 0-2 if the initramfs has it. */
	if (sys2(SYS_fcntl, 1, F_GETFD) >= 0)
		return;
	fd = sys3(SYS_open, "/dev/console", O_RDWR | O_NOCTTY, 0);
	if (fd < 0) {
		/* No console node: get one from devtmpfs. */
		sys2(SYS_mkdir, "/dev", 0755);
		sys5(SYS_mount, "devtmpfs", "/dev", "devtmpfs", 0, 0);
		fd = sys3(SYS_open, "/dev/console", O_RDWR | O_NOCTTY, 0);
	}
	if (fd < 0)
		return; /* nowhere to print: just reboot later */
	sys2(SYS_dup2, fd, 0);
	sys2(SYS_dup2, fd, 1);
	sys2(SYS_dup2, fd, 2);
	if (fd > 2)
		sys1(SYS_close, fd);
	out_fd = 1;
}

__attribute__((noreturn, used)) void init_main(void)
{
	long r;

	setup_console();
	say("dejavm-guest: init reached");

	do_mount("proc", "/proc", "proc");
	do_mount("sysfs", "/sys", "sysfs");
	do_mount("devtmpfs", "/dev", "devtmpfs"); /* EBUSY if auto-mounted */

	show_file("/proc/version", "proc/version", 1000);
	show_file("/proc/cmdline", "proc/cmdline", 1000);
	parse_args(filebuf, sizeof(filebuf)); /* no system calls */
	show_file("/proc/meminfo", "proc/meminfo", 5);
	show_dir("/sys/bus", "sys/bus");
	check_devices();
	check_net();
	if (blkbench_reads)
		blkbench();

	say("dejavm-guest: rebooting");
	r = sys4(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART, 0);
	error("reboot", 0, r);
	/* init exiting panics the kernel; panic=-1 then reboots at once. */
	for (;;)
		sys1(SYS_exit, 1);
}

/* Entry point: the kernel starts us with an aligned stack; keep it so. */
__asm__(".text\n"
	".global _start\n"
	".type _start, @function\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	call init_main\n"
	"	hlt\n");
