/* predict.c - load a model Keras saved (.keras, .h5, or an rnnc
 * checkpoint or spec) and predict, without a trainer; compare with the
 * outputs Keras gave for the same input.
 * Build:  cc predict.c $(pkg-config --cflags --libs rnnc)
 * Run:    ./predict model.keras input.h5 expected.h5
 *         (input.h5 holds dataset x, expected.h5 dataset y: Keras's output;
 *         they may be one file, as tests/fixtures/roundtrip/func_chain_io.h5) */
#include <math.h>
#include <rnnc.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: predict MODEL INPUT.h5 EXPECTED.h5\n");
        return 2;
    }
    rnnc_model *m = NULL;
    rnnc_dataset *in = NULL, *want = NULL;
    rnnc_tensor *y = NULL;
    rnnc_dataset_options o = {.y_optional = true};
    rnnc_dataset_options e = {.x_name = "y", .y_optional = true};
    if (rnnc_model_load(argv[1], &m) || rnnc_dataset_read(argv[2], &o, &in) ||
        rnnc_dataset_read(argv[3], &e, &want) || rnnc_model_predict(m, in->x, 32, &y)) {
        fprintf(stderr, "predict: %s\n", rnnc_last_error());
        rnnc_model_destroy(m);
        rnnc_dataset_destroy(in);
        rnnc_dataset_destroy(want);
        return 1;
    }
    double worst = y->numel == want->x->numel ? 0 : INFINITY;
    for (size_t i = 0; i < y->numel && i < want->x->numel; i++)
        worst = fmax(worst, fabs(rnnc_f32(y)[i] - rnnc_f32(want->x)[i]));
    printf("%s: %zu outputs, max |rnnc - Keras| = %.3g\n", argv[1], y->numel, worst);
    rnnc_tensor_destroy(y);
    rnnc_model_destroy(m);
    rnnc_dataset_destroy(in);
    rnnc_dataset_destroy(want);
    return worst < 1e-5 ? 0 : 1;
}
