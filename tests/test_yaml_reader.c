/* test_yaml_reader.c - io/yaml_reader.c: Keras's real JSON (Keras 3
 * config.json, Keras 2 model_config) loads unchanged and writes back byte
 * for byte; YAML short forms; core-schema typing of scalars; file:line:col
 * in node positions and error messages; duplicate keys; depth and alias
 * bombs rejected quickly; merge keys; truncated, binary and empty input;
 * file errors (directory, missing, too large). The fixtures come from
 * tests/fixtures/configs/extract_configs.sh. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, ftruncate, clock_gettime */

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/json_writer.h"
#include "io/spec_reader.h"

#define CONFIGS RNNC_FIXTURES "/configs"

/* ---- helpers ------------------------------------------------------------- */

static rnnc_status read_text(const char *text, rnnc_cfg **out)
{
    return rnnc_spec_read_string(text, strlen(text), "spec.yaml", out);
}

/* Reads text that must parse; fails the test with the message otherwise. */
static rnnc_cfg *must_read(const char *text)
{
    rnnc_cfg *c = NULL;
    rnnc_status s = read_text(text, &c);
    cr_assert_eq(s, RNNC_OK, "read failed: %s\n--- text:\n%s", rnnc_last_error(), text);
    cr_assert_not_null(c);
    return c;
}

/* Reads text that must fail with code, and a message holding want. */
static void must_fail(const char *text, rnnc_status code, const char *want)
{
    rnnc_cfg *c = (rnnc_cfg *)1;
    rnnc_status s = read_text(text, &c);
    cr_expect_eq(s, code, "status %s, want %s (message: %s)\n--- text:\n%s", rnnc_status_str(s),
                 rnnc_status_str(code), rnnc_last_error(), text);
    cr_expect_null(c, "*out must be NULL on failure");
    cr_expect(strstr(rnnc_last_error(), want) != NULL, "message \"%s\" lacks \"%s\"",
              rnnc_last_error(), want);
    rnnc_cfg_destroy(s == RNNC_OK ? c : NULL);
}

/* Follows "a.b.0.c" through maps (by key) and lists (by index). */
static const rnnc_cfg *at(const rnnc_cfg *c, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *part = strtok(buf, "."); part && c; part = strtok(NULL, ".")) {
        if (c->type == RNNC_CFG_LIST) {
            size_t i = (size_t)strtoul(part, NULL, 10);
            c = i < c->n ? c->items[i] : NULL;
        } else {
            c = rnnc_cfg_peek(c, part);
        }
    }
    cr_assert_not_null(c, "no node at %s", path);
    return c;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- Keras's own JSON ----------------------------------------------------- */

/* Reads a Keras JSON fixture and checks that writing it back gives the very
 * same bytes (the fixtures are what Python's json.dumps wrote). */
static rnnc_cfg *read_fixture_roundtrip(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", CONFIGS, name);
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_file(path, &c), RNNC_OK, "%s", rnnc_last_error());
    size_t len;
    char *orig = slurp(path, &len), *text = NULL;
    cr_assert_eq(rnnc_json_write(c, -1, &text), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(strlen(text), len);
    cr_expect_str_eq(text, orig, "written JSON differs from Keras's");
    free(text);
    free(orig);
    return c;
}

Test(yaml_reader, keras3_config_json_loads_unchanged)
{
    rnnc_cfg *c = read_fixture_roundtrip("keras3_cos30018_config.json");
    cr_expect_str_eq(at(c, "class_name")->v.s, "Sequential");
    cr_expect_eq(at(c, "registered_name")->type, RNNC_CFG_NULL);
    cr_expect_eq(at(c, "config.layers")->n, 5);
    const rnnc_cfg *gru = at(c, "config.layers.1.config");
    cr_expect_str_eq(at(c, "config.layers.1.class_name")->v.s, "GRU");
    cr_expect_eq(at(gru, "units")->type, RNNC_CFG_INT);
    cr_expect_eq(at(gru, "units")->v.i, 64);
    cr_expect_eq(at(gru, "dropout")->type, RNNC_CFG_FLOAT);
    cr_expect_eq(at(gru, "dropout")->v.f, 0.0);
    cr_expect_eq(at(gru, "reset_after")->type, RNNC_CFG_BOOL);
    cr_expect(at(gru, "reset_after")->v.b);
    cr_expect_eq(at(gru, "dtype.shared_object_id")->v.i, 1786233033488LL);
    cr_expect_eq(at(gru, "kernel_regularizer")->type, RNNC_CFG_NULL);
    const rnnc_cfg *shape = at(c, "config.layers.0.config.batch_shape");
    cr_expect_eq(shape->n, 3);
    cr_expect_eq(shape->items[0]->type, RNNC_CFG_NULL);
    cr_expect_eq(shape->items[1]->v.i, 12);
    const rnnc_cfg *opt = at(c, "compile_config.optimizer.config");
    cr_expect_eq(at(opt, "learning_rate")->v.f, 0.0010000000474974513);
    cr_expect_eq(at(opt, "epsilon")->v.f, 1e-07);
    cr_expect_str_eq(at(c, "compile_config.metrics.0")->v.s, "mape");
    /* The whole file is one line; the first "units" value sits at column 836. */
    cr_expect_eq(at(gru, "units")->line, 1);
    cr_expect_eq(at(gru, "units")->col, 836);
    rnnc_cfg_destroy(c);
}

Test(yaml_reader, keras2_model_config_loads_unchanged)
{
    rnnc_cfg *c = read_fixture_roundtrip("keras2_arima_model_config.json");
    cr_expect_eq(at(c, "config.layers")->n, 9);
    cr_expect_str_eq(at(c, "config.layers.8.class_name")->v.s, "Dense");
    cr_expect_eq(at(c, "config.layers.0.config.implementation")->v.i, 2);
    cr_expect_eq(at(c, "config.layers.1.config.rate")->v.f, 0.2);
    cr_expect_str_eq(at(c, "config.layers.0.config.kernel_initializer.config.mode")->v.s, "fan_avg");
    cr_expect_eq(at(c, "config.layers.0.config.batch_input_shape.1")->v.i, 60);
    rnnc_cfg_destroy(c);
}

Test(yaml_reader, every_node_knows_its_file_and_root_owns_the_name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/keras2_arima_model_config.json", CONFIGS);
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_file(path, &c), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_not_null(c->file_owned);
    cr_expect_str_eq(c->file_owned, path);
    cr_expect_eq(c->file, c->file_owned);
    cr_expect_eq(at(c, "config.layers.3.config.rate")->file, c->file_owned);
    cr_expect_eq(c->line, 1);
    cr_expect_eq(c->col, 1);
    char where[600], want[600];
    snprintf(want, sizeof want, " (%s:1:", path);
    rnnc_cfg_where(at(c, "config.name"), where, sizeof where);
    cr_expect(strncmp(where, want, strlen(want)) == 0, "where: %s", where);
    rnnc_cfg_destroy(c);
}

/* ---- YAML forms and scalar typing --------------------------------------- */

Test(yaml_reader, yaml_short_forms_and_positions)
{
    rnnc_cfg *c = must_read("layers:\n"
                            "  - class_name: GRU\n"
                            "    config:\n"
                            "      units: 8\n"
                            "      activation: tanh\n"
                            "      kernel_regularizer: {class_name: L2, config: {l2: 0.01}}\n"
                            "      recurrent_initializer: orthogonal\n"
                            "      input_shape: [null, 12, 1]\n"
                            "  - Dense\n");
    const rnnc_cfg *cfg = at(c, "layers.0.config");
    cr_expect_str_eq(at(cfg, "activation")->v.s, "tanh");
    cr_expect_str_eq(at(cfg, "kernel_regularizer.class_name")->v.s, "L2");
    cr_expect_eq(at(cfg, "kernel_regularizer.config.l2")->type, RNNC_CFG_FLOAT);
    cr_expect_eq(at(cfg, "kernel_regularizer.config.l2")->v.f, 0.01);
    cr_expect_str_eq(at(cfg, "recurrent_initializer")->v.s, "orthogonal");
    cr_expect_eq(at(cfg, "input_shape.0")->type, RNNC_CFG_NULL);
    cr_expect_str_eq(at(c, "layers.1")->v.s, "Dense");
    /* Positions: 1-based line and column of where each value starts. */
    cr_expect_eq(at(cfg, "units")->line, 4);
    cr_expect_eq(at(cfg, "units")->col, 14);
    cr_expect_eq(at(cfg, "kernel_regularizer.config.l2")->line, 6);
    cr_expect_eq(at(cfg, "kernel_regularizer.config.l2")->col, 57);
    cr_expect_eq(at(c, "layers.1")->line, 9);
    cr_expect_eq(at(c, "layers.1")->col, 5);
    /* Keys keep the order they were written in. */
    cr_expect_str_eq(cfg->keys[0], "units");
    cr_expect_eq(cfg->n, 5);
    cr_expect_str_eq(cfg->keys[4], "input_shape");
    rnnc_cfg_destroy(c);
}

typedef struct scalar_case {
    const char *text;
    rnnc_cfg_type type;
    double num; /* the int or float value */
    const char *str;
} scalar_case;

Test(yaml_reader, scalars_are_typed_like_yaml_core_and_json)
{
    static const scalar_case cases[] = {
        {"~", RNNC_CFG_NULL, 0, NULL},          {"null", RNNC_CFG_NULL, 0, NULL},
        {"Null", RNNC_CFG_NULL, 0, NULL},       {"", RNNC_CFG_NULL, 0, NULL},
        {"true", RNNC_CFG_BOOL, 1, NULL},       {"True", RNNC_CFG_BOOL, 1, NULL},
        {"FALSE", RNNC_CFG_BOOL, 0, NULL},      {"false", RNNC_CFG_BOOL, 0, NULL},
        {"64", RNNC_CFG_INT, 64, NULL},         {"-7", RNNC_CFG_INT, -7, NULL},
        {"+4", RNNC_CFG_INT, 4, NULL},          {"0x1f", RNNC_CFG_INT, 31, NULL},
        {"0o17", RNNC_CFG_INT, 15, NULL},       {"012", RNNC_CFG_INT, 12, NULL},
        {"1.5", RNNC_CFG_FLOAT, 1.5, NULL},     {"1e-07", RNNC_CFG_FLOAT, 1e-07, NULL},
        {"1.", RNNC_CFG_FLOAT, 1.0, NULL},      {".5", RNNC_CFG_FLOAT, 0.5, NULL},
        {"-2E3", RNNC_CFG_FLOAT, -2000.0, NULL}, {"0.0010000000474974513", RNNC_CFG_FLOAT, 0.0010000000474974513, NULL},
        {".inf", RNNC_CFG_FLOAT, INFINITY, NULL}, {"-.Inf", RNNC_CFG_FLOAT, -INFINITY, NULL},
        {"Infinity", RNNC_CFG_FLOAT, INFINITY, NULL}, {"-Infinity", RNNC_CFG_FLOAT, -INFINITY, NULL},
        {"1e999", RNNC_CFG_FLOAT, INFINITY, NULL}, {"\"64\"", RNNC_CFG_STRING, 0, "64"},
        {"'true'", RNNC_CFG_STRING, 0, "true"}, {"\"null\"", RNNC_CFG_STRING, 0, "null"},
        {"yes", RNNC_CFG_STRING, 0, "yes"},     {"1_000", RNNC_CFG_STRING, 0, "1_000"},
        {"1e", RNNC_CFG_STRING, 0, "1e"},       {".", RNNC_CFG_STRING, 0, "."},
        {"0x", RNNC_CFG_STRING, 0, "0x"},       {"+", RNNC_CFG_STRING, 0, "+"},
        {"nan", RNNC_CFG_STRING, 0, "nan"},     {"glorot_uniform", RNNC_CFG_STRING, 0, "glorot_uniform"},
        {"!!str 2", RNNC_CFG_STRING, 0, "2"},   {"!!float 3", RNNC_CFG_FLOAT, 3.0, NULL},
        {"!!int 0x10", RNNC_CFG_INT, 16, NULL}, {"!!null ''", RNNC_CFG_NULL, 0, NULL},
        {"\"tab\\there \\u00e9\"", RNNC_CFG_STRING, 0, "tab\there \xc3\xa9"},
        {"|\n  two\n  lines\n", RNNC_CFG_STRING, 0, "two\nlines\n"},
        {"-9223372036854775808", RNNC_CFG_INT, (double)INT64_MIN, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[200];
        snprintf(text, sizeof text, "v: %s\n", cases[i].text);
        rnnc_cfg *c = must_read(text);
        const rnnc_cfg *v = at(c, "v");
        cr_expect_eq(v->type, cases[i].type, "'%s' typed %s, want %s", cases[i].text,
                     rnnc_cfg_type_name(v->type), rnnc_cfg_type_name(cases[i].type));
        if (v->type == cases[i].type) {
            if (v->type == RNNC_CFG_INT)
                cr_expect_eq((double)v->v.i, cases[i].num, "'%s'", cases[i].text);
            else if (v->type == RNNC_CFG_FLOAT)
                cr_expect_eq(v->v.f, cases[i].num, "'%s' -> %.17g", cases[i].text, v->v.f);
            else if (v->type == RNNC_CFG_BOOL)
                cr_expect_eq(v->v.b, cases[i].num != 0, "'%s'", cases[i].text);
            else if (v->type == RNNC_CFG_STRING)
                cr_expect_str_eq(v->v.s, cases[i].str, "'%s'", cases[i].text);
        }
        rnnc_cfg_destroy(c);
    }
    rnnc_cfg *c = must_read("[.nan, NaN, 9223372036854775807, -0.0]");
    cr_expect(isnan(c->items[0]->v.f) && c->items[0]->type == RNNC_CFG_FLOAT);
    cr_expect(isnan(c->items[1]->v.f) && c->items[1]->type == RNNC_CFG_FLOAT);
    cr_expect_eq(c->items[2]->v.i, INT64_MAX);
    cr_expect(c->items[3]->v.f == 0.0 && signbit(c->items[3]->v.f));
    rnnc_cfg_destroy(c);
}

Test(yaml_reader, integer_overflow_is_an_error_with_its_position)
{
    must_fail("a: 1\nunits: 99999999999999999999\n", RNNC_E_FORMAT,
              "spec.yaml:2:8: integer 99999999999999999999 does not fit in 64 bits");
    must_fail("x: -9223372036854775809", RNNC_E_FORMAT, "spec.yaml:1:4: integer");
    must_fail("x: 0x10000000000000000", RNNC_E_FORMAT, "does not fit in 64 bits");
}

Test(yaml_reader, tags)
{
    rnnc_cfg *c = must_read("shape: !!python/tuple [1, 2]\nm: !!map {a: 1}\n");
    cr_expect_eq(at(c, "shape")->type, RNNC_CFG_LIST);
    cr_expect_eq(at(c, "shape.1")->v.i, 2);
    rnnc_cfg_destroy(c);
    must_fail("a: !!int abc", RNNC_E_FORMAT, "spec.yaml:1:4: 'abc' is not a valid integer for tag !!int");
    must_fail("a: !custom [1]", RNNC_E_FORMAT, "unsupported tag '!custom' on a sequence");
    must_fail("a: !!binary aGk=", RNNC_E_FORMAT, "unsupported tag '!!binary' on a scalar");
}

Test(yaml_reader, strings_with_nul_are_refused)
{
    must_fail("name: \"a\\0b\"", RNNC_E_FORMAT, "spec.yaml:1:7: string contains a NUL character");
    must_fail("{\"a\\u0000\": 1}", RNNC_E_FORMAT, "mapping key contains a NUL character");
}

/* Every tree that reads must write as JSON and read back: libyaml refuses
 * a flow-mapping key over 1024 characters, which the JSON of a long key (or
 * one escaped six-fold, "\u0001") would be. Found by the fuzzer. */
Test(yaml_reader, keys_are_bounded_so_their_json_reads_back)
{
    char text[1200];
    /* The longest key allowed, every byte escaped three-fold in JSON. */
    size_t n = 0;
    for (int i = 0; i < RNNC_SPEC_MAX_KEY_BYTES / 2; i++) {
        text[n++] = '\xC3';
        text[n++] = '\xA9'; /* U+00E9, written as \u00e9 */
    }
    memcpy(text + n, ": 1\n", 5);
    rnnc_cfg *c = must_read(text);
    char *json = NULL;
    cr_assert_eq(rnnc_json_write(c, -1, &json), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_gt(strlen(json), 3 * RNNC_SPEC_MAX_KEY_BYTES);
    rnnc_cfg *back = NULL;
    cr_assert_eq(rnnc_spec_read_string(json, strlen(json), "back.json", &back), RNNC_OK, "%s",
                 rnnc_last_error());
    cr_assert_eq(back->n, 1);
    cr_assert_str_eq(back->keys[0], c->keys[0]);
    rnnc_cfg_destroy(back);
    rnnc_cfg_destroy(c);
    free(json);

    memset(text, 'k', RNNC_SPEC_MAX_KEY_BYTES + 1);
    memcpy(text + RNNC_SPEC_MAX_KEY_BYTES + 1, ": 1\n", 5);
    must_fail(text, RNNC_E_FORMAT, "spec.yaml:1:1: mapping key 'kkkk");
    must_fail(text, RNNC_E_FORMAT, "is 257 bytes long; keys may have at most 256");
    must_fail("\"a\\u0001b\": 1", RNNC_E_FORMAT,
              "mapping key 'a' contains the control character 0x01 at byte 1");
    must_fail("{\"a\\tb\": 1}", RNNC_E_FORMAT, "control character 0x09");
}

Test(yaml_reader, json_surrogate_pairs_are_read)
{
    /* Python's json.dumps writes U+1F600 as \ud83d\ude00, which libyaml alone refuses. */
    rnnc_cfg *c = must_read("{\"name\": \"gru \\ud83d\\ude00 and \\uD83D\\uDE01\", \"b\": [1, 2]}");
    cr_expect_str_eq(at(c, "name")->v.s, "gru \xF0\x9F\x98\x80 and \xF0\x9F\x98\x81");
    /* Columns after the escapes are those of the original text. */
    cr_expect_eq(at(c, "b")->col, 52);
    cr_expect_eq(at(c, "b.1")->col, 56);
    rnnc_cfg_destroy(c);
    must_fail("{\"a\": \"\\ud83d\\ude00\", \"b\": *x}", RNNC_E_FORMAT, "spec.yaml:1:28: unknown alias *x");
    must_fail("\"lone \\ud83d\"", RNNC_E_FORMAT, "found invalid Unicode character escape code");

    /* Each pair costs a re-parse, so their number is bounded. */
    char many[300 * 12 + 8];
    for (int count = 200; count <= 300; count += 100) {
        size_t n = 0;
        many[n++] = '"';
        for (int k = 0; k < count; k++)
            n += (size_t)sprintf(many + n, "\\ud83d\\ude00");
        strcpy(many + n, "\"");
        if (count == 200) {
            c = must_read(many);
            cr_expect_eq(strlen(c->v.s), 4 * 200);
            rnnc_cfg_destroy(c);
        } else {
            must_fail(many, RNNC_E_FORMAT, "spec.yaml: more than 256 surrogate-pair escapes");
        }
    }
}

Test(yaml_reader, utf16_with_bom_is_read)
{
    static const char text[] = "\xFF\xFE" "a\0:\0 \0" "1\0\n\0";
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_string(text, sizeof text - 1, "u16.yaml", &c), RNNC_OK, "%s",
                 rnnc_last_error());
    cr_expect_eq(at(c, "a")->v.i, 1);
    rnnc_cfg_destroy(c);
}

Test(yaml_reader, text_need_not_be_nul_terminated)
{
    const char text[] = "units: 8XXXX";
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_string(text, 8, NULL, &c), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(at(c, "units")->v.i, 8);
    cr_expect_str_eq(c->file, "<string>");
    rnnc_cfg_destroy(c);
    cr_expect_eq(rnnc_spec_read_string(NULL, 3, "x", &c), RNNC_E_ARG);
    cr_expect_eq(rnnc_spec_read_string("a", 1, "x", NULL), RNNC_E_ARG);
}

/* ---- anchors, aliases, merge keys ---------------------------------------- */

Test(yaml_reader, aliases_copy_the_anchored_node)
{
    rnnc_cfg *c = must_read("init: &glorot {class_name: GlorotUniform, config: {seed: 7}}\n"
                            "units: &u 16\n"
                            "a: {kernel_initializer: *glorot, units: *u}\n"
                            "b: *glorot\n");
    cr_expect_str_eq(at(c, "a.kernel_initializer.class_name")->v.s, "GlorotUniform");
    cr_expect_eq(at(c, "a.kernel_initializer.config.seed")->v.i, 7);
    cr_expect_eq(at(c, "a.units")->v.i, 16);
    cr_expect_eq(at(c, "b.config.seed")->v.i, 7);
    /* A copy, not a shared node: the tree frees each once. */
    cr_expect_neq(at(c, "b"), at(c, "init"));
    cr_expect_neq(at(c, "b.config"), at(c, "a.kernel_initializer.config"));
    /* The copy's root sits where the alias was written. */
    cr_expect_eq(at(c, "b")->line, 4);
    cr_expect_eq(at(c, "b")->col, 4);
    rnnc_cfg_destroy(c);
}

Test(yaml_reader, merge_keys)
{
    rnnc_cfg *c = must_read("defaults: &d {activation: tanh, units: 8, dropout: 0.1}\n"
                            "gru1:\n"
                            "  <<: *d\n"
                            "  units: 16\n"
                            "gru2: {<<: [{units: 1, seed: 3}, *d], name: g2}\n");
    const rnnc_cfg *g1 = at(c, "gru1");
    cr_expect_eq(g1->n, 3);
    cr_expect_str_eq(g1->keys[0], "units"); /* written keys first, merged keys after */
    cr_expect_eq(at(g1, "units")->v.i, 16);
    cr_expect_str_eq(at(g1, "activation")->v.s, "tanh");
    cr_expect_eq(at(g1, "dropout")->v.f, 0.1);
    const rnnc_cfg *g2 = at(c, "gru2");
    cr_expect_eq(g2->n, 5);
    cr_expect_eq(at(g2, "units")->v.i, 1); /* the earlier mapping of the list wins */
    cr_expect_eq(at(g2, "seed")->v.i, 3);
    cr_expect_str_eq(at(g2, "name")->v.s, "g2");
    rnnc_cfg_destroy(c);
    /* A quoted "<<" is an ordinary key. */
    c = must_read("{\"<<\": 1}");
    cr_expect_eq(at(c, "<<")->v.i, 1);
    rnnc_cfg_destroy(c);
    must_fail("a:\n  <<: 5\n  b: 1\n", RNNC_E_FORMAT,
              "spec.yaml:2:3: the merge key '<<' needs a mapping or a list of mappings, got integer");
    must_fail("a: {<<: [{x: 1}, 2]}", RNNC_E_FORMAT, "item 2 is integer");
    must_fail("a: {<<: {x: 1}, <<: {y: 2}}", RNNC_E_FORMAT, "duplicate merge key '<<'");
}

Test(yaml_reader, alias_errors)
{
    must_fail("a: *nope\n", RNNC_E_FORMAT, "spec.yaml:1:4: unknown alias *nope");
    must_fail("a: &a [1, *a]\n", RNNC_E_FORMAT, "spec.yaml:1:11: alias *a refers to a node that contains it");
    must_fail("x: &k 1\n*k : 2\n", RNNC_E_FORMAT, "cannot be a mapping key");
    must_fail("&k key: 2\n", RNNC_E_FORMAT, "anchors on mapping keys are not supported");
    must_fail("? [a, b]\n: 1\n", RNNC_E_FORMAT, "spec.yaml:1:3: a mapping key must be a plain or quoted string, not a sequence");
}

/* Nine levels of nine aliases: 9^9 nodes if expanded ("billion laughs"). */
Test(yaml_reader, alias_bomb_is_rejected_quickly)
{
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text, "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (char c = 'b'; c <= 'i'; c++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "%c: &%c [", c, c);
        for (int k = 0; k < 9; k++)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s*%c", k ? ", " : "", c - 1);
        n += (size_t)snprintf(text + n, sizeof text - n, "]\n");
    }
    double t0 = seconds_now();
    must_fail(text, RNNC_E_FORMAT, "would copy more than 1000000 nodes in total");
    cr_expect_lt(seconds_now() - t0, 3.0, "took %.2f s", seconds_now() - t0);
    must_fail(text, RNNC_E_FORMAT, "spec.yaml:7:");

    /* Many small aliases: the reference count limit. */
    char *many = malloc(8 + 4 * 1100 + 8);
    cr_assert_not_null(many);
    n = (size_t)sprintf(many, "a: &a 1\nb: [");
    for (int k = 0; k < 1001; k++)
        n += (size_t)sprintf(many + n, "*a, ");
    strcpy(many + n, "1]\n");
    must_fail(many, RNNC_E_FORMAT, "more than 1000 alias references (*a)");
    free(many);
}

Test(yaml_reader, depth_bomb_is_rejected_quickly)
{
    size_t depth = 1000000;
    char *text = malloc(2 * depth + 1);
    cr_assert_not_null(text);
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    text[2 * depth] = '\0';
    double t0 = seconds_now();
    must_fail(text, RNNC_E_FORMAT, "spec.yaml:1:65: mappings and sequences nested deeper than 64 levels");
    cr_expect_lt(seconds_now() - t0, 1.0, "took %.2f s", seconds_now() - t0);
    free(text);

    /* 64 levels are fine, block style too. */
    char ok[200];
    memset(ok, '[', 64);
    memset(ok + 64, ']', 64);
    ok[128] = '\0';
    rnnc_cfg *c = must_read(ok);
    rnnc_cfg_destroy(c);
    must_fail("- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - "
              "- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - x\n",
              RNNC_E_FORMAT, "deeper than 64 levels");

    /* Depth through an alias: 40 levels under the anchor, placed 30 deep. */
    char deep[600];
    size_t n = (size_t)sprintf(deep, "a: &a ");
    for (int k = 0; k < 40; k++)
        deep[n++] = '[';
    deep[n++] = '1';
    for (int k = 0; k < 40; k++)
        deep[n++] = ']';
    n += (size_t)sprintf(deep + n, "\nb: ");
    for (int k = 0; k < 30; k++)
        deep[n++] = '[';
    n += (size_t)sprintf(deep + n, "*a");
    for (int k = 0; k < 30; k++)
        deep[n++] = ']';
    deep[n] = '\0';
    must_fail(deep, RNNC_E_FORMAT, "spec.yaml:2:34: alias *a would nest mappings and sequences deeper than 64");
}

/* ---- errors in the text ---------------------------------------------------- */

Test(yaml_reader, duplicate_keys_name_both_lines)
{
    must_fail("layers:\n"
              "  - class_name: GRU\n"
              "    config:\n"
              "      units: 8\n"
              "      units: 9\n",
              RNNC_E_FORMAT, "spec.yaml:5:7: duplicate key 'units'; it was first given at line 4, column 7");
    must_fail("{\"a\": 1, \"b\": 2, \"a\": 3}", RNNC_E_FORMAT,
              "spec.yaml:1:18: duplicate key 'a'; it was first given at line 1, column 2");
    /* The same key in different mappings is fine. */
    rnnc_cfg *c = must_read("a: {x: 1}\nb: {x: 2}\n");
    rnnc_cfg_destroy(c);
}

Test(yaml_reader, many_keys_in_one_mapping)
{
    /* The key index must stay fast and exact past its growth points. */
    size_t nkeys = 20000;
    char *text = malloc(nkeys * 24 + 16);
    cr_assert_not_null(text);
    size_t n = 0;
    for (size_t i = 0; i < nkeys; i++)
        n += (size_t)sprintf(text + n, "key%zu: %zu\n", i, i);
    rnnc_cfg *c = must_read(text);
    cr_expect_eq(c->n, nkeys);
    cr_expect_eq(at(c, "key12345")->v.i, 12345);
    rnnc_cfg_destroy(c);
    n += (size_t)sprintf(text + n, "key777: 0\n");
    must_fail(text, RNNC_E_FORMAT, "spec.yaml:20001:1: duplicate key 'key777'; it was first given at line 778, column 1");
    free(text);
}

Test(yaml_reader, syntax_errors_carry_line_and_column)
{
    must_fail("model:\n"
              "  layers:\n"
              "    - class_name: GRU\n"
              "      config: {units: 8, activation: tanh\n"
              "    - class_name: Dense\n",
              RNNC_E_FORMAT,
              "spec.yaml:5:17: YAML syntax error: did not find expected ',' or '}' (while parsing a "
              "flow mapping at line 4, column 15)");
    must_fail("model:\n  units: 8\n   dropout: 0.1\n", RNNC_E_FORMAT,
              "spec.yaml:3:11: YAML syntax error: mapping values are not allowed in this context");
    must_fail("model:\n\tunits: 8\n", RNNC_E_FORMAT,
              "spec.yaml:2:1: YAML syntax error: found character that cannot start any token");
    must_fail("a: \"unterminated\n", RNNC_E_FORMAT,
              "spec.yaml:2:1: YAML syntax error: found unexpected end of stream (while scanning a "
              "quoted scalar at line 1, column 4)");
}

Test(yaml_reader, several_documents_are_refused)
{
    must_fail("a: 1\n---\nb: 2\n", RNNC_E_FORMAT,
              "spec.yaml:2:1: a second YAML document starts here; a spec file holds exactly one");
    rnnc_cfg *c = must_read("---\na: 1\n...\n");
    cr_expect_eq(at(c, "a")->v.i, 1);
    rnnc_cfg_destroy(c);
}

Test(yaml_reader, empty_input_is_refused)
{
    must_fail("", RNNC_E_FORMAT, "spec.yaml: the spec is empty (no YAML document in it)");
    must_fail("   \n\n", RNNC_E_FORMAT, "the spec is empty");
    must_fail("# just a comment\n", RNNC_E_FORMAT, "the spec is empty");
}

Test(yaml_reader, truncated_keras_json_always_fails_cleanly)
{
    size_t len;
    char *full = slurp(CONFIGS "/keras3_cos30018_config.json", &len);
    for (size_t cut = 0; cut < len; cut++) {
        rnnc_cfg *c = (rnnc_cfg *)1;
        rnnc_status s = rnnc_spec_read_string(full, cut, "cut.json", &c);
        cr_assert_eq(s, RNNC_E_FORMAT, "prefix of %zu bytes: %s", cut, rnnc_status_str(s));
        cr_assert_null(c);
        int line = 0, col = 0;
        if (cut == 0)
            cr_assert_str_eq(rnnc_last_error(), "cut.json: the spec is empty (no YAML document in it)");
        else
            cr_assert(sscanf(rnnc_last_error(), "cut.json:%d:%d: YAML syntax error", &line, &col) == 2 &&
                          line >= 1 && col >= 1,
                      "message: %s", rnnc_last_error());
    }
    free(full);
}

Test(yaml_reader, binary_garbage_fails_cleanly)
{
    must_fail("a: 1\nb: \x80\x81\n", RNNC_E_FORMAT,
              "spec.yaml:2:4: not readable as text: invalid leading UTF-8 octet 0x80 at byte offset 8");
    static const char ctl[] = "a: b\x01 c";
    must_fail(ctl, RNNC_E_FORMAT, "spec.yaml:1:5: not readable as text: control characters are not allowed");
    rnnc_cfg *c = (rnnc_cfg *)1;
    static const char nul[] = "a: 1\0b: 2";
    cr_expect_eq(rnnc_spec_read_string(nul, sizeof nul - 1, "nul.yaml", &c), RNNC_E_FORMAT);
    cr_expect(strstr(rnnc_last_error(), "nul.yaml:1:5: not readable as text") != NULL, "%s",
              rnnc_last_error());

    /* Random bytes: whatever the outcome, no crash, a leak-free tree, and a
     * message that starts with the name when it fails. */
    uint64_t state = 0x9E3779B97F4A7C15u;
    static const char punct[] = "{}[]:,-&*!|>'\"#%@ \n\ta1.e?<";
    char buf[512];
    int failed = 0;
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + (size_t)(round % (int)sizeof buf);
        for (size_t i = 0; i < n; i++) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            /* Half the rounds draw from YAML's punctuation to get past the reader. */
            buf[i] = round % 2 ? (char)(state >> 24) : punct[(state >> 24) % (sizeof punct - 1)];
        }
        rnnc_cfg *g = NULL;
        rnnc_status s = rnnc_spec_read_string(buf, n, "junk", &g);
        if (s != RNNC_OK) {
            failed++;
            cr_assert_null(g);
            cr_assert(strncmp(rnnc_last_error(), "junk", 4) == 0, "message: %s", rnnc_last_error());
        }
        rnnc_cfg_destroy(g);
    }
    cr_expect_gt(failed, 1000, "random bytes should mostly be refused (%d were)", failed);
}

/* ---- files ------------------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/rnnc_yaml_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

Test(yaml_reader, file_errors_name_the_path)
{
    make_tmpdir();
    rnnc_cfg *c = (rnnc_cfg *)1;
    cr_expect_eq(rnnc_spec_read_file(tmpdir, &c), RNNC_E_IO);
    cr_expect_null(c);
    char want[512];
    snprintf(want, sizeof want, "'%s' is a directory, not a spec file", tmpdir);
    cr_expect_str_eq(rnnc_last_error(), want);

    char path[256];
    snprintf(path, sizeof path, "%s/missing.yaml", tmpdir);
    cr_expect_eq(rnnc_spec_read_file(path, &c), RNNC_E_IO);
    snprintf(want, sizeof want, "cannot open spec file '%s': No such file or directory", path);
    cr_expect_str_eq(rnnc_last_error(), want);

    /* Too large: a sparse file just over 64 MiB. */
    snprintf(path, sizeof path, "%s/big.yaml", tmpdir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(ftruncate(fileno(f), (off_t)RNNC_SPEC_MAX_FILE_BYTES + 1), 0);
    fclose(f);
    cr_expect_eq(rnnc_spec_read_file(path, &c), RNNC_E_IO);
    cr_expect(strstr(rnnc_last_error(), path) && strstr(rnnc_last_error(), "64 MiB"), "%s",
              rnnc_last_error());
    remove(path);

    /* An empty file and a bad file name the path in a format error. */
    snprintf(path, sizeof path, "%s/empty.yaml", tmpdir);
    write_file(path, "", 0);
    cr_expect_eq(rnnc_spec_read_file(path, &c), RNNC_E_FORMAT);
    snprintf(want, sizeof want, "%s: the spec is empty (no YAML document in it)", path);
    cr_expect_str_eq(rnnc_last_error(), want);
    remove(path);

    snprintf(path, sizeof path, "%s/bad.yaml", tmpdir);
    write_file(path, "a: 1\nb: [1, 2\n", 14);
    cr_expect_eq(rnnc_spec_read_file(path, &c), RNNC_E_FORMAT);
    snprintf(want, sizeof want, "%s:3:1: YAML syntax error", path);
    cr_expect(strncmp(rnnc_last_error(), want, strlen(want)) == 0, "%s", rnnc_last_error());
    remove(path);

    /* Unreadable: only meaningful when not root, who reads anything. */
    if (geteuid() != 0) {
        snprintf(path, sizeof path, "%s/secret.yaml", tmpdir);
        write_file(path, "a: 1\n", 5);
        chmod(path, 0);
        cr_expect_eq(rnnc_spec_read_file(path, &c), RNNC_E_IO);
        cr_expect(strstr(rnnc_last_error(), "Permission denied") != NULL, "%s", rnnc_last_error());
        remove(path);
    }
    rmdir(tmpdir);
    cr_expect_eq(rnnc_spec_read_file(NULL, &c), RNNC_E_ARG);
    cr_expect_eq(rnnc_spec_read_file("x", NULL), RNNC_E_ARG);
}

Test(yaml_reader, reads_a_yaml_file)
{
    make_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/spec.yaml", tmpdir);
    static const char text[] = "# a GRU\nmodel:\n  units: 32\n  name: \"gru\"\n";
    write_file(path, text, sizeof text - 1);
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_file(path, &c), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(at(c, "model.units")->v.i, 32);
    cr_expect_eq(at(c, "model.units")->line, 3);
    cr_expect_str_eq(at(c, "model.name")->file, path);
    rnnc_cfg_destroy(c);
    remove(path);
    rmdir(tmpdir);
}
