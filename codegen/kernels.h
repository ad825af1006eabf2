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
#include "ir/kernel_abi.h"

/* The text of the embedded template `file_name` ("attention.cu"),
 * NUL-terminated, or NULL when there is no such template. */
const char *rg_cg_kernel_template(const char *file_name);

/* The fused attention kernel (codegen/kernels/attention.cu) is specialised
 * per rg_kabi_attention_variant (ir/kernel_abi.h: its name, its check, its
 * derivation from a node); the launch shape (queries and threads per block)
 * is the launcher's (runtime/cuda_attention.c): it depends on dtype, head
 * size and length. */

/* The number of NVRTC options rg_cg_attention_defines writes. */
#define RG_CG_ATTENTION_DEFINES 5
/* The NVRTC options (-D...) that select the variant, written into
 * `storage` (at least 320 bytes); `options` receives RG_CG_ATTENTION_DEFINES
 * pointers into it. */
void rg_cg_attention_defines(const rg_kabi_attention_variant *variant, char *storage, size_t storage_size,
                             const char *options[RG_CG_ATTENTION_DEFINES]);
/* The variant an Attention node gets for CUDA target `target`: the node's
 * (rg_kabi_attention_variant_of), the wgmma kernel where the target is sm_90
 * or sm_90a and the variant has one. */
rg_status rg_cg_attention_variant(const rg_node *node, const char *target, rg_kabi_attention_variant *out,
                                  rg_error *err);
/* Compiles the variant for `arch` ("sm_90"; a wgmma variant for sm_90a
 * whatever `arch` says); *cubin is allocated with the NVRTC context's
 * allocator (see rg_cg_nvrtc_compile). */
rg_status rg_cg_attention_compile(rg_cg_nvrtc *nvrtc, const rg_kabi_attention_variant *variant, const char *arch,
                                  void **cubin, size_t *size, rg_error *err);

/* The Hopper GEMM (codegen/kernels/gemm.cu): one module per dtype (f16,
 * bf16) with every (epilogue, tile) kernel, named by the kernel ABI
 * (rg_kabi_gemm_module_name, rg_kabi_gemm_kernel_name). */

/* The number of NVRTC options rg_cg_gemm_defines writes. */
#define RG_CG_GEMM_DEFINES 2
/* The -D options of the module of `dtype` into `storage` (at least 64
 * bytes); narrow (tests only) runs every tile as 64-column instructions. */
void rg_cg_gemm_defines(rg_dtype dtype, bool narrow, char *storage, size_t storage_size,
                        const char *options[RG_CG_GEMM_DEFINES]);
/* Compiles the module of `dtype` for sm_90a (rg_kabi_gemm_arch); *cubin is
 * allocated with the NVRTC context's allocator. RG_ERR_UNSUPPORTED for a
 * dtype without one. */
rg_status rg_cg_gemm_compile(rg_cg_nvrtc *nvrtc, rg_dtype dtype, bool narrow, void **cubin, size_t *size,
                             rg_error *err);

/* The persistent kernel (codegen/kernels/persistent.cu): one module per
 * dtype (f16, bf16) holding one kernel, both named rg_kabi_persistent_name. */
/* The number of NVRTC options rg_cg_persistent_defines writes. */
#define RG_CG_PERSISTENT_DEFINES 2
/* Bits of the head sizes a module compiles attention for. */
#define RG_CG_HEAD_32 1u
#define RG_CG_HEAD_64 2u
#define RG_CG_HEAD_128 4u
/* The bit of attention head size d, 0 when the kernel has none for it. */
unsigned rg_cg_persistent_head_bit(int64_t d);
/* The -D options for `dtype` and the head sizes `heads` (bits above) into
 * `storage` (at least 64 bytes). */
void rg_cg_persistent_defines(rg_dtype dtype, unsigned heads, char *storage, size_t storage_size,
                              const char *options[RG_CG_PERSISTENT_DEFINES]);
/* Compiles the module of `dtype` for `arch` (sm_80 or later) with every
 * head size; *cubin is allocated with the NVRTC context's allocator.
 * RG_ERR_UNSUPPORTED for a dtype without one. */
rg_status rg_cg_persistent_compile(rg_cg_nvrtc *nvrtc, rg_dtype dtype, const char *arch, void **cubin, size_t *size,
                                   rg_error *err);

#endif
