/* cmd_plot.c - `rnnc plot HISTORY [-o curves.svg]`: training and validation
 * curves of a run's history (history.json, history.csv, a CSVLogger file,
 * or the folder holding history.json) as an SVG file: one panel per metric
 * (loss, mae, ..., learning_rate), epochs on x, the metric on y, training
 * in blue and validation in orange, with axes, ticks and a legend. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/cli.h"
#include "apps/commands.h"
#include "apps/history_files.h"

static rnnc_cli_opt opts[] = {
    {"-o", "OUT.svg", "where the SVG goes (default: curves.svg beside HISTORY)", NULL},
    {"--output", "OUT.svg", "the same as -o", NULL},
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd cmd = {
    .name = "plot",
    .usage = "HISTORY [-o OUT.svg]",
    .summary = "Draw a run's training and validation curves (one panel per metric) as SVG.",
    .details = "HISTORY is a history.json or history.csv (rnnc train writes both after every\n"
               "epoch), a CSVLogger file, or the folder holding history.json. Each metric gets\n"
               "a panel with its training values and, when there are any, its validation\n"
               "values (val_<metric>); learning_rate gets its own panel.\n\n"
               "Example:\n"
               "  rnnc plot build/checkpoints/adding -o build/adding_curves.svg",
    .min_pos = 1,
    .max_pos = 1,
    .opts = opts,
};

/* ---- a growing text buffer ---- */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool failed;
} sbuf;

static void out(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || b->failed) {
        b->failed = true;
        va_end(ap2);
        return;
    }
    if (b->n + (size_t)k + 1 > b->cap) {
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = true;
            va_end(ap2);
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap2);
    va_end(ap2);
    b->n += (size_t)k;
}

/* Text with &, <, > escaped. */
static void out_text(sbuf *b, const char *t)
{
    for (; *t; t++)
        out(b, "%s", *t == '&' ? "&amp;" : *t == '<' ? "&lt;" : *t == '>' ? "&gt;" : (char[]){*t, 0});
}

/* ---- axes ---- */

/* A "nice" step (1, 2 or 5 x 10^k) giving about n ticks over span. */
static double nice_step(double span, int n)
{
    double raw = span / n, p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void fmt_tick(double v, double step, char *buf, size_t cap)
{
    if (fabs(v) < step * 1e-9)
        v = 0;
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) >= 1e5 || (v != 0 && fabs(v) < 1e-4))
        snprintf(buf, cap, "%.2g", v);
    else
        snprintf(buf, cap, "%.*f", dec, v);
}

enum { PW = 440, PH = 300, ML = 64, MR = 16, MT = 34, MB = 44 };

typedef struct series {
    const char *label;
    const char *color;
    const rnnc_cfg *values; /* list of numbers (NaN / null: no value) */
} series;

static double val_at(const rnnc_cfg *l, size_t i)
{
    const rnnc_cfg *v = l->items[i];
    return v->type == RNNC_CFG_FLOAT ? v->v.f : v->type == RNNC_CFG_INT ? (double)v->v.i : NAN;
}

/* One panel at (x0, y0): title, axes with ticks, the series, a legend. */
static void panel(sbuf *b, int x0, int y0, const char *title, const series *s, int ns, int64_t first_epoch)
{
    double lo = INFINITY, hi = -INFINITY;
    size_t n = 0;
    for (int k = 0; k < ns; k++) {
        n = s[k].values->n > n ? s[k].values->n : n;
        for (size_t i = 0; i < s[k].values->n; i++) {
            double v = val_at(s[k].values, i);
            if (isfinite(v)) {
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
        }
    }
    if (!(lo <= hi)) {
        lo = 0;
        hi = 1;
    }
    if (hi - lo < 1e-12 * fmax(1.0, fabs(hi))) {
        lo -= fmax(0.5, fabs(lo) * 0.1);
        hi += fmax(0.5, fabs(hi) * 0.1);
    }
    const double ystep = nice_step(hi - lo, 5);
    lo = floor(lo / ystep) * ystep;
    hi = ceil(hi / ystep) * ystep;
    const double e0 = (double)first_epoch + 1, e1 = (double)first_epoch + (double)(n > 1 ? n : 2);
    const double xstep = fmax(1.0, nice_step(e1 - e0, 6));
    const int px = x0 + ML, py = y0 + MT, w = PW - ML - MR, h = PH - MT - MB;
#define X(e) (px + ((e) - e0) / (e1 - e0) * w)
#define Y(v) (py + h - ((v) - lo) / (hi - lo) * h)
    out(b, "<g>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">", px + w / 2,
        y0 + 22);
    out_text(b, title);
    out(b, "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", px, py, w, h);
    for (double v = lo; v <= hi + ystep * 1e-6; v += ystep) {
        char t[32];
        fmt_tick(v, ystep, t, sizeof t);
        out(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>", px, Y(v), px + w, Y(v));
        out(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%s</text>\n", px - 6, Y(v) + 4, t);
    }
    for (double e = ceil(e0 / xstep) * xstep; e <= e1 + 1e-9; e += xstep) {
        out(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>", X(e), py + h, X(e), py + h + 5);
        out(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">%.0f</text>\n", X(e), py + h + 18, e);
    }
    out(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n", px + w / 2, y0 + PH - 6);
    for (int k = 0; k < ns; k++) {
        bool open = false;
        for (size_t i = 0; i < s[k].values->n; i++) {
            double v = val_at(s[k].values, i);
            const double e = (double)first_epoch + 1 + (double)i;
            if (!isfinite(v)) {
                if (open)
                    out(b, "\"/>\n");
                open = false;
                continue;
            }
            if (!open)
                out(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", s[k].color);
            out(b, "%.1f,%.1f ", X(e), Y(v));
            open = true;
        }
        if (open)
            out(b, "\"/>\n");
        for (size_t i = 0; i < s[k].values->n; i++) { /* points, so a single epoch shows */
            double v = val_at(s[k].values, i);
            if (isfinite(v))
                out(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>", X((double)first_epoch + 1 + (double)i),
                    Y(v), s[k].color);
        }
        out(b, "\n");
        /* legend, top right */
        const int lx = px + w - 110, ly = py + 14 + 16 * k;
        out(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>", lx, ly - 4, lx + 18,
            ly - 4, s[k].color);
        out(b, "<text x=\"%d\" y=\"%d\" font-size=\"11\">", lx + 24, ly);
        out_text(b, s[k].label);
        out(b, "</text>\n");
    }
    out(b, "</g>\n");
#undef X
#undef Y
}

static rnnc_status svg_of(const rnnc_cfg *h, int64_t first_epoch, sbuf *b)
{
    /* the panels: each key that is not val_*, then val_* keys without a training key */
    const rnnc_cfg *keys[64];
    int np = 0;
    for (size_t i = 0; i < h->n && np < 64; i++) {
        const char *k = h->keys[i];
        if (strncmp(k, "val_", 4) != 0 || !rnnc_cfg_peek(h, k + 4))
            keys[np++] = h->items[i];
    }
    const int cols = np > 1 ? 2 : 1, rows = (np + cols - 1) / cols;
    out(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n",
        cols * PW, rows * PH, cols * PW, rows * PH);
    out(b, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    for (int p = 0; p < np; p++) {
        size_t idx = 0;
        while (h->items[idx] != keys[p])
            idx++;
        const char *name = h->keys[idx];
        series s[2];
        int ns = 0;
        char val[200];
        if (strncmp(name, "val_", 4) == 0) {
            s[ns++] = (series){"validation", "#ff7f0e", keys[p]};
        } else {
            s[ns++] = (series){"training", "#1f77b4", keys[p]};
            snprintf(val, sizeof val, "val_%s", name);
            const rnnc_cfg *v = rnnc_cfg_peek(h, val);
            if (v)
                s[ns++] = (series){"validation", "#ff7f0e", v};
        }
        panel(b, (p % cols) * PW, (p / cols) * PH, name, s, ns, first_epoch);
    }
    out(b, "</svg>\n");
    return b->failed ? rnnc_fail(RNNC_E_NOMEM, "out of memory drawing the curves") : RNNC_OK;
}

/* text to path through "<path>.tmp", renamed into place. */
static rnnc_status write_file(const char *path, const char *text, size_t n)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return rnnc_fail(RNNC_E_IO, "cannot write '%s': %s", path, strerror(errno));
    bool ok = fwrite(text, 1, n, f) == n && fflush(f) == 0;
    int err = errno;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        err = ok ? errno : err;
        remove(tmp);
        return rnnc_fail(RNNC_E_IO, "cannot write '%s': %s", path, strerror(err));
    }
    return RNNC_OK;
}

int rnnc_cmd_plot(int argc, char **argv)
{
    int rc = rnnc_cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    const char *in = cmd.pos[0], *o = rnnc_cli_get(&cmd, "-o"), *o2 = rnnc_cli_get(&cmd, "--output");
    if (o && o2) {
        rnnc_cli_error(&cmd, "give -o or --output, not both");
        return RNNC_EXIT_USAGE;
    }
    o = o ? o : o2;
    char def[4200];
    if (!o) {
        struct stat st;
        const char *slash = strrchr(in, '/');
        if (stat(in, &st) == 0 && S_ISDIR(st.st_mode))
            snprintf(def, sizeof def, "%s/curves.svg", in);
        else if (slash)
            snprintf(def, sizeof def, "%.*s/curves.svg", (int)(slash - in), in);
        else
            snprintf(def, sizeof def, "curves.svg");
        o = def;
    }
    size_t ol = strlen(o);
    if (ol < 4 || strcmp(o + ol - 4, ".svg") != 0) {
        rnnc_cli_error(&cmd, "'%s' must end in .svg (PNG is not built in; convert the SVG, e.g. with rsvg-convert)", o);
        return RNNC_EXIT_USAGE;
    }
    rnnc_cfg *h = NULL;
    int64_t first = 0;
    sbuf b = {0};
    rnnc_status s = rnnc_history_files_read(in, &h, &first);
    if (!s)
        s = svg_of(h, first, &b);
    if (!s)
        s = write_file(o, b.s, b.n);
    rnnc_cfg_destroy(h);
    free(b.s);
    if (s)
        return rnnc_cli_fail(&cmd, s);
    printf("Plotted %s to %s\n", in, o);
    return RNNC_EXIT_OK;
}
