/*
 * persistent.cu — a run of a plan's Linears, Attentions and LayerNorms as
 * one launch: a block per SM stays resident and walks a program of steps,
 * with a grid-wide barrier between them.
 *
 * Why: at few tokens (BERT-base at 1 x 128) a replay is about 100 kernels,
 * each mostly fixed cost (its launch, ramp-up, first loads and drain: a
 * LayerNorm over 128 x 768 takes 3.7 us alone and moves 0.4 MB). Here a
 * step costs its work plus one barrier, and the weights of the next Linear
 * are prefetched into L2 while the step before it runs, so the Linears read
 * them from L2 instead of waiting on HBM. The runtime times a shape's replay
 * with and without this kernel on its first run and keeps the faster
 * (runtime/cuda_persist.c, docs/cuda.md "One launch for a run of nodes").
 *
 * One program per dtype, chosen with -D (codegen/kernels.c):
 *   RG_PK_DTYPE      1 = fp16, 2 = bf16 (fp32 accumulation and statistics)
 *   RG_PK_HEAD_DIMS  attention head sizes compiled in: 1 = 32, 2 = 64, 4 = 128
 *                    (or'ed; default all)
 * The kernel is rg_persistent_f16 / rg_persistent_bf16 (ir/kernel_abi.h).
 * It runs on sm_80 and later (mma.sync, ldmatrix, cp.async).
 *
 * Steps (struct rg_pk_step; the host mirror is runtime/cuda_persist.c):
 * - Linear: Y [m, n] = act(X [m, k] W [k, n] + bias), act none or the erf
 *   GELU. Tiles of BM x 64 of Y (BM = tile_m: 32 up to 32 rows, else
 *   128), each over a contiguous share of k (split); a block takes tile t's
 *   share s. With split > 1 each share writes fp32 partial sums to the
 *   scratch and a reduce step after it (every block, 4 columns a thread)
 *   adds them up in order (so the result does not depend on timing),
 *   applies bias and activation and stores Y. 8 warps, mma.sync m16n8k16
 *   with operands from shared memory through ldmatrix, slices of 64 of k
 *   brought by cp.async 3 ahead.
 * - Attention: packed QKV [B, S, 3 H D] (Q, K, V thirds, head-major) to
 *   [B, S, H D], softmax(scale Q K^T) V with sequence b's keys its first
 *   lens[b] tokens (no lengths: all S), optionally causal. A block takes 16
 *   queries of one (sequence, head); its 8 warps take 16-key slices in turn
 *   with an online softmax each, and the 8 partial results are combined in
 *   shared memory. A row with no key gets zeros, or with "uniform" the mean
 *   of V over all S keys (as rg_attention_uniform).
 * - LayerNorm over rows of n (a multiple of 8, at most 2048): y = (x + r -
 *   mean) / sqrt(var + eps) * gamma + beta, the residual r optional, a
 *   block per row, statistics in fp32 over the row held in registers (8
 *   values a thread) and reduced across the block. Right after a split
 *   Linear whose output only it reads, x is that Linear's shares and bias
 *   added up here (split > 0), and the Linear's reduce step and its store
 *   of Y are skipped.
 *
 * Activations written by one block are read by others after a barrier, so
 * they are read with .cg loads and cp.async.cg (L2, never a stale L1 line:
 * the arena reuses addresses between steps); constants (weights, bias,
 * gamma, beta) go through the read-only path. The barrier: every block adds
 * one to a counter (release) and waits until it reaches (barrier + 1) x
 * blocks (acquire); the last block to leave sets it back to zero, so the
 * scratch is zeroed only when allocated. The host launches cooperatively,
 * a block per SM (every block must be resident for the barrier).
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#if !defined(RG_PK_DTYPE)
#error "define RG_PK_DTYPE (1 fp16, 2 bf16)"
#endif
#ifndef RG_PK_HEAD_DIMS
#define RG_PK_HEAD_DIMS 7
#endif

#if RG_PK_DTYPE == 1
typedef __half rg_pk_elem;
#define RG_PK_KERNEL rg_persistent_f16
#define RG_PK_MMA_TYPES ".f32.f16.f16.f32"
__device__ __forceinline__ unsigned rg_pk_pack(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *(unsigned *)&h;
}
__device__ __forceinline__ float rg_pk_float(rg_pk_elem v) { return __half2float(v); }
__device__ __forceinline__ float2 rg_pk_unpack(unsigned v) {
    __half2 h = *(__half2 *)&v;
    return __half22float2(h);
}
#elif RG_PK_DTYPE == 2
typedef __nv_bfloat16 rg_pk_elem;
#define RG_PK_KERNEL rg_persistent_bf16
#define RG_PK_MMA_TYPES ".f32.bf16.bf16.f32"
__device__ __forceinline__ unsigned rg_pk_pack(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *(unsigned *)&h;
}
__device__ __forceinline__ float rg_pk_float(rg_pk_elem v) { return __bfloat162float(v); }
__device__ __forceinline__ float2 rg_pk_unpack(unsigned v) {
    __nv_bfloat162 h = *(__nv_bfloat162 *)&v;
    return __bfloat1622float2(h);
}
#else
#error "RG_PK_DTYPE must be 1 (fp16) or 2 (bf16)"
#endif

/* Programmatic dependent launch (sm_90; docs/cuda.md, "Launch overlap"): the
 * kernel waits until the kernel before it has finished and its writes are
 * visible. The kernels after it may launch once the last step begins
 * (rg_pk_let_next), not at the start: until then every SM is this kernel's. */
__device__ __forceinline__ void rg_pdl_begin(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void rg_pk_let_next(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

typedef long long i64;

#define RG_PK_NEG_INF __int_as_float(0xff800000)

enum { RG_PK_LINEAR = 1, RG_PK_ATTENTION = 2, RG_PK_LAYER_NORM = 3, RG_PK_REDUCE = 4 };

/* One step; every member 8 bytes, so the host's mirror has no padding. */
struct rg_pk_step {
    i64 kind;
    const void *a;    /* Linear: X; Attention: QKV; LayerNorm: x, or with split the Linear's bias (or NULL) */
    const void *w;    /* Linear: W [k, n]; LayerNorm: gamma */
    const void *bias; /* Linear: bias [n] or NULL; LayerNorm: beta or NULL */
    const void *r;    /* LayerNorm: residual or NULL; Attention: int lens[B] or NULL */
    void *y;
    i64 m;            /* rows; Attention: B */
    i64 n;            /* Linear: columns; LayerNorm: row length; Attention: S */
    i64 k;            /* Linear: depth; Attention: H */
    i64 split;        /* Linear: shares of k; Attention: D; LayerNorm: x from this many shares (0: from a) */
    i64 flags;        /* Linear: 1 GELU; Attention: 1 causal, 2 uniform */
    float f0, f1;     /* LayerNorm: epsilon; Attention: scale */
    i64 work;         /* items: blocks take item blockIdx.x, then every gridDim.x-th */
    const void *prefetch; /* constants a later step reads, brought into L2 now */
    i64 prefetch_bytes;
    i64 tile_m;       /* Linear: rows of a tile, 32 or 128 */
};

#define RG_PK_THREADS 256
#define RG_PK_WARPS 8
#define RG_PK_STAGES 4 /* Linear: slices of k in flight */

/* ----------------------------------------------------------- primitives */

__device__ __forceinline__ unsigned rg_pk_smem(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }

/* 16 bytes global -> shared, through L2 only; src_bytes 0 writes zeros. */
__device__ __forceinline__ void rg_pk_cp16(unsigned dst, const void *src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void rg_pk_commit(void) { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void rg_pk_wait(void) {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void rg_pk_ldsm4(unsigned addr, unsigned (&r)[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void rg_pk_ldsm4_t(unsigned addr, unsigned (&r)[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* d += a b, m16n8k16, fp32 accumulators. */
__device__ __forceinline__ void rg_pk_mma(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col" RG_PK_MMA_TYPES
                 " {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Byte offset of 16-byte piece p of row r in rows of P pieces, swizzled so
 * that 8 consecutive rows at one piece (what ldmatrix reads) fall in 8
 * different bank groups. */
template <int P> __device__ __forceinline__ unsigned rg_pk_swz(int r, int p) {
    if (P >= 8) return (unsigned)(r * P * 16 + ((p ^ (r & 7)) * 16));
    return (unsigned)(r * P * 16 + ((p ^ ((r >> 1) & 3)) * 16)); /* P == 4 */
}

__device__ __forceinline__ float rg_pk_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

__device__ __forceinline__ uint4 rg_pk_ld_cg(const void *p) { return __ldcg((const uint4 *)p); }

/* Waits until every block has arrived at barrier number `index` (from 0). */
__device__ __forceinline__ void rg_pk_grid_sync(unsigned *counter, unsigned index) {
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned target = (index + 1) * gridDim.x, seen;
        /* release: this block's writes (ordered before by the CTA barrier) before the arrival */
        asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(counter) : "memory");
        do {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(seen) : "l"(counter) : "memory");
        } while (seen < target);
    }
    __syncthreads();
}

/* Brings the 128-byte line at p into L2, to stay there. */
__device__ __forceinline__ void rg_pk_prefetch_line(const void *p) {
    asm volatile("prefetch.global.L2::evict_last [%0];\n" ::"l"(p));
}

/* Brings this block's share of [p, p + bytes) into L2, a 128-byte line a
 * thread at a time. */
__device__ __forceinline__ void rg_pk_prefetch(const void *p, i64 bytes) {
    if (!p || bytes <= 0) return;
    i64 lines = (bytes + 127) / 128;
    for (i64 l = (i64)blockIdx.x * RG_PK_THREADS + threadIdx.x; l < lines; l += (i64)gridDim.x * RG_PK_THREADS)
        rg_pk_prefetch_line((const char *)p + l * 128);
}

/* --------------------------------------------------------------- Linear */

/* A block's tile is BM rows (32, or 128 past 32 rows: at few rows no tile
 * works on many rows that are not there, and at 128 rows W is read once)
 * by 64 columns; its 8 warps split it BM / 16 along m
 * by 128 / BM along n, each 16 rows by NW = BM / 2 columns. Shared memory:
 * STAGES x (BM rows of X by 64 of k, then 64 of k by 64 columns of W). */
#define RG_PK_W_SLICE (64 * 128) /* 64 of k x 64 columns */

template <int BM> struct rg_pk_linear_layout {
    static constexpr int a_bytes = BM * 128;
    static constexpr int stage = a_bytes + RG_PK_W_SLICE;
};

/* Slice kt into stage s: X rows row0.. (zeros past m), W columns col0... */
template <int BM>
__device__ __forceinline__ void rg_pk_load_slice(unsigned smem, int s, const rg_pk_step &st, i64 row0, i64 col0,
                                                 i64 kt) {
    typedef rg_pk_linear_layout<BM> L;
    const rg_pk_elem *x = (const rg_pk_elem *)st.a, *w = (const rg_pk_elem *)st.w;
    const unsigned a = smem + s * L::stage, b = a + L::a_bytes;
    for (int i = threadIdx.x; i < BM * 8; i += RG_PK_THREADS) {
        int r = i >> 3, p = i & 7;
        i64 row = row0 + r;
        bool in = row < st.m;
        rg_pk_cp16(a + rg_pk_swz<8>(r, p), x + (in ? row : 0) * st.k + kt * 64 + p * 8, in ? 16 : 0);
    }
    for (int i = threadIdx.x; i < 512; i += RG_PK_THREADS) {
        int r = i >> 3, p = i & 7;
        rg_pk_cp16(b + rg_pk_swz<8>(r, p), w + (kt * 64 + r) * st.n + col0 + p * 8, 16);
    }
}

__device__ __forceinline__ void rg_pk_ldsm2_t(unsigned addr, unsigned (&r)[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(addr));
}

/* The epilogue for columns col, col + 1 of one row: bias, activation. */
__device__ __forceinline__ unsigned rg_pk_finish(const rg_pk_step &st, i64 col, float v0, float v1) {
    if (st.bias) {
        const rg_pk_elem *b = (const rg_pk_elem *)st.bias;
        v0 += rg_pk_float(b[col]);
        v1 += rg_pk_float(b[col + 1]);
    }
    if (st.flags & 1) {
        v0 = rg_pk_gelu(v0);
        v1 = rg_pk_gelu(v1);
    }
    return rg_pk_pack(v0, v1);
}

template <int BM>
__device__ void rg_pk_linear(const rg_pk_step &st, unsigned char *smem_raw, float *partials) {
    typedef rg_pk_linear_layout<BM> L;
    constexpr int WM = BM / 16, WN = RG_PK_WARPS / WM, NW = 64 / WN, J = NW / 8;
    const unsigned smem = rg_pk_smem(smem_raw);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int wm = warp % WM, wn = warp / WM;
    const i64 tiles_m = (st.m + BM - 1) / BM, slices = st.k / 64, split = st.split;
    const i64 per_share = (slices + split - 1) / split;
    for (i64 item = blockIdx.x; item < st.work; item += gridDim.x) {
        const i64 share = item % split, tile = item / split;
        const i64 row0 = (tile % tiles_m) * BM, col0 = (tile / tiles_m) * 64;
        const i64 k0 = share * per_share, k1 = min(slices, k0 + per_share);
        const int count = (int)(k1 - k0);
        float acc[J][4];
#pragma unroll
        for (int j = 0; j < J; j++)
#pragma unroll
            for (int q = 0; q < 4; q++) acc[j][q] = 0.0f;
        for (int s = 0; s < RG_PK_STAGES - 1; s++) {
            if (s < count) rg_pk_load_slice<BM>(smem, s, st, row0, col0, k0 + s);
            rg_pk_commit();
        }
        for (int i = 0; i < count; i++) {
            rg_pk_wait<RG_PK_STAGES - 2>();
            __syncthreads(); /* slice i is in, and every warp is done with slice i - 1's stage */
            int next = i + RG_PK_STAGES - 1;
            if (next < count) rg_pk_load_slice<BM>(smem, next % RG_PK_STAGES, st, row0, col0, k0 + next);
            rg_pk_commit();
            const unsigned a_base = smem + (i % RG_PK_STAGES) * L::stage, b_base = a_base + L::a_bytes;
#pragma unroll
            for (int kk = 0; kk < 4; kk++) {
                unsigned a[4];
                rg_pk_ldsm4(a_base + rg_pk_swz<8>(wm * 16 + (lane & 15), kk * 2 + (lane >> 4)), a);
                if (J == 1) {
                    unsigned b[4];
                    rg_pk_ldsm2_t(b_base + rg_pk_swz<8>(kk * 16 + (lane & 15), wn * (NW / 8)), b);
                    rg_pk_mma(acc[0], a, b[0], b[1]);
                } else {
#pragma unroll
                    for (int h = 0; h < J / 2; h++) {
                        unsigned b[4];
                        rg_pk_ldsm4_t(
                            b_base + rg_pk_swz<8>(kk * 16 + (lane & 15), wn * (NW / 8) + h * 2 + (lane >> 4)), b);
                        rg_pk_mma(acc[2 * h], a, b[0], b[1]);
                        rg_pk_mma(acc[2 * h + 1], a, b[2], b[3]);
                    }
                }
            }
        }
        rg_pk_wait<0>();
        const int g = lane >> 2, t = lane & 3;
        const i64 r_lo = row0 + wm * 16 + g, r_hi = r_lo + 8;
        rg_pk_elem *y = (rg_pk_elem *)st.y;
        if (split == 1) {
#pragma unroll
            for (int j = 0; j < J; j++) {
                i64 col = col0 + wn * NW + j * 8 + t * 2;
                if (r_lo < st.m) *(unsigned *)(y + r_lo * st.n + col) = rg_pk_finish(st, col, acc[j][0], acc[j][1]);
                if (r_hi < st.m) *(unsigned *)(y + r_hi * st.n + col) = rg_pk_finish(st, col, acc[j][2], acc[j][3]);
            }
            __syncthreads(); /* the stages are refilled by the next item */
            continue;
        }
        /* a share of k: its partial sums out; the reduce step after this one adds them up */
        float *part = partials + share * st.m * st.n;
#pragma unroll
        for (int j = 0; j < J; j++) {
            i64 col = col0 + wn * NW + j * 8 + t * 2;
            if (r_lo < st.m) __stcg((float2 *)(part + r_lo * st.n + col), make_float2(acc[j][0], acc[j][1]));
            if (r_hi < st.m) __stcg((float2 *)(part + r_hi * st.n + col), make_float2(acc[j][2], acc[j][3]));
        }
        __syncthreads(); /* the stages are refilled by the next item */
    }
}

/* Y = act(sum of the split shares + bias), every block taking 4 columns of
 * a row at a time; the shares are added in order, so the result does not
 * depend on timing. */
__device__ void rg_pk_reduce(const rg_pk_step &st, const float *partials) {
    const i64 groups = st.m * st.n / 4, stride = (i64)gridDim.x * RG_PK_THREADS, plane = st.m * st.n;
    rg_pk_elem *y = (rg_pk_elem *)st.y;
    for (i64 g = (i64)blockIdx.x * RG_PK_THREADS + threadIdx.x; g < groups; g += stride) {
        float4 v = __ldcg((const float4 *)partials + g);
#pragma unroll 4
        for (i64 s = 1; s < st.split; s++) {
            float4 p = __ldcg((const float4 *)(partials + s * plane) + g);
            v.x += p.x;
            v.y += p.y;
            v.z += p.z;
            v.w += p.w;
        }
        const i64 col = (g * 4) % st.n;
        uint2 out = make_uint2(rg_pk_finish(st, col, v.x, v.y), rg_pk_finish(st, col + 2, v.z, v.w));
        *(uint2 *)(y + g * 4) = out;
    }
}

/* ------------------------------------------------------------ Attention */

/* Shared memory of an item at head size D: Q (16 x D), then per warp two
 * buffers of (K, V), 16 keys each; the combine then reuses the buffers for
 * each warp's partial O (16 x D fp32), row maxima and sums. */
template <int D> struct rg_pk_attention_layout {
    static constexpr unsigned tile = 16 * D * 2; /* bytes of 16 rows */
    static constexpr unsigned q = 0;
    static __device__ __forceinline__ unsigned kv(int warp, int buf, int which) {
        return tile + ((warp * 2 + buf) * 2 + which) * tile;
    }
    static constexpr unsigned o = tile;                            /* float [warps][16][D] */
    static constexpr unsigned m = o + RG_PK_WARPS * 16 * D * 4;    /* float [warps][16] */
    static constexpr unsigned l = m + RG_PK_WARPS * 16 * 4;        /* float [warps][16] */
    static constexpr unsigned bytes = tile + RG_PK_WARPS * 4 * tile; /* >= l + RG_PK_WARPS * 16 * 4 */
};

/* 16 rows of D elements from row `row0` (stride `stride` elements) into
 * swizzled shared memory at `dst`, zeros past row `rows`; `lanes` threads
 * starting at `first` share it. */
template <int D>
__device__ __forceinline__ void rg_pk_load_rows(unsigned dst, const rg_pk_elem *src, i64 stride, int rows, int first,
                                                int lanes, int me) {
    constexpr int P = D / 8;
    for (int i = me - first; i < 16 * P; i += lanes) {
        int r = i / P, p = i % P;
        bool in = r < rows;
        rg_pk_cp16(dst + rg_pk_swz<P>(r, p), src + (in ? (i64)r * stride : 0) + p * 8, in ? 16 : 0);
    }
}

template <int D>
__device__ void rg_pk_attention_item(const rg_pk_step &st, unsigned char *smem_raw, i64 item) {
    constexpr int P = D / 8;
    typedef rg_pk_attention_layout<D> L;
    const unsigned smem = rg_pk_smem(smem_raw);
    float(*cm_o)[16][D] = (float(*)[16][D])(smem_raw + L::o);
    float(*cm_m)[16] = (float(*)[16])(smem_raw + L::m);
    float(*cm_l)[16] = (float(*)[16])(smem_raw + L::l);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const i64 S = st.n, H = st.k; /* st.m, the sequences, bounds the items */
    const i64 qtiles = (S + 15) / 16;
    const i64 qt = item % qtiles, h = (item / qtiles) % H, b = item / (qtiles * H);
    const i64 width = 3 * H * D; /* a token's QKV row */
    const rg_pk_elem *base = (const rg_pk_elem *)st.a + b * S * width;
    const int q0 = (int)(qt * 16), qrows = (int)min((i64)16, S - q0);
    int len = st.r ? ((const int *)st.r)[b] : (int)S;
    if (len > S) len = (int)S;
    const bool causal = st.flags & 1;
    int keys = len;
    if (causal && q0 + qrows < keys) keys = q0 + qrows;
    const int chunks = (keys + 15) / 16;

    /* Q (the whole block) and each warp's first K, V slice: one cp.async group, one wait */
    const rg_pk_elem *kbase = base + H * D + h * D, *vbase = base + 2 * H * D + h * D;
    rg_pk_load_rows<D>(smem + L::q, base + (i64)q0 * width + h * D, width, qrows, 0, RG_PK_THREADS, threadIdx.x);
    if (warp < chunks) {
        int k0 = warp * 16, rows = min(16, keys - k0);
        rg_pk_load_rows<D>(smem + L::kv(warp, 0, 0), kbase + (i64)k0 * width, width, rows, 0, 32, lane);
        rg_pk_load_rows<D>(smem + L::kv(warp, 0, 1), vbase + (i64)k0 * width, width, rows, 0, 32, lane);
    }
    rg_pk_commit();
    rg_pk_wait<0>();
    __syncthreads();

    const int g = lane >> 2, t = lane & 3;
    float o[D / 8][4];
    for (int j = 0; j < D / 8; j++)
        for (int q = 0; q < 4; q++) o[j][q] = 0.0f;
    float m_lo = RG_PK_NEG_INF, m_hi = RG_PK_NEG_INF, l_lo = 0.0f, l_hi = 0.0f;
    const float scale = st.f0 * 1.4426950408889634f; /* exp2 */
    if (warp < chunks) {
        unsigned qa[D / 16][4];
        for (int kk = 0; kk < D / 16; kk++)
            rg_pk_ldsm4(smem + L::q + rg_pk_swz<P>(lane & 15, kk * 2 + (lane >> 4)), qa[kk]);
        int buf = 0;
        for (int c = warp; c < chunks; c += RG_PK_WARPS, buf ^= 1) {
            int cn = c + RG_PK_WARPS;
            if (cn < chunks) {
                int k0 = cn * 16, rows = min(16, keys - k0);
                rg_pk_load_rows<D>(smem + L::kv(warp, buf ^ 1, 0), kbase + (i64)k0 * width, width, rows, 0, 32,
                                   lane);
                rg_pk_load_rows<D>(smem + L::kv(warp, buf ^ 1, 1), vbase + (i64)k0 * width, width, rows, 0, 32,
                                   lane);
            }
            rg_pk_commit();
            rg_pk_wait<1>();
            __syncwarp();
            const unsigned kb = smem + L::kv(warp, buf, 0), vb = smem + L::kv(warp, buf, 1);
            /* S = Q K^T: 16 queries x 16 keys, two n8 halves */
            float s[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++) {
                unsigned kf[4];
                rg_pk_ldsm4(kb + rg_pk_swz<P>((lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1)), kf);
                rg_pk_mma(s[0], qa[kk], kf[0], kf[1]);
                rg_pk_mma(s[1], qa[kk], kf[2], kf[3]);
            }
            const int kbase_i = c * 16;
            float mx_lo = RG_PK_NEG_INF, mx_hi = RG_PK_NEG_INF;
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int key = kbase_i + hf * 8 + t * 2 + (e & 1), q = q0 + g + ((e >> 1) << 3);
                    bool ok = key < keys && (!causal || key <= q);
                    s[hf][e] = ok ? s[hf][e] * scale : RG_PK_NEG_INF;
                    if (e < 2) mx_lo = fmaxf(mx_lo, s[hf][e]);
                    else mx_hi = fmaxf(mx_hi, s[hf][e]);
                }
            for (int d = 1; d < 4; d <<= 1) {
                mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, d));
                mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, d));
            }
            float nm_lo = fmaxf(m_lo, mx_lo), nm_hi = fmaxf(m_hi, mx_hi);
            /* a row with no key yet keeps m = -inf: nothing to rescale, p = 0 */
            float c_lo = nm_lo == RG_PK_NEG_INF ? 1.0f : exp2f(m_lo - nm_lo);
            float c_hi = nm_hi == RG_PK_NEG_INF ? 1.0f : exp2f(m_hi - nm_hi);
            float sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float ref = e < 2 ? nm_lo : nm_hi;
                    float p = ref == RG_PK_NEG_INF ? 0.0f : exp2f(s[hf][e] - ref);
                    s[hf][e] = p;
                    if (e < 2) sum_lo += p;
                    else sum_hi += p;
                }
            l_lo = l_lo * c_lo + sum_lo;
            l_hi = l_hi * c_hi + sum_hi;
            m_lo = nm_lo;
            m_hi = nm_hi;
            for (int j = 0; j < D / 8; j++) {
                o[j][0] *= c_lo;
                o[j][1] *= c_lo;
                o[j][2] *= c_hi;
                o[j][3] *= c_hi;
            }
            /* O += P V: P as the A operand (16 x 16 keys), V [key][d] read transposed */
            unsigned pa[4] = {rg_pk_pack(s[0][0], s[0][1]), rg_pk_pack(s[0][2], s[0][3]), rg_pk_pack(s[1][0], s[1][1]),
                              rg_pk_pack(s[1][2], s[1][3])};
#pragma unroll
            for (int dj = 0; dj < D / 16; dj++) {
                unsigned vf[4];
                rg_pk_ldsm4_t(vb + rg_pk_swz<P>((lane & 7) + (((lane >> 3) & 1) << 3), dj * 2 + (lane >> 4)), vf);
                rg_pk_mma(o[dj * 2], pa, vf[0], vf[1]);
                rg_pk_mma(o[dj * 2 + 1], pa, vf[2], vf[3]);
            }
            __syncwarp(); /* this buffer is refilled two chunks on */
        }
        rg_pk_wait<0>();
    }
    /* row sums: the 4 lanes of a row hold parts */
    for (int d = 1; d < 4; d <<= 1) {
        l_lo += __shfl_xor_sync(0xffffffffu, l_lo, d);
        l_hi += __shfl_xor_sync(0xffffffffu, l_hi, d);
    }
    __syncthreads(); /* every warp is done with its K/V buffers: the combine reuses them */
    for (int j = 0; j < D / 8; j++) {
        int col = j * 8 + t * 2;
        cm_o[warp][g][col] = o[j][0];
        cm_o[warp][g][col + 1] = o[j][1];
        cm_o[warp][g + 8][col] = o[j][2];
        cm_o[warp][g + 8][col + 1] = o[j][3];
    }
    if (t == 0) {
        cm_m[warp][g] = m_lo;
        cm_m[warp][g + 8] = m_hi;
        cm_l[warp][g] = l_lo;
        cm_l[warp][g + 8] = l_hi;
    }
    __syncthreads();
    rg_pk_elem *out = (rg_pk_elem *)st.y + ((i64)b * S + q0) * H * D + h * D;
    const int active = min(RG_PK_WARPS, chunks);
    for (int i = threadIdx.x; i < qrows * (D / 2); i += RG_PK_THREADS) {
        int r = i / (D / 2), col = (i % (D / 2)) * 2;
        float mx = RG_PK_NEG_INF;
        for (int w = 0; w < active; w++) mx = fmaxf(mx, cm_m[w][r]);
        float v0 = 0.0f, v1 = 0.0f, l = 0.0f;
        if (mx != RG_PK_NEG_INF) {
            for (int w = 0; w < active; w++) {
                float f = cm_m[w][r] == RG_PK_NEG_INF ? 0.0f : exp2f(cm_m[w][r] - mx);
                l += cm_l[w][r] * f;
                v0 += cm_o[w][r][col] * f;
                v1 += cm_o[w][r][col + 1] * f;
            }
            v0 /= l;
            v1 /= l;
        } else if (st.flags & 2) {
            /* no key: the flat softmax over all S keys, the mean of V */
            const rg_pk_elem *v = base + 2 * H * D + h * D + col;
            for (i64 j = 0; j < S; j++) {
                float2 f = rg_pk_unpack(__ldcg((const unsigned *)(v + j * width)));
                v0 += f.x;
                v1 += f.y;
            }
            v0 /= (float)S;
            v1 /= (float)S;
        }
        *(unsigned *)(out + (i64)r * H * D + col) = rg_pk_pack(v0, v1);
    }
    __syncthreads(); /* the next item loads Q over this one's combine */
}

/* Head sizes compiled in: RG_PK_HEAD_DIMS has bit 0 for 32, 1 for 64, 2 for
 * 128 (a plan's module takes only its attention nodes' sizes: each is
 * much of the module's compile time); the host builds no step for others. */
__device__ void rg_pk_attention(const rg_pk_step &st, unsigned char *smem) {
    for (i64 item = blockIdx.x; item < st.work; item += gridDim.x) {
        switch (st.split) {
#if RG_PK_HEAD_DIMS & 1
        case 32: rg_pk_attention_item<32>(st, smem, item); break;
#endif
#if RG_PK_HEAD_DIMS & 2
        case 64: rg_pk_attention_item<64>(st, smem, item); break;
#endif
#if RG_PK_HEAD_DIMS & 4
        case 128: rg_pk_attention_item<128>(st, smem, item); break;
#endif
        default: break;
        }
    }
}

/* ------------------------------------------------------------ LayerNorm */


/* The 8 elements of vector `vec` of row `row`: x (or a split Linear's
 * shares and bias) plus the residual, in fp32. */
__device__ __forceinline__ void rg_pk_ln_load(const rg_pk_step &st, const float *partials, i64 row, int vec,
                                              float (&v)[8]) {
    if (st.split) {
        const float *p = partials + row * st.n + vec * 8;
        float4 lo = __ldcg((const float4 *)p), hi = __ldcg((const float4 *)p + 1);
#pragma unroll 4
        for (i64 s = 1; s < st.split; s++) {
            float4 a = __ldcg((const float4 *)(p + s * st.m * st.n)), b = __ldcg((const float4 *)(p + s * st.m * st.n) + 1);
            lo.x += a.x, lo.y += a.y, lo.z += a.z, lo.w += a.w;
            hi.x += b.x, hi.y += b.y, hi.z += b.z, hi.w += b.w;
        }
        v[0] = lo.x, v[1] = lo.y, v[2] = lo.z, v[3] = lo.w, v[4] = hi.x, v[5] = hi.y, v[6] = hi.z, v[7] = hi.w;
        if (st.a) {
            uint4 bw = __ldg((const uint4 *)((const rg_pk_elem *)st.a + vec * 8));
            const unsigned *bp = (const unsigned *)&bw;
#pragma unroll
            for (int q = 0; q < 4; q++) {
                float2 f = rg_pk_unpack(bp[q]);
                v[2 * q] += f.x;
                v[2 * q + 1] += f.y;
            }
        }
    } else {
        uint4 a = rg_pk_ld_cg((const rg_pk_elem *)st.a + row * st.n + vec * 8);
        const unsigned *ap = (const unsigned *)&a;
#pragma unroll
        for (int q = 0; q < 4; q++) {
            float2 f = rg_pk_unpack(ap[q]);
            v[2 * q] = f.x;
            v[2 * q + 1] = f.y;
        }
    }
    if (st.r) {
        uint4 r = rg_pk_ld_cg((const rg_pk_elem *)st.r + row * st.n + vec * 8);
        const unsigned *rp = (const unsigned *)&r;
#pragma unroll
        for (int q = 0; q < 4; q++) {
            float2 f = rg_pk_unpack(rp[q]);
            v[2 * q] += f.x;
            v[2 * q + 1] += f.y;
        }
    }
}

/* y = (v - mean) * inv * gamma + beta for vector `vec` of row `row`. */
__device__ __forceinline__ void rg_pk_ln_store(const rg_pk_step &st, i64 row, int vec, const float (&v)[8], float mean,
                                               float inv) {
    uint4 gw = __ldg((const uint4 *)((const rg_pk_elem *)st.w + vec * 8)), bw = make_uint4(0, 0, 0, 0);
    if (st.bias) bw = __ldg((const uint4 *)((const rg_pk_elem *)st.bias + vec * 8));
    const unsigned *gp = (const unsigned *)&gw, *bp = (const unsigned *)&bw;
    uint4 outv;
    unsigned *op = (unsigned *)&outv;
#pragma unroll
    for (int q = 0; q < 4; q++) {
        float2 gf = rg_pk_unpack(gp[q]), bf = rg_pk_unpack(bp[q]);
        op[q] = rg_pk_pack((v[2 * q] - mean) * inv * gf.x + bf.x, (v[2 * q + 1] - mean) * inv * gf.y + bf.y);
    }
    *(uint4 *)((rg_pk_elem *)st.y + row * st.n + vec * 8) = outv;
}

/* The sum of `x` over the block (every thread gets it); `red` holds a
 * float a warp. */
__device__ __forceinline__ float rg_pk_block_sum(float x, float *red) {
    for (int d = 16; d; d >>= 1) x += __shfl_xor_sync(0xffffffffu, x, d);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = x;
    __syncthreads();
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < RG_PK_WARPS; w++) total += red[w];
    __syncthreads(); /* red is reused by the next sum */
    return total;
}

/* A row a block, a vector of 8 a thread (n <= 8 x 256): at the few rows
 * this kernel is for, every SM reads and each thread's loads are few and
 * all in flight at once (a warp a row left the loads of up to 10 shares in
 * a chain, on 16 SMs). */
__device__ void rg_pk_layer_norm(const rg_pk_step &st, const float *partials, unsigned char *smem) {
    float *red = (float *)smem;
    const int vecs = (int)(st.n / 8), vec = threadIdx.x;
    for (i64 row = blockIdx.x; row < st.m; row += gridDim.x) {
        float v[8];
        float sum = 0.0f;
        if (vec < vecs) {
            rg_pk_ln_load(st, partials, row, vec, v);
#pragma unroll
            for (int q = 0; q < 8; q++) sum += v[q];
        }
        const float mean = rg_pk_block_sum(sum, red) / (float)st.n;
        float sq = 0.0f;
        if (vec < vecs)
#pragma unroll
            for (int q = 0; q < 8; q++) sq += (v[q] - mean) * (v[q] - mean);
        const float inv = rsqrtf(rg_pk_block_sum(sq, red) / (float)st.n + st.f0);
        if (vec < vecs) rg_pk_ln_store(st, row, vec, v, mean, inv);
    }
}

/* --------------------------------------------------------------- kernel */

/* sync: [0] the barrier counter (zero at the start and again at the end of
 * a launch); partials: the split Linears' fp32 shares; times (diagnostics; NULL in plans' runs): block 0
 * writes %globaltimer (ns) as each step begins and as it leaves. */
extern "C" __global__ void __launch_bounds__(RG_PK_THREADS, 1)
    RG_PK_KERNEL(const rg_pk_step *steps, int nsteps, unsigned *sync, float *partials, unsigned long long *times) {
    extern __shared__ __align__(128) unsigned char rg_pk_shared[];
    /* the step, read while the barrier before it is awaited (a descriptor read after it would add an L2 round
     * trip to every step) */
    __shared__ rg_pk_step current;
    unsigned *cur = (unsigned *)&current;
    const unsigned *words = (const unsigned *)steps;
    constexpr int WORDS = sizeof(rg_pk_step) / 4;
    static_assert(WORDS == 32, "a step is 128 bytes");
    if (threadIdx.x < WORDS) cur[threadIdx.x] = __ldg(words + threadIdx.x);
    /* the small constants (biases, gamma, beta) of every step into L2 now, a step a block, while the kernel
     * before may still run: each would otherwise be an HBM round trip inside its step */
    if (threadIdx.x < 32)
        for (int i = blockIdx.x; i < nsteps; i += gridDim.x) {
            const rg_pk_step &s = steps[i];
            i64 kind = __ldg(&s.kind), n = __ldg(&s.n);
            const char *bias = (const char *)__ldg((const unsigned long long *)&s.bias);
            if (kind == RG_PK_LINEAR || kind == RG_PK_REDUCE || kind == RG_PK_LAYER_NORM)
                for (i64 l = threadIdx.x; bias && l * 64 < n; l += 32)
                    rg_pk_prefetch_line(bias + l * 128);
            if (kind == RG_PK_LAYER_NORM) {
                const char *gamma = (const char *)__ldg((const unsigned long long *)&s.w);
                const char *lin_bias = __ldg(&s.split) ? (const char *)__ldg((const unsigned long long *)&s.a) : NULL;
                for (i64 l = threadIdx.x; l * 64 < n; l += 32) {
                    rg_pk_prefetch_line(gamma + l * 128);
                    if (lin_bias) rg_pk_prefetch_line(lin_bias + l * 128);
                }
            }
        }
    rg_pdl_begin();
    __syncthreads();
    for (int i = 0; i < nsteps; i++) {
        const rg_pk_step st = current;
        if (times && blockIdx.x == 0 && threadIdx.x == 0) {
            unsigned long long now;
            asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
            times[i] = now;
        }
        if (i == nsteps - 1) rg_pk_let_next();
        rg_pk_prefetch(st.prefetch, st.prefetch_bytes);
        switch (st.kind) {
        case RG_PK_LINEAR:
            if (st.tile_m == 32) rg_pk_linear<32>(st, rg_pk_shared, partials);
            else rg_pk_linear<128>(st, rg_pk_shared, partials);
            break;
        case RG_PK_REDUCE: rg_pk_reduce(st, partials); break;
        case RG_PK_ATTENTION: rg_pk_attention(st, rg_pk_shared); break;
        case RG_PK_LAYER_NORM: rg_pk_layer_norm(st, partials, rg_pk_shared); break;
        default: break;
        }
        if (i + 1 < nsteps) {
            unsigned word = threadIdx.x < WORDS ? __ldg(words + (i + 1) * WORDS + threadIdx.x) : 0u;
            rg_pk_grid_sync(sync, (unsigned)i); /* every thread has read `current` */
            if (threadIdx.x < WORDS) cur[threadIdx.x] = word;
            __syncthreads();
        }
    }
    /* every block arrives once more as it leaves; the last one out (all the
     * others are past every barrier) zeroes the counter for the next launch */
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        unsigned before = atomicAdd(sync, 1u);
        if (before == (unsigned)nsteps * gridDim.x - 1) atomicExch(sync, 0u);
        if (times && blockIdx.x == 0) {
            unsigned long long now;
            asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
            times[nsteps] = now;
        }
    }
}
