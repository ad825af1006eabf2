/*
 * attention_general.cu — the attention forms the fused kernel (attention.cu)
 * does not take, and the fix-up that gives its empty rows the "uniform"
 * meaning. Compiled once per plan that has Attention nodes (no -D options);
 * the CUDA executor picks these where the fast kernel cannot serve a node:
 *
 * - rg_attention_general_{f32,f16,bf16}: one block per (query, head,
 *   sequence), scores of the whole row in shared memory in fp32, exactly the
 *   CPU executor's order: scale * q.k, + bias, + additive mask, then causal
 *   and key_padding masking, softmax, weighted sum of V. Any additive
 *   bias/mask that broadcasts to [B, H, S, S] (element strides given, 0 where
 *   broadcast), key_padding masks of any pattern (left padding, holes) in any
 *   dtype, and empty rows as zeros or the mean of V over all keys. It reads
 *   every key once per query: O(S^2 D) loads, the price of generality.
 * - rg_attention_uniform_{f32,f16,bf16}: after the fused kernel, every row of
 *   a sequence whose length is below `below` (0 keys: the fused kernel wrote
 *   zeros) becomes the mean of V over all S keys.
 *
 * qkv is [B, S, 3*H*D] (Q, K, V thirds, head-major), out [B, S, H*D].
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

/* Programmatic dependent launch (sm_90; docs/cuda.md, "Launch overlap"):
 * every kernel starts by waiting until the kernel before it has finished
 * and its writes are visible, then lets the next one launch, whose blocks
 * then wait on the SMs instead of being launched after this one ends. A
 * no-op for a kernel not launched as a programmatic dependent, and before
 * sm_90. It must come before any read of an activation or any write. */
__device__ __forceinline__ void rg_pdl_begin(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

typedef long long i64;

/* Kernel parameters; the host's struct (runtime/cuda_exec.c) has the same
 * members in the same order. */
struct rg_attention_general_params {
    const void *qkv;
    void *out;
    const void *mask;    /* additive (qkv's dtype) or key_padding [B, S]; NULL: none */
    const void *bias;    /* additive, qkv's dtype; NULL: none */
    i64 mask_strides[4]; /* element strides over [B, H, S, S] (additive) */
    i64 bias_strides[4];
    int mask_kind;       /* 0 none, 1 additive, 2 key_padding */
    int mask_dtype;      /* key_padding: 0 bool, 1 int32, 2 int64, 3 f32, 4 f16, 5 bf16 */
    int batch, seq, heads, head_dim;
    float scale;
    int causal;
    int uniform;         /* empty rows: 1 the mean of V, 0 zeros */
};

__device__ __forceinline__ float rg_ld(const float *p, i64 i) { return p[i]; }
__device__ __forceinline__ float rg_ld(const __half *p, i64 i) { return __half2float(p[i]); }
__device__ __forceinline__ float rg_ld(const __nv_bfloat16 *p, i64 i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void rg_st(float *p, i64 i, float x) { p[i] = x; }
__device__ __forceinline__ void rg_st(__half *p, i64 i, float x) { p[i] = __float2half_rn(x); }
__device__ __forceinline__ void rg_st(__nv_bfloat16 *p, i64 i, float x) { p[i] = __float2bfloat16_rn(x); }

__device__ __forceinline__ bool rg_key_kept(const void *mask, int dtype, i64 i) {
    switch (dtype) {
    case 0: return ((const unsigned char *)mask)[i] != 0;
    case 1: return ((const int *)mask)[i] != 0;
    case 2: return ((const i64 *)mask)[i] != 0;
    case 3: return ((const float *)mask)[i] != 0.0f;
    case 4: return __half2float(((const __half *)mask)[i]) != 0.0f;
    default: return __bfloat162float(((const __nv_bfloat16 *)mask)[i]) != 0.0f;
    }
}

/* Block-wide max or sum; every thread gets the result. */
__device__ float rg_block_reduce(float x, bool is_max, float *scratch) {
    for (int o = 16; o > 0; o >>= 1) {
        float y = __shfl_xor_sync(0xffffffffu, x, o);
        x = is_max ? fmaxf(x, y) : x + y;
    }
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = (blockDim.x + 31) >> 5;
    __syncthreads(); /* scratch may still be read from the previous reduction */
    if (lane == 0) scratch[warp] = x;
    __syncthreads();
    float r = scratch[0];
    for (int w = 1; w < warps; w++) r = is_max ? fmaxf(r, scratch[w]) : r + scratch[w];
    return r;
}

template <typename T>
__device__ void rg_attention_general(const rg_attention_general_params &p) {
    extern __shared__ float smem[]; /* q [D], scores [S] */
    __shared__ float scratch[32];
    const float neg_inf = __int_as_float(0xff800000);
    const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int S = p.seq, D = p.head_dim, H = p.heads;
    const i64 width = 3LL * H * D;
    const T *base = (const T *)p.qkv + (i64)b * S * width;
    float *q = smem, *scores = smem + D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) q[d] = rg_ld(base + (i64)i * width + (i64)h * D, d);
    __syncthreads();
    float row_max = neg_inf;
    for (int j = threadIdx.x; j < S; j += blockDim.x) {
        const T *k = base + (i64)j * width + (i64)(H + h) * D;
        float dot = 0.0f;
        for (int d = 0; d < D; d++) dot += q[d] * rg_ld(k, d);
        float s = dot * p.scale;
        if (p.bias)
            s += rg_ld((const T *)p.bias, b * p.bias_strides[0] + h * p.bias_strides[1] + i * p.bias_strides[2] +
                                              j * p.bias_strides[3]);
        if (p.mask_kind == 1)
            s += rg_ld((const T *)p.mask, b * p.mask_strides[0] + h * p.mask_strides[1] + i * p.mask_strides[2] +
                                              j * p.mask_strides[3]);
        if (p.causal && j > i) s = neg_inf;
        if (p.mask_kind == 2 && !rg_key_kept(p.mask, p.mask_dtype, (i64)b * S + j)) s = neg_inf;
        scores[j] = s;
        row_max = fmaxf(row_max, s);
    }
    row_max = rg_block_reduce(row_max, true, scratch);
    float total = 0.0f;
    for (int j = threadIdx.x; j < S; j += blockDim.x) {
        /* a row with no key left: zeros, or the flat softmax of "uniform" */
        float e = row_max == neg_inf ? (p.uniform ? 1.0f : 0.0f) : expf(scores[j] - row_max);
        scores[j] = e;
        total += e;
    }
    total = rg_block_reduce(total, false, scratch); /* its barriers publish scores[] too */
    float inv = total > 0.0f ? 1.0f / total : 0.0f;
    T *out = (T *)p.out + ((i64)b * S + i) * H * D + (i64)h * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        const T *v = base + (i64)(2 * H + h) * D + d;
        float acc = 0.0f;
        for (int j = 0; j < S; j++) acc += scores[j] * rg_ld(v, (i64)j * width);
        rg_st(out, d, acc * inv);
    }
}

extern "C" __global__ void rg_attention_general_f32(rg_attention_general_params p) {
    rg_pdl_begin();
    rg_attention_general<float>(p);
}
extern "C" __global__ void rg_attention_general_f16(rg_attention_general_params p) {
    rg_pdl_begin();
    rg_attention_general<__half>(p);
}
extern "C" __global__ void rg_attention_general_bf16(rg_attention_general_params p) {
    rg_pdl_begin();
    rg_attention_general<__nv_bfloat16>(p);
}

/* Grid (heads, batch): sequence b's rows become the mean of V over its S
 * keys when seqlens_k[b] < below. */
template <typename T>
__device__ void rg_attention_uniform(const T *qkv, T *out, const int *seqlens_k, int below, int seq, int heads,
                                     int head_dim) {
    const int h = blockIdx.x, b = blockIdx.y;
    if (seqlens_k[b] >= below) return;
    const i64 width = 3LL * heads * head_dim;
    const T *v = qkv + (i64)b * seq * width + (i64)(2 * heads + h) * head_dim;
    T *o = out + (i64)b * seq * heads * head_dim + (i64)h * head_dim;
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < seq; j++) acc += rg_ld(v, (i64)j * width + d);
        float mean = seq > 0 ? acc / (float)seq : 0.0f;
        for (int i = 0; i < seq; i++) rg_st(o, (i64)i * heads * head_dim + d, mean);
    }
}

extern "C" __global__ void rg_attention_uniform_f32(const float *qkv, float *out, const int *seqlens_k, int below,
                                                    int seq, int heads, int head_dim) {
    rg_pdl_begin();
    rg_attention_uniform<float>(qkv, out, seqlens_k, below, seq, heads, head_dim);
}
extern "C" __global__ void rg_attention_uniform_f16(const __half *qkv, __half *out, const int *seqlens_k, int below,
                                                    int seq, int heads, int head_dim) {
    rg_pdl_begin();
    rg_attention_uniform<__half>(qkv, out, seqlens_k, below, seq, heads, head_dim);
}
extern "C" __global__ void rg_attention_uniform_bf16(const __nv_bfloat16 *qkv, __nv_bfloat16 *out,
                                                     const int *seqlens_k, int below, int seq, int heads,
                                                     int head_dim) {
    rg_pdl_begin();
    rg_attention_uniform<__nv_bfloat16>(qkv, out, seqlens_k, below, seq, heads, head_dim);
}
