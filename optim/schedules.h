/* schedules.h - Keras learning-rate schedules: ExponentialDecay,
 * InverseTimeDecay, PiecewiseConstantDecay, CosineDecay (with linear
 * warmup), by Keras config.
 *
 * A schedule maps the optimizer's iteration count (before the step, so 0 on
 * the first apply) to a learning rate, computed in float32 the way Keras's
 * ops compute it. Config numbers are echoed as written (2 stays 2, 2.0
 * stays 2.0), as Keras's get_config returns its constructor arguments.
 *
 * Not here: custom callables as learning rates. */
#ifndef RNNC_OPTIM_SCHEDULES_H
#define RNNC_OPTIM_SCHEDULES_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/config.h"

typedef enum {
    RNNC_SCHEDULE_EXPONENTIAL_DECAY,
    RNNC_SCHEDULE_INVERSE_TIME_DECAY,
    RNNC_SCHEDULE_PIECEWISE_CONSTANT_DECAY,
    RNNC_SCHEDULE_COSINE_DECAY
} rnnc_schedule_kind;

typedef struct rnnc_schedule rnnc_schedule;

/* lr0 * decay_rate ^ (step / decay_steps), floor of the exponent when
 * staircase. decay_steps must be > 0. Caller owns *out. */
rnnc_status rnnc_schedule_exponential_decay(double initial_learning_rate, double decay_steps,
                                            double decay_rate, bool staircase, rnnc_schedule **out);
/* lr0 / (1 + decay_rate * step / decay_steps) (floored ratio when staircase). */
rnnc_status rnnc_schedule_inverse_time_decay(double initial_learning_rate, double decay_steps,
                                             double decay_rate, bool staircase, rnnc_schedule **out);
/* values[0] while step <= boundaries[0], values[i] while boundaries[i-1] <
 * step <= boundaries[i], values[n] after; n_values must be n_boundaries + 1. */
rnnc_status rnnc_schedule_piecewise_constant(const double *boundaries, int n_boundaries,
                                             const double *values, int n_values, rnnc_schedule **out);
/* Cosine from lr0 to alpha*lr0 over decay_steps; with warmup_steps > 0 and
 * a warmup target (has_warmup_target), first a linear ramp from lr0 to the
 * target over warmup_steps, then the cosine from the target. */
rnnc_status rnnc_schedule_cosine_decay(double initial_learning_rate, double decay_steps, double alpha,
                                       bool has_warmup_target, double warmup_target,
                                       double warmup_steps, rnnc_schedule **out);

/* From {"class_name": "ExponentialDecay", "config": {...}} (module
 * keras.optimizers.schedules); the class's Keras keys, unknown keys ->
 * RNNC_E_ARG naming them; bad values (decay_steps <= 0, length mismatch)
 * -> RNNC_E_ARG. */
rnnc_status rnnc_schedule_from_config(const rnnc_cfg *c, const char *what, rnnc_schedule **out);
rnnc_status rnnc_schedule_clone(const rnnc_schedule *s, rnnc_schedule **out);
void rnnc_schedule_destroy(rnnc_schedule *s); /* NULL is a no-op */

rnnc_schedule_kind rnnc_schedule_get_kind(const rnnc_schedule *s);
/* The learning rate at `step` (float32 arithmetic, returned widened). */
double rnnc_schedule_value(const rnnc_schedule *s, int64_t step);

/* Keras's get_config dict, keys in Keras's order. Caller owns. */
rnnc_status rnnc_schedule_get_config(const rnnc_schedule *s, rnnc_cfg **out);
/* {"module": "keras.optimizers.schedules", "class_name", "config",
 *  "registered_name": null}. Caller owns. */
rnnc_status rnnc_schedule_serialize(const rnnc_schedule *s, rnnc_cfg **out);

#endif
