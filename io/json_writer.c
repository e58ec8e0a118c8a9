/* json_writer.c - config tree -> JSON text as Python's json.dumps writes it
 * (see json_writer.h for the rules), and the atomic write to a file.
 *
 * Floats use snprintf/strtod, which follow LC_NUMERIC: the library never
 * calls setlocale, so this is the "C" locale unless the program changes it. */
#define _POSIX_C_SOURCE 200809L /* fsync, fileno, open */

#include "io/json_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->n + n + 1)
            ncap *= 2;
        char *p = realloc(b->p, ncap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_newline(sbuf *b, int indent, int level)
{
    sb_put(b, "\n", 1);
    for (long i = 0; i < (long)indent * level; i++)
        sb_put(b, " ", 1);
}

/* ---- floats like Python's repr ------------------------------------------- */

/* x = 0.DIGITS x 10^decpt; true if that text reads back as x. */
static bool reads_back(const char *digits, int decpt, double x)
{
    char t[64];
    snprintf(t, sizeof t, "0.%se%d", digits, decpt);
    return strtod(t, NULL) == x;
}

/* Adds delta (+1 or -1) to the decimal integer in digits (n of them, no
 * leading zeros), keeping the value as 0.digits x 10^decpt. */
static void step_digits(char *digits, int *decpt, int delta)
{
    size_t n = strlen(digits);
    if (delta > 0) {
        size_t i = n;
        while (i > 0 && digits[i - 1] == '9')
            digits[--i] = '0';
        if (i == 0) { /* 999 + 1 = 1000: one more digit before the point */
            memmove(digits + 1, digits, n + 1);
            digits[0] = '1';
            (*decpt)++;
        } else {
            digits[i - 1]++;
        }
    } else {
        size_t i = n;
        while (i > 0 && digits[i - 1] == '0')
            digits[--i] = '9';
        if (i > 0)
            digits[i - 1]--;
        if (digits[0] == '0' && n > 1) { /* 100 - 1 = 099 */
            memmove(digits, digits + 1, n);
            (*decpt)--;
        }
    }
}

/* The shortest digits that read back as x (finite, nonzero, positive), and
 * among those the nearest to x: what Python's repr() (David Gay's shortest
 * mode) picks. */
static void shortest_digits(double x, char digits[32], int *decpt)
{
    char t[48];
    for (int prec = 1; prec <= 17; prec++) {
        /* "%.*e" rounds correctly: the nearest prec-digit decimal. */
        snprintf(t, sizeof t, "%.*e", prec - 1, x);
        char *e = strchr(t, 'e');
        int exp10 = atoi(e + 1);
        size_t n = 0;
        for (const char *c = t; c < e; c++)
            if (*c >= '0' && *c <= '9')
                digits[n++] = *c;
        digits[n] = '\0';
        *decpt = exp10 + 1;
        if (strtod(t, NULL) == x)
            break;
        /* Next to a power of two the rounding interval is lopsided, so a
         * prec-digit neighbour of the nearest one may still read back. */
        if (prec < 17) {
            char up[32], down[32];
            int dup = *decpt, ddown = *decpt;
            memcpy(up, digits, n + 1);
            memcpy(down, digits, n + 1);
            step_digits(up, &dup, +1);
            step_digits(down, &ddown, -1);
            if (reads_back(up, dup, x)) {
                memcpy(digits, up, strlen(up) + 1);
                *decpt = dup;
                break;
            }
            if (reads_back(down, ddown, x)) {
                memcpy(digits, down, strlen(down) + 1);
                *decpt = ddown;
                break;
            }
        }
    }
    size_t n = strlen(digits);
    while (n > 1 && digits[n - 1] == '0')
        digits[--n] = '\0';
}

/* Python's float.__repr__ (and so json.dumps) for a finite x. */
static void float_repr(double x, char out[40])
{
    if (x == 0.0) {
        strcpy(out, signbit(x) ? "-0.0" : "0.0");
        return;
    }
    char digits[32];
    int decpt;
    size_t o = 0;
    if (x < 0) {
        out[o++] = '-';
        x = -x;
    }
    shortest_digits(x, digits, &decpt);
    int n = (int)strlen(digits);
    if (decpt <= -4 || decpt > 16) {
        /* d[.ddd]e[+-]XX, at least two exponent digits */
        out[o++] = digits[0];
        if (n > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, (size_t)n - 1);
            o += (size_t)n - 1;
        }
        int e = decpt - 1;
        snprintf(out + o, 40 - o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
        return;
    }
    if (decpt <= 0) { /* 0.000ddd */
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -decpt; i++)
            out[o++] = '0';
        memcpy(out + o, digits, (size_t)n);
        o += (size_t)n;
    } else if (decpt >= n) { /* ddd000.0 */
        memcpy(out + o, digits, (size_t)n);
        o += (size_t)n;
        for (int i = n; i < decpt; i++)
            out[o++] = '0';
        out[o++] = '.';
        out[o++] = '0';
    } else { /* dd.ddd */
        memcpy(out + o, digits, (size_t)decpt);
        o += (size_t)decpt;
        out[o++] = '.';
        memcpy(out + o, digits + decpt, (size_t)(n - decpt));
        o += (size_t)(n - decpt);
    }
    out[o] = '\0';
}

/* ---- strings ----------------------------------------------------------- */

/* Decodes one UTF-8 character at s (strictly: no overlong forms, no
 * surrogates, nothing above U+10FFFF). Returns its length, or 0 if invalid. */
static size_t utf8_decode(const unsigned char *s, unsigned long *cp)
{
    unsigned char c = s[0];
    size_t len;
    unsigned long v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

static rnnc_status put_string(sbuf *b, const char *str, const rnnc_cfg *owner)
{
    const unsigned char *s = (const unsigned char *)str;
    sb_put(b, "\"", 1);
    size_t run = 0; /* plain ASCII bytes waiting to be copied */
    for (size_t i = 0; s[i];) {
        unsigned long cp;
        size_t len = utf8_decode(s + i, &cp);
        if (len == 0) {
            char w[300];
            return rnnc_fail(RNNC_E_ARG,
                             "rnnc_json_write: string \"%.40s\" is not valid UTF-8 (byte 0x%02X at "
                             "offset %zu)%s",
                             str, s[i], i, rnnc_cfg_where(owner, w, sizeof w));
        }
        if (cp >= 0x20 && cp < 0x7F && cp != '"' && cp != '\\') {
            run++;
            i++;
            continue;
        }
        sb_put(b, (const char *)s + i - run, run);
        run = 0;
        char esc[32];
        switch (cp) {
        case '"': strcpy(esc, "\\\""); break;
        case '\\': strcpy(esc, "\\\\"); break;
        case '\n': strcpy(esc, "\\n"); break;
        case '\r': strcpy(esc, "\\r"); break;
        case '\t': strcpy(esc, "\\t"); break;
        case '\b': strcpy(esc, "\\b"); break;
        case '\f': strcpy(esc, "\\f"); break;
        default:
            if (cp > 0xFFFF) {
                unsigned long v = cp - 0x10000;
                snprintf(esc, sizeof esc, "\\u%04lx\\u%04lx", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            } else {
                snprintf(esc, sizeof esc, "\\u%04lx", cp);
            }
            break;
        }
        sb_str(b, esc);
        i += len;
    }
    size_t n = strlen(str);
    sb_put(b, str + n - run, run);
    sb_put(b, "\"", 1);
    return RNNC_OK;
}

/* ---- the tree ------------------------------------------------------------ */

static rnnc_status put_node(sbuf *b, const rnnc_cfg *c, int indent, int level)
{
    char num[40];
    if (level > RNNC_JSON_MAX_DEPTH)
        return rnnc_fail(RNNC_E_ARG, "rnnc_json_write: config nested deeper than %d levels",
                         RNNC_JSON_MAX_DEPTH);
    switch (c->type) {
    case RNNC_CFG_NULL: sb_str(b, "null"); return RNNC_OK;
    case RNNC_CFG_BOOL: sb_str(b, c->v.b ? "true" : "false"); return RNNC_OK;
    case RNNC_CFG_INT:
        snprintf(num, sizeof num, "%" PRId64, c->v.i);
        sb_str(b, num);
        return RNNC_OK;
    case RNNC_CFG_FLOAT:
        if (isnan(c->v.f))
            sb_str(b, "NaN");
        else if (isinf(c->v.f))
            sb_str(b, c->v.f > 0 ? "Infinity" : "-Infinity");
        else {
            float_repr(c->v.f, num);
            sb_str(b, num);
        }
        return RNNC_OK;
    case RNNC_CFG_STRING: return put_string(b, c->v.s ? c->v.s : "", c);
    case RNNC_CFG_LIST:
    case RNNC_CFG_MAP: {
        bool map = c->type == RNNC_CFG_MAP;
        if (c->n == 0) {
            sb_str(b, map ? "{}" : "[]");
            return RNNC_OK;
        }
        sb_put(b, map ? "{" : "[", 1);
        for (size_t i = 0; i < c->n; i++) {
            if (i > 0)
                sb_str(b, indent < 0 ? ", " : ",");
            if (indent >= 0)
                sb_newline(b, indent, level + 1);
            if (map) {
                RNNC_TRY(put_string(b, c->keys[i], c->items[i]));
                sb_put(b, ": ", 2);
            }
            RNNC_TRY(put_node(b, c->items[i], indent, level + 1));
        }
        if (indent >= 0)
            sb_newline(b, indent, level);
        sb_put(b, map ? "}" : "]", 1);
        return RNNC_OK;
    }
    }
    return rnnc_fail(RNNC_E_ARG, "rnnc_json_write: config node of unknown type %d", (int)c->type);
}

rnnc_status rnnc_json_write(const rnnc_cfg *c, int indent, char **out)
{
    if (!out)
        return rnnc_fail(RNNC_E_ARG, "rnnc_json_write: out is NULL");
    *out = NULL;
    if (!c)
        return rnnc_fail(RNNC_E_ARG, "rnnc_json_write: config is NULL");
    if (indent < -1)
        return rnnc_fail(RNNC_E_ARG, "rnnc_json_write: indent must be -1 (one line) or >= 0, got %d",
                         indent);
    sbuf b = {0};
    rnnc_status s = put_node(&b, c, indent, 0);
    if (s == RNNC_OK && b.oom)
        s = rnnc_fail(RNNC_E_NOMEM, "rnnc_json_write: out of memory after %zu bytes", b.n);
    if (s != RNNC_OK) {
        free(b.p);
        return s;
    }
    *out = b.p;
    return RNNC_OK;
}

/* Makes the rename itself durable. Best effort: some file systems refuse
 * fsync on a directory, and the file's own data is already on disk. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

rnnc_status rnnc_json_write_file(const rnnc_cfg *c, int indent, const char *path)
{
    if (!path)
        return rnnc_fail(RNNC_E_ARG, "rnnc_json_write_file: path is NULL");
    char *text;
    RNNC_TRY(rnnc_json_write(c, indent, &text));
    size_t plen = strlen(path), tlen = strlen(text);
    char *tmp = malloc(plen + 5);
    if (!tmp) {
        free(text);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory writing '%s'", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    rnnc_status s = RNNC_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        s = rnnc_fail(RNNC_E_IO, "cannot create '%s' (to write '%s'): %s", tmp, path, strerror(errno));
    } else {
        bool ok = fwrite(text, 1, tlen, f) == tlen && fflush(f) == 0 && fsync(fileno(f)) == 0;
        int err = errno;
        if (fclose(f) != 0 && ok) {
            ok = false;
            err = errno;
        }
        if (!ok)
            s = rnnc_fail(RNNC_E_IO, "cannot write '%s' (to write '%s'): %s", tmp, path, strerror(err));
        else if (rename(tmp, path) != 0)
            s = rnnc_fail(RNNC_E_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        if (s != RNNC_OK)
            remove(tmp);
        else
            sync_parent_dir(path);
    }
    free(tmp);
    free(text);
    return s;
}
