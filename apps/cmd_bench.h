/* cmd_bench.h - what the files of `rnnc bench gru|lstm` share, internal to
 * the program: the shapes, the median timer, the peer scripts
 * (apps/cmd_bench_common.c), and the GPU bench (apps/cmd_bench_cuda.c) that
 * apps/cmd_bench.c calls for --device cuda.
 *
 * Not here: the options and the CPU measurements (apps/cmd_bench.c). */
#ifndef RNNC_APPS_CMD_BENCH_H
#define RNNC_APPS_CMD_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "framework/backend/cuda_api.h"
#include "framework/random.h"
#include "framework/tensor.h"

typedef struct bench_shape {
    int64_t B, T, F, U;
} bench_shape;

/* CLOCK_MONOTONIC in milliseconds. */
double rnnc__bench_now_ms(void);
/* Median of v[0..n) (sorts v); NAN when n < 1. */
double rnnc__bench_median(double *v, int n);
/* Float32 t uniform in [-1, 1) from rng (left as it is when out of memory). */
void rnnc__bench_fill_uniform(rnnc_tensor *t, rnnc_rng *rng);

/* One peer: a Python script printing B,T,F,U,threads,fwd_ms,train_ms rows
 * (the protocol of ../shared/bench/torch_gru_bench.py; "nan" where it does
 * not measure), run as a process of its own for every shape and round. A
 * line "# version: ..." names its library; a line "# skip: REASON" (and no
 * row) says it cannot run here at all (PyTorch without CUDA): the bench
 * says so once and runs it no more. */
typedef struct bench_peer {
    const char *name;   /* column label and --python key */
    const char *python; /* interpreter */
    const char *script;
    const char *args;   /* extra arguments (may be "") */
    char version[96];   /* from its "# version: ..." line, once seen */
    bool warned;        /* a failure was reported already */
    bool skipped;       /* it printed "# skip: ..."; not run again */
} bench_peer;

#define MAX_PEERS 6

/* Runs peer p's script for one shape:
 *   PYTHON SCRIPT ARGS --shapes 'B,T,F,U' --threads THREADS_ARG --min-time S
 * fwd[i] and train[i] get its row for threads[i] (NAN where it printed
 * none). Returns false when the peer printed no row; the first failure of
 * a peer (or its skip line) is reported on stderr. */
bool rnnc__bench_run_peer(bench_peer *p, bench_shape s, double min_time, const char *threads_arg,
                          const int *threads, int n_threads, double *fwd, double *train);
/* Whether peer p can run: its Python is executable (or a bare command
 * name, looked up on PATH by the shell) and its script readable; else
 * says on stderr why it is skipped. */
bool rnnc__bench_peer_usable(const bench_peer *p);
/* The Python for peer `name` from --python: "PATH" (every peer) or
 * "name=PATH,name=PATH" (those named; the others keep their default).
 * Returns NULL when --python does not name it; the path in buf. */
const char *rnnc__bench_python_for(const char *opt, const char *name, char *buf, size_t cap);

/* ---- the GPU bench (apps/cmd_bench_cuda.c) ---- */

/* Which GPU GRU kernels to time (bits). */
#define RNNC_BENCH_CUDNN 1
#define RNNC_BENCH_GENERIC 2

typedef struct bench_gpu_options {
    const bench_shape *shapes;
    int n_shapes;
    int kernels;       /* RNNC_BENCH_CUDNN | RNNC_BENCH_GENERIC */
    int64_t rounds;    /* alternating rnnc / peer rounds per shape */
    double min_time;   /* seconds per measurement, at least */
    int min_reps;      /* calls per measurement, at least */
    bench_peer *peers; /* at most one, run with its args (which carry --device cuda) */
    int n_peers;
    const char *threads_arg; /* the peers' --threads (one count) */
} bench_gpu_options;

/* `rnnc bench gru --device cuda` on the backend api (a device is present):
 * for every shape and kernel, the GRU layer's inference forward and one
 * training step (forward, MSE on the last output, backward with the
 * weight gradients, SGD(1e-3) on the device), each call between two
 * device synchronizations, medians; the peers in alternating rounds.
 * Prints the table on stdout; returns the exit code (RNNC_EXIT_FAIL when a
 * shape failed, saying so on stderr). */
int rnnc__bench_gpu(const rnnc_cuda_api *api, const bench_gpu_options *o);
/* The GPU bench's peer from --peer (NULL or "torch": PyTorch's cuDNN GRU,
 * bench/torch2_rnn_bench.py --mode eager --device cuda; a script PATH: run
 * with --device cuda; "none") and --python (default: python3 on PATH, where
 * pip's torch is). Returns 1 when *p can run, 0 when none (or it cannot:
 * said on stderr). */
int rnnc__bench_gpu_peer(const char *peer_opt, const char *python_opt, bench_peer *p, char *pybuf,
                         size_t cap);

#endif
