/* cmd_evaluate.c - `rnnc evaluate SPEC --weights W`: loss and metrics of
 * trained weights on the spec's test data (data.test, or a task's test
 * split), else its validation data, else its validation split. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli.h"
#include "apps/commands.h"
#include "apps/forward.h"
#include "apps/session.h"
#include "io/model_loader.h"
#include "optim/trainer.h"

static rnnc_cli_opt opts[] = {
    {"--weights", "WEIGHTS", "trained weights (.weights.h5, checkpoint, legacy .h5 or .keras)", NULL},
    {"--batch-size", "N", "rows per batch (default: the spec's fit.batch_size)", NULL},
    {"--device", "cpu|cuda|auto", "where to run (default cpu): cuda runs the model on the GPU (docs/gpu.md), auto takes the GPU when one is present", NULL},
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd cmd = {
    .name = "evaluate",
    .usage = "SPEC.yaml --weights WEIGHTS [--batch-size N]",
    .summary = "Print the loss and metrics of trained weights on a spec's test data.",
    .details = "The data is, in this order of preference: data.test (or a built-in task's test\n"
               "split), fit.validation_data (or the task's validation split), the last\n"
               "fit.validation_split of the training data.",
    .min_pos = 1,
    .max_pos = 1,
    .opts = opts,
};

int rnnc_cmd_evaluate(int argc, char **argv)
{
    const rnnc_backend_ops *dev = NULL; /* the device path's table, or NULL: the CPU */
    int rc = rnnc_cli_parse(&cmd, argc, argv);
    if (rc >= 0 || (rc = rnnc_cli_device(&cmd, rnnc_cli_get(&cmd, "--device"), &dev)) >= 0)
        return rc;
    const char *weights = rnnc_cli_get(&cmd, "--weights"), *v;
    if (!weights) {
        rnnc_cli_error(&cmd, "missing --weights WEIGHTS: evaluate scores trained weights; usage: rnnc evaluate %s", cmd.usage);
        return RNNC_EXIT_USAGE;
    }
    int64_t bs = 0;
    if ((v = rnnc_cli_get(&cmd, "--batch-size")) && !rnnc_cli_int(&cmd, "--batch-size", v, 1, 1 << 24, &bs))
        return RNNC_EXIT_USAGE;
    if (!rnnc_cli_need_file(&cmd, "spec", cmd.pos[0]) || !rnnc_cli_need_file(&cmd, "--weights", weights))
        return RNNC_EXIT_FAIL;

    rnnc_app_session ses;
    rnnc_status s = rnnc_app_session_open(cmd.pos[0], RNNC_APP_TRAIN | RNNC_APP_VALIDATION | RNNC_APP_TEST, -1, &ses);
    if (s != RNNC_OK)
        return rnnc_cli_fail(&cmd, s);
    if (!rnnc_cli_get(&cmd, "--device") && (rc = rnnc_cli_spec_device(&cmd, ses.spec->device, &dev)) >= 0) {
        rnnc_app_session_close(&ses);
        return rc;
    }
    /* The trainer feeds one input and scores one output; a Functional
     * model runs through its graph (rnnc_model_call). */
    if (rnnc_app_model_n_inputs(ses.model) != 1 || rnnc_app_model_n_outputs(ses.model) != 1) {
        int ni = rnnc_app_model_n_inputs(ses.model), no = rnnc_app_model_n_outputs(ses.model);
        rnnc_cli_error(&cmd, "model '%s' has %d input%s and %d output%s; evaluate scores models of one input and one output (rnnc predict runs the others)",
                       ses.model->name, ni, ni == 1 ? "" : "s", no, no == 1 ? "" : "s");
        rnnc_app_session_close(&ses);
        return RNNC_EXIT_FAIL;
    }
    rnnc_trainer *tr = NULL;
    rnnc_tensor *xv = NULL, *yv = NULL, *swv = NULL;
    const rnnc_task_data *d = ses.test.x ? &ses.test : ses.validation.x ? &ses.validation : NULL;
    const char *which = ses.test.x ? "test data" : "validation data";
    const rnnc_tensor *x = d ? d->x : NULL, *y = d ? d->y : NULL, *sw = d ? d->sample_weight : NULL;
    if (!d && ses.spec->validation_split > 0 && ses.train.x) {
        /* Keras's split: the last fraction of the samples. */
        int64_t n = ses.train.x->shape.dim[0], at = (int64_t)floor((double)n * (1.0 - ses.spec->validation_split));
        rnnc_shape sx = ses.train.x->shape, sy = ses.train.y->shape;
        sx.dim[0] = sy.dim[0] = n - at;
        s = rnnc_tensor_view(ses.train.x, (size_t)at * (ses.train.x->numel / (size_t)n), &sx, &xv);
        if (s == RNNC_OK)
            s = rnnc_tensor_view(ses.train.y, (size_t)at * (ses.train.y->numel / (size_t)n), &sy, &yv);
        if (s == RNNC_OK && ses.train.sample_weight) {
            rnnc_shape sw_s = ses.train.sample_weight->shape;
            sw_s.dim[0] = n - at;
            s = rnnc_tensor_view(ses.train.sample_weight, (size_t)at * (ses.train.sample_weight->numel / (size_t)n),
                                 &sw_s, &swv);
        }
        x = xv, y = yv, sw = swv;
        which = "the validation split";
    }
    if (s == RNNC_OK && (!x || !y))
        s = rnnc_fail(RNNC_E_ARG, "%s has no test or validation data with targets; add data.test, fit.validation_data or fit.validation_split",
                      cmd.pos[0]);
    if (s == RNNC_OK)
        s = rnnc_app_compile(&ses, &tr);
    /* the first batches checked again on the device (it pairs fewer y shapes with y_pred) */
    if (s == RNNC_OK && dev && ((s = rnnc_trainer_set_device_inference(tr, dev)) || (s = rnnc_app_check_targets(&ses, tr)))) {
        rc = rnnc_cli_device_fail(&cmd, rnnc_cli_get(&cmd, "--device"), ses.spec->device, s);
        rnnc_tensor_destroy(xv);
        rnnc_tensor_destroy(yv);
        rnnc_tensor_destroy(swv);
        rnnc_trainer_destroy(tr);
        rnnc_app_session_close(&ses);
        return rc;
    }
    if (s == RNNC_OK)
        s = rnnc_model_load_weights(ses.model, weights);
    rnnc_logs logs;
    if (s == RNNC_OK)
        s = rnnc_trainer_evaluate(tr, x, y, sw, bs ? bs : ses.spec->batch_size, &logs);
    if (s == RNNC_OK) {
        printf("evaluate %s with %s on %s (%lld samples): ", cmd.pos[0], weights, which, (long long)x->shape.dim[0]);
        for (int i = 0; i < logs.n; i++)
            printf("%s%s %.4f", i ? " - " : "", logs.names[i], logs.values[i]);
        printf("\n");
        if (ses.task && d) {
            char ref[200];
            printf("Reference, %s\n", rnnc_task_baseline(ses.task, d, ref, sizeof ref));
        }
    }
    rnnc_tensor_destroy(xv);
    rnnc_tensor_destroy(yv);
    rnnc_tensor_destroy(swv);
    rnnc_trainer_destroy(tr);
    rnnc_app_session_close(&ses);
    if (s != RNNC_OK)
        return rnnc_cli_fail(&cmd, s);
    return RNNC_EXIT_OK;
}
