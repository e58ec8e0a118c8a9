/* h5_damage.h - where to damage an HDF5 file's global heap: the offsets of
 * the bytes that hold the sizes of its objects (variable-length strings and
 * the like live there). A flipped size byte made HDF5 1.10 crash or hang
 * when the object was read, so readers of rnnc's own files must not read
 * them.
 *
 * Linked into every test executable (tests/helpers/ is globbed). */
#ifndef RNNC_TEST_H5_DAMAGE_H
#define RNNC_TEST_H5_DAMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Offsets (into bytes[0..n)) of the size field's high bytes (1..7 of 8;
 * byte 0 changes sizes by less than 256) of every object in every global
 * heap collection ("GCOL"), at most cap of them; returns how many. */
size_t rnnc_test_gheap_size_bytes(const unsigned char *bytes, size_t n, size_t *offs, size_t cap);

/* A little-endian 8-byte field (HDF5's lengths and addresses), read / written. */
uint64_t rnnc_test_le64(const unsigned char *p);
void rnnc_test_put_le64(unsigned char *p, uint64_t v);

#endif
