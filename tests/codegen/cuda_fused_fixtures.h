/*
 * cuda_fused_fixtures.h — small graphs with one Fused or LayerNorm node, for
 * the codegen tests (emitted source, NVRTC) and the GPU tests (against the
 * CPU executor's kernels). Each builder makes a fresh graph whose values
 * have static shapes, so the CPU kernels and the launch helper agree.
 */
#ifndef RG_TESTS_CUDA_FUSED_FIXTURES_H
#define RG_TESTS_CUDA_FUSED_FIXTURES_H

#include <criterion/criterion.h>
#include <string.h>

#include "ir/fused.h"
#include "ir/graph.h"

static inline rg_value *cf_value(rg_graph *g, const char *name, rg_dtype dtype, int rank, const int64_t *dims) {
    rg_dim d[RG_MAX_RANK];
    for (int i = 0; i < rank; i++) d[i] = rg_dim_const(dims[i]);
    rg_value *v = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_graph_add_value(g, name, dtype, rank, d, &v, &err), RG_OK, "%s", err.message);
    return v;
}

static inline rg_graph *cf_graph(void) {
    rg_graph *g = NULL;
    cr_assert_eq(rg_graph_new(NULL, &g, NULL), RG_OK);
    g->opset = 17;
    return g;
}

static inline rg_node *cf_node(rg_graph *g, rg_op op, const char *name, uint32_t nin, rg_value *const *ins,
                               uint32_t nout, rg_value *const *outs) {
    rg_node *n = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_graph_add_node(g, op, name, 1, nin, ins, nout, outs, &n, &err), RG_OK, "%s", err.message);
    return n;
}

static inline void cf_finish(rg_fused_builder *b, rg_graph *g, rg_node *n) {
    rg_error err = {0};
    cr_assert_eq(rg_fused_builder_finish(b, g, n, &err), RG_OK, "%s", err.message);
    rg_fused_builder_deinit(b);
}

/* softmax(scores * scale + mask) over the last axis; scores [rows..., n],
 * mask broadcast as [B, 1, 1, n] when scores have rank 4 ([1, n] otherwise). */
static inline rg_node *cf_softmax(rg_graph *g, rg_dtype dt, int rank, const int64_t *dims, float scale) {
    int64_t md[4] = {dims[0], 1, 1, dims[rank - 1]};
    int64_t md2[2] = {1, dims[rank - 1]};
    rg_value *x = cf_value(g, "scores", dt, rank, dims);
    rg_value *m = rank == 4 ? cf_value(g, "mask", dt, 4, md) : cf_value(g, "mask", dt, 2, md2);
    rg_value *y = cf_value(g, "probs", dt, rank, dims);
    rg_node *n = cf_node(g, RG_OP_FUSED, "probs", 2, (rg_value *[]){x, m}, 1, &y);
    rg_fused_builder b;
    rg_fused_builder_init(&b, NULL);
    int32_t r0 = rg_fused_emit(&b, RG_FUSED_LOAD, 0, RG_FUSED_LOAD_ROW, 0);
    int32_t c = rg_fused_emit_const(&b, scale);
    int32_t s = rg_fused_emit(&b, RG_FUSED_MUL, r0, c, 0);
    int32_t mk = rg_fused_emit(&b, RG_FUSED_LOAD, 1, RG_FUSED_LOAD_ROW, 0);
    int32_t a = rg_fused_emit(&b, RG_FUSED_ADD, s, mk, 0);
    int32_t mx = rg_fused_emit(&b, RG_FUSED_RMAX, a, 0, 0);
    int32_t d = rg_fused_emit(&b, RG_FUSED_SUB, a, mx, 0);
    int32_t e = rg_fused_emit(&b, RG_FUSED_EXP, d, 0, 0);
    int32_t sum = rg_fused_emit(&b, RG_FUSED_RSUM, e, 0, 0);
    int32_t p = rg_fused_emit(&b, RG_FUSED_DIV, e, sum, 0);
    rg_fused_emit(&b, RG_FUSED_STORE, 0, p, RG_FUSED_STORE_ROW);
    cf_finish(&b, g, n);
    return n;
}

/* gelu(x + bias) with bias a row vector shared by every row. */
static inline rg_node *cf_gelu_chain(rg_graph *g, rg_dtype dt, int rank, const int64_t *dims) {
    int64_t bd[1] = {dims[rank - 1]};
    rg_value *x = cf_value(g, "x", dt, rank, dims);
    rg_value *bias = cf_value(g, "bias", dt, 1, bd);
    rg_value *y = cf_value(g, "y", dt, rank, dims);
    rg_node *n = cf_node(g, RG_OP_FUSED, "bias_gelu", 2, (rg_value *[]){x, bias}, 1, &y);
    rg_fused_builder b;
    rg_fused_builder_init(&b, NULL);
    int32_t r0 = rg_fused_emit(&b, RG_FUSED_LOAD, 0, RG_FUSED_LOAD_ROW, 0);
    int32_t r1 = rg_fused_emit(&b, RG_FUSED_LOAD, 1, RG_FUSED_LOAD_ROW, 0);
    int32_t a = rg_fused_emit(&b, RG_FUSED_ADD, r0, r1, 0);
    int32_t gl = rg_fused_emit(&b, RG_FUSED_GELU, a, 0, 0);
    rg_fused_emit(&b, RG_FUSED_STORE, 0, gl, RG_FUSED_STORE_ROW);
    cf_finish(&b, g, n);
    return n;
}

/* LayerNorm(x, scale, bias, residual) -> (y, x + residual). */
static inline rg_node *cf_layer_norm(rg_graph *g, rg_dtype dt, int rank, const int64_t *dims, bool with_sum) {
    int64_t vd[1] = {dims[rank - 1]};
    rg_value *x = cf_value(g, "x", dt, rank, dims);
    rg_value *s = cf_value(g, "gamma", dt, 1, vd);
    rg_value *b = cf_value(g, "beta", dt, 1, vd);
    rg_value *r = cf_value(g, "residual", dt, rank, dims);
    rg_value *y = cf_value(g, "y", dt, rank, dims);
    rg_value *sum = cf_value(g, "sum", dt, rank, dims);
    rg_node *n = cf_node(g, RG_OP_LAYER_NORM, "ln", 4, (rg_value *[]){x, s, b, r}, with_sum ? 2 : 1,
                         (rg_value *[]){y, sum});
    rg_attr *a = rg_arena_alloc(&g->arena, sizeof *a);
    memset(a, 0, sizeof *a);
    a->name = "epsilon";
    a->kind = RG_ATTR_FLOAT;
    a->f = 1e-5f;
    rg_node_set_attrs(n, 1, a);
    return n;
}

/* Every opcode once: per-row loads, a per-tensor scalar, all unary and binary
 * ops, the three reductions (one level apart), every store mode. Inputs:
 * x [rows, n], t [rows, 1], c [] ; outputs: row, keep, drop, spread. */
static inline rg_node *cf_everything(rg_graph *g, rg_dtype dt, int64_t rows, int64_t n) {
    int64_t xd[2] = {rows, n}, td[2] = {rows, 1};
    rg_value *x = cf_value(g, "x", dt, 2, xd);
    rg_value *t = cf_value(g, "t", dt, 2, td);
    rg_value *c = cf_value(g, "c", dt, 0, NULL);
    rg_value *o0 = cf_value(g, "o_row", dt, 2, xd);
    rg_value *o1 = cf_value(g, "o_keep", dt, 2, td);
    rg_value *o2 = cf_value(g, "o_drop", dt, 1, xd);
    rg_value *o3 = cf_value(g, "o_spread", dt, 2, xd);
    rg_node *node = cf_node(g, RG_OP_FUSED, "everything", 3, (rg_value *[]){x, t, c}, 4,
                            (rg_value *[]){o0, o1, o2, o3});
    rg_fused_builder b;
    rg_fused_builder_init(&b, NULL);
    int32_t rx = rg_fused_emit(&b, RG_FUSED_LOAD, 0, RG_FUSED_LOAD_ROW, 0);
    int32_t rt = rg_fused_emit(&b, RG_FUSED_LOAD, 1, RG_FUSED_LOAD_SCALAR, 0);
    int32_t rc = rg_fused_emit(&b, RG_FUSED_LOAD, 2, RG_FUSED_LOAD_SCALAR, 0);
    int32_t half = rg_fused_emit_const(&b, 0.5f);
    int32_t acc = rg_fused_emit(&b, RG_FUSED_MUL, rx, half, 0);
    /* bounded inputs for every unary op, summed so each one matters */
    int32_t small = rg_fused_emit(&b, RG_FUSED_TANH, rx, 0, 0);
    int32_t pos = rg_fused_emit(&b, RG_FUSED_ADD, rg_fused_emit(&b, RG_FUSED_ABS, small, 0, 0),
                                rg_fused_emit_const(&b, 1.5f), 0);
    static const rg_fused_opcode unaries[] = {RG_FUSED_NEG, RG_FUSED_EXP, RG_FUSED_ERF, RG_FUSED_SIGMOID,
                                              RG_FUSED_RELU, RG_FUSED_GELU, RG_FUSED_GELU_TANH, RG_FUSED_FLOOR,
                                              RG_FUSED_CEIL, RG_FUSED_SIN, RG_FUSED_COS, RG_FUSED_SIGN};
    for (size_t i = 0; i < sizeof unaries / sizeof *unaries; i++)
        acc = rg_fused_emit(&b, RG_FUSED_ADD, acc, rg_fused_emit(&b, unaries[i], small, 0, 0), 0);
    static const rg_fused_opcode on_pos[] = {RG_FUSED_SQRT, RG_FUSED_RECIP, RG_FUSED_LOG};
    for (size_t i = 0; i < 3; i++) acc = rg_fused_emit(&b, RG_FUSED_ADD, acc, rg_fused_emit(&b, on_pos[i], pos, 0, 0), 0);
    acc = rg_fused_emit(&b, RG_FUSED_ADD, acc, rg_fused_emit(&b, RG_FUSED_POW, pos, rt, 0), 0);
    acc = rg_fused_emit(&b, RG_FUSED_SUB, acc, rg_fused_emit(&b, RG_FUSED_MAX, small, rc, 0), 0);
    acc = rg_fused_emit(&b, RG_FUSED_ADD, acc, rg_fused_emit(&b, RG_FUSED_MIN, small, rt, 0), 0);
    acc = rg_fused_emit(&b, RG_FUSED_DIV, acc, pos, 0);
    int32_t mean = rg_fused_emit(&b, RG_FUSED_RMEAN, acc, 0, 0);
    int32_t mx = rg_fused_emit(&b, RG_FUSED_RMAX, acc, 0, 0);
    int32_t centred = rg_fused_emit(&b, RG_FUSED_SUB, acc, mean, 0);
    int32_t sum = rg_fused_emit(&b, RG_FUSED_RSUM, rg_fused_emit(&b, RG_FUSED_MUL, centred, centred, 0), 0, 0);
    rg_fused_emit(&b, RG_FUSED_STORE, 0, centred, RG_FUSED_STORE_ROW);
    rg_fused_emit(&b, RG_FUSED_STORE, 1, sum, RG_FUSED_STORE_SCALAR_KEEP);
    rg_fused_emit(&b, RG_FUSED_STORE, 2, mx, RG_FUSED_STORE_SCALAR_DROP);
    rg_fused_emit(&b, RG_FUSED_STORE, 3, rg_fused_emit(&b, RG_FUSED_ADD, mean, rt, 0), RG_FUSED_STORE_ROW);
    cf_finish(&b, g, node);
    return node;
}

#endif
