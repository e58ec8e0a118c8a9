/* cmd_generate.c - `rnnc generate`: samples text from a character-level
 * model trained on the chars task, one character at a time, with a
 * temperature and a seed. The model sees the last `timesteps` characters
 * (as in training) and its last step's output gives the next character. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli.h"
#include "apps/commands.h"
#include "apps/forward.h"
#include "apps/session.h"
#include "framework/random.h"
#include "io/model_loader.h"

static rnnc_cli_opt opts[] = {
    {"--weights", "WEIGHTS", "trained weights (rnnc train ... --save-weights, or a checkpoint)", NULL},
    {"--length", "N", "characters to generate (default 400)", NULL},
    {"--temperature", "T", "sampling temperature > 0 (default 0.8; lower = more conservative)", NULL},
    {"--seed", "S", "random seed for sampling (default 1)", NULL},
    {"--prime", "TEXT", "text to start from (default: a line of the spec's text file)", NULL},
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd cmd = {
    .name = "generate",
    .usage = "SPEC.yaml --weights WEIGHTS [--length N] [--temperature T] [--seed S] [--prime TEXT]",
    .summary = "Sample text from a character-level language model (a spec with data.task: chars).",
    .details = "Example:\n"
               "  rnnc train examples/chars.yaml --save-weights build/chars.weights.h5\n"
               "  rnnc generate examples/chars.yaml --weights build/chars.weights.h5 --temperature 0.6\n"
               "A Functional model runs through its layer graph; with several outputs, the\n"
               "first (in the model's output order) gives the character scores.",
    .min_pos = 1,
    .max_pos = 1,
    .opts = opts,
};

/* Whether the layer that computes the model's first output (a Sequential
 * model's last layer) ends in a softmax (its outputs are then
 * probabilities; otherwise logits). */
static bool ends_in_softmax(const rnnc_model *m)
{
    rnnc_cfg *c;
    const rnnc_layer *l = m->graph ? rnnc_app_output_layer(m, 0) : m->n_layers ? m->layers[m->n_layers - 1] : NULL;
    if (!l)
        return false;
    if (rnnc_layer_get_config(l, &c) != RNNC_OK) {
        rnnc_clear_error();
        return false;
    }
    const rnnc_cfg *a = rnnc_cfg_peek(c, "activation");
    bool yes = a && a->type == RNNC_CFG_STRING && strcmp(a->v.s, "softmax") == 0;
    rnnc_cfg_destroy(c);
    return yes;
}

/* Samples an index from scores (probabilities or logits) at temperature t. */
static int sample(const double *scores, int n, bool probs, double t, rnnc_rng *r)
{
    double *w = malloc((size_t)n * sizeof *w), mx = -INFINITY, sum = 0, u;
    if (!w)
        return 0;
    for (int i = 0; i < n; i++) {
        double logit = probs ? log(scores[i] > 1e-30 ? scores[i] : 1e-30) : scores[i];
        w[i] = logit / t;
        mx = w[i] > mx ? w[i] : mx;
    }
    for (int i = 0; i < n; i++)
        sum += (w[i] = exp(w[i] - mx));
    rnnc_rng_uniform(r, &u, 1);
    u *= sum;
    int pick = n - 1;
    for (int i = 0; i < n; i++) {
        if (u < w[i]) {
            pick = i;
            break;
        }
        u -= w[i];
    }
    free(w);
    return pick;
}

int rnnc_cmd_generate(int argc, char **argv)
{
    int rc = rnnc_cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    const char *weights = rnnc_cli_get(&cmd, "--weights"), *prime = rnnc_cli_get(&cmd, "--prime");
    int64_t length = 400, seed = 1;
    double temp = 0.8;
    const char *v;
    if (((v = rnnc_cli_get(&cmd, "--length")) && !rnnc_cli_int(&cmd, "--length", v, 1, 1000000, &length)) ||
        ((v = rnnc_cli_get(&cmd, "--seed")) && !rnnc_cli_int(&cmd, "--seed", v, 0, INT64_MAX, &seed)) ||
        ((v = rnnc_cli_get(&cmd, "--temperature")) && !rnnc_cli_float(&cmd, "--temperature", v, 1e-3, 100, &temp)))
        return RNNC_EXIT_USAGE;
    if (!weights) {
        rnnc_cli_error(&cmd, "missing --weights WEIGHTS: sampling needs a trained model; train one with 'rnnc train %s --save-weights chars.weights.h5'",
                       cmd.pos[0]);
        return RNNC_EXIT_USAGE;
    }
    if (!rnnc_cli_need_file(&cmd, "spec", cmd.pos[0]) || !rnnc_cli_need_file(&cmd, "--weights", weights))
        return RNNC_EXIT_FAIL;
    if (prime && !prime[0]) {
        rnnc_cli_error(&cmd, "--prime is empty; give some text or leave the option out");
        return RNNC_EXIT_USAGE;
    }

    rnnc_app_session ses;
    rnnc_status s = rnnc_app_session_open(cmd.pos[0], 0, -1, &ses);
    if (s != RNNC_OK)
        return rnnc_cli_fail(&cmd, s);
    if (!ses.task || strcmp(rnnc_task_name(ses.task), "chars") != 0) {
        rnnc_cli_error(&cmd, "'%s' does not train a character model (data.task is %s); generate needs a spec with data.task: chars, e.g. examples/chars.yaml",
                       cmd.pos[0], ses.spec->task ? ses.spec->task : "not set");
        rnnc_app_session_close(&ses);
        return RNNC_EXIT_USAGE;
    }
    if (rnnc_app_model_n_inputs(ses.model) != 1) {
        rnnc_cli_error(&cmd, "model '%s' takes %d inputs; generate feeds a model of one input (the character ids)",
                       ses.model->name, rnnc_app_model_n_inputs(ses.model));
        rnnc_app_session_close(&ses);
        return RNNC_EXIT_USAGE;
    }
    if ((s = rnnc_model_load_weights(ses.model, weights)) != RNNC_OK) {
        rnnc_app_session_close(&ses);
        return rnnc_cli_fail(&cmd, s);
    }
    int vocab_n;
    const unsigned char *vocab = rnnc_task_vocab(ses.task, &vocab_n);
    int64_t window = rnnc_task_timesteps(ses.task);
    bool probs = ends_in_softmax(ses.model);

    /* The context: the prime, or the start of a validation window. */
    size_t cap = (prime ? strlen(prime) : 0) + (size_t)length + (size_t)window + 2;
    unsigned char *text = malloc(cap);
    size_t n = 0;
    rnnc_rng rng;
    rnnc_rng_init(&rng, (uint64_t)seed);
    if (text && prime) {
        n = strlen(prime);
        memcpy(text, prime, n);
    } else if (text) {
        rnnc_task_data d;
        if ((s = rnnc_task_generate(ses.task, RNNC_SPLIT_VALIDATION, 1, &d)) == RNNC_OK) {
            int64_t k = window < 32 ? window : 32;
            for (int64_t i = 0; i < k; i++)
                text[n++] = vocab[((int32_t *)d.x->data)[i]];
            rnnc_task_data_free(&d);
        }
    }
    if (!text && s == RNNC_OK)
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if (s == RNNC_OK) {
        fwrite(text, 1, n, stdout);
        fflush(stdout);
    }
    double *scores = malloc((size_t)vocab_n * sizeof *scores);
    if (!scores && s == RNNC_OK)
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    for (int64_t step = 0; s == RNNC_OK && step < length; step++) {
        int64_t len = (int64_t)n < window ? (int64_t)n : window;
        rnnc_tensor *x, *outs[RNNC_MAX_IO];
        int n_outs = 0;
        rnnc_shape shape = RNNC_SHAPE(1, len);
        if ((s = rnnc_tensor_create(RNNC_I32, &shape, &x)))
            break;
        for (int64_t i = 0; i < len; i++)
            ((int32_t *)x->data)[i] = rnnc_task_char_id(ses.task, text[n - (size_t)len + (size_t)i]);
        s = rnnc_app_forward(ses.model, x, NULL, NULL, 1, outs, &n_outs);
        rnnc_tensor_destroy(x);
        if (s != RNNC_OK)
            break;
        const rnnc_tensor *y = outs[0];
        int64_t last = y->shape.dim[y->shape.ndim - 1];
        if (last != vocab_n || (y->shape.ndim != 3 && y->shape.ndim != 2)) {
            char b[160];
            s = rnnc_fail(RNNC_E_SHAPE, "the model's output has shape %s; a character model must output (batch, timesteps, %d) scores",
                          rnnc_shape_str(&y->shape, b, sizeof b), vocab_n);
        } else {
            size_t off = y->numel - (size_t)vocab_n; /* the last step */
            for (int i = 0; i < vocab_n; i++)
                scores[i] = rnnc_tensor_get(y, off + (size_t)i);
            unsigned char c = vocab[sample(scores, vocab_n, probs, temp, &rng)];
            text[n++] = c;
            fputc(c, stdout);
            fflush(stdout);
        }
        for (int k = 0; k < n_outs; k++)
            rnnc_tensor_destroy(outs[k]);
    }
    fputc('\n', stdout);
    free(scores);
    free(text);
    rnnc_app_session_close(&ses);
    if (s != RNNC_OK)
        return rnnc_cli_fail(&cmd, s);
    return RNNC_EXIT_OK;
}
