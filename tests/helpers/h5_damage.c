/* h5_damage.c - global heap object sizes in an HDF5 file image (h5_damage.h). */
#include "helpers/h5_damage.h"

#include <stdint.h>
#include <string.h>

static uint64_t le(const unsigned char *p, int k)
{
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

size_t rnnc_test_gheap_size_bytes(const unsigned char *bytes, size_t n, size_t *offs, size_t cap)
{
    size_t got = 0;
    for (size_t g = 0; g + 16 <= n; g++) {
        if (memcmp(bytes + g, "GCOL", 4) != 0)
            continue;
        /* Collection: "GCOL", version, 3 reserved, size (8); then objects:
         * index (2), references (2), reserved (4), size (8), data padded to 8.
         * Index 0 is the free space at the end. */
        uint64_t size = le(bytes + g + 8, 8);
        size_t end = size <= n - g ? g + (size_t)size : n;
        for (size_t o = g + 16; o + 16 <= end;) {
            uint64_t idx = le(bytes + o, 2), sz = le(bytes + o + 8, 8);
            if (idx == 0 || sz > end - o)
                break;
            for (int k = 1; k < 8 && got < cap; k++)
                offs[got++] = o + 8 + (size_t)k;
            o += 16 + (size_t)((sz + 7) / 8 * 8);
        }
    }
    return got;
}

uint64_t rnnc_test_le64(const unsigned char *p) { return le(p, 8); }

void rnnc_test_put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
