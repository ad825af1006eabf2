/*
 * fuse_patterns.c — pattern fusion: the subgraphs that exporters write for
 * LayerNorm, GELU, dense layers and attention become ragged's own ops
 * (conventions in ir/internal_ops.c), so later stages see a few large
 * operations instead of dozens of small ones.
 *
 * Each family is a pass of its own (fuse_layernorm, fuse_gelu, fuse_linear,
 * fuse_attention, in that order). A match is anchored at one node, walks its
 * neighbours checking every op, constant and shape it relies on, and insists
 * that each intermediate value has exactly the readers the pattern accounts
 * for; anything else (an extra reader, a constant of another value, an axis
 * other than the last, epsilon outside the square root...) is not a match and
 * the nodes are left as they are, which is always correct. A match builds the
 * new node, infers its outputs, and points the readers of the pattern's final
 * value at the new one; the old nodes die and are removed after the sweep.
 */
#include <math.h>
#include <string.h>

#include "ir/rewrite.h"
#include "pass.h"

/* ------------------------------------------------------------- helpers */

static rg_node *made_by(const rg_value *v, rg_op op) {
    return v && v->producer && v->producer->op == op ? v->producer : NULL;
}

/* The only node reading v, when v has exactly one reader slot and is not a
 * graph output. */
static rg_node *sole_reader(const rg_value *v) {
    return v && v->nconsumers == 1 && !v->is_output ? v->consumers[0] : NULL;
}

static rg_node *sole_reader_op(const rg_value *v, rg_op op) {
    rg_node *n = sole_reader(v);
    return n && n->op == op ? n : NULL;
}

/* A constant holding one number (any rank, one element). */
static bool const_scalar(const rg_value *v, double *out) {
    if (!v || !v->constant || rg_tensor_numel(v->constant) != 1) return false;
    double d = rg_load_as_double(v->constant->dtype, v->constant->data, 0);
    if (d != d) return false;
    *out = d;
    return true;
}

static bool near(double a, double b) { return fabs(a - b) <= 1e-4 * fabs(b) + 1e-12; }

static bool const_near(const rg_value *v, double want) {
    double d;
    return const_scalar(v, &d) && near(d, want);
}

/* The input of binary node n that is not v (v itself when both are). */
static rg_value *other_input(const rg_node *n, const rg_value *v) {
    return n->inputs[0] == v ? n->inputs[1] : n->inputs[0];
}

/* A constant vector of exactly n elements (rank 1), of the given dtype. */
static bool const_vector(const rg_value *v, int64_t n, rg_dtype dtype) {
    return v && v->constant && v->constant->rank == 1 && v->constant->dims[0] == n && v->constant->dtype == dtype;
}

static bool last_dim(const rg_value *v, int64_t *n) {
    return v->rank >= 1 && rg_dim_is_const(&v->dims[v->rank - 1], n) && *n > 0;
}

static bool same_shape(const rg_value *a, const rg_value *b) {
    if (a->rank < 0 || a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (!rg_dim_equal(&a->dims[i], &b->dims[i])) return false;
    return true;
}

static bool ints_attr_is(const rg_node *n, const char *name, const int64_t *want, size_t count) {
    const rg_attr *a = rg_node_attr(n, name);
    if (!a || a->kind != RG_ATTR_INTS || a->count != count) return false;
    for (size_t i = 0; i < count; i++)
        if (a->ints[i] != want[i]) return false;
    return true;
}

static bool int_attr(const rg_node *n, const char *name, int64_t dflt, int64_t *out) {
    const rg_attr *a = rg_node_attr(n, name);
    if (!a) return *out = dflt, true;
    if (a->kind != RG_ATTR_INT) return false;
    *out = a->i;
    return true;
}

static bool string_attr_is(const rg_node *n, const char *name, const char *dflt, const char *want) {
    const rg_attr *a = rg_node_attr(n, name);
    if (!a) return strcmp(dflt, want) == 0;
    return a->kind == RG_ATTR_STRING && strcmp(a->s, want) == 0;
}

/* A ReduceMean over the last axis only, keeping dims (axes from the
 * attribute before opset 18, from the constant input after). */
static bool reduce_mean_last(const rg_node *n) {
    if (!n || n->op != RG_OP_REDUCE_MEAN || !n->inputs[0]) return false;
    int rank = n->inputs[0]->rank;
    int64_t keepdims, axis;
    if (rank < 1 || !int_attr(n, "keepdims", 1, &keepdims) || keepdims != 1) return false;
    const rg_value *axes_in = n->ninputs > 1 ? n->inputs[1] : NULL;
    if (axes_in) {
        if (!axes_in->constant || rg_tensor_numel(axes_in->constant) != 1) return false;
        axis = (int64_t)rg_load_as_double(axes_in->constant->dtype, axes_in->constant->data, 0);
    } else {
        const rg_attr *a = rg_node_attr(n, "axes");
        if (!a || a->kind != RG_ATTR_INTS || a->count != 1) return false;
        axis = a->ints[0];
    }
    return axis == -1 || axis == rank - 1;
}

/* The node's attributes, built in the graph's arena. */
typedef struct attr_list {
    rg_attr items[6];
    uint32_t count;
} attr_list;

static void attr_float(attr_list *l, const char *name, float v) {
    l->items[l->count++] = (rg_attr){.name = name, .kind = RG_ATTR_FLOAT, .f = v};
}
static void attr_int(attr_list *l, const char *name, int64_t v) {
    l->items[l->count++] = (rg_attr){.name = name, .kind = RG_ATTR_INT, .i = v};
}
static void attr_string(attr_list *l, const char *name, const char *s) {
    l->items[l->count++] = (rg_attr){.name = name, .kind = RG_ATTR_STRING, .s = s, .s_len = strlen(s)};
}

static rg_status set_attrs(rg_graph *g, rg_node *n, const attr_list *l, rg_error *err) {
    if (!l || !l->count) return RG_OK;
    rg_attr *a = rg_arena_array(&g->arena, l->count, sizeof *a);
    if (!a) return rg_error_set(err, RG_ERR_NOMEM, "out of memory for attributes");
    for (uint32_t i = 0; i < l->count; i++) {
        a[i] = l->items[i];
        a[i].name = rg_arena_strdup(&g->arena, l->items[i].name);
        if (a[i].kind == RG_ATTR_STRING) a[i].s = rg_arena_strndup(&g->arena, l->items[i].s, l->items[i].s_len);
        if (!a[i].name || (a[i].kind == RG_ATTR_STRING && !a[i].s))
            return rg_error_set(err, RG_ERR_NOMEM, "out of memory for attributes");
    }
    rg_node_set_attrs(n, l->count, a);
    return RG_OK;
}

/* A fresh value named after `base` + suffix. */
static rg_status new_value(rg_graph *g, const char *base, const char *suffix, rg_value **out, rg_error *err) {
    char name[256];
    snprintf(name, sizeof name, "%s%s", base && *base ? base : "fused", suffix);
    const char *unique;
    RG_TRY(rg_rewrite_unique_name(g, name, &unique, err));
    return rg_graph_add_value(g, unique, RG_DTYPE_UNDEFINED, -1, NULL, out, err);
}

/* Adds a node of `op` named `name` with fresh outputs (noutputs of them;
 * want_output[i] false leaves slot i empty), sets its attributes and infers
 * its outputs. */
static rg_status add_fused_node(rg_pass_ctx *cx, rg_op op, const char *name, uint32_t ninputs,
                                rg_value *const *inputs, uint32_t noutputs, const bool *want_output,
                                const attr_list *attrs, rg_node **out) {
    rg_graph *g = cx->g;
    rg_value *outs[4] = {0};
    for (uint32_t i = 0; i < noutputs; i++) {
        if (want_output && !want_output[i]) continue;
        RG_TRY(new_value(g, name, i ? "/fused_1" : "/fused", &outs[i], cx->err));
    }
    int opset = op == RG_OP_GELU && g->opset < 20 ? 20 : g->opset;
    rg_node *n;
    RG_TRY(rg_graph_add_node(g, op, name, opset, ninputs, inputs, noutputs, outs, &n, cx->err));
    RG_TRY(set_attrs(g, n, attrs, cx->err));
    rg_status st = rg_infer_node(g, n, cx->err);
    if (st != RG_OK) {
        char label[RG_LABEL_MAX];
        return rg_error_prefix(cx->err, st, "fused node %s", rg_node_label(n, label, sizeof label));
    }
    cx->stats->added++;
    *out = n;
    return RG_OK;
}

/* Readers of `old` read `repl` instead (both outputs of the pattern). */
static rg_status redirect(rg_pass_ctx *cx, rg_value *old, rg_value *repl) {
    RG_ASSERT(rg_rewrite_can_replace(old, repl));
    return rg_rewrite_replace_value(cx->g, old, repl, cx->err);
}

/* A constant of `n` elements filled with `fill`, as a new value. */
static rg_status const_filled(rg_graph *g, const char *base, rg_dtype dtype, int64_t n, float fill, rg_value **out,
                              rg_error *err) {
    rg_tensor *t;
    RG_TRY(rg_graph_new_tensor(g, dtype, 1, &n, &t, err));
    for (int64_t i = 0; i < n; i++) {
        if (dtype == RG_DTYPE_F32) ((float *)t->data)[i] = fill;
        else if (dtype == RG_DTYPE_F16) ((uint16_t *)t->data)[i] = rg_f32_to_f16(fill);
        else ((uint16_t *)t->data)[i] = rg_f32_to_bf16(fill);
    }
    rg_value *v;
    RG_TRY(new_value(g, base, fill == 0.0f ? "/zeros" : "/ones", &v, err));
    RG_TRY(rg_value_set_constant(g, v, t, err));
    *out = v;
    return RG_OK;
}

/* New nodes were appended; dead-node removal wants topological order. */
static rg_status sweep_end(rg_pass_ctx *cx) {
    RG_TRY(rg_graph_topo_sort(cx->g, cx->err));
    return rg_rewrite_remove_dead(cx->g, &cx->stats->removed, cx->err);
}

/* ----------------------------------------------------------- LayerNorm */

/* LayerNormalization-17 over the last axis whose Mean/InvStdDev outputs
 * nothing reads. */
static rg_status fuse_layer_normalization(rg_pass_ctx *cx, rg_node *n) {
    rg_value *x = n->inputs[0], *scale = n->inputs[1], *bias = n->ninputs > 2 ? n->inputs[2] : NULL;
    int64_t axis, width;
    if (!x || !rg_dtype_is_float(x->dtype) || !last_dim(x, &width)) return RG_OK;
    if (!int_attr(n, "axis", -1, &axis) || (axis != -1 && axis != x->rank - 1)) return RG_OK;
    for (uint32_t i = 1; i < n->noutputs; i++)
        if (n->outputs[i] && (n->outputs[i]->nconsumers || n->outputs[i]->is_output)) return RG_OK;
    if (!scale || scale->rank != 1 || scale->dtype != x->dtype) return RG_OK;
    int64_t s;
    if (!rg_dim_is_const(&scale->dims[0], &s) || s != width) return RG_OK;
    if (bias && (bias->rank != 1 || !rg_dim_is_const(&bias->dims[0], &s) || s != width || bias->dtype != x->dtype))
        return RG_OK;
    float eps;
    if (rg_node_attr_float(n, "epsilon", 1e-5f, &eps, NULL) != RG_OK) return RG_OK;
    attr_list attrs = {0};
    attr_float(&attrs, "epsilon", eps);
    rg_value *ins[3] = {x, scale, bias};
    rg_node *ln;
    RG_TRY(add_fused_node(cx, RG_OP_LAYER_NORM, n->name, bias ? 3 : 2, ins, 1, NULL, &attrs, &ln));
    return redirect(cx, n->outputs[0], ln->outputs[0]);
}

/* The decomposed form, anchored at the first ReduceMean:
 *   m = ReduceMean(x); d = x - m; v = ReduceMean(d^2 or d*d);
 *   y = d / Sqrt(v + eps) [* gamma] [+ beta]
 * epsilon must sit inside the square root; gamma and beta are taken only as
 * constant vectors of the last dim (else the Mul/Add stay outside). */
static rg_status fuse_layer_norm_decomposed(rg_pass_ctx *cx, rg_node *mean1) {
    rg_value *x = mean1->inputs[0];
    int64_t width;
    if (!reduce_mean_last(mean1) || !x || !rg_dtype_is_float(x->dtype) || !last_dim(x, &width)) return RG_OK;
    rg_node *sub = sole_reader_op(mean1->outputs[0], RG_OP_SUB);
    if (!sub || sub->inputs[0] != x || sub->inputs[1] != mean1->outputs[0]) return RG_OK;
    rg_value *d = sub->outputs[0];
    if (d->is_output) return RG_OK;
    rg_node *square = NULL, *div = NULL;
    uint32_t square_slots = 0;
    for (uint32_t i = 0; i < d->nconsumers; i++) {
        rg_node *r = d->consumers[i];
        if (r->op == RG_OP_POW && r->inputs[0] == d && const_near(r->inputs[1], 2.0)) square = r, square_slots = 1;
        else if (r->op == RG_OP_MUL && r->inputs[0] == d && r->inputs[1] == d) square = r, square_slots = 2;
        else if (r->op == RG_OP_DIV && r->inputs[0] == d) div = r;
        else return RG_OK;
    }
    if (!square || !div || d->nconsumers != square_slots + 1) return RG_OK;
    rg_node *mean2 = sole_reader_op(square->outputs[0], RG_OP_REDUCE_MEAN);
    if (!reduce_mean_last(mean2)) return RG_OK;
    rg_node *add_eps = sole_reader_op(mean2->outputs[0], RG_OP_ADD);
    double eps;
    if (!add_eps || !const_scalar(other_input(add_eps, mean2->outputs[0]), &eps) || eps < 0) return RG_OK;
    rg_node *root = sole_reader_op(add_eps->outputs[0], RG_OP_SQRT);
    if (!root || sole_reader(root->outputs[0]) != div || div->inputs[1] != root->outputs[0]) return RG_OK;
    rg_value *y = div->outputs[0], *gamma = NULL, *beta = NULL;
    rg_node *mul = sole_reader_op(y, RG_OP_MUL);
    if (mul && const_vector(other_input(mul, y), width, x->dtype)) gamma = other_input(mul, y), y = mul->outputs[0];
    rg_node *add = sole_reader_op(y, RG_OP_ADD);
    if (add && const_vector(other_input(add, y), width, x->dtype)) beta = other_input(add, y), y = add->outputs[0];
    if (!gamma) RG_TRY(const_filled(cx->g, mean1->name, x->dtype, width, 1.0f, &gamma, cx->err));
    attr_list attrs = {0};
    attr_float(&attrs, "epsilon", (float)eps);
    rg_value *ins[3] = {x, gamma, beta};
    rg_node *ln;
    RG_TRY(add_fused_node(cx, RG_OP_LAYER_NORM, mean1->name, beta ? 3 : 2, ins, 1, NULL, &attrs, &ln));
    return redirect(cx, y, ln->outputs[0]);
}

/* LayerNorm(Add(a, b)) with a and b of the same shape: the sum moves into
 * the LayerNorm as its residual input; when the sum has other readers (the
 * residual stream of a pre-LN model) they read LayerNorm's output 1. */
static rg_status fuse_residual(rg_pass_ctx *cx, rg_node *n) {
    if (n->ninputs > 3 && n->inputs[3]) return RG_OK;
    rg_value *s = n->inputs[0];
    rg_node *add = made_by(s, RG_OP_ADD);
    if (!add) return RG_OK;
    rg_value *a = add->inputs[0], *b = add->inputs[1];
    if (a->constant || b->constant || a->dtype != s->dtype || b->dtype != s->dtype) return RG_OK;
    if (!same_shape(a, s) || !same_shape(b, s)) return RG_OK;
    bool others = s->is_output;
    for (uint32_t i = 0; i < s->nconsumers; i++) others |= s->consumers[i] != n;
    float eps;
    if (rg_node_attr_float(n, "epsilon", 1e-5f, &eps, NULL) != RG_OK) return RG_OK;
    attr_list attrs = {0};
    attr_float(&attrs, "epsilon", eps);
    rg_value *ins[4] = {a, n->inputs[1], n->ninputs > 2 ? n->inputs[2] : NULL, b};
    bool want[2] = {true, others};
    rg_node *ln;
    RG_TRY(add_fused_node(cx, RG_OP_LAYER_NORM, n->name, 4, ins, others ? 2 : 1, want, &attrs, &ln));
    RG_TRY(redirect(cx, n->outputs[0], ln->outputs[0]));
    if (others) RG_TRY(redirect(cx, s, ln->outputs[1]));
    return RG_OK;
}

static rg_status pass_fuse_layer_norm(rg_pass_ctx *cx) {
    rg_graph *g = cx->g;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        rg_node *n = g->nodes[i];
        if (n->op == RG_OP_LAYER_NORMALIZATION) RG_TRY(fuse_layer_normalization(cx, n));
        else if (n->op == RG_OP_REDUCE_MEAN) RG_TRY(fuse_layer_norm_decomposed(cx, n));
    }
    RG_TRY(sweep_end(cx));
    for (uint32_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i]->op == RG_OP_LAYER_NORM) RG_TRY(fuse_residual(cx, g->nodes[i]));
    return sweep_end(cx);
}

/* ---------------------------------------------------------------- GELU */

/* Given h = 1 + f(x) (erf or tanh term), finds the value that is
 * x * h * 0.5 in any grouping: (x*h)*0.5, (x*0.5)*h, x*(h*0.5). */
static rg_value *gelu_product(rg_value *h, rg_value *x) {
    rg_node *m1 = sole_reader_op(h, RG_OP_MUL);
    if (!m1) return NULL;
    rg_value *other = other_input(m1, h);
    if (other == x) {
        rg_node *m2 = sole_reader_op(m1->outputs[0], RG_OP_MUL);
        return m2 && const_near(other_input(m2, m1->outputs[0]), 0.5) ? m2->outputs[0] : NULL;
    }
    if (const_near(other, 0.5)) {
        rg_node *m2 = sole_reader_op(m1->outputs[0], RG_OP_MUL);
        return m2 && other_input(m2, m1->outputs[0]) == x ? m2->outputs[0] : NULL;
    }
    rg_node *half = made_by(other, RG_OP_MUL);
    if (!half || sole_reader(other) != m1) return NULL;
    bool x_half = (half->inputs[0] == x && const_near(half->inputs[1], 0.5)) ||
                  (half->inputs[1] == x && const_near(half->inputs[0], 0.5));
    return x_half ? m1->outputs[0] : NULL;
    return NULL;
}

/* 1 + t where t is the only reader's other operand 1. */
static rg_value *plus_one(rg_value *t) {
    rg_node *add = sole_reader_op(t, RG_OP_ADD);
    return add && const_near(other_input(add, t), 1.0) ? add->outputs[0] : NULL;
}

/* Erf form, anchored at Erf: Erf(x / sqrt2) or Erf(x * (1/sqrt2)). */
static rg_status fuse_gelu_erf(rg_pass_ctx *cx, rg_node *erf_node) {
    rg_value *arg = erf_node->inputs[0];
    rg_node *scale = arg ? arg->producer : NULL;
    if (!scale || sole_reader(arg) != erf_node) return RG_OK;
    rg_value *x = scale->inputs[0];
    if (scale->op == RG_OP_DIV) {
        if (!const_near(scale->inputs[1], 1.4142135623730951)) return RG_OK;
    } else if (scale->op == RG_OP_MUL) {
        x = scale->inputs[0]->constant ? scale->inputs[1] : scale->inputs[0];
        if (!const_near(other_input(scale, x), 0.7071067811865476)) return RG_OK;
    } else {
        return RG_OK;
    }
    if (!rg_dtype_is_float(x->dtype)) return RG_OK;
    rg_value *h = plus_one(erf_node->outputs[0]);
    rg_value *y = h ? gelu_product(h, x) : NULL;
    if (!y || !same_shape(y, x)) return RG_OK;
    attr_list attrs = {0};
    attr_string(&attrs, "approximate", "none");
    rg_node *gelu;
    RG_TRY(add_fused_node(cx, RG_OP_GELU, erf_node->name, 1, &x, 1, NULL, &attrs, &gelu));
    return redirect(cx, y, gelu->outputs[0]);
}

/* x^3 as Pow(x, 3), x*x*x or x*(x*x); returns x. */
static rg_value *cube_base(rg_value *v) {
    rg_node *n = v ? v->producer : NULL;
    if (!n) return NULL;
    if (n->op == RG_OP_POW && const_near(n->inputs[1], 3.0)) return n->inputs[0];
    if (n->op != RG_OP_MUL) return NULL;
    for (int side = 0; side < 2; side++) {
        rg_value *sq = n->inputs[side], *x = n->inputs[1 - side];
        rg_node *m = made_by(sq, RG_OP_MUL);
        if (m && sole_reader(sq) == n && m->inputs[0] == x && m->inputs[1] == x) return x;
    }
    return NULL;
}

/* Tanh form, anchored at Tanh:
 *   Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)) */
static rg_status fuse_gelu_tanh(rg_pass_ctx *cx, rg_node *tanh_node) {
    rg_value *arg = tanh_node->inputs[0];
    rg_node *outer = made_by(arg, RG_OP_MUL);
    if (!outer || sole_reader(arg) != tanh_node) return RG_OK;
    rg_value *inner = outer->inputs[0]->constant ? outer->inputs[1] : outer->inputs[0];
    if (!const_near(other_input(outer, inner), 0.7978845608028654)) return RG_OK;
    rg_node *sum = made_by(inner, RG_OP_ADD);
    if (!sum || sole_reader(inner) != outer) return RG_OK;
    for (int side = 0; side < 2; side++) {
        rg_value *x = sum->inputs[side], *term = sum->inputs[1 - side];
        rg_node *coef = made_by(term, RG_OP_MUL);
        if (!coef || sole_reader(term) != sum) continue;
        rg_value *cube = coef->inputs[0]->constant ? coef->inputs[1] : coef->inputs[0];
        if (!const_near(other_input(coef, cube), 0.044715) || sole_reader(cube) != coef || cube_base(cube) != x)
            continue;
        rg_value *h = plus_one(tanh_node->outputs[0]);
        rg_value *y = h ? gelu_product(h, x) : NULL;
        if (!y || !rg_dtype_is_float(x->dtype) || !same_shape(y, x)) return RG_OK;
        attr_list attrs = {0};
        attr_string(&attrs, "approximate", "tanh");
        rg_node *gelu;
        RG_TRY(add_fused_node(cx, RG_OP_GELU, tanh_node->name, 1, &x, 1, NULL, &attrs, &gelu));
        return redirect(cx, y, gelu->outputs[0]);
    }
    return RG_OK;
}

static rg_status pass_fuse_gelu(rg_pass_ctx *cx) {
    rg_graph *g = cx->g;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        rg_node *n = g->nodes[i];
        if (n->op == RG_OP_ERF) RG_TRY(fuse_gelu_erf(cx, n));
        else if (n->op == RG_OP_TANH) RG_TRY(fuse_gelu_tanh(cx, n));
    }
    return sweep_end(cx);
}

/* -------------------------------------------------------------- Linear */

/* The product `prod` reads x2 = Reshape(x, [-1, K]) and its result y2
 * [M, N] (after the bias) is read only by a Reshape to [lead..., N], as
 * exporters flatten around a 2-D Gemm. When x is [lead..., K], or
 * [lead..., t...] with prod(t) = K (the dynamo exporter flattens the
 * attention's [B, S, H, D] context straight to [B*S, H*D]), both reshapes
 * are row-major, so row r of y2 is row r of x2: the Linear can read x (or x
 * reshaped to [lead..., K] with a constant [0, .., 0, K] target) and write
 * the un-flattened result directly. Otherwise *x and *y stay as they are. */
static rg_status unflatten(rg_pass_ctx *cx, const rg_node *prod, rg_value **x, rg_value **y, int64_t n) {
    rg_value *x2 = *x;
    rg_node *r1 = made_by(x2, RG_OP_RESHAPE);
    int64_t k, last;
    if (!r1 || sole_reader(x2) != prod || x2->rank != 2 || !rg_dim_is_const(&x2->dims[1], &k)) return RG_OK;
    rg_value *src = r1->inputs[0];
    rg_node *r2 = sole_reader_op(*y, RG_OP_RESHAPE);
    if (!src || !r2 || r2->inputs[0] != *y) return RG_OK;
    rg_value *out = r2->outputs[0];
    int r = out->rank;
    if (r < 2 || src->rank < r || !last_dim(out, &last) || last != n || out->dtype != (*y)->dtype) return RG_OK;
    for (int i = 0; i < r - 1; i++)
        if (!rg_dim_equal(&out->dims[i], &src->dims[i])) return RG_OK;
    int64_t trail = 1, d;
    for (int i = r - 1; i < src->rank; i++) {
        if (!rg_dim_is_const(&src->dims[i], &d) || d <= 0 || d > INT64_MAX / trail) return RG_OK;
        trail *= d;
    }
    if (trail != k) return RG_OK;
    if (src->rank > r) {
        int64_t len = r;
        rg_tensor *t;
        RG_TRY(rg_graph_new_tensor(cx->g, RG_DTYPE_I64, 1, &len, &t, cx->err));
        int64_t *target = t->data;
        for (int i = 0; i < r; i++) target[i] = i < r - 1 ? 0 : k;
        rg_value *shape;
        RG_TRY(new_value(cx->g, r1->name, "/shape", &shape, cx->err));
        RG_TRY(rg_value_set_constant(cx->g, shape, t, cx->err));
        rg_value *ins[2] = {src, shape};
        rg_node *rs;
        RG_TRY(add_fused_node(cx, RG_OP_RESHAPE, r1->name, 2, ins, 1, NULL, NULL, &rs));
        src = rs->outputs[0];
    }
    *x = src, *y = out;
    return RG_OK;
}

static rg_status add_linear(rg_pass_ctx *cx, const char *name, rg_value *x, rg_value *w, rg_value *bias,
                            rg_value *y) {
    rg_value *ins[3] = {x, w, bias};
    rg_node *lin;
    RG_TRY(add_fused_node(cx, RG_OP_LINEAR, name, bias ? 3 : 2, ins, 1, NULL, NULL, &lin));
    return redirect(cx, y, lin->outputs[0]);
}

/* MatMul(x, W) with W a constant [K, N] and x of rank >= 2, then an Add of
 * a constant [N] bias (either operand order) when that is its only reader. */
static rg_status fuse_linear(rg_pass_ctx *cx, rg_node *mm) {
    rg_value *x = mm->inputs[0], *w = mm->inputs[1];
    if (!x || !w || x->constant || !w->constant || w->constant->rank != 2 || x->rank < 2) return RG_OK;
    if (!rg_dtype_is_float(x->dtype) || w->dtype != x->dtype) return RG_OK;
    int64_t n = w->constant->dims[1];
    rg_value *y = mm->outputs[0], *bias = NULL;
    rg_node *add = sole_reader_op(y, RG_OP_ADD);
    if (add && const_vector(other_input(add, y), n, x->dtype)) bias = other_input(add, y), y = add->outputs[0];
    RG_TRY(unflatten(cx, mm, &x, &y, n));
    return add_linear(cx, mm->name, x, w, bias, y);
}

/* A constant's elements as a new [K, N] (transposed from [N, K] when
 * `transpose`) or [N] constant value. */
static rg_status reshaped_constant(rg_graph *g, const char *base, const char *suffix, const rg_tensor *src,
                                   bool transpose, rg_value **out, rg_error *err) {
    int64_t dims[2] = {(int64_t)rg_tensor_numel(src), 0};
    int rank = 1;
    if (transpose) dims[0] = src->dims[1], dims[1] = src->dims[0], rank = 2;
    rg_tensor *t;
    RG_TRY(rg_graph_new_tensor(g, src->dtype, rank, dims, &t, err));
    size_t elem = rg_dtype_size(src->dtype);
    if (!transpose) {
        memcpy(t->data, src->data, rg_tensor_numel(src) * elem);
    } else {
        /* src [N, K] -> t [K, N] */
        size_t rows = (size_t)src->dims[0], cols = (size_t)src->dims[1];
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++)
                memcpy((char *)t->data + (c * rows + r) * elem, (const char *)src->data + (r * cols + c) * elem, elem);
    }
    rg_value *v;
    RG_TRY(new_value(g, base, suffix, &v, err));
    RG_TRY(rg_value_set_constant(g, v, t, err));
    *out = v;
    return RG_OK;
}

/* Gemm(A, B, C) with alpha = 1, transA = 0, B a constant (either
 * orientation), C absent or a constant [N] / [1, N] with beta = 1: a
 * Linear, as GPT-2's Conv1D exports (inside the [B*S, K] reshapes that
 * unflatten() removes). */
static rg_status fuse_gemm(rg_pass_ctx *cx, rg_node *gemm) {
    rg_value *x = gemm->inputs[0], *w = gemm->inputs[1], *c = gemm->ninputs > 2 ? gemm->inputs[2] : NULL;
    if (!x || !w || x->constant || !w->constant || w->constant->rank != 2 || x->rank != 2) return RG_OK;
    if (!rg_dtype_is_float(x->dtype) || w->dtype != x->dtype) return RG_OK;
    int64_t trans_a, trans_b;
    float alpha, beta;
    if (!int_attr(gemm, "transA", 0, &trans_a) || !int_attr(gemm, "transB", 0, &trans_b) || trans_a != 0) return RG_OK;
    if (rg_node_attr_float(gemm, "alpha", 1.0f, &alpha, NULL) != RG_OK || alpha != 1.0f) return RG_OK;
    if (rg_node_attr_float(gemm, "beta", 1.0f, &beta, NULL) != RG_OK) return RG_OK;
    int64_t n = w->constant->dims[trans_b ? 0 : 1];
    if (c) {
        const rg_tensor *ct = c->constant;
        if (!ct || beta != 1.0f || ct->dtype != x->dtype || ct->rank < 1 || ct->rank > 2 ||
            ct->dims[ct->rank - 1] != n || (ct->rank == 2 && ct->dims[0] != 1))
            return RG_OK;
    }
    rg_value *y = gemm->outputs[0];
    RG_TRY(unflatten(cx, gemm, &x, &y, n));
    rg_graph *g = cx->g;
    if (trans_b) RG_TRY(reshaped_constant(g, gemm->name, "/weight_t", w->constant, true, &w, cx->err));
    if (c && c->constant->rank != 1) RG_TRY(reshaped_constant(g, gemm->name, "/bias", c->constant, false, &c, cx->err));
    return add_linear(cx, gemm->name, x, w, c, y);
}

/* Gelu or Relu reading a Linear without activation, its only reader: the
 * activation becomes the Linear's epilogue. */
static rg_status fuse_epilogue(rg_pass_ctx *cx, rg_node *act) {
    rg_node *lin = made_by(act->inputs[0], RG_OP_LINEAR);
    if (!lin || sole_reader(lin->outputs[0]) != act || !string_attr_is(lin, "activation", "none", "none"))
        return RG_OK;
    const char *name = "relu";
    if (act->op == RG_OP_GELU) {
        if (string_attr_is(act, "approximate", "none", "none")) name = "gelu";
        else if (string_attr_is(act, "approximate", "none", "tanh")) name = "gelu_tanh";
        else return RG_OK;
    }
    if (!rg_rewrite_can_replace(act->outputs[0], lin->outputs[0])) return RG_OK;
    attr_list attrs = {0};
    attr_string(&attrs, "activation", name);
    RG_TRY(set_attrs(cx->g, lin, &attrs, cx->err));
    cx->stats->rewritten++;
    return redirect(cx, act->outputs[0], lin->outputs[0]);
}

static rg_status pass_fuse_linear(rg_pass_ctx *cx) {
    rg_graph *g = cx->g;
    for (uint32_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i]->op == RG_OP_MATMUL) RG_TRY(fuse_linear(cx, g->nodes[i]));
        else if (g->nodes[i]->op == RG_OP_GEMM) RG_TRY(fuse_gemm(cx, g->nodes[i]));
    RG_TRY(sweep_end(cx));
    for (uint32_t i = 0; i < g->nnodes; i++) {
        rg_node *n = g->nodes[i];
        if (n->op == RG_OP_GELU || n->op == RG_OP_RELU) RG_TRY(fuse_epilogue(cx, n));
    }
    return sweep_end(cx);
}

/* ----------------------------------------------------------- Attention */

static const int64_t PERM_HEADS[4] = {0, 2, 1, 3};   /* [B,S,H,D] <-> [B,H,S,D] */
static const int64_t PERM_KEYS_T[4] = {0, 2, 3, 1};  /* [B,S,H,D] -> [B,H,D,S] */
static const int64_t PERM_SWAP_LAST[4] = {0, 1, 3, 2};

/* What the three projections of one attention agree on. */
typedef struct head_shape {
    rg_dim batch, seq;
    int64_t heads, head_size;
    bool set;
} head_shape;

/* Strips a Mul or Div by a constant scalar from v (whose only reader is the
 * pattern), multiplying *scale. */
static rg_value *peel_scale(rg_value *v, const rg_node *reader, double *scale) {
    for (;;) {
        rg_node *n = v ? v->producer : NULL;
        if (!n || (n->op != RG_OP_MUL && n->op != RG_OP_DIV) || sole_reader(v) != reader) return v;
        double c;
        if (n->op == RG_OP_DIV) {
            if (!const_scalar(n->inputs[1], &c) || c == 0.0 || n->inputs[0]->constant) return v;
            *scale /= c;
            v = n->inputs[0];
        } else {
            rg_value *a = n->inputs[0]->constant ? n->inputs[1] : n->inputs[0];
            if (a->constant || !const_scalar(other_input(n, a), &c)) return v;
            *scale *= c;
            v = a;
        }
        reader = n;
    }
}

/* Reshape [B, S, H*D] -> [B, S, H, D] whose only reader is `reader`;
 * returns the projection it reshapes. */
static rg_value *split_heads(rg_value *v, const rg_node *reader, head_shape *hs) {
    rg_node *r = made_by(v, RG_OP_RESHAPE);
    if (!r || sole_reader(v) != reader) return NULL;
    rg_value *in = r->inputs[0];
    int64_t h, d, n;
    if (!in || in->rank != 3 || v->rank != 4 || !rg_dim_is_const(&v->dims[2], &h) ||
        !rg_dim_is_const(&v->dims[3], &d) || !rg_dim_is_const(&in->dims[2], &n) || h <= 0 || d <= 0 || h * d != n)
        return NULL;
    if (!rg_dim_equal(&v->dims[0], &in->dims[0]) || !rg_dim_equal(&v->dims[1], &in->dims[1])) return NULL;
    if (!hs->set) {
        *hs = (head_shape){.batch = in->dims[0], .seq = in->dims[1], .heads = h, .head_size = d, .set = true};
    } else if (hs->heads != h || hs->head_size != d || !rg_dim_equal(&hs->batch, &in->dims[0]) ||
               !rg_dim_equal(&hs->seq, &in->dims[1])) {
        return NULL;
    }
    return sole_reader(in) == r ? in : NULL;
}

/* The only reader of v apart from Shape nodes: a Shape reads no data, and
 * the shape arithmetic it feeds dies with the pattern (or stays, reading a
 * node that then stays too, which costs time but never correctness). */
static rg_node *data_reader(const rg_value *v) {
    rg_node *only = NULL;
    if (!v || v->is_output) return NULL;
    for (uint32_t i = 0; i < v->nconsumers; i++) {
        rg_node *r = v->consumers[i];
        if (r->op == RG_OP_SHAPE) continue;
        if (only) return NULL;
        only = r;
    }
    return only;
}

static bool is_transpose(const rg_node *n, const int64_t *perm) {
    return n && n->op == RG_OP_TRANSPOSE && ints_attr_is(n, "perm", perm, 4);
}

/* Q: Transpose(0,2,1,3) of the split heads, read by `reader`. */
static rg_value *trace_query(rg_value *v, const rg_node *reader, head_shape *hs) {
    rg_node *t = v ? v->producer : NULL;
    if (!is_transpose(t, PERM_HEADS) || data_reader(v) != reader) return NULL;
    return split_heads(t->inputs[0], t, hs);
}

/* [B, H, S, D] -> Reshape [B*H, S, D] -> Transpose(0,2,1) -> Reshape
 * [B, H, D, S], as the dynamo exporter swaps the last two axes; returns the
 * [B, H, S, D] value, or NULL. */
static rg_value *swap_via_3d(rg_value *v, const rg_node *reader) {
    rg_node *r2 = made_by(v, RG_OP_RESHAPE);
    if (!r2 || sole_reader(v) != reader || v->rank != 4) return NULL;
    rg_value *t_out = r2->inputs[0];
    rg_node *t = t_out ? t_out->producer : NULL;
    static const int64_t swap3[3] = {0, 2, 1};
    if (!t || t->op != RG_OP_TRANSPOSE || !ints_attr_is(t, "perm", swap3, 3) || sole_reader(t_out) != r2) return NULL;
    rg_value *flat = t->inputs[0];
    rg_node *r1 = made_by(flat, RG_OP_RESHAPE);
    if (!r1 || sole_reader(flat) != t || flat->rank != 3) return NULL;
    rg_value *x = r1->inputs[0];
    if (!x || data_reader(x) != r1 || x->rank != 4 || !rg_dim_equal(&flat->dims[1], &x->dims[2]) || !rg_dim_equal(&flat->dims[2], &x->dims[3]))
        return NULL;
    const int order[4] = {0, 1, 3, 2};
    for (int i = 0; i < 4; i++)
        if (!rg_dim_equal(&v->dims[i], &x->dims[order[i]])) return NULL;
    return x;
}

/* K transposed: Transpose(0,2,3,1) of the split heads, or the last two axes
 * of Transpose(0,2,1,3) swapped by Transpose(0,1,3,2) or swap_via_3d. */
static rg_value *trace_key(rg_value *v, const rg_node *reader, head_shape *hs, double *scale) {
    rg_node *t = v ? v->producer : NULL;
    rg_value *swapped = swap_via_3d(v, reader);
    if (swapped) return trace_query(swapped, data_reader(swapped), hs);
    if (!t || sole_reader(v) != reader || t->op != RG_OP_TRANSPOSE) return NULL;
    if (is_transpose(t, PERM_KEYS_T)) return split_heads(t->inputs[0], t, hs);
    if (!is_transpose(t, PERM_SWAP_LAST)) return NULL;
    rg_value *inner = peel_scale(t->inputs[0], t, scale);
    rg_node *reader2 = sole_reader(inner);
    return reader2 ? trace_query(inner, reader2, hs) : NULL;
}

/* The Linear (no activation) that makes v; NULL otherwise. */
static rg_node *projection(const rg_value *v) {
    rg_node *lin = made_by(v, RG_OP_LINEAR);
    if (!lin || !string_attr_is(lin, "activation", "none", "none") || !lin->inputs[1]->constant) return NULL;
    return lin;
}

/* Q, K and V Linears on the same input, with weights [K, N] of one dtype and
 * biases all present or all absent. */
static bool projections_agree(rg_node *const *p, int64_t n) {
    const rg_value *x = p[0]->inputs[0];
    bool has_bias = p[0]->ninputs > 2 && p[0]->inputs[2];
    const rg_tensor *w0 = p[0]->inputs[1]->constant;
    for (int i = 0; i < 3; i++) {
        const rg_tensor *w = p[i]->inputs[1]->constant;
        bool b = p[i]->ninputs > 2 && p[i]->inputs[2];
        if (p[i]->inputs[0] != x || b != has_bias || w->dtype != w0->dtype || w->dims[0] != w0->dims[0] ||
            w->dims[1] != n)
            return false;
        if (b && (!p[i]->inputs[2]->constant || p[i]->inputs[2]->constant->rank != 1)) return false;
        if (p[i] == p[(i + 1) % 3]) return false;
    }
    return true;
}

/* Concatenates the three weights [K, N] into [K, 3N] (or biases [N] into
 * [3N]) as a new constant. */
static rg_status concat_columns(rg_graph *g, const char *base, const char *suffix, const rg_tensor *const *parts,
                                rg_value **out, rg_error *err) {
    const rg_tensor *p0 = parts[0];
    size_t elem = rg_dtype_size(p0->dtype);
    int64_t rows = p0->rank == 2 ? p0->dims[0] : 1, n = p0->dims[p0->rank - 1];
    int64_t dims[2] = {rows, 3 * n};
    rg_tensor *t;
    RG_TRY(rg_graph_new_tensor(g, p0->dtype, p0->rank, p0->rank == 2 ? dims : dims + 1, &t, err));
    size_t row_bytes = (size_t)n * elem;
    for (int64_t r = 0; r < rows; r++)
        for (int i = 0; i < 3; i++)
            memcpy((char *)t->data + ((size_t)r * 3 + (size_t)i) * row_bytes,
                   (const char *)parts[i]->data + (size_t)r * row_bytes, row_bytes);
    rg_value *v;
    RG_TRY(new_value(g, base, suffix, &v, err));
    RG_TRY(rg_value_set_constant(g, v, t, err));
    *out = v;
    return RG_OK;
}

/* Q, K and V as the three equal parts, in that order, of a Split along the
 * last axis of one Linear's [B, S, 3N] output that nothing else reads (GPT-2's
 * Conv1D c_attn): the Linear is already the merged QKV projection. Returns
 * its output, or NULL. */
static rg_value *merged_qkv(const rg_value *q, const rg_value *k, const rg_value *v, int64_t n) {
    rg_node *sp = q->producer;
    if (!sp || sp->op != RG_OP_SPLIT || sp->noutputs != 3 || k->producer != sp || v->producer != sp) return NULL;
    if (sp->outputs[0] != q || sp->outputs[1] != k || sp->outputs[2] != v) return NULL;
    rg_value *in = sp->inputs[0];
    int64_t axis, width;
    if (!in || in->rank != 3 || !int_attr(sp, "axis", 0, &axis) || (axis != -1 && axis != 2)) return NULL;
    if (!last_dim(in, &width) || width != 3 * n) return NULL;
    for (int i = 0; i < 3; i++) {
        int64_t part;
        if (!last_dim(sp->outputs[i], &part) || part != n) return NULL;
    }
    if (sole_reader(in) != sp) return NULL;
    rg_node *lin = projection(in);
    if (!lin || lin->inputs[1]->constant->rank != 2 || lin->inputs[1]->constant->dims[1] != 3 * n) return NULL;
    return in;
}

/* The Attention node over a merged qkv, with the additive mask and bias
 * (either may be NULL), replacing y. */
static rg_status add_attention(rg_pass_ctx *cx, const char *name, rg_value *qkv, const head_shape *hs, double scale,
                               rg_value *mask, rg_value *bias, rg_value *y) {
    attr_list attrs = {0};
    attr_int(&attrs, "num_heads", hs->heads);
    attr_int(&attrs, "head_size", hs->head_size);
    attr_float(&attrs, "scale", (float)scale);
    attr_int(&attrs, "causal", 0);
    attr_string(&attrs, "mask_kind", mask ? "additive" : "none");
    rg_value *att_in[3] = {qkv, mask, bias};
    rg_node *att;
    RG_TRY(add_fused_node(cx, RG_OP_ATTENTION, name, bias ? 3 : mask ? 2 : 1, att_in, 1, NULL, &attrs, &att));
    return redirect(cx, y, att->outputs[0]);
}

/* Where(IsNaN(p), 0, p) after the Softmax, as the dynamo exporter guards
 * rows whose every score is -inf: the Attention kernel gives such rows
 * zeros too, so the guard joins the pattern. Returns the guarded value, or p
 * when there is no guard. */
static rg_value *nan_guarded(rg_value *p) {
    if (p->nconsumers != 2 || p->is_output) return p;
    rg_node *isnan = NULL, *where = NULL;
    for (uint32_t i = 0; i < 2; i++) {
        rg_node *r = p->consumers[i];
        if (r->op == RG_OP_ISNAN) isnan = r;
        else if (r->op == RG_OP_WHERE) where = r;
    }
    if (!isnan || !where || sole_reader(isnan->outputs[0]) != where) return p;
    if (where->inputs[0] != isnan->outputs[0] || !const_near(where->inputs[1], 0.0) || where->inputs[2] != p) return p;
    if (!same_shape(where->outputs[0], p)) return p;
    return where->outputs[0];
}

/* An Expand of b to exactly the scores' shape adds nothing that the
 * Attention's own broadcasting of its bias input does not: returns b then,
 * else the bias itself. */
static rg_value *unexpanded(rg_value *bias, const rg_value *scores) {
    rg_node *e = made_by(bias, RG_OP_EXPAND);
    if (!e || !same_shape(bias, scores) || !e->inputs[0] || e->inputs[0]->rank < 0 || e->inputs[0]->rank > 4)
        return bias;
    return e->inputs[0]->dtype == bias->dtype ? e->inputs[0] : bias;
}

/* Anchored at Softmax over the last axis of [B, H, S, S] scores:
 *   scores = (Q' K'^T) * scale (+ bias) (+ mask); y = Softmax(scores) V'
 * with Q', K', V' the head splits of three Linears of one input (or the
 * three parts of a Split of one merged Linear), and y transposed and
 * reshaped back to [B, S, H*D]. */
static rg_status fuse_attention(rg_pass_ctx *cx, rg_node *softmax) {
    rg_value *scores = softmax->inputs[0];
    int64_t axis;
    if (!scores || scores->rank != 4 || !rg_dtype_is_float(scores->dtype)) return RG_OK;
    bool has_axis = rg_node_attr(softmax, "axis") != NULL;
    if (!int_attr(softmax, "axis", -1, &axis) || (axis != -1 && axis != 3) || (!has_axis && softmax->opset < 13))
        return RG_OK;
    /* the context product and the way back to [B, S, H*D] */
    rg_value *probs = nan_guarded(softmax->outputs[0]);
    rg_node *ctx_mm = sole_reader_op(probs, RG_OP_MATMUL);
    if (!ctx_mm || ctx_mm->inputs[0] != probs) return RG_OK;
    rg_node *back_t = sole_reader(ctx_mm->outputs[0]);
    if (!is_transpose(back_t, PERM_HEADS)) return RG_OK;
    rg_node *back_r = sole_reader_op(back_t->outputs[0], RG_OP_RESHAPE);
    if (!back_r || back_r->inputs[0] != back_t->outputs[0]) return RG_OK;
    /* mask and scale */
    double scale = 1.0;
    rg_value *mask = NULL, *bias = NULL, *raw = NULL;
    rg_node *mask_add = made_by(scores, RG_OP_ADD);
    if (mask_add && sole_reader(scores) == softmax) {
        for (int side = 0; side < 2 && !raw; side++) {
            if (mask_add->inputs[0] == mask_add->inputs[1]) break;
            double s = 1.0;
            rg_value *in = mask_add->inputs[side];
            rg_value *cand = peel_scale(in, mask_add, &s);
            if (made_by(cand, RG_OP_MATMUL)) {
                raw = cand, scale = s, mask = mask_add->inputs[1 - side];
                continue;
            }
            /* (scores * scale + bias) + mask, as MPNet adds its relative
             * position bias before the mask */
            rg_node *bias_add = made_by(in, RG_OP_ADD);
            if (!bias_add || sole_reader(in) != mask_add || !same_shape(in, scores)) continue;
            for (int bside = 0; bside < 2 && !raw; bside++) {
                double bs = 1.0;
                rg_value *bcand = peel_scale(bias_add->inputs[bside], bias_add, &bs);
                if (made_by(bcand, RG_OP_MATMUL) && bias_add->inputs[0] != bias_add->inputs[1])
                    raw = bcand, scale = bs, mask = mask_add->inputs[1 - side], bias = bias_add->inputs[1 - bside];
            }
        }
        if (!raw || mask->dtype != scores->dtype || mask->rank > 4 || mask->rank < 0) return RG_OK;
        if (bias && (bias->dtype != scores->dtype || bias->rank > 4 || bias->rank < 0)) return RG_OK;
        /* the mask and bias broadcast into the scores without widening them */
        if (!same_shape(raw, scores)) return RG_OK;
        bias = bias ? unexpanded(bias, scores) : NULL;
    } else {
        raw = peel_scale(scores, softmax, &scale);
    }
    rg_node *score_mm = made_by(raw, RG_OP_MATMUL);
    if (!score_mm || raw->nconsumers != 1 || raw->is_output) return RG_OK;
    head_shape hs = {0};
    rg_value *qv = peel_scale(score_mm->inputs[0], score_mm, &scale);
    rg_node *qr = sole_reader(qv);
    rg_value *q = qr ? trace_query(qv, qr, &hs) : NULL;
    rg_value *kv = peel_scale(score_mm->inputs[1], score_mm, &scale);
    rg_node *kr = sole_reader(kv);
    rg_value *k = kr ? trace_key(kv, kr, &hs, &scale) : NULL;
    rg_value *v = trace_query(ctx_mm->inputs[1], ctx_mm, &hs);
    if (!q || !k || !v) return RG_OK;
    rg_value *y = back_r->outputs[0];
    int64_t width;
    if (y->rank != 3 || !rg_dim_is_const(&y->dims[2], &width) || width != hs.heads * hs.head_size ||
        !rg_dim_equal(&y->dims[0], &hs.batch) || !rg_dim_equal(&y->dims[1], &hs.seq))
        return RG_OK;
    rg_value *qkv = merged_qkv(q, k, v, width);
    if (qkv) {
        if (qkv->dtype != scores->dtype) return RG_OK;
        return add_attention(cx, softmax->name, qkv, &hs, scale, mask, bias, y);
    }
    rg_node *proj[3] = {projection(q), projection(k), projection(v)};
    if (!proj[0] || !proj[1] || !proj[2] || !projections_agree(proj, width)) return RG_OK;
    if (proj[0]->inputs[0]->dtype != scores->dtype) return RG_OK;
    /* build: one QKV Linear, one Attention */
    rg_graph *g = cx->g;
    const rg_tensor *weights[3] = {proj[0]->inputs[1]->constant, proj[1]->inputs[1]->constant,
                                   proj[2]->inputs[1]->constant};
    rg_value *wqkv, *bqkv = NULL;
    RG_TRY(concat_columns(g, proj[0]->name, "/qkv_weight", weights, &wqkv, cx->err));
    if (proj[0]->ninputs > 2 && proj[0]->inputs[2]) {
        const rg_tensor *biases[3] = {proj[0]->inputs[2]->constant, proj[1]->inputs[2]->constant,
                                      proj[2]->inputs[2]->constant};
        RG_TRY(concat_columns(g, proj[0]->name, "/qkv_bias", biases, &bqkv, cx->err));
    }
    rg_value *lin_in[3] = {proj[0]->inputs[0], wqkv, bqkv};
    rg_node *lin;
    RG_TRY(add_fused_node(cx, RG_OP_LINEAR, proj[0]->name, bqkv ? 3 : 2, lin_in, 1, NULL, NULL, &lin));
    return add_attention(cx, softmax->name, lin->outputs[0], &hs, scale, mask, bias, y);
}

static rg_status pass_fuse_attention(rg_pass_ctx *cx) {
    rg_graph *g = cx->g;
    for (uint32_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i]->op == RG_OP_SOFTMAX) RG_TRY(fuse_attention(cx, g->nodes[i]));
    return sweep_end(cx);
}

/* --------------------------------------------------------- entry points */

rg_status rg_pass_fuse_layer_norm(rg_pass_ctx *cx) { return pass_fuse_layer_norm(cx); }
rg_status rg_pass_fuse_gelu(rg_pass_ctx *cx) { return pass_fuse_gelu(cx); }
rg_status rg_pass_fuse_linear(rg_pass_ctx *cx) { return pass_fuse_linear(cx); }
rg_status rg_pass_fuse_attention(rg_pass_ctx *cx) { return pass_fuse_attention(cx); }
