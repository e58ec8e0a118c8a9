/* custom_layer.c - a layer written outside the library, registered by its
 * class name and used from a YAML spec, as a Keras custom object would be.
 *
 * Scale(alpha) multiplies its input by alpha (a config key). It has no
 * weights; one with weights would create them in build with
 * rnnc_layer_add_weight. Exits 0 when the model's output is 2.5 x.
 * Build:  cc custom_layer.c $(pkg-config --cflags --libs rnnc) */
#include <math.h>
#include <rnnc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct scale_layer {
    rnnc_layer base; /* first: a scale_layer is an rnnc_layer */
    double alpha;
} scale_layer;

static rnnc_status scale_build(rnnc_layer *l, const rnnc_shape *input_shape)
{
    (void)l, (void)input_shape;
    return RNNC_OK; /* no weights */
}

static rnnc_status scale_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *a, rnnc_call_result *res)
{
    res->n_outputs = 1;
    res->mask = (rnnc_tensor *)a->mask; /* passes the mask on */
    return rnnc_affine(cx, a->inputs[0], ((scale_layer *)l)->alpha, 0.0, &res->outputs[0]);
}

static rnnc_status scale_spec(const rnnc_layer *l, const rnnc_shape *in, rnnc_output_spec *spec)
{
    spec->n_outputs = 1;
    spec->shapes[0] = *in;
    spec->dtype = l->dtype;
    return RNNC_OK;
}

static rnnc_status scale_get_config(const rnnc_layer *l, rnnc_cfg *config)
{
    return rnnc_cfg_set_float(config, "alpha", ((const scale_layer *)l)->alpha);
}

static const rnnc_layer_class scale_class = {
    .class_name = "Scale", .module = "my_layers", .build = scale_build, .call = scale_call,
    .compute_output_spec = scale_spec, .get_config = scale_get_config, .supports_masking = true};

/* What the registry calls for {class_name: Scale, config: {...}}. */
static rnnc_status scale_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    static const char *const keys[] = {"name", "trainable", "dtype", "alpha", NULL};
    scale_layer *s = calloc(1, sizeof *s);
    if (!s)
        return RNNC_E_NOMEM;
    rnnc_status st = rnnc_layer_init(&s->base, &scale_class, rnnc_layer_config_name(config), RNNC_F32);
    if (!st)
        st = rnnc_layer_read_base_config(&s->base, config, false);
    if (!st)
        st = rnnc_cfg_read_float(config, "Scale", "alpha", 1.0, &s->alpha);
    if (!st)
        st = rnnc_cfg_check_unread(config, "Scale", keys);
    if (st) {
        rnnc_layer_destroy(&s->base);
        return st;
    }
    *out = &s->base;
    return RNNC_OK;
}

static const char spec[] = "model:\n"
                           "  class_name: Sequential\n"
                           "  config:\n"
                           "    layers:\n"
                           "      - {class_name: InputLayer, config: {batch_shape: [null, 4]}}\n"
                           "      - {class_name: Scale, config: {name: scale, alpha: 2.5}}\n";

int main(void)
{
    const float xv[8] = {1, 2, 3, 4, -1, 0, 0.5f, 8};
    rnnc_shape xs = RNNC_SHAPE(2, 4);
    rnnc_cfg *cfg = NULL;
    rnnc_model *m = NULL;
    rnnc_tensor *x = NULL, *y = NULL;
    if (rnnc_layer_register("Scale", scale_from_config) || rnnc_spec_read_string(spec, strlen(spec), "spec", &cfg) ||
        rnnc_model_from_config(cfg, NULL, &m) || rnnc_tensor_from(RNNC_F32, &xs, xv, &x) ||
        rnnc_model_predict(m, x, 2, &y)) {
        fprintf(stderr, "custom_layer: %s\n", rnnc_last_error());
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < 8; i++)
        bad |= fabsf(rnnc_f32(y)[i] - 2.5f * xv[i]) > 1e-6f;
    printf("custom_layer: Scale(alpha=2.5) from the spec: %s\n", bad ? "WRONG" : "ok");
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_model_destroy(m);
    rnnc_cfg_destroy(cfg);
    return bad;
}
