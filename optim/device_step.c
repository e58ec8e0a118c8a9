/* device_step.c - the trainer's step on a backend (device_step_internal.h). */
#include "optim/device_step_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/device_model.h"
#include "optim/optimizer_internal.h"

#define DSTEP_MAX_METRICS 64

/* How one compiled metric runs on the device. */
typedef struct dmetric {
    rnnc_metric *m;
    bool weighted;    /* weighted_metrics: the sample weight counts */
    bool is_loss;     /* a crossentropy metric: the loss op */
    rnnc_bloss loss;  /* when is_loss (CROSSENTROPY picked per batch) */
    bool loss_auto;
    rnnc_bmetric kind; /* otherwise */
    bool kind_auto;    /* compile's "accuracy": picked from the shapes */
} dmetric;

/* A scratch buffer on the device, grown on demand; ops see exact-size slices. */
typedef struct sbuf {
    rnnc_bbuf *b;
} sbuf;

struct rnnc__dstep {
    const rnnc_backend_ops *be;
    rnnc_dmodel *dm;
    rnnc__dstep_compiled c;
    bool compiled;
    bool train_checked; /* rnnc__dstep_check_train passed */
    /* the loss */
    rnnc_bloss lkind;
    bool lauto, from_logits;
    rnnc_reduction red;
    dmetric mets[DSTEP_MAX_METRICS];
    int n_mets;
    /* the optimizer: per optimizer variable, its device weight and slots */
    int n_vars, n_kinds;
    rnnc_dweight **var_w;  /* [var] */
    rnnc_bbuf **slots;     /* [var * n_kinds + kind] */
    /* scratch: device */
    sbuf ytrue, yids, lw, mw, values, work, grad, scalars;
    /* scratch: host */
    float *hy, *hlw, *hsc;
    int32_t *hids;
    size_t hy_cap, hw_cap, hids_cap, hsc_cap;
};

/* ---- small helpers ------------------------------------------------------- */

static rnnc_status sbuf_get(rnnc__dstep *d, sbuf *s, rnnc_dtype dt, size_t n, rnnc_bbuf *view)
{
    if (!s->b || s->b->n < n || s->b->dtype != dt) {
        d->be->free(s->b);
        s->b = NULL;
        RNNC_TRY(d->be->alloc(dt, n ? n : 1, &s->b));
    }
    *view = rnnc_bbuf_slice(s->b, 0, n);
    return RNNC_OK;
}

static rnnc_status host_grow(void **p, size_t *cap, size_t n, size_t es)
{
    if (n <= *cap)
        return RNNC_OK;
    void *q = realloc(*p, (n ? n : 1) * es);
    if (!q)
        return rnnc_fail(RNNC_E_NOMEM, "device step: out of memory for %zu host values", n);
    *p = q;
    *cap = n;
    return RNNC_OK;
}

static rnnc_status refuse(const char *fmt, const char *a, const char *b)
{
    return rnnc_fail(RNNC_E_UNSUPPORTED, fmt, a, b);
}

/* ---- the checks of the compile -------------------------------------------- */

static rnnc_status loss_options(const rnnc_loss *l, bool *from_logits, double *smoothing, bool *ignore)
{
    rnnc_cfg *cfg = NULL;
    RNNC_TRY(rnnc_loss_get_config(l, &cfg));
    const rnnc_cfg *v;
    *from_logits = (v = rnnc_cfg_peek(cfg, "from_logits")) && v->type == RNNC_CFG_BOOL && v->v.b;
    *smoothing = 0;
    if ((v = rnnc_cfg_peek(cfg, "label_smoothing")) && (v->type == RNNC_CFG_FLOAT || v->type == RNNC_CFG_INT))
        *smoothing = v->type == RNNC_CFG_FLOAT ? v->v.f : (double)v->v.i;
    *ignore = (v = rnnc_cfg_peek(cfg, "ignore_class")) && v->type != RNNC_CFG_NULL;
    rnnc_cfg_destroy(cfg);
    return RNNC_OK;
}

static rnnc_status check_loss(rnnc__dstep *d)
{
    const rnnc_loss *l = d->c.loss;
    const char *name = rnnc_loss_name(l);
    bool ignore;
    double ls;
    RNNC_TRY(loss_options(l, &d->from_logits, &ls, &ignore));
    d->red = rnnc_loss_reduction(l);
    switch (rnnc_loss_get_kind(l)) {
    case RNNC_LOSS_MEAN_SQUARED_ERROR: d->lkind = RNNC_BLOSS_MSE; break;
    case RNNC_LOSS_BINARY_CROSSENTROPY: d->lkind = RNNC_BLOSS_BCE; break;
    case RNNC_LOSS_CATEGORICAL_CROSSENTROPY: d->lkind = RNNC_BLOSS_CCE; break;
    case RNNC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY: d->lkind = RNNC_BLOSS_SCCE; break;
    case RNNC_LOSS_CROSSENTROPY_AUTO: d->lauto = true; break;
    default:
        return refuse("compile.loss: '%s' has no device implementation (the device path runs mean_squared_error and "
                      "the binary, categorical and sparse categorical crossentropies)%s",
                      name, "");
    }
    if (ls != 0)
        return refuse("compile.loss: '%s': label_smoothing has no device implementation%s", name, "");
    if (ignore)
        return refuse("compile.loss: '%s': ignore_class has no device implementation%s", name, "");
    if (d->red == RNNC_REDUCTION_NONE)
        return refuse("compile.loss: '%s': reduction 'none' cannot train%s", name, "");
    return RNNC_OK;
}

static rnnc_status check_metric(dmetric *dm, rnnc_metric *m, bool weighted)
{
    dm->m = m;
    dm->weighted = weighted;
    switch (rnnc_metric_get_kind(m)) {
    case RNNC_METRIC_MEAN_SQUARED_ERROR: dm->kind = RNNC_BMETRIC_MSE; break;
    case RNNC_METRIC_MEAN_ABSOLUTE_ERROR: dm->kind = RNNC_BMETRIC_MAE; break;
    case RNNC_METRIC_ACCURACY: dm->kind = RNNC_BMETRIC_ACCURACY; break;
    case RNNC_METRIC_BINARY_ACCURACY: dm->kind = RNNC_BMETRIC_BINARY_ACCURACY; break;
    case RNNC_METRIC_CATEGORICAL_ACCURACY: dm->kind = RNNC_BMETRIC_CATEGORICAL_ACCURACY; break;
    case RNNC_METRIC_SPARSE_CATEGORICAL_ACCURACY: dm->kind = RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY; break;
    case RNNC_METRIC_ACCURACY_AUTO: dm->kind_auto = true; break;
    case RNNC_METRIC_BINARY_CROSSENTROPY: dm->is_loss = true, dm->loss = RNNC_BLOSS_BCE; break;
    case RNNC_METRIC_CATEGORICAL_CROSSENTROPY: dm->is_loss = true, dm->loss = RNNC_BLOSS_CCE; break;
    case RNNC_METRIC_SPARSE_CATEGORICAL_CROSSENTROPY: dm->is_loss = true, dm->loss = RNNC_BLOSS_SCCE; break;
    default:
        return refuse("compile.%s: '%s' has no device implementation", weighted ? "weighted_metrics" : "metrics",
                      rnnc_metric_name(m));
    }
    if (dm->is_loss) { /* a Keras metric object may set these */
        bool logits, ignore;
        double ls;
        RNNC_TRY(loss_options(rnnc_metric_loss(m), &logits, &ls, &ignore));
        if (logits || ls != 0)
            return refuse("compile.%s: '%s': from_logits or label_smoothing has no device implementation",
                          weighted ? "weighted_metrics" : "metrics", rnnc_metric_name(m));
    }
    return RNNC_OK;
}

static bool num_set(rnnc_keras_num n) { return !isnan(n.v); }

static rnnc_status check_optimizer(const rnnc_optimizer *o)
{
    const char *n = rnnc_optimizer_name(o);
    const rnnc_optimizer_kind k = rnnc_optimizer_get_kind(o);
    if (k != RNNC_OPTIMIZER_SGD && k != RNNC_OPTIMIZER_ADAM && k != RNNC_OPTIMIZER_ADAMW)
        return refuse("compile.optimizer: %s ('%s') has no device implementation (the device path runs SGD, Adam and AdamW)",
                      rnnc_optimizer_class_name(o), n);
    const char *arg = num_set(o->clipnorm)          ? "clipnorm"
                      : num_set(o->clipvalue)       ? "clipvalue"
                      : num_set(o->global_clipnorm) ? "global_clipnorm"
                      : o->use_ema                  ? "use_ema"
                      : num_set(o->loss_scale_factor) ? "loss_scale_factor"
                      : o->accum_steps              ? "gradient_accumulation_steps"
                      : k == RNNC_OPTIMIZER_SGD && num_set(o->weight_decay) ? "weight_decay"
                                                                            : NULL;
    if (arg)
        return refuse("compile.optimizer: '%s': %s has no device implementation", n, arg);
    return RNNC_OK;
}

/* The ops an evaluating step calls, on be (a training step adds the
 * optimizer's: rnnc__dstep_check_train). */
static rnnc_status check_ops(const rnnc_backend_ops *be, bool metrics)
{
    const rnnc_bop ops[] = {RNNC_BOP_LOSS, RNNC_BOP_REDUCE, RNNC_BOP_SCALE_ROWS, RNNC_BOP_BINARY,
                            metrics ? RNNC_BOP_METRIC : RNNC_BOP_LOSS};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (!be->supports(ops[i], RNNC_F32))
            return refuse("the %s backend has no %s op", be->name, rnnc_bop_name(ops[i]));
    return RNNC_OK;
}

rnnc_status rnnc__dstep_check_train(rnnc__dstep *d)
{
    if (!d->compiled || d->train_checked)
        return RNNC_OK;
    const rnnc_optimizer *o = d->c.opt;
    RNNC_TRY(check_optimizer(o));
    const rnnc_bop op = rnnc_optimizer_get_kind(o) == RNNC_OPTIMIZER_SGD ? RNNC_BOP_SGD : RNNC_BOP_ADAM;
    if (!d->be->supports(op, RNNC_F32))
        return refuse("the %s backend has no %s op", d->be->name, rnnc_bop_name(op));
    d->train_checked = true;
    return RNNC_OK;
}

rnnc_status rnnc__dstep_create(rnnc_model *m, const rnnc_backend_ops *be, const rnnc__dstep_compiled *c,
                               rnnc__dstep **out)
{
    *out = NULL;
    rnnc__dstep *d = calloc(1, sizeof *d);
    if (!d)
        return rnnc_fail(RNNC_E_NOMEM, "device step: out of memory");
    d->be = be;
    d->c = *c;
    rnnc_status s = RNNC_OK;
    if (c->loss) {
        d->compiled = true;
        s = check_loss(d);
        for (int i = 0; !s && i < c->n_metrics + c->n_wmetrics; i++) {
            if (d->n_mets == DSTEP_MAX_METRICS) {
                s = rnnc_fail(RNNC_E_UNSUPPORTED, "compile: more than %d metrics on the device", DSTEP_MAX_METRICS);
                break;
            }
            const bool w = i >= c->n_metrics;
            s = check_metric(&d->mets[d->n_mets++], w ? c->wmetrics[i - c->n_metrics] : c->metrics[i], w);
        }
        bool any_metric_op = false;
        for (int i = 0; i < d->n_mets; i++)
            any_metric_op |= !d->mets[i].is_loss;
        if (!s)
            s = check_ops(be, any_metric_op);
        if (!s && !c->inference)
            s = rnnc__dstep_check_train(d);
    }
    if (!s)
        s = rnnc_dmodel_create(m, be, &d->dm);
    if (s) {
        rnnc__dstep_destroy(d);
        return s;
    }
    *out = d;
    return RNNC_OK;
}

static void free_slots(rnnc__dstep *d)
{
    for (int i = 0; d->slots && i < d->n_vars * d->n_kinds; i++)
        d->be->free(d->slots[i]);
    free(d->slots);
    free(d->var_w);
    d->slots = NULL;
    d->var_w = NULL;
    d->n_vars = d->n_kinds = 0;
}

void rnnc__dstep_destroy(rnnc__dstep *d)
{
    if (!d)
        return;
    free_slots(d);
    sbuf *bufs[] = {&d->ytrue, &d->yids, &d->lw, &d->mw, &d->values, &d->work, &d->grad, &d->scalars};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        d->be->free(bufs[i]->b);
    rnnc_dmodel_destroy(d->dm);
    free(d->hy);
    free(d->hlw);
    free(d->hsc);
    free(d->hids);
    free(d);
}

/* ---- weights and optimizer slots --------------------------------------- */

/* The optimizer's slots on the device (the caller has built it, as its
 * first apply builds it; not built: nothing to train). */
static rnnc_status setup_slots(rnnc__dstep *d)
{
    rnnc_optimizer *o = d->c.opt;
    if (d->slots || !o->built)
        return RNNC_OK;
    int ndw;
    rnnc_dweight *dw = rnnc_dmodel_weights(d->dm, &ndw);
    d->n_vars = o->n_vars;
    d->n_kinds = o->n_kinds;
    d->var_w = calloc((size_t)o->n_vars + 1, sizeof *d->var_w);
    d->slots = calloc((size_t)(o->n_vars * o->n_kinds) + 1, sizeof *d->slots);
    if (!d->var_w || !d->slots) {
        free_slots(d);
        return rnnc_fail(RNNC_E_NOMEM, "device step: out of memory");
    }
    for (int i = 0; i < o->n_vars; i++) {
        for (int j = 0; j < ndw; j++)
            if (dw[j].host && dw[j].host->value == o->vars[i] && dw[j].grad)
                d->var_w[i] = &dw[j];
        if (!d->var_w[i]) {
            free_slots(d);
            return rnnc_fail(RNNC_E_ARG, "device step: optimizer '%s' holds variable '%s', which the model on the device does not train",
                             o->name, o->var_names[i]);
        }
        if (o->vars[i]->dtype != RNNC_F32) {
            free_slots(d);
            return refuse("optimizer variable '%s': %s has no device implementation (float32 only)", o->var_names[i],
                          rnnc_dtype_name(o->vars[i]->dtype));
        }
        for (int k = 0; k < o->n_kinds; k++) {
            rnnc_status s = d->be->alloc(RNNC_F32, o->vars[i]->numel, &d->slots[i * o->n_kinds + k]);
            if (s) {
                free_slots(d);
                return s;
            }
        }
    }
    return RNNC_OK;
}

rnnc_status rnnc__dstep_upload(rnnc__dstep *d, bool train)
{
    RNNC_TRY(rnnc_dmodel_upload(d->dm));
    if (train && d->compiled)
        RNNC_TRY(setup_slots(d));
    const rnnc_optimizer *o = d->c.opt;
    for (int i = 0; d->slots && i < d->n_vars * d->n_kinds; i++)
        RNNC_TRY(d->be->upload(d->slots[i], o->slots[i]->data));
    return RNNC_OK;
}

rnnc_status rnnc__dstep_download(rnnc__dstep *d)
{
    RNNC_TRY(rnnc_dmodel_download(d->dm));
    const rnnc_optimizer *o = d->c.opt;
    for (int i = 0; d->slots && i < d->n_vars * d->n_kinds; i++)
        RNNC_TRY(d->be->download(o->slots[i]->data, d->slots[i]));
    return RNNC_OK;
}

static bool decays(const rnnc_optimizer *o, int i)
{
    if (!num_set(o->weight_decay))
        return false;
    for (int k = 0; k < o->n_exclude; k++)
        if (strstr(o->var_names[i], o->exclude[k]))
            return false;
    return true;
}

/* optimizer.apply on the device: the update op per variable, then
 * iterations += 1 on the host (no accumulation, clipping, EMA: refused). */
static rnnc_status apply_update(rnnc__dstep *d)
{
    rnnc_optimizer *o = d->c.opt;
    if (!d->slots)
        return RNNC_OK;
    const int64_t iters = rnnc_optimizer_iterations(o);
    const double lr = rnnc_optimizer_learning_rate(o);
    const bool sgd = rnnc_optimizer_get_kind(o) == RNNC_OPTIMIZER_SGD;
    for (int i = 0; i < d->n_vars; i++) {
        rnnc_dweight *w = d->var_w[i];
        rnnc_bbuf **sl = d->slots + (size_t)i * (size_t)d->n_kinds;
        rnnc_status s;
        if (sgd) {
            const rnnc_sgd_params p = {(float)lr, (float)o->momentum.v, o->nesterov};
            s = d->be->sgd(&p, w->value, w->grad, o->momentum.v != 0 ? sl[0] : NULL);
        } else {
            const rnnc_adam_params p = {lr,         o->beta_1.v, o->beta_2.v, o->epsilon.v, iters + 1,
                                        o->amsgrad, decays(o, i) ? o->weight_decay.v : 0.0};
            s = d->be->adam(&p, w->value, w->grad, sl[0], sl[1], o->amsgrad ? sl[2] : NULL, w->grad_sq);
        }
        if (s)
            return rnnc_fail_context(s, "optimizer '%s', variable '%s': ", o->name, o->var_names[i]);
    }
    ((int64_t *)o->iteration->data)[0] = iters + 1;
    return RNNC_OK;
}

/* ---- one batch ------------------------------------------------------------- */

/* y_true as the loss op takes it: float32 of y_pred's size, or int32 class
 * ids (one per row, checked here as the CPU loss checks them). */
static rnnc_status upload_targets(rnnc__dstep *d, const rnnc_tensor *yb, bool ids, int64_t rows, int64_t cols,
                                  const char *what, rnnc_bbuf *out)
{
    if (ids) {
        RNNC_TRY(host_grow((void **)&d->hids, &d->hids_cap, (size_t)rows, sizeof *d->hids));
        for (int64_t r = 0; r < rows; r++) {
            const double v = rnnc_tensor_get(yb, (size_t)r);
            if (!(v >= 0 && v < (double)cols) || v != floor(v))
                return rnnc_fail(RNNC_E_ARG, "%s: received a label value of %g at flat index %lld, which is outside the valid range of [0, %lld)",
                                 what, v, (long long)r, (long long)cols);
            d->hids[r] = (int32_t)v;
        }
        RNNC_TRY(sbuf_get(d, &d->yids, RNNC_I32, (size_t)rows, out));
        return d->be->upload(out, d->hids);
    }
    const size_t n = (size_t)(rows * cols);
    RNNC_TRY(host_grow((void **)&d->hy, &d->hy_cap, n, sizeof *d->hy));
    if (yb->dtype == RNNC_F32)
        memcpy(d->hy, yb->data, n * sizeof *d->hy);
    else
        for (size_t i = 0; i < n; i++)
            d->hy[i] = (float)rnnc_tensor_get(yb, i);
    RNNC_TRY(sbuf_get(d, &d->ytrue, RNNC_F32, n, out));
    return d->be->upload(out, d->hy);
}

/* How y fits y_pred (rows, cols) for a per-row function: ids (one per row:
 * y shaped as y_pred without the class axis, or with a trailing 1) or
 * values (y shaped as y_pred, or (N,) against (N, 1)). Keras's other
 * pairings (ranks squeezed against each other) reduce differently: refused. */
static rnnc_status target_fits(const rnnc_tensor *yb, const rnnc_shape *ps, bool ids, const char *what)
{
    char a[160], b[160];
    rnnc_shape ts = yb->shape;
    bool ok;
    if (ids) {
        if (ts.ndim == ps->ndim && ts.ndim > 0 && ts.dim[ts.ndim - 1] == 1)
            ts.ndim--;
        ok = ts.ndim == ps->ndim - 1;
        for (int i = 0; ok && i < ts.ndim; i++)
            ok = ts.dim[i] == ps->dim[i];
    } else {
        /* y (N,) against y_pred (N, 1): Keras (squeeze_or_expand_to_same_rank,
         * expand_rank_1) and the CPU path (rnnc_loss_match_ranks) expand y to
         * (N, 1), so every loss and metric value is the per-row one, with the
         * same row weights: the same values in the same order. */
        ok = rnnc_shape_eq(&ts, ps) ||
             (ts.ndim == 1 && ps->ndim == 2 && ps->dim[1] == 1 && ts.dim[0] == ps->dim[0]);
    }
    if (!ok)
        return rnnc_fail(ids ? RNNC_E_SHAPE : RNNC_E_UNSUPPORTED,
                         "%s: on the device y must have y_pred's shape%s; got y %s and y_pred %s", what,
                         ids ? " without the class axis" : "", rnnc_shape_str(&yb->shape, a, sizeof a),
                         rnnc_shape_str(ps, b, sizeof b));
    return RNNC_OK;
}

/* A batch's y_true on the device, as float32 values and / or int32 ids,
 * each uploaded once. */
typedef struct batch_targets {
    int64_t rows, cols;
    rnnc_bbuf f, i;
    bool have_f, have_i;
} batch_targets;

static rnnc_status targets(rnnc__dstep *d, batch_targets *t, const rnnc_tensor *yb, const rnnc_shape *ps, bool ids,
                           const char *what, const rnnc_bbuf **out)
{
    RNNC_TRY(target_fits(yb, ps, ids, what));
    bool *have = ids ? &t->have_i : &t->have_f;
    rnnc_bbuf *b = ids ? &t->i : &t->f;
    if (!*have)
        RNNC_TRY(upload_targets(d, yb, ids, t->rows, t->cols, what, b));
    *have = true;
    *out = b;
    return RNNC_OK;
}

/* What a crossentropy of kind k takes: y_pred, or (*logits true) the
 * output's logits when the loss is over probabilities (!from_logits) and
 * the output is a sigmoid's or a softmax's, whichever the loss (BCE over
 * a softmax takes its input as sigmoid logits, CCE/SCCE over a sigmoid
 * as softmax logits) -- the CPU path's rule (optim/losses.c logits_of,
 * Keras's _keras_logits on TensorFlow), so nothing is clipped there. */
static const rnnc_bbuf *loss_input(const rnnc__dstep *d, rnnc_bloss k, bool from_logits, const rnnc_bbuf *yp,
                                   bool *logits)
{
    rnnc_act act = RNNC_ACT_LINEAR;
    const rnnc_bbuf *z = rnnc_dmodel_logits(d->dm, &act);
    *logits = from_logits;
    if (from_logits || !z)
        return yp;
    if ((k == RNNC_BLOSS_BCE || k == RNNC_BLOSS_CCE || k == RNNC_BLOSS_SCCE) &&
        (act == RNNC_ACT_SIGMOID || act == RNNC_ACT_SOFTMAX)) {
        *logits = true;
        return z;
    }
    return yp;
}

/* Keras's choice for compile's "crossentropy" and "accuracy" (losses.c
 * auto_kind, metrics.c). */
static int auto_pick(const rnnc_tensor *yb, const rnnc_shape *ps)
{
    const int tr = yb->shape.ndim, pr = ps->ndim;
    const int64_t tl = tr ? yb->shape.dim[tr - 1] : 1, pl = pr ? ps->dim[pr - 1] : 1;
    if (pl == 1)
        return 0; /* binary */
    if (tr < pr || (tl == 1 && pl > 1))
        return 1; /* sparse */
    return 2;     /* categorical */
}

/* Per-row weights from the output mask and the sample weight, as
 * losses.c (loss) and metrics.c (metrics) merge them; NULL pointers when
 * every row weighs 1. B samples of rows / B rows each. */
typedef struct weights {
    const float *loss; /* the loss's: mask scaled for a masked mean, times sw */
    const float *met;  /* unweighted metrics: the mask */
    const float *wmet; /* weighted metrics: mask times sw */
    double divisor;    /* the reduction's */
    double met_count, wmet_count; /* the metrics' count increments */
} weights;

static rnnc_status row_weights(rnnc__dstep *d, const uint8_t *mask, const rnnc_tensor *swb, int64_t B,
                               int64_t rows, weights *w)
{
    char a[160];
    memset(w, 0, sizeof *w);
    const int64_t per = B ? rows / B : 1;
    if (swb && swb->numel != (size_t)rows && swb->numel != (size_t)B)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "sample_weight %s: on the device it must have one value per sample or per output step",
                         rnnc_shape_str(&swb->shape, a, sizeof a));
    if (mask && swb && swb->numel != (size_t)rows) /* as losses.c: rnnc_mul of (B,) and (B, T) */
        return rnnc_fail(RNNC_E_SHAPE, "loss: sample_weight and the mask do not combine: sample_weight %s and a mask of %lld entries",
                         rnnc_shape_str(&swb->shape, a, sizeof a), (long long)rows);
    RNNC_TRY(host_grow((void **)&d->hlw, &d->hw_cap, (size_t)rows * 3, sizeof *d->hlw));
    float *lw = d->hlw, *mw = d->hlw + rows, *ww = d->hlw + 2 * rows;
    const bool mean = d->red == RNNC_REDUCTION_SUM_OVER_BATCH_SIZE || d->red == RNNC_REDUCTION_MEAN;
    float mval = 1.0f;
    if (mask && mean) {
        int64_t valid = 0;
        for (int64_t r = 0; r < rows; r++)
            valid += mask[r] != 0;
        mval = valid ? (float)rows / (float)valid : 0.0f;
    }
    double lsum = 0, msum = 0, wsum = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float sw = swb ? (float)rnnc_tensor_get(swb, swb->numel == (size_t)rows ? (size_t)r : (size_t)(r / per)) : 1.0f;
        const bool keep = !mask || mask[r];
        lw[r] = mask ? (keep ? mval : 0.0f) * sw : sw;
        mw[r] = keep ? 1.0f : 0.0f;
        ww[r] = keep ? sw : 0.0f;
        lsum += lw[r];
        msum += mw[r];
        wsum += ww[r];
    }
    if (mask || swb)
        w->loss = lw;
    if (mask)
        w->met = mw;
    if (mask || swb)
        w->wmet = ww;
    /* the metrics: per sample the mean over its rows of value * weight */
    w->met_count = mask ? msum / (double)per : (double)B;
    w->wmet_count = mask || swb ? wsum / (double)per : (double)B;
    if (d->red == RNNC_REDUCTION_SUM)
        w->divisor = 1;
    else if (d->red == RNNC_REDUCTION_MEAN_WITH_SAMPLE_WEIGHT && (mask || swb))
        w->divisor = (double)(float)lsum;
    else
        w->divisor = (double)rows;
    return RNNC_OK;
}

/* scalars[slot] = sum over rows of values * weight (weight NULL: 1). */
static rnnc_status weighted_sum(rnnc__dstep *d, int64_t rows, const rnnc_bbuf *values, const float *hw,
                                sbuf *wbuf, const rnnc_bbuf *scalars, int slot)
{
    rnnc_bbuf out = rnnc_bbuf_slice(scalars, (size_t)slot, 1);
    const rnnc_bbuf *v = values;
    rnnc_bbuf wv, prod;
    if (hw) {
        RNNC_TRY(sbuf_get(d, wbuf, RNNC_F32, (size_t)rows, &wv));
        RNNC_TRY(d->be->upload(&wv, hw));
        RNNC_TRY(sbuf_get(d, &d->work, RNNC_F32, (size_t)rows, &prod));
        RNNC_TRY(d->be->binary(RNNC_BIN_MUL, values, &wv, &prod));
        v = &prod;
    }
    return d->be->reduce(RNNC_RED_SUM, 1, rows, 1, v, &out);
}

rnnc_status rnnc__dstep_run(rnnc__dstep *d, const rnnc_tensor *xb, const rnnc_tensor *yb, const rnnc_tensor *swb,
                            bool train)
{
    const rnnc_backend_ops *be = d->be;
    if (!d->compiled)
        return rnnc_fail(RNNC_E_STATE, "device step: the trainer is not compiled");
    if (train) {
        RNNC_TRY(rnnc__dstep_check_train(d));
        RNNC_TRY(rnnc_dmodel_zero_grad(d->dm));
    }
    const rnnc_bbuf *yp;
    rnnc_shape ps;
    const uint8_t *mask;
    RNNC_TRY(rnnc_dmodel_forward(d->dm, xb, train, &yp, &ps, &mask));
    if (ps.ndim < 1)
        return rnnc_fail(RNNC_E_SHAPE, "device step: the model output has no batch axis");
    const int64_t B = ps.dim[0], cols = ps.ndim > 1 ? ps.dim[ps.ndim - 1] : 1;
    const int64_t rows = cols ? (int64_t)yp->n / cols : 0;
    const int64_t per = B ? rows / B : 1;
    const char *lname = rnnc_loss_name(d->c.loss);

    /* the loss */
    rnnc_bloss lk = d->lkind;
    if (d->lauto) {
        const int p = auto_pick(yb, &ps);
        lk = p == 0 ? RNNC_BLOSS_BCE : p == 1 ? RNNC_BLOSS_SCCE : RNNC_BLOSS_CCE;
    }
    char what[300];
    snprintf(what, sizeof what, "loss '%s'", lname);
    weights w;
    RNNC_TRY(row_weights(d, mask, swb, B, rows, &w));
    batch_targets tg = {rows, cols, {0}, {0}, false, false};
    rnnc_bbuf values, grad, scalars, lwv;
    const rnnc_bbuf *yt;
    RNNC_TRY(targets(d, &tg, yb, &ps, lk == RNNC_BLOSS_SCCE, what, &yt));
    const int ns = 1 + d->n_mets;
    RNNC_TRY(sbuf_get(d, &d->scalars, RNNC_F32, (size_t)ns, &scalars));
    RNNC_TRY(sbuf_get(d, &d->values, RNNC_F32, (size_t)rows, &values));
    if (train)
        RNNC_TRY(sbuf_get(d, &d->grad, RNNC_F32, yp->n, &grad));
    bool lz;
    const rnnc_bbuf *lin = loss_input(d, lk, d->from_logits, yp, &lz);
    RNNC_TRY(be->loss(lk, lz, rows, cols, yt, lin, &values, train ? &grad : NULL, 1.0f));
    RNNC_TRY(weighted_sum(d, rows, &values, w.loss, &d->lw, &scalars, 0));
    const float inv = w.divisor != 0 ? (float)(1.0 / w.divisor) : 0.0f;
    if (d->red != RNNC_REDUCTION_SUM) {
        rnnc_bbuf s0 = rnnc_bbuf_slice(&scalars, 0, 1);
        RNNC_TRY(be->scale_rows(1, 1, NULL, inv, &s0, &s0));
    }
    if (train) {
        /* d total / d y_pred = weight[r] / divisor * d value[r] / d y_pred */
        const rnnc_bbuf *wb = NULL;
        if (w.loss) {
            RNNC_TRY(sbuf_get(d, &d->lw, RNNC_F32, (size_t)rows, &lwv));
            wb = &lwv; /* uploaded by weighted_sum */
        }
        RNNC_TRY(be->scale_rows(rows, cols, wb, d->red == RNNC_REDUCTION_SUM ? 1.0f : inv, &grad, &grad));
        /* the loss's gradient is with respect to its input */
        RNNC_TRY(lin != yp ? rnnc_dmodel_backward_logits(d->dm, &grad) : rnnc_dmodel_backward(d->dm, &grad));
    }

    /* the metrics (before the update: y_pred is this step's) */
    for (int i = 0; i < d->n_mets; i++) {
        dmetric *m = &d->mets[i];
        const float *mw = m->weighted ? w.wmet : w.met;
        snprintf(what, sizeof what, "metric '%s'", rnnc_metric_name(m->m));
        rnnc_bmetric k = m->kind;
        if (m->kind_auto) {
            const int p = auto_pick(yb, &ps);
            k = p == 0 ? RNNC_BMETRIC_BINARY_ACCURACY
                : p == 1 ? RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY
                         : RNNC_BMETRIC_CATEGORICAL_ACCURACY;
        }
        const bool ids = m->is_loss ? m->loss == RNNC_BLOSS_SCCE : k == RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY;
        const rnnc_bbuf *mt;
        RNNC_TRY(targets(d, &tg, yb, &ps, ids, what, &mt));
        if (m->is_loss) {
            bool mz;
            const rnnc_bbuf *min = loss_input(d, m->loss, false, yp, &mz);
            RNNC_TRY(be->loss(m->loss, mz, rows, cols, mt, min, &values, NULL, 1.0f));
        } else {
            RNNC_TRY(be->metric(k, (float)rnnc_metric_threshold(m->m), rows, cols, mt, yp, &values));
        }
        RNNC_TRY(weighted_sum(d, rows, &values, mw, &d->mw, &scalars, 1 + i));
    }
    if (train)
        RNNC_TRY(apply_update(d));

    /* the one download of the step */
    RNNC_TRY(host_grow((void **)&d->hsc, &d->hsc_cap, (size_t)ns, sizeof *d->hsc));
    RNNC_TRY(be->download(d->hsc, &scalars));
    rnnc_metric_update_scalar(d->c.loss_tracker, (double)d->hsc[0], (double)B);
    for (int i = 0; i < d->n_mets; i++) {
        double t, c;
        rnnc_metric_state(d->mets[i].m, &t, &c);
        rnnc_metric_set_state(d->mets[i].m, t + (double)d->hsc[1 + i] / (double)per,
                              c + (d->mets[i].weighted ? w.wmet_count : w.met_count));
    }
    return RNNC_OK;
}

rnnc_status rnnc__dstep_predict(rnnc__dstep *d, const rnnc_tensor *xb, rnnc_tensor **out)
{
    const rnnc_bbuf *yp;
    rnnc_shape ps;
    const uint8_t *mask;
    *out = NULL;
    RNNC_TRY(rnnc_dmodel_forward(d->dm, xb, false, &yp, &ps, &mask));
    RNNC_TRY(rnnc_tensor_create(RNNC_F32, &ps, out));
    rnnc_status s = d->be->download((*out)->data, yp);
    if (s) {
        rnnc_tensor_destroy(*out);
        *out = NULL;
    }
    return s;
}
