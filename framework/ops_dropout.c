/* ops_dropout.c - inverted dropout with a mask drawn from rnnc_rng.
 *
 * Element i is kept when u_i >= rate, u_i uniform in [0, 1) from the
 * generator, so P(keep) = 1 - rate; kept values are scaled by 1/(1-rate)
 * (Keras's inverted dropout, spec section 4). The mask tensor holds the
 * multiplier itself (0 or 1/(1-rate), in x's dtype), is saved on the node,
 * and backward is dx += dy * mask with that same mask. Rates 0 and 1 draw
 * nothing from the generator (no randomness is needed), as Keras makes no
 * mask for a rate of 0. Which elements drop cannot match TensorFlow's bits;
 * only the distribution and the scaling are contractual. */
#include "framework/ops.h"
#include "framework/ops_internal.h"
#include "framework/random.h"

static rnnc_status dropout_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *out = n->out[0];
    const rnnc_tensor *mask = n->saved[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        T *gx = x->grad;
        const T *g = out->grad, *m = mask->data;
        for (size_t i = 0; i < x->numel; i++)
            gx[i] += g[i] * m[i];
    });
    return RNNC_OK;
}

/* Fills mask with 0 / scale. Draws in chunks: rnnc_rng_uniform turns each
 * block into two doubles, so even-sized chunks give the same stream as
 * one big draw, without a numel-sized scratch buffer. */
static void draw_mask(rnnc_tensor *mask, double rate, rnnc_rng *rng)
{
    enum { CHUNK = 1024 };
    double u[CHUNK];
    const double scale = 1.0 / (1.0 - rate);
    for (size_t base = 0; base < mask->numel; base += CHUNK) {
        size_t cnt = mask->numel - base < CHUNK ? mask->numel - base : CHUNK;
        rnnc_rng_uniform(rng, u, cnt);
        RNNC_FLOAT_DISPATCH(mask->dtype, T, {
            T *m = (T *)mask->data + base;
            for (size_t i = 0; i < cnt; i++)
                m[i] = u[i] >= rate ? (T)scale : (T)0;
        });
    }
}

rnnc_status rnnc_dropout(rnnc_ctx *cx, rnnc_tensor *x, double rate, struct rnnc_rng *rng,
                         rnnc_tensor **y, rnnc_tensor **mask_out)
{
    RNNC_TRY(rnnc__check_nonnull("dropout", "cx", cx));
    RNNC_TRY(rnnc__check_nonnull("dropout", "y", y));
    *y = NULL;
    if (mask_out)
        *mask_out = NULL;
    RNNC_TRY(rnnc__check_float("dropout", "x", x));
    if (!(rate >= 0.0 && rate <= 1.0)) /* also rejects NaN */
        return rnnc_fail(RNNC_E_ARG, "dropout: rate must be in [0, 1], got %g", rate);
    if (rate > 0.0 && rate < 1.0 && !rng)
        return rnnc_fail(RNNC_E_ARG, "dropout: rate %g needs a random generator, got NULL", rate);
    rnnc_tensor *mask, *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &x->shape, &mask));
    if (rate == 0.0)
        rnnc_tensor_fill(mask, 1.0);
    else if (rate < 1.0)
        draw_mask(mask, rate, rng);
    /* rate == 1: the mask stays all zeros (ctx tensors start zeroed). */
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &x->shape, &out));
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *m = mask->data;
        T *Y = out->data;
        for (size_t i = 0; i < x->numel; i++)
            Y[i] = X[i] * m[i];
    });
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "dropout", dropout_backward, 1, &x, 1, &out, &node));
    if (node) {
        node->saved[0] = mask;
        node->n_saved = 1;
        node->farg[0] = rate;
    }
    *y = out;
    if (mask_out)
        *mask_out = mask;
    return RNNC_OK;
}
