/* cmd_bench_dist.c - `rnnc bench dist`: data-parallel training throughput
 * (docs/distributed.md). For each shape (batch B, steps T, features F,
 * units U) a GRU(U) + Dense(1) model trains on random data with the global
 * batch B split over the ranks (Adam, mse); the bench prints steps per
 * second at each rank count and the share of a step spent inside
 * collectives (the small allreduce of each step's divisors and metrics,
 * then waiting for the gradient buckets: time another rank takes to
 * arrive counts too), and the CPU time each rank got per second of the
 * run (below 100 % the cores were shared with something else), and the
 * steps per CPU-second of all ranks against N = 1 (the parallel efficiency
 * whatever share of the machine the run got).
 *
 * Run plainly it starts `mpirun -np N` on itself for each N of --np (one
 * BLAS thread per rank, --oversubscribe --bind-to none, and as root the
 * OMPI_ALLOW_RUN_AS_ROOT variables set for those runs); the ranks run the
 * hidden --worker mode. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apps/cli.h"
#include "apps/commands.h"
#include "framework/comm.h"
#include "framework/random.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "optim/trainer.h"

static rnnc_cli_opt dist_opts[] = {
    {"--shapes", "B,T,F,U;...", "shapes to run (default 64,100,128,256;128,50,128,512)", NULL},
    {"--np", "N,...", "rank counts (default 1,2)", NULL},
    {"--steps", "K", "timed training steps per shape (default 20, after 2 warm-up steps)", NULL},
    {"--worker", NULL, "(internal) be one rank of the measurement", NULL},
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd dist_cmd = {
    .name = "bench dist",
    .usage = "[--shapes B,T,F,U;...] [--np N,...] [--steps K]",
    .summary = "Data-parallel training throughput over MPI at several rank counts.",
    .details = "For each shape: steps/s of GRU(U)+Dense(1) training with the global batch B split\n"
               "over the ranks, one BLAS thread per rank, and the share of a step spent in\n"
               "collectives (allreduce, waits included). Needs an MPI build and mpirun.\n\n"
               "Example:\n"
               "  rnnc bench dist --np 1,2",
    .min_pos = 0,
    .max_pos = 0,
    .opts = dist_opts,
};

typedef struct dist_shape {
    int64_t b, t, f, u;
} dist_shape;

static int parse_shapes(const char *text, dist_shape *out, int cap)
{
    int n = 0;
    const char *p = text;
    while (*p && n < cap) {
        long long b, t, f, u;
        int used = 0;
        if (sscanf(p, "%lld,%lld,%lld,%lld%n", &b, &t, &f, &u, &used) != 4 || b < 1 || t < 1 || f < 1 || u < 1 ||
            b > 1 << 20 || t > 1 << 20 || f > 1 << 16 || u > 1 << 16)
            return -1;
        out[n++] = (dist_shape){b, t, f, u};
        p += used;
        if (*p == ';')
            p++;
        else if (*p)
            return -1;
    }
    return *p ? -1 : n;
}

/* One shape on this rank: *sps steps per second, *share the part in collectives. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One shape on this rank: *sps steps per second, *share the part in
 * collectives, *cpu the CPU time this process got per second of the run. */
static rnnc_status run_shape(rnnc_comm *comm, const dist_shape *sh, int64_t steps, double *sps, double *share,
                             double *cpu)
{
    char spec[1024];
    snprintf(spec, sizeof spec,
             "class_name: Sequential\n"
             "config:\n"
             "  name: bench\n"
             "  layers:\n"
             "    - {class_name: InputLayer, config: {batch_shape: [null, %lld, %lld]}}\n"
             "    - {class_name: GRU, config: {name: gru, units: %lld}}\n"
             "    - {class_name: Dense, config: {name: dense, units: 1}}\n",
             (long long)sh->t, (long long)sh->f, (long long)sh->u);
    rnnc_cfg *cfg = NULL, *opt = NULL, *loss = NULL;
    rnnc_model *m = NULL;
    rnnc_trainer *tr = NULL;
    rnnc_tensor *x = NULL, *y = NULL;
    rnnc_status s;
    if ((s = rnnc_spec_read_string(spec, strlen(spec), "bench", &cfg)) ||
        (s = rnnc_model_from_config(cfg, NULL, &m)) ||
        (s = rnnc_spec_read_string("adam", 4, "optimizer", &opt)) ||
        (s = rnnc_spec_read_string("mse", 3, "loss", &loss)) || (s = rnnc_trainer_create(m, &tr)) ||
        (s = rnnc_trainer_compile_config(tr, opt, loss, NULL, NULL)) || (s = rnnc_trainer_set_comm(tr, comm)))
        goto done;
    rnnc_shape xs = RNNC_SHAPE(sh->b, sh->t, sh->f), ys = RNNC_SHAPE(sh->b, 1);
    if ((s = rnnc_tensor_create(RNNC_F32, &xs, &x)) || (s = rnnc_tensor_create(RNNC_F32, &ys, &y)))
        goto done;
    rnnc_rng r;
    rnnc_rng_init(&r, 11);
    double *u = malloc(x->numel * sizeof *u);
    if (!u) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto done;
    }
    rnnc_rng_uniform(&r, u, x->numel);
    for (size_t i = 0; i < x->numel; i++)
        ((float *)x->data)[i] = (float)(u[i] - 0.5);
    for (size_t i = 0; i < y->numel; i++)
        ((float *)y->data)[i] = (float)u[i];
    free(u);
    for (int k = 0; k < 2 && !s; k++)
        s = rnnc_trainer_train_on_batch(tr, x, y, NULL, NULL);
    if (s)
        goto done;
    double t0 = 0;
    if ((s = rnnc_comm_allreduce_sum(comm, &t0, 1, RNNC_F64))) /* start together */
        goto done;
    rnnc_comm_reset_busy(comm);
    t0 = rnnc_cli_now();
    const double c0 = cpu_seconds();
    for (int64_t k = 0; k < steps && !s; k++)
        s = rnnc_trainer_train_on_batch(tr, x, y, NULL, NULL);
    const double secs = rnnc_cli_now() - t0;
    *cpu = secs > 0 ? (cpu_seconds() - c0) / secs : 0;
    double busy = rnnc_comm_busy_seconds(comm);
    *sps = secs > 0 ? (double)steps / secs : 0;
    *share = secs > 0 ? busy / secs : 0;
done:
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_cfg_destroy(cfg);
    rnnc_cfg_destroy(opt);
    rnnc_cfg_destroy(loss);
    return s;
}

/* --worker: one rank; rank 0 prints "RESULT B T F U N steps/s share" lines. */
static int worker(const dist_shape *shapes, int n, int64_t steps)
{
    rnnc_comm *comm;
    rnnc_status s = rnnc_comm_world(&comm);
    if (s)
        return rnnc_cli_fail(&dist_cmd, s);
    for (int i = 0; i < n && !s; i++) {
        double sps = 0, share = 0, cpu = 0;
        if ((s = run_shape(comm, &shapes[i], steps, &sps, &share, &cpu)))
            break;
        /* the largest rank's share (load imbalance shows as waiting elsewhere); the mean CPU per rank */
        double v[1] = {share}, c[1] = {cpu / rnnc_comm_size(comm)};
        if ((s = rnnc_comm_allreduce_max(comm, v, 1, RNNC_F64)) || (s = rnnc_comm_allreduce_sum(comm, c, 1, RNNC_F64)))
            break;
        if (rnnc_comm_rank(comm) == 0) {
            printf("RESULT %lld %lld %lld %lld %d %.3f %.4f %.3f\n", (long long)shapes[i].b, (long long)shapes[i].t,
                   (long long)shapes[i].f, (long long)shapes[i].u, rnnc_comm_size(comm), sps, v[0], c[0]);
            fflush(stdout);
        }
    }
    int code = RNNC_EXIT_OK;
    if (s) {
        code = rnnc_cli_fail(&dist_cmd, s);
        rnnc_comm_abort(comm, code, "bench dist failed on this rank; stopping every rank");
    }
    rnnc_comm_destroy(comm);
    return code;
}

static void cpu_name(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            const char *c = strchr(line, ':');
            if (c) {
                snprintf(buf, cap, "%s", c + 2);
                buf[strcspn(buf, "\n")] = '\0';
            }
            break;
        }
    fclose(f);
}

int rnnc_cmd_bench_dist(int argc, char **argv)
{
    int rc = rnnc_cli_parse(&dist_cmd, argc, argv);
    if (rc >= 0)
        return rc;
    dist_shape shapes[16];
    const char *v = rnnc_cli_get(&dist_cmd, "--shapes");
    int n = parse_shapes(v ? v : "64,100,128,256;128,50,128,512", shapes, 16);
    if (n <= 0) {
        rnnc_cli_error(&dist_cmd, "--shapes '%s': give B,T,F,U groups separated by ';' (positive sizes)", v);
        return RNNC_EXIT_USAGE;
    }
    int64_t steps = 20;
    if ((v = rnnc_cli_get(&dist_cmd, "--steps")) && !rnnc_cli_int(&dist_cmd, "--steps", v, 1, 1000000, &steps))
        return RNNC_EXIT_USAGE;
    if (rnnc_cli_get(&dist_cmd, "--worker"))
        return worker(shapes, n, steps);

    if (!rnnc_comm_mpi_built()) {
        rnnc_cli_error(&dist_cmd, "this rnnc was built without MPI (install libopenmpi-dev and configure with -DRNNC_MPI=ON)");
        return RNNC_EXIT_FAIL;
    }
    int nps[8], nnp = 0;
    const char *np_text = rnnc_cli_get(&dist_cmd, "--np");
    for (const char *p = np_text ? np_text : "1,2"; *p && nnp < 8;) {
        char *end;
        long k = strtol(p, &end, 10);
        if (end == p || k < 1 || k > 256 || (*end && *end != ',')) {
            rnnc_cli_error(&dist_cmd, "--np '%s': give rank counts such as 1,2", np_text);
            return RNNC_EXIT_USAGE;
        }
        nps[nnp++] = (int)k;
        p = *end ? end + 1 : end;
    }
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        rnnc_cli_error(&dist_cmd, "cannot find the rnnc program (/proc/self/exe)");
        return RNNC_EXIT_FAIL;
    }
    self[len] = '\0';
    if (geteuid() == 0) {
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    }
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    setenv("OMP_NUM_THREADS", "1", 1);
    char cpu[256];
    cpu_name(cpu, sizeof cpu);
    printf("rnnc bench dist: GRU(U) + Dense(1) training, Adam, mse, global batch B split over N ranks;\n"
           "%lld timed steps per shape, 1 BLAS thread per rank; %s, %ld cores online\n",
           (long long)steps, cpu, sysconf(_SC_NPROCESSORS_ONLN));
    printf("%6s %5s %5s %5s %3s %10s %8s %14s %9s %12s\n", "B", "T", "F", "U", "N", "steps/s", "speedup",
           "in allreduce", "cpu/rank", "per cpu-s");
    double base[16] = {0}, base_cpu[16] = {0};
    int code = RNNC_EXIT_OK;
    for (int j = 0; j < nnp; j++) {
        char cmdline[8192];
        snprintf(cmdline, sizeof cmdline,
                 "mpirun --oversubscribe --bind-to none -np %d -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS '%s' bench dist "
                 "--worker --steps %lld --shapes '%s'",
                 nps[j], self, (long long)steps, rnnc_cli_get(&dist_cmd, "--shapes") ? rnnc_cli_get(&dist_cmd, "--shapes")
                                                                                    : "64,100,128,256;128,50,128,512");
        FILE *p = popen(cmdline, "r");
        if (!p) {
            rnnc_cli_error(&dist_cmd, "cannot start mpirun");
            return RNNC_EXIT_FAIL;
        }
        char line[512];
        int got = 0;
        while (fgets(line, sizeof line, p)) {
            long long b, t, f, u;
            int np;
            double sps, share, cpu_share;
            if (sscanf(line, "RESULT %lld %lld %lld %lld %d %lf %lf %lf", &b, &t, &f, &u, &np, &sps, &share, &cpu_share) !=
                8) {
                fputs(line, stdout);
                continue;
            }
            /* steps per CPU-second of all ranks: what the ranks did with the CPU they got */
            const double per_cpu = cpu_share > 0 ? sps / (np * cpu_share) : 0;
            if (nps[j] == 1) {
                base[got] = sps;
                base_cpu[got] = per_cpu;
            }
            char sp[32] = "-", pc[32] = "-";
            if (base[got] > 0)
                snprintf(sp, sizeof sp, "%.2fx", sps / base[got]);
            if (base_cpu[got] > 0)
                snprintf(pc, sizeof pc, "%.2fx", per_cpu / base_cpu[got]);
            printf("%6lld %5lld %5lld %5lld %3d %10.2f %8s %13.1f%% %8.0f%% %12s\n", b, t, f, u, np, sps, sp,
                   100 * share, 100 * cpu_share, pc);
            fflush(stdout);
            got++;
        }
        int st = pclose(p);
        if (st != 0 || got != n) {
            fprintf(stderr, "rnnc bench dist: mpirun -np %d failed (status %d)\n", nps[j], st);
            code = RNNC_EXIT_FAIL;
        }
    }
    return code;
}
