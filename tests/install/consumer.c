/* consumer.c - an outside program built against the installed rnnc: it
 * computes y = x @ w with the library and checks the numbers by hand. */
#include <rnnc.h>
#include <stdio.h>

int main(void)
{
    const float x[] = {1, 2, 3, 4};       /* (2, 2) */
    const float w[] = {1, 0, 0.5f, -1};   /* (2, 2) */
    const float want[] = {2, -2, 5, -4};  /* x @ w by hand */
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_shape s = RNNC_SHAPE(2, 2);
    rnnc_tensor *a = NULL, *b = NULL, *y = NULL;
    int bad = !cx || rnnc_tensor_from(RNNC_F32, &s, x, &a) || rnnc_tensor_from(RNNC_F32, &s, w, &b) ||
              rnnc_matmul(cx, a, b, false, false, &y);
    for (int i = 0; !bad && i < 4; i++)
        bad = rnnc_f32(y)[i] != want[i];
    printf("consumer: %s\n", bad ? rnnc_last_error() : "ok");
    rnnc_tensor_destroy(a);
    rnnc_tensor_destroy(b);
    rnnc_ctx_destroy(cx);
    return bad;
}
