/*
 * cuda_fused.h — launching the batch-reduction kernels a plan carries for
 * Fused and LayerNorm nodes (written by codegen/cuda_fused.c; their ABI is
 * ir/kernel_abi.h).
 *
 * The kernels are specialised on the row length at compile time; the rest of
 * the shape (how many rows, how each input broadcasts over them) arrives at
 * launch in the kernel's one parameter, rg_kabi_fused_params. This file builds
 * that parameter from the tensors' shapes, checks what the kernel assumes
 * (dtype, row length, a per-row input really has a last dim of 1), picks the
 * vector variant when every pointer is aligned for it, and launches one
 * block per rows_per_block rows.
 */
#ifndef RG_RT_CUDA_FUSED_H
#define RG_RT_CUDA_FUSED_H

#include "ir/kernel_abi.h"
#include "runtime/cuda_api.h"

/* Fills *params for a launch of `kernel` and says whether the vector variant
 * may be used. inputs[i] describes node input i (data: a device pointer,
 * dtype and shape set), NULL where the kernel does not read it; outputs[j]
 * is a device pointer or NULL (not wanted). *rows may be 0 (nothing to do).
 * Shape errors name the input. */
rg_status rg_rt_fused_prepare(const rg_kabi_fused_kernel *kernel, const rg_tensor *const *inputs,
                              void *const *outputs, rg_kabi_fused_params *params, bool *use_vec, rg_error *err);

/* Grid and block of a launch over `rows` rows; false when the grid would
 * exceed CUDA's limit. */
bool rg_rt_fused_grid(const rg_kabi_fused_kernel *kernel, int64_t rows, unsigned grid[3], unsigned block[3]);

/* rg_rt_fused_prepare, then launches vec_kernel (may be NULL when the
 * kernel has no vector variant) or scalar_kernel on `stream`. */
rg_status rg_rt_fused_launch(rg_rt_cuda *cuda, const rg_kabi_fused_kernel *kernel, rg_rt_cuda_kernel vec_kernel,
                             rg_rt_cuda_kernel scalar_kernel, const rg_tensor *const *inputs, void *const *outputs,
                             rg_rt_cuda_stream stream, rg_error *err);

#endif
