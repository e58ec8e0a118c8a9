/* progress.c - the progress display of fit, as Keras's Progbar: "Epoch
 * e/E", then either a live bar redrawn after each batch (a terminal) or one
 * line per epoch, with the running loss and metrics formatted as Keras
 * formats them (%.4f, or %.4e for |v| <= 1e-3). Text only: the callback
 * that prints it is in trainer.c (progress_internal.h). */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "optim/progress_internal.h"

bool rnnc__stdout_is_tty(void) { return isatty(fileno(stdout)) == 1; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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

void rnnc__progbar_epoch_begin(rnnc__progbar *p, int epoch, int epochs, char *buf, size_t cap)
{
    snprintf(buf, cap, "Epoch %d/%d\n", epoch + 1, epochs);
    p->start = now_s();
    p->after_first = 0;
    p->prev_width = 0;
}

void rnnc__progbar_batch_end(rnnc__progbar *p, int step)
{
    if (step == 0)
        p->after_first = now_s();
}

static double per_step(const rnnc__progbar *p, int64_t current, double t)
{
    if (current <= 0)
        return 0;
    if (p->after_first > 0 && current > 1)
        return (t - p->after_first) / (double)(current - 1);
    return (t - p->start) / (double)current;
}

void rnnc__progbar_draw(rnnc__progbar *p, int64_t current, int64_t target, const rnnc_logs *logs,
                        bool final, char *line, size_t cap)
{
    const double t = now_s();
    if (current == 1)
        p->after_first = t;
    const double tps = per_step(p, current, t);
    char ts[32], vals[1536];
    const int digits = target > 0 ? (int)log10((double)target) + 1 : 1;
    fmt_time_per_step(tps, ts, sizeof ts);
    fmt_values(logs, vals, sizeof vals);
    if (!p->live) {
        snprintf(line, cap, "%*lld/%lld - %.0fs - %s%s\n", digits, (long long)current, (long long)target,
                 t - p->start, ts, vals);
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
    int w = snprintf(line, cap, "\r\x1b[1m%*lld/%lld\x1b[0m %s \x1b[1m%s\x1b[0m %s%s", digits,
                     (long long)current, (long long)target, bar, eta, ts, vals);
    /* pad over a longer previous line (visible width: without escapes) */
    int visible = 2 * digits + 1 + 1 + 20 + 1 + (int)strlen(eta) + 1 + (int)strlen(ts) + (int)strlen(vals);
    (void)w;
    size_t len = strlen(line);
    for (int i = visible; i < p->prev_width && len + 2 < cap; i++)
        line[len++] = ' ';
    if (final && len + 1 < cap)
        line[len++] = '\n';
    line[len] = '\0';
    p->prev_width = visible;
}
