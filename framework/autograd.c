/* autograd.c - the context (owned tensors + tape) and reverse-mode backward.
 *
 * The tape is the list of nodes in recording order, which is a topological
 * order of the computation, so walking it backwards visits every node after
 * all of its consumers. */
#include "framework/autograd.h"
#include "framework/sparse_grad.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rnnc_ctx {
    rnnc_tensor **tensors; /* owned: results and temporaries */
    size_t n_tensors, cap_tensors;
    rnnc_node **nodes;     /* the tape, in recording order */
    size_t n_nodes, cap_nodes;
    bool grad_enabled;
    rnnc_comm *comm;       /* rnnc_ctx_set_comm */
    /* rnnc_ctx_watch_grads */
    rnnc_tensor *const *watch;
    int n_watch;
    rnnc_grad_ready_fn ready;
    void *ready_user;
};

void rnnc_ctx_watch_grads(rnnc_ctx *cx, rnnc_tensor *const *leaves, int n, rnnc_grad_ready_fn ready,
                          void *user)
{
    cx->watch = leaves;
    cx->n_watch = leaves && ready ? n : 0;
    cx->ready = ready;
    cx->ready_user = user;
}

rnnc_ctx *rnnc_ctx_create(void)
{
    rnnc_ctx *cx = calloc(1, sizeof *cx);
    if (cx)
        cx->grad_enabled = true;
    return cx;
}

void rnnc_ctx_clear(rnnc_ctx *cx)
{
    if (!cx)
        return;
    for (size_t i = 0; i < cx->n_nodes; i++) {
        rnnc_node *n = cx->nodes[i];
        if (n->free_state)
            n->free_state(n->state);
        free(n);
    }
    cx->n_nodes = 0;
    for (size_t i = 0; i < cx->n_tensors; i++)
        rnnc_tensor_destroy(cx->tensors[i]);
    cx->n_tensors = 0;
}

void rnnc_ctx_destroy(rnnc_ctx *cx)
{
    if (!cx)
        return;
    rnnc_ctx_clear(cx);
    free(cx->tensors);
    free(cx->nodes);
    free(cx);
}

bool rnnc_ctx_set_grad_enabled(rnnc_ctx *cx, bool on)
{
    bool old = cx->grad_enabled;
    cx->grad_enabled = on;
    return old;
}

bool rnnc_ctx_grad_enabled(const rnnc_ctx *cx) { return cx->grad_enabled; }

void rnnc_ctx_set_comm(rnnc_ctx *cx, rnnc_comm *comm) { cx->comm = comm; }
rnnc_comm *rnnc_ctx_comm(const rnnc_ctx *cx) { return cx ? cx->comm : NULL; }

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

rnnc_status rnnc_ctx_adopt(rnnc_ctx *cx, rnnc_tensor *t)
{
    if (grow((void **)&cx->tensors, &cx->cap_tensors, cx->n_tensors + 1, sizeof *cx->tensors)) {
        rnnc_tensor_destroy(t);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory growing the context's tensor list");
    }
    cx->tensors[cx->n_tensors++] = t;
    return RNNC_OK;
}

rnnc_status rnnc_ctx_tensor(rnnc_ctx *cx, rnnc_dtype dtype, const rnnc_shape *shape,
                            rnnc_tensor **out)
{
    RNNC_TRY(rnnc_tensor_create(dtype, shape, out));
    rnnc_status s = rnnc_ctx_adopt(cx, *out);
    if (s != RNNC_OK)
        *out = NULL;
    return s;
}

rnnc_status rnnc_ctx_record(rnnc_ctx *cx, const char *op, rnnc_backward_fn backward,
                            int n_in, rnnc_tensor *const *in, int n_out,
                            rnnc_tensor *const *out, rnnc_node **node)
{
    *node = NULL;
    if (n_in > RNNC_NODE_MAX_IN || n_out > RNNC_NODE_MAX_OUT || n_out < 1)
        return rnnc_fail(RNNC_E_ARG, "%s: too many inputs (%d) or outputs (%d) for a tape node", op,
                         n_in, n_out);
    if (!cx->grad_enabled)
        return RNNC_OK;
    bool any = false;
    for (int i = 0; i < n_in; i++)
        any = any || (in[i] && in[i]->requires_grad);
    if (!any)
        return RNNC_OK;
    rnnc_node *n = calloc(1, sizeof *n);
    if (!n || grow((void **)&cx->nodes, &cx->cap_nodes, cx->n_nodes + 1, sizeof *cx->nodes)) {
        free(n);
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory recording a tape node", op);
    }
    n->op = op;
    n->backward = backward;
    n->cx = cx;
    n->n_in = n_in;
    n->n_out = n_out;
    for (int i = 0; i < n_in; i++)
        n->in[i] = in[i];
    for (int i = 0; i < n_out; i++) {
        n->out[i] = out[i];
        out[i]->requires_grad = true;
        out[i]->node = n;
    }
    cx->nodes[cx->n_nodes++] = n;
    *node = n;
    return RNNC_OK;
}

static void add_into_grad(rnnc_tensor *t, const rnnc_tensor *seed)
{
    if (t->dtype == RNNC_F32)
        for (size_t i = 0; i < t->numel; i++)
            ((float *)t->grad)[i] += (float)rnnc_tensor_get(seed, i);
    else
        for (size_t i = 0; i < t->numel; i++)
            ((double *)t->grad)[i] += rnnc_tensor_get(seed, i);
}

rnnc_status rnnc_ctx_seed_grad(rnnc_ctx *cx, rnnc_tensor *t, const rnnc_tensor *seed)
{
    char a[160], b[160];
    (void)cx;
    if (!rnnc_dtype_is_float(t->dtype))
        return rnnc_fail(RNNC_E_DTYPE, "backward: cannot differentiate a %s tensor",
                         rnnc_dtype_name(t->dtype));
    if (seed && seed->numel != t->numel)
        return rnnc_fail(RNNC_E_SHAPE, "backward: seed of shape %s for a tensor of shape %s",
                         rnnc_shape_str(&seed->shape, a, sizeof a),
                         rnnc_shape_str(&t->shape, b, sizeof b));
    RNNC_TRY(rnnc_tensor_grad_mark_dense(t));
    if (seed)
        add_into_grad(t, seed);
    else if (t->dtype == RNNC_F32)
        for (size_t i = 0; i < t->numel; i++)
            ((float *)t->grad)[i] += 1.0f;
    else
        for (size_t i = 0; i < t->numel; i++)
            ((double *)t->grad)[i] += 1.0;
    return RNNC_OK;
}

typedef struct watch_key {
    const rnnc_tensor *t;
    int i;
} watch_key;

static int cmp_watch_ptr(const void *a, const void *b)
{
    const uintptr_t x = (uintptr_t)((const watch_key *)a)->t, y = (uintptr_t)((const watch_key *)b)->t;
    return x < y ? -1 : x > y;
}

/* The order leaves become final in a reverse walk: *order gets the leaf
 * indices by decreasing last_use (the smallest node index reading them; -1
 * when none does, which sorts last). Caller frees both. */
static rnnc_status watch_plan(const rnnc_ctx *cx, long **last_use, int **order)
{
    const int n = cx->n_watch;
    watch_key *keys = malloc((size_t)n * sizeof *keys);
    *last_use = malloc((size_t)n * sizeof **last_use);
    *order = malloc((size_t)n * sizeof **order);
    if (!keys || !*last_use || !*order) {
        free(keys);
        return rnnc_fail(RNNC_E_NOMEM, "backward: out of memory");
    }
    for (int i = 0; i < n; i++) {
        keys[i].t = cx->watch[i];
        keys[i].i = i;
        (*last_use)[i] = -1;
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_watch_ptr);
    for (size_t k = cx->n_nodes; k-- > 0;)
        for (int j = 0; j < cx->nodes[k]->n_in; j++) {
            watch_key probe = {cx->nodes[k]->in[j], 0};
            const watch_key *hit = probe.t ? bsearch(&probe, keys, (size_t)n, sizeof *keys, cmp_watch_ptr) : NULL;
            if (hit)
                (*last_use)[hit->i] = (long)k;
        }
    free(keys);
    /* insertion sort by decreasing last_use (n is the number of weights) */
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && (*last_use)[(*order)[j - 1]] < (*last_use)[i]) {
            (*order)[j] = (*order)[j - 1];
            j--;
        }
        (*order)[j] = i;
    }
    return RNNC_OK;
}

rnnc_status rnnc_backward_seeded(rnnc_ctx *cx)
{
    long *last_use = NULL;
    int *order = NULL, next = 0;
    if (cx->n_watch > 0) {
        rnnc_status s = watch_plan(cx, &last_use, &order);
        if (s != RNNC_OK) {
            free(last_use);
            free(order);
            return s;
        }
    }
    rnnc_status s = RNNC_OK;
    for (size_t k = cx->n_nodes; k-- > 0 && s == RNNC_OK;) {
        rnnc_node *n = cx->nodes[k];
        bool live = n->collective;
        for (int i = 0; i < n->n_out; i++)
            live = live || n->out[i]->grad != NULL;
        if (live) {
            for (int i = 0; i < n->n_in && s == RNNC_OK; i++) {
                rnnc_tensor *in = n->in[i];
                if (!in || !in->requires_grad || (in->sgrad && (n->sparse_in >> i & 1u)))
                    continue; /* a sparse-aware op appends rows instead (sparse_grad.h) */
                s = rnnc_tensor_grad_mark_dense(in);
            }
            if (s == RNNC_OK && (s = n->backward(n)) != RNNC_OK)
                s = rnnc_fail_context(s, "backward of %s: ", n->op);
        }
        while (s == RNNC_OK && next < cx->n_watch && last_use[order[next]] == (long)k)
            s = cx->ready(cx->ready_user, order[next++]);
    }
    while (s == RNNC_OK && next < cx->n_watch)
        s = cx->ready(cx->ready_user, order[next++]);
    free(last_use);
    free(order);
    return s;
}

rnnc_status rnnc_backward_with(rnnc_ctx *cx, rnnc_tensor *t, const rnnc_tensor *seed)
{
    RNNC_TRY(rnnc_ctx_seed_grad(cx, t, seed));
    return rnnc_backward_seeded(cx);
}

rnnc_status rnnc_backward(rnnc_ctx *cx, rnnc_tensor *loss)
{
    char a[160];
    if (loss->numel != 1)
        return rnnc_fail(RNNC_E_SHAPE, "backward: the loss must have one element, got shape %s",
                         rnnc_shape_str(&loss->shape, a, sizeof a));
    return rnnc_backward_with(cx, loss, NULL);
}
