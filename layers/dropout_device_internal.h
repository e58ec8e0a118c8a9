/* dropout_device_internal.h - training-time dropout on a backend, shared by the
 * Dropout layer's device class and the GRU's input dropout
 * (layers/dropout_device.c, gru_device.c).
 *
 * The keep mask is drawn on the HOST from the layer's own generator
 * (rnnc_rng, framework/random.h) exactly as the CPU layer draws it
 * (framework/ops_dropout.c, layers/gru_cell.c): n uniforms from
 * rnnc_rng_uniform (ceil(n/2) blocks of the stream), element i kept with
 * the float32 multiplier (float)(1 / (1 - rate)) when u_i >= rate, else 0.
 * So the device multiplies by the very mask the CPU would, the host
 * generator advances by the same counts, and a checkpoint written from
 * either path resumes on the other with the same draws. A mask whose
 * size-1 dims are one run (a GRU's or LSTM's (B, 1, F) over its T steps,
 * noise_shape (B, 1, F) or (1, T, F)) is uploaded as drawn and applied
 * with the table's mul_bcast; any other noise shape is broadcast on the
 * host to the input's shape, uploaded, and applied with the binary
 * multiply: forward y = x * mask, backward dx = dy * mask. */
#ifndef RNNC_LAYERS_DROPOUT_DEVICE_H
#define RNNC_LAYERS_DROPOUT_DEVICE_H

#include <stddef.h>

#include "framework/device_layer.h"
#include "framework/random.h"

/* m[0..n) = the multipliers of one draw of n uniforms from rng with rate
 * in (0, 1); rate 1 gives zeros and draws nothing, as the CPU op. */
void rnnc__dropout_draw_host(rnnc_rng *rng, double rate, float *m, size_t n);

/* A mask on the device and the buffers that apply it (owned; kept across
 * calls while the size stays). Zero-initialize; free with
 * rnnc__ddrop_free. */
typedef struct rnnc__ddrop {
    rnnc_dmodel *dm;
    const rnnc_backend_ops *be;
    float *noise, *host;      /* the drawn mask, and broadcast to x's shape */
    size_t noise_cap, host_cap;
    rnnc_bbuf *mask, *y;      /* device: the mask (as drawn when bcast, else x's shape), y = x * mask */
    bool bcast;               /* the mask is (outer, inner), x (outer, mid, inner) */
    int64_t outer, mid, inner;
} rnnc__ddrop;

/* Draws one mask of shape `noise` (each dim x_shape's or 1) from rng at
 * rate, uploads it (broadcast to x_shape on the host unless mul_bcast
 * can apply it) and sets *y = x * mask (a buffer of dd). */
rnnc_status rnnc__ddrop_forward(rnnc__ddrop *dd, rnnc_rng *rng, double rate, const rnnc_shape *noise,
                                const rnnc_shape *x_shape, const rnnc_bbuf *x, const rnnc_bbuf **y);
/* dx = dy * the latest forward's mask; dx may be dy. */
rnnc_status rnnc__ddrop_backward(rnnc__ddrop *dd, const rnnc_bbuf *dy, rnnc_bbuf *dx);
void rnnc__ddrop_free(rnnc__ddrop *dd);

#endif
