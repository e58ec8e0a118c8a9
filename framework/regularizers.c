/* regularizers.c - Keras weight regularizers (spec section 8): L1, L2, L1L2,
 * OrthogonalRegularizer and the zero Regularizer, by name and config, their
 * penalties built from differentiable ops (ops.h), and get_config.
 *
 * Deviations: OrthogonalRegularizer on a weight with fewer than two rows
 * (columns in "columns" mode) fails with RNNC_E_SHAPE, where Keras divides
 * by zero (n(n-1)/2 = 0) and returns NaN. The base Regularizer serializes as
 * an empty config, where Keras's get_config raises NotImplementedError.
 * Not here: collecting penalties over a layer's weights (layer.c). */
#include "framework/regularizers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/keras_object.h"
#include "framework/ops.h"

#define MODULE "keras.regularizers"

typedef enum { REG_BASE, REG_L1, REG_L2, REG_L1L2, REG_ORTHOGONAL, REG_KIND_COUNT } reg_kind;

static const char *const class_names[] = {"Regularizer", "L1", "L2", "L1L2",
                                          "OrthogonalRegularizer"};
_Static_assert(sizeof class_names / sizeof class_names[0] == REG_KIND_COUNT,
               "class name table out of sync");

/* Exactly the class names and their snake_case (spec 8.1); not "l1_l2". */
static const rnnc_keras_name names[] = {
    {"L1", REG_L1},
    {"l1", REG_L1},
    {"L2", REG_L2},
    {"l2", REG_L2},
    {"L1L2", REG_L1L2},
    {"l1l2", REG_L1L2},
    {"OrthogonalRegularizer", REG_ORTHOGONAL},
    {"orthogonal_regularizer", REG_ORTHOGONAL},
    {"Regularizer", REG_BASE},
    {"regularizer", REG_BASE},
    {NULL, 0},
};

struct rnnc_regularizer {
    reg_kind kind;
    double l1, l2;  /* L1, L2, L1L2 */
    double factor;  /* OrthogonalRegularizer */
    bool columns;   /* OrthogonalRegularizer mode: false = "rows" */
};

/* Keras's validate_float_arg: a finite, non-negative int or float; None
 * means the class's default. */
static rnnc_status read_coef(const rnnc_cfg *config, const char *who, const char *key,
                             double dflt, double *out)
{
    rnnc_keras_num n;
    RNNC_TRY(rnnc_keras_num_read(config, who, key, rnnc_keras_num_float(dflt), &n));
    if (!isfinite(n.v) || n.v < 0.0)
        return rnnc_fail(RNNC_E_ARG,
                         "%s: invalid value for argument '%s': expected a non-negative float, "
                         "got %g",
                         who, key, n.v);
    *out = n.v;
    return RNNC_OK;
}

static rnnc_status build(reg_kind kind, const rnnc_cfg *config, const char *what,
                         rnnc_regularizer *r)
{
    static const char *const k_none[] = {NULL};
    static const char *const k_l1[] = {"l1", NULL};
    static const char *const k_l2[] = {"l2", NULL};
    static const char *const k_l1l2[] = {"l1", "l2", NULL};
    static const char *const k_ortho[] = {"factor", "mode", NULL};
    static const char *const modes[] = {"rows", "columns", NULL};
    const char *const *known = k_none;
    char who[256];
    snprintf(who, sizeof who, "%s (%s)", what, class_names[kind]);
    r->kind = kind;
    switch (kind) {
    case REG_L1:
        RNNC_TRY(read_coef(config, who, "l1", 0.01, &r->l1));
        known = k_l1;
        break;
    case REG_L2:
        RNNC_TRY(read_coef(config, who, "l2", 0.01, &r->l2));
        known = k_l2;
        break;
    case REG_L1L2: /* both default to 0: "l1l2" alone is a zero penalty */
        RNNC_TRY(read_coef(config, who, "l1", 0.0, &r->l1));
        RNNC_TRY(read_coef(config, who, "l2", 0.0, &r->l2));
        known = k_l1l2;
        break;
    case REG_ORTHOGONAL: {
        RNNC_TRY(read_coef(config, who, "factor", 0.01, &r->factor));
        const char *mode = NULL;
        RNNC_TRY(rnnc_cfg_read_string(config, who, "mode", "rows", &mode));
        if (strcmp(mode, "rows") == 0) {
            r->columns = false;
        } else if (strcmp(mode, "columns") == 0) {
            r->columns = true;
        } else {
            const char *near = rnnc_nearest_name(mode, modes);
            return rnnc_fail(RNNC_E_ARG, "%s: invalid 'mode' \"%s\": expected 'rows' or "
                                         "'columns'%s%s%s",
                             who, mode, near ? "; did you mean '" : "", near ? near : "",
                             near ? "'?" : "");
        }
        known = k_ortho;
        break;
    }
    default:
        break;
    }
    if (config)
        RNNC_TRY(rnnc_cfg_check_unread(config, who, known));
    return RNNC_OK;
}

rnnc_status rnnc_regularizer_from_config(const rnnc_cfg *c, const char *what,
                                         rnnc_regularizer **out)
{
    *out = NULL;
    what = rnnc_keras_what(what, "regularizer");
    if (!c || c->type == RNNC_CFG_NULL)
        return RNNC_OK;
    rnnc_keras_object o;
    int kind;
    RNNC_TRY(rnnc_keras_object_parse(c, "regularizer", MODULE, what, &o));
    RNNC_TRY(rnnc_keras_name_lookup(names, o.class_name, "regularizer", what, &kind));
    rnnc_regularizer *r = calloc(1, sizeof *r);
    if (!r)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory", what);
    rnnc_status s = build((reg_kind)kind, o.config, what, r);
    if (s != RNNC_OK) {
        free(r);
        return s;
    }
    *out = r;
    return RNNC_OK;
}

void rnnc_regularizer_destroy(rnnc_regularizer *r) { free(r); }

rnnc_status rnnc_regularizer_clone(const rnnc_regularizer *r, rnnc_regularizer **out)
{
    *out = malloc(sizeof **out);
    if (!*out)
        return rnnc_fail(RNNC_E_NOMEM, "clone of %s: out of memory", class_names[r->kind]);
    **out = *r;
    return RNNC_OK;
}

/* ---------------------------------------------------------------- penalty */

/* A rank-0 zero (no gradient to carry) in w's dtype. */
static rnnc_status zero_scalar(rnnc_ctx *cx, const rnnc_tensor *w, rnnc_tensor **loss)
{
    rnnc_shape scalar = {0};
    return rnnc_ctx_tensor(cx, w->dtype, &scalar, loss);
}

/* coef * sum(f(w)), f = abs or square. */
/* Keras on TensorFlow multiplies by the coefficient as a float32 constant,
 * also for float64 weights; round it the same way to give Keras's numbers
 * (get_config still reports the value as given). */
static double keras_coef(double c) { return (double)(float)c; }

static rnnc_status weighted_sum(rnnc_ctx *cx, rnnc_tensor *w, bool square, double coef,
                                rnnc_tensor **y)
{
    rnnc_tensor *f, *s;
    RNNC_TRY(square ? rnnc_square(cx, w, &f) : rnnc_abs(cx, w, &f));
    RNNC_TRY(rnnc_sum(cx, f, NULL, 0, false, &s));
    return rnnc_affine(cx, s, coef, 0.0, y);
}

/* factor * mean over unordered pairs i != j of |cos(w_i, w_j)|, rows or
 * columns (spec 8.2): normalize by max(norm, 1e-7), P = X X^T, zero the
 * diagonal, factor * 0.5 * sum |P| / (n (n - 1) / 2). */
static rnnc_status orthogonal_penalty(const rnnc_regularizer *r, rnnc_ctx *cx, rnnc_tensor *w,
                                      rnnc_tensor **loss)
{
    char buf[128];
    if (w->shape.ndim != 2)
        return rnnc_fail(RNNC_E_SHAPE,
                         "OrthogonalRegularizer: the weight must have rank 2, got shape %s",
                         rnnc_shape_str(&w->shape, buf, sizeof buf));
    int axis = r->columns ? 0 : 1; /* reduce across the other axis */
    int64_t n = w->shape.dim[r->columns ? 1 : 0];
    if (n < 2)
        return rnnc_fail(RNNC_E_SHAPE,
                         "OrthogonalRegularizer: mode '%s' needs at least 2 %s to compare, got "
                         "shape %s (Keras would divide by zero here)",
                         r->columns ? "columns" : "rows", r->columns ? "columns" : "rows",
                         rnnc_shape_str(&w->shape, buf, sizeof buf));
    rnnc_tensor *sq, *ss, *cl, *norm, *x, *p, *mask, *off, *a, *s;
    RNNC_TRY(rnnc_square(cx, w, &sq));
    RNNC_TRY(rnnc_sum(cx, sq, &axis, 1, true, &ss)); /* (n, 1) or (1, n) */
    /* max(sqrt(ss), 1e-7) as sqrt(max(ss, 1e-14)): same value, and a zero
     * row gets a zero gradient instead of sqrt'(0) = inf. */
    RNNC_TRY(rnnc_clip(cx, ss, 1e-14, INFINITY, &cl));
    RNNC_TRY(rnnc_sqrt(cx, cl, &norm));
    RNNC_TRY(rnnc_div(cx, w, norm, &x));
    RNNC_TRY(rnnc_matmul(cx, x, x, r->columns, !r->columns, &p)); /* (n, n) */
    rnnc_shape nn = RNNC_SHAPE(n, n);
    RNNC_TRY(rnnc_ctx_tensor(cx, w->dtype, &nn, &mask)); /* 1 - eye(n) */
    rnnc_tensor_fill(mask, 1.0);
    for (int64_t i = 0; i < n; i++)
        rnnc_tensor_set(mask, (size_t)(i * n + i), 0.0);
    RNNC_TRY(rnnc_mul(cx, p, mask, &off));
    RNNC_TRY(rnnc_abs(cx, off, &a));
    RNNC_TRY(rnnc_sum(cx, a, NULL, 0, false, &s));
    double pairs = (double)n * ((double)n - 1.0) / 2.0;
    return rnnc_affine(cx, s, r->factor * 0.5 / pairs, 0.0, loss);
}

rnnc_status rnnc_regularizer_penalty(const rnnc_regularizer *r, rnnc_ctx *cx, rnnc_tensor *w,
                                     rnnc_tensor **loss)
{
    *loss = NULL;
    if (w->dtype != RNNC_F32 && w->dtype != RNNC_F64)
        return rnnc_fail(RNNC_E_DTYPE, "%s: the weight must be float32 or float64, got %s",
                         class_names[r->kind], rnnc_dtype_name(w->dtype));
    rnnc_tensor *t1 = NULL, *t2 = NULL;
    switch (r->kind) {
    case REG_L1:
        return weighted_sum(cx, w, false, keras_coef(r->l1), loss);
    case REG_L2: /* no 1/2 factor */
        return weighted_sum(cx, w, true, keras_coef(r->l2), loss);
    case REG_L1L2: /* a zero coefficient skips its term, as Keras does */
        if (r->l1 != 0.0)
            RNNC_TRY(weighted_sum(cx, w, false, keras_coef(r->l1), &t1));
        if (r->l2 != 0.0)
            RNNC_TRY(weighted_sum(cx, w, true, keras_coef(r->l2), &t2));
        if (t1 && t2)
            return rnnc_add(cx, t1, t2, loss);
        if (t1 || t2) {
            *loss = t1 ? t1 : t2;
            return RNNC_OK;
        }
        return zero_scalar(cx, w, loss);
    case REG_ORTHOGONAL:
        return orthogonal_penalty(r, cx, w, loss);
    default:
        return zero_scalar(cx, w, loss);
    }
}

/* ---------------------------------------------------------------- config */

rnnc_status rnnc_regularizer_get_config(const rnnc_regularizer *r, rnnc_cfg **out)
{
    *out = NULL;
    rnnc_cfg *c = rnnc_cfg_map();
    if (!c)
        return rnnc_fail(RNNC_E_NOMEM, "get_config of %s: out of memory", class_names[r->kind]);
    rnnc_status s = RNNC_OK;
    /* Keras stores the coefficients as floats. */
    if (r->kind == REG_L1 || r->kind == REG_L1L2)
        s = rnnc_cfg_set_float(c, "l1", r->l1);
    if (s == RNNC_OK && (r->kind == REG_L2 || r->kind == REG_L1L2))
        s = rnnc_cfg_set_float(c, "l2", r->l2);
    if (s == RNNC_OK && r->kind == REG_ORTHOGONAL) {
        s = rnnc_cfg_set_float(c, "factor", r->factor);
        if (s == RNNC_OK)
            s = rnnc_cfg_set_string(c, "mode", r->columns ? "columns" : "rows");
    }
    if (s != RNNC_OK) {
        rnnc_cfg_destroy(c);
        return s;
    }
    return rnnc_keras_object_envelope(MODULE, class_names[r->kind], c, out);
}
