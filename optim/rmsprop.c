/* rmsprop.c - Keras's RMSprop (rho, momentum, centered), spec 13.3:
 * epsilon inside the square root. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "optim/optimizer_internal.h"

static const rnnc__opt_key rmsprop_keys[] = {
    {"rho", false, offsetof(struct rnnc_optimizer, rho), 0.9, false},
    {"momentum", false, offsetof(struct rnnc_optimizer, momentum), 0.0, false},
    {"epsilon", false, offsetof(struct rnnc_optimizer, epsilon), 1e-7, false},
    {"centered", true, offsetof(struct rnnc_optimizer, centered), 0.0, false},
    {NULL, false, 0, 0.0, false}};

/* velocity for all variables, then momentum, then average_gradient */
static int rmsprop_layout(const rnnc_optimizer *o, rnnc__slot_group *g)
{
    int n = 0;
    g[n++] = (rnnc__slot_group){{"velocity"}, 1, 0.0};
    if (o->momentum.v > 0)
        g[n++] = (rnnc__slot_group){{"momentum"}, 1, 0.0};
    if (o->centered)
        g[n++] = (rnnc__slot_group){{"average_gradient"}, 1, 0.0};
    return n;
}

static rnnc_status rmsprop_update(const rnnc_optimizer *o, rnnc_tensor *w, const rnnc_tensor *g,
                                  rnnc_tensor *const *slots, double lr, int64_t step)
{
    (void)step;
    const bool has_mom = o->momentum.v > 0;
    RNNC_FLOAT_DISPATCH(w->dtype, T, {
        T *pw = w->data, *pv = slots[0]->data;
        T *pmom = has_mom ? slots[1]->data : NULL;
        T *pag = o->centered ? slots[has_mom ? 2 : 1]->data : NULL;
        const T *pg = g->data;
        const T rho = (T)o->rho.v, one_minus_rho = (T)(1.0 - o->rho.v);
        const T eps = (T)o->epsilon.v, l = (T)lr, mu = (T)o->momentum.v;
        for (size_t j = 0; j < w->numel; j++) {
            pv[j] = rho * pv[j] + one_minus_rho * (pg[j] * pg[j]);
            T den;
            if (pag) {
                pag[j] = rho * pag[j] + one_minus_rho * pg[j];
                den = (T)(pv[j] - pag[j] * pag[j]) + eps;
            } else {
                den = pv[j] + eps;
            }
            const T inc = (l * pg[j]) / (T)sqrt((double)den);
            if (pmom) {
                pmom[j] = mu * pmom[j] + inc;
                pw[j] = pw[j] - pmom[j];
            } else {
                pw[j] = pw[j] - inc;
            }
        }
    });
    return RNNC_OK;
}

/* Rows: rho * v + (1 - rho) * square(g) meets a dense tensor, so v
 * decays everywhere and gains the per-index sum of each occurrence's
 * (1 - rho) * g^2 (centered: the average gradient likewise with
 * (1 - rho) * g). The increment lr * g / sqrt(den) stays per occurrence
 * (den read at its row); with momentum it is summed into the dense
 * momentum, else scatter-subtracted from the looked-up rows of w. */
static rnnc_status rmsprop_update_sparse(const rnnc_optimizer *o, rnnc_tensor *w, const rnnc__rows *g,
                                         rnnc_tensor *const *slots, rnnc_tensor *const *scratch,
                                         double lr, int64_t step)
{
    (void)step;
    const bool has_mom = o->momentum.v > 0;
    const int64_t D = g->width;
    RNNC_FLOAT_DISPATCH(w->dtype, T, {
        T *pw = w->data, *pv = slots[0]->data;
        T *pmom = has_mom ? slots[1]->data : NULL;
        T *pag = o->centered ? slots[has_mom ? 2 : 1]->data : NULL;
        T *s0 = scratch[0]->data, *s1 = scratch[1]->data;
        const T *r = g->rows;
        const T rho = (T)o->rho.v, one_minus_rho = (T)(1.0 - o->rho.v);
        const T eps = (T)o->epsilon.v, l = (T)lr, mu = (T)o->momentum.v;
        memset(s0, 0, w->numel * sizeof *s0);
        if (pag)
            memset(s1, 0, w->numel * sizeof *s1);
        for (int64_t i = 0; i < g->n; i++)
            for (int64_t k = 0; k < D; k++) {
                const int64_t at = (int64_t)g->ids[i] * D + k;
                const T x = r[i * D + k];
                s0[at] += one_minus_rho * (x * x);
                if (pag)
                    s1[at] += one_minus_rho * x;
            }
        for (size_t j = 0; j < w->numel; j++) {
            pv[j] = rho * pv[j] + s0[j];
            if (pag)
                pag[j] = rho * pag[j] + s1[j];
        }
        if (pmom)
            memset(s0, 0, w->numel * sizeof *s0);
        for (int64_t i = 0; i < g->n; i++)
            for (int64_t k = 0; k < D; k++) {
                const int64_t at = (int64_t)g->ids[i] * D + k;
                const T den = pag ? (T)(pv[at] - pag[at] * pag[at]) + eps : pv[at] + eps;
                const T inc = (l * r[i * D + k]) / (T)sqrt((double)den);
                if (pmom)
                    s0[at] += inc;
                else
                    pw[at] = pw[at] - inc;
            }
        if (pmom)
            for (size_t j = 0; j < w->numel; j++) {
                pmom[j] = mu * pmom[j] + s0[j];
                pw[j] = pw[j] - pmom[j];
            }
    });
    return RNNC_OK;
}

const rnnc__opt_class rnnc__rmsprop_class = {"RMSprop", RNNC_OPTIMIZER_RMSPROP, 0.001, rmsprop_keys,
                                             NULL, rmsprop_layout, rmsprop_update,
                                             rmsprop_update_sparse, 2};
