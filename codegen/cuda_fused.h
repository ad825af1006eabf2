/*
 * cuda_fused.h — CUDA C for Fused nodes (ir/fused.h) and LayerNorm nodes:
 * batch-reduction kernels specialised on the row length and the dtype.
 *
 * Every row of the node's iteration is held in registers by a group of
 * threads (a part of a warp for short rows, one warp for rows up to ~1K
 * elements, several warps with a shared-memory combination above that),
 * several rows per block. Loads and stores are vectors of up to 16 bytes
 * when the row length allows it; arithmetic is f32 whatever the dtype.
 * Reductions that do not depend on each other are combined in one round of
 * warp shuffles (one "level"); a reduction that reads another's result (the
 * variance after the mean) is a second round over the same registers, so
 * LayerNorm statistics are two-pass in f32 at no extra memory traffic.
 * LayerNorm nodes are translated into the equivalent expression program and
 * go through the same path.
 *
 * One call emits one self-contained translation unit holding two kernels,
 * NAME_vec (vector loads; only when the row length is a multiple of the
 * vector width) and NAME_scalar (element loads, any alignment). The launch
 * helper (runtime/cuda_fused.h) picks one from the pointers' alignment.
 *
 * Kernel ABI: each kernel takes one parameter, rg_cg_fused_params by value
 * (mirrored byte for byte in the emitted source as `rg_params`):
 *   inputs[i]   device pointer of node input i (NULL: absent or not loaded)
 *   outputs[j]  device pointer of node output j (NULL: not wanted), each
 *               contiguous in the iteration shape (ROW stores), that shape
 *               with last dim 1 (SCALAR_KEEP) or without it (SCALAR_DROP)
 *   rows        product of the iteration shape's dims but the last
 *   ndims, dims the leading (row) dims of the iteration shape, collapsed
 *               where every input agrees; dims[0] is outermost
 *   strides     strides[i][d]: element stride of input i along dims[d]
 *               (0 where the input broadcasts)
 * Row r of input i starts at element sum_d idx_d(r) * strides[i][d]; a ROW
 * load then reads N consecutive elements, a SCALAR load one.
 */
#ifndef RG_CG_CUDA_FUSED_H
#define RG_CG_CUDA_FUSED_H

#include <stdint.h>

#include "codegen/emit.h"
#include "ir/graph.h"

#define RG_CG_FUSED_MAX_INPUTS 16
#define RG_CG_FUSED_MAX_OUTPUTS 8
#define RG_CG_FUSED_MAX_DIMS (RG_MAX_RANK - 1)
#define RG_CG_FUSED_NAME_MAX 56

/* The kernel parameter (see the ABI above). */
typedef struct rg_cg_fused_params {
    const void *inputs[RG_CG_FUSED_MAX_INPUTS];
    void *outputs[RG_CG_FUSED_MAX_OUTPUTS];
    int64_t rows;
    int64_t dims[RG_CG_FUSED_MAX_DIMS];
    int64_t strides[RG_CG_FUSED_MAX_INPUTS][RG_CG_FUSED_MAX_DIMS];
    int32_t ndims;
    int32_t reserved; /* keeps the size a multiple of 8 on both sides */
} rg_cg_fused_params;

/* How an input is read by the kernel. */
enum { RG_CG_FUSED_IN_ROW = 0, RG_CG_FUSED_IN_SCALAR = 1, RG_CG_FUSED_IN_UNUSED = 2 };

/* What the launch helper needs to know about an emitted kernel. */
typedef struct rg_cg_fused_kernel {
    char vec_name[RG_CG_FUSED_NAME_MAX + 8];    /* "" when there is no vector variant */
    char scalar_name[RG_CG_FUSED_NAME_MAX + 8];
    rg_dtype dtype;
    int64_t row_length;  /* N */
    int vector_width;    /* elements per vector access of NAME_vec (1 when absent) */
    int threads_per_row; /* a power of two up to 32, or a multiple of 32 */
    int rows_per_block;
    int block_threads;   /* threads_per_row * rows_per_block */
    uint32_t ninputs, noutputs;
    uint8_t input_kind[RG_CG_FUSED_MAX_INPUTS]; /* RG_CG_FUSED_IN_* */
    uint8_t output_mode[RG_CG_FUSED_MAX_OUTPUTS]; /* RG_FUSED_STORE_*, for present outputs */
} rg_cg_fused_kernel;

/* Emits the CUDA C translation unit for `node` (op Fused or LayerNorm) into
 * `emit` (appending), with kernels named kernel_name + "_vec" / "_scalar".
 * kernel_name must be a C identifier of at most RG_CG_FUSED_NAME_MAX bytes.
 * dtype RG_DTYPE_UNDEFINED means the dtype of the node's input 0;
 * row_length <= 0 means the node's static last dim (of output 0). On
 * success fills *out. Errors (unsupported dtype or node, a dynamic row
 * length, too many inputs) return a status whose message names the node. */
rg_status rg_cg_fused_emit(const rg_node *node, const char *kernel_name, rg_dtype dtype, int64_t row_length,
                           rg_cg_emit *emit, rg_cg_fused_kernel *out, rg_error *err);

#endif
