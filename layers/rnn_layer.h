/* rnn_layer.h - Keras's RNN(cell) from a config over any registered cell
 * class, StackedRNNCells, and the registration of a user's cell class.
 * (The RNN layer itself, its call protocol and get_config are
 * framework/rnn.h's rnnc_rnn_create.)
 *
 * A cell class is one whose layers begin with rnnc_rnn_cell: GRUCell,
 * LSTMCell, SimpleRNNCell, StackedRNNCells, and every class registered
 * with rnnc_rnn_cell_register. RNN.from_config and StackedRNNCells accept
 * only those (anything else fails naming the class). */
#ifndef RNNC_RNN_LAYER_H
#define RNNC_RNN_LAYER_H

#include "layers/registry.h"

/* Registers a cell class written outside the library: the class name for
 * configs and a from_config returning a layer that begins with
 * rnnc_rnn_cell. Same rules and limits as rnnc_layer_register. */
rnnc_status rnnc_rnn_cell_register(const char *class_name, rnnc_layer_from_config_fn fn);
/* Whether layers of this class name are cells. */
bool rnnc_rnn_is_cell_class(const char *class_name);

/* Keras's RNN.from_config: the six RNN keys, the base keys and "cell" (a
 * serialized cell). Caller owns *out. */
rnnc_status rnnc_rnn_from_config(const rnnc_cfg *config, rnnc_layer **out);

/* StackedRNNCells(cells): takes ownership of the n cells (also on failure);
 * 1 <= n <= 4 and at most RNNC_RNN_MAX_STATES states in all. Its states are
 * the cells' states in order; its output the last cell's. name NULL ->
 * "stacked_rnn_cells", ... */
rnnc_status rnnc_stacked_rnn_cells_create(rnnc_layer *const *cells, int n, const char *name,
                                          rnnc_layer **out);
rnnc_status rnnc_stacked_rnn_cells_from_config(const rnnc_cfg *config, rnnc_layer **out);

#endif
