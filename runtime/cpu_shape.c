/*
 * cpu_shape.c — CPU kernels for the ops that describe, reshape and move data:
 * Identity, Dropout, Shape, ConstantOfShape, Expand, Reshape, Flatten,
 * Unsqueeze, Squeeze, Transpose, Concat, Split, Slice, Gather,
 * GatherElements, GatherND, Tile, Range and Trilu, with ONNX semantics for
 * opsets 11..21.
 *
 * None of these does arithmetic on elements (Range aside), so they move raw
 * bytes by element size and serve every dtype with one code path. Most of
 * them are one strided copy: an output walked in order while a source offset
 * advances by per-dimension strides that may be zero (broadcast), permuted
 * (Transpose) or scaled by a step (Slice).
 *
 * Every number read from a tensor (a shape, an axis, an index, a start) comes
 * from the model or the request and is untrusted: it is range-checked before
 * it addresses memory, and output sizes are overflow-checked and capped before
 * anything is allocated.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "runtime/cpu_internal.h"
#include "runtime/cpu_util.h"

/* Largest output a kernel allocates. A bigger one comes from a bad shape in
 * the model or the request, and is reported as such rather than attempted. */
#define MAX_OUTPUT_BYTES ((size_t)1 << 40)

/* Tile views its output with two loop dims per input dim. */
#define MAX_LOOP_RANK (2 * RG_MAX_RANK)

#define SHAPE_TEXT RG_CPU_SHAPE_TEXT_MAX

/* ------------------------------------------------------------------ helpers */

static const char *shape_str(char *buf, int rank, const int64_t *dims) {
    return rg_cpu_shape_text(rank, dims, buf, SHAPE_TEXT);
}

static const rg_tensor *input_at(const rg_node *node, const rg_tensor *const *inputs, uint32_t i) {
    return i < node->ninputs ? inputs[i] : NULL;
}

static bool output_present(const rg_node *node, uint32_t i) {
    return i < node->noutputs && node->outputs[i] != NULL;
}

static rg_status need_input(const rg_node *node, const rg_tensor *const *inputs, uint32_t i, const char *what,
                            const rg_tensor **out, rg_error *err) {
    const rg_tensor *t = input_at(node, inputs, i);
    if (!t) return rg_error_set(err, RG_ERR_INVALID_MODEL, "input %u (%s) is missing", i, what);
    if (rg_dtype_size(t->dtype) == 0)
        return rg_error_set(err, RG_ERR_DTYPE, "input %u (%s) has no valid dtype", i, what);
    *out = t;
    return RG_OK;
}

/* Allocates output `index` after checking its rank and that its size is
 * reasonable; dims must be non-negative. */
static rg_status alloc_output(rg_cpu_ctx *ctx, rg_tensor *outputs, uint32_t index, rg_dtype dtype, int rank,
                              const int64_t *dims, rg_error *err) {
    char s[SHAPE_TEXT];
    if (rank > RG_MAX_RANK)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "output %u would have rank %d; at most %d is supported", index,
                            rank, RG_MAX_RANK);
    size_t n, bytes;
    if (!rg_shape_numel(rank, dims, &n) || !rg_size_mul(n, rg_dtype_size(dtype), &bytes) || bytes > MAX_OUTPUT_BYTES)
        return rg_error_set(err, RG_ERR_SHAPE, "output %u shape %s is invalid or too large (limit 2^40 bytes)", index,
                            shape_str(s, rank, dims));
    return rg_cpu_alloc_output(ctx, &outputs[index], dtype, rank, dims, err);
}

static void copy_bytes(void *dst, const void *src, size_t n) {
    if (n) memcpy(dst, src, n);
}

/* Product of some dims of a tensor. Bounded by its element count when the
 * tensor is not empty; kernels return before using it on empty ones. */
static size_t prod(const int64_t *dims, int from, int to) {
    size_t n = 1;
    for (int i = from; i < to; i++) n *= (size_t)dims[i];
    return n;
}

static bool is_empty(const rg_tensor *t) { return rg_tensor_numel(t) == 0; }

static bool is_index_dtype(rg_dtype dtype) { return dtype == RG_DTYPE_I64 || dtype == RG_DTYPE_I32; }

static int64_t index_at(const rg_tensor *t, size_t i) {
    return t->dtype == RG_DTYPE_I64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
}

/* Reads a scalar or 1-D int32/int64 tensor of at most `max` entries. */
static rg_status read_ints(const rg_tensor *t, uint32_t input, const char *what, int64_t *out, int max, int *count,
                           rg_error *err) {
    if (!is_index_dtype(t->dtype))
        return rg_error_set(err, RG_ERR_DTYPE, "input %u (%s) must be int64 or int32, not %s", input, what,
                            rg_dtype_name(t->dtype));
    if (t->rank > 1)
        return rg_error_set(err, RG_ERR_SHAPE, "input %u (%s) must be 1-D, got rank %d", input, what, t->rank);
    size_t n = rg_tensor_numel(t);
    if (n > (size_t)max)
        return rg_error_set(err, RG_ERR_SHAPE, "input %u (%s) has %zu entries; at most %d are supported", input, what,
                            n, max);
    for (size_t i = 0; i < n; i++) out[i] = index_at(t, i);
    *count = (int)n;
    return RG_OK;
}

static rg_status read_scalar_int(const rg_tensor *t, uint32_t input, const char *what, int64_t *out, rg_error *err) {
    int64_t v[1];
    int n;
    RG_TRY(read_ints(t, input, what, v, 1, &n, err));
    if (n != 1) return rg_error_set(err, RG_ERR_SHAPE, "input %u (%s) must hold one value, got none", input, what);
    *out = v[0];
    return RG_OK;
}

/* Maps an axis in [-rank, rank) to [0, rank). */
static rg_status norm_axis(int64_t axis, int rank, const char *what, int *out, rg_error *err) {
    if (axis < -(int64_t)rank || axis >= rank)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "%s %lld is out of range for rank %d", what, (long long)axis,
                            rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return RG_OK;
}

/* Normalises a list of distinct axes against `rank`, marking them in `mark`. */
static rg_status norm_axes(const int64_t *axes, int n, int rank, bool *mark, rg_error *err) {
    for (int i = 0; i < rank; i++) mark[i] = false;
    for (int i = 0; i < n; i++) {
        int a;
        RG_TRY(norm_axis(axes[i], rank, "axis", &a, err));
        if (mark[a]) return rg_error_set(err, RG_ERR_INVALID_MODEL, "axis %lld is repeated", (long long)axes[i]);
        mark[a] = true;
    }
    return RG_OK;
}

/* Element strides of a contiguous tensor. An empty tensor may have huge
 * dims beside its zero one, so this wraps (unsigned) instead of overflowing;
 * kernels use the strides of non-empty tensors only. */
static void contiguous_strides(int rank, const int64_t *dims, int64_t *strides) {
    uint64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = (int64_t)s;
        s *= (uint64_t)dims[i];
    }
}

static void copy_elem(char *dst, const char *src, size_t esize) {
    switch (esize) {
    case 1: *dst = *src; break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, esize); break;
    }
}

/* A view of a source tensor in output order: output dim i has dims[i]
 * elements and advances the source by strides[i] elements (0 broadcasts,
 * negative walks backwards). The caller makes sure every offset it can reach
 * lies inside the source. */
typedef struct strided_view {
    int rank;
    int64_t dims[MAX_LOOP_RANK];
    int64_t strides[MAX_LOOP_RANK];
    int64_t offset;
} strided_view;

/* Fills dst (contiguous) from the view of src. */
static void copy_strided(void *dst, const void *src, size_t esize, const strided_view *v) {
    int64_t dims[MAX_LOOP_RANK], strides[MAX_LOOP_RANK];
    int rank = 0;
    for (int i = 0; i < v->rank; i++) {
        if (v->dims[i] == 0) return;
        if (v->dims[i] == 1) continue; /* never advances */
        dims[rank] = v->dims[i];
        strides[rank++] = v->strides[i];
    }
    if (rank == 0) {
        dims[0] = 1;
        strides[0] = 1;
        rank = 1;
    }
    const char *s = src;
    char *d = dst;
    int64_t inner = dims[rank - 1], inner_stride = strides[rank - 1];
    int64_t idx[MAX_LOOP_RANK] = {0};
    int64_t off = v->offset;
    for (;;) {
        if (inner_stride == 1) {
            memcpy(d, s + (size_t)off * esize, (size_t)inner * esize);
        } else {
            int64_t o = off;
            for (int64_t j = 0; j < inner; j++, o += inner_stride) copy_elem(d + (size_t)j * esize, s + (size_t)o * esize, esize);
        }
        d += (size_t)inner * esize;
        int k = rank - 2;
        for (; k >= 0; k--) {
            off += strides[k];
            if (++idx[k] < dims[k]) break;
            off -= strides[k] * dims[k];
            idx[k] = 0;
        }
        if (k < 0) break;
    }
}

/* Copies `in` unchanged into a new output 0 of the given shape. */
static rg_status copy_as(rg_cpu_ctx *ctx, const rg_tensor *in, rg_tensor *outputs, int rank, const int64_t *dims,
                         rg_error *err) {
    RG_TRY(alloc_output(ctx, outputs, 0, in->dtype, rank, dims, err));
    copy_bytes(outputs[0].data, in->data, in->nbytes);
    return RG_OK;
}

/* ------------------------------------------------------- Identity, Dropout */

static rg_status kernel_identity(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                                 rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x;
    RG_TRY(need_input(node, inputs, 0, "input", &x, err));
    if (!output_present(node, 0)) return RG_OK;
    return copy_as(ctx, x, outputs, x->rank, x->dims, err);
}

/* Inference only: the output is the input and the mask is all true. Training
 * mode is accepted when it cannot change anything (ratio 0). */
static rg_status kernel_dropout(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                                rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x;
    RG_TRY(need_input(node, inputs, 0, "data", &x, err));
    const rg_tensor *ratio_t = input_at(node, inputs, 1), *training = input_at(node, inputs, 2);
    if (training) {
        if (training->dtype != RG_DTYPE_BOOL || rg_tensor_numel(training) != 1)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "input 2 (training_mode) must be one bool");
        double ratio = 0.5;
        if (ratio_t) {
            if (!rg_dtype_is_float(ratio_t->dtype) || rg_tensor_numel(ratio_t) != 1)
                return rg_error_set(err, RG_ERR_INVALID_MODEL, "input 1 (ratio) must be one floating-point value");
            ratio = rg_load_as_double(ratio_t->dtype, ratio_t->data, 0);
        }
        if (((const uint8_t *)training->data)[0] && ratio != 0.0)
            return rg_error_set(err, RG_ERR_UNSUPPORTED, "training mode (random dropout, ratio %g) is not supported",
                                ratio);
    }
    if (output_present(node, 0)) RG_TRY(copy_as(ctx, x, outputs, x->rank, x->dims, err));
    if (output_present(node, 1)) {
        RG_TRY(alloc_output(ctx, outputs, 1, RG_DTYPE_BOOL, x->rank, x->dims, err));
        if (outputs[1].nbytes) memset(outputs[1].data, 1, outputs[1].nbytes);
    }
    return RG_OK;
}

/* ------------------------------------------------------------------- Shape */

static rg_status kernel_shape(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                              rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x;
    RG_TRY(need_input(node, inputs, 0, "data", &x, err));
    int64_t start = 0, end = x->rank;
    if (node->opset >= 15) {
        RG_TRY(rg_node_attr_int(node, "start", 0, &start, err));
        RG_TRY(rg_node_attr_int(node, "end", x->rank, &end, err));
    }
    /* Out-of-range start and end clamp, as in Python slicing. */
    if (start < 0) start = start < -(int64_t)x->rank ? 0 : start + x->rank;
    if (end < 0) end = end < -(int64_t)x->rank ? 0 : end + x->rank;
    if (start > x->rank) start = x->rank;
    if (end > x->rank) end = x->rank;
    int64_t n = end > start ? end - start : 0;
    if (!output_present(node, 0)) return RG_OK;
    RG_TRY(alloc_output(ctx, outputs, 0, RG_DTYPE_I64, 1, &n, err));
    for (int64_t i = 0; i < n; i++) ((int64_t *)outputs[0].data)[i] = x->dims[start + i];
    return RG_OK;
}

/* Reads a shape input (1-D int64 of non-negative dims unless `allow_neg`). */
static rg_status read_shape(const rg_tensor *t, uint32_t input, const char *what, int64_t *dims, int *rank,
                            bool allow_neg, rg_error *err) {
    if (t->rank != 1)
        return rg_error_set(err, RG_ERR_SHAPE, "input %u (%s) must be 1-D, got rank %d", input, what, t->rank);
    RG_TRY(read_ints(t, input, what, dims, RG_MAX_RANK, rank, err));
    for (int i = 0; i < *rank && !allow_neg; i++)
        if (dims[i] < 0)
            return rg_error_set(err, RG_ERR_SHAPE, "input %u (%s) holds the negative dim %lld", input, what,
                                (long long)dims[i]);
    return RG_OK;
}

/* --------------------------------------------------------- ConstantOfShape */

static rg_status kernel_constant_of_shape(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                                          rg_tensor *outputs, rg_error *err) {
    const rg_tensor *shape;
    RG_TRY(need_input(node, inputs, 0, "shape", &shape, err));
    int64_t dims[RG_MAX_RANK];
    int rank;
    RG_TRY(read_shape(shape, 0, "shape", dims, &rank, false, err));
    const rg_attr *value = rg_node_attr(node, "value");
    rg_dtype dtype = RG_DTYPE_F32;
    const void *elem = NULL;
    if (value) {
        if (value->kind != RG_ATTR_TENSOR || !value->t)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "attribute 'value' must be a tensor");
        if (rg_tensor_numel(value->t) != 1 || rg_dtype_size(value->t->dtype) == 0)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "attribute 'value' must hold exactly one element");
        dtype = value->t->dtype;
        elem = value->t->data;
    }
    if (!output_present(node, 0)) return RG_OK;
    RG_TRY(alloc_output(ctx, outputs, 0, dtype, rank, dims, err));
    if (!elem) return RG_OK; /* zeroed: float32 0 */
    size_t esize = rg_dtype_size(dtype), n = rg_tensor_numel(&outputs[0]);
    char *d = outputs[0].data;
    for (size_t i = 0; i < n; i++) copy_elem(d + i * esize, elem, esize);
    return RG_OK;
}

/* ------------------------------------------------------------------ Expand */

static rg_status kernel_expand(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                               rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x, *shape;
    RG_TRY(need_input(node, inputs, 0, "input", &x, err));
    RG_TRY(need_input(node, inputs, 1, "shape", &shape, err));
    int64_t want[RG_MAX_RANK];
    int nwant;
    RG_TRY(read_shape(shape, 1, "shape", want, &nwant, false, err));
    int rank = nwant > x->rank ? nwant : x->rank;
    int64_t in_strides[RG_MAX_RANK];
    contiguous_strides(x->rank, x->dims, in_strides);
    strided_view v = {.rank = rank};
    for (int i = 0; i < rank; i++) {
        int xi = i - (rank - x->rank), wi = i - (rank - nwant);
        int64_t a = xi >= 0 ? x->dims[xi] : 1, b = wi >= 0 ? want[wi] : 1;
        if (a != b && a != 1 && b != 1) {
            char s1[SHAPE_TEXT], s2[SHAPE_TEXT];
            return rg_error_set(err, RG_ERR_SHAPE, "cannot expand %s to %s: dim %d is %lld against %lld",
                                shape_str(s1, x->rank, x->dims), shape_str(s2, nwant, want), i, (long long)a,
                                (long long)b);
        }
        v.dims[i] = a == 1 ? b : a;
        v.strides[i] = (xi >= 0 && a != 1) ? in_strides[xi] : 0;
    }
    if (!output_present(node, 0)) return RG_OK;
    RG_TRY(alloc_output(ctx, outputs, 0, x->dtype, rank, v.dims, err));
    copy_strided(outputs[0].data, x->data, rg_dtype_size(x->dtype), &v);
    return RG_OK;
}

/* ------------------------------------------------------ Reshape and Flatten */

static rg_status kernel_reshape(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                                rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x, *shape;
    RG_TRY(need_input(node, inputs, 0, "data", &x, err));
    RG_TRY(need_input(node, inputs, 1, "shape", &shape, err));
    int64_t req[RG_MAX_RANK], dims[RG_MAX_RANK];
    int rank;
    RG_TRY(read_shape(shape, 1, "shape", req, &rank, true, err));
    int64_t allowzero = 0;
    if (node->opset >= 14) RG_TRY(rg_node_attr_int(node, "allowzero", 0, &allowzero, err));
    char s1[SHAPE_TEXT], s2[SHAPE_TEXT];
    size_t total = rg_tensor_numel(x), known = 1;
    int infer = -1;
    bool zero = false;
    for (int i = 0; i < rank; i++) {
        dims[i] = req[i];
        if (req[i] == -1) {
            if (infer >= 0)
                return rg_error_set(err, RG_ERR_SHAPE, "cannot reshape %s to %s: more than one -1",
                                    shape_str(s1, x->rank, x->dims), shape_str(s2, rank, req));
            infer = i;
            continue;
        }
        if (req[i] < -1)
            return rg_error_set(err, RG_ERR_SHAPE, "cannot reshape %s to %s: invalid dim %lld",
                                shape_str(s1, x->rank, x->dims), shape_str(s2, rank, req), (long long)req[i]);
        if (req[i] == 0 && !allowzero) {
            if (i >= x->rank)
                return rg_error_set(err, RG_ERR_SHAPE, "cannot reshape %s to %s: dim %d is 0 (copy) but the input has rank %d",
                                    shape_str(s1, x->rank, x->dims), shape_str(s2, rank, req), i, x->rank);
            dims[i] = x->dims[i];
        }
        if (dims[i] == 0) zero = true;
        if (!rg_size_mul(known, (size_t)dims[i], &known))
            return rg_error_set(err, RG_ERR_SHAPE, "cannot reshape %s to %s: size overflows",
                                shape_str(s1, x->rank, x->dims), shape_str(s2, rank, req));
    }
    if (infer >= 0) {
        if (zero || known == 0 || total % known != 0)
            return rg_error_set(err, RG_ERR_SHAPE, "cannot reshape %s (%zu elements) to %s",
                                shape_str(s1, x->rank, x->dims), total, shape_str(s2, rank, req));
        dims[infer] = (int64_t)(total / known);
        known = total;
    }
    if (known != total)
        return rg_error_set(err, RG_ERR_SHAPE, "cannot reshape %s (%zu elements) to %s",
                            shape_str(s1, x->rank, x->dims), total, shape_str(s2, rank, req));
    if (!output_present(node, 0)) return RG_OK;
    return copy_as(ctx, x, outputs, rank, dims, err);
}

static rg_status kernel_flatten(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                                rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x;
    RG_TRY(need_input(node, inputs, 0, "input", &x, err));
    int64_t axis;
    RG_TRY(rg_node_attr_int(node, "axis", 1, &axis, err));
    /* Flatten's axis may equal the rank (everything goes to the outer dim). */
    if (axis < -(int64_t)x->rank || axis > x->rank)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)axis,
                            x->rank);
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    size_t outer, inner;
    if (!rg_shape_numel(a, x->dims, &outer) || !rg_shape_numel(x->rank - a, x->dims + a, &inner) ||
        outer > INT64_MAX || inner > INT64_MAX) {
        char s[SHAPE_TEXT];
        return rg_error_set(err, RG_ERR_SHAPE, "flattening %s at axis %d overflows", shape_str(s, x->rank, x->dims),
                            a);
    }
    int64_t dims[2] = {(int64_t)outer, (int64_t)inner};
    if (!output_present(node, 0)) return RG_OK;
    return copy_as(ctx, x, outputs, 2, dims, err);
}

/* ---------------------------------------------------- Unsqueeze and Squeeze */

/* Axes come from the 'axes' attribute before opset 13 and from input 1 after. */
static rg_status read_axes(const rg_node *node, const rg_tensor *const *inputs, int64_t *axes, int *n,
                           rg_error *err) {
    if (node->opset < 13) {
        const int64_t *a;
        size_t count;
        RG_TRY(rg_node_attr_ints(node, "axes", &a, &count, err));
        if (count > RG_MAX_RANK)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "attribute 'axes' has %zu entries; at most %d", count,
                                RG_MAX_RANK);
        for (size_t i = 0; i < count; i++) axes[i] = a[i];
        *n = (int)count;
        return RG_OK;
    }
    const rg_tensor *t = input_at(node, inputs, 1);
    *n = 0;
    if (!t) return RG_OK;
    return read_ints(t, 1, "axes", axes, RG_MAX_RANK, n, err);
}

static rg_status kernel_unsqueeze(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                                  rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x;
    RG_TRY(need_input(node, inputs, 0, "data", &x, err));
    int64_t axes[RG_MAX_RANK];
    int n;
    RG_TRY(read_axes(node, inputs, axes, &n, err));
    if (n == 0) return rg_error_set(err, RG_ERR_INVALID_MODEL, "no axes to unsqueeze");
    int rank = x->rank + n;
    if (rank > RG_MAX_RANK)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "output rank %d exceeds the maximum of %d", rank, RG_MAX_RANK);
    bool mark[RG_MAX_RANK];
    RG_TRY(norm_axes(axes, n, rank, mark, err));
    int64_t dims[RG_MAX_RANK];
    for (int i = 0, j = 0; i < rank; i++) dims[i] = mark[i] ? 1 : x->dims[j++];
    if (!output_present(node, 0)) return RG_OK;
    return copy_as(ctx, x, outputs, rank, dims, err);
}

static rg_status kernel_squeeze(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                                rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x;
    RG_TRY(need_input(node, inputs, 0, "data", &x, err));
    int64_t axes[RG_MAX_RANK];
    int n;
    RG_TRY(read_axes(node, inputs, axes, &n, err));
    bool mark[RG_MAX_RANK];
    RG_TRY(norm_axes(axes, n, x->rank, mark, err));
    int64_t dims[RG_MAX_RANK];
    int rank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (n == 0) mark[i] = x->dims[i] == 1;
        if (mark[i] && x->dims[i] != 1) {
            char s[SHAPE_TEXT];
            return rg_error_set(err, RG_ERR_SHAPE, "cannot squeeze axis %d of %s: its size is %lld, not 1", i,
                                shape_str(s, x->rank, x->dims), (long long)x->dims[i]);
        }
        if (!mark[i]) dims[rank++] = x->dims[i];
    }
    if (!output_present(node, 0)) return RG_OK;
    return copy_as(ctx, x, outputs, rank, dims, err);
}

/* --------------------------------------------------------------- Transpose */

static rg_status kernel_transpose(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                                  rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x;
    RG_TRY(need_input(node, inputs, 0, "data", &x, err));
    const int64_t *perm_attr;
    size_t count;
    RG_TRY(rg_node_attr_ints(node, "perm", &perm_attr, &count, err));
    int64_t perm[RG_MAX_RANK];
    if (perm_attr) {
        if (count != (size_t)x->rank)
            return rg_error_set(err, RG_ERR_SHAPE, "attribute 'perm' has %zu entries for an input of rank %d", count,
                                x->rank);
        bool seen[RG_MAX_RANK] = {false};
        for (int i = 0; i < x->rank; i++) {
            if (perm_attr[i] < 0 || perm_attr[i] >= x->rank || seen[perm_attr[i]])
                return rg_error_set(err, RG_ERR_INVALID_MODEL, "attribute 'perm' is not a permutation of 0..%d",
                                    x->rank - 1);
            seen[perm_attr[i]] = true;
            perm[i] = perm_attr[i];
        }
    } else {
        for (int i = 0; i < x->rank; i++) perm[i] = x->rank - 1 - i;
    }
    int64_t in_strides[RG_MAX_RANK];
    contiguous_strides(x->rank, x->dims, in_strides);
    strided_view v = {.rank = x->rank};
    for (int i = 0; i < x->rank; i++) {
        v.dims[i] = x->dims[perm[i]];
        v.strides[i] = in_strides[perm[i]];
    }
    if (!output_present(node, 0)) return RG_OK;
    RG_TRY(alloc_output(ctx, outputs, 0, x->dtype, x->rank, v.dims, err));
    copy_strided(outputs[0].data, x->data, rg_dtype_size(x->dtype), &v);
    return RG_OK;
}

/* ------------------------------------------------------------------ Concat */

static rg_status kernel_concat(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                               rg_tensor *outputs, rg_error *err) {
    const rg_tensor *first;
    RG_TRY(need_input(node, inputs, 0, "inputs", &first, err));
    int64_t axis_attr;
    RG_TRY(rg_node_attr_int(node, "axis", INT64_MIN, &axis_attr, err));
    if (axis_attr == INT64_MIN) return rg_error_set(err, RG_ERR_INVALID_MODEL, "attribute 'axis' is required");
    int axis;
    RG_TRY(norm_axis(axis_attr, first->rank, "axis", &axis, err));
    int64_t dims[RG_MAX_RANK];
    memcpy(dims, first->dims, sizeof dims);
    dims[axis] = 0;
    for (uint32_t i = 0; i < node->ninputs; i++) {
        const rg_tensor *t;
        RG_TRY(need_input(node, inputs, i, "inputs", &t, err));
        char s1[SHAPE_TEXT], s2[SHAPE_TEXT];
        if (t->dtype != first->dtype)
            return rg_error_set(err, RG_ERR_DTYPE, "input %u is %s but input 0 is %s", i, rg_dtype_name(t->dtype),
                                rg_dtype_name(first->dtype));
        bool ok = t->rank == first->rank;
        for (int d = 0; ok && d < t->rank; d++) ok = d == axis || t->dims[d] == first->dims[d];
        if (!ok)
            return rg_error_set(err, RG_ERR_SHAPE, "cannot concatenate input %u %s with input 0 %s along axis %d", i,
                                shape_str(s1, t->rank, t->dims), shape_str(s2, first->rank, first->dims), axis);
        if (t->dims[axis] > INT64_MAX - dims[axis])
            return rg_error_set(err, RG_ERR_SHAPE, "concatenated axis %d overflows", axis);
        dims[axis] += t->dims[axis];
    }
    if (!output_present(node, 0)) return RG_OK;
    RG_TRY(alloc_output(ctx, outputs, 0, first->dtype, first->rank, dims, err));
    if (is_empty(&outputs[0])) return RG_OK;
    size_t outer = prod(dims, 0, axis), inner = prod(dims, axis + 1, first->rank) * rg_dtype_size(first->dtype);
    char *d = outputs[0].data;
    for (size_t o = 0; o < outer; o++) {
        for (uint32_t i = 0; i < node->ninputs; i++) {
            size_t chunk = (size_t)inputs[i]->dims[axis] * inner;
            copy_bytes(d, (const char *)inputs[i]->data + o * chunk, chunk);
            d += chunk;
        }
    }
    return RG_OK;
}

/* ------------------------------------------------------------------- Split */

/* Chunk sizes: the 'split' attribute (before 13) or input (from 13); else
 * 'num_outputs' (from 18, the last chunk may be smaller); else equal parts. */
static rg_status split_sizes(const rg_node *node, const rg_tensor *const *inputs, int64_t dim, int64_t *sizes,
                             rg_error *err) {
    uint32_t n = node->noutputs;
    const rg_tensor *split_t = node->opset >= 13 ? input_at(node, inputs, 1) : NULL;
    const int64_t *split_attr = NULL;
    size_t count = 0;
    if (node->opset < 13) RG_TRY(rg_node_attr_ints(node, "split", &split_attr, &count, err));
    if (split_t) {
        if (!is_index_dtype(split_t->dtype) || split_t->rank > 1)
            return rg_error_set(err, RG_ERR_DTYPE, "input 1 (split) must be a 1-D int64 tensor");
        count = rg_tensor_numel(split_t);
    }
    if (split_t || split_attr) {
        if (count != n)
            return rg_error_set(err, RG_ERR_SHAPE, "'split' has %zu entries for %u outputs", count, n);
        int64_t sum = 0;
        for (uint32_t i = 0; i < n; i++) {
            sizes[i] = split_t ? index_at(split_t, i) : split_attr[i];
            if (sizes[i] < 0 || sizes[i] > dim - sum)
                return rg_error_set(err, RG_ERR_SHAPE, "split sizes do not add up to the axis size %lld",
                                    (long long)dim);
            sum += sizes[i];
        }
        if (sum != dim)
            return rg_error_set(err, RG_ERR_SHAPE, "split sizes add up to %lld, not to the axis size %lld",
                                (long long)sum, (long long)dim);
        return RG_OK;
    }
    int64_t num_outputs = 0;
    if (node->opset >= 18) RG_TRY(rg_node_attr_int(node, "num_outputs", 0, &num_outputs, err));
    if (num_outputs) {
        if (num_outputs != n)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "attribute 'num_outputs' is %lld but the node has %u outputs",
                                (long long)num_outputs, n);
        int64_t chunk = dim / (int64_t)n + (dim % (int64_t)n != 0), left = dim;
        for (uint32_t i = 0; i < n; i++) {
            sizes[i] = chunk < left ? chunk : left;
            left -= sizes[i];
        }
        return RG_OK;
    }
    if (dim % (int64_t)n != 0)
        return rg_error_set(err, RG_ERR_SHAPE, "axis of size %lld does not split evenly into %u outputs", (long long)dim,
                            n);
    for (uint32_t i = 0; i < n; i++) sizes[i] = dim / (int64_t)n;
    return RG_OK;
}

static rg_status kernel_split(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                              rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x;
    RG_TRY(need_input(node, inputs, 0, "input", &x, err));
    int64_t axis_attr;
    int axis;
    RG_TRY(rg_node_attr_int(node, "axis", 0, &axis_attr, err));
    RG_TRY(norm_axis(axis_attr, x->rank, "axis", &axis, err));
    int64_t sizes[RG_ARITY_ANY];
    RG_ASSERT(node->noutputs <= RG_ARITY_ANY);
    RG_TRY(split_sizes(node, inputs, x->dims[axis], sizes, err));
    size_t esize = rg_dtype_size(x->dtype), outer = prod(x->dims, 0, axis);
    size_t inner = prod(x->dims, axis + 1, x->rank) * esize, row = (size_t)x->dims[axis] * inner;
    size_t at = 0; /* byte offset of this chunk inside a row */
    for (uint32_t i = 0; i < node->noutputs; i++) {
        size_t chunk = (size_t)sizes[i] * inner;
        if (output_present(node, i)) {
            int64_t dims[RG_MAX_RANK];
            memcpy(dims, x->dims, sizeof dims);
            dims[axis] = sizes[i];
            RG_TRY(alloc_output(ctx, outputs, i, x->dtype, x->rank, dims, err));
            if (is_empty(&outputs[i])) continue;
            char *d = outputs[i].data;
            for (size_t o = 0; o < outer; o++) copy_bytes(d + o * chunk, (const char *)x->data + o * row + at, chunk);
        }
        at += chunk;
    }
    return RG_OK;
}

/* ------------------------------------------------------------------- Slice */

/* Clamps one axis's start and end as ONNX Slice specifies and returns the
 * number of elements taken. */
static int64_t slice_axis(int64_t dim, int64_t step, int64_t *start, int64_t *end) {
    int64_t s = *start, e = *end;
    if (s < 0) s += dim; /* no overflow: dim >= 0 */
    if (e < 0) e += dim;
    if (step > 0) {
        s = s < 0 ? 0 : s > dim ? dim : s;
        e = e < 0 ? 0 : e > dim ? dim : e;
    } else {
        s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
        e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
    }
    *start = s;
    *end = e;
    /* Both lie in [-1, dim], so the differences cannot overflow; the step is
     * at most INT64_MAX in magnitude (the caller excludes INT64_MIN). */
    if (step > 0) return e > s ? (e - s - 1) / step + 1 : 0;
    return s > e ? (s - e - 1) / -step + 1 : 0;
}

static rg_status kernel_slice(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                              rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x, *starts_t, *ends_t;
    RG_TRY(need_input(node, inputs, 0, "data", &x, err));
    RG_TRY(need_input(node, inputs, 1, "starts", &starts_t, err));
    RG_TRY(need_input(node, inputs, 2, "ends", &ends_t, err));
    const rg_tensor *axes_t = input_at(node, inputs, 3), *steps_t = input_at(node, inputs, 4);
    int64_t starts[RG_MAX_RANK], ends[RG_MAX_RANK], axes[RG_MAX_RANK], steps[RG_MAX_RANK];
    int n, n_ends, n_axes, n_steps;
    RG_TRY(read_ints(starts_t, 1, "starts", starts, RG_MAX_RANK, &n, err));
    RG_TRY(read_ints(ends_t, 2, "ends", ends, RG_MAX_RANK, &n_ends, err));
    if (n_ends != n)
        return rg_error_set(err, RG_ERR_SHAPE, "input 1 (starts) has %d entries but input 2 (ends) has %d", n, n_ends);
    if (axes_t) {
        RG_TRY(read_ints(axes_t, 3, "axes", axes, RG_MAX_RANK, &n_axes, err));
        if (n_axes != n)
            return rg_error_set(err, RG_ERR_SHAPE, "input 3 (axes) has %d entries but input 1 (starts) has %d", n_axes,
                                n);
    } else {
        if (n > x->rank)
            return rg_error_set(err, RG_ERR_SHAPE, "input 1 (starts) has %d entries for data of rank %d", n, x->rank);
        for (int i = 0; i < n; i++) axes[i] = i;
    }
    if (steps_t) {
        RG_TRY(read_ints(steps_t, 4, "steps", steps, RG_MAX_RANK, &n_steps, err));
        if (n_steps != n)
            return rg_error_set(err, RG_ERR_SHAPE, "input 4 (steps) has %d entries but input 1 (starts) has %d",
                                n_steps, n);
    } else {
        for (int i = 0; i < n; i++) steps[i] = 1;
    }
    bool mark[RG_MAX_RANK];
    RG_TRY(norm_axes(axes, n, x->rank, mark, err));
    int64_t in_strides[RG_MAX_RANK];
    contiguous_strides(x->rank, x->dims, in_strides);
    strided_view v = {.rank = x->rank};
    for (int d = 0; d < x->rank; d++) {
        v.dims[d] = x->dims[d];
        v.strides[d] = in_strides[d];
    }
    for (int i = 0; i < n; i++) {
        int d = (int)(axes[i] < 0 ? axes[i] + x->rank : axes[i]);
        if (steps[i] == 0) return rg_error_set(err, RG_ERR_INVALID_MODEL, "input 4 (steps) has a 0 step for axis %d", d);
        int64_t step = steps[i] == INT64_MIN ? -INT64_MAX : steps[i];
        int64_t s = starts[i], e = ends[i];
        int64_t count = slice_axis(x->dims[d], step, &s, &e);
        v.dims[d] = count;
        if (is_empty(x)) continue; /* nothing is read; the strides may have wrapped */
        /* With one element or none the step is never taken; otherwise
         * |step| < dim and step * stride stays inside the tensor. */
        v.strides[d] = count > 1 ? step * in_strides[d] : 0;
        if (count > 0) v.offset += s * in_strides[d];
    }
    if (!output_present(node, 0)) return RG_OK;
    RG_TRY(alloc_output(ctx, outputs, 0, x->dtype, x->rank, v.dims, err));
    copy_strided(outputs[0].data, x->data, rg_dtype_size(x->dtype), &v);
    return RG_OK;
}

/* ------------------------------------------------------------------ Gather */

/* Checks index i of `indices` against an axis of size `dim` and wraps a
 * negative one. */
static rg_status take_index(const rg_tensor *indices, size_t i, int64_t dim, int axis, int64_t *out, rg_error *err) {
    int64_t v = index_at(indices, i);
    if (v < -dim || v >= dim)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT,
                            "input 1 (indices) holds %lld at position %zu, out of range for axis %d of size %lld",
                            (long long)v, i, axis, (long long)dim);
    *out = v < 0 ? v + dim : v;
    return RG_OK;
}

static rg_status check_indices_dtype(const rg_tensor *indices, rg_error *err) {
    if (!is_index_dtype(indices->dtype))
        return rg_error_set(err, RG_ERR_DTYPE, "input 1 (indices) must be int64 or int32, not %s",
                            rg_dtype_name(indices->dtype));
    return RG_OK;
}

static rg_status kernel_gather(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                               rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x, *indices;
    RG_TRY(need_input(node, inputs, 0, "data", &x, err));
    RG_TRY(need_input(node, inputs, 1, "indices", &indices, err));
    RG_TRY(check_indices_dtype(indices, err));
    int64_t axis_attr;
    int axis;
    RG_TRY(rg_node_attr_int(node, "axis", 0, &axis_attr, err));
    RG_TRY(norm_axis(axis_attr, x->rank, "axis", &axis, err));
    int rank = x->rank - 1 + indices->rank;
    if (rank > RG_MAX_RANK)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "output rank %d exceeds the maximum of %d", rank, RG_MAX_RANK);
    int64_t dims[RG_MAX_RANK];
    int r = 0;
    for (int i = 0; i < axis; i++) dims[r++] = x->dims[i];
    for (int i = 0; i < indices->rank; i++) dims[r++] = indices->dims[i];
    for (int i = axis + 1; i < x->rank; i++) dims[r++] = x->dims[i];
    size_t nidx = rg_tensor_numel(indices), esize = rg_dtype_size(x->dtype);
    int64_t dim = x->dims[axis];
    /* Every index is checked before anything is read. */
    for (size_t j = 0; j < nidx; j++) {
        int64_t k;
        RG_TRY(take_index(indices, j, dim, axis, &k, err));
    }
    if (!output_present(node, 0)) return RG_OK;
    RG_TRY(alloc_output(ctx, outputs, 0, x->dtype, rank, dims, err));
    if (is_empty(&outputs[0])) return RG_OK;
    size_t outer = prod(x->dims, 0, axis), inner = prod(x->dims, axis + 1, x->rank) * esize;
    const char *s = x->data;
    char *d = outputs[0].data;
    for (size_t o = 0; o < outer; o++) {
        for (size_t j = 0; j < nidx; j++) {
            int64_t k = index_at(indices, j);
            if (k < 0) k += dim;
            copy_bytes(d, s + (o * (size_t)dim + (size_t)k) * inner, inner);
            d += inner;
        }
    }
    return RG_OK;
}

static rg_status kernel_gather_elements(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                                        rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x, *indices;
    RG_TRY(need_input(node, inputs, 0, "data", &x, err));
    RG_TRY(need_input(node, inputs, 1, "indices", &indices, err));
    RG_TRY(check_indices_dtype(indices, err));
    int64_t axis_attr;
    int axis;
    RG_TRY(rg_node_attr_int(node, "axis", 0, &axis_attr, err));
    RG_TRY(norm_axis(axis_attr, x->rank, "axis", &axis, err));
    bool ok = indices->rank == x->rank;
    for (int d = 0; ok && d < x->rank; d++) ok = d == axis || indices->dims[d] <= x->dims[d];
    if (!ok) {
        char s1[SHAPE_TEXT], s2[SHAPE_TEXT];
        return rg_error_set(err, RG_ERR_SHAPE, "input 1 (indices) %s does not fit input 0 (data) %s off axis %d",
                            shape_str(s1, indices->rank, indices->dims), shape_str(s2, x->rank, x->dims), axis);
    }
    size_t n = rg_tensor_numel(indices), esize = rg_dtype_size(x->dtype);
    for (size_t j = 0; j < n; j++) {
        int64_t k;
        RG_TRY(take_index(indices, j, x->dims[axis], axis, &k, err));
    }
    if (!output_present(node, 0)) return RG_OK;
    RG_TRY(alloc_output(ctx, outputs, 0, x->dtype, indices->rank, indices->dims, err));
    if (n == 0) return RG_OK;
    int64_t strides[RG_MAX_RANK], idx[RG_MAX_RANK] = {0};
    contiguous_strides(x->rank, x->dims, strides);
    int64_t base = 0; /* source offset of idx with the axis coordinate left out */
    const char *s = x->data;
    char *d = outputs[0].data;
    for (size_t j = 0; j < n; j++) {
        int64_t k = index_at(indices, j);
        if (k < 0) k += x->dims[axis];
        copy_elem(d + j * esize, s + (size_t)(base + k * strides[axis]) * esize, esize);
        for (int r = x->rank - 1; r >= 0; r--) {
            if (r != axis) base += strides[r];
            if (++idx[r] < indices->dims[r]) break;
            if (r != axis) base -= strides[r] * indices->dims[r];
            idx[r] = 0;
        }
    }
    return RG_OK;
}

/* GatherND: the last dim of `indices` addresses the first k dims (after
 * batch_dims) of `data`; what is left of `data` is copied per index tuple. */
static rg_status kernel_gather_nd(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                                  rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x, *indices;
    RG_TRY(need_input(node, inputs, 0, "data", &x, err));
    RG_TRY(need_input(node, inputs, 1, "indices", &indices, err));
    if (indices->dtype != RG_DTYPE_I64)
        return rg_error_set(err, RG_ERR_DTYPE, "input 1 (indices) must be int64, not %s",
                            rg_dtype_name(indices->dtype));
    int64_t b_attr = 0;
    if (node->opset >= 12) RG_TRY(rg_node_attr_int(node, "batch_dims", 0, &b_attr, err));
    char s1[SHAPE_TEXT], s2[SHAPE_TEXT];
    int q = indices->rank;
    if (q < 1 || b_attr < 0 || b_attr >= q || b_attr >= x->rank)
        return rg_error_set(err, RG_ERR_SHAPE, "batch_dims %lld does not fit data %s and indices %s", (long long)b_attr,
                            shape_str(s1, x->rank, x->dims), shape_str(s2, q, indices->dims));
    int b = (int)b_attr;
    int64_t k = indices->dims[q - 1];
    bool ok = k >= 1 && k <= x->rank - b;
    for (int i = 0; ok && i < b; i++) ok = indices->dims[i] == x->dims[i];
    if (!ok)
        return rg_error_set(err, RG_ERR_SHAPE, "indices %s do not fit data %s with batch_dims %d",
                            shape_str(s2, q, indices->dims), shape_str(s1, x->rank, x->dims), b);
    int64_t dims[2 * RG_MAX_RANK];
    int rank = 0;
    for (int i = 0; i < q - 1; i++) dims[rank++] = indices->dims[i];
    for (int i = b + (int)k; i < x->rank; i++) dims[rank++] = x->dims[i];
    size_t esize = rg_dtype_size(x->dtype);
    size_t batches = prod(x->dims, 0, b), per_batch = prod(indices->dims, b, q - 1);
    size_t slice = prod(x->dims, b + (int)k, x->rank) * esize, batch_elems = prod(x->dims, b, x->rank);
    int64_t strides[RG_MAX_RANK];
    contiguous_strides(x->rank, x->dims, strides);
    const int64_t *ix = indices->data;
    /* Every tuple is checked before anything is read. */
    for (size_t t = 0; t < batches * per_batch; t++) {
        for (int64_t c = 0; c < k; c++) {
            int64_t v = ix[t * (size_t)k + (size_t)c], dim = x->dims[b + c];
            if (v < -dim || v >= dim)
                return rg_error_set(err, RG_ERR_INVALID_ARGUMENT,
                                    "input 1 (indices) holds %lld, out of range for data axis %lld of size %lld",
                                    (long long)v, (long long)(b + c), (long long)dim);
        }
    }
    if (!output_present(node, 0)) return RG_OK;
    RG_TRY(alloc_output(ctx, outputs, 0, x->dtype, rank, dims, err));
    if (is_empty(&outputs[0])) return RG_OK;
    char *d = outputs[0].data;
    for (size_t t = 0; t < batches * per_batch; t++) {
        size_t off = t / per_batch * batch_elems; /* per_batch > 0 here */
        for (int64_t c = 0; c < k; c++) {
            int64_t v = ix[t * (size_t)k + (size_t)c], dim = x->dims[b + c];
            off += (size_t)(v < 0 ? v + dim : v) * (size_t)strides[b + c];
        }
        copy_bytes(d, (const char *)x->data + off * esize, slice);
        d += slice;
    }
    return RG_OK;
}

/* -------------------------------------------------------------------- Tile */

static rg_status kernel_tile(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                             rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x, *repeats_t;
    RG_TRY(need_input(node, inputs, 0, "input", &x, err));
    RG_TRY(need_input(node, inputs, 1, "repeats", &repeats_t, err));
    int64_t repeats[RG_MAX_RANK];
    int n;
    RG_TRY(read_shape(repeats_t, 1, "repeats", repeats, &n, false, err));
    if (n != x->rank)
        return rg_error_set(err, RG_ERR_SHAPE, "input 1 (repeats) has %d entries for an input of rank %d", n, x->rank);
    int64_t dims[RG_MAX_RANK], in_strides[RG_MAX_RANK];
    contiguous_strides(x->rank, x->dims, in_strides);
    /* The output seen as [r0, d0, r1, d1, ...]: the repeat dims do not move
     * the source. */
    strided_view v = {.rank = 2 * x->rank};
    for (int i = 0; i < x->rank; i++) {
        if (repeats[i] != 0 && x->dims[i] > INT64_MAX / repeats[i]) {
            char s[SHAPE_TEXT];
            return rg_error_set(err, RG_ERR_SHAPE, "tiling %s %lld times along axis %d overflows",
                                shape_str(s, x->rank, x->dims), (long long)repeats[i], i);
        }
        dims[i] = x->dims[i] * repeats[i];
        v.dims[2 * i] = repeats[i];
        v.strides[2 * i] = 0;
        v.dims[2 * i + 1] = x->dims[i];
        v.strides[2 * i + 1] = in_strides[i];
    }
    if (!output_present(node, 0)) return RG_OK;
    RG_TRY(alloc_output(ctx, outputs, 0, x->dtype, x->rank, dims, err));
    copy_strided(outputs[0].data, x->data, rg_dtype_size(x->dtype), &v);
    return RG_OK;
}

/* ------------------------------------------------------------------- Range */

static rg_status range_scalar(const rg_node *node, const rg_tensor *const *inputs, uint32_t i, const char *what,
                              rg_dtype dtype, const rg_tensor **out, rg_error *err) {
    const rg_tensor *t;
    RG_TRY(need_input(node, inputs, i, what, &t, err));
    if (rg_tensor_numel(t) != 1 || t->rank > 1)
        return rg_error_set(err, RG_ERR_SHAPE, "input %u (%s) must be a scalar", i, what);
    if (t->dtype != dtype)
        return rg_error_set(err, RG_ERR_DTYPE, "input %u (%s) is %s but input 0 (start) is %s", i, what,
                            rg_dtype_name(t->dtype), rg_dtype_name(dtype));
    *out = t;
    return RG_OK;
}

/* Number of elements for integer operands, exact in unsigned arithmetic
 * (limit - start always fits in uint64_t when it has delta's sign). */
static uint64_t range_count_int(int64_t start, int64_t limit, int64_t delta) {
    if (delta > 0 && limit > start) {
        uint64_t diff = (uint64_t)limit - (uint64_t)start, step = (uint64_t)delta;
        return diff / step + (diff % step != 0);
    }
    if (delta < 0 && limit < start) {
        uint64_t diff = (uint64_t)start - (uint64_t)limit, step = (uint64_t)0 - (uint64_t)delta;
        return diff / step + (diff % step != 0);
    }
    return 0;
}

static rg_status kernel_range(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                              rg_tensor *outputs, rg_error *err) {
    const rg_tensor *start_t, *limit_t, *delta_t;
    RG_TRY(need_input(node, inputs, 0, "start", &start_t, err));
    rg_dtype dtype = start_t->dtype;
    if (dtype == RG_DTYPE_BOOL) return rg_error_set(err, RG_ERR_DTYPE, "input 0 (start) cannot be bool");
    RG_TRY(range_scalar(node, inputs, 0, "start", dtype, &start_t, err));
    RG_TRY(range_scalar(node, inputs, 1, "limit", dtype, &limit_t, err));
    RG_TRY(range_scalar(node, inputs, 2, "delta", dtype, &delta_t, err));
    double start = rg_load_as_double(dtype, start_t->data, 0), limit = rg_load_as_double(dtype, limit_t->data, 0);
    double delta = rg_load_as_double(dtype, delta_t->data, 0);
    if (delta == 0) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "input 2 (delta) is 0");
    uint64_t count;
    bool is_int = rg_dtype_is_integer(dtype);
    if (is_int) {
        int64_t s = dtype == RG_DTYPE_I64 ? ((const int64_t *)start_t->data)[0] : (int64_t)start;
        int64_t l = dtype == RG_DTYPE_I64 ? ((const int64_t *)limit_t->data)[0] : (int64_t)limit;
        int64_t dl = dtype == RG_DTYPE_I64 ? ((const int64_t *)delta_t->data)[0] : (int64_t)delta;
        count = range_count_int(s, l, dl);
    } else {
        /* In float, as ONNX Runtime computes it, so the counts agree. */
        double c = ceilf(((float)limit - (float)start) / (float)delta);
        if (isnan(c))
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "range from %g to %g by %g has no element count", start,
                                limit, delta);
        count = c <= 0 ? 0 : c >= 0x1p62 ? (uint64_t)1 << 62 : (uint64_t)c;
    }
    if (count > (uint64_t)MAX_OUTPUT_BYTES)
        return rg_error_set(err, RG_ERR_SHAPE, "range from %g to %g by %g has %llu elements, too many", start, limit,
                            delta, (unsigned long long)count);
    int64_t n = (int64_t)count;
    if (!output_present(node, 0)) return RG_OK;
    RG_TRY(alloc_output(ctx, outputs, 0, dtype, 1, &n, err));
    void *d = outputs[0].data;
    if (dtype == RG_DTYPE_I64) {
        /* Exact in wrapping unsigned arithmetic; every value lies in [start, limit). */
        uint64_t v = (uint64_t)((const int64_t *)start_t->data)[0], step = (uint64_t)((const int64_t *)delta_t->data)[0];
        for (int64_t i = 0; i < n; i++, v += step) memcpy((int64_t *)d + i, &v, sizeof v);
    } else {
        for (int64_t i = 0; i < n; i++) rg_store_from_double(dtype, d, (size_t)i, start + (double)i * delta);
    }
    return RG_OK;
}

/* ------------------------------------------------------------------- Trilu */

static rg_status kernel_trilu(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                              rg_tensor *outputs, rg_error *err) {
    const rg_tensor *x;
    RG_TRY(need_input(node, inputs, 0, "input", &x, err));
    if (x->rank < 2) return rg_error_set(err, RG_ERR_SHAPE, "input 0 must have rank 2 or more, got %d", x->rank);
    int64_t upper, k = 0;
    RG_TRY(rg_node_attr_int(node, "upper", 1, &upper, err));
    const rg_tensor *k_t = input_at(node, inputs, 1);
    if (k_t) RG_TRY(read_scalar_int(k_t, 1, "k", &k, err));
    if (!output_present(node, 0)) return RG_OK;
    RG_TRY(copy_as(ctx, x, outputs, x->rank, x->dims, err));
    if (is_empty(x)) return RG_OK;
    size_t esize = rg_dtype_size(x->dtype), rows = (size_t)x->dims[x->rank - 2], cols = (size_t)x->dims[x->rank - 1];
    size_t mats = prod(x->dims, 0, x->rank - 2);
    char *d = outputs[0].data;
    for (size_t m = 0; m < mats; m++) {
        for (size_t i = 0; i < rows; i++) {
            char *row = d + (m * rows + i) * cols * esize;
            /* Keep j - i >= k (upper) or j - i <= k (lower); k may be any int64. */
            for (size_t j = 0; j < cols; j++) {
                int64_t diag = (int64_t)j - (int64_t)i;
                bool keep = upper ? diag >= k : diag <= k;
                if (!keep) memset(row + j * esize, 0, esize);
            }
        }
    }
    return RG_OK;
}

/* ------------------------------------------------------------------- table */

const rg_cpu_kernel rg_cpu_shape_kernels[RG_OP_COUNT] = {
    [RG_OP_IDENTITY] = kernel_identity,
    [RG_OP_DROPOUT] = kernel_dropout,
    [RG_OP_SHAPE] = kernel_shape,
    [RG_OP_CONSTANT_OF_SHAPE] = kernel_constant_of_shape,
    [RG_OP_EXPAND] = kernel_expand,
    [RG_OP_RESHAPE] = kernel_reshape,
    [RG_OP_FLATTEN] = kernel_flatten,
    [RG_OP_UNSQUEEZE] = kernel_unsqueeze,
    [RG_OP_SQUEEZE] = kernel_squeeze,
    [RG_OP_TRANSPOSE] = kernel_transpose,
    [RG_OP_CONCAT] = kernel_concat,
    [RG_OP_SPLIT] = kernel_split,
    [RG_OP_SLICE] = kernel_slice,
    [RG_OP_GATHER] = kernel_gather,
    [RG_OP_GATHER_ELEMENTS] = kernel_gather_elements,
    [RG_OP_GATHER_ND] = kernel_gather_nd,
    [RG_OP_TILE] = kernel_tile,
    [RG_OP_RANGE] = kernel_range,
    [RG_OP_TRILU] = kernel_trilu,
};
