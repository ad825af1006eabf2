/*
 * fused.c — Fused nodes' expression programs (see fused.h): decoding with
 * validation, register kinds, the text form, building, and the shape rule.
 *
 * A program comes from a plan file as well as from the pass, so decoding
 * trusts nothing: every opcode, register and index is checked here once,
 * and the interpreter and codegen may then index without checks.
 */
#include "fused.h"

#include <string.h>

static const struct {
    const char *name;
    int cls;
} fused_ops[RG_FUSED_OPCODE_COUNT] = {
#define RG_FUSED_INFO_(id, name, cls) {name, cls},
    RG_FUSED_OP_LIST(RG_FUSED_INFO_)
#undef RG_FUSED_INFO_
};

const char *rg_fused_op_name(rg_fused_opcode op) {
    if ((int)op < 0 || op >= RG_FUSED_OPCODE_COUNT) return "?";
    return fused_ops[op].name;
}

int rg_fused_op_class(int64_t op) {
    if (op < 0 || op >= RG_FUSED_OPCODE_COUNT) return -1;
    return fused_ops[op].cls;
}

rg_fused_instr rg_fused_instr_at(const rg_fused_program *p, uint32_t i) {
    const int64_t *c = &p->code[(size_t)i * 4];
    return (rg_fused_instr){(int32_t)c[0], (int32_t)c[1], (int32_t)c[2], (int32_t)c[3]};
}

/* An operand register: defined earlier, and not a STORE. */
static rg_status check_reg(const int64_t *code, uint32_t at, int64_t reg, rg_error *err) {
    if (reg < 0 || reg >= (int64_t)at)
        return rg_error_set(err, RG_ERR_INVALID_MODEL,
                            "Fused program: instruction %u reads register %lld, not defined before it", at,
                            (long long)reg);
    if (code[(size_t)reg * 4] == RG_FUSED_STORE)
        return rg_error_set(err, RG_ERR_INVALID_MODEL,
                            "Fused program: instruction %u reads register %lld, which is a store", at,
                            (long long)reg);
    return RG_OK;
}

static rg_status check_instr(const rg_fused_program *p, uint32_t at, const rg_fused_kind *kinds,
                             bool *stored, rg_error *err) {
    const int64_t *c = &p->code[(size_t)at * 4];
    int cls = rg_fused_op_class(c[0]);
    if (cls < 0)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "Fused program: instruction %u has unknown opcode %lld",
                            at, (long long)c[0]);
    if (c[0] == RG_FUSED_LOAD) {
        if (c[1] < 0 || c[1] >= p->ninputs || (c[2] != RG_FUSED_LOAD_ROW && c[2] != RG_FUSED_LOAD_SCALAR))
            return rg_error_set(err, RG_ERR_INVALID_MODEL,
                                "Fused program: instruction %u loads input %lld (mode %lld) of %u inputs", at,
                                (long long)c[1], (long long)c[2], p->ninputs);
        return RG_OK;
    }
    if (c[0] == RG_FUSED_CONST) {
        if (c[1] < 0 || c[1] >= p->nconstants)
            return rg_error_set(err, RG_ERR_INVALID_MODEL,
                                "Fused program: instruction %u reads constant %lld of %u", at, (long long)c[1],
                                p->nconstants);
        return RG_OK;
    }
    if (cls == 1 || cls == 3) {
        RG_TRY(check_reg(p->code, at, c[1], err));
        if (cls == 3 && kinds[c[1]] != RG_FUSED_KIND_ROW)
            return rg_error_set(err, RG_ERR_INVALID_MODEL,
                                "Fused program: instruction %u reduces register %lld, which holds one value per row",
                                at, (long long)c[1]);
        return RG_OK;
    }
    if (cls == 2) {
        RG_TRY(check_reg(p->code, at, c[1], err));
        return check_reg(p->code, at, c[2], err);
    }
    /* STORE */
    if (c[1] < 0 || c[1] >= p->noutputs)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "Fused program: instruction %u stores output %lld of %u",
                            at, (long long)c[1], p->noutputs);
    if (stored[c[1]])
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "Fused program: output %lld is stored twice",
                            (long long)c[1]);
    stored[c[1]] = true;
    RG_TRY(check_reg(p->code, at, c[2], err));
    if (c[3] != RG_FUSED_STORE_ROW && c[3] != RG_FUSED_STORE_SCALAR_KEEP && c[3] != RG_FUSED_STORE_SCALAR_DROP)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "Fused program: instruction %u has store mode %lld", at,
                            (long long)c[3]);
    if (c[3] != RG_FUSED_STORE_ROW && kinds[c[2]] != RG_FUSED_KIND_SCALAR)
        return rg_error_set(err, RG_ERR_INVALID_MODEL,
                            "Fused program: instruction %u stores a whole row as one value per row", at);
    return RG_OK;
}

static rg_fused_kind kind_of(const int64_t *c, const rg_fused_kind *kinds) {
    switch (rg_fused_op_class(c[0])) {
    case 0:
        if (c[0] == RG_FUSED_CONST || c[2] == RG_FUSED_LOAD_SCALAR) return RG_FUSED_KIND_SCALAR;
        return RG_FUSED_KIND_ROW;
    case 1: return kinds[c[1]];
    case 2:
        return kinds[c[1]] == RG_FUSED_KIND_ROW || kinds[c[2]] == RG_FUSED_KIND_ROW ? RG_FUSED_KIND_ROW
                                                                                    : RG_FUSED_KIND_SCALAR;
    case 3: return RG_FUSED_KIND_SCALAR;
    default: return RG_FUSED_KIND_ROW;
    }
}

void rg_fused_kinds(const rg_fused_program *p, rg_fused_kind *kinds) {
    for (uint32_t i = 0; i < p->ninstr; i++) kinds[i] = kind_of(&p->code[(size_t)i * 4], kinds);
}

#define RG_FUSED_MAX_INSTR 65536u

rg_status rg_fused_decode(const rg_node *node, rg_fused_program *out, rg_error *err) {
    int64_t version;
    RG_TRY(rg_node_attr_int(node, "fused_version", 0, &version, err));
    if (version != RG_FUSED_VERSION)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "Fused program version %lld, expected %d",
                            (long long)version, RG_FUSED_VERSION);
    rg_fused_program p = {.ninputs = node->ninputs, .noutputs = node->noutputs};
    size_t ncode;
    RG_TRY(rg_node_attr_ints(node, "program", &p.code, &ncode, err));
    if (ncode == 0 || ncode % 4 != 0 || ncode / 4 > RG_FUSED_MAX_INSTR)
        return rg_error_set(err, RG_ERR_INVALID_MODEL,
                            "Fused program has %zu integers; expected a positive multiple of 4 up to %u", ncode,
                            4 * RG_FUSED_MAX_INSTR);
    p.ninstr = (uint32_t)(ncode / 4);
    const rg_attr *consts = rg_node_attr(node, "constants");
    if (consts) {
        if (consts->kind != RG_ATTR_FLOATS)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "Fused attribute 'constants' must be FLOATS, not %s",
                                rg_attr_kind_name(consts->kind));
        if (consts->count > UINT32_MAX)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "Fused program has too many constants");
        p.constants = consts->floats;
        p.nconstants = (uint32_t)consts->count;
    }
    /* Stack buffers for the common sizes; the rare large program checks in
     * chunks through the same path below. */
    rg_fused_kind kinds_small[256];
    bool stored_small[64];
    const rg_allocator *alloc = rg_allocator_default();
    rg_fused_kind *kinds = p.ninstr <= 256 ? kinds_small : rg_mem_calloc(alloc, p.ninstr, sizeof *kinds);
    bool *stored = p.noutputs <= 64 ? stored_small : rg_mem_calloc(alloc, p.noutputs, sizeof *stored);
    rg_status st = RG_OK;
    if (!kinds || !stored) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory checking a Fused program");
        goto done;
    }
    memset(stored, 0, sizeof *stored * p.noutputs);
    for (uint32_t i = 0; i < p.ninstr && st == RG_OK; i++) {
        st = check_instr(&p, i, kinds, stored, err);
        if (st == RG_OK) kinds[i] = kind_of(&p.code[(size_t)i * 4], kinds);
    }
    for (uint32_t j = 0; j < p.noutputs && st == RG_OK; j++)
        if (!stored[j] && node->outputs[j])
            st = rg_error_set(err, RG_ERR_INVALID_MODEL, "Fused program never stores output %u", j);
done:
    if (kinds && kinds != kinds_small) rg_mem_free(alloc, kinds, sizeof *kinds * p.ninstr);
    if (stored && stored != stored_small) rg_mem_free(alloc, stored, sizeof *stored * p.noutputs);
    if (st == RG_OK) *out = p;
    return st;
}

void rg_fused_print(const rg_fused_program *p, const char *indent, FILE *out) {
    static const char *const load_modes[] = {"row", "scalar"};
    static const char *const store_modes[] = {"row", "scalar", "scalar_drop"};
    for (uint32_t i = 0; i < p->ninstr; i++) {
        rg_fused_instr in = rg_fused_instr_at(p, i);
        const char *name = rg_fused_op_name((rg_fused_opcode)in.op);
        fputs(indent, out);
        switch (rg_fused_op_class(in.op)) {
        case 0:
            if (in.op == RG_FUSED_LOAD) fprintf(out, "%%%u = load in%d %s\n", i, in.a, load_modes[in.b]);
            else fprintf(out, "%%%u = const %.9g\n", i, (double)p->constants[in.a]);
            break;
        case 1:
        case 3: fprintf(out, "%%%u = %s %%%d\n", i, name, in.a); break;
        case 2: fprintf(out, "%%%u = %s %%%d, %%%d\n", i, name, in.a, in.b); break;
        default: fprintf(out, "store out%d %%%d %s\n", in.a, in.b, store_modes[in.c]); break;
        }
    }
}

/* ---------------------------------------------------------------- builder */

void rg_fused_builder_init(rg_fused_builder *b, const rg_allocator *alloc) {
    memset(b, 0, sizeof *b);
    b->alloc = alloc ? alloc : rg_allocator_default();
}

void rg_fused_builder_deinit(rg_fused_builder *b) {
    rg_mem_free(b->alloc, b->code, sizeof *b->code * 4 * b->cap);
    rg_mem_free(b->alloc, b->constants, sizeof *b->constants * b->constants_cap);
    memset(b, 0, sizeof *b);
}

int32_t rg_fused_emit(rg_fused_builder *b, rg_fused_opcode op, int32_t a, int32_t b_, int32_t c) {
    if (b->failed) return -1;
    if (b->ninstr == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 32;
        if (cap > RG_FUSED_MAX_INSTR) {
            b->failed = true;
            return -1;
        }
        int64_t *code = rg_mem_realloc(b->alloc, b->code, sizeof *code * 4 * b->cap, sizeof *code * 4 * cap);
        if (!code) {
            b->failed = true;
            return -1;
        }
        b->code = code;
        b->cap = cap;
    }
    int64_t *slot = &b->code[(size_t)b->ninstr * 4];
    slot[0] = op;
    slot[1] = a;
    slot[2] = b_;
    slot[3] = c;
    return (int32_t)b->ninstr++;
}

int32_t rg_fused_emit_const(rg_fused_builder *b, float value) {
    if (b->failed) return -1;
    uint32_t index = b->nconstants;
    for (uint32_t i = 0; i < b->nconstants; i++)
        if (memcmp(&b->constants[i], &value, sizeof value) == 0) index = i;
    if (index == b->nconstants) {
        if (b->nconstants == b->constants_cap) {
            uint32_t cap = b->constants_cap ? b->constants_cap * 2 : 8;
            float *c = rg_mem_realloc(b->alloc, b->constants, sizeof *c * b->constants_cap, sizeof *c * cap);
            if (!c) {
                b->failed = true;
                return -1;
            }
            b->constants = c;
            b->constants_cap = cap;
        }
        b->constants[b->nconstants++] = value;
    }
    return rg_fused_emit(b, RG_FUSED_CONST, (int32_t)index, 0, 0);
}

rg_status rg_fused_builder_finish(rg_fused_builder *b, rg_graph *g, rg_node *node, rg_error *err) {
    if (b->failed || b->ninstr == 0)
        return rg_error_set(err, RG_ERR_NOMEM, "out of memory (or too long) building a Fused program");
    rg_attr *attrs = rg_arena_array(&g->arena, 3, sizeof *attrs);
    int64_t *code = rg_arena_array(&g->arena, (size_t)b->ninstr * 4, sizeof *code);
    float *consts = rg_arena_array(&g->arena, b->nconstants ? b->nconstants : 1, sizeof *consts);
    if (!attrs || !code || !consts) return rg_error_set(err, RG_ERR_NOMEM, "out of memory");
    memcpy(code, b->code, sizeof *code * 4 * b->ninstr);
    if (b->nconstants) memcpy(consts, b->constants, sizeof *consts * b->nconstants);
    memset(attrs, 0, sizeof *attrs * 3);
    attrs[0] = (rg_attr){.name = "fused_version", .kind = RG_ATTR_INT, .i = RG_FUSED_VERSION};
    attrs[1] = (rg_attr){.name = "program", .kind = RG_ATTR_INTS, .count = (size_t)b->ninstr * 4, .ints = code};
    uint32_t nattrs = 2;
    if (b->nconstants)
        attrs[nattrs++] = (rg_attr){.name = "constants", .kind = RG_ATTR_FLOATS, .count = b->nconstants,
                                    .floats = consts};
    rg_node_set_attrs(node, nattrs, attrs);
    return RG_OK;
}

/* ------------------------------------------------------------- shape rule */

/* numpy broadcasting of static dims: 1 gives way, equal dims match;
 * anything else becomes unknown (the run-time check decides). */
static rg_dim broadcast_dim(const rg_dim *a, const rg_dim *b) {
    int64_t v;
    if (rg_dim_is_const(a, &v) && v == 1) return *b;
    if (rg_dim_is_const(b, &v) && v == 1) return *a;
    if (rg_dim_equal(a, b)) return *a;
    return rg_dim_unknown();
}

rg_status rg_fused_infer(rg_graph *g, rg_node *node, rg_error *err) {
    rg_fused_program p;
    RG_TRY(rg_fused_decode(node, &p, err));
    rg_dtype dtype = RG_DTYPE_UNDEFINED;
    int rank = 0;
    bool known = true;
    rg_dim dims[RG_MAX_RANK];
    for (uint32_t i = 0; i < node->ninputs; i++) {
        const rg_value *v = node->inputs[i];
        if (!v) return rg_error_set(err, RG_ERR_INVALID_MODEL, "Fused input %u is omitted", i);
        if (v->dtype != RG_DTYPE_UNDEFINED && !rg_dtype_is_float(v->dtype))
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "Fused input %u ('%s') is not float", i, v->name);
        if (dtype == RG_DTYPE_UNDEFINED) dtype = v->dtype;
        else if (v->dtype != RG_DTYPE_UNDEFINED && v->dtype != dtype)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "Fused inputs mix dtypes (input %u, '%s')", i, v->name);
        if (v->rank < 0) {
            known = false;
            continue;
        }
        /* A per-row load counts with a last dim of 1: find how it is loaded. */
        bool scalar = false;
        for (uint32_t k = 0; k < p.ninstr; k++) {
            rg_fused_instr in = rg_fused_instr_at(&p, k);
            if (in.op == RG_FUSED_LOAD && in.a == (int32_t)i && in.b == RG_FUSED_LOAD_SCALAR) scalar = true;
        }
        int r = v->rank;
        /* dims is right-aligned: the last `rank` entries are the shape so far */
        for (int d = rank; d < r; d++) dims[RG_MAX_RANK - 1 - d] = rg_dim_const(1);
        if (r > rank) rank = r;
        for (int d = 0; d < r; d++) {
            rg_dim vd = v->dims[d];
            if (scalar && d == r - 1) vd = rg_dim_const(1);
            rg_dim *acc = &dims[RG_MAX_RANK - r + d];
            *acc = broadcast_dim(acc, &vd);
        }
    }
    for (uint32_t j = 0; j < node->noutputs; j++) {
        rg_value *o = node->outputs[j];
        if (!o) continue;
        int mode = RG_FUSED_STORE_ROW;
        for (uint32_t k = 0; k < p.ninstr; k++) {
            rg_fused_instr in = rg_fused_instr_at(&p, k);
            if (in.op == RG_FUSED_STORE && in.a == (int32_t)j) mode = in.c;
        }
        if (!known) {
            RG_TRY(rg_value_set_shape(g, o, dtype, -1, NULL, err));
            continue;
        }
        rg_dim od[RG_MAX_RANK];
        int orank = rank;
        memcpy(od, &dims[RG_MAX_RANK - rank], sizeof *od * (size_t)rank);
        if (mode != RG_FUSED_STORE_ROW && rank == 0)
            return rg_error_set(err, RG_ERR_SHAPE, "Fused output %u reduces rows of a rank-0 iteration", j);
        if (mode == RG_FUSED_STORE_SCALAR_KEEP) od[rank - 1] = rg_dim_const(1);
        if (mode == RG_FUSED_STORE_SCALAR_DROP) orank--;
        RG_TRY(rg_value_set_shape(g, o, dtype, orank, od, err));
    }
    return RG_OK;
}
