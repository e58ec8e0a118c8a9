/* optimizer.c - the optimizer base (Keras's BaseOptimizer): arguments and
 * their validation, config round trip, slot creation, and apply() with
 * clipping, weight decay, EMA, gradient accumulation, constraints and the
 * iteration counter. The update rules live in sgd.c, adam.c, rmsprop.c and
 * adagrad.c. See optimizer.h. */
#include "optim/optimizer_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/constraints.h"
#include "framework/sparse_grad.h"

static const rnnc__opt_class *const classes[RNNC_OPTIMIZER_KIND_COUNT] = {
    &rnnc__sgd_class, &rnnc__adam_class, &rnnc__adamw_class, &rnnc__rmsprop_class,
    &rnnc__adagrad_class};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static const rnnc_keras_num NONE = {NAN, false};
static bool is_none(rnnc_keras_num n) { return isnan(n.v); }

rnnc_optimizer_options rnnc_optimizer_options_default(void)
{
    rnnc_optimizer_options o;
    memset(&o, 0, sizeof o);
    o.learning_rate = NAN;
    o.weight_decay = o.clipnorm = o.clipvalue = o.global_clipnorm = NAN;
    o.ema_momentum = NAN;
    o.loss_scale_factor = NAN;
    o.momentum = o.beta_1 = o.beta_2 = o.epsilon = o.rho = o.initial_accumulator_value = NAN;
    return o;
}

/* Keras's auto_name: snake_case of the class plus a per-name counter. */
static struct {
    char key[32];
    int count;
} name_counts[16];
static int n_name_counts;

static void auto_name(const char *class_name, char *out, size_t cap)
{
    char base[32];
    rnnc_snake_case(class_name, base, sizeof base);
    for (int i = 0; i < n_name_counts; i++)
        if (strcmp(name_counts[i].key, base) == 0) {
            snprintf(out, cap, "%s_%d", base, name_counts[i].count++);
            return;
        }
    if (n_name_counts < (int)(sizeof name_counts / sizeof name_counts[0])) {
        snprintf(name_counts[n_name_counts].key, sizeof name_counts[0].key, "%s", base);
        name_counts[n_name_counts++].count = 1;
    }
    snprintf(out, cap, "%s", base);
}

/* A fresh optimizer of class cls with Keras's defaults (no variables yet). */
static rnnc_optimizer *opt_alloc(const rnnc__opt_class *cls)
{
    rnnc_optimizer *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->cls = cls;
    o->weight_decay = o->clipnorm = o->clipvalue = o->global_clipnorm = NONE;
    o->loss_scale_factor = NONE;
    o->ema_momentum = rnnc_keras_num_float(0.99);
    o->ema_overwrite_echo = o->accum_echo = NONE;
    if (cls->kind == RNNC_OPTIMIZER_ADAMW)
        o->weight_decay = rnnc_keras_num_float(0.004);
    for (const rnnc__opt_key *k = cls->keys; k->key; k++) {
        if (k->is_bool)
            *rnnc__opt_bool(o, k->offset) = k->dflt_bool;
        else
            *rnnc__opt_num(o, k->offset) = rnnc_keras_num_float(k->dflt);
    }
    return o;
}

static void free_built(rnnc_optimizer *o)
{
    for (int i = 0; i < o->n_vars; i++) {
        free(o->var_names ? o->var_names[i] : NULL);
        if (o->average)
            rnnc_tensor_destroy(o->average[i]);
        if (o->accum)
            rnnc_tensor_destroy(o->accum[i]);
        if (o->gbuf)
            rnnc_tensor_destroy(o->gbuf[i]);
        if (o->rows) {
            free(o->rows[i].ids);
            free(o->rows[i].rows);
        }
        for (int k = 0; o->sscratch && k < RNNC__OPT_SPARSE_SCRATCH; k++)
            rnnc_tensor_destroy(o->sscratch[i * RNNC__OPT_SPARSE_SCRATCH + k]);
        for (int k = 0; o->slots && k < o->n_kinds; k++)
            rnnc_tensor_destroy(o->slots[i * o->n_kinds + k]);
    }
    free(o->vars);
    free(o->var_names);
    free(o->average);
    free(o->accum);
    free(o->gbuf);
    free(o->rows);
    free(o->sscratch);
    o->rows = NULL;
    o->sscratch = NULL;
    free(o->slots);
    o->vars = NULL;
    o->var_names = NULL;
    o->average = o->accum = o->gbuf = o->slots = NULL;
    o->n_vars = 0;
    o->n_kinds = 0;
    o->built = false;
}

static void free_state_list(rnnc_optimizer *o)
{
    for (int j = 0; j < o->n_state; j++)
        free(o->state_names ? o->state_names[j] : NULL);
    free(o->state_names);
    free(o->state);
    o->state_names = NULL;
    o->state = NULL;
    o->n_state = 0;
}

void rnnc_optimizer_destroy(rnnc_optimizer *o)
{
    if (!o)
        return;
    free_state_list(o);
    free_built(o);
    for (int i = 0; i < o->n_exclude; i++)
        free(o->exclude[i]);
    free(o->exclude);
    rnnc_tensor_destroy(o->iteration);
    rnnc_tensor_destroy(o->lr);
    rnnc_schedule_destroy(o->schedule);
    free(o->name);
    free(o);
}

/* Rebuilds the ordered (name, tensor) list of the optimizer's variables. */
static rnnc_status rebuild_state_list(rnnc_optimizer *o)
{
    free_state_list(o);
    int n = 1 + (o->lr != NULL);
    if (o->built)
        n += o->n_vars * ((o->average != NULL) + (o->accum != NULL) + o->n_kinds);
    o->state = calloc((size_t)n, sizeof *o->state);
    o->state_names = calloc((size_t)n, sizeof *o->state_names);
    if (!o->state || !o->state_names)
        return rnnc_fail(RNNC_E_NOMEM, "optimizer '%s': out of memory", o->name);
    int j = 0;
#define PUSH(nm, t)                                                                      \
    do {                                                                                 \
        if (!(o->state_names[j] = dup_str(nm)))                                          \
            return rnnc_fail(RNNC_E_NOMEM, "optimizer '%s': out of memory", o->name);    \
        o->state[j].name = o->state_names[j];                                            \
        o->state[j].value = (t);                                                         \
        j++;                                                                             \
        o->n_state = j;                                                                  \
    } while (0)
    PUSH("iteration", o->iteration);
    if (o->lr)
        PUSH("learning_rate", o->lr);
    if (o->built) {
        char buf[256];
        if (o->average)
            for (int i = 0; i < o->n_vars; i++) {
                snprintf(buf, sizeof buf, "%s_average", o->var_names[i]);
                PUSH(buf, o->average[i]);
            }
        if (o->accum)
            for (int i = 0; i < o->n_vars; i++) {
                snprintf(buf, sizeof buf, "%s_gradient_accumulator", o->var_names[i]);
                PUSH(buf, o->accum[i]);
            }
        rnnc__slot_group groups[RNNC__OPT_MAX_KINDS];
        const int ng = o->cls->layout(o, groups);
        int k0 = 0;
        for (int gi = 0; gi < ng; gi++) {
            for (int i = 0; i < o->n_vars; i++)
                for (int k = 0; k < groups[gi].n_kinds; k++) {
                    snprintf(buf, sizeof buf, "%s_%s", o->var_names[i], groups[gi].kinds[k]);
                    PUSH(buf, o->slots[i * o->n_kinds + k0 + k]);
                }
            k0 += groups[gi].n_kinds;
        }
    }
#undef PUSH
    return RNNC_OK;
}

/* Validation shared by create and from_config (BaseOptimizer.__init__). */
static rnnc_status finish(rnnc_optimizer *o, const char *name, double lr, const char *what)
{
    const char *cls = o->cls->class_name;
    const int n_clip = !is_none(o->clipnorm) + !is_none(o->clipvalue) + !is_none(o->global_clipnorm);
    if (n_clip > 1)
        return rnnc_fail(RNNC_E_ARG, "%s: %s: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set (got clipnorm=%g, clipvalue=%g, global_clipnorm=%g; nan = None)",
                         what, cls, o->clipnorm.v, o->clipvalue.v, o->global_clipnorm.v);
    if (o->accum_steps && o->accum_steps < 2)
        return rnnc_fail(RNNC_E_ARG, "%s: %s: `gradient_accumulation_steps` must be an integer >= 2, got %lld",
                         what, cls, (long long)o->accum_steps);
    if (o->use_ema) {
        if (!(o->ema_momentum.v >= 0 && o->ema_momentum.v <= 1))
            return rnnc_fail(RNNC_E_ARG, "%s: %s: `ema_momentum` must be in the range [0, 1], got %g",
                             what, cls, o->ema_momentum.v);
        if (o->ema_overwrite_frequency < 0)
            return rnnc_fail(RNNC_E_ARG, "%s: %s: `ema_overwrite_frequency` must be an integer >= 1 or None, got %lld",
                             what, cls, (long long)o->ema_overwrite_frequency);
    }
    if (o->cls->kind == RNNC_OPTIMIZER_ADAMW && is_none(o->weight_decay))
        return rnnc_fail(RNNC_E_ARG, "%s: AdamW: argument `weight_decay` must be a float, got None", what);
    if (!is_none(o->loss_scale_factor) && o->loss_scale_factor.v == 0)
        return rnnc_fail(RNNC_E_ARG, "%s: %s: `loss_scale_factor` must not be 0", what, cls);
    if (o->cls->check)
        RNNC_TRY(o->cls->check(o, what));
    if (!o->schedule && !isfinite(lr))
        return rnnc_fail(RNNC_E_ARG, "%s: %s: learning_rate must be a finite float, got %g", what, cls, lr);
    char buf[64];
    if (!name) {
        auto_name(cls, buf, sizeof buf);
        name = buf;
    }
    if (!(o->name = dup_str(name)))
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    RNNC_TRY(rnnc_tensor_create(RNNC_I64, &(rnnc_shape){0}, &o->iteration));
    if (!o->schedule) {
        RNNC_TRY(rnnc_tensor_create(RNNC_F32, &(rnnc_shape){0}, &o->lr));
        rnnc_tensor_set(o->lr, 0, lr);
    }
    return rebuild_state_list(o);
}

rnnc_status rnnc_optimizer_create(rnnc_optimizer_kind kind, const rnnc_optimizer_options *opts,
                                  rnnc_optimizer **out)
{
    rnnc_optimizer_options d = rnnc_optimizer_options_default();
    *out = NULL;
    if ((unsigned)kind >= RNNC_OPTIMIZER_KIND_COUNT)
        return rnnc_fail(RNNC_E_ARG, "optimizer: unknown kind %d", (int)kind);
    if (!opts)
        opts = &d;
    const rnnc__opt_class *cls = classes[kind];
    rnnc_optimizer *o = opt_alloc(cls);
    if (!o)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
#define NUM_OPT(field, src) \
    if (!isnan(opts->src))  \
        o->field = rnnc_keras_num_float(opts->src);
    NUM_OPT(weight_decay, weight_decay)
    NUM_OPT(clipnorm, clipnorm)
    NUM_OPT(clipvalue, clipvalue)
    NUM_OPT(global_clipnorm, global_clipnorm)
    NUM_OPT(ema_momentum, ema_momentum)
    NUM_OPT(loss_scale_factor, loss_scale_factor)
    NUM_OPT(momentum, momentum)
    NUM_OPT(beta_1, beta_1)
    NUM_OPT(beta_2, beta_2)
    NUM_OPT(epsilon, epsilon)
    NUM_OPT(rho, rho)
    NUM_OPT(initial_accumulator_value, initial_accumulator_value)
#undef NUM_OPT
    o->nesterov = opts->nesterov;
    o->amsgrad = opts->amsgrad;
    o->centered = opts->centered;
    o->use_ema = opts->use_ema;
    o->ema_overwrite_frequency = opts->ema_overwrite_frequency;
    if (opts->ema_overwrite_frequency)
        o->ema_overwrite_echo = rnnc_keras_num_int((double)opts->ema_overwrite_frequency);
    o->accum_steps = opts->gradient_accumulation_steps;
    if (opts->gradient_accumulation_steps)
        o->accum_echo = rnnc_keras_num_int((double)opts->gradient_accumulation_steps);
    rnnc_status s = RNNC_OK;
    if (opts->schedule)
        s = rnnc_schedule_clone(opts->schedule, &o->schedule);
    const double lr = isnan(opts->learning_rate) ? cls->default_lr : opts->learning_rate;
    if (s || (s = finish(o, opts->name, lr, cls->class_name))) {
        rnnc_optimizer_destroy(o);
        return s;
    }
    *out = o;
    return RNNC_OK;
}

/* ---- from_config / get_config ----------------------------------------- */

static const rnnc_keras_name class_table[] = {
    {"sgd", RNNC_OPTIMIZER_SGD},         {"adam", RNNC_OPTIMIZER_ADAM},
    {"adamw", RNNC_OPTIMIZER_ADAMW},     {"rmsprop", RNNC_OPTIMIZER_RMSPROP},
    {"adagrad", RNNC_OPTIMIZER_ADAGRAD}, {NULL, 0}};

/* An optional number that may be null (None). */
static rnnc_status read_opt_num(const rnnc_cfg *conf, const char *cls, const char *key, rnnc_keras_num *out)
{
    return rnnc_keras_num_read(conf, cls, key, NONE, out);
}

rnnc_status rnnc_optimizer_from_config(const rnnc_cfg *c, const char *what, rnnc_optimizer **out)
{
    char where[256], lower[64];
    rnnc_keras_object obj;
    int kind;
    *out = NULL;
    what = rnnc_keras_what(what, "optimizer");
    if (!c)
        return rnnc_fail(RNNC_E_ARG, "%s: no optimizer given", what);
    RNNC_TRY(rnnc_keras_object_parse(c, "optimizer", "keras.optimizers", what, &obj));
    /* keras.optimizers.get/deserialize lower-case the class name */
    size_t i = 0;
    for (; obj.class_name[i] && i + 1 < sizeof lower; i++)
        lower[i] = (char)tolower((unsigned char)obj.class_name[i]);
    lower[i] = '\0';
    RNNC_TRY(rnnc_keras_name_lookup(class_table, lower, "optimizer", what, &kind));
    const rnnc__opt_class *cls = classes[kind];
    rnnc_optimizer *o = opt_alloc(cls);
    if (!o)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    const rnnc_cfg *conf = obj.config;
    const char *cn = cls->class_name, *name = NULL;
    double lr = cls->default_lr;
    rnnc_status s = RNNC_OK;
    if (conf) {
        const rnnc_cfg *lrc = rnnc_cfg_get(conf, "learning_rate");
        if (lrc && lrc->type == RNNC_CFG_MAP) {
            s = rnnc_schedule_from_config(lrc, what, &o->schedule);
        } else if (lrc && lrc->type == RNNC_CFG_FLOAT) {
            lr = lrc->v.f;
        } else if (lrc) {
            s = rnnc_fail(RNNC_E_ARG,
                          "%s: %s: argument `learning_rate` should be a float or a learning rate schedule dict, got %s%s%s (write 1.0, not 1)",
                          what, cn, rnnc_cfg_type_name(lrc->type),
                          lrc->type == RNNC_CFG_INT ? " " : "",
                          rnnc_cfg_where(lrc, where, sizeof where));
            if (lrc->type == RNNC_CFG_INT) {
                char num[32];
                snprintf(num, sizeof num, "%lld", (long long)lrc->v.i);
                s = rnnc_fail(RNNC_E_ARG,
                              "%s: %s: argument `learning_rate` should be a float or a learning rate schedule, got the integer %s%s (write %s.0)",
                              what, cn, num, rnnc_cfg_where(lrc, where, sizeof where), num);
            }
        }
        rnnc_keras_num ovf = NONE, acc = NONE;
        if (!s)
            s = rnnc_cfg_read_string(conf, cn, "name", NULL, &name);
        if (!s)
            s = read_opt_num(conf, cn, "weight_decay", &o->weight_decay);
        if (!s && kind == RNNC_OPTIMIZER_ADAMW && !rnnc_cfg_peek(conf, "weight_decay"))
            o->weight_decay = rnnc_keras_num_float(0.004);
        if (!s)
            s = read_opt_num(conf, cn, "clipnorm", &o->clipnorm);
        if (!s)
            s = read_opt_num(conf, cn, "clipvalue", &o->clipvalue);
        if (!s)
            s = read_opt_num(conf, cn, "global_clipnorm", &o->global_clipnorm);
        if (!s)
            s = rnnc_cfg_read_bool(conf, cn, "use_ema", false, &o->use_ema);
        if (!s)
            s = rnnc_keras_num_read(conf, cn, "ema_momentum", rnnc_keras_num_float(0.99), &o->ema_momentum);
        if (!s)
            s = read_opt_num(conf, cn, "ema_overwrite_frequency", &ovf);
        if (!s)
            s = read_opt_num(conf, cn, "loss_scale_factor", &o->loss_scale_factor);
        if (!s)
            s = read_opt_num(conf, cn, "gradient_accumulation_steps", &acc);
        /* Both are step counts, at most 2^31 - 1 (checked before converting). */
        if (!s && !is_none(ovf) && ovf.v != 0) {
            if (!ovf.is_int || !(ovf.v >= 1 && ovf.v <= 2147483647.0))
                s = rnnc_fail(RNNC_E_ARG, "%s: %s: `ema_overwrite_frequency` must be an integer in [1, 2147483647] or None, got %g",
                              what, cn, ovf.v);
            else
                o->ema_overwrite_frequency = (int64_t)ovf.v;
            o->ema_overwrite_echo = ovf;
        }
        if (!s && !is_none(acc) && acc.v != 0) {
            if (!(acc.v >= 2 && acc.v <= 2147483647.0) || acc.v != floor(acc.v))
                s = rnnc_fail(RNNC_E_ARG, "%s: %s: `gradient_accumulation_steps` must be an integer in [2, 2147483647], got %g",
                              what, cn, acc.v);
            else
                o->accum_steps = (int64_t)acc.v;
            o->accum_echo = acc;
        }
        (void)rnnc_cfg_get(conf, "decay"); /* legacy: Keras ignores it with a warning */
        for (const rnnc__opt_key *k = cls->keys; !s && k->key; k++) {
            if (k->is_bool)
                s = rnnc_cfg_read_bool(conf, cn, k->key, k->dflt_bool, rnnc__opt_bool(o, k->offset));
            else
                s = rnnc_keras_num_read(conf, cn, k->key, rnnc_keras_num_float(k->dflt), rnnc__opt_num(o, k->offset));
        }
        if (!s) {
            const char *known[32];
            int nk = 0;
            static const char *const common[] = {
                "name", "learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm",
                "use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
                "gradient_accumulation_steps", "decay", NULL};
            for (int j = 0; common[j]; j++)
                known[nk++] = common[j];
            for (const rnnc__opt_key *k = cls->keys; k->key; k++)
                known[nk++] = k->key;
            known[nk] = NULL;
            s = rnnc_cfg_check_unread(conf, what, known);
            if (s)
                s = rnnc_fail_context(s, "%s: argument(s) not recognized: ", cn);
        }
    }
    if (s || (s = finish(o, name, lr, what))) {
        rnnc_optimizer_destroy(o);
        return s;
    }
    *out = o;
    return RNNC_OK;
}

static rnnc_status set_opt_num(rnnc_cfg *c, const char *key, rnnc_keras_num n)
{
    return is_none(n) ? rnnc_cfg_set_null(c, key) : rnnc_keras_num_set(c, key, n);
}

rnnc_status rnnc_optimizer_get_config(const rnnc_optimizer *o, rnnc_cfg **out)
{
    rnnc_cfg *c = rnnc_cfg_map(), *lr = NULL;
    rnnc_status s = RNNC_OK;
    *out = NULL;
    if (!c)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if ((s = rnnc_cfg_set_string(c, "name", o->name)))
        goto fail;
    if (o->schedule) {
        if ((s = rnnc_schedule_serialize(o->schedule, &lr)) || (s = rnnc_cfg_set(c, "learning_rate", lr)))
            goto fail;
    } else if ((s = rnnc_cfg_set_float(c, "learning_rate", rnnc_tensor_get(o->lr, 0)))) {
        goto fail; /* float(float32 variable), as Keras */
    }
    if ((s = set_opt_num(c, "weight_decay", o->weight_decay)) ||
        (s = set_opt_num(c, "clipnorm", o->clipnorm)) ||
        (s = set_opt_num(c, "global_clipnorm", o->global_clipnorm)) ||
        (s = set_opt_num(c, "clipvalue", o->clipvalue)) ||
        (s = rnnc_cfg_set_bool(c, "use_ema", o->use_ema)) ||
        (s = rnnc_keras_num_set(c, "ema_momentum", o->ema_momentum)) ||
        (s = set_opt_num(c, "ema_overwrite_frequency", o->ema_overwrite_echo)) ||
        (s = set_opt_num(c, "loss_scale_factor", o->loss_scale_factor)) ||
        (s = set_opt_num(c, "gradient_accumulation_steps", o->accum_echo)))
        goto fail;
    for (const rnnc__opt_key *k = o->cls->keys; k->key; k++) {
        rnnc_optimizer *mo = (rnnc_optimizer *)o; /* read-only access through the offset helpers */
        s = k->is_bool ? rnnc_cfg_set_bool(c, k->key, *rnnc__opt_bool(mo, k->offset))
                       : rnnc_keras_num_set(c, k->key, *rnnc__opt_num(mo, k->offset));
        if (s)
            goto fail;
    }
    *out = c;
    return RNNC_OK;
fail:
    rnnc_cfg_destroy(c);
    return s;
}

rnnc_status rnnc_optimizer_serialize(const rnnc_optimizer *o, rnnc_cfg **out)
{
    rnnc_cfg *c;
    *out = NULL;
    RNNC_TRY(rnnc_optimizer_get_config(o, &c));
    return rnnc_keras_object_envelope("keras.optimizers", o->cls->class_name, c, out);
}

const char *rnnc_optimizer_name(const rnnc_optimizer *o) { return o->name; }
const char *rnnc_optimizer_class_name(const rnnc_optimizer *o) { return o->cls->class_name; }
rnnc_optimizer_kind rnnc_optimizer_get_kind(const rnnc_optimizer *o) { return o->cls->kind; }
bool rnnc_optimizer_built(const rnnc_optimizer *o) { return o->built; }
bool rnnc_optimizer_has_schedule(const rnnc_optimizer *o) { return o->schedule != NULL; }

int64_t rnnc_optimizer_iterations(const rnnc_optimizer *o)
{
    return ((const int64_t *)o->iteration->data)[0];
}

double rnnc_optimizer_learning_rate(const rnnc_optimizer *o)
{
    if (o->schedule)
        return rnnc_schedule_value(o->schedule, rnnc_optimizer_iterations(o));
    return rnnc_tensor_get(o->lr, 0);
}

rnnc_status rnnc_optimizer_set_learning_rate(rnnc_optimizer *o, double lr)
{
    if (o->schedule)
        return rnnc_fail(RNNC_E_STATE, "optimizer '%s' was created with a learning rate schedule, hence its learning rate is not settable",
                         o->name);
    if (!isfinite(lr))
        return rnnc_fail(RNNC_E_ARG, "optimizer '%s': learning rate must be finite, got %g", o->name, lr);
    rnnc_tensor_set(o->lr, 0, lr);
    return RNNC_OK;
}

double rnnc_optimizer_loss_scale(const rnnc_optimizer *o)
{
    return is_none(o->loss_scale_factor) ? 1.0 : o->loss_scale_factor.v;
}

rnnc_status rnnc_optimizer_exclude_from_weight_decay(rnnc_optimizer *o, const char *const *names, int n)
{
    if (o->built)
        return rnnc_fail(RNNC_E_STATE, "optimizer '%s': exclude_from_weight_decay() can only be configured before the optimizer is built",
                         o->name);
    char **p = realloc(o->exclude, (size_t)(o->n_exclude + n) * sizeof *p);
    if (!p && n)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    o->exclude = p;
    for (int i = 0; i < n; i++) {
        if (!names[i] || !(o->exclude[o->n_exclude] = dup_str(names[i])))
            return rnnc_fail(names[i] ? RNNC_E_NOMEM : RNNC_E_ARG, "optimizer '%s': bad exclude name %d", o->name, i);
        o->n_exclude++;
    }
    return RNNC_OK;
}

rnnc_status rnnc_optimizer_variables(const rnnc_optimizer *o, rnnc_optimizer_variable *out, int cap,
                                     int *n)
{
    for (int j = 0; j < o->n_state && j < cap; j++)
        out[j] = o->state[j];
    *n = o->n_state;
    return RNNC_OK;
}

/* ---- build ------------------------------------------------------------- */

static rnnc_status zeros_like(const rnnc_tensor *t, double init, rnnc_tensor **out)
{
    RNNC_TRY(rnnc_tensor_create(t->dtype, &t->shape, out));
    if (init != 0)
        rnnc_tensor_fill(*out, init);
    return RNNC_OK;
}

rnnc_status rnnc_optimizer_build(rnnc_optimizer *o, rnnc_weight *const *weights, int n)
{
    if (o->built)
        return RNNC_OK;
    if (n < 0 || (n > 0 && !weights))
        return rnnc_fail(RNNC_E_ARG, "optimizer '%s': bad weight list", o->name);
    int nv = 0;
    for (int i = 0; i < n; i++) {
        if (!weights[i] || !weights[i]->value)
            return rnnc_fail(RNNC_E_ARG, "optimizer '%s': weight %d is NULL", o->name, i);
        if (!weights[i]->trainable)
            continue;
        if (!rnnc_dtype_is_float(weights[i]->value->dtype))
            return rnnc_fail(RNNC_E_DTYPE, "optimizer '%s': weight '%s' is %s; only float32/float64 weights can be trained",
                             o->name, weights[i]->name, rnnc_dtype_name(weights[i]->value->dtype));
        nv++;
    }
    rnnc__slot_group groups[RNNC__OPT_MAX_KINDS];
    const int ng = o->cls->layout(o, groups);
    o->n_kinds = 0;
    for (int g = 0; g < ng; g++)
        for (int k = 0; k < groups[g].n_kinds; k++)
            o->kind_names[o->n_kinds++] = groups[g].kinds[k];
    o->n_vars = nv;
    o->vars = calloc((size_t)nv + 1, sizeof *o->vars);
    o->var_names = calloc((size_t)nv + 1, sizeof *o->var_names);
    o->gbuf = calloc((size_t)nv + 1, sizeof *o->gbuf);
    o->rows = calloc((size_t)nv + 1, sizeof *o->rows);
    o->sscratch = calloc((size_t)nv * RNNC__OPT_SPARSE_SCRATCH + 1, sizeof *o->sscratch);
    o->slots = calloc((size_t)(nv * o->n_kinds) + 1, sizeof *o->slots);
    if (o->use_ema)
        o->average = calloc((size_t)nv + 1, sizeof *o->average);
    if (o->accum_steps)
        o->accum = calloc((size_t)nv + 1, sizeof *o->accum);
    rnnc_status s = RNNC_OK;
    if (!o->vars || !o->var_names || !o->gbuf || !o->rows || !o->sscratch || !o->slots || (o->use_ema && !o->average) ||
        (o->accum_steps && !o->accum))
        s = rnnc_fail(RNNC_E_NOMEM, "optimizer '%s': out of memory building slots", o->name);
    int i = 0;
    for (int w = 0; !s && w < n; w++) {
        if (!weights[w]->trainable)
            continue;
        rnnc_tensor *t = weights[w]->value;
        o->vars[i] = t;
        if (!(o->var_names[i] = dup_str(weights[w]->name ? weights[w]->name : "variable")))
            s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        if (!s)
            s = zeros_like(t, 0, &o->gbuf[i]);
        if (!s && o->average)
            s = zeros_like(t, 0, &o->average[i]);
        if (!s && o->accum)
            s = zeros_like(t, 0, &o->accum[i]);
        int k0 = 0;
        for (int g = 0; !s && g < ng; g++) {
            for (int k = 0; !s && k < groups[g].n_kinds; k++)
                s = zeros_like(t, groups[g].init, &o->slots[i * o->n_kinds + k0 + k]);
            k0 += groups[g].n_kinds;
        }
        i++;
    }
    if (s) {
        free_built(o);
        return s;
    }
    o->built = true;
    s = rebuild_state_list(o);
    if (s)
        free_built(o);
    return s;
}

/* ---- apply ------------------------------------------------------------- */

static int var_index(const rnnc_optimizer *o, const rnnc_tensor *t)
{
    for (int i = 0; i < o->n_vars; i++)
        if (o->vars[i] == t)
            return i;
    return -1;
}

static bool decays(const rnnc_optimizer *o, int i)
{
    for (int k = 0; k < o->n_exclude; k++)
        if (strstr(o->var_names[i], o->exclude[k]))
            return false;
    return true;
}

/* The values a gradient transform works on: the dense buffer, or the rows
 * of a sparse gradient (each occurrence on its own, as tf.clip_by_norm and
 * tf.clip_by_value treat IndexedSlices). */
typedef struct gvals {
    void *p;
    size_t count;
    rnnc_dtype dtype;
} gvals;

static gvals values_of(const rnnc_optimizer *o, const rnnc_tensor *g, int i, bool sparse)
{
    if (sparse)
        return (gvals){o->rows[i].rows, (size_t)(o->rows[i].n * o->rows[i].width), g->dtype};
    return (gvals){g->data, g->numel, g->dtype};
}

/* Sum of squares, accumulated in double, rounded to the dtype. */
static double sumsq(gvals g)
{
    double acc = 0;
    RNNC_FLOAT_DISPATCH(g.dtype, T, {
        const T *p = g.p;
        for (size_t j = 0; j < g.count; j++)
            acc += (double)p[j] * (double)p[j];
        return (double)(T)acc;
    });
    return acc;
}

/* g <- g * s (s cast to g's dtype first) */
static void scale_by(gvals g, double s)
{
    RNNC_FLOAT_DISPATCH(g.dtype, T, {
        T *p = g.p;
        const T c = (T)s;
        for (size_t j = 0; j < g.count; j++)
            p[j] = p[j] * c;
    });
}

void rnnc__rows_sum(rnnc_tensor *dst, const rnnc__rows *g)
{
    const int64_t D = g->width;
    RNNC_FLOAT_DISPATCH(dst->dtype, T, {
        T *p = dst->data;
        const T *r = g->rows;
        memset(p, 0, dst->numel * sizeof *p);
        for (int64_t i = 0; i < g->n; i++)
            for (int64_t k = 0; k < D; k++)
                p[(int64_t)g->ids[i] * D + k] += r[i * D + k];
    });
}

/* Makes gradient k dense (its rows summed per index into gs[k]). */
static void densify(const rnnc_optimizer *o, const int *idx, rnnc_tensor **gs, bool *sp, int k)
{
    if (!sp[k])
        return;
    rnnc__rows_sum(gs[k], &o->rows[idx[k]]);
    sp[k] = false;
}

/* Keras's _clip_gradients. Sparse gradients: clipnorm's norm and clipvalue
 * see each occurrence's row (duplicates counted apart) and stay sparse;
 * global_clipnorm's norm too, but `g * scale` sums the rows first, so they
 * leave dense. */
static void clip_gradients(const rnnc_optimizer *o, const int *idx, rnnc_tensor **gs, bool *sp, int n)
{
    if (!is_none(o->clipnorm) && o->clipnorm.v > 0) {
        for (int i = 0; i < n; i++) {
            const gvals g = values_of(o, gs[i], idx[i], sp[i]);
            RNNC_FLOAT_DISPATCH(g.dtype, T, {
                /* tf.clip_by_norm: g * c / max(||g||, c) */
                const T l2sum = (T)sumsq(g);
                const T l2norm = l2sum > 0 ? (T)sqrt((double)l2sum) : l2sum;
                const T c = (T)o->clipnorm.v;
                const T den = l2norm > c ? l2norm : c;
                T *p = g.p;
                for (size_t j = 0; j < g.count; j++)
                    p[j] = (T)(p[j] * c) / den;
            });
        }
    } else if (!is_none(o->global_clipnorm) && o->global_clipnorm.v > 0) {
        RNNC_FLOAT_DISPATCH(gs[0]->dtype, T, {
            T sq = 0;
            for (int i = 0; i < n; i++)
                sq = sq + (T)sumsq(values_of(o, gs[i], idx[i], sp[i]));
            const T norm = (T)sqrt((double)sq);
            const T c = (T)o->global_clipnorm.v;
            /* scale = c * min(1/N, 1/c) + (N - N): a non-finite norm gives NaN */
            const T inv_n = (T)1 / norm, inv_c = (T)(1.0 / o->global_clipnorm.v);
            const T sc = (T)(c * (inv_n < inv_c ? inv_n : inv_c)) + (norm - norm);
            for (int i = 0; i < n; i++) {
                densify(o, idx, gs, sp, i);
                scale_by(values_of(o, gs[i], idx[i], false), (double)sc);
            }
        });
    } else if (!is_none(o->clipvalue) && o->clipvalue.v > 0) {
        for (int i = 0; i < n; i++) {
            const gvals g = values_of(o, gs[i], idx[i], sp[i]);
            RNNC_FLOAT_DISPATCH(g.dtype, T, {
                const T v = (T)o->clipvalue.v;
                T *p = g.p;
                for (size_t j = 0; j < g.count; j++)
                    p[j] = p[j] < -v ? -v : p[j] > v ? v : p[j];
            });
        }
    }
}

static void apply_weight_decay(const rnnc_optimizer *o, const int *idx, int n, double lr)
{
    if (is_none(o->weight_decay))
        return;
    for (int k = 0; k < n; k++) {
        if (!decays(o, idx[k]))
            continue;
        rnnc_tensor *w = o->vars[idx[k]];
        RNNC_FLOAT_DISPATCH(w->dtype, T, {
            /* Keras: ops.cast(weight_decay, dtype) goes through a float32 tensor */
            const T wd = (T)(float)o->weight_decay.v, l = (T)lr;
            T *p = w->data;
            for (size_t j = 0; j < w->numel; j++)
                p[j] = p[j] - (T)(p[j] * wd) * l; /* w - w * wd * lr */
        });
    }
}

static void copy_grad(rnnc_tensor *dst, const rnnc_tensor *src_owner)
{
    memcpy(dst->data, src_owner->grad, dst->numel * rnnc_dtype_size(dst->dtype));
}

/* Copies t's rows into the optimizer's rows of variable i. */
static rnnc_status take_rows(rnnc_optimizer *o, int i, const rnnc_tensor *t)
{
    const rnnc_sparse_grad *sg = t->sgrad;
    rnnc__rows *r = &o->rows[i];
    const size_t rb = (size_t)sg->width * rnnc_dtype_size(t->dtype);
    if (sg->n > r->cap) {
        int32_t *ni = realloc(r->ids, (size_t)sg->n * sizeof *ni);
        if (ni)
            r->ids = ni;
        void *nr = ni ? realloc(r->rows, (size_t)sg->n * (rb ? rb : 1)) : NULL;
        if (!nr)
            return rnnc_fail(RNNC_E_NOMEM, "optimizer '%s': out of memory for %lld gradient rows of '%s'",
                             o->name, (long long)sg->n, o->var_names[i]);
        r->rows = nr;
        r->cap = sg->n;
    }
    r->n = sg->n;
    r->width = sg->width;
    if (sg->n > 0) {
        memcpy(r->ids, sg->ids, (size_t)sg->n * sizeof *r->ids);
        memcpy(r->rows, sg->rows, (size_t)sg->n * rb);
    }
    return RNNC_OK;
}

/* The gradient of weight tensor t into gs (dense) or o->rows[i] (*sparse). */
static rnnc_status take_grad(rnnc_optimizer *o, int i, const rnnc_tensor *t, rnnc_tensor *gs, bool *sparse)
{
    *sparse = false;
    if (!t->sgrad || !t->sgrad->live) {
        copy_grad(gs, t);
        return RNNC_OK;
    }
    RNNC_TRY(take_rows(o, i, t));
    if (rnnc_tensor_grad_is_sparse(t)) {
        *sparse = true;
        return RNNC_OK;
    }
    /* rows and a dense part: TensorFlow's add_n makes it dense */
    rnnc__rows_sum(gs, &o->rows[i]);
    RNNC_FLOAT_DISPATCH(gs->dtype, T, {
        T *p = gs->data;
        const T *d = t->grad;
        for (size_t j = 0; j < gs->numel; j++)
            p[j] = p[j] + d[j];
    });
    return RNNC_OK;
}

static void ema_update(rnnc_optimizer *o, int64_t iters)
{
    /* avg <- mu avg + (1 - mu) w, mu = 0 on the very first step */
    for (int i = 0; i < o->n_vars; i++) {
        rnnc_tensor *w = o->vars[i], *a = o->average[i];
        RNNC_FLOAT_DISPATCH(w->dtype, T, {
            const T mu = iters != 0 ? (T)o->ema_momentum.v : (T)0;
            const T one_minus = (T)1 - mu;
            const T *pw = w->data;
            T *pa = a->data;
            for (size_t j = 0; j < w->numel; j++)
                pa[j] = mu * pa[j] + one_minus * pw[j];
        });
    }
    if (o->ema_overwrite_frequency && (iters + 1) % o->ema_overwrite_frequency == 0)
        for (int i = 0; i < o->n_vars; i++)
            memcpy(o->vars[i]->data, o->average[i]->data,
                   o->vars[i]->numel * rnnc_dtype_size(o->vars[i]->dtype));
}

/* update_step of variable i from gradient k (dense, or rows when sp). */
static rnnc_status update_one(rnnc_optimizer *o, int i, rnnc_tensor *g, bool sp, double lr, int64_t step)
{
    rnnc_tensor *const *slots = o->slots + (size_t)i * (size_t)o->n_kinds;
    if (!sp)
        return o->cls->update(o, o->vars[i], g, slots, lr, step);
    rnnc_tensor **scr = o->sscratch + (size_t)i * RNNC__OPT_SPARSE_SCRATCH;
    for (int k = 0; k < o->cls->n_scratch; k++)
        if (!scr[k])
            RNNC_TRY(zeros_like(o->vars[i], 0, &scr[k]));
    return o->cls->update_sparse(o, o->vars[i], &o->rows[i], slots, scr, lr, step);
}

rnnc_status rnnc_optimizer_apply(rnnc_optimizer *o, rnnc_weight *const *weights, int n)
{
    if (!o || n < 0 || (n > 0 && !weights))
        return rnnc_fail(RNNC_E_ARG, "optimizer apply: NULL optimizer or weight list");
    if (n == 0)
        return RNNC_OK; /* Keras: no gradients, nothing to do */
    if (!o->built)
        RNNC_TRY(rnnc_optimizer_build(o, weights, n));
    int *idx = malloc((size_t)n * sizeof *idx);
    rnnc_tensor **gs = malloc((size_t)n * sizeof *gs);
    bool *sp = malloc((size_t)n * sizeof *sp);
    rnnc_status s = RNNC_OK;
    int m = 0;
    if (!idx || !gs || !sp) {
        s = rnnc_fail(RNNC_E_NOMEM, "optimizer '%s': out of memory", o->name);
        goto done;
    }
    for (int w = 0; w < n; w++) {
        if (!weights[w] || !weights[w]->value) {
            s = rnnc_fail(RNNC_E_ARG, "optimizer '%s': weight %d is NULL", o->name, w);
            goto done;
        }
        if (!weights[w]->trainable)
            continue;
        const int i = var_index(o, weights[w]->value);
        if (i < 0) {
            s = rnnc_fail(RNNC_E_ARG, "optimizer '%s': unknown variable '%s': the optimizer was built with other variables (call it with the same weights every step, or create a new optimizer)",
                          o->name, weights[w]->name ? weights[w]->name : "?");
            goto done;
        }
        if (!rnnc_tensor_has_grad(weights[w]->value))
            continue; /* Keras: a None gradient, the variable is skipped */
        idx[m] = i;
        gs[m] = o->gbuf[i];
        if ((s = take_grad(o, i, weights[w]->value, gs[m], &sp[m])))
            goto done;
        m++;
    }
    if (m == 0) {
        s = rnnc_fail(RNNC_E_ARG, "optimizer '%s': no gradients provided for any variable (all %d weights have no grad buffer: was backward run?)",
                      o->name, n);
        goto done;
    }
    if (!is_none(o->loss_scale_factor))
        for (int k = 0; k < m; k++) {
            const gvals g = values_of(o, gs[k], idx[k], sp[k]);
            RNNC_FLOAT_DISPATCH(g.dtype, T, {
                T *p = g.p;
                const T f = (T)o->loss_scale_factor.v;
                for (size_t j = 0; j < g.count; j++)
                    p[j] = p[j] / f;
            });
        }
    const int64_t iters = rnnc_optimizer_iterations(o);
    const double lr = rnnc_optimizer_learning_rate(o);
    bool update_now = true;
    if (o->accum_steps) {
        update_now = (iters + 1) % o->accum_steps == 0;
        for (int k = 0; k < m; k++) {
            rnnc_tensor *a = o->accum[idx[k]], *g = gs[k];
            densify(o, idx, gs, sp, k); /* g + accumulator: the rows are summed */
            RNNC_FLOAT_DISPATCH(g->dtype, T, {
                T *pa = a->data, *pg = g->data;
                const T st = (T)o->accum_steps;
                for (size_t j = 0; j < g->numel; j++) {
                    if (update_now) {
                        pg[j] = (pg[j] + pa[j]) / st;
                        pa[j] = 0;
                    } else {
                        pa[j] = pa[j] + pg[j];
                    }
                }
            });
        }
    }
    /* With accumulation, the optimizer's `iterations` counts updates. */
    const int64_t eff_iters = o->accum_steps ? iters / o->accum_steps : iters;
    if (update_now) {
        clip_gradients(o, idx, gs, sp, m);
        apply_weight_decay(o, idx, m, lr);
        for (int k = 0; k < m; k++) {
            const int i = idx[k];
            s = update_one(o, i, gs[k], sp[k], lr, eff_iters + 1);
            if (s != RNNC_OK) {
                s = rnnc_fail_context(s, "optimizer '%s', variable '%s': ", o->name, o->var_names[i]);
                goto done;
            }
        }
    }
    if (o->use_ema)
        ema_update(o, eff_iters);
    ((int64_t *)o->iteration->data)[0] = iters + 1;
    for (int w = 0; w < n; w++) {
        const rnnc_weight *wt = weights[w];
        if (!wt->trainable || !rnnc_tensor_has_grad(wt->value) || !wt->constraint)
            continue;
        s = rnnc_constraint_apply(wt->constraint, wt->value);
        if (s != RNNC_OK) {
            s = rnnc_fail_context(s, "optimizer '%s': constraint of '%s': ", o->name, wt->name);
            goto done;
        }
    }
done:
    free(idx);
    free(gs);
    free(sp);
    return s;
}

rnnc_status rnnc_optimizer_finalize(rnnc_optimizer *o, rnnc_weight *const *weights, int n)
{
    if (!o->use_ema || !o->built)
        return RNNC_OK;
    for (int w = 0; w < n; w++) {
        if (!weights[w] || !weights[w]->trainable)
            continue;
        const int i = var_index(o, weights[w]->value);
        if (i < 0)
            return rnnc_fail(RNNC_E_ARG, "optimizer '%s': finalize: unknown variable '%s'", o->name,
                             weights[w]->name ? weights[w]->name : "?");
        memcpy(o->vars[i]->data, o->average[i]->data,
               o->vars[i]->numel * rnnc_dtype_size(o->vars[i]->dtype));
    }
    return RNNC_OK;
}
