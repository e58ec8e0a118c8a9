/* session.c - spec -> model + data for the rnnc commands (session.h). */
#define _POSIX_C_SOURCE 200809L
#include "apps/session.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "apps/describe.h"
#include "apps/forward.h"
#include "framework/random.h"
#include "framework/rnn.h"
#include "layers/dropout.h"
#include "layers/gru_cell.h"
#include "layers/lstm_cell.h"
#include "layers/simple_rnn_cell.h"
#include "io/dataset.h"
#include "io/row_reader.h"
#include "io/keras_archive.h"
#include "io/model_loader.h"
#include "io/model_save.h"
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

/* No `compile` section, and the model is a compiled .keras archive: its
 * compile_config (optimizer, loss, metrics, weighted_metrics) becomes the
 * spec's compile section, as keras.saving.load_model compiles the model it
 * returns; so the checkpoints, --save-model and resume comparisons see it.
 * With a compile section, a compiled archive only sets
 * compile_replaces_model (for rnnc train's note). */
static rnnc_status compile_from_model(rnnc_app_session *s)
{
    rnnc_training_spec *spec = s->spec;
    if (!spec->model_path || !rnnc_keras_archive_sniff(spec->model_path) || !spec->root ||
        spec->root->type != RNNC_CFG_MAP)
        return RNNC_OK;
    rnnc_cfg *cc = NULL, *c = NULL;
    rnnc_status st = rnnc_model_read_compile_config(spec->model_path, &cc);
    if (st) /* with a compile section the archive's is only for a note */
        return spec->compile ? RNNC_OK : st;
    if (cc && spec->compile) { /* model.compile(...) after load_model: a new optimizer */
        s->compile_replaces_model = true;
        rnnc_cfg_destroy(cc);
        return RNNC_OK;
    }
    if (!cc)
        return RNNC_OK;
    const rnnc_cfg *lw = rnnc_cfg_peek(cc, "loss_weights");
    if (lw && lw->type != RNNC_CFG_NULL)
        st = rnnc_fail(RNNC_E_UNSUPPORTED, "%s: the model '%s' was compiled with loss_weights, which rnnc does not support; give the spec a compile section",
                       spec->path, spec->model_path);
    else if (!(c = rnnc_cfg_map()))
        st = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    /* run_eagerly, steps_per_execution and jit_compile change no number */
    static const char *const keys[] = {"optimizer", "loss", "metrics", "weighted_metrics", NULL};
    for (int i = 0; keys[i] && !st; i++) {
        const rnnc_cfg *v = rnnc_cfg_peek(cc, keys[i]);
        rnnc_cfg *copy = v && v->type != RNNC_CFG_NULL ? rnnc_cfg_clone(v) : NULL;
        if (v && v->type != RNNC_CFG_NULL)
            st = copy ? rnnc_cfg_set(c, keys[i], copy) : rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    rnnc_cfg_destroy(cc);
    if (st) {
        rnnc_cfg_destroy(c);
        return st;
    }
    RNNC_TRY(rnnc_cfg_set(spec->root, "compile", c)); /* the root owns c (freed on failure) */
    spec->compile = rnnc_cfg_peek(spec->root, "compile");
    s->compile_from_model = true;
    return RNNC_OK;
}

rnnc_status rnnc_app_restore_optimizer(rnnc_app_session *s, rnnc_trainer *tr, bool *found)
{
    *found = false;
    rnnc_optimizer *opt = tr ? rnnc_trainer_optimizer(tr) : NULL;
    if (!s->compile_from_model || !opt)
        return RNNC_OK;
    rnnc_status st = rnnc_model_load_optimizer(s->spec->model_path, s->model, opt, found);
    return st ? rnnc_fail_context(st, "%s: continuing the optimizer state of the model's compile_config: ", s->spec->path)
              : RNNC_OK;
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

static void source_options(const rnnc_spec_source *src, const rnnc_model *m, rnnc_dataset_options *o)
{
    memset(o, 0, sizeof *o);
    o->x_name = src->x;
    o->y_name = src->y;
    o->sample_weight_name = src->sample_weight;
    o->mask_name = src->mask;
    o->x_dtype = (m->input_dtype == RNNC_I32 || m->input_dtype == RNNC_I64) ? RNNC_I32 : RNNC_F32;
    o->y_dtype = RNNC_F32;
}

void rnnc_app_train_options(const rnnc_app_session *s, rnnc_dataset_options *o)
{
    source_options(&s->spec->train, s->model, o);
}

void rnnc_app_source_options(const rnnc_app_session *s, const rnnc_spec_source *src, rnnc_dataset_options *o)
{
    source_options(src, s->model, o);
}

static rnnc_status read_source(const rnnc_spec_source *src, const rnnc_model *m, const char *what,
                               rnnc_task_data *out)
{
    rnnc_dataset_options o;
    rnnc_dataset *d;
    source_options(src, m, &o);
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

/* Whether the training data is streamed: data.streaming, or under auto
 * (the default) a training file larger than RNNC_SPEC_STREAMING_ABOVE_BYTES
 * (RNNC_STREAMING_ABOVE_BYTES in the environment replaces it) unless
 * fit.validation_split or fit.class_weight need the data in memory. */
static rnnc_status wants_streaming(const rnnc_training_spec *spec, bool *out)
{
    *out = spec->streaming == 1;
    if (spec->streaming != -1 || spec->validation_split > 0 || spec->class_weight)
        return RNNC_OK; /* auto keeps data that validation_split / class_weight need in memory */
    int64_t above = RNNC_SPEC_STREAMING_ABOVE_BYTES;
    const char *env = getenv("RNNC_STREAMING_ABOVE_BYTES");
    if (env && *env) {
        char *end;
        errno = 0;
        long long v = strtoll(env, &end, 10);
        if (*end || errno || v < 0)
            return rnnc_fail(RNNC_E_ARG, "RNNC_STREAMING_ABOVE_BYTES must be a number of bytes >= 0, got '%s'", env);
        above = v;
    }
    struct stat st;
    *out = stat(spec->train.path, &st) == 0 && (int64_t)st.st_size > above;
    return RNNC_OK;
}

static rnnc_status split_by_rows(rnnc_app_session *s, const rnnc_spec_source *src, int64_t from, const char *what,
                                 const char *name, rnnc_task_data *out, int64_t *count);

/* The training rows read on demand: only the first rows (a batch, for the
 * checks and building the model) are loaded; train_rows counts the file's. */
static rnnc_status open_by_rows(rnnc_app_session *s)
{
    const rnnc_training_spec *spec = s->spec;
    char w[300];
    if (s->streaming && spec->validation_split > 0)
        return rnnc_fail(RNNC_E_ARG, "%s: fit.validation_split cannot be taken off streamed training data; give fit.validation_data (a file) or set data.streaming: false%s",
                         spec->path, rnnc_cfg_where(rnnc_cfg_peek(spec->data_config, "streaming"), w, sizeof w));
    if (s->streaming && spec->class_weight)
        return rnnc_fail(RNNC_E_ARG, "%s: fit.class_weight is not applied to streamed training data; give the weights as a sample_weight dataset or set data.streaming: false%s",
                         spec->path, rnnc_cfg_where(rnnc_cfg_peek(spec->data_config, "streaming"), w, sizeof w));
    if (s->streaming && spec->batch_size > spec->chunk_size * spec->shuffle_window)
        return rnnc_fail(RNNC_E_ARG, "%s: a streamed batch must fit in a window: fit.batch_size %lld is more than data.chunk_size %lld x data.shuffle_window %lld rows; raise them%s",
                         spec->path, (long long)spec->batch_size, (long long)spec->chunk_size,
                         (long long)spec->shuffle_window,
                         rnnc_cfg_where(rnnc_cfg_peek(spec->data_config, "streaming"), w, sizeof w));
    RNNC_TRY(split_by_rows(s, &spec->train, 0, "data", "training data", &s->train, &s->train_rows));
    /* fit.validation_split (data-parallel, not streamed): the file's last
     * rows validate, read by rows too; `validation` holds their first batch */
    if (s->streaming || !(spec->validation_split > 0) || spec->validation_data.path)
        return RNNC_OK;
    const int64_t n = s->train_rows, at = (int64_t)floor((double)n * (1.0 - spec->validation_split));
    if (at <= 0 || at >= n)
        return rnnc_fail(RNNC_E_ARG, "%s: fit.validation_split %g of %lld samples leaves no %s data; change the split or add data",
                         spec->path, spec->validation_split, (long long)n, at <= 0 ? "training" : "validation");
    int64_t all;
    RNNC_TRY(split_by_rows(s, &spec->train, at, "data", "training data", &s->validation, &all));
    s->train_rows = at;
    s->validation_rows = n - at;
    s->validation_from = at;
    return RNNC_OK;
}

/* A split read by rows later: the file's row count, and the first batch's
 * rows from row `from` on (in *out) for the checks before training. */
static rnnc_status split_by_rows(rnnc_app_session *s, const rnnc_spec_source *src, int64_t from, const char *what,
                                 const char *name, rnnc_task_data *out, int64_t *count)
{
    const rnnc_training_spec *spec = s->spec;
    rnnc_dataset_options o;
    rnnc_dataset_rows *r;
    source_options(src, s->model, &o);
    rnnc_status st = rnnc_dataset_rows_open(src->path, &o, &r);
    if (st)
        return rnnc_fail_context(st, "%s: ", what);
    *count = rnnc_dataset_rows_count(r);
    if (*count == 0) {
        rnnc_dataset_rows_close(r);
        return rnnc_fail(RNNC_E_ARG, "%s: the %s ('%s', datasets %s and %s) has 0 samples; give at least one",
                         spec->path, name, src->path, src->x, src->y);
    }
    int64_t first = *count - from < spec->batch_size ? *count - from : spec->batch_size;
    int64_t *rows = malloc((size_t)(first > 0 ? first : 1) * sizeof *rows);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *t[3] = {NULL, NULL, NULL};
    if (!rows || !cx)
        st = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    for (int64_t i = 0; st == RNNC_OK && i < first; i++)
        rows[i] = from + i;
    if (st == RNNC_OK && first > 0)
        st = rnnc_dataset_rows_read(r, cx, rows, first, &t[0], &t[1], &t[2]);
    if (st == RNNC_OK && src->sample_weight && !t[2])
        st = rnnc_fail(RNNC_E_FORMAT, "%s: '%s' has no dataset '/%s' (named by sample_weight); fix the name or remove the key",
                       what, src->path, src->sample_weight);
    rnnc_tensor **dst[3] = {&out->x, &out->y, &out->sample_weight};
    for (int k = 0; k < 3 && st == RNNC_OK; k++)
        if (t[k])
            st = rnnc_tensor_clone(t[k], dst[k]);
    rnnc_ctx_destroy(cx);
    free(rows);
    rnnc_dataset_rows_close(r);
    return st;
}

static rnnc_status gen_split(const rnnc_task *t, rnnc_split split, rnnc_task_data *out)
{
    int64_t n = rnnc_task_samples(t, split);
    if (n <= 0)
        return RNNC_OK;
    return rnnc_task_generate(t, split, n, out);
}

/* Where split i (0 train, 1 validation, 2 test) comes from, for messages:
 * "(task adding)" or "('train.h5', datasets x and y)". */
static const char *split_source(const rnnc_app_session *s, int i, char *buf, size_t cap)
{
    const rnnc_spec_source *src = i == 0 ? &s->spec->train : i == 1 ? &s->spec->validation_data : &s->spec->test;
    if (s->task)
        snprintf(buf, cap, "(task %s)", rnnc_task_name(s->task));
    else if (src->path)
        snprintf(buf, cap, "('%s', datasets %s and %s)", src->path, src->x, src->y);
    else /* the validation split of the training data */
        snprintf(buf, cap, "('%s', datasets %s and %s)", s->spec->train.path, s->spec->train.x, s->spec->train.y);
    return buf;
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
    if ((st = rnnc_app_model_from_spec(s->spec, &s->model, &s->model_has_weights)) || (st = compile_from_model(s)))
        goto fail;

    if (s->task) {
        if (((splits & RNNC_APP_TRAIN) && (st = gen_split(s->task, RNNC_SPLIT_TRAIN, &s->train))) ||
            ((splits & RNNC_APP_VALIDATION) && (st = gen_split(s->task, RNNC_SPLIT_VALIDATION, &s->validation))) ||
            ((splits & RNNC_APP_TEST) && (st = gen_split(s->task, RNNC_SPLIT_TEST, &s->test))))
            goto fail;
    } else {
        bool stream = false;
        if ((splits & RNNC_APP_TRAIN) && (st = wants_streaming(s->spec, &stream)))
            goto fail;
        s->streaming = stream;
        /* data-parallel: rows from the file unless class_weight needs them all (or validation_split
         * does, when validation is not read by rows too) */
        s->eval_by_rows = (splits & RNNC_APP_EVAL_BY_ROWS) != 0;
        s->train_by_rows = stream || ((splits & RNNC_APP_TRAIN_BY_ROWS) &&
                                      (s->spec->validation_split == 0 || s->eval_by_rows) && !s->spec->class_weight);
        if ((splits & RNNC_APP_TRAIN) && s->train_by_rows && (st = open_by_rows(s)))
            goto fail;
        if ((splits & RNNC_APP_TRAIN) && !s->train_by_rows &&
            (st = read_source(&s->spec->train, s->model, "data", &s->train)))
            goto fail;
        /* data-parallel: validation and test files by rows too (the first batch loaded for the checks) */
        if ((splits & RNNC_APP_VALIDATION) && s->spec->validation_data.path &&
            (st = s->eval_by_rows ? split_by_rows(s, &s->spec->validation_data, 0, "fit.validation_data",
                                                  "validation data", &s->validation, &s->validation_rows)
                                  : read_source(&s->spec->validation_data, s->model, "fit.validation_data", &s->validation)))
            goto fail;
        if ((splits & RNNC_APP_TEST) && s->spec->test.path &&
            (st = s->eval_by_rows ? split_by_rows(s, &s->spec->test, 0, "data.test", "test data", &s->test, &s->test_rows)
                                  : read_source(&s->spec->test, s->model, "data.test", &s->test)))
            goto fail;
    }
    /* Every split must fit the model; an unbuilt model is built from the data. */
    const rnnc_task_data *parts[3] = {&s->train, &s->validation, &s->test};
    const char *names[3] = {"training data", "validation data", "test data"};
    for (int i = 0; i < 3; i++) {
        if (!parts[i]->x)
            continue;
        if (parts[i]->x->shape.ndim < 1 || parts[i]->x->shape.dim[0] == 0) {
            char where[1200];
            st = rnnc_fail(RNNC_E_ARG, "%s: the %s %s has 0 samples; give at least one", s->spec->path, names[i],
                           split_source(s, i, where, sizeof where));
            goto fail;
        }
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
    if (s->train.x && !s->train_by_rows)
        s->train_rows = s->train.x->shape.dim[0];
    return RNNC_OK;
fail:
    rnnc_app_session_close(s);
    return st;
}

/* The dropout streams of a model (GRU, LSTM and SimpleRNN cells, Dropout
 * layers): an inference
 * call still advances them, as Keras's seed generators advance, so the
 * check below saves and puts them back and training draws exactly what it
 * would draw without the check. */
#define MAX_STREAMS 256
typedef struct streams {
    rnnc_rng *at[MAX_STREAMS];
    rnnc_rng saved[MAX_STREAMS];
    int n;
    bool full;
} streams;

/* Every dropout stream: GRU, LSTM and SimpleRNN cells (their calls draw
 * masks, inference included) and Dropout layers. */
static void save_streams(rnnc_layer *l, streams *st)
{
    rnnc_rng *r = rnnc_layer_is_gru_cell(l)       ? &rnnc_gru_cell_of(l)->rng
                  : rnnc_layer_is_lstm_cell(l)    ? &rnnc_lstm_cell_of(l)->rng
                  : rnnc_simple_rnn_cell_of(l)    ? &rnnc_simple_rnn_cell_of(l)->rng
                  : l->cls == &rnnc_dropout_class ? &((rnnc_dropout_layer *)l)->rng
                                                  : NULL;
    if (r && st->n == MAX_STREAMS)
        st->full = true;
    else if (r) {
        st->at[st->n] = r;
        st->saved[st->n++] = *r;
    }
    for (int i = 0; i < l->n_children; i++)
        if (l->children[i])
            save_streams(l->children[i], st);
}

static bool has_stateful_rnn(rnnc_layer *l)
{
    rnnc_rnn *r = rnnc_rnn_of(l);
    if (r && r->opt.stateful)
        return true;
    for (int i = 0; i < l->n_children; i++)
        if (l->children[i] && has_stateful_rnn(l->children[i]))
            return true;
    return false;
}

/* The batch size of the first stored state of a stateful RNN in l, or 0. */
static int64_t stateful_batch(rnnc_layer *l)
{
    rnnc_rnn *r = rnnc_rnn_of(l);
    if (r && r->opt.stateful && r->states[0] && r->states[0]->shape.ndim >= 1)
        return r->states[0]->shape.dim[0];
    for (int i = 0; i < l->n_children; i++) {
        const int64_t b = l->children[i] ? stateful_batch(l->children[i]) : 0;
        if (b)
            return b;
    }
    return 0;
}

int64_t rnnc_app_stateful_batch(const rnnc_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        const int64_t b = m->layers[i] ? stateful_batch(m->layers[i]) : 0;
        if (b)
            return b;
    }
    return 0;
}

/* A stateful model takes batches of its one size only: the split that
 * `rnnc train` reports after training (test, else validation) is checked
 * before training, so a run does not end in an error that loses its weights
 * (the training and validation data: rnnc_trainer_fit checks them). */
static rnnc_status check_stateful_report(rnnc_app_session *s, rnnc_trainer *tr)
{
    const bool test = s->test.x != NULL;
    const rnnc_task_data *d = test ? &s->test : &s->validation;
    if (!d->x || !d->y || d->x->shape.ndim < 1)
        return RNNC_OK;
    const int64_t rows = test ? (s->test_rows > 0 ? s->test_rows : d->x->shape.dim[0])
                              : (s->validation_rows > 0 ? s->validation_rows : d->x->shape.dim[0]);
    char where[1200], data[1300];
    snprintf(data, sizeof data, "%s %s", test ? "test data" : "validation data",
             split_source(s, test ? 2 : 1, where, sizeof where));
    /* under mpirun each rank evaluates its part of every batch */
    return rnnc_trainer_check_batches_ranks(tr, s->spec->path, data, rows, s->spec->batch_size, true, s->ranks);
}

/* The first `rows` rows of t as a view. */
static rnnc_status first_rows(rnnc_tensor *t, int64_t rows, rnnc_tensor **out)
{
    *out = NULL;
    if (!t)
        return RNNC_OK;
    rnnc_shape sh = t->shape;
    sh.dim[0] = rows;
    return rnnc_tensor_view(t, 0, &sh, out);
}

/* Runs the model, the loss and the metrics on the first `rows` samples of d,
 * weighted by weights (all of d's rows), else by d's own sample weights. */
static rnnc_status try_batch(rnnc_trainer *tr, const rnnc_task_data *d, rnnc_tensor *weights, int64_t rows)
{
    rnnc_tensor *x, *y, *sw;
    rnnc_logs logs;
    rnnc_status st;
    if (!(st = first_rows(d->x, rows, &x)) && !(st = first_rows(d->y, rows, &y)) &&
        !(st = first_rows(weights ? weights : d->sample_weight, rows, &sw)))
        st = rnnc_trainer_evaluate(tr, x, y, sw, rows, &logs);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_tensor_destroy(sw);
    return st;
}

/* fit.class_weight makes one weight per training sample from its class, so
 * it needs one class per sample and a loss of one value per sample: refused
 * here, before training, for sequence targets ((N, T, C), or (N, T) ids
 * under a per-step loss), which Keras 3.15.1 refuses too. The batch tried
 * has neither 1 nor T rows when it can, so that (rows,) weights cannot
 * broadcast over a (rows, T) loss by chance. */
static rnnc_status check_class_weight(rnnc_app_session *s, rnnc_trainer *tr, const rnnc_task_data *d)
{
    char where[1200], sh[96];
    rnnc_tensor *cw;
    split_source(s, 0, where, sizeof where);
    rnnc_shape_str(&d->y->shape, sh, sizeof sh);
    rnnc_status st = rnnc_trainer_class_weights(d->y, s->spec->class_weight, s->spec->n_class_weight, &cw);
    if (st == RNNC_E_SHAPE)
        return rnnc_fail(RNNC_E_SHAPE, "%s: fit.class_weight needs one class per sample (targets (N,), (N, 1) or one-hot (N, C)), but the training targets %s have shape %s",
                         s->spec->path, where, sh);
    if (st != RNNC_OK)
        return st;
    const int64_t n = d->x->shape.dim[0], bs = s->spec->batch_size, t = d->y->shape.ndim > 1 ? d->y->shape.dim[1] : 1;
    int64_t rows = n < bs ? n : bs;
    if (rows == t && rows > 2)
        rows--;
    st = try_batch(tr, d, cw, rows);
    rnnc_tensor_destroy(cw);
    if (st != RNNC_OK)
        st = rnnc_fail_context(st, "%s: fit.class_weight needs one class per sample and a loss of one value per sample, but the training targets %s have shape %s and the loss is not per sample (checked before training): ",
                               s->spec->path, where, sh);
    return st;
}

/* Runs the model, the compiled loss and the metrics on a first batch of
 * each loaded split, and on a batch of the size of the last partial one
 * (inference: no weight, optimizer or random state changes; broadcasting
 * can depend on the batch size), so a loss that does not fit the model's
 * output, and targets or sample weights of the wrong shape or dtype, fail
 * here, before the first training step, naming the spec and the data.
 * Skipped for stateful RNNs (a call would change their state) and for
 * models of several inputs or outputs (the trainer refuses those itself). */
static rnnc_status check_targets(rnnc_app_session *s, rnnc_trainer *tr)
{
    streams saved = {.n = 0};
    for (int i = 0; i < s->model->n_layers; i++) {
        if (has_stateful_rnn(s->model->layers[i]))
            return check_stateful_report(s, tr);
        save_streams(s->model->layers[i], &saved);
    }
    if (saved.full || rnnc_app_model_n_inputs(s->model) != 1 || rnnc_app_model_n_outputs(s->model) != 1)
        return RNNC_OK;
    rnnc_task_data *parts[3] = {&s->train, &s->validation, &s->test};
    const char *names[3] = {"training data", "validation data", "test data"};
    rnnc_status st = RNNC_OK;
    for (int i = 0; i < 3 && !st; i++) {
        rnnc_task_data *d = parts[i];
        if (!d->x || !d->y || d->x->shape.ndim < 1 || d->x->shape.dim[0] < 1 || d->y->shape.ndim < 1 ||
            d->y->shape.dim[0] != d->x->shape.dim[0] ||
            (d->sample_weight && (d->sample_weight->shape.ndim < 1 || d->sample_weight->shape.dim[0] != d->x->shape.dim[0])))
            continue; /* no targets, or row counts the trainer reports itself */
        const int64_t n = d->x->shape.dim[0], bs = s->spec->batch_size;
        st = try_batch(tr, d, NULL, n < bs ? n : bs);
        if (!st && n > bs && n % bs)
            st = try_batch(tr, d, NULL, n % bs);
        if (st != RNNC_OK) {
            char where[1200];
            st = rnnc_fail_context(st, "%s: the %s %s does not fit the model's output and the compiled loss (checked before training): ",
                                   s->spec->path, names[i], split_source(s, i, where, sizeof where));
        }
        if (!st && i == 0 && s->spec->class_weight && !d->sample_weight)
            st = check_class_weight(s, tr, d);
    }
    for (int i = 0; i < saved.n; i++)
        *saved.at[i] = saved.saved[i];
    return st;
}

rnnc_status rnnc_app_check_targets(rnnc_app_session *s, rnnc_trainer *tr) { return check_targets(s, tr); }

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
        if (st == RNNC_OK)
            st = check_targets(s, tr);
    } else if (s->compile_from_model) {
        st = rnnc_fail_context(st, "%s: compiling as the model '%s's compile_config says (no compile section; give one to compile it otherwise): ",
                               s->spec->path, s->spec->model_path);
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
