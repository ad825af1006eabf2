/*
 * cpu.c — the CPU executor: runs the IR node by node.
 *
 * Shapes are concrete only at run time, so kernels compute their own output
 * shapes; the executor binds inputs (checking them against the graph's
 * declared dtypes and symbolic dims), hands each kernel its input tensors,
 * and frees every intermediate right after its last use, so peak memory is
 * the largest set of simultaneously live tensors rather than their sum.
 */
#include "cpu.h"

#include <string.h>

#include "bind.h"
#include "cpu_internal.h"

struct rg_cpu_exec {
    const rg_graph *graph;
    rg_cpu_ctx ctx;
    rg_cpu_kernel *kernels;   /* per node, in graph order */
    uint32_t *uses;           /* per value: input slots that read it (+1 for outputs) */
    uint32_t *remaining;      /* per value, during a run */
    rg_tensor *slots;         /* per value: the tensor computed this run */
    bool *owned;              /* per value: slots[v] holds memory we must free */
    bool have_outputs;
};

rg_cpu_kernel rg_cpu_kernel_for(rg_op op) {
    if ((unsigned)op >= RG_OP_COUNT) return NULL;
    if (rg_cpu_math_kernels[op]) return rg_cpu_math_kernels[op];
    if (rg_cpu_internal_kernels[op]) return rg_cpu_internal_kernels[op];
    if (op == RG_OP_FUSED) return rg_cpu_fused;
    return rg_cpu_shape_kernels[op];
}

void rg_cpu_exec_free(rg_cpu_exec *exec) {
    if (!exec) return;
    const rg_allocator *a = exec->ctx.alloc;
    size_t nv = exec->graph->nvalues, nn = exec->graph->nnodes;
    if (exec->slots && exec->owned)
        for (size_t i = 0; i < nv; i++)
            if (exec->owned[i]) rg_cpu_free_tensor(&exec->ctx, &exec->slots[i]);
    rg_mem_free(a, exec->kernels, sizeof *exec->kernels * (nn ? nn : 1));
    rg_mem_free(a, exec->uses, sizeof *exec->uses * (nv ? nv : 1));
    rg_mem_free(a, exec->remaining, sizeof *exec->remaining * (nv ? nv : 1));
    rg_mem_free(a, exec->slots, sizeof *exec->slots * (nv ? nv : 1));
    rg_mem_free(a, exec->owned, sizeof *exec->owned * (nv ? nv : 1));
    rg_mem_free(a, exec, sizeof *exec);
}

rg_status rg_cpu_exec_new(const rg_graph *g, const rg_allocator *alloc, int num_threads, rg_cpu_exec **out,
                          rg_error *err) {
    if (!alloc) alloc = rg_allocator_default();
    char label[RG_LABEL_MAX];
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const rg_node *n = g->nodes[i];
        if (!rg_cpu_kernel_for(n->op))
            return rg_error_set(err, RG_ERR_UNSUPPORTED,
                                "node %s: op %s (domain ai.onnx, opset %d) has no CPU kernel",
                                rg_node_label(n, label, sizeof label), rg_op_name(n->op), n->opset);
    }
    rg_cpu_exec *e = rg_mem_calloc(alloc, 1, sizeof *e);
    if (!e) return rg_error_set(err, RG_ERR_NOMEM, "out of memory creating the CPU executor");
    e->graph = g;
    e->ctx.alloc = alloc;
    e->ctx.num_threads = num_threads > 0 ? num_threads : 1;
    size_t nv = g->nvalues ? g->nvalues : 1, nn = g->nnodes ? g->nnodes : 1;
    e->kernels = rg_mem_calloc(alloc, nn, sizeof *e->kernels);
    e->uses = rg_mem_calloc(alloc, nv, sizeof *e->uses);
    e->remaining = rg_mem_calloc(alloc, nv, sizeof *e->remaining);
    e->slots = rg_mem_calloc(alloc, nv, sizeof *e->slots);
    e->owned = rg_mem_calloc(alloc, nv, sizeof *e->owned);
    if (!e->kernels || !e->uses || !e->remaining || !e->slots || !e->owned) {
        rg_cpu_exec_free(e);
        return rg_error_set(err, RG_ERR_NOMEM, "out of memory creating the CPU executor");
    }
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const rg_node *n = g->nodes[i];
        e->kernels[i] = rg_cpu_kernel_for(n->op);
        for (uint32_t k = 0; k < n->ninputs; k++)
            if (n->inputs[k]) e->uses[n->inputs[k]->id]++;
    }
    for (uint32_t i = 0; i < g->noutputs; i++) e->uses[g->outputs[i]->id]++;
    *out = e;
    return RG_OK;
}

static void release_all(rg_cpu_exec *e) {
    for (uint32_t i = 0; i < e->graph->nvalues; i++) {
        if (e->owned[i]) rg_cpu_free_tensor(&e->ctx, &e->slots[i]);
        e->owned[i] = false;
        memset(&e->slots[i], 0, sizeof e->slots[i]);
    }
    e->have_outputs = false;
}

static rg_status bind_inputs(rg_cpu_exec *e, const rg_tensor *inputs, size_t ninputs, rg_error *err) {
    const rg_graph *g = e->graph;
    int64_t sym_values[RG_RT_MAX_SYMBOLS];
    RG_TRY(rg_rt_bind_inputs(g, inputs, ninputs, sym_values, err));
    for (uint32_t i = 0; i < g->ninputs; i++) e->slots[g->inputs[i]->id] = inputs[i];
    return RG_OK;
}

/* The tensor a node reads for value v: a constant, a bound input or an
 * intermediate computed earlier. */
static const rg_tensor *tensor_of(const rg_cpu_exec *e, const rg_value *v) {
    if (v->constant) return v->constant;
    return &e->slots[v->id];
}

static void release_use(rg_cpu_exec *e, const rg_value *v) {
    if (--e->remaining[v->id] == 0 && e->owned[v->id]) {
        rg_cpu_free_tensor(&e->ctx, &e->slots[v->id]);
        e->owned[v->id] = false;
    }
}

#define MAX_NODE_ARITY 256

static rg_status run_node(rg_cpu_exec *e, uint32_t index, rg_error *err) {
    const rg_node *n = e->graph->nodes[index];
    const rg_tensor *in[MAX_NODE_ARITY];
    rg_tensor out[MAX_NODE_ARITY];
    char label[RG_LABEL_MAX];
    if (n->ninputs > MAX_NODE_ARITY || n->noutputs > MAX_NODE_ARITY)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "node %s has more than %d inputs or outputs",
                            rg_node_label(n, label, sizeof label), MAX_NODE_ARITY);
    for (uint32_t k = 0; k < n->ninputs; k++) in[k] = n->inputs[k] ? tensor_of(e, n->inputs[k]) : NULL;
    memset(out, 0, sizeof out[0] * n->noutputs);
    rg_status st = e->kernels[index](&e->ctx, n, in, out, err);
    if (st != RG_OK) {
        for (uint32_t o = 0; o < n->noutputs; o++)
            if (out[o].data) rg_cpu_free_tensor(&e->ctx, &out[o]);
        return rg_error_prefix(err, st, "node %s", rg_node_label(n, label, sizeof label));
    }
    for (uint32_t o = 0; o < n->noutputs; o++) {
        rg_value *v = n->outputs[o];
        if (!v || !e->uses[v->id]) {
            /* nobody reads it: an optional output the kernel still produced */
            if (out[o].data) rg_cpu_free_tensor(&e->ctx, &out[o]);
            continue;
        }
        e->slots[v->id] = out[o];
        e->owned[v->id] = out[o].data != NULL;
    }
    for (uint32_t k = 0; k < n->ninputs; k++)
        if (n->inputs[k]) release_use(e, n->inputs[k]);
    return RG_OK;
}

rg_status rg_cpu_exec_run(rg_cpu_exec *e, const rg_tensor *inputs, size_t ninputs, rg_error *err) {
    const rg_graph *g = e->graph;
    release_all(e);
    rg_status st = bind_inputs(e, inputs, ninputs, err);
    if (st != RG_OK) goto fail;
    memcpy(e->remaining, e->uses, sizeof *e->uses * g->nvalues);
    for (uint32_t i = 0; i < g->nnodes; i++) {
        st = run_node(e, i, err);
        if (st != RG_OK) goto fail;
    }
    for (uint32_t i = 0; i < g->noutputs; i++) {
        const rg_value *v = g->outputs[i];
        if (!v->constant && !v->is_input && !e->owned[v->id] && e->slots[v->id].dtype == RG_DTYPE_UNDEFINED) {
            st = rg_error_set(err, RG_ERR_INTERNAL, "graph output '%s' was not computed", v->name);
            goto fail;
        }
    }
    e->have_outputs = true;
    return RG_OK;
fail:
    release_all(e);
    return st;
}

const rg_tensor *rg_cpu_exec_output(const rg_cpu_exec *e, size_t index) {
    if (!e->have_outputs || index >= e->graph->noutputs) return NULL;
    return tensor_of(e, e->graph->outputs[index]);
}
