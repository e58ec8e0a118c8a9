/* backend.c - device names, availability, resolution, and the registry of
 * the CUDA backend's function table.
 *
 * The one #ifdef RNNC_HAVE_CUDA of the framework lives here: CMake defines
 * it on this file only, when it built framework/backend/cuda as the module
 * RNNC_CUDA_MODULE (librnnc_cuda.so, cmake/FindRnncCuda.cmake). librnnc
 * does not link the CUDA libraries: the module (which does) is loaded with
 * dlopen the first time the table is asked for, so a process that stays on
 * the CPU never maps cudart, cuBLAS or cuDNN and costs what a CPU-only
 * build costs (README, "Performance"). */
#define _GNU_SOURCE /* dladdr */
#include "framework/backend.h"

#include <stddef.h>
#include <string.h>

#include "framework/backend/cuda_api.h"

#ifdef RNNC_HAVE_CUDA
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static const rnnc_cuda_api *cuda_table;
static char cuda_load_error[1024];
static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;

/* Opens RNNC_CUDA_MODULE from librnnc's own folder (where the build and
 * the install put it), else through the loader's search path, and takes
 * its table (framework/backend/cuda/cuda_api.c: rnnc__cuda_api). */
static void cuda_load(void)
{
    void *h = NULL;
    Dl_info info;
    char path[4096];
    if (dladdr((void *)&cuda_load_error, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash && snprintf(path, sizeof path, "%.*s/%s", (int)(slash - info.dli_fname),
                              info.dli_fname, RNNC_CUDA_MODULE) < (int)sizeof path)
            h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    }
    if (!h)
        h = dlopen(RNNC_CUDA_MODULE, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(cuda_load_error, sizeof cuda_load_error, "%s", e ? e : RNNC_CUDA_MODULE ": not found");
        return;
    }
    void *sym = dlsym(h, "rnnc__cuda_api");
    if (!sym) {
        snprintf(cuda_load_error, sizeof cuda_load_error, "%s has no rnnc__cuda_api", RNNC_CUDA_MODULE);
        return;
    }
    const rnnc_cuda_api *(*get)(void);
    memcpy(&get, &sym, sizeof get); /* object pointer -> function pointer, as POSIX allows */
    cuda_table = get();
}
#endif

static const char *const device_names[RNNC_DEVICE_COUNT] = {
    [RNNC_DEVICE_CPU] = "cpu",
    [RNNC_DEVICE_CUDA] = "cuda",
    [RNNC_DEVICE_AUTO] = "auto",
};

static rnnc_device current_device = RNNC_DEVICE_CPU;

rnnc_status rnnc_device_parse(const char *name, rnnc_device *out)
{
    if (!name)
        return rnnc_fail(RNNC_E_ARG, "device: no name given (valid: cpu, cuda, auto)");
    for (int d = 0; d < RNNC_DEVICE_COUNT; d++)
        if (strcmp(name, device_names[d]) == 0) {
            *out = (rnnc_device)d;
            return RNNC_OK;
        }
    return rnnc_fail(RNNC_E_ARG, "device: unknown device '%s' (valid: cpu, cuda, auto)", name);
}

const char *rnnc_device_name(rnnc_device d)
{
    return (unsigned)d < RNNC_DEVICE_COUNT ? device_names[d] : "unknown";
}

const rnnc_cuda_api *rnnc_backend_cuda_table(void)
{
#ifdef RNNC_HAVE_CUDA
    pthread_once(&cuda_once, cuda_load);
    return cuda_table;
#else
    return NULL;
#endif
}

bool rnnc_device_built(rnnc_device d)
{
    switch (d) {
    case RNNC_DEVICE_CPU:
    case RNNC_DEVICE_AUTO:
        return true;
    case RNNC_DEVICE_CUDA:
#ifdef RNNC_HAVE_CUDA
        return true; /* without loading the module: asking costs nothing */
#else
        return false;
#endif
    default:
        return false;
    }
}

rnnc_status rnnc_backend_cuda(const rnnc_cuda_api **out)
{
    const rnnc_cuda_api *api = rnnc_backend_cuda_table();
#ifdef RNNC_HAVE_CUDA
    if (!api)
        return rnnc_fail(RNNC_E_NODEV, "no CUDA device present: the CUDA backend could not be loaded (%s)",
                         cuda_load_error);
#endif
    if (!api)
        return rnnc_fail(RNNC_E_NODEV,
                         "CUDA backend not built (configure with -DRNNC_CUDA=ON)");
    int n = 0;
    rnnc_status s = api->device_count(&n);
    if (s != RNNC_OK)
        return rnnc_fail_context(RNNC_E_NODEV, "no CUDA device present: ");
    if (n < 1)
        return rnnc_fail(RNNC_E_NODEV, "no CUDA device present (the driver reports 0 devices)");
    *out = api;
    return RNNC_OK;
}

bool rnnc_device_available(rnnc_device d)
{
    switch (d) {
    case RNNC_DEVICE_CPU:
    case RNNC_DEVICE_AUTO:
        return true;
    case RNNC_DEVICE_CUDA: {
        const rnnc_cuda_api *api;
        /* Availability is a question, not a failure: keep the caller's
         * last error as it was. */
        char saved[2048];
        strncpy(saved, rnnc_last_error(), sizeof saved - 1);
        saved[sizeof saved - 1] = '\0';
        bool ok = rnnc_backend_cuda(&api) == RNNC_OK;
        if (saved[0])
            rnnc_fail(RNNC_E_ARG, "%s", saved);
        else
            rnnc_clear_error();
        return ok;
    }
    default:
        return false;
    }
}

rnnc_status rnnc_device_resolve(rnnc_device want, rnnc_device *out)
{
    const rnnc_cuda_api *api;
    switch (want) {
    case RNNC_DEVICE_CPU:
        *out = RNNC_DEVICE_CPU;
        return RNNC_OK;
    case RNNC_DEVICE_CUDA:
        RNNC_TRY(rnnc_backend_cuda(&api));
        *out = RNNC_DEVICE_CUDA;
        return RNNC_OK;
    case RNNC_DEVICE_AUTO:
        *out = rnnc_device_available(RNNC_DEVICE_CUDA) ? RNNC_DEVICE_CUDA : RNNC_DEVICE_CPU;
        return RNNC_OK;
    default:
        return rnnc_fail(RNNC_E_ARG, "device: invalid device value %d (valid: cpu, cuda, auto)",
                         (int)want);
    }
}

rnnc_status rnnc_set_device(rnnc_device want)
{
    rnnc_device d;
    RNNC_TRY(rnnc_device_resolve(want, &d));
    current_device = d;
    return RNNC_OK;
}

rnnc_device rnnc_current_device(void)
{
    return current_device;
}
