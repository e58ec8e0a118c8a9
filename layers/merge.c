/* merge.c - the merge layers (Add, Subtract, Multiply, Average, Maximum,
 * Minimum, Concatenate): shape checks, forward with Keras's mask rules,
 * configs. Backward comes from the ops used (add, where, maximum, concat),
 * so nothing is differentiated by hand here. */
#include "layers/merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "layers/registry.h"

static const char *op_class_name(rnnc_merge_op op);

/* ---- shapes ------------------------------------------------------------ */

/* Keras's _compute_elemwise_op_output_shape on shapes without the batch
 * axis (-1 = None): right-aligned, 1 broadcasts, None wins. */
static rnnc_status elemwise_shape(const char *what, const rnnc_shape *a, const rnnc_shape *b,
                                  rnnc_shape *out)
{
    char sa[160], sb[160];
    if (a->ndim < b->ndim)
        return elemwise_shape(what, b, a, out);
    *out = *a;
    int off = a->ndim - b->ndim;
    for (int k = 0; k < b->ndim; k++) {
        int64_t i = a->dim[off + k], j = b->dim[k];
        if (i < 0 || j < 0)
            out->dim[off + k] = -1;
        else if (i == 1)
            out->dim[off + k] = j;
        else if (j == 1 || i == j)
            out->dim[off + k] = i;
        else
            return rnnc_fail(RNNC_E_SHAPE, "%s: inputs have incompatible shapes %s and %s (after the batch axis)",
                             what, rnnc_shape_str(a, sa, sizeof sa), rnnc_shape_str(b, sb, sizeof sb));
    }
    return RNNC_OK;
}

static rnnc_shape drop_batch(const rnnc_shape *s)
{
    rnnc_shape r = {0};
    r.ndim = s->ndim > 0 ? s->ndim - 1 : 0;
    for (int i = 0; i < r.ndim; i++)
        r.dim[i] = s->dim[i + 1];
    return r;
}

/* The common batch size of the shapes (-1 when unknown), or an error when
 * two known ones differ. */
static rnnc_status common_batch(const char *what, const rnnc_shape *shapes, int n, int64_t *batch)
{
    char s0[160], s1[160];
    int first = -1;
    *batch = -1;
    for (int i = 0; i < n; i++) {
        if (shapes[i].ndim < 1)
            return rnnc_fail(RNNC_E_SHAPE, "%s: input %d is a scalar; merge layers need a batch axis", what, i);
        int64_t b = shapes[i].dim[0];
        if (b < 0)
            continue;
        if (*batch >= 0 && b != *batch)
            return rnnc_fail(RNNC_E_SHAPE, "%s: cannot merge tensors with different batch sizes: %s and %s", what,
                             rnnc_shape_str(&shapes[first], s0, sizeof s0),
                             rnnc_shape_str(&shapes[i], s1, sizeof s1));
        *batch = b;
        first = i;
    }
    return RNNC_OK;
}

static rnnc_status check_count(const rnnc_merge *m, int n)
{
    const char *what = op_class_name(m->op);
    if (n < 1 || n > RNNC_MAX_IO)
        return rnnc_fail(RNNC_E_ARG, "%s '%s': a merge layer must be called on a list of 1 to %d inputs, got %d",
                         what, m->base.name, RNNC_MAX_IO, n);
    if (m->op == RNNC_MERGE_OP_SUBTRACT && n != 2)
        return rnnc_fail(RNNC_E_ARG, "Subtract '%s': must be called on exactly 2 inputs, got %d", m->base.name, n);
    return RNNC_OK;
}

static rnnc_status concat_shape(const rnnc_merge *m, const rnnc_shape *shapes, int n, rnnc_shape *out)
{
    char s0[160], si[160];
    int ax;
    if (rnnc_shape_axis(&shapes[0], m->axis, &ax) != RNNC_OK)
        return rnnc_fail(RNNC_E_ARG, "Concatenate '%s': axis %d is out of range for inputs of shape %s",
                         m->base.name, m->axis, rnnc_shape_str(&shapes[0], s0, sizeof s0));
    *out = shapes[0];
    for (int i = 1; i < n; i++) {
        const rnnc_shape *s = &shapes[i];
        bool ok = s->ndim == shapes[0].ndim;
        for (int d = 0; ok && d < s->ndim; d++)
            if (d != ax && s->dim[d] >= 0 && out->dim[d] >= 0 && s->dim[d] != out->dim[d])
                ok = false;
            else if (d != ax && out->dim[d] < 0)
                out->dim[d] = s->dim[d];
        if (!ok)
            return rnnc_fail(RNNC_E_SHAPE,
                             "Concatenate '%s': inputs must match on every axis but the concatenation axis %d; got %s and %s",
                             m->base.name, m->axis, rnnc_shape_str(&shapes[0], s0, sizeof s0),
                             rnnc_shape_str(s, si, sizeof si));
        out->dim[ax] = out->dim[ax] < 0 || s->dim[ax] < 0 ? -1 : out->dim[ax] + s->dim[ax];
    }
    return RNNC_OK;
}

static rnnc_status merge_output_spec_n(const rnnc_layer *l, const rnnc_shape *shapes, const rnnc_dtype *dtypes,
                                       int n, rnnc_output_spec *spec)
{
    (void)dtypes; /* the output has the layer's dtype */
    const rnnc_merge *m = (const rnnc_merge *)l;
    const char *what = op_class_name(m->op);
    char full[160];
    snprintf(full, sizeof full, "%s '%s'", what, l->name);
    RNNC_TRY(check_count(m, n));
    int64_t batch;
    RNNC_TRY(common_batch(full, shapes, n, &batch));
    memset(spec, 0, sizeof *spec);
    spec->n_outputs = 1;
    spec->dtype = l->dtype;
    if (m->op == RNNC_MERGE_OP_CONCATENATE)
        return concat_shape(m, shapes, n, &spec->shapes[0]);
    rnnc_shape acc = drop_batch(&shapes[0]);
    for (int i = 1; i < n; i++) {
        rnnc_shape s = drop_batch(&shapes[i]), r;
        RNNC_TRY(elemwise_shape(full, &acc, &s, &r));
        acc = r;
    }
    spec->shapes[0].ndim = acc.ndim + 1;
    spec->shapes[0].dim[0] = batch;
    for (int i = 0; i < acc.ndim; i++)
        spec->shapes[0].dim[i + 1] = acc.dim[i];
    return RNNC_OK;
}

/* Nothing to create: Keras's Merge.build only checks the shapes, which
 * compute_output_spec_n does here. Having a build gives the layer a
 * build_config, as in Keras. */
static rnnc_status merge_build(rnnc_layer *l, const rnnc_shape *input_shape)
{
    (void)l;
    (void)input_shape;
    return RNNC_OK;
}

/* A single input: the layer is the identity on it. */
static rnnc_status merge_output_spec(const rnnc_layer *l, const rnnc_shape *in, rnnc_output_spec *spec)
{
    return merge_output_spec_n(l, in, NULL, 1, spec);
}

/* ---- masks ------------------------------------------------------------- */

/* A mask must be uint8 with x's shape minus the last axis. */
static rnnc_status check_mask(const rnnc_merge *m, int i, const rnnc_tensor *x, const rnnc_tensor *mask)
{
    char sx[160], sm[160];
    bool ok = mask->dtype == RNNC_U8 && mask->shape.ndim == x->shape.ndim - 1;
    for (int d = 0; ok && d < mask->shape.ndim; d++)
        ok = mask->shape.dim[d] == x->shape.dim[d];
    if (!ok)
        return rnnc_fail(RNNC_E_SHAPE, "%s '%s': the mask of input %d must be uint8 of the input's shape without its last axis; input %s, mask %s %s",
                         op_class_name(m->op), m->base.name, i, rnnc_shape_str(&x->shape, sx, sizeof sx),
                         rnnc_dtype_name(mask->dtype), rnnc_shape_str(&mask->shape, sm, sizeof sm));
    return RNNC_OK;
}

/* The mask with a trailing axis of 1, so that `where` broadcasts it over
 * the features (Keras: broadcast_to(expand_dims(mask, -1), shape(x))). */
static rnnc_status expand_mask(rnnc_ctx *cx, const rnnc_tensor *mask, rnnc_tensor **out)
{
    rnnc_shape s = mask->shape;
    s.dim[s.ndim++] = 1;
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &s, out));
    memcpy((*out)->data, mask->data, mask->numel);
    return RNNC_OK;
}

/* OR of n masks of one shape into a new ctx tensor. */
static rnnc_status or_masks(const rnnc_merge *m, rnnc_ctx *cx, const rnnc_tensor *const *masks, int n,
                            rnnc_tensor **out)
{
    char s0[160], si[160];
    for (int i = 1; i < n; i++)
        if (!rnnc_shape_eq(&masks[i]->shape, &masks[0]->shape))
            return rnnc_fail(RNNC_E_UNSUPPORTED, "%s '%s': combining masks of different shapes %s and %s is not supported",
                             op_class_name(m->op), m->base.name,
                             rnnc_shape_str(&masks[0]->shape, s0, sizeof s0),
                             rnnc_shape_str(&masks[i]->shape, si, sizeof si));
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &masks[0]->shape, out));
    uint8_t *o = (*out)->data;
    for (int i = 0; i < n; i++) {
        const uint8_t *mi = masks[i]->data;
        for (size_t k = 0; k < masks[0]->numel; k++)
            o[k] = (uint8_t)(o[k] || mi[k]);
    }
    return RNNC_OK;
}

/* Concatenate's compute_mask: masks (all kept for inputs without one)
 * joined along the axis, then OR over the last axis of the data. */
static rnnc_status concat_mask(rnnc_ctx *cx, rnnc_tensor *const *xs,
                               const rnnc_tensor *const *masks, int n, int ax,
                               const rnnc_shape *yshape, rnnc_tensor **out)
{
    bool any = false;
    for (int i = 0; i < n; i++)
        any = any || masks[i];
    *out = NULL;
    if (!any)
        return RNNC_OK;
    const int nd = yshape->ndim;
    rnnc_shape ms = *yshape;
    ms.ndim = nd - 1;
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &ms, out));
    uint8_t *o = (*out)->data;
    if (ax == nd - 1) {
        /* Joined on the feature axis: a step is kept when any input keeps it. */
        for (int i = 0; i < n; i++) {
            const uint8_t *mi = masks[i] ? masks[i]->data : NULL;
            for (size_t k = 0; k < (*out)->numel; k++)
                o[k] = (uint8_t)(o[k] || !mi || mi[k]);
        }
        return RNNC_OK;
    }
    /* Joined on an axis of the mask: copy block by block. outer = product of
     * dims before the axis, inner = product of the mask dims after it. */
    size_t outer = 1, inner = 1;
    for (int d = 0; d < ax; d++)
        outer *= (size_t)ms.dim[d];
    for (int d = ax + 1; d < nd - 1; d++)
        inner *= (size_t)ms.dim[d];
    size_t row = (size_t)ms.dim[ax] * inner, at = 0;
    for (int i = 0; i < n; i++) {
        size_t len = (size_t)xs[i]->shape.dim[ax] * inner;
        const uint8_t *mi = masks[i] ? masks[i]->data : NULL;
        for (size_t r = 0; r < outer; r++)
            for (size_t k = 0; k < len; k++)
                o[r * row + at + k] = (uint8_t)(!mi || mi[r * len + k]);
        at += len;
    }
    return RNNC_OK;
}

/* ---- forward ----------------------------------------------------------- */

/* A rank-0-like constant of the layer dtype (shape (1,), broadcasts). */
static rnnc_status constant(rnnc_ctx *cx, rnnc_dtype dtype, double v, rnnc_tensor **out)
{
    rnnc_shape s = RNNC_SHAPE(1);
    RNNC_TRY(rnnc_ctx_tensor(cx, dtype, &s, out));
    rnnc_tensor_fill(*out, v);
    return RNNC_OK;
}

static rnnc_status apply_op(rnnc_merge_op op, rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y)
{
    switch (op) {
    case RNNC_MERGE_OP_SUBTRACT:
        return rnnc_sub(cx, a, b, y);
    case RNNC_MERGE_OP_MULTIPLY:
        return rnnc_mul(cx, a, b, y);
    case RNNC_MERGE_OP_MAXIMUM:
        return rnnc_maximum(cx, a, b, y);
    case RNNC_MERGE_OP_MINIMUM: {
        /* min(a, b) = -max(-a, -b): ties still go to a, as TensorFlow's
         * Minimum gradient (x <= y). */
        rnnc_tensor *na, *nb, *mx;
        RNNC_TRY(rnnc_affine(cx, a, -1.0, 0.0, &na));
        RNNC_TRY(rnnc_affine(cx, b, -1.0, 0.0, &nb));
        RNNC_TRY(rnnc_maximum(cx, na, nb, &mx));
        return rnnc_affine(cx, mx, -1.0, 0.0, y);
    }
    default:
        return rnnc_add(cx, a, b, y);
    }
}

/* Keras's Merge._apply_merge_op_and_or_mask (Maximum, Minimum). */
static rnnc_status fold_with_masks(const rnnc_merge *m, rnnc_ctx *cx, rnnc_tensor *const *xs,
                                   rnnc_tensor *const *full, int n, rnnc_tensor **y)
{
    rnnc_tensor *out = xs[0];
    bool out_masked = full[0] != NULL;
    rnnc_tensor *out_mask = full[0];
    for (int i = 1; i < n; i++) {
        rnnc_tensor *x = xs[i];
        if (full[i])
            RNNC_TRY(rnnc_where(cx, full[i], x, out, &x));
        if (out_masked)
            RNNC_TRY(rnnc_where(cx, out_mask, out, x, &out));
        if (full[i] && out_masked) {
            const rnnc_tensor *pair[2] = {out_mask, full[i]};
            RNNC_TRY(or_masks(m, cx, pair, 2, &out_mask));
        } else {
            out_masked = false;
        }
        RNNC_TRY(apply_op(m->op, cx, out, x, &out));
    }
    *y = out;
    return RNNC_OK;
}

/* Keras's Multiply._merge_function. */
static rnnc_status multiply_with_masks(const rnnc_merge *m, rnnc_ctx *cx, rnnc_tensor *const *xs,
                                       rnnc_tensor *const *full, int n, bool all_masked, rnnc_tensor **y)
{
    rnnc_tensor *one, *out = NULL, *out_mask = NULL;
    RNNC_TRY(constant(cx, m->base.dtype, 1.0, &one));
    for (int i = 0; i < n; i++) {
        rnnc_tensor *x = xs[i];
        if (full[i]) {
            RNNC_TRY(rnnc_where(cx, full[i], x, one, &x));
            if (all_masked) {
                if (out_mask) {
                    const rnnc_tensor *pair[2] = {out_mask, full[i]};
                    RNNC_TRY(or_masks(m, cx, pair, 2, &out_mask));
                } else {
                    out_mask = full[i];
                }
            }
        }
        if (out)
            RNNC_TRY(rnnc_mul(cx, out, x, &out));
        else
            out = x;
    }
    if (all_masked) {
        rnnc_tensor *zero;
        RNNC_TRY(constant(cx, m->base.dtype, 0.0, &zero));
        RNNC_TRY(rnnc_where(cx, out_mask, out, zero, &out));
    }
    *y = out;
    return RNNC_OK;
}

static rnnc_status merge_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args, rnnc_call_result *res)
{
    rnnc_merge *m = (rnnc_merge *)l;
    const int n = args->n_inputs;
    rnnc_tensor *xs[RNNC_MAX_IO], *full[RNNC_MAX_IO] = {0};
    const rnnc_tensor *masks[RNNC_MAX_IO] = {0};
    rnnc_shape shapes[RNNC_MAX_IO];
    rnnc_output_spec spec;
    RNNC_TRY(check_count(m, n));
    bool any_mask = false, all_masked = true, same_rank = true;
    for (int i = 0; i < n; i++) {
        xs[i] = args->inputs[i];
        RNNC_TRY(rnnc_layer_check_input_dtype(l, xs[i]));
        shapes[i] = xs[i]->shape;
        masks[i] = args->input_masks[i];
        if (masks[i])
            RNNC_TRY(check_mask(m, i, xs[i], masks[i]));
        any_mask = any_mask || masks[i];
        all_masked = all_masked && masks[i];
        same_rank = same_rank && xs[i]->shape.ndim == xs[0]->shape.ndim;
    }
    RNNC_TRY(merge_output_spec_n(l, shapes, NULL, n, &spec));
    rnnc_tensor *y = NULL, *ymask = NULL;
    if (m->op == RNNC_MERGE_OP_CONCATENATE) {
        int ax;
        RNNC_TRY(rnnc_shape_axis(&xs[0]->shape, m->axis, &ax));
        RNNC_TRY(rnnc_concat(cx, xs, n, ax, &y));
        RNNC_TRY(concat_mask(cx, xs, masks, n, ax, &y->shape, &ymask));
        res->n_outputs = 1;
        res->outputs[0] = y;
        res->mask = ymask;
        return RNNC_OK;
    }
    if (!same_rank) {
        if (any_mask)
            return rnnc_fail(RNNC_E_UNSUPPORTED, "%s '%s': masked inputs of different ranks are not supported",
                             op_class_name(m->op), l->name);
        /* Keras inserts size-1 axes at axis 1 until every rank is the largest. */
        int maxr = 0;
        for (int i = 0; i < n; i++)
            maxr = xs[i]->shape.ndim > maxr ? xs[i]->shape.ndim : maxr;
        for (int i = 0; i < n; i++) {
            const rnnc_shape *s = &xs[i]->shape;
            if (s->ndim == maxr)
                continue;
            rnnc_shape r = {0};
            int add = maxr - s->ndim;
            r.ndim = maxr;
            r.dim[0] = s->dim[0];
            for (int k = 0; k < add; k++)
                r.dim[1 + k] = 1;
            for (int k = 1; k < s->ndim; k++)
                r.dim[add + k] = s->dim[k];
            RNNC_TRY(rnnc_reshape(cx, xs[i], &r, &xs[i]));
        }
    }
    for (int i = 0; i < n; i++)
        if (masks[i] && (m->op == RNNC_MERGE_OP_MULTIPLY || m->op == RNNC_MERGE_OP_MAXIMUM ||
                         m->op == RNNC_MERGE_OP_MINIMUM))
            RNNC_TRY(expand_mask(cx, masks[i], &full[i]));
    switch (m->op) {
    case RNNC_MERGE_OP_MULTIPLY:
        RNNC_TRY(multiply_with_masks(m, cx, xs, full, n, all_masked, &y));
        break;
    case RNNC_MERGE_OP_MAXIMUM:
    case RNNC_MERGE_OP_MINIMUM:
        RNNC_TRY(fold_with_masks(m, cx, xs, full, n, &y));
        break;
    default: /* Add, Subtract, Average: plain arithmetic, masks ignored */
        y = xs[0];
        for (int i = 1; i < n; i++)
            RNNC_TRY(apply_op(m->op, cx, y, xs[i], &y));
        if (m->op == RNNC_MERGE_OP_AVERAGE && n > 1)
            RNNC_TRY(rnnc_affine(cx, y, 1.0 / n, 0.0, &y));
        break;
    }
    /* Every rule above ends with the OR of the masks when all inputs have one. */
    if (all_masked)
        RNNC_TRY(or_masks(m, cx, masks, n, &ymask));
    res->n_outputs = 1;
    res->outputs[0] = y;
    res->mask = ymask;
    return RNNC_OK;
}

/* ---- config and classes ------------------------------------------------ */

static rnnc_status merge_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_merge *m = (const rnnc_merge *)l;
    if (m->op == RNNC_MERGE_OP_CONCATENATE)
        RNNC_TRY(rnnc_cfg_set_int(c, "axis", m->axis));
    return RNNC_OK;
}

#define MERGE_CLASS(var, name)                              \
    const rnnc_layer_class var = {                          \
        .class_name = name,                                 \
        .module = "keras.layers",                           \
        .build = merge_build,                               \
        .call = merge_call,                                 \
        .compute_output_spec = merge_output_spec,           \
        .get_config = merge_get_config,                     \
        .destroy = NULL,                                    \
        .supports_masking = false, /* the call sets the mask itself */ \
        .compute_output_spec_n = merge_output_spec_n,       \
    }

MERGE_CLASS(rnnc_add_class, "Add");
MERGE_CLASS(rnnc_subtract_class, "Subtract");
MERGE_CLASS(rnnc_multiply_class, "Multiply");
MERGE_CLASS(rnnc_average_class, "Average");
MERGE_CLASS(rnnc_maximum_class, "Maximum");
MERGE_CLASS(rnnc_minimum_class, "Minimum");
MERGE_CLASS(rnnc_concatenate_class, "Concatenate");

static const rnnc_layer_class *const classes[RNNC_MERGE_OP_COUNT] = {
    &rnnc_add_class,     &rnnc_subtract_class, &rnnc_multiply_class,   &rnnc_average_class,
    &rnnc_maximum_class, &rnnc_minimum_class,  &rnnc_concatenate_class,
};

static const char *op_class_name(rnnc_merge_op op)
{
    return (int)op >= 0 && op < RNNC_MERGE_OP_COUNT ? classes[op]->class_name : "Merge";
}

bool rnnc_layer_is_merge(const rnnc_layer *l)
{
    for (int i = 0; l && i < RNNC_MERGE_OP_COUNT; i++)
        if (l->cls == classes[i])
            return true;
    return false;
}

static rnnc_status merge_alloc(rnnc_merge_op op, const char *name, rnnc_dtype dtype, rnnc_merge **out)
{
    *out = NULL;
    if ((int)op < 0 || op >= RNNC_MERGE_OP_COUNT)
        return rnnc_fail(RNNC_E_ARG, "merge layer: unknown kind %d", (int)op);
    rnnc_merge *m = calloc(1, sizeof *m);
    if (!m)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory", classes[op]->class_name);
    *out = m;
    m->op = op;
    m->axis = -1;
    return rnnc_layer_init(&m->base, classes[op], name, dtype);
}

rnnc_status rnnc_merge_create(rnnc_merge_op op, const char *name, rnnc_dtype dtype, rnnc_layer **out)
{
    rnnc_merge *m;
    *out = NULL;
    rnnc_status s = merge_alloc(op, name, dtype, &m);
    if (s != RNNC_OK) {
        rnnc_layer_destroy(m ? &m->base : NULL);
        return s;
    }
    *out = &m->base;
    return RNNC_OK;
}

rnnc_status rnnc_concatenate_create(int axis, const char *name, rnnc_dtype dtype, rnnc_layer **out)
{
    RNNC_TRY(rnnc_merge_create(RNNC_MERGE_OP_CONCATENATE, name, dtype, out));
    ((rnnc_merge *)*out)->axis = axis;
    return RNNC_OK;
}

static rnnc_status merge_from_config(rnnc_merge_op op, const rnnc_cfg *c, rnnc_layer **out)
{
    static const char *const keys[] = {"name", "trainable", "dtype", "activity_regularizer", "axis",
                                       "input_shape", "batch_input_shape", "input_dim", "batch_size",
                                       NULL};
    const char *what = classes[op]->class_name;
    char w[300];
    rnnc_merge *m = NULL;
    rnnc_status s;
    *out = NULL;
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: config must be a map", what);
    int64_t axis = -1;
    if (op == RNNC_MERGE_OP_CONCATENATE) {
        const rnnc_cfg *a = rnnc_cfg_get(c, "axis");
        if (a && a->type != RNNC_CFG_INT)
            return rnnc_fail(RNNC_E_ARG, "Concatenate: 'axis' must be an integer, got %s%s",
                             rnnc_cfg_type_name(a->type), rnnc_cfg_where(a, w, sizeof w));
        if (a)
            axis = a->v.i;
        if (axis < -RNNC_MAX_DIMS || axis >= RNNC_MAX_DIMS)
            return rnnc_fail(RNNC_E_ARG, "Concatenate: 'axis' %lld is out of range (tensors have at most %d axes)%s",
                             (long long)axis, RNNC_MAX_DIMS, rnnc_cfg_where(a, w, sizeof w));
    }
    rnnc_shape in;
    bool has_in;
    if ((s = merge_alloc(op, rnnc_layer_config_name(c), RNNC_F32, &m)) != RNNC_OK ||
        (s = rnnc_layer_read_base_config(&m->base, c, true)) != RNNC_OK ||
        (s = rnnc_layer_config_input_shape(c, what, true, &in, &has_in)) != RNNC_OK)
        goto fail;
    m->axis = (int)axis;
    /* Only Concatenate has an axis: let the unread check report it on the others. */
    static const char *const keys_no_axis[] = {"name", "trainable", "dtype", "activity_regularizer",
                                               "input_shape", "batch_input_shape", "input_dim",
                                               "batch_size", NULL};
    if ((s = rnnc_cfg_check_unread(c, what, op == RNNC_MERGE_OP_CONCATENATE ? keys : keys_no_axis)) != RNNC_OK)
        goto fail;
    *out = &m->base;
    return RNNC_OK;
fail:
    rnnc_layer_destroy(m ? &m->base : NULL);
    return s;
}

rnnc_status rnnc_add_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    return merge_from_config(RNNC_MERGE_OP_ADD, c, out);
}
rnnc_status rnnc_subtract_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    return merge_from_config(RNNC_MERGE_OP_SUBTRACT, c, out);
}
rnnc_status rnnc_multiply_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    return merge_from_config(RNNC_MERGE_OP_MULTIPLY, c, out);
}
rnnc_status rnnc_average_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    return merge_from_config(RNNC_MERGE_OP_AVERAGE, c, out);
}
rnnc_status rnnc_maximum_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    return merge_from_config(RNNC_MERGE_OP_MAXIMUM, c, out);
}
rnnc_status rnnc_minimum_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    return merge_from_config(RNNC_MERGE_OP_MINIMUM, c, out);
}
rnnc_status rnnc_concatenate_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    return merge_from_config(RNNC_MERGE_OP_CONCATENATE, c, out);
}
