/* forward.c - batched inference over whole arrays (forward.h): the
 * library's framework/predict.h under the program's names. */
#include "apps/forward.h"

#include <string.h>

rnnc_status rnnc_app_forward(rnnc_model *m, const rnnc_tensor *x, const rnnc_tensor *mask,
                             const rnnc_tensor *initial_state, int64_t batch_size,
                             rnnc_tensor **outs, int *n_outs)
{
    rnnc_model_inputs in;
    memset(&in, 0, sizeof in);
    in.n = 1;
    in.x[0] = x;
    in.mask[0] = mask;
    in.initial_state = initial_state;
    return rnnc_model_predict_inputs(m, &in, batch_size, outs, n_outs);
}
