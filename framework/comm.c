/* comm.c - collectives over Open MPI (RNNC_HAVE_MPI) or a one-rank
 * stand-in (comm.h).
 *
 * Every collective is a non-blocking MPI call completed by polling
 * MPI_Test against a deadline, so a dead or stopped rank turns into an
 * error after the timeout instead of a hang. */
#define _POSIX_C_SOURCE 200809L
#include "framework/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef RNNC_HAVE_MPI
#include <mpi.h>
#endif

struct rnnc_comm {
    int rank, size;
    double timeout;
    double busy;
    bool stand_in; /* rnnc_comm_set_stand_in */
#ifdef RNNC_HAVE_MPI
    bool mpi;
    MPI_Comm comm;
    MPI_Comm ops;  /* rnnc_comm_sum_op's collectives (a second duplicate) */
    MPI_Request pending[RNNC_COMM_MAX_PENDING];
    int n_pending;
#endif
};

static double default_timeout(void)
{
    const char *e = getenv("RNNC_COMM_TIMEOUT");
    if (e && *e) {
        char *end;
        double v = strtod(e, &end);
        if (*end == '\0' && v > 0)
            return v;
    }
    return 600.0;
}

static rnnc_status comm_new(rnnc_comm **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return rnnc_fail(RNNC_E_NOMEM, "communicator: out of memory");
    (*out)->size = 1;
    (*out)->timeout = default_timeout();
    return RNNC_OK;
}

bool rnnc_comm_mpi_built(void)
{
#ifdef RNNC_HAVE_MPI
    return true;
#else
    return false;
#endif
}

rnnc_status rnnc_comm_single(rnnc_comm **out) { return comm_new(out); }

int rnnc_comm_rank(const rnnc_comm *c) { return c ? c->rank : 0; }
int rnnc_comm_size(const rnnc_comm *c) { return c ? c->size : 1; }

void rnnc_comm_set_timeout(rnnc_comm *c, double seconds)
{
    if (c && seconds > 0)
        c->timeout = seconds;
}

void rnnc_comm_set_stand_in(rnnc_comm *c, bool on)
{
    if (c)
        c->stand_in = on;
}

double rnnc_comm_timeout(const rnnc_comm *c) { return c ? c->timeout : 0; }
double rnnc_comm_busy_seconds(const rnnc_comm *c) { return c ? c->busy : 0; }

void rnnc_comm_reset_busy(rnnc_comm *c)
{
    if (c)
        c->busy = 0;
}

/* rnnc_comm_abort's line on stderr: what stdio holds first, then the line
 * in one write(2), so that it reaches mpirun whole, never interleaved with
 * another rank's. */
static void say_abort(const rnnc_comm *c, const char *message)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "rnnc: rank %d: %s\n", rnnc_comm_rank(c), message ? message : "");
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    fflush(stdout);
    fflush(stderr);
    for (ssize_t at = 0, w; at < n; at += w)
        if ((w = write(STDERR_FILENO, line + at, (size_t)(n - at))) <= 0)
            return;
}

static bool reducible(rnnc_dtype dt) { return dt == RNNC_F32 || dt == RNNC_F64 || dt == RNNC_I64; }

#ifdef RNNC_HAVE_MPI

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Communicators rnnc made while it owns MPI (it initialized it). */
static int g_owned_comms;
static bool g_we_initialized;

static MPI_Datatype mpi_type(rnnc_dtype dt)
{
    switch (dt) {
    case RNNC_F32: return MPI_FLOAT;
    case RNNC_F64: return MPI_DOUBLE;
    default: return MPI_INT64_T;
    }
}

static rnnc_status mpi_fail(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "error %d", rc);
    return rnnc_fail(RNNC_E_IO, "%s: MPI failed: %s", what, msg);
}

static rnnc_status wrap(MPI_Comm base, rnnc_comm **out)
{
    RNNC_TRY(comm_new(out));
    rnnc_comm *c = *out;
    int rc = MPI_Comm_dup(base, &c->comm);
    if (rc != MPI_SUCCESS) {
        free(c);
        *out = NULL;
        return mpi_fail(rc, "communicator");
    }
    rc = MPI_Comm_dup(base, &c->ops);
    if (rc != MPI_SUCCESS) {
        MPI_Comm_free(&c->comm);
        free(c);
        *out = NULL;
        return mpi_fail(rc, "communicator");
    }
    /* Errors come back as codes (turned into messages), never abort here. */
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(c->ops, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->comm, &c->rank);
    MPI_Comm_size(c->comm, &c->size);
    c->mpi = true;
    return RNNC_OK;
}

rnnc_status rnnc_comm_world(rnnc_comm **out)
{
    int inited = 0, finalized = 0;
    *out = NULL;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (finalized)
        return rnnc_fail(RNNC_E_STATE, "communicator: MPI is already finalized");
    if (!inited) {
        int provided;
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS)
            return rnnc_fail(RNNC_E_IO, "communicator: MPI_Init failed (error %d)", rc);
        g_we_initialized = true;
    }
    rnnc_status s = wrap(MPI_COMM_WORLD, out);
    if (s == RNNC_OK && g_we_initialized)
        g_owned_comms++;
    return s;
}

rnnc_status rnnc_comm_from_mpi(const void *mpi_comm, rnnc_comm **out)
{
    int inited = 0;
    *out = NULL;
    if (!mpi_comm)
        return rnnc_fail(RNNC_E_ARG, "communicator: the MPI_Comm pointer is NULL");
    MPI_Initialized(&inited);
    if (!inited)
        return rnnc_fail(RNNC_E_STATE, "communicator: MPI is not initialized (call MPI_Init first, or use rnnc_comm_world)");
    rnnc_status s = wrap(*(const MPI_Comm *)mpi_comm, out);
    if (s == RNNC_OK && g_we_initialized)
        g_owned_comms++;
    return s;
}

/* Polls req until done or the deadline; RNNC_E_IO on timeout. */
static rnnc_status complete(rnnc_comm *c, MPI_Request *req, const char *what)
{
    const double t0 = now_seconds(), deadline = t0 + c->timeout;
    long spins = 0;
    for (;;) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            c->busy += now_seconds() - t0;
            return mpi_fail(rc, what);
        }
        if (done)
            break;
        if (++spins > 2000) {
            /* Let an oversubscribed core run the other ranks. */
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
            if (now_seconds() > deadline) {
                c->busy += now_seconds() - t0;
                return rnnc_fail(RNNC_E_IO,
                                 "%s: rank %d waited %g s for the other ranks (a rank died or stalled; "
                                 "RNNC_COMM_TIMEOUT sets the limit)",
                                 what, c->rank, c->timeout);
            }
        }
    }
    c->busy += now_seconds() - t0;
    return RNNC_OK;
}

static rnnc_status allreduce_on(rnnc_comm *c, MPI_Comm mc, void *buf, size_t n, rnnc_dtype dt, MPI_Op op,
                                const char *what)
{
    if (!c || c->size == 1 || n == 0)
        return RNNC_OK;
    if (!reducible(dt))
        return rnnc_fail(RNNC_E_DTYPE, "%s: cannot reduce %s", what, rnnc_dtype_name(dt));
    if (n > (size_t)0x7fffffff)
        return rnnc_fail(RNNC_E_ARG, "%s: %zu elements is over MPI's count limit", what, n);
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, mpi_type(dt), op, mc, &req);
    if (rc != MPI_SUCCESS)
        return mpi_fail(rc, what);
    return complete(c, &req, what);
}

static rnnc_status allreduce(rnnc_comm *c, void *buf, size_t n, rnnc_dtype dt, MPI_Op op, const char *what)
{
    return allreduce_on(c, c ? c->comm : MPI_COMM_NULL, buf, n, dt, op, what);
}

/* rnnc_comm_sum_op's reductions, on their own communicator. */
static rnnc_status op_allreduce(rnnc_comm *c, double *buf, size_t n)
{
    return allreduce_on(c, c ? c->ops : MPI_COMM_NULL, buf, n, RNNC_F64, MPI_SUM, "allreduce (layer statistics)");
}

rnnc_status rnnc_comm_allreduce_sum(rnnc_comm *c, void *buf, size_t n, rnnc_dtype dtype)
{
    return allreduce(c, buf, n, dtype, MPI_SUM, "allreduce");
}

rnnc_status rnnc_comm_allreduce_max(rnnc_comm *c, void *buf, size_t n, rnnc_dtype dtype)
{
    return allreduce(c, buf, n, dtype, MPI_MAX, "allreduce (max)");
}

rnnc_status rnnc_comm_broadcast(rnnc_comm *c, void *buf, size_t bytes, int root)
{
    if (!c || c->size == 1 || bytes == 0)
        return RNNC_OK;
    if (bytes > (size_t)0x7fffffff)
        return rnnc_fail(RNNC_E_ARG, "broadcast: %zu bytes is over MPI's count limit", bytes);
    MPI_Request req;
    int rc = MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, c->comm, &req);
    if (rc != MPI_SUCCESS)
        return mpi_fail(rc, "broadcast");
    return complete(c, &req, "broadcast");
}

rnnc_status rnnc_comm_iallreduce_sum(rnnc_comm *c, void *buf, size_t n, rnnc_dtype dtype)
{
    if (!c || c->size == 1 || n == 0)
        return RNNC_OK;
    if (!reducible(dtype) || n > (size_t)0x7fffffff)
        return rnnc_fail(RNNC_E_ARG, "allreduce: %zu %s values cannot be reduced", n, rnnc_dtype_name(dtype));
    if (c->n_pending == RNNC_COMM_MAX_PENDING)
        RNNC_TRY(rnnc_comm_wait_all(c));
    const double t0 = now_seconds();
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, mpi_type(dtype), MPI_SUM, c->comm,
                            &c->pending[c->n_pending]);
    c->busy += now_seconds() - t0;
    if (rc != MPI_SUCCESS)
        return mpi_fail(rc, "allreduce");
    c->n_pending++;
    /* Nudge progress of what is already queued. */
    int flag;
    MPI_Testall(c->n_pending, c->pending, &flag, MPI_STATUSES_IGNORE);
    if (flag)
        c->n_pending = 0;
    return RNNC_OK;
}

rnnc_status rnnc_comm_wait_all(rnnc_comm *c)
{
    if (!c || c->size == 1)
        return RNNC_OK;
    for (int i = 0; i < c->n_pending; i++) {
        rnnc_status s = complete(c, &c->pending[i], "allreduce of the gradients");
        if (s != RNNC_OK) {
            c->n_pending = 0;
            return s;
        }
    }
    c->n_pending = 0;
    return RNNC_OK;
}

void rnnc_comm_destroy(rnnc_comm *c)
{
    if (!c)
        return;
    if (c->mpi) {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) {
            MPI_Comm_free(&c->ops);
            MPI_Comm_free(&c->comm);
            if (g_we_initialized && --g_owned_comms == 0) {
                MPI_Finalize();
                g_we_initialized = false;
            }
        }
    }
    free(c);
}

void rnnc_comm_abort(rnnc_comm *c, int code, const char *message)
{
    say_abort(c, message);
    if (c && c->mpi && c->size > 1)
        MPI_Abort(c->comm, code ? code : 1);
}

#else /* no MPI */

rnnc_status rnnc_comm_world(rnnc_comm **out) { return comm_new(out); }

rnnc_status rnnc_comm_from_mpi(const void *mpi_comm, rnnc_comm **out)
{
    (void)mpi_comm;
    *out = NULL;
    return rnnc_fail(RNNC_E_UNSUPPORTED, "communicator: this rnnc was built without MPI (configure with -DRNNC_MPI=ON)");
}

static rnnc_status check(size_t n, rnnc_dtype dt, const char *what)
{
    (void)n;
    if (!reducible(dt))
        return rnnc_fail(RNNC_E_DTYPE, "%s: cannot reduce %s", what, rnnc_dtype_name(dt));
    return RNNC_OK;
}

rnnc_status rnnc_comm_allreduce_sum(rnnc_comm *c, void *buf, size_t n, rnnc_dtype dtype)
{
    (void)c, (void)buf;
    return check(n, dtype, "allreduce");
}

rnnc_status rnnc_comm_allreduce_max(rnnc_comm *c, void *buf, size_t n, rnnc_dtype dtype)
{
    (void)c, (void)buf;
    return check(n, dtype, "allreduce (max)");
}

rnnc_status rnnc_comm_broadcast(rnnc_comm *c, void *buf, size_t bytes, int root)
{
    (void)c, (void)buf, (void)bytes;
    if (root != 0)
        return rnnc_fail(RNNC_E_ARG, "broadcast: root %d of a one-rank communicator", root);
    return RNNC_OK;
}

rnnc_status rnnc_comm_iallreduce_sum(rnnc_comm *c, void *buf, size_t n, rnnc_dtype dtype)
{
    (void)c, (void)buf;
    return check(n, dtype, "allreduce");
}

rnnc_status rnnc_comm_wait_all(rnnc_comm *c)
{
    (void)c;
    return RNNC_OK;
}

void rnnc_comm_destroy(rnnc_comm *c) { free(c); }

static rnnc_status op_allreduce(rnnc_comm *c, double *buf, size_t n)
{
    (void)c, (void)buf, (void)n;
    return RNNC_OK;
}

void rnnc_comm_abort(rnnc_comm *c, int code, const char *message)
{
    (void)code;
    say_abort(c, message);
}

#endif

/* ---- rnnc_comm_sum_op ----------------------------------------------------- */

/* Walks the elements of a tensor of shape xs in row-major order, giving
 * each one's cell in the keepdims result of reducing the axes in `red`
 * (bit mask): O(ndim) per element, nothing allocated. */
typedef struct cell_walk {
    const rnnc_shape *xs;
    unsigned red;
    int64_t at[RNNC_MAX_DIMS];
} cell_walk;

static cell_walk cell_walk_start(const rnnc_shape *xs, unsigned red)
{
    cell_walk w = {xs, red, {0}};
    return w;
}

/* The current element's cell; then steps to the next element. */
static size_t cell_walk_next(cell_walk *w)
{
    size_t k = 0;
    for (int d = 0; d < w->xs->ndim; d++)
        k = k * (size_t)(w->red >> d & 1u ? 1 : w->xs->dim[d]) + (size_t)(w->red >> d & 1u ? 0 : w->at[d]);
    for (int d = w->xs->ndim; d-- > 0;) {
        if (++w->at[d] < w->xs->dim[d])
            break;
        w->at[d] = 0;
    }
    return k;
}

static rnnc_status sum_op_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *y = n->out[0];
    rnnc_comm *c = rnnc_ctx_comm(n->cx);
    const double scale = n->farg[0];
    double *g = malloc((y->numel + 1) * sizeof *g);
    if (!g)
        return rnnc_fail(RNNC_E_NOMEM, "sum over the ranks (backward): out of memory");
    /* every rank joins, with zeros when nothing reached y or when its rows
     * are a stand-in (which counts for nothing, its gradients included) */
    const bool stand_in = c && c->stand_in;
    for (size_t i = 0; i < y->numel; i++)
        g[i] = y->grad && !stand_in ? rnnc_tensor_get_grad(y, i) : 0.0;
    rnnc_status s = op_allreduce(c, g, y->numel);
    if (!s && x->requires_grad && x->grad && !stand_in) {
        cell_walk w = cell_walk_start(&x->shape, (unsigned)n->iarg[0]);
        if (x->dtype == RNNC_F32)
            for (size_t i = 0; i < x->numel; i++)
                ((float *)x->grad)[i] += (float)(g[cell_walk_next(&w)] * scale);
        else
            for (size_t i = 0; i < x->numel; i++)
                ((double *)x->grad)[i] += g[cell_walk_next(&w)] * scale;
    }
    free(g);
    return s;
}

rnnc_status rnnc_comm_sum_op(rnnc_ctx *cx, rnnc_tensor *x, const int *axes, int n_axes, double scale,
                             rnnc_tensor **out)
{
    *out = NULL;
    char sh[160];
    if (x->dtype != RNNC_F32 && x->dtype != RNNC_F64)
        return rnnc_fail(RNNC_E_DTYPE, "sum over the ranks: cannot reduce %s", rnnc_dtype_name(x->dtype));
    unsigned red = 0;
    for (int i = 0; i < n_axes; i++) {
        if (axes[i] < 0 || axes[i] >= x->shape.ndim || (red >> axes[i] & 1u))
            return rnnc_fail(RNNC_E_ARG, "sum over the ranks: bad axis %d for x of shape %s", axes[i],
                             rnnc_shape_str(&x->shape, sh, sizeof sh));
        red |= 1u << axes[i];
    }
    rnnc_shape keep = x->shape;
    for (int d = 0; d < keep.ndim; d++)
        if (red >> d & 1u)
            keep.dim[d] = 1;
    rnnc_tensor *y;
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &keep, &y));
    rnnc_comm *c = rnnc_ctx_comm(cx);
    double *acc = calloc(y->numel + 1, sizeof *acc);
    if (!acc)
        return rnnc_fail(RNNC_E_NOMEM, "sum over the ranks: out of memory");
    if (!(c && c->stand_in)) {
        cell_walk w = cell_walk_start(&x->shape, red);
        for (size_t i = 0; i < x->numel; i++)
            acc[cell_walk_next(&w)] += rnnc_tensor_get(x, i);
    }
    rnnc_status s = op_allreduce(c, acc, y->numel);
    for (size_t i = 0; i < y->numel && !s; i++)
        rnnc_tensor_set(y, i, acc[i] * scale);
    free(acc);
    RNNC_TRY(s);
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "sum over the ranks", sum_op_backward, 1, &x, 1, &y, &node));
    if (node) {
        node->collective = true;
        node->iarg[0] = red;
        node->farg[0] = scale;
    }
    *out = y;
    return RNNC_OK;
}
