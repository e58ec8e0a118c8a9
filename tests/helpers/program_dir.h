/* program_dir.h - a folder of one's own for a test that runs a program
 * (tests run in parallel processes), files written into it, and the fake
 * Python the bench tests give `rnnc bench --python` (CI has no Python).
 * Failures abort the calling test (Criterion assertions).
 *
 * Linked into every test executable (tests/helpers/ is globbed). */
#ifndef RNNC_TEST_PROGRAM_DIR_H
#define RNNC_TEST_PROGRAM_DIR_H

#include <stdbool.h>
#include <stddef.h>

#include "helpers/run_program.h"

/* dir (cap bytes) = the build folder's <tag>_<pid>, created. */
void rnnc_test_own_dir(char *dir, size_t cap, const char *tag);

/* The build's rnnc run with args (as rnnc_test_run_program) in a new
 * folder of its own, named after the test program, removed afterwards. */
rnnc_test_run rnnc_test_run_rnnc(const char *const *args);

/* Writes dir/name (name may hold existing subfolders) with text,
 * executable when exec. */
void rnnc_test_write_file(const char *dir, const char *name, const char *text, bool exec);

/* A fake Python at dir/fakepy, its path in py (cap bytes): a shell script
 * that runs body (shell lines; "$1 $2 $3" are the peer script and its
 * first arguments), e.g. printing the CSV rows of the peers' protocol
 * (../shared/bench/torch_gru_bench.py). */
void rnnc_test_fake_python(const char *dir, const char *body, char *py, size_t cap);

#endif
