/* op.c — tables generated from RG_OP_LIST, and lookups on them. */
#include "op.h"

#include <string.h>

static const rg_op_info op_table[RG_OP_COUNT] = {
#define RG_OP_INFO_(id, name, since, min_in, max_in, min_out, max_out, flags, infer) \
    [RG_OP_##id] = {name, "", since, min_in, max_in, min_out, max_out, flags},
    RG_OP_LIST(RG_OP_INFO_)
#undef RG_OP_INFO_
#define RG_OP_INFO_(id, name, since, min_in, max_in, min_out, max_out, flags, infer) \
    [RG_OP_##id] = {name, RG_DOMAIN_RAGGED, since, min_in, max_in, min_out, max_out, flags},
    RG_OP_INTERNAL_LIST(RG_OP_INFO_)
#undef RG_OP_INFO_
};

_Static_assert(sizeof op_table / sizeof op_table[0] == RG_OP_COUNT, "op table out of step with RG_OP_LIST");

const rg_op_info *rg_op_get(rg_op op) { return (unsigned)op < RG_OP_COUNT ? &op_table[op] : NULL; }

const char *rg_op_name(rg_op op) { return (unsigned)op < RG_OP_COUNT ? op_table[op].name : "?"; }

bool rg_op_has(rg_op op, uint32_t flag) { return (unsigned)op < RG_OP_COUNT && (op_table[op].flags & flag); }

bool rg_op_lookup(const char *domain, const char *op_type, rg_op *out) {
    if (!domain || strcmp(domain, "ai.onnx") == 0) domain = "";
    for (int i = 0; i < RG_OP_COUNT; i++) {
        if (strcmp(op_table[i].domain, domain) == 0 && strcmp(op_table[i].name, op_type) == 0) {
            *out = (rg_op)i;
            return true;
        }
    }
    return false;
}
