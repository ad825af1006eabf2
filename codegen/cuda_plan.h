/*
 * cuda_plan.h — compiling every CUDA kernel a graph needs, for one arch, at
 * `ragged compile --target sm_XX` time (the plan's KERNELS section).
 *
 * Modules, each one NVRTC compile:
 * - "fused": one per distinct generated source of the graph's Fused and
 *   LayerNorm nodes (codegen/cuda_fused.h), emitted with the kernel name
 *   RG_KABI_FUSED_NAME (ir/kernel_abi.h); nodes with the same source
 *   (every layer of a transformer) share one module, so a 12-layer model
 *   compiles a handful;
 * - "attention": one per attention variant (dtype, head size, causal) the
 *   graph's Attention nodes need (codegen/kernels/attention.cu), for the
 *   nodes that kernel can serve (rg_cg_attention_fast_ok);
 * - "attention_general": codegen/kernels/attention_general.cu, once when
 *   the graph has Attention nodes, listing all of them: the general kernel
 *   (bias, additive masks, any key_padding pattern, other head sizes) and
 *   the empty-row fix-up;
 * - "gemm" (only with rg_cg_cuda_compile_graph_with's `gemm`, i.e.
 *   `ragged compile --custom-gemm`): codegen/kernels/gemm.cu for sm_90a, one
 *   per dtype, listing the fp16/bf16 Linears it may serve (no activation,
 *   or the erf GELU, applied in the GEMM's epilogue: cuBLASLt has only the
 *   tanh form), for sm_90 / sm_90a targets only;
 * - "elementwise": codegen/kernels/elementwise.cu (row gathers, casts,
 *   erf GELU), once;
 * - "persistent" (only with rg_cg_cuda_compile_graph_with's `persistent`,
 *   i.e. `ragged compile --persistent`): codegen/kernels/persistent.cu, one
 *   per dtype (fp16, bf16), listing the Linears, Attentions and LayerNorms
 *   it can run as steps of one launch, after every other module.
 * The executor (runtime/cuda_exec.c) finds a node's module by its index.
 * A compile error names the nodes and carries NVRTC's log.
 */
#ifndef RG_CG_CUDA_PLAN_H
#define RG_CG_CUDA_PLAN_H

#include <stdbool.h>

#include "codegen/kernels.h"
#include "codegen/nvrtc.h"
#include "ir/graph.h"
#include "ir/kernel_abi.h"
#include "ir/serialize.h"


typedef struct rg_cg_cuda_kernels {
    rg_arena arena;          /* names, node lists, sources */
    const rg_allocator *alloc;
    rg_ir_kernel *kernels;   /* cubins from alloc (freed with the set) */
    size_t nkernels, cap;
    double nvrtc_seconds;    /* wall time of compiling the modules (NVRTC, in parallel threads) */
} rg_cg_cuda_kernels;

/* Whether `target` names a CUDA arch ragged compiles for ("sm_80", "sm_89",
 * "sm_90", "sm_90a"). */
bool rg_cg_cuda_target_known(const char *target);

/* Whether the fused attention kernel can run `node` (an Attention): a
 * variant exists for its dtype and head size, it has no bias input and its
 * mask is none or key_padding. Where it cannot, the node runs on the
 * general kernel. */
bool rg_cg_attention_fast_ok(const rg_node *node);

/* Compiles every kernel of `g` (nodes in execution order) for `arch`.
 * On failure *out is untouched. */
rg_status rg_cg_cuda_compile_graph(const rg_graph *g, const char *arch, const rg_allocator *alloc,
                                   rg_cg_cuda_kernels **out, rg_error *err);
/* The same, with the "gemm" modules when `gemm` is set (otherwise, as in
 * rg_cg_cuda_compile_graph, every Linear runs on cuBLASLt) and the
 * "persistent" modules when `persistent` is. */
rg_status rg_cg_cuda_compile_graph_with(const rg_graph *g, const char *arch, bool gemm, bool persistent,
                                        const rg_allocator *alloc, rg_cg_cuda_kernels **out, rg_error *err);
void rg_cg_cuda_kernels_free(rg_cg_cuda_kernels *k);

#endif
