/* test_cudnn_layout.c - the Keras <-> cuDNN/PyTorch GRU weight permutation
 * (framework/backend/cudnn_layout.h), on the CPU.
 *
 * - the linear-layer table says what cuDNN's documentation says;
 * - a hand-built 1-unit / 2-feature GRU puts every number where the table
 *   says (literal expected blob), and a 2-unit / 3-feature one checks
 *   every element by an encoding of its Keras position;
 * - Keras -> blob -> Keras and blob -> Keras -> blob are identities, the
 *   index map is a permutation, gradients accumulate;
 * - PyTorch's own nn.GRU tensors (tests/fixtures/cudnn, from
 *   tests/gen_cudnn_layout_fixture.py) mapped to Keras layout reproduce
 *   torch's outputs through an independent Keras-layout reference GRU, and
 *   torch's gradients mapped back equal finite differences of it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/backend/cudnn_layout.h"
#include "helpers/fixture.h"

Test(cudnn_layout, table_matches_cudnn_linear_layer_ids)
{
    /* cuDNN: 0,3 reset; 1,4 update; 2,5 new memory; 0-2 input, 3-5 recurrent.
     * Keras column blocks: z 0, r 1, h 2. */
    const char gates[6] = {'r', 'z', 'n', 'r', 'z', 'n'};
    const int keras[6] = {1, 0, 2, 1, 0, 2};
    for (int id = 0; id < RNNC_CUDNN_GRU_NUM_LIN; id++) {
        cr_expect_eq(rnnc_cudnn_gru_linlayers[id].id, id);
        cr_expect_eq(rnnc_cudnn_gru_linlayers[id].gate, gates[id], "id %d", id);
        cr_expect_eq(rnnc_cudnn_gru_linlayers[id].keras_gate, keras[id], "id %d", id);
        cr_expect_eq(rnnc_cudnn_gru_linlayers[id].recurrent, id >= 3, "id %d", id);
    }
}

Test(cudnn_layout, sizes_and_offsets_tile_the_blob)
{
    const int64_t F = 5, U = 3;
    cr_assert_eq(rnnc_cudnn_gru_param_count(F, U), (size_t)(3 * U * (F + U) + 6 * U));
    size_t expect = 0;
    for (int id = 0; id < 6; id++) {
        cr_expect_eq(rnnc_cudnn_gru_matrix_offset(F, U, id), expect, "matrix %d", id);
        cr_expect_eq(rnnc_cudnn_gru_matrix_cols(F, U, id), id < 3 ? F : U);
        expect += (size_t)(U * rnnc_cudnn_gru_matrix_cols(F, U, id));
    }
    for (int id = 0; id < 6; id++) {
        cr_expect_eq(rnnc_cudnn_gru_bias_offset(F, U, id), expect, "bias %d", id);
        expect += (size_t)U;
    }
    cr_expect_eq(expect, rnnc_cudnn_gru_param_count(F, U));
    size_t off[4];
    rnnc_cudnn_gru_torch_offsets(F, U, off);
    cr_expect_eq(off[0], 0u);
    cr_expect_eq(off[1], (size_t)(3 * U * F));
    cr_expect_eq(off[2], (size_t)(3 * U * F + 3 * U * U));
    cr_expect_eq(off[3], off[2] + (size_t)(3 * U));
}

Test(cudnn_layout, one_unit_two_features_by_hand)
{
    /* Keras columns z, r, h. kernel (2, 3), recurrent (1, 3), bias (2, 3). */
    const float kernel[6] = {1, 2, 3,   /* x0 -> z r h */
                             4, 5, 6};  /* x1 -> z r h */
    const float recurrent[3] = {7, 8, 9};
    const float bias[6] = {10, 11, 12,  /* bi_z bi_r bi_h */
                           13, 14, 15}; /* br_z br_r br_h */
    /* W_r^T, W_z^T, W_h^T (1 x 2 each), R_r, R_z, R_h, bi_r, bi_z, bi_h, br_r, br_z, br_h. */
    const float expect[15] = {2, 5, 1, 4, 3, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15};
    cr_assert_eq(rnnc_cudnn_gru_param_count(2, 1), 15u);
    float blob[15];
    cr_assert_eq(rnnc_cudnn_gru_from_keras_f32(2, 1, kernel, recurrent, bias, blob), RNNC_OK);
    for (int i = 0; i < 15; i++)
        cr_expect_eq(blob[i], expect[i], "blob[%d] = %g, expected %g", i, blob[i], expect[i]);

    /* Back again. */
    float k2[6], r2[3], b2[6];
    cr_assert_eq(rnnc_cudnn_gru_to_keras_f32(2, 1, blob, k2, r2, b2, false), RNNC_OK);
    cr_expect_arr_eq(k2, kernel, sizeof k2);
    cr_expect_arr_eq(r2, recurrent, sizeof r2);
    cr_expect_arr_eq(b2, bias, sizeof b2);

    /* No bias: zeros in the bias part. */
    cr_assert_eq(rnnc_cudnn_gru_from_keras_f32(2, 1, kernel, recurrent, NULL, blob), RNNC_OK);
    for (int i = 9; i < 15; i++)
        cr_expect_eq(blob[i], 0.0f);
}

/* Encodes a Keras position as a number: 1e4*which + 100*row + col. */
static double code(int which, int64_t row, int64_t col)
{
    return 1e4 * which + 100.0 * (double)row + (double)col;
}

Test(cudnn_layout, every_element_lands_where_the_table_says)
{
    const int64_t F = 3, U = 2;
    double W[3 * 6], R[2 * 6], b[2 * 6];
    for (int64_t f = 0; f < F; f++)
        for (int64_t c = 0; c < 3 * U; c++)
            W[f * 3 * U + c] = code(1, f, c);
    for (int64_t j = 0; j < U; j++)
        for (int64_t c = 0; c < 3 * U; c++)
            R[j * 3 * U + c] = code(2, j, c);
    for (int64_t s = 0; s < 2; s++)
        for (int64_t c = 0; c < 3 * U; c++)
            b[s * 3 * U + c] = code(3, s, c);
    const size_t n = rnnc_cudnn_gru_param_count(F, U);
    double *blob = malloc(n * sizeof *blob);
    cr_assert_eq(rnnc_cudnn_gru_from_keras_f64(F, U, W, R, b, blob), RNNC_OK);
    /* Keras column block of each cuDNN id, written out again here. */
    const int64_t kg[6] = {1, 0, 2, 1, 0, 2};
    for (int id = 0; id < 6; id++) {
        const int64_t cols = id < 3 ? F : U;
        const size_t mo = rnnc_cudnn_gru_matrix_offset(F, U, id);
        for (int64_t u = 0; u < U; u++)
            for (int64_t k = 0; k < cols; k++) {
                /* matrix row u, column k = Keras W/R[k][gate*U + u] (transposed) */
                const double want = code(id < 3 ? 1 : 2, k, kg[id] * U + u);
                cr_expect_eq(blob[mo + (size_t)(u * cols + k)], want, "id %d row %lld col %lld",
                             id, (long long)u, (long long)k);
            }
        const size_t bo = rnnc_cudnn_gru_bias_offset(F, U, id);
        for (int64_t u = 0; u < U; u++)
            cr_expect_eq(blob[bo + (size_t)u], code(3, id < 3 ? 0 : 1, kg[id] * U + u),
                         "bias id %d row %lld", id, (long long)u);
    }
    free(blob);
}

Test(cudnn_layout, round_trips_are_identities_and_the_map_is_a_permutation)
{
    const int64_t sizes[][2] = {{1, 1}, {1, 4}, {4, 1}, {3, 5}, {7, 2}, {16, 16}};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        const int64_t F = sizes[c][0], U = sizes[c][1];
        const size_t n = rnnc_cudnn_gru_param_count(F, U);
        const size_t nk = (size_t)(F * 3 * U), nr = (size_t)(U * 3 * U), nb = (size_t)(6 * U);
        float *keras = malloc(n * sizeof *keras), *blob = malloc(n * sizeof *blob);
        float *back = malloc(n * sizeof *back), *blob2 = malloc(n * sizeof *blob2);
        int32_t *map = malloc(n * sizeof *map);
        int *hits = calloc(n, sizeof *hits);
        cr_assert(keras && blob && back && blob2 && map && hits);
        for (size_t i = 0; i < n; i++)
            keras[i] = (float)i + 0.5f;
        cr_assert_eq(rnnc_cudnn_gru_from_keras_f32(F, U, keras, keras + nk, keras + nk + nr, blob),
                     RNNC_OK);
        cr_assert_eq(rnnc_cudnn_gru_to_keras_f32(F, U, blob, back, back + nk, back + nk + nr, false),
                     RNNC_OK);
        cr_expect_arr_eq(back, keras, n * sizeof *keras, "Keras -> blob -> Keras, F=%lld U=%lld",
                         (long long)F, (long long)U);
        cr_assert_eq(rnnc_cudnn_gru_from_keras_f32(F, U, back, back + nk, back + nk + nr, blob2),
                     RNNC_OK);
        cr_expect_arr_eq(blob2, blob, n * sizeof *blob);
        cr_assert_eq(rnnc_cudnn_gru_index_map(F, U, map), RNNC_OK);
        for (size_t i = 0; i < n; i++) {
            cr_assert(map[i] >= 0 && (size_t)map[i] < n);
            hits[map[i]]++;
            /* the map is what from_keras used */
            cr_expect_eq(blob[i], keras[map[i]]);
        }
        for (size_t i = 0; i < n; i++)
            cr_expect_eq(hits[i], 1, "Keras index %zu hit %d times", i, hits[i]);
        /* Gradients accumulate: back += blob gives 2 * keras. */
        cr_assert_eq(rnnc_cudnn_gru_to_keras_f32(F, U, blob, back, back + nk, back + nk + nr, true),
                     RNNC_OK);
        for (size_t i = 0; i < n; i++)
            cr_expect_eq(back[i], 2.0f * keras[i]);
        /* Without a bias array the bias part is skipped. */
        for (size_t i = 0; i < nb; i++)
            back[nk + nr + i] = -1.0f;
        cr_assert_eq(rnnc_cudnn_gru_to_keras_f32(F, U, blob, back, back + nk, NULL, false), RNNC_OK);
        for (size_t i = 0; i < nb; i++)
            cr_expect_eq(back[nk + nr + i], -1.0f);
        free(keras);
        free(blob);
        free(back);
        free(blob2);
        free(map);
        free(hits);
    }
}

Test(cudnn_layout, bad_sizes_fail_with_a_message)
{
    float x[1] = {0};
    cr_expect_eq(rnnc_cudnn_gru_from_keras_f32(0, 3, x, x, x, x), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "F=0") != NULL, "%s", rnnc_last_error());
    cr_expect_eq(rnnc_cudnn_gru_to_keras_f64(2, -1, NULL, NULL, NULL, NULL, false), RNNC_E_ARG);
    int32_t m[1];
    cr_expect_eq(rnnc_cudnn_gru_index_map(1, 1 << 20, m), RNNC_E_ARG);
}

/* ---- PyTorch cross-check ------------------------------------------------ */

typedef struct torch_case {
    int64_t B, T, F, U;
    double *blob;         /* torch parameters, concatenated in torch order */
    double *gblob;        /* torch's gradients, same order */
    double *x, *h0, *y, *hn, *dy;
} torch_case;

static double *read_doubles(rnnc_fixture *fx, const char *name, rnnc_shape *shape)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_read(fx, name, RNNC_F64, &t), RNNC_OK, "%s", rnnc_last_error());
    if (shape)
        *shape = t->shape;
    double *d = rnnc_fixture_doubles(t);
    rnnc_tensor_destroy(t);
    cr_assert(d);
    return d;
}

static void load_case(const char *file, torch_case *c)
{
    char path[512];
    snprintf(path, sizeof path, "%s/cudnn/%s", RNNC_FIXTURES, file);
    rnnc_fixture *fx = NULL;
    cr_assert_eq(rnnc_fixture_open(path, &fx), RNNC_OK, "%s", rnnc_last_error());
    rnnc_shape xs, ws;
    c->x = read_doubles(fx, "x", &xs);
    double *wih = read_doubles(fx, "weight_ih", &ws);
    c->B = xs.dim[0];
    c->T = xs.dim[1];
    c->F = xs.dim[2];
    c->U = ws.dim[0] / 3;
    const int64_t F = c->F, U = c->U;
    const size_t n = rnnc_cudnn_gru_param_count(F, U);
    size_t off[4];
    rnnc_cudnn_gru_torch_offsets(F, U, off);
    const size_t len[4] = {(size_t)(3 * U * F), (size_t)(3 * U * U), (size_t)(3 * U), (size_t)(3 * U)};
    const char *names[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    const char *gnames[4] = {"grad_weight_ih", "grad_weight_hh", "grad_bias_ih", "grad_bias_hh"};
    c->blob = malloc(n * sizeof *c->blob);
    c->gblob = malloc(n * sizeof *c->gblob);
    cr_assert(c->blob && c->gblob);
    free(wih);
    for (int i = 0; i < 4; i++) {
        double *p = read_doubles(fx, names[i], NULL), *g = read_doubles(fx, gnames[i], NULL);
        memcpy(c->blob + off[i], p, len[i] * sizeof *p);
        memcpy(c->gblob + off[i], g, len[i] * sizeof *g);
        free(p);
        free(g);
    }
    c->h0 = read_doubles(fx, "h0", NULL);
    c->y = read_doubles(fx, "y", NULL);
    c->hn = read_doubles(fx, "hn", NULL);
    c->dy = read_doubles(fx, "dy", NULL);
    rnnc_fixture_close(fx);
}

static void free_case(torch_case *c)
{
    free(c->blob);
    free(c->gblob);
    free(c->x);
    free(c->h0);
    free(c->y);
    free(c->hn);
    free(c->dy);
}

/* sum(Y * dy) of the reference GRU with Keras weights kp = [W | R | bias]. */
static double ref_loss(const torch_case *c, const double *kp, double *Y, double *last, double *hT)
{
    const int64_t F = c->F, U = c->U;
    rnnc_ref_gru_args a = {
        .B = c->B, .T = c->T, .F = F, .U = U,
        .x = c->x, .h0 = c->h0,
        .W = kp, .R = kp + F * 3 * U, .bias = kp + F * 3 * U + U * 3 * U,
        .act = "tanh", .ract = "sigmoid", .reset_after = true,
    };
    cr_assert(rnnc_ref_gru(&a, Y, last, hT));
    double L = 0.0;
    for (int64_t i = 0; i < c->B * c->T * U; i++)
        L += Y[i] * c->dy[i];
    return L;
}

static void check_torch_case(const char *file)
{
    torch_case c = {0};
    load_case(file, &c);
    const int64_t B = c.B, T = c.T, F = c.F, U = c.U;
    const size_t n = rnnc_cudnn_gru_param_count(F, U);
    const size_t nk = (size_t)(F * 3 * U), nr = (size_t)(U * 3 * U);
    double *kp = malloc(n * sizeof *kp), *kg = malloc(n * sizeof *kg);
    double *Y = malloc((size_t)(B * T * U) * sizeof *Y), *last = malloc((size_t)(B * U) * sizeof *last);
    double *hT = malloc((size_t)(B * U) * sizeof *hT);
    cr_assert(kp && kg && Y && last && hT);

    /* torch parameters -> Keras layout -> the reference reproduces torch. */
    cr_assert_eq(rnnc_cudnn_gru_to_keras_f64(F, U, c.blob, kp, kp + nk, kp + nk + nr, false), RNNC_OK);
    ref_loss(&c, kp, Y, last, hT);
    double err = 0.0;
    for (int64_t i = 0; i < B * T * U; i++)
        err = fmax(err, fabs(Y[i] - c.y[i]));
    for (int64_t i = 0; i < B * U; i++)
        err = fmax(err, fabs(hT[i] - c.hn[i]));
    cr_expect_lt(err, 1e-12, "%s: forward differs from torch by %g", file, err);

    /* torch gradients -> Keras layout == finite differences in Keras layout. */
    memset(kg, 0, n * sizeof *kg);
    cr_assert_eq(rnnc_cudnn_gru_to_keras_f64(F, U, c.gblob, kg, kg + nk, kg + nk + nr, true), RNNC_OK);
    double gerr = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double keep = kp[i], eps = 1e-6;
        kp[i] = keep + eps;
        const double lp = ref_loss(&c, kp, Y, last, hT);
        kp[i] = keep - eps;
        const double lm = ref_loss(&c, kp, Y, last, hT);
        kp[i] = keep;
        const double fd = (lp - lm) / (2 * eps);
        gerr = fmax(gerr, fabs(fd - kg[i]) / fmax(1.0, fabs(fd)));
    }
    cr_expect_lt(gerr, 1e-7, "%s: mapped torch gradients differ from finite differences by %g",
                 file, gerr);

    /* And Keras -> blob gives torch's tensors back exactly. */
    double *blob = malloc(n * sizeof *blob);
    cr_assert_eq(rnnc_cudnn_gru_from_keras_f64(F, U, kp, kp + nk, kp + nk + nr, blob), RNNC_OK);
    cr_expect_arr_eq(blob, c.blob, n * sizeof *blob);
    free(blob);
    free(kp);
    free(kg);
    free(Y);
    free(last);
    free(hT);
    free_case(&c);
}

Test(cudnn_layout, pytorch_weights_map_to_keras)
{
    check_torch_case("torch_gru_layout.h5");
    check_torch_case("torch_gru_layout_wide.h5");
}
