// SPDX-License-Identifier: MIT
#include "loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_KERNEL_FILE (1ULL << 30)

static int fail(char *err, size_t errlen, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "%s: ", name);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

int read_whole_file(const char *path, uint8_t **buf, size_t *size, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *p;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fail(err, errlen, path, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, path, "not a regular file");
	}
	if ((unsigned long long)st.st_size > MAX_KERNEL_FILE) {
		close(fd);
		return fail(err, errlen, path, "too large (%lld bytes)", (long long)st.st_size);
	}
	p = malloc(st.st_size ? st.st_size : 1);
	if (!p) {
		close(fd);
		return fail(err, errlen, path, "out of memory");
	}
	while (done < (size_t)st.st_size) {
		ssize_t r = read(fd, p + done, st.st_size - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r ? errno : EIO;

			free(p);
			close(fd);
			return fail(err, errlen, path, "read error at byte %zu: %s", done,
				    strerror(e));
		}
		done += r;
	}
	close(fd);
	*buf = p;
	*size = done;
	return 0;
}

/* True when [off, off+len) lies inside a buffer of size bytes. */
static int in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

static int find_pvh_entry(const char *name, const uint8_t *buf, size_t size, const Elf64_Phdr *ph,
			  uint64_t *entry, char *err, size_t errlen)
{
	uint64_t off = ph->p_offset, end;

	if (!in_file(ph->p_offset, ph->p_filesz, size))
		return fail(err, errlen, name, "PT_NOTE segment at offset %llu runs past the end",
			    (unsigned long long)ph->p_offset);
	end = ph->p_offset + ph->p_filesz;
	while (end - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_off = off + sizeof(nh), desc_off, next;

		memcpy(&nh, buf + off, sizeof(nh));
		desc_off = name_off + ((nh.n_namesz + 3ULL) & ~3ULL);
		next = desc_off + ((nh.n_descsz + 3ULL) & ~3ULL);
		if (next > end)
			return fail(err, errlen, name,
				    "ELF note at offset %llu runs past its segment",
				    (unsigned long long)off);
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    !memcmp(buf + name_off, "Xen", 4)) {
			uint64_t v = 0;

			if (nh.n_descsz != 4 && nh.n_descsz != 8)
				return fail(err, errlen, name,
					    "PVH entry note at offset %llu has a %u-byte value",
					    (unsigned long long)off, nh.n_descsz);
			memcpy(&v, buf + desc_off, nh.n_descsz);
			*entry = v;
			return 1;
		}
		off = next;
	}
	return 0;
}

static int load_elf(struct guest_mem *gm, const char *name, const uint8_t *buf, size_t size,
		    struct boot_image *img, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	uint64_t entry = 0;
	int have_entry = 0, nr_load = 0;

	if (size < EI_NIDENT || buf[EI_CLASS] != ELFCLASS64)
		return fail(err, errlen, name, "wrong ELF class (%s); a 64-bit x86 ELF is needed",
			    size > EI_CLASS && buf[EI_CLASS] == ELFCLASS32 ? "32-bit" : "unknown");
	if (size < sizeof(eh))
		return fail(err, errlen, name, "truncated ELF header (%zu bytes)", size);
	memcpy(&eh, buf, sizeof(eh));
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return fail(err, errlen, name, "not an x86-64 little-endian ELF (machine %u)",
			    eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return fail(err, errlen, name, "ELF type %u is not an executable", eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || !eh.e_phnum)
		return fail(err, errlen, name, "bad program header table (entry size %u, count %u)",
			    eh.e_phentsize, eh.e_phnum);
	if (!in_file(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), size))
		return fail(
			err, errlen, name,
			"truncated: program headers at offset %llu need %zu bytes, file has %zu",
			(unsigned long long)eh.e_phoff, eh.e_phnum * sizeof(Elf64_Phdr), size);

	img->load_start = UINT64_MAX;
	img->load_end = 0;
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		uint8_t *dst;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE && !have_entry) {
			have_entry = find_pvh_entry(name, buf, size, &ph, &entry, err, errlen);
			if (have_entry < 0)
				return -1;
		}
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return fail(
				err, errlen, name,
				"segment %u has more file bytes (%llu) than memory bytes (%llu)", i,
				(unsigned long long)ph.p_filesz, (unsigned long long)ph.p_memsz);
		if (!in_file(ph.p_offset, ph.p_filesz, size))
			return fail(err, errlen, name,
				    "truncated: segment %u (offset %llu, %llu bytes) runs past the "
				    "end of the file (%zu bytes)",
				    i, (unsigned long long)ph.p_offset,
				    (unsigned long long)ph.p_filesz, size);
		if (ph.p_paddr < HIGH_RAM_START)
			return fail(
				err, errlen, name,
				"segment %u loads at 0x%llx, below 1 MiB (reserved for boot data)",
				i, (unsigned long long)ph.p_paddr);
		dst = gpa_to_hva(gm, ph.p_paddr, ph.p_memsz);
		if (!dst)
			return fail(err, errlen, name,
				    "segment %u [0x%llx, +0x%llx) is outside guest RAM (%llu MiB)",
				    i, (unsigned long long)ph.p_paddr,
				    (unsigned long long)ph.p_memsz,
				    (unsigned long long)(gm->ram_size >> 20));
		memcpy(dst, buf + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		if (ph.p_paddr < img->load_start)
			img->load_start = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > img->load_end)
			img->load_end = ph.p_paddr + ph.p_memsz;
		nr_load++;
	}
	if (!nr_load)
		return fail(err, errlen, name, "no loadable segment");
	if (!have_entry)
		return fail(err, errlen, name,
			    "no PVH entry note (Xen note type 18): dejavm boots ELF kernels "
			    "through PVH (Linux: CONFIG_PVH=y)");
	if (entry < img->load_start || entry >= img->load_end || entry > UINT32_MAX)
		return fail(err, errlen, name, "PVH entry 0x%llx is outside the loaded image",
			    (unsigned long long)entry);
	img->kind = BOOT_PVH;
	img->entry = entry;
	img->initrd_addr_max = UINT32_MAX;
	img->cmdline_max = 65535;
	return 0;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static int load_bzimage(struct guest_mem *gm, const char *name, const uint8_t *buf, size_t size,
			struct boot_image *img, char *err, size_t errlen)
{
	uint8_t setup_sects = buf[0x1f1] ? buf[0x1f1] : 4;
	uint64_t setup_size = (setup_sects + 1ULL) * 512, payload, load_addr, init_size, end;
	uint16_t version;
	uint8_t *dst;

	if (size < BZ_SETUP_HDR_END)
		return fail(err, errlen, name, "truncated setup header (%zu bytes)", size);
	version = get16(buf + 0x206);
	if (version < 0x20c)
		return fail(err, errlen, name,
			    "boot protocol %u.%02u is too old: the 64-bit entry needs 2.12",
			    version >> 8, version & 0xff);
	if (!(get16(buf + 0x236) & 1))
		return fail(err, errlen, name, "no 64-bit entry point (XLF_KERNEL_64 not set)");
	if (setup_size >= size)
		return fail(err, errlen, name,
			    "truncated: setup code claims %llu bytes, file has %zu",
			    (unsigned long long)setup_size, size);
	payload = size - setup_size;
	if (payload < get32(buf + 0x1f4) * 16ULL) /* syssize, in 16-byte units */
		return fail(err, errlen, name,
			    "truncated: the kernel payload has %llu bytes, the header says %llu",
			    (unsigned long long)payload, get32(buf + 0x1f4) * 16ULL);
	memcpy(&load_addr, buf + 0x258, 8); /* pref_address */
	init_size = get32(buf + 0x260);
	if (load_addr < HIGH_RAM_START || (load_addr & 0xfff))
		load_addr = 0x1000000;
	end = load_addr + (init_size > payload ? init_size : payload);
	dst = gpa_to_hva(gm, load_addr, end - load_addr);
	if (!dst || end > guest_mem_low_end(gm))
		return fail(
			err, errlen, name,
			"kernel needs [0x%llx, 0x%llx) but guest RAM below 4 GiB ends at 0x%llx",
			(unsigned long long)load_addr, (unsigned long long)end,
			(unsigned long long)guest_mem_low_end(gm));
	memcpy(dst, buf + setup_size, payload);
	memcpy(img->setup_header, buf + BZ_SETUP_HDR_OFF, sizeof(img->setup_header));
	img->kind = BOOT_BZIMAGE;
	img->entry = load_addr + 0x200;
	img->load_start = load_addr;
	img->load_end = end;
	img->initrd_addr_max = get32(buf + 0x22c);
	img->cmdline_max = get32(buf + 0x238);
	if (!img->cmdline_max)
		img->cmdline_max = 255;
	return 0;
}

int load_kernel(struct guest_mem *gm, const char *name, const uint8_t *buf, size_t size,
		struct boot_image *img, char *err, size_t errlen)
{
	memset(img, 0, sizeof(*img));
	if (size >= 4 && !memcmp(buf, ELFMAG, SELFMAG))
		return load_elf(gm, name, buf, size, img, err, errlen);
	if (size >= 0x206 && !memcmp(buf + 0x202, "HdrS", 4))
		return load_bzimage(gm, name, buf, size, img, err, errlen);
	if (size < 0x206)
		return fail(err, errlen, name, "not a kernel: %zu bytes, no ELF or bzImage header",
			    size);
	return fail(err, errlen, name, "not a kernel: neither an ELF nor a bzImage (no HdrS)");
}

int load_initramfs(struct guest_mem *gm, const char *name, const uint8_t *buf, size_t size,
		   const struct boot_image *img, uint64_t *addr, char *err, size_t errlen)
{
	uint64_t top = guest_mem_low_end(gm);
	uint64_t aligned = (size + 0xfff) & ~0xfffULL;
	uint8_t *dst;

	if ((uint64_t)img->initrd_addr_max + 1 < top)
		top = (uint64_t)img->initrd_addr_max + 1;
	top &= ~0xfffULL; /* so rounding the start down can never reach into the kernel */
	if (!size)
		return fail(err, errlen, name, "empty initramfs");
	if (aligned > top || (top - aligned) < img->load_end)
		return fail(err, errlen, name,
			    "%zu bytes do not fit between the kernel (ends at 0x%llx) and 0x%llx; "
			    "give the guest more --memory",
			    size, (unsigned long long)img->load_end, (unsigned long long)top);
	*addr = (top - aligned) & ~0xfffULL;
	dst = gpa_to_hva(gm, *addr, size);
	if (!dst)
		return fail(err, errlen, name, "destination 0x%llx is outside guest RAM",
			    (unsigned long long)*addr);
	memcpy(dst, buf, size);
	return 0;
}
