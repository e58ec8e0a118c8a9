/* interrupt.h - SIGINT and SIGTERM during `rnnc train`.
 *
 * The first signal only sets a flag (a volatile sig_atomic_t written by
 * the handler); the trainer asks rnnc_interrupt_requested between batches
 * and stops there, so the run can write a checkpoint and exit with
 * 128 + the signal (130 for SIGINT, 143 for SIGTERM). A second signal ends
 * the process at once with _exit(128 + signal): whatever file is being
 * written then stays a temporary file, which the next run removes.
 *
 * For tests, RNNC_TEST_RAISE="SIG@WHEN[,SIG@WHEN...]" (SIG: INT or TERM)
 * raises real signals at fixed points: WHEN a number k raises after the
 * k-th training batch this process ran (counting from 1), WHEN "ckpt"
 * just before the interrupt checkpoint is written. */
#ifndef RNNC_APPS_INTERRUPT_H
#define RNNC_APPS_INTERRUPT_H

#include <stdbool.h>

/* Installs the handlers (sigaction) and clears the flag. */
void rnnc_interrupt_install(void);
/* Puts back the dispositions that were there before install. */
void rnnc_interrupt_restore(void);
/* The signal received (SIGINT or SIGTERM), 0 when none. */
int rnnc_interrupt_signal(void);
/* fit's stop_requested: whether a signal arrived (user is unused). */
bool rnnc_interrupt_requested(void *user);
/* "SIGINT" / "SIGTERM". */
const char *rnnc_interrupt_signal_name(int sig);
/* The program as it was started (main's argv[0]), for the resume command;
 * "rnnc" until set. */
void rnnc_interrupt_set_program(const char *argv0);
const char *rnnc_interrupt_program(void);
/* The test hook: counts a finished training batch, raising a signal when
 * RNNC_TEST_RAISE asks for one at it. */
void rnnc_interrupt_test_batch(void);
/* The test hook at a named point ("ckpt"). */
void rnnc_interrupt_test_point(const char *name);

#endif
