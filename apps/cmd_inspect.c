/* cmd_inspect.c - `rnnc inspect FILE`: describes a training spec, a model
 * config, a weights file, a .keras archive or a checkpoint: the model
 * summary, the resolved config with every default, and the stored tensors. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "apps/cli.h"
#include "apps/commands.h"
#include "apps/describe.h"
#include "apps/session.h"
#include "io/checkpoint.h"
#include "io/h5_util.h"
#include "io/json_writer.h"
#include "io/keras_archive.h"
#include "io/legacy_h5.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "io/training_spec.h"
#include "io/weights_h5_internal.h"
#include "optim/losses.h"
#include "optim/optimizer.h"

static rnnc_cli_opt opts[] = {
    {"--no-config", NULL, "leave out the resolved config", NULL},
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd cmd = {
    .name = "inspect",
    .usage = "FILE",
    .summary = "Describe FILE: a training spec, a model config (YAML or Keras JSON), a Keras\n"
               "weights file (.weights.h5 or legacy .h5), a .keras archive or an rnnc checkpoint.",
    .details = "Prints what applies: a Keras-style model summary (layer, output shape,\n"
               "parameter count; for a Functional model also its Input layers and, unless\n"
               "its graph is a chain, what each layer call is connected to, as Keras 3's\n"
               "model.summary() prints it), the resolved config with every default filled\n"
               "in (JSON), the spec's training settings, and the tensors stored in HDF5 files.",
    .min_pos = 1,
    .max_pos = 1,
    .opts = opts,
};

static bool show_config = true;

static rnnc_status describe_model(const rnnc_model *m)
{
    RNNC_TRY(rnnc_app_print_summary(stdout, m));
    if (show_config) {
        printf("\nResolved config:\n");
        RNNC_TRY(rnnc_app_print_config(stdout, m));
    }
    return RNNC_OK;
}

static rnnc_status print_json(const char *title, const rnnc_cfg *c)
{
    char *text;
    RNNC_TRY(rnnc_json_write(c, 2, &text));
    printf("%s%s\n", title, text);
    free(text);
    return RNNC_OK;
}

static void print_source(const char *what, const rnnc_spec_source *src)
{
    if (!src->path)
        return;
    printf("  %-17s %s (x: /%s, y: /%s, sample_weight: %s%s, mask: %s%s)\n", what, src->path, src->x, src->y,
           src->sample_weight ? "/" : "", src->sample_weight ? src->sample_weight : "if present",
           src->mask ? "/" : "", src->mask ? src->mask : "if present");
}

static rnnc_status inspect_spec(const char *path)
{
    rnnc_training_spec *spec;
    RNNC_TRY(rnnc_training_spec_read(path, &spec));
    rnnc_model *m = NULL;
    bool has_w;
    rnnc_status s = rnnc_app_model_from_spec(spec, &m, &has_w);
    if (s == RNNC_OK) {
        printf("Training spec: %s\n\n", path);
        s = describe_model(m);
    }
    if (s == RNNC_OK && spec->compile && show_config) {
        const rnnc_cfg *oc = rnnc_cfg_peek(spec->compile, "optimizer");
        rnnc_optimizer *o = NULL;
        rnnc_cfg *ser = NULL;
        if (oc && (s = rnnc_optimizer_from_config(oc, "compile.optimizer", &o)) == RNNC_OK &&
            (s = rnnc_optimizer_serialize(o, &ser)) == RNNC_OK)
            s = print_json("\nOptimizer (resolved):\n", ser);
        rnnc_cfg_destroy(ser);
        rnnc_optimizer_destroy(o);
        const rnnc_cfg *lc = rnnc_cfg_peek(spec->compile, "loss");
        rnnc_loss *l = NULL;
        ser = NULL;
        if (s == RNNC_OK && lc && (s = rnnc_loss_from_config(lc, "compile.loss", &l)) == RNNC_OK &&
            (s = rnnc_loss_serialize(l, &ser)) == RNNC_OK)
            s = print_json("Loss (resolved):\n", ser);
        rnnc_cfg_destroy(ser);
        rnnc_loss_destroy(l);
    }
    if (s == RNNC_OK) {
        printf("\nTraining:\n");
        printf("  fit               epochs %lld, batch_size %lld, shuffle %s, seed %llu%s, validation_split %g, verbose %d\n",
               (long long)spec->epochs, (long long)spec->batch_size, spec->shuffle ? "true" : "false",
               (unsigned long long)spec->seed, spec->has_seed ? "" : " (default)", spec->validation_split,
               spec->verbose);
        print_source("validation_data", &spec->validation_data);
        if (spec->task)
            printf("  data              built-in task '%s'\n", spec->task);
        print_source("data", &spec->train);
        print_source("data.test", &spec->test);
        if (spec->has_checkpoint)
            printf("  checkpoint        %s, every %lld epoch(s), keep %lld\n", spec->checkpoint_dir,
                   (long long)spec->checkpoint_every, (long long)spec->checkpoint_keep);
        else
            printf("  checkpoint        none\n");
        printf("  device            %s\n", spec->device ? spec->device : "cpu (default)");
    }
    rnnc_model_destroy(m);
    rnnc_training_spec_destroy(spec);
    return s;
}

static rnnc_status inspect_text(const char *path)
{
    rnnc_cfg *root;
    RNNC_TRY(rnnc_spec_read_file(path, &root));
    bool is_spec = rnnc_training_spec_detect(root);
    rnnc_status s = RNNC_OK;
    if (is_spec) {
        rnnc_cfg_destroy(root);
        return inspect_spec(path);
    }
    rnnc_model *m;
    s = rnnc_model_from_config(root, NULL, &m);
    rnnc_cfg_destroy(root);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "%s: ", path);
    printf("Model config: %s\n\n", path);
    s = describe_model(m);
    rnnc_model_destroy(m);
    return s;
}

static rnnc_status inspect_archive(const char *path)
{
    rnnc_model *m;
    RNNC_TRY(rnnc_model_load(path, &m));
    printf("Keras archive: %s\n\n", path);
    rnnc_status s = describe_model(m);
    rnnc_model_destroy(m);
    rnnc_keras_archive *a = NULL;
    if (s == RNNC_OK)
        s = rnnc_keras_archive_read(path, &a);
    if (s == RNNC_OK && a->metadata_json)
        printf("\nmetadata.json: %s\n", a->metadata_json);
    if (s == RNNC_OK && a->weights) {
        char label[1200];
        hid_t f = -1;
        snprintf(label, sizeof label, "%s:model.weights.h5", path);
        if ((s = rnnc_h5_open_image(a->weights, a->weights_size, label, &f)) == RNNC_OK) {
            printf("\nTensors in model.weights.h5:\n");
            s = rnnc_app_print_h5_tensors(stdout, f, label);
        }
        rnnc_h5_close(f);
    }
    rnnc_keras_archive_destroy(a);
    return s;
}

static rnnc_status inspect_checkpoint(const char *path)
{
    rnnc_checkpoint_state st;
    RNNC_TRY(rnnc_checkpoint_read_state(path, &st));
    printf("Checkpoint: %s\n  epochs completed: %lld\n  training steps:   %lld\n", path, (long long)st.epoch,
           (long long)st.step);
    for (int i = 0; i < st.n_rngs; i++)
        printf("  generator %-14s seed %llu, counter %llu\n", st.rngs[i].name,
               (unsigned long long)st.rngs[i].state.seed, (unsigned long long)st.rngs[i].state.counter);
    rnnc_status s = RNNC_OK;
    if (st.history && st.history->n > 0) {
        printf("  history:\n");
        for (size_t i = 0; i < st.history->n; i++) {
            const rnnc_cfg *l = st.history->items[i];
            printf("    %-28s", st.history->keys[i]);
            for (size_t k = 0; k < l->n; k++)
                printf(" %.5g", l->items[k]->v.f);
            printf("\n");
        }
    }
    if (st.model_config) {
        rnnc_cfg *c = NULL;
        rnnc_model *m = NULL;
        char label[1200];
        snprintf(label, sizeof label, "%s:/rnnc_checkpoint/model_config", path);
        s = rnnc_spec_read_string(st.model_config, strlen(st.model_config), label, &c);
        if (s == RNNC_OK)
            s = rnnc_model_from_config(c, NULL, &m);
        if (s == RNNC_OK && !m->built && m->has_input)
            s = rnnc_model_build(m, &m->input_shape);
        if (s == RNNC_OK) {
            printf("\n");
            s = describe_model(m);
        }
        rnnc_model_destroy(m);
        rnnc_cfg_destroy(c);
    }
    if (s == RNNC_OK && st.optimizer_config && show_config)
        printf("\nOptimizer config:\n%s\n", st.optimizer_config);
    rnnc_checkpoint_state_clear(&st);
    return s;
}

static rnnc_status inspect_h5(const char *path)
{
    hid_t f;
    RNNC_TRY(rnnc_h5_open_read(path, &f));
    bool ckpt = rnnc_h5_exists(f, "rnnc_checkpoint");
    bool full = rnnc_legacy_has_model_config(f);
    /* Keras 3 weights files always have the root object's /vars group. */
    bool keras3 = rnnc_weights_h5_is_keras3(f) &&
                  (rnnc_h5_exists(f, "vars") || rnnc_h5_exists(f, "_layer_checkpoint_dependencies"));
    bool legacy = rnnc_legacy_has_weights(f);
    rnnc_status s = RNNC_OK;
    if (ckpt) {
        s = inspect_checkpoint(path);
    } else if (full) {
        rnnc_model *m;
        if ((s = rnnc_model_load(path, &m)) == RNNC_OK) {
            printf("Keras model file (legacy HDF5): %s\n\n", path);
            s = describe_model(m);
            rnnc_model_destroy(m);
        }
    } else if (keras3) {
        printf("Keras 3 weights file: %s\n", path);
    } else if (legacy) {
        printf("Keras 2 / legacy weights file: %s\n", path);
    } else {
        printf("HDF5 file: %s\n", path);
    }
    if (s == RNNC_OK) {
        printf("\nTensors:\n");
        s = rnnc_app_print_h5_tensors(stdout, f, path);
    }
    rnnc_h5_close(f);
    return s;
}

int rnnc_cmd_inspect(int argc, char **argv)
{
    int rc = rnnc_cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    const char *path = cmd.pos[0];
    show_config = !rnnc_cli_get(&cmd, "--no-config");
    if (!rnnc_cli_need_file(&cmd, "file", path))
        return RNNC_EXIT_FAIL;
    rnnc_status s;
    if (rnnc_keras_archive_sniff(path)) {
        s = inspect_archive(path);
    } else {
        rnnc_h5_quiet q;
        rnnc_h5_quiet_begin(&q);
        bool h5 = H5Fis_hdf5(path) > 0;
        rnnc_h5_quiet_end(&q);
        s = h5 ? inspect_h5(path) : inspect_text(path);
    }
    if (s != RNNC_OK)
        return rnnc_cli_fail(&cmd, s);
    fflush(stdout);
    return RNNC_EXIT_OK;
}
