/*
 * graph.c — building the IR: values, nodes, the name index, symbols,
 * attributes, constant payloads and the topological sort.
 */
#include "graph.h"

#include <string.h>
#include <sys/mman.h>

bool rg_shape_numel(int rank, const int64_t *dims, size_t *out) {
    size_t n = 1;
    bool empty = false;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || (uint64_t)dims[i] > SIZE_MAX) return false;
        empty |= dims[i] == 0;
    }
    /* any zero dim makes the tensor empty, whatever the order of the others */
    for (int i = 0; i < rank && !empty; i++)
        if (!rg_size_mul(n, (size_t)dims[i], &n)) return false;
    if (empty) n = 0;
    *out = n;
    return true;
}

rg_status rg_tensor_set_shape(rg_tensor *t, rg_dtype dtype, int rank, const int64_t *dims, rg_error *err) {
    if (rank < 0 || rank > RG_MAX_RANK)
        return rg_error_set(err, RG_ERR_SHAPE, "rank %d is outside 0..%d", rank, RG_MAX_RANK);
    if (!rg_dtype_is_valid(dtype)) return rg_error_set(err, RG_ERR_DTYPE, "undefined dtype");
    size_t n, bytes;
    if (!rg_shape_numel(rank, dims, &n) || !rg_size_mul(n, rg_dtype_size(dtype), &bytes))
        return rg_error_set(err, RG_ERR_SHAPE, "tensor shape has a negative dim or its size overflows");
    t->dtype = dtype;
    t->rank = rank;
    memset(t->dims, 0, sizeof t->dims);
    if (rank) memcpy(t->dims, dims, sizeof(int64_t) * (size_t)rank);
    t->nbytes = bytes;
    return RG_OK;
}

size_t rg_tensor_numel(const rg_tensor *t) {
    size_t n = 0;
    (void)rg_shape_numel(t->rank, t->dims, &n);
    return n;
}

const char *rg_attr_kind_name(rg_attr_kind kind) {
    static const char *const names[RG_ATTR_KIND_COUNT] = {
        "undefined", "float", "int", "string", "tensor", "graph", "sparse_tensor", "type_proto",
        "floats", "ints", "strings", "tensors", "graphs", "sparse_tensors", "type_protos"};
    return (unsigned)kind < RG_ATTR_KIND_COUNT ? names[kind] : "?";
}

static rg_status oom(rg_error *err, const char *what) {
    return rg_error_set(err, RG_ERR_NOMEM, "out of memory while adding %s to the graph", what);
}

/* Grows an arena array of pointers to hold one more; old storage stays in the
 * arena (at most doubling the space used). */
static bool grow(rg_arena *a, void ***arr, uint32_t n, uint32_t *cap) {
    if (n < *cap) return true;
    if (*cap >= UINT32_MAX / 2) return false;
    uint32_t ncap = *cap ? *cap * 2 : 16;
    void **fresh = rg_arena_array(a, ncap, sizeof(void *));
    if (!fresh) return false;
    if (n) memcpy(fresh, *arr, sizeof(void *) * n);
    *arr = fresh;
    *cap = ncap;
    return true;
}

#define GROW(g, arr, n, cap) grow(&(g)->arena, (void ***)&(arr), (n), &(cap))

rg_status rg_graph_new(const rg_allocator *alloc, rg_graph **out, rg_error *err) {
    if (!alloc) alloc = rg_allocator_default();
    rg_graph *g = rg_mem_calloc(alloc, 1, sizeof *g);
    if (!g) return oom(err, "a graph");
    g->alloc = alloc;
    rg_arena_init(&g->arena, alloc);
    g->name = "";
    g->producer = "";
    /* symbol id 0 means "no symbol" */
    if (!GROW(g, g->symbols, 0, g->symbols_cap)) {
        rg_graph_free(g);
        return oom(err, "a graph");
    }
    g->symbols[0] = NULL;
    g->nsymbols = 1;
    *out = g;
    return RG_OK;
}

void rg_graph_free(rg_graph *g) {
    if (!g) return;
    for (rg_mapping *m = g->mappings; m; m = m->next) munmap(m->addr, m->len);
    const rg_allocator *alloc = g->alloc;
    rg_arena_deinit(&g->arena);
    rg_mem_free(alloc, g, sizeof *g);
}

static uint32_t hash_name(const char *s) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static bool index_insert(rg_value **index, uint32_t cap, rg_value *v) {
    uint32_t i = hash_name(v->name) & (cap - 1);
    while (index[i]) i = (i + 1) & (cap - 1);
    index[i] = v;
    return true;
}

static bool index_reserve(rg_graph *g) {
    /* keep load under one half */
    if ((uint64_t)(g->nvalues + 1) * 2 <= g->index_cap) return true;
    uint32_t ncap = g->index_cap ? g->index_cap * 2 : 64;
    if (ncap == 0 || ncap > (1u << 30)) return false;
    rg_value **fresh = rg_arena_array(&g->arena, ncap, sizeof *fresh);
    if (!fresh) return false;
    for (uint32_t i = 0; i < g->nvalues; i++)
        if (g->values[i]->name[0]) index_insert(fresh, ncap, g->values[i]);
    g->index = fresh;
    g->index_cap = ncap;
    return true;
}

rg_status rg_graph_reindex(rg_graph *g, rg_error *err) {
    uint32_t ncap = 64;
    while ((uint64_t)(g->nvalues + 1) * 2 > ncap) {
        if (ncap > (1u << 29)) return oom(err, "the name index");
        ncap *= 2;
    }
    rg_value **fresh = rg_arena_array(&g->arena, ncap, sizeof *fresh);
    if (!fresh) return oom(err, "the name index");
    for (uint32_t i = 0; i < g->nvalues; i++)
        if (g->values[i]->name[0]) index_insert(fresh, ncap, g->values[i]);
    g->index = fresh;
    g->index_cap = ncap;
    return RG_OK;
}

rg_value *rg_graph_find_value(const rg_graph *g, const char *name) {
    if (!g->index_cap || !name || !name[0]) return NULL;
    uint32_t i = hash_name(name) & (g->index_cap - 1);
    while (g->index[i]) {
        if (strcmp(g->index[i]->name, name) == 0) return g->index[i];
        i = (i + 1) & (g->index_cap - 1);
    }
    return NULL;
}

rg_status rg_value_set_shape(rg_graph *g, rg_value *v, rg_dtype dtype, int rank, const rg_dim *dims,
                             rg_error *err) {
    if (rank > RG_MAX_RANK)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "value '%s' has rank %d; ragged supports up to %d",
                            v->name, rank, RG_MAX_RANK);
    rg_dim *copy = NULL;
    if (rank > 0) {
        copy = rg_arena_array(&g->arena, (size_t)rank, sizeof *copy);
        if (!copy) return oom(err, "a shape");
        memcpy(copy, dims, sizeof *copy * (size_t)rank);
    }
    v->dtype = dtype;
    v->rank = rank < 0 ? -1 : rank;
    v->dims = copy;
    return RG_OK;
}

rg_status rg_graph_add_value(rg_graph *g, const char *name, rg_dtype dtype, int rank, const rg_dim *dims,
                             rg_value **out, rg_error *err) {
    if (!name) name = "";
    if (name[0] && rg_graph_find_value(g, name))
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "value '%s' is defined twice", name);
    rg_value *v = rg_arena_alloc(&g->arena, sizeof *v);
    if (!v || !GROW(g, g->values, g->nvalues, g->values_cap) || !index_reserve(g)) return oom(err, "a value");
    v->name = rg_arena_strdup(&g->arena, name);
    if (!v->name) return oom(err, "a value");
    v->id = g->nvalues;
    v->rank = -1;
    RG_TRY(rg_value_set_shape(g, v, dtype, rank, dims, err));
    g->values[g->nvalues++] = v;
    if (name[0]) index_insert(g->index, g->index_cap, v);
    *out = v;
    return RG_OK;
}

static bool add_consumer(rg_graph *g, rg_value *v, rg_node *n) {
    if (!GROW(g, v->consumers, v->nconsumers, v->consumers_cap)) return false;
    v->consumers[v->nconsumers++] = n;
    return true;
}

rg_status rg_graph_add_node(rg_graph *g, rg_op op, const char *name, int opset, uint32_t ninputs,
                            rg_value *const *inputs, uint32_t noutputs, rg_value *const *outputs,
                            rg_node **out, rg_error *err) {
    RG_ASSERT((unsigned)op < RG_OP_COUNT);
    if (!name) name = "";
    for (uint32_t i = 0; i < noutputs; i++)
        if (outputs[i] && (outputs[i]->producer || outputs[i]->constant || outputs[i]->is_input))
            return rg_error_set(err, RG_ERR_INVALID_MODEL,
                                "node '%s' (%s) writes value '%s', which is already defined", name,
                                rg_op_name(op), outputs[i]->name);
    rg_node *n = rg_arena_alloc(&g->arena, sizeof *n);
    if (!n || !GROW(g, g->nodes, g->nnodes, g->nodes_cap)) return oom(err, "a node");
    n->name = rg_arena_strdup(&g->arena, name);
    n->inputs = rg_arena_array(&g->arena, ninputs ? ninputs : 1, sizeof *n->inputs);
    n->outputs = rg_arena_array(&g->arena, noutputs ? noutputs : 1, sizeof *n->outputs);
    if (!n->name || !n->inputs || !n->outputs) return oom(err, "a node");
    n->id = g->nnodes;
    n->op = op;
    n->opset = opset;
    n->ninputs = ninputs;
    n->noutputs = noutputs;
    if (ninputs) memcpy(n->inputs, inputs, sizeof *n->inputs * ninputs);
    if (noutputs) memcpy(n->outputs, outputs, sizeof *n->outputs * noutputs);
    for (uint32_t i = 0; i < ninputs; i++)
        if (inputs[i] && !add_consumer(g, inputs[i], n)) return oom(err, "a node");
    for (uint32_t i = 0; i < noutputs; i++)
        if (outputs[i]) outputs[i]->producer = n;
    g->nodes[g->nnodes++] = n;
    if (out) *out = n;
    return RG_OK;
}

void rg_node_set_attrs(rg_node *node, uint32_t nattrs, rg_attr *attrs) {
    node->nattrs = nattrs;
    node->attrs = attrs;
}

rg_status rg_graph_add_input(rg_graph *g, rg_value *v, rg_error *err) {
    if (v->producer || v->constant)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "graph input '%s' is also produced inside the graph",
                            v->name);
    if (!GROW(g, g->inputs, g->ninputs, g->inputs_cap)) return oom(err, "an input");
    v->is_input = true;
    g->inputs[g->ninputs++] = v;
    return RG_OK;
}

rg_status rg_graph_add_output(rg_graph *g, rg_value *v, rg_error *err) {
    if (!GROW(g, g->outputs, g->noutputs, g->outputs_cap)) return oom(err, "an output");
    v->is_output = true;
    g->outputs[g->noutputs++] = v;
    return RG_OK;
}

uint16_t rg_graph_symbol(rg_graph *g, const char *name) {
    for (uint32_t i = 1; i < g->nsymbols; i++)
        if (strcmp(g->symbols[i], name) == 0) return (uint16_t)i;
    if (g->nsymbols >= UINT16_MAX) return 0;
    const char *copy = rg_arena_strdup(&g->arena, name);
    if (!copy || !GROW(g, g->symbols, g->nsymbols, g->symbols_cap)) return 0;
    g->symbols[g->nsymbols] = copy;
    return (uint16_t)g->nsymbols++;
}

rg_status rg_graph_bound_symbol(rg_graph *g, uint16_t sym, int64_t max, rg_error *err) {
    if (sym == 0 || sym >= g->nsymbols || max < 0)
        return rg_error_set(err, RG_ERR_INTERNAL, "bound %lld on symbol %u is malformed", (long long)max, sym);
    for (uint32_t i = 0; i < g->nbounds; i++)
        if (g->bounds[i].sym == sym) {
            if (max < g->bounds[i].max) g->bounds[i].max = max;
            return RG_OK;
        }
    if (g->nbounds == g->bounds_cap) {
        uint32_t ncap = g->bounds_cap ? g->bounds_cap * 2 : 4;
        rg_dim_bound *fresh = rg_arena_array(&g->arena, ncap, sizeof *fresh);
        if (!fresh) return oom(err, "a bound");
        if (g->nbounds) memcpy(fresh, g->bounds, sizeof *fresh * g->nbounds);
        g->bounds = fresh;
        g->bounds_cap = ncap;
    }
    g->bounds[g->nbounds++] = (rg_dim_bound){sym, max};
    return RG_OK;
}

int64_t rg_graph_symbol_max(const rg_graph *g, uint16_t sym) {
    for (uint32_t i = 0; i < g->nbounds; i++)
        if (g->bounds[i].sym == sym) return g->bounds[i].max;
    return -1;
}

rg_status rg_graph_new_tensor(rg_graph *g, rg_dtype dtype, int rank, const int64_t *dims, rg_tensor **out,
                              rg_error *err) {
    rg_tensor tmp;
    RG_TRY(rg_tensor_set_shape(&tmp, dtype, rank, dims, err));
    rg_tensor *t = rg_arena_alloc(&g->arena, sizeof *t);
    if (!t) return oom(err, "a tensor");
    *t = tmp;
    t->data = rg_arena_alloc_aligned(&g->arena, tmp.nbytes ? tmp.nbytes : 1, 64);
    if (!t->data) return rg_error_set(err, RG_ERR_NOMEM, "out of memory for a %zu-byte tensor", tmp.nbytes);
    *out = t;
    return RG_OK;
}

rg_status rg_value_set_constant(rg_graph *g, rg_value *v, rg_tensor *t, rg_error *err) {
    rg_dim dims[RG_MAX_RANK];
    for (int i = 0; i < t->rank; i++) dims[i] = rg_dim_const(t->dims[i]);
    RG_TRY(rg_value_set_shape(g, v, t->dtype, t->rank, dims, err));
    v->constant = t;
    return RG_OK;
}

rg_status rg_graph_add_mapping(rg_graph *g, void *addr, size_t len, rg_error *err) {
    rg_mapping *m = rg_arena_alloc(&g->arena, sizeof *m);
    if (!m) {
        munmap(addr, len);
        return oom(err, "a file mapping");
    }
    m->addr = addr;
    m->len = len;
    m->next = g->mappings;
    g->mappings = m;
    return RG_OK;
}

const char *rg_node_label(const rg_node *node, char *buf, size_t cap) {
    if (node->name && node->name[0])
        snprintf(buf, cap, "'%s' (%s)", node->name, rg_op_name(node->op));
    else
        snprintf(buf, cap, "#%u (%s)", node->id, rg_op_name(node->op));
    return buf;
}

/* Kahn's algorithm over producer edges. Scratch state comes from the
 * allocator and is freed before returning. */
rg_status rg_graph_topo_sort(rg_graph *g, rg_error *err) {
    uint32_t n = g->nnodes;
    if (n == 0) return RG_OK;
    size_t bytes;
    if (!rg_size_mul(n, 2 * sizeof(uint32_t) + sizeof(rg_node *), &bytes)) return oom(err, "a sort");
    uint32_t *pending = rg_mem_calloc(g->alloc, n, sizeof *pending);
    uint32_t *queue = rg_mem_calloc(g->alloc, n, sizeof *queue);
    rg_node **order = rg_mem_calloc(g->alloc, n, sizeof *order);
    rg_status st = RG_OK;
    if (!pending || !queue || !order) {
        st = oom(err, "a sort");
        goto done;
    }
    for (uint32_t i = 0; i < n; i++) g->nodes[i]->id = i;
    uint32_t head = 0, tail = 0;
    for (uint32_t i = 0; i < n; i++) {
        rg_node *node = g->nodes[i];
        for (uint32_t k = 0; k < node->ninputs; k++)
            if (node->inputs[k] && node->inputs[k]->producer) pending[i]++;
        if (!pending[i]) queue[tail++] = i;
    }
    uint32_t done_count = 0;
    while (head < tail) {
        rg_node *node = g->nodes[queue[head++]];
        order[done_count++] = node;
        for (uint32_t o = 0; o < node->noutputs; o++) {
            rg_value *v = node->outputs[o];
            if (!v) continue;
            for (uint32_t c = 0; c < v->nconsumers; c++) {
                rg_node *user = v->consumers[c];
                /* a node reading the same value twice was counted twice */
                if (--pending[user->id] == 0) queue[tail++] = user->id;
            }
        }
    }
    if (done_count < n) {
        char label[RG_LABEL_MAX];
        for (uint32_t i = 0; i < n; i++)
            if (pending[i]) {
                st = rg_error_set(err, RG_ERR_INVALID_MODEL, "the graph has a cycle through node %s",
                                  rg_node_label(g->nodes[i], label, sizeof label));
                break;
            }
        goto done;
    }
    memcpy(g->nodes, order, sizeof *order * n);
    for (uint32_t i = 0; i < n; i++) g->nodes[i]->id = i;
done:
    rg_mem_free(g->alloc, pending, sizeof *pending * n);
    rg_mem_free(g->alloc, queue, sizeof *queue * n);
    rg_mem_free(g->alloc, order, sizeof *order * n);
    return st;
}

const rg_attr *rg_node_attr(const rg_node *node, const char *name) {
    for (uint32_t i = 0; i < node->nattrs; i++)
        if (strcmp(node->attrs[i].name, name) == 0) return &node->attrs[i];
    return NULL;
}

/* The message leaves the node out: callers (executor, inference) prefix it. */
static rg_status wrong_kind(const rg_node *node, const rg_attr *a, const char *want, rg_error *err) {
    (void)node;
    return rg_error_set(err, RG_ERR_INVALID_MODEL, "attribute '%s' is %s, expected %s", a->name,
                        rg_attr_kind_name(a->kind), want);
}

rg_status rg_node_attr_int(const rg_node *node, const char *name, int64_t dflt, int64_t *out, rg_error *err) {
    const rg_attr *a = rg_node_attr(node, name);
    if (!a) {
        *out = dflt;
        return RG_OK;
    }
    if (a->kind != RG_ATTR_INT) return wrong_kind(node, a, "int", err);
    *out = a->i;
    return RG_OK;
}

rg_status rg_node_attr_float(const rg_node *node, const char *name, float dflt, float *out, rg_error *err) {
    const rg_attr *a = rg_node_attr(node, name);
    if (!a) {
        *out = dflt;
        return RG_OK;
    }
    if (a->kind != RG_ATTR_FLOAT) return wrong_kind(node, a, "float", err);
    *out = a->f;
    return RG_OK;
}

rg_status rg_node_attr_ints(const rg_node *node, const char *name, const int64_t **out, size_t *count,
                            rg_error *err) {
    const rg_attr *a = rg_node_attr(node, name);
    if (!a) {
        *out = NULL;
        *count = 0;
        return RG_OK;
    }
    if (a->kind != RG_ATTR_INTS) return wrong_kind(node, a, "ints", err);
    *out = a->ints;
    *count = a->count;
    return RG_OK;
}

rg_status rg_node_attr_string(const rg_node *node, const char *name, const char *dflt, const char **out,
                              rg_error *err) {
    const rg_attr *a = rg_node_attr(node, name);
    if (!a) {
        *out = dflt;
        return RG_OK;
    }
    if (a->kind != RG_ATTR_STRING) return wrong_kind(node, a, "string", err);
    *out = a->s;
    return RG_OK;
}
