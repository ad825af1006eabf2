/*
 * cuda_attention.h — the fused attention kernel (codegen/kernels/attention.cu)
 * loaded and launched, plus the CPU reference it is tested against. The
 * variant's name and check are the kernel ABI's (ir/kernel_abi.h);
 * compiling it is codegen's (codegen/kernels.h).
 *
 * Layout contract (the kernel's and the reference's):
 *
 * - A batch of `batch` sequences is packed along one token axis of T tokens:
 *   sequence b owns tokens cu_seqlens[b] .. cu_seqlens[b+1]-1 (cu_seqlens is
 *   int32 [batch+1], non-decreasing, cu_seqlens[0] = 0, T = cu_seqlens[batch]).
 *   Its queries are all its tokens: len_q = cu_seqlens[b+1] - cu_seqlens[b].
 * - Keys and values are the same tokens (self-attention). With seqlens_k NULL
 *   all len_q of them are keys. With seqlens_k (int32 [batch]) only the first
 *   len_k = min(max(seqlens_k[b], 0), len_q) are: right padding. The padded
 *   layout [B, S] is cu_seqlens = {0, S, 2S, ...} with seqlens_k[b] the valid
 *   length of row b; padded query rows are still written (they attend to the
 *   valid keys), as ONNX exporters of BERT-style masks expect.
 * - Causal: query i sees key j only when j <= i, both counted from the start
 *   of the sequence (GPT-2-style decoders).
 * - A query row that sees no key at all (len_k = 0) is written as zeros.
 * - Q, K, V: element pointers to token 0, head 0, and per-tensor token strides
 *   in elements; head h of token t is at ptr + t * stride + h * head_dim. A
 *   packed QKV buffer [T, 3, H, D] is read in place with q = base,
 *   k = base + H*D, v = base + 2*H*D and all strides 3*H*D; separate [T, H, D]
 *   tensors have stride H*D.
 * - O is [T, H, D], contiguous, in the variant's dtype.
 * - fp16/bf16 variants need q, k, v, out 16-byte aligned and strides that are
 *   multiples of 8 (16-byte loads); fp32 has no such rule.
 */
#ifndef RG_RT_CUDA_ATTENTION_H
#define RG_RT_CUDA_ATTENTION_H

#include <stdint.h>

#include "ir/kernel_abi.h"
#include "runtime/cuda_api.h"

typedef struct rg_rt_attention_args {
    const void *q, *k, *v;
    int64_t q_stride, k_stride, v_stride; /* elements from one token to the next */
    void *out;                             /* [T, heads, head_dim] */
    const int32_t *cu_seqlens;             /* [batch + 1] */
    const int32_t *seqlens_k;              /* [batch], or NULL: every token is a key */
    int batch, heads;
    /* Host-known bound on every len_q; it sizes the grid, so query rows past
     * it would be left unwritten: the caller must make it true. */
    int max_seqlen;
    float scale; /* softmax scale, usually 1/sqrt(head_dim) */
    /* fp16/bf16 only: warps per block: 1, 2, 4 or 8 (each owns 32 queries
     * and 8 is taken as 4, or at head size 128 16 queries and up to 8), or 0
     * to let the launcher choose: the most for long sequences (a K/V tile
     * then serves more queries), halved while the grid has fewer blocks than
     * sm_count (batch-1 and short inputs would otherwise leave most SMs
     * idle). The wgmma variants (variant.wgmma) run warpgroups of 4 warps
     * with 64 queries each: 8 warps make 2 warpgroups, fewer make 1, and 0
     * takes 2 for sequences past 64 queries unless that leaves SMs idle. */
    int warps;
    int sm_count; /* the GPU's multiprocessors, for warps = 0; 0: unknown (no halving) */
} rg_rt_attention_args;

typedef struct rg_rt_cuda_attention rg_rt_cuda_attention;

/* Loads a cubin of `variant` (from a plan's "attention" module, or one
 * codegen compiled: rg_cg_attention_compile) and gets its kernel, named by
 * rg_kabi_attention_kernel_name. `alloc` NULL means the default allocator.
 * On failure *out is untouched and the message names the kernel. */
rg_status rg_rt_cuda_attention_load(rg_rt_cuda *cuda, const void *cubin, size_t size,
                                    const rg_kabi_attention_variant *variant, const rg_allocator *alloc,
                                    rg_rt_cuda_attention **out, rg_error *err);
/* Unloads the kernel; NULL does nothing. */
void rg_rt_cuda_attention_free(rg_rt_cuda_attention *attention);

/* Launches on `stream` (NULL: the default stream) with a grid of
 * (ceil(max_seqlen / query tile), heads, batch); the query tile is 32 for
 * fp32 and 32 per warp for fp16/bf16 (16 at head size 128). All pointers in `args` are
 * device pointers. Checks the arguments it can see (counts, alignment,
 * strides); cu_seqlens and seqlens_k are read on the device. */
rg_status rg_rt_cuda_attention_launch(rg_rt_cuda_attention *attention, const rg_rt_attention_args *args,
                                      rg_rt_cuda_stream stream, rg_error *err);

/* The same computation on the CPU in double, for tests: every pointer in
 * `args` is a host pointer, q/k/v hold `dtype` elements, and `out` is ignored;
 * the result goes to `out` (double [T, heads, head_dim]). Checks cu_seqlens
 * (non-decreasing from 0, each length <= max_seqlen). */
rg_status rg_rt_attention_reference(rg_dtype dtype, int head_dim, bool causal, const rg_rt_attention_args *args,
                                    double *out, rg_error *err);

#endif
