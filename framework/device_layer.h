/* device_layer.h - one layer class's implementation on a backend: what
 * rnnc_layer_class.device points to, and what the device model
 * (device_model.c) calls for each layer of a Sequential model.
 *
 * A device class is written next to its layer (layers/dense_device.c,
 * gru_device.c, embedding_device.c, masking_device.c) and calls only the
 * backend table (backend_ops.h): no CUDA, no #ifdef. The runner has
 * already refused what no class runs (a dtype other than float32, a 16-bit
 * dtype policy, an activity regularizer, a weight with a regularizer or a
 * constraint); create checks the rest of the layer's config and fails with
 * RNNC_E_UNSUPPORTED and one line from rnnc__dlayer_refuse ("layer 'gru'
 * (GRU): recurrent_dropout 0.2 has no device implementation").
 *
 * Buffers: an instance owns every buffer it writes (outputs, input
 * gradients, workspaces) and keeps them across calls, reallocating through
 * rnnc__dbuf_ensure only when a size changes (a new batch size or sequence
 * length), so a fixed-shape training loop allocates nothing after its
 * first step. Outputs stay valid until the instance's next forward.
 *
 * Masks are host arrays (non-zero = keep) over the input's shape without
 * its last axis ((B, T) for a sequence), as rnnc_model_call passes
 * rnnc_tensor masks: computed from the host batch, never read back. */
#ifndef RNNC_DEVICE_LAYER_H
#define RNNC_DEVICE_LAYER_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/backend_ops.h"
#include "framework/device_model.h"
#include "framework/layer.h"

typedef struct rnnc_dlayer rnnc_dlayer; /* an instance: each class defines the struct */

/* What create gets (valid during the call only, except dm, layer and the
 * rnnc_dweight entries, which live as long as the instance). */
typedef struct rnnc_dlayer_init {
    rnnc_dmodel *dm;
    rnnc_layer *layer;           /* built */
    const rnnc_backend_ops *be;
    rnnc_shape in_shape;         /* the layer's input spec; -1 = known per batch only */
    rnnc_dtype in_dtype;         /* the model input's dtype when on_input, else float32 */
    bool on_input;               /* directly on the model input: forward gets the host batch */
    rnnc_dweight *weights;       /* every weight of the model (rnnc_dmodel_weights); their
                                  * value / grad buffers are allocated after create: keep
                                  * the pointers, read the buffers in forward / backward */
    int n_weights;
} rnnc_dlayer_init;

/* One forward call. The runner sets the inputs; forward sets the outputs. */
typedef struct rnnc_dlayer_io {
    const rnnc_bbuf *x;          /* float32 on the device; NULL for a host_input class */
    rnnc_shape x_shape;          /* the batch's shape */
    const rnnc_tensor *x_host;   /* the host batch when on_input, else NULL */
    const uint8_t *mask;         /* host mask of x (x_shape without its last axis), or NULL */
    bool training;               /* keep what backward needs */
    const rnnc_bbuf *y;          /* out: owned by the instance */
    rnnc_shape y_shape;          /* out */
    const uint8_t *y_mask;       /* out: the next layer's mask (the input's, the instance's, or NULL) */
    /* out, optional (the runner clears it): y = logits_act(logits), softmax
     * or sigmoid, as the last op of the CPU layer's call, whose output's
     * tape node the CPU losses take the logits from (optim/losses.c
     * logits_of, Keras's _keras_logits): Dense, Activation.
     * The buffer stays valid as y does. A class that sets it has
     * backward_logits. */
    const rnnc_bbuf *logits;
    rnnc_act logits_act;
} rnnc_dlayer_io;

struct rnnc_layer_device_class {
    /* Reads the host batch itself (Embedding's ids): the runner uploads no
     * input for it. Such a class is refused anywhere but on the model input. */
    bool host_input;
    /* A forward whose y is its x buffer is the CPU layer returning its
     * input tensor itself (Dropout in inference or at rate 0), so the
     * input's logits stay the output's (the runner carries them). */
    bool passes_logits;
    rnnc_status (*create)(const rnnc_dlayer_init *in, rnnc_dlayer **out);
    rnnc_status (*forward)(rnnc_dlayer *d, rnnc_dlayer_io *io);
    /* After a training forward: dy shaped as its y. Accumulates the weight
     * gradients (rnnc_dweight.grad, when not NULL); when dx is not NULL
     * writes the input gradient to a buffer the instance owns (valid until
     * its next backward) and points *dx at it. */
    rnnc_status (*backward)(rnnc_dlayer *d, const rnnc_bbuf *dy, const rnnc_bbuf **dx);
    /* backward given the gradient with respect to io.logits instead of y
     * (the activation's backward skipped); NULL for a class that never sets
     * io.logits. */
    rnnc_status (*backward_logits)(rnnc_dlayer *d, const rnnc_bbuf *dlogits, const rnnc_bbuf **dx);
    void (*destroy)(rnnc_dlayer *d); /* NULL is a no-op */
};

/* *b holds n elements of dtype on dm's backend: kept when it already does,
 * else freed and allocated anew (counted; the contents are then
 * unspecified). *b may be NULL on entry. */
rnnc_status rnnc__dbuf_ensure(rnnc_dmodel *dm, rnnc_dtype dtype, size_t n, rnnc_bbuf **b);
/* Buffers allocated on the backend so far by the model and its layers'
 * instances (weights, gradients, activations, workspaces; not what a
 * backend op allocates inside itself, such as the GRU op's workspaces). */
size_t rnnc__dmodel_allocs(const rnnc_dmodel *dm);

/* RNNC_E_UNSUPPORTED with "layer '<name>' (<class>): <what>" (printf). */
rnnc_status rnnc__dlayer_refuse(const rnnc_layer *l, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* RNNC_E_UNSUPPORTED naming the first op of ops[0..n) that be does not
 * run for float32, as rnnc__dlayer_refuse does; RNNC_OK when all run. */
rnnc_status rnnc__dlayer_need_ops(const rnnc_layer *l, const rnnc_backend_ops *be, const rnnc_bop *ops,
                                  int n);

/* The device twin of one of the layer's weight tensors, or NULL. */
static inline rnnc_dweight *rnnc__dlayer_weight(const rnnc_dlayer_init *in, const rnnc_tensor *host)
{
    for (int i = 0; host && i < in->n_weights; i++)
        if (in->weights[i].host->value == host)
            return &in->weights[i];
    return NULL;
}

#endif
