/* rnn_device_common.c - see rnn_device_common_internal.h. */
#include "layers/rnn_device_common_internal.h"

#include <stdio.h>

rnnc_status rnnc__drnn_refuse(const rnnc_dlayer_init *in, const rnnc_rnn *rnn,
                              const rnnc__drnn_cell *c, const char *kind, const char *a_kind,
                              rnnc_bop op)
{
    rnnc_layer *l = in->layer;
    if (rnn->opt.stateful)
        return rnnc__dlayer_refuse(l, "stateful=True has no device implementation");
    if (rnn->opt.return_state)
        return rnnc__dlayer_refuse(l, "return_state=True has no device implementation");
    if (!rnnc_act_is_elementwise(c->activation) || !rnnc_act_is_elementwise(c->recurrent_activation))
        return rnnc__dlayer_refuse(l, "activation '%s' / recurrent_activation '%s' has no device implementation (element-wise ones)",
                                   rnnc_act_name(c->activation), rnnc_act_name(c->recurrent_activation));
    /* Training-time randomness: the CPU applies a rate in (0, 1) only (rate
     * 1 drops nothing). */
    if (c->recurrent_dropout > 0.0 && c->recurrent_dropout < 1.0)
        return rnnc__dlayer_refuse(l, "recurrent_dropout %g has no device implementation (the %s op takes no recurrent mask; dropout runs)",
                                   c->recurrent_dropout, kind);
    if (c->dropout > 0.0 && c->dropout < 1.0 && c->implementation == 1)
        return rnnc__dlayer_refuse(l, "dropout %g with implementation 1 (a mask per gate) has no device implementation (implementation 2's shared mask runs)",
                                   c->dropout);
    if (in->in_shape.ndim != 3)
        return rnnc__dlayer_refuse(l, "an input of rank %d (%s takes (batch, timesteps, features))",
                                   in->in_shape.ndim, a_kind);
    const rnnc_bop ops[] = {op, RNNC_BOP_BINARY};
    return rnnc__dlayer_need_ops(l, in->be, ops, c->dropout > 0.0 && c->dropout < 1.0 ? 2 : 1);
}

rnnc_status rnnc__drnn_init(rnnc__drnn *r, const rnnc_dlayer_init *in, const rnnc_rnn *rnn,
                            rnnc_tensor *kernel, rnnc_tensor *recurrent_kernel, rnnc_tensor *bias,
                            int64_t units, const char *kind)
{
    r->dm = in->dm;
    r->be = in->be;
    r->drop.dm = in->dm;
    r->drop.be = in->be;
    r->F = kernel->shape.dim[0];
    r->U = units;
    r->return_sequences = rnn->opt.return_sequences;
    r->w[0] = rnnc__dlayer_weight(in, kernel);
    r->w[1] = rnnc__dlayer_weight(in, recurrent_kernel);
    r->w[2] = bias ? rnnc__dlayer_weight(in, bias) : NULL;
    if (!r->w[0] || !r->w[1] || (bias && !r->w[2]))
        return rnnc_fail(RNNC_E_STATE, "%s '%s': its weights are not among the model's", kind,
                         in->layer->name);
    return RNNC_OK;
}

void rnnc__drnn_free(rnnc__drnn *r)
{
    const rnnc_backend_ops *be = r->be;
    if (!be)
        return;
    be->free(r->y);
    be->free(r->dx);
    for (int i = 0; i < 3; i++)
        be->free(r->scratch[i]);
    rnnc__ddrop_free(&r->drop);
}

rnnc_status rnnc__drnn_check_input(const rnnc__drnn *r, const rnnc_dlayer_io *io)
{
    char s[160];
    if (io->x_shape.ndim != 3 || io->x_shape.dim[2] != r->F)
        return rnnc_fail(RNNC_E_SHAPE, "input shape %s does not match the kernel (expected (batch, timesteps, %lld))",
                         rnnc_shape_str(&io->x_shape, s, sizeof s), (long long)r->F);
    return RNNC_OK;
}

rnnc_status rnnc__drnn_begin_forward(rnnc__drnn *r, const rnnc__drnn_cell *c,
                                     const rnnc_dlayer_io *io, const rnnc_bbuf **x)
{
    const int64_t B = io->x_shape.dim[0], T = io->x_shape.dim[1], F = r->F, U = r->U;
    const int n_in = c->dropout > 0.0 ? (c->implementation == 1 ? c->gates : 1) : 0;
    const int n_rec = c->recurrent_dropout > 0.0 ? c->gates : 0;
    *x = io->x;
    r->dropped = io->training && c->dropout > 0.0 && c->dropout < 1.0; /* implementation 2 (create) */
    if (r->dropped) {
        const rnnc_shape noise = RNNC_SHAPE(B, 1, F);
        RNNC_TRY(rnnc__ddrop_forward(&r->drop, c->rng, c->dropout, &noise, &io->x_shape, io->x, x));
    } else {
        c->rng->counter += (uint64_t)n_in * (uint64_t)((B * F + 1) / 2);
    }
    c->rng->counter += (uint64_t)n_rec * (uint64_t)((B * U + 1) / 2);
    const size_t ny = (size_t)B * (size_t)(r->return_sequences ? T : 1) * (size_t)U;
    return rnnc__dbuf_ensure(r->dm, RNNC_F32, ny, &r->y);
}

void rnnc__drnn_end_forward(rnnc__drnn *r, rnnc_dlayer_io *io)
{
    const int64_t B = io->x_shape.dim[0], T = io->x_shape.dim[1], U = r->U;
    r->B = B;
    r->T = T;
    io->y = r->y;
    const rnnc_shape seq = RNNC_SHAPE(B, T, U), last = RNNC_SHAPE(B, U);
    io->y_shape = r->return_sequences ? seq : last;
    io->y_mask = r->return_sequences ? io->mask : NULL;
}

rnnc_status rnnc__drnn_begin_backward(rnnc__drnn *r, bool want_dx, rnnc_bbuf *grad[3])
{
    for (int i = 0; i < 3; i++) {
        grad[i] = NULL;
        if (!r->w[i])
            continue;
        grad[i] = r->w[i]->grad;
        if (!grad[i]) { /* frozen: the op still writes somewhere */
            RNNC_TRY(rnnc__dbuf_ensure(r->dm, RNNC_F32, r->w[i]->value->n, &r->scratch[i]));
            RNNC_TRY(r->be->fill(r->scratch[i], 0.0f));
            grad[i] = r->scratch[i];
        }
    }
    if (want_dx)
        RNNC_TRY(rnnc__dbuf_ensure(r->dm, RNNC_F32, (size_t)(r->B * r->T * r->F), &r->dx));
    return RNNC_OK;
}

rnnc_status rnnc__drnn_end_backward(rnnc__drnn *r, const rnnc_bbuf **dx)
{
    if (dx && r->dropped) /* d(x * mask) / dx */
        RNNC_TRY(rnnc__ddrop_backward(&r->drop, r->dx, r->dx));
    if (dx)
        *dx = r->dx;
    return RNNC_OK;
}
