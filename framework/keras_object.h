/* keras_object.h - private helpers shared by initializers.c, regularizers.c
 * and constraints.c: reading Keras's serialized object envelope (spec 12.1,
 * 12.3), resolving a class name against a family's name table, reading
 * numbers while remembering whether they were written as int or float (Keras
 * echoes them back as given), and building the envelope for get_config.
 *
 * Not a public header: names carry the rnnc__ prefix. */
#ifndef RNNC_KERAS_OBJECT_H
#define RNNC_KERAS_OBJECT_H

#include <stdbool.h>
#include <stddef.h>

#include "framework/config.h"

/* One accepted spelling of a class name and the family's class it maps to. */
typedef struct rnnc__kname {
    const char *name; /* "glorot_uniform", "GlorotUniform", "uniform", ... */
    int kind;         /* the family's enum value */
} rnnc__kname;

/* What a string or an envelope dict names. */
typedef struct rnnc__kobj {
    const char *class_name; /* points into the tree; never NULL on success */
    const rnnc_cfg *config; /* the inner config map, or NULL when absent/null */
} rnnc__kobj;

/* Splits a string or {"module", "class_name", "config", ...} dict. `family`
 * is "initializer" / "regularizer" / "constraint" and `module` the Keras
 * module ("keras.initializers") for messages. Fails with RNNC_E_ARG on an
 * explicit "module": null (unregistered custom class), a module outside
 * keras, a missing or non-string class_name, a non-map config, a
 * registered_name naming a custom class, or a node of any other type. */
rnnc_status rnnc__kobj_parse(const rnnc_cfg *c, const char *family, const char *module,
                             const char *what, rnnc__kobj *out);

/* Finds name in a table ending with {NULL, 0}. Unknown -> RNNC_E_ARG
 * "<what>: unknown <family> 'x'; did you mean 'y'?" listing the valid
 * names when nothing is close. */
rnnc_status rnnc__kname_lookup(const rnnc__kname *table, const char *name,
                               const char *family, const char *what, int *kind);

/* A number as written: Keras stores constructor arguments as given and
 * get_config echoes 2 as 2 and 2.0 as 2.0. */
typedef struct rnnc__num {
    double v;
    bool is_int;
} rnnc__num;

static inline rnnc__num rnnc__num_float(double v) { return (rnnc__num){v, false}; }
static inline rnnc__num rnnc__num_int(double v) { return (rnnc__num){v, true}; }

/* map[key] as a number; missing or null -> dflt. Other types (bool, string,
 * list, ...) -> RNNC_E_ARG naming what and key. map may be NULL. */
rnnc_status rnnc__num_read(const rnnc_cfg *map, const char *what, const char *key,
                           rnnc__num dflt, rnnc__num *out);
/* map[key] = n, as an int when it was written as one. */
rnnc_status rnnc__num_set(rnnc_cfg *map, const char *key, rnnc__num n);

/* Wraps config (ownership taken, also on failure) into
 * {"module": module, "class_name": class_name, "config": config,
 *  "registered_name": null}. */
rnnc_status rnnc__kobj_envelope(const char *module, const char *class_name,
                                rnnc_cfg *config, rnnc_cfg **out);

/* "what" for messages: what itself, or dflt when what is NULL or empty. */
static inline const char *rnnc__what(const char *what, const char *dflt)
{
    return (what && what[0]) ? what : dflt;
}

#endif
