/* initializers.h - Keras initializers by name and config (spec section 7).
 *
 * Zeros, Ones, Constant, Identity, RandomNormal, RandomUniform,
 * TruncatedNormal, VarianceScaling and its presets (GlorotUniform,
 * GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal), Orthogonal;
 * with Keras's names, snake_case names and aliases, fan rules and seed
 * behaviour: an initializer with a seed (or seed = None, which draws one from
 * rnnc_next_seed() at construction) fills the same values every time for the
 * same shape. */
#ifndef RNNC_INITIALIZERS_H
#define RNNC_INITIALIZERS_H

#include "framework/config.h"
#include "framework/tensor.h"

typedef struct rnnc_initializer rnnc_initializer;

/* From a name ("glorot_uniform", "GlorotUniform", "uniform", ...) or a dict
 * {"class_name": ..., "config": {...}} (with or without "module"; explicit
 * "module": null is an unregistered custom class and fails). `what` names the
 * argument in messages ("GRU.kernel_initializer"). A null node yields
 * glorot_uniform (Keras's add_weight fallback). Caller owns *out. */
rnnc_status rnnc_initializer_from_config(const rnnc_cfg *c, const char *what,
                                         rnnc_initializer **out);
rnnc_status rnnc_initializer_from_name(const char *name, const char *what,
                                       rnnc_initializer **out);
void rnnc_initializer_destroy(rnnc_initializer *init);
rnnc_status rnnc_initializer_clone(const rnnc_initializer *init, rnnc_initializer **out);

/* Fills a float tensor of any shape (rank rules as Keras: Orthogonal and
 * Identity need rank >= 2 / == 2). */
rnnc_status rnnc_initializer_fill(const rnnc_initializer *init, rnnc_tensor *w);

/* The Keras envelope {"module": "keras.initializers", "class_name":
 * "GlorotUniform", "config": {...}, "registered_name": null}; caller owns. */
rnnc_status rnnc_initializer_get_config(const rnnc_initializer *init, rnnc_cfg **out);
const char *rnnc_initializer_class_name(const rnnc_initializer *init);

/* Keras's compute_fans for a shape. */
void rnnc_compute_fans(const rnnc_shape *s, double *fan_in, double *fan_out);

#endif
