/* device_classes_internal.h - the device classes (framework/device_layer.h) of the
 * layers that run on a backend; each layer's class table points its
 * `device` field at its own (layers/<layer>_device.c). */
#ifndef RNNC_LAYERS_DEVICE_CLASSES_H
#define RNNC_LAYERS_DEVICE_CLASSES_H

struct rnnc_layer_device_class;

extern const struct rnnc_layer_device_class rnnc_dense_device_class;
extern const struct rnnc_layer_device_class rnnc_gru_device_class;
extern const struct rnnc_layer_device_class rnnc_lstm_device_class;
extern const struct rnnc_layer_device_class rnnc_embedding_device_class;
extern const struct rnnc_layer_device_class rnnc_masking_device_class;
extern const struct rnnc_layer_device_class rnnc_bidirectional_device_class;
extern const struct rnnc_layer_device_class rnnc_dropout_device_class;
extern const struct rnnc_layer_device_class rnnc_activation_device_class;
extern const struct rnnc_layer_device_class rnnc_time_distributed_device_class;
extern const struct rnnc_layer_device_class rnnc_layer_norm_device_class;
extern const struct rnnc_layer_device_class rnnc_batch_norm_device_class;

#endif
