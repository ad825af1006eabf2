/*
 * cpu_internal_ops.c — CPU kernels for ragged's own ops LayerNorm, Linear and
 * Attention (conventions in ir/internal_ops.c).
 *
 * These are the reference the GPU kernels are checked against, so they are
 * plain and exact rather than fast: every input is read as float32 (f16 and
 * bf16 are widened into scratch memory), LayerNorm statistics are taken in
 * double with two passes, and the result is narrowed to the output dtype at
 * the end. Linear goes through cblas_sgemm when ragged is built with CBLAS.
 */
#include <math.h>
#include <string.h>

#include "cpu_internal.h"
#include "cpu_util.h"
#include "ir/dtype.h"

#ifdef RG_HAVE_CBLAS
#include <cblas.h>
#endif

/* A tensor's elements as float32: borrowed when it already is, else widened
 * into `owned` (count floats), which the caller releases with f32_release. */
typedef struct f32_view {
    const float *data;
    float *owned;
    size_t count;
} f32_view;

static rg_status f32_load(rg_cpu_ctx *ctx, const rg_tensor *t, f32_view *v, rg_error *err) {
    memset(v, 0, sizeof *v);
    size_t n = rg_tensor_numel(t);
    if (t->dtype == RG_DTYPE_F32) {
        v->data = t->data;
        return RG_OK;
    }
    v->owned = rg_mem_calloc(ctx->alloc, n ? n : 1, sizeof(float));
    if (!v->owned) return rg_error_set(err, RG_ERR_NOMEM, "out of memory widening a %zu-element tensor", n);
    v->count = n ? n : 1;
    const uint16_t *src = t->data;
    for (size_t i = 0; i < n; i++)
        v->owned[i] = t->dtype == RG_DTYPE_F16 ? rg_f16_to_f32(src[i]) : rg_bf16_to_f32(src[i]);
    v->data = v->owned;
    return RG_OK;
}

static void f32_release(rg_cpu_ctx *ctx, f32_view *v) {
    if (v->owned) rg_mem_free(ctx->alloc, v->owned, v->count * sizeof(float));
    v->owned = NULL;
}

/* Where a kernel writes float32 results for output t: t's own memory when it
 * is float32, else scratch memory that f32_store narrows into t. */
static float *f32_target(rg_cpu_ctx *ctx, rg_tensor *t, rg_error *err) {
    if (t->dtype == RG_DTYPE_F32) return t->data;
    size_t n = rg_tensor_numel(t);
    float *p = rg_mem_calloc(ctx->alloc, n ? n : 1, sizeof(float));
    if (!p) rg_error_set(err, RG_ERR_NOMEM, "out of memory for a %zu-element result", n);
    return p;
}

static void f32_store(rg_cpu_ctx *ctx, rg_tensor *t, float *src) {
    if (t->dtype == RG_DTYPE_F32 || !src) return;
    size_t n = rg_tensor_numel(t);
    uint16_t *dst = t->data;
    for (size_t i = 0; i < n; i++) dst[i] = t->dtype == RG_DTYPE_F16 ? rg_f32_to_f16(src[i]) : rg_f32_to_bf16(src[i]);
    rg_mem_free(ctx->alloc, src, (n ? n : 1) * sizeof(float));
}

static rg_status check_float(const rg_tensor *t, uint32_t index, rg_dtype want, rg_error *err) {
    if (!rg_dtype_is_float(t->dtype))
        return rg_error_set(err, RG_ERR_DTYPE, "input %u has dtype %s; expected a float type", index,
                            rg_dtype_name(t->dtype));
    if (want != RG_DTYPE_UNDEFINED && t->dtype != want)
        return rg_error_set(err, RG_ERR_DTYPE, "input %u has dtype %s; expected %s like input 0", index,
                            rg_dtype_name(t->dtype), rg_dtype_name(want));
    return RG_OK;
}

static rg_status check_vector(const rg_tensor *t, uint32_t index, int64_t n, rg_error *err) {
    if (t->rank == 1 && t->dims[0] == n) return RG_OK;
    char s[RG_CPU_SHAPE_TEXT_MAX];
    return rg_error_set(err, RG_ERR_SHAPE, "input %u has shape %s; expected [%lld]", index,
                        rg_cpu_shape_text(t->rank, t->dims, s, sizeof s), (long long)n);
}

static const rg_tensor *input_at(const rg_node *node, const rg_tensor *const *inputs, uint32_t i) {
    return i < node->ninputs ? inputs[i] : NULL;
}

/* ------------------------------------------------------------ LayerNorm */

static rg_status k_layer_norm(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                              rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x = inputs[0], *scale = inputs[1];
    const rg_tensor *bias = input_at(node, inputs, 2), *residual = input_at(node, inputs, 3);
    if (!x || !scale) return rg_error_set(err, RG_ERR_INVALID_MODEL, "inputs 0 (x) and 1 (scale) are required");
    RG_TRY(check_float(x, 0, RG_DTYPE_UNDEFINED, err));
    if (x->rank < 1) return rg_error_set(err, RG_ERR_SHAPE, "input 0 is a scalar; expected rank >= 1");
    int64_t n64 = x->dims[x->rank - 1];
    RG_TRY(check_float(scale, 1, x->dtype, err));
    RG_TRY(check_vector(scale, 1, n64, err));
    if (bias) {
        RG_TRY(check_float(bias, 2, x->dtype, err));
        RG_TRY(check_vector(bias, 2, n64, err));
    }
    if (residual) {
        RG_TRY(check_float(residual, 3, x->dtype, err));
        if (residual->rank != x->rank || memcmp(residual->dims, x->dims, sizeof(int64_t) * (size_t)x->rank)) {
            char a[RG_CPU_SHAPE_TEXT_MAX], b[RG_CPU_SHAPE_TEXT_MAX];
            return rg_error_set(err, RG_ERR_SHAPE, "input 3 (residual) has shape %s; expected x's shape %s",
                                rg_cpu_shape_text(residual->rank, residual->dims, a, sizeof a),
                                rg_cpu_shape_text(x->rank, x->dims, b, sizeof b));
        }
    }
    float epsilon;
    RG_TRY(rg_node_attr_float(node, "epsilon", 1e-5f, &epsilon, err));
    bool want_sum = node->noutputs > 1 && node->outputs[1];
    RG_TRY(rg_cpu_alloc_output(ctx, &outputs[0], x->dtype, x->rank, x->dims, err));
    if (want_sum) RG_TRY(rg_cpu_alloc_output(ctx, &outputs[1], x->dtype, x->rank, x->dims, err));
    size_t n = (size_t)n64, total = rg_tensor_numel(x), rows = n ? total / n : 0;
    rg_status st = RG_OK;
    f32_view vx = {0}, vs = {0}, vb = {0}, vr = {0};
    float *y = NULL, *sum = NULL, *row = NULL;
    if ((st = f32_load(ctx, x, &vx, err)) || (st = f32_load(ctx, scale, &vs, err))) goto done;
    if (bias && (st = f32_load(ctx, bias, &vb, err))) goto done;
    if (residual && (st = f32_load(ctx, residual, &vr, err))) goto done;
    row = rg_mem_calloc(ctx->alloc, n ? n : 1, sizeof(float));
    y = f32_target(ctx, &outputs[0], err);
    if (want_sum) sum = f32_target(ctx, &outputs[1], err);
    if (!row || !y || (want_sum && !sum)) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory in LayerNorm");
        goto done;
    }
    for (size_t r = 0; r < rows; r++) {
        const float *xr = vx.data + r * n;
        for (size_t i = 0; i < n; i++) row[i] = residual ? xr[i] + vr.data[r * n + i] : xr[i];
        double total_sum = 0.0;
        for (size_t i = 0; i < n; i++) total_sum += row[i];
        double mean = total_sum / (double)n, sq = 0.0;
        for (size_t i = 0; i < n; i++) sq += ((double)row[i] - mean) * ((double)row[i] - mean);
        float m = (float)mean, inv = (float)(1.0 / sqrt(sq / (double)n + (double)epsilon));
        float *yr = y + r * n;
        for (size_t i = 0; i < n; i++) yr[i] = (row[i] - m) * inv * vs.data[i] + (bias ? vb.data[i] : 0.0f);
        if (want_sum) memcpy(sum + r * n, row, n * sizeof(float));
    }
done:
    if (row) rg_mem_free(ctx->alloc, row, (n ? n : 1) * sizeof(float));
    if (y && st == RG_OK) f32_store(ctx, &outputs[0], y);
    else if (y && outputs[0].dtype != RG_DTYPE_F32) rg_mem_free(ctx->alloc, y, (total ? total : 1) * sizeof(float));
    if (sum && st == RG_OK) f32_store(ctx, &outputs[1], sum);
    else if (sum && outputs[1].dtype != RG_DTYPE_F32) rg_mem_free(ctx->alloc, sum, (total ? total : 1) * sizeof(float));
    f32_release(ctx, &vx), f32_release(ctx, &vs), f32_release(ctx, &vb), f32_release(ctx, &vr);
    return st;
}

/* --------------------------------------------------------------- Linear */

typedef enum activation { ACT_NONE, ACT_RELU, ACT_GELU, ACT_GELU_TANH } activation;

static rg_status parse_activation(const rg_node *node, activation *out, rg_error *err) {
    const char *name;
    RG_TRY(rg_node_attr_string(node, "activation", "none", &name, err));
    if (!strcmp(name, "none")) *out = ACT_NONE;
    else if (!strcmp(name, "relu")) *out = ACT_RELU;
    else if (!strcmp(name, "gelu")) *out = ACT_GELU;
    else if (!strcmp(name, "gelu_tanh")) *out = ACT_GELU_TANH;
    else return rg_error_set(err, RG_ERR_INVALID_MODEL, "unknown activation '%s'", name);
    return RG_OK;
}

static float activate(float v, activation act) {
    switch (act) {
    case ACT_RELU: return v > 0.0f ? v : 0.0f;
    case ACT_GELU: return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    case ACT_GELU_TANH:
        return 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    default: return v;
    }
}

/* C[m,n] = A[m,k] B[k,n], row-major float32. */
static void matmul_f32(size_t m, size_t n, size_t k, const float *a, const float *b, float *c) {
    if (m == 0 || n == 0) return;
#ifdef RG_HAVE_CBLAS
    if (m <= INT32_MAX && n <= INT32_MAX && k > 0 && k <= INT32_MAX) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a, (int)k, b, (int)n,
                    0.0f, c, (int)n);
        return;
    }
#endif
    for (size_t i = 0; i < m; i++) {
        float *ci = c + i * n;
        for (size_t j = 0; j < n; j++) ci[j] = 0.0f;
        for (size_t p = 0; p < k; p++) {
            float av = a[i * k + p];
            const float *bp = b + p * n;
            for (size_t j = 0; j < n; j++) ci[j] += av * bp[j];
        }
    }
}

static rg_status k_linear(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                          rg_error *err) {
    const rg_tensor *x = inputs[0], *w = inputs[1], *bias = input_at(node, inputs, 2);
    if (!x || !w) return rg_error_set(err, RG_ERR_INVALID_MODEL, "inputs 0 (x) and 1 (weight) are required");
    RG_TRY(check_float(x, 0, RG_DTYPE_UNDEFINED, err));
    RG_TRY(check_float(w, 1, x->dtype, err));
    char a[RG_CPU_SHAPE_TEXT_MAX], b[RG_CPU_SHAPE_TEXT_MAX];
    if (x->rank < 1 || w->rank != 2 || w->dims[0] != x->dims[x->rank - 1])
        return rg_error_set(err, RG_ERR_SHAPE, "x %s and weight %s do not multiply (expected weight [K, N])",
                            rg_cpu_shape_text(x->rank, x->dims, a, sizeof a),
                            rg_cpu_shape_text(w->rank, w->dims, b, sizeof b));
    if (bias) {
        RG_TRY(check_float(bias, 2, x->dtype, err));
        RG_TRY(check_vector(bias, 2, w->dims[1], err));
    }
    activation act;
    RG_TRY(parse_activation(node, &act, err));
    int64_t dims[RG_MAX_RANK];
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    dims[x->rank - 1] = w->dims[1];
    RG_TRY(rg_cpu_alloc_output(ctx, &outputs[0], x->dtype, x->rank, dims, err));
    size_t k = (size_t)w->dims[0], n = (size_t)w->dims[1];
    size_t m = k ? rg_tensor_numel(x) / k : 0;
    if (k == 0) {
        size_t total = 1;
        for (int i = 0; i < x->rank - 1; i++) total *= (size_t)x->dims[i];
        m = total;
    }
    size_t out_n = rg_tensor_numel(&outputs[0]);
    rg_status st = RG_OK;
    f32_view vx = {0}, vw = {0}, vb = {0};
    float *y = NULL;
    if ((st = f32_load(ctx, x, &vx, err)) || (st = f32_load(ctx, w, &vw, err))) goto done;
    if (bias && (st = f32_load(ctx, bias, &vb, err))) goto done;
    if (!(y = f32_target(ctx, &outputs[0], err))) {
        st = err ? err->status : RG_ERR_NOMEM;
        goto done;
    }
    matmul_f32(m, n, k, vx.data, vw.data, y);
    for (size_t i = 0; i < m; i++) {
        float *yi = y + i * n;
        for (size_t j = 0; j < n; j++) yi[j] = activate(yi[j] + (bias ? vb.data[j] : 0.0f), act);
    }
done:
    if (y && st == RG_OK) f32_store(ctx, &outputs[0], y);
    else if (y && outputs[0].dtype != RG_DTYPE_F32) rg_mem_free(ctx->alloc, y, (out_n ? out_n : 1) * sizeof(float));
    f32_release(ctx, &vx), f32_release(ctx, &vw), f32_release(ctx, &vb);
    return st;
}

/* ------------------------------------------------------------ Attention */

typedef struct attention_params {
    size_t batch, seq, heads, head_size;
    float scale;
    bool causal;
    const float *mask;                 /* additive mask; NULL: none */
    int64_t mask_strides[4];           /* element strides over [B, H, S, S], 0 where broadcast */
    const float *bias;                 /* additive bias (input 2); NULL: none */
    int64_t bias_strides[4];
    const uint8_t *keep;               /* key_padding: keep[b * S + j] != 0 where key j counts; NULL: none */
    bool empty_uniform;                /* empty_rows "uniform": a row with no key left averages V */
} attention_params;

/* One (batch, head) pair: scores row by row, softmax, weighted sum of V. */
static void attend_head(const attention_params *p, const float *qkv, float *y, size_t b, size_t h, float *scores) {
    size_t S = p->seq, D = p->head_size, width = 3 * p->heads * D;
    const float *base = qkv + b * S * width;
    for (size_t i = 0; i < S; i++) {
        const float *q = base + i * width + h * D;
        float max = -INFINITY;
        for (size_t j = 0; j < S; j++) {
            const float *k = base + j * width + p->heads * D + h * D;
            float dot = 0.0f;
            for (size_t d = 0; d < D; d++) dot += q[d] * k[d];
            float s = dot * p->scale;
            if (p->bias)
                s += p->bias[(int64_t)b * p->bias_strides[0] + (int64_t)h * p->bias_strides[1] +
                             (int64_t)i * p->bias_strides[2] + (int64_t)j * p->bias_strides[3]];
            if (p->mask)
                s += p->mask[(int64_t)b * p->mask_strides[0] + (int64_t)h * p->mask_strides[1] +
                             (int64_t)i * p->mask_strides[2] + (int64_t)j * p->mask_strides[3]];
            if (p->causal && j > i) s = -INFINITY;
            if (p->keep && !p->keep[b * S + j]) s = -INFINITY;
            scores[j] = s;
            if (s > max) max = s;
        }
        float total = 0.0f;
        for (size_t j = 0; j < S; j++) {
            /* A row masked out entirely gives zeros, not NaN, as the NaN
             * guard of the exporters' -inf masks does; with empty_rows
             * "uniform" it gives the flat softmax that a float32-lowest
             * additive mask gives (every score rounds to that one value). */
            if (max == -INFINITY) scores[j] = p->empty_uniform ? 1.0f : 0.0f;
            else scores[j] = expf(scores[j] - max);
            total += scores[j];
        }
        float *out = y + (b * S + i) * p->heads * D + h * D;
        for (size_t d = 0; d < D; d++) out[d] = 0.0f;
        for (size_t j = 0; j < S; j++) {
            float w = total > 0.0f ? scores[j] / total : 0.0f;
            const float *v = base + j * width + 2 * p->heads * D + h * D;
            for (size_t d = 0; d < D; d++) out[d] += w * v[d];
        }
    }
}

/* The strides of an additive input (mask or bias) over [B, H, S, S]. */
static rg_status attention_mask(const char *what, const rg_tensor *mask, const attention_params *p, int64_t *strides,
                                rg_error *err) {
    int64_t full[4] = {(int64_t)p->batch, (int64_t)p->heads, (int64_t)p->seq, (int64_t)p->seq};
    int rank;
    int64_t dims[RG_MAX_RANK];
    if (mask->rank > 4 || !rg_cpu_broadcast_shapes(4, full, mask->rank, mask->dims, &rank, dims) ||
        memcmp(dims, full, sizeof full) != 0) {
        char a[RG_CPU_SHAPE_TEXT_MAX], b[RG_CPU_SHAPE_TEXT_MAX];
        return rg_error_set(err, RG_ERR_SHAPE, "%s of shape %s does not broadcast to the scores' shape %s", what,
                            rg_cpu_shape_text(mask->rank, mask->dims, a, sizeof a), rg_cpu_shape_text(4, full, b, sizeof b));
    }
    rg_cpu_broadcast_strides(4, full, mask->rank, mask->dims, strides);
    return RG_OK;
}

/* The keys that count under a key_padding mask [B, S]: mask[b, j] != 0. */
static rg_status key_padding_keep(rg_cpu_ctx *ctx, const rg_tensor *mask, const attention_params *p, uint8_t **out,
                                  rg_error *err) {
    if (mask->rank != 2 || mask->dims[0] != (int64_t)p->batch || mask->dims[1] != (int64_t)p->seq) {
        char a[RG_CPU_SHAPE_TEXT_MAX];
        return rg_error_set(err, RG_ERR_SHAPE, "key_padding mask has shape %s; expected [%zu, %zu]",
                            rg_cpu_shape_text(mask->rank, mask->dims, a, sizeof a), p->batch, p->seq);
    }
    size_t n = rg_tensor_numel(mask);
    uint8_t *keep = rg_mem_calloc(ctx->alloc, n ? n : 1, 1);
    if (!keep) return rg_error_set(err, RG_ERR_NOMEM, "out of memory for the key_padding mask");
    for (size_t i = 0; i < n; i++) {
        switch (mask->dtype) {
        case RG_DTYPE_BOOL: keep[i] = ((const uint8_t *)mask->data)[i] != 0; break;
        case RG_DTYPE_I64: keep[i] = ((const int64_t *)mask->data)[i] != 0; break;
        case RG_DTYPE_I32: keep[i] = ((const int32_t *)mask->data)[i] != 0; break;
        case RG_DTYPE_F32: keep[i] = ((const float *)mask->data)[i] != 0.0f; break;
        case RG_DTYPE_F16: keep[i] = rg_f16_to_f32(((const uint16_t *)mask->data)[i]) != 0.0f; break;
        case RG_DTYPE_BF16: keep[i] = rg_bf16_to_f32(((const uint16_t *)mask->data)[i]) != 0.0f; break;
        default:
            rg_mem_free(ctx->alloc, keep, n ? n : 1);
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "key_padding mask has dtype %s",
                                rg_dtype_name(mask->dtype));
        }
    }
    *out = keep;
    return RG_OK;
}

static rg_status k_attention(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                             rg_tensor *outputs, rg_error *err) {
    const rg_tensor *qkv = inputs[0], *mask = input_at(node, inputs, 1), *bias = input_at(node, inputs, 2);
    if (!qkv) return rg_error_set(err, RG_ERR_INVALID_MODEL, "input 0 (qkv) is required");
    RG_TRY(check_float(qkv, 0, RG_DTYPE_UNDEFINED, err));
    const char *mask_kind, *empty_rows;
    RG_TRY(rg_node_attr_string(node, "mask_kind", "none", &mask_kind, err));
    RG_TRY(rg_node_attr_string(node, "empty_rows", "zeros", &empty_rows, err));
    bool key_padding = strcmp(mask_kind, "key_padding") == 0;
    if (mask && !key_padding) RG_TRY(check_float(mask, 1, qkv->dtype, err));
    if (bias) RG_TRY(check_float(bias, 2, qkv->dtype, err));
    int64_t heads, head_size, causal;
    float scale;
    RG_TRY(rg_node_attr_int(node, "num_heads", 0, &heads, err));
    RG_TRY(rg_node_attr_int(node, "head_size", 0, &head_size, err));
    RG_TRY(rg_node_attr_int(node, "causal", 0, &causal, err));
    if (heads <= 0 || head_size <= 0 || heads > INT32_MAX / head_size)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "num_heads %lld and head_size %lld must be positive",
                            (long long)heads, (long long)head_size);
    RG_TRY(rg_node_attr_float(node, "scale", 1.0f / sqrtf((float)head_size), &scale, err));
    if (qkv->rank != 3 || qkv->dims[2] != 3 * heads * head_size) {
        char s[RG_CPU_SHAPE_TEXT_MAX];
        return rg_error_set(err, RG_ERR_SHAPE, "qkv has shape %s; expected [B, S, %lld]",
                            rg_cpu_shape_text(qkv->rank, qkv->dims, s, sizeof s), (long long)(3 * heads * head_size));
    }
    attention_params p = {.batch = (size_t)qkv->dims[0], .seq = (size_t)qkv->dims[1], .heads = (size_t)heads,
                          .head_size = (size_t)head_size, .scale = scale, .causal = causal != 0,
                          .empty_uniform = strcmp(empty_rows, "uniform") == 0};
    if (mask && !key_padding) RG_TRY(attention_mask("mask", mask, &p, p.mask_strides, err));
    if (bias) RG_TRY(attention_mask("bias", bias, &p, p.bias_strides, err));
    int64_t dims[3] = {qkv->dims[0], qkv->dims[1], heads * head_size};
    RG_TRY(rg_cpu_alloc_output(ctx, &outputs[0], qkv->dtype, 3, dims, err));
    size_t out_n = rg_tensor_numel(&outputs[0]);
    rg_status st = RG_OK;
    f32_view vq = {0}, vm = {0}, vb = {0};
    float *y = NULL, *scores = NULL;
    uint8_t *keep = NULL;
    if (mask && key_padding && (st = key_padding_keep(ctx, mask, &p, &keep, err))) goto done;
    p.keep = keep;
    if ((st = f32_load(ctx, qkv, &vq, err))) goto done;
    if (mask && !key_padding && (st = f32_load(ctx, mask, &vm, err))) goto done;
    p.mask = mask && !key_padding ? vm.data : NULL;
    if (bias && (st = f32_load(ctx, bias, &vb, err))) goto done;
    p.bias = bias ? vb.data : NULL;
    scores = rg_mem_calloc(ctx->alloc, p.seq ? p.seq : 1, sizeof(float));
    y = f32_target(ctx, &outputs[0], err);
    if (!scores || !y) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory in Attention");
        goto done;
    }
    for (size_t b = 0; b < p.batch; b++)
        for (size_t h = 0; h < p.heads; h++) attend_head(&p, vq.data, y, b, h, scores);
done:
    if (scores) rg_mem_free(ctx->alloc, scores, (p.seq ? p.seq : 1) * sizeof(float));
    if (y && st == RG_OK) f32_store(ctx, &outputs[0], y);
    else if (y && outputs[0].dtype != RG_DTYPE_F32) rg_mem_free(ctx->alloc, y, (out_n ? out_n : 1) * sizeof(float));
    f32_release(ctx, &vq), f32_release(ctx, &vm), f32_release(ctx, &vb);
    if (keep) rg_mem_free(ctx->alloc, keep, p.batch * p.seq > 0 ? p.batch * p.seq : 1);
    return st;
}

const rg_cpu_kernel rg_cpu_internal_kernels[RG_OP_COUNT] = {
    [RG_OP_LAYER_NORM] = k_layer_norm,
    [RG_OP_LINEAR] = k_linear,
    [RG_OP_ATTENTION] = k_attention,
};
