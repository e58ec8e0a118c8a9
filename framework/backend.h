/* backend.h - run-time device selection and the backend registry.
 *
 * The CPU backend is always there. The CUDA backend (framework/backend/cuda:
 * cuBLAS, cuDNN's GRU, small CUDA kernels) exists only in builds configured
 * with CUDA found (-DRNNC_CUDA=AUTO finds it, ON requires it); even then a
 * machine may have no GPU. Callers never #ifdef: they ask here, and either
 * get the CUDA function table or a clear RNNC_E_NODEV message saying which
 * of the two is missing ("CUDA backend not built (configure with
 * -DRNNC_CUDA=ON)" / "no CUDA device present (...)").
 *
 * The device a program runs on is chosen at run time ("cpu", "cuda",
 * "auto"; the program's --device option and rnnc_set_device in the C API):
 * "auto" picks CUDA when a device is present and CPU otherwise.
 *
 * Not here: the CUDA functions themselves (framework/backend/cuda_api.h lists
 * the table), the layers' kernel choice (layers/gru.c). */
#ifndef RNNC_BACKEND_H
#define RNNC_BACKEND_H

#include <stdbool.h>

#include "framework/status.h"

typedef enum {
    RNNC_DEVICE_CPU,
    RNNC_DEVICE_CUDA,
    RNNC_DEVICE_AUTO, /* a request only: resolves to CUDA when present, else CPU */
    RNNC_DEVICE_COUNT
} rnnc_device;

/* "cpu", "cuda", "auto" -> device (case-sensitive, as the CLI spells them).
 * Anything else fails with RNNC_E_ARG naming the value and the valid ones. */
rnnc_status rnnc_device_parse(const char *name, rnnc_device *out);
/* "cpu", "cuda", "auto"; "unknown" for out-of-range values. */
const char *rnnc_device_name(rnnc_device d);

/* Whether the backend was compiled into this library (CPU: always). Loads
 * nothing. */
bool rnnc_device_built(rnnc_device d);
/* Whether computations can run there now: CPU always; CUDA when built and
 * at least one device is visible; AUTO always (it can fall back). */
bool rnnc_device_available(rnnc_device d);
/* A concrete device for a request: CPU -> CPU; CUDA -> CUDA when available,
 * else RNNC_E_NODEV with the reason; AUTO -> CUDA when available, else CPU. */
rnnc_status rnnc_device_resolve(rnnc_device want, rnnc_device *out);

/* The process-wide device (default CPU) that layers and the trainer use when
 * nothing more specific is asked. rnnc_set_device resolves `want` first (so
 * "cuda" on a machine without one fails here, and the current device is left
 * unchanged). Not thread-safe: call it before training starts. */
rnnc_status rnnc_set_device(rnnc_device want);
rnnc_device rnnc_current_device(void);

/* The CUDA backend's function table (framework/backend/cuda_api.h), valid
 * for the life of the process. Fails with RNNC_E_NODEV when the backend was
 * not built or no device is present, with the message saying which. */
typedef struct rnnc_cuda_api rnnc_cuda_api;
rnnc_status rnnc_backend_cuda(const rnnc_cuda_api **out);
/* The table even when no device is present (NULL when not built, or when
 * the backend's module or the CUDA libraries it needs cannot be loaded):
 * for code that wants to report the device count or the driver's own
 * error. The first call loads the backend (librnnc_cuda.so with cudart,
 * cuBLAS and cuDNN, dlopen); nothing else in rnnc does, so a process that
 * never asks for CUDA never maps those libraries. Thread-safe. */
const rnnc_cuda_api *rnnc_backend_cuda_table(void);

#endif
