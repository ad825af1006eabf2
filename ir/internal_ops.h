/*
 * internal_ops.h — ragged's own ops (RG_OP_INTERNAL_LIST in op.h): their
 * shape inference and attribute conventions.
 */
#ifndef RG_IR_INTERNAL_OPS_H
#define RG_IR_INTERNAL_OPS_H

#include "graph.h"

/* Infers the outputs of an internal op. Errors do not name the node; the
 * caller (shape.c) adds it. */
rg_status rg_infer_internal(rg_graph *g, rg_node *node, rg_error *err);

/* Whether a Linear activation name is one ragged knows (internal_ops.c). */
bool rg_linear_activation_known(const char *name);

#endif
