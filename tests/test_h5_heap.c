/* test_h5_heap.c - a legacy Keras .h5 model whose global heap collection
 * (where h5py keeps the variable-length strings: model_config, layer_names,
 * weight_names, keras_version) is damaged is refused in one line naming the
 * file, never read into a hang. HDF5 1.10 loops forever loading a
 * collection where an object header reads as free space of size 0 (one
 * flipped byte of a real Keras file did it: `rnnc predict` and `rnnc
 * inspect` hung); io/h5_util.c walks each collection as HDF5 does before
 * the file's first variable-length string is read. Nor is a string whose
 * reference (in the attribute) names an object its collection does not
 * hold, or holds with another length: HDF5 1.10 reads past the object
 * table there (a flipped byte of a real Keras file crashed `rnnc inspect`)
 * or copies the object into a buffer of the reference's length.
 *
 * Oracles: the collection's layout in the committed fixture
 * (tests/fixtures/roundtrip/seq_gru_legacy.h5, written by h5py: "GCOL",
 * version 1, 8-byte collection size, then objects of a 16-byte header -
 * index, references, reserved, 8-byte size - and their data rounded up to
 * 8, the free space last), edited on disk; the undamaged copy loads. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/model.h"
#include "framework/status.h"
#include "helpers/run_program.h"
#include "io/model_loader.h"

#define LEGACY RNNC_FIXTURES "/roundtrip/seq_gru_legacy.h5"

static char dir[256];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/rnnc_h5_heap_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) { rnnc_test_rm_tree(dir); }

/* A hang on the old code is a failure by this timeout. */
TestSuite(h5_heap, .init = make_dir, .fini = remove_dir, .timeout = 120);

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The fixture's bytes, and the offset of its collection's object `want`
 * (an index; 0: the free space). */
static unsigned char *fixture(size_t *len, unsigned want, size_t *obj)
{
    unsigned char *d = (unsigned char *)rnnc_test_slurp(LEGACY, len);
    cr_assert(d, "cannot read %s", LEGACY);
    size_t at = 0;
    while (at + 16 <= *len && memcmp(d + at, "GCOL\001", 5) != 0)
        at++;
    cr_assert(at + 16 <= *len, "%s has no global heap collection", LEGACY);
    const uint64_t end = at + get_u64(d + at + 8);
    cr_assert(end <= *len);
    for (size_t p = at + 16; p + 16 <= end;) {
        const unsigned idx = d[p] | d[p + 1] << 8;
        const uint64_t size = get_u64(d + p + 8);
        if (idx == want) {
            *obj = p;
            return d;
        }
        p += idx ? 16 + ((size + 7) & ~(uint64_t)7) : size;
    }
    cr_assert_fail("no object %u in the collection of %s", want, LEGACY);
    return NULL;
}

static const char *write_copy(const char *name, const unsigned char *d, size_t len)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f && fwrite(d, 1, len, f) == len && fclose(f) == 0, "cannot write %s", path);
    return path;
}

static void expect_refused(const char *path)
{
    rnnc_model *m = NULL;
    rnnc_status s = rnnc_model_load(path, &m);
    cr_expect_neq(s, RNNC_OK, "a damaged global heap loaded");
    cr_expect_null(m);
    const char *msg = rnnc_last_error();
    cr_expect(strstr(msg, path) && strstr(msg, "damaged HDF5 file") && strstr(msg, "global heap") &&
                  !strchr(msg, '\n'),
              "message: %s", msg);
    rnnc_model_destroy(m);
}

Test(h5_heap, undamaged_legacy_model_loads)
{
    size_t len, obj;
    unsigned char *d = fixture(&len, 0, &obj);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(write_copy("ok.h5", d, len), &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_model_destroy(m);
    free(d);
}

/* The free space's size 0: HDF5 1.10 would not advance past it (hang). */
Test(h5_heap, free_space_of_size_0_is_refused)
{
    size_t len, obj;
    unsigned char *d = fixture(&len, 0, &obj);
    put_u64(d + obj + 8, 0);
    expect_refused(write_copy("free0.h5", d, len));
    free(d);
}

/* A string's length damaged so that the walk lands inside another object. */
Test(h5_heap, object_running_past_its_collection_is_refused)
{
    size_t len, obj;
    unsigned char *d = fixture(&len, 1, &obj);
    put_u64(d + obj + 8, get_u64(d + obj + 8) + 8192);
    expect_refused(write_copy("long.h5", d, len));
    free(d);
}

/* Every reference to a string of the collection (its 4-byte length, the
 * collection's 8-byte address, the object's 4-byte index, as the object
 * table says), with its index moved past the table (`index`) or its
 * length off by 3: HDF5 1.10 reads past its object table (a crash) or
 * copies the object into a buffer of the wrong length. Returns how many. */
static int damage_refs(unsigned char *d, size_t len, bool index)
{
    size_t at = 0;
    while (at + 16 <= len && memcmp(d + at, "GCOL\001", 5) != 0)
        at++;
    cr_assert(at + 16 <= len);
    uint64_t sizes[64] = {0};
    const uint64_t end = at + get_u64(d + at + 8);
    for (size_t p = at + 16; p + 16 <= end;) {
        const unsigned idx = d[p] | d[p + 1] << 8;
        const uint64_t size = get_u64(d + p + 8);
        if (!idx)
            break;
        if (idx < 64)
            sizes[idx] = size;
        p += 16 + ((size + 7) & ~(uint64_t)7);
    }
    int n = 0;
    for (size_t i = 4; i + 12 <= len; i++) {
        if (get_u64(d + i) != at)
            continue;
        const uint32_t slen = d[i - 4] | d[i - 3] << 8 | d[i - 2] << 16 | (uint32_t)d[i - 1] << 24;
        const uint32_t idx = d[i + 8] | d[i + 9] << 8 | d[i + 10] << 16 | (uint32_t)d[i + 11] << 24;
        if (idx == 0 || idx >= 64 || sizes[idx] != slen || slen == 0)
            continue;
        if (index)
            d[i + 10] = 1; /* idx + 0x10000 */
        else
            d[i - 4] = (unsigned char)(d[i - 4] + 3);
        n++;
    }
    return n;
}

Test(h5_heap, string_references_that_miss_their_object_are_refused)
{
    for (int k = 0; k < 2; k++) {
        size_t len, obj;
        unsigned char *d = fixture(&len, 0, &obj);
        cr_assert_gt(damage_refs(d, len, k == 0), 10, "the fixture's strings were not found");
        expect_refused(write_copy(k == 0 ? "index.h5" : "length.h5", d, len));
        free(d);
    }
}

/* The program: one line, exit 1, for inspect and predict. */
Test(h5_heap, program_refuses_in_one_line)
{
    size_t len, obj;
    unsigned char *d = fixture(&len, 0, &obj);
    put_u64(d + obj + 8, 0);
    const char *path = write_copy("free0.h5", d, len);
    free(d);
    /* under timeout(1): a hang must not outlive the test */
    rnnc_test_run r = rnnc_test_run_program("/usr/bin/timeout", dir, NULL,
                                            (const char *const[]){"60", RNNC_BUILD_DIR "/rnnc", "inspect", path, NULL});
    cr_expect_eq(r.code, 1, "exit %d: %s", r.code, r.err);
    cr_expect(strstr(r.err, "global heap") && rnnc_test_count_lines(r.err) == 1, "stderr: %s", r.err);
    rnnc_test_run_free(&r);
}

/* An object header whose size runs past the end of the file (the fixture's
 * Dense bias, byte 10 of its version-1 header: the third byte of the
 * header size): HDF5 1.10 fails to read it and then cannot close the file;
 * its exit hook printed "HDF5: infinite loop closing library" and a line
 * of codes after rnnc's one-line error. The program's stderr is one line. */
Test(h5_heap, object_header_past_the_file_end_is_one_line)
{
    size_t len, obj;
    unsigned char *d = fixture(&len, 0, &obj);
    /* the v1 header (version 1, 5 messages, 1 reference, 256 bytes) at byte
     * 12456, as h5py's objno of /model_weights/dense/sequential/dense/bias says */
    static const unsigned char hdr[12] = {1, 0, 5, 0, 1, 0, 0, 0, 0, 1, 0, 0};
    cr_assert(len > 12468 && memcmp(d + 12456, hdr, 12) == 0, "the fixture's Dense bias header moved");
    d[12466] = 32;
    const char *path = write_copy("eoa.h5", d, len);
    free(d);
    /* libhdf5 1.10 itself loses 424 bytes on this file (LeakSanitizer under
     * -DRNNC_SANITIZE=ON, with or without its exit hook): not rnnc's leak */
    static const char *const env[] = {"ASAN_OPTIONS=detect_leaks=0:abort_on_error=1", NULL};
    for (int k = 0; k < 2; k++) {
        rnnc_test_run r = rnnc_test_run_program(
            "/usr/bin/timeout", dir, env,
            k == 0 ? (const char *const[]){"60", RNNC_BUILD_DIR "/rnnc", "inspect", path, NULL}
                   : (const char *const[]){"60", RNNC_BUILD_DIR "/rnnc", "predict", "--model", path, "--input",
                                           RNNC_FIXTURES "/roundtrip/seq_gru_io.h5", "--output", "out.h5", NULL});
        cr_expect_eq(r.code, 1, "exit %d: %s", r.code, r.err);
        cr_expect(strstr(r.err, "eoa.h5") && rnnc_test_count_lines(r.err) == 1, "stderr must be one line:\n%s", r.err);
        rnnc_test_run_free(&r);
    }
}
