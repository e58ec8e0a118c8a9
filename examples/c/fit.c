/* fit.c - the common job: build a model, compile, fit with EarlyStopping,
 * evaluate, save as .keras, load it back, predict. Task: y = the mean of 8
 * random steps; exits 0 when the loaded model beats predicting the mean
 * (MSE 0.0104) by far.  Build: cc fit.c $(pkg-config --cflags --libs rnnc) */
#include <rnnc.h>
#include <stdio.h>

#define CHECK(e) do { if ((e) != RNNC_OK) { fprintf(stderr, "fit: %s\n", rnnc_last_error()); return 1; } } while (0)
enum { N = 1024, T = 8 };

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "fit_example.keras";
    rnnc_shape xs = RNNC_SHAPE(N, T, 1), ys = RNNC_SHAPE(N, 1), in = RNNC_SHAPE(-1, T, 1);
    rnnc_tensor *x, *y, *pred;
    CHECK(rnnc_tensor_create(RNNC_F32, &xs, &x) || rnnc_tensor_create(RNNC_F32, &ys, &y));
    rnnc_rng rng;
    rnnc_rng_init(&rng, 1);
    for (int i = 0; i < N; i++) {
        double u[T], sum = 0;
        rnnc_rng_uniform(&rng, u, T);
        for (int t = 0; t < T; t++)
            sum += rnnc_f32(x)[i * T + t] = (float)u[t];
        rnnc_f32(y)[i] = (float)(sum / T);
    }
    /* The model: GRU(8) -> Dense(1), built for (batch, 8, 1). */
    rnnc_model *m, *back;
    rnnc_layer *gru, *dense;
    rnnc_gru_options go = rnnc_gru_options_default();
    go.units = 8;
    rnnc_dense_options dop = rnnc_dense_options_default(1);
    CHECK(rnnc_sequential_create("mean", &m) || rnnc_gru_create(&go, &gru) || rnnc_model_add(m, gru) ||
          rnnc_dense_create(&dop, &dense) || rnnc_model_add(m, dense) || rnnc_model_build(m, &in));
    /* compile(Adam(0.01), "mse"); fit(epochs=30, validation_split=0.2, EarlyStopping). */
    rnnc_optimizer_options oo = rnnc_optimizer_options_default();
    oo.learning_rate = 0.01;
    rnnc_optimizer *adam;
    rnnc_loss *mse;
    rnnc_trainer *tr;
    CHECK(rnnc_optimizer_create(RNNC_OPTIMIZER_ADAM, &oo, &adam) || rnnc_loss_from_name("mse", &mse) ||
          rnnc_trainer_create(m, &tr) || rnnc_trainer_compile(tr, adam, mse, NULL, 0, NULL, 0));
    rnnc_early_stopping_options eo = rnnc_early_stopping_options_default();
    eo.patience = 3;
    eo.restore_best_weights = true;
    rnnc_callback *stop;
    CHECK(rnnc_early_stopping_create(&eo, &stop));
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.epochs = 30;
    fo.validation_split = 0.2;
    fo.callbacks = &stop;
    fo.n_callbacks = 1;
    fo.verbose = RNNC_VERBOSE_LINES;
    rnnc_logs logs = {0};
    CHECK(rnnc_trainer_fit(tr, x, y, &fo, NULL) || rnnc_trainer_evaluate(tr, x, y, NULL, 64, &logs));
    printf("evaluate: loss %.3g\n", *rnnc_logs_get(&logs, "loss"));
    /* save + load + predict: the .keras file also loads in Keras. */
    CHECK(rnnc_model_save(m, path) || rnnc_model_load(path, &back) || rnnc_model_predict(back, x, 64, &pred));
    double mse_back = 0;
    for (int i = 0; i < N; i++)
        mse_back += (rnnc_f32(pred)[i] - rnnc_f32(y)[i]) * (rnnc_f32(pred)[i] - rnnc_f32(y)[i]) / N;
    printf("loaded %s: MSE %.3g (predicting the mean: 0.0104)\n", path, mse_back);
    rnnc_tensor_destroy(pred), rnnc_tensor_destroy(x), rnnc_tensor_destroy(y);
    rnnc_callback_destroy(stop), rnnc_trainer_destroy(tr);
    rnnc_model_destroy(back), rnnc_model_destroy(m);
    return mse_back < 0.003 ? 0 : 1;
}
