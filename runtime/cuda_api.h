/*
 * cuda_api.h — the CUDA runtime, loaded at run time, behind checked wrappers.
 *
 * The same ragged binary must start on machines with no GPU, no driver and no
 * CUDA libraries, so libcudart is never linked: rg_rt_cuda_open dlopens it,
 * resolves the functions ragged uses into a context the caller owns (no
 * globals), and checks that a device is usable. When it is not, the open
 * fails with RG_ERR_DEVICE and a one-line reason, which the caller prints
 * before falling back to the CPU executor. Nothing links libcuda: kernels are
 * loaded with cudaLibraryLoadData and launched with cudaLaunchKernel.
 *
 * Each wrapper returns an rg_status whose message names the CUDA call and
 * CUDA's own words for the error. Handles are opaque pointers that are the
 * CUDA handles underneath.
 */
#ifndef RG_RT_CUDA_API_H
#define RG_RT_CUDA_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/arena.h"
#include "ir/error.h"

typedef struct rg_rt_cuda rg_rt_cuda;
typedef struct rg_rt_cuda_stream_handle *rg_rt_cuda_stream;   /* cudaStream_t; NULL: the default stream */
typedef struct rg_rt_cuda_event_handle *rg_rt_cuda_event;     /* cudaEvent_t */
typedef struct rg_rt_cuda_library_handle *rg_rt_cuda_library; /* cudaLibrary_t */
typedef struct rg_rt_cuda_kernel_handle *rg_rt_cuda_kernel;   /* cudaKernel_t */
typedef struct rg_rt_cuda_graph_handle *rg_rt_cuda_graph;     /* cudaGraphExec_t */

typedef struct rg_rt_cuda_device_info {
    char name[256];
    int sm_major, sm_minor; /* compute capability, e.g. 9 and 0 */
    int multiprocessors;
    size_t total_memory;    /* bytes */
} rg_rt_cuda_device_info;

/* Loads libcudart (libcudart.so.13, the toolkit's lib dir found at configure
 * time, then libcudart.so), resolves its functions and counts devices. Fails
 * with RG_ERR_DEVICE and a one-line reason when there is no usable GPU: the
 * library is missing, it is a different major version than the headers
 * ragged was built with, cudaGetDeviceCount fails (on a machine without a
 * driver: "CUDA driver version is insufficient for CUDA runtime version"), or
 * there are no devices. Does not select a device or create a context. */
rg_status rg_rt_cuda_open(const rg_allocator *alloc, rg_rt_cuda **out, rg_error *err);
/* dlopen of a CUDA library: `soname`, then the toolkit's lib dir found at
 * configure time, then `fallback` (the unversioned name). On failure NULL,
 * with the first dlerror in `why`. */
void *rg_rt_cuda_dlopen(const char *soname, const char *fallback, char *why, size_t why_size);
/* Unloads the library; NULL does nothing. Free every handle first. */
void rg_rt_cuda_close(rg_rt_cuda *cuda);

int rg_rt_cuda_device_count(const rg_rt_cuda *cuda);
/* CUDA versions as 1000 * major + 10 * minor (13000 for 13.0). */
int rg_rt_cuda_runtime_version(const rg_rt_cuda *cuda);
int rg_rt_cuda_driver_version(const rg_rt_cuda *cuda);

rg_status rg_rt_cuda_device_info_get(rg_rt_cuda *cuda, int device, rg_rt_cuda_device_info *info, rg_error *err);
/* Writes "sm_90" style names for NVRTC. */
void rg_rt_cuda_arch_name(const rg_rt_cuda_device_info *info, char *out, size_t out_size);
rg_status rg_rt_cuda_set_device(rg_rt_cuda *cuda, int device, rg_error *err);
rg_status rg_rt_cuda_mem_info(rg_rt_cuda *cuda, size_t *free_bytes, size_t *total_bytes, rg_error *err);

/* Device memory. free(NULL) does nothing. */
rg_status rg_rt_cuda_malloc(rg_rt_cuda *cuda, size_t size, void **out, rg_error *err);
void rg_rt_cuda_free(rg_rt_cuda *cuda, void *device_ptr);
/* Page-locked host memory (cudaMallocHost): copies from and to it are
 * truly asynchronous and may be captured in a CUDA graph. free(NULL) does
 * nothing. */
rg_status rg_rt_cuda_host_alloc(rg_rt_cuda *cuda, size_t size, void **out, rg_error *err);
void rg_rt_cuda_host_free(rg_rt_cuda *cuda, void *host_ptr);
/* Copies; with a NULL stream they are synchronous (cudaMemcpy), otherwise
 * asynchronous on `stream` (cudaMemcpyAsync). */
rg_status rg_rt_cuda_copy_to_device(rg_rt_cuda *cuda, void *dst, const void *src, size_t size,
                                    rg_rt_cuda_stream stream, rg_error *err);
rg_status rg_rt_cuda_copy_to_host(rg_rt_cuda *cuda, void *dst, const void *src, size_t size,
                                  rg_rt_cuda_stream stream, rg_error *err);
rg_status rg_rt_cuda_copy_on_device(rg_rt_cuda *cuda, void *dst, const void *src, size_t size,
                                    rg_rt_cuda_stream stream, rg_error *err);
rg_status rg_rt_cuda_memset(rg_rt_cuda *cuda, void *dst, int value, size_t size, rg_rt_cuda_stream stream,
                            rg_error *err);

/* Streams (non-blocking with respect to the default stream). */
rg_status rg_rt_cuda_stream_new(rg_rt_cuda *cuda, rg_rt_cuda_stream *out, rg_error *err);
void rg_rt_cuda_stream_free(rg_rt_cuda *cuda, rg_rt_cuda_stream stream);
rg_status rg_rt_cuda_stream_sync(rg_rt_cuda *cuda, rg_rt_cuda_stream stream, rg_error *err);
/* Whether work queued on `stream` now goes into a graph being captured
 * (then nothing may wait for it). */
rg_status rg_rt_cuda_stream_capturing(rg_rt_cuda *cuda, rg_rt_cuda_stream stream, bool *capturing, rg_error *err);
/* cudaDeviceSynchronize: surfaces errors of asynchronous work. */
rg_status rg_rt_cuda_device_sync(rg_rt_cuda *cuda, rg_error *err);

/* Events, for timing. */
rg_status rg_rt_cuda_event_new(rg_rt_cuda *cuda, rg_rt_cuda_event *out, rg_error *err);
void rg_rt_cuda_event_free(rg_rt_cuda *cuda, rg_rt_cuda_event event);
rg_status rg_rt_cuda_event_record(rg_rt_cuda *cuda, rg_rt_cuda_event event, rg_rt_cuda_stream stream,
                                  rg_error *err);
/* The same, but inside a stream capture it becomes an event-record node of
 * the graph (cudaEventRecordExternal), so replays record it and it can be
 * timed; a plain record in a capture only orders work inside the graph. */
rg_status rg_rt_cuda_event_record_external(rg_rt_cuda *cuda, rg_rt_cuda_event event, rg_rt_cuda_stream stream,
                                           rg_error *err);
/* Milliseconds from `start` to `end`; both must have completed. */
rg_status rg_rt_cuda_event_elapsed(rg_rt_cuda *cuda, rg_rt_cuda_event start, rg_rt_cuda_event end, float *ms,
                                   rg_error *err);

/* Kernels. `image` is a cubin (ELF) or fatbin; `name` only labels errors. */
rg_status rg_rt_cuda_library_load(rg_rt_cuda *cuda, const void *image, size_t size, const char *name,
                                  rg_rt_cuda_library *out, rg_error *err);
void rg_rt_cuda_library_free(rg_rt_cuda *cuda, rg_rt_cuda_library library);
rg_status rg_rt_cuda_kernel_get(rg_rt_cuda *cuda, rg_rt_cuda_library library, const char *name,
                                rg_rt_cuda_kernel *out, rg_error *err);
/* Lets `kernel` take up to `bytes` of dynamic shared memory on `device`
 * (cudaFuncAttributeMaxDynamicSharedMemorySize): past 48 KB a launch asking
 * for more fails otherwise. */
rg_status rg_rt_cuda_kernel_set_shared(rg_rt_cuda *cuda, rg_rt_cuda_kernel kernel, int device, size_t bytes,
                                       rg_error *err);
/* Launches `kernel` with `args` (one pointer per kernel parameter, as
 * cudaLaunchKernel wants). Launch errors are reported here; errors inside
 * the kernel surface at the next synchronisation. */
rg_status rg_rt_cuda_launch(rg_rt_cuda *cuda, rg_rt_cuda_kernel kernel, const unsigned grid[3],
                            const unsigned block[3], void **args, size_t shared_bytes, rg_rt_cuda_stream stream,
                            rg_error *err);
/* Launches `kernel` cooperatively (cudaLaunchAttributeCooperative): every
 * block is resident at once or the launch fails, which a kernel with
 * grid-wide barriers needs (codegen/kernels/persistent.cu); programmatic
 * as rg_rt_cuda_launch when that is on. */
rg_status rg_rt_cuda_launch_cooperative(rg_rt_cuda *cuda, rg_rt_cuda_kernel kernel, const unsigned grid[3],
                                        const unsigned block[3], void **args, size_t shared_bytes,
                                        rg_rt_cuda_stream stream, rg_error *err);
/* The driver's CUtensorMap (128 opaque bytes, 128-byte aligned): what the
 * Tensor Memory Accelerator copies a tile of a matrix by. */
typedef struct rg_rt_tensor_map {
    _Alignas(128) uint64_t opaque[16];
} rg_rt_tensor_map;
/* Encodes `map` for the row-major 2-byte matrix at `base` (fp16 unless
 * `bf16`) of `rows` rows of `cols` elements, rows `row_bytes` apart, copied
 * in boxes of box_rows x box_cols (box_cols * 2 <= 128) with the 128-byte
 * swizzle; reads past the matrix give zeros (cuTensorMapEncodeTiled, through
 * the runtime's driver entry points). RG_ERR_UNSUPPORTED where the driver
 * has no TMA. */
rg_status rg_rt_cuda_tensor_map_2d(rg_rt_cuda *cuda, rg_rt_tensor_map *map, bool bf16, const void *base, uint64_t rows,
                                   uint64_t cols, uint64_t row_bytes, uint32_t box_rows, uint32_t box_cols,
                                   rg_error *err);
/* How many blocks of `threads` threads and `shared_bytes` of dynamic shared
 * memory one SM holds at once (cudaOccupancyMaxActiveBlocksPerMultiprocessor). */
rg_status rg_rt_cuda_blocks_per_sm(rg_rt_cuda *cuda, rg_rt_cuda_kernel kernel, int threads, size_t shared_bytes,
                                   int *blocks, rg_error *err);
/* From now on, launch every kernel of this context as a programmatic
 * dependent of the kernel before it on its stream (sm_90; off by default):
 * it may start while that one ends, so every kernel launched must first
 * execute griddepcontrol.wait, as the kernels of plans whose options say
 * pdl=1 do (docs/cuda.md, "Launch overlap"). */
void rg_rt_cuda_set_programmatic(rg_rt_cuda *cuda, bool on);

/* Issues one call's work on `stream` (one run of a GEMM, a kernel
 * sequence, ...), for rg_rt_cuda_time_calls. */
typedef rg_status (*rg_rt_cuda_calls_fn)(void *ctx, rg_rt_cuda_stream stream, rg_error *err);
/* Mean ms of one call of `fn` over `reps` calls (ev: two events the caller
 * owns). One untimed call first (first-launch costs). Small kernels take
 * less GPU time than the host needs to issue them, so timing calls issued
 * back to back would measure the host: on a stream of its own the calls are
 * captured into a CUDA graph and its replay is timed, as the executor runs
 * them; on the legacy default stream (NULL), which cannot be captured, they
 * are timed as issued. An error from `fn` is returned as it is, with no
 * capture left open. */
rg_status rg_rt_cuda_time_calls(rg_rt_cuda *cuda, rg_rt_cuda_stream stream, rg_rt_cuda_calls_fn fn, void *ctx,
                                int reps, rg_rt_cuda_event ev[2], float *ms, rg_error *err);
/* Mean ms of one launch of `graph` on `stream` over `launches` launches,
 * after one untimed (ev: two events the caller owns). */
rg_status rg_rt_cuda_time_graph(rg_rt_cuda *cuda, rg_rt_cuda_stream stream, rg_rt_cuda_graph graph, int launches,
                                rg_rt_cuda_event ev[2], float *ms, rg_error *err);

/* CUDA graphs: capture everything issued on `stream` between begin and end,
 * and instantiate it. A failed end leaves no graph and ends the capture. */
rg_status rg_rt_cuda_capture_begin(rg_rt_cuda *cuda, rg_rt_cuda_stream stream, rg_error *err);
rg_status rg_rt_cuda_capture_end(rg_rt_cuda *cuda, rg_rt_cuda_stream stream, rg_rt_cuda_graph *out,
                                 rg_error *err);
rg_status rg_rt_cuda_graph_launch(rg_rt_cuda *cuda, rg_rt_cuda_graph graph, rg_rt_cuda_stream stream,
                                  rg_error *err);
void rg_rt_cuda_graph_free(rg_rt_cuda *cuda, rg_rt_cuda_graph graph);

#ifdef RG_HAVE_CUDA_HEADERS
/* Inside libragged (where the CUDA headers are visible) hot paths may call
 * the resolved functions directly. */
#include <cuda_runtime_api.h>

typedef struct rg_rt_cuda_fns {
    const char *(*GetErrorString)(cudaError_t);
    const char *(*GetErrorName)(cudaError_t);
    cudaError_t (*GetLastError)(void);
    cudaError_t (*RuntimeGetVersion)(int *);
    cudaError_t (*DriverGetVersion)(int *);
    cudaError_t (*GetDeviceCount)(int *);
    cudaError_t (*GetDeviceProperties)(struct cudaDeviceProp *, int);
    cudaError_t (*DeviceGetAttribute)(int *, enum cudaDeviceAttr, int);
    cudaError_t (*SetDevice)(int);
    cudaError_t (*DeviceSynchronize)(void);
    cudaError_t (*MemGetInfo)(size_t *, size_t *);
    cudaError_t (*Malloc)(void **, size_t);
    cudaError_t (*Free)(void *);
    cudaError_t (*MallocHost)(void **, size_t);
    cudaError_t (*FreeHost)(void *);
    cudaError_t (*Memcpy)(void *, const void *, size_t, enum cudaMemcpyKind);
    cudaError_t (*MemcpyAsync)(void *, const void *, size_t, enum cudaMemcpyKind, cudaStream_t);
    cudaError_t (*Memset)(void *, int, size_t);
    cudaError_t (*MemsetAsync)(void *, int, size_t, cudaStream_t);
    cudaError_t (*StreamCreateWithFlags)(cudaStream_t *, unsigned int);
    cudaError_t (*StreamDestroy)(cudaStream_t);
    cudaError_t (*StreamSynchronize)(cudaStream_t);
    cudaError_t (*StreamIsCapturing)(cudaStream_t, enum cudaStreamCaptureStatus *);
    cudaError_t (*EventCreate)(cudaEvent_t *);
    cudaError_t (*EventDestroy)(cudaEvent_t);
    cudaError_t (*EventRecord)(cudaEvent_t, cudaStream_t);
    cudaError_t (*EventRecordWithFlags)(cudaEvent_t, cudaStream_t, unsigned int);
    cudaError_t (*EventElapsedTime)(float *, cudaEvent_t, cudaEvent_t);
    cudaError_t (*LibraryLoadData)(cudaLibrary_t *, const void *, enum cudaJitOption *, void **, unsigned int,
                                   enum cudaLibraryOption *, void **, unsigned int);
    cudaError_t (*LibraryUnload)(cudaLibrary_t);
    cudaError_t (*LibraryGetKernel)(cudaKernel_t *, cudaLibrary_t, const char *);
    cudaError_t (*KernelSetAttributeForDevice)(cudaKernel_t, enum cudaFuncAttribute, int, int);
    cudaError_t (*LaunchKernel)(const void *, dim3, dim3, void **, size_t, cudaStream_t);
    cudaError_t (*LaunchKernelExC)(const cudaLaunchConfig_t *, const void *, void **);
    cudaError_t (*OccupancyMaxActiveBlocksPerMultiprocessor)(int *, const void *, int, size_t);
    cudaError_t (*StreamBeginCapture)(cudaStream_t, enum cudaStreamCaptureMode);
    cudaError_t (*StreamEndCapture)(cudaStream_t, cudaGraph_t *);
    cudaError_t (*GraphInstantiate)(cudaGraphExec_t *, cudaGraph_t, unsigned long long);
    cudaError_t (*GraphLaunch)(cudaGraphExec_t, cudaStream_t);
    cudaError_t (*GraphExecDestroy)(cudaGraphExec_t);
    cudaError_t (*GraphDestroy)(cudaGraph_t);
} rg_rt_cuda_fns;

const rg_rt_cuda_fns *rg_rt_cuda_functions(const rg_rt_cuda *cuda);
#endif

#endif
