/* trainer_dist.c - gradient buckets and model synchronisation for
 * data-parallel training (trainer_dist_internal.h).
 *
 * Buckets: the trainable gradients are laid out in one flat buffer, last
 * weight first, cut into buckets of a fixed size. While backward runs,
 * autograd says when a weight's gradient is final (rnnc_ctx_watch_grads);
 * it is copied into the buffer, and every bucket whose weights are all
 * there is handed to a non-blocking allreduce, always in bucket order so
 * that every rank issues the same collectives in the same order. */
#include "optim/trainer_dist_internal.h"

#include <stdlib.h>
#include <string.h>

#include "framework/config.h"
#include "framework/sparse_grad.h"

struct rnnc__dist_grads {
    rnnc_comm *comm;
    int n;
    rnnc_weight **w;
    rnnc_tensor **leaves;
    size_t *off;        /* each weight's offset in the flat buffer */
    size_t total, bucket;
    rnnc_dtype dt;      /* F32 when every weight is, else F64 */
    void *flat;
    int n_buckets, next_launch;
    int *left, *left0;  /* weights not yet in each bucket (now / at start) */
    bool *done;
};

void rnnc__dist_split(int64_t m, int n, int r, int64_t *lo, int64_t *hi)
{
    const int64_t q = m / n, rem = m % n;
    *lo = r * q + (r < rem ? r : rem);
    *hi = *lo + q + (r < rem);
}

static bool holds_synchronized(const rnnc_cfg *c)
{
    if (!c || (c->type != RNNC_CFG_MAP && c->type != RNNC_CFG_LIST))
        return false;
    for (size_t i = 0; i < c->n; i++) {
        const rnnc_cfg *v = c->items[i];
        if (c->type == RNNC_CFG_MAP && strcmp(c->keys[i], "synchronized") == 0 && v && v->type == RNNC_CFG_BOOL &&
            v->v.b)
            return true;
        if (holds_synchronized(v))
            return true;
    }
    return false;
}

int rnnc__dist_model_collective(const rnnc_model *m)
{
    rnnc_cfg *c = NULL;
    /* no config (a layer without one, no memory): maybe, so yes; a stand-in
     * step that joins nothing costs a row's forward, a missing one a hang */
    if (rnnc_model_serialize(m, &c) != RNNC_OK)
        return 1;
    const bool yes = holds_synchronized(c);
    rnnc_cfg_destroy(c);
    return yes;
}

void rnnc__dist_grads_destroy(rnnc__dist_grads *g)
{
    if (!g)
        return;
    free(g->w);
    free(g->leaves);
    free(g->off);
    free(g->flat);
    free(g->left);
    free(g->left0);
    free(g->done);
    free(g);
}

rnnc_status rnnc__dist_grads_create(rnnc_comm *comm, rnnc_weight *const *w, int n, size_t bucket_bytes,
                                    rnnc__dist_grads **out)
{
    *out = NULL;
    rnnc__dist_grads *g = calloc(1, sizeof *g);
    if (!g)
        return rnnc_fail(RNNC_E_NOMEM, "data-parallel gradients: out of memory");
    g->comm = comm;
    g->n = n;
    g->dt = RNNC_F32;
    g->w = calloc((size_t)n + 1, sizeof *g->w);
    g->leaves = calloc((size_t)n + 1, sizeof *g->leaves);
    g->off = calloc((size_t)n + 1, sizeof *g->off);
    g->done = calloc((size_t)n + 1, sizeof *g->done);
    if (!g->w || !g->leaves || !g->off || !g->done)
        goto nomem;
    for (int i = n; i-- > 0;) {
        g->w[i] = w[i];
        g->leaves[i] = w[i]->value;
        g->off[i] = g->total;
        g->total += w[i]->value->numel;
        if (w[i]->value->dtype != RNNC_F32)
            g->dt = RNNC_F64;
    }
    const size_t es = rnnc_dtype_size(g->dt);
    g->bucket = bucket_bytes / es ? bucket_bytes / es : 1;
    g->n_buckets = (int)((g->total + g->bucket - 1) / g->bucket);
    g->flat = malloc((g->total ? g->total : 1) * es);
    g->left = calloc((size_t)g->n_buckets + 1, sizeof *g->left);
    g->left0 = calloc((size_t)g->n_buckets + 1, sizeof *g->left0);
    if (!g->flat || !g->left || !g->left0)
        goto nomem;
    for (int i = 0; i < n; i++) {
        const size_t k = g->leaves[i]->numel;
        if (k == 0)
            continue;
        for (size_t b = g->off[i] / g->bucket; b <= (g->off[i] + k - 1) / g->bucket; b++)
            g->left0[b]++;
    }
    *out = g;
    return RNNC_OK;
nomem:
    rnnc__dist_grads_destroy(g);
    return rnnc_fail(RNNC_E_NOMEM, "data-parallel gradients: out of memory");
}

bool rnnc__dist_grads_matches(const rnnc__dist_grads *g, rnnc_weight *const *w, int n)
{
    if (!g || g->n != n)
        return false;
    for (int i = 0; i < n; i++)
        if (g->w[i] != w[i] || g->leaves[i] != w[i]->value)
            return false;
    return true;
}

int rnnc__dist_grads_buckets(const rnnc__dist_grads *g) { return g ? g->n_buckets : 0; }

static rnnc_status launch_ready(rnnc__dist_grads *g)
{
    const size_t es = rnnc_dtype_size(g->dt);
    while (g->next_launch < g->n_buckets && g->left[g->next_launch] == 0) {
        const size_t a = (size_t)g->next_launch * g->bucket;
        const size_t b = a + g->bucket < g->total ? a + g->bucket : g->total;
        RNNC_TRY(rnnc_comm_iallreduce_sum(g->comm, (char *)g->flat + a * es, b - a, g->dt));
        g->next_launch++;
    }
    return RNNC_OK;
}

static rnnc_status grad_ready(void *user, int i)
{
    rnnc__dist_grads *g = user;
    if (g->done[i])
        return RNNC_OK;
    g->done[i] = true;
    const rnnc_tensor *t = g->leaves[i];
    const size_t k = t->numel;
    if (k == 0)
        return RNNC_OK;
    if (g->dt == RNNC_F32) {
        float *dst = (float *)g->flat + g->off[i];
        if (t->grad)
            memcpy(dst, t->grad, k * sizeof *dst);
        else
            memset(dst, 0, k * sizeof *dst);
    } else {
        double *dst = (double *)g->flat + g->off[i];
        for (size_t j = 0; j < k; j++)
            dst[j] = !t->grad ? 0.0
                     : t->dtype == RNNC_F32 ? (double)((const float *)t->grad)[j]
                                            : ((const double *)t->grad)[j];
    }
    for (size_t b = g->off[i] / g->bucket; b <= (g->off[i] + k - 1) / g->bucket; b++)
        g->left[b]--;
    return launch_ready(g);
}

void rnnc__dist_grads_begin(rnnc__dist_grads *g, rnnc_ctx *cx)
{
    memcpy(g->left, g->left0, (size_t)g->n_buckets * sizeof *g->left);
    memset(g->done, 0, (size_t)g->n * sizeof *g->done);
    g->next_launch = 0;
    rnnc_ctx_watch_grads(cx, g->leaves, g->n, grad_ready, g);
}

/* An Embedding's gradient rows per occurrence (sparse_grad.h): every
 * rank's rows, in rank order, on every rank. Each rank's rows are its part
 * of the batch in batch order, so the optimizer sees the rows a one-process
 * run would (its dense buffer went through the buckets; whether any rank
 * had a dense part decides whether it counts). */
static rnnc_status gather_rows(rnnc__dist_grads *g, rnnc_tensor *t)
{
    rnnc_sparse_grad *sg = t->sgrad;
    const int R = rnnc_comm_size(g->comm), me = rnnc_comm_rank(g->comm);
    const size_t D = (size_t)sg->width, es = rnnc_dtype_size(t->dtype);
    double *cnt = calloc((size_t)R + 2, sizeof *cnt); /* rows per rank, any live, any dense */
    if (!cnt)
        return rnnc_fail(RNNC_E_NOMEM, "data-parallel gradients: out of memory");
    cnt[me] = sg->live ? (double)sg->n : 0.0;
    cnt[R] = sg->live;
    cnt[R + 1] = sg->dense_live;
    rnnc_status s = rnnc_comm_allreduce_sum(g->comm, cnt, (size_t)R + 2, RNNC_F64);
    size_t total = 0, before = 0;
    for (int r = 0; r < R; r++) {
        before += r < me ? (size_t)cnt[r] : 0;
        total += (size_t)cnt[r];
    }
    const bool live = cnt[R] > 0, dense = cnt[R + 1] > 0;
    free(cnt);
    if (s != RNNC_OK || !live) {
        sg->n = 0;
        sg->live = false;
        sg->dense_live = dense;
        return s;
    }
    double *ids = calloc(total + 1, sizeof *ids);
    char *rows = calloc(total * D + 1, es);
    int32_t *ids32 = calloc(total + 1, sizeof *ids32);
    if (!ids || !rows || !ids32)
        s = rnnc_fail(RNNC_E_NOMEM, "data-parallel gradients: out of memory for %zu gradient rows", total);
    if (!s && sg->live && sg->n > 0) {
        for (int64_t k = 0; k < sg->n; k++)
            ids[before + (size_t)k] = sg->ids[k];
        memcpy(rows + before * D * es, sg->rows, (size_t)sg->n * D * es);
    }
    if (!s)
        s = rnnc_comm_allreduce_sum(g->comm, ids, total, RNNC_F64);
    if (!s)
        s = rnnc_comm_allreduce_sum(g->comm, rows, total * D, t->dtype);
    if (!s) {
        for (size_t k = 0; k < total; k++)
            ids32[k] = (int32_t)ids[k];
        sg->n = 0;
        s = rnnc_tensor_sparse_grad_append(t, ids32, rows, (int64_t)total);
        sg->dense_live = dense;
    }
    free(ids);
    free(rows);
    free(ids32);
    return s;
}

rnnc_status rnnc__dist_grads_finish(rnnc__dist_grads *g, rnnc_ctx *cx)
{
    rnnc_ctx_watch_grads(cx, NULL, 0, NULL, NULL);
    for (int i = 0; i < g->n; i++)
        RNNC_TRY(grad_ready(g, i));
    RNNC_TRY(rnnc_comm_wait_all(g->comm));
    for (int i = 0; i < g->n; i++)
        if (g->leaves[i]->sgrad)
            RNNC_TRY(gather_rows(g, g->leaves[i]));
    for (int i = 0; i < g->n; i++) {
        rnnc_tensor *t = g->leaves[i];
        if (t->numel == 0)
            continue;
        RNNC_TRY(rnnc_tensor_ensure_grad(t));
        if (g->dt == RNNC_F32) {
            memcpy(t->grad, (float *)g->flat + g->off[i], t->numel * sizeof(float));
        } else {
            const double *src = (const double *)g->flat + g->off[i];
            for (size_t j = 0; j < t->numel; j++) {
                if (t->dtype == RNNC_F32)
                    ((float *)t->grad)[j] = (float)src[j];
                else
                    ((double *)t->grad)[j] = src[j];
            }
        }
    }
    return RNNC_OK;
}

/* All weights of m (trainable first) into *w (caller frees). */
static rnnc_status all_weights(rnnc_model *m, rnnc_weight ***w, int *n)
{
    int cap = 256;
    for (;;) {
        *w = malloc((size_t)cap * sizeof **w);
        if (!*w)
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        rnnc_status s = rnnc_model_weights(m, *w, cap, n);
        if (s == RNNC_OK && *n <= cap)
            return RNNC_OK;
        free(*w);
        *w = NULL;
        if (s != RNNC_OK)
            return s;
        cap = *n;
    }
}

rnnc_status rnnc__dist_broadcast_weights(rnnc_comm *comm, rnnc_model *m)
{
    if (rnnc_comm_size(comm) == 1)
        return RNNC_OK;
    rnnc_weight **w;
    int n;
    RNNC_TRY(all_weights(m, &w, &n));
    rnnc_status s = RNNC_OK;
    for (int i = 0; i < n && !s; i++) {
        rnnc_tensor *t = w[i]->value;
        s = rnnc_comm_broadcast(comm, t->data, t->numel * rnnc_dtype_size(t->dtype), 0);
    }
    free(w);
    return s ? rnnc_fail_context(s, "data-parallel: the initial weights: ") : RNNC_OK;
}

rnnc_status rnnc__dist_average_state(rnnc_comm *comm, rnnc_model *m, bool active, int n_active)
{
    if (rnnc_comm_size(comm) == 1)
        return RNNC_OK;
    rnnc_weight **w;
    int n;
    RNNC_TRY(all_weights(m, &w, &n));
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (!w[i]->trainable && rnnc_dtype_is_float(w[i]->value->dtype))
            total += w[i]->value->numel;
    if (total == 0) {
        free(w);
        return RNNC_OK;
    }
    double *buf = malloc(total * sizeof *buf);
    if (!buf) {
        free(w);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        const rnnc_tensor *t = w[i]->value;
        if (w[i]->trainable || !rnnc_dtype_is_float(t->dtype))
            continue;
        for (size_t j = 0; j < t->numel; j++)
            buf[at++] = active ? rnnc_tensor_get(t, j) : 0.0;
    }
    rnnc_status s = rnnc_comm_allreduce_sum(comm, buf, total, RNNC_F64);
    at = 0;
    for (int i = 0; i < n && !s; i++) {
        rnnc_tensor *t = w[i]->value;
        if (w[i]->trainable || !rnnc_dtype_is_float(t->dtype))
            continue;
        for (size_t j = 0; j < t->numel; j++)
            rnnc_tensor_set(t, j, buf[at++] / (double)n_active);
    }
    free(buf);
    free(w);
    return s;
}
