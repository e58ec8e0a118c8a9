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

static rnnc_cli_opt opts[] = {
    {"--model", "MODEL", "model: YAML/JSON config, training spec, .keras archive or Keras .h5", NULL},
    {"--weights", "WEIGHTS", "weights (.weights.h5, legacy .h5 or .keras); optional for .keras/.h5 models", NULL},
    {"--input", "INPUT.h5", "HDF5 file with x, optional mask (uint8 (B,T)) and initial_state (B,units)", NULL},
    {"--output", "OUTPUT.h5", "HDF5 file to write output_0, output_1, ... to", NULL},
    {"--batch-size", "N", "rows per forward pass (default 32)", NULL},
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd cmd = {
    .name = "predict",
    .usage = "--model MODEL [--weights WEIGHTS] --input INPUT.h5 --output OUTPUT.h5 [--batch-size N]",
    .summary = "Run a model on the inputs of an HDF5 file and write its outputs to another.",
    .details = "MODEL may be a single layer config such as {class_name: GRU, config: {units: 8}}:\n"
               "it runs as a model of that one layer, whose weights file holds it as a model\n"
               "would (layers/gru/cell/vars/...). OUTPUT gets output_0, output_1, ... in the\n"
               "order the model returns them (e.g. the sequence, then the state when\n"
               "return_state). OUTPUT is written to a temporary file and renamed: a failure\n"
               "never leaves a partial file.",
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

int rnnc_cmd_predict(int argc, char **argv)
{
    for (rnnc_cli_opt *o = opts; o->name; o++)
        o->value = NULL;
    int rc = rnnc_cli_parse(&cmd, argc, argv);
    if (rc >= 0)
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
    rnnc_dataset *data = NULL;
    rnnc_tensor *state = NULL, *outs[RNNC_MAX_IO] = {NULL};
    int n_outs = 0;
    bool has_weights;
    rnnc_status s = load_model(model_path, &m, &has_weights);
    if (s == RNNC_OK && !weights && !has_weights) {
        rnnc_cli_error(&cmd, "'%s' is a model config without weights; give trained weights with --weights FILE.weights.h5",
                       model_path);
        rnnc_model_destroy(m);
        return RNNC_EXIT_USAGE;
    }
    if (s == RNNC_OK) {
        rnnc_dataset_options o = {0};
        o.y_optional = true;
        o.x_dtype = (m->input_dtype == RNNC_I32 || m->input_dtype == RNNC_I64) ? RNNC_I32 : RNNC_F32;
        s = rnnc_dataset_read(input, &o, &data);
    }
    if (s == RNNC_OK) {
        hid_t f;
        if ((s = rnnc_h5_open_read(input, &f)) == RNNC_OK) {
            if (rnnc_h5_exists(f, "initial_state"))
                s = rnnc_h5_read_tensor(f, "initial_state", input, RNNC_F32, false, &state);
            rnnc_h5_close(f);
        }
        if (s == RNNC_OK && state && (s = rnnc_dataset_check_finite(state, "initial_state")) != RNNC_OK)
            s = rnnc_fail_context(s, "'%s': ", input);
    }
    char what[1100];
    snprintf(what, sizeof what, "--input '%s'", input);
    if (s == RNNC_OK)
        s = rnnc_app_check_input(m, data->x, what);
    if (s == RNNC_OK && !m->built) {
        rnnc_shape in = data->x->shape;
        in.dim[0] = -1;
        s = rnnc_model_build(m, &in);
    }
    if (s == RNNC_OK && weights)
        s = rnnc_model_load_weights(m, weights);
    if (s == RNNC_OK)
        s = rnnc_app_forward(m, data->x, data->mask, state, batch, outs, &n_outs);
    if (s == RNNC_OK)
        s = rnnc_dataset_write_outputs(output, (const rnnc_tensor *const *)outs, n_outs);
    if (s == RNNC_OK) {
        printf("predict: %lld samples through model '%s' in %.2f s; wrote", (long long)data->n_samples, m->name,
               rnnc_cli_now() - t0);
        for (int k = 0; k < n_outs; k++) {
            char shp[160];
            printf("%s output_%d %s", k ? "," : "", k, rnnc_app_shape_str(&outs[k]->shape, shp, sizeof shp));
        }
        printf(" to %s\n", output);
    }
    for (int k = 0; k < n_outs; k++)
        rnnc_tensor_destroy(outs[k]);
    rnnc_tensor_destroy(state);
    rnnc_dataset_destroy(data);
    rnnc_model_destroy(m);
    if (s != RNNC_OK)
        return rnnc_cli_fail(&cmd, s);
    return RNNC_EXIT_OK;
}
