/* session.h - what train, evaluate and generate share: a training spec
 * turned into a model and its data (a built-in task's generated splits or
 * the spec's HDF5 files), with every check done before any work starts.
 *
 * Not here: compiling and fitting (cmd_train.c), printing (describe.h). */
#ifndef RNNC_APPS_SESSION_H
#define RNNC_APPS_SESSION_H

#include <stdbool.h>

#include "apps/tasks.h"
#include "framework/model.h"
#include "io/dataset.h"
#include "io/training_spec.h"

/* Which splits to load. */
enum {
    RNNC_APP_TRAIN = 1,
    RNNC_APP_VALIDATION = 2,
    RNNC_APP_TEST = 4,
    /* data-parallel: read the training rows from their HDF5 file batch by
     * batch (each rank its own) when the spec allows it (no class_weight;
     * no validation_split unless with RNNC_APP_EVAL_BY_ROWS), instead of
     * loading them */
    RNNC_APP_TRAIN_BY_ROWS = 8,
    /* data-parallel: validation_data and test files are read by rows
     * when evaluated (each rank its own); only their first batch is
     * loaded, for the checks (a task's data is generated whole) */
    RNNC_APP_EVAL_BY_ROWS = 16
};

typedef struct rnnc_app_session {
    rnnc_training_spec *spec;
    rnnc_task *task;            /* NULL for HDF5 data */
    rnnc_model *model;          /* built */
    bool model_has_weights;     /* the model came from a file with weights (.keras, .h5) */
    rnnc_task_data train;       /* x NULL when not loaded */
    rnnc_task_data validation;  /* x NULL when absent */
    rnnc_task_data test;        /* x NULL when absent */
    int64_t train_rows;         /* training samples (those of the file when train_by_rows) */
    bool train_by_rows;         /* the training rows are read from spec->train's file batch by batch: */
                                /* `train` then holds only its first rows (checks, building the model) */
    bool streaming;             /* ... through the streaming reader (io/stream_reader.h), else the row reader */
    bool eval_by_rows;          /* RNNC_APP_EVAL_BY_ROWS: validation / test files (when given) are read by rows: */
    int64_t validation_rows, test_rows; /* their samples; `validation` / `test` hold their first rows */
    int64_t validation_from;    /* > 0: fit.validation_split read by rows: validation is rows */
                                /* [validation_from, +validation_rows) of the training file */
    bool compile_from_model;    /* the spec has no `compile` section and its model is a compiled .keras: */
                                /* spec->compile is the archive's compile_config (keras.saving.load_model) */
    bool compile_replaces_model;  /* the spec's compile section recompiles a compiled .keras model */
    int ranks;                  /* data-parallel: the processes that split every batch (0, 1: one); */
                                /* set by the caller before rnnc_app_compile (its stateful batch check) */
} rnnc_app_session;

/* Reads the spec, builds the model and loads the requested splits
 * (`splits` is a mask of RNNC_APP_*; a validation or test split the spec
 * does not have is left empty; a loaded split of 0 samples is an error). seed_override >= 0 replaces fit.seed and
 * seeds weight initialisation. On failure everything is freed and the
 * message says what and where. */
rnnc_status rnnc_app_session_open(const char *spec_path, int splits, int64_t seed_override,
                                  rnnc_app_session *s);
void rnnc_app_session_close(rnnc_app_session *s);
/* The options that read the training file's datasets (names, dtypes). */
void rnnc_app_train_options(const rnnc_app_session *s, rnnc_dataset_options *o);
/* The same for another of the spec's sources (validation_data, test). */
void rnnc_app_source_options(const rnnc_app_session *s, const rnnc_spec_source *src, rnnc_dataset_options *o);

struct rnnc_trainer;

/* A trainer for the session's model, compiled from the spec's `compile`
 * section (optimizer, loss, metrics, weighted_metrics; without one, a
 * compiled .keras model's compile_config: compile_from_model); unknown keys there
 * are errors with file:line:col. Then the model, the loss and the metrics
 * run on a first batch of each loaded split (inference mode; weights and
 * dropout streams unchanged), so targets or sample weights that do not fit
 * the model's output and the loss fail here, naming the spec and the data,
 * before any training step. Caller owns *out. */
rnnc_status rnnc_app_compile(rnnc_app_session *s, struct rnnc_trainer **out);

/* With compile_from_model: the trainer's optimizer gets the optimizer
 * variables saved in the model's archive (slots, iteration count, learning
 * rate), so training continues as Keras's load_model + fit does. *found:
 * whether the archive held them (Keras saves them once the optimizer is
 * built). Without compile_from_model: nothing, *found false. */
rnnc_status rnnc_app_restore_optimizer(rnnc_app_session *s, struct rnnc_trainer *tr, bool *found);

/* rnnc_app_compile's check of the first batches again, on tr as it is now:
 * after rnnc_trainer_set_device it runs on the device path, which refuses
 * some targets the CPU path takes (y of another rank than y_pred), so they
 * fail before training, naming the spec and the data. */
rnnc_status rnnc_app_check_targets(rnnc_app_session *s, struct rnnc_trainer *tr);
/* The fixed batch size of the model's first stateful RNN (its stored
 * state's), or 0 when it has none. */
int64_t rnnc_app_stateful_batch(const rnnc_model *m);

/* A model from a spec's model section (inline config or a path). */
rnnc_status rnnc_app_model_from_spec(const rnnc_training_spec *spec, rnnc_model **out,
                                     bool *has_weights);

/* Checks that inputs x of a data split fit the model's declared input
 * (rank, time steps, features, int ids vs floats); `what` names the data. */
rnnc_status rnnc_app_check_input(const rnnc_model *m, const rnnc_tensor *x, const char *what);

/* Time steps per sample of x (dim 1, or 1 for rank < 2). */
int64_t rnnc_app_timesteps(const rnnc_tensor *x);

#endif
