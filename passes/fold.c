/*
 * fold.c — the fold pass: shape subgraphs into constants and symbolic dims,
 * then constant folding through the caller's evaluator.
 *
 * Exported transformers compute their reshape targets at run time:
 * Shape -> Gather -> Unsqueeze -> Concat -> Reshape, with Equal/Where,
 * ConstantOfShape and Expand around them. Shape inference (ir/shape.c) already
 * follows such subgraphs and knows their elements as symbolic dims (the
 * known-value table), so this pass
 *
 *  1. makes every small integer value whose elements are all known numbers a
 *     constant (Shape of a fixed-size tensor, a Gather of a constant dim...);
 *  2. rewrites a Reshape whose target is known symbolically, e.g.
 *     [batch, seq, 12, 32], to a constant target using ONNX's own notation:
 *     0 copies the input's dim (batch and seq equal the input's dims 0 and
 *     1), and at most one -1 takes what is left; [0, 0, 12, 32] is valid
 *     ONNX and lets the whole shape subgraph die;
 *  3. rewrites an Expand whose target is known symbolically to a constant
 *     target where every dim either is a number or equals the input's (an
 *     Expand's 1 keeps the input's dim);
 *  4. replaces a uniform value (every element equal: a ConstantOfShape, or a
 *     slice, expansion or Gather/GatherElements pick of a constant such as
 *     HF BERT's zero token_type_ids buffer) read by a broadcasting
 *     elementwise op by a scalar, and a Gather
 *     of table rows by such uniform indices by the one row it selects, when
 *     the op's other inputs alone already give its output shape;
 *  5. evaluates every node whose inputs are all constants (outputs up to
 *     fold_max_bytes) with the evaluator and makes its outputs constants;
 *  6. gives a Slice whose starts or ends are one dim of a graph input known
 *     symbolically (the position-ids Slice of the embeddings to the
 *     sequence length, computed as Shape -> Gather -> Unsqueeze) that one
 *     dim straight from Shape(input, start=d, end=d+1): the one node that
 *     has to stay, since ONNX has no other way to read a dim, and the
 *     arithmetic around it dies.
 *
 * These repeat until nothing changes (each round can enable the others),
 * then the cleanup pass removes what became dead and what became a no-op.
 */
#include <string.h>

#include "ir/rewrite.h"
#include "pass.h"

#define MAX_ROUNDS 8

typedef struct fold_ctx {
    rg_pass_ctx *cx;
    rg_graph *g;
    rg_known_value *known;
    uint32_t nknown;
    bool changed;
} fold_ctx;

static const rg_known_value *known_of(const fold_ctx *f, const rg_value *v) {
    if (!v || v->id >= f->nknown || f->known[v->id].len < 0) return NULL;
    return &f->known[v->id];
}

/* A new constant value named after `base`, holding t. */
static rg_status add_constant(fold_ctx *f, const char *base, rg_tensor *t, rg_value **out) {
    const char *name;
    RG_TRY(rg_rewrite_unique_name(f->g, base, &name, f->cx->err));
    rg_value *v;
    RG_TRY(rg_graph_add_value(f->g, name, t->dtype, 0, NULL, &v, f->cx->err));
    RG_TRY(rg_value_set_constant(f->g, v, t, f->cx->err));
    *out = v;
    return RG_OK;
}

static rg_status new_i64_vector(fold_ctx *f, const int64_t *elems, int n, rg_tensor **out) {
    int64_t dim = n;
    RG_TRY(rg_graph_new_tensor(f->g, RG_DTYPE_I64, 1, &dim, out, f->cx->err));
    if (n) memcpy((*out)->data, elems, sizeof *elems * (size_t)n);
    return RG_OK;
}

/* ------------------------------------------------ 1. known numbers */

static bool store_int(rg_tensor *t, size_t i, int64_t x) {
    switch (t->dtype) {
    case RG_DTYPE_I64: ((int64_t *)t->data)[i] = x; return true;
    case RG_DTYPE_I32:
        if (x < INT32_MIN || x > INT32_MAX) return false;
        ((int32_t *)t->data)[i] = (int32_t)x;
        return true;
    case RG_DTYPE_BOOL: ((uint8_t *)t->data)[i] = x != 0; return true;
    default: return false;
    }
}

static rg_status fold_known_value(fold_ctx *f, rg_value *v) {
    const rg_known_value *k = known_of(f, v);
    if (!k || v->constant || v->is_input || v->rank < 0 || v->rank > 1) return RG_OK;
    if (!v->nconsumers && !v->is_output) return RG_OK;
    if (v->dtype != RG_DTYPE_I64 && v->dtype != RG_DTYPE_I32 && v->dtype != RG_DTYPE_BOOL) return RG_OK;
    int64_t len;
    if (v->rank == 0 ? k->len != 1 : !rg_dim_is_const(&v->dims[0], &len) || len != k->len) return RG_OK;
    int64_t elems[RG_MAX_RANK];
    for (int i = 0; i < k->len; i++)
        if (!rg_dim_is_const(&k->elems[i], &elems[i])) return RG_OK;
    int64_t dim = k->len;
    rg_tensor *t;
    RG_TRY(rg_graph_new_tensor(f->g, v->dtype, v->rank, &dim, &t, f->cx->err));
    for (int i = 0; i < k->len; i++)
        if (!store_int(t, (size_t)i, elems[i])) return RG_OK; /* the tensor stays unused in the arena */
    RG_TRY(rg_rewrite_make_constant(f->g, v, t, f->cx->err));
    f->cx->stats->folded++;
    f->changed = true;
    return RG_OK;
}

/* ------------------------------------------------ 2. Reshape targets */

static rg_status set_constant_input(fold_ctx *f, rg_node *n, uint32_t index, const int64_t *elems, int count,
                                    const char *what) {
    rg_tensor *t;
    RG_TRY(new_i64_vector(f, elems, count, &t));
    char base[RG_ERROR_MESSAGE_MAX];
    snprintf(base, sizeof base, "%s/%s", n->outputs[0]->name[0] ? n->outputs[0]->name : n->name, what);
    rg_value *c;
    RG_TRY(add_constant(f, base, t, &c));
    RG_TRY(rg_rewrite_set_input(f->g, n, index, c, f->cx->err));
    f->cx->stats->rewritten++;
    f->changed = true;
    return RG_OK;
}

/* A fresh attribute array with allowzero=0; the imported one stays as it
 * was. */
static rg_status clear_allowzero(fold_ctx *f, rg_node *n) {
    rg_attr *attrs = rg_arena_array(&f->g->arena, n->nattrs, sizeof *attrs);
    if (!attrs) return rg_error_set(f->cx->err, RG_ERR_NOMEM, "out of memory rewriting a Reshape");
    memcpy(attrs, n->attrs, sizeof *attrs * n->nattrs);
    for (uint32_t i = 0; i < n->nattrs; i++)
        if (strcmp(attrs[i].name, "allowzero") == 0) attrs[i].i = 0;
    rg_node_set_attrs(n, n->nattrs, attrs);
    return RG_OK;
}

static rg_status fold_reshape(fold_ctx *f, rg_node *n) {
    rg_value *x = n->inputs[0], *target = n->inputs[1];
    const rg_known_value *k = known_of(f, target);
    if (target->constant || !k || x->rank < 0) return RG_OK;
    int64_t allowzero = 0;
    if (n->opset >= 14) RG_TRY(rg_node_attr_int(n, "allowzero", 0, &allowzero, f->cx->err));
    /* allowzero only matters for literal zeros: without any, the target means
     * the same under allowzero=0, where our 0s copy (a copied 0 is 0 too) */
    bool literal_zero = false;
    for (int i = 0; i < k->len; i++) {
        int64_t c;
        literal_zero |= rg_dim_is_const(&k->elems[i], &c) && c == 0;
    }
    bool may_copy = !allowzero || !literal_zero;
    int64_t elems[RG_MAX_RANK];
    int infer_at = -1;
    bool copies = false;
    for (int i = 0; i < k->len; i++) {
        int64_t c;
        if (rg_dim_is_const(&k->elems[i], &c)) {
            elems[i] = c;
            if (c == -1) {
                if (infer_at >= 0) return RG_OK; /* invalid; shape inference names it */
                infer_at = i;
            }
            continue;
        }
        elems[i] = INT64_MIN;
        if (may_copy && i < x->rank && rg_dim_equal(&k->elems[i], &x->dims[i])) {
            elems[i] = 0;
            copies = true;
        }
    }
    for (int i = 0; i < k->len; i++) {
        if (elems[i] != INT64_MIN) continue;
        /* one dim that is neither a number nor the input's: -1 recovers it
         * from the element count, which the original reshape had to match */
        if (infer_at >= 0) return RG_OK;
        infer_at = i;
        elems[i] = -1;
    }
    if (copies && allowzero) RG_TRY(clear_allowzero(f, n));
    return set_constant_input(f, n, 1, elems, k->len, "shape");
}

/* ------------------------------------------------ 3. Expand targets */

static rg_status fold_expand(fold_ctx *f, rg_node *n) {
    rg_value *x = n->inputs[0], *target = n->inputs[1];
    const rg_known_value *k = known_of(f, target);
    if (target->constant || !k || x->rank < 0) return RG_OK;
    int64_t elems[RG_MAX_RANK];
    for (int i = 0; i < k->len; i++) {
        int xi = x->rank - k->len + i; /* aligned from the right */
        if (rg_dim_is_const(&k->elems[i], &elems[i])) continue;
        if (xi < 0 || !rg_dim_equal(&k->elems[i], &x->dims[xi])) return RG_OK;
        elems[i] = 1;
    }
    return set_constant_input(f, n, 1, elems, k->len, "shape");
}

/* ------------------------------------------------ 4. uniform values */

/* Ops that move or replicate elements of input 0 without changing them. */
static bool moves_elements(rg_op op) {
    switch (op) {
    case RG_OP_SLICE:
    case RG_OP_EXPAND:
    case RG_OP_RESHAPE:
    case RG_OP_UNSQUEEZE:
    case RG_OP_SQUEEZE:
    case RG_OP_IDENTITY:
    case RG_OP_FLATTEN:
    case RG_OP_TRANSPOSE:
    case RG_OP_TILE: return true;
    default: return false;
    }
}

/* When every element of v is the same, the tensor holding it (one element,
 * at index 0, of v's dtype) is written to *out. */
static bool uniform_source(const rg_value *v, const rg_tensor **out) {
    for (int depth = 0; v && depth < 64; depth++) {
        if (v->constant) {
            const rg_tensor *t = v->constant;
            size_t n = rg_tensor_numel(t), size = rg_dtype_size(t->dtype);
            if (!n || !t->data || !size) return false;
            for (size_t i = 1; i < n; i++)
                if (memcmp((const char *)t->data + i * size, t->data, size) != 0) return false;
            *out = t;
            return true;
        }
        const rg_node *p = v->producer;
        if (!p) return false;
        if (p->op == RG_OP_CONSTANT_OF_SHAPE) {
            const rg_attr *a = rg_node_attr(p, "value");
            if (!a || a->kind != RG_ATTR_TENSOR || !a->t || !a->t->data || rg_tensor_numel(a->t) != 1) return false;
            *out = a->t;
            return true;
        }
        /* a Gather or GatherElements picks elements of its data: of uniform
         * data, every pick is the same value (an index out of range, which
         * the kernel would refuse, is then not diagnosed) */
        bool picks = p->op == RG_OP_GATHER || p->op == RG_OP_GATHER_ELEMENTS;
        if ((!moves_elements(p->op) && !picks) || !p->ninputs || p->outputs[0] != v) return false;
        v = p->inputs[0];
    }
    return false;
}

/* Whether input `skip` of a broadcasting node could be replaced by anything
 * that broadcasts to its output: the other inputs alone give the output's
 * shape. */
static bool others_give_shape(const rg_node *n, uint32_t skip) {
    const rg_value *y = n->outputs[0];
    if (!rg_op_has(n->op, RG_OPF_BROADCAST) || n->noutputs != 1 || !y || y->rank < 0) return false;
    for (int d = 0; d < y->rank; d++) {
        bool covered = false;
        for (uint32_t i = 0; i < n->ninputs && !covered; i++) {
            const rg_value *x = n->inputs[i];
            if (i == skip || !x || x->rank < 0) continue;
            int xd = x->rank - y->rank + d;
            covered = xd >= 0 && rg_dim_equal(&x->dims[xd], &y->dims[d]);
        }
        if (!covered) return false;
    }
    return true;
}

/* Points every broadcasting reader of v that allows it at c instead. */
static rg_status replace_in_broadcasts(fold_ctx *f, rg_value *v, rg_value *c) {
    for (uint32_t r = 0; r < v->nconsumers;) {
        rg_node *user = v->consumers[r];
        uint32_t slot = 0;
        while (user->inputs[slot] != v) slot++;
        if (!others_give_shape(user, slot) || user->inputs[slot]->dtype != c->dtype) {
            r++;
            continue;
        }
        RG_TRY(rg_rewrite_set_input(f->g, user, slot, c, f->cx->err)); /* drops user from v's list */
        f->cx->stats->rewritten++;
        f->changed = true;
    }
    return RG_OK;
}

static bool has_broadcast_reader(const rg_value *v) {
    for (uint32_t r = 0; r < v->nconsumers; r++) {
        const rg_node *user = v->consumers[r];
        for (uint32_t slot = 0; slot < user->ninputs; slot++)
            if (user->inputs[slot] == v && others_give_shape(user, slot)) return true;
    }
    return false;
}

static rg_status fold_uniform(fold_ctx *f, rg_value *v) {
    const rg_tensor *src;
    if (v->constant || !v->producer || !has_broadcast_reader(v) || !uniform_source(v, &src)) return RG_OK;
    if (src->dtype != v->dtype) return RG_OK;
    rg_tensor *t;
    RG_TRY(rg_graph_new_tensor(f->g, v->dtype, 0, NULL, &t, f->cx->err));
    memcpy(t->data, src->data, rg_dtype_size(v->dtype));
    char base[RG_ERROR_MESSAGE_MAX];
    snprintf(base, sizeof base, "%s/scalar", v->name[0] ? v->name : "uniform");
    rg_value *c;
    RG_TRY(add_constant(f, base, t, &c));
    return replace_in_broadcasts(f, v, c);
}

/* Gather(table, uniform indices i) along axis 0 repeats row table[i]; a
 * broadcasting reader may read that row instead. */
static rg_status fold_gather_rows(fold_ctx *f, rg_node *n) {
    rg_value *table = n->inputs[0], *idx = n->inputs[1], *y = n->outputs[0];
    int64_t axis;
    RG_TRY(rg_node_attr_int(n, "axis", 0, &axis, f->cx->err));
    const rg_tensor *src;
    if (!table->constant || idx->constant || axis != 0 || table->rank < 1 || !has_broadcast_reader(y) ||
        !uniform_source(idx, &src))
        return RG_OK;
    const rg_tensor *tt = table->constant;
    if (src->dtype != RG_DTYPE_I32 && src->dtype != RG_DTYPE_I64) return RG_OK;
    int64_t rows = tt->dims[0];
    int64_t i = src->dtype == RG_DTYPE_I32 ? *(const int32_t *)src->data : *(const int64_t *)src->data;
    if (i < -rows || i >= rows) return RG_OK; /* out of range: the kernel reports it at run time */
    if (i < 0) i += rows;
    rg_tensor *row;
    RG_TRY(rg_graph_new_tensor(f->g, tt->dtype, tt->rank - 1, tt->dims + 1, &row, f->cx->err));
    memcpy(row->data, (const char *)tt->data + (size_t)i * row->nbytes, row->nbytes);
    char base[RG_ERROR_MESSAGE_MAX];
    snprintf(base, sizeof base, "%s/row%lld", table->name, (long long)i);
    rg_value *c;
    RG_TRY(add_constant(f, base, row, &c));
    return replace_in_broadcasts(f, y, c);
}

/* ------------------------------------------------ 5. evaluation */

static bool all_inputs_constant(const rg_node *n) {
    bool any = false;
    for (uint32_t i = 0; i < n->ninputs; i++) {
        if (!n->inputs[i]) continue;
        if (!n->inputs[i]->constant) return false;
        any = true;
    }
    return any;
}

static bool wanted(const rg_value *v) { return v && (v->nconsumers || v->is_output); }

static rg_status adopt_outputs(fold_ctx *f, rg_node *n, rg_tensor *out, size_t cap) {
    char label[RG_LABEL_MAX];
    for (uint32_t o = 0; o < n->noutputs; o++) {
        const rg_value *v = n->outputs[o];
        if (!wanted(v)) continue;
        if (!out[o].data && out[o].nbytes) return RG_ERR_UNSUPPORTED;
        if (out[o].nbytes > cap) return RG_ERR_UNSUPPORTED;
        if (v->dtype != RG_DTYPE_UNDEFINED && out[o].dtype != v->dtype)
            return rg_error_set(f->cx->err, RG_ERR_INTERNAL, "node %s: evaluated output '%s' is %s, expected %s",
                                rg_node_label(n, label, sizeof label), v->name, rg_dtype_name(out[o].dtype),
                                rg_dtype_name(v->dtype));
    }
    for (uint32_t o = 0; o < n->noutputs; o++) {
        rg_value *v = n->outputs[o];
        if (!wanted(v)) continue;
        rg_tensor *t;
        RG_TRY(rg_graph_new_tensor(f->g, out[o].dtype, out[o].rank, out[o].dims, &t, f->cx->err));
        if (t->nbytes) memcpy(t->data, out[o].data, t->nbytes);
        RG_TRY(rg_rewrite_make_constant(f->g, v, t, f->cx->err));
        f->cx->stats->folded++;
    }
    f->changed = true;
    return RG_OK;
}

#define EVAL_MAX_ARITY 64

static rg_status evaluate(fold_ctx *f, rg_node *n) {
    const rg_pass_evaluator *ev = f->cx->opt->eval;
    if (!ev || !ev->eval || !all_inputs_constant(n) || n->ninputs > EVAL_MAX_ARITY || n->noutputs > EVAL_MAX_ARITY)
        return RG_OK;
    bool any = false;
    for (uint32_t o = 0; o < n->noutputs; o++) any |= wanted(n->outputs[o]) && !n->outputs[o]->constant;
    if (!any) return RG_OK;
    const rg_tensor *in[EVAL_MAX_ARITY];
    rg_tensor out[EVAL_MAX_ARITY];
    for (uint32_t i = 0; i < n->ninputs; i++) in[i] = n->inputs[i] ? n->inputs[i]->constant : NULL;
    memset(out, 0, sizeof out[0] * n->noutputs);
    size_t cap = f->cx->opt->fold_max_bytes ? f->cx->opt->fold_max_bytes : RG_PASS_FOLD_MAX_BYTES;
    char label[RG_LABEL_MAX];
    rg_status st = ev->eval(ev->user, n, in, out, f->cx->err);
    if (st == RG_OK) st = adopt_outputs(f, n, out, cap);
    else if (st != RG_ERR_UNSUPPORTED)
        st = rg_error_prefix(f->cx->err, st, "folding node %s", rg_node_label(n, label, sizeof label));
    for (uint32_t o = 0; o < n->noutputs; o++)
        if (out[o].data && ev->free) ev->free(ev->user, &out[o]);
    if (st == RG_ERR_UNSUPPORTED) {
        rg_error_clear(f->cx->err);
        return RG_OK;
    }
    return st;
}

/* ------------------------------------------------ 6. one dim of an input */

/* A graph input and axis whose dim is d. */
static bool input_with_dim(const rg_graph *g, const rg_dim *d, rg_value **x, int *axis) {
    for (uint32_t i = 0; i < g->ninputs; i++) {
        rg_value *in = g->inputs[i];
        if (!in || in->constant) continue;
        for (int a = 0; a < in->rank; a++)
            if (rg_dim_equal(&in->dims[a], d)) return *x = in, *axis = a, true;
    }
    return false;
}

static rg_status fold_slice_bounds(fold_ctx *f, rg_node *n) {
    for (uint32_t slot = 1; slot <= 2 && slot < n->ninputs; slot++) {
        rg_value *v = n->inputs[slot];
        const rg_known_value *k = known_of(f, v);
        int64_t c;
        if (!v || v->constant || !k || k->len != 1 || v->rank != 1 || v->dtype != RG_DTYPE_I64) continue;
        if (rg_dim_is_const(&k->elems[0], &c) || (v->producer && v->producer->op == RG_OP_SHAPE)) continue;
        rg_value *x;
        int axis;
        if (!input_with_dim(f->g, &k->elems[0], &x, &axis)) continue;
        char base[RG_ERROR_MESSAGE_MAX];
        snprintf(base, sizeof base, "%s/dim%d", x->name, axis);
        const char *name;
        RG_TRY(rg_rewrite_unique_name(f->g, base, &name, f->cx->err));
        rg_value *out;
        RG_TRY(rg_graph_add_value(f->g, name, RG_DTYPE_UNDEFINED, -1, NULL, &out, f->cx->err));
        rg_node *shape;
        int opset = f->g->opset < 15 ? 15 : f->g->opset; /* start/end attributes */
        RG_TRY(rg_graph_add_node(f->g, RG_OP_SHAPE, name, opset, 1, &x, 1, &out, &shape, f->cx->err));
        rg_attr *a = rg_arena_array(&f->g->arena, 2, sizeof *a);
        if (!a) return rg_error_set(f->cx->err, RG_ERR_NOMEM, "out of memory for attributes");
        a[0] = (rg_attr){.name = "start", .kind = RG_ATTR_INT, .i = axis};
        a[1] = (rg_attr){.name = "end", .kind = RG_ATTR_INT, .i = axis + 1};
        rg_node_set_attrs(shape, 2, a);
        RG_TRY(rg_infer_node(f->g, shape, f->cx->err));
        RG_TRY(rg_rewrite_set_input(f->g, n, slot, out, f->cx->err));
        f->cx->stats->added++, f->cx->stats->rewritten++;
        f->changed = true;
    }
    return RG_OK;
}

/* ------------------------------------------------ the rounds */

static rg_status one_round(fold_ctx *f) {
    rg_graph *g = f->g;
    uint32_t nnodes = g->nnodes; /* nodes added here wait for the next round */
    for (uint32_t i = 0; i < nnodes; i++) {
        rg_node *n = g->nodes[i];
        for (uint32_t o = 0; o < n->noutputs; o++)
            if (n->outputs[o]) RG_TRY(fold_known_value(f, n->outputs[o]));
        if (n->op == RG_OP_RESHAPE) RG_TRY(fold_reshape(f, n));
        if (n->op == RG_OP_EXPAND) RG_TRY(fold_expand(f, n));
        if (n->op == RG_OP_GATHER) RG_TRY(fold_gather_rows(f, n));
        if (n->op == RG_OP_SLICE) RG_TRY(fold_slice_bounds(f, n));
        if (n->noutputs && n->outputs[0]) RG_TRY(fold_uniform(f, n->outputs[0]));
        RG_TRY(evaluate(f, n));
    }
    RG_TRY(rg_graph_topo_sort(g, f->cx->err)); /* Shape nodes of step 6 were appended */
    return rg_rewrite_remove_dead(g, &f->cx->stats->removed, f->cx->err);
}

rg_status rg_pass_fold(rg_pass_ctx *cx) {
    rg_graph *g = cx->g;
    fold_ctx f = {.cx = cx, .g = g};
    rg_status st = RG_OK;
    for (int round = 0; round < MAX_ROUNDS; round++) {
        f.nknown = g->nvalues ? g->nvalues : 1;
        f.known = rg_mem_calloc(g->alloc, f.nknown, sizeof *f.known);
        if (!f.known) return rg_error_set(cx->err, RG_ERR_NOMEM, "out of memory folding %u values", g->nvalues);
        st = rg_infer_shapes_known(g, f.known, f.nknown, cx->err);
        f.changed = false;
        if (st == RG_OK) st = one_round(&f);
        rg_mem_free(g->alloc, f.known, sizeof *f.known * f.nknown);
        if (st != RG_OK || !f.changed) break;
    }
    if (st != RG_OK) return st;
    RG_TRY(rg_infer_shapes(g, cx->err));
    return rg_pass_cleanup(cx);
}
