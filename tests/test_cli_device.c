/* test_cli_device.c - --device on rnnc train, predict and evaluate (issue
 * 16): cpu runs as before, an unknown value is a usage error, cuda fails
 * with one line saying why (no backend / no device / not implemented yet),
 * auto runs on the CPU. Runs the rnnc program of this build. */
#define _GNU_SOURCE /* mkdtemp */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framework/backend.h"
#include "helpers/run_program.h"

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
 * build as the program). */
static const char *cuda_refusal(void)
{
    return !rnnc_device_built(RNNC_DEVICE_CUDA)       ? "CUDA backend not built"
           : !rnnc_device_available(RNNC_DEVICE_CUDA) ? "no CUDA device present"
                                                      : "not implemented yet";
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
    rnnc_test_run r = run(args);
    const char *why = cuda_refusal();
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
            cr_assert(strstr(r.err, "--device auto: a CUDA device is present"), "%s", r.err);
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
    r = run(cu);
    const char *why = cuda_refusal();
    const char *want_cu[] = {"rnnc train: spec device cuda: ", why, NULL};
    expect_one_line(&r, 1, want_cu);
    rnnc_test_run_free(&r);
    expect_not_written("w.weights.h5");

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
