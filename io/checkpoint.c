/* checkpoint.c - checkpoints (checkpoint.h): a Keras .weights.h5 with an
 * extra /rnnc_checkpoint group, written atomically and read back fully
 * checked. The checkpoint directory is checkpoint_dir.c. */
#define _POSIX_C_SOURCE 200809L
#include "io/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5_util.h"
#include "io/weights_h5_internal.h"

#define GROUP "rnnc_checkpoint"
#define FORMAT_NAME "rnnc-checkpoint"

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- state ---- */

void rnnc_checkpoint_state_clear(rnnc_checkpoint_state *s)
{
    if (!s)
        return;
    rnnc_cfg_destroy(s->history);
    free(s->model_config);
    free(s->optimizer_config);
    free(s->training_spec);
    memset(s, 0, sizeof *s);
}

static bool good_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof ((rnnc_checkpoint_rng *)0)->name || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

rnnc_status rnnc_checkpoint_state_set_rng(rnnc_checkpoint_state *s, const char *name,
                                          const rnnc_rng *r)
{
    if (!good_name(name))
        return rnnc_fail(RNNC_E_ARG, "checkpoint: generator name '%s' must be 1-63 letters, digits, '_', '-' or '.'",
                         name);
    for (int i = 0; i < s->n_rngs; i++)
        if (strcmp(s->rngs[i].name, name) == 0) {
            s->rngs[i].state = *r;
            return RNNC_OK;
        }
    if (s->n_rngs >= RNNC_CHECKPOINT_MAX_RNGS)
        return rnnc_fail(RNNC_E_NOMEM, "checkpoint: more than %d generators", RNNC_CHECKPOINT_MAX_RNGS);
    snprintf(s->rngs[s->n_rngs].name, sizeof s->rngs[0].name, "%s", name);
    s->rngs[s->n_rngs++].state = *r;
    return RNNC_OK;
}

const rnnc_rng *rnnc_checkpoint_state_rng(const rnnc_checkpoint_state *s, const char *name)
{
    for (int i = 0; i < s->n_rngs; i++)
        if (strcmp(s->rngs[i].name, name) == 0)
            return &s->rngs[i].state;
    return NULL;
}

/* ---- HDF5 pieces ---- */

/* Strings are fixed-length (null-padded UTF-8): their bytes are in the
 * dataset's own storage, so reading a damaged file never reaches HDF5's
 * global heap (whose damage HDF5 1.10 does not always survive). */
static rnnc_status write_string(hid_t loc, const char *name, const char *value, const char *file)
{
    return rnnc_h5_write_fixed_string(loc, name, value, file);
}

/* A scalar fixed-length string dataset; *out NULL when absent. Variable-
 * length strings (checkpoints of rnnc before fixed-length strings) are
 * refused before any of their bytes is read. */
static rnnc_status read_string(hid_t loc, const char *name, const char *file, char **out)
{
    *out = NULL;
    if (!rnnc_h5_exists(loc, name))
        return RNNC_OK;
    rnnc_status s = rnnc_h5_read_fixed_string(loc, name, file, out);
    if (s == RNNC_E_FORMAT && strstr(rnnc_last_error(), "variable-length"))
        return rnnc_fail(RNNC_E_FORMAT, "'%s': '/%s/%s' is a variable-length string: the checkpoint was written by an older rnnc (or is damaged); rnnc reads only fixed-length strings here; make it again by training, or start a new run from its weights with --weights",
                         file, GROUP, name);
    return s;
}

static rnnc_status write_i64s(hid_t loc, const char *name, const int64_t *v, int n, const char *file)
{
    rnnc_tensor *t;
    rnnc_shape shape = n == 0 ? rnnc_shape_of(NULL, 0) : RNNC_SHAPE(n);
    RNNC_TRY(rnnc_tensor_from(RNNC_I64, &shape, v, &t));
    rnnc_status s = rnnc_h5_write_tensor(loc, name, t, file);
    rnnc_tensor_destroy(t);
    return s;
}

static rnnc_status write_history(hid_t grp, const rnnc_cfg *h, const char *file)
{
    char w[300];
    for (size_t i = 0; i < h->n; i++) {
        const rnnc_cfg *list = h->items[i];
        if (!good_name(h->keys[i]) || list->type != RNNC_CFG_LIST)
            return rnnc_fail(RNNC_E_ARG, "'%s': history entry '%s' must be a list of numbers under a plain name%s",
                             file, h->keys[i], rnnc_cfg_where(list, w, sizeof w));
        rnnc_tensor *t;
        rnnc_shape shape = RNNC_SHAPE((int64_t)list->n);
        RNNC_TRY(rnnc_tensor_create(RNNC_F64, &shape, &t));
        for (size_t k = 0; k < list->n; k++) {
            const rnnc_cfg *v = list->items[k];
            rnnc_f64(t)[k] = v->type == RNNC_CFG_FLOAT ? v->v.f : v->type == RNNC_CFG_INT ? (double)v->v.i : 0.0;
        }
        rnnc_status s = rnnc_h5_write_tensor(grp, h->keys[i], t, file);
        rnnc_tensor_destroy(t);
        RNNC_TRY(s);
    }
    return RNNC_OK;
}

static rnnc_status write_metric_state(hid_t g, const rnnc_checkpoint_state *st, const char *file)
{
    rnnc_tensor *t;
    rnnc_shape shape = RNNC_SHAPE((int64_t)st->n_metric_state);
    RNNC_TRY(rnnc_tensor_from(RNNC_F64, &shape, st->metric_state, &t));
    rnnc_status s = rnnc_h5_write_tensor(g, "metric_state", t, file);
    rnnc_tensor_destroy(t);
    return s;
}

static rnnc_status write_state(hid_t file_id, const rnnc_checkpoint_state *st, const char *file)
{
    hid_t g = -1, rg = -1, hg = -1;
    rnnc_status s;
    if ((s = rnnc_h5_group_create(file_id, GROUP, file, &g)))
        return s;
    int64_t version = st->batch > 0 ? RNNC_CHECKPOINT_VERSION_MID_EPOCH : RNNC_CHECKPOINT_VERSION;
    int64_t run_id = (int64_t)st->run_id;
    if ((s = rnnc_h5_attr_write_fixed_string(g, "format", FORMAT_NAME, file)) ||
        (s = write_i64s(g, "version", &version, 0, file)) ||
        (s = write_i64s(g, "epoch", &st->epoch, 0, file)) ||
        (s = write_i64s(g, "step", &st->step, 0, file)) ||
        (s = write_i64s(g, "batch", &st->batch, 0, file)) ||
        (st->run_id && (s = write_i64s(g, "run_id", &run_id, 0, file))))
        goto done;
    if (st->n_metric_state > 0 && (s = write_metric_state(g, st, file)))
        goto done;
    if (st->model_config && (s = write_string(g, "model_config", st->model_config, file)))
        goto done;
    if (st->optimizer_config && (s = write_string(g, "optimizer_config", st->optimizer_config, file)))
        goto done;
    if (st->training_spec && (s = write_string(g, "training_spec", st->training_spec, file)))
        goto done;
    if ((s = rnnc_h5_group_create(g, "rng", file, &rg)))
        goto done;
    for (int i = 0; i < st->n_rngs; i++) {
        int64_t v[2] = {(int64_t)st->rngs[i].state.seed, (int64_t)st->rngs[i].state.counter};
        if (!good_name(st->rngs[i].name)) {
            s = rnnc_fail(RNNC_E_ARG, "'%s': bad generator name '%s'", file, st->rngs[i].name);
            goto done;
        }
        if ((s = write_i64s(rg, st->rngs[i].name, v, 2, file)))
            goto done;
    }
    if ((s = rnnc_h5_group_create(g, "history", file, &hg)))
        goto done;
    if (st->history && st->history->type == RNNC_CFG_MAP)
        s = write_history(hg, st->history, file);
done:;
    /* Each group closed exactly once; a failing close fails the save. */
    const hid_t groups[3] = {hg, rg, g};
    for (int i = 0; i < 3; i++)
        if (groups[i] >= 0 && H5Gclose(groups[i]) < 0 && s == RNNC_OK)
            s = rnnc_fail(RNNC_E_IO, "'%s': closing a group of /%s failed", file, GROUP);
    return s;
}

/* The optimizer's variables as a malloc'd array (*vars NULL when none). */
static rnnc_status optimizer_vars(const rnnc_optimizer *opt, rnnc_optimizer_variable **vars, int *n)
{
    *vars = NULL;
    *n = 0;
    if (!opt)
        return RNNC_OK;
    int total;
    RNNC_TRY(rnnc_optimizer_variables(opt, NULL, 0, &total));
    if (total == 0)
        return RNNC_OK;
    *vars = calloc((size_t)total, sizeof **vars);
    if (!*vars)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_status s = rnnc_optimizer_variables(opt, *vars, total, n);
    if (s != RNNC_OK) {
        free(*vars);
        *vars = NULL;
    }
    return s;
}

rnnc_status rnnc_checkpoint_save(const char *path, const rnnc_model *m, const rnnc_optimizer *opt,
                                 const rnnc_checkpoint_state *state)
{
    if (!path || !m || !state)
        return rnnc_fail(RNNC_E_ARG, "rnnc_checkpoint_save: needs a path, a model and a state");
    rnnc_optimizer_variable *vars = NULL;
    const rnnc_tensor **tensors = NULL;
    int n = 0;
    rnnc_status s = optimizer_vars(opt, &vars, &n);
    if (s == RNNC_OK && n > 0 && !(tensors = malloc((size_t)n * sizeof *tensors)))
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    for (int i = 0; s == RNNC_OK && i < n; i++)
        tensors[i] = vars[i].value;
    /* One file, built in memory: the Keras part, then our group; written
     * to "<path>.partial.<pid>.<n>", fsync'd, renamed into place. */
    rnnc_h5_writer w;
    bool open = false;
    if (s == RNNC_OK && (s = rnnc_h5_writer_begin_tagged(path, "partial", &w)) == RNNC_OK)
        open = true;
    if (s == RNNC_OK)
        s = rnnc_weights_save_h5(w.file, m, path, tensors, n, opt ? rnnc_optimizer_name(opt) : NULL);
    free(tensors);
    free(vars);
    if (s == RNNC_OK)
        s = write_state(w.file, state, path);
    if (open && s != RNNC_OK)
        rnnc_h5_writer_discard(&w);
    else if (open)
        s = rnnc_h5_writer_commit(&w);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "checkpoint not saved: ");
    return RNNC_OK;
}

/* ---- reading ---- */

static rnnc_status read_i64(hid_t g, const char *name, const char *file, int ndim, int64_t n,
                            int64_t *out)
{
    rnnc_shape shape;
    rnnc_dtype dt;
    char want[64], got[64];
    if (!rnnc_h5_exists(g, name))
        return rnnc_fail(RNNC_E_FORMAT, "'%s': checkpoint dataset '/%s/%s' is missing; the file is damaged or not written by rnnc",
                         file, GROUP, name);
    RNNC_TRY(rnnc_h5_dataset_info(g, name, file, &shape, &dt));
    rnnc_shape expect = ndim == 0 ? rnnc_shape_of(NULL, 0) : RNNC_SHAPE(n);
    if (!rnnc_shape_eq(&shape, &expect) || rnnc_dtype_is_float(dt))
        return rnnc_fail(RNNC_E_FORMAT, "'%s': checkpoint dataset '/%s/%s' must be an integer array of shape %s, got %s %s",
                         file, GROUP, name, rnnc_shape_str(&expect, want, sizeof want),
                         rnnc_dtype_name(dt), rnnc_shape_str(&shape, got, sizeof got));
    rnnc_tensor *t;
    RNNC_TRY(rnnc_h5_read_tensor(g, name, file, RNNC_I64, false, &t));
    memcpy(out, t->data, t->numel * sizeof(int64_t));
    rnnc_tensor_destroy(t);
    return RNNC_OK;
}

/* Names of the links directly in group `rel` of g (malloc'd array). */
static rnnc_status list_names(hid_t g, const char *rel, const char *file, char ***names, size_t *n)
{
    hid_t sub;
    char why[600];
    *names = NULL;
    *n = 0;
    RNNC_TRY(rnnc_h5_group_open(g, rel, file, &sub));
    size_t count;
    rnnc_status s = rnnc_h5_group_count(sub, file, &count);
    if (s == RNNC_OK && count > 4096)
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': checkpoint group '/%s/%s' has %zu entries; at most 4096 are expected",
                      file, GROUP, rel, count);
    if (s == RNNC_OK && count > 0 && !(*names = calloc(count, sizeof **names)))
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    for (size_t i = 0; s == RNNC_OK && i < count; i++) {
        char buf[256];
        ssize_t len = H5Lget_name_by_idx(sub, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)i, buf, sizeof buf,
                                         H5P_DEFAULT);
        if (len < 0 || (size_t)len >= sizeof buf)
            s = rnnc_fail(RNNC_E_FORMAT, "'%s': cannot read entry %zu of '/%s/%s'%s", file, i, GROUP, rel,
                          rnnc_h5_error_detail(why, sizeof why));
        else if (!((*names)[i] = dup_str(buf)))
            s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        else
            (*n)++;
    }
    rnnc_h5_quiet_end(&q);
    H5Gclose(sub);
    if (s != RNNC_OK) {
        rnnc_h5_strings_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return s;
}

static rnnc_status read_history(hid_t g, const char *file, rnnc_cfg **out)
{
    char **names;
    size_t n;
    *out = rnnc_cfg_map();
    if (!*out)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    RNNC_TRY(list_names(g, "history", file, &names, &n));
    rnnc_status s = RNNC_OK;
    for (size_t i = 0; s == RNNC_OK && i < n; i++) {
        char rel[300];
        rnnc_tensor *t = NULL;
        snprintf(rel, sizeof rel, "history/%s", names[i]);
        s = rnnc_h5_read_tensor(g, rel, file, RNNC_F64, true, &t);
        if (s == RNNC_OK && t->shape.ndim != 1)
            s = rnnc_fail(RNNC_E_FORMAT, "'%s': '/%s/%s' must be one-dimensional", file, GROUP, rel);
        rnnc_cfg *list = s == RNNC_OK ? rnnc_cfg_list() : NULL;
        if (s == RNNC_OK && !list)
            s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        for (size_t k = 0; s == RNNC_OK && k < t->numel; k++)
            s = rnnc_cfg_push(list, rnnc_cfg_float(rnnc_f64(t)[k]));
        if (s == RNNC_OK)
            s = rnnc_cfg_set(*out, names[i], list);
        else
            rnnc_cfg_destroy(list);
        rnnc_tensor_destroy(t);
    }
    rnnc_h5_strings_free(names, n);
    return s;
}

/* batch, run_id and metric_state: optional, absent in files of older rnnc. */
static rnnc_status read_position(hid_t g, const char *file, int64_t version, rnnc_checkpoint_state *st)
{
    int64_t run_id = 0;
    if (rnnc_h5_exists(g, "batch"))
        RNNC_TRY(read_i64(g, "batch", file, 0, 1, &st->batch));
    if (rnnc_h5_exists(g, "run_id"))
        RNNC_TRY(read_i64(g, "run_id", file, 0, 1, &run_id));
    st->run_id = (uint64_t)run_id;
    if (st->batch < 0 || (st->batch > 0) != (version == RNNC_CHECKPOINT_VERSION_MID_EPOCH))
        return rnnc_fail(RNNC_E_FORMAT, "'%s': checkpoint batch %lld does not fit its version %lld; the file is damaged",
                         file, (long long)st->batch, (long long)version);
    if (!rnnc_h5_exists(g, "metric_state"))
        return RNNC_OK;
    rnnc_tensor *t;
    RNNC_TRY(rnnc_h5_read_tensor(g, "metric_state", file, RNNC_F64, true, &t));
    rnnc_status s = RNNC_OK;
    if (t->shape.ndim != 1 || t->numel > RNNC_CHECKPOINT_MAX_METRIC_STATE)
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': '/%s/metric_state' must be one-dimensional with at most %d values",
                      file, GROUP, RNNC_CHECKPOINT_MAX_METRIC_STATE);
    else {
        st->n_metric_state = (int)t->numel;
        memcpy(st->metric_state, t->data, t->numel * sizeof(double));
    }
    rnnc_tensor_destroy(t);
    return s;
}

static rnnc_status read_state_h5(hid_t f, const char *file, rnnc_checkpoint_state *st)
{
    hid_t g;
    bool found;
    char *format = NULL;
    if (!rnnc_h5_exists(f, GROUP))
        return rnnc_fail(RNNC_E_FORMAT, "'%s' is not an rnnc checkpoint (no /%s group); give a file written by 'rnnc train' with a checkpoint section, e.g. checkpoints/ckpt-000003.weights.h5",
                         file, GROUP);
    RNNC_TRY(rnnc_h5_group_open(f, GROUP, file, &g));
    rnnc_status s = rnnc_h5_attr_fixed_string(g, "format", file, &found, &format);
    if (s == RNNC_E_FORMAT && strstr(rnnc_last_error(), "variable-length"))
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': /%s has a variable-length format attribute: the checkpoint was written by an older rnnc (or is damaged); rnnc reads only fixed-length strings here; make it again by training, or start a new run from its weights with --weights",
                      file, GROUP);
    if (s == RNNC_OK && (!found || strcmp(format, FORMAT_NAME) != 0))
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': /%s has format '%s', expected '%s'", file, GROUP,
                      found ? format : "(none)", FORMAT_NAME);
    free(format);
    int64_t version = 0;
    if (s == RNNC_OK && (s = read_i64(g, "version", file, 0, 1, &version)) == RNNC_OK &&
        version != RNNC_CHECKPOINT_VERSION && version != RNNC_CHECKPOINT_VERSION_MID_EPOCH)
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': checkpoint version %lld; this rnnc reads versions %d and %d", file,
                      (long long)version, RNNC_CHECKPOINT_VERSION, RNNC_CHECKPOINT_VERSION_MID_EPOCH);
    if (s == RNNC_OK)
        s = read_i64(g, "epoch", file, 0, 1, &st->epoch);
    if (s == RNNC_OK)
        s = read_i64(g, "step", file, 0, 1, &st->step);
    if (s == RNNC_OK)
        s = read_position(g, file, version, st);
    if (s == RNNC_OK && (st->epoch < 0 || st->step < 0))
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': checkpoint epoch %lld / step %lld must not be negative", file,
                      (long long)st->epoch, (long long)st->step);
    if (s == RNNC_OK)
        s = read_string(g, "model_config", file, &st->model_config);
    if (s == RNNC_OK)
        s = read_string(g, "optimizer_config", file, &st->optimizer_config);
    if (s == RNNC_OK)
        s = read_string(g, "training_spec", file, &st->training_spec);
    char **names = NULL;
    size_t n = 0;
    if (s == RNNC_OK)
        s = list_names(g, "rng", file, &names, &n);
    for (size_t i = 0; s == RNNC_OK && i < n; i++) {
        char rel[300];
        int64_t v[2];
        rnnc_rng r;
        snprintf(rel, sizeof rel, "rng/%s", names[i]);
        if ((s = read_i64(g, rel, file, 1, 2, v)))
            break;
        r.seed = (uint64_t)v[0];
        r.counter = (uint64_t)v[1];
        s = rnnc_checkpoint_state_set_rng(st, names[i], &r);
    }
    rnnc_h5_strings_free(names, n);
    if (s == RNNC_OK)
        s = read_history(g, file, &st->history);
    H5Gclose(g);
    return s;
}

rnnc_status rnnc_checkpoint_read_state(const char *path, rnnc_checkpoint_state *state)
{
    hid_t f;
    memset(state, 0, sizeof *state);
    RNNC_TRY(rnnc_h5_open_read(path, &f));
    rnnc_status s = read_state_h5(f, path, state);
    rnnc_h5_close(f);
    if (s != RNNC_OK)
        rnnc_checkpoint_state_clear(state);
    return s;
}

bool rnnc_checkpoint_sniff(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    bool yes = H5Fis_hdf5(path) > 0;
    rnnc_h5_quiet_end(&q);
    if (!yes)
        return false;
    hid_t f;
    if (rnnc_h5_open_read(path, &f) != RNNC_OK) {
        rnnc_clear_error();
        return false;
    }
    yes = rnnc_h5_exists(f, GROUP);
    rnnc_h5_close(f);
    return yes;
}

rnnc_status rnnc_checkpoint_load(const char *path, rnnc_model *m, rnnc_optimizer *opt,
                                 rnnc_checkpoint_state *state)
{
    rnnc_checkpoint_state st;
    RNNC_TRY(rnnc_checkpoint_read_state(path, &st));

    /* The optimizer's variables exist only once it is built for the weights. */
    rnnc_optimizer_variable *vars = NULL;
    rnnc_tensor **copies = NULL;
    int n = 0;
    rnnc_status s = RNNC_OK;
    if (opt) {
        rnnc_weight *w[1024];
        int nw = 0;
        if (!m->built && m->has_input)
            s = rnnc_model_build(m, &m->input_shape);
        if (s == RNNC_OK)
            s = rnnc_model_weights(m, w, 1024, &nw);
        if (s == RNNC_OK && nw > 1024)
            s = rnnc_fail(RNNC_E_UNSUPPORTED, "checkpoint '%s': the model has %d weights, at most 1024 are supported",
                          path, nw);
        if (s == RNNC_OK && !rnnc_optimizer_built(opt))
            s = rnnc_optimizer_build(opt, w, nw);
        if (s == RNNC_OK)
            s = optimizer_vars(opt, &vars, &n);
        if (s == RNNC_OK && n > 0 && !(copies = calloc((size_t)n, sizeof *copies)))
            s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        for (int i = 0; s == RNNC_OK && i < n; i++)
            s = rnnc_tensor_clone(vars[i].value, &copies[i]);
        bool found = false;
        if (s == RNNC_OK)
            s = rnnc_weights_load_optimizer(path, copies, n, &found);
        if (s == RNNC_OK && !found)
            s = rnnc_fail(RNNC_E_FORMAT, "checkpoint '%s' holds no optimizer state (/optimizer/vars); training cannot resume from it exactly",
                          path);
        if (s != RNNC_OK)
            s = rnnc_fail_context(s, "resuming the optimizer '%s': ", rnnc_optimizer_name(opt));
    }
    /* Weights: checked in full before any is assigned. */
    if (s == RNNC_OK)
        s = rnnc_weights_load(m, path);
    if (s == RNNC_OK)
        for (int i = 0; i < n; i++)
            memcpy(vars[i].value->data, copies[i]->data, copies[i]->numel * rnnc_dtype_size(copies[i]->dtype));
    for (int i = 0; copies && i < n; i++)
        rnnc_tensor_destroy(copies[i]);
    free(copies);
    free(vars);
    if (s != RNNC_OK) {
        rnnc_checkpoint_state_clear(&st);
        return s;
    }
    rnnc_checkpoint_state_clear(state);
    *state = st;
    return RNNC_OK;
}
