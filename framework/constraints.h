/* constraints.h - weight constraints (spec section 9): MaxNorm, MinMaxNorm,
 * NonNeg, UnitNorm, Constraint (identity), by Keras name and config.
 * Applied in place after optimizer steps, never at init or load. */
#ifndef RNNC_CONSTRAINTS_H
#define RNNC_CONSTRAINTS_H

#include "framework/config.h"
#include "framework/tensor.h"

typedef struct rnnc_constraint rnnc_constraint;

/* A null node gives *out = NULL and OK. Caller owns *out. */
rnnc_status rnnc_constraint_from_config(const rnnc_cfg *c, const char *what,
                                        rnnc_constraint **out);
void rnnc_constraint_destroy(rnnc_constraint *c);
rnnc_status rnnc_constraint_clone(const rnnc_constraint *c, rnnc_constraint **out);
/* w <- constraint(w), in place (float tensors). */
rnnc_status rnnc_constraint_apply(const rnnc_constraint *c, rnnc_tensor *w);
rnnc_status rnnc_constraint_get_config(const rnnc_constraint *c, rnnc_cfg **out);

#endif
