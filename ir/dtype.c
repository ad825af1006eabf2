/* dtype.c — element type table and float16/bfloat16 conversions. */
#include "dtype.h"

#include <math.h>
#include <string.h>

typedef struct dtype_info {
    const char *name;
    size_t size;
    int onnx;
} dtype_info;

/* ONNX codes: FLOAT=1 UINT8=2 INT8=3 INT32=6 INT64=7 BOOL=9 FLOAT16=10 BFLOAT16=16. */
static const dtype_info dtype_table[RG_DTYPE_COUNT] = {
    [RG_DTYPE_UNDEFINED] = {"undefined", 0, 0},
    [RG_DTYPE_F32] = {"float32", 4, 1},
    [RG_DTYPE_F16] = {"float16", 2, 10},
    [RG_DTYPE_BF16] = {"bfloat16", 2, 16},
    [RG_DTYPE_I64] = {"int64", 8, 7},
    [RG_DTYPE_I32] = {"int32", 4, 6},
    [RG_DTYPE_I8] = {"int8", 1, 3},
    [RG_DTYPE_U8] = {"uint8", 1, 2},
    [RG_DTYPE_BOOL] = {"bool", 1, 9},
};

bool rg_dtype_is_valid(rg_dtype d) { return d > RG_DTYPE_UNDEFINED && d < RG_DTYPE_COUNT; }

const char *rg_dtype_name(rg_dtype d) {
    return ((unsigned)d < RG_DTYPE_COUNT) ? dtype_table[d].name : "undefined";
}

size_t rg_dtype_size(rg_dtype d) { return ((unsigned)d < RG_DTYPE_COUNT) ? dtype_table[d].size : 0; }

bool rg_dtype_is_float(rg_dtype d) {
    return d == RG_DTYPE_F32 || d == RG_DTYPE_F16 || d == RG_DTYPE_BF16;
}

bool rg_dtype_is_integer(rg_dtype d) {
    return d == RG_DTYPE_I64 || d == RG_DTYPE_I32 || d == RG_DTYPE_I8 || d == RG_DTYPE_U8;
}

int rg_dtype_to_onnx(rg_dtype d) { return ((unsigned)d < RG_DTYPE_COUNT) ? dtype_table[d].onnx : 0; }

rg_dtype rg_dtype_from_onnx(int code) {
    for (int d = 1; d < RG_DTYPE_COUNT; d++)
        if (dtype_table[d].onnx == code) return (rg_dtype)d;
    return RG_DTYPE_UNDEFINED;
}

const char *rg_onnx_dtype_name(int code) {
    static const char *const names[] = {
        "UNDEFINED", "FLOAT",     "UINT8",      "INT8",          "UINT16",       "INT16",
        "INT32",     "INT64",     "STRING",     "BOOL",          "FLOAT16",      "DOUBLE",
        "UINT32",    "UINT64",    "COMPLEX64",  "COMPLEX128",    "BFLOAT16",     "FLOAT8E4M3FN",
        "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1"};
    if (code < 0 || (size_t)code >= sizeof names / sizeof names[0]) return "UNKNOWN";
    return names[code];
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float rg_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        /* zero or subnormal: value = mant * 2^-24 */
        float v = (float)mant * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t rg_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf or nan (keep nan quiet) */
        return (uint16_t)(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
    if (abs < 0x38800000u) {
        /* subnormal or zero in f16: round(abs_value / 2^-24) to nearest even */
        float v = bits_f32(abs) * 16777216.0f;
        float r = nearbyintf(v); /* default rounding mode: nearest even */
        return (uint16_t)(sign | (uint16_t)r);
    }
    uint32_t mant = abs & 0x7fffffu;
    uint32_t exp = (abs >> 23) - 112;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

float rg_bf16_to_f32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

uint16_t rg_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet nan */
    uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)((u + rounding) >> 16);
}

double rg_load_as_double(rg_dtype dtype, const void *data, size_t i) {
    switch (dtype) {
    case RG_DTYPE_F32: return ((const float *)data)[i];
    case RG_DTYPE_F16: return rg_f16_to_f32(((const uint16_t *)data)[i]);
    case RG_DTYPE_BF16: return rg_bf16_to_f32(((const uint16_t *)data)[i]);
    case RG_DTYPE_I64: return (double)((const int64_t *)data)[i];
    case RG_DTYPE_I32: return ((const int32_t *)data)[i];
    case RG_DTYPE_I8: return ((const int8_t *)data)[i];
    case RG_DTYPE_U8: return ((const uint8_t *)data)[i];
    case RG_DTYPE_BOOL: return ((const uint8_t *)data)[i] != 0;
    default: return 0.0;
    }
}

/* Float to integer conversion is C's truncation, as ONNX Cast specifies;
 * out-of-range values saturate instead of being undefined behaviour. */
static int64_t clamp_to_i64(double v, double lo, double hi) {
    if (isnan(v)) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return (int64_t)hi;
    return (int64_t)v;
}

void rg_store_from_double(rg_dtype dtype, void *data, size_t i, double v) {
    switch (dtype) {
    case RG_DTYPE_F32: ((float *)data)[i] = (float)v; break;
    case RG_DTYPE_F16: ((uint16_t *)data)[i] = rg_f32_to_f16((float)v); break;
    case RG_DTYPE_BF16: ((uint16_t *)data)[i] = rg_f32_to_bf16((float)v); break;
    case RG_DTYPE_I64: ((int64_t *)data)[i] = clamp_to_i64(v, -9223372036854775808.0, 9223372036854774784.0); break;
    case RG_DTYPE_I32: ((int32_t *)data)[i] = (int32_t)clamp_to_i64(v, -2147483648.0, 2147483647.0); break;
    case RG_DTYPE_I8: ((int8_t *)data)[i] = (int8_t)clamp_to_i64(v, -128.0, 127.0); break;
    case RG_DTYPE_U8: ((uint8_t *)data)[i] = (uint8_t)clamp_to_i64(v, 0.0, 255.0); break;
    case RG_DTYPE_BOOL: ((uint8_t *)data)[i] = v != 0.0; break;
    default: break;
    }
}
