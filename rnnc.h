/* rnnc.h - the whole public API in one include.
 *
 * Build against the installed package with
 *   cc prog.c $(pkg-config --cflags --libs rnnc)
 * or, in CMake, find_package(rnnc) and target_link_libraries(prog rnnc::rnnc).
 * docs/c-api.md walks through the API by task. */
#ifndef RNNC_H
#define RNNC_H
/* Tensors, autograd, ops, configs, models. */
#include "framework/status.h"
#include "framework/tensor.h"
#include "framework/autograd.h"
#include "framework/ops.h"
#include "framework/activations.h"
#include "framework/random.h"
#include "framework/config.h"
#include "framework/keras_object.h"
#include "framework/initializers.h"
#include "framework/regularizers.h"
#include "framework/constraints.h"
#include "framework/layer.h"
#include "framework/rnn.h"
#include "framework/model.h"
#include "framework/predict.h"
#include "framework/graph.h"
#include "framework/gradcheck.h"
#include "framework/backend.h"
#include "framework/backend/cuda_gru.h"
#include "framework/backend/cudnn_layout.h"
/* Layers. */
#include "layers/gru.h"
#include "layers/gru_cell.h"
#include "layers/lstm.h"
#include "layers/lstm_cell.h"
#include "layers/rnn_common.h"
#include "layers/dense.h"
#include "layers/embedding.h"
#include "layers/masking.h"
#include "layers/dropout.h"
#include "layers/batch_norm.h"
#include "layers/activation.h"
#include "layers/bidirectional.h"
#include "layers/time_distributed.h"
#include "layers/input_layer.h"
#include "layers/registry.h"
#include "layers/merge.h"
#include "layers/keras_ops.h"
/* Training: optimizers, schedules, losses, metrics, the trainer and its callbacks. */
#include "optim/optimizer.h"
#include "optim/schedules.h"
#include "optim/losses.h"
#include "optim/loss_ops.h"
#include "optim/metrics.h"
#include "optim/trainer.h"
/* Files: specs, model loading, weights, checkpoints, datasets. */
#include "io/spec_reader.h"
#include "io/json_writer.h"
#include "io/functional_loader.h"
#include "io/model_loader.h"
#include "io/model_save.h"
#include "io/training_spec.h"
#include "io/weights_h5.h"
#include "io/keras_archive.h"
#include "io/checkpoint.h"
#include "io/checkpoint_dir.h"
#include "io/dataset.h"
#include "io/file_identity.h"
#endif
