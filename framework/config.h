/* config.h - the config tree: Keras's get_config / from_config dictionaries.
 *
 * A tree of null, bool, int, float, string, list and map nodes (maps keep
 * insertion order, as Python dicts do, so emitted JSON has Keras's key
 * order). Nodes read from a file carry file:line:col for messages, and each
 * map entry records whether anyone read it, so unread keys can be reported.
 * A tree owns all its nodes and strings; rnnc_cfg_destroy frees the root and
 * everything below. */
#ifndef RNNC_CONFIG_H
#define RNNC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "framework/status.h"

typedef enum {
    RNNC_CFG_NULL,
    RNNC_CFG_BOOL,
    RNNC_CFG_INT,
    RNNC_CFG_FLOAT,
    RNNC_CFG_STRING,
    RNNC_CFG_LIST,
    RNNC_CFG_MAP
} rnnc_cfg_type;

typedef struct rnnc_cfg rnnc_cfg;

struct rnnc_cfg {
    rnnc_cfg_type type;
    union {
        bool b;
        int64_t i;
        double f;
        char *s;
    } v;
    /* LIST and MAP: n items; MAP also has keys[i] and used[i]. */
    size_t n, cap;
    rnnc_cfg **items;
    char **keys;
    bool *used;
    /* Where it came from ("" / 0 when built in memory). */
    const char *file; /* shared, owned by the root's source record */
    int line, col;
    char *file_owned; /* set on the root only */
};

/* Constructors: NULL on out-of-memory. */
rnnc_cfg *rnnc_cfg_null(void);
rnnc_cfg *rnnc_cfg_bool(bool b);
rnnc_cfg *rnnc_cfg_int(int64_t i);
rnnc_cfg *rnnc_cfg_float(double f);
rnnc_cfg *rnnc_cfg_string(const char *s);
rnnc_cfg *rnnc_cfg_list(void);
rnnc_cfg *rnnc_cfg_map(void);
rnnc_cfg *rnnc_cfg_clone(const rnnc_cfg *c);
void rnnc_cfg_destroy(rnnc_cfg *c); /* NULL is a no-op */

/* Appends (takes ownership of item, also on failure: it is freed). */
rnnc_status rnnc_cfg_push(rnnc_cfg *list, rnnc_cfg *item);
/* Sets map[key] = item, replacing an existing entry in place (ownership as push). */
rnnc_status rnnc_cfg_set(rnnc_cfg *map, const char *key, rnnc_cfg *item);
/* Shorthands for rnnc_cfg_set with a fresh scalar. */
rnnc_status rnnc_cfg_set_null(rnnc_cfg *map, const char *key);
rnnc_status rnnc_cfg_set_bool(rnnc_cfg *map, const char *key, bool b);
rnnc_status rnnc_cfg_set_int(rnnc_cfg *map, const char *key, int64_t i);
rnnc_status rnnc_cfg_set_float(rnnc_cfg *map, const char *key, double f);
rnnc_status rnnc_cfg_set_string(rnnc_cfg *map, const char *key, const char *s);

/* map[key] or NULL; marks the entry read. Does not mark on a non-map. */
const rnnc_cfg *rnnc_cfg_get(const rnnc_cfg *map, const char *key);
/* Same without marking (for looking around). */
const rnnc_cfg *rnnc_cfg_peek(const rnnc_cfg *map, const char *key);
/* Removes map[key] if present (Keras 2 keys Keras 3 drops). */
void rnnc_cfg_remove(rnnc_cfg *map, const char *key);
/* Marks every entry of map (and below) as read / unread. */
void rnnc_cfg_mark_all(const rnnc_cfg *c, bool used);

/* "file:line:col" of a node, or "" for in-memory nodes; into buf. */
const char *rnnc_cfg_where(const rnnc_cfg *c, char *buf, size_t cap);
const char *rnnc_cfg_type_name(rnnc_cfg_type t);

/* Typed readers for `what.key` (what = "GRU" etc., used in messages).
 * Missing key or null -> *out = dflt and OK. Wrong type -> RNNC_E_ARG with
 * "GRU: 'units' must be an integer, got string \"x\" (file:3:10)".
 * Floats accept ints; ints accept floats that are whole numbers only when
 * `strict` is false (Keras's units must be an int). */
rnnc_status rnnc_cfg_read_bool(const rnnc_cfg *map, const char *what, const char *key,
                               bool dflt, bool *out);
rnnc_status rnnc_cfg_read_int(const rnnc_cfg *map, const char *what, const char *key,
                              int64_t dflt, int64_t *out);
rnnc_status rnnc_cfg_read_float(const rnnc_cfg *map, const char *what, const char *key,
                                double dflt, double *out);
/* *out points into the tree (valid while it lives); NULL if missing/null and dflt NULL. */
rnnc_status rnnc_cfg_read_string(const rnnc_cfg *map, const char *what, const char *key,
                                 const char *dflt, const char **out);
/* An int list like [null, 10, 8]: null -> -1. At most cap entries, each in
 * [0, RNNC_CFG_MAX_DIM]. */
rnnc_status rnnc_cfg_read_dims(const rnnc_cfg *list, const char *what, const char *key,
                               int64_t *dims, int cap, int *n);

/* Limits on sizes read from a config (docs/spec-format.md, "Limits"): every
 * size is read as a 64-bit integer and checked against these before it is
 * used, so no size is truncated and no product of sizes overflows. */
#define RNNC_CFG_MAX_UNITS ((int64_t)1 << 20)   /* GRU/Dense units, Embedding output_dim */
#define RNNC_CFG_MAX_DIM ((int64_t)INT32_MAX)   /* a shape entry, batch_size, input_dim,
                                                   Embedding input_dim (int32 ids) */

/* An integer in [lo, hi]; missing key or null -> *out = dflt and OK. A
 * value out of range fails with the range in the message:
 * "GRU: 'units' must be an integer in [1, 1048576], got 4294967297 (file:3:10)". */
rnnc_status rnnc_cfg_read_int_range(const rnnc_cfg *map, const char *what, const char *key,
                                    int64_t dflt, int64_t lo, int64_t hi, int64_t *out);
/* The same for a required key: a missing key fails with
 * rnnc_cfg_missing's message (known as there). */
rnnc_status rnnc_cfg_require_int_range(const rnnc_cfg *map, const char *what, const char *key,
                                       int64_t lo, int64_t hi, const char *const *known,
                                       int64_t *out);
/* The error for a required key that map lacks: "what: missing required
 * argument 'units'", preceded by an unread key of map that is not one of
 * `known` (NULL-terminated, may be NULL) and looks like a misspelling of it,
 * so the message points at the cause: "GRU: unrecognized key 'unit'
 * (file:8:18) (did you mean 'units'?); missing required argument 'units'".
 * Always returns RNNC_E_ARG. */
rnnc_status rnnc_cfg_missing(const rnnc_cfg *map, const char *what, const char *key,
                             const char *const *known);
/* For messages about a missing required key: "unrecognized key 'rat'
 * (file:7:20) (did you mean 'rate'?); " when an unread key of map, not one
 * of `known` (may be NULL), looks like a misspelling of key; else "". Into buf. */
const char *rnnc_cfg_misspelt(const rnnc_cfg *map, const char *key, const char *const *known,
                              char *buf, size_t cap);

/* Fails with RNNC_E_ARG naming the first key of map that nobody read, with
 * its position and the nearest of `known` (NULL-terminated) as a suggestion. */
rnnc_status rnnc_cfg_check_unread(const rnnc_cfg *map, const char *what,
                                  const char *const *known);

/* The entry of `names` (NULL-terminated) closest to s by edit distance, or
 * NULL when none is close (for "did you mean ...?"). */
const char *rnnc_nearest_name(const char *s, const char *const *names);

#endif
