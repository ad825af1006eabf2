/*
 * fuse_reduce.c — elementwise-into-reduction fusion (DESIGN.md "Passes",
 * step 4): every remaining chain of elementwise ops, with or without the
 * row reductions next to it (Softmax, LayerNormalization, ReduceMean, Sum
 * and Max over the last axis), becomes one Fused node whose expression
 * program (ir/fused.h) computes the same values row by row.
 *
 * Grouping walks the nodes in topological order. A node joins the group of
 * one of its producers when
 *   - its shape fits the group's iteration shape I exactly: an elementwise
 *     output (and a reduction's input) is I itself, or I with last dim 1
 *     (one value per row); nothing is guessed about symbolic dims;
 *   - no input it reads from outside the group is produced by a node that
 *     needs a member (searched backwards, stopping at nodes before the
 *     group's first). Then nothing outside the group both reads a member
 *     and feeds one, so the Fused node cannot close a cycle.
 * Otherwise it starts a group of its own. External inputs must broadcast to
 * I with a last dim of N (loaded as a row) or 1 (one value per row or per
 * tensor); scalar float constants become immediates of the program. Values
 * that anything outside the group reads (or the graph exports) are stored.
 * Float dtypes only (f32, f16, bf16), one dtype per group.
 */
#include <string.h>

#include "ir/fused.h"
#include "ir/rewrite.h"
#include "pass.h"

/* Per node: whether and how it can join a Fused program. */
typedef struct node_info {
    bool fusible;
    int rank;            /* rank of the full shape */
    const rg_dim *dims;  /* full shape: the output, or a reduction's input */
    int keepdims;        /* reductions: 1 keep, 0 drop */
} node_info;

typedef struct group {
    uint32_t first;      /* position of its first node */
    int rank;
    const rg_dim *dims;  /* iteration shape I */
    uint32_t nmembers;
} group;

typedef struct fuse_state {
    rg_pass_ctx *cx;
    rg_graph *g;
    node_info *info;     /* per node id */
    int32_t *group_of;   /* per node id, -1 when none */
    uint32_t *position;  /* per node id */
    group *groups;
    uint32_t ngroups;
    int32_t *reg_of;     /* per value id, while emitting one group */
    uint32_t nn;         /* nodes before the pass: ids of the originals */
    uint32_t *visited;   /* per node id: the stamp of the last search that saw it */
    uint32_t stamp;
    const rg_node **stack;
} fuse_state;

static bool dim_is_one(const rg_dim *d) {
    int64_t v;
    return rg_dim_is_const(d, &v) && v == 1;
}

static bool is_unary(rg_op op) {
    switch (op) {
    case RG_OP_ABS: case RG_OP_NEG: case RG_OP_SQRT: case RG_OP_RECIPROCAL: case RG_OP_EXP: case RG_OP_LOG:
    case RG_OP_ERF: case RG_OP_TANH: case RG_OP_SIGMOID: case RG_OP_RELU: case RG_OP_GELU: case RG_OP_FLOOR:
    case RG_OP_CEIL: case RG_OP_SIN: case RG_OP_COS: case RG_OP_SIGN: return true;
    default: return false;
    }
}

static bool is_binary(rg_op op) {
    switch (op) {
    case RG_OP_ADD: case RG_OP_SUB: case RG_OP_MUL: case RG_OP_DIV: case RG_OP_POW: case RG_OP_MIN:
    case RG_OP_MAX: case RG_OP_SUM: return true;
    default: return false;
    }
}

static bool is_row_reduce(rg_op op) {
    return op == RG_OP_REDUCE_MEAN || op == RG_OP_REDUCE_SUM || op == RG_OP_REDUCE_MAX;
}

/* A float scalar constant: becomes an immediate, not an input. */
static bool scalar_constant(const rg_value *v, float *out) {
    if (!v->constant || !rg_dtype_is_float(v->constant->dtype) || rg_tensor_numel(v->constant) != 1)
        return false;
    if (out) *out = (float)rg_load_as_double(v->constant->dtype, v->constant->data, 0);
    return true;
}

/* axes (attribute or constant input 1) name exactly the last axis. */
static bool reduces_last_axis(const rg_node *n, int rank) {
    const rg_attr *a = rg_node_attr(n, "axes");
    int64_t axis;
    if (a) {
        if (a->kind != RG_ATTR_INTS || a->count != 1) return false;
        axis = a->ints[0];
    } else if (n->ninputs > 1 && n->inputs[1]) {
        const rg_tensor *t = n->inputs[1]->constant;
        if (!t || t->dtype != RG_DTYPE_I64 || rg_tensor_numel(t) != 1) return false;
        axis = ((const int64_t *)t->data)[0];
    } else {
        return false;
    }
    if (n->ninputs > 1 && n->inputs[1] && a) return false;
    return axis == -1 || axis == rank - 1;
}

static bool last_axis_attr(const rg_node *n, int rank, int64_t dflt) {
    const rg_attr *a = rg_node_attr(n, "axis");
    int64_t axis = dflt;
    if (a) {
        if (a->kind != RG_ATTR_INT) return false;
        axis = a->i;
    }
    return axis == -1 || axis == rank - 1;
}

/* Other outputs of n (LayerNormalization's mean and inverse std) unused. */
static bool extra_outputs_unused(const rg_node *n) {
    for (uint32_t i = 1; i < n->noutputs; i++) {
        const rg_value *o = n->outputs[i];
        if (o && (o->nconsumers || o->is_output)) return false;
    }
    return true;
}

static node_info classify(const rg_node *n) {
    node_info none = {0};
    if (n->noutputs < 1 || !n->outputs[0]) return none;
    const rg_value *out = n->outputs[0];
    rg_dtype dtype = out->dtype;
    if (!rg_dtype_is_float(dtype) || out->rank < 0) return none;
    uint32_t ndata = n->ninputs;
    for (uint32_t i = 0; i < n->ninputs; i++) {
        const rg_value *v = n->inputs[i];
        if (!v) continue;
        if (is_row_reduce(n->op) && i == 1) continue; /* axes */
        if (v->rank < 0) return none;
        if (v->dtype != dtype && !scalar_constant(v, NULL)) return none;
    }
    node_info info = {.fusible = true, .rank = out->rank, .dims = out->dims, .keepdims = 1};
    if (is_unary(n->op)) {
        if (n->op == RG_OP_GELU) {
            const rg_attr *a = rg_node_attr(n, "approximate");
            if (a && (a->kind != RG_ATTR_STRING || (strcmp(a->s, "none") != 0 && strcmp(a->s, "tanh") != 0)))
                return none;
        }
    } else if (is_binary(n->op)) {
        if (ndata != 2) return none;
    } else if (n->op == RG_OP_CLIP) {
        /* bounds that are scalar constants become max/min with immediates */
        for (uint32_t i = 1; i < n->ninputs; i++)
            if (n->inputs[i] && !scalar_constant(n->inputs[i], NULL)) return none;
    } else if (n->op == RG_OP_SOFTMAX) {
        if (!last_axis_attr(n, out->rank, n->opset >= 13 ? -1 : 1)) return none;
    } else if (n->op == RG_OP_LAYER_NORMALIZATION) {
        if (!last_axis_attr(n, out->rank, -1) || !extra_outputs_unused(n)) return none;
        const rg_attr *stash = rg_node_attr(n, "stash_type");
        if (stash && (stash->kind != RG_ATTR_INT || stash->i != 1)) return none;
    } else if (is_row_reduce(n->op)) {
        const rg_value *x = n->inputs[0];
        int64_t keep = 1;
        const rg_attr *k = rg_node_attr(n, "keepdims");
        if (k) {
            if (k->kind != RG_ATTR_INT) return none;
            keep = k->i;
        }
        if (x->rank < 1 || !reduces_last_axis(n, x->rank)) return none;
        info.rank = x->rank;
        info.dims = x->dims;
        info.keepdims = keep != 0;
    } else {
        return none;
    }
    if (info.rank < 1) return none;
    return info;
}

/* v has shape I, or I with last dim 1 when per_row. */
static bool shape_is(const rg_value *v, const group *gr, bool per_row) {
    if (v->rank != gr->rank) return false;
    for (int d = 0; d < gr->rank; d++) {
        if (per_row && d == gr->rank - 1) {
            if (!dim_is_one(&v->dims[d])) return false;
        } else if (!rg_dim_equal(&v->dims[d], &gr->dims[d])) {
            return false;
        }
    }
    return true;
}

/* How an external value is loaded against I: 0 row, 1 per row, -1 not at all. */
static int load_mode(const rg_value *v, const group *gr) {
    if (v->rank > gr->rank) return -1;
    for (int d = 0; d < v->rank; d++) {
        const rg_dim *vd = &v->dims[v->rank - 1 - d];
        const rg_dim *id = &gr->dims[gr->rank - 1 - d];
        if (!dim_is_one(vd) && !rg_dim_equal(vd, id)) return -1;
    }
    if (v->rank == 0 || dim_is_one(&v->dims[v->rank - 1])) return RG_FUSED_LOAD_SCALAR;
    return RG_FUSED_LOAD_ROW;
}

static bool is_member_value(const fuse_state *s, const rg_value *v, int32_t gid) {
    return v->producer && v->producer->id < s->nn && s->group_of[v->producer->id] == gid;
}

/* Whether x needs a member of group gid. Only nodes after the group's
 * first node can, so the search stops at earlier ones. */
static bool depends_on_group(fuse_state *s, const rg_node *x, int32_t gid) {
    uint32_t first = s->groups[gid].first, top = 0;
    s->stamp++;
    s->stack[top++] = x;
    s->visited[x->id] = s->stamp;
    while (top) {
        const rg_node *n = s->stack[--top];
        if (s->group_of[n->id] == gid) return true;
        if (s->position[n->id] < first) continue;
        for (uint32_t i = 0; i < n->ninputs; i++) {
            const rg_value *v = n->inputs[i];
            if (!v || !v->producer || v->producer->id >= s->nn || s->visited[v->producer->id] == s->stamp) continue;
            s->visited[v->producer->id] = s->stamp;
            s->stack[top++] = v->producer;
        }
    }
    return false;
}

/* Whether node n may join group gid. */
static bool can_join(fuse_state *s, const rg_node *n, int32_t gid) {
    const group *gr = &s->groups[gid];
    const node_info *info = &s->info[n->id];
    const rg_value *out = n->outputs[0];
    bool reduce = is_row_reduce(n->op);
    bool whole_row = reduce || n->op == RG_OP_SOFTMAX || n->op == RG_OP_LAYER_NORMALIZATION;
    if (whole_row) {
        /* a row of length 1 would hold one value per row: nothing to reduce */
        if (dim_is_one(&gr->dims[gr->rank - 1]) || !shape_is(n->inputs[0], gr, false)) return false;
        if (!reduce && !shape_is(out, gr, false)) return false;
        if (reduce && info->keepdims && !shape_is(out, gr, true)) return false;
        if (reduce && !info->keepdims) {
            if (out->rank != gr->rank - 1) return false;
            for (int d = 0; d < out->rank; d++)
                if (!rg_dim_equal(&out->dims[d], &gr->dims[d])) return false;
        }
    } else if (!shape_is(out, gr, false) && !shape_is(out, gr, true)) {
        return false;
    }
    for (uint32_t i = 0; i < n->ninputs; i++) {
        const rg_value *v = n->inputs[i];
        if (!v || (reduce && i == 1)) continue;
        if (is_member_value(s, v, gid)) {
            /* a reduction without keepdims ends the program's use of a value */
            const rg_node *p = v->producer;
            if (is_row_reduce(p->op) && !s->info[p->id].keepdims) return false;
            continue;
        }
        if (scalar_constant(v, NULL)) continue;
        if (v->producer && s->position[v->producer->id] >= gr->first && depends_on_group(s, v->producer, gid))
            return false;
        if (load_mode(v, gr) < 0) return false;
        /* a reduction must see the whole row */
        if (i == 0 && whole_row && load_mode(v, gr) != RG_FUSED_LOAD_ROW)
            return false;
    }
    return true;
}

static rg_status assign_groups(fuse_state *s) {
    rg_graph *g = s->g;
    for (uint32_t p = 0; p < g->nnodes; p++) {
        const rg_node *n = g->nodes[p];
        if (!s->info[n->id].fusible) continue;
        int32_t best = -1;
        for (uint32_t i = 0; i < n->ninputs; i++) {
            const rg_value *v = n->inputs[i];
            if (!v || !v->producer) continue;
            int32_t gid = s->group_of[v->producer->id];
            if (gid < 0 || gid == best) continue;
            if (best >= 0 && s->groups[gid].first < s->groups[best].first) continue;
            if (can_join(s, n, gid)) best = gid;
        }
        if (best < 0) {
            group fresh = {.first = p, .rank = s->info[n->id].rank, .dims = s->info[n->id].dims};
            best = (int32_t)s->ngroups;
            s->groups[s->ngroups++] = fresh;
            if (!can_join(s, n, best)) { /* e.g. an input that does not broadcast to its own shape */
                s->ngroups--;
                continue;
            }
        }
        s->group_of[n->id] = best;
        s->groups[best].nmembers++;
    }
    return RG_OK;
}

/* ------------------------------------------------------------ emission */

typedef struct emitter {
    fuse_state *s;
    int32_t gid;
    rg_fused_builder b;
    rg_value **inputs;
    uint32_t ninputs;
    bool *row_kind; /* per register, mirrors rg_fused_kinds */
    uint32_t nkinds;
} emitter;

static int32_t emit(emitter *e, rg_fused_opcode op, int32_t a, int32_t b, int32_t c) {
    int cls = rg_fused_op_class(op);
    if (((cls == 1 || cls == 3) && a < 0) || (cls == 2 && (a < 0 || b < 0)) || (cls == 4 && b < 0)) return -1;
    int32_t r = rg_fused_emit(&e->b, op, a, b, c);
    if (r < 0 || (uint32_t)r >= e->nkinds) return -1;
    switch (cls) {
    case 0: e->row_kind[r] = op == RG_FUSED_LOAD && b == RG_FUSED_LOAD_ROW; break;
    case 1: e->row_kind[r] = e->row_kind[a]; break;
    case 2: e->row_kind[r] = e->row_kind[a] || e->row_kind[b]; break;
    default: e->row_kind[r] = false; break;
    }
    return r;
}

/* The register holding v: a member's result, an immediate, or a load. */
static int32_t operand(emitter *e, rg_value *v) {
    fuse_state *s = e->s;
    if (s->reg_of[v->id] >= 0) return s->reg_of[v->id];
    float imm;
    int32_t r;
    if (!is_member_value(s, v, e->gid) && scalar_constant(v, &imm)) {
        r = rg_fused_emit_const(&e->b, imm);
        if (r >= 0 && (uint32_t)r < e->nkinds) e->row_kind[r] = false;
        else r = -1;
    } else {
        RG_ASSERT(!is_member_value(s, v, e->gid));
        uint32_t k = 0;
        while (k < e->ninputs && e->inputs[k] != v) k++;
        if (k == e->ninputs) e->inputs[e->ninputs++] = v;
        r = emit(e, RG_FUSED_LOAD, (int32_t)k, load_mode(v, &s->groups[e->gid]), 0);
    }
    if (r >= 0) s->reg_of[v->id] = r;
    return r;
}

static rg_fused_opcode unary_code(const rg_node *n) {
    switch (n->op) {
    case RG_OP_ABS: return RG_FUSED_ABS;
    case RG_OP_NEG: return RG_FUSED_NEG;
    case RG_OP_SQRT: return RG_FUSED_SQRT;
    case RG_OP_RECIPROCAL: return RG_FUSED_RECIP;
    case RG_OP_EXP: return RG_FUSED_EXP;
    case RG_OP_LOG: return RG_FUSED_LOG;
    case RG_OP_ERF: return RG_FUSED_ERF;
    case RG_OP_TANH: return RG_FUSED_TANH;
    case RG_OP_SIGMOID: return RG_FUSED_SIGMOID;
    case RG_OP_RELU: return RG_FUSED_RELU;
    case RG_OP_FLOOR: return RG_FUSED_FLOOR;
    case RG_OP_CEIL: return RG_FUSED_CEIL;
    case RG_OP_SIN: return RG_FUSED_SIN;
    case RG_OP_COS: return RG_FUSED_COS;
    case RG_OP_SIGN: return RG_FUSED_SIGN;
    default: {
        const rg_attr *a = rg_node_attr(n, "approximate");
        return a && strcmp(a->s, "tanh") == 0 ? RG_FUSED_GELU_TANH : RG_FUSED_GELU;
    }
    }
}

static rg_fused_opcode binary_code(rg_op op) {
    switch (op) {
    case RG_OP_ADD: case RG_OP_SUM: return RG_FUSED_ADD;
    case RG_OP_SUB: return RG_FUSED_SUB;
    case RG_OP_MUL: return RG_FUSED_MUL;
    case RG_OP_DIV: return RG_FUSED_DIV;
    case RG_OP_POW: return RG_FUSED_POW;
    case RG_OP_MIN: return RG_FUSED_MIN;
    default: return RG_FUSED_MAX;
    }
}

/* Emits the instructions of one member; returns its result register. */
static int32_t emit_member(emitter *e, const rg_node *n) {
    int32_t x = operand(e, n->inputs[0]);
    if (x < 0) return -1;
    if (is_unary(n->op)) return emit(e, unary_code(n), x, 0, 0);
    if (is_binary(n->op)) {
        int32_t y = operand(e, n->inputs[1]);
        return y < 0 ? -1 : emit(e, binary_code(n->op), x, y, 0);
    }
    if (n->op == RG_OP_CLIP) {
        if (n->ninputs > 1 && n->inputs[1]) x = emit(e, RG_FUSED_MAX, x, operand(e, n->inputs[1]), 0);
        if (n->ninputs > 2 && n->inputs[2]) x = emit(e, RG_FUSED_MIN, x, operand(e, n->inputs[2]), 0);
        return x;
    }
    if (n->op == RG_OP_REDUCE_SUM) return emit(e, RG_FUSED_RSUM, x, 0, 0);
    if (n->op == RG_OP_REDUCE_MAX) return emit(e, RG_FUSED_RMAX, x, 0, 0);
    if (n->op == RG_OP_REDUCE_MEAN) return emit(e, RG_FUSED_RMEAN, x, 0, 0);
    if (n->op == RG_OP_SOFTMAX) {
        /* y = exp(x - max) / sum(exp(x - max)) */
        int32_t m = emit(e, RG_FUSED_RMAX, x, 0, 0);
        int32_t d = emit(e, RG_FUSED_SUB, x, m, 0);
        int32_t ex = emit(e, RG_FUSED_EXP, d, 0, 0);
        int32_t sum = emit(e, RG_FUSED_RSUM, ex, 0, 0);
        return emit(e, RG_FUSED_DIV, ex, sum, 0);
    }
    /* LayerNormalization: two-pass statistics, (x - mean) / sqrt(var + eps) * scale + bias */
    float epsilon = 1e-5f;
    const rg_attr *a = rg_node_attr(n, "epsilon");
    if (a && a->kind == RG_ATTR_FLOAT) epsilon = a->f;
    int32_t mean = emit(e, RG_FUSED_RMEAN, x, 0, 0);
    int32_t d = emit(e, RG_FUSED_SUB, x, mean, 0);
    int32_t sq = emit(e, RG_FUSED_MUL, d, d, 0);
    int32_t var = emit(e, RG_FUSED_RMEAN, sq, 0, 0);
    int32_t eps = rg_fused_emit_const(&e->b, epsilon);
    if (eps >= 0 && (uint32_t)eps < e->nkinds) e->row_kind[eps] = false;
    int32_t sd = emit(e, RG_FUSED_SQRT, emit(e, RG_FUSED_ADD, var, eps, 0), 0, 0);
    int32_t y = emit(e, RG_FUSED_DIV, d, sd, 0);
    int32_t scale = operand(e, n->inputs[1]);
    y = emit(e, RG_FUSED_MUL, y, scale, 0);
    if (n->ninputs > 2 && n->inputs[2]) y = emit(e, RG_FUSED_ADD, y, operand(e, n->inputs[2]), 0);
    return y;
}

static bool read_outside(const fuse_state *s, const rg_value *v, int32_t gid) {
    if (v->is_output) return true;
    for (uint32_t c = 0; c < v->nconsumers; c++)
        if (v->consumers[c]->id >= s->nn || s->group_of[v->consumers[c]->id] != gid) return true;
    return false;
}

/* Replaces the members of group gid with one Fused node. */
static rg_status emit_group(fuse_state *s, int32_t gid, bool *remove) {
    rg_graph *g = s->g;
    rg_error *err = s->cx->err;
    const group *gr = &s->groups[gid];
    emitter e = {.s = s, .gid = gid};
    rg_status st = RG_OK;
    /* A group must read something and be read: otherwise it is dead code or
     * constant arithmetic, which cleanup and fold handle. And its loads must
     * span I: the Fused node's shape rule derives I from them, while an
     * immediate (a scalar constant of shape [1, 1, 1], say) may have been
     * what raised a member's rank. */
    bool read = false;
    int rank = 0;
    rg_dim span[RG_MAX_RANK];
    for (int k = 0; k < gr->rank; k++) span[k] = rg_dim_const(1);
    for (uint32_t p = gr->first; p < s->nn; p++) {
        const rg_node *n = g->nodes[p];
        if (s->group_of[n->id] != gid) continue;
        read = read || read_outside(s, n->outputs[0], gid);
        for (uint32_t i = 0; i < n->ninputs; i++) {
            const rg_value *v = n->inputs[i];
            if (!v || (is_row_reduce(n->op) && i == 1) || is_member_value(s, v, gid) || scalar_constant(v, NULL))
                continue;
            bool per_row = load_mode(v, gr) == RG_FUSED_LOAD_SCALAR;
            if (v->rank > rank) rank = v->rank;
            for (int k = 0; k < v->rank; k++) {
                const rg_dim *vd = &v->dims[v->rank - 1 - k];
                if (!dim_is_one(vd) && !(per_row && k == 0)) span[gr->rank - 1 - k] = *vd;
            }
        }
    }
    if (!read || rank != gr->rank) return RG_OK;
    for (int k = 0; k < gr->rank; k++)
        if (!rg_dim_equal(&span[k], &gr->dims[k])) return RG_OK;
    /* generous bounds: every member emits at most 12 registers and reads at most 3 inputs */
    uint32_t cap = gr->nmembers * 16 + 16;
    rg_fused_builder_init(&e.b, g->alloc);
    e.inputs = rg_mem_calloc(g->alloc, cap, sizeof *e.inputs);
    e.row_kind = rg_mem_calloc(g->alloc, cap, sizeof *e.row_kind);
    rg_value **exported = rg_mem_calloc(g->alloc, cap, sizeof *exported);
    int32_t *exported_reg = rg_mem_calloc(g->alloc, cap, sizeof *exported_reg);
    e.nkinds = cap;
    uint32_t nexported = 0;
    const rg_node *anchor = NULL;
    if (!e.inputs || !e.row_kind || !exported || !exported_reg) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory fusing a group of %u nodes", gr->nmembers);
        goto done;
    }
    for (uint32_t p = gr->first; p < s->nn; p++) {
        rg_node *n = g->nodes[p];
        if (s->group_of[n->id] != gid) continue;
        if (!anchor || (rg_op_has(n->op, RG_OPF_REDUCTION) && !rg_op_has(anchor->op, RG_OPF_REDUCTION)))
            anchor = n;
        int32_t r = emit_member(&e, n);
        if (r < 0) {
            st = rg_error_set(err, RG_ERR_NOMEM, "out of memory building a Fused program");
            goto done;
        }
        s->reg_of[n->outputs[0]->id] = r;
        if (read_outside(s, n->outputs[0], gid)) {
            exported[nexported] = n->outputs[0];
            exported_reg[nexported++] = r;
        }
        remove[n->id] = true;
    }
    rg_value **outs = rg_arena_array(&g->arena, nexported ? nexported : 1, sizeof *outs);
    if (!outs) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (uint32_t j = 0; j < nexported; j++) {
        const rg_value *old = exported[j];
        int mode = RG_FUSED_STORE_ROW;
        if (old->rank == gr->rank - 1) mode = RG_FUSED_STORE_SCALAR_DROP;
        else if (!e.row_kind[exported_reg[j]] && shape_is(old, gr, true)) mode = RG_FUSED_STORE_SCALAR_KEEP;
        emit(&e, RG_FUSED_STORE, (int32_t)j, exported_reg[j], mode);
        const char *name;
        st = rg_rewrite_unique_name(g, old->name && old->name[0] ? old->name : "fused", &name, err);
        if (st == RG_OK) st = rg_graph_add_value(g, name, old->dtype, old->rank, old->dims, &outs[j], err);
        if (st != RG_OK) goto done;
    }
    char label[RG_LABEL_MAX];
    snprintf(label, sizeof label, "fused/%s", anchor->name[0] ? anchor->name : rg_op_name(anchor->op));
    rg_node *fused;
    st = rg_graph_add_node(g, RG_OP_FUSED, label, g->opset, e.ninputs, e.inputs, nexported, outs, &fused, err);
    if (st == RG_OK) st = rg_fused_builder_finish(&e.b, g, fused, err);
    if (st == RG_OK) {
        rg_fused_program check;
        st = rg_fused_decode(fused, &check, err);
        RG_ASSERT(st == RG_OK); /* the pass builds only valid programs */
    }
    for (uint32_t j = 0; j < nexported && st == RG_OK; j++) {
        RG_ASSERT(rg_rewrite_can_replace(exported[j], outs[j]));
        st = rg_rewrite_replace_value(g, exported[j], outs[j], err);
    }
    if (st == RG_OK) {
        s->cx->stats->added++;
        s->cx->stats->rewritten++;
    }
done:
    for (uint32_t i = 0; i < g->nvalues; i++) s->reg_of[i] = -1;
    rg_fused_builder_deinit(&e.b);
    rg_mem_free(g->alloc, e.inputs, sizeof *e.inputs * cap);
    rg_mem_free(g->alloc, e.row_kind, sizeof *e.row_kind * cap);
    rg_mem_free(g->alloc, exported, sizeof *exported * cap);
    rg_mem_free(g->alloc, exported_reg, sizeof *exported_reg * cap);
    return st;
}

rg_status rg_pass_fuse_reduce(rg_pass_ctx *cx) {
    rg_graph *g = cx->g;
    RG_TRY(rg_graph_topo_sort(g, cx->err));
    uint32_t nn = g->nnodes, nv = g->nvalues;
    fuse_state s = {.cx = cx, .g = g, .nn = nn};
    rg_status st = RG_OK;
    bool *remove = NULL;
    /* values grow while emitting (new outputs); reg_of covers the final count */
    size_t nv_cap = (size_t)nv + nn * 4u + 16;
    s.info = rg_mem_calloc(g->alloc, nn ? nn : 1, sizeof *s.info);
    s.group_of = rg_mem_calloc(g->alloc, nn ? nn : 1, sizeof *s.group_of);
    s.position = rg_mem_calloc(g->alloc, nn ? nn : 1, sizeof *s.position);
    s.groups = rg_mem_calloc(g->alloc, nn ? nn : 1, sizeof *s.groups);
    s.reg_of = rg_mem_calloc(g->alloc, nv_cap, sizeof *s.reg_of);
    remove = rg_mem_calloc(g->alloc, nn ? nn : 1, sizeof *remove);
    s.visited = rg_mem_calloc(g->alloc, nn ? nn : 1, sizeof *s.visited);
    s.stack = rg_mem_calloc(g->alloc, nn ? nn : 1, sizeof *s.stack);
    if (!s.visited || !s.stack || !s.group_of || !s.position || !s.groups || !s.reg_of || !remove) {
        st = rg_error_set(cx->err, RG_ERR_NOMEM, "out of memory fusing %u nodes", nn);
        goto done;
    }
    for (size_t i = 0; i < nv_cap; i++) s.reg_of[i] = -1;
    for (uint32_t p = 0; p < nn; p++) {
        const rg_node *n = g->nodes[p];
        s.position[n->id] = p;
        s.group_of[n->id] = -1;
        s.info[n->id] = classify(n);
    }
    st = assign_groups(&s);
    for (uint32_t gid = 0; gid < s.ngroups && st == RG_OK; gid++) {
        if (g->nvalues + s.groups[gid].nmembers + 1 > nv_cap) break; /* cannot happen: bounded above */
        st = emit_group(&s, (int32_t)gid, remove);
    }
    /* Fused nodes were appended after the members: the removal below keeps
     * ids of the original nodes, which `remove` is indexed by. */
    if (st == RG_OK) {
        bool *remove_all = rg_mem_calloc(g->alloc, g->nnodes, sizeof *remove_all);
        if (!remove_all) {
            st = rg_error_set(cx->err, RG_ERR_NOMEM, "out of memory");
            goto done;
        }
        uint32_t nall = g->nnodes;
        memcpy(remove_all, remove, sizeof *remove * nn);
        st = rg_rewrite_remove_nodes(g, remove_all, &cx->stats->removed, cx->err);
        rg_mem_free(g->alloc, remove_all, sizeof *remove_all * nall);
    }
    if (st == RG_OK) st = rg_graph_topo_sort(g, cx->err);
done:
    rg_mem_free(g->alloc, s.info, sizeof *s.info * (nn ? nn : 1));
    rg_mem_free(g->alloc, s.group_of, sizeof *s.group_of * (nn ? nn : 1));
    rg_mem_free(g->alloc, s.position, sizeof *s.position * (nn ? nn : 1));
    rg_mem_free(g->alloc, s.groups, sizeof *s.groups * (nn ? nn : 1));
    rg_mem_free(g->alloc, s.reg_of, sizeof *s.reg_of * nv_cap);
    rg_mem_free(g->alloc, remove, sizeof *remove * (nn ? nn : 1));
    rg_mem_free(g->alloc, s.visited, sizeof *s.visited * (nn ? nn : 1));
    rg_mem_free(g->alloc, s.stack, sizeof *s.stack * (nn ? nn : 1));
    return st;
}
