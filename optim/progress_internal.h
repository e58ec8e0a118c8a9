/* progress_internal.h - the progress display of fit (progress.c), as
 * Keras's Progbar draws it. It only formats text: the ProgbarLogger
 * callback that feeds it the trainer's epochs, steps and logs and prints
 * the text is rnnc_progress_create in trainer.c, so the dependency points
 * one way (trainer.c -> progress.c). Private to optim/. */
#ifndef RNNC_OPTIM_PROGRESS_INTERNAL_H
#define RNNC_OPTIM_PROGRESS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optim/trainer.h"

/* One epoch's display state. live: a bar redrawn in place (a terminal);
 * otherwise one line per epoch. */
typedef struct rnnc__progbar {
    bool live;
    double start, after_first; /* monotonic seconds: epoch start, end of its first batch */
    int prev_width;            /* visible width of the last live line */
} rnnc__progbar;

/* Whether stdout is a terminal (fit's default for live). */
bool rnnc__stdout_is_tty(void);

/* Starts epoch (0-based) of `epochs`: restarts the clock and writes
 * "Epoch e/E\n" into buf. */
void rnnc__progbar_epoch_begin(rnnc__progbar *p, int epoch, int epochs, char *buf, size_t cap);
/* Notes the end of batch `step` (0-based) for the time per step. */
void rnnc__progbar_batch_end(rnnc__progbar *p, int step);
/* Writes the display after `current` of `target` batches into buf: the
 * live bar ("\r..."; with a newline when final) or, not live, the epoch's
 * line "32/32 - 1s - 4ms/step - loss: 0.2000\n". */
void rnnc__progbar_draw(rnnc__progbar *p, int64_t current, int64_t target, const rnnc_logs *logs,
                        bool final, char *buf, size_t cap);

#endif
