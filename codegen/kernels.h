/*
 * kernels.h — hand-written CUDA kernel templates embedded in the library.
 *
 * Kernels that are not generated from the graph (fused attention, packing
 * helpers) are .cu files in codegen/kernels/, turned into C arrays at build
 * time (codegen/CMakeLists.txt) and compiled by NVRTC like generated code,
 * specialised with -D options, so ragged needs no nvcc and a plan can carry
 * the source it was compiled from (`ragged dump --kernel NAME`).
 */
#ifndef RG_CG_KERNELS_H
#define RG_CG_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

#include "codegen/nvrtc.h"
#include "ir/error.h"

/* The text of the embedded template `file_name` ("attention.cu"),
 * NUL-terminated, or NULL when there is no such template. */
const char *rg_cg_kernel_template(const char *file_name);

/* One specialisation of the fused attention kernel (codegen/kernels/attention.cu). */
typedef struct rg_cg_attention_variant {
    rg_dtype dtype; /* RG_DTYPE_F32 (plain FMA), RG_DTYPE_F16 or RG_DTYPE_BF16 (tensor cores) */
    int head_dim;   /* 32, 64 or 128 */
    bool causal;    /* key j visible to query i only when j <= i (within the sequence) */
} rg_cg_attention_variant;

/* The launch shape (queries and threads per block) is the launcher's
 * (runtime/cuda_attention.c): it depends on dtype, head size and length. */

/* RG_ERR_UNSUPPORTED naming the dtype or head size ragged has no kernel for. */
rg_status rg_cg_attention_check(const rg_cg_attention_variant *variant, rg_error *err);
/* The kernel's extern "C" name, e.g. "rg_attention_f16_d64_causal". */
void rg_cg_attention_kernel_name(const rg_cg_attention_variant *variant, char *out, size_t out_size);
/* The NVRTC options (-D...) that select the variant, written into
 * `storage` (at least 256 bytes); `options` receives 4 pointers into it. */
void rg_cg_attention_defines(const rg_cg_attention_variant *variant, char *storage, size_t storage_size,
                             const char *options[4]);
/* Compiles the variant for `arch` ("sm_90"); *cubin is allocated with the
 * NVRTC context's allocator (see rg_cg_nvrtc_compile). */
rg_status rg_cg_attention_compile(rg_cg_nvrtc *nvrtc, const rg_cg_attention_variant *variant, const char *arch,
                                  void **cubin, size_t *size, rg_error *err);

#endif
