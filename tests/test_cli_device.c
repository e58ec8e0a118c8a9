/* test_cli_device.c - --device on rnnc train, predict and evaluate (issue
 * 16): cpu runs as before, an unknown value is a usage error, cuda fails
 * with one line saying why when it cannot run (no backend / no device),
 * auto runs on the CPU without a GPU. With RNNC_TEST_DEVICE_TABLE=cpu the
 * program runs its device path on the CPU backend's table (no GPU here):
 * the same numbers as the CPU path, and each refusal one line with nothing
 * written. Runs the rnnc program of this build. */
#define _GNU_SOURCE /* mkdtemp */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framework/backend.h"
#include "helpers/h5_make.h"
#include "helpers/run_program.h"
#include "io/dataset.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

static char dir[64];

/* A small adding task without checkpoints (nothing written outside dir). */
static const char spec[] =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 10, 2]}}\n"
    "      - {class_name: GRU, config: {name: gru, units: 4}}\n"
    "      - {class_name: Dense, config: {name: dense, units: 1}}\n"
    "compile:\n"
    "  optimizer: {class_name: Adam, config: {learning_rate: 0.01}}\n"
    "  loss: mse\n"
    "fit: {epochs: 1, batch_size: 32, seed: 42}\n"
    "data: {task: adding, timesteps: 10, samples: 256, validation_samples: 64, "
    "test_samples: 64, seed: 7}\n";

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/rnnc_device_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/tiny.yaml", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f && fputs(spec, f) >= 0 && fclose(f) == 0);
}

static void remove_dir(void)
{
    rnnc_test_rm_tree(dir);
}

TestSuite(cli_device, .init = make_dir, .fini = remove_dir, .timeout = 300);

static rnnc_test_run run(const char *const *args)
{
    return rnnc_test_run_program(RNNC_BIN, dir, NULL, args);
}

/* One line on stderr holding every `want`, nothing on stdout. */
static void expect_one_line(const rnnc_test_run *r, int code, const char *const *want)
{
    cr_assert_eq(r->code, code, "exit %d, want %d; stderr: %s", r->code, code, r->err);
    cr_assert_eq(rnnc_test_count_lines(r->err), 1, "stderr: %s", r->err);
    cr_assert_str_empty(r->out, "stdout: %s", r->out);
    for (; *want; want++)
        cr_assert(strstr(r->err, *want), "'%s' not in: %s", *want, r->err);
}

/* name (in the test's folder) was not written. */
static void expect_not_written(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_neq(access(path, F_OK), 0, "%s is not written", name);
}

/* Why cuda is refused here (this test process sees the same machine and
 * build as the program); NULL where a GPU can be used (the cases skip). */
static const char *cuda_refusal(void)
{
    return !rnnc_device_built(RNNC_DEVICE_CUDA)       ? "CUDA backend not built"
           : !rnnc_device_available(RNNC_DEVICE_CUDA) ? "no CUDA device present"
                                                      : NULL;
}

Test(cli_device, unknown_device_is_a_usage_error_on_each_command)
{
    const char *cmds[][8] = {
        {"train", "tiny.yaml", "--device", "gpu", NULL},
        {"evaluate", "tiny.yaml", "--weights", "w.weights.h5", "--device", "gpu", NULL},
    };
    for (int i = 0; i < 2; i++) {
        rnnc_test_run r = run(cmds[i]);
        const char *want[] = {"--device: unknown device 'gpu' (valid: cpu, cuda, auto)", NULL};
        expect_one_line(&r, 2, want);
        rnnc_test_run_free(&r);
    }
    const char *p[] = {"predict", "--model", "m.keras", "--input", "in.h5", "--output", "out.h5",
                       "--device", "GPU", NULL};
    rnnc_test_run r = run(p);
    const char *want[] = {"rnnc predict: --device: unknown device 'GPU'", NULL};
    expect_one_line(&r, 2, want);
    rnnc_test_run_free(&r);
}

Test(cli_device, cuda_fails_with_one_line_saying_why_and_writes_nothing)
{
    const char *args[] = {"train", "tiny.yaml", "--epochs", "1", "--save-weights",
                          "out.weights.h5", "--device", "cuda", NULL};
    const char *why = cuda_refusal();
    if (!why)
        cr_skip_test("a CUDA device is present: cuda trains");
    rnnc_test_run r = run(args);
    const char *want[] = {"rnnc train: --device cuda: ", why, NULL};
    expect_one_line(&r, 1, want);
    rnnc_test_run_free(&r);
    expect_not_written("out.weights.h5");
    const char *ev[] = {"evaluate", "tiny.yaml", "--weights", "w.weights.h5", "--device",
                        "cuda", NULL};
    r = run(ev);
    const char *want_ev[] = {"rnnc evaluate: --device cuda: ", why, NULL};
    expect_one_line(&r, 1, want_ev);
    rnnc_test_run_free(&r);
}

Test(cli_device, cpu_and_auto_train_as_without_the_option)
{
    const char *base[] = {"train", "tiny.yaml", "--epochs", "1", "--seed", "3",
                          "--save-weights", "a.weights.h5", NULL, NULL, NULL};
    rnnc_test_run r0 = run(base);
    cr_assert_eq(r0.code, 0, "stderr: %s", r0.err);
    const char *devs[] = {"cpu", "auto"};
    for (int i = 0; i < 2; i++) {
        const char *args[] = {"train", "tiny.yaml", "--epochs", "1", "--seed", "3",
                              "--save-weights", i ? "c.weights.h5" : "b.weights.h5",
                              "--device", devs[i], NULL};
        rnnc_test_run r = run(args);
        cr_assert_eq(r.code, 0, "--device %s: stderr: %s", devs[i], r.err);
        if (!rnnc_device_available(RNNC_DEVICE_CUDA))
            cr_assert_str_eq(r.err, r0.err, "--device %s adds nothing without a GPU", devs[i]);
        else if (i == 1)
            cr_assert(strstr(r.err, "--device auto: a CUDA device is present; running on the GPU"), "%s", r.err);
        /* The same training as without the option: final losses, test
         * loss and predictions (the weight files hold HDF5 timestamps). */
        char *a = strstr(r0.out, "Final epoch:"), *b = strstr(r.out, "Final epoch:");
        char *ae = a ? strstr(a, "History:") : NULL, *be = b ? strstr(b, "History:") : NULL;
        cr_assert(ae && be, "stdout: %s", r.out);
        cr_assert(ae - a == be - b && memcmp(a, b, (size_t)(ae - a)) == 0,
                  "--device %s trained differently:\n%.*s\nvs\n%.*s", devs[i], (int)(be - b), b,
                  (int)(ae - a), a);
        rnnc_test_run_free(&r);
    }
    rnnc_test_run_free(&r0);
}

/* The spec's `device:` key: checked with its place in the file, used when
 * the command line has no --device (which wins). */
static void write_spec_with_device(const char *name, const char *device_line)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f && fputs(spec, f) >= 0 && fputs(device_line, f) >= 0 && fclose(f) == 0);
}

Test(cli_device, spec_device_key)
{
    write_spec_with_device("bad.yaml", "device: gpu\n");
    const char *bad[] = {"train", "bad.yaml", NULL};
    rnnc_test_run r = run(bad);
    const char *want_bad[] = {"bad.yaml: device: unknown device 'gpu'", "bad.yaml:13:",
                              "(valid: cpu, cuda, auto)", NULL};
    expect_one_line(&r, 1, want_bad);
    rnnc_test_run_free(&r);

    write_spec_with_device("cuda.yaml", "device: cuda\n");
    const char *cu[] = {"train", "cuda.yaml", "--save-weights", "w.weights.h5", NULL};
    const char *why = cuda_refusal();
    if (why) {
        r = run(cu);
        const char *want_cu[] = {"rnnc train: spec device cuda: ", why, NULL};
        expect_one_line(&r, 1, want_cu);
        rnnc_test_run_free(&r);
        expect_not_written("w.weights.h5");
    }

    /* --device cpu wins over the spec's cuda; a spec's cpu trains. */
    const char *cpu_wins[] = {"train", "cuda.yaml", "--device", "cpu", NULL};
    r = run(cpu_wins);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    rnnc_test_run_free(&r);
    write_spec_with_device("cpu.yaml", "device: cpu\n");
    const char *cpu[] = {"train", "cpu.yaml", NULL};
    r = run(cpu);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    rnnc_test_run_free(&r);
}

/* ---- the device path through the program, on the CPU backend's table ---- */

static const char *const on_table[] = {"RNNC_TEST_DEVICE_TABLE=cpu", NULL};

static rnnc_test_run run_table(const char *const *args)
{
    return rnnc_test_run_program(RNNC_BIN, dir, on_table, args);
}

/* The text from "Final epoch:" to "Checkpoint:" or "History:" (losses,
 * test loss, predictions). */
static char *final_part(const char *out, int *len)
{
    char *a = strstr(out, "Final epoch:"), *e = a ? strstr(a, "Checkpoint:") : NULL;
    if (!e && a)
        e = strstr(a, "History:");
    cr_assert(a && e, "stdout: %s", out);
    *len = (int)(e - a);
    return a;
}

Test(cli_device, cuda_and_auto_run_the_device_path_as_the_cpu_path)
{
    const char *cpu[] = {"train", "tiny.yaml", "--epochs", "2", "--seed", "3", "--save-weights", "a.weights.h5", NULL};
    rnnc_test_run r0 = run(cpu);
    cr_assert_eq(r0.code, 0, "stderr: %s", r0.err);
    int la, lb;
    const char *a = final_part(r0.out, &la);
    const char *devs[] = {"cuda", "auto"};
    for (int i = 0; i < 2; i++) {
        const char *args[] = {"train", "tiny.yaml", "--epochs", "2", "--seed", "3", "--save-weights",
                              i ? "c.weights.h5" : "b.weights.h5", "--device", devs[i], NULL};
        rnnc_test_run r = run_table(args);
        cr_assert_eq(r.code, 0, "--device %s: stderr: %s", devs[i], r.err);
        if (i == 1) {
            const char *want[] = {"rnnc train: --device auto: running on the cpu backend table (RNNC_TEST_DEVICE_TABLE)",
                                  NULL};
            cr_assert_eq(rnnc_test_count_lines(r.err), 1, "stderr: %s", r.err);
            cr_assert(strstr(r.err, want[0]), "%s", r.err);
        } else {
            cr_assert_str_empty(r.err, "stderr: %s", r.err);
        }
        const char *b = final_part(r.out, &lb);
        cr_assert(la == lb && memcmp(a, b, (size_t)la) == 0, "--device %s trained differently:\n%.*s\nvs\n%.*s",
                  devs[i], lb, b, la, a);
        rnnc_test_run_free(&r);
    }
    /* evaluate on the device gives the CPU path's line */
    const char *ev_cpu[] = {"evaluate", "tiny.yaml", "--weights", "a.weights.h5", NULL};
    const char *ev_dev[] = {"evaluate", "tiny.yaml", "--weights", "a.weights.h5", "--device", "cuda", NULL};
    rnnc_test_run e0 = run(ev_cpu), e1 = run_table(ev_dev);
    cr_assert_eq(e0.code, 0, "%s", e0.err);
    cr_assert_eq(e1.code, 0, "%s", e1.err);
    cr_assert_str_eq(e1.out, e0.out);
    rnnc_test_run_free(&e0);
    rnnc_test_run_free(&e1);
    rnnc_test_run_free(&r0);
}

/* A spec the device path refuses: one line naming what, exit 1, and the
 * folder holds only what was there before (no weights, history or
 * checkpoints). */
static void refused_spec(const char *name, const char *text, const char *const *want)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f && fputs(text, f) >= 0 && fclose(f) == 0);
    const char *args[] = {"train", name, "--save-weights", "w.weights.h5", "--save-model", "m.keras",
                          "--device", "cuda", NULL};
    rnnc_test_run r = run_table(args);
    expect_one_line(&r, 1, want);
    rnnc_test_run_free(&r);
    expect_not_written("w.weights.h5");
    expect_not_written("m.keras");
    char hist[160];
    snprintf(hist, sizeof hist, "%.*s.history", (int)(strlen(name) - 5), name);
    expect_not_written(hist);
    expect_not_written("ckpt");
}

static const char head[] = "model:\n"
                           "  class_name: Sequential\n"
                           "  config:\n"
                           "    layers:\n"
                           "      - {class_name: InputLayer, config: {batch_shape: [null, 10, 2]}}\n";
static const char tail[] = "data: {task: adding, timesteps: 10, samples: 64, validation_samples: 32, "
                           "test_samples: 32, seed: 7}\n"
                           "checkpoint: {directory: ckpt}\n";

Test(cli_device, refusals_are_one_line_and_write_nothing)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s%s%s", head,
             "      - {class_name: SimpleRNN, config: {name: simple_rnn, units: 4}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 1}}\n",
             "compile: {optimizer: adam, loss: mse}\nfit: {epochs: 1}\n", tail);
    const char *w1[] = {"rnnc train: --device cuda: ", "simple_rnn", "SimpleRNN", NULL};
    refused_spec("simple_rnn.yaml", text, w1);

    snprintf(text, sizeof text, "%s%s%s%s", head,
             "      - {class_name: GRU, config: {name: gru, units: 4}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 1}}\n",
             "compile: {optimizer: {class_name: Adam, config: {clipnorm: 1.0}}, loss: mse}\nfit: {epochs: 1}\n", tail);
    const char *w2[] = {"rnnc train: --device cuda: compile.optimizer: 'adam': clipnorm has no device implementation",
                        NULL};
    refused_spec("clip.yaml", text, w2);

    snprintf(text, sizeof text, "%s%s%s%s", head,
             "      - {class_name: GRU, config: {name: gru, units: 4}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 1}}\n",
             "compile: {optimizer: adam, loss: huber}\nfit: {epochs: 1}\n", tail);
    const char *w3[] = {"rnnc train: --device cuda: compile.loss: 'huber' has no device implementation", NULL};
    refused_spec("huber.yaml", text, w3);

    snprintf(text, sizeof text, "%s%s%s%s", head,
             "      - {class_name: GRU, config: {name: gru, units: 4}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 1}}\n",
             "compile: {optimizer: adam, loss: mse}\n"
             "fit: {epochs: 1, callbacks: [{ModelCheckpoint: {filepath: b.keras, save_freq: 2}}]}\n",
             tail);
    const char *w4[] = {"rnnc train: --device cuda: fit.callbacks: save_freq 2", "saves inside an epoch", NULL};
    refused_spec("freq.yaml", text, w4);
    expect_not_written("b.keras");
}

/* Evaluate never updates weights: on the device it runs a spec whose
 * optimizer training refuses there (RMSprop with clipnorm, use_ema,
 * gradient accumulation) and prints the CPU path's line; train still
 * refuses it in one line, writing nothing. */
Test(cli_device, evaluate_on_the_device_ignores_the_optimizer)
{
    const char *cpu[] = {"train", "tiny.yaml", "--epochs", "1", "--save-weights", "a.weights.h5", NULL};
    rnnc_test_run r0 = run(cpu);
    cr_assert_eq(r0.code, 0, "stderr: %s", r0.err);
    rnnc_test_run_free(&r0);
    char text[2048];
    snprintf(text, sizeof text, "%s%s%s%s", head,
             "      - {class_name: GRU, config: {name: gru, units: 4}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 1}}\n",
             "compile: {optimizer: {class_name: RMSprop, config: {clipnorm: 1.0, use_ema: true, "
             "gradient_accumulation_steps: 2}}, loss: mse, metrics: [mae]}\nfit: {epochs: 1}\n",
             tail);
    char path[128];
    snprintf(path, sizeof path, "%s/rms.yaml", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f && fputs(text, f) >= 0 && fclose(f) == 0);
    const char *ev_cpu[] = {"evaluate", "rms.yaml", "--weights", "a.weights.h5", NULL};
    const char *ev_dev[] = {"evaluate", "rms.yaml", "--weights", "a.weights.h5", "--device", "cuda", NULL};
    rnnc_test_run e0 = run(ev_cpu), e1 = run_table(ev_dev);
    cr_assert_eq(e0.code, 0, "%s", e0.err);
    cr_assert_eq(e1.code, 0, "--device cuda: %s", e1.err);
    cr_assert_str_empty(e1.err, "stderr: %s", e1.err);
    cr_assert(strstr(e0.out, "mae"), "%s", e0.out);
    cr_assert_str_eq(e1.out, e0.out);
    rnnc_test_run_free(&e0);
    rnnc_test_run_free(&e1);
    const char *w[] = {"rnnc train: --device cuda: compile.optimizer: RMSprop ('rm_sprop') has no device implementation",
                       NULL};
    refused_spec("rms.yaml", text, w);
}

/* x (8, 10, 2) in in.h5, and with a mask in masked.h5 */
static void write_inputs(void)
{
    float x[8 * 10 * 2];
    unsigned char mask[8 * 10];
    for (int i = 0; i < 160; i++)
        x[i] = (float)((i * 37) % 11) / 11.0f;
    for (int i = 0; i < 80; i++)
        mask[i] = i % 10 < 7;
    char path[128];
    const rnnc_h5m_dataset xs = {"x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, {8, 10, 2}, x, false};
    snprintf(path, sizeof path, "%s/in.h5", dir);
    cr_assert(rnnc_h5m_write(path, &xs, 1));
    const rnnc_h5m_dataset both[] = {xs, {"mask", H5T_STD_U8LE, H5T_NATIVE_UCHAR, 2, {8, 10}, mask, false}};
    snprintf(path, sizeof path, "%s/masked.h5", dir);
    cr_assert(rnnc_h5m_write(path, both, 2));
}

Test(cli_device, predict_on_the_device_path_and_its_refusal)
{
    const char *tr[] = {"train", "tiny.yaml", "--epochs", "1", "--save-model", "m.keras", NULL};
    rnnc_test_run r = run(tr);
    cr_assert_eq(r.code, 0, "%s", r.err);
    rnnc_test_run_free(&r);
    write_inputs();
    const char *p_cpu[] = {"predict", "--model", "m.keras", "--input", "in.h5", "--output", "a.h5", NULL};
    const char *p_dev[] = {"predict", "--model", "m.keras", "--input", "in.h5", "--output", "b.h5",
                           "--device", "cuda", NULL};
    rnnc_test_run r0 = run(p_cpu), r1 = run_table(p_dev);
    cr_assert_eq(r0.code, 0, "%s", r0.err);
    cr_assert_eq(r1.code, 0, "%s", r1.err);
    rnnc_dataset *da, *db;
    char pa[128], pb[128];
    snprintf(pa, sizeof pa, "%s/a.h5", dir);
    snprintf(pb, sizeof pb, "%s/b.h5", dir);
    const rnnc_dataset_options o = {.x_name = "output_0", .y_optional = true};
    cr_assert_eq(rnnc_dataset_read(pa, &o, &da), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_dataset_read(pb, &o, &db), RNNC_OK, "%s", rnnc_last_error());
    const rnnc_tensor *a = da->x, *b = db->x;
    cr_assert(rnnc_shape_eq(&a->shape, &b->shape));
    cr_assert_eq(a->shape.dim[0], 8);
    for (size_t i = 0; i < a->numel; i++)
        cr_expect(fabs(rnnc_tensor_get(a, i) - rnnc_tensor_get(b, i)) <= 1e-5, "output %zu: %g vs %g", i,
                  rnnc_tensor_get(b, i), rnnc_tensor_get(a, i));
    rnnc_dataset_destroy(da);
    rnnc_dataset_destroy(db);
    rnnc_test_run_free(&r0);
    rnnc_test_run_free(&r1);
    /* a mask given with the input: refused in one line, no output */
    const char *p_mask[] = {"predict", "--model", "m.keras", "--input", "masked.h5", "--output", "c.h5",
                            "--device", "cuda", NULL};
    r = run_table(p_mask);
    const char *want[] = {"rnnc predict: --device cuda: an input mask has no device implementation", NULL};
    expect_one_line(&r, 1, want);
    rnnc_test_run_free(&r);
    expect_not_written("c.h5");
}

/* Checkpoints on the device hold the current weights and optimizer slots:
 * 2 epochs there and a resume to 4 (on the device, or on the CPU) end as 4
 * straight epochs on the CPU. */
Test(cli_device, device_checkpoints_resume_exactly)
{
    const char *names[] = {"cka", "ckb", "ckc"};
    for (int i = 0; i < 3; i++) {
        char path[128], line[64];
        snprintf(path, sizeof path, "%s/%s.yaml", dir, names[i]);
        snprintf(line, sizeof line, "checkpoint: {directory: %s}\n", names[i]);
        FILE *f = fopen(path, "w");
        cr_assert(f && fputs(spec, f) >= 0 && fputs(line, f) >= 0 && fclose(f) == 0);
    }
    const char *straight[] = {"train", "cka.yaml", "--epochs", "4", "--seed", "3", NULL};
    rnnc_test_run r0 = run(straight);
    cr_assert_eq(r0.code, 0, "%s", r0.err);
    int la;
    const char *a = final_part(r0.out, &la);
    for (int i = 1; i < 3; i++) {
        const char *first[] = {"train", i == 1 ? "ckb.yaml" : "ckc.yaml", "--epochs", "2", "--seed", "3",
                               "--device", "cuda", NULL};
        rnnc_test_run r1 = run_table(first);
        cr_assert_eq(r1.code, 0, "%s", r1.err);
        const char *again[] = {"train", i == 1 ? "ckb.yaml" : "ckc.yaml", "--epochs", "4", "--seed", "3",
                               "--resume", names[i], "--device", i == 1 ? "cuda" : "cpu", NULL};
        rnnc_test_run r2 = run_table(again);
        cr_assert_eq(r2.code, 0, "%s", r2.err);
        int lb;
        const char *b = final_part(r2.out, &lb);
        cr_assert(la == lb && memcmp(a, b, (size_t)la) == 0, "resumed on the %s:\n%.*s\nvs\n%.*s",
                  i == 1 ? "device" : "CPU", lb, b, la, a);
        rnnc_test_run_free(&r1);
        rnnc_test_run_free(&r2);
    }
    rnnc_test_run_free(&r0);
}
