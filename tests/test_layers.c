/* test_layers.c - the non-recurrent Keras layers (in layers/) and the layer
 * registry.
 *
 * Oracles: outputs against numbers derived by hand in the comments (or the
 * examples in Keras's docstrings); gradients against float64 central
 * differences (gradcheck.h); configs against the JSON text Keras 3.15
 * writes for the same layer (key order included); every validation error
 * against its status code and the argument its message must name. Dropout
 * statistics use n = 100000 with tolerances of ~5 standard errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/gradcheck.h"
#include "framework/model.h"
#include "framework/ops.h"
#include "framework/random.h"
#include "helpers/arena.h"
#include "io/json_writer.h"
#include "io/spec_reader.h"
#include "layers/activation.h"
#include "layers/batch_norm.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/embedding.h"
#include "layers/input_layer.h"
#include "layers/masking.h"
#include "layers/registry.h"
#include "layers/time_distributed.h"

/* ---------------------------------------------------------------- fixture */

static rnnc_ctx *cx;
static rnnc_cfg *cfgs[64];
static int n_cfgs;

static void setup(void)
{
    cx = rnnc_ctx_create();
    cr_assert_not_null(cx);
    n_cfgs = 0;
    rnnc_layer_reset_names();
}

static void teardown(void)
{
    rnnc_ctx_destroy(cx);
    th_arena_free();
    for (int i = 0; i < n_cfgs; i++)
        rnnc_cfg_destroy(cfgs[i]);
}

TestSuite(layers, .init = setup, .fini = teardown);

#define OK(expr)                                                                      \
    do {                                                                              \
        rnnc_status ok_s_ = (expr);                                                   \
        cr_assert_eq(ok_s_, RNNC_OK, "%s -> %s: %s", #expr, rnnc_status_str(ok_s_), \
                     rnnc_last_error());                                              \
    } while (0)

/* Fails unless expr returns `code` and the message contains `needle`. */
#define FAILS(expr, code, needle)                                                          \
    do {                                                                                   \
        rnnc_status f_s_ = (expr);                                                         \
        cr_expect_eq(f_s_, (code), "%s -> %s (%s), want %s", #expr, rnnc_status_str(f_s_), \
                     rnnc_last_error(), rnnc_status_str(code));                            \
        cr_expect(strstr(rnnc_last_error(), (needle)) != NULL,                             \
                  "message \"%s\" does not mention \"%s\"", rnnc_last_error(), (needle));  \
    } while (0)

static void set_values(rnnc_tensor *t, const double *vals)
{
    for (size_t i = 0; i < t->numel; i++)
        rnnc_tensor_set(t, i, vals[i]);
}

static void expect_values(const rnnc_tensor *t, const double *want, size_t n, double tol)
{
    cr_assert_not_null(t);
    cr_assert_eq(t->numel, n, "numel %zu, want %zu", t->numel, n);
    for (size_t i = 0; i < n; i++)
        cr_expect(fabs(rnnc_tensor_get(t, i) - want[i]) <= tol, "element %zu: got %.10g, want %.10g", i,
                  rnnc_tensor_get(t, i), want[i]);
}

static void expect_shape(const rnnc_shape *s, rnnc_shape want)
{
    char a[160], b[160];
    cr_expect(rnnc_shape_eq(s, &want), "shape %s, want %s", rnnc_shape_str(s, a, sizeof a),
              rnnc_shape_str(&want, b, sizeof b));
}

/* A config tree from JSON text (freed at teardown). */
static rnnc_cfg *J(const char *json)
{
    rnnc_cfg *c;
    OK(rnnc_spec_read_string(json, strlen(json), "<test>", &c));
    cr_assert_lt(n_cfgs, 64);
    cfgs[n_cfgs++] = c;
    return c;
}

/* Compares a tree's one-line JSON (Python json.dumps form) with want. */
static void expect_json(const rnnc_cfg *c, const char *want)
{
    char *got;
    OK(rnnc_json_write(c, -1, &got));
    cr_expect_str_eq(got, want);
    free(got);
}

static void expect_config(const rnnc_layer *l, const char *want)
{
    rnnc_cfg *c;
    OK(rnnc_layer_get_config(l, &c));
    expect_json(c, want);
    rnnc_cfg_destroy(c);
}

/* serialize -> registry -> serialize gives the same text. */
static rnnc_layer *expect_round_trip(const rnnc_layer *l)
{
    rnnc_cfg *a, *b;
    rnnc_layer *copy;
    char *ta, *tb;
    OK(rnnc_layer_serialize(l, &a));
    OK(rnnc_layer_from_config(a, &copy));
    th_own(copy);
    OK(rnnc_layer_serialize(copy, &b));
    OK(rnnc_json_write(a, -1, &ta));
    OK(rnnc_json_write(b, -1, &tb));
    cr_expect_str_eq(tb, ta);
    free(ta);
    free(tb);
    rnnc_cfg_destroy(a);
    rnnc_cfg_destroy(b);
    return copy;
}

static rnnc_call_result call(rnnc_layer *l, rnnc_tensor *x, const rnnc_tensor *mask, bool training)
{
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 1;
    a.inputs[0] = x;
    a.mask = mask;
    a.training = training;
    OK(rnnc_layer_call(l, cx, &a, &r));
    cr_assert_eq(r.n_outputs, 1);
    return r;
}

static rnnc_status call_status(rnnc_layer *l, rnnc_tensor *x, const rnnc_tensor *mask, bool training)
{
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 1;
    a.inputs[0] = x;
    a.mask = mask;
    a.training = training;
    return rnnc_layer_call(l, cx, &a, &r);
}

/* A layer from a bare config map of a class (through the registry). */
static rnnc_status from_json(const char *class_name, const char *config_json, rnnc_layer **out)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "{\"module\": \"keras.layers\", \"class_name\": \"%s\", \"config\": %s, \"registered_name\": null}",
             class_name, config_json);
    *out = NULL;
    rnnc_status s = rnnc_layer_from_config(J(buf), out);
    if (s == RNNC_OK)
        th_own(*out);
    return s;
}

/* ---- gradient checks --------------------------------------------------- */

typedef struct call_user {
    rnnc_layer *layer;
    const rnnc_tensor *mask;
    bool training;
    rnnc_rng *reseed; /* Dropout: the stream is rewound before every evaluation */
    uint64_t seed;
} call_user;

/* inputs[0] is the layer input; the rest (weights) are used by the layer itself. */
static rnnc_status layer_fn(rnnc_ctx *c, void *user, rnnc_tensor **in, rnnc_tensor **out)
{
    call_user *u = user;
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 1;
    a.inputs[0] = in[0];
    a.mask = u->mask;
    a.training = u->training;
    if (u->reseed)
        rnnc_rng_init(u->reseed, u->seed);
    RNNC_TRY(rnnc_layer_call(u->layer, c, &a, &r));
    *out = r.outputs[0];
    return RNNC_OK;
}

static void gradcheck_ok(call_user *u, rnnc_tensor **in, int n, double tol)
{
    rnnc_gradcheck_result r;
    char buf[256];
    OK(rnnc_gradcheck_full(layer_fn, u, in, n, 1e-6, &r));
    cr_expect_gt(r.n_checked, 0);
    cr_expect_lt(r.max_err, tol, "%s", rnnc_gradcheck_str(&r, buf, sizeof buf));
}

/* ================================================================== Dense */

static const char *DTYPE_F32 =
    "{\"module\": \"keras\", \"class_name\": \"DTypePolicy\", \"config\": {\"name\": \"float32\"}, \"registered_name\": null}";

/* kernel (3, 2) = [[1, 2], [3, 4], [5, 6]], bias = [0.5, -1], relu */
static rnnc_layer *small_dense(rnnc_dtype dt, rnnc_act act)
{
    rnnc_dense_options o = rnnc_dense_options_default(2);
    rnnc_layer *l;
    o.dtype = dt;
    o.activation = act;
    OK(rnnc_dense_create(&o, &l));
    th_own(l);
    OK(rnnc_layer_build(l, th_shp(RNNC_SHAPE(-1, 3))));
    rnnc_dense *d = (rnnc_dense *)l;
    set_values(d->kernel, (const double[]){1, 2, 3, 4, 5, 6});
    set_values(d->bias, (const double[]){0.5, -1});
    return l;
}

Test(layers, dense_2d_matches_hand_computed)
{
    rnnc_layer *l = small_dense(RNNC_F32, RNNC_ACT_RELU);
    /* [1,0,-1] @ K = [1-5, 2-6] = [-4,-4] + b = [-3.5,-5] -> relu [0, 0]
     * [2,1, 0] @ K = [2+3, 4+4] = [5, 8] + b = [5.5, 7] */
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), (const double[]){1, 0, -1, 2, 1, 0}, false);
    rnnc_call_result r = call(l, x, NULL, false);
    expect_shape(&r.outputs[0]->shape, RNNC_SHAPE(2, 2));
    expect_values(r.outputs[0], (const double[]){0, 0, 5.5, 7}, 4, 1e-6);
    cr_expect_str_eq(l->weights[0].name, "kernel");
    cr_expect_str_eq(l->weights[1].name, "bias");
    expect_shape(&l->weights[0].value->shape, RNNC_SHAPE(3, 2));
    expect_shape(&l->weights[1].value->shape, RNNC_SHAPE(2));
}

Test(layers, dense_3d_applies_the_kernel_at_every_step)
{
    rnnc_layer *l = small_dense(RNNC_F32, RNNC_ACT_RELU);
    /* step rows: [0,1,0] @ K + b = [3.5, 3]; [1,1,1] @ K + b = [9.5, 11] */
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(2, 2, 3), (const double[]){1, 0, -1, 2, 1, 0, 0, 1, 0, 1, 1, 1}, false);
    rnnc_call_result r = call(l, x, NULL, false);
    expect_shape(&r.outputs[0]->shape, RNNC_SHAPE(2, 2, 2));
    expect_values(r.outputs[0], (const double[]){0, 0, 5.5, 7, 3.5, 3, 9.5, 11}, 8, 1e-6);
    rnnc_output_spec spec;
    OK(rnnc_layer_output_spec(l, th_shp(RNNC_SHAPE(-1, 7, 3)), &spec));
    expect_shape(&spec.shapes[0], RNNC_SHAPE(-1, 7, 2));
}

Test(layers, dense_gradients_match_finite_differences_2d_and_3d)
{
    rnnc_layer *l = small_dense(RNNC_F64, RNNC_ACT_TANH);
    rnnc_dense *d = (rnnc_dense *)l;
    set_values(d->kernel, (const double[]){0.1, -0.2, 0.3, 0.4, -0.5, 0.25});
    call_user u = {.layer = l};
    rnnc_tensor *x2 = th_rand_leaf(RNNC_SHAPE(4, 3), 1, -1, 1, true);
    rnnc_tensor *in2[] = {x2, d->kernel, d->bias};
    gradcheck_ok(&u, in2, 3, 1e-7);
    rnnc_tensor *x3 = th_rand_leaf(RNNC_SHAPE(2, 3, 3), 2, -1, 1, true);
    rnnc_tensor *in3[] = {x3, d->kernel, d->bias};
    gradcheck_ok(&u, in3, 3, 1e-7);
}

Test(layers, dense_rejects_bad_inputs)
{
    rnnc_layer *l = small_dense(RNNC_F32, RNNC_ACT_LINEAR);
    FAILS(call_status(l, th_leaf(RNNC_F32, RNNC_SHAPE(2, 4), NULL, false), NULL, false), RNNC_E_SHAPE, "(3, 2)");
    FAILS(call_status(l, th_leaf(RNNC_F32, RNNC_SHAPE(3), NULL, false), NULL, false), RNNC_E_SHAPE, "rank >= 2");
    /* a float64 input is cast to the layer's float32, as Keras's autocast does */
    cr_expect_eq(call(l, th_leaf(RNNC_F64, RNNC_SHAPE(2, 3), NULL, false), NULL, false).outputs[0]->dtype, RNNC_F32);
    rnnc_dense_options o = rnnc_dense_options_default(0);
    rnnc_layer *bad;
    FAILS(rnnc_dense_create(&o, &bad), RNNC_E_ARG, "units");
    rnnc_layer *u;
    OK(rnnc_dense_create(&(rnnc_dense_options){.units = 2, .use_bias = true}, &u));
    th_own(u);
    FAILS(rnnc_layer_build(u, th_shp(RNNC_SHAPE(-1, -1))), RNNC_E_SHAPE, "last dimension");
}

Test(layers, dense_config_has_keras_keys_in_order)
{
    rnnc_dense_options o = rnnc_dense_options_default(1);
    rnnc_layer *l;
    OK(rnnc_dense_create(&o, &l));
    th_own(l);
    char want[2048];
    /* spec 12.2: Dense(1) in a Keras 3.15 model.to_json() */
    snprintf(want, sizeof want,
             "{\"name\": \"dense\", \"trainable\": true, \"dtype\": %s, \"units\": 1, \"activation\": \"linear\", "
             "\"use_bias\": true, \"kernel_initializer\": {\"module\": \"keras.initializers\", \"class_name\": "
             "\"GlorotUniform\", \"config\": {\"seed\": null, \"input_axes\": null, \"output_axes\": null}, "
             "\"registered_name\": null}, \"bias_initializer\": {\"module\": \"keras.initializers\", "
             "\"class_name\": \"Zeros\", \"config\": {}, \"registered_name\": null}, \"kernel_regularizer\": null, "
             "\"bias_regularizer\": null, \"kernel_constraint\": null, \"bias_constraint\": null, "
             "\"quantization_config\": null}",
             DTYPE_F32);
    expect_config(l, want);
    OK(rnnc_layer_build(l, th_shp(RNNC_SHAPE(-1, 4))));
    rnnc_layer *copy = expect_round_trip(l);
    cr_expect(copy->built, "build_config builds the copy");
    expect_shape(&((rnnc_dense *)copy)->kernel->shape, RNNC_SHAPE(4, 1));
}

Test(layers, dense_from_config_reads_every_key)
{
    rnnc_layer *l;
    OK(from_json("Dense",
                 "{\"name\": \"out\", \"trainable\": false, \"dtype\": \"float64\", \"activity_regularizer\": "
                 "{\"module\": \"keras.regularizers\", \"class_name\": \"L2\", \"config\": {\"l2\": 0.01}, "
                 "\"registered_name\": null}, \"units\": 3, \"activation\": \"swish\", \"use_bias\": false, "
                 "\"kernel_initializer\": \"ones\", \"kernel_regularizer\": \"l1\", \"kernel_constraint\": "
                 "\"non_neg\", \"bias_initializer\": null, \"quantization_config\": null}",
                 &l));
    rnnc_dense *d = (rnnc_dense *)l;
    cr_expect_str_eq(l->name, "out");
    cr_expect_not(l->trainable);
    cr_expect_eq(l->dtype, RNNC_F64);
    cr_expect_eq(d->units, 3);
    cr_expect_eq(d->activation, RNNC_ACT_SILU);
    cr_expect_not(d->use_bias);
    cr_expect_not_null(l->activity_regularizer);
    cr_expect_null(d->bias_initializer, "null stays Keras's None");
    OK(rnnc_layer_build(l, th_shp(RNNC_SHAPE(-1, 2))));
    cr_expect_eq(l->n_weights, 1, "no bias");
    cr_expect_not_null(l->weights[0].regularizer);
    cr_expect_not_null(l->weights[0].constraint);
    expect_values(d->kernel, (const double[]){1, 1, 1, 1, 1, 1}, 6, 0);
    /* activity_regularizer sits right after dtype; bias_initializer echoes null */
    rnnc_cfg *c;
    OK(rnnc_layer_get_config(l, &c));
    cr_expect_str_eq(c->keys[3], "activity_regularizer");
    cr_expect_str_eq(c->keys[4], "units");
    cr_expect_eq(rnnc_cfg_peek(c, "bias_initializer")->type, RNNC_CFG_NULL);
    cr_expect_str_eq(rnnc_cfg_peek(c, "activation")->v.s, "silu");
    rnnc_cfg_destroy(c);
}

Test(layers, dense_bias_initializer_none_means_glorot_uniform)
{
    rnnc_layer *l;
    OK(from_json("Dense", "{\"units\": 64, \"bias_initializer\": null}", &l));
    OK(rnnc_layer_build(l, th_shp(RNNC_SHAPE(-1, 64))));
    /* glorot_uniform on a (64,) bias: limit sqrt(6 / (64 + 64)); never all zeros */
    double limit = sqrt(6.0 / 128.0), maxabs = 0;
    const rnnc_tensor *b = ((rnnc_dense *)l)->bias;
    for (size_t i = 0; i < b->numel; i++)
        maxabs = fmax(maxabs, fabs(rnnc_tensor_get(b, i)));
    cr_expect_gt(maxabs, 0.0);
    cr_expect_leq(maxabs, limit);
}

Test(layers, dense_config_errors_name_the_argument)
{
    rnnc_layer *l;
    FAILS(from_json("Dense", "{\"units\": 0}", &l), RNNC_E_ARG, "'units'");
    FAILS(from_json("Dense", "{\"units\": -3}", &l), RNNC_E_ARG, "positive integer");
    FAILS(from_json("Dense", "{\"units\": 4.0}", &l), RNNC_E_ARG, "'units'");
    FAILS(from_json("Dense", "{\"units\": \"4\"}", &l), RNNC_E_ARG, "'units'");
    FAILS(from_json("Dense", "{\"units\": true}", &l), RNNC_E_ARG, "'units'");
    FAILS(from_json("Dense", "{\"name\": \"d\"}", &l), RNNC_E_ARG, "required");
    FAILS(from_json("Dense", "{\"units\": 2, \"unit\": 3}", &l), RNNC_E_ARG, "did you mean 'units'");
    FAILS(from_json("Dense", "{\"units\": 2, \"activation\": \"rleu\"}", &l), RNNC_E_ARG, "Dense.activation");
    FAILS(from_json("Dense", "{\"units\": 2, \"use_bias\": 1}", &l), RNNC_E_ARG, "'use_bias'");
    FAILS(from_json("Dense", "{\"units\": 2, \"kernel_initializer\": \"glorot\"}", &l), RNNC_E_ARG,
          "Dense.kernel_initializer");
    FAILS(from_json("Dense", "{\"units\": 2, \"kernel_regularizer\": \"l3\"}", &l), RNNC_E_ARG,
          "Dense.kernel_regularizer");
    FAILS(from_json("Dense", "{\"units\": 2, \"bias_constraint\": \"maxnorm\"}", &l), RNNC_E_ARG,
          "Dense.bias_constraint");
    FAILS(from_json("Dense", "{\"units\": 2, \"lora_rank\": 4}", &l), RNNC_E_UNSUPPORTED, "lora_rank");
    FAILS(from_json("Dense", "{\"units\": 2, \"quantization_config\": {\"mode\": \"int8\"}}", &l),
          RNNC_E_UNSUPPORTED, "quantization_config");
    FAILS(from_json("Dense", "{\"units\": 2, \"dtype\": \"int8\"}", &l), RNNC_E_UNSUPPORTED, "int8");
    FAILS(from_json("Dense", "{\"units\": 2, \"name\": \"a/b\"}", &l), RNNC_E_ARG, "'/'");
}

Test(layers, activation_dict_form_is_accepted)
{
    rnnc_layer *l;
    OK(from_json("Dense",
                 "{\"units\": 2, \"activation\": {\"module\": \"keras.activations\", \"class_name\": \"function\", "
                 "\"config\": \"relu\", \"registered_name\": \"relu\"}}",
                 &l));
    cr_expect_eq(((rnnc_dense *)l)->activation, RNNC_ACT_RELU);
    FAILS(from_json("Dense", "{\"units\": 2, \"activation\": {\"class_name\": \"Custom\", \"config\": \"x\"}}", &l),
          RNNC_E_ARG, "function");
}

/* ================================================================ Masking */

Test(layers, masking_then_dense_keeps_the_mask_and_zeroes_masked_steps)
{
    rnnc_model *m;
    rnnc_layer *mask_l, *dense_l;
    OK(rnnc_sequential_create(NULL, &m));
    OK(rnnc_masking_create(0.0, NULL, RNNC_F32, &mask_l));
    OK(rnnc_model_add(m, mask_l));
    rnnc_dense_options o = rnnc_dense_options_default(1);
    OK(rnnc_dense_create(&o, &dense_l));
    OK(rnnc_model_add(m, dense_l));
    OK(rnnc_layer_build(dense_l, th_shp(RNNC_SHAPE(-1, 3, 2))));
    set_values(((rnnc_dense *)dense_l)->kernel, (const double[]){1, 10});
    set_values(((rnnc_dense *)dense_l)->bias, (const double[]){0.5});
    /* b0: [1,2] [0,0] [3,0]   b1: [0,0] [0,0] [-1,1]  -> mask [1,0,1] [0,0,1]
     * Dense: x0 + 10 x1 + 0.5 -> 21.5, 0.5, 3.5 / 0.5, 0.5, 9.5 */
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3, 2), (const double[]){1, 2, 0, 0, 3, 0, 0, 0, 0, 0, -1, 1}, false);
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 1;
    a.inputs[0] = x;
    OK(rnnc_model_call(m, cx, &a, &r));
    expect_values(r.outputs[0], (const double[]){21.5, 0.5, 3.5, 0.5, 0.5, 9.5}, 6, 1e-6);
    cr_assert_not_null(r.mask, "Dense passes the Masking mask on");
    cr_expect_eq(r.mask->dtype, RNNC_U8);
    expect_shape(&r.mask->shape, RNNC_SHAPE(2, 3));
    expect_values(r.mask, (const double[]){1, 0, 1, 0, 0, 1}, 6, 0);
    rnnc_model_destroy(m);
}

Test(layers, masking_value_output_and_gradient)
{
    rnnc_layer *l;
    OK(rnnc_masking_create(3.0, NULL, RNNC_F64, &l));
    th_own(l);
    /* [3,3] is all mask_value -> masked and zeroed; [3,0] is kept */
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(1, 2, 2), (const double[]){3, 3, 3, 0}, true);
    rnnc_call_result r = call(l, x, NULL, false);
    expect_values(r.outputs[0], (const double[]){0, 0, 3, 0}, 4, 0);
    expect_values(r.mask, (const double[]){0, 1}, 2, 0);
    /* float32: mask_value is compared in the input's precision, as Keras casts it */
    rnnc_layer *l32;
    OK(rnnc_masking_create(0.1, NULL, RNNC_F32, &l32));
    th_own(l32);
    rnnc_tensor *x32 = th_leaf(RNNC_F32, RNNC_SHAPE(1, 1, 2), (const double[]){0.1, 0.1}, false);
    expect_values(call(l32, x32, NULL, false).mask, (const double[]){0}, 1, 0);
    /* dx = dy on kept steps, 0 on masked ones. (No finite differences here:
     * moving a masked value off mask_value unmasks the step, a jump.) */
    rnnc_tensor *y = call(l, x, NULL, false).outputs[0];
    rnnc_tensor *dy = th_leaf(RNNC_F64, RNNC_SHAPE(1, 2, 2), (const double[]){1, 2, 3, 4}, false);
    rnnc_tensor_zero_grad(x);
    OK(rnnc_backward_with(cx, y, dy));
    const double want[4] = {0, 0, 3, 4};
    for (size_t i = 0; i < 4; i++)
        cr_expect_eq(rnnc_tensor_get_grad(x, i), want[i], "grad %zu", i);
}

Test(layers, masking_config)
{
    rnnc_layer *l;
    OK(rnnc_masking_create(0.0, NULL, RNNC_F32, &l));
    th_own(l);
    char want[512];
    snprintf(want, sizeof want, "{\"name\": \"masking\", \"trainable\": true, \"dtype\": %s, \"mask_value\": 0.0}",
             DTYPE_F32);
    expect_config(l, want);
    expect_round_trip(l);
    rnnc_layer *m;
    OK(from_json("Masking", "{\"mask_value\": -1}", &m));
    cr_expect_eq(((rnnc_masking *)m)->mask_value, -1.0);
    expect_round_trip(m);
    FAILS(from_json("Masking", "{\"mask_value\": \"zero\"}", &m), RNNC_E_ARG, "'mask_value'");
    FAILS(from_json("Masking", "{\"mask_valu\": 1}", &m), RNNC_E_ARG, "did you mean 'mask_value'");
}

/* ================================================================ Dropout */

static rnnc_layer *make_dropout(double rate, int64_t seed)
{
    rnnc_dropout_options o = rnnc_dropout_options_default(rate);
    rnnc_layer *l;
    o.has_seed = true;
    o.seed = seed;
    OK(rnnc_dropout_create(&o, &l));
    return th_own(l);
}

Test(layers, dropout_is_the_identity_at_inference)
{
    rnnc_layer *l = make_dropout(0.9, 1);
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), (const double[]){1, 2, 3, 4, 5, 6}, false);
    expect_values(call(l, x, NULL, false).outputs[0], (const double[]){1, 2, 3, 4, 5, 6}, 6, 0);
    rnnc_layer *zero = make_dropout(0.0, 1);
    expect_values(call(zero, x, NULL, true).outputs[0], (const double[]){1, 2, 3, 4, 5, 6}, 6, 0);
    rnnc_layer *one = make_dropout(1.0, 1);
    expect_values(call(one, x, NULL, true).outputs[0], (const double[]){0, 0, 0, 0, 0, 0}, 6, 0);
}

Test(layers, dropout_statistics_in_training)
{
    const size_t n = 100000;
    rnnc_layer *l = make_dropout(0.3, 42);
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(100, 1000), NULL, false);
    rnnc_tensor_fill(x, 1.0);
    rnnc_tensor *y = call(l, x, NULL, true).outputs[0];
    size_t zeros = 0;
    double sum = 0;
    bool scaled = true;
    for (size_t i = 0; i < n; i++) {
        double v = rnnc_tensor_get(y, i);
        zeros += v == 0.0;
        sum += v;
        if (v != 0.0 && fabs(v - 1.0 / 0.7) > 1e-6)
            scaled = false;
    }
    /* P(drop) = 0.3: standard error sqrt(0.21 / n) = 0.00145 */
    cr_expect(fabs((double)zeros / (double)n - 0.3) < 0.0075, "drop fraction %g", (double)zeros / (double)n);
    cr_expect(scaled, "kept values are 1 / (1 - rate)");
    /* E[y] = 1: standard error sqrt(0.3/0.7 / n) = 0.0021 */
    cr_expect(fabs(sum / (double)n - 1.0) < 0.011, "mean %g", sum / (double)n);
}

Test(layers, dropout_is_reproducible_from_its_seed_and_advances)
{
    rnnc_layer *a = make_dropout(0.5, 7), *b = make_dropout(0.5, 7);
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(4, 50), NULL, false);
    rnnc_tensor_fill(x, 1.0);
    rnnc_tensor *ya = call(a, x, NULL, true).outputs[0];
    rnnc_tensor *yb = call(b, x, NULL, true).outputs[0];
    rnnc_tensor *ya2 = call(a, x, NULL, true).outputs[0];
    bool same = true, differs = false;
    for (size_t i = 0; i < x->numel; i++) {
        same &= rnnc_tensor_get(ya, i) == rnnc_tensor_get(yb, i);
        differs |= rnnc_tensor_get(ya, i) != rnnc_tensor_get(ya2, i);
    }
    cr_expect(same, "same seed, same draw");
    cr_expect(differs, "the second call draws a new mask");
}

Test(layers, dropout_noise_shape_broadcasts_one_draw)
{
    rnnc_dropout_options o = rnnc_dropout_options_default(0.5);
    o.has_seed = true;
    o.seed = 3;
    o.noise_ndim = 3;
    o.noise_shape[0] = -1; /* None -> batch */
    o.noise_shape[1] = 1;
    o.noise_shape[2] = -1;
    o.dtype = RNNC_F64;
    rnnc_layer *l;
    OK(rnnc_dropout_create(&o, &l));
    th_own(l);
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(8, 5, 16), NULL, true);
    rnnc_tensor_fill(x, 1.0);
    rnnc_tensor *y = call(l, x, NULL, true).outputs[0];
    bool same_over_time = true;
    size_t zeros = 0;
    for (int b = 0; b < 8; b++)
        for (int f = 0; f < 16; f++) {
            double v0 = rnnc_tensor_get(y, (size_t)(b * 80 + f));
            zeros += v0 == 0.0;
            for (int t = 1; t < 5; t++)
                same_over_time &= rnnc_tensor_get(y, (size_t)(b * 80 + t * 16 + f)) == v0;
        }
    cr_expect(same_over_time, "noise_shape (None, 1, None) drops the same features at every step");
    cr_expect(zeros > 0 && zeros < 128, "%zu of 128 dropped", zeros);
    /* gradient: dy * mask, with the stream rewound for each evaluation */
    call_user u = {.layer = l, .training = true, .reseed = &((rnnc_dropout_layer *)l)->rng, .seed = 3};
    rnnc_tensor *in[] = {x};
    gradcheck_ok(&u, in, 1, 1e-8);
    FAILS(call_status(l, th_leaf(RNNC_F64, RNNC_SHAPE(8, 5), NULL, false), NULL, true), RNNC_E_SHAPE, "noise_shape");
}

Test(layers, dropout_config_and_errors)
{
    rnnc_layer *l;
    OK(from_json("Dropout", "{\"rate\": 0.5}", &l));
    char want[512];
    snprintf(want, sizeof want,
             "{\"name\": \"dropout\", \"trainable\": true, \"dtype\": %s, \"rate\": 0.5, \"seed\": null, "
             "\"noise_shape\": null}",
             DTYPE_F32);
    expect_config(l, want);
    rnnc_layer *m;
    OK(from_json("Dropout", "{\"rate\": 1, \"seed\": 5, \"noise_shape\": [null, 1, 4]}", &m));
    snprintf(want, sizeof want,
             "{\"name\": \"dropout_1\", \"trainable\": true, \"dtype\": %s, \"rate\": 1, \"seed\": 5, "
             "\"noise_shape\": [null, 1, 4]}",
             DTYPE_F32);
    expect_config(m, want);
    expect_round_trip(m);
    FAILS(from_json("Dropout", "{\"rate\": 1.5}", &l), RNNC_E_ARG, "'rate'");
    FAILS(from_json("Dropout", "{\"rate\": -0.1}", &l), RNNC_E_ARG, "between 0 and 1");
    FAILS(from_json("Dropout", "{\"rate\": \"half\"}", &l), RNNC_E_ARG, "'rate'");
    FAILS(from_json("Dropout", "{\"seed\": 1}", &l), RNNC_E_ARG, "'rate' is required");
    FAILS(from_json("Dropout", "{\"rate\": 0.1, \"noise_shape\": \"abc\"}", &l), RNNC_E_ARG, "'noise_shape'");
    FAILS(from_json("Dropout", "{\"rate\": 0.1, \"noise_shape\": [0, 2]}", &l), RNNC_E_ARG, "positive");
    FAILS(from_json("Dropout", "{\"rate\": 0.1, \"noise_shape\": [2.5]}", &l), RNNC_E_ARG, "integers");
    FAILS(from_json("Dropout", "{\"rate\": 0.1, \"seed\": \"x\"}", &l), RNNC_E_ARG, "'seed'");
    FAILS(from_json("Dropout", "{\"rate\": 0.1, \"noise_shap\": [1]}", &l), RNNC_E_ARG, "did you mean 'noise_shape'");
    rnnc_dropout_options o = rnnc_dropout_options_default(2.0);
    FAILS(rnnc_dropout_create(&o, &l), RNNC_E_ARG, "'rate'");
}

/* ===================================================== BatchNormalization */

static rnnc_layer *make_bn(rnnc_dtype dt, int axis, rnnc_shape in)
{
    rnnc_batch_norm_options o = rnnc_batch_norm_options_default();
    rnnc_layer *l;
    o.dtype = dt;
    o.axis = axis;
    OK(rnnc_batch_norm_create(&o, &l));
    th_own(l);
    OK(rnnc_layer_build(l, &in));
    return l;
}

Test(layers, batch_norm_weights_in_keras_order)
{
    rnnc_layer *l = make_bn(RNNC_F32, -1, RNNC_SHAPE(-1, 3));
    const char *names[] = {"gamma", "beta", "moving_mean", "moving_variance"};
    const bool trainable[] = {true, true, false, false};
    cr_assert_eq(l->n_weights, 4);
    for (int i = 0; i < 4; i++) {
        cr_expect_str_eq(l->weights[i].name, names[i]);
        cr_expect_eq(l->weights[i].trainable, trainable[i]);
        expect_shape(&l->weights[i].value->shape, RNNC_SHAPE(3));
    }
    expect_values(l->weights[0].value, (const double[]){1, 1, 1}, 3, 0);
    expect_values(l->weights[3].value, (const double[]){1, 1, 1}, 3, 0);
    rnnc_batch_norm_options o = rnnc_batch_norm_options_default();
    o.center = false;
    rnnc_layer *nc;
    OK(rnnc_batch_norm_create(&o, &nc));
    th_own(nc);
    OK(rnnc_layer_build(nc, th_shp(RNNC_SHAPE(-1, 2))));
    cr_expect_eq(nc->n_weights, 3);
    cr_expect_str_eq(nc->weights[1].name, "moving_mean");
}

Test(layers, batch_norm_inference_uses_moving_statistics)
{
    rnnc_layer *l = make_bn(RNNC_F32, -1, RNNC_SHAPE(-1, 1));
    rnnc_batch_norm *b = (rnnc_batch_norm *)l;
    set_values(b->gamma, (const double[]){2});
    set_values(b->beta, (const double[]){1});
    set_values(b->moving_mean, (const double[]){1});
    set_values(b->moving_variance, (const double[]){3});
    /* y = 2 (x - 1) / sqrt(3 + 0.001) + 1 */
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(2, 1), (const double[]){4, 1}, false);
    rnnc_call_result r = call(l, x, NULL, false);
    expect_values(r.outputs[0], (const double[]){2 * 3 / sqrt(3.001) + 1, 1}, 2, 1e-6);
    expect_values(b->moving_mean, (const double[]){1}, 1, 0);
    /* trainable = false: training calls run in inference mode (Keras) */
    l->trainable = false;
    r = call(l, x, NULL, true);
    expect_values(r.outputs[0], (const double[]){2 * 3 / sqrt(3.001) + 1, 1}, 2, 1e-6);
    expect_values(b->moving_mean, (const double[]){1}, 1, 0);
}

Test(layers, batch_norm_training_uses_batch_statistics_and_updates_moving_ones)
{
    rnnc_layer *l = make_bn(RNNC_F64, -1, RNNC_SHAPE(-1, 2));
    rnnc_batch_norm *b = (rnnc_batch_norm *)l;
    set_values(b->gamma, (const double[]){2, 1});
    set_values(b->beta, (const double[]){0.5, -1});
    /* column 0: 1 2 3 6 -> mean 3, var (4+1+0+9)/4 = 3.5
     * column 1: 0 0 4 4 -> mean 2, var 4 */
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(4, 2), (const double[]){1, 0, 2, 0, 3, 4, 6, 4}, false);
    rnnc_call_result r = call(l, x, NULL, true);
    double s0 = sqrt(3.5 + 1e-3), s1 = sqrt(4 + 1e-3);
    double want[8] = {2 * (1 - 3) / s0 + 0.5, (0 - 2) / s1 - 1, 2 * (2 - 3) / s0 + 0.5, (0 - 2) / s1 - 1,
                      2 * (3 - 3) / s0 + 0.5, (4 - 2) / s1 - 1, 2 * (6 - 3) / s0 + 0.5, (4 - 2) / s1 - 1};
    expect_values(r.outputs[0], want, 8, 1e-12);
    /* moving = moving * 0.99 + batch * 0.01 from zeros / ones */
    expect_values(b->moving_mean, (const double[]){0.03, 0.02}, 2, 1e-12);
    expect_values(b->moving_variance, (const double[]){0.99 + 0.035, 0.99 + 0.04}, 2, 1e-12);
    call(l, x, NULL, true);
    expect_values(b->moving_mean, (const double[]){0.03 * 0.99 + 0.03, 0.02 * 0.99 + 0.02}, 2, 1e-12);
}

Test(layers, batch_norm_training_reduces_over_batch_and_time)
{
    rnnc_layer *l = make_bn(RNNC_F64, -1, RNNC_SHAPE(-1, -1, 1));
    /* (2, 2, 1): values 1 3 5 7 -> mean 4, var (9+1+1+9)/4 = 5 */
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(2, 2, 1), (const double[]){1, 3, 5, 7}, false);
    rnnc_call_result r = call(l, x, NULL, true);
    double s = sqrt(5.001);
    expect_values(r.outputs[0], (const double[]){-3 / s, -1 / s, 1 / s, 3 / s}, 4, 1e-12);
    expect_values(((rnnc_batch_norm *)l)->moving_mean, (const double[]){0.04}, 1, 1e-12);
}

Test(layers, batch_norm_masked_training_skips_masked_steps)
{
    rnnc_layer *l = make_bn(RNNC_F64, -1, RNNC_SHAPE(-1, -1, 1));
    /* b0: 1 2 100 (mask 1 1 0), b1: 3 200 4 (mask 1 0 1): used 1 2 3 4.
     * Keras: mean = 10 / (4 + 1e-7), var = sum (x - mean)^2 / (4 + 1e-7) over used */
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(2, 3, 1), (const double[]){1, 2, 100, 3, 200, 4}, false);
    rnnc_tensor *mask = th_leaf(RNNC_U8, RNNC_SHAPE(2, 3), (const double[]){1, 1, 0, 1, 0, 1}, false);
    rnnc_call_result r = call(l, x, mask, true);
    const double n = 4 + 1e-7, mean = 10 / n;
    double var = 0;
    for (int v = 1; v <= 4; v++)
        var += (v - mean) * (v - mean);
    var /= n;
    const double xs[6] = {1, 2, 100, 3, 200, 4};
    double want[6];
    for (int i = 0; i < 6; i++)
        want[i] = (xs[i] - mean) / sqrt(var + 1e-3);
    expect_values(r.outputs[0], want, 6, 1e-12);
    expect_values(((rnnc_batch_norm *)l)->moving_mean, (const double[]){0.01 * mean}, 1, 1e-12);
    expect_values(((rnnc_batch_norm *)l)->moving_variance, (const double[]){0.99 + 0.01 * var}, 1, 1e-12);
    cr_expect_eq(r.mask, mask, "the mask passes through");
    rnnc_tensor *bad = th_leaf(RNNC_U8, RNNC_SHAPE(2, 3, 1), NULL, false);
    FAILS(call_status(l, x, bad, true), RNNC_E_SHAPE, "one dimension less");
}

Test(layers, batch_norm_axis_1_normalizes_the_middle_axis)
{
    rnnc_layer *l = make_bn(RNNC_F64, 1, RNNC_SHAPE(-1, 2, 3));
    rnnc_tensor *x = th_rand_leaf(RNNC_SHAPE(2, 2, 3), 5, -2, 2, true);
    rnnc_call_result r = call(l, x, NULL, true);
    /* statistics per channel c over (batch, last axis) */
    for (int c = 0; c < 2; c++) {
        double mean = 0, var = 0;
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < 3; k++)
                mean += rnnc_f64(x)[b * 6 + c * 3 + k] / 6;
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < 3; k++)
                var += pow(rnnc_f64(x)[b * 6 + c * 3 + k] - mean, 2) / 6;
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < 3; k++) {
                int i = b * 6 + c * 3 + k;
                cr_expect(fabs(rnnc_f64(r.outputs[0])[i] - (rnnc_f64(x)[i] - mean) / sqrt(var + 1e-3)) < 1e-12,
                          "element %d", i);
            }
    }
    FAILS(call_status(l, th_leaf(RNNC_F64, RNNC_SHAPE(2, 3, 2), NULL, false), NULL, true), RNNC_E_SHAPE,
          "does not match");
}

Test(layers, batch_norm_gradients_match_finite_differences)
{
    rnnc_layer *l = make_bn(RNNC_F64, -1, RNNC_SHAPE(-1, -1, 3));
    rnnc_batch_norm *b = (rnnc_batch_norm *)l;
    set_values(b->gamma, (const double[]){1.5, -0.5, 0.8});
    set_values(b->beta, (const double[]){0.1, 0.2, -0.3});
    set_values(b->moving_mean, (const double[]){0.2, -0.1, 0.4});
    set_values(b->moving_variance, (const double[]){1.5, 0.7, 2.0});
    rnnc_tensor *x = th_rand_leaf(RNNC_SHAPE(3, 4, 3), 11, -2, 2, true);
    rnnc_tensor *in[] = {x, b->gamma, b->beta};
    call_user train = {.layer = l, .training = true};
    gradcheck_ok(&train, in, 3, 1e-6);
    rnnc_tensor *mask = th_leaf(RNNC_U8, RNNC_SHAPE(3, 4), (const double[]){1, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1}, false);
    call_user masked = {.layer = l, .training = true, .mask = mask};
    gradcheck_ok(&masked, in, 3, 1e-6);
    call_user infer = {.layer = l, .training = false};
    gradcheck_ok(&infer, in, 3, 1e-7);
}

Test(layers, batch_norm_config_and_errors)
{
    rnnc_layer *l;
    OK(from_json("BatchNormalization", "{}", &l));
    char want[2048];
    snprintf(want, sizeof want,
             "{\"name\": \"batch_normalization\", \"trainable\": true, \"dtype\": %s, \"axis\": -1, \"momentum\": 0.99, "
             "\"epsilon\": 0.001, \"center\": true, \"scale\": true, \"beta_initializer\": {\"module\": "
             "\"keras.initializers\", \"class_name\": \"Zeros\", \"config\": {}, \"registered_name\": null}, "
             "\"gamma_initializer\": {\"module\": \"keras.initializers\", \"class_name\": \"Ones\", \"config\": {}, "
             "\"registered_name\": null}, \"moving_mean_initializer\": {\"module\": \"keras.initializers\", "
             "\"class_name\": \"Zeros\", \"config\": {}, \"registered_name\": null}, \"moving_variance_initializer\": "
             "{\"module\": \"keras.initializers\", \"class_name\": \"Ones\", \"config\": {}, \"registered_name\": "
             "null}, \"beta_regularizer\": null, \"gamma_regularizer\": null, \"beta_constraint\": null, "
             "\"gamma_constraint\": null, \"synchronized\": false}",
             DTYPE_F32);
    expect_config(l, want);
    rnnc_layer *m;
    /* Keras 2 writes axis as a one-element list and momentum as given */
    OK(from_json("BatchNormalization", "{\"axis\": [1], \"momentum\": 1, \"epsilon\": 1e-05, \"scale\": false, "
                                       "\"gamma_regularizer\": \"l2\", \"beta_constraint\": \"max_norm\"}",
                 &m));
    rnnc_batch_norm *b = (rnnc_batch_norm *)m;
    cr_expect_eq(b->axis, 1);
    cr_expect_eq(b->momentum, 1.0);
    cr_expect_eq(b->epsilon, 1e-5);
    cr_expect_not(b->scale);
    rnnc_cfg *c;
    OK(rnnc_layer_get_config(m, &c));
    cr_expect_eq(rnnc_cfg_peek(c, "axis")->type, RNNC_CFG_INT);
    cr_expect_eq(rnnc_cfg_peek(c, "momentum")->type, RNNC_CFG_FLOAT, "Keras stores float(momentum)");
    rnnc_cfg_destroy(c);
    OK(rnnc_layer_build(m, th_shp(RNNC_SHAPE(-1, 4, 2))));
    expect_round_trip(m);
    FAILS(from_json("BatchNormalization", "{\"axis\": \"last\"}", &l), RNNC_E_ARG, "'axis'");
    FAILS(from_json("BatchNormalization", "{\"axis\": [1, 2]}", &l), RNNC_E_UNSUPPORTED, "'axis'");
    FAILS(from_json("BatchNormalization", "{\"momentum\": \"high\"}", &l), RNNC_E_ARG, "'momentum'");
    FAILS(from_json("BatchNormalization", "{\"center\": \"yes\"}", &l), RNNC_E_ARG, "'center'");
    FAILS(from_json("BatchNormalization", "{\"renorm\": true}", &l), RNNC_E_UNSUPPORTED, "renorm");
    FAILS(from_json("BatchNormalization", "{\"epsilom\": 0.1}", &l), RNNC_E_ARG, "did you mean 'epsilon'");
    FAILS(from_json("BatchNormalization", "{\"gamma_initializer\": \"onez\"}", &l), RNNC_E_ARG,
          "BatchNormalization.gamma_initializer");
    rnnc_layer *axis5;
    rnnc_batch_norm_options o = rnnc_batch_norm_options_default();
    o.axis = 5;
    OK(rnnc_batch_norm_create(&o, &axis5));
    th_own(axis5);
    FAILS(rnnc_layer_build(axis5, th_shp(RNNC_SHAPE(-1, 3))), RNNC_E_SHAPE, "axis 5");
}

/* ===================================================== activation layers */

Test(layers, relu_and_leaky_relu_match_keras_examples)
{
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(5), (const double[]){-10, -5, 0, 5, 10}, false);
    rnnc_layer *r;
    /* Keras docstrings: ReLU(max_value=10, negative_slope=0.5, threshold=0) and
     * LeakyReLU(negative_slope=0.5) both give [-5, -2.5, 0, 5, 10] */
    OK(rnnc_relu_create(10, 0.5, 0, NULL, RNNC_F32, &r));
    th_own(r);
    expect_values(call(r, x, NULL, false).outputs[0], (const double[]){-5, -2.5, 0, 5, 10}, 5, 1e-6);
    rnnc_layer *lk;
    OK(rnnc_leaky_relu_create(0.5, NULL, RNNC_F32, &lk));
    th_own(lk);
    expect_values(call(lk, x, NULL, false).outputs[0], (const double[]){-5, -2.5, 0, 5, 10}, 5, 1e-6);
    /* the layer's default slope is 0.3 */
    rnnc_layer *dflt;
    OK(from_json("LeakyReLU", "{}", &dflt));
    expect_values(call(dflt, x, NULL, false).outputs[0], (const double[]){-3, -1.5, 0, 5, 10}, 5, 1e-6);
    /* plain ReLU(max_value=6) */
    rnnc_layer *r6;
    OK(rnnc_relu_create(6, 0, 0, NULL, RNNC_F32, &r6));
    th_own(r6);
    expect_values(call(r6, x, NULL, false).outputs[0], (const double[]){0, 0, 0, 5, 6}, 5, 1e-6);
}

Test(layers, relu_threshold_follows_keras_formula)
{
    /* threshold 2, slope 0.1: x > 2 ? x : 0, minus 0.1 * max(2 - x, 0)
     * x = 1 -> -0.1;  x = 2 -> 0;  x = 3 -> 3;  x = -1 -> -0.3 */
    rnnc_layer *r;
    OK(rnnc_relu_create(-1, 0.1, 2, NULL, RNNC_F64, &r));
    th_own(r);
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(4), (const double[]){1, 2, 3, -1}, false);
    expect_values(call(r, x, NULL, false).outputs[0], (const double[]){-0.1, 0, 3, -0.3}, 4, 1e-12);
    /* threshold 1, no slope, max 2.5: 0.5 -> 0; 1.5 -> 1.5; 4 -> 2.5 */
    rnnc_layer *r2;
    OK(rnnc_relu_create(2.5, 0, 1, NULL, RNNC_F64, &r2));
    th_own(r2);
    rnnc_tensor *x2 = th_leaf(RNNC_F64, RNNC_SHAPE(3), (const double[]){0.5, 1.5, 4}, false);
    expect_values(call(r2, x2, NULL, false).outputs[0], (const double[]){0, 1.5, 2.5}, 3, 1e-12);
}

Test(layers, elu_and_activation_layer_values)
{
    rnnc_layer *e;
    OK(rnnc_elu_create(2.0, NULL, RNNC_F64, &e));
    th_own(e);
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(3), (const double[]){-1, 0, 2}, false);
    /* 2 (e^-1 - 1) = -1.2642411176571153 */
    expect_values(call(e, x, NULL, false).outputs[0], (const double[]){-1.2642411176571153, 0, 2}, 3, 1e-12);
    rnnc_layer *a;
    OK(from_json("Activation", "{\"activation\": \"relu\", \"dtype\": \"float64\"}", &a));
    expect_values(call(a, x, NULL, false).outputs[0], (const double[]){0, 0, 2}, 3, 0);
    rnnc_layer *sm;
    OK(from_json("Activation", "{\"activation\": \"softmax\", \"dtype\": \"float64\"}", &sm));
    rnnc_tensor *y = th_leaf(RNNC_F64, RNNC_SHAPE(1, 3), (const double[]){1, 2, 1}, false);
    expect_values(call(sm, y, NULL, false).outputs[0],
                  (const double[]){0.21194155761708547, 0.5761168847658291, 0.21194155761708547}, 3, 1e-12);
}

Test(layers, softmax_layer_axes_and_mask)
{
    rnnc_layer *s;
    OK(rnnc_softmax_create((const int[]){-1}, 1, NULL, RNNC_F64, &s));
    th_own(s);
    /* Keras docstring: softmax([1, 2, 1]) = [0.21194157, 0.5761169, 0.21194157] */
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(3), (const double[]){1, 2, 1}, false);
    expect_values(call(s, x, NULL, false).outputs[0],
                  (const double[]){0.21194155761708547, 0.5761168847658291, 0.21194155761708547}, 3, 1e-12);
    /* masked: [1, -, 1] -> [0.5, 0, 0.5]; a fully masked row -> zeros */
    rnnc_tensor *x2 = th_leaf(RNNC_F64, RNNC_SHAPE(2, 3), (const double[]){1, 2, 1, 4, 5, 6}, false);
    rnnc_tensor *m = th_leaf(RNNC_U8, RNNC_SHAPE(2, 3), (const double[]){1, 0, 1, 0, 0, 0}, false);
    expect_values(call(s, x2, m, false).outputs[0], (const double[]){0.5, 0, 0.5, 0, 0, 0}, 6, 1e-12);
    /* a (3,) mask broadcasts over the rows */
    rnnc_tensor *m1 = th_leaf(RNNC_U8, RNNC_SHAPE(3), (const double[]){1, 0, 1}, false);
    expect_values(call(s, x2, m1, false).outputs[0],
                  (const double[]){0.5, 0, 0.5, 1 / (1 + exp(2.0)), 0, exp(2.0) / (1 + exp(2.0))}, 6, 1e-12);
    FAILS(call_status(s, x2, th_leaf(RNNC_U8, RNNC_SHAPE(2), NULL, false), false), RNNC_E_SHAPE, "broadcastable");
    FAILS(call_status(s, x2, th_leaf(RNNC_U8, RNNC_SHAPE(1, 2, 3), NULL, false), false), RNNC_E_SHAPE,
          "more dimensions");
    /* axis 0 of [[0, 1], [ln 3, 1]]: [0.25, 0.5; 0.75, 0.5] */
    rnnc_layer *s0;
    OK(rnnc_softmax_create((const int[]){0}, 1, NULL, RNNC_F64, &s0));
    th_own(s0);
    rnnc_tensor *x3 = th_leaf(RNNC_F64, RNNC_SHAPE(2, 2), (const double[]){0, 1, log(3.0), 1}, false);
    expect_values(call(s0, x3, NULL, false).outputs[0], (const double[]){0.25, 0.5, 0.75, 0.5}, 4, 1e-12);
    /* axes [0, 1] of [[0, ln 2], [ln 3, 0]]: e^x = 1 2 3 1, sum 7 */
    rnnc_layer *s01;
    OK(from_json("Softmax", "{\"axis\": [0, 1], \"dtype\": \"float64\"}", &s01));
    rnnc_tensor *x4 = th_leaf(RNNC_F64, RNNC_SHAPE(2, 2), (const double[]){0, log(2.0), log(3.0), 0}, false);
    expect_values(call(s01, x4, NULL, false).outputs[0], (const double[]){1 / 7.0, 2 / 7.0, 3 / 7.0, 1 / 7.0}, 4,
                  1e-12);
    FAILS(call_status(s01, th_leaf(RNNC_F64, RNNC_SHAPE(3), NULL, false), NULL, false), RNNC_E_SHAPE, "axis 1");
}

Test(layers, activation_layer_gradients_match_finite_differences)
{
    /* inputs kept away from the kinks (0, threshold, max_value) */
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(2, 4), (const double[]){-2.3, -0.7, 0.4, 1.3, 2.6, 3.7, 5.2, -4.1}, true);
    rnnc_layer *r, *lk, *e, *s, *sm2;
    OK(rnnc_relu_create(4, 0.2, 1, NULL, RNNC_F64, &r));
    OK(rnnc_leaky_relu_create(0.3, NULL, RNNC_F64, &lk));
    OK(rnnc_elu_create(1.5, NULL, RNNC_F64, &e));
    OK(rnnc_softmax_create((const int[]){-1}, 1, NULL, RNNC_F64, &s));
    OK(rnnc_softmax_create((const int[]){1, 0}, 2, NULL, RNNC_F64, &sm2));
    rnnc_layer *all[] = {th_own(r), th_own(lk), th_own(e), th_own(s), th_own(sm2)};
    rnnc_tensor *in[] = {x};
    for (int i = 0; i < 5; i++) {
        call_user u = {.layer = all[i]};
        gradcheck_ok(&u, in, 1, 1e-8);
    }
    rnnc_tensor *m = th_leaf(RNNC_U8, RNNC_SHAPE(2, 4), (const double[]){1, 0, 1, 1, 0, 1, 1, 0}, false);
    call_user um = {.layer = s, .mask = m};
    gradcheck_ok(&um, in, 1, 1e-8);
}

Test(layers, activation_layer_configs)
{
    char want[512];
    rnnc_layer *r;
    OK(from_json("ReLU", "{}", &r));
    snprintf(want, sizeof want,
             "{\"name\": \"re_lu\", \"trainable\": true, \"dtype\": %s, \"max_value\": null, \"negative_slope\": 0.0, "
             "\"threshold\": 0.0}",
             DTYPE_F32);
    expect_config(r, want);
    rnnc_layer *r6;
    OK(from_json("ReLU", "{\"max_value\": 6, \"negative_slope\": 0.1, \"threshold\": 0.5}", &r6));
    expect_round_trip(r6);
    rnnc_layer *lk;
    OK(from_json("LeakyReLU", "{}", &lk));
    snprintf(want, sizeof want, "{\"name\": \"leaky_re_lu\", \"trainable\": true, \"dtype\": %s, \"negative_slope\": 0.3}",
             DTYPE_F32);
    expect_config(lk, want);
    /* Keras 2's alpha */
    rnnc_layer *lk2;
    OK(from_json("LeakyReLU", "{\"alpha\": 0.2}", &lk2));
    cr_expect_eq(((rnnc_relu_layer *)lk2)->negative_slope, 0.2);
    rnnc_layer *e, *e2;
    OK(from_json("ELU", "{}", &e));
    snprintf(want, sizeof want, "{\"name\": \"elu\", \"trainable\": true, \"dtype\": %s}", DTYPE_F32);
    expect_config(e, want);
    OK(from_json("ELU", "{\"alpha\": 0.5}", &e2));
    cr_expect_eq(((rnnc_relu_layer *)e2)->alpha, 0.5);
    expect_round_trip(e2);
    rnnc_layer *s;
    OK(from_json("Softmax", "{}", &s));
    snprintf(want, sizeof want, "{\"name\": \"softmax\", \"trainable\": true, \"dtype\": %s, \"axis\": -1}", DTYPE_F32);
    expect_config(s, want);
    rnnc_layer *s2;
    OK(from_json("Softmax", "{\"axis\": [1]}", &s2));
    expect_round_trip(s2);
    rnnc_layer *a;
    OK(from_json("Activation", "{\"activation\": \"hard_swish\"}", &a));
    snprintf(want, sizeof want, "{\"name\": \"activation\", \"trainable\": true, \"dtype\": %s, \"activation\": \"hard_silu\"}",
             DTYPE_F32);
    expect_config(a, want);
    expect_round_trip(a);
}

Test(layers, activation_layer_errors)
{
    rnnc_layer *l;
    FAILS(from_json("ReLU", "{\"max_value\": -1}", &l), RNNC_E_ARG, "'max_value'");
    FAILS(from_json("ReLU", "{\"negative_slope\": -0.5}", &l), RNNC_E_ARG, "'negative_slope'");
    FAILS(from_json("ReLU", "{\"negative_slope\": null}", &l), RNNC_E_ARG, "'negative_slope' cannot be None");
    FAILS(from_json("ReLU", "{\"threshold\": -1}", &l), RNNC_E_ARG, "'threshold'");
    FAILS(from_json("ReLU", "{\"treshold\": 1}", &l), RNNC_E_ARG, "did you mean 'threshold'");
    FAILS(from_json("LeakyReLU", "{\"negative_slope\": -0.1}", &l), RNNC_E_ARG, "'negative_slope'");
    FAILS(from_json("LeakyReLU", "{\"negative_slope\": null}", &l), RNNC_E_ARG, "None");
    FAILS(from_json("ELU", "{\"alpha\": \"big\"}", &l), RNNC_E_ARG, "'alpha'");
    FAILS(from_json("Softmax", "{\"axis\": \"last\"}", &l), RNNC_E_ARG, "'axis'");
    FAILS(from_json("Softmax", "{\"axis\": [1, 1]}", &l), RNNC_E_ARG, "repeated");
    FAILS(from_json("Activation", "{}", &l), RNNC_E_ARG, "'activation' is required");
    FAILS(from_json("Activation", "{\"activation\": \"sigmod\"}", &l), RNNC_E_ARG, "sigmoid");
    FAILS(rnnc_relu_create(-1, -0.1, 0, NULL, RNNC_F32, &l), RNNC_E_ARG, "negative_slope");
    FAILS(rnnc_leaky_relu_create(-1, NULL, RNNC_F32, &l), RNNC_E_ARG, "negative_slope");
    FAILS(rnnc_softmax_create((const int[]){0, 0}, 2, NULL, RNNC_F32, &l), RNNC_E_ARG, "repeated");
}

/* ============================================================== Embedding */

static rnnc_layer *small_embedding(bool mask_zero, rnnc_dtype dt)
{
    rnnc_embedding_options o = rnnc_embedding_options_default(3, 2);
    rnnc_layer *l;
    o.mask_zero = mask_zero;
    o.dtype = dt;
    OK(rnnc_embedding_create(&o, &l));
    th_own(l);
    OK(rnnc_layer_build(l, th_shp(RNNC_SHAPE(-1, -1))));
    set_values(((rnnc_embedding *)l)->embeddings, (const double[]){0, 0.5, 1, 1.5, 2, 2.5});
    return l;
}

Test(layers, embedding_lookup_and_mask_zero)
{
    rnnc_layer *l = small_embedding(true, RNNC_F32);
    rnnc_tensor *ids = th_leaf(RNNC_I32, RNNC_SHAPE(2, 2), (const double[]){1, 0, 2, 2}, false);
    rnnc_call_result r = call(l, ids, NULL, false);
    expect_shape(&r.outputs[0]->shape, RNNC_SHAPE(2, 2, 2));
    expect_values(r.outputs[0], (const double[]){1, 1.5, 0, 0.5, 2, 2.5, 2, 2.5}, 8, 0);
    cr_assert_not_null(r.mask);
    expect_values(r.mask, (const double[]){1, 0, 1, 1}, 4, 0);
    /* without mask_zero: no mask, and an incoming one is dropped (Keras) */
    rnnc_layer *nm = small_embedding(false, RNNC_F32);
    rnnc_tensor *m = th_leaf(RNNC_U8, RNNC_SHAPE(2, 2), (const double[]){1, 1, 1, 1}, false);
    cr_expect_null(call(nm, ids, m, false).mask);
    /* float ids are cast (truncated) to int32 */
    rnnc_tensor *fids = th_leaf(RNNC_F32, RNNC_SHAPE(3), (const double[]){2.7, 0.2, 1}, false);
    expect_values(call(nm, fids, NULL, false).outputs[0], (const double[]){2, 2.5, 0, 0.5, 1, 1.5}, 6, 0);
    /* mask_zero compares the inputs as given: 0.2 is not 0 although it looks up row 0 */
    expect_values(call(l, fids, NULL, false).mask, (const double[]){1, 1, 1}, 3, 0);
    rnnc_tensor *fz = th_leaf(RNNC_F32, RNNC_SHAPE(2), (const double[]){0, 1}, false);
    expect_values(call(l, fz, NULL, false).mask, (const double[]){0, 1}, 2, 0);
    FAILS(call_status(nm, th_leaf(RNNC_I32, RNNC_SHAPE(1), (const double[]){3}, false), NULL, false), RNNC_E_ARG, "3");
    rnnc_output_spec spec;
    OK(rnnc_layer_output_spec(l, th_shp(RNNC_SHAPE(-1, 7)), &spec));
    expect_shape(&spec.shapes[0], RNNC_SHAPE(-1, 7, 2));
}

Test(layers, embedding_gradient_scatters_into_the_table)
{
    rnnc_layer *l = small_embedding(false, RNNC_F64);
    rnnc_tensor *ids = th_leaf(RNNC_I32, RNNC_SHAPE(2, 3), (const double[]){1, 0, 2, 2, 2, 1}, false);
    call_user u = {.layer = l};
    rnnc_tensor *in[] = {ids, ((rnnc_embedding *)l)->embeddings};
    gradcheck_ok(&u, in, 2, 1e-8);
}

Test(layers, embedding_config_and_errors)
{
    rnnc_embedding_options o = rnnc_embedding_options_default(10, 4);
    rnnc_layer *l;
    OK(rnnc_embedding_create(&o, &l));
    th_own(l);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"name\": \"embedding\", \"trainable\": true, \"dtype\": %s, \"input_dim\": 10, \"output_dim\": 4, "
             "\"embeddings_initializer\": {\"module\": \"keras.initializers\", \"class_name\": \"RandomUniform\", "
             "\"config\": {\"seed\": null, \"minval\": -0.05, \"maxval\": 0.05}, \"registered_name\": null}, "
             "\"embeddings_regularizer\": null, \"activity_regularizer\": null, \"embeddings_constraint\": null, "
             "\"mask_zero\": false, \"quantization_config\": null}",
             DTYPE_F32);
    expect_config(l, want);
    OK(rnnc_layer_build(l, th_shp(RNNC_SHAPE(-1, 5))));
    const rnnc_tensor *t = ((rnnc_embedding *)l)->embeddings;
    for (size_t i = 0; i < t->numel; i++)
        cr_expect(fabs(rnnc_tensor_get(t, i)) <= 0.05, "uniform(-0.05, 0.05)");
    expect_round_trip(l);
    /* activity_regularizer given: right after dtype and only there */
    rnnc_layer *a;
    OK(from_json("Embedding", "{\"input_dim\": 5, \"output_dim\": 2, \"mask_zero\": true, \"input_length\": 7, "
                              "\"activity_regularizer\": \"l2\"}",
                 &a));
    rnnc_cfg *c;
    OK(rnnc_layer_get_config(a, &c));
    cr_expect_str_eq(c->keys[3], "activity_regularizer");
    cr_expect_str_eq(c->keys[4], "input_dim");
    int count = 0;
    for (size_t i = 0; i < c->n; i++)
        count += strcmp(c->keys[i], "activity_regularizer") == 0;
    cr_expect_eq(count, 1);
    cr_expect(rnnc_cfg_peek(c, "mask_zero")->v.b);
    rnnc_cfg_destroy(c);
    FAILS(from_json("Embedding", "{\"input_dim\": 0, \"output_dim\": 2}", &l), RNNC_E_ARG, "'input_dim'");
    FAILS(from_json("Embedding", "{\"input_dim\": 3, \"output_dim\": true}", &l), RNNC_E_ARG, "'output_dim'");
    FAILS(from_json("Embedding", "{\"input_dim\": 3.5, \"output_dim\": 2}", &l), RNNC_E_ARG, "'input_dim'");
    FAILS(from_json("Embedding", "{\"output_dim\": 2}", &l), RNNC_E_ARG, "required");
    FAILS(from_json("Embedding", "{\"input_dim\": 3, \"output_dim\": 2, \"weights\": [[1, 2]]}", &l),
          RNNC_E_UNSUPPORTED, "'weights'");
    FAILS(from_json("Embedding", "{\"input_dim\": 3, \"output_dim\": 2, \"mask_zeros\": true}", &l), RNNC_E_ARG,
          "did you mean 'mask_zero'");
    FAILS(rnnc_embedding_create(&(rnnc_embedding_options){.input_dim = 3, .output_dim = 0}, &l), RNNC_E_ARG,
          "'output_dim'");
}

/* ======================================================== TimeDistributed */

Test(layers, time_distributed_dense_matches_per_step_dense)
{
    rnnc_layer *d = small_dense(RNNC_F32, RNNC_ACT_RELU);
    th_disown_last(); /* the wrapper owns it now */
    rnnc_layer *td;
    OK(rnnc_time_distributed_create(d, NULL, &td));
    th_own(td);
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(2, 2, 3), (const double[]){1, 0, -1, 2, 1, 0, 0, 1, 0, 1, 1, 1}, false);
    rnnc_tensor *m = th_leaf(RNNC_U8, RNNC_SHAPE(2, 2), (const double[]){1, 0, 1, 1}, false);
    rnnc_call_result r = call(td, x, m, false);
    expect_shape(&r.outputs[0]->shape, RNNC_SHAPE(2, 2, 2));
    expect_values(r.outputs[0], (const double[]){0, 0, 5.5, 7, 3.5, 3, 9.5, 11}, 8, 1e-6);
    cr_expect_eq(r.mask, m, "the input mask is the output mask");
    rnnc_weight *w[4];
    int n;
    OK(rnnc_layer_weights(td, w, 4, &n));
    cr_expect_eq(n, 2, "the wrapped layer's kernel and bias");
    rnnc_output_spec spec;
    OK(rnnc_layer_output_spec(td, th_shp(RNNC_SHAPE(-1, 9, 3)), &spec));
    expect_shape(&spec.shapes[0], RNNC_SHAPE(-1, 9, 2));
    FAILS(call_status(td, th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), NULL, false), NULL, false), RNNC_E_SHAPE,
          "at least 3 dimensions");
    FAILS(rnnc_layer_output_spec(td, th_shp(RNNC_SHAPE(-1, 3)), &spec), RNNC_E_SHAPE, "at least 3 dimensions");
}

Test(layers, time_distributed_dense_gradients)
{
    rnnc_layer *d = small_dense(RNNC_F64, RNNC_ACT_SIGMOID);
    th_disown_last();
    rnnc_layer *td;
    OK(rnnc_time_distributed_create(d, NULL, &td));
    th_own(td);
    rnnc_tensor *x = th_rand_leaf(RNNC_SHAPE(2, 4, 3), 9, -1, 1, true);
    call_user u = {.layer = td};
    rnnc_tensor *in[] = {x, ((rnnc_dense *)d)->kernel, ((rnnc_dense *)d)->bias};
    gradcheck_ok(&u, in, 3, 1e-7);
}

Test(layers, time_distributed_batch_norm_uses_per_step_statistics)
{
    rnnc_layer *bn;
    rnnc_batch_norm_options o = rnnc_batch_norm_options_default();
    o.dtype = RNNC_F64;
    OK(rnnc_batch_norm_create(&o, &bn));
    rnnc_layer *td;
    OK(rnnc_time_distributed_create(bn, NULL, &td));
    th_own(td);
    /* b0: steps 1, 10; b1: 3, 30. Step 0 {1, 3}: mean 2, var 1; step 1
     * {10, 30}: mean 20, var 100 (Keras calls the layer once per step). */
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(2, 2, 1), (const double[]){1, 10, 3, 30}, false);
    rnnc_call_result r = call(td, x, NULL, true);
    double a = 1 / sqrt(1.001), b = 10 / sqrt(100.001);
    expect_values(r.outputs[0], (const double[]){-a, -b, a, b}, 4, 1e-12);
    /* two updates: 0.01 * 2, then 0.99 * 0.02 + 0.01 * 20 */
    expect_values(((rnnc_batch_norm *)bn)->moving_mean, (const double[]){0.99 * 0.02 + 0.2}, 1, 1e-12);
}

Test(layers, time_distributed_config_round_trip)
{
    rnnc_layer *td;
    OK(from_json("TimeDistributed",
                 "{\"name\": \"td\", \"layer\": {\"module\": \"keras.layers\", \"class_name\": \"Dense\", \"config\": "
                 "{\"name\": \"inner\", \"units\": 3}, \"registered_name\": null, \"build_config\": {\"input_shape\": "
                 "[null, 5]}}}",
                 &td));
    rnnc_layer *inner = ((rnnc_time_distributed *)td)->inner;
    cr_expect_str_eq(inner->name, "inner");
    cr_expect(inner->built, "the wrapped layer's build_config built it");
    OK(rnnc_layer_build(td, th_shp(RNNC_SHAPE(-1, 4, 5))));
    rnnc_cfg *c;
    OK(rnnc_layer_get_config(td, &c));
    cr_expect_str_eq(c->keys[3], "layer");
    const rnnc_cfg *lc = rnnc_cfg_peek(c, "layer");
    cr_expect_str_eq(rnnc_cfg_peek(lc, "class_name")->v.s, "Dense");
    expect_json(rnnc_cfg_peek(lc, "build_config"), "{\"input_shape\": [null, 5]}");
    rnnc_cfg_destroy(c);
    expect_round_trip(td);
    rnnc_layer *l;
    FAILS(from_json("TimeDistributed", "{\"name\": \"td\"}", &l), RNNC_E_ARG, "'layer'");
    FAILS(from_json("TimeDistributed", "{\"layer\": {\"class_name\": \"Dense\", \"config\": {\"units\": 0}}}", &l),
          RNNC_E_ARG, "TimeDistributed.layer");
}

/* =============================================================== registry */

Test(layers, registry_builds_from_the_keras3_envelope)
{
    rnnc_layer *l;
    OK(rnnc_layer_from_config(J("{\"module\": \"keras.layers\", \"class_name\": \"Dense\", \"config\": {\"name\": "
                                "\"dense\", \"units\": 1}, \"registered_name\": null, \"build_config\": "
                                "{\"input_shape\": [null, 4]}}"),
                              &l));
    th_own(l);
    cr_expect(l->built);
    expect_shape(&((rnnc_dense *)l)->kernel->shape, RNNC_SHAPE(4, 1));
    /* shapes_dict form (a layer first called with several tensors) */
    rnnc_layer *s;
    OK(rnnc_layer_from_config(J("{\"module\": \"keras.layers\", \"class_name\": \"Dense\", \"config\": {\"units\": 2}, "
                                "\"registered_name\": null, \"build_config\": {\"shapes_dict\": {\"inputs_shape\": "
                                "[null, 3]}}, \"shared_object_id\": 1}"),
                              &s));
    th_own(s);
    expect_shape(&((rnnc_dense *)s)->kernel->shape, RNNC_SHAPE(3, 2));
    /* a Functional model's layer entry carries name and inbound_nodes */
    rnnc_layer *f;
    OK(rnnc_layer_from_config(J("{\"module\": \"keras.layers\", \"class_name\": \"Dense\", \"config\": {\"name\": "
                                "\"d\", \"units\": 2}, \"registered_name\": null, \"name\": \"d\", "
                                "\"inbound_nodes\": []}"),
                              &f));
    th_own(f);
    cr_expect_str_eq(f->name, "d");
}

Test(layers, registry_reads_keras2_form_and_legacy_input_shapes)
{
    rnnc_layer *l;
    rnnc_shape shape;
    bool has;
    OK(rnnc_layer_from_config_ex(J("{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"dtype\": \"float32\", "
                                   "\"units\": 2, \"batch_input_shape\": [null, 5]}}"),
                                 &l, &shape, &has));
    th_own(l);
    cr_expect(has);
    expect_shape(&shape, RNNC_SHAPE(-1, 5));
    cr_expect_not(l->built);
    OK(rnnc_layer_from_config_ex(J("{\"class_name\": \"Masking\", \"config\": {\"input_shape\": [10, 8], "
                                   "\"batch_size\": 4}}"),
                                 &l, &shape, &has));
    th_own(l);
    expect_shape(&shape, RNNC_SHAPE(4, 10, 8));
    OK(rnnc_layer_from_config_ex(J("{\"class_name\": \"Dense\", \"config\": {\"units\": 2, \"input_dim\": 7}}"), &l,
                                 &shape, &has));
    th_own(l);
    expect_shape(&shape, RNNC_SHAPE(-1, 7));
    /* Embedding's input_dim is its vocabulary, not an input shape */
    OK(rnnc_layer_from_config_ex(J("{\"class_name\": \"Embedding\", \"config\": {\"input_dim\": 50, \"output_dim\": 4, "
                                   "\"batch_input_shape\": [null, 12], \"input_length\": 12}}"),
                                 &l, &shape, &has));
    th_own(l);
    cr_expect_eq(((rnnc_embedding *)l)->input_dim, 50);
    expect_shape(&shape, RNNC_SHAPE(-1, 12));
    OK(rnnc_layer_from_config_ex(J("{\"class_name\": \"Dropout\", \"config\": {\"rate\": 0.1}}"), &l, &shape, &has));
    th_own(l);
    cr_expect_not(has);
    FAILS(rnnc_layer_from_config(J("{\"class_name\": \"Dense\", \"config\": {\"units\": 2, \"input_dim\": 3, "
                                   "\"input_shape\": [3]}}"),
                                 &l),
          RNNC_E_ARG, "only one");
}

Test(layers, registry_errors)
{
    rnnc_layer *l;
    FAILS(rnnc_layer_from_config(J("{\"class_name\": \"Dens\", \"config\": {}}"), &l), RNNC_E_ARG,
          "did you mean 'Dense'");
    FAILS(rnnc_layer_from_config(J("{\"class_name\": \"Conv2D\", \"config\": {}}"), &l), RNNC_E_ARG, "Conv2D");
    FAILS(rnnc_layer_from_config(J("{\"config\": {\"units\": 1}}"), &l), RNNC_E_ARG, "class_name");
    FAILS(rnnc_layer_from_config(J("{\"module\": null, \"class_name\": \"Dense\", \"config\": {\"units\": 1}}"), &l),
          RNNC_E_ARG, "custom");
    FAILS(rnnc_layer_from_config(J("{\"module\": \"mylib.layers\", \"class_name\": \"Dense\", \"config\": {}}"), &l),
          RNNC_E_ARG, "mylib.layers");
    FAILS(rnnc_layer_from_config(J("{\"module\": \"keras.layers\", \"class_name\": \"Dense\", \"config\": {\"units\": "
                                   "1}, \"registered_name\": \"Custom>Dense\"}"),
                                 &l),
          RNNC_E_ARG, "Custom>Dense");
    FAILS(rnnc_layer_from_config(J("{\"class_name\": \"Dense\", \"config\": \"dense\"}"), &l), RNNC_E_ARG,
          "'config' must be a map");
    FAILS(rnnc_layer_from_config(J("{\"class_name\": \"Dense\", \"config\": {\"units\": 1}, \"buildconfig\": {}}"),
                                 &l),
          RNNC_E_ARG, "did you mean 'build_config'");
    FAILS(rnnc_layer_from_config(J("{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 3]}}"), &l),
          RNNC_E_ARG, "rnnc_input_layer_from_config");
    FAILS(rnnc_layer_from_config(J("{\"class_name\": \"Dense\", \"config\": {\"units\": 3}, \"build_config\": "
                                   "{\"input_shape\": [null]}}"),
                                 &l),
          RNNC_E_SHAPE, "rank >= 2");
    FAILS(rnnc_layer_from_config(J("[1, 2]"), &l), RNNC_E_ARG, "map");
    FAILS(rnnc_layer_register("Dense", rnnc_dense_from_config), RNNC_E_ARG, "already registered");
    cr_expect_eq(rnnc_layer_class_lookup("BatchNormalization"), rnnc_batch_norm_from_config);
    cr_expect_null(rnnc_layer_class_lookup("Nope"));
}

static rnnc_status alias_dense(const rnnc_cfg *c, rnnc_layer **out) { return rnnc_dense_from_config(c, out); }

Test(layers, registry_accepts_registered_classes)
{
    OK(rnnc_layer_register("MyDense", alias_dense));
    rnnc_layer *l;
    OK(rnnc_layer_from_config(J("{\"class_name\": \"MyDense\", \"config\": {\"units\": 2}}"), &l));
    th_own(l);
    cr_expect_eq(((rnnc_dense *)l)->units, 2);
}

/* ============================================================= InputLayer */

Test(layers, input_layer_configs)
{
    rnnc_input_layer_config in;
    OK(rnnc_input_layer_from_config(J("{\"batch_shape\": [null, 10, 8], \"dtype\": \"float32\", \"sparse\": false, "
                                      "\"ragged\": false, \"name\": \"input_layer\", \"optional\": false}"),
                                    &in));
    expect_shape(&in.batch_shape, RNNC_SHAPE(-1, 10, 8));
    cr_expect_eq(in.dtype, RNNC_F32);
    cr_expect_str_eq(in.name, "input_layer");
    /* Keras 2 */
    OK(rnnc_input_layer_from_config(J("{\"batch_input_shape\": [null, 12], \"dtype\": \"int32\", \"sparse\": false, "
                                      "\"ragged\": false, \"name\": \"input_1\"}"),
                                    &in));
    expect_shape(&in.batch_shape, RNNC_SHAPE(-1, 12));
    cr_expect_eq(in.dtype, RNNC_I32);
    OK(rnnc_input_layer_from_config(J("{\"shape\": [5, 3], \"batch_size\": 16}"), &in));
    expect_shape(&in.batch_shape, RNNC_SHAPE(16, 5, 3));
    cr_expect_eq(in.dtype, RNNC_F32);
    cr_expect_str_eq(in.name, "");
    /* applied to a model, serialized back with Keras 3.15's keys */
    rnnc_model *m;
    OK(rnnc_sequential_create("seq", &m));
    OK(rnnc_input_layer_from_config(J("{\"batch_shape\": [null, 10, 8], \"dtype\": \"float32\", \"name\": \"inp\"}"),
                                    &in));
    OK(rnnc_input_layer_apply(&in, m));
    rnnc_cfg *c;
    OK(rnnc_model_serialize(m, &c));
    const rnnc_cfg *layers = rnnc_cfg_peek(rnnc_cfg_peek(c, "config"), "layers");
    expect_json(rnnc_cfg_peek(layers->items[0], "config"),
                "{\"batch_shape\": [null, 10, 8], \"dtype\": \"float32\", \"sparse\": false, \"ragged\": false, "
                "\"name\": \"inp\", \"optional\": false}");
    rnnc_cfg_destroy(c);
    rnnc_model_destroy(m);
    FAILS(rnnc_input_layer_from_config(J("{\"shape\": [3], \"batch_shape\": [null, 3]}"), &in), RNNC_E_ARG,
          "both 'shape' and 'batch_shape'");
    FAILS(rnnc_input_layer_from_config(J("{\"batch_size\": 2, \"batch_shape\": [2, 3]}"), &in), RNNC_E_ARG,
          "both 'batch_size' and 'batch_shape'");
    FAILS(rnnc_input_layer_from_config(J("{\"name\": \"x\"}"), &in), RNNC_E_ARG, "'shape'");
    FAILS(rnnc_input_layer_from_config(J("{\"shape\": [3], \"sparse\": true}"), &in), RNNC_E_UNSUPPORTED, "sparse");
    FAILS(rnnc_input_layer_from_config(J("{\"shape\": [3], \"ragged\": true}"), &in), RNNC_E_UNSUPPORTED, "ragged");
    FAILS(rnnc_input_layer_from_config(J("{\"shape\": [3], \"dtype\": \"complex64\"}"), &in), RNNC_E_ARG,
          "complex64");
    FAILS(rnnc_input_layer_from_config(J("{\"shape\": [3], \"shpe\": [3]}"), &in), RNNC_E_ARG,
          "did you mean 'shape'");
    FAILS(rnnc_input_layer_from_config(J("{\"shape\": [-3]}"), &in), RNNC_E_ARG, "'shape'");
}
