// SPDX-License-Identifier: MIT
/* SHA-256 through libcrypto: it uses the CPU's SHA extensions where there are some. */
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

void sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 32;

	/* EVP_Digest only fails without memory: the digest is then all zeros, never random */
	if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL))
		for (int i = 0; i < 32; i++)
			out[i] = 0;
}

int sha256_file(const char *path, uint64_t *size, uint8_t out[32])
{
	enum { CHUNK = 4 << 20 };
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	uint8_t *buf = malloc(CHUNK);
	unsigned int n = 32;
	struct stat st;
	uint64_t pos = 0;

	if (fd < 0 || fstat(fd, &st))
		r = -errno;
	else if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		r = -ENOMEM;
	while (!r && pos < (uint64_t)st.st_size) {
		ssize_t got = pread(fd, buf, CHUNK, pos);

		if (got <= 0)
			r = got ? -errno : -EIO;
		else if (!EVP_DigestUpdate(ctx, buf, got))
			r = -ENOMEM;
		pos += got > 0 ? got : 0;
	}
	if (!r && !EVP_DigestFinal_ex(ctx, out, &n))
		r = -ENOMEM;
	if (!r)
		*size = pos;
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(ctx);
	return r;
}

void sha256_hex(const uint8_t digest[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}
