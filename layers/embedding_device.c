/* embedding_device.c - Embedding on a backend (framework/device_layer.h):
 * the ids are read from the host batch, converted and checked there with
 * the CPU layer's messages (embedding.c, rnnc_gather_rows), then uploaded;
 * gather_rows forward, scatter_add_rows backward (a dense gradient of the
 * table: zero rows where no id points) and, for Adam, the squared rows
 * scattered the same way into the table's grad_sq (device_model.h). mask_zero's mask is computed on the
 * host, as embedding.c does (the inputs as given, compared with 0). */
#include <stdlib.h>

#include "framework/device_layer.h"
#include "layers/embedding.h"

struct rnnc_dlayer {
    rnnc_dmodel *dm;
    const rnnc_backend_ops *be;
    const rnnc_embedding *e;
    rnnc_dweight *table;
    int32_t *ids_host; /* converted ids when the batch is not int32 */
    uint8_t *mask;     /* mask_zero: host (n) */
    size_t cap;
    rnnc_bbuf *ids, *y, *sq; /* sq: dy * dy, for grad_sq */
};

static void emb_ddestroy(rnnc_dlayer *dl)
{
    if (!dl)
        return;
    dl->be->free(dl->ids);
    dl->be->free(dl->y);
    dl->be->free(dl->sq);
    free(dl->ids_host);
    free(dl->mask);
    free(dl);
}

static rnnc_status emb_dcreate(const rnnc_dlayer_init *in, rnnc_dlayer **out)
{
    const rnnc_embedding *e = (const rnnc_embedding *)in->layer;
    *out = NULL;
    const rnnc_bop ops[] = {RNNC_BOP_GATHER_ROWS, RNNC_BOP_BINARY};
    RNNC_TRY(rnnc__dlayer_need_ops(in->layer, in->be, ops, 2));
    if (in->in_shape.ndim + 1 > RNNC_MAX_DIMS)
        return rnnc__dlayer_refuse(in->layer, "an input of rank %d", in->in_shape.ndim);
    rnnc_dlayer *dl = calloc(1, sizeof *dl);
    if (!dl)
        return rnnc_fail(RNNC_E_NOMEM, "Embedding: out of memory");
    dl->dm = in->dm;
    dl->be = in->be;
    dl->e = e;
    dl->table = rnnc__dlayer_weight(in, e->embeddings);
    if (!dl->table) {
        free(dl);
        return rnnc_fail(RNNC_E_STATE, "Embedding '%s': its weights are not among the model's", in->layer->name);
    }
    dl->table->rows = true;
    *out = dl;
    return RNNC_OK;
}

/* The batch's ids as int32 with embedding.c's and rnnc_gather_rows'
 * checks and messages. */
static rnnc_status host_ids(rnnc_dlayer *dl, const rnnc_tensor *x, const int32_t **out)
{
    const int32_t *id = x->data;
    if (x->dtype != RNNC_I32) {
        for (size_t i = 0; i < x->numel; i++) {
            double v = rnnc_tensor_get(x, i);
            if (!(v > -2147483649.0 && v < 2147483648.0)) /* also NaN */
                return rnnc_fail(RNNC_E_ARG, "Embedding: id %g at position %zu is not a valid index", v, i);
            dl->ids_host[i] = (int32_t)v; /* truncates toward zero, as a cast */
        }
        id = dl->ids_host;
    }
    const int64_t V = dl->e->input_dim;
    for (size_t i = 0; i < x->numel; i++)
        if (id[i] < 0 || id[i] >= V) {
            char si[160], st[160];
            return rnnc_fail(RNNC_E_ARG,
                             "gather_rows: id %d at flat position %zu of ids %s is outside [0, %lld) (table %s)",
                             (int)id[i], i, rnnc_shape_str(&x->shape, si, sizeof si), (long long)V,
                             rnnc_shape_str(&dl->e->embeddings->shape, st, sizeof st));
        }
    *out = id;
    return RNNC_OK;
}

static rnnc_status emb_dforward(rnnc_dlayer *dl, rnnc_dlayer_io *io)
{
    const rnnc_tensor *x = io->x_host;
    const size_t n = x->numel;
    const int64_t D = dl->e->output_dim;
    if (dl->cap < n) {
        int32_t *ih = realloc(dl->ids_host, n * sizeof *ih);
        if (ih)
            dl->ids_host = ih;
        uint8_t *mk = realloc(dl->mask, n);
        if (mk)
            dl->mask = mk;
        if (!ih || !mk)
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        dl->cap = n;
    }
    const int32_t *id;
    RNNC_TRY(host_ids(dl, x, &id));
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_I32, n, &dl->ids));
    RNNC_TRY(dl->be->upload(dl->ids, id));
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, n * (size_t)D, &dl->y));
    RNNC_TRY(dl->be->gather_rows(dl->e->input_dim, D, dl->table->value, dl->ids, dl->y));
    io->y = dl->y;
    io->y_shape = x->shape;
    io->y_shape.dim[io->y_shape.ndim++] = D;
    io->y_mask = NULL;
    if (dl->e->mask_zero) {
        /* Keras compares the inputs as given (before the int32 cast) with 0. */
        for (size_t i = 0; i < n; i++)
            dl->mask[i] = rnnc_tensor_get(x, i) != 0.0;
        io->y_mask = dl->mask;
    }
    return RNNC_OK;
}

/* The table's gradient; there is no input gradient (the ids). */
static rnnc_status emb_dbackward(rnnc_dlayer *dl, const rnnc_bbuf *dy, const rnnc_bbuf **dx)
{
    if (dx)
        return rnnc_fail(RNNC_E_ARG, "Embedding: its input (ids) has no gradient");
    if (dl->table->grad)
        RNNC_TRY(dl->be->scatter_add_rows(dl->e->input_dim, dl->e->output_dim, dl->ids, dy, dl->table->grad));
    if (dl->table->grad_sq) {
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, dy->n, &dl->sq));
        RNNC_TRY(dl->be->binary(RNNC_BIN_MUL, dy, dy, dl->sq));
        RNNC_TRY(dl->be->scatter_add_rows(dl->e->input_dim, dl->e->output_dim, dl->ids, dl->sq, dl->table->grad_sq));
    }
    return RNNC_OK;
}

const struct rnnc_layer_device_class rnnc_embedding_device_class = {
    .host_input = true,
    .create = emb_dcreate,
    .forward = emb_dforward,
    .backward = emb_dbackward,
    .destroy = emb_ddestroy,
};
