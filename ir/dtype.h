/*
 * dtype.h — element types: sizes, names, and half-precision conversions.
 *
 * float16 and bfloat16 are stored as uint16_t bit patterns; arithmetic on them
 * happens in float32 (round to nearest even on the way back).
 */
#ifndef RG_IR_DTYPE_H
#define RG_IR_DTYPE_H

#include <stdbool.h>
#include <stdint.h>

#include "ragged.h"

bool rg_dtype_is_float(rg_dtype dtype);   /* f32, f16, bf16 */
bool rg_dtype_is_integer(rg_dtype dtype); /* i64, i32, i8, u8 (not bool) */
bool rg_dtype_is_valid(rg_dtype dtype);   /* a defined, in-range value */

/* ONNX TensorProto.DataType codes. 0 when ragged has no such dtype. */
int rg_dtype_to_onnx(rg_dtype dtype);
/* RG_DTYPE_UNDEFINED for an ONNX code ragged does not support. */
rg_dtype rg_dtype_from_onnx(int onnx_code);
/* The ONNX name of an ONNX code ("DOUBLE", "STRING"...), for messages. */
const char *rg_onnx_dtype_name(int onnx_code);

float rg_f16_to_f32(uint16_t h);
uint16_t rg_f32_to_f16(float f);
float rg_bf16_to_f32(uint16_t b);
uint16_t rg_f32_to_bf16(float f);

/* Reads element `i` of `data` (of `dtype`) as a double, and writes one. Used
 * by slow generic paths (constant folding, casts, tests), never in hot loops
 * of the executors. */
double rg_load_as_double(rg_dtype dtype, const void *data, size_t i);
void rg_store_from_double(rg_dtype dtype, void *data, size_t i, double v);

#endif
