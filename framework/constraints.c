/* constraints.c - Keras weight constraints (spec section 9): MaxNorm,
 * MinMaxNorm, UnitNorm, NonNeg and the identity Constraint, by name and
 * config; applied in place; get_config.
 *
 * Norms are taken over `axis` (an int, a list of ints, negative allowed, or
 * null for all axes) and kept per remaining index, as Keras's
 * sqrt(sum(square(w), axis, keepdims=True)); with axis=0 on a (F, 3U) kernel
 * that is one norm per column. Arithmetic is in double, stored back in the
 * weight's dtype. As in Keras the arguments are not validated (MinMaxNorm
 * with min > max clips to max). Not here: when constraints run (optimizers). */
#include "framework/constraints.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/keras_object.h"

#define MODULE "keras.constraints"
#define EPS 1e-7 /* Keras's backend.epsilon() */

typedef enum {
    CON_BASE,
    CON_MAX_NORM,
    CON_MIN_MAX_NORM,
    CON_NON_NEG,
    CON_UNIT_NORM,
    CON_KIND_COUNT
} con_kind;

static const char *const class_names[] = {"Constraint", "MaxNorm", "MinMaxNorm", "NonNeg",
                                          "UnitNorm"};
_Static_assert(sizeof class_names / sizeof class_names[0] == CON_KIND_COUNT,
               "class name table out of sync");

/* Class names and snake_case only: Keras 2's maxnorm, nonneg, unitnorm fail. */
static const rnnc_keras_name names[] = {
    {"Constraint", CON_BASE},         {"constraint", CON_BASE},
    {"MaxNorm", CON_MAX_NORM},        {"max_norm", CON_MAX_NORM},
    {"MinMaxNorm", CON_MIN_MAX_NORM}, {"min_max_norm", CON_MIN_MAX_NORM},
    {"NonNeg", CON_NON_NEG},          {"non_neg", CON_NON_NEG},
    {"UnitNorm", CON_UNIT_NORM},      {"unit_norm", CON_UNIT_NORM},
    {NULL, 0},
};

struct rnnc_constraint {
    con_kind kind;
    rnnc_keras_num min_value, max_value, rate; /* as written, for get_config */
    rnnc_cfg *axis_cfg;                   /* axis as written (int, list or null); owned */
    bool all_axes;                        /* axis = null: one norm over everything */
    int n_axes;
    int64_t axes[RNNC_MAX_DIMS];          /* may be negative; resolved per weight */
};

/* axis: missing -> 0; null -> all axes; an int or a list of ints. */
static rnnc_status read_axis(rnnc_constraint *k, const rnnc_cfg *config, const char *who)
{
    char where[256];
    const rnnc_cfg *a = config ? rnnc_cfg_get(config, "axis") : NULL;
    if (!a) {
        k->n_axes = 1;
        k->axes[0] = 0;
        k->axis_cfg = rnnc_cfg_int(0);
    } else if (a->type == RNNC_CFG_NULL) {
        k->all_axes = true;
        k->axis_cfg = rnnc_cfg_null();
    } else if (a->type == RNNC_CFG_INT) {
        k->n_axes = 1;
        k->axes[0] = a->v.i;
        k->axis_cfg = rnnc_cfg_int(a->v.i);
    } else if (a->type == RNNC_CFG_LIST && a->n <= RNNC_MAX_DIMS) {
        for (size_t i = 0; i < a->n; i++) {
            if (a->items[i]->type != RNNC_CFG_INT)
                return rnnc_fail(RNNC_E_ARG, "%s: 'axis' entry %zu must be an integer, got %s%s",
                                 who, i, rnnc_cfg_type_name(a->items[i]->type),
                                 rnnc_cfg_where(a->items[i], where, sizeof where));
            k->axes[i] = a->items[i]->v.i;
        }
        k->n_axes = (int)a->n;
        k->axis_cfg = rnnc_cfg_clone(a);
    } else {
        return rnnc_fail(RNNC_E_ARG,
                         "%s: 'axis' must be an integer, a list of at most %d integers or null, "
                         "got %s%s",
                         who, RNNC_MAX_DIMS, rnnc_cfg_type_name(a->type),
                         rnnc_cfg_where(a, where, sizeof where));
    }
    if (!k->axis_cfg)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory", who);
    return RNNC_OK;
}

static rnnc_status build(con_kind kind, const rnnc_cfg *config, const char *what,
                         rnnc_constraint *k)
{
    static const char *const k_none[] = {NULL};
    static const char *const k_max[] = {"max_value", "axis", NULL};
    static const char *const k_minmax[] = {"min_value", "max_value", "rate", "axis", NULL};
    static const char *const k_unit[] = {"axis", NULL};
    const char *const *known = k_none;
    char who[256];
    snprintf(who, sizeof who, "%s (%s)", what, class_names[kind]);
    k->kind = kind;
    switch (kind) {
    case CON_MAX_NORM:
        RNNC_TRY(rnnc_keras_num_read(config, who, "max_value", rnnc_keras_num_int(2), &k->max_value));
        RNNC_TRY(read_axis(k, config, who));
        known = k_max;
        break;
    case CON_MIN_MAX_NORM:
        RNNC_TRY(rnnc_keras_num_read(config, who, "min_value", rnnc_keras_num_float(0.0), &k->min_value));
        RNNC_TRY(rnnc_keras_num_read(config, who, "max_value", rnnc_keras_num_float(1.0), &k->max_value));
        RNNC_TRY(rnnc_keras_num_read(config, who, "rate", rnnc_keras_num_float(1.0), &k->rate));
        RNNC_TRY(read_axis(k, config, who));
        known = k_minmax;
        break;
    case CON_UNIT_NORM:
        RNNC_TRY(read_axis(k, config, who));
        known = k_unit;
        break;
    default:
        break;
    }
    if (config)
        RNNC_TRY(rnnc_cfg_check_unread(config, who, known));
    return RNNC_OK;
}

void rnnc_constraint_destroy(rnnc_constraint *c)
{
    if (!c)
        return;
    rnnc_cfg_destroy(c->axis_cfg);
    free(c);
}

rnnc_status rnnc_constraint_from_config(const rnnc_cfg *c, const char *what,
                                        rnnc_constraint **out)
{
    *out = NULL;
    what = rnnc_keras_what(what, "constraint");
    if (!c || c->type == RNNC_CFG_NULL)
        return RNNC_OK;
    rnnc_keras_object o;
    int kind;
    RNNC_TRY(rnnc_keras_object_parse(c, "constraint", MODULE, what, &o));
    RNNC_TRY(rnnc_keras_name_lookup(names, o.class_name, "constraint", what, &kind));
    rnnc_constraint *k = calloc(1, sizeof *k);
    if (!k)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory", what);
    rnnc_status s = build((con_kind)kind, o.config, what, k);
    if (s != RNNC_OK) {
        rnnc_constraint_destroy(k);
        return s;
    }
    *out = k;
    return RNNC_OK;
}

rnnc_status rnnc_constraint_clone(const rnnc_constraint *c, rnnc_constraint **out)
{
    *out = NULL;
    rnnc_constraint *k = malloc(sizeof *k);
    if (!k)
        return rnnc_fail(RNNC_E_NOMEM, "clone of %s: out of memory", class_names[c->kind]);
    *k = *c;
    k->axis_cfg = c->axis_cfg ? rnnc_cfg_clone(c->axis_cfg) : NULL;
    if (c->axis_cfg && !k->axis_cfg) {
        free(k);
        return rnnc_fail(RNNC_E_NOMEM, "clone of %s: out of memory", class_names[c->kind]);
    }
    *out = k;
    return RNNC_OK;
}

/* ---------------------------------------------------------------- apply */

static double clip(double x, double lo, double hi)
{
    /* ops.clip = minimum(maximum(x, lo), hi): hi wins when lo > hi. */
    double y = x > lo ? x : lo;
    return y < hi ? y : hi;
}

static inline double load(const rnnc_tensor *w, size_t i)
{
    return w->dtype == RNNC_F32 ? (double)((const float *)w->data)[i]
                                : ((const double *)w->data)[i];
}

static inline void store(rnnc_tensor *w, size_t i, double v)
{
    if (w->dtype == RNNC_F32)
        ((float *)w->data)[i] = (float)v;
    else
        ((double *)w->data)[i] = v;
}

/* Advances the row-major multi-index idx by one element and returns the
 * group of the next element (reduced axes have group stride 0). */
static size_t next_group(const rnnc_shape *s, const int64_t *gstride, int64_t *idx, size_t g)
{
    for (int d = s->ndim - 1; d >= 0; d--) {
        if (++idx[d] < s->dim[d])
            return g + (size_t)gstride[d];
        g -= (size_t)(gstride[d] * (s->dim[d] - 1));
        idx[d] = 0;
    }
    return g;
}

/* w *= desired(n) / (eps + n) with n the L2 norm over the reduced axes. */
static rnnc_status apply_norm(const rnnc_constraint *c, rnnc_tensor *w)
{
    char buf[128];
    const rnnc_shape *s = &w->shape;
    bool reduce[RNNC_MAX_DIMS] = {false};
    for (int d = 0; d < s->ndim; d++)
        reduce[d] = c->all_axes;
    for (int i = 0; i < c->n_axes; i++) {
        int64_t a = c->axes[i];
        if (a < -s->ndim || a >= s->ndim)
            return rnnc_fail(RNNC_E_ARG, "%s: axis %lld is out of range for a weight of shape %s",
                             class_names[c->kind], (long long)a,
                             rnnc_shape_str(s, buf, sizeof buf));
        int d = (int)(a < 0 ? a + s->ndim : a);
        if (reduce[d])
            return rnnc_fail(RNNC_E_ARG, "%s: axis %d is repeated for a weight of shape %s",
                             class_names[c->kind], d, rnnc_shape_str(s, buf, sizeof buf));
        reduce[d] = true;
    }
    /* Group index of an element = its index in the keepdims-reduced shape. */
    int64_t gstride[RNNC_MAX_DIMS];
    size_t groups = 1;
    for (int d = s->ndim - 1; d >= 0; d--) {
        gstride[d] = reduce[d] ? 0 : (int64_t)groups;
        if (!reduce[d])
            groups *= (size_t)s->dim[d];
    }
    double *scale = calloc(groups ? groups : 1, sizeof *scale); /* (groups,) */
    if (!scale)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory for %zu norms", class_names[c->kind],
                         groups);
    /* Pass 1: sum of squares per group. The odometer idx walks the
     * row-major multi-index so each element's group costs O(1). */
    int64_t idx[RNNC_MAX_DIMS] = {0};
    size_t g = 0;
    for (size_t i = 0; i < w->numel; i++) {
        double v = load(w, i);
        scale[g] += v * v;
        g = next_group(s, gstride, idx, g);
    }
    for (size_t j = 0; j < groups; j++) {
        double nrm = sqrt(scale[j]), desired;
        switch (c->kind) {
        case CON_MAX_NORM:
            desired = clip(nrm, 0.0, c->max_value.v);
            break;
        case CON_MIN_MAX_NORM:
            desired = c->rate.v * clip(nrm, c->min_value.v, c->max_value.v) +
                      (1.0 - c->rate.v) * nrm;
            break;
        default: /* UnitNorm */
            desired = 1.0;
            break;
        }
        scale[j] = desired / (EPS + nrm);
    }
    /* Pass 2: rescale. */
    memset(idx, 0, sizeof idx);
    g = 0;
    for (size_t i = 0; i < w->numel; i++) {
        store(w, i, load(w, i) * scale[g]);
        g = next_group(s, gstride, idx, g);
    }
    free(scale);
    return RNNC_OK;
}

rnnc_status rnnc_constraint_apply(const rnnc_constraint *c, rnnc_tensor *w)
{
    if (w->dtype != RNNC_F32 && w->dtype != RNNC_F64)
        return rnnc_fail(RNNC_E_DTYPE, "%s: the weight must be float32 or float64, got %s",
                         class_names[c->kind], rnnc_dtype_name(w->dtype));
    switch (c->kind) {
    case CON_NON_NEG:
        /* Keras: w * cast(w >= 0); NaN stays NaN. */
        for (size_t i = 0; i < w->numel; i++) {
            double v = load(w, i);
            store(w, i, v * (v >= 0.0 ? 1.0 : 0.0));
        }
        return RNNC_OK;
    case CON_MAX_NORM:
    case CON_MIN_MAX_NORM:
    case CON_UNIT_NORM:
        return apply_norm(c, w);
    default: /* the identity Constraint */
        return RNNC_OK;
    }
}

/* ---------------------------------------------------------------- config */

rnnc_status rnnc_constraint_get_config(const rnnc_constraint *c, rnnc_cfg **out)
{
    *out = NULL;
    rnnc_cfg *m = rnnc_cfg_map();
    if (!m)
        return rnnc_fail(RNNC_E_NOMEM, "get_config of %s: out of memory", class_names[c->kind]);
    rnnc_status s = RNNC_OK;
    if (c->kind == CON_MIN_MAX_NORM)
        s = rnnc_keras_num_set(m, "min_value", c->min_value);
    if (s == RNNC_OK && (c->kind == CON_MAX_NORM || c->kind == CON_MIN_MAX_NORM))
        s = rnnc_keras_num_set(m, "max_value", c->max_value);
    if (s == RNNC_OK && c->kind == CON_MIN_MAX_NORM)
        s = rnnc_keras_num_set(m, "rate", c->rate);
    if (s == RNNC_OK && c->axis_cfg) {
        rnnc_cfg *a = rnnc_cfg_clone(c->axis_cfg);
        s = a ? rnnc_cfg_set(m, "axis", a)
              : rnnc_fail(RNNC_E_NOMEM, "get_config of %s: out of memory", class_names[c->kind]);
    }
    if (s != RNNC_OK) {
        rnnc_cfg_destroy(m);
        return s;
    }
    return rnnc_keras_object_envelope(MODULE, class_names[c->kind], m, out);
}
