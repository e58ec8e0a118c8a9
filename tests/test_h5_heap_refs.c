/* test_h5_heap_refs.c - the global heap collections rnnc checks before
 * HDF5 reads a variable-length string are the ones the string's heap ID
 * names, as HDF5 reaches them, not every byte run of the file that looks
 * like one. A valid file whose weights hold "GCOL" 01 (a collection's
 * signature and version) followed by bytes that are no collection loads and
 * predicts as Keras does (the old whole-file scan refused it as "damaged"),
 * a .keras archive of such weights too, and a large file is not read whole
 * to read one string. A damaged collection that a string does name is still
 * refused, from a file on disk and from an in-memory image. Strings
 * whose attributes sit in dense attribute storage (HDF5 1.8+: an object
 * with many or large attributes keeps them in a fractal heap indexed by a
 * v2 B-tree, not in its header) are followed alike.
 *
 * Oracles: Keras 3.15.1's own predictions (tests/gen_h5_heap_fixtures.py
 * wrote tests/fixtures/h5_heap/: the model files and gcol_weights_io.h5's
 * x and y); the fixtures' bytes, searched here; the kernel's rchar count of
 * bytes read (/proc/self/io); for dense storage, files made here with the
 * HDF5 C API (the values written). */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/model.h"
#include "framework/status.h"
#include "helpers/fixture.h"
#include "helpers/h5_damage.h"
#include "helpers/run_program.h"
#include "io/h5_util.h"
#include "io/model_loader.h"

#define HH RNNC_FIXTURES "/h5_heap"
#define LEGACY HH "/gcol_weights_legacy.h5"
#define ARCHIVE HH "/gcol_weights.keras"
#define IO HH "/gcol_weights_io.h5"
/* attributes in the dense storage test */
#define NATTR 200

/* What the generator put at the start of the Dense kernel's data. */
static const unsigned char SIG[16] = {'G', 'C', 'O', 'L', 1, 0, 0x80, 0x3f, 0, 0, 0, 0x3f, 0, 0, 0x80, 0x3e};

static char dir[256];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/rnnc_h5_heap_refs_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) { rnnc_test_rm_tree(dir); }

TestSuite(h5_heap_refs, .init = make_dir, .fini = remove_dir, .timeout = 120);


/* How many times SIG occurs in the file's bytes. */
static int count_sig(const unsigned char *d, size_t len)
{
    int n = 0;
    for (size_t i = 0; i + sizeof SIG <= len; i++)
        n += memcmp(d + i, SIG, sizeof SIG) == 0;
    return n;
}

static const char *write_copy(const char *name, const unsigned char *d, size_t len)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f && fwrite(d, 1, len, f) == len && fclose(f) == 0, "cannot write %s", path);
    return path;
}

static rnnc_tensor *read_io(const char *name)
{
    rnnc_fixture *f = NULL;
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_open(IO, &f), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_read(f, name, RNNC_F32, &t), RNNC_OK, "%s", rnnc_last_error());
    rnnc_fixture_close(f);
    return t;
}

/* Checks that the model file still holds SIG once (`where`), loads it
 * through rnnc's loader and compares its predictions on the io file's x
 * with Keras's y (|d| <= 1e-5 + 1e-5 |y|: the Dense kernel's 54332700.0
 * makes outputs of ~1e7). */
static void expect_predicts_as_keras(const char *path, const char *where)
{
    size_t len;
    unsigned char *d = (unsigned char *)rnnc_test_slurp(path, &len);
    cr_assert(d, "cannot read %s", path);
    cr_assert_eq(count_sig(d, len), 1, "%s no longer holds the signature", where);
    free(d);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(path, &m), RNNC_OK, "a valid file was refused: %s", rnnc_last_error());
    rnnc_tensor *x = read_io("x"), *y = read_io("y");
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_ctx_set_grad_enabled(cx, false);
    rnnc_call_args a = {.n_inputs = 1, .inputs = {x}, .mask = NULL, .training = false};
    rnnc_call_result r;
    cr_assert_eq(rnnc_model_call(m, cx, &a, &r), RNNC_OK, "predict: %s", rnnc_last_error());
    const rnnc_tensor *got = r.outputs[0];
    cr_assert(rnnc_shape_eq(&got->shape, &y->shape), "output shape differs from Keras's");
    for (size_t i = 0; i < y->numel; i++) {
        const double g = rnnc_tensor_get(got, i), w = rnnc_tensor_get(y, i);
        cr_expect(fabs(g - w) <= 1e-5 + 1e-5 * fabs(w), "%s: output %zu is %.9g, Keras says %.9g", path, i, g, w);
    }
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_model_destroy(m);
}

Test(h5_heap_refs, legacy_file_with_a_collection_signature_in_its_weights_loads)
{
    expect_predicts_as_keras(LEGACY, "the fixture's Dense kernel");
}

/* The archive's model.weights.h5 is opened as an image (the old code
 * scanned the whole image at open and refused it). */
Test(h5_heap_refs, keras_archive_with_a_collection_signature_in_its_weights_loads)
{
    expect_predicts_as_keras(ARCHIVE, "the archive (stored members)");
}

/* The program: inspect and predict of both files succeed. */
Test(h5_heap_refs, program_reads_both_files)
{
    static const char *const files[] = {LEGACY, ARCHIVE};
    for (int k = 0; k < 2; k++) {
        rnnc_test_run r = rnnc_test_run_program("/usr/bin/timeout", dir, NULL,
                                                (const char *const[]){"60", RNNC_BUILD_DIR "/rnnc", "inspect", files[k], NULL});
        cr_expect_eq(r.code, 0, "inspect %s: exit %d: %s", files[k], r.code, r.err);
        rnnc_test_run_free(&r);
        r = rnnc_test_run_program("/usr/bin/timeout", dir, NULL,
                                  (const char *const[]){"60", RNNC_BUILD_DIR "/rnnc", "predict", "--model", files[k],
                                                        "--input", IO, "--output", "out.h5", NULL});
        cr_expect_eq(r.code, 0, "predict %s: exit %d: %s", files[k], r.code, r.err);
        rnnc_test_run_free(&r);
    }
}

/* The first collection of the file's bytes whose size fits in the file
 * (the signature in gcol_weights' kernel declares ~4.5e18 bytes): its byte
 * into *col, and the byte of the header of its object `want` (an index;
 * 0: the free space). */
static size_t collection_object(const unsigned char *d, size_t len, unsigned want, size_t *col)
{
    for (size_t at = 0; at + 16 <= len; at++) {
        if (memcmp(d + at, "GCOL\001", 5) != 0 || rnnc_test_le64(d + at + 8) > len - at)
            continue;
        const uint64_t end = at + rnnc_test_le64(d + at + 8);
        for (size_t p = at + 16; p + 16 <= end;) {
            const unsigned idx = d[p] | d[p + 1] << 8;
            const uint64_t size = rnnc_test_le64(d + p + 8);
            if (idx == want) {
                *col = at;
                return p;
            }
            p += idx ? 16 + ((size + 7) & ~(uint64_t)7) : size;
        }
    }
    cr_assert_fail("no object %u in a collection", want);
    return 0;
}

/* model_config of an image of `d`, through h5_util; the status. */
static rnnc_status image_model_config(const unsigned char *d, size_t len, char **out)
{
    hid_t f = -1;
    *out = NULL;
    rnnc_status s = rnnc_h5_open_image(d, len, "image.h5", &f);
    if (s == RNNC_OK) {
        bool found = false;
        s = rnnc_h5_attr_string(f, "model_config", "image.h5", &found, out);
        cr_expect(s != RNNC_OK || found);
        rnnc_h5_close(f);
    }
    return s;
}

/* The same strings from an image: read (old code: refused at open), and,
 * with the referenced collection's free space of size 0 (HDF5 1.10 hangs
 * loading it), refused in one line before HDF5 reads them. */
Test(h5_heap_refs, image_strings_are_checked_through_their_references)
{
    size_t len;
    unsigned char *d = (unsigned char *)rnnc_test_slurp(LEGACY, &len);
    cr_assert(d);
    char *cfg = NULL;
    cr_assert_eq(image_model_config(d, len, &cfg), RNNC_OK, "a valid image was refused: %s", rnnc_last_error());
    cr_expect(cfg && strstr(cfg, "\"class_name\": \"Sequential\""), "model_config: %s", cfg ? cfg : "(null)");
    free(cfg);

    size_t at;
    memset(d + collection_object(d, len, 0, &at) + 8, 0, 8);
    cr_expect_neq(image_model_config(d, len, &cfg), RNNC_OK, "a damaged collection was read");
    cr_expect_null(cfg);
    free(cfg);
    char want[64];
    snprintf(want, sizeof want, "collection at byte %zu", at);
    const char *msg = rnnc_last_error();
    cr_expect(strstr(msg, "image.h5") && strstr(msg, "damaged HDF5 file") && strstr(msg, want) && !strchr(msg, '\n'),
              "message: %s", msg);
    free(d);
}

/* The same damage on disk, through the loader. */
Test(h5_heap_refs, damaged_referenced_collection_is_refused)
{
    size_t len, at;
    unsigned char *d = (unsigned char *)rnnc_test_slurp(LEGACY, &len);
    cr_assert(d);
    memset(d + collection_object(d, len, 0, &at) + 8, 0, 8);
    const char *path = write_copy("free0.h5", d, len);
    free(d);
    rnnc_model *m = NULL;
    cr_expect_neq(rnnc_model_load(path, &m), RNNC_OK, "a damaged collection loaded");
    cr_expect_null(m);
    const char *msg = rnnc_last_error();
    cr_expect(strstr(msg, path) && strstr(msg, "damaged HDF5 file") && strstr(msg, "global heap") && !strchr(msg, '\n'),
              "message: %s", msg);
    rnnc_model_destroy(m);
}

/* This process's bytes read so far (the kernel's count, /proc/self/io). */
static long long bytes_read(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    long long v = -1;
    if (f) {
        if (fscanf(f, "rchar: %lld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* A 16 MiB file (a dataset of zeros) with one variable-length string
 * attribute: reading the string reads far less than the file. */
Test(h5_heap_refs, one_string_of_a_large_file_does_not_read_it_whole)
{
    if (bytes_read() < 0)
        cr_skip_test("no /proc/self/io here");
    char path[600];
    snprintf(path, sizeof path, "%s/big.h5", dir);
    enum { BIG = 16 << 20 };
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(f >= 0);
    hsize_t n = BIG;
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t ds = H5Dcreate2(f, "big", H5T_NATIVE_UCHAR, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    unsigned char *zeros = calloc(1, BIG);
    cr_assert(ds >= 0 && zeros && H5Dwrite(ds, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros) >= 0);
    free(zeros);
    H5Dclose(ds);
    H5Sclose(sp);
    cr_assert_eq(rnnc_h5_attr_write_string(f, "note", "a string in the global heap", path), RNNC_OK, "%s",
                 rnnc_last_error());
    cr_assert(H5Fclose(f) >= 0);

    const long long before = bytes_read();
    hid_t r = -1;
    char *v = NULL;
    cr_assert_eq(rnnc_h5_open_read(path, &r), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_h5_attr_string(r, "note", path, NULL, &v), RNNC_OK, "%s", rnnc_last_error());
    rnnc_h5_close(r);
    const long long used = bytes_read() - before;
    cr_expect_str_eq(v, "a string in the global heap");
    free(v);
    cr_expect_lt(used, 1 << 20, "reading one string of a %d-byte file read %lld bytes", BIG, used);
}

/* ---- dense attribute storage ----
 *
 * Dense storage is forced with H5Pset_attr_phase_change(0, 0) under the
 * 1.10 format; 200 attributes make the name index a B-tree of more than one
 * node and the heap more than one direct block. The file also holds a
 * dataset whose bytes are "GCOL" 1 and then no collection: a reader that
 * cannot find the heap IDs in dense storage (and so walks every such run of
 * bytes, the coarse fallback, as the old code always did) refuses it. */

/* dir/dense.h5: group /g with NATTR scalar string attributes a<i> = "value
 * <i> ..." and the array attribute names = {"dense", "storage", "", "x"},
 * all in dense storage; dataset /w of bytes "GCOL" 1 and 0xff. */
static const char *make_file(void)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/dense.h5", dir);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), gcpl = H5Pcreate(H5P_GROUP_CREATE);
    cr_assert(H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) >= 0);
    cr_assert(H5Pset_attr_phase_change(gcpl, 0, 0) >= 0);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    cr_assert(f >= 0);
    hid_t g = H5Gcreate2(f, "g", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    cr_assert(g >= 0);
    for (int i = 0; i < NATTR; i++) {
        char name[32], value[64];
        snprintf(name, sizeof name, "a%d", i);
        snprintf(value, sizeof value, "value %d of a dense attribute", i);
        cr_assert_eq(rnnc_h5_attr_write_string(g, name, value, path), RNNC_OK, "%s", rnnc_last_error());
    }
    static const char *const names[] = {"dense", "storage", "", "x"};
    cr_assert_eq(rnnc_h5_attr_write_strings(g, "names", names, 4, path), RNNC_OK, "%s", rnnc_last_error());
    H5O_info_t info;
    cr_assert(H5Oget_info2(g, &info, H5O_INFO_NUM_ATTRS) >= 0 && info.num_attrs == NATTR + 1);
    unsigned char w[64];
    memset(w, 0xff, sizeof w);
    memcpy(w, "GCOL\001", 5);
    hsize_t n = sizeof w;
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t ds = H5Dcreate2(f, "w", H5T_NATIVE_UCHAR, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(ds >= 0 && H5Dwrite(ds, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Gclose(g);
    H5Pclose(gcpl);
    H5Pclose(fapl);
    cr_assert(H5Fclose(f) >= 0);
    return path;
}

/* Reads every `step`th a<i> of /g and names through h5_util (checking
 * their values when asked); RNNC_OK or the first failure. */
static rnnc_status read_all(const char *path, bool check_values, int step)
{
    hid_t f = -1, g = -1;
    rnnc_status s = rnnc_h5_open_read(path, &f);
    if (s == RNNC_OK)
        s = rnnc_h5_group_open(f, "g", path, &g);
    for (int i = 0; i < NATTR && s == RNNC_OK; i += step) {
        char name[32], want[64], *v = NULL;
        snprintf(name, sizeof name, "a%d", i);
        snprintf(want, sizeof want, "value %d of a dense attribute", i);
        s = rnnc_h5_attr_string(g, name, path, NULL, &v);
        if (s == RNNC_OK && check_values)
            cr_expect_str_eq(v, want, "attribute %s", name);
        free(v);
    }
    if (s == RNNC_OK) {
        char **v = NULL;
        size_t n = 0;
        s = rnnc_h5_attr_strings(g, "names", path, NULL, &v, &n);
        if (s == RNNC_OK && check_values) {
            cr_expect_eq(n, 4);
            cr_expect(n == 4 && !strcmp(v[0], "dense") && !strcmp(v[1], "storage") && !strcmp(v[2], "") &&
                      !strcmp(v[3], "x"));
        }
        rnnc_h5_strings_free(v, n);
    }
    if (g >= 0)
        H5Gclose(g);
    rnnc_h5_close(f);
    return s;
}

Test(h5_heap_refs, dense_attributes_are_read)
{
    const char *path = make_file();
    cr_expect_eq(read_all(path, true, 1), RNNC_OK, "a valid file was refused: %s", rnnc_last_error());
}

static void expect_dense_refused(unsigned char *d, size_t len, const char *name, const char *needle)
{
    const char *path = write_copy(name, d, len);
    cr_expect_neq(read_all(path, false, 1), RNNC_OK, "%s: damaged strings were read", name);
    const char *msg = rnnc_last_error();
    cr_expect(strstr(msg, path) && strstr(msg, "damaged HDF5 file") && strstr(msg, needle) && !strchr(msg, '\n'),
              "%s: message: %s", name, msg);
}

/* The collection's free space of size 0 (HDF5 1.10 hangs loading it), and
 * an object's size changed within its 8-byte padding (the collection still
 * walks; HDF5 would copy the object into a buffer of the string's length):
 * refused in one line. */
Test(h5_heap_refs, damaged_collection_named_from_dense_storage_is_refused)
{
    const char *path = make_file();
    size_t len;
    unsigned char *d = (unsigned char *)rnnc_test_slurp(path, &len);
    cr_assert(d);
    unsigned char *c = malloc(len);
    cr_assert(c);

    size_t at;
    memcpy(c, d, len);
    rnnc_test_put_le64(c + collection_object(c, len, 0, &at) + 8, 0);
    expect_dense_refused(c, len, "free0.h5", "global heap collection at byte");

    memcpy(c, d, len);
    const size_t o = collection_object(c, len, 1, &at);
    const uint64_t size = rnnc_test_le64(c + o + 8);
    rnnc_test_put_le64(c + o + 8, size % 8 ? (size + 7) & ~(uint64_t)7 : size - 1);
    expect_dense_refused(c, len, "longer.h5", "holds it with another length");
    free(c);
    free(d);
}

/* Damaged dense storage (a byte of its fractal heap's header and blocks,
 * its B-tree's header and nodes, every 61st, xor 0x5a; HDF5 checks their
 * checksums only on the path to the attribute it opens, rnnc reads them
 * all): a0, a40, ..., a160 and names are read or refused in one line, no
 * crash or hang.
 * By hand: RNNC_TEST_DENSE_STRIDE=1 flips every byte, RNNC_TEST_DENSE_PART=
 * k/n only the k-th of every n of those (runs of the suite's length). */
Test(h5_heap_refs, damaged_dense_storage_is_read_or_refused)
{
    const char *path = make_file();
    const char *env = getenv("RNNC_TEST_DENSE_STRIDE");
    const size_t stride = env && atoi(env) > 0 ? (size_t)atoi(env) : 61;
    unsigned part = 0, parts = 1;
    if (getenv("RNNC_TEST_DENSE_PART") && sscanf(getenv("RNNC_TEST_DENSE_PART"), "%u/%u", &part, &parts) != 2)
        parts = 1;
    size_t len;
    unsigned char *d = (unsigned char *)rnnc_test_slurp(path, &len);
    cr_assert(d);
    unsigned char *c = malloc(len);
    cr_assert(c);
    static const char *const sigs[] = {"FRHP", "FHIB", "FHDB", "BTHD", "BTIN", "BTLF"};
    int tried = 0, refused = 0;
    for (size_t at = 0; at + 4 <= len; at++) {
        size_t span = 0;
        for (int k = 0; k < 6 && !span; k++)
            if (memcmp(d + at, sigs[k], 4) == 0)
                span = k == 2 ? 32 : 512; /* a direct block: its header only */
        for (size_t i = 0; i < span && at + i < len; i += stride) {
            if (parts > 1 && (at + i) % parts != part % parts)
                continue;
            memcpy(c, d, len);
            c[at + i] ^= 0x5a;
            char name[64];
            snprintf(name, sizeof name, "flip%zu.h5", at + i);
            const char *p = write_copy(name, c, len);
            if (read_all(p, false, 40) != RNNC_OK) {
                refused++;
                cr_expect(strstr(rnnc_last_error(), name) && !strchr(rnnc_last_error(), '\n'), "%s: %s", name,
                          rnnc_last_error());
            }
            remove(p);
            tried++;
        }
    }
    cr_expect_gt(tried * parts, 50, "the file's dense storage structures were not found");
    cr_log_info("%d damaged copies, %d refused", tried, refused);
    free(c);
    free(d);
}
