/* tasks.c - the built-in tasks of tasks.h: reading their parameters from a
 * spec's `data` map, generating each split from a seed, a baseline, and a
 * prediction table. Models and training live elsewhere. */
#include "apps/tasks.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "framework/random.h"

typedef enum { TASK_ADDING, TASK_COPY, TASK_SINE, TASK_VARLEN, TASK_CHARS } task_kind;

static const char *const task_names[] = {"adding", "copy", "sine", "varlen", "chars", NULL};

#define COMMON_KEYS "task", "samples", "validation_samples", "test_samples", "seed"
static const char *const adding_keys[] = {COMMON_KEYS, "timesteps", NULL};
static const char *const copy_keys[] = {COMMON_KEYS, "length", "symbols", NULL};
static const char *const sine_keys[] = {COMMON_KEYS, "timesteps", "horizon", "noise", NULL};
static const char *const varlen_keys[] = {COMMON_KEYS, "timesteps", "channels", "min_length", NULL};
static const char *const chars_keys[] = {COMMON_KEYS, "text", "timesteps", NULL};
static const char *const *const task_keys[] = {adding_keys, copy_keys, sine_keys, varlen_keys,
                                               chars_keys};

/* The chars task reads at most this much text (the default file is 35 KB). */
#define MAX_TEXT_BYTES (64L << 20)

struct rnnc_task {
    task_kind kind;
    int64_t samples[3]; /* train, validation, test */
    uint64_t seed;
    int64_t timesteps;  /* adding, sine, varlen, chars; copy: 2L+1 */
    int64_t length;     /* copy: L */
    int64_t symbols;    /* copy: A */
    int64_t horizon;    /* sine */
    double noise;       /* sine */
    int64_t channels;   /* varlen */
    int64_t min_length; /* varlen */
    unsigned char *text; /* chars: the file's bytes */
    size_t text_len;
    unsigned char vocab[256];
    int vocab_size;
    int char_id[256];   /* byte -> id, -1 if absent */
};

const char *const *rnnc_task_names(void) { return task_names; }

const char *const *rnnc_task_known_keys(const char *name)
{
    for (int i = 0; task_names[i]; i++)
        if (strcmp(task_names[i], name) == 0)
            return task_keys[i];
    return NULL;
}

const char *rnnc_task_name(const rnnc_task *t) { return task_names[t->kind]; }

int64_t rnnc_task_samples(const rnnc_task *t, rnnc_split split) { return t->samples[split]; }

int64_t rnnc_task_timesteps(const rnnc_task *t) { return t->timesteps; }

const unsigned char *rnnc_task_vocab(const rnnc_task *t, int *size)
{
    *size = t->vocab_size;
    return t->kind == TASK_CHARS ? t->vocab : NULL;
}

int rnnc_task_char_id(const rnnc_task *t, unsigned char c) { return t->char_id[c]; }

void rnnc_task_destroy(rnnc_task *t)
{
    if (!t)
        return;
    free(t->text);
    free(t);
}

/* An integer key in [lo, hi]; missing -> dflt. */
static rnnc_status read_range(const rnnc_cfg *data, const char *key, int64_t dflt, int64_t lo,
                              int64_t hi, int64_t *out)
{
    return rnnc_cfg_read_int_range(data, "data", key, dflt, lo, hi, out);
}

/* Values of x (plus y) in one sample; every factor is bounded by read_range,
 * so the products fit easily in 64 bits. */
static int64_t values_per_sample(const rnnc_task *t)
{
    switch (t->kind) {
    case TASK_ADDING: return t->timesteps * 2 + 1;
    case TASK_COPY: return t->timesteps * (t->symbols + 4);
    case TASK_SINE: return t->timesteps + t->horizon;
    case TASK_VARLEN: return t->timesteps * (t->channels + 1) + 1;
    case TASK_CHARS: return 2 * t->timesteps;
    }
    return 0;
}

/* A split's generated data must stay below RNNC_TASK_MAX_VALUES values. */
static rnnc_status check_task_size(const rnnc_task *t, const rnnc_cfg *data)
{
    static const char *const keys[] = {"samples", "validation_samples", "test_samples"};
    char w[300];
    const int64_t per = values_per_sample(t);
    for (int i = 0; i < 3; i++)
        if (t->samples[i] > RNNC_TASK_MAX_VALUES / per)
            return rnnc_fail(RNNC_E_ARG, "data: task %s: '%s' %lld with %lld values per sample makes %lld values; at most %lld are supported (reduce '%s' or the sample size)%s",
                             task_names[t->kind], keys[i], (long long)t->samples[i], (long long)per,
                             (long long)(t->samples[i] * per), (long long)RNNC_TASK_MAX_VALUES, keys[i],
                             rnnc_cfg_where(rnnc_cfg_peek(data, keys[i]), w, sizeof w));
    return RNNC_OK;
}

static rnnc_status load_text(rnnc_task *t, const rnnc_cfg *data, const char *base_dir)
{
    const char *path;
    char full[4096], w[300];
    RNNC_TRY(rnnc_cfg_read_string(data, "data", "text", "/usr/share/common-licenses/GPL-3", &path));
    if (path[0] == '/' || !base_dir || !base_dir[0])
        snprintf(full, sizeof full, "%s", path);
    else
        snprintf(full, sizeof full, "%s/%s", base_dir, path);
    const char *where = rnnc_cfg_where(rnnc_cfg_peek(data, "text"), w, sizeof w);
    FILE *f = fopen(full, "rb");
    if (!f)
        return rnnc_fail(RNNC_E_IO, "data: cannot open text file '%s': %s%s; give an existing file in 'text'",
                         full, strerror(errno), where);
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap >= (size_t)MAX_TEXT_BYTES)
                break;
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf)
        return rnnc_fail(RNNC_E_NOMEM, "data: out of memory reading '%s'", full);
    if (err) {
        free(buf);
        return rnnc_fail(RNNC_E_IO, "data: error reading text file '%s'%s", full, where);
    }
    if (n < (size_t)(4 * (t->timesteps + 1))) {
        free(buf);
        return rnnc_fail(RNNC_E_ARG, "data: text file '%s' has %zu bytes; it needs at least %lld for timesteps %lld%s",
                         full, n, (long long)(4 * (t->timesteps + 1)), (long long)t->timesteps, where);
    }
    t->text = buf;
    t->text_len = n;
    /* A fixed vocabulary (newline + printable ASCII), so a model config does
     * not depend on which text it trains on: tabs read as spaces, other
     * bytes as '?'. */
    t->vocab_size = 0;
    t->vocab[t->vocab_size++] = '\n';
    for (int c = 32; c < 127; c++)
        t->vocab[t->vocab_size++] = (unsigned char)c;
    for (int c = 0; c < 256; c++)
        t->char_id[c] = c == '\n' ? 0 : (c >= 32 && c < 127) ? c - 31 : c == '\t' ? 1 : '?' - 31;
    return RNNC_OK;
}

rnnc_status rnnc_task_create(const rnnc_cfg *data, const char *base_dir, rnnc_task **out)
{
    const char *name;
    char w[300];
    *out = NULL;
    RNNC_TRY(rnnc_cfg_read_string(data, "data", "task", NULL, &name));
    if (!name)
        return rnnc_fail(RNNC_E_ARG, "data: 'task' is missing; name one of adding, copy, sine, varlen, chars");
    int kind = -1;
    for (int i = 0; task_names[i]; i++)
        if (strcmp(task_names[i], name) == 0)
            kind = i;
    if (kind < 0) {
        const char *near = rnnc_nearest_name(name, task_names);
        return rnnc_fail(RNNC_E_ARG, "data: unknown task '%s'%s; %s%s%sthe tasks are adding, copy, sine, varlen, chars",
                         name, rnnc_cfg_where(rnnc_cfg_peek(data, "task"), w, sizeof w),
                         near ? "did you mean '" : "", near ? near : "", near ? "'? " : "");
    }
    rnnc_task *t = calloc(1, sizeof *t);
    if (!t)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    t->kind = (task_kind)kind;
    int64_t seed;
    rnnc_status s;
    const int64_t max_n = RNNC_TASK_MAX_SAMPLES;
    if ((s = read_range(data, "samples", 4096, 1, max_n, &t->samples[0])) ||
        (s = read_range(data, "validation_samples", 512, 0, max_n, &t->samples[1])) ||
        (s = read_range(data, "test_samples", 512, 0, max_n, &t->samples[2])) ||
        (s = read_range(data, "seed", 1, 0, INT64_MAX, &seed)))
        goto fail;
    t->seed = (uint64_t)seed;
    switch (t->kind) {
    case TASK_ADDING:
        s = read_range(data, "timesteps", 50, 4, 100000, &t->timesteps);
        break;
    case TASK_COPY:
        if ((s = read_range(data, "length", 5, 1, 10000, &t->length)) ||
            (s = read_range(data, "symbols", 8, 2, 1000, &t->symbols)))
            break;
        t->timesteps = 2 * t->length + 1;
        break;
    case TASK_SINE:
        if ((s = read_range(data, "timesteps", 40, 2, 100000, &t->timesteps)) ||
            (s = read_range(data, "horizon", 10, 1, 10000, &t->horizon)) ||
            (s = rnnc_cfg_read_float(data, "data", "noise", 0.05, &t->noise)))
            break;
        if (!(t->noise >= 0 && t->noise <= 10))
            s = rnnc_fail(RNNC_E_ARG, "data: 'noise' must be in [0, 10], got %g%s", t->noise,
                          rnnc_cfg_where(rnnc_cfg_peek(data, "noise"), w, sizeof w));
        break;
    case TASK_VARLEN:
        if ((s = read_range(data, "timesteps", 30, 2, 100000, &t->timesteps)) ||
            (s = read_range(data, "channels", 3, 2, 1000, &t->channels)) ||
            (s = read_range(data, "min_length", t->timesteps / 4 > 0 ? t->timesteps / 4 : 1, 1,
                            t->timesteps, &t->min_length)))
            break;
        break;
    case TASK_CHARS:
        if ((s = read_range(data, "timesteps", 64, 1, 100000, &t->timesteps)))
            break;
        s = load_text(t, data, base_dir);
        break;
    }
    if (s || (s = check_task_size(t, data)))
        goto fail;
    *out = t;
    return RNNC_OK;
fail:
    rnnc_task_destroy(t);
    return s;
}

void rnnc_task_data_free(rnnc_task_data *d)
{
    rnnc_tensor_destroy(d->x);
    rnnc_tensor_destroy(d->y);
    rnnc_tensor_destroy(d->sample_weight);
    rnnc_tensor_destroy(d->mask);
    memset(d, 0, sizeof *d);
}

/* Each split draws from its own stream, so adding samples to one split never
 * changes another. */
static void split_rng(const rnnc_task *t, rnnc_split split, rnnc_rng *r)
{
    rnnc_rng_init(r, t->seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull * (uint64_t)(split + 1));
}

static rnnc_status make(rnnc_dtype dt, rnnc_shape s, rnnc_tensor **out)
{
    return rnnc_tensor_create(dt, &s, out);
}

static rnnc_status gen_adding(const rnnc_task *t, rnnc_rng *r, int64_t n, rnnc_task_data *d)
{
    int64_t T = t->timesteps;
    RNNC_TRY(make(RNNC_F32, RNNC_SHAPE(n, T, 2), &d->x));
    RNNC_TRY(make(RNNC_F32, RNNC_SHAPE(n, 1), &d->y));
    double *u = malloc((size_t)T * sizeof *u);
    if (!u)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory generating the adding task");
    float *x = rnnc_f32(d->x), *y = rnnc_f32(d->y);
    for (int64_t i = 0; i < n; i++) {
        rnnc_rng_uniform(r, u, (size_t)T);
        int64_t a = (int64_t)rnnc_rng_below(r, (uint64_t)(T / 2));
        int64_t b = T / 2 + (int64_t)rnnc_rng_below(r, (uint64_t)(T - T / 2));
        float *xs = x + i * T * 2;
        for (int64_t k = 0; k < T; k++) {
            xs[2 * k] = (float)u[k];
            xs[2 * k + 1] = (k == a || k == b) ? 1.0f : 0.0f;
        }
        y[i] = xs[2 * a] + xs[2 * b];
    }
    free(u);
    return RNNC_OK;
}

static rnnc_status gen_copy(const rnnc_task *t, rnnc_rng *r, int64_t n, rnnc_task_data *d)
{
    int64_t L = t->length, A = t->symbols, T = t->timesteps, F = A + 2;
    RNNC_TRY(make(RNNC_F32, RNNC_SHAPE(n, T, F), &d->x));
    RNNC_TRY(make(RNNC_I32, RNNC_SHAPE(n, T), &d->y));
    RNNC_TRY(make(RNNC_F32, RNNC_SHAPE(n, T), &d->sample_weight));
    float *x = rnnc_f32(d->x), *sw = rnnc_f32(d->sample_weight);
    int32_t *y = (int32_t *)d->y->data;
    for (int64_t i = 0; i < n; i++) {
        float *xs = x + i * T * F;
        int32_t *ys = y + i * T;
        for (int64_t k = 0; k < L; k++) {
            int32_t sym = (int32_t)rnnc_rng_below(r, (uint64_t)A);
            xs[k * F + sym] = 1.0f;
            ys[L + 1 + k] = sym;
            sw[i * T + L + 1 + k] = 1.0f;
        }
        xs[L * F + A + 1] = 1.0f; /* delimiter: "now repeat" */
        for (int64_t k = L + 1; k < T; k++)
            xs[k * F + A] = 1.0f; /* blanks while recalling */
    }
    return RNNC_OK;
}

static rnnc_status gen_sine(const rnnc_task *t, rnnc_rng *r, int64_t n, rnnc_task_data *d)
{
    int64_t T = t->timesteps, H = t->horizon;
    RNNC_TRY(make(RNNC_F32, RNNC_SHAPE(n, T, 1), &d->x));
    RNNC_TRY(make(RNNC_F32, RNNC_SHAPE(n, H), &d->y));
    double *noise = malloc((size_t)T * sizeof *noise);
    if (!noise)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory generating the sine task");
    const double two_pi = 6.283185307179586;
    float *x = rnnc_f32(d->x), *y = rnnc_f32(d->y);
    for (int64_t i = 0; i < n; i++) {
        double p[6];
        rnnc_rng_uniform(r, p, 6);
        /* Periods of 12.5 to 100 steps; the second component is weaker. */
        double f1 = 0.01 + 0.07 * p[0], f2 = 0.01 + 0.07 * p[1];
        double ph1 = two_pi * p[2], ph2 = two_pi * p[3];
        double a1 = 0.5 + 0.5 * p[4], a2 = 0.5 * p[5];
        rnnc_rng_normal(r, noise, (size_t)T);
        for (int64_t k = 0; k < T + H; k++) {
            double v = a1 * sin(two_pi * f1 * (double)k + ph1) + a2 * sin(two_pi * f2 * (double)k + ph2);
            if (k < T)
                x[i * T + k] = (float)(v + t->noise * noise[k]);
            else
                y[i * H + k - T] = (float)v;
        }
    }
    free(noise);
    return RNNC_OK;
}

static rnnc_status gen_varlen(const rnnc_task *t, rnnc_rng *r, int64_t n, rnnc_task_data *d)
{
    int64_t T = t->timesteps, C = t->channels;
    RNNC_TRY(make(RNNC_F32, RNNC_SHAPE(n, T, C), &d->x));
    RNNC_TRY(make(RNNC_I32, RNNC_SHAPE(n), &d->y));
    RNNC_TRY(make(RNNC_U8, RNNC_SHAPE(n, T), &d->mask));
    double *v = malloc((size_t)(T * C) * sizeof *v), *sum = malloc((size_t)C * sizeof *sum);
    if (!v || !sum) {
        free(v);
        free(sum);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory generating the varlen task");
    }
    float *x = rnnc_f32(d->x);
    int32_t *y = (int32_t *)d->y->data;
    uint8_t *m = (uint8_t *)d->mask->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t len = t->min_length + (int64_t)rnnc_rng_below(r, (uint64_t)(T - t->min_length + 1));
        rnnc_rng_normal(r, v, (size_t)(len * C));
        for (int64_t c = 0; c < C; c++)
            sum[c] = 0;
        for (int64_t k = 0; k < len; k++) {
            m[i * T + k] = 1;
            for (int64_t c = 0; c < C; c++) {
                float val = (float)v[k * C + c];
                if (val == 0.0f) /* keep every valid step distinguishable from padding */
                    val = 1e-6f;
                x[(i * T + k) * C + c] = val;
                sum[c] += val;
            }
        }
        int32_t best = 0;
        for (int64_t c = 1; c < C; c++)
            if (sum[c] > sum[best])
                best = (int32_t)c;
        y[i] = best;
    }
    free(v);
    free(sum);
    return RNNC_OK;
}

static rnnc_status gen_chars(const rnnc_task *t, rnnc_rng *r, rnnc_split split, int64_t n,
                             rnnc_task_data *d)
{
    int64_t T = t->timesteps;
    /* Training windows come from the first 90% of the text, the others from the rest. */
    size_t cut = t->text_len * 9 / 10;
    size_t lo = split == RNNC_SPLIT_TRAIN ? 0 : cut, hi = split == RNNC_SPLIT_TRAIN ? cut : t->text_len;
    if (hi - lo < (size_t)T + 1)
        lo = 0, hi = t->text_len; /* a short text: windows may overlap the splits */
    RNNC_TRY(make(RNNC_I32, RNNC_SHAPE(n, T), &d->x));
    RNNC_TRY(make(RNNC_I32, RNNC_SHAPE(n, T), &d->y));
    int32_t *x = (int32_t *)d->x->data, *y = (int32_t *)d->y->data;
    for (int64_t i = 0; i < n; i++) {
        size_t start = lo + (size_t)rnnc_rng_below(r, (uint64_t)(hi - lo - (size_t)T));
        for (int64_t k = 0; k < T; k++) {
            x[i * T + k] = t->char_id[t->text[start + (size_t)k]];
            y[i * T + k] = t->char_id[t->text[start + (size_t)k + 1]];
        }
    }
    return RNNC_OK;
}

rnnc_status rnnc_task_generate(const rnnc_task *t, rnnc_split split, int64_t n,
                               rnnc_task_data *out)
{
    rnnc_rng r;
    rnnc_status s = RNNC_OK;
    memset(out, 0, sizeof *out);
    if (n <= 0)
        return rnnc_fail(RNNC_E_ARG, "task %s: number of samples must be > 0, got %lld",
                         rnnc_task_name(t), (long long)n);
    split_rng(t, split, &r);
    switch (t->kind) {
    case TASK_ADDING: s = gen_adding(t, &r, n, out); break;
    case TASK_COPY: s = gen_copy(t, &r, n, out); break;
    case TASK_SINE: s = gen_sine(t, &r, n, out); break;
    case TASK_VARLEN: s = gen_varlen(t, &r, n, out); break;
    case TASK_CHARS: s = gen_chars(t, &r, split, n, out); break;
    }
    if (s != RNNC_OK)
        rnnc_task_data_free(out);
    return s;
}

const char *rnnc_task_baseline(const rnnc_task *t, const rnnc_task_data *d, char *buf,
                               size_t cap)
{
    int64_t n = d->y->shape.dim[0];
    switch (t->kind) {
    case TASK_ADDING: {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++)
            mean += rnnc_tensor_get(d->y, (size_t)i);
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++) {
            double e = rnnc_tensor_get(d->y, (size_t)i) - mean;
            var += e * e;
        }
        snprintf(buf, cap, "predicting the mean: mse %.4f", var / (double)n);
        break;
    }
    case TASK_COPY:
        snprintf(buf, cap, "guessing: accuracy on the recalled symbols %.4f", 1.0 / (double)t->symbols);
        break;
    case TASK_SINE: {
        /* Persistence: repeat the last observed value for every future step. */
        int64_t T = t->timesteps, H = t->horizon;
        double se = 0;
        for (int64_t i = 0; i < n; i++) {
            double last = rnnc_tensor_get(d->x, (size_t)(i * T + T - 1));
            for (int64_t h = 0; h < H; h++) {
                double e = rnnc_tensor_get(d->y, (size_t)(i * H + h)) - last;
                se += e * e;
            }
        }
        snprintf(buf, cap, "repeating the last value: mse %.4f", se / (double)(n * H));
        break;
    }
    case TASK_VARLEN: {
        int64_t counts[1000] = {0}, best = 0;
        for (int64_t i = 0; i < n; i++)
            counts[(int)rnnc_tensor_get(d->y, (size_t)i)]++;
        for (int64_t c = 0; c < t->channels; c++)
            best = counts[c] > best ? counts[c] : best;
        snprintf(buf, cap, "predicting the most frequent class: accuracy %.4f", (double)best / (double)n);
        break;
    }
    case TASK_CHARS: {
        /* A unigram model's cross-entropy on these targets. */
        double counts[256] = {0}, h = 0;
        size_t total = d->y->numel;
        for (size_t i = 0; i < total; i++)
            counts[(int)rnnc_tensor_get(d->y, i)] += 1;
        for (int c = 0; c < 256; c++)
            if (counts[c] > 0)
                h -= counts[c] / (double)total * log(counts[c] / (double)total);
        snprintf(buf, cap, "character frequencies alone: loss %.4f nats/char", h);
        break;
    }
    }
    return buf;
}

/* argmax over the last axis of row `row` (of `width` entries) of a float tensor. */
static int argmax_row(const rnnc_tensor *p, size_t row, int64_t width)
{
    int best = 0;
    double bv = rnnc_tensor_get(p, row * (size_t)width);
    for (int64_t c = 1; c < width; c++) {
        double v = rnnc_tensor_get(p, row * (size_t)width + (size_t)c);
        if (v > bv) {
            bv = v;
            best = (int)c;
        }
    }
    return best;
}

static void put_char(FILE *f, unsigned char c)
{
    if (c == '\n')
        fputs("\\n", f);
    else if (c < 32 || c > 126)
        fputc('?', f);
    else
        fputc(c, f);
}

void rnnc_task_show(const rnnc_task *t, FILE *f, const rnnc_task_data *d,
                    const rnnc_tensor *pred, int n)
{
    int64_t avail = d->y->shape.dim[0];
    if (pred && pred->shape.ndim > 0 && pred->shape.dim[0] < avail)
        avail = pred->shape.dim[0];
    if (n > avail)
        n = (int)avail;
    if (!pred || n <= 0)
        return;
    switch (t->kind) {
    case TASK_ADDING: {
        int64_t T = t->timesteps;
        fprintf(f, "  %-24s %8s %10s\n", "marked values", "target", "predicted");
        for (int i = 0; i < n; i++) {
            double v[2] = {0, 0};
            int k = 0;
            for (int64_t s = 0; s < T && k < 2; s++)
                if (rnnc_tensor_get(d->x, (size_t)((i * T + s) * 2 + 1)) > 0.5)
                    v[k++] = rnnc_tensor_get(d->x, (size_t)((i * T + s) * 2));
            char lhs[64];
            snprintf(lhs, sizeof lhs, "%.3f + %.3f", v[0], v[1]);
            fprintf(f, "  %-24s %8.3f %10.3f\n", lhs, rnnc_tensor_get(d->y, (size_t)i),
                    rnnc_tensor_get(pred, (size_t)i));
        }
        break;
    }
    case TASK_COPY: {
        int64_t L = t->length, T = t->timesteps, A = t->symbols;
        fprintf(f, "  %-s\n", "symbols to copy -> recalled");
        for (int i = 0; i < n; i++) {
            fputs("  ", f);
            for (int64_t k = 0; k < L; k++)
                fprintf(f, "%s%d", k ? " " : "", (int)rnnc_tensor_get(d->y, (size_t)(i * T + L + 1 + k)));
            fputs("  ->  ", f);
            int wrong = 0;
            for (int64_t k = 0; k < L; k++) {
                int p = argmax_row(pred, (size_t)(i * T + L + 1 + k), A);
                wrong += p != (int)rnnc_tensor_get(d->y, (size_t)(i * T + L + 1 + k));
                fprintf(f, "%s%d", k ? " " : "", p);
            }
            fprintf(f, "   %s\n", wrong ? "(errors)" : "(exact)");
        }
        break;
    }
    case TASK_SINE: {
        int64_t H = t->horizon, show = H < 5 ? H : 5;
        fprintf(f, "  first %lld of %lld future values: target | predicted\n", (long long)show,
                (long long)H);
        for (int i = 0; i < n; i++) {
            fputs("  ", f);
            for (int64_t h = 0; h < show; h++)
                fprintf(f, "%7.3f", rnnc_tensor_get(d->y, (size_t)(i * H + h)));
            fputs("  |", f);
            for (int64_t h = 0; h < show; h++)
                fprintf(f, "%7.3f", rnnc_tensor_get(pred, (size_t)(i * H + h)));
            fputc('\n', f);
        }
        break;
    }
    case TASK_VARLEN: {
        int64_t T = t->timesteps, C = t->channels;
        fprintf(f, "  %6s %7s %10s %12s\n", "length", "target", "predicted", "probability");
        for (int i = 0; i < n; i++) {
            int64_t len = 0;
            for (int64_t s = 0; s < T; s++)
                len += d->mask ? ((uint8_t *)d->mask->data)[i * T + s] != 0 : 1;
            int p = argmax_row(pred, (size_t)i, C);
            fprintf(f, "  %6lld %7d %10d %12.3f\n", (long long)len, (int)rnnc_tensor_get(d->y, (size_t)i),
                    p, rnnc_tensor_get(pred, (size_t)i * (size_t)C + (size_t)p));
        }
        break;
    }
    case TASK_CHARS: {
        int64_t T = t->timesteps, V = t->vocab_size, show = T < 40 ? T : 40;
        fprintf(f, "  last %lld characters: target | predicted (next character at each step)\n",
                (long long)show);
        for (int i = 0; i < n; i++) {
            fputs("  ", f);
            for (int64_t k = T - show; k < T; k++)
                put_char(f, t->vocab[(int)rnnc_tensor_get(d->y, (size_t)(i * T + k))]);
            fputs(" | ", f);
            for (int64_t k = T - show; k < T; k++)
                put_char(f, t->vocab[argmax_row(pred, (size_t)(i * T + k), V)]);
            fputc('\n', f);
        }
        break;
    }
    }
}
