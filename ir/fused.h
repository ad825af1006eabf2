/*
 * fused.h — the expression program of a Fused node (elementwise ops and row
 * reductions over the last axis), its encoding in node attributes, and its
 * shape rule.
 */
#ifndef RG_IR_FUSED_H
#define RG_IR_FUSED_H

#include "graph.h"

rg_status rg_fused_infer(rg_graph *g, rg_node *node, rg_error *err);

#endif
