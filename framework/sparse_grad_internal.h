/* sparse_grad_internal.h - what tensor.c needs of sparse_grad.c: freeing,
 * clearing and reading a tensor's rows-per-occurrence gradient. Not
 * installed. */
#ifndef RNNC_SPARSE_GRAD_INTERNAL_H
#define RNNC_SPARSE_GRAD_INTERNAL_H

#include "framework/sparse_grad.h"

void rnnc__sparse_grad_destroy(rnnc_sparse_grad *s);      /* NULL is a no-op */
void rnnc__sparse_grad_zero(rnnc_tensor *t);              /* t->sgrad != NULL */
double rnnc__sparse_grad_get(const rnnc_tensor *t, size_t i); /* the summed gradient's element i */

#endif
