/* bind.c — input checks and symbol binding shared by the executors (bind.h). */
#include "bind.h"

#include <stdio.h>

static void format_dims(int rank, const int64_t *dims, char *buf, size_t cap) {
    size_t len = 0;
    len += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* Checks one bound input against the graph value: dtype, rank, fixed dims,
 * and symbols, recording each symbol's value (and who set it) on first use. */
static rg_status check_input(const rg_graph *g, const rg_value *v, const rg_tensor *t, int64_t *sym_values,
                             const rg_value **sym_source, rg_error *err) {
    if (t->dtype != v->dtype && v->dtype != RG_DTYPE_UNDEFINED)
        return rg_error_set(err, RG_ERR_DTYPE, "input '%s' expects %s, got %s", v->name, rg_dtype_name(v->dtype),
                            rg_dtype_name(t->dtype));
    size_t numel, bytes;
    if (t->rank < 0 || t->rank > RG_MAX_RANK || !rg_shape_numel(t->rank, t->dims, &numel) ||
        !rg_size_mul(numel, rg_dtype_size(t->dtype), &bytes))
        return rg_error_set(err, RG_ERR_SHAPE, "input '%s' has an invalid shape", v->name);
    if (bytes > t->nbytes || (bytes && !t->data))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "input '%s' needs %zu bytes of data, got %zu", v->name,
                            bytes, t->nbytes);
    if (v->rank < 0) return RG_OK;
    char shape[128];
    if (t->rank != v->rank) {
        format_dims(t->rank, t->dims, shape, sizeof shape);
        return rg_error_set(err, RG_ERR_SHAPE, "input '%s' expects rank %d, got rank %d %s", v->name, v->rank,
                            t->rank, shape);
    }
    for (int d = 0; d < v->rank; d++) {
        const rg_dim *dim = &v->dims[d];
        int64_t fixed;
        if (dim->unknown) continue;
        if (rg_dim_is_const(dim, &fixed)) {
            if (t->dims[d] != fixed)
                return rg_error_set(err, RG_ERR_SHAPE, "input '%s' expects dim %d to be %lld, got %lld", v->name,
                                    d, (long long)fixed, (long long)t->dims[d]);
            continue;
        }
        /* A plain symbol binds; an expression is checked once its symbols are known. */
        if (dim->nterms == 1 && dim->constant == 0 && dim->term[0].coef == 1 && dim->term[0].sym[1] == 0) {
            uint16_t s = dim->term[0].sym[0];
            if (sym_values[s] < 0) {
                sym_values[s] = t->dims[d];
                sym_source[s] = v;
            } else if (sym_values[s] != t->dims[d]) {
                return rg_error_set(err, RG_ERR_SHAPE,
                                    "input '%s' dim %d is %lld, but '%s' is %lld from input '%s'", v->name, d,
                                    (long long)t->dims[d], g->symbols[s], (long long)sym_values[s],
                                    sym_source[s]->name);
            }
        }
    }
    return RG_OK;
}

rg_status rg_rt_bind_inputs(const rg_graph *g, const rg_tensor *inputs, size_t ninputs,
                            int64_t sym_values[RG_RT_MAX_SYMBOLS], rg_error *err) {
    if (ninputs != g->ninputs)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "the graph has %u inputs, %zu were given", g->ninputs,
                            ninputs);
    if (g->nsymbols > RG_RT_MAX_SYMBOLS)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "the graph has %u symbolic dims; at most %d are supported",
                            g->nsymbols - 1, RG_RT_MAX_SYMBOLS - 1);
    const rg_value *sym_source[RG_RT_MAX_SYMBOLS];
    for (uint32_t s = 0; s < RG_RT_MAX_SYMBOLS; s++) {
        sym_values[s] = -1;
        sym_source[s] = NULL;
    }
    for (uint32_t i = 0; i < g->ninputs; i++)
        RG_TRY(check_input(g, g->inputs[i], &inputs[i], sym_values, sym_source, err));
    for (uint32_t i = 0; i < g->nbounds; i++) {
        const rg_dim_bound *b = &g->bounds[i];
        if (sym_source[b->sym] && sym_values[b->sym] > b->max)
            return rg_error_set(err, RG_ERR_SHAPE, "'%s' is %lld (from input '%s'), but the model takes at most %lld",
                                g->symbols[b->sym], (long long)sym_values[b->sym], sym_source[b->sym]->name,
                                (long long)b->max);
    }
    return RG_OK;
}
