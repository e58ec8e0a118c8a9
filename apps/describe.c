/* describe.c - model summary, resolved config and HDF5 tensor listing for
 * `rnnc inspect` and `rnnc train`. */
#include "apps/describe.h"

#include <stdlib.h>
#include <string.h>

#include "framework/graph.h"
#include "io/h5_util.h"
#include "io/json_writer.h"

/* "(None, 5, 3)"; rank 1 reads "(None,)" (Python) or, as Keras's summary
 * prints it, "(None)". */
static const char *shape_text(const rnnc_shape *s, bool keras, char *buf, size_t cap)
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
        snprintf(buf + n, cap - n, "%s)", s->ndim == 1 && !keras ? "," : "");
    return buf;
}

const char *rnnc_app_shape_str(const rnnc_shape *s, char *buf, size_t cap)
{
    return shape_text(s, false, buf, cap);
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

/* Elements (bytes: element bytes) of a layer's trainable or non-trainable weights. */
static size_t weight_total(const rnnc_layer *l, bool trainable, bool bytes)
{
    rnnc_weight *w[256];
    int n = 0;
    size_t total = 0;
    if (rnnc_layer_trainable_weights(l, trainable, w, 256, &n) != RNNC_OK)
        return 0;
    for (int i = 0; i < n && i < 256; i++)
        total += w[i]->value->numel * (bytes ? rnnc_dtype_size(w[i]->value->dtype) : 1);
    return total;
}

static size_t count_weights(const rnnc_layer *l, bool trainable) { return weight_total(l, trainable, false); }

/* Keras's readable_memory_size: "288.00 B", "13.63 KB". */
static const char *memory_size(double bytes, char *buf, size_t cap)
{
    static const char *units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (u < 5 && bytes / 1024 >= 1) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, cap, "%.2f %s", bytes, units[u]);
    return buf;
}

/* The totals under the table, as Keras prints them. */
static void print_totals(FILE *f, const rnnc_model *m, const char *dbl, const char *rule)
{
    size_t trainable = 0, frozen = 0, tb = 0, fb = 0;
    for (int i = 0; i < m->n_layers; i++) {
        trainable += count_weights(m->layers[i], true);
        frozen += count_weights(m->layers[i], false);
        tb += weight_total(m->layers[i], true, true);
        fb += weight_total(m->layers[i], false, true);
    }
    char a[32], b[32], c[32], ma[32], mb[32], mc[32];
    fprintf(f, "%s\n Total params: %s (%s)\n Trainable params: %s (%s)\n Non-trainable params: %s (%s)\n%s\n", dbl,
            grouped(trainable + frozen, a, sizeof a), memory_size((double)(tb + fb), ma, sizeof ma),
            grouped(trainable, b, sizeof b), memory_size((double)tb, mb, sizeof mb), grouped(frozen, c, sizeof c),
            memory_size((double)fb, mc, sizeof mc), rule);
}

static rnnc_status print_sequential(FILE *f, const rnnc_model *m)
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
        fprintf(f, " %-*s %-26s %12s\n", wide, left, out, l->built ? grouped(t + nt, num, sizeof num) : "0 (unbuilt)");
    }
    print_totals(f, m, dbl, rule);
    return RNNC_OK;
}

/* ---- Functional: Keras 3's summary of a graph network ---------------------- */

/* Keras's format_shape: "(None, 5, 3)"; rank 1 reads "(None)". */
static const char *keras_shape(const rnnc_shape *s, char *buf, size_t cap)
{
    return shape_text(s, true, buf, cap);
}

typedef struct summary_row {
    char left[300];   /* "name (Class)" */
    char shape[400];  /* "(None, 5, 3)" or "[(None, 5, 4), (None, 4)]" */
    char params[40];
    char conn[1200];  /* "x[0][0], gru[0][0]" or "-" */
} summary_row;

/* Appends text to a fixed buffer (truncating). */
static void append(char *buf, size_t cap, const char *text)
{
    size_t len = strlen(buf);
    if (len + 1 < cap)
        snprintf(buf + len, cap - len, "%s", text);
}

/* Keras prints a Functional model without "Connected to" when its graph is
 * a chain: every node takes at most one tensor, no layer is called twice,
 * and one node ends it (summary_utils.print_summary's sequential_like). */
static bool chain_like(const rnnc_graph *g)
{
    int n = rnnc_graph_n_nodes(g), ends = 0;
    for (int id = 0; id < n; id++) {
        if (!rnnc_graph_node_needed(g, id))
            continue;
        rnnc_graph_ref refs[2 * RNNC_MAX_IO + 1];
        if (rnnc_graph_node_inputs(g, id, refs, 2 * RNNC_MAX_IO + 1) > 1)
            return false;
        const rnnc_layer *l = rnnc_graph_node_layer(g, id);
        bool used = false;
        for (int j = 0; j < n; j++) {
            if (j == id || !rnnc_graph_node_needed(g, j))
                continue;
            if (l && rnnc_graph_node_layer(g, j) == l)
                return false;
            int k = rnnc_graph_node_inputs(g, j, refs, 2 * RNNC_MAX_IO + 1);
            for (int r = 0; r < k && r < 2 * RNNC_MAX_IO + 1; r++)
                used = used || refs[r].node == id;
        }
        ends += !used;
    }
    return ends == 1;
}

/* The row of a layer or operation: output shapes of its last call, its
 * parameters, and the tensors every call of it (in the model) takes. */
static void layer_row(const rnnc_graph *g, const rnnc_layer *l, summary_row *r)
{
    int n = rnnc_graph_n_nodes(g), last = -1;
    snprintf(r->left, sizeof r->left, "%s (%s)", l->name, l->cls->class_name);
    if (l->cls->is_operation || l->built)
        grouped(count_weights(l, true) + count_weights(l, false), r->params, sizeof r->params);
    else
        snprintf(r->params, sizeof r->params, "0 (unbuilt)");
    for (int call = 0;; call++) {
        int id = -1;
        for (int j = 0; j < n && id < 0; j++)
            if (rnnc_graph_node_layer(g, j) == l && rnnc_graph_node_call_index(g, j) == call)
                id = j;
        if (id < 0)
            break;
        last = id;
        if (!rnnc_graph_node_needed(g, id))
            continue;
        rnnc_graph_ref refs[2 * RNNC_MAX_IO + 1];
        int k = rnnc_graph_node_inputs(g, id, refs, 2 * RNNC_MAX_IO + 1);
        for (int i = 0; i < k && i < 2 * RNNC_MAX_IO + 1; i++) {
            char one[300];
            snprintf(one, sizeof one, "%s%s[%d][%d]", r->conn[0] ? ", " : "", rnnc_graph_node_name(g, refs[i].node),
                     rnnc_graph_node_call_index(g, refs[i].node), refs[i].tensor);
            append(r->conn, sizeof r->conn, one);
        }
    }
    if (!r->conn[0])
        snprintf(r->conn, sizeof r->conn, "-");
    int k = last < 0 ? 0 : rnnc_graph_node_n_outputs(g, last);
    snprintf(r->shape, sizeof r->shape, k == 0 ? "?" : k > 1 ? "[" : "");
    for (int t = 0; t < k; t++) {
        rnnc_graph_ref ref = {last, t};
        rnnc_shape s;
        rnnc_dtype dt;
        char one[200];
        if (rnnc_graph_tensor_shape(g, ref, &s, &dt) != RNNC_OK) {
            rnnc_clear_error();
            snprintf(r->shape, sizeof r->shape, "?");
            return;
        }
        append(r->shape, sizeof r->shape, t ? ", " : "");
        append(r->shape, sizeof r->shape, keras_shape(&s, one, sizeof one));
    }
    if (k > 1)
        append(r->shape, sizeof r->shape, "]");
}

static int max_int(int a, int b) { return a > b ? a : b; }

static rnnc_status print_functional(FILE *f, const rnnc_model *m)
{
    const rnnc_graph *g = m->graph;
    int n = rnnc_graph_n_entries(g);
    bool conn = !chain_like(g);
    summary_row *rows = calloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    if (!rows)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    int w[3] = {(int)strlen("Layer (type)"), (int)strlen("Output Shape"), (int)strlen("Param #")}, w4 = 12;
    for (int i = 0; i < n; i++) {
        int node;
        rnnc_layer *l;
        summary_row *r = &rows[i];
        rnnc_graph_entry(g, i, &node, &l);
        if (l) {
            layer_row(g, l, r);
        } else {
            rnnc_shape s = {0};
            rnnc_dtype dt;
            rnnc_graph_ref ref = {node, 0};
            if (rnnc_graph_tensor_shape(g, ref, &s, &dt) != RNNC_OK)
                rnnc_clear_error();
            snprintf(r->left, sizeof r->left, "%s (InputLayer)", rnnc_graph_node_name(g, node));
            keras_shape(&s, r->shape, sizeof r->shape);
            snprintf(r->params, sizeof r->params, "0");
            snprintf(r->conn, sizeof r->conn, "-");
        }
        w[0] = max_int(w[0], (int)strlen(r->left));
        w[1] = max_int(w[1], (int)strlen(r->shape));
        w[2] = max_int(w[2], (int)strlen(r->params));
        w4 = max_int(w4, (int)strlen(r->conn));
    }
    int total = 1 + w[0] + 2 + w[1] + 2 + w[2] + (conn ? 2 + w4 : 0);
    char *rule = malloc((size_t)total + 1), *dbl = malloc((size_t)total + 1);
    if (!rule || !dbl) {
        free(rule);
        free(dbl);
        free(rows);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    memset(rule, '_', (size_t)total);
    memset(dbl, '=', (size_t)total);
    rule[total] = dbl[total] = '\0';
    fprintf(f, "Model: \"%s\"\n%s\n", m->name, rule);
    fprintf(f, " %-*s  %-*s  %*s", w[0], "Layer (type)", w[1], "Output Shape", w[2], "Param #");
    fprintf(f, conn ? "  Connected to\n%s\n" : "\n%s\n", dbl);
    for (int i = 0; i < n; i++) {
        fprintf(f, " %-*s  %-*s  %*s", w[0], rows[i].left, w[1], rows[i].shape, w[2], rows[i].params);
        if (conn)
            fprintf(f, "  %s", rows[i].conn);
        fprintf(f, "\n");
    }
    print_totals(f, m, dbl, rule);
    free(rule);
    free(dbl);
    free(rows);
    return RNNC_OK;
}

rnnc_status rnnc_app_print_summary(FILE *f, const rnnc_model *m)
{
    return m->graph ? print_functional(f, m) : print_sequential(f, m);
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
