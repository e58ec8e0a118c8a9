/* test_plot.c - `rnnc plot HISTORY -o curves.svg` draws a history as an
 * SVG with one panel per metric, training and validation curves, axes and
 * a legend.
 *
 * Oracles: histories written here with known values, and the panel
 * geometry derived by hand from the layout (panels 440 x 300, plot area
 * from x 64 to 424 and y 34 to 256, y range rounded out to 1/2/5 steps):
 * where the first and last points of a curve must be, how many points
 * each curve has, and that an epoch without a value breaks the line. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers/run_program.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnc_plot_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void) { rnnc_test_rm_tree(tmpdir); }

TestSuite(plot, .init = setup, .fini = teardown, .timeout = 60);

static void write_text(const char *name, const char *text)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static char *plot(const char *history, const char *svg)
{
    rnnc_test_run r =
        rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, (const char *const[]){"plot", history, "-o", svg, NULL});
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    char p[600];
    snprintf(p, sizeof p, "%s/%s", tmpdir, svg);
    char *t = rnnc_test_slurp(p, NULL);
    cr_assert_not_null(t);
    return t;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The points attribute of the k-th polyline of colour color. */
static void points_of(const char *svg, const char *color, int k, char *out, size_t cap)
{
    char needle[64];
    snprintf(needle, sizeof needle, "stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    const char *p = svg;
    for (int i = 0; i <= k; i++) {
        p = strstr(p, needle);
        cr_assert_not_null(p, "polyline %d of %s", k, color);
        p += strlen(needle);
    }
    size_t n = strcspn(p, "\"");
    snprintf(out, cap, "%.*s", (int)(n < cap - 1 ? n : cap - 1), p);
}

Test(plot, panels_curves_axes_and_legend_from_history_json)
{
    write_text("history.json", "{\"loss\": [4.0, 3.0, 2.0, 1.0], \"mae\": [0.5, 0.4, 0.3, 0.2], "
                               "\"val_loss\": [3.5, NaN, 2.5, 2.0], \"learning_rate\": [0.01, 0.01, 0.005, 0.005]}");
    char *svg = plot("history.json", "c.svg");
    cr_assert(strncmp(svg, "<?xml", 5) == 0 && strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    /* 3 panels (loss with val_loss, mae, learning_rate) in 2 columns: 880 x 600 */
    cr_assert(strstr(svg, "width=\"880\" height=\"600\""), "%.300s", svg);
    cr_assert_eq(count(svg, "font-weight=\"bold\">loss<"), 1);
    cr_assert_eq(count(svg, "font-weight=\"bold\">mae<"), 1);
    cr_assert_eq(count(svg, "font-weight=\"bold\">learning_rate<"), 1);
    cr_assert_eq(count(svg, ">val_loss<"), 0, "val_loss is drawn in the loss panel");
    /* legends: training in each panel, validation in the loss panel only */
    cr_assert_eq(count(svg, ">training</text>"), 3);
    cr_assert_eq(count(svg, ">validation</text>"), 1);
    /* loss 4..1: the y range is exactly [1, 4]; epochs 1..4 span the width */
    char pts[512];
    points_of(svg, "#1f77b4", 0, pts, sizeof pts);
    cr_assert_str_eq(pts, "64.0,34.0 184.0,108.0 304.0,182.0 424.0,256.0 ");
    /* val_loss has no value at epoch 2: two lines (1 and 2 points), 3 points drawn */
    points_of(svg, "#ff7f0e", 0, pts, sizeof pts);
    cr_assert_eq(count(pts, ","), 1, "%s", pts);
    points_of(svg, "#ff7f0e", 1, pts, sizeof pts);
    cr_assert_eq(count(pts, ","), 2, "%s", pts);
    cr_assert_eq(count(svg, "fill=\"#ff7f0e\""), 3);
    /* axis labels and ticks */
    cr_assert_eq(count(svg, ">epoch</text>"), 3);
    cr_assert(strstr(svg, ">4</text>") && strstr(svg, ">1.0</text>"), "ticks");
    free(svg);
}

Test(plot, csv_histories_and_errors)
{
    /* CSVLogger's layout, epochs from 5 (initial_epoch), NA for a missing value */
    write_text("log.csv", "epoch,loss,val_loss\r\n5,2.0,NA\r\n6,1.0,1.5\r\n");
    char *svg = plot("log.csv", "d.svg");
    cr_assert(strstr(svg, "width=\"440\" height=\"300\""));
    cr_assert(strstr(svg, ">6</text>") && strstr(svg, ">7</text>"), "epochs 6 and 7 (1-based) on the x axis");
    cr_assert_eq(count(svg, "fill=\"#ff7f0e\""), 1);
    free(svg);
    rnnc_test_run r =
        rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, (const char *const[]){"plot", "none.json", NULL});
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "none.json") && rnnc_test_count_lines(r.err) == 1, "%s", r.err);
    rnnc_test_run_free(&r);
    write_text("bad.json", "{\"loss\": \"high\"}");
    r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, (const char *const[]){"plot", "bad.json", NULL});
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "'loss' must be a list of numbers"), "%s", r.err);
    rnnc_test_run_free(&r);
    r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, (const char *const[]){"plot", "log.csv", "-o", "c.pdf", NULL});
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "must end in .svg or .png"), "%s", r.err);
    rnnc_test_run_free(&r);
    cr_assert_eq(access("curves.svg", F_OK), -1);
}

Test(plot, png_through_cairo)
{
    write_text("history.json", "{\"loss\": [4.0, 3.0, 2.0, 1.0], \"val_loss\": [3.5, 3.0, 2.5, 2.0], \"mae\": [1, 2, 3, 4]}");
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL,
                                            (const char *const[]){"plot", "history.json", "-o", "c.png", NULL});
    if (r.code == 2 && strstr(r.err, "built without cairo")) {
        rnnc_test_run_free(&r);
        cr_skip_test("built without cairo");
    }
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    char p[600];
    snprintf(p, sizeof p, "%s/c.png", tmpdir);
    size_t len;
    unsigned char *png = (unsigned char *)rnnc_test_slurp(p, &len);
    cr_assert(png && len > 33);
    cr_assert(memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(png + 12, "IHDR", 4) == 0);
    /* 2 panels side by side (loss with val_loss, mae): 880 x 300 */
    const unsigned w = (unsigned)png[16] << 24 | (unsigned)png[17] << 16 | (unsigned)png[18] << 8 | png[19];
    const unsigned h = (unsigned)png[20] << 24 | (unsigned)png[21] << 16 | (unsigned)png[22] << 8 | png[23];
    cr_assert_eq(w, 880u);
    cr_assert_eq(h, 300u);
    free(png);
}
