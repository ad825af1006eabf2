/*
 * verify.c — the graph's invariants, checked between passes and in tests.
 *
 * A pass that breaks the graph should be caught where it broke it, not three
 * passes later in a crash; so every structural promise of graph.h is checked
 * here and the first broken one is reported, naming the node or value.
 * Nothing is changed; scratch memory comes from the graph's allocator.
 */
#include <string.h>

#include "graph.h"

/* A value reachable from the graph must be one of its own values. */
static bool owns_value(const rg_graph *g, const rg_value *v) {
    return v->id < g->nvalues && g->values[v->id] == v;
}

static bool owns_node(const rg_graph *g, const rg_node *n) { return n->id < g->nnodes && g->nodes[n->id] == n; }

static uint32_t count_ptr(void *const *arr, uint32_t n, const void *p) {
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; i++) c += arr[i] == p;
    return c;
}

static rg_status check_value(const rg_graph *g, const rg_value *v, uint32_t index, rg_error *err) {
    if (!v) return rg_error_set(err, RG_ERR_INTERNAL, "value #%u is NULL", index);
    if (v->id != index)
        return rg_error_set(err, RG_ERR_INTERNAL, "value '%s' has id %u at position %u", v->name, v->id, index);
    if (!v->name) return rg_error_set(err, RG_ERR_INTERNAL, "value #%u has no name", index);
    if (v->name[0] && rg_graph_find_value(g, v->name) != v)
        return rg_error_set(err, RG_ERR_INTERNAL, "value name '%s' is used twice", v->name);
    if (v->dtype != RG_DTYPE_UNDEFINED && !rg_dtype_is_valid(v->dtype))
        return rg_error_set(err, RG_ERR_INTERNAL, "value '%s' has an invalid dtype %d", v->name, (int)v->dtype);
    if (v->rank < -1 || v->rank > RG_MAX_RANK || (v->rank > 0 && !v->dims))
        return rg_error_set(err, RG_ERR_INTERNAL, "value '%s' has a malformed shape (rank %d)", v->name, v->rank);
    if (v->constant && v->constant->dtype != v->dtype)
        return rg_error_set(err, RG_ERR_INTERNAL, "value '%s' is %s but its constant payload is %s", v->name,
                            rg_dtype_name(v->dtype), rg_dtype_name(v->constant->dtype));
    if (v->is_input && (v->producer || v->constant))
        return rg_error_set(err, RG_ERR_INTERNAL, "graph input '%s' is also %s", v->name,
                            v->producer ? "produced by a node" : "a constant");
    if (v->producer) {
        const rg_node *p = v->producer;
        char label[RG_LABEL_MAX];
        if (!owns_node(g, p))
            return rg_error_set(err, RG_ERR_INTERNAL, "value '%s' names a producer that is not in the graph",
                                v->name);
        if (!count_ptr((void *const *)p->outputs, p->noutputs, v))
            return rg_error_set(err, RG_ERR_INTERNAL, "value '%s' names producer %s, which does not write it",
                                v->name, rg_node_label(p, label, sizeof label));
    }
    for (uint32_t c = 0; c < v->nconsumers; c++) {
        const rg_node *user = v->consumers[c];
        char label[RG_LABEL_MAX];
        if (!user || !owns_node(g, user))
            return rg_error_set(err, RG_ERR_INTERNAL, "value '%s' lists a consumer that is not in the graph",
                                v->name);
        /* each consumer appears as often as it reads the value */
        uint32_t listed = count_ptr((void *const *)v->consumers, v->nconsumers, user);
        uint32_t reads = count_ptr((void *const *)user->inputs, user->ninputs, v);
        if (listed != reads)
            return rg_error_set(err, RG_ERR_INTERNAL,
                                "value '%s' lists consumer %s %u times, which reads it %u times", v->name,
                                rg_node_label(user, label, sizeof label), listed, reads);
    }
    return RG_OK;
}

static rg_status check_arity(const rg_node *node, const char *label, rg_error *err) {
    const rg_op_info *info = rg_op_get(node->op);
    if (node->ninputs < info->min_inputs || (info->max_inputs != RG_ARITY_ANY && node->ninputs > info->max_inputs))
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s has %u inputs; %s takes %u to %u", label,
                            node->ninputs, info->name, info->min_inputs, info->max_inputs);
    if (node->noutputs < info->min_outputs ||
        (info->max_outputs != RG_ARITY_ANY && node->noutputs > info->max_outputs))
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s has %u outputs; %s gives %u to %u", label,
                            node->noutputs, info->name, info->min_outputs, info->max_outputs);
    for (uint32_t i = 0; i < node->ninputs; i++) {
        /* variadic ops have no optional inputs to leave out */
        bool optional = i >= info->min_inputs && info->max_inputs != RG_ARITY_ANY;
        if (!node->inputs[i] && !optional)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s: required input %u is missing", label, i);
    }
    for (uint32_t i = 0; i < node->noutputs; i++)
        if (!node->outputs[i] && i < info->min_outputs)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s: required output %u is missing", label, i);
    return RG_OK;
}

/* Inputs defined before use (in node order), outputs written once. */
static rg_status check_node(const rg_graph *g, const rg_node *node, uint32_t index, bool *defined, rg_error *err) {
    char label[RG_LABEL_MAX];
    (void)index; /* ids were checked against positions up front */
    rg_node_label(node, label, sizeof label);
    RG_TRY(check_arity(node, label, err));
    for (uint32_t i = 0; i < node->ninputs; i++) {
        const rg_value *v = node->inputs[i];
        if (!v) continue;
        if (!owns_value(g, v))
            return rg_error_set(err, RG_ERR_INTERNAL, "node %s reads a value that is not in the graph", label);
        if (!count_ptr((void *const *)v->consumers, v->nconsumers, node))
            return rg_error_set(err, RG_ERR_INTERNAL, "node %s reads '%s' but is not among its consumers", label,
                                v->name);
        if (defined[v->id]) continue;
        if (v->producer && owns_node(g, v->producer))
            return rg_error_set(err, RG_ERR_INVALID_MODEL,
                                "node %s reads '%s' before its producer runs (node order or a cycle)", label,
                                v->name);
        return rg_error_set(err, RG_ERR_INVALID_MODEL,
                            "node %s reads '%s', which is not a graph input, a constant or a node's output", label,
                            v->name);
    }
    for (uint32_t i = 0; i < node->noutputs; i++) {
        const rg_value *v = node->outputs[i];
        if (!v) continue;
        if (!owns_value(g, v))
            return rg_error_set(err, RG_ERR_INTERNAL, "node %s writes a value that is not in the graph", label);
        if (v->producer != node || defined[v->id])
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "value '%s' has more than one producer (one is %s)",
                                v->name, label);
        defined[v->id] = true;
    }
    return RG_OK;
}

static rg_status check_io(const rg_graph *g, rg_error *err) {
    for (uint32_t i = 0; i < g->ninputs; i++) {
        const rg_value *v = g->inputs[i];
        if (!v || !owns_value(g, v) || !v->is_input)
            return rg_error_set(err, RG_ERR_INTERNAL, "graph input #%u is not a marked value of the graph", i);
    }
    for (uint32_t i = 0; i < g->noutputs; i++) {
        const rg_value *v = g->outputs[i];
        if (!v || !owns_value(g, v) || !v->is_output)
            return rg_error_set(err, RG_ERR_INTERNAL, "graph output #%u is not a marked value of the graph", i);
        if (!v->producer && !v->is_input && !v->constant)
            return rg_error_set(err, RG_ERR_INVALID_MODEL,
                                "graph output '%s' is not produced, not an input and not a constant", v->name);
    }
    for (uint32_t i = 0; i < g->nvalues; i++) {
        const rg_value *v = g->values[i];
        if (v->is_input && !count_ptr((void *const *)g->inputs, g->ninputs, v))
            return rg_error_set(err, RG_ERR_INTERNAL, "value '%s' is marked as an input but not listed", v->name);
        if (v->is_output && !count_ptr((void *const *)g->outputs, g->noutputs, v))
            return rg_error_set(err, RG_ERR_INTERNAL, "value '%s' is marked as an output but not listed", v->name);
    }
    return RG_OK;
}

rg_status rg_verify(const rg_graph *g, rg_error *err) {
    if (!g) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "no graph to verify");
    /* node ids first: the value checks rely on them to find nodes */
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const rg_node *n = g->nodes[i];
        char label[RG_LABEL_MAX];
        if (!n || (unsigned)n->op >= RG_OP_COUNT)
            return rg_error_set(err, RG_ERR_INTERNAL, "node #%u is NULL or has an invalid op", i);
        if (n->id != i)
            return rg_error_set(err, RG_ERR_INTERNAL, "node %s has id %u at position %u",
                                rg_node_label(n, label, sizeof label), n->id, i);
    }
    for (uint32_t i = 0; i < g->nvalues; i++) RG_TRY(check_value(g, g->values[i], i, err));
    RG_TRY(check_io(g, err));
    bool *defined = rg_mem_calloc(g->alloc, g->nvalues ? g->nvalues : 1, sizeof *defined);
    if (!defined) return rg_error_set(err, RG_ERR_NOMEM, "out of memory verifying %u values", g->nvalues);
    for (uint32_t i = 0; i < g->nvalues; i++)
        defined[i] = g->values[i]->is_input || (g->values[i]->constant && !g->values[i]->producer);
    rg_status st = RG_OK;
    for (uint32_t i = 0; i < g->nnodes && st == RG_OK; i++) st = check_node(g, g->nodes[i], i, defined, err);
    rg_mem_free(g->alloc, defined, sizeof *defined * (g->nvalues ? g->nvalues : 1));
    return st;
}
