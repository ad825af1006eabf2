/*
 * evaluator.c — constant folding computes nodes with the CPU executor's own
 * kernels, so a folded constant is bit for bit what the executor would have
 * computed at run time.
 */
#include "evaluator.h"

#include "runtime/cpu_internal.h"

static rg_status cpu_eval(void *user, const rg_node *node, const rg_tensor *const *inputs, rg_tensor *outputs,
                          rg_error *err) {
    (void)user;
    rg_cpu_kernel kernel = rg_cpu_kernel_for(node->op);
    if (!kernel) return rg_error_set(err, RG_ERR_UNSUPPORTED, "no CPU kernel for %s", rg_op_name(node->op));
    rg_cpu_ctx ctx = {.alloc = rg_allocator_default(), .num_threads = 1};
    return kernel(&ctx, node, inputs, outputs, err);
}

static void cpu_free(void *user, rg_tensor *t) {
    (void)user;
    rg_cpu_ctx ctx = {.alloc = rg_allocator_default(), .num_threads = 1};
    rg_cpu_free_tensor(&ctx, t);
}

static const rg_pass_evaluator cpu_evaluator = {cpu_eval, cpu_free, NULL};

const rg_pass_evaluator *rg_tool_cpu_evaluator(void) { return &cpu_evaluator; }
