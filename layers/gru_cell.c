/* gru_cell.c - GRUCell: construction and validation, weights, dropout masks,
 * the differentiable step (spec 1.2-1.5, both implementations), config.
 *
 * Not here: the sequence loop (framework/rnn.c), the fused whole-sequence
 * kernel (gru_fused.c), the GRU layer (gru.c). */
#include "layers/gru_cell.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"

rnnc_gru_options rnnc_gru_options_default(void)
{
    rnnc_gru_options o;
    memset(&o, 0, sizeof o);
    o.activation = RNNC_ACT_TANH;
    o.recurrent_activation = RNNC_ACT_SIGMOID;
    o.use_bias = true;
    o.reset_after = true;
    o.implementation = 2;
    o.use_cudnn = RNNC_USE_CUDNN_AUTO;
    o.dtype = RNNC_F32;
    o.trainable = true;
    return o;
}

/* Python's min(1, max(0, v)): NaN -> 0, as Keras's clamp gives. */
static double clamp_rate(double v)
{
    v = v > 0.0 ? v : 0.0;
    return v < 1.0 ? v : 1.0;
}

static bool rate_applies(double rate) { return rate > 0.0 && rate < 1.0; }

/* ---- class functions ----------------------------------------------------- */

static void drop_injected(rnnc_gru_cell *c)
{
    for (int i = 0; i < 3; i++) {
        rnnc_tensor_destroy(c->inject_in[i]);
        rnnc_tensor_destroy(c->inject_rec[i]);
        c->inject_in[i] = c->inject_rec[i] = NULL;
    }
    c->n_inject_in = c->n_inject_rec = 0;
    c->inject_pending = false;
}

static void cell_destroy(rnnc_layer *l)
{
    rnnc_gru_cell *c = (rnnc_gru_cell *)l;
    rnnc_initializer_destroy(c->kernel_initializer);
    rnnc_initializer_destroy(c->recurrent_initializer);
    rnnc_initializer_destroy(c->bias_initializer);
    rnnc_regularizer_destroy(c->kernel_regularizer);
    rnnc_regularizer_destroy(c->recurrent_regularizer);
    rnnc_regularizer_destroy(c->bias_regularizer);
    rnnc_constraint_destroy(c->kernel_constraint);
    rnnc_constraint_destroy(c->recurrent_constraint);
    rnnc_constraint_destroy(c->bias_constraint);
    drop_injected(c);
}

static rnnc_status clone_reg(const rnnc_regularizer *r, rnnc_regularizer **out)
{
    *out = NULL;
    return r ? rnnc_regularizer_clone(r, out) : RNNC_OK;
}

static rnnc_status clone_cons(const rnnc_constraint *k, rnnc_constraint **out)
{
    *out = NULL;
    return k ? rnnc_constraint_clone(k, out) : RNNC_OK;
}

/* One weight with clones of the cell's regularizer and constraint. */
static rnnc_status add_w(rnnc_layer *l, const char *name, const rnnc_shape *shape,
                         const rnnc_initializer *init, const rnnc_regularizer *reg_src,
                         const rnnc_constraint *cons_src, rnnc_tensor **out)
{
    rnnc_regularizer *reg;
    rnnc_constraint *cons;
    RNNC_TRY(clone_reg(reg_src, &reg));
    rnnc_status s = clone_cons(cons_src, &cons);
    if (s) {
        rnnc_regularizer_destroy(reg);
        return s;
    }
    return rnnc_layer_add_weight(l, name, shape, init, reg, cons, true, out);
}

static rnnc_status cell_build(rnnc_layer *l, const rnnc_shape *in)
{
    rnnc_gru_cell *c = (rnnc_gru_cell *)l;
    char b[160];
    const int64_t U = c->units;
    if (in->ndim < 1 || in->dim[in->ndim - 1] < 1)
        return rnnc_fail(RNNC_E_SHAPE, "GRUCell '%s': cannot build for input shape %s (the last dimension, the features, must be known)",
                         l->name, rnnc_shape_str(in, b, sizeof b));
    const int64_t F = in->dim[in->ndim - 1];
    const rnnc_shape ks = RNNC_SHAPE(F, 3 * U), rs = RNNC_SHAPE(U, 3 * U);
    RNNC_TRY(add_w(l, "kernel", &ks, c->kernel_initializer, c->kernel_regularizer,
                   c->kernel_constraint, &c->kernel));
    RNNC_TRY(add_w(l, "recurrent_kernel", &rs, c->recurrent_initializer, c->recurrent_regularizer,
                   c->recurrent_constraint, &c->recurrent_kernel));
    if (c->use_bias) {
        const rnnc_shape bs = c->reset_after ? RNNC_SHAPE(2, 3 * U) : RNNC_SHAPE(3 * U);
        RNNC_TRY(add_w(l, "bias", &bs, c->bias_initializer, c->bias_regularizer,
                       c->bias_constraint, &c->bias));
    }
    return RNNC_OK;
}

/* ---- dropout masks ------------------------------------------------------- */

/* One inverted-dropout mask of `shape`: 1/(1-rate) with probability 1-rate. */
static rnnc_status draw_mask(rnnc_gru_cell *c, rnnc_ctx *cx, const rnnc_shape *shape,
                             double rate, rnnc_tensor **out)
{
    RNNC_TRY(rnnc_ctx_tensor(cx, c->base.base.dtype, shape, out));
    rnnc_tensor *m = *out;
    double *u = malloc(m->numel * sizeof *u);
    if (!u)
        return rnnc_fail(RNNC_E_NOMEM, "GRUCell '%s': out of memory drawing a dropout mask",
                         c->base.base.name);
    rnnc_rng_uniform(&c->rng, u, m->numel);
    const double keep = 1.0 / (1.0 - rate);
    for (size_t i = 0; i < m->numel; i++)
        rnnc_tensor_set(m, i, u[i] < rate ? 0.0 : keep);
    free(u);
    return RNNC_OK;
}

/* Keras draws masks on every call, also in inference and for rate 1.0;
 * where no mask is used, only the generator's counter moves, by exactly
 * what rnnc_rng_uniform would consume (ceil(n/2) blocks, random.h). */
static void skip_mask(rnnc_gru_cell *c, size_t n) { c->rng.counter += (n + 1) / 2; }

static rnnc_status take_injected(rnnc_gru_cell *c, rnnc_ctx *cx, int n_want, int n_have,
                                 rnnc_tensor *const *src, const rnnc_shape *shape,
                                 const char *side, rnnc_tensor **dst)
{
    char a[160], b[160];
    if (n_have != n_want)
        return rnnc_fail(RNNC_E_ARG, "GRUCell '%s': %d injected %s dropout mask(s) but this call uses %d",
                         c->base.base.name, n_have, side, n_want);
    for (int i = 0; i < n_want; i++) {
        if (!rnnc_shape_eq(&src[i]->shape, shape))
            return rnnc_fail(RNNC_E_SHAPE, "GRUCell '%s': injected %s dropout mask %d has shape %s, expected %s",
                             c->base.base.name, side, i, rnnc_shape_str(&src[i]->shape, a, sizeof a),
                             rnnc_shape_str(shape, b, sizeof b));
        RNNC_TRY(rnnc_ctx_tensor(cx, c->base.base.dtype, shape, &dst[i]));
        RNNC_TRY(rnnc_tensor_copy(dst[i], src[i]));
    }
    return RNNC_OK;
}

static rnnc_status cell_begin_call(rnnc_layer *l, rnnc_ctx *cx, int64_t batch, bool training)
{
    rnnc_gru_cell *c = (rnnc_gru_cell *)l;
    const int64_t F = c->kernel ? c->kernel->shape.dim[0] : 0;
    const int n_in = c->dropout > 0.0 ? (c->implementation == 1 ? 3 : 1) : 0;
    const int n_rec = c->recurrent_dropout > 0.0 ? 3 : 0;
    const rnnc_shape in_shape = RNNC_SHAPE(batch, F), rec_shape = RNNC_SHAPE(batch, c->units);
    rnnc_status s = RNNC_OK;

    if (c->activation == RNNC_ACT_GLU || c->recurrent_activation == RNNC_ACT_GLU)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "GRUCell '%s': activation 'glu' halves the last axis, so the gates of width %lld cannot use it (Keras fails at call time too)",
                         l->name, (long long)c->units);
    memset(c->in_masks, 0, sizeof c->in_masks);
    memset(c->rec_masks, 0, sizeof c->rec_masks);
    c->n_in_masks = c->n_rec_masks = 0;
    c->in_dropout_on = training && rate_applies(c->dropout);
    c->rec_dropout_on = training && rate_applies(c->recurrent_dropout);
    c->prepared_for = NULL;
    c->in_call = true;
    if (c->inject_pending) {
        s = take_injected(c, cx, n_in, c->n_inject_in, c->inject_in, &in_shape, "input",
                          c->in_masks);
        if (!s)
            s = take_injected(c, cx, n_rec, c->n_inject_rec, c->inject_rec, &rec_shape,
                              "recurrent", c->rec_masks);
        drop_injected(c);
        if (s)
            return s;
    } else {
        /* Draw order as Keras: input mask(s) first, then recurrent ones. */
        for (int i = 0; i < n_in; i++) {
            if (c->in_dropout_on)
                RNNC_TRY(draw_mask(c, cx, &in_shape, c->dropout, &c->in_masks[i]));
            else
                skip_mask(c, (size_t)(batch * F));
        }
        for (int i = 0; i < n_rec; i++) {
            if (c->rec_dropout_on)
                RNNC_TRY(draw_mask(c, cx, &rec_shape, c->recurrent_dropout, &c->rec_masks[i]));
            else
                skip_mask(c, (size_t)(batch * c->units));
        }
    }
    if (!c->in_dropout_on)
        memset(c->in_masks, 0, sizeof c->in_masks);
    if (!c->rec_dropout_on)
        memset(c->rec_masks, 0, sizeof c->rec_masks);
    c->n_in_masks = c->in_dropout_on ? n_in : 0;
    c->n_rec_masks = c->rec_dropout_on ? n_rec : 0;
    return RNNC_OK;
}

static void cell_end_call(rnnc_layer *l)
{
    rnnc_gru_cell *c = (rnnc_gru_cell *)l;
    c->in_call = false;
    c->prepared_for = NULL;
}

rnnc_status rnnc_gru_cell_set_dropout_masks(rnnc_layer *cell, const rnnc_tensor *const *in_masks,
                                            int n_in, const rnnc_tensor *const *rec_masks,
                                            int n_rec)
{
    rnnc_gru_cell *c = rnnc_gru_cell_of(cell);
    if (!c)
        return rnnc_fail(RNNC_E_ARG, "set_dropout_masks: layer '%s' is not a GRUCell",
                         cell ? cell->name : "(null)");
    if (n_in < 0 || n_in > 3 || n_rec < 0 || n_rec > 3)
        return rnnc_fail(RNNC_E_ARG, "GRUCell '%s': set_dropout_masks takes 0..3 masks per side, got %d input and %d recurrent",
                         cell->name, n_in, n_rec);
    drop_injected(c);
    for (int i = 0; i < n_in + n_rec; i++) {
        const rnnc_tensor *src = i < n_in ? in_masks[i] : rec_masks[i - n_in];
        rnnc_tensor **dst = i < n_in ? &c->inject_in[i] : &c->inject_rec[i - n_in];
        if (!src || !rnnc_dtype_is_float(src->dtype) || src->shape.ndim != 2) {
            drop_injected(c);
            return rnnc_fail(RNNC_E_ARG, "GRUCell '%s': injected dropout mask %d must be a rank-2 float tensor",
                             cell->name, i);
        }
        rnnc_status s = rnnc_tensor_clone(src, dst);
        if (s) {
            drop_injected(c);
            return s;
        }
    }
    c->n_inject_in = n_in;
    c->n_inject_rec = n_rec;
    c->inject_pending = true;
    return RNNC_OK;
}

void rnnc_gru_cell_dropout_masks(const rnnc_layer *cell, const rnnc_tensor **in_masks,
                                 int *n_in, const rnnc_tensor **rec_masks, int *n_rec)
{
    const rnnc_gru_cell *c = (const rnnc_gru_cell *)cell;
    *n_in = c->n_in_masks;
    *n_rec = c->n_rec_masks;
    for (int i = 0; i < 3; i++) {
        in_masks[i] = c->in_masks[i];
        rec_masks[i] = c->rec_masks[i];
    }
}

/* ---- the step ------------------------------------------------------------ */

/* Slices of the weights the step uses, made once per call on the tape (so
 * their gradients flow back into the weights once, not T times). */
static rnnc_status prepare(rnnc_gru_cell *c, rnnc_ctx *cx)
{
    const int64_t U = c->units;
    if (c->prepared_for == cx && c->in_call)
        return RNNC_OK;
    memset(c->w_gate, 0, sizeof c->w_gate);
    memset(c->r_gate, 0, sizeof c->r_gate);
    memset(c->b_in_gate, 0, sizeof c->b_in_gate);
    memset(c->b_rec_gate, 0, sizeof c->b_rec_gate);
    c->r_zr = c->b_in = c->b_rec = NULL;
    if (c->use_bias && c->reset_after) {
        RNNC_TRY(rnnc_slice(cx, c->bias, 0, 0, 1, &c->b_in));  /* (1, 3U) */
        RNNC_TRY(rnnc_slice(cx, c->bias, 0, 1, 1, &c->b_rec)); /* (1, 3U) */
    }
    if (c->implementation == 1) {
        for (int g = 0; g < 3; g++) {
            RNNC_TRY(rnnc_slice(cx, c->kernel, 1, g * U, U, &c->w_gate[g]));
            RNNC_TRY(rnnc_slice(cx, c->recurrent_kernel, 1, g * U, U, &c->r_gate[g]));
            if (c->use_bias && c->reset_after) {
                RNNC_TRY(rnnc_slice(cx, c->b_in, 1, g * U, U, &c->b_in_gate[g]));
                RNNC_TRY(rnnc_slice(cx, c->b_rec, 1, g * U, U, &c->b_rec_gate[g]));
            } else if (c->use_bias) {
                RNNC_TRY(rnnc_slice(cx, c->bias, 0, g * U, U, &c->b_in_gate[g]));
            }
        }
    } else if (!c->reset_after) {
        RNNC_TRY(rnnc_slice(cx, c->recurrent_kernel, 1, 0, 2 * U, &c->r_zr));
        RNNC_TRY(rnnc_slice(cx, c->recurrent_kernel, 1, 2 * U, U, &c->r_gate[2]));
    }
    c->prepared_for = cx;
    return RNNC_OK;
}

/* y = a + b, or a when b is NULL (no bias). */
static rnnc_status add_opt(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y)
{
    if (!b) {
        *y = a;
        return RNNC_OK;
    }
    return rnnc_add(cx, a, b, y);
}

static rnnc_status step_impl2(rnnc_gru_cell *c, rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor *h,
                              rnnc_tensor **z, rnnc_tensor **r, rnnc_tensor **hh)
{
    const int64_t U = c->units;
    rnnc_tensor *xi = x, *mx, *xz, *xr, *xh, *mi, *rz, *rr, *rh, *t;
    if (c->in_dropout_on) /* one mask shared by the three gates */
        RNNC_TRY(rnnc_mul(cx, x, c->in_masks[0], &xi));
    RNNC_TRY(rnnc_matmul(cx, xi, c->kernel, false, false, &mx)); /* (B, 3U) */
    RNNC_TRY(add_opt(cx, mx, c->reset_after ? c->b_in : c->bias, &mx));
    RNNC_TRY(rnnc_slice(cx, mx, 1, 0, U, &xz));
    RNNC_TRY(rnnc_slice(cx, mx, 1, U, U, &xr));
    RNNC_TRY(rnnc_slice(cx, mx, 1, 2 * U, U, &xh));
    if (c->reset_after) {
        /* h~ = act(xh + r * (h @ R_h + br_h)) */
        RNNC_TRY(rnnc_matmul(cx, h, c->recurrent_kernel, false, false, &mi)); /* (B, 3U) */
        RNNC_TRY(add_opt(cx, mi, c->b_rec, &mi));
        RNNC_TRY(rnnc_slice(cx, mi, 1, 0, U, &rz));
        RNNC_TRY(rnnc_slice(cx, mi, 1, U, U, &rr));
        RNNC_TRY(rnnc_slice(cx, mi, 1, 2 * U, U, &rh));
        RNNC_TRY(rnnc_add(cx, xz, rz, &t));
        RNNC_TRY(rnnc_activation(cx, c->recurrent_activation, t, z));
        RNNC_TRY(rnnc_add(cx, xr, rr, &t));
        RNNC_TRY(rnnc_activation(cx, c->recurrent_activation, t, r));
        RNNC_TRY(rnnc_mul(cx, *r, rh, &rh));
    } else {
        /* h~ = act(xh + (r * h) @ R_h) */
        RNNC_TRY(rnnc_matmul(cx, h, c->r_zr, false, false, &mi)); /* (B, 2U) */
        RNNC_TRY(rnnc_slice(cx, mi, 1, 0, U, &rz));
        RNNC_TRY(rnnc_slice(cx, mi, 1, U, U, &rr));
        RNNC_TRY(rnnc_add(cx, xz, rz, &t));
        RNNC_TRY(rnnc_activation(cx, c->recurrent_activation, t, z));
        RNNC_TRY(rnnc_add(cx, xr, rr, &t));
        RNNC_TRY(rnnc_activation(cx, c->recurrent_activation, t, r));
        RNNC_TRY(rnnc_mul(cx, *r, h, &t));
        RNNC_TRY(rnnc_matmul(cx, t, c->r_gate[2], false, false, &rh));
    }
    RNNC_TRY(rnnc_add(cx, xh, rh, &t));
    return rnnc_activation(cx, c->activation, t, hh);
}

/* Implementation 1: six per-gate products, per-gate dropout masks (1.5). */
static rnnc_status step_impl1(rnnc_gru_cell *c, rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor *h,
                              rnnc_tensor **z, rnnc_tensor **r, rnnc_tensor **hh)
{
    rnnc_tensor *xg[3], *hg[3], *t, *u;
    for (int g = 0; g < 3; g++) {
        rnnc_tensor *xi = x, *hi = h;
        if (c->in_dropout_on)
            RNNC_TRY(rnnc_mul(cx, x, c->in_masks[g], &xi));
        if (c->rec_dropout_on)
            RNNC_TRY(rnnc_mul(cx, h, c->rec_masks[g], &hi));
        RNNC_TRY(rnnc_matmul(cx, xi, c->w_gate[g], false, false, &xg[g]));
        RNNC_TRY(add_opt(cx, xg[g], c->b_in_gate[g], &xg[g]));
        hg[g] = hi; /* the (dropped) state seen by gate g */
    }
    rnnc_tensor *rg[2];
    for (int g = 0; g < 2; g++) {
        RNNC_TRY(rnnc_matmul(cx, hg[g], c->r_gate[g], false, false, &rg[g]));
        RNNC_TRY(add_opt(cx, rg[g], c->b_rec_gate[g], &rg[g]));
    }
    RNNC_TRY(rnnc_add(cx, xg[0], rg[0], &t));
    RNNC_TRY(rnnc_activation(cx, c->recurrent_activation, t, z));
    RNNC_TRY(rnnc_add(cx, xg[1], rg[1], &t));
    RNNC_TRY(rnnc_activation(cx, c->recurrent_activation, t, r));
    if (c->reset_after) {
        RNNC_TRY(rnnc_matmul(cx, hg[2], c->r_gate[2], false, false, &u));
        RNNC_TRY(add_opt(cx, u, c->b_rec_gate[2], &u));
        RNNC_TRY(rnnc_mul(cx, *r, u, &u));
    } else {
        RNNC_TRY(rnnc_mul(cx, *r, hg[2], &t));
        RNNC_TRY(rnnc_matmul(cx, t, c->r_gate[2], false, false, &u));
    }
    RNNC_TRY(rnnc_add(cx, xg[2], u, &t));
    return rnnc_activation(cx, c->activation, t, hh);
}

static rnnc_status cell_step(rnnc_layer *l, rnnc_ctx *cx, rnnc_tensor *x,
                             rnnc_tensor *const *states, bool training, rnnc_tensor **output,
                             rnnc_tensor **new_states)
{
    rnnc_gru_cell *c = (rnnc_gru_cell *)l;
    rnnc_tensor *h = states[0], *z, *r, *hh, *a, *b, *omz;
    (void)training; /* the masks of begin_call already encode it */
    if (!c->kernel)
        return rnnc_fail(RNNC_E_STATE, "GRUCell '%s': step before build", l->name);
    RNNC_TRY(prepare(c, cx));
    if (c->implementation == 1)
        RNNC_TRY(step_impl1(c, cx, x, h, &z, &r, &hh));
    else
        RNNC_TRY(step_impl2(c, cx, x, h, &z, &r, &hh));
    /* h' = z * h + (1 - z) * h~  (z keeps the old state) */
    RNNC_TRY(rnnc_mul(cx, z, h, &a));
    RNNC_TRY(rnnc_affine(cx, z, -1.0, 1.0, &omz));
    RNNC_TRY(rnnc_mul(cx, omz, hh, &b));
    RNNC_TRY(rnnc_add(cx, a, b, &a));
    *output = a;
    new_states[0] = a;
    return RNNC_OK;
}

static int cell_n_states(const rnnc_layer *l)
{
    (void)l;
    return 1;
}

static int64_t cell_units(const rnnc_layer *l) { return ((const rnnc_gru_cell *)l)->units; }

static int64_t cell_state_size(const rnnc_layer *l, int i)
{
    (void)i;
    return cell_units(l);
}

static const rnnc_rnn_cell_ops gru_cell_ops = {
    .n_states = cell_n_states,
    .state_size = cell_state_size,
    .output_size = cell_units,
    .begin_call = cell_begin_call,
    .step = cell_step,
    .end_call = cell_end_call,
};

/* ---- standalone call (Keras GRUCell.__call__) ----------------------------- */

rnnc_status rnnc_gru_cell_call(rnnc_layer *cell, rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor *h,
                               bool training, rnnc_tensor **h_new)
{
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = h ? 2 : 1;
    a.inputs[0] = x;
    a.inputs[1] = h;
    a.training = training;
    *h_new = NULL;
    RNNC_TRY(rnnc_layer_call(cell, cx, &a, &r));
    *h_new = r.outputs[0];
    return RNNC_OK;
}

static rnnc_status cell_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                             rnnc_call_result *res)
{
    rnnc_gru_cell *c = (rnnc_gru_cell *)l;
    char a1[160], a2[160];
    rnnc_tensor *x = args->inputs[0], *h, *out, *ns[1];
    if (x->shape.ndim != 2 || x->shape.dim[1] != c->kernel->shape.dim[0])
        return rnnc_fail(RNNC_E_SHAPE, "GRUCell '%s': expected inputs of shape (batch, %lld), got %s",
                         l->name, (long long)c->kernel->shape.dim[0],
                         rnnc_shape_str(&x->shape, a1, sizeof a1));
    if (x->dtype != l->dtype)
        return rnnc_fail(RNNC_E_DTYPE, "GRUCell '%s': inputs are %s, the cell computes in %s",
                         l->name, rnnc_dtype_name(x->dtype), rnnc_dtype_name(l->dtype));
    const int64_t B = x->shape.dim[0];
    rnnc_shape hs = RNNC_SHAPE(B, c->units);
    if (args->n_inputs > 2)
        return rnnc_fail(RNNC_E_ARG, "GRUCell '%s': takes inputs and one state, got %d tensors",
                         l->name, args->n_inputs);
    if (args->n_inputs == 2) {
        h = args->inputs[1];
        if (!rnnc_shape_eq(&h->shape, &hs) || h->dtype != l->dtype)
            return rnnc_fail(RNNC_E_SHAPE, "GRUCell '%s': state must be %s of shape %s, got %s of shape %s",
                             l->name, rnnc_dtype_name(l->dtype), rnnc_shape_str(&hs, a1, sizeof a1),
                             rnnc_dtype_name(h->dtype), rnnc_shape_str(&h->shape, a2, sizeof a2));
    } else {
        RNNC_TRY(rnnc_ctx_tensor(cx, l->dtype, &hs, &h));
    }
    rnnc_status s = cell_begin_call(l, cx, B, args->training);
    if (!s)
        s = cell_step(l, cx, x, &h, args->training, &out, ns);
    cell_end_call(l);
    if (s)
        return s;
    res->n_outputs = 2;
    res->outputs[0] = out;
    res->outputs[1] = ns[0];
    return RNNC_OK;
}

static rnnc_status cell_output_spec(const rnnc_layer *l, const rnnc_shape *in,
                                    rnnc_output_spec *spec)
{
    const int64_t B = in->ndim >= 1 ? in->dim[0] : -1;
    spec->n_outputs = 2;
    spec->shapes[0] = spec->shapes[1] = RNNC_SHAPE(B, cell_units(l));
    spec->dtype = l->dtype;
    return RNNC_OK;
}

static rnnc_status set_obj(rnnc_cfg *c, const char *key, rnnc_status (*get)(const void *, rnnc_cfg **),
                           const void *obj)
{
    if (!obj)
        return rnnc_cfg_set_null(c, key);
    rnnc_cfg *v;
    RNNC_TRY(get(obj, &v));
    return rnnc_cfg_set(c, key, v);
}

static rnnc_status get_init(const void *o, rnnc_cfg **out)
{
    return rnnc_initializer_get_config(o, out);
}
static rnnc_status get_reg(const void *o, rnnc_cfg **out)
{
    return rnnc_regularizer_get_config(o, out);
}
static rnnc_status get_cons(const void *o, rnnc_cfg **out)
{
    return rnnc_constraint_get_config(o, out);
}

rnnc_status rnnc__gru_cell_config_keys(const rnnc_gru_cell *c, rnnc_cfg *cfg,
                                       const rnnc_layer *activity)
{
    RNNC_TRY(rnnc_cfg_set_int(cfg, "units", c->units));
    RNNC_TRY(rnnc_cfg_set_string(cfg, "activation", rnnc_act_name(c->activation)));
    RNNC_TRY(rnnc_cfg_set_string(cfg, "recurrent_activation",
                                 rnnc_act_name(c->recurrent_activation)));
    RNNC_TRY(rnnc_cfg_set_bool(cfg, "use_bias", c->use_bias));
    RNNC_TRY(set_obj(cfg, "kernel_initializer", get_init, c->kernel_initializer));
    RNNC_TRY(set_obj(cfg, "recurrent_initializer", get_init, c->recurrent_initializer));
    RNNC_TRY(set_obj(cfg, "bias_initializer", get_init, c->bias_initializer));
    RNNC_TRY(set_obj(cfg, "kernel_regularizer", get_reg, c->kernel_regularizer));
    RNNC_TRY(set_obj(cfg, "recurrent_regularizer", get_reg, c->recurrent_regularizer));
    RNNC_TRY(set_obj(cfg, "bias_regularizer", get_reg, c->bias_regularizer));
    if (activity) /* replaces in place when the base config already placed it */
        RNNC_TRY(set_obj(cfg, "activity_regularizer", get_reg, activity->activity_regularizer));
    RNNC_TRY(set_obj(cfg, "kernel_constraint", get_cons, c->kernel_constraint));
    RNNC_TRY(set_obj(cfg, "recurrent_constraint", get_cons, c->recurrent_constraint));
    RNNC_TRY(set_obj(cfg, "bias_constraint", get_cons, c->bias_constraint));
    RNNC_TRY(rnnc_cfg_set_float(cfg, "dropout", c->dropout));
    RNNC_TRY(rnnc_cfg_set_float(cfg, "recurrent_dropout", c->recurrent_dropout));
    RNNC_TRY(rnnc_cfg_set_bool(cfg, "reset_after", c->reset_after));
    if (c->has_seed)
        return rnnc_cfg_set_int(cfg, "seed", c->seed);
    return rnnc_cfg_set_null(cfg, "seed");
}

static rnnc_status cell_get_config(const rnnc_layer *l, rnnc_cfg *cfg)
{
    return rnnc__gru_cell_config_keys((const rnnc_gru_cell *)l, cfg, NULL);
}

static const rnnc_layer_class gru_cell_class = {
    .class_name = "GRUCell",
    .module = "keras.layers",
    .build = cell_build,
    .call = cell_call,
    .compute_output_spec = cell_output_spec,
    .get_config = cell_get_config,
    .destroy = cell_destroy,
    .supports_masking = false,
};

bool rnnc_layer_is_gru_cell(const rnnc_layer *l) { return l && l->cls == &gru_cell_class; }

rnnc_gru_cell *rnnc_gru_cell_of(rnnc_layer *l)
{
    return rnnc_layer_is_gru_cell(l) ? (rnnc_gru_cell *)l : NULL;
}

/* ---- construction -------------------------------------------------------- */

void rnnc__gru_cell_parsed_clear(rnnc_gru_cell_parsed *p)
{
    for (int i = 0; i < 3; i++) {
        rnnc_initializer_destroy(p->init[i]);
        rnnc_regularizer_destroy(p->reg[i]);
        rnnc_constraint_destroy(p->cons[i]);
    }
    memset(p, 0, sizeof *p);
}

static const char *const default_init[3] = {"glorot_uniform", "orthogonal", "zeros"};
static const char *const arg_names[3] = {"kernel", "recurrent", "bias"};

/* Fills p from the borrowed objects of o (clones), defaults where NULL. */
static rnnc_status parsed_from_options(const rnnc_gru_options *o, const char *what,
                                       rnnc_gru_cell_parsed *p)
{
    const rnnc_initializer *in[3] = {o->kernel_initializer, o->recurrent_initializer,
                                     o->bias_initializer};
    const rnnc_regularizer *rg[3] = {o->kernel_regularizer, o->recurrent_regularizer,
                                     o->bias_regularizer};
    const rnnc_constraint *cs[3] = {o->kernel_constraint, o->recurrent_constraint,
                                    o->bias_constraint};
    char argname[96];
    memset(p, 0, sizeof *p);
    for (int i = 0; i < 3; i++) {
        snprintf(argname, sizeof argname, "%s.%s_initializer", what, arg_names[i]);
        p->init_given[i] = true;
        if (in[i])
            RNNC_TRY(rnnc_initializer_clone(in[i], &p->init[i]));
        else
            RNNC_TRY(rnnc_initializer_from_name(default_init[i], argname, &p->init[i]));
        RNNC_TRY(clone_reg(rg[i], &p->reg[i]));
        RNNC_TRY(clone_cons(cs[i], &p->cons[i]));
    }
    return RNNC_OK;
}

rnnc_status rnnc__gru_cell_create_parsed(const rnnc_gru_options *o, rnnc_gru_cell_parsed *p,
                                         const char *name, const char *what, rnnc_layer **out)
{
    rnnc_status s;
    *out = NULL;
    if (o->units < 1 || o->units > RNNC_CFG_MAX_UNITS) {
        s = rnnc_fail(RNNC_E_ARG, "%s: 'units' must be a positive integer of at most %lld, got %lld", what,
                      (long long)RNNC_CFG_MAX_UNITS, (long long)o->units);
        goto fail;
    }
    if ((int)o->activation < 0 || o->activation >= RNNC_ACT_COUNT ||
        (int)o->recurrent_activation < 0 || o->recurrent_activation >= RNNC_ACT_COUNT) {
        s = rnnc_fail(RNNC_E_ARG, "%s: 'activation' / 'recurrent_activation' is not a valid rnnc_act value (%d, %d)",
                      what, (int)o->activation, (int)o->recurrent_activation);
        goto fail;
    }
    if (o->implementation != 1 && o->implementation != 2) {
        s = rnnc_fail(RNNC_E_ARG, "%s: 'implementation' must be 1 or 2, got %d", what,
                      o->implementation);
        goto fail;
    }
    rnnc_gru_cell *c = calloc(1, sizeof *c);
    if (!c) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto fail;
    }
    s = rnnc_layer_init(&c->base.base, &gru_cell_class, name, o->dtype);
    if (s) {
        free(c->base.base.name);
        free(c);
        goto fail;
    }
    c->base.ops = &gru_cell_ops;
    c->base.base.trainable = o->trainable;
    c->units = o->units;
    c->activation = o->activation;
    c->recurrent_activation = o->recurrent_activation;
    c->use_bias = o->use_bias;
    c->reset_after = o->reset_after;
    c->dropout = clamp_rate(o->dropout);
    c->recurrent_dropout = clamp_rate(o->recurrent_dropout);
    c->implementation = c->recurrent_dropout != 0.0 ? 1 : o->implementation;
    c->has_seed = o->has_seed;
    c->seed = o->seed;
    /* Keras: seed None draws a random seed at construction. */
    rnnc_rng_init(&c->rng, o->has_seed ? (uint64_t)o->seed : rnnc_next_seed());
    c->kernel_initializer = p->init[0];
    c->recurrent_initializer = p->init[1];
    c->bias_initializer = p->init[2];
    c->kernel_regularizer = p->reg[0];
    c->recurrent_regularizer = p->reg[1];
    c->bias_regularizer = p->reg[2];
    c->kernel_constraint = p->cons[0];
    c->recurrent_constraint = p->cons[1];
    c->bias_constraint = p->cons[2];
    memset(p, 0, sizeof *p);
    *out = &c->base.base;
    return RNNC_OK;
fail:
    rnnc__gru_cell_parsed_clear(p);
    return s;
}

rnnc_status rnnc_gru_cell_create(const rnnc_gru_options *o, rnnc_layer **out)
{
    rnnc_gru_cell_parsed p;
    *out = NULL;
    if (!o)
        return rnnc_fail(RNNC_E_ARG, "GRUCell: options are NULL (start from rnnc_gru_options_default())");
    rnnc_status s = parsed_from_options(o, "GRUCell", &p);
    if (s) {
        rnnc__gru_cell_parsed_clear(&p);
        return s;
    }
    return rnnc__gru_cell_create_parsed(o, &p, o->name, "GRUCell", out);
}

/* An activation: a name string, null (linear), or Keras's function dict
 * {"class_name": "function", "config": "<name>", ...}. */
static rnnc_status read_activation(const rnnc_cfg *cfg, const char *what, const char *key,
                                   rnnc_act dflt, rnnc_act *out)
{
    char argname[96], w[300];
    const rnnc_cfg *v = rnnc_cfg_get(cfg, key);
    snprintf(argname, sizeof argname, "%s.%s", what, key);
    *out = dflt;
    if (!v)
        return RNNC_OK;
    if (v->type == RNNC_CFG_NULL)
        return rnnc_act_from_name(NULL, argname, out);
    if (v->type == RNNC_CFG_STRING)
        return rnnc_act_from_name(v->v.s, argname, out);
    if (v->type == RNNC_CFG_MAP) {
        const rnnc_cfg *cn = rnnc_cfg_get(v, "class_name"), *inner = rnnc_cfg_get(v, "config");
        rnnc_cfg_get(v, "module");
        rnnc_cfg_get(v, "registered_name");
        if (cn && cn->type == RNNC_CFG_STRING && strcmp(cn->v.s, "function") == 0 && inner &&
            inner->type == RNNC_CFG_STRING)
            return rnnc_act_from_name(inner->v.s, argname, out);
    }
    return rnnc_fail(RNNC_E_ARG, "%s: could not interpret activation %s: expected a name such as \"tanh\", null, or {\"class_name\": \"function\", \"config\": \"<name>\"}%s",
                     argname, rnnc_cfg_type_name(v->type), rnnc_cfg_where(v, w, sizeof w));
}

rnnc_status rnnc__gru_cell_read_config(const rnnc_cfg *cfg, const char *what,
                                       rnnc_gru_options *o, rnnc_gru_cell_parsed *p)
{
    char argname[96], w[300];
    memset(p, 0, sizeof *p);
    if (!cfg || cfg->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: the config must be a map of arguments", what);
    /* Checks in Keras's order: units, activations, initializers,
     * regularizers, constraints, seed. */
    RNNC_TRY(rnnc_cfg_require_int_range(cfg, what, "units", 1, RNNC_CFG_MAX_UNITS, NULL, &o->units));
    RNNC_TRY(read_activation(cfg, what, "activation", RNNC_ACT_TANH, &o->activation));
    RNNC_TRY(read_activation(cfg, what, "recurrent_activation", RNNC_ACT_SIGMOID,
                             &o->recurrent_activation));
    RNNC_TRY(rnnc_cfg_read_bool(cfg, what, "use_bias", true, &o->use_bias));
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s_initializer", arg_names[i]);
        snprintf(argname, sizeof argname, "%s.%s", what, key);
        const rnnc_cfg *v = rnnc_cfg_get(cfg, key);
        p->init_given[i] = v != NULL;
        if (!v)
            RNNC_TRY(rnnc_initializer_from_name(default_init[i], argname, &p->init[i]));
        else if (v->type != RNNC_CFG_NULL) /* null: Keras None, add_weight's glorot_uniform */
            RNNC_TRY(rnnc_initializer_from_config(v, argname, &p->init[i]));
    }
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s_regularizer", arg_names[i]);
        snprintf(argname, sizeof argname, "%s.%s", what, key);
        const rnnc_cfg *v = rnnc_cfg_get(cfg, key);
        if (v)
            RNNC_TRY(rnnc_regularizer_from_config(v, argname, &p->reg[i]));
    }
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s_constraint", arg_names[i]);
        snprintf(argname, sizeof argname, "%s.%s", what, key);
        const rnnc_cfg *v = rnnc_cfg_get(cfg, key);
        if (v)
            RNNC_TRY(rnnc_constraint_from_config(v, argname, &p->cons[i]));
    }
    double d;
    RNNC_TRY(rnnc_cfg_read_float(cfg, what, "dropout", 0.0, &d));
    o->dropout = clamp_rate(d);
    RNNC_TRY(rnnc_cfg_read_float(cfg, what, "recurrent_dropout", 0.0, &d));
    o->recurrent_dropout = clamp_rate(d);
    RNNC_TRY(rnnc_cfg_read_bool(cfg, what, "reset_after", true, &o->reset_after));
    const rnnc_cfg *sd = rnnc_cfg_get(cfg, "seed");
    o->has_seed = false;
    if (sd && sd->type == RNNC_CFG_INT) {
        o->has_seed = true;
        o->seed = sd->v.i;
    } else if (sd && sd->type != RNNC_CFG_NULL) {
        return rnnc_fail(RNNC_E_ARG, "%s: 'seed' must be an integer or null, got %s%s", what,
                         rnnc_cfg_type_name(sd->type), rnnc_cfg_where(sd, w, sizeof w));
    }
    int64_t impl;
    RNNC_TRY(rnnc_cfg_read_int(cfg, what, "implementation", 2, &impl));
    if (impl != 1 && impl != 2)
        return rnnc_fail(RNNC_E_ARG, "%s: 'implementation' must be 1 or 2, got %lld", what,
                         (long long)impl);
    o->implementation = (int)impl;
    return RNNC_OK;
}

static const char *const cell_keys[] = {
    "name", "trainable", "dtype", "units", "activation", "recurrent_activation", "use_bias",
    "kernel_initializer", "recurrent_initializer", "bias_initializer", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
    "bias_constraint", "dropout", "recurrent_dropout", "reset_after", "seed", "implementation",
    NULL};

rnnc_status rnnc_gru_cell_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    rnnc_gru_cell_parsed p;
    rnnc_layer *l = NULL;
    *out = NULL;
    rnnc_status s = rnnc__gru_cell_read_config(config, "GRUCell", &o, &p);
    if (s) {
        rnnc__gru_cell_parsed_clear(&p);
        return s;
    }
    /* Base keys first need a layer to read into; the dtype they carry is
     * applied before any weight exists (weights are made at build). */
    if ((s = rnnc__gru_cell_create_parsed(&o, &p, "gru_cell", "GRUCell", &l)))
        return s;
    const rnnc_cfg *ar = rnnc_cfg_peek(config, "activity_regularizer");
    if (ar && ar->type != RNNC_CFG_NULL) {
        rnnc_layer_destroy(l);
        return rnnc_fail(RNNC_E_UNSUPPORTED, "GRUCell: an activity_regularizer on a cell is not supported (put it on the RNN layer)");
    }
    if (ar)
        rnnc_cfg_get(config, "activity_regularizer");
    if ((s = rnnc_layer_read_base_config(l, config, false)) ||
        (s = rnnc_cfg_check_unread(config, "GRUCell", cell_keys))) {
        rnnc_layer_destroy(l);
        return s;
    }
    *out = l;
    return RNNC_OK;
}
