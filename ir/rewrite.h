/*
 * rewrite.h — editing a graph in place: the few moves every pass is made of.
 *
 * Passes (passes/) rewrite the IR by redirecting the readers of one value to
 * another, turning a computed value into a constant, and removing nodes that
 * nothing needs any more. Each helper leaves the graph in a state that
 * rg_verify() accepts, so the verifier can run after any pass.
 *
 * Graph outputs keep their names: a graph output is part of the model's
 * interface, so when a pass replaces one, the replacement takes over the
 * output's name (the old value becomes nameless) and g->outputs is re-pointed.
 * A replacement that cannot be renamed (a graph input, or a value that is
 * already a graph output) is refused by rg_rewrite_can_replace(); the pass
 * then leaves that node alone.
 *
 * Node removal marks and compacts: g->nodes keeps its order, ids are
 * renumbered, consumer lists lose the removed readers. Values left with no
 * producer, no readers and no role as input or output are dropped by
 * rg_rewrite_prune_values(), which renumbers value ids; a pass that keeps
 * tables indexed by value id must not hold them across that call.
 */
#ifndef RG_IR_REWRITE_H
#define RG_IR_REWRITE_H

#include "graph.h"

/* Whether rg_rewrite_replace_value(g, old, repl) is allowed: always when old
 * is not a graph output; otherwise repl must be neither a graph input nor a
 * graph output, since it will take old's name. */
bool rg_rewrite_can_replace(const rg_value *old, const rg_value *repl);

/* Every reader of `old` reads `repl` instead; when old is a graph output,
 * repl becomes that output and takes its name (see the file comment). The
 * caller checks rg_rewrite_can_replace() first; old's producer is untouched
 * (dead-node removal takes it later). */
rg_status rg_rewrite_replace_value(rg_graph *g, rg_value *old, rg_value *repl, rg_error *err);

/* Sets input `index` of `node` to v (may be NULL for an optional input),
 * keeping consumer lists in step. */
rg_status rg_rewrite_set_input(rg_graph *g, rg_node *node, uint32_t index, rg_value *v, rg_error *err);

/* Makes v (a node's output) a constant with payload t, which must live in the
 * graph's arena (rg_graph_new_tensor). v keeps its name, id and readers; its
 * former producer gets a nameless placeholder in that output slot (or NULL
 * where the slot is optional) and usually becomes dead. */
rg_status rg_rewrite_make_constant(rg_graph *g, rg_value *v, rg_tensor *t, rg_error *err);

/* Removes the nodes with remove[node->id] set (remove has g->nnodes entries).
 * Their outputs must have no readers left outside the removed set and must
 * not be graph outputs (RG_ERR_INTERNAL naming the value otherwise). Adds the
 * count to *removed when removed is not NULL. */
rg_status rg_rewrite_remove_nodes(rg_graph *g, const bool *remove, uint32_t *removed, rg_error *err);

/* Removes every node from which no graph output can be reached. */
rg_status rg_rewrite_remove_dead(rg_graph *g, uint32_t *removed, rg_error *err);

/* Drops values that nothing produces, reads or exports (unused constants,
 * replaced outputs), renumbers value ids and rebuilds the name index. */
rg_status rg_rewrite_prune_values(rg_graph *g, uint32_t *removed, rg_error *err);

/* A value name not yet in the graph: `base` itself when free, else base
 * followed by "~1", "~2"...; the string lives in the graph's arena. */
rg_status rg_rewrite_unique_name(rg_graph *g, const char *base, const char **out, rg_error *err);

#endif
