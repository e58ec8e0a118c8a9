/* describe.c - model summary, resolved config and HDF5 tensor listing for
 * `rnnc inspect` and `rnnc train`. */
#include "apps/describe.h"

#include <stdlib.h>
#include <string.h>

#include "io/h5_util.h"
#include "io/json_writer.h"

const char *rnnc_app_shape_str(const rnnc_shape *s, char *buf, size_t cap)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "(");
    for (int i = 0; i < s->ndim && n < cap; i++) {
        if (s->dim[i] < 0)
            n += (size_t)snprintf(buf + n, cap - n, "%sNone", i ? ", " : "");
        else
            n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)s->dim[i]);
    }
    if (n < cap)
        snprintf(buf + n, cap - n, "%s)", s->ndim == 1 ? "," : "");
    return buf;
}

/* 12345 -> "12,345" */
static const char *grouped(size_t v, char *buf, size_t cap)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%zu", v);
    size_t len = strlen(raw), o = 0;
    for (size_t i = 0; i < len && o + 2 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

static size_t count_weights(const rnnc_layer *l, bool trainable)
{
    rnnc_weight *w[256];
    int n = 0;
    size_t total = 0;
    if (rnnc_layer_trainable_weights(l, trainable, w, 256, &n) != RNNC_OK)
        return 0;
    for (int i = 0; i < n && i < 256; i++)
        total += w[i]->value->numel;
    return total;
}

rnnc_status rnnc_app_print_summary(FILE *f, const rnnc_model *m)
{
    char rule[160], dbl[160];
    /* The first column fits the longest "name (Class)". */
    int wide = 32;
    for (int i = 0; i < m->n_layers; i++) {
        int len = (int)(strlen(m->layers[i]->name) + strlen(m->layers[i]->cls->class_name) + 3);
        wide = len + 1 > wide ? (len + 1 < 100 ? len + 1 : 100) : wide;
    }
    int total = wide + 41;
    memset(rule, '_', (size_t)total);
    memset(dbl, '=', (size_t)total);
    rule[total] = dbl[total] = '\0';
    fprintf(f, "Model: \"%s\"\n%s\n", m->name, rule);
    fprintf(f, " %-*s %-26s %12s\n%s\n", wide, "Layer (type)", "Output Shape", "Param #", dbl);
    rnnc_shape shape = m->input_shape;
    bool known = m->has_input;
    size_t trainable = 0, frozen = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const rnnc_layer *l = m->layers[i];
        char left[160], body[160] = "?", out[200] = "?", num[32];
        snprintf(left, sizeof left, "%s (%s)", l->name, l->cls->class_name);
        if (known) {
            rnnc_output_spec spec;
            if (rnnc_layer_output_spec(l, &shape, &spec) == RNNC_OK && spec.n_outputs > 0) {
                size_t n = 0;
                for (int k = 0; k < spec.n_outputs && n < sizeof body; k++) {
                    char one[80];
                    n += (size_t)snprintf(body + n, sizeof body - n, "%s%s", k ? ", " : "",
                                          rnnc_app_shape_str(&spec.shapes[k], one, sizeof one));
                }
                snprintf(out, sizeof out, spec.n_outputs > 1 ? "[%s]" : "%s", body);
                shape = spec.shapes[0];
            } else {
                rnnc_clear_error();
                known = false;
            }
        }
        size_t t = count_weights(l, true), nt = count_weights(l, false);
        trainable += t;
        frozen += nt;
        fprintf(f, " %-*s %-26s %12s\n", wide, left, out, l->built ? grouped(t + nt, num, sizeof num) : "0 (unbuilt)");
    }
    char a[32], b[32], c[32];
    fprintf(f, "%s\n Total params: %s\n Trainable params: %s\n Non-trainable params: %s\n%s\n", dbl,
            grouped(trainable + frozen, a, sizeof a), grouped(trainable, b, sizeof b),
            grouped(frozen, c, sizeof c), rule);
    return RNNC_OK;
}

rnnc_status rnnc_app_print_config(FILE *f, const rnnc_model *m)
{
    rnnc_cfg *c;
    char *text;
    RNNC_TRY(rnnc_model_serialize(m, &c));
    rnnc_status s = rnnc_json_write(c, 2, &text);
    rnnc_cfg_destroy(c);
    RNNC_TRY(s);
    fprintf(f, "%s\n", text);
    free(text);
    return RNNC_OK;
}

typedef struct walk {
    FILE *f;
    int count;
} walk;

static const char *type_name(hid_t t, char *buf, size_t cap)
{
    H5T_class_t c = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    switch (c) {
    case H5T_FLOAT: snprintf(buf, cap, "float%zu", size * 8); break;
    case H5T_INTEGER:
        snprintf(buf, cap, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", size * 8);
        break;
    case H5T_STRING: snprintf(buf, cap, "string"); break;
    case H5T_ENUM: snprintf(buf, cap, "enum (bool?)"); break;
    default: snprintf(buf, cap, "other"); break;
    }
    return buf;
}

static herr_t visit(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    walk *w = data;
    (void)info;
    H5O_info_t oi;
    if (H5Oget_info_by_name(group, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET)
        return 0;
    hid_t d = H5Dopen2(group, name, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    char tn[32] = "?", shape[160] = "?";
    if (t >= 0)
        type_name(t, tn, sizeof tn);
    if (sp >= 0) {
        hsize_t dims[H5S_MAX_RANK];
        int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
        if (nd >= 0 && nd <= RNNC_MAX_DIMS) {
            rnnc_shape s = {.ndim = nd};
            for (int i = 0; i < nd; i++)
                s.dim[i] = (int64_t)dims[i];
            rnnc_app_shape_str(&s, shape, sizeof shape);
        }
    }
    fprintf(w->f, "  /%-52s %-8s %s\n", name, tn, shape);
    w->count++;
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    H5Dclose(d);
    return 0;
}

rnnc_status rnnc_app_print_h5_tensors(FILE *f, hid_t file, const char *label)
{
    char why[600];
    walk w = {f, 0};
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    herr_t e = H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, visit, &w);
    rnnc_status s = RNNC_OK;
    if (e < 0)
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': cannot list its contents%s", label,
                      rnnc_h5_error_detail(why, sizeof why));
    rnnc_h5_quiet_end(&q);
    if (s == RNNC_OK)
        fprintf(f, "  (%d datasets)\n", w.count);
    return s;
}
