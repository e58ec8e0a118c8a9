/* stream_reader.c - windows of chunks read ahead by a thread, in a
 * windowed shuffle order (stream_reader.h). The reads themselves go
 * through row_reader.c (one hyperslab union per dataset and window). */
#define _POSIX_C_SOURCE 200809L
#include "io/stream_reader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/random.h"
#include "io/row_reader.h"

typedef struct window_buf {
    int64_t epoch, w;    /* which window it holds (w -1: none) */
    rnnc_ctx *cx;        /* owns x, y, sw */
    rnnc_tensor *x, *y, *sw;
    rnnc_status st;      /* of the load */
    char err[512];
} window_buf;

struct rnnc_stream_reader {
    rnnc_dataset_rows *rows;
    int64_t n, chunk, n_chunks;
    int wchunks;
    int64_t n_windows;
    bool shuffle;
    uint64_t seed;
    /* the stream */
    int64_t epoch, last_first;
    int64_t *starts;     /* window starts of `starts_epoch` (n_windows + 1) */
    int64_t starts_epoch;
    window_buf buf[2];
    size_t peak;
    /* the prefetch thread: loads (job_epoch, job_w) into buf[job_buf] */
    pthread_t thread;
    bool thread_started, quit, job_pending;
    int job_buf;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static uint64_t mix(uint64_t seed, int64_t a, int64_t b)
{
    uint64_t z = seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(a + 1)) ^ (0xC2B2AE3D27D4EB4FULL * (uint64_t)(b + 2));
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    return z ^ (z >> 31);
}

/* The chunk order of an epoch (caller frees). */
static int64_t *chunk_order(const rnnc_stream_reader *r, int64_t epoch)
{
    int64_t *p = malloc((size_t)r->n_chunks * sizeof *p);
    if (!p)
        return NULL;
    if (r->shuffle) {
        rnnc_rng g;
        rnnc_rng_init(&g, mix(r->seed, epoch, -1));
        rnnc_rng_permutation(&g, p, (size_t)r->n_chunks);
    } else {
        for (int64_t i = 0; i < r->n_chunks; i++)
            p[i] = i;
    }
    return p;
}

static int64_t chunk_len(const rnnc_stream_reader *r, int64_t c)
{
    return c == r->n_chunks - 1 ? r->n - c * r->chunk : r->chunk;
}

/* Window starts of an epoch (n_windows + 1 values) into starts; reads
 * only what never changes after open (the prefetch thread runs meanwhile). */
static rnnc_status window_starts(const rnnc_stream_reader *r, int64_t epoch, int64_t *starts)
{
    int64_t *p = chunk_order(r, epoch);
    if (!p)
        return rnnc_fail(RNNC_E_NOMEM, "stream reader: out of memory");
    int64_t at = 0;
    for (int64_t w = 0; w < r->n_windows; w++) {
        starts[w] = at;
        for (int64_t k = w * r->wchunks; k < (w + 1) * r->wchunks && k < r->n_chunks; k++)
            at += chunk_len(r, p[k]);
    }
    starts[r->n_windows] = at;
    free(p);
    return RNNC_OK;
}

static rnnc_status plan_epoch(rnnc_stream_reader *r, int64_t epoch)
{
    if (r->starts_epoch == epoch)
        return RNNC_OK;
    RNNC_TRY(window_starts(r, epoch, r->starts));
    r->starts_epoch = epoch;
    return RNNC_OK;
}

/* The file rows of window w of an epoch, in stream order (caller frees). */
static int64_t *window_rows(const rnnc_stream_reader *r, int64_t epoch, int64_t w, int64_t *count)
{
    int64_t *p = chunk_order(r, epoch);
    if (!p)
        return NULL;
    int64_t m = 0;
    for (int64_t k = w * r->wchunks; k < (w + 1) * r->wchunks && k < r->n_chunks; k++)
        m += chunk_len(r, p[k]);
    int64_t *rows = malloc((size_t)(m ? m : 1) * sizeof *rows), *perm = malloc((size_t)(m ? m : 1) * sizeof *perm);
    if (!rows || !perm) {
        free(p);
        free(rows);
        free(perm);
        return NULL;
    }
    int64_t at = 0;
    for (int64_t k = w * r->wchunks; k < (w + 1) * r->wchunks && k < r->n_chunks; k++)
        for (int64_t j = 0; j < chunk_len(r, p[k]); j++)
            perm[at++] = p[k] * r->chunk + j;
    if (r->shuffle) {
        int64_t *q = malloc((size_t)(m ? m : 1) * sizeof *q);
        if (!q) {
            free(p);
            free(rows);
            free(perm);
            return NULL;
        }
        rnnc_rng g;
        rnnc_rng_init(&g, mix(r->seed, epoch, w));
        rnnc_rng_permutation(&g, q, (size_t)m);
        for (int64_t i = 0; i < m; i++)
            rows[i] = perm[q[i]];
        free(q);
    } else {
        memcpy(rows, perm, (size_t)m * sizeof *rows);
    }
    free(p);
    free(perm);
    *count = m;
    return rows;
}

int64_t rnnc_stream_reader_row(const rnnc_stream_reader *r, int64_t epoch, int64_t pos)
{
    int64_t *starts = malloc((size_t)(r->n_windows + 1) * sizeof *starts);
    if (!starts || pos < 0 || pos >= r->n) {
        free(starts);
        return -1;
    }
    int64_t row = -1;
    if (window_starts(r, epoch, starts) == RNNC_OK) {
        int64_t w = 0;
        while (starts[w + 1] <= pos)
            w++;
        int64_t m;
        int64_t *rows = window_rows(r, epoch, w, &m);
        if (rows)
            row = rows[pos - starts[w]];
        free(rows);
    }
    free(starts);
    return row;
}

static size_t buf_bytes(const window_buf *b)
{
    size_t s = 0;
    const rnnc_tensor *t[3] = {b->x, b->y, b->sw};
    for (int k = 0; k < 3; k++)
        if (t[k])
            s += t[k]->numel * rnnc_dtype_size(t[k]->dtype);
    return s;
}

/* Loads window (epoch, w) into b (any thread; the row reader is used by
 * one thread at a time). */
static void load(rnnc_stream_reader *r, window_buf *b, int64_t epoch, int64_t w)
{
    rnnc_ctx_clear(b->cx);
    b->x = b->y = b->sw = NULL;
    b->epoch = epoch;
    b->w = w;
    b->err[0] = '\0';
    int64_t m = 0;
    int64_t *rows = window_rows(r, epoch, w, &m);
    b->st = rows ? rnnc_dataset_rows_read(r->rows, b->cx, rows, m, &b->x, &b->y, &b->sw)
                 : rnnc_fail(RNNC_E_NOMEM, "stream reader: out of memory");
    free(rows);
    if (b->st)
        snprintf(b->err, sizeof b->err, "%s", rnnc_last_error());
}

static void *prefetch_main(void *arg)
{
    rnnc_stream_reader *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->quit && !r->job_pending)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->quit)
            break;
        window_buf *b = &r->buf[r->job_buf];
        const int64_t e = b->epoch, w = b->w;
        pthread_mutex_unlock(&r->mu);
        load(r, b, e, w);
        pthread_mutex_lock(&r->mu);
        r->job_pending = false;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void wait_job(rnnc_stream_reader *r)
{
    pthread_mutex_lock(&r->mu);
    while (r->job_pending)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

static void start_job(rnnc_stream_reader *r, int which, int64_t epoch, int64_t w)
{
    pthread_mutex_lock(&r->mu);
    r->buf[which].epoch = epoch;
    r->buf[which].w = w;
    r->job_buf = which;
    r->job_pending = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void rnnc_stream_reader_close(rnnc_stream_reader *r)
{
    if (!r)
        return;
    if (r->thread_started) {
        pthread_mutex_lock(&r->mu);
        r->quit = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    for (int k = 0; k < 2; k++)
        rnnc_ctx_destroy(r->buf[k].cx);
    rnnc_dataset_rows_close(r->rows);
    free(r->starts);
    free(r);
}

rnnc_status rnnc_stream_reader_open(const char *path, const rnnc_dataset_options *data,
                                    const rnnc_stream_options *opts, rnnc_stream_reader **out)
{
    rnnc_stream_options o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    *out = NULL;
    if (o.chunk_rows < 0 || o.window_chunks < 0)
        return rnnc_fail(RNNC_E_ARG, "stream reader: chunk_rows (%lld) and window_chunks (%d) must be >= 1 (0: the default)",
                         (long long)o.chunk_rows, o.window_chunks);
    rnnc_stream_reader *r = calloc(1, sizeof *r);
    if (!r)
        return rnnc_fail(RNNC_E_NOMEM, "stream reader: out of memory");
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    rnnc_status s = rnnc_dataset_rows_open(path, data, &r->rows);
    if (s) {
        rnnc_stream_reader_close(r);
        return s;
    }
    r->n = rnnc_dataset_rows_count(r->rows);
    r->chunk = o.chunk_rows ? o.chunk_rows : 1024;
    r->wchunks = o.window_chunks ? o.window_chunks : 8;
    r->n_chunks = (r->n + r->chunk - 1) / r->chunk;
    r->n_windows = (r->n_chunks + r->wchunks - 1) / r->wchunks;
    r->shuffle = !o.no_shuffle;
    r->seed = o.seed;
    r->starts_epoch = -1;
    r->last_first = INT64_MAX;
    r->epoch = o.first_epoch > 0 ? o.first_epoch - 1 : -1; /* the first request starts a pass */
    r->starts = malloc((size_t)(r->n_windows + 1) * sizeof *r->starts);
    for (int k = 0; k < 2; k++) {
        r->buf[k].w = -1;
        r->buf[k].cx = rnnc_ctx_create();
    }
    if (!r->starts || !r->buf[0].cx || !r->buf[1].cx) {
        rnnc_stream_reader_close(r);
        return rnnc_fail(RNNC_E_NOMEM, "stream reader: out of memory");
    }
    if (r->n == 0) {
        rnnc_stream_reader_close(r);
        return rnnc_fail(RNNC_E_ARG, "stream reader: '%s' holds no rows", path);
    }
    if (pthread_create(&r->thread, NULL, prefetch_main, r) != 0) {
        rnnc_stream_reader_close(r);
        return rnnc_fail(RNNC_E_NOMEM, "stream reader: cannot start the prefetch thread");
    }
    r->thread_started = true;
    *out = r;
    return RNNC_OK;
}

int64_t rnnc_stream_reader_count(const rnnc_stream_reader *r) { return r->n; }
size_t rnnc_stream_reader_peak_bytes(const rnnc_stream_reader *r) { return r->peak; }

static int64_t window_of(const rnnc_stream_reader *r, int64_t pos)
{
    int64_t lo = 0, hi = r->n_windows - 1;
    while (lo < hi) {
        const int64_t mid = (lo + hi + 1) / 2;
        if (r->starts[mid] <= pos)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* The buffer holding window (epoch, w), loading it when needed without
 * touching buffer `keep` (-1: none). */
static rnnc_status ensure(rnnc_stream_reader *r, int64_t epoch, int64_t w, int keep, int *which)
{
    wait_job(r); /* a prefetch of this window, or one that must not run alongside a load */
    for (int k = 0; k < 2; k++)
        if (r->buf[k].w == w && r->buf[k].epoch == epoch) {
            *which = k;
            if (r->buf[k].st)
                return rnnc_fail(r->buf[k].st, "%s", r->buf[k].err);
            return RNNC_OK;
        }
    const int k = keep == 0 ? 1 : 0;
    load(r, &r->buf[k], epoch, w);
    *which = k;
    if (r->buf[k].st)
        return r->buf[k].st;
    return RNNC_OK;
}

static rnnc_status take_row(rnnc_tensor *dst, int64_t i, const rnnc_tensor *src, int64_t j)
{
    const size_t row = dst->numel / (size_t)dst->shape.dim[0], es = rnnc_dtype_size(dst->dtype);
    memcpy((char *)dst->data + (size_t)i * row * es, (const char *)src->data + (size_t)j * row * es, row * es);
    return RNNC_OK;
}

static rnnc_status like(rnnc_ctx *cx, const rnnc_tensor *t, int64_t count, rnnc_tensor **out)
{
    *out = NULL;
    if (!t)
        return RNNC_OK;
    rnnc_shape s = t->shape;
    s.dim[0] = count;
    return rnnc_ctx_tensor(cx, t->dtype, &s, out);
}

rnnc_status rnnc_stream_reader_read(void *user, rnnc_ctx *cx, const int64_t *rows, int64_t count, rnnc_tensor **x,
                                    rnnc_tensor **y, rnnc_tensor **sw)
{
    rnnc_stream_reader *r = user;
    *x = *y = *sw = NULL;
    if (count == 0) { /* empty tensors of the right shapes */
        wait_job(r);
        return rnnc_dataset_rows_read(r->rows, cx, rows, 0, x, y, sw);
    }
    for (int64_t i = 0; i < count; i++)
        if (rows[i] < 0 || rows[i] >= r->n || (i > 0 && rows[i] != rows[i - 1] + 1))
            return rnnc_fail(RNNC_E_ARG, "stream reader: positions must be consecutive in [0, %lld) (fit with shuffle off)",
                             (long long)r->n);
    if (rows[0] < r->last_first || r->epoch < 0)
        r->epoch++; /* a new pass over the stream */
    r->last_first = rows[0];
    RNNC_TRY(plan_epoch(r, r->epoch));
    const int64_t wa = window_of(r, rows[0]), wb = window_of(r, rows[count - 1]);
    if (wb > wa + 1)
        return rnnc_fail(RNNC_E_ARG, "stream reader: a request of %lld rows spans %lld windows; make windows larger than a batch (window_chunks * chunk_rows)",
                         (long long)count, (long long)(wb - wa + 1));
    int ka, kb;
    RNNC_TRY(ensure(r, r->epoch, wa, -1, &ka));
    RNNC_TRY(ensure(r, r->epoch, wb, ka, &kb));
    const size_t held = buf_bytes(&r->buf[0]) + buf_bytes(&r->buf[1]);
    if (held > r->peak)
        r->peak = held;
    const window_buf *A = &r->buf[ka];
    RNNC_TRY(like(cx, A->x, count, x));
    RNNC_TRY(like(cx, A->y, count, y));
    RNNC_TRY(like(cx, A->sw, count, sw));
    for (int64_t i = 0; i < count; i++) {
        const int64_t w = rows[i] < r->starts[wb] ? wa : wb;
        const window_buf *b = &r->buf[w == wa ? ka : kb];
        const int64_t j = rows[i] - r->starts[w];
        take_row(*x, i, b->x, j);
        take_row(*y, i, b->y, j);
        if (*sw)
            take_row(*sw, i, b->sw, j);
    }
    /* read the next window (of this epoch, or the next's first) while training runs */
    const int64_t next_w = wb + 1 < r->n_windows ? wb + 1 : 0;
    const int64_t next_e = wb + 1 < r->n_windows ? r->epoch : r->epoch + 1;
    if (!(r->buf[0].w == next_w && r->buf[0].epoch == next_e) && !(r->buf[1].w == next_w && r->buf[1].epoch == next_e))
        start_job(r, kb == 0 ? 1 : 0, next_e, next_w);
    return RNNC_OK;
}
