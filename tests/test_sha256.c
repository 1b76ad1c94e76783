// SPDX-License-Identifier: MIT
/* SHA-256 (libcrypto underneath): FIPS 180-4's vectors, one-shot and from a file. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sha256.h"

static const struct {
	const char *msg; /* NULL: a million 'a' */
	const char *hex;
} vectors[] = {
	{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	{"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
	 "lmnopqrsmnopqrstnopqrstu",
	 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
	{NULL, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

static void message(size_t i, char **p, size_t *len)
{
	if (vectors[i].msg) {
		*p = strdup(vectors[i].msg);
		*len = strlen(*p);
	} else {
		*len = 1000000;
		*p = malloc(*len);
		memset(*p, 'a', *len);
	}
	ck_assert_ptr_nonnull(*p);
}

START_TEST(fips_vectors)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		uint8_t d[32];
		char hex[65], *m;
		size_t len;

		message(i, &m, &len);
		sha256(m, len, d);
		sha256_hex(d, hex);
		ck_assert_str_eq(hex, vectors[i].hex);
		free(m);
	}
}
END_TEST

START_TEST(files_hash_as_their_bytes)
{
	char *path = test_tmpfile("sha256");
	uint8_t d[32];
	uint64_t size = 1;
	char hex[65], *m;
	size_t len;

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		message(i, &m, &len);
		test_write_file(path, m, len);
		ck_assert_int_eq(sha256_file(path, &size, d), 0);
		ck_assert_uint_eq(size, len);
		sha256_hex(d, hex);
		ck_assert_str_eq(hex, vectors[i].hex);
		free(m);
	}
	unlink(path);
	ck_assert_int_eq(sha256_file(path, &size, d), -ENOENT);
	free(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sha256");
	TCase *tc = tcase_create("vectors");

	tcase_add_test(tc, fips_vectors);
	tcase_add_test(tc, files_hash_as_their_bytes);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
