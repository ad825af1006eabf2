/*
 * gemm.cu — Y = epilogue(X W + bias) on Hopper's warpgroup MMA (sm_90a), for
 * the Linears whose epilogue cuBLASLt lacks: the exact (erf) GELU of BERT's
 * exporters. With cuBLASLt that Linear is a GEMM and then a second pass over
 * Y for bias + GELU, which at 64 x 512 tokens is 12-14% of BERT-base's time;
 * here the GELU (erf to 1.5e-7, rg_gemm_gelu) is applied to the fp32
 * accumulators before Y is written once.
 *
 * One program per dtype, chosen with -D (codegen/kernels.c):
 *   RG_GEMM_DTYPE   1 = fp16, 2 = bf16 (fp32 accumulation either way)
 *   RG_GEMM_NARROW  tests only: 1 runs every tile as 64-column instructions
 * It holds a kernel per (epilogue, tile), named rg_gemm_<dtype>_<epilogue>_
 * m<BM>n<BN> ("rg_gemm_f16_gelu_m128n256"); the tiles are the kernel ABI's
 * list (ir/kernel_abi.c, rg_kabi_gemm_tiles), which must match the
 * instantiations at the end of this file.
 *
 * Layout: X [m, k], W [k, n], Y [m, n], all row-major and contiguous, 16-byte
 * aligned; bias [n] or NULL; n a multiple of the tile's BN and k of 64 (the
 * launcher, runtime/cuda_gemm.c, checks; m is any). A block computes a BM x BN
 * tile of Y with BM / 64 warpgroups, each owning 64 rows: per 64-deep slice of
 * k it issues wgmma.mma_async.m64nNk16 (N = BN) four times, A (its rows of X)
 * and B (the slice of W) both read from shared memory through descriptors.
 *
 * Shared memory holds STAGES slices, each A: BM rows x 128 bytes (64 k) and
 * B: 64 k-rows x BN columns as BN / 64 chunks of 64 rows x 128 bytes. Every
 * 128-byte row is stored with the 128-byte swizzle the descriptors name
 * (16-byte piece c of row r at piece c ^ (r % 8), chunks 1024-byte aligned),
 * as in attention.cu. A is K-major (8-row groups 1024 bytes apart: the stride
 * field); B is N-major, read transposed (imm-trans-b 1): 8-row groups of k
 * 1024 bytes apart (stride field), 64-column chunks 8192 bytes apart (the
 * leading-offset field, which an instruction wider than 64 columns walks).
 * cp.async brings slice kt + STAGES - 2 while the tensor cores work on kt;
 * rows of X past m are zero-filled and their results not stored. Blocks are
 * persistent (rg_gemm_body), and the epilogue leaves through 2 KB of shared
 * memory per warp after the stages.
 *
 * Split-K tiles (a name ending s<S>, "m64n64s4") are for few rows, where
 * even 64 x 64 tiles leave most SMs idle (at 128 rows, a 768-wide Linear
 * is 24 tiles for 132 SMs, and its time is that of a few blocks streaming
 * all of k). There a cluster of S blocks shares a tile, each taking a
 * contiguous 1/S of the slices; the partial sums meet in shared memory
 * across the cluster (rg_gemm_split_epilogue), where each block adds up,
 * finishes and stores 1/S of the tile's rows. Those blocks are not
 * persistent: the grid is S blocks per tile. The runtime uses this kernel only
 * for plans compiled with --custom-gemm, and there only where it times
 * faster than cuBLASLt plus the GELU pass (docs/cuda.md: it reaches about
 * 60% of cuBLASLt's throughput).
 */
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#if !defined(RG_GEMM_DTYPE)
#error "define RG_GEMM_DTYPE (1 fp16, 2 bf16)"
#endif
#if !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#error "the wgmma GEMM needs the sm_90a target"
#endif
#ifndef RG_GEMM_NARROW
#define RG_GEMM_NARROW 0
#endif

/* Passed by value; the host mirror is struct gemm_params in
 * runtime/cuda_gemm.c and must keep this exact layout. */
struct rg_gemm_params {
    const void *x;    /* [m, k] */
    const void *w;    /* [k, n] */
    const void *bias; /* [n], or NULL */
    void *y;          /* [m, n] */
    long long m;
    int n, k;
};

#if RG_GEMM_DTYPE == 1
typedef __half rg_gemm_elem;
#define RG_GEMM_TYPES ".f32.f16.f16 "
#define RG_GEMM_NAME(epilogue, tile) rg_gemm_f16_##epilogue##_##tile
__device__ __forceinline__ unsigned rg_gemm_pack(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *(unsigned *)&h;
}
__device__ __forceinline__ float rg_gemm_float(rg_gemm_elem v) { return __half2float(v); }
#elif RG_GEMM_DTYPE == 2
typedef __nv_bfloat16 rg_gemm_elem;
#define RG_GEMM_TYPES ".f32.bf16.bf16 "
#define RG_GEMM_NAME(epilogue, tile) rg_gemm_bf16_##epilogue##_##tile
__device__ __forceinline__ unsigned rg_gemm_pack(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *(unsigned *)&h;
}
__device__ __forceinline__ float rg_gemm_float(rg_gemm_elem v) { return __bfloat162float(v); }
#else
#error "RG_GEMM_DTYPE must be 1 (fp16) or 2 (bf16)"
#endif

/* The accumulator lists of m64nNk16 (N / 2 fp32 registers a thread). */
#define RG_GEMM_D64 \
    "{" \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31" \
    "}"

#define RG_GEMM_D128 \
    "{" \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63" \
    "}"

#define RG_GEMM_D256 \
    "{" \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, " \
    "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
    "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
    "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
    "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127" \
    "}"

#define RG_GEMM_F8(d, i)                                                                                               \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]),        \
        "+f"(d[i + 7])
#define RG_GEMM_F32(d, i) RG_GEMM_F8(d, i), RG_GEMM_F8(d, i + 8), RG_GEMM_F8(d, i + 16), RG_GEMM_F8(d, i + 24)
#define RG_GEMM_F64(d, i) RG_GEMM_F32(d, i), RG_GEMM_F32(d, i + 32)
#define RG_GEMM_F128(d, i) RG_GEMM_F64(d, i), RG_GEMM_F64(d, i + 64)
/* After the accumulators come the two descriptors and scale-d, a predicate
 * (d = a b + d when true) set from the last operand; then A K-major, B read
 * transposed. */
#define RG_GEMM_PRED(n) "{\n.reg .pred p;\nsetp.ne.b32 p, %" #n ", 0;\n"

/* d = a b + (accumulate ? d : 0) over one 16-deep slice, a 64 x N tile:
 * both operands from shared memory through their descriptors. One
 * specialisation per width: they differ only in the instruction's shape and
 * operand count (N / 2 accumulators, then a, b and the predicate's source). */
template <int N> struct rg_gemm_mma;
#define RG_GEMM_MMA(N, D_LIST, F_LIST, A, B, P)                                                                       \
    template <> struct rg_gemm_mma<N> {                                                                                \
        static __device__ __forceinline__ void run(float (&d)[N / 2], unsigned long long a, unsigned long long b,     \
                                                   int accumulate) {                                                   \
            asm volatile(RG_GEMM_PRED(P) "wgmma.mma_async.sync.aligned.m64n" #N "k16" RG_GEMM_TYPES D_LIST            \
                                         ", %" #A ", %" #B ", p, 1, 1, 0, 1;\n}\n"                                    \
                         : F_LIST(d, 0)                                                                                \
                         : "l"(a), "l"(b), "r"(accumulate));                                                           \
        }                                                                                                              \
    };
RG_GEMM_MMA(64, RG_GEMM_D64, RG_GEMM_F32, 32, 33, 34)
RG_GEMM_MMA(128, RG_GEMM_D128, RG_GEMM_F64, 64, 65, 66)
RG_GEMM_MMA(256, RG_GEMM_D256, RG_GEMM_F128, 128, 129, 130)

/* Shared-memory matrix descriptor (see attention.cu's rg_wg_desc): start
 * address, leading offset `lead` (B: the 64-column chunk stride), 8-row
 * groups 1024 bytes apart, 128-byte swizzle. */
__device__ __forceinline__ unsigned long long rg_gemm_desc(unsigned addr, unsigned lead) {
    return (unsigned long long)((addr >> 4) & 0x3fffu) | ((unsigned long long)((lead >> 4) & 0x3fffu) << 16) |
           ((unsigned long long)(1024 >> 4) << 32) | (1ull << 62);
}

/* Programmatic dependent launch (docs/cuda.md, "Launch overlap"; the same
 * as the other kernels' rg_pdl_begin): wait until the kernel before has
 * finished and its writes are visible, then let the next one launch. Before
 * it a block may read only constants: the first slices of W. */
__device__ __forceinline__ void rg_pdl_begin(void) {
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
}

/* 16 bytes global -> shared, asynchronously; zeros when !valid (src unread). */
__device__ __forceinline__ void rg_gemm_cp16(unsigned dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0)
                 : "memory");
}
__device__ __forceinline__ void rg_gemm_commit(void) { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
/* Waits until at most N of this thread's copy groups are still landing. */
template <int N> __device__ __forceinline__ void rg_gemm_wait(void) {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

/* Where this thread's copies of a slice go and come from. The pattern is the
 * same for every slice of every tile: with 8 threads per 128-byte row of A
 * and BN / 8 per row of W, a thread's rows differ by whole 8-row groups
 * between its copies, so its swizzled smem offsets differ by constants and
 * only the global bases move (by 64 elements of k, or 64 rows of W). */
template <int BM, int BN, int THREADS> struct rg_gemm_loader {
    static constexpr int A_COPIES = BM * 8 / THREADS;          /* A rows a thread copies, 8 * THREADS / 8 apart */
    static constexpr int PIECES = BN / 8;                      /* 16-byte pieces of a row of W's slice */
    static constexpr int B_COPIES = 64 * PIECES / THREADS;     /* W rows a thread copies */
    static constexpr int B_ROW_STEP = THREADS / PIECES;        /* rows between them */
    static_assert(THREADS % PIECES == 0 && B_ROW_STEP % 8 == 0, "copies must keep their swizzle phase");
    unsigned a_off, b_off; /* smem offsets of the first copy, from the stage's A and B */
    int a_row, b_row, a_col, b_col;

    __device__ __forceinline__ rg_gemm_loader() {
        const int t = threadIdx.x;
        a_row = t >> 3;
        a_col = (t & 7) * 8;
        a_off = (unsigned)(a_row * 128 + (((t & 7) ^ (a_row & 7)) << 4));
        const int piece = t % PIECES;
        b_row = t / PIECES;
        b_col = piece * 8;
        b_off = (unsigned)((piece >> 3) * 8192 + b_row * 128 + (((piece & 7) ^ (b_row & 7)) << 4));
    }

    /* Starts the copy of slice k0 .. k0+63 of rows m0.. of X and columns
     * n0.. of W into the stage at `a` (A) and `b` (B); rows past m are
     * zero-filled. Without `with_w`, X only (W's slice is already on its
     * way, see load_w). */
    __device__ __forceinline__ void load(unsigned a, unsigned b, const rg_gemm_elem *x, const rg_gemm_elem *w,
                                         const rg_gemm_params &p, long long m0, int n0, int k0,
                                         bool with_w = true) const {
        const rg_gemm_elem *xs = x + (m0 + a_row) * p.k + k0 + a_col;
#pragma unroll
        for (int c = 0; c < A_COPIES; c++) {
            const int r = c * (THREADS / 8);
            const bool in = m0 + a_row + r < p.m;
            rg_gemm_cp16(a + a_off + (unsigned)(r * 128), in ? (const void *)(xs + (long long)r * p.k) : (const void *)x,
                         in);
        }
        if (with_w) load_w(b, w, p, n0, k0);
    }
    /* W's part of load: rows k0 .. k0+63, columns n0.. */
    __device__ __forceinline__ void load_w(unsigned b, const rg_gemm_elem *w, const rg_gemm_params &p, int n0,
                                           int k0) const {
        const rg_gemm_elem *ws = w + (long long)(k0 + b_row) * p.n + n0 + b_col;
#pragma unroll
        for (int c = 0; c < B_COPIES; c++)
            rg_gemm_cp16(b + b_off + (unsigned)(c * B_ROW_STEP * 128), ws + (long long)c * B_ROW_STEP * p.n, true);
    }
};

/* The exact GELU, 0.5 v (1 + erf(v / sqrt 2)), with erf from Abramowitz and
 * Stegun 7.1.26 (|error| <= 1.5e-7, far below an fp16 or bf16 output's
 * rounding): one reciprocal, one exponential and a few FMAs, about a third
 * of erff's instructions, which matters here because the epilogue runs while
 * the tensor cores wait. 1 + erf is formed without cancellation for v < 0.
 * The polynomial's coefficients are A&S's halved (it yields (1 - erf) / 2),
 * exp(-v^2 / 2) is 2^(v^2 * -log2(e) / 2), and the reciprocal and the
 * exponential are the flush-to-zero MUFU instructions: without .ftz each
 * takes four more instructions to scale denormal operands, which nothing
 * here can produce (their operand is >= 1, and an exponential below 2^-126
 * contributes nothing to an fp16 or bf16 result). */
__device__ __forceinline__ float rg_gemm_gelu(float v) {
    const float z = fabsf(v) * 0.70710678118654752f;
    float t, e;
    asm("rcp.approx.ftz.f32 %0, %1;\n" : "=f"(t) : "f"(fmaf(0.3275911f, z, 1.0f)));
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(e) : "f"(v * v * -0.72134752044448170f));
    const float half_tail = /* (1 - erf(z)) / 2 */
        t * fmaf(t, fmaf(t, fmaf(t, fmaf(t, 0.5307027145f, -0.7265760135f), 0.7107068705f), -0.142248368f),
                 0.127414796f) * e;
    return v * (v >= 0.0f ? 1.0f - half_tail : half_tail);
}

/* The epilogue of one warp's 16 rows of a tile, 64 columns at a time: the
 * accumulator layout gives a thread columns 2t, 2t+1 of rows gr and gr+8 of
 * the warp's 16 in every 8-column block, which stored straight to Y would be
 * 4-byte pieces of 8 rows per instruction. They go through the warp's 2 KB of
 * shared memory at `stash` instead (16 rows x 128 bytes, 16-byte piece q of
 * row r at q ^ (r % 8): conflict-free both ways) and leave as whole 128-byte
 * row segments, 16 bytes a lane; rows at or past m are not stored.
 *
 * A round's 8 bias pairs are loaded together and its 32 values finished
 * before any is stored, with plain (not asm volatile) shared-memory stores:
 * the compiler may then overlap the loads' latency and the GELUs' chains,
 * which in a warp-specialized tile run on one warp a scheduler and so have
 * no other warp of their own to hide behind. */
template <int BN, int WN, bool GELU>
__device__ __forceinline__ void rg_gemm_store_warp(const float (&acc)[BN / WN][WN / 2], unsigned char *stash,
                                                   long long warp_row, int n0, const void *bias_p, void *y,
                                                   long long m, int n) {
    const int lane = threadIdx.x & 31, gr = lane >> 2, t = lane & 3;
    const rg_gemm_elem *bias = bias_p ? (const rg_gemm_elem *)bias_p + n0 + 2 * t : nullptr;
#pragma unroll
    for (int round = 0; round < BN / 64; round++) {
        unsigned pairs[8];
#pragma unroll
        for (int q = 0; q < 8; q++) pairs[q] = bias ? __ldg((const unsigned *)(bias + round * 64 + q * 8)) : 0u;
        unsigned packed[8][2];
#pragma unroll
        for (int q = 0; q < 8; q++) {
            const int col = round * 64 + q * 8;         /* in the tile */
            const int j = col / WN, c = (col % WN) / 8; /* its instruction and 8-column block */
            const float b0 = rg_gemm_float(((const rg_gemm_elem *)&pairs[q])[0]);
            const float b1 = rg_gemm_float(((const rg_gemm_elem *)&pairs[q])[1]);
            float v[4] = {acc[j][4 * c] + b0, acc[j][4 * c + 1] + b1, acc[j][4 * c + 2] + b0, acc[j][4 * c + 3] + b1};
            if (GELU) {
#pragma unroll
                for (int i = 0; i < 4; i++) v[i] = rg_gemm_gelu(v[i]);
            }
            packed[q][0] = rg_gemm_pack(v[0], v[1]);
            packed[q][1] = rg_gemm_pack(v[2], v[3]);
        }
        __syncwarp(); /* the previous round's reads are done */
#pragma unroll
        for (int q = 0; q < 8; q++) {
            unsigned char *piece0 = stash + gr * 128 + ((q ^ (gr & 7)) << 4) + 4 * t;
            *(unsigned *)piece0 = packed[q][0];
            *(unsigned *)(piece0 + 8 * 128) = packed[q][1];
        }
        __syncwarp();
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int id = lane + 32 * i, r = id >> 3, q = id & 7;
            const uint4 chunk = *(const uint4 *)(stash + r * 128 + ((q ^ (r & 7)) << 4));
            if (warp_row + r < m) *(uint4 *)((rg_gemm_elem *)y + (warp_row + r) * n + n0 + round * 64 + q * 8) = chunk;
        }
    }
    __syncwarp(); /* the stash is free for the next call */
}

/* The block runs tiles blockIdx.x, blockIdx.x + gridDim.x, ... (a grid of
 * at most as many blocks as the SMs hold at once): row-block
 * major, so the blocks running at once share their rows of X and all of W
 * stays in L2. Their slices form one stream through the STAGES stages, so
 * the first slices of the next tile are already landing while this one's
 * last MMAs and epilogue run. */
/* A cluster-wide barrier: this block's shared-memory writes before it are
 * visible to the cluster's blocks after it. */
__device__ __forceinline__ void rg_gemm_cluster_sync(void) {
    asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}

/* The split-K tiles' end (see the header): a block of a cluster of SPLIT
 * holds the partial sums of its slices of one BM x BN tile in `acc`. Each
 * block stores them, fp32, row-major with rows LD floats apart (8 more than
 * BN, which spreads a warp's 8 rows over the banks), at `red` in its shared
 * memory; after a cluster barrier, block `rank` reads rows rank * BM / SPLIT
 * onwards from all SPLIT blocks (in rank order, so the sum does not depend
 * on timing), adds the bias, applies the GELU and stores them to Y, 4
 * columns a thread. The second barrier keeps every block's shared memory
 * alive until the others are done reading it. */
template <int WGS, int BN, int WN, int SPLIT, bool GELU>
__device__ __forceinline__ void rg_gemm_split_epilogue(const float (&acc)[BN / WN][WN / 2], unsigned red,
                                                       const rg_gemm_params &p, long long row0, int n0) {
    constexpr int BM = 64 * WGS, THREADS = 128 * WGS, LD = BN + 8, NI = BN / WN;
    constexpr int ROWS = BM / SPLIT, VECS = ROWS * BN / 4;
    static_assert(BM % SPLIT == 0, "each block of the cluster finishes whole rows");
    const int group = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
    const int gr = lane >> 2, t = lane & 3;
    const int row = group * 64 + warp * 16 + gr; /* this thread's rows: row and row + 8 */
#pragma unroll
    for (int j = 0; j < NI; j++)
#pragma unroll
        for (int c = 0; c < WN / 8; c++) {
            const unsigned at = red + (unsigned)((row * LD + j * WN + c * 8 + 2 * t) * 4);
            asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(at), "f"(acc[j][4 * c]), "f"(acc[j][4 * c + 1])
                         : "memory");
            asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(at + 8 * LD * 4), "f"(acc[j][4 * c + 2]),
                         "f"(acc[j][4 * c + 3])
                         : "memory");
        }
    unsigned rank;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
    rg_gemm_cluster_sync();
    for (int v = threadIdx.x; v < VECS; v += THREADS) {
        const int r = (int)rank * ROWS + v / (BN / 4), c = (v % (BN / 4)) * 4;
        const unsigned local = red + (unsigned)((r * LD + c) * 4);
        float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int q = 0; q < SPLIT; q++) {
            unsigned remote;
            float part[4];
            asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(local), "r"(q));
            asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];\n"
                         : "=f"(part[0]), "=f"(part[1]), "=f"(part[2]), "=f"(part[3])
                         : "r"(remote)
                         : "memory");
#pragma unroll
            for (int i = 0; i < 4; i++) s[i] += part[i];
        }
        if (p.bias) {
            const unsigned *b = (const unsigned *)((const rg_gemm_elem *)p.bias + n0 + c);
            const unsigned pairs[2] = {__ldg(b), __ldg(b + 1)};
#pragma unroll
            for (int i = 0; i < 4; i++) s[i] += rg_gemm_float(((const rg_gemm_elem *)pairs)[i]);
        }
        if (GELU) {
#pragma unroll
            for (int i = 0; i < 4; i++) s[i] = rg_gemm_gelu(s[i]);
        }
        if (row0 + r < p.m)
            *(uint2 *)((rg_gemm_elem *)p.y + (row0 + r) * p.n + n0 + c) =
                make_uint2(rg_gemm_pack(s[0], s[1]), rg_gemm_pack(s[2], s[3]));
    }
    rg_gemm_cluster_sync();
}

template <int WGS, int BN, int STAGES, bool GELU, int SPLIT>
__device__ __forceinline__ void rg_gemm_body(const rg_gemm_params &p) {
    constexpr int BM = 64 * WGS, THREADS = 128 * WGS;
    constexpr int A_BYTES = BM * 128, STAGE_BYTES = A_BYTES + BN * 128;
    constexpr int WN = RG_GEMM_NARROW ? 64 : BN; /* columns per instruction */
    constexpr int NI = BN / WN;                  /* instructions per 16-deep slice */
    static_assert(STAGES >= 3, "the pipeline keeps a stage in flight, one in use and one landing");
    extern __shared__ unsigned char rg_gemm_smem[];
    /* the swizzle is of address bits: stages start at 1024-byte boundaries
     * (the launcher asks for 1 KB more than the stages need) */
    const unsigned base = ((unsigned)__cvta_generic_to_shared(rg_gemm_smem) + 1023u) & ~1023u;
    const int tiles_n = p.n / BN;
    const long long tiles = (p.m + BM - 1) / BM * tiles_n;
    /* Persistent: tiles blockIdx.x, + gridDim.x, ..., every slice of each.
     * Split-K: tile blockIdx.x / SPLIT (the cluster's), slices kt0 onwards. */
    long long tile0 = blockIdx.x;
    int kt0 = 0, slices = p.k / 64;
    if (SPLIT > 1) {
        const int rank = (int)(blockIdx.x % SPLIT), all = slices;
        tile0 = blockIdx.x / SPLIT;
        kt0 = rank * all / SPLIT;
        slices = (rank + 1) * all / SPLIT - kt0; /* the launcher keeps it >= 1 */
    } else if (tile0 >= tiles) {
        rg_pdl_begin(); /* the grid finishes after the kernel before it */
        return;         /* never in a cluster: its blocks meet at barriers */
    }
    const long long stream = SPLIT > 1 ? slices : ((tiles - 1 - tile0) / gridDim.x + 1) * slices; /* this block's */
    const rg_gemm_elem *x = (const rg_gemm_elem *)p.x, *w = (const rg_gemm_elem *)p.w;
    const int group = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3;
    const rg_gemm_loader<BM, BN, THREADS> loader;

    /* A tile is (row block, column block); stepping by gridDim.x tiles is
     * step_rows rows and step_cols columns with a carry, so that neither
     * side divides per slice (64-bit division is a long software loop). */
    const int step_rows = (int)(gridDim.x / tiles_n), step_cols = (int)(gridDim.x % tiles_n);
    struct cursor {
        long long row;
        int col, kt, stage;
    };
    const cursor first = {tile0 / tiles_n, (int)(tile0 % tiles_n), 0, 0};
    auto advance = [&](cursor &c) {
        if (++c.stage == STAGES) c.stage = 0;
        if (++c.kt < slices) return;
        c.kt = 0;
        c.row += step_rows;
        c.col += step_cols;
        if (c.col >= tiles_n) {
            c.col -= tiles_n;
            c.row++;
        }
    };
    /* W is a constant: the first slices' part of it starts loading before
     * the wait for the kernel that writes X, so at batch 1 the weights are
     * streaming while that kernel ends. They join the first copy group. */
    cursor ld = first;
#pragma unroll
    for (int s = 0; s < STAGES - 2; s++)
        if (s < stream) {
            loader.load_w(base + (unsigned)(ld.stage * STAGE_BYTES) + A_BYTES, w, p, ld.col * BN, (kt0 + ld.kt) * 64);
            advance(ld);
        }
    rg_pdl_begin();
    /* producer side: the next slice to load */
    ld = first;
    long long loaded = 0;
    auto load_next = [&]() {
        if (loaded < stream) {
            const unsigned stage = base + (unsigned)(ld.stage * STAGE_BYTES);
            loader.load(stage, stage + A_BYTES, x, w, p, ld.row * BM, ld.col * BN, (kt0 + ld.kt) * 64,
                        loaded >= STAGES - 2);
            advance(ld);
        }
        loaded++;
        rg_gemm_commit(); /* empty groups too: the wait below counts groups */
    };
#pragma unroll
    for (int s = 0; s < STAGES - 2; s++) load_next();

    /* A tile's first MMA overwrites the accumulators (scale-d 0): zeroing
     * them in the loop would make the compiler wait for every MMA in flight
     * before it. */
    float acc[NI][WN / 2];
#pragma unroll
    for (int j = 0; j < NI; j++)
#pragma unroll
        for (int i = 0; i < WN / 2; i++) acc[j][i] = 0.0f;
    cursor use = first; /* consumer side */
    /* Tiles in an outer loop, slices in an inner one: with the epilogue
     * inside a single loop, the accumulators of the MMAs still in flight
     * were copied at its back edge and ptxas waited for them every slice. */
    for (long long g = 0; g < stream; g += slices) {
        const cursor tile = use;
        for (int kt = 0; kt < slices; kt++) {
            /* Slice g + kt has landed for every thread and is visible to the
             * async proxy. Every warpgroup has waited for its MMAs of the
             * slice two back (the wait_group 1 below), so that stage takes
             * the slice STAGES - 2 ahead. */
            rg_gemm_wait<STAGES - 3>();
            asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
            __syncthreads();
            load_next();
            const unsigned stage = base + (unsigned)(use.stage * STAGE_BYTES);
            const unsigned a = stage + (unsigned)(group * 64 * 128), b = stage + A_BYTES;
            asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
            for (int kk = 0; kk < 4; kk++)
#pragma unroll
                for (int j = 0; j < NI; j++)
                    rg_gemm_mma<WN>::run(acc[j], rg_gemm_desc(a + kk * 32, 0),
                                         rg_gemm_desc(b + (unsigned)(j * (WN / 64) * 8192 + kk * 16 * 128), 8192),
                                         kt > 0 || kk > 0);
            asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
            asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
            advance(use);
        }
        asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
        /* the compiler cannot see wgmma write the accumulators late */
#pragma unroll
        for (int j = 0; j < NI; j++)
#pragma unroll
            for (int i = 0; i < WN / 2; i++) asm volatile("" : "+f"(acc[j][i])::"memory");
        if (SPLIT > 1) {
            /* every warpgroup's MMAs are done, so the stages are free */
            static_assert(64 * WGS * (BN + 8) * 4 <= STAGES * STAGE_BYTES, "the partial sums fit in the stages");
            __syncthreads();
            rg_gemm_split_epilogue<WGS, BN, WN, SPLIT, GELU>(acc, base, p, tile.row * BM, tile.col * BN);
            continue; /* the only tile */
        }

        unsigned char *stash = rg_gemm_smem + (base - (unsigned)__cvta_generic_to_shared(rg_gemm_smem)) +
                               STAGES * STAGE_BYTES + (threadIdx.x >> 5) * 2048;
        rg_gemm_store_warp<BN, WN, GELU>(acc, stash, tile.row * BM + group * 64 + warp * 16, tile.col * BN, p.bias,
                                         p.y, p.m, p.n);
    }
    rg_gemm_wait<0>(); /* only empty groups can be left; none may outlive the block */
}


/* ------------------------------------------------ warp-specialized tiles
 *
 * Tiles whose name ends in "p" ("m128n128p") are for many rows, where the
 * tiles above lose a third of their time to the epilogue: every warp of the
 * block stops issuing MMAs while it adds the bias, applies the GELU and
 * stores, and at k = 768 a tile is only 12 slices. Here a block is two
 * consumer warpgroups and a producer:
 *
 *   - The producer warp's first lane streams X's and W's slices with the
 *     Tensor Memory Accelerator (cp.async.bulk.tensor, from the tensor maps
 *     the launcher encodes: 128-byte swizzle, rows past m read as zeros) into
 *     a ring of STAGES stages, each with a `full` mbarrier (the bytes landed)
 *     and an `empty` one (its consumer's MMAs are done with it).
 *   - The consumer warpgroups take alternate tiles of the block's list (ping
 *     and pong): each holds a whole BM x BN tile in registers (BM / 64
 *     m64nBNk16 instructions per 16-deep step), so while one runs its
 *     epilogue the other's MMAs keep the tensor cores busy.
 *
 * The ring is one stream of slices, tile after tile, in the order the
 * producer loads them; slice kt of the block's i-th tile is entry
 * i * slices + kt, its stage that modulo STAGES and the barriers' phase its
 * quotient's parity, so neither side needs a counter from the other. A
 * parity names a phase only while the waiter is at most one phase behind,
 * so a warpgroup begins waiting for its tile's entries only once the other
 * has waited for every entry before them: the two take turns issuing their
 * MMAs (named barriers 1 and 2), which is also what keeps one's epilogue
 * under the other's MMAs. */

/* The driver's CUtensorMap, opaque. */
struct __align__(128) rg_gemm_tmap {
    unsigned long long opaque[16];
};

/* Passed by value as a __grid_constant__ (TMA reads the maps from the
 * parameter space); the host mirror is struct gemm_tma_params in
 * runtime/cuda_gemm.c and must keep this exact layout. */
struct rg_gemm_tma_params {
    rg_gemm_tmap x; /* X [m, k]: box 64 (k) x BM rows */
    rg_gemm_tmap w; /* W [k, n]: box 64 (n) x 64 (k) */
    const void *bias;
    void *y;
    long long m;
    int n, k;
};

__device__ __forceinline__ void rg_mbar_init(unsigned bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void rg_mbar_arrive(unsigned bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
/* Arrives and adds `bytes` to the transactions the phase waits for. */
__device__ __forceinline__ void rg_mbar_expect(unsigned bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
/* Waits until the phase of parity `parity` has completed (a barrier just
 * initialised counts its phase before the first as completed with parity 1).
 * The hint (ns) lets the thread sleep in try_wait until the phase completes
 * instead of spinning, which would take issue slots from the epilogue of the
 * warp beside it. */
__device__ __forceinline__ void rg_mbar_wait(unsigned bar, unsigned parity) {
    unsigned done;
    do {
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2, %3;\n"
                     "selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(bar), "r"(parity), "r"(10000000u)
                     : "memory");
    } while (!done);
}
/* The box at (c0 innermost, c1) of `map` into shared memory at `dst`,
 * counted on `bar`. */
__device__ __forceinline__ void rg_tma_load(unsigned dst, const rg_gemm_tmap *map, int c0, int c1, unsigned bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], "
                 "[%4];\n" ::"r"(dst),
                 "l"((unsigned long long)map), "r"(c0), "r"(c1), "r"(bar)
                 : "memory");
}

/* Named barriers 1 and 2 pass the turn between the consumer warpgroups:
 * the one whose turn ends arrives (128 threads), the one whose turn begins
 * waits for those and its own 128. */
__device__ __forceinline__ void rg_named_sync(int id) { asm volatile("bar.sync %0, 256;\n" ::"r"(id) : "memory"); }
__device__ __forceinline__ void rg_named_arrive(int id) { asm volatile("bar.arrive %0, 256;\n" ::"r"(id) : "memory"); }

template <int HALVES, int BN, int STAGES, bool GELU>
__device__ __forceinline__ void rg_gemm_pingpong_body(const rg_gemm_tma_params &p) {
    constexpr int BM = 64 * HALVES, A_BYTES = BM * 128, STAGE_BYTES = A_BYTES + BN * 128;
    constexpr int WN = RG_GEMM_NARROW ? 64 : BN, NI = BN / WN;
    extern __shared__ unsigned char rg_gemm_smem[];
    const unsigned base = ((unsigned)__cvta_generic_to_shared(rg_gemm_smem) + 1023u) & ~1023u;
    const unsigned stashes = base + (unsigned)(STAGES * STAGE_BYTES); /* 2 KB per consumer warp */
    const unsigned full = stashes + 8 * 2048, empty = full + 8 * STAGES;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            rg_mbar_init(full + 8 * s, 1);  /* the producer's expect, then the bytes */
            rg_mbar_init(empty + 8 * s, 4); /* one arrival per warp of the consuming warpgroup */
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads(); /* the last block-wide barrier: the producer's other lanes leave below */
    rg_pdl_begin();
    const int tiles_n = p.n / BN, slices = p.k / 64;
    const long long tiles = (p.m + BM - 1) / BM * tiles_n;

    if (warp >= 8) { /* the producer */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::: "memory");
        if (warp != 8 || lane != 0) return;
        long long entry = 0;
        for (long long t = blockIdx.x; t < tiles; t += gridDim.x) {
            const int row0 = (int)(t / tiles_n) * BM, n0 = (int)(t % tiles_n) * BN;
            for (int kt = 0; kt < slices; kt++, entry++) {
                const unsigned s = (unsigned)(entry % STAGES), phase = (unsigned)(entry / STAGES) & 1u;
                rg_mbar_wait(empty + 8 * s, phase ^ 1u);
                const unsigned stage = base + s * STAGE_BYTES, bar = full + 8 * s;
                rg_mbar_expect(bar, STAGE_BYTES);
                rg_tma_load(stage, &p.x, kt * 64, row0, bar);
#pragma unroll
                for (int c = 0; c < BN / 64; c++) rg_tma_load(stage + A_BYTES + c * 8192, &p.w, n0 + c * 64, kt * 64, bar);
            }
        }
        return;
    }

    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::: "memory");
    const int group = warp >> 2; /* ping (0) or pong (1) */
    unsigned char *stash =
        rg_gemm_smem + (base - (unsigned)__cvta_generic_to_shared(rg_gemm_smem)) + STAGES * STAGE_BYTES + warp * 2048;
    float acc[HALVES][NI][WN / 2];
#pragma unroll
    for (int h = 0; h < HALVES; h++)
#pragma unroll
        for (int j = 0; j < NI; j++)
#pragma unroll
            for (int i = 0; i < WN / 2; i++) acc[h][j][i] = 0.0f;
    for (long long i = group;; i += 2) {
        const long long t = blockIdx.x + i * gridDim.x;
        if (t >= tiles) break;
        const long long first = i * slices;
        /* The other warpgroup's MMAs of the tile before are all issued (its
         * waits on every entry before `first` are done). */
        if (i > 0) rg_named_sync(1 + group);
        for (int kt = 0; kt < slices; kt++) {
            const long long entry = first + kt;
            const unsigned s = (unsigned)(entry % STAGES);
            rg_mbar_wait(full + 8 * s, (unsigned)(entry / STAGES) & 1u);
            const unsigned a = base + s * STAGE_BYTES, b = a + A_BYTES;
            asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
            for (int kk = 0; kk < 4; kk++)
#pragma unroll
                for (int h = 0; h < HALVES; h++)
#pragma unroll
                    for (int j = 0; j < NI; j++)
                        rg_gemm_mma<WN>::run(acc[h][j], rg_gemm_desc(a + (unsigned)(h * 8192 + kk * 32), 0),
                                             rg_gemm_desc(b + (unsigned)(j * (WN / 64) * 8192 + kk * 16 * 128), 8192),
                                             kt > 0 || kk > 0);
            asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
            /* the slice before is done with its stage: hand it back */
            asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
            if (kt > 0) {
                __syncwarp();
                if (lane == 0) rg_mbar_arrive(empty + 8 * (unsigned)((entry - 1) % STAGES));
            }
        }
        /* the other's turn, if it has a next tile */
        if (blockIdx.x + (i + 1) * gridDim.x < tiles) rg_named_arrive(2 - group);
        asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
        __syncwarp();
        if (lane == 0) rg_mbar_arrive(empty + 8 * (unsigned)((first + slices - 1) % STAGES));
#pragma unroll
        for (int h = 0; h < HALVES; h++)
#pragma unroll
            for (int j = 0; j < NI; j++)
#pragma unroll
                for (int q = 0; q < WN / 2; q++) asm volatile("" : "+f"(acc[h][j][q])::"memory");
        const long long row0 = t / tiles_n * BM;
        const int n0 = (int)(t % tiles_n) * BN;
#pragma unroll
        for (int h = 0; h < HALVES; h++)
            rg_gemm_store_warp<BN, WN, GELU>(acc[h], stash, row0 + h * 64 + (warp & 3) * 16, n0, p.bias, p.y, p.m,
                                             p.n);
    }
}

/* The tiles (ir/kernel_abi.c lists the same): warpgroups, BN, stages, and
 * for split-K the cluster's size. The shared memory a block needs is
 * STAGES * (BM + BN) * 128 for the stages, 2 KB per warp for the epilogue
 * and 1 KB for the alignment. */
#define RG_GEMM_TILE(tile, WGS, BN, STAGES)                                                                            \
    extern "C" __global__ void __launch_bounds__(128 * WGS, 1) RG_GEMM_NAME(bias, tile)(const rg_gemm_params p) {     \
        rg_gemm_body<WGS, BN, STAGES, false, 1>(p);                                                                    \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(128 * WGS, 1) RG_GEMM_NAME(gelu, tile)(const rg_gemm_params p) {     \
        rg_gemm_body<WGS, BN, STAGES, true, 1>(p);                                                                     \
    }
#define RG_GEMM_SPLIT_TILE(tile, WGS, BN, STAGES, SPLIT)                                                               \
    extern "C" __global__ void __cluster_dims__(SPLIT, 1, 1) __launch_bounds__(128 * WGS, 1)                           \
        RG_GEMM_NAME(bias, tile)(const rg_gemm_params p) {                                                             \
        rg_gemm_body<WGS, BN, STAGES, false, SPLIT>(p);                                                                \
    }                                                                                                                  \
    extern "C" __global__ void __cluster_dims__(SPLIT, 1, 1) __launch_bounds__(128 * WGS, 1)                           \
        RG_GEMM_NAME(gelu, tile)(const rg_gemm_params p) {                                                             \
        rg_gemm_body<WGS, BN, STAGES, true, SPLIT>(p);                                                                 \
    }
#define RG_GEMM_PINGPONG_TILE(tile, HALVES, BN, STAGES)                                                                \
    extern "C" __global__ void __launch_bounds__(384, 1)                                                               \
        RG_GEMM_NAME(bias, tile)(const __grid_constant__ rg_gemm_tma_params p) {                                       \
        rg_gemm_pingpong_body<HALVES, BN, STAGES, false>(p);                                                           \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(384, 1)                                                               \
        RG_GEMM_NAME(gelu, tile)(const __grid_constant__ rg_gemm_tma_params p) {                                       \
        rg_gemm_pingpong_body<HALVES, BN, STAGES, true>(p);                                                            \
    }
RG_GEMM_TILE(m128n256, 2, 256, 4)
RG_GEMM_PINGPONG_TILE(m128n128p, 2, 128, 6)
RG_GEMM_TILE(m128n128, 2, 128, 5)
RG_GEMM_TILE(m64n128, 1, 128, 4)
RG_GEMM_TILE(m64n64, 1, 64, 4)
RG_GEMM_SPLIT_TILE(m64n64s2, 1, 64, 4, 2)
RG_GEMM_SPLIT_TILE(m64n64s4, 1, 64, 4, 4)
RG_GEMM_SPLIT_TILE(m64n64s8, 1, 64, 4, 8)
