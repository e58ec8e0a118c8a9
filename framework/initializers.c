/* initializers.c - Keras initializers (spec section 7): name and config
 * resolution (7.1), argument validation, seeds, clone, get_config. Filling
 * is in init_fill.c, Orthogonal's QR in init_orthogonal.c.
 *
 * A seed of None draws rnnc_next_seed() at construction and keeps it, so
 * the object fills the same values each time (Keras), while get_config
 * still reports null.
 *
 * Deviations: STFT is not implemented (RNNC_E_UNSUPPORTED; it is a rank-3
 * signal kernel no recurrent model uses). A serialized SeedGenerator dict as
 * seed is accepted and echoed by get_config, but its seed is used like an
 * int seed (same values per fill) instead of advancing per call. A null
 * value for a numeric argument means its default. */
#include "framework/initializers.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/init_internal.h"
#include "framework/random.h"

#define MODULE "keras.initializers"

const char *const rnnc__init_class_names[] = {
    "Zeros",         "Ones",          "Constant",      "Identity",
    "RandomNormal",  "RandomUniform", "TruncatedNormal", "VarianceScaling",
    "GlorotUniform", "GlorotNormal",  "HeUniform",     "HeNormal",
    "LecunUniform",  "LecunNormal",   "Orthogonal",    "STFT",
};
_Static_assert(sizeof rnnc__init_class_names / sizeof rnnc__init_class_names[0] ==
                   RNNC__INIT_KIND_COUNT,
               "class name table out of sync");

/* Every accepted spelling (spec 7.1), case-sensitive. */
static const rnnc_keras_name names[] = {
    {"Constant", RNNC__INIT_CONSTANT},          {"constant", RNNC__INIT_CONSTANT},
    {"Zeros", RNNC__INIT_ZEROS},                {"zeros", RNNC__INIT_ZEROS},
    {"Ones", RNNC__INIT_ONES},                  {"ones", RNNC__INIT_ONES},
    {"Identity", RNNC__INIT_IDENTITY},          {"identity", RNNC__INIT_IDENTITY},
    {"GlorotNormal", RNNC__INIT_GLOROT_NORMAL}, {"glorot_normal", RNNC__INIT_GLOROT_NORMAL},
    {"GlorotUniform", RNNC__INIT_GLOROT_UNIFORM}, {"glorot_uniform", RNNC__INIT_GLOROT_UNIFORM},
    {"HeNormal", RNNC__INIT_HE_NORMAL},         {"he_normal", RNNC__INIT_HE_NORMAL},
    {"HeUniform", RNNC__INIT_HE_UNIFORM},       {"he_uniform", RNNC__INIT_HE_UNIFORM},
    {"LecunNormal", RNNC__INIT_LECUN_NORMAL},   {"lecun_normal", RNNC__INIT_LECUN_NORMAL},
    {"LecunUniform", RNNC__INIT_LECUN_UNIFORM}, {"lecun_uniform", RNNC__INIT_LECUN_UNIFORM},
    {"Orthogonal", RNNC__INIT_ORTHOGONAL},      {"orthogonal", RNNC__INIT_ORTHOGONAL},
    {"RandomNormal", RNNC__INIT_RANDOM_NORMAL}, {"random_normal", RNNC__INIT_RANDOM_NORMAL},
    {"RandomUniform", RNNC__INIT_RANDOM_UNIFORM}, {"random_uniform", RNNC__INIT_RANDOM_UNIFORM},
    {"TruncatedNormal", RNNC__INIT_TRUNCATED_NORMAL},
    {"truncated_normal", RNNC__INIT_TRUNCATED_NORMAL},
    {"VarianceScaling", RNNC__INIT_VARIANCE_SCALING},
    {"variance_scaling", RNNC__INIT_VARIANCE_SCALING},
    {"STFT", RNNC__INIT_STFT},                  {"stft", RNNC__INIT_STFT},
    {"normal", RNNC__INIT_RANDOM_NORMAL},       {"uniform", RNNC__INIT_RANDOM_UNIFORM},
    {"one", RNNC__INIT_ONES},                   {"zero", RNNC__INIT_ZEROS},
    {"IdentityInitializer", RNNC__INIT_IDENTITY}, {"OrthogonalInitializer", RNNC__INIT_ORTHOGONAL},
    {"STFTInitializer", RNNC__INIT_STFT},       {NULL, 0},
};

static const char *const mode_names[] = {"fan_in", "fan_out", "fan_avg", NULL};
static const char *const dist_names[] = {"uniform", "truncated_normal", "untruncated_normal",
                                         NULL};

/* ---------------------------------------------------------------- parsing */

static void init_free_fields(rnnc_initializer *in)
{
    rnnc_cfg_destroy(in->seed_cfg);
    rnnc_cfg_destroy(in->input_axes);
    rnnc_cfg_destroy(in->output_axes);
}

void rnnc_initializer_destroy(rnnc_initializer *init)
{
    if (!init)
        return;
    init_free_fields(init);
    free(init);
}

/* Keras: seed is an int, None (a random int fixed now), a SeedGenerator or
 * its serialized dict; anything else is a ValueError. */
static rnnc_status read_seed(rnnc_initializer *in, const rnnc_cfg *config, const char *who)
{
    char where[256];
    const rnnc_cfg *s = config ? rnnc_cfg_get(config, "seed") : NULL;
    in->random = true;
    if (!s || s->type == RNNC_CFG_NULL) {
        in->seed_cfg = rnnc_cfg_null();
        in->seed = rnnc_next_seed();
    } else if (s->type == RNNC_CFG_INT) {
        in->seed_cfg = rnnc_cfg_int(s->v.i);
        in->seed = (uint64_t)s->v.i;
    } else if (s->type == RNNC_CFG_MAP) {
        const rnnc_cfg *cls = rnnc_cfg_peek(s, "class_name");
        const rnnc_cfg *inner = rnnc_cfg_peek(s, "config");
        const rnnc_cfg *iseed = (inner && inner->type == RNNC_CFG_MAP)
                                    ? rnnc_cfg_peek(inner, "seed") : NULL;
        if (!cls || cls->type != RNNC_CFG_STRING || strcmp(cls->v.s, "SeedGenerator") != 0 ||
            (iseed && iseed->type != RNNC_CFG_INT && iseed->type != RNNC_CFG_NULL))
            return rnnc_fail(RNNC_E_ARG,
                             "%s: 'seed' must be an integer, null or a serialized "
                             "SeedGenerator {\"class_name\": \"SeedGenerator\", \"config\": "
                             "{\"seed\": int}}%s",
                             who, rnnc_cfg_where(s, where, sizeof where));
        rnnc_cfg_mark_all(s, true);
        in->seed_cfg = rnnc_cfg_clone(s);
        in->seed = (iseed && iseed->type == RNNC_CFG_INT) ? (uint64_t)iseed->v.i
                                                          : rnnc_next_seed();
    } else {
        return rnnc_fail(RNNC_E_ARG,
                         "%s: 'seed' must be an integer or null (or a serialized "
                         "SeedGenerator), got %s%s",
                         who, rnnc_cfg_type_name(s->type), rnnc_cfg_where(s, where, sizeof where));
    }
    if (!in->seed_cfg)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory", who);
    return RNNC_OK;
}

/* input_axes / output_axes (Keras 3.15): null, an int or a list of ints. */
static rnnc_status read_axes(const rnnc_cfg *config, const char *who, const char *key,
                             rnnc_cfg **out)
{
    char where[256];
    const rnnc_cfg *a = config ? rnnc_cfg_get(config, key) : NULL;
    *out = NULL;
    if (!a || a->type == RNNC_CFG_NULL)
        return RNNC_OK;
    bool ok = a->type == RNNC_CFG_INT || a->type == RNNC_CFG_LIST;
    for (size_t i = 0; ok && a->type == RNNC_CFG_LIST && i < a->n; i++)
        ok = a->items[i]->type == RNNC_CFG_INT;
    if (!ok)
        return rnnc_fail(RNNC_E_ARG, "%s: '%s' must be null, an integer or a list of integers, "
                                     "got %s%s",
                         who, key, rnnc_cfg_type_name(a->type),
                         rnnc_cfg_where(a, where, sizeof where));
    *out = rnnc_cfg_clone(a);
    if (!*out)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory", who);
    return RNNC_OK;
}

/* One of `allowed` exactly, else RNNC_E_ARG with a suggestion. */
static rnnc_status pick(const char *v, const char *const *allowed, const char *who,
                        const char *key, int *out)
{
    for (int i = 0; allowed[i]; i++)
        if (strcmp(v, allowed[i]) == 0) {
            *out = i;
            return RNNC_OK;
        }
    const char *near = rnnc_nearest_name(v, allowed);
    char list[160] = "";
    for (int i = 0; allowed[i]; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s'%s'", i ? ", " : "", allowed[i]);
    }
    if (near)
        return rnnc_fail(RNNC_E_ARG, "%s: invalid '%s' \"%s\"; did you mean '%s'? (one of %s)",
                         who, key, v, near, list);
    return rnnc_fail(RNNC_E_ARG, "%s: invalid '%s' \"%s\" (expected one of %s)", who, key, v,
                     list);
}

static rnnc_status read_variance_scaling(rnnc_initializer *in, const rnnc_cfg *config,
                                         const char *who)
{
    RNNC_TRY(rnnc_keras_num_read(config, who, "scale", rnnc_keras_num_float(1.0), &in->p[0]));
    if (!(in->p[0].v > 0.0))
        return rnnc_fail(RNNC_E_ARG, "%s: 'scale' must be a positive float, got %g", who,
                         in->p[0].v);
    const char *mode = NULL, *dist = NULL;
    RNNC_TRY(rnnc_cfg_read_string(config, who, "mode", "fan_in", &mode));
    int m;
    RNNC_TRY(pick(mode, mode_names, who, "mode", &m));
    in->mode = (rnnc__vs_mode)m;
    RNNC_TRY(rnnc_cfg_read_string(config, who, "distribution", "truncated_normal", &dist));
    /* Keras lower-cases the distribution and reads "normal" as truncated. */
    char low[64];
    size_t len = strlen(dist);
    if (len >= sizeof low)
        len = sizeof low - 1;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)dist[i]);
    low[len] = '\0';
    int d;
    RNNC_TRY(pick(strcmp(low, "normal") == 0 ? "truncated_normal" : low, dist_names, who,
                  "distribution", &d));
    in->dist = (rnnc__vs_dist)d;
    return RNNC_OK;
}

/* Config keys each class accepts (its constructor's arguments). */
static const char *const *known_keys(rnnc__init_kind k)
{
    static const char *const none[] = {NULL};
    static const char *const value[] = {"value", NULL};
    static const char *const gain[] = {"gain", NULL};
    static const char *const normal[] = {"seed", "mean", "stddev", NULL};
    static const char *const uniform[] = {"seed", "minval", "maxval", NULL};
    static const char *const vs[] = {"scale", "mode", "distribution", "seed",
                                     "input_axes", "output_axes", NULL};
    static const char *const preset[] = {"seed", "input_axes", "output_axes", NULL};
    static const char *const ortho[] = {"gain", "seed", NULL};
    switch (k) {
    case RNNC__INIT_CONSTANT: return value;
    case RNNC__INIT_IDENTITY: return gain;
    case RNNC__INIT_RANDOM_NORMAL:
    case RNNC__INIT_TRUNCATED_NORMAL: return normal;
    case RNNC__INIT_RANDOM_UNIFORM: return uniform;
    case RNNC__INIT_VARIANCE_SCALING: return vs;
    case RNNC__INIT_GLOROT_UNIFORM:
    case RNNC__INIT_GLOROT_NORMAL:
    case RNNC__INIT_HE_UNIFORM:
    case RNNC__INIT_HE_NORMAL:
    case RNNC__INIT_LECUN_UNIFORM:
    case RNNC__INIT_LECUN_NORMAL: return preset;
    case RNNC__INIT_ORTHOGONAL: return ortho;
    default: return none;
    }
}

/* The presets as (scale, mode, distribution) of VarianceScaling. */
static void preset_params(rnnc_initializer *in)
{
    static const struct {
        rnnc__init_kind kind;
        double scale;
        rnnc__vs_mode mode;
        rnnc__vs_dist dist;
    } presets[] = {
        {RNNC__INIT_GLOROT_UNIFORM, 1, RNNC__VS_FAN_AVG, RNNC__VS_UNIFORM},
        {RNNC__INIT_GLOROT_NORMAL, 1, RNNC__VS_FAN_AVG, RNNC__VS_TRUNCATED_NORMAL},
        {RNNC__INIT_HE_UNIFORM, 2, RNNC__VS_FAN_IN, RNNC__VS_UNIFORM},
        {RNNC__INIT_HE_NORMAL, 2, RNNC__VS_FAN_IN, RNNC__VS_TRUNCATED_NORMAL},
        {RNNC__INIT_LECUN_UNIFORM, 1, RNNC__VS_FAN_IN, RNNC__VS_UNIFORM},
        {RNNC__INIT_LECUN_NORMAL, 1, RNNC__VS_FAN_IN, RNNC__VS_TRUNCATED_NORMAL},
    };
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (presets[i].kind == in->kind) {
            in->p[0] = rnnc_keras_num_float(presets[i].scale);
            in->mode = presets[i].mode;
            in->dist = presets[i].dist;
        }
}

/* Builds a `kind` from its inner config (NULL = all defaults). */
static rnnc_status build(rnnc__init_kind kind, const rnnc_cfg *config, const char *what,
                         rnnc_initializer *in)
{
    char who[256];
    snprintf(who, sizeof who, "%s (%s)", what, rnnc__init_class_names[kind]);
    in->kind = kind;
    switch (kind) {
    case RNNC__INIT_ZEROS:
    case RNNC__INIT_ONES:
        break;
    case RNNC__INIT_CONSTANT:
        RNNC_TRY(rnnc_keras_num_read(config, who, "value", rnnc_keras_num_float(0.0), &in->p[0]));
        break;
    case RNNC__INIT_IDENTITY:
        RNNC_TRY(rnnc_keras_num_read(config, who, "gain", rnnc_keras_num_float(1.0), &in->p[0]));
        break;
    case RNNC__INIT_RANDOM_NORMAL:
    case RNNC__INIT_TRUNCATED_NORMAL:
        RNNC_TRY(rnnc_keras_num_read(config, who, "mean", rnnc_keras_num_float(0.0), &in->p[0]));
        RNNC_TRY(rnnc_keras_num_read(config, who, "stddev", rnnc_keras_num_float(0.05), &in->p[1]));
        RNNC_TRY(read_seed(in, config, who));
        break;
    case RNNC__INIT_RANDOM_UNIFORM:
        RNNC_TRY(rnnc_keras_num_read(config, who, "minval", rnnc_keras_num_float(-0.05), &in->p[0]));
        RNNC_TRY(rnnc_keras_num_read(config, who, "maxval", rnnc_keras_num_float(0.05), &in->p[1]));
        RNNC_TRY(read_seed(in, config, who));
        break;
    case RNNC__INIT_VARIANCE_SCALING:
        RNNC_TRY(read_variance_scaling(in, config, who));
        RNNC_TRY(read_seed(in, config, who));
        RNNC_TRY(read_axes(config, who, "input_axes", &in->input_axes));
        RNNC_TRY(read_axes(config, who, "output_axes", &in->output_axes));
        break;
    case RNNC__INIT_ORTHOGONAL:
        RNNC_TRY(rnnc_keras_num_read(config, who, "gain", rnnc_keras_num_float(1.0), &in->p[0]));
        RNNC_TRY(read_seed(in, config, who));
        break;
    case RNNC__INIT_STFT:
        return rnnc_fail(RNNC_E_UNSUPPORTED,
                         "%s: the STFT initializer (rank-3 signal-processing kernels) is not "
                         "supported by rnnc",
                         what);
    default: /* the six presets */
        preset_params(in);
        RNNC_TRY(read_seed(in, config, who));
        RNNC_TRY(read_axes(config, who, "input_axes", &in->input_axes));
        RNNC_TRY(read_axes(config, who, "output_axes", &in->output_axes));
        break;
    }
    if (config)
        RNNC_TRY(rnnc_cfg_check_unread(config, who, known_keys(kind)));
    return RNNC_OK;
}

static rnnc_status create_named(const char *name, const rnnc_cfg *config, const char *what,
                                rnnc_initializer **out)
{
    int kind;
    RNNC_TRY(rnnc_keras_name_lookup(names, name, "initializer", what, &kind));
    rnnc_initializer *in = calloc(1, sizeof *in);
    if (!in)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory", what);
    rnnc_status s = build((rnnc__init_kind)kind, config, what, in);
    if (s != RNNC_OK) {
        rnnc_initializer_destroy(in);
        return s;
    }
    *out = in;
    return RNNC_OK;
}

rnnc_status rnnc_initializer_from_name(const char *name, const char *what,
                                       rnnc_initializer **out)
{
    *out = NULL;
    what = rnnc_keras_what(what, "initializer");
    if (!name)
        return create_named("glorot_uniform", NULL, what, out);
    return create_named(name, NULL, what, out);
}

rnnc_status rnnc_initializer_from_config(const rnnc_cfg *c, const char *what,
                                         rnnc_initializer **out)
{
    *out = NULL;
    what = rnnc_keras_what(what, "initializer");
    /* Keras's add_weight falls back to glorot_uniform for None. */
    if (!c || c->type == RNNC_CFG_NULL)
        return create_named("glorot_uniform", NULL, what, out);
    rnnc_keras_object o;
    RNNC_TRY(rnnc_keras_object_parse(c, "initializer", MODULE, what, &o));
    return create_named(o.class_name, o.config, what, out);
}

rnnc_status rnnc_initializer_clone(const rnnc_initializer *init, rnnc_initializer **out)
{
    *out = NULL;
    rnnc_initializer *c = malloc(sizeof *c);
    if (!c)
        return rnnc_fail(RNNC_E_NOMEM, "clone of %s: out of memory",
                         rnnc__init_class_names[init->kind]);
    *c = *init; /* a true copy: a None seed stays the seed drawn at construction */
    c->seed_cfg = init->seed_cfg ? rnnc_cfg_clone(init->seed_cfg) : NULL;
    c->input_axes = init->input_axes ? rnnc_cfg_clone(init->input_axes) : NULL;
    c->output_axes = init->output_axes ? rnnc_cfg_clone(init->output_axes) : NULL;
    if ((init->seed_cfg && !c->seed_cfg) || (init->input_axes && !c->input_axes) ||
        (init->output_axes && !c->output_axes)) {
        rnnc_initializer_destroy(c);
        return rnnc_fail(RNNC_E_NOMEM, "clone of %s: out of memory",
                         rnnc__init_class_names[init->kind]);
    }
    *out = c;
    return RNNC_OK;
}

const char *rnnc_initializer_class_name(const rnnc_initializer *init)
{
    return rnnc__init_class_names[init->kind];
}

/* ---------------------------------------------------------------- config */

static rnnc_status set_clone_or_null(rnnc_cfg *map, const char *key, const rnnc_cfg *v)
{
    if (!v)
        return rnnc_cfg_set_null(map, key);
    rnnc_cfg *c = rnnc_cfg_clone(v);
    if (!c)
        return rnnc_fail(RNNC_E_NOMEM, "get_config: out of memory");
    return rnnc_cfg_set(map, key, c);
}

rnnc_status rnnc_initializer_get_config(const rnnc_initializer *init, rnnc_cfg **out)
{
    *out = NULL;
    rnnc_cfg *c = rnnc_cfg_map();
    if (!c)
        return rnnc_fail(RNNC_E_NOMEM, "get_config of %s: out of memory",
                         rnnc__init_class_names[init->kind]);
    rnnc_status s = RNNC_OK;
    /* Key order as Keras's get_config builds it: the base {"seed"} first. */
    if (init->random)
        s = set_clone_or_null(c, "seed", init->seed_cfg);
    switch (init->kind) {
    case RNNC__INIT_CONSTANT:
        if (s == RNNC_OK) s = rnnc_keras_num_set(c, "value", init->p[0]);
        break;
    case RNNC__INIT_IDENTITY:
    case RNNC__INIT_ORTHOGONAL:
        if (s == RNNC_OK) s = rnnc_keras_num_set(c, "gain", init->p[0]);
        break;
    case RNNC__INIT_RANDOM_NORMAL:
    case RNNC__INIT_TRUNCATED_NORMAL:
        if (s == RNNC_OK) s = rnnc_keras_num_set(c, "mean", init->p[0]);
        if (s == RNNC_OK) s = rnnc_keras_num_set(c, "stddev", init->p[1]);
        break;
    case RNNC__INIT_RANDOM_UNIFORM:
        if (s == RNNC_OK) s = rnnc_keras_num_set(c, "minval", init->p[0]);
        if (s == RNNC_OK) s = rnnc_keras_num_set(c, "maxval", init->p[1]);
        break;
    case RNNC__INIT_VARIANCE_SCALING:
        if (s == RNNC_OK) s = rnnc_keras_num_set(c, "scale", init->p[0]);
        if (s == RNNC_OK) s = rnnc_cfg_set_string(c, "mode", mode_names[init->mode]);
        if (s == RNNC_OK) s = rnnc_cfg_set_string(c, "distribution", dist_names[init->dist]);
        /* fall through */
    case RNNC__INIT_GLOROT_UNIFORM:
    case RNNC__INIT_GLOROT_NORMAL:
    case RNNC__INIT_HE_UNIFORM:
    case RNNC__INIT_HE_NORMAL:
    case RNNC__INIT_LECUN_UNIFORM:
    case RNNC__INIT_LECUN_NORMAL:
        if (s == RNNC_OK) s = set_clone_or_null(c, "input_axes", init->input_axes);
        if (s == RNNC_OK) s = set_clone_or_null(c, "output_axes", init->output_axes);
        break;
    default:
        break;
    }
    if (s != RNNC_OK) {
        rnnc_cfg_destroy(c);
        return s;
    }
    return rnnc_keras_object_envelope(MODULE, rnnc__init_class_names[init->kind], c, out);
}
