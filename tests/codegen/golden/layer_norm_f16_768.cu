// ragged: LayerNorm node 'ln' -> kernels rg_ln_vec, rg_ln_scalar
// row length 768, float16 in memory, f32 math; 32 threads per row, 8 rows per block, 8-element vectors
// program:
//   %0 = load in0 row
//   %1 = load in3 row
//   %2 = add %0, %1
//   store out1 %2 row
//   %4 = rmean %2
//   %5 = sub %2, %4
//   %6 = mul %5, %5
//   %7 = rmean %6
//   %8 = const 9.99999975e-06
//   %9 = add %7, %8
//   %10 = sqrt %9
//   %11 = recip %10
//   %12 = mul %5, %11
//   %13 = load in1 row
//   %14 = mul %12, %13
//   %15 = load in2 row
//   %16 = add %14, %15
//   store out0 %16 row
#include <cuda_fp16.h>

namespace rg_kernel {

typedef __half rg_t;
constexpr int N = 768;   // row length
constexpr int T = 32;   // threads per row
constexpr int RPB = 8; // rows per block
constexpr int W = 1;   // warps per row
constexpr int LANES = T < 32 ? T : 32;
static_assert(T * RPB <= 1024 && LANES <= 32 && (T <= 32 ? 32 % T == 0 : T == 32 * W), "layout");

// The kernel parameter, byte for byte rg_kabi_fused_params (ir/kernel_abi.h).
struct rg_params {
    const void *inputs[16];
    void *outputs[8];
    long long rows;
    long long dims[7];
    long long strides[16][7];
    int ndims;
    int reserved;
};

// Programmatic dependent launch: wait for the kernel before (its writes visible), then let
// the next one launch. A no-op unless launched as a programmatic dependent on sm_90.
__device__ __forceinline__ void rg_pdl_begin() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ float rg_float(rg_t v) { return __half2float(v); }
__device__ __forceinline__ rg_t rg_round(float v) { return __float2half_rn(v); }
// NaN-propagating max/min, as the CPU interpreter.
__device__ __forceinline__ float rg_max(float a, float b) { return a != a || b != b ? a + b : a > b ? a : b; }
__device__ __forceinline__ float rg_min(float a, float b) { return a != a || b != b ? a + b : a < b ? a : b; }
__device__ __forceinline__ float rg_sign(float x) { return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x; }
__device__ __forceinline__ float rg_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ float rg_gelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

// V consecutive elements, one access of V * sizeof(rg_t) bytes.
template <int V> struct __align__(sizeof(rg_t) * V) rg_vec { rg_t v[V]; };

// Chunk k of thread t covers elements (k * T + t) * V ... + V - 1 of the row.
template <int V> __device__ __forceinline__ bool rg_valid(int i, int t) {
    return N % (T * V) == 0 || ((i / V) * T + t) * V < N;
}

template <int V, int E> __device__ __forceinline__ void rg_load_row(const rg_t *src, bool active, int t, float (&dst)[E]) {
#pragma unroll
    for (int k = 0; k < E / V; k++) {
        const int c = (k * T + t) * V;
        if (active && rg_valid<V>(k * V, t)) {
            const rg_vec<V> r = *reinterpret_cast<const rg_vec<V> *>(src + c);
#pragma unroll
            for (int j = 0; j < V; j++) dst[k * V + j] = rg_float(r.v[j]);
        } else {
#pragma unroll
            for (int j = 0; j < V; j++) dst[k * V + j] = 0.0f;
        }
    }
}

template <int V, int E> __device__ __forceinline__ void rg_store_row(rg_t *dst, bool active, int t, const float (&src)[E]) {
#pragma unroll
    for (int k = 0; k < E / V; k++) {
        const int c = (k * T + t) * V;
        if (active && rg_valid<V>(k * V, t)) {
            rg_vec<V> r;
#pragma unroll
            for (int j = 0; j < V; j++) r.v[j] = rg_round(src[k * V + j]);
            *reinterpret_cast<rg_vec<V> *>(dst + c) = r;
        }
    }
}

// Element offset of row `row` of input `in` (see the ABI in ir/kernel_abi.h).
__device__ __forceinline__ long long rg_offset(const rg_params &p, int in, long long row) {
    if (p.ndims == 1) return row * p.strides[in][0];
    long long off = 0, rest = row;
    for (int d = p.ndims - 1; d > 0; d--) {
        off += (rest % p.dims[d]) * p.strides[in][d];
        rest /= p.dims[d];
    }
    return off + rest * p.strides[in][0];
}

#define RG_ROW(i) _Pragma("unroll") for (int i = 0; i < E; i++)

template <int V> __device__ __forceinline__ void rg_body(const rg_params &p) {
    constexpr int E = (N + T * V - 1) / (T * V) * V; // elements per thread
    const int t = threadIdx.x % T, slot = threadIdx.x / T;
    const long long row = (long long)blockIdx.x * RPB + slot;
    // no early return: every lane takes part in the shuffles and barriers
    const bool active = row < p.rows;
    const long long off0 = rg_offset(p, 0, row);
    const long long off1 = rg_offset(p, 1, row);
    const long long off2 = rg_offset(p, 2, row);
    const long long off3 = rg_offset(p, 3, row);
    // level 0
    float r0[E]; rg_load_row<V>(static_cast<const rg_t *>(p.inputs[0]) + off0, active, t, r0);
    float r1[E]; rg_load_row<V>(static_cast<const rg_t *>(p.inputs[3]) + off3, active, t, r1);
    float r2[E]; RG_ROW(i) r2[i] = r0[i] + r1[i];
    if (p.outputs[1]) rg_store_row<V>(static_cast<rg_t *>(p.outputs[1]) + row * N, active, t, r2);
    const float r8 = 9.99999975e-06f;
    float r13[E]; rg_load_row<V>(static_cast<const rg_t *>(p.inputs[1]) + off1, active, t, r13);
    float r15[E]; rg_load_row<V>(static_cast<const rg_t *>(p.inputs[2]) + off2, active, t, r15);
    float a4 = 0.0f; // rmean %2
    RG_ROW(i) if (rg_valid<V>(i, t)) a4 += r2[i];
    for (int o = LANES / 2; o > 0; o /= 2) {
        a4 += __shfl_xor_sync(0xffffffffu, a4, o);
    }
    const float r4 = a4 / (float)N;
    // level 1
    float r5[E]; RG_ROW(i) r5[i] = r2[i] - r4;
    float r6[E]; RG_ROW(i) r6[i] = r5[i] * r5[i];
    float a7 = 0.0f; // rmean %6
    RG_ROW(i) if (rg_valid<V>(i, t)) a7 += r6[i];
    for (int o = LANES / 2; o > 0; o /= 2) {
        a7 += __shfl_xor_sync(0xffffffffu, a7, o);
    }
    const float r7 = a7 / (float)N;
    // level 2
    const float r9 = r7 + r8;
    const float r10 = sqrtf(r9);
    const float r11 = 1.0f / r10;
    float r12[E]; RG_ROW(i) r12[i] = r5[i] * r11;
    float r14[E]; RG_ROW(i) r14[i] = r12[i] * r13[i];
    float r16[E]; RG_ROW(i) r16[i] = r14[i] + r15[i];
    if (p.outputs[0]) rg_store_row<V>(static_cast<rg_t *>(p.outputs[0]) + row * N, active, t, r16);
}

} // namespace rg_kernel

extern "C" __global__ void __launch_bounds__(rg_kernel::T * rg_kernel::RPB) rg_ln_vec(const __grid_constant__ rg_kernel::rg_params p) { rg_kernel::rg_pdl_begin(); rg_kernel::rg_body<8>(p); }
extern "C" __global__ void __launch_bounds__(rg_kernel::T * rg_kernel::RPB) rg_ln_scalar(const __grid_constant__ rg_kernel::rg_params p) { rg_kernel::rg_pdl_begin(); rg_kernel::rg_body<1>(p); }
