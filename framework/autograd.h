/* autograd.h - the context: a tape of op nodes and the tensors it owns.
 *
 * Ops (ops.h) allocate their results in a context and, when grad mode is on
 * and an input requires a gradient, record a node: inputs, outputs, saved
 * tensors and a backward function. rnnc_backward() walks the tape in reverse
 * and *accumulates* into every grad buffer it reaches. Nothing zeroes leaf
 * gradients except rnnc_tensor_zero_grad() (once per training step, as llm.c).
 *
 * rnnc_ctx_clear() frees every tensor and node the context owns (results and
 * temporaries of one step); leaves created by the caller are untouched. */
#ifndef RNNC_AUTOGRAD_H
#define RNNC_AUTOGRAD_H

#include "framework/tensor.h"

typedef struct rnnc_ctx rnnc_ctx;
typedef struct rnnc_comm rnnc_comm; /* framework/comm.h */

#define RNNC_NODE_MAX_IN 8
#define RNNC_NODE_MAX_OUT 4
#define RNNC_NODE_MAX_SAVED 8

/* Computes input gradients from output gradients: for every input with
 * requires_grad, in[i]->grad += d(out)/d(in[i]) . out->grad. Output grads are
 * NULL where nothing downstream used that output (treat as zero). Input
 * grads are allocated before the call. */
typedef rnnc_status (*rnnc_backward_fn)(rnnc_node *n);

struct rnnc_node {
    const char *op;                       /* op name, for messages */
    rnnc_backward_fn backward;
    int n_in, n_out, n_saved;
    rnnc_tensor *in[RNNC_NODE_MAX_IN];
    rnnc_tensor *out[RNNC_NODE_MAX_OUT];
    rnnc_tensor *saved[RNNC_NODE_MAX_SAVED]; /* ctx-owned tensors backward needs */
    int64_t iarg[8];                      /* op parameters (axis, flags, ...) */
    double farg[4];                       /* op parameters (alpha, rate, ...) */
    unsigned sparse_in;                   /* bit i: in[i] takes rows-per-occurrence gradients
                                           * when it has opted in (sparse_grad.h); its dense
                                           * grad is then neither allocated nor marked */
    bool collective;                      /* backward runs on every pass, even when no output
                                           * has a gradient (out grads NULL: zero): a collective
                                           * every rank must join (framework/comm.h) */
    void *state;                          /* op-private data, freed with free_state */
    void (*free_state)(void *state);
    rnnc_ctx *cx;
};

/* NULL on out-of-memory. */
rnnc_ctx *rnnc_ctx_create(void);
void rnnc_ctx_destroy(rnnc_ctx *cx);            /* NULL is a no-op */
/* Frees all tensors and nodes owned by cx (one step's worth). */
void rnnc_ctx_clear(rnnc_ctx *cx);

/* The communicator of a data-parallel step (borrowed; NULL: one process):
 * layers whose forward needs the other ranks (BatchNormalization with
 * synchronized: true) reach it here. The trainer sets it. */
void rnnc_ctx_set_comm(rnnc_ctx *cx, rnnc_comm *comm);
rnnc_comm *rnnc_ctx_comm(const rnnc_ctx *cx);

/* Grad mode: when off, ops record nothing (inference). Returns the old value. */
bool rnnc_ctx_set_grad_enabled(rnnc_ctx *cx, bool on);
bool rnnc_ctx_grad_enabled(const rnnc_ctx *cx);

/* A zero-filled tensor owned by cx (freed by rnnc_ctx_clear). */
rnnc_status rnnc_ctx_tensor(rnnc_ctx *cx, rnnc_dtype dtype, const rnnc_shape *shape,
                            rnnc_tensor **out);
/* Hands ownership of a caller-created tensor to cx. */
rnnc_status rnnc_ctx_adopt(rnnc_ctx *cx, rnnc_tensor *t);

/* For op implementations: records a node if grad mode is on and any input
 * requires grad; marks outputs requires_grad and links them to the node.
 * *node is NULL when nothing was recorded (then nothing needs saving). */
rnnc_status rnnc_ctx_record(rnnc_ctx *cx, const char *op, rnnc_backward_fn backward,
                            int n_in, rnnc_tensor *const *in, int n_out,
                            rnnc_tensor *const *out, rnnc_node **node);

/* Backpropagates from a scalar (numel 1) tensor, seeding d(loss) = 1. */
rnnc_status rnnc_backward(rnnc_ctx *cx, rnnc_tensor *loss);
/* Backpropagates from any tensor t with d(t) = seed (same shape). Several
 * seeds: call rnnc_ctx_seed_grad for each, then rnnc_backward_seeded. */
rnnc_status rnnc_backward_with(rnnc_ctx *cx, rnnc_tensor *t, const rnnc_tensor *seed);
rnnc_status rnnc_ctx_seed_grad(rnnc_ctx *cx, rnnc_tensor *t, const rnnc_tensor *seed);
rnnc_status rnnc_backward_seeded(rnnc_ctx *cx);

/* Tells the next backward passes of cx when a leaf's gradient is final:
 * ready(user, i) runs as soon as no node still to be run reads leaves[i]
 * (in the order that happens; leaves no node reads come last, after the
 * walk), so a caller can start sending gradients while backward goes on.
 * A failing ready stops backward with its status. The array is borrowed
 * until rnnc_ctx_watch_grads(cx, NULL, 0, NULL, NULL) ends the watch. */
typedef rnnc_status (*rnnc_grad_ready_fn)(void *user, int i);
void rnnc_ctx_watch_grads(rnnc_ctx *cx, rnnc_tensor *const *leaves, int n, rnnc_grad_ready_fn ready,
                          void *user);

#endif
