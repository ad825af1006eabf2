/*
 * movement.cu — data movement on device values for the CUDA executor:
 * one strided copy (Transpose, Expand, Slice with steps, Concat one input at
 * a time, copies of Reshape-like views), Where over broadcast inputs, a
 * general Gather (any axis, int32 or int64 indices) and Cast between any
 * two dtypes. Every kernel works by element size, not dtype, where it can,
 * and is grid-strided, so any size works with any grid. Compiled once per
 * plan by NVRTC (no -D options); kernels are extern "C".
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

#define RG_MOVE_MAX_RANK 8

/* The same members in the same order as move_params in runtime/cuda_exec.c.
 * Element k of the iteration shape dims (row-major) is written at
 * out_offset + sum idx[d] * out_strides[d] and read, for input j, at
 * in_offset[j] + sum idx[d] * in_strides[j][d] (0: broadcast). */
struct rg_move_params {
    i64 total;
    i64 rank;
    i64 dims[RG_MOVE_MAX_RANK];
    i64 out_strides[RG_MOVE_MAX_RANK];
    i64 in_strides[3][RG_MOVE_MAX_RANK];
    i64 out_offset;
    i64 in_offset[3];
};

template <int N>
__device__ __forceinline__ void offsets(const rg_move_params &p, i64 k, i64 &out, i64 *in) {
    out = p.out_offset;
    for (int j = 0; j < N; j++) in[j] = p.in_offset[j];
    for (int d = (int)p.rank - 1; d >= 0; d--) {
        i64 n = p.dims[d];
        i64 q = k / n, i = k - q * n;
        k = q;
        out += i * p.out_strides[d];
        for (int j = 0; j < N; j++) in[j] += i * p.in_strides[j][d];
    }
}

template <typename T>
__device__ void strided_copy(T *__restrict__ out, const T *__restrict__ in, const rg_move_params &p) {
    for (i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x; k < p.total; k += (i64)gridDim.x * blockDim.x) {
        i64 o, i[1];
        offsets<1>(p, k, o, i);
        out[o] = in[i[0]];
    }
}

template <typename T>
__device__ void where(T *__restrict__ out, const unsigned char *__restrict__ cond, const T *__restrict__ x,
                      const T *__restrict__ y, const rg_move_params &p) {
    for (i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x; k < p.total; k += (i64)gridDim.x * blockDim.x) {
        i64 o, i[3];
        offsets<3>(p, k, o, i);
        out[o] = cond[i[0]] ? x[i[1]] : y[i[2]];
    }
}

/* out[o, j, r] = data[o, index[j], r]: outer x n x inner elements, the
 * gathered axis of size axis_dim. A negative index counts from the end; one
 * still out of range writes zeros and sets *error (the executor reads it
 * after the run and fails it, naming the node). */
template <typename T, typename I>
__device__ void gather(T *__restrict__ out, const T *__restrict__ data, const I *__restrict__ index, i64 outer, i64 n,
                       i64 axis_dim, i64 inner, int *error) {
    i64 total = outer * n * inner;
    for (i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += (i64)gridDim.x * blockDim.x) {
        i64 r = k % inner, t = k / inner, j = t % n, o = t / n;
        i64 idx = (i64)index[j];
        if (idx < 0) idx += axis_dim;
        if (idx < 0 || idx >= axis_dim) {
            out[k] = T(0);
            *error = 1;
        } else {
            out[k] = data[(o * axis_dim + idx) * inner + r];
        }
    }
}

#define RG_MOVE_SIZE(bytes, T)                                                                                      \
    extern "C" __global__ void rg_copy_strided_##bytes(T *out, const T *in, rg_move_params p) { rg_pdl_begin();     \
        strided_copy<T>(out, in, p);                                                                                \
    }                                                                                                               \
    extern "C" __global__ void rg_where_##bytes(T *out, const unsigned char *cond, const T *x, const T *y,          \
                                                rg_move_params p) { rg_pdl_begin();                                 \
        where<T>(out, cond, x, y, p);                                                                               \
    }                                                                                                               \
    extern "C" __global__ void rg_gather_##bytes##_i32(T *out, const T *data, const int *index, i64 outer, i64 n,  \
                                                       i64 axis_dim, i64 inner, int *error) { rg_pdl_begin();       \
        gather<T, int>(out, data, index, outer, n, axis_dim, inner, error);                                         \
    }                                                                                                               \
    extern "C" __global__ void rg_gather_##bytes##_i64(T *out, const T *data, const i64 *index, i64 outer, i64 n,  \
                                                       i64 axis_dim, i64 inner, int *error) { rg_pdl_begin();       \
        gather<T, i64>(out, data, index, outer, n, axis_dim, inner, error);                                         \
    }
RG_MOVE_SIZE(1, unsigned char)
RG_MOVE_SIZE(2, unsigned short)
RG_MOVE_SIZE(4, unsigned int)
RG_MOVE_SIZE(8, unsigned long long)

/* Dtype codes: the same as cast_code() in runtime/cuda_exec.c. */
enum { C_F32, C_F16, C_BF16, C_F64, C_I8, C_U8, C_I16, C_U16, C_I32, C_U32, C_I64, C_U64, C_BOOL };

__device__ __forceinline__ bool is_int_code(int c) { return c >= C_I8; }

__device__ double load_double(const void *p, i64 k, int c) {
    switch (c) {
    case C_F32: return ((const float *)p)[k];
    case C_F16: return __half2float(((const __half *)p)[k]);
    case C_BF16: return __bfloat162float(((const __nv_bfloat16 *)p)[k]);
    case C_F64: return ((const double *)p)[k];
    default: return 0;
    }
}

__device__ i64 load_int(const void *p, i64 k, int c) {
    switch (c) {
    case C_I8: return ((const signed char *)p)[k];
    case C_U8: return ((const unsigned char *)p)[k];
    case C_I16: return ((const short *)p)[k];
    case C_U16: return ((const unsigned short *)p)[k];
    case C_I32: return ((const int *)p)[k];
    case C_U32: return ((const unsigned int *)p)[k];
    case C_I64: return ((const i64 *)p)[k];
    case C_U64: return (i64)((const unsigned long long *)p)[k];
    case C_BOOL: return ((const unsigned char *)p)[k] != 0;
    default: return 0;
    }
}

__device__ void store_double(void *p, i64 k, int c, double v) {
    switch (c) {
    case C_F32: ((float *)p)[k] = (float)v; break;
    case C_F16: ((__half *)p)[k] = __double2half(v); break;
    case C_BF16: ((__nv_bfloat16 *)p)[k] = __float2bfloat16_rn((float)v); break;
    case C_F64: ((double *)p)[k] = v; break;
    case C_BOOL: ((unsigned char *)p)[k] = v != 0; break;
    /* float to integer truncates toward zero, as the CPU executor's C casts */
    case C_I8: ((signed char *)p)[k] = (signed char)v; break;
    case C_U8: ((unsigned char *)p)[k] = (unsigned char)v; break;
    case C_I16: ((short *)p)[k] = (short)v; break;
    case C_U16: ((unsigned short *)p)[k] = (unsigned short)v; break;
    case C_I32: ((int *)p)[k] = (int)v; break;
    case C_U32: ((unsigned int *)p)[k] = (unsigned int)v; break;
    case C_I64: ((i64 *)p)[k] = (i64)v; break;
    case C_U64: ((unsigned long long *)p)[k] = (unsigned long long)v; break;
    }
}

__device__ void store_int(void *p, i64 k, int c, i64 v) {
    switch (c) {
    case C_I8: ((signed char *)p)[k] = (signed char)v; break;
    case C_U8: ((unsigned char *)p)[k] = (unsigned char)v; break;
    case C_I16: ((short *)p)[k] = (short)v; break;
    case C_U16: ((unsigned short *)p)[k] = (unsigned short)v; break;
    case C_I32: ((int *)p)[k] = (int)v; break;
    case C_U32: ((unsigned int *)p)[k] = (unsigned int)v; break;
    case C_I64: ((i64 *)p)[k] = v; break;
    case C_U64: ((unsigned long long *)p)[k] = (unsigned long long)v; break;
    case C_BOOL: ((unsigned char *)p)[k] = v != 0; break;
    default: store_double(p, k, c, (double)v); break;
    }
}

/* n elements from dtype code `from` to `to`; integer to integer stays in
 * 64-bit integers, anything with a float side goes through double. */
extern "C" __global__ void rg_cast_any(void *out, const void *in, i64 n, int from, int to) {
    rg_pdl_begin();
    for (i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x; k < n; k += (i64)gridDim.x * blockDim.x) {
        if (is_int_code(from)) store_int(out, k, to, load_int(in, k, from));
        else store_double(out, k, to, load_double(in, k, from));
    }
}
