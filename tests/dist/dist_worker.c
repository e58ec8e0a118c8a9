/* dist_worker.c - one rank of the data-parallel tests (test_distributed.c
 * starts it under mpirun):
 *   dist_worker CASE OUT [die|stall]
 * trains case CASE (dist_cases.c) over MPI_COMM_WORLD; rank 0 writes the
 * weights and the last epoch's logs to OUT as text ("n", the n values,
 * "ROWS total max vtotal vmax": the training rows all ranks / the busiest
 * rank read from the data file (0 without one), the same for validation
 * rows, then "name value" lines). die: rank 1 kills itself (SIGKILL) after its
 * second batch; stall: rank 1 stops answering (sleeps) there. A failed fit
 * ends every rank through rnnc_comm_abort. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dist/dist_cases.h"

/* Under ASan, test_distributed gives the ranks tests/dist/lsan_mpi.supp. */

static const char *g_fault = "";

static void fault_hook(int rank, int step)
{
    if (rank != 1 || step != 1)
        return;
    if (strcmp(g_fault, "die") == 0)
        raise(SIGKILL);
    if (strcmp(g_fault, "stall") == 0) {
        struct timespec ts = {600, 0};
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: dist_worker CASE OUT [die|stall]\n");
        return 2;
    }
    if (argc > 3)
        g_fault = argv[3];
    rnnc_comm *comm;
    if (rnnc_comm_world(&comm)) {
        fprintf(stderr, "dist_worker: %s\n", rnnc_last_error());
        return 1;
    }
    dist_result r;
    if (dist_case_run(argv[1], comm, *g_fault ? fault_hook : NULL, &r)) {
        char msg[700];
        snprintf(msg, sizeof msg, "dist_worker: the case failed (%s); stopping every rank", rnnc_last_error());
        rnnc_comm_abort(comm, 3, msg);
        rnnc_comm_destroy(comm);
        return 3;
    }
    /* rows read from the file by all ranks, and by the busiest one */
    int64_t rows[4] = {r.rows_read, r.val_rows_read, r.rows_read, r.val_rows_read};
    if (rnnc_comm_allreduce_sum(comm, &rows[0], 2, RNNC_I64) || rnnc_comm_allreduce_max(comm, &rows[2], 2, RNNC_I64)) {
        rnnc_comm_abort(comm, 3, "dist_worker: counting the rows read failed");
        return 3;
    }
    int rc = 0;
    if (rnnc_comm_rank(comm) == 0) {
        FILE *f = fopen(argv[2], "w");
        if (!f) {
            perror(argv[2]);
            rc = 1;
        } else {
            fprintf(f, "%zu\n", r.n);
            for (size_t i = 0; i < r.n; i++)
                fprintf(f, "%.17g\n", r.w[i]);
            fprintf(f, "ROWS %lld %lld %lld %lld\n", (long long)rows[0], (long long)rows[2], (long long)rows[1],
                    (long long)rows[3]);
            for (int i = 0; i < r.logs.n; i++)
                fprintf(f, "%s %.17g\n", r.logs.names[i], r.logs.values[i]);
            rc = fclose(f) != 0;
        }
    }
    dist_result_free(&r);
    rnnc_comm_destroy(comm);
    return rc;
}
