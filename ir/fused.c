/* fused.c — Fused nodes' expression programs (see fused.h). */
#include "fused.h"

rg_status rg_fused_infer(rg_graph *g, rg_node *node, rg_error *err) {
    (void)g;
    (void)node;
    return rg_error_set(err, RG_ERR_UNSUPPORTED, "Fused programs are not implemented yet");
}
