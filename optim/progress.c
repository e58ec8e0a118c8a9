/* progress.c - the progress display of fit, as Keras's ProgbarLogger /
 * Progbar: "Epoch e/E", then either a live bar redrawn after each batch
 * (a terminal) or one line per epoch, with the running loss and metrics
 * formatted as Keras formats them (%.4f, or %.4e for |v| <= 1e-3). */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "optim/trainer.h"

bool rnnc__stdout_is_tty(void);
bool rnnc__stdout_is_tty(void) { return isatty(fileno(stdout)) == 1; }

typedef struct progress {
    bool live;
    rnnc_print_fn print;
    void *user;
    double start, after_first;
    int prev_width;
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void out(progress *p, rnnc_trainer *tr, const char *text)
{
    if (p->print)
        p->print(p->user, text);
    else
        rnnc_trainer_print(tr, text);
}

static void fmt_time_per_step(double t, char *buf, size_t cap)
{
    if (t >= 1 || t == 0)
        snprintf(buf, cap, "%.0fs/step", t);
    else if (t >= 1e-3)
        snprintf(buf, cap, "%.0fms/step", t * 1e3);
    else
        snprintf(buf, cap, "%.0fus/step", t * 1e6);
}

static size_t fmt_values(const rnnc_logs *logs, char *buf, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < logs->n && n + 1 < cap; i++) {
        const double v = logs->values[i];
        int w = snprintf(buf + n, cap - n, fabs(v) > 1e-3 ? " - %s: %.4f" : " - %s: %.4e", logs->names[i], v);
        if (w < 0)
            break;
        n += (size_t)w < cap - n ? (size_t)w : cap - n - 1;
    }
    return n;
}

static rnnc_status prog_epoch_begin(rnnc_callback *cb, rnnc_trainer *tr, int epoch)
{
    progress *p = cb->user;
    char msg[64];
    snprintf(msg, sizeof msg, "Epoch %d/%d\n", epoch + 1, rnnc_trainer_fit_epochs(tr));
    out(p, tr, msg);
    p->start = now_s();
    p->after_first = 0;
    p->prev_width = 0;
    return RNNC_OK;
}

static double per_step(progress *p, int64_t current, double t)
{
    if (current <= 0)
        return 0;
    if (p->after_first > 0 && current > 1)
        return (t - p->after_first) / (double)(current - 1);
    return (t - p->start) / (double)current;
}

static void draw(progress *p, rnnc_trainer *tr, int64_t current, const rnnc_logs *logs, bool final)
{
    const int64_t target = rnnc_trainer_fit_steps(tr);
    const double t = now_s();
    if (current == 1)
        p->after_first = t;
    const double tps = per_step(p, current, t);
    char line[2048], ts[32], vals[1536];
    const int digits = target > 0 ? (int)log10((double)target) + 1 : 1;
    fmt_time_per_step(tps, ts, sizeof ts);
    fmt_values(logs, vals, sizeof vals);
    if (!p->live) {
        snprintf(line, sizeof line, "%*lld/%lld - %.0fs - %s%s\n", digits, (long long)current,
                 (long long)target, t - p->start, ts, vals);
        out(p, tr, line);
        return;
    }
    /* a 20-wide bar of heavy horizontals; green for the done part */
    char bar[20 * 3 * 2 + 64];
    const int done = target > 0 ? (int)(20.0 * (double)current / (double)target) : 0;
    size_t n = 0;
    n += (size_t)snprintf(bar + n, sizeof bar - n, "\x1b[32m");
    for (int i = 0; i < done; i++)
        n += (size_t)snprintf(bar + n, sizeof bar - n, "\xe2\x94\x81");
    n += (size_t)snprintf(bar + n, sizeof bar - n, "\x1b[0m\x1b[37m");
    for (int i = done; i < 20; i++)
        n += (size_t)snprintf(bar + n, sizeof bar - n, "\xe2\x94\x81");
    snprintf(bar + n, sizeof bar - n, "\x1b[0m");
    char eta[32];
    if (final) {
        snprintf(eta, sizeof eta, "%.0fs", t - p->start);
    } else {
        const double e = tps * (double)(target - current);
        if (e > 3600)
            snprintf(eta, sizeof eta, "%d:%02d:%02d", (int)(e / 3600), (int)fmod(e, 3600) / 60, (int)fmod(e, 60));
        else if (e > 60)
            snprintf(eta, sizeof eta, "%d:%02d", (int)(e / 60), (int)fmod(e, 60));
        else
            snprintf(eta, sizeof eta, "%.0fs", e);
    }
    int w = snprintf(line, sizeof line, "\r\x1b[1m%*lld/%lld\x1b[0m %s \x1b[1m%s\x1b[0m %s%s", digits,
                     (long long)current, (long long)target, bar, eta, ts, vals);
    /* pad over a longer previous line (visible width: without escapes) */
    int visible = 2 * digits + 1 + 1 + 20 + 1 + (int)strlen(eta) + 1 + (int)strlen(ts) + (int)strlen(vals);
    (void)w;
    size_t len = strlen(line);
    for (int i = visible; i < p->prev_width && len + 2 < sizeof line; i++)
        line[len++] = ' ';
    if (final && len + 1 < sizeof line)
        line[len++] = '\n';
    line[len] = '\0';
    p->prev_width = visible;
    out(p, tr, line);
}

static rnnc_status prog_batch_end(rnnc_callback *cb, rnnc_trainer *tr, int step, const rnnc_logs *logs)
{
    progress *p = cb->user;
    if (step == 0)
        p->after_first = now_s();
    if (p->live && step + 1 < rnnc_trainer_fit_steps(tr))
        draw(p, tr, step + 1, logs, false);
    return RNNC_OK;
}

static rnnc_status prog_epoch_end(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs)
{
    (void)epoch;
    progress *p = cb->user;
    draw(p, tr, rnnc_trainer_fit_steps(tr), logs, true);
    return RNNC_OK;
}

static void prog_destroy(rnnc_callback *cb)
{
    free(cb->user);
    free(cb);
}

rnnc_status rnnc_progress_create(bool live, rnnc_print_fn print, void *user, rnnc_callback **outp)
{
    *outp = NULL;
    rnnc_callback *cb = calloc(1, sizeof *cb);
    progress *p = calloc(1, sizeof *p);
    if (!cb || !p) {
        free(cb);
        free(p);
        return rnnc_fail(RNNC_E_NOMEM, "progress: out of memory");
    }
    p->live = live;
    p->print = print;
    p->user = user;
    cb->user = p;
    cb->on_epoch_begin = prog_epoch_begin;
    cb->on_train_batch_end = prog_batch_end;
    cb->on_epoch_end = prog_epoch_end;
    cb->destroy = prog_destroy;
    *outp = cb;
    return RNNC_OK;
}
