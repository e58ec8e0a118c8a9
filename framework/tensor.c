/* tensor.c - tensor creation, views, element access, shapes and dtypes. */
#include "framework/tensor.h"
#include "framework/block_cache.h"
#include "framework/sparse_grad_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[RNNC_DTYPE_COUNT] = {
    [RNNC_F32] = {"float32", 4}, [RNNC_F64] = {"float64", 8}, [RNNC_I32] = {"int32", 4},
    [RNNC_I64] = {"int64", 8},   [RNNC_U8] = {"uint8", 1},
};

size_t rnnc_dtype_size(rnnc_dtype t) { return (unsigned)t < RNNC_DTYPE_COUNT ? dtype_info[t].size : 0; }

const char *rnnc_dtype_name(rnnc_dtype t)
{
    return (unsigned)t < RNNC_DTYPE_COUNT ? dtype_info[t].name : "unknown";
}

bool rnnc_dtype_is_float(rnnc_dtype t) { return t == RNNC_F32 || t == RNNC_F64; }

rnnc_status rnnc_dtype_from_name(const char *name, rnnc_dtype *out)
{
    for (int t = 0; t < RNNC_DTYPE_COUNT; t++)
        if (name && strcmp(name, dtype_info[t].name) == 0) {
            *out = (rnnc_dtype)t;
            return RNNC_OK;
        }
    if (name && strcmp(name, "bool") == 0) {
        *out = RNNC_U8;
        return RNNC_OK;
    }
    return rnnc_fail(RNNC_E_DTYPE, "unknown dtype '%s' (expected float32, float64, int32, int64, uint8 or bool)",
                     name ? name : "(null)");
}

rnnc_shape rnnc_shape_of(const int64_t *dims, int ndim)
{
    rnnc_shape s = {0};
    if (ndim > RNNC_MAX_DIMS)
        ndim = RNNC_MAX_DIMS;
    s.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        s.dim[i] = dims[i];
    return s;
}

bool rnnc_shape_eq(const rnnc_shape *a, const rnnc_shape *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i])
            return false;
    return true;
}

rnnc_status rnnc_shape_numel(const rnnc_shape *s, size_t *numel)
{
    char buf[160];
    if (s->ndim < 0 || s->ndim > RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_SHAPE, "rank %d is outside 0..%d", s->ndim, RNNC_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->dim[i] < 0)
            return rnnc_fail(RNNC_E_SHAPE, "shape %s has an unknown or negative dimension",
                             rnnc_shape_str(s, buf, sizeof buf));
        if (s->dim[i] != 0 && n > SIZE_MAX / (uint64_t)s->dim[i])
            return rnnc_fail(RNNC_E_SHAPE, "shape %s is too large (element count overflows)",
                             rnnc_shape_str(s, buf, sizeof buf));
        n *= (size_t)s->dim[i];
    }
    *numel = n;
    return RNNC_OK;
}

const char *rnnc_shape_str(const rnnc_shape *s, char *buf, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < s->ndim && used < cap; i++) {
        const char *sep = i ? ", " : "";
        if (s->dim[i] < 0)
            used += (size_t)snprintf(buf + used, cap - used, "%sNone", sep);
        else
            used += (size_t)snprintf(buf + used, cap - used, "%s%lld", sep, (long long)s->dim[i]);
    }
    if (used < cap)
        snprintf(buf + used, cap - used, s->ndim == 1 ? ",)" : ")");
    return buf;
}

rnnc_status rnnc_shape_axis(const rnnc_shape *s, int axis, int *out)
{
    int a = axis < 0 ? axis + s->ndim : axis;
    if (a < 0 || a >= s->ndim)
        return rnnc_fail(RNNC_E_ARG, "axis %d is out of range for rank %d", axis, s->ndim);
    *out = a;
    return RNNC_OK;
}

/* Allocation limit: a guard against absurd sizes read from files or configs
 * (units: 10^12) that the kernel might overcommit and kill us for later. */
#define RNNC_MAX_TENSOR_BYTES ((size_t)1 << 37) /* 128 GiB */

static rnnc_status alloc_bytes(rnnc_dtype dtype, const rnnc_shape *shape, size_t *numel,
                               size_t *bytes)
{
    char buf[160];
    if ((unsigned)dtype >= RNNC_DTYPE_COUNT)
        return rnnc_fail(RNNC_E_DTYPE, "invalid dtype %d", (int)dtype);
    RNNC_TRY(rnnc_shape_numel(shape, numel));
    size_t es = rnnc_dtype_size(dtype);
    if (*numel > RNNC_MAX_TENSOR_BYTES / es)
        return rnnc_fail(RNNC_E_NOMEM, "tensor of shape %s (%s) would need more than %zu bytes",
                         rnnc_shape_str(shape, buf, sizeof buf), rnnc_dtype_name(dtype),
                         (size_t)RNNC_MAX_TENSOR_BYTES);
    *bytes = *numel * es;
    return RNNC_OK;
}

rnnc_status rnnc_tensor_create(rnnc_dtype dtype, const rnnc_shape *shape, rnnc_tensor **out)
{
    size_t numel = 0, bytes = 0;
    char buf[160];
    *out = NULL;
    RNNC_TRY(alloc_bytes(dtype, shape, &numel, &bytes));
    rnnc_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory for a tensor header");
    t->data = rnnc__block_alloc(bytes, true); /* big ones reused across calls (block_cache.h) */
    if (!t->data) {
        free(t);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory for a tensor of shape %s (%zu bytes)",
                         rnnc_shape_str(shape, buf, sizeof buf), bytes);
    }
    t->dtype = dtype;
    t->shape = *shape;
    t->numel = numel;
    *out = t;
    return RNNC_OK;
}

rnnc_status rnnc_tensor_from(rnnc_dtype dtype, const rnnc_shape *shape, const void *src,
                             rnnc_tensor **out)
{
    RNNC_TRY(rnnc_tensor_create(dtype, shape, out));
    if ((*out)->numel)
        memcpy((*out)->data, src, (*out)->numel * rnnc_dtype_size(dtype));
    return RNNC_OK;
}

rnnc_status rnnc_tensor_clone(const rnnc_tensor *t, rnnc_tensor **out)
{
    return rnnc_tensor_from(t->dtype, &t->shape, t->data, out);
}

void rnnc_tensor_destroy(rnnc_tensor *t)
{
    if (!t)
        return;
    if (!t->view_of) {
        rnnc__block_free(t->data);
        rnnc__block_free(t->grad);
        rnnc__sparse_grad_destroy(t->sgrad);
    }
    free(t);
}

rnnc_status rnnc_tensor_view(rnnc_tensor *t, size_t offset, const rnnc_shape *shape,
                             rnnc_tensor **out)
{
    size_t numel;
    char a[160], b[160];
    *out = NULL;
    RNNC_TRY(rnnc_shape_numel(shape, &numel));
    if (offset > t->numel || numel > t->numel - offset)
        return rnnc_fail(RNNC_E_SHAPE, "view of shape %s at offset %zu does not fit in %s",
                         rnnc_shape_str(shape, a, sizeof a), offset,
                         rnnc_shape_str(&t->shape, b, sizeof b));
    rnnc_tensor *v = calloc(1, sizeof *v);
    if (!v)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory for a view");
    size_t es = rnnc_dtype_size(t->dtype);
    rnnc_tensor *owner = t->view_of ? t->view_of : t;
    v->dtype = t->dtype;
    v->shape = *shape;
    v->numel = numel;
    v->data = (char *)t->data + offset * es;
    v->grad = t->grad ? (char *)t->grad + offset * es : NULL;
    v->view_of = owner;
    v->device = t->device; /* a view lives where its storage does */
    *out = v;
    return RNNC_OK;
}

double rnnc_tensor_get(const rnnc_tensor *t, size_t i)
{
    switch (t->dtype) {
    case RNNC_F32: return ((const float *)t->data)[i];
    case RNNC_F64: return ((const double *)t->data)[i];
    case RNNC_I32: return ((const int32_t *)t->data)[i];
    case RNNC_I64: return (double)((const int64_t *)t->data)[i];
    case RNNC_U8: return ((const uint8_t *)t->data)[i];
    default: return NAN;
    }
}

void rnnc_tensor_set(rnnc_tensor *t, size_t i, double v)
{
    switch (t->dtype) {
    case RNNC_F32: ((float *)t->data)[i] = (float)v; break;
    case RNNC_F64: ((double *)t->data)[i] = v; break;
    case RNNC_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case RNNC_I64: ((int64_t *)t->data)[i] = (int64_t)v; break;
    case RNNC_U8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    default: break;
    }
}

double rnnc_tensor_get_grad(const rnnc_tensor *t, size_t i)
{
    if (t->sgrad)
        return rnnc__sparse_grad_get(t, i);
    if (!t->grad)
        return 0.0;
    return t->dtype == RNNC_F32 ? ((const float *)t->grad)[i] : ((const double *)t->grad)[i];
}

rnnc_status rnnc_tensor_copy(rnnc_tensor *dst, const rnnc_tensor *src)
{
    char a[160], b[160];
    if (dst->numel != src->numel)
        return rnnc_fail(RNNC_E_SHAPE, "cannot copy a tensor of shape %s into one of shape %s",
                         rnnc_shape_str(&src->shape, a, sizeof a),
                         rnnc_shape_str(&dst->shape, b, sizeof b));
    if (dst->dtype == src->dtype) {
        memmove(dst->data, src->data, src->numel * rnnc_dtype_size(src->dtype));
        return RNNC_OK;
    }
    for (size_t i = 0; i < src->numel; i++)
        rnnc_tensor_set(dst, i, rnnc_tensor_get(src, i));
    return RNNC_OK;
}

void rnnc_tensor_fill(rnnc_tensor *t, double v)
{
    for (size_t i = 0; i < t->numel; i++)
        rnnc_tensor_set(t, i, v);
}

rnnc_status rnnc_tensor_ensure_grad(rnnc_tensor *t)
{
    if (t->grad)
        return RNNC_OK;
    if (t->view_of) {
        rnnc_tensor *o = t->view_of;
        RNNC_TRY(rnnc_tensor_ensure_grad(o));
        t->grad = (char *)o->grad + ((char *)t->data - (char *)o->data);
        return RNNC_OK;
    }
    if (!rnnc_dtype_is_float(t->dtype))
        return rnnc_fail(RNNC_E_DTYPE, "a %s tensor cannot have a gradient", rnnc_dtype_name(t->dtype));
    t->grad = t->numel <= SIZE_MAX / rnnc_dtype_size(t->dtype)
                  ? rnnc__block_alloc(t->numel * rnnc_dtype_size(t->dtype), true)
                  : NULL;
    if (!t->grad)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory for a gradient of %zu elements", t->numel);
    return RNNC_OK;
}

void rnnc_tensor_zero_grad(rnnc_tensor *t)
{
    if (t && t->sgrad) {
        rnnc__sparse_grad_zero(t); /* the dense buffer is cleared only when it was written */
        return;
    }
    if (t && t->grad)
        memset(t->grad, 0, t->numel * rnnc_dtype_size(t->dtype));
}

rnnc_status rnnc_tensor_set_requires_grad(rnnc_tensor *t, bool on)
{
    if (on)
        RNNC_TRY(rnnc_tensor_ensure_grad(t));
    t->requires_grad = on;
    return RNNC_OK;
}

rnnc_mat rnnc_mat_of(const rnnc_tensor *t)
{
    rnnc_mat m = {t->data, t->dtype, 1, 1, 1};
    if (t->shape.ndim >= 1) {
        m.cols = t->shape.dim[t->shape.ndim - 1];
        m.rows = m.cols ? (int64_t)(t->numel / (size_t)m.cols) : 0;
        m.ld = m.cols;
    }
    return m;
}

rnnc_mat rnnc_mat_cols(rnnc_mat m, int64_t c0, int64_t n)
{
    m.data = (char *)m.data + (size_t)c0 * rnnc_dtype_size(m.dtype);
    m.cols = n;
    return m;
}

rnnc_mat rnnc_mat_step(const rnnc_tensor *seq, int64_t step)
{
    int64_t T = seq->shape.dim[1], F = seq->shape.dim[2];
    rnnc_mat m = {(char *)seq->data + (size_t)(step * F) * rnnc_dtype_size(seq->dtype), seq->dtype,
                  seq->shape.dim[0], F, T * F};
    return m;
}
