/*
 * attention.cu — fused attention for packed variable-length batches
 * (flash-attention style), compiled by NVRTC at plan-compile time.
 *
 * One program per variant, chosen with -D (codegen/kernels.c builds them):
 *   RG_ATTN_DTYPE      0 = fp32 (plain FMA), 1 = fp16, 2 = bf16 (tensor cores)
 *   RG_ATTN_HEAD_DIM   32, 64 or 128
 *   RG_ATTN_CAUSAL     0 or 1: key j is seen by query i only when j <= i
 *   RG_ATTN_WGMMA      0 or 1: the Hopper kernel (sm_90a; fp16/bf16, head size 64)
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

#if !defined(RG_ATTN_DTYPE) || !defined(RG_ATTN_HEAD_DIM) || !defined(RG_ATTN_CAUSAL) || !defined(RG_ATTN_KERNEL)
#error "define RG_ATTN_DTYPE, RG_ATTN_HEAD_DIM, RG_ATTN_CAUSAL and RG_ATTN_KERNEL"
#endif
#if RG_ATTN_HEAD_DIM != 32 && RG_ATTN_HEAD_DIM != 64 && RG_ATTN_HEAD_DIM != 128
#error "RG_ATTN_HEAD_DIM must be 32, 64 or 128"
#endif
#ifndef RG_ATTN_WGMMA
#define RG_ATTN_WGMMA 0 /* 1: the sm_90a warpgroup-MMA kernel (fp16/bf16, head size 64) */
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
 * fp32: exact fp32 FMA (no TF32, no tensor cores), register-blocked like an
 * SGEMM in both products. A block owns RG_ATTN_BM queries; its threads form a
 * (BM / 4) x 8 grid: thread (ty, tx) holds queries 4ty .. 4ty+3 and, for
 * S = Q K^T, keys tx*4 + 32g + i (RG_ATTN_TK of them), for O += P V, dims
 * tx*4 + 32g + i (RG_ATTN_TD of them). So one thread's rows are the same in
 * both products, the row max rescales its own output, and the 8 threads of a
 * row (adjacent lanes) finish row reductions with three shuffles. Each step
 * of either product reads one float4 of queries and RG_ATTN_TK/4 (TD/4)
 * float4 of keys (values) from shared memory for 4*TK (4*TD) FMAs.
 *
 * Shared memory: Q and K are stored transposed ([d][query], [d][key]) so a
 * float4 holds 4 queries / 4 keys of one dim; V as [key][d]; P as
 * [key][query] in the space of K (K is dead once S is computed; that costs
 * two more barriers a tile but keeps the block within 48 KB of static shared
 * memory). Stores that would land in one bank are spread by XOR-swizzling
 * the 16-byte group within a row (transposed tiles: by d & 7; P: by key / 4),
 * which keeps every float4 contiguous and every read conflict-free.
 * Head size 128 takes 32x32 tiles (64 threads) to stay within 48 KB.
 * Tiles come in by 4-byte cp.async (fp32 strides need no alignment), all of
 * a tile in flight at once; the other resident blocks (4 an SM at head size
 * 64) compute meanwhile.
 */
#define RG_ATTN_TX 8 /* threads sharing a query row */
#if RG_ATTN_HEAD_DIM == 128
#define RG_ATTN_BM 32
#define RG_ATTN_BN 32
#else
#define RG_ATTN_BM 64
#define RG_ATTN_BN 64
#endif
#define RG_ATTN_TK (RG_ATTN_BN / RG_ATTN_TX)       /* keys per thread */
#define RG_ATTN_TD (RG_ATTN_HEAD_DIM / RG_ATTN_TX) /* output dims per thread */
#define RG_ATTN_THREADS (RG_ATTN_BM / 4 * RG_ATTN_TX)
#define RG_ATTN_WARPS (RG_ATTN_THREADS / 32)
#define RG_ATTN_KP_SIZE \
    (RG_ATTN_HEAD_DIM * RG_ATTN_BN > RG_ATTN_BN * RG_ATTN_BM ? RG_ATTN_HEAD_DIM * RG_ATTN_BN : RG_ATTN_BN * RG_ATTN_BM)

/* Index of (d, n) in a transposed [d][n] tile of row length `width`. */
__device__ __forceinline__ int rg_attn_tr(int d, int n, int width) { return d * width + (n ^ ((d & 7) << 2)); }

/* Index of (key, query) in P. */
__device__ __forceinline__ int rg_attn_p(int key, int query) {
    return key * RG_ATTN_BM + (query ^ (((key >> 2) & (RG_ATTN_BM / 4 - 1)) << 2));
}

/* 4 bytes global -> shared, asynchronously (cp.async, sm_80+); zero when
 * !valid (src is not read, but must still be a mapped address). Every load
 * of a tile is in flight at once and none takes a register. */
__device__ __forceinline__ void rg_attn_cp4(float *dst, const float *src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"((unsigned)__cvta_generic_to_shared(dst)),
                 "l"(src), "r"(valid ? 4 : 0)
                 : "memory");
}

/* Waits until every copy this thread started has landed. */
__device__ __forceinline__ void rg_attn_cp_wait(void) { asm volatile("cp.async.wait_all;\n" ::: "memory"); }

/* Starts the copy of rows first .. first+N-1 of one head (N = width) into a
 * transposed tile; rows at or past `end` become zeros (first < end). A warp
 * reads 4 rows x 8 dims per step (32-byte pieces of each row), whose
 * swizzled stores hit 32 distinct banks. */
template <int N>
__device__ __forceinline__ void rg_attn_load_tr(float *dst, const float *src, long long stride, int start, int first,
                                                int end) {
    constexpr int chunks = RG_ATTN_HEAD_DIM / 8 * (N / 4), steps = chunks / RG_ATTN_WARPS;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll 8
    for (int s = 0; s < steps; s++) {
        const int c = s * RG_ATTN_WARPS + warp;
        const int d = (c % (RG_ATTN_HEAD_DIM / 8)) * 8 + (lane & 7), n = (c / (RG_ATTN_HEAD_DIM / 8)) * 4 + (lane >> 3);
        const bool in = first + n < end;
        rg_attn_cp4(&dst[rg_attn_tr(d, n, N)], src + (long long)(start + (in ? first + n : first)) * stride + d, in);
    }
}

extern "C" __global__ void __launch_bounds__(RG_ATTN_THREADS, 3) RG_ATTN_KERNEL(const rg_attention_params p) {
    rg_pdl_begin();
    __shared__ __align__(16) float q_tile[RG_ATTN_HEAD_DIM * RG_ATTN_BM];
    __shared__ __align__(16) float kp_tile[RG_ATTN_KP_SIZE];
    __shared__ __align__(16) float v_tile[RG_ATTN_BN * RG_ATTN_HEAD_DIM];
    const int b = blockIdx.z, h = blockIdx.y;
    const rg_attn_seq seq = rg_attn_sequence(p, b);
    const int q0 = blockIdx.x * RG_ATTN_BM;
    if (q0 >= seq.len_q) return; /* the whole block: no barrier is left waiting */
    const int tx = threadIdx.x % RG_ATTN_TX, ty = threadIdx.x / RG_ATTN_TX;
    const float *kg = (const float *)p.k + h * RG_ATTN_HEAD_DIM;
    const float *vg = (const float *)p.v + h * RG_ATTN_HEAD_DIM;
    rg_attn_load_tr<RG_ATTN_BM>(q_tile, (const float *)p.q + h * RG_ATTN_HEAD_DIM, p.q_stride, seq.start, q0,
                                seq.len_q);

    float o[4][RG_ATTN_TD], m[4], l[4]; /* l: this thread's part of the row sum */
#pragma unroll
    for (int r = 0; r < 4; r++) {
        m[r] = RG_ATTN_NEG_INF;
        l[r] = 0.0f;
#pragma unroll
        for (int i = 0; i < RG_ATTN_TD; i++) o[r][i] = 0.0f;
    }
    int kv_end = seq.len_k;
    if (RG_ATTN_CAUSAL) kv_end = min(kv_end, q0 + RG_ATTN_BM);

    for (int k0 = 0; k0 < kv_end; k0 += RG_ATTN_BN) {
        __syncthreads(); /* the previous tile's P and V are no longer read */
        rg_attn_load_tr<RG_ATTN_BN>(kp_tile, kg, p.k_stride, seq.start, k0, seq.len_k);
#pragma unroll 8
        for (int s = 0; s < RG_ATTN_BN * RG_ATTN_HEAD_DIM / RG_ATTN_THREADS; s++) {
            const int e = s * RG_ATTN_THREADS + threadIdx.x;
            const int n = e / RG_ATTN_HEAD_DIM, d = e % RG_ATTN_HEAD_DIM;
            /* Zeros past len_k: P is 0 there and 0 * garbage could be NaN. */
            const bool in = k0 + n < seq.len_k;
            rg_attn_cp4(&v_tile[e], vg + (long long)(seq.start + (in ? k0 + n : k0)) * p.v_stride + d, in);
        }
        rg_attn_cp_wait();
        __syncthreads();

        float s[4][RG_ATTN_TK];
#pragma unroll
        for (int r = 0; r < 4; r++)
#pragma unroll
            for (int j = 0; j < RG_ATTN_TK; j++) s[r][j] = 0.0f;
#pragma unroll 1
        for (int d0 = 0; d0 < RG_ATTN_HEAD_DIM; d0 += 8) {
#pragma unroll
            for (int dd = 0; dd < 8; dd++) {
                const int d = d0 + dd;
                const float4 a = *(const float4 *)&q_tile[rg_attn_tr(d, 4 * ty, RG_ATTN_BM)];
                const float qa[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
                for (int g = 0; g < RG_ATTN_TK / 4; g++) {
                    const float4 k = *(const float4 *)&kp_tile[rg_attn_tr(d, 32 * g + 4 * tx, RG_ATTN_BN)];
#pragma unroll
                    for (int r = 0; r < 4; r++) {
                        s[r][4 * g + 0] = fmaf(qa[r], k.x, s[r][4 * g + 0]);
                        s[r][4 * g + 1] = fmaf(qa[r], k.y, s[r][4 * g + 1]);
                        s[r][4 * g + 2] = fmaf(qa[r], k.z, s[r][4 * g + 2]);
                        s[r][4 * g + 3] = fmaf(qa[r], k.w, s[r][4 * g + 3]);
                    }
                }
            }
        }

        /* Online softmax, base 2: scale, mask, row max over the 8 threads.
         * Masks matter only on a tile past len_k or, under a causal mask,
         * past the block's first query. */
        const bool full = k0 + RG_ATTN_BN <= seq.len_k && (!RG_ATTN_CAUSAL || k0 + RG_ATTN_BN - 1 <= q0);
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const int row = q0 + 4 * ty + r;
            float mx = RG_ATTN_NEG_INF;
#pragma unroll
            for (int j = 0; j < RG_ATTN_TK; j++) {
                const int key = k0 + 32 * (j / 4) + 4 * tx + (j % 4);
                s[r][j] = full || rg_attn_visible(key, row, seq.len_k) ? s[r][j] * p.scale_log2 : RG_ATTN_NEG_INF;
                mx = fmaxf(mx, s[r][j]);
            }
#pragma unroll
            for (int off = 1; off < RG_ATTN_TX; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            const float m_new = fmaxf(m[r], mx);
            /* Subtracting 0 while every key so far is masked keeps exp2 at 0, not NaN. */
            const float base = m_new == RG_ATTN_NEG_INF ? 0.0f : m_new;
            const float alpha = exp2f(m[r] - base);
            m[r] = m_new;
            l[r] *= alpha;
#pragma unroll
            for (int i = 0; i < RG_ATTN_TD; i++) o[r][i] *= alpha;
#pragma unroll
            for (int j = 0; j < RG_ATTN_TK; j++) {
                s[r][j] = exp2f(s[r][j] - base);
                l[r] += s[r][j];
            }
        }
        __syncthreads(); /* every thread is done with K: P takes its place */
#pragma unroll
        for (int j = 0; j < RG_ATTN_TK; j++) {
            const int key = 32 * (j / 4) + 4 * tx + (j % 4);
            *(float4 *)&kp_tile[rg_attn_p(key, 4 * ty)] = make_float4(s[0][j], s[1][j], s[2][j], s[3][j]);
        }
        __syncthreads();

#pragma unroll 1
        for (int j0 = 0; j0 < RG_ATTN_BN; j0 += 8) {
#pragma unroll
            for (int jj = 0; jj < 8; jj++) {
                const int j = j0 + jj;
                const float4 a = *(const float4 *)&kp_tile[rg_attn_p(j, 4 * ty)];
                const float pa[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
                for (int g = 0; g < RG_ATTN_TD / 4; g++) {
                    const float4 v = *(const float4 *)&v_tile[j * RG_ATTN_HEAD_DIM + 32 * g + 4 * tx];
#pragma unroll
                    for (int r = 0; r < 4; r++) {
                        o[r][4 * g + 0] = fmaf(pa[r], v.x, o[r][4 * g + 0]);
                        o[r][4 * g + 1] = fmaf(pa[r], v.y, o[r][4 * g + 1]);
                        o[r][4 * g + 2] = fmaf(pa[r], v.z, o[r][4 * g + 2]);
                        o[r][4 * g + 3] = fmaf(pa[r], v.w, o[r][4 * g + 3]);
                    }
                }
            }
        }
    }

    rg_attn_cp_wait(); /* Q's copies, when there was no key tile to wait for them */
    const long long row_stride = (long long)p.heads * RG_ATTN_HEAD_DIM;
    float *og = (float *)p.out + (long long)h * RG_ATTN_HEAD_DIM;
#pragma unroll
    for (int r = 0; r < 4; r++) {
        float sum = l[r];
#pragma unroll
        for (int off = 1; off < RG_ATTN_TX; off <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
        const int row = q0 + 4 * ty + r;
        if (row >= seq.len_q) continue;
        const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
        float *dst = og + (long long)(seq.start + row) * row_stride;
#pragma unroll
        for (int i = 0; i < RG_ATTN_TD; i++) dst[32 * (i / 4) + 4 * tx + (i % 4)] = o[r][i] * inv;
    }
}

#else
/* ---------------------------------------------------------------------------
 * fp16/bf16: tensor cores through mma.sync m16n8k16 (sm_80+), fp32
 * accumulators. Each warp owns 16 * RG_ATTN_WM query rows; the block has
 * blockDim.x / 32 warps (the launcher picks: fewer for short sequences, so
 * that there are enough blocks, more for long ones, so that a K/V tile loaded
 * once serves more queries). Fragment layouts are the PTX ISA's for m16n8k16: with
 * g = lane / 4 and t = lane % 4, an A register holds row g or g+8, columns
 * 2t, 2t+1 (+8); a B register holds rows (k) 2t, 2t+1 (+8) of column g; the
 * accumulator holds row g (c0, c1) and g+8 (c2, c3), columns 2t, 2t+1. So the
 * score accumulators of two adjacent 8-key tiles are exactly the A operand of
 * P·V, and P never goes through shared memory.
 *
 * K/V tiles are double-buffered: cp.async (16 bytes, zero-filled past len_k)
 * fetches tile i+1 while the tensor cores work on tile i. Fragments come out
 * of shared memory with ldmatrix (K as stored, V transposed by
 * ldmatrix.trans). Rows are padded by 16 bytes, so the 8 row addresses of one
 * 8x8 matrix fall in distinct bank groups. Tiles are 32 keys (64 for head
 * size 32) to leave registers for two row tiles a warp and, at head size
 * 128, to keep the two stages within the 48 KB of static shared memory.
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

/* Row tiles (16 queries each) per warp. Two halve the shared-memory reads
 * per MMA (each K/V fragment feeds both), which is what bounds the kernel at
 * one tile a warp; head size 128 has no registers for two. */
#define RG_ATTN_WM (RG_ATTN_HEAD_DIM == 128 ? 1 : 2)
#if RG_ATTN_WM == 2
/* 4 warps at most, 3 blocks an SM: 170 registers a thread. The two tuning
 * knobs may be set with -D (tests/runtime/test_cuda_attention.c sweeps them). */
#define RG_ATTN_MAX_THREADS 128
#ifndef RG_ATTN_MIN_BLOCKS
#define RG_ATTN_MIN_BLOCKS 3
#endif
#ifndef RG_ATTN_BN
#define RG_ATTN_BN (RG_ATTN_HEAD_DIM == 32 ? 64 : 32)
#endif
#else
#define RG_ATTN_MAX_THREADS 256
#define RG_ATTN_MIN_BLOCKS 1
#define RG_ATTN_BN 32
#endif
#define RG_ATTN_LD (RG_ATTN_HEAD_DIM + 8) /* padded row, in elements */
#define RG_ATTN_TILE (RG_ATTN_BN * RG_ATTN_LD)
#define RG_ATTN_CHUNKS (RG_ATTN_HEAD_DIM / 8) /* 16-byte pieces of a row */
#define RG_ATTN_KSTEPS (RG_ATTN_HEAD_DIM / 16)
#define RG_ATTN_DTILES (RG_ATTN_HEAD_DIM / 8)
#define RG_ATTN_NTILES (RG_ATTN_BN / 8)

__device__ __forceinline__ void rg_attn_mma(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
    asm volatile(RG_ATTN_MMA " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned rg_attn_smem(const void *ptr) {
    return (unsigned)__cvta_generic_to_shared(ptr);
}

/* 16 bytes global -> shared, asynchronously; zeros when !valid (src unread). */
__device__ __forceinline__ void rg_attn_cp16(unsigned dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0)
                 : "memory");
}

__device__ __forceinline__ void rg_attn_commit(void) { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

/* Waits until every copy this thread started has landed. */
__device__ __forceinline__ void rg_attn_wait_all(void) { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

__device__ __forceinline__ void rg_attn_ldsm(unsigned r[4], unsigned addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}

__device__ __forceinline__ void rg_attn_ldsm_trans(unsigned r[4], unsigned addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}

/* 2^x; -inf gives 0. The softmax scale is already folded into x. */
__device__ __forceinline__ float rg_attn_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* Two consecutive elements of a query row, or zeros past the sequence. */
__device__ __forceinline__ unsigned rg_attn_load_pair(const rg_attn_elem *base, long long stride, int start, int row,
                                                      int len, int col) {
    if (row >= len) return 0u;
    return *(const unsigned *)(base + (long long)(start + row) * stride + col);
}

/* Starts the copy of keys k0 .. k0+BN-1 (K and V) into one stage; keys past
 * len_k become zeros, so that 0 * V stays 0 and no row reads past the end. */
__device__ __forceinline__ void rg_attn_load_tile(unsigned k_dst, unsigned v_dst, const rg_attn_elem *kg,
                                                  const rg_attn_elem *vg, const rg_attention_params &p,
                                                  const rg_attn_seq &seq, int k0) {
    for (int i = threadIdx.x; i < RG_ATTN_BN * RG_ATTN_CHUNKS; i += blockDim.x) {
        const int r = i / RG_ATTN_CHUNKS, c = (i % RG_ATTN_CHUNKS) * 8, key = k0 + r;
        const bool in = key < seq.len_k;
        const long long token = seq.start + (in ? key : 0);
        const unsigned offset = (unsigned)(r * RG_ATTN_LD + c) * (unsigned)sizeof(rg_attn_elem);
        rg_attn_cp16(k_dst + offset, kg + token * p.k_stride + c, in);
        rg_attn_cp16(v_dst + offset, vg + token * p.v_stride + c, in);
    }
}

/* One online-softmax step for the two query rows a thread holds (row0, its
 * row g of a 16-row tile, and row0 + 8) over the NT 8-key blocks of a score
 * tile, in the accumulator layout mma.sync and wgmma share: s[j][0..1] are
 * row0's keys k0 + 8j + 2t and + 1, s[j][2..3] row1's. Masks what the rows
 * may not see (unless `full`), moves the running max (raw scores) and this
 * thread's part of the sum, rescales the output accumulators o (DT 8-column
 * blocks, same layout), and leaves P as the A operand of P V: pa[c] holds
 * keys 16c .. 16c + 15. The scale is applied with the max subtraction,
 * exp2(s * scale - m * scale) in one FMA, so it must be > 0. */
template <int NT, int DT>
__device__ __forceinline__ void rg_attn_softmax_step(float (&s)[NT][4], float (&o)[DT][4], float &m0, float &m1,
                                                     float &l0, float &l1, unsigned (&pa)[NT / 2][4], int k0,
                                                     int row0, int len_k, bool full, float scale, int t) {
    const int row1 = row0 + 8;
    float mx0 = RG_ATTN_NEG_INF, mx1 = RG_ATTN_NEG_INF;
#pragma unroll
    for (int j = 0; j < NT; j++) {
        if (!full) {
            const int key = k0 + j * 8 + 2 * t;
            if (!rg_attn_visible(key, row0, len_k)) s[j][0] = RG_ATTN_NEG_INF;
            if (!rg_attn_visible(key + 1, row0, len_k)) s[j][1] = RG_ATTN_NEG_INF;
            if (!rg_attn_visible(key, row1, len_k)) s[j][2] = RG_ATTN_NEG_INF;
            if (!rg_attn_visible(key + 1, row1, len_k)) s[j][3] = RG_ATTN_NEG_INF;
        }
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
    const float base0 = new0 == RG_ATTN_NEG_INF ? 0.0f : new0 * scale;
    const float base1 = new1 == RG_ATTN_NEG_INF ? 0.0f : new1 * scale;
    const float alpha0 = rg_attn_exp2(fmaf(m0, scale, -base0));
    const float alpha1 = rg_attn_exp2(fmaf(m1, scale, -base1));
    m0 = new0;
    m1 = new1;
    l0 *= alpha0;
    l1 *= alpha1;
#pragma unroll
    for (int d = 0; d < DT; d++) {
        o[d][0] *= alpha0;
        o[d][1] *= alpha0;
        o[d][2] *= alpha1;
        o[d][3] *= alpha1;
    }
#pragma unroll
    for (int j = 0; j < NT; j++) {
        const float p0 = rg_attn_exp2(fmaf(s[j][0], scale, -base0));
        const float p1 = rg_attn_exp2(fmaf(s[j][1], scale, -base0));
        const float p2 = rg_attn_exp2(fmaf(s[j][2], scale, -base1));
        const float p3 = rg_attn_exp2(fmaf(s[j][3], scale, -base1));
        l0 += p0 + p1;
        l1 += p2 + p3;
        pa[j / 2][(j & 1) * 2] = rg_attn_pack(p0, p1);
        pa[j / 2][(j & 1) * 2 + 1] = rg_attn_pack(p2, p3);
    }
}

/* Output rows row0 and row0 + 8 of a thread (same layout): each row's sum
 * finished across its four threads, o divided by it (0 for a row that saw
 * no key), stored where the row is within len_q. og points at token 0 of
 * this head, column 2t. */
template <int DT>
__device__ __forceinline__ void rg_attn_store_rows(rg_attn_elem *og, long long row_stride, int start, int row0,
                                                   int len_q, const float (&o)[DT][4], float l0, float l1) {
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    const int row1 = row0 + 8;
#pragma unroll
    for (int d = 0; d < DT; d++) {
        if (row0 < len_q)
            *(unsigned *)(og + (start + row0) * row_stride + d * 8) = rg_attn_pack(o[d][0] * inv0, o[d][1] * inv0);
        if (row1 < len_q)
            *(unsigned *)(og + (start + row1) * row_stride + d * 8) = rg_attn_pack(o[d][2] * inv1, o[d][3] * inv1);
    }
}

#if RG_ATTN_WGMMA
/* ---------------------------------------------------------------------------
 * Hopper (sm_90a), fp16/bf16 at head size 64: both products on warpgroup MMA
 * (wgmma.mma_async), which reads its B operand straight from shared memory
 * and runs a 64-row tile per instruction, where mma.sync needs every
 * fragment loaded into registers by ldmatrix first. A block is one or two
 * warpgroups (4 warps each, the launcher picks); warpgroup w owns queries
 * q0 + 64w .. q0 + 64w + 63, warp j of it rows 16j .. 16j + 15 of those.
 *
 * S = Q K^T: m64n64k16, A = the warpgroup's Q tile and B = the K tile, both
 * in shared memory and K-major as stored ([row][d], d contiguous). O += P V:
 * m64n64k16, A = P from registers: the accumulator layout of S (row g / g+8,
 * columns 2t, 2t+1 of every 8-column block, per warp) is the A-fragment
 * layout, so P never leaves registers; B = the V tile [key][d],
 * N-contiguous, read transposed (imm-trans-b 1).
 *
 * Q, K and V tiles (64 rows x 128 bytes) are stored with the 128-byte
 * swizzle the descriptors name: 16-byte chunk c of row r sits at chunk
 * c ^ (r % 8), tiles 1024-byte aligned. K/V are double-buffered: cp.async
 * (zero-filled past len_k) brings tile i+1 while the tensor cores work on
 * tile i; a proxy fence makes the copies visible to wgmma, which reads
 * shared memory through the async proxy.
 */
#if !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#error "the wgmma attention kernel needs the sm_90a target"
#endif
#if RG_ATTN_HEAD_DIM != 64
#error "the wgmma attention kernel is for head size 64"
#endif
#define RG_WG_BN 64                      /* keys per tile */
#define RG_WG_TILE_BYTES (RG_WG_BN * 128) /* one K or V tile: 64 rows of 128 bytes */
#if RG_ATTN_DTYPE == 1
#define RG_WG_MMA "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
#else
#define RG_WG_MMA "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
#endif

#ifndef RG_WG_DEBUG
#define RG_WG_DEBUG 0 /* tests only: 1 writes one tile's raw scores, 2 runs a one-hot P */
#endif
#ifndef RG_WG_DEBUG_TILE
#define RG_WG_DEBUG_TILE 0 /* the key tile RG_WG_DEBUG shows */
#endif

/* Shared-memory matrix descriptor: start address, 128-byte swizzle (mode 1,
 * bits 62-63), 8-row groups 1024 bytes apart (the stride field, bits
 * 32-45). The leading-offset field (bits 16-29) is the stride between
 * 64-column swizzle atoms, which an operand 64 columns wide never takes, and
 * unused by K-major swizzled operands; it holds 1024 too, so that it would
 * be right whichever of the two fields the transposed (V) operand read for
 * its 8-row groups (on the H100 the results do not depend on it). */
__device__ __forceinline__ unsigned long long rg_wg_desc(unsigned addr) {
    return (unsigned long long)((addr >> 4) & 0x3fffu) | ((unsigned long long)(1024 >> 4) << 16) |
           ((unsigned long long)(1024 >> 4) << 32) | (1ull << 62);
}

#define RG_WG_ACC(a)                                                                                                   \
    "+f"(a[0]), "+f"(a[1]), "+f"(a[2]), "+f"(a[3]), "+f"(a[4]), "+f"(a[5]), "+f"(a[6]), "+f"(a[7]), "+f"(a[8]),        \
        "+f"(a[9]), "+f"(a[10]), "+f"(a[11]), "+f"(a[12]), "+f"(a[13]), "+f"(a[14]), "+f"(a[15]), "+f"(a[16]),         \
        "+f"(a[17]), "+f"(a[18]), "+f"(a[19]), "+f"(a[20]), "+f"(a[21]), "+f"(a[22]), "+f"(a[23]), "+f"(a[24]),        \
        "+f"(a[25]), "+f"(a[26]), "+f"(a[27]), "+f"(a[28]), "+f"(a[29]), "+f"(a[30]), "+f"(a[31])
/* scale-d is a predicate (d = a b + d when true), set from operand %37. */
#define RG_WG_OPERANDS                                                                                                 \
    "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n" RG_WG_MMA                                                         \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, " \
    "%24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, "

/* d += a b for one 16-deep slice, both operands in shared memory through
 * their descriptors, K-major (S = Q K^T). */
__device__ __forceinline__ void rg_wg_mma_ss(float d[32], unsigned long long a, unsigned long long b) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n" RG_WG_MMA
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, "
                 "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
                 : RG_WG_ACC(d)
                 : "l"(a), "l"(b), "r"(1));
}
/* d += a b for one 16-deep slice: a from registers, b from shared memory
 * through its descriptor, read transposed (O += P V). */
__device__ __forceinline__ void rg_wg_mma_t(float d[32], const unsigned a[4], unsigned long long b) {
    asm volatile(RG_WG_OPERANDS "1, 1, 1;\n}\n"
                 : RG_WG_ACC(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));
}

/* Orders register writes before the next wgmma reads them. */
__device__ __forceinline__ void rg_wg_fence(void) { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
/* Closes the group of wgmma issued so far and waits for all of them. */
__device__ __forceinline__ void rg_wg_commit_wait(void) {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
/* Keeps the compiler from moving reads of the accumulators above the wait
 * (it cannot see that wgmma writes them late). */
__device__ __forceinline__ void rg_wg_pin(float d[32]) {
#pragma unroll
    for (int i = 0; i < 32; i++) asm volatile("" : "+f"(d[i])::"memory");
}

/* Starts the copy of keys k0 .. k0+63 (K and V) into one stage, swizzled;
 * keys past len_k become zeros, so that 0 * V stays 0. */
__device__ __forceinline__ void rg_wg_load_tile(unsigned k_dst, unsigned v_dst, const rg_attn_elem *kg,
                                                const rg_attn_elem *vg, const rg_attention_params &p,
                                                const rg_attn_seq &seq, int k0) {
    for (int i = threadIdx.x; i < RG_WG_BN * 8; i += blockDim.x) {
        const int r = i >> 3, c = i & 7, key = k0 + r;
        const bool in = key < seq.len_k;
        const long long token = seq.start + (in ? key : 0);
        const unsigned offset = (unsigned)(r * 128 + ((c ^ (r & 7)) << 4));
        rg_attn_cp16(k_dst + offset, kg + token * p.k_stride + c * 8, in);
        rg_attn_cp16(v_dst + offset, vg + token * p.v_stride + c * 8, in);
    }
}

extern "C" __global__ void __launch_bounds__(256) RG_ATTN_KERNEL(const rg_attention_params p) {
    rg_pdl_begin();
    /* stage s: K at tile 2s, V at 2s + 1; warpgroup w's queries at 4 + w.
     * The swizzle is of address bits: tiles start at 1024-byte boundaries
     * (checked below). 48 KB, the static limit. */
    __shared__ __align__(1024) unsigned char tiles_smem[6 * RG_WG_TILE_BYTES];
    const int b = blockIdx.z, h = blockIdx.y;
    const rg_attn_seq seq = rg_attn_sequence(p, b);
    const int bm = (int)(blockDim.x >> 7) * 64; /* queries per block */
    const int q0 = blockIdx.x * bm;
    if (q0 >= seq.len_q) return; /* a query tile past this sequence */
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int group_row = q0 + (warp >> 2) * 64;     /* this warpgroup's first query */
    const int warp_row = group_row + (warp & 3) * 16; /* rows warp_row + g (+8) are this thread's */
    const rg_attn_elem *qg = (const rg_attn_elem *)p.q + h * RG_ATTN_HEAD_DIM;
    const rg_attn_elem *kg = (const rg_attn_elem *)p.k + h * RG_ATTN_HEAD_DIM;
    const rg_attn_elem *vg = (const rg_attn_elem *)p.v + h * RG_ATTN_HEAD_DIM;

    int kv_end = seq.len_k;
    if (RG_ATTN_CAUSAL) kv_end = min(kv_end, q0 + bm);
    const int tiles = (kv_end + RG_WG_BN - 1) / RG_WG_BN;
    const unsigned base = rg_attn_smem(tiles_smem);
    if (base & 1023u) __trap(); /* misplaced tiles would read wrong data, silently */
    if (tiles > 0) rg_wg_load_tile(base, base + RG_WG_TILE_BYTES, kg, vg, p, seq, 0);
    /* This warpgroup's 64 queries, swizzled like K (zeros past len_q); they
     * land with tile 0. Q is the A operand from shared memory: held in
     * registers across tiles (the A-from-registers form), its fragments came
     * back wrong from the second tile on (test_cuda_attention.c,
     * wgmma_products_apart, found that). */
    const unsigned q_tile = base + (unsigned)(4 + (warp >> 2)) * RG_WG_TILE_BYTES;
    for (int i = threadIdx.x & 127; i < 64 * 8; i += 128) {
        const int r = i >> 3, c = i & 7, row = group_row + r;
        const bool in = row < seq.len_q;
        rg_attn_cp16(q_tile + (unsigned)(r * 128 + ((c ^ (r & 7)) << 4)),
                     qg + (long long)(seq.start + (in ? row : 0)) * p.q_stride + c * 8, in);
    }
    rg_attn_commit();

    /* The scale goes in with the max subtraction, as in the mma.sync kernel:
     * a negative scale negates the scores instead. */
    const float scale = fmaxf(fabsf(p.scale_log2), 1.17549435e-38f);
    const bool negate = p.scale_log2 < 0.0f;
    float o[8][4]; /* the accumulator layout of rg_attn_softmax_step */
#pragma unroll
    for (int d = 0; d < 8; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
    float m0 = RG_ATTN_NEG_INF, m1 = RG_ATTN_NEG_INF, l0 = 0.0f, l1 = 0.0f;
    /* wgmma is issued by a whole warpgroup, so skipping is decided per
     * warpgroup: one whose rows are all past len_q only helps with the loads;
     * under a causal mask one stops at the last key its last row sees. */
    const bool group_active = group_row < seq.len_q;
    const int group_kv_end = RG_ATTN_CAUSAL ? min(kv_end, group_row + 64) : kv_end;

    for (int it = 0; it < tiles; it++) {
        const int k0 = it * RG_WG_BN;
        const unsigned stage = base + (unsigned)(it & 1) * 2 * RG_WG_TILE_BYTES;
        /* Tile it has landed for every thread and is visible to the async
         * proxy; every warpgroup is done with tile it-1, whose stage takes
         * tile it+1. One barrier per tile. */
        rg_attn_wait_all();
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        __syncthreads();
        if (it + 1 < tiles) {
            const unsigned next = base + (unsigned)((it + 1) & 1) * 2 * RG_WG_TILE_BYTES;
            rg_wg_load_tile(next, next + RG_WG_TILE_BYTES, kg, vg, p, seq, k0 + RG_WG_BN);
            rg_attn_commit();
        }
        if (!group_active || k0 >= group_kv_end) continue;

        float s[8][4];
        float *const sf = &s[0][0], *const of = &o[0][0]; /* the 32 registers wgmma names */
#pragma unroll
        for (int i = 0; i < 32; i++) sf[i] = 0.0f;
        rg_wg_fence();
#pragma unroll
        for (int kk = 0; kk < 4; kk++) rg_wg_mma_ss(sf, rg_wg_desc(q_tile + kk * 32), rg_wg_desc(stage + kk * 32));
        rg_wg_commit_wait();
        rg_wg_pin(sf);
        if (negate) {
#pragma unroll
            for (int i = 0; i < 32; i++) sf[i] = -sf[i];
        }
#if RG_WG_DEBUG == 1 /* tests: the raw scores of key tile RG_WG_DEBUG_TILE as the output */
        if (it == RG_WG_DEBUG_TILE) {
#pragma unroll
            for (int i = 0; i < 32; i++) of[i] = sf[i];
            l0 = l1 = 0.25f; /* the 4 threads of a row add theirs up */
            break;
        }
#endif

        const bool full = k0 + RG_WG_BN <= seq.len_k && (!RG_ATTN_CAUSAL || k0 + RG_WG_BN - 1 <= warp_row);
        unsigned pa[4][4]; /* P as the A operand: slice c holds keys 16c .. 16c+15 */
        rg_attn_softmax_step<8, 8>(s, o, m0, m1, l0, l1, pa, k0, warp_row + g, seq.len_k, full, scale, t);
#if RG_WG_DEBUG == 2 /* tests: P one-hot, row r of a tile picking key r % 64 */
        if (it == RG_WG_DEBUG_TILE) {
#pragma unroll
            for (int j = 0; j < 8; j++) {
                const int c0 = 8 * j + 2 * t, r0 = (warp & 3) * 16 + g, r1 = r0 + 8;
                pa[j / 2][(j & 1) * 2] = rg_attn_pack(c0 == r0 ? 1.0f : 0.0f, c0 + 1 == r0 ? 1.0f : 0.0f);
                pa[j / 2][(j & 1) * 2 + 1] = rg_attn_pack(c0 == r1 ? 1.0f : 0.0f, c0 + 1 == r1 ? 1.0f : 0.0f);
            }
#pragma unroll
            for (int i = 0; i < 32; i++) of[i] = 0.0f;
            l0 = l1 = 0.25f; /* the 4 threads of a row add theirs up */
        }
#endif
        rg_wg_fence();
#pragma unroll
        for (int c = 0; c < 4; c++) rg_wg_mma_t(of, pa[c], rg_wg_desc(stage + RG_WG_TILE_BYTES + c * 16 * 128));
        rg_wg_commit_wait();
        rg_wg_pin(of);
#if RG_WG_DEBUG == 2
        if (it == RG_WG_DEBUG_TILE) break;
#endif
    }
    rg_attn_wait_all(); /* no copy may still be landing when the block exits */
    rg_attn_store_rows<8>((rg_attn_elem *)p.out + (long long)h * RG_ATTN_HEAD_DIM + 2 * t,
                          (long long)p.heads * RG_ATTN_HEAD_DIM, seq.start, warp_row + g, seq.len_q, o, l0, l1);
}
#else
extern "C" __global__ void __launch_bounds__(RG_ATTN_MAX_THREADS, RG_ATTN_MIN_BLOCKS) RG_ATTN_KERNEL(const rg_attention_params p) {
    rg_pdl_begin();
    __shared__ __align__(128) rg_attn_elem k_tile[2 * RG_ATTN_TILE];
    __shared__ __align__(128) rg_attn_elem v_tile[2 * RG_ATTN_TILE];
    const int b = blockIdx.z, h = blockIdx.y;
    const rg_attn_seq seq = rg_attn_sequence(p, b);
    const int bm = (int)(blockDim.x >> 5) * 16 * RG_ATTN_WM; /* queries per block */
    const int q0 = blockIdx.x * bm;
    if (q0 >= seq.len_q) return; /* a query tile past this sequence */
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int warp_row = q0 + warp * 16 * RG_ATTN_WM; /* rows warp_row + 16 r + g (+8) are this thread's */
    const rg_attn_elem *qg = (const rg_attn_elem *)p.q + h * RG_ATTN_HEAD_DIM;
    const rg_attn_elem *kg = (const rg_attn_elem *)p.k + h * RG_ATTN_HEAD_DIM;
    const rg_attn_elem *vg = (const rg_attn_elem *)p.v + h * RG_ATTN_HEAD_DIM;

    int kv_end = seq.len_k; /* keys past len_k are never loaded */
    if (RG_ATTN_CAUSAL) kv_end = min(kv_end, q0 + bm);
    const int tiles = (kv_end + RG_ATTN_BN - 1) / RG_ATTN_BN;
    const unsigned k_base = rg_attn_smem(k_tile), v_base = rg_attn_smem(v_tile);
    const unsigned stage_bytes = RG_ATTN_TILE * (unsigned)sizeof(rg_attn_elem);
    if (tiles > 0) rg_attn_load_tile(k_base, v_base, kg, vg, p, seq, 0);
    rg_attn_commit();

    /* The scale is applied with the max subtraction, exp2(s * scale - m * scale)
     * in one FMA, on raw scores: that needs scale > 0, so a negative scale
     * negates Q instead (flipping both halves' sign bits) and 0 becomes the
     * smallest normal float, which leaves every exp2 at 1 as it should. */
    const float scale = fmaxf(fabsf(p.scale_log2), 1.17549435e-38f);
    const unsigned q_sign = p.scale_log2 < 0.0f ? 0x80008000u : 0u;
    unsigned qf[RG_ATTN_WM][RG_ATTN_KSTEPS][4];
#pragma unroll
    for (int r = 0; r < RG_ATTN_WM; r++) {
        const int row0 = warp_row + 16 * r + g, row1 = row0 + 8;
#pragma unroll
        for (int kk = 0; kk < RG_ATTN_KSTEPS; kk++) {
            const int col = kk * 16 + 2 * t;
            qf[r][kk][0] = q_sign ^ rg_attn_load_pair(qg, p.q_stride, seq.start, row0, seq.len_q, col);
            qf[r][kk][1] = q_sign ^ rg_attn_load_pair(qg, p.q_stride, seq.start, row1, seq.len_q, col);
            qf[r][kk][2] = q_sign ^ rg_attn_load_pair(qg, p.q_stride, seq.start, row0, seq.len_q, col + 8);
            qf[r][kk][3] = q_sign ^ rg_attn_load_pair(qg, p.q_stride, seq.start, row1, seq.len_q, col + 8);
        }
    }
    float o[RG_ATTN_WM][RG_ATTN_DTILES][4];
    float m[RG_ATTN_WM][2], l[RG_ATTN_WM][2]; /* per row: running max (raw score), this thread's part of the sum */
#pragma unroll
    for (int r = 0; r < RG_ATTN_WM; r++) {
#pragma unroll
        for (int d = 0; d < RG_ATTN_DTILES; d++) o[r][d][0] = o[r][d][1] = o[r][d][2] = o[r][d][3] = 0.0f;
        m[r][0] = m[r][1] = RG_ATTN_NEG_INF;
        l[r][0] = l[r][1] = 0.0f;
    }
    /* A warp whose rows are all past len_q only helps with the loads; under a
     * causal mask a warp stops at the last key its last row sees. */
    const bool warp_active = warp_row < seq.len_q;
    const int warp_kv_end = RG_ATTN_CAUSAL ? min(kv_end, warp_row + 16 * RG_ATTN_WM) : kv_end;
    /* ldmatrix row addresses: lanes 8m..8m+7 name the rows of matrix m. */
    const unsigned k_lane = (unsigned)((lane & 7) * RG_ATTN_LD + (lane >> 3) * 8) * (unsigned)sizeof(rg_attn_elem);
    const unsigned v_lane =
        (unsigned)(((lane & 7) + ((lane >> 3) & 1) * 8) * RG_ATTN_LD + (lane >> 4) * 8) * (unsigned)sizeof(rg_attn_elem);

    for (int it = 0; it < tiles; it++) {
        const int k0 = it * RG_ATTN_BN;
        const unsigned stage = (unsigned)(it & 1) * stage_bytes;
        /* Tile it has landed for every thread; and every warp is done with
         * tile it-1, so its stage can take tile it+1 while this one is used.
         * One barrier per tile. */
        rg_attn_wait_all();
        __syncthreads();
        const unsigned next = stage_bytes - stage; /* the other stage */
        if (it + 1 < tiles) {
            rg_attn_load_tile(k_base + next, v_base + next, kg, vg, p, seq, k0 + RG_ATTN_BN);
            rg_attn_commit();
        }
        if (!warp_active || k0 >= warp_kv_end) continue;
        const unsigned k_stage = k_base + stage + k_lane, v_stage = v_base + stage + v_lane;
        float s[RG_ATTN_WM][RG_ATTN_NTILES][4];
#pragma unroll
        for (int j = 0; j < RG_ATTN_NTILES; j++) {
#pragma unroll
            for (int r = 0; r < RG_ATTN_WM; r++) s[r][j][0] = s[r][j][1] = s[r][j][2] = s[r][j][3] = 0.0f;
#pragma unroll
            for (int kk = 0; kk < RG_ATTN_KSTEPS; kk += 2) {
                unsigned kb[4];
                rg_attn_ldsm(kb, k_stage + (unsigned)(j * 8 * RG_ATTN_LD + kk * 16) * (unsigned)sizeof(rg_attn_elem));
#pragma unroll
                for (int r = 0; r < RG_ATTN_WM; r++) {
                    rg_attn_mma(s[r][j], qf[r][kk], kb[0], kb[1]);
                    rg_attn_mma(s[r][j], qf[r][kk + 1], kb[2], kb[3]);
                }
            }
        }
        /* Masks matter only on a tile that reaches past len_k or, under a
         * causal mask, past this warp's first row. */
        const bool full = k0 + RG_ATTN_BN <= seq.len_k && (!RG_ATTN_CAUSAL || k0 + RG_ATTN_BN - 1 <= warp_row);
        unsigned pa[RG_ATTN_WM][RG_ATTN_BN / 16][4]; /* P as the A operand of P V */
#pragma unroll
        for (int r = 0; r < RG_ATTN_WM; r++)
            rg_attn_softmax_step<RG_ATTN_NTILES, RG_ATTN_DTILES>(s[r], o[r], m[r][0], m[r][1], l[r][0], l[r][1], pa[r],
                                                                 k0, warp_row + 16 * r + g, seq.len_k, full, scale, t);
#pragma unroll
        for (int c = 0; c < RG_ATTN_BN / 16; c++) {
#pragma unroll
            for (int d = 0; d < RG_ATTN_DTILES; d += 2) {
                unsigned vb[4];
                rg_attn_ldsm_trans(vb, v_stage + (unsigned)(c * 16 * RG_ATTN_LD + d * 8) * (unsigned)sizeof(rg_attn_elem));
#pragma unroll
                for (int r = 0; r < RG_ATTN_WM; r++) {
                    rg_attn_mma(o[r][d], pa[r][c], vb[0], vb[1]);
                    rg_attn_mma(o[r][d + 1], pa[r][c], vb[2], vb[3]);
                }
            }
        }
    }
    rg_attn_elem *og = (rg_attn_elem *)p.out + (long long)h * RG_ATTN_HEAD_DIM + 2 * t;
#pragma unroll
    for (int r = 0; r < RG_ATTN_WM; r++)
        rg_attn_store_rows<RG_ATTN_DTILES>(og, (long long)p.heads * RG_ATTN_HEAD_DIM, seq.start, warp_row + 16 * r + g,
                                           seq.len_q, o[r], l[r][0], l[r][1]);
}
#endif /* RG_ATTN_WGMMA */
#endif
