/* keras_object.h - Keras's serialized objects, for the families read from
 * configs (initializers, regularizers, constraints, optimizers, schedules,
 * losses) and for objects of your own: reading the object envelope (spec
 * 12.1, 12.3), resolving a class name against a family's name table,
 * reading numbers while remembering whether they were written as int or
 * float (Keras echoes them back as given), and building the envelope for
 * get_config. */
#ifndef RNNC_KERAS_OBJECT_H
#define RNNC_KERAS_OBJECT_H

#include <stdbool.h>
#include <stddef.h>

#include "framework/config.h"

/* One accepted spelling of a class name and the family's class it maps to. */
typedef struct rnnc_keras_name {
    const char *name; /* "glorot_uniform", "GlorotUniform", "uniform", ... */
    int kind;         /* the family's enum value */
} rnnc_keras_name;

/* What a string or an envelope dict names. */
typedef struct rnnc_keras_object {
    const char *class_name; /* points into the tree; never NULL on success */
    const rnnc_cfg *config; /* the inner config map, or NULL when absent/null */
} rnnc_keras_object;

/* Splits a string or {"module", "class_name", "config", ...} dict. `family`
 * is "initializer" / "regularizer" / "constraint" and `module` the Keras
 * module ("keras.initializers") for messages. Fails with RNNC_E_ARG on an
 * explicit "module": null (unregistered custom class), a module outside
 * keras, a missing or non-string class_name, a non-map config, a
 * registered_name naming a custom class, or a node of any other type. */
rnnc_status rnnc_keras_object_parse(const rnnc_cfg *c, const char *family, const char *module,
                                    const char *what, rnnc_keras_object *out);

/* Finds name in a table ending with {NULL, 0}. Unknown -> RNNC_E_ARG
 * "<what>: unknown <family> 'x'; did you mean 'y'?" listing the valid
 * names when nothing is close. */
rnnc_status rnnc_keras_name_lookup(const rnnc_keras_name *table, const char *name,
                                   const char *family, const char *what, int *kind);

/* A number as written: Keras stores constructor arguments as given and
 * get_config echoes 2 as 2 and 2.0 as 2.0. */
typedef struct rnnc_keras_num {
    double v;
    bool is_int;
} rnnc_keras_num;

static inline rnnc_keras_num rnnc_keras_num_float(double v) { return (rnnc_keras_num){v, false}; }
static inline rnnc_keras_num rnnc_keras_num_int(double v) { return (rnnc_keras_num){v, true}; }

/* map[key] as a number; missing or null -> dflt. Other types (bool, string,
 * list, ...) -> RNNC_E_ARG naming what and key. map may be NULL. */
rnnc_status rnnc_keras_num_read(const rnnc_cfg *map, const char *what, const char *key,
                                rnnc_keras_num dflt, rnnc_keras_num *out);
/* map[key] = n, as an int when it was written as one. */
rnnc_status rnnc_keras_num_set(rnnc_cfg *map, const char *key, rnnc_keras_num n);

/* Wraps config (ownership taken, also on failure) into
 * {"module": module, "class_name": class_name, "config": config,
 *  "registered_name": null}. */
rnnc_status rnnc_keras_object_envelope(const char *module, const char *class_name,
                                       rnnc_cfg *config, rnnc_cfg **out);

/* "what" for messages: what itself, or dflt when what is NULL or empty. */
static inline const char *rnnc_keras_what(const char *what, const char *dflt)
{
    return (what && what[0]) ? what : dflt;
}

#endif
