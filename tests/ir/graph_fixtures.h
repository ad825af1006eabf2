/*
 * graph_fixtures.h — small helpers for building graphs in the IR tests.
 *
 * Shapes are written as text: "B,S,768" makes dims from the graph's symbols
 * B and S and the constant 768, "?" is an unknown dim, "" a scalar and "*"
 * an unknown rank. Every fixture graph uses a counting allocator so that
 * fx_end() can check that freeing the graph returns every byte.
 */
#ifndef RG_TESTS_IR_GRAPH_FIXTURES_H
#define RG_TESTS_IR_GRAPH_FIXTURES_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir/graph.h"

typedef struct fx {
    rg_counting_allocator counting;
    rg_graph *g;
    rg_error err;
} fx;

static inline void fx_begin(fx *f, int opset) {
    memset(f, 0, sizeof *f);
    rg_counting_allocator_init(&f->counting, NULL, -1);
    cr_assert_eq(rg_graph_new(&f->counting.base, &f->g, &f->err), RG_OK);
    f->g->opset = opset;
    f->g->name = "test";
}

static inline void fx_end(fx *f) {
    rg_graph_free(f->g);
    f->g = NULL;
    cr_assert_eq(f->counting.in_use, 0, "leaked %zu bytes", f->counting.in_use);
}

/* Parses a shape spec into dims; returns the rank (-1 for "*"). */
static inline int fx_parse(rg_graph *g, const char *spec, rg_dim *dims) {
    if (strcmp(spec, "*") == 0) return -1;
    int rank = 0;
    const char *p = spec;
    while (*p) {
        char tok[64];
        size_t n = strcspn(p, ",");
        cr_assert(n < sizeof tok && rank < RG_MAX_RANK);
        memcpy(tok, p, n);
        tok[n] = '\0';
        if (strcmp(tok, "?") == 0) dims[rank] = rg_dim_unknown();
        else if ((tok[0] >= '0' && tok[0] <= '9') || tok[0] == '-') dims[rank] = rg_dim_const(strtoll(tok, NULL, 10));
        else dims[rank] = rg_dim_symbol(rg_graph_symbol(g, tok));
        rank++;
        p += n;
        if (*p == ',') p++;
    }
    return rank;
}

/* A value named `name`, made when absent (typed only when made). */
static inline rg_value *fx_val(fx *f, const char *name, rg_dtype dtype, const char *spec) {
    rg_value *v = rg_graph_find_value(f->g, name);
    if (v) return v;
    rg_dim dims[RG_MAX_RANK];
    int rank = fx_parse(f->g, spec, dims);
    cr_assert_eq(rg_graph_add_value(f->g, name, dtype, rank, dims, &v, &f->err), RG_OK, "%s", f->err.message);
    return v;
}

static inline rg_value *fx_input(fx *f, const char *name, rg_dtype dtype, const char *spec) {
    rg_value *v = fx_val(f, name, dtype, spec);
    cr_assert_eq(rg_graph_add_input(f->g, v, &f->err), RG_OK);
    return v;
}

/* An int64 constant of rank 1 (or 0 when rank0), from n values. */
static inline rg_value *fx_const_i64(fx *f, const char *name, bool rank0, int n, const int64_t *vals) {
    rg_tensor *t;
    int64_t dim = n;
    cr_assert_eq(rg_graph_new_tensor(f->g, RG_DTYPE_I64, rank0 ? 0 : 1, &dim, &t, &f->err), RG_OK);
    if (n) memcpy(t->data, vals, sizeof(int64_t) * (size_t)n);
    rg_value *v = fx_val(f, name, RG_DTYPE_UNDEFINED, "*");
    cr_assert_eq(rg_value_set_constant(f->g, v, t, &f->err), RG_OK);
    return v;
}

#define FX_I64(f, name, ...) \
    fx_const_i64((f), (name), false, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})
#define FX_SCALAR(f, name, x) fx_const_i64((f), (name), true, 1, (int64_t[]){x})

/* A float32 constant with the given dims, filled with 0.5 * i. */
static inline rg_value *fx_const_f32(fx *f, const char *name, int rank, const int64_t *dims) {
    rg_tensor *t;
    cr_assert_eq(rg_graph_new_tensor(f->g, RG_DTYPE_F32, rank, dims, &t, &f->err), RG_OK);
    for (size_t i = 0; i < rg_tensor_numel(t); i++) ((float *)t->data)[i] = 0.5f * (float)i;
    rg_value *v = fx_val(f, name, RG_DTYPE_UNDEFINED, "*");
    cr_assert_eq(rg_value_set_constant(f->g, v, t, &f->err), RG_OK);
    return v;
}

/* A node reading the comma-separated `ins` ("" entries are omitted inputs;
 * values must exist) and writing `outs` (made, untyped, when absent). */
static inline rg_node *fx_node(fx *f, rg_op op, const char *name, int opset, const char *ins, const char *outs) {
    rg_value *in[16], *out[16];
    uint32_t nin = 0, nout = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *p = pass ? outs : ins;
        rg_value **arr = pass ? out : in;
        uint32_t *count = pass ? &nout : &nin;
        while (p && *p) {
            char tok[64];
            size_t n = strcspn(p, ",");
            cr_assert(n < sizeof tok && *count < 16);
            memcpy(tok, p, n);
            tok[n] = '\0';
            if (!tok[0]) arr[(*count)++] = NULL;
            else if (pass) arr[(*count)++] = fx_val(f, tok, RG_DTYPE_UNDEFINED, "*");
            else {
                rg_value *v = rg_graph_find_value(f->g, tok);
                cr_assert(v, "no value '%s'", tok);
                arr[(*count)++] = v;
            }
            p += n;
            if (*p == ',') {
                p++;
                if (!*p) arr[(*count)++] = NULL;
            }
        }
    }
    rg_node *node;
    cr_assert_eq(rg_graph_add_node(f->g, op, name, opset, nin, in, nout, out, &node, &f->err), RG_OK, "%s",
                 f->err.message);
    return node;
}

/* Appends one attribute (the array is copied into the arena each time). */
static inline rg_attr *fx_attr(fx *f, rg_node *node, const char *name, rg_attr_kind kind) {
    rg_attr *attrs = rg_arena_array(&f->g->arena, node->nattrs + 1, sizeof *attrs);
    cr_assert(attrs);
    if (node->nattrs) memcpy(attrs, node->attrs, sizeof *attrs * node->nattrs);
    rg_attr *a = &attrs[node->nattrs];
    a->name = rg_arena_strdup(&f->g->arena, name);
    a->kind = kind;
    rg_node_set_attrs(node, node->nattrs + 1, attrs);
    return a;
}

static inline void fx_attr_int(fx *f, rg_node *node, const char *name, int64_t v) {
    fx_attr(f, node, name, RG_ATTR_INT)->i = v;
}

static inline void fx_attr_float(fx *f, rg_node *node, const char *name, float v) {
    fx_attr(f, node, name, RG_ATTR_FLOAT)->f = v;
}

static inline void fx_attr_ints(fx *f, rg_node *node, const char *name, int n, const int64_t *vals) {
    int64_t *copy = rg_arena_array(&f->g->arena, n ? (size_t)n : 1, sizeof *copy);
    cr_assert(copy);
    if (n) memcpy(copy, vals, sizeof *copy * (size_t)n);
    rg_attr *a = fx_attr(f, node, name, RG_ATTR_INTS);
    a->ints = copy;
    a->count = (size_t)n;
}

#define FX_INTS(f, node, name, ...) \
    fx_attr_ints((f), (node), (name), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

/* "float32[B, S, 768]", "int64[]" or "float32[*]" for value `name`. */
static inline const char *fx_type(fx *f, const char *name, char *buf, size_t cap) {
    rg_value *v = rg_graph_find_value(f->g, name);
    cr_assert(v, "no value '%s'", name);
    size_t len = (size_t)snprintf(buf, cap, "%s[", rg_dtype_name(v->dtype));
    if (v->rank < 0) len += (size_t)snprintf(buf + len, cap - len, "*");
    for (int i = 0; i < v->rank && len < cap; i++) {
        if (i) len += (size_t)snprintf(buf + len, cap - len, ", ");
        if (len < cap) len += (size_t)rg_dim_format(&v->dims[i], f->g->symbols, f->g->nsymbols, buf + len, cap - len);
    }
    if (len < cap) snprintf(buf + len, cap - len, "]");
    return buf;
}

/* Infers the whole graph and checks value `name`'s type. */
#define FX_EXPECT_TYPE(f, name, want)                                                         \
    do {                                                                                        \
        char fx_buf_[256];                                                                      \
        cr_assert_str_eq(fx_type((f), (name), fx_buf_, sizeof fx_buf_), (want), "value %s is %s", (name), fx_buf_); \
    } while (0)

#define FX_INFER_OK(f) cr_assert_eq(rg_infer_shapes((f)->g, &(f)->err), RG_OK, "%s", (f)->err.message)

#define FX_INFER_FAILS(f, status, needle)                                                         \
    do {                                                                                          \
        cr_assert_eq(rg_infer_shapes((f)->g, &(f)->err), (status), "got: %s", (f)->err.message);  \
        cr_assert(strstr((f)->err.message, (needle)), "message '%s' lacks '%s'", (f)->err.message, (needle)); \
    } while (0)

#endif
