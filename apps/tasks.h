/* tasks.h - the built-in sequence tasks: data generated from a seed (or read
 * from a text file already on the machine), a reference number to beat, and
 * a short table of predictions next to targets.
 *
 *   adding      x (N, T, 2) float32: a value in [0, 1) and a 0/1 marker; two
 *               markers, one in each half. y (N, 1) = sum of the two marked
 *               values. Predicting the mean gives MSE 1/6 = 0.167.
 *   copy        x (N, 2L+1, A+2) one-hot: L symbols of an alphabet of A, a
 *               delimiter, then L blanks. y (N, 2L+1) int32 ids: the symbols
 *               again on the last L steps; sample_weight (N, 2L+1) is 1 there
 *               and 0 elsewhere. Chance accuracy 1/A.
 *   sine        x (N, T, 1): a sum of two sines with random frequency, phase
 *               and amplitude plus noise; y (N, H): the next H values.
 *               Reference: repeating the last value (persistence) MSE.
 *   varlen      x (N, T, C) right-padded with zeros after a random length in
 *               [T/4, T]; mask (N, T) uint8; y (N,) int32: the channel with
 *               the largest sum over the valid steps. Chance 1/C.
 *   chars       x (N, T) int32 character ids (a fixed vocabulary of 96:
 *               newline and printable ASCII), y (N, T) the next characters,
 *               windows of a text file (default /usr/share/common-licenses/GPL-3);
 *               the first 90% of the text trains, the rest validates.
 *               Reference: the unigram entropy (nats per character).
 *
 * Not here: models, training (apps/cmd_train.c does that). */
#ifndef RNNC_APPS_TASKS_H
#define RNNC_APPS_TASKS_H

#include <stdio.h>

#include "framework/config.h"
#include "framework/tensor.h"

typedef struct rnnc_task rnnc_task;

/* Limits (docs/spec-format.md, "Limits"): samples per split, and values
 * generated per split (x and y together). Task parameters have their own
 * ranges, named in the messages. */
#define RNNC_TASK_MAX_SAMPLES ((int64_t)10000000)
#define RNNC_TASK_MAX_VALUES ((int64_t)1 << 30)

/* One split of a task's data; every tensor is owned by the struct. */
typedef struct rnnc_task_data {
    rnnc_tensor *x;             /* inputs, see the table above */
    rnnc_tensor *y;             /* targets */
    rnnc_tensor *sample_weight; /* or NULL */
    rnnc_tensor *mask;          /* RNNC_U8 (N, T) or NULL */
} rnnc_task_data;

typedef enum {
    RNNC_SPLIT_TRAIN,
    RNNC_SPLIT_VALIDATION,
    RNNC_SPLIT_TEST
} rnnc_split;

/* Builds a task from a spec's `data` map (task, samples, seed, and the
 * task's own keys, e.g. timesteps). Marks the keys it reads, so the caller
 * can report the rest with rnnc_cfg_check_unread. base_dir resolves a
 * relative `text` path (chars). Errors name the key and its position. */
rnnc_status rnnc_task_create(const rnnc_cfg *data, const char *base_dir, rnnc_task **out);
void rnnc_task_destroy(rnnc_task *t); /* NULL is a no-op */

/* The keys rnnc_task_create reads for this task (NULL-terminated, static). */
const char *const *rnnc_task_known_keys(const char *task_name);
/* The task names (NULL-terminated, static). */
const char *const *rnnc_task_names(void);

const char *rnnc_task_name(const rnnc_task *t);
/* Samples per split as configured (samples, validation_samples, test_samples). */
int64_t rnnc_task_samples(const rnnc_task *t, rnnc_split split);
/* Time steps of one sample. */
int64_t rnnc_task_timesteps(const rnnc_task *t);

/* Generates a split deterministically from the task's seed: the same task,
 * split and n always give the same bytes. */
rnnc_status rnnc_task_generate(const rnnc_task *t, rnnc_split split, int64_t n,
                               rnnc_task_data *out);
void rnnc_task_data_free(rnnc_task_data *d); /* frees the tensors, zeroes d */

/* A reference to beat on data d: a one-line description into buf, e.g.
 * "predicting the mean: mse 0.1667". */
const char *rnnc_task_baseline(const rnnc_task *t, const rnnc_task_data *d, char *buf,
                               size_t cap);

/* Prints up to n rows "prediction vs target" for the first samples of d,
 * given the model's outputs pred for those samples (first output). */
void rnnc_task_show(const rnnc_task *t, FILE *f, const rnnc_task_data *d,
                    const rnnc_tensor *pred, int n);

/* chars task: the vocabulary (sorted distinct bytes of the text). */
const unsigned char *rnnc_task_vocab(const rnnc_task *t, int *size);
/* chars task: index of byte c in the vocabulary, or -1. */
int rnnc_task_char_id(const rnnc_task *t, unsigned char c);

#endif
