/* gradcheck.c - finite-difference check of backward (see gradcheck.h).
 *
 * One analytic pass (forward with grad on + rnnc_backward_with), then two
 * forward passes per checked element with grad off. Each evaluation starts
 * from a cleared context, so nothing from the previous pass leaks in. */
#include "framework/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "framework/random.h"

/* Fixed so that a failing check repeats exactly. */
#define GRADCHECK_SEED 0x6772616463686bULL

/* Evaluates fn on the current input values from a cleared context. On the
 * first call (*dy == NULL) dy is created from the output's shape; later
 * outputs must keep that shape. Copies the output into outbuf when given
 * and returns the (ctx-owned) tensor in *out_keep when given. */
static rnnc_status eval(rnnc_ctx *cx, rnnc_gradcheck_fn fn, void *user, rnnc_tensor **inputs,
                        rnnc_tensor **dy, double *outbuf, rnnc_tensor **out_keep)
{
    char a[160], b[160];
    rnnc_ctx_clear(cx);
    rnnc_tensor *out = NULL;
    rnnc_status s = fn(cx, user, inputs, &out);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "gradcheck: the checked function failed: ");
    if (!out)
        return rnnc_fail(RNNC_E_ARG, "gradcheck: the checked function returned no output");
    if (out->dtype != RNNC_F64)
        return rnnc_fail(RNNC_E_DTYPE, "gradcheck: the output must be float64, got %s of shape %s",
                         rnnc_dtype_name(out->dtype), rnnc_shape_str(&out->shape, a, sizeof a));
    if (!*dy) {
        RNNC_TRY(rnnc_tensor_create(RNNC_F64, &out->shape, dy));
        rnnc_rng rng;
        rnnc_rng_init(&rng, GRADCHECK_SEED);
        double *d = (*dy)->data;
        rnnc_rng_uniform(&rng, d, (*dy)->numel);
        for (size_t i = 0; i < (*dy)->numel; i++)
            d[i] = 2.0 * d[i] - 1.0;
    } else if (!rnnc_shape_eq(&out->shape, &(*dy)->shape)) {
        return rnnc_fail(RNNC_E_SHAPE,
                         "gradcheck: the output shape changed between evaluations: %s, then %s",
                         rnnc_shape_str(&(*dy)->shape, a, sizeof a),
                         rnnc_shape_str(&out->shape, b, sizeof b));
    }
    for (size_t i = 0; outbuf && i < out->numel; i++)
        outbuf[i] = rnnc_f64(out)[i];
    if (out_keep)
        *out_keep = out;
    return RNNC_OK;
}

static rnnc_status check_args(rnnc_gradcheck_fn fn, rnnc_tensor **inputs, int n_inputs, double eps)
{
    char a[160];
    if (!fn)
        return rnnc_fail(RNNC_E_ARG, "gradcheck: fn is NULL");
    if (n_inputs < 0 || (n_inputs > 0 && !inputs))
        return rnnc_fail(RNNC_E_ARG, "gradcheck: invalid inputs (n_inputs = %d)", n_inputs);
    if (!(eps > 0) || !isfinite(eps))
        return rnnc_fail(RNNC_E_ARG, "gradcheck: eps must be a positive finite step, got %g", eps);
    bool any = false;
    for (int k = 0; k < n_inputs; k++) {
        if (!inputs[k])
            return rnnc_fail(RNNC_E_ARG, "gradcheck: input %d is NULL", k);
        any = any || inputs[k]->requires_grad;
        if (inputs[k]->requires_grad && inputs[k]->dtype != RNNC_F64)
            return rnnc_fail(RNNC_E_DTYPE,
                             "gradcheck: input %d %s requires grad but is %s; finite differences "
                             "need float64",
                             k, rnnc_shape_str(&inputs[k]->shape, a, sizeof a),
                             rnnc_dtype_name(inputs[k]->dtype));
    }
    /* A check of nothing would pass vacuously. */
    if (!any)
        return rnnc_fail(RNNC_E_ARG, "gradcheck: no input requires grad, so there is nothing to check");
    return RNNC_OK;
}

/* The body, with every resource owned by the caller so cleanup is in one place. */
static rnnc_status run(rnnc_ctx *cx, rnnc_gradcheck_fn fn, void *user, rnnc_tensor **inputs,
                       int n_inputs, double eps, rnnc_tensor **dy, double **analytic,
                       double **outp, double **outm, rnnc_gradcheck_result *res)
{
    /* Analytic pass. */
    for (int k = 0; k < n_inputs; k++)
        if (inputs[k]->requires_grad) {
            RNNC_TRY(rnnc_tensor_ensure_grad(inputs[k]));
            rnnc_tensor_zero_grad(inputs[k]);
        }
    rnnc_ctx_set_grad_enabled(cx, true);
    rnnc_tensor *out = NULL;
    RNNC_TRY(eval(cx, fn, user, inputs, dy, NULL, &out));
    if (out->requires_grad) /* else nothing depends on the inputs: a = 0 */
        RNNC_TRY(rnnc_backward_with(cx, out, *dy));
    for (int k = 0; k < n_inputs; k++) {
        if (!inputs[k]->requires_grad)
            continue;
        analytic[k] = malloc((inputs[k]->numel ? inputs[k]->numel : 1) * sizeof(double));
        if (!analytic[k])
            return rnnc_fail(RNNC_E_NOMEM, "gradcheck: out of memory");
        for (size_t i = 0; i < inputs[k]->numel; i++)
            analytic[k][i] = rnnc_tensor_get_grad(inputs[k], i);
    }

    /* Numeric passes: central differences, one element at a time. The
     * output differences are formed per element before the dy-weighted sum:
     * summing L+ and L- first would bury a small gradient under the
     * rounding of large unrelated outputs. */
    const size_t n_out = (*dy)->numel;
    *outp = malloc((n_out ? n_out : 1) * sizeof(double));
    *outm = malloc((n_out ? n_out : 1) * sizeof(double));
    if (!*outp || !*outm)
        return rnnc_fail(RNNC_E_NOMEM, "gradcheck: out of memory for %zu outputs", n_out);
    const double *d = (*dy)->data;
    rnnc_ctx_set_grad_enabled(cx, false);
    for (int k = 0; k < n_inputs; k++) {
        if (!inputs[k]->requires_grad)
            continue;
        double *x = inputs[k]->data;
        for (size_t i = 0; i < inputs[k]->numel; i++) {
            const double x0 = x[i];
            x[i] = x0 + eps;
            rnnc_status s = eval(cx, fn, user, inputs, dy, *outp, NULL);
            x[i] = x0 - eps;
            if (s == RNNC_OK)
                s = eval(cx, fn, user, inputs, dy, *outm, NULL);
            x[i] = x0; /* restore before any return */
            if (s != RNNC_OK)
                return s;
            double dL = 0;
            for (size_t j = 0; j < n_out; j++)
                dL += d[j] * ((*outp)[j] - (*outm)[j]);
            const double num = dL / (2.0 * eps), an = analytic[k][i];
            double scale = fabs(an) > fabs(num) ? fabs(an) : fabs(num);
            if (scale < 1.0)
                scale = 1.0;
            double err = fabs(an - num) / scale;
            if (err != err) /* NaN on either side is a failure, not a pass */
                err = INFINITY;
            res->n_checked++;
            if (res->worst_input < 0 || err > res->max_err) {
                res->max_err = err;
                res->worst_input = k;
                res->worst_index = i;
                res->analytic = an;
                res->numeric = num;
            }
        }
    }
    return RNNC_OK;
}

rnnc_status rnnc_gradcheck_full(rnnc_gradcheck_fn fn, void *user, rnnc_tensor **inputs,
                                int n_inputs, double eps, rnnc_gradcheck_result *res)
{
    rnnc_gradcheck_result r = {0, -1, 0, 0, 0, 0};
    RNNC_TRY(check_args(fn, inputs, n_inputs, eps));
    rnnc_ctx *cx = rnnc_ctx_create();
    double **analytic = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof *analytic);
    if (!cx || !analytic) {
        rnnc_ctx_destroy(cx);
        free(analytic);
        return rnnc_fail(RNNC_E_NOMEM, "gradcheck: out of memory");
    }
    rnnc_tensor *dy = NULL;
    double *outp = NULL, *outm = NULL;
    rnnc_status s = run(cx, fn, user, inputs, n_inputs, eps, &dy, analytic, &outp, &outm, &r);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(dy);
    free(outp);
    free(outm);
    for (int k = 0; k < n_inputs; k++)
        free(analytic[k]);
    free(analytic);
    if (res)
        *res = r;
    return s;
}

rnnc_status rnnc_gradcheck(rnnc_gradcheck_fn fn, void *user, rnnc_tensor **inputs, int n_inputs,
                           double eps, double *max_err)
{
    rnnc_gradcheck_result r;
    rnnc_status s = rnnc_gradcheck_full(fn, user, inputs, n_inputs, eps, &r);
    if (max_err)
        *max_err = s == RNNC_OK ? r.max_err : INFINITY;
    return s;
}

const char *rnnc_gradcheck_str(const rnnc_gradcheck_result *res, char *buf, size_t cap)
{
    if (res->worst_input < 0)
        snprintf(buf, cap, "no element checked (no input requires grad)");
    else
        snprintf(buf, cap,
                 "max err %.3g at input %d element %zu: analytic %.12g numeric %.12g (%zu elements "
                 "checked)",
                 res->max_err, res->worst_input, res->worst_index, res->analytic, res->numeric,
                 res->n_checked);
    return buf;
}
