/* trainer.c - compile, the train/test steps, fit / evaluate / predict /
 * train_on_batch, logs and History (trainer.h), and the progress callback
 * fit adds (the display it draws is progress.c's). The other built-in
 * callbacks are in callbacks.c. */
#include "optim/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "framework/random.h"
#include "framework/rnn.h"
#include "optim/callback_internal.h"
#include "optim/device_step_internal.h"
#include "optim/progress_internal.h"
#include "optim/trainer_dist_internal.h"

struct rnnc_trainer {
    rnnc_model *model;
    rnnc_optimizer *opt;
    rnnc_loss *loss;
    rnnc_metric **metrics, **wmetrics;
    int n_metrics, n_wmetrics;
    rnnc_metric *loss_tracker;
    rnnc_ctx *cx;
    bool compiled, stop;
    rnnc_print_fn print;
    void *print_user;
    int fit_epochs;
    int64_t fit_steps;
    bool interrupted;         /* the last fit ended by stop_requested */
    int interrupted_epoch;
    int64_t interrupted_batch;
    /* data-parallel training (trainer_dist.c): comm borrowed, NULL or one
     * rank = one process as before */
    rnnc_comm *comm;
    rnnc__dist_grads *dist;
    size_t bucket_bytes;
    int collective_forward;   /* the model's training forward joins collectives
                               * (rnnc__dist_model_collective): 1 / 0, -1 not known yet */
    const rnnc_row_source *src; /* the training rows during rnnc_trainer_fit_source */
    /* rnnc_trainer_set_device: the backend of the device step, and the
     * step (made by device_ready; remade after compile) */
    const rnnc_backend_ops *dev;
    bool dev_inference; /* rnnc_trainer_set_device_inference */
    rnnc__dstep *dstep;
};

/* Whether steps are split over more than one rank. */
static bool distributed(const rnnc_trainer *tr) { return tr->comm && rnnc_comm_size(tr->comm) > 1; }

/* ---- logs ------------------------------------------------------------------- */

const double *rnnc_logs_get(const rnnc_logs *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return &l->values[i];
    return NULL;
}

rnnc_status rnnc_logs_set(rnnc_logs *l, const char *name, double v)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) {
            l->values[i] = v;
            return RNNC_OK;
        }
    if (l->n >= RNNC_LOGS_MAX || strlen(name) >= RNNC_LOG_NAME_MAX)
        return rnnc_fail(RNNC_E_ARG, "logs: cannot add '%s' (at most %d entries of %d characters)", name,
                         RNNC_LOGS_MAX, RNNC_LOG_NAME_MAX - 1);
    strcpy(l->names[l->n], name);
    l->values[l->n++] = v;
    return RNNC_OK;
}

void rnnc_callback_destroy(rnnc_callback *cb)
{
    if (cb && cb->destroy)
        cb->destroy(cb);
}

rnnc_status rnnc__callback_create(const char *cls, size_t state_size, rnnc_callback **out)
{
    *out = NULL;
    rnnc_callback *cb = calloc(1, sizeof *cb);
    void *state = state_size ? calloc(1, state_size) : NULL;
    if (!cb || (state_size && !state)) {
        free(cb);
        free(state);
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory", cls);
    }
    cb->user = state;
    cb->destroy = rnnc__callback_destroy_state;
    *out = cb;
    return RNNC_OK;
}

void rnnc__callback_destroy_state(rnnc_callback *cb)
{
    free(cb->user);
    free(cb);
}

/* ---- history ---------------------------------------------------------------- */

struct rnnc_history {
    int n_keys, n_epochs, cap;
    char keys[RNNC_LOGS_MAX][RNNC_LOG_NAME_MAX];
    double *values[RNNC_LOGS_MAX]; /* cap entries each */
    int *epochs;
};

void rnnc_history_destroy(rnnc_history *h)
{
    if (!h)
        return;
    for (int k = 0; k < h->n_keys; k++)
        free(h->values[k]);
    free(h->epochs);
    free(h);
}

int rnnc_history_n_epochs(const rnnc_history *h) { return h->n_epochs; }
int rnnc_history_n_keys(const rnnc_history *h) { return h->n_keys; }
const char *rnnc_history_key(const rnnc_history *h, int i) { return i >= 0 && i < h->n_keys ? h->keys[i] : NULL; }
const int *rnnc_history_epochs(const rnnc_history *h) { return h->epochs; }

const double *rnnc_history_get(const rnnc_history *h, const char *key)
{
    for (int k = 0; k < h->n_keys; k++)
        if (strcmp(h->keys[k], key) == 0)
            return h->values[k];
    return NULL;
}

static rnnc_status history_add(rnnc_history *h, int epoch, const rnnc_logs *logs)
{
    if (h->n_epochs == h->cap) {
        int ncap = h->cap ? 2 * h->cap : 16;
        int *e = realloc(h->epochs, (size_t)ncap * sizeof *e);
        if (!e)
            return rnnc_fail(RNNC_E_NOMEM, "history: out of memory");
        h->epochs = e;
        for (int k = 0; k < h->n_keys; k++) {
            double *v = realloc(h->values[k], (size_t)ncap * sizeof *v);
            if (!v)
                return rnnc_fail(RNNC_E_NOMEM, "history: out of memory");
            h->values[k] = v;
        }
        h->cap = ncap;
    }
    for (int i = 0; i < logs->n; i++) {
        int k = 0;
        while (k < h->n_keys && strcmp(h->keys[k], logs->names[i]) != 0)
            k++;
        if (k == h->n_keys) {
            if (h->n_keys == RNNC_LOGS_MAX)
                continue;
            double *v = malloc((size_t)h->cap * sizeof *v);
            if (!v)
                return rnnc_fail(RNNC_E_NOMEM, "history: out of memory");
            for (int e = 0; e < h->n_epochs; e++)
                v[e] = NAN;
            strcpy(h->keys[k], logs->names[i]);
            h->values[k] = v;
            h->n_keys++;
        }
    }
    for (int k = 0; k < h->n_keys; k++) {
        const double *v = rnnc_logs_get(logs, h->keys[k]);
        h->values[k][h->n_epochs] = v ? *v : NAN;
    }
    h->epochs[h->n_epochs++] = epoch;
    return RNNC_OK;
}

/* ---- trainer ---------------------------------------------------------------- */

rnnc_status rnnc_trainer_create(rnnc_model *model, rnnc_trainer **out)
{
    *out = NULL;
    if (!model)
        return rnnc_fail(RNNC_E_ARG, "trainer: model is NULL");
    rnnc_trainer *tr = calloc(1, sizeof *tr);
    if (!tr || !(tr->cx = rnnc_ctx_create())) {
        free(tr);
        return rnnc_fail(RNNC_E_NOMEM, "trainer: out of memory");
    }
    tr->model = model;
    tr->collective_forward = -1;
    *out = tr;
    return RNNC_OK;
}

static void free_compiled(rnnc_trainer *tr)
{
    rnnc__dstep_destroy(tr->dstep);
    tr->dstep = NULL;
    rnnc_optimizer_destroy(tr->opt);
    rnnc_loss_destroy(tr->loss);
    for (int i = 0; i < tr->n_metrics; i++)
        rnnc_metric_destroy(tr->metrics[i]);
    for (int i = 0; i < tr->n_wmetrics; i++)
        rnnc_metric_destroy(tr->wmetrics[i]);
    free(tr->metrics);
    free(tr->wmetrics);
    rnnc_metric_destroy(tr->loss_tracker);
    tr->opt = NULL;
    tr->loss = NULL;
    tr->metrics = tr->wmetrics = NULL;
    tr->n_metrics = tr->n_wmetrics = 0;
    tr->loss_tracker = NULL;
    tr->compiled = false;
}

void rnnc_trainer_destroy(rnnc_trainer *tr)
{
    if (!tr)
        return;
    free_compiled(tr);
    rnnc__dist_grads_destroy(tr->dist);
    rnnc_ctx_destroy(tr->cx);
    free(tr);
}

rnnc_model *rnnc_trainer_model(rnnc_trainer *tr) { return tr->model; }

/* The device step of tr->dev, made once per compile (its checks refuse
 * what it cannot run exactly). */
static rnnc_status device_ready(rnnc_trainer *tr)
{
    if (tr->dstep)
        return RNNC_OK;
    if (distributed(tr))
        return rnnc_fail(RNNC_E_UNSUPPORTED, "data-parallel training (%d ranks) has no device implementation",
                         rnnc_comm_size(tr->comm));
    const rnnc__dstep_compiled c = {tr->opt,         tr->compiled ? tr->loss : NULL,
                                    tr->metrics,     tr->n_metrics,
                                    tr->wmetrics,    tr->n_wmetrics,
                                    tr->loss_tracker,
                                    tr->dev_inference};
    return rnnc__dstep_create(tr->model, tr->dev, &c, &tr->dstep);
}

static rnnc_status set_device(rnnc_trainer *tr, const rnnc_backend_ops *be, bool inference)
{
    if (!tr)
        return rnnc_fail(RNNC_E_ARG, "trainer: NULL trainer");
    rnnc__dstep_destroy(tr->dstep);
    tr->dstep = NULL;
    tr->dev = be;
    tr->dev_inference = inference;
    rnnc_status s = be ? device_ready(tr) : RNNC_OK;
    if (s)
        tr->dev = NULL;
    return s;
}

rnnc_status rnnc_trainer_set_device(rnnc_trainer *tr, const rnnc_backend_ops *be)
{
    return set_device(tr, be, false);
}

rnnc_status rnnc_trainer_set_device_inference(rnnc_trainer *tr, const rnnc_backend_ops *be)
{
    return set_device(tr, be, true);
}

static rnnc_status trainable_weights(rnnc_model *m, rnnc_weight ***out, int *n);

/* At the start of a call on the device: the step made, the host weights
 * uploaded and, when training, the optimizer built (as its first apply
 * builds it) and its slots uploaded. */
static rnnc_status device_begin(rnnc_trainer *tr, bool train)
{
    if (!tr->dev)
        return RNNC_OK;
    RNNC_TRY(device_ready(tr));
    if (train && tr->compiled)
        RNNC_TRY(rnnc__dstep_check_train(tr->dstep)); /* before the optimizer is built */
    if (train && tr->compiled && !rnnc_optimizer_built(tr->opt)) {
        rnnc_weight **w;
        int nw;
        RNNC_TRY(trainable_weights(tr->model, &w, &nw));
        rnnc_status s = nw > 0 ? rnnc_optimizer_build(tr->opt, w, nw) : RNNC_OK;
        free(w);
        RNNC_TRY(s);
    }
    return rnnc__dstep_upload(tr->dstep, train);
}

rnnc_status rnnc_trainer_set_comm(rnnc_trainer *tr, rnnc_comm *comm)
{
    if (!tr)
        return rnnc_fail(RNNC_E_ARG, "trainer: NULL trainer");
    tr->comm = comm;
    rnnc_ctx_set_comm(tr->cx, comm);
    tr->collective_forward = -1;
    rnnc__dstep_destroy(tr->dstep); /* remade (and checked) by the next call */
    tr->dstep = NULL;
    rnnc__dist_grads_destroy(tr->dist);
    tr->dist = NULL;
    return RNNC_OK;
}

rnnc_comm *rnnc_trainer_comm(const rnnc_trainer *tr) { return tr->comm; }

void rnnc_trainer_set_bucket_bytes(rnnc_trainer *tr, size_t bytes)
{
    tr->bucket_bytes = bytes;
    rnnc__dist_grads_destroy(tr->dist);
    tr->dist = NULL;
}

int rnnc_trainer_gradient_buckets(const rnnc_trainer *tr) { return rnnc__dist_grads_buckets(tr->dist); }
rnnc_optimizer *rnnc_trainer_optimizer(rnnc_trainer *tr) { return tr->opt; }
void rnnc_trainer_stop(rnnc_trainer *tr) { tr->stop = true; }
bool rnnc_trainer_stopping(const rnnc_trainer *tr) { return tr->stop; }

bool rnnc_trainer_interrupted(const rnnc_trainer *tr, int *epoch, int64_t *batches_done)
{
    if (epoch)
        *epoch = tr->interrupted ? tr->interrupted_epoch : 0;
    if (batches_done)
        *batches_done = tr->interrupted ? tr->interrupted_batch : 0;
    return tr->interrupted;
}

/* The running metrics in a fixed order: the loss tracker, metrics, weighted metrics. */
static int running_metrics(const rnnc_trainer *tr, rnnc_metric **out, int cap)
{
    int n = 0;
    if (n < cap && tr->loss_tracker)
        out[n++] = tr->loss_tracker;
    for (int i = 0; i < tr->n_metrics && n < cap; i++)
        out[n++] = tr->metrics[i];
    for (int i = 0; i < tr->n_wmetrics && n < cap; i++)
        out[n++] = tr->wmetrics[i];
    return n;
}

rnnc_status rnnc_trainer_metric_state(const rnnc_trainer *tr, double *out, int cap, int *n)
{
    rnnc_metric *ms[2 * RNNC_LOGS_MAX + 1];
    const int k = running_metrics(tr, ms, 2 * RNNC_LOGS_MAX + 1);
    *n = 2 * k;
    if (cap < 2 * k)
        return rnnc_fail(RNNC_E_ARG, "metric state: %d values do not fit in %d", 2 * k, cap);
    for (int i = 0; i < k; i++)
        rnnc_metric_state(ms[i], &out[2 * i], &out[2 * i + 1]);
    return RNNC_OK;
}

rnnc_status rnnc_trainer_set_metric_state(rnnc_trainer *tr, const double *v, int n)
{
    rnnc_metric *ms[2 * RNNC_LOGS_MAX + 1];
    const int k = running_metrics(tr, ms, 2 * RNNC_LOGS_MAX + 1);
    if (n != 2 * k)
        return rnnc_fail(RNNC_E_ARG, "metric state: %d values given, the compiled loss and metrics hold %d", n,
                         2 * k);
    for (int i = 0; i < k; i++)
        rnnc_metric_set_state(ms[i], v[2 * i], v[2 * i + 1]);
    return RNNC_OK;
}
int rnnc_trainer_fit_epochs(const rnnc_trainer *tr) { return tr->fit_epochs; }
int64_t rnnc_trainer_fit_steps(const rnnc_trainer *tr) { return tr->fit_steps; }

void rnnc_trainer_print(rnnc_trainer *tr, const char *text)
{
    if (tr && rnnc_comm_rank(tr->comm) != 0)
        return; /* rank 0 alone prints */
    if (tr && tr->print) {
        tr->print(tr->print_user, text);
    } else {
        fputs(text, stdout);
        fflush(stdout);
    }
}

/* ---- ProgbarLogger: feeds progress.c's display with fit's state --------- */

typedef struct progress {
    rnnc__progbar bar;
    rnnc_print_fn print; /* NULL: rnnc_trainer_print */
    void *user;
} progress;

static void progress_out(const progress *p, rnnc_trainer *tr, const char *text)
{
    if (p->print)
        p->print(p->user, text);
    else
        rnnc_trainer_print(tr, text);
}

static rnnc_status progress_epoch_begin(rnnc_callback *cb, rnnc_trainer *tr, int epoch)
{
    progress *p = cb->user;
    char msg[64];
    rnnc__progbar_epoch_begin(&p->bar, epoch, tr->fit_epochs, msg, sizeof msg);
    progress_out(p, tr, msg);
    return RNNC_OK;
}

static rnnc_status progress_batch_end(rnnc_callback *cb, rnnc_trainer *tr, int step, const rnnc_logs *logs)
{
    progress *p = cb->user;
    rnnc__progbar_batch_end(&p->bar, step);
    if (p->bar.live && step + 1 < tr->fit_steps) {
        char line[2048];
        rnnc__progbar_draw(&p->bar, step + 1, tr->fit_steps, logs, false, line, sizeof line);
        progress_out(p, tr, line);
    }
    return RNNC_OK;
}

static rnnc_status progress_epoch_end(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs)
{
    (void)epoch;
    progress *p = cb->user;
    char line[2048];
    rnnc__progbar_draw(&p->bar, tr->fit_steps, tr->fit_steps, logs, true, line, sizeof line);
    progress_out(p, tr, line);
    return RNNC_OK;
}

rnnc_status rnnc_progress_create(bool live, rnnc_print_fn print, void *user, rnnc_callback **outp)
{
    RNNC_TRY(rnnc__callback_create("progress", sizeof(progress), outp));
    progress *p = (*outp)->user;
    p->bar.live = live;
    p->print = print;
    p->user = user;
    (*outp)->on_epoch_begin = progress_epoch_begin;
    (*outp)->on_train_batch_end = progress_batch_end;
    (*outp)->on_epoch_end = progress_epoch_end;
    return RNNC_OK;
}

int rnnc_trainer_log_direction(const rnnc_trainer *tr, const char *name)
{
    const char *base = strncmp(name, "val_", 4) == 0 ? name + 4 : name;
    if (strcmp(base, "loss") == 0)
        return -1;
    for (int i = 0; i < tr->n_metrics; i++)
        if (strcmp(rnnc_metric_name(tr->metrics[i]), base) == 0)
            return rnnc_metric_direction(tr->metrics[i]);
    for (int i = 0; i < tr->n_wmetrics; i++)
        if (strcmp(rnnc_metric_name(tr->wmetrics[i]), base) == 0)
            return rnnc_metric_direction(tr->wmetrics[i]);
    return 0;
}

#define RNNC_METRIC_NAME_CAP 256

/* Index of name among the first n seen names, or -1. */
static int find_name(char (*seen)[RNNC_METRIC_NAME_CAP], int n, const char *name)
{
    for (int j = 0; j < n; j++)
        if (strcmp(seen[j], name) == 0)
            return j;
    return -1;
}

/* Keras's CompileMetrics result names: a metric name seen before gets
 * _1, _2, ...; a weighted metric whose name is taken is reported as
 * weighted_<name> (then weighted_<name>_1, ...). So metrics=[mae] with
 * weighted_metrics=[mae] log "mae" and "weighted_mae". */
static rnnc_status keras_metric_names(rnnc_trainer *tr)
{
    const int n = tr->n_metrics + tr->n_wmetrics;
    char (*seen)[RNNC_METRIC_NAME_CAP] = calloc((size_t)n + 1, sizeof *seen); /* unique_name_counters */
    int *uses = calloc((size_t)n + 1, sizeof *uses);
    int ns = 0;
    rnnc_status s = RNNC_OK;
    if (!seen || !uses)
        s = rnnc_fail(RNNC_E_NOMEM, "compile: out of memory");
    for (int i = 0; i < n && !s; i++) {
        const bool weighted = i >= tr->n_metrics;
        rnnc_metric *m = weighted ? tr->wmetrics[i - tr->n_metrics] : tr->metrics[i];
        char name[RNNC_METRIC_NAME_CAP];
        snprintf(name, sizeof name, "%s", rnnc_metric_name(m));
        int k = find_name(seen, ns, name);
        if (k >= 0 && weighted) {
            snprintf(name, sizeof name, "weighted_%s", rnnc_metric_name(m));
            k = find_name(seen, ns, name);
        }
        if (k < 0) {
            snprintf(seen[ns], sizeof seen[ns], "%s", name);
            uses[ns++] = 1;
        } else {
            char base[RNNC_METRIC_NAME_CAP];
            snprintf(base, sizeof base, "%s", name);
            snprintf(name, sizeof name, "%.*s_%d", RNNC_METRIC_NAME_CAP - 16, base, uses[k]++);
        }
        if (strcmp(name, rnnc_metric_name(m)) != 0)
            s = rnnc_metric_set_name(m, name);
    }
    free(seen);
    free(uses);
    return s;
}

rnnc_status rnnc_trainer_compile(rnnc_trainer *tr, rnnc_optimizer *opt, rnnc_loss *loss,
                                 rnnc_metric **metrics, int n_metrics, rnnc_metric **weighted,
                                 int n_weighted)
{
    rnnc_status s = RNNC_OK;
    free_compiled(tr);
    tr->opt = opt;
    tr->loss = loss;
    tr->metrics = calloc((size_t)n_metrics + 1, sizeof *tr->metrics);
    tr->wmetrics = calloc((size_t)n_weighted + 1, sizeof *tr->wmetrics);
    if (!tr->metrics || !tr->wmetrics) {
        s = rnnc_fail(RNNC_E_NOMEM, "compile: out of memory");
        for (int i = 0; i < n_metrics; i++)
            rnnc_metric_destroy(metrics[i]);
        for (int i = 0; i < n_weighted; i++)
            rnnc_metric_destroy(weighted[i]);
        goto fail;
    }
    for (int i = 0; i < n_metrics; i++)
        tr->metrics[tr->n_metrics++] = metrics[i];
    for (int i = 0; i < n_weighted; i++)
        tr->wmetrics[tr->n_wmetrics++] = weighted[i];
    if (!loss) {
        s = rnnc_fail(RNNC_E_ARG, "compile: no loss to compute; provide a `loss` argument");
        goto fail;
    }
    for (int i = 0; i < tr->n_metrics + tr->n_wmetrics; i++) {
        rnnc_metric *a = i < tr->n_metrics ? tr->metrics[i] : tr->wmetrics[i - tr->n_metrics];
        if (!a) {
            s = rnnc_fail(RNNC_E_ARG, "compile: metric %d is NULL", i);
            goto fail;
        }
        if (strcmp(rnnc_metric_name(a), "loss") == 0) {
            s = rnnc_fail(RNNC_E_ARG, "compile: a metric may not be named 'loss'");
            goto fail;
        }
    }
    if ((s = keras_metric_names(tr)))
        goto fail;
    for (int i = 0; i < tr->n_metrics + tr->n_wmetrics; i++) {
        rnnc_metric *a = i < tr->n_metrics ? tr->metrics[i] : tr->wmetrics[i - tr->n_metrics];
        for (int j = 0; j < i; j++) {
            rnnc_metric *b = j < tr->n_metrics ? tr->metrics[j] : tr->wmetrics[j - tr->n_metrics];
            if (strcmp(rnnc_metric_name(a), rnnc_metric_name(b)) == 0) {
                s = rnnc_fail(RNNC_E_ARG, "compile: two metrics are named '%s'; metric names must be unique",
                              rnnc_metric_name(a));
                goto fail;
            }
        }
    }
    if (!tr->opt && (s = rnnc_optimizer_create(RNNC_OPTIMIZER_RMSPROP, NULL, &tr->opt)))
        goto fail;
    if ((s = rnnc_metric_create(RNNC_METRIC_MEAN, "loss", &tr->loss_tracker)))
        goto fail;
    tr->compiled = true;
    return RNNC_OK;
fail:
    free_compiled(tr);
    return s;
}

static rnnc_status metric_list(const rnnc_cfg *c, const char *what, rnnc_metric ***out, int *n)
{
    char where[256];
    *out = NULL;
    *n = 0;
    if (!c || c->type == RNNC_CFG_NULL)
        return RNNC_OK;
    const rnnc_cfg *one = c;
    size_t count = 1;
    if (c->type == RNNC_CFG_LIST)
        count = c->n;
    rnnc_metric **ms = calloc(count + 1, sizeof *ms);
    if (!ms)
        return rnnc_fail(RNNC_E_NOMEM, "compile: out of memory");
    for (size_t i = 0; i < count; i++) {
        one = c->type == RNNC_CFG_LIST ? c->items[i] : c;
        rnnc_status s;
        if (one->type == RNNC_CFG_MAP) { /* a Keras metric object */
            snprintf(where, sizeof where, "%s[%zu]", what, i);
            s = rnnc_metric_from_config(one, where, &ms[i]);
        } else if (one->type != RNNC_CFG_STRING) {
            s = rnnc_fail(RNNC_E_ARG, "%s[%zu]: expected a metric name or a Keras metric config {class_name, config}, got %s%s",
                          what, i, rnnc_cfg_type_name(one->type), rnnc_cfg_where(one, where, sizeof where));
        } else if ((s = rnnc_metric_from_name(one->v.s, &ms[i]))) {
            s = rnnc_fail_context(s, "%s: ", what);
        }
        if (s != RNNC_OK) {
            for (size_t j = 0; j < i; j++)
                rnnc_metric_destroy(ms[j]);
            free(ms);
            return s;
        }
    }
    *out = ms;
    *n = (int)count;
    return RNNC_OK;
}

rnnc_status rnnc_trainer_compile_config(rnnc_trainer *tr, const rnnc_cfg *optimizer,
                                        const rnnc_cfg *loss, const rnnc_cfg *metrics,
                                        const rnnc_cfg *weighted_metrics)
{
    rnnc_optimizer *opt = NULL;
    rnnc_loss *l = NULL;
    rnnc_metric **m = NULL, **w = NULL;
    int nm = 0, nw = 0;
    rnnc_status s = RNNC_OK;
    if (optimizer && optimizer->type != RNNC_CFG_NULL)
        s = rnnc_optimizer_from_config(optimizer, "compile.optimizer", &opt);
    if (!s && (!loss || loss->type == RNNC_CFG_NULL))
        s = rnnc_fail(RNNC_E_ARG, "compile.loss: no loss to compute; provide a `loss` argument");
    if (!s)
        s = rnnc_loss_from_config(loss, "compile.loss", &l);
    if (!s)
        s = metric_list(metrics, "compile.metrics", &m, &nm);
    if (!s)
        s = metric_list(weighted_metrics, "compile.weighted_metrics", &w, &nw);
    if (s) {
        rnnc_optimizer_destroy(opt);
        rnnc_loss_destroy(l);
        for (int i = 0; i < nm; i++)
            rnnc_metric_destroy(m[i]);
        free(m);
        return s;
    }
    s = rnnc_trainer_compile(tr, opt, l, m, nm, w, nw);
    free(m);
    free(w);
    return s;
}

/* ---- data --------------------------------------------------------------------- */

/* Rows idx[0..n) of src (rows = first axis) as a new ctx-owned tensor. */
static rnnc_status gather_rows(rnnc_ctx *cx, const rnnc_tensor *src, const int64_t *idx, int64_t n,
                               rnnc_tensor **out)
{
    rnnc_shape s = src->shape;
    s.dim[0] = n;
    RNNC_TRY(rnnc_ctx_tensor(cx, src->dtype, &s, out));
    const size_t row = src->shape.dim[0] ? src->numel / (size_t)src->shape.dim[0] : 0;
    const size_t es = rnnc_dtype_size(src->dtype);
    for (int64_t i = 0; i < n; i++)
        memcpy((char *)(*out)->data + (size_t)i * row * es, (const char *)src->data + (size_t)idx[i] * row * es,
               row * es);
    return RNNC_OK;
}

/* A caller-owned copy of rows [a, b). */
static rnnc_status slice_rows(const rnnc_tensor *src, int64_t a, int64_t b, rnnc_tensor **out)
{
    rnnc_shape s = src->shape;
    s.dim[0] = b - a;
    const size_t row = src->shape.dim[0] ? src->numel / (size_t)src->shape.dim[0] : 0;
    return rnnc_tensor_from(src->dtype, &s, (const char *)src->data + (size_t)a * row * rnnc_dtype_size(src->dtype),
                            out);
}

static rnnc_status check_data(const char *what, const rnnc_tensor *x, const rnnc_tensor *y,
                              const rnnc_tensor *sw)
{
    char a[160], b[160];
    if (!x)
        return rnnc_fail(RNNC_E_ARG, "%s: x is NULL", what);
    if (x->shape.ndim < 1)
        return rnnc_fail(RNNC_E_SHAPE, "%s: x must have a batch axis, got a scalar", what);
    if (y && (y->shape.ndim < 1 || y->shape.dim[0] != x->shape.dim[0]))
        return rnnc_fail(RNNC_E_SHAPE, "%s: x and y must have the same number of samples, got x %s and y %s",
                         what, rnnc_shape_str(&x->shape, a, sizeof a), rnnc_shape_str(&y->shape, b, sizeof b));
    if (sw && (sw->shape.ndim < 1 || sw->shape.dim[0] != x->shape.dim[0]))
        return rnnc_fail(RNNC_E_SHAPE, "%s: sample_weight %s must have one entry per sample (x is %s)", what,
                         rnnc_shape_str(&sw->shape, a, sizeof a), rnnc_shape_str(&x->shape, b, sizeof b));
    if (x->dtype != RNNC_F32 && x->dtype != RNNC_F64 && x->dtype != RNNC_I32)
        return rnnc_fail(RNNC_E_DTYPE, "%s: x must be float32, float64 or int32 (token ids), got %s", what,
                         rnnc_dtype_name(x->dtype));
    return RNNC_OK;
}

/* ---- steps ---------------------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keras's get_metrics_result: loss and metric results, sorted by name. */
static rnnc_status results(const rnnc_trainer *tr, const char *prefix, rnnc_logs *logs)
{
    const char *names[RNNC_LOGS_MAX];
    const rnnc_metric *ms[RNNC_LOGS_MAX];
    int n = 0;
    ms[n] = tr->loss_tracker;
    names[n++] = rnnc_metric_name(tr->loss_tracker);
    for (int i = 0; i < tr->n_metrics && n < RNNC_LOGS_MAX; i++, n++) {
        ms[n] = tr->metrics[i];
        names[n] = rnnc_metric_name(tr->metrics[i]);
    }
    for (int i = 0; i < tr->n_wmetrics && n < RNNC_LOGS_MAX; i++, n++) {
        ms[n] = tr->wmetrics[i];
        names[n] = rnnc_metric_name(tr->wmetrics[i]);
    }
    const char *sorted[RNNC_LOGS_MAX];
    memcpy(sorted, names, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_names);
    for (int k = 0; k < n; k++) {
        int i = 0;
        while (names[i] != sorted[k])
            i++;
        char key[RNNC_LOG_NAME_MAX];
        snprintf(key, sizeof key, "%s%s", prefix, names[i]);
        RNNC_TRY(rnnc_logs_set(logs, key, rnnc_metric_result(ms[i])));
    }
    return RNNC_OK;
}

static void reset_metrics(rnnc_trainer *tr)
{
    rnnc_metric_reset(tr->loss_tracker);
    for (int i = 0; i < tr->n_metrics; i++)
        rnnc_metric_reset(tr->metrics[i]);
    for (int i = 0; i < tr->n_wmetrics; i++)
        rnnc_metric_reset(tr->wmetrics[i]);
}

/* model.trainable_weights: each layer's trainable weights (a frozen layer
 * has none), in model order. Caller frees *out. */
static rnnc_status trainable_weights(rnnc_model *m, rnnc_weight ***out, int *n)
{
    int total = 0;
    *out = NULL;
    *n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        int k = 0;
        RNNC_TRY(rnnc_layer_trainable_weights(m->layers[i], true, NULL, 0, &k));
        total += k;
    }
    rnnc_weight **w = calloc((size_t)total + 1, sizeof *w);
    if (!w)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    int at = 0;
    for (int i = 0; i < m->n_layers; i++) {
        int k = 0;
        rnnc_status s = rnnc_layer_trainable_weights(m->layers[i], true, w + at, total - at, &k);
        if (s) {
            free(w);
            return s;
        }
        at += k;
    }
    *out = w;
    *n = at;
    return RNNC_OK;
}

/* The compiled metrics (unweighted) and weighted metrics on one batch. */
static rnnc_status update_metrics(rnnc_trainer *tr, const rnnc_tensor *yb, const rnnc_tensor *y_pred,
                                  const rnnc_tensor *swb, const rnnc_tensor *mask)
{
    rnnc_status s = RNNC_OK;
    for (int i = 0; i < tr->n_metrics && !s; i++)
        s = rnnc_metric_update(tr->metrics[i], yb, y_pred, NULL, mask);
    for (int i = 0; i < tr->n_wmetrics && !s; i++)
        s = rnnc_metric_update(tr->wmetrics[i], yb, y_pred, swb, mask);
    return s;
}

/* The model's added losses (regularizers, add_loss) as one scalar of the
 * loss's dtype and shape, or *out = NULL when there are none. */
static rnnc_status regularization_loss(rnnc_trainer *tr, rnnc_ctx *cx, const rnnc_tensor *loss,
                                       rnnc_tensor **out)
{
    rnnc_tensor *reg;
    *out = NULL;
    RNNC_TRY(rnnc_model_losses(tr->model, cx, &reg));
    if (!reg)
        return RNNC_OK;
    if (reg->numel != 1)
        RNNC_TRY(rnnc_sum(cx, reg, NULL, 0, false, &reg));
    /* A cast on the tape: a copied constant would drop the regularizers'
     * gradient (a float64 layer's penalty under a float32 loss) */
    if (reg->dtype != loss->dtype)
        RNNC_TRY(rnnc_cast(cx, reg, loss->dtype, &reg));
    return rnnc_reshape(cx, reg, &loss->shape, out);
}

/* Forward, the total loss and the metrics of one batch. With train, also
 * backward and the optimizer step. The ctx is cleared on return. */
static rnnc_status run_step(rnnc_trainer *tr, rnnc_tensor *xb, rnnc_tensor *yb, rnnc_tensor *swb,
                            bool train)
{
    rnnc_ctx *cx = tr->cx;
    rnnc_call_args args;
    rnnc_call_result res;
    rnnc_weight **w = NULL;
    int nw = 0;
    memset(&args, 0, sizeof args);
    args.n_inputs = 1;
    args.inputs[0] = xb;
    args.training = train;
    const int64_t batch = xb->shape.dim[0];
    rnnc_status s;
    if (tr->dstep) {
        s = rnnc__dstep_run(tr->dstep, xb, yb, swb, train);
        rnnc_ctx_clear(cx);
        return s;
    }
    if (train)
        rnnc_model_zero_grad(tr->model);
    if ((s = rnnc_model_call(tr->model, cx, &args, &res)))
        goto done;
    rnnc_tensor *y_pred = res.outputs[0], *loss, *reg, *total;
    if ((s = rnnc_loss_call(tr->loss, cx, yb, y_pred, swb, res.mask, &loss)))
        goto done;
    if (loss->numel != 1) {
        s = rnnc_fail(RNNC_E_SHAPE, "loss '%s' did not reduce to a scalar (reduction 'none' cannot train)",
                      rnnc_loss_name(tr->loss));
        goto done;
    }
    if ((s = regularization_loss(tr, cx, loss, &reg)))
        goto done;
    total = loss;
    if (reg && (s = rnnc_add(cx, loss, reg, &total)))
        goto done;
    const double tv = rnnc_tensor_get(total, 0);
    if (train) {
        const double scale = rnnc_optimizer_loss_scale(tr->opt);
        rnnc_tensor *scaled = total;
        if (scale != 1.0 && (s = rnnc_affine(cx, total, scale, 0.0, &scaled)))
            goto done;
        if (scaled->requires_grad) {
            if ((s = rnnc_backward(cx, scaled)))
                goto done;
            if ((s = trainable_weights(tr->model, &w, &nw)))
                goto done;
            if (nw > 0 && (s = rnnc_optimizer_apply(tr->opt, w, nw)))
                goto done;
        }
    }
    rnnc_metric_update_scalar(tr->loss_tracker, tv, (double)batch);
    s = update_metrics(tr, yb, y_pred, swb, res.mask);
done:
    free(w);
    if (train)
        rnnc_model_zero_grad(tr->model);
    rnnc_ctx_clear(cx);
    return s;
}

static rnnc_status require_compiled(const rnnc_trainer *tr, const char *what)
{
    if (!tr || !tr->compiled)
        return rnnc_fail(RNNC_E_STATE, "%s: you must call compile() before %s()", what, what);
    return RNNC_OK;
}

/* Batch k of an epoch: rows order[k*bs .. ) gathered into ctx tensors. */
static rnnc_status batch_of(rnnc_trainer *tr, const rnnc_tensor *x, const rnnc_tensor *y,
                            const rnnc_tensor *sw, const int64_t *order, int64_t n, int64_t bs, int64_t k,
                            rnnc_tensor **xb, rnnc_tensor **yb, rnnc_tensor **swb)
{
    const int64_t a = k * bs, b = a + bs < n ? a + bs : n;
    *yb = *swb = NULL;
    RNNC_TRY(gather_rows(tr->cx, x, order + a, b - a, xb));
    if (y)
        RNNC_TRY(gather_rows(tr->cx, y, order + a, b - a, yb));
    if (sw)
        RNNC_TRY(gather_rows(tr->cx, sw, order + a, b - a, swb));
    return RNNC_OK;
}

/* One data-parallel step (train or test) on this rank's rows of a global
 * batch of global_rows rows (xb may have none).
 *
 * The global loss is the one-process loss of the whole batch: each rank's
 * loss is a mean over its own rows (its divisor d_r: entries, valid
 * entries of a masked mean, or the sum of the weights), so the rank
 * backpropagates loss_r * d_r / sum(d) (plus its 1/n_active share of the
 * model's penalties) and the summed gradients are those of the global
 * mean. The divisors, the loss and the metrics' increments travel in one
 * small allreduce after forward; the gradients in buckets while backward
 * runs. Every rank then applies the same update. */
static rnnc_status run_step_dist(rnnc_trainer *tr, rnnc_tensor *xb, rnnc_tensor *yb, rnnc_tensor *swb, bool train,
                                 int64_t global_rows)
{
    rnnc_ctx *cx = tr->cx;
    const int size = rnnc_comm_size(tr->comm);
    const int64_t rows = xb->shape.dim[0];
    const int n_active = global_rows < size ? (int)global_rows : size;
    const bool sum_mode = rnnc_loss_reduction(tr->loss) == RNNC_REDUCTION_SUM;
    rnnc_metric *ms[2 * RNNC_LOGS_MAX];
    int nm = 0;
    for (int i = 0; i < tr->n_metrics; i++)
        ms[nm++] = tr->metrics[i];
    for (int i = 0; i < tr->n_wmetrics; i++)
        ms[nm++] = tr->wmetrics[i];
    double v[3 + 4 * RNNC_LOGS_MAX], before[4 * RNNC_LOGS_MAX];
    memset(v, 0, sizeof v);
    rnnc_weight **w = NULL;
    int nw = 0;
    rnnc_tensor *loss = NULL, *reg = NULL;
    double divisor = -1;
    rnnc_status s = RNNC_OK;
    if (train) {
        rnnc_model_zero_grad(tr->model);
        if ((s = trainable_weights(tr->model, &w, &nw)))
            goto done;
    }
    for (int i = 0; i < nm; i++)
        rnnc_metric_state(ms[i], &before[2 * i], &before[2 * i + 1]);
    /* A model whose training forward reduces across the ranks
     * (BatchNormalization synchronized: true) runs on a rank without rows
     * too, on one stand-in row of zeros that counts for nothing in those
     * reductions (rnnc_comm_set_stand_in), so that it joins them. */
    if (train && rows == 0 && tr->collective_forward < 0)
        tr->collective_forward = rnnc__dist_model_collective(tr->model);
    rnnc_tensor *empty_out = NULL; /* that run's output */
    if (train && rows == 0 && tr->collective_forward > 0) {
        rnnc_call_args args;
        rnnc_call_result res;
        rnnc_shape one = xb->shape;
        one.dim[0] = 1;
        memset(&args, 0, sizeof args);
        args.n_inputs = 1;
        args.training = true;
        rnnc_comm_set_stand_in(tr->comm, true);
        if ((s = rnnc_ctx_tensor(cx, xb->dtype, &one, &args.inputs[0])) ||
            (s = rnnc_model_call(tr->model, cx, &args, &res)))
            goto done;
        empty_out = res.outputs[0];
    }
    if (rows > 0) {
        rnnc_call_args args;
        rnnc_call_result res;
        memset(&args, 0, sizeof args);
        args.n_inputs = 1;
        args.inputs[0] = xb;
        args.training = train;
        if ((s = rnnc_model_call(tr->model, cx, &args, &res)))
            goto done;
        rnnc_tensor *y_pred = res.outputs[0];
        if ((s = rnnc_loss_call_counted(tr->loss, cx, yb, y_pred, swb, res.mask, &loss, &divisor)))
            goto done;
        if (loss->numel != 1) {
            s = rnnc_fail(RNNC_E_SHAPE, "loss '%s' did not reduce to a scalar (reduction 'none' cannot train)",
                          rnnc_loss_name(tr->loss));
            goto done;
        }
        if (!sum_mode && divisor < 0)
            divisor = 1; /* an unreduced scalar: each rank's value counts once */
        if ((s = regularization_loss(tr, cx, loss, &reg)))
            goto done;
        const double lv = rnnc_tensor_get(loss, 0);
        v[0] = sum_mode ? 0 : divisor;
        v[1] = sum_mode ? lv : lv * divisor;
        v[2] = reg ? rnnc_tensor_get(reg, 0) / n_active : 0;
        if ((s = update_metrics(tr, yb, y_pred, swb, res.mask)))
            goto done;
        for (int i = 0; i < nm; i++) {
            double t, c;
            rnnc_metric_state(ms[i], &t, &c);
            v[3 + 2 * i] = t - before[2 * i];
            v[4 + 2 * i] = c - before[2 * i + 1];
        }
    }
    if ((s = rnnc_comm_allreduce_sum(tr->comm, v, 3 + 2 * (size_t)nm, RNNC_F64)))
        goto done;
    const double total_div = v[0];
    const double tv = (sum_mode ? v[1] : total_div > 0 ? v[1] / total_div : 0.0) + v[2];
    for (int i = 0; i < nm; i++)
        rnnc_metric_set_state(ms[i], before[2 * i] + v[3 + 2 * i], before[2 * i + 1] + v[4 + 2 * i]);
    if (train && nw > 0) {
        if (tr->dist && !rnnc__dist_grads_matches(tr->dist, w, nw)) {
            rnnc__dist_grads_destroy(tr->dist);
            tr->dist = NULL;
        }
        if (!tr->dist &&
            (s = rnnc__dist_grads_create(tr->comm, w, nw, tr->bucket_bytes ? tr->bucket_bytes : RNNC__DIST_BUCKET_BYTES,
                                         &tr->dist)))
            goto done;
        rnnc__dist_grads_begin(tr->dist, cx);
        if (rows > 0) {
            const double share = sum_mode ? 1.0 : total_div > 0 ? divisor / total_div : 0.0;
            rnnc_tensor *part = loss;
            if ((s = rnnc_affine(cx, loss, share, 0.0, &part)))
                goto finish;
            if (reg) {
                rnnc_tensor *r;
                if ((s = rnnc_affine(cx, reg, 1.0 / n_active, 0.0, &r)) || (s = rnnc_add(cx, part, r, &part)))
                    goto finish;
            }
            const double scale = rnnc_optimizer_loss_scale(tr->opt);
            if (scale != 1.0 && (s = rnnc_affine(cx, part, scale, 0.0, &part)))
                goto finish;
            if (part->requires_grad)
                s = rnnc_backward(cx, part);
        } else if (empty_out) {
            /* the stand-in row: a zero loss, whose backward runs the
             * collectives' nodes and leaves zero gradients */
            rnnc_tensor *part;
            if (!(s = rnnc_sum(cx, empty_out, NULL, 0, false, &part)) &&
                !(s = rnnc_affine(cx, part, 0.0, 0.0, &part)) && part->requires_grad)
                s = rnnc_backward(cx, part);
        }
    finish:
        if (s) {
            rnnc_ctx_watch_grads(cx, NULL, 0, NULL, NULL);
            goto done;
        }
        if ((s = rnnc__dist_grads_finish(tr->dist, cx)) || (s = rnnc_optimizer_apply(tr->opt, w, nw)) ||
            (s = rnnc__dist_average_state(tr->comm, tr->model, rows > 0, n_active)))
            goto done;
    }
    rnnc_metric_update_scalar(tr->loss_tracker, tv, (double)global_rows);
done:
    rnnc_comm_set_stand_in(tr->comm, false);
    free(w);
    if (train)
        rnnc_model_zero_grad(tr->model);
    rnnc_ctx_clear(cx);
    return s;
}

/* Batch k of x (rows order[k*bs ..)), or this rank's part of it when the
 * trainer is data-parallel, and the step on it. The ctx is cleared. */
static rnnc_status batch_step(rnnc_trainer *tr, const rnnc_tensor *x, const rnnc_tensor *y, const rnnc_tensor *sw,
                              const int64_t *order, int64_t n, int64_t bs, int64_t k, bool train)
{
    rnnc_tensor *xb, *yb = NULL, *swb = NULL;
    rnnc_status s;
    if (!distributed(tr) && x) {
        s = batch_of(tr, x, y, sw, order, n, bs, k, &xb, &yb, &swb);
        if (!s)
            return run_step(tr, xb, yb, swb, train);
        rnnc_ctx_clear(tr->cx);
        return s;
    }
    const int64_t a = k * bs, b = a + bs < n ? a + bs : n;
    int64_t lo = 0, hi = b - a;
    if (distributed(tr))
        rnnc__dist_split(b - a, rnnc_comm_size(tr->comm), rnnc_comm_rank(tr->comm), &lo, &hi);
    if (!x) {
        /* a row source: only these rows are read */
        s = tr->src->read(tr->src->user, tr->cx, order + a + lo, hi - lo, &xb, &yb, &swb);
        /* the caller (fit, evaluate) names itself in the context */
        if (!s && (!xb || !yb))
            s = rnnc_fail(RNNC_E_SHAPE, "the row source gave no %s for %lld rows", !xb ? "x" : "y",
                          (long long)(hi - lo));
        else if (!s && (xb->shape.ndim < 1 || yb->shape.ndim < 1 || xb->shape.dim[0] != hi - lo ||
                        yb->shape.dim[0] != hi - lo))
            s = rnnc_fail(RNNC_E_SHAPE, "the row source gave x of %lld rows and y of %lld rows; %lld asked",
                          (long long)(xb->shape.ndim ? xb->shape.dim[0] : 0),
                          (long long)(yb->shape.ndim ? yb->shape.dim[0] : 0), (long long)(hi - lo));
    } else {
        s = gather_rows(tr->cx, x, order + a + lo, hi - lo, &xb);
        if (!s && y)
            s = gather_rows(tr->cx, y, order + a + lo, hi - lo, &yb);
        if (!s && sw)
            s = gather_rows(tr->cx, sw, order + a + lo, hi - lo, &swb);
    }
    if (s) {
        rnnc_ctx_clear(tr->cx);
        return s;
    }
    if (!distributed(tr))
        return run_step(tr, xb, yb, swb, train);
    return run_step_dist(tr, xb, yb, swb, train, b - a);
}

static int64_t *iota(int64_t n)
{
    int64_t *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    for (int64_t i = 0; p && i < n; i++)
        p[i] = i;
    return p;
}

/* The first stateful RNN in l (itself or a wrapped layer) whose state is
 * stored, and its fixed batch size; NULL if none. */
static const rnnc_layer *stateful_rnn(rnnc_layer *l, int64_t *batch)
{
    rnnc_rnn *r = rnnc_rnn_of(l);
    if (r && r->opt.stateful && r->states[0] && r->states[0]->shape.ndim >= 1) {
        *batch = r->states[0]->shape.dim[0];
        return l;
    }
    for (int i = 0; i < l->n_children; i++) {
        const rnnc_layer *c = l->children[i] ? stateful_rnn(l->children[i], batch) : NULL;
        if (c)
            return c;
    }
    return NULL;
}

rnnc_status rnnc_trainer_check_batches_ranks(const rnnc_trainer *tr, const char *what, const char *data, int64_t n,
                                             int64_t batch_size, bool last_batch, int ranks)
{
    const rnnc_layer *l = NULL;
    int64_t B = 0;
    for (int i = 0; tr && tr->model && i < tr->model->n_layers && !l; i++)
        l = stateful_rnn(tr->model->layers[i], &B);
    if (!l || n < 1)
        return RNNC_OK;
    const int64_t R = ranks > 1 ? ranks : 1;
    const int64_t bs = batch_size > 0 ? batch_size : 32;
    const int64_t first = n < bs ? n : bs, last = n % bs ? n % bs : first;
    /* data-parallel: each rank takes its part of every batch (rnnc__dist_split) */
    const bool first_ok = first % R == 0 && first / R == B, last_ok = last % R == 0 && last / R == B;
    if (first_ok && (!last_batch || last_ok))
        return RNNC_OK;
    char why[300];
    if (R == 1 && !first_ok)
        snprintf(why, sizeof why, "its batches hold %lld", (long long)first);
    else if (R == 1)
        snprintf(why, sizeof why, "its last batch holds %lld (%lld is not a multiple of %lld)", (long long)last,
                 (long long)n, (long long)B);
    else {
        /* a rank whose part is not B: rank 0 holds the most, rank R-1 the least */
        const int64_t m = first_ok ? last : first, q = m / R, rem = m % R;
        const bool big = rem && q + 1 != B;
        snprintf(why, sizeof why,
                 "data-parallel on %lld ranks, rank %lld's part of %s batch of %lld holds %lld (give fit.batch_size %lld, %lld ranks x %lld%s)",
                 (long long)R, (long long)(big ? 0 : R - 1), first_ok ? "its last" : "a", (long long)m,
                 (long long)(big ? q + 1 : q), (long long)(R * B), (long long)R, (long long)B,
                 first_ok ? ", and a number of samples that is a multiple of it" : "");
    }
    return rnnc_fail(RNNC_E_SHAPE,
                     "%s: %s '%s' is stateful with batch size %lld (its input's batch_shape), so every batch must hold exactly %lld samples, as in Keras; the %s has %lld samples in batches of %lld, and %s",
                     what, l->cls->class_name, l->name, (long long)B, (long long)B, data, (long long)n,
                     (long long)bs, why);
}

rnnc_status rnnc_trainer_check_batches(const rnnc_trainer *tr, const char *what, const char *data, int64_t n,
                                       int64_t batch_size, bool last_batch)
{
    return rnnc_trainer_check_batches_ranks(tr, what, data, n, batch_size, last_batch,
                                            tr ? rnnc_comm_size(tr->comm) : 1);
}

/* Loss and metrics of x, y, sw, or with x NULL of the row source tr->src. */
static rnnc_status evaluate_impl(rnnc_trainer *tr, const rnnc_tensor *x, const rnnc_tensor *y,
                                 const rnnc_tensor *sw, int64_t bs, const char *prefix, rnnc_logs *out)
{
    const int64_t n = x ? x->shape.dim[0] : tr->src->n;
    int64_t *order = iota(n);
    if (!order)
        return rnnc_fail(RNNC_E_NOMEM, "evaluate: out of memory");
    rnnc_status s = RNNC_OK;
    reset_metrics(tr);
    const int64_t steps = n / bs + (n % bs != 0); /* no overflow for any bs */
    for (int64_t k = 0; k < steps && !s; k++) {
        s = batch_step(tr, x, y, sw, order, n, bs, k, false);
    }
    free(order);
    if (!s)
        s = results(tr, prefix, out);
    return s;
}

rnnc_status rnnc_trainer_evaluate(rnnc_trainer *tr, const rnnc_tensor *x, const rnnc_tensor *y,
                                  const rnnc_tensor *sample_weight, int64_t batch_size, rnnc_logs *out)
{
    RNNC_TRY(require_compiled(tr, "evaluate"));
    RNNC_TRY(check_data("evaluate", x, y, sample_weight));
    if (!y)
        return rnnc_fail(RNNC_E_ARG, "evaluate: y is NULL");
    if (batch_size < 0)
        return rnnc_fail(RNNC_E_ARG, "evaluate: batch_size must be > 0, got %lld", (long long)batch_size);
    memset(out, 0, sizeof *out);
    RNNC_TRY(rnnc_trainer_check_batches(tr, "evaluate", "data", x->shape.dim[0], batch_size, true));
    rnnc_status s = device_begin(tr, false);
    if (!s)
        s = evaluate_impl(tr, x, y, sample_weight, batch_size ? batch_size : 32, "", out);
    return s ? rnnc_fail_context(s, "evaluate: ") : RNNC_OK;
}

/* The row source of an evaluation (validation rows, or those of
 * rnnc_trainer_evaluate_source) in place of tr->src for the call. */
static rnnc_status evaluate_rows(rnnc_trainer *tr, const rnnc_row_source *src, int64_t bs, const char *prefix,
                                 rnnc_logs *out)
{
    const rnnc_row_source *was = tr->src;
    tr->src = src;
    rnnc_status s = evaluate_impl(tr, NULL, NULL, NULL, bs, prefix, out);
    tr->src = was;
    return s;
}

static rnnc_status check_source(const char *what, const rnnc_row_source *src)
{
    if (!src || !src->read)
        return rnnc_fail(RNNC_E_ARG, "%s: the row source or its read function is NULL", what);
    if (src->n <= 0)
        return rnnc_fail(RNNC_E_ARG, "%s: the data has %lld samples; give at least one", what, (long long)src->n);
    return RNNC_OK;
}

rnnc_status rnnc_trainer_evaluate_source(rnnc_trainer *tr, const rnnc_row_source *src, int64_t batch_size,
                                         rnnc_logs *out)
{
    RNNC_TRY(require_compiled(tr, "evaluate"));
    RNNC_TRY(check_source("evaluate", src));
    if (batch_size < 0)
        return rnnc_fail(RNNC_E_ARG, "evaluate: batch_size must be > 0, got %lld", (long long)batch_size);
    memset(out, 0, sizeof *out);
    RNNC_TRY(rnnc_trainer_check_batches(tr, "evaluate", "data", src->n, batch_size, true));
    rnnc_status s = device_begin(tr, false);
    if (!s)
        s = evaluate_rows(tr, src, batch_size ? batch_size : 32, "", out);
    return s ? rnnc_fail_context(s, "evaluate: ") : RNNC_OK;
}

rnnc_status rnnc_trainer_predict(rnnc_trainer *tr, const rnnc_tensor *x, int64_t batch_size,
                                 rnnc_tensor **out)
{
    *out = NULL;
    if (!tr)
        return rnnc_fail(RNNC_E_ARG, "predict: trainer is NULL");
    RNNC_TRY(check_data("predict", x, NULL, NULL));
    if (batch_size < 0)
        return rnnc_fail(RNNC_E_ARG, "predict: batch_size must be > 0, got %lld", (long long)batch_size);
    const int64_t bs = batch_size ? batch_size : 32, n = x->shape.dim[0];
    /* predict runs every batch whole on each rank */
    RNNC_TRY(rnnc_trainer_check_batches_ranks(tr, "predict", "input", n, bs, true, 1));
    int64_t *order = iota(n);
    if (!order)
        return rnnc_fail(RNNC_E_NOMEM, "predict: out of memory");
    const bool old = rnnc_ctx_set_grad_enabled(tr->cx, false);
    rnnc_status s = device_begin(tr, false);
    rnnc_tensor *all = NULL, *dev_out = NULL;
    size_t row = 0;
    for (int64_t k = 0; k * bs < n && !s; k++) {
        rnnc_tensor *xb, *yb, *swb;
        rnnc_call_args args;
        rnnc_call_result res;
        memset(&args, 0, sizeof args);
        if ((s = batch_of(tr, x, NULL, NULL, order, n, bs, k, &xb, &yb, &swb)))
            break;
        args.n_inputs = 1;
        args.inputs[0] = xb;
        rnnc_tensor_destroy(dev_out);
        dev_out = NULL;
        if (tr->dstep ? (s = rnnc__dstep_predict(tr->dstep, xb, &dev_out))
                      : (s = rnnc_model_call(tr->model, tr->cx, &args, &res)))
            break;
        rnnc_tensor *yp = tr->dstep ? dev_out : res.outputs[0];
        if (!all) {
            rnnc_shape sh = yp->shape;
            if (sh.ndim < 1) {
                s = rnnc_fail(RNNC_E_SHAPE, "predict: the model output has no batch axis");
                break;
            }
            sh.dim[0] = n;
            if ((s = rnnc_tensor_create(yp->dtype, &sh, &all)))
                break;
            row = yp->shape.dim[0] ? yp->numel / (size_t)yp->shape.dim[0] : 0;
        }
        memcpy((char *)all->data + (size_t)(k * bs) * row * rnnc_dtype_size(all->dtype), yp->data,
               yp->numel * rnnc_dtype_size(yp->dtype));
        rnnc_ctx_clear(tr->cx);
    }
    rnnc_ctx_clear(tr->cx);
    rnnc_ctx_set_grad_enabled(tr->cx, old);
    rnnc_tensor_destroy(dev_out);
    free(order);
    if (s) {
        rnnc_tensor_destroy(all);
        return rnnc_fail_context(s, "predict: ");
    }
    *out = all;
    return RNNC_OK;
}

rnnc_status rnnc_trainer_train_on_batch(rnnc_trainer *tr, const rnnc_tensor *x, const rnnc_tensor *y,
                                        const rnnc_tensor *sample_weight, rnnc_logs *logs)
{
    RNNC_TRY(require_compiled(tr, "train_on_batch"));
    RNNC_TRY(check_data("train_on_batch", x, y, sample_weight));
    if (!y)
        return rnnc_fail(RNNC_E_ARG, "train_on_batch: y is NULL");
    const int64_t n = x->shape.dim[0];
    int64_t *order = iota(n);
    if (!order)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    reset_metrics(tr);
    rnnc_status s = device_begin(tr, true);
    if (!s)
        s = batch_step(tr, x, y, sample_weight, order, n, n ? n : 1, 0, true);
    if (!s && tr->dstep)
        s = rnnc__dstep_download(tr->dstep); /* the host weights are the truth between calls */
    free(order);
    if (s)
        return rnnc_fail_context(s, "train_on_batch: ");
    if (logs) {
        memset(logs, 0, sizeof *logs);
        RNNC_TRY(results(tr, "", logs));
    }
    return RNNC_OK;
}

/* ---- fit -------------------------------------------------------------------------- */

rnnc_fit_options rnnc_fit_options_default(void)
{
    rnnc_fit_options o;
    memset(&o, 0, sizeof o);
    o.epochs = 1;
    o.pass_origin = -1;
    o.shuffle = true;
    o.verbose = RNNC_VERBOSE_AUTO;
    return o;
}

void rnnc_fit_epoch_span(int64_t steps, int64_t spe, int64_t epoch, int64_t *first, int64_t *count,
                         int64_t *pass)
{
    if (spe <= 0 || spe >= steps) {
        *first = 0;
        *count = steps;
        *pass = epoch;
        return;
    }
    const int64_t per_pass = steps / spe + (steps % spe != 0);
    *pass = epoch / per_pass;
    *first = (epoch % per_pass) * spe;
    *count = steps - *first < spe ? steps - *first : spe;
}

/* class_weight -> per-sample weights, as Keras's class_weight_to_sample_weights. */
rnnc_status rnnc_trainer_class_weights(const rnnc_tensor *y, const double *cw, int n_cw, rnnc_tensor **out)
{
    *out = NULL;
    if (y->shape.ndim < 1 || y->shape.ndim > 2) {
        char sh[96];
        return rnnc_fail(RNNC_E_SHAPE, "fit: class_weight needs one class per sample (targets (N,), (N, 1) or one-hot (N, C)), but the targets have shape %s",
                         rnnc_shape_str(&y->shape, sh, sizeof sh));
    }
    const int64_t n = y->shape.dim[0];
    const rnnc_shape sh = RNNC_SHAPE(n);
    RNNC_TRY(rnnc_tensor_create(RNNC_F32, &sh, out));
    const size_t row = n ? y->numel / (size_t)n : 0;
    const bool onehot = y->shape.ndim > 1 && y->shape.dim[y->shape.ndim - 1] != 1;
    for (int64_t i = 0; i < n; i++) {
        double label;
        if (onehot) {
            const int64_t c = y->shape.dim[y->shape.ndim - 1];
            int64_t best = 0;
            /* argmax over the last axis of the sample's first row */
            for (int64_t j = 1; j < c; j++)
                if (rnnc_tensor_get(y, (size_t)i * row + (size_t)j) > rnnc_tensor_get(y, (size_t)i * row + (size_t)best))
                    best = j;
            label = (double)best;
        } else {
            label = nearbyint(rnnc_tensor_get(y, (size_t)i * row));
        }
        const double w = label >= 0 && label < n_cw ? cw[(int)label] : 1.0;
        rnnc_tensor_set(*out, (size_t)i, w);
    }
    return RNNC_OK;
}

typedef struct fit_state {
    rnnc_tensor *xt, *yt, *swt, *xv, *yv, *swv; /* owned copies when split */
    rnnc_tensor *cw;                            /* class weights, owned */
    rnnc_callback *progress;
} fit_state;

static void fit_state_free(fit_state *f)
{
    rnnc_tensor_destroy(f->xt);
    rnnc_tensor_destroy(f->yt);
    rnnc_tensor_destroy(f->swt);
    rnnc_tensor_destroy(f->xv);
    rnnc_tensor_destroy(f->yv);
    rnnc_tensor_destroy(f->swv);
    rnnc_tensor_destroy(f->cw);
    rnnc_callback_destroy(f->progress);
}

/* Data-parallel: whether to stop (model.stop_training, stop_requested) is
 * decided once for every rank (any rank asking stops them all), and the
 * learning rate a callback set on rank 0 reaches the others, so the ranks
 * keep taking the same steps whatever callbacks each one runs. *asked: this
 * rank's stop_requested answer in, the agreed one out. */
static rnnc_status dist_agree(rnnc_trainer *tr, bool *asked)
{
    if (!distributed(tr))
        return RNNC_OK;
    double f[2] = {tr->stop ? 1.0 : 0.0, *asked ? 1.0 : 0.0};
    RNNC_TRY(rnnc_comm_allreduce_max(tr->comm, f, 2, RNNC_F64));
    tr->stop = f[0] > 0;
    *asked = f[1] > 0;
    return RNNC_OK;
}

static rnnc_status dist_sync_lr(rnnc_trainer *tr)
{
    if (!distributed(tr))
        return RNNC_OK;
    double lr = rnnc_optimizer_learning_rate(tr->opt);
    const double mine = lr;
    RNNC_TRY(rnnc_comm_broadcast(tr->comm, &lr, sizeof lr, 0));
    if (lr != mine)
        RNNC_TRY(rnnc_optimizer_set_learning_rate(tr->opt, lr));
    return RNNC_OK;
}

static bool ask_stop(const rnnc_fit_options *o) { return o->stop_requested && o->stop_requested(o->stop_user); }

#define EACH_CB(hook, ...)                                                                  \
    for (int c_ = 0; c_ < ncb && !s; c_++)                                                  \
        if (cbs[c_]->hook && (s = cbs[c_]->hook(__VA_ARGS__)))                              \
            s = rnnc_fail_context(s, "callback %d (" #hook "): ", c_);

static rnnc_status fit_impl(rnnc_trainer *tr, const rnnc_tensor *x, const rnnc_tensor *y,
                            const rnnc_fit_options *opts, rnnc_history **history);

/* Keras's validation_split: the first `at` rows train, the rest validate. */
static rnnc_status split_point(int64_t n, double split, int64_t *at)
{
    *at = (int64_t)floor((double)n * (1.0 - split));
    if (*at == 0 || *at == n)
        return rnnc_fail(RNNC_E_ARG, "fit: training data contains %lld samples, which is not sufficient to split it into a validation and training set as specified by validation_split=%g",
                         (long long)n, split);
    return RNNC_OK;
}

/* Rows [first, ...) of a row source, as a row source of their own. */
typedef struct source_view {
    const rnnc_row_source *base;
    int64_t first;
} source_view;

static rnnc_status view_read(void *user, rnnc_ctx *cx, const int64_t *rows, int64_t count, rnnc_tensor **x,
                             rnnc_tensor **y, rnnc_tensor **sw)
{
    const source_view *v = user;
    if (v->first == 0)
        return v->base->read(v->base->user, cx, rows, count, x, y, sw);
    int64_t *at = malloc((size_t)(count > 0 ? count : 1) * sizeof *at);
    if (!at)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    for (int64_t i = 0; i < count; i++)
        at[i] = v->first + rows[i];
    rnnc_status s = v->base->read(v->base->user, cx, at, count, x, y, sw);
    free(at);
    return s;
}

rnnc_status rnnc_trainer_fit(rnnc_trainer *tr, const rnnc_tensor *x, const rnnc_tensor *y,
                             const rnnc_fit_options *opts, rnnc_history **history)
{
    rnnc_fit_options d = rnnc_fit_options_default();
    if (history)
        *history = NULL;
    if (!opts)
        opts = &d;
    RNNC_TRY(require_compiled(tr, "fit"));
    RNNC_TRY(check_data("fit", x, y, opts->sample_weight));
    if (!y)
        return rnnc_fail(RNNC_E_ARG, "fit: y is NULL");
    if (x->shape.dim[0] == 0)
        return rnnc_fail(RNNC_E_ARG, "fit: the training data has 0 samples; give at least one");
    return fit_impl(tr, x, y, opts, history);
}

rnnc_status rnnc_trainer_fit_source(rnnc_trainer *tr, const rnnc_row_source *src, const rnnc_fit_options *opts,
                                    rnnc_history **history)
{
    rnnc_fit_options d = rnnc_fit_options_default();
    if (history)
        *history = NULL;
    if (!opts)
        opts = &d;
    RNNC_TRY(require_compiled(tr, "fit"));
    RNNC_TRY(check_source("fit", src));
    if (opts->sample_weight || opts->class_weight)
        return rnnc_fail(RNNC_E_ARG, "fit: with a row source the sample weights come from the source; sample_weight and class_weight cannot be given");
    if (!(opts->validation_split >= 0 && opts->validation_split < 1))
        return rnnc_fail(RNNC_E_ARG, "fit: validation_split must be in [0, 1), got %g", opts->validation_split);
    /* validation_split: the source's last rows, read on demand too */
    source_view train = {src, 0}, val = {src, 0};
    rnnc_row_source train_src = *src, val_src;
    rnnc_fit_options o = *opts;
    if (opts->validation_split > 0 && !opts->x_val && !opts->val_source) {
        int64_t at;
        RNNC_TRY(split_point(src->n, opts->validation_split, &at));
        val.first = at;
        train_src = (rnnc_row_source){at, view_read, &train};
        val_src = (rnnc_row_source){src->n - at, view_read, &val};
        o.val_source = &val_src;
    }
    o.validation_split = 0;
    tr->src = &train_src;
    rnnc_status s = fit_impl(tr, NULL, NULL, &o, history);
    tr->src = NULL;
    return s;
}

/* fit on x, y, or on tr->src when x is NULL (checked by the callers). */
static rnnc_status fit_impl(rnnc_trainer *tr, const rnnc_tensor *x, const rnnc_tensor *y,
                            const rnnc_fit_options *opts, rnnc_history **history)
{
    if (opts->batch_size < 0)
        return rnnc_fail(RNNC_E_ARG, "fit: batch_size must be > 0, got %lld", (long long)opts->batch_size);
    if (opts->epochs < 0 || opts->initial_epoch < 0)
        return rnnc_fail(RNNC_E_ARG, "fit: epochs (%d) and initial_epoch (%d) must be >= 0", opts->epochs,
                         opts->initial_epoch);
    if (!(opts->validation_split >= 0 && opts->validation_split < 1))
        return rnnc_fail(RNNC_E_ARG, "fit: validation_split must be in [0, 1), got %g", opts->validation_split);
    if (opts->class_weight && opts->sample_weight)
        return rnnc_fail(RNNC_E_ARG, "fit: you cannot use `class_weight` and `sample_weight` at the same time");
    if ((opts->x_val == NULL) != (opts->y_val == NULL))
        return rnnc_fail(RNNC_E_ARG, "fit: validation data needs both x_val and y_val");
    if (opts->x_val)
        RNNC_TRY(check_data("fit (validation data)", opts->x_val, opts->y_val, opts->sample_weight_val));
    if (opts->val_source && opts->x_val)
        return rnnc_fail(RNNC_E_ARG, "fit: give the validation data as x_val / y_val or as val_source, not both");
    if (opts->val_source)
        RNNC_TRY(check_source("fit (validation data)", opts->val_source));
    if (opts->n_callbacks < 0 || (opts->n_callbacks && !opts->callbacks))
        return rnnc_fail(RNNC_E_ARG, "fit: bad callback list");
    if (opts->validation_freq < 0 || opts->steps_per_epoch < 0)
        return rnnc_fail(RNNC_E_ARG, "fit: validation_freq (%d) and steps_per_epoch (%lld) must be >= 1 (0: the default)",
                         opts->validation_freq, (long long)opts->steps_per_epoch);

    /* the device step: refused before anything runs; the host weights and
     * slots uploaded (downloaded before every on_epoch_end and at the end) */
    RNNC_TRY(device_begin(tr, true));
    bool dev_dirty = tr->dstep != NULL; /* device values newer than the host's */
    fit_state f;
    memset(&f, 0, sizeof f);
    rnnc_status s = RNNC_OK;
    const rnnc_tensor *xt = x, *yt = y, *swt = opts->sample_weight;
    const rnnc_tensor *xv = opts->x_val, *yv = opts->y_val, *swv = opts->sample_weight_val;
    int64_t n = x ? x->shape.dim[0] : tr->src->n;
    if (opts->validation_split > 0 && !opts->x_val && !opts->val_source) {
        int64_t at;
        RNNC_TRY(split_point(n, opts->validation_split, &at));
        if ((s = slice_rows(x, 0, at, &f.xt)) || (s = slice_rows(x, at, n, &f.xv)) ||
            (s = slice_rows(y, 0, at, &f.yt)) || (s = slice_rows(y, at, n, &f.yv)) ||
            (swt && ((s = slice_rows(swt, 0, at, &f.swt)) || (s = slice_rows(swt, at, n, &f.swv)))))
            goto done;
        xt = f.xt;
        yt = f.yt;
        swt = f.swt;
        xv = f.xv;
        yv = f.yv;
        swv = f.swv;
        n = at;
    }
    if (opts->class_weight) {
        if ((s = rnnc_trainer_class_weights(yt, opts->class_weight, opts->n_class_weight, &f.cw)))
            goto done;
        swt = f.cw;
    }

    rnnc_callback *cbs[72];
    int ncb = 0;
    for (int i = 0; i < opts->n_callbacks && ncb < 64; i++)
        if (opts->callbacks[i])
            cbs[ncb++] = opts->callbacks[i];
    if (opts->verbose != RNNC_VERBOSE_SILENT && rnnc_comm_rank(tr->comm) == 0) {
        bool live = opts->verbose == RNNC_VERBOSE_AUTO && !opts->print && rnnc__stdout_is_tty();
        if ((s = rnnc_progress_create(live, opts->print, opts->print_user, &f.progress)))
            goto done;
        cbs[ncb++] = f.progress;
    }
    const int64_t bs = opts->batch_size ? opts->batch_size : 32;
    const int64_t steps = n / bs + (n % bs != 0); /* no overflow for any bs */
    /* passes over the data (steps_per_epoch) count from here: Keras's fit starts one at initial_epoch */
    const int origin = opts->pass_origin < 0 ? opts->initial_epoch : opts->pass_origin;
    if (origin > opts->initial_epoch) {
        s = rnnc_fail(RNNC_E_ARG, "fit: pass_origin %d must not exceed initial_epoch %d", origin, opts->initial_epoch);
        goto done;
    }
    tr->interrupted = false;
    const int vfreq = opts->validation_freq > 0 ? opts->validation_freq : 1;
    int64_t span_first, span_count, span_pass;
    rnnc_fit_epoch_span(steps, opts->steps_per_epoch, opts->initial_epoch - origin, &span_first, &span_count, &span_pass);
    if (opts->initial_batch < 0 || (opts->initial_batch > 0 && opts->initial_batch >= span_count)) {
        s = rnnc_fail(RNNC_E_ARG, "fit: initial_batch %lld must be below the %lld batches of an epoch",
                      (long long)opts->initial_batch, (long long)span_count);
        goto done;
    }
    /* a stateful RNN takes only batches of its own size: refused before any
     * epoch (Keras fails at the first other batch, mid-run) */
    bool last_batch = false, validates = false;
    for (int e = opts->initial_epoch; e < opts->epochs && !(last_batch && validates); e++) {
        rnnc_fit_epoch_span(steps, opts->steps_per_epoch, e - origin, &span_first, &span_count, &span_pass);
        last_batch = last_batch || span_first + span_count == steps;
        validates = validates || (e + 1) % vfreq == 0;
    }
    rnnc_fit_epoch_span(steps, opts->steps_per_epoch, opts->initial_epoch - origin, &span_first, &span_count, &span_pass);
    if (opts->epochs > opts->initial_epoch &&
        ((s = rnnc_trainer_check_batches(tr, "fit", "training data", n, bs, last_batch)) ||
         (validates && (xv || opts->val_source) &&
          (s = rnnc_trainer_check_batches(tr, "fit", "validation data", xv ? xv->shape.dim[0] : opts->val_source->n,
                                          bs, true)))))
        goto done;
    int64_t *order = iota(n);
    rnnc_history *h = calloc(1, sizeof *h);
    if (!order || !h) {
        free(order);
        free(h);
        s = rnnc_fail(RNNC_E_NOMEM, "fit: out of memory");
        goto done;
    }
    rnnc_rng rng;
    rnnc_rng_init(&rng, opts->seed);
    tr->print = opts->print;
    tr->print_user = opts->print_user;
    tr->fit_epochs = opts->epochs;
    tr->fit_steps = span_count;
    tr->stop = false;
    rnnc_logs epoch_logs;
    memset(&epoch_logs, 0, sizeof epoch_logs);

    if (distributed(tr) && (s = rnnc__dist_broadcast_weights(tr->comm, tr->model)))
        goto out;
    EACH_CB(on_train_begin, cbs[c_], tr)
    for (int epoch = opts->initial_epoch; epoch < opts->epochs && !s; epoch++) {
        /* A run resumed inside this epoch keeps the metrics set for it. */
        const int64_t done_before = epoch == opts->initial_epoch ? opts->initial_batch : 0;
        rnnc_fit_epoch_span(steps, opts->steps_per_epoch, epoch - origin, &span_first, &span_count, &span_pass);
        tr->fit_steps = span_count;
        const int64_t first = span_first + done_before, end = span_first + span_count;
        bool asked = ask_stop(opts);
        if (!s && (s = dist_agree(tr, &asked)))
            break;
        if (asked) {
            tr->interrupted = true;
            tr->interrupted_epoch = epoch;
            tr->interrupted_batch = done_before;
            break;
        }
        if (done_before == 0)
            reset_metrics(tr);
        EACH_CB(on_epoch_begin, cbs[c_], tr, epoch)
        if (!s && (s = dist_sync_lr(tr)))
            break;
        /* a new permutation for each pass over the data (each epoch without steps_per_epoch) */
        if (opts->shuffle && n > 1 && (span_first == 0 || epoch == opts->initial_epoch))
            rnnc_rng_permutation(&rng, order, (size_t)n);
        for (int64_t k = first; k < end && !s; k++) {
            s = batch_step(tr, xt, yt, swt, order, n, bs, k, true);
            if (s) {
                s = rnnc_fail_context(s, "fit: epoch %d, batch %lld: ", epoch + 1, (long long)k);
                break;
            }
            rnnc_logs bl;
            memset(&bl, 0, sizeof bl);
            if ((s = results(tr, "", &bl)))
                break;
            EACH_CB(on_train_batch_end, cbs[c_], tr, (int)(k - span_first), &bl)
            bool asked_now = !s && k + 1 < end && ask_stop(opts);
            if (!s && (s = dist_agree(tr, &asked_now)))
                break;
            if (tr->stop)
                break;
            if (!s && k + 1 < end && asked_now) {
                tr->interrupted = true;
                tr->interrupted_epoch = epoch;
                tr->interrupted_batch = k + 1 - span_first;
                break;
            }
        }
        if (s || tr->interrupted)
            break;
        memset(&epoch_logs, 0, sizeof epoch_logs);
        if ((s = results(tr, "", &epoch_logs)))
            break;
        if ((xv || opts->val_source) && (epoch + 1) % vfreq == 0 &&
            (s = xv ? evaluate_impl(tr, xv, yv, swv, bs, "val_", &epoch_logs)
                    : evaluate_rows(tr, opts->val_source, bs, "val_", &epoch_logs))) {
            s = rnnc_fail_context(s, "fit: validation after epoch %d: ", epoch + 1);
            break;
        }
        if (dev_dirty && !(s = rnnc__dstep_download(tr->dstep)))
            dev_dirty = false;
        EACH_CB(on_epoch_end, cbs[c_], tr, epoch, &epoch_logs)
        if (!s && tr->dstep && !(s = rnnc__dstep_upload(tr->dstep, true)))
            dev_dirty = true; /* a callback may have set the weights (restore_best_weights) */
        bool no_ask = false;
        if (!s && !(s = dist_sync_lr(tr)))
            s = dist_agree(tr, &no_ask);
        if (!s)
            s = history_add(h, epoch, &epoch_logs);
        if (tr->stop)
            break;
    }
    if (dev_dirty) {
        rnnc_status sd = rnnc__dstep_download(tr->dstep);
        if (!s)
            s = sd;
        dev_dirty = false;
    }
    if (!s && !tr->interrupted && opts->epochs > opts->initial_epoch) {
        rnnc_weight **w = NULL;
        int nw = 0;
        if (!(s = trainable_weights(tr->model, &w, &nw)) && rnnc_optimizer_built(tr->opt))
            s = rnnc_optimizer_finalize(tr->opt, w, nw);
        free(w);
    }
    if (!s && !tr->interrupted)
        EACH_CB(on_train_end, cbs[c_], tr, &epoch_logs)
    /* rank 0's weights win (EarlyStopping's restore_best_weights runs where it was given) */
    if (!s && distributed(tr))
        s = rnnc__dist_broadcast_weights(tr->comm, tr->model);
out:
    free(order);
    tr->print = NULL;
    tr->print_user = NULL;
    tr->fit_epochs = 0;
    tr->fit_steps = 0;
    if (!s && history)
        *history = h;
    else
        rnnc_history_destroy(h);
done:
    fit_state_free(&f);
    return s;
}
