/* cmd_predict.c - `rnnc predict`: runs a model (config, training spec,
 * .keras archive or legacy .h5, or a single layer config) on x from an HDF5
 * file (with optional mask and initial_state) and writes output_0, output_1,
 * ... to another HDF5 file, atomically. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apps/cli.h"
#include "apps/commands.h"
#include "apps/describe.h"
#include "apps/forward.h"
#include "apps/session.h"
#include "io/dataset.h"
#include "io/file_identity.h"
#include "io/h5_util.h"
#include "io/keras_archive.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "io/training_spec.h"
#include "optim/trainer.h"

static rnnc_cli_opt opts[] = {
    {"--model", "MODEL", "model: YAML/JSON config, training spec, .keras archive, Keras .h5 or rnnc checkpoint", NULL},
    {"--weights", "WEIGHTS", "weights (.weights.h5, checkpoint, legacy .h5 or .keras); optional when MODEL has weights", NULL},
    {"--input", "INPUT.h5", "HDF5 file with one dataset per model input (x for one input), optional masks and initial_state", NULL},
    {"--output", "OUTPUT.h5", "HDF5 file to write output_0, output_1, ... to", NULL},
    {"--batch-size", "N", "rows per forward pass (default 32)", NULL},
    {"--device", "cpu|cuda|auto", "where to run (default cpu): cuda runs the model on the GPU (docs/gpu.md), auto takes the GPU when one is present", NULL},
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd cmd = {
    .name = "predict",
    .usage = "--model MODEL [--weights WEIGHTS] --input INPUT.h5 --output OUTPUT.h5 [--batch-size N]",
    .summary = "Run a model on the inputs of an HDF5 file and write its outputs to another.",
    .details = "INPUT holds model input i as a dataset named after its Input layer, or x_<i>\n"
               "(x for a model of one input); its mask (uint8 (batch, timesteps), 1 = keep) as\n"
               "mask_<input name> or mask_<i> (mask for a model of one input). A Sequential\n"
               "model also takes initial_state (batch, units) for its first recurrent layer; a\n"
               "Functional model takes initial states as model inputs. A Functional model runs\n"
               "through its layer graph. OUTPUT gets output_0, output_1, ... in the model's\n"
               "output order (a Sequential model: the order its last layer returns them, e.g.\n"
               "the sequence, then the state when return_state). MODEL may be a single layer\n"
               "config such as {class_name: GRU, config: {units: 8}}: it runs as a model of\n"
               "that one layer, whose weights file holds it as a model would\n"
               "(layers/gru/cell/vars/...). An rnnc checkpoint (rnnc train) holds the model\n"
               "config and the weights. OUTPUT is written to a temporary file and renamed: a\n"
               "failure never leaves a partial file.",
    .min_pos = 0,
    .max_pos = 0,
    .opts = opts,
};

/* Loads MODEL; *has_weights when the file carried weights. */
static rnnc_status load_model(const char *path, rnnc_model **m, bool *has_weights)
{
    *has_weights = false;
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    bool h5 = H5Fis_hdf5(path) > 0;
    rnnc_h5_quiet_end(&q);
    if (rnnc_keras_archive_sniff(path) || h5) {
        *has_weights = true;
        return rnnc_model_load(path, m);
    }
    rnnc_cfg *root;
    RNNC_TRY(rnnc_spec_read_file(path, &root));
    bool spec = rnnc_training_spec_detect(root);
    rnnc_cfg_destroy(root);
    if (spec) {
        rnnc_training_spec *s;
        RNNC_TRY(rnnc_training_spec_read(path, &s));
        rnnc_status st = rnnc_app_model_from_spec(s, m, has_weights);
        rnnc_training_spec_destroy(s);
        return st;
    }
    return rnnc_model_load(path, m);
}

static bool parent_dir_ok(const char *path)
{
    char dir[4096];
    struct stat st;
    const char *slash = strrchr(path, '/');
    if (!slash)
        return true;
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (!dir[0])
        return true;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rnnc_cli_error(&cmd, "cannot write --output '%s': folder '%s' does not exist; create it first", path, dir);
        return false;
    }
    return true;
}

/* ---- reading INPUT ------------------------------------------------------- */

/* The tensors read from INPUT, one per model input. */
typedef struct predict_inputs {
    rnnc_app_inputs in;
    rnnc_tensor *owned[2 * RNNC_MAX_IO + 1];
    char names[RNNC_MAX_IO][200]; /* dataset of input i, for messages */
} predict_inputs;

static void predict_inputs_free(predict_inputs *p)
{
    for (int i = 0; i < 2 * RNNC_MAX_IO + 1; i++)
        rnnc_tensor_destroy(p->owned[i]);
    memset(p, 0, sizeof *p);
}

typedef struct name_list {
    char buf[600];
    size_t len;
    int count;
} name_list;

static herr_t add_dataset_name(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    name_list *l = data;
    H5O_info_t oi;
    (void)info;
    if (H5Oget_info_by_name(group, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET)
        return 0;
    if (l->count < 12 && l->len < sizeof l->buf)
        l->len += (size_t)snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s/%s", l->count ? ", " : "", name);
    else if (l->count == 12 && l->len < sizeof l->buf)
        l->len += (size_t)snprintf(l->buf + l->len, sizeof l->buf - l->len, ", ...");
    l->count++;
    return 0;
}

/* "/a, /x_0" (the datasets at the root of f), for messages. */
static const char *root_datasets(hid_t f, name_list *l)
{
    rnnc_h5_quiet q;
    memset(l, 0, sizeof *l);
    rnnc_h5_quiet_begin(&q);
    H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, add_dataset_name, l);
    rnnc_h5_quiet_end(&q);
    if (!l->count)
        snprintf(l->buf, sizeof l->buf, "no datasets");
    return l->buf;
}

/* "a (None, 5, 3), b (None, 4, 2)": the model's inputs, for messages. */
static const char *model_inputs(const rnnc_model *m, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < rnnc_app_model_n_inputs(m) && len < cap; i++) {
        rnnc_shape sh;
        bool known;
        rnnc_dtype dt;
        char one[160];
        const char *name = rnnc_app_model_input(m, i, &sh, &known, &dt);
        len += (size_t)snprintf(buf + len, cap - len, "%s%s %s", i ? ", " : "", name ? name : "x",
                                known ? rnnc_app_shape_str(&sh, one, sizeof one) : "(shape not declared)");
    }
    return buf;
}

/* Whether `ds` is the by-name dataset (mask: mask_<name>) of a model input
 * other than i: then it is not input i's, whatever its spelling. */
static bool names_other_input(const rnnc_model *m, int i, bool mask, const char *ds)
{
    if (mask && strncmp(ds, "mask_", 5) != 0)
        return false;
    for (int j = 0; j < rnnc_app_model_n_inputs(m); j++) {
        rnnc_shape sh;
        bool known;
        rnnc_dtype dt;
        const char *name = rnnc_app_model_input(m, j, &sh, &known, &dt);
        if (j != i && name && strcmp(ds + (mask ? 5 : 0), name) == 0)
            return true;
    }
    return false;
}

/* The dataset of f holding model input i (mask: its mask): the first of
 * <name> / mask_<name>, x_<i> / mask_<i>, and x / mask for a model of one
 * input that exists; "" when none does. Two that exist are an error: the
 * file does not say which one is meant. An index spelling that is another
 * input's name (inputs named x_1 and x_0) belongs to that input. */
static rnnc_status find_dataset(hid_t f, const char *path, const rnnc_model *m, int i, bool mask,
                                char *found, size_t cap)
{
    char cand[3][200];
    int nc = 0, n = rnnc_app_model_n_inputs(m);
    rnnc_shape sh;
    bool known;
    rnnc_dtype dt;
    const char *name = rnnc_app_model_input(m, i, &sh, &known, &dt);
    const char *prefix = mask ? "mask_" : "";
    if (name)
        snprintf(cand[nc++], sizeof cand[0], "%s%s", prefix, name);
    snprintf(cand[nc++], sizeof cand[0], "%s%d", mask ? "mask_" : "x_", i);
    if (n == 1)
        snprintf(cand[nc++], sizeof cand[0], "%s", mask ? "mask" : "x");
    found[0] = '\0';
    for (int k = 0; k < nc; k++) {
        bool dup = false;
        for (int j = 0; j < k; j++)
            dup = dup || strcmp(cand[j], cand[k]) == 0;
        if (dup || !rnnc_h5_exists(f, cand[k]) || (k > 0 && names_other_input(m, i, mask, cand[k])))
            continue;
        if (found[0])
            return rnnc_fail(RNNC_E_ARG, "--input '%s': both '/%s' and '/%s' could be the %s of model input %d%s%s%s; keep one",
                             path, found, cand[k], mask ? "mask" : "data", i, name ? " ('" : "", name ? name : "",
                             name ? "')" : "");
        size_t len = strnlen(cand[k], cap - 1);
        memcpy(found, cand[k], len);
        found[len] = '\0';
    }
    return RNNC_OK;
}

/* Model input i: present, dtype, finite, shape; x0 is input 0 (samples). */
static rnnc_status read_input(hid_t f, const char *path, rnnc_model *m, int i, predict_inputs *p)
{
    char ds[200], what[1400], a[160], b[160], ins[800];
    name_list l;
    rnnc_shape sh;
    bool known;
    rnnc_dtype dt;
    const char *name = rnnc_app_model_input(m, i, &sh, &known, &dt);
    int n = rnnc_app_model_n_inputs(m);
    RNNC_TRY(find_dataset(f, path, m, i, false, ds, sizeof ds));
    if (!ds[0]) {
        char expect[400];
        if (n == 1)
            snprintf(expect, sizeof expect, "'/x'%s%s%s or '/x_0'", name ? ", '/" : "", name ? name : "", name ? "'" : "");
        else
            snprintf(expect, sizeof expect, "'/%s' or '/x_%d'", name, i);
        return rnnc_fail(RNNC_E_FORMAT, "--input '%s': no dataset for model input %d%s%s%s (expected %s); the file holds %s; model '%s' takes %s",
                         path, i, name ? " '" : "", name ? name : "", name ? "'" : "", expect, root_datasets(f, &l),
                         m->name, model_inputs(m, ins, sizeof ins));
    }
    snprintf(p->names[i], sizeof p->names[i], "%s", ds);
    /* Token ids as int32; floats as float32, or float64 where a graph input declares it. */
    rnnc_dtype want = dt == RNNC_I32 || dt == RNNC_I64 ? RNNC_I32 : dt == RNNC_F64 && m->graph ? RNNC_F64 : RNNC_F32;
    rnnc_tensor *t;
    RNNC_TRY(rnnc_h5_read_tensor(f, ds, path, want, true, &t));
    p->owned[2 * i] = t;
    p->in.x[i] = t;
    snprintf(what, sizeof what, "'%s': dataset '/%s'", path, ds);
    RNNC_TRY(rnnc_dataset_check_finite(t, what));
    if (t->shape.ndim < 1 || t->shape.dim[0] < 1)
        return rnnc_fail(RNNC_E_SHAPE, "%s has shape %s; it needs a samples dimension with at least one sample", what,
                         rnnc_app_shape_str(&t->shape, a, sizeof a));
    if (i > 0 && t->shape.dim[0] != p->in.x[0]->shape.dim[0])
        return rnnc_fail(RNNC_E_SHAPE, "%s has %lld samples but '/%s' has %lld: every input needs the same number of samples",
                         what, (long long)t->shape.dim[0], p->names[0], (long long)p->in.x[0]->shape.dim[0]);
    if (!m->graph) {
        snprintf(what, sizeof what, "--input '%s'", path);
        return rnnc_app_check_input(m, t, what);
    }
    bool ok = t->shape.ndim == sh.ndim;
    for (int d = 1; ok && d < sh.ndim; d++)
        ok = sh.dim[d] < 0 || sh.dim[d] == t->shape.dim[d];
    if (!ok)
        return rnnc_fail(RNNC_E_SHAPE, "%s has shape %s but model '%s' takes input %d ('%s') of shape %s (None: any size)",
                         what, rnnc_app_shape_str(&t->shape, a, sizeof a), m->name, i, name,
                         rnnc_app_shape_str(&sh, b, sizeof b));
    return RNNC_OK;
}

/* The mask of model input i, when INPUT has one. */
static rnnc_status read_mask(hid_t f, const char *path, rnnc_model *m, int i, predict_inputs *p)
{
    char ds[200], a[160], b[160];
    RNNC_TRY(find_dataset(f, path, m, i, true, ds, sizeof ds));
    if (!ds[0])
        return RNNC_OK;
    rnnc_tensor *t;
    RNNC_TRY(rnnc_h5_read_tensor(f, ds, path, RNNC_U8, false, &t));
    p->owned[2 * i + 1] = t;
    p->in.mask[i] = t;
    const rnnc_shape *x = &p->in.x[i]->shape, *ms = &t->shape;
    if (ms->ndim != 2 || x->ndim < 2 || ms->dim[0] != x->dim[0] || ms->dim[1] != x->dim[1])
        return rnnc_fail(RNNC_E_SHAPE, "'%s': dataset '/%s' has shape %s; expected (samples, timesteps) of '/%s' %s", path, ds,
                         rnnc_shape_str(ms, a, sizeof a), p->names[i], rnnc_shape_str(x, b, sizeof b));
    return RNNC_OK;
}

/* Every model input of INPUT, with masks and (Sequential) initial_state. */
static rnnc_status read_inputs(const char *path, rnnc_model *m, predict_inputs *p)
{
    hid_t f;
    memset(p, 0, sizeof *p);
    RNNC_TRY(rnnc_h5_open_read(path, &f));
    int n = rnnc_app_model_n_inputs(m);
    rnnc_status s = RNNC_OK;
    p->in.n = n;
    for (int i = 0; s == RNNC_OK && i < n; i++)
        s = read_input(f, path, m, i, p);
    for (int i = 0; s == RNNC_OK && i < n; i++)
        s = read_mask(f, path, m, i, p);
    if (s == RNNC_OK && n > 1 && rnnc_h5_exists(f, "mask"))
        s = rnnc_fail(RNNC_E_ARG, "--input '%s': '/mask' does not say which of the %d inputs of model '%s' it masks; name it mask_<input name> or mask_<i>",
                      path, n, m->name);
    if (s == RNNC_OK && rnnc_h5_exists(f, "initial_state")) {
        if (m->graph) {
            char ins[800];
            s = rnnc_fail(RNNC_E_ARG, "--input '%s' has '/initial_state', but model '%s' is Functional: it takes initial states as model inputs (%s); store the state under that input's name",
                          path, m->name, model_inputs(m, ins, sizeof ins));
        } else {
            char what[1400];
            rnnc_tensor *t = NULL;
            s = rnnc_h5_read_tensor(f, "initial_state", path, RNNC_F32, false, &t);
            p->owned[2 * RNNC_MAX_IO] = t;
            p->in.initial_state = t;
            snprintf(what, sizeof what, "'%s': dataset '/initial_state'", path);
            if (s == RNNC_OK)
                s = rnnc_dataset_check_finite(t, what);
        }
    }
    rnnc_h5_close(f);
    if (s != RNNC_OK)
        predict_inputs_free(p);
    return s;
}

/* ---- writing OUTPUT ------------------------------------------------------ */

/* Writes output_0, output_1, ... to `output` (atomically) and prints what
 * was written. */
static rnnc_status write_outputs(const char *output, rnnc_tensor *const *outs, int n_outs, const rnnc_model *m,
                                 int64_t n_samples, double t0)
{
    RNNC_TRY(rnnc_dataset_write_outputs(output, (const rnnc_tensor *const *)outs, n_outs));
    printf("predict: %lld samples through model '%s' in %.2f s; wrote", (long long)n_samples, m->name,
           rnnc_cli_now() - t0);
    for (int k = 0; k < n_outs; k++) {
        char shp[160];
        printf("%s output_%d %s", k ? "," : "", k, rnnc_app_shape_str(&outs[k]->shape, shp, sizeof shp));
    }
    printf(" to %s\n", output);
    return RNNC_OK;
}

int rnnc_cmd_predict(int argc, char **argv)
{
    for (rnnc_cli_opt *o = opts; o->name; o++)
        o->value = NULL;
    const rnnc_backend_ops *dev = NULL; /* the device path's table, or NULL: the CPU */
    int rc = rnnc_cli_parse(&cmd, argc, argv);
    if (rc >= 0 || (rc = rnnc_cli_device(&cmd, rnnc_cli_get(&cmd, "--device"), &dev)) >= 0)
        return rc;
    const char *model_path = rnnc_cli_get(&cmd, "--model"), *weights = rnnc_cli_get(&cmd, "--weights");
    const char *input = rnnc_cli_get(&cmd, "--input"), *output = rnnc_cli_get(&cmd, "--output");
    const char *missing = !model_path ? "--model MODEL" : !input ? "--input INPUT.h5" : !output ? "--output OUTPUT.h5" : NULL;
    if (missing) {
        rnnc_cli_error(&cmd, "missing %s; usage: rnnc predict %s", missing, cmd.usage);
        return RNNC_EXIT_USAGE;
    }
    int64_t batch = 32;
    const char *bs = rnnc_cli_get(&cmd, "--batch-size");
    if (bs && !rnnc_cli_int(&cmd, "--batch-size", bs, 1, 1 << 24, &batch))
        return RNNC_EXIT_USAGE;
    if (!rnnc_cli_need_file(&cmd, "--model", model_path) || (weights && !rnnc_cli_need_file(&cmd, "--weights", weights)) ||
        !rnnc_cli_need_file(&cmd, "--input", input) || !parent_dir_ok(output))
        return RNNC_EXIT_FAIL;
    struct stat st;
    if (stat(output, &st) == 0 && S_ISDIR(st.st_mode)) {
        rnnc_cli_error(&cmd, "--output '%s' is a directory; give a file name such as out.h5", output);
        return RNNC_EXIT_FAIL;
    }
    /* Before any work: OUTPUT is none of the inputs, and its folder takes files. */
    const rnnc_named_path ins[] = {{"--model", model_path}, {"--weights", weights}, {"--input", input}};
    char out_what[4200];
    snprintf(out_what, sizeof out_what, "--output '%s'", output);
    rnnc_status chk = rnnc_check_not_an_input("--output", output, ins, 3);
    if (chk == RNNC_OK)
        chk = rnnc_check_output_writable(output, out_what);
    if (chk != RNNC_OK)
        return rnnc_cli_fail(&cmd, chk);

    double t0 = rnnc_cli_now();
    rnnc_model *m = NULL;
    predict_inputs in;
    rnnc_tensor *outs[RNNC_MAX_IO] = {NULL};
    int n_outs = 0;
    bool has_weights;
    memset(&in, 0, sizeof in);
    rnnc_status s = load_model(model_path, &m, &has_weights);
    if (s == RNNC_OK && !weights && !has_weights) {
        rnnc_cli_error(&cmd, "'%s' is a model config without weights; give trained weights with --weights FILE.weights.h5",
                       model_path);
        rnnc_model_destroy(m);
        return RNNC_EXIT_USAGE;
    }
    if (s == RNNC_OK)
        s = read_inputs(input, m, &in);
    if (s == RNNC_OK && !m->built) {
        rnnc_shape shape = in.in.x[0]->shape;
        shape.dim[0] = -1;
        s = rnnc_model_build(m, &shape);
    }
    if (s == RNNC_OK && weights)
        s = rnnc_model_load_weights(m, weights);
    if (s == RNNC_OK && dev) {
        /* the device path: one input, no mask or initial state given */
        rnnc_trainer *tr = NULL;
        if (in.in.n != 1 || in.in.mask[0] || in.in.initial_state)
            s = rnnc_fail(RNNC_E_UNSUPPORTED, "%s has no device implementation (one input x only)",
                          in.in.n != 1 ? "a model of several inputs" : in.in.mask[0] ? "an input mask" : "an initial state");
        if (s == RNNC_OK)
            s = rnnc_trainer_create(m, &tr);
        if (s == RNNC_OK && (s = rnnc_trainer_set_device_inference(tr, dev))) {
            rnnc_trainer_destroy(tr);
            predict_inputs_free(&in);
            rnnc_model_destroy(m);
            return rnnc_cli_device_fail(&cmd, rnnc_cli_get(&cmd, "--device"), NULL, s);
        }
        if (s == RNNC_OK && (s = rnnc_trainer_predict(tr, in.in.x[0], batch, &outs[0])) == RNNC_OK)
            n_outs = 1;
        rnnc_trainer_destroy(tr);
        if (s != RNNC_OK) {
            predict_inputs_free(&in);
            rnnc_model_destroy(m);
            return rnnc_cli_device_fail(&cmd, rnnc_cli_get(&cmd, "--device"), NULL, s);
        }
    } else if (s == RNNC_OK) {
        s = rnnc_app_forward_inputs(m, &in.in, batch, outs, &n_outs);
    }
    if (s == RNNC_OK)
        s = write_outputs(output, outs, n_outs, m, in.in.x[0]->shape.dim[0], t0);
    for (int k = 0; k < n_outs; k++)
        rnnc_tensor_destroy(outs[k]);
    predict_inputs_free(&in);
    rnnc_model_destroy(m);
    if (s != RNNC_OK)
        return rnnc_cli_fail(&cmd, s);
    return RNNC_EXIT_OK;
}
