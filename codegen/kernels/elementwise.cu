/*
 * elementwise.cu — small hand-written kernels for what the CUDA executor runs
 * outside GEMMs, attention and generated batch reductions: embedding row
 * gathers, casts between the float dtypes, and the exact (erf) GELU that
 * cuBLASLt's epilogues lack. Compiled once per plan by NVRTC (no -D
 * options); every kernel is extern "C" and grid-strided, so any size works
 * with any grid.
 */
#include <cuda_fp16.h>
#include <cuda_bf16.h>

typedef long long i64;

/* out[i, :] = table[index[i], :] for n indices of rows of row_words words
 * (the row's bytes / word size). A negative index counts from the end, as
 * in ONNX; one still outside [0, rows) writes a zero row (the CPU executor
 * reports it; a kernel cannot). */
template <typename W>
__device__ void gather_rows(W *__restrict__ out, const W *__restrict__ table, const i64 *__restrict__ index, i64 n,
                            i64 rows, i64 row_words) {
    i64 total = n * row_words;
    for (i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += (i64)gridDim.x * blockDim.x) {
        i64 i = k / row_words, w = k - i * row_words;
        i64 r = index[i];
        if (r < 0) r += rows;
        out[k] = r >= 0 && r < rows ? table[r * row_words + w] : W(0);
    }
}

extern "C" __global__ void rg_gather_rows_w16(uint4 *out, const uint4 *table, const i64 *index, i64 n, i64 rows,
                                              i64 row_words) {
    i64 total = n * row_words;
    for (i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += (i64)gridDim.x * blockDim.x) {
        i64 i = k / row_words, w = k - i * row_words;
        i64 r = index[i];
        if (r < 0) r += rows;
        out[k] = r >= 0 && r < rows ? table[r * row_words + w] : make_uint4(0, 0, 0, 0);
    }
}
extern "C" __global__ void rg_gather_rows_w4(unsigned *out, const unsigned *table, const i64 *index, i64 n, i64 rows,
                                             i64 row_words) {
    gather_rows<unsigned>(out, table, index, n, rows, row_words);
}
extern "C" __global__ void rg_gather_rows_w2(unsigned short *out, const unsigned short *table, const i64 *index, i64 n,
                                             i64 rows, i64 row_words) {
    gather_rows<unsigned short>(out, table, index, n, rows, row_words);
}

__device__ __forceinline__ float load_f(const float *p, i64 i) { return p[i]; }
__device__ __forceinline__ float load_f(const __half *p, i64 i) { return __half2float(p[i]); }
__device__ __forceinline__ float load_f(const __nv_bfloat16 *p, i64 i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void store_f(float *p, i64 i, float v) { p[i] = v; }
__device__ __forceinline__ void store_f(__half *p, i64 i, float v) { p[i] = __float2half_rn(v); }
__device__ __forceinline__ void store_f(__nv_bfloat16 *p, i64 i, float v) { p[i] = __float2bfloat16_rn(v); }

template <typename S, typename D>
__device__ void cast(D *__restrict__ out, const S *__restrict__ in, i64 n) {
    for (i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x; k < n; k += (i64)gridDim.x * blockDim.x)
        store_f(out, k, load_f(in, k));
}

#define RG_CAST(sname, S, dname, D) \
    extern "C" __global__ void rg_cast_##sname##_##dname(D *out, const S *in, i64 n) { cast<S, D>(out, in, n); }
RG_CAST(f16, __half, f32, float)
RG_CAST(bf16, __nv_bfloat16, f32, float)
RG_CAST(f32, float, f16, __half)
RG_CAST(f32, float, bf16, __nv_bfloat16)
RG_CAST(f16, __half, bf16, __nv_bfloat16)
RG_CAST(bf16, __nv_bfloat16, f16, __half)

/* x = 0.5 x (1 + erf(x / sqrt 2)) in place, in f32. */
template <typename T>
__device__ void gelu_erf(T *x, i64 n) {
    for (i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x; k < n; k += (i64)gridDim.x * blockDim.x) {
        float v = load_f(x, k);
        store_f(x, k, 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)));
    }
}
extern "C" __global__ void rg_gelu_erf_f32(float *x, i64 n) { gelu_erf<float>(x, n); }
extern "C" __global__ void rg_gelu_erf_f16(__half *x, i64 n) { gelu_erf<__half>(x, n); }
extern "C" __global__ void rg_gelu_erf_bf16(__nv_bfloat16 *x, i64 n) { gelu_erf<__nv_bfloat16>(x, n); }
