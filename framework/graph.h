/* graph.h - the layer graph of a Functional model: a directed acyclic graph
 * whose nodes are model inputs and layer calls (Keras's Functional /
 * Function with its Nodes, keras/src/models/functional.py).
 *
 * Nodes are numbered in the order they are added (inputs and calls share
 * the numbering). A call node holds its layer and how it was called: the
 * positional tensors (or one list of tensors, for merge layers), and the
 * keyword arguments Keras records: mask=, initial_state= and training=.
 * A tensor is addressed as (node, tensor index): tensor 1 of a GRU call
 * with return_state is its final state. One layer may be called at several
 * nodes (a shared layer: same weights). References may point at nodes added
 * later; rnnc_graph_set_outputs checks the whole graph: dangling references,
 * cycles (the message names the layers on it), tensor indices beyond a
 * layer's outputs, and shapes, by shape inference from the inputs, which
 * also builds every layer.
 *
 * Running (rnnc_graph_run) goes in topological order (ties: the order nodes
 * were added) over the nodes the outputs need, and records the autograd
 * tape as each layer is called. Masks follow Keras 3.15's Layer.__call__:
 *   - mask= given: that tensor (non-zero = keep) is the call's mask;
 *   - else, when the call has exactly one tensor argument, the mask of that
 *     tensor is passed (the usual case: Masking / Embedding(mask_zero) ->
 *     GRU); with initial_state= there are two and no mask is passed;
 *   - a list call (merge layers) gets the mask of each element in
 *     args->input_masks;
 *   - the output mask is the layer's; when no mask was passed but the first
 *     argument had one, Keras still derives the output mask from it: an RNN
 *     gives it on when return_sequences, a mask-propagating layer passes it
 *     on, other layers give none.
 * A mask is attached to a call's first output only (an RNN's states never
 * carry one).
 *
 * training: the model call's value is used for every node, as Keras does
 * whenever the model is called with a training value (fit, evaluate and
 * predict always pass one); a node's recorded training= is kept for the
 * config only.
 *
 * A layer called at several nodes with an activity regularizer: its
 * activity loss is the sum over its calls in one run (Keras adds one loss
 * per call).
 *
 * Operations (layers whose class has is_operation: Keras ops such as the
 * not_equal / any / logical_or nodes Keras records for masks, see
 * layers/keras_ops.h) are nodes like layers, written back in Keras's
 * operation form, and not part of the model's layers.
 *
 * Ownership: the graph owns the layers added to it, until
 * rnnc_functional_create (model.h) hands the layers (not the operations)
 * to a model; tensors from a run are owned by the run's rnnc_ctx.
 *
 * Not here: nested models as layers, dict-structured inputs/outputs,
 * constants other than numbers as call arguments, reading or writing files
 * (io/). */
#ifndef RNNC_GRAPH_H
#define RNNC_GRAPH_H

#include "framework/layer.h"

typedef struct rnnc_graph rnnc_graph;

/* Output `tensor` (Keras's tensor_index) of node `node` (an id from
 * rnnc_graph_add_input / rnnc_graph_add_node). */
typedef struct rnnc_graph_ref {
    int node;
    int tensor;
} rnnc_graph_ref;

/* A number given as a positional argument (Keras ops: not_equal(x, 0.0)). */
typedef struct rnnc_graph_const {
    bool on;      /* this argument is the number, not a tensor */
    bool is_int;  /* written back as an integer (0, not 0.0) */
    double value; /* reaches the layer as a rank-0 float64 tensor */
} rnnc_graph_const;

/* How a node calls its layer (Keras's Node arguments). Start from
 * rnnc_graph_call_default(). */
typedef struct rnnc_graph_call {
    int n_args;                       /* positional arguments, 1 .. RNNC_MAX_IO */
    rnnc_graph_ref args[RNNC_MAX_IO]; /* the tensors (unused where consts[i].on) */
    rnnc_graph_const consts[RNNC_MAX_IO];
    bool args_as_list;                /* layer([a, b]): one list argument (merge layers) */
    bool has_mask;                    /* mask=<tensor> */
    rnnc_graph_ref mask;
    int n_states;                     /* initial_state=<tensors> (0: not given) */
    rnnc_graph_ref states[RNNC_MAX_IO];
    bool states_as_list;              /* initial_state=[h] rather than initial_state=h */
    int training;                     /* training=: -1 not given, 0 False, 1 True (config only) */
    bool mask_none;                   /* "mask": None was recorded (config only) */
} rnnc_graph_call;

/* A call of one tensor: args = {ref}, nothing else given. */
rnnc_graph_call rnnc_graph_call_default(rnnc_graph_ref arg);

/* An empty graph; caller destroys it (or hands it to rnnc_functional_create). */
rnnc_status rnnc_graph_create(rnnc_graph **out);
/* Frees the graph and the layers it still owns. NULL is a no-op. */
void rnnc_graph_destroy(rnnc_graph *g);

/* Declares a model input (Keras's Input / InputLayer): a unique name, the
 * batch shape (-1 = None) and dtype (float32, float64, int32 for token
 * ids). *id is its node. Model inputs are ordered as added unless
 * rnnc_graph_set_inputs says otherwise. */
rnnc_status rnnc_graph_add_input(rnnc_graph *g, const char *name, const rnnc_shape *batch_shape,
                                 rnnc_dtype dtype, int *id);

/* Adds a call of `layer`. A layer new to the graph is owned by it from now
 * on (also on failure); a layer already in it is shared. Fails with
 * RNNC_E_ARG on a malformed call (no arguments, too many, a list call with
 * initial states), a layer name already used by another layer or an
 * input, or RNNC_E_STATE once the outputs are set. *id may be NULL. */
rnnc_status rnnc_graph_add_node(rnnc_graph *g, rnnc_layer *layer, const rnnc_graph_call *call,
                                int *id);

/* The order of the model inputs (Keras's input_layers): every input node
 * exactly once. as_list: the model takes a list even when n == 1. */
rnnc_status rnnc_graph_set_inputs(rnnc_graph *g, const int *input_ids, int n, bool as_list);

/* Declares the outputs (Keras's output_layers; as_list as above) and
 * checks and builds the graph as described at the top. After it the graph
 * is complete: no more nodes. Errors name the layers involved:
 * RNNC_E_ARG (dangling reference, cycle, bad tensor index, an input used
 * as a layer's output), RNNC_E_SHAPE and others from shape inference. */
rnnc_status rnnc_graph_set_outputs(rnnc_graph *g, const rnnc_graph_ref *outs, int n, bool as_list);

/* Runs the graph: args->inputs[i] is model input i (n_inputs must match;
 * dtypes and fixed dimensions are checked), args->mask (or
 * args->input_masks[i]) masks input 0 (input i), args->training applies to
 * every node. res->outputs are the outputs in order and res->mask the
 * mask of the first output. Fails with RNNC_E_STATE before
 * rnnc_graph_set_outputs. */
rnnc_status rnnc_graph_run(rnnc_graph *g, rnnc_ctx *cx, const rnnc_call_args *args,
                           rnnc_call_result *res);

/* ---- queries ------------------------------------------------------------ */

int rnnc_graph_n_nodes(const rnnc_graph *g);
int rnnc_graph_n_inputs(const rnnc_graph *g);
int rnnc_graph_n_outputs(const rnnc_graph *g);
/* Model input i (in model order): node id, name (owned by the graph), batch
 * shape and dtype. i out of range -> -1 / NULL. */
int rnnc_graph_input_node(const rnnc_graph *g, int i);
const char *rnnc_graph_input_name(const rnnc_graph *g, int i);
rnnc_shape rnnc_graph_input_shape(const rnnc_graph *g, int i);
rnnc_dtype rnnc_graph_input_dtype(const rnnc_graph *g, int i);
rnnc_graph_ref rnnc_graph_output(const rnnc_graph *g, int i);
/* Distinct layers and operations in the order they were first added
 * (Keras's model.layers without the InputLayers, plus the operations). */
int rnnc_graph_n_layers(const rnnc_graph *g);
rnnc_layer *rnnc_graph_layer(const rnnc_graph *g, int i);
/* The node of call number `call_index` (Keras's node_index) of the layer or
 * input named `name`, or -1. */
int rnnc_graph_find_node(const rnnc_graph *g, const char *name, int call_index);
/* The static shape of a tensor after rnnc_graph_set_outputs (-1 = None);
 * fails with RNNC_E_ARG on a bad reference. */
rnnc_status rnnc_graph_tensor_shape(const rnnc_graph *g, rnnc_graph_ref ref, rnnc_shape *shape,
                                    rnnc_dtype *dtype);

/* The graph's entries in config order: the model inputs, layers and
 * operations in the order they entered the graph (Keras's
 * model.operations with the InputLayers, the config's "layers"). Entry i
 * is a model input (*node its node id, *layer NULL) or a layer or
 * operation (*layer, *node -1). i out of range: -1 and NULL. */
int rnnc_graph_n_entries(const rnnc_graph *g);
void rnnc_graph_entry(const rnnc_graph *g, int i, int *node, rnnc_layer **layer);
/* Node queries (a bad id: NULL / -1 / false / 0). The layer a node calls
 * (NULL for an input node); its name (the input's or the layer's); its
 * call number for its layer (Keras's node_index); whether the outputs
 * depend on it (Keras's model nodes); its number of outputs (after
 * rnnc_graph_set_outputs). */
rnnc_layer *rnnc_graph_node_layer(const rnnc_graph *g, int id);
const char *rnnc_graph_node_name(const rnnc_graph *g, int id);
int rnnc_graph_node_call_index(const rnnc_graph *g, int id);
bool rnnc_graph_node_needed(const rnnc_graph *g, int id);
int rnnc_graph_node_n_outputs(const rnnc_graph *g, int id);
/* The tensors node `id` takes, in Keras's Node.input_tensors order:
 * positional arguments (numbers left out), then initial states, then the
 * mask. Fills up to cap refs and returns their number. */
int rnnc_graph_node_inputs(const rnnc_graph *g, int id, rnnc_graph_ref *refs, int cap);

/* For rnnc_functional_create: the model takes the layers; the graph stops
 * freeing them (it keeps freeing the operations). */
void rnnc__graph_release_layers(rnnc_graph *g);

/* ---- config -------------------------------------------------------------- */

/* Adds Keras's Functional keys to a config map: "layers" (InputLayers and
 * layers in the order they were added, each serialized with its "name" and
 * its calls as Keras 3 "inbound_nodes": {"args": [...], "kwargs": {...}}
 * with __keras_tensor__ references), "input_layers" and "output_layers"
 * (one [name, node_index, tensor_index] when single and not as_list, else
 * a list of them). Build configs follow Keras: one shape per list element
 * for list calls, {"shapes_dict": {"sequences_shape", "initial_state_shape"}}
 * for calls with initial states. Needs rnnc_graph_set_outputs first. */
rnnc_status rnnc_graph_write_config(const rnnc_graph *g, rnnc_cfg *config);

#endif
