/* fpenv.h - flush-to-zero and denormals-are-zero inside rnnc's float32
 * compute.
 *
 * A float32 gradient carried back through many time steps decays into
 * subnormal numbers (below 1.18e-38). Some CPUs (Intel cores among them)
 * take a microcode assist for every arithmetic operation on a subnormal
 * operand or result, which can make a long training step many times slower;
 * TensorFlow (so Keras) computes with flush-to-zero on its threads and never
 * pays for it. rnnc does the same inside its heavy float32 paths: the fused
 * GRU and LSTM kernels (forward and backward) and the float32 matrix
 * product set FTZ (results that would be subnormal become 0) and DAZ
 * (subnormal inputs read as 0) on entry and restore the caller's setting
 * on exit, so a program that links rnnc keeps its own floating-point mode
 * outside rnnc's calls. float64 paths are left in IEEE mode (gradual
 * underflow): they are the precision reference of the gradient checks.
 * docs/keras-compat.md ("Denormals") has the details and the measurements.
 *
 * On x86-64 the switch is MXCSR (FTZ bit 15, DAZ bit 6); on arm64 FPCR.FZ
 * (bit 24; it covers both directions). Elsewhere the calls do nothing and
 * rnnc_flush_denormals_supported() says false. */
#ifndef RNNC_FPENV_H
#define RNNC_FPENV_H

#include <stdbool.h>

/* Whether rnnc's float32 kernels flush denormals (default: true).
 * Process-wide; set it before starting the computations it should govern
 * (benchmarks turn it off to measure the difference). */
void rnnc_set_flush_denormals(bool on);
bool rnnc_flush_denormals(void);

/* Whether this CPU/build can flush at all (x86-64 with SSE, arm64). */
bool rnnc_flush_denormals_supported(void);

/* Whether the calling thread's floating-point mode flushes denormals now
 * (FTZ and DAZ both set on x86-64, FZ on arm64). Tests use it. */
bool rnnc_fpenv_flushing(void);

/* ---- internal: the scope around a kernel ---- */

/* The caller's mode, to restore. */
typedef struct rnnc__fp_scope {
    unsigned long saved;
    bool changed;
} rnnc__fp_scope;

/* Turns flushing on for the calling thread when rnnc_flush_denormals() is
 * on (nothing otherwise) and returns what to restore. Nests. */
rnnc__fp_scope rnnc__flush_begin(void);
/* Restores the mode rnnc__flush_begin found. */
void rnnc__flush_end(rnnc__fp_scope s);

/* Test hook: called (when set) inside every flushing scope, after the mode
 * was set; NULL by default. */
extern void (*rnnc__flush_probe)(void);

#endif
