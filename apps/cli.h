/* cli.h - command-line parsing shared by the rnnc subcommands: a table of
 * options per command, strict number parsing, and the one-line error
 * convention (what, where, what to do; exit 2 for usage errors, 1 for
 * failures while running).
 *
 * Not here: the commands themselves (cmd_*.c). */
#ifndef RNNC_APPS_CLI_H
#define RNNC_APPS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "framework/backend_ops.h"
#include "framework/status.h"

#define RNNC_EXIT_OK 0
#define RNNC_EXIT_FAIL 1  /* the command ran and failed (bad file, bad spec, ...) */
#define RNNC_EXIT_USAGE 2 /* the command line itself is wrong */

/* One option: "--epochs" with a value, or a flag. */
typedef struct rnnc_cli_opt {
    const char *name;    /* "--epochs" */
    const char *metavar; /* "N", or NULL for a flag without value */
    const char *help;
    const char *value;   /* filled by rnnc_cli_parse: the value, "" for a set flag, NULL if absent */
} rnnc_cli_opt;

/* A command's interface: name, positional arguments and options. */
typedef struct rnnc_cli_cmd {
    const char *name;        /* "train" */
    const char *usage;       /* "SPEC.yaml [options]" */
    const char *summary;     /* one line */
    const char *details;     /* more text for --help, or NULL */
    int min_pos, max_pos;    /* positional argument count */
    rnnc_cli_opt *opts;      /* terminated by {NULL} */
    const char *pos[8];      /* filled: positional arguments */
    int n_pos;
} rnnc_cli_cmd;

/* Parses argv[1..] (argv[0] is the command name). Returns -1 when the
 * command should go on, or the exit code to return now: 0 after printing
 * --help, RNNC_EXIT_USAGE after printing a one-line error for an unknown
 * option (with the nearest valid one), a missing value, or a wrong number
 * of positional arguments. */
int rnnc_cli_parse(rnnc_cli_cmd *cmd, int argc, char **argv);
void rnnc_cli_help(const rnnc_cli_cmd *cmd, FILE *f);

/* The option's value or NULL. */
const char *rnnc_cli_get(const rnnc_cli_cmd *cmd, const char *name);

/* Strict integers in [lo, hi] from an option value; prints the one-line
 * error and returns false on junk. */
bool rnnc_cli_int(const rnnc_cli_cmd *cmd, const char *opt, const char *value, int64_t lo,
                  int64_t hi, int64_t *out);
bool rnnc_cli_float(const rnnc_cli_cmd *cmd, const char *opt, const char *value, double lo,
                    double hi, double *out);

/* Prints "rnnc <cmd>: <message>" (the message printf-style) and a newline. */
void rnnc_cli_error(const rnnc_cli_cmd *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prints "rnnc <cmd>: <rnnc_last_error() or the status text>" and returns
 * RNNC_EXIT_FAIL. */
int rnnc_cli_fail(const rnnc_cli_cmd *cmd, rnnc_status s);

/* Whether path exists as a regular file; otherwise prints a one-line
 * error naming `what` and returns false. */
bool rnnc_cli_need_file(const rnnc_cli_cmd *cmd, const char *what, const char *path);

/* The --device option of train, predict and evaluate (issue 16): "cpu",
 * "cuda" or "auto"; NULL (absent) is cpu. Returns -1 to go on, with *be
 * the backend table to give rnnc_trainer_set_device (NULL: the CPU path),
 * else the exit code after one line on stderr (RNNC_EXIT_USAGE for an
 * unknown value; RNNC_EXIT_FAIL for cuda when the backend is not built or
 * no CUDA device is present, with backend.h's reason). auto takes the GPU
 * when one is present, saying so in one line on stderr, else the CPU
 * quietly. RNNC_TEST_DEVICE_TABLE=cpu in the environment (tests only) makes
 * cuda and auto run the device path on the CPU backend's table. */
int rnnc_cli_device(const rnnc_cli_cmd *cmd, const char *value, const rnnc_backend_ops **be);
/* The same for a training spec's `device:` (already checked by the spec
 * reader), used when the command line has no --device; messages name
 * "spec device" instead of the option. */
int rnnc_cli_spec_device(const rnnc_cli_cmd *cmd, const char *value, const rnnc_backend_ops **be);
/* A model or compile the device path refuses (rnnc_trainer_set_device):
 * "rnnc <cmd>: --device <option>: <the reason>" (or "spec device <spec>:"
 * when option is NULL), RNNC_EXIT_FAIL. */
int rnnc_cli_device_fail(const rnnc_cli_cmd *cmd, const char *option, const char *spec, rnnc_status s);

/* Seconds on a monotonic clock. */
double rnnc_cli_now(void);

#endif
