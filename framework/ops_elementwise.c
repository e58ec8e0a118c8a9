/* ops_elementwise.c - broadcasting binary ops (add, sub, mul, div, maximum)
 * and where(mask, a, b).
 *
 * Shapes follow NumPy broadcasting (ops.h). Backward walks the same
 * broadcast iterator as forward: an operand broadcast along a dim has
 * stride 0 there, so accumulating into its gradient at that offset sums the
 * output gradient over the broadcast dims, which is exactly the reduction
 * broadcasting needs. Unary element-wise ops live in ops_unary.c. */
#include "framework/ops.h"
#include "framework/ops_internal.h"

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_MAX, BIN_COUNT } binop;

static const char *const binop_name[] = {"add", "sub", "mul", "div", "maximum"};
_Static_assert(sizeof binop_name / sizeof binop_name[0] == BIN_COUNT, "binop names out of sync");

/* Element-wise over the broadcast iterator: inside the body, py, pa, pb
 * point at the current row of each operand, sy/sa/sb are their strides
 * along it, and j runs over the row. */
#define BIN_ROWS(it, Y, A, B, ...)                                           \
    for (size_t r_ = 0; r_ < (it).rows; r_++, rnnc__iter_next(&(it))) {       \
        const int64_t sy = (it).istride[0], sa = (it).istride[1],             \
                      sb = (it).istride[2];                                   \
        T *py = (Y) + (it).off[0];                                            \
        const T *pa = (A) + (it).off[1], *pb = (B) + (it).off[2];             \
        (void)sy; (void)sa; (void)sb; (void)py; (void)pa; (void)pb;           \
        for (int64_t j = 0; j < (it).inner; j++) {                            \
            __VA_ARGS__                                                       \
        }                                                                     \
    }

static rnnc_status binary_backward(rnnc_node *n)
{
    rnnc_tensor *a = n->in[0], *b = n->in[1], *out = n->out[0];
    if (!out->grad)
        return RNNC_OK;
    const rnnc_tensor *ins[2] = {a, b};
    rnnc__iter it;
    rnnc__bcast_iter(&it, &out->shape, 2, ins);
    const binop op = (binop)n->iarg[0];
    const bool wa = a->requires_grad && a->grad, wb = b->requires_grad && b->grad;
    RNNC_FLOAT_DISPATCH(out->dtype, T, {
        const T *A = a->data, *B = b->data, *G = out->grad;
        T *GA = wa ? a->grad : NULL, *GB = wb ? b->grad : NULL;
        for (size_t r = 0; r < it.rows; r++, rnnc__iter_next(&it)) {
            const int64_t sg = it.istride[0], sa = it.istride[1], sb = it.istride[2];
            const T *g = G + it.off[0], *pa = A + it.off[1], *pb = B + it.off[2];
            T *ga = GA ? GA + it.off[1] : NULL, *gb = GB ? GB + it.off[2] : NULL;
            for (int64_t j = 0; j < it.inner; j++) {
                const T gj = g[j * sg];
                switch (op) {
                case BIN_ADD:
                    if (ga) ga[j * sa] += gj;
                    if (gb) gb[j * sb] += gj;
                    break;
                case BIN_SUB:
                    if (ga) ga[j * sa] += gj;
                    if (gb) gb[j * sb] -= gj;
                    break;
                case BIN_MUL:
                    if (ga) ga[j * sa] += gj * pb[j * sb];
                    if (gb) gb[j * sb] += gj * pa[j * sa];
                    break;
                case BIN_DIV: /* d(a/b)/db = -a / b^2 */
                    if (ga) ga[j * sa] += gj / pb[j * sb];
                    if (gb) gb[j * sb] -= gj * pa[j * sa] / (pb[j * sb] * pb[j * sb]);
                    break;
                case BIN_MAX: /* ties go to a, as TensorFlow's Maximum gradient (x >= y) */
                    if (pa[j * sa] >= pb[j * sb]) {
                        if (ga) ga[j * sa] += gj;
                    } else if (gb) {
                        gb[j * sb] += gj;
                    }
                    break;
                case BIN_COUNT: break;
                }
            }
        }
    });
    return RNNC_OK;
}

static rnnc_status binary(rnnc_ctx *cx, binop op, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y)
{
    const char *name = binop_name[op];
    RNNC_TRY(rnnc__check_nonnull(name, "cx", cx));
    RNNC_TRY(rnnc__check_nonnull(name, "y", y));
    *y = NULL;
    RNNC_TRY(rnnc__check_same_float(name, "a", a, "b", b));
    const rnnc_tensor *ins[2] = {a, b};
    rnnc_shape ys;
    RNNC_TRY(rnnc__bcast_shape(name, 2, ins, &ys));
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, a->dtype, &ys, &out));
    rnnc__iter it;
    rnnc__bcast_iter(&it, &ys, 2, ins);
    RNNC_FLOAT_DISPATCH(a->dtype, T, {
        T *Y = out->data;
        const T *A = a->data, *B = b->data;
        switch (op) {
        case BIN_ADD: BIN_ROWS(it, Y, A, B, py[j * sy] = pa[j * sa] + pb[j * sb];) break;
        case BIN_SUB: BIN_ROWS(it, Y, A, B, py[j * sy] = pa[j * sa] - pb[j * sb];) break;
        case BIN_MUL: BIN_ROWS(it, Y, A, B, py[j * sy] = pa[j * sa] * pb[j * sb];) break;
        case BIN_DIV: BIN_ROWS(it, Y, A, B, py[j * sy] = pa[j * sa] / pb[j * sb];) break;
        case BIN_MAX: /* a NaN in either operand propagates, as in NumPy */
            BIN_ROWS(it, Y, A, B, {
                const T va = pa[j * sa], vb = pb[j * sb];
                py[j * sy] = (va >= vb || va != va) ? va : vb;
            })
            break;
        case BIN_COUNT: break;
        }
    });
    rnnc_tensor *in2[2] = {a, b};
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, name, binary_backward, 2, in2, 1, &out, &node));
    if (node)
        node->iarg[0] = op;
    *y = out;
    return RNNC_OK;
}

rnnc_status rnnc_add(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y)
{
    return binary(cx, BIN_ADD, a, b, y);
}

rnnc_status rnnc_sub(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y)
{
    return binary(cx, BIN_SUB, a, b, y);
}

rnnc_status rnnc_mul(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y)
{
    return binary(cx, BIN_MUL, a, b, y);
}

rnnc_status rnnc_div(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y)
{
    return binary(cx, BIN_DIV, a, b, y);
}

rnnc_status rnnc_maximum(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y)
{
    return binary(cx, BIN_MAX, a, b, y);
}

/* ---- where ------------------------------------------------------------- */

/* saved[0]: a copy of the mask (the caller may reuse its mask buffer). */
static rnnc_status where_backward(rnnc_node *n)
{
    rnnc_tensor *a = n->in[0], *b = n->in[1], *out = n->out[0];
    const rnnc_tensor *mask = n->saved[0];
    if (!out->grad)
        return RNNC_OK;
    const rnnc_tensor *ins[3] = {mask, a, b};
    rnnc__iter it;
    rnnc__bcast_iter(&it, &out->shape, 3, ins);
    const bool wa = a->requires_grad && a->grad, wb = b->requires_grad && b->grad;
    const uint8_t *M = mask->data;
    RNNC_FLOAT_DISPATCH(out->dtype, T, {
        const T *G = out->grad;
        T *GA = wa ? a->grad : NULL, *GB = wb ? b->grad : NULL;
        for (size_t r = 0; r < it.rows; r++, rnnc__iter_next(&it)) {
            const int64_t sg = it.istride[0], sm = it.istride[1], sa = it.istride[2],
                          sb = it.istride[3];
            const T *g = G + it.off[0];
            const uint8_t *m = M + it.off[1];
            for (int64_t j = 0; j < it.inner; j++) {
                if (m[j * sm]) {
                    if (GA) GA[it.off[2] + j * sa] += g[j * sg];
                } else if (GB) {
                    GB[it.off[3] + j * sb] += g[j * sg];
                }
            }
        }
    });
    return RNNC_OK;
}

rnnc_status rnnc_where(rnnc_ctx *cx, const rnnc_tensor *mask, rnnc_tensor *a, rnnc_tensor *b,
                       rnnc_tensor **y)
{
    char s[160];
    RNNC_TRY(rnnc__check_nonnull("where", "cx", cx));
    RNNC_TRY(rnnc__check_nonnull("where", "y", y));
    *y = NULL;
    RNNC_TRY(rnnc__check_nonnull("where", "mask", mask));
    if (mask->dtype != RNNC_U8)
        return rnnc_fail(RNNC_E_DTYPE, "where: 'mask' must be uint8 (non-zero = take a), got %s of shape %s",
                         rnnc_dtype_name(mask->dtype), RNNC__SHAPE_STR(&mask->shape, s));
    RNNC_TRY(rnnc__check_same_float("where", "a", a, "b", b));
    const rnnc_tensor *ins[3] = {mask, a, b};
    rnnc_shape ys;
    RNNC_TRY(rnnc__bcast_shape("where", 3, ins, &ys));
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, a->dtype, &ys, &out));
    rnnc__iter it;
    rnnc__bcast_iter(&it, &ys, 3, ins);
    const uint8_t *M = mask->data;
    RNNC_FLOAT_DISPATCH(a->dtype, T, {
        T *Y = out->data;
        const T *A = a->data, *B = b->data;
        for (size_t r = 0; r < it.rows; r++, rnnc__iter_next(&it)) {
            const int64_t sy = it.istride[0], sm = it.istride[1], sa = it.istride[2],
                          sb = it.istride[3];
            for (int64_t j = 0; j < it.inner; j++)
                Y[it.off[0] + j * sy] = M[it.off[1] + j * sm] ? A[it.off[2] + j * sa]
                                                              : B[it.off[3] + j * sb];
        }
    });
    rnnc_tensor *in2[2] = {a, b};
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "where", where_backward, 2, in2, 1, &out, &node));
    if (node) {
        rnnc_tensor *m;
        RNNC_TRY(rnnc__ctx_copy(cx, mask, &m));
        node->saved[0] = m;
        node->n_saved = 1;
    }
    *y = out;
    return RNNC_OK;
}
