/* rnn_common.h - pieces the recurrent layers after the GRU share (LSTM,
 * SimpleRNN, ...): argument checks of a cell, dropout masks, the RNN
 * layer's config keys after the cell's, and the allocation of an RNN
 * subclass. Private to layers/. */
#ifndef RNNC_LAYERS_RNN_COMMON_H
#define RNNC_LAYERS_RNN_COMMON_H

#include "framework/random.h"
#include "framework/rnn.h"
#include "framework/constraints.h"
#include "framework/initializers.h"
#include "framework/regularizers.h"
#include "layers/gru_cell.h" /* rnnc_use_cudnn */

/* Python's min(1, max(0, v)) (NaN -> 0), as Keras clamps dropout rates. */
double rnnc__rnn_clamp_rate(double v);

/* units in [1, RNNC_CFG_MAX_UNITS], activations valid rnnc_act values,
 * implementation 1 or 2 (pass 2 when the class has none). RNNC_E_ARG with
 * `what` (the class name) and the argument otherwise. */
rnnc_status rnnc__rnn_cell_check_args(const char *what, int64_t units, rnnc_act act,
                                      rnnc_act ract, int implementation);

/* n inverted-dropout masks (batch, width), 1/(1-rate) with probability
 * 1-rate, drawn from rng into dst (ctx-owned) when `on`; otherwise only the
 * generator's counter moves by what the draws would consume, as Keras's
 * seed generator advances on every call. */
rnnc_status rnnc__rnn_cell_masks(rnnc_rng *rng, rnnc_ctx *cx, rnnc_dtype dt, const char *who,
                                 int n, bool on, int64_t batch, int64_t width, double rate,
                                 rnnc_tensor **dst);

/* A recurrent layer config's seed: an integer or null. */
rnnc_status rnnc__rnn_read_seed(const rnnc_cfg *cfg, const char *what, bool *has_seed,
                                int64_t *seed);

/* After the class's own keys: the base keys (name, trainable, dtype,
 * activity_regularizer; copied to the cell), use_cudnn ('auto', true,
 * false; NULL: not a key of the class), Keras 2's time_major (false only),
 * autocast, and the legacy input-shape keys (left to the model loader). */
rnnc_status rnnc__rnn_read_layer_tail(rnnc_layer *l, const rnnc_cfg *config, const char *what,
                                      rnnc_use_cudnn *use_cudnn);

/* The kernel / recurrent / bias objects of a cell (owned). An initializer
 * NULL is Keras's None (add_weight's glorot_uniform). */
typedef struct rnnc__rnn_cell_objects {
    rnnc_initializer *init[3];
    rnnc_regularizer *reg[3];
    rnnc_constraint *cons[3];
} rnnc__rnn_cell_objects;

void rnnc__rnn_cell_objects_clear(rnnc__rnn_cell_objects *p);
/* Clones of borrowed objects (NULL initializer -> Keras's default:
 * glorot_uniform, orthogonal, zeros); `what` names the class. */
rnnc_status rnnc__rnn_cell_objects_clone(const rnnc_initializer *const init[3],
                                         const rnnc_regularizer *const reg[3],
                                         const rnnc_constraint *const cons[3], const char *what,
                                         rnnc__rnn_cell_objects *p);
/* From a config: <part>_initializer (missing -> default, null -> None),
 * <part>_regularizer, <part>_constraint for kernel, recurrent, bias. */
rnnc_status rnnc__rnn_cell_objects_read(const rnnc_cfg *cfg, const char *what,
                                        rnnc__rnn_cell_objects *p);
/* Writes the three <part>_initializer keys; the regularizer keys (with
 * activity_regularizer after them when `activity` is not NULL); the
 * constraint keys. */
rnnc_status rnnc__rnn_cell_write_initializers(const rnnc__rnn_cell_objects *p, rnnc_cfg *cfg);
rnnc_status rnnc__rnn_cell_write_regs_cons(const rnnc__rnn_cell_objects *p, rnnc_cfg *cfg,
                                           const rnnc_layer *activity);
/* One of the cell's weights (part 0 kernel, 1 recurrent, 2 bias) through
 * rnnc_layer_add_weight with clones of its regularizer and constraint. */
rnnc_status rnnc__rnn_cell_add_weight(rnnc_layer *l, const rnnc__rnn_cell_objects *p, int part,
                                      const char *name, const rnnc_shape *shape,
                                      rnnc_tensor **out);

/* Allocates `size` bytes (a struct beginning with rnnc_rnn) and inits the
 * RNN base over cell (taken over, also on failure). */
rnnc_status rnnc__rnn_subclass_create(size_t size, const rnnc_rnn_class *cls, const char *name,
                                      rnnc_dtype dtype, bool trainable, rnnc_layer *cell,
                                      const rnnc_rnn_options *ro, rnnc_rnn **out);

/* A cell's own call, Keras's cell(x, states): x (B, F), states (B, S_i)
 * given all or none (zeros); begin_call, one step, end_call; outputs: the
 * step's output, then the new states. Checks name the class. */
rnnc_status rnnc__rnn_cell_standalone_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                                           int64_t F, rnnc_call_result *res);

/* Ends a layer's create: gives l a clone of `activity` (may be NULL) and
 * hands it out; on failure destroys l. */
rnnc_status rnnc__rnn_finish_create(rnnc_layer *l, const rnnc_regularizer *activity,
                                    rnnc_layer **out);

#endif
