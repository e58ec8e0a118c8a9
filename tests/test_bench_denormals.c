/* test_bench_denormals.c - `rnnc bench gru --denormals ab` (issue 13's
 * denormal A/B) runs end to end on a tiny shape: it prints the measured
 * subnormal cost of this CPU and one row per shape with both sides, and
 * the speed rows print the page faults per call and one core's measured
 * FMA peak beside OpenBLAS's and small_sgemm's rates; a bad --denormals value
 * is a usage error naming the valid ones, and so is --peer keras for the
 * LSTM (the Keras peer times the GRU only). The figures themselves are
 * measured by hand (README, "Performance"), not asserted here. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers/program_dir.h"
#include "helpers/run_program.h"

TestSuite(bench_denormals, .timeout = 120);

Test(bench_denormals, ab_prints_both_sides)
{
    const char *args[] = {"bench", "gru", "--denormals", "ab", "--shapes", "2,3,4,5", "--rounds",
                          "1", "--min-time", "0.01", "--threads", "1", NULL};
    rnnc_test_run r = rnnc_test_run_rnnc(args);
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_expect(strstr(r.out, "# rnnc bench gru --denormals ab: kernel=fused"), "%s", r.out);
    cr_expect(strstr(r.out, "on subnormals takes"), "no CPU figure:\n%s", r.out);
    cr_expect(strstr(r.out, "trn_keep trn_flush"), "no header:\n%s", r.out);
    cr_expect(strstr(r.out, "    2    3    4    5 |"), "no row for the shape:\n%s", r.out);
    rnnc_test_run_free(&r);
}

Test(bench_denormals, speed_rows_print_page_faults)
{
    const char *args[] = {"bench", "gru", "--denormals", "keep", "--shapes", "2,3,4,5", "--rounds",
                          "1", "--min-time", "0.01", "--threads", "1", "--peer", "none", NULL};
    rnnc_test_run r = rnnc_test_run_rnnc(args);
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_expect(strstr(r.out, "minor page faults per call: fwd "), "%s", r.out);
    cr_expect(strstr(r.out, "# one core: float32 FMA peak "), "no FMA peak line:\n%s", r.out);
    cr_expect(strstr(r.out, "one core, GF/s (% of FMA peak): step product sgemm "), "%s", r.out);
    rnnc_test_run_free(&r);
}

Test(bench_denormals, bad_value_is_a_usage_error)
{
    const char *args[] = {"bench", "gru", "--denormals", "sometimes", "--peer", "none", NULL};
    rnnc_test_run r = rnnc_test_run_rnnc(args);
    cr_expect_eq(r.code, 2, "exit %d", r.code);
    cr_expect(strstr(r.err, "--denormals must be 'flush', 'keep' or 'ab', got 'sometimes'"), "%s", r.err);
    rnnc_test_run_free(&r);
}

Test(bench_denormals, keras_peer_is_for_the_gru_only)
{
    const char *args[] = {"bench", "lstm", "--peer", "keras", "--shapes", "2,3,4,5", NULL};
    rnnc_test_run r = rnnc_test_run_rnnc(args);
    cr_expect_eq(r.code, 2, "exit %d", r.code);
    cr_expect(strstr(r.err, "--peer keras: there is a Keras peer for the GRU only"), "%s", r.err);
    rnnc_test_run_free(&r);
}
