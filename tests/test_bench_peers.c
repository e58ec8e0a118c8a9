/* test_bench_peers.c - `rnnc bench gru|lstm --peer LIST|all` (issue 13's
 * peers): a peer whose Python is missing is skipped with one line naming
 * it and the path, per-peer --python NAME=PATH reaches the right peer, an
 * unknown peer is a usage error, `--peer all` for the LSTM leaves out the
 * GRU-only Keras peer, and with several peers the table shows each one's
 * figure and names the fastest. The peers here are fake: a shell script
 * given as --python prints fixed CSV rows (the protocol of
 * ../shared/bench/torch_gru_bench.py), so the fastest peer is known by
 * hand; CI has no Python. The real figures are measured by hand (README,
 * "Performance"). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers/program_dir.h"
#include "helpers/run_program.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

TestSuite(bench_peers, .timeout = 120);

Test(bench_peers, all_with_missing_pythons_skips_each_saying_so)
{
    const char *args[] = {"bench", "gru", "--peer", "all", "--python", "/nonexistent/python3",
                          "--shapes", "2,3,4,5", "--rounds", "1", "--min-time", "0.01",
                          "--threads", "1", NULL};
    rnnc_test_run r = rnnc_test_run_rnnc(args);
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    const char *names[] = {"torch", "torch2", "compile", "keras", "ort"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "rnnc bench: peer '%s' skipped: no Python at '/nonexistent/python3'",
                 names[i]);
        cr_expect(strstr(r.err, want), "no line '%s' in stderr:\n%s", want, r.err);
    }
    cr_expect_eq(rnnc_test_count_lines(r.err), 5, "one line per peer:\n%s", r.err);
    cr_expect(strstr(r.out, "# peer: none"), "%s", r.out);
    cr_expect(strstr(r.out, "    2    3    4    5 |"), "no row for the shape:\n%s", r.out);
    rnnc_test_run_free(&r);
}

Test(bench_peers, python_per_peer_reaches_that_peer)
{
    const char *args[] = {"bench", "gru", "--peer", "torch2,ort", "--python",
                          "ort=/nowhere/ort-python,torch2=/nowhere/t2,compile=/nowhere/c",
                          "--shapes", "2,3,4,5",
                          "--rounds", "1", "--min-time", "0.01", "--threads", "1", NULL};
    rnnc_test_run r = rnnc_test_run_rnnc(args);
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_expect(strstr(r.err, "peer 'torch2' skipped: no Python at '/nowhere/t2'"), "%s", r.err);
    /* torch2 brings torch.compile's peer too */
    cr_expect(strstr(r.err, "peer 'compile' skipped: no Python at '/nowhere/c'"), "%s", r.err);
    cr_expect(strstr(r.err, "peer 'ort' skipped: no Python at '/nowhere/ort-python'"), "%s", r.err);
    rnnc_test_run_free(&r);
}

Test(bench_peers, unknown_peer_is_a_usage_error)
{
    const char *args[] = {"bench", "gru", "--peer", "torch2,jax", "--shapes", "2,3,4,5", NULL};
    rnnc_test_run r = rnnc_test_run_rnnc(args);
    cr_expect_eq(r.code, 2, "exit %d", r.code);
    cr_expect(strstr(r.err, "--peer: unknown peer 'jax'") && strstr(r.err, "ort") &&
                  strstr(r.err, "all"),
              "%s", r.err);
    rnnc_test_run_free(&r);
}

Test(bench_peers, all_for_the_lstm_leaves_keras_out)
{
    const char *args[] = {"bench", "lstm", "--peer", "all", "--python", "/nonexistent/python3",
                          "--shapes", "2,3,4,5", "--rounds", "1", "--min-time", "0.01",
                          "--threads", "1", NULL};
    rnnc_test_run r = rnnc_test_run_rnnc(args);
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_expect(strstr(r.err, "peer 'ort' skipped"), "%s", r.err);
    cr_expect(!strstr(r.err, "keras"), "keras is GRU only:\n%s", r.err);
    rnnc_test_run_free(&r);
}

/* Two fake peers: "ort" forward 0.5 s and no training step, "torch2"
 * forward 1 s and training 2 s; "compile" fails. The fastest forward is
 * ort's, the fastest training step torch2's, both far slower than rnnc on
 * this tiny shape. */
Test(bench_peers, several_peers_table_names_the_fastest)
{
    char dir[512];
    rnnc_test_own_dir(dir, sizeof dir, "test_bench_peers");
    char py[600];
    rnnc_test_fake_python(dir,
                          "case \"$1 $2 $3\" in\n"
                          "*ort*) echo '# version: fake ort 9'; echo 'B,T,F,U,threads,fwd_ms,train_ms';"
                          " echo '2,3,4,5,1,500.0,nan';;\n"
                          "*compile*) echo 'boom' >&2; exit 3;;\n"
                          "*) echo '2,3,4,5,1,1000.0,2000.0';;\n"
                          "esac\n",
                          py, sizeof py);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/bench", dir);
    mkdir(sub, 0777);
    rnnc_test_write_file(dir, "bench/torch2_rnn_bench.py", "", false);
    rnnc_test_write_file(dir, "bench/ort_rnn_bench.py", "", false);
    const char *args[] = {"bench", "gru", "--peer", "torch2,ort", "--python", py, "--shapes",
                          "2,3,4,5", "--rounds", "2", "--min-time", "0.01", "--threads", "1", NULL};
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, dir, NULL, args);
    rnnc_test_rm_tree(dir);
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_expect(strstr(r.out, "torch2 ms t compile ms t    ort ms t | best"), "no header:\n%s", r.out);
    const char *fwd = strstr(r.out, "    2    3    4    5  fwd   |");
    const char *train = strstr(r.out, "                      train |");
    cr_assert(fwd && train, "no fwd / train lines:\n%s", r.out);
    const char *fwd_end = strchr(fwd, '\n'), *train_end = strchr(train, '\n');
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(fwd_end - fwd), fwd);
    cr_expect(strstr(line, "      1000 1         - -       500 1 | ort "), "fwd line: %s", line);
    snprintf(line, sizeof line, "%.*s", (int)(train_end - train), train);
    cr_expect(strstr(line, "      2000 1         - -         - - | torch2 "), "train line: %s", line);
    cr_expect(strstr(r.out, "# peer ort version: fake ort 9"), "%s", r.out);
    cr_expect(strstr(r.err, "rnnc bench: peer 'compile'") && strstr(r.err, "failed at shape 2,3,4,5 (exit status 3"),
              "%s", r.err);
    cr_expect_eq(rnnc_test_count_lines(r.err), 1, "the failure said once:\n%s", r.err);
    rnnc_test_run_free(&r);
}
