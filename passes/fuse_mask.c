/*
 * fuse_mask.c — makes the masks of Attention nodes canonical: where the value
 * added to the scores is provably "0 where key j of sequence b counts, a huge
 * negative number elsewhere" for the model's [B, S] attention mask, possibly
 * and-ed with causality (j <= i), the Attention reads the [B, S] mask itself
 * (mask_kind "key_padding") and/or gets causal=1, and the arithmetic that
 * built the [B, 1, S, S] mask (Range, Unsqueeze, Gather/GatherND into the
 * flattened mask, And, Where, Expand, Shape...) dies.
 *
 * Why an interpreter and not a node-by-node pattern: the two torch.onnx
 * exporters write transformers' masking_utils in different shapes (a Gather
 * into the flattened mask at b*S + j; a GatherND at the pair (b, j); extra
 * Reshapes and Expands whose targets come from Shape), and models add their
 * own pieces. So the mask's producers are interpreted symbolically: every
 * value of the cone becomes a "term" (a constant, a symbolic dim, an index
 * 0..n-1 laid along one axis, b*S + j, the pair (b, j), the mask element at
 * (b, j), a conjunction of "mask[b, j] != 0" and "j <= i"), and each axis of
 * a term carries the index variable it varies with (one per Range, merged
 * when broadcasting puts two on the same axis, since both then equal that
 * axis's index). Any op, constant or shape the interpreter does not know
 * makes the term unknown, and the Attention is left as it is (correct).
 *
 * What a fully masked row gets must stay what the exported graph computed:
 * a Where(.., 0, -inf) mask (classic exporter) gives -inf rows that the
 * NaN guard absorbed into Attention turns into zeros (empty_rows "zeros");
 * the dynamo exporter's Where(.., 0, float32 lowest) gives a flat softmax
 * over all S keys, since every score rounds to that one value (empty_rows
 * "uniform"). Masks with a smaller negative fill are left alone.
 *
 * Older transformers (get_extended_attention_mask; e.g. the sentence-
 * transformers MiniLM exports) add (1 - float(mask[b, None, None, :])) *
 * float32 lowest instead: the mask input's axes are index variables of their
 * own, so the same interpreter follows the Unsqueezes, and recognise_additive
 * says when that sum is exactly key_padding (uniform empty rows).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ir/rewrite.h"
#include "pass.h"

#define MAX_VARS 16
#define MAX_DEPTH 48
#define NO_VAR (-1)

typedef enum term_kind {
    T_UNKNOWN,  /* not understood: the Attention keeps its mask */
    T_CONST,    /* every element equals c */
    T_DIM,      /* every element equals the symbolic dim `dim` */
    T_IOTA,     /* element = var a */
    T_SCALED,   /* element = var a * dim */
    T_FLAT,     /* element = var a * dim + var b */
    T_TUPLE,    /* last axis of 2: (var a, var b) */
    T_LEAF,     /* the [B, S] mask input itself (source[var a, var b]), maybe as != 0 */
    T_FLATLEAF, /* that mask flattened to [B*S, 1] */
    T_MASK,     /* element = source[var a, var b], maybe as != 0 */
    T_BOOL,     /* conjunction: (source[a, b] != 0 if pad) && (var lo <= var hi if causal) */
    T_INV,      /* element = 1 - source[var a, var b] (maybe as != 0) */
    T_ADDMASK,  /* element = (1 - source[var a, var b]) * c, c a finite fill */
} term_kind;

typedef struct term {
    uint8_t state; /* 0 not seen, 1 being computed, 2 done */
    term_kind kind;
    int rank;
    int8_t axis_var[RG_MAX_RANK]; /* the variable an axis varies with, NO_VAR if none */
    double c;
    rg_dim dim;
    int8_t a, b;
    bool nonzero; /* T_LEAF/T_FLATLEAF/T_MASK: read as (element != 0) */
    bool pad, causal;
    int8_t lo, hi;
    rg_value *source;
} term;

typedef struct interp {
    rg_graph *g;
    term *terms; /* by value id */
    rg_dim domain[MAX_VARS];
    int8_t parent[MAX_VARS];
    int nvars;
} interp;

static int find(interp *in, int v) {
    while (v != NO_VAR && in->parent[v] != v) v = in->parent[v];
    return v;
}

/* Two variables on one axis both equal its index: one variable. */
static bool unify(interp *in, int x, int y) {
    x = find(in, x), y = find(in, y);
    if (x == y) return true;
    if (!rg_dim_equal(&in->domain[x], &in->domain[y])) return false;
    in->parent[y] = (int8_t)x;
    return true;
}

static bool same_var(interp *in, int x, int y) { return x != NO_VAR && find(in, x) == find(in, y); }

static bool is_int_or_bool(rg_dtype t) {
    return t == RG_DTYPE_BOOL || t == RG_DTYPE_I64 || t == RG_DTYPE_I32;
}

/* Element i of a constant as double. */
static double elem(const rg_tensor *t, size_t i) { return rg_load_as_double(t->dtype, t->data, i); }

static bool has_vars(const term *t) {
    for (int k = 0; k < t->rank; k++)
        if (t->axis_var[k] != NO_VAR) return true;
    return false;
}

static void no_axes(term *t, int rank) {
    t->rank = rank;
    for (int k = 0; k < RG_MAX_RANK; k++) t->axis_var[k] = NO_VAR;
}

/* Right-aligned broadcast of the axes of x and y into out's rank. */
static bool broadcast_axes(interp *in, const rg_value *out, const term *x, const term *y, term *t) {
    int rank = out->rank;
    if (rank < 0 || rank > RG_MAX_RANK || x->rank > rank || y->rank > rank) return false;
    no_axes(t, rank);
    for (int k = 0; k < rank; k++) {
        int kx = k - (rank - x->rank), ky = k - (rank - y->rank);
        int vx = kx >= 0 ? x->axis_var[kx] : NO_VAR, vy = ky >= 0 ? y->axis_var[ky] : NO_VAR;
        if (vx != NO_VAR && vy != NO_VAR && !unify(in, vx, vy)) return false;
        t->axis_var[k] = (int8_t)(vx != NO_VAR ? vx : vy);
    }
    return true;
}

static const term *eval(interp *in, rg_value *v, int depth);

/* Axes listed by a constant input or an INTS attribute (Unsqueeze/Squeeze). */
static bool axes_of(const rg_node *n, int rank, int64_t *axes, int *count) {
    if (n->ninputs > 1 && n->inputs[1]) {
        const rg_tensor *c = n->inputs[1]->constant;
        if (!c || rg_tensor_numel(c) > RG_MAX_RANK) return false;
        *count = (int)rg_tensor_numel(c);
        for (int i = 0; i < *count; i++) axes[i] = (int64_t)elem(c, (size_t)i);
    } else {
        const rg_attr *a = rg_node_attr(n, "axes");
        if (!a || a->kind != RG_ATTR_INTS || a->count > RG_MAX_RANK) return false;
        *count = (int)a->count;
        for (int i = 0; i < *count; i++) axes[i] = a->ints[i];
    }
    for (int i = 0; i < *count; i++) {
        if (axes[i] < 0) axes[i] += rank;
        if (axes[i] < 0 || axes[i] >= rank) return false;
    }
    return true;
}

static bool in_list(int64_t k, const int64_t *list, int count) {
    for (int i = 0; i < count; i++)
        if (list[i] == k) return true;
    return false;
}

static bool int_attr_is(const rg_node *n, const char *name, int64_t dflt, int64_t want) {
    const rg_attr *a = rg_node_attr(n, name);
    if (!a) return dflt == want;
    return a->kind == RG_ATTR_INT && a->i == want;
}

/* A term that does not vary (constant, dim) goes through any reshaping. */
static bool reshape_plain(const term *x, const rg_value *out, term *t) {
    if (has_vars(x) || out->rank < 0 || out->rank > RG_MAX_RANK) return false;
    if (x->kind != T_CONST && x->kind != T_DIM) return false;
    *t = *x;
    no_axes(t, out->rank);
    return true;
}

static bool eval_unsqueeze(const rg_node *n, const term *x, term *t) {
    const rg_value *out = n->outputs[0];
    int64_t axes[RG_MAX_RANK];
    int count;
    if (out->rank < 0 || out->rank > RG_MAX_RANK || !axes_of(n, out->rank, axes, &count)) return false;
    if (x->rank + count != out->rank) return false;
    *t = *x;
    no_axes(t, out->rank);
    for (int k = 0, j = 0; k < out->rank; k++)
        if (!in_list(k, axes, count)) t->axis_var[k] = x->axis_var[j++];
    return true;
}

/* Reshape keeping the axes that are not 1 (in order, equal dims); a chain
 * of Reshapes through a flat vector is looked through. */
static bool eval_reshape(interp *in, rg_node *n, int depth, term *t) {
    rg_value *src = n->inputs[0], *out = n->outputs[0];
    rg_node *p;
    while ((p = src->producer) && p->op == RG_OP_RESHAPE && src->nconsumers == 1 && !src->is_output)
        src = p->inputs[0];
    const term *x = eval(in, src, depth + 1);
    if (!x || x->kind == T_UNKNOWN || src->rank != x->rank || out->rank < 0 || out->rank > RG_MAX_RANK) return false;
    if (reshape_plain(x, out, t)) return true;
    *t = *x;
    no_axes(t, out->rank);
    int j = 0;
    for (int k = 0; k < out->rank; k++) {
        int64_t one;
        if (rg_dim_is_const(&out->dims[k], &one) && one == 1) continue;
        for (; j < src->rank; j++) {
            if (!rg_dim_is_const(&src->dims[j], &one) || one != 1) break;
            if (x->axis_var[j] != NO_VAR) return false;
        }
        if (j >= src->rank || !rg_dim_equal(&src->dims[j], &out->dims[k])) return false;
        t->axis_var[k] = x->axis_var[j++];
    }
    for (; j < src->rank; j++) {
        int64_t one;
        if (!rg_dim_is_const(&src->dims[j], &one) || one != 1 || x->axis_var[j] != NO_VAR) return false;
    }
    return true;
}

static bool eval_expand(const rg_node *n, const term *x, term *t) {
    const rg_value *src = n->inputs[0], *out = n->outputs[0];
    if (out->rank < 0 || out->rank > RG_MAX_RANK || src->rank > out->rank) return false;
    *t = *x;
    no_axes(t, out->rank);
    for (int k = 0; k < out->rank; k++) {
        int j = k - (out->rank - src->rank);
        if (j < 0 || x->axis_var[j] == NO_VAR) continue;
        if (!rg_dim_equal(&src->dims[j], &out->dims[k])) return false;
        t->axis_var[k] = x->axis_var[j];
    }
    return true;
}

/* Gather(Shape(x), k): dim k of x. */
static bool eval_shape_gather(const rg_node *n, term *t) {
    rg_node *shape = n->inputs[0]->producer;
    const rg_tensor *idx = n->inputs[1]->constant;
    if (!shape || shape->op != RG_OP_SHAPE || rg_node_attr(shape, "start") || rg_node_attr(shape, "end")) return false;
    if (!idx || rg_tensor_numel(idx) != 1 || !int_attr_is(n, "axis", 0, 0)) return false;
    const rg_value *x = shape->inputs[0];
    int64_t k = (int64_t)elem(idx, 0);
    if (x->rank < 0 || k < -x->rank || k >= x->rank) return false;
    if (k < 0) k += x->rank;
    no_axes(t, n->outputs[0]->rank);
    t->dim = x->dims[k];
    int64_t value;
    t->kind = T_DIM;
    if (rg_dim_is_const(&t->dim, &value)) t->kind = T_CONST, t->c = (double)value;
    return t->rank >= 0 && t->rank <= RG_MAX_RANK;
}

/* a and b index the [B, S] source in range: a over its B, b over its S. */
static bool indexes_source(interp *in, const rg_value *src, int a, int b) {
    return src->rank == 2 && rg_dim_equal(&in->domain[find(in, a)], &src->dims[0]) &&
           rg_dim_equal(&in->domain[find(in, b)], &src->dims[1]);
}

/* Gather(Flatten(mask), a * S + b) -> mask[a, b], axes of the index and a
 * trailing 1; Gather(Shape(x), k) -> a dim. */
static bool eval_gather(interp *in, rg_node *n, int depth, term *t) {
    if (eval_shape_gather(n, t)) return true;
    const term *data = eval(in, n->inputs[0], depth + 1), *idx = eval(in, n->inputs[1], depth + 1);
    if (!data || !idx || data->kind != T_FLATLEAF || idx->kind != T_FLAT || !int_attr_is(n, "axis", 0, 0)) return false;
    if (!rg_dim_equal(&idx->dim, &data->source->dims[1]) || !indexes_source(in, data->source, idx->a, idx->b))
        return false;
    if (idx->rank + 1 > RG_MAX_RANK || n->outputs[0]->rank != idx->rank + 1) return false;
    *t = *idx;
    t->kind = T_MASK, t->source = data->source, t->nonzero = data->nonzero;
    t->rank = idx->rank + 1;
    t->axis_var[idx->rank] = NO_VAR;
    return true;
}

/* GatherND(mask, (a, b)) -> mask[a, b]. */
static bool eval_gather_nd(interp *in, rg_node *n, int depth, term *t) {
    const term *data = eval(in, n->inputs[0], depth + 1), *idx = eval(in, n->inputs[1], depth + 1);
    if (!data || !idx || data->kind != T_LEAF || idx->kind != T_TUPLE || !int_attr_is(n, "batch_dims", 0, 0))
        return false;
    if (!indexes_source(in, data->source, idx->a, idx->b) || n->outputs[0]->rank != idx->rank - 1) return false;
    *t = *idx;
    t->kind = T_MASK, t->source = data->source, t->nonzero = data->nonzero;
    t->rank = idx->rank - 1;
    return true;
}

/* Concat of two indices along a last axis of 1 -> the pair. */
static bool eval_concat(interp *in, rg_node *n, int depth, term *t) {
    const rg_value *out = n->outputs[0];
    int64_t axis, two, one;
    if (n->ninputs != 2 || out->rank < 1 || !rg_dim_is_const(&out->dims[out->rank - 1], &two) || two != 2) return false;
    const rg_attr *a = rg_node_attr(n, "axis");
    if (!a || a->kind != RG_ATTR_INT) return false;
    axis = a->i < 0 ? a->i + out->rank : a->i;
    if (axis != out->rank - 1) return false;
    const term *x = eval(in, n->inputs[0], depth + 1), *y = eval(in, n->inputs[1], depth + 1);
    if (!x || !y || x->kind != T_IOTA || y->kind != T_IOTA || x->rank != out->rank || y->rank != out->rank) return false;
    for (int i = 0; i < 2; i++)
        if (!rg_dim_is_const(&n->inputs[i]->dims[out->rank - 1], &one) || one != 1) return false;
    if (!broadcast_axes(in, out, x, y, t)) return false;
    t->kind = T_TUPLE, t->a = x->a, t->b = y->a;
    return t->axis_var[out->rank - 1] == NO_VAR;
}

static bool as_bool(const term *x, term *t) {
    *t = *x;
    if (x->kind == T_BOOL) return true;
    if (x->kind == T_CONST && x->c != 0) return t->kind = T_BOOL, t->pad = t->causal = false, true;
    if ((x->kind == T_MASK || x->kind == T_LEAF) && x->nonzero) return t->kind = T_BOOL, t->pad = true, t->causal = false, true;
    return false;
}

static bool eval_and(interp *in, const rg_node *n, const term *x, const term *y, term *t) {
    term bx, by;
    if (!as_bool(x, &bx) || !as_bool(y, &by) || !broadcast_axes(in, n->outputs[0], x, y, t)) return false;
    t->kind = T_BOOL;
    t->pad = bx.pad || by.pad;
    t->causal = bx.causal || by.causal;
    if (bx.pad && by.pad && (bx.source != by.source || !same_var(in, bx.a, by.a) || !same_var(in, bx.b, by.b)))
        return false;
    if (bx.causal && by.causal && (!same_var(in, bx.lo, by.lo) || !same_var(in, bx.hi, by.hi))) return false;
    const term *p = bx.pad ? &bx : &by, *c = bx.causal ? &bx : &by;
    t->source = p->source, t->a = p->a, t->b = p->b;
    t->lo = c->lo, t->hi = c->hi;
    return true;
}

/* lo <= hi between indices, or an index against a constant that it always
 * satisfies (index >= c <= 0). */
static bool eval_compare(interp *in, const rg_node *n, const term *x, const term *y, term *t) {
    if (!broadcast_axes(in, n->outputs[0], x, y, t)) return false;
    bool le = n->op == RG_OP_LESS_OR_EQUAL;
    if (n->op == RG_OP_GREATER_OR_EQUAL) {
        const term *swap = x;
        x = y, y = swap, le = true;
    }
    if (!le) return false;
    t->kind = T_BOOL, t->pad = t->causal = false;
    if (x->kind == T_CONST && y->kind == T_IOTA) return x->c <= 0;
    if (x->kind != T_IOTA || y->kind != T_IOTA) return false;
    t->causal = true, t->lo = x->a, t->hi = y->a;
    return true;
}

static bool eval_arith(interp *in, const rg_node *n, const term *x, const term *y, term *t) {
    if (!broadcast_axes(in, n->outputs[0], x, y, t)) return false;
    if (x->kind == T_CONST && y->kind == T_CONST) {
        t->kind = T_CONST, t->c = n->op == RG_OP_ADD ? x->c + y->c : x->c * y->c;
        return true;
    }
    if (n->op == RG_OP_MUL) {
        if (x->kind != T_IOTA) {
            const term *swap = x;
            x = y, y = swap;
        }
        if (x->kind != T_IOTA || (y->kind != T_DIM && y->kind != T_CONST)) return false;
        if (y->kind == T_CONST && (y->c != floor(y->c) || y->c <= 0)) return false;
        t->kind = T_SCALED, t->a = x->a, t->dim = y->kind == T_DIM ? y->dim : rg_dim_const((int64_t)y->c);
        return true;
    }
    if (x->kind != T_SCALED) {
        const term *swap = x;
        x = y, y = swap;
    }
    if (x->kind == T_SCALED && y->kind == T_IOTA) {
        t->kind = T_FLAT, t->a = x->a, t->dim = x->dim, t->b = y->a;
        return true;
    }
    if (x->kind == T_IOTA && y->kind == T_CONST && y->c == 0) return t->kind = T_IOTA, t->a = x->a, true;
    if (y->kind == T_IOTA && x->kind == T_CONST && x->c == 0) return t->kind = T_IOTA, t->a = y->a, true;
    return false;
}

/* A fresh index variable over `dim`, NO_VAR when there are too many. */
static int new_var(interp *in, rg_dim dim) {
    if (in->nvars >= MAX_VARS) return NO_VAR;
    int v = in->nvars++;
    in->domain[v] = dim;
    in->parent[v] = (int8_t)v;
    return v;
}

/* 1 - mask (the older transformers' get_extended_attention_mask, after the
 * Cast to float). */
static bool eval_sub(interp *in, const rg_node *n, const term *x, const term *y, term *t) {
    if (x->kind != T_CONST || x->c != 1 || (y->kind != T_LEAF && y->kind != T_MASK)) return false;
    if (!broadcast_axes(in, n->outputs[0], x, y, t)) return false;
    t->kind = T_INV, t->a = y->a, t->b = y->b, t->source = y->source, t->nonzero = y->nonzero;
    return true;
}

/* (1 - mask) * fill, either operand order; the fill does not vary. */
static bool eval_fill(interp *in, const rg_node *n, const term *x, const term *y, term *t) {
    if (x->kind != T_INV) {
        const term *swap = x;
        x = y, y = swap;
    }
    if (x->kind != T_INV || y->kind != T_CONST || has_vars(y) || !broadcast_axes(in, n->outputs[0], x, y, t))
        return false;
    t->kind = T_ADDMASK, t->a = x->a, t->b = x->b, t->source = x->source, t->nonzero = x->nonzero, t->c = y->c;
    return true;
}

static bool eval_range(interp *in, const rg_node *n, term *t) {
    const term *start = eval(in, n->inputs[0], MAX_DEPTH), *delta = eval(in, n->inputs[2], MAX_DEPTH);
    const rg_value *out = n->outputs[0];
    if (!start || !delta || start->kind != T_CONST || start->c != 0 || delta->kind != T_CONST || delta->c != 1)
        return false;
    int v = out->rank == 1 ? new_var(in, out->dims[0]) : NO_VAR;
    if (v == NO_VAR) return false;
    no_axes(t, 1);
    t->kind = T_IOTA, t->a = (int8_t)v, t->axis_var[0] = (int8_t)v;
    return true;
}

static bool eval_cast(const rg_node *n, const term *x, term *t) {
    const rg_attr *to = rg_node_attr(n, "to");
    if (!to || to->kind != RG_ATTR_INT) return false;
    bool to_bool = to->i == 9, to_int = to->i == 7 || to->i == 6; /* ONNX BOOL, INT64, INT32 */
    bool to_f32 = to->i == 1;                                      /* ONNX FLOAT */
    *t = *x;
    /* 0/1 (as != 0) or the mask's own integers, exact in float32 for the
     * 0/1 masks the older additive form assumes (see recognise) */
    if (to_f32) return x->kind == T_LEAF || x->kind == T_MASK || x->kind == T_INV;
    if (x->kind == T_CONST) return to_bool ? (t->c = x->c != 0, true) : to_int && x->c == floor(x->c);
    if (x->kind == T_BOOL) return to_bool;
    if (x->kind == T_LEAF || x->kind == T_MASK) {
        if (to_bool) t->nonzero = true;
        return to_bool || (to_int && !x->nonzero);
    }
    return false;
}

static bool eval_node(interp *in, rg_value *v, int depth, term *t) {
    if (v->constant) {
        size_t count = rg_tensor_numel(v->constant);
        if (!count || v->rank > RG_MAX_RANK) return false;
        double c0 = elem(v->constant, 0);
        for (size_t i = 1; i < count; i++)
            if (elem(v->constant, i) != c0) return false;
        no_axes(t, v->rank);
        t->kind = T_CONST, t->c = c0;
        return c0 == c0;
    }
    rg_node *n = v->producer;
    if (!n) {
        if (!v->is_input || v->rank != 2 || !is_int_or_bool(v->dtype)) return false;
        /* its axes are indices over B and S, as a Gather of it by Ranges
         * would give; the Unsqueezes of the older additive form keep them */
        int a = new_var(in, v->dims[0]), b = new_var(in, v->dims[1]);
        if (a == NO_VAR || b == NO_VAR) return false;
        no_axes(t, 2);
        t->kind = T_LEAF, t->source = v, t->nonzero = v->dtype == RG_DTYPE_BOOL;
        t->a = (int8_t)a, t->b = (int8_t)b, t->axis_var[0] = (int8_t)a, t->axis_var[1] = (int8_t)b;
        return true;
    }
    if (n->outputs[0] != v || v->rank < 0 || v->rank > RG_MAX_RANK) return false;
    const term *x = n->ninputs > 0 && n->inputs[0] ? eval(in, n->inputs[0], depth + 1) : NULL;
    switch (n->op) {
    case RG_OP_RANGE: return eval_range(in, n, t);
    case RG_OP_GATHER: return eval_gather(in, n, depth, t);
    case RG_OP_GATHER_ND: return eval_gather_nd(in, n, depth, t);
    case RG_OP_CONCAT: return eval_concat(in, n, depth, t);
    case RG_OP_RESHAPE: return eval_reshape(in, n, depth, t);
    default: break;
    }
    if (!x || x->kind == T_UNKNOWN) return false;
    switch (n->op) {
    case RG_OP_CAST: return eval_cast(n, x, t);
    case RG_OP_UNSQUEEZE: return x->kind == T_CONST || x->kind == T_DIM ? reshape_plain(x, v, t) : eval_unsqueeze(n, x, t);
    case RG_OP_SQUEEZE: return reshape_plain(x, v, t);
    case RG_OP_EXPAND: return eval_expand(n, x, t);
    case RG_OP_FLATTEN:
        if (x->kind != T_LEAF || !int_attr_is(n, "axis", 1, 2)) return false;
        *t = *x, t->kind = T_FLATLEAF;
        no_axes(t, 2);
        return true;
    default: break;
    }
    if (n->ninputs != 2 || !n->inputs[1]) return false;
    const term *y = eval(in, n->inputs[1], depth + 1);
    if (!y || y->kind == T_UNKNOWN) return false;
    switch (n->op) {
    case RG_OP_AND: return eval_and(in, n, x, y, t);
    case RG_OP_LESS_OR_EQUAL:
    case RG_OP_GREATER_OR_EQUAL: return eval_compare(in, n, x, y, t);
    case RG_OP_SUB: return eval_sub(in, n, x, y, t);
    case RG_OP_MUL:
        if (x->kind == T_INV || y->kind == T_INV) return eval_fill(in, n, x, y, t);
        return eval_arith(in, n, x, y, t);
    case RG_OP_ADD: return eval_arith(in, n, x, y, t);
    default: return false;
    }
}

/* The term of v, computed once; NULL when unknown or too deep. */
static const term *eval(interp *in, rg_value *v, int depth) {
    if (!v || depth > MAX_DEPTH) return NULL;
    term *t = &in->terms[v->id];
    if (t->state == 1) return NULL;
    if (t->state == 2) return t->kind == T_UNKNOWN ? NULL : t;
    t->state = 1;
    term r;
    memset(&r, 0, sizeof r);
    for (int k = 0; k < RG_MAX_RANK; k++) r.axis_var[k] = NO_VAR;
    bool ok = eval_node(in, v, depth, &r);
    *t = r;
    t->state = 2;
    if (!ok) t->kind = T_UNKNOWN;
    return ok ? t : NULL;
}

/* What the mask of one Attention turned out to be. */
typedef struct mask_form {
    rg_value *padding; /* the [B, S] mask, or NULL */
    bool causal;
    bool uniform; /* empty rows: flat softmax (lowest-float fill) rather than zeros (-inf fill) */
} mask_form;

/* The var on the frame axis k ([B, H, S_query, S_key]) of a term of rank r. */
static int frame_var(const term *t, int k) {
    int j = k - (4 - t->rank);
    return j >= 0 ? t->axis_var[j] : NO_VAR;
}

/* The older transformers form (get_extended_attention_mask): the mask
 * unsqueezed to [B, 1, 1, S], Cast to float32, (1 - m) * fill. A masked key
 * gets score + fill and an unmasked one score + (-0) = score. Exact when:
 * - the fill is finite: (1 - 1) * -inf is NaN, so a -inf fill poisons every
 *   row in the exported graph and is left alone;
 * - the fill is <= -1e30: score + fill then rounds to the fill itself for any
 *   score below ~1e22 in magnitude (float32 has 24 bits), so masked keys get
 *   exp(fill - max) = 0 beside an unmasked key, and a row whose every key is
 *   masked has S equal scores: a flat softmax, the mean of V ("uniform").
 *   A fill like -10000 only shifts such a row (the softmax of the scores
 *   themselves, not of any key_padding form) and stays additive;
 * - the mask holds 0/1 (or is read as != 0 through a bool Cast): an int mask
 *   of 2 would give (1 - 2) * fill = +huge, which the exported graph itself
 *   never meant; [B, S] attention masks are 0/1 by the tokenizers'
 *   convention, and ragged's key_padding reads "== 0" as masked. */
static bool recognise_additive(interp *in, rg_node *att, mask_form *form) {
    rg_value *mask = att->inputs[1], *qkv = att->inputs[0];
    if (mask->dtype != RG_DTYPE_F32 || mask->rank < 2 || mask->rank > 4 || qkv->rank != 3) return false;
    const term *t = eval(in, mask, 0);
    if (!t || t->kind != T_ADDMASK || !isfinite(t->c) || t->c > -1e30 || t->c < -FLT_MAX) return false;
    term framed = *t;
    no_axes(&framed, 4);
    for (int k = 0; k < t->rank; k++) framed.axis_var[k + 4 - t->rank] = t->axis_var[k];
    if (frame_var(&framed, 1) != NO_VAR || frame_var(&framed, 2) != NO_VAR) return false;
    if (!same_var(in, frame_var(&framed, 0), t->a) || !same_var(in, frame_var(&framed, 3), t->b)) return false;
    const rg_value *src = t->source;
    if (!rg_dim_equal(&src->dims[0], &qkv->dims[0]) || !rg_dim_equal(&src->dims[1], &qkv->dims[1])) return false;
    memset(form, 0, sizeof *form);
    form->padding = t->source;
    form->uniform = true;
    return true;
}

/* Attention's mask = Where(cond, 0, fill) with cond "key j of b counts
 * (and j <= i)" laid out on [B, H, S, S], or the additive form above. */
static bool recognise(interp *in, rg_node *att, mask_form *form) {
    rg_value *mask = att->inputs[1], *qkv = att->inputs[0];
    rg_node *where = mask->producer;
    if (where && where->op == RG_OP_MUL) return recognise_additive(in, att, form);
    if (!where || where->op != RG_OP_WHERE || mask->rank < 2 || mask->rank > 4 || qkv->rank != 3) return false;
    const term *zero = eval(in, where->inputs[1], 0), *fill = eval(in, where->inputs[2], 0);
    if (!zero || !fill || zero->kind != T_CONST || zero->c != 0 || fill->kind != T_CONST || has_vars(fill)) return false;
    if (fill->c != -INFINITY && fill->c > -1e30) return false;
    const term *c = eval(in, where->inputs[0], 0);
    term cond;
    if (!c || !as_bool(c, &cond) || cond.rank > mask->rank) return false;
    memset(form, 0, sizeof *form);
    form->uniform = fill->c != -INFINITY;
    term framed = cond;
    no_axes(&framed, 4);
    for (int k = 0; k < cond.rank; k++) framed.axis_var[k + 4 - cond.rank] = cond.axis_var[k];
    if (frame_var(&framed, 1) != NO_VAR) return false;
    if (cond.pad) {
        if (!same_var(in, frame_var(&framed, 0), cond.a) || !same_var(in, frame_var(&framed, 3), cond.b)) return false;
        const rg_value *src = cond.source;
        if (!rg_dim_equal(&src->dims[0], &qkv->dims[0]) || !rg_dim_equal(&src->dims[1], &qkv->dims[1])) return false;
        form->padding = cond.source;
    }
    if (cond.causal) {
        if (!same_var(in, frame_var(&framed, 3), cond.lo) || !same_var(in, frame_var(&framed, 2), cond.hi)) return false;
        if (!rg_dim_equal(&in->domain[find(in, cond.lo)], &qkv->dims[1])) return false;
        form->causal = true;
    }
    return true;
}

/* Rewrites the Attention's mask attributes and input. */
static rg_status apply(rg_pass_ctx *cx, rg_node *att, const mask_form *form) {
    rg_graph *g = cx->g;
    rg_attr *attrs = rg_arena_array(&g->arena, att->nattrs + 3, sizeof *attrs);
    if (!attrs) return rg_error_set(cx->err, RG_ERR_NOMEM, "out of memory for attributes");
    uint32_t n = 0;
    int64_t causal = 0;
    for (uint32_t i = 0; i < att->nattrs; i++) {
        const rg_attr *a = &att->attrs[i];
        if (!strcmp(a->name, "causal")) {
            causal = a->kind == RG_ATTR_INT ? a->i : 0;
            continue;
        }
        if (!strcmp(a->name, "mask_kind") || !strcmp(a->name, "empty_rows")) continue;
        attrs[n++] = *a;
    }
    const char *kind = form->padding ? "key_padding" : "none";
    const char *rows = form->uniform ? "uniform" : "zeros";
    attrs[n++] = (rg_attr){.name = "mask_kind", .kind = RG_ATTR_STRING, .s = kind, .s_len = strlen(kind)};
    attrs[n++] = (rg_attr){.name = "causal", .kind = RG_ATTR_INT, .i = causal || form->causal};
    attrs[n++] = (rg_attr){.name = "empty_rows", .kind = RG_ATTR_STRING, .s = rows, .s_len = strlen(rows)};
    rg_node_set_attrs(att, n, attrs);
    RG_TRY(rg_rewrite_set_input(g, att, 1, form->padding, cx->err));
    rg_status st = rg_infer_node(g, att, cx->err);
    if (st != RG_OK) {
        char label[RG_LABEL_MAX];
        return rg_error_prefix(cx->err, st, "canonical mask of %s", rg_node_label(att, label, sizeof label));
    }
    cx->stats->rewritten++;
    return RG_OK;
}

static bool additive_attention(const rg_node *n) {
    const rg_attr *kind = rg_node_attr(n, "mask_kind");
    return n->op == RG_OP_ATTENTION && n->ninputs > 1 && n->inputs[1] && kind && kind->kind == RG_ATTR_STRING &&
           !strcmp(kind->s, "additive");
}

rg_status rg_pass_fuse_mask(rg_pass_ctx *cx) {
    rg_graph *g = cx->g;
    size_t count = g->nvalues ? g->nvalues : 1;
    interp in = {.g = g, .terms = rg_mem_calloc(g->alloc, count, sizeof(term))};
    if (!in.terms) return rg_error_set(cx->err, RG_ERR_NOMEM, "out of memory for %zu mask terms", count);
    rg_status st = RG_OK;
    for (uint32_t i = 0; i < g->nnodes && st == RG_OK; i++) {
        rg_node *n = g->nodes[i];
        if (!additive_attention(n)) continue;
        /* a fresh interpretation per Attention: variables are merged while
         * interpreting, and a failed attempt must not leave merges behind */
        memset(in.terms, 0, count * sizeof(term));
        in.nvars = 0;
        mask_form form;
        if (recognise(&in, n, &form)) st = apply(cx, n, &form);
    }
    rg_mem_free(g->alloc, in.terms, count * sizeof(term));
    if (st != RG_OK) return st;
    return rg_rewrite_remove_dead(g, &cx->stats->removed, cx->err);
}
