/* keras_object.c - the Keras object envelope for initializers, regularizers
 * and constraints: parse it, resolve class names with a suggestion, read and
 * echo numbers as written, build it for get_config. See keras_object.h.
 * Not here: layer envelopes (build_config etc.), which layer.c handles. */
#include "framework/keras_object.h"

#include <stdio.h>
#include <string.h>

/* Keras resolves a dict's "module" by importing it; only Keras's own modules
 * can hold the built-in classes we know ("keras", "keras.initializers",
 * "keras.src.initializers.random_initializers", ...). */
static bool is_keras_module(const char *m)
{
    return strncmp(m, "keras", 5) == 0 && (m[5] == '\0' || m[5] == '.');
}

rnnc_status rnnc_keras_object_parse(const rnnc_cfg *c, const char *family, const char *module,
                                    const char *what, rnnc_keras_object *out)
{
    char where[256];
    out->class_name = NULL;
    out->config = NULL;
    if (c->type == RNNC_CFG_STRING) {
        out->class_name = c->v.s;
        return RNNC_OK;
    }
    if (c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG,
                         "%s: expected a %s name or a {\"class_name\": ..., \"config\": {...}} "
                         "dict, got %s%s",
                         what, family, rnnc_cfg_type_name(c->type),
                         rnnc_cfg_where(c, where, sizeof where));

    const rnnc_cfg *mod = rnnc_cfg_get(c, "module");
    const rnnc_cfg *cls = rnnc_cfg_get(c, "class_name");
    const rnnc_cfg *conf = rnnc_cfg_get(c, "config");
    const rnnc_cfg *reg = rnnc_cfg_get(c, "registered_name");
    (void)rnnc_cfg_get(c, "shared_object_id"); /* sharing is not needed: read and ignore */

    if (!cls || cls->type != RNNC_CFG_STRING)
        return rnnc_fail(RNNC_E_ARG, "%s: a serialized %s needs a string \"class_name\"%s",
                         what, family, rnnc_cfg_where(c, where, sizeof where));
    if (mod && mod->type == RNNC_CFG_NULL)
        return rnnc_fail(RNNC_E_ARG,
                         "%s: %s '%s' has \"module\": null, which Keras treats as an "
                         "unregistered custom class; use \"module\": \"%s\" for a built-in %s%s",
                         what, family, cls->v.s, module, family,
                         rnnc_cfg_where(mod, where, sizeof where));
    if (mod && (mod->type != RNNC_CFG_STRING || !is_keras_module(mod->v.s)))
        return rnnc_fail(RNNC_E_ARG,
                         "%s: %s '%s' comes from module %s%s%s, not a Keras module; custom "
                         "classes are not supported (expected \"module\": \"%s\")%s",
                         what, family, cls->v.s, mod->type == RNNC_CFG_STRING ? "'" : "",
                         mod->type == RNNC_CFG_STRING ? mod->v.s : rnnc_cfg_type_name(mod->type),
                         mod->type == RNNC_CFG_STRING ? "'" : "", module,
                         rnnc_cfg_where(mod, where, sizeof where));
    if (reg && reg->type != RNNC_CFG_NULL &&
        (reg->type != RNNC_CFG_STRING || strcmp(reg->v.s, cls->v.s) != 0))
        return rnnc_fail(RNNC_E_ARG,
                         "%s: %s '%s' has registered_name %s%s%s: a registered custom class, "
                         "which is not supported%s",
                         what, family, cls->v.s, reg->type == RNNC_CFG_STRING ? "'" : "",
                         reg->type == RNNC_CFG_STRING ? reg->v.s : rnnc_cfg_type_name(reg->type),
                         reg->type == RNNC_CFG_STRING ? "'" : "",
                         rnnc_cfg_where(reg, where, sizeof where));
    if (conf && conf->type != RNNC_CFG_NULL && conf->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: the \"config\" of %s '%s' must be a dict, got %s%s",
                         what, family, cls->v.s, rnnc_cfg_type_name(conf->type),
                         rnnc_cfg_where(conf, where, sizeof where));
    out->class_name = cls->v.s;
    out->config = (conf && conf->type == RNNC_CFG_MAP) ? conf : NULL;
    return RNNC_OK;
}

rnnc_status rnnc_keras_name_lookup(const rnnc_keras_name *table, const char *name,
                                   const char *family, const char *what, int *kind)
{
    const char *names[96];
    int n = 0;
    for (const rnnc_keras_name *e = table; e->name; e++) {
        if (strcmp(e->name, name) == 0) {
            *kind = e->kind;
            return RNNC_OK;
        }
        if (n < (int)(sizeof names / sizeof names[0]) - 1)
            names[n++] = e->name;
    }
    names[n] = NULL;
    const char *near = rnnc_nearest_name(name, names);
    if (near)
        return rnnc_fail(RNNC_E_ARG, "%s: unknown %s '%s'; did you mean '%s'?", what, family,
                         name, near);
    /* Nothing close: list every accepted spelling. */
    char list[1024];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < n && len + 1 < sizeof list; i++) {
        int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return rnnc_fail(RNNC_E_ARG, "%s: unknown %s '%s' (expected one of: %s)", what, family, name,
                     list);
}

rnnc_status rnnc_keras_num_read(const rnnc_cfg *map, const char *what, const char *key,
                                rnnc_keras_num dflt, rnnc_keras_num *out)
{
    char where[256];
    const rnnc_cfg *v = map ? rnnc_cfg_get(map, key) : NULL;
    if (!v || v->type == RNNC_CFG_NULL) {
        *out = dflt;
        return RNNC_OK;
    }
    if (v->type == RNNC_CFG_INT) {
        *out = rnnc_keras_num_int((double)v->v.i);
        return RNNC_OK;
    }
    if (v->type == RNNC_CFG_FLOAT) {
        *out = rnnc_keras_num_float(v->v.f);
        return RNNC_OK;
    }
    return rnnc_fail(RNNC_E_ARG, "%s: '%s' must be a number, got %s%s", what, key,
                     rnnc_cfg_type_name(v->type), rnnc_cfg_where(v, where, sizeof where));
}

rnnc_status rnnc_keras_num_set(rnnc_cfg *map, const char *key, rnnc_keras_num n)
{
    /* (double)INT64_MAX is 2^63, which does not convert back: only values in
     * range are written as ints. */
    if (n.is_int && n.v >= -9223372036854775808.0 && n.v < 9223372036854775808.0)
        return rnnc_cfg_set_int(map, key, (int64_t)n.v);
    return rnnc_cfg_set_float(map, key, n.v);
}

rnnc_status rnnc_keras_object_envelope(const char *module, const char *class_name,
                                       rnnc_cfg *config, rnnc_cfg **out)
{
    *out = NULL;
    rnnc_cfg *env = rnnc_cfg_map();
    if (!env) {
        rnnc_cfg_destroy(config);
        return rnnc_fail(RNNC_E_NOMEM, "get_config of %s: out of memory", class_name);
    }
    rnnc_status s = rnnc_cfg_set_string(env, "module", module);
    if (s == RNNC_OK)
        s = rnnc_cfg_set_string(env, "class_name", class_name);
    if (s == RNNC_OK)
        s = rnnc_cfg_set(env, "config", config);
    else
        rnnc_cfg_destroy(config);
    if (s == RNNC_OK)
        s = rnnc_cfg_set_null(env, "registered_name");
    if (s != RNNC_OK) {
        rnnc_cfg_destroy(env);
        return s;
    }
    *out = env;
    return RNNC_OK;
}
