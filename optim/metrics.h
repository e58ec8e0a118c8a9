/* metrics.h - running metrics as Keras's compile() uses them: the weighted
 * Mean (the loss tracker), mse, mae, accuracy (binary / categorical /
 * sparse_categorical, picked from the shapes for "accuracy"/"acc"),
 * binary_accuracy (threshold 0.5), categorical_accuracy,
 * sparse_categorical_accuracy, and the crossentropy losses as metrics.
 *
 * Every metric except Mean is Keras's MeanMetricWrapper: a per-sample value
 * function, then Mean.update_state with Keras's reduce_to_samplewise_values
 * (values averaged over the axes the sample weight does not have, weighted,
 * averaged per sample; the count is the sum of the weights, or the batch
 * size). A mask of y_pred (e.g. (B,T)) becomes the sample weight (times any
 * given weight), so masked steps do not count. result() = total / count
 * (0 when count is 0). Values are accumulated in double. */
#ifndef RNNC_OPTIM_METRICS_H
#define RNNC_OPTIM_METRICS_H

#include <stdbool.h>

#include "framework/config.h"
#include "framework/tensor.h"

typedef enum {
    RNNC_METRIC_MEAN,
    RNNC_METRIC_MEAN_SQUARED_ERROR,
    RNNC_METRIC_MEAN_ABSOLUTE_ERROR,
    RNNC_METRIC_ACCURACY,             /* Keras's Accuracy: y_true == y_pred */
    RNNC_METRIC_BINARY_ACCURACY,
    RNNC_METRIC_CATEGORICAL_ACCURACY,
    RNNC_METRIC_SPARSE_CATEGORICAL_ACCURACY,
    RNNC_METRIC_BINARY_CROSSENTROPY,
    RNNC_METRIC_CATEGORICAL_CROSSENTROPY,
    RNNC_METRIC_SPARSE_CATEGORICAL_CROSSENTROPY,
    RNNC_METRIC_ACCURACY_AUTO         /* compile's "accuracy"/"acc" */
} rnnc_metric_kind;

typedef struct rnnc_metric rnnc_metric;

/* A metric of `kind` reported as `name` (NULL -> Keras's default name of
 * the class, "mean_squared_error", "binary_accuracy", ...). */
rnnc_status rnnc_metric_create(rnnc_metric_kind kind, const char *name, rnnc_metric **out);
/* A compile() identifier: "mse" "MSE" "mean_squared_error"
 * "MeanSquaredError", "mae" ..., "accuracy" "acc" (any case, so
 * "Accuracy" too, as Keras lower-cases it: the auto-picked accuracy; the
 * exact-equality Accuracy class is RNNC_METRIC_ACCURACY), "binary_accuracy" "BinaryAccuracy", "categorical_accuracy"
 * "CategoricalAccuracy", "sparse_categorical_accuracy"
 * "SparseCategoricalAccuracy", "binary_crossentropy" "bce" "BCE"
 * "BinaryCrossentropy", "categorical_crossentropy" ..., 
 * "sparse_categorical_crossentropy" .... The metric is named by the
 * identifier, as compile() names it. Unknown -> RNNC_E_ARG. */
rnnc_status rnnc_metric_from_name(const char *id, rnnc_metric **out);
/* A compile() metric as a spec or a .keras compile_config gives it: a name
 * (rnnc_metric_from_name) or Keras's serialized object {"module":
 * "keras.metrics", "class_name": "MeanAbsoluteError", "config": {"name":
 * "mae_1", "dtype": "float32"}, "registered_name": null} (module and
 * registered_name optional). Classes: MeanSquaredError, MeanAbsoluteError,
 * Accuracy (exact equality), BinaryAccuracy (threshold in (0, 1)),
 * CategoricalAccuracy, SparseCategoricalAccuracy, BinaryCrossentropy,
 * CategoricalCrossentropy (from_logits, label_smoothing),
 * SparseCategoricalCrossentropy (from_logits); axis only -1. config.name
 * names the metric (default: the class's, "mean_absolute_error"); dtype
 * float32 or float64. Another class, key or value -> one-line error
 * (RNNC_E_ARG / RNNC_E_UNSUPPORTED) prefixed by `what`. */
rnnc_status rnnc_metric_from_config(const rnnc_cfg *c, const char *what, rnnc_metric **out);
void rnnc_metric_destroy(rnnc_metric *m); /* NULL is a no-op */

const char *rnnc_metric_name(const rnnc_metric *m);
/* Renames the metric (what compile() does to repeated names). RNNC_E_NOMEM. */
rnnc_status rnnc_metric_set_name(rnnc_metric *m, const char *name);
rnnc_metric_kind rnnc_metric_get_kind(const rnnc_metric *m);
/* The loss function of a crossentropy metric (its from_logits and
 * label_smoothing), NULL for the others. */
struct rnnc_loss;
const struct rnnc_loss *rnnc_metric_loss(const rnnc_metric *m);
/* +1 when larger is better (accuracies), -1 when smaller is (errors,
 * losses, Mean): what EarlyStopping's mode="auto" uses. */
int rnnc_metric_direction(const rnnc_metric *m);
/* binary_accuracy's threshold (default 0.5; also what the auto-picked
 * binary accuracy compares with). */
void rnnc_metric_set_threshold(rnnc_metric *m, double threshold);
double rnnc_metric_threshold(const rnnc_metric *m);

void rnnc_metric_reset(rnnc_metric *m);
/* The running state (total and count), e.g. for a checkpoint taken inside
 * an epoch, and setting it back exactly. */
void rnnc_metric_state(const rnnc_metric *m, double *total, double *count);
void rnnc_metric_set_state(rnnc_metric *m, double total, double count);
/* The value so far: total / count, 0 when nothing was counted. */
double rnnc_metric_result(const rnnc_metric *m);

/* MeanMetricWrapper.update_state(y_true, y_pred, sample_weight) with y_pred's
 * mask (U8 or numeric, may be NULL). Shapes as in Keras (y_true squeezed /
 * expanded by one trailing 1 to y_pred's rank); mismatches -> RNNC_E_SHAPE.
 * Fails with RNNC_E_STATE on a Mean metric (use update_values). */
rnnc_status rnnc_metric_update(rnnc_metric *m, const rnnc_tensor *y_true, const rnnc_tensor *y_pred,
                               const rnnc_tensor *sample_weight, const rnnc_tensor *mask);
/* Mean.update_state(values, sample_weight) for a Mean metric. */
rnnc_status rnnc_metric_update_values(rnnc_metric *m, const rnnc_tensor *values,
                                      const rnnc_tensor *sample_weight);
/* Mean.update_state(value, sample_weight=weight) for one scalar: what fit
 * does with the batch loss and the batch size. */
void rnnc_metric_update_scalar(rnnc_metric *m, double value, double weight);

#endif
