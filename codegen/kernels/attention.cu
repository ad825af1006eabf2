/*
 * attention.cu — fused attention for packed variable-length batches
 * (flash-attention style), compiled by NVRTC at plan-compile time.
 *
 * One program per variant, chosen with -D (codegen/kernels.c builds them):
 *   RG_ATTN_DTYPE      0 = fp32 (plain FMA), 1 = fp16, 2 = bf16 (tensor cores)
 *   RG_ATTN_HEAD_DIM   32, 64 or 128
 *   RG_ATTN_CAUSAL     0 or 1: key j is seen by query i only when j <= i
 *   RG_ATTN_KERNEL     the extern "C" name of the kernel
 *
 * Layout (runtime/cuda_attention.h states the contract): sequence b owns
 * tokens cu_seqlens[b] .. cu_seqlens[b+1]; its queries are all those tokens,
 * its keys/values the first len_k of them, len_k = min(seqlens_k[b], len_q)
 * when seqlens_k is given (right padding), else len_q. Q/K/V rows are read in
 * place through a per-tensor token stride (a packed [T, 3, H, D] QKV buffer
 * works), head h at element offset h*D. O is [T, H, D], contiguous.
 *
 * The score matrix never leaves the chip: a block owns a tile of queries of
 * one (sequence, head), streams K/V tiles through shared memory and keeps a
 * running row max and sum (online softmax) with the output in registers,
 * rescaling when the max grows. Everything is in fp32 except the tensor-core
 * operands. A row with no visible key writes zeros.
 */
#if RG_ATTN_DTYPE != 0
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#endif

#if !defined(RG_ATTN_DTYPE) || !defined(RG_ATTN_HEAD_DIM) || !defined(RG_ATTN_CAUSAL) || !defined(RG_ATTN_KERNEL)
#error "define RG_ATTN_DTYPE, RG_ATTN_HEAD_DIM, RG_ATTN_CAUSAL and RG_ATTN_KERNEL"
#endif
#if RG_ATTN_HEAD_DIM != 32 && RG_ATTN_HEAD_DIM != 64 && RG_ATTN_HEAD_DIM != 128
#error "RG_ATTN_HEAD_DIM must be 32, 64 or 128"
#endif

/* Passed by value; the host mirror is struct attention_params in
 * runtime/cuda_attention.c and must keep this exact layout. */
struct rg_attention_params {
    const void *q, *k, *v;
    void *out;
    const int *cu_seqlens; /* [batch + 1] */
    const int *seqlens_k;  /* [batch] or NULL */
    long long q_stride, k_stride, v_stride; /* elements from one token to the next */
    int batch, heads;
    float scale_log2; /* softmax scale times log2(e): the kernel works in base 2 */
    int unused;
};

#define RG_ATTN_NEG_INF (-__int_as_float(0x7f800000))

/* Sequence geometry shared by both kernels. */
struct rg_attn_seq {
    int start, len_q, len_k;
};

__device__ __forceinline__ rg_attn_seq rg_attn_sequence(const rg_attention_params &p, int b) {
    rg_attn_seq s;
    s.start = p.cu_seqlens[b];
    s.len_q = p.cu_seqlens[b + 1] - s.start;
    if (s.len_q < 0) s.len_q = 0;
    s.len_k = s.len_q;
    if (p.seqlens_k) s.len_k = min(max(p.seqlens_k[b], 0), s.len_q);
    return s;
}

__device__ __forceinline__ bool rg_attn_visible(int key, int row, int len_k) {
    return key < len_k && (!RG_ATTN_CAUSAL || key <= row);
}

#if RG_ATTN_DTYPE == 0
/* ---------------------------------------------------------------------------
 * fp32: correctness first. Four threads share a query row, thread `sub` owning
 * dims sub, sub+4, ... (consecutive words across the four, so shared-memory
 * reads of a K/V row hit distinct banks); dot products are finished with two
 * shuffles. 32 query rows per block, 32 keys per tile.
 */
#define RG_ATTN_BM 32
#define RG_ATTN_BN 32
#define RG_ATTN_SLICE (RG_ATTN_HEAD_DIM / 4)

extern "C" __global__ void __launch_bounds__(128) RG_ATTN_KERNEL(const rg_attention_params p) {
    __shared__ float k_tile[RG_ATTN_BN * RG_ATTN_HEAD_DIM];
    __shared__ float v_tile[RG_ATTN_BN * RG_ATTN_HEAD_DIM];
    const int b = blockIdx.z, h = blockIdx.y;
    const rg_attn_seq seq = rg_attn_sequence(p, b);
    const int q0 = blockIdx.x * RG_ATTN_BM;
    if (q0 >= seq.len_q) return;
    const int sub = threadIdx.x & 3;
    const int row = q0 + (threadIdx.x >> 2);
    const bool row_valid = row < seq.len_q;
    const float *qg = (const float *)p.q + h * RG_ATTN_HEAD_DIM;
    const float *kg = (const float *)p.k + h * RG_ATTN_HEAD_DIM;
    const float *vg = (const float *)p.v + h * RG_ATTN_HEAD_DIM;

    float q[RG_ATTN_SLICE], o[RG_ATTN_SLICE];
#pragma unroll
    for (int i = 0; i < RG_ATTN_SLICE; i++) {
        q[i] = row_valid ? qg[(long long)(seq.start + row) * p.q_stride + sub + 4 * i] : 0.0f;
        o[i] = 0.0f;
    }
    float m = RG_ATTN_NEG_INF, l = 0.0f;
    int kv_end = seq.len_k;
    if (RG_ATTN_CAUSAL) kv_end = min(kv_end, q0 + RG_ATTN_BM);

    for (int k0 = 0; k0 < kv_end; k0 += RG_ATTN_BN) {
        __syncthreads();
        for (int i = threadIdx.x; i < RG_ATTN_BN * RG_ATTN_HEAD_DIM; i += blockDim.x) {
            const int r = i / RG_ATTN_HEAD_DIM, c = i % RG_ATTN_HEAD_DIM, key = k0 + r;
            const bool in = key < seq.len_k;
            k_tile[i] = in ? kg[(long long)(seq.start + key) * p.k_stride + c] : 0.0f;
            v_tile[i] = in ? vg[(long long)(seq.start + key) * p.v_stride + c] : 0.0f;
        }
        __syncthreads();
        float s[RG_ATTN_BN];
        float mx = RG_ATTN_NEG_INF;
#pragma unroll
        for (int j = 0; j < RG_ATTN_BN; j++) {
            float part = 0.0f;
#pragma unroll
            for (int i = 0; i < RG_ATTN_SLICE; i++) part = fmaf(q[i], k_tile[j * RG_ATTN_HEAD_DIM + sub + 4 * i], part);
            part += __shfl_xor_sync(0xffffffffu, part, 1);
            part += __shfl_xor_sync(0xffffffffu, part, 2);
            s[j] = rg_attn_visible(k0 + j, row, seq.len_k) ? part * p.scale_log2 : RG_ATTN_NEG_INF;
            mx = fmaxf(mx, s[j]);
        }
        const float m_new = fmaxf(m, mx);
        /* Subtracting 0 while every key so far is masked keeps exp2 at 0, not NaN. */
        const float base = m_new == RG_ATTN_NEG_INF ? 0.0f : m_new;
        const float alpha = exp2f(m - base);
        m = m_new;
        l *= alpha;
#pragma unroll
        for (int i = 0; i < RG_ATTN_SLICE; i++) o[i] *= alpha;
#pragma unroll
        for (int j = 0; j < RG_ATTN_BN; j++) {
            const float pj = exp2f(s[j] - base);
            l += pj;
#pragma unroll
            for (int i = 0; i < RG_ATTN_SLICE; i++) o[i] = fmaf(pj, v_tile[j * RG_ATTN_HEAD_DIM + sub + 4 * i], o[i]);
        }
    }
    if (!row_valid) return;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    float *og = (float *)p.out + ((long long)(seq.start + row) * p.heads + h) * RG_ATTN_HEAD_DIM;
#pragma unroll
    for (int i = 0; i < RG_ATTN_SLICE; i++) og[sub + 4 * i] = o[i] * inv;
}

#else
/* ---------------------------------------------------------------------------
 * fp16/bf16: tensor cores through mma.sync m16n8k16 (sm_80+), fp32
 * accumulators. Four warps, each owning 16 query rows of a 64-row tile; keys
 * come in tiles of 64. Fragment layouts are the PTX ISA's for m16n8k16: with
 * g = lane / 4 and t = lane % 4, an A register holds row g or g+8, columns
 * 2t, 2t+1 (+8); a B register holds rows (k) 2t, 2t+1 (+8) of column g; the
 * accumulator holds row g (c0, c1) and g+8 (c2, c3), columns 2t, 2t+1. So the
 * score accumulators of two adjacent 8-key tiles are exactly the A operand of
 * P·V, and P never goes through shared memory.
 */
#if RG_ATTN_DTYPE == 1
typedef __half rg_attn_elem;
#define RG_ATTN_MMA "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"
__device__ __forceinline__ unsigned rg_attn_pack(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *(unsigned *)&v;
}
#else
typedef __nv_bfloat16 rg_attn_elem;
#define RG_ATTN_MMA "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"
__device__ __forceinline__ unsigned rg_attn_pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *(unsigned *)&v;
}
#endif

#define RG_ATTN_BM 64
#define RG_ATTN_BN 64
#define RG_ATTN_LD (RG_ATTN_HEAD_DIM + 8) /* padded row: fragment reads of 8 rows hit distinct banks */
#define RG_ATTN_KSTEPS (RG_ATTN_HEAD_DIM / 16)
#define RG_ATTN_DTILES (RG_ATTN_HEAD_DIM / 8)
#define RG_ATTN_NTILES (RG_ATTN_BN / 8)

__device__ __forceinline__ void rg_attn_mma(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
    asm volatile(RG_ATTN_MMA " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Two consecutive elements of a query row, or zeros past the sequence. */
__device__ __forceinline__ unsigned rg_attn_load_pair(const rg_attn_elem *base, long long stride, int start, int row,
                                                      int len, int col) {
    if (row >= len) return 0u;
    return *(const unsigned *)(base + (long long)(start + row) * stride + col);
}

extern "C" __global__ void __launch_bounds__(128) RG_ATTN_KERNEL(const rg_attention_params p) {
    __shared__ __align__(16) rg_attn_elem k_tile[RG_ATTN_BN * RG_ATTN_LD];
    __shared__ __align__(16) rg_attn_elem v_tile[RG_ATTN_BN * RG_ATTN_LD];
    const int b = blockIdx.z, h = blockIdx.y;
    const rg_attn_seq seq = rg_attn_sequence(p, b);
    const int q0 = blockIdx.x * RG_ATTN_BM;
    if (q0 >= seq.len_q) return;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int row0 = q0 + warp * 16 + g, row1 = row0 + 8; /* the two rows this thread holds */
    const rg_attn_elem *qg = (const rg_attn_elem *)p.q + h * RG_ATTN_HEAD_DIM;
    const rg_attn_elem *kg = (const rg_attn_elem *)p.k + h * RG_ATTN_HEAD_DIM;
    const rg_attn_elem *vg = (const rg_attn_elem *)p.v + h * RG_ATTN_HEAD_DIM;

    unsigned qf[RG_ATTN_KSTEPS][4];
#pragma unroll
    for (int kk = 0; kk < RG_ATTN_KSTEPS; kk++) {
        const int col = kk * 16 + 2 * t;
        qf[kk][0] = rg_attn_load_pair(qg, p.q_stride, seq.start, row0, seq.len_q, col);
        qf[kk][1] = rg_attn_load_pair(qg, p.q_stride, seq.start, row1, seq.len_q, col);
        qf[kk][2] = rg_attn_load_pair(qg, p.q_stride, seq.start, row0, seq.len_q, col + 8);
        qf[kk][3] = rg_attn_load_pair(qg, p.q_stride, seq.start, row1, seq.len_q, col + 8);
    }
    float o[RG_ATTN_DTILES][4];
#pragma unroll
    for (int d = 0; d < RG_ATTN_DTILES; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
    float m0 = RG_ATTN_NEG_INF, m1 = RG_ATTN_NEG_INF, l0 = 0.0f, l1 = 0.0f; /* l: this thread's part */
    int kv_end = seq.len_k;
    if (RG_ATTN_CAUSAL) kv_end = min(kv_end, q0 + RG_ATTN_BM);
    const unsigned short *vt = (const unsigned short *)v_tile;

    for (int k0 = 0; k0 < kv_end; k0 += RG_ATTN_BN) {
        __syncthreads();
        /* 16-byte loads; keys past len_k are zeros so that 0 * V stays 0. */
        for (int i = threadIdx.x; i < RG_ATTN_BN * (RG_ATTN_HEAD_DIM / 8); i += blockDim.x) {
            const int r = i / (RG_ATTN_HEAD_DIM / 8), c = (i % (RG_ATTN_HEAD_DIM / 8)) * 8, key = k0 + r;
            uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
            if (key < seq.len_k) {
                kv = *(const uint4 *)(kg + (long long)(seq.start + key) * p.k_stride + c);
                vv = *(const uint4 *)(vg + (long long)(seq.start + key) * p.v_stride + c);
            }
            *(uint4 *)&k_tile[r * RG_ATTN_LD + c] = kv;
            *(uint4 *)&v_tile[r * RG_ATTN_LD + c] = vv;
        }
        __syncthreads();

        float s[RG_ATTN_NTILES][4];
#pragma unroll
        for (int j = 0; j < RG_ATTN_NTILES; j++) {
            s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
            const rg_attn_elem *krow = &k_tile[(j * 8 + g) * RG_ATTN_LD + 2 * t];
#pragma unroll
            for (int kk = 0; kk < RG_ATTN_KSTEPS; kk++) {
                const unsigned b0 = *(const unsigned *)(krow + kk * 16);
                const unsigned b1 = *(const unsigned *)(krow + kk * 16 + 8);
                rg_attn_mma(s[j], qf[kk], b0, b1);
            }
        }
        float mx0 = RG_ATTN_NEG_INF, mx1 = RG_ATTN_NEG_INF;
#pragma unroll
        for (int j = 0; j < RG_ATTN_NTILES; j++) {
            const int key = k0 + j * 8 + 2 * t;
            s[j][0] = rg_attn_visible(key, row0, seq.len_k) ? s[j][0] * p.scale_log2 : RG_ATTN_NEG_INF;
            s[j][1] = rg_attn_visible(key + 1, row0, seq.len_k) ? s[j][1] * p.scale_log2 : RG_ATTN_NEG_INF;
            s[j][2] = rg_attn_visible(key, row1, seq.len_k) ? s[j][2] * p.scale_log2 : RG_ATTN_NEG_INF;
            s[j][3] = rg_attn_visible(key + 1, row1, seq.len_k) ? s[j][3] * p.scale_log2 : RG_ATTN_NEG_INF;
            mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
            mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
        }
        /* The four threads of a group hold one row between them. */
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float new0 = fmaxf(m0, mx0), new1 = fmaxf(m1, mx1);
        /* Subtracting 0 while every key so far is masked keeps exp2 at 0, not NaN. */
        const float base0 = new0 == RG_ATTN_NEG_INF ? 0.0f : new0;
        const float base1 = new1 == RG_ATTN_NEG_INF ? 0.0f : new1;
        const float alpha0 = exp2f(m0 - base0), alpha1 = exp2f(m1 - base1);
        m0 = new0;
        m1 = new1;
        l0 *= alpha0;
        l1 *= alpha1;
#pragma unroll
        for (int d = 0; d < RG_ATTN_DTILES; d++) {
            o[d][0] *= alpha0;
            o[d][1] *= alpha0;
            o[d][2] *= alpha1;
            o[d][3] *= alpha1;
        }
#pragma unroll
        for (int j = 0; j < RG_ATTN_NTILES; j++) {
            s[j][0] = exp2f(s[j][0] - base0);
            s[j][1] = exp2f(s[j][1] - base0);
            s[j][2] = exp2f(s[j][2] - base1);
            s[j][3] = exp2f(s[j][3] - base1);
            l0 += s[j][0] + s[j][1];
            l1 += s[j][2] + s[j][3];
        }
#pragma unroll
        for (int c = 0; c < RG_ATTN_BN / 16; c++) {
            unsigned a[4];
            a[0] = rg_attn_pack(s[2 * c][0], s[2 * c][1]);
            a[1] = rg_attn_pack(s[2 * c][2], s[2 * c][3]);
            a[2] = rg_attn_pack(s[2 * c + 1][0], s[2 * c + 1][1]);
            a[3] = rg_attn_pack(s[2 * c + 1][2], s[2 * c + 1][3]);
            const unsigned short *vrow = vt + (c * 16 + 2 * t) * RG_ATTN_LD + g;
#pragma unroll
            for (int d = 0; d < RG_ATTN_DTILES; d++) {
                const unsigned short *vp = vrow + d * 8;
                const unsigned b0 = (unsigned)vp[0] | ((unsigned)vp[RG_ATTN_LD] << 16);
                const unsigned b1 = (unsigned)vp[8 * RG_ATTN_LD] | ((unsigned)vp[9 * RG_ATTN_LD] << 16);
                rg_attn_mma(o[d], a, b0, b1);
            }
        }
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    rg_attn_elem *og = (rg_attn_elem *)p.out + (long long)h * RG_ATTN_HEAD_DIM + 2 * t;
    const long long row_stride = (long long)p.heads * RG_ATTN_HEAD_DIM;
#pragma unroll
    for (int d = 0; d < RG_ATTN_DTILES; d++) {
        if (row0 < seq.len_q)
            *(unsigned *)(og + (seq.start + row0) * row_stride + d * 8) = rg_attn_pack(o[d][0] * inv0, o[d][1] * inv0);
        if (row1 < seq.len_q)
            *(unsigned *)(og + (seq.start + row1) * row_stride + d * 8) = rg_attn_pack(o[d][2] * inv1, o[d][3] * inv1);
    }
}
#endif
