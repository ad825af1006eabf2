/*
 * elementwise.cu — small hand-written kernels for what the CUDA executor runs
 * outside GEMMs, attention and generated batch reductions: embedding row
 * gathers, casts between the float dtypes, and the exact (erf) GELU that
 * cuBLASLt's epilogues lack, with the Linear's bias folded in. Compiled once
 * per plan by NVRTC (no -D options); every kernel is extern "C" and
 * grid-strided, so any size works with any grid.
 */
#include <cuda_fp16.h>
#include <cuda_bf16.h>

typedef long long i64;

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
    rg_pdl_begin();
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
    rg_pdl_begin();
    gather_rows<unsigned>(out, table, index, n, rows, row_words);
}
extern "C" __global__ void rg_gather_rows_w2(unsigned short *out, const unsigned short *table, const i64 *index, i64 n,
                                             i64 rows, i64 row_words) {
    rg_pdl_begin();
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
    extern "C" __global__ void rg_cast_##sname##_##dname(D *out, const S *in, i64 n) { rg_pdl_begin(); cast<S, D>(out, in, n); }
RG_CAST(f16, __half, f32, float)
RG_CAST(bf16, __nv_bfloat16, f32, float)
RG_CAST(f32, float, f16, __half)
RG_CAST(f32, float, bf16, __nv_bfloat16)
RG_CAST(f16, __half, bf16, __nv_bfloat16)
RG_CAST(bf16, __nv_bfloat16, f16, __half)

__device__ __forceinline__ float gelu_erf_f(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }

/* The same GELU for a value stored in fp16 or bf16 after it: erf from
 * Abramowitz and Stegun 7.1.26 (|error| <= 1.5e-7, far below those types'
 * rounding), with one reciprocal and one exponential where erff takes about
 * three times the instructions; at BERT-base 64 x 512 the bias+GELU pass
 * moves 400 MB and erff kept it under the copy bandwidth. 1 + erf is formed
 * without cancellation for v < 0. gemm.cu's epilogue has the same function
 * (rg_gemm_gelu). f32 outputs keep erff. */
__device__ __forceinline__ float gelu_erf_narrow(float v) {
    const float z = fabsf(v) * 0.70710678118654752f;
    const float t = __fdividef(1.0f, fmaf(0.3275911f, z, 1.0f));
    const float poly = t * fmaf(t, fmaf(t, fmaf(t, fmaf(t, 1.061405429f, -1.453152027f), 1.421413741f), -0.284496736f),
                                0.254829592f);
    const float tail = poly * __expf(-z * z); /* 1 - erf(z) */
    return 0.5f * v * (v >= 0.0f ? 2.0f - tail : tail);
}
template <typename T> __device__ __forceinline__ float gelu_for(float v) { return gelu_erf_narrow(v); }
template <> __device__ __forceinline__ float gelu_for<float>(float v) { return gelu_erf_f(v); }

/* x = 0.5 x (1 + erf(x / sqrt 2)) in place, in f32 (scalar; any size). */
template <typename T>
__device__ void gelu_erf(T *x, i64 n) {
    for (i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x; k < n; k += (i64)gridDim.x * blockDim.x)
        store_f(x, k, gelu_erf_f(load_f(x, k)));
}
extern "C" __global__ void rg_gelu_erf_f32(float *x, i64 n) { rg_pdl_begin(); gelu_erf<float>(x, n); }
extern "C" __global__ void rg_gelu_erf_f16(__half *x, i64 n) { rg_pdl_begin(); gelu_erf<__half>(x, n); }
extern "C" __global__ void rg_gelu_erf_bf16(__nv_bfloat16 *x, i64 n) { rg_pdl_begin(); gelu_erf<__nv_bfloat16>(x, n); }

/* The bias add and erf GELU after a GEMM that ran without an epilogue, in
 * place over x [rows, cols]: x = gelu(x + bias[col]) in f32. One pass over
 * x, so it costs what the GELU alone did and the GEMM's bias epilogue is
 * gone. The _v variants move 16 bytes per access (8 halves or 4 floats) and
 * need cols a multiple of the vector width and x and bias 16-byte aligned
 * (the executor checks and otherwise takes the scalar one); bias may be NULL.
 * Vectors of one thread never straddle a row, so one division per vector
 * finds the column. */
template <typename T>
__device__ void bias_gelu_erf(T *__restrict__ x, const T *__restrict__ bias, i64 n, i64 cols) {
    for (i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x; k < n; k += (i64)gridDim.x * blockDim.x) {
        float v = load_f(x, k);
        if (bias) v += load_f(bias, k % cols);
        store_f(x, k, gelu_for<T>(v));
    }
}

/* 16 bytes as 8 halves (or bf16s) or 4 floats, widened to f32. */
template <typename T> struct vec16;
template <> struct vec16<float> {
    enum { N = 4 };
    static __device__ __forceinline__ void load(const uint4 &u, float *f) {
        f[0] = __uint_as_float(u.x), f[1] = __uint_as_float(u.y), f[2] = __uint_as_float(u.z), f[3] = __uint_as_float(u.w);
    }
    static __device__ __forceinline__ uint4 store(const float *f) {
        return make_uint4(__float_as_uint(f[0]), __float_as_uint(f[1]), __float_as_uint(f[2]), __float_as_uint(f[3]));
    }
};
template <> struct vec16<__half> {
    enum { N = 8 };
    static __device__ __forceinline__ void load(const uint4 &u, float *f) {
        const __half2 *h = reinterpret_cast<const __half2 *>(&u);
        for (int j = 0; j < 4; j++) {
            float2 p = __half22float2(h[j]);
            f[2 * j] = p.x, f[2 * j + 1] = p.y;
        }
    }
    static __device__ __forceinline__ uint4 store(const float *f) {
        uint4 u;
        __half2 *h = reinterpret_cast<__half2 *>(&u);
        for (int j = 0; j < 4; j++) h[j] = __floats2half2_rn(f[2 * j], f[2 * j + 1]);
        return u;
    }
};
template <> struct vec16<__nv_bfloat16> {
    enum { N = 8 };
    static __device__ __forceinline__ void load(const uint4 &u, float *f) {
        const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&u);
        for (int j = 0; j < 4; j++) {
            float2 p = __bfloat1622float2(h[j]);
            f[2 * j] = p.x, f[2 * j + 1] = p.y;
        }
    }
    static __device__ __forceinline__ uint4 store(const float *f) {
        uint4 u;
        __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&u);
        for (int j = 0; j < 4; j++) h[j] = __floats2bfloat162_rn(f[2 * j], f[2 * j + 1]);
        return u;
    }
};

/* nvec = elements / N vectors; cvec = cols / N vectors per row. Each
 * thread takes RG_GELU_UNROLL vectors a grid stride apart and issues all
 * their loads before any erf, so enough bytes are in flight to reach HBM
 * bandwidth; the column is a 32-bit remainder whenever the sizes allow (a
 * 64-bit one is a long software sequence). */
#define RG_GELU_UNROLL 4
template <typename T>
__device__ void bias_gelu_erf_v(uint4 *__restrict__ x, const uint4 *__restrict__ bias, i64 nvec, i64 cvec) {
    typedef vec16<T> V;
    const i64 stride = (i64)gridDim.x * blockDim.x;
    const bool narrow = nvec <= 0xffffffffLL;
    for (i64 base = (i64)blockIdx.x * blockDim.x + threadIdx.x; base < nvec; base += stride * RG_GELU_UNROLL) {
        uint4 u[RG_GELU_UNROLL], b[RG_GELU_UNROLL];
#pragma unroll
        for (int r = 0; r < RG_GELU_UNROLL; r++) {
            i64 k = base + r * stride;
            if (k >= nvec) break;
            u[r] = x[k];
            if (bias) {
                i64 c = narrow ? (i64)((unsigned)k % (unsigned)cvec) : k % cvec;
                b[r] = __ldg(&bias[c]);
            }
        }
#pragma unroll
        for (int r = 0; r < RG_GELU_UNROLL; r++) {
            i64 k = base + r * stride;
            if (k >= nvec) break;
            float f[V::N];
            V::load(u[r], f);
            if (bias) {
                float fb[V::N];
                V::load(b[r], fb);
                for (int j = 0; j < V::N; j++) f[j] += fb[j];
            }
            for (int j = 0; j < V::N; j++) f[j] = gelu_for<T>(f[j]);
            x[k] = V::store(f);
        }
    }
}

#define RG_BIAS_GELU(name, T)                                                                                        \
    extern "C" __global__ void rg_bias_gelu_erf_##name(T *x, const T *bias, i64 n, i64 cols) { rg_pdl_begin();      \
        bias_gelu_erf<T>(x, bias, n, cols);                                                                          \
    }                                                                                                                \
    extern "C" __global__ void rg_bias_gelu_erf_v_##name(uint4 *x, const uint4 *bias, i64 nvec, i64 cvec) { rg_pdl_begin(); \
        bias_gelu_erf_v<T>(x, bias, nvec, cvec);                                                                     \
    }
RG_BIAS_GELU(f32, float)
RG_BIAS_GELU(f16, __half)
RG_BIAS_GELU(bf16, __nv_bfloat16)
