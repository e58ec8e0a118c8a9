/* resume_check.h - `rnnc train --resume` with a spec that is not the one
 * the checkpoint was written with.
 *
 * The rule: this run's spec and command line win, and every value that
 * differs from the checkpoint's is printed as one line,
 *   resume: fit.batch_size: checkpoint 32, spec 64 -> using 64
 * except what cannot carry over, which is an error naming the differences:
 *   - the model (its Keras config, every key): the weights belong to it;
 *   - the optimizer's class: its state (slots) belongs to it;
 *   - for a checkpoint written inside an epoch (batch > 0): the data, the
 *     batch size, shuffling, validation split, seed, loss and metrics, which
 *     decide the rest of that epoch (resume from an epoch-end checkpoint to
 *     change them).
 * Compared: the model JSON, the optimizer's config (learning rate, betas,
 * clipping ...; a changed learning rate replaces the checkpoint's), the
 * spec's other sections key by key, and the shuffling seed (fit.seed or
 * --seed). */
#ifndef RNNC_APPS_RESUME_CHECK_H
#define RNNC_APPS_RESUME_CHECK_H

#include <stdint.h>
#include <stdio.h>

#include "io/checkpoint.h"

typedef struct rnnc_resume_now {
    const char *model_json;      /* this run's model, Keras JSON */
    const char *optimizer_json;  /* this run's optimizer, serialized (may be NULL) */
    const char *spec_json;       /* this run's spec tree as JSON */
    uint64_t seed;               /* the shuffling seed this run uses */
} rnnc_resume_now;

/* Checks st (read from ckpt_path) against now; prints the differences that
 * are allowed to out, fails (RNNC_E_ARG, one line) on one that is not.
 * *lr_changed tells whether the optimizer's learning_rate differs. */
rnnc_status rnnc_resume_check(const rnnc_checkpoint_state *st, const char *ckpt_path, const rnnc_resume_now *now,
                              FILE *out, bool *lr_changed);

#endif
