/*
 * bind.h — checking a run's inputs against the graph and binding its
 * symbolic dims, shared by the CPU and CUDA executors so both accept and
 * refuse exactly the same inputs with the same messages.
 */
#ifndef RG_RUNTIME_BIND_H
#define RG_RUNTIME_BIND_H

#include "ir/graph.h"

/* Symbol ids an executor can bind (ids 1..63). */
#define RG_RT_MAX_SYMBOLS 64

/* Checks one tensor per graph input (g->inputs order): count, dtype, rank,
 * data size, fixed dims, each plain symbol's value agreeing across inputs,
 * and the graph's bounds (symbol <= max). On success sym_values[id] holds
 * every bound symbol's value and -1 for the others. */
rg_status rg_rt_bind_inputs(const rg_graph *g, const rg_tensor *inputs, size_t ninputs,
                            int64_t sym_values[RG_RT_MAX_SYMBOLS], rg_error *err);

#endif
