/* trainer_dist_internal.h - the trainer's data-parallel machinery
 * (trainer_dist.c): gradients summed over the ranks in fixed-size buckets,
 * each started as soon as backward has finished every gradient in it, and
 * the helpers that keep the ranks' models equal. Internal to optim/. */
#ifndef RNNC_OPTIM_TRAINER_DIST_INTERNAL_H
#define RNNC_OPTIM_TRAINER_DIST_INTERNAL_H

#include "framework/autograd.h"
#include "framework/comm.h"
#include "framework/layer.h"
#include "framework/model.h"

/* Default bucket size: 256 KiB of gradients (64 Ki float32). */
#define RNNC__DIST_BUCKET_BYTES ((size_t)256 * 1024)

typedef struct rnnc__dist_grads rnnc__dist_grads;

/* Gradients of w[0..n) (trainable weights, model order) summed in buckets
 * of bucket_bytes; the flat layout is the reverse of model order (the last
 * layers finish first in backward). Caller owns *out. */
rnnc_status rnnc__dist_grads_create(rnnc_comm *comm, rnnc_weight *const *w, int n, size_t bucket_bytes,
                                    rnnc__dist_grads **out);
void rnnc__dist_grads_destroy(rnnc__dist_grads *g);
/* Whether g was made for exactly these weights. */
bool rnnc__dist_grads_matches(const rnnc__dist_grads *g, rnnc_weight *const *w, int n);
/* Before backward: watches the weights' gradients on cx. */
void rnnc__dist_grads_begin(rnnc__dist_grads *g, rnnc_ctx *cx);
/* After backward (or instead of it, for a rank without rows): sends what
 * is left, waits for every bucket, writes the sums back into the grads and
 * ends the watch on cx. */
rnnc_status rnnc__dist_grads_finish(rnnc__dist_grads *g, rnnc_ctx *cx);
int rnnc__dist_grads_buckets(const rnnc__dist_grads *g);

/* Every weight of m (trainable or not) from rank 0 to the others. */
rnnc_status rnnc__dist_broadcast_weights(rnnc_comm *comm, rnnc_model *m);
/* The non-trainable float weights (BatchNormalization's moving
 * statistics) averaged over the ranks that had rows (active: this one
 * did; n_active of them). */
rnnc_status rnnc__dist_average_state(rnnc_comm *comm, rnnc_model *m, bool active, int n_active);

/* Whether m's training forward joins collectives across the ranks: a
 * layer config (nested ones included) holding `synchronized: true`
 * (BatchNormalization). A rank with no row of a batch must then still run
 * the model (on zero rows). 1 / 0 (1 also when the config cannot be made). */
int rnnc__dist_model_collective(const rnnc_model *m);

/* Rank r's rows [*lo, *hi) of a global batch of m rows over n ranks: the
 * first m % n ranks get one row more. */
void rnnc__dist_split(int64_t m, int n, int r, int64_t *lo, int64_t *hi);

#endif
