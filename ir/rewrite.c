/*
 * rewrite.c — in-place graph edits for the passes: redirect readers, make a
 * value constant, remove nodes, drop unused values. See rewrite.h for the
 * rules on graph outputs and ids.
 */
#include "rewrite.h"

#include <stdio.h>
#include <string.h>

static rg_status oom(rg_error *err, const char *what) {
    return rg_error_set(err, RG_ERR_NOMEM, "out of memory while %s", what);
}

/* Appends a reader; old storage stays in the arena, as in graph.c. */
static bool add_consumer(rg_graph *g, rg_value *v, rg_node *n) {
    if (v->nconsumers == v->consumers_cap) {
        if (v->consumers_cap >= UINT32_MAX / 2) return false;
        uint32_t ncap = v->consumers_cap ? v->consumers_cap * 2 : 4;
        rg_node **fresh = rg_arena_array(&g->arena, ncap, sizeof *fresh);
        if (!fresh) return false;
        if (v->nconsumers) memcpy(fresh, v->consumers, sizeof *fresh * v->nconsumers);
        v->consumers = fresh;
        v->consumers_cap = ncap;
    }
    v->consumers[v->nconsumers++] = n;
    return true;
}

/* Removes one listing of n among v's readers, keeping the order. */
static void drop_consumer(rg_value *v, const rg_node *n) {
    for (uint32_t i = 0; i < v->nconsumers; i++) {
        if (v->consumers[i] != n) continue;
        memmove(&v->consumers[i], &v->consumers[i + 1], sizeof *v->consumers * (v->nconsumers - i - 1));
        v->nconsumers--;
        return;
    }
    RG_ASSERT(!"reader missing from the consumer list");
}

bool rg_rewrite_can_replace(const rg_value *old, const rg_value *repl) {
    if (old == repl) return false;
    if (!old->is_output) return true;
    return !repl->is_input && !repl->is_output;
}

rg_status rg_rewrite_replace_value(rg_graph *g, rg_value *old, rg_value *repl, rg_error *err) {
    RG_ASSERT(rg_rewrite_can_replace(old, repl));
    /* grow repl's reader list first so that a failure leaves the graph whole */
    uint32_t need = repl->nconsumers + old->nconsumers;
    for (uint32_t i = repl->nconsumers; i < need; i++)
        if (!add_consumer(g, repl, NULL)) return oom(err, "redirecting readers");
    repl->nconsumers -= old->nconsumers;
    for (uint32_t c = 0; c < old->nconsumers; c++) {
        rg_node *user = old->consumers[c];
        /* one listing per read: redirect the first slot still reading old */
        for (uint32_t k = 0; k < user->ninputs; k++) {
            if (user->inputs[k] != old) continue;
            user->inputs[k] = repl;
            break;
        }
        repl->consumers[repl->nconsumers++] = user;
    }
    old->nconsumers = 0;
    if (!old->is_output) return RG_OK;
    for (uint32_t i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == old) g->outputs[i] = repl;
    repl->is_output = true;
    old->is_output = false;
    repl->name = old->name;
    old->name = "";
    return rg_graph_reindex(g, err);
}

rg_status rg_rewrite_set_input(rg_graph *g, rg_node *node, uint32_t index, rg_value *v, rg_error *err) {
    RG_ASSERT(index < node->ninputs);
    if (node->inputs[index] == v) return RG_OK;
    if (v && !add_consumer(g, v, node)) return oom(err, "rewiring an input");
    if (node->inputs[index]) drop_consumer(node->inputs[index], node);
    node->inputs[index] = v;
    return RG_OK;
}

rg_status rg_rewrite_make_constant(rg_graph *g, rg_value *v, rg_tensor *t, rg_error *err) {
    RG_ASSERT(!v->is_input);
    rg_node *p = v->producer;
    if (p) {
        uint32_t slot = 0;
        while (slot < p->noutputs && p->outputs[slot] != v) slot++;
        RG_ASSERT(slot < p->noutputs);
        rg_value *placeholder = NULL;
        if (slot < rg_op_get(p->op)->min_outputs) {
            RG_TRY(rg_graph_add_value(g, "", v->dtype, v->rank, v->dims, &placeholder, err));
            placeholder->producer = p;
        }
        p->outputs[slot] = placeholder;
        v->producer = NULL;
    }
    return rg_value_set_constant(g, v, t, err);
}

rg_status rg_rewrite_remove_nodes(rg_graph *g, const bool *remove, uint32_t *removed, rg_error *err) {
    uint32_t count = 0;
    /* check everything before changing anything */
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const rg_node *n = g->nodes[i];
        if (!remove[i]) continue;
        for (uint32_t o = 0; o < n->noutputs; o++) {
            const rg_value *v = n->outputs[o];
            if (!v) continue;
            bool read = false;
            for (uint32_t c = 0; c < v->nconsumers && !read; c++) read = !remove[v->consumers[c]->id];
            if (read || v->is_output)
                return rg_error_set(err, RG_ERR_INTERNAL, "removing the producer of '%s', which is still %s",
                                    v->name, v->is_output ? "a graph output" : "read");
        }
    }
    for (uint32_t i = 0; i < g->nnodes; i++) {
        rg_node *n = g->nodes[i];
        if (!remove[i]) continue;
        for (uint32_t k = 0; k < n->ninputs; k++)
            if (n->inputs[k]) drop_consumer(n->inputs[k], n);
    }
    uint32_t kept = 0;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        rg_node *n = g->nodes[i];
        if (remove[i]) {
            for (uint32_t o = 0; o < n->noutputs; o++)
                if (n->outputs[o]) n->outputs[o]->producer = NULL;
            count++;
            continue;
        }
        g->nodes[kept++] = n;
    }
    g->nnodes = kept;
    for (uint32_t i = 0; i < kept; i++) g->nodes[i]->id = i;
    if (removed) *removed += count;
    return RG_OK;
}

/* Nodes are in topological order, so walking backwards decides every reader
 * of a node's outputs before the node itself. */
rg_status rg_rewrite_remove_dead(rg_graph *g, uint32_t *removed, rg_error *err) {
    if (!g->nnodes) return RG_OK;
    uint32_t n = g->nnodes, ndead = 0; /* removal below changes g->nnodes */
    bool *live = rg_mem_calloc(g->alloc, n, sizeof *live);
    bool *dead = rg_mem_calloc(g->alloc, n, sizeof *dead);
    rg_status st = RG_OK;
    if (!live || !dead) {
        st = oom(err, "finding dead nodes");
        goto done;
    }
    for (uint32_t i = n; i-- > 0;) {
        const rg_node *node = g->nodes[i];
        for (uint32_t o = 0; o < node->noutputs && !live[i]; o++) {
            const rg_value *v = node->outputs[o];
            if (!v) continue;
            if (v->is_output) live[i] = true;
            for (uint32_t c = 0; c < v->nconsumers && !live[i]; c++) live[i] = live[v->consumers[c]->id];
        }
        dead[i] = !live[i];
        ndead += dead[i];
    }
    if (ndead) st = rg_rewrite_remove_nodes(g, dead, removed, err);
done:
    rg_mem_free(g->alloc, live, sizeof *live * n);
    rg_mem_free(g->alloc, dead, sizeof *dead * n);
    return st;
}

rg_status rg_rewrite_prune_values(rg_graph *g, uint32_t *removed, rg_error *err) {
    uint32_t kept = 0, count = 0;
    for (uint32_t i = 0; i < g->nvalues; i++) {
        rg_value *v = g->values[i];
        if (!v->producer && !v->nconsumers && !v->is_input && !v->is_output) {
            count++;
            continue;
        }
        v->id = kept;
        g->values[kept++] = v;
    }
    if (!count) return RG_OK;
    g->nvalues = kept;
    if (removed) *removed += count;
    return rg_graph_reindex(g, err);
}

rg_status rg_rewrite_unique_name(rg_graph *g, const char *base, const char **out, rg_error *err) {
    if (!rg_graph_find_value(g, base)) {
        const char *copy = rg_arena_strdup(&g->arena, base);
        if (!copy) return oom(err, "naming a value");
        *out = copy;
        return RG_OK;
    }
    size_t len = strlen(base) + 24;
    char *buf = rg_arena_alloc(&g->arena, len);
    if (!buf) return oom(err, "naming a value");
    for (uint32_t k = 1; k < UINT32_MAX; k++) {
        snprintf(buf, len, "%s~%u", base, k);
        if (!rg_graph_find_value(g, buf)) {
            *out = buf;
            return RG_OK;
        }
    }
    return rg_error_set(err, RG_ERR_INTERNAL, "no free name derived from '%s'", base);
}
