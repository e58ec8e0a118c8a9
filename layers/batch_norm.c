/* batch_norm.c - BatchNormalization: config, build, the training-mode batch
 * statistics (plain or masked; over every rank's rows with synchronized:
 * true under data-parallel training), the moving-average update and
 * inference.
 * The normalization is composed of ops, so gradients flow through the batch
 * mean and variance in training mode. */
#include "layers/batch_norm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "framework/comm.h"
#include "framework/ops.h"
#include "layers/device_classes_internal.h"
#include "layers/registry.h"

/* Keras's backend epsilon, added to the mask weight sum (batch_normalization.py). */
#define MASK_EPSILON 1e-7

static void bn_destroy(rnnc_layer *l)
{
    rnnc_batch_norm *b = (rnnc_batch_norm *)l;
    rnnc_initializer_destroy(b->beta_initializer);
    rnnc_initializer_destroy(b->gamma_initializer);
    rnnc_initializer_destroy(b->moving_mean_initializer);
    rnnc_initializer_destroy(b->moving_variance_initializer);
    rnnc_regularizer_destroy(b->beta_regularizer);
    rnnc_regularizer_destroy(b->gamma_regularizer);
    rnnc_constraint_destroy(b->beta_constraint);
    rnnc_constraint_destroy(b->gamma_constraint);
}

static rnnc_status resolve_axis(const rnnc_batch_norm *b, const rnnc_shape *in, int *axis)
{
    char s[160];
    if (in->ndim < 1 || b->axis < -in->ndim || b->axis >= in->ndim)
        return rnnc_fail(RNNC_E_SHAPE, "BatchNormalization: axis %d is out of range for an input of shape %s",
                         b->axis, rnnc_shape_str(in, s, sizeof s));
    *axis = b->axis < 0 ? b->axis + in->ndim : b->axis;
    return RNNC_OK;
}

static rnnc_status add_param(rnnc_layer *l, const char *name, const rnnc_shape *shape,
                             const rnnc_initializer *init, const rnnc_regularizer *reg,
                             const rnnc_constraint *cons, bool trainable, rnnc_tensor **out)
{
    rnnc_regularizer *r = NULL;
    rnnc_constraint *c = NULL;
    if (reg)
        RNNC_TRY(rnnc_regularizer_clone(reg, &r));
    if (cons) {
        rnnc_status s = rnnc_constraint_clone(cons, &c);
        if (s != RNNC_OK) {
            rnnc_regularizer_destroy(r);
            return s;
        }
    }
    return rnnc_layer_add_weight(l, name, shape, init, r, c, trainable, out);
}

static rnnc_status bn_build(rnnc_layer *l, const rnnc_shape *in)
{
    rnnc_batch_norm *b = (rnnc_batch_norm *)l;
    char s[160];
    int axis = 0;
    RNNC_TRY(resolve_axis(b, in, &axis));
    const int64_t C = in->dim[axis];
    if (C <= 0)
        return rnnc_fail(RNNC_E_SHAPE, "BatchNormalization: the feature axis %d of the input %s must be defined",
                         b->axis, rnnc_shape_str(in, s, sizeof s));
    rnnc_shape ws = RNNC_SHAPE(C);
    if (b->scale)
        RNNC_TRY(add_param(l, "gamma", &ws, b->gamma_initializer, b->gamma_regularizer,
                           b->gamma_constraint, true, &b->gamma));
    if (b->center)
        RNNC_TRY(add_param(l, "beta", &ws, b->beta_initializer, b->beta_regularizer,
                           b->beta_constraint, true, &b->beta));
    RNNC_TRY(add_param(l, "moving_mean", &ws, b->moving_mean_initializer, NULL, NULL, false,
                       &b->moving_mean));
    RNNC_TRY(add_param(l, "moving_variance", &ws, b->moving_variance_initializer, NULL, NULL,
                       false, &b->moving_variance));
    b->ndim = in->ndim;
    b->feature_axis = axis;
    return RNNC_OK;
}

static rnnc_status bn_output_spec(const rnnc_layer *l, const rnnc_shape *in, rnnc_output_spec *spec)
{
    int axis = 0;
    RNNC_TRY(resolve_axis((const rnnc_batch_norm *)l, in, &axis));
    spec->n_outputs = 1;
    spec->shapes[0] = *in;
    spec->dtype = l->dtype;
    return RNNC_OK;
}

/* A sum (mean: a mean) of t over the axes red, keepdims: this rank's
 * (rnnc_sum / rnnc_mean), or with global every rank's, times scale
 * (rnnc_comm_sum_op; for a mean, scale = 1 / the global count). */
static rnnc_status stat_sum(rnnc_ctx *cx, rnnc_tensor *t, const int *red, int n_red, bool mean, bool global,
                            double scale, rnnc_tensor **out)
{
    if (global)
        return rnnc_comm_sum_op(cx, t, red, n_red, scale, out);
    return mean ? rnnc_mean(cx, t, red, n_red, true, out) : rnnc_sum(cx, t, red, n_red, true, out);
}

/* Batch mean and variance in keepdims shape (1, .., C, .., 1): of this
 * rank's rows, or with global (synchronized: true on several ranks, the
 * ctx's communicator) of every rank's rows together, by the same steps
 * with each sum taken over the ranks (float64, one rounding, as rnnc_sum
 * and rnnc_mean) and gradients summed back over them, so N ranks match
 * one process to the order of summation. A rank without rows runs on a
 * stand-in row that counts for nothing (rnnc_comm_set_stand_in). Three
 * reductions then: the count, the sums, the squared deviations. */
static rnnc_status batch_moments(rnnc_batch_norm *b, rnnc_ctx *cx, rnnc_tensor *x, const rnnc_tensor *mask,
                                 bool global, rnnc_tensor **mean, rnnc_tensor **var)
{
    int red[RNNC_MAX_DIMS], n_red = 0;
    for (int d = 0; d < x->shape.ndim; d++)
        if (d != b->feature_axis)
            red[n_red++] = d;
    if (!mask) {
        rnnc_tensor *diff, *sq;
        double scale = 1.0;
        if (global) { /* 1 / (elements per feature, all ranks) */
            rnnc_shape one = x->shape;
            rnnc_tensor *cnt;
            for (int d = 0; d < one.ndim; d++)
                one.dim[d] = 1;
            RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_F64, &one, &cnt));
            const int64_t C = x->shape.dim[b->feature_axis];
            rnnc_tensor_set(cnt, 0, C > 0 ? (double)(x->numel / (size_t)C) : 0.0);
            RNNC_TRY(rnnc_comm_sum_op(cx, cnt, NULL, 0, 1.0, &cnt));
            scale = rnnc_tensor_get(cnt, 0) > 0 ? 1.0 / rnnc_tensor_get(cnt, 0) : 0.0;
        }
        RNNC_TRY(stat_sum(cx, x, red, n_red, true, global, scale, mean));
        RNNC_TRY(rnnc_sub(cx, x, *mean, &diff));
        RNNC_TRY(rnnc_square(cx, diff, &sq));
        return stat_sum(cx, sq, red, n_red, true, global, scale, var);
    }
    /* Keras's _moments with a mask: weights m of shape mask.shape + (1,). */
    rnnc_tensor *m, *wx, *s, *sw, *diff, *sq, *wsq, *ssq;
    rnnc_shape ms = mask->shape;
    ms.dim[ms.ndim++] = 1;
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &ms, &m));
    const uint8_t *mk = mask->data;
    for (size_t i = 0; i < mask->numel; i++)
        rnnc_tensor_set(m, i, mk[i] ? 1.0 : 0.0);
    RNNC_TRY(rnnc_mul(cx, m, x, &wx));
    RNNC_TRY(stat_sum(cx, wx, red, n_red, false, global, 1.0, &s));
    RNNC_TRY(stat_sum(cx, m, red, n_red, false, global, 1.0, &sw));
    RNNC_TRY(rnnc_affine(cx, sw, 1.0, MASK_EPSILON, &sw));
    RNNC_TRY(rnnc_div(cx, s, sw, mean));
    RNNC_TRY(rnnc_sub(cx, wx, *mean, &diff));
    RNNC_TRY(rnnc_square(cx, diff, &sq));
    RNNC_TRY(rnnc_mul(cx, m, sq, &wsq));
    RNNC_TRY(stat_sum(cx, wsq, red, n_red, false, global, 1.0, &ssq));
    return rnnc_div(cx, ssq, sw, var);
}

/* moving <- moving * momentum + batch * (1 - momentum), outside the tape. */
static void update_moving(rnnc_tensor *moving, const rnnc_tensor *batch, double momentum)
{
    for (size_t i = 0; i < moving->numel; i++) {
        double v = rnnc_tensor_get(moving, i) * momentum + rnnc_tensor_get(batch, i) * (1.0 - momentum);
        rnnc_tensor_set(moving, i, v);
    }
}

static rnnc_status bn_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                           rnnc_call_result *res)
{
    rnnc_batch_norm *b = (rnnc_batch_norm *)l;
    rnnc_tensor *x = args->inputs[0], *mean, *var, *y, *den;
    const rnnc_tensor *mask = args->mask;
    char s[160], t[160];
    RNNC_TRY(rnnc_layer_check_input_dtype(l, x));
    if (x->shape.ndim != b->ndim || x->shape.dim[b->feature_axis] != (int64_t)b->moving_mean->numel)
        return rnnc_fail(RNNC_E_SHAPE, "BatchNormalization: input shape %s does not match the built shape %s (axis %d of size %zu)",
                         rnnc_shape_str(&x->shape, s, sizeof s), rnnc_shape_str(&l->build_shape, t, sizeof t),
                         b->axis, b->moving_mean->numel);
    if (mask && mask->shape.ndim != x->shape.ndim - 1)
        return rnnc_fail(RNNC_E_SHAPE, "BatchNormalization: the mask should have one dimension less than the inputs; got mask shape %s for inputs of shape %s",
                         rnnc_shape_str(&mask->shape, s, sizeof s), rnnc_shape_str(&x->shape, t, sizeof t));
    if (mask && mask->dtype != RNNC_U8)
        return rnnc_fail(RNNC_E_DTYPE, "BatchNormalization: the mask must be uint8, got %s",
                         rnnc_dtype_name(mask->dtype));
    /* Statistics broadcast as (1, .., C, .., 1). */
    rnnc_shape bs;
    bs.ndim = x->shape.ndim;
    for (int d = 0; d < bs.ndim; d++)
        bs.dim[d] = d == b->feature_axis ? x->shape.dim[d] : 1;
    if (args->training && l->trainable) {
        const bool global = b->synchronized && rnnc_comm_size(rnnc_ctx_comm(cx)) > 1;
        RNNC_TRY(batch_moments(b, cx, x, mask, global, &mean, &var));
        update_moving(b->moving_mean, mean, b->momentum);
        update_moving(b->moving_variance, var, b->momentum);
    } else {
        RNNC_TRY(rnnc_reshape(cx, b->moving_mean, &bs, &mean));
        RNNC_TRY(rnnc_reshape(cx, b->moving_variance, &bs, &var));
    }
    /* y = (x - mean) / sqrt(var + eps) * gamma + beta */
    RNNC_TRY(rnnc_affine(cx, var, 1.0, b->epsilon, &den));
    RNNC_TRY(rnnc_sqrt(cx, den, &den));
    RNNC_TRY(rnnc_sub(cx, x, mean, &y));
    RNNC_TRY(rnnc_div(cx, y, den, &y));
    if (b->gamma) {
        rnnc_tensor *g;
        RNNC_TRY(rnnc_reshape(cx, b->gamma, &bs, &g));
        RNNC_TRY(rnnc_mul(cx, y, g, &y));
    }
    if (b->beta) {
        rnnc_tensor *be;
        RNNC_TRY(rnnc_reshape(cx, b->beta, &bs, &be));
        RNNC_TRY(rnnc_add(cx, y, be, &y));
    }
    res->n_outputs = 1;
    res->outputs[0] = y;
    return RNNC_OK;
}

static rnnc_status bn_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_batch_norm *b = (const rnnc_batch_norm *)l;
    RNNC_TRY(rnnc_cfg_set_int(c, "axis", b->axis));
    RNNC_TRY(rnnc_cfg_set_float(c, "momentum", b->momentum));
    RNNC_TRY(rnnc_cfg_set_float(c, "epsilon", b->epsilon));
    RNNC_TRY(rnnc_cfg_set_bool(c, "center", b->center));
    RNNC_TRY(rnnc_cfg_set_bool(c, "scale", b->scale));
    RNNC_TRY(rnnc_layer_config_set_initializer(c, "beta_initializer", b->beta_initializer));
    RNNC_TRY(rnnc_layer_config_set_initializer(c, "gamma_initializer", b->gamma_initializer));
    RNNC_TRY(rnnc_layer_config_set_initializer(c, "moving_mean_initializer", b->moving_mean_initializer));
    RNNC_TRY(rnnc_layer_config_set_initializer(c, "moving_variance_initializer", b->moving_variance_initializer));
    RNNC_TRY(rnnc_layer_config_set_regularizer(c, "beta_regularizer", b->beta_regularizer));
    RNNC_TRY(rnnc_layer_config_set_regularizer(c, "gamma_regularizer", b->gamma_regularizer));
    RNNC_TRY(rnnc_layer_config_set_constraint(c, "beta_constraint", b->beta_constraint));
    RNNC_TRY(rnnc_layer_config_set_constraint(c, "gamma_constraint", b->gamma_constraint));
    return rnnc_cfg_set_bool(c, "synchronized", b->synchronized);
}

const rnnc_layer_class rnnc_batch_norm_class = {
    .class_name = "BatchNormalization",
    .module = "keras.layers",
    .build = bn_build,
    .call = bn_call,
    .compute_output_spec = bn_output_spec,
    .get_config = bn_get_config,
    .destroy = bn_destroy,
    .supports_masking = true,
    .device = &rnnc_batch_norm_device_class,
};

rnnc_batch_norm_options rnnc_batch_norm_options_default(void)
{
    rnnc_batch_norm_options o;
    memset(&o, 0, sizeof o);
    o.dtype = RNNC_F32;
    o.axis = -1;
    o.momentum = 0.99;
    o.epsilon = 1e-3;
    o.center = true;
    o.scale = true;
    return o;
}

static rnnc_status bn_alloc(const char *name, rnnc_dtype dtype, rnnc_batch_norm **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return rnnc_fail(RNNC_E_NOMEM, "BatchNormalization: out of memory");
    rnnc_status s = rnnc_layer_init(&(*out)->base, &rnnc_batch_norm_class, name, dtype);
    if (s != RNNC_OK) {
        rnnc_layer_destroy(&(*out)->base);
        *out = NULL;
    }
    return s;
}

/* A clone of init, or the named default when init is NULL. */
static rnnc_status init_or(const rnnc_initializer *init, const char *dflt, const char *what,
                           rnnc_initializer **out)
{
    return init ? rnnc_initializer_clone(init, out) : rnnc_initializer_from_name(dflt, what, out);
}

rnnc_status rnnc_batch_norm_create(const rnnc_batch_norm_options *o, rnnc_layer **out)
{
    rnnc_batch_norm *b;
    rnnc_status s;
    *out = NULL;
    if (!o)
        return rnnc_fail(RNNC_E_ARG, "BatchNormalization: options are NULL");
    RNNC_TRY(bn_alloc(o->name, o->dtype, &b));
    b->axis = o->axis;
    b->momentum = o->momentum;
    b->epsilon = o->epsilon;
    b->center = o->center;
    b->scale = o->scale;
    b->synchronized = o->synchronized;
    if ((s = init_or(o->beta_initializer, "zeros", "BatchNormalization.beta_initializer", &b->beta_initializer)) ||
        (s = init_or(o->gamma_initializer, "ones", "BatchNormalization.gamma_initializer", &b->gamma_initializer)) ||
        (s = init_or(o->moving_mean_initializer, "zeros", "BatchNormalization.moving_mean_initializer",
                     &b->moving_mean_initializer)) ||
        (s = init_or(o->moving_variance_initializer, "ones", "BatchNormalization.moving_variance_initializer",
                     &b->moving_variance_initializer)) ||
        (o->beta_regularizer && (s = rnnc_regularizer_clone(o->beta_regularizer, &b->beta_regularizer))) ||
        (o->gamma_regularizer && (s = rnnc_regularizer_clone(o->gamma_regularizer, &b->gamma_regularizer))) ||
        (o->beta_constraint && (s = rnnc_constraint_clone(o->beta_constraint, &b->beta_constraint))) ||
        (o->gamma_constraint && (s = rnnc_constraint_clone(o->gamma_constraint, &b->gamma_constraint)))) {
        rnnc_layer_destroy(&b->base);
        return s;
    }
    *out = &b->base;
    return RNNC_OK;
}

static const char *const bn_keys[] = {
    "name", "trainable", "dtype", "activity_regularizer", "axis", "momentum", "epsilon", "center",
    "scale", "beta_initializer", "gamma_initializer", "moving_mean_initializer",
    "moving_variance_initializer", "beta_regularizer", "gamma_regularizer", "beta_constraint",
    "gamma_constraint", "synchronized", "renorm", "renorm_clipping", "renorm_momentum", "virtual_batch_size", "input_shape",
    "batch_input_shape", "input_dim", "batch_size", NULL};

/* axis: an int, or (Keras 2 files) a list holding one int. */
static rnnc_status read_axis(const rnnc_cfg *c, int *axis)
{
    char w[300];
    const rnnc_cfg *a = rnnc_cfg_get(c, "axis");
    *axis = -1;
    if (!a || a->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (a->type == RNNC_CFG_LIST && a->n == 1)
        a = a->items[0];
    else if (a->type == RNNC_CFG_LIST)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "BatchNormalization: 'axis' must be one integer; normalizing over %zu axes is not supported%s",
                         a->n, rnnc_cfg_where(a, w, sizeof w));
    if (a->type != RNNC_CFG_INT || a->v.i < -RNNC_MAX_DIMS || a->v.i >= RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_ARG, "BatchNormalization: 'axis' must be an integer in [-%d, %d)%s",
                         RNNC_MAX_DIMS, RNNC_MAX_DIMS, rnnc_cfg_where(a, w, sizeof w));
    *axis = (int)a->v.i;
    return RNNC_OK;
}

/* Batch renormalization (tf.keras 2; Keras 3.15 writes renorm: false,
 * renorm_clipping: null, renorm_momentum: 0.99 into every config) and
 * tf.keras 2's virtual batches: accepted only inactive. With renorm off
 * Keras ignores renorm_clipping and renorm_momentum; rnnc checks their types. */
static rnnc_status read_tf_extras(const rnnc_cfg *c)
{
    char w[300];
    bool renorm;
    rnnc_layer_num rm;
    RNNC_TRY(rnnc_cfg_read_bool(c, "BatchNormalization", "renorm", false, &renorm));
    if (renorm)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "BatchNormalization: 'renorm' (batch renormalization) is not supported%s",
                         rnnc_cfg_where(rnnc_cfg_peek(c, "renorm"), w, sizeof w));
    const rnnc_cfg *rc = rnnc_cfg_get(c, "renorm_clipping");
    if (rc && rc->type != RNNC_CFG_NULL && rc->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "BatchNormalization: 'renorm_clipping' must be null or a map of rmax, rmin, dmax%s",
                         rnnc_cfg_where(rc, w, sizeof w));
    RNNC_TRY(rnnc_layer_config_number(c, "BatchNormalization", "renorm_momentum", (rnnc_layer_num){0.99, false}, &rm));
    const rnnc_cfg *v = rnnc_cfg_get(c, "virtual_batch_size");
    if (v && v->type != RNNC_CFG_NULL)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "BatchNormalization: 'virtual_batch_size' (tf.keras 2) is not supported%s",
                         rnnc_cfg_where(v, w, sizeof w));
    return RNNC_OK;
}

rnnc_status rnnc_batch_norm_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    const char *W = "BatchNormalization";
    rnnc_batch_norm *b;
    rnnc_status s;
    rnnc_layer_num mom, eps;
    rnnc_shape in;
    bool has_in;
    *out = NULL;
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "BatchNormalization: config must be a map");
    RNNC_TRY(bn_alloc(rnnc_layer_config_name(c), RNNC_F32, &b));
    if ((s = rnnc_layer_read_base_config(&b->base, c, true)) || (s = read_axis(c, &b->axis)) ||
        (s = rnnc_layer_config_number(c, W, "momentum", (rnnc_layer_num){0.99, false}, &mom)) ||
        (s = rnnc_layer_config_number(c, W, "epsilon", (rnnc_layer_num){1e-3, false}, &eps)) ||
        (s = rnnc_cfg_read_bool(c, W, "center", true, &b->center)) ||
        (s = rnnc_cfg_read_bool(c, W, "scale", true, &b->scale)) ||
        (s = rnnc_layer_config_initializer(c, W, "beta_initializer", "zeros", &b->beta_initializer)) ||
        (s = rnnc_layer_config_initializer(c, W, "gamma_initializer", "ones", &b->gamma_initializer)) ||
        (s = rnnc_layer_config_initializer(c, W, "moving_mean_initializer", "zeros",
                                           &b->moving_mean_initializer)) ||
        (s = rnnc_layer_config_initializer(c, W, "moving_variance_initializer", "ones",
                                           &b->moving_variance_initializer)) ||
        (s = rnnc_layer_config_regularizer(c, W, "beta_regularizer", &b->beta_regularizer)) ||
        (s = rnnc_layer_config_regularizer(c, W, "gamma_regularizer", &b->gamma_regularizer)) ||
        (s = rnnc_layer_config_constraint(c, W, "beta_constraint", &b->beta_constraint)) ||
        (s = rnnc_layer_config_constraint(c, W, "gamma_constraint", &b->gamma_constraint)) ||
        (s = rnnc_cfg_read_bool(c, W, "synchronized", false, &b->synchronized)) ||
        (s = read_tf_extras(c)) || (s = rnnc_layer_config_input_shape(c, W, true, &in, &has_in)) ||
        (s = rnnc_cfg_check_unread(c, W, bn_keys))) {
        rnnc_layer_destroy(&b->base);
        return s;
    }
    b->momentum = mom.v;
    b->epsilon = eps.v;
    *out = &b->base;
    return RNNC_OK;
}
