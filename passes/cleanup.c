/*
 * cleanup.c — the cleanup pass: removes what computes nothing.
 *
 * Exporters leave nodes that only forward their input: Identity, Dropout in
 * inference, a Cast to the dtype the value already has, and a Reshape,
 * Expand, Squeeze, Unsqueeze or Flatten whose output shape equals its input
 * shape, and a Concat of one input (compared symbolically: [batch, seq, 384] equals [batch, seq, 384]
 * whatever batch is; an unknown dim never compares equal). Their readers are
 * pointed at the input instead. Constants with the same dtype, shape and
 * bytes (exporters repeat the same axes and scalars hundreds of times)
 * become one value. Finally every node no graph output depends on goes.
 */
#include <string.h>

#include "ir/rewrite.h"
#include "pass.h"

static bool same_shape(const rg_value *a, const rg_value *b) {
    if (a->rank < 0 || a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (!rg_dim_equal(&a->dims[i], &b->dims[i])) return false;
    return true;
}

/* Dropout forwards its input unless training_mode is (or may be) true, and
 * its mask output must be unused, since it would have to be made. */
static bool dropout_is_noop(const rg_node *n) {
    if (n->noutputs > 1 && n->outputs[1] && (n->outputs[1]->nconsumers || n->outputs[1]->is_output)) return false;
    if (n->ninputs < 3 || !n->inputs[2]) return true;
    const rg_tensor *t = n->inputs[2]->constant;
    if (!t || rg_tensor_numel(t) != 1 || !t->data) return false;
    return rg_load_as_double(t->dtype, t->data, 0) == 0.0;
}

/* The input a node merely forwards, or NULL. */
static rg_value *forwarded_input(const rg_node *n) {
    rg_value *x = n->ninputs ? n->inputs[0] : NULL, *y = n->noutputs ? n->outputs[0] : NULL;
    if (!x || !y) return NULL;
    switch (n->op) {
    case RG_OP_IDENTITY: return x;
    case RG_OP_CONCAT: return n->ninputs == 1 ? x : NULL;
    case RG_OP_DROPOUT: return dropout_is_noop(n) ? x : NULL;
    case RG_OP_CAST: return x->dtype == y->dtype && rg_dtype_is_valid(x->dtype) ? x : NULL;
    case RG_OP_RESHAPE:
    case RG_OP_EXPAND:
    case RG_OP_SQUEEZE:
    case RG_OP_UNSQUEEZE:
    case RG_OP_FLATTEN: return x->dtype == y->dtype && same_shape(x, y) ? x : NULL;
    default: return NULL;
    }
}

static rg_status drop_forwarders(rg_pass_ctx *cx) {
    rg_graph *g = cx->g;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        rg_node *n = g->nodes[i];
        rg_value *x = forwarded_input(n);
        if (!x) continue;
        rg_value *y = n->outputs[0];
        if (!rg_rewrite_can_replace(y, x)) continue;
        RG_TRY(rg_rewrite_replace_value(g, y, x, cx->err));
    }
    return RG_OK;
}

/* A cheap fingerprint: dtype, dims and up to 3 x 64 sampled bytes; equal
 * fingerprints are confirmed with memcmp. Hashing every byte of 100 MB of
 * weights would cost more than the whole pass. */
static uint64_t fingerprint(const rg_tensor *t) {
    uint64_t h = 1469598103934665603ull;
#define MIX(byte) (h = (h ^ (uint8_t)(byte)) * 1099511628211ull)
    MIX(t->dtype);
    MIX(t->rank);
    for (int i = 0; i < t->rank; i++)
        for (int b = 0; b < 8; b++) MIX((uint64_t)t->dims[i] >> (8 * b));
    const uint8_t *p = t->data;
    size_t n = t->nbytes, span = n < 64 ? n : 64;
    size_t starts[3] = {0, n / 2 > span ? n / 2 - span / 2 : 0, n - span};
    for (int s = 0; s < 3 && p; s++)
        for (size_t k = 0; k < span; k++) MIX(p[starts[s] + k]);
#undef MIX
    return h;
}

static bool same_payload(const rg_tensor *a, const rg_tensor *b) {
    if (a->dtype != b->dtype || a->rank != b->rank || a->nbytes != b->nbytes) return false;
    if (memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank) != 0) return false;
    return a->nbytes == 0 || (a->data && b->data && memcmp(a->data, b->data, a->nbytes) == 0);
}

static bool plain_constant(const rg_value *v) {
    return v->constant && !v->producer && !v->is_input && v->nconsumers > 0;
}

/* Open addressing over the constants, first occurrence kept. */
static rg_status merge_constants(rg_pass_ctx *cx) {
    rg_graph *g = cx->g;
    uint32_t cap = 16;
    while (cap < g->nvalues * 2u && cap < (1u << 30)) cap *= 2;
    rg_value **table = rg_mem_calloc(g->alloc, cap, sizeof *table);
    uint64_t *hashes = rg_mem_calloc(g->alloc, cap, sizeof *hashes);
    rg_status st = RG_OK;
    if (!table || !hashes) {
        st = rg_error_set(cx->err, RG_ERR_NOMEM, "out of memory merging %u constants", g->nvalues);
        goto done;
    }
    uint32_t nvalues = g->nvalues; /* replacing adds no values */
    for (uint32_t i = 0; i < nvalues && st == RG_OK; i++) {
        rg_value *v = g->values[i];
        if (!plain_constant(v)) continue;
        uint64_t h = fingerprint(v->constant);
        uint32_t slot = (uint32_t)h & (cap - 1);
        rg_value *twin = NULL;
        for (; table[slot]; slot = (slot + 1) & (cap - 1))
            if (hashes[slot] == h && same_payload(table[slot]->constant, v->constant)) {
                twin = table[slot];
                break;
            }
        if (!twin) {
            table[slot] = v;
            hashes[slot] = h;
            continue;
        }
        if (!rg_rewrite_can_replace(v, twin)) continue;
        st = rg_rewrite_replace_value(g, v, twin, cx->err);
        cx->stats->merged++;
    }
done:
    rg_mem_free(g->alloc, table, sizeof *table * cap);
    rg_mem_free(g->alloc, hashes, sizeof *hashes * cap);
    return st;
}

rg_status rg_pass_cleanup(rg_pass_ctx *cx) {
    RG_TRY(drop_forwarders(cx));
    RG_TRY(merge_constants(cx));
    return rg_rewrite_remove_dead(cx->g, &cx->stats->removed, cx->err);
}
