/* training_spec.h - the training spec: a YAML file with a model and the
 * sections around it (docs/spec-format.md):
 *
 *   model:      a Keras model config (inline map) or a path to one
 *               (YAML / Keras JSON / .keras archive / legacy .h5)
 *   compile:    optimizer, loss, metrics (read by the trainer)
 *   fit:        epochs, batch_size, shuffle, seed, validation_split or
 *               validation_data, verbose
 *   data:       HDF5 datasets (path, x, y, sample_weight, mask, test), or a
 *               built-in task (task: adding, with the task's keys)
 *   checkpoint: directory, every (epochs), keep (last K files)
 *
 * Paths inside the spec are relative to the spec's own folder; the parsed
 * spec holds them resolved. Keys nobody reads are errors naming
 * file:line:col and the nearest valid key: rnnc_training_spec_read checks
 * the top level, fit, checkpoint and HDF5 data sections itself; the
 * `compile` map and a task's `data` map are read by their consumers (the
 * trainer, apps/tasks.c), who call rnnc_training_spec_check_section after.
 *
 * Not here: building the model, the trainer, the tasks. */
#ifndef RNNC_IO_TRAINING_SPEC_H
#define RNNC_IO_TRAINING_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/config.h"

/* One HDF5 data source: a file and the dataset names inside it. */
typedef struct rnnc_spec_source {
    char *path;                /* resolved file path; NULL when the source is absent */
    char *x;                   /* dataset names; "x" / "y" by default */
    char *y;
    char *sample_weight;       /* NULL: none */
    char *mask;                /* NULL: none */
} rnnc_spec_source;

/* Limits on the sizes a spec (and the command line) may give; each is read
 * as a 64-bit integer and checked, with the limit in the message
 * (docs/spec-format.md, "Limits"). */
#define RNNC_SPEC_MAX_EPOCHS ((int64_t)1000000)     /* fit.epochs, --epochs, checkpoint.every */
#define RNNC_SPEC_MAX_BATCH_SIZE ((int64_t)1 << 24) /* fit.batch_size, --batch-size */
#define RNNC_SPEC_MAX_KEEP ((int64_t)1000000)       /* checkpoint.keep */
#define RNNC_SPEC_MAX_CLASSES ((int64_t)1 << 20)    /* fit.class_weight keys are below this */
#define RNNC_SPEC_MAX_CHUNK_SIZE ((int64_t)1 << 24)  /* data.chunk_size (rows per read) */
#define RNNC_SPEC_MAX_SHUFFLE_WINDOW ((int64_t)1 << 16) /* data.shuffle_window (chunks per window) */
/* data.streaming: auto (the default) streams a training file larger than
 * this many bytes (the environment's RNNC_STREAMING_ABOVE_BYTES replaces it). */
#define RNNC_SPEC_STREAMING_ABOVE_BYTES ((int64_t)1 << 30)

typedef struct rnnc_training_spec {
    char *path;                /* the spec file as given */
    char *dir;                 /* its folder ("." when none) */
    rnnc_cfg *root;            /* the whole tree; owned */

    /* model: exactly one of model_config / model_path is set. */
    const rnnc_cfg *model_config; /* inline envelope (points into root) */
    char *model_path;          /* resolved path to a config or model file */

    const rnnc_cfg *compile;   /* the compile map (into root), or NULL */

    /* fit, with Keras's defaults */
    int64_t epochs;            /* 1 */
    int64_t batch_size;        /* 32 */
    bool shuffle;              /* true */
    uint64_t seed;             /* 1337 when not given */
    bool has_seed;
    double validation_split;   /* 0 */
    rnnc_spec_source validation_data; /* fit.validation_data, path NULL when absent */
    int verbose;               /* 1: progress bar, 2: one line per epoch, 0: quiet */
    const rnnc_cfg *callbacks; /* fit.callbacks: the list (into root; read by apps/fit_callbacks.c), or NULL */
    double *class_weight;      /* fit.class_weight as a dense list (classes not given: 1), or NULL */
    int n_class_weight;
    int64_t validation_freq;   /* 1 */
    int64_t steps_per_epoch;   /* 0: a whole pass over the data */
    int64_t initial_epoch;     /* 0 */
    char *history_dir;         /* fit.history, resolved; NULL: the checkpoint directory, else the current folder */

    /* data: a task (task != NULL, data_config is the map for apps/tasks.c)
     * or HDF5 sources. */
    const char *task;          /* points into root, or NULL */
    const rnnc_cfg *data_config;
    rnnc_spec_source train;    /* data.path / x / y / sample_weight / mask */
    rnnc_spec_source test;     /* data.test, path NULL when absent */
    int streaming;             /* data.streaming: 1 true, 0 false, -1 auto (default: by file size) */
    int64_t chunk_size;        /* data.chunk_size: rows per read when streaming (1024) */
    int64_t shuffle_window;    /* data.shuffle_window: chunks per shuffle window when streaming (8) */

    /* device: "cpu", "cuda" or "auto" (checked), pointing into root; NULL
     * when absent. The command's --device wins (apps/cli.h). */
    const char *device;

    /* checkpoint */
    bool has_checkpoint;
    char *checkpoint_dir;      /* resolved */
    int64_t checkpoint_every;  /* epochs between checkpoints, >= 1; default 1 */
    int64_t checkpoint_keep;   /* files kept, >= 1; default 3 */
} rnnc_training_spec;

/* Reads and validates a spec file. Errors (RNNC_E_IO, RNNC_E_FORMAT,
 * RNNC_E_ARG) name the file, line:column and key, and suggest the nearest
 * valid key or value. Caller owns *out (rnnc_training_spec_destroy). */
rnnc_status rnnc_training_spec_read(const char *path, rnnc_training_spec **out);
void rnnc_training_spec_destroy(rnnc_training_spec *s); /* NULL is a no-op */

/* Whether a parsed config tree looks like a training spec (a map with a
 * `model` key and at least one of compile / fit / data / checkpoint). */
bool rnnc_training_spec_detect(const rnnc_cfg *root);

/* Resolves a path written in the spec against the spec's folder (absolute
 * paths are kept). Caller frees the result; NULL on out-of-memory. */
char *rnnc_training_spec_resolve(const rnnc_training_spec *s, const char *rel);

/* The keys the spec accepts in a section ("fit", "checkpoint", "compile",
 * "data", "" for the top level); NULL-terminated, static. */
const char *const *rnnc_training_spec_keys(const char *section);

/* Reports the first key of a section map that nobody read (e.g. `compile`
 * after the trainer consumed it), with file:line:col and a suggestion. */
rnnc_status rnnc_training_spec_check_section(const rnnc_cfg *map, const char *section,
                                             const char *const *known);

#endif
