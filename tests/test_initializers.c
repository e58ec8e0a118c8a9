/* test_initializers.c - Keras initializers (spec section 7): name resolution,
 * validation, fan rules, distributions against Keras's formulas, Orthogonal
 * against the definition of QR, seeds, get_config envelopes and round trips.
 * Distribution checks use large tensors and fixed seeds, with tolerances of
 * several standard errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "framework/init_internal.h"
#include "framework/initializers.h"
#include "framework/random.h"
#include "helpers/builders.h"

/* ---------------------------------------------------------------- helpers */

/* Asserts the keys of map are exactly `keys` (NULL-terminated), in order. */
static void expect_keys(const rnnc_cfg *map, const char *const *keys)
{
    cr_assert_eq(map->type, RNNC_CFG_MAP);
    size_t n = 0;
    while (keys[n])
        n++;
    cr_assert_eq(map->n, n, "expected %zu keys, got %zu", n, map->n);
    for (size_t i = 0; i < n; i++)
        cr_expect_str_eq(map->keys[i], keys[i]);
}

static rnnc_initializer *make(const char *name)
{
    rnnc_initializer *in = NULL;
    cr_assert_eq(rnnc_initializer_from_name(name, "test", &in), RNNC_OK, "%s: %s", name,
                 rnnc_last_error());
    return in;
}

/* From a config tree (destroyed here). */
static rnnc_initializer *make_cfg(rnnc_cfg *c)
{
    rnnc_initializer *in = NULL;
    cr_assert_eq(rnnc_initializer_from_config(c, "test", &in), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(c);
    return in;
}

/* Fails with `code` and a message containing each NULL-terminated needle. */
static void expect_fail(rnnc_cfg *c, const char *what, rnnc_status code, ...)
{
    rnnc_initializer *in = NULL;
    rnnc_status s = rnnc_initializer_from_config(c, what, &in);
    cr_expect_eq(s, code, "status %d, message: %s", s, rnnc_last_error());
    cr_expect_null(in);
    va_list ap;
    va_start(ap, code);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        cr_expect(strstr(rnnc_last_error(), needle), "'%s' not in: %s", needle,
                  rnnc_last_error());
    va_end(ap);
    rnnc_cfg_destroy(c);
}

static rnnc_tensor *filled(const rnnc_initializer *in, rnnc_dtype dt, rnnc_shape s)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_tensor_create(dt, &s, &t), RNNC_OK);
    cr_assert_eq(rnnc_initializer_fill(in, t), RNNC_OK, "%s", rnnc_last_error());
    return t;
}

typedef struct {
    double mean, std, maxabs, min, max;
} stats;

static stats stats_of(const rnnc_tensor *t)
{
    stats s = {0, 0, 0, INFINITY, -INFINITY};
    double sum = 0, sq = 0;
    for (size_t i = 0; i < t->numel; i++) {
        double v = rnnc_tensor_get(t, i);
        sum += v;
        sq += v * v;
        s.maxabs = fmax(s.maxabs, fabs(v));
        s.min = fmin(s.min, v);
        s.max = fmax(s.max, v);
    }
    s.mean = sum / (double)t->numel;
    s.std = sqrt(sq / (double)t->numel - s.mean * s.mean);
    return s;
}

/* Standard deviation of a unit normal truncated to [-2, 2], from its
 * definition: 1 - 2*2*phi(2) / (2*Phi(2) - 1). */
static double trunc_std(void)
{
    double phi2 = exp(-2.0) / sqrt(2.0 * 3.14159265358979323846);
    double mass = erf(2.0 / sqrt(2.0));
    return sqrt(1.0 - 4.0 * phi2 / mass);
}

/* ---------------------------------------------------------------- fans */

Test(initializers, fans_by_rank)
{
    double fi, fo;
    rnnc_shape s0 = {0};
    rnnc_compute_fans(&s0, &fi, &fo);
    cr_expect(fi == 1 && fo == 1);
    rnnc_shape s1 = RNNC_SHAPE(7);
    rnnc_compute_fans(&s1, &fi, &fo);
    cr_expect(fi == 7 && fo == 7);
    rnnc_shape s2 = RNNC_SHAPE(8, 12); /* GRU kernel F=8, U=4: fan_out is 3U */
    rnnc_compute_fans(&s2, &fi, &fo);
    cr_expect(fi == 8 && fo == 12);
    rnnc_shape bias = RNNC_SHAPE(2, 12);
    rnnc_compute_fans(&bias, &fi, &fo);
    cr_expect(fi == 2 && fo == 12);
    rnnc_shape s3 = RNNC_SHAPE(3, 4, 5); /* receptive field 3 */
    rnnc_compute_fans(&s3, &fi, &fo);
    cr_expect(fi == 12 && fo == 15);
    rnnc_shape s4 = RNNC_SHAPE(2, 3, 4, 5); /* receptive field 6 */
    rnnc_compute_fans(&s4, &fi, &fo);
    cr_expect(fi == 24 && fo == 30);
}

/* ---------------------------------------------------------------- names */

Test(initializers, every_name_and_alias_resolves_to_its_class)
{
    static const char *const pairs[][2] = {
        {"Constant", "Constant"},         {"constant", "Constant"},
        {"Zeros", "Zeros"},               {"zeros", "Zeros"},
        {"zero", "Zeros"},                {"Ones", "Ones"},
        {"ones", "Ones"},                 {"one", "Ones"},
        {"Identity", "Identity"},         {"identity", "Identity"},
        {"IdentityInitializer", "Identity"},
        {"GlorotNormal", "GlorotNormal"}, {"glorot_normal", "GlorotNormal"},
        {"GlorotUniform", "GlorotUniform"}, {"glorot_uniform", "GlorotUniform"},
        {"HeNormal", "HeNormal"},         {"he_normal", "HeNormal"},
        {"HeUniform", "HeUniform"},       {"he_uniform", "HeUniform"},
        {"LecunNormal", "LecunNormal"},   {"lecun_normal", "LecunNormal"},
        {"LecunUniform", "LecunUniform"}, {"lecun_uniform", "LecunUniform"},
        {"Orthogonal", "Orthogonal"},     {"orthogonal", "Orthogonal"},
        {"OrthogonalInitializer", "Orthogonal"},
        {"RandomNormal", "RandomNormal"}, {"random_normal", "RandomNormal"},
        {"normal", "RandomNormal"},       {"RandomUniform", "RandomUniform"},
        {"random_uniform", "RandomUniform"}, {"uniform", "RandomUniform"},
        {"TruncatedNormal", "TruncatedNormal"}, {"truncated_normal", "TruncatedNormal"},
        {"VarianceScaling", "VarianceScaling"}, {"variance_scaling", "VarianceScaling"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        rnnc_initializer *in = make(pairs[i][0]);
        cr_expect_str_eq(rnnc_initializer_class_name(in), pairs[i][1], "%s", pairs[i][0]);
        rnnc_cfg *c = NULL;
        cr_assert_eq(rnnc_initializer_get_config(in, &c), RNNC_OK);
        cr_expect_str_eq(rnnc_cfg_peek(c, "class_name")->v.s, pairs[i][1]);
        rnnc_cfg_destroy(c);
        /* The dict form accepts the same spellings. */
        rnnc_initializer *in2 = make_cfg(th_envelope(NULL, pairs[i][0], rnnc_cfg_map()));
        cr_expect_str_eq(rnnc_initializer_class_name(in2), pairs[i][1]);
        rnnc_initializer_destroy(in2);
        rnnc_initializer_destroy(in);
    }
}

Test(initializers, null_node_means_glorot_uniform)
{
    rnnc_initializer *a = NULL;
    cr_assert_eq(rnnc_initializer_from_config(NULL, "x", &a), RNNC_OK);
    cr_expect_str_eq(rnnc_initializer_class_name(a), "GlorotUniform");
    rnnc_initializer_destroy(a);
    rnnc_cfg *null = rnnc_cfg_null();
    a = make_cfg(null);
    cr_expect_str_eq(rnnc_initializer_class_name(a), "GlorotUniform");
    rnnc_initializer_destroy(a);
    rnnc_initializer_destroy(NULL); /* no-op */
}

Test(initializers, unknown_names_fail_with_suggestion)
{
    expect_fail(rnnc_cfg_string("glorot_unifrom"), "GRU.kernel_initializer", RNNC_E_ARG,
                "GRU.kernel_initializer", "glorot_unifrom", "did you mean 'glorot_uniform'", NULL);
    /* Case-sensitive: only the listed spellings. */
    expect_fail(rnnc_cfg_string("Glorot_Uniform"), "w", RNNC_E_ARG, "Glorot_Uniform", NULL);
    expect_fail(rnnc_cfg_string("xavier"), "w", RNNC_E_ARG, "unknown initializer 'xavier'",
                NULL);
    expect_fail(th_envelope("keras.initializers", "Orthogonl", rnnc_cfg_map()), "w", RNNC_E_ARG,
                "did you mean 'Orthogonal'", NULL);
    expect_fail(rnnc_cfg_string("stft"), "w", RNNC_E_UNSUPPORTED, "STFT", NULL);
    expect_fail(rnnc_cfg_int(3), "GRU.bias_initializer", RNNC_E_ARG, "GRU.bias_initializer",
                "integer", NULL);
}

Test(initializers, envelope_errors)
{
    /* An explicit "module": null is an unregistered custom class. */
    rnnc_cfg *c = th_envelope(NULL, "GlorotUniform", rnnc_cfg_map());
    rnnc_cfg_set_null(c, "module");
    expect_fail(c, "GRU.kernel_initializer", RNNC_E_ARG, "GRU.kernel_initializer",
                "\"module\": null", "custom", NULL);
    expect_fail(th_envelope("my_package.inits", "GlorotUniform", rnnc_cfg_map()), "w", RNNC_E_ARG,
                "my_package.inits", NULL);
    c = rnnc_cfg_map();
    rnnc_cfg_set(c, "config", rnnc_cfg_map());
    expect_fail(c, "w", RNNC_E_ARG, "class_name", NULL);
    expect_fail(th_envelope(NULL, "Zeros", rnnc_cfg_string("x")), "w", RNNC_E_ARG, "config", NULL);
    c = th_envelope("keras.initializers", "Zeros", rnnc_cfg_map());
    rnnc_cfg_set_string(c, "registered_name", "my_pkg>MyInit");
    expect_fail(c, "w", RNNC_E_ARG, "registered", NULL);
    /* Accepted: Keras 2 (no module), registered_name null, extra envelope keys. */
    c = th_envelope("keras.initializers", "Zeros", rnnc_cfg_map());
    rnnc_cfg_set_null(c, "registered_name");
    rnnc_cfg_set_int(c, "shared_object_id", 1234);
    rnnc_initializer *in = make_cfg(c);
    cr_expect_str_eq(rnnc_initializer_class_name(in), "Zeros");
    rnnc_initializer_destroy(in);
}

Test(initializers, unknown_config_key_is_named)
{
    expect_fail(th_envelope(NULL, "GlorotUniform", th_map_of("sed", rnnc_cfg_int(1), NULL)),
                "GRU.kernel_initializer", RNNC_E_ARG, "GRU.kernel_initializer", "'sed'",
                "seed", NULL);
    expect_fail(th_envelope(NULL, "Zeros", th_map_of("value", rnnc_cfg_float(1), NULL)), "w",
                RNNC_E_ARG, "'value'", NULL);
    expect_fail(th_envelope(NULL, "RandomNormal", th_map_of("std", rnnc_cfg_float(1), NULL)), "w",
                RNNC_E_ARG, "'std'", NULL);
}

Test(initializers, variance_scaling_validation)
{
    expect_fail(th_envelope(NULL, "VarianceScaling", th_map_of("scale", rnnc_cfg_float(0), NULL)),
                "w", RNNC_E_ARG, "scale", NULL);
    expect_fail(th_envelope(NULL, "VarianceScaling", th_map_of("scale", rnnc_cfg_int(-1), NULL)),
                "w", RNNC_E_ARG, "scale", NULL);
    expect_fail(th_envelope(NULL, "VarianceScaling",
                         th_map_of("mode", rnnc_cfg_string("fan_avgg"), NULL)),
                "w", RNNC_E_ARG, "mode", "fan_avgg", "fan_avg", NULL);
    /* mode is not lower-cased (only distribution is). */
    expect_fail(th_envelope(NULL, "VarianceScaling", th_map_of("mode", rnnc_cfg_string("FAN_IN"), NULL)),
                "w", RNNC_E_ARG, "mode", NULL);
    expect_fail(th_envelope(NULL, "VarianceScaling",
                         th_map_of("distribution", rnnc_cfg_string("gamma"), NULL)),
                "w", RNNC_E_ARG, "distribution", "gamma", NULL);
    expect_fail(th_envelope(NULL, "VarianceScaling", th_map_of("scale", rnnc_cfg_string("1"), NULL)),
                "w", RNNC_E_ARG, "scale", NULL);
    expect_fail(th_envelope(NULL, "VarianceScaling",
                         th_map_of("input_axes", rnnc_cfg_string("0"), NULL)),
                "w", RNNC_E_ARG, "input_axes", NULL);

    /* distribution is lower-cased and "normal" means truncated_normal. */
    static const char *const in_out[][2] = {{"Normal", "truncated_normal"},
                                            {"UNIFORM", "uniform"},
                                            {"Untruncated_Normal", "untruncated_normal"}};
    for (int i = 0; i < 3; i++) {
        rnnc_initializer *in = make_cfg(th_envelope(
            NULL, "VarianceScaling", th_map_of("distribution", rnnc_cfg_string(in_out[i][0]), NULL)));
        rnnc_cfg *c = NULL;
        cr_assert_eq(rnnc_initializer_get_config(in, &c), RNNC_OK);
        const rnnc_cfg *d = rnnc_cfg_peek(rnnc_cfg_peek(c, "config"), "distribution");
        cr_expect_str_eq(d->v.s, in_out[i][1]);
        rnnc_cfg_destroy(c);
        rnnc_initializer_destroy(in);
    }
}

Test(initializers, seed_validation)
{
    expect_fail(th_envelope(NULL, "RandomNormal", th_map_of("seed", rnnc_cfg_string("abc"), NULL)),
                "GRU.kernel_initializer", RNNC_E_ARG, "GRU.kernel_initializer", "seed", NULL);
    expect_fail(th_envelope(NULL, "GlorotUniform", th_map_of("seed", rnnc_cfg_float(1.5), NULL)), "w",
                RNNC_E_ARG, "seed", NULL);
    expect_fail(th_envelope(NULL, "Orthogonal", th_map_of("seed", rnnc_cfg_list(), NULL)), "w",
                RNNC_E_ARG, "seed", NULL);
}

/* ---------------------------------------------------------------- constants */

Test(initializers, zeros_ones_constant)
{
    rnnc_initializer *z = make("zeros"), *o = make("ones");
    rnnc_initializer *c = make_cfg(
        th_envelope("keras.initializers", "Constant", th_map_of("value", rnnc_cfg_float(3.5), NULL)));
    rnnc_tensor *tz = filled(z, RNNC_F32, RNNC_SHAPE(3, 4));
    rnnc_tensor *to = filled(o, RNNC_F64, RNNC_SHAPE(5));
    rnnc_tensor *tc = filled(c, RNNC_F32, RNNC_SHAPE(2, 2, 2));
    for (size_t i = 0; i < 12; i++)
        cr_expect_eq(rnnc_tensor_get(tz, i), 0.0);
    for (size_t i = 0; i < 5; i++)
        cr_expect_eq(rnnc_tensor_get(to, i), 1.0);
    for (size_t i = 0; i < 8; i++)
        cr_expect_eq(rnnc_tensor_get(tc, i), 3.5);
    rnnc_tensor_destroy(tz);
    rnnc_tensor_destroy(to);
    rnnc_tensor_destroy(tc);
    rnnc_initializer_destroy(z);
    rnnc_initializer_destroy(o);
    rnnc_initializer_destroy(c);
}

Test(initializers, identity_is_rectangular_and_rank2_only)
{
    rnnc_initializer *id = make_cfg(
        th_envelope(NULL, "Identity", th_map_of("gain", rnnc_cfg_float(2.0), NULL)));
    rnnc_tensor *wide = filled(id, RNNC_F32, RNNC_SHAPE(3, 5));
    rnnc_tensor *tall = filled(id, RNNC_F64, RNNC_SHAPE(5, 3));
    for (int64_t r = 0; r < 3; r++)
        for (int64_t c = 0; c < 5; c++) {
            double want = r == c ? 2.0 : 0.0;
            cr_expect_eq(rnnc_tensor_get(wide, (size_t)(r * 5 + c)), want);
            cr_expect_eq(rnnc_tensor_get(tall, (size_t)(c * 3 + r)), want);
        }
    rnnc_tensor *t3 = NULL;
    rnnc_shape s3 = RNNC_SHAPE(2, 2, 2);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &s3, &t3), RNNC_OK);
    cr_expect_eq(rnnc_initializer_fill(id, t3), RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "Identity"), "%s", rnnc_last_error());
    cr_expect(strstr(rnnc_last_error(), "(2, 2, 2)"), "%s", rnnc_last_error());
    rnnc_tensor_destroy(t3);
    rnnc_tensor_destroy(wide);
    rnnc_tensor_destroy(tall);
    rnnc_initializer_destroy(id);
}

Test(initializers, non_float_tensor_is_refused)
{
    rnnc_initializer *g = make("glorot_uniform");
    rnnc_tensor *t = NULL;
    rnnc_shape s = RNNC_SHAPE(2, 2);
    cr_assert_eq(rnnc_tensor_create(RNNC_I32, &s, &t), RNNC_OK);
    cr_expect_eq(rnnc_initializer_fill(g, t), RNNC_E_DTYPE);
    rnnc_tensor_destroy(t);
    rnnc_initializer_destroy(g);
}

/* ---------------------------------------------------------------- distributions */

Test(initializers, glorot_uniform_on_gru_kernel_stays_within_keras_limit)
{
    /* Spec 7.3: F=8, U=4 -> (8, 12), L = sqrt(6 / (8 + 12)) ~ 0.5477. */
    rnnc_initializer *g = make_cfg(
        th_envelope(NULL, "GlorotUniform", th_map_of("seed", rnnc_cfg_int(7), NULL)));
    rnnc_tensor *w = filled(g, RNNC_F32, RNNC_SHAPE(8, 12));
    double L = sqrt(6.0 / 20.0);
    stats s = stats_of(w);
    cr_expect_leq(s.maxabs, L);
    cr_expect_gt(s.maxabs, 0.9 * L); /* 96 draws: the limit is actually reached */
    cr_expect_lt(s.min, 0.0);
    rnnc_tensor_destroy(w);
    /* A large shape: mean 0, variance L^2 / 3. */
    w = filled(g, RNNC_F64, RNNC_SHAPE(400, 600));
    L = sqrt(6.0 / 1000.0);
    s = stats_of(w);
    cr_expect_leq(s.maxabs, L);
    cr_expect_lt(fabs(s.mean), 4.0 * (L / sqrt(3.0)) / sqrt(240000.0));
    cr_expect_float_eq(s.std, L / sqrt(3.0), 0.01 * L / sqrt(3.0));
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(g);
}

/* Checks a uniform preset: |w| <= L, std L/sqrt(3). */
static void check_uniform(const char *name, rnnc_shape shape, double L)
{
    rnnc_initializer *in = make(name);
    rnnc_tensor *w = filled(in, RNNC_F64, shape);
    stats s = stats_of(w);
    cr_expect_leq(s.maxabs, L, "%s", name);
    cr_expect_gt(s.maxabs, 0.99 * L, "%s", name);
    cr_expect_float_eq(s.std, L / sqrt(3.0), 0.01 * L, "%s: std %g", name, s.std);
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(in);
}

/* Checks a truncated-normal preset: the sample std is sqrt(s) (that is what
 * the 0.8796 correction is for) and nothing is beyond 2 sigma. */
static void check_truncated(const char *name, rnnc_shape shape, double var)
{
    rnnc_initializer *in = make(name);
    rnnc_tensor *w = filled(in, RNNC_F64, shape);
    stats s = stats_of(w);
    double sigma = sqrt(var) / trunc_std();
    cr_expect_leq(s.maxabs, 2.0 * sigma, "%s", name);
    cr_expect_gt(s.maxabs, 1.98 * sigma, "%s", name);
    cr_expect_float_eq(s.std, sqrt(var), 0.01 * sqrt(var), "%s: std %g vs %g", name, s.std,
                       sqrt(var));
    cr_expect_lt(fabs(s.mean), 0.01 * sqrt(var), "%s", name);
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(in);
}

Test(initializers, preset_rules_match_keras_formulas)
{
    /* (500, 300): fan_in 500, fan_out 300. */
    rnnc_shape s = RNNC_SHAPE(500, 300);
    check_uniform("glorot_uniform", s, sqrt(6.0 / 800.0));
    check_uniform("he_uniform", s, sqrt(6.0 / 500.0));
    check_uniform("lecun_uniform", s, sqrt(3.0 / 500.0));
    check_truncated("glorot_normal", s, 2.0 / 800.0);
    check_truncated("he_normal", s, 2.0 / 500.0);
    check_truncated("lecun_normal", s, 1.0 / 500.0);
    /* Rank 3 (4, 50, 600): fan_in = 200, fan_out = 2400. */
    check_uniform("glorot_uniform", RNNC_SHAPE(4, 50, 600), sqrt(6.0 / 2600.0));
    check_truncated("he_normal", RNNC_SHAPE(4, 50, 600), 2.0 / 200.0);
}

Test(initializers, keras_truncation_constant_is_the_truncated_std)
{
    cr_expect_float_eq(trunc_std(), RNNC__TRUNC_STD, 1e-12);
}

Test(initializers, variance_scaling_modes_and_untruncated_normal)
{
    /* fan_out, untruncated: std sqrt(scale / fan_out), and values do pass 2 sigma. */
    rnnc_initializer *in = make_cfg(th_envelope(
        "keras.initializers", "VarianceScaling",
        th_map_of("scale", rnnc_cfg_float(2.0), "mode", rnnc_cfg_string("fan_out"), "distribution",
               rnnc_cfg_string("untruncated_normal"), "seed", rnnc_cfg_int(3), NULL)));
    rnnc_tensor *w = filled(in, RNNC_F64, RNNC_SHAPE(600, 400));
    double sd = sqrt(2.0 / 400.0);
    stats s = stats_of(w);
    cr_expect_float_eq(s.std, sd, 0.01 * sd);
    cr_expect_gt(s.maxabs, 3.0 * sd);
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(in);

    /* fan_avg on a rank-1 shape: fan_in = fan_out = n. Keras 2 dict form. */
    in = make_cfg(th_envelope(NULL, "VarianceScaling",
                           th_map_of("scale", rnnc_cfg_float(1.0), "mode", rnnc_cfg_string("fan_avg"),
                                  "distribution", rnnc_cfg_string("uniform"), "seed",
                                  rnnc_cfg_null(), NULL)));
    w = filled(in, RNNC_F64, RNNC_SHAPE(90000));
    double L = sqrt(3.0 / 90000.0);
    s = stats_of(w);
    cr_expect_leq(s.maxabs, L);
    cr_expect_gt(s.maxabs, 0.999 * L);
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(in);

    /* max(1, fan): a scalar weight (fans 1) with fan_in gives L = sqrt(3 * scale). */
    in = make_cfg(th_envelope(NULL, "VarianceScaling",
                           th_map_of("scale", rnnc_cfg_float(0.25), "distribution",
                                  rnnc_cfg_string("uniform"), NULL)));
    rnnc_shape s0 = {0};
    w = filled(in, RNNC_F64, s0);
    cr_expect_leq(fabs(rnnc_tensor_get(w, 0)), sqrt(0.75));
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(in);
}

Test(initializers, input_and_output_axes_set_the_fans)
{
    /* (2, 3, 5000), fan_in mode, uniform: the rank-3 rule gives fan_in = 6,
     * input_axes [0] with output_axes -1 gives fan_in = 2 -> L = sqrt(3/2). */
    rnnc_cfg *ia = rnnc_cfg_list();
    rnnc_cfg_push(ia, rnnc_cfg_int(0));
    rnnc_initializer *in = make_cfg(th_envelope(
        NULL, "VarianceScaling",
        th_map_of("distribution", rnnc_cfg_string("uniform"), "input_axes", ia, "output_axes",
               rnnc_cfg_int(-1), NULL)));
    rnnc_tensor *w = filled(in, RNNC_F64, RNNC_SHAPE(2, 3, 5000));
    stats s = stats_of(w);
    cr_expect_leq(s.maxabs, sqrt(1.5));
    cr_expect_gt(s.maxabs, 0.99 * sqrt(1.5));
    rnnc_tensor_destroy(w);
    /* An axis outside the weight's rank fails at fill time. */
    rnnc_tensor *t = NULL;
    rnnc_shape s0 = {0}; /* a scalar has no axis 0 */
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &s0, &t), RNNC_OK);
    cr_expect_eq(rnnc_initializer_fill(in, t), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "input_axes"), "%s", rnnc_last_error());
    rnnc_tensor_destroy(t);
    /* get_config echoes them as given. */
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_initializer_get_config(in, &c), RNNC_OK);
    const rnnc_cfg *conf = rnnc_cfg_peek(c, "config");
    cr_expect_eq(rnnc_cfg_peek(conf, "input_axes")->type, RNNC_CFG_LIST);
    cr_expect_eq(rnnc_cfg_peek(conf, "output_axes")->v.i, -1);
    rnnc_cfg_destroy(c);
    rnnc_initializer_destroy(in);
}

Test(initializers, truncated_normal_never_beyond_two_sigma)
{
    rnnc_initializer *in = make_cfg(th_envelope(
        NULL, "TruncatedNormal",
        th_map_of("mean", rnnc_cfg_float(1.0), "stddev", rnnc_cfg_float(0.5), "seed",
               rnnc_cfg_int(11), NULL)));
    rnnc_tensor *w = filled(in, RNNC_F64, RNNC_SHAPE(300, 700));
    stats s = stats_of(w);
    cr_expect_geq(s.min, 0.0);
    cr_expect_leq(s.max, 2.0);
    cr_expect_lt(s.min, 0.01); /* the bounds are reached: nothing was clipped inward */
    cr_expect_gt(s.max, 1.99);
    cr_expect_float_eq(s.mean, 1.0, 0.005);
    cr_expect_float_eq(s.std, 0.5 * trunc_std(), 0.005);
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(in);
}

Test(initializers, random_normal_and_uniform_defaults_and_arguments)
{
    rnnc_initializer *n = make("random_normal"); /* mean 0, stddev 0.05 */
    rnnc_tensor *w = filled(n, RNNC_F64, RNNC_SHAPE(500, 400));
    stats s = stats_of(w);
    cr_expect_float_eq(s.std, 0.05, 0.0005);
    cr_expect_lt(fabs(s.mean), 0.0005);
    cr_expect_gt(s.maxabs, 0.2); /* not truncated: 4 sigma appears in 200k draws */
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(n);

    rnnc_initializer *u = make_cfg(th_envelope(
        NULL, "RandomUniform",
        th_map_of("minval", rnnc_cfg_int(2), "maxval", rnnc_cfg_int(5), NULL)));
    w = filled(u, RNNC_F64, RNNC_SHAPE(200000));
    s = stats_of(w);
    cr_expect_geq(s.min, 2.0);
    cr_expect_lt(s.max, 5.0);
    cr_expect_lt(s.min, 2.001);
    cr_expect_gt(s.max, 4.999);
    cr_expect_float_eq(s.mean, 3.5, 0.01);
    cr_expect_float_eq(s.std, 3.0 / sqrt(12.0), 0.01);
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(u);

    u = make("uniform"); /* [-0.05, 0.05) */
    w = filled(u, RNNC_F32, RNNC_SHAPE(1000));
    s = stats_of(w);
    cr_expect_leq(s.maxabs, 0.05);
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(u);
}

/* ---------------------------------------------------------------- orthogonal */

/* max |M M^T - g^2 I| for rows (or M^T M for columns) of a (r, c) tensor. */
static double ortho_error(const rnnc_tensor *w, int64_t r, int64_t c, bool rows, double g)
{
    int64_t n = rows ? r : c, len = rows ? c : r;
    double err = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double dot = 0.0;
            for (int64_t k = 0; k < len; k++) {
                size_t a = rows ? (size_t)(i * c + k) : (size_t)(k * c + i);
                size_t b = rows ? (size_t)(j * c + k) : (size_t)(k * c + j);
                dot += rnnc_tensor_get(w, a) * rnnc_tensor_get(w, b);
            }
            err = fmax(err, fabs(dot - (i == j ? g * g : 0.0)));
        }
    return err;
}

Test(initializers, orthogonal_recurrent_kernel_has_orthonormal_rows)
{
    /* GRU recurrent kernel (U, 3U), U = 4: rows orthonormal across gates. */
    rnnc_initializer *o = make("orthogonal");
    rnnc_tensor *w = filled(o, RNNC_F32, RNNC_SHAPE(4, 12));
    cr_expect_lt(ortho_error(w, 4, 12, true, 1.0), 1e-5);
    rnnc_tensor_destroy(w);
    /* Large U in float32, and tall / rank-3 shapes: orthonormal columns. */
    w = filled(o, RNNC_F32, RNNC_SHAPE(64, 192));
    cr_expect_lt(ortho_error(w, 64, 192, true, 1.0), 1e-5);
    rnnc_tensor_destroy(w);
    w = filled(o, RNNC_F64, RNNC_SHAPE(12, 4));
    cr_expect_lt(ortho_error(w, 12, 4, false, 1.0), 1e-12);
    rnnc_tensor_destroy(w);
    w = filled(o, RNNC_F64, RNNC_SHAPE(2, 3, 4)); /* rows = 6, cols = 4 */
    cr_expect_lt(ortho_error(w, 6, 4, false, 1.0), 1e-12);
    rnnc_tensor_destroy(w);
    w = filled(o, RNNC_F64, RNNC_SHAPE(5, 5)); /* square: both */
    cr_expect_lt(ortho_error(w, 5, 5, false, 1.0), 1e-12);
    cr_expect_lt(ortho_error(w, 5, 5, true, 1.0), 1e-12);
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(o);
}

Test(initializers, orthogonal_gain_scales)
{
    rnnc_initializer *o = make_cfg(th_envelope(
        NULL, "Orthogonal", th_map_of("gain", rnnc_cfg_float(2.0), "seed", rnnc_cfg_int(5), NULL)));
    rnnc_tensor *w = filled(o, RNNC_F64, RNNC_SHAPE(3, 9));
    cr_expect_lt(ortho_error(w, 3, 9, true, 2.0), 1e-12); /* W W^T = 4 I */
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(o);
}

Test(initializers, orthogonal_is_the_q_of_qr_with_positive_r_diagonal)
{
    /* Q must be A R^-1 with R upper triangular and positive on its diagonal,
     * A the (max, min) normal matrix drawn from the seed (row-major, per
     * init_internal.h): so Q^T A is upper triangular with a positive diagonal. */
    const int64_t rows = 4, cols = 10; /* wide: A is (10, 4), result is Q^T */
    rnnc_initializer *o = make_cfg(th_envelope(NULL, "Orthogonal",
                                            th_map_of("seed", rnnc_cfg_int(99), NULL)));
    rnnc_tensor *w = filled(o, RNNC_F64, RNNC_SHAPE(rows, cols));
    double a[40];
    rnnc_rng r;
    rnnc_rng_init(&r, 99);
    rnnc_rng_normal(&r, a, 40);
    for (int64_t i = 0; i < rows; i++) /* (Q^T A)[i][j] = sum_k W[i][k] A[k][j] */
        for (int64_t j = 0; j < rows; j++) {
            double v = 0.0;
            for (int64_t k = 0; k < cols; k++)
                v += rnnc_tensor_get(w, (size_t)(i * cols + k)) * a[k * rows + j];
            if (i > j)
                cr_expect_lt(fabs(v), 1e-12, "below diagonal (%lld, %lld): %g", (long long)i,
                             (long long)j, v);
            if (i == j)
                cr_expect_gt(v, 0.0);
        }
    rnnc_tensor_destroy(w);
    rnnc_initializer_destroy(o);
}

Test(initializers, householder_qr_hand_example)
{
    /* A = [[3, 1], [4, 2], [0, 2]]: column 0 has norm 5 and a positive head,
     * so R00 = -5 and q0 = -(3, 4, 0) / 5; then a1 - (a1.q0) q0 with
     * a1.q0 = -11/5 leaves the residual (1, 2, 2) - (33, 44, 0)/25 =
     * (-8, 6, 50)/25, so |R11| is its norm and q1 = residual / R11. */
    double a[6] = {3, 4, 0, 1, 2, 2}, q[6], rd[2], work[2]; /* column-major */
    rnnc__householder_qr(a, 3, 2, q, rd, work);
    cr_expect_float_eq(rd[0], -5.0, 1e-14);
    cr_expect_float_eq(q[0], -0.6, 1e-14);
    cr_expect_float_eq(q[1], -0.8, 1e-14);
    cr_expect_float_eq(q[2], 0.0, 1e-14);
    double res[3] = {-8.0 / 25, 6.0 / 25, 50.0 / 25};
    double rn = sqrt(res[0] * res[0] + res[1] * res[1] + res[2] * res[2]);
    cr_expect_float_eq(fabs(rd[1]), rn, 1e-13);
    for (int i = 0; i < 3; i++) /* q1 = residual / R11 */
        cr_expect_float_eq(q[3 + i], res[i] / rd[1], 1e-13);
}

Test(initializers, orthogonal_needs_rank_two)
{
    rnnc_initializer *o = make("orthogonal");
    rnnc_tensor *t = NULL;
    rnnc_shape s = RNNC_SHAPE(6);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &s, &t), RNNC_OK);
    cr_expect_eq(rnnc_initializer_fill(o, t), RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "Orthogonal"), "%s", rnnc_last_error());
    cr_expect(strstr(rnnc_last_error(), "(6,)"), "%s", rnnc_last_error());
    rnnc_tensor_destroy(t);
    rnnc_initializer_destroy(o);
}

/* ---------------------------------------------------------------- seeds */

static rnnc_initializer *seeded(const char *cls, int64_t seed)
{
    return make_cfg(th_envelope(NULL, cls, th_map_of("seed", rnnc_cfg_int(seed), NULL)));
}

static bool same_values(const rnnc_tensor *a, const rnnc_tensor *b)
{
    if (a->numel != b->numel)
        return false;
    for (size_t i = 0; i < a->numel; i++)
        if (rnnc_tensor_get(a, i) != rnnc_tensor_get(b, i))
            return false;
    return true;
}

Test(initializers, same_object_fills_same_values_seeds_differ)
{
    static const char *const kinds[] = {"glorot_uniform", "glorot_normal", "orthogonal",
                                        "random_normal", "random_uniform", "truncated_normal",
                                        "he_uniform", "lecun_normal"};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        /* seed None: fixed at construction, reported as null. */
        rnnc_initializer *a = make(kinds[k]), *b = make(kinds[k]);
        rnnc_tensor *a1 = filled(a, RNNC_F32, RNNC_SHAPE(6, 9));
        rnnc_tensor *a2 = filled(a, RNNC_F32, RNNC_SHAPE(6, 9));
        rnnc_tensor *b1 = filled(b, RNNC_F32, RNNC_SHAPE(6, 9));
        cr_expect(same_values(a1, a2), "%s: refill differs", kinds[k]);
        cr_expect(!same_values(a1, b1), "%s: two unseeded objects agree", kinds[k]);
        rnnc_cfg *c = NULL;
        cr_assert_eq(rnnc_initializer_get_config(a, &c), RNNC_OK);
        cr_expect_eq(rnnc_cfg_peek(rnnc_cfg_peek(c, "config"), "seed")->type, RNNC_CFG_NULL);
        rnnc_cfg_destroy(c);
        /* A clone is the same initializer. */
        rnnc_initializer *cl = NULL;
        cr_assert_eq(rnnc_initializer_clone(a, &cl), RNNC_OK);
        rnnc_tensor *c1 = filled(cl, RNNC_F32, RNNC_SHAPE(6, 9));
        cr_expect(same_values(a1, c1), "%s: clone differs", kinds[k]);
        rnnc_tensor_destroy(c1);
        rnnc_initializer_destroy(cl);
        rnnc_tensor_destroy(a1);
        rnnc_tensor_destroy(a2);
        rnnc_tensor_destroy(b1);
        rnnc_initializer_destroy(a);
        rnnc_initializer_destroy(b);

        /* int seeds: equal seeds agree across objects, different ones do not. */
        rnnc_initializer *s1 = seeded(kinds[k], 1), *s1b = seeded(kinds[k], 1);
        rnnc_initializer *s2 = seeded(kinds[k], 2);
        rnnc_tensor *t1 = filled(s1, RNNC_F64, RNNC_SHAPE(6, 9));
        rnnc_tensor *t1b = filled(s1b, RNNC_F64, RNNC_SHAPE(6, 9));
        rnnc_tensor *t2 = filled(s2, RNNC_F64, RNNC_SHAPE(6, 9));
        rnnc_tensor *t1f = filled(s1, RNNC_F32, RNNC_SHAPE(6, 9));
        cr_expect(same_values(t1, t1b), "%s", kinds[k]);
        cr_expect(!same_values(t1, t2), "%s", kinds[k]);
        for (size_t i = 0; i < t1->numel; i++) /* float32 = the float64 draw rounded */
            cr_expect_eq((float)rnnc_tensor_get(t1, i), (float)rnnc_tensor_get(t1f, i));
        rnnc_tensor_destroy(t1);
        rnnc_tensor_destroy(t1b);
        rnnc_tensor_destroy(t2);
        rnnc_tensor_destroy(t1f);
        rnnc_initializer_destroy(s1);
        rnnc_initializer_destroy(s1b);
        rnnc_initializer_destroy(s2);
    }
}

Test(initializers, serialized_seed_generator_is_accepted_and_echoed)
{
    rnnc_cfg *sg = th_envelope("keras.random", "SeedGenerator",
                            th_map_of("seed", rnnc_cfg_int(42), NULL));
    rnnc_cfg_set_null(sg, "registered_name");
    rnnc_initializer *a = make_cfg(th_envelope(NULL, "RandomNormal", th_map_of("seed", sg, NULL)));
    rnnc_initializer *b = make_cfg(th_envelope(NULL, "RandomNormal",
                                            th_map_of("seed", rnnc_cfg_int(42), NULL)));
    rnnc_tensor *ta = filled(a, RNNC_F64, RNNC_SHAPE(10));
    rnnc_tensor *tb = filled(b, RNNC_F64, RNNC_SHAPE(10));
    cr_expect(same_values(ta, tb));
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_initializer_get_config(a, &c), RNNC_OK);
    const rnnc_cfg *seed = rnnc_cfg_peek(rnnc_cfg_peek(c, "config"), "seed");
    cr_expect_eq(seed->type, RNNC_CFG_MAP);
    cr_expect_str_eq(rnnc_cfg_peek(seed, "class_name")->v.s, "SeedGenerator");
    rnnc_cfg_destroy(c);
    rnnc_tensor_destroy(ta);
    rnnc_tensor_destroy(tb);
    rnnc_initializer_destroy(a);
    rnnc_initializer_destroy(b);
}

/* ---------------------------------------------------------------- config */

Test(initializers, glorot_uniform_envelope_is_keras_3_15s)
{
    rnnc_initializer *g = make("glorot_uniform");
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_initializer_get_config(g, &c), RNNC_OK);
    static const char *const env_keys[] = {"module", "class_name", "config", "registered_name",
                                           NULL};
    expect_keys(c, env_keys);
    cr_expect_str_eq(rnnc_cfg_peek(c, "module")->v.s, "keras.initializers");
    cr_expect_str_eq(rnnc_cfg_peek(c, "class_name")->v.s, "GlorotUniform");
    cr_expect_eq(rnnc_cfg_peek(c, "registered_name")->type, RNNC_CFG_NULL);
    const rnnc_cfg *conf = rnnc_cfg_peek(c, "config");
    static const char *const keys[] = {"seed", "input_axes", "output_axes", NULL};
    expect_keys(conf, keys);
    for (size_t i = 0; i < conf->n; i++)
        cr_expect_eq(conf->items[i]->type, RNNC_CFG_NULL);
    rnnc_cfg_destroy(c);
    rnnc_initializer_destroy(g);
}

Test(initializers, config_keys_in_keras_order_and_values_as_written)
{
    struct {
        const char *name;
        const char *keys[7];
    } cases[] = {
        {"RandomNormal", {"seed", "mean", "stddev", NULL}},
        {"TruncatedNormal", {"seed", "mean", "stddev", NULL}},
        {"RandomUniform", {"seed", "minval", "maxval", NULL}},
        {"Orthogonal", {"seed", "gain", NULL}},
        {"VarianceScaling",
         {"seed", "scale", "mode", "distribution", "input_axes", "output_axes", NULL}},
        {"HeNormal", {"seed", "input_axes", "output_axes", NULL}},
        {"Zeros", {NULL}},
        {"Ones", {NULL}},
        {"Constant", {"value", NULL}},
        {"Identity", {"gain", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rnnc_initializer *in = make(cases[i].name);
        rnnc_cfg *c = NULL;
        cr_assert_eq(rnnc_initializer_get_config(in, &c), RNNC_OK);
        expect_keys(rnnc_cfg_peek(c, "config"), cases[i].keys);
        rnnc_cfg_destroy(c);
        rnnc_initializer_destroy(in);
    }
    /* Defaults: RandomNormal {seed: null, mean: 0.0, stddev: 0.05}. */
    rnnc_initializer *in = make("random_normal");
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_initializer_get_config(in, &c), RNNC_OK);
    const rnnc_cfg *conf = rnnc_cfg_peek(c, "config");
    cr_expect_eq(rnnc_cfg_peek(conf, "mean")->type, RNNC_CFG_FLOAT);
    cr_expect_eq(rnnc_cfg_peek(conf, "stddev")->v.f, 0.05);
    rnnc_cfg_destroy(c);
    rnnc_initializer_destroy(in);
    /* VarianceScaling defaults: scale 1.0, fan_in, truncated_normal. */
    in = make("variance_scaling");
    cr_assert_eq(rnnc_initializer_get_config(in, &c), RNNC_OK);
    conf = rnnc_cfg_peek(c, "config");
    cr_expect_eq(rnnc_cfg_peek(conf, "scale")->v.f, 1.0);
    cr_expect_str_eq(rnnc_cfg_peek(conf, "mode")->v.s, "fan_in");
    cr_expect_str_eq(rnnc_cfg_peek(conf, "distribution")->v.s, "truncated_normal");
    rnnc_cfg_destroy(c);
    rnnc_initializer_destroy(in);
    /* An int stays an int (Keras echoes the argument as given). */
    in = make_cfg(th_envelope(NULL, "Constant", th_map_of("value", rnnc_cfg_int(2), NULL)));
    cr_assert_eq(rnnc_initializer_get_config(in, &c), RNNC_OK);
    const rnnc_cfg *v = rnnc_cfg_peek(rnnc_cfg_peek(c, "config"), "value");
    cr_expect_eq(v->type, RNNC_CFG_INT);
    cr_expect_eq(v->v.i, 2);
    rnnc_cfg_destroy(c);
    rnnc_initializer_destroy(in);
}

Test(initializers, from_config_of_get_config_round_trips)
{
    rnnc_cfg *ia = rnnc_cfg_list();
    rnnc_cfg_push(ia, rnnc_cfg_int(0));
    rnnc_cfg_push(ia, rnnc_cfg_int(1));
    rnnc_cfg *srcs[] = {
        rnnc_cfg_string("glorot_uniform"),
        rnnc_cfg_string("zeros"),
        rnnc_cfg_string("one"),
        th_envelope(NULL, "Constant", th_map_of("value", rnnc_cfg_float(-1.25), NULL)),
        th_envelope(NULL, "Identity", th_map_of("gain", rnnc_cfg_int(3), NULL)),
        th_envelope(NULL, "RandomNormal", th_map_of("mean", rnnc_cfg_float(1), "stddev",
                                              rnnc_cfg_float(2), "seed", rnnc_cfg_int(9), NULL)),
        th_envelope(NULL, "RandomUniform", th_map_of("minval", rnnc_cfg_float(-3), NULL)),
        th_envelope(NULL, "TruncatedNormal", th_map_of("seed", rnnc_cfg_int(-4), NULL)),
        th_envelope("keras.initializers", "VarianceScaling",
                 th_map_of("scale", rnnc_cfg_float(0.5), "mode", rnnc_cfg_string("fan_avg"),
                        "distribution", rnnc_cfg_string("normal"), "input_axes", ia,
                        "output_axes", rnnc_cfg_int(2), NULL)),
        th_envelope(NULL, "Orthogonal", th_map_of("gain", rnnc_cfg_float(1.5), "seed",
                                            rnnc_cfg_int(123), NULL)),
        rnnc_cfg_string("lecun_uniform"),
        rnnc_cfg_string("he_normal"),
    };
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        rnnc_initializer *a = make_cfg(srcs[i]);
        rnnc_cfg *ca = NULL, *cb = NULL;
        cr_assert_eq(rnnc_initializer_get_config(a, &ca), RNNC_OK);
        rnnc_initializer *b = NULL;
        cr_assert_eq(rnnc_initializer_from_config(ca, "round trip", &b), RNNC_OK, "%s",
                     rnnc_last_error());
        cr_assert_eq(rnnc_initializer_get_config(b, &cb), RNNC_OK);
        cr_expect(th_cfg_equal(ca, cb, NULL, 0), "case %zu (%s) differs after a round trip", i,
                  rnnc_initializer_class_name(a));
        rnnc_cfg_destroy(ca);
        rnnc_cfg_destroy(cb);
        rnnc_initializer_destroy(a);
        rnnc_initializer_destroy(b);
    }
}
