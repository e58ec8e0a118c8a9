/* adagrad.c - Keras's Adagrad, spec 13.3: the accumulator starts at
 * initial_accumulator_value (0.1) and epsilon is inside the square root. */
#include <math.h>
#include <stddef.h>

#include "optim/optimizer_internal.h"

static const rnnc__opt_key adagrad_keys[] = {
    {"initial_accumulator_value", false, offsetof(struct rnnc_optimizer, initial_accumulator_value),
     0.1, false},
    {"epsilon", false, offsetof(struct rnnc_optimizer, epsilon), 1e-7, false},
    {NULL, false, 0, 0.0, false}};

static int adagrad_layout(const rnnc_optimizer *o, rnnc__slot_group *g)
{
    /* Keras fills it with Constant(value), whose ops.cast rounds to float32 first */
    g[0] = (rnnc__slot_group){{"accumulator"}, 1, (double)(float)o->initial_accumulator_value.v};
    return 1;
}

static rnnc_status adagrad_update(const rnnc_optimizer *o, rnnc_tensor *w, const rnnc_tensor *g,
                                  rnnc_tensor *const *slots, double lr, int64_t step)
{
    (void)step;
    RNNC_FLOAT_DISPATCH(w->dtype, T, {
        T *pw = w->data, *pa = slots[0]->data;
        const T *pg = g->data;
        const T l = (T)lr, eps = (T)o->epsilon.v;
        for (size_t j = 0; j < w->numel; j++) {
            pa[j] = pa[j] + pg[j] * pg[j];
            pw[j] = pw[j] - (l * pg[j]) / (T)sqrt((double)(pa[j] + eps));
        }
    });
    return RNNC_OK;
}

/* Rows: the accumulator scatter-adds each occurrence's square, then each
 * occurrence's lr * g / sqrt(acc + eps) (acc read at its row) is
 * scatter-subtracted: only the looked-up rows change. */
static rnnc_status adagrad_update_sparse(const rnnc_optimizer *o, rnnc_tensor *w, const rnnc__rows *g,
                                         rnnc_tensor *const *slots, rnnc_tensor *const *scratch,
                                         double lr, int64_t step)
{
    (void)step;
    (void)scratch;
    const int64_t D = g->width;
    RNNC_FLOAT_DISPATCH(w->dtype, T, {
        T *pw = w->data, *pa = slots[0]->data;
        const T *r = g->rows;
        const T l = (T)lr, eps = (T)o->epsilon.v;
        for (int64_t i = 0; i < g->n; i++) {
            T *a = pa + (int64_t)g->ids[i] * D;
            for (int64_t k = 0; k < D; k++)
                a[k] = a[k] + r[i * D + k] * r[i * D + k];
        }
        for (int64_t i = 0; i < g->n; i++) {
            const int64_t at = (int64_t)g->ids[i] * D;
            for (int64_t k = 0; k < D; k++)
                pw[at + k] = pw[at + k] - (l * r[i * D + k]) / (T)sqrt((double)(pa[at + k] + eps));
        }
    });
    return RNNC_OK;
}

const rnnc__opt_class rnnc__adagrad_class = {"Adagrad", RNNC_OPTIMIZER_ADAGRAD, 0.001, adagrad_keys,
                                             NULL, adagrad_layout, adagrad_update,
                                             adagrad_update_sparse, 0};
