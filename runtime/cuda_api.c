/*
 * cuda_api.c — libcudart through dlopen, and checked wrappers (see cuda_api.h).
 *
 * The CUDA headers are used for types and enums only; every function comes
 * from dlsym into the context. Built without the headers, this file compiles
 * to stubs whose open says so, so the rest of ragged needs no #ifdef.
 */
#include "cuda_api.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <dlfcn.h>
#include <string.h>

#ifndef RG_CUDA_LIB_DIR
#define RG_CUDA_LIB_DIR ""
#endif

void *rg_rt_cuda_dlopen(const char *soname, const char *fallback, char *why, size_t why_size) {
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (lib) return lib;
    const char *e = dlerror();
    snprintf(why, why_size, "%s", e ? e : soname);
    if (RG_CUDA_LIB_DIR[0]) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", RG_CUDA_LIB_DIR, soname);
        lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (lib) return lib;
    }
    return dlopen(fallback, RTLD_NOW | RTLD_LOCAL);
}

#ifndef RG_HAVE_CUDA_HEADERS

#define NO_HEADERS "ragged was built without CUDA headers"

/* The stubs ignore their arguments by design. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

rg_status rg_rt_cuda_open(const rg_allocator *alloc, rg_rt_cuda **out, rg_error *err) {
    (void)alloc, (void)out;
    return rg_error_set(err, RG_ERR_DEVICE, "no usable GPU: %s", NO_HEADERS);
}
/* Nothing below is reachable without a context from rg_rt_cuda_open. */
void rg_rt_cuda_close(rg_rt_cuda *cuda) { (void)cuda; }
int rg_rt_cuda_device_count(const rg_rt_cuda *cuda) { return (void)cuda, 0; }
int rg_rt_cuda_runtime_version(const rg_rt_cuda *cuda) { return (void)cuda, 0; }
int rg_rt_cuda_driver_version(const rg_rt_cuda *cuda) { return (void)cuda, 0; }
rg_status rg_rt_cuda_device_info_get(rg_rt_cuda *cuda, int device, rg_rt_cuda_device_info *info, rg_error *err) {
    (void)cuda, (void)device, (void)info;
    return rg_error_set(err, RG_ERR_DEVICE, NO_HEADERS);
}
void rg_rt_cuda_arch_name(const rg_rt_cuda_device_info *info, char *out, size_t out_size) {
    snprintf(out, out_size, "sm_%d%d", info->sm_major, info->sm_minor);
}
#define STUB() \
    { return rg_error_set(err, RG_ERR_DEVICE, NO_HEADERS); }
rg_status rg_rt_cuda_set_device(rg_rt_cuda *cuda, int device, rg_error *err) STUB()
rg_status rg_rt_cuda_mem_info(rg_rt_cuda *cuda, size_t *f, size_t *t, rg_error *err) STUB()
rg_status rg_rt_cuda_malloc(rg_rt_cuda *cuda, size_t size, void **out, rg_error *err) STUB()
void rg_rt_cuda_free(rg_rt_cuda *cuda, void *p) { (void)cuda, (void)p; }
rg_status rg_rt_cuda_host_alloc(rg_rt_cuda *cuda, size_t size, void **out, rg_error *err) STUB()
void rg_rt_cuda_host_free(rg_rt_cuda *cuda, void *p) { (void)cuda, (void)p; }
rg_status rg_rt_cuda_copy_to_device(rg_rt_cuda *cuda, void *d, const void *s, size_t n, rg_rt_cuda_stream st,
                                    rg_error *err) STUB()
rg_status rg_rt_cuda_copy_to_host(rg_rt_cuda *cuda, void *d, const void *s, size_t n, rg_rt_cuda_stream st,
                                  rg_error *err) STUB()
rg_status rg_rt_cuda_copy_on_device(rg_rt_cuda *cuda, void *d, const void *s, size_t n, rg_rt_cuda_stream st,
                                    rg_error *err) STUB()
rg_status rg_rt_cuda_memset(rg_rt_cuda *cuda, void *d, int v, size_t n, rg_rt_cuda_stream st, rg_error *err) STUB()
rg_status rg_rt_cuda_stream_new(rg_rt_cuda *cuda, rg_rt_cuda_stream *out, rg_error *err) STUB()
void rg_rt_cuda_stream_free(rg_rt_cuda *cuda, rg_rt_cuda_stream s) { (void)cuda, (void)s; }
rg_status rg_rt_cuda_stream_sync(rg_rt_cuda *cuda, rg_rt_cuda_stream s, rg_error *err) STUB()
rg_status rg_rt_cuda_stream_capturing(rg_rt_cuda *cuda, rg_rt_cuda_stream s, bool *capturing, rg_error *err) STUB()
rg_status rg_rt_cuda_device_sync(rg_rt_cuda *cuda, rg_error *err) STUB()
rg_status rg_rt_cuda_event_new(rg_rt_cuda *cuda, rg_rt_cuda_event *out, rg_error *err) STUB()
void rg_rt_cuda_event_free(rg_rt_cuda *cuda, rg_rt_cuda_event e) { (void)cuda, (void)e; }
rg_status rg_rt_cuda_event_record(rg_rt_cuda *cuda, rg_rt_cuda_event e, rg_rt_cuda_stream s, rg_error *err) STUB()
rg_status rg_rt_cuda_event_elapsed(rg_rt_cuda *cuda, rg_rt_cuda_event a, rg_rt_cuda_event b, float *ms,
                                   rg_error *err) STUB()
rg_status rg_rt_cuda_event_record_external(rg_rt_cuda *cuda, rg_rt_cuda_event e, rg_rt_cuda_stream s,
                                           rg_error *err) STUB()
rg_status rg_rt_cuda_library_load(rg_rt_cuda *cuda, const void *image, size_t size, const char *name,
                                  rg_rt_cuda_library *out, rg_error *err) STUB()
void rg_rt_cuda_library_free(rg_rt_cuda *cuda, rg_rt_cuda_library l) { (void)cuda, (void)l; }
rg_status rg_rt_cuda_kernel_get(rg_rt_cuda *cuda, rg_rt_cuda_library l, const char *name, rg_rt_cuda_kernel *out,
                                rg_error *err) STUB()
rg_status rg_rt_cuda_kernel_set_shared(rg_rt_cuda *cuda, rg_rt_cuda_kernel k, int device, size_t bytes,
                                       rg_error *err) STUB()
rg_status rg_rt_cuda_launch(rg_rt_cuda *cuda, rg_rt_cuda_kernel k, const unsigned grid[3], const unsigned block[3],
                            void **args, size_t shared, rg_rt_cuda_stream s, rg_error *err) STUB()
void rg_rt_cuda_set_programmatic(rg_rt_cuda *cuda, bool on) { (void)cuda, (void)on; }
rg_status rg_rt_cuda_time_calls(rg_rt_cuda *cuda, rg_rt_cuda_stream s, rg_rt_cuda_calls_fn fn, void *ctx, int reps,
                                rg_rt_cuda_event ev[2], float *ms, rg_error *err) STUB()
rg_status rg_rt_cuda_launch_cooperative(rg_rt_cuda *cuda, rg_rt_cuda_kernel k, const unsigned grid[3],
                                        const unsigned block[3], void **args, size_t shared, rg_rt_cuda_stream s,
                                        rg_error *err) STUB()
rg_status rg_rt_cuda_blocks_per_sm(rg_rt_cuda *cuda, rg_rt_cuda_kernel k, int threads, size_t shared, int *blocks,
                                   rg_error *err) STUB()
rg_status rg_rt_cuda_tensor_map_2d(rg_rt_cuda *cuda, rg_rt_tensor_map *map, bool bf16, const void *base, uint64_t rows,
                                   uint64_t cols, uint64_t row_bytes, uint32_t box_rows, uint32_t box_cols,
                                   rg_error *err) STUB()
rg_status rg_rt_cuda_time_graph(rg_rt_cuda *cuda, rg_rt_cuda_stream s, rg_rt_cuda_graph g, int launches,
                                rg_rt_cuda_event ev[2], float *ms, rg_error *err) STUB()
rg_status rg_rt_cuda_capture_begin(rg_rt_cuda *cuda, rg_rt_cuda_stream s, rg_error *err) STUB()
rg_status rg_rt_cuda_capture_end(rg_rt_cuda *cuda, rg_rt_cuda_stream s, rg_rt_cuda_graph *out, rg_error *err) STUB()
rg_status rg_rt_cuda_graph_launch(rg_rt_cuda *cuda, rg_rt_cuda_graph g, rg_rt_cuda_stream s, rg_error *err) STUB()
void rg_rt_cuda_graph_free(rg_rt_cuda *cuda, rg_rt_cuda_graph g) { (void)cuda, (void)g; }

#else


/* cuTensorMapEncodeTiled lives in libcuda, which ragged reaches through the
 * runtime's driver entry points. Its type and the values of its enums (the
 * driver API's, cuda.h) are spelled out here, because not every install with
 * the runtime's headers has the driver's; where cuda.h is there, they are
 * checked against it. */
enum {
    TMAP_FLOAT16 = 6,
    TMAP_BFLOAT16 = 9,
    TMAP_INTERLEAVE_NONE = 0,
    TMAP_SWIZZLE_128B = 3,
    TMAP_L2_PROMOTION_256B = 3,
    TMAP_OOB_FILL_NONE = 0, /* zeros */
};
typedef int (*encode_tiled_fn)(void *map, int dtype, uint32_t rank, void *base, const uint64_t *dims,
                               const uint64_t *strides, const uint32_t *box, const uint32_t *element_strides,
                               int interleave, int swizzle, int l2_promotion, int oob_fill);
#if defined(__has_include)
#if __has_include(<cuda.h>)
#include <cuda.h>
_Static_assert(sizeof(rg_rt_tensor_map) == sizeof(CUtensorMap) && _Alignof(rg_rt_tensor_map) == _Alignof(CUtensorMap),
               "rg_rt_tensor_map mirrors CUtensorMap");
_Static_assert((int)CU_TENSOR_MAP_DATA_TYPE_FLOAT16 == TMAP_FLOAT16 &&
                   (int)CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 == TMAP_BFLOAT16 &&
                   (int)CU_TENSOR_MAP_INTERLEAVE_NONE == TMAP_INTERLEAVE_NONE &&
                   (int)CU_TENSOR_MAP_SWIZZLE_128B == TMAP_SWIZZLE_128B &&
                   (int)CU_TENSOR_MAP_L2_PROMOTION_L2_256B == TMAP_L2_PROMOTION_256B &&
                   (int)CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE == TMAP_OOB_FILL_NONE && (int)CUDA_SUCCESS == 0,
               "the driver API's tensor-map values");
_Static_assert(sizeof(cuuint64_t) == sizeof(uint64_t) && sizeof(cuuint32_t) == sizeof(uint32_t),
               "the driver API's integer types");
#endif
#endif

struct rg_rt_cuda {
    const rg_allocator *alloc;
    void *library;
    int runtime_version, driver_version, device_count;
    rg_rt_cuda_fns fn;
    encode_tiled_fn encode_tiled; /* NULL: no TMA (an older driver) */
    bool programmatic;            /* rg_rt_cuda_set_programmatic */
};

const rg_rt_cuda_fns *rg_rt_cuda_functions(const rg_rt_cuda *cuda) { return &cuda->fn; }

/* "what: CUDA's sentence (cudaErrorName)" as RG_ERR_DEVICE. */
static rg_status cuda_fail(const rg_rt_cuda *cuda, cudaError_t e, rg_error *err, const char *fmt, ...)
    RG_PRINTF(4, 5);
static rg_status cuda_fail(const rg_rt_cuda *cuda, cudaError_t e, rg_error *err, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *text = cuda->fn.GetErrorString ? cuda->fn.GetErrorString(e) : NULL;
    const char *name = cuda->fn.GetErrorName ? cuda->fn.GetErrorName(e) : NULL;
    return rg_error_set(err, RG_ERR_DEVICE, "%s: %s (%s)", what, text ? text : "unknown CUDA error",
                        name ? name : "?");
}

#define CUDA_TRY(call, ...)                                                   \
    do {                                                                      \
        cudaError_t rg_cuda_e_ = (call);                                      \
        if (rg_cuda_e_ != cudaSuccess) return cuda_fail(cuda, rg_cuda_e_, err, __VA_ARGS__); \
    } while (0)

/* The versioned soname first (what CUDA 13 installs), then the toolkit's
 * folder (not always in the loader's path), then the bare name; the first
 * dlerror is reported because it names the library wanted. */
static rg_status resolve_all(rg_rt_cuda *c, rg_error *err) {
    rg_rt_cuda_fns *f = &c->fn;
    const struct {
        const char *symbol;
        void **slot;
    } table[] = {
        {"cudaGetErrorString", (void **)&f->GetErrorString},
        {"cudaGetErrorName", (void **)&f->GetErrorName},
        {"cudaGetLastError", (void **)&f->GetLastError},
        {"cudaRuntimeGetVersion", (void **)&f->RuntimeGetVersion},
        {"cudaDriverGetVersion", (void **)&f->DriverGetVersion},
        {"cudaGetDeviceCount", (void **)&f->GetDeviceCount},
        {"cudaGetDeviceProperties", (void **)&f->GetDeviceProperties},
        {"cudaDeviceGetAttribute", (void **)&f->DeviceGetAttribute},
        {"cudaSetDevice", (void **)&f->SetDevice},
        {"cudaDeviceSynchronize", (void **)&f->DeviceSynchronize},
        {"cudaMemGetInfo", (void **)&f->MemGetInfo},
        {"cudaMalloc", (void **)&f->Malloc},
        {"cudaFree", (void **)&f->Free},
        {"cudaMallocHost", (void **)&f->MallocHost},
        {"cudaFreeHost", (void **)&f->FreeHost},
        {"cudaMemcpy", (void **)&f->Memcpy},
        {"cudaMemcpyAsync", (void **)&f->MemcpyAsync},
        {"cudaMemset", (void **)&f->Memset},
        {"cudaMemsetAsync", (void **)&f->MemsetAsync},
        {"cudaStreamCreateWithFlags", (void **)&f->StreamCreateWithFlags},
        {"cudaStreamDestroy", (void **)&f->StreamDestroy},
        {"cudaStreamSynchronize", (void **)&f->StreamSynchronize},
        {"cudaStreamIsCapturing", (void **)&f->StreamIsCapturing},
        {"cudaEventCreate", (void **)&f->EventCreate},
        {"cudaEventDestroy", (void **)&f->EventDestroy},
        {"cudaEventRecord", (void **)&f->EventRecord},
        {"cudaEventRecordWithFlags", (void **)&f->EventRecordWithFlags},
        {"cudaEventElapsedTime", (void **)&f->EventElapsedTime},
        {"cudaLibraryLoadData", (void **)&f->LibraryLoadData},
        {"cudaLibraryUnload", (void **)&f->LibraryUnload},
        {"cudaLibraryGetKernel", (void **)&f->LibraryGetKernel},
        {"cudaKernelSetAttributeForDevice", (void **)&f->KernelSetAttributeForDevice},
        {"cudaLaunchKernel", (void **)&f->LaunchKernel},
        {"cudaLaunchKernelExC", (void **)&f->LaunchKernelExC},
        {"cudaOccupancyMaxActiveBlocksPerMultiprocessor", (void **)&f->OccupancyMaxActiveBlocksPerMultiprocessor},
        {"cudaStreamBeginCapture", (void **)&f->StreamBeginCapture},
        {"cudaStreamEndCapture", (void **)&f->StreamEndCapture},
        {"cudaGraphInstantiate", (void **)&f->GraphInstantiate},
        {"cudaGraphLaunch", (void **)&f->GraphLaunch},
        {"cudaGraphExecDestroy", (void **)&f->GraphExecDestroy},
        {"cudaGraphDestroy", (void **)&f->GraphDestroy},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        *table[i].slot = dlsym(c->library, table[i].symbol);
        if (!*table[i].slot)
            return rg_error_set(err, RG_ERR_DEVICE, "no usable GPU: the CUDA runtime lacks %s (CUDA 12 or newer needed)",
                                table[i].symbol);
    }
    return RG_OK;
}

/* Driver functions the runtime does not wrap, optional: where one is
 * missing, what needs it says so when asked for. */
static void resolve_driver(rg_rt_cuda *c) {
    typedef cudaError_t (*by_version_fn)(const char *, void **, unsigned, unsigned long long,
                                         enum cudaDriverEntryPointQueryResult *);
    by_version_fn by_version = (by_version_fn)dlsym(c->library, "cudaGetDriverEntryPointByVersion");
    void *fn = NULL;
    enum cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    if (by_version && by_version("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found) == cudaSuccess &&
        found == cudaDriverEntryPointSuccess)
        c->encode_tiled = (encode_tiled_fn)fn;
    else if (c->fn.GetLastError)
        c->fn.GetLastError(); /* not sticky, but leave no error behind */
}

/* Versions, then devices. struct cudaDeviceProp changes between major
 * versions, so a runtime of another major than the headers is refused. */
static rg_status check_usable(rg_rt_cuda *c, rg_error *err) {
    cudaError_t e = c->fn.RuntimeGetVersion(&c->runtime_version);
    if (e != cudaSuccess) return cuda_fail(c, e, err, "no usable GPU: cudaRuntimeGetVersion");
    if (c->runtime_version / 1000 != CUDART_VERSION / 1000)
        return rg_error_set(err, RG_ERR_DEVICE,
                            "no usable GPU: the CUDA runtime is %d.%d but ragged was built for CUDA %d.x",
                            c->runtime_version / 1000, c->runtime_version % 1000 / 10, CUDART_VERSION / 1000);
    if (c->fn.DriverGetVersion(&c->driver_version) != cudaSuccess) c->driver_version = 0;
    e = c->fn.GetDeviceCount(&c->device_count);
    if (e != cudaSuccess) return cuda_fail(c, e, err, "no usable GPU: cudaGetDeviceCount");
    if (c->device_count <= 0)
        return rg_error_set(err, RG_ERR_DEVICE, "no usable GPU: cudaGetDeviceCount found no CUDA device");
    return RG_OK;
}

rg_status rg_rt_cuda_open(const rg_allocator *alloc, rg_rt_cuda **out, rg_error *err) {
    if (!alloc) alloc = rg_allocator_default();
    char why[256];
    void *lib = rg_rt_cuda_dlopen("libcudart.so.13", "libcudart.so", why, sizeof why);
    if (!lib) return rg_error_set(err, RG_ERR_DEVICE, "no usable GPU: CUDA runtime not found: %s", why);
    rg_rt_cuda *c = rg_mem_calloc(alloc, 1, sizeof *c);
    if (!c) {
        dlclose(lib);
        return rg_error_set(err, RG_ERR_NOMEM, "out of memory opening the CUDA runtime");
    }
    c->alloc = alloc;
    c->library = lib;
    rg_status st = resolve_all(c, err);
    if (st == RG_OK) st = check_usable(c, err);
    if (st == RG_OK) resolve_driver(c);
    if (st != RG_OK) {
        dlclose(lib);
        rg_mem_free(alloc, c, sizeof *c);
        return st;
    }
    *out = c;
    return RG_OK;
}

void rg_rt_cuda_close(rg_rt_cuda *cuda) {
    if (!cuda) return;
    dlclose(cuda->library);
    rg_mem_free(cuda->alloc, cuda, sizeof *cuda);
}

int rg_rt_cuda_device_count(const rg_rt_cuda *cuda) { return cuda->device_count; }
int rg_rt_cuda_runtime_version(const rg_rt_cuda *cuda) { return cuda->runtime_version; }
int rg_rt_cuda_driver_version(const rg_rt_cuda *cuda) { return cuda->driver_version; }

rg_status rg_rt_cuda_device_info_get(rg_rt_cuda *cuda, int device, rg_rt_cuda_device_info *info, rg_error *err) {
    if (device < 0 || device >= cuda->device_count)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "CUDA device %d does not exist (%d devices)", device,
                            cuda->device_count);
    struct cudaDeviceProp prop;
    memset(&prop, 0, sizeof prop);
    CUDA_TRY(cuda->fn.GetDeviceProperties(&prop, device), "cudaGetDeviceProperties(device %d)", device);
    rg_rt_cuda_device_info got;
    memset(&got, 0, sizeof got);
    snprintf(got.name, sizeof got.name, "%.*s", (int)sizeof prop.name, prop.name);
    got.sm_major = prop.major;
    got.sm_minor = prop.minor;
    got.multiprocessors = prop.multiProcessorCount;
    got.total_memory = prop.totalGlobalMem;
    *info = got;
    return RG_OK;
}

void rg_rt_cuda_arch_name(const rg_rt_cuda_device_info *info, char *out, size_t out_size) {
    snprintf(out, out_size, "sm_%d%d", info->sm_major, info->sm_minor);
}

rg_status rg_rt_cuda_set_device(rg_rt_cuda *cuda, int device, rg_error *err) {
    CUDA_TRY(cuda->fn.SetDevice(device), "cudaSetDevice(%d)", device);
    return RG_OK;
}

rg_status rg_rt_cuda_mem_info(rg_rt_cuda *cuda, size_t *free_bytes, size_t *total_bytes, rg_error *err) {
    size_t f = 0, t = 0;
    CUDA_TRY(cuda->fn.MemGetInfo(&f, &t), "cudaMemGetInfo");
    *free_bytes = f;
    *total_bytes = t;
    return RG_OK;
}

rg_status rg_rt_cuda_malloc(rg_rt_cuda *cuda, size_t size, void **out, rg_error *err) {
    void *p = NULL;
    CUDA_TRY(cuda->fn.Malloc(&p, size), "cudaMalloc(%zu bytes)", size);
    *out = p;
    return RG_OK;
}

void rg_rt_cuda_free(rg_rt_cuda *cuda, void *device_ptr) {
    if (device_ptr) cuda->fn.Free(device_ptr);
}

rg_status rg_rt_cuda_host_alloc(rg_rt_cuda *cuda, size_t size, void **out, rg_error *err) {
    void *p = NULL;
    CUDA_TRY(cuda->fn.MallocHost(&p, size ? size : 1), "cudaMallocHost(%zu bytes)", size);
    *out = p;
    return RG_OK;
}

void rg_rt_cuda_host_free(rg_rt_cuda *cuda, void *host_ptr) {
    if (host_ptr) cuda->fn.FreeHost(host_ptr);
}

static rg_status copy(rg_rt_cuda *cuda, void *dst, const void *src, size_t size, enum cudaMemcpyKind kind,
                      rg_rt_cuda_stream stream, const char *what, rg_error *err) {
    if (size == 0) return RG_OK;
    if (stream)
        CUDA_TRY(cuda->fn.MemcpyAsync(dst, src, size, kind, (cudaStream_t)stream), "cudaMemcpyAsync(%zu bytes, %s)",
                 size, what);
    else
        CUDA_TRY(cuda->fn.Memcpy(dst, src, size, kind), "cudaMemcpy(%zu bytes, %s)", size, what);
    return RG_OK;
}

rg_status rg_rt_cuda_copy_to_device(rg_rt_cuda *cuda, void *dst, const void *src, size_t size,
                                    rg_rt_cuda_stream stream, rg_error *err) {
    return copy(cuda, dst, src, size, cudaMemcpyHostToDevice, stream, "host to device", err);
}

rg_status rg_rt_cuda_copy_to_host(rg_rt_cuda *cuda, void *dst, const void *src, size_t size,
                                  rg_rt_cuda_stream stream, rg_error *err) {
    return copy(cuda, dst, src, size, cudaMemcpyDeviceToHost, stream, "device to host", err);
}

rg_status rg_rt_cuda_copy_on_device(rg_rt_cuda *cuda, void *dst, const void *src, size_t size,
                                    rg_rt_cuda_stream stream, rg_error *err) {
    return copy(cuda, dst, src, size, cudaMemcpyDeviceToDevice, stream, "device to device", err);
}

rg_status rg_rt_cuda_memset(rg_rt_cuda *cuda, void *dst, int value, size_t size, rg_rt_cuda_stream stream,
                            rg_error *err) {
    if (size == 0) return RG_OK;
    if (stream)
        CUDA_TRY(cuda->fn.MemsetAsync(dst, value, size, (cudaStream_t)stream), "cudaMemsetAsync(%zu bytes)", size);
    else
        CUDA_TRY(cuda->fn.Memset(dst, value, size), "cudaMemset(%zu bytes)", size);
    return RG_OK;
}

rg_status rg_rt_cuda_stream_new(rg_rt_cuda *cuda, rg_rt_cuda_stream *out, rg_error *err) {
    cudaStream_t s = NULL;
    CUDA_TRY(cuda->fn.StreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    *out = (rg_rt_cuda_stream)s;
    return RG_OK;
}

void rg_rt_cuda_stream_free(rg_rt_cuda *cuda, rg_rt_cuda_stream stream) {
    if (stream) cuda->fn.StreamDestroy((cudaStream_t)stream);
}

rg_status rg_rt_cuda_stream_sync(rg_rt_cuda *cuda, rg_rt_cuda_stream stream, rg_error *err) {
    CUDA_TRY(cuda->fn.StreamSynchronize((cudaStream_t)stream), "cudaStreamSynchronize");
    return RG_OK;
}

rg_status rg_rt_cuda_stream_capturing(rg_rt_cuda *cuda, rg_rt_cuda_stream stream, bool *capturing, rg_error *err) {
    enum cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    CUDA_TRY(cuda->fn.StreamIsCapturing((cudaStream_t)stream, &status), "cudaStreamIsCapturing");
    *capturing = status != cudaStreamCaptureStatusNone;
    return RG_OK;
}

rg_status rg_rt_cuda_device_sync(rg_rt_cuda *cuda, rg_error *err) {
    CUDA_TRY(cuda->fn.DeviceSynchronize(), "cudaDeviceSynchronize");
    return RG_OK;
}

rg_status rg_rt_cuda_event_new(rg_rt_cuda *cuda, rg_rt_cuda_event *out, rg_error *err) {
    cudaEvent_t e = NULL;
    CUDA_TRY(cuda->fn.EventCreate(&e), "cudaEventCreate");
    *out = (rg_rt_cuda_event)e;
    return RG_OK;
}

void rg_rt_cuda_event_free(rg_rt_cuda *cuda, rg_rt_cuda_event event) {
    if (event) cuda->fn.EventDestroy((cudaEvent_t)event);
}

rg_status rg_rt_cuda_event_record(rg_rt_cuda *cuda, rg_rt_cuda_event event, rg_rt_cuda_stream stream,
                                  rg_error *err) {
    CUDA_TRY(cuda->fn.EventRecord((cudaEvent_t)event, (cudaStream_t)stream), "cudaEventRecord");
    return RG_OK;
}

rg_status rg_rt_cuda_event_record_external(rg_rt_cuda *cuda, rg_rt_cuda_event event, rg_rt_cuda_stream stream,
                                           rg_error *err) {
    CUDA_TRY(cuda->fn.EventRecordWithFlags((cudaEvent_t)event, (cudaStream_t)stream, cudaEventRecordExternal),
             "cudaEventRecordWithFlags(external)");
    return RG_OK;
}

rg_status rg_rt_cuda_event_elapsed(rg_rt_cuda *cuda, rg_rt_cuda_event start, rg_rt_cuda_event end, float *ms,
                                   rg_error *err) {
    float t = 0;
    CUDA_TRY(cuda->fn.EventElapsedTime(&t, (cudaEvent_t)start, (cudaEvent_t)end), "cudaEventElapsedTime");
    *ms = t;
    return RG_OK;
}

/* cudaLibraryLoadData takes no size, so an image from a plan file is checked
 * here first: an ELF cubin's section header table must lie inside `size`.
 * Fatbins (magic 0xBA55ED50) carry their own size in the header. */
static rg_status check_image(const void *image, size_t size, const char *name, rg_error *err) {
    const unsigned char *b = image;
    if (!image || size < 16) return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "kernel image '%s' is empty", name);
    if (memcmp(b, "\x7f" "ELF", 4) == 0) {
        if (size < 64 || b[4] != 2 || b[5] != 1)
            return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "kernel image '%s' is not a 64-bit little-endian ELF", name);
        uint64_t shoff = 0;
        uint16_t shentsize = 0, shnum = 0;
        memcpy(&shoff, b + 0x28, 8);
        memcpy(&shentsize, b + 0x3a, 2);
        memcpy(&shnum, b + 0x3c, 2);
        uint64_t end = (uint64_t)shentsize * shnum;
        if (shoff > size || end > size - shoff)
            return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "kernel image '%s' is cut short (%zu bytes)", name, size);
        return RG_OK;
    }
    uint32_t magic;
    memcpy(&magic, b, 4);
    if (magic == 0xBA55ED50u) {
        uint64_t body = 0;
        uint16_t header = 0;
        memcpy(&header, b + 6, 2);
        memcpy(&body, b + 8, 8);
        if (header > size || body > size - header)
            return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "kernel image '%s' is cut short (%zu bytes)", name, size);
        return RG_OK;
    }
    return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "kernel image '%s' is neither a cubin nor a fatbin", name);
}

rg_status rg_rt_cuda_library_load(rg_rt_cuda *cuda, const void *image, size_t size, const char *name,
                                  rg_rt_cuda_library *out, rg_error *err) {
    if (!name) name = "?";
    RG_TRY(check_image(image, size, name, err));
    cudaLibrary_t lib = NULL;
    CUDA_TRY(cuda->fn.LibraryLoadData(&lib, image, NULL, NULL, 0, NULL, NULL, 0), "cudaLibraryLoadData('%s')", name);
    *out = (rg_rt_cuda_library)lib;
    return RG_OK;
}

void rg_rt_cuda_library_free(rg_rt_cuda *cuda, rg_rt_cuda_library library) {
    if (library) cuda->fn.LibraryUnload((cudaLibrary_t)library);
}

rg_status rg_rt_cuda_kernel_get(rg_rt_cuda *cuda, rg_rt_cuda_library library, const char *name,
                                rg_rt_cuda_kernel *out, rg_error *err) {
    cudaKernel_t k = NULL;
    CUDA_TRY(cuda->fn.LibraryGetKernel(&k, (cudaLibrary_t)library, name), "cudaLibraryGetKernel('%s')", name);
    *out = (rg_rt_cuda_kernel)k;
    return RG_OK;
}

rg_status rg_rt_cuda_kernel_set_shared(rg_rt_cuda *cuda, rg_rt_cuda_kernel kernel, int device, size_t bytes,
                                       rg_error *err) {
    if (bytes > INT_MAX) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "%zu bytes of shared memory", bytes);
    CUDA_TRY(cuda->fn.KernelSetAttributeForDevice((cudaKernel_t)kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                  (int)bytes, device),
             "cudaKernelSetAttributeForDevice(max dynamic shared memory %zu bytes, device %d)", bytes, device);
    return RG_OK;
}

/* A launch with the attributes asked for (cooperative) and set on the
 * context (programmatic); with none, a plain cudaLaunchKernel. Both accept
 * a cudaKernel_t cast to const void * (CUDA 12+). */
static rg_status launch(rg_rt_cuda *cuda, rg_rt_cuda_kernel kernel, const unsigned grid[3], const unsigned block[3],
                        void **args, size_t shared_bytes, rg_rt_cuda_stream stream, bool cooperative, rg_error *err) {
    dim3 g = {grid[0], grid[1], grid[2]};
    dim3 b = {block[0], block[1], block[2]};
    cudaLaunchAttribute attrs[2];
    unsigned count = 0;
    if (cooperative) {
        attrs[count] = (cudaLaunchAttribute){.id = cudaLaunchAttributeCooperative};
        attrs[count++].val.cooperative = 1;
    }
    if (cuda->programmatic) {
        attrs[count] = (cudaLaunchAttribute){.id = cudaLaunchAttributeProgrammaticStreamSerialization};
        attrs[count++].val.programmaticStreamSerializationAllowed = 1;
    }
    if (count) {
        cudaLaunchConfig_t config = {.gridDim = g, .blockDim = b, .dynamicSmemBytes = shared_bytes,
                                     .stream = (cudaStream_t)stream, .attrs = attrs, .numAttrs = count};
        CUDA_TRY(cuda->fn.LaunchKernelExC(&config, (const void *)kernel, args),
                 "cudaLaunchKernelExC(grid %ux%ux%u, block %ux%ux%u, %zu bytes shared%s%s)", g.x, g.y, g.z, b.x, b.y,
                 b.z, shared_bytes, cooperative ? ", cooperative" : "", cuda->programmatic ? ", programmatic" : "");
        return RG_OK;
    }
    CUDA_TRY(cuda->fn.LaunchKernel((const void *)kernel, g, b, args, shared_bytes, (cudaStream_t)stream),
             "cudaLaunchKernel(grid %ux%ux%u, block %ux%ux%u, %zu bytes shared)", g.x, g.y, g.z, b.x, b.y, b.z,
             shared_bytes);
    return RG_OK;
}

rg_status rg_rt_cuda_launch(rg_rt_cuda *cuda, rg_rt_cuda_kernel kernel, const unsigned grid[3],
                            const unsigned block[3], void **args, size_t shared_bytes, rg_rt_cuda_stream stream,
                            rg_error *err) {
    return launch(cuda, kernel, grid, block, args, shared_bytes, stream, false, err);
}

void rg_rt_cuda_set_programmatic(rg_rt_cuda *cuda, bool on) { cuda->programmatic = on; }

rg_status rg_rt_cuda_launch_cooperative(rg_rt_cuda *cuda, rg_rt_cuda_kernel kernel, const unsigned grid[3],
                                        const unsigned block[3], void **args, size_t shared_bytes,
                                        rg_rt_cuda_stream stream, rg_error *err) {
    return launch(cuda, kernel, grid, block, args, shared_bytes, stream, true, err);
}

rg_status rg_rt_cuda_blocks_per_sm(rg_rt_cuda *cuda, rg_rt_cuda_kernel kernel, int threads, size_t shared_bytes,
                                   int *blocks, rg_error *err) {
    CUDA_TRY(cuda->fn.OccupancyMaxActiveBlocksPerMultiprocessor(blocks, (const void *)kernel, threads, shared_bytes),
             "cudaOccupancyMaxActiveBlocksPerMultiprocessor(%d threads, %zu bytes shared)", threads, shared_bytes);
    return RG_OK;
}

rg_status rg_rt_cuda_tensor_map_2d(rg_rt_cuda *cuda, rg_rt_tensor_map *map, bool bf16, const void *base, uint64_t rows,
                                   uint64_t cols, uint64_t row_bytes, uint32_t box_rows, uint32_t box_cols,
                                   rg_error *err) {
    if (!cuda->encode_tiled)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "tensor map: the CUDA driver has no cuTensorMapEncodeTiled");
    const uint64_t dims[2] = {cols, rows}, strides[1] = {row_bytes};
    const uint32_t box[2] = {box_cols, box_rows}, unit[2] = {1, 1};
    int r = cuda->encode_tiled(map, bf16 ? TMAP_BFLOAT16 : TMAP_FLOAT16, 2, (void *)base, dims, strides, box, unit,
                               TMAP_INTERLEAVE_NONE, TMAP_SWIZZLE_128B, TMAP_L2_PROMOTION_256B, TMAP_OOB_FILL_NONE);
    if (r != 0)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT,
                            "tensor map of %llu x %llu (rows %llu bytes apart, box %u x %u): cuTensorMapEncodeTiled "
                            "error %d", (unsigned long long)rows, (unsigned long long)cols,
                            (unsigned long long)row_bytes, box_rows, box_cols, (int)r);
    return RG_OK;
}

rg_status rg_rt_cuda_capture_begin(rg_rt_cuda *cuda, rg_rt_cuda_stream stream, rg_error *err) {
    CUDA_TRY(cuda->fn.StreamBeginCapture((cudaStream_t)stream, cudaStreamCaptureModeThreadLocal),
             "cudaStreamBeginCapture");
    return RG_OK;
}

rg_status rg_rt_cuda_capture_end(rg_rt_cuda *cuda, rg_rt_cuda_stream stream, rg_rt_cuda_graph *out,
                                 rg_error *err) {
    cudaGraph_t graph = NULL;
    CUDA_TRY(cuda->fn.StreamEndCapture((cudaStream_t)stream, &graph), "cudaStreamEndCapture");
    cudaGraphExec_t exec = NULL;
    cudaError_t e = cuda->fn.GraphInstantiate(&exec, graph, 0);
    cuda->fn.GraphDestroy(graph); /* the executable graph keeps what it needs */
    if (e != cudaSuccess) return cuda_fail(cuda, e, err, "cudaGraphInstantiate");
    *out = (rg_rt_cuda_graph)exec;
    return RG_OK;
}

rg_status rg_rt_cuda_graph_launch(rg_rt_cuda *cuda, rg_rt_cuda_graph graph, rg_rt_cuda_stream stream,
                                  rg_error *err) {
    CUDA_TRY(cuda->fn.GraphLaunch((cudaGraphExec_t)graph, (cudaStream_t)stream), "cudaGraphLaunch");
    return RG_OK;
}

void rg_rt_cuda_graph_free(rg_rt_cuda *cuda, rg_rt_cuda_graph graph) {
    if (graph) cuda->fn.GraphExecDestroy((cudaGraphExec_t)graph);
}

rg_status rg_rt_cuda_time_calls(rg_rt_cuda *cuda, rg_rt_cuda_stream stream, rg_rt_cuda_calls_fn fn, void *ctx,
                                int reps, rg_rt_cuda_event ev[2], float *ms, rg_error *err) {
    *ms = -1;
    RG_TRY(fn(ctx, stream, err));
    rg_rt_cuda_graph graph = NULL;
    if (stream) {
        rg_error ignored = {0};
        if (rg_rt_cuda_capture_begin(cuda, stream, &ignored) == RG_OK) {
            rg_status st = RG_OK;
            for (int r = 0; r < reps && st == RG_OK; r++) st = fn(ctx, stream, err);
            if (rg_rt_cuda_capture_end(cuda, stream, &graph, &ignored) != RG_OK) graph = NULL;
            if (st != RG_OK) {
                if (graph) rg_rt_cuda_graph_free(cuda, graph);
                return st;
            }
        }
    }
    float total = 0;
    rg_status st = RG_OK;
    if (graph) {
        st = rg_rt_cuda_time_graph(cuda, stream, graph, 1, ev, &total, err); /* all reps in one launch */
        rg_rt_cuda_graph_free(cuda, graph);
    } else {
        st = rg_rt_cuda_event_record(cuda, ev[0], stream, err);
        for (int r = 0; r < reps && st == RG_OK; r++) st = fn(ctx, stream, err);
        if (st == RG_OK) st = rg_rt_cuda_event_record(cuda, ev[1], stream, err);
        if (st == RG_OK) st = rg_rt_cuda_stream_sync(cuda, stream, err);
        if (st == RG_OK) st = rg_rt_cuda_event_elapsed(cuda, ev[0], ev[1], &total, err);
    }
    if (st == RG_OK) *ms = total / (float)reps;
    return st;
}

rg_status rg_rt_cuda_time_graph(rg_rt_cuda *cuda, rg_rt_cuda_stream stream, rg_rt_cuda_graph graph, int launches,
                                rg_rt_cuda_event ev[2], float *ms, rg_error *err) {
    RG_TRY(rg_rt_cuda_graph_launch(cuda, graph, stream, err)); /* warm the graph */
    RG_TRY(rg_rt_cuda_event_record(cuda, ev[0], stream, err));
    for (int r = 0; r < launches; r++) RG_TRY(rg_rt_cuda_graph_launch(cuda, graph, stream, err));
    RG_TRY(rg_rt_cuda_event_record(cuda, ev[1], stream, err));
    RG_TRY(rg_rt_cuda_stream_sync(cuda, stream, err));
    float total = 0;
    RG_TRY(rg_rt_cuda_event_elapsed(cuda, ev[0], ev[1], &total, err));
    *ms = total / (float)launches;
    return RG_OK;
}

#endif
