/* device_step_internal.h - the trainer's step on a backend (rnnc_trainer_set_device,
 * trainer.h): each batch through an rnnc_dmodel (framework/device_model.h),
 * the loss, its gradient, the optimizer update and the metrics all ops of
 * the backend's table (framework/backend_ops.h), so that weights,
 * gradients, optimizer slots and activations stay on the device.
 *
 * One step (train):
 *   zero the gradients; y_pred = forward(x) (x uploaded by the dmodel)
 *   y (and, for the sparse loss, int32 class ids) and the per-entry loss
 *   weights (sample_weight x the output mask, merged on the host exactly
 *   as rnnc_loss_call merges them) uploaded;
 *   values = loss op; total = sum(values * w) / divisor (Keras's
 *   reduction); dy = scale_rows(loss gradient, w / divisor); backward(dy);
 *   the optimizer's update op per trainable weight (slots on the device;
 *   the host optimizer keeps lr, schedules and iterations);
 *   each metric: metric op (or the loss op for a crossentropy metric),
 *   weighted by the metric's weights and summed into one slot of a small
 *   scalars buffer, which is the ONE download of the step (the loss and the
 *   metric totals; the counts are known on the host).
 * The host rnnc_metric objects are fed those totals, so logs, progress,
 * History and callbacks are what the CPU path gives.
 *
 * What the device path cannot do exactly is refused with
 * RNNC_E_UNSUPPORTED and one line (rnnc__dstep_check). Internal to optim/
 * (rnnc__ prefix). */
#ifndef RNNC_OPTIM_DEVICE_STEP_H
#define RNNC_OPTIM_DEVICE_STEP_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/backend_ops.h"
#include "framework/model.h"
#include "optim/losses.h"
#include "optim/metrics.h"
#include "optim/optimizer.h"

typedef struct rnnc__dstep rnnc__dstep;

/* What a step needs from the trainer's compile (borrowed). loss NULL: not
 * compiled (predict only). */
typedef struct rnnc__dstep_compiled {
    rnnc_optimizer *opt;
    rnnc_loss *loss;
    rnnc_metric *const *metrics;
    int n_metrics;
    rnnc_metric *const *wmetrics;
    int n_wmetrics;
    rnnc_metric *loss_tracker;
    /* true: evaluate / predict only; the optimizer is checked (and its op
     * asked for) by the first training step (rnnc__dstep_check_train) */
    bool inference;
} rnnc__dstep_compiled;

/* The device instance of model m on be (rnnc_dmodel_create: refuses a
 * layer it cannot run) and, when c->loss is set, the checks of the
 * compile (without the optimizer's when c->inference): RNNC_E_UNSUPPORTED
 * and one line naming the loss, metric or optimizer argument the device
 * path cannot run exactly. */
rnnc_status rnnc__dstep_create(rnnc_model *m, const rnnc_backend_ops *be, const rnnc__dstep_compiled *c,
                               rnnc__dstep **out);
void rnnc__dstep_destroy(rnnc__dstep *d); /* NULL is a no-op */

/* The checks a training step adds (the optimizer and its op): done by
 * create unless c->inference, else by the first training call; refuses
 * before anything changes. */
rnnc_status rnnc__dstep_check_train(rnnc__dstep *d);

/* Host weights and (when built) optimizer slots -> device; the optimizer
 * is built first when training (trainable weights in model order). */
rnnc_status rnnc__dstep_upload(rnnc__dstep *d, bool train);
/* Device weights and optimizer slots -> host tensors. */
rnnc_status rnnc__dstep_download(rnnc__dstep *d);

/* One batch: forward, loss, metrics (and with train backward and the
 * optimizer update); feeds c's loss tracker and metrics. yb, swb as the
 * CPU step takes them (swb may be NULL). */
rnnc_status rnnc__dstep_run(rnnc__dstep *d, const rnnc_tensor *xb, const rnnc_tensor *yb, const rnnc_tensor *swb,
                            bool train);

/* Forward (training=false) of one batch; *out gets a new host tensor of
 * the output (caller owns). */
rnnc_status rnnc__dstep_predict(rnnc__dstep *d, const rnnc_tensor *xb, rnnc_tensor **out);

#endif
