/* optimizer.h - Keras 3 optimizers: SGD (momentum, nesterov), Adam
 * (amsgrad), AdamW, RMSprop (momentum, centered), Adagrad, with clipnorm /
 * clipvalue / global_clipnorm, decoupled weight decay, learning-rate
 * schedules, EMA of the weights, gradient accumulation and loss scaling,
 * by Keras name and config (spec 13.1 - 13.3).
 *
 * One rnnc_optimizer_apply() is Keras's optimizer.apply(grads, vars), in
 * Keras's order: drop variables without a gradient, unscale, (accumulate),
 * clip, weight decay (w -= w * wd * lr, before the update), the update,
 * EMA, iterations += 1, then each variable's constraint. The gradient of a
 * weight is its tensor's `grad` buffer; the buffers are read, not changed.
 * Arithmetic is done in the weights' dtype op by op as Keras's ops do, so
 * float32 results match Keras on TensorFlow to rounding.
 *
 * State for checkpoints: rnnc_optimizer_variables() lists the optimizer's
 * variables in Keras 3's order and names (iteration, learning_rate unless a
 * schedule, then the slots; spec 11.1). The tensors are the optimizer's own:
 * writing into them (loading a checkpoint) sets the state.
 *
 * A weight whose gradient is rows per occurrence (an Embedding's table,
 * framework/sparse_grad.h) is updated as Keras on TensorFlow updates a
 * variable from IndexedSlices: per optimizer and transform, the rows are
 * summed where Keras's ops densify them and kept per occurrence where they
 * do not (docs/keras-compat.md, "Sparse gradients"). Plain SGD and Adagrad
 * then touch only the looked-up rows.
 *
 * Not here: custom callables as learning rates. */
#ifndef RNNC_OPTIM_OPTIMIZER_H
#define RNNC_OPTIM_OPTIMIZER_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/config.h"
#include "framework/layer.h"
#include "optim/schedules.h"

typedef enum {
    RNNC_OPTIMIZER_SGD,
    RNNC_OPTIMIZER_ADAM,
    RNNC_OPTIMIZER_ADAMW,
    RNNC_OPTIMIZER_RMSPROP,
    RNNC_OPTIMIZER_ADAGRAD,
    RNNC_OPTIMIZER_KIND_COUNT
} rnnc_optimizer_kind;

typedef struct rnnc_optimizer rnnc_optimizer;

/* Constructor arguments. NAN means Keras's None / the class default; see
 * rnnc_optimizer_options_default(). */
typedef struct rnnc_optimizer_options {
    const char *name;               /* NULL -> "sgd", "adam", "adam_1", "rm_sprop", ... */
    double learning_rate;           /* NAN -> class default (SGD 0.01, others 0.001) */
    const rnnc_schedule *schedule;  /* cloned; replaces learning_rate when set */
    double weight_decay;            /* NAN = None (AdamW: 0.004) */
    double clipnorm, clipvalue, global_clipnorm; /* NAN = None; at most one set */
    bool use_ema;
    double ema_momentum;            /* NAN -> 0.99 */
    int64_t ema_overwrite_frequency; /* 0 = None */
    double loss_scale_factor;       /* NAN = None */
    int64_t gradient_accumulation_steps; /* 0 = None, else >= 2 */
    /* class arguments, NAN / false = default */
    double momentum;                /* SGD 0.0 (in [0, 1]), RMSprop 0.0 */
    bool nesterov;                  /* SGD */
    double beta_1, beta_2, epsilon; /* Adam(W) 0.9, 0.999, 1e-7; RMSprop/Adagrad epsilon 1e-7 */
    bool amsgrad;                   /* Adam(W) */
    double rho;                     /* RMSprop 0.9 */
    bool centered;                  /* RMSprop */
    double initial_accumulator_value; /* Adagrad 0.1 */
} rnnc_optimizer_options;

rnnc_optimizer_options rnnc_optimizer_options_default(void);

/* Fails with RNNC_E_ARG on Keras's validation errors (two clip arguments,
 * momentum outside [0, 1], AdamW without weight_decay, ...). Caller owns. */
rnnc_status rnnc_optimizer_create(rnnc_optimizer_kind kind, const rnnc_optimizer_options *opts,
                                  rnnc_optimizer **out);
/* A name ("sgd", "adam", "adamw", "rmsprop", "adagrad", any case, as
 * keras.optimizers.get) or {"class_name": "Adam", "config": {...}} with
 * Keras's keys. learning_rate must be a float or a schedule dict (an int
 * is rejected, as in Keras); unknown keys -> RNNC_E_ARG naming them; the
 * legacy "decay" key is ignored. `what` prefixes messages. */
rnnc_status rnnc_optimizer_from_config(const rnnc_cfg *c, const char *what, rnnc_optimizer **out);
void rnnc_optimizer_destroy(rnnc_optimizer *o); /* NULL is a no-op */

/* Keras's get_config: name, learning_rate (the current value as a float, or
 * the schedule's envelope), weight_decay, clipnorm, global_clipnorm,
 * clipvalue, use_ema, ema_momentum, ema_overwrite_frequency,
 * loss_scale_factor, gradient_accumulation_steps, then the class's keys.
 * Caller owns. */
rnnc_status rnnc_optimizer_get_config(const rnnc_optimizer *o, rnnc_cfg **out);
/* {"module": "keras.optimizers", "class_name", "config", "registered_name": null}. */
rnnc_status rnnc_optimizer_serialize(const rnnc_optimizer *o, rnnc_cfg **out);

const char *rnnc_optimizer_name(const rnnc_optimizer *o);
const char *rnnc_optimizer_class_name(const rnnc_optimizer *o); /* "Adam" */
rnnc_optimizer_kind rnnc_optimizer_get_kind(const rnnc_optimizer *o);

/* Creates the slots for these weights (Keras's build), if not built yet;
 * apply() does it on its first call. Non-trainable weights are skipped. */
rnnc_status rnnc_optimizer_build(rnnc_optimizer *o, rnnc_weight *const *weights, int n);
bool rnnc_optimizer_built(const rnnc_optimizer *o);

/* One optimizer step on the trainable ones among `weights` (spec 13.2).
 * A weight whose tensor has no grad buffer is skipped (Keras's None
 * gradient); all skipped -> RNNC_E_ARG. After the first call, weights
 * must be among those the optimizer was built with (RNNC_E_ARG naming the
 * weight otherwise). */
rnnc_status rnnc_optimizer_apply(rnnc_optimizer *o, rnnc_weight *const *weights, int n);

/* Copies the EMA averages into the weights (Keras's finalize_variable_values,
 * done by fit at the end); a no-op without use_ema. */
rnnc_status rnnc_optimizer_finalize(rnnc_optimizer *o, rnnc_weight *const *weights, int n);

/* Number of apply() calls so far (the raw counter). */
int64_t rnnc_optimizer_iterations(const rnnc_optimizer *o);
/* The learning rate the next step uses: schedule(iterations) or the value. */
double rnnc_optimizer_learning_rate(const rnnc_optimizer *o);
/* Sets the learning rate (stored as float32). Fails with RNNC_E_STATE when
 * the optimizer has a schedule (Keras: "not settable"). */
rnnc_status rnnc_optimizer_set_learning_rate(rnnc_optimizer *o, double lr);
bool rnnc_optimizer_has_schedule(const rnnc_optimizer *o);
/* The loss_scale_factor, or 1 when None (the trainer scales the loss). */
double rnnc_optimizer_loss_scale(const rnnc_optimizer *o);

/* Excludes weights whose name contains any of `names` from weight decay
 * (Keras's exclude_from_weight_decay(var_names=...)). Only before build;
 * RNNC_E_STATE after. */
rnnc_status rnnc_optimizer_exclude_from_weight_decay(rnnc_optimizer *o, const char *const *names,
                                                     int n);

/* One optimizer variable: its Keras name ("iteration", "learning_rate",
 * "kernel_momentum", ...) and value (owned by the optimizer). */
typedef struct rnnc_optimizer_variable {
    const char *name;
    rnnc_tensor *value;
} rnnc_optimizer_variable;

/* The optimizer's variables in Keras 3 order: iteration (int64 scalar),
 * learning_rate (float32 scalar; absent with a schedule), then EMA
 * averages, gradient accumulators and the class's slots (Adam: m0, v0, m1,
 * v1, ..., then velocity_hat; RMSprop: velocities, momentums, average
 * gradients; SGD: momentums; Adagrad: accumulators). Before build only the
 * first one or two. Fills up to cap entries; *n = the total. */
rnnc_status rnnc_optimizer_variables(const rnnc_optimizer *o, rnnc_optimizer_variable *out,
                                     int cap, int *n);

#endif
