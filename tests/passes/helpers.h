/*
 * helpers.h — shared by the pass tests: the CPU evaluator the tools will wire
 * in the same way, small graph builders, and running a graph on the CPU
 * executor to compare outputs before and after a pass.
 */
#ifndef RG_TESTS_PASSES_HELPERS_H
#define RG_TESTS_PASSES_HELPERS_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/graph.h"
#include "ir/rewrite.h"
#include "passes/pass.h"
#include "runtime/cpu.h"
#include "runtime/cpu_internal.h"

/* The evaluator: one CPU kernel call per folded node. */
static inline rg_status tp_eval(void *user, const rg_node *node, const rg_tensor *const *inputs,
                                rg_tensor *outputs, rg_error *err) {
    (void)user;
    rg_cpu_kernel kernel = rg_cpu_kernel_for(node->op);
    if (!kernel) return rg_error_set(err, RG_ERR_UNSUPPORTED, "no CPU kernel for %s", rg_op_name(node->op));
    rg_cpu_ctx ctx = {.alloc = rg_allocator_default(), .num_threads = 1};
    return kernel(&ctx, node, inputs, outputs, err);
}

static inline void tp_free(void *user, rg_tensor *t) {
    (void)user;
    rg_cpu_ctx ctx = {.alloc = rg_allocator_default(), .num_threads = 1};
    rg_cpu_free_tensor(&ctx, t);
}

static const rg_pass_evaluator tp_evaluator = {tp_eval, tp_free, NULL};

static inline rg_value *tp_value(rg_graph *g, const char *name, rg_dtype dtype, int rank, const rg_dim *dims) {
    rg_value *v = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_graph_add_value(g, name, dtype, rank, dims, &v, &err), RG_OK, "%s", err.message);
    return v;
}

static inline rg_value *tp_input(rg_graph *g, const char *name, rg_dtype dtype, int rank, const rg_dim *dims) {
    rg_value *v = tp_value(g, name, dtype, rank, dims);
    cr_assert_eq(rg_graph_add_input(g, v, NULL), RG_OK);
    return v;
}

static inline rg_value *tp_const(rg_graph *g, const char *name, rg_dtype dtype, int rank, const int64_t *dims,
                                 const void *data) {
    rg_tensor *t = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_graph_new_tensor(g, dtype, rank, dims, &t, &err), RG_OK, "%s", err.message);
    if (t->nbytes) memcpy(t->data, data, t->nbytes);
    rg_value *v = tp_value(g, name, dtype, -1, NULL);
    cr_assert_eq(rg_value_set_constant(g, v, t, &err), RG_OK);
    return v;
}

static inline rg_value *tp_const_i64(rg_graph *g, const char *name, int n, const int64_t *elems) {
    int64_t dim = n;
    return tp_const(g, name, RG_DTYPE_I64, 1, &dim, elems);
}

/* A node with one output value named `out` (shape filled by inference). */
static inline rg_node *tp_node(rg_graph *g, rg_op op, const char *out, uint32_t nin, rg_value *const *ins,
                               rg_value **result) {
    rg_value *y = tp_value(g, out, RG_DTYPE_UNDEFINED, -1, NULL);
    rg_node *n = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_graph_add_node(g, op, out, 17, nin, ins, 1, &y, &n, &err), RG_OK, "%s", err.message);
    if (result) *result = y;
    return n;
}

static inline void tp_attr_int(rg_graph *g, rg_node *n, const char *name, int64_t value) {
    rg_attr *a = rg_arena_alloc(&g->arena, sizeof *a);
    a->name = rg_arena_strdup(&g->arena, name);
    a->kind = RG_ATTR_INT;
    a->i = value;
    rg_node_set_attrs(n, 1, a);
}

static inline int tp_count(const rg_graph *g, rg_op op) {
    int c = 0;
    for (uint32_t i = 0; i < g->nnodes; i++) c += g->nodes[i]->op == op;
    return c;
}

/* Nodes of `op` whose STRING attribute `name` is `value`. */
static inline int tp_count_attr(const rg_graph *g, rg_op op, const char *name, const char *value) {
    int c = 0;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const rg_attr *a = rg_node_attr(g->nodes[i], name);
        c += g->nodes[i]->op == op && a && a->kind == RG_ATTR_STRING && !strcmp(a->s, value);
    }
    return c;
}

/* Copies of a run's outputs, owned by the caller (tp_outputs_free). */
typedef struct tp_outputs {
    size_t n;
    rg_tensor t[16];
} tp_outputs;

static inline void tp_outputs_free(tp_outputs *o) {
    for (size_t i = 0; i < o->n; i++) free(o->t[i].data);
    o->n = 0;
}

static inline rg_status tp_run(const rg_graph *g, const rg_tensor *inputs, size_t ninputs, tp_outputs *out,
                               rg_error *err) {
    rg_cpu_exec *exec = NULL;
    RG_TRY(rg_cpu_exec_new(g, NULL, 1, &exec, err));
    rg_status st = rg_cpu_exec_run(exec, inputs, ninputs, err);
    out->n = 0;
    for (size_t i = 0; st == RG_OK && i < g->noutputs && i < 16; i++) {
        const rg_tensor *t = rg_cpu_exec_output(exec, i);
        out->t[i] = *t;
        out->t[i].data = malloc(t->nbytes ? t->nbytes : 1);
        if (t->nbytes) memcpy(out->t[i].data, t->data, t->nbytes);
        out->n++;
    }
    rg_cpu_exec_free(exec);
    return st;
}

/* max|a-b| / max(max|b|, tiny) per tensor, the largest over all outputs;
 * a shape or dtype mismatch is +inf. */
static inline double tp_max_rel(const tp_outputs *a, const tp_outputs *b) {
    if (a->n != b->n) return INFINITY;
    double worst = 0;
    for (size_t i = 0; i < a->n; i++) {
        const rg_tensor *x = &a->t[i], *y = &b->t[i];
        if (x->dtype != y->dtype || x->rank != y->rank || memcmp(x->dims, y->dims, sizeof(int64_t) * (size_t)x->rank))
            return INFINITY;
        size_t n = rg_tensor_numel(x);
        double diff = 0, scale = 0;
        for (size_t k = 0; k < n; k++) {
            double p = rg_load_as_double(x->dtype, x->data, k), q = rg_load_as_double(y->dtype, y->data, k);
            if (fabs(p - q) > diff || isnan(p) != isnan(q)) diff = isnan(p) != isnan(q) ? INFINITY : fabs(p - q);
            if (fabs(q) > scale) scale = fabs(q);
        }
        double rel = diff / (scale > 1e-30 ? scale : 1e-30);
        if (diff == 0) rel = 0;
        if (rel > worst) worst = rel;
    }
    return worst;
}

static inline void tp_verify(const rg_graph *g) {
    rg_error err = {0};
    cr_assert_eq(rg_verify(g, &err), RG_OK, "verify: %s", err.message);
}

#ifdef RG_TEST_SOURCE_DIR
#include "frontend/onnx.h"

/* tests/data/exported/<name>.onnx imported, shapes inferred. */
static inline rg_graph *tp_import_exported(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/exported/%s.onnx", RG_TEST_SOURCE_DIR, name);
    rg_graph *g = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_onnx_import_file(path, NULL, &g, &err), RG_OK, "%s: %s", path, err.message);
    cr_assert_eq(rg_infer_shapes(g, &err), RG_OK, "%s", err.message);
    return g;
}
#endif

#endif
