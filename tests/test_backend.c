/* test_backend.c - run-time device selection (framework/backend.h).
 *
 * Runs in every build on every machine; what it expects depends on what
 * the library was built with and what the machine has, both asked at run
 * time: without a GPU "auto" must resolve to the CPU and "cuda" must fail
 * with the message saying whether the backend was not built or no device
 * is present; with one, "auto" must pick it. */
#include <criterion/criterion.h>
#include <string.h>

#include "framework/backend.h"
#include "framework/backend/cuda_api.h"

Test(backend, parses_the_three_device_names)
{
    const char *names[] = {"cpu", "cuda", "auto"};
    const rnnc_device want[] = {RNNC_DEVICE_CPU, RNNC_DEVICE_CUDA, RNNC_DEVICE_AUTO};
    for (int i = 0; i < 3; i++) {
        rnnc_device d = RNNC_DEVICE_COUNT;
        cr_expect_eq(rnnc_device_parse(names[i], &d), RNNC_OK);
        cr_expect_eq(d, want[i]);
        cr_expect_str_eq(rnnc_device_name(d), names[i]);
    }
    cr_expect_str_eq(rnnc_device_name((rnnc_device)42), "unknown");
}

Test(backend, rejects_other_names_listing_the_valid_ones)
{
    const char *bad[] = {"gpu", "CUDA", "", "cuda:0"};
    for (int i = 0; i < 4; i++) {
        rnnc_device d = RNNC_DEVICE_CPU;
        cr_expect_eq(rnnc_device_parse(bad[i], &d), RNNC_E_ARG, "'%s'", bad[i]);
        cr_expect(strstr(rnnc_last_error(), "valid: cpu, cuda, auto") != NULL, "%s",
                  rnnc_last_error());
        cr_expect(strstr(rnnc_last_error(), bad[i]) != NULL);
    }
    rnnc_device d;
    cr_expect_eq(rnnc_device_parse(NULL, &d), RNNC_E_ARG);
    cr_expect_eq(rnnc_device_resolve((rnnc_device)7, &d), RNNC_E_ARG);
}

Test(backend, cpu_is_always_there)
{
    cr_expect(rnnc_device_built(RNNC_DEVICE_CPU));
    cr_expect(rnnc_device_available(RNNC_DEVICE_CPU));
    cr_expect(rnnc_device_available(RNNC_DEVICE_AUTO));
    rnnc_device d = RNNC_DEVICE_CUDA;
    cr_expect_eq(rnnc_device_resolve(RNNC_DEVICE_CPU, &d), RNNC_OK);
    cr_expect_eq(d, RNNC_DEVICE_CPU);
    cr_expect_eq(rnnc_current_device(), RNNC_DEVICE_CPU, "the default device is the CPU");
}

Test(backend, built_means_a_table)
{
    const bool built = rnnc_device_built(RNNC_DEVICE_CUDA);
    const rnnc_cuda_api *t = rnnc_backend_cuda_table();
    cr_expect_eq(built, t != NULL);
    if (t) { /* every entry filled */
        cr_expect(t->device_count && t->device_describe && t->synchronize && t->stats &&
                  t->release_cache && t->shutdown && t->tensor_create && t->tensor_destroy &&
                  t->upload && t->download && t->fill && t->copy && t->activation &&
                  t->activation_backward && t->gru_create && t->gru_destroy &&
                  t->gru_set_weights && t->gru_forward && t->gru_backward && t->gru_zero_grad);
    }
}

Test(backend, auto_and_cuda_follow_what_is_present)
{
    const bool built = rnnc_device_built(RNNC_DEVICE_CUDA);
    const bool have = rnnc_device_available(RNNC_DEVICE_CUDA);
    cr_expect(built || !have, "available without being built");
    rnnc_device d = RNNC_DEVICE_COUNT;
    cr_assert_eq(rnnc_device_resolve(RNNC_DEVICE_AUTO, &d), RNNC_OK);
    cr_expect_eq(d, have ? RNNC_DEVICE_CUDA : RNNC_DEVICE_CPU);

    const rnnc_cuda_api *api = NULL;
    rnnc_status s = rnnc_device_resolve(RNNC_DEVICE_CUDA, &d);
    if (have) {
        cr_expect_eq(s, RNNC_OK);
        cr_expect_eq(d, RNNC_DEVICE_CUDA);
        cr_expect_eq(rnnc_backend_cuda(&api), RNNC_OK);
        int n = 0;
        cr_expect_eq(api->device_count(&n), RNNC_OK);
        cr_expect_geq(n, 1);
        return;
    }
    cr_expect_eq(s, RNNC_E_NODEV);
    const char *msg = rnnc_last_error();
    if (!built)
        cr_expect_str_eq(msg, "CUDA backend not built (configure with -DRNNC_CUDA=ON)");
    else
        cr_expect(strncmp(msg, "no CUDA device present", 22) == 0, "message: %s", msg);
    cr_expect_eq(rnnc_backend_cuda(&api), RNNC_E_NODEV);
}

Test(backend, set_device_resolves_and_keeps_the_old_one_on_failure)
{
    cr_assert_eq(rnnc_set_device(RNNC_DEVICE_CPU), RNNC_OK);
    cr_expect_eq(rnnc_current_device(), RNNC_DEVICE_CPU);
    const bool have = rnnc_device_available(RNNC_DEVICE_CUDA);
    cr_assert_eq(rnnc_set_device(RNNC_DEVICE_AUTO), RNNC_OK);
    cr_expect_eq(rnnc_current_device(), have ? RNNC_DEVICE_CUDA : RNNC_DEVICE_CPU,
                 "auto is stored resolved, never as 'auto'");
    cr_assert_eq(rnnc_set_device(RNNC_DEVICE_CPU), RNNC_OK);
    if (!have) {
        cr_expect_eq(rnnc_set_device(RNNC_DEVICE_CUDA), RNNC_E_NODEV);
        cr_expect_eq(rnnc_current_device(), RNNC_DEVICE_CPU);
    }
}

Test(backend, asking_for_availability_keeps_the_last_error)
{
    rnnc_fail(RNNC_E_ARG, "an earlier failure");
    (void)rnnc_device_available(RNNC_DEVICE_CUDA);
    cr_expect_str_eq(rnnc_last_error(), "an earlier failure");
    rnnc_clear_error();
    (void)rnnc_device_available(RNNC_DEVICE_CUDA);
    cr_expect_str_eq(rnnc_last_error(), "");
}
