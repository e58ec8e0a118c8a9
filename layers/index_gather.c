/* index_gather.c - see index_gather.h. */
#include "layers/index_gather.h"

#include <stdlib.h>
#include <strings.h>
#include <string.h>

static void free_map(void *p) { free(p); }

static rnnc_status gather_backward(rnnc_node *n)
{
    const int64_t *idx = n->state;
    rnnc_tensor *x = n->in[0], *y = n->out[0];
    if (!x->requires_grad || !y->grad)
        return RNNC_OK;
    if (x->dtype == RNNC_F32) {
        float *dx = x->grad;
        const float *dy = y->grad;
        for (size_t i = 0; i < y->numel; i++)
            if (idx[i] >= 0)
                dx[idx[i]] += dy[i];
    } else {
        double *dx = x->grad;
        const double *dy = y->grad;
        for (size_t i = 0; i < y->numel; i++)
            if (idx[i] >= 0)
                dx[idx[i]] += dy[i];
    }
    return RNNC_OK;
}

rnnc_status rnnc__index_gather(rnnc_ctx *cx, rnnc_tensor *x, const int64_t *idx,
                               const rnnc_shape *out_shape, double fill, rnnc_tensor **y)
{
    if (x->dtype != RNNC_F32 && x->dtype != RNNC_F64)
        return rnnc_fail(RNNC_E_DTYPE, "index_gather: x must be float32 or float64, got %s",
                         rnnc_dtype_name(x->dtype));
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, out_shape, y));
    rnnc_tensor *t = *y;
    for (size_t i = 0; i < t->numel; i++)
        if (idx[i] >= (int64_t)x->numel || idx[i] < -1)
            return rnnc_fail(RNNC_E_ARG, "index_gather: index %lld out of range for %zu elements",
                             (long long)idx[i], x->numel);
    if (x->dtype == RNNC_F32)
        for (size_t i = 0; i < t->numel; i++)
            ((float *)t->data)[i] = idx[i] >= 0 ? ((const float *)x->data)[idx[i]] : (float)fill;
    else
        for (size_t i = 0; i < t->numel; i++)
            ((double *)t->data)[i] = idx[i] >= 0 ? ((const double *)x->data)[idx[i]] : fill;
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "index_gather", gather_backward, 1, &x, 1, y, &node));
    if (node) {
        int64_t *copy = malloc((t->numel ? t->numel : 1) * sizeof *copy);
        if (!copy)
            return rnnc_fail(RNNC_E_NOMEM, "index_gather: out of memory");
        memcpy(copy, idx, t->numel * sizeof *copy);
        node->state = copy;
        node->free_state = free_map;
    }
    return RNNC_OK;
}

int64_t *rnnc__swap_last_axes_map(int64_t B, int64_t M, int64_t N)
{
    int64_t *m = malloc((size_t)(B * M * N > 0 ? B * M * N : 1) * sizeof *m);
    if (!m)
        return NULL;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < N; j++)
            for (int64_t i = 0; i < M; i++)
                m[(b * N + j) * M + i] = (b * M + i) * N + j;
    return m;
}

void rnnc__window1d(int64_t L, int64_t size, int64_t stride, int64_t dilation, rnnc__padding pad,
                    int64_t *out_len, int64_t *pad_left)
{
    const int64_t span = dilation * (size - 1) + 1;
    *pad_left = 0;
    if (pad == RNNC_PAD_SAME) {
        *out_len = (L + stride - 1) / stride;
        int64_t total = (*out_len - 1) * stride + span - L;
        *pad_left = total > 0 ? total / 2 : 0;
    } else if (pad == RNNC_PAD_CAUSAL) {
        *pad_left = span - 1;
        *out_len = (L + *pad_left - span) / stride + 1;
    } else {
        *out_len = L >= span ? (L - span) / stride + 1 : 0;
    }
}

rnnc_status rnnc__read_int1(const rnnc_cfg *cfg, const char *what, const char *key, int64_t dflt,
                            int64_t *out)
{
    char w[300];
    const rnnc_cfg *v = rnnc_cfg_get(cfg, key);
    *out = dflt;
    if (!v || v->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (v->type == RNNC_CFG_LIST && v->n == 1)
        v = v->items[0];
    if (v->type != RNNC_CFG_INT || v->v.i < 1 || v->v.i > RNNC_CFG_MAX_DIM)
        return rnnc_fail(RNNC_E_ARG, "%s: '%s' must be a positive integer or a list of one%s", what,
                         key, rnnc_cfg_where(v, w, sizeof w));
    *out = v->v.i;
    return RNNC_OK;
}

rnnc_status rnnc__read_padding(const rnnc_cfg *cfg, const char *what, bool causal_ok,
                               rnnc__padding *out)
{
    const char *p;
    RNNC_TRY(rnnc_cfg_read_string(cfg, what, "padding", "valid", &p));
    if (strcasecmp(p, "valid") == 0)
        *out = RNNC_PAD_VALID;
    else if (strcasecmp(p, "same") == 0)
        *out = RNNC_PAD_SAME;
    else if (causal_ok && strcasecmp(p, "causal") == 0)
        *out = RNNC_PAD_CAUSAL;
    else
        return rnnc_fail(RNNC_E_ARG, "%s: 'padding' must be one of \"valid\", \"same\"%s, got \"%s\"",
                         what, causal_ok ? ", \"causal\"" : "", p);
    return RNNC_OK;
}

rnnc_status rnnc__read_data_format(const rnnc_cfg *cfg, const char *what, bool *first)
{
    const char *f;
    RNNC_TRY(rnnc_cfg_read_string(cfg, what, "data_format", "channels_last", &f));
    if (strcmp(f, "channels_last") && strcmp(f, "channels_first"))
        return rnnc_fail(RNNC_E_ARG, "%s: 'data_format' must be \"channels_last\" or \"channels_first\", got \"%s\"",
                         what, f);
    *first = strcmp(f, "channels_first") == 0;
    return RNNC_OK;
}

const char *rnnc__padding_name(rnnc__padding p)
{
    return p == RNNC_PAD_SAME ? "same" : p == RNNC_PAD_CAUSAL ? "causal" : "valid";
}

rnnc_status rnnc__set_int1(rnnc_cfg *cfg, const char *key, int64_t v)
{
    rnnc_cfg *l = rnnc_cfg_list();
    if (!l)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_status s = rnnc_cfg_push(l, rnnc_cfg_int(v));
    if (s) {
        rnnc_cfg_destroy(l);
        return s;
    }
    return rnnc_cfg_set(cfg, key, l);
}

rnnc_status rnnc__swap_last_axes(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y)
{
    const int64_t B = x->shape.dim[0], M = x->shape.dim[1], N = x->shape.dim[2];
    int64_t *t = rnnc__swap_last_axes_map(B, M, N);
    const rnnc_shape s = RNNC_SHAPE(B, N, M);
    if (!t)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory transposing %lld x %lld x %lld",
                         (long long)B, (long long)M, (long long)N);
    rnnc_status st = rnnc__index_gather(cx, x, t, &s, 0.0, y);
    free(t);
    return st;
}
