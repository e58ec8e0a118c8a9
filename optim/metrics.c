/* metrics.c - Keras's Mean and MeanMetricWrapper metrics: per-sample value
 * functions, mask and sample-weight handling (reduce_to_samplewise_values)
 * and the running total/count. See metrics.h. */
#include "optim/metrics.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/autograd.h"
#include "framework/config.h"
#include "framework/keras_object.h"
#include "optim/losses.h"

struct rnnc_metric {
    rnnc_metric_kind kind;
    char *name;
    double threshold;
    double total, count;
    rnnc_loss *loss; /* the loss function of the loss-valued metrics */
};

static const char *const default_names[] = {
    "mean", "mean_squared_error", "mean_absolute_error", "accuracy", "binary_accuracy",
    "categorical_accuracy", "sparse_categorical_accuracy", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "accuracy"};

static rnnc_loss_kind loss_kind_of(rnnc_metric_kind k)
{
    switch (k) {
    case RNNC_METRIC_MEAN_SQUARED_ERROR: return RNNC_LOSS_MEAN_SQUARED_ERROR;
    case RNNC_METRIC_MEAN_ABSOLUTE_ERROR: return RNNC_LOSS_MEAN_ABSOLUTE_ERROR;
    case RNNC_METRIC_BINARY_CROSSENTROPY: return RNNC_LOSS_BINARY_CROSSENTROPY;
    case RNNC_METRIC_CATEGORICAL_CROSSENTROPY: return RNNC_LOSS_CATEGORICAL_CROSSENTROPY;
    case RNNC_METRIC_SPARSE_CATEGORICAL_CROSSENTROPY: return RNNC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
    default: return (rnnc_loss_kind)-1;
    }
}

rnnc_status rnnc_metric_set_name(rnnc_metric *m, const char *name)
{
    char *n = malloc(strlen(name) + 1);
    if (!n)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory renaming metric %s", m->name);
    strcpy(n, name);
    free(m->name);
    m->name = n;
    return RNNC_OK;
}

rnnc_status rnnc_metric_create(rnnc_metric_kind kind, const char *name, rnnc_metric **out)
{
    *out = NULL;
    if ((unsigned)kind > RNNC_METRIC_ACCURACY_AUTO)
        return rnnc_fail(RNNC_E_ARG, "metric: unknown kind %d", (int)kind);
    const char *n = name ? name : default_names[kind];
    rnnc_metric *m = calloc(1, sizeof *m);
    if (m)
        m->name = malloc(strlen(n) + 1);
    if (!m || !m->name) {
        free(m);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory creating metric %s", n);
    }
    strcpy(m->name, n);
    m->kind = kind;
    m->threshold = 0.5;
    if ((int)loss_kind_of(kind) >= 0) {
        rnnc_status s = rnnc_loss_create(loss_kind_of(kind), NULL, &m->loss);
        if (s != RNNC_OK) {
            rnnc_metric_destroy(m);
            return s;
        }
    }
    *out = m;
    return RNNC_OK;
}

void rnnc_metric_destroy(rnnc_metric *m)
{
    if (!m)
        return;
    rnnc_loss_destroy(m->loss);
    free(m->name);
    free(m);
}

static const struct {
    const char *id;
    rnnc_metric_kind kind;
} metric_names[] = {
    {"mse", RNNC_METRIC_MEAN_SQUARED_ERROR},
    {"MSE", RNNC_METRIC_MEAN_SQUARED_ERROR},
    {"mean_squared_error", RNNC_METRIC_MEAN_SQUARED_ERROR},
    {"MeanSquaredError", RNNC_METRIC_MEAN_SQUARED_ERROR},
    {"mae", RNNC_METRIC_MEAN_ABSOLUTE_ERROR},
    {"MAE", RNNC_METRIC_MEAN_ABSOLUTE_ERROR},
    {"mean_absolute_error", RNNC_METRIC_MEAN_ABSOLUTE_ERROR},
    {"MeanAbsoluteError", RNNC_METRIC_MEAN_ABSOLUTE_ERROR},
    {"binary_accuracy", RNNC_METRIC_BINARY_ACCURACY},
    {"BinaryAccuracy", RNNC_METRIC_BINARY_ACCURACY},
    {"categorical_accuracy", RNNC_METRIC_CATEGORICAL_ACCURACY},
    {"CategoricalAccuracy", RNNC_METRIC_CATEGORICAL_ACCURACY},
    {"sparse_categorical_accuracy", RNNC_METRIC_SPARSE_CATEGORICAL_ACCURACY},
    {"SparseCategoricalAccuracy", RNNC_METRIC_SPARSE_CATEGORICAL_ACCURACY},
    {"bce", RNNC_METRIC_BINARY_CROSSENTROPY},
    {"BCE", RNNC_METRIC_BINARY_CROSSENTROPY},
    {"binary_crossentropy", RNNC_METRIC_BINARY_CROSSENTROPY},
    {"BinaryCrossentropy", RNNC_METRIC_BINARY_CROSSENTROPY},
    {"categorical_crossentropy", RNNC_METRIC_CATEGORICAL_CROSSENTROPY},
    {"CategoricalCrossentropy", RNNC_METRIC_CATEGORICAL_CROSSENTROPY},
    {"sparse_categorical_crossentropy", RNNC_METRIC_SPARSE_CATEGORICAL_CROSSENTROPY},
    {"SparseCategoricalCrossentropy", RNNC_METRIC_SPARSE_CATEGORICAL_CROSSENTROPY},
    {"Mean", RNNC_METRIC_MEAN},
    {"mean", RNNC_METRIC_MEAN},
};

static bool ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

rnnc_status rnnc_metric_from_name(const char *id, rnnc_metric **out)
{
    *out = NULL;
    if (!id)
        return rnnc_fail(RNNC_E_ARG, "metric: expected a metric identifier, got NULL");
    if (ieq(id, "accuracy") || ieq(id, "acc"))
        return rnnc_metric_create(RNNC_METRIC_ACCURACY_AUTO, id, out);
    const size_t n = sizeof metric_names / sizeof metric_names[0];
    const char *names[64];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(metric_names[i].id, id) == 0)
            return rnnc_metric_create(metric_names[i].kind, id, out);
        names[i] = metric_names[i].id;
    }
    names[n] = "accuracy";
    names[n + 1] = NULL;
    const char *near = rnnc_nearest_name(id, names);
    if (near)
        return rnnc_fail(RNNC_E_ARG, "metric: unknown metric '%s'; did you mean '%s'?", id, near);
    return rnnc_fail(RNNC_E_ARG, "metric: unknown metric '%s' (known: accuracy, mse, mae, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy and their class names)",
                     id);
}

/* Keras's metric classes that compile() takes as objects, in
 * keras.metrics' spelling. Accuracy is the exact-equality class. */
static const rnnc_keras_name metric_classes[] = {
    {"MeanSquaredError", RNNC_METRIC_MEAN_SQUARED_ERROR},
    {"MeanAbsoluteError", RNNC_METRIC_MEAN_ABSOLUTE_ERROR},
    {"Accuracy", RNNC_METRIC_ACCURACY},
    {"BinaryAccuracy", RNNC_METRIC_BINARY_ACCURACY},
    {"CategoricalAccuracy", RNNC_METRIC_CATEGORICAL_ACCURACY},
    {"SparseCategoricalAccuracy", RNNC_METRIC_SPARSE_CATEGORICAL_ACCURACY},
    {"BinaryCrossentropy", RNNC_METRIC_BINARY_CROSSENTROPY},
    {"CategoricalCrossentropy", RNNC_METRIC_CATEGORICAL_CROSSENTROPY},
    {"SparseCategoricalCrossentropy", RNNC_METRIC_SPARSE_CATEGORICAL_CROSSENTROPY},
    {NULL, 0},
};

/* The config keys of a class (Keras's get_config), read into the metric's
 * arguments; anything else is refused by the caller's unread check. */
static rnnc_status read_class_config(const rnnc_cfg *conf, rnnc_metric_kind kind, const char *what,
                                     const char *cls, const char **name, double *threshold,
                                     rnnc_loss_options *lo)
{
    const char *dtype = NULL;
    RNNC_TRY(rnnc_cfg_read_string(conf, what, "name", NULL, name));
    RNNC_TRY(rnnc_cfg_read_string(conf, what, "dtype", NULL, &dtype));
    /* values are summed in double either way; y_pred's dtype computes them, as in Keras */
    if (dtype && strcmp(dtype, "float32") != 0 && strcmp(dtype, "float64") != 0)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: %s dtype '%s' is not supported (a metric's dtype is float32, the default, or float64)",
                         what, cls, dtype);
    if (kind == RNNC_METRIC_BINARY_ACCURACY) {
        rnnc_keras_num t;
        RNNC_TRY(rnnc_keras_num_read(conf, what, "threshold", rnnc_keras_num_float(0.5), &t));
        if (!(t.v > 0 && t.v < 1)) /* Keras's BinaryAccuracy refuses it too */
            return rnnc_fail(RNNC_E_ARG, "%s: %s threshold must be in (0, 1), got %g", what, cls, t.v);
        *threshold = t.v;
    }
    if (kind >= RNNC_METRIC_BINARY_CROSSENTROPY && kind <= RNNC_METRIC_SPARSE_CATEGORICAL_CROSSENTROPY) {
        RNNC_TRY(rnnc_cfg_read_bool(conf, what, "from_logits", false, &lo->from_logits));
        rnnc_keras_num v;
        RNNC_TRY(rnnc_keras_num_read(conf, what, "axis", rnnc_keras_num_int(-1), &v));
        if (!v.is_int || v.v != -1)
            return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: %s axis=%g is not supported (only the last axis, -1)", what,
                             cls, v.v);
        if (kind != RNNC_METRIC_SPARSE_CATEGORICAL_CROSSENTROPY) {
            RNNC_TRY(rnnc_keras_num_read(conf, what, "label_smoothing", rnnc_keras_num_float(0.0), &v));
            lo->label_smoothing = v.v;
        } else { /* Keras writes ignore_class: null into every config of this class */
            const rnnc_cfg *ic = rnnc_cfg_get(conf, "ignore_class");
            char where[256];
            if (ic && ic->type != RNNC_CFG_NULL)
                return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: %s ignore_class is not supported in a metric (only null)%s",
                                 what, cls, rnnc_cfg_where(ic, where, sizeof where));
        }
    }
    static const char *const keys[][6] = {
        [RNNC_METRIC_MEAN_SQUARED_ERROR] = {"name", "dtype", NULL},
        [RNNC_METRIC_MEAN_ABSOLUTE_ERROR] = {"name", "dtype", NULL},
        [RNNC_METRIC_ACCURACY] = {"name", "dtype", NULL},
        [RNNC_METRIC_BINARY_ACCURACY] = {"name", "dtype", "threshold", NULL},
        [RNNC_METRIC_CATEGORICAL_ACCURACY] = {"name", "dtype", NULL},
        [RNNC_METRIC_SPARSE_CATEGORICAL_ACCURACY] = {"name", "dtype", NULL},
        [RNNC_METRIC_BINARY_CROSSENTROPY] = {"name", "dtype", "from_logits", "label_smoothing", "axis", NULL},
        [RNNC_METRIC_CATEGORICAL_CROSSENTROPY] = {"name", "dtype", "from_logits", "label_smoothing", "axis", NULL},
        [RNNC_METRIC_SPARSE_CATEGORICAL_CROSSENTROPY] = {"name", "dtype", "from_logits", "ignore_class", "axis", NULL},
    };
    char w[320];
    snprintf(w, sizeof w, "%s: %s config", what, cls);
    return rnnc_cfg_check_unread(conf, w, keys[kind]);
}

rnnc_status rnnc_metric_from_config(const rnnc_cfg *c, const char *what, rnnc_metric **out)
{
    char where[256];
    *out = NULL;
    what = rnnc_keras_what(what, "metric");
    if (!c)
        return rnnc_fail(RNNC_E_ARG, "%s: no metric given", what);
    if (c->type == RNNC_CFG_STRING) {
        rnnc_status s = rnnc_metric_from_name(c->v.s, out);
        return s ? rnnc_fail_context(s, "%s: ", what) : RNNC_OK;
    }
    if (c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: expected a metric name or a Keras metric config {class_name, config}, got %s%s",
                         what, rnnc_cfg_type_name(c->type), rnnc_cfg_where(c, where, sizeof where));
    rnnc_keras_object obj;
    RNNC_TRY(rnnc_keras_object_parse(c, "metric", "keras.metrics", what, &obj));
    int kind = -1;
    for (const rnnc_keras_name *e = metric_classes; e->name; e++)
        if (strcmp(e->name, obj.class_name) == 0)
            kind = e->kind;
    if (kind < 0)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: metric class '%s' is not supported (rnnc computes MeanSquaredError, MeanAbsoluteError, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)",
                         what, obj.class_name);
    const char *name = NULL;
    double threshold = 0.5;
    rnnc_loss_options lo = rnnc_loss_options_default();
    if (obj.config)
        RNNC_TRY(read_class_config(obj.config, (rnnc_metric_kind)kind, what, obj.class_name, &name, &threshold, &lo));
    if (name && (!name[0] || strcmp(name, "loss") == 0))
        return rnnc_fail(RNNC_E_ARG, "%s: %s name '%s' cannot name a metric", what, obj.class_name, name);
    RNNC_TRY(rnnc_metric_create((rnnc_metric_kind)kind, name, out));
    (*out)->threshold = threshold;
    if ((*out)->loss && (lo.from_logits || lo.label_smoothing != 0)) {
        rnnc_loss *l = NULL;
        rnnc_status s = rnnc_loss_create(loss_kind_of((rnnc_metric_kind)kind), &lo, &l);
        if (s) {
            rnnc_metric_destroy(*out);
            *out = NULL;
            return rnnc_fail_context(s, "%s: %s: ", what, obj.class_name);
        }
        rnnc_loss_destroy((*out)->loss);
        (*out)->loss = l;
    }
    return RNNC_OK;
}

const rnnc_loss *rnnc_metric_loss(const rnnc_metric *m) { return m->loss; }

const char *rnnc_metric_name(const rnnc_metric *m) { return m->name; }
rnnc_metric_kind rnnc_metric_get_kind(const rnnc_metric *m) { return m->kind; }
void rnnc_metric_set_threshold(rnnc_metric *m, double t) { m->threshold = t; }
double rnnc_metric_threshold(const rnnc_metric *m) { return m->threshold; }

int rnnc_metric_direction(const rnnc_metric *m)
{
    switch (m->kind) {
    case RNNC_METRIC_ACCURACY:
    case RNNC_METRIC_BINARY_ACCURACY:
    case RNNC_METRIC_CATEGORICAL_ACCURACY:
    case RNNC_METRIC_SPARSE_CATEGORICAL_ACCURACY:
    case RNNC_METRIC_ACCURACY_AUTO: return 1;
    default: return -1;
    }
}

void rnnc_metric_reset(rnnc_metric *m)
{
    m->total = 0;
    m->count = 0;
}

void rnnc_metric_state(const rnnc_metric *m, double *total, double *count)
{
    *total = m->total;
    *count = m->count;
}

void rnnc_metric_set_state(rnnc_metric *m, double total, double count)
{
    m->total = total;
    m->count = count;
}

double rnnc_metric_result(const rnnc_metric *m)
{
    return m->count != 0 ? m->total / m->count : 0.0; /* divide_no_nan */
}

void rnnc_metric_update_scalar(rnnc_metric *m, double value, double weight)
{
    m->total += value * weight;
    m->count += weight;
}

/* ---- dense double arrays with a shape ----------------------------------- */

typedef struct darr {
    rnnc_shape shape;
    size_t n;
    double *v;
} darr;

static rnnc_status darr_new(darr *a, const rnnc_shape *s)
{
    a->shape = *s;
    a->n = 1;
    for (int d = 0; d < s->ndim; d++)
        a->n *= (size_t)s->dim[d];
    a->v = calloc(a->n ? a->n : 1, sizeof *a->v);
    return a->v ? RNNC_OK : rnnc_fail(RNNC_E_NOMEM, "metric: out of memory");
}

static rnnc_status darr_of(darr *a, const rnnc_tensor *t)
{
    RNNC_TRY(darr_new(a, &t->shape));
    for (size_t i = 0; i < a->n; i++)
        a->v[i] = rnnc_tensor_get(t, i);
    return RNNC_OK;
}

/* Mean over the axes from `keep` on: shape becomes shape[:keep]. */
static void mean_from(darr *a, int keep)
{
    if (a->shape.ndim <= keep)
        return;
    size_t outer = 1;
    for (int d = 0; d < keep; d++)
        outer *= (size_t)a->shape.dim[d];
    const size_t inner = outer ? a->n / outer : 0;
    for (size_t i = 0; i < outer; i++) {
        double s = 0;
        for (size_t j = 0; j < inner; j++)
            s += a->v[i * inner + j];
        a->v[i] = inner ? s / (double)inner : NAN;
    }
    a->shape.ndim = keep;
    a->n = outer;
}

/* Element offset in `from` (right-aligned broadcast) of flat index i of `to`. */
static size_t bcast_src(const rnnc_shape *from, const rnnc_shape *to, size_t i)
{
    size_t off = 0, stride = 1;
    for (int d = to->ndim - 1, e = from->ndim - 1; d >= 0; d--, e--) {
        const size_t idx = i % (size_t)to->dim[d];
        i /= (size_t)to->dim[d];
        if (e >= 0) {
            if (from->dim[e] != 1)
                off += idx * stride;
            stride *= (size_t)from->dim[e];
        }
    }
    return off;
}

static bool bcast_shape(const rnnc_shape *a, const rnnc_shape *b, rnnc_shape *out)
{
    rnnc_shape r = {0};
    r.ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < r.ndim; d++) {
        const int ia = d - (r.ndim - a->ndim), ib = d - (r.ndim - b->ndim);
        const int64_t x = ia >= 0 ? a->dim[ia] : 1, y = ib >= 0 ? b->dim[ib] : 1;
        if (x != y && x != 1 && y != 1)
            return false;
        r.dim[d] = x == 1 ? y : x;
    }
    *out = r;
    return true;
}

/* a * b with broadcasting, into a new array. */
static rnnc_status darr_mul(const darr *a, const darr *b, darr *out, const char *what)
{
    char x[160], y[160];
    rnnc_shape s;
    if (!bcast_shape(&a->shape, &b->shape, &s))
        return rnnc_fail(RNNC_E_SHAPE, "metric: %s: shapes %s and %s cannot be broadcast together", what,
                         rnnc_shape_str(&a->shape, x, sizeof x), rnnc_shape_str(&b->shape, y, sizeof y));
    RNNC_TRY(darr_new(out, &s));
    for (size_t i = 0; i < out->n; i++)
        out->v[i] = a->v[bcast_src(&a->shape, &s, i)] * b->v[bcast_src(&b->shape, &s, i)];
    return RNNC_OK;
}

/* Mean.update_state(values, sample_weight) with reduce_fn = mean. Takes
 * ownership of vals and w (w may have v == NULL: no weight). */
static rnnc_status mean_update(rnnc_metric *m, darr *vals, darr *w)
{
    char x[160], y[160];
    rnnc_status s = RNNC_OK;
    if (w->v) {
        rnnc_loss_match_ranks(&vals->shape, &w->shape);
        const int wn = w->shape.ndim;
        mean_from(vals, wn);
        /* broadcast_to(sample_weight, values.shape) */
        rnnc_shape bs;
        if (!bcast_shape(&w->shape, &vals->shape, &bs) || !rnnc_shape_eq(&bs, &vals->shape)) {
            s = rnnc_fail(RNNC_E_SHAPE, "metric '%s': sample_weight of shape %s cannot be broadcast to the values' shape %s",
                          m->name, rnnc_shape_str(&w->shape, x, sizeof x),
                          rnnc_shape_str(&vals->shape, y, sizeof y));
            goto done;
        }
        darr wb;
        if ((s = darr_new(&wb, &vals->shape)))
            goto done;
        for (size_t i = 0; i < wb.n; i++)
            wb.v[i] = w->v[bcast_src(&w->shape, &vals->shape, i)];
        free(w->v);
        *w = wb;
        for (size_t i = 0; i < vals->n; i++)
            vals->v[i] *= w->v[i];
        if (wn > 1)
            mean_from(w, 1);
    }
    mean_from(vals, vals->shape.ndim > 1 ? 1 : vals->shape.ndim);
    for (size_t i = 0; i < vals->n; i++)
        m->total += vals->v[i];
    if (w->v) {
        for (size_t i = 0; i < w->n; i++)
            m->count += w->v[i];
    } else {
        m->count += vals->shape.ndim >= 1 ? (double)vals->shape.dim[0] : 1.0;
    }
done:
    free(vals->v);
    free(w->v);
    return s;
}

rnnc_status rnnc_metric_update_values(rnnc_metric *m, const rnnc_tensor *values,
                                      const rnnc_tensor *sample_weight)
{
    darr v = {0}, w = {0};
    RNNC_TRY(darr_of(&v, values));
    if (sample_weight) {
        rnnc_status s = darr_of(&w, sample_weight);
        if (s) {
            free(v.v);
            return s;
        }
    }
    return mean_update(m, &v, &w);
}

/* ---- per-sample value functions ---------------------------------------- */

static int64_t argmax_row(const rnnc_tensor *t, size_t row, int64_t c)
{
    int64_t best = 0;
    double bv = -INFINITY;
    for (int64_t j = 0; j < c; j++) {
        const double x = rnnc_tensor_get(t, row * (size_t)c + (size_t)j);
        if (x > bv || (j == 0 && x != x)) {
            bv = x;
            best = j;
        }
    }
    return best;
}

static rnnc_status accuracy_values(const rnnc_metric *m, rnnc_metric_kind kind, const rnnc_tensor *yt,
                                   const rnnc_tensor *yp, darr *out)
{
    char x[160], y[160];
    rnnc_shape ts = yt->shape, ps = yp->shape;
    switch (kind) {
    case RNNC_METRIC_ACCURACY:
    case RNNC_METRIC_BINARY_ACCURACY: {
        rnnc_loss_match_ranks(&ts, &ps);
        rnnc_shape bs;
        if (!bcast_shape(&ts, &ps, &bs))
            break;
        RNNC_TRY(darr_new(out, &bs));
        for (size_t i = 0; i < out->n; i++) {
            const double t = rnnc_tensor_get(yt, bcast_src(&ts, &bs, i));
            double p = rnnc_tensor_get(yp, bcast_src(&ps, &bs, i));
            if (kind == RNNC_METRIC_BINARY_ACCURACY)
                p = p > m->threshold ? 1.0 : 0.0;
            out->v[i] = t == p;
        }
        return RNNC_OK;
    }
    case RNNC_METRIC_CATEGORICAL_ACCURACY: {
        if (ts.ndim < 1 || ps.ndim < 1)
            break;
        const int64_t ct = ts.dim[ts.ndim - 1], cp = ps.dim[ps.ndim - 1];
        rnnc_shape rs = ts;
        rs.ndim--;
        bool ok = ts.ndim == ps.ndim;
        for (int d = 0; ok && d < rs.ndim; d++)
            ok = ts.dim[d] == ps.dim[d];
        if (!ok)
            break;
        RNNC_TRY(darr_new(out, &rs));
        for (size_t r = 0; r < out->n; r++)
            out->v[r] = argmax_row(yt, r, ct) == argmax_row(yp, r, cp);
        return RNNC_OK;
    }
    case RNNC_METRIC_SPARSE_CATEGORICAL_ACCURACY: {
        if (ps.ndim < 1)
            break;
        if (ts.ndim == ps.ndim && ts.dim[ts.ndim - 1] == 1)
            ts.ndim--;
        bool ok = ts.ndim == ps.ndim - 1;
        for (int d = 0; ok && d < ts.ndim; d++)
            ok = ts.dim[d] == ps.dim[d];
        if (!ok)
            break;
        const int64_t c = ps.dim[ps.ndim - 1];
        RNNC_TRY(darr_new(out, &ts));
        for (size_t r = 0; r < out->n; r++)
            out->v[r] = rnnc_tensor_get(yt, r) == (double)argmax_row(yp, r, c);
        return RNNC_OK;
    }
    default: break;
    }
    return rnnc_fail(RNNC_E_SHAPE, "metric '%s': y_true of shape %s does not fit y_pred of shape %s", m->name,
                     rnnc_shape_str(&yt->shape, x, sizeof x), rnnc_shape_str(&yp->shape, y, sizeof y));
}

static rnnc_status loss_metric_values(const rnnc_metric *m, const rnnc_tensor *yt, const rnnc_tensor *yp,
                                      darr *out)
{
    rnnc_ctx *cx = rnnc_ctx_create();
    if (!cx)
        return rnnc_fail(RNNC_E_NOMEM, "metric: out of memory");
    rnnc_ctx_set_grad_enabled(cx, false);
    rnnc_tensor *vals = NULL;
    rnnc_status s = rnnc_loss_values(m->loss, cx, yt, (rnnc_tensor *)yp, &vals, NULL);
    if (s == RNNC_OK)
        s = darr_of(out, vals);
    rnnc_ctx_destroy(cx);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "metric '%s': ", m->name);
    return RNNC_OK;
}

rnnc_status rnnc_metric_update(rnnc_metric *m, const rnnc_tensor *y_true, const rnnc_tensor *y_pred,
                               const rnnc_tensor *sample_weight, const rnnc_tensor *mask)
{
    if (!m || !y_true || !y_pred)
        return rnnc_fail(RNNC_E_ARG, "metric update: NULL metric, y_true or y_pred");
    if (m->kind == RNNC_METRIC_MEAN)
        return rnnc_fail(RNNC_E_STATE, "metric '%s' is a Mean: update it with values, not (y_true, y_pred)", m->name);
    if (m->kind == RNNC_METRIC_ACCURACY_AUTO) {
        /* compile_utils.get_metric: binary if y_pred's last dim is 1, sparse
         * if y_true has a lower rank (or a last dim of 1), else categorical */
        const int tr = y_true->shape.ndim, pr = y_pred->shape.ndim;
        const int64_t tl = tr ? y_true->shape.dim[tr - 1] : 1, pl = pr ? y_pred->shape.dim[pr - 1] : 1;
        m->kind = pl == 1 ? RNNC_METRIC_BINARY_ACCURACY
                  : (tr < pr || (tl == 1 && pl > 1)) ? RNNC_METRIC_SPARSE_CATEGORICAL_ACCURACY
                                                     : RNNC_METRIC_CATEGORICAL_ACCURACY;
    }
    darr vals = {0}, w = {0};
    rnnc_status s = m->loss ? loss_metric_values(m, y_true, y_pred, &vals)
                            : accuracy_values(m, m->kind, y_true, y_pred, &vals);
    if (s != RNNC_OK)
        return s;
    /* apply_mask(sample_weight, mask, reduction="sum"): the mask (0/1) is the weight */
    if (sample_weight && (s = darr_of(&w, sample_weight))) {
        free(vals.v);
        return s;
    }
    if (mask) {
        darr fm = {0};
        if ((s = darr_of(&fm, mask))) {
            free(vals.v);
            free(w.v);
            return s;
        }
        for (size_t i = 0; i < fm.n; i++)
            fm.v[i] = fm.v[i] != 0;
        if (w.v) {
            darr prod = {0};
            rnnc_loss_match_ranks(&fm.shape, &w.shape);
            s = darr_mul(&w, &fm, &prod, "sample_weight and mask");
            free(fm.v);
            free(w.v);
            w = prod;
            if (s) {
                free(vals.v);
                return rnnc_fail_context(s, "metric '%s': ", m->name);
            }
        } else {
            w = fm;
        }
    }
    return mean_update(m, &vals, &w);
}
