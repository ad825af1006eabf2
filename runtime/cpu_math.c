/*
 * cpu_math.c — the CPU executor's arithmetic kernels: elementwise ops with
 * numpy broadcasting, Cast, Softmax, LayerNormalization, reductions, CumSum,
 * MatMul and Gemm, with ONNX semantics for opsets 11..21.
 *
 * Every elementwise op runs through one engine (ew_run): the output shape is
 * walked row by row (rg_cpu_bcast merges dims so rows are long), inputs are
 * read into small chunks of a compute type — float32 for the float dtypes,
 * int64 for the integer ones and bool — and the op runs as a plain loop on
 * the chunk. float32 inputs read contiguously are used in place and float32
 * outputs are written in place, so the common fp32 cases are simple loops;
 * float16/bfloat16 are converted to float32 on the way in and rounded to
 * nearest even on the way out. Integer arithmetic wraps (it is done on
 * uint64 to stay clear of undefined behaviour) and is narrowed on store.
 *
 * Messages do not name the node: the executor prefixes it (cpu_internal.h).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu_internal.h"
#include "cpu_util.h"

#ifdef RG_HAVE_CBLAS
#include <cblas.h>
#endif

/* Elements per chunk of the elementwise engine: small enough for the stack,
 * long enough for the loops to vectorise. */
#define CHUNK 256

/* ------------------------------------------------------------------ dtypes */

#define DT(name) (1u << RG_DTYPE_##name)
#define DT_FLOATS (DT(F32) | DT(F16) | DT(BF16))
#define DT_INTS (DT(I64) | DT(I32) | DT(I8) | DT(U8))
#define DT_NUMERIC (DT_FLOATS | DT_INTS)
#define DT_ALL (DT_NUMERIC | DT(BOOL))

/* The dtypes each op accepts for its main input(s), after ONNX's type
 * constraints restricted to ragged's dtypes. */
static const uint32_t accepted_dtypes[RG_OP_COUNT] = {
    [RG_OP_ABS] = DT_NUMERIC,
    [RG_OP_NEG] = DT_NUMERIC,
    [RG_OP_SQRT] = DT_FLOATS,
    [RG_OP_RECIPROCAL] = DT_FLOATS,
    [RG_OP_EXP] = DT_FLOATS,
    [RG_OP_LOG] = DT_FLOATS,
    [RG_OP_ERF] = DT_FLOATS,
    [RG_OP_TANH] = DT_FLOATS,
    [RG_OP_SIGMOID] = DT_FLOATS,
    [RG_OP_RELU] = DT_NUMERIC,
    [RG_OP_GELU] = DT_FLOATS,
    [RG_OP_FLOOR] = DT_FLOATS,
    [RG_OP_CEIL] = DT_FLOATS,
    [RG_OP_SIN] = DT_FLOATS,
    [RG_OP_COS] = DT_FLOATS,
    [RG_OP_SIGN] = DT_NUMERIC,
    [RG_OP_NOT] = DT(BOOL),
    [RG_OP_ISNAN] = DT_FLOATS,
    [RG_OP_CAST] = DT_ALL,
    [RG_OP_CLIP] = DT_NUMERIC,
    [RG_OP_ADD] = DT_NUMERIC,
    [RG_OP_SUB] = DT_NUMERIC,
    [RG_OP_MUL] = DT_NUMERIC,
    [RG_OP_DIV] = DT_NUMERIC,
    [RG_OP_POW] = DT_NUMERIC,
    [RG_OP_MOD] = DT_NUMERIC,
    [RG_OP_EQUAL] = DT_ALL,
    [RG_OP_LESS] = DT_NUMERIC,
    [RG_OP_LESS_OR_EQUAL] = DT_NUMERIC,
    [RG_OP_GREATER] = DT_NUMERIC,
    [RG_OP_GREATER_OR_EQUAL] = DT_NUMERIC,
    [RG_OP_AND] = DT(BOOL),
    [RG_OP_OR] = DT(BOOL),
    [RG_OP_XOR] = DT(BOOL),
    [RG_OP_MIN] = DT_NUMERIC,
    [RG_OP_MAX] = DT_NUMERIC,
    [RG_OP_SUM] = DT_NUMERIC,
    [RG_OP_WHERE] = DT_ALL,
    [RG_OP_SOFTMAX] = DT_FLOATS,
    [RG_OP_LAYER_NORMALIZATION] = DT_FLOATS,
    [RG_OP_REDUCE_MEAN] = DT_NUMERIC,
    [RG_OP_REDUCE_SUM] = DT_NUMERIC,
    [RG_OP_REDUCE_MAX] = DT_ALL,
    [RG_OP_REDUCE_MIN] = DT_ALL,
    [RG_OP_REDUCE_PROD] = DT_NUMERIC,
    [RG_OP_CUMSUM] = DT_NUMERIC,
    [RG_OP_MATMUL] = DT_NUMERIC,
    [RG_OP_GEMM] = DT_NUMERIC,
};

typedef enum compute_type { COMPUTE_F32, COMPUTE_I64 } compute_type;

static compute_type compute_for(rg_dtype dtype) { return rg_dtype_is_float(dtype) ? COMPUTE_F32 : COMPUTE_I64; }

/* ------------------------------------------------------------------ checks */

static rg_status need_input(const rg_node *node, const rg_tensor *const *inputs, uint32_t index, rg_error *err) {
    if (index >= node->ninputs || !inputs[index])
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "required input %u is missing", index);
    if (!inputs[index]->data && inputs[index]->nbytes)
        return rg_error_set(err, RG_ERR_INTERNAL, "input %u has no data", index);
    return RG_OK;
}

static const rg_tensor *optional_input(const rg_node *node, const rg_tensor *const *inputs, uint32_t index) {
    return index < node->ninputs ? inputs[index] : NULL;
}

static bool want_output(const rg_node *node, uint32_t index) {
    return index < node->noutputs && node->outputs[index] != NULL;
}

static rg_status check_dtype(const rg_node *node, uint32_t index, const rg_tensor *t, uint32_t accepted,
                             rg_error *err) {
    if ((unsigned)t->dtype < RG_DTYPE_COUNT && (accepted & (1u << t->dtype))) return RG_OK;
    return rg_error_set(err, RG_ERR_DTYPE, "input %u has dtype %s, which %s does not accept", index,
                        rg_dtype_name(t->dtype), rg_op_name(node->op));
}

static rg_status check_same_dtype(uint32_t index, const rg_tensor *t, uint32_t ref_index, const rg_tensor *ref,
                                  rg_error *err) {
    if (t->dtype == ref->dtype) return RG_OK;
    return rg_error_set(err, RG_ERR_DTYPE, "input %u has dtype %s but input %u has %s", index,
                        rg_dtype_name(t->dtype), ref_index, rg_dtype_name(ref->dtype));
}

/* Broadcasts input `index` into the running shape (rank, dims). */
static rg_status broadcast_into(uint32_t index, const rg_tensor *t, int *rank, int64_t *dims, rg_error *err) {
    if (rg_cpu_broadcast_shapes(*rank, dims, t->rank, t->dims, rank, dims)) return RG_OK;
    char a[RG_CPU_SHAPE_TEXT_MAX], b[RG_CPU_SHAPE_TEXT_MAX];
    return rg_error_set(err, RG_ERR_SHAPE, "input %u has shape %s which does not broadcast with %s", index,
                        rg_cpu_shape_text(t->rank, t->dims, a, sizeof a), rg_cpu_shape_text(*rank, dims, b, sizeof b));
}

static rg_status bad_axis(int64_t axis, uint32_t index, const rg_tensor *t, rg_error *err) {
    char s[RG_CPU_SHAPE_TEXT_MAX];
    return rg_error_set(err, RG_ERR_INVALID_MODEL, "axis %lld is out of range for input %u of shape %s",
                        (long long)axis, index, rg_cpu_shape_text(t->rank, t->dims, s, sizeof s));
}

static size_t prod_dims(const int64_t *dims, int from, int to) {
    size_t n = 1;
    for (int i = from; i < to; i++) n *= (size_t)dims[i];
    return n;
}

/* Scratch memory from the executor's allocator; the caller frees it with
 * scratch_free and the same count and size. */
static void *scratch_alloc(rg_cpu_ctx *ctx, size_t count, size_t size, rg_error *err) {
    size_t bytes;
    if (!rg_size_mul(count ? count : 1, size, &bytes)) {
        rg_error_set(err, RG_ERR_NOMEM, "scratch buffer size overflows");
        return NULL;
    }
    void *p = rg_mem_alloc(ctx->alloc, bytes);
    if (!p) rg_error_set(err, RG_ERR_NOMEM, "out of memory for a %zu-byte scratch buffer", bytes);
    return p;
}

static void scratch_free(rg_cpu_ctx *ctx, void *p, size_t count, size_t size) {
    if (p) rg_mem_free(ctx->alloc, p, (count ? count : 1) * size);
}

/* ------------------------------------------------------ loads and stores */

/* Reads n elements of t starting at element `offset`, `stride` apart, as
 * float32. Returns t's own memory when it is float32 and contiguous, else
 * fills and returns buf. */
static const float *load_f32(const rg_tensor *t, int64_t offset, int64_t stride, size_t n, float *buf) {
    if (t->dtype == RG_DTYPE_F32 && stride == 1) return (const float *)t->data + offset;
#define LOAD_LOOP(T, EXPR)                                                      \
    do {                                                                        \
        const T *p = (const T *)t->data + offset;                               \
        for (size_t i = 0; i < n; i++) buf[i] = (EXPR(p[(int64_t)i * stride])); \
    } while (0)
    switch (t->dtype) {
    case RG_DTYPE_F32: LOAD_LOOP(float, ); break;
    case RG_DTYPE_F16: LOAD_LOOP(uint16_t, rg_f16_to_f32); break;
    case RG_DTYPE_BF16: LOAD_LOOP(uint16_t, rg_bf16_to_f32); break;
    case RG_DTYPE_I64: LOAD_LOOP(int64_t, (float)); break;
    case RG_DTYPE_I32: LOAD_LOOP(int32_t, (float)); break;
    case RG_DTYPE_I8: LOAD_LOOP(int8_t, (float)); break;
    case RG_DTYPE_U8: LOAD_LOOP(uint8_t, (float)); break;
    case RG_DTYPE_BOOL: LOAD_LOOP(uint8_t, 0.0f != ); break;
    default: RG_ASSERT(!"load_f32: dtype checked by the caller");
    }
    return buf;
}

/* Float to integer is C's truncation toward zero (ONNX Cast); out-of-range
 * values saturate and NaN becomes 0 instead of being undefined behaviour. */
static int64_t f32_to_int(float v, int64_t lo, int64_t hi) {
    if (v != v) return 0;
    if (v <= (float)lo) return lo;
    if (v >= (float)hi) return hi;
    return (int64_t)v;
}

#define F32_TO_I64(v) f32_to_int((v), INT64_MIN, INT64_MAX)
#define F16_TO_I64(v) F32_TO_I64(rg_f16_to_f32(v))
#define BF16_TO_I64(v) F32_TO_I64(rg_bf16_to_f32(v))

/* The same as int64; floats are truncated toward zero. */
static const int64_t *load_i64(const rg_tensor *t, int64_t offset, int64_t stride, size_t n, int64_t *buf) {
    if (t->dtype == RG_DTYPE_I64 && stride == 1) return (const int64_t *)t->data + offset;
    switch (t->dtype) {
    case RG_DTYPE_F32: LOAD_LOOP(float, F32_TO_I64); break;
    case RG_DTYPE_F16: LOAD_LOOP(uint16_t, F16_TO_I64); break;
    case RG_DTYPE_BF16: LOAD_LOOP(uint16_t, BF16_TO_I64); break;
    case RG_DTYPE_I64: LOAD_LOOP(int64_t, ); break;
    case RG_DTYPE_I32: LOAD_LOOP(int32_t, (int64_t)); break;
    case RG_DTYPE_I8: LOAD_LOOP(int8_t, (int64_t)); break;
    case RG_DTYPE_U8: LOAD_LOOP(uint8_t, (int64_t)); break;
    case RG_DTYPE_BOOL: LOAD_LOOP(uint8_t, 0 != ); break;
    default: RG_ASSERT(!"load_i64: dtype checked by the caller");
    }
#undef LOAD_LOOP
    return buf;
}

/* Writes n float32 values to t at element `offset`, `stride` apart,
 * converting to t's dtype. */
static void store_f32(rg_tensor *t, int64_t offset, int64_t stride, const float *src, size_t n) {
#define STORE_LOOP(T, EXPR)                                                        \
    do {                                                                           \
        T *p = (T *)t->data + offset;                                              \
        for (size_t i = 0; i < n; i++) p[(int64_t)i * stride] = (T)(EXPR(src[i])); \
    } while (0)
    switch (t->dtype) {
    case RG_DTYPE_F32:
        if ((const float *)t->data + offset == src && stride == 1) break;
        STORE_LOOP(float, );
        break;
    case RG_DTYPE_F16: STORE_LOOP(uint16_t, rg_f32_to_f16); break;
    case RG_DTYPE_BF16: STORE_LOOP(uint16_t, rg_f32_to_bf16); break;
#define TO_I32(v) f32_to_int(v, INT32_MIN, INT32_MAX)
#define TO_I8(v) f32_to_int(v, INT8_MIN, INT8_MAX)
#define TO_U8(v) f32_to_int(v, 0, UINT8_MAX)
#define TO_BOOL(v) ((v) != 0.0f)
    case RG_DTYPE_I64: STORE_LOOP(int64_t, F32_TO_I64); break;
    case RG_DTYPE_I32: STORE_LOOP(int32_t, TO_I32); break;
    case RG_DTYPE_I8: STORE_LOOP(int8_t, TO_I8); break;
    case RG_DTYPE_U8: STORE_LOOP(uint8_t, TO_U8); break;
    case RG_DTYPE_BOOL: STORE_LOOP(uint8_t, TO_BOOL); break;
    default: RG_ASSERT(!"store_f32: dtype checked by the caller");
    }
}

#define I64_TO_F16(v) rg_f32_to_f16((float)(v))
#define I64_TO_BF16(v) rg_f32_to_bf16((float)(v))

/* Integer narrowing wraps (two's complement), as numpy's astype does. */
static void store_i64(rg_tensor *t, int64_t offset, int64_t stride, const int64_t *src, size_t n) {
    switch (t->dtype) {
    case RG_DTYPE_F32: STORE_LOOP(float, (float)); break;
    case RG_DTYPE_F16: STORE_LOOP(uint16_t, I64_TO_F16); break;
    case RG_DTYPE_BF16: STORE_LOOP(uint16_t, I64_TO_BF16); break;
    case RG_DTYPE_I64:
        if ((const int64_t *)t->data + offset == src && stride == 1) break;
        STORE_LOOP(int64_t, );
        break;
    case RG_DTYPE_I32: STORE_LOOP(int32_t, (int32_t)(uint32_t)); break;
    case RG_DTYPE_I8: STORE_LOOP(int8_t, (int8_t)(uint8_t)); break;
    case RG_DTYPE_U8: STORE_LOOP(uint8_t, (uint8_t)); break;
    case RG_DTYPE_BOOL: STORE_LOOP(uint8_t, 0 != ); break;
    default: RG_ASSERT(!"store_i64: dtype checked by the caller");
    }
#undef STORE_LOOP
}

static float elem_f32(const rg_tensor *t, size_t i) {
    float v;
    return *load_f32(t, (int64_t)i, 1, 1, &v);
}

static int64_t elem_i64(const rg_tensor *t, size_t i) {
    int64_t v;
    return *load_i64(t, (int64_t)i, 1, 1, &v);
}

/* The range of an integer dtype, for reductions' identities and Clip. */
static void int_range(rg_dtype dtype, int64_t *lo, int64_t *hi) {
    switch (dtype) {
    case RG_DTYPE_I32: *lo = INT32_MIN, *hi = INT32_MAX; break;
    case RG_DTYPE_I8: *lo = INT8_MIN, *hi = INT8_MAX; break;
    case RG_DTYPE_U8: *lo = 0, *hi = UINT8_MAX; break;
    case RG_DTYPE_BOOL: *lo = 0, *hi = 1; break;
    default: *lo = INT64_MIN, *hi = INT64_MAX; break;
    }
}

/* ------------------------------------------------- elementwise engine */

typedef struct ew_params {
    rg_op op;          /* RG_OP_IDENTITY copies input 0 */
    bool gelu_tanh;    /* Gelu approximate="tanh" */
    bool fmod;         /* Mod fmod=1 */
    float lo_f, hi_f;  /* Clip bounds */
    int64_t lo_i, hi_i;
} ew_params;

static inline float sigmoid_f32(float x) {
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static inline float gelu_f32(float x, bool tanh_form) {
    if (tanh_form) return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
}

static inline float clip_f32(float x, float lo, float hi) {
    float v = x < lo ? lo : x;
    return v > hi ? hi : v;
}

static inline int64_t clip_i64(int64_t x, int64_t lo, int64_t hi) {
    int64_t v = x < lo ? lo : x;
    return v > hi ? hi : v;
}

/* Python-style modulo: the result takes the divisor's sign. */
static inline float mod_f32(float a, float b, bool c_fmod) {
    float r = fmodf(a, b);
    if (!c_fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

/* One chunk of a float32 op: o[i] = op(a[0][i], a[1][i], a[2][i]). */
static void ew_f32(const ew_params *p, float *o, const float *const *a, size_t n) {
    const float *x = a[0], *y = a[1], *z = a[2];
    switch (p->op) {
#define LOOP(EXPR) for (size_t i = 0; i < n; i++) o[i] = (EXPR); break
    case RG_OP_IDENTITY: LOOP(x[i]);
    case RG_OP_ABS: LOOP(fabsf(x[i]));
    case RG_OP_NEG: LOOP(-x[i]);
    case RG_OP_SQRT: LOOP(sqrtf(x[i]));
    case RG_OP_RECIPROCAL: LOOP(1.0f / x[i]);
    case RG_OP_EXP: LOOP(expf(x[i]));
    case RG_OP_LOG: LOOP(logf(x[i]));
    case RG_OP_ERF: LOOP(erff(x[i]));
    case RG_OP_TANH: LOOP(tanhf(x[i]));
    case RG_OP_SIGMOID: LOOP(sigmoid_f32(x[i]));
    case RG_OP_RELU: LOOP(x[i] > 0.0f ? x[i] : (x[i] != x[i] ? x[i] : 0.0f));
    case RG_OP_GELU: LOOP(gelu_f32(x[i], p->gelu_tanh));
    case RG_OP_FLOOR: LOOP(floorf(x[i]));
    case RG_OP_CEIL: LOOP(ceilf(x[i]));
    case RG_OP_SIN: LOOP(sinf(x[i]));
    case RG_OP_COS: LOOP(cosf(x[i]));
    case RG_OP_SIGN: LOOP(x[i] > 0.0f ? 1.0f : x[i] < 0.0f ? -1.0f : x[i]);
    case RG_OP_ISNAN: LOOP(x[i] != x[i] ? 1.0f : 0.0f);
    /* min(max(x, lo), hi): when lo > hi everything becomes hi, as ONNX says */
    case RG_OP_CLIP: LOOP(clip_f32(x[i], p->lo_f, p->hi_f));
    case RG_OP_ADD:
    case RG_OP_SUM: LOOP(x[i] + y[i]);
    case RG_OP_SUB: LOOP(x[i] - y[i]);
    case RG_OP_MUL: LOOP(x[i] * y[i]);
    case RG_OP_DIV: LOOP(x[i] / y[i]);
    case RG_OP_POW: LOOP(powf(x[i], y[i]));
    case RG_OP_MOD: LOOP(mod_f32(x[i], y[i], p->fmod));
    case RG_OP_EQUAL: LOOP(x[i] == y[i] ? 1.0f : 0.0f);
    case RG_OP_LESS: LOOP(x[i] < y[i] ? 1.0f : 0.0f);
    case RG_OP_LESS_OR_EQUAL: LOOP(x[i] <= y[i] ? 1.0f : 0.0f);
    case RG_OP_GREATER: LOOP(x[i] > y[i] ? 1.0f : 0.0f);
    case RG_OP_GREATER_OR_EQUAL: LOOP(x[i] >= y[i] ? 1.0f : 0.0f);
    /* NaN propagates, as numpy's minimum/maximum do */
    case RG_OP_MIN: LOOP((x[i] < y[i] || x[i] != x[i]) ? x[i] : y[i]);
    case RG_OP_MAX: LOOP((x[i] > y[i] || x[i] != x[i]) ? x[i] : y[i]);
    case RG_OP_WHERE: LOOP(x[i] != 0.0f ? y[i] : z[i]);
#undef LOOP
    default: RG_ASSERT(!"ew_f32: op has no float32 elementwise form");
    }
}

static inline int64_t wrap_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t wrap_sub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t wrap_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

static inline int64_t int_pow(int64_t base, int64_t e) {
    /* negative exponents: what integer truncation of base^e gives */
    if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)base;
    for (uint64_t k = (uint64_t)e; k; k >>= 1) {
        if (k & 1) r *= b;
        b *= b;
    }
    return (int64_t)r;
}

static inline int64_t int_div(int64_t a, int64_t b) { return (b == -1) ? wrap_sub(0, a) : a / b; }

static inline int64_t int_mod(int64_t a, int64_t b, bool c_fmod) {
    if (b == -1) return 0;
    int64_t r = a % b;
    if (!c_fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

/* One chunk of an integer op; false on division by zero. */
static bool ew_i64(const ew_params *p, int64_t *o, const int64_t *const *a, size_t n) {
    const int64_t *x = a[0], *y = a[1], *z = a[2];
    switch (p->op) {
#define LOOP(EXPR) for (size_t i = 0; i < n; i++) o[i] = (EXPR); break
    case RG_OP_IDENTITY: LOOP(x[i]);
    case RG_OP_ABS: LOOP(x[i] < 0 ? wrap_sub(0, x[i]) : x[i]);
    case RG_OP_NEG: LOOP(wrap_sub(0, x[i]));
    case RG_OP_RELU: LOOP(x[i] > 0 ? x[i] : 0);
    case RG_OP_SIGN: LOOP(x[i] > 0 ? 1 : x[i] < 0 ? -1 : 0);
    case RG_OP_NOT: LOOP(!x[i]);
    case RG_OP_CLIP: LOOP(clip_i64(x[i], p->lo_i, p->hi_i));
    case RG_OP_ADD:
    case RG_OP_SUM: LOOP(wrap_add(x[i], y[i]));
    case RG_OP_SUB: LOOP(wrap_sub(x[i], y[i]));
    case RG_OP_MUL: LOOP(wrap_mul(x[i], y[i]));
    case RG_OP_POW: LOOP(int_pow(x[i], y[i]));
    case RG_OP_EQUAL: LOOP(x[i] == y[i]);
    case RG_OP_LESS: LOOP(x[i] < y[i]);
    case RG_OP_LESS_OR_EQUAL: LOOP(x[i] <= y[i]);
    case RG_OP_GREATER: LOOP(x[i] > y[i]);
    case RG_OP_GREATER_OR_EQUAL: LOOP(x[i] >= y[i]);
    case RG_OP_AND: LOOP(x[i] && y[i]);
    case RG_OP_OR: LOOP(x[i] || y[i]);
    case RG_OP_XOR: LOOP((x[i] != 0) != (y[i] != 0));
    case RG_OP_MIN: LOOP(x[i] < y[i] ? x[i] : y[i]);
    case RG_OP_MAX: LOOP(x[i] > y[i] ? x[i] : y[i]);
    case RG_OP_WHERE: LOOP(x[i] ? y[i] : z[i]);
    case RG_OP_DIV:
        for (size_t i = 0; i < n; i++) {
            if (y[i] == 0) return false;
            o[i] = int_div(x[i], y[i]);
        }
        break;
    case RG_OP_MOD:
        for (size_t i = 0; i < n; i++) {
            if (y[i] == 0) return false;
            o[i] = int_mod(x[i], y[i], p->fmod);
        }
        break;
#undef LOOP
    default: RG_ASSERT(!"ew_i64: op has no integer elementwise form");
    }
    return true;
}

/* Computes out (already allocated with the broadcast shape) from up to three
 * inputs in compute type ct. An input may be `out` itself (same shape): each
 * chunk is read before it is written. */
static rg_status ew_run(const ew_params *p, compute_type ct, int nin, const rg_tensor *const *in, rg_tensor *out,
                        rg_error *err) {
    RG_ASSERT(nin >= 1 && nin <= 3);
    rg_cpu_bcast b;
    int ranks[3];
    const int64_t *dims[3];
    for (int k = 0; k < nin; k++) ranks[k] = in[k]->rank, dims[k] = in[k]->dims;
    rg_cpu_bcast_init(&b, out->rank, out->dims, nin, ranks, dims);
    rg_cpu_bcast_pos pos;
    rg_cpu_bcast_start(&b, &pos);
    size_t len = (size_t)rg_cpu_bcast_row_len(&b);
    int64_t out_offset = 0;
    for (size_t r = 0; r < b.rows; r++, rg_cpu_bcast_next_row(&b, &pos), out_offset += (int64_t)len) {
        for (size_t c = 0; c < len; c += CHUNK) {
            size_t n = len - c < CHUNK ? len - c : CHUNK;
            if (ct == COMPUTE_F32) {
                float bufs[3][CHUNK], obuf[CHUNK];
                const float *a[3] = {NULL, NULL, NULL};
                for (int k = 0; k < nin; k++) {
                    int64_t s = rg_cpu_bcast_row_stride(&b, k);
                    a[k] = load_f32(in[k], pos.offset[k] + (int64_t)c * s, s, n, bufs[k]);
                }
                float *o = out->dtype == RG_DTYPE_F32 ? (float *)out->data + out_offset + c : obuf;
                ew_f32(p, o, a, n);
                store_f32(out, out_offset + (int64_t)c, 1, o, n);
            } else {
                int64_t bufs[3][CHUNK], obuf[CHUNK];
                const int64_t *a[3] = {NULL, NULL, NULL};
                for (int k = 0; k < nin; k++) {
                    int64_t s = rg_cpu_bcast_row_stride(&b, k);
                    a[k] = load_i64(in[k], pos.offset[k] + (int64_t)c * s, s, n, bufs[k]);
                }
                int64_t *o = out->dtype == RG_DTYPE_I64 ? (int64_t *)out->data + out_offset + c : obuf;
                if (!ew_i64(p, o, a, n)) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "integer division by zero");
                store_i64(out, out_offset + (int64_t)c, 1, o, n);
            }
        }
    }
    return RG_OK;
}

static rg_dtype result_dtype(const rg_node *node, rg_dtype in) {
    return rg_op_has(node->op, RG_OPF_BOOL_OUT) ? RG_DTYPE_BOOL : in;
}

/* ------------------------------------------------------ elementwise ops */

static rg_status k_unary(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                         rg_error *err) {
    RG_TRY(need_input(node, inputs, 0, err));
    const rg_tensor *x = inputs[0];
    RG_TRY(check_dtype(node, 0, x, accepted_dtypes[node->op], err));
    ew_params p = {.op = node->op};
    if (node->op == RG_OP_GELU) {
        const char *approx;
        RG_TRY(rg_node_attr_string(node, "approximate", "none", &approx, err));
        if (strcmp(approx, "tanh") == 0) p.gelu_tanh = true;
        else if (strcmp(approx, "none") != 0)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "approximate='%s' is neither 'none' nor 'tanh'", approx);
    }
    RG_TRY(rg_cpu_alloc_output(ctx, &outputs[0], result_dtype(node, x->dtype), x->rank, x->dims, err));
    return ew_run(&p, compute_for(x->dtype), 1, &x, &outputs[0], err);
}

static rg_status k_binary(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                          rg_error *err) {
    RG_TRY(need_input(node, inputs, 0, err));
    RG_TRY(need_input(node, inputs, 1, err));
    const rg_tensor *a = inputs[0], *b = inputs[1];
    uint32_t accepted = accepted_dtypes[node->op];
    RG_TRY(check_dtype(node, 0, a, accepted, err));
    RG_TRY(check_dtype(node, 1, b, accepted, err));
    compute_type ct = compute_for(a->dtype);
    ew_params p = {.op = node->op};
    if (node->op == RG_OP_POW) {
        /* the exponent may have its own dtype; any float operand means float math */
        if (rg_dtype_is_float(b->dtype)) ct = COMPUTE_F32;
    } else {
        RG_TRY(check_same_dtype(1, b, 0, a, err));
    }
    if (node->op == RG_OP_MOD) {
        int64_t fmod;
        RG_TRY(rg_node_attr_int(node, "fmod", 0, &fmod, err));
        p.fmod = fmod != 0;
    }
    int rank = a->rank;
    int64_t dims[RG_MAX_RANK];
    memcpy(dims, a->dims, sizeof dims);
    RG_TRY(broadcast_into(1, b, &rank, dims, err));
    RG_TRY(rg_cpu_alloc_output(ctx, &outputs[0], result_dtype(node, a->dtype), rank, dims, err));
    return ew_run(&p, ct, 2, inputs, &outputs[0], err);
}

/* Min, Max, Sum: the output starts as input 0 broadcast, then folds each
 * further input in. */
static rg_status k_variadic(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                            rg_error *err) {
    if (node->ninputs == 0) return rg_error_set(err, RG_ERR_INVALID_MODEL, "needs at least one input");
    int rank = 0;
    int64_t dims[RG_MAX_RANK] = {0};
    for (uint32_t i = 0; i < node->ninputs; i++) {
        RG_TRY(need_input(node, inputs, i, err));
        RG_TRY(check_dtype(node, i, inputs[i], accepted_dtypes[node->op], err));
        RG_TRY(check_same_dtype(i, inputs[i], 0, inputs[0], err));
        RG_TRY(broadcast_into(i, inputs[i], &rank, dims, err));
    }
    rg_tensor *out = &outputs[0];
    RG_TRY(rg_cpu_alloc_output(ctx, out, inputs[0]->dtype, rank, dims, err));
    compute_type ct = compute_for(inputs[0]->dtype);
    ew_params copy = {.op = RG_OP_IDENTITY}, fold = {.op = node->op};
    RG_TRY(ew_run(&copy, ct, 1, inputs, out, err));
    for (uint32_t i = 1; i < node->ninputs; i++) {
        const rg_tensor *pair[2] = {out, inputs[i]};
        RG_TRY(ew_run(&fold, ct, 2, pair, out, err));
    }
    return RG_OK;
}

static rg_status k_where(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                         rg_error *err) {
    for (uint32_t i = 0; i < 3; i++) RG_TRY(need_input(node, inputs, i, err));
    RG_TRY(check_dtype(node, 0, inputs[0], DT(BOOL), err));
    RG_TRY(check_dtype(node, 1, inputs[1], DT_ALL, err));
    RG_TRY(check_same_dtype(2, inputs[2], 1, inputs[1], err));
    int rank = inputs[0]->rank;
    int64_t dims[RG_MAX_RANK];
    memcpy(dims, inputs[0]->dims, sizeof dims);
    RG_TRY(broadcast_into(1, inputs[1], &rank, dims, err));
    RG_TRY(broadcast_into(2, inputs[2], &rank, dims, err));
    RG_TRY(rg_cpu_alloc_output(ctx, &outputs[0], inputs[1]->dtype, rank, dims, err));
    ew_params p = {.op = RG_OP_WHERE};
    return ew_run(&p, compute_for(inputs[1]->dtype), 3, inputs, &outputs[0], err);
}

/* Clip (opset 11+): min and max are optional scalar inputs. */
static rg_status k_clip(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                        rg_error *err) {
    RG_TRY(need_input(node, inputs, 0, err));
    const rg_tensor *x = inputs[0];
    RG_TRY(check_dtype(node, 0, x, accepted_dtypes[node->op], err));
    ew_params p = {.op = RG_OP_CLIP, .lo_f = -INFINITY, .hi_f = INFINITY, .lo_i = INT64_MIN, .hi_i = INT64_MAX};
    for (uint32_t i = 1; i <= 2; i++) {
        const rg_tensor *bound = optional_input(node, inputs, i);
        if (!bound) continue;
        RG_TRY(check_same_dtype(i, bound, 0, x, err));
        if (rg_tensor_numel(bound) != 1) {
            char s[RG_CPU_SHAPE_TEXT_MAX];
            return rg_error_set(err, RG_ERR_SHAPE, "input %u (%s) has shape %s; it must be a scalar", i,
                                i == 1 ? "min" : "max", rg_cpu_shape_text(bound->rank, bound->dims, s, sizeof s));
        }
        bool is_float = rg_dtype_is_float(x->dtype);
        if (i == 1 && is_float) p.lo_f = elem_f32(bound, 0);
        else if (i == 1) p.lo_i = elem_i64(bound, 0);
        else if (is_float) p.hi_f = elem_f32(bound, 0);
        else p.hi_i = elem_i64(bound, 0);
    }
    RG_TRY(rg_cpu_alloc_output(ctx, &outputs[0], x->dtype, x->rank, x->dims, err));
    return ew_run(&p, compute_for(x->dtype), 1, &x, &outputs[0], err);
}

/* Cast: floats travel as float32 (exact for float16/bfloat16), integers and
 * bool as int64; the store converts to the target (see store_f32/_i64). */
static rg_status k_cast(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                        rg_error *err) {
    RG_TRY(need_input(node, inputs, 0, err));
    const rg_tensor *x = inputs[0];
    RG_TRY(check_dtype(node, 0, x, DT_ALL, err));
    int64_t to;
    RG_TRY(rg_node_attr_int(node, "to", 0, &to, err));
    if (!rg_node_attr(node, "to")) return rg_error_set(err, RG_ERR_INVALID_MODEL, "attribute 'to' is missing");
    rg_dtype target = (to > 0 && to < 64) ? rg_dtype_from_onnx((int)to) : RG_DTYPE_UNDEFINED;
    if (target == RG_DTYPE_UNDEFINED)
        return rg_error_set(err, RG_ERR_DTYPE, "cast to %s (ONNX type %lld) is not supported",
                            rg_onnx_dtype_name((int)(to >= 0 && to < 64 ? to : 0)), (long long)to);
    rg_tensor *out = &outputs[0];
    RG_TRY(rg_cpu_alloc_output(ctx, out, target, x->rank, x->dims, err));
    if (target == x->dtype) {
        if (x->nbytes) memcpy(out->data, x->data, x->nbytes);
        return RG_OK;
    }
    size_t total = rg_tensor_numel(x);
    for (size_t c = 0; c < total; c += CHUNK) {
        size_t n = total - c < CHUNK ? total - c : CHUNK;
        if (rg_dtype_is_float(x->dtype)) {
            float buf[CHUNK];
            store_f32(out, (int64_t)c, 1, load_f32(x, (int64_t)c, 1, n, buf), n);
        } else {
            int64_t buf[CHUNK];
            store_i64(out, (int64_t)c, 1, load_i64(x, (int64_t)c, 1, n, buf), n);
        }
    }
    return RG_OK;
}

/* ------------------------------------------------------------- Softmax */

static void softmax_row(float *v, size_t n) {
    float max = -INFINITY;
    for (size_t i = 0; i < n; i++) max = v[i] > max ? v[i] : max;
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        v[i] = expf(v[i] - max);
        sum += v[i];
    }
    float inv = 1.0f / sum;
    for (size_t i = 0; i < n; i++) v[i] *= inv;
}

/* Before opset 13 Softmax flattens the input to 2-D at `axis` (default 1) and
 * normalises each row; from 13 it normalises along `axis` (default -1). */
static rg_status k_softmax(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                           rg_error *err) {
    RG_TRY(need_input(node, inputs, 0, err));
    const rg_tensor *x = inputs[0];
    RG_TRY(check_dtype(node, 0, x, DT_FLOATS, err));
    bool legacy = node->opset < 13;
    int64_t axis_attr;
    RG_TRY(rg_node_attr_int(node, "axis", legacy ? 1 : -1, &axis_attr, err));
    int axis;
    /* opset < 13 allows axis == rank (one row per element) */
    if (legacy && axis_attr == x->rank) axis = x->rank;
    else if (!rg_cpu_normalize_axis(axis_attr, x->rank, &axis)) return bad_axis(axis_attr, 0, x, err);
    size_t outer = prod_dims(x->dims, 0, axis);
    size_t n = legacy ? prod_dims(x->dims, axis, x->rank) : (size_t)x->dims[axis];
    size_t inner = legacy ? 1 : prod_dims(x->dims, axis + 1, x->rank);
    rg_tensor *out = &outputs[0];
    RG_TRY(rg_cpu_alloc_output(ctx, out, x->dtype, x->rank, x->dims, err));
    if (rg_tensor_numel(x) == 0) return RG_OK;
    float *row = scratch_alloc(ctx, n, sizeof(float), err);
    if (!row) return err ? err->status : RG_ERR_NOMEM;
    for (size_t o = 0; o < outer; o++) {
        for (size_t i = 0; i < inner; i++) {
            int64_t base = (int64_t)(o * n * inner + i);
            const float *src = load_f32(x, base, (int64_t)inner, n, row);
            if (src != row) memcpy(row, src, n * sizeof(float));
            softmax_row(row, n);
            store_f32(out, base, (int64_t)inner, row, n);
        }
    }
    scratch_free(ctx, row, n, sizeof(float));
    return RG_OK;
}

/* --------------------------------------------------- LayerNormalization */

/* Reads t broadcast to shape (rank, dims) into dst as float32. */
static void expand_f32(const rg_tensor *t, int rank, const int64_t *dims, float *dst) {
    rg_cpu_bcast b;
    const int64_t *d = t->dims;
    rg_cpu_bcast_init(&b, rank, dims, 1, &t->rank, &d);
    rg_cpu_bcast_pos pos;
    rg_cpu_bcast_start(&b, &pos);
    size_t len = (size_t)rg_cpu_bcast_row_len(&b);
    int64_t s = rg_cpu_bcast_row_stride(&b, 0);
    for (size_t r = 0; r < b.rows; r++, rg_cpu_bcast_next_row(&b, &pos)) {
        const float *src = load_f32(t, pos.offset[0], s, len, dst + r * len);
        if (src != dst + r * len) memcpy(dst + r * len, src, len * sizeof(float));
    }
}

/* Y = (X - mean) / sqrt(var + epsilon) * Scale + B over the dims from `axis`
 * on. Statistics are computed in double (two passes, never E[x^2]-E[x]^2),
 * whatever the dtype; Mean and InvStdDev have the dtype named by stash_type. */
static rg_status k_layer_norm(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                              rg_tensor *outputs, rg_error *err) {
    RG_TRY(need_input(node, inputs, 0, err));
    RG_TRY(need_input(node, inputs, 1, err));
    const rg_tensor *x = inputs[0], *scale = inputs[1], *bias = optional_input(node, inputs, 2);
    RG_TRY(check_dtype(node, 0, x, DT_FLOATS, err));
    RG_TRY(check_same_dtype(1, scale, 0, x, err));
    if (bias) RG_TRY(check_same_dtype(2, bias, 0, x, err));
    int64_t axis_attr, stash;
    float epsilon;
    RG_TRY(rg_node_attr_int(node, "axis", -1, &axis_attr, err));
    RG_TRY(rg_node_attr_float(node, "epsilon", 1e-5f, &epsilon, err));
    RG_TRY(rg_node_attr_int(node, "stash_type", 1, &stash, err));
    rg_dtype stash_dtype = (stash > 0 && stash < 64) ? rg_dtype_from_onnx((int)stash) : RG_DTYPE_UNDEFINED;
    if (!rg_dtype_is_float(stash_dtype))
        return rg_error_set(err, RG_ERR_DTYPE, "stash_type %lld (%s) is not a supported float type", (long long)stash,
                            rg_onnx_dtype_name((int)(stash >= 0 && stash < 64 ? stash : 0)));
    int axis;
    if (!rg_cpu_normalize_axis(axis_attr, x->rank, &axis)) return bad_axis(axis_attr, 0, x, err);
    int norm_rank = x->rank - axis;
    const int64_t *norm_dims = x->dims + axis;
    for (uint32_t i = 1; i <= 2; i++) {
        const rg_tensor *t = i == 1 ? scale : bias;
        int rank;
        int64_t dims[RG_MAX_RANK];
        if (!t) continue;
        if (t->rank > norm_rank || !rg_cpu_broadcast_shapes(norm_rank, norm_dims, t->rank, t->dims, &rank, dims) ||
            memcmp(dims, norm_dims, sizeof(int64_t) * (size_t)norm_rank) != 0) {
            char a[RG_CPU_SHAPE_TEXT_MAX], b[RG_CPU_SHAPE_TEXT_MAX];
            return rg_error_set(err, RG_ERR_SHAPE, "input %u has shape %s which does not broadcast to the normalized shape %s",
                                i, rg_cpu_shape_text(t->rank, t->dims, a, sizeof a),
                                rg_cpu_shape_text(norm_rank, norm_dims, b, sizeof b));
        }
    }
    size_t rows = prod_dims(x->dims, 0, axis), n = prod_dims(x->dims, axis, x->rank);
    int64_t stat_dims[RG_MAX_RANK];
    for (int i = 0; i < x->rank; i++) stat_dims[i] = i < axis ? x->dims[i] : 1;
    RG_TRY(rg_cpu_alloc_output(ctx, &outputs[0], x->dtype, x->rank, x->dims, err));
    for (uint32_t o = 1; o <= 2; o++)
        if (want_output(node, o)) RG_TRY(rg_cpu_alloc_output(ctx, &outputs[o], stash_dtype, x->rank, stat_dims, err));
    if (rows == 0 || n == 0) return RG_OK;
    /* one buffer: the row, the scale and the bias, n floats each */
    size_t count;
    if (!rg_size_mul(n, 3, &count)) return rg_error_set(err, RG_ERR_NOMEM, "normalized size overflows");
    float *buf = scratch_alloc(ctx, count, sizeof(float), err);
    if (!buf) return err ? err->status : RG_ERR_NOMEM;
    float *row = buf, *w = buf + n, *bvec = buf + 2 * n;
    expand_f32(scale, norm_rank, norm_dims, w);
    if (bias) expand_f32(bias, norm_rank, norm_dims, bvec);
    else memset(bvec, 0, n * sizeof(float));
    for (size_t r = 0; r < rows; r++) {
        const float *v = load_f32(x, (int64_t)(r * n), 1, n, row);
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) sum += v[i];
        double mean = sum / (double)n, sq = 0.0;
        for (size_t i = 0; i < n; i++) sq += ((double)v[i] - mean) * ((double)v[i] - mean);
        double inv_std = 1.0 / sqrt(sq / (double)n + (double)epsilon);
        float m = (float)mean, s = (float)inv_std;
        /* the output row may be the input row only when nothing is converted */
        float *y = outputs[0].dtype == RG_DTYPE_F32 ? (float *)outputs[0].data + r * n : row;
        for (size_t i = 0; i < n; i++) y[i] = (v[i] - m) * s * w[i] + bvec[i];
        store_f32(&outputs[0], (int64_t)(r * n), 1, y, n);
        if (want_output(node, 1)) store_f32(&outputs[1], (int64_t)r, 1, &m, 1);
        if (want_output(node, 2)) store_f32(&outputs[2], (int64_t)r, 1, &s, 1);
    }
    scratch_free(ctx, buf, count, sizeof(float));
    return RG_OK;
}

/* ----------------------------------------------------------- reductions */

/* The reduced axes of a Reduce* node as flags. Axes come from the `axes`
 * attribute before ReduceSum-13 / other Reduce*-18, from the optional second
 * input after. *noop is set when the axes are empty and
 * noop_with_empty_axes asks for the identity. */
static rg_status reduce_axes(const rg_node *node, const rg_tensor *const *inputs, const rg_tensor *x, bool *reduced,
                             bool *noop, rg_error *err) {
    int from_input_since = node->op == RG_OP_REDUCE_SUM ? 13 : 18;
    const int64_t *attr_axes = NULL;
    size_t naxes = 0;
    const rg_tensor *axes_t = NULL;
    if (node->opset >= from_input_since) {
        if (rg_node_attr(node, "axes"))
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "attribute 'axes' is not part of %s-%d; axes are input 1",
                                rg_op_name(node->op), from_input_since);
        axes_t = optional_input(node, inputs, 1);
        if (axes_t) {
            if (axes_t->dtype != RG_DTYPE_I64 && axes_t->dtype != RG_DTYPE_I32)
                return rg_error_set(err, RG_ERR_DTYPE, "input 1 (axes) has dtype %s; expected int64",
                                    rg_dtype_name(axes_t->dtype));
            if (axes_t->rank > 1)
                return rg_error_set(err, RG_ERR_SHAPE, "input 1 (axes) has rank %d; expected 1", axes_t->rank);
            naxes = rg_tensor_numel(axes_t);
        }
    } else {
        RG_TRY(rg_node_attr_ints(node, "axes", &attr_axes, &naxes, err));
    }
    int64_t noop_attr;
    RG_TRY(rg_node_attr_int(node, "noop_with_empty_axes", 0, &noop_attr, err));
    *noop = naxes == 0 && noop_attr != 0;
    for (int i = 0; i < x->rank; i++) reduced[i] = naxes == 0;
    for (size_t k = 0; k < naxes; k++) {
        int64_t a = axes_t ? elem_i64(axes_t, k) : attr_axes[k];
        int axis;
        if (!rg_cpu_normalize_axis(a, x->rank, &axis)) return bad_axis(a, 0, x, err);
        if (reduced[axis]) return rg_error_set(err, RG_ERR_INVALID_MODEL, "axis %lld is listed twice", (long long)a);
        reduced[axis] = true;
    }
    return RG_OK;
}

static void reduce_row_f64(rg_op op, double *acc, int64_t s, const float *x, size_t n) {
    switch (op) {
    case RG_OP_REDUCE_SUM:
    case RG_OP_REDUCE_MEAN:
        if (s == 0) {
            double t = 0.0;
            for (size_t i = 0; i < n; i++) t += x[i];
            acc[0] += t;
        } else {
            for (size_t i = 0; i < n; i++) acc[i] += x[i];
        }
        break;
    case RG_OP_REDUCE_PROD:
        for (size_t i = 0; i < n; i++) acc[(int64_t)i * s] *= x[i];
        break;
    case RG_OP_REDUCE_MAX:
        for (size_t i = 0; i < n; i++) {
            double *a = &acc[(int64_t)i * s];
            if (x[i] > *a || x[i] != x[i]) *a = x[i];
        }
        break;
    case RG_OP_REDUCE_MIN:
        for (size_t i = 0; i < n; i++) {
            double *a = &acc[(int64_t)i * s];
            if (x[i] < *a || x[i] != x[i]) *a = x[i];
        }
        break;
    default: RG_ASSERT(!"reduce_row_f64: not a reduction");
    }
}

static void reduce_row_i64(rg_op op, int64_t *acc, int64_t s, const int64_t *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int64_t *a = &acc[(int64_t)i * s];
        switch (op) {
        case RG_OP_REDUCE_SUM:
        case RG_OP_REDUCE_MEAN: *a = wrap_add(*a, x[i]); break;
        case RG_OP_REDUCE_PROD: *a = wrap_mul(*a, x[i]); break;
        case RG_OP_REDUCE_MAX: *a = x[i] > *a ? x[i] : *a; break;
        case RG_OP_REDUCE_MIN: *a = x[i] < *a ? x[i] : *a; break;
        default: RG_ASSERT(!"reduce_row_i64: not a reduction");
        }
    }
}

/* Walks the input once, accumulating each element into its output slot:
 * the accumulator has the keepdims shape and is read with stride 0 along
 * the reduced axes. Floats accumulate in double, integers in int64. */
static rg_status k_reduce(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                          rg_error *err) {
    RG_TRY(need_input(node, inputs, 0, err));
    const rg_tensor *x = inputs[0];
    RG_TRY(check_dtype(node, 0, x, accepted_dtypes[node->op], err));
    bool reduced[RG_MAX_RANK], noop;
    RG_TRY(reduce_axes(node, inputs, x, reduced, &noop, err));
    rg_tensor *out = &outputs[0];
    if (noop) {
        RG_TRY(rg_cpu_alloc_output(ctx, out, x->dtype, x->rank, x->dims, err));
        if (x->nbytes) memcpy(out->data, x->data, x->nbytes);
        return RG_OK;
    }
    int64_t keepdims;
    RG_TRY(rg_node_attr_int(node, "keepdims", 1, &keepdims, err));
    int64_t keep[RG_MAX_RANK], dims[RG_MAX_RANK];
    int rank = 0;
    for (int i = 0; i < x->rank; i++) {
        keep[i] = reduced[i] ? 1 : x->dims[i];
        if (!reduced[i] || keepdims) dims[rank++] = keep[i];
    }
    RG_TRY(rg_cpu_alloc_output(ctx, out, x->dtype, rank, dims, err));
    size_t nout = rg_tensor_numel(out), nin = rg_tensor_numel(x);
    bool is_float = rg_dtype_is_float(x->dtype);
    size_t acc_size = is_float ? sizeof(double) : sizeof(int64_t);
    void *acc = scratch_alloc(ctx, nout, acc_size, err);
    if (!acc) return err ? err->status : RG_ERR_NOMEM;
    double *accf = acc;
    int64_t *acci = acc;
    int64_t lo, hi;
    int_range(x->dtype, &lo, &hi);
    /* identities; an empty reduction yields them (Max of nothing is -inf) */
    double init_f = 0.0;
    int64_t init_i = 0;
    if (node->op == RG_OP_REDUCE_PROD) init_f = 1.0, init_i = 1;
    if (node->op == RG_OP_REDUCE_MAX) init_f = -INFINITY, init_i = lo;
    if (node->op == RG_OP_REDUCE_MIN) init_f = INFINITY, init_i = hi;
    for (size_t i = 0; i < nout; i++) {
        if (is_float) accf[i] = init_f;
        else acci[i] = init_i;
    }
    rg_cpu_bcast b;
    int ranks[2] = {x->rank, x->rank};
    const int64_t *shapes[2] = {x->dims, keep};
    rg_cpu_bcast_init(&b, x->rank, x->dims, 2, ranks, shapes);
    rg_cpu_bcast_pos pos;
    rg_cpu_bcast_start(&b, &pos);
    size_t len = nin ? (size_t)rg_cpu_bcast_row_len(&b) : 0;
    int64_t xs = rg_cpu_bcast_row_stride(&b, 0), as = rg_cpu_bcast_row_stride(&b, 1);
    for (size_t r = 0; r < b.rows; r++, rg_cpu_bcast_next_row(&b, &pos)) {
        for (size_t c = 0; c < len; c += CHUNK) {
            size_t n = len - c < CHUNK ? len - c : CHUNK;
            int64_t xo = pos.offset[0] + (int64_t)c * xs, ao = pos.offset[1] + (int64_t)c * as;
            if (is_float) {
                float buf[CHUNK];
                reduce_row_f64(node->op, accf + ao, as, load_f32(x, xo, xs, n, buf), n);
            } else {
                int64_t buf[CHUNK];
                reduce_row_i64(node->op, acci + ao, as, load_i64(x, xo, xs, n, buf), n);
            }
        }
    }
    size_t count = nout ? nin / nout : 0;
    for (size_t i = 0; i < nout; i++) {
        if (is_float) {
            double v = accf[i];
            if (node->op == RG_OP_REDUCE_MEAN) v /= (double)count;
            rg_store_from_double(out->dtype, out->data, i, v);
        } else {
            int64_t v = acci[i];
            if (node->op == RG_OP_REDUCE_MEAN) v = count ? v / (int64_t)count : 0;
            store_i64(out, (int64_t)i, 1, &v, 1);
        }
    }
    scratch_free(ctx, acc, nout, acc_size);
    return RG_OK;
}

/* CumSum along the axis given as a 0-D or one-element 1-D tensor; exclusive
 * shifts by one, reverse runs from the end. */
static rg_status k_cumsum(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                          rg_error *err) {
    RG_TRY(need_input(node, inputs, 0, err));
    RG_TRY(need_input(node, inputs, 1, err));
    const rg_tensor *x = inputs[0], *axis_t = inputs[1];
    RG_TRY(check_dtype(node, 0, x, accepted_dtypes[node->op], err));
    RG_TRY(check_dtype(node, 1, axis_t, DT(I64) | DT(I32), err));
    if (axis_t->rank > 1 || rg_tensor_numel(axis_t) != 1) {
        char s[RG_CPU_SHAPE_TEXT_MAX];
        return rg_error_set(err, RG_ERR_SHAPE, "input 1 (axis) has shape %s; expected a scalar",
                            rg_cpu_shape_text(axis_t->rank, axis_t->dims, s, sizeof s));
    }
    int64_t axis_v = elem_i64(axis_t, 0), exclusive, reverse;
    RG_TRY(rg_node_attr_int(node, "exclusive", 0, &exclusive, err));
    RG_TRY(rg_node_attr_int(node, "reverse", 0, &reverse, err));
    int axis;
    if (!rg_cpu_normalize_axis(axis_v, x->rank, &axis)) return bad_axis(axis_v, 0, x, err);
    RG_TRY(rg_cpu_alloc_output(ctx, &outputs[0], x->dtype, x->rank, x->dims, err));
    size_t outer = prod_dims(x->dims, 0, axis), n = (size_t)x->dims[axis], inner = prod_dims(x->dims, axis + 1, x->rank);
    bool is_float = rg_dtype_is_float(x->dtype);
    for (size_t o = 0; o < outer; o++) {
        for (size_t i = 0; i < inner; i++) {
            double sf = 0.0;
            int64_t si = 0;
            for (size_t k = 0; k < n; k++) {
                size_t j = reverse ? n - 1 - k : k;
                size_t at = (o * n + j) * inner + i;
                double vf = is_float ? (double)elem_f32(x, at) : 0.0;
                int64_t vi = is_float ? 0 : elem_i64(x, at);
                if (!exclusive) sf += vf, si = wrap_add(si, vi);
                if (is_float) rg_store_from_double(x->dtype, outputs[0].data, at, sf);
                else store_i64(&outputs[0], (int64_t)at, 1, &si, 1);
                if (exclusive) sf += vf, si = wrap_add(si, vi);
            }
        }
    }
    return RG_OK;
}

/* ------------------------------------------------------- matrix products */

/* C[M,N] = alpha * op(A) op(B) + beta * C, row-major, float32. */
static void gemm_f32(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha, const float *a,
                     size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    if (m == 0 || n == 0) return;
#ifdef RG_HAVE_CBLAS
    if (m <= INT32_MAX && n <= INT32_MAX && k <= INT32_MAX && lda <= INT32_MAX && ldb <= INT32_MAX &&
        ldc <= INT32_MAX && k > 0) {
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m,
                    (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
        return;
    }
#endif
    for (size_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (size_t j = 0; j < n; j++) ci[j] = beta == 0.0f ? 0.0f : beta * ci[j];
        for (size_t p = 0; p < k; p++) {
            float av = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);
            if (!trans_b) {
                const float *bp = b + p * ldb;
                for (size_t j = 0; j < n; j++) ci[j] += av * bp[j];
            } else {
                for (size_t j = 0; j < n; j++) ci[j] += av * b[j * ldb + p];
            }
        }
    }
}

/* Integer product with int64 accumulators (wrapping): C = op(A) op(B). */
static void gemm_i64(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, const int64_t *a, size_t lda,
                     const int64_t *b, size_t ldb, int64_t *c, size_t ldc) {
    for (size_t i = 0; i < m; i++) {
        int64_t *ci = c + i * ldc;
        for (size_t j = 0; j < n; j++) ci[j] = 0;
        for (size_t p = 0; p < k; p++) {
            int64_t av = trans_a ? a[p * lda + i] : a[i * lda + p];
            for (size_t j = 0; j < n; j++) ci[j] = wrap_add(ci[j], wrap_mul(av, trans_b ? b[j * ldb + p] : b[p * ldb + j]));
        }
    }
}

/* A whole tensor in the compute type: borrowed when it already is one
 * (float32 / int64), converted into scratch memory otherwise. */
typedef struct operand {
    const void *data;
    void *mut; /* results: where the kernel writes */
    void *owned;
    size_t count, size;
} operand;

static rg_status operand_load(rg_cpu_ctx *ctx, const rg_tensor *t, compute_type ct, operand *op, rg_error *err) {
    size_t n = rg_tensor_numel(t);
    memset(op, 0, sizeof *op);
    rg_dtype native = ct == COMPUTE_F32 ? RG_DTYPE_F32 : RG_DTYPE_I64;
    if (t->dtype == native) {
        op->data = t->data;
        return RG_OK;
    }
    op->count = n;
    op->size = ct == COMPUTE_F32 ? sizeof(float) : sizeof(int64_t);
    op->owned = scratch_alloc(ctx, n, op->size, err);
    if (!op->owned) return err ? err->status : RG_ERR_NOMEM;
    for (size_t c = 0; c < n; c += CHUNK) {
        size_t len = n - c < CHUNK ? n - c : CHUNK;
        if (ct == COMPUTE_F32) {
            float *dst = (float *)op->owned + c;
            const float *src = load_f32(t, (int64_t)c, 1, len, dst);
            if (src != dst) memcpy(dst, src, len * sizeof(float));
        } else {
            int64_t *dst = (int64_t *)op->owned + c;
            const int64_t *src = load_i64(t, (int64_t)c, 1, len, dst);
            if (src != dst) memcpy(dst, src, len * sizeof(int64_t));
        }
    }
    op->data = op->owned;
    return RG_OK;
}

static void operand_free(rg_cpu_ctx *ctx, operand *op) {
    if (op->owned) scratch_free(ctx, op->owned, op->count, op->size);
    op->owned = NULL;
}

/* An output tensor computed in the compute type: written in place when it is
 * float32 / int64, else in scratch memory stored back by result_finish. */
static rg_status result_begin(rg_cpu_ctx *ctx, rg_tensor *out, compute_type ct, operand *res, rg_error *err) {
    memset(res, 0, sizeof *res);
    rg_dtype native = ct == COMPUTE_F32 ? RG_DTYPE_F32 : RG_DTYPE_I64;
    if (out->dtype == native) {
        res->mut = out->data;
        return RG_OK;
    }
    res->count = rg_tensor_numel(out);
    res->size = ct == COMPUTE_F32 ? sizeof(float) : sizeof(int64_t);
    res->owned = scratch_alloc(ctx, res->count, res->size, err);
    if (!res->owned) return err ? err->status : RG_ERR_NOMEM;
    memset(res->owned, 0, (res->count ? res->count : 1) * res->size);
    res->mut = res->owned;
    return RG_OK;
}

static void result_finish(rg_cpu_ctx *ctx, rg_tensor *out, compute_type ct, operand *res) {
    if (!res->owned) return;
    if (ct == COMPUTE_F32) store_f32(out, 0, 1, res->owned, res->count);
    else store_i64(out, 0, 1, res->owned, res->count);
    operand_free(ctx, res);
}

/* numpy matmul: 1-D operands get a dim of 1 added (and removed from the
 * result), leading dims broadcast as batch dims. */
static rg_status k_matmul(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                          rg_error *err) {
    RG_TRY(need_input(node, inputs, 0, err));
    RG_TRY(need_input(node, inputs, 1, err));
    const rg_tensor *a = inputs[0], *b = inputs[1];
    RG_TRY(check_dtype(node, 0, a, accepted_dtypes[node->op], err));
    RG_TRY(check_same_dtype(1, b, 0, a, err));
    char sa[RG_CPU_SHAPE_TEXT_MAX], sb[RG_CPU_SHAPE_TEXT_MAX];
    if (a->rank < 1 || b->rank < 1)
        return rg_error_set(err, RG_ERR_SHAPE, "input %d is a scalar; MatMul needs at least 1-D operands",
                            a->rank < 1 ? 0 : 1);
    bool a_vec = a->rank == 1, b_vec = b->rank == 1;
    int64_t m = a_vec ? 1 : a->dims[a->rank - 2], k = a->dims[a->rank - 1];
    int64_t kb = b_vec ? b->dims[0] : b->dims[b->rank - 2], n = b_vec ? 1 : b->dims[b->rank - 1];
    if (k != kb)
        return rg_error_set(err, RG_ERR_SHAPE, "input 1 has shape %s whose rows (%lld) do not match the columns (%lld) of input 0 of shape %s",
                            rg_cpu_shape_text(b->rank, b->dims, sb, sizeof sb), (long long)kb, (long long)k,
                            rg_cpu_shape_text(a->rank, a->dims, sa, sizeof sa));
    int a_batch = a->rank > 2 ? a->rank - 2 : 0, b_batch = b->rank > 2 ? b->rank - 2 : 0;
    int rank;
    int64_t dims[RG_MAX_RANK];
    if (!rg_cpu_broadcast_shapes(a_batch, a->dims, b_batch, b->dims, &rank, dims))
        return rg_error_set(err, RG_ERR_SHAPE, "input 1 has shape %s whose batch dims do not broadcast with input 0 of shape %s",
                            rg_cpu_shape_text(b->rank, b->dims, sb, sizeof sb), rg_cpu_shape_text(a->rank, a->dims, sa, sizeof sa));
    int batch_rank = rank;
    int64_t batch_dims[RG_MAX_RANK];
    memcpy(batch_dims, dims, sizeof batch_dims);
    if (!a_vec) dims[rank++] = m;
    if (!b_vec) dims[rank++] = n;
    rg_tensor *out = &outputs[0];
    RG_TRY(rg_cpu_alloc_output(ctx, out, a->dtype, rank, dims, err));
    if (rg_tensor_numel(out) == 0) return RG_OK;
    compute_type ct = compute_for(a->dtype);
    operand oa, ob, res;
    memset(&ob, 0, sizeof ob);
    memset(&res, 0, sizeof res);
    rg_status st = operand_load(ctx, a, ct, &oa, err);
    if (st == RG_OK) st = operand_load(ctx, b, ct, &ob, err);
    if (st == RG_OK) st = result_begin(ctx, out, ct, &res, err);
    if (st != RG_OK) goto done;
    size_t esz = ct == COMPUTE_F32 ? sizeof(float) : sizeof(int64_t);
    size_t um = (size_t)m, un = (size_t)n, uk = (size_t)k;
    if (b_batch == 0) {
        /* B is one matrix: A's batch folds into its rows, one product */
        um = rg_tensor_numel(a) / (uk ? uk : 1);
        if (uk == 0) um = rg_tensor_numel(out) / un;
        if (ct == COMPUTE_F32) gemm_f32(false, false, um, un, uk, 1.0f, oa.data, uk, ob.data, un, 0.0f, res.mut, un);
        else gemm_i64(false, false, um, un, uk, oa.data, uk, ob.data, un, res.mut, un);
    } else {
        rg_cpu_bcast bc;
        int ranks[2] = {a_batch, b_batch};
        const int64_t *shapes[2] = {a->dims, b->dims};
        rg_cpu_bcast_init(&bc, batch_rank, batch_dims, 2, ranks, shapes);
        rg_cpu_bcast_pos pos;
        rg_cpu_bcast_start(&bc, &pos);
        size_t len = (size_t)rg_cpu_bcast_row_len(&bc);
        int64_t s0 = rg_cpu_bcast_row_stride(&bc, 0), s1 = rg_cpu_bcast_row_stride(&bc, 1);
        size_t mat = 0;
        for (size_t r = 0; r < bc.rows; r++, rg_cpu_bcast_next_row(&bc, &pos)) {
            for (size_t i = 0; i < len; i++, mat++) {
                const char *pa = (const char *)oa.data + (size_t)(pos.offset[0] + (int64_t)i * s0) * um * uk * esz;
                const char *pb = (const char *)ob.data + (size_t)(pos.offset[1] + (int64_t)i * s1) * uk * un * esz;
                char *pc = (char *)res.mut + mat * um * un * esz;
                if (ct == COMPUTE_F32)
                    gemm_f32(false, false, um, un, uk, 1.0f, (const float *)pa, uk, (const float *)pb, un, 0.0f,
                             (float *)pc, un);
                else
                    gemm_i64(false, false, um, un, uk, (const int64_t *)pa, uk, (const int64_t *)pb, un,
                             (int64_t *)pc, un);
            }
        }
    }
    result_finish(ctx, out, ct, &res);
done:
    operand_free(ctx, &oa);
    operand_free(ctx, &ob);
    operand_free(ctx, &res);
    return st;
}

/* Gemm: Y = alpha * op(A) op(B) + beta * C, A and B 2-D, C broadcast to
 * (M, N) in one direction. */
static rg_status k_gemm(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                        rg_error *err) {
    RG_TRY(need_input(node, inputs, 0, err));
    RG_TRY(need_input(node, inputs, 1, err));
    const rg_tensor *a = inputs[0], *b = inputs[1], *c = optional_input(node, inputs, 2);
    RG_TRY(check_dtype(node, 0, a, accepted_dtypes[node->op], err));
    RG_TRY(check_same_dtype(1, b, 0, a, err));
    if (c) RG_TRY(check_same_dtype(2, c, 0, a, err));
    int64_t trans_a, trans_b;
    float alpha, beta;
    RG_TRY(rg_node_attr_int(node, "transA", 0, &trans_a, err));
    RG_TRY(rg_node_attr_int(node, "transB", 0, &trans_b, err));
    RG_TRY(rg_node_attr_float(node, "alpha", 1.0f, &alpha, err));
    RG_TRY(rg_node_attr_float(node, "beta", 1.0f, &beta, err));
    char sa[RG_CPU_SHAPE_TEXT_MAX], sb[RG_CPU_SHAPE_TEXT_MAX];
    for (uint32_t i = 0; i < 2; i++)
        if (inputs[i]->rank != 2)
            return rg_error_set(err, RG_ERR_SHAPE, "input %u has shape %s; Gemm needs 2-D operands", i,
                                rg_cpu_shape_text(inputs[i]->rank, inputs[i]->dims, sa, sizeof sa));
    int64_t m = trans_a ? a->dims[1] : a->dims[0], k = trans_a ? a->dims[0] : a->dims[1];
    int64_t kb = trans_b ? b->dims[1] : b->dims[0], n = trans_b ? b->dims[0] : b->dims[1];
    if (k != kb)
        return rg_error_set(err, RG_ERR_SHAPE, "input 1 has shape %s (transB=%lld) whose inner dim %lld does not match %lld of input 0 of shape %s (transA=%lld)",
                            rg_cpu_shape_text(b->rank, b->dims, sb, sizeof sb), (long long)trans_b, (long long)kb,
                            (long long)k, rg_cpu_shape_text(a->rank, a->dims, sa, sizeof sa), (long long)trans_a);
    int64_t dims[2] = {m, n};
    if (c) {
        int rank;
        int64_t bd[RG_MAX_RANK];
        if (c->rank > 2 || !rg_cpu_broadcast_shapes(2, dims, c->rank, c->dims, &rank, bd) || bd[0] != m || bd[1] != n)
            return rg_error_set(err, RG_ERR_SHAPE, "input 2 has shape %s which does not broadcast to %s",
                                rg_cpu_shape_text(c->rank, c->dims, sa, sizeof sa), rg_cpu_shape_text(2, dims, sb, sizeof sb));
    }
    rg_tensor *out = &outputs[0];
    RG_TRY(rg_cpu_alloc_output(ctx, out, a->dtype, 2, dims, err));
    if (m == 0 || n == 0) return RG_OK;
    compute_type ct = compute_for(a->dtype);
    operand oa, ob, res;
    memset(&ob, 0, sizeof ob);
    memset(&res, 0, sizeof res);
    rg_status st = operand_load(ctx, a, ct, &oa, err);
    if (st == RG_OK) st = operand_load(ctx, b, ct, &ob, err);
    if (st == RG_OK) st = result_begin(ctx, out, ct, &res, err);
    if (st != RG_OK) goto done;
    size_t um = (size_t)m, un = (size_t)n, uk = (size_t)k;
    size_t lda = (size_t)a->dims[1], ldb = (size_t)b->dims[1];
    if (ct == COMPUTE_F32) {
        float *y = res.mut;
        bool use_c = c && beta != 0.0f;
        if (use_c) expand_f32(c, 2, dims, y);
        gemm_f32(trans_a, trans_b, um, un, uk, alpha, oa.data, lda, ob.data, ldb, use_c ? beta : 0.0f, y, un);
    } else {
        int64_t *y = res.mut;
        gemm_i64(trans_a, trans_b, um, un, uk, oa.data, lda, ob.data, ldb, y, un);
        if (alpha != 1.0f || c) {
            rg_cpu_bcast bc;
            const int64_t *cd = c ? c->dims : NULL;
            int cr = c ? c->rank : 0;
            rg_cpu_bcast_init(&bc, 2, dims, 1, &cr, &cd);
            rg_cpu_bcast_pos pos;
            rg_cpu_bcast_start(&bc, &pos);
            size_t len = (size_t)rg_cpu_bcast_row_len(&bc), at = 0;
            int64_t s = rg_cpu_bcast_row_stride(&bc, 0);
            for (size_t r = 0; r < bc.rows; r++, rg_cpu_bcast_next_row(&bc, &pos))
                for (size_t i = 0; i < len; i++, at++) {
                    double v = (double)alpha * (double)y[at];
                    if (c) v += (double)beta * (double)elem_i64(c, (size_t)(pos.offset[0] + (int64_t)i * s));
                    y[at] = (int64_t)v;
                }
        }
    }
    result_finish(ctx, out, ct, &res);
done:
    operand_free(ctx, &oa);
    operand_free(ctx, &ob);
    operand_free(ctx, &res);
    return st;
}

/* ------------------------------------------------------------- the table */

const rg_cpu_kernel rg_cpu_math_kernels[RG_OP_COUNT] = {
    [RG_OP_ABS] = k_unary,
    [RG_OP_NEG] = k_unary,
    [RG_OP_SQRT] = k_unary,
    [RG_OP_RECIPROCAL] = k_unary,
    [RG_OP_EXP] = k_unary,
    [RG_OP_LOG] = k_unary,
    [RG_OP_ERF] = k_unary,
    [RG_OP_TANH] = k_unary,
    [RG_OP_SIGMOID] = k_unary,
    [RG_OP_RELU] = k_unary,
    [RG_OP_GELU] = k_unary,
    [RG_OP_FLOOR] = k_unary,
    [RG_OP_CEIL] = k_unary,
    [RG_OP_SIN] = k_unary,
    [RG_OP_COS] = k_unary,
    [RG_OP_SIGN] = k_unary,
    [RG_OP_NOT] = k_unary,
    [RG_OP_ISNAN] = k_unary,
    [RG_OP_CAST] = k_cast,
    [RG_OP_CLIP] = k_clip,
    [RG_OP_ADD] = k_binary,
    [RG_OP_SUB] = k_binary,
    [RG_OP_MUL] = k_binary,
    [RG_OP_DIV] = k_binary,
    [RG_OP_POW] = k_binary,
    [RG_OP_MOD] = k_binary,
    [RG_OP_EQUAL] = k_binary,
    [RG_OP_LESS] = k_binary,
    [RG_OP_LESS_OR_EQUAL] = k_binary,
    [RG_OP_GREATER] = k_binary,
    [RG_OP_GREATER_OR_EQUAL] = k_binary,
    [RG_OP_AND] = k_binary,
    [RG_OP_OR] = k_binary,
    [RG_OP_XOR] = k_binary,
    [RG_OP_MIN] = k_variadic,
    [RG_OP_MAX] = k_variadic,
    [RG_OP_SUM] = k_variadic,
    [RG_OP_WHERE] = k_where,
    [RG_OP_SOFTMAX] = k_softmax,
    [RG_OP_LAYER_NORMALIZATION] = k_layer_norm,
    [RG_OP_REDUCE_MEAN] = k_reduce,
    [RG_OP_REDUCE_SUM] = k_reduce,
    [RG_OP_REDUCE_MAX] = k_reduce,
    [RG_OP_REDUCE_MIN] = k_reduce,
    [RG_OP_REDUCE_PROD] = k_reduce,
    [RG_OP_CUMSUM] = k_cumsum,
    [RG_OP_MATMUL] = k_matmul,
    [RG_OP_GEMM] = k_gemm,
};
