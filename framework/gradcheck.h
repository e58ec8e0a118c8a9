/* gradcheck.h - checks a computation's backward against finite differences.
 *
 * The computation is any function fn(cx, user, inputs, &out) that builds an
 * output tensor from the inputs with ops (or layers) in the context cx. The
 * checker contracts the output with a fixed random tensor dy (uniform in
 * [-1, 1), drawn from a fixed seed, so runs repeat), L = sum(out * dy), and
 * compares for every element x_i of every input with requires_grad
 *   analytic  a = dL/dx_i from rnnc_backward_with(cx, out, dy)
 *   numeric   n = sum_j dy_j (out_j(x_i + eps) - out_j(x_i - eps)) / (2 eps)
 *             (central differences in float64, differenced per output
 *             element before summing, so large unrelated outputs do not
 *             drown small gradients in rounding)
 * with the error |a - n| / max(1, |a|, |n|) (absolute for small gradients,
 * relative for large ones). The reported error is the maximum over all
 * checked elements.
 *
 * Contract for fn: deterministic (same inputs -> same output; reseed any
 * generator it uses inside fn), builds everything in cx (the checker clears
 * cx before each evaluation, so fn must not keep ctx-owned tensors between
 * calls), and returns a float64 output. Differentiated inputs must be
 * float64 leaves; inputs without requires_grad (masks, ids, float32
 * constants) are passed through untouched. The numeric passes run with grad
 * mode off.
 *
 * Side effects: the inputs' values are restored exactly; the gradients of
 * the inputs with requires_grad are zeroed and hold dL/dx on return. */
#ifndef RNNC_GRADCHECK_H
#define RNNC_GRADCHECK_H

#include <stddef.h>

#include "framework/autograd.h"

typedef rnnc_status (*rnnc_gradcheck_fn)(rnnc_ctx *cx, void *user, rnnc_tensor **inputs,
                                         rnnc_tensor **out);

typedef struct rnnc_gradcheck_result {
    double max_err;      /* max over checked elements of |a-n| / max(1,|a|,|n|) */
    int worst_input;     /* index in inputs of the worst element; -1 if none checked */
    size_t worst_index;  /* flat element index inside that input */
    double analytic;     /* a at the worst element */
    double numeric;      /* n at the worst element */
    size_t n_checked;    /* number of elements compared */
} rnnc_gradcheck_result;

/* Runs the check and stores the maximum error in *max_err (may be NULL).
 * Fails with RNNC_E_ARG on bad arguments (eps <= 0, NULL fn/inputs, no
 * input with requires_grad: a check of nothing must not pass),
 * RNNC_E_DTYPE when a differentiated input or the output is not float64,
 * RNNC_E_SHAPE when fn's output changes shape between evaluations, and
 * passes on any failure of fn (with "gradcheck: " context). */
rnnc_status rnnc_gradcheck(rnnc_gradcheck_fn fn, void *user, rnnc_tensor **inputs, int n_inputs,
                           double eps, double *max_err);

/* Same, with the worst element's location and values in *res. */
rnnc_status rnnc_gradcheck_full(rnnc_gradcheck_fn fn, void *user, rnnc_tensor **inputs,
                                int n_inputs, double eps, rnnc_gradcheck_result *res);

/* "max err 3.1e-09 at input 1 element 7: analytic 0.25 numeric 0.25000000031
 * (42 elements checked)" into buf; returns buf. For test failure messages. */
const char *rnnc_gradcheck_str(const rnnc_gradcheck_result *res, char *buf, size_t cap);

#endif
