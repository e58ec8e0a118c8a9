/* test_json_writer.c - io/json_writer.c: the text equals Python's
 * json.dumps byte for byte (one line, indent=2, indent=0), floats as
 * Python's repr, string escapes as ensure_ascii=True, and what is written
 * reads back (rnnc_spec_read_string) to the same tree; the atomic file
 * write.
 *
 * The expected strings were made once with Python 3 and pasted here:
 *   python3 -c 'import json; print(json.dumps(TREE))'          (and indent=2)
 *   python3 -c 'print(repr(float.fromhex("0x1p-1017")))'       (float table)
 * where TREE is the dict that make_tree() builds, in the same order. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/json_writer.h"
#include "io/spec_reader.h"

/* Python: "quote\" back\\ nl\n tab\t cr\r bs\b ff\f ctl\x01\x1f del\x7f \u00e9 \u20ac \U0001F600 /" */
#define ODD_STRING                                                                   \
    "quote\" back\\ nl\n tab\t cr\r bs\b ff\f ctl\x01\x1f del\x7f \xC3\xA9 \xE2\x82\xAC " \
    "\xF0\x9F\x98\x80 /"

static void ok(rnnc_status s)
{
    cr_assert_eq(s, RNNC_OK, "%s", rnnc_last_error());
}

/* The tree of the header comment. */
static rnnc_cfg *make_tree(void)
{
    rnnc_cfg *t = rnnc_cfg_map();
    cr_assert_not_null(t);
    ok(rnnc_cfg_set_string(t, "name", "gru"));
    ok(rnnc_cfg_set_int(t, "units", 64));
    ok(rnnc_cfg_set_bool(t, "trainable", true));
    ok(rnnc_cfg_set_null(t, "seed"));
    ok(rnnc_cfg_set_float(t, "dropout", 0.0));
    ok(rnnc_cfg_set_float(t, "l2", 0.01));
    ok(rnnc_cfg_set_float(t, "eps", 1e-07));
    ok(rnnc_cfg_set_float(t, "big", 1e16));
    ok(rnnc_cfg_set_float(t, "huge", 123456789012345678.0));
    ok(rnnc_cfg_set_float(t, "neg", -2.5));
    ok(rnnc_cfg_set_float(t, "third", 1.0 / 3.0));
    ok(rnnc_cfg_set_float(t, "f32", 0.0010000000474974513));
    ok(rnnc_cfg_set_float(t, "nan", NAN));
    ok(rnnc_cfg_set_float(t, "inf", INFINITY));
    ok(rnnc_cfg_set_float(t, "ninf", -INFINITY));
    ok(rnnc_cfg_set_float(t, "nz", -0.0));
    ok(rnnc_cfg_set_float(t, "thousand", 1000.0));
    ok(rnnc_cfg_set_float(t, "tiny", 5e-324));
    ok(rnnc_cfg_set_string(t, "s", ODD_STRING));
    rnnc_cfg *list = rnnc_cfg_list();
    ok(rnnc_cfg_push(list, rnnc_cfg_int(1)));
    ok(rnnc_cfg_push(list, rnnc_cfg_int(INT64_MIN)));
    ok(rnnc_cfg_push(list, rnnc_cfg_int(INT64_MAX)));
    ok(rnnc_cfg_push(list, rnnc_cfg_list()));
    ok(rnnc_cfg_push(list, rnnc_cfg_map()));
    ok(rnnc_cfg_set(t, "list", list));
    rnnc_cfg *shape = rnnc_cfg_list();
    ok(rnnc_cfg_push(shape, rnnc_cfg_null()));
    ok(rnnc_cfg_push(shape, rnnc_cfg_int(12)));
    ok(rnnc_cfg_push(shape, rnnc_cfg_int(1)));
    ok(rnnc_cfg_set(t, "shape", shape));
    ok(rnnc_cfg_set(t, "empty_map", rnnc_cfg_map()));
    rnnc_cfg *b = rnnc_cfg_list();
    ok(rnnc_cfg_push(b, rnnc_cfg_float(1.5)));
    ok(rnnc_cfg_push(b, rnnc_cfg_string("x")));
    rnnc_cfg *a = rnnc_cfg_map();
    ok(rnnc_cfg_set(a, "b", b));
    rnnc_cfg *nested = rnnc_cfg_map();
    ok(rnnc_cfg_set(nested, "a", a));
    ok(rnnc_cfg_set(t, "nested", nested));
    return t;
}

static const char python_one_line[] =
    "{\"name\": \"gru\", \"units\": 64, \"trainable\": true, \"seed\": null, \"dropout\": 0.0, \"l2\": "
    "0.01, \"eps\": 1e-07, \"big\": 1e+16, \"huge\": 1.2345678901234568e+17, \"neg\": -2.5, \"third\": "
    "0.3333333333333333, \"f32\": 0.0010000000474974513, \"nan\": NaN, \"inf\": Infinity, \"ninf\": "
    "-Infinity, \"nz\": -0.0, \"thousand\": 1000.0, \"tiny\": 5e-324, \"s\": \"quote\\\" back\\\\ nl\\n "
    "tab\\t cr\\r bs\\b ff\\f ctl\\u0001\\u001f del\\u007f \\u00e9 \\u20ac \\ud83d\\ude00 /\", \"list\": "
    "[1, -9223372036854775808, 9223372036854775807, [], {}], \"shape\": [null, 12, 1], "
    "\"empty_map\": {}, \"nested\": {\"a\": {\"b\": [1.5, \"x\"]}}}";

static const char python_indent_2[] =
    "{\n"
    "  \"name\": \"gru\",\n"
    "  \"units\": 64,\n"
    "  \"trainable\": true,\n"
    "  \"seed\": null,\n"
    "  \"dropout\": 0.0,\n"
    "  \"l2\": 0.01,\n"
    "  \"eps\": 1e-07,\n"
    "  \"big\": 1e+16,\n"
    "  \"huge\": 1.2345678901234568e+17,\n"
    "  \"neg\": -2.5,\n"
    "  \"third\": 0.3333333333333333,\n"
    "  \"f32\": 0.0010000000474974513,\n"
    "  \"nan\": NaN,\n"
    "  \"inf\": Infinity,\n"
    "  \"ninf\": -Infinity,\n"
    "  \"nz\": -0.0,\n"
    "  \"thousand\": 1000.0,\n"
    "  \"tiny\": 5e-324,\n"
    "  \"s\": \"quote\\\" back\\\\ nl\\n tab\\t cr\\r bs\\b ff\\f ctl\\u0001\\u001f del\\u007f \\u00e9 \\u20ac \\ud83d\\ude00 /\",\n"
    "  \"list\": [\n"
    "    1,\n"
    "    -9223372036854775808,\n"
    "    9223372036854775807,\n"
    "    [],\n"
    "    {}\n"
    "  ],\n"
    "  \"shape\": [\n"
    "    null,\n"
    "    12,\n"
    "    1\n"
    "  ],\n"
    "  \"empty_map\": {},\n"
    "  \"nested\": {\n"
    "    \"a\": {\n"
    "      \"b\": [\n"
    "        1.5,\n"
    "        \"x\"\n"
    "      ]\n"
    "    }\n"
    "  }\n"
    "}";

static char *write_json(const rnnc_cfg *c, int indent)
{
    char *text = NULL;
    ok(rnnc_json_write(c, indent, &text));
    cr_assert_not_null(text);
    return text;
}

Test(json_writer, one_line_equals_python_json_dumps)
{
    rnnc_cfg *t = make_tree();
    char *text = write_json(t, -1);
    cr_expect_str_eq(text, python_one_line);
    free(text);
    rnnc_cfg_destroy(t);
}

Test(json_writer, indent_2_equals_python_json_dumps)
{
    rnnc_cfg *t = make_tree();
    char *text = write_json(t, 2);
    cr_expect_str_eq(text, python_indent_2);
    free(text);
    rnnc_cfg_destroy(t);
}

Test(json_writer, indent_0_and_4_equal_python)
{
    /* json.dumps([{"a": [1, {}]}, []], indent=0) */
    rnnc_cfg *l = rnnc_cfg_list(), *m = rnnc_cfg_map(), *a = rnnc_cfg_list();
    ok(rnnc_cfg_push(a, rnnc_cfg_int(1)));
    ok(rnnc_cfg_push(a, rnnc_cfg_map()));
    ok(rnnc_cfg_set(m, "a", a));
    ok(rnnc_cfg_push(l, m));
    ok(rnnc_cfg_push(l, rnnc_cfg_list()));
    char *text = write_json(l, 0);
    cr_expect_str_eq(text, "[\n{\n\"a\": [\n1,\n{}\n]\n},\n[]\n]");
    free(text);
    rnnc_cfg_destroy(l);
    /* json.dumps({"k\u00e9y": {"a": []}}, indent=4) */
    rnnc_cfg *k = rnnc_cfg_map(), *inner = rnnc_cfg_map();
    ok(rnnc_cfg_set(inner, "a", rnnc_cfg_list()));
    ok(rnnc_cfg_set(k, "k\xC3\xA9y", inner));
    text = write_json(k, 4);
    cr_expect_str_eq(text, "{\n    \"k\\u00e9y\": {\n        \"a\": []\n    }\n}");
    free(text);
    rnnc_cfg_destroy(k);
}

Test(json_writer, scalars_and_empty_containers_at_the_root)
{
    struct { rnnc_cfg *c; const char *want; } cases[] = {
        {rnnc_cfg_map(), "{}"},         {rnnc_cfg_list(), "[]"},      {rnnc_cfg_string("x"), "\"x\""},
        {rnnc_cfg_int(3), "3"},         {rnnc_cfg_null(), "null"},    {rnnc_cfg_bool(false), "false"},
        {rnnc_cfg_string(""), "\"\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int indent = -1; indent <= 2; indent += 3) {
            char *text = write_json(cases[i].c, indent);
            cr_expect_str_eq(text, cases[i].want);
            free(text);
        }
        rnnc_cfg_destroy(cases[i].c);
    }
}

/* Pairs (double, Python's repr). The powers of two 2^-1017 and 2^-957 need
 * a neighbour of the correctly rounded digits (lopsided rounding interval). */
Test(json_writer, floats_match_python_repr)
{
    static const struct { double x; const char *repr; } cases[] = {
        {0x1p-1017, "7.120236347223045e-307"},
        {0x1p-957, "8.209073602596753e-289"},
        {0x0.0000000000001p-1022, "5e-324"},
        {0x1.fffffffffffffp+1023, "1.7976931348623157e+308"},
        {0x1.0p-1022, "2.2250738585072014e-308"},
        {1e15, "1000000000000000.0"},
        {1e16, "1e+16"},
        {1e-4, "0.0001"},
        {1e-5, "1e-05"},
        {1e-7, "1e-07"},
        {0.001, "0.001"},
        {0x1.0000000000001p+53, "9007199254740994.0"},
        {0x1p+63, "9.223372036854776e+18"},
        {0.1, "0.1"},
        {1e22, "1e+22"},
        {1e23, "1e+23"},
        {100.0, "100.0"},
        {123.456, "123.456"},
        {-1.5e-300, "-1.5e-300"},
        {1.0, "1.0"},
        {-0.0, "-0.0"},
        {0.0, "0.0"},
        {123456789012345678.0, "1.2345678901234568e+17"},
        {(double)0.001f, "0.0010000000474974513"},
        {(double)0.9f, "0.8999999761581421"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rnnc_cfg *c = rnnc_cfg_float(cases[i].x);
        char *text = write_json(c, -1);
        cr_expect_str_eq(text, cases[i].repr, "%a", cases[i].x);
        cr_expect_eq(strtod(text, NULL), cases[i].x, "%s does not read back", text);
        free(text);
        rnnc_cfg_destroy(c);
    }
}

Test(json_writer, strings_escape_like_python_ensure_ascii)
{
    static const struct { const char *s, *json; } cases[] = {
        {"a\xE0\xA0\x80" "b", "\"a\\u0800b\""},     /* U+0800 */
        {"\xF4\x8F\xBF\xBF", "\"\\udbff\\udfff\""}, /* U+10FFFF */
        {"\xC3\xBF", "\"\\u00ff\""},
        {"~ /", "\"~ /\""},
        {"\x1b[0m", "\"\\u001b[0m\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rnnc_cfg *c = rnnc_cfg_string(cases[i].s);
        char *text = write_json(c, -1);
        cr_expect_str_eq(text, cases[i].json);
        free(text);
        rnnc_cfg_destroy(c);
    }
}

Test(json_writer, invalid_utf8_is_an_error)
{
    static const char *const bad[] = {
        "\xFF",             /* never valid */
        "ab\xC3",           /* truncated */
        "\xC0\xAF",         /* overlong '/' */
        "\xED\xA0\x80",     /* a surrogate, U+D800 */
        "\xF4\x90\x80\x80", /* above U+10FFFF */
        "\xE2\x28\xA1",     /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rnnc_cfg *m = rnnc_cfg_map();
        ok(rnnc_cfg_set_string(m, "name", bad[i]));
        char *text = (char *)1;
        cr_expect_eq(rnnc_json_write(m, -1, &text), RNNC_E_ARG, "case %zu", i);
        cr_expect_null(text);
        cr_expect(strstr(rnnc_last_error(), "is not valid UTF-8") != NULL, "%s", rnnc_last_error());
        rnnc_cfg_destroy(m);
        /* Keys are checked too. */
        m = rnnc_cfg_map();
        ok(rnnc_cfg_set_int(m, bad[i], 1));
        cr_expect_eq(rnnc_json_write(m, 2, &text), RNNC_E_ARG, "key case %zu", i);
        rnnc_cfg_destroy(m);
    }
}

Test(json_writer, bad_arguments)
{
    char *text = (char *)1;
    cr_expect_eq(rnnc_json_write(NULL, -1, &text), RNNC_E_ARG);
    cr_expect_null(text);
    rnnc_cfg *c = rnnc_cfg_int(1);
    cr_expect_eq(rnnc_json_write(c, -2, &text), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "indent") != NULL);
    cr_expect_eq(rnnc_json_write(c, -1, NULL), RNNC_E_ARG);
    cr_expect_eq(rnnc_json_write_file(c, -1, NULL), RNNC_E_ARG);
    rnnc_cfg_destroy(c);

    /* Deeper than RNNC_JSON_MAX_DEPTH: refused, not a stack overflow. */
    rnnc_cfg *root = rnnc_cfg_list(), *cur = root;
    for (int i = 0; i < RNNC_JSON_MAX_DEPTH + 5; i++) {
        rnnc_cfg *next = rnnc_cfg_list();
        ok(rnnc_cfg_push(cur, next));
        cur = next;
    }
    cr_expect_eq(rnnc_json_write(root, -1, &text), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "deeper than") != NULL, "%s", rnnc_last_error());
    rnnc_cfg_destroy(root);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* ---- round trip through the reader -------------------------------------- */

static void expect_same_tree(const rnnc_cfg *a, const rnnc_cfg *b, const char *path)
{
    cr_assert_eq(a->type, b->type, "%s: %s vs %s", path, rnnc_cfg_type_name(a->type),
                 rnnc_cfg_type_name(b->type));
    switch (a->type) {
    case RNNC_CFG_BOOL: cr_expect_eq(a->v.b, b->v.b, "%s", path); break;
    case RNNC_CFG_INT: cr_expect_eq(a->v.i, b->v.i, "%s", path); break;
    case RNNC_CFG_FLOAT:
        if (isnan(a->v.f))
            cr_expect(isnan(b->v.f), "%s", path);
        else
            cr_expect(a->v.f == b->v.f && signbit(a->v.f) == signbit(b->v.f), "%s: %.17g vs %.17g",
                      path, a->v.f, b->v.f);
        break;
    case RNNC_CFG_STRING: cr_expect_str_eq(a->v.s, b->v.s, "%s", path); break;
    default: break;
    }
    cr_assert_eq(a->n, b->n, "%s: %zu vs %zu items", path, a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        char sub[512];
        if (a->type == RNNC_CFG_MAP) {
            cr_expect_str_eq(a->keys[i], b->keys[i], "%s: key %zu", path, i);
            snprintf(sub, sizeof sub, "%s.%s", path, a->keys[i]);
        } else {
            snprintf(sub, sizeof sub, "%s.%zu", path, i);
        }
        expect_same_tree(a->items[i], b->items[i], sub);
    }
}

Test(json_writer, written_json_reads_back_to_the_same_tree)
{
    rnnc_cfg *t = make_tree();
    /* Strings a YAML reader could mistake for other types must stay strings. */
    static const char *const tricky[] = {"true", "null", "123", "1e-07", "~", "", " lead", "a: b",
                                         "- x", "#c", "NaN", "\xF0\x9F\x98\x80\xF0\x9F\x98\x81"};
    rnnc_cfg *l = rnnc_cfg_list();
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++)
        ok(rnnc_cfg_push(l, rnnc_cfg_string(tricky[i])));
    ok(rnnc_cfg_set(t, "tricky", l));
    ok(rnnc_cfg_set_float(t, "small", 0x1p-1017));
    for (int indent = -1; indent <= 2; indent++) {
        char *text = write_json(t, indent);
        rnnc_cfg *back = NULL;
        cr_assert_eq(rnnc_spec_read_string(text, strlen(text), "written.json", &back), RNNC_OK,
                     "indent %d: %s\n%s", indent, rnnc_last_error(), text);
        expect_same_tree(t, back, "$");
        /* And writing it again gives the same text. */
        char *again = write_json(back, indent);
        cr_expect_str_eq(again, text);
        free(again);
        free(text);
        rnnc_cfg_destroy(back);
    }
    rnnc_cfg_destroy(t);
}

Test(json_writer, keras_config_fixture_round_trips)
{
    rnnc_cfg *c = NULL;
    ok(rnnc_spec_read_file(RNNC_FIXTURES "/configs/keras3_cos30018_config.json", &c));
    char *pretty = write_json(c, 2);
    /* Python's json.dumps(json.load(f), indent=2), made by extract_configs.sh. */
    cr_expect_str_eq(pretty, slurp(RNNC_FIXTURES "/configs/keras3_cos30018_config.indent2.json"));
    rnnc_cfg *back = NULL;
    ok(rnnc_spec_read_string(pretty, strlen(pretty), "pretty.json", &back));
    expect_same_tree(c, back, "$");
    free(pretty);
    rnnc_cfg_destroy(back);
    rnnc_cfg_destroy(c);
}

/* ---- files ------------------------------------------------------------- */

Test(json_writer, write_file_is_atomic_and_leaves_no_tmp)
{
    char dir[] = "/tmp/rnnc_json_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[128], tmp[140];
    snprintf(path, sizeof path, "%s/model.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* An old file is replaced whole. */
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("old contents that are longer than the new ones ............................", f);
    fclose(f);
    rnnc_cfg *t = rnnc_cfg_map();
    ok(rnnc_cfg_set_int(t, "units", 8));
    ok(rnnc_json_write_file(t, -1, path));
    cr_expect_str_eq(slurp(path), "{\"units\": 8}");
    struct stat st;
    cr_expect_neq(stat(tmp, &st), 0, "%s was left behind", tmp);
    ok(rnnc_json_write_file(t, 2, path));
    cr_expect_str_eq(slurp(path), "{\n  \"units\": 8\n}");

    /* A directory that does not exist: an IO error naming the path. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no/such/dir/model.json", dir);
    cr_expect_eq(rnnc_json_write_file(t, -1, missing), RNNC_E_IO);
    cr_expect(strstr(rnnc_last_error(), missing) != NULL, "%s", rnnc_last_error());
    /* The target is a directory: rename fails, the .tmp is removed. */
    char sub[160], subtmp[170];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(subtmp, sizeof subtmp, "%s.tmp", sub);
    cr_assert_eq(mkdir(sub, 0700), 0);
    cr_expect_eq(rnnc_json_write_file(t, -1, sub), RNNC_E_IO);
    cr_expect(strstr(rnnc_last_error(), "cannot rename") != NULL, "%s", rnnc_last_error());
    cr_expect_neq(stat(subtmp, &st), 0, "%s was left behind", subtmp);
    /* A tree that cannot be written leaves the old file alone. */
    ok(rnnc_cfg_set_string(t, "bad", "\xFF"));
    cr_expect_eq(rnnc_json_write_file(t, -1, path), RNNC_E_ARG);
    cr_expect_str_eq(slurp(path), "{\n  \"units\": 8\n}");
    rnnc_cfg_destroy(t);
    rmdir(sub);
    remove(path);
    rmdir(dir);
}
