/* backend_ops_rnn_checks.c - the recurrent ops' argument checks
 * (backend_ops_internal.h), shared by the CPU and CUDA tables: the rules
 * the GRU and LSTM ops share (config, weight buffers, batch and timesteps;
 * the GRU op's own checks in backend_ops_train_checks.c call them) and the
 * LSTM op's checks. */
#include <stdio.h>

#include "framework/backend_ops_internal.h"

static bool same(const rnnc_bbuf *a, const rnnc_bbuf *b) { return a && b && a == b; }

rnnc_status rnnc__rnn_op_config_check(const rnnc_backend_ops *be, const char *layer, int64_t F,
                                      int64_t U, rnnc_act act, rnnc_act ract)
{
    if (F < 1 || U < 1 || F > (1 << 24) || U > (1 << 16))
        return rnnc_fail(RNNC_E_ARG, "%s %s_create: input_size %lld and units %lld must be in "
                         "[1, 2^24] and [1, 2^16]", be->name, layer, (long long)F, (long long)U);
    if ((unsigned)act >= RNNC_ACT_COUNT || !rnnc_act_is_elementwise(act) ||
        (unsigned)ract >= RNNC_ACT_COUNT || !rnnc_act_is_elementwise(ract))
        return rnnc_fail(RNNC_E_ARG, "%s %s_create: activation '%s' / recurrent_activation '%s': "
                         "the op takes element-wise activations only", be->name, layer,
                         rnnc_act_name(act), rnnc_act_name(ract));
    return RNNC_OK;
}

rnnc_status rnnc__lstm_config_check(const rnnc_backend_ops *be, const rnnc_blstm_config *c)
{
    if (!c)
        return rnnc_fail(RNNC_E_ARG, "%s lstm_create: config is NULL", be->name);
    return rnnc__rnn_op_config_check(be, "lstm", c->input_size, c->units, c->activation,
                                     c->recurrent_activation);
}

rnnc_status rnnc__rnn_op_weights_check(const rnnc_backend_ops *be, const char *op, const char *prefix,
                                       const char *layer, int64_t F, int64_t U, int gates,
                                       size_t n_bias, bool use_bias, const rnnc_bbuf *k,
                                       const rnnc_bbuf *r, const rnnc_bbuf *b)
{
    char nk[32], nr[32], nb[32];
    snprintf(nk, sizeof nk, "%skernel", prefix);
    snprintf(nr, sizeof nr, "%srecurrent_kernel", prefix);
    snprintf(nb, sizeof nb, "%sbias", prefix);
    RNNC_TRY(rnnc__bop_check(be, op, nk, k, RNNC_F32, (size_t)(F * gates * U)));
    RNNC_TRY(rnnc__bop_check(be, op, nr, r, RNNC_F32, (size_t)(U * gates * U)));
    if (use_bias)
        return rnnc__bop_check(be, op, nb, b, RNNC_F32, n_bias);
    if (b)
        return rnnc_fail(RNNC_E_ARG, "%s %s: argument '%s' given to %s with use_bias=False",
                         be->name, op, nb, layer);
    return RNNC_OK;
}

rnnc_status rnnc__rnn_op_sizes_check(const rnnc_backend_ops *be, const char *op, int64_t B,
                                     int64_t T, int64_t F, int64_t G)
{
    if (B < 1 || T < 1 || B > (1 << 24) || T > (1 << 24) ||
        (double)B * (double)T * (double)(G + F) > 1.5e9)
        return rnnc_fail(RNNC_E_SHAPE, "%s %s: batch %lld x timesteps %lld out of range (each >= 1)",
                         be->name, op, (long long)B, (long long)T);
    return RNNC_OK;
}

static rnnc_status lstm_weights(const rnnc_backend_ops *be, const char *op, const char *prefix,
                                const rnnc_blstm_config *c, const rnnc_bbuf *k, const rnnc_bbuf *r,
                                const rnnc_bbuf *b)
{
    return rnnc__rnn_op_weights_check(be, op, prefix, "an LSTM", c->input_size, c->units, 4,
                                      (size_t)(4 * c->units), c->use_bias, k, r, b);
}

rnnc_status rnnc__lstm_forward_check(const rnnc_backend_ops *be, const rnnc_blstm_config *c,
                                      int64_t B, int64_t T, const rnnc_bbuf *x, const rnnc_bbuf *h0,
                                      const rnnc_bbuf *c0, const rnnc_bbuf *kernel,
                                      const rnnc_bbuf *recurrent_kernel, const rnnc_bbuf *bias,
                                      const rnnc_bbuf *y, const rnnc_bbuf *h_state,
                                      const rnnc_bbuf *c_state)
{
    const char *op = "lstm_forward";
    const int64_t F = c->input_size, U = c->units;
    RNNC_TRY(rnnc__rnn_op_sizes_check(be, op, B, T, F, 4 * U));
    const size_t bu = (size_t)(B * U);
    RNNC_TRY(rnnc__bop_check(be, op, "x", x, RNNC_F32, (size_t)(B * T * F)));
    if (h0)
        RNNC_TRY(rnnc__bop_check(be, op, "h0", h0, RNNC_F32, bu));
    if (c0)
        RNNC_TRY(rnnc__bop_check(be, op, "c0", c0, RNNC_F32, bu));
    RNNC_TRY(lstm_weights(be, op, "", c, kernel, recurrent_kernel, bias));
    RNNC_TRY(rnnc__bop_check(be, op, "y", y, RNNC_F32, c->return_sequences ? bu * (size_t)T : bu));
    if (h_state)
        RNNC_TRY(rnnc__bop_check(be, op, "h_state", h_state, RNNC_F32, bu));
    if (c_state)
        RNNC_TRY(rnnc__bop_check(be, op, "c_state", c_state, RNNC_F32, bu));
    const rnnc_bbuf *outs[] = {y, h_state, c_state}, *ins[] = {x, h0, c0};
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++)
            if (same(outs[i], ins[j]) || (j > i && same(outs[i], outs[j])))
                return rnnc_fail(RNNC_E_ARG, "%s %s: the outputs must not be inputs or each other",
                                 be->name, op);
    }
    return RNNC_OK;
}

rnnc_status rnnc__lstm_backward_check(const rnnc_backend_ops *be, const rnnc_blstm_config *c,
                                       int64_t B, int64_t T, const rnnc_bbuf *dy, const rnnc_bbuf *dx,
                                       const rnnc_bbuf *dh0, const rnnc_bbuf *dc0,
                                       const rnnc_bbuf *dkernel, const rnnc_bbuf *drecurrent_kernel,
                                       const rnnc_bbuf *dbias)
{
    const char *op = "lstm_backward";
    const int64_t F = c->input_size, U = c->units;
    const size_t bu = (size_t)(B * U);
    RNNC_TRY(rnnc__bop_check(be, op, "dy", dy, RNNC_F32, c->return_sequences ? bu * (size_t)T : bu));
    if (dx)
        RNNC_TRY(rnnc__bop_check(be, op, "dx", dx, RNNC_F32, (size_t)(B * T * F)));
    if (dh0)
        RNNC_TRY(rnnc__bop_check(be, op, "dh0", dh0, RNNC_F32, bu));
    if (dc0)
        RNNC_TRY(rnnc__bop_check(be, op, "dc0", dc0, RNNC_F32, bu));
    RNNC_TRY(lstm_weights(be, op, "d", c, dkernel, drecurrent_kernel, dbias));
    if (same(dx, dy) || same(dh0, dy) || same(dh0, dx) || same(dc0, dy) || same(dc0, dx) ||
        same(dc0, dh0))
        return rnnc_fail(RNNC_E_ARG, "%s %s: the outputs must not be dy or each other", be->name, op);
    return RNNC_OK;
}
