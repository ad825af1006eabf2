/*
 * cuda_persist.h — the persistent kernel (codegen/kernels/persistent.cu)
 * loaded, its steps built and launched: a run of a plan's Linears,
 * Attentions and LayerNorms as one launch of resident blocks, a block per
 * SM, with a grid-wide barrier between steps. The executor
 * (runtime/cuda_exec.c) decides which runs of nodes become programs and
 * whether a shape's replay is faster with them; this file knows the
 * kernel's ABI: the step layout, the work split, the scratch.
 *
 * The program lives in device memory (the kernel reads it there); the
 * scratch holds the barrier counter and the fp32 partial sums of the
 * Linears split along k. The kernel leaves the counter at zero when it
 * ends, so the scratch is zeroed only when it is allocated; a scratch
 * serves one stream at a time.
 */
#ifndef RG_RT_CUDA_PERSIST_H
#define RG_RT_CUDA_PERSIST_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/kernel_abi.h"
#include "runtime/cuda_api.h"

/* Mirror of struct rg_pk_step in persistent.cu: same members, same order. */
typedef struct rg_rt_pk_step {
    int64_t kind;
    const void *a, *w, *bias, *r;
    void *y;
    int64_t m, n, k, split, flags;
    float f0, f1;
    int64_t work;
    const void *prefetch;
    int64_t prefetch_bytes;
    int64_t tile_m;
} rg_rt_pk_step;

enum { RG_RT_PK_LINEAR = 1, RG_RT_PK_ATTENTION = 2, RG_RT_PK_LAYER_NORM = 3, RG_RT_PK_REDUCE = 4 };

/* Rows (tokens) above which no step is built: there the per-kernel fixed
 * cost this kernel saves is small next to the work, and cuBLASLt's GEMMs
 * and the fused attention kernel are faster than its mma.sync tiles. */
#define RG_RT_PK_MAX_ROWS 1024

typedef struct rg_rt_cuda_persist rg_rt_cuda_persist;

/* Loads a persistent module of `dtype` (fp16 or bf16), gets its kernel and
 * sizes the grid: as many blocks as `sm_count` SMs hold at once, one each
 * (an error if the kernel does not fit an SM). */
rg_status rg_rt_cuda_persist_load(rg_rt_cuda *cuda, const void *cubin, size_t size, rg_dtype dtype, int device,
                                  int sm_count, const rg_allocator *alloc, rg_rt_cuda_persist **out, rg_error *err);
void rg_rt_cuda_persist_free(rg_rt_cuda_persist *p);
rg_dtype rg_rt_cuda_persist_dtype(const rg_rt_cuda_persist *p);
/* The grid: blocks resident at once, one per SM. */
int rg_rt_cuda_persist_blocks(const rg_rt_cuda_persist *p);

/* Steps. Each fills *out and returns true when the kernel can run the
 * operands as given (shape limits, 16-byte alignment of the row data),
 * else false and the node runs as its own kernel. Pointers are device
 * pointers; all element types are the module's dtype. A Linear's work
 * split depends on the grid, `blocks` (rg_rt_cuda_persist_blocks). */
/* y [m, n] = act(x [m, k] w [k, n] + bias), act the erf GELU when gelu. */
bool rg_rt_pk_linear(int blocks, const void *x, const void *w, const void *bias, void *y, int64_t m,
                     int64_t n, int64_t k, bool gelu, rg_rt_pk_step *out);
/* qkv [b, s, 3 h d] -> y [b, s, h d]; lens: int32 keys per sequence
 * (right padding) or NULL for all s; uniform: a row with no key gets the
 * mean of V rather than zeros. */
bool rg_rt_pk_attention(const void *qkv, const int32_t *lens, void *y, int64_t b,
                        int64_t s, int64_t h, int64_t d, float scale, bool causal, bool uniform, rg_rt_pk_step *out);
/* y = LayerNorm(x + residual) over rows of n; residual and beta may be NULL. */
bool rg_rt_pk_layer_norm(const void *x, const void *residual, const void *gamma,
                         const void *beta, void *y, int64_t rows, int64_t n, float epsilon, rg_rt_pk_step *out);
/* A Linear step's flag (set by the caller): its output is read by the next
 * step alone and by nothing after it. */
#define RG_RT_PK_ONLY_NEXT_READS 4
/* The program the kernel runs for `count` steps built above: each Linear
 * split along k (split > 1) followed by the reduce step that adds its
 * shares (and applies bias and activation), except where the next step is
 * a LayerNorm of its output alone (RG_RT_PK_ONLY_NEXT_READS, no activation):
 * that LayerNorm adds the shares and the bias itself and Y is never
 * stored. `out` holds 2 x count. Returns the steps written. */
size_t rg_rt_pk_expand(const rg_rt_pk_step *steps, size_t count, rg_rt_pk_step *out);
/* After a program's steps are built: each step prefetches into L2 the
 * weights of the first Linear after it (unless the step before already
 * did), so a Linear reads its weights from L2. */
void rg_rt_pk_plan_prefetch(rg_rt_pk_step *steps, size_t count);

/* Bytes of scratch any program of this module needs. */
size_t rg_rt_cuda_persist_scratch_bytes(const rg_rt_cuda_persist *p);

/* Launches the program of `count` steps at `steps` (device memory) on
 * `stream` with `scratch` (rg_rt_cuda_persist_scratch_bytes, zeroed when
 * allocated), cooperatively. `times` (device memory of count + 1 values, or
 * NULL): the GPU's clock in ns as each step begins and as the last ends, for
 * diagnostics (block 0's view: a step's time includes the barrier after it). */
rg_status rg_rt_cuda_persist_launch(rg_rt_cuda_persist *p, const void *steps, size_t count, void *scratch,
                                    uint64_t *times, rg_rt_cuda_stream stream, rg_error *err);

#endif
