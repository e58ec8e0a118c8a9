/* backend_ops.h - the backend op table (ggml's pattern): each backend
 * (CPU, CUDA) fills one rnnc_backend_ops with function pointers over
 * contiguous buffers in its own memory, and says with supports(op, dtype)
 * which ops and dtypes it runs. Code that must run on either device calls
 * the table, never CUDA, and holds no #ifdef.
 *
 * Buffers: an rnnc_bbuf is a flat, contiguous array of n elements of one
 * dtype (float32 for arithmetic; int32 for class ids) in the backend's
 * memory (host memory for the CPU backend, device memory for CUDA). Shapes
 * are passed to each op as the sizes it needs (rows, cols, ...), row-major.
 * A buffer belongs to the backend that allocated it; passing it to another
 * backend's op fails with RNNC_E_ARG naming both.
 *
 * Every op checks its arguments (backend, dtype, element counts) and fails
 * with RNNC_E_ARG / RNNC_E_DTYPE / RNNC_E_SHAPE naming the op; device errors
 * come back as the backend's status (cuda_internal.h's check macros).
 * CUDA ops are queued on the backend's one stream; download waits for it.
 *
 * The semantics follow the CPU code they stand for: activations as
 * framework/activations.c, losses as optim/losses.c (Keras's per-sample
 * functions, float32 epsilon clipping), optimizers as optim/sgd.c and
 * optim/adam.c (Keras's epsilon outside the square root, AdamW's decay
 * w - w*wd*lr before the step). tests/test_backend_ops.c checks every op of
 * every available backend against the CPU backend, and the CPU backend
 * against float64 loops, finite differences and rnnc's own losses.
 *
 * Not here (yet): device-aware rnnc_tensor ops, the GRU (cuda_api.h has the
 * CUDA GRU), float64 on the GPU. */
#ifndef RNNC_BACKEND_OPS_H
#define RNNC_BACKEND_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "framework/activations.h"
#include "framework/backend.h"
#include "framework/tensor.h"

typedef struct rnnc_backend_ops rnnc_backend_ops;

/* A buffer on a backend. Open like rnnc_shape: read the fields, never set
 * them. data is backend memory: never dereference it unless be->device is
 * RNNC_DEVICE_CPU. */
typedef struct rnnc_bbuf {
    const rnnc_backend_ops *be;
    rnnc_dtype dtype;
    size_t n;   /* elements */
    void *data; /* NULL when n == 0 */
} rnnc_bbuf;

/* The ops, for supports(). */
#define RNNC_BOP_LIST(X)                                                      \
    X(RNNC_BOP_ALLOC, "alloc") /* alloc, free, upload, download */            \
    X(RNNC_BOP_FILL, "fill")                                                  \
    X(RNNC_BOP_COPY, "copy")                                                  \
    X(RNNC_BOP_MATMUL, "matmul")                                              \
    X(RNNC_BOP_BIAS_ADD, "bias_add")                                          \
    X(RNNC_BOP_BINARY, "binary")                                              \
    X(RNNC_BOP_ACTIVATION, "activation")                                      \
    X(RNNC_BOP_ACTIVATION_BACKWARD, "activation_backward")                    \
    X(RNNC_BOP_SOFTMAX, "softmax")                                            \
    X(RNNC_BOP_SOFTMAX_BACKWARD, "softmax_backward")                          \
    X(RNNC_BOP_REDUCE, "reduce")                                              \
    X(RNNC_BOP_LOSS, "loss")                                                  \
    X(RNNC_BOP_SGD, "sgd")                                                    \
    X(RNNC_BOP_ADAM, "adam")

typedef enum {
#define X(e, name) e,
    RNNC_BOP_LIST(X)
#undef X
    RNNC_BOP_COUNT
} rnnc_bop;

const char *rnnc_bop_name(rnnc_bop op); /* "matmul"; "unknown" out of range */

typedef enum { RNNC_BIN_ADD, RNNC_BIN_SUB, RNNC_BIN_MUL } rnnc_binop;
typedef enum { RNNC_RED_SUM, RNNC_RED_MEAN } rnnc_redop;

/* Keras's per-sample losses over the last axis (optim/losses.h). */
typedef enum {
    RNNC_BLOSS_MSE,  /* mean((p - t)^2) */
    RNNC_BLOSS_BCE,  /* binary crossentropy, mean over the row */
    RNNC_BLOSS_CCE,  /* categorical crossentropy, t a distribution */
    RNNC_BLOSS_SCCE, /* sparse categorical: t int32 class ids, one per row */
    RNNC_BLOSS_COUNT
} rnnc_bloss;

typedef struct rnnc_sgd_params {
    float lr, momentum; /* momentum 0: plain SGD (no slot read) */
    bool nesterov;
} rnnc_sgd_params;

typedef struct rnnc_adam_params {
    double lr, beta_1, beta_2, epsilon;
    int64_t step;        /* 1 on the first update */
    bool amsgrad;        /* vhat used */
    double weight_decay; /* AdamW's decoupled decay; 0 = none */
} rnnc_adam_params;

struct rnnc_backend_ops {
    const char *name;   /* "cpu", "cuda" */
    rnnc_device device; /* RNNC_DEVICE_CPU / RNNC_DEVICE_CUDA */
    /* Whether op runs with buffers of dtype (the arithmetic dtype: float32
     * for every op; int32 only for ALLOC and COPY). */
    bool (*supports)(rnnc_bop op, rnnc_dtype dtype);

    /* ---- memory ---- */
    /* n elements (contents unspecified; n may be 0). Caller frees. */
    rnnc_status (*alloc)(rnnc_dtype dtype, size_t n, rnnc_bbuf **out);
    void (*free)(rnnc_bbuf *b); /* NULL is a no-op */
    /* dst->n elements from / to host memory of dst's / src's dtype. */
    rnnc_status (*upload)(rnnc_bbuf *dst, const void *host);
    rnnc_status (*download)(void *host, const rnnc_bbuf *src);
    rnnc_status (*fill)(rnnc_bbuf *b, float v);                   /* float32 */
    rnnc_status (*copy)(rnnc_bbuf *dst, const rnnc_bbuf *src); /* same dtype and n */

    /* ---- linear algebra, element-wise ---- */
    /* C (m, n) = op(A) op(B) + beta C, row-major; A is (m, k) or (k, m)
     * when ta, B (k, n) or (n, k) when tb. beta 0 (C not read) or 1
     * (accumulate). k may be 0 (C = beta C). */
    rnnc_status (*matmul)(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const rnnc_bbuf *a,
                          const rnnc_bbuf *b, float beta, rnnc_bbuf *c);
    /* y (rows, cols) = x + bias (cols) broadcast over the rows; y may be x. */
    rnnc_status (*bias_add)(int64_t rows, int64_t cols, const rnnc_bbuf *x, const rnnc_bbuf *bias,
                            rnnc_bbuf *y);
    /* y = a op b, element-wise, same n; y may be a or b. */
    rnnc_status (*binary)(rnnc_binop op, const rnnc_bbuf *a, const rnnc_bbuf *b, rnnc_bbuf *y);
    /* y = act(x) for an element-wise activation; y may be x. */
    rnnc_status (*activation)(rnnc_act a, const rnnc_bbuf *x, rnnc_bbuf *y);
    /* dx += dy * act'(x), given y = act(x). */
    rnnc_status (*activation_backward)(rnnc_act a, const rnnc_bbuf *x, const rnnc_bbuf *y,
                                       const rnnc_bbuf *dy, rnnc_bbuf *dx);

    /* ---- along an axis ---- */
    /* Softmax over each row of (rows, cols). */
    rnnc_status (*softmax)(int64_t rows, int64_t cols, const rnnc_bbuf *x, rnnc_bbuf *y);
    /* dx += y * (dy - sum_j dy_j y_j), per row, given y = softmax(x). */
    rnnc_status (*softmax_backward)(int64_t rows, int64_t cols, const rnnc_bbuf *y,
                                    const rnnc_bbuf *dy, rnnc_bbuf *dx);
    /* x seen as (outer, len, inner): y (outer, inner) = sum or mean over the
     * middle axis (any one axis of a contiguous tensor). len may be 0 (sum
     * 0; mean NaN, as 0/0). */
    rnnc_status (*reduce)(rnnc_redop op, int64_t outer, int64_t len, int64_t inner,
                          const rnnc_bbuf *x, rnnc_bbuf *y);

    /* ---- losses ---- */
    /* Per-row value (rows) of Keras's per-sample loss over the last axis of
     * y_pred (rows, cols), and, when grad is not NULL, grad (rows, cols) =
     * scale * d value[r] / d y_pred[r, :] (written, not accumulated; scale
     * 1/rows gives the gradient of the mean). y_true: float32 (rows, cols),
     * or int32 (rows) class ids for SCCE (out of range -> RNNC_E_ARG, checked
     * before anything runs). from_logits: BCE/CCE/SCCE take logits;
     * otherwise probabilities clipped to [1e-7, 1 - 1e-7] (CCE normalizes
     * rows to sum 1 first), as Keras does. */
    rnnc_status (*loss)(rnnc_bloss kind, bool from_logits, int64_t rows, int64_t cols,
                        const rnnc_bbuf *y_true, const rnnc_bbuf *y_pred, rnnc_bbuf *values,
                        rnnc_bbuf *grad, float scale);

    /* ---- optimizer updates (in place on w and the slots) ---- */
    /* m <- mu m - lr g; w <- w + m (nesterov: w + mu m - lr g). m NULL when
     * momentum is 0 (w <- w - lr g). */
    rnnc_status (*sgd)(const rnnc_sgd_params *p, rnnc_bbuf *w, const rnnc_bbuf *g, rnnc_bbuf *m);
    /* Keras's Adam / AdamW (optim/adam.c); vhat only with amsgrad. */
    rnnc_status (*adam)(const rnnc_adam_params *p, rnnc_bbuf *w, const rnnc_bbuf *g, rnnc_bbuf *m,
                        rnnc_bbuf *v, rnnc_bbuf *vhat);
};

/* A borrowed buffer over memory the caller owns on be's device (a
 * tensor's data): use it with be's ops, never pass it to be->free. */
static inline rnnc_bbuf rnnc_bbuf_view(const rnnc_backend_ops *be, rnnc_dtype dtype, size_t n,
                                       void *data)
{
    rnnc_bbuf b = {be, dtype, n, data};
    return b;
}

/* The CPU backend (always there). */
const rnnc_backend_ops *rnnc_backend_ops_cpu(void);
/* The table of a concrete device: CPU always; CUDA when built and a device
 * is present, else RNNC_E_NODEV with backend.h's reason. AUTO resolves
 * first (backend.h). */
rnnc_status rnnc_backend_ops_get(rnnc_device d, const rnnc_backend_ops **out);
/* The table of the device t lives on (rnnc_tensor.device), which must
 * support op in t's dtype: RNNC_E_UNSUPPORTED naming the op, the device and
 * the dtype otherwise. `what` prefixes the message. */
rnnc_status rnnc_backend_ops_for(const rnnc_tensor *t, rnnc_bop op, const char *what,
                                 const rnnc_backend_ops **out);

#endif
