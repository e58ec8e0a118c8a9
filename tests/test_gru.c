/* test_gru.c - the GRU layer and GRUCell API (layers/gru.h, gru_cell.h):
 * Keras's defaults, weights and their initial values, from_config
 * validation and its error messages, get_config's exact key order and
 * value forms, from_config(get_config()) round trips, use_cudnn, losses,
 * dropout (exact with injected masks against the independent reference
 * GRU, and statistically for drawn masks), the standalone cell.
 *
 * Numbers against Keras itself are in test_gru_keras.c; fused versus
 * generic in test_gru_fused.c; the RNN protocol in test_rnn.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "framework/gradcheck.h"
#include "framework/ops.h"
#include "framework/rnn.h"
#include "helpers/fixture.h"
#include "io/spec_reader.h"
#include "layers/gru.h"

static rnnc_ctx *cx;

static void setup(void) { cx = rnnc_ctx_create(); }
static void teardown(void) { rnnc_ctx_destroy(cx); }

TestSuite(gru, .init = setup, .fini = teardown);

#define OK(expr) cr_assert_eq((expr), RNNC_OK, "%s failed: %s", #expr, rnnc_last_error())

static rnnc_cfg *parse(const char *json)
{
    rnnc_cfg *c = NULL;
    OK(rnnc_spec_read_string(json, strlen(json), "test", &c));
    return c;
}

static rnnc_status gru_from_json(const char *json, rnnc_layer **out)
{
    rnnc_cfg *c = parse(json);
    rnnc_status s = rnnc_gru_from_config(c, out);
    rnnc_cfg_destroy(c);
    return s;
}

static rnnc_tensor *ctx_uniform(rnnc_dtype dt, rnnc_shape s, uint64_t seed, double lo, double hi)
{
    rnnc_tensor *t;
    OK(rnnc_fixture_uniform(dt, &s, seed, lo, hi, &t));
    OK(rnnc_ctx_adopt(cx, t));
    return t;
}

static rnnc_status call(rnnc_layer *l, rnnc_tensor *x, rnnc_tensor *h0, bool training,
                        rnnc_call_result *res)
{
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = h0 ? 2 : 1;
    a.inputs[0] = x;
    a.inputs[1] = h0;
    a.training = training;
    return rnnc_layer_call(l, cx, &a, res);
}

static void randomize_weights(rnnc_layer *l, uint64_t seed)
{
    rnnc_weight *w[3];
    int n;
    OK(rnnc_layer_weights(l, w, 3, &n));
    for (int i = 0; i < n; i++) {
        rnnc_tensor *r;
        OK(rnnc_fixture_uniform(w[i]->value->dtype, &w[i]->value->shape, seed + (uint64_t)i, -0.5,
                                0.5, &r));
        OK(rnnc_tensor_copy(w[i]->value, r));
        rnnc_tensor_destroy(r);
    }
}

/* ---- defaults, weights, initial values ------------------------------------ */

Test(gru, options_have_keras_defaults)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    cr_assert_eq(o.activation, RNNC_ACT_TANH);
    cr_assert_eq(o.recurrent_activation, RNNC_ACT_SIGMOID);
    cr_assert(o.use_bias && o.reset_after && o.trainable);
    cr_assert(!o.return_sequences && !o.return_state && !o.go_backwards && !o.stateful &&
              !o.unroll && !o.zero_output_for_mask && !o.has_seed);
    cr_assert_eq(o.dropout, 0.0);
    cr_assert_eq(o.recurrent_dropout, 0.0);
    cr_assert_eq(o.implementation, 2);
    cr_assert_eq(o.use_cudnn, RNNC_USE_CUDNN_AUTO);
    cr_assert_eq(o.dtype, RNNC_F32);
    rnnc_layer *l;
    cr_assert_eq(rnnc_gru_create(&o, &l), RNNC_E_ARG, "units is required");
    cr_assert(strstr(rnnc_last_error(), "units"), "%s", rnnc_last_error());
}

Test(gru, weights_in_keras_order_and_shapes)
{
    const struct {
        bool reset_after, use_bias;
        int n;
        rnnc_shape bias;
        size_t bias_numel;
    } v[3] = {{true, true, 3, RNNC_SHAPE(2, 12), 24},
              {false, true, 3, RNNC_SHAPE(12), 12},
              {true, false, 2, RNNC_SHAPE(1), 0}};
    for (int i = 0; i < 3; i++) {
        rnnc_gru_options o = rnnc_gru_options_default();
        o.units = 4;
        o.reset_after = v[i].reset_after;
        o.use_bias = v[i].use_bias;
        rnnc_layer *l;
        OK(rnnc_gru_create(&o, &l));
        cr_assert_str_eq(rnnc_rnn_cell_of(l)->name, "gru_cell");
        cr_assert(!l->built);
        rnnc_shape in = RNNC_SHAPE(2, 5, 3);
        OK(rnnc_layer_build(l, &in));
        rnnc_weight *w[4];
        int n;
        OK(rnnc_layer_weights(l, w, 4, &n));
        cr_assert_eq(n, v[i].n);
        rnnc_shape ks = RNNC_SHAPE(3, 12), rs = RNNC_SHAPE(4, 12);
        cr_assert_str_eq(w[0]->name, "kernel");
        cr_assert(rnnc_shape_eq(&w[0]->value->shape, &ks));
        cr_assert_str_eq(w[1]->name, "recurrent_kernel");
        cr_assert(rnnc_shape_eq(&w[1]->value->shape, &rs));
        if (n == 3) {
            cr_assert_str_eq(w[2]->name, "bias");
            cr_assert(rnnc_shape_eq(&w[2]->value->shape, &v[i].bias));
        }
        cr_assert_eq(l->n_weights, 0, "GRU owns no variables itself");
        cr_assert_eq(rnnc_layer_count_params(l), 36 + 48 + v[i].bias_numel);
        rnnc_layer_destroy(l);
    }
}

Test(gru, default_initial_values)
{
    /* glorot_uniform kernel (fan_out = 3U), orthogonal recurrent kernel
     * (rows orthonormal across the three gates), zero bias. */
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 8;
    o.dtype = RNNC_F64;
    rnnc_layer *l;
    OK(rnnc_gru_create(&o, &l));
    rnnc_shape in = RNNC_SHAPE(1, 1, 16);
    OK(rnnc_layer_build(l, &in));
    rnnc_gru_cell *c = rnnc_gru_cell_of_layer(l);
    const double lim = sqrt(6.0 / (16.0 + 24.0));
    double sumsq = 0.0;
    for (size_t i = 0; i < c->kernel->numel; i++) {
        double v = rnnc_f64(c->kernel)[i];
        cr_assert(fabs(v) <= lim);
        sumsq += v * v;
    }
    /* uniform(-L, L) has variance L^2/3; 384 samples: within 25 % */
    double var = sumsq / (double)c->kernel->numel;
    cr_assert(fabs(var - lim * lim / 3.0) < 0.25 * lim * lim / 3.0, "variance %g", var);
    const double *R = rnnc_f64(c->recurrent_kernel);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            double d = 0.0;
            for (int k = 0; k < 24; k++)
                d += R[i * 24 + k] * R[j * 24 + k];
            cr_assert_float_eq(d, i == j ? 1.0 : 0.0, 1e-12, "R R^T[%d,%d] = %g", i, j, d);
        }
    for (size_t i = 0; i < c->bias->numel; i++)
        cr_assert_eq(rnnc_f64(c->bias)[i], 0.0);
    rnnc_layer_destroy(l);
}

/* ---- from_config validation ------------------------------------------------ */

Test(gru, from_config_rejects_bad_arguments_by_name)
{
    const struct {
        const char *json;
        rnnc_status s;
        const char *msg1, *msg2;
    } bad[] = {
        {"{\"units\": 0}", RNNC_E_ARG, "'units'", "positive integer"},
        {"{\"units\": -3}", RNNC_E_ARG, "'units'", "-3"},
        {"{\"units\": 2.5}", RNNC_E_ARG, "'units'", "float"},
        {"{\"units\": \"4\"}", RNNC_E_ARG, "'units'", "string"},
        {"{\"units\": true}", RNNC_E_ARG, "'units'", "bool"},
        {"{\"name\": \"gru\"}", RNNC_E_ARG, "missing", "'units'"},
        {"{\"units\": 4, \"activation\": \"tanhh\"}", RNNC_E_ARG, "GRU.activation", "tanh"},
        {"{\"units\": 4, \"recurrent_activation\": \"sigmod\"}", RNNC_E_ARG,
         "GRU.recurrent_activation", "sigmoid"},
        {"{\"units\": 4, \"activation\": 3}", RNNC_E_ARG, "GRU.activation", "could not interpret"},
        {"{\"units\": 4, \"kernel_initializer\": \"glorot_uniformm\"}", RNNC_E_ARG,
         "GRU.kernel_initializer", "glorot_uniform"},
        {"{\"units\": 4, \"recurrent_initializer\": {\"class_name\": \"NoSuchInit\", \"config\": {}}}",
         RNNC_E_ARG, "GRU.recurrent_initializer", "NoSuchInit"},
        {"{\"units\": 4, \"kernel_regularizer\": \"l1_l2\"}", RNNC_E_ARG, "GRU.kernel_regularizer",
         "l1_l2"},
        {"{\"units\": 4, \"activity_regularizer\": \"l3\"}", RNNC_E_ARG,
         "GRU.activity_regularizer", "l3"},
        {"{\"units\": 4, \"bias_constraint\": \"maxnorm\"}", RNNC_E_ARG, "GRU.bias_constraint",
         "maxnorm"},
        {"{\"units\": 4, \"seed\": \"abc\"}", RNNC_E_ARG, "'seed'", "integer or null"},
        {"{\"units\": 4, \"seed\": 1.5}", RNNC_E_ARG, "'seed'", "float"},
        {"{\"units\": 4, \"use_cudnn\": \"yes\"}", RNNC_E_ARG, "'use_cudnn'", "'auto', true or false"},
        {"{\"units\": 4, \"use_cudnn\": 2}", RNNC_E_ARG, "'use_cudnn'", "'auto'"},
        {"{\"units\": 4, \"implementation\": 3}", RNNC_E_ARG, "'implementation'", "1 or 2"},
        {"{\"units\": 4, \"unitz\": 5}", RNNC_E_ARG, "'unitz'", "did you mean 'units'"},
        {"{\"units\": 4, \"return_sequence\": true}", RNNC_E_ARG, "'return_sequence'",
         "return_sequences"},
        {"{\"units\": 4, \"time_major\": true}", RNNC_E_UNSUPPORTED, "time_major", "false"},
        {"{\"units\": 4, \"name\": \"a/b\"}", RNNC_E_ARG, "a/b", "'/'"},
        {"{\"units\": 4, \"trainable\": \"yes\"}", RNNC_E_ARG, "trainable", "true or false"},
        {"{\"units\": 4, \"dtype\": \"int8\"}", RNNC_E_UNSUPPORTED, "int8", "float32"},
        {"{\"units\": 4, \"go_backwards\": 1}", RNNC_E_ARG, "go_backwards", "true or false"},
        {"{\"units\": 4, \"dropout\": \"0.5\"}", RNNC_E_ARG, "dropout", "number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rnnc_layer *l = NULL;
        rnnc_status s = gru_from_json(bad[i].json, &l);
        cr_expect_eq(s, bad[i].s, "%s: got %s (%s)", bad[i].json, rnnc_status_str(s),
                     rnnc_last_error());
        cr_expect_null(l);
        cr_expect(strstr(rnnc_last_error(), bad[i].msg1) && strstr(rnnc_last_error(), bad[i].msg2),
                  "%s: message '%s' lacks '%s' / '%s'", bad[i].json, rnnc_last_error(),
                  bad[i].msg1, bad[i].msg2);
        rnnc_layer_destroy(l);
    }
}

Test(gru, from_config_accepts_keras_forms)
{
    rnnc_layer *l;
    OK(gru_from_json("{\"units\": 3, \"time_major\": false, \"implementation\": 1, "
                     "\"use_cudnn\": true, \"dropout\": 1.7, \"recurrent_dropout\": -2, "
                     "\"activation\": null, \"recurrent_activation\": {\"module\": "
                     "\"keras.activations\", \"class_name\": \"function\", \"config\": "
                     "\"hard_sigmoid\", \"registered_name\": \"hard_sigmoid\"}, \"seed\": 42, "
                     "\"autocast\": true, \"bias_initializer\": null, \"name\": \"enc\"}",
                     &l));
    rnnc_gru_cell *c = rnnc_gru_cell_of_layer(l);
    cr_assert_str_eq(l->name, "enc");
    cr_assert_eq(c->activation, RNNC_ACT_LINEAR);
    cr_assert_eq(c->recurrent_activation, RNNC_ACT_HARD_SIGMOID);
    cr_assert_eq(c->dropout, 1.0);
    cr_assert_eq(c->recurrent_dropout, 0.0);
    cr_assert_eq(c->implementation, 1);
    cr_assert_eq(rnnc_gru_use_cudnn(l), RNNC_USE_CUDNN_TRUE);
    rnnc_cfg *conf;
    OK(rnnc_layer_get_config(l, &conf));
    cr_assert_str_eq(rnnc_cfg_peek(conf, "activation")->v.s, "linear");
    cr_assert_str_eq(rnnc_cfg_peek(conf, "recurrent_activation")->v.s, "hard_sigmoid");
    cr_assert_eq(rnnc_cfg_peek(conf, "dropout")->type, RNNC_CFG_FLOAT);
    cr_assert_eq(rnnc_cfg_peek(conf, "dropout")->v.f, 1.0);
    cr_assert_eq(rnnc_cfg_peek(conf, "recurrent_dropout")->v.f, 0.0);
    cr_assert_eq(rnnc_cfg_peek(conf, "seed")->v.i, 42);
    cr_assert_eq(rnnc_cfg_peek(conf, "bias_initializer")->type, RNNC_CFG_NULL);
    cr_assert_null(rnnc_cfg_peek(conf, "use_cudnn"));
    cr_assert_null(rnnc_cfg_peek(conf, "implementation"));
    cr_assert_null(rnnc_cfg_peek(conf, "time_major"));
    rnnc_cfg_destroy(conf);
    /* bias_initializer None -> add_weight's glorot_uniform: not zeros */
    rnnc_shape in = RNNC_SHAPE(2, 3, 5);
    OK(rnnc_layer_build(l, &in));
    double s = 0.0;
    for (size_t i = 0; i < c->bias->numel; i++)
        s += fabs(rnnc_tensor_get(c->bias, i));
    cr_assert_gt(s, 0.0);
    rnnc_layer_destroy(l);

    /* 0 / 1 pass as False / True (Python equality); swish is silu. */
    OK(gru_from_json("{\"units\": 2, \"use_cudnn\": 0, \"activation\": \"swish\"}", &l));
    cr_assert_eq(rnnc_gru_use_cudnn(l), RNNC_USE_CUDNN_FALSE);
    OK(rnnc_layer_get_config(l, &conf));
    cr_assert_str_eq(rnnc_cfg_peek(conf, "activation")->v.s, "silu");
    rnnc_cfg_destroy(conf);
    rnnc_layer_destroy(l);
    OK(gru_from_json("{\"units\": 2, \"use_cudnn\": \"auto\"}", &l));
    cr_assert_eq(rnnc_gru_use_cudnn(l), RNNC_USE_CUDNN_AUTO);
    rnnc_layer_destroy(l);
}

/* ---- get_config ------------------------------------------------------------- */

static const char *const keras_keys[] = {
    "name", "trainable", "dtype", "return_sequences", "return_state", "go_backwards",
    "stateful", "unroll", "zero_output_for_mask", "units", "activation",
    "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer",
    "bias_initializer", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
    "activity_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint",
    "dropout", "recurrent_dropout", "reset_after", "seed"};
#define N_KEYS ((int)(sizeof keras_keys / sizeof keras_keys[0]))

Test(gru, get_config_key_order_and_value_forms)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 4;
    rnnc_layer *l;
    OK(rnnc_gru_create(&o, &l));
    rnnc_cfg *c;
    OK(rnnc_layer_get_config(l, &c));
    cr_assert_eq((int)c->n, N_KEYS);
    for (int i = 0; i < N_KEYS; i++)
        cr_assert_str_eq(c->keys[i], keras_keys[i], "key %d", i);
    const rnnc_cfg *dt = rnnc_cfg_peek(c, "dtype");
    cr_assert_str_eq(rnnc_cfg_peek(dt, "class_name")->v.s, "DTypePolicy");
    cr_assert_str_eq(rnnc_cfg_peek(rnnc_cfg_peek(dt, "config"), "name")->v.s, "float32");
    cr_assert_str_eq(rnnc_cfg_peek(c, "activation")->v.s, "tanh");
    cr_assert_str_eq(rnnc_cfg_peek(c, "recurrent_activation")->v.s, "sigmoid");
    const char *inits[3][2] = {{"kernel_initializer", "GlorotUniform"},
                               {"recurrent_initializer", "Orthogonal"},
                               {"bias_initializer", "Zeros"}};
    for (int i = 0; i < 3; i++) {
        const rnnc_cfg *e = rnnc_cfg_peek(c, inits[i][0]);
        cr_assert_str_eq(rnnc_cfg_peek(e, "module")->v.s, "keras.initializers");
        cr_assert_str_eq(rnnc_cfg_peek(e, "class_name")->v.s, inits[i][1]);
        cr_assert_eq(rnnc_cfg_peek(e, "registered_name")->type, RNNC_CFG_NULL);
    }
    cr_assert_eq(rnnc_cfg_peek(c, "kernel_regularizer")->type, RNNC_CFG_NULL);
    cr_assert_eq(rnnc_cfg_peek(c, "activity_regularizer")->type, RNNC_CFG_NULL);
    cr_assert_eq(rnnc_cfg_peek(c, "bias_constraint")->type, RNNC_CFG_NULL);
    cr_assert_eq(rnnc_cfg_peek(c, "units")->type, RNNC_CFG_INT);
    cr_assert_eq(rnnc_cfg_peek(c, "dropout")->type, RNNC_CFG_FLOAT);
    cr_assert_eq(rnnc_cfg_peek(c, "seed")->type, RNNC_CFG_NULL);
    rnnc_cfg_destroy(c);
    rnnc_layer_destroy(l);

    /* With an activity regularizer, Keras's base config places it after
     * dtype, and the GRU's own entry updates it there. */
    OK(gru_from_json("{\"units\": 4, \"activity_regularizer\": \"l2\"}", &l));
    OK(rnnc_layer_get_config(l, &c));
    cr_assert_eq((int)c->n, N_KEYS);
    cr_assert_str_eq(c->keys[3], "activity_regularizer");
    cr_assert_str_eq(rnnc_cfg_peek(rnnc_cfg_peek(c, "activity_regularizer"), "class_name")->v.s,
                     "L2");
    for (int i = 3, j = 3; i < N_KEYS; i++) {
        if (!strcmp(keras_keys[i], "activity_regularizer"))
            continue;
        cr_assert_str_eq(c->keys[++j], keras_keys[i]);
    }
    rnnc_cfg_destroy(c);
    rnnc_layer_destroy(l);
}

static bool cfg_equal(const rnnc_cfg *a, const rnnc_cfg *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case RNNC_CFG_NULL: return true;
    case RNNC_CFG_BOOL: return a->v.b == b->v.b;
    case RNNC_CFG_INT: return a->v.i == b->v.i;
    case RNNC_CFG_FLOAT: return a->v.f == b->v.f;
    case RNNC_CFG_STRING: return strcmp(a->v.s, b->v.s) == 0;
    default:
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++)
            if ((a->type == RNNC_CFG_MAP && strcmp(a->keys[i], b->keys[i])) ||
                !cfg_equal(a->items[i], b->items[i]))
                return false;
        return true;
    }
}

Test(gru, from_config_of_get_config_round_trips)
{
    const char *json =
        "{\"name\": \"g7\", \"trainable\": false, \"dtype\": \"float64\", \"units\": 5, "
        "\"activity_regularizer\": {\"class_name\": \"L1\", \"config\": {\"l1\": 0.5}}, "
        "\"return_sequences\": true, \"return_state\": true, \"go_backwards\": true, "
        "\"stateful\": true, \"unroll\": true, \"zero_output_for_mask\": true, "
        "\"activation\": \"relu\", \"recurrent_activation\": \"hard_sigmoid\", "
        "\"use_bias\": false, \"kernel_initializer\": {\"class_name\": \"RandomNormal\", "
        "\"config\": {\"mean\": 0.5, \"stddev\": 2, \"seed\": 3}}, "
        "\"recurrent_initializer\": \"identity\", \"bias_initializer\": \"ones\", "
        "\"kernel_regularizer\": \"l2\", \"recurrent_regularizer\": {\"class_name\": \"L1L2\", "
        "\"config\": {\"l1\": 0.1, \"l2\": 0.2}}, \"bias_regularizer\": null, "
        "\"kernel_constraint\": \"max_norm\", \"recurrent_constraint\": {\"class_name\": "
        "\"MinMaxNorm\", \"config\": {\"min_value\": 0.1, \"max_value\": 2.0, \"rate\": 0.5, "
        "\"axis\": 1}}, \"bias_constraint\": \"non_neg\", \"dropout\": 0.25, "
        "\"recurrent_dropout\": 0.125, \"reset_after\": false, \"seed\": 1234}";
    rnnc_layer *a, *b;
    OK(gru_from_json(json, &a));
    rnnc_cfg *ca, *cb;
    OK(rnnc_layer_get_config(a, &ca));
    cr_assert_eq((int)ca->n, N_KEYS);
    cr_assert_str_eq(ca->keys[3], "activity_regularizer");
    cr_assert_eq(rnnc_cfg_peek(ca, "trainable")->v.b, false);
    cr_assert_str_eq(rnnc_cfg_peek(rnnc_cfg_peek(rnnc_cfg_peek(ca, "dtype"), "config"), "name")->v.s,
                     "float64");
    cr_assert_str_eq(rnnc_cfg_peek(rnnc_cfg_peek(ca, "recurrent_constraint"), "class_name")->v.s,
                     "MinMaxNorm");
    cr_assert_eq(rnnc_cfg_peek(ca, "recurrent_dropout")->v.f, 0.125);
    OK(rnnc_gru_from_config(ca, &b));
    OK(rnnc_layer_get_config(b, &cb));
    cr_assert(cfg_equal(ca, cb), "from_config(get_config()) changed the config");
    cr_assert_eq(b->dtype, RNNC_F64);
    cr_assert_eq(rnnc_gru_cell_of_layer(b)->implementation, 1, "recurrent_dropout forces implementation 1");
    rnnc_cfg_destroy(ca);
    rnnc_cfg_destroy(cb);
    rnnc_layer_destroy(a);
    rnnc_layer_destroy(b);
}

Test(gru, options_constructor_matches_from_config)
{
    /* The C constructor and the Keras config build the same layer. */
    rnnc_cfg *l2c = parse("{\"class_name\": \"L2\", \"config\": {\"l2\": 0.03}}");
    rnnc_regularizer *reg;
    OK(rnnc_regularizer_from_config(l2c, "test", &reg));
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 6;
    o.name = "twin";
    o.kernel_regularizer = reg;
    o.go_backwards = true;
    o.dropout = 0.5;
    o.has_seed = true;
    o.seed = 9;
    rnnc_layer *a, *b;
    OK(rnnc_gru_create(&o, &a));
    rnnc_regularizer_destroy(reg); /* the layer cloned it */
    rnnc_cfg_destroy(l2c);
    rnnc_cfg *ca, *cb;
    OK(rnnc_layer_get_config(a, &ca));
    OK(rnnc_gru_from_config(ca, &b));
    OK(rnnc_layer_get_config(b, &cb));
    cr_assert(cfg_equal(ca, cb));
    cr_assert_eq(rnnc_cfg_peek(ca, "go_backwards")->v.b, true);
    cr_assert_str_eq(rnnc_cfg_peek(rnnc_cfg_peek(ca, "kernel_regularizer"), "class_name")->v.s, "L2");
    cr_assert_eq(rnnc_cfg_peek(ca, "seed")->v.i, 9);
    rnnc_cfg_destroy(ca);
    rnnc_cfg_destroy(cb);
    rnnc_layer_destroy(a);
    rnnc_layer_destroy(b);
}

/* ---- call-time behaviour ----------------------------------------------------- */

Test(gru, use_cudnn_true_fails_at_call_time)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 3;
    rnnc_tensor *x = ctx_uniform(RNNC_F32, RNNC_SHAPE(2, 4, 3), 1, -1, 1);
    rnnc_call_result r;
    for (int v = 0; v < 3; v++) {
        o.use_cudnn = (rnnc_use_cudnn)v;
        rnnc_layer *l;
        OK(rnnc_gru_create(&o, &l)); /* never at construction */
        rnnc_status s = call(l, x, NULL, false, &r);
        if (o.use_cudnn == RNNC_USE_CUDNN_TRUE) {
            cr_assert_eq(s, RNNC_E_NODEV);
            cr_assert(strstr(rnnc_last_error(), "use_cudnn=True") &&
                          strstr(rnnc_last_error(), "'auto'") && strstr(rnnc_last_error(), "gru"),
                      "%s", rnnc_last_error());
        } else {
            cr_assert_eq(s, RNNC_OK, "%s", rnnc_last_error());
        }
        rnnc_layer_destroy(l);
    }
}

/* A configuration cuDNN cannot run is named before the machine is looked at. */
Test(gru, use_cudnn_true_names_the_failing_condition)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 3;
    o.use_cudnn = RNNC_USE_CUDNN_TRUE;
    o.reset_after = false;
    rnnc_tensor *x = ctx_uniform(RNNC_F32, RNNC_SHAPE(2, 4, 3), 1, -1, 1);
    rnnc_call_result r;
    rnnc_layer *l;
    OK(rnnc_gru_create(&o, &l));
    rnnc_status s = call(l, x, NULL, false, &r);
    cr_assert_eq(s, RNNC_E_UNSUPPORTED, "%s", rnnc_last_error());
    cr_assert(strstr(rnnc_last_error(), "reset_after") && strstr(rnnc_last_error(), "'auto'"), "%s",
              rnnc_last_error());
    rnnc_layer_destroy(l);
}

Test(gru, call_errors)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 3;
    o.stateful = true;
    rnnc_layer *l;
    OK(rnnc_gru_create(&o, &l));
    rnnc_call_result r;
    rnnc_tensor *x4 = ctx_uniform(RNNC_F32, RNNC_SHAPE(2, 4, 3, 1), 1, -1, 1);
    cr_assert_eq(call(l, x4, NULL, false, &r), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "GRU 'gru") && strstr(rnnc_last_error(), "ndim=4"), "%s",
              rnnc_last_error());
    rnnc_tensor *x = ctx_uniform(RNNC_F32, RNNC_SHAPE(2, 4, 3), 1, -1, 1);
    OK(call(l, x, NULL, false, &r));
    rnnc_tensor *x5 = ctx_uniform(RNNC_F32, RNNC_SHAPE(5, 4, 3), 1, -1, 1);
    cr_assert_eq(call(l, x5, NULL, false, &r), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "batch size 2") && strstr(rnnc_last_error(), "(5, 4, 3)"),
              "%s", rnnc_last_error());
    rnnc_layer_destroy(l);

    /* glu halves the last axis: Keras accepts the name, fails at call. */
    o = rnnc_gru_options_default();
    o.units = 4;
    o.activation = RNNC_ACT_GLU;
    OK(rnnc_gru_create(&o, &l));
    rnnc_tensor *xg = ctx_uniform(RNNC_F32, RNNC_SHAPE(2, 4, 3), 1, -1, 1);
    cr_assert_eq(call(l, xg, NULL, false, &r), RNNC_E_UNSUPPORTED);
    cr_assert(strstr(rnnc_last_error(), "glu"), "%s", rnnc_last_error());
    rnnc_layer_destroy(l);
}

Test(gru, losses_are_weight_and_activity_penalties)
{
    rnnc_layer *l;
    OK(gru_from_json("{\"units\": 3, \"dtype\": \"float64\", \"return_state\": true, "
                     "\"kernel_regularizer\": {\"class_name\": \"L2\", \"config\": {\"l2\": 0.01}}, "
                     "\"recurrent_regularizer\": {\"class_name\": \"L1\", \"config\": {\"l1\": 0.02}}, "
                     "\"bias_regularizer\": {\"class_name\": \"L1L2\", \"config\": {\"l1\": 0.01, \"l2\": 0.02}}, "
                     "\"activity_regularizer\": {\"class_name\": \"L2\", \"config\": {\"l2\": 0.03}}}",
                     &l));
    rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(4, 5, 2), 3, -1, 1);
    rnnc_shape in = RNNC_SHAPE(4, 5, 2);
    OK(rnnc_layer_build(l, &in));
    randomize_weights(l, 77);
    rnnc_call_result r;
    OK(call(l, x, NULL, true, &r));
    rnnc_gru_cell *c = rnnc_gru_cell_of_layer(l);
    /* Keras (TF) applies the coefficients as float32 constants. */
#define K32(c) ((double)(float)(c))
    double want = 0.0;
    for (size_t i = 0; i < c->kernel->numel; i++)
        want += K32(0.01) * pow(rnnc_f64(c->kernel)[i], 2);
    for (size_t i = 0; i < c->recurrent_kernel->numel; i++)
        want += K32(0.02) * fabs(rnnc_f64(c->recurrent_kernel)[i]);
    for (size_t i = 0; i < c->bias->numel; i++)
        want += K32(0.01) * fabs(rnnc_f64(c->bias)[i]) + K32(0.02) * pow(rnnc_f64(c->bias)[i], 2);
    /* activity: every returned tensor, divided by its batch size (3.14+) */
    for (int o = 0; o < 2; o++) {
        double s = 0.0;
        for (size_t i = 0; i < r.outputs[o]->numel; i++)
            s += pow(rnnc_f64(r.outputs[o])[i], 2);
        want += K32(0.03) * s / 4.0;
    }
    rnnc_tensor *loss;
    OK(rnnc_layer_losses(l, cx, &loss));
    cr_assert_not_null(loss);
    cr_assert_float_eq(rnnc_f64(loss)[0], want, 1e-12 * fabs(want));
    rnnc_layer_destroy(l);
}

/* ---- dropout ----------------------------------------------------------------- */

/* Reference outputs (B, T, U) for the layer's weights with per-gate masks. */
static void reference(rnnc_layer *l, rnnc_tensor *x, const rnnc_tensor *const in[3],
                      const rnnc_tensor *const rec[3], double *Y, double *last, double *hT)
{
    rnnc_gru_cell *c = rnnc_gru_cell_of_layer(l);
    double *xd = rnnc_fixture_doubles(x), *W = rnnc_fixture_doubles(c->kernel);
    double *R = rnnc_fixture_doubles(c->recurrent_kernel);
    double *b = c->bias ? rnnc_fixture_doubles(c->bias) : NULL;
    double *im[3] = {0}, *rm[3] = {0};
    rnnc_ref_gru_args a = {.B = x->shape.dim[0], .T = x->shape.dim[1], .F = x->shape.dim[2],
                           .U = c->units, .x = xd, .W = W, .R = R, .bias = b, .act = "tanh",
                           .ract = "sigmoid", .reset_after = c->reset_after};
    for (int g = 0; g < 3; g++) {
        im[g] = in && in[g] ? rnnc_fixture_doubles(in[g]) : NULL;
        rm[g] = rec && rec[g] ? rnnc_fixture_doubles(rec[g]) : NULL;
        a.in_mask[g] = im[g];
        a.rec_mask[g] = rm[g];
    }
    cr_assert(rnnc_ref_gru(&a, Y, last, hT));
    for (int g = 0; g < 3; g++) {
        free(im[g]);
        free(rm[g]);
    }
    free(xd);
    free(W);
    free(R);
    free(b);
}

static double max_diff(const rnnc_tensor *t, const double *want)
{
    double m = 0.0;
    for (size_t i = 0; i < t->numel; i++) {
        double d = fabs(rnnc_tensor_get(t, i) - want[i]);
        if (!(d <= m))
            m = d;
    }
    return m;
}

static rnnc_tensor *dropout_mask(rnnc_shape s, uint64_t seed, double rate)
{
    rnnc_tensor *u = ctx_uniform(RNNC_F64, s, seed, 0, 1), *m;
    OK(rnnc_ctx_tensor(cx, RNNC_F64, &s, &m));
    for (size_t i = 0; i < m->numel; i++)
        rnnc_f64(m)[i] = rnnc_f64(u)[i] < rate ? 0.0 : 1.0 / (1.0 - rate);
    return m;
}

Test(gru, input_dropout_exact_with_injected_mask)
{
    /* Implementation 2: one (B, F) mask shared by the three gates and by
     * every timestep; on both kernels; not applied outside training. */
    for (int v = 0; v < 4; v++) {
        rnnc_gru_options o = rnnc_gru_options_default();
        o.units = 4;
        o.dtype = RNNC_F64;
        o.dropout = 0.4;
        o.return_sequences = true;
        o.reset_after = v & 1;
        rnnc_layer *l;
        OK(rnnc_gru_create(&o, &l));
        OK(rnnc_gru_set_kernel(l, (v & 2) ? RNNC_GRU_KERNEL_FUSED : RNNC_GRU_KERNEL_GENERIC));
        rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(3, 5, 6), 10 + (uint64_t)v, -1, 1);
        rnnc_shape in = RNNC_SHAPE(3, 5, 6);
        OK(rnnc_layer_build(l, &in));
        randomize_weights(l, 20 + (uint64_t)v);
        const rnnc_tensor *M = dropout_mask(RNNC_SHAPE(3, 6), 30 + (uint64_t)v, 0.4);
        const rnnc_tensor *in3[3] = {M, M, M};
        double Y[3 * 5 * 4], last[12], hT[12];
        reference(l, x, in3, NULL, Y, last, hT);
        rnnc_call_result r;
        OK(rnnc_gru_set_dropout_masks(l, &M, 1, NULL, 0));
        OK(call(l, x, NULL, true, &r));
        cr_assert_lt(max_diff(r.outputs[0], Y), 1e-12, "variant %d", v);
        /* inference: no dropout */
        reference(l, x, NULL, NULL, Y, last, hT);
        OK(rnnc_gru_set_dropout_masks(l, &M, 1, NULL, 0));
        OK(call(l, x, NULL, false, &r));
        cr_assert_lt(max_diff(r.outputs[0], Y), 1e-12, "variant %d", v);
        /* a wrong mask count is refused at the call */
        const rnnc_tensor *two[2] = {M, M};
        OK(rnnc_gru_set_dropout_masks(l, two, 2, NULL, 0));
        cr_assert_eq(call(l, x, NULL, true, &r), RNNC_E_ARG);
        rnnc_layer_destroy(l);
    }
}

Test(gru, recurrent_dropout_exact_implementation_1)
{
    /* recurrent_dropout > 0: three independent masks per side, the
     * recurrent ones multiply h only inside the gate products. */
    for (int v = 0; v < 2; v++) {
        rnnc_gru_options o = rnnc_gru_options_default();
        o.units = 4;
        o.dtype = RNNC_F64;
        o.dropout = 0.3;
        o.recurrent_dropout = 0.5;
        o.return_sequences = true;
        o.reset_after = v;
        rnnc_layer *l;
        OK(rnnc_gru_create(&o, &l));
        cr_assert_eq(rnnc_gru_cell_of_layer(l)->implementation, 1);
        rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(3, 5, 6), 40 + (uint64_t)v, -1, 1);
        rnnc_shape in = RNNC_SHAPE(3, 5, 6);
        OK(rnnc_layer_build(l, &in));
        randomize_weights(l, 50 + (uint64_t)v);
        const rnnc_tensor *im[3], *rm[3];
        for (int g = 0; g < 3; g++) {
            im[g] = dropout_mask(RNNC_SHAPE(3, 6), 60 + (uint64_t)g, 0.3);
            rm[g] = dropout_mask(RNNC_SHAPE(3, 4), 70 + (uint64_t)g, 0.5);
        }
        double Y[3 * 5 * 4], last[12], hT[12];
        reference(l, x, im, rm, Y, last, hT);
        rnnc_call_result r;
        OK(rnnc_gru_set_dropout_masks(l, im, 3, rm, 3));
        OK(call(l, x, NULL, true, &r));
        cr_assert_eq(rnnc_gru_last_kernel(l), RNNC_GRU_KERNEL_GENERIC);
        cr_assert_lt(max_diff(r.outputs[0], Y), 1e-12, "variant %d", v);
        /* the same masks with one recurrent mask changed give other numbers:
         * each gate really uses its own mask */
        const rnnc_tensor *rm2[3] = {rm[0], rm[0], rm[2]};
        OK(rnnc_gru_set_dropout_masks(l, im, 3, rm2, 3));
        OK(call(l, x, NULL, true, &r));
        cr_assert_gt(max_diff(r.outputs[0], Y), 1e-6);
        rnnc_layer_destroy(l);
    }
}

/* The masks the latest call drew. */
static void drawn(rnnc_layer *l, const rnnc_tensor **in, int *n_in, const rnnc_tensor **rec,
                  int *n_rec)
{
    rnnc_gru_cell_dropout_masks(rnnc_rnn_cell_of(l), in, n_in, rec, n_rec);
}

Test(gru, drawn_dropout_masks_statistics)
{
    const double rate = 0.3, keep = 1.0 / 0.7;
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 40;
    o.dropout = rate;
    o.recurrent_dropout = rate;
    o.has_seed = true;
    o.seed = 2024;
    rnnc_layer *l;
    OK(rnnc_gru_create(&o, &l));
    rnnc_tensor *x = ctx_uniform(RNNC_F32, RNNC_SHAPE(64, 2, 50), 1, -1, 1);
    rnnc_call_result r;
    OK(call(l, x, NULL, true, &r));
    const rnnc_tensor *in[3], *rec[3];
    int n_in, n_rec;
    drawn(l, in, &n_in, rec, &n_rec);
    cr_assert_eq(n_in, 3, "implementation 1: three input masks");
    cr_assert_eq(n_rec, 3);
    const rnnc_tensor *all[6] = {in[0], in[1], in[2], rec[0], rec[1], rec[2]};
    for (int m = 0; m < 6; m++) {
        const rnnc_tensor *t = all[m];
        size_t kept = 0;
        double sum = 0.0;
        for (size_t i = 0; i < t->numel; i++) {
            double v = rnnc_tensor_get(t, i);
            cr_assert(v == 0.0 || fabs(v - keep) < 1e-6, "mask value %g", v);
            kept += v != 0.0;
            sum += v;
        }
        const double n = (double)t->numel, p = (double)kept / n;
        const double sd = sqrt(0.7 * 0.3 / n);
        cr_assert(fabs(p - 0.7) < 5 * sd, "mask %d keeps %g of %g", m, p, n);
        cr_assert(fabs(sum / n - 1.0) < 5 * sd * keep, "inverted scaling: mean %g", sum / n);
    }
    /* independent masks: two masks agree on p^2 + (1-p)^2 = 0.58 of entries */
    for (int a = 0; a < 3; a++) {
        const rnnc_tensor *s = in[a], *t = in[(a + 1) % 3];
        size_t same = 0;
        for (size_t i = 0; i < s->numel; i++)
            same += (rnnc_tensor_get(s, i) != 0.0) == (rnnc_tensor_get(t, i) != 0.0);
        double f = (double)same / (double)s->numel;
        cr_assert(fabs(f - 0.58) < 5 * sqrt(0.58 * 0.42 / (double)s->numel), "agreement %g", f);
    }
    /* each call draws new masks */
    rnnc_tensor *first;
    OK(rnnc_tensor_clone(in[0], &first));
    OK(rnnc_ctx_adopt(cx, first));
    OK(call(l, x, NULL, true, &r));
    drawn(l, in, &n_in, rec, &n_rec);
    cr_assert_gt(rnnc_fixture_max_err(in[0], first), 0.5);
    /* not training: no masks applied */
    OK(call(l, x, NULL, false, &r));
    drawn(l, in, &n_in, rec, &n_rec);
    cr_assert_eq(n_in, 0);
    cr_assert_eq(n_rec, 0);
    rnnc_layer_destroy(l);
}

Test(gru, drawn_mask_is_shared_over_time_and_seeded)
{
    /* The output of a training call equals the reference with the drawn
     * (B, F) mask applied at every step; the same seed draws the same mask;
     * an inference call advances the generator as Keras's does. */
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 3;
    o.dtype = RNNC_F64;
    o.dropout = 0.5;
    o.return_sequences = true;
    o.has_seed = true;
    o.seed = 7;
    rnnc_layer *a, *b, *c;
    OK(rnnc_gru_create(&o, &a));
    OK(rnnc_gru_create(&o, &b));
    OK(rnnc_gru_create(&o, &c));
    rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(4, 6, 5), 2, -1, 1);
    rnnc_shape in = RNNC_SHAPE(4, 6, 5);
    OK(rnnc_layer_build(a, &in));
    OK(rnnc_layer_build(b, &in));
    OK(rnnc_layer_build(c, &in));
    randomize_weights(a, 5);
    randomize_weights(b, 5);
    randomize_weights(c, 5);
    rnnc_call_result ra, rb, rc;
    OK(call(a, x, NULL, true, &ra));
    cr_assert_eq(rnnc_gru_last_kernel(a), RNNC_GRU_KERNEL_FUSED);
    const rnnc_tensor *im[3], *rm[3];
    int ni, nr;
    drawn(a, im, &ni, rm, &nr);
    cr_assert_eq(ni, 1);
    cr_assert_eq(nr, 0);
    const rnnc_tensor *m3[3] = {im[0], im[0], im[0]};
    double Y[4 * 6 * 3], last[12], hT[12];
    reference(a, x, m3, NULL, Y, last, hT);
    cr_assert_lt(max_diff(ra.outputs[0], Y), 1e-12);
    OK(rnnc_gru_set_kernel(b, RNNC_GRU_KERNEL_GENERIC));
    OK(call(b, x, NULL, true, &rb));
    cr_assert_lt(rnnc_fixture_max_err(rb.outputs[0], ra.outputs[0]), 1e-12, "same seed, same mask");
    OK(call(c, x, NULL, false, &rc)); /* inference: the generator still moves */
    OK(call(c, x, NULL, true, &rc));
    cr_assert_gt(rnnc_fixture_max_err(rc.outputs[0], ra.outputs[0]), 1e-6);
    rnnc_layer_destroy(a);
    rnnc_layer_destroy(b);
    rnnc_layer_destroy(c);
}

Test(gru, dropout_rate_one_applies_nothing)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 3;
    o.dtype = RNNC_F64;
    o.dropout = 1.0;
    o.recurrent_dropout = 1.0;
    rnnc_layer *l, *plain;
    OK(rnnc_gru_create(&o, &l));
    o.dropout = o.recurrent_dropout = 0.0;
    OK(rnnc_gru_create(&o, &plain));
    rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(2, 3, 4), 3, -1, 1);
    rnnc_shape in = RNNC_SHAPE(2, 3, 4);
    OK(rnnc_layer_build(l, &in));
    OK(rnnc_layer_build(plain, &in));
    randomize_weights(l, 8);
    randomize_weights(plain, 8);
    rnnc_call_result a, b;
    OK(call(l, x, NULL, true, &a));
    OK(call(plain, x, NULL, true, &b));
    cr_assert_lt(rnnc_fixture_max_err(a.outputs[0], b.outputs[0]), 1e-15);
    rnnc_layer_destroy(l);
    rnnc_layer_destroy(plain);
}

/* ---- the cell on its own ---------------------------------------------------- */

Test(gru, cell_call_is_one_step)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 3;
    o.dtype = RNNC_F64;
    o.reset_after = false;
    rnnc_layer *cell;
    OK(rnnc_gru_cell_create(&o, &cell));
    rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(2, 4), 4, -1, 1);
    rnnc_tensor *h = ctx_uniform(RNNC_F64, RNNC_SHAPE(2, 3), 5, -1, 1), *hn;
    OK(rnnc_gru_cell_call(cell, cx, x, h, false, &hn));
    rnnc_gru_cell *c = rnnc_gru_cell_of(cell);
    double *xd = rnnc_fixture_doubles(x), *hd = rnnc_fixture_doubles(h);
    double *W = rnnc_fixture_doubles(c->kernel), *R = rnnc_fixture_doubles(c->recurrent_kernel);
    double *b = rnnc_fixture_doubles(c->bias);
    rnnc_ref_gru_args a = {.B = 2, .T = 1, .F = 4, .U = 3, .x = xd, .h0 = hd, .W = W, .R = R,
                           .bias = b, .act = "tanh", .ract = "sigmoid", .reset_after = false};
    double last[6], hT[6];
    cr_assert(rnnc_ref_gru(&a, NULL, last, hT));
    cr_assert_lt(max_diff(hn, hT), 1e-14);
    free(xd);
    free(hd);
    free(W);
    free(R);
    free(b);
    rnnc_cfg *conf;
    OK(rnnc_layer_get_config(cell, &conf));
    const char *keys[] = {"name", "trainable", "dtype", "units", "activation",
                          "recurrent_activation", "use_bias", "kernel_initializer",
                          "recurrent_initializer", "bias_initializer", "kernel_regularizer",
                          "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
                          "recurrent_constraint", "bias_constraint", "dropout",
                          "recurrent_dropout", "reset_after", "seed"};
    cr_assert_eq(conf->n, sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < conf->n; i++)
        cr_assert_str_eq(conf->keys[i], keys[i]);
    rnnc_layer *back;
    OK(rnnc_gru_cell_from_config(conf, &back));
    cr_assert(rnnc_layer_is_gru_cell(back));
    cr_assert_eq(rnnc_gru_cell_of(back)->reset_after, false);
    rnnc_cfg_destroy(conf);
    rnnc_layer_destroy(back);
    rnnc_layer_destroy(cell);
}

/* ---- finite differences of implementation 1 with dropout masks ---------- */

typedef struct gc_user {
    rnnc_layer *l;
    const rnnc_tensor *in[3], *rec[3];
} gc_user;

static rnnc_status gc_fn(rnnc_ctx *c, void *user, rnnc_tensor **inputs, rnnc_tensor **out)
{
    gc_user *u = user;
    rnnc_call_args a;
    rnnc_call_result r;
    RNNC_TRY(rnnc_gru_set_dropout_masks(u->l, u->in, 3, u->rec, 3));
    memset(&a, 0, sizeof a);
    a.n_inputs = 2;
    a.inputs[0] = inputs[0];
    a.inputs[1] = inputs[1];
    a.training = true;
    RNNC_TRY(rnnc_layer_call(u->l, c, &a, &r));
    if (rnnc_gru_last_kernel(u->l) != RNNC_GRU_KERNEL_GENERIC)
        return rnnc_fail(RNNC_E_STATE, "expected the generic loop");
    rnnc_tensor *flat[2];
    for (int i = 0; i < 2; i++) {
        rnnc_shape s = RNNC_SHAPE((int64_t)r.outputs[i]->numel);
        RNNC_TRY(rnnc_reshape(c, r.outputs[i], &s, &flat[i]));
    }
    return rnnc_concat(c, flat, 2, 0, out);
}

Test(gru, implementation_1_gradients_match_finite_differences)
{
    for (int v = 0; v < 2; v++) {
        rnnc_gru_options o = rnnc_gru_options_default();
        o.units = 3;
        o.dtype = RNNC_F64;
        o.dropout = 0.3;
        o.recurrent_dropout = 0.4;
        o.reset_after = v;
        o.return_sequences = true;
        o.return_state = true;
        o.go_backwards = v;
        rnnc_layer *l;
        OK(rnnc_gru_create(&o, &l));
        rnnc_shape in = RNNC_SHAPE(3, 4, 2);
        OK(rnnc_layer_build(l, &in));
        randomize_weights(l, 90 + (uint64_t)v);
        gc_user u;
        u.l = l;
        for (int g = 0; g < 3; g++) {
            u.in[g] = dropout_mask(RNNC_SHAPE(3, 2), 100 + (uint64_t)g, 0.3);
            u.rec[g] = dropout_mask(RNNC_SHAPE(3, 3), 110 + (uint64_t)g, 0.4);
        }
        rnnc_tensor *x, *h0;
        rnnc_shape hs = RNNC_SHAPE(3, 3);
        OK(rnnc_fixture_uniform(RNNC_F64, &in, 120 + (uint64_t)v, -1, 1, &x));
        OK(rnnc_fixture_uniform(RNNC_F64, &hs, 130 + (uint64_t)v, -1, 1, &h0));
        OK(rnnc_tensor_set_requires_grad(x, true));
        OK(rnnc_tensor_set_requires_grad(h0, true));
        rnnc_weight *w[3];
        int n;
        OK(rnnc_layer_weights(l, w, 3, &n));
        rnnc_tensor *inputs[5] = {x, h0, w[0]->value, w[1]->value, w[2]->value};
        rnnc_gradcheck_result gr;
        char msg[256];
        OK(rnnc_gradcheck_full(gc_fn, &u, inputs, 5, 1e-6, &gr));
        cr_assert_lt(gr.max_err, 1e-7, "variant %d: %s", v, rnnc_gradcheck_str(&gr, msg, sizeof msg));
        rnnc_tensor_destroy(x);
        rnnc_tensor_destroy(h0);
        rnnc_layer_destroy(l);
    }
}
