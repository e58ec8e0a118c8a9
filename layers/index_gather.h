/* index_gather.h - a differentiable gather through an index map, private to
 * layers/ (Conv1D's patches, pooling windows, layout transposes).
 *
 * y[i] = idx[i] >= 0 ? x[idx[i]] : fill, over flat element indices;
 * backward: dx[idx[i]] += dy[i] (padding positions get no gradient). */
#ifndef RNNC_LAYERS_INDEX_GATHER_H
#define RNNC_LAYERS_INDEX_GATHER_H

#include "framework/autograd.h"
#include "framework/config.h"

/* idx has numel(out_shape) entries in [-1, numel(x)); it is copied. y is
 * ctx-owned, x's dtype (float32 / float64). */
rnnc_status rnnc__index_gather(rnnc_ctx *cx, rnnc_tensor *x, const int64_t *idx,
                               const rnnc_shape *out_shape, double fill, rnnc_tensor **y);

/* The map of a transpose of the last two axes of a rank-3 tensor (B, M, N)
 * -> (B, N, M); malloc'd (NULL when out of memory). */
int64_t *rnnc__swap_last_axes_map(int64_t B, int64_t M, int64_t N);

/* y (B, N, M) = x (B, M, N) with the last two axes swapped (a gather). */
rnnc_status rnnc__swap_last_axes(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y);

/* 1-D window geometry (Keras's conv / pooling output length). */
typedef enum { RNNC_PAD_VALID, RNNC_PAD_SAME, RNNC_PAD_CAUSAL } rnnc__padding;

/* Output length and left padding of windows of `size` taps spaced
 * `dilation` apart, moved by `stride`, over a length L. */
void rnnc__window1d(int64_t L, int64_t size, int64_t stride, int64_t dilation, rnnc__padding pad,
                    int64_t *out_len, int64_t *pad_left);

/* A 1-D argument as Keras writes it: an int or a one-element list
 * (kernel_size, strides, dilation_rate, pool_size); missing or null ->
 * dflt; must be in [1, RNNC_CFG_MAX_DIM]. */
rnnc_status rnnc__read_int1(const rnnc_cfg *cfg, const char *what, const char *key, int64_t dflt,
                            int64_t *out);
/* padding "valid" / "same" (/ "causal" when allowed), case-insensitive. */
rnnc_status rnnc__read_padding(const rnnc_cfg *cfg, const char *what, bool causal_ok,
                               rnnc__padding *out);
/* data_format "channels_last" (default) / "channels_first"; *first set. */
rnnc_status rnnc__read_data_format(const rnnc_cfg *cfg, const char *what, bool *first);
const char *rnnc__padding_name(rnnc__padding p);
/* Writes [v] (Keras's one-element tuple). */
rnnc_status rnnc__set_int1(rnnc_cfg *cfg, const char *key, int64_t v);

#endif
