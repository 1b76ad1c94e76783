/* SPDX-License-Identifier: MIT */
/* SHA-256 of images and memory ranges in traces and snapshots, from libcrypto (OpenSSL's EVP). */
#ifndef DEJAVM_SHA256_H
#define DEJAVM_SHA256_H

#include <stddef.h>
#include <stdint.h>

void sha256(const void *data, size_t len, uint8_t out[32]);
/* The SHA-256 of a file's bytes, read in chunks. 0, or -errno (-EIO for a file that shrank). */
int sha256_file(const char *path, uint64_t *size, uint8_t out[32]);
/* 64 lower-case hex digits and a NUL. */
void sha256_hex(const uint8_t digest[32], char out[65]);

#endif
