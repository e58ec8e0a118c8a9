/* test_cuda_lazy.c - a build with the CUDA backend loads the CUDA
 * libraries at first use only (framework/backend.c, cmake/FindRnncCuda.cmake).
 *
 * The oracle is the process's real state: /proc/self/maps lists every file
 * mapped into this process. A process that only computes on the CPU must
 * not have libcudart, libcublas, libcudnn or rnnc's own CUDA module
 * (librnnc_cuda.so) mapped, in a CPU-only build and a CUDA build alike;
 * in a CUDA build, the first request for the CUDA backend maps them (or
 * fails with a message saying what could not be loaded). Skipped where
 * /proc/self/maps does not exist. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "framework/backend.h"
#include "framework/ops.h"
#include "layers/gru.h"

#define OK(expr) cr_assert_eq((expr), RNNC_OK, "%s failed: %s", #expr, rnnc_last_error())

static const char *const cuda_libs[] = {"/libcudart.so", "/libcublas.so", "/libcublasLt.so",
                                        "/libcudnn.so", "/librnnc_cuda.so"};
#define N_LIBS ((int)(sizeof cuda_libs / sizeof cuda_libs[0]))

/* Whether a file whose path contains `name` is mapped into this process
 * (-1: no /proc/self/maps). */
static int mapped(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, name) != NULL;
    fclose(f);
    return found;
}

static void expect_none_mapped(const char *when)
{
    for (int i = 0; i < N_LIBS; i++)
        cr_expect_eq(mapped(cuda_libs[i]), 0, "%s: %s is mapped into a process that stayed on the CPU",
                     when, cuda_libs[i] + 1);
}

static void skip_without_proc(void)
{
    if (mapped("/") < 0)
        cr_skip_test("no /proc/self/maps here");
}

/* Some CPU work: a GRU forward and backward on the CPU device. */
static void cpu_work(void)
{
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 4;
    rnnc_layer *l;
    OK(rnnc_gru_create(&o, &l));
    rnnc_shape xs = RNNC_SHAPE(2, 3, 5);
    OK(rnnc_layer_build(l, &xs));
    rnnc_tensor *x, *loss;
    OK(rnnc_tensor_create(RNNC_F32, &xs, &x));
    rnnc_tensor_fill(x, 0.5);
    rnnc_call_args a = {.n_inputs = 1, .inputs = {x}, .training = true};
    rnnc_call_result r;
    OK(rnnc_layer_call(l, cx, &a, &r));
    OK(rnnc_sum(cx, r.outputs[0], NULL, 0, false, &loss));
    OK(rnnc_backward(cx, loss));
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(x);
    rnnc_layer_destroy(l);
}

Test(cuda_lazy, a_cpu_only_process_maps_no_cuda_library)
{
    skip_without_proc();
    expect_none_mapped("at start");
    rnnc_device d;
    OK(rnnc_device_resolve(RNNC_DEVICE_CPU, &d));
    OK(rnnc_set_device(RNNC_DEVICE_CPU));
    (void)rnnc_device_built(RNNC_DEVICE_CUDA); /* a question that loads nothing */
    cpu_work();
    expect_none_mapped("after CPU work");
}

Test(cuda_lazy, the_first_request_for_cuda_loads_the_backend)
{
    skip_without_proc();
    if (!rnnc_device_built(RNNC_DEVICE_CUDA))
        cr_skip_test("CPU-only build");
    expect_none_mapped("before asking for CUDA");
    const rnnc_cuda_api *t = rnnc_backend_cuda_table();
    if (!t) { /* the module or a CUDA library is missing here: say which */
        const rnnc_cuda_api *api;
        cr_assert_eq(rnnc_backend_cuda(&api), RNNC_E_NODEV);
        cr_expect(strstr(rnnc_last_error(), "could not be loaded") != NULL, "%s", rnnc_last_error());
        return;
    }
    cr_expect_eq(mapped("/librnnc_cuda.so"), 1, "the backend module is mapped after the first request");
    cr_expect_eq(mapped("/libcudart.so"), 1, "cudart is mapped after the first request");
    cr_expect_eq(rnnc_backend_cuda_table(), t, "one table for the life of the process");
    (void)rnnc_device_available(RNNC_DEVICE_CUDA); /* with or without a GPU: no crash */
}
