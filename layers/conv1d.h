/* conv1d.h - Keras's Conv1D: filters, kernel_size, strides, padding
 * ("valid", "same", "causal"), data_format, dilation_rate, groups,
 * activation, use_bias, initializers, regularizers (activity included),
 * constraints; get_config in Keras 3.15's key order.
 *
 * Weights: kernel (kernel_size, in_channels / groups, filters), bias
 * (filters,). Computed as patches (index_gather.h) times the kernel, one
 * product per group, so the backward is derived from ops. Masks are not
 * passed on (Keras's Conv1D does not support masking). */
#ifndef RNNC_LAYERS_CONV1D_H
#define RNNC_LAYERS_CONV1D_H

#include "framework/layer.h"

/* Keras's Conv1D.from_config. Caller owns *out. */
rnnc_status rnnc_conv1d_from_config(const rnnc_cfg *config, rnnc_layer **out);

#endif
