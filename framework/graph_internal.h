/* graph_internal.h - the layer graph's structures, shared by graph.c
 * (building, checking, running) and graph_config.c (writing the config).
 * Not public API. */
#ifndef RNNC_GRAPH_INTERNAL_H
#define RNNC_GRAPH_INTERNAL_H

#include "framework/graph.h"

typedef struct rnnc__gnode {
    bool is_input;
    int layer;             /* index into g->layers; -1 for inputs */
    int call_index;        /* Keras's node_index: this call's number for its layer */
    rnnc_graph_call call;  /* layer calls only */
    char *name;            /* inputs only (owned) */
    rnnc_shape shape;      /* inputs: batch shape */
    rnnc_dtype dtype;      /* inputs */
    rnnc_output_spec spec; /* static output shapes, after set_outputs */
    bool needed;           /* on a path to an output */
    /* per run */
    int n_out;
    rnnc_tensor *out[RNNC_MAX_IO];
    const rnnc_tensor *mask; /* mask of out[0], or NULL */
} rnnc__gnode;

/* Inputs and layers in the order they entered the graph (the config's
 * "layers" order). */
typedef struct rnnc__gop {
    bool is_input;
    int index; /* node id of an input, or layer index */
} rnnc__gop;

struct rnnc_graph {
    int n_nodes, cap_nodes;
    rnnc__gnode *nodes;
    int n_layers, cap_layers;
    rnnc_layer **layers;
    int *layer_calls;         /* calls per layer */
    rnnc_tensor **act_sum;    /* per layer, per run: summed activity losses */
    bool owns_layers;
    int n_ops, cap_ops;
    rnnc__gop *ops;
    int n_inputs;
    int inputs[RNNC_MAX_IO];  /* model input order: node ids */
    bool inputs_set, inputs_as_list;
    int n_outputs;
    rnnc_graph_ref outputs[RNNC_MAX_IO];
    bool outputs_as_list;
    bool complete;
    int *order;               /* topological order of all nodes */
};

/* The name of what a node calls: the input's name or the layer's. */
const char *rnnc__graph_node_name(const rnnc_graph *g, int id);

#endif
