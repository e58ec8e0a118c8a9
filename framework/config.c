/* config.c - the config tree: construction, lookup, typed readers, and the
 * "key nobody read" / "did you mean" reporting. */
#include "framework/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static rnnc_cfg *node(rnnc_cfg_type t)
{
    rnnc_cfg *c = calloc(1, sizeof *c);
    if (c) {
        c->type = t;
        c->file = "";
    }
    return c;
}

rnnc_cfg *rnnc_cfg_null(void) { return node(RNNC_CFG_NULL); }
rnnc_cfg *rnnc_cfg_list(void) { return node(RNNC_CFG_LIST); }
rnnc_cfg *rnnc_cfg_map(void) { return node(RNNC_CFG_MAP); }

rnnc_cfg *rnnc_cfg_bool(bool b)
{
    rnnc_cfg *c = node(RNNC_CFG_BOOL);
    if (c)
        c->v.b = b;
    return c;
}

rnnc_cfg *rnnc_cfg_int(int64_t i)
{
    rnnc_cfg *c = node(RNNC_CFG_INT);
    if (c)
        c->v.i = i;
    return c;
}

rnnc_cfg *rnnc_cfg_float(double f)
{
    rnnc_cfg *c = node(RNNC_CFG_FLOAT);
    if (c)
        c->v.f = f;
    return c;
}

rnnc_cfg *rnnc_cfg_string(const char *s)
{
    rnnc_cfg *c = node(RNNC_CFG_STRING);
    if (c && !(c->v.s = dup_str(s ? s : ""))) {
        free(c);
        return NULL;
    }
    return c;
}

void rnnc_cfg_destroy(rnnc_cfg *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        rnnc_cfg_destroy(c->items[i]);
        if (c->keys)
            free(c->keys[i]);
    }
    free(c->items);
    free(c->keys);
    free(c->used);
    if (c->type == RNNC_CFG_STRING)
        free(c->v.s);
    free(c->file_owned);
    free(c);
}

static rnnc_cfg *clone_rec(const rnnc_cfg *c);

static void repoint_file(rnnc_cfg *c, const char *file)
{
    if (c->line > 0)
        c->file = file;
    for (size_t i = 0; i < c->n; i++)
        repoint_file(c->items[i], file);
}

/* The clone owns a copy of the source file name, so it outlives the original. */
rnnc_cfg *rnnc_cfg_clone(const rnnc_cfg *c)
{
    rnnc_cfg *d = clone_rec(c);
    if (d && c->file && c->file[0]) {
        size_t n = strlen(c->file) + 1;
        d->file_owned = malloc(n);
        if (!d->file_owned) {
            rnnc_cfg_destroy(d);
            return NULL;
        }
        memcpy(d->file_owned, c->file, n);
        repoint_file(d, d->file_owned);
    }
    return d;
}

static rnnc_cfg *clone_rec(const rnnc_cfg *c)
{
    if (!c)
        return NULL;
    rnnc_cfg *d;
    switch (c->type) {
    case RNNC_CFG_STRING: d = rnnc_cfg_string(c->v.s); break;
    default:
        d = node(c->type);
        if (d && c->type != RNNC_CFG_LIST && c->type != RNNC_CFG_MAP)
            d->v = c->v;
        break;
    }
    if (!d)
        return NULL;
    d->file = ""; /* set by rnnc_cfg_clone to its own copy of the name */
    d->line = c->line;
    d->col = c->col;
    for (size_t i = 0; i < c->n; i++) {
        rnnc_cfg *item = clone_rec(c->items[i]);
        rnnc_status s = item ? (c->type == RNNC_CFG_MAP ? rnnc_cfg_set(d, c->keys[i], item)
                                                        : rnnc_cfg_push(d, item))
                             : RNNC_E_NOMEM;
        if (s != RNNC_OK) {
            rnnc_cfg_destroy(d);
            return NULL;
        }
    }
    return d;
}

static rnnc_status reserve(rnnc_cfg *c, size_t need)
{
    if (need <= c->cap)
        return RNNC_OK;
    size_t ncap = c->cap ? c->cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    rnnc_cfg **items = realloc(c->items, ncap * sizeof *items);
    if (!items)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory growing a config node");
    c->items = items;
    if (c->type == RNNC_CFG_MAP) {
        char **keys = realloc(c->keys, ncap * sizeof *keys);
        if (!keys)
            return rnnc_fail(RNNC_E_NOMEM, "out of memory growing a config node");
        c->keys = keys;
        bool *used = realloc(c->used, ncap * sizeof *used);
        if (!used)
            return rnnc_fail(RNNC_E_NOMEM, "out of memory growing a config node");
        c->used = used;
    }
    c->cap = ncap;
    return RNNC_OK;
}

rnnc_status rnnc_cfg_push(rnnc_cfg *list, rnnc_cfg *item)
{
    if (!item)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory building a config list");
    if (list->type != RNNC_CFG_LIST) {
        rnnc_cfg_destroy(item);
        return rnnc_fail(RNNC_E_ARG, "config: push onto a %s, not a list", rnnc_cfg_type_name(list->type));
    }
    rnnc_status s = reserve(list, list->n + 1);
    if (s != RNNC_OK) {
        rnnc_cfg_destroy(item);
        return s;
    }
    list->items[list->n++] = item;
    return RNNC_OK;
}

static long find_key(const rnnc_cfg *map, const char *key)
{
    if (!map || map->type != RNNC_CFG_MAP)
        return -1;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return (long)i;
    return -1;
}

rnnc_status rnnc_cfg_set(rnnc_cfg *map, const char *key, rnnc_cfg *item)
{
    if (!item)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory building config key '%s'", key);
    if (map->type != RNNC_CFG_MAP) {
        rnnc_cfg_destroy(item);
        return rnnc_fail(RNNC_E_ARG, "config: set '%s' on a %s, not a map", key,
                         rnnc_cfg_type_name(map->type));
    }
    long at = find_key(map, key);
    if (at >= 0) {
        rnnc_cfg_destroy(map->items[at]);
        map->items[at] = item;
        return RNNC_OK;
    }
    char *k = dup_str(key);
    rnnc_status s = k ? reserve(map, map->n + 1) : rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if (s != RNNC_OK) {
        free(k);
        rnnc_cfg_destroy(item);
        return s;
    }
    map->keys[map->n] = k;
    map->used[map->n] = false;
    map->items[map->n++] = item;
    return RNNC_OK;
}

rnnc_status rnnc_cfg_set_null(rnnc_cfg *m, const char *k) { return rnnc_cfg_set(m, k, rnnc_cfg_null()); }
rnnc_status rnnc_cfg_set_bool(rnnc_cfg *m, const char *k, bool b) { return rnnc_cfg_set(m, k, rnnc_cfg_bool(b)); }
rnnc_status rnnc_cfg_set_int(rnnc_cfg *m, const char *k, int64_t i) { return rnnc_cfg_set(m, k, rnnc_cfg_int(i)); }
rnnc_status rnnc_cfg_set_float(rnnc_cfg *m, const char *k, double f) { return rnnc_cfg_set(m, k, rnnc_cfg_float(f)); }
rnnc_status rnnc_cfg_set_string(rnnc_cfg *m, const char *k, const char *s)
{
    return rnnc_cfg_set(m, k, rnnc_cfg_string(s));
}

const rnnc_cfg *rnnc_cfg_get(const rnnc_cfg *map, const char *key)
{
    long at = find_key(map, key);
    if (at < 0)
        return NULL;
    map->used[at] = true;
    return map->items[at];
}

const rnnc_cfg *rnnc_cfg_peek(const rnnc_cfg *map, const char *key)
{
    long at = find_key(map, key);
    return at < 0 ? NULL : map->items[at];
}

void rnnc_cfg_remove(rnnc_cfg *map, const char *key)
{
    long at = find_key(map, key);
    if (at < 0)
        return;
    rnnc_cfg_destroy(map->items[at]);
    free(map->keys[at]);
    for (size_t i = (size_t)at + 1; i < map->n; i++) {
        map->items[i - 1] = map->items[i];
        map->keys[i - 1] = map->keys[i];
        map->used[i - 1] = map->used[i];
    }
    map->n--;
}

void rnnc_cfg_mark_all(const rnnc_cfg *c, bool used)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        if (c->type == RNNC_CFG_MAP)
            c->used[i] = used;
        rnnc_cfg_mark_all(c->items[i], used);
    }
}

const char *rnnc_cfg_where(const rnnc_cfg *c, char *buf, size_t cap)
{
    if (!c || c->line <= 0)
        snprintf(buf, cap, "%s", "");
    else
        snprintf(buf, cap, " (%s:%d:%d)", c->file ? c->file : "", c->line, c->col);
    return buf;
}

const char *rnnc_cfg_type_name(rnnc_cfg_type t)
{
    static const char *const names[] = {"null", "bool", "integer", "float", "string", "list", "map"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

static const char *describe(const rnnc_cfg *c, char *buf, size_t cap)
{
    switch (c->type) {
    case RNNC_CFG_BOOL: snprintf(buf, cap, "bool %s", c->v.b ? "true" : "false"); break;
    case RNNC_CFG_INT: snprintf(buf, cap, "integer %lld", (long long)c->v.i); break;
    case RNNC_CFG_FLOAT: snprintf(buf, cap, "float %g", c->v.f); break;
    case RNNC_CFG_STRING: snprintf(buf, cap, "string \"%.60s\"", c->v.s); break;
    default: snprintf(buf, cap, "%s", rnnc_cfg_type_name(c->type)); break;
    }
    return buf;
}

static rnnc_status wrong_type(const rnnc_cfg *c, const char *what, const char *key,
                              const char *expected)
{
    char d[128], w[300];
    return rnnc_fail(RNNC_E_ARG, "%s: '%s' must be %s, got %s%s", what, key, expected,
                     describe(c, d, sizeof d), rnnc_cfg_where(c, w, sizeof w));
}

rnnc_status rnnc_cfg_read_bool(const rnnc_cfg *map, const char *what, const char *key,
                               bool dflt, bool *out)
{
    const rnnc_cfg *c = rnnc_cfg_get(map, key);
    *out = dflt;
    if (!c || c->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (c->type != RNNC_CFG_BOOL)
        return wrong_type(c, what, key, "true or false");
    *out = c->v.b;
    return RNNC_OK;
}

rnnc_status rnnc_cfg_read_int(const rnnc_cfg *map, const char *what, const char *key,
                              int64_t dflt, int64_t *out)
{
    const rnnc_cfg *c = rnnc_cfg_get(map, key);
    *out = dflt;
    if (!c || c->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (c->type == RNNC_CFG_INT) {
        *out = c->v.i;
        return RNNC_OK;
    }
    return wrong_type(c, what, key, "an integer");
}

rnnc_status rnnc_cfg_read_float(const rnnc_cfg *map, const char *what, const char *key,
                                double dflt, double *out)
{
    const rnnc_cfg *c = rnnc_cfg_get(map, key);
    *out = dflt;
    if (!c || c->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (c->type == RNNC_CFG_FLOAT)
        *out = c->v.f;
    else if (c->type == RNNC_CFG_INT)
        *out = (double)c->v.i;
    else
        return wrong_type(c, what, key, "a number");
    return RNNC_OK;
}

rnnc_status rnnc_cfg_read_string(const rnnc_cfg *map, const char *what, const char *key,
                                 const char *dflt, const char **out)
{
    const rnnc_cfg *c = rnnc_cfg_get(map, key);
    *out = dflt;
    if (!c || c->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (c->type != RNNC_CFG_STRING)
        return wrong_type(c, what, key, "a string");
    *out = c->v.s;
    return RNNC_OK;
}

rnnc_status rnnc_cfg_read_dims(const rnnc_cfg *list, const char *what, const char *key,
                               int64_t *dims, int cap, int *n)
{
    char w[300];
    *n = 0;
    if (!list || list->type != RNNC_CFG_LIST)
        return list ? wrong_type(list, what, key, "a list of dimensions") : RNNC_OK;
    if (list->n > (size_t)cap)
        return rnnc_fail(RNNC_E_ARG, "%s: '%s' has %zu dimensions, at most %d are supported%s",
                         what, key, list->n, cap, rnnc_cfg_where(list, w, sizeof w));
    for (size_t i = 0; i < list->n; i++) {
        const rnnc_cfg *d = list->items[i];
        if (d->type == RNNC_CFG_NULL)
            dims[i] = -1;
        else if (d->type == RNNC_CFG_INT && d->v.i >= 0 && d->v.i <= RNNC_CFG_MAX_DIM)
            dims[i] = d->v.i;
        else if (d->type == RNNC_CFG_INT && d->v.i > RNNC_CFG_MAX_DIM)
            return rnnc_fail(RNNC_E_ARG, "%s: '%s' entry %zu is %lld; a dimension must be at most %lld%s",
                             what, key, i, (long long)d->v.i, (long long)RNNC_CFG_MAX_DIM,
                             rnnc_cfg_where(d, w, sizeof w));
        else
            return wrong_type(d, what, key, "a list of non-negative integers or null");
    }
    *n = (int)list->n;
    return RNNC_OK;
}

static rnnc_status int_in_range(const rnnc_cfg *c, const char *what, const char *key, int64_t lo,
                                int64_t hi, int64_t *out)
{
    char d[128], w[300];
    if (c->type == RNNC_CFG_INT && c->v.i >= lo && c->v.i <= hi) {
        *out = c->v.i;
        return RNNC_OK;
    }
    if (lo == 1)
        return rnnc_fail(RNNC_E_ARG, "%s: '%s' must be a positive integer of at most %lld, got %s%s", what,
                         key, (long long)hi, describe(c, d, sizeof d), rnnc_cfg_where(c, w, sizeof w));
    return rnnc_fail(RNNC_E_ARG, "%s: '%s' must be an integer in [%lld, %lld], got %s%s", what, key,
                     (long long)lo, (long long)hi, describe(c, d, sizeof d),
                     rnnc_cfg_where(c, w, sizeof w));
}

rnnc_status rnnc_cfg_read_int_range(const rnnc_cfg *map, const char *what, const char *key,
                                    int64_t dflt, int64_t lo, int64_t hi, int64_t *out)
{
    const rnnc_cfg *c = rnnc_cfg_get(map, key);
    *out = dflt;
    if (!c || c->type == RNNC_CFG_NULL)
        return RNNC_OK;
    return int_in_range(c, what, key, lo, hi, out);
}

rnnc_status rnnc_cfg_require_int_range(const rnnc_cfg *map, const char *what, const char *key,
                                       int64_t lo, int64_t hi, const char *const *known,
                                       int64_t *out)
{
    const rnnc_cfg *c = rnnc_cfg_get(map, key);
    *out = 0;
    if (!c)
        return rnnc_cfg_missing(map, what, key, known);
    return int_in_range(c, what, key, lo, hi, out);
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = (a[i - 1] == b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *rnnc_nearest_name(const char *s, const char *const *names)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    if (!s || !names)
        return NULL;
    for (size_t i = 0; names[i]; i++) {
        size_t d = edit_distance(s, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    /* Close means: at most a third of the name changed (and at least 1 edit allowed). */
    size_t len = strlen(s);
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    return best_d <= limit ? best : NULL;
}

static bool in_list(const char *s, const char *const *names)
{
    for (size_t i = 0; names && names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}

const char *rnnc_cfg_misspelt(const rnnc_cfg *map, const char *key, const char *const *known,
                              char *buf, size_t cap)
{
    char w[300];
    const char *const want[] = {key, NULL};
    snprintf(buf, cap, "%s", "");
    for (size_t i = 0; map && map->type == RNNC_CFG_MAP && i < map->n; i++) {
        if (map->used[i] || in_list(map->keys[i], known) || !rnnc_nearest_name(map->keys[i], want))
            continue;
        snprintf(buf, cap, "unrecognized key '%.100s'%s (did you mean '%s'?); ", map->keys[i],
                 rnnc_cfg_where(map->items[i], w, sizeof w), key);
        break;
    }
    return buf;
}

rnnc_status rnnc_cfg_missing(const rnnc_cfg *map, const char *what, const char *key,
                             const char *const *known)
{
    char hint[600];
    return rnnc_fail(RNNC_E_ARG, "%s: %smissing required argument '%s'", what,
                     rnnc_cfg_misspelt(map, key, known, hint, sizeof hint), key);
}

rnnc_status rnnc_cfg_check_unread(const rnnc_cfg *map, const char *what,
                                  const char *const *known)
{
    char w[300];
    if (!map || map->type != RNNC_CFG_MAP)
        return RNNC_OK;
    for (size_t i = 0; i < map->n; i++) {
        if (map->used[i])
            continue;
        const char *near = rnnc_nearest_name(map->keys[i], known);
        return rnnc_fail(RNNC_E_ARG, "%s: unrecognized key '%s'%s%s%s%s", what, map->keys[i],
                         rnnc_cfg_where(map->items[i], w, sizeof w), near ? " (did you mean '" : "",
                         near ? near : "", near ? "'?)" : "");
    }
    return RNNC_OK;
}
