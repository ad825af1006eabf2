/*
 * internal_ops.c — shape inference for ragged's own ops. LayerNorm, Linear
 * and Attention rules sit here with the patterns that make them; the Fused
 * op's rule sits with its expression program in fused.c.
 */
#include "internal_ops.h"

#include "fused.h"

rg_status rg_infer_internal(rg_graph *g, rg_node *node, rg_error *err) {
    if (node->op == RG_OP_FUSED) return rg_fused_infer(g, node, err);
    return rg_error_set(err, RG_ERR_UNSUPPORTED, "no shape rule for %s yet", rg_op_name(node->op));
}
