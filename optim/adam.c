/* adam.c - Keras's Adam and AdamW (amsgrad), spec 13.3: epsilon outside the
 * square root and not bias-corrected; AdamW is Adam plus the base class's
 * decoupled weight decay (default 0.004, applied by optimizer.c). A float32
 * dense update goes through the backend op table of the weight's device
 * (framework/backend_ops.h; the CPU table runs adam_kernel's loop); float64
 * and the rows updates run adam_kernel here. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "framework/backend_ops.h"
#include "optim/optimizer_internal.h"

static const rnnc__opt_key adam_keys[] = {
    {"beta_1", false, offsetof(struct rnnc_optimizer, beta_1), 0.9, false},
    {"beta_2", false, offsetof(struct rnnc_optimizer, beta_2), 0.999, false},
    {"epsilon", false, offsetof(struct rnnc_optimizer, epsilon), 1e-7, false},
    {"amsgrad", true, offsetof(struct rnnc_optimizer, amsgrad), 0.0, false},
    {NULL, false, 0, 0.0, false}};

static int adam_layout(const rnnc_optimizer *o, rnnc__slot_group *g)
{
    g[0] = (rnnc__slot_group){{"momentum", "velocity"}, 2, 0.0};
    if (!o->amsgrad)
        return 1;
    g[1] = (rnnc__slot_group){{"velocity_hat"}, 1, 0.0};
    return 2;
}

/* g: the gradient (w's shape); sq: what v moves toward, or NULL for g * g. */
static void adam_kernel(const rnnc_optimizer *o, rnnc_tensor *w, const void *g, const void *sq,
                        rnnc_tensor *const *slots, double lr, int64_t step)
{
    RNNC_FLOAT_DISPATCH(w->dtype, T, {
        T *pw = w->data, *pm = slots[0]->data, *pv = slots[1]->data;
        T *ph = o->amsgrad ? slots[2]->data : NULL;
        const T *pg = g, *psq = sq;
        const T t = (T)step;
        /* Keras: ops.power(ops.cast(beta, dtype), t); the cast of a Python
         * float goes through a float32 tensor, also for float64 variables */
        const T b1p = (T)pow((double)(float)o->beta_1.v, (double)t);
        const T b2p = (T)pow((double)(float)o->beta_2.v, (double)t);
        /* alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) */
        const T alpha = (T)((T)lr * (T)sqrt((double)(T)(1 - b2p))) / (T)(1 - b1p);
        const T c1 = (T)(1.0 - o->beta_1.v), c2 = (T)(1.0 - o->beta_2.v), eps = (T)o->epsilon.v;
        for (size_t j = 0; j < w->numel; j++) {
            pm[j] = pm[j] + (pg[j] - pm[j]) * c1;
            pv[j] = pv[j] + ((psq ? psq[j] : pg[j] * pg[j]) - pv[j]) * c2;
            T v = pv[j];
            if (ph) {
                ph[j] = ph[j] > v ? ph[j] : v;
                v = ph[j];
            }
            pw[j] = pw[j] - (pm[j] * alpha) / ((T)sqrt((double)v) + eps);
        }
    });
}

static rnnc_status adam_update(const rnnc_optimizer *o, rnnc_tensor *w, const rnnc_tensor *g,
                               rnnc_tensor *const *slots, double lr, int64_t step)
{
    if (w->dtype == RNNC_F32) {
        const rnnc_backend_ops *be;
        RNNC_TRY(rnnc_backend_ops_for(w, RNNC_BOP_ADAM, "Adam update", &be));
        rnnc_bbuf bw = rnnc_bbuf_view(be, RNNC_F32, w->numel, w->data);
        rnnc_bbuf bg = rnnc_bbuf_view(be, RNNC_F32, g->numel, g->data);
        rnnc_bbuf bm = rnnc_bbuf_view(be, RNNC_F32, w->numel, slots[0]->data);
        rnnc_bbuf bv = rnnc_bbuf_view(be, RNNC_F32, w->numel, slots[1]->data);
        rnnc_bbuf bh = rnnc_bbuf_view(be, RNNC_F32, w->numel, o->amsgrad ? slots[2]->data : NULL);
        const rnnc_adam_params p = {lr,   o->beta_1.v, o->beta_2.v, o->epsilon.v, step,
                                    o->amsgrad, 0.0 /* decay: optimizer.c */};
        return be->adam(&p, &bw, &bg, &bm, &bv, o->amsgrad ? &bh : NULL, NULL);
    }
    adam_kernel(o, w, g->data, NULL, slots, lr, step);
    return RNNC_OK;
}

/* Rows: Keras's g - m and square(g) - v meet dense tensors, so m moves
 * toward the rows summed per index but v toward the sum of each
 * occurrence's square (not the square of the sum); every row of m, v and
 * w moves, as in Keras. */
static rnnc_status adam_update_sparse(const rnnc_optimizer *o, rnnc_tensor *w, const rnnc__rows *g,
                                      rnnc_tensor *const *slots, rnnc_tensor *const *scratch,
                                      double lr, int64_t step)
{
    const int64_t D = g->width;
    rnnc__rows_sum(scratch[0], g);
    RNNC_FLOAT_DISPATCH(w->dtype, T, {
        T *sq = scratch[1]->data;
        const T *r = g->rows;
        memset(sq, 0, w->numel * sizeof *sq);
        for (int64_t i = 0; i < g->n; i++)
            for (int64_t k = 0; k < D; k++)
                sq[(int64_t)g->ids[i] * D + k] += r[i * D + k] * r[i * D + k];
    });
    adam_kernel(o, w, scratch[0]->data, scratch[1]->data, slots, lr, step);
    return RNNC_OK;
}

const rnnc__opt_class rnnc__adam_class = {"Adam", RNNC_OPTIMIZER_ADAM, 0.001, adam_keys, NULL,
                                          adam_layout, adam_update, adam_update_sparse, 2};
const rnnc__opt_class rnnc__adamw_class = {"AdamW", RNNC_OPTIMIZER_ADAMW, 0.001, adam_keys, NULL,
                                           adam_layout, adam_update, adam_update_sparse, 2};
