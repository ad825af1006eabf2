/*
 * cuda_gemm.h — the Hopper GEMM (codegen/kernels/gemm.cu) loaded and
 * launched. It runs Y = epilogue(X W + bias) for fp16/bf16 on sm_90 with the
 * epilogue applied to the fp32 accumulators: bias, or bias + exact (erf)
 * GELU, which cuBLASLt cannot do (its GELU epilogue is the tanh form). The module's name, its
 * kernels and tiles are the kernel ABI's (ir/kernel_abi.h); compiling it is
 * codegen's (rg_cg_gemm_compile).
 *
 * Layout: X [m, k], W [k, n] (row-major, as a Linear's constant weight),
 * Y [m, n], contiguous; x, w and y 16-byte aligned, bias [n] (4-byte
 * aligned) or NULL. k must be a multiple of 64 and n of the tile's width (64
 * for the narrowest tile); m is any (tiles of 64 or 128 rows cover it). The grid is persistent: at
 * most as many blocks as the SMs hold (sm_count), each taking every
 * grid-th tile.
 */
#ifndef RG_RT_CUDA_GEMM_H
#define RG_RT_CUDA_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/kernel_abi.h"
#include "runtime/cuda_api.h"

typedef struct rg_rt_gemm_args {
    const void *x, *w, *bias; /* bias may be NULL */
    void *y;
    int64_t m, n, k;
    bool gelu; /* y = gelu_erf(x w + bias); otherwise x w + bias */
    /* The tile: an index into rg_kabi_gemm_tiles, or -1 to let the launcher
     * pick (rg_rt_cuda_gemm_pick). */
    int tile;
    int sm_count; /* the GPU's multiprocessors, for the pick and the grid; 0: unknown (a block per tile) */
} rg_rt_gemm_args;

typedef struct rg_rt_cuda_gemm rg_rt_cuda_gemm;

/* Loads a GEMM module of `dtype` (a plan's "gemm" module, or one codegen
 * compiled), gets every kernel of it and lets each take its shared memory
 * on `device`. `alloc` NULL means the default allocator. On failure *out is
 * untouched and the message names the kernel. */
rg_status rg_rt_cuda_gemm_load(rg_rt_cuda *cuda, const void *cubin, size_t size, rg_dtype dtype, int device,
                               const rg_allocator *alloc, rg_rt_cuda_gemm **out, rg_error *err);
/* Unloads the module; NULL does nothing. */
void rg_rt_cuda_gemm_free(rg_rt_cuda_gemm *gemm);

/* The tile the launcher takes for `args` when args->tile is -1: the largest
 * whose grid still fills every SM, else the one with the most blocks; -1
 * when no tile fits the shape (k not a multiple of 64, n of no tile width). */
int rg_rt_cuda_gemm_pick(const rg_rt_gemm_args *args);
/* Whether `args` can run here (shape and alignment); a caller with another
 * way to run the product (cuBLASLt) asks before launching. */
bool rg_rt_cuda_gemm_fits(const rg_rt_gemm_args *args);

/* Launches on `stream` (NULL: the default stream); all pointers are device
 * pointers. Checks what the host can see (shape, alignment, tile). */
rg_status rg_rt_cuda_gemm_launch(rg_rt_cuda_gemm *gemm, const rg_rt_gemm_args *args, rg_rt_cuda_stream stream,
                                 rg_error *err);

#endif
