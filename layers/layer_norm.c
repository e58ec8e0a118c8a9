/* layer_norm.c - LayerNormalization (layer_norm.h). */
#include "layers/layer_norm.h"

#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "layers/device_classes_internal.h"
#include "layers/registry.h"

#define MAX_AXES 8

typedef struct layer_norm {
    rnnc_layer base;
    int n_axes;
    int64_t axes[MAX_AXES]; /* as given (may be negative); sorted after build */
    bool axis_is_list;      /* written as a list (given as one, or built) */
    int resolved[MAX_AXES]; /* non-negative, after build */
    double epsilon;
    bool center, scale, rms;
    rnnc_initializer *beta_init, *gamma_init;
    rnnc_regularizer *beta_reg, *gamma_reg;
    rnnc_constraint *beta_cons, *gamma_cons;
    rnnc_tensor *gamma, *beta;
} layer_norm;

static void ln_destroy(rnnc_layer *l)
{
    layer_norm *n = (layer_norm *)l;
    rnnc_initializer_destroy(n->beta_init);
    rnnc_initializer_destroy(n->gamma_init);
    rnnc_regularizer_destroy(n->beta_reg);
    rnnc_regularizer_destroy(n->gamma_reg);
    rnnc_constraint_destroy(n->beta_cons);
    rnnc_constraint_destroy(n->gamma_cons);
}

static int cmp_i64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static rnnc_status add_param(rnnc_layer *l, const char *name, const rnnc_shape *s,
                             const rnnc_initializer *init, const rnnc_regularizer *reg,
                             const rnnc_constraint *cons, rnnc_tensor **out)
{
    rnnc_regularizer *r = NULL;
    rnnc_constraint *c = NULL;
    if (reg)
        RNNC_TRY(rnnc_regularizer_clone(reg, &r));
    rnnc_status st = cons ? rnnc_constraint_clone(cons, &c) : RNNC_OK;
    if (st) {
        rnnc_regularizer_destroy(r);
        return st;
    }
    return rnnc_layer_add_weight(l, name, s, init, r, c, true, out);
}

static rnnc_status ln_build(rnnc_layer *l, const rnnc_shape *in)
{
    layer_norm *n = (layer_norm *)l;
    char b[160];
    rnnc_shape ps = {0};
    qsort(n->axes, (size_t)n->n_axes, sizeof n->axes[0], cmp_i64);
    n->axis_is_list = true; /* Keras turns axis into a sorted list at build */
    for (int i = 0; i < n->n_axes; i++) {
        const int64_t a = n->axes[i] < 0 ? n->axes[i] + in->ndim : n->axes[i];
        if (a < 0 || a >= in->ndim || in->dim[a] < 1)
            return rnnc_fail(RNNC_E_SHAPE, "LayerNormalization '%s': axis %lld is out of bounds or unknown for input shape %s",
                             l->name, (long long)n->axes[i], rnnc_shape_str(in, b, sizeof b));
        n->resolved[i] = (int)a;
        ps.dim[ps.ndim++] = in->dim[a];
    }
    if (n->scale || n->rms)
        RNNC_TRY(add_param(l, "gamma", &ps, n->gamma_init, n->gamma_reg, n->gamma_cons, &n->gamma));
    if (n->center && !n->rms)
        RNNC_TRY(add_param(l, "beta", &ps, n->beta_init, n->beta_reg, n->beta_cons, &n->beta));
    return RNNC_OK;
}

static rnnc_status ln_output_spec(const rnnc_layer *l, const rnnc_shape *in, rnnc_output_spec *spec)
{
    spec->n_outputs = 1;
    spec->shapes[0] = *in;
    spec->dtype = l->dtype;
    return RNNC_OK;
}

/* A weight reshaped to broadcast over x (1 on the other axes). */
static rnnc_status bcast(const layer_norm *n, rnnc_ctx *cx, rnnc_tensor *w, const rnnc_shape *in,
                         rnnc_tensor **out)
{
    rnnc_shape s = *in;
    for (int d = 0; d < in->ndim; d++)
        s.dim[d] = 1;
    for (int i = 0; i < n->n_axes; i++)
        s.dim[n->resolved[i]] = in->dim[n->resolved[i]];
    return rnnc_reshape(cx, w, &s, out);
}

static rnnc_status ln_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                           rnnc_call_result *res)
{
    layer_norm *n = (layer_norm *)l;
    rnnc_tensor *x = args->inputs[0], *mean, *d, *var, *inv, *y, *t;
    RNNC_TRY(rnnc_layer_check_input_dtype(l, x));
    RNNC_TRY(rnnc_mean(cx, x, n->resolved, n->n_axes, true, &mean));
    RNNC_TRY(rnnc_sub(cx, x, mean, &d));
    RNNC_TRY(rnnc_square(cx, d, &var));
    RNNC_TRY(rnnc_mean(cx, var, n->resolved, n->n_axes, true, &var));
    RNNC_TRY(rnnc_affine(cx, var, 1.0, n->epsilon, &var));
    RNNC_TRY(rnnc_sqrt(cx, var, &var));
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &var->shape, &t));
    rnnc_tensor_fill(t, 1.0);
    RNNC_TRY(rnnc_div(cx, t, var, &inv));
    if (n->gamma) {
        RNNC_TRY(bcast(n, cx, n->gamma, &x->shape, &t));
        RNNC_TRY(rnnc_mul(cx, inv, t, &inv));
    }
    RNNC_TRY(rnnc_mul(cx, x, inv, &y));
    if (!n->rms) {
        rnnc_tensor *r;
        RNNC_TRY(rnnc_mul(cx, mean, inv, &r));
        RNNC_TRY(rnnc_affine(cx, r, -1.0, 0.0, &r));
        if (n->beta) {
            RNNC_TRY(bcast(n, cx, n->beta, &x->shape, &t));
            RNNC_TRY(rnnc_add(cx, r, t, &r));
        }
        RNNC_TRY(rnnc_add(cx, y, r, &y));
    }
    res->n_outputs = 1;
    res->outputs[0] = y;
    return RNNC_OK;
}

static rnnc_status ln_get_config(const rnnc_layer *l, rnnc_cfg *cfg)
{
    const layer_norm *n = (const layer_norm *)l;
    if (n->axis_is_list) {
        rnnc_cfg *list = rnnc_cfg_list();
        if (!list)
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        for (int i = 0; i < n->n_axes; i++) {
            rnnc_status s = rnnc_cfg_push(list, rnnc_cfg_int(n->axes[i]));
            if (s) {
                rnnc_cfg_destroy(list);
                return s;
            }
        }
        RNNC_TRY(rnnc_cfg_set(cfg, "axis", list));
    } else {
        RNNC_TRY(rnnc_cfg_set_int(cfg, "axis", n->axes[0]));
    }
    RNNC_TRY(rnnc_cfg_set_float(cfg, "epsilon", n->epsilon));
    RNNC_TRY(rnnc_cfg_set_bool(cfg, "center", n->center));
    RNNC_TRY(rnnc_cfg_set_bool(cfg, "scale", n->scale));
    RNNC_TRY(rnnc_cfg_set_bool(cfg, "rms_scaling", n->rms));
    RNNC_TRY(rnnc_layer_config_set_initializer(cfg, "beta_initializer", n->beta_init));
    RNNC_TRY(rnnc_layer_config_set_initializer(cfg, "gamma_initializer", n->gamma_init));
    RNNC_TRY(rnnc_layer_config_set_regularizer(cfg, "beta_regularizer", n->beta_reg));
    RNNC_TRY(rnnc_layer_config_set_regularizer(cfg, "gamma_regularizer", n->gamma_reg));
    RNNC_TRY(rnnc_layer_config_set_constraint(cfg, "beta_constraint", n->beta_cons));
    return rnnc_layer_config_set_constraint(cfg, "gamma_constraint", n->gamma_cons);
}

static const rnnc_layer_class ln_class = {
    .class_name = "LayerNormalization",
    .module = "keras.layers",
    .build = ln_build,
    .call = ln_call,
    .compute_output_spec = ln_output_spec,
    .get_config = ln_get_config,
    .destroy = ln_destroy,
    .supports_masking = true,
    .device = &rnnc_layer_norm_device_class,
};

void rnnc__layer_norm_params(const rnnc_layer *l, rnnc_layer_norm_params *p)
{
    const layer_norm *n = (const layer_norm *)l;
    p->n_axes = n->n_axes;
    p->axes = n->resolved;
    p->epsilon = n->epsilon;
    p->rms = n->rms;
    p->gamma = n->gamma;
    p->beta = n->beta;
}

static const char *const ln_keys[] = {
    "name", "trainable", "dtype", "axis", "epsilon", "center", "scale", "rms_scaling",
    "beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer",
    "beta_constraint", "gamma_constraint", "input_shape",
    "batch_input_shape", "input_dim", "batch_size", NULL};

static rnnc_status read_axis(layer_norm *n, const rnnc_cfg *cfg)
{
    char w[300];
    const rnnc_cfg *v = rnnc_cfg_get(cfg, "axis");
    n->n_axes = 1;
    n->axes[0] = -1;
    if (!v)
        return RNNC_OK;
    if (v->type == RNNC_CFG_INT) {
        n->axes[0] = v->v.i;
        return RNNC_OK;
    }
    if (v->type == RNNC_CFG_LIST && v->n >= 1 && v->n <= MAX_AXES) {
        n->axis_is_list = true;
        n->n_axes = (int)v->n;
        for (size_t i = 0; i < v->n; i++) {
            if (v->items[i]->type != RNNC_CFG_INT || v->items[i]->v.i < -RNNC_MAX_DIMS ||
                v->items[i]->v.i >= RNNC_MAX_DIMS)
                return rnnc_fail(RNNC_E_ARG, "LayerNormalization: 'axis' entries must be integers%s",
                                 rnnc_cfg_where(v, w, sizeof w));
            n->axes[i] = v->items[i]->v.i;
        }
        return RNNC_OK;
    }
    return rnnc_fail(RNNC_E_ARG, "LayerNormalization: 'axis' must be an integer or a list of 1 to %d integers%s",
                     MAX_AXES, rnnc_cfg_where(v, w, sizeof w));
}

rnnc_status rnnc_layer_norm_from_config(const rnnc_cfg *cfg, rnnc_layer **out)
{
    const char *W = "LayerNormalization";
    rnnc_status s;
    rnnc_shape in;
    bool has_in;
    *out = NULL;
    if (!cfg || cfg->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "LayerNormalization: the config must be a map of arguments");
    layer_norm *n = calloc(1, sizeof *n);
    if (!n)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if ((s = rnnc_layer_init(&n->base, &ln_class, rnnc_layer_config_name(cfg), RNNC_F32))) {
        free(n->base.name);
        free(n);
        return s;
    }
    if ((s = read_axis(n, cfg)) ||
        (s = rnnc_cfg_read_float(cfg, W, "epsilon", 1e-3, &n->epsilon)) ||
        (s = rnnc_cfg_read_bool(cfg, W, "center", true, &n->center)) ||
        (s = rnnc_cfg_read_bool(cfg, W, "scale", true, &n->scale)) ||
        (s = rnnc_cfg_read_bool(cfg, W, "rms_scaling", false, &n->rms)) ||
        (s = rnnc_layer_config_initializer(cfg, W, "beta_initializer", "zeros", &n->beta_init)) ||
        (s = rnnc_layer_config_initializer(cfg, W, "gamma_initializer", "ones", &n->gamma_init)) ||
        (s = rnnc_layer_config_regularizer(cfg, W, "beta_regularizer", &n->beta_reg)) ||
        (s = rnnc_layer_config_regularizer(cfg, W, "gamma_regularizer", &n->gamma_reg)) ||
        (s = rnnc_layer_config_constraint(cfg, W, "beta_constraint", &n->beta_cons)) ||
        (s = rnnc_layer_config_constraint(cfg, W, "gamma_constraint", &n->gamma_cons)) ||
        (s = rnnc_layer_read_base_config(&n->base, cfg, false)) ||
        (s = rnnc_layer_config_input_shape(cfg, W, true, &in, &has_in)) ||
        (s = rnnc_cfg_check_unread(cfg, W, ln_keys))) {
        rnnc_layer_destroy(&n->base);
        return s;
    }
    *out = &n->base;
    return RNNC_OK;
}
