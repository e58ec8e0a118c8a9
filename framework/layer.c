/* layer.c - the Layer base: naming, weights, sub-layers, the call protocol,
 * losses and serialization. Layer classes live in layers/. */
#include "framework/layer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

const char *rnnc_snake_case(const char *name, char *buf, size_t cap)
{
    /* Keras: re.sub("(.)([A-Z][a-z]+)", r"\1_\2") then re.sub("([a-z])([A-Z])", r"\1_\2"), lower. */
    char tmp[256];
    size_t n = 0, len = strlen(name);
    for (size_t i = 0; i < len && n + 2 < sizeof tmp; i++) {
        bool starts_word = i > 0 && isupper((unsigned char)name[i]) && i + 1 < len &&
                           islower((unsigned char)name[i + 1]);
        if (starts_word && tmp[n - 1] != '_')
            tmp[n++] = '_';
        tmp[n++] = name[i];
    }
    tmp[n] = '\0';
    size_t m = 0;
    for (size_t i = 0; i < n && m + 2 < cap; i++) {
        if (i > 0 && isupper((unsigned char)tmp[i]) && islower((unsigned char)tmp[i - 1]))
            buf[m++] = '_';
        buf[m++] = (char)tolower((unsigned char)tmp[i]);
    }
    if (cap)
        buf[m < cap ? m : cap - 1] = '\0';
    return buf;
}

/* Per-process name counters, as Keras's global uid table. */
static struct {
    char key[64];
    int count;
} name_counts[128];
static int n_name_counts;

void rnnc_layer_reset_names(void) { n_name_counts = 0; }

static void auto_name(const char *class_name, char *out, size_t cap)
{
    char base[64];
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

rnnc_status rnnc_layer_init(rnnc_layer *l, const rnnc_layer_class *cls, const char *name,
                            rnnc_dtype dtype)
{
    char buf[96];
    memset(l, 0, sizeof *l);
    l->cls = cls;
    l->trainable = true;
    if (dtype != RNNC_F32 && dtype != RNNC_F64)
        return rnnc_fail(RNNC_E_DTYPE, "%s: dtype must be float32 or float64, got %s",
                         cls->class_name, rnnc_dtype_name(dtype));
    l->dtype = dtype;
    if (name && strchr(name, '/'))
        return rnnc_fail(RNNC_E_ARG, "%s: name '%s' must not contain '/'", cls->class_name, name);
    if (!name) {
        auto_name(cls->class_name, buf, sizeof buf);
        name = buf;
    }
    l->name = dup_str(name);
    if (!l->name)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    return RNNC_OK;
}

static void free_weight(rnnc_weight *w)
{
    free(w->name);
    rnnc_tensor_destroy(w->value);
    rnnc_regularizer_destroy(w->regularizer);
    rnnc_constraint_destroy(w->constraint);
}

void rnnc_layer_destroy(rnnc_layer *l)
{
    if (!l)
        return;
    if (l->cls && l->cls->destroy)
        l->cls->destroy(l);
    for (int i = 0; i < l->n_weights; i++)
        free_weight(&l->weights[i]);
    free(l->weights);
    for (int i = 0; i < l->n_children; i++) {
        rnnc_layer_destroy(l->children[i]);
        free(l->child_keys[i]);
    }
    rnnc_regularizer_destroy(l->activity_regularizer);
    free(l->name);
    free(l);
}

rnnc_status rnnc_layer_read_base_config(rnnc_layer *l, const rnnc_cfg *config,
                                        bool with_activity)
{
    const char *what = l->cls->class_name;
    const char *name = NULL;
    char w[300];
    RNNC_TRY(rnnc_cfg_read_string(config, what, "name", NULL, &name));
    if (name) {
        if (strchr(name, '/'))
            return rnnc_fail(RNNC_E_ARG, "%s: name '%s' must not contain '/'", what, name);
        char *copy = dup_str(name);
        if (!copy)
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        free(l->name);
        l->name = copy;
    }
    RNNC_TRY(rnnc_cfg_read_bool(config, what, "trainable", true, &l->trainable));
    const rnnc_cfg *dt = rnnc_cfg_get(config, "dtype");
    const char *dtname = NULL;
    if (dt && dt->type == RNNC_CFG_STRING) {
        dtname = dt->v.s;
    } else if (dt && dt->type == RNNC_CFG_MAP) {
        /* {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}} */
        const char *cls = NULL;
        RNNC_TRY(rnnc_cfg_read_string(dt, what, "class_name", "DTypePolicy", &cls));
        if (strcmp(cls, "DTypePolicy") != 0 && strcmp(cls, "Policy") != 0)
            return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: dtype policy '%s' is not supported (only float32 and float64)%s",
                             what, cls, rnnc_cfg_where(dt, w, sizeof w));
        rnnc_cfg_get(dt, "module");
        rnnc_cfg_get(dt, "registered_name");
        const rnnc_cfg *inner = rnnc_cfg_get(dt, "config");
        RNNC_TRY(rnnc_cfg_read_string(inner, what, "name", "float32", &dtname));
    } else if (dt && dt->type != RNNC_CFG_NULL) {
        return rnnc_fail(RNNC_E_ARG, "%s: 'dtype' must be a string or a DTypePolicy%s", what,
                         rnnc_cfg_where(dt, w, sizeof w));
    }
    if (dtname) {
        /* The 16-bit policies keep float32 variables and emulate the compute
         * dtype (framework/precision.h, docs/mixed-precision.md). */
        rnnc_dtype_policy pol;
        if (!rnnc_dtype_policy_from_name(dtname, &pol))
            return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: dtype '%s' is not supported (float32, float64, mixed_bfloat16, mixed_float16, bfloat16 or float16)%s",
                             what, dtname, rnnc_cfg_where(dt, w, sizeof w));
        l->dtype = strcmp(dtname, "float64") == 0 ? RNNC_F64 : RNNC_F32;
        l->policy = pol;
    }
    if (with_activity) {
        const rnnc_cfg *ar = rnnc_cfg_get(config, "activity_regularizer");
        char argname[128];
        snprintf(argname, sizeof argname, "%s.activity_regularizer", what);
        rnnc_regularizer_destroy(l->activity_regularizer);
        l->activity_regularizer = NULL;
        if (ar)
            RNNC_TRY(rnnc_regularizer_from_config(ar, argname, &l->activity_regularizer));
    }
    return RNNC_OK;
}

rnnc_status rnnc_layer_add_weight(rnnc_layer *l, const char *name, const rnnc_shape *shape,
                                  const rnnc_initializer *init, rnnc_regularizer *reg,
                                  rnnc_constraint *cons, bool trainable, rnnc_tensor **out)
{
    rnnc_tensor *t = NULL;
    rnnc_initializer *fallback = NULL;
    rnnc_status s = RNNC_OK;
    *out = NULL;
    if (l->n_weights == l->cap_weights) {
        int ncap = l->cap_weights ? 2 * l->cap_weights : 4;
        rnnc_weight *w = realloc(l->weights, (size_t)ncap * sizeof *w);
        if (!w) {
            s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
            goto fail;
        }
        l->weights = w;
        l->cap_weights = ncap;
    }
    s = rnnc_tensor_create(l->dtype, shape, &t);
    if (s != RNNC_OK) {
        rnnc_fail_context(s, "%s '%s': weight '%s': ", l->cls->class_name, l->name, name);
        goto fail;
    }
    if (!init) {
        s = rnnc_initializer_from_name("glorot_uniform", name, &fallback);
        if (s != RNNC_OK)
            goto fail;
        init = fallback;
    }
    s = rnnc_initializer_fill(init, t);
    rnnc_initializer_destroy(fallback);
    if (s != RNNC_OK) {
        rnnc_fail_context(s, "%s '%s': weight '%s': ", l->cls->class_name, l->name, name);
        goto fail;
    }
    if (trainable && (s = rnnc_tensor_set_requires_grad(t, true)) != RNNC_OK)
        goto fail;
    rnnc_weight *w = &l->weights[l->n_weights];
    w->name = dup_str(name);
    if (!w->name) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto fail;
    }
    w->value = t;
    w->regularizer = reg;
    w->constraint = cons;
    w->trainable = trainable;
    l->n_weights++;
    *out = t;
    return RNNC_OK;
fail:
    rnnc_tensor_destroy(t);
    rnnc_regularizer_destroy(reg);
    rnnc_constraint_destroy(cons);
    return s;
}

rnnc_status rnnc_layer_add_child(rnnc_layer *l, const char *key, rnnc_layer *child)
{
    if (l->n_children >= (int)(sizeof l->children / sizeof l->children[0])) {
        rnnc_layer_destroy(child);
        return rnnc_fail(RNNC_E_ARG, "%s: too many sub-layers", l->cls->class_name);
    }
    char *k = dup_str(key);
    if (!k) {
        rnnc_layer_destroy(child);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    l->children[l->n_children] = child;
    l->child_keys[l->n_children++] = k;
    return RNNC_OK;
}

rnnc_status rnnc_layer_build(rnnc_layer *l, const rnnc_shape *input_shape)
{
    if (l->built)
        return RNNC_OK;
    if (l->cls->build) {
        rnnc_status s = l->cls->build(l, input_shape);
        if (s != RNNC_OK)
            return rnnc_fail_context(s, "building %s '%s': ", l->cls->class_name, l->name);
    }
    l->build_shape = *input_shape;
    l->has_build_shape = true;
    l->built = true;
    return RNNC_OK;
}

rnnc_status rnnc_layer_output_spec(const rnnc_layer *l, const rnnc_shape *input_shape,
                                   rnnc_output_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->dtype = l->dtype;
    if (!l->cls->compute_output_spec)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: no shape inference", l->cls->class_name);
    return l->cls->compute_output_spec(l, input_shape, spec);
}

/* Keras 3.14+: each output's activity penalty is divided by its batch size. */
static rnnc_status add_activity_loss(rnnc_layer *l, rnnc_ctx *cx, rnnc_call_result *res)
{
    rnnc_tensor *total = NULL;
    for (int i = 0; i < res->n_outputs; i++) {
        rnnc_tensor *o = res->outputs[i], *p;
        if (!o || !rnnc_dtype_is_float(o->dtype))
            continue;
        RNNC_TRY(rnnc_regularizer_penalty(l->activity_regularizer, cx, o, &p));
        if (o->shape.ndim >= 1) {
            double b = (double)o->shape.dim[0];
            RNNC_TRY(rnnc_affine(cx, p, b > 0 ? 1.0 / b : 0.0, 0.0, &p));
        }
        if (total)
            RNNC_TRY(rnnc_add(cx, total, p, &total));
        else
            total = p;
    }
    l->activity_loss = total;
    return RNNC_OK;
}

rnnc_precision rnnc_layer_precision(const rnnc_layer *l)
{
    return (l && l->dtype == RNNC_F32) ? rnnc_dtype_policy_precision(l->policy) : RNNC_PREC_NONE;
}

rnnc_status rnnc_layer_read_weight(const rnnc_layer *l, rnnc_ctx *cx, rnnc_tensor *w,
                                   rnnc_tensor **out)
{
    return rnnc_round_op(cx, w, rnnc_layer_precision(l), out);
}

static bool has_weights(const rnnc_layer *l)
{
    if (l->n_weights > 0)
        return true;
    for (int c = 0; c < l->n_children; c++)
        if (has_weights(l->children[c]))
            return true;
    return false;
}

/* The layers that read their weights through rnnc_layer_read_weight (or,
 * Embedding, whose rounded output is the rounded table's rows) run a 16-bit
 * policy; others with weights are refused rather than run half-emulated. */
static rnnc_status check_policy_support(const rnnc_layer *l)
{
    static const char *const ok[] = {"GRU", "Dense", "Embedding"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(l->cls->class_name, ok[i]) == 0)
            return RNNC_OK;
    if (!has_weights(l))
        return RNNC_OK;
    return rnnc_fail(RNNC_E_UNSUPPORTED,
                     "%s '%s': the %s dtype policy is supported for GRU, Dense, Embedding and layers without weights; use float32 for this layer",
                     l->cls->class_name, l->name, rnnc_dtype_policy_name(l->policy));
}

rnnc_status rnnc_layer_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                            rnnc_call_result *res)
{
    memset(res, 0, sizeof *res);
    if (!l || !cx || !args || args->n_inputs < 1 || args->n_inputs > RNNC_MAX_IO || !args->inputs[0])
        return rnnc_fail(RNNC_E_ARG, "layer call: needs a layer, a context and at least one input");
    for (int i = 0; i < args->n_inputs; i++)
        if (!args->inputs[i])
            return rnnc_fail(RNNC_E_ARG, "%s '%s': input %d is NULL", l->cls->class_name, l->name, i);
    if (!l->built)
        RNNC_TRY(rnnc_layer_build(l, &args->inputs[0]->shape));
    l->activity_loss = NULL;
    /* Keras's autocast: float inputs of another float dtype are converted to
     * the layer's (a float64 layer after float32 ones, float64 data into a
     * float32 model); integer inputs are left alone. Keras operations do not
     * autocast. (Keras's LayerNormalization normalizes such an input in its
     * own dtype and casts the result; here the input is cast first.) */
    rnnc_call_args cast_args;
    if (!l->cls->is_operation) {
        bool any = false;
        for (int i = 0; i < args->n_inputs; i++)
            any = any || (rnnc_dtype_is_float(args->inputs[i]->dtype) && args->inputs[i]->dtype != l->dtype);
        if (any) {
            cast_args = *args;
            for (int i = 0; i < args->n_inputs; i++)
                if (rnnc_dtype_is_float(args->inputs[i]->dtype))
                    RNNC_TRY(rnnc_cast(cx, args->inputs[i], l->dtype, &cast_args.inputs[i]));
            args = &cast_args;
        }
    }
    const rnnc_precision prec = rnnc_layer_precision(l);
    if (prec != RNNC_PREC_NONE) {
        RNNC_TRY(check_policy_support(l));
        /* Keras casts a layer's float inputs to the compute dtype. */
        if (args != &cast_args)
            cast_args = *args;
        for (int i = 0; i < args->n_inputs; i++)
            RNNC_TRY(rnnc_round_op(cx, args->inputs[i], prec, &cast_args.inputs[i]));
        args = &cast_args;
    }
    rnnc_status s = l->cls->call(l, cx, args, res);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "%s '%s': ", l->cls->class_name, l->name);
    /* ... and its outputs are in the compute dtype. */
    for (int i = 0; prec != RNNC_PREC_NONE && i < res->n_outputs; i++)
        if (res->outputs[i])
            RNNC_TRY(rnnc_round_op(cx, res->outputs[i], prec, &res->outputs[i]));
    if (!res->mask && l->cls->supports_masking && args->mask)
        res->mask = (rnnc_tensor *)args->mask;
    if (l->activity_regularizer)
        RNNC_TRY(add_activity_loss(l, cx, res));
    return RNNC_OK;
}

static void collect(const rnnc_layer *l, bool want_trainable, bool parent_trainable,
                    rnnc_weight **out, int cap, int *n)
{
    bool on = parent_trainable && l->trainable;
    for (int i = 0; i < l->n_weights; i++) {
        bool tr = on && l->weights[i].trainable;
        if (tr == want_trainable) {
            if (*n < cap)
                out[*n] = &l->weights[i];
            (*n)++;
        }
    }
    for (int c = 0; c < l->n_children; c++)
        collect(l->children[c], want_trainable, on, out, cap, n);
}

rnnc_status rnnc_layer_weights(const rnnc_layer *l, rnnc_weight **out, int cap, int *n)
{
    *n = 0;
    collect(l, true, true, out, cap, n);
    collect(l, false, true, out, cap, n);
    return RNNC_OK;
}

rnnc_status rnnc_layer_trainable_weights(const rnnc_layer *l, bool trainable, rnnc_weight **out,
                                         int cap, int *n)
{
    *n = 0;
    collect(l, trainable, true, out, cap, n);
    return RNNC_OK;
}

size_t rnnc_layer_count_params(const rnnc_layer *l)
{
    size_t total = 0;
    for (int i = 0; i < l->n_weights; i++)
        total += l->weights[i].value->numel;
    for (int c = 0; c < l->n_children; c++)
        total += rnnc_layer_count_params(l->children[c]);
    return total;
}

static rnnc_status sum_losses(rnnc_layer *l, rnnc_ctx *cx, bool parent_trainable,
                              rnnc_tensor **total)
{
    bool on = parent_trainable && l->trainable;
    for (int i = 0; on && i < l->n_weights; i++) {
        rnnc_weight *w = &l->weights[i];
        if (!w->trainable || !w->regularizer)
            continue;
        rnnc_tensor *p;
        RNNC_TRY(rnnc_regularizer_penalty(w->regularizer, cx, w->value, &p));
        if (*total)
            RNNC_TRY(rnnc_add(cx, *total, p, total));
        else
            *total = p;
    }
    if (l->activity_loss) {
        if (*total)
            RNNC_TRY(rnnc_add(cx, *total, l->activity_loss, total));
        else
            *total = l->activity_loss;
    }
    for (int c = 0; c < l->n_children; c++)
        RNNC_TRY(sum_losses(l->children[c], cx, on, total));
    return RNNC_OK;
}

rnnc_status rnnc_layer_losses(rnnc_layer *l, rnnc_ctx *cx, rnnc_tensor **loss)
{
    *loss = NULL;
    return sum_losses(l, cx, true, loss);
}

static rnnc_cfg *policy_config_named(const char *name)
{
    rnnc_cfg *m = rnnc_cfg_map(), *inner = rnnc_cfg_map();
    if (!m || !inner || rnnc_cfg_set_string(m, "module", "keras") ||
        rnnc_cfg_set_string(m, "class_name", "DTypePolicy") ||
        rnnc_cfg_set_string(inner, "name", name) ||
        rnnc_cfg_set(m, "config", inner)) {
        rnnc_cfg_destroy(m);
        return NULL;
    }
    inner = NULL;
    if (rnnc_cfg_set_null(m, "registered_name")) {
        rnnc_cfg_destroy(m);
        return NULL;
    }
    return m;
}

rnnc_cfg *rnnc_dtype_policy_config(rnnc_dtype dtype)
{
    return policy_config_named(rnnc_dtype_name(dtype));
}

rnnc_cfg *rnnc_layer_dtype_policy_config(const rnnc_layer *l)
{
    const char *name = l->dtype == RNNC_F32 ? rnnc_dtype_policy_name(l->policy) : NULL;
    return name ? policy_config_named(name) : rnnc_dtype_policy_config(l->dtype);
}

rnnc_status rnnc_layer_get_config(const rnnc_layer *l, rnnc_cfg **out)
{
    rnnc_cfg *c = rnnc_cfg_map();
    rnnc_status s;
    *out = NULL;
    if (!c)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if ((s = rnnc_cfg_set_string(c, "name", l->name)) || (s = rnnc_cfg_set_bool(c, "trainable", l->trainable)) ||
        (s = rnnc_cfg_set(c, "dtype", rnnc_layer_dtype_policy_config(l))))
        goto fail;
    if (l->activity_regularizer) {
        rnnc_cfg *ar;
        if ((s = rnnc_regularizer_get_config(l->activity_regularizer, &ar)) ||
            (s = rnnc_cfg_set(c, "activity_regularizer", ar)))
            goto fail;
    }
    if (l->cls->get_config && (s = l->cls->get_config(l, c)))
        goto fail;
    *out = c;
    return RNNC_OK;
fail:
    rnnc_cfg_destroy(c);
    return s;
}

static rnnc_cfg *dims_list(const rnnc_shape *sh)
{
    rnnc_cfg *list = rnnc_cfg_list();
    for (int i = 0; list && i < sh->ndim; i++)
        if (rnnc_cfg_push(list, sh->dim[i] < 0 ? rnnc_cfg_null() : rnnc_cfg_int(sh->dim[i]))) {
            rnnc_cfg_destroy(list);
            return NULL;
        }
    return list;
}

rnnc_status rnnc_layer_serialize(const rnnc_layer *l, rnnc_cfg **out)
{
    rnnc_cfg *env = rnnc_cfg_map(), *config = NULL;
    rnnc_status s;
    *out = NULL;
    if (!env)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if ((s = rnnc_cfg_set_string(env, "module", l->cls->module)) ||
        (s = rnnc_cfg_set_string(env, "class_name", l->cls->class_name)) ||
        (s = rnnc_layer_get_config(l, &config)) || (s = rnnc_cfg_set(env, "config", config)) ||
        (s = rnnc_cfg_set_null(env, "registered_name")))
        goto fail;
    if (l->has_build_shape) {
        rnnc_cfg *bc = rnnc_cfg_map();
        if (!bc) {
            s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
            goto fail;
        }
        if ((s = rnnc_cfg_set(bc, "input_shape", dims_list(&l->build_shape))) ||
            (s = rnnc_cfg_set(env, "build_config", bc)))
            goto fail;
    }
    *out = env;
    return RNNC_OK;
fail:
    rnnc_cfg_destroy(env);
    return s;
}
