/* adam.c - Keras's Adam and AdamW (amsgrad), spec 13.3: epsilon outside the
 * square root and not bias-corrected; AdamW is Adam plus the base class's
 * decoupled weight decay (default 0.004). */
#include <math.h>
#include <stddef.h>

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

static rnnc_status adam_update(const rnnc_optimizer *o, rnnc_tensor *w, const rnnc_tensor *g,
                               rnnc_tensor *const *slots, double lr, int64_t step)
{
    RNNC_FLOAT_DISPATCH(w->dtype, T, {
        T *pw = w->data, *pm = slots[0]->data, *pv = slots[1]->data;
        T *ph = o->amsgrad ? slots[2]->data : NULL;
        const T *pg = g->data;
        const T t = (T)step;
        const T b1p = (T)pow((double)(T)o->beta_1.v, (double)t);
        const T b2p = (T)pow((double)(T)o->beta_2.v, (double)t);
        /* alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) */
        const T alpha = (T)((T)lr * (T)sqrt((double)(T)(1 - b2p))) / (T)(1 - b1p);
        const T c1 = (T)(1.0 - o->beta_1.v), c2 = (T)(1.0 - o->beta_2.v), eps = (T)o->epsilon.v;
        for (size_t j = 0; j < w->numel; j++) {
            pm[j] = pm[j] + (pg[j] - pm[j]) * c1;
            pv[j] = pv[j] + (pg[j] * pg[j] - pv[j]) * c2;
            T v = pv[j];
            if (ph) {
                ph[j] = ph[j] > v ? ph[j] : v;
                v = ph[j];
            }
            pw[j] = pw[j] - (pm[j] * alpha) / ((T)sqrt((double)v) + eps);
        }
    });
    return RNNC_OK;
}

const rnnc__opt_class rnnc__adam_class = {"Adam", RNNC_OPTIMIZER_ADAM, 0.001, adam_keys, NULL,
                                          adam_layout, adam_update};
const rnnc__opt_class rnnc__adamw_class = {"AdamW", RNNC_OPTIMIZER_ADAMW, 0.001, adam_keys, NULL,
                                           adam_layout, adam_update};
