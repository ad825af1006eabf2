/*
 * precision.c — the precision pass (DESIGN.md "Passes", 6): a graph computed
 * in float32 becomes one computed in float16 or bfloat16.
 *
 * Weights and activations take the compile dtype: every float32 constant is
 * converted once here (so the plan stores half the bytes), every Cast to
 * float32 becomes a Cast to the compile dtype, float32 tensor attributes
 * (ConstantOfShape's value) are converted, and shape inference then carries
 * the dtype through every float value. Integer and bool values are left
 * alone, so token ids and masks stay as the model takes them. The kernels
 * keep what must stay wide in float32 whatever their tensors' dtype: GEMM
 * accumulation, LayerNorm statistics and softmax (the CPU kernels widen to
 * float32; the CUDA ones accumulate in float32).
 *
 * The interface does not change: a float32 graph input gets a Cast to the
 * compile dtype in front of its readers, and every float32 graph output is
 * produced in the compile dtype and cast back to float32 as the last step.
 */
#include <string.h>

#include "ir/dtype.h"
#include "ir/rewrite.h"
#include "pass.h"

static rg_status convert_tensor(rg_graph *g, const rg_tensor *src, rg_dtype dtype, rg_tensor **out, rg_error *err) {
    rg_tensor *t;
    RG_TRY(rg_graph_new_tensor(g, dtype, src->rank, src->dims, &t, err));
    size_t n = rg_tensor_numel(src);
    const float *from = src->data;
    uint16_t *to = t->data;
    for (size_t i = 0; i < n; i++) to[i] = dtype == RG_DTYPE_F16 ? rg_f32_to_f16(from[i]) : rg_f32_to_bf16(from[i]);
    *out = t;
    return RG_OK;
}

/* A fresh value of v's shape in `dtype`, named after v. */
static rg_status twin_value(rg_graph *g, const rg_value *v, rg_dtype dtype, const char *suffix, rg_value **out,
                            rg_error *err) {
    char base[256];
    snprintf(base, sizeof base, "%s%s", v->name ? v->name : "value", suffix);
    const char *name;
    RG_TRY(rg_rewrite_unique_name(g, base, &name, err));
    return rg_graph_add_value(g, name, dtype, v->rank, v->dims, out, err);
}

static rg_status add_cast(rg_graph *g, rg_value *from, rg_value *to, rg_dtype dtype, rg_error *err) {
    rg_attr *attr = rg_arena_alloc(&g->arena, sizeof *attr);
    if (!attr) return rg_error_set(err, RG_ERR_NOMEM, "out of memory for a Cast attribute");
    memset(attr, 0, sizeof *attr);
    attr->name = "to";
    attr->kind = RG_ATTR_INT;
    attr->i = rg_dtype_to_onnx(dtype);
    char name[256];
    snprintf(name, sizeof name, "precision/cast/%s", to->name);
    rg_node *node;
    RG_TRY(rg_graph_add_node(g, RG_OP_CAST, name, g->opset > 0 ? g->opset : 17, 1, &from, 1, &to, &node, err));
    rg_node_set_attrs(node, 1, attr);
    return RG_OK;
}

/* A float32 graph input: its readers read a Cast of it instead. */
static rg_status cast_input(rg_graph *g, rg_value *v, rg_dtype dtype, rg_pass_stats *stats, rg_error *err) {
    rg_value *h;
    RG_TRY(twin_value(g, v, dtype, "/half", &h, err));
    while (v->nconsumers > 0) {
        rg_node *reader = v->consumers[0];
        for (uint32_t i = 0; i < reader->ninputs; i++)
            if (reader->inputs[i] == v) RG_TRY(rg_rewrite_set_input(g, reader, i, h, err));
    }
    RG_TRY(add_cast(g, v, h, dtype, err));
    stats->added++;
    return RG_OK;
}

/* A float32 graph output: its producer writes a new value in `dtype` (which
 * its other readers read), and a last Cast writes the output in float32. */
static rg_status cast_output(rg_graph *g, rg_value *v, rg_pass_stats *stats, rg_error *err) {
    if (!v->producer) return RG_OK; /* an input or constant returned as is keeps its dtype */
    rg_node *producer = v->producer;
    rg_value *f;
    RG_TRY(twin_value(g, v, RG_DTYPE_F32, "/f32", &f, err));
    /* readers of v keep reading v: remember them, move everything to f, move them back */
    uint32_t nreaders = v->nconsumers;
    rg_node **readers = NULL;
    if (nreaders) {
        readers = rg_arena_array(&g->arena, nreaders, sizeof *readers);
        if (!readers) return rg_error_set(err, RG_ERR_NOMEM, "out of memory rewriting output '%s'", v->name);
        memcpy(readers, v->consumers, nreaders * sizeof *readers);
    }
    if (!rg_rewrite_can_replace(v, f))
        return rg_error_set(err, RG_ERR_INTERNAL, "cannot move graph output '%s' to its float32 cast", v->name);
    RG_TRY(rg_rewrite_replace_value(g, v, f, err));
    for (uint32_t r = 0; r < nreaders; r++)
        for (uint32_t i = 0; i < readers[r]->ninputs; i++)
            if (readers[r]->inputs[i] == f) RG_TRY(rg_rewrite_set_input(g, readers[r], i, v, err));
    (void)producer;
    /* v lost its name to f (the output keeps the model's name) */
    const char *name;
    RG_TRY(rg_rewrite_unique_name(g, "precision/output", &name, err));
    v->name = name;
    RG_TRY(rg_graph_reindex(g, err));
    RG_TRY(add_cast(g, v, f, RG_DTYPE_F32, err));
    stats->added++;
    return RG_OK;
}

static rg_status convert_attrs(rg_graph *g, rg_node *node, rg_dtype dtype, rg_pass_stats *stats, rg_error *err) {
    bool changed = false;
    for (uint32_t a = 0; a < node->nattrs; a++) {
        rg_attr *attr = &node->attrs[a];
        if (attr->kind == RG_ATTR_TENSOR && attr->t && attr->t->dtype == RG_DTYPE_F32) {
            rg_tensor *t;
            RG_TRY(convert_tensor(g, attr->t, dtype, &t, err));
            attr->t = t;
            changed = true;
        }
        if (node->op == RG_OP_CAST && attr->kind == RG_ATTR_INT && !strcmp(attr->name, "to") &&
            rg_dtype_from_onnx((int)attr->i) == RG_DTYPE_F32) {
            attr->i = rg_dtype_to_onnx(dtype);
            changed = true;
        }
    }
    if (changed) stats->rewritten++;
    return RG_OK;
}

rg_status rg_pass_precision(rg_pass_ctx *cx) {
    rg_graph *g = cx->g;
    rg_dtype dtype = cx->opt ? cx->opt->dtype : RG_DTYPE_UNDEFINED;
    if (dtype == RG_DTYPE_UNDEFINED || dtype == RG_DTYPE_F32) return RG_OK;
    if (dtype != RG_DTYPE_F16 && dtype != RG_DTYPE_BF16)
        return rg_error_set(cx->err, RG_ERR_UNSUPPORTED, "precision: cannot compute a model in %s (only float16, "
                            "bfloat16 or float32)", rg_dtype_name(dtype));
    for (uint32_t i = 0; i < g->nvalues; i++) {
        rg_value *v = g->values[i];
        if (!v->constant || v->constant->dtype != RG_DTYPE_F32 || v->is_output) continue;
        rg_tensor *t;
        RG_TRY(convert_tensor(g, v->constant, dtype, &t, cx->err));
        RG_TRY(rg_value_set_constant(g, v, t, cx->err));
        cx->stats->folded++;
    }
    uint32_t nnodes = g->nnodes;
    for (uint32_t n = 0; n < nnodes; n++) RG_TRY(convert_attrs(g, g->nodes[n], dtype, cx->stats, cx->err));
    /* then the interface (its Casts are new, so not converted above) */
    uint32_t noutputs = g->noutputs;
    for (uint32_t i = 0; i < noutputs; i++) {
        rg_value *v = g->outputs[i];
        if (v->dtype == RG_DTYPE_F32 && !v->constant) RG_TRY(cast_output(g, v, cx->stats, cx->err));
    }
    uint32_t ninputs = g->ninputs;
    for (uint32_t i = 0; i < ninputs; i++) {
        rg_value *v = g->inputs[i];
        if (v->dtype == RG_DTYPE_F32) RG_TRY(cast_input(g, v, dtype, cx->stats, cx->err));
    }
    /* activations: every non-interface float32 value follows its inputs */
    for (uint32_t i = 0; i < g->nvalues; i++) {
        rg_value *v = g->values[i];
        if (v->dtype == RG_DTYPE_F32 && !v->constant && !v->is_input && !v->is_output)
            v->dtype = dtype;
    }
    RG_TRY(rg_graph_topo_sort(g, cx->err));
    rg_status st = rg_infer_shapes(g, cx->err);
    if (st != RG_OK) return rg_error_prefix(cx->err, st, "precision (%s)", rg_dtype_name(dtype));
    return RG_OK;
}
