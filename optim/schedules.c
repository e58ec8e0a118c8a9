/* schedules.c - the four Keras learning-rate schedules: construction,
 * config round trip, and the float32 evaluation at a step (schedules.h). */
#include "optim/schedules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "framework/keras_object.h"

#define MAX_PIECES 64

struct rnnc_schedule {
    rnnc_schedule_kind kind;
    char *name;
    rnnc_keras_num lr0, decay_steps, decay_rate, alpha, warmup_target, warmup_steps;
    bool staircase, has_warmup_target;
    int n_boundaries;
    rnnc_keras_num boundaries[MAX_PIECES], values[MAX_PIECES + 1];
};

static const char *const class_names[] = {"ExponentialDecay", "InverseTimeDecay",
                                          "PiecewiseConstantDecay", "CosineDecay"};
/* Keras's default `name` argument of each class. */
static const char *const default_names[] = {"ExponentialDecay", "InverseTimeDecay",
                                            "PiecewiseConstant", "CosineDecay"};

static rnnc_status sched_new(rnnc_schedule_kind kind, const char *name, rnnc_schedule **out)
{
    *out = NULL;
    rnnc_schedule *s = calloc(1, sizeof *s);
    const char *n = name ? name : default_names[kind];
    if (s)
        s->name = malloc(strlen(n) + 1);
    if (!s || !s->name) {
        free(s);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory creating a %s schedule", class_names[kind]);
    }
    strcpy(s->name, n);
    s->kind = kind;
    s->alpha = rnnc_keras_num_float(0.0);
    s->warmup_steps = rnnc_keras_num_int(0);
    *out = s;
    return RNNC_OK;
}

void rnnc_schedule_destroy(rnnc_schedule *s)
{
    if (!s)
        return;
    free(s->name);
    free(s);
}

rnnc_status rnnc_schedule_clone(const rnnc_schedule *s, rnnc_schedule **out)
{
    RNNC_TRY(sched_new(s->kind, s->name, out));
    char *name = (*out)->name;
    **out = *s;
    (*out)->name = name;
    return RNNC_OK;
}

rnnc_schedule_kind rnnc_schedule_get_kind(const rnnc_schedule *s) { return s->kind; }

static rnnc_status check_decay_steps(const char *cls, double v)
{
    if (!(v > 0))
        return rnnc_fail(RNNC_E_ARG, "%s: argument `decay_steps` must be > 0, got %g", cls, v);
    return RNNC_OK;
}

static rnnc_status decay_like(rnnc_schedule_kind kind, rnnc_keras_num lr0, rnnc_keras_num steps,
                              rnnc_keras_num rate, bool staircase, const char *name, rnnc_schedule **out)
{
    *out = NULL;
    RNNC_TRY(check_decay_steps(class_names[kind], steps.v));
    RNNC_TRY(sched_new(kind, name, out));
    (*out)->lr0 = lr0;
    (*out)->decay_steps = steps;
    (*out)->decay_rate = rate;
    (*out)->staircase = staircase;
    return RNNC_OK;
}

/* A whole double passed through the C API is echoed back as an int. */
static rnnc_keras_num num_of(double v)
{
    return v == floor(v) && fabs(v) < 9e15 ? rnnc_keras_num_int(v) : rnnc_keras_num_float(v);
}

rnnc_status rnnc_schedule_exponential_decay(double initial_learning_rate, double decay_steps,
                                            double decay_rate, bool staircase, rnnc_schedule **out)
{
    return decay_like(RNNC_SCHEDULE_EXPONENTIAL_DECAY, rnnc_keras_num_float(initial_learning_rate),
                      num_of(decay_steps), rnnc_keras_num_float(decay_rate), staircase, NULL, out);
}

rnnc_status rnnc_schedule_inverse_time_decay(double initial_learning_rate, double decay_steps,
                                             double decay_rate, bool staircase, rnnc_schedule **out)
{
    return decay_like(RNNC_SCHEDULE_INVERSE_TIME_DECAY, rnnc_keras_num_float(initial_learning_rate),
                      num_of(decay_steps), rnnc_keras_num_float(decay_rate), staircase, NULL, out);
}

static rnnc_status piecewise(const rnnc_keras_num *b, int nb, const rnnc_keras_num *v, int nv,
                             const char *name, rnnc_schedule **out)
{
    *out = NULL;
    if (nb != nv - 1)
        return rnnc_fail(RNNC_E_ARG, "PiecewiseConstantDecay: the length of boundaries should be 1 less than the length of values, got %d boundaries and %d values",
                         nb, nv);
    if (nb < 1 || nb > MAX_PIECES)
        return rnnc_fail(RNNC_E_ARG, "PiecewiseConstantDecay: between 1 and %d boundaries are supported, got %d",
                         MAX_PIECES, nb);
    RNNC_TRY(sched_new(RNNC_SCHEDULE_PIECEWISE_CONSTANT_DECAY, name, out));
    (*out)->n_boundaries = nb;
    memcpy((*out)->boundaries, b, (size_t)nb * sizeof *b);
    memcpy((*out)->values, v, (size_t)nv * sizeof *v);
    return RNNC_OK;
}

rnnc_status rnnc_schedule_piecewise_constant(const double *boundaries, int n_boundaries,
                                             const double *values, int n_values, rnnc_schedule **out)
{
    rnnc_keras_num b[MAX_PIECES], v[MAX_PIECES + 1];
    *out = NULL;
    if (n_boundaries < 0 || n_boundaries > MAX_PIECES || n_values < 0 || n_values > MAX_PIECES + 1 ||
        (n_boundaries && !boundaries) || (n_values && !values))
        return rnnc_fail(RNNC_E_ARG, "PiecewiseConstantDecay: bad boundaries/values arrays (%d, %d entries)",
                         n_boundaries, n_values);
    for (int i = 0; i < n_boundaries; i++)
        b[i] = num_of(boundaries[i]);
    for (int i = 0; i < n_values; i++)
        v[i] = rnnc_keras_num_float(values[i]);
    return piecewise(b, n_boundaries, v, n_values, NULL, out);
}

rnnc_status rnnc_schedule_cosine_decay(double initial_learning_rate, double decay_steps, double alpha,
                                       bool has_warmup_target, double warmup_target,
                                       double warmup_steps, rnnc_schedule **out)
{
    *out = NULL;
    RNNC_TRY(check_decay_steps("CosineDecay", decay_steps));
    RNNC_TRY(sched_new(RNNC_SCHEDULE_COSINE_DECAY, NULL, out));
    rnnc_schedule *s = *out;
    s->lr0 = rnnc_keras_num_float(initial_learning_rate);
    s->decay_steps = num_of(decay_steps);
    s->alpha = rnnc_keras_num_float(alpha);
    s->has_warmup_target = has_warmup_target;
    s->warmup_target = rnnc_keras_num_float(warmup_target);
    s->warmup_steps = num_of(warmup_steps);
    return RNNC_OK;
}

/* ---- evaluation (float32, op by op, as Keras's ops on float32 tensors) */

static float cosine_part(float step, float decay_steps, float from_lr, double alpha)
{
    const float pi = (float)3.14159265358979323846; /* math.pi; M_PI is not C11 */
    const float frac = step / decay_steps;
    const float cosine = 0.5f * (1.0f + cosf(pi * frac));
    const float decayed = (float)(1.0 - alpha) * cosine + (float)alpha;
    return from_lr * decayed;
}

double rnnc_schedule_value(const rnnc_schedule *s, int64_t step)
{
    const float lr0 = (float)s->lr0.v;
    switch (s->kind) {
    case RNNC_SCHEDULE_EXPONENTIAL_DECAY: {
        float p = (float)step / (float)s->decay_steps.v;
        if (s->staircase)
            p = floorf(p);
        return (double)(lr0 * powf((float)s->decay_rate.v, p));
    }
    case RNNC_SCHEDULE_INVERSE_TIME_DECAY: {
        float p = (float)step / (float)s->decay_steps.v;
        if (s->staircase)
            p = floorf(p);
        return (double)(lr0 / (1.0f + (float)s->decay_rate.v * p));
    }
    case RNNC_SCHEDULE_PIECEWISE_CONSTANT_DECAY: {
        /* Keras casts the boundaries to the step's integer dtype. */
        const int nb = s->n_boundaries;
        float r = 0.0f;
        if (step <= (int64_t)s->boundaries[0].v)
            r += (float)s->values[0].v;
        if (step > (int64_t)s->boundaries[nb - 1].v)
            r += (float)s->values[nb].v;
        for (int i = 0; i + 1 < nb; i++)
            if (step > (int64_t)s->boundaries[i].v && step <= (int64_t)s->boundaries[i + 1].v)
                r += (float)s->values[i + 1].v;
        return (double)r;
    }
    case RNNC_SCHEDULE_COSINE_DECAY: {
        const float ds = (float)s->decay_steps.v;
        float st = (float)step;
        if (!s->has_warmup_target) {
            st = fminf(st, ds);
            return (double)cosine_part(st, ds, lr0, s->alpha.v);
        }
        const float target = (float)s->warmup_target.v, ws = (float)s->warmup_steps.v;
        st = fminf(st, ds + ws);
        if (st < ws)
            return (double)((target - lr0) * (st / ws) + lr0);
        return (double)cosine_part(st - ws, ds, target, s->alpha.v);
    }
    }
    return NAN;
}

/* ---- configs ------------------------------------------------------------ */

static rnnc_status read_num_list(const rnnc_cfg *conf, const char *cls, const char *key,
                                 rnnc_keras_num *out, int cap, int *n)
{
    char where[256];
    const rnnc_cfg *l = rnnc_cfg_get(conf, key);
    *n = 0;
    if (!l || l->type != RNNC_CFG_LIST)
        return rnnc_fail(RNNC_E_ARG, "%s: '%s' must be a list of numbers%s%s", cls, key,
                         l ? ", got " : " (missing)", l ? rnnc_cfg_type_name(l->type) : "");
    if (l->n > (size_t)cap)
        return rnnc_fail(RNNC_E_ARG, "%s: '%s' has %zu entries; at most %d are supported%s", cls, key,
                         l->n, cap, rnnc_cfg_where(l, where, sizeof where));
    for (size_t i = 0; i < l->n; i++) {
        const rnnc_cfg *e = l->items[i];
        if (e->type == RNNC_CFG_INT)
            out[i] = rnnc_keras_num_int((double)e->v.i);
        else if (e->type == RNNC_CFG_FLOAT)
            out[i] = rnnc_keras_num_float(e->v.f);
        else
            return rnnc_fail(RNNC_E_ARG, "%s: '%s'[%zu] must be a number, got %s%s", cls, key, i,
                             rnnc_cfg_type_name(e->type), rnnc_cfg_where(e, where, sizeof where));
    }
    *n = (int)l->n;
    return RNNC_OK;
}

static rnnc_status require_num(const rnnc_cfg *conf, const char *cls, const char *key, rnnc_keras_num *out)
{
    if (!conf || !rnnc_cfg_peek(conf, key) || rnnc_cfg_peek(conf, key)->type == RNNC_CFG_NULL)
        return rnnc_cfg_missing(conf, cls, key, NULL);
    return rnnc_keras_num_read(conf, cls, key, rnnc_keras_num_float(0), out);
}

static const rnnc_keras_name sched_table[] = {
    {"ExponentialDecay", RNNC_SCHEDULE_EXPONENTIAL_DECAY},
    {"InverseTimeDecay", RNNC_SCHEDULE_INVERSE_TIME_DECAY},
    {"PiecewiseConstantDecay", RNNC_SCHEDULE_PIECEWISE_CONSTANT_DECAY},
    {"CosineDecay", RNNC_SCHEDULE_COSINE_DECAY},
    {NULL, 0}};

rnnc_status rnnc_schedule_from_config(const rnnc_cfg *c, const char *what, rnnc_schedule **out)
{
    rnnc_keras_object obj;
    int kind;
    *out = NULL;
    what = rnnc_keras_what(what, "learning_rate");
    if (!c)
        return rnnc_fail(RNNC_E_ARG, "%s: no schedule given", what);
    RNNC_TRY(rnnc_keras_object_parse(c, "learning rate schedule", "keras.optimizers.schedules", what, &obj));
    RNNC_TRY(rnnc_keras_name_lookup(sched_table, obj.class_name, "learning rate schedule", what, &kind));
    const rnnc_cfg *conf = obj.config;
    const char *cls = class_names[kind], *name = NULL;
    rnnc_status s = RNNC_OK;
    if (conf)
        RNNC_TRY(rnnc_cfg_read_string(conf, cls, "name", NULL, &name));
    if (kind == RNNC_SCHEDULE_PIECEWISE_CONSTANT_DECAY) {
        rnnc_keras_num b[MAX_PIECES], v[MAX_PIECES + 1];
        int nb, nv;
        if (!conf)
            return rnnc_fail(RNNC_E_ARG, "%s: %s needs a config with 'boundaries' and 'values'", what, cls);
        if ((s = read_num_list(conf, cls, "boundaries", b, MAX_PIECES, &nb)) ||
            (s = read_num_list(conf, cls, "values", v, MAX_PIECES + 1, &nv)))
            return rnnc_fail_context(s, "%s: ", what);
        static const char *const known[] = {"boundaries", "values", "name", NULL};
        if ((s = rnnc_cfg_check_unread(conf, what, known)))
            return s;
        s = piecewise(b, nb, v, nv, name, out);
        return s ? rnnc_fail_context(s, "%s: ", what) : RNNC_OK;
    }
    rnnc_keras_num lr0, steps;
    if ((s = require_num(conf, cls, "initial_learning_rate", &lr0)) ||
        (s = require_num(conf, cls, "decay_steps", &steps)))
        return rnnc_fail_context(s, "%s: ", what);
    if (kind == RNNC_SCHEDULE_COSINE_DECAY) {
        rnnc_keras_num alpha, wt, ws;
        const rnnc_cfg *wtc = rnnc_cfg_peek(conf, "warmup_target");
        if ((s = rnnc_keras_num_read(conf, cls, "alpha", rnnc_keras_num_float(0.0), &alpha)) ||
            (s = rnnc_keras_num_read(conf, cls, "warmup_target", rnnc_keras_num_float(0.0), &wt)) ||
            (s = rnnc_keras_num_read(conf, cls, "warmup_steps", rnnc_keras_num_int(0), &ws)))
            return rnnc_fail_context(s, "%s: ", what);
        static const char *const known[] = {"initial_learning_rate", "decay_steps", "alpha", "name",
                                            "warmup_target", "warmup_steps", NULL};
        if ((s = rnnc_cfg_check_unread(conf, what, known)))
            return s;
        if ((s = check_decay_steps(cls, steps.v)))
            return rnnc_fail_context(s, "%s: ", what);
        RNNC_TRY(sched_new(RNNC_SCHEDULE_COSINE_DECAY, name, out));
        (*out)->lr0 = lr0;
        (*out)->decay_steps = steps;
        (*out)->alpha = alpha;
        (*out)->has_warmup_target = wtc && wtc->type != RNNC_CFG_NULL;
        (*out)->warmup_target = wt;
        (*out)->warmup_steps = ws;
        return RNNC_OK;
    }
    rnnc_keras_num rate;
    bool staircase;
    if ((s = require_num(conf, cls, "decay_rate", &rate)) ||
        (s = rnnc_cfg_read_bool(conf, cls, "staircase", false, &staircase)))
        return rnnc_fail_context(s, "%s: ", what);
    static const char *const known[] = {"initial_learning_rate", "decay_steps", "decay_rate",
                                        "staircase", "name", NULL};
    if ((s = rnnc_cfg_check_unread(conf, what, known)))
        return s;
    s = decay_like((rnnc_schedule_kind)kind, lr0, steps, rate, staircase, name, out);
    return s ? rnnc_fail_context(s, "%s: ", what) : RNNC_OK;
}

static rnnc_cfg *num_list(const rnnc_keras_num *v, int n)
{
    rnnc_cfg *l = rnnc_cfg_list();
    for (int i = 0; l && i < n; i++)
        if (rnnc_cfg_push(l, v[i].is_int ? rnnc_cfg_int((int64_t)v[i].v) : rnnc_cfg_float(v[i].v))) {
            rnnc_cfg_destroy(l);
            return NULL;
        }
    return l;
}

rnnc_status rnnc_schedule_get_config(const rnnc_schedule *s, rnnc_cfg **out)
{
    rnnc_cfg *c = rnnc_cfg_map();
    rnnc_status st = RNNC_OK;
    *out = NULL;
    if (!c)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    switch (s->kind) {
    case RNNC_SCHEDULE_EXPONENTIAL_DECAY:
    case RNNC_SCHEDULE_INVERSE_TIME_DECAY:
        if ((st = rnnc_keras_num_set(c, "initial_learning_rate", s->lr0)) ||
            (st = rnnc_keras_num_set(c, "decay_steps", s->decay_steps)) ||
            (st = rnnc_keras_num_set(c, "decay_rate", s->decay_rate)) ||
            (st = rnnc_cfg_set_bool(c, "staircase", s->staircase)) ||
            (st = rnnc_cfg_set_string(c, "name", s->name)))
            goto fail;
        break;
    case RNNC_SCHEDULE_PIECEWISE_CONSTANT_DECAY: {
        rnnc_cfg *b = num_list(s->boundaries, s->n_boundaries);
        rnnc_cfg *v = num_list(s->values, s->n_boundaries + 1);
        if (!b || !v) {
            rnnc_cfg_destroy(b);
            rnnc_cfg_destroy(v);
            st = rnnc_fail(RNNC_E_NOMEM, "out of memory");
            goto fail;
        }
        if ((st = rnnc_cfg_set(c, "boundaries", b))) {
            rnnc_cfg_destroy(v);
            goto fail;
        }
        if ((st = rnnc_cfg_set(c, "values", v)) || (st = rnnc_cfg_set_string(c, "name", s->name)))
            goto fail;
        break;
    }
    case RNNC_SCHEDULE_COSINE_DECAY:
        if ((st = rnnc_keras_num_set(c, "initial_learning_rate", s->lr0)) ||
            (st = rnnc_keras_num_set(c, "decay_steps", s->decay_steps)) ||
            (st = rnnc_keras_num_set(c, "alpha", s->alpha)) ||
            (st = rnnc_cfg_set_string(c, "name", s->name)))
            goto fail;
        st = s->has_warmup_target ? rnnc_keras_num_set(c, "warmup_target", s->warmup_target)
                                  : rnnc_cfg_set_null(c, "warmup_target");
        if (st || (st = rnnc_keras_num_set(c, "warmup_steps", s->warmup_steps)))
            goto fail;
        break;
    }
    *out = c;
    return RNNC_OK;
fail:
    rnnc_cfg_destroy(c);
    return st;
}

rnnc_status rnnc_schedule_serialize(const rnnc_schedule *s, rnnc_cfg **out)
{
    rnnc_cfg *c;
    *out = NULL;
    RNNC_TRY(rnnc_schedule_get_config(s, &c));
    return rnnc_keras_object_envelope("keras.optimizers.schedules", class_names[s->kind], c, out);
}
