/*
 * test_rewrite.c — the graph-editing helpers of ir/rewrite.h: readers
 * redirected, graph outputs keeping their names, constants made in place,
 * node removal with id renumbering, dead nodes, unused values pruned.
 */
#include "helpers.h"

static rg_graph *new_graph(void) {
    rg_graph *g = NULL;
    cr_assert_eq(rg_graph_new(NULL, &g, NULL), RG_OK);
    g->opset = 17;
    return g;
}

/* x -> Relu -> a -> Neg -> b (output); Relu -> a -> Abs -> c (dead) */
Test(rewrite, replace_output_keeps_its_name) {
    rg_graph *g = new_graph();
    rg_dim d[1] = {rg_dim_const(4)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 1, d), *a, *b;
    tp_node(g, RG_OP_RELU, "a", 1, &x, &a);
    tp_node(g, RG_OP_NEG, "b", 1, &a, &b);
    cr_assert_eq(rg_graph_add_output(g, b, NULL), RG_OK);
    cr_assert_eq(rg_infer_shapes(g, NULL), RG_OK);
    tp_verify(g);

    cr_assert(rg_rewrite_can_replace(b, a));
    cr_assert_not(rg_rewrite_can_replace(b, x), "a graph input cannot take an output's name");
    rg_error err = {0};
    cr_assert_eq(rg_rewrite_replace_value(g, b, a, &err), RG_OK, "%s", err.message);
    cr_assert_eq(g->outputs[0], a);
    cr_assert_str_eq(a->name, "b");
    cr_assert_eq(rg_graph_find_value(g, "b"), a);
    cr_assert_null(rg_graph_find_value(g, "a"));
    uint32_t removed = 0;
    cr_assert_eq(rg_rewrite_remove_dead(g, &removed, &err), RG_OK, "%s", err.message);
    cr_assert_eq(removed, 1);
    cr_assert_eq(g->nnodes, 1);
    cr_assert_eq(g->nodes[0]->op, RG_OP_RELU);
    uint32_t pruned = 0;
    cr_assert_eq(rg_rewrite_prune_values(g, &pruned, &err), RG_OK);
    cr_assert_eq(pruned, 1, "the old output value goes");
    tp_verify(g);
    rg_graph_free(g);
}

Test(rewrite, remove_refuses_a_read_output) {
    rg_graph *g = new_graph();
    rg_dim d[1] = {rg_dim_const(4)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 1, d), *a, *b;
    tp_node(g, RG_OP_RELU, "a", 1, &x, &a);
    tp_node(g, RG_OP_NEG, "b", 1, &a, &b);
    cr_assert_eq(rg_graph_add_output(g, b, NULL), RG_OK);
    bool remove[2] = {true, false};
    rg_error err = {0};
    cr_assert_eq(rg_rewrite_remove_nodes(g, remove, NULL, &err), RG_ERR_INTERNAL);
    cr_assert(strstr(err.message, "'a'"), "%s", err.message);
    tp_verify(g);
    bool both[2] = {true, true};
    cr_assert_eq(rg_rewrite_remove_nodes(g, both, NULL, &err), RG_ERR_INTERNAL, "b is a graph output");
    rg_graph_free(g);
}

Test(rewrite, make_constant_keeps_name_and_readers) {
    rg_graph *g = new_graph();
    rg_dim d[2] = {rg_dim_const(2), rg_dim_const(3)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 2, d), *s, *y;
    tp_node(g, RG_OP_SHAPE, "s", 1, &x, &s);
    rg_value *ins[2] = {x, s};
    tp_node(g, RG_OP_RESHAPE, "y", 2, ins, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    cr_assert_eq(rg_infer_shapes(g, NULL), RG_OK);
    rg_tensor *t;
    int64_t two = 2;
    cr_assert_eq(rg_graph_new_tensor(g, RG_DTYPE_I64, 1, &two, &t, NULL), RG_OK);
    ((int64_t *)t->data)[0] = 2;
    ((int64_t *)t->data)[1] = 3;
    rg_error err = {0};
    cr_assert_eq(rg_rewrite_make_constant(g, s, t, &err), RG_OK, "%s", err.message);
    cr_assert_str_eq(s->name, "s");
    cr_assert_null(s->producer);
    cr_assert_eq(s->nconsumers, 1);
    tp_verify(g);
    cr_assert_eq(rg_rewrite_remove_dead(g, NULL, &err), RG_OK);
    cr_assert_eq(g->nnodes, 1);
    cr_assert_eq(rg_rewrite_prune_values(g, NULL, &err), RG_OK);
    tp_verify(g);
    for (uint32_t i = 0; i < g->nvalues; i++) cr_assert_eq(g->values[i]->id, i);
    rg_graph_free(g);
}

Test(rewrite, unique_name_and_set_input) {
    rg_graph *g = new_graph();
    rg_dim d[1] = {rg_dim_const(4)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 1, d), *w = tp_input(g, "w", RG_DTYPE_F32, 1, d), *a;
    rg_node *n = tp_node(g, RG_OP_RELU, "a", 1, &x, &a);
    cr_assert_eq(rg_graph_add_output(g, a, NULL), RG_OK);
    const char *name;
    cr_assert_eq(rg_rewrite_unique_name(g, "x", &name, NULL), RG_OK);
    cr_assert_str_eq(name, "x~1");
    cr_assert_eq(rg_rewrite_unique_name(g, "fresh", &name, NULL), RG_OK);
    cr_assert_str_eq(name, "fresh");
    cr_assert_eq(rg_rewrite_set_input(g, n, 0, w, NULL), RG_OK);
    cr_assert_eq(x->nconsumers, 0);
    cr_assert_eq(w->nconsumers, 1);
    tp_verify(g);
    rg_graph_free(g);
}
