/*
 * test_passes.c — the pass manager, cleanup and fold on small hand-built
 * graphs. Every rewrite is checked three ways: the expected nodes are gone,
 * the verifier passes, and the CPU executor gives the same outputs before
 * and after.
 */
#include "helpers.h"

static rg_graph *new_graph(void) {
    rg_graph *g = NULL;
    cr_assert_eq(rg_graph_new(NULL, &g, NULL), RG_OK);
    g->opset = 17;
    return g;
}

static rg_value *scalar_i64(rg_graph *g, const char *name, int64_t x) {
    return tp_const(g, name, RG_DTYPE_I64, 0, NULL, &x);
}

static void fill_f32(rg_tensor *t, float *buf, rg_dtype dtype, int rank, const int64_t *dims) {
    cr_assert_eq(rg_tensor_set_shape(t, dtype, rank, dims, NULL), RG_OK);
    size_t n = rg_tensor_numel(t);
    for (size_t i = 0; i < n; i++) buf[i] = (float)((i * 37) % 101) / 17.0f - 2.5f;
    t->data = buf;
}

/* Runs `passes` (NULL: the pipeline) and checks that the outputs on `inputs`
 * stay the same. */
static rg_pass_report run_and_compare(rg_graph *g, const char *stop_after, const rg_tensor *inputs, size_t n) {
    rg_error err = {0};
    cr_assert_eq(rg_infer_shapes(g, &err), RG_OK, "%s", err.message);
    tp_verify(g);
    tp_outputs before, after;
    cr_assert_eq(tp_run(g, inputs, n, &before, &err), RG_OK, "before: %s", err.message);
    rg_pass_options opt = {.verify = true, .eval = &tp_evaluator, .stop_after = stop_after};
    rg_pass_report report;
    cr_assert_eq(rg_pass_run(g, &opt, &report, &err), RG_OK, "%s", err.message);
    tp_verify(g);
    cr_assert_eq(tp_run(g, inputs, n, &after, &err), RG_OK, "after: %s", err.message);
    double rel = tp_max_rel(&after, &before);
    cr_assert(rel <= 1e-5, "outputs differ after the passes: max relative error %g", rel);
    tp_outputs_free(&before);
    tp_outputs_free(&after);
    return report;
}

/* ------------------------------------------------------------ cleanup */

Test(cleanup, identity_dropout_cast_reshape) {
    rg_graph *g = new_graph();
    uint16_t B = rg_graph_symbol(g, "batch");
    rg_dim d[2] = {rg_dim_symbol(B), rg_dim_const(8)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 2, d), *a, *b, *c, *e, *y;
    tp_node(g, RG_OP_IDENTITY, "a", 1, &x, &a);
    tp_node(g, RG_OP_DROPOUT, "b", 1, &a, &b);
    rg_node *cast = tp_node(g, RG_OP_CAST, "c", 1, &b, &c);
    tp_attr_int(g, cast, "to", RG_DTYPE_F32);
    rg_value *ins[2] = {c, tp_const_i64(g, "target", 2, (int64_t[]){0, 8})};
    tp_node(g, RG_OP_RESHAPE, "e", 2, ins, &e);
    tp_node(g, RG_OP_RELU, "y", 1, &e, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);

    float buf[24];
    rg_tensor in;
    fill_f32(&in, buf, RG_DTYPE_F32, 2, (int64_t[]){3, 8});
    rg_pass_report r = run_and_compare(g, "cleanup", &in, 1);
    cr_assert_eq(g->nnodes, 1, "only the Relu stays, %u nodes left", g->nnodes);
    cr_assert_eq(r.npasses, 1);
    cr_assert_eq(r.pass[0].stats.removed, 4);
    rg_graph_free(g);
}

Test(cleanup, keeps_what_computes) {
    rg_graph *g = new_graph();
    rg_dim d[1] = {rg_dim_const(4)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 1, d), *a, *b, *y;
    /* Identity of a graph input into a graph output: the names must stay */
    tp_node(g, RG_OP_IDENTITY, "a", 1, &x, &a);
    cr_assert_eq(rg_graph_add_output(g, a, NULL), RG_OK);
    /* Dropout in training mode is not a no-op */
    uint8_t yes = 1;
    rg_value *ins[3] = {x, NULL, tp_const(g, "training", RG_DTYPE_BOOL, 0, NULL, &yes)};
    tp_node(g, RG_OP_DROPOUT, "b", 3, ins, &b);
    rg_node *cast = tp_node(g, RG_OP_CAST, "y", 1, &b, &y);
    tp_attr_int(g, cast, "to", RG_DTYPE_F16);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    cr_assert_eq(rg_infer_shapes(g, NULL), RG_OK);
    rg_pass_options opt = {.verify = true};
    rg_error err = {0};
    cr_assert_eq(rg_pass_run(g, &opt, NULL, &err), RG_OK, "%s", err.message);
    cr_assert_eq(g->nnodes, 3);
    cr_assert_str_eq(g->outputs[0]->name, "a");
    cr_assert_str_eq(g->outputs[1]->name, "y");
    rg_graph_free(g);
}

Test(cleanup, duplicate_constants_merge) {
    rg_graph *g = new_graph();
    rg_dim d[1] = {rg_dim_const(3)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 1, d), *a, *b;
    float k[3] = {1, 2, 3}, other[3] = {1, 2, 4};
    int64_t three = 3;
    rg_value *ins1[2] = {x, tp_const(g, "k1", RG_DTYPE_F32, 1, &three, k)};
    tp_node(g, RG_OP_ADD, "a", 2, ins1, &a);
    rg_value *ins2[2] = {a, tp_const(g, "k2", RG_DTYPE_F32, 1, &three, k)};
    tp_node(g, RG_OP_MUL, "b", 2, ins2, &b);
    rg_value *ins3[2] = {b, tp_const(g, "k3", RG_DTYPE_F32, 1, &three, other)};
    rg_value *y;
    tp_node(g, RG_OP_SUB, "y", 2, ins3, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    float buf[3];
    rg_tensor in;
    fill_f32(&in, buf, RG_DTYPE_F32, 1, &three);
    rg_pass_report r = run_and_compare(g, "cleanup", &in, 1);
    cr_assert_eq(r.pass[0].stats.merged, 1);
    cr_assert_not_null(rg_graph_find_value(g, "k1"));
    cr_assert_null(rg_graph_find_value(g, "k2"));
    cr_assert_not_null(rg_graph_find_value(g, "k3"));
    rg_graph_free(g);
}

/* --------------------------------------------------------------- fold */

/* x[batch, seq, 384] -> Reshape to Concat(Shape[0], Shape[1], 12, 32) */
Test(fold, reshape_target_from_shape_subgraph) {
    rg_graph *g = new_graph();
    uint16_t B = rg_graph_symbol(g, "batch"), S = rg_graph_symbol(g, "seq");
    rg_dim d[3] = {rg_dim_symbol(B), rg_dim_symbol(S), rg_dim_const(384)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 3, d), *s, *g0, *g1, *u0, *u1, *cat, *y;
    tp_node(g, RG_OP_SHAPE, "s", 1, &x, &s);
    rg_value *gi0[2] = {s, scalar_i64(g, "i0", 0)}, *gi1[2] = {s, scalar_i64(g, "i1", 1)};
    tp_node(g, RG_OP_GATHER, "g0", 2, gi0, &g0);
    tp_node(g, RG_OP_GATHER, "g1", 2, gi1, &g1);
    rg_value *axes = tp_const_i64(g, "axes", 1, (int64_t[]){0});
    tp_node(g, RG_OP_UNSQUEEZE, "u0", 2, (rg_value *[]){g0, axes}, &u0);
    tp_node(g, RG_OP_UNSQUEEZE, "u1", 2, (rg_value *[]){g1, axes}, &u1);
    rg_value *parts[4] = {u0, u1, tp_const_i64(g, "heads", 1, (int64_t[]){12}),
                          tp_const_i64(g, "size", 1, (int64_t[]){32})};
    rg_node *concat = tp_node(g, RG_OP_CONCAT, "cat", 4, parts, &cat);
    tp_attr_int(g, concat, "axis", 0);
    rg_node *reshape = tp_node(g, RG_OP_RESHAPE, "y", 2, (rg_value *[]){x, cat}, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);

    float buf[2 * 5 * 384];
    rg_tensor in;
    fill_f32(&in, buf, RG_DTYPE_F32, 3, (int64_t[]){2, 5, 384});
    run_and_compare(g, NULL, &in, 1);
    cr_assert_eq(g->nnodes, 1, "only the Reshape stays, %u nodes left", g->nnodes);
    cr_assert_eq(g->nodes[0], reshape);
    const rg_tensor *t = reshape->inputs[1]->constant;
    cr_assert_not_null(t);
    int64_t want[4] = {0, 0, 12, 32};
    cr_assert_eq(rg_tensor_numel(t), 4);
    cr_assert_arr_eq(t->data, want, sizeof want);
    char buf_dims[64];
    rg_dim_format(&y->dims[3], g->symbols, g->nsymbols, buf_dims, sizeof buf_dims);
    cr_assert_str_eq(buf_dims, "32");
    rg_graph_free(g);
}

/* The same with allowzero=1 and no literal zero: allowzero can go. */
Test(fold, reshape_target_allowzero) {
    rg_graph *g = new_graph();
    uint16_t B = rg_graph_symbol(g, "batch"), S = rg_graph_symbol(g, "seq");
    rg_dim d[3] = {rg_dim_symbol(B), rg_dim_symbol(S), rg_dim_const(384)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 3, d), *s, *g0, *g1, *cat, *y;
    tp_node(g, RG_OP_SHAPE, "s", 1, &x, &s);
    tp_node(g, RG_OP_SLICE, "g0", 3,
            (rg_value *[]){s, tp_const_i64(g, "b0", 1, (int64_t[]){0}), tp_const_i64(g, "e0", 1, (int64_t[]){1})},
            &g0);
    tp_node(g, RG_OP_SLICE, "g1", 3,
            (rg_value *[]){s, tp_const_i64(g, "b1", 1, (int64_t[]){1}), tp_const_i64(g, "e1", 1, (int64_t[]){2})},
            &g1);
    rg_node *concat = tp_node(g, RG_OP_CONCAT, "cat", 4,
                              (rg_value *[]){g0, g1, tp_const_i64(g, "m1", 1, (int64_t[]){-1}),
                                             tp_const_i64(g, "size", 1, (int64_t[]){32})},
                              &cat);
    tp_attr_int(g, concat, "axis", 0);
    rg_node *reshape = tp_node(g, RG_OP_RESHAPE, "y", 2, (rg_value *[]){x, cat}, &y);
    tp_attr_int(g, reshape, "allowzero", 1);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    static float buf[2 * 3 * 384];
    rg_tensor in;
    fill_f32(&in, buf, RG_DTYPE_F32, 3, (int64_t[]){2, 3, 384});
    run_and_compare(g, NULL, &in, 1);
    cr_assert_eq(g->nnodes, 1);
    int64_t want[4] = {0, 0, -1, 32};
    cr_assert_arr_eq(reshape->inputs[1]->constant->data, want, sizeof want);
    cr_assert_eq(rg_node_attr(reshape, "allowzero")->i, 0);
    rg_graph_free(g);
}

/* x[batch, seq, 12, 32] -> Reshape to [batch*seq, 384]: -1 for batch*seq */
Test(fold, reshape_target_with_minus_one) {
    rg_graph *g = new_graph();
    uint16_t B = rg_graph_symbol(g, "batch"), S = rg_graph_symbol(g, "seq");
    rg_dim d[4] = {rg_dim_symbol(B), rg_dim_symbol(S), rg_dim_const(12), rg_dim_const(32)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 4, d), *s, *g0, *g1, *bs, *u, *cat, *y;
    tp_node(g, RG_OP_SHAPE, "s", 1, &x, &s);
    tp_node(g, RG_OP_GATHER, "g0", 2, (rg_value *[]){s, scalar_i64(g, "i0", 0)}, &g0);
    tp_node(g, RG_OP_GATHER, "g1", 2, (rg_value *[]){s, scalar_i64(g, "i1", 1)}, &g1);
    tp_node(g, RG_OP_MUL, "bs", 2, (rg_value *[]){g0, g1}, &bs);
    tp_node(g, RG_OP_UNSQUEEZE, "u", 2, (rg_value *[]){bs, tp_const_i64(g, "axes", 1, (int64_t[]){0})}, &u);
    rg_node *concat =
        tp_node(g, RG_OP_CONCAT, "cat", 2, (rg_value *[]){u, tp_const_i64(g, "h", 1, (int64_t[]){384})}, &cat);
    tp_attr_int(g, concat, "axis", 0);
    rg_node *reshape = tp_node(g, RG_OP_RESHAPE, "y", 2, (rg_value *[]){x, cat}, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    static float buf[3 * 4 * 384];
    rg_tensor in;
    fill_f32(&in, buf, RG_DTYPE_F32, 4, (int64_t[]){3, 4, 12, 32});
    run_and_compare(g, NULL, &in, 1);
    cr_assert_eq(g->nnodes, 1);
    int64_t want[2] = {-1, 384};
    cr_assert_arr_eq(reshape->inputs[1]->constant->data, want, sizeof want);
    char text[64];
    rg_dim_format(&y->dims[0], g->symbols, g->nsymbols, text, sizeof text);
    cr_assert_str_eq(text, "batch*seq");
    rg_graph_free(g);
}

/* x[batch, 1] expanded to Concat(Shape(x)[0], 4): target [1, 4] */
Test(fold, expand_target) {
    rg_graph *g = new_graph();
    uint16_t B = rg_graph_symbol(g, "batch");
    rg_dim d[2] = {rg_dim_symbol(B), rg_dim_const(1)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 2, d), *s, *g0, *u, *cat, *y;
    tp_node(g, RG_OP_SHAPE, "s", 1, &x, &s);
    tp_node(g, RG_OP_GATHER, "g0", 2, (rg_value *[]){s, scalar_i64(g, "i0", 0)}, &g0);
    tp_node(g, RG_OP_UNSQUEEZE, "u", 2, (rg_value *[]){g0, tp_const_i64(g, "axes", 1, (int64_t[]){0})}, &u);
    rg_node *concat =
        tp_node(g, RG_OP_CONCAT, "cat", 2, (rg_value *[]){u, tp_const_i64(g, "four", 1, (int64_t[]){4})}, &cat);
    tp_attr_int(g, concat, "axis", 0);
    rg_node *expand = tp_node(g, RG_OP_EXPAND, "y", 2, (rg_value *[]){x, cat}, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    float buf[3];
    rg_tensor in;
    fill_f32(&in, buf, RG_DTYPE_F32, 2, (int64_t[]){3, 1});
    run_and_compare(g, NULL, &in, 1);
    cr_assert_eq(g->nnodes, 1);
    int64_t want[2] = {1, 4};
    cr_assert_arr_eq(expand->inputs[1]->constant->data, want, sizeof want);
    rg_graph_free(g);
}

/* Add(x, ConstantOfShape(Shape(x), 1.5)) -> Add(x, 1.5), and
 * Add(x, Gather(table, Expand([2], Shape(ids)))) -> Add(x, table[2]) */
Test(fold, uniform_values_become_scalars_and_rows) {
    rg_graph *g = new_graph();
    uint16_t B = rg_graph_symbol(g, "batch"), S = rg_graph_symbol(g, "seq");
    rg_dim d2[2] = {rg_dim_symbol(B), rg_dim_symbol(S)};
    rg_dim d3[3] = {rg_dim_symbol(B), rg_dim_symbol(S), rg_dim_const(3)};
    rg_value *ids = tp_input(g, "ids", RG_DTYPE_I64, 2, d2), *x = tp_input(g, "x", RG_DTYPE_F32, 3, d3);
    rg_value *sx, *ones, *a, *sid, *idx, *rows, *y;
    tp_node(g, RG_OP_SHAPE, "sx", 1, &x, &sx);
    rg_node *cos = tp_node(g, RG_OP_CONSTANT_OF_SHAPE, "ones", 1, &sx, &ones);
    rg_attr *value = rg_arena_alloc(&g->arena, sizeof *value);
    value->name = "value";
    value->kind = RG_ATTR_TENSOR;
    cr_assert_eq(rg_graph_new_tensor(g, RG_DTYPE_F32, 1, (int64_t[]){1}, &value->t, NULL), RG_OK);
    *(float *)value->t->data = 1.5f;
    rg_node_set_attrs(cos, 1, value);
    tp_node(g, RG_OP_ADD, "a", 2, (rg_value *[]){x, ones}, &a);
    tp_node(g, RG_OP_SHAPE, "sid", 1, &ids, &sid);
    tp_node(g, RG_OP_EXPAND, "idx", 2, (rg_value *[]){tp_const_i64(g, "two", 1, (int64_t[]){2}), sid}, &idx);
    float table[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    rg_value *tv = tp_const(g, "table", RG_DTYPE_F32, 2, (int64_t[]){4, 3}, table);
    tp_node(g, RG_OP_GATHER, "rows", 2, (rg_value *[]){tv, idx}, &rows);
    tp_node(g, RG_OP_ADD, "y", 2, (rg_value *[]){a, rows}, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);

    int64_t idbuf[6] = {0};
    float xbuf[18];
    rg_tensor in[2];
    cr_assert_eq(rg_tensor_set_shape(&in[0], RG_DTYPE_I64, 2, (int64_t[]){2, 3}, NULL), RG_OK);
    in[0].data = idbuf;
    fill_f32(&in[1], xbuf, RG_DTYPE_F32, 3, (int64_t[]){2, 3, 3});
    run_and_compare(g, "fold", in, 2);
    cr_assert_eq(g->nnodes, 2, "two Adds stay, %u nodes left", g->nnodes);
    cr_assert_eq(tp_count(g, RG_OP_ADD), 2);
    const rg_node *last = g->nodes[1];
    cr_assert_not_null(last->inputs[1]->constant);
    cr_assert_eq(last->inputs[1]->constant->rank, 1);
    cr_assert_float_eq(((float *)last->inputs[1]->constant->data)[0], 6.0f, 0);
    rg_graph_free(g);
}

Test(fold, evaluator_folds_constant_nodes) {
    rg_graph *g = new_graph();
    rg_dim d[2] = {rg_dim_const(2), rg_dim_const(2)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 2, d), *t, *n, *y;
    float k[4] = {1, 2, 3, 4};
    tp_node(g, RG_OP_TRANSPOSE, "t", 1, (rg_value *[]){tp_const(g, "k", RG_DTYPE_F32, 2, (int64_t[]){2, 2}, k)}, &t);
    tp_node(g, RG_OP_NEG, "n", 1, &t, &n);
    tp_node(g, RG_OP_ADD, "y", 2, (rg_value *[]){x, n}, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    float buf[4];
    rg_tensor in;
    fill_f32(&in, buf, RG_DTYPE_F32, 2, (int64_t[]){2, 2});
    rg_pass_report r = run_and_compare(g, NULL, &in, 1);
    cr_assert_eq(g->nnodes, 1);
    cr_assert_eq(r.pass[1].stats.folded, 2);
    const float *folded = g->nodes[0]->inputs[1]->constant->data;
    cr_assert_float_eq(folded[1], -3.0f, 0);
    rg_graph_free(g);
}

Test(fold, without_evaluator_keeps_constant_nodes) {
    rg_graph *g = new_graph();
    rg_dim d[1] = {rg_dim_const(2)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 1, d), *n, *y;
    float k[2] = {1, 2};
    tp_node(g, RG_OP_NEG, "n", 1, (rg_value *[]){tp_const(g, "k", RG_DTYPE_F32, 1, (int64_t[]){2}, k)}, &n);
    tp_node(g, RG_OP_ADD, "y", 2, (rg_value *[]){x, n}, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    rg_error err = {0};
    cr_assert_eq(rg_pass_run(g, &(rg_pass_options){.verify = true, .stop_after = "fold"}, NULL, &err), RG_OK, "%s",
                 err.message);
    cr_assert_eq(g->nnodes, 2);
    rg_graph_free(g);
}

/* ------------------------------------------------------------ manager */

Test(manager, names_print_and_stop) {
    size_t n;
    const rg_pass *list = rg_pass_list(&n);
    cr_assert_geq(n, 2);
    cr_assert_str_eq(list[0].name, "cleanup");
    cr_assert_eq(rg_pass_find("fold"), &list[1]);
    cr_assert_null(rg_pass_find("nope"));

    rg_graph *g = new_graph();
    rg_dim d[1] = {rg_dim_const(2)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 1, d), *a, *y;
    tp_node(g, RG_OP_IDENTITY, "a", 1, &x, &a);
    tp_node(g, RG_OP_RELU, "y", 1, &a, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    rg_error err = {0};
    cr_assert_eq(rg_pass_run(g, &(rg_pass_options){.stop_after = "nope"}, NULL, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "'nope'") && strstr(err.message, "cleanup, fold"), "%s", err.message);

    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    rg_pass_report report;
    rg_pass_options opt = {.print_after = "cleanup", .print_to = mem, .stop_after = "cleanup"};
    cr_assert_eq(rg_pass_run(g, &opt, &report, &err), RG_OK, "%s", err.message);
    fclose(mem);
    cr_assert(strstr(text, "= Relu(%x)"), "%s", text);
    cr_assert_eq(report.npasses, 1);
    cr_assert_eq(report.ops_before[RG_OP_IDENTITY], 1);
    cr_assert_eq(report.ops_after[RG_OP_IDENTITY], 0);
    free(text);
    rg_graph_free(g);
}
