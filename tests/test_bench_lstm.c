/* test_bench_lstm.c - `rnnc bench lstm` runs end to end on a tiny shape
 * without its peer (prints a row with the shape, exits 0), and refuses an
 * unknown layer naming both benchmarks. The speed claims themselves are
 * measured by hand (README, "Performance"), not asserted here. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers/program_dir.h"
#include "helpers/run_program.h"

TestSuite(bench_lstm, .timeout = 120);

Test(bench_lstm, runs_on_a_tiny_shape_without_peer)
{
    const char *args[] = {"bench", "lstm", "--shapes", "2,3,4,5", "--rounds", "1", "--min-time",
                          "0.01", "--threads", "1", "--peer", "none", NULL};
    rnnc_test_run r = rnnc_test_run_rnnc(args);
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_expect(strstr(r.out, "# rnnc bench lstm: kernel=fused"), "stdout: %s\nstderr: %s", r.out, r.err);
    cr_expect(strstr(r.out, "    2    3    4    5 |"), "no row for the shape:\n%s", r.out);
    rnnc_test_run_free(&r);
}

Test(bench_lstm, unknown_benchmark_names_both)
{
    const char *args[] = {"bench", "conv", "--peer", "none", NULL};
    rnnc_test_run r = rnnc_test_run_rnnc(args);
    cr_expect_eq(r.code, 2, "exit %d", r.code);
    cr_expect(strstr(r.err, "'gru'") && strstr(r.err, "'lstm'"), "%s", r.err);
    rnnc_test_run_free(&r);
}
