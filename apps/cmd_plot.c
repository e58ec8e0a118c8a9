/* cmd_plot.c - `rnnc plot HISTORY [-o curves.svg]`: training and validation
 * curves of a run's history (history.json, history.csv, a CSVLogger file,
 * or the folder holding history.json) as an SVG file: one panel per metric
 * (loss, mae, ..., learning_rate), epochs on x, the metric on y, training
 * in blue and validation in orange, with axes, ticks and a legend; or the
 * same drawing as a PNG through cairo (when built with it). */
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
    {"-o", "OUT.svg|OUT.png", "where the picture goes (default: curves.svg beside HISTORY); .png needs cairo", NULL},
    {"--output", "OUT.svg|OUT.png", "the same as -o", NULL},
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd cmd = {
    .name = "plot",
    .usage = "HISTORY [-o OUT.svg|OUT.png]",
    .summary = "Draw a run's training and validation curves (one panel per metric) as SVG or PNG.",
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

enum { PW = 440, PH = 300, ML = 64, MR = 16, MT = 34, MB = 44 };

/* Where a drawing goes: SVG text or (with cairo) a PNG image. */
typedef enum { ANCHOR_START, ANCHOR_MIDDLE, ANCHOR_END } anchor;
typedef struct canvas canvas;
struct canvas {
    void (*line)(canvas *c, double x1, double y1, double x2, double y2, const char *color, double width);
    void (*rect)(canvas *c, double x, double y, double w, double h);
    void (*poly)(canvas *c, const double *xs, const double *ys, int n, const char *color);
    void (*dot)(canvas *c, double x, double y, const char *color);
    void (*text)(canvas *c, double x, double y, anchor a, double size, bool bold, const char *t);
    sbuf *b;  /* SVG */
    void *cr; /* cairo_t */
};

static const char *const anchors[] = {"start", "middle", "end"};

static void svg_line(canvas *c, double x1, double y1, double x2, double y2, const char *color, double width)
{
    out(c->b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"", x1, y1, x2, y2, color);
    if (width != 1)
        out(c->b, " stroke-width=\"%g\"", width);
    out(c->b, "/>");
}

static void svg_rect(canvas *c, double x, double y, double w, double h)
{
    out(c->b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#444\"/>\n", x, y, w, h);
}

static void svg_poly(canvas *c, const double *xs, const double *ys, int n, const char *color)
{
    out(c->b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (int i = 0; i < n; i++)
        out(c->b, "%.1f,%.1f ", xs[i], ys[i]);
    out(c->b, "\"/>\n");
}

static void svg_dot(canvas *c, double x, double y, const char *color)
{
    out(c->b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>", x, y, color);
}

static void svg_text(canvas *c, double x, double y, anchor a, double size, bool bold, const char *t)
{
    out(c->b, "<text x=\"%.1f\" y=\"%.1f\"%s%s%s font-size=\"%g\"%s>", x, y, a != ANCHOR_START ? " text-anchor=\"" : "",
        a != ANCHOR_START ? anchors[a] : "", a != ANCHOR_START ? "\"" : "", size, bold ? " font-weight=\"bold\"" : "");
    out_text(c->b, t);
    out(c->b, "</text>\n");
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
static rnnc_status panel(canvas *c, int x0, int y0, const char *title, const series *s, int ns, int64_t first_epoch)
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
    if (hi - lo < 1e-12 * fmax(1.0, fabs(hi))) { /* one value: a range around it */
        const double d = fabs(hi) > 0 ? fabs(hi) * 0.1 : 0.5;
        lo -= d;
        hi += d;
    }
    const double ystep = nice_step(hi - lo, 5);
    lo = floor(lo / ystep) * ystep;
    hi = ceil(hi / ystep) * ystep;
    const double e0 = (double)first_epoch + 1, e1 = (double)first_epoch + (double)(n > 1 ? n : 2);
    const double xstep = fmax(1.0, nice_step(e1 - e0, 6));
    const int px = x0 + ML, py = y0 + MT, w = PW - ML - MR, h = PH - MT - MB;
#define X(e) (px + ((e) - e0) / (e1 - e0) * w)
#define Y(v) (py + h - ((v) - lo) / (hi - lo) * h)
    c->text(c, px + w / 2, y0 + 22, ANCHOR_MIDDLE, 15, true, title);
    c->rect(c, px, py, w, h);
    for (double v = lo; v <= hi + ystep * 1e-6; v += ystep) {
        char t[32];
        fmt_tick(v, ystep, t, sizeof t);
        c->line(c, px, Y(v), px + w, Y(v), "#ddd", 1);
        c->text(c, px - 6, Y(v) + 4, ANCHOR_END, 11, false, t);
    }
    for (double e = ceil(e0 / xstep) * xstep; e <= e1 + 1e-9; e += xstep) {
        char t[32];
        snprintf(t, sizeof t, "%.0f", e);
        c->line(c, X(e), py + h, X(e), py + h + 5, "#444", 1);
        c->text(c, X(e), py + h + 18, ANCHOR_MIDDLE, 11, false, t);
    }
    c->text(c, px + w / 2, y0 + PH - 6, ANCHOR_MIDDLE, 12, false, "epoch");
    double *xs = malloc((n + 1) * sizeof *xs), *ys = malloc((n + 1) * sizeof *ys);
    if (!xs || !ys) {
        free(xs);
        free(ys);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory drawing the curves");
    }
    for (int k = 0; k < ns; k++) {
        int m = 0; /* points of the current line; an epoch without a value ends it */
        for (size_t i = 0; i <= s[k].values->n; i++) {
            double v = i < s[k].values->n ? val_at(s[k].values, i) : NAN;
            if (isfinite(v)) {
                xs[m] = X((double)first_epoch + 1 + (double)i);
                ys[m++] = Y(v);
            } else if (m > 0) {
                c->poly(c, xs, ys, m, s[k].color);
                m = 0;
            }
        }
        for (size_t i = 0; i < s[k].values->n; i++) { /* points, so a single epoch shows */
            double v = val_at(s[k].values, i);
            if (isfinite(v))
                c->dot(c, X((double)first_epoch + 1 + (double)i), Y(v), s[k].color);
        }
        /* legend, top right */
        const int lx = px + w - 110, ly = py + 14 + 16 * k;
        c->line(c, lx, ly - 4, lx + 18, ly - 4, s[k].color, 2);
        c->text(c, lx + 24, ly, ANCHOR_START, 11, false, s[k].label);
    }
    free(xs);
    free(ys);
    return RNNC_OK;
#undef X
#undef Y
}

/* The panels: each key that is not val_*, then val_* keys without a training key. */
static int panels_of(const rnnc_cfg *h, size_t *idx, int cap)
{
    int np = 0;
    for (size_t i = 0; i < h->n && np < cap; i++)
        if (strncmp(h->keys[i], "val_", 4) != 0 || !rnnc_cfg_peek(h, h->keys[i] + 4))
            idx[np++] = i;
    return np;
}

static rnnc_status draw(canvas *c, const rnnc_cfg *h, int64_t first_epoch, const size_t *idx, int np, int cols)
{
    for (int p = 0; p < np; p++) {
        const char *name = h->keys[idx[p]];
        series s[2];
        int ns = 0;
        char val[200];
        if (strncmp(name, "val_", 4) == 0) {
            s[ns++] = (series){"validation", "#ff7f0e", h->items[idx[p]]};
        } else {
            s[ns++] = (series){"training", "#1f77b4", h->items[idx[p]]};
            snprintf(val, sizeof val, "val_%s", name);
            const rnnc_cfg *v = rnnc_cfg_peek(h, val);
            if (v)
                s[ns++] = (series){"validation", "#ff7f0e", v};
        }
        RNNC_TRY(panel(c, (p % cols) * PW, (p / cols) * PH, name, s, ns, first_epoch));
    }
    return RNNC_OK;
}

static rnnc_status svg_of(const rnnc_cfg *h, int64_t first_epoch, sbuf *b)
{
    size_t idx[64];
    const int np = panels_of(h, idx, 64), cols = np > 1 ? 2 : 1, rows = (np + cols - 1) / cols;
    out(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n",
        cols * PW, rows * PH, cols * PW, rows * PH);
    out(b, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    canvas c = {svg_line, svg_rect, svg_poly, svg_dot, svg_text, b, NULL};
    RNNC_TRY(draw(&c, h, first_epoch, idx, np, cols));
    out(b, "</svg>\n");
    return b->failed ? rnnc_fail(RNNC_E_NOMEM, "out of memory drawing the curves") : RNNC_OK;
}

#ifdef RNNC_HAVE_CAIRO
#include <cairo.h>
#include <fontconfig/fontconfig.h>

static void cairo_color(cairo_t *cr, const char *hex)
{
    unsigned v = (unsigned)strtoul(hex + 1, NULL, 16);
    if (strlen(hex) == 4) /* #rgb */
        v = ((v >> 8) & 15) * 0x110000u + ((v >> 4) & 15) * 0x1100u + (v & 15) * 0x11u;
    cairo_set_source_rgb(cr, ((v >> 16) & 255) / 255.0, ((v >> 8) & 255) / 255.0, (v & 255) / 255.0);
}

static void png_line(canvas *c, double x1, double y1, double x2, double y2, const char *color, double width)
{
    cairo_t *cr = c->cr;
    cairo_color(cr, color);
    cairo_set_line_width(cr, width);
    cairo_move_to(cr, x1, y1);
    cairo_line_to(cr, x2, y2);
    cairo_stroke(cr);
}

static void png_rect(canvas *c, double x, double y, double w, double h)
{
    cairo_t *cr = c->cr;
    cairo_color(cr, "#444444");
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x + 0.5, y + 0.5, w, h);
    cairo_stroke(cr);
}

static void png_poly(canvas *c, const double *xs, const double *ys, int n, const char *color)
{
    cairo_t *cr = c->cr;
    cairo_color(cr, color);
    cairo_set_line_width(cr, 2);
    cairo_move_to(cr, xs[0], ys[0]);
    for (int i = 1; i < n; i++)
        cairo_line_to(cr, xs[i], ys[i]);
    cairo_stroke(cr);
}

static void png_dot(canvas *c, double x, double y, const char *color)
{
    cairo_t *cr = c->cr;
    cairo_color(cr, color);
    cairo_arc(cr, x, y, 2.5, 0, 6.283185307179586);
    cairo_fill(cr);
}

static void png_text(canvas *c, double x, double y, anchor a, double size, bool bold, const char *t)
{
    cairo_t *cr = c->cr;
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr, t, &e);
    cairo_color(cr, "#000000");
    cairo_move_to(cr, x - (a == ANCHOR_MIDDLE ? e.x_advance / 2 : a == ANCHOR_END ? e.x_advance : 0), y);
    cairo_show_text(cr, t);
}

/* The same drawing as a PNG, written to tmp. */
static rnnc_status png_of(const rnnc_cfg *h, int64_t first_epoch, const char *tmp)
{
    size_t idx[64];
    const int np = panels_of(h, idx, 64), cols = np > 1 ? 2 : 1, rows = (np + cols - 1) / cols;
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, cols * PW, rows * PH);
    cairo_t *cr = cairo_create(sf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    canvas c = {png_line, png_rect, png_poly, png_dot, png_text, NULL, cr};
    rnnc_status s = draw(&c, h, first_epoch, idx, np, cols);
    cairo_status_t cs = cairo_status(cr);
    if (!s && cs == CAIRO_STATUS_SUCCESS)
        cs = cairo_surface_write_to_png(sf, tmp);
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    /* fonts cached by cairo and fontconfig, freed so that leak checkers see none */
    cairo_debug_reset_static_data();
    FcFini();
    if (!s && cs != CAIRO_STATUS_SUCCESS)
        s = rnnc_fail(RNNC_E_IO, "cannot write '%s': %s", tmp, cairo_status_to_string(cs));
    return s;
}
#endif

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
    const bool png = ol >= 4 && strcmp(o + ol - 4, ".png") == 0;
    if (!png && (ol < 4 || strcmp(o + ol - 4, ".svg") != 0)) {
        rnnc_cli_error(&cmd, "'%s' must end in .svg or .png", o);
        return RNNC_EXIT_USAGE;
    }
#ifndef RNNC_HAVE_CAIRO
    if (png) {
        rnnc_cli_error(&cmd, "'%s': this rnnc was built without cairo, so it writes SVG only (give OUT.svg, or install libcairo2-dev and build again)",
                       o);
        return RNNC_EXIT_USAGE;
    }
#endif
    rnnc_cfg *h = NULL;
    int64_t first = 0;
    sbuf b = {0};
    rnnc_status s = rnnc_history_files_read(in, &h, &first);
#ifdef RNNC_HAVE_CAIRO
    if (!s && png) {
        char tmp[4300];
        snprintf(tmp, sizeof tmp, "%s.tmp", o);
        if (!(s = png_of(h, first, tmp)) && rename(tmp, o) != 0)
            s = rnnc_fail(RNNC_E_IO, "cannot write '%s': %s", o, strerror(errno));
        if (s)
            remove(tmp);
    }
#endif
    if (!s && !png)
        s = svg_of(h, first, &b);
    if (!s && !png)
        s = write_file(o, b.s, b.n);
    rnnc_cfg_destroy(h);
    free(b.s);
    if (s)
        return rnnc_cli_fail(&cmd, s);
    printf("Plotted %s to %s\n", in, o);
    return RNNC_EXIT_OK;
}
