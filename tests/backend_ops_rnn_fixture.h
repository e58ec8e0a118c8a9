/* backend_ops_rnn_fixture.h - what test_backend_ops_gru.c and
 * test_backend_ops_lstm.c share to read the Keras recurrent-layer fixtures
 * (tests/fixtures/gru, lstm): flags and activations from config_json, and
 * a dataset as float32; buffers up to and down from a backend (up, zeros,
 * down) and floats as doubles (to_d). Include after backend_ops_test_util.h (OK) and
 * helpers/fixture.h. */
#ifndef RNNC_TEST_BACKEND_OPS_RNN_FIXTURE_H
#define RNNC_TEST_BACKEND_OPS_RNN_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether "key": true is in the config's JSON. */
static bool json_flag(const char *json, const char *key)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\": true", key);
    return strstr(json, pat) != NULL;
}

/* The activation named by "key": "name" in json; false when not element-wise. */
static bool json_act(const char *json, const char *key, rnnc_act *out)
{
    char pat[96], name[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *p = strstr(json, pat);
    cr_assert(p, "no %s in the config", key);
    p += strlen(pat);
    size_t n = strcspn(p, "\"");
    cr_assert(n < sizeof name);
    memcpy(name, p, n);
    name[n] = '\0';
    OK(rnnc_act_from_name(name, key, out));
    return rnnc_act_is_elementwise(*out);
}

static float *read_f32(rnnc_fixture *fx, const char *name, size_t *n)
{
    rnnc_tensor *t;
    OK(rnnc_fixture_read(fx, name, RNNC_F32, &t));
    float *v = malloc((t->numel ? t->numel : 1) * sizeof *v);
    memcpy(v, t->data, t->numel * sizeof *v);
    if (n)
        *n = t->numel;
    rnnc_tensor_destroy(t);
    return v;
}

/* n floats of host on b (NULL for NULL). */
static rnnc_bbuf *up(const rnnc_backend_ops *b, const float *host, size_t n)
{
    if (!host)
        return NULL;
    rnnc_bbuf *d;
    OK(b->alloc(RNNC_F32, n, &d));
    OK(b->upload(d, host));
    return d;
}

/* n zeros on b. */
static rnnc_bbuf *zeros(const rnnc_backend_ops *b, size_t n)
{
    rnnc_bbuf *d;
    OK(b->alloc(RNNC_F32, n, &d));
    OK(b->fill(d, 0.0f));
    return d;
}

/* d's values on the host (malloc'd); frees d. NULL for NULL. */
static float *down(rnnc_bbuf *d)
{
    if (!d)
        return NULL;
    float *h = malloc((d->n ? d->n : 1) * sizeof *h);
    cr_assert(h);
    OK(d->be->download(h, d));
    d->be->free(d);
    return h;
}

/* v as doubles (malloc'd); NULL for NULL. */
static double *to_d(const float *v, size_t n)
{
    if (!v)
        return NULL;
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = v[i];
    return d;
}

/* Opens the case at path; *json its config_json (malloc'd). */
static rnnc_fixture *case_open(const char *path, char **json)
{
    rnnc_fixture *fx;
    OK(rnnc_fixture_open(path, &fx));
    OK(rnnc_fixture_attr_string(fx, "config_json", json));
    return fx;
}

/* Whether the op can express the case (not stateful, an x, element-wise
 * activations read into act, rec); when not, frees json and closes fx. */
static bool case_usable(rnnc_fixture *fx, char *json, rnnc_act *act, rnnc_act *rec)
{
    bool ok = !json_flag(json, "stateful") && rnnc_fixture_has(fx, "x") &&
              json_act(json, "activation", act) && json_act(json, "recurrent_activation", rec);
    if (!ok) {
        free(json);
        rnnc_fixture_close(fx);
    }
    return ok;
}

/* x (B, T, F) as float32 (malloc'd), its dims into B, T, F. */
static float *read_x(rnnc_fixture *fx, int64_t *B, int64_t *T, int64_t *F)
{
    rnnc_tensor *xt;
    OK(rnnc_fixture_read(fx, "x", RNNC_F32, &xt));
    *B = xt->shape.dim[0], *T = xt->shape.dim[1], *F = xt->shape.dim[2];
    rnnc_tensor_destroy(xt);
    return read_f32(fx, "x", NULL);
}

/* The (B, T) mask as bytes (malloc'd); NULL without one. */
static uint8_t *read_mask(rnnc_fixture *fx)
{
    if (!rnnc_fixture_has(fx, "mask"))
        return NULL;
    rnnc_tensor *m;
    OK(rnnc_fixture_read(fx, "mask", RNNC_U8, &m));
    uint8_t *mask = malloc(m->numel);
    memcpy(mask, m->data, m->numel);
    rnnc_tensor_destroy(m);
    return mask;
}

/* The layer's added losses (losses[0]); 0 without them. */
static double read_losses(rnnc_fixture *fx)
{
    double losses = 0;
    if (rnnc_fixture_has(fx, "losses")) {
        float *l = read_f32(fx, "losses", NULL);
        losses = l[0];
        free(l);
    }
    return losses;
}

/* The op's y (n values) against the float64 reference yref, within 1e-5. */
static void expect_ref_y(const float *y, const double *yref, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)y[i] - yref[i]) <= 1e-5, "%s: y[%zu] %.9g vs reference %.9g", name,
                  i, (double)y[i], yref[i]);
}

#endif
