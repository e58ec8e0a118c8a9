/* yaml_reader.c - YAML (and JSON) text -> config tree, on libyaml's event API.
 *
 * Holds: reading a file with size and type checks, the event loop that
 * builds the tree, core-schema scalar typing, bounded anchors/aliases and
 * merge keys, duplicate-key detection, and messages with file:line:col.
 * Leaves out: YAML features a model spec has no use for (complex keys,
 * multiple documents, custom tags), which are rejected with a message.
 * Numbers are parsed with strtod, which follows LC_NUMERIC: the library
 * never calls setlocale, so this is the "C" locale unless the program
 * changes it. */
#define _POSIX_C_SOURCE 200809L /* open, fstat, strdup */

#include "io/spec_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"
/* How many \uD8xx\uDCxx escapes one text may need rewritten (see rewrite_surrogates). */
#define MAX_SURROGATE_REWRITES 256

typedef struct pos {
    int line, col; /* 1-based; col counts characters */
} pos;

typedef struct anchor {
    char *name;
    rnnc_cfg *node;       /* in the tree or the graveyard; not owned */
    size_t made_before;   /* r->made when the node started */
    size_t size;          /* nodes in the subtree, once complete */
    int height;           /* collection nesting of the subtree (a scalar: 0) */
    bool complete;
} anchor;

typedef enum { PENDING_NONE, PENDING_VALUE, PENDING_MERGE } pending;

/* A mapping or sequence whose end event has not come yet. */
typedef struct frame {
    rnnc_cfg *node;       /* owned by its parent, the root slot or the graveyard */
    long anchor_ix;       /* its entry in r->anchors, or -1 */
    int max_child_height;
    /* Mappings only. */
    pending want;         /* what the next node is */
    char *key;            /* PENDING_VALUE: the key waiting for its value (owned) */
    pos key_at;
    pos *key_pos;         /* where each entry's key was written; parallel to node->keys */
    size_t key_pos_cap;
    size_t *slots;        /* open-addressing index of node->keys: entry + 1, 0 = free */
    size_t nslots;
    bool has_merge;
    pos merge_at;
    rnnc_cfg *merge;      /* the value of '<<' (in the graveyard; not owned) */
} frame;

typedef struct reader {
    char *file;                 /* the name every node points at; owned until the root takes it */
    const unsigned char *text;  /* the input as parsed (after surrogate rewrites) */
    size_t len;
    const pos *shifts;          /* where rewrites shortened a line by 2 characters */
    size_t nshifts;
    rnnc_cfg *root;
    rnnc_cfg *graveyard;        /* owns merge sources, which aliases may still copy */
    frame stack[RNNC_SPEC_MAX_DEPTH];
    int depth;
    anchor *anchors;
    size_t nanchors, anchors_cap;
    size_t made;                /* nodes created so far (parsed and copied) */
    size_t expanded;            /* nodes copied by aliases and merge keys */
    size_t aliases;
    int documents;
    size_t rewrite_at;          /* byte offset of a surrogate pair escape to rewrite, or SIZE_MAX */
} reader;

/* ---- messages ---------------------------------------------------------- */

/* A position in the text as parsed -> the same place in the original text:
 * each surrogate rewrite earlier on its line took 2 characters away. */
static pos unshift(const reader *r, pos p)
{
    int add = 0;
    for (size_t i = 0; i < r->nshifts; i++)
        if (r->shifts[i].line == p.line && r->shifts[i].col < p.col)
            add += 2;
    p.col += add;
    return p;
}

static pos pos_of(const reader *r, yaml_mark_t m)
{
    pos p = {m.line < INT_MAX ? (int)m.line + 1 : INT_MAX,
             m.column < INT_MAX - 1024 ? (int)m.column + 1 : INT_MAX - 1024}; /* room for unshift */
    return unshift(r, p);
}

static rnnc_status fail_at(const reader *r, pos p, rnnc_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static rnnc_status fail_at(const reader *r, pos p, rnnc_status code, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rnnc_fail(code, "%s:%d:%d: %s", r->file, p.line, p.col, msg);
}

static rnnc_status nomem(const reader *r)
{
    return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory while reading the spec", r->file);
}

/* Line and column (1-based, characters) of a byte offset into the UTF-8
 * text as parsed, before undoing surrogate rewrites. */
static pos raw_pos_of_offset(const reader *r, size_t off)
{
    pos p = {1, 1};
    size_t i = 0;
    if (r->len >= 3 && memcmp(r->text, "\xEF\xBB\xBF", 3) == 0)
        i = 3; /* libyaml does not count the byte order mark */
    for (; i < off && i < r->len; i++) {
        if (r->text[i] == '\n') {
            p.line++;
            p.col = 1;
        } else if ((r->text[i] & 0xC0) != 0x80) {
            p.col++;
        }
    }
    return p;
}

static pos pos_of_offset(const reader *r, size_t off)
{
    return unshift(r, raw_pos_of_offset(r, off));
}

/* Byte offset of the character with libyaml's index ci (UTF-8 input). */
static size_t offset_of_index(const reader *r, size_t ci)
{
    size_t i = 0, c = 0;
    if (r->len >= 3 && memcmp(r->text, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    for (; i < r->len; i++) {
        if ((r->text[i] & 0xC0) == 0x80)
            continue;
        if (c++ == ci)
            return i;
    }
    return r->len;
}

static int hex4(const unsigned char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* True if text[at..] is \uD8xx\uDCxx: a surrogate pair as JSON writes it. */
static bool is_surrogate_pair_escape(const reader *r, size_t at)
{
    if (at + 12 > r->len)
        return false;
    const unsigned char *s = r->text + at;
    int hi = hex4(s + 2), lo = hex4(s + 8);
    return s[0] == '\\' && s[1] == 'u' && s[6] == '\\' && s[7] == 'u' && hi >= 0xD800 &&
           hi <= 0xDBFF && lo >= 0xDC00 && lo <= 0xDFFF;
}

static rnnc_status libyaml_error(reader *r, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "unknown error";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return nomem(r);
    case YAML_READER_ERROR: {
        pos at = pos_of_offset(r, p->problem_offset);
        char val[32] = "";
        if (p->problem_value != -1)
            snprintf(val, sizeof val, " 0x%02X", (unsigned)p->problem_value);
        return fail_at(r, at, RNNC_E_FORMAT,
                       "not readable as text: %s%s at byte offset %zu (a spec must be UTF-8 or "
                       "UTF-16 text)",
                       problem, val, p->problem_offset);
    }
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
    default: {
        /* libyaml rejects surrogate escapes, but JSON writes characters beyond
         * U+FFFF as a pair of them (Python's ensure_ascii): ask for a rewrite. */
        if (p->error == YAML_SCANNER_ERROR &&
            strcmp(problem, "found invalid Unicode character escape code") == 0 &&
            p->problem_mark.index >= 2) {
            size_t at = offset_of_index(r, p->problem_mark.index);
            if (at >= 2 && is_surrogate_pair_escape(r, at - 2))
                r->rewrite_at = at - 2;
        }
        pos at = pos_of(r, p->problem_mark);
        if (p->context) {
            pos ctx = pos_of(r, p->context_mark);
            return fail_at(r, at, RNNC_E_FORMAT, "YAML syntax error: %s (%s at line %d, column %d)",
                           problem, p->context, ctx.line, ctx.col);
        }
        return fail_at(r, at, RNNC_E_FORMAT, "YAML syntax error: %s", problem);
    }
    }
}

/* ---- building nodes ---------------------------------------------------- */

static rnnc_status node_room(const reader *r, rnnc_cfg *c)
{
    if (c->n < c->cap)
        return RNNC_OK;
    size_t ncap = c->cap ? c->cap * 2 : 4;
    rnnc_cfg **items = realloc(c->items, ncap * sizeof *items);
    if (!items)
        return nomem(r);
    c->items = items;
    if (c->type == RNNC_CFG_MAP) {
        char **keys = realloc(c->keys, ncap * sizeof *keys);
        if (!keys)
            return nomem(r);
        c->keys = keys;
        bool *used = realloc(c->used, ncap * sizeof *used);
        if (!used)
            return nomem(r);
        c->used = used;
    }
    c->cap = ncap;
    return RNNC_OK;
}

/* Appends item (and key, for a map) to c. Takes ownership of both, also on failure.
 * Bypasses rnnc_cfg_set's linear duplicate search: callers already know the
 * key is new, and a file may hold a map with very many keys. */
static rnnc_status node_append(const reader *r, rnnc_cfg *c, char *key, rnnc_cfg *item)
{
    rnnc_status s = node_room(r, c);
    if (s != RNNC_OK) {
        free(key);
        rnnc_cfg_destroy(item);
        return s;
    }
    if (c->type == RNNC_CFG_MAP) {
        c->keys[c->n] = key;
        c->used[c->n] = false;
    }
    c->items[c->n++] = item;
    return RNNC_OK;
}

static rnnc_cfg *new_node(reader *r, rnnc_cfg_type t, pos at)
{
    rnnc_cfg *c;
    switch (t) {
    case RNNC_CFG_LIST: c = rnnc_cfg_list(); break;
    case RNNC_CFG_MAP: c = rnnc_cfg_map(); break;
    default: c = rnnc_cfg_null(); break;
    }
    if (c) {
        c->type = t;
        c->file = r->file;
        c->line = at.line;
        c->col = at.col;
        r->made++;
    }
    return c;
}

/* Deep copy for aliases and merge keys, charged to the expansion budget. */
static rnnc_status copy_tree(reader *r, const rnnc_cfg *src, const char *why, pos at,
                             rnnc_cfg **out)
{
    *out = NULL;
    if (r->expanded >= RNNC_SPEC_MAX_EXPANDED)
        return fail_at(r, at, RNNC_E_FORMAT,
                       "%s would copy more than %d nodes in total; the spec is refused "
                       "(an alias bomb?)",
                       why, RNNC_SPEC_MAX_EXPANDED);
    r->expanded++;
    rnnc_cfg *d = new_node(r, src->type, (pos){src->line, src->col});
    if (!d)
        return nomem(r);
    d->file = src->file;
    if (src->type == RNNC_CFG_STRING) {
        if (!(d->v.s = strdup(src->v.s))) {
            d->type = RNNC_CFG_NULL;
            rnnc_cfg_destroy(d);
            return nomem(r);
        }
    } else if (src->type != RNNC_CFG_LIST && src->type != RNNC_CFG_MAP) {
        d->v = src->v;
    }
    for (size_t i = 0; i < src->n; i++) {
        rnnc_cfg *item;
        rnnc_status s = copy_tree(r, src->items[i], why, at, &item);
        char *key = NULL;
        if (s == RNNC_OK && src->type == RNNC_CFG_MAP && !(key = strdup(src->keys[i]))) {
            rnnc_cfg_destroy(item);
            s = nomem(r);
        }
        if (s == RNNC_OK)
            s = node_append(r, d, key, item);
        if (s != RNNC_OK) {
            rnnc_cfg_destroy(d);
            return s;
        }
    }
    *out = d;
    return RNNC_OK;
}

/* ---- the key index of an open mapping ------------------------------------ */

static size_t key_hash(const char *k)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211u;
    return (size_t)h;
}

static long frame_find(const frame *f, const char *key)
{
    if (!f->nslots)
        return -1;
    size_t mask = f->nslots - 1;
    for (size_t h = key_hash(key) & mask; f->slots[h]; h = (h + 1) & mask)
        if (strcmp(f->node->keys[f->slots[h] - 1], key) == 0)
            return (long)(f->slots[h] - 1);
    return -1;
}

static void slot_put(size_t *slots, size_t nslots, const char *key, size_t entry)
{
    size_t mask = nslots - 1, h = key_hash(key) & mask;
    while (slots[h])
        h = (h + 1) & mask;
    slots[h] = entry + 1;
}

/* Indexes the map's last entry, growing the table to stay at most half full. */
static rnnc_status frame_index_last(const reader *r, frame *f)
{
    size_t n = f->node->n;
    if (2 * n > f->nslots) {
        size_t ns = f->nslots ? f->nslots * 2 : 16;
        size_t *slots = calloc(ns, sizeof *slots);
        if (!slots)
            return nomem(r);
        for (size_t i = 0; i + 1 < n; i++)
            slot_put(slots, ns, f->node->keys[i], i);
        free(f->slots);
        f->slots = slots;
        f->nslots = ns;
    }
    slot_put(f->slots, f->nslots, f->node->keys[n - 1], n - 1);
    return RNNC_OK;
}

/* Adds key: item to the open mapping f (ownership of both taken). */
static rnnc_status frame_add(const reader *r, frame *f, char *key, pos key_at, rnnc_cfg *item)
{
    if (f->node->n >= f->key_pos_cap) {
        size_t ncap = f->key_pos_cap ? f->key_pos_cap * 2 : 4;
        pos *kp = realloc(f->key_pos, ncap * sizeof *kp);
        if (!kp) {
            free(key);
            rnnc_cfg_destroy(item);
            return nomem(r);
        }
        f->key_pos = kp;
        f->key_pos_cap = ncap;
    }
    f->key_pos[f->node->n] = key_at;
    RNNC_TRY(node_append(r, f->node, key, item));
    return frame_index_last(r, f);
}

static void frame_free(frame *f)
{
    free(f->key);
    free(f->key_pos);
    free(f->slots);
    memset(f, 0, sizeof *f);
}

/* ---- scalars --------------------------------------------------------------- */

typedef enum { K_STRING, K_NULL, K_BOOL, K_INT, K_FLOAT } kind;

static bool span_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

static bool all_digits(const char *s, size_t n, int base)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = base == 8    ? (c >= '0' && c <= '7')
                  : base == 10 ? (c >= '0' && c <= '9')
                               : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                                  (c >= 'A' && c <= 'F'));
        if (!ok)
            return false;
    }
    return true;
}

static size_t count_digits(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_decimal_float(const char *s, size_t n)
{
    size_t i = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    size_t whole = count_digits(s + i, n - i);
    i += whole;
    if (i < n && s[i] == '.') {
        i++;
        size_t frac = count_digits(s + i, n - i);
        if (whole == 0 && frac == 0)
            return false;
        i += frac;
    } else if (whole == 0) {
        return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t ex = count_digits(s + i, n - i);
        if (ex == 0)
            return false;
        i += ex;
    }
    return i == n;
}

/* The YAML 1.2 core schema, plus NaN/Infinity/-Infinity, which Python's
 * json.dumps writes for non-finite floats and Keras's JSON may contain. */
static kind classify(const char *s, size_t n)
{
    if (n == 0 || span_is(s, n, "~") || span_is(s, n, "null") || span_is(s, n, "Null") ||
        span_is(s, n, "NULL"))
        return K_NULL;
    if (span_is(s, n, "true") || span_is(s, n, "True") || span_is(s, n, "TRUE") ||
        span_is(s, n, "false") || span_is(s, n, "False") || span_is(s, n, "FALSE"))
        return K_BOOL;
    size_t sign = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (all_digits(s + sign, n - sign, 10))
        return K_INT;
    if (n > 2 && s[0] == '0' && ((s[1] == 'o' && all_digits(s + 2, n - 2, 8)) ||
                                 (s[1] == 'x' && all_digits(s + 2, n - 2, 16))))
        return K_INT;
    const char *t = s + sign;
    size_t tn = n - sign;
    if (span_is(t, tn, ".inf") || span_is(t, tn, ".Inf") || span_is(t, tn, ".INF") ||
        span_is(s, n, ".nan") || span_is(s, n, ".NaN") || span_is(s, n, ".NAN") ||
        span_is(s, n, "NaN") || span_is(s, n, "Infinity") || span_is(s, n, "-Infinity"))
        return K_FLOAT;
    return is_decimal_float(s, n) ? K_FLOAT : K_STRING;
}

/* s is a K_INT text. False when it does not fit in int64. */
static bool parse_int(const char *s, size_t n, int64_t *out)
{
    int base = 10;
    bool neg = false;
    size_t i = 0;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        base = s[1] == 'x' ? 16 : 8;
        i = 2;
    } else if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
    }
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX, acc = 0;
    for (; i < n; i++) {
        char c = s[i];
        unsigned d = (c >= '0' && c <= '9') ? (unsigned)(c - '0')
                     : (c >= 'a' && c <= 'f') ? (unsigned)(c - 'a' + 10)
                                              : (unsigned)(c - 'A' + 10);
        if (acc > (limit - d) / (unsigned)base)
            return false;
        acc = acc * (unsigned)base + d;
    }
    *out = neg ? (acc == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
    return true;
}

/* s is a K_FLOAT text and NUL-terminated (libyaml's scalars are). */
static double parse_float(const char *s, size_t n)
{
    const char *t = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
    bool neg = s[0] == '-';
    if (t[0] == '.' && (t[1] == 'i' || t[1] == 'I'))
        return neg ? -INFINITY : INFINITY;
    if ((t[0] == '.' && (t[1] == 'n' || t[1] == 'N')) || span_is(s, n, "NaN"))
        return NAN;
    if (t[0] == 'I')
        return neg ? -INFINITY : INFINITY;
    /* Out-of-range decimals become +-inf or 0, as in Python's float(). */
    return strtod(s, NULL);
}

/* "tag:yaml.org,2002:int" -> "!!int", as it is written in a file. */
static const char *short_tag(const char *tag, char *buf, size_t cap)
{
    size_t n = strlen(YAML_TAG_PREFIX);
    if (strncmp(tag, YAML_TAG_PREFIX, n) == 0)
        snprintf(buf, cap, "!!%s", tag + n);
    else
        snprintf(buf, cap, "%s", tag);
    return buf;
}

static const char *kind_name(kind k)
{
    static const char *const names[] = {"string", "null", "bool", "integer", "float"};
    return names[k];
}

/* Builds the node for a scalar event that is not a mapping key. */
static rnnc_status scalar_node(reader *r, const yaml_event_t *e, pos at, rnnc_cfg **out)
{
    const char *s = (const char *)e->data.scalar.value;
    size_t n = e->data.scalar.length;
    const char *tag = (const char *)e->data.scalar.tag;
    kind k;
    *out = NULL;
    if (!tag) {
        k = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? classify(s, n) : K_STRING;
    } else if (strcmp(tag, "!") == 0 || strcmp(tag, YAML_TAG_PREFIX "str") == 0) {
        k = K_STRING;
    } else {
        static const struct { const char *tag; kind k; } forced[] = {
            {YAML_TAG_PREFIX "null", K_NULL}, {YAML_TAG_PREFIX "bool", K_BOOL},
            {YAML_TAG_PREFIX "int", K_INT},   {YAML_TAG_PREFIX "float", K_FLOAT}};
        char tb[200];
        size_t i = 0;
        while (i < 4 && strcmp(tag, forced[i].tag) != 0)
            i++;
        if (i == 4)
            return fail_at(r, at, RNNC_E_FORMAT,
                           "unsupported tag '%s' on a scalar (only !!str, !!int, !!float, "
                           "!!bool and !!null are known)",
                           short_tag(tag, tb, sizeof tb));
        k = forced[i].k;
        kind seen = classify(s, n);
        size_t sign = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
        if (k == K_FLOAT && seen == K_INT && all_digits(s + sign, n - sign, 10))
            seen = K_FLOAT; /* !!float 3 is 3.0 */
        if (seen != k)
            return fail_at(r, at, RNNC_E_FORMAT, "'%.80s' is not a valid %s for tag %s", s,
                           kind_name(k), short_tag(tag, tb, sizeof tb));
    }
    rnnc_cfg *c = new_node(r, RNNC_CFG_NULL, at);
    if (!c)
        return nomem(r);
    switch (k) {
    case K_NULL: break;
    case K_BOOL:
        c->type = RNNC_CFG_BOOL;
        c->v.b = s[0] == 't' || s[0] == 'T';
        break;
    case K_INT:
        c->type = RNNC_CFG_INT;
        if (!parse_int(s, n, &c->v.i)) {
            rnnc_cfg_destroy(c);
            return fail_at(r, at, RNNC_E_FORMAT,
                           "integer %.80s does not fit in 64 bits (the range is %lld to %lld)", s,
                           (long long)INT64_MIN, (long long)INT64_MAX);
        }
        break;
    case K_FLOAT:
        c->type = RNNC_CFG_FLOAT;
        c->v.f = parse_float(s, n);
        break;
    case K_STRING:
        if (memchr(s, '\0', n)) {
            rnnc_cfg_destroy(c);
            return fail_at(r, at, RNNC_E_FORMAT,
                           "string contains a NUL character (\\0), which a spec string cannot hold");
        }
        if (!(c->v.s = strdup(s))) {
            rnnc_cfg_destroy(c);
            return nomem(r);
        }
        c->type = RNNC_CFG_STRING;
        break;
    }
    *out = c;
    return RNNC_OK;
}

/* ---- the event loop -------------------------------------------------------- */

static rnnc_status note_anchor(reader *r, const yaml_char_t *name, pos at, rnnc_cfg *node,
                               size_t made_before, long *ix)
{
    if (r->nanchors >= RNNC_SPEC_MAX_ANCHORS)
        return fail_at(r, at, RNNC_E_FORMAT, "more than %d anchors; the spec is refused",
                       RNNC_SPEC_MAX_ANCHORS);
    if (r->nanchors == r->anchors_cap) {
        size_t ncap = r->anchors_cap ? r->anchors_cap * 2 : 8;
        anchor *a = realloc(r->anchors, ncap * sizeof *a);
        if (!a)
            return nomem(r);
        r->anchors = a;
        r->anchors_cap = ncap;
    }
    anchor *a = &r->anchors[r->nanchors];
    if (!(a->name = strdup((const char *)name)))
        return nomem(r);
    a->node = node;
    a->made_before = made_before;
    a->size = 1;
    a->height = 0;
    a->complete = false;
    *ix = (long)r->nanchors++;
    return RNNC_OK;
}

static void child_height(reader *r, int h)
{
    if (r->depth > 0 && r->stack[r->depth - 1].max_child_height < h)
        r->stack[r->depth - 1].max_child_height = h;
}

/* Hangs a new node where the event stream puts it: the root, the next item
 * of a list, the value of a pending key, or a merge source. Takes ownership. */
static rnnc_status place(reader *r, rnnc_cfg *node, pos at, const char *what)
{
    if (r->depth == 0) {
        if (r->root) {
            rnnc_cfg_destroy(node);
            return fail_at(r, at, RNNC_E_FORMAT, "a second top-level node");
        }
        r->root = node;
        return RNNC_OK;
    }
    frame *f = &r->stack[r->depth - 1];
    if (f->node->type == RNNC_CFG_LIST)
        return node_append(r, f->node, NULL, node);
    if (f->want == PENDING_VALUE) {
        char *key = f->key;
        f->key = NULL;
        f->want = PENDING_NONE;
        return frame_add(r, f, key, f->key_at, node);
    }
    if (f->want == PENDING_MERGE) {
        /* Kept aside, not in the tree: its entries are copied in at the
         * mapping's end, and an anchor on it may still be aliased later. */
        f->want = PENDING_NONE;
        RNNC_TRY(node_append(r, r->graveyard, NULL, node));
        f->merge = node;
        return RNNC_OK;
    }
    rnnc_cfg_destroy(node);
    return fail_at(r, at, RNNC_E_FORMAT,
                   "a mapping key must be a plain or quoted string, not %s", what);
}

static rnnc_status on_key(reader *r, frame *f, const yaml_event_t *e, pos at)
{
    const char *k = (const char *)e->data.scalar.value;
    size_t n = e->data.scalar.length;
    if (e->data.scalar.anchor)
        return fail_at(r, at, RNNC_E_FORMAT, "anchors on mapping keys are not supported (&%s)",
                       (const char *)e->data.scalar.anchor);
    if (memchr(k, '\0', n))
        return fail_at(r, at, RNNC_E_FORMAT, "mapping key contains a NUL character (\\0)");
    /* Bounded so that any tree read here can be written as JSON and read
     * back: libyaml refuses a flow-mapping key longer than 1024 characters,
     * and JSON escapes at most triple a key without control characters. */
    if (n > RNNC_SPEC_MAX_KEY_BYTES)
        return fail_at(r, at, RNNC_E_FORMAT, "mapping key '%.40s...' is %zu bytes long; keys may have at most %d",
                       k, n, RNNC_SPEC_MAX_KEY_BYTES);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || k[i] == 0x7F)
            return fail_at(r, at, RNNC_E_FORMAT,
                           "mapping key '%.*s' contains the control character 0x%02X at byte %zu",
                           (int)(i < 40 ? i : 40), k, (unsigned)(unsigned char)k[i], i);
    if (n == 2 && memcmp(k, "<<", 2) == 0 && e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        !e->data.scalar.tag) {
        if (f->has_merge)
            return fail_at(r, at, RNNC_E_FORMAT,
                           "duplicate merge key '<<'; the first is at line %d, column %d "
                           "(merge several mappings with '<<: [*a, *b]')",
                           f->merge_at.line, f->merge_at.col);
        f->has_merge = true;
        f->merge_at = at;
        f->want = PENDING_MERGE;
        return RNNC_OK;
    }
    long prev = frame_find(f, k);
    if (prev >= 0)
        return fail_at(r, at, RNNC_E_FORMAT, "duplicate key '%.200s'; it was first given at line %d, column %d",
                       k, f->key_pos[prev].line, f->key_pos[prev].col);
    if (!(f->key = strdup(k)))
        return nomem(r);
    f->key_at = at;
    f->want = PENDING_VALUE;
    return RNNC_OK;
}

static rnnc_status merge_one(reader *r, frame *f, const rnnc_cfg *src)
{
    for (size_t i = 0; i < src->n; i++) {
        if (frame_find(f, src->keys[i]) >= 0)
            continue;
        rnnc_cfg *copy;
        RNNC_TRY(copy_tree(r, src->items[i], "the merge key '<<'", f->merge_at, &copy));
        char *key = strdup(src->keys[i]);
        if (!key) {
            rnnc_cfg_destroy(copy);
            return nomem(r);
        }
        RNNC_TRY(frame_add(r, f, key, f->merge_at, copy));
    }
    return RNNC_OK;
}

/* Adds the entries of the merge source that the mapping does not have yet:
 * keys written in the mapping win, then earlier mappings of a '<<' list
 * over later ones (as in YAML 1.1's merge key). Merged keys come last. */
static rnnc_status apply_merge(reader *r, frame *f)
{
    const rnnc_cfg *src = f->merge;
    if (!src)
        return RNNC_OK;
    if (src->type == RNNC_CFG_MAP)
        return merge_one(r, f, src);
    if (src->type != RNNC_CFG_LIST)
        return fail_at(r, f->merge_at, RNNC_E_FORMAT,
                       "the merge key '<<' needs a mapping or a list of mappings, got %s",
                       rnnc_cfg_type_name(src->type));
    for (size_t j = 0; j < src->n; j++) {
        if (src->items[j]->type != RNNC_CFG_MAP)
            return fail_at(r, f->merge_at, RNNC_E_FORMAT,
                           "the merge key '<<' needs a list of mappings, but item %zu is %s", j + 1,
                           rnnc_cfg_type_name(src->items[j]->type));
        RNNC_TRY(merge_one(r, f, src->items[j]));
    }
    return RNNC_OK;
}

static rnnc_status on_collection_start(reader *r, const yaml_event_t *e, pos at)
{
    bool is_map = e->type == YAML_MAPPING_START_EVENT;
    const char *tag = (const char *)(is_map ? e->data.mapping_start.tag : e->data.sequence_start.tag);
    const yaml_char_t *anchor_name = is_map ? e->data.mapping_start.anchor : e->data.sequence_start.anchor;
    if (r->depth >= RNNC_SPEC_MAX_DEPTH)
        return fail_at(r, at, RNNC_E_FORMAT, "mappings and sequences nested deeper than %d levels",
                       RNNC_SPEC_MAX_DEPTH);
    /* PyYAML writes Python tuples (Keras 2's to_yaml) as !!python/tuple. */
    if (tag && strcmp(tag, "!") != 0 &&
        strcmp(tag, is_map ? YAML_TAG_PREFIX "map" : YAML_TAG_PREFIX "seq") != 0 &&
        (is_map || strcmp(tag, YAML_TAG_PREFIX "python/tuple") != 0)) {
        char tb[200];
        return fail_at(r, at, RNNC_E_FORMAT, "unsupported tag '%s' on a %s",
                       short_tag(tag, tb, sizeof tb), is_map ? "mapping" : "sequence");
    }
    size_t made_before = r->made;
    rnnc_cfg *node = new_node(r, is_map ? RNNC_CFG_MAP : RNNC_CFG_LIST, at);
    if (!node)
        return nomem(r);
    RNNC_TRY(place(r, node, at, is_map ? "a mapping" : "a sequence"));
    long ix = -1;
    if (anchor_name)
        RNNC_TRY(note_anchor(r, anchor_name, at, node, made_before, &ix));
    frame *f = &r->stack[r->depth++];
    memset(f, 0, sizeof *f);
    f->node = node;
    f->anchor_ix = ix;
    return RNNC_OK;
}

static rnnc_status on_collection_end(reader *r)
{
    frame *f = &r->stack[r->depth - 1];
    if (f->node->type == RNNC_CFG_MAP)
        RNNC_TRY(apply_merge(r, f));
    int height = f->max_child_height + 1;
    if (f->anchor_ix >= 0) {
        anchor *a = &r->anchors[f->anchor_ix];
        a->complete = true;
        a->size = r->made - a->made_before;
        a->height = height;
    }
    frame_free(f);
    r->depth--;
    child_height(r, height);
    return RNNC_OK;
}

static rnnc_status on_alias(reader *r, const yaml_event_t *e, pos at)
{
    const char *name = (const char *)e->data.alias.anchor;
    if (r->depth > 0) {
        const frame *f = &r->stack[r->depth - 1];
        if (f->node->type == RNNC_CFG_MAP && f->want == PENDING_NONE)
            return fail_at(r, at, RNNC_E_FORMAT, "an alias (*%s) cannot be a mapping key", name);
    }
    if (++r->aliases > RNNC_SPEC_MAX_ALIASES)
        return fail_at(r, at, RNNC_E_FORMAT,
                       "more than %d alias references (*%s); the spec is refused (an alias bomb?)",
                       RNNC_SPEC_MAX_ALIASES, name);
    const anchor *a = NULL;
    for (size_t i = r->nanchors; i-- > 0;)
        if (strcmp(r->anchors[i].name, name) == 0) {
            a = &r->anchors[i];
            break;
        }
    if (!a)
        return fail_at(r, at, RNNC_E_FORMAT, "unknown alias *%s: no anchor &%s before it", name, name);
    if (!a->complete)
        return fail_at(r, at, RNNC_E_FORMAT, "alias *%s refers to a node that contains it", name);
    if (r->depth + a->height > RNNC_SPEC_MAX_DEPTH)
        return fail_at(r, at, RNNC_E_FORMAT,
                       "alias *%s would nest mappings and sequences deeper than %d levels", name,
                       RNNC_SPEC_MAX_DEPTH);
    char why[160];
    snprintf(why, sizeof why, "alias *%.100s", name);
    if (a->size > RNNC_SPEC_MAX_EXPANDED - r->expanded)
        return fail_at(r, at, RNNC_E_FORMAT,
                       "%s would copy more than %d nodes in total; the spec is refused "
                       "(an alias bomb?)",
                       why, RNNC_SPEC_MAX_EXPANDED);
    rnnc_cfg *copy;
    RNNC_TRY(copy_tree(r, a->node, why, at, &copy));
    copy->line = at.line;
    copy->col = at.col;
    int height = a->height;
    RNNC_TRY(place(r, copy, at, "an alias"));
    child_height(r, height);
    return RNNC_OK;
}

static rnnc_status on_scalar(reader *r, const yaml_event_t *e, pos at)
{
    if (r->depth > 0) {
        frame *f = &r->stack[r->depth - 1];
        if (f->node->type == RNNC_CFG_MAP && f->want == PENDING_NONE)
            return on_key(r, f, e, at);
    }
    size_t made_before = r->made;
    rnnc_cfg *node;
    RNNC_TRY(scalar_node(r, e, at, &node));
    RNNC_TRY(place(r, node, at, "a scalar"));
    if (e->data.scalar.anchor) {
        long ix;
        RNNC_TRY(note_anchor(r, e->data.scalar.anchor, at, node, made_before, &ix));
        r->anchors[ix].complete = true;
    }
    child_height(r, 0);
    return RNNC_OK;
}

static rnnc_status on_event(reader *r, const yaml_event_t *e)
{
    pos at = pos_of(r, e->start_mark);
    switch (e->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++r->documents > 1)
            return fail_at(r, at, RNNC_E_FORMAT,
                           "a second YAML document starts here; a spec file holds exactly one");
        return RNNC_OK;
    case YAML_STREAM_END_EVENT:
        if (r->documents == 0)
            return rnnc_fail(RNNC_E_FORMAT, "%s: the spec is empty (no YAML document in it)", r->file);
        return RNNC_OK;
    case YAML_SCALAR_EVENT: return on_scalar(r, e, at);
    case YAML_ALIAS_EVENT: return on_alias(r, e, at);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: return on_collection_start(r, e, at);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: return on_collection_end(r);
    default: return RNNC_OK; /* stream start, document end */
    }
}

static void reader_clear(reader *r)
{
    for (int i = 0; i < r->depth; i++)
        frame_free(&r->stack[i]);
    r->depth = 0;
    for (size_t i = 0; i < r->nanchors; i++)
        free(r->anchors[i].name);
    free(r->anchors);
    r->anchors = NULL;
    r->nanchors = r->anchors_cap = 0;
    rnnc_cfg_destroy(r->graveyard);
    r->graveyard = NULL;
    rnnc_cfg_destroy(r->root);
    r->root = NULL;
}

/* One pass of libyaml over r->text. On success r->root holds the tree. */
static rnnc_status parse_once(reader *r)
{
    yaml_parser_t p;
    if (!(r->graveyard = rnnc_cfg_list()))
        return nomem(r);
    if (!yaml_parser_initialize(&p))
        return nomem(r);
    yaml_parser_set_input_string(&p, r->text, r->len);
    rnnc_status s = RNNC_OK;
    for (bool done = false; !done && s == RNNC_OK;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            s = libyaml_error(r, &p);
            break;
        }
        s = on_event(r, &e);
        done = e.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    return s;
}

/* Replaces the 12-byte escape \uD83D\uDE00 at `at` of r->text by the
 * 10-byte \U0001F600, which libyaml reads, into a new *out. Columns after it
 * on that line are 2 smaller in the new text; the shift list puts them back
 * in messages and node positions. */
static rnnc_status rewrite_surrogates(const reader *r, size_t at, unsigned char **out,
                                      pos **shifts, size_t *nshifts)
{
    const unsigned char *s = r->text + at;
    long cp = 0x10000L + ((long)(hex4(s + 2) - 0xD800) << 10) + (hex4(s + 8) - 0xDC00);
    pos *sh = realloc(*shifts, (*nshifts + 1) * sizeof *sh);
    if (!sh)
        return nomem(r);
    *shifts = sh;
    unsigned char *t = malloc(r->len - 2 + 1);
    if (!t)
        return nomem(r);
    char esc[11];
    snprintf(esc, sizeof esc, "\\U%08lX", cp);
    memcpy(t, r->text, at);
    memcpy(t + at, esc, 10);
    memcpy(t + at + 10, r->text + at + 12, r->len - at - 12);
    t[r->len - 2] = '\0';
    /* Where the replacement starts, in the coordinates of the new text. */
    sh[(*nshifts)++] = raw_pos_of_offset(r, at);
    *out = t;
    return RNNC_OK;
}

rnnc_status rnnc_spec_read_string(const char *text, size_t len, const char *name_for_messages,
                                  rnnc_cfg **out)
{
    if (!out)
        return rnnc_fail(RNNC_E_ARG, "rnnc_spec_read_string: out is NULL");
    *out = NULL;
    const char *name = name_for_messages ? name_for_messages : "<string>";
    if (!text && len > 0)
        return rnnc_fail(RNNC_E_ARG, "rnnc_spec_read_string(%s): text is NULL but len is %zu", name, len);
    reader r;
    memset(&r, 0, sizeof r);
    if (!(r.file = strdup(name)))
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory while reading the spec", name);
    unsigned char *owned = NULL;
    pos *shifts = NULL;
    size_t nshifts = 0;
    r.text = text ? (const unsigned char *)text : (const unsigned char *)"";
    r.len = len;
    rnnc_status s;
    for (int attempt = 0;; attempt++) {
        r.shifts = shifts;
        r.nshifts = nshifts;
        r.rewrite_at = SIZE_MAX;
        r.made = r.expanded = r.aliases = 0;
        r.documents = 0;
        s = parse_once(&r);
        if (s == RNNC_OK)
            break;
        size_t at = r.rewrite_at;
        reader_clear(&r);
        if (at == SIZE_MAX)
            break;
        if (attempt >= MAX_SURROGATE_REWRITES) {
            s = rnnc_fail(RNNC_E_FORMAT,
                          "%s: more than %d surrogate-pair escapes (\\uD83D\\uDE00); write "
                          "those characters as UTF-8 instead",
                          r.file, MAX_SURROGATE_REWRITES);
            break;
        }
        unsigned char *t = NULL;
        rnnc_status rs = rewrite_surrogates(&r, at, &t, &shifts, &nshifts);
        if (rs != RNNC_OK) {
            s = rs;
            break;
        }
        free(owned);
        owned = t;
        r.text = t;
        r.len -= 2;
    }
    if (s == RNNC_OK) {
        r.root->file_owned = r.file; /* every node's file points here */
        *out = r.root;
        r.root = NULL;
        r.file = NULL;
    }
    reader_clear(&r);
    free(r.file);
    free(owned);
    free(shifts);
    return s;
}

rnnc_status rnnc_spec_read_file(const char *path, rnnc_cfg **out)
{
    if (!out)
        return rnnc_fail(RNNC_E_ARG, "rnnc_spec_read_file: out is NULL");
    *out = NULL;
    if (!path)
        return rnnc_fail(RNNC_E_ARG, "rnnc_spec_read_file: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rnnc_fail(RNNC_E_IO, "cannot open spec file '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return rnnc_fail(RNNC_E_IO, "cannot stat spec file '%s': %s", path, strerror(err));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return rnnc_fail(RNNC_E_IO, "'%s' is a directory, not a spec file", path);
    }
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > RNNC_SPEC_MAX_FILE_BYTES) {
        close(fd);
        return rnnc_fail(RNNC_E_IO, "spec file '%s' is %jd bytes; files over %u bytes (64 MiB) are refused",
                         path, (intmax_t)st.st_size, RNNC_SPEC_MAX_FILE_BYTES);
    }
    /* Read to the end rather than trusting st_size: pipes and /proc files report 0. */
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory reading spec file '%s'", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap > RNNC_SPEC_MAX_FILE_BYTES) {
                free(buf);
                close(fd);
                return rnnc_fail(RNNC_E_IO, "spec file '%s' is larger than %u bytes (64 MiB); refused",
                                 path, RNNC_SPEC_MAX_FILE_BYTES);
            }
            size_t ncap = cap * 2 > (size_t)RNNC_SPEC_MAX_FILE_BYTES + 1 ? (size_t)RNNC_SPEC_MAX_FILE_BYTES + 1 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                close(fd);
                return rnnc_fail(RNNC_E_NOMEM, "out of memory reading spec file '%s'", path);
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int err = errno;
            free(buf);
            close(fd);
            return rnnc_fail(RNNC_E_IO, "cannot read spec file '%s': %s", path, strerror(err));
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (n > RNNC_SPEC_MAX_FILE_BYTES) {
        free(buf);
        return rnnc_fail(RNNC_E_IO, "spec file '%s' is larger than %u bytes (64 MiB); refused", path,
                         RNNC_SPEC_MAX_FILE_BYTES);
    }
    rnnc_status s = rnnc_spec_read_string(buf, n, path, out);
    free(buf);
    return s;
}
