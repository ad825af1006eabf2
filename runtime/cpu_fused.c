/*
 * cpu_fused.c — the CPU interpreter of Fused nodes' expression programs
 * (ir/fused.h), so that every stage of the pipeline runs on the CPU and can
 * be compared with the graph it came from.
 *
 * It follows the program's model literally: for each row, every register is
 * either a row of N floats or one float, instructions run in order. Loads
 * widen f16/bf16 to f32; arithmetic is f32; row reductions accumulate in
 * double (the reference should be at least as exact as the kernels it
 * checks). Stores round to the output dtype.
 */
#include <math.h>
#include <string.h>

#include "cpu_internal.h"
#include "cpu_util.h"
#include "ir/dtype.h"
#include "ir/fused.h"

static float load_f32(rg_dtype dtype, const void *data, int64_t i) {
    switch (dtype) {
    case RG_DTYPE_F32: return ((const float *)data)[i];
    case RG_DTYPE_F16: return rg_f16_to_f32(((const uint16_t *)data)[i]);
    default: return rg_bf16_to_f32(((const uint16_t *)data)[i]);
    }
}

static void store_f32(rg_dtype dtype, void *data, int64_t i, float v) {
    switch (dtype) {
    case RG_DTYPE_F32: ((float *)data)[i] = v; break;
    case RG_DTYPE_F16: ((uint16_t *)data)[i] = rg_f32_to_f16(v); break;
    default: ((uint16_t *)data)[i] = rg_f32_to_bf16(v); break;
    }
}

static float unary(int op, float x) {
    switch (op) {
    case RG_FUSED_NEG: return -x;
    case RG_FUSED_ABS: return fabsf(x);
    case RG_FUSED_SQRT: return sqrtf(x);
    case RG_FUSED_RECIP: return 1.0f / x;
    case RG_FUSED_EXP: return expf(x);
    case RG_FUSED_LOG: return logf(x);
    case RG_FUSED_ERF: return erff(x);
    case RG_FUSED_TANH: return tanhf(x);
    case RG_FUSED_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case RG_FUSED_RELU: return x > 0.0f ? x : 0.0f;
    case RG_FUSED_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case RG_FUSED_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case RG_FUSED_FLOOR: return floorf(x);
    case RG_FUSED_CEIL: return ceilf(x);
    case RG_FUSED_SIN: return sinf(x);
    case RG_FUSED_COS: return cosf(x);
    default: return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x; /* SIGN; NaN stays NaN */
    }
}

static float binary(int op, float x, float y) {
    switch (op) {
    case RG_FUSED_ADD: return x + y;
    case RG_FUSED_SUB: return x - y;
    case RG_FUSED_MUL: return x * y;
    case RG_FUSED_DIV: return x / y;
    case RG_FUSED_POW: return powf(x, y);
    case RG_FUSED_MAX: return isnan(x) || isnan(y) ? NAN : x > y ? x : y;
    default: return isnan(x) || isnan(y) ? NAN : x < y ? x : y; /* MIN */
    }
}

static float reduce(int op, const float *x, int64_t n) {
    if (op == RG_FUSED_RMAX) {
        float m = -INFINITY;
        for (int64_t j = 0; j < n; j++) {
            if (isnan(x[j])) return NAN;
            if (x[j] > m) m = x[j];
        }
        return m;
    }
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) s += x[j];
    if (op == RG_FUSED_RMEAN) s /= (double)n;
    return (float)s;
}

typedef struct fused_run {
    rg_fused_program prog;
    int rank;                 /* iteration rank, >= 1 */
    int64_t dims[RG_MAX_RANK];/* iteration shape */
    int64_t n, rows;
    int64_t strides[64][RG_MAX_RANK];
} fused_run;

/* The iteration shape: inputs broadcast, per-row loads counting with a
 * last dim of 1; a per-row load must have that shape. */
static rg_status iteration_shape(fused_run *r, const rg_tensor *const *inputs, rg_error *err) {
    char a[RG_CPU_SHAPE_TEXT_MAX], b[RG_CPU_SHAPE_TEXT_MAX];
    r->rank = 0;
    for (uint32_t i = 0; i < r->prog.ninputs; i++) {
        const rg_tensor *t = inputs[i];
        if (!t) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "input %u is missing", i);
        if (!rg_dtype_is_float(t->dtype) || t->dtype != inputs[0]->dtype)
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "input %u has dtype %s; Fused takes one float dtype",
                                i, rg_dtype_name(t->dtype));
        int64_t shape[RG_MAX_RANK];
        memcpy(shape, t->dims, sizeof *shape * (size_t)t->rank);
        for (uint32_t k = 0; k < r->prog.ninstr; k++) {
            rg_fused_instr in = rg_fused_instr_at(&r->prog, k);
            if (in.op != RG_FUSED_LOAD || in.a != (int32_t)i || in.b != RG_FUSED_LOAD_SCALAR) continue;
            if (t->rank > 0 && t->dims[t->rank - 1] != 1)
                return rg_error_set(err, RG_ERR_SHAPE, "input %u of shape %s is loaded per row but varies along it",
                                    i, rg_cpu_shape_text(t->rank, t->dims, a, sizeof a));
        }
        int rank;
        int64_t out[RG_MAX_RANK];
        if (!rg_cpu_broadcast_shapes(r->rank, r->dims, t->rank, shape, &rank, out))
            return rg_error_set(err, RG_ERR_SHAPE, "input %u of shape %s does not broadcast with %s", i,
                                rg_cpu_shape_text(t->rank, t->dims, a, sizeof a),
                                rg_cpu_shape_text(r->rank, r->dims, b, sizeof b));
        r->rank = rank;
        memcpy(r->dims, out, sizeof *out * (size_t)rank);
    }
    if (r->rank == 0) {
        r->rank = 1;
        r->dims[0] = 1;
    }
    r->n = r->dims[r->rank - 1];
    size_t rows = 1;
    if (!rg_shape_numel(r->rank - 1, r->dims, &rows))
        return rg_error_set(err, RG_ERR_SHAPE, "Fused iteration shape %s is too large",
                            rg_cpu_shape_text(r->rank, r->dims, a, sizeof a));
    r->rows = (int64_t)rows;
    for (uint32_t i = 0; i < r->prog.ninputs; i++)
        rg_cpu_broadcast_strides(r->rank, r->dims, inputs[i]->rank, inputs[i]->dims, r->strides[i]);
    return RG_OK;
}

static rg_status alloc_outputs(rg_cpu_ctx *ctx, const fused_run *r, const rg_tensor *const *inputs,
                               rg_tensor *outputs, rg_error *err) {
    for (uint32_t k = 0; k < r->prog.ninstr; k++) {
        rg_fused_instr in = rg_fused_instr_at(&r->prog, k);
        if (in.op != RG_FUSED_STORE) continue;
        int64_t dims[RG_MAX_RANK];
        int rank = r->rank;
        memcpy(dims, r->dims, sizeof *dims * (size_t)rank);
        if (in.c == RG_FUSED_STORE_SCALAR_KEEP) dims[rank - 1] = 1;
        if (in.c == RG_FUSED_STORE_SCALAR_DROP) rank--;
        RG_TRY(rg_cpu_alloc_output(ctx, &outputs[in.a], inputs[0]->dtype, rank, dims, err));
    }
    return RG_OK;
}

/* Runs the program over one row; regs holds ninstr rows of n floats. */
static void run_row(const fused_run *r, int64_t row, const rg_tensor *const *inputs, rg_tensor *outputs,
                    float *regs) {
    const rg_fused_program *p = &r->prog;
    int64_t n = r->n;
    for (uint32_t k = 0; k < p->ninstr; k++) {
        rg_fused_instr in = rg_fused_instr_at(p, k);
        float *dst = regs + (size_t)k * (size_t)n;
        const float *x = regs + (size_t)in.a * (size_t)n;
        const float *y = regs + (size_t)in.b * (size_t)n;
        switch (rg_fused_op_class(in.op)) {
        case 0:
            if (in.op == RG_FUSED_CONST) {
                for (int64_t j = 0; j < n; j++) dst[j] = p->constants[in.a];
            } else {
                const rg_tensor *t = inputs[in.a];
                const int64_t *st = r->strides[in.a];
                int64_t offset = 0, rest = row;
                for (int d = r->rank - 2; d >= 0; d--) {
                    offset += (rest % r->dims[d]) * st[d];
                    rest /= r->dims[d];
                }
                int64_t step = st[r->rank - 1];
                for (int64_t j = 0; j < n; j++) dst[j] = load_f32(t->dtype, t->data, offset + j * step);
            }
            break;
        case 1:
            for (int64_t j = 0; j < n; j++) dst[j] = unary(in.op, x[j]);
            break;
        case 2:
            for (int64_t j = 0; j < n; j++) dst[j] = binary(in.op, x[j], y[j]);
            break;
        case 3: {
            float v = reduce(in.op, x, n);
            for (int64_t j = 0; j < (n > 0 ? n : 1); j++) dst[j] = v;
            break;
        }
        default: {
            rg_tensor *o = &outputs[in.a];
            const float *src = regs + (size_t)in.b * (size_t)n;
            if (!o->data) break;
            if (in.c == RG_FUSED_STORE_ROW)
                for (int64_t j = 0; j < n; j++) store_f32(o->dtype, o->data, row * n + j, src[j]);
            else store_f32(o->dtype, o->data, row, src[0]);
            break;
        }
        }
    }
}

rg_status rg_cpu_fused(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                       rg_error *err) {
    fused_run *r = rg_mem_calloc(ctx->alloc, 1, sizeof *r);
    float *regs = NULL;
    size_t nregs = 0;
    rg_status st = RG_OK;
    if (!r) return rg_error_set(err, RG_ERR_NOMEM, "out of memory");
    st = rg_fused_decode(node, &r->prog, err);
    if (st != RG_OK) goto done;
    if (r->prog.ninputs > 64) {
        st = rg_error_set(err, RG_ERR_UNSUPPORTED, "Fused nodes take at most 64 inputs on the CPU");
        goto done;
    }
    st = iteration_shape(r, inputs, err);
    if (st == RG_OK) st = alloc_outputs(ctx, r, inputs, outputs, err);
    if (st != RG_OK) goto done;
    /* at least one float per register so that scalar stores of empty rows read something */
    int64_t width = r->n > 0 ? r->n : 1;
    if (!rg_size_mul(r->prog.ninstr, (size_t)width, &nregs) || !(regs = rg_mem_alloc(ctx->alloc, nregs * sizeof *regs))) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory for Fused registers (%u x %lld)",
                          r->prog.ninstr, (long long)r->n);
        goto done;
    }
    for (int64_t row = 0; row < r->rows; row++) run_row(r, row, inputs, outputs, regs);
done:
    if (regs) rg_mem_free(ctx->alloc, regs, nregs * sizeof *regs);
    rg_mem_free(ctx->alloc, r, sizeof *r);
    return st;
}
