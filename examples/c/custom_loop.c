/* custom_loop.c - a training loop written by hand with the rnnc C API.
 *
 * The adding problem: each sample is T steps of (value, marker); the target
 * is the sum of the two values whose marker is 1. A Sequential(GRU(16),
 * Dense(1)) learns it with Adam and MSE, one step being exactly:
 *
 *   forward (rnnc_model_call) -> loss (rnnc_loss_call + rnnc_model_losses)
 *   -> rnnc_backward -> rnnc_optimizer_apply -> rnnc_ctx_clear + zero grads
 *
 * Build against an installed rnnc:  cc custom_loop.c $(pkg-config --cflags --libs rnnc)
 * Exits 0 when the final loss is well below the 0.167 of predicting the mean. */
#include <stdio.h>
#include <stdlib.h>

#include "framework/model.h"
#include "framework/ops.h"
#include "framework/random.h"
#include "layers/dense.h"
#include "layers/gru.h"
#include "optim/losses.h"
#include "optim/optimizer.h"

enum { T = 20, BATCH = 32, STEPS = 400, UNITS = 16 };

#define CHECK(expr)                                                          \
    do {                                                                     \
        if ((expr) != RNNC_OK) {                                             \
            fprintf(stderr, "custom_loop: %s: %s\n", #expr, rnnc_last_error()); \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

/* One batch: x (BATCH, T, 2), y (BATCH, 1). */
static void make_batch(rnnc_rng *rng, rnnc_tensor *x, rnnc_tensor *y)
{
    double u[T];
    for (int b = 0; b < BATCH; b++) {
        rnnc_rng_uniform(rng, u, T);
        int i = (int)rnnc_rng_below(rng, T), j = (int)rnnc_rng_below(rng, T - 1);
        j += j >= i; /* two distinct marked steps */
        for (int t = 0; t < T; t++) {
            rnnc_f32(x)[(b * T + t) * 2] = (float)u[t];
            rnnc_f32(x)[(b * T + t) * 2 + 1] = (t == i || t == j) ? 1.0f : 0.0f;
        }
        rnnc_f32(y)[b] = (float)(u[i] + u[j]);
    }
}

int main(void)
{
    rnnc_model *model;
    rnnc_layer *gru, *dense;
    rnnc_gru_options go = rnnc_gru_options_default();
    go.units = UNITS;
    rnnc_dense_options dopt = rnnc_dense_options_default(1);
    CHECK(rnnc_sequential_create(NULL, &model));
    CHECK(rnnc_gru_create(&go, &gru));
    CHECK(rnnc_model_add(model, gru));
    CHECK(rnnc_dense_create(&dopt, &dense));
    CHECK(rnnc_model_add(model, dense));
    rnnc_shape in = RNNC_SHAPE(-1, T, 2);
    CHECK(rnnc_model_build(model, &in));

    rnnc_optimizer_options oo = rnnc_optimizer_options_default();
    oo.learning_rate = 0.01;
    rnnc_optimizer *opt;
    CHECK(rnnc_optimizer_create(RNNC_OPTIMIZER_ADAM, &oo, &opt));
    rnnc_loss *mse;
    CHECK(rnnc_loss_from_name("mse", &mse));

    rnnc_weight *w[16];
    int n_w;
    CHECK(rnnc_model_weights(model, w, 16, &n_w));

    rnnc_tensor *x, *y;
    rnnc_shape xs = RNNC_SHAPE(BATCH, T, 2), ys = RNNC_SHAPE(BATCH, 1);
    CHECK(rnnc_tensor_create(RNNC_F32, &xs, &x));
    CHECK(rnnc_tensor_create(RNNC_F32, &ys, &y));
    rnnc_rng rng;
    rnnc_rng_init(&rng, 7);
    rnnc_ctx *cx = rnnc_ctx_create();
    double recent = 0;
    for (int step = 1; step <= STEPS; step++) {
        make_batch(&rng, x, y);
        rnnc_call_args args = {.n_inputs = 1, .inputs = {x}, .training = true};
        rnnc_call_result out;
        rnnc_tensor *loss, *penalties;
        CHECK(rnnc_model_call(model, cx, &args, &out));
        CHECK(rnnc_loss_call(mse, cx, y, out.outputs[0], NULL, out.mask, &loss));
        CHECK(rnnc_model_losses(model, cx, &penalties)); /* weight/activity penalties */
        if (penalties)
            CHECK(rnnc_add(cx, loss, penalties, &loss));
        CHECK(rnnc_backward(cx, loss));
        CHECK(rnnc_optimizer_apply(opt, w, n_w));
        double v = rnnc_tensor_get(loss, 0);
        recent = step > STEPS - 50 ? recent + v / 50 : recent;
        if (step % 100 == 0)
            printf("step %d: loss %.4f\n", step, v);
        rnnc_ctx_clear(cx);
        rnnc_model_zero_grad(model);
    }
    printf("mean loss over the last 50 steps: %.4f (predicting the mean: 0.167)\n", recent);

    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_loss_destroy(mse);
    rnnc_optimizer_destroy(opt);
    rnnc_model_destroy(model);
    return recent < 0.05 ? 0 : 1;
}
