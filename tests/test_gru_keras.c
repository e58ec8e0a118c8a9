/* test_gru_keras.c - the GRU against Keras 3.15.1 itself (and PyTorch's
 * nn.GRU), case by case from tests/fixtures/gru/cases.txt, so a fixture
 * added later is tested too. Layout of a case file: tests/gen_gru_fixtures.py.
 *
 * For every case, on both kernels (the generic loop, then the automatic
 * choice, which is the fused kernel wherever it applies): build the layer
 * from Keras's config_json, set the weights, run the call(s), compare the
 * outputs; then backpropagate loss = sum_i sum(output_i * dy_i) + losses and
 * compare losses and the gradients of x, the initial state and every
 * weight. Tolerances: float64 cases 1e-9, float32 cases 1e-5, as
 * |got - want| / max(1, |want|). Also: get_config reproduces Keras's
 * config_json exactly (keys, order, value types). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "framework/rnn.h"
#include "helpers/fixture.h"
#include "io/spec_reader.h"
#include "layers/gru.h"

#define CASES_DIR RNNC_FIXTURES "/gru"

TestSuite(gru_keras);

/* The case names of cases.txt (NULL-terminated, malloc'd). */
static char **read_cases(int *n)
{
    FILE *f = fopen(CASES_DIR "/cases.txt", "r");
    cr_assert_not_null(f, "cannot open %s", CASES_DIR "/cases.txt");
    char line[256];
    char **names = calloc(1024, sizeof *names);
    *n = 0;
    while (fgets(line, sizeof line, f) && *n < 1023) {
        line[strcspn(line, "\r\n \t")] = '\0';
        if (line[0] && line[0] != '#') {
            names[*n] = malloc(strlen(line) + 1);
            strcpy(names[(*n)++], line);
        }
    }
    fclose(f);
    return names;
}

static void free_cases(char **names)
{
    for (int i = 0; names[i]; i++)
        free(names[i]);
    free(names);
}

typedef struct kcase {
    const char *name;
    rnnc_fixture *fx;
    rnnc_cfg *config;
    rnnc_dtype dt;
    double tol;
    bool training;
    int n_outputs;
    int failures;
} kcase;

static int open_case(kcase *k, const char *name)
{
    char path[512], *json = NULL, *dts = NULL;
    memset(k, 0, sizeof *k);
    k->name = name;
    snprintf(path, sizeof path, "%s/%s.h5", CASES_DIR, name);
    if (rnnc_fixture_open(path, &k->fx) || rnnc_fixture_attr_string(k->fx, "config_json", &json) ||
        rnnc_fixture_attr_string(k->fx, "dtype", &dts)) {
        cr_expect(0, "case %s: %s", name, rnnc_last_error());
        free(json);
        free(dts);
        return -1;
    }
    rnnc_status s = rnnc_spec_read_string(json, strlen(json), name, &k->config);
    cr_expect_eq(s, RNNC_OK, "case %s: config_json does not parse: %s", name, rnnc_last_error());
    k->dt = strcmp(dts, "float64") == 0 ? RNNC_F64 : RNNC_F32;
    k->tol = k->dt == RNNC_F64 ? 1e-9 : 1e-5;
    int64_t v = 0;
    if (rnnc_fixture_has_attr(k->fx, "training"))
        rnnc_fixture_attr_int(k->fx, "training", &v);
    k->training = v != 0;
    v = 1;
    rnnc_fixture_attr_int(k->fx, "n_outputs", &v);
    k->n_outputs = (int)v;
    free(json);
    free(dts);
    return s == RNNC_OK ? 0 : -1;
}

static void close_case(kcase *k)
{
    rnnc_cfg_destroy(k->config);
    rnnc_fixture_close(k->fx);
}

static rnnc_tensor *read_t(kcase *k, const char *name, rnnc_dtype dt)
{
    rnnc_tensor *t = NULL;
    if (rnnc_fixture_read(k->fx, name, dt, &t) != RNNC_OK) {
        cr_expect(0, "case %s: %s", k->name, rnnc_last_error());
        k->failures++;
    }
    return t;
}

static void expect_close(kcase *k, const char *what, const char *kern, double err)
{
    cr_expect_lt(err, k->tol, "case %s (%s kernel): %s differs from Keras by %g (tol %g)", k->name,
                 kern, what, err, k->tol);
    if (!(err < k->tol))
        k->failures++;
}

/* A GRU from the case's config with the case's weights and kernel choice. */
static rnnc_layer *make_layer(kcase *k, const rnnc_shape *in_shape, rnnc_gru_kernel kern)
{
    rnnc_layer *l = NULL;
    rnnc_cfg *c = rnnc_cfg_clone(k->config);
    rnnc_status s = rnnc_gru_from_config(c, &l);
    rnnc_cfg_destroy(c);
    cr_assert_eq(s, RNNC_OK, "case %s: from_config: %s", k->name, rnnc_last_error());
    cr_assert_eq(l->dtype, k->dt, "case %s: dtype from the config", k->name);
    cr_assert_eq(rnnc_layer_build(l, in_shape), RNNC_OK, "case %s: build: %s", k->name,
                 rnnc_last_error());
    cr_assert_eq(rnnc_gru_set_kernel(l, kern), RNNC_OK);
    rnnc_weight *w[3];
    int n;
    cr_assert_eq(rnnc_layer_weights(l, w, 3, &n), RNNC_OK);
    const char *names[3] = {"kernel", "recurrent_kernel", "bias"};
    cr_assert_eq(n, rnnc_fixture_has(k->fx, "bias") ? 3 : 2, "case %s: weight count", k->name);
    for (int i = 0; i < n; i++) {
        rnnc_tensor *t = read_t(k, names[i], k->dt);
        cr_assert_not_null(t);
        cr_assert(rnnc_shape_eq(&t->shape, &w[i]->value->shape), "case %s: %s shape", k->name,
                  names[i]);
        cr_assert_eq(rnnc_tensor_copy(w[i]->value, t), RNNC_OK);
        rnnc_tensor_destroy(t);
    }
    return l;
}

static const char *kern_name(rnnc_layer *l)
{
    return rnnc_gru_last_kernel(l) == RNNC_GRU_KERNEL_FUSED ? "fused" : "generic";
}

/* One call with gradients. */
static rnnc_gru_kernel run_single(kcase *k, rnnc_gru_kernel kern)
{
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *x = read_t(k, "x", k->dt), *h0 = NULL, *mask = NULL;
    cr_assert_not_null(x);
    if (rnnc_fixture_has(k->fx, "initial_state"))
        h0 = read_t(k, "initial_state", k->dt);
    if (rnnc_fixture_has(k->fx, "mask"))
        mask = read_t(k, "mask", RNNC_U8);
    rnnc_layer *l = make_layer(k, &x->shape, kern);
    rnnc_tensor_set_requires_grad(x, true);
    if (h0)
        rnnc_tensor_set_requires_grad(h0, true);
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = h0 ? 2 : 1;
    a.inputs[0] = x;
    a.inputs[1] = h0;
    a.mask = mask;
    a.training = k->training;
    cr_assert_eq(rnnc_layer_call(l, cx, &a, &r), RNNC_OK, "case %s: call: %s", k->name,
                 rnnc_last_error());
    const char *kn = kern_name(l);
    cr_expect_eq(r.n_outputs, k->n_outputs, "case %s: %d outputs, Keras %d", k->name, r.n_outputs,
                 k->n_outputs);
    char what[64];
    for (int i = 0; i < r.n_outputs && i < k->n_outputs; i++) {
        snprintf(what, sizeof what, "output_%d", i);
        rnnc_tensor *want = read_t(k, what, k->dt), *dy;
        expect_close(k, what, kn, rnnc_fixture_max_err(r.outputs[i], want));
        snprintf(what, sizeof what, "dy_%d", i);
        dy = read_t(k, what, k->dt);
        cr_assert_eq(rnnc_ctx_seed_grad(cx, r.outputs[i], dy), RNNC_OK);
        rnnc_tensor_destroy(want);
        rnnc_tensor_destroy(dy);
    }
    rnnc_tensor *loss = NULL, *want_loss = read_t(k, "losses", k->dt);
    cr_assert_eq(rnnc_layer_losses(l, cx, &loss), RNNC_OK, "%s", rnnc_last_error());
    double got_loss = loss ? rnnc_tensor_get(loss, 0) : 0.0;
    double wl = rnnc_tensor_get(want_loss, 0);
    expect_close(k, "losses", kn, fabs(got_loss - wl) / fmax(1.0, fabs(wl)));
    if (loss)
        cr_assert_eq(rnnc_ctx_seed_grad(cx, loss, NULL), RNNC_OK);
    cr_assert_eq(rnnc_backward_seeded(cx), RNNC_OK, "case %s: backward: %s", k->name,
                 rnnc_last_error());
    rnnc_tensor *want = read_t(k, "grad_x", k->dt);
    expect_close(k, "grad_x", kn, rnnc_fixture_max_grad_err(x, want));
    rnnc_tensor_destroy(want);
    if (h0) {
        want = read_t(k, "grad_initial_state", k->dt);
        expect_close(k, "grad_initial_state", kn, rnnc_fixture_max_grad_err(h0, want));
        rnnc_tensor_destroy(want);
    }
    rnnc_weight *w[3];
    int n;
    rnnc_layer_weights(l, w, 3, &n);
    for (int i = 0; i < n; i++) {
        snprintf(what, sizeof what, "grad_%s", w[i]->name);
        want = read_t(k, what, k->dt);
        expect_close(k, what, kn, rnnc_fixture_max_grad_err(w[i]->value, want));
        rnnc_tensor_destroy(want);
    }
    rnnc_tensor_destroy(want_loss);
    rnnc_gru_kernel ran = rnnc_gru_last_kernel(l);
    rnnc_layer_destroy(l);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(h0);
    rnnc_tensor_destroy(mask);
    return ran;
}

/* A stateful sequence of calls, reset_state() before call reset_before_call. */
static rnnc_gru_kernel run_stateful(kcase *k, rnnc_gru_kernel kern)
{
    int64_t n_calls = 0, reset_at = -1;
    cr_assert_eq(rnnc_fixture_attr_int(k->fx, "n_calls", &n_calls), RNNC_OK);
    rnnc_fixture_attr_int(k->fx, "reset_before_call", &reset_at);
    rnnc_tensor *x0 = read_t(k, "x_call0", k->dt);
    rnnc_layer *l = make_layer(k, &x0->shape, kern);
    rnnc_ctx *cx = rnnc_ctx_create();
    char what[64];
    for (int64_t c = 0; c < n_calls; c++) {
        if (c == reset_at)
            cr_assert_eq(rnnc_rnn_reset_state(l), RNNC_OK);
        snprintf(what, sizeof what, "x_call%lld", (long long)c);
        rnnc_tensor *x = read_t(k, what, k->dt);
        rnnc_call_args a;
        rnnc_call_result r;
        memset(&a, 0, sizeof a);
        a.n_inputs = 1;
        a.inputs[0] = x;
        a.training = k->training;
        cr_assert_eq(rnnc_layer_call(l, cx, &a, &r), RNNC_OK, "case %s call %lld: %s", k->name,
                     (long long)c, rnnc_last_error());
        cr_expect_eq(r.n_outputs, k->n_outputs);
        for (int i = 0; i < r.n_outputs && i < k->n_outputs; i++) {
            snprintf(what, sizeof what, "output_call%lld_%d", (long long)c, i);
            rnnc_tensor *want = read_t(k, what, k->dt);
            expect_close(k, what, kern_name(l), rnnc_fixture_max_err(r.outputs[i], want));
            rnnc_tensor_destroy(want);
        }
        rnnc_ctx_clear(cx);
        rnnc_tensor_destroy(x);
    }
    rnnc_ctx_destroy(cx);
    rnnc_gru_kernel ran = rnnc_gru_last_kernel(l);
    rnnc_layer_destroy(l);
    rnnc_tensor_destroy(x0);
    return ran;
}

Test(gru_keras, every_case_matches_keras_on_both_kernels, .timeout = 600)
{
    int n = 0, n_fused = 0, n_failed = 0;
    char **names = read_cases(&n);
    cr_assert_gt(n, 0, "cases.txt lists no case");
    for (int i = 0; i < n; i++) {
        kcase k;
        if (open_case(&k, names[i]) != 0) {
            n_failed++;
            close_case(&k);
            continue;
        }
        const bool stateful = rnnc_fixture_has(k.fx, "x_call0");
        /* generic first, then the automatic choice (fused where it applies) */
        for (int pass = 0; pass < 2; pass++) {
            rnnc_gru_kernel kern = pass == 0 ? RNNC_GRU_KERNEL_GENERIC : RNNC_GRU_KERNEL_AUTO;
            rnnc_gru_kernel ran = stateful ? run_stateful(&k, kern) : run_single(&k, kern);
            if (pass == 0)
                cr_expect_eq(ran, RNNC_GRU_KERNEL_GENERIC);
            else
                n_fused += ran == RNNC_GRU_KERNEL_FUSED;
        }
        n_failed += k.failures > 0;
        close_case(&k);
    }
    cr_log_info("gru_keras: %d cases, %d also on the fused kernel, %d failed", n, n_fused, n_failed);
    cr_expect_eq(n_failed, 0, "%d of %d cases failed", n_failed, n);
    cr_expect_gt(n_fused, n / 2, "most cases must also run the fused kernel");
    free_cases(names);
}

/* ---- get_config reproduces Keras's config_json -------------------------------- */

static bool cfg_equal(const rnnc_cfg *a, const rnnc_cfg *b, char *path, size_t cap)
{
    size_t len = strlen(path);
    if (a->type != b->type) {
        snprintf(path + len, cap - len, ": type %s vs Keras %s", rnnc_cfg_type_name(a->type),
                 rnnc_cfg_type_name(b->type));
        return false;
    }
    switch (a->type) {
    case RNNC_CFG_NULL:
        return true;
    case RNNC_CFG_BOOL:
        return a->v.b == b->v.b;
    case RNNC_CFG_INT:
        return a->v.i == b->v.i;
    case RNNC_CFG_FLOAT:
        if (a->v.f != b->v.f)
            snprintf(path + len, cap - len, ": %.17g vs Keras %.17g", a->v.f, b->v.f);
        return a->v.f == b->v.f;
    case RNNC_CFG_STRING:
        if (strcmp(a->v.s, b->v.s))
            snprintf(path + len, cap - len, ": '%s' vs Keras '%s'", a->v.s, b->v.s);
        return strcmp(a->v.s, b->v.s) == 0;
    case RNNC_CFG_LIST:
    case RNNC_CFG_MAP:
        if (a->n != b->n) {
            snprintf(path + len, cap - len, ": %zu entries vs Keras %zu", a->n, b->n);
            return false;
        }
        for (size_t i = 0; i < a->n; i++) {
            if (a->type == RNNC_CFG_MAP && strcmp(a->keys[i], b->keys[i])) {
                snprintf(path + len, cap - len, ": key %zu is '%s', Keras has '%s'", i, a->keys[i],
                         b->keys[i]);
                return false;
            }
            if (a->type == RNNC_CFG_MAP)
                snprintf(path + len, cap - len, ".%s", a->keys[i]);
            else
                snprintf(path + len, cap - len, "[%zu]", i);
            if (!cfg_equal(a->items[i], b->items[i], path, cap))
                return false;
            path[len] = '\0';
        }
        return true;
    }
    return false;
}

Test(gru_keras, get_config_reproduces_keras_config_json)
{
    int n = 0, n_checked = 0;
    char **names = read_cases(&n);
    for (int i = 0; i < n; i++) {
        if (strncmp(names[i], "torch_", 6) == 0)
            continue; /* hand-written Keras-style configs, not Keras's output */
        kcase k;
        if (open_case(&k, names[i]) != 0) {
            close_case(&k);
            continue;
        }
        rnnc_layer *l = NULL;
        rnnc_cfg *c = rnnc_cfg_clone(k.config), *got = NULL;
        cr_assert_eq(rnnc_gru_from_config(c, &l), RNNC_OK, "case %s: %s", names[i],
                     rnnc_last_error());
        cr_assert_eq(rnnc_layer_get_config(l, &got), RNNC_OK);
        char path[512] = "config";
        cr_expect(cfg_equal(got, k.config, path, sizeof path), "case %s: get_config differs at %s",
                  names[i], path);
        n_checked++;
        rnnc_cfg_destroy(got);
        rnnc_cfg_destroy(c);
        rnnc_layer_destroy(l);
        close_case(&k);
    }
    cr_expect_gt(n_checked, 0);
    free_cases(names);
}
