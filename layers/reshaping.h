/* reshaping.h - Keras's Flatten (data_format), Reshape (target_shape, one
 * entry may be -1) and RepeatVector (n). No weights; no mask is passed on
 * (none of them supports masking in Keras 3.15). */
#ifndef RNNC_LAYERS_RESHAPING_H
#define RNNC_LAYERS_RESHAPING_H

#include "framework/layer.h"

rnnc_status rnnc_flatten_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_reshape_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_repeat_vector_from_config(const rnnc_cfg *config, rnnc_layer **out);

#endif
