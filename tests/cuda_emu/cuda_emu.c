/* cuda_emu.c - CPU stand-ins for the CUDA runtime, cuBLAS and cuDNN calls
 * of framework/backend/cuda, and CPU loops for its kernel launchers, so
 * tests/test_cuda_emulated.c can run the backend's own C code (argument
 * checks, buffers, the cuBLAS row-major calls, the cuDNN call sequence,
 * weight-space mapping, masks, go_backwards, dropout) on machines without
 * a GPU. Included once by that test (unity build).
 *
 * Written from the libraries' documented semantics, independently of the
 * backend:
 *   - memory is host memory; cudaMalloc fills new blocks with NaN bytes so
 *     a read of memory nobody wrote shows up in the results;
 *   - cublasSgemm / cublasSgemv are column-major loops that check the
 *     leading dimensions as cuBLAS does (CUBLAS_STATUS_INVALID_VALUE);
 *   - cuDNN's CUDNN_GRU (double bias, one layer, unidirectional, batch-major
 *     unpacked data with per-row lengths and padded IO) is computed in
 *     double from the equations of cuDNN's documentation:
 *       r = sigmoid(W0 x + b0 + W3 h + b3)        (linLayerID 0 / 3: reset)
 *       z = sigmoid(W1 x + b1 + W4 h + b4)        (1 / 4: update)
 *       n = tanh(W2 x + b2 + r * (W5 h + b5))     (2 / 5: new memory)
 *       h' = (1 - z) n + z h
 *     with its own weight-space layout (biases first, matrices in reverse
 *     id order, padding between pieces), reported by
 *     cudnnGetRNNWeightParams; the backward passes check what cuDNN
 *     requires (the forward's y and x, the reserve space, ADD mode, data
 *     before weights) and leave NaN in outputs cuDNN leaves undefined
 *     (dx at padded steps).
 *   - stream capture (cudaStreamBeginCapture .. EndCapture) records the
 *     calls CUDA would record instead of running them: the GRU step
 *     kernels, cublasSgemm (alpha/beta copied, as cuBLAS's host pointer
 *     mode reads them at the call) and device-side memcpy/memset, each as a
 *     function and a copy of its arguments (pointers, not the data they
 *     point at); cudaGraphLaunch replays them in order with those
 *     pointers. What CUDA refuses in a capture fails here too, with
 *     cudaErrorStreamCaptureUnsupported, and invalidates the capture
 *     (EndCapture then returns cudaErrorStreamCaptureInvalidated): a copy
 *     to or from host memory, a synchronize, cudaMalloc/cudaFree, a cuBLAS
 *     call without a user workspace (cublasSetWorkspace, as cuBLAS's docs
 *     require for capture) and any launcher this file does not record;
 * Kernels run one after the other on the host, as they would on the one
 * stream; within a kernel the backend's bodies touch disjoint elements, so
 * sequential order is faithful. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "cudnn.h"
#include "framework/backend/cuda/cuda_kernel_math.h"
#include "framework/backend/cuda/cuda_ops_math.h"

/* ---- runtime -------------------------------------------------------------- */

static unsigned long emu_mallocs, emu_frees;
/* Device -> host copies (cudaMemcpyDeviceToHost, 1D and 2D) and their
 * bytes: tests count what a training step downloads; and the bytes it
 * uploads (cudaMemcpyHostToDevice). */
static unsigned long emu_d2h_copies, emu_d2h_bytes, emu_h2d_bytes;
static struct { char c; } emu_stream_obj;

/* ---- stream capture and graphs ------------------------------------------- */

typedef cudaError_t (*emu_run_fn)(const void *args);
typedef struct emu_node {
    emu_run_fn run;
    void *args; /* a copy of the call's arguments */
    size_t size;
} emu_node;
struct CUgraph_st {
    emu_node *nodes;
    size_t n, cap;
};
struct CUgraphExec_st {
    struct CUgraph_st g;
};
/* The one stream's capture: on, the graph being recorded, and the error a
 * refused call left (the capture is then invalidated). */
static struct {
    int on;
    cudaError_t err;
    struct CUgraph_st *g;
} emu_cap;
/* Graphs and executable graphs alive, launches: tests count them. */
static unsigned long emu_graphs_live, emu_execs_live, emu_graph_launches, emu_graph_nodes_run;
/* Tests set this to make cudaGraphInstantiate fail with it. */
static cudaError_t emu_instantiate_error;

/* A call CUDA refuses during capture: fails and invalidates the capture. */
static cudaError_t emu_cap_refuse(void)
{
    if (emu_cap.err != cudaSuccess)
        return cudaErrorStreamCaptureInvalidated;
    emu_cap.err = cudaErrorStreamCaptureInvalidated;
    return cudaErrorStreamCaptureUnsupported;
}

/* Launchers not recorded: refused during a capture, as CUDA refuses host work. */
#define EMU_EAGER(s)                     \
    do {                                 \
        (void)(s);                       \
        if (emu_cap.on)                  \
            return emu_cap_refuse();     \
    } while (0)

static void emu_graph_free(struct CUgraph_st *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->nodes[i].args);
    free(g->nodes);
    g->nodes = NULL;
    g->n = g->cap = 0;
}

static cudaError_t emu_graph_add(struct CUgraph_st *g, emu_run_fn run, const void *args, size_t size)
{
    if (g->n == g->cap) {
        const size_t cap = g->cap ? 2 * g->cap : 16;
        emu_node *n = realloc(g->nodes, cap * sizeof *n);
        if (!n)
            return cudaErrorMemoryAllocation;
        g->nodes = n;
        g->cap = cap;
    }
    void *copy = malloc(size);
    if (!copy)
        return cudaErrorMemoryAllocation;
    memcpy(copy, args, size);
    g->nodes[g->n++] = (emu_node){run, copy, size};
    return cudaSuccess;
}

/* Runs run(args) now or, while the stream is captured, records it. */
static cudaError_t emu_launch(cudaStream_t s, emu_run_fn run, const void *args, size_t size)
{
    (void)s;
    if (!emu_cap.on)
        return run(args);
    if (emu_cap.err != cudaSuccess)
        return cudaErrorStreamCaptureInvalidated;
    return emu_graph_add(emu_cap.g, run, args, size);
}

static int emu_is_stream(cudaStream_t s)
{
    return s == (cudaStream_t)(void *)&emu_stream_obj;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode)
{
    if (!emu_is_stream(stream) || (int)mode < 0 || (int)mode > 2)
        return cudaErrorInvalidValue;
    if (emu_cap.on)
        return cudaErrorIllegalState;
    struct CUgraph_st *g = calloc(1, sizeof *g);
    if (!g)
        return cudaErrorMemoryAllocation;
    emu_cap.on = 1;
    emu_cap.err = cudaSuccess;
    emu_cap.g = g;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *pGraph)
{
    if (!emu_is_stream(stream) || !pGraph)
        return cudaErrorInvalidValue;
    if (!emu_cap.on)
        return cudaErrorIllegalState;
    struct CUgraph_st *g = emu_cap.g;
    const cudaError_t err = emu_cap.err;
    emu_cap.on = 0;
    emu_cap.g = NULL;
    if (err != cudaSuccess) {
        emu_graph_free(g);
        free(g);
        *pGraph = NULL;
        return cudaErrorStreamCaptureInvalidated;
    }
    emu_graphs_live++;
    *pGraph = g;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *pGraphExec, cudaGraph_t graph,
                                 unsigned long long flags)
{
    if (!pGraphExec || !graph || flags != 0)
        return cudaErrorInvalidValue;
    if (emu_instantiate_error != cudaSuccess)
        return emu_instantiate_error;
    /* The executable graph is independent of the graph (which may be
     * destroyed right after): copy the nodes. */
    struct CUgraphExec_st *x = calloc(1, sizeof *x);
    if (!x)
        return cudaErrorMemoryAllocation;
    for (size_t i = 0; i < graph->n; i++)
        if (emu_graph_add(&x->g, graph->nodes[i].run, graph->nodes[i].args,
                          graph->nodes[i].size) != cudaSuccess) {
            emu_graph_free(&x->g);
            free(x);
            return cudaErrorMemoryAllocation;
        }
    emu_execs_live++;
    *pGraphExec = x;
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t graphExec, cudaStream_t stream)
{
    if (!graphExec || !emu_is_stream(stream))
        return cudaErrorInvalidValue;
    if (emu_cap.on)
        return emu_cap_refuse(); /* no child graphs here */
    emu_graph_launches++;
    for (size_t i = 0; i < graphExec->g.n; i++) {
        const cudaError_t e = graphExec->g.nodes[i].run(graphExec->g.nodes[i].args);
        emu_graph_nodes_run++;
        if (e != cudaSuccess)
            return e;
    }
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t graphExec)
{
    if (!graphExec)
        return cudaErrorInvalidValue;
    emu_graph_free(&graphExec->g);
    free(graphExec);
    emu_execs_live--;
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    if (!graph)
        return cudaErrorInvalidValue;
    emu_graph_free(graph);
    free(graph);
    emu_graphs_live--;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    (void)device;
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "CPU emulation");
    prop->totalGlobalMem = (size_t)1 << 30;
    prop->major = 9;
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags)
{
    (void)flags;
    *stream = (cudaStream_t)(void *)&emu_stream_obj;
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    return stream == (cudaStream_t)(void *)&emu_stream_obj ? cudaSuccess : cudaErrorInvalidValue;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    if (emu_cap.on)
        return emu_cap_refuse();
    return cudaStreamDestroy(stream);
}

cudaError_t cudaMalloc(void **ptr, size_t size)
{
    if (emu_cap.on) /* refused in global and thread-local capture modes */
        return emu_cap_refuse();
    *ptr = malloc(size ? size : 1);
    if (!*ptr)
        return cudaErrorMemoryAllocation;
    memset(*ptr, 0xff, size); /* NaN floats, -1 ints: unwritten memory shows */
    emu_mallocs++;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr)
{
    if (emu_cap.on)
        return emu_cap_refuse();
    if (ptr)
        emu_frees++;
    free(ptr);
    return cudaSuccess;
}

struct emu_copy_args {
    void *dst;
    const void *src;
    size_t count;
};

static cudaError_t emu_run_copy(const void *p)
{
    const struct emu_copy_args *a = p;
    memmove(a->dst, a->src, a->count);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream)
{
    if (count && (!dst || !src))
        return cudaErrorInvalidValue;
    if (emu_cap.on && kind != cudaMemcpyDeviceToDevice)
        return emu_cap_refuse(); /* pageable host memory cannot be captured */
    if (kind == cudaMemcpyDeviceToHost) {
        emu_d2h_copies++;
        emu_d2h_bytes += count;
    }
    if (kind == cudaMemcpyHostToDevice)
        emu_h2d_bytes += count;
    const struct emu_copy_args a = {dst, src, count};
    return emu_launch(stream, emu_run_copy, &a, sizeof a);
}

cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
                              size_t width, size_t height, enum cudaMemcpyKind kind,
                              cudaStream_t stream)
{
    if (width > dpitch || width > spitch)
        return cudaErrorInvalidValue;
    EMU_EAGER(stream);
    if (kind == cudaMemcpyDeviceToHost) {
        emu_d2h_copies++;
        emu_d2h_bytes += width * height;
    }
    if (kind == cudaMemcpyHostToDevice)
        emu_h2d_bytes += width * height;
    for (size_t r = 0; r < height; r++)
        memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    return cudaSuccess;
}

struct emu_set_args {
    void *dst;
    int value;
    size_t count;
};

static cudaError_t emu_run_set(const void *p)
{
    const struct emu_set_args *a = p;
    memset(a->dst, a->value, a->count);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t count, cudaStream_t stream)
{
    const struct emu_set_args a = {dst, value, count};
    return emu_launch(stream, emu_run_set, &a, sizeof a);
}

cudaError_t cudaGetLastError(void)
{
    return cudaSuccess;
}

const char *cudaGetErrorString(cudaError_t error)
{
    return error == cudaSuccess ? "no error" : "emulated CUDA error";
}

const char *cudaGetErrorName(cudaError_t error)
{
    return error == cudaSuccess ? "cudaSuccess" : "cudaErrorEmulated";
}

/* ---- cuBLAS ----------------------------------------------------------------- */

static struct {
    int math;
    void *ws; /* cublasSetWorkspace's buffer (NULL: cuBLAS's own pool) */
    size_t ws_size;
} emu_cublas;

cublasStatus_t cublasCreate(cublasHandle_t *handle)
{
    *handle = (cublasHandle_t)(void *)&emu_cublas;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle)
{
    (void)handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream)
{
    (void)handle;
    (void)stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void *workspace, size_t workspaceSizeInBytes)
{
    (void)handle;
    if (emu_cap.on)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    emu_cublas.ws = workspace;
    emu_cublas.ws_size = workspace ? workspaceSizeInBytes : 0;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
{
    (void)handle;
    emu_cublas.math = (int)mode;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t status)
{
    return status == CUBLAS_STATUS_SUCCESS ? "success" : "emulated cuBLAS error";
}

static int max1(int v)
{
    return v > 1 ? v : 1;
}

struct emu_gemm_args {
    cublasOperation_t ta, tb;
    int m, n, k, lda, ldb, ldc;
    float alpha, beta; /* values: host pointer mode reads them at the call */
    const float *A, *B;
    float *C;
};

static cudaError_t emu_run_gemm(const void *p)
{
    const struct emu_gemm_args *g = p;
    const float *A = g->A, *B = g->B;
    const int lda = g->lda, ldb = g->ldb, ldc = g->ldc;
    for (int j = 0; j < g->n; j++)
        for (int i = 0; i < g->m; i++) {
            double s = 0.0;
            for (int l = 0; l < g->k; l++) {
                const float a = g->ta == CUBLAS_OP_N ? A[i + (size_t)l * lda] : A[l + (size_t)i * lda];
                const float b = g->tb == CUBLAS_OP_N ? B[l + (size_t)j * ldb] : B[j + (size_t)l * ldb];
                s += (double)a * b;
            }
            float *c = &g->C[i + (size_t)j * ldc];
            /* beta == 0: C is not read (it may hold anything). */
            *c = (float)(g->alpha * s + (g->beta == 0.0f ? 0.0 : (double)g->beta * *c));
        }
    return cudaSuccess;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float *alpha,
                           const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc)
{
    (void)handle;
    if (m < 0 || n < 0 || k < 0 || lda < max1(transa == CUBLAS_OP_N ? m : k) ||
        ldb < max1(transb == CUBLAS_OP_N ? k : n) || ldc < max1(m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (emu_cap.on && !emu_cublas.ws) { /* capture needs a user workspace */
        emu_cap_refuse();
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    const struct emu_gemm_args a = {transa, transb, m, n, k, lda, ldb, ldc, *alpha, *beta, A, B, C};
    const cudaError_t e = emu_launch((cudaStream_t)(void *)&emu_stream_obj, emu_run_gemm, &a, sizeof a);
    return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_SUPPORTED;
}

cublasStatus_t cublasSgemv(cublasHandle_t handle, cublasOperation_t trans, int m, int n,
                           const float *alpha, const float *A, int lda, const float *x, int incx,
                           const float *beta, float *y, int incy)
{
    (void)handle;
    if (m < 0 || n < 0 || lda < max1(m) || incx == 0 || incy == 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (emu_cap.on) { /* not recorded here */
        emu_cap_refuse();
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    const int ny = trans == CUBLAS_OP_N ? m : n, nx = trans == CUBLAS_OP_N ? n : m;
    for (int i = 0; i < ny; i++) {
        double s = 0.0;
        for (int j = 0; j < nx; j++) {
            const float a = trans == CUBLAS_OP_N ? A[i + (size_t)j * lda] : A[j + (size_t)i * lda];
            s += (double)a * x[(size_t)j * incx];
        }
        float *yi = &y[(size_t)i * incy];
        *yi = (float)(*alpha * s + (*beta == 0.0f ? 0.0 : (double)*beta * *yi));
    }
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- kernel launchers: the backend's bodies in CPU loops ----------------- */

cudaError_t rnnc__k_fill(cudaStream_t s, float *p, size_t n, float v)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < n; i++)
        p[i] = v;
    return cudaSuccess;
}

cudaError_t rnnc__k_activation(cudaStream_t s, int act, const float *x, float *y, size_t n)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < n; i++)
        y[i] = rnnc__k_act(act, x[i]);
    return cudaSuccess;
}

cudaError_t rnnc__k_activation_backward(cudaStream_t s, int act, const float *x, const float *y,
                                        const float *dy, float *dx, size_t n)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * rnnc__k_dact(act, x[i], y[i]);
    return cudaSuccess;
}

cudaError_t rnnc__k_gather(cudaStream_t s, float *dst, const float *src, const int32_t *map,
                           size_t n)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < n; i++)
        rnnc__b_gather(dst, src, map, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_scatter_add(cudaStream_t s, float *dst, const float *src, const int32_t *map,
                                size_t n)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < n; i++)
        rnnc__b_scatter_add(dst, src, map, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_seq_permute(cudaStream_t s, float *dst, const float *src, const float *drop,
                                const int32_t *lens, int B, int T, int C, int reverse)
{
    EMU_EAGER(s);
    if (dst == src)
        return cudaErrorInvalidValue; /* the kernel is not in-place safe */
    for (size_t i = 0; i < (size_t)B * T * C; i++)
        rnnc__b_seq_permute(dst, src, drop, lens, B, T, C, reverse, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_cudnn_outputs(cudaStream_t s, float *y, float *last, const float *yc,
                                  const float *hy, const int32_t *lens, int B, int T, int U,
                                  int go_backwards, int zofm)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < (size_t)B * T * U; i++)
        rnnc__b_cudnn_outputs(y, last, yc, hy, lens, B, T, U, go_backwards, zofm, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_cudnn_doutputs(cudaStream_t s, float *dyc, float *dhy, const float *dy,
                                   const float *dlast, const float *dstate, const int32_t *lens,
                                   int B, int T, int U, int go_backwards, int zofm)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < (size_t)B * T * U; i++)
        rnnc__b_cudnn_doutputs(dyc, dhy, dy, dlast, dstate, lens, B, T, U, go_backwards, zofm, i);
    return cudaSuccess;
}

/* The GRU step kernels: recorded during a capture (the step loop's graph). */
struct emu_gru_args {
    rnnc__gru_kargs a;
    int k, t, kind;
    const float *in0, *in1, *in2; /* hr/hh2/drh, dlast, dhn */
    float *out0, *out1, *out2, *out3; /* carry, dxw, dq, dhp (backward) */
    const float *dY, *dh;
    float *dhn;
};
enum { EMU_FWD_RA, EMU_FWD_RB1, EMU_FWD_RB2, EMU_BWD, EMU_BWD_RB2 };

static cudaError_t emu_run_gru(const void *p)
{
    const struct emu_gru_args *x = p;
    const rnnc__gru_kargs *a = &x->a;
    for (int i = 0; i < a->B * a->U; i++)
        switch (x->kind) {
        case EMU_FWD_RA:
            rnnc__b_gru_fwd_ra(a, x->k, x->t, x->in0, i, a->ract, a->act);
            break;
        case EMU_FWD_RB1:
            rnnc__b_gru_fwd_rb1(a, x->k, x->t, x->in0, i, a->ract);
            break;
        case EMU_FWD_RB2:
            rnnc__b_gru_fwd_rb2(a, x->k, x->t, x->in0, i, a->act);
            break;
        case EMU_BWD:
            rnnc__b_gru_bwd(a, x->k, x->t, x->dY, x->in1, x->dh, x->out0, x->out1, x->out2,
                            x->out3, x->dhn, i, a->ract, a->act);
            break;
        default:
            rnnc__b_gru_bwd_rb2(a, x->k, x->t, x->in0, x->in2, x->out1, x->out2, x->out3, i,
                                a->ract);
        }
    return cudaSuccess;
}

static cudaError_t emu_gru(cudaStream_t s, struct emu_gru_args x)
{
    return emu_launch(s, emu_run_gru, &x, sizeof x);
}

cudaError_t rnnc__k_gru_fwd_ra(cudaStream_t s, rnnc__gru_kargs a, int k, int t, const float *hr)
{
    return emu_gru(s, (struct emu_gru_args){.a = a, .k = k, .t = t, .kind = EMU_FWD_RA, .in0 = hr});
}

cudaError_t rnnc__k_gru_fwd_rb1(cudaStream_t s, rnnc__gru_kargs a, int k, int t, const float *hr)
{
    return emu_gru(s, (struct emu_gru_args){.a = a, .k = k, .t = t, .kind = EMU_FWD_RB1, .in0 = hr});
}

cudaError_t rnnc__k_gru_fwd_rb2(cudaStream_t s, rnnc__gru_kargs a, int k, int t, const float *hh2)
{
    return emu_gru(s, (struct emu_gru_args){.a = a, .k = k, .t = t, .kind = EMU_FWD_RB2, .in0 = hh2});
}

cudaError_t rnnc__k_gru_bwd(cudaStream_t s, rnnc__gru_kargs a, int k, int t, const float *dY,
                            const float *dlast, const float *dh, float *carry, float *dxw,
                            float *dq, float *dhp, float *dhn)
{
    return emu_gru(s, (struct emu_gru_args){.a = a, .k = k, .t = t, .kind = EMU_BWD, .dY = dY,
                                            .in1 = dlast, .dh = dh, .out0 = carry, .out1 = dxw,
                                            .out2 = dq, .out3 = dhp, .dhn = dhn});
}

cudaError_t rnnc__k_gru_bwd_rb2(cudaStream_t s, rnnc__gru_kargs a, int k, int t,
                                const float *drh, const float *dhn, float *dxw, float *dq,
                                float *dhp)
{
    return emu_gru(s, (struct emu_gru_args){.a = a, .k = k, .t = t, .kind = EMU_BWD_RB2, .in0 = drh,
                                            .in2 = dhn, .out1 = dxw, .out2 = dq, .out3 = dhp});
}

/* ---- the op table's launchers (cuda_ops_kernels.h): the same bodies ------ */

cudaError_t rnnc__k_bias_add(cudaStream_t s, float *y, const float *x, const float *bias,
                             int64_t rows, int64_t cols)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++)
        rnnc__b_bias_add(y, x, bias, cols, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_binary(cudaStream_t s, int op, const float *a, const float *b, float *y,
                           size_t n)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < n; i++)
        rnnc__b_binary(op, a, b, y, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_softmax(cudaStream_t s, const float *x, float *y, int64_t rows, int64_t cols)
{
    EMU_EAGER(s);
    for (size_t r = 0; cols > 0 && r < (size_t)rows; r++)
        rnnc__b_softmax_row(x, y, cols, r);
    return cudaSuccess;
}

cudaError_t rnnc__k_softmax_backward(cudaStream_t s, const float *y, const float *dy, float *dx,
                                     int64_t rows, int64_t cols)
{
    EMU_EAGER(s);
    for (size_t r = 0; cols > 0 && r < (size_t)rows; r++)
        rnnc__b_softmax_bwd_row(y, dy, dx, cols, r);
    return cudaSuccess;
}

cudaError_t rnnc__k_reduce(cudaStream_t s, int op, const float *x, float *y, int64_t outer,
                           int64_t len, int64_t inner)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < (size_t)outer * (size_t)inner; i++)
        rnnc__b_reduce(op, x, y, len, inner, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_loss(cudaStream_t s, rnnc__loss_kargs a)
{
    EMU_EAGER(s);
    for (size_t r = 0; a.rows > 0 && r < (size_t)a.rows; r++)
        rnnc__b_loss_row(&a, r);
    return cudaSuccess;
}

cudaError_t rnnc__k_sgd(cudaStream_t s, rnnc__sgd_kargs a, float *w, const float *g, float *m,
                        size_t n)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < n; i++)
        rnnc__b_sgd(&a, w, g, m, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_adam(cudaStream_t s, rnnc__adam_kargs a, float *w, const float *g, const float *gsq,
                         float *m, float *v, float *vhat, size_t n)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < n; i++)
        rnnc__b_adam(&a, w, g, gsq, m, v, vhat, i);
    return cudaSuccess;
}

/* ---- cuDNN ------------------------------------------------------------------ */

struct cudnnContext { int stream_set; };
struct cudnnTensorStruct { cudnnDataType_t dt; int nb; int dims[8], strides[8]; };
struct cudnnDropoutStruct { float rate; };
struct cudnnRNNStruct {
    int set, F, U;
    cudnnMathType_t math;
    size_t m_off[6], b_off[6], n_ws; /* the emulator's own layout, in floats */
};
struct cudnnRNNDataStruct {
    cudnnRNNDataLayout_t layout;
    int T, B, vec;
    int *lens;
    float fill;
};

static struct cudnnContext emu_cudnn;

size_t cudnnGetVersion(void)
{
    return 90000;
}

const char *cudnnGetErrorString(cudnnStatus_t status)
{
    return status == CUDNN_STATUS_SUCCESS ? "CUDNN_STATUS_SUCCESS" : "emulated cuDNN error";
}

cudnnStatus_t cudnnCreate(cudnnHandle_t *handle)
{
    *handle = &emu_cudnn;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle)
{
    (void)handle;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId)
{
    handle->stream_set = streamId != NULL;
    return CUDNN_STATUS_SUCCESS;
}

#define EMU_CREATE(T, name)                          \
    cudnnStatus_t name(T *d)                         \
    {                                                \
        *d = calloc(1, sizeof **d);                  \
        return *d ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_ALLOC_FAILED; \
    }
EMU_CREATE(cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor)
EMU_CREATE(cudnnDropoutDescriptor_t, cudnnCreateDropoutDescriptor)
EMU_CREATE(cudnnRNNDescriptor_t, cudnnCreateRNNDescriptor)
EMU_CREATE(cudnnRNNDataDescriptor_t, cudnnCreateRNNDataDescriptor)

cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d)
{
    free(d);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyDropoutDescriptor(cudnnDropoutDescriptor_t d)
{
    free(d);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyRNNDescriptor(cudnnRNNDescriptor_t d)
{
    free(d);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyRNNDataDescriptor(cudnnRNNDataDescriptor_t d)
{
    if (d)
        free(d->lens);
    free(d);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetTensorNdDescriptor(cudnnTensorDescriptor_t d, cudnnDataType_t dataType,
                                         int nbDims, const int dimA[], const int strideA[])
{
    if (nbDims < 1 || nbDims > 8)
        return CUDNN_STATUS_BAD_PARAM;
    d->dt = dataType;
    d->nb = nbDims;
    for (int i = 0; i < nbDims; i++) {
        if (dimA[i] < 1)
            return CUDNN_STATUS_BAD_PARAM;
        d->dims[i] = dimA[i];
        d->strides[i] = strideA[i];
    }
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetTensorNdDescriptor(const cudnnTensorDescriptor_t d, int nbDimsRequested,
                                         cudnnDataType_t *dataType, int *nbDims, int dimA[],
                                         int strideA[])
{
    *dataType = d->dt;
    *nbDims = d->nb;
    for (int i = 0; i < d->nb && i < nbDimsRequested; i++) {
        dimA[i] = d->dims[i];
        strideA[i] = d->strides[i];
    }
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetDropoutDescriptor(cudnnDropoutDescriptor_t d, cudnnHandle_t handle,
                                        float dropout, void *states, size_t stateSizeInBytes,
                                        unsigned long long seed)
{
    (void)handle;
    (void)seed;
    if (dropout != 0.0f && (!states || !stateSizeInBytes))
        return CUDNN_STATUS_BAD_PARAM;
    d->rate = dropout;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetRNNDescriptor_v8(cudnnRNNDescriptor_t d, cudnnRNNAlgo_t algo,
                                       cudnnRNNMode_t cellMode, cudnnRNNBiasMode_t biasMode,
                                       cudnnDirectionMode_t dirMode, cudnnRNNInputMode_t inputMode,
                                       cudnnDataType_t dataType, cudnnDataType_t mathPrec,
                                       cudnnMathType_t mathType, int32_t inputSize,
                                       int32_t hiddenSize, int32_t projSize, int32_t numLayers,
                                       cudnnDropoutDescriptor_t dropoutDesc, uint32_t auxFlags)
{
    /* Only what the emulator implements; anything else is a caller bug here. */
    if (algo != CUDNN_RNN_ALGO_STANDARD || cellMode != CUDNN_GRU ||
        biasMode != CUDNN_RNN_DOUBLE_BIAS || dirMode != CUDNN_UNIDIRECTIONAL ||
        inputMode != CUDNN_LINEAR_INPUT || dataType != CUDNN_DATA_FLOAT ||
        mathPrec != CUDNN_DATA_FLOAT || numLayers != 1 || projSize != hiddenSize ||
        inputSize < 1 || hiddenSize < 1 || !dropoutDesc || !(auxFlags & CUDNN_RNN_PADDED_IO_ENABLED))
        return CUDNN_STATUS_NOT_SUPPORTED;
    const size_t F = (size_t)inputSize, U = (size_t)hiddenSize, pad = 3;
    /* Biases 0..5 first, then matrices 5..0, each followed by padding. */
    size_t off = pad;
    for (int id = 0; id < 6; id++) {
        d->b_off[id] = off;
        off += U + pad;
    }
    for (int id = 5; id >= 0; id--) {
        d->m_off[id] = off;
        off += U * (id < 3 ? F : U) + pad;
    }
    d->n_ws = off;
    d->F = inputSize;
    d->U = hiddenSize;
    d->math = mathType;
    d->set = 1;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetRNNWeightSpaceSize(cudnnHandle_t handle, cudnnRNNDescriptor_t d,
                                         size_t *weightSpaceSize)
{
    (void)handle;
    if (!d->set)
        return CUDNN_STATUS_BAD_PARAM;
    *weightSpaceSize = d->n_ws * sizeof(float);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetRNNWeightParams(cudnnHandle_t handle, cudnnRNNDescriptor_t d,
                                      int32_t pseudoLayer, size_t weightSpaceSize,
                                      const void *weightSpace, int32_t linLayerID,
                                      cudnnTensorDescriptor_t mDesc, void **mAddr,
                                      cudnnTensorDescriptor_t bDesc, void **bAddr)
{
    (void)handle;
    if (!d->set || pseudoLayer != 0 || linLayerID < 0 || linLayerID > 5 ||
        weightSpaceSize != d->n_ws * sizeof(float))
        return CUDNN_STATUS_BAD_PARAM;
    const int cols = linLayerID < 3 ? d->F : d->U;
    float *ws = (float *)weightSpace;
    const int md[3] = {1, d->U, cols}, ms[3] = {d->U * cols, cols, 1};
    const int bd[3] = {1, d->U, 1}, bs[3] = {d->U, 1, 1};
    cudnnSetTensorNdDescriptor(mDesc, CUDNN_DATA_FLOAT, 3, md, ms);
    cudnnSetTensorNdDescriptor(bDesc, CUDNN_DATA_FLOAT, 3, bd, bs);
    *mAddr = ws + d->m_off[linLayerID];
    *bAddr = ws + d->b_off[linLayerID];
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetRNNDataDescriptor(cudnnRNNDataDescriptor_t d, cudnnDataType_t dataType,
                                        cudnnRNNDataLayout_t layout, int maxSeqLength,
                                        int batchSize, int vectorSize, const int seqLengthArray[],
                                        void *paddingFill)
{
    if (dataType != CUDNN_DATA_FLOAT || maxSeqLength < 1 || batchSize < 1 || vectorSize < 1)
        return CUDNN_STATUS_BAD_PARAM;
    for (int b = 0; b < batchSize; b++)
        if (seqLengthArray[b] < 1 || seqLengthArray[b] > maxSeqLength)
            return CUDNN_STATUS_BAD_PARAM;
    int *lens = realloc(d->lens, (size_t)batchSize * sizeof *lens);
    if (!lens)
        return CUDNN_STATUS_ALLOC_FAILED;
    memcpy(lens, seqLengthArray, (size_t)batchSize * sizeof *lens);
    d->lens = lens;
    d->layout = layout;
    d->T = maxSeqLength;
    d->B = batchSize;
    d->vec = vectorSize;
    d->fill = paddingFill ? *(const float *)paddingFill : NAN; /* undefined without a fill */
    return CUDNN_STATUS_SUCCESS;
}

/* Reserve space: [x (B*T*F) | weight grads (n_ws) | flag]. */
static size_t emu_reserve_floats(const struct cudnnRNNStruct *r, const struct cudnnRNNDataStruct *x)
{
    return (size_t)x->B * x->T * r->F + r->n_ws + 1;
}

cudnnStatus_t cudnnGetRNNTempSpaceSizes(cudnnHandle_t handle, cudnnRNNDescriptor_t rnnDesc,
                                        cudnnForwardMode_t fwdMode, cudnnRNNDataDescriptor_t xDesc,
                                        size_t *workSpaceSize, size_t *reserveSpaceSize)
{
    (void)handle;
    if (!rnnDesc->set || xDesc->vec != rnnDesc->F)
        return CUDNN_STATUS_BAD_PARAM;
    *workSpaceSize = 256;
    *reserveSpaceSize =
        fwdMode == CUDNN_FWD_MODE_TRAINING ? emu_reserve_floats(rnnDesc, xDesc) * sizeof(float) : 0;
    return CUDNN_STATUS_SUCCESS;
}

static int emu_same_lens(const struct cudnnRNNDataStruct *a, const struct cudnnRNNDataStruct *b,
                         const int32_t *dev)
{
    if (a->B != b->B || a->T != b->T || a->layout != b->layout)
        return 0;
    for (int i = 0; i < a->B; i++)
        if (a->lens[i] != b->lens[i] || dev[i] != a->lens[i])
            return 0;
    return 1;
}

static cudnnStatus_t emu_check_io(cudnnRNNDescriptor_t r, const int32_t *dev,
                                  cudnnRNNDataDescriptor_t x, cudnnRNNDataDescriptor_t y,
                                  cudnnTensorDescriptor_t h, size_t ws_size)
{
    if (!r->set || x->layout != CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED ||
        x->vec != r->F || y->vec != r->U || !dev || !emu_same_lens(x, y, dev) ||
        ws_size != r->n_ws * sizeof(float))
        return CUDNN_STATUS_BAD_PARAM;
    if (h->nb != 3 || h->dims[0] != 1 || h->dims[1] != x->B || h->dims[2] != r->U ||
        h->strides[2] != 1 || h->strides[1] != r->U)
        return CUDNN_STATUS_BAD_PARAM;
    return CUDNN_STATUS_SUCCESS;
}

static double emu_sig(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* One row's forward (caching per step) and, when dy is given, backward.
 * W(id, u, c) = ws[m_off[id] + u*cols + c], bias(id, u) = ws[b_off[id] + u]. */
static void emu_gru_row(const struct cudnnRNNStruct *R, const float *ws, int T, int len, const float *x,
                        const float *hx, float *y, float *hy, float fill, const float *dy,
                        const float *dhy, float *dx, float *dhx, double *dW)
{
    const int F = R->F, U = R->U;
    const size_t n = (size_t)len;
    double *hs = calloc((n + 1) * (size_t)U, sizeof *hs); /* hs[j] = state before step j */
    double *rr = calloc(n * (size_t)U, sizeof *rr), *zz = calloc(n * (size_t)U, sizeof *zz);
    double *nn = calloc(n * (size_t)U, sizeof *nn), *rn = calloc(n * (size_t)U, sizeof *rn);
#define EW(id, u, c) ((double)ws[R->m_off[id] + (size_t)(u) * ((id) < 3 ? F : U) + (size_t)(c)])
#define EB(id, u) ((double)ws[R->b_off[id] + (size_t)(u)])
    for (int u = 0; u < U; u++)
        hs[u] = hx ? hx[u] : 0.0;
    for (int j = 0; j < len; j++) {
        const float *xj = x + (size_t)j * F;
        const double *h = hs + (size_t)j * U;
        for (int u = 0; u < U; u++) {
            double ar = EB(0, u) + EB(3, u), az = EB(1, u) + EB(4, u), an = EB(2, u);
            double hn_ = EB(5, u);
            for (int c = 0; c < F; c++) {
                ar += EW(0, u, c) * xj[c];
                az += EW(1, u, c) * xj[c];
                an += EW(2, u, c) * xj[c];
            }
            for (int c = 0; c < U; c++) {
                ar += EW(3, u, c) * h[c];
                az += EW(4, u, c) * h[c];
                hn_ += EW(5, u, c) * h[c];
            }
            const double r = emu_sig(ar), z = emu_sig(az), nv = tanh(an + r * hn_);
            rr[(size_t)j * U + u] = r;
            zz[(size_t)j * U + u] = z;
            nn[(size_t)j * U + u] = nv;
            rn[(size_t)j * U + u] = hn_;
            hs[(size_t)(j + 1) * U + u] = (1.0 - z) * nv + z * h[u];
        }
    }
    for (int j = 0; j < T; j++)
        for (int u = 0; u < U; u++)
            y[(size_t)j * U + u] = j < len ? (float)hs[(size_t)(j + 1) * U + u] : fill;
    if (hy)
        for (int u = 0; u < U; u++)
            hy[u] = (float)hs[(size_t)len * U + u];
    if (dy) {
        double *dh = calloc((size_t)U, sizeof *dh), *dhp = calloc((size_t)U, sizeof *dhp);
        double *dar = calloc((size_t)U, sizeof *dar), *daz = calloc((size_t)U, sizeof *daz);
        double *dan = calloc((size_t)U, sizeof *dan);
        for (int u = 0; u < U; u++)
            dh[u] = dhy ? dhy[u] : 0.0;
        for (int j = 0; j < T; j++)
            for (int c = 0; c < F; c++)
                dx[(size_t)j * F + c] = j < len ? 0.0f : NAN; /* padded: left undefined */
        for (int j = len - 1; j >= 0; j--) {
            const double *h = hs + (size_t)j * U;
            const float *xj = x + (size_t)j * F;
            for (int u = 0; u < U; u++) {
                dh[u] += dy[(size_t)j * U + u];
                const size_t q = (size_t)j * U + u;
                const double r = rr[q], z = zz[q], nv = nn[q];
                const double dn = dh[u] * (1.0 - z), dz = dh[u] * (h[u] - nv);
                dan[u] = dn * (1.0 - nv * nv);
                daz[u] = dz * z * (1.0 - z);
                dar[u] = dan[u] * rn[q] * r * (1.0 - r);
                dhp[u] = dh[u] * z;
            }
            for (int u = 0; u < U; u++) {
                const double drn = dan[u] * rr[(size_t)j * U + u]; /* d(W5 h + b5) */
                for (int c = 0; c < F; c++) {
                    dx[(size_t)j * F + c] += (float)(EW(0, u, c) * dar[u] + EW(1, u, c) * daz[u] +
                                                     EW(2, u, c) * dan[u]);
                    dW[R->m_off[0] + (size_t)u * F + c] += dar[u] * xj[c];
                    dW[R->m_off[1] + (size_t)u * F + c] += daz[u] * xj[c];
                    dW[R->m_off[2] + (size_t)u * F + c] += dan[u] * xj[c];
                }
                for (int c = 0; c < U; c++) {
                    dhp[c] += EW(3, u, c) * dar[u] + EW(4, u, c) * daz[u] + EW(5, u, c) * drn;
                    dW[R->m_off[3] + (size_t)u * U + c] += dar[u] * h[c];
                    dW[R->m_off[4] + (size_t)u * U + c] += daz[u] * h[c];
                    dW[R->m_off[5] + (size_t)u * U + c] += drn * h[c];
                }
                dW[R->b_off[0] + u] += dar[u];
                dW[R->b_off[1] + u] += daz[u];
                dW[R->b_off[2] + u] += dan[u];
                dW[R->b_off[3] + u] += dar[u];
                dW[R->b_off[4] + u] += daz[u];
                dW[R->b_off[5] + u] += drn;
            }
            memcpy(dh, dhp, (size_t)U * sizeof *dh);
        }
        if (dhx)
            for (int u = 0; u < U; u++)
                dhx[u] = (float)dh[u];
        free(dh);
        free(dhp);
        free(dar);
        free(daz);
        free(dan);
    }
#undef EW
#undef EB
    free(hs);
    free(rr);
    free(zz);
    free(nn);
    free(rn);
}

cudnnStatus_t cudnnRNNForward(cudnnHandle_t handle, cudnnRNNDescriptor_t rnnDesc,
                              cudnnForwardMode_t fwdMode, const int32_t devSeqLengths[],
                              cudnnRNNDataDescriptor_t xDesc, const void *x,
                              cudnnRNNDataDescriptor_t yDesc, void *y,
                              cudnnTensorDescriptor_t hDesc, const void *hx, void *hy,
                              cudnnTensorDescriptor_t cDesc, const void *cx, void *cy,
                              size_t weightSpaceSize, const void *weightSpace,
                              size_t workSpaceSize, void *workSpace, size_t reserveSpaceSize,
                              void *reserveSpace)
{
    (void)handle;
    (void)cDesc;
    cudnnStatus_t s = emu_check_io(rnnDesc, devSeqLengths, xDesc, yDesc, hDesc, weightSpaceSize);
    if (s != CUDNN_STATUS_SUCCESS)
        return s;
    if (cx || cy || workSpaceSize < 256 || !workSpace)
        return CUDNN_STATUS_BAD_PARAM;
    const int B = xDesc->B, T = xDesc->T, F = rnnDesc->F, U = rnnDesc->U;
    const size_t need = emu_reserve_floats(rnnDesc, xDesc);
    if (fwdMode == CUDNN_FWD_MODE_TRAINING) {
        if (!reserveSpace || reserveSpaceSize < need * sizeof(float))
            return CUDNN_STATUS_BAD_PARAM;
        float *res = reserveSpace;
        memcpy(res, x, (size_t)B * T * F * sizeof(float));
        res[need - 1] = 0.0f; /* no backward data yet */
    }
    for (int b = 0; b < B; b++)
        emu_gru_row(rnnDesc, weightSpace, T, xDesc->lens[b], (const float *)x + (size_t)b * T * F,
                    hx ? (const float *)hx + (size_t)b * U : NULL, (float *)y + (size_t)b * T * U,
                    hy ? (float *)hy + (size_t)b * U : NULL, yDesc->fill, NULL, NULL, NULL, NULL,
                    NULL);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnRNNBackwardData_v8(cudnnHandle_t handle, cudnnRNNDescriptor_t rnnDesc,
                                      const int32_t devSeqLengths[],
                                      cudnnRNNDataDescriptor_t yDesc, const void *y,
                                      const void *dy, cudnnRNNDataDescriptor_t xDesc, void *dx,
                                      cudnnTensorDescriptor_t hDesc, const void *hx,
                                      const void *dhy, void *dhx, cudnnTensorDescriptor_t cDesc,
                                      const void *cx, const void *dcy, void *dcx,
                                      size_t weightSpaceSize, const void *weightSpace,
                                      size_t workSpaceSize, void *workSpace,
                                      size_t reserveSpaceSize, void *reserveSpace)
{
    (void)handle;
    (void)cDesc;
    cudnnStatus_t s = emu_check_io(rnnDesc, devSeqLengths, xDesc, yDesc, hDesc, weightSpaceSize);
    if (s != CUDNN_STATUS_SUCCESS)
        return s;
    const size_t need = emu_reserve_floats(rnnDesc, xDesc);
    if (cx || dcy || dcx || !workSpace || workSpaceSize < 256 || !reserveSpace ||
        reserveSpaceSize < need * sizeof(float) || !dy || !dx)
        return CUDNN_STATUS_BAD_PARAM;
    const int B = xDesc->B, T = xDesc->T, F = rnnDesc->F, U = rnnDesc->U;
    float *res = reserveSpace;
    double *dW = calloc(rnnDesc->n_ws, sizeof *dW);
    float *yr = malloc((size_t)T * U * sizeof *yr);
    if (!dW || !yr)
        return CUDNN_STATUS_ALLOC_FAILED;
    for (int b = 0; b < B; b++) {
        const int len = xDesc->lens[b];
        emu_gru_row(rnnDesc, weightSpace, T, len, res + (size_t)b * T * F,
                    hx ? (const float *)hx + (size_t)b * U : NULL, yr, NULL, 0.0f,
                    (const float *)dy + (size_t)b * T * U,
                    dhy ? (const float *)dhy + (size_t)b * U : NULL, (float *)dx + (size_t)b * T * F,
                    dhx ? (float *)dhx + (size_t)b * U : NULL, dW);
        /* y must be the forward's output. */
        for (int j = 0; j < len; j++)
            for (int u = 0; u < U; u++)
                if (fabsf(yr[(size_t)j * U + u] - ((const float *)y)[((size_t)b * T + j) * U + u]) > 1e-5f) {
                    free(dW);
                    free(yr);
                    return CUDNN_STATUS_INTERNAL_ERROR;
                }
    }
    for (size_t i = 0; i < rnnDesc->n_ws; i++)
        res[(size_t)B * T * F + i] = (float)dW[i];
    res[need - 1] = 1.0f;
    free(dW);
    free(yr);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnRNNBackwardWeights_v8(cudnnHandle_t handle, cudnnRNNDescriptor_t rnnDesc,
                                         cudnnWgradMode_t addGrad, const int32_t devSeqLengths[],
                                         cudnnRNNDataDescriptor_t xDesc, const void *x,
                                         cudnnTensorDescriptor_t hDesc, const void *hx,
                                         cudnnRNNDataDescriptor_t yDesc, const void *y,
                                         size_t weightSpaceSize, void *dweightSpace,
                                         size_t workSpaceSize, void *workSpace,
                                         size_t reserveSpaceSize, void *reserveSpace)
{
    (void)handle;
    (void)hx;
    (void)y;
    if (addGrad != CUDNN_WGRAD_MODE_ADD) /* cuDNN 8/9: ADD only */
        return CUDNN_STATUS_NOT_SUPPORTED;
    cudnnStatus_t s = emu_check_io(rnnDesc, devSeqLengths, xDesc, yDesc, hDesc, weightSpaceSize);
    if (s != CUDNN_STATUS_SUCCESS)
        return s;
    const size_t need = emu_reserve_floats(rnnDesc, xDesc);
    if (!workSpace || workSpaceSize < 256 || !reserveSpace || reserveSpaceSize < need * sizeof(float))
        return CUDNN_STATUS_BAD_PARAM;
    float *res = reserveSpace;
    const int B = xDesc->B, T = xDesc->T, F = rnnDesc->F;
    if (res[need - 1] != 1.0f) /* backward data first */
        return CUDNN_STATUS_BAD_PARAM;
    /* x must be the forward's input (at the kept steps). */
    for (int b = 0; b < B; b++)
        for (int j = 0; j < xDesc->lens[b]; j++)
            for (int c = 0; c < F; c++) {
                const size_t i = ((size_t)b * T + j) * F + c;
                if (((const float *)x)[i] != res[i])
                    return CUDNN_STATUS_INTERNAL_ERROR;
            }
    float *dws = dweightSpace;
    for (size_t i = 0; i < rnnDesc->n_ws; i++)
        dws[i] += res[(size_t)B * T * F + i];
    res[need - 1] = 0.0f;
    return CUDNN_STATUS_SUCCESS;
}
