/* test_cli.c - the rnnc program itself, driven with fork/exec: exit codes,
 * messages and files written. Reduced-size runs of every built-in task,
 * resume from a checkpoint, predict on every input form (mask, initial
 * state, single-layer model), inspect of every file kind, and bad input:
 * unknown commands and options, missing arguments and files, specs with
 * errors (file:line:col), and no partial output files. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "framework/model.h"
#include "framework/random.h"
#include "helpers/fixture.h"
#include "io/h5_util.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "io/weights_h5.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"
#define EXAMPLES RNNC_SOURCE_DIR "/examples"

static char tmpdir[256];

typedef struct run_result {
    int code;  /* exit code, or 128 + signal */
    char *out; /* stdout */
    char *err; /* stderr */
} run_result;

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnc_cli_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        char p[1024];
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", path, e->d_name);
                rm_tree(p);
            }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void remove_tmpdir(void) { rm_tree(tmpdir); }

TestSuite(cli, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 600);

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    return b;
}

/* Runs build/rnnc with the given arguments (NULL-terminated), in `cwd`
 * (NULL: the temporary folder). */
static run_result run_in(const char *cwd, const char *const *args)
{
    char outp[400], errp[400];
    snprintf(outp, sizeof outp, "%s/.stdout", tmpdir);
    snprintf(errp, sizeof errp, "%s/.stderr", tmpdir);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(e, 2);
        if (chdir(cwd ? cwd : tmpdir) != 0)
            _exit(126);
        const char *argv[64] = {RNNC_BIN};
        int n = 1;
        for (int i = 0; args[i] && n < 63; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(RNNC_BIN, (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    run_result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(outp);
    r.err = slurp(errp);
    unlink(outp);
    unlink(errp);
    return r;
}

#define RUN(...) run_in(NULL, (const char *const[]){__VA_ARGS__, NULL})

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A usage or run error: the exit code, exactly one line on stderr holding
 * every given fragment, and no crash. */
static void expect_error(run_result *r, int code, ...)
{
    cr_expect_eq(r->code, code, "exit code %d, expected %d; stderr: %s", r->code, code, r->err);
    cr_expect_eq(count_lines(r->err), 1, "stderr must be one line, got:\n%s", r->err);
    va_list ap;
    va_start(ap, code);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        cr_expect(strstr(r->err, frag) != NULL, "stderr lacks '%s':\n%s", frag, r->err);
    va_end(ap);
}

static const char *tmp_path(const char *name)
{
    static char p[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int files_in(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- the command line ---- */

Test(cli, no_command_unknown_command_and_help)
{
    run_result r = RUN("--help");
    cr_expect_eq(r.code, 0);
    for (const char *c = "train\0evaluate\0predict\0inspect\0generate\0bench\0"; *c; c += strlen(c) + 1)
        cr_expect(strstr(r.out, c) != NULL, "help lacks %s", c);
    run_free(&r);

    r = run_in(NULL, (const char *const[]){NULL});
    expect_error(&r, 2, "missing command", "--help", NULL);
    run_free(&r);

    r = RUN("trian");
    expect_error(&r, 2, "unknown command 'trian'", "did you mean 'train'", NULL);
    run_free(&r);

    r = RUN("frobnicate");
    expect_error(&r, 2, "unknown command 'frobnicate'", NULL);
    run_free(&r);

    r = RUN("--version");
    cr_expect_eq(r.code, 0);
    cr_expect(strstr(r.out, "rnnc") != NULL);
    run_free(&r);
}

Test(cli, every_command_has_help)
{
    const char *cmds[] = {"train", "evaluate", "predict", "inspect", "generate", "bench"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        run_result r = RUN(cmds[i], "--help");
        cr_expect_eq(r.code, 0, "%s --help: exit %d", cmds[i], r.code);
        cr_expect(strstr(r.out, "usage: rnnc ") != NULL, "%s --help:\n%s", cmds[i], r.out);
        cr_expect(strstr(r.out, cmds[i]) != NULL);
        cr_expect_str_eq(r.err, "");
        run_free(&r);
        r = RUN("help", cmds[i]);
        cr_expect_eq(r.code, 0);
        cr_expect(strstr(r.out, "usage: rnnc ") != NULL);
        run_free(&r);
    }
}

Test(cli, unknown_options_and_missing_arguments)
{
    run_result r = RUN("train", EXAMPLES "/adding.yaml", "--epoch", "3");
    expect_error(&r, 2, "unknown option '--epoch'", "did you mean '--epochs'", NULL);
    run_free(&r);

    r = RUN("train");
    expect_error(&r, 2, "missing argument", "SPEC.yaml", NULL);
    run_free(&r);

    r = RUN("train", EXAMPLES "/adding.yaml", "--epochs");
    expect_error(&r, 2, "'--epochs' needs a value", NULL);
    run_free(&r);

    r = RUN("train", EXAMPLES "/adding.yaml", "--epochs", "three");
    expect_error(&r, 2, "--epochs must be an integer", "'three'", NULL);
    run_free(&r);

    r = RUN("train", EXAMPLES "/adding.yaml", "--epochs", "0");
    expect_error(&r, 2, "--epochs", NULL);
    run_free(&r);

    r = RUN("train", EXAMPLES "/adding.yaml", EXAMPLES "/copy.yaml");
    expect_error(&r, 2, "unexpected argument", NULL);
    run_free(&r);

    r = RUN("predict", "--model", EXAMPLES "/adding.yaml");
    expect_error(&r, 2, "missing --input", NULL);
    run_free(&r);

    r = RUN("inspect");
    expect_error(&r, 2, "missing argument", NULL);
    run_free(&r);

    r = RUN("evaluate", EXAMPLES "/adding.yaml");
    expect_error(&r, 2, "--weights", NULL);
    run_free(&r);

    r = RUN("generate", EXAMPLES "/chars.yaml", "--temperature", "-1", "--weights", "x");
    expect_error(&r, 2, "--temperature", NULL);
    run_free(&r);
}

Test(cli, missing_files_are_named)
{
    run_result r = RUN("train", "no/such/spec.yaml");
    expect_error(&r, 1, "no/such/spec.yaml", NULL);
    run_free(&r);

    r = RUN("inspect", "nothing.h5");
    expect_error(&r, 1, "nothing.h5", "does not exist", NULL);
    run_free(&r);

    r = RUN("inspect", tmpdir);
    expect_error(&r, 1, "is a directory", NULL);
    run_free(&r);

    r = RUN("predict", "--model", EXAMPLES "/adding.yaml", "--weights", "w.weights.h5", "--input", "in.h5",
            "--output", "out.h5");
    expect_error(&r, 1, "w.weights.h5", NULL);
    cr_expect_not(exists(tmp_path("out.h5")));
    run_free(&r);

    r = RUN("train", EXAMPLES "/adding.yaml", "--weights", "init.weights.h5");
    expect_error(&r, 1, "init.weights.h5", NULL);
    run_free(&r);

    r = RUN("train", EXAMPLES "/adding.yaml", "--resume", "ckpt.weights.h5");
    expect_error(&r, 1, "ckpt.weights.h5", NULL);
    run_free(&r);
}

/* ---- specs with errors ---- */

static const char *good_spec =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 8, 2]}}\n"
    "      - {class_name: GRU, config: {units: 4}}\n"
    "      - {class_name: Dense, config: {units: 1}}\n"
    "compile: {optimizer: adam, loss: mse}\n"
    "fit: {epochs: 1, batch_size: 16}\n"
    "data: {task: adding, timesteps: 8, samples: 64, validation_samples: 16, test_samples: 16}\n";

/* Writes good_spec with `from` replaced by `to` and runs `train` on it. */
static run_result train_variant(const char *from, const char *to)
{
    char text[4096];
    const char *at = strstr(good_spec, from);
    cr_assert_not_null(at, "'%s' not in the spec", from);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good_spec), good_spec, to, at + strlen(from));
    write_file(tmp_path("bad.yaml"), text);
    return RUN("train", "bad.yaml", "--save-weights", "out.weights.h5");
}

Test(cli, spec_errors_name_file_line_column_and_suggest)
{
    /* A misspelt fit key: line 9, column 22. */
    run_result r = train_variant("batch_size: 16", "batch_sise: 16");
    expect_error(&r, 1, "bad.yaml:9:", "batch_sise", "did you mean 'batch_size'", NULL);
    run_free(&r);

    r = train_variant("fit:", "fitt:");
    expect_error(&r, 1, "bad.yaml:9:", "fitt", "did you mean 'fit'", NULL);
    run_free(&r);

    r = train_variant("timesteps: 8", "timestep: 8");
    expect_error(&r, 1, "bad.yaml:10:", "timestep", "did you mean 'timesteps'", NULL);
    run_free(&r);

    r = train_variant("task: adding", "task: addition");
    expect_error(&r, 1, "unknown task 'addition'", "bad.yaml:10:", NULL);
    run_free(&r);

    r = train_variant("units: 4", "units: 4, activaton: tanh");
    expect_error(&r, 1, "activaton", "bad.yaml:6:", "activation", NULL);
    run_free(&r);

    r = train_variant("units: 4", "unitz: 4");
    expect_error(&r, 1, "units", NULL);
    run_free(&r);

    r = train_variant("class_name: GRU", "class_name: GRUU");
    expect_error(&r, 1, "GRUU", "GRU", NULL);
    run_free(&r);

    r = train_variant("loss: mse", "loss: msee");
    expect_error(&r, 1, "msee", NULL);
    run_free(&r);

    r = train_variant("epochs: 1", "epochs: -2");
    expect_error(&r, 1, "epochs", "bad.yaml:9:", NULL);
    run_free(&r);

    r = train_variant("{epochs: 1, batch_size: 16}", "{epochs: 1, batch_size: [16");
    expect_error(&r, 1, "bad.yaml:", NULL);
    run_free(&r);

    r = train_variant("compile: {optimizer: adam, loss: mse}", "compile: {optimizer: adam, loss: mse, metrix: [mae]}");
    expect_error(&r, 1, "metrix", "bad.yaml:8:", "did you mean 'metrics'", NULL);
    run_free(&r);

    /* Nothing was written by any of these. */
    cr_expect_not(exists(tmp_path("out.weights.h5")));
}

Test(cli, data_that_does_not_match_the_model)
{
    run_result r = train_variant("timesteps: 8", "timesteps: 9");
    expect_error(&r, 1, "(64, 9, 2)", "(None, 8, 2)", NULL);
    cr_expect_not(exists(tmp_path("out.weights.h5")));
    run_free(&r);

    r = train_variant("data: {task: adding, timesteps: 8, samples: 64, validation_samples: 16, test_samples: 16}",
                      "data: {path: missing.h5}");
    expect_error(&r, 1, "missing.h5", NULL);
    run_free(&r);
}

/* ---- inspect ---- */

Test(cli, inspect_spec_shows_summary_config_and_settings)
{
    run_result r = RUN("inspect", EXAMPLES "/adding.yaml");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "Model: \"adding\"") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "gru (GRU)") != NULL);
    cr_expect(strstr(r.out, "(None, 32)") != NULL);
    /* GRU(32) on 2 features: 3*32*(2+32) + 2*3*32 = 3456; Dense: 33. */
    cr_expect(strstr(r.out, "3,456") != NULL);
    cr_expect(strstr(r.out, "Total params: 3,489") != NULL);
    cr_expect(strstr(r.out, "\"recurrent_activation\": \"sigmoid\"") != NULL, "defaults are filled in");
    cr_expect(strstr(r.out, "\"beta_1\": 0.9") != NULL, "the optimizer is resolved");
    cr_expect(strstr(r.out, "built-in task 'adding'") != NULL);
    run_free(&r);

    write_file(tmp_path("gru.json"),
               "{\"class_name\": \"GRU\", \"config\": {\"units\": 3, \"return_state\": true}, "
               "\"build_config\": {\"input_shape\": [null, 6, 2]}}");
    r = RUN("inspect", "gru.json");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "[(None, 3), (None, 3)]") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "Total params: 63") != NULL, "%s", r.out); /* 2*9 + 3*9 + 2*9 */
    run_free(&r);

    write_file(tmp_path("junk.txt"), "::: not: [valid");
    r = RUN("inspect", "junk.txt");
    expect_error(&r, 1, "junk.txt", NULL);
    run_free(&r);
}

/* ---- predict ---- */

static rnnc_model *model_from_yaml(const char *yaml)
{
    rnnc_cfg *c;
    rnnc_model *m;
    cr_assert_eq(rnnc_spec_read_string(yaml, strlen(yaml), "test", &c), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_model_from_config(c, NULL, &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(c);
    return m;
}

static rnnc_tensor *random_tensor(rnnc_dtype dt, rnnc_shape s, uint64_t seed)
{
    rnnc_tensor *t;
    rnnc_rng r;
    cr_assert_eq(rnnc_tensor_create(dt, &s, &t), RNNC_OK);
    double *v = malloc(t->numel * sizeof *v);
    rnnc_rng_init(&r, seed);
    rnnc_rng_normal(&r, v, t->numel);
    for (size_t i = 0; i < t->numel; i++)
        rnnc_tensor_set(t, i, v[i]);
    free(v);
    return t;
}

static void write_h5(const char *path, const char *const *names, rnnc_tensor *const *ts, int n)
{
    rnnc_h5_writer w;
    cr_assert_eq(rnnc_h5_writer_begin(path, &w), RNNC_OK, "%s", rnnc_last_error());
    for (int i = 0; i < n; i++)
        cr_assert_eq(rnnc_h5_write_tensor(w.file, names[i], ts[i], path), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_h5_writer_commit(&w), RNNC_OK, "%s", rnnc_last_error());
}

static rnnc_tensor *read_h5(const char *path, const char *name)
{
    rnnc_fixture *f;
    rnnc_tensor *t;
    cr_assert_eq(rnnc_fixture_open(path, &f), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_read(f, name, RNNC_F32, &t), RNNC_OK, "%s: %s", name, rnnc_last_error());
    rnnc_fixture_close(f);
    return t;
}

/* The model's first layer called directly on all rows (the reference for
 * predict): outputs cloned into want[], caller frees. */
static int call_direct(rnnc_model *m, rnnc_tensor *x, const rnnc_tensor *mask, rnnc_tensor *h0,
                       rnnc_tensor **want)
{
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_ctx_set_grad_enabled(cx, false);
    rnnc_call_args a = {.n_inputs = h0 ? 2 : 1, .inputs = {x, h0}, .mask = mask, .training = false};
    rnnc_call_result res;
    cr_assert_eq(rnnc_layer_call(m->layers[0], cx, &a, &res), RNNC_OK, "%s", rnnc_last_error());
    for (int k = 0; k < res.n_outputs; k++)
        cr_assert_eq(rnnc_tensor_clone(res.outputs[k], &want[k]), RNNC_OK);
    rnnc_ctx_destroy(cx);
    return res.n_outputs;
}

static void expect_same(const rnnc_tensor *got, const rnnc_tensor *want, double tol, const char *what)
{
    cr_assert(rnnc_shape_eq(&got->shape, &want->shape), "%s: shapes differ", what);
    for (size_t i = 0; i < want->numel; i++)
        cr_assert_float_eq(rnnc_tensor_get(got, i), rnnc_tensor_get(want, i), tol, "%s[%zu]", what, i);
}

Test(cli, predict_single_layer_with_mask_and_initial_state)
{
    /* A GRU alone, with both outputs; its weights saved as a one-layer
     * model, so the file holds layers/gru/cell/vars/0..2. */
    const char *cfg = "{class_name: GRU, config: {name: g, units: 3, return_sequences: true, return_state: true}}";
    write_file(tmp_path("gru.yaml"), cfg);
    rnnc_set_random_seed(5);
    rnnc_model *m = model_from_yaml(cfg);
    rnnc_shape in = RNNC_SHAPE(-1, 6, 2);
    cr_assert_eq(rnnc_model_build(m, &in), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_weights_save(m, tmp_path("gru.weights.h5"), NULL, 0, NULL), RNNC_OK, "%s", rnnc_last_error());

    rnnc_tensor *x = random_tensor(RNNC_F32, RNNC_SHAPE(5, 6, 2), 11);
    rnnc_tensor *h0 = random_tensor(RNNC_F32, RNNC_SHAPE(5, 3), 12);
    rnnc_tensor *mask;
    rnnc_shape ms = RNNC_SHAPE(5, 6);
    cr_assert_eq(rnnc_tensor_create(RNNC_U8, &ms, &mask), RNNC_OK);
    for (int b = 0; b < 5; b++)
        for (int t = 0; t < 6; t++)
            ((uint8_t *)mask->data)[b * 6 + t] = t < 6 - b; /* row b: 6-b valid steps */
    const char *names[] = {"x", "mask", "initial_state"};
    rnnc_tensor *ts[] = {x, mask, h0};
    write_h5(tmp_path("in.h5"), names, ts, 3);

    run_result r = RUN("predict", "--model", "gru.yaml", "--weights", "gru.weights.h5", "--input", "in.h5",
                       "--output", "out.h5", "--batch-size", "2");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "output_0 (5, 6, 3), output_1 (5, 3)") != NULL, "%s", r.out);
    run_free(&r);

    /* The same computation in this process. */
    rnnc_tensor *want[RNNC_MAX_IO];
    cr_assert_eq(call_direct(m, x, mask, h0, want), 2);
    rnnc_tensor *o0 = read_h5(tmp_path("out.h5"), "output_0"), *o1 = read_h5(tmp_path("out.h5"), "output_1");
    expect_same(o0, want[0], 1e-6, "sequence output");
    expect_same(o1, want[1], 1e-6, "final state");
    /* Row 4 has 2 valid steps: its final state is its output at step 1. */
    for (int u = 0; u < 3; u++)
        cr_expect_float_eq(rnnc_tensor_get(o1, 4 * 3 + u), rnnc_tensor_get(o0, (4 * 6 + 1) * 3 + u), 1e-7);
    /* The initial state matters (a control for the comparison above). */
    rnnc_tensor *nostate[RNNC_MAX_IO];
    cr_assert_eq(call_direct(m, x, mask, NULL, nostate), 2);
    cr_expect_gt(fabs(rnnc_tensor_get(nostate[1], 0) - rnnc_tensor_get(o1, 0)), 1e-4);

    /* A mask of the wrong shape: clear error, no output file. */
    rnnc_tensor *badmask;
    rnnc_shape bs = RNNC_SHAPE(5, 4);
    cr_assert_eq(rnnc_tensor_create(RNNC_U8, &bs, &badmask), RNNC_OK);
    rnnc_tensor *ts2[] = {x, badmask};
    write_h5(tmp_path("bad_in.h5"), names, ts2, 2);
    r = RUN("predict", "--model", "gru.yaml", "--weights", "gru.weights.h5", "--input", "bad_in.h5", "--output",
            "bad_out.h5");
    expect_error(&r, 1, "mask", "(5, 4)", NULL);
    cr_expect_not(exists(tmp_path("bad_out.h5")));
    run_free(&r);

    /* Weights of another shape: the dataset and both shapes are named. */
    write_file(tmp_path("gru4.yaml"), "{class_name: GRU, config: {name: g, units: 4}}");
    r = RUN("predict", "--model", "gru4.yaml", "--weights", "gru.weights.h5", "--input", "in.h5", "--output",
            "bad_out.h5");
    cr_expect_eq(r.code, 1, "%s", r.err);
    cr_expect(strstr(r.err, "/layers/gru/cell/vars/0") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, "(2, 9)") != NULL && strstr(r.err, "(2, 12)") != NULL, "%s", r.err);
    cr_expect_not(exists(tmp_path("bad_out.h5")));
    run_free(&r);

    /* A config without weights is refused. */
    r = RUN("predict", "--model", "gru.yaml", "--input", "in.h5", "--output", "bad_out.h5");
    expect_error(&r, 2, "--weights", NULL);
    run_free(&r);

    /* An existing output survives a failed run untouched. */
    write_file(tmp_path("keep.h5"), "previous contents");
    r = RUN("predict", "--model", "gru.yaml", "--weights", "gru.weights.h5", "--input", "bad_in.h5", "--output",
            "keep.h5");
    cr_expect_eq(r.code, 1);
    char *kept = slurp(tmp_path("keep.h5"));
    cr_expect_str_eq(kept, "previous contents");
    free(kept);
    run_free(&r);
    /* gru.yaml gru4.yaml gru.weights.h5 in.h5 bad_in.h5 out.h5 keep.h5, nothing else. */
    cr_expect_eq(files_in(tmpdir), 7, "a temporary file was left behind");

    for (int k = 0; k < 2; k++) {
        rnnc_tensor_destroy(want[k]);
        rnnc_tensor_destroy(nostate[k]);
    }
    rnnc_tensor_destroy(o0);
    rnnc_tensor_destroy(o1);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(h0);
    rnnc_tensor_destroy(mask);
    rnnc_tensor_destroy(badmask);
    rnnc_model_destroy(m);
}

/* ---- training: every built-in task, reduced ---- */

/* An example spec with its checkpoint directory moved into the temporary
 * folder and `epochs` (if > 0) / data sizes replaced; written to name. */
static void reduced_spec(const char *example, const char *name, int epochs, int samples)
{
    char src[600], line[1024], out[16384] = "";
    snprintf(src, sizeof src, EXAMPLES "/%s.yaml", example);
    FILE *f = fopen(src, "r");
    cr_assert_not_null(f, "%s", src);
    while (fgets(line, sizeof line, f)) {
        char repl[1100];
        if (strncmp(line, "  directory:", 12) == 0)
            snprintf(repl, sizeof repl, "  directory: ckpt_%s\n", example);
        else if (epochs > 0 && strncmp(line, "  epochs:", 9) == 0)
            snprintf(repl, sizeof repl, "  epochs: %d\n", epochs);
        else if (samples > 0 && strncmp(line, "  samples:", 10) == 0)
            snprintf(repl, sizeof repl, "  samples: %d\n", samples);
        else if (samples > 0 && (strncmp(line, "  validation_samples:", 21) == 0 || strncmp(line, "  test_samples:", 15) == 0))
            snprintf(repl, sizeof repl, "%.*s %d\n", (int)(strchr(line, ':') - line + 1), line, samples / 4);
        else
            snprintf(repl, sizeof repl, "%s", line);
        strncat(out, repl, sizeof out - strlen(out) - 1);
    }
    fclose(f);
    write_file(tmp_path(name), out);
}

/* The value after "<key> " on the "Test (" line of train's report. */
static double test_score(const char *out, const char *key)
{
    const char *line = strstr(out, "Test (");
    cr_assert_not_null(line, "no Test line in:\n%s", out);
    char pat[128];
    snprintf(pat, sizeof pat, " %s ", key);
    const char *at = strstr(line, pat);
    const char *eol = strchr(line, '\n');
    cr_assert(at && (!eol || at < eol), "no '%s' on the Test line:\n%s", key, line);
    return atof(at + strlen(pat));
}

/* Trains a reduced example and checks the report, files and the score. */
static void train_task(const char *task, int epochs, const char *metric, double bound, bool below)
{
    char spec[64], weights[64], ckpt[700];
    snprintf(spec, sizeof spec, "%s.yaml", task);
    snprintf(weights, sizeof weights, "%s.weights.h5", task);
    reduced_spec(task, spec, epochs, 0);
    run_result r = RUN("train", spec, "--save-weights", weights);
    cr_assert_eq(r.code, 0, "train %s failed: %s\n%s", task, r.err, r.out);
    char want[64];
    snprintf(want, sizeof want, "Epoch %d/%d", epochs, epochs);
    cr_expect(strstr(r.out, want) != NULL, "%s: no progress display:\n%s", task, r.out);
    cr_expect(strstr(r.out, "time steps/s") != NULL, "%s: no summary:\n%s", task, r.out);
    cr_expect(strstr(r.out, "Reference, ") != NULL);
    cr_expect(strstr(r.out, "Predictions on test samples:") != NULL, "%s:\n%s", task, r.out);
    cr_expect(strstr(r.out, "Saved weights: ") != NULL);
    double v = test_score(r.out, metric);
    if (below)
        cr_expect_lt(v, bound, "%s: test %s %g, expected below %g", task, metric, v, bound);
    else
        cr_expect_gt(v, bound, "%s: test %s %g, expected above %g", task, metric, v, bound);
    cr_expect(exists(tmp_path(weights)));
    snprintf(ckpt, sizeof ckpt, "%s/ckpt_%s/ckpt-%06d.weights.h5", tmpdir, task, epochs);
    cr_expect(exists(ckpt), "no checkpoint %s", ckpt);
    run_free(&r);

    /* evaluate reproduces the test score from the saved weights. */
    r = RUN("evaluate", spec, "--weights", weights);
    cr_assert_eq(r.code, 0, "evaluate %s: %s", task, r.err);
    cr_expect(strstr(r.out, "on test data") != NULL, "%s", r.out);
    run_free(&r);
}

Test(cli, task_adding_learns)
{
    /* Predicting the mean scores 0.167. */
    train_task("adding", 2, "loss", 0.03, true);
}

Test(cli, task_copy_learns)
{
    /* Guessing scores 0.125 on the recalled symbols. */
    train_task("copy", 2, "sparse_categorical_accuracy", 0.6, false);
}

Test(cli, task_sine_learns)
{
    /* Persistence scores about 0.56. */
    train_task("sine", 3, "loss", 0.2, true);
}

Test(cli, task_varlen_learns)
{
    /* The most frequent class is about 0.35. */
    train_task("varlen", 3, "sparse_categorical_accuracy", 0.8, false);
}

Test(cli, task_chars_learns_and_generates)
{
    /* Character frequencies alone: 3.33 nats per character. */
    train_task("chars", 1, "loss", 3.0, true);
    run_result r = RUN("generate", "chars.yaml", "--weights", "chars.weights.h5", "--length", "50", "--seed", "3",
                       "--prime", "the GNU ");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect_eq(strncmp(r.out, "the GNU ", 8), 0, "%s", r.out);
    cr_expect_eq(strlen(r.out), 8 + 50 + 1, "%s", r.out);
    char *first = strdup(r.out);
    run_free(&r);
    /* The same seed gives the same text; another seed another. */
    r = RUN("generate", "chars.yaml", "--weights", "chars.weights.h5", "--length", "50", "--seed", "3", "--prime",
            "the GNU ");
    cr_expect_str_eq(r.out, first);
    run_free(&r);
    r = RUN("generate", "chars.yaml", "--weights", "chars.weights.h5", "--length", "50", "--seed", "4", "--prime",
            "the GNU ");
    cr_expect_str_neq(r.out, first);
    run_free(&r);
    free(first);
    /* generate on a spec of another task. */
    reduced_spec("adding", "adding.yaml", 1, 64);
    r = RUN("generate", "adding.yaml", "--weights", "chars.weights.h5");
    expect_error(&r, 2, "data.task: chars", NULL);
    run_free(&r);
}

/* ---- predict through a spec, and inspect of weights and checkpoints ---- */

Test(cli, predict_with_spec_and_inspect_outputs)
{
    reduced_spec("adding", "adding.yaml", 1, 256);
    run_result r = RUN("train", "adding.yaml", "--save-weights", "adding.weights.h5");
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);

    rnnc_tensor *x = random_tensor(RNNC_F32, RNNC_SHAPE(7, 50, 2), 3);
    const char *names[] = {"x"};
    write_h5(tmp_path("x.h5"), names, &x, 1);
    r = RUN("predict", "--model", "adding.yaml", "--weights", "adding.weights.h5", "--input", "x.h5", "--output",
            "y.h5");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "output_0 (7, 1)") != NULL, "%s", r.out);
    run_free(&r);
    rnnc_tensor *y = read_h5(tmp_path("y.h5"), "output_0");
    cr_expect_eq(y->shape.dim[0], 7);
    /* The checkpoint is also a weights file: predict gives the same numbers. */
    r = RUN("predict", "--model", "adding.yaml", "--weights", "ckpt_adding/ckpt-000001.weights.h5", "--input", "x.h5",
            "--output", "y2.h5");
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    rnnc_tensor *y2 = read_h5(tmp_path("y2.h5"), "output_0");
    expect_same(y2, y, 0, "checkpoint vs saved weights");

    /* The wrong input shape: clear message, no output. */
    rnnc_tensor *bad = random_tensor(RNNC_F32, RNNC_SHAPE(7, 50, 3), 3);
    write_h5(tmp_path("bad.h5"), names, &bad, 1);
    r = RUN("predict", "--model", "adding.yaml", "--weights", "adding.weights.h5", "--input", "bad.h5", "--output",
            "y3.h5");
    expect_error(&r, 1, "(7, 50, 3)", "(None, 50, 2)", NULL);
    cr_expect_not(exists(tmp_path("y3.h5")));
    run_free(&r);

    r = RUN("inspect", "adding.weights.h5");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "Keras 3 weights file") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "/layers/gru/cell/vars/0") != NULL && strstr(r.out, "(2, 96)") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "/optimizer/vars/0") != NULL, "%s", r.out);
    run_free(&r);

    r = RUN("inspect", "ckpt_adding/ckpt-000001.weights.h5");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "epochs completed: 1") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "val_loss") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "Model: \"adding\"") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "/rnnc_checkpoint/epoch") != NULL, "%s", r.out);
    run_free(&r);

    r = RUN("inspect", "y.h5");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "/output_0") != NULL, "%s", r.out);
    run_free(&r);

    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(bad);
    rnnc_tensor_destroy(y);
    rnnc_tensor_destroy(y2);
}

/* ---- checkpoints and resume ---- */

static const char *resume_spec =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 10, 2]}}\n"
    "      - {class_name: GRU, config: {units: 6, dropout: 0.2}}\n"
    "      - {class_name: Dense, config: {units: 1}}\n"
    "compile: {optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: mse, metrics: [mae]}\n"
    "fit: {epochs: 4, batch_size: 16, shuffle: true, seed: 9}\n"
    "data: {task: adding, timesteps: 10, samples: 96, validation_samples: 16, test_samples: 16}\n"
    "checkpoint: {directory: %s, every: 1, keep: %d}\n";

static void write_resume_spec(const char *name, const char *dir, int keep)
{
    char text[2048];
    snprintf(text, sizeof text, resume_spec, dir, keep);
    write_file(tmp_path(name), text);
}

/* Every dataset of two weights files, bit for bit. */
static void expect_same_file_tensors(const char *a, const char *b)
{
    const char *names[] = {"layers/gru/cell/vars/0", "layers/gru/cell/vars/1", "layers/gru/cell/vars/2",
                           "layers/dense/vars/0",    "layers/dense/vars/1",    "optimizer/vars/2",
                           "optimizer/vars/3",       "optimizer/vars/11"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        rnnc_tensor *ta = read_h5(a, names[i]), *tb = read_h5(b, names[i]);
        cr_assert(rnnc_shape_eq(&ta->shape, &tb->shape), "%s", names[i]);
        cr_expect_eq(memcmp(ta->data, tb->data, ta->numel * sizeof(float)), 0, "%s differs between %s and %s",
                     names[i], a, b);
        rnnc_tensor_destroy(ta);
        rnnc_tensor_destroy(tb);
    }
}

Test(cli, resume_continues_bit_for_bit)
{
    write_resume_spec("straight.yaml", "ck_straight", 10);
    write_resume_spec("split.yaml", "ck_split", 10);
    run_result r = RUN("train", "straight.yaml", "--save-weights", "straight.weights.h5");
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);

    r = RUN("train", "split.yaml", "--epochs", "2");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(exists(tmp_path("ck_split/ckpt-000002.weights.h5")));
    cr_expect_not(exists(tmp_path("ck_split/ckpt-000003.weights.h5")));
    run_free(&r);
    r = RUN("train", "split.yaml", "--resume", "ck_split/ckpt-000002.weights.h5", "--save-weights",
            "resumed.weights.h5");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "Resuming from") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "Epoch 3/4") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "Epoch 1/4") == NULL, "%s", r.out);
    run_free(&r);
    expect_same_file_tensors(tmp_path("straight.weights.h5"), tmp_path("resumed.weights.h5"));
    expect_same_file_tensors(tmp_path("ck_straight/ckpt-000004.weights.h5"), tmp_path("ck_split/ckpt-000004.weights.h5"));
    /* The history carries over: all four epochs, equal to the straight run's. */
    rnnc_tensor *ha = read_h5(tmp_path("ck_straight/ckpt-000004.weights.h5"), "rnnc_checkpoint/history/val_loss");
    rnnc_tensor *hb = read_h5(tmp_path("ck_split/ckpt-000004.weights.h5"), "rnnc_checkpoint/history/val_loss");
    cr_expect_eq(hb->numel, 4u);
    expect_same(hb, ha, 0, "val_loss history");
    rnnc_tensor_destroy(ha);
    rnnc_tensor_destroy(hb);

    /* Shuffling is real: without it the same run ends elsewhere. */
    char text[2048];
    snprintf(text, sizeof text, resume_spec, "ck_noshuffle", 10);
    char *sh = strstr(text, "shuffle: true, ");
    memcpy(sh, "shuffle: false,", 15);
    write_file(tmp_path("noshuffle.yaml"), text);
    r = RUN("train", "noshuffle.yaml", "--save-weights", "noshuffle.weights.h5");
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    rnnc_tensor *wa = read_h5(tmp_path("straight.weights.h5"), "layers/dense/vars/0");
    rnnc_tensor *wb = read_h5(tmp_path("noshuffle.weights.h5"), "layers/dense/vars/0");
    cr_expect_neq(memcmp(wa->data, wb->data, wa->numel * sizeof(float)), 0, "shuffle had no effect");
    rnnc_tensor_destroy(wa);
    rnnc_tensor_destroy(wb);

    /* A directory resumes from its newest file; already done -> nothing to train. */
    r = RUN("train", "split.yaml", "--resume", "ck_split");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "Nothing to train") != NULL, "%s", r.out);
    run_free(&r);
}

Test(cli, keep_last_k_and_damaged_checkpoints)
{
    write_resume_spec("k.yaml", "ck_k", 2);
    run_result r = RUN("train", "k.yaml");
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    cr_expect_eq(files_in(tmp_path("ck_k")), 4); /* and history.csv, history.json */
    cr_expect(exists(tmp_path("ck_k/ckpt-000003.weights.h5")));
    cr_expect(exists(tmp_path("ck_k/ckpt-000004.weights.h5")));

    /* Truncate the newest: resuming from it (or from the directory) fails
     * clearly, and the older file is untouched. */
    char *before = slurp(tmp_path("ck_k/ckpt-000003.weights.h5"));
    struct stat st;
    cr_assert_eq(stat(tmp_path("ck_k/ckpt-000003.weights.h5"), &st), 0);
    cr_assert_eq(truncate(tmp_path("ck_k/ckpt-000004.weights.h5"), 1000), 0);
    r = RUN("train", "k.yaml", "--resume", "ck_k", "--epochs", "6", "--save-weights", "never.weights.h5");
    expect_error(&r, 1, "ckpt-000004.weights.h5", NULL);
    run_free(&r);
    cr_expect_not(exists(tmp_path("never.weights.h5")));
    struct stat st2;
    cr_assert_eq(stat(tmp_path("ck_k/ckpt-000003.weights.h5"), &st2), 0);
    cr_expect_eq(st.st_size, st2.st_size);
    char *after = slurp(tmp_path("ck_k/ckpt-000003.weights.h5"));
    cr_expect_eq(memcmp(before, after, (size_t)st.st_size), 0);
    free(before);
    free(after);

    /* The older one still resumes, once the damaged newer file may go
     * (a run never deletes a checkpoint past the one it resumes from unasked). */
    r = RUN("train", "k.yaml", "--resume", "ck_k/ckpt-000003.weights.h5");
    expect_error(&r, 1, "ck_k", "ckpt-000004.weights.h5", "--overwrite", NULL);
    run_free(&r);
    r = RUN("train", "k.yaml", "--resume", "ck_k/ckpt-000003.weights.h5", "--overwrite");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "Removed 1 old checkpoint from ck_k (--overwrite): ckpt-000004.weights.h5") != NULL, "%s",
              r.out);
    cr_expect(strstr(r.out, "Epoch 4/4") != NULL, "%s", r.out);
    run_free(&r);

    /* Not a checkpoint at all. */
    write_file(tmp_path("notes.weights.h5"), "hello");
    r = RUN("train", "k.yaml", "--resume", "notes.weights.h5");
    expect_error(&r, 1, "notes.weights.h5", NULL);
    run_free(&r);

    /* A checkpoint of another model. */
    reduced_spec("adding", "adding.yaml", 1, 64);
    r = RUN("train", "adding.yaml", "--resume", "ck_k/ckpt-000004.weights.h5");
    expect_error(&r, 1, "ckpt-000004.weights.h5", NULL);
    run_free(&r);
}

Test(cli, killed_training_never_leaves_a_broken_checkpoint)
{
    /* Many short epochs, each checkpointed; kill -9 at some point. */
    char text[2048];
    snprintf(text, sizeof text, resume_spec, "ck_kill", 1000);
    char *at = strstr(text, "epochs: 4, ");
    memcpy(at, "epochs: 40,", 11);
    write_file(tmp_path("kill.yaml"), text);
    for (int attempt = 0; attempt < 3; attempt++) {
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
            dup2(devnull, 2);
            if (chdir(tmpdir) != 0)
                _exit(126);
            execl(RNNC_BIN, RNNC_BIN, "train", "kill.yaml", "--overwrite", (char *)NULL);
            _exit(127);
        }
        struct timespec wait = {0, (250 + 150 * attempt) * 1000000L};
        nanosleep(&wait, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    DIR *d = opendir(tmp_path("ck_kill"));
    cr_assert_not_null(d);
    struct dirent *e;
    int checked = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "ckpt-", 5) || strstr(e->d_name, ".partial") || strstr(e->d_name, ".tmp"))
            continue;
        char p[600];
        snprintf(p, sizeof p, "ck_kill/%s", e->d_name);
        run_result r = RUN("inspect", p, "--no-config");
        cr_expect_eq(r.code, 0, "%s is broken: %s", p, r.err);
        run_free(&r);
        checked++;
    }
    closedir(d);
    cr_expect_gt(checked, 0, "no checkpoint was written before the kill");

    /* The run resumes from the newest; stale temporary files are cleaned up. */
    run_result r = RUN("train", "kill.yaml", "--resume", "ck_kill");
    cr_expect_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    cr_expect(exists(tmp_path("ck_kill/ckpt-000040.weights.h5")));
    d = opendir(tmp_path("ck_kill"));
    while ((e = readdir(d)))
        cr_expect(strstr(e->d_name, ".partial") == NULL && strstr(e->d_name, ".tmp") == NULL, "left over: %s",
                  e->d_name);
    closedir(d);
}

/* ---- HDF5 data ---- */

Test(cli, hdf5_data_train_evaluate_and_bad_values)
{
    /* y = mean of x over time and features: learnable by a small GRU. */
    rnnc_tensor *x = random_tensor(RNNC_F32, RNNC_SHAPE(200, 6, 3), 21), *y, *sw;
    rnnc_shape ys = RNNC_SHAPE(200, 1), ws = RNNC_SHAPE(200);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &ys, &y), RNNC_OK);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &ws, &sw), RNNC_OK);
    for (int i = 0; i < 200; i++) {
        double s = 0;
        for (int k = 0; k < 18; k++)
            s += rnnc_f32(x)[i * 18 + k];
        rnnc_f32(y)[i] = (float)(s / 18);
        rnnc_f32(sw)[i] = i % 2 ? 1.0f : 0.5f;
    }
    const char *names[] = {"inputs", "targets", "weights"};
    rnnc_tensor *ts[] = {x, y, sw};
    cr_assert_eq(mkdir(tmp_path("data"), 0755), 0);
    write_h5(tmp_path("data/train.h5"), names, ts, 3);
    const char *plain[] = {"x", "y"};
    write_h5(tmp_path("data/test.h5"), plain, ts, 2);
    cr_assert_eq(mkdir(tmp_path("specs"), 0755), 0);
    write_file(tmp_path("specs/h5.yaml"),
               "model:\n"
               "  class_name: Sequential\n"
               "  config:\n"
               "    layers:\n"
               "      - {class_name: GRU, config: {units: 8}}\n"
               "      - {class_name: Dense, config: {units: 1}}\n"
               "compile: {optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: mse, metrics: [mae]}\n"
               "fit: {epochs: 3, batch_size: 20, validation_split: 0.25, verbose: 2}\n"
               "data:\n"
               "  path: ../data/train.h5\n"
               "  x: inputs\n"
               "  y: targets\n"
               "  sample_weight: weights\n"
               "  test: {path: ../data/test.h5}\n");
    /* Run from another folder: paths are relative to the spec. */
    run_result r = run_in("/", (const char *const[]){"train", tmp_path("specs/h5.yaml"), "--save-weights",
                                                      tmp_path("h5.weights.h5"), NULL});
    cr_assert_eq(r.code, 0, "%s\n%s", r.err, r.out);
    cr_expect(strstr(r.out, "150 training samples") != NULL, "the validation split: %s", r.out);
    cr_expect(strstr(r.out, "val_loss") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "Test (200 samples)") != NULL, "%s", r.out);
    run_free(&r);
    r = RUN("evaluate", "specs/h5.yaml", "--weights", "h5.weights.h5");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "on test data (200 samples)") != NULL, "%s", r.out);
    run_free(&r);

    /* The model as a path, relative to the spec's folder. */
    write_file(tmp_path("specs/model.yaml"), "{class_name: Sequential, config: {layers: [{class_name: GRU, config: {units: 8}}, "
                                             "{class_name: Dense, config: {units: 1}}]}}\n");
    write_file(tmp_path("specs/by_path.yaml"),
               "model: model.yaml\n"
               "compile: {optimizer: adam, loss: mse}\n"
               "fit: {epochs: 1, batch_size: 50, verbose: 0}\n"
               "data: {path: ../data/train.h5, x: inputs, y: targets}\n");
    r = run_in("/", (const char *const[]){"train", tmp_path("specs/by_path.yaml"), NULL});
    cr_expect_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "Epoch 1/1") == NULL, "verbose 0 shows no progress: %s", r.out);
    cr_expect(strstr(r.out, "Trained 1 epoch") != NULL, "%s", r.out);
    run_free(&r);

    /* A NaN in the targets: the file, the dataset and the index are named. */
    rnnc_f32(y)[37] = NAN;
    write_h5(tmp_path("data/train.h5"), names, ts, 3);
    r = RUN("train", "specs/h5.yaml", "--save-weights", "nan.weights.h5");
    expect_error(&r, 1, "train.h5", "targets", "NaN", "37", NULL);
    cr_expect_not(exists(tmp_path("nan.weights.h5")));
    run_free(&r);

    /* A sample_weight dataset named but absent. */
    write_h5(tmp_path("data/train.h5"), plain, ts, 2);
    r = RUN("train", "specs/h5.yaml");
    expect_error(&r, 1, "inputs", NULL);
    run_free(&r);

    /* --save-weights with the wrong suffix or into a missing folder. */
    r = RUN("train", "specs/h5.yaml", "--save-weights", "out.h5");
    expect_error(&r, 2, ".weights.h5", NULL);
    run_free(&r);
    r = RUN("train", "specs/h5.yaml", "--save-weights", "nowhere/out.weights.h5");
    expect_error(&r, 2, "nowhere", "does not exist", NULL);
    run_free(&r);

    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_tensor_destroy(sw);
}

/* ---- real Keras files ---- */

/* Every model in the shared interop corpus, run through `rnnc predict`,
 * reproduces Keras's outputs: a file added there is tested too. */
Test(cli, predict_reproduces_keras_on_the_interop_corpus)
{
    DIR *d = opendir(RNNC_SHARED "/interop");
    if (!d)
        cr_skip_test("no interop corpus at %s", RNNC_SHARED "/interop");
    struct dirent *e;
    int cases = 0;
    while ((e = readdir(d))) {
        char dir[700], model[1400] = "", path[1400];
        if (e->d_name[0] == '.')
            continue;
        snprintf(dir, sizeof dir, RNNC_SHARED "/interop/%s", e->d_name);
        DIR *cd = opendir(dir);
        if (!cd)
            continue;
        struct dirent *f;
        while ((f = readdir(cd))) {
            size_t n = strlen(f->d_name);
            bool keras = n > 6 && strcmp(f->d_name + n - 6, ".keras") == 0;
            bool h5 = n > 3 && strcmp(f->d_name + n - 3, ".h5") == 0 && strcmp(f->d_name, "input.h5") != 0 &&
                      strcmp(f->d_name, "expected.h5") != 0;
            if (keras || h5)
                snprintf(model, sizeof model, "%s/%s", dir, f->d_name);
        }
        closedir(cd);
        snprintf(path, sizeof path, "%s/input.h5", dir);
        if (!model[0] || !exists(path))
            continue;
        run_result r = RUN("predict", "--model", model, "--input", path, "--output", "interop_out.h5");
        cr_expect_eq(r.code, 0, "%s: %s", model, r.err);
        run_free(&r);
        if (!exists(tmp_path("interop_out.h5")))
            continue;
        snprintf(path, sizeof path, "%s/expected.h5", dir);
        rnnc_tensor *got = read_h5(tmp_path("interop_out.h5"), "output_0"), *want = read_h5(path, "y");
        expect_same(got, want, 1e-5, model);
        rnnc_tensor_destroy(got);
        rnnc_tensor_destroy(want);
        unlink(tmp_path("interop_out.h5"));
        cases++;
    }
    closedir(d);
    cr_expect_gt(cases, 0, "no interop case was run");
}
