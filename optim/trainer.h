/* trainer.h - Keras's compile / fit / evaluate / predict / train_on_batch
 * over an rnnc_model (spec 13.6), with History and callbacks.
 *
 * One training step (fit, train_on_batch), as Keras's train_step:
 *   y_pred = model(x, training=true)           rnnc_model_call
 *   total  = loss(y, y_pred, sample_weight, mask of y_pred)
 *            + sum of model losses (weight and activity penalties, 8.5)
 *   backward(total * loss_scale_factor), optimizer.apply (13.2),
 *   metrics: "loss" = running mean of total weighted by batch size, the
 *   compiled metrics (unweighted) and weighted metrics (with the sample
 *   weight) updated from y_pred; then the tape is cleared and the
 *   gradients zeroed.
 * Logs are named as Keras names them, in Keras's order (sorted by name:
 * "accuracy", "loss", ...; validation entries "val_<name>" after them).
 *
 * A custom loop needs only: rnnc_model_call, rnnc_loss_call (+
 * rnnc_model_losses), rnnc_backward, rnnc_optimizer_apply, rnnc_ctx_clear
 * and rnnc_model_zero_grad; rnnc_trainer_train_on_batch does exactly that.
 *
 * The trainer borrows the model (which must outlive it) and owns what
 * compile gives it (optimizer, loss, metrics). Callbacks are borrowed. */
#ifndef RNNC_OPTIM_TRAINER_H
#define RNNC_OPTIM_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/backend_ops.h"
#include "framework/comm.h"
#include "framework/config.h"
#include "framework/model.h"
#include "optim/losses.h"
#include "optim/metrics.h"
#include "optim/optimizer.h"

#define RNNC_LOGS_MAX 32
#define RNNC_LOG_NAME_MAX 64

/* Named values of one batch or epoch ("loss", "accuracy", "val_loss"...). */
typedef struct rnnc_logs {
    int n;
    char names[RNNC_LOGS_MAX][RNNC_LOG_NAME_MAX];
    double values[RNNC_LOGS_MAX];
} rnnc_logs;

/* Pointer to the value named `name`, or NULL. */
const double *rnnc_logs_get(const rnnc_logs *l, const char *name);
/* Sets (or appends) a value; RNNC_E_ARG when full or the name is too long. */
rnnc_status rnnc_logs_set(rnnc_logs *l, const char *name, double v);

/* Python's repr of a float (the shortest text that reads back as v:
 * "0.25", "1e-05", "nan", "inf"), as Keras's files show log values. */
void rnnc_format_float_repr(double v, char *buf, size_t cap);

typedef struct rnnc_trainer rnnc_trainer;

/* A callback: any of the hooks may be NULL; a hook failing stops fit with
 * its status. `destroy` (may be NULL) frees the callback itself; call it
 * through rnnc_callback_destroy. Epoch numbers are 0-based as in Keras. */
typedef struct rnnc_callback rnnc_callback;
struct rnnc_callback {
    void *user;
    rnnc_status (*on_train_begin)(rnnc_callback *cb, rnnc_trainer *tr);
    rnnc_status (*on_epoch_begin)(rnnc_callback *cb, rnnc_trainer *tr, int epoch);
    rnnc_status (*on_train_batch_end)(rnnc_callback *cb, rnnc_trainer *tr, int step,
                                      const rnnc_logs *logs);
    /* May add entries to logs (ReduceLROnPlateau adds "learning_rate"). */
    rnnc_status (*on_epoch_end)(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs);
    rnnc_status (*on_train_end)(rnnc_callback *cb, rnnc_trainer *tr, const rnnc_logs *logs);
    void (*destroy)(rnnc_callback *cb);
};
void rnnc_callback_destroy(rnnc_callback *cb); /* NULL is a no-op */

/* Where text goes (the progress display, callbacks' messages). */
typedef void (*rnnc_print_fn)(void *user, const char *text);

/* History: every log value per epoch, keys in first-seen order. */
typedef struct rnnc_history rnnc_history;
void rnnc_history_destroy(rnnc_history *h);
int rnnc_history_n_epochs(const rnnc_history *h);
int rnnc_history_n_keys(const rnnc_history *h);
const char *rnnc_history_key(const rnnc_history *h, int i);
/* The values of `key`, one per epoch run (NAN where an epoch lacked it);
 * NULL for an unknown key. Valid while h lives. */
const double *rnnc_history_get(const rnnc_history *h, const char *key);
/* The epoch numbers run (initial_epoch, initial_epoch + 1, ...). */
const int *rnnc_history_epochs(const rnnc_history *h);

rnnc_status rnnc_trainer_create(rnnc_model *model, rnnc_trainer **out);
void rnnc_trainer_destroy(rnnc_trainer *tr); /* NULL is a no-op */

/* compile(optimizer, loss, metrics, weighted_metrics). Takes ownership of
 * opt, loss and the metrics (also on failure). opt NULL -> RMSprop with
 * defaults (Keras's default). Metric names must be unique. */
rnnc_status rnnc_trainer_compile(rnnc_trainer *tr, rnnc_optimizer *opt, rnnc_loss *loss,
                                 rnnc_metric **metrics, int n_metrics, rnnc_metric **weighted,
                                 int n_weighted);
/* compile from Keras identifiers/configs: optimizer ("adam" or a config
 * dict; NULL -> "rmsprop"), loss (name or dict, required), metrics and
 * weighted_metrics (lists of names; may be NULL). Messages name the
 * argument ("compile.loss: ..."). */
rnnc_status rnnc_trainer_compile_config(rnnc_trainer *tr, const rnnc_cfg *optimizer,
                                        const rnnc_cfg *loss, const rnnc_cfg *metrics,
                                        const rnnc_cfg *weighted_metrics);

typedef enum {
    RNNC_VERBOSE_SILENT = 0,
    RNNC_VERBOSE_AUTO = 1,  /* live bar on a terminal, one line per epoch otherwise */
    RNNC_VERBOSE_LINES = 2  /* one line per epoch */
} rnnc_verbose;

typedef struct rnnc_fit_options {
    int64_t batch_size;          /* 0 -> 32 */
    int epochs;                  /* 1 */
    int initial_epoch;           /* 0 */
    /* Batches of initial_epoch already done (a run resumed inside an
     * epoch): that epoch starts at this batch and its running loss and
     * metrics are not reset (set them first with
     * rnnc_trainer_set_metric_state). Must be below the batches per epoch.
     * Exact only when the rows are in the same order as before, i.e. with
     * shuffle off (the caller shuffles, as `rnnc train` does). 0 */
    int64_t initial_batch;
    /* With steps_per_epoch: the epoch the passes over the data are counted
     * from. Keras's fit starts a new pass at initial_epoch (-1, the
     * default: initial_epoch); a run resumed at a later epoch gives the
     * epoch its first call started at, so it continues the same passes
     * (0: from epoch 0). Must not exceed initial_epoch. */
    int pass_origin;
    bool shuffle;                /* true: a new permutation every epoch */
    uint64_t seed;               /* of the shuffling stream */
    double validation_split;     /* in [0, 1): the last fraction of x, y, sample_weight */
    const rnnc_tensor *x_val, *y_val, *sample_weight_val; /* validation data (wins over split) */
    const rnnc_tensor *sample_weight; /* (N,) or matching the loss, or NULL */
    /* class_weight: weight of class c is class_weight[c] for c < n, else 1 */
    const double *class_weight;
    int n_class_weight;
    rnnc_callback *const *callbacks; /* borrowed, called in order */
    int n_callbacks;
    rnnc_verbose verbose;        /* RNNC_VERBOSE_AUTO */
    rnnc_print_fn print;         /* NULL -> stdout */
    void *print_user;
    /* Asked before each epoch and after each batch that does not end an
     * epoch (may be NULL). When it returns true fit returns RNNC_OK at once,
     * without finishing the epoch: no validation, no on_epoch_end, no
     * on_train_end, no optimizer finalize. rnnc_trainer_interrupted then
     * says where it stopped; the running metrics stay as they were
     * (rnnc_trainer_metric_state), so the run can continue exactly from
     * there with initial_epoch / initial_batch. */
    bool (*stop_requested)(void *user);
    void *stop_user;
    /* Keras's validation_freq: validate after epochs whose 1-based number
     * is a multiple of it. 0 -> 1 */
    int validation_freq;
    /* Keras's steps_per_epoch: an epoch runs this many batches, continuing
     * the pass over the data where the previous epoch stopped; an epoch
     * that reaches the end of the data ends there (shorter), and the next
     * starts a new pass (reshuffled when shuffle is on). See
     * rnnc_fit_epoch_span. 0 -> one whole pass per epoch */
    int64_t steps_per_epoch;
    /* Validation rows read on demand instead of x_val / y_val (not with
     * them): a row source (below; borrowed for the call). In a
     * data-parallel fit each rank reads and evaluates only its part of
     * every validation batch, and the sums are reduced, so the val_ logs
     * are one process's. NULL */
    const struct rnnc_row_source *val_source;
} rnnc_fit_options;

/* Where epoch `epoch` (0-based, counted from the fit's pass origin: epoch
 * - pass_origin) lies in the passes over `steps` batches with
 * steps_per_epoch spe (0: the whole pass): its first batch of the pass, its
 * batch count, and which pass it is in (0-based). */
void rnnc_fit_epoch_span(int64_t steps, int64_t spe, int64_t epoch, int64_t *first, int64_t *count,
                         int64_t *pass);

rnnc_fit_options rnnc_fit_options_default(void);

/* fit's class_weight as per-sample weights *out (N,) float32 (caller owns),
 * as Keras's class_weight_to_sample_weights: the class of a sample is y's
 * rounded value ((N,), (N, 1)) or its argmax over the last axis; a class
 * c >= n_cw weighs 1. Targets of more than 2 axes (sequence targets) ->
 * RNNC_E_SHAPE naming the shape (Keras refuses them too). */
rnnc_status rnnc_trainer_class_weights(const rnnc_tensor *y, const double *cw, int n_cw, rnnc_tensor **out);

/* Keras's fit. x: (N, ...) float32 or int32 (token ids); y: (N, ...). On
 * success *history (may be NULL) receives the History (caller owns).
 * Mismatched lengths, a validation split that leaves no data, class_weight
 * with sample_weight, bad shapes -> RNNC_E_ARG / RNNC_E_SHAPE with the
 * details. */
rnnc_status rnnc_trainer_fit(rnnc_trainer *tr, const rnnc_tensor *x, const rnnc_tensor *y,
                             const rnnc_fit_options *opts, rnnc_history **history);

/* Training rows read on demand instead of held in memory: fit asks for the
 * rows of each batch (of this rank's part of it when data-parallel), so a
 * dataset larger than memory trains, and each rank reads only its rows
 * (io/row_reader.h reads them from an HDF5 file with hyperslabs). read
 * gives rows rows[0..count) (in that order; count may be 0) as tensors
 * owned by cx: x (count, ...), y (count, ...) and, when the data has them,
 * sample weights (else *sw = NULL). */
typedef struct rnnc_row_source {
    int64_t n; /* rows */
    rnnc_status (*read)(void *user, rnnc_ctx *cx, const int64_t *rows, int64_t count, rnnc_tensor **x,
                        rnnc_tensor **y, rnnc_tensor **sw);
    void *user;
} rnnc_row_source;

/* fit on a row source (borrowed for the call). As rnnc_trainer_fit, except
 * that sample_weight and class_weight must be unset (the weights come from
 * the source). validation_split takes the source's last rows, as Keras
 * takes the last rows of x: training reads rows [0, at), validation rows
 * [at, n) (read on demand too), at = floor(n * (1 - validation_split)). */
rnnc_status rnnc_trainer_fit_source(rnnc_trainer *tr, const rnnc_row_source *src, const rnnc_fit_options *opts,
                                    rnnc_history **history);
/* rnnc_trainer_evaluate on a row source: each batch's rows read on demand
 * (in a data-parallel trainer each rank reads and evaluates only its part
 * of every batch; the logs are global). */
rnnc_status rnnc_trainer_evaluate_source(rnnc_trainer *tr, const rnnc_row_source *src, int64_t batch_size,
                                         rnnc_logs *out);

/* Refuses, in one line naming the layer and `data` (prefixed with `what`),
 * batches a stateful RNN of the model cannot take: Keras's stateful RNN
 * takes only batches of its stored state's batch size (the input's
 * batch_shape) and fails at the first other one. `n` rows in batches of
 * `batch_size` (0 -> 32); `last_batch`: whether the last (maybe partial)
 * batch runs too. fit, evaluate and predict check this before their first
 * batch; `rnnc train` checks its test data with it before training. */
rnnc_status rnnc_trainer_check_batches(const rnnc_trainer *tr, const char *what, const char *data, int64_t n,
                                       int64_t batch_size, bool last_batch);
/* The same for a data-parallel run on `ranks` processes, where each rank
 * runs only its part of every batch (rnnc__dist_split: the first batch % ranks
 * ranks one row more): every rank's part must hold the stateful batch size.
 * rnnc_trainer_check_batches is this with the trainer's communicator's size
 * (fit and evaluate split batches; predict does not, and checks with 1). */
rnnc_status rnnc_trainer_check_batches_ranks(const rnnc_trainer *tr, const char *what, const char *data, int64_t n,
                                             int64_t batch_size, bool last_batch, int ranks);

/* Keras's evaluate: loss (with the model's penalties) and metrics over
 * batches of batch_size (0 -> 32), no shuffling, training=false. */
rnnc_status rnnc_trainer_evaluate(rnnc_trainer *tr, const rnnc_tensor *x, const rnnc_tensor *y,
                                  const rnnc_tensor *sample_weight, int64_t batch_size,
                                  rnnc_logs *out);
/* Keras's predict: the model's first output for all of x, batched, no
 * gradient, training=false. Caller owns *out. */
rnnc_status rnnc_trainer_predict(rnnc_trainer *tr, const rnnc_tensor *x, int64_t batch_size,
                                 rnnc_tensor **out);
/* One training step on one batch; *logs (may be NULL) gets the batch's
 * loss and metrics (metrics are reset first, as Keras's train_on_batch). */
rnnc_status rnnc_trainer_train_on_batch(rnnc_trainer *tr, const rnnc_tensor *x, const rnnc_tensor *y,
                                        const rnnc_tensor *sample_weight, rnnc_logs *logs);

/* Data-parallel training (docs/distributed.md), as Keras's
 * MirroredStrategy: with a communicator of N ranks (borrowed; NULL or one
 * rank: a single process, as without), every rank calls fit / evaluate /
 * train_on_batch with the same data, batch_size is the global batch and
 * each rank computes on its part of each batch (the first batch % N ranks
 * one row more), the gradients are summed over the ranks in buckets while
 * backward runs, and every rank applies the same update: after K steps
 * the weights equal a one-process run's on the same batches (to the order
 * of summation). Logs, metrics and validation are the global ones on every
 * rank. Only rank 0 prints (progress, rnnc_trainer_print); callbacks run on
 * every rank they are given to (give the ones that write files to rank 0
 * only): a stop asked on any rank stops all, and rank 0's learning rate
 * and final weights win. The model's weights are sent from rank 0 when
 * fit starts. Activity regularizers are averaged over the ranks, not
 * recomputed on the whole batch. A collective that fails or times out
 * (rnnc_comm_set_timeout) fails the call: then call rnnc_comm_abort. */
rnnc_status rnnc_trainer_set_comm(rnnc_trainer *tr, rnnc_comm *comm);
rnnc_comm *rnnc_trainer_comm(const rnnc_trainer *tr);
/* Size of the gradient buckets in bytes (0: 256 KiB). */
void rnnc_trainer_set_bucket_bytes(rnnc_trainer *tr, size_t bytes);
/* The buckets the last data-parallel step used (0 before one). */
int rnnc_trainer_gradient_buckets(const rnnc_trainer *tr);

/* Training on a device (docs/gpu.md, "Training on the GPU"): with be (a
 * backend table, framework/backend_ops.h; NULL = the usual CPU path) fit
 * (training and validation), evaluate, train_on_batch and predict run each
 * batch through the model's device instance (framework/device_model.h):
 * weights, gradients, optimizer slots and activations stay in be's memory;
 * the loss, its gradient, the optimizer update and the metrics are ops of
 * the table; one small download per batch brings the loss and the metric
 * totals to the host metrics, so logs, History and callbacks are as on the
 * CPU. Weights and optimizer slots are copied to the host before every
 * on_epoch_end and at the end of fit / train_on_batch, and back after the
 * callbacks; the host weights are the truth between calls. What the device
 * path cannot do exactly fails here (or, for a later compile, when the
 * next call starts) with RNNC_E_UNSUPPORTED and one line naming the layer,
 * loss, metric or optimizer argument; the trainer then stays on the CPU. */
rnnc_status rnnc_trainer_set_device(rnnc_trainer *tr, const rnnc_backend_ops *be);
/* As rnnc_trainer_set_device for evaluate and predict: the optimizer
 * (which they never use) is not checked here; a later training call
 * (fit, train_on_batch) checks it first and refuses, changing nothing,
 * what the device path cannot run. */
rnnc_status rnnc_trainer_set_device_inference(rnnc_trainer *tr, const rnnc_backend_ops *be);

/* For callbacks. */
rnnc_model *rnnc_trainer_model(rnnc_trainer *tr);
rnnc_optimizer *rnnc_trainer_optimizer(rnnc_trainer *tr);
/* After fit: whether stop_requested ended it, and where: *epoch (0-based)
 * is the epoch it was in and *batches_done the batches of that epoch done
 * (0: stopped before the epoch began). Either pointer may be NULL. */
bool rnnc_trainer_interrupted(const rnnc_trainer *tr, int *epoch, int64_t *batches_done);
/* The running loss and metrics as (total, count) pairs, loss first, then
 * the metrics and weighted metrics in compile order: 2 * (1 + metrics +
 * weighted metrics) values. *n gets the count; fails with RNNC_E_ARG when
 * cap is smaller. */
rnnc_status rnnc_trainer_metric_state(const rnnc_trainer *tr, double *out, int cap, int *n);
/* Sets them back; n must be the count rnnc_trainer_metric_state gives. */
rnnc_status rnnc_trainer_set_metric_state(rnnc_trainer *tr, const double *v, int n);
/* Asks fit to stop after the current batch / epoch (model.stop_training). */
void rnnc_trainer_stop(rnnc_trainer *tr);
bool rnnc_trainer_stopping(const rnnc_trainer *tr);
/* +1 / -1 when larger / smaller values of the log `name` ("val_accuracy",
 * "loss") are better, 0 when unknown (EarlyStopping's mode="auto"). */
int rnnc_trainer_log_direction(const rnnc_trainer *tr, const char *name);
/* The running fit's epochs argument and number of batches per epoch (0
 * outside fit). */
int rnnc_trainer_fit_epochs(const rnnc_trainer *tr);
int64_t rnnc_trainer_fit_steps(const rnnc_trainer *tr);
/* Prints through fit's print function (stdout outside fit). */
void rnnc_trainer_print(rnnc_trainer *tr, const char *text);

/* ---- built-in callbacks (callbacks.c; the progress callback: trainer.c) ----- */

typedef enum { RNNC_MODE_AUTO, RNNC_MODE_MIN, RNNC_MODE_MAX } rnnc_monitor_mode;

typedef struct rnnc_early_stopping_options {
    const char *monitor;        /* "val_loss" */
    double min_delta;           /* 0 */
    int patience;               /* 0 */
    int verbose;                /* 0 */
    rnnc_monitor_mode mode;     /* auto */
    bool has_baseline;
    double baseline;
    bool restore_best_weights;  /* false */
    int start_from_epoch;       /* 0 */
} rnnc_early_stopping_options;
rnnc_early_stopping_options rnnc_early_stopping_options_default(void);
rnnc_status rnnc_early_stopping_create(const rnnc_early_stopping_options *o, rnnc_callback **out);

typedef struct rnnc_reduce_lr_on_plateau_options {
    const char *monitor;   /* "val_loss" */
    double factor;         /* 0.1, must be < 1 */
    int patience;          /* 10 */
    int verbose;           /* 0 */
    rnnc_monitor_mode mode;
    double min_delta;      /* 1e-4 */
    int cooldown;          /* 0 */
    double min_lr;         /* 0 */
} rnnc_reduce_lr_on_plateau_options;
rnnc_reduce_lr_on_plateau_options rnnc_reduce_lr_on_plateau_options_default(void);
rnnc_status rnnc_reduce_lr_on_plateau_create(const rnnc_reduce_lr_on_plateau_options *o, rnnc_callback **out);

/* Writes epoch,<sorted log keys> rows to filename, as Keras's CSVLogger. */
rnnc_status rnnc_csv_logger_create(const char *filename, char separator, bool append,
                                   rnnc_callback **out);

/* Stops training when a batch's loss is NaN or infinite. */
rnnc_status rnnc_terminate_on_nan_create(rnnc_callback **out);

/* ModelCheckpoint: calls save(user, trainer, epoch, logs) at the end of an
 * epoch (or save_at every save_freq batches): every time, or with
 * save_best_only only when `monitor` improved (mode as EarlyStopping; a
 * missing monitor saves, as Keras does after its warning). The app's save
 * function writes the file (io/). */
typedef struct rnnc_model_checkpoint_options {
    const char *monitor;        /* "val_loss" */
    rnnc_monitor_mode mode;
    bool save_best_only;
    int verbose;
    rnnc_status (*save)(void *user, rnnc_trainer *tr, int epoch, const rnnc_logs *logs);
    void *user;
    /* Keras's save_freq: 0 = "epoch"; N > 0: after every N batches (counted
     * across epochs), with the batch's logs. */
    int64_t save_freq;
    /* Keras's initial_value_threshold: the best value to beat at first. */
    bool has_initial_value_threshold;
    double initial_value_threshold;
    /* Used instead of save when set: batch is the 0-based batch of the
     * epoch for save_freq N, -1 at an epoch's end. */
    rnnc_status (*save_at)(void *user, rnnc_trainer *tr, int epoch, int batch, const rnnc_logs *logs);
} rnnc_model_checkpoint_options;
/* Keras's defaults: monitor "val_loss", mode auto, every epoch; save unset. */
rnnc_model_checkpoint_options rnnc_model_checkpoint_options_default(void);
rnnc_status rnnc_model_checkpoint_create(const rnnc_model_checkpoint_options *o, rnnc_callback **out);

/* Keras's LearningRateScheduler with a schedule object: before each epoch
 * the optimizer's learning rate becomes schedule(epoch) (0-based epoch, as
 * Keras calls a LearningRateSchedule given to it); "learning_rate" is added
 * to the epoch's logs. The schedule is cloned. An optimizer that itself has
 * a schedule cannot take it (RNNC_E_ARG when training begins). */
rnnc_status rnnc_lr_scheduler_create(const rnnc_schedule *schedule, int verbose, rnnc_callback **out);

/* The progress display: "Epoch 1/10", then a live bar with the running loss
 * and metrics updated after each batch (live = true), or one line per epoch
 * (live = false): "32/32 - 1s - 4ms/step - accuracy: 0.9000 - loss: 0.2000
 * - val_loss: ...". fit adds one itself for verbose != 0. */
rnnc_status rnnc_progress_create(bool live, rnnc_print_fn print, void *user, rnnc_callback **out);

#endif
