/* test_cli_graph.c - the rnnc program on Functional models whose graph is
 * not a chain of layers, against Keras 3.15.1 (tests/fixtures/cli_graph/,
 * made by tests/gen_cli_graph_fixtures.py): a residual model, two outputs,
 * two heads on one GRU, two inputs, an initial state as a model input, a
 * shared layer, branch + Concatenate, Bidirectional inside a graph.
 *
 * - `rnnc predict` on each: every output_<k> within 1e-5 of Keras's
 *   model.predict, no extra output; inputs found by name or as x_<i>,
 *   masks as mask_<name>, mask_<i> or mask; clear one-line errors for
 *   missing, ambiguous or misplaced datasets.
 * - `rnnc inspect` on each: every row of Keras's model.summary() (layer,
 *   output shape, parameters, "Connected to") and the totals, in order.
 * - `rnnc predict --model CHECKPOINT`: a checkpoint written by `rnnc train`
 *   holds the model; with learning rate 0 its outputs are Keras's.
 * - `rnnc evaluate` refuses a model of several outputs instead of scoring
 *   the first alone.
 * - `rnnc generate` with a branched character model: at temperature 1e-3
 *   its text is Keras's greedy continuation. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>

#include "helpers/fixture.h"
#include "helpers/run_program.h"
#include "io/h5_util.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"
#define FIX RNNC_FIXTURES "/cli_graph/"

static char dir[256];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/rnnc_cli_graph_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) { rnnc_test_rm_tree(dir); }

TestSuite(cli_graph, .init = make_dir, .fini = remove_dir, .timeout = 300);

/* A path in the test's folder (4 rotating buffers). */
static const char *tmp(const char *name)
{
    static char p[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

/* Runs build/rnnc in the test's folder with the arguments. */
#define RNNC(...) rnnc_test_run_program(RNNC_BIN, dir, NULL, (const char *const[]){__VA_ARGS__, NULL})

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A failed run: exit 1, one line on stderr holding every fragment, no output file. */
static void expect_failure(rnnc_test_run *r, const char *output, const char *const *frags)
{
    cr_expect_eq(r->code, 1, "exit %d, stderr: %s", r->code, r->err);
    const char *nl = strchr(r->err, '\n');
    cr_expect(nl && !nl[1], "stderr must be one line:\n%s", r->err);
    for (int i = 0; frags[i]; i++)
        cr_expect(strstr(r->err, frags[i]), "stderr lacks \"%s\":\n%s", frags[i], r->err);
    cr_expect(!exists(output), "a failed run left %s", output);
}

/* output_0, output_1, ... of `got` equal those of `want` (Keras's) within
 * tol, and there is nothing more. */
static void expect_outputs_within(const char *got, const char *want, double tol)
{
    rnnc_fixture *g, *w;
    cr_assert_eq(rnnc_fixture_open(got, &g), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_open(want, &w), RNNC_OK, "%s", rnnc_last_error());
    for (int k = 0;; k++) {
        char name[32];
        snprintf(name, sizeof name, "output_%d", k);
        if (!rnnc_fixture_has(w, name)) {
            cr_expect(k > 0 && !rnnc_fixture_has(g, name), "%s: rnnc wrote %s, which Keras's model does not return", got, name);
            break;
        }
        cr_assert(rnnc_fixture_has(g, name), "%s: %s is missing (Keras's model returns it)", got, name);
        rnnc_tensor *a, *b;
        cr_assert_eq(rnnc_fixture_read(g, name, RNNC_F64, &a), RNNC_OK);
        cr_assert_eq(rnnc_fixture_read(w, name, RNNC_F64, &b), RNNC_OK);
        double err = rnnc_fixture_max_err(a, b);
        cr_expect(err <= tol, "%s: %s differs from %s's by %g", got, name, want, err);
        rnnc_tensor_destroy(a);
        rnnc_tensor_destroy(b);
    }
    rnnc_fixture_close(g);
    rnnc_fixture_close(w);
}

/* The model file of a case: its .keras archive, or its .json (weights in
 * <case>.weights.h5). */
static const char *model_of(const char *c, char *buf, size_t cap, bool *json)
{
    snprintf(buf, cap, FIX "%s.keras", c);
    *json = !exists(buf);
    if (*json)
        snprintf(buf, cap, FIX "%s.json", c);
    return buf;
}

static void expect_outputs(const char *got, const char *want) { expect_outputs_within(got, want, 1e-5); }

static void predict_case(const char *c, const char *input, const char *want)
{
    char model[400], in[400], w[400], exp[400];
    bool json;
    model_of(c, model, sizeof model, &json);
    snprintf(in, sizeof in, FIX "%s", input);
    snprintf(w, sizeof w, FIX "%s.weights.h5", c);
    snprintf(exp, sizeof exp, FIX "%s", want);
    const char *out = tmp("out.h5");
    /* Batches of 2 rows over 3 samples: the outputs are gathered across batches. */
    rnnc_test_run r = json ? RNNC("predict", "--model", model, "--weights", w, "--input", in, "--output", out, "--batch-size", "2")
                 : RNNC("predict", "--model", model, "--input", in, "--output", out, "--batch-size", "2");
    cr_assert_eq(r.code, 0, "predict %s: exit %d: %s", c, r.code, r.err);
    cr_expect_str_eq(r.err, "");
    expect_outputs(out, exp);
    rnnc_test_run_free(&r);
}

/* ---- inspect vs Keras's model.summary() ---------------------------------- */

/* The line with box-drawing bars as spaces, runs of spaces as one, trimmed. */
static void squash(const char *line, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    bool space = true;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        bool bar = i + 2 < len && (unsigned char)line[i] == 0xE2 && (unsigned char)line[i + 1] == 0x94 &&
                   ((unsigned char)line[i + 2] == 0x82 || (unsigned char)line[i + 2] == 0x83);
        char ch = bar ? ' ' : line[i];
        if (bar)
            i += 2;
        if (ch == ' ' || ch == '\t') {
            if (!space)
                out[o++] = ' ';
            space = true;
        } else {
            out[o++] = ch;
            space = false;
        }
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

/* Whether a Keras summary line is one to find in rnnc's: the table's header
 * and rows, the model name and the totals (not the box rules). */
static bool keras_content_line(const char *line)
{
    return strncmp(line, "\xE2\x94\x82", 3) == 0 || strncmp(line, "\xE2\x94\x83", 3) == 0 ||
           strncmp(line, "Model:", 6) == 0 || strncmp(line, " Total params", 13) == 0 ||
           strncmp(line, " Trainable params", 17) == 0 || strncmp(line, " Non-trainable params", 21) == 0;
}

static void inspect_case(const char *c)
{
    char model[400], summary[400];
    bool json;
    model_of(c, model, sizeof model, &json);
    snprintf(summary, sizeof summary, FIX "%s.summary.txt", c);
    char *keras = rnnc_test_slurp(summary, NULL);
    cr_assert(keras && keras[0], "cannot read %s", summary);
    rnnc_test_run r = RNNC("inspect", "--no-config", model);
    cr_assert_eq(r.code, 0, "inspect %s: exit %d: %s", c, r.code, r.err);
    /* Every content line of Keras's summary, in order, in rnnc's output. */
    const char *from = r.out;
    int lines = 0;
    for (const char *k = keras; *k;) {
        const char *end = strchr(k, '\n');
        size_t len = end ? (size_t)(end - k) : strlen(k);
        char line[1200], want[1200];
        snprintf(line, sizeof line, "%.*s", (int)len, k);
        k += len + (end ? 1 : 0);
        if (!keras_content_line(line))
            continue;
        squash(line, strlen(line), want, sizeof want);
        lines++;
        const char *found = NULL;
        for (const char *o = from; *o && !found;) {
            const char *oe = strchr(o, '\n');
            size_t ol = oe ? (size_t)(oe - o) : strlen(o);
            char got[1200];
            squash(o, ol, got, sizeof got);
            if (strcmp(got, want) == 0)
                found = o + ol;
            o += ol + (oe ? 1 : 0);
        }
        cr_expect(found, "inspect %s: no line (after the previous match) reads \"%s\" as Keras's summary does:\n%s", c, want,
                  r.out);
        if (found)
            from = found;
    }
    cr_expect_geq(lines, 6, "%s: too few lines in Keras's summary", summary);
    cr_expect(!strstr(r.out, "?"), "inspect %s: an unknown shape:\n%s", c, r.out);
    rnnc_test_run_free(&r);
    free(keras);
}

#define CASE(name)                                                                    \
    Test(cli_graph, predict_##name) { predict_case(#name, #name ".in.h5", #name ".out.h5"); } \
    Test(cli_graph, inspect_##name) { inspect_case(#name); }

CASE(residual)
CASE(two_outputs)
CASE(two_heads)
CASE(two_inputs)
CASE(state_input)
CASE(shared)
CASE(branch_concat)
CASE(bidi)
CASE(bidi_branch)

Test(cli_graph, predict_inputs_by_index_and_masks_by_name_index_or_alone)
{
    /* x_0, x_1 and mask_1 (input b's mask); a, b and mask_b; x and mask. */
    predict_case("two_inputs", "two_inputs.idx.h5", "two_inputs.masked.out.h5");
    predict_case("two_inputs", "two_inputs.masked.h5", "two_inputs.masked.out.h5");
    predict_case("branch_concat", "branch_concat.masked.h5", "branch_concat.masked.out.h5");
}

/* ---- errors --------------------------------------------------------------- */

/* Adds dataset `name` to the HDF5 file at path (created when missing):
 * the fixture file src's dataset `from`, its first `rows` rows when > 0
 * (uint8 for masks, float32 otherwise). */
static void add_dataset(const char *path, const char *name, const char *src, const char *from, int64_t rows)
{
    rnnc_fixture *s;
    rnnc_tensor *t, *v;
    cr_assert_eq(rnnc_fixture_open(src, &s), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_read(s, from, strncmp(name, "mask", 4) ? RNNC_F32 : RNNC_U8, &t), RNNC_OK);
    rnnc_shape shape = t->shape;
    if (rows > 0)
        shape.dim[0] = rows;
    cr_assert_eq(rnnc_tensor_view(t, 0, &shape, &v), RNNC_OK);
    hid_t f = exists(path) ? H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT) : H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    cr_assert_eq(rnnc_h5_write_tensor(f, name, v, path), RNNC_OK, "%s", rnnc_last_error());
    H5Fclose(f);
    rnnc_tensor_destroy(v);
    rnnc_tensor_destroy(t);
    rnnc_fixture_close(s);
}

/* A new HDF5 file of datasets names[i] <- src's from[i]. */
static void write_input(const char *path, const char *src, const char *const *names, const char *const *from)
{
    remove(path);
    for (int i = 0; names[i]; i++)
        add_dataset(path, names[i], src, from[i], 0);
}

static void predict_fails(const char *input, const char *const *frags)
{
    const char *out = tmp("never.h5");
    rnnc_test_run r = RNNC("predict", "--model", FIX "two_inputs.keras", "--input", input, "--output", out);
    expect_failure(&r, out, frags);
    rnnc_test_run_free(&r);
}

Test(cli_graph, predict_names_missing_ambiguous_and_misplaced_inputs)
{
    const char *src = FIX "two_inputs.idx.h5";
    /* Input b is missing: what is expected, what the file holds, what the model takes. */
    write_input(tmp("a_only.h5"), src, (const char *const[]){"a", "y", NULL}, (const char *const[]){"x_0", "x_0"});
    predict_fails(tmp("a_only.h5"), (const char *const[]){"model input 1 'b'", "'/b' or '/x_1'", "/a, /y",
                                                          "a (None, 5, 3), b (None, 4, 2)", NULL});
    /* The old single-input name does not stand for two inputs. */
    write_input(tmp("x_only.h5"), src, (const char *const[]){"x", NULL}, (const char *const[]){"x_0"});
    predict_fails(tmp("x_only.h5"), (const char *const[]){"model input 0 'a'", "'/a' or '/x_0'", NULL});
    /* Two datasets for one input. */
    write_input(tmp("both.h5"), src, (const char *const[]){"a", "b", "x_0", NULL},
                (const char *const[]){"x_0", "x_1", "x_0"});
    predict_fails(tmp("both.h5"), (const char *const[]){"'/a' and '/x_0'", "model input 0", NULL});
    /* A mask that does not say which input it masks. */
    write_input(tmp("mask.h5"), src, (const char *const[]){"a", "b", "mask", NULL},
                (const char *const[]){"x_0", "x_1", "mask_1"});
    predict_fails(tmp("mask.h5"), (const char *const[]){"'/mask'", "mask_<input name> or mask_<i>", NULL});
    /* A Functional model takes initial states as model inputs. */
    write_input(tmp("state.h5"), src, (const char *const[]){"a", "b", "initial_state", NULL},
                (const char *const[]){"x_0", "x_1", "x_1"});
    predict_fails(tmp("state.h5"), (const char *const[]){"'/initial_state'", "Functional", "model inputs", NULL});
    /* Inputs of different sample counts, and of the wrong shape. */
    write_input(tmp("rows.h5"), src, (const char *const[]){"a", NULL}, (const char *const[]){"x_0"});
    add_dataset(tmp("rows.h5"), "b", src, "x_1", 2);
    predict_fails(tmp("rows.h5"), (const char *const[]){"'/b' has 2 samples", "'/a' has 3", NULL});
    write_input(tmp("shape.h5"), src, (const char *const[]){"a", "b", NULL}, (const char *const[]){"x_0", "x_0"});
    predict_fails(tmp("shape.h5"), (const char *const[]){"'/b' has shape (3, 5, 3)", "input 1 ('b')", "(None, 4, 2)", NULL});
}

/* ---- checkpoints ---------------------------------------------------------- */

/* Training data: x from a case's inputs, y its Keras outputs. */
static void write_xy(const char *path, const char *c)
{
    char in[400], out[400];
    snprintf(in, sizeof in, FIX "%s.in.h5", c);
    snprintf(out, sizeof out, FIX "%s.out.h5", c);
    remove(path);
    add_dataset(path, "x", in, "x", 0);
    add_dataset(path, "y", out, "output_0", 0);
}

/* Writes the spec text to path and trains it: checkpoint `ckpt` (a path in
 * the test's folder) must then exist; copied into ckpt_path. */
static void train(const char *path, const char *text, const char *ckpt, char *ckpt_path, size_t cap)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    rnnc_test_run r = RNNC("train", path);
    cr_assert_eq(r.code, 0, "train %s: %s%s", path, r.out, r.err);
    rnnc_test_run_free(&r);
    snprintf(ckpt_path, cap, "%s", tmp(ckpt));
    cr_assert(exists(ckpt_path), "no checkpoint %s", ckpt_path);
}

Test(cli_graph, predict_from_a_checkpoint_of_a_functional_model)
{
    /* Training data: Keras's inputs and outputs of the residual model; with
     * learning rate 0 the checkpoint holds Keras's weights unchanged. */
    write_xy(tmp("train.h5"), "residual");
    char spec[2000];
    snprintf(spec, sizeof spec,
             "model: " FIX "residual.keras\n"
             "compile: {optimizer: {class_name: SGD, config: {learning_rate: 0.0}}, loss: mse}\n"
             "fit: {epochs: 1, batch_size: 3, shuffle: false, verbose: 0}\n"
             "data: {path: %s}\n"
             "checkpoint: {directory: %s, every: 1, keep: 1}\n",
             tmp("train.h5"), tmp("ckpt"));
    char ckpt[600];
    train(tmp("spec.yaml"), spec, "ckpt/ckpt-000001.weights.h5", ckpt, sizeof ckpt);

    rnnc_test_run r = RNNC("predict", "--model", ckpt, "--input", FIX "residual.in.h5", "--output", tmp("from_ckpt.h5"));
    cr_assert_eq(r.code, 0, "predict --model CHECKPOINT: %s", r.err);
    expect_outputs(tmp("from_ckpt.h5"), FIX "residual.out.h5");
    rnnc_test_run_free(&r);
    r = RNNC("predict", "--model", tmp("spec.yaml"), "--weights", ckpt, "--input", FIX "residual.in.h5", "--output",
             tmp("from_spec.h5"));
    cr_assert_eq(r.code, 0, "predict --model SPEC --weights CHECKPOINT: %s", r.err);
    expect_outputs(tmp("from_spec.h5"), FIX "residual.out.h5");
    rnnc_test_run_free(&r);
    /* inspect of the checkpoint shows the Functional model. */
    r = RNNC("inspect", "--no-config", ckpt);
    cr_expect_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "x[0][0], gru[0][0]"), "%s", r.out);
    rnnc_test_run_free(&r);
}

Test(cli_graph, predict_from_a_checkpoint_of_a_trained_sequential_model)
{
    char spec[2000];
    snprintf(spec, sizeof spec,
             "model:\n"
             "  class_name: Sequential\n"
             "  config:\n"
             "    name: tiny\n"
             "    layers:\n"
             "      - {class_name: InputLayer, config: {batch_shape: [null, 6, 2]}}\n"
             "      - {class_name: GRU, config: {name: gru, units: 4, return_sequences: true}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 1}}\n"
             "compile: {optimizer: {class_name: Adam, config: {learning_rate: 0.05}}, loss: mse}\n"
             "fit: {epochs: 2, batch_size: 8, seed: 3, verbose: 0}\n"
             "data: {task: adding, timesteps: 6, samples: 32, validation_samples: 0, test_samples: 8, seed: 5}\n"
             "checkpoint: {directory: %s, every: 1, keep: 1}\n",
             tmp("ckpt"));
    char ckpt[600];
    train(tmp("seq.yaml"), spec, "ckpt/ckpt-000002.weights.h5", ckpt, sizeof ckpt);
    /* Seeded random inputs (4, 6, 2). */
    rnnc_shape s = RNNC_SHAPE(4, 6, 2);
    rnnc_tensor *x;
    cr_assert_eq(rnnc_fixture_uniform(RNNC_F32, &s, 11, -1, 1, &x), RNNC_OK);
    hid_t f = H5Fcreate(tmp("in.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_eq(rnnc_h5_write_tensor(f, "x", x, "in.h5"), RNNC_OK);
    H5Fclose(f);
    rnnc_tensor_destroy(x);
    rnnc_test_run r = RNNC("predict", "--model", ckpt, "--input", tmp("in.h5"), "--output", tmp("a.h5"));
    cr_assert_eq(r.code, 0, "predict --model CHECKPOINT: %s", r.err);
    rnnc_test_run_free(&r);
    r = RNNC("predict", "--model", tmp("seq.yaml"), "--weights", ckpt, "--input", tmp("in.h5"), "--output", tmp("b.h5"));
    cr_assert_eq(r.code, 0, "%s", r.err);
    rnnc_test_run_free(&r);
    /* The same model and weights either way, to the bit (the spec's path is
     * checked against Keras elsewhere). */
    expect_outputs_within(tmp("a.h5"), tmp("b.h5"), 0.0);
}

Test(cli_graph, evaluate_refuses_a_model_of_two_outputs)
{
    /* Targets that fit the first output: scoring it alone would "work". */
    write_xy(tmp("data.h5"), "two_heads");
    char spec[1200];
    snprintf(spec, sizeof spec,
             "model: " FIX "two_heads.json\n"
             "compile: {optimizer: sgd, loss: mse}\n"
             "data: {path: %s, test: %s}\n",
             tmp("data.h5"), tmp("data.h5"));
    FILE *f = fopen(tmp("eval.yaml"), "w");
    cr_assert_not_null(f);
    fputs(spec, f);
    fclose(f);
    rnnc_test_run r = RNNC("evaluate", tmp("eval.yaml"), "--weights", FIX "two_heads.weights.h5");
    expect_failure(&r, tmp("none"), (const char *const[]){"'two_heads'", "2 outputs", "rnnc predict", NULL});
    rnnc_test_run_free(&r);
}

Test(cli_graph, generate_runs_a_functional_model_through_its_graph)
{
    /* A character model with a branch (Embedding -> GRU -> Dense, plus Dense
     * on the embedding, added): at temperature 1e-3 generate picks each
     * step's top character, which Keras computed (greedy, 16-id window). */
    rnnc_fixture *g;
    rnnc_tensor *prime_ids, *next_ids;
    cr_assert_eq(rnnc_fixture_open(FIX "gen_branch.generate.h5", &g), RNNC_OK);
    cr_assert_eq(rnnc_fixture_read(g, "prime_ids", RNNC_I32, &prime_ids), RNNC_OK);
    cr_assert_eq(rnnc_fixture_read(g, "next_ids", RNNC_I32, &next_ids), RNNC_OK);
    rnnc_fixture_close(g);
    /* The chars task's ids: 0 is a newline, 1..95 are ' '..'~'. */
    char prime[64] = "", want[128] = "";
    for (size_t i = 0; i < prime_ids->numel; i++) {
        int id = ((const int32_t *)prime_ids->data)[i];
        prime[i] = id == 0 ? '\n' : (char)(id + 31);
    }
    snprintf(want, sizeof want, "%s", prime);
    for (size_t i = 0; i < next_ids->numel; i++) {
        int id = ((const int32_t *)next_ids->data)[i];
        want[strlen(want)] = id == 0 ? '\n' : (char)(id + 31);
    }
    want[strlen(want)] = '\n';
    char length[16];
    snprintf(length, sizeof length, "%zu", next_ids->numel);
    rnnc_tensor_destroy(prime_ids);
    rnnc_tensor_destroy(next_ids);
    char spec[1200];
    snprintf(spec, sizeof spec,
             "model: " FIX "gen_branch.keras\n"
             "data: {task: chars, text: " FIX "residual.summary.txt, timesteps: 16, samples: 16,"
             " validation_samples: 4, test_samples: 4}\n");
    FILE *f = fopen(tmp("gen.yaml"), "w");
    cr_assert_not_null(f);
    fputs(spec, f);
    fclose(f);
    rnnc_test_run r = RNNC("generate", tmp("gen.yaml"), "--weights", FIX "gen_branch.keras", "--prime", prime, "--length",
                           length, "--temperature", "0.001", "--seed", "1");
    cr_assert_eq(r.code, 0, "generate: exit %d: %s", r.code, r.err);
    cr_expect_str_eq(r.out, want, "generate's text is not Keras's greedy continuation");
    rnnc_test_run_free(&r);
}
