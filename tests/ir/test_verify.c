/* The verifier catches each broken invariant and names the node or value;
 * topological sort reorders and reports cycles. */
#include "graph_fixtures.h"

#define F32 RG_DTYPE_F32

/* x -> Relu -> r -> Add(r, w) -> y, y an output */
static void small_graph(fx *f) {
    fx_begin(f, 17);
    fx_input(f, "x", F32, "B,4");
    fx_const_f32(f, "w", 1, (int64_t[]){4});
    fx_node(f, RG_OP_RELU, "relu", 17, "x", "r");
    fx_node(f, RG_OP_ADD, "add", 17, "r,w", "y");
    cr_assert_eq(rg_graph_add_output(f->g, rg_graph_find_value(f->g, "y"), &f->err), RG_OK);
    FX_INFER_OK(f);
}

#define EXPECT_VERIFY_FAILS(f, needle)                                                                   \
    do {                                                                                                  \
        cr_assert_neq(rg_verify((f)->g, &(f)->err), RG_OK, "verify passed");                              \
        cr_assert(strstr((f)->err.message, (needle)), "message '%s' lacks '%s'", (f)->err.message, (needle)); \
    } while (0)

Test(verify, good_graph_passes) {
    fx f;
    small_graph(&f);
    cr_assert_eq(rg_verify(f.g, &f.err), RG_OK, "%s", f.err.message);
    fx_end(&f);
}

Test(verify, arity) {
    fx f;
    small_graph(&f);
    fx_node(&f, RG_OP_ADD, "three_way", 17, "x,x,x", "z");
    EXPECT_VERIFY_FAILS(&f, "'three_way' (Add)");
    fx_end(&f);

    small_graph(&f);
    fx_node(&f, RG_OP_GEMM, "no_b", 17, "x,", "z");
    EXPECT_VERIFY_FAILS(&f, "'no_b' (Gemm)");
    fx_end(&f);
}

Test(verify, optional_input_may_be_omitted) {
    fx f;
    small_graph(&f);
    fx_node(&f, RG_OP_CLIP, "clip", 17, "x,,w", "z");
    cr_assert_eq(rg_verify(f.g, &f.err), RG_OK, "%s", f.err.message);
    fx_end(&f);
}

Test(verify, order_and_topo_sort) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "4");
    fx_val(&f, "a", F32, "4");
    /* the consumer comes first */
    fx_node(&f, RG_OP_NEG, "second", 17, "a", "b");
    fx_node(&f, RG_OP_RELU, "first", 17, "x", "a");
    EXPECT_VERIFY_FAILS(&f, "'second' (Neg) reads 'a' before its producer");
    cr_assert_eq(rg_graph_topo_sort(f.g, &f.err), RG_OK, "%s", f.err.message);
    cr_assert_str_eq(f.g->nodes[0]->name, "first");
    cr_assert_eq(rg_verify(f.g, &f.err), RG_OK, "%s", f.err.message);
    fx_end(&f);
}

Test(verify, cycle) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "4");
    fx_val(&f, "b", F32, "4");
    fx_node(&f, RG_OP_ADD, "loop_a", 17, "x,b", "a");
    fx_node(&f, RG_OP_RELU, "loop_b", 17, "a", "b");
    cr_assert_eq(rg_graph_topo_sort(f.g, &f.err), RG_ERR_INVALID_MODEL);
    cr_assert(strstr(f.err.message, "cycle") && strstr(f.err.message, "'loop_"), "%s", f.err.message);
    EXPECT_VERIFY_FAILS(&f, "'loop_a' (Add) reads 'b'");
    fx_end(&f);
}

Test(verify, undefined_input) {
    fx f;
    small_graph(&f);
    fx_val(&f, "orphan", F32, "4");
    fx_node(&f, RG_OP_NEG, "reader", 17, "orphan", "z");
    EXPECT_VERIFY_FAILS(&f, "'reader' (Neg) reads 'orphan', which is not");
    fx_end(&f);
}

Test(verify, two_producers) {
    fx f;
    small_graph(&f);
    rg_node *n = fx_node(&f, RG_OP_NEG, "dup", 17, "x", "z");
    rg_graph_find_value(f.g, "z")->producer = NULL;
    n->outputs[0] = rg_graph_find_value(f.g, "r"); /* r is Relu's */
    EXPECT_VERIFY_FAILS(&f, "more than one producer");
    fx_end(&f);
}

Test(verify, consumer_lists) {
    fx f;
    small_graph(&f);
    rg_graph_find_value(f.g, "r")->nconsumers = 0;
    EXPECT_VERIFY_FAILS(&f, "'add' (Add) reads 'r' but is not among its consumers");
    fx_end(&f);

    small_graph(&f);
    rg_value *x = rg_graph_find_value(f.g, "x");
    x->consumers[x->nconsumers++] = f.g->nodes[1]; /* add does not read x */
    EXPECT_VERIFY_FAILS(&f, "value 'x' lists consumer 'add' (Add)");
    fx_end(&f);

    small_graph(&f);
    rg_graph_find_value(f.g, "y")->producer = f.g->nodes[0];
    EXPECT_VERIFY_FAILS(&f, "value 'y' names producer 'relu' (Relu)");
    fx_end(&f);
}

Test(verify, graph_outputs) {
    fx f;
    small_graph(&f);
    rg_value *dangling = fx_val(&f, "dangling", F32, "4");
    cr_assert_eq(rg_graph_add_output(f.g, dangling, &f.err), RG_OK);
    EXPECT_VERIFY_FAILS(&f, "graph output 'dangling'");
    fx_end(&f);
}

Test(verify, values) {
    fx f;
    small_graph(&f);
    rg_graph_find_value(f.g, "r")->dtype = (rg_dtype)99;
    EXPECT_VERIFY_FAILS(&f, "value 'r' has an invalid dtype");
    fx_end(&f);

    small_graph(&f);
    rg_graph_find_value(f.g, "r")->name = "y";
    EXPECT_VERIFY_FAILS(&f, "'y' is used twice");
    fx_end(&f);

    small_graph(&f);
    rg_graph_find_value(f.g, "w")->constant->dtype = RG_DTYPE_I64;
    EXPECT_VERIFY_FAILS(&f, "value 'w' is float32 but its constant payload is int64");
    fx_end(&f);
}

Test(verify, node_ids) {
    fx f;
    small_graph(&f);
    f.g->nodes[0]->id = 1;
    f.g->nodes[1]->id = 0;
    EXPECT_VERIFY_FAILS(&f, "has id 1 at position 0");
    fx_end(&f);
}
