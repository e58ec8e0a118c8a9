/* cmd_export.c - `rnnc export CHECKPOINT OUT.keras|OUT.weights.h5`: a
 * trained model back to Keras, from an rnnc checkpoint (or any file that
 * holds a model and its weights: a .keras archive, a full-model .h5). */
#include <stdlib.h>
#include <string.h>

#include "apps/cli.h"
#include "apps/commands.h"
#include "io/checkpoint.h"
#include "io/model_loader.h"
#include "io/model_save.h"
#include "io/spec_reader.h"
#include "io/weights_h5.h"

static rnnc_cli_opt opts[] = {
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd cmd = {
    .name = "export",
    .usage = "CHECKPOINT OUT.keras|OUT.weights.h5",
    .summary = "Write a checkpoint's model as a Keras 3 .keras archive or .weights.h5 file.",
    .details = "OUT.keras: config.json, metadata.json and model.weights.h5 as Keras writes them;\n"
               "keras.saving.load_model opens it and predicts what rnnc predicts. From an rnnc\n"
               "checkpoint the archive is compiled as rnnc train --save-model writes it (the run's\n"
               "loss and metrics, the optimizer's config and variables), so it continues training.\n"
               "OUT.weights.h5: the weights (and a checkpoint's optimizer variables), for\n"
               "model.load_weights. The file is written beside OUT and renamed into place; on\n"
               "failure OUT is untouched.\n\n"
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

/* What an rnnc checkpoint records of the run's compile(): the spec's compile
 * section (loss, metrics, weighted_metrics) and the optimizer, rebuilt from
 * its config and given its variables. Cleared by export_clear. */
typedef struct export_compile {
    rnnc_cfg *spec, *opt_cfg;
    rnnc_optimizer *opt;
    rnnc_model_compile_info ci;
    bool compiled; /* false: the file records no loss (not a checkpoint, or one without its spec) */
} export_compile;

static void export_clear(export_compile *e)
{
    rnnc_cfg_destroy(e->spec);
    rnnc_cfg_destroy(e->opt_cfg);
    rnnc_optimizer_destroy(e->opt);
    memset(e, 0, sizeof *e);
}

static rnnc_status export_read_compile(const char *in, rnnc_model *m, export_compile *e)
{
    memset(e, 0, sizeof *e);
    if (!rnnc_checkpoint_sniff(in))
        return RNNC_OK;
    rnnc_checkpoint_state st;
    memset(&st, 0, sizeof st);
    rnnc_status s = rnnc_checkpoint_read_state(in, &st);
    const rnnc_cfg *c = NULL;
    if (!s && st.training_spec &&
        !(s = rnnc_spec_read_string(st.training_spec, strlen(st.training_spec), "the checkpoint's training spec",
                                    &e->spec)))
        c = rnnc_cfg_peek(e->spec, "compile");
    if (!s && c && c->type == RNNC_CFG_MAP && rnnc_cfg_peek(c, "loss")) {
        const rnnc_cfg *oc = rnnc_cfg_peek(c, "optimizer");
        /* the optimizer as the run had it (a string like "adam" in the spec
         * is its full config here); its variables from the file */
        if (st.optimizer_config &&
            !(s = rnnc_spec_read_string(st.optimizer_config, strlen(st.optimizer_config),
                                        "the checkpoint's optimizer config", &e->opt_cfg)))
            oc = e->opt_cfg;
        if (!s && oc && oc->type != RNNC_CFG_NULL)
            s = rnnc_optimizer_from_config(oc, "the checkpoint's optimizer", &e->opt);
        /* its variables: a checkpoint saved with an optimizer records its config */
        if (!s && e->opt && st.optimizer_config) {
            rnnc_checkpoint_state_clear(&st);
            s = rnnc_checkpoint_load(in, m, e->opt, &st);
        }
        e->ci = (rnnc_model_compile_info){
            .optimizer = e->opt,
            .loss = rnnc_cfg_peek(c, "loss"),
            .metrics = rnnc_cfg_peek(c, "metrics"),
            .weighted_metrics = rnnc_cfg_peek(c, "weighted_metrics"),
        };
        e->compiled = true;
    }
    rnnc_checkpoint_state_clear(&st);
    if (s)
        export_clear(e);
    return s;
}

static rnnc_status export_write(const rnnc_model *m, const char *out, bool keras, const export_compile *e)
{
    if (keras)
        return e->compiled ? rnnc_model_save_compiled(m, out, &e->ci) : rnnc_model_save(m, out);
    const rnnc_tensor **t = NULL;
    int n = 0;
    RNNC_TRY(rnnc_model_save_optimizer_tensors(e->opt, &t, &n));
    rnnc_status s = rnnc_weights_save(m, out, t, n, e->opt ? rnnc_optimizer_name(e->opt) : NULL);
    free(t);
    return s;
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
    export_compile e;
    memset(&e, 0, sizeof e);
    rnnc_status s = rnnc_model_load(in, &m);
    if (s == RNNC_OK && !(s = export_read_compile(in, m, &e)))
        s = export_write(m, out, keras, &e);
    const bool compiled = e.compiled;
    export_clear(&e);
    rnnc_model_destroy(m);
    if (s)
        return rnnc_cli_fail(&cmd, s);
    printf("Exported %s to %s%s\n", in, out,
           keras && compiled ? " (compiled: the run's loss, metrics and optimizer state)" : "");
    return RNNC_EXIT_OK;
}
