/* gru_device.c - GRU on a backend (framework/device_layer.h): the table's
 * GRU op (create / forward / backward) over the layer's Keras-layout
 * weights, with Keras's use_cudnn rules as gru.c applies them: 'auto' runs
 * cuDNN on a CUDA backend when rnnc_cudnn_gru_supported says the config
 * and this batch's mask allow it, else the generic kernel; True fails
 * naming the condition that does not hold (a backend without cuDNN
 * included); False runs the generic kernel. The output mask follows Keras
 * 3.15.1 (framework/rnn.h): the input mask with return_sequences, else
 * none.
 *
 * Input dropout (`dropout`, implementation 2: one (B, F) mask shared by
 * the three gates, as the CPU's fused kernel applies it): in a training
 * call with 0 < dropout < 1 the mask is drawn on the host from the cell's
 * generator exactly as gru_cell.c's begin_call draws it
 * (dropout_device_internal.h), expanded over the T steps, and x * mask goes into
 * the GRU op; backward multiplies the op's dx by the same mask. Every
 * call also advances the generator where the CPU's begin_call only skips
 * a mask (inference, rate 1, recurrent_dropout 1's three masks), so the
 * host stream stays the CPU path's.
 *
 * Refused at create, each with one line: stateful, return_state,
 * activations that are not element-wise, recurrent_dropout in (0, 1) (the
 * GRU op takes no recurrent mask), dropout in (0, 1) with implementation 1
 * (three per-gate input masks). Per call: masks injected with
 * rnnc_gru_set_dropout_masks. A Sequential model gives the GRU no initial
 * state. */
#include <stdio.h>
#include <stdlib.h>

#include "framework/backend/cuda_gru.h"
#include "framework/device_layer.h"
#include "framework/rnn.h"
#include "layers/gru.h"
#include "layers/rnn_device_common_internal.h"

struct rnnc_dlayer {
    rnnc__drnn r;               /* weights, dropout, y, dx */
    const rnnc_backend_ops *be;
    rnnc_gru_cell *cell;        /* its rng is the dropout stream */
    rnnc_use_cudnn use_cudnn;
    bool unroll;
    rnnc_bgru_config cfg;
    rnnc_bgru *generic, *cudnn; /* made on first use */
    rnnc_bgru *last;            /* the one the latest forward ran */
};

static void gru_ddestroy(rnnc_dlayer *dl)
{
    if (!dl)
        return;
    const rnnc_backend_ops *be = dl->be;
    be->gru_destroy(dl->generic);
    be->gru_destroy(dl->cudnn);
    rnnc__drnn_free(&dl->r);
    free(dl);
}

static rnnc_cudnn_gru_query cudnn_query(const rnnc_dlayer *dl)
{
    const rnnc_gru_cell *c = dl->cell;
    rnnc_cudnn_gru_query q = {
        .activation = c->activation,
        .recurrent_activation = c->recurrent_activation,
        .use_bias = c->use_bias,
        .reset_after = c->reset_after,
        .unroll = dl->unroll,
        .recurrent_dropout = 0.0,         /* refused at create */
        .per_gate_input_dropout = false,  /* likewise (dropout) */
        .dtype = RNNC_F32,
    };
    return q;
}

/* Whether cuDNN runs this call (mask NULL: the config alone); why says
 * which condition fails. */
static bool cudnn_ok(const rnnc_dlayer *dl, const uint8_t *mask, int64_t B, int64_t T, char *why,
                     size_t cap)
{
    if (dl->be->device != RNNC_DEVICE_CUDA) {
        snprintf(why, cap, "the %s backend has no cuDNN", dl->be->name);
        return false;
    }
    rnnc_tensor mt = {.dtype = RNNC_U8, .shape = RNNC_SHAPE(B, T), .numel = (size_t)(B * T),
                      .data = (void *)mask};
    const rnnc_cudnn_gru_query q = cudnn_query(dl);
    return rnnc_cudnn_gru_supported(&q, mask ? &mt : NULL, why, cap) == RNNC_CUDNN_GRU_OK;
}

static rnnc_status use_cudnn_true_fails(const char *why)
{
    return rnnc_fail(RNNC_E_UNSUPPORTED, "use_cudnn=True, but cuDNN cannot run this call (pass use_cudnn='auto' to fall back): %s",
                     why);
}

static rnnc_status gru_dcreate(const rnnc_dlayer_init *in, rnnc_dlayer **out)
{
    rnnc_layer *l = in->layer;
    rnnc_rnn *rnn = rnnc_rnn_of(l);
    rnnc_gru_cell *c = rnnc_gru_cell_of_layer(l);
    char why[512];
    *out = NULL;
    if (!rnn || !c)
        return rnnc_fail(RNNC_E_STATE, "layer '%s' is not a GRU", l->name);
    const rnnc__drnn_cell ci = RNNC__DRNN_CELL(c, 3);
    RNNC_TRY(rnnc__drnn_refuse(in, rnn, &ci, "GRU", "a GRU", RNNC_BOP_GRU));
    rnnc_dlayer *dl = calloc(1, sizeof *dl);
    if (!dl)
        return rnnc_fail(RNNC_E_NOMEM, "GRU: out of memory");
    dl->be = in->be;
    dl->cell = c;
    dl->use_cudnn = rnnc_gru_use_cudnn(l);
    dl->unroll = rnn->opt.unroll;
    dl->cfg = (rnnc_bgru_config){
        .input_size = c->kernel->shape.dim[0],
        .units = c->units,
        .activation = c->activation,
        .recurrent_activation = c->recurrent_activation,
        .use_bias = c->use_bias,
        .reset_after = c->reset_after,
        .go_backwards = rnn->opt.go_backwards,
        .return_sequences = rnn->opt.return_sequences,
        .zero_output_for_mask = rnn->opt.zero_output_for_mask,
    };
    rnnc_status s = rnnc__drnn_init(&dl->r, in, rnn, c->kernel, c->recurrent_kernel,
                                    c->use_bias ? c->bias : NULL, c->units, "GRU");
    if (s) {
        free(dl);
        return s;
    }
    /* use_cudnn=True: what the config alone rules out fails now (the mask
     * is checked per batch). */
    if (dl->use_cudnn == RNNC_USE_CUDNN_TRUE && !cudnn_ok(dl, NULL, 0, 0, why, sizeof why)) {
        free(dl);
        return rnnc_fail_context(use_cudnn_true_fails(why), "layer '%s' (GRU): ", l->name);
    }
    *out = dl;
    return RNNC_OK;
}

/* The op instance for this call, made on first use. */
static rnnc_status pick(rnnc_dlayer *dl, const uint8_t *mask, int64_t B, int64_t T, rnnc_bgru **out)
{
    char why[512];
    bool cudnn = false;
    if (dl->use_cudnn != RNNC_USE_CUDNN_FALSE) {
        cudnn = cudnn_ok(dl, mask, B, T, why, sizeof why);
        if (!cudnn && dl->use_cudnn == RNNC_USE_CUDNN_TRUE)
            return use_cudnn_true_fails(why);
    }
    rnnc_bgru **g = cudnn ? &dl->cudnn : &dl->generic;
    if (!*g) {
        rnnc_bgru_config cfg = dl->cfg;
        cfg.cudnn = cudnn;
        RNNC_TRY(dl->be->gru_create(&cfg, g));
    }
    *out = *g;
    return RNNC_OK;
}

static rnnc_status gru_dforward(rnnc_dlayer *dl, rnnc_dlayer_io *io)
{
    rnnc__drnn *r = &dl->r;
    RNNC_TRY(rnnc__drnn_check_input(r, io));
    const int64_t B = io->x_shape.dim[0], T = io->x_shape.dim[1];
    rnnc_bgru *g = NULL;
    RNNC_TRY(pick(dl, io->mask, B, T, &g));
    const rnnc__drnn_cell ci = RNNC__DRNN_CELL(dl->cell, 3);
    const rnnc_bbuf *x = io->x;
    dl->last = NULL;
    if (dl->cell->inject_pending)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "dropout masks injected with rnnc_gru_set_dropout_masks have no device implementation");
    RNNC_TRY(rnnc__drnn_begin_forward(r, &ci, io, &x));
    RNNC_TRY(dl->be->gru_forward(g, B, T, x, NULL, io->mask, r->w[0]->value, r->w[1]->value,
                                 r->w[2] ? r->w[2]->value : NULL, io->training, r->y, NULL));
    dl->last = g;
    rnnc__drnn_end_forward(r, io);
    return RNNC_OK;
}

static rnnc_status gru_dbackward(rnnc_dlayer *dl, const rnnc_bbuf *dy, const rnnc_bbuf **dx)
{
    rnnc__drnn *r = &dl->r;
    rnnc_bbuf *grad[3];
    if (!dl->last)
        return rnnc_fail(RNNC_E_STATE, "backward without a forward");
    RNNC_TRY(rnnc__drnn_begin_backward(r, dx != NULL, grad));
    RNNC_TRY(dl->be->gru_backward(dl->last, dy, dx ? r->dx : NULL, NULL, grad[0], grad[1], grad[2]));
    return rnnc__drnn_end_backward(r, dx);
}

const struct rnnc_layer_device_class rnnc_gru_device_class = {
    .create = gru_dcreate,
    .forward = gru_dforward,
    .backward = gru_dbackward,
    .destroy = gru_ddestroy,
};
