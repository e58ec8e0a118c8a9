/* comm.h - the collectives data-parallel training needs (allreduce,
 * broadcast), over Open MPI when rnnc is built with it (-DRNNC_MPI), and a
 * single-process stand-in otherwise.
 *
 * A communicator is opaque and mpi.h stays out of this header: a program
 * that already uses MPI hands its MPI_Comm over by address
 * (rnnc_comm_from_mpi(&comm, ...)), and rnnc duplicates it, so rnnc's
 * messages never mix with the program's. rnnc_comm_world() initializes MPI
 * itself when the program has not (and then finalizes it when the last
 * communicator it made is destroyed).
 *
 * Every collective is bounded in time: when it has not completed within
 * the communicator's timeout (rnnc_comm_set_timeout, default 600 s, or
 * RNNC_COMM_TIMEOUT seconds from the environment) it fails with
 * RNNC_E_IO ("a rank died or stalled"), and the only safe next step is
 * rnnc_comm_abort, which stops every rank (MPI_Abort). Collectives must be
 * called in the same order on every rank.
 *
 * The trainer takes a communicator with rnnc_trainer_set_comm (trainer.h);
 * nothing else in rnnc knows how many processes there are. */
#ifndef RNNC_COMM_H
#define RNNC_COMM_H

#include <stdbool.h>
#include <stddef.h>

#include "framework/autograd.h"
#include "framework/status.h"
#include "framework/tensor.h"

typedef struct rnnc_comm rnnc_comm;

/* Whether this librnnc was built with MPI. */
bool rnnc_comm_mpi_built(void);

/* MPI_COMM_WORLD (duplicated), initializing MPI first when it is not
 * (with MPI_THREAD_FUNNELED). Without MPI in the build: a one-rank
 * communicator. Caller owns *out. */
rnnc_status rnnc_comm_world(rnnc_comm **out);
/* A duplicate of the caller's communicator: mpi_comm points to an MPI_Comm
 * (MPI initialized by the caller). RNNC_E_UNSUPPORTED without MPI in the
 * build. Caller owns *out. */
rnnc_status rnnc_comm_from_mpi(const void *mpi_comm, rnnc_comm **out);
/* A one-rank communicator that never talks to anyone. */
rnnc_status rnnc_comm_single(rnnc_comm **out);
/* Frees the duplicate (collective over its ranks); finalizes MPI when
 * rnnc initialized it and this was the last communicator. NULL: no-op. */
void rnnc_comm_destroy(rnnc_comm *c);

int rnnc_comm_rank(const rnnc_comm *c); /* 0 for NULL */
int rnnc_comm_size(const rnnc_comm *c); /* 1 for NULL */

/* Seconds a collective may wait for the other ranks (> 0). */
void rnnc_comm_set_timeout(rnnc_comm *c, double seconds);
double rnnc_comm_timeout(const rnnc_comm *c);

/* In place: buf[0..n) becomes the element-wise sum over the ranks.
 * dtype: RNNC_F32, RNNC_F64 or RNNC_I64. */
rnnc_status rnnc_comm_allreduce_sum(rnnc_comm *c, void *buf, size_t n, rnnc_dtype dtype);
/* In place: buf[0..n) becomes the element-wise maximum (RNNC_F64 or RNNC_I64). */
rnnc_status rnnc_comm_allreduce_max(rnnc_comm *c, void *buf, size_t n, rnnc_dtype dtype);
/* bytes of buf from rank root to every rank. */
rnnc_status rnnc_comm_broadcast(rnnc_comm *c, void *buf, size_t bytes, int root);

/* Started allreduce (sum, in place) that overlaps with computation: at most
 * RNNC_COMM_MAX_PENDING at once; rnnc_comm_wait_all completes them all. */
#define RNNC_COMM_MAX_PENDING 64
rnnc_status rnnc_comm_iallreduce_sum(rnnc_comm *c, void *buf, size_t n, rnnc_dtype dtype);
rnnc_status rnnc_comm_wait_all(rnnc_comm *c);

/* The autograd op of a sum across the ranks of cx's communicator
 * (rnnc_ctx_comm): *out (owned by cx, x's dtype, x's shape with the listed
 * axes kept as 1) = scale * the sum over every rank of x summed over
 * `axes` (0..ndim-1, each once; none: x itself), accumulated in float64
 * and rounded once, as rnnc_sum / rnnc_mean do (scale = 1 / count gives
 * the mean of the ranks' elements together). Backward: x.grad += scale *
 * the sum over the ranks of out.grad, spread over the reduced axes. That
 * is the gradient when the loss being differentiated is the sum of the
 * ranks' losses (the trainer's data-parallel scheme): every rank's x
 * reaches every rank's out, so d(sum of losses)/d(x_r) = sum over r' of
 * d(loss_r')/d(out). The node is a collective (rnnc_node.collective): its
 * backward runs on every pass, on every rank, even where no gradient
 * reached out. These reductions travel on a communicator of their own (a
 * duplicate made with c), so they never interleave with the gradient
 * buckets' allreduce; every rank must call the op in the same order.
 * Without a communicator (or one rank) it is this rank's sum. F32 / F64.
 * A rank that has no row of a batch runs the model on a stand-in row to
 * join these collectives (rnnc_comm_set_stand_in): its x then counts as
 * zeros, the gradient it sends as zeros, and x gets no gradient. */
rnnc_status rnnc_comm_sum_op(rnnc_ctx *cx, rnnc_tensor *x, const int *axes, int n_axes, double scale,
                             rnnc_tensor **out);
/* While on, this rank's inputs to rnnc_comm_sum_op count as zeros
 * in forward, and in backward its incoming gradients count as zeros and
 * its inputs receive none. NULL: no-op. */
void rnnc_comm_set_stand_in(rnnc_comm *c, bool on);

/* Seconds spent inside collectives since the last reset (waiting included). */
double rnnc_comm_busy_seconds(const rnnc_comm *c);
void rnnc_comm_reset_busy(rnnc_comm *c);

/* Stops every rank: prints "rnnc: rank R: <message>" on stderr and calls
 * MPI_Abort (exit status `code`). Without MPI (or a one-rank
 * communicator) it only prints and returns. */
void rnnc_comm_abort(rnnc_comm *c, int code, const char *message);

#endif
