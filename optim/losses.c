/* losses.c - Keras's losses: names and configs, the per-sample functions
 * built from ops (and the fused cross-entropies of loss_ops.c), and
 * reduce_weighted_values (mask + sample weight + reduction). See losses.h.
 *
 * Sample weights and masks are constants: they are turned into ctx-owned
 * tensors of y_pred's dtype and enter the graph through one multiply, so
 * gradients flow only into y_pred. */
#include "optim/losses.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/keras_object.h"
#include "framework/ops.h"
#include "optim/loss_ops.h"

struct rnnc_loss {
    rnnc_loss_kind kind;
    char *name;
    rnnc_reduction reduction;
    bool reduction_null;      /* written as None: echoed back as null */
    bool function_form;       /* made from a function identifier ("mse") */
    bool from_logits;
    rnnc_keras_num label_smoothing;
    double delta;
    bool has_ignore_class;
    int64_t ignore_class;
    /* The dtype it computes in: -1 = y_pred's (rnnc_loss_create); a Keras
     * name or config: its `dtype`, default float32 (floatx), to which Keras's
     * Loss.__call__ converts y_pred, also a float64 model's */
    int dtype;
};

static const char *const reduction_names[] = {"sum_over_batch_size", "sum", "mean",
                                              "mean_with_sample_weight", "none"};

const char *rnnc_reduction_name(rnnc_reduction r)
{
    return (unsigned)r < 5 ? reduction_names[r] : "?";
}

rnnc_status rnnc_reduction_from_name(const char *name, const char *what, rnnc_reduction *out)
{
    if (!name) {
        *out = RNNC_REDUCTION_NONE;
        return RNNC_OK;
    }
    for (int i = 0; i < 5; i++)
        if (strcmp(name, reduction_names[i]) == 0) {
            *out = (rnnc_reduction)i;
            return RNNC_OK;
        }
    return rnnc_fail(RNNC_E_ARG,
                     "%s: invalid value for argument `reduction`: '%s'; expected one of "
                     "sum_over_batch_size, sum, mean, mean_with_sample_weight, none or null",
                     what, name);
}

static const char *const class_names[] = {
    "MeanSquaredError",        "MeanAbsoluteError",
    "Huber",                   "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", NULL};
static const char *const default_names[] = {
    "mean_squared_error",       "mean_absolute_error",
    "huber_loss",               "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "crossentropy"};
/* The Keras function each kind wraps (messages). */
static const char *const fn_names[] = {
    "mean_squared_error",       "mean_absolute_error",
    "huber",                    "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "crossentropy"};

rnnc_loss_options rnnc_loss_options_default(void)
{
    rnnc_loss_options o;
    memset(&o, 0, sizeof o);
    o.reduction = RNNC_REDUCTION_SUM_OVER_BATCH_SIZE;
    o.delta = 1.0;
    return o;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static rnnc_status loss_new(rnnc_loss_kind kind, const rnnc_loss_options *o, rnnc_keras_num ls,
                            rnnc_loss **out)
{
    const char *fn = fn_names[kind];
    *out = NULL;
    if ((unsigned)kind > RNNC_LOSS_CROSSENTROPY_AUTO)
        return rnnc_fail(RNNC_E_ARG, "loss: unknown loss kind %d", (int)kind);
    if (!(ls.v >= 0.0 && ls.v <= 1.0))
        return rnnc_fail(RNNC_E_ARG, "%s: label_smoothing must be in [0, 1], got %g", fn, ls.v);
    if (ls.v != 0.0 && kind != RNNC_LOSS_BINARY_CROSSENTROPY &&
        kind != RNNC_LOSS_CATEGORICAL_CROSSENTROPY)
        return rnnc_fail(RNNC_E_ARG, "%s: label_smoothing is only an argument of binary and categorical crossentropy",
                         fn);
    if (!(o->delta >= 0.0) || !isfinite(o->delta))
        return rnnc_fail(RNNC_E_ARG, "%s: delta must be a finite number >= 0, got %g", fn, o->delta);
    if (o->has_ignore_class && kind != RNNC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)
        return rnnc_fail(RNNC_E_ARG, "%s: ignore_class is only an argument of sparse_categorical_crossentropy", fn);
    if (o->from_logits && kind <= RNNC_LOSS_HUBER)
        return rnnc_fail(RNNC_E_ARG, "%s: from_logits is only an argument of the crossentropy losses", fn);
    if ((unsigned)o->reduction > RNNC_REDUCTION_NONE)
        return rnnc_fail(RNNC_E_ARG, "%s: invalid reduction %d", fn, (int)o->reduction);
    rnnc_loss *l = calloc(1, sizeof *l);
    if (!l || !(l->name = dup_str(o->name ? o->name : default_names[kind]))) {
        free(l);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory creating loss %s", fn);
    }
    l->kind = kind;
    l->reduction = o->reduction;
    l->from_logits = o->from_logits;
    l->label_smoothing = ls;
    l->delta = o->delta;
    l->has_ignore_class = o->has_ignore_class;
    l->ignore_class = o->ignore_class;
    l->dtype = -1;
    *out = l;
    return RNNC_OK;
}

rnnc_status rnnc_loss_create(rnnc_loss_kind kind, const rnnc_loss_options *opts, rnnc_loss **out)
{
    rnnc_loss_options d = rnnc_loss_options_default();
    if (!opts)
        opts = &d;
    return loss_new(kind, opts, rnnc_keras_num_float(opts->label_smoothing), out);
}

void rnnc_loss_destroy(rnnc_loss *l)
{
    if (!l)
        return;
    free(l->name);
    free(l);
}

const char *rnnc_loss_name(const rnnc_loss *l) { return l->name; }
rnnc_loss_kind rnnc_loss_get_kind(const rnnc_loss *l) { return l->kind; }
rnnc_reduction rnnc_loss_reduction(const rnnc_loss *l) { return l->reduction; }

/* ---- names and configs ---------------------------------------------- */

static const rnnc_keras_name function_table[] = {
    {"mse", RNNC_LOSS_MEAN_SQUARED_ERROR},
    {"MSE", RNNC_LOSS_MEAN_SQUARED_ERROR},
    {"mean_squared_error", RNNC_LOSS_MEAN_SQUARED_ERROR},
    {"mae", RNNC_LOSS_MEAN_ABSOLUTE_ERROR},
    {"MAE", RNNC_LOSS_MEAN_ABSOLUTE_ERROR},
    {"mean_absolute_error", RNNC_LOSS_MEAN_ABSOLUTE_ERROR},
    {"huber", RNNC_LOSS_HUBER},
    {"bce", RNNC_LOSS_BINARY_CROSSENTROPY},
    {"BCE", RNNC_LOSS_BINARY_CROSSENTROPY},
    {"binary_crossentropy", RNNC_LOSS_BINARY_CROSSENTROPY},
    {"categorical_crossentropy", RNNC_LOSS_CATEGORICAL_CROSSENTROPY},
    {"sparse_categorical_crossentropy", RNNC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
    {NULL, 0}};

static const rnnc_keras_name class_table[] = {
    {"MeanSquaredError", RNNC_LOSS_MEAN_SQUARED_ERROR},
    {"MeanAbsoluteError", RNNC_LOSS_MEAN_ABSOLUTE_ERROR},
    {"Huber", RNNC_LOSS_HUBER},
    {"BinaryCrossentropy", RNNC_LOSS_BINARY_CROSSENTROPY},
    {"CategoricalCrossentropy", RNNC_LOSS_CATEGORICAL_CROSSENTROPY},
    {"SparseCategoricalCrossentropy", RNNC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
    {NULL, 0}};

/* Every accepted spelling, for "did you mean". */
static const rnnc_keras_name all_table[] = {
    {"mse", 0}, {"MSE", 0}, {"mean_squared_error", 0}, {"MeanSquaredError", 0},
    {"mae", 0}, {"MAE", 0}, {"mean_absolute_error", 0}, {"MeanAbsoluteError", 0},
    {"huber", 0}, {"Huber", 0}, {"bce", 0}, {"BCE", 0}, {"binary_crossentropy", 0},
    {"BinaryCrossentropy", 0}, {"categorical_crossentropy", 0}, {"CategoricalCrossentropy", 0},
    {"sparse_categorical_crossentropy", 0}, {"SparseCategoricalCrossentropy", 0},
    {"crossentropy", 0}, {"ce", 0}, {NULL, 0}};

static bool ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

static rnnc_status from_name_what(const char *name, const char *what, rnnc_loss **out)
{
    rnnc_loss_options o = rnnc_loss_options_default();
    int kind;
    *out = NULL;
    if (ieq(name, "crossentropy") || ieq(name, "ce")) {
        o.name = name;
        RNNC_TRY(loss_new(RNNC_LOSS_CROSSENTROPY_AUTO, &o, rnnc_keras_num_float(0), out));
        (*out)->function_form = true;
        (*out)->dtype = RNNC_F32;
        return RNNC_OK;
    }
    for (const rnnc_keras_name *e = function_table; e->name; e++)
        if (strcmp(e->name, name) == 0) {
            /* LossFunctionWrapper(fn, name=identifier) */
            o.name = name;
            RNNC_TRY(loss_new((rnnc_loss_kind)e->kind, &o, rnnc_keras_num_float(0), out));
            (*out)->function_form = true;
            (*out)->dtype = RNNC_F32;
            return RNNC_OK;
        }
    for (const rnnc_keras_name *e = class_table; e->name; e++)
        if (strcmp(e->name, name) == 0) {
            RNNC_TRY(loss_new((rnnc_loss_kind)e->kind, &o, rnnc_keras_num_float(0), out));
            (*out)->dtype = RNNC_F32;
            return RNNC_OK;
        }
    return rnnc_keras_name_lookup(all_table, name, "loss", what, &kind);
}

rnnc_status rnnc_loss_from_name(const char *name, rnnc_loss **out)
{
    if (!name)
        return rnnc_fail(RNNC_E_ARG, "loss: name is NULL");
    return from_name_what(name, "loss", out);
}

rnnc_status rnnc_loss_from_config(const rnnc_cfg *c, const char *what, rnnc_loss **out)
{
    char where[256];
    rnnc_keras_object obj;
    int kind;
    *out = NULL;
    what = rnnc_keras_what(what, "loss");
    if (!c)
        return rnnc_fail(RNNC_E_ARG, "%s: no loss given", what);
    RNNC_TRY(rnnc_keras_object_parse(c, "loss", "keras.losses", what, &obj));
    if (c->type == RNNC_CFG_STRING)
        return from_name_what(c->v.s, what, out);
    RNNC_TRY(rnnc_keras_name_lookup(class_table, obj.class_name, "loss class", what, &kind));

    const rnnc_cfg *conf = obj.config;
    rnnc_loss_options o = rnnc_loss_options_default();
    const char *cls = obj.class_name;
    const char *name = NULL, *red = "sum_over_batch_size", *dtype = NULL;
    rnnc_keras_num ls = rnnc_keras_num_float(0.0), delta = rnnc_keras_num_float(1.0), axis = rnnc_keras_num_int(-1);
    bool red_null = false;
    if (conf) {
        RNNC_TRY(rnnc_cfg_read_string(conf, cls, "name", NULL, &name));
        const rnnc_cfg *r = rnnc_cfg_get(conf, "reduction");
        if (r && r->type == RNNC_CFG_NULL)
            red_null = true;
        else
            RNNC_TRY(rnnc_cfg_read_string(conf, cls, "reduction", "sum_over_batch_size", &red));
        RNNC_TRY(rnnc_cfg_read_string(conf, cls, "dtype", NULL, &dtype));
        if (dtype && strcmp(dtype, "float32") != 0 && strcmp(dtype, "float64") != 0)
            return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: %s dtype '%s' is not supported (losses compute in float32, the default, or float64)",
                             what, cls, dtype);
        if (kind >= RNNC_LOSS_BINARY_CROSSENTROPY) {
            RNNC_TRY(rnnc_cfg_read_bool(conf, cls, "from_logits", false, &o.from_logits));
            RNNC_TRY(rnnc_keras_num_read(conf, cls, "axis", rnnc_keras_num_int(-1), &axis));
            if (!axis.is_int)
                return rnnc_fail(RNNC_E_ARG, "%s: %s axis must be an integer, got %g", what, cls, axis.v);
            if (axis.v != -1)
                return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: %s axis=%g is not supported (only the last axis, -1)",
                                 what, cls, axis.v);
        }
        if (kind == RNNC_LOSS_BINARY_CROSSENTROPY || kind == RNNC_LOSS_CATEGORICAL_CROSSENTROPY)
            RNNC_TRY(rnnc_keras_num_read(conf, cls, "label_smoothing", rnnc_keras_num_float(0.0), &ls));
        if (kind == RNNC_LOSS_HUBER)
            RNNC_TRY(rnnc_keras_num_read(conf, cls, "delta", rnnc_keras_num_float(1.0), &delta));
        if (kind == RNNC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) {
            const rnnc_cfg *ic = rnnc_cfg_get(conf, "ignore_class");
            if (ic && ic->type != RNNC_CFG_NULL) {
                if (ic->type != RNNC_CFG_INT)
                    return rnnc_fail(RNNC_E_ARG, "%s: %s ignore_class must be an integer or null, got %s%s",
                                     what, cls, rnnc_cfg_type_name(ic->type),
                                     rnnc_cfg_where(ic, where, sizeof where));
                o.has_ignore_class = true;
                o.ignore_class = ic->v.i;
            }
        }
        static const char *const known[] = {"name", "reduction", "dtype", "from_logits", "axis",
                                            "label_smoothing", "delta", "ignore_class", NULL};
        rnnc_status s = rnnc_cfg_check_unread(conf, what, known);
        if (s != RNNC_OK)
            return rnnc_fail_context(s, "%s: ", cls);
    }
    if (!red_null)
        RNNC_TRY(rnnc_reduction_from_name(red, what, &o.reduction));
    else
        o.reduction = RNNC_REDUCTION_NONE;
    o.name = name;
    o.delta = delta.v;
    rnnc_status s = loss_new((rnnc_loss_kind)kind, &o, ls, out);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "%s: ", what);
    (*out)->reduction_null = red_null;
    (*out)->dtype = dtype && strcmp(dtype, "float64") == 0 ? RNNC_F64 : RNNC_F32;
    return RNNC_OK;
}

rnnc_status rnnc_loss_set_compute_dtype(rnnc_loss *l, int dtype)
{
    if (!l || (dtype != -1 && dtype != RNNC_F32 && dtype != RNNC_F64))
        return rnnc_fail(RNNC_E_ARG, "loss: compute dtype must be float32, float64 or -1 (y_pred's), got %d", dtype);
    l->dtype = dtype;
    return RNNC_OK;
}

int rnnc_loss_compute_dtype(const rnnc_loss *l)
{
    return l ? l->dtype : -1;
}

rnnc_status rnnc_loss_get_config(const rnnc_loss *l, rnnc_cfg **out)
{
    rnnc_cfg *c = rnnc_cfg_map();
    rnnc_status s = RNNC_OK;
    *out = NULL;
    if (!c)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if ((s = rnnc_cfg_set_string(c, "name", l->name)))
        goto fail;
    s = l->reduction_null ? rnnc_cfg_set_null(c, "reduction")
                          : rnnc_cfg_set_string(c, "reduction", rnnc_reduction_name(l->reduction));
    if (s)
        goto fail;
    switch (l->kind) {
    case RNNC_LOSS_BINARY_CROSSENTROPY:
    case RNNC_LOSS_CATEGORICAL_CROSSENTROPY:
        if ((s = rnnc_cfg_set_bool(c, "from_logits", l->from_logits)) ||
            (s = rnnc_keras_num_set(c, "label_smoothing", l->label_smoothing)) ||
            (s = rnnc_cfg_set_int(c, "axis", -1)))
            goto fail;
        break;
    case RNNC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY:
        if ((s = rnnc_cfg_set_bool(c, "from_logits", l->from_logits)))
            goto fail;
        s = l->has_ignore_class ? rnnc_cfg_set_int(c, "ignore_class", l->ignore_class)
                                : rnnc_cfg_set_null(c, "ignore_class");
        if (s)
            goto fail;
        break;
    default: /* MSE, MAE, Huber: Loss.get_config only (Keras drops Huber's delta) */
        break;
    }
    *out = c;
    return RNNC_OK;
fail:
    rnnc_cfg_destroy(c);
    return s;
}

rnnc_status rnnc_loss_serialize(const rnnc_loss *l, rnnc_cfg **out)
{
    *out = NULL;
    if (l->function_form) {
        if (!(*out = rnnc_cfg_string(l->name)))
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        return RNNC_OK;
    }
    rnnc_cfg *c;
    RNNC_TRY(rnnc_loss_get_config(l, &c));
    return rnnc_keras_object_envelope("keras.losses", class_names[l->kind], c, out);
}

/* ---- shape helpers ---------------------------------------------------- */

void rnnc_loss_match_ranks(rnnc_shape *a, rnnc_shape *b)
{
    /* Keras's squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True) */
    if (a->ndim == b->ndim)
        return;
    if (a->ndim == b->ndim + 1 && a->dim[a->ndim - 1] == 1) {
        if (b->ndim == 1)
            b->dim[b->ndim++] = 1;
        else
            a->ndim--;
    } else if (b->ndim == a->ndim + 1 && b->dim[b->ndim - 1] == 1) {
        if (a->ndim == 1)
            a->dim[a->ndim++] = 1;
        else
            b->ndim--;
    }
}

/* A ctx-owned constant: t's values converted to dtype, viewed as `shape`
 * (same element count). */
static rnnc_status const_as(rnnc_ctx *cx, const rnnc_tensor *t, rnnc_dtype dtype,
                            const rnnc_shape *shape, rnnc_tensor **out)
{
    RNNC_TRY(rnnc_ctx_tensor(cx, dtype, shape ? shape : &t->shape, out));
    if ((*out)->numel != t->numel)
        return rnnc_fail(RNNC_E_SHAPE, "loss: internal reshape changes the element count");
    if (t->dtype == dtype) {
        memcpy((*out)->data, t->data, t->numel * rnnc_dtype_size(dtype));
        return RNNC_OK;
    }
    for (size_t i = 0; i < t->numel; i++)
        rnnc_tensor_set(*out, i, rnnc_tensor_get(t, i));
    return RNNC_OK;
}

/* x viewed as shape (a differentiable reshape), or x itself when equal. */
static rnnc_status as_shape(rnnc_ctx *cx, rnnc_tensor *x, const rnnc_shape *s, rnnc_tensor **out)
{
    if (rnnc_shape_eq(&x->shape, s)) {
        *out = x;
        return RNNC_OK;
    }
    return rnnc_reshape(cx, x, s, out);
}

static rnnc_status mean_last(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y)
{
    const int ax = -1;
    return rnnc_mean(cx, x, &ax, 1, false, y);
}

static rnnc_status check_same_shape(const char *fn, const rnnc_tensor *t, const rnnc_tensor *p)
{
    char a[160], b[160];
    if (!rnnc_shape_eq(&t->shape, &p->shape))
        return rnnc_fail(RNNC_E_SHAPE,
                         "%s: y_true and y_pred must have the same shape, got y_true %s and y_pred %s",
                         fn, rnnc_shape_str(&t->shape, a, sizeof a),
                         rnnc_shape_str(&p->shape, b, sizeof b));
    return RNNC_OK;
}

/* TensorFlow keeps the pre-activation of a sigmoid/softmax output
 * (_keras_logits) and every crossentropy uses it, whichever of the two
 * made it (keras/src/backend/tensorflow/nn.py _get_logits): a binary
 * crossentropy over a softmax output takes the softmax's input as sigmoid
 * logits, a categorical one over a sigmoid output as softmax logits. */
static rnnc_tensor *logits_of(rnnc_tensor *y_pred)
{
    const rnnc_node *n = y_pred->node;
    if (n && n->n_in == 1 && n->n_out == 1 && n->out[0] == y_pred && n->op &&
        (strcmp(n->op, "sigmoid") == 0 || strcmp(n->op, "softmax") == 0) && n->in[0] &&
        n->in[0]->dtype == y_pred->dtype &&
        rnnc_shape_eq(&n->in[0]->shape, &y_pred->shape))
        return n->in[0];
    return NULL;
}

/* backend.epsilon() and 1 - epsilon as the dtype rounds them. */
static void clip_bounds(rnnc_dtype dt, double *lo, double *hi)
{
    if (dt == RNNC_F32) {
        *lo = (double)(float)1e-7;
        *hi = (double)(float)(1.0 - 1e-7);
    } else {
        *lo = 1e-7;
        *hi = 1.0 - 1e-7;
    }
}

/* ---- the per-sample functions ---------------------------------------- */

static rnnc_status huber_values(const rnnc_loss *l, rnnc_ctx *cx, rnnc_tensor *yt, rnnc_tensor *yp,
                                rnnc_tensor **out)
{
    rnnc_tensor *err, *ab, *sq, *quad, *lin, *sel, *mask;
    const double d = l->delta;
    RNNC_TRY(rnnc_sub(cx, yp, yt, &err));
    RNNC_TRY(rnnc_abs(cx, err, &ab));
    RNNC_TRY(rnnc_square(cx, err, &sq));
    RNNC_TRY(rnnc_affine(cx, sq, 0.5, 0.0, &quad));
    RNNC_TRY(rnnc_affine(cx, ab, d, -0.5 * d * d, &lin));
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &ab->shape, &mask));
    uint8_t *m = mask->data;
    const double dd = yp->dtype == RNNC_F32 ? (double)(float)d : d;
    for (size_t i = 0; i < ab->numel; i++)
        m[i] = rnnc_tensor_get(ab, i) <= dd;
    RNNC_TRY(rnnc_where(cx, mask, quad, lin, &sel));
    return mean_last(cx, sel, out);
}

static rnnc_status bce_values(const rnnc_loss *l, rnnc_ctx *cx, rnnc_tensor *yt, rnnc_tensor *yp,
                              rnnc_tensor **out)
{
    RNNC_TRY(check_same_shape("binary_crossentropy", yt, yp));
    const double ls = l->label_smoothing.v;
    if (ls != 0.0)
        for (size_t i = 0; i < yt->numel; i++)
            rnnc_tensor_set(yt, i, rnnc_tensor_get(yt, i) * (1.0 - ls) + 0.5 * ls);
    rnnc_tensor *logits = l->from_logits ? yp : logits_of(yp), *e;
    if (logits) {
        RNNC_TRY(rnnc__sigmoid_xent(cx, yt, logits, &e));
        return mean_last(cx, e, out);
    }
    double lo, hi;
    clip_bounds(yp->dtype, &lo, &hi);
    rnnc_tensor *p, *lp, *q, *lq, *a, *b, *s, *one_minus_t;
    RNNC_TRY(rnnc_clip(cx, yp, lo, hi, &p));
    RNNC_TRY(rnnc_log(cx, p, &lp));
    RNNC_TRY(rnnc_affine(cx, p, -1.0, 1.0, &q));
    RNNC_TRY(rnnc_log(cx, q, &lq));
    RNNC_TRY(rnnc_ctx_tensor(cx, yt->dtype, &yt->shape, &one_minus_t));
    for (size_t i = 0; i < yt->numel; i++)
        rnnc_tensor_set(one_minus_t, i, 1.0 - rnnc_tensor_get(yt, i));
    RNNC_TRY(rnnc_mul(cx, yt, lp, &a));
    RNNC_TRY(rnnc_mul(cx, one_minus_t, lq, &b));
    RNNC_TRY(rnnc_add(cx, a, b, &s));
    RNNC_TRY(rnnc_affine(cx, s, -1.0, 0.0, &e));
    return mean_last(cx, e, out);
}

static rnnc_status cce_values(const rnnc_loss *l, rnnc_ctx *cx, rnnc_tensor *yt, rnnc_tensor *yp,
                              rnnc_tensor **out)
{
    RNNC_TRY(check_same_shape("categorical_crossentropy", yt, yp));
    if (yp->shape.ndim < 1)
        return rnnc_fail(RNNC_E_SHAPE, "categorical_crossentropy: y_true and y_pred must be at least rank 1, got rank 0");
    const double ls = l->label_smoothing.v;
    const double c = (double)yp->shape.dim[yp->shape.ndim - 1];
    if (ls != 0.0)
        for (size_t i = 0; i < yt->numel; i++)
            rnnc_tensor_set(yt, i, rnnc_tensor_get(yt, i) * (1.0 - ls) + ls / c);
    rnnc_tensor *logits = l->from_logits ? yp : logits_of(yp);
    if (logits)
        return rnnc__softmax_xent(cx, yt, logits, out);
    const int ax = -1;
    double lo, hi;
    clip_bounds(yp->dtype, &lo, &hi);
    rnnc_tensor *tot, *p, *pc, *lp, *m, *s;
    RNNC_TRY(rnnc_sum(cx, yp, &ax, 1, true, &tot));
    RNNC_TRY(rnnc_div(cx, yp, tot, &p));
    RNNC_TRY(rnnc_clip(cx, p, lo, hi, &pc));
    RNNC_TRY(rnnc_log(cx, pc, &lp));
    RNNC_TRY(rnnc_mul(cx, yt, lp, &m));
    RNNC_TRY(rnnc_sum(cx, m, &ax, 1, false, &s));
    return rnnc_affine(cx, s, -1.0, 0.0, out);
}

static rnnc_status scce_values(const rnnc_loss *l, rnnc_ctx *cx, rnnc_tensor *yt, rnnc_tensor *yp,
                               rnnc_tensor **out, rnnc_tensor **out_mask)
{
    char a[160], b[160];
    const char *fn = "sparse_categorical_crossentropy";
    if (yp->shape.ndim < 1)
        return rnnc_fail(RNNC_E_SHAPE, "%s: y_pred must be at least rank 1 (a class axis), got rank 0", fn);
    if (yt->shape.ndim == yp->shape.ndim && yt->shape.ndim > 0 && yt->shape.dim[yt->shape.ndim - 1] == 1)
        yt->shape.ndim--; /* a constant: squeezing its shape in place is enough */
    bool shape_ok = yt->shape.ndim == yp->shape.ndim - 1;
    for (int d = 0; shape_ok && d < yt->shape.ndim; d++)
        shape_ok = yt->shape.dim[d] == yp->shape.dim[d];
    if (!shape_ok)
        return rnnc_fail(RNNC_E_SHAPE,
                         "%s: y_true must have y_pred's shape without the class axis (or with a trailing 1), got y_true %s and y_pred %s",
                         fn, rnnc_shape_str(&yt->shape, a, sizeof a),
                         rnnc_shape_str(&yp->shape, b, sizeof b));
    rnnc_tensor *valid = NULL;
    if (l->has_ignore_class) {
        /* Ignored entries take class 0 and a zero prediction row, then get
         * loss 0 and are masked out of the mean (Keras's ignore_class). */
        rnnc_shape vs = yt->shape, es = yt->shape;
        es.dim[es.ndim++] = 1;
        rnnc_tensor *zeros, *yp2, *valid_e;
        RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &vs, &valid));
        for (size_t i = 0; i < yt->numel; i++) {
            const bool v = rnnc_tensor_get(yt, i) != (double)l->ignore_class;
            ((uint8_t *)valid->data)[i] = v;
            if (!v)
                rnnc_tensor_set(yt, i, 0.0);
        }
        RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &es, &valid_e));
        memcpy(valid_e->data, valid->data, valid->numel);
        RNNC_TRY(rnnc_ctx_tensor(cx, yp->dtype, &(rnnc_shape){0}, &zeros));
        RNNC_TRY(rnnc_where(cx, valid_e, yp, zeros, &yp2));
        yp = yp2;
    }
    rnnc_tensor *logits = l->from_logits ? yp : logits_of(yp), *res;
    if (!logits) {
        double lo, hi;
        rnnc_tensor *pc;
        clip_bounds(yp->dtype, &lo, &hi);
        RNNC_TRY(rnnc_clip(cx, yp, lo, hi, &pc));
        RNNC_TRY(rnnc_log(cx, pc, &logits));
    }
    rnnc_status s = rnnc__sparse_softmax_xent(cx, yt, logits, &res);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "%s: ", fn);
    if (valid) {
        rnnc_tensor *zeros;
        RNNC_TRY(rnnc_ctx_tensor(cx, res->dtype, &(rnnc_shape){0}, &zeros));
        RNNC_TRY(rnnc_where(cx, valid, res, zeros, &res));
        if (out_mask)
            *out_mask = valid;
    }
    *out = res;
    return RNNC_OK;
}

/* Keras's is_binary_or_sparse_categorical for "crossentropy". */
static rnnc_loss_kind auto_kind(const rnnc_tensor *yt, const rnnc_tensor *yp)
{
    const int tr = yt->shape.ndim, pr = yp->shape.ndim;
    const int64_t tl = tr ? yt->shape.dim[tr - 1] : 1, pl = pr ? yp->shape.dim[pr - 1] : 1;
    if (pl == 1)
        return RNNC_LOSS_BINARY_CROSSENTROPY;
    if (tr < pr || (tl == 1 && pl > 1))
        return RNNC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
    return RNNC_LOSS_CATEGORICAL_CROSSENTROPY;
}

rnnc_status rnnc_loss_values(const rnnc_loss *l, rnnc_ctx *cx, const rnnc_tensor *y_true,
                             rnnc_tensor *y_pred, rnnc_tensor **values, rnnc_tensor **out_mask)
{
    *values = NULL;
    if (out_mask)
        *out_mask = NULL;
    if (!l || !cx || !y_true || !y_pred)
        return rnnc_fail(RNNC_E_ARG, "loss: NULL argument (loss, ctx, y_true and y_pred are required)");
    if (!rnnc_dtype_is_float(y_pred->dtype))
        return rnnc_fail(RNNC_E_DTYPE, "%s: y_pred must be float32 or float64, got %s", l->name,
                         rnnc_dtype_name(y_pred->dtype));
    /* Keras converts y_pred to the loss's dtype first: a float64 output
     * meets a float32 loss through a cast, which also hides a softmax's or
     * sigmoid's logits (TensorFlow's _keras_logits stays on the float64
     * tensor), so the probabilities are clipped */
    if (l->dtype >= 0 && y_pred->dtype != (rnnc_dtype)l->dtype)
        RNNC_TRY(rnnc_cast(cx, y_pred, (rnnc_dtype)l->dtype, &y_pred));
    rnnc_loss tmp = *l;
    if (l->kind == RNNC_LOSS_CROSSENTROPY_AUTO)
        tmp.kind = auto_kind(y_true, y_pred);
    /* LossFunctionWrapper.call: squeeze/expand y_true and y_pred to one rank. */
    rnnc_shape ts = y_true->shape, ps = y_pred->shape;
    rnnc_loss_match_ranks(&ts, &ps);
    rnnc_tensor *yt, *yp;
    RNNC_TRY(const_as(cx, y_true, y_pred->dtype, &ts, &yt));
    RNNC_TRY(as_shape(cx, y_pred, &ps, &yp));
    rnnc_tensor *d, *e;
    rnnc_status s = RNNC_OK;
    switch (tmp.kind) {
    case RNNC_LOSS_MEAN_SQUARED_ERROR:
        if (!(s = rnnc_sub(cx, yt, yp, &d)) && !(s = rnnc_square(cx, d, &e)))
            s = mean_last(cx, e, values);
        break;
    case RNNC_LOSS_MEAN_ABSOLUTE_ERROR:
        if (!(s = rnnc_sub(cx, yt, yp, &d)) && !(s = rnnc_abs(cx, d, &e)))
            s = mean_last(cx, e, values);
        break;
    case RNNC_LOSS_HUBER: s = huber_values(&tmp, cx, yt, yp, values); break;
    case RNNC_LOSS_BINARY_CROSSENTROPY: s = bce_values(&tmp, cx, yt, yp, values); break;
    case RNNC_LOSS_CATEGORICAL_CROSSENTROPY: s = cce_values(&tmp, cx, yt, yp, values); break;
    case RNNC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY:
        s = scce_values(&tmp, cx, yt, yp, values, out_mask);
        break;
    default: s = rnnc_fail(RNNC_E_ARG, "loss: unknown kind %d", (int)tmp.kind);
    }
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "loss '%s': ", l->name);
    return RNNC_OK;
}

/* ---- reduction --------------------------------------------------------- */

static rnnc_status reduce_impl(rnnc_ctx *cx, rnnc_tensor *values, const rnnc_tensor *sample_weight,
                               const rnnc_tensor *mask, rnnc_reduction reduction, rnnc_tensor **out,
                               double *divisor_out);

rnnc_status rnnc_loss_reduce(rnnc_ctx *cx, rnnc_tensor *values, const rnnc_tensor *sample_weight,
                             const rnnc_tensor *mask, rnnc_reduction reduction, rnnc_tensor **out)
{
    double d;
    return reduce_impl(cx, values, sample_weight, mask, reduction, out, &d);
}

/* *divisor_out: what the sum was divided by, in effect (the valid entries
 * for a masked mean), or -1 when the result is a sum (or not reduced). */
static rnnc_status reduce_impl(rnnc_ctx *cx, rnnc_tensor *values, const rnnc_tensor *sample_weight,
                               const rnnc_tensor *mask, rnnc_reduction reduction, rnnc_tensor **out,
                               double *divisor_out)
{
    double mask_valid = -1;
    *divisor_out = -1;
    *out = NULL;
    if (!cx || !values)
        return rnnc_fail(RNNC_E_ARG, "loss reduction: NULL ctx or values");
    if (!rnnc_dtype_is_float(values->dtype))
        return rnnc_fail(RNNC_E_DTYPE, "loss reduction: values must be float, got %s",
                         rnnc_dtype_name(values->dtype));
    const rnnc_dtype dt = values->dtype;
    rnnc_tensor *sw = NULL;
    /* apply_mask: the mask becomes (part of) the sample weight. */
    if (mask) {
        rnnc_tensor *fm;
        RNNC_TRY(rnnc_ctx_tensor(cx, dt, &mask->shape, &fm));
        double w = 1.0;
        if (reduction == RNNC_REDUCTION_SUM_OVER_BATCH_SIZE || reduction == RNNC_REDUCTION_MEAN) {
            /* valid entries weigh total/valid: the sum then averages over them */
            double valid = 0;
            for (size_t i = 0; i < mask->numel; i++)
                valid += rnnc_tensor_get(mask, i) != 0;
            mask_valid = valid / (double)mask->numel; /* fraction of entries counted */
            if (dt == RNNC_F32)
                w = valid ? (double)((float)mask->numel / (float)valid) : 0.0;
            else
                w = valid ? (double)mask->numel / valid : 0.0;
        }
        for (size_t i = 0; i < mask->numel; i++)
            rnnc_tensor_set(fm, i, rnnc_tensor_get(mask, i) != 0 ? w : 0.0);
        if (sample_weight) {
            rnnc_shape ms = fm->shape, ss = sample_weight->shape;
            rnnc_tensor *swc, *fm2;
            rnnc_loss_match_ranks(&ms, &ss);
            RNNC_TRY(const_as(cx, sample_weight, dt, &ss, &swc));
            RNNC_TRY(const_as(cx, fm, dt, &ms, &fm2));
            rnnc_status s = rnnc_mul(cx, swc, fm2, &sw);
            if (s != RNNC_OK)
                return rnnc_fail_context(s, "loss: sample_weight and the mask do not combine: ");
        } else {
            sw = fm;
        }
    } else if (sample_weight) {
        RNNC_TRY(const_as(cx, sample_weight, dt, NULL, &sw));
    }
    if (sw) {
        rnnc_shape vs = values->shape, ss = sw->shape;
        rnnc_tensor *v2, *sw2;
        rnnc_loss_match_ranks(&vs, &ss);
        RNNC_TRY(as_shape(cx, values, &vs, &v2));
        RNNC_TRY(const_as(cx, sw, dt, &ss, &sw2));
        rnnc_status s = rnnc_mul(cx, v2, sw2, &values);
        if (s != RNNC_OK)
            return rnnc_fail_context(s, "loss: sample_weight does not match the per-sample loss: ");
        sw = sw2;
    }
    /* reduce_values */
    if (reduction == RNNC_REDUCTION_NONE || values->shape.ndim == 0 ||
        (values->shape.ndim == 1 && values->shape.dim[0] == 0)) {
        *out = values;
        return RNNC_OK;
    }
    rnnc_tensor *total;
    RNNC_TRY(rnnc_sum(cx, values, NULL, 0, false, &total));
    if (reduction == RNNC_REDUCTION_SUM) {
        *out = total;
        return RNNC_OK;
    }
    double divisor;
    if (reduction == RNNC_REDUCTION_MEAN_WITH_SAMPLE_WEIGHT && sw) {
        divisor = 0;
        for (size_t i = 0; i < sw->numel; i++)
            divisor += rnnc_tensor_get(sw, i);
        if (dt == RNNC_F32)
            divisor = (double)(float)divisor;
    } else {
        divisor = (double)values->numel;
    }
    *divisor_out = mask_valid >= 0 && reduction != RNNC_REDUCTION_MEAN_WITH_SAMPLE_WEIGHT ? divisor * mask_valid
                                                                                         : divisor;
    if (divisor == 0.0) /* divide_no_nan */
        return rnnc_affine(cx, total, 0.0, 0.0, out);
    rnnc_tensor *dv;
    RNNC_TRY(rnnc_ctx_tensor(cx, dt, &(rnnc_shape){0}, &dv));
    rnnc_tensor_set(dv, 0, divisor);
    return rnnc_div(cx, total, dv, out);
}

rnnc_status rnnc_loss_call(const rnnc_loss *l, rnnc_ctx *cx, const rnnc_tensor *y_true,
                           rnnc_tensor *y_pred, const rnnc_tensor *sample_weight,
                           const rnnc_tensor *mask, rnnc_tensor **out)
{
    double d;
    return rnnc_loss_call_counted(l, cx, y_true, y_pred, sample_weight, mask, out, &d);
}

rnnc_status rnnc_loss_call_counted(const rnnc_loss *l, rnnc_ctx *cx, const rnnc_tensor *y_true,
                                   rnnc_tensor *y_pred, const rnnc_tensor *sample_weight,
                                   const rnnc_tensor *mask, rnnc_tensor **out, double *divisor)
{
    char a[160], b[160];
    *divisor = -1;
    rnnc_tensor *values, *own_mask;
    *out = NULL;
    RNNC_TRY(rnnc_loss_values(l, cx, y_true, y_pred, &values, &own_mask));
    const rnnc_tensor *m = mask ? mask : own_mask;
    if (mask && own_mask) {
        if (mask->numel != own_mask->numel)
            return rnnc_fail(RNNC_E_SHAPE, "loss '%s': y_pred's mask %s does not match the loss mask %s",
                             l->name, rnnc_shape_str(&mask->shape, a, sizeof a),
                             rnnc_shape_str(&own_mask->shape, b, sizeof b));
        rnnc_tensor *both;
        RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &own_mask->shape, &both));
        for (size_t i = 0; i < both->numel; i++)
            ((uint8_t *)both->data)[i] =
                rnnc_tensor_get(mask, i) != 0 && ((uint8_t *)own_mask->data)[i] != 0;
        m = both;
    }
    rnnc_status s = reduce_impl(cx, values, sample_weight, m, l->reduction, out, divisor);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "loss '%s': ", l->name);
    return RNNC_OK;
}
