/*
 * cpu_internal.h — the contract between the CPU executor (cpu.c) and its
 * kernels (cpu_math.c: arithmetic, reductions, products; cpu_shape.c: shapes
 * and data movement).
 *
 * A kernel gets the node (for attributes and its opset), its concrete input
 * tensors (NULL for an omitted optional input) and the output slots. It
 * checks what the inputs must satisfy, computes the output shapes, allocates
 * each present output with rg_cpu_alloc_output() and fills it. On failure it
 * returns a status with a message that does not name the node: the executor
 * prefixes "node 'name' (Op): " itself. Outputs a kernel allocated before
 * failing are freed by the executor.
 *
 * Tables of kernels are indexed by rg_op; a NULL entry means the op is not
 * implemented by that file. There is no mutable global state.
 */
#ifndef RG_RUNTIME_CPU_INTERNAL_H
#define RG_RUNTIME_CPU_INTERNAL_H

#include "ir/graph.h"

typedef struct rg_cpu_ctx {
    const rg_allocator *alloc;
    int num_threads;
} rg_cpu_ctx;

typedef rg_status (*rg_cpu_kernel)(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs,
                                   rg_tensor *outputs, rg_error *err);

/* Sets t's dtype and shape and allocates its data (zeroed) from ctx->alloc.
 * Free with rg_cpu_free_tensor(). */
rg_status rg_cpu_alloc_output(rg_cpu_ctx *ctx, rg_tensor *t, rg_dtype dtype, int rank, const int64_t *dims,
                              rg_error *err);
void rg_cpu_free_tensor(rg_cpu_ctx *ctx, rg_tensor *t);

/* Kernel tables, one per file. */
extern const rg_cpu_kernel rg_cpu_math_kernels[RG_OP_COUNT];
extern const rg_cpu_kernel rg_cpu_shape_kernels[RG_OP_COUNT];
extern const rg_cpu_kernel rg_cpu_internal_kernels[RG_OP_COUNT]; /* cpu_internal_ops.c: LayerNorm, Linear, Attention */
/* cpu_fused.c: the interpreter of Fused nodes' expression programs */
rg_status rg_cpu_fused(rg_cpu_ctx *ctx, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                       rg_error *err);

/* The kernel for an op, or NULL when the CPU executor lacks it. */
rg_cpu_kernel rg_cpu_kernel_for(rg_op op);

#endif
