/* pooling1d.h - Keras's MaxPooling1D, AveragePooling1D (pool_size,
 * strides (default pool_size), padding "valid" / "same", data_format) and
 * GlobalAveragePooling1D, GlobalMaxPooling1D (data_format, keepdims).
 *
 * Windows are gathered (index_gather.h) and reduced with ops, so gradients
 * are derived. As Keras (TensorFlow): "same" max pooling ignores the
 * padding, "same" average pooling divides by the number of real steps in
 * each window. GlobalAveragePooling1D is mask-aware (the mean over the kept
 * steps; a fully masked row gives 0/0 = NaN as in Keras);
 * GlobalMaxPooling1D ignores a mask, as Keras 3.15 does. No mask is passed
 * on by any of them. */
#ifndef RNNC_LAYERS_POOLING1D_H
#define RNNC_LAYERS_POOLING1D_H

#include "framework/layer.h"

rnnc_status rnnc_max_pooling1d_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_average_pooling1d_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_global_average_pooling1d_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_global_max_pooling1d_from_config(const rnnc_cfg *config, rnnc_layer **out);

#endif
