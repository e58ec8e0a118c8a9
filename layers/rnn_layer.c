/* rnn_layer.c - RNN.from_config over any cell class, StackedRNNCells, and
 * the cell-class table (rnn_layer.h). */
#include "layers/rnn_layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/rnn.h"

/* ---- the cell classes ------------------------------------------------------ */

static const char *const builtin_cells[] = {"GRUCell", "LSTMCell", "SimpleRNNCell",
                                            "StackedRNNCells"};
static const char *user_cells[32];
static int n_user_cells;

bool rnnc_rnn_is_cell_class(const char *class_name)
{
    if (!class_name)
        return false;
    for (size_t i = 0; i < sizeof builtin_cells / sizeof builtin_cells[0]; i++)
        if (strcmp(builtin_cells[i], class_name) == 0)
            return true;
    for (int i = 0; i < n_user_cells; i++)
        if (strcmp(user_cells[i], class_name) == 0)
            return true;
    return false;
}

rnnc_status rnnc_rnn_cell_register(const char *class_name, rnnc_layer_from_config_fn fn)
{
    if (n_user_cells >= (int)(sizeof user_cells / sizeof user_cells[0]))
        return rnnc_fail(RNNC_E_NOMEM, "rnnc_rnn_cell_register: the table of %d cell classes is full",
                         (int)(sizeof user_cells / sizeof user_cells[0]));
    RNNC_TRY(rnnc_layer_register(class_name, fn));
    user_cells[n_user_cells++] = class_name;
    return RNNC_OK;
}

/* A cell from a serialized entry ("what" names the holder for messages). */
static rnnc_status cell_from_entry(const rnnc_cfg *entry, const char *what, rnnc_layer **out)
{
    char w[300];
    *out = NULL;
    const rnnc_cfg *cn = entry && entry->type == RNNC_CFG_MAP ? rnnc_cfg_peek(entry, "class_name") : NULL;
    if (!cn || cn->type != RNNC_CFG_STRING)
        return rnnc_fail(RNNC_E_ARG, "%s: a cell must be a serialized layer {\"class_name\": ..., \"config\": ...}%s",
                         what, entry ? rnnc_cfg_where(entry, w, sizeof w) : "");
    if (!rnnc_rnn_is_cell_class(cn->v.s) && rnnc_layer_class_lookup(cn->v.s))
        return rnnc_fail(RNNC_E_ARG, "%s: '%s' is not a recurrent cell class (GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells or one registered with rnnc_rnn_cell_register)%s",
                         what, cn->v.s, rnnc_cfg_where(cn, w, sizeof w));
    rnnc_status s = rnnc_layer_from_config(entry, out);
    return s ? rnnc_fail_context(s, "%s: cell: ", what) : RNNC_OK;
}

/* ---- RNN.from_config -------------------------------------------------------- */

static const char *const rnn_keys[] = {
    "name", "trainable", "dtype", "activity_regularizer", "return_sequences", "return_state",
    "go_backwards", "stateful", "unroll", "zero_output_for_mask", "cell", "time_major",
    "autocast", "input_shape", "batch_input_shape", "input_dim", "batch_size", NULL};

rnnc_status rnnc_rnn_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    rnnc_rnn_options ro;
    rnnc_layer *cell = NULL, *l = NULL;
    rnnc_status s;
    *out = NULL;
    if (!config || config->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "RNN: the config must be a map of arguments");
    RNNC_TRY(rnnc__rnn_read_options(config, "RNN", &ro));
    const rnnc_cfg *ce = rnnc_cfg_get(config, "cell");
    if (!ce)
        return rnnc_fail(RNNC_E_ARG, "RNN: the config has no 'cell'");
    if (ce->type == RNNC_CFG_LIST)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "RNN: a list of cells is not supported; pass StackedRNNCells(cells)");
    RNNC_TRY(cell_from_entry(ce, "RNN", &cell));
    if ((s = rnnc_rnn_create(cell, &ro, rnnc_layer_config_name(config), &l)))
        return s;
    if ((s = rnnc_layer_read_base_config(l, config, true)))
        goto fail;
    bool autocast;
    if ((s = rnnc_cfg_read_bool(config, "RNN", "autocast", true, &autocast)))
        goto fail;
    const rnnc_cfg *tm = rnnc_cfg_get(config, "time_major");
    if (tm && !(tm->type == RNNC_CFG_BOOL && !tm->v.b) && tm->type != RNNC_CFG_NULL) {
        s = rnnc_fail(RNNC_E_UNSUPPORTED, "RNN: 'time_major' is only accepted as false");
        goto fail;
    }
    for (int i = 13; rnn_keys[i]; i++)
        rnnc_cfg_get(config, rnn_keys[i]);
    if ((s = rnnc_cfg_check_unread(config, "RNN", rnn_keys)))
        goto fail;
    *out = l;
    return RNNC_OK;
fail:
    rnnc_layer_destroy(l);
    return s;
}

/* ---- StackedRNNCells ---------------------------------------------------------- */

typedef struct stacked {
    rnnc_rnn_cell base;
    int n;                 /* cells = base.base.children[0..n) */
} stacked;

static rnnc_layer *cell_i(const rnnc_layer *l, int i) { return l->children[i]; }
static const rnnc_rnn_cell_ops *ops_of(const rnnc_layer *cell)
{
    return ((const rnnc_rnn_cell *)cell)->ops;
}

static int st_n_states(const rnnc_layer *l)
{
    int n = 0;
    for (int i = 0; i < ((const stacked *)l)->n; i++)
        n += ops_of(cell_i(l, i))->n_states(cell_i(l, i));
    return n;
}

static int64_t st_state_size(const rnnc_layer *l, int k)
{
    for (int i = 0; i < ((const stacked *)l)->n; i++) {
        const rnnc_layer *c = cell_i(l, i);
        const int m = ops_of(c)->n_states(c);
        if (k < m)
            return ops_of(c)->state_size(c, k);
        k -= m;
    }
    return 0;
}

static int64_t st_output_size(const rnnc_layer *l)
{
    const rnnc_layer *last = cell_i(l, ((const stacked *)l)->n - 1);
    return ops_of(last)->output_size(last);
}

static rnnc_status st_begin_call(rnnc_layer *l, rnnc_ctx *cx, int64_t batch, bool training)
{
    for (int i = 0; i < ((stacked *)l)->n; i++) {
        rnnc_layer *c = cell_i(l, i);
        if (ops_of(c)->begin_call)
            RNNC_TRY(ops_of(c)->begin_call(c, cx, batch, training));
    }
    return RNNC_OK;
}

static void st_end_call(rnnc_layer *l)
{
    for (int i = 0; i < ((stacked *)l)->n; i++)
        if (ops_of(cell_i(l, i))->end_call)
            ops_of(cell_i(l, i))->end_call(cell_i(l, i));
}

static rnnc_status st_step(rnnc_layer *l, rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor *const *states,
                           bool training, rnnc_tensor **output, rnnc_tensor **new_states)
{
    int k = 0;
    for (int i = 0; i < ((stacked *)l)->n; i++) {
        rnnc_layer *c = cell_i(l, i);
        RNNC_TRY(ops_of(c)->step(c, cx, x, states + k, training, &x, new_states + k));
        k += ops_of(c)->n_states(c);
    }
    *output = x;
    return RNNC_OK;
}

static const rnnc_rnn_cell_ops stacked_ops = {
    .n_states = st_n_states,
    .state_size = st_state_size,
    .output_size = st_output_size,
    .begin_call = st_begin_call,
    .step = st_step,
    .end_call = st_end_call,
};

/* Keras's build: each cell sees the previous one's output width. */
static rnnc_status st_build(rnnc_layer *l, const rnnc_shape *in)
{
    rnnc_shape s = *in;
    for (int i = 0; i < ((stacked *)l)->n; i++) {
        rnnc_layer *c = cell_i(l, i);
        RNNC_TRY(rnnc_layer_build(c, &s));
        s = RNNC_SHAPE(in->ndim >= 1 ? in->dim[0] : -1, ops_of(c)->output_size(c));
    }
    return RNNC_OK;
}

static rnnc_status st_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                           rnnc_call_result *res)
{
    (void)cx;
    (void)args;
    (void)res;
    return rnnc_fail(RNNC_E_UNSUPPORTED, "StackedRNNCells '%s': call it through an RNN layer (RNN(cell=...))",
                     l->name);
}

static rnnc_status st_output_spec(const rnnc_layer *l, const rnnc_shape *in, rnnc_output_spec *spec)
{
    spec->n_outputs = 1;
    spec->shapes[0] = RNNC_SHAPE(in->ndim >= 1 ? in->dim[0] : -1, st_output_size(l));
    spec->dtype = l->dtype;
    return RNNC_OK;
}

static rnnc_status st_get_config(const rnnc_layer *l, rnnc_cfg *cfg)
{
    rnnc_cfg *list = rnnc_cfg_list();
    if (!list)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    for (int i = 0; i < ((const stacked *)l)->n; i++) {
        rnnc_cfg *e;
        rnnc_status s = rnnc_layer_serialize(cell_i(l, i), &e);
        if (!s)
            s = rnnc_cfg_push(list, e);
        if (s) {
            rnnc_cfg_destroy(list);
            return s;
        }
    }
    return rnnc_cfg_set(cfg, "cells", list);
}

static const rnnc_layer_class stacked_class = {
    .class_name = "StackedRNNCells",
    .module = "keras.layers",
    .build = st_build,
    .call = st_call,
    .compute_output_spec = st_output_spec,
    .get_config = st_get_config,
};

rnnc_status rnnc_stacked_rnn_cells_create(rnnc_layer *const *cells, int n, const char *name,
                                          rnnc_layer **out)
{
    rnnc_status s = RNNC_OK;
    int taken = 0;
    *out = NULL;
    stacked *st = NULL;
    if (n < 1 || n > 4) {
        s = rnnc_fail(RNNC_E_ARG, "StackedRNNCells: takes 1 to 4 cells, got %d", n);
        goto fail;
    }
    for (int i = 0; i < n; i++)
        if (!cells[i] || !rnnc_rnn_is_cell_class(cells[i]->cls->class_name)) {
            s = rnnc_fail(RNNC_E_ARG, "StackedRNNCells: cell %d (%s) is not a recurrent cell", i,
                          cells[i] ? cells[i]->cls->class_name : "NULL");
            goto fail;
        }
    if (!(st = calloc(1, sizeof *st))) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto fail;
    }
    if ((s = rnnc_layer_init(&st->base.base, &stacked_class, name, cells[0]->dtype))) {
        free(st->base.base.name);
        free(st);
        st = NULL;
        goto fail;
    }
    st->base.ops = &stacked_ops;
    /* children keys as Keras's saver names list items: cells/<snake_case
     * of the class>, with _1, _2 for repeats */
    for (; taken < n; taken++) {
        char snake[96], key[128];
        int rep = 0;
        rnnc_snake_case(cells[taken]->cls->class_name, snake, sizeof snake);
        for (int j = 0; j < taken; j++)
            rep += strcmp(cells[j]->cls->class_name, cells[taken]->cls->class_name) == 0;
        if (rep)
            snprintf(key, sizeof key, "cells/%s_%d", snake, rep);
        else
            snprintf(key, sizeof key, "cells/%s", snake);
        if ((s = rnnc_layer_add_child(&st->base.base, key, cells[taken]))) {
            taken++; /* add_child took it */
            goto fail;
        }
        st->n++;
    }
    int total = st_n_states(&st->base.base);
    if (total > RNNC_RNN_MAX_STATES) {
        s = rnnc_fail(RNNC_E_UNSUPPORTED, "StackedRNNCells: the cells have %d states in all; at most %d are supported",
                      total, RNNC_RNN_MAX_STATES);
        goto fail;
    }
    *out = &st->base.base;
    return RNNC_OK;
fail:
    for (int i = taken; i < n; i++)
        rnnc_layer_destroy(cells[i]);
    if (st)
        rnnc_layer_destroy(&st->base.base);
    return s;
}

rnnc_status rnnc_stacked_rnn_cells_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    static const char *const keys[] = {"name", "trainable", "dtype", "cells", NULL};
    rnnc_layer *cells[4] = {0}, *l = NULL;
    rnnc_status s = RNNC_OK;
    *out = NULL;
    if (!config || config->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "StackedRNNCells: the config must be a map of arguments");
    const rnnc_cfg *list = rnnc_cfg_get(config, "cells");
    if (!list || list->type != RNNC_CFG_LIST || list->n < 1 || list->n > 4)
        return rnnc_fail(RNNC_E_ARG, "StackedRNNCells: 'cells' must be a list of 1 to 4 serialized cells");
    int n = 0;
    for (; n < (int)list->n && !s; n++)
        s = cell_from_entry(list->items[n], "StackedRNNCells", &cells[n]);
    if (s) {
        for (int i = 0; i < n; i++)
            rnnc_layer_destroy(cells[i]);
        return s;
    }
    RNNC_TRY(rnnc_stacked_rnn_cells_create(cells, n, rnnc_layer_config_name(config), &l));
    if ((s = rnnc_layer_read_base_config(l, config, false)) ||
        (s = rnnc_cfg_check_unread(config, "StackedRNNCells", keys))) {
        rnnc_layer_destroy(l);
        return s;
    }
    *out = l;
    return RNNC_OK;
}
