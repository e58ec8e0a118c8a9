/* session.c - spec -> model + data for the rnnc commands (session.h). */
#include "apps/session.h"

#include <stdlib.h>
#include <string.h>

#include "apps/describe.h"
#include "framework/random.h"
#include "io/dataset.h"
#include "io/model_loader.h"
#include "optim/trainer.h"

rnnc_status rnnc_app_model_from_spec(const rnnc_training_spec *spec, rnnc_model **out,
                                     bool *has_weights)
{
    *has_weights = false;
    if (spec->model_path) {
        RNNC_TRY(rnnc_model_load(spec->model_path, out));
        /* .keras archives and legacy full-model .h5 files carry weights. */
        size_t n = strlen(spec->model_path);
        *has_weights = (n > 6 && strcmp(spec->model_path + n - 6, ".keras") == 0) ||
                       (n > 3 && strcmp(spec->model_path + n - 3, ".h5") == 0);
        return RNNC_OK;
    }
    rnnc_status s = rnnc_model_from_config(spec->model_config, NULL, out);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "%s: model: ", spec->path);
    return RNNC_OK;
}

int64_t rnnc_app_timesteps(const rnnc_tensor *x)
{
    return x->shape.ndim >= 2 ? x->shape.dim[1] : 1;
}

rnnc_status rnnc_app_check_input(const rnnc_model *m, const rnnc_tensor *x, const char *what)
{
    char a[160], b[160];
    bool ids = m->input_dtype == RNNC_I32 || m->input_dtype == RNNC_I64;
    if (ids && rnnc_dtype_is_float(x->dtype))
        return rnnc_fail(RNNC_E_DTYPE, "%s: x holds %s values but the model's input takes integer ids (%s); store x as integers",
                         what, rnnc_dtype_name(x->dtype), rnnc_dtype_name(m->input_dtype));
    if (!m->has_input)
        return RNNC_OK;
    const rnnc_shape *in = &m->input_shape;
    bool ok = in->ndim == x->shape.ndim;
    for (int i = 1; ok && i < in->ndim; i++)
        ok = in->dim[i] < 0 || in->dim[i] == x->shape.dim[i];
    if (!ok)
        return rnnc_fail(RNNC_E_SHAPE, "%s: x has shape %s but model '%s' takes inputs of shape %s; make the data and the model's input (InputLayer batch_shape) agree",
                         what, rnnc_app_shape_str(&x->shape, a, sizeof a), m->name,
                         rnnc_app_shape_str(in, b, sizeof b));
    return RNNC_OK;
}

/* Moves a dataset's tensors into a task_data. */
static void take(rnnc_dataset *d, rnnc_task_data *out)
{
    out->x = d->x;
    out->y = d->y;
    out->sample_weight = d->sample_weight;
    out->mask = d->mask;
    d->x = d->y = d->sample_weight = d->mask = NULL;
    rnnc_dataset_destroy(d);
}

static rnnc_status read_source(const rnnc_spec_source *src, const rnnc_model *m, const char *what,
                               rnnc_task_data *out)
{
    rnnc_dataset_options o = {0};
    rnnc_dataset *d;
    o.x_name = src->x;
    o.y_name = src->y;
    o.sample_weight_name = src->sample_weight;
    o.mask_name = src->mask;
    o.x_dtype = (m->input_dtype == RNNC_I32 || m->input_dtype == RNNC_I64) ? RNNC_I32 : RNNC_F32;
    o.y_dtype = RNNC_F32;
    rnnc_status s = rnnc_dataset_read(src->path, &o, &d);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "%s: ", what);
    if (src->sample_weight && !d->sample_weight)
        s = rnnc_fail(RNNC_E_FORMAT, "%s: '%s' has no dataset '/%s' (named by sample_weight); fix the name or remove the key",
                      what, src->path, src->sample_weight);
    else if (src->mask && !d->mask)
        s = rnnc_fail(RNNC_E_FORMAT, "%s: '%s' has no dataset '/%s' (named by mask); fix the name or remove the key",
                      what, src->path, src->mask);
    if (s != RNNC_OK) {
        rnnc_dataset_destroy(d);
        return s;
    }
    take(d, out);
    return RNNC_OK;
}

static rnnc_status gen_split(const rnnc_task *t, rnnc_split split, rnnc_task_data *out)
{
    int64_t n = rnnc_task_samples(t, split);
    if (n <= 0)
        return RNNC_OK;
    return rnnc_task_generate(t, split, n, out);
}

void rnnc_app_session_close(rnnc_app_session *s)
{
    if (!s)
        return;
    rnnc_task_data_free(&s->train);
    rnnc_task_data_free(&s->validation);
    rnnc_task_data_free(&s->test);
    rnnc_model_destroy(s->model);
    rnnc_task_destroy(s->task);
    rnnc_training_spec_destroy(s->spec);
    memset(s, 0, sizeof *s);
}

rnnc_status rnnc_app_session_open(const char *spec_path, int splits, int64_t seed_override,
                                  rnnc_app_session *s)
{
    memset(s, 0, sizeof *s);
    rnnc_status st = rnnc_training_spec_read(spec_path, &s->spec);
    if (st != RNNC_OK)
        return st;
    if (seed_override >= 0) {
        s->spec->seed = (uint64_t)seed_override;
        s->spec->has_seed = true;
    }
    /* Weight initialisers without their own seed draw from this source. */
    rnnc_set_random_seed(s->spec->seed);
    rnnc_layer_reset_names();

    if (s->spec->task) {
        if ((st = rnnc_task_create(s->spec->data_config, s->spec->dir, &s->task)))
            goto fail;
        char what[64];
        snprintf(what, sizeof what, "data (task %s)", s->spec->task);
        if ((st = rnnc_cfg_check_unread(s->spec->data_config, what, rnnc_task_known_keys(s->spec->task))))
            goto fail;
    }
    if ((st = rnnc_app_model_from_spec(s->spec, &s->model, &s->model_has_weights)))
        goto fail;

    if (s->task) {
        if (((splits & RNNC_APP_TRAIN) && (st = gen_split(s->task, RNNC_SPLIT_TRAIN, &s->train))) ||
            ((splits & RNNC_APP_VALIDATION) && (st = gen_split(s->task, RNNC_SPLIT_VALIDATION, &s->validation))) ||
            ((splits & RNNC_APP_TEST) && (st = gen_split(s->task, RNNC_SPLIT_TEST, &s->test))))
            goto fail;
    } else {
        if ((splits & RNNC_APP_TRAIN) && (st = read_source(&s->spec->train, s->model, "data", &s->train)))
            goto fail;
        if ((splits & RNNC_APP_VALIDATION) && s->spec->validation_data.path &&
            (st = read_source(&s->spec->validation_data, s->model, "fit.validation_data", &s->validation)))
            goto fail;
        if ((splits & RNNC_APP_TEST) && s->spec->test.path &&
            (st = read_source(&s->spec->test, s->model, "data.test", &s->test)))
            goto fail;
    }
    /* Every split must fit the model; an unbuilt model is built from the data. */
    const rnnc_task_data *parts[3] = {&s->train, &s->validation, &s->test};
    const char *names[3] = {"training data", "validation data", "test data"};
    for (int i = 0; i < 3; i++) {
        if (!parts[i]->x)
            continue;
        if ((st = rnnc_app_check_input(s->model, parts[i]->x, names[i])))
            goto fail;
        if (!s->model->built) {
            rnnc_shape in = parts[i]->x->shape;
            in.dim[0] = -1;
            if ((st = rnnc_model_build(s->model, &in)))
                goto fail;
        }
    }
    if (!s->model->built && s->model->has_input && (st = rnnc_model_build(s->model, &s->model->input_shape)))
        goto fail;
    return RNNC_OK;
fail:
    rnnc_app_session_close(s);
    return st;
}

rnnc_status rnnc_app_compile(rnnc_app_session *s, rnnc_trainer **out)
{
    const rnnc_cfg *c = s->spec->compile;
    *out = NULL;
    if (!c || !rnnc_cfg_peek(c, "loss"))
        return rnnc_fail(RNNC_E_ARG, "%s: the 'compile' section %s; add e.g. compile: {optimizer: adam, loss: mse}",
                         s->spec->path, c ? "has no 'loss'" : "is missing");
    rnnc_trainer *tr;
    RNNC_TRY(rnnc_trainer_create(s->model, &tr));
    rnnc_status st = rnnc_trainer_compile_config(tr, rnnc_cfg_get(c, "optimizer"), rnnc_cfg_get(c, "loss"),
                                                 rnnc_cfg_get(c, "metrics"), rnnc_cfg_get(c, "weighted_metrics"));
    if (st == RNNC_OK) {
        static const char *const keys[] = {"optimizer", "loss", "metrics", "weighted_metrics", NULL};
        st = rnnc_training_spec_check_section(c, "compile", keys);
    } else {
        st = rnnc_fail_context(st, "%s: ", s->spec->path);
    }
    if (st != RNNC_OK) {
        rnnc_trainer_destroy(tr);
        return st;
    }
    *out = tr;
    return RNNC_OK;
}
