/* cmd_bench_common.c - what the CPU and GPU benches of `rnnc bench gru|lstm`
 * share (apps/cmd_bench.h): the timer, the median, the inputs, and the peers
 * (each a Python script run as a process of its own per shape and round,
 * read line by line). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* popen, clock_gettime */
#endif
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apps/cmd_bench.h"
#include "framework/tensor.h"

double rnnc__bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double rnnc__bench_median(double *v, int n)
{
    if (n < 1)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void rnnc__bench_fill_uniform(rnnc_tensor *t, rnnc_rng *rng)
{
    double *tmp = malloc(t->numel * sizeof *tmp);
    if (!tmp)
        return;
    rnnc_rng_uniform(rng, tmp, t->numel);
    for (size_t i = 0; i < t->numel; i++)
        rnnc_f32(t)[i] = (float)(2.0 * tmp[i] - 1.0);
    free(tmp);
}

bool rnnc__bench_run_peer(bench_peer *p, bench_shape s, double min_time, const char *threads_arg,
                          const int *threads, int n_threads, double *fwd, double *train)
{
    char cmd[2048], line[256], skip[256] = "";
    for (int i = 0; i < n_threads; i++)
        fwd[i] = train[i] = NAN;
    if (p->skipped)
        return false;
    snprintf(cmd, sizeof cmd,
             "'%s' '%s' %s --shapes '%lld,%lld,%lld,%lld' --threads %s --min-time %.2f 2>/dev/null",
             p->python, p->script, p->args, (long long)s.B, (long long)s.T, (long long)s.F,
             (long long)s.U, threads_arg, min_time);
    fflush(stdout);
    FILE *f = popen(cmd, "r");
    if (!f)
        return false;
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        long long b, t, fe, u;
        int th;
        double fm, tm;
        if (strncmp(line, "# skip: ", 8) == 0 && !skip[0]) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(skip, sizeof skip, "%.247s", line + 8);
        } else if (strncmp(line, "# version: ", 11) == 0 && !p->version[0]) {
            line[strcspn(line, "\n")] = '\0';
            const size_t len = strlen(line + 11);
            const size_t cap = sizeof p->version - 1;
            memcpy(p->version, line + 11, len < cap ? len : cap);
            p->version[len < cap ? len : cap] = '\0';
        } else if (sscanf(line, "%lld,%lld,%lld,%lld,%d,%lf,%lf", &b, &t, &fe, &u, &th, &fm, &tm) == 7)
            for (int i = 0; i < n_threads; i++)
                if (threads[i] == th) {
                    fwd[i] = fm;
                    train[i] = tm;
                    rows++;
                }
    }
    const int rc = pclose(f);
    if (skip[0] && rows == 0) {
        fprintf(stderr, "rnnc bench: peer '%s' skipped: %s\n", p->name, skip);
        p->skipped = p->warned = true;
        return false;
    }
    if ((rc != 0 || rows == 0) && !p->warned) {
        fprintf(stderr, "rnnc bench: peer '%s' (%s %s %s) failed at shape %lld,%lld,%lld,%lld (exit status %d, %d rows); its figures show '-' (run the command by hand to see why)\n",
                p->name, p->python, p->script, p->args, (long long)s.B, (long long)s.T,
                (long long)s.F, (long long)s.U, WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, rows);
        p->warned = true;
    }
    return rc == 0 && rows > 0;
}

bool rnnc__bench_peer_usable(const bench_peer *p)
{
    if (strchr(p->python, '/') && access(p->python, X_OK) != 0) {
        fprintf(stderr, "rnnc bench: peer '%s' skipped: no Python at '%s' (%s; give --python %s=PATH%s)\n",
                p->name, p->python, strerror(errno), p->name,
                strncmp(p->python, "/work/pvenv", 11) == 0 ? ", or make it with bench/setup_peers.sh" : "");
        return false;
    }
    if (access(p->script, R_OK) != 0) {
        fprintf(stderr, "rnnc bench: peer '%s' skipped: cannot read its script '%s' (%s; run from the repository root)\n",
                p->name, p->script, strerror(errno));
        return false;
    }
    return true;
}

const char *rnnc__bench_python_for(const char *opt, const char *name, char *buf, size_t cap)
{
    if (!opt)
        return NULL;
    if (!strchr(opt, '='))
        return opt;
    const size_t nl = strlen(name);
    for (const char *p = opt; *p;) {
        const char *end = strchr(p, ',');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            snprintf(buf, cap, "%.*s", (int)(len - nl - 1), p + nl + 1);
            return buf;
        }
        p += len + (end ? 1 : 0);
    }
    return NULL;
}
