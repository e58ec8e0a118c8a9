/* test_history_json.c - history.json, as `rnnc train` writes it, is strict
 * JSON (RFC 8259) that a user's parser reads: Python's json.load with
 * parse_constant raising, jq, JSON.parse. An epoch without validation
 * (fit.validation_freq) used to be written as the bare token NaN, which
 * none of them accepts; it is null now, one entry per epoch.
 *
 * The checks are a strict JSON grammar written here (no NaN, Infinity,
 * trailing commas, leading zeros, single quotes) and numbers derived by hand:
 * 3 epochs with validation_freq 2 validate after epoch 2 only, so val_loss
 * is [null, <number>, null] and loss three numbers. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/program_dir.h"
#include "helpers/run_program.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

static char dir[256];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/rnnc_history_json_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) { rnnc_test_rm_tree(dir); }

TestSuite(history_json, .init = make_dir, .fini = remove_dir, .timeout = 300);

/* ---- a strict JSON parser (RFC 8259), just enough to validate -------- */

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *value(const char *p, int depth);

static const char *string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p && *p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)p[i]))
                        return NULL;
                p += 4;
            } else if (!strchr("\"\\/bfnrt", *p) || !*p)
                return NULL;
        }
        p++;
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *number(const char *p)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (isdigit((unsigned char)*p))
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return p;
}

static const char *items(const char *p, int depth, char close, bool keyed)
{
    p = ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (keyed) {
            p = string(ws(p));
            if (!p)
                return NULL;
            p = ws(p);
            if (*p++ != ':')
                return NULL;
        }
        p = value(p, depth + 1);
        if (!p)
            return NULL;
        p = ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

static const char *value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    p = ws(p);
    switch (*p) {
    case '{': return items(p, depth, '}', true);
    case '[': return items(p, depth, ']', false);
    case '"': return string(p);
    case 't': return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f': return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n': return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default: return number(p);
    }
}

/* Whether text is one strict JSON value (surrounding white space allowed);
 * *bad gets where it stops otherwise. */
static bool strict_json(const char *text, const char **bad)
{
    const char *p = value(text, 0);
    if (p && !*ws(p))
        return true;
    *bad = p ? p : text;
    return false;
}

Test(history_json, the_grammar_here_refuses_what_python_strict_refuses)
{
    const char *bad;
    cr_expect(strict_json("{\"loss\": [0.5, 1e-07, -2.0], \"val_loss\": [null, 0.25, null]}", &bad));
    cr_expect(strict_json(" [ ] ", &bad));
    const char *refused[] = {"{\"val_loss\": [NaN, 0.25]}", "[Infinity]", "[-Infinity]", "[1,]",
                             "[01]", "{'a': 1}", "[1.]", "[.5]", "{\"a\" 1}", "[1] [2]"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        cr_expect(!strict_json(refused[i], &bad), "accepted %s", refused[i]);
}

/* The list after "key": in text, as its text between [ and ]. */
static void list_of(const char *text, const char *key, char *out, size_t cap)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": [", key);
    const char *at = strstr(text, k);
    cr_assert(at, "no %s in %s", key, text);
    at += strlen(k);
    const char *end = strchr(at, ']');
    cr_assert(end);
    snprintf(out, cap, "%.*s", (int)(end - at), at);
}

Test(history_json, epochs_without_validation_are_null)
{
    rnnc_test_write_file(dir, "s.yaml",
                         "model:\n"
                         "  class_name: Sequential\n"
                         "  config:\n"
                         "    layers:\n"
                         "      - {class_name: InputLayer, config: {batch_shape: [null, 6, 1]}}\n"
                         "      - {class_name: GRU, config: {name: r, units: 3}}\n"
                         "      - {class_name: Dense, config: {name: d, units: 2}}\n"
                         "compile: {optimizer: sgd, loss: mse, metrics: [mae]}\n"
                         "fit: {epochs: 3, batch_size: 8, seed: 3, verbose: 0, validation_freq: 2, history: h}\n"
                         "data: {task: sine, timesteps: 6, horizon: 2, samples: 16, validation_samples: 8, seed: 7}\n",
                         false);
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, dir, NULL, (const char *const[]){"train", "s.yaml", NULL});
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.err);
    rnnc_test_run_free(&r);
    char path[400];
    snprintf(path, sizeof path, "%s/h/history.json", dir);
    size_t len;
    char *text = rnnc_test_slurp(path, &len);
    cr_assert_not_null(text);
    const char *bad = NULL;
    cr_expect(strict_json(text, &bad), "history.json is not strict JSON at byte %td: %s", bad - text, text);
    /* one entry per epoch; validation after epoch 2 only */
    const char *val_keys[] = {"val_loss", "val_mae"};
    for (int i = 0; i < 2; i++) {
        char l[300];
        list_of(text, val_keys[i], l, sizeof l);
        cr_expect(strncmp(l, "null, ", 6) == 0 && strstr(l + 6, ", null") && !strstr(l + 6, "null,") &&
                      strlen(l) > strlen("null, , null"),
                  "%s: [%s]", val_keys[i], l);
        const char *mid = l + 6;
        cr_expect(number(mid) && number(mid) == strstr(mid, ", null"), "%s: [%s]", val_keys[i], l);
    }
    char l[300];
    list_of(text, "loss", l, sizeof l);
    int n = 0;
    for (const char *p = l; p && *p; n++) {
        const char *e = number(p);
        cr_assert(e, "loss: [%s]", l);
        p = *e ? e + 2 : e;
    }
    cr_expect_eq(n, 3, "loss: [%s]", l);
    free(text);
}
