// SPDX-License-Identifier: MIT
/* Device state as msgpack maps: see persist.h. */
#include "persist.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Big-endian n-byte length at p. */
static uint64_t be(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

bool persist_fits(const void *data, size_t len)
{
	const uint8_t *p = data, *end = p + len;
	uint64_t pending = 1; /* objects announced and not read yet: each takes a byte at least */

	while (pending && p < end) {
		uint8_t c = *p++;
		uint64_t elems = 0, skip = 0;
		unsigned int size = 0; /* bytes of the length that follows c */

		pending--;
		if ((c >= 0x80 && c <= 0x8f) || (c >= 0x90 && c <= 0x9f))
			elems = (c & 0x0f) << (c <= 0x8f); /* fixmap: keys and values */
		else if (c >= 0xa0 && c <= 0xbf)
			skip = c & 0x1f;
		else if (c >= 0xc4 && c <= 0xc6)
			size = 1u << (c - 0xc4); /* bin */
		else if (c >= 0xc7 && c <= 0xc9)
			size = 1u << (c - 0xc7), skip = 1; /* ext: and its type */
		else if (c == 0xca || c == 0xcb)
			skip = c == 0xca ? 4 : 8;
		else if (c >= 0xcc && c <= 0xd3)
			skip = 1u << (c & 3);
		else if (c >= 0xd4 && c <= 0xd8)
			skip = 1 + (1u << (c - 0xd4));
		else if (c >= 0xd9 && c <= 0xdb)
			size = 1u << (c - 0xd9); /* str */
		else if (c >= 0xdc && c <= 0xdf)
			size = c & 1 ? 4 : 2; /* array or map 16/32 */
		if ((uint64_t)(end - p) < size)
			return true; /* cut inside a length: msgpack-c says so itself */
		if (c >= 0xdc && c <= 0xdf)
			elems = be(p, size) << (c >= 0xde);
		else if (size)
			skip += be(p, size);
		p += size;
		if (skip > (uint64_t)(end - p))
			return true; /* a string or bin cut short: nothing is allocated for it */
		p += skip;
		/* (what was announced no longer fits either: cut short, or a lie) */
		if (pending > (uint64_t)(end - p) || elems > (uint64_t)(end - p) - pending)
			return false;
		pending += elems;
	}
	return true;
}

msgpack_unpack_return persist_unpack(const void *data, size_t len, size_t *off, msgpack_zone *zone,
				     msgpack_object *obj)
{
	if (*off > len || !persist_fits((const uint8_t *)data + *off, len - *off))
		return MSGPACK_UNPACK_CONTINUE;
	return msgpack_unpack(data, len, off, zone, obj);
}

bool persist_open(struct persist_in *in, const msgpack_object *obj, const char *path,
		  struct persist_err *err)
{
	in->map = obj;
	in->err = err;
	snprintf(in->path, sizeof(in->path), "%s", path);
	if (!obj || obj->type != MSGPACK_OBJECT_MAP) {
		in->map = NULL;
		if (!err->set) {
			err->set = true;
			snprintf(err->msg, sizeof(err->msg), "%s: %s", path,
				 obj ? "not a map" : "missing");
		}
		return false;
	}
	return true;
}

bool persist_fail(struct persist_in *in, const char *key, const char *fmt, ...)
{
	struct persist_err *e = in->err;
	va_list ap;
	int n;

	if (e->set)
		return false;
	e->set = true;
	n = snprintf(e->msg, sizeof(e->msg), "%s%s%s: ", in->path, key ? "." : "", key ? key : "");
	if (n < 0 || (size_t)n >= sizeof(e->msg))
		return false;
	va_start(ap, fmt);
	vsnprintf(e->msg + n, sizeof(e->msg) - n, fmt, ap);
	va_end(ap);
	return false;
}

const msgpack_object *persist_find(const struct persist_in *in, const char *key)
{
	size_t len = strlen(key);

	if (!in->map)
		return NULL;
	for (uint32_t i = 0; i < in->map->via.map.size; i++) {
		const msgpack_object_kv *kv = &in->map->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == len &&
		    !memcmp(kv->key.via.str.ptr, key, len))
			return &kv->val;
	}
	return NULL;
}

/* "base.key" or "base.key[i]" (i >= 0) into path: cut short rather than overflow. */
static void subpath(char *path, size_t n, const char *base, const char *key, int i)
{
	int r = i < 0 ? snprintf(path, n, "%s.%s", base, key)
		      : snprintf(path, n, "%s.%s[%d]", base, key, i);

	if (r < 0 || (size_t)r >= n) /* a message with a cut path is still a message */
		path[n - 1] = '\0';
}

/* The value of key, of type t (NEGATIVE_INTEGER is never wanted); NULL after recording why. */
static const msgpack_object *get(struct persist_in *in, const char *key, msgpack_object_type t,
				 const char *what)
{
	const msgpack_object *o = persist_find(in, key);

	if (!in->map)
		return NULL; /* the map itself was bad: already said */
	if (!o) {
		persist_fail(in, key, "missing");
		return NULL;
	}
	if (o->type != t) {
		persist_fail(in, key, "not %s", what);
		return NULL;
	}
	return o;
}

bool persist_sub(struct persist_in *in, const char *key, struct persist_in *sub)
{
	const msgpack_object *o = get(in, key, MSGPACK_OBJECT_MAP, "a map");
	char path[sizeof(in->path)];

	subpath(path, sizeof(path), in->path, key, -1);
	if (!o) {
		sub->map = NULL;
		sub->err = in->err;
		snprintf(sub->path, sizeof(sub->path), "%s", path);
		return false;
	}
	return persist_open(sub, o, path, in->err);
}

bool persist_elem(struct persist_in *in, const char *key, unsigned int i, unsigned int n,
		  struct persist_in *sub)
{
	const msgpack_object *a = get(in, key, MSGPACK_OBJECT_ARRAY, "an array");
	char path[sizeof(in->path)];

	subpath(path, sizeof(path), in->path, key, (int)i);
	sub->map = NULL;
	sub->err = in->err;
	snprintf(sub->path, sizeof(sub->path), "%s", path);
	if (!a)
		return false;
	if (a->via.array.size != n)
		return persist_fail(in, key, "%u elements, this build has %u", a->via.array.size,
				    n);
	return persist_open(sub, &a->via.array.ptr[i], path, in->err);
}

bool persist_get_u64(struct persist_in *in, const char *key, uint64_t max, uint64_t *v)
{
	const msgpack_object *o =
		get(in, key, MSGPACK_OBJECT_POSITIVE_INTEGER, "an unsigned integer");

	if (!o)
		return false;
	if (o->via.u64 > max)
		return persist_fail(in, key, "%" PRIu64 " is out of range (at most %" PRIu64 ")",
				    o->via.u64, max);
	*v = o->via.u64;
	return true;
}

bool persist_get_bin(struct persist_in *in, const char *key, size_t max, const void **p,
		     size_t *len)
{
	const msgpack_object *o = get(in, key, MSGPACK_OBJECT_BIN, "binary data");

	if (!o)
		return false;
	if (o->via.bin.size > max)
		return persist_fail(in, key, "%u bytes, at most %zu fit", o->via.bin.size, max);
	*p = o->via.bin.ptr;
	*len = o->via.bin.size;
	return true;
}

bool persist_get_UINT(struct persist_in *in, const char *key, void *p, size_t size)
{
	uint64_t v;

	if (!persist_get_u64(in, key, size >= 8 ? UINT64_MAX : (1ULL << (8 * size)) - 1, &v))
		return false;
	memcpy(p, &v, size); /* the low bytes: x86 is little-endian */
	return true;
}

bool persist_get_BOOL(struct persist_in *in, const char *key, void *p, size_t size)
{
	const msgpack_object *o = get(in, key, MSGPACK_OBJECT_BOOLEAN, "true or false");

	if (!o || size != sizeof(bool))
		return false;
	*(bool *)p = o->via.boolean;
	return true;
}

bool persist_get_BIN(struct persist_in *in, const char *key, void *p, size_t size)
{
	const void *src;
	size_t len;

	if (!persist_get_bin(in, key, size, &src, &len))
		return false;
	if (len != size)
		return persist_fail(in, key, "%zu bytes, this build's has %zu", len, size);
	memcpy(p, src, size);
	return true;
}

void persist_key(msgpack_packer *pk, const char *key)
{
	msgpack_pack_str_with_body(pk, key, strlen(key));
}

void persist_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
	persist_key(pk, key);
	msgpack_pack_uint64(pk, v);
}

void persist_bin(msgpack_packer *pk, const char *key, const void *p, size_t len)
{
	persist_key(pk, key);
	msgpack_pack_bin_with_body(pk, p, len);
}

void persist_str(msgpack_packer *pk, const char *key, const char *val)
{
	persist_key(pk, key);
	if (val)
		msgpack_pack_str_with_body(pk, val, strlen(val));
	else
		msgpack_pack_nil(pk);
}

void persist_put_UINT(msgpack_packer *pk, const char *key, const void *p, size_t size)
{
	uint64_t v = 0;

	memcpy(&v, p, size < 8 ? size : 8);
	persist_u64(pk, key, v);
}

void persist_put_BOOL(msgpack_packer *pk, const char *key, const void *p, size_t size)
{
	(void)size;
	persist_key(pk, key);
	if (*(const bool *)p)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

void persist_put_BIN(msgpack_packer *pk, const char *key, const void *p, size_t size)
{
	persist_bin(pk, key, p, size);
}

bool persist_has_UINT0(const void *p, size_t size)
{
	uint64_t v = 0;

	memcpy(&v, p, size < 8 ? size : 8);
	return v != 0;
}

bool persist_get_UINT0(struct persist_in *in, const char *key, void *p, size_t size)
{
	if (in->map && !persist_find(in, key)) {
		memset(p, 0, size); /* a snapshot from before the field, or it was 0 */
		return true;
	}
	return persist_get_UINT(in, key, p, size);
}

void persist_put_UINT0(msgpack_packer *pk, const char *key, const void *p, size_t size)
{
	if (persist_has_UINT0(p, size))
		persist_put_UINT(pk, key, p, size);
}
