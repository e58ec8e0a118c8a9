/* run_program.h - for tests that drive a program and look at the files it
 * leaves: run it with arguments and extra environment, capture its exit
 * status, stdout and stderr; read a whole file; remove a folder tree.
 *
 * Linked into every test executable (tests/helpers/ is globbed). */
#ifndef RNNC_TEST_RUN_PROGRAM_H
#define RNNC_TEST_RUN_PROGRAM_H

#include <stddef.h>

typedef struct rnnc_test_run {
    int code;  /* exit code, 128 + signal when killed, -1 when it could not start */
    char *out; /* stdout (never NULL) */
    char *err; /* stderr (never NULL) */
} rnnc_test_run;

/* Runs `bin` with args (NULL-terminated, without argv[0]) in folder cwd,
 * with env entries ("NAME=VALUE", NULL-terminated; may be NULL) added to the
 * environment. stdout and stderr pass through cwd/.stdout.PID and
 * cwd/.stderr.PID (PID: the calling process's). */
rnnc_test_run rnnc_test_run_program(const char *bin, const char *cwd, const char *const *env,
                                    const char *const *args);
void rnnc_test_run_free(rnnc_test_run *r);

/* The file's bytes, NUL-terminated (malloc'd), and *len its size (len may be
 * NULL); NULL when it cannot be read. */
char *rnnc_test_slurp(const char *path, size_t *len);
/* Removes path and, for a folder, everything below it (links not followed). */
void rnnc_test_rm_tree(const char *path);
/* Number of '\n' in s. */
int rnnc_test_count_lines(const char *s);

#endif
