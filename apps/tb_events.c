/* tb_events.c - TensorBoard event files (tb_events.h). */
#define _POSIX_C_SOURCE 200809L
#include "apps/tb_events.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "io/checkpoint_dir.h"

uint32_t rnnc_crc32c(const void *data, size_t n)
{
    static uint32_t table[256];
    static int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t rnnc_tfrecord_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

#ifdef RNNC_HAVE_PROTOBUF_C
#include "tb_event.pb-c.h"

struct rnnc_tb_writer {
    FILE *f;
    char path[4300];
};

static double now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* One TFRecord holding the packed event. */
static rnnc_status write_event(rnnc_tb_writer *w, const RnncTb__Event *ev)
{
    size_t n = rnnc_tb__event__get_packed_size(ev);
    unsigned char *buf = malloc(n + 16);
    if (!buf)
        return rnnc_fail(RNNC_E_NOMEM, "TensorBoard: out of memory");
    put_le(buf, n, 8);
    put_le(buf + 8, rnnc_tfrecord_mask(rnnc_crc32c(buf, 8)), 4);
    rnnc_tb__event__pack(ev, buf + 12);
    put_le(buf + 12 + n, rnnc_tfrecord_mask(rnnc_crc32c(buf + 12, n)), 4);
    bool ok = fwrite(buf, 1, n + 16, w->f) == n + 16 && fflush(w->f) == 0;
    free(buf);
    if (!ok)
        return rnnc_fail(RNNC_E_IO, "TensorBoard: writing '%s' failed: %s", w->path, strerror(errno));
    return RNNC_OK;
}

static rnnc_status write_value(rnnc_tb_writer *w, int64_t step, RnncTb__Summary__Value *v)
{
    RnncTb__Summary sum = RNNC_TB__SUMMARY__INIT;
    RnncTb__Summary__Value *vals[1] = {v};
    sum.n_value = 1;
    sum.value = vals;
    RnncTb__Event ev = RNNC_TB__EVENT__INIT;
    ev.wall_time = now();
    ev.step = step;
    ev.what_case = RNNC_TB__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    return write_event(w, &ev);
}

rnnc_status rnnc_tb_writer_open(const char *dir, rnnc_tb_writer **out)
{
    static int counter;
    *out = NULL;
    RNNC_TRY(rnnc_mkdir_parents("TensorBoard log_dir", dir));
    rnnc_tb_writer *w = calloc(1, sizeof *w);
    if (!w)
        return rnnc_fail(RNNC_E_NOMEM, "TensorBoard: out of memory");
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0)
        strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%lld.%s.%ld.%d.v2", dir, (long long)now(), host,
             (long)getpid(), counter++);
    if (!(w->f = fopen(w->path, "wb"))) {
        rnnc_status s = rnnc_fail(RNNC_E_IO, "TensorBoard: cannot create '%s': %s", w->path, strerror(errno));
        free(w);
        return s;
    }
    RnncTb__Event ev = RNNC_TB__EVENT__INIT;
    ev.wall_time = now();
    ev.what_case = RNNC_TB__EVENT__WHAT_FILE_VERSION;
    ev.file_version = (char *)"brain.Event:2";
    rnnc_status s = write_event(w, &ev);
    if (s) {
        fclose(w->f);
        free(w);
        return s;
    }
    *out = w;
    return RNNC_OK;
}

rnnc_status rnnc_tb_scalar(rnnc_tb_writer *w, const char *tag, int64_t step, double value)
{
    RnncTb__Summary__Value v = RNNC_TB__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.value_case = RNNC_TB__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
    v.simple_value = (float)value;
    return write_value(w, step, &v);
}

rnnc_status rnnc_tb_histogram(rnnc_tb_writer *w, const char *tag, int64_t step, const float *x, size_t n)
{
    enum { NB = 30 };
    double limit[NB], count[NB] = {0};
    RnncTb__HistogramProto h = RNNC_TB__HISTOGRAM_PROTO__INIT;
    h.min = n ? INFINITY : 0.0;
    h.max = n ? -INFINITY : 0.0;
    for (size_t i = 0; i < n; i++) {
        h.min = fmin(h.min, x[i]);
        h.max = fmax(h.max, x[i]);
        h.sum += x[i];
        h.sum_squares += (double)x[i] * x[i];
    }
    h.num = (double)n;
    const double width = h.max > h.min ? (h.max - h.min) / NB : 1.0;
    for (int b = 0; b < NB; b++)
        limit[b] = h.min + width * (b + 1);
    limit[NB - 1] = h.max > h.min ? h.max : h.min + 1.0; /* the last edge holds the max exactly */
    for (size_t i = 0; i < n; i++) {
        int b = (int)((x[i] - h.min) / width);
        count[b < 0 ? 0 : b >= NB ? NB - 1 : b] += 1;
    }
    h.n_bucket_limit = h.n_bucket = NB;
    h.bucket_limit = limit;
    h.bucket = count;
    RnncTb__Summary__Value v = RNNC_TB__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.value_case = RNNC_TB__SUMMARY__VALUE__VALUE_HISTO;
    v.histo = &h;
    return write_value(w, step, &v);
}

rnnc_status rnnc_tb_text(rnnc_tb_writer *w, const char *tag, int64_t step, const char *plugin, const char *content,
                         const char *text)
{
    RnncTb__TensorShapeProto shape = RNNC_TB__TENSOR_SHAPE_PROTO__INIT;
    RnncTb__TensorProto t = RNNC_TB__TENSOR_PROTO__INIT;
    ProtobufCBinaryData sv = {strlen(text), (uint8_t *)text};
    t.dtype = 7; /* DT_STRING */
    t.tensor_shape = &shape;
    t.n_string_val = 1;
    t.string_val = &sv;
    RnncTb__SummaryMetadata__PluginData pd = RNNC_TB__SUMMARY_METADATA__PLUGIN_DATA__INIT;
    pd.plugin_name = (char *)plugin;
    pd.content.len = strlen(content);
    pd.content.data = (uint8_t *)content;
    RnncTb__SummaryMetadata md = RNNC_TB__SUMMARY_METADATA__INIT;
    md.plugin_data = &pd;
    RnncTb__Summary__Value v = RNNC_TB__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.metadata = &md;
    v.value_case = RNNC_TB__SUMMARY__VALUE__VALUE_TENSOR;
    v.tensor = &t;
    return write_value(w, step, &v);
}

const char *rnnc_tb_writer_path(const rnnc_tb_writer *w) { return w->path; }

rnnc_status rnnc_tb_writer_close(rnnc_tb_writer *w)
{
    if (!w)
        return RNNC_OK;
    rnnc_status s = RNNC_OK;
    if (fclose(w->f) != 0)
        s = rnnc_fail(RNNC_E_IO, "TensorBoard: closing '%s' failed: %s", w->path, strerror(errno));
    free(w);
    return s;
}

#else /* without protobuf-c */

struct rnnc_tb_writer {
    int unused;
};

rnnc_status rnnc_tb_writer_open(const char *dir, rnnc_tb_writer **out)
{
    *out = NULL;
    return rnnc_fail(RNNC_E_UNSUPPORTED, "TensorBoard: this rnnc was built without protobuf-c, so it cannot write event files to '%s' (install libprotobuf-c-dev and protobuf-c-compiler, and build again)",
                     dir);
}

rnnc_status rnnc_tb_scalar(rnnc_tb_writer *w, const char *tag, int64_t step, double value)
{
    (void)w, (void)tag, (void)step, (void)value;
    return RNNC_E_UNSUPPORTED;
}

rnnc_status rnnc_tb_histogram(rnnc_tb_writer *w, const char *tag, int64_t step, const float *v, size_t n)
{
    (void)w, (void)tag, (void)step, (void)v, (void)n;
    return RNNC_E_UNSUPPORTED;
}

rnnc_status rnnc_tb_text(rnnc_tb_writer *w, const char *tag, int64_t step, const char *plugin, const char *content,
                         const char *text)
{
    (void)w, (void)tag, (void)step, (void)plugin, (void)content, (void)text;
    return RNNC_E_UNSUPPORTED;
}

const char *rnnc_tb_writer_path(const rnnc_tb_writer *w)
{
    (void)w;
    return "";
}

rnnc_status rnnc_tb_writer_close(rnnc_tb_writer *w)
{
    free(w);
    return RNNC_OK;
}
#endif
