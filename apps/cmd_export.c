/* cmd_export.c - `rnnc export CHECKPOINT OUT.keras|OUT.weights.h5`: a
 * trained model back to Keras, from an rnnc checkpoint (or any file that
 * holds a model and its weights: a .keras archive, a full-model .h5). */
#include <string.h>

#include "apps/cli.h"
#include "apps/commands.h"
#include "io/model_loader.h"
#include "io/model_save.h"
#include "io/weights_h5.h"

static rnnc_cli_opt opts[] = {
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd cmd = {
    .name = "export",
    .usage = "CHECKPOINT OUT.keras|OUT.weights.h5",
    .summary = "Write a checkpoint's model as a Keras 3 .keras archive or .weights.h5 file.",
    .details = "OUT.keras: config.json, metadata.json and model.weights.h5 as Keras writes them;\n"
               "keras.saving.load_model opens it and predicts what rnnc predicts.\n"
               "OUT.weights.h5: the weights alone, for model.load_weights. The file is written\n"
               "beside OUT and renamed into place; on failure OUT is untouched.\n\n"
               "Example:\n"
               "  rnnc export build/checkpoints/adding build/adding.keras",
    .min_pos = 2,
    .max_pos = 2,
    .opts = opts,
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int rnnc_cmd_export(int argc, char **argv)
{
    int rc = rnnc_cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    const char *in = cmd.pos[0], *out = cmd.pos[1];
    const bool keras = ends_with(out, ".keras");
    if (!keras && !ends_with(out, ".weights.h5")) {
        rnnc_cli_error(&cmd, "'%s' must end in .keras (the whole model) or .weights.h5 (the weights alone)", out);
        return RNNC_EXIT_USAGE;
    }
    if (!rnnc_cli_need_file(&cmd, "CHECKPOINT", in))
        return RNNC_EXIT_FAIL;
    rnnc_model *m = NULL;
    rnnc_status s = rnnc_model_load(in, &m);
    if (s == RNNC_OK)
        s = keras ? rnnc_model_save(m, out) : rnnc_weights_save(m, out, NULL, 0, NULL);
    rnnc_model_destroy(m);
    if (s)
        return rnnc_cli_fail(&cmd, s);
    printf("Exported %s to %s\n", in, out);
    return RNNC_EXIT_OK;
}
