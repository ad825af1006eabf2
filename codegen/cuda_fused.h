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
 * vector width) and NAME_scalar (element loads, any alignment). Their names,
 * parameter (rg_kabi_fused_params, mirrored byte for byte in the emitted
 * source as `rg_params`) and launch geometry are the kernel ABI,
 * ir/kernel_abi.h, which the executor launches from without this file.
 */
#ifndef RG_CG_CUDA_FUSED_H
#define RG_CG_CUDA_FUSED_H

#include <stdint.h>

#include "codegen/emit.h"
#include "ir/graph.h"
#include "ir/kernel_abi.h"

/* Emits the CUDA C translation unit for `node` (op Fused or LayerNorm) into
 * `emit` (appending), with kernels named kernel_name + "_vec" / "_scalar".
 * kernel_name, dtype and row_length are as for rg_kabi_fused_kernel_of,
 * which decides the layout; on success fills *out with its description.
 * Errors (unsupported dtype or node, a dynamic row length, too many inputs)
 * return a status whose message names the node; *out is then untouched. */
rg_status rg_cg_fused_emit(const rg_node *node, const char *kernel_name, rg_dtype dtype, int64_t row_length,
                           rg_cg_emit *emit, rg_kabi_fused_kernel *out, rg_error *err);

#endif
