/* optimizer_internal.h - the optimizer base struct and the class table that
 * sgd.c, adam.c, rmsprop.c and adagrad.c fill. Private to optim/. */
#ifndef RNNC_OPTIM_OPTIMIZER_INTERNAL_H
#define RNNC_OPTIM_OPTIMIZER_INTERNAL_H

#include <stddef.h>

#include "framework/keras_object.h"
#include "optim/optimizer.h"

#define RNNC__OPT_MAX_KINDS 3

/* A class argument echoed in get_config: a number (rnnc_keras_num field) or a
 * bool field of rnnc_optimizer, found by offset. */
typedef struct rnnc__opt_key {
    const char *key;
    bool is_bool;
    size_t offset;
    double dflt;      /* numbers: default, written as a float */
    bool dflt_bool;
} rnnc__opt_key;

/* Slots created together, interleaved per variable ({"momentum",
 * "velocity"} gives m0, v0, m1, v1, ...), all starting at `init`. */
typedef struct rnnc__slot_group {
    const char *kinds[RNNC__OPT_MAX_KINDS];
    int n_kinds;
    double init;
} rnnc__slot_group;

/* A gradient given as rows per occurrence with their row indices (an
 * Embedding's: TensorFlow's IndexedSlices), as the optimizer processes it.
 * Owned by the optimizer, reused from step to step. */
typedef struct rnnc__rows {
    int64_t n, cap, width;  /* rows held / allocated, elements per row */
    int32_t *ids;           /* (n,) */
    void *rows;             /* (n, width), the variable's dtype */
} rnnc__rows;

/* Scratch tensors (the variable's shape) an update_sparse may use. */
#define RNNC__OPT_SPARSE_SCRATCH 2

typedef struct rnnc__opt_class {
    const char *class_name;   /* "SGD" */
    rnnc_optimizer_kind kind;
    double default_lr;
    const rnnc__opt_key *keys; /* class keys in get_config order, {NULL} ended */
    /* Validates the class arguments once they are set (RNNC_E_ARG). */
    rnnc_status (*check)(const rnnc_optimizer *o, const char *what);
    /* The class's slot groups in creation order; returns their count. */
    int (*layout)(const rnnc_optimizer *o, rnnc__slot_group *groups);
    /* One update_step: w (in place) from the processed gradient g, with
     * slots[k] the variable's slot of kind k (kinds numbered across the
     * groups in order), lr the current learning rate, step = t (1-based). */
    rnnc_status (*update)(const rnnc_optimizer *o, rnnc_tensor *w, const rnnc_tensor *g,
                          rnnc_tensor *const *slots, double lr, int64_t step);
    /* The same step for a gradient given as rows, doing what Keras's ops do
     * with IndexedSlices on TensorFlow (docs/keras-compat.md, "Sparse
     * gradients"): rows summed per index where an op densifies them, kept
     * per occurrence where it does not (square, scatter). scratch: the
     * first n_scratch of RNNC__OPT_SPARSE_SCRATCH tensors of w's shape, not
     * zeroed. */
    rnnc_status (*update_sparse)(const rnnc_optimizer *o, rnnc_tensor *w, const rnnc__rows *g,
                                 rnnc_tensor *const *slots, rnnc_tensor *const *scratch, double lr,
                                 int64_t step);
    int n_scratch;
} rnnc__opt_class;

/* dst <- zeros, then each row added in order at its index
 * (tf.convert_to_tensor of slices: an unsorted segment sum). */
void rnnc__rows_sum(rnnc_tensor *dst, const rnnc__rows *g);

extern const rnnc__opt_class rnnc__sgd_class;
extern const rnnc__opt_class rnnc__adam_class;
extern const rnnc__opt_class rnnc__adamw_class;
extern const rnnc__opt_class rnnc__rmsprop_class;
extern const rnnc__opt_class rnnc__adagrad_class;

/* None is NAN in these numbers. */
struct rnnc_optimizer {
    const rnnc__opt_class *cls;
    char *name;
    rnnc_tensor *iteration;     /* int64 () */
    rnnc_tensor *lr;            /* float32 (), NULL with a schedule */
    rnnc_schedule *schedule;
    rnnc_keras_num weight_decay, clipnorm, clipvalue, global_clipnorm;
    rnnc_keras_num ema_momentum, loss_scale_factor;
    bool use_ema;
    int64_t ema_overwrite_frequency, accum_steps; /* 0 = None */
    rnnc_keras_num ema_overwrite_echo, accum_echo;      /* as written */
    /* class arguments */
    rnnc_keras_num momentum, beta_1, beta_2, epsilon, rho, initial_accumulator_value;
    bool nesterov, amsgrad, centered;
    /* exclude_from_weight_decay names */
    char **exclude;
    int n_exclude;
    /* built state */
    bool built;
    int n_vars;
    rnnc_tensor **vars;         /* borrowed: the weights' tensors */
    char **var_names;
    rnnc_tensor **average;      /* EMA, per var, or NULL */
    rnnc_tensor **accum;        /* gradient accumulators, per var, or NULL */
    int n_kinds;
    const char *kind_names[RNNC__OPT_MAX_KINDS];
    rnnc_tensor **slots;        /* [var * n_kinds + kind] */
    rnnc_tensor **gbuf;         /* per var scratch for the processed gradient */
    rnnc__rows *rows;           /* per var: its gradient as rows, when sparse */
    rnnc_tensor **sscratch;     /* [var * RNNC__OPT_SPARSE_SCRATCH + k], made on first use */
    int n_state;
    rnnc_optimizer_variable *state; /* Keras order */
    char **state_names;
};

/* Reads a class argument field. */
static inline rnnc_keras_num *rnnc__opt_num(rnnc_optimizer *o, size_t off)
{
    return (rnnc_keras_num *)((char *)o + off);
}
static inline bool *rnnc__opt_bool(rnnc_optimizer *o, size_t off)
{
    return (bool *)((char *)o + off);
}

#endif
