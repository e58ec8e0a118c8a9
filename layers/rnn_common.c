/* rnn_common.c - shared pieces of the recurrent layers (rnn_common.h). */
#include "layers/rnn_common.h"

#include "layers/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double rnnc__rnn_clamp_rate(double v)
{
    v = v > 0.0 ? v : 0.0;
    return v < 1.0 ? v : 1.0;
}

rnnc_status rnnc__rnn_cell_check_args(const char *what, int64_t units, rnnc_act act,
                                      rnnc_act ract, int implementation)
{
    if (units < 1 || units > RNNC_CFG_MAX_UNITS)
        return rnnc_fail(RNNC_E_ARG, "%s: 'units' must be a positive integer of at most %lld, got %lld",
                         what, (long long)RNNC_CFG_MAX_UNITS, (long long)units);
    if ((int)act < 0 || act >= RNNC_ACT_COUNT || (int)ract < 0 || ract >= RNNC_ACT_COUNT)
        return rnnc_fail(RNNC_E_ARG, "%s: 'activation' / 'recurrent_activation' is not a valid rnnc_act value (%d, %d)",
                         what, (int)act, (int)ract);
    if (implementation != 1 && implementation != 2)
        return rnnc_fail(RNNC_E_ARG, "%s: 'implementation' must be 1 or 2, got %d", what,
                         implementation);
    return RNNC_OK;
}

rnnc_status rnnc__rnn_cell_masks(rnnc_rng *rng, rnnc_ctx *cx, rnnc_dtype dt, const char *who,
                                 int n, bool on, int64_t batch, int64_t width, double rate,
                                 rnnc_tensor **dst)
{
    const rnnc_shape sh = RNNC_SHAPE(batch, width);
    const size_t numel = (size_t)(batch * width);
    for (int i = 0; i < n; i++) {
        if (!on) { /* ceil(numel/2) blocks, what rnnc_rng_uniform consumes */
            rng->counter += (numel + 1) / 2;
            continue;
        }
        RNNC_TRY(rnnc_ctx_tensor(cx, dt, &sh, &dst[i]));
        double *u = malloc((numel ? numel : 1) * sizeof *u);
        if (!u)
            return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory drawing a dropout mask", who);
        rnnc_rng_uniform(rng, u, numel);
        const double keep = 1.0 / (1.0 - rate);
        for (size_t k = 0; k < numel; k++)
            rnnc_tensor_set(dst[i], k, u[k] < rate ? 0.0 : keep);
        free(u);
    }
    return RNNC_OK;
}

rnnc_status rnnc__rnn_read_seed(const rnnc_cfg *cfg, const char *what, bool *has_seed,
                                int64_t *seed)
{
    char w[300];
    const rnnc_cfg *sd = rnnc_cfg_get(cfg, "seed");
    *has_seed = false;
    if (sd && sd->type == RNNC_CFG_INT) {
        *has_seed = true;
        *seed = sd->v.i;
    } else if (sd && sd->type != RNNC_CFG_NULL) {
        return rnnc_fail(RNNC_E_ARG, "%s: 'seed' must be an integer or null, got %s%s", what,
                         rnnc_cfg_type_name(sd->type), rnnc_cfg_where(sd, w, sizeof w));
    }
    return RNNC_OK;
}

static rnnc_status read_use_cudnn(const rnnc_cfg *cfg, const char *what, rnnc_use_cudnn *out)
{
    char w[300];
    const rnnc_cfg *v = rnnc_cfg_get(cfg, "use_cudnn");
    *out = RNNC_USE_CUDNN_AUTO;
    if (!v || (v->type == RNNC_CFG_STRING && strcmp(v->v.s, "auto") == 0))
        return RNNC_OK;
    /* Python equality lets 1 and 0 pass as True and False. */
    if (v->type == RNNC_CFG_BOOL || (v->type == RNNC_CFG_INT && (v->v.i == 0 || v->v.i == 1))) {
        const bool on = v->type == RNNC_CFG_BOOL ? v->v.b : v->v.i == 1;
        *out = on ? RNNC_USE_CUDNN_TRUE : RNNC_USE_CUDNN_FALSE;
        return RNNC_OK;
    }
    return rnnc_fail(RNNC_E_ARG, "%s: invalid 'use_cudnn' (%s)%s: expected 'auto', true or false",
                     what, v->type == RNNC_CFG_STRING ? v->v.s : rnnc_cfg_type_name(v->type),
                     rnnc_cfg_where(v, w, sizeof w));
}

rnnc_status rnnc__rnn_read_layer_tail(rnnc_layer *l, const rnnc_cfg *config, const char *what,
                                      rnnc_use_cudnn *use_cudnn)
{
    char w[300];
    RNNC_TRY(rnnc_layer_read_base_config(l, config, true));
    rnnc_layer *cell = rnnc_rnn_cell_of(l);
    cell->dtype = l->dtype; /* Keras hands the layer's dtype and trainable to the cell */
    cell->trainable = l->trainable;
    if (use_cudnn)
        RNNC_TRY(read_use_cudnn(config, what, use_cudnn));
    const rnnc_cfg *tm = rnnc_cfg_get(config, "time_major");
    if (tm && !(tm->type == RNNC_CFG_BOOL && !tm->v.b) && tm->type != RNNC_CFG_NULL)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: 'time_major' (a Keras 2 argument) is only accepted as false%s",
                         what, rnnc_cfg_where(tm, w, sizeof w));
    bool autocast;
    RNNC_TRY(rnnc_cfg_read_bool(config, what, "autocast", true, &autocast));
    static const char *const shape_keys[] = {"input_shape", "batch_input_shape", "input_dim",
                                             "batch_size"};
    for (int i = 0; i < 4; i++)
        rnnc_cfg_get(config, shape_keys[i]);
    return RNNC_OK;
}

rnnc_status rnnc__rnn_subclass_create(size_t size, const rnnc_rnn_class *cls, const char *name,
                                      rnnc_dtype dtype, bool trainable, rnnc_layer *cell,
                                      const rnnc_rnn_options *ro, rnnc_rnn **out)
{
    *out = NULL;
    rnnc_rnn *r = calloc(1, size);
    if (!r) {
        rnnc_layer_destroy(cell);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    rnnc_status s = rnnc_rnn_init(r, cls, name, dtype, cell, ro);
    if (s) {
        if (r->base.cls)
            rnnc_layer_destroy(&r->base);
        else
            free(r);
        return s;
    }
    r->base.trainable = trainable;
    *out = r;
    return RNNC_OK;
}

static const char *const part[3] = {"kernel", "recurrent", "bias"};
static const char *const part_default_init[3] = {"glorot_uniform", "orthogonal", "zeros"};

void rnnc__rnn_cell_objects_clear(rnnc__rnn_cell_objects *p)
{
    for (int i = 0; i < 3; i++) {
        rnnc_initializer_destroy(p->init[i]);
        rnnc_regularizer_destroy(p->reg[i]);
        rnnc_constraint_destroy(p->cons[i]);
    }
    memset(p, 0, sizeof *p);
}

rnnc_status rnnc__rnn_cell_objects_clone(const rnnc_initializer *const init[3],
                                         const rnnc_regularizer *const reg[3],
                                         const rnnc_constraint *const cons[3], const char *what,
                                         rnnc__rnn_cell_objects *p)
{
    rnnc_status s = RNNC_OK;
    memset(p, 0, sizeof *p);
    for (int i = 0; i < 3 && !s; i++) {
        char argname[96];
        snprintf(argname, sizeof argname, "%s.%s_initializer", what, part[i]);
        s = init[i] ? rnnc_initializer_clone(init[i], &p->init[i])
                    : rnnc_initializer_from_name(part_default_init[i], argname, &p->init[i]);
        if (!s && reg[i])
            s = rnnc_regularizer_clone(reg[i], &p->reg[i]);
        if (!s && cons[i])
            s = rnnc_constraint_clone(cons[i], &p->cons[i]);
    }
    if (s)
        rnnc__rnn_cell_objects_clear(p);
    return s;
}

rnnc_status rnnc__rnn_cell_objects_read(const rnnc_cfg *cfg, const char *what,
                                        rnnc__rnn_cell_objects *p)
{
    char key[64];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "%s_initializer", part[i]);
        RNNC_TRY(rnnc_layer_config_initializer(cfg, what, key, part_default_init[i], &p->init[i]));
    }
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "%s_regularizer", part[i]);
        RNNC_TRY(rnnc_layer_config_regularizer(cfg, what, key, &p->reg[i]));
    }
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "%s_constraint", part[i]);
        RNNC_TRY(rnnc_layer_config_constraint(cfg, what, key, &p->cons[i]));
    }
    return RNNC_OK;
}

rnnc_status rnnc__rnn_cell_write_initializers(const rnnc__rnn_cell_objects *p, rnnc_cfg *cfg)
{
    char key[64];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "%s_initializer", part[i]);
        RNNC_TRY(rnnc_layer_config_set_initializer(cfg, key, p->init[i]));
    }
    return RNNC_OK;
}

rnnc_status rnnc__rnn_cell_write_regs_cons(const rnnc__rnn_cell_objects *p, rnnc_cfg *cfg,
                                           const rnnc_layer *activity)
{
    char key[64];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "%s_regularizer", part[i]);
        RNNC_TRY(rnnc_layer_config_set_regularizer(cfg, key, p->reg[i]));
    }
    if (activity) /* replaces in place where the base config already put it */
        RNNC_TRY(rnnc_layer_config_set_regularizer(cfg, "activity_regularizer",
                                                   activity->activity_regularizer));
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "%s_constraint", part[i]);
        RNNC_TRY(rnnc_layer_config_set_constraint(cfg, key, p->cons[i]));
    }
    return RNNC_OK;
}

rnnc_status rnnc__rnn_cell_add_weight(rnnc_layer *l, const rnnc__rnn_cell_objects *p, int part_i,
                                      const char *name, const rnnc_shape *shape,
                                      rnnc_tensor **out)
{
    rnnc_regularizer *reg = NULL;
    rnnc_constraint *cons = NULL;
    if (p->reg[part_i])
        RNNC_TRY(rnnc_regularizer_clone(p->reg[part_i], &reg));
    if (p->cons[part_i]) {
        rnnc_status s = rnnc_constraint_clone(p->cons[part_i], &cons);
        if (s) {
            rnnc_regularizer_destroy(reg);
            return s;
        }
    }
    return rnnc_layer_add_weight(l, name, shape, p->init[part_i], reg, cons, true, out);
}

rnnc_status rnnc__rnn_finish_create(rnnc_layer *l, const rnnc_regularizer *activity,
                                    rnnc_layer **out)
{
    if (activity) {
        rnnc_status s = rnnc_regularizer_clone(activity, &l->activity_regularizer);
        if (s) {
            rnnc_layer_destroy(l);
            return s;
        }
    }
    *out = l;
    return RNNC_OK;
}

rnnc_status rnnc__rnn_cell_standalone_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                                           int64_t F, rnnc_call_result *res)
{
    const rnnc_rnn_cell_ops *ops = ((const rnnc_rnn_cell *)l)->ops;
    const char *cn = l->cls->class_name;
    char a1[160], a2[160];
    rnnc_tensor *x = args->inputs[0], *st[RNNC_RNN_MAX_STATES], *out,
                *ns[RNNC_RNN_MAX_STATES];
    if (x->shape.ndim != 2 || x->shape.dim[1] != F)
        return rnnc_fail(RNNC_E_SHAPE, "%s '%s': expected inputs of shape (batch, %lld), got %s", cn,
                         l->name, (long long)F, rnnc_shape_str(&x->shape, a1, sizeof a1));
    RNNC_TRY(rnnc_layer_check_input_dtype(l, x));
    const int n = ops->n_states(l);
    if (args->n_inputs != 1 && args->n_inputs != 1 + n)
        return rnnc_fail(RNNC_E_ARG, "%s '%s': takes inputs and %d state(s), got %d tensors", cn,
                         l->name, n, args->n_inputs);
    for (int k = 0; k < n; k++) {
        const rnnc_shape hs = RNNC_SHAPE(x->shape.dim[0], ops->state_size(l, k));
        if (args->n_inputs == 1) {
            RNNC_TRY(rnnc_ctx_tensor(cx, l->dtype, &hs, &st[k]));
            continue;
        }
        st[k] = args->inputs[1 + k];
        if (!rnnc_shape_eq(&st[k]->shape, &hs) || st[k]->dtype != l->dtype)
            return rnnc_fail(RNNC_E_SHAPE, "%s '%s': state %d must be %s of shape %s, got %s of shape %s",
                             cn, l->name, k, rnnc_dtype_name(l->dtype),
                             rnnc_shape_str(&hs, a1, sizeof a1), rnnc_dtype_name(st[k]->dtype),
                             rnnc_shape_str(&st[k]->shape, a2, sizeof a2));
    }
    rnnc_status s = ops->begin_call ? ops->begin_call(l, cx, x->shape.dim[0], args->training) : RNNC_OK;
    if (!s)
        s = ops->step(l, cx, x, st, args->training, &out, ns);
    if (ops->end_call)
        ops->end_call(l);
    if (s)
        return s;
    res->n_outputs = 1 + n;
    res->outputs[0] = out;
    for (int k = 0; k < n; k++)
        res->outputs[1 + k] = ns[k];
    return RNNC_OK;
}
