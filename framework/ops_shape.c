/* ops_shape.c - data movement: reshape, slice, concat, stack, reverse.
 *
 * These copy (no strided views in rnnc: see tensor.h), and work on every
 * dtype, so uint8 masks and int32 ids can be sliced, stacked and reversed
 * too; gradients flow only through float tensors. Each op sees its tensors
 * as (outer, mid, inner) around the axis it works on, so the copies are
 * whole contiguous blocks of `inner` elements.
 *
 * A tape node holds at most RNNC_NODE_MAX_IN inputs, so when a gradient is
 * being recorded, concat/stack of more tensors than that builds a tree:
 * join groups of RNNC_NODE_MAX_IN, then join the group results. */
#include "framework/ops.h"
#include "framework/ops_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool needs_node(const rnnc_ctx *cx, rnnc_tensor *const *xs, int n)
{
    if (!rnnc_ctx_grad_enabled(cx))
        return false;
    for (int i = 0; i < n; i++)
        if (xs[i]->requires_grad)
            return true;
    return false;
}

/* ---- reshape ----------------------------------------------------------- */

static rnnc_status copy_backward(rnnc_node *n) /* same flat order: dx += dy */
{
    rnnc_tensor *x = n->in[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        T *gx = x->grad;
        const T *g = out->grad;
        for (size_t i = 0; i < x->numel; i++)
            gx[i] += g[i];
    });
    return RNNC_OK;
}

rnnc_status rnnc_reshape(rnnc_ctx *cx, rnnc_tensor *x, const rnnc_shape *shape, rnnc_tensor **y)
{
    char sx[160], ss[160];
    RNNC_TRY(rnnc__check_nonnull("reshape", "cx", cx));
    RNNC_TRY(rnnc__check_nonnull("reshape", "y", y));
    *y = NULL;
    RNNC_TRY(rnnc__check_tensor("reshape", "x", x));
    RNNC_TRY(rnnc__check_nonnull("reshape", "shape", shape));
    if (shape->ndim < 0 || shape->ndim > RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_SHAPE, "reshape: target rank %d is outside 0..%d", shape->ndim,
                         RNNC_MAX_DIMS);
    /* One -1 entry is inferred from the element count, as in NumPy. */
    rnnc_shape ys = *shape;
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < ys.ndim; d++) {
        if (ys.dim[d] == -1 && infer < 0) {
            infer = d;
            continue;
        }
        if (ys.dim[d] < 0)
            return rnnc_fail(RNNC_E_SHAPE,
                             "reshape: target shape %s has a negative dim (only one -1 is allowed)",
                             RNNC__SHAPE_STR(shape, ss));
        known *= ys.dim[d];
    }
    if (infer >= 0) {
        if (known == 0 || (int64_t)x->numel % known != 0)
            return rnnc_fail(RNNC_E_SHAPE, "reshape: cannot infer the -1 in %s for x of shape %s",
                             RNNC__SHAPE_STR(shape, ss), RNNC__SHAPE_STR(&x->shape, sx));
        ys.dim[infer] = (int64_t)x->numel / known;
    }
    size_t numel;
    RNNC_TRY(rnnc_shape_numel(&ys, &numel));
    if (numel != x->numel)
        return rnnc_fail(RNNC_E_SHAPE, "reshape: cannot reshape x of shape %s (%zu elements) to %s",
                         RNNC__SHAPE_STR(&x->shape, sx), x->numel, RNNC__SHAPE_STR(&ys, ss));
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &ys, &out));
    if (numel)
        memcpy(out->data, x->data, numel * rnnc_dtype_size(x->dtype));
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "reshape", copy_backward, 1, &x, 1, &out, &node));
    *y = out;
    return RNNC_OK;
}

/* ---- slice ------------------------------------------------------------- */

/* iarg: [0] outer, [1] mid (x's axis length), [2] inner, [3] start, [4] len. */
static rnnc_status slice_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    const int64_t outer = n->iarg[0], mid = n->iarg[1], inner = n->iarg[2], start = n->iarg[3],
                  len = n->iarg[4];
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        T *gx = x->grad;
        const T *g = out->grad;
        for (int64_t o = 0; o < outer; o++) {
            T *dst = gx + (o * mid + start) * inner;
            const T *src = g + o * len * inner;
            for (int64_t k = 0; k < len * inner; k++)
                dst[k] += src[k];
        }
    });
    return RNNC_OK;
}

rnnc_status rnnc_slice(rnnc_ctx *cx, rnnc_tensor *x, int axis, int64_t start, int64_t len,
                       rnnc_tensor **y)
{
    char sx[160];
    int ax;
    RNNC_TRY(rnnc__check_nonnull("slice", "cx", cx));
    RNNC_TRY(rnnc__check_nonnull("slice", "y", y));
    *y = NULL;
    RNNC_TRY(rnnc__check_tensor("slice", "x", x));
    if (rnnc_shape_axis(&x->shape, axis, &ax) != RNNC_OK)
        return rnnc_fail(RNNC_E_ARG, "slice: axis %d is out of range for x of shape %s", axis,
                         RNNC__SHAPE_STR(&x->shape, sx));
    const int64_t dim = x->shape.dim[ax];
    if (start < 0 || len < 0 || start > dim || len > dim - start)
        return rnnc_fail(RNNC_E_SHAPE,
                         "slice: range [%lld, %lld) is outside axis %d (length %lld) of x of shape %s",
                         (long long)start, (long long)(start + len), axis, (long long)dim,
                         RNNC__SHAPE_STR(&x->shape, sx));
    rnnc_shape ys = x->shape;
    ys.dim[ax] = len;
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &ys, &out));
    int64_t outer, mid, inner;
    rnnc__split_axis(&x->shape, ax, &outer, &mid, &inner);
    const size_t es = rnnc_dtype_size(x->dtype);
    for (int64_t o = 0; o < outer && len * inner > 0; o++)
        memcpy((char *)out->data + (size_t)(o * len * inner) * es,
               (const char *)x->data + (size_t)((o * mid + start) * inner) * es,
               (size_t)(len * inner) * es);
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "slice", slice_backward, 1, &x, 1, &out, &node));
    if (node) {
        node->iarg[0] = outer;
        node->iarg[1] = mid;
        node->iarg[2] = inner;
        node->iarg[3] = start;
        node->iarg[4] = len;
    }
    *y = out;
    return RNNC_OK;
}

/* ---- concat / stack ---------------------------------------------------- */

/* Input i is (outer, mid_i, inner) and fills columns [sum mid_<i, + mid_i)
 * of the (outer, sum mid, inner) output. iarg: [0] outer, [1] inner. */
static rnnc_status join_backward(rnnc_node *n)
{
    rnnc_tensor *out = n->out[0];
    if (!out->grad)
        return RNNC_OK;
    const int64_t outer = n->iarg[0], inner = n->iarg[1];
    if (outer * inner == 0)
        return RNNC_OK;
    const int64_t total = (int64_t)out->numel / (outer * inner);
    int64_t col = 0;
    for (int i = 0; i < n->n_in; i++) {
        rnnc_tensor *x = n->in[i];
        const int64_t mid = (int64_t)x->numel / (outer * inner);
        if (x->requires_grad && x->grad) {
            RNNC_FLOAT_DISPATCH(x->dtype, T, {
                T *gx = x->grad;
                const T *g = out->grad;
                for (int64_t o = 0; o < outer; o++) {
                    T *dst = gx + o * mid * inner;
                    const T *src = g + (o * total + col) * inner;
                    for (int64_t k = 0; k < mid * inner; k++)
                        dst[k] += src[k];
                }
            });
        }
        col += mid;
    }
    return RNNC_OK;
}

/* Copies xs into a new (ys) tensor as described above; records a node when
 * n fits one. */
static rnnc_status join_flat(rnnc_ctx *cx, const char *name, rnnc_tensor *const *xs, int n,
                             const rnnc_shape *ys, int64_t outer, int64_t inner, rnnc_tensor **y)
{
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, xs[0]->dtype, ys, &out));
    const size_t es = rnnc_dtype_size(xs[0]->dtype);
    if (outer * inner > 0) {
        const int64_t total = (int64_t)out->numel / (outer * inner);
        int64_t col = 0;
        for (int i = 0; i < n; i++) {
            const int64_t mid = (int64_t)xs[i]->numel / (outer * inner);
            for (int64_t o = 0; o < outer && mid > 0; o++)
                memcpy((char *)out->data + (size_t)((o * total + col) * inner) * es,
                       (const char *)xs[i]->data + (size_t)(o * mid * inner) * es,
                       (size_t)(mid * inner) * es);
            col += mid;
        }
    }
    if (n <= RNNC_NODE_MAX_IN) {
        rnnc_node *node;
        RNNC_TRY(rnnc_ctx_record(cx, name, join_backward, n, xs, 1, &out, &node));
        if (node) {
            node->iarg[0] = outer;
            node->iarg[1] = inner;
        }
    }
    *y = out;
    return RNNC_OK;
}

/* Joins n tensors along `ax` of the output rank: stack (new axis) or concat
 * (existing axis). Shapes are already checked. */
static rnnc_status join(rnnc_ctx *cx, const char *name, bool stack, rnnc_tensor *const *xs, int n,
                        int ax, rnnc_tensor **y)
{
    const rnnc_shape *s0 = &xs[0]->shape;
    rnnc_shape ys = {0};
    int64_t outer = 1, inner = 1, total = 0;
    if (stack) {
        ys.ndim = s0->ndim + 1;
        for (int d = 0, k = 0; d < ys.ndim; d++)
            ys.dim[d] = d == ax ? n : s0->dim[k++];
        for (int d = 0; d < ax; d++)
            outer *= s0->dim[d];
        for (int d = ax; d < s0->ndim; d++)
            inner *= s0->dim[d];
    } else {
        ys = *s0;
        for (int i = 0; i < n; i++)
            total += xs[i]->shape.dim[ax];
        ys.dim[ax] = total;
        int64_t mid;
        rnnc__split_axis(s0, ax, &outer, &mid, &inner);
    }
    if (n <= RNNC_NODE_MAX_IN || !needs_node(cx, xs, n))
        return join_flat(cx, name, xs, n, &ys, outer, inner, y);
    /* Too many inputs for one tape node: join groups, then join the groups
     * along the same output axis (a concat; it recurses if still too many). */
    const int groups = (n + RNNC_NODE_MAX_IN - 1) / RNNC_NODE_MAX_IN;
    rnnc_tensor **parts = malloc((size_t)groups * sizeof *parts);
    if (!parts)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory joining %d tensors", name, n);
    rnnc_status s = RNNC_OK;
    for (int g = 0; g < groups && s == RNNC_OK; g++) {
        int first = g * RNNC_NODE_MAX_IN;
        int cnt = n - first < RNNC_NODE_MAX_IN ? n - first : RNNC_NODE_MAX_IN;
        s = join(cx, name, stack, xs + first, cnt, ax, &parts[g]);
    }
    if (s == RNNC_OK)
        s = join(cx, name, false, parts, groups, ax, y);
    free(parts);
    return s;
}

/* Common checks of concat/stack: n >= 1, no NULLs, one dtype. */
static rnnc_status check_list(const char *name, rnnc_ctx *cx, rnnc_tensor *const *xs, int n,
                              rnnc_tensor **y)
{
    char s0[160], si[160];
    RNNC_TRY(rnnc__check_nonnull(name, "cx", cx));
    RNNC_TRY(rnnc__check_nonnull(name, "y", y));
    *y = NULL;
    if (!xs || n < 1)
        return rnnc_fail(RNNC_E_ARG, "%s: needs at least one tensor, got %d", name, xs ? n : 0);
    for (int i = 0; i < n; i++) {
        if (!xs[i])
            return rnnc_fail(RNNC_E_ARG, "%s: tensor %d of %d is NULL", name, i, n);
        if (xs[i]->device != RNNC_DEVICE_CPU) { /* rnnc__check_tensor's message, naming which */
            char arg[32];
            snprintf(arg, sizeof arg, "xs[%d]", i);
            return rnnc__check_tensor(name, arg, xs[i]);
        }
        if (xs[i]->dtype != xs[0]->dtype)
            return rnnc_fail(RNNC_E_DTYPE, "%s: tensor %d is %s %s but tensor 0 is %s %s", name, i,
                             rnnc_dtype_name(xs[i]->dtype), RNNC__SHAPE_STR(&xs[i]->shape, si),
                             rnnc_dtype_name(xs[0]->dtype), RNNC__SHAPE_STR(&xs[0]->shape, s0));
    }
    return RNNC_OK;
}

rnnc_status rnnc_concat(rnnc_ctx *cx, rnnc_tensor *const *xs, int n, int axis, rnnc_tensor **y)
{
    char s0[160], si[160];
    int ax;
    RNNC_TRY(check_list("concat", cx, xs, n, y));
    const rnnc_shape *sh = &xs[0]->shape;
    if (rnnc_shape_axis(sh, axis, &ax) != RNNC_OK)
        return rnnc_fail(RNNC_E_ARG, "concat: axis %d is out of range for tensors of shape %s", axis,
                         RNNC__SHAPE_STR(sh, s0));
    for (int i = 1; i < n; i++) {
        const rnnc_shape *s = &xs[i]->shape;
        bool ok = s->ndim == sh->ndim;
        for (int d = 0; d < sh->ndim && ok; d++)
            ok = d == ax || s->dim[d] == sh->dim[d];
        if (!ok)
            return rnnc_fail(RNNC_E_SHAPE,
                             "concat: tensor %d has shape %s but tensor 0 has %s (only axis %d may differ)",
                             i, RNNC__SHAPE_STR(s, si), RNNC__SHAPE_STR(sh, s0), axis);
    }
    return join(cx, "concat", false, xs, n, ax, y);
}

rnnc_status rnnc_stack(rnnc_ctx *cx, rnnc_tensor *const *xs, int n, int axis, rnnc_tensor **y)
{
    char s0[160], si[160];
    int ax;
    RNNC_TRY(check_list("stack", cx, xs, n, y));
    const rnnc_shape *sh = &xs[0]->shape;
    if (sh->ndim >= RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_SHAPE, "stack: tensors of shape %s already have the maximum rank %d",
                         RNNC__SHAPE_STR(sh, s0), RNNC_MAX_DIMS);
    rnnc_shape grown = *sh; /* the axis is taken in the output's rank */
    grown.ndim++;
    if (rnnc_shape_axis(&grown, axis, &ax) != RNNC_OK)
        return rnnc_fail(RNNC_E_ARG, "stack: axis %d is out of range for stacking tensors of shape %s",
                         axis, RNNC__SHAPE_STR(sh, s0));
    for (int i = 1; i < n; i++)
        if (!rnnc_shape_eq(&xs[i]->shape, sh))
            return rnnc_fail(RNNC_E_SHAPE, "stack: tensor %d has shape %s but tensor 0 has %s", i,
                             RNNC__SHAPE_STR(&xs[i]->shape, si), RNNC__SHAPE_STR(sh, s0));
    return join(cx, "stack", true, xs, n, ax, y);
}

/* ---- reverse ----------------------------------------------------------- */

/* iarg: [0] outer, [1] mid, [2] inner. Row m of y is row mid-1-m of x. */
static rnnc_status reverse_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    const int64_t outer = n->iarg[0], mid = n->iarg[1], inner = n->iarg[2];
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        T *gx = x->grad;
        const T *g = out->grad;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t m = 0; m < mid; m++) {
                T *dst = gx + (o * mid + (mid - 1 - m)) * inner;
                const T *src = g + (o * mid + m) * inner;
                for (int64_t k = 0; k < inner; k++)
                    dst[k] += src[k];
            }
    });
    return RNNC_OK;
}

rnnc_status rnnc_reverse(rnnc_ctx *cx, rnnc_tensor *x, int axis, rnnc_tensor **y)
{
    char sx[160];
    int ax;
    RNNC_TRY(rnnc__check_nonnull("reverse", "cx", cx));
    RNNC_TRY(rnnc__check_nonnull("reverse", "y", y));
    *y = NULL;
    RNNC_TRY(rnnc__check_tensor("reverse", "x", x));
    if (rnnc_shape_axis(&x->shape, axis, &ax) != RNNC_OK)
        return rnnc_fail(RNNC_E_ARG, "reverse: axis %d is out of range for x of shape %s", axis,
                         RNNC__SHAPE_STR(&x->shape, sx));
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &x->shape, &out));
    int64_t outer, mid, inner;
    rnnc__split_axis(&x->shape, ax, &outer, &mid, &inner);
    const size_t es = rnnc_dtype_size(x->dtype), row = (size_t)inner * es;
    for (int64_t o = 0; o < outer && row > 0; o++)
        for (int64_t m = 0; m < mid; m++)
            memcpy((char *)out->data + (size_t)(o * mid + m) * row,
                   (const char *)x->data + (size_t)(o * mid + (mid - 1 - m)) * row, row);
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "reverse", reverse_backward, 1, &x, 1, &out, &node));
    if (node) {
        node->iarg[0] = outer;
        node->iarg[1] = mid;
        node->iarg[2] = inner;
    }
    *y = out;
    return RNNC_OK;
}
