/*
 * cpu.h — the CPU executor: runs an IR graph directly, node by node, in the
 * graph's (topological) order, with concrete shapes computed at run time.
 *
 * Intermediate tensors are allocated from the executor's allocator and freed
 * after their last consumer; constants and graph inputs are borrowed.
 */
#ifndef RG_RUNTIME_CPU_H
#define RG_RUNTIME_CPU_H

#include "ir/graph.h"

typedef struct rg_cpu_exec rg_cpu_exec;

/* Checks that every node's op has a CPU kernel (RG_ERR_UNSUPPORTED naming the
 * node, op, domain and opset otherwise). The graph must outlive the executor
 * and must be topologically sorted. `alloc` NULL is the default allocator. */
rg_status rg_cpu_exec_new(const rg_graph *g, const rg_allocator *alloc, int num_threads, rg_cpu_exec **out,
                          rg_error *err);
void rg_cpu_exec_free(rg_cpu_exec *exec);

/* Runs with one tensor per graph input, in g->inputs order (borrowed; data
 * must stay valid during the call). Dtypes and ranks are checked against the
 * graph, fixed dims against their values, and symbolic dims for consistency
 * (the same symbol has one value across all inputs). Outputs of the previous
 * run are released first. */
rg_status rg_cpu_exec_run(rg_cpu_exec *exec, const rg_tensor *inputs, size_t ninputs, rg_error *err);

/* Output `index` (g->outputs order) of the last successful run; NULL before. */
const rg_tensor *rg_cpu_exec_output(const rg_cpu_exec *exec, size_t index);

#endif
