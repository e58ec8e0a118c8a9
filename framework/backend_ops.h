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
 * Not here (yet): device-aware rnnc_tensor ops, float64 on the GPU. */
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
    X(RNNC_BOP_ADAM, "adam")                                                  \
    X(RNNC_BOP_SCALE_ROWS, "scale_rows")                                      \
    X(RNNC_BOP_GATHER_ROWS, "gather_rows") /* and scatter_add_rows */         \
    X(RNNC_BOP_METRIC, "metric")                                              \
    X(RNNC_BOP_GRU, "gru") /* gru_create/destroy/forward/backward */         \
    X(RNNC_BOP_COPY_BLOCK, "copy_block")                                      \
    X(RNNC_BOP_REVERSE_TIME, "reverse_time")                                  \
    X(RNNC_BOP_LAYER_NORM, "layer_norm") /* and layer_norm_backward */        \
    X(RNNC_BOP_BATCH_NORM, "batch_norm") /* and batch_norm_backward */ \
    X(RNNC_BOP_LSTM, "lstm") /* lstm_create/destroy/forward/backward */       \
    X(RNNC_BOP_MUL_BCAST, "mul_bcast")

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

/* Keras's per-sample metrics over the last axis (optim/metrics.c). */
typedef enum {
    RNNC_BMETRIC_MAE,                  /* mean |p - t| */
    RNNC_BMETRIC_MSE,                  /* mean (p - t)^2 */
    RNNC_BMETRIC_ACCURACY,             /* mean of (p == t) (Keras's Accuracy) */
    RNNC_BMETRIC_BINARY_ACCURACY,      /* mean of ((p > threshold) == t) */
    RNNC_BMETRIC_CATEGORICAL_ACCURACY, /* argmax p == argmax t (first maximum) */
    RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY, /* argmax p == t, t int32 ids (rows) */
    RNNC_BMETRIC_COUNT
} rnnc_bmetric;

/* A GRU layer's whole-sequence computation (Keras's GRU, spec 1-5) as one
 * op with state: create once per layer and shape-independent config, then
 * forward (and backward after a training forward) per batch. */
typedef struct rnnc_bgru rnnc_bgru; /* a backend's GRU: config, saved activations, workspaces */
typedef struct rnnc_bgru_config {
    int64_t input_size, units;      /* F, U >= 1 */
    rnnc_act activation, recurrent_activation; /* element-wise ones */
    bool use_bias, reset_after, go_backwards, return_sequences, zero_output_for_mask;
    /* CUDA: run cuDNN's GRU (the caller has checked rnnc_cudnn_gru_supported,
     * cuda_gru.h, for the config and for every mask it passes); false: the
     * generic kernel. The CPU backend ignores it. */
    bool cudnn;
} rnnc_bgru_config;

/* An LSTM layer's whole-sequence computation (Keras's LSTM) as one op with
 * state, like the GRU's. Keras layout: kernel (F, 4U), recurrent_kernel
 * (U, 4U), bias (4U), the column blocks gates i, f, c, o in that order;
 * z = x kernel + h recurrent_kernel + bias, i, f, o = recurrent_activation,
 * g = activation(z_c), c' = f c + i g, h' = o activation(c').
 * unit_forget_bias is an initializer matter only (the bias is given). */
typedef struct rnnc_blstm rnnc_blstm; /* a backend's LSTM */
typedef struct rnnc_blstm_config {
    int64_t input_size, units;      /* F, U >= 1 */
    rnnc_act activation, recurrent_activation; /* element-wise ones */
    bool use_bias, go_backwards, return_sequences, zero_output_for_mask;
    /* reserved for a cuDNN LSTM: none yet (CUDA refuses true with
     * RNNC_E_UNSUPPORTED; the CPU backend ignores it) */
    bool cudnn;
} rnnc_blstm_config;

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
    /* Keras's Adam / AdamW (optim/adam.c); vhat only with amsgrad. g_sq:
     * what v moves toward instead of g * g (w's size), or NULL for g * g:
     * for a row-gathered weight (an Embedding's table) the sum over the
     * looked-up rows of each row's square, as Keras's Adam on TensorFlow
     * moves v for a sparse (IndexedSlices) gradient (optim/adam.c's rows
     * update). */
    rnnc_status (*adam)(const rnnc_adam_params *p, rnnc_bbuf *w, const rnnc_bbuf *g, rnnc_bbuf *m,
                        rnnc_bbuf *v, rnnc_bbuf *vhat, const rnnc_bbuf *g_sq);

    /* ---- row scaling (sample weights, loss scaling) ---- */
    /* y (rows, cols) = alpha * w[r] * x[r, c]; w (rows) or NULL (alpha
     * alone); y may be x. */
    rnnc_status (*scale_rows)(int64_t rows, int64_t cols, const rnnc_bbuf *w, float alpha,
                              const rnnc_bbuf *x, rnnc_bbuf *y);
    /* y (outer, mid, inner) = x * w (outer, inner) broadcast over mid: a
     * dropout mask of one draw per (sample, feature) over every step, or
     * any noise shape whose size-1 dims are one run; y may be x. */
    rnnc_status (*mul_bcast)(int64_t outer, int64_t mid, int64_t inner, const rnnc_bbuf *x,
                             const rnnc_bbuf *w, rnnc_bbuf *y);

    /* ---- embedding rows ---- */
    /* out (n, dim) = table[ids[i], :], table (rows, dim), ids int32 (n).
     * An id outside [0, rows): the CPU fails with RNNC_E_ARG before writing;
     * CUDA writes a zero row (as TensorFlow's GPU gather), since checking
     * would copy the ids back to the host. Callers check ids on the host. */
    rnnc_status (*gather_rows)(int64_t rows, int64_t dim, const rnnc_bbuf *table, const rnnc_bbuf *ids,
                               rnnc_bbuf *out);
    /* dtable[ids[i], :] += dy[i, :] (dy (n, dim)); ids outside [0, rows)
     * are skipped. CUDA adds with atomics: the order of a row's additions,
     * so its last bits, may vary run to run. */
    rnnc_status (*scatter_add_rows)(int64_t rows, int64_t dim, const rnnc_bbuf *ids, const rnnc_bbuf *dy,
                                    rnnc_bbuf *dtable);

    /* ---- metrics ---- */
    /* values (rows) = the per-row metric over the last axis of y_pred
     * (rows, cols) against y_true (float32 (rows, cols), or int32 ids
     * (rows) for SPARSE_CATEGORICAL_ACCURACY). threshold: BINARY_ACCURACY
     * only (Keras's default 0.5). */
    rnnc_status (*metric)(rnnc_bmetric kind, float threshold, int64_t rows, int64_t cols,
                          const rnnc_bbuf *y_true, const rnnc_bbuf *y_pred, rnnc_bbuf *values);

    /* ---- the GRU layer (supports(RNNC_BOP_GRU, RNNC_F32)) ---- */
    /* RNNC_E_ARG on a bad config (sizes, non element-wise activations);
     * CUDA with cudnn: RNNC_E_UNSUPPORTED naming the cuDNN condition that
     * fails. Caller destroys. */
    rnnc_status (*gru_create)(const rnnc_bgru_config *c, rnnc_bgru **out);
    void (*gru_destroy)(rnnc_bgru *g); /* NULL is a no-op */
    /* Forward over x (B, T, F) with Keras-layout weights: kernel (F, 3U),
     * recurrent_kernel (U, 3U), bias (2, 3U) with reset_after, (3U) without,
     * NULL without use_bias. h0 (B, U) or NULL (zeros). mask: HOST uint8
     * (B, T), non-zero = keep, or NULL. Writes y: (B, T, U) every output in
     * processing order when return_sequences, else (B, U) the last output;
     * state (B, U) the final state, or NULL when not wanted. Masked steps
     * follow the generic loop (spec 3.2): the previous output, zeros before
     * the first kept step (zeros with zero_output_for_mask). training: keep
     * what backward needs (the weights must then stay unchanged until it). */
    rnnc_status (*gru_forward)(rnnc_bgru *g, int64_t B, int64_t T, const rnnc_bbuf *x, const rnnc_bbuf *h0,
                               const uint8_t *mask, const rnnc_bbuf *kernel,
                               const rnnc_bbuf *recurrent_kernel, const rnnc_bbuf *bias, bool training,
                               rnnc_bbuf *y, rnnc_bbuf *state);
    /* After a training forward, at most once: dy shaped as that forward's y.
     * dx (B, T, F) and dh0 (B, U) written (NULL: not wanted); dkernel,
     * drecurrent_kernel and dbias accumulated (+=; dbias NULL without bias).
     * A second call, or one without a training forward, fails with
     * RNNC_E_STATE. */
    rnnc_status (*gru_backward)(rnnc_bgru *g, const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dh0,
                                rnnc_bbuf *dkernel, rnnc_bbuf *drecurrent_kernel, rnnc_bbuf *dbias);

    /* ---- the LSTM layer (supports(RNNC_BOP_LSTM, RNNC_F32)) ---- */
    /* RNNC_E_ARG on a bad config (sizes, non element-wise activations).
     * Caller destroys. */
    rnnc_status (*lstm_create)(const rnnc_blstm_config *c, rnnc_blstm **out);
    void (*lstm_destroy)(rnnc_blstm *g); /* NULL is a no-op */
    /* Forward over x (B, T, F) with the Keras-layout weights (bias NULL
     * without use_bias). h0, c0 (B, U) each or NULL (zeros). mask: HOST
     * uint8 (B, T), non-zero = keep, or NULL. Writes y: (B, T, U) every
     * output in processing order when return_sequences, else (B, U) the
     * last output; h_state, c_state (B, U) the final states, or NULL when
     * not wanted. Masked steps as the generic loop: both states frozen, the
     * output the previous output, zeros before the first kept step (zeros
     * with zero_output_for_mask); go_backwards reads the steps in reverse.
     * training: keep what backward needs. */
    rnnc_status (*lstm_forward)(rnnc_blstm *g, int64_t B, int64_t T, const rnnc_bbuf *x,
                                const rnnc_bbuf *h0, const rnnc_bbuf *c0, const uint8_t *mask,
                                const rnnc_bbuf *kernel, const rnnc_bbuf *recurrent_kernel,
                                const rnnc_bbuf *bias, bool training, rnnc_bbuf *y,
                                rnnc_bbuf *h_state, rnnc_bbuf *c_state);
    /* After a training forward, at most once: dy shaped as that forward's y
     * (no cotangent for the final states). dx (B, T, F), dh0 and dc0 (B, U)
     * written (NULL: not wanted); dkernel, drecurrent_kernel and dbias
     * accumulated (+=; dbias NULL without bias). A second call, or one
     * without a training forward, fails with RNNC_E_STATE. */
    rnnc_status (*lstm_backward)(rnnc_blstm *g, const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dh0,
                                 rnnc_bbuf *dc0, rnnc_bbuf *dkernel, rnnc_bbuf *drecurrent_kernel,
                                 rnnc_bbuf *dbias);

    /* ---- layout (Bidirectional's merge and its gradient) ---- */
    /* A block of columns between two row-major float32 matrices with the
     * same number of rows: for r < rows, c < width,
     *   dst[r * dst_cols + dst_off + c] = src[r * src_cols + src_off + c]
     * (accumulate: +=). src has rows * src_cols elements, dst rows *
     * dst_cols; src_off + width <= src_cols, dst_off + width <= dst_cols
     * (RNNC_E_SHAPE otherwise); width 0 or rows 0 does nothing. dst must not
     * share memory with src (RNNC_E_ARG). Exact: a copy, or one float
     * addition per element. */
    rnnc_status (*copy_block)(int64_t rows, int64_t width, const rnnc_bbuf *src, int64_t src_cols,
                              int64_t src_off, rnnc_bbuf *dst, int64_t dst_cols, int64_t dst_off,
                              bool accumulate);
    /* y (B, T, C) with y[b, t, :] = x[b, T - 1 - t, :]: the whole time axis
     * flipped, masked steps included (Keras's ops.flip(y, axis=1), which
     * Bidirectional applies to the backward layer's sequence whatever the
     * mask). Its own gradient. y must not share memory with x (RNNC_E_ARG);
     * B, T, C >= 0. Exact. */
    rnnc_status (*reverse_time)(int64_t B, int64_t T, int64_t C, const rnnc_bbuf *x, rnnc_bbuf *y);

    /* ---- normalization (LayerNormalization over the last axis) ---- */
    /* Per row r of x (rows, cols), cols >= 1, in float32 with each step
     * rounded as layers/layer_norm.c's tape rounds it:
     *   mean = (float)(S1 * (1.0 / cols)), S1 = sum_c x (in double);
     *   d_c = x_c - mean; var = (float)(S2 * (1.0 / cols)), S2 = sum_c
     *   (float)(d_c * d_c) (in double); s = (float)sqrt((float)(var +
     *   epsilon)) (epsilon added in double); inv = 1.0f / s;
     *   g_c = inv * gamma[c] (gamma NULL: inv);
     *   y_c = x_c * g_c + (-(mean * g_c) + beta[c]) (beta NULL: no + beta);
     *   rms (Keras 3.15's rms_scaling, which keeps the variance about the
     *   mean): y_c = x_c * g_c, and beta must be NULL (RNNC_E_ARG).
     * mean[r] and inv[r] (rows each) are written for the backward; y may be
     * x. NaN and inf propagate. */
    rnnc_status (*layer_norm)(int64_t rows, int64_t cols, double epsilon, bool rms, const rnnc_bbuf *x,
                              const rnnc_bbuf *gamma, const rnnc_bbuf *beta, rnnc_bbuf *y, rnnc_bbuf *mean,
                              rnnc_bbuf *inv);
    /* The exact gradient of that map at x, given its mean and inv, with the
     * row sums in double: with G_c = dy_c * gamma[c] (dy_c without gamma),
     * xh_c = (x_c - mean) * inv,
     *   dx_c = inv * (G_c - mean_j G_j - xh_c * mean_j (G_j xh_j)),
     *   rms: dx_c = inv * G_c - inv^3 (x_c - mean) * mean_j (G_j x_j);
     * dx (rows, cols) written (NULL: not wanted; must not share memory with
     * dy or x); dgamma[c] += sum_r dy_rc * xh_rc (rms: dy_rc * x_rc * inv_r)
     * and dbeta[c] += sum_r dy_rc (NULL: not wanted; dbeta must be NULL with
     * rms), each column summed over the rows in order in double then added
     * once. */
    rnnc_status (*layer_norm_backward)(int64_t rows, int64_t cols, bool rms, const rnnc_bbuf *x,
                                       const rnnc_bbuf *gamma, const rnnc_bbuf *mean, const rnnc_bbuf *inv,
                                       const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dgamma, rnnc_bbuf *dbeta);
    /* BatchNormalization over the columns of x (rows, cols) (Keras's axis
     * -1, every other axis as rows), rows, cols >= 1, in float32 with each
     * step rounded as layers/batch_norm.c's tape rounds it. training: per
     * column the batch's statistics,
     *   w NULL: mean = (float)(S1 * (1.0 / rows)), var = (float)(S2 *
     *   (1.0 / rows)), S1 = sum x, S2 = sum (float)((x - mean)^2) (sums in
     *   double);
     *   w (rows; 1 keeps a row, 0 leaves it out: Keras's masked moments):
     *   sw = (float)(count + 1e-7), mean = (float)(sum_kept x) / sw, var =
     *   (float)(sum_kept (float)((x - mean)^2)) / sw;
     * and moving_mean / moving_var updated in place to (float)(moving *
     * momentum + stat * (1 - momentum)) (in double); not training: the
     * moving statistics, unchanged. Then den = (float)sqrt((float)(var +
     * epsilon)) (epsilon added in double) and y = ((x - mean) / den) *
     * gamma + beta (NULL gamma / beta: that step left out). mean and den
     * (cols each) are written for the backward. y must not share memory
     * with x (RNNC_E_ARG). */
    rnnc_status (*batch_norm)(int64_t rows, int64_t cols, double epsilon, double momentum, bool training,
                              const rnnc_bbuf *x, const rnnc_bbuf *w, const rnnc_bbuf *gamma, const rnnc_bbuf *beta,
                              rnnc_bbuf *moving_mean, rnnc_bbuf *moving_var, rnnc_bbuf *y, rnnc_bbuf *mean,
                              rnnc_bbuf *den);
    /* Its exact gradient given that forward's mean and den (and the same
     * training and w), per column in double: G = dy * gamma (dy without
     * gamma), inv = 1 / den; not training: dx = inv * G; training, with
     * w_r = 1 and sw = rows without w: A = sum G, B = sum G (x - mean),
     * P = sum w (x - mean), dvar = -0.5 inv^3 B, dmean = -inv A - 2 dvar P /
     * sw, dx_r = inv G_r + w_r (dmean + 2 dvar (x_r - mean)) / sw. dx
     * written (NULL: not wanted; must not share memory with dy or x);
     * dgamma += sum dy (x - mean) inv, dbeta += sum dy (NULL: not wanted). */
    rnnc_status (*batch_norm_backward)(int64_t rows, int64_t cols, bool training, const rnnc_bbuf *x,
                                       const rnnc_bbuf *w, const rnnc_bbuf *gamma, const rnnc_bbuf *mean,
                                       const rnnc_bbuf *den, const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dgamma,
                                       rnnc_bbuf *dbeta);
};

/* A borrowed buffer over memory the caller owns on be's device (a
 * tensor's data): use it with be's ops, never pass it to be->free. */
static inline rnnc_bbuf rnnc_bbuf_view(const rnnc_backend_ops *be, rnnc_dtype dtype, size_t n,
                                       void *data)
{
    rnnc_bbuf b = {be, dtype, n, data};
    return b;
}

/* Elements [offset, offset + n) of b as a borrowed buffer (same backend
 * and dtype); the caller keeps offset + n <= b->n. */
static inline rnnc_bbuf rnnc_bbuf_slice(const rnnc_bbuf *b, size_t offset, size_t n)
{
    rnnc_bbuf s = {b->be, b->dtype, n, n ? (char *)b->data + offset * rnnc_dtype_size(b->dtype) : NULL};
    return s;
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
