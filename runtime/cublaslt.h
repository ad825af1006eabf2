/*
 * cublaslt.h — GEMMs through cuBLASLt, loaded at run time.
 *
 * The CUDA executor runs every Linear (and the batched matmuls outside
 * attention) through cuBLASLt, whose epilogues fuse the bias and the
 * activation into the GEMM. Like the CUDA runtime (cuda_api.h), libcublasLt
 * is never linked: rg_rt_blaslt_open dlopens it and resolves its functions
 * into a context the caller owns, with a device workspace and a bounded cache
 * of the algorithm cuBLASLt's heuristic picked per distinct problem, so the
 * heuristic runs once per shape and not once per call.
 *
 * Tensors are row-major (as ragged stores them); cuBLASLt is column-major.
 * A row-major [R, C] matrix is the column-major [C, R] matrix with the same
 * bytes, so Y = X W is computed as Y^T = W^T X^T with the operands swapped:
 * A = W^T (N x K), B = X^T (K x M), D = Y^T (N x M). The bias then runs along
 * D's rows, which is what cuBLASLt's bias epilogue broadcasts.
 */
#ifndef RG_RT_CUBLASLT_H
#define RG_RT_CUBLASLT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/arena.h"
#include "ir/error.h"
#include "runtime/cuda_api.h"

typedef struct rg_rt_blaslt rg_rt_blaslt;

/* The activation applied after the (optional) bias. cuBLASLt's GELU is the
 * tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); it has
 * no erf GELU, so RG_RT_BLASLT_ACT_GELU_ERF is refused (see
 * rg_rt_blaslt_activation_supported): the executor runs the bias epilogue
 * and then its own erf-GELU kernel for models that use the exact form. */
typedef enum rg_rt_blaslt_activation {
    RG_RT_BLASLT_ACT_NONE = 0,
    RG_RT_BLASLT_ACT_RELU,
    RG_RT_BLASLT_ACT_GELU_TANH,
    RG_RT_BLASLT_ACT_GELU_ERF,
    RG_RT_BLASLT_ACT_COUNT
} rg_rt_blaslt_activation;

/* Y[b] = act(X[b] @ op(W[b]) + bias) for b < batch, all row-major and dense:
 *   X: [M, K]; W: [K, N], or [N, K] when w_transposed (ONNX Gemm's transB,
 *   and K^T in attention-shaped products); Y: [M, N]; bias: [N], the same
 *   for every batch, or NULL for none.
 * dtype is that of X, W and Y: f32, f16 or bf16. The accumulation is fp32;
 * for f32 data it is exact fp32 unless allow_tf32. bias_dtype is dtype or
 * RG_DTYPE_UNDEFINED for the same (cuBLASLt wants the bias in D's type for
 * these types).
 * batch <= 1 is one product; with batch > 1, stride_x, stride_w and stride_y
 * are the elements between consecutive matrices (stride_w = 0 shares one W
 * across the batch). Pointers are device pointers. */
typedef struct rg_rt_blaslt_linear_desc {
    int64_t m, n, k;
    rg_dtype dtype;
    rg_dtype bias_dtype;
    rg_rt_blaslt_activation activation;
    bool w_transposed;
    bool allow_tf32;
    int64_t batch;
    int64_t stride_x, stride_w, stride_y;
    const void *x, *w, *bias;
    void *y;
} rg_rt_blaslt_linear_desc;

typedef struct rg_rt_blaslt_options {
    size_t workspace_bytes; /* 0: 32 MiB */
    size_t cache_capacity;  /* algorithms remembered; 0: 256 */
    bool no_autotune;       /* true: take the heuristic's first choice, time nothing */
} rg_rt_blaslt_options;

typedef struct rg_rt_blaslt_cache_stats {
    uint64_t hits;     /* calls that reused a cached algorithm */
    uint64_t misses;   /* calls that ran the heuristic */
    uint64_t uncached; /* misses not stored because the cache was full */
    size_t entries, capacity;
    uint64_t tuned;       /* problems whose algorithm was chosen by timing candidates */
    uint64_t tune_reused; /* misses that took the algorithm timed for the same size class */
    uint64_t tune_won;    /* tunings where a candidate beat the heuristic's first choice */
    double tune_ms;       /* wall time spent timing candidates */
} rg_rt_blaslt_cache_stats;

/* Loads libcublasLt (libcublasLt.so.13, the toolkit's lib dir, then
 * libcublasLt.so), creates a handle and allocates the workspace on the
 * current device of `cuda`. Fails with RG_ERR_DEVICE naming what is missing
 * or which call failed; *out is written only on success. `options` may be
 * NULL. `cuda` must outlive the context. */
rg_status rg_rt_blaslt_open(rg_rt_cuda *cuda, const rg_allocator *alloc, rg_rt_blaslt **out, rg_error *err);
rg_status rg_rt_blaslt_open_with(rg_rt_cuda *cuda, const rg_allocator *alloc, const rg_rt_blaslt_options *options,
                                 rg_rt_blaslt **out, rg_error *err);
/* Frees the cache's descriptors, the workspace and the handle, and unloads
 * the library; NULL does nothing. Work queued on streams must be finished. */
void rg_rt_blaslt_close(rg_rt_blaslt *blaslt);

/* Whether `act` is available as a cuBLASLt epilogue (GELU_ERF is not). */
bool rg_rt_blaslt_activation_supported(rg_rt_blaslt_activation act);

/* Checks a descriptor without a GPU: dtypes, sizes (positive, within
 * cuBLASLt's int64 leading dimensions, no overflow), strides that do not
 * overlap, pointers present, activation supported. RG_ERR_INVALID_ARGUMENT or
 * RG_ERR_UNSUPPORTED with a message that names the shape. */
rg_status rg_rt_blaslt_linear_check(const rg_rt_blaslt_linear_desc *d, rg_error *err);

/* Queues the GEMM on `stream` (NULL: the default stream); capturable into a
 * CUDA graph once the shape's algorithm is cached. Errors are RG_ERR_DEVICE
 * with the cuBLASLt call, its status name and text, and the shape.
 *
 * Autotuning (unless options.no_autotune): the first call of a problem that
 * is not inside a stream capture asks the heuristic for several algorithms,
 * adds split-K variants of the best ones when the output has too few tiles
 * to fill the GPU (small M: batch-1 inference), runs each on the call's own
 * operands and keeps the fastest (cuBLASLt's first choice for small M
 * often leaves most SMs idle). That call waits for `stream` and writes Y
 * several times before the real product. The choice is remembered per size
 * class (M rounded up to a power of two, the rest exact), so other M of the
 * class reuse it after cublasLtMatmulAlgoCheck accepts it, without timing.
 * Inside a capture the heuristic's first choice is used. */
rg_status rg_rt_blaslt_linear(rg_rt_blaslt *blaslt, const rg_rt_blaslt_linear_desc *d, rg_rt_cuda_stream stream,
                              rg_error *err);

void rg_rt_blaslt_cache_stats_get(const rg_rt_blaslt *blaslt, rg_rt_blaslt_cache_stats *stats);
/* cuBLASLt's version (e.g. 130000 + minor * 100 + patch). */
size_t rg_rt_blaslt_version(const rg_rt_blaslt *blaslt);

#endif
