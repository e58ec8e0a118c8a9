/* device_model.h - a Sequential model's forward and backward on a backend
 * (backend_ops.h): weights, gradients and activations in that backend's
 * memory, every computation an op of its table. The training step of
 * optim/ (device_step) is built on it; `rnnc train --device cuda` runs it
 * on the GPU, and tests run it on the CPU table and on the CUDA emulation.
 *
 * Each layer class that can run on a device says so with a device class
 * (rnnc_layer_class.device, framework/layer.h; implemented in layers/):
 * create checks the layer's config against what the backend runs and
 * fails with RNNC_E_UNSUPPORTED and one line naming the layer and the
 * argument otherwise ("layer 'gru' (GRU): recurrent_dropout 0.2 has no
 * device implementation"). The model runs its layers in order, as
 * rnnc_model_call does; masks (Keras's mask propagation) are computed on
 * the host from the host batch (Masking, Embedding mask_zero) and passed
 * along as host (B, T) arrays, so nothing is read back from the device.
 *
 * Weights: the layer's rnnc_weight values (host tensors) stay the model's
 * truth outside a fit; rnnc_dmodel_upload copies them to the device and
 * rnnc_dmodel_download copies the device values back (saving, callbacks).
 * Between those, the device buffers are the current values.
 *
 * Training-time randomness (Dropout, a GRU's input dropout): the masks
 * are drawn on the host from the layers' own generators exactly as the
 * CPU layers draw them (layers/dropout_device_internal.h) and uploaded, so a
 * training forward here multiplies by the masks rnnc_model_call would,
 * and the generators advance as on the CPU path.
 *
 * Not here: Functional models, layers without a device class, a GRU's
 * recurrent_dropout, regularizers and constraints: create refuses them,
 * naming which. */
#ifndef RNNC_DEVICE_MODEL_H
#define RNNC_DEVICE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/backend_ops.h"
#include "framework/model.h"

typedef struct rnnc_dmodel rnnc_dmodel;

/* One weight on the device: its host twin, its value and, when trainable,
 * its gradient (same element count; zeroed by rnnc_dmodel_zero_grad,
 * accumulated by backward). */
typedef struct rnnc_dweight {
    rnnc_weight *host; /* the layer's weight (borrowed) */
    rnnc_bbuf *value;  /* owned by the rnnc_dmodel */
    rnnc_bbuf *grad;   /* owned; NULL when not trainable */
    /* A row-gathered weight (an Embedding's table): its device class sets
     * rows in create; then, when trainable, grad_sq (owned; zeroed and
     * accumulated as grad) gets the sum over the looked-up rows of each
     * row's squared gradient, what Keras's Adam moves v toward for a sparse
     * gradient (backend_ops.h's adam g_sq). NULL for every other weight. */
    bool rows;
    rnnc_bbuf *grad_sq;
} rnnc_dweight;

/* The device instance of model m on backend be: every layer's device
 * class created (RNNC_E_UNSUPPORTED naming the first layer that cannot
 * run), buffers allocated, weights uploaded. m must be built and must
 * outlive the result. */
rnnc_status rnnc_dmodel_create(rnnc_model *m, const rnnc_backend_ops *be, rnnc_dmodel **out);
void rnnc_dmodel_destroy(rnnc_dmodel *dm); /* NULL is a no-op */

const rnnc_backend_ops *rnnc_dmodel_backend(const rnnc_dmodel *dm);

/* The weights in Keras order (rnnc_model_weights' order), trainable ones
 * first; valid while dm lives. */
rnnc_dweight *rnnc_dmodel_weights(rnnc_dmodel *dm, int *n);

/* Host values -> device (after the host weights changed: set_weights, a
 * callback restoring the best weights) / device -> host values. */
rnnc_status rnnc_dmodel_upload(rnnc_dmodel *dm);
rnnc_status rnnc_dmodel_download(rnnc_dmodel *dm);

/* Forward over a host batch x ((B, ...) as the model's input: float32, or
 * int32 ids for an Embedding first). The input is uploaded; *y is the
 * last layer's output on the device (owned by dm, valid until the next
 * forward), y_shape its shape, *y_mask the host (B, T) mask of the output
 * (NULL when none; owned by dm), as Keras passes it to the loss. training:
 * keep what backward needs. */
rnnc_status rnnc_dmodel_forward(rnnc_dmodel *dm, const rnnc_tensor *x, bool training, const rnnc_bbuf **y,
                                rnnc_shape *y_shape, const uint8_t **y_mask);

/* The logits of the latest forward's y, or NULL: when the last layer's
 * output is softmax or sigmoid (*act) of a buffer, as the CPU tape's last
 * op (a Dense, at any rank, or an Activation, maybe followed by Dropouts
 * passing it through) and some weight of the model is trainable (the CPU path records that op, and its losses take
 * its input as the logits, only then: optim/losses.c logits_of, Keras's
 * _keras_logits). Valid as y is. */
const rnnc_bbuf *rnnc_dmodel_logits(const rnnc_dmodel *dm, rnnc_act *act);

/* After a training forward: dy (shaped as y) -> every trainable weight's
 * grad (accumulated). */
rnnc_status rnnc_dmodel_backward(rnnc_dmodel *dm, const rnnc_bbuf *dy);
/* The same given the gradient with respect to rnnc_dmodel_logits (which
 * must not be NULL) instead of y. */
rnnc_status rnnc_dmodel_backward_logits(rnnc_dmodel *dm, const rnnc_bbuf *dlogits);
rnnc_status rnnc_dmodel_zero_grad(rnnc_dmodel *dm);

#endif
