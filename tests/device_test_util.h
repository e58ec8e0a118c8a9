/* device_test_util.h - what test_device_bidirectional.c and
 * test_device_lstm.c share: the OK() assertion, a seeded float stream of
 * their own (seed_state, uni), a Sequential model from a layer list, the
 * device-against-CPU bound (within) and a buffer fetched to the host.
 * Include after <criterion/criterion.h> and the rnnc headers. */
#ifndef RNNC_TEST_DEVICE_TEST_UTIL_H
#define RNNC_TEST_DEVICE_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OK(expr)                                                                                    \
    do {                                                                                            \
        const rnnc_status st_ = (expr);                                                             \
        cr_assert_eq(st_, RNNC_OK, "%s: %s", #expr, rnnc_last_error());                             \
    } while (0)

static uint64_t seed_state;

static inline float uni(float lo, float hi)
{
    seed_state = seed_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((seed_state >> 40) & 0xffffff) / (float)0x1000000;
}

/* A Sequential over batch_shape `input` (of dtype, or the default with
 * NULL) with the given layers (a YAML flow list's items). */
static inline rnnc_model *seq_model_of(const char *input, const char *dtype, const char *layers)
{
    char text[4096], dt[64] = "";
    rnnc_cfg *tree = NULL;
    rnnc_model *m = NULL;
    if (dtype)
        snprintf(dt, sizeof dt, ", dtype: %s", dtype);
    snprintf(text, sizeof text,
             "{class_name: Sequential, config: {name: s, layers: [{class_name: InputLayer, config: "
             "{batch_shape: %s%s}}, %s]}}",
             input, dt, layers);
    OK(rnnc_spec_read_string(text, strlen(text), "model", &tree));
    rnnc_layer_reset_names();
    const rnnc_status s = rnnc_model_from_config(tree, NULL, &m);
    rnnc_cfg_destroy(tree);
    cr_assert_eq(s, RNNC_OK, "%s\n%s", rnnc_last_error(), text);
    if (!m->layers[0]->built)
        OK(rnnc_model_build(m, &m->input_shape));
    return m;
}

/* got against want within 1e-5 (|want| + max |want|) (test_device_model.c's
 * bound); a failure names how many are off and the worst. */
static inline void within(const char *what, const float *got, const float *want, size_t n)
{
    double scale = 0.0, worst = 0.0;
    size_t off = 0, at = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)want[i]));
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - (double)want[i]);
        off += !(d <= 1e-5 * (fabs((double)want[i]) + scale));
        if (!(d <= worst))
            worst = d, at = i;
    }
    cr_expect_eq(off, 0, "%s: %zu of %zu off (scale %g); worst [%zu] %.9g vs %.9g", what, off, n, scale, at,
                 n ? (double)got[at] : 0.0, n ? (double)want[at] : 0.0);
}

/* b's values on the host (malloc'd). */
static inline float *fetch(const rnnc_backend_ops *be, const rnnc_bbuf *b)
{
    float *h = malloc((b->n ? b->n : 1) * sizeof *h);
    OK(be->download(h, b));
    return h;
}

/* The CPU model m's training call on x in cx (res: its result) and its
 * backward from a random cotangent *r (uni in [-1, 1], the output's
 * shape); returns the output. */
static inline rnnc_tensor *cpu_train_call(rnnc_model *m, rnnc_tensor *x, rnnc_ctx *cx,
                                          rnnc_call_result *res, rnnc_tensor **r)
{
    rnnc_model_zero_grad(m);
    rnnc_call_args args = {.n_inputs = 1, .inputs = {x}, .training = true};
    OK(rnnc_model_call(m, cx, &args, res));
    rnnc_tensor *y = res->outputs[0];
    OK(rnnc_tensor_create(RNNC_F32, &y->shape, r));
    for (size_t i = 0; i < (*r)->numel; i++)
        ((float *)(*r)->data)[i] = uni(-1, 1);
    OK(rnnc_backward_with(cx, y, *r));
    return y;
}

/* The device's output mask (B, T) against the CPU's (NULL: none). */
static inline void expect_mask(const uint8_t *ymask, const rnnc_tensor *want, const char *label)
{
    for (size_t i = 0; want && i < want->numel; i++)
        cr_assert_eq(ymask[i] != 0, ((const uint8_t *)want->data)[i] != 0, "%s: mask [%zu]", label, i);
}

#endif
