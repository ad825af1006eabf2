/*
 * internal_ops.c — shape inference for ragged's own ops. Each op's rule is
 * added here together with the pass that creates the op.
 */
#include "internal_ops.h"

rg_status rg_infer_internal(rg_graph *g, rg_node *node, rg_error *err) {
    (void)g;
    return rg_error_set(err, RG_ERR_UNSUPPORTED, "no shape rule for %s yet", rg_op_name(node->op));
}
