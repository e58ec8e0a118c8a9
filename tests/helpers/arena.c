/* arena.c - objects freed at teardown (arena.h). */
#include "helpers/arena.h"

#include <criterion/criterion.h>

#include "framework/random.h"

static rnnc_tensor *leaves[256];
static int n_leaves;
static rnnc_layer *layers[64];
static int n_layers;

rnnc_layer *th_own(rnnc_layer *l)
{
    cr_assert_not_null(l);
    cr_assert_lt(n_layers, 64);
    layers[n_layers++] = l;
    return l;
}

void th_disown_last(void)
{
    cr_assert_gt(n_layers, 0);
    layers[--n_layers] = NULL;
}

rnnc_tensor *th_leaf(rnnc_dtype dt, rnnc_shape s, const double *vals, bool grad)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_tensor_create(dt, &s, &t), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_lt(n_leaves, 256);
    leaves[n_leaves++] = t;
    for (size_t i = 0; vals && i < t->numel; i++)
        rnnc_tensor_set(t, i, vals[i]);
    if (grad)
        cr_assert_eq(rnnc_tensor_set_requires_grad(t, true), RNNC_OK, "%s", rnnc_last_error());
    return t;
}

rnnc_tensor *th_rand_leaf(rnnc_shape s, uint64_t seed, double lo, double hi, bool grad)
{
    rnnc_tensor *t = th_leaf(RNNC_F64, s, NULL, grad);
    rnnc_rng r;
    rnnc_rng_init(&r, seed);
    rnnc_rng_uniform(&r, t->data, t->numel);
    for (size_t i = 0; i < t->numel; i++)
        rnnc_f64(t)[i] = lo + (hi - lo) * rnnc_f64(t)[i];
    return t;
}

const rnnc_shape *th_shp(rnnc_shape s)
{
    static rnnc_shape ring[8];
    static int k;
    k = (k + 1) % 8;
    ring[k] = s;
    return &ring[k];
}

void th_arena_free(void)
{
    for (int i = 0; i < n_leaves; i++)
        rnnc_tensor_destroy(leaves[i]);
    for (int i = 0; i < n_layers; i++)
        rnnc_layer_destroy(layers[i]);
    n_leaves = n_layers = 0;
}
