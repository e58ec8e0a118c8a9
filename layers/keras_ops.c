/* keras_ops.c - the Keras operations of Functional configs (NotEqual, Any,
 * LogicalOr, ExpandDims, ZerosLike, Concatenate, ...): configs, shape
 * inference and forward. Mask results are computed with plain loops (no
 * gradient flows through booleans); float reshapes and joins use the
 * differentiable ops. */
#include "layers/keras_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"

static const char *const kop_names[RNNC_KOP_COUNT] = {
    "NotEqual", "Equal", "LogicalOr", "LogicalAnd", "LogicalNot", "Any",
    "All", "ExpandDims", "Squeeze", "ZerosLike", "OnesLike", "Concatenate",
};

static int n_args_of(rnnc_keras_op_kind k)
{
    switch (k) {
    case RNNC_KOP_NOT_EQUAL:
    case RNNC_KOP_EQUAL:
    case RNNC_KOP_LOGICAL_OR:
    case RNNC_KOP_LOGICAL_AND:
        return 2;
    case RNNC_KOP_CONCATENATE:
        return -1; /* one or more */
    default:
        return 1;
    }
}

/* Keras's dtype name: "bool" for the uint8 masks. */
static const char *keras_dtype_name(rnnc_dtype t)
{
    return t == RNNC_U8 ? "bool" : rnnc_dtype_name(t);
}

/* ---- shapes -------------------------------------------------------------- */

/* NumPy broadcast of two shapes (-1 = unknown). */
static rnnc_status bcast(const char *what, const rnnc_shape *a, const rnnc_shape *b, rnnc_shape *out)
{
    char sa[160], sb[160];
    const rnnc_shape *l = a->ndim >= b->ndim ? a : b, *s = a->ndim >= b->ndim ? b : a;
    *out = *l;
    int off = l->ndim - s->ndim;
    for (int i = 0; i < s->ndim; i++) {
        int64_t x = l->dim[off + i], y = s->dim[i];
        if (x == y || y == 1)
            continue;
        if (x == 1) {
            out->dim[off + i] = y;
        } else if (x < 0 || y < 0) {
            out->dim[off + i] = x < 0 ? y : x; /* the known one, which the other must equal */
        } else {
            return rnnc_fail(RNNC_E_SHAPE, "%s: shapes %s and %s cannot be broadcast together", what,
                             rnnc_shape_str(a, sa, sizeof sa), rnnc_shape_str(b, sb, sizeof sb));
        }
    }
    return RNNC_OK;
}

/* Normalized, sorted axes of an Any / All over rank r; n = 0 means all. */
static rnnc_status reduce_axes(const rnnc_keras_op *op, int r, bool *reduced)
{
    for (int d = 0; d < r; d++)
        reduced[d] = op->n_axes == 0;
    for (int i = 0; i < op->n_axes; i++) {
        int ax = op->axes[i];
        if (ax < -r || ax >= r)
            return rnnc_fail(RNNC_E_ARG, "%s '%s': axis %d is out of range for rank %d", kop_names[op->kind],
                             op->base.name, ax, r);
        ax = ax < 0 ? ax + r : ax;
        if (reduced[ax] && op->n_axes > 0)
            return rnnc_fail(RNNC_E_ARG, "%s '%s': axis %d is repeated in %s", kop_names[op->kind], op->base.name,
                             op->axes[i], op->axis_is_list ? "the axis list" : "axis");
        reduced[ax] = true;
    }
    return RNNC_OK;
}

static rnnc_status reduced_shape(const rnnc_keras_op *op, const rnnc_shape *in, rnnc_shape *out)
{
    bool red[RNNC_MAX_DIMS];
    RNNC_TRY(reduce_axes(op, in->ndim, red));
    memset(out, 0, sizeof *out);
    for (int d = 0; d < in->ndim; d++)
        if (!red[d])
            out->dim[out->ndim++] = in->dim[d];
        else if (op->keepdims)
            out->dim[out->ndim++] = 1;
    return RNNC_OK;
}

static rnnc_status expand_shape(const rnnc_keras_op *op, const rnnc_shape *in, rnnc_shape *out, int *at)
{
    int r = in->ndim + 1, ax = op->axes[0];
    if (r > RNNC_MAX_DIMS || ax < -r || ax >= r)
        return rnnc_fail(RNNC_E_ARG, "ExpandDims '%s': axis %d is out of range for an input of rank %d", op->base.name,
                         ax, in->ndim);
    ax = ax < 0 ? ax + r : ax;
    memset(out, 0, sizeof *out);
    out->ndim = r;
    for (int d = 0, k = 0; d < r; d++)
        out->dim[d] = d == ax ? 1 : in->dim[k++];
    *at = ax;
    return RNNC_OK;
}

static rnnc_status squeeze_shape(const rnnc_keras_op *op, const rnnc_shape *in, rnnc_shape *out)
{
    char s[160];
    memset(out, 0, sizeof *out);
    if (!op->has_axis) {
        for (int d = 0; d < in->ndim; d++)
            if (in->dim[d] != 1)
                out->dim[out->ndim++] = in->dim[d];
        return RNNC_OK;
    }
    int ax = op->axes[0];
    if (ax < -in->ndim || ax >= in->ndim)
        return rnnc_fail(RNNC_E_ARG, "Squeeze '%s': axis %d is out of range for shape %s", op->base.name, ax,
                         rnnc_shape_str(in, s, sizeof s));
    ax = ax < 0 ? ax + in->ndim : ax;
    if (in->dim[ax] > 1)
        return rnnc_fail(RNNC_E_SHAPE, "Squeeze '%s': axis %d of shape %s has size %lld, not 1", op->base.name,
                         op->axes[0], rnnc_shape_str(in, s, sizeof s), (long long)in->dim[ax]);
    for (int d = 0; d < in->ndim; d++)
        if (d != ax)
            out->dim[out->ndim++] = in->dim[d];
    return RNNC_OK;
}

static rnnc_status concat_shape(const rnnc_keras_op *op, const rnnc_shape *shapes, int n, rnnc_shape *out, int *at)
{
    char s0[160], si[160];
    int ax;
    if (rnnc_shape_axis(&shapes[0], op->axes[0], &ax) != RNNC_OK)
        return rnnc_fail(RNNC_E_ARG, "Concatenate op '%s': axis %d is out of range for shape %s", op->base.name,
                         op->axes[0], rnnc_shape_str(&shapes[0], s0, sizeof s0));
    *out = shapes[0];
    for (int i = 1; i < n; i++) {
        bool ok = shapes[i].ndim == out->ndim;
        for (int d = 0; ok && d < out->ndim; d++) {
            if (d == ax)
                continue;
            if (out->dim[d] < 0)
                out->dim[d] = shapes[i].dim[d];
            else if (shapes[i].dim[d] >= 0 && shapes[i].dim[d] != out->dim[d])
                ok = false;
        }
        if (!ok)
            return rnnc_fail(RNNC_E_SHAPE, "Concatenate op '%s': shapes %s and %s differ outside axis %d", op->base.name,
                             rnnc_shape_str(&shapes[0], s0, sizeof s0), rnnc_shape_str(&shapes[i], si, sizeof si),
                             op->axes[0]);
        out->dim[ax] = out->dim[ax] < 0 || shapes[i].dim[ax] < 0 ? -1 : out->dim[ax] + shapes[i].dim[ax];
    }
    *at = ax;
    return RNNC_OK;
}

static rnnc_status check_arity(const rnnc_keras_op *op, int n)
{
    int want = n_args_of(op->kind);
    if ((want > 0 && n != want) || n < 1 || n > RNNC_MAX_IO)
        return rnnc_fail(RNNC_E_ARG, "%s '%s': takes %s, got %d", kop_names[op->kind], op->base.name,
                         want == 2 ? "2 arguments" : want == 1 ? "1 argument" : "a list of tensors", n);
    return RNNC_OK;
}

static rnnc_status kop_output_spec_n(const rnnc_layer *l, const rnnc_shape *shapes, const rnnc_dtype *dtypes, int n,
                                     rnnc_output_spec *spec)
{
    const rnnc_keras_op *op = (const rnnc_keras_op *)l;
    char what[200];
    int at;
    snprintf(what, sizeof what, "%s '%s'", kop_names[op->kind], l->name);
    RNNC_TRY(check_arity(op, n));
    memset(spec, 0, sizeof *spec);
    spec->n_outputs = 1;
    spec->dtype = dtypes ? dtypes[0] : l->dtype;
    rnnc_shape *o = &spec->shapes[0];
    switch (op->kind) {
    case RNNC_KOP_NOT_EQUAL:
    case RNNC_KOP_EQUAL:
    case RNNC_KOP_LOGICAL_OR:
    case RNNC_KOP_LOGICAL_AND:
        spec->dtype = RNNC_U8;
        return bcast(what, &shapes[0], &shapes[1], o);
    case RNNC_KOP_LOGICAL_NOT:
        spec->dtype = RNNC_U8;
        *o = shapes[0];
        return RNNC_OK;
    case RNNC_KOP_ANY:
    case RNNC_KOP_ALL:
        spec->dtype = RNNC_U8;
        return reduced_shape(op, &shapes[0], o);
    case RNNC_KOP_EXPAND_DIMS:
        return expand_shape(op, &shapes[0], o, &at);
    case RNNC_KOP_SQUEEZE:
        return squeeze_shape(op, &shapes[0], o);
    case RNNC_KOP_ZEROS_LIKE:
    case RNNC_KOP_ONES_LIKE:
        if (op->has_dtype)
            spec->dtype = op->dtype;
        *o = shapes[0];
        return RNNC_OK;
    case RNNC_KOP_CONCATENATE:
        for (int i = 1; dtypes && i < n; i++)
            if (dtypes[i] != dtypes[0])
                return rnnc_fail(RNNC_E_DTYPE, "%s: inputs of dtypes %s and %s cannot be joined", what,
                                 keras_dtype_name(dtypes[0]), keras_dtype_name(dtypes[i]));
        return concat_shape(op, shapes, n, o, &at);
    default:
        return rnnc_fail(RNNC_E_STATE, "%s: unknown operation", what);
    }
}

static rnnc_status kop_output_spec(const rnnc_layer *l, const rnnc_shape *in, rnnc_output_spec *spec)
{
    return kop_output_spec_n(l, in, NULL, 1, spec);
}

/* ---- forward --------------------------------------------------------------- */

/* Element offsets of a and b for every element of out (NumPy broadcast). */
typedef struct pair_iter {
    int nd;
    int64_t dim[RNNC_MAX_DIMS], sa[RNNC_MAX_DIMS], sb[RNNC_MAX_DIMS], idx[RNNC_MAX_DIMS];
    size_t oa, ob;
} pair_iter;

static void strides_for(const rnnc_shape *s, const rnnc_shape *out, int64_t *st)
{
    int off = out->ndim - s->ndim;
    int64_t acc = 1;
    for (int d = out->ndim - 1; d >= 0; d--) {
        int k = d - off;
        if (k < 0) {
            st[d] = 0;
            continue;
        }
        st[d] = s->dim[k] == 1 ? 0 : acc;
        acc *= s->dim[k];
    }
}

static void pair_begin(pair_iter *it, const rnnc_shape *a, const rnnc_shape *b, const rnnc_shape *out)
{
    memset(it, 0, sizeof *it);
    it->nd = out->ndim;
    memcpy(it->dim, out->dim, sizeof it->dim);
    strides_for(a, out, it->sa);
    strides_for(b, out, it->sb);
}

static void pair_next(pair_iter *it)
{
    for (int d = it->nd - 1; d >= 0; d--) {
        it->idx[d]++;
        it->oa += (size_t)it->sa[d];
        it->ob += (size_t)it->sb[d];
        if (it->idx[d] < it->dim[d])
            return;
        it->oa -= (size_t)(it->sa[d] * it->dim[d]);
        it->ob -= (size_t)(it->sb[d] * it->dim[d]);
        it->idx[d] = 0;
    }
}

static rnnc_status binary(const rnnc_keras_op *op, rnnc_ctx *cx, const rnnc_tensor *a, const rnnc_tensor *b,
                          rnnc_tensor **out)
{
    char what[200];
    rnnc_shape s;
    snprintf(what, sizeof what, "%s '%s'", kop_names[op->kind], op->base.name);
    RNNC_TRY(bcast(what, &a->shape, &b->shape, &s));
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &s, out));
    uint8_t *o = (*out)->data;
    pair_iter it;
    pair_begin(&it, &a->shape, &b->shape, &s);
    for (size_t i = 0; i < (*out)->numel; i++, pair_next(&it)) {
        double x = rnnc_tensor_get(a, it.oa), y = rnnc_tensor_get(b, it.ob);
        switch (op->kind) {
        case RNNC_KOP_NOT_EQUAL: o[i] = x != y; break;
        case RNNC_KOP_EQUAL: o[i] = x == y; break;
        case RNNC_KOP_LOGICAL_OR: o[i] = x != 0.0 || y != 0.0; break;
        default: o[i] = x != 0.0 && y != 0.0; break;
        }
    }
    return RNNC_OK;
}

static rnnc_status reduce(const rnnc_keras_op *op, rnnc_ctx *cx, const rnnc_tensor *x, rnnc_tensor **out)
{
    bool red[RNNC_MAX_DIMS];
    rnnc_shape s;
    RNNC_TRY(reduce_axes(op, x->shape.ndim, red));
    RNNC_TRY(reduced_shape(op, &x->shape, &s));
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &s, out));
    uint8_t *o = (*out)->data;
    const bool all = op->kind == RNNC_KOP_ALL;
    memset(o, all ? 1 : 0, (*out)->numel);
    /* Output strides over the input's axes (0 on reduced ones). */
    int64_t st[RNNC_MAX_DIMS], idx[RNNC_MAX_DIMS] = {0}, acc = 1;
    for (int d = x->shape.ndim - 1; d >= 0; d--) {
        st[d] = red[d] ? 0 : acc;
        acc *= red[d] ? 1 : x->shape.dim[d];
    }
    size_t at = 0;
    for (size_t i = 0; i < x->numel; i++) {
        bool v = rnnc_tensor_get(x, i) != 0.0;
        o[at] = all ? (uint8_t)(o[at] && v) : (uint8_t)(o[at] || v);
        for (int d = x->shape.ndim - 1; d >= 0; d--) {
            idx[d]++;
            at += (size_t)st[d];
            if (idx[d] < x->shape.dim[d])
                break;
            at -= (size_t)(st[d] * x->shape.dim[d]);
            idx[d] = 0;
        }
    }
    return RNNC_OK;
}

/* Same data, new shape: the differentiable reshape for floats, a copy for
 * masks and ids. */
static rnnc_status reshaped(rnnc_ctx *cx, rnnc_tensor *x, const rnnc_shape *s, rnnc_tensor **out)
{
    if (rnnc_dtype_is_float(x->dtype))
        return rnnc_reshape(cx, x, s, out);
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, s, out));
    memcpy((*out)->data, x->data, x->numel * rnnc_dtype_size(x->dtype));
    return RNNC_OK;
}

static rnnc_status concat(const rnnc_keras_op *op, rnnc_ctx *cx, rnnc_tensor *const *xs, int n, rnnc_tensor **out)
{
    rnnc_shape shapes[RNNC_MAX_IO], s;
    int ax;
    for (int i = 0; i < n; i++) {
        if (xs[i]->dtype != xs[0]->dtype)
            return rnnc_fail(RNNC_E_DTYPE, "Concatenate op '%s': inputs of dtypes %s and %s cannot be joined",
                             op->base.name, keras_dtype_name(xs[0]->dtype), keras_dtype_name(xs[i]->dtype));
        shapes[i] = xs[i]->shape;
    }
    RNNC_TRY(concat_shape(op, shapes, n, &s, &ax));
    if (rnnc_dtype_is_float(xs[0]->dtype))
        return rnnc_concat(cx, xs, n, ax, out);
    RNNC_TRY(rnnc_ctx_tensor(cx, xs[0]->dtype, &s, out));
    /* Row-major blocks: outer = product of dims before the axis. */
    size_t es = rnnc_dtype_size(xs[0]->dtype), outer = 1, inner = 1;
    for (int d = 0; d < ax; d++)
        outer *= (size_t)s.dim[d];
    for (int d = ax + 1; d < s.ndim; d++)
        inner *= (size_t)s.dim[d];
    size_t row = (size_t)s.dim[ax] * inner * es, at = 0;
    char *o = (*out)->data;
    for (int i = 0; i < n; i++) {
        size_t len = (size_t)xs[i]->shape.dim[ax] * inner * es;
        const char *src = xs[i]->data;
        for (size_t r = 0; r < outer; r++)
            memcpy(o + r * row + at, src + r * len, len);
        at += len;
    }
    return RNNC_OK;
}

static rnnc_status kop_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args, rnnc_call_result *res)
{
    rnnc_keras_op *op = (rnnc_keras_op *)l;
    rnnc_tensor *x = args->inputs[0], *y = NULL;
    rnnc_shape s;
    int at;
    RNNC_TRY(check_arity(op, args->n_inputs));
    switch (op->kind) {
    case RNNC_KOP_NOT_EQUAL:
    case RNNC_KOP_EQUAL:
    case RNNC_KOP_LOGICAL_OR:
    case RNNC_KOP_LOGICAL_AND:
        RNNC_TRY(binary(op, cx, x, args->inputs[1], &y));
        break;
    case RNNC_KOP_LOGICAL_NOT: {
        RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &x->shape, &y));
        uint8_t *o = y->data;
        for (size_t i = 0; i < x->numel; i++)
            o[i] = rnnc_tensor_get(x, i) == 0.0;
        break;
    }
    case RNNC_KOP_ANY:
    case RNNC_KOP_ALL:
        RNNC_TRY(reduce(op, cx, x, &y));
        break;
    case RNNC_KOP_EXPAND_DIMS:
        RNNC_TRY(expand_shape(op, &x->shape, &s, &at));
        RNNC_TRY(reshaped(cx, x, &s, &y));
        break;
    case RNNC_KOP_SQUEEZE:
        RNNC_TRY(squeeze_shape(op, &x->shape, &s));
        RNNC_TRY(reshaped(cx, x, &s, &y));
        break;
    case RNNC_KOP_ZEROS_LIKE:
    case RNNC_KOP_ONES_LIKE:
        RNNC_TRY(rnnc_ctx_tensor(cx, op->has_dtype ? op->dtype : x->dtype, &x->shape, &y));
        if (op->kind == RNNC_KOP_ONES_LIKE)
            for (size_t i = 0; i < y->numel; i++)
                rnnc_tensor_set(y, i, 1.0);
        break;
    case RNNC_KOP_CONCATENATE:
        RNNC_TRY(concat(op, cx, args->inputs, args->n_inputs, &y));
        break;
    default:
        return rnnc_fail(RNNC_E_STATE, "Keras op '%s': unknown operation", l->name);
    }
    res->n_outputs = 1;
    res->outputs[0] = y;
    return RNNC_OK;
}

/* ---- config ---------------------------------------------------------------- */

static rnnc_status kop_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_keras_op *op = (const rnnc_keras_op *)l;
    switch (op->kind) {
    case RNNC_KOP_ANY:
    case RNNC_KOP_ALL:
        if (op->n_axes == 0) {
            RNNC_TRY(rnnc_cfg_set_null(c, "axis"));
        } else if (op->axis_is_list) {
            rnnc_cfg *list = rnnc_cfg_list();
            if (!list)
                return rnnc_fail(RNNC_E_NOMEM, "out of memory");
            for (int i = 0; i < op->n_axes; i++)
                if (rnnc_cfg_push(list, rnnc_cfg_int(op->axes[i])) != RNNC_OK) {
                    rnnc_cfg_destroy(list);
                    return rnnc_fail(RNNC_E_NOMEM, "out of memory");
                }
            RNNC_TRY(rnnc_cfg_set(c, "axis", list));
        } else {
            RNNC_TRY(rnnc_cfg_set_int(c, "axis", op->axes[0]));
        }
        return rnnc_cfg_set_bool(c, "keepdims", op->keepdims);
    case RNNC_KOP_EXPAND_DIMS:
    case RNNC_KOP_CONCATENATE:
        return rnnc_cfg_set_int(c, "axis", op->axes[0]);
    case RNNC_KOP_SQUEEZE:
        return op->has_axis ? rnnc_cfg_set_int(c, "axis", op->axes[0]) : rnnc_cfg_set_null(c, "axis");
    case RNNC_KOP_ZEROS_LIKE:
    case RNNC_KOP_ONES_LIKE:
        return op->has_dtype ? rnnc_cfg_set_string(c, "dtype", keras_dtype_name(op->dtype))
                             : rnnc_cfg_set_null(c, "dtype");
    default:
        return RNNC_OK;
    }
}

#define KOP_CLASS(var, name)                                                \
    static const rnnc_layer_class var = {                                   \
        .class_name = name,                                                 \
        .module = "keras.src.ops.numpy",                                    \
        .call = kop_call,                                                   \
        .compute_output_spec = kop_output_spec,                             \
        .get_config = kop_get_config,                                       \
        .supports_masking = false,                                          \
        .compute_output_spec_n = kop_output_spec_n,                         \
        .is_operation = true,                                               \
    }

KOP_CLASS(not_equal_class, "NotEqual");
KOP_CLASS(equal_class, "Equal");
KOP_CLASS(logical_or_class, "LogicalOr");
KOP_CLASS(logical_and_class, "LogicalAnd");
KOP_CLASS(logical_not_class, "LogicalNot");
KOP_CLASS(any_class, "Any");
KOP_CLASS(all_class, "All");
KOP_CLASS(expand_dims_class, "ExpandDims");
KOP_CLASS(squeeze_class, "Squeeze");
KOP_CLASS(zeros_like_class, "ZerosLike");
KOP_CLASS(ones_like_class, "OnesLike");
KOP_CLASS(concatenate_class, "Concatenate");

static const rnnc_layer_class *const kop_classes[RNNC_KOP_COUNT] = {
    &not_equal_class, &equal_class, &logical_or_class, &logical_and_class, &logical_not_class, &any_class,
    &all_class, &expand_dims_class, &squeeze_class, &zeros_like_class, &ones_like_class, &concatenate_class,
};

bool rnnc_layer_is_keras_op(const rnnc_layer *l)
{
    for (int i = 0; l && i < RNNC_KOP_COUNT; i++)
        if (l->cls == kop_classes[i])
            return true;
    return false;
}

bool rnnc_keras_op_module(const char *module)
{
    return module && (strncmp(module, "keras.src.ops", 13) == 0 || strncmp(module, "keras.ops", 9) == 0);
}

static rnnc_status read_int_key(const rnnc_cfg *c, const char *what, const char *key, bool required, bool *has,
                                int *v)
{
    char w[300];
    const rnnc_cfg *a = rnnc_cfg_get(c, key);
    *has = a && a->type != RNNC_CFG_NULL;
    if (!*has) {
        if (required)
            return rnnc_fail(RNNC_E_ARG, "%s: '%s' must be an integer%s", what, key, rnnc_cfg_where(a ? a : c, w, sizeof w));
        return RNNC_OK;
    }
    if (a->type != RNNC_CFG_INT || a->v.i < -RNNC_MAX_DIMS || a->v.i > RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_ARG, "%s: '%s' must be an integer axis, got %s%s", what, key, rnnc_cfg_type_name(a->type),
                         rnnc_cfg_where(a, w, sizeof w));
    *v = (int)a->v.i;
    return RNNC_OK;
}

static rnnc_status read_op_keys(rnnc_keras_op *op, const rnnc_cfg *c, const char *what)
{
    char w[300];
    bool has;
    switch (op->kind) {
    case RNNC_KOP_ANY:
    case RNNC_KOP_ALL: {
        const rnnc_cfg *a = rnnc_cfg_get(c, "axis");
        if (a && a->type == RNNC_CFG_LIST) {
            if (a->n == 0 || a->n > RNNC_MAX_DIMS)
                return rnnc_fail(RNNC_E_ARG, "%s: 'axis' lists %zu axes%s", what, a->n, rnnc_cfg_where(a, w, sizeof w));
            for (size_t i = 0; i < a->n; i++) {
                if (a->items[i]->type != RNNC_CFG_INT || a->items[i]->v.i < -RNNC_MAX_DIMS ||
                    a->items[i]->v.i > RNNC_MAX_DIMS)
                    return rnnc_fail(RNNC_E_ARG, "%s: 'axis' must hold integers%s", what,
                                     rnnc_cfg_where(a->items[i], w, sizeof w));
                op->axes[i] = (int)a->items[i]->v.i;
            }
            op->n_axes = (int)a->n;
            op->axis_is_list = true;
        } else {
            int v = 0;
            RNNC_TRY(read_int_key(c, what, "axis", false, &has, &v));
            op->n_axes = has ? 1 : 0;
            op->axes[0] = v;
        }
        return rnnc_cfg_read_bool(c, what, "keepdims", false, &op->keepdims);
    }
    case RNNC_KOP_EXPAND_DIMS:
        return read_int_key(c, what, "axis", true, &has, &op->axes[0]);
    case RNNC_KOP_CONCATENATE:
        op->axes[0] = 0; /* keras.ops.concatenate's default */
        return read_int_key(c, what, "axis", false, &has, &op->axes[0]);
    case RNNC_KOP_SQUEEZE:
        return read_int_key(c, what, "axis", false, &op->has_axis, &op->axes[0]);
    case RNNC_KOP_ZEROS_LIKE:
    case RNNC_KOP_ONES_LIKE: {
        const char *dt = NULL;
        RNNC_TRY(rnnc_cfg_read_string(c, what, "dtype", NULL, &dt));
        op->has_dtype = dt != NULL;
        if (dt && rnnc_dtype_from_name(dt, &op->dtype) != RNNC_OK)
            return rnnc_fail(RNNC_E_ARG, "%s: dtype '%s' is not supported%s", what, dt,
                             rnnc_cfg_where(rnnc_cfg_peek(c, "dtype"), w, sizeof w));
        return RNNC_OK;
    }
    default:
        return RNNC_OK;
    }
}

rnnc_status rnnc_keras_op_from_config(const char *class_name, const rnnc_cfg *c, rnnc_layer **out)
{
    static const char *const keys[] = {"name", "axis", "keepdims", "dtype", NULL};
    char w[300], what[160];
    *out = NULL;
    int kind = -1;
    for (int i = 0; class_name && i < RNNC_KOP_COUNT; i++)
        if (strcmp(kop_names[i], class_name) == 0)
            kind = i;
    if (kind < 0) {
        char list[400] = "";
        for (int i = 0; i < RNNC_KOP_COUNT; i++) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", kop_names[i]);
        }
        return rnnc_fail(RNNC_E_UNSUPPORTED, "Keras operation '%s' is not supported in Functional graphs (supported: %s)",
                         class_name ? class_name : "(no class_name)", list);
    }
    snprintf(what, sizeof what, "%s op", kop_names[kind]);
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: config must be a map%s", what, rnnc_cfg_where(c, w, sizeof w));
    const char *name = NULL;
    RNNC_TRY(rnnc_cfg_read_string(c, what, "name", NULL, &name));
    if (name && strchr(name, '/'))
        return rnnc_fail(RNNC_E_ARG, "%s: name '%s' must not contain '/'", what, name);
    rnnc_keras_op *op = calloc(1, sizeof *op);
    if (!op)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    op->kind = (rnnc_keras_op_kind)kind;
    rnnc_status s = rnnc_layer_init(&op->base, kop_classes[kind], name, RNNC_F32);
    if (s == RNNC_OK)
        s = read_op_keys(op, c, what);
    /* Only the keys this operation has: a stray one is an error. */
    const char *known[5] = {"name", NULL, NULL, NULL, NULL};
    int k = 1;
    if (kind == RNNC_KOP_ANY || kind == RNNC_KOP_ALL) {
        known[k++] = keys[1];
        known[k++] = keys[2];
    } else if (kind == RNNC_KOP_EXPAND_DIMS || kind == RNNC_KOP_SQUEEZE || kind == RNNC_KOP_CONCATENATE) {
        known[k++] = keys[1];
    } else if (kind == RNNC_KOP_ZEROS_LIKE || kind == RNNC_KOP_ONES_LIKE) {
        known[k++] = keys[3];
    }
    if (s == RNNC_OK)
        s = rnnc_cfg_check_unread(c, what, known);
    if (s != RNNC_OK) {
        rnnc_layer_destroy(&op->base);
        return s;
    }
    *out = &op->base;
    return RNNC_OK;
}
