/* sgd.c - Keras's SGD: plain, momentum and Nesterov updates (spec 13.3).
 * A float32 dense update goes through the backend op table of the weight's
 * device (framework/backend_ops.h; the CPU table runs this file's loop);
 * float64 and the rows updates stay here. */
#include <stddef.h>
#include <string.h>

#include "framework/backend_ops.h"
#include "optim/optimizer_internal.h"

static const rnnc__opt_key sgd_keys[] = {
    {"momentum", false, offsetof(struct rnnc_optimizer, momentum), 0.0, false},
    {"nesterov", true, offsetof(struct rnnc_optimizer, nesterov), 0.0, false},
    {NULL, false, 0, 0.0, false}};

static rnnc_status sgd_check(const rnnc_optimizer *o, const char *what)
{
    /* Keras: isinstance(momentum, float) and 0 <= momentum <= 1 */
    if (o->momentum.is_int || !(o->momentum.v >= 0 && o->momentum.v <= 1))
        return rnnc_fail(RNNC_E_ARG, "%s: SGD: `momentum` must be a float between [0, 1], got %s%g",
                         what, o->momentum.is_int ? "the integer " : "", o->momentum.v);
    return RNNC_OK;
}

static int sgd_layout(const rnnc_optimizer *o, rnnc__slot_group *g)
{
    if (o->momentum.v == 0)
        return 0;
    g[0] = (rnnc__slot_group){{"momentum"}, 1, 0.0};
    return 1;
}

static rnnc_status sgd_update(const rnnc_optimizer *o, rnnc_tensor *w, const rnnc_tensor *g,
                              rnnc_tensor *const *slots, double lr, int64_t step)
{
    (void)step;
    if (w->dtype == RNNC_F32) {
        const rnnc_backend_ops *be;
        RNNC_TRY(rnnc_backend_ops_for(w, RNNC_BOP_SGD, "SGD update", &be));
        rnnc_bbuf bw = rnnc_bbuf_view(be, RNNC_F32, w->numel, w->data);
        rnnc_bbuf bg = rnnc_bbuf_view(be, RNNC_F32, g->numel, g->data);
        rnnc_bbuf bm = rnnc_bbuf_view(be, RNNC_F32, w->numel, o->momentum.v != 0 ? slots[0]->data : NULL);
        const rnnc_sgd_params p = {(float)lr, (float)o->momentum.v, o->nesterov};
        return be->sgd(&p, &bw, &bg, o->momentum.v != 0 ? &bm : NULL);
    }
    RNNC_FLOAT_DISPATCH(w->dtype, T, {
        T *pw = w->data;
        const T *pg = g->data;
        const T l = (T)lr;
        if (o->momentum.v == 0) {
            for (size_t j = 0; j < w->numel; j++)
                pw[j] = pw[j] - pg[j] * l;
        } else {
            T *pm = slots[0]->data;
            const T mu = (T)(float)o->momentum.v; /* Keras: ops.cast(momentum, dtype), via float32 */
            for (size_t j = 0; j < w->numel; j++) {
                pm[j] = pm[j] * mu - pg[j] * l; /* m <- mu m - lr g */
                if (o->nesterov)
                    pw[j] = pw[j] + (pm[j] * mu - pg[j] * l);
                else
                    pw[j] = pw[j] + pm[j];
            }
        }
    });
    return RNNC_OK;
}

/* Rows: plain SGD scatter-subtracts rows * lr, one occurrence after the
 * other, touching only the looked-up rows. With momentum, Keras's
 * m * mu - g * lr meets a dense tensor, so the scaled rows are summed per
 * index first and every row of m and w moves. */
static rnnc_status sgd_update_sparse(const rnnc_optimizer *o, rnnc_tensor *w, const rnnc__rows *g,
                                     rnnc_tensor *const *slots, rnnc_tensor *const *scratch,
                                     double lr, int64_t step)
{
    (void)step;
    const int64_t D = g->width;
    RNNC_FLOAT_DISPATCH(w->dtype, T, {
        T *pw = w->data;
        const T *r = g->rows;
        const T l = (T)lr;
        if (o->momentum.v == 0) {
            for (int64_t i = 0; i < g->n; i++) {
                T *dst = pw + (int64_t)g->ids[i] * D;
                for (int64_t k = 0; k < D; k++)
                    dst[k] = dst[k] - r[i * D + k] * l;
            }
        } else {
            T *pm = slots[0]->data, *gl = scratch[0]->data;
            const T mu = (T)(float)o->momentum.v; /* Keras: ops.cast(momentum, dtype), via float32 */
            memset(gl, 0, w->numel * sizeof *gl);
            for (int64_t i = 0; i < g->n; i++)
                for (int64_t k = 0; k < D; k++)
                    gl[(int64_t)g->ids[i] * D + k] += r[i * D + k] * l;
            for (size_t j = 0; j < w->numel; j++) {
                pm[j] = pm[j] * mu - gl[j];
                if (o->nesterov)
                    pw[j] = pw[j] + (pm[j] * mu - gl[j]);
                else
                    pw[j] = pw[j] + pm[j];
            }
        }
    });
    return RNNC_OK;
}

const rnnc__opt_class rnnc__sgd_class = {"SGD", RNNC_OPTIMIZER_SGD, 0.01, sgd_keys, sgd_check,
                                         sgd_layout, sgd_update, sgd_update_sparse, 1};
