/* backend_ops_rnn_fixture.h - what test_backend_ops_gru.c and
 * test_backend_ops_lstm.c share to read the Keras recurrent-layer fixtures
 * (tests/fixtures/gru, lstm): flags and activations from config_json, and
 * a dataset as float32. Include after backend_ops_test_util.h (OK) and
 * helpers/fixture.h. */
#ifndef RNNC_TEST_BACKEND_OPS_RNN_FIXTURE_H
#define RNNC_TEST_BACKEND_OPS_RNN_FIXTURE_H

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

#endif
