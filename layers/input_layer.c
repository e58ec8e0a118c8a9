/* input_layer.c - parsing Keras's InputLayer config (Keras 3 and Keras 2
 * spellings) into a model input declaration. */
#include "layers/input_layer.h"

#include <stdio.h>
#include <string.h>

static const char *const input_keys[] = {"batch_shape", "shape", "batch_size", "dtype", "sparse",
                                         "ragged", "name", "optional", "batch_input_shape",
                                         "input_shape", "input_tensor", NULL};

static rnnc_status read_shape(const rnnc_cfg *node, const char *key, int64_t *dims, int cap, int *n)
{
    return rnnc_cfg_read_dims(node, "InputLayer", key, dims, cap, n);
}

rnnc_status rnnc_input_layer_from_config(const rnnc_cfg *c, rnnc_input_layer_config *out)
{
    const char *W = "InputLayer";
    char w[300];
    memset(out, 0, sizeof *out);
    out->dtype = RNNC_F32;
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "InputLayer: config must be a map%s", rnnc_cfg_where(c, w, sizeof w));
    const rnnc_cfg *it = rnnc_cfg_get(c, "input_tensor");
    if (it && it->type != RNNC_CFG_NULL)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "InputLayer: 'input_tensor' is not supported in configs%s",
                         rnnc_cfg_where(it, w, sizeof w));
    /* Keras 2 spellings first, as Keras 3's constructor maps them. */
    const rnnc_cfg *bs = rnnc_cfg_get(c, "batch_shape"), *bis = rnnc_cfg_get(c, "batch_input_shape");
    const rnnc_cfg *sh = rnnc_cfg_get(c, "shape"), *is = rnnc_cfg_get(c, "input_shape");
    if (bs && bs->type == RNNC_CFG_NULL)
        bs = NULL;
    if (bis && bis->type == RNNC_CFG_NULL)
        bis = NULL;
    if (sh && sh->type == RNNC_CFG_NULL)
        sh = NULL;
    if (is && is->type == RNNC_CFG_NULL)
        is = NULL;
    if (bis)
        bs = bis; /* Keras: batch_input_shape overrides batch_shape */
    if (is)
        sh = is;
    int64_t batch_size = -1;
    const rnnc_cfg *bsz = rnnc_cfg_peek(c, "batch_size");
    RNNC_TRY(rnnc_cfg_read_int_range(c, W, "batch_size", -1, 1, RNNC_CFG_MAX_DIM, &batch_size));
    bool has_batch_size = bsz && bsz->type != RNNC_CFG_NULL;
    if (sh && bs)
        return rnnc_fail(RNNC_E_ARG, "InputLayer: you cannot pass both 'shape' and 'batch_shape' at the same time%s",
                         rnnc_cfg_where(c, w, sizeof w));
    if (has_batch_size && bs)
        return rnnc_fail(RNNC_E_ARG, "InputLayer: you cannot pass both 'batch_size' and 'batch_shape' at the same time%s",
                         rnnc_cfg_where(c, w, sizeof w));
    if (!sh && !bs)
        return rnnc_fail(RNNC_E_ARG, "InputLayer: a 'shape' or 'batch_shape' is required%s",
                         rnnc_cfg_where(c, w, sizeof w));
    int n = 0;
    if (bs) {
        RNNC_TRY(read_shape(bs, bis ? "batch_input_shape" : "batch_shape", out->batch_shape.dim,
                            RNNC_MAX_DIMS, &n));
        out->batch_shape.ndim = n;
    } else {
        RNNC_TRY(read_shape(sh, is ? "input_shape" : "shape", out->batch_shape.dim + 1, RNNC_MAX_DIMS - 1, &n));
        out->batch_shape.dim[0] = batch_size;
        out->batch_shape.ndim = n + 1;
    }
    const char *dt = NULL, *name = NULL;
    RNNC_TRY(rnnc_cfg_read_string(c, W, "dtype", NULL, &dt));
    if (dt && rnnc_dtype_from_name(dt, &out->dtype) != RNNC_OK)
        return rnnc_fail(RNNC_E_ARG, "InputLayer: unsupported dtype '%s' (float32, float64, int32, int64, uint8 or bool)%s",
                         dt, rnnc_cfg_where(rnnc_cfg_peek(c, "dtype"), w, sizeof w));
    RNNC_TRY(rnnc_cfg_read_bool(c, W, "sparse", false, &out->sparse));
    RNNC_TRY(rnnc_cfg_read_bool(c, W, "ragged", false, &out->ragged));
    if (out->sparse)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "InputLayer: sparse inputs are not supported%s",
                         rnnc_cfg_where(rnnc_cfg_peek(c, "sparse"), w, sizeof w));
    if (out->ragged)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "InputLayer: ragged inputs are not supported%s",
                         rnnc_cfg_where(rnnc_cfg_peek(c, "ragged"), w, sizeof w));
    RNNC_TRY(rnnc_cfg_read_bool(c, W, "optional", false, &out->optional));
    RNNC_TRY(rnnc_cfg_read_string(c, W, "name", NULL, &name));
    if (name) {
        if (strlen(name) >= sizeof out->name)
            return rnnc_fail(RNNC_E_ARG, "InputLayer: name '%.40s...' is longer than %zu characters%s", name,
                             sizeof out->name - 1, rnnc_cfg_where(rnnc_cfg_peek(c, "name"), w, sizeof w));
        if (strchr(name, '/'))
            return rnnc_fail(RNNC_E_ARG, "InputLayer: name '%s' must not contain '/'%s", name,
                             rnnc_cfg_where(rnnc_cfg_peek(c, "name"), w, sizeof w));
        snprintf(out->name, sizeof out->name, "%s", name);
    }
    return rnnc_cfg_check_unread(c, W, input_keys);
}

rnnc_status rnnc_input_layer_apply(const rnnc_input_layer_config *in, rnnc_model *m)
{
    if (!in || !m)
        return rnnc_fail(RNNC_E_ARG, "rnnc_input_layer_apply: needs an input config and a model");
    return rnnc_model_set_input(m, &in->batch_shape, in->dtype, in->name[0] ? in->name : NULL);
}
