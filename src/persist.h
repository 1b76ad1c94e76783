/* SPDX-License-Identifier: MIT */
/*
 * A device's state in a snapshot or a checkpoint (docs/snapshot-format.md): one msgpack map per
 * device, field name -> value. Each device lists its fields once, as an X-macro, and
 * PERSIST_SAVE / PERSIST_LOAD expand it into the packer and the checked reader:
 *
 *	#define CMOS_STATE(F) F(UINT, index) F(BIN, nvram)
 *	PERSIST_SAVE(pk, c, CMOS_STATE);          // {"index": 14, "nvram": <128 bytes>}
 *	if (!PERSIST_LOAD(in, c, CMOS_STATE)) ... // in->err names the first bad field
 *
 * Kinds: UINT (any unsigned integer or enum member; the value must fit its width), BOOL, BIN (a
 * fixed-size array: the snapshot must hold exactly that many bytes), and UINT0: a UINT that is
 * left out while it is 0 and read as 0 when absent, for state added to a device later: the
 * device's map, and with it a checkpoint recorded before, stays the same byte for byte until the
 * guest makes the field non-zero, and older snapshots still load. (A signed field is saved as
 * its two's complement.) Loading never writes a field with a value that does not fit it, and
 * says which field of which device was wrong ("devices.serial.rx_len: 300 does not fit in 8
 * bits").
 */
#ifndef DEJAVM_PERSIST_H
#define DEJAVM_PERSIST_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Untrusted msgpack (a snapshot's state, a checkpoint's payload) is decoded by msgpack-c, which
 * allocates an array's or map's elements before it reads them: five hostile bytes would make it
 * ask for hundreds of GiB. persist_fits() says whether no container in data announces more
 * elements than the bytes left could hold (each takes one at least), so that decoding allocates
 * in proportion to the data; persist_unpack() is msgpack_unpack() after that check, and
 * returns MSGPACK_UNPACK_CONTINUE (the data ends inside an object) when it fails.
 */
bool persist_fits(const void *data, size_t len);
msgpack_unpack_return persist_unpack(const void *data, size_t len, size_t *off, msgpack_zone *zone,
				     msgpack_object *obj);

/* The first problem found while loading (later ones are consequences). */
struct persist_err {
	bool set;
	char msg[320];
};

/* A map being read, and the path of it for messages ("devices._disk0.vq[1]"). */
struct persist_in {
	const msgpack_object *map;
	char path[96];
	struct persist_err *err;
};

/* in for the map obj at path; false (with the error) when obj is not a map. */
bool persist_open(struct persist_in *in, const msgpack_object *obj, const char *path,
		  struct persist_err *err);
/* Records the first problem: "PATH.KEY: MESSAGE". Returns false. */
bool persist_fail(struct persist_in *in, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The value of key (NULL when absent: no error is recorded). */
const msgpack_object *persist_find(const struct persist_in *in, const char *key);
/* The nested map at key; false (error recorded) when absent or not a map. */
bool persist_sub(struct persist_in *in, const char *key, struct persist_in *sub);
/* Element i of the array at key, a map; the array must have exactly n elements. */
bool persist_elem(struct persist_in *in, const char *key, unsigned int i, unsigned int n,
		  struct persist_in *sub);
/* An unsigned integer <= max at key. */
bool persist_get_u64(struct persist_in *in, const char *key, uint64_t max, uint64_t *v);
/* A bin at key of at most max bytes: its bytes (valid while the object lives) and length. */
bool persist_get_bin(struct persist_in *in, const char *key, size_t max, const void **p,
		     size_t *len);

/* The X-macro kinds: the field at p has size bytes. */
bool persist_get_UINT(struct persist_in *in, const char *key, void *p, size_t size);
bool persist_get_BOOL(struct persist_in *in, const char *key, void *p, size_t size);
bool persist_get_BIN(struct persist_in *in, const char *key, void *p, size_t size);
bool persist_get_UINT0(struct persist_in *in, const char *key, void *p, size_t size);
void persist_put_UINT(msgpack_packer *pk, const char *key, const void *p, size_t size);
void persist_put_BOOL(msgpack_packer *pk, const char *key, const void *p, size_t size);
void persist_put_BIN(msgpack_packer *pk, const char *key, const void *p, size_t size);
void persist_put_UINT0(msgpack_packer *pk, const char *key, const void *p, size_t size);
/* Whether a field of that kind is in the map: always, but UINT0 only when it is not 0. */
bool persist_has_UINT0(const void *p, size_t size);
static inline bool persist_has_UINT(const void *p, size_t size)
{
	return p && size;
}
#define persist_has_BOOL persist_has_UINT
#define persist_has_BIN	 persist_has_UINT

/* Packing helpers for what the X-macros do not cover. */
void persist_key(msgpack_packer *pk, const char *key);
void persist_u64(msgpack_packer *pk, const char *key, uint64_t v);
void persist_bin(msgpack_packer *pk, const char *key, const void *p, size_t len);
/* key and a string value, or nil for NULL (an option not set). */
void persist_str(msgpack_packer *pk, const char *key, const char *val);

#define PERSIST_ALWAYS_UINT	   1
#define PERSIST_ALWAYS_BOOL	   1
#define PERSIST_ALWAYS_BIN	   1
#define PERSIST_COUNT_(kind, name) +PERSIST_ALWAYS_##kind /* (no UINT0: use PERSIST_SAVE) */
#define PERSIST_HAS_(kind, name)   +persist_has_##kind(&obj_->name, sizeof(obj_->name))
#define PERSIST_PUT_(kind, name)   persist_put_##kind(pk_, #name, &obj_->name, sizeof(obj_->name));
#define PERSIST_GET_(kind, name) \
	ok_ = ok_ && persist_get_##kind(in_, #name, &obj_->name, sizeof(obj_->name));

/*
 * How many fields FIELDS has: for a map that holds them and more keys. A list with a UINT0
 * field, whose presence depends on its value, does not compile here.
 */
#define PERSIST_NFIELDS(FIELDS) (0 FIELDS(PERSIST_COUNT_))
/* Packs obj's FIELDS into the map being built (its header is the caller's). */
#define PERSIST_PUT_FIELDS(pk, obj, FIELDS)   \
	do {                                  \
		msgpack_packer *pk_ = (pk);   \
		__typeof__(obj) obj_ = (obj); \
		FIELDS(PERSIST_PUT_)          \
	} while (0)
/* How many of obj's FIELDS a map of them holds (those of kind UINT0 only when not 0). */
#define PERSIST_NPRESENT(obj, FIELDS)                   \
	({                                              \
		__typeof__(obj) obj_ = (obj);           \
		(unsigned int)(0 FIELDS(PERSIST_HAS_)); \
	})
/* One map holding exactly obj's FIELDS (those of kind UINT0 only when not 0). */
#define PERSIST_SAVE(pk, obj, FIELDS)                                  \
	do {                                                           \
		msgpack_pack_map((pk), PERSIST_NPRESENT(obj, FIELDS)); \
		PERSIST_PUT_FIELDS(pk, obj, FIELDS);                   \
	} while (0)
/* Reads obj's FIELDS from in's map; false at the first one missing or out of range. */
#define PERSIST_LOAD(in, obj, FIELDS)          \
	({                                     \
		struct persist_in *in_ = (in); \
		__typeof__(obj) obj_ = (obj);  \
		bool ok_ = true;               \
		FIELDS(PERSIST_GET_)           \
		ok_;                           \
	})

#endif
