/*
 * internal_ops.c — shape inference for ragged's own ops. LayerNorm, Linear
 * and Attention rules sit here with their attribute conventions (the passes
 * in passes/fuse_patterns.c make these nodes; runtime/cpu_internal_ops.c runs
 * them); the Fused op's rule sits with its expression program in fused.c.
 *
 * Conventions (every attribute is FLOAT, INT or STRING, so plans keep them):
 *
 * LayerNorm (x, scale[N], bias[N]?, residual?) -> (y, sum?)
 *   Normalises the last axis (N) of s = x + residual (s = x without one):
 *   y = (s - mean) / sqrt(var + epsilon) * scale + bias, statistics in fp32.
 *   residual has x's shape. Output 1, when present, is s itself (the residual
 *   stream that later layers read).
 *   epsilon: FLOAT, default 1e-5.
 *
 * Linear (x[..., K], weight[K, N], bias[N]?) -> y[..., N]
 *   y = act(x @ weight + bias).
 *   activation: STRING "none" (default), "relu", "gelu" (erf form) or
 *   "gelu_tanh" (the tanh approximation).
 *
 * Attention (qkv[B, S, 3*H*D], mask?, bias?) -> y[B, S, H*D]
 *   qkv packs Q, K and V along the last axis in that order, each head-major
 *   ([H, D] inside each third), as one merged QKV Linear produces it.
 *   scores[b,h,i,j] = scale * q[b,i,h,:] . k[b,j,h,:] (+ bias) (+ mask),
 *   added in that order, softmax over j, y[b,i,h,:] = sum_j p[b,h,i,j]
 *   v[b,j,h,:].
 *   bias (input 2, optional; input 1 is then empty when there is no mask):
 *   an additive float tensor of qkv's dtype, rank <= 4, that broadcasts
 *   (numpy rules, aligned at the right) to [B, H, S, S], e.g. MPNet's
 *   relative position bias [1, H, S, S]: bias[b', h', i', j'] is added to
 *   every score, with b' = 0 where its dim 0 is 1 (else b), and likewise for
 *   h, i, j. It is added before the mask and before causal/key_padding
 *   masking, so masked keys stay masked whatever the bias holds. A bias
 *   never counts as a mask: empty_rows is about mask/causal only.
 *   num_heads (H), head_size (D): INT, required.
 *   scale: FLOAT, default 1/sqrt(D).
 *   causal: INT 0/1, default 0: j > i is masked out.
 *   mask_kind: STRING "none" (default: no mask input) or "additive": input 1
 *   is added to the scores and must broadcast to [B, H, S, S] (the usual
 *   [B, 1, 1, S] from a padding mask), or "key_padding": input 1 is the
 *   model's [B, S] attention mask (bool, int32, int64 or float) and key j of
 *   sequence b is masked out, for every head and query, where mask[b, j] == 0
 *   (passes/fuse_mask.c puts it there in place of the exporters' mask
 *   arithmetic).
 *   empty_rows: STRING, with key_padding or causal: what a query row whose
 *   every key is masked gets, so that the result is the one the exporter's
 *   graph computed. "zeros" (default): zeros, as a -inf mask followed by the
 *   NaN guard gives; "uniform": the mean of V over all S keys, as an additive
 *   mask of float32's lowest value gives (every score then rounds to that
 *   value, so the softmax is flat).
 */
#include <string.h>

#include "internal_ops.h"

#include "fused.h"

static rg_status need_rank(const rg_node *node, uint32_t i, int min_rank, rg_error *err) {
    const rg_value *v = node->inputs[i];
    if (!v) return rg_error_set(err, RG_ERR_INVALID_MODEL, "input %u is missing", i);
    if (v->rank < min_rank)
        return rg_error_set(err, RG_ERR_SHAPE, "input %u ('%s') has rank %d; expected at least %d", i,
                            v->name ? v->name : "", v->rank, min_rank);
    return RG_OK;
}

static rg_status infer_layer_norm(rg_graph *g, rg_node *node, rg_error *err) {
    RG_TRY(need_rank(node, 0, 1, err));
    const rg_value *x = node->inputs[0];
    float eps;
    RG_TRY(rg_node_attr_float(node, "epsilon", 1e-5f, &eps, err));
    RG_TRY(rg_value_set_shape(g, node->outputs[0], x->dtype, x->rank, x->dims, err));
    if (node->noutputs > 1 && node->outputs[1])
        RG_TRY(rg_value_set_shape(g, node->outputs[1], x->dtype, x->rank, x->dims, err));
    return RG_OK;
}

bool rg_linear_activation_known(const char *name) {
    return !strcmp(name, "none") || !strcmp(name, "relu") || !strcmp(name, "gelu") || !strcmp(name, "gelu_tanh");
}

static rg_status infer_linear(rg_graph *g, rg_node *node, rg_error *err) {
    RG_TRY(need_rank(node, 0, 1, err));
    RG_TRY(need_rank(node, 1, 2, err));
    const rg_value *x = node->inputs[0], *w = node->inputs[1];
    if (w->rank != 2) return rg_error_set(err, RG_ERR_SHAPE, "weight has rank %d; expected 2", w->rank);
    const char *act;
    RG_TRY(rg_node_attr_string(node, "activation", "none", &act, err));
    if (!rg_linear_activation_known(act))
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "unknown activation '%s'", act);
    rg_dim dims[RG_MAX_RANK];
    memcpy(dims, x->dims, sizeof *dims * (size_t)x->rank);
    dims[x->rank - 1] = w->dims[1];
    return rg_value_set_shape(g, node->outputs[0], x->dtype, x->rank, dims, err);
}

/* A key_padding mask is [B, S] of the qkv's B and S, bool or numeric. */
static rg_status check_key_padding(const rg_value *qkv, const rg_value *mask, rg_error *err) {
    rg_dtype t = mask->dtype;
    if (t != RG_DTYPE_BOOL && t != RG_DTYPE_I64 && t != RG_DTYPE_I32 && t != RG_DTYPE_F32 && t != RG_DTYPE_F16 &&
        t != RG_DTYPE_BF16)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "key_padding mask '%s' has dtype %s; expected bool, int or float",
                            mask->name ? mask->name : "", rg_dtype_name(t));
    if (mask->rank != 2)
        return rg_error_set(err, RG_ERR_SHAPE, "key_padding mask '%s' has rank %d; expected [B, S]",
                            mask->name ? mask->name : "", mask->rank);
    for (int i = 0; i < 2; i++) {
        int64_t a, b;
        if (rg_dim_is_const(&mask->dims[i], &a) && rg_dim_is_const(&qkv->dims[i], &b) && a != b)
            return rg_error_set(err, RG_ERR_SHAPE, "key_padding mask '%s' has dim %d = %lld; qkv has %lld",
                                mask->name ? mask->name : "", i, (long long)a, (long long)b);
    }
    return RG_OK;
}

static rg_status infer_attention(rg_graph *g, rg_node *node, rg_error *err) {
    RG_TRY(need_rank(node, 0, 3, err));
    const rg_value *qkv = node->inputs[0];
    if (qkv->rank != 3) return rg_error_set(err, RG_ERR_SHAPE, "qkv has rank %d; expected 3", qkv->rank);
    int64_t heads, head_size;
    RG_TRY(rg_node_attr_int(node, "num_heads", 0, &heads, err));
    RG_TRY(rg_node_attr_int(node, "head_size", 0, &head_size, err));
    if (heads <= 0 || head_size <= 0 || heads > INT32_MAX / head_size)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "num_heads %lld and head_size %lld must be positive",
                            (long long)heads, (long long)head_size);
    const char *mask_kind;
    RG_TRY(rg_node_attr_string(node, "mask_kind", "none", &mask_kind, err));
    bool has_mask = node->ninputs > 1 && node->inputs[1];
    bool key_padding = strcmp(mask_kind, "key_padding") == 0;
    if (strcmp(mask_kind, "none") && strcmp(mask_kind, "additive") && !key_padding)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "unknown mask_kind '%s'", mask_kind);
    if (has_mask != (strcmp(mask_kind, "none") != 0))
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "mask_kind '%s' with%s a mask input", mask_kind,
                            has_mask ? "" : "out");
    const char *empty_rows;
    RG_TRY(rg_node_attr_string(node, "empty_rows", "zeros", &empty_rows, err));
    if (strcmp(empty_rows, "zeros") && strcmp(empty_rows, "uniform"))
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "unknown empty_rows '%s'", empty_rows);
    if (key_padding) RG_TRY(check_key_padding(qkv, node->inputs[1], err));
    if (node->ninputs > 2 && node->inputs[2]) {
        const rg_value *bias = node->inputs[2];
        if (bias->dtype != qkv->dtype)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "bias '%s' has dtype %s; qkv has %s",
                                bias->name ? bias->name : "", rg_dtype_name(bias->dtype), rg_dtype_name(qkv->dtype));
        if (bias->rank < 0 || bias->rank > 4)
            return rg_error_set(err, RG_ERR_SHAPE, "bias '%s' has rank %d; expected at most 4 ([B, H, S, S])",
                                bias->name ? bias->name : "", bias->rank);
    }
    int64_t width;
    if (rg_dim_is_const(&qkv->dims[2], &width) && width != 3 * heads * head_size)
        return rg_error_set(err, RG_ERR_SHAPE, "qkv's last dim is %lld; expected 3 * %lld * %lld", (long long)width,
                            (long long)heads, (long long)head_size);
    rg_dim dims[3] = {qkv->dims[0], qkv->dims[1], rg_dim_const(heads * head_size)};
    return rg_value_set_shape(g, node->outputs[0], qkv->dtype, 3, dims, err);
}

rg_status rg_infer_internal(rg_graph *g, rg_node *node, rg_error *err) {
    switch (node->op) {
    case RG_OP_LAYER_NORM: return infer_layer_norm(g, node, err);
    case RG_OP_LINEAR: return infer_linear(g, node, err);
    case RG_OP_ATTENTION: return infer_attention(g, node, err);
    default: break;
    }
    if (node->op == RG_OP_FUSED) return rg_fused_infer(g, node, err);
    return rg_error_set(err, RG_ERR_UNSUPPORTED, "no shape rule for %s yet", rg_op_name(node->op));
}
