/* keras_cases.c - see keras_cases.h. */
#include "helpers/keras_cases.h"

#include <criterion/criterion.h>
#include <math.h>

#include "framework/autograd.h"
#include "helpers/fixture.h"

#include "io/spec_reader.h"
#include "layers/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char **rnnc_test_read_cases(const char *dir, int *n)
{
    char path[1024], line[256];
    *n = 0;
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char **names = calloc(1024, sizeof *names);
    while (names && fgets(line, sizeof line, f) && *n < 1023) {
        line[strcspn(line, "\r\n \t")] = '\0';
        if (line[0] && line[0] != '#') {
            names[*n] = malloc(strlen(line) + 1);
            if (!names[*n])
                break;
            strcpy(names[(*n)++], line);
        }
    }
    fclose(f);
    return names;
}

void rnnc_test_free_cases(char **names)
{
    for (int i = 0; names && names[i]; i++)
        free(names[i]);
    free(names);
}

bool rnnc_test_cfg_equal(const rnnc_cfg *a, const rnnc_cfg *b, char *path, size_t cap)
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
            if (!rnnc_test_cfg_equal(a->items[i], b->items[i], path, cap))
                return false;
            path[len] = '\0';
        }
        return true;
    }
    return false;
}

rnnc_status rnnc_test_layer_from_json(const char *json, rnnc_layer **out)
{
    rnnc_cfg *cfg;
    RNNC_TRY(rnnc_spec_read_string(json, strlen(json), "test", &cfg));
    rnnc_status s = rnnc_layer_from_config(cfg, out);
    rnnc_cfg_destroy(cfg);
    return s;
}

static rnnc_tensor *rd(rnnc_fixture *fx, const char *name, rnnc_dtype dt)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_read(fx, name, dt, &t), RNNC_OK, "%s: %s", name, rnnc_last_error());
    return t;
}

int rnnc_test_run_layer_case(const char *dir, const char *name)
{
    char path[512], *json = NULL, what[64];
    int fails = 0;
    rnnc_fixture *fx;
    snprintf(path, sizeof path, "%s/%s.h5", dir, name);
    cr_assert_eq(rnnc_fixture_open(path, &fx), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_attr_string(fx, "layer_json", &json), RNNC_OK);
    rnnc_cfg *env;
    cr_assert_eq(rnnc_spec_read_string(json, strlen(json), name, &env), RNNC_OK, "%s",
                 rnnc_last_error());
    rnnc_layer *l;
    rnnc_cfg *c = rnnc_cfg_clone(env);
    cr_assert_eq(rnnc_layer_from_config(c, &l), RNNC_OK, "case %s: %s", name, rnnc_last_error());
    rnnc_cfg_destroy(c);
    rnnc_tensor *x = rd(fx, "x", RNNC_F64), *mask = NULL;
    if (rnnc_fixture_has(fx, "mask"))
        mask = rd(fx, "mask", RNNC_U8);
    cr_assert_eq(rnnc_layer_build(l, &x->shape), RNNC_OK, "case %s: %s", name, rnnc_last_error());
    rnnc_weight *w[16];
    int nw;
    cr_assert_eq(rnnc_layer_weights(l, w, 16, &nw), RNNC_OK);
    for (int i = 0; i < nw; i++) {
        snprintf(what, sizeof what, "w_%d", i);
        cr_assert(rnnc_fixture_has(fx, what), "case %s: rnnc has %d weights", name, nw);
        rnnc_tensor *t = rd(fx, what, RNNC_F64);
        cr_assert(rnnc_shape_eq(&t->shape, &w[i]->value->shape), "case %s: %s shape", name, what);
        cr_assert_eq(rnnc_tensor_copy(w[i]->value, t), RNNC_OK);
        rnnc_tensor_destroy(t);
    }
    snprintf(what, sizeof what, "w_%d", nw);
    cr_assert(!rnnc_fixture_has(fx, what), "case %s: Keras has more than %d weights", name, nw);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor_set_requires_grad(x, true);
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 1;
    a.inputs[0] = x;
    a.mask = mask;
    cr_assert_eq(rnnc_layer_call(l, cx, &a, &r), RNNC_OK, "case %s: %s", name, rnnc_last_error());
    int64_t n_out = 0;
    rnnc_fixture_attr_int(fx, "n_outputs", &n_out);
    cr_expect_eq(r.n_outputs, n_out, "case %s: %d outputs, Keras %lld", name, r.n_outputs,
                 (long long)n_out);
    for (int i = 0; i < r.n_outputs && i < n_out; i++) {
        snprintf(what, sizeof what, "output_%d", i);
        rnnc_tensor *want = rd(fx, what, RNNC_F64), *dy;
        double e = rnnc_fixture_max_err(r.outputs[i], want);
        cr_expect_lt(e, 1e-9, "case %s: %s differs by %g", name, what, e);
        fails += !(e < 1e-9);
        snprintf(what, sizeof what, "dy_%d", i);
        dy = rd(fx, what, RNNC_F64);
        cr_assert_eq(rnnc_ctx_seed_grad(cx, r.outputs[i], dy), RNNC_OK);
        rnnc_tensor_destroy(want);
        rnnc_tensor_destroy(dy);
    }
    rnnc_tensor *loss = NULL, *wl = rd(fx, "losses", RNNC_F64);
    cr_assert_eq(rnnc_layer_losses(l, cx, &loss), RNNC_OK);
    const double got_l = loss ? rnnc_tensor_get(loss, 0) : 0.0;
    cr_expect_lt(fabs(got_l - rnnc_tensor_get(wl, 0)), 1e-9, "case %s: losses %g vs Keras %g",
                 name, got_l, rnnc_tensor_get(wl, 0));
    if (loss)
        cr_assert_eq(rnnc_ctx_seed_grad(cx, loss, NULL), RNNC_OK);
    cr_assert_eq(rnnc_backward_seeded(cx), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *want = rd(fx, "grad_x", RNNC_F64);
    double e = rnnc_fixture_max_grad_err(x, want);
    cr_expect_lt(e, 1e-9, "case %s: grad_x differs by %g", name, e);
    fails += !(e < 1e-9);
    rnnc_tensor_destroy(want);
    for (int i = 0; i < nw; i++) {
        snprintf(what, sizeof what, "grad_w_%d", i);
        want = rd(fx, what, RNNC_F64);
        e = rnnc_fixture_max_grad_err(w[i]->value, want);
        cr_expect_lt(e, 1e-9, "case %s: %s (%s) differs by %g", name, what, w[i]->name, e);
        fails += !(e < 1e-9);
        rnnc_tensor_destroy(want);
    }
    /* get_config equals Keras's config */
    rnnc_cfg *got = NULL;
    cr_assert_eq(rnnc_layer_get_config(l, &got), RNNC_OK);
    char where[512] = "config";
    cr_expect(rnnc_test_cfg_equal(got, rnnc_cfg_peek(env, "config"), where, sizeof where),
              "case %s: get_config differs at %s", name, where);
    rnnc_cfg_destroy(got);
    rnnc_tensor_destroy(wl);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(mask);
    rnnc_layer_destroy(l);
    rnnc_cfg_destroy(env);
    rnnc_fixture_close(fx);
    free(json);
    return fails;
}

