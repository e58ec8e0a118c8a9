/* h5_heap_check.c - checks the global heap collections that an
 * attribute's variable-length strings name, before HDF5 reads them
 * (rnnc__h5_heap_refs_check, called by io/h5_util.c's string attribute
 * readers). */
#define _POSIX_C_SOURCE 200809L

#include "io/h5_heap_check_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- global heap collections ----
 *
 * Variable-length strings (h5py's attributes: a legacy Keras file's
 * model_config, layer_names, weight_names) live in the file's global heap
 * collections ("GCOL"). An attribute holds, for each of its strings, the
 * string's length and a heap ID: the collection's address and the object's
 * index in it. HDF5 reaches a collection only through such IDs, and 1.10
 * trusts what it finds there:
 * - loading a collection it walks the objects, and loops forever where a
 *   damaged object header reads as free space of size 0
 *   (H5HG__cache_heap_deserialize does not advance): one flipped length byte
 *   of a real Keras 2 file made `rnnc predict` and `inspect` hang;
 * - it reads an object index past the collection's table, or copies an
 *   object longer than the string's length into a buffer of that length (a
 *   flipped byte of a heap ID crashed `rnnc inspect` with SIGSEGV).
 * So before an attribute's strings are read, each heap ID in it is followed
 * here, in the file's bytes as HDF5 reads them (HDF5's own descriptor of
 * the file, or an image's memory): the collection it names is walked as
 * HDF5 walks it and must hold the object, with the string's length. Only
 * the collections the strings name are read, as HDF5 reads only those:
 * bytes elsewhere that look like a collection (inside a weight's data) are
 * not one, and a large file is not read whole.
 *
 * The attribute message is found in its object's header (versions 1 and 2,
 * continuation chunks) or in dense attribute storage (the attribute info
 * message's fractal heap and name index, see dense_find). Where it cannot
 * be found (a header this reader does not follow), every run of bytes in
 * the file that reads "GCOL" 1 is walked instead, once per file version
 * (the older, coarser check: it can refuse a file whose data holds those
 * bytes, and reads the file whole). Addresses are relative to the
 * superblock (a user block may precede it); lengths and offsets are 8
 * bytes (as in every file rnnc reads). */

typedef struct heap_bytes {
    const unsigned char *mem; /* the file's bytes, or NULL: read from fd */
    int fd;
    uint64_t size;
} heap_bytes;

static bool heap_read(const heap_bytes *b, uint64_t off, void *dst, size_t n)
{
    if (off > b->size || n > b->size - off)
        return false;
    if (b->mem) {
        memcpy(dst, b->mem + off, n);
        return true;
    }
    unsigned char *d = dst;
    while (n > 0) {
        ssize_t r = pread(b->fd, d, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        d += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return true;
}

static uint64_t le_un(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t le_u64(const unsigned char *p) { return le_un(p, 8); }

/* A collection walked as HDF5 walks it: the size of each object by index. */
typedef struct gcol {
    uint64_t at;   /* its byte (absolute) */
    uint64_t *len; /* len[i]: object i's size; UINT64_MAX: no object i */
    size_t n;      /* entries in len */
} gcol;

static void gcol_free(gcol *g)
{
    free(g->len);
    g->len = NULL;
    g->n = 0;
}

/* Records object idx's size in g (HDF5 keeps the last of a repeated index). */
static bool gcol_note(gcol *g, unsigned idx, uint64_t size)
{
    if (idx >= g->n) {
        const size_t n = (size_t)idx + 1 > 2 * g->n ? (size_t)idx + 1 : 2 * g->n;
        uint64_t *l = realloc(g->len, n * sizeof *l);
        if (!l)
            return false;
        for (size_t i = g->n; i < n; i++)
            l[i] = UINT64_MAX;
        g->len = l;
        g->n = n;
    }
    g->len[idx] = size;
    return true;
}

enum { GCOL_NONE = 0, GCOL_OK = 1, GCOL_DAMAGED = -1, GCOL_NOMEM = -2 };

/* Reads and walks the collection at byte `at` as HDF5 loads it: GCOL_OK
 * (g filled; gcol_free it), GCOL_NONE (no "GCOL" 1 there), GCOL_DAMAGED
 * (*bad: the byte where HDF5 would go wrong) or GCOL_NOMEM. */
static int gcol_load(const heap_bytes *b, uint64_t at, gcol *g, uint64_t *bad)
{
    unsigned char h[16];
    *g = (gcol){at, NULL, 0};
    *bad = at;
    if (!heap_read(b, at, h, 16) || memcmp(h, "GCOL\001", 5) != 0)
        return GCOL_NONE;
    const uint64_t size = le_u64(h + 8);
    if (size < 16 || size > b->size - at || size > SIZE_MAX)
        return GCOL_DAMAGED;
    unsigned char *copy = NULL;
    const unsigned char *c = b->mem ? b->mem + at : NULL;
    if (!c) {
        if (!(copy = malloc((size_t)size)))
            return GCOL_NOMEM;
        if (!heap_read(b, at, copy, (size_t)size)) {
            free(copy);
            return GCOL_DAMAGED;
        }
        c = copy;
    }
    int rc = GCOL_OK;
    for (uint64_t p = 16; p < size && size - p >= 16;) { /* a tail too small for a header: free space */
        const unsigned idx = (unsigned)c[p] | (unsigned)c[p + 1] << 8;
        const uint64_t osize = le_u64(c + p + 8);
        /* HDF5: an object takes its header plus its size rounded up to 8;
         * free space (index 0) takes its size, header included */
        const uint64_t need = idx > 0 ? (osize > size ? UINT64_MAX : 16 + ((osize + 7) & ~(uint64_t)7)) : osize;
        if (need < 16 || need > size - p) {
            *bad = at + p;
            rc = GCOL_DAMAGED;
            break;
        }
        if (idx > 0 && !gcol_note(g, idx, osize)) {
            rc = GCOL_NOMEM;
            break;
        }
        p += need;
    }
    free(copy);
    if (rc != GCOL_OK)
        gcol_free(g);
    return rc;
}

static rnnc_status gcol_fail(int rc, const char *file, uint64_t at, uint64_t bad)
{
    if (rc == GCOL_NOMEM)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    return rnnc_fail(RNNC_E_FORMAT,
                     "'%s': damaged HDF5 file: the global heap collection at byte %llu (its variable-length strings) is inconsistent at byte %llu",
                     file, (unsigned long long)at, (unsigned long long)bad);
}

/* The coarse check, for strings whose heap IDs were not found: every run
 * of bytes that reads "GCOL" 1 walked as a collection. */
static rnnc_status heaps_scan(const heap_bytes *b, const char *file)
{
    static const unsigned char sig[5] = {'G', 'C', 'O', 'L', 1};
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = b->mem ? NULL : malloc(CHUNK + 4);
    if (!b->mem && !buf)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_status s = RNNC_OK;
    for (uint64_t base = 0; base < b->size && !s; base += CHUNK) {
        /* this chunk plus 4 bytes of the next, so a signature across the border is seen */
        const uint64_t left = b->size - base;
        const size_t n = left < (uint64_t)CHUNK + 4 ? (size_t)left : (size_t)CHUNK + 4;
        const size_t lim = n < (size_t)CHUNK ? n : (size_t)CHUNK;
        const unsigned char *c = b->mem ? b->mem + base : buf;
        if (!b->mem && !heap_read(b, base, buf, n)) {
            s = rnnc_fail(RNNC_E_IO, "'%s': cannot read the file's bytes (%s)", file, strerror(errno ? errno : EIO));
            break;
        }
        for (size_t i = 0; i < lim && !s; i++) {
            const unsigned char *at = memchr(c + i, 'G', lim - i);
            if (!at)
                break;
            i = (size_t)(at - c);
            gcol g;
            uint64_t bad;
            int rc = i + 5 <= n && memcmp(at, sig, 5) == 0 ? gcol_load(b, base + i, &g, &bad) : GCOL_NONE;
            if (rc == GCOL_OK)
                gcol_free(&g);
            else if (rc != GCOL_NONE)
                s = gcol_fail(rc, file, base + i, bad);
        }
    }
    free(buf);
    return s;
}

/* The files on disk scanned and found sound (device, inode, size and
 * modification time: a file rewritten since is scanned again). */
typedef struct heaps_file {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} heaps_file;

static heaps_file heaps_ok[32];
static unsigned heaps_ok_n;

static bool heaps_same(const heaps_file *a, const struct stat *st)
{
    return a->dev == st->st_dev && a->ino == st->st_ino && a->size == st->st_size &&
           a->mtime.tv_sec == st->st_mtim.tv_sec && a->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* heaps_scan, once per version of a file on disk (st: its status). */
static rnnc_status heaps_scan_once(const heap_bytes *b, const struct stat *st, const char *file)
{
    if (b->mem)
        return heaps_scan(b, file);
    for (unsigned i = 0; i < heaps_ok_n && i < 32; i++)
        if (heaps_same(&heaps_ok[i], st))
            return RNNC_OK;
    rnnc_status s = heaps_scan(b, file);
    if (!s)
        heaps_ok[heaps_ok_n++ % 32] = (heaps_file){st->st_dev, st->st_ino, st->st_size, st->st_mtim};
    return s;
}

/* obj's file's bytes as HDF5 reads them: the memory of an image (core
 * driver) or HDF5's own descriptor of a file on disk (sec2 driver, *st its
 * status); false for another driver (rnnc opens files with these two) and
 * for a file open for writing (its newest metadata may still sit in HDF5's
 * cache, and its strings are this process's own). */
static bool heap_bytes_of(hid_t obj, heap_bytes *b, struct stat *st)
{
    *b = (heap_bytes){NULL, -1, 0};
    memset(st, 0, sizeof *st);
    hid_t f = H5Iget_file_id(obj);
    if (f < 0)
        return false;
    unsigned intent = 0;
    if (H5Fget_intent(f, &intent) < 0 || (intent & H5F_ACC_RDWR)) {
        H5Fclose(f);
        return false;
    }
    hid_t fapl = H5Fget_access_plist(f);
    const hid_t drv = fapl >= 0 ? H5Pget_driver(fapl) : -1;
    void *h = NULL;
    hsize_t size = 0;
    if (drv == H5FD_CORE) {
        /* the core driver's handle is its buffer's address */
        if (H5Fget_vfd_handle(f, H5P_DEFAULT, &h) >= 0 && h && *(unsigned char **)h &&
            H5Fget_filesize(f, &size) >= 0 && size > 0) {
            b->mem = *(const unsigned char **)h;
            b->size = size;
        }
    } else if (drv == H5FD_SEC2) {
        /* the sec2 driver's handle is its file descriptor's address */
        if (H5Fget_vfd_handle(f, H5P_DEFAULT, &h) >= 0 && h && fstat(*(int *)h, st) == 0 && S_ISREG(st->st_mode)) {
            b->fd = *(int *)h;
            b->size = (uint64_t)st->st_size;
        }
    }
    if (fapl >= 0)
        H5Pclose(fapl);
    H5Fclose(f);
    return b->mem || b->fd >= 0;
}

/* ---- finding an attribute's raw data ---- */

#define HDR_MAX_CHUNKS 4096

typedef struct attr_find {
    const heap_bytes *b;
    uint64_t base;     /* the superblock's byte */
    const char *name;  /* the attribute's */
    uint64_t data;     /* out: its message's data (absolute), 0 when not found */
    uint64_t data_end; /* out: the end of its message */
    uint64_t ainfo;    /* out: the attribute info message's byte (absolute), 0 when none */
    uint64_t ainfo_end;
} attr_find;

/* The attribute message (type 0x0C) at byte m, `size` bytes: when its name
 * is f->name, where its raw data starts. A shared datatype or dataspace is
 * encoded in the message with its size given: the data follows it alike. */
static void attr_message(attr_find *f, uint64_t m, uint64_t size)
{
    unsigned char h[9];
    if (size < 9 || !heap_read(f->b, m, h, 9))
        return;
    const unsigned ver = h[0];
    const uint64_t nsz = le_un(h + 2, 2), dsz = le_un(h + 4, 2), ssz = le_un(h + 6, 2);
    if (ver < 1 || ver > 3)
        return;
    const size_t want = strlen(f->name) + 1;
    if (nsz != want)
        return;
    const uint64_t name_at = m + (ver <= 2 ? 8 : 9);
    char *nm = malloc(want);
    bool same = nm && heap_read(f->b, name_at, nm, want) && memcmp(nm, f->name, want) == 0;
    free(nm);
    if (!same)
        return;
    uint64_t data = ver == 1 ? name_at + ((nsz + 7) & ~7ull) + ((dsz + 7) & ~7ull) + ((ssz + 7) & ~7ull)
                             : name_at + nsz + dsz + ssz;
    if (data <= m + size) {
        f->data = data;
        f->data_end = m + size;
    }
}

/* Walks the messages of one header chunk [at, end); v2: 1-byte types and
 * optional creation orders. Continuations are followed (up to a limit). */
static void header_chunk(attr_find *f, uint64_t at, uint64_t end, int ver, bool orders, int *chunks)
{
    if (++*chunks > HDR_MAX_CHUNKS || end > f->b->size)
        return;
    const uint64_t hsz = ver == 1 ? 8 : orders ? 6 : 4;
    for (uint64_t p = at; p + hsz <= end && !f->data;) {
        unsigned char h[8];
        if (!heap_read(f->b, p, h, (size_t)hsz))
            return;
        const unsigned type = ver == 1 ? (unsigned)le_un(h, 2) : h[0];
        const uint64_t size = ver == 1 ? le_un(h + 2, 2) : le_un(h + 1, 2);
        const uint64_t m = p + hsz;
        if (size > end - m)
            return;
        if (type == 0x0C) {
            attr_message(f, m, size);
        } else if (type == 0x15 && !f->ainfo) {
            f->ainfo = m;
            f->ainfo_end = m + size;
        } else if (type == 0x10 && size >= 16) {
            unsigned char c[16];
            if (heap_read(f->b, m, c, 16)) {
                const uint64_t off = le_un(c, 8), len = le_un(c + 8, 8);
                if (off <= f->b->size - f->base && len <= f->b->size - f->base - off) {
                    const uint64_t a = f->base + off;
                    if (ver == 1)
                        header_chunk(f, a, a + len, 1, orders, chunks);
                    else if (len >= 8) /* "OCHK", messages, checksum */
                        header_chunk(f, a + 4, a + len - 4, 2, orders, chunks);
                }
            }
        }
        p = m + size;
        if (ver == 1)
            p = at + ((p - at + 7) & ~7ull);
    }
}

/* The object header at `addr` (relative): the attribute's data, if there. */
static void header_find(attr_find *f, uint64_t addr)
{
    int chunks = 0;
    unsigned char h[16];
    const uint64_t a = f->base + addr;
    if (addr > f->b->size || !heap_read(f->b, a, h, 16))
        return;
    if (h[0] == 1) {
        header_chunk(f, a + 16, a + 16 + le_un(h + 8, 4), 1, false, &chunks);
        return;
    }
    if (memcmp(h, "OHDR", 4) != 0 || h[4] != 2)
        return;
    const unsigned flags = h[5];
    uint64_t p = a + 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
    const int nb = 1 << (flags & 3);
    unsigned char sz[8];
    if (!heap_read(f->b, p, sz, (size_t)nb))
        return;
    const uint64_t len = le_un(sz, nb);
    if (len <= f->b->size && p + nb + len <= f->b->size)
        header_chunk(f, p + nb, p + nb + len, 2, (flags & 0x04) != 0, &chunks);
}

/* Where the superblock (and so address 0) is: byte 0, 512, 1024, ...;
 * false also when its offsets or lengths are not 8 bytes (what is parsed
 * here assumes 8). */
static bool superblock_at(const heap_bytes *b, uint64_t *base)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char h[16];
    for (uint64_t off = 0; off + 16 <= b->size; off = off ? off * 2 : 512)
        if (heap_read(b, off, h, 16) && memcmp(h, sig, 8) == 0) {
            /* version 0/1: sizes at bytes 13, 14; version 2/3: at 9, 10 */
            const unsigned at = h[8] <= 1 ? 13 : 9;
            *base = off;
            return h[8] <= 3 && h[at] == 8 && h[at + 1] == 8;
        }
    return false;
}

/* ---- dense attribute storage ----
 *
 * An object with many or large attributes (HDF5 1.8+ headers) keeps them
 * in dense storage: its attribute info message (type 0x15) names a fractal
 * heap, whose managed objects are the attribute messages, and a v2 B-tree
 * (type 8) whose records hold each attribute's heap ID. The B-tree's
 * records are visited (every node, up to limits), each heap ID is located
 * in the heap's direct blocks (from the root block through indirect
 * blocks) and the message read as one in a header. Not followed: heaps
 * with I/O filters, huge objects (a message over the heap's managed size:
 * 4 KiB in HDF5's attribute heaps, ~250 strings) and shared messages; the
 * caller falls back to the coarse check there. */

/* Limits against a crafted file's loops and sizes (HDF5's attribute heaps
 * have 4 columns and at most a few hundred blocks; its name index nodes are
 * 512 bytes). */
#define DENSE_MAX_BLOCKS 16384
#define DENSE_MAX_ENTRIES (1 << 18)
#define DENSE_MAX_NODES 16384
#define DENSE_MAX_NODE_SIZE (1u << 16)

typedef struct dense_heap {
    const heap_bytes *b;
    uint64_t base;
    unsigned width, off_size, len_size, dblock_rows, first_row_bits;
    unsigned start_bits;
    uint64_t start, max_direct;
    /* the direct blocks: address (absolute), heap offset, size */
    uint64_t (*blk)[3];
    size_t nblk, cap;
    int nodes;      /* B-tree nodes visited */
    long entries;   /* indirect block entries read */
} dense_heap;

/* log2 of a power of two; -1 otherwise. */
static int log2_exact(uint64_t v)
{
    if (!v || (v & (v - 1)))
        return -1;
    int n = 0;
    while (v >>= 1)
        n++;
    return n;
}

/* HDF5's encoded size of a count up to v: (floor(log2 v) / 8) + 1 bytes. */
static unsigned enc_size(uint64_t v)
{
    unsigned bits = 0;
    while (v >>= 1)
        bits++;
    return bits / 8 + 1;
}

/* The size of the blocks of row r of the doubling table. */
static uint64_t row_size(const dense_heap *h, unsigned r)
{
    return r == 0 ? h->start : h->start << (r - 1);
}

static bool dense_add_block(dense_heap *h, uint64_t addr, uint64_t size)
{
    unsigned char d[5 + 8 + 8];
    const uint64_t a = h->base + addr;
    if (size > h->b->size || addr > h->b->size - h->base || size > h->b->size - a ||
        !heap_read(h->b, a, d, 5 + 8 + h->off_size) || memcmp(d, "FHDB", 4) != 0 || d[4] != 0)
        return false;
    if (h->nblk == h->cap) {
        size_t nc = h->cap ? 2 * h->cap : 16;
        void *p = nc > DENSE_MAX_BLOCKS ? NULL : realloc(h->blk, nc * sizeof *h->blk);
        if (!p)
            return false;
        h->blk = p;
        h->cap = nc;
    }
    h->blk[h->nblk][0] = a;
    h->blk[h->nblk][1] = le_un(d + 13, (int)h->off_size);
    h->blk[h->nblk][2] = size;
    h->nblk++;
    return true;
}

/* The direct blocks below the indirect block at addr (relative) of nrows rows. */
static bool dense_iblock(dense_heap *h, uint64_t addr, unsigned nrows, int depth)
{
    if (depth > 16 || nrows == 0 || nrows > 64 || addr > h->b->size - h->base)
        return false;
    const uint64_t a = h->base + addr;
    unsigned char s[5];
    if (!heap_read(h->b, a, s, 5) || memcmp(s, "FHIB", 4) != 0 || s[4] != 0)
        return false;
    uint64_t p = a + 5 + 8 + h->off_size;
    for (unsigned r = 0; r < nrows; r++)
        for (unsigned c = 0; c < h->width; c++, p += 8) {
            unsigned char e[8];
            if (++h->entries > DENSE_MAX_ENTRIES || !heap_read(h->b, p, e, 8))
                return false;
            const uint64_t child = le_u64(e);
            if (child == UINT64_MAX) /* not allocated yet */
                continue;
            if (r < h->dblock_rows) {
                if (!dense_add_block(h, child, row_size(h, r)))
                    return false;
            } else {
                const int bits = log2_exact(row_size(h, r));
                if (bits < 0 || (unsigned)bits + 1 <= h->first_row_bits ||
                    !dense_iblock(h, child, (unsigned)bits - h->first_row_bits + 1, depth + 1))
                    return false;
            }
        }
    return true;
}

static int blk_cmp(const void *a, const void *b)
{
    const uint64_t x = ((const uint64_t *)a)[1], y = ((const uint64_t *)b)[1];
    return x < y ? -1 : x > y;
}

/* The attribute message that heap ID id (len bytes) names: its byte and
 * size. h->blk is sorted by heap offset. */
static bool dense_object(const dense_heap *h, const unsigned char *id, size_t len, uint64_t *at, uint64_t *size)
{
    if (len < 1 + (size_t)h->off_size + h->len_size || (id[0] & 0xF0) != 0) /* version 0, managed */
        return false;
    const uint64_t off = le_un(id + 1, (int)h->off_size), n = le_un(id + 1 + h->off_size, (int)h->len_size);
    size_t lo = 0, hi = h->nblk; /* the last block starting at or before off */
    while (hi - lo > 1) {
        const size_t mid = lo + (hi - lo) / 2;
        if (h->blk[mid][1] <= off)
            lo = mid;
        else
            hi = mid;
    }
    if (!h->nblk || h->blk[lo][1] > off)
        return false;
    const uint64_t bo = h->blk[lo][1], bs = h->blk[lo][2];
    if (off - bo >= bs || n > bs - (off - bo))
        return false;
    *at = h->blk[lo][0] + (off - bo);
    *size = n;
    return true;
}

/* Visits the B-tree node at addr (relative) holding nrec records, at depth
 * `depth` (0: a leaf); stops when the attribute is found. */
static void dense_node(dense_heap *h, attr_find *f, uint64_t addr, uint64_t nrec, unsigned depth,
                       uint32_t node_size, unsigned rec_size, const unsigned *ptr_extra)
{
    if (f->data || ++h->nodes > DENSE_MAX_NODES || addr > h->b->size - h->base)
        return;
    unsigned char *n = malloc(node_size);
    const uint64_t a = h->base + addr;
    if (!n || !heap_read(h->b, a, n, node_size) || memcmp(n, depth ? "BTIN" : "BTLF", 4) != 0 || n[4] != 0 ||
        n[5] != 8 || nrec > (node_size - 10) / rec_size) {
        free(n);
        return;
    }
    for (uint64_t i = 0; i < nrec && !f->data; i++) {
        const unsigned char *r = n + 6 + i * rec_size;
        uint64_t at, size;
        /* heap ID (8), message flags (1; 0x02: shared), creation order, name hash */
        if (!(r[8] & 0x02) && dense_object(h, r, 8, &at, &size))
            attr_message(f, at, size);
    }
    if (depth > 0) {
        /* child pointers: address, records in the child, and (above depth 1)
         * records below the child */
        const unsigned nb = ptr_extra[0], tb = depth > 1 ? ptr_extra[depth - 1] : 0;
        uint64_t p = 6 + nrec * rec_size;
        for (uint64_t c = 0; c <= nrec && !f->data && p + 8 + nb + tb <= node_size - 4; c++, p += 8 + nb + tb)
            dense_node(h, f, le_u64(n + p), le_un(n + p + 8, (int)nb), depth - 1, node_size, rec_size, ptr_extra);
    }
    free(n);
}

/* The attribute f->name in dense storage (f->ainfo: the attribute info message). */
static void dense_find(attr_find *f)
{
    unsigned char m[2 + 2 + 8 + 8];
    if (f->ainfo_end - f->ainfo < 2 + 16 || !heap_read(f->b, f->ainfo, m, sizeof m) || m[0] != 0)
        return;
    const unsigned char *p = m + 2 + ((m[1] & 1) ? 2 : 0);
    if (p + 16 > m + sizeof m)
        return;
    const uint64_t heap = le_u64(p), tree = le_u64(p + 8);
    unsigned char hh[142], th[34];
    if (heap > f->b->size - f->base || tree > f->b->size - f->base || !heap_read(f->b, f->base + heap, hh, sizeof hh) ||
        !heap_read(f->b, f->base + tree, th, sizeof th) || memcmp(hh, "FRHP", 4) != 0 || hh[4] != 0 ||
        memcmp(th, "BTHD", 4) != 0 || th[4] != 0 || th[5] != 8)
        return;
    dense_heap h = {.b = f->b, .base = f->base};
    const unsigned id_len = (unsigned)le_un(hh + 5, 2), filters = (unsigned)le_un(hh + 7, 2);
    const uint64_t max_man = le_un(hh + 10, 4);
    h.width = (unsigned)le_un(hh + 110, 2);
    h.start = le_u64(hh + 112);
    h.max_direct = le_u64(hh + 120);
    const unsigned max_heap_bits = (unsigned)le_un(hh + 128, 2);
    const uint64_t root = le_u64(hh + 132);
    const unsigned root_rows = (unsigned)le_un(hh + 140, 2);
    const int wb = log2_exact(h.width), sb = log2_exact(h.start), db = log2_exact(h.max_direct);
    if (filters || id_len < 8 || wb < 0 || sb < 0 || db < sb || max_heap_bits == 0 || max_heap_bits > 64 ||
        root == UINT64_MAX)
        return;
    h.off_size = (max_heap_bits + 7) / 8;
    h.len_size = enc_size(h.max_direct) < enc_size(max_man) ? enc_size(h.max_direct) : enc_size(max_man);
    h.dblock_rows = (unsigned)(db - sb) + 2;
    h.first_row_bits = (unsigned)(sb + wb);
    h.start_bits = (unsigned)sb;
    if (!(root_rows == 0 ? dense_add_block(&h, root, h.start) : dense_iblock(&h, root, root_rows, 0))) {
        free(h.blk);
        return;
    }
    /* the B-tree: node size, record size, depth, root, records in the root */
    const uint32_t node_size = (uint32_t)le_un(th + 6, 4);
    const unsigned rec_size = (unsigned)le_un(th + 10, 2), depth = (unsigned)le_un(th + 12, 2);
    const uint64_t troot = le_u64(th + 16), nrec = le_un(th + 24, 2);
    if (node_size < 64 || node_size > DENSE_MAX_NODE_SIZE || rec_size < 17 || depth > 8) {
        free(h.blk);
        return;
    }
    /* pointer field sizes as HDF5 computes them (H5B2__hdr_init): [0] the
     * records-in-child field; [d] the records-below field of depth d */
    unsigned extra[9] = {0};
    uint64_t cum = (node_size - 10) / rec_size;
    extra[0] = enc_size(cum);
    for (unsigned d = 1; d <= depth; d++) {
        const unsigned ptr = 8 + extra[0] + (d > 1 ? extra[d - 1] : 0);
        if (node_size < 10 + ptr + rec_size + ptr)
            break;
        const uint64_t max = (node_size - (10 + ptr)) / (rec_size + ptr);
        cum = (max + 1) * cum + max;
        extra[d] = enc_size(cum);
    }
    if (h.nblk > 1)
        qsort(h.blk, h.nblk, sizeof *h.blk, blk_cmp);
    if (troot != UINT64_MAX)
        dense_node(&h, f, troot, nrec, depth, node_size, rec_size, extra);
    free(h.blk);
}

/* ---- checking an attribute's strings ---- */

/* Collections loaded for one attribute (a string array names a few). */
#define GCOL_CACHE 8

rnnc_status rnnc__h5_heap_refs_check(hid_t attr_obj, const char *name, hssize_t count, const char *file)
{
    H5O_info_t info;
    struct stat st;
    heap_bytes b;
    if (!heap_bytes_of(attr_obj, &b, &st))
        return RNNC_OK;
    attr_find af = {&b, 0, name, 0, 0, 0, 0};
    if (H5Oget_info2(attr_obj, &info, H5O_INFO_BASIC) >= 0 && superblock_at(&b, &af.base)) {
        header_find(&af, info.addr);
        if (!af.data && af.ainfo)
            dense_find(&af);
    }
    if (!af.data || count < 0 || (uint64_t)count > (af.data_end - af.data) / 16)
        return heaps_scan_once(&b, &st, file);
    rnnc_status s = RNNC_OK;
    gcol cols[GCOL_CACHE] = {{0}};
    unsigned ncols = 0;
    for (hssize_t i = 0; i < count && !s; i++) {
        unsigned char e[16];
        if (!heap_read(&b, af.data + 16 * (uint64_t)i, e, 16)) {
            s = heaps_scan_once(&b, &st, file);
            break;
        }
        const uint64_t slen = le_un(e, 4), addr = le_un(e + 4, 8), idx = le_un(e + 12, 4);
        if (slen == 0) /* an empty string: HDF5 reads no collection */
            continue;
        const uint64_t at = addr <= b.size - af.base ? af.base + addr : UINT64_MAX;
        const gcol *g = NULL;
        for (unsigned k = 0; k < ncols && k < GCOL_CACHE && !g && at != UINT64_MAX; k++)
            if (cols[k].at == at)
                g = &cols[k];
        if (!g && at != UINT64_MAX) {
            gcol *slot = &cols[ncols++ % GCOL_CACHE];
            gcol_free(slot);
            uint64_t bad;
            const int rc = gcol_load(&b, at, slot, &bad);
            if (rc == GCOL_OK)
                g = slot;
            else if (rc != GCOL_NONE)
                s = gcol_fail(rc, file, at, bad);
            else
                slot->at = UINT64_MAX; /* no collection: not kept */
        }
        const char *why = !g ? "is no collection"
                          : idx >= g->n || g->len[idx] == UINT64_MAX ? "does not hold it"
                          : g->len[idx] != slen                      ? "holds it with another length"
                                                                     : NULL;
        if (!s && why)
            s = rnnc_fail(RNNC_E_FORMAT,
                          "'%s': damaged HDF5 file: string %lld of attribute '%s' refers to object %llu (%llu bytes) of a global heap collection at byte %llu, which %s",
                          file, (long long)i, name, (unsigned long long)idx, (unsigned long long)slen,
                          (unsigned long long)(af.base + addr), why);
    }
    for (unsigned k = 0; k < GCOL_CACHE; k++)
        gcol_free(&cols[k]);
    return s;
}
