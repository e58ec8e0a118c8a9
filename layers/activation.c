/* activation.c - the activation layers (Activation, ReLU, LeakyReLU, ELU,
 * Softmax) and the two tape ops they need that ops.h has no parameters for:
 * a parametrized relu/elu (element-wise) and a softmax over any set of axes.
 * Formulas are Keras's (keras/src/activations/activations.py). */
#include "layers/activation.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "layers/device_classes_internal.h"
#include "layers/registry.h"

/* Keras's _large_negative_number for float32/float64 (softmax.py). */
#define SOFTMAX_LARGE_NEGATIVE (-1e9)

/* ---- element-wise parametrized activations ---------------------------- */

enum { PACT_RELU, PACT_ELU };

/* farg: [0] max_value (INFINITY = None), [1] negative_slope, [2] threshold, [3] alpha. */
static double pact_apply(int kind, const double *p, double x)
{
    if (kind == PACT_ELU)
        return x > 0 ? x : p[3] * (exp(x) - 1.0);
    const double mx = p[0], slope = p[1], th = p[2];
    double pos = x > th ? x : 0.0; /* threshold 0: relu */
    if (pos > mx)
        pos = mx;
    const double neg = th - x > 0 ? th - x : 0.0;
    return pos - slope * neg;
}

static double pact_deriv(int kind, const double *p, double x)
{
    if (kind == PACT_ELU)
        return x > 0 ? 1.0 : p[3] * exp(x);
    const double mx = p[0], slope = p[1], th = p[2];
    const double dpos = (x > th && x < mx) ? 1.0 : 0.0;
    return dpos + (th - x > 0 ? slope : 0.0);
}

static rnnc_status pact_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    const int kind = (int)n->iarg[0];
    if (x->dtype == RNNC_F32) {
        const float *X = x->data, *G = out->grad;
        float *GX = x->grad;
        for (size_t i = 0; i < x->numel; i++)
            GX[i] += (float)((double)G[i] * pact_deriv(kind, n->farg, X[i]));
    } else {
        const double *X = x->data, *G = out->grad;
        double *GX = x->grad;
        for (size_t i = 0; i < x->numel; i++)
            GX[i] += G[i] * pact_deriv(kind, n->farg, X[i]);
    }
    return RNNC_OK;
}

static rnnc_status pact(rnnc_ctx *cx, int kind, const double p[4], rnnc_tensor *x, rnnc_tensor **y)
{
    rnnc_tensor *out;
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &x->shape, &out));
    if (x->dtype == RNNC_F32) {
        const float *X = x->data;
        float *Y = out->data;
        for (size_t i = 0; i < x->numel; i++)
            Y[i] = (float)pact_apply(kind, p, X[i]);
    } else {
        const double *X = x->data;
        double *Y = out->data;
        for (size_t i = 0; i < x->numel; i++)
            Y[i] = pact_apply(kind, p, X[i]);
    }
    RNNC_TRY(rnnc_ctx_record(cx, kind == PACT_ELU ? "elu_layer" : "relu_layer", pact_backward, 1, &x,
                             1, &out, &node));
    if (node) {
        node->iarg[0] = kind;
        memcpy(node->farg, p, 4 * sizeof *p);
    }
    *y = out;
    return RNNC_OK;
}

/* ---- softmax over a set of axes ---------------------------------------- */

/* Element i belongs to group gidx[i]: its index with the softmax axes removed. */
typedef struct softmax_groups {
    size_t n_groups;
    size_t gidx[]; /* numel */
} softmax_groups;

static softmax_groups *make_groups(const rnnc_shape *s, size_t numel, const bool *on_axis)
{
    softmax_groups *g = malloc(sizeof *g + (numel ? numel : 1) * sizeof(size_t));
    if (!g)
        return NULL;
    int64_t rstride[RNNC_MAX_DIMS], idx[RNNC_MAX_DIMS] = {0};
    size_t n = 1;
    for (int d = s->ndim - 1; d >= 0; d--) {
        rstride[d] = on_axis[d] ? 0 : (int64_t)n;
        if (!on_axis[d])
            n *= (size_t)s->dim[d];
    }
    g->n_groups = numel ? n : 0;
    size_t cur = 0;
    for (size_t i = 0; i < numel; i++) {
        g->gidx[i] = cur;
        /* odometer increment of idx, keeping cur = sum idx[d] * rstride[d] */
        for (int d = s->ndim - 1; d >= 0; d--) {
            if (++idx[d] < s->dim[d]) {
                cur += (size_t)rstride[d];
                break;
            }
            cur -= (size_t)(rstride[d] * (idx[d] - 1));
            idx[d] = 0;
        }
    }
    return g;
}

/* dx_i += y_i (dy_i - sum_{j in group(i)} dy_j y_j) */
static rnnc_status softmax_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    const softmax_groups *g = n->state;
    double *acc = calloc(g->n_groups ? g->n_groups : 1, sizeof *acc);
    if (!acc)
        return rnnc_fail(RNNC_E_NOMEM, "Softmax backward: out of memory");
    for (size_t i = 0; i < x->numel; i++)
        acc[g->gidx[i]] += rnnc_tensor_get_grad(out, i) * rnnc_tensor_get(out, i);
    if (x->dtype == RNNC_F32) {
        const float *Y = out->data, *G = out->grad;
        float *GX = x->grad;
        for (size_t i = 0; i < x->numel; i++)
            GX[i] += (float)((double)Y[i] * ((double)G[i] - acc[g->gidx[i]]));
    } else {
        const double *Y = out->data, *G = out->grad;
        double *GX = x->grad;
        for (size_t i = 0; i < x->numel; i++)
            GX[i] += Y[i] * (G[i] - acc[g->gidx[i]]);
    }
    free(acc);
    return RNNC_OK;
}

static rnnc_status softmax_axes(rnnc_ctx *cx, rnnc_tensor *x, const bool *on_axis, rnnc_tensor **y)
{
    rnnc_tensor *out;
    rnnc_node *node;
    softmax_groups *g = make_groups(&x->shape, x->numel, on_axis);
    double *mx = g ? malloc((g->n_groups ? g->n_groups : 1) * 2 * sizeof *mx) : NULL;
    if (!g || !mx) {
        free(g);
        return rnnc_fail(RNNC_E_NOMEM, "Softmax: out of memory");
    }
    double *sum = mx + g->n_groups;
    rnnc_status s = rnnc_ctx_tensor(cx, x->dtype, &x->shape, &out);
    if (s != RNNC_OK)
        goto done;
    for (size_t k = 0; k < g->n_groups; k++) {
        mx[k] = -INFINITY;
        sum[k] = 0.0;
    }
    /* exp(x - max) / sum exp(x - max), per group, in double */
    for (size_t i = 0; i < x->numel; i++) {
        double v = rnnc_tensor_get(x, i);
        if (v > mx[g->gidx[i]])
            mx[g->gidx[i]] = v;
    }
    for (size_t i = 0; i < x->numel; i++) {
        double e = exp(rnnc_tensor_get(x, i) - mx[g->gidx[i]]);
        rnnc_tensor_set(out, i, e);
        sum[g->gidx[i]] += e;
    }
    for (size_t i = 0; i < x->numel; i++)
        rnnc_tensor_set(out, i, rnnc_tensor_get(out, i) / sum[g->gidx[i]]);
    s = rnnc_ctx_record(cx, "softmax_axes", softmax_backward, 1, &x, 1, &out, &node);
    if (s == RNNC_OK && node) {
        node->state = g;
        node->free_state = free;
        g = NULL;
    }
    if (s == RNNC_OK)
        *y = out;
done:
    free(g);
    free(mx);
    return s;
}

/* ---- shared class functions -------------------------------------------- */

static rnnc_status same_shape_spec(const rnnc_layer *l, const rnnc_shape *in, rnnc_output_spec *spec)
{
    spec->n_outputs = 1;
    spec->shapes[0] = *in;
    spec->dtype = l->dtype;
    return RNNC_OK;
}

/* A zeroed layer struct of `size` bytes with the base set up. */
static rnnc_status alloc_layer(size_t size, const rnnc_layer_class *cls, const char *name,
                               rnnc_dtype dtype, rnnc_layer **out)
{
    rnnc_layer *l = calloc(1, size);
    *out = NULL;
    if (!l)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory", cls->class_name);
    rnnc_status s = rnnc_layer_init(l, cls, name, dtype);
    if (s != RNNC_OK) {
        rnnc_layer_destroy(l);
        return s;
    }
    *out = l;
    return RNNC_OK;
}

static const char *const base_keys[] = {"name", "trainable", "dtype", "activity_regularizer",
                                        "input_shape", "batch_input_shape", "input_dim",
                                        "batch_size"};
#define N_BASE_KEYS 8

/* base_keys + the class's keys, NULL-terminated, into buf (cap >= 16). */
static const char *const *keys_with(const char **buf, const char *a, const char *b, const char *c)
{
    int n = 0;
    for (int i = 0; i < N_BASE_KEYS; i++)
        buf[n++] = base_keys[i];
    if (a)
        buf[n++] = a;
    if (b)
        buf[n++] = b;
    if (c)
        buf[n++] = c;
    buf[n] = NULL;
    return buf;
}

/* Base keys and legacy input keys of a config, into an allocated layer. */
static rnnc_status read_common(rnnc_layer *l, const rnnc_cfg *c)
{
    rnnc_shape in;
    bool has_in;
    RNNC_TRY(rnnc_layer_read_base_config(l, c, true));
    return rnnc_layer_config_input_shape(c, l->cls->class_name, true, &in, &has_in);
}

static rnnc_status check_map(const rnnc_cfg *c, const char *what)
{
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: config must be a map", what);
    return RNNC_OK;
}

/* ---- Activation ---------------------------------------------------------- */

static rnnc_status activation_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                                   rnnc_call_result *res)
{
    const rnnc_activation_layer *a = (const rnnc_activation_layer *)l;
    RNNC_TRY(rnnc_layer_check_input_dtype(l, args->inputs[0]));
    res->n_outputs = 1;
    return rnnc_activation(cx, a->activation, args->inputs[0], &res->outputs[0]);
}

static rnnc_status activation_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    return rnnc_cfg_set_string(c, "activation", rnnc_act_name(((const rnnc_activation_layer *)l)->activation));
}

const rnnc_layer_class rnnc_activation_layer_class = {
    .class_name = "Activation",
    .module = "keras.layers",
    .call = activation_call,
    .compute_output_spec = same_shape_spec,
    .get_config = activation_get_config,
    .supports_masking = true,
    .device = &rnnc_activation_device_class,
};

rnnc_status rnnc_activation_layer_create(rnnc_act activation, const char *name, rnnc_dtype dtype,
                                         rnnc_layer **out)
{
    rnnc_layer *l;
    *out = NULL;
    if ((unsigned)activation >= RNNC_ACT_COUNT)
        return rnnc_fail(RNNC_E_ARG, "Activation: invalid activation id %d", (int)activation);
    RNNC_TRY(alloc_layer(sizeof(rnnc_activation_layer), &rnnc_activation_layer_class, name, dtype, &l));
    ((rnnc_activation_layer *)l)->activation = activation;
    *out = l;
    return RNNC_OK;
}

rnnc_status rnnc_activation_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    const char *keys[16];
    char w[300];
    rnnc_layer *l;
    rnnc_status s;
    *out = NULL;
    RNNC_TRY(check_map(c, "Activation"));
    char hint[600];
    if (!rnnc_cfg_peek(c, "activation"))
        return rnnc_fail(RNNC_E_ARG, "Activation: %s'activation' is required (an activation name such as \"relu\")%s",
                         rnnc_cfg_misspelt(c, "activation", NULL, hint, sizeof hint), rnnc_cfg_where(c, w, sizeof w));
    RNNC_TRY(alloc_layer(sizeof(rnnc_activation_layer), &rnnc_activation_layer_class, rnnc_layer_config_name(c), RNNC_F32, &l));
    if ((s = read_common(l, c)) ||
        (s = rnnc_layer_config_activation(c, "Activation", "activation", &((rnnc_activation_layer *)l)->activation)) ||
        (s = rnnc_cfg_check_unread(c, "Activation", keys_with(keys, "activation", NULL, NULL)))) {
        rnnc_layer_destroy(l);
        return s;
    }
    *out = l;
    return RNNC_OK;
}

/* ---- ReLU, LeakyReLU, ELU ------------------------------------------------ */

static void relu_params(const rnnc_relu_layer *r, double p[4])
{
    p[0] = r->has_max_value ? r->max_value : INFINITY;
    p[1] = r->negative_slope;
    p[2] = r->threshold;
    p[3] = r->alpha;
}

static rnnc_status relu_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                             rnnc_call_result *res)
{
    double p[4];
    RNNC_TRY(rnnc_layer_check_input_dtype(l, args->inputs[0]));
    relu_params((const rnnc_relu_layer *)l, p);
    res->n_outputs = 1;
    return pact(cx, l->cls == &rnnc_elu_class ? PACT_ELU : PACT_RELU, p, args->inputs[0], &res->outputs[0]);
}

static rnnc_status relu_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_relu_layer *r = (const rnnc_relu_layer *)l;
    if (r->has_max_value)
        RNNC_TRY(rnnc_layer_config_set_number(c, "max_value", (rnnc_layer_num){r->max_value, r->max_is_int}));
    else
        RNNC_TRY(rnnc_cfg_set_null(c, "max_value"));
    RNNC_TRY(rnnc_layer_config_set_number(c, "negative_slope", (rnnc_layer_num){r->negative_slope, r->slope_is_int}));
    return rnnc_layer_config_set_number(c, "threshold", (rnnc_layer_num){r->threshold, r->threshold_is_int});
}

static rnnc_status leaky_relu_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_relu_layer *r = (const rnnc_relu_layer *)l;
    return rnnc_layer_config_set_number(c, "negative_slope", (rnnc_layer_num){r->negative_slope, r->slope_is_int});
}

static rnnc_status elu_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_relu_layer *r = (const rnnc_relu_layer *)l;
    /* Keras 3.15's ELU writes no keys at all; see activation.h. */
    if (r->alpha != 1.0)
        return rnnc_layer_config_set_number(c, "alpha", (rnnc_layer_num){r->alpha, r->alpha_is_int});
    return RNNC_OK;
}

const rnnc_layer_class rnnc_relu_class = {
    .class_name = "ReLU",
    .module = "keras.layers",
    .call = relu_call,
    .compute_output_spec = same_shape_spec,
    .get_config = relu_get_config,
    .supports_masking = true,
};

const rnnc_layer_class rnnc_leaky_relu_class = {
    .class_name = "LeakyReLU",
    .module = "keras.layers",
    .call = relu_call,
    .compute_output_spec = same_shape_spec,
    .get_config = leaky_relu_get_config,
    .supports_masking = true,
};

const rnnc_layer_class rnnc_elu_class = {
    .class_name = "ELU",
    .module = "keras.layers",
    .call = relu_call,
    .compute_output_spec = same_shape_spec,
    .get_config = elu_get_config,
    .supports_masking = true,
};

/* Keras's ReLU checks: max_value >= 0 (or None), negative_slope and threshold >= 0. */
static rnnc_status check_relu(const char *what, bool has_max, double max_value, double slope,
                              double threshold)
{
    if (has_max && !(max_value >= 0))
        return rnnc_fail(RNNC_E_ARG, "%s: 'max_value' cannot be negative, got %g", what, max_value);
    if (!(slope >= 0) || isinf(slope))
        return rnnc_fail(RNNC_E_ARG, "%s: 'negative_slope' cannot be None or negative, got %g", what, slope);
    if (!(threshold >= 0) || isinf(threshold))
        return rnnc_fail(RNNC_E_ARG, "%s: 'threshold' cannot be None or negative, got %g", what, threshold);
    return RNNC_OK;
}

rnnc_status rnnc_relu_create(double max_value, double negative_slope, double threshold,
                             const char *name, rnnc_dtype dtype, rnnc_layer **out)
{
    rnnc_layer *l;
    *out = NULL;
    bool has_max = !(max_value < 0); /* negative = None; NaN is refused below */
    RNNC_TRY(check_relu("ReLU", has_max, max_value, negative_slope, threshold));
    RNNC_TRY(alloc_layer(sizeof(rnnc_relu_layer), &rnnc_relu_class, name, dtype, &l));
    rnnc_relu_layer *r = (rnnc_relu_layer *)l;
    r->has_max_value = has_max;
    r->max_value = has_max ? max_value : 0.0;
    r->negative_slope = negative_slope;
    r->threshold = threshold;
    *out = l;
    return RNNC_OK;
}

rnnc_status rnnc_leaky_relu_create(double negative_slope, const char *name, rnnc_dtype dtype,
                                   rnnc_layer **out)
{
    rnnc_layer *l;
    *out = NULL;
    if (!(negative_slope >= 0) || isinf(negative_slope))
        return rnnc_fail(RNNC_E_ARG, "LeakyReLU: 'negative_slope' cannot be None or negative, got %g",
                         negative_slope);
    RNNC_TRY(alloc_layer(sizeof(rnnc_relu_layer), &rnnc_leaky_relu_class, name, dtype, &l));
    ((rnnc_relu_layer *)l)->negative_slope = negative_slope;
    *out = l;
    return RNNC_OK;
}

rnnc_status rnnc_elu_create(double alpha, const char *name, rnnc_dtype dtype, rnnc_layer **out)
{
    rnnc_layer *l;
    *out = NULL;
    if (!isfinite(alpha))
        return rnnc_fail(RNNC_E_ARG, "ELU: 'alpha' must be a finite number, got %g", alpha);
    RNNC_TRY(alloc_layer(sizeof(rnnc_relu_layer), &rnnc_elu_class, name, dtype, &l));
    ((rnnc_relu_layer *)l)->alpha = alpha;
    *out = l;
    return RNNC_OK;
}

/* A number key that Keras refuses as None (negative_slope, threshold). */
static rnnc_status read_not_none(const rnnc_cfg *c, const char *what, const char *key,
                                 rnnc_layer_num dflt, rnnc_layer_num *out)
{
    char w[300];
    const rnnc_cfg *n = rnnc_cfg_peek(c, key);
    if (n && n->type == RNNC_CFG_NULL) {
        rnnc_cfg_get(c, key);
        return rnnc_fail(RNNC_E_ARG, "%s: '%s' cannot be None%s", what, key, rnnc_cfg_where(n, w, sizeof w));
    }
    return rnnc_layer_config_number(c, what, key, dflt, out);
}

rnnc_status rnnc_relu_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    const char *keys[16];
    rnnc_layer_num mx, slope, th;
    rnnc_layer *l;
    rnnc_status s;
    *out = NULL;
    RNNC_TRY(check_map(c, "ReLU"));
    const rnnc_cfg *mxc = rnnc_cfg_peek(c, "max_value");
    bool has_max = mxc && mxc->type != RNNC_CFG_NULL;
    RNNC_TRY(rnnc_layer_config_number(c, "ReLU", "max_value", (rnnc_layer_num){0, false}, &mx));
    RNNC_TRY(read_not_none(c, "ReLU", "negative_slope", (rnnc_layer_num){0.0, false}, &slope));
    RNNC_TRY(read_not_none(c, "ReLU", "threshold", (rnnc_layer_num){0.0, false}, &th));
    RNNC_TRY(check_relu("ReLU", has_max, mx.v, slope.v, th.v));
    RNNC_TRY(alloc_layer(sizeof(rnnc_relu_layer), &rnnc_relu_class, rnnc_layer_config_name(c), RNNC_F32, &l));
    rnnc_relu_layer *r = (rnnc_relu_layer *)l;
    r->has_max_value = has_max;
    r->max_value = has_max ? mx.v : 0.0;
    r->max_is_int = mx.is_int;
    r->negative_slope = slope.v;
    r->slope_is_int = slope.is_int;
    r->threshold = th.v;
    r->threshold_is_int = th.is_int;
    if ((s = read_common(l, c)) ||
        (s = rnnc_cfg_check_unread(c, "ReLU", keys_with(keys, "max_value", "negative_slope", "threshold")))) {
        rnnc_layer_destroy(l);
        return s;
    }
    *out = l;
    return RNNC_OK;
}

rnnc_status rnnc_leaky_relu_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    const char *keys[16];
    rnnc_layer_num slope;
    rnnc_layer *l;
    rnnc_status s;
    char w[300];
    *out = NULL;
    RNNC_TRY(check_map(c, "LeakyReLU"));
    /* Keras 2's "alpha" wins over negative_slope, as Keras 3's constructor does. */
    const char *key = rnnc_cfg_peek(c, "alpha") ? "alpha" : "negative_slope";
    if (strcmp(key, "alpha") == 0)
        rnnc_cfg_get(c, "negative_slope");
    RNNC_TRY(read_not_none(c, "LeakyReLU", key, (rnnc_layer_num){0.3, false}, &slope));
    if (!(slope.v >= 0) || isinf(slope.v))
        return rnnc_fail(RNNC_E_ARG, "LeakyReLU: '%s' cannot be None or negative, got %g%s", key, slope.v,
                         rnnc_cfg_where(rnnc_cfg_peek(c, key), w, sizeof w));
    RNNC_TRY(alloc_layer(sizeof(rnnc_relu_layer), &rnnc_leaky_relu_class, rnnc_layer_config_name(c), RNNC_F32, &l));
    ((rnnc_relu_layer *)l)->negative_slope = slope.v;
    ((rnnc_relu_layer *)l)->slope_is_int = slope.is_int;
    if ((s = read_common(l, c)) ||
        (s = rnnc_cfg_check_unread(c, "LeakyReLU", keys_with(keys, "negative_slope", "alpha", NULL)))) {
        rnnc_layer_destroy(l);
        return s;
    }
    *out = l;
    return RNNC_OK;
}

rnnc_status rnnc_elu_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    const char *keys[16];
    rnnc_layer_num alpha;
    rnnc_layer *l;
    rnnc_status s;
    *out = NULL;
    RNNC_TRY(check_map(c, "ELU"));
    RNNC_TRY(rnnc_layer_config_number(c, "ELU", "alpha", (rnnc_layer_num){1.0, false}, &alpha));
    RNNC_TRY(alloc_layer(sizeof(rnnc_relu_layer), &rnnc_elu_class, rnnc_layer_config_name(c), RNNC_F32, &l));
    ((rnnc_relu_layer *)l)->alpha = alpha.v;
    ((rnnc_relu_layer *)l)->alpha_is_int = alpha.is_int;
    if ((s = read_common(l, c)) || (s = rnnc_cfg_check_unread(c, "ELU", keys_with(keys, "alpha", NULL, NULL)))) {
        rnnc_layer_destroy(l);
        return s;
    }
    *out = l;
    return RNNC_OK;
}

/* ---- Softmax ------------------------------------------------------------- */

/* Keras (master) refuses a mask that would enlarge the input when broadcast. */
static rnnc_status check_softmax_mask(const rnnc_tensor *mask, const rnnc_tensor *x)
{
    char s[160], t[160];
    if (mask->dtype != RNNC_U8)
        return rnnc_fail(RNNC_E_DTYPE, "Softmax: the mask must be uint8, got %s", rnnc_dtype_name(mask->dtype));
    if (mask->shape.ndim > x->shape.ndim)
        return rnnc_fail(RNNC_E_SHAPE, "Softmax: the mask must be broadcastable to the inputs and must not have more dimensions; inputs shape %s, mask shape %s",
                         rnnc_shape_str(&x->shape, s, sizeof s), rnnc_shape_str(&mask->shape, t, sizeof t));
    for (int i = 1; i <= mask->shape.ndim; i++) {
        int64_t m = mask->shape.dim[mask->shape.ndim - i], d = x->shape.dim[x->shape.ndim - i];
        if (m != 1 && m != d)
            return rnnc_fail(RNNC_E_SHAPE, "Softmax: the mask must be broadcastable to the inputs (each mask dimension 1 or equal to the input's, aligned on the right); inputs shape %s, mask shape %s",
                             rnnc_shape_str(&x->shape, s, sizeof s), rnnc_shape_str(&mask->shape, t, sizeof t));
    }
    return RNNC_OK;
}

static rnnc_status softmax_resolve(const rnnc_softmax_layer *sm, const rnnc_shape *in, bool *on_axis)
{
    char s[160];
    memset(on_axis, 0, RNNC_MAX_DIMS * sizeof *on_axis);
    for (int i = 0; i < sm->n_axes; i++) {
        int a = sm->axes[i];
        if (a < -in->ndim || a >= in->ndim)
            return rnnc_fail(RNNC_E_SHAPE, "Softmax: axis %d is out of range for an input of shape %s", a,
                             rnnc_shape_str(in, s, sizeof s));
        on_axis[a < 0 ? a + in->ndim : a] = true;
    }
    return RNNC_OK;
}

static rnnc_status softmax_output_spec(const rnnc_layer *l, const rnnc_shape *in, rnnc_output_spec *spec)
{
    bool on_axis[RNNC_MAX_DIMS];
    RNNC_TRY(softmax_resolve((const rnnc_softmax_layer *)l, in, on_axis));
    return same_shape_spec(l, in, spec);
}

static rnnc_status softmax_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                                rnnc_call_result *res)
{
    const rnnc_softmax_layer *sm = (const rnnc_softmax_layer *)l;
    rnnc_tensor *x = args->inputs[0], *y;
    bool on_axis[RNNC_MAX_DIMS];
    RNNC_TRY(rnnc_layer_check_input_dtype(l, x));
    RNNC_TRY(softmax_resolve(sm, &x->shape, on_axis));
    const rnnc_tensor *mask = args->mask;
    if (mask) {
        /* masked positions: -1e9 in, 0 out */
        rnnc_tensor *neg, *zero, *xm;
        rnnc_shape scalar = {0, {0}};
        RNNC_TRY(check_softmax_mask(mask, x));
        RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &scalar, &neg));
        RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &scalar, &zero));
        rnnc_tensor_fill(neg, SOFTMAX_LARGE_NEGATIVE);
        RNNC_TRY(rnnc_where(cx, mask, x, neg, &xm));
        RNNC_TRY(softmax_axes(cx, xm, on_axis, &y));
        RNNC_TRY(rnnc_where(cx, mask, y, zero, &y));
    } else {
        RNNC_TRY(softmax_axes(cx, x, on_axis, &y));
    }
    res->n_outputs = 1;
    res->outputs[0] = y;
    return RNNC_OK;
}

static rnnc_status softmax_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_softmax_layer *sm = (const rnnc_softmax_layer *)l;
    if (!sm->axis_is_list)
        return rnnc_cfg_set_int(c, "axis", sm->axes[0]);
    rnnc_cfg *list = rnnc_cfg_list();
    if (!list)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    for (int i = 0; i < sm->n_axes; i++)
        if (rnnc_cfg_push(list, rnnc_cfg_int(sm->axes[i]))) {
            rnnc_cfg_destroy(list);
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        }
    return rnnc_cfg_set(c, "axis", list);
}

const rnnc_layer_class rnnc_softmax_class = {
    .class_name = "Softmax",
    .module = "keras.layers",
    .call = softmax_call,
    .compute_output_spec = softmax_output_spec,
    .get_config = softmax_get_config,
    .supports_masking = true,
};

static rnnc_status check_axes(const int *axes, int n)
{
    if (n < 1 || n > RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_ARG, "Softmax: 'axis' must name 1..%d axes, got %d", RNNC_MAX_DIMS, n);
    for (int i = 0; i < n; i++) {
        if (axes[i] < -RNNC_MAX_DIMS || axes[i] >= RNNC_MAX_DIMS)
            return rnnc_fail(RNNC_E_ARG, "Softmax: axis %d is out of range [-%d, %d)", axes[i], RNNC_MAX_DIMS,
                             RNNC_MAX_DIMS);
        for (int j = 0; j < i; j++)
            if (axes[j] == axes[i])
                return rnnc_fail(RNNC_E_ARG, "Softmax: axis %d is repeated", axes[i]);
    }
    return RNNC_OK;
}

rnnc_status rnnc_softmax_create(const int *axes, int n_axes, const char *name, rnnc_dtype dtype,
                                rnnc_layer **out)
{
    rnnc_layer *l;
    *out = NULL;
    if (!axes)
        return rnnc_fail(RNNC_E_ARG, "Softmax: axes are NULL");
    RNNC_TRY(check_axes(axes, n_axes));
    RNNC_TRY(alloc_layer(sizeof(rnnc_softmax_layer), &rnnc_softmax_class, name, dtype, &l));
    rnnc_softmax_layer *sm = (rnnc_softmax_layer *)l;
    sm->n_axes = n_axes;
    memcpy(sm->axes, axes, (size_t)n_axes * sizeof *axes);
    sm->axis_is_list = n_axes > 1;
    *out = l;
    return RNNC_OK;
}

rnnc_status rnnc_softmax_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    const char *keys[16];
    char w[300];
    int axes[RNNC_MAX_DIMS], n = 0;
    bool is_list = false;
    rnnc_layer *l;
    rnnc_status s;
    *out = NULL;
    RNNC_TRY(check_map(c, "Softmax"));
    const rnnc_cfg *a = rnnc_cfg_get(c, "axis");
    if (!a || a->type == RNNC_CFG_NULL) {
        axes[n++] = -1;
    } else if (a->type == RNNC_CFG_INT) {
        axes[n++] = (int)(a->v.i < -100 ? -100 : a->v.i > 100 ? 100 : a->v.i);
    } else if (a->type == RNNC_CFG_LIST && a->n >= 1 && a->n <= RNNC_MAX_DIMS) {
        is_list = true;
        for (size_t i = 0; i < a->n; i++) {
            if (a->items[i]->type != RNNC_CFG_INT)
                return rnnc_fail(RNNC_E_ARG, "Softmax: 'axis' entries must be integers; entry %zu is %s%s", i,
                                 rnnc_cfg_type_name(a->items[i]->type), rnnc_cfg_where(a->items[i], w, sizeof w));
            int64_t v = a->items[i]->v.i;
            axes[n++] = (int)(v < -100 ? -100 : v > 100 ? 100 : v);
        }
    } else {
        return rnnc_fail(RNNC_E_ARG, "Softmax: 'axis' must be an integer or a list of 1..%d integers%s",
                         RNNC_MAX_DIMS, rnnc_cfg_where(a, w, sizeof w));
    }
    RNNC_TRY(check_axes(axes, n));
    RNNC_TRY(alloc_layer(sizeof(rnnc_softmax_layer), &rnnc_softmax_class, rnnc_layer_config_name(c), RNNC_F32, &l));
    rnnc_softmax_layer *sm = (rnnc_softmax_layer *)l;
    sm->n_axes = n;
    memcpy(sm->axes, axes, (size_t)n * sizeof *axes);
    sm->axis_is_list = is_list;
    if ((s = read_common(l, c)) || (s = rnnc_cfg_check_unread(c, "Softmax", keys_with(keys, "axis", NULL, NULL)))) {
        rnnc_layer_destroy(l);
        return s;
    }
    *out = l;
    return RNNC_OK;
}
