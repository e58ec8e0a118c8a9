/* test_hostile_h5.c - HDF5 datasets whose stored type or storage is not
 * what rnnc can read exactly are refused, naming the file, the dataset and
 * what is wrong (io/h5_util.c's read side):
 *   - float types that are not exactly IEEE binary32 / binary64 (exponent
 *     bias, field positions and sizes, precision, bit offset, mantissa
 *     normalization), made with the HDF5 C API (H5Tcopy of H5T_IEEE_F32LE,
 *     then H5Tset_ebias / H5Tset_fields / ...), are refused; both byte
 *     orders of the real IEEE types are read exactly;
 *   - integer types with padding bits (precision < 8 x size, offset > 0)
 *     are refused;
 *   - a dataset whose stored bytes are not count x element size (the
 *     dimensions in its dataspace edited on disk) is refused;
 *   - flipping any bit or byte of a Keras weights file's datatype messages
 *     either fails with a message naming the file, or gives exactly the
 *     predictions of the undamaged file (where h5py refuses such a file,
 *     the old reader read the bytes as some other float format and changed
 *     the output).
 * Oracles: the values written (read back bit for bit), the bytes of the
 * real file, and the unmodified file's predictions. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "helpers/h5_make.h"
#include "helpers/run_program.h"
#include "io/h5_util.h"
#include "io/model_loader.h"

#define RT RNNC_FIXTURES "/roundtrip"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnc_hostile_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) { rnnc_test_rm_tree(tmpdir); }

TestSuite(hostile_h5, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 600);

static const char *tmp(const char *name)
{
    static char p[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

/* Writes a (2, 3) dataset "x" of `type` from raw bytes in that very type
 * (no conversion), so any format can be stored. */
static void write_raw(const char *path, hid_t type, const void *bytes)
{
    rnnc_h5m_dataset d = {"x", type, type, 2, {2, 3, 0, 0}, bytes, false};
    cr_assert(rnnc_h5m_write(path, &d, 1), "cannot write %s", path);
}

/* Reading "x" of path fails with `want`, naming the file, the dataset and
 * every fragment; through all three readers. */
static void expect_refused(const char *path, rnnc_status want, const char *frag1, const char *frag2)
{
    hid_t f;
    cr_assert_eq(rnnc_h5_open_read(path, &f), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *t = NULL;
    for (int k = 0; k < 3; k++) {
        rnnc_status s;
        rnnc_tensor *dst = NULL;
        if (k == 0) {
            s = rnnc_h5_read_tensor(f, "x", path, RNNC_F32, true, &t);
        } else if (k == 1) {
            rnnc_shape sh;
            rnnc_dtype dt;
            s = rnnc_h5_dataset_info(f, "x", path, &sh, &dt);
        } else {
            rnnc_shape sh = RNNC_SHAPE(2, 3);
            cr_assert_eq(rnnc_tensor_create(RNNC_F32, &sh, &dst), RNNC_OK);
            s = rnnc_h5_read_into(f, "x", path, dst);
        }
        const char *msg = rnnc_last_error();
        cr_expect_eq(s, want, "%s (reader %d): status %s, expected %s: %s", path, k, rnnc_status_str(s),
                     rnnc_status_str(want), msg);
        cr_expect(strstr(msg, path) && strstr(msg, "'/x'"), "%s: message names neither file nor dataset: %s", path,
                  msg);
        cr_expect(strstr(msg, frag1), "%s: message lacks '%s': %s", path, frag1, msg);
        cr_expect(!frag2 || strstr(msg, frag2), "%s: message lacks '%s': %s", path, frag2, msg);
        cr_expect(!strchr(msg, '\n'), "one line: %s", msg);
        if (k == 0)
            cr_expect_null(t);
        rnnc_tensor_destroy(t);
        rnnc_tensor_destroy(dst);
        t = NULL;
    }
    rnnc_h5_close(f);
}

static const float vals32[6] = {1.5f, -2.25f, 3.0e-3f, 6.5e4f, -0.0f, 7.0f};
static const double vals64[6] = {1.5, -2.25, 3.0e-300, 6.5e300, -0.0, 7.0};

/* A float type: a copy of base changed by `how`. */
static hid_t odd_float(hid_t base, int how)
{
    hid_t t = H5Tcopy(base);
    const bool f32 = H5Tget_size(base) == 4;
    herr_t e = 0;
    switch (how) {
    case 0: e = H5Tset_ebias(t, f32 ? 126 : 1022); break;
    case 1: e = H5Tset_ebias(t, f32 ? 128 : 1024); break;
    case 2: e = H5Tset_fields(t, f32 ? 31 : 63, f32 ? 24 : 53, f32 ? 7 : 10, 0, f32 ? 24 : 53); break;
    case 3: e = H5Tset_fields(t, f32 ? 31 : 63, f32 ? 22 : 51, f32 ? 8 : 11, 0, f32 ? 22 : 51); break;
    case 4: e = H5Tset_norm(t, H5T_NORM_NONE); break;
    case 5: /* 31 (63) bits from bit 1: the mantissa one bit shorter */
        e = H5Tset_fields(t, f32 ? 30 : 62, f32 ? 22 : 51, f32 ? 8 : 11, 0, f32 ? 22 : 51);
        if (e >= 0)
            e = H5Tset_precision(t, f32 ? 31 : 63);
        if (e >= 0)
            e = H5Tset_offset(t, 1);
        break;
    case 6: /* the sign bit below the exponent */
        e = H5Tset_fields(t, f32 ? 0 : 0, f32 ? 23 : 52, f32 ? 8 : 11, 1, f32 ? 22 : 51);
        break;
    }
    cr_assert(e >= 0, "cannot make odd float type %d", how);
    return t;
}

/* What the message says for each `how`, float32 then float64. */
static const char *const odd_float_says[][2] = {
    {"exponent bias is 126", "exponent bias is 1022"},
    {"exponent bias is 128", "exponent bias is 1024"},
    {"exponent 7 bits at 24", "exponent 10 bits at 53"},
    {"exponent 8 bits at 22", "exponent 11 bits at 51"},
    {"normalized", "normalized"},
    {"31 significant bits at bit offset 1", "63 significant bits at bit offset 1"},
    {"sign is at bit 0", "sign is at bit 0"},
};

Test(hostile_h5, floats_that_are_not_ieee_are_refused)
{
    const hid_t bases[4] = {H5T_IEEE_F32LE, H5T_IEEE_F32BE, H5T_IEEE_F64LE, H5T_IEEE_F64BE};
    unsigned char raw[6 * 8];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)(0x3f + 13 * i);
    for (int b = 0; b < 4; b++)
        for (int how = 0; how < 7; how++) {
            hid_t t = odd_float(bases[b], how);
            char name[64];
            snprintf(name, sizeof name, "odd_%d_%d.h5", b, how);
            cr_assert_eq(H5Tget_size(t), b < 2 ? 4u : 8u, "type %d %d", b, how);
            write_raw(tmp(name), t, raw);
            H5Tclose(t);
            expect_refused(tmp(name), RNNC_E_DTYPE, odd_float_says[how][b / 2], b < 2 ? "float32" : "float64");
        }
}

/* Both byte orders of both IEEE formats are read bit for bit. */
Test(hostile_h5, ieee_floats_of_either_byte_order_are_read_exactly)
{
    const hid_t files[4] = {H5T_IEEE_F32LE, H5T_IEEE_F32BE, H5T_IEEE_F64LE, H5T_IEEE_F64BE};
    for (int b = 0; b < 4; b++) {
        const bool f32 = b < 2;
        rnnc_h5m_dataset d = {"x", files[b], f32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE, 2, {2, 3, 0, 0},
                              f32 ? (const void *)vals32 : (const void *)vals64, b % 2 == 1};
        const char *p = tmp("ieee.h5");
        cr_assert(rnnc_h5m_write(p, &d, 1));
        hid_t f;
        cr_assert_eq(rnnc_h5_open_read(p, &f), RNNC_OK, "%s", rnnc_last_error());
        rnnc_tensor *t;
        cr_assert_eq(rnnc_h5_read_tensor(f, "x", p, f32 ? RNNC_F32 : RNNC_F64, false, &t), RNNC_OK, "%s",
                     rnnc_last_error());
        cr_expect_eq(memcmp(t->data, f32 ? (const void *)vals32 : (const void *)vals64, f32 ? 24 : 48), 0,
                     "type %d not read exactly", b);
        rnnc_tensor_destroy(t);
        rnnc_h5_close(f);
    }
}

Test(hostile_h5, integers_with_padding_bits_are_refused)
{
    const hid_t bases[4] = {H5T_STD_I32LE, H5T_STD_U32BE, H5T_STD_I64LE, H5T_STD_I16BE};
    unsigned char raw[6 * 8] = {0};
    for (int b = 0; b < 4; b++)
        for (int how = 0; how < 2; how++) {
            hid_t t = H5Tcopy(bases[b]);
            const size_t bits = 8 * H5Tget_size(t);
            if (how == 0)
                cr_assert(H5Tset_precision(t, bits / 2) >= 0);
            else
                cr_assert(H5Tset_precision(t, bits - 8) >= 0 && H5Tset_offset(t, 8) >= 0);
            write_raw(tmp("int.h5"), t, raw);
            H5Tclose(t);
            char frag[64];
            snprintf(frag, sizeof frag, "%zu significant bits at bit offset %d", how == 0 ? bits / 2 : bits - 8,
                     how == 0 ? 0 : 8);
            expect_refused(tmp("int.h5"), RNNC_E_DTYPE, frag, "integer");
        }
}

/* ---- storage that does not match the declared shape ---- */

static unsigned char *read_all(const char *path, size_t *n)
{
    char *b = rnnc_test_slurp(path, n);
    cr_assert_not_null(b, "cannot read %s", path);
    return (unsigned char *)b;
}

static void write_all(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* Offset of the dataspace dims (5, 7) as two little-endian 64-bit values. */
static size_t find_dims(const unsigned char *b, size_t n)
{
    unsigned char pat[16] = {5, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i + 16 <= n; i++)
        if (memcmp(b + i, pat, 16) == 0)
            return i;
    cr_assert_fail("dataspace dims not found");
    return 0;
}

Test(hostile_h5, storage_that_is_not_count_times_element_size_is_refused)
{
    float v[35];
    for (int i = 0; i < 35; i++)
        v[i] = (float)i;
    rnnc_h5m_dataset d = {"x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, {5, 7, 0, 0}, v, false};
    const char *good = tmp("good.h5");
    cr_assert(rnnc_h5m_write(good, &d, 1));
    size_t n;
    unsigned char *b = read_all(good, &n);
    const size_t at = find_dims(b, n);
    /* (5, 7) -> (5, 6) and (5, 3): the file still stores 140 bytes */
    const unsigned char smaller[2] = {6, 3};
    for (int k = 0; k < 2; k++) {
        b[at + 8] = smaller[k];
        const char *p = tmp("edited.h5");
        write_all(p, b, n);
        hid_t f;
        cr_assert_eq(rnnc_h5_open_read(p, &f), RNNC_OK, "%s", rnnc_last_error());
        rnnc_tensor *t = NULL;
        rnnc_status s = rnnc_h5_read_tensor(f, "x", p, RNNC_F32, false, &t);
        cr_expect_eq(s, RNNC_E_FORMAT, "dims (5, %d): %s", smaller[k], rnnc_last_error());
        cr_expect(strstr(rnnc_last_error(), "stores 140 bytes") && strstr(rnnc_last_error(), "'/x'") &&
                      strstr(rnnc_last_error(), p),
                  "%s", rnnc_last_error());
        cr_expect_null(t);
        rnnc_tensor_destroy(t);
        rnnc_h5_close(f);
    }
    free(b);
}

/* ---- a real Keras file, its datatype messages damaged ---- */

/* The float32 little-endian datatype message as HDF5 writes it (version 1,
 * class float; byte order, padding, implied normalization, sign at 31;
 * size 4; offset 0, precision 32; exponent at 23, 8 bits; mantissa at 0,
 * 23 bits; bias 127). */
static const unsigned char f32le_msg[20] = {0x11, 0x20, 0x1f, 0x00, 0x04, 0, 0, 0, 0, 0,
                                            0x20, 0,    0x17, 0x08, 0,    0x17, 0x7f, 0, 0, 0};

static rnnc_tensor *predict(rnnc_model *m, rnnc_tensor *x)
{
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_ctx_set_grad_enabled(cx, false);
    rnnc_call_args a = {.n_inputs = 1, .inputs = {x}, .mask = NULL, .training = false};
    rnnc_call_result r;
    cr_assert_eq(rnnc_model_call(m, cx, &a, &r), RNNC_OK, "predict: %s", rnnc_last_error());
    rnnc_tensor *y;
    cr_assert_eq(rnnc_tensor_clone(r.outputs[0], &y), RNNC_OK);
    rnnc_ctx_destroy(cx);
    return y;
}

/* Loads weights_path into a fresh seq_gru model and predicts x; NULL when
 * the load fails (then the message names the file). */
static rnnc_tensor *predict_with(const char *weights_path, rnnc_tensor *x)
{
    rnnc_model *m;
    cr_assert_eq(rnnc_model_load(RT "/seq_gru.json", &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *y = NULL;
    rnnc_status s = rnnc_model_load_weights(m, weights_path);
    if (s == RNNC_OK)
        y = predict(m, x);
    else
        cr_expect(strstr(rnnc_last_error(), weights_path) && !strchr(rnnc_last_error(), '\n'),
                  "a refused file must be named in one line: %s", rnnc_last_error());
    rnnc_model_destroy(m);
    return y;
}

Test(hostile_h5, flipped_datatype_bytes_are_refused_or_change_nothing)
{
    hid_t io = H5Fopen(RT "/seq_gru_io.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(io, 0);
    rnnc_tensor *x;
    cr_assert_eq(rnnc_h5_read_tensor(io, "x", "seq_gru_io.h5", RNNC_F32, false, &x), RNNC_OK, "%s",
                 rnnc_last_error());
    H5Fclose(io);
    rnnc_tensor *want = predict_with(RT "/seq_gru.weights.h5", x);
    cr_assert_not_null(want, "%s", rnnc_last_error());

    size_t n;
    unsigned char *orig = read_all(RT "/seq_gru.weights.h5", &n);
    unsigned char *b = malloc(n);
    cr_assert_not_null(b);
    int messages = 0, refused = 0, accepted = 0;
    const char *p = tmp("flipped.weights.h5");
    /* The first five float32 datatype messages are the model's weights
     * (GRU kernel, recurrent kernel, bias, Dense kernel, bias); the
     * optimizer's variables follow, which loading weights does not read. */
    for (size_t at = 0; at + sizeof f32le_msg <= n && messages < 5; at++) {
        if (memcmp(orig + at, f32le_msg, sizeof f32le_msg) != 0)
            continue;
        messages++;
        /* every byte: every single bit, and all eight bits; except the
         * byte-order bit alone (byte 1, bit 0), which makes the type IEEE
         * float32 big-endian, a valid type every reader (h5py too) takes */
        for (size_t k = 0; k < sizeof f32le_msg; k++)
            for (int flip = 0; flip < 9; flip++) {
                if (k == 1 && flip == 0)
                    continue;
                memcpy(b, orig, n);
                b[at + k] ^= (unsigned char)(flip < 8 ? 1u << flip : 0xffu);
                write_all(p, b, n);
                rnnc_tensor *got = predict_with(p, x);
                if (!got) {
                    refused++;
                    continue;
                }
                accepted++;
                cr_expect_eq(memcmp(got->data, want->data, want->numel * sizeof(float)), 0,
                             "message at %zu, byte %zu, flip %d: accepted with different predictions", at, k, flip);
                rnnc_tensor_destroy(got);
            }
    }
    cr_expect_eq(messages, 5, "the file's 5 float32 weights");
    cr_expect_gt(refused, 0);
    cr_log_info("%d datatype messages: %d flips refused, %d accepted with identical predictions", messages, refused,
                accepted);
    free(b);
    free(orig);
    rnnc_tensor_destroy(want);
    rnnc_tensor_destroy(x);
}
