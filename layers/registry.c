/* registry.c - Keras class name -> layer from_config, the serialized-layer
 * envelope (Keras 3 and Keras 2 forms), build_config, legacy input shapes,
 * and the config helpers shared by the layer classes. */
#include "layers/registry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "layers/activation.h"
#include "layers/batch_norm.h"
#include "layers/bidirectional.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/embedding.h"
#include "layers/gru.h"
#include "layers/conv1d.h"
#include "layers/layer_norm.h"
#include "layers/lstm.h"
#include "layers/pooling1d.h"
#include "layers/reshaping.h"
#include "layers/rnn_layer.h"
#include "layers/simple_rnn.h"
#include "layers/masking.h"
#include "layers/merge.h"
#include "layers/time_distributed.h"

typedef struct layer_entry {
    const char *name;
    rnnc_layer_from_config_fn fn;
} layer_entry;

static const layer_entry builtin[] = {
    {"Dense", rnnc_dense_from_config},
    {"Dropout", rnnc_dropout_from_config},
    {"Masking", rnnc_masking_from_config},
    {"BatchNormalization", rnnc_batch_norm_from_config},
    {"Activation", rnnc_activation_from_config},
    {"ReLU", rnnc_relu_from_config},
    {"LeakyReLU", rnnc_leaky_relu_from_config},
    {"ELU", rnnc_elu_from_config},
    {"Softmax", rnnc_softmax_from_config},
    {"Embedding", rnnc_embedding_from_config},
    {"TimeDistributed", rnnc_time_distributed_from_config},
    {"Bidirectional", rnnc_bidirectional_from_config},
    {"GRU", rnnc_gru_from_config},
    {"GRUCell", rnnc_gru_cell_from_config},
    {"RNN", rnnc_rnn_from_config},
    {"StackedRNNCells", rnnc_stacked_rnn_cells_from_config},
    {"LSTM", rnnc_lstm_from_config},
    {"LSTMCell", rnnc_lstm_cell_from_config},
    {"CuDNNLSTM", rnnc_lstm_from_config}, /* Keras 2: an LSTM with tanh / sigmoid */
    {"SimpleRNN", rnnc_simple_rnn_from_config},
    {"SimpleRNNCell", rnnc_simple_rnn_cell_from_config},
    {"Conv1D", rnnc_conv1d_from_config},
    {"MaxPooling1D", rnnc_max_pooling1d_from_config},
    {"AveragePooling1D", rnnc_average_pooling1d_from_config},
    {"GlobalAveragePooling1D", rnnc_global_average_pooling1d_from_config},
    {"GlobalMaxPooling1D", rnnc_global_max_pooling1d_from_config},
    {"LayerNormalization", rnnc_layer_norm_from_config},
    {"Flatten", rnnc_flatten_from_config},
    {"Reshape", rnnc_reshape_from_config},
    {"RepeatVector", rnnc_repeat_vector_from_config},
    {"Add", rnnc_add_from_config},
    {"Subtract", rnnc_subtract_from_config},
    {"Multiply", rnnc_multiply_from_config},
    {"Average", rnnc_average_from_config},
    {"Maximum", rnnc_maximum_from_config},
    {"Minimum", rnnc_minimum_from_config},
    {"Concatenate", rnnc_concatenate_from_config},
};
#define N_BUILTIN ((int)(sizeof builtin / sizeof builtin[0]))

/* Classes added at run time (rnnc_layer_register). */
static layer_entry extra[64];
static int n_extra;

rnnc_layer_from_config_fn rnnc_layer_class_lookup(const char *class_name)
{
    if (!class_name)
        return NULL;
    for (int i = 0; i < N_BUILTIN; i++)
        if (strcmp(builtin[i].name, class_name) == 0)
            return builtin[i].fn;
    for (int i = 0; i < n_extra; i++)
        if (strcmp(extra[i].name, class_name) == 0)
            return extra[i].fn;
    return NULL;
}

rnnc_status rnnc_layer_register(const char *class_name, rnnc_layer_from_config_fn fn)
{
    if (!class_name || !class_name[0] || !fn)
        return rnnc_fail(RNNC_E_ARG, "rnnc_layer_register: needs a class name and a from_config function");
    if (rnnc_layer_class_lookup(class_name))
        return rnnc_fail(RNNC_E_ARG, "rnnc_layer_register: layer class '%s' is already registered",
                         class_name);
    if (n_extra >= (int)(sizeof extra / sizeof extra[0]))
        return rnnc_fail(RNNC_E_NOMEM, "rnnc_layer_register: the table of %d extra classes is full",
                         (int)(sizeof extra / sizeof extra[0]));
    extra[n_extra].name = class_name;
    extra[n_extra++].fn = fn;
    return RNNC_OK;
}

/* Every known name, for "did you mean". */
static void known_names(const char **names, int cap)
{
    int n = 0;
    for (int i = 0; i < N_BUILTIN && n + 1 < cap; i++)
        names[n++] = builtin[i].name;
    for (int i = 0; i < n_extra && n + 1 < cap; i++)
        names[n++] = extra[i].name;
    names[n] = NULL;
}

static rnnc_status unknown_class(const char *name, const rnnc_cfg *at)
{
    const char *names[N_BUILTIN + 66];
    char w[300], list[1024] = "";
    known_names(names, (int)(sizeof names / sizeof names[0]));
    const char *near = rnnc_nearest_name(name, names);
    if (near)
        return rnnc_fail(RNNC_E_ARG, "unknown layer class '%s'%s; did you mean '%s'?", name,
                         rnnc_cfg_where(at, w, sizeof w), near);
    for (int i = 0; names[i]; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
    }
    return rnnc_fail(RNNC_E_ARG, "unknown layer class '%s'%s; known classes: %s", name,
                     rnnc_cfg_where(at, w, sizeof w), list);
}

/* build_config: {"input_shape": [...]} or {"shapes_dict": {"sequences_shape": [...], ...}}. */
static rnnc_status read_build_shape(const rnnc_cfg *bc, const char *what, rnnc_shape *shape,
                                    bool *found)
{
    static const char *const keys[] = {"input_shape", "shapes_dict", NULL};
    char w[300];
    *found = false;
    if (!bc || bc->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (bc->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: 'build_config' must be a map%s", what,
                         rnnc_cfg_where(bc, w, sizeof w));
    const rnnc_cfg *is = rnnc_cfg_get(bc, "input_shape");
    const rnnc_cfg *sd = rnnc_cfg_get(bc, "shapes_dict");
    if (!is && sd && sd->type == RNNC_CFG_MAP && sd->n > 0) {
        /* The main input's shape: sequences_shape for RNNs, else the first entry. */
        is = rnnc_cfg_peek(sd, "sequences_shape");
        if (!is)
            is = sd->items[0];
        rnnc_cfg_mark_all(sd, true);
    } else if (sd && sd->type != RNNC_CFG_NULL && sd->type != RNNC_CFG_MAP) {
        return rnnc_fail(RNNC_E_ARG, "%s: 'build_config.shapes_dict' must be a map%s", what,
                         rnnc_cfg_where(sd, w, sizeof w));
    }
    RNNC_TRY(rnnc_cfg_check_unread(bc, what, keys));
    if (!is || is->type == RNNC_CFG_NULL)
        return RNNC_OK;
    /* [null, 3, 5] is one shape with an unknown batch; it is a list of
     * shapes only when some entry is itself a list. */
    bool list_of_shapes = false;
    for (size_t i = 0; is->type == RNNC_CFG_LIST && i < is->n; i++)
        list_of_shapes = list_of_shapes || is->items[i]->type == RNNC_CFG_LIST;
    if (list_of_shapes) {
        /* A layer called on a list (merge layers): one shape per input;
         * build from the first (they have no weights, shapes are checked
         * at the call). */
        is = is->items[0];
        if (is->type == RNNC_CFG_NULL)
            return RNNC_OK;
    }
    int n = 0;
    RNNC_TRY(rnnc_cfg_read_dims(is, what, "build_config.input_shape", shape->dim, RNNC_MAX_DIMS, &n));
    shape->ndim = n;
    *found = true;
    return RNNC_OK;
}

static rnnc_status check_module(const rnnc_cfg *env, const char *class_name)
{
    char w[300];
    const rnnc_cfg *mod = rnnc_cfg_get(env, "module");
    const rnnc_cfg *reg = rnnc_cfg_get(env, "registered_name");
    if (mod && mod->type == RNNC_CFG_NULL)
        return rnnc_fail(RNNC_E_ARG, "layer '%s': \"module\": null marks a custom (unregistered) class, which rnnc cannot build%s",
                         class_name, rnnc_cfg_where(mod, w, sizeof w));
    if (mod && mod->type != RNNC_CFG_STRING)
        return rnnc_fail(RNNC_E_ARG, "layer '%s': 'module' must be a string%s", class_name,
                         rnnc_cfg_where(mod, w, sizeof w));
    if (mod && strcmp(mod->v.s, "keras") != 0 && strncmp(mod->v.s, "keras.", 6) != 0)
        return rnnc_fail(RNNC_E_ARG, "layer '%s': module '%s' is not part of Keras; custom layers are not supported%s",
                         class_name, mod->v.s, rnnc_cfg_where(mod, w, sizeof w));
    if (reg && reg->type == RNNC_CFG_STRING && strcmp(reg->v.s, class_name) != 0)
        return rnnc_fail(RNNC_E_ARG, "layer '%s': registered_name '%s' names a custom class, which rnnc cannot build%s",
                         class_name, reg->v.s, rnnc_cfg_where(reg, w, sizeof w));
    if (reg && reg->type != RNNC_CFG_STRING && reg->type != RNNC_CFG_NULL)
        return rnnc_fail(RNNC_E_ARG, "layer '%s': 'registered_name' must be a string or null%s",
                         class_name, rnnc_cfg_where(reg, w, sizeof w));
    return RNNC_OK;
}

rnnc_status rnnc_layer_from_config_ex(const rnnc_cfg *env, rnnc_layer **out, rnnc_shape *batch_shape,
                                      bool *has_input_shape)
{
    /* name / inbound_nodes: a Functional model's layer entry (read by its loader). */
    static const char *const env_keys[] = {"module", "class_name", "config", "registered_name",
                                           "build_config", "shared_object_id", "name",
                                           "inbound_nodes", NULL};
    char w[300], what[96];
    rnnc_shape legacy;
    bool has_legacy = false;
    *out = NULL;
    if (has_input_shape)
        *has_input_shape = false;
    if (!env || env->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "layer config must be a map with 'class_name' and 'config'%s",
                         rnnc_cfg_where(env, w, sizeof w));
    const char *class_name = NULL;
    RNNC_TRY(rnnc_cfg_read_string(env, "layer", "class_name", NULL, &class_name));
    if (!class_name)
        return rnnc_fail(RNNC_E_ARG, "layer config has no 'class_name'%s", rnnc_cfg_where(env, w, sizeof w));
    if (strcmp(class_name, "InputLayer") == 0)
        return rnnc_fail(RNNC_E_ARG, "InputLayer is not a layer with weights; read it with rnnc_input_layer_from_config%s",
                         rnnc_cfg_where(env, w, sizeof w));
    RNNC_TRY(check_module(env, class_name));
    rnnc_layer_from_config_fn fn = rnnc_layer_class_lookup(class_name);
    if (!fn)
        return unknown_class(class_name, rnnc_cfg_peek(env, "class_name"));
    const rnnc_cfg *config = rnnc_cfg_get(env, "config");
    if (!config || config->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "layer '%s': 'config' must be a map, got %s%s", class_name,
                         config ? rnnc_cfg_type_name(config->type) : "nothing",
                         rnnc_cfg_where(config ? config : env, w, sizeof w));
    snprintf(what, sizeof what, "%s", class_name);
    /* The legacy shape keys are read here, so every class accepts them
     * (Keras's base Layer takes input_shape / input_dim). */
    RNNC_TRY(rnnc_layer_config_input_shape(config, what, strcmp(class_name, "Embedding") != 0,
                                           &legacy, &has_legacy));
    rnnc_shape build;
    bool has_build = false;
    RNNC_TRY(read_build_shape(rnnc_cfg_get(env, "build_config"), what, &build, &has_build));
    rnnc_cfg_get(env, "shared_object_id");
    rnnc_cfg_get(env, "name");
    rnnc_cfg_get(env, "inbound_nodes");
    RNNC_TRY(rnnc_cfg_check_unread(env, what, env_keys));
    rnnc_layer *l = NULL;
    RNNC_TRY(fn(config, &l));
    if (has_build) {
        rnnc_status s = rnnc_layer_build(l, &build);
        if (s != RNNC_OK) {
            rnnc_layer_destroy(l);
            return s;
        }
    }
    if (has_legacy && batch_shape)
        *batch_shape = legacy;
    if (has_input_shape)
        *has_input_shape = has_legacy;
    *out = l;
    return RNNC_OK;
}

rnnc_status rnnc_layer_from_config(const rnnc_cfg *env, rnnc_layer **out)
{
    return rnnc_layer_from_config_ex(env, out, NULL, NULL);
}

/* ---- helpers ---------------------------------------------------------- */

rnnc_status rnnc_layer_config_input_shape(const rnnc_cfg *config, const char *what,
                                          bool input_dim_is_shape, rnnc_shape *batch_shape,
                                          bool *found)
{
    char w[300];
    *found = false;
    const rnnc_cfg *bis = rnnc_cfg_get(config, "batch_input_shape");
    const rnnc_cfg *is = rnnc_cfg_get(config, "input_shape");
    const rnnc_cfg *id = input_dim_is_shape ? rnnc_cfg_get(config, "input_dim") : NULL;
    int64_t batch = -1;
    RNNC_TRY(rnnc_cfg_read_int_range(config, what, "batch_size", -1, 1, RNNC_CFG_MAX_DIM, &batch));
    if (bis && bis->type == RNNC_CFG_NULL)
        bis = NULL;
    if (is && is->type == RNNC_CFG_NULL)
        is = NULL;
    if (id && id->type == RNNC_CFG_NULL)
        id = NULL;
    if ((bis != NULL) + (is != NULL) + (id != NULL) > 1)
        return rnnc_fail(RNNC_E_ARG, "%s: give only one of 'batch_input_shape', 'input_shape' and 'input_dim'%s",
                         what, rnnc_cfg_where(config, w, sizeof w));
    memset(batch_shape, 0, sizeof *batch_shape);
    int n = 0;
    if (bis) {
        RNNC_TRY(rnnc_cfg_read_dims(bis, what, "batch_input_shape", batch_shape->dim, RNNC_MAX_DIMS, &n));
        if (n < 1)
            return rnnc_fail(RNNC_E_ARG, "%s: 'batch_input_shape' must include the batch dimension, got []%s",
                             what, rnnc_cfg_where(bis, w, sizeof w));
        batch_shape->ndim = n;
    } else if (is) {
        RNNC_TRY(rnnc_cfg_read_dims(is, what, "input_shape", batch_shape->dim + 1, RNNC_MAX_DIMS - 1, &n));
        batch_shape->dim[0] = batch;
        batch_shape->ndim = n + 1;
    } else if (id) {
        if (id->type != RNNC_CFG_INT || id->v.i <= 0 || id->v.i > RNNC_CFG_MAX_DIM)
            return rnnc_fail(RNNC_E_ARG, "%s: 'input_dim' must be a positive integer of at most %lld%s", what,
                             (long long)RNNC_CFG_MAX_DIM, rnnc_cfg_where(id, w, sizeof w));
        batch_shape->ndim = 2;
        batch_shape->dim[0] = batch;
        batch_shape->dim[1] = id->v.i;
    } else {
        return RNNC_OK;
    }
    *found = true;
    return RNNC_OK;
}

rnnc_status rnnc_layer_config_initializer(const rnnc_cfg *config, const char *what,
                                          const char *key, const char *dflt,
                                          rnnc_initializer **out)
{
    char arg[160];
    *out = NULL;
    snprintf(arg, sizeof arg, "%s.%s", what, key);
    const rnnc_cfg *c = rnnc_cfg_get(config, key);
    if (!c)
        return rnnc_initializer_from_name(dflt, arg, out);
    if (c->type == RNNC_CFG_NULL)
        return RNNC_OK; /* Keras's None: add_weight uses glorot_uniform */
    return rnnc_initializer_from_config(c, arg, out);
}

rnnc_status rnnc_layer_config_activation(const rnnc_cfg *config, const char *what,
                                         const char *key, rnnc_act *out)
{
    char arg[160], w[300];
    *out = RNNC_ACT_LINEAR;
    snprintf(arg, sizeof arg, "%s.%s", what, key);
    const rnnc_cfg *c = rnnc_cfg_get(config, key);
    if (!c || c->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (c->type == RNNC_CFG_STRING)
        return rnnc_act_from_name(c->v.s, arg, out);
    if (c->type == RNNC_CFG_MAP) {
        /* {"module": "keras.activations", "class_name": "function", "config": "relu", ...} */
        const char *cls = NULL, *name = NULL;
        RNNC_TRY(rnnc_cfg_read_string(c, arg, "class_name", NULL, &cls));
        if (!cls || strcmp(cls, "function") != 0)
            return rnnc_fail(RNNC_E_ARG, "%s: an activation dict must have \"class_name\": \"function\", got '%s'%s",
                             arg, cls ? cls : "(none)", rnnc_cfg_where(c, w, sizeof w));
        RNNC_TRY(rnnc_cfg_read_string(c, arg, "config", NULL, &name));
        if (!name)
            return rnnc_fail(RNNC_E_ARG, "%s: an activation dict needs the function name in \"config\"%s",
                             arg, rnnc_cfg_where(c, w, sizeof w));
        rnnc_cfg_get(c, "module");
        rnnc_cfg_get(c, "registered_name");
        static const char *const keys[] = {"module", "class_name", "config", "registered_name", NULL};
        RNNC_TRY(rnnc_cfg_check_unread(c, arg, keys));
        return rnnc_act_from_name(name, arg, out);
    }
    return rnnc_fail(RNNC_E_ARG, "%s: must be an activation name, got %s%s", arg,
                     rnnc_cfg_type_name(c->type), rnnc_cfg_where(c, w, sizeof w));
}

rnnc_status rnnc_layer_config_regularizer(const rnnc_cfg *config, const char *what,
                                          const char *key, rnnc_regularizer **out)
{
    char arg[160];
    *out = NULL;
    snprintf(arg, sizeof arg, "%s.%s", what, key);
    const rnnc_cfg *c = rnnc_cfg_get(config, key);
    return c ? rnnc_regularizer_from_config(c, arg, out) : RNNC_OK;
}

rnnc_status rnnc_layer_config_constraint(const rnnc_cfg *config, const char *what,
                                         const char *key, rnnc_constraint **out)
{
    char arg[160];
    *out = NULL;
    snprintf(arg, sizeof arg, "%s.%s", what, key);
    const rnnc_cfg *c = rnnc_cfg_get(config, key);
    return c ? rnnc_constraint_from_config(c, arg, out) : RNNC_OK;
}

rnnc_status rnnc_layer_config_set_initializer(rnnc_cfg *map, const char *key,
                                              const rnnc_initializer *init)
{
    rnnc_cfg *c;
    if (!init)
        return rnnc_cfg_set_null(map, key);
    RNNC_TRY(rnnc_initializer_get_config(init, &c));
    return rnnc_cfg_set(map, key, c);
}

rnnc_status rnnc_layer_config_set_regularizer(rnnc_cfg *map, const char *key,
                                              const rnnc_regularizer *reg)
{
    rnnc_cfg *c;
    if (!reg)
        return rnnc_cfg_set_null(map, key);
    RNNC_TRY(rnnc_regularizer_get_config(reg, &c));
    return rnnc_cfg_set(map, key, c);
}

rnnc_status rnnc_layer_config_set_constraint(rnnc_cfg *map, const char *key,
                                             const rnnc_constraint *cons)
{
    rnnc_cfg *c;
    if (!cons)
        return rnnc_cfg_set_null(map, key);
    RNNC_TRY(rnnc_constraint_get_config(cons, &c));
    return rnnc_cfg_set(map, key, c);
}

rnnc_status rnnc_layer_config_number(const rnnc_cfg *config, const char *what, const char *key,
                                     rnnc_layer_num dflt, rnnc_layer_num *out)
{
    char w[300];
    const rnnc_cfg *c = rnnc_cfg_get(config, key);
    *out = dflt;
    if (!c || c->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (c->type == RNNC_CFG_INT) {
        out->v = (double)c->v.i;
        out->is_int = true;
    } else if (c->type == RNNC_CFG_FLOAT) {
        out->v = c->v.f;
        out->is_int = false;
    } else {
        return rnnc_fail(RNNC_E_ARG, "%s: '%s' must be a number, got %s%s", what, key,
                         rnnc_cfg_type_name(c->type), rnnc_cfg_where(c, w, sizeof w));
    }
    return RNNC_OK;
}

rnnc_status rnnc_layer_config_set_number(rnnc_cfg *map, const char *key, rnnc_layer_num n)
{
    if (n.is_int && fabs(n.v) < 9.0e15 && n.v == floor(n.v))
        return rnnc_cfg_set_int(map, key, (int64_t)n.v);
    return rnnc_cfg_set_float(map, key, n.v);
}

rnnc_status rnnc_layer_config_no_quantization(const rnnc_cfg *config, const char *what)
{
    static const char *const keys[] = {"quantization_config", "lora_rank", "lora_alpha"};
    char w[300];
    for (int i = 0; i < 3; i++) {
        const rnnc_cfg *c = rnnc_cfg_get(config, keys[i]);
        if (c && c->type != RNNC_CFG_NULL)
            return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: '%s' is not supported (quantization and LoRA are not implemented); use null%s",
                             what, keys[i], rnnc_cfg_where(c, w, sizeof w));
    }
    return RNNC_OK;
}

const char *rnnc_layer_config_name(const rnnc_cfg *config)
{
    const rnnc_cfg *n = rnnc_cfg_peek(config, "name");
    /* an invalid name ('/') is reported by rnnc_layer_read_base_config */
    return n && n->type == RNNC_CFG_STRING && !strchr(n->v.s, '/') ? n->v.s : NULL;
}

rnnc_status rnnc_layer_check_input_dtype(const rnnc_layer *l, const rnnc_tensor *x)
{
    if (x->dtype != l->dtype)
        return rnnc_fail(RNNC_E_DTYPE, "%s '%s': input dtype %s does not match the layer dtype %s",
                         l->cls->class_name, l->name, rnnc_dtype_name(x->dtype),
                         rnnc_dtype_name(l->dtype));
    return RNNC_OK;
}
