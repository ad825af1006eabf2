/* Shape inference: one or more tests per rule, opset-dependent forms,
 * symbolic broadcasting, the known-value side table, and errors that name
 * the node. Every graph is freed through a counting allocator. */
#include "graph_fixtures.h"

#define F32 RG_DTYPE_F32
#define I64 RG_DTYPE_I64

Test(shape, unary_cast_and_bool_outputs) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "B,S,768");
    fx_node(&f, RG_OP_TANH, "t", 17, "x", "t");
    fx_node(&f, RG_OP_ISNAN, "n", 17, "t", "n");
    fx_node(&f, RG_OP_NOT, "nn", 17, "n", "nn");
    rg_node *c = fx_node(&f, RG_OP_CAST, "c", 17, "t", "c");
    fx_attr_int(&f, c, "to", 10); /* FLOAT16 */
    rg_node *d = fx_node(&f, RG_OP_DROPOUT, "d", 17, "c", "d,mask");
    (void)d;
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "t", "float32[B, S, 768]");
    FX_EXPECT_TYPE(&f, "n", "bool[B, S, 768]");
    FX_EXPECT_TYPE(&f, "nn", "bool[B, S, 768]");
    FX_EXPECT_TYPE(&f, "c", "float16[B, S, 768]");
    FX_EXPECT_TYPE(&f, "d", "float16[B, S, 768]");
    FX_EXPECT_TYPE(&f, "mask", "bool[B, S, 768]");
    fx_end(&f);
}

Test(shape, cast_to_unsupported_type) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "4");
    rg_node *c = fx_node(&f, RG_OP_CAST, "to_double", 17, "x", "y");
    fx_attr_int(&f, c, "to", 11); /* DOUBLE */
    FX_INFER_FAILS(&f, RG_ERR_UNSUPPORTED, "'to_double' (Cast)");
    fx_end(&f);
}

Test(shape, float_only_and_clip_bounds) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "i", I64, "3");
    fx_node(&f, RG_OP_SQRT, "root", 17, "i", "r");
    FX_INFER_FAILS(&f, RG_ERR_DTYPE, "'root' (Sqrt)");
    fx_end(&f);

    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "B,4");
    fx_input(&f, "hi", F32, "");
    fx_node(&f, RG_OP_CLIP, "clip", 17, "x,,hi", "y");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "y", "float32[B, 4]");
    fx_end(&f);

    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "B,4");
    fx_input(&f, "lo", I64, "");
    fx_node(&f, RG_OP_CLIP, "clip", 17, "x,lo", "y");
    FX_INFER_FAILS(&f, RG_ERR_DTYPE, "'clip' (Clip)");
    fx_end(&f);
}

Test(shape, softmax_axis_checked) {
    fx f;
    fx_begin(&f, 11);
    fx_input(&f, "x", F32, "B,S");
    rg_node *n = fx_node(&f, RG_OP_SOFTMAX, "sm", 11, "x", "y");
    fx_attr_int(&f, n, "axis", 2);
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'sm' (Softmax)");
    fx_end(&f);
}

Test(shape, binary_broadcasting_with_symbols) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "B,S,768");
    fx_input(&f, "bias", F32, "768");
    fx_input(&f, "col", F32, "B,1,S");
    fx_input(&f, "row", F32, "B,S,1");
    fx_input(&f, "p", F32, "P");
    fx_input(&f, "q", F32, "Q");
    fx_input(&f, "five", F32, "5");
    fx_node(&f, RG_OP_ADD, "a", 17, "x,bias", "a");
    fx_node(&f, RG_OP_MUL, "m", 17, "col,row", "m");
    fx_node(&f, RG_OP_SUB, "s", 17, "p,q", "s");
    fx_node(&f, RG_OP_DIV, "d", 17, "p,five", "d");
    fx_node(&f, RG_OP_LESS, "lt", 17, "x,bias", "lt");
    fx_node(&f, RG_OP_SUM, "sum", 17, "x,bias,x", "sum");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "a", "float32[B, S, 768]");
    FX_EXPECT_TYPE(&f, "m", "float32[B, S, S]");
    FX_EXPECT_TYPE(&f, "s", "float32[?]");
    FX_EXPECT_TYPE(&f, "d", "float32[5]");
    FX_EXPECT_TYPE(&f, "lt", "bool[B, S, 768]");
    FX_EXPECT_TYPE(&f, "sum", "float32[B, S, 768]");
    fx_end(&f);
}

Test(shape, binary_errors_name_node_dims_and_dtypes) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "a", F32, "2,3");
    fx_input(&f, "b", F32, "4");
    fx_node(&f, RG_OP_ADD, "bad_add", 17, "a,b", "y");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'bad_add' (Add)");
    cr_assert(strstr(f.err.message, "3") && strstr(f.err.message, "4"));
    fx_end(&f);

    fx_begin(&f, 17);
    fx_input(&f, "a", F32, "3");
    fx_input(&f, "b", I64, "3");
    fx_node(&f, RG_OP_MUL, "bad_mul", 17, "a,b", "y");
    FX_INFER_FAILS(&f, RG_ERR_DTYPE, "'bad_mul' (Mul)");
    cr_assert(strstr(f.err.message, "float32") && strstr(f.err.message, "int64"));
    fx_end(&f);

    /* Pow may raise to an exponent of another dtype */
    fx_begin(&f, 17);
    fx_input(&f, "a", F32, "3");
    fx_input(&f, "b", I64, "");
    fx_node(&f, RG_OP_POW, "pow", 17, "a,b", "y");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "y", "float32[3]");
    fx_end(&f);
}

Test(shape, where_needs_bool_condition) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "c", RG_DTYPE_BOOL, "1,1,S,S");
    fx_input(&f, "x", F32, "B,H,S,S");
    fx_input(&f, "y", F32, "");
    fx_node(&f, RG_OP_WHERE, "w", 17, "c,x,y", "out");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "out", "float32[B, H, S, S]");
    fx_end(&f);

    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "3");
    fx_node(&f, RG_OP_WHERE, "w2", 17, "x,x,x", "out");
    FX_INFER_FAILS(&f, RG_ERR_DTYPE, "'w2' (Where)");
    fx_end(&f);
}

Test(shape, layer_normalization) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "B,S,768");
    fx_input(&f, "g", F32, "768");
    fx_input(&f, "b", F32, "768");
    fx_node(&f, RG_OP_LAYER_NORMALIZATION, "ln", 17, "x,g,b", "y,mean,inv");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "y", "float32[B, S, 768]");
    FX_EXPECT_TYPE(&f, "mean", "float32[B, S, 1]");
    FX_EXPECT_TYPE(&f, "inv", "float32[B, S, 1]");
    fx_end(&f);

    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "B,S,768");
    fx_input(&f, "g", F32, "768");
    rg_node *n = fx_node(&f, RG_OP_LAYER_NORMALIZATION, "ln_axis", 17, "x,g", "y");
    fx_attr_int(&f, n, "axis", 3);
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'ln_axis' (LayerNormalization)");
    fx_end(&f);
}

Test(shape, reduce_axes_by_opset) {
    fx f;
    /* opset 11: axes attribute */
    fx_begin(&f, 11);
    fx_input(&f, "x", F32, "B,S,768");
    rg_node *n = fx_node(&f, RG_OP_REDUCE_MEAN, "mean11", 11, "x", "m");
    FX_INTS(&f, n, "axes", -1);
    n = fx_node(&f, RG_OP_REDUCE_SUM, "sum11", 11, "x", "s");
    FX_INTS(&f, n, "axes", 0, 2);
    fx_attr_int(&f, n, "keepdims", 0);
    fx_node(&f, RG_OP_REDUCE_MAX, "all11", 11, "x", "all");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "m", "float32[B, S, 1]");
    FX_EXPECT_TYPE(&f, "s", "float32[S]");
    FX_EXPECT_TYPE(&f, "all", "float32[1, 1, 1]");
    fx_end(&f);

    /* ReduceSum takes axes as an input from 13, the others from 18 */
    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "B,S,768");
    FX_I64(&f, "axes", 1);
    fx_node(&f, RG_OP_REDUCE_SUM, "sum13", 13, "x,axes", "s");
    n = fx_node(&f, RG_OP_REDUCE_MEAN, "mean13", 13, "x", "m");
    FX_INTS(&f, n, "axes", 1);
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "s", "float32[B, 1, 768]");
    FX_EXPECT_TYPE(&f, "m", "float32[B, 1, 768]");
    fx_end(&f);

    fx_begin(&f, 18);
    fx_input(&f, "x", F32, "B,S,768");
    fx_input(&f, "dyn", I64, "2");
    n = fx_node(&f, RG_OP_REDUCE_MEAN, "mean18", 18, "x,dyn", "m");
    fx_attr_int(&f, n, "keepdims", 0);
    n = fx_node(&f, RG_OP_REDUCE_MEAN, "noop", 18, "x", "same");
    fx_attr_int(&f, n, "noop_with_empty_axes", 1);
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "m", "float32[?]");
    FX_EXPECT_TYPE(&f, "same", "float32[B, S, 768]");
    fx_end(&f);

    fx_begin(&f, 18);
    fx_input(&f, "x", F32, "B,S,768");
    n = fx_node(&f, RG_OP_REDUCE_MEAN, "old_form", 18, "x", "m");
    FX_INTS(&f, n, "axes", 1);
    FX_INFER_FAILS(&f, RG_ERR_INVALID_MODEL, "'old_form' (ReduceMean)");
    fx_end(&f);

    fx_begin(&f, 11);
    fx_input(&f, "x", F32, "B,S");
    n = fx_node(&f, RG_OP_REDUCE_MEAN, "far", 11, "x", "m");
    FX_INTS(&f, n, "axes", 2);
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'far' (ReduceMean)");
    fx_end(&f);
}

Test(shape, cumsum) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "x", I64, "B,S");
    FX_SCALAR(&f, "axis", 1);
    fx_node(&f, RG_OP_CUMSUM, "cs", 17, "x,axis", "y");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "y", "int64[B, S]");
    fx_end(&f);
}

Test(shape, matmul_forms) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "q", F32, "B,H,S,64");
    fx_input(&f, "kt", F32, "B,H,64,S");
    fx_input(&f, "x", F32, "B,S,768");
    fx_input(&f, "w", F32, "768,3072");
    fx_input(&f, "v", F32, "768");
    fx_input(&f, "bw", F32, "1,768,10");
    fx_node(&f, RG_OP_MATMUL, "scores", 17, "q,kt", "scores");
    fx_node(&f, RG_OP_MATMUL, "proj", 17, "x,w", "proj");
    fx_node(&f, RG_OP_MATMUL, "xv", 17, "x,v", "xv");
    fx_node(&f, RG_OP_MATMUL, "vw", 17, "v,w", "vw");
    fx_node(&f, RG_OP_MATMUL, "vv", 17, "v,v", "vv");
    fx_node(&f, RG_OP_MATMUL, "bcast", 17, "x,bw", "bcast");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "scores", "float32[B, H, S, S]");
    FX_EXPECT_TYPE(&f, "proj", "float32[B, S, 3072]");
    FX_EXPECT_TYPE(&f, "xv", "float32[B, S]");
    FX_EXPECT_TYPE(&f, "vw", "float32[3072]");
    FX_EXPECT_TYPE(&f, "vv", "float32[]");
    FX_EXPECT_TYPE(&f, "bcast", "float32[B, S, 10]");
    fx_end(&f);

    fx_begin(&f, 17);
    fx_input(&f, "s", F32, "");
    fx_node(&f, RG_OP_MATMUL, "scalars", 17, "s,s", "y");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'scalars' (MatMul)");
    fx_end(&f);

    fx_begin(&f, 17);
    fx_input(&f, "a", F32, "S,3");
    fx_input(&f, "b", F32, "4,5");
    fx_node(&f, RG_OP_MATMUL, "inner", 17, "a,b", "y");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'inner' (MatMul)");
    fx_end(&f);
}

Test(shape, gemm_transposes) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "a", F32, "K,M");
    fx_input(&f, "b", F32, "N,K");
    fx_input(&f, "c", F32, "N");
    rg_node *n = fx_node(&f, RG_OP_GEMM, "gemm", 17, "a,b,c", "y");
    fx_attr_int(&f, n, "transA", 1);
    fx_attr_int(&f, n, "transB", 1);
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "y", "float32[M, N]");
    fx_end(&f);

    fx_begin(&f, 17);
    fx_input(&f, "a", F32, "2,3,4");
    fx_input(&f, "b", F32, "4,5");
    fx_node(&f, RG_OP_GEMM, "gemm3d", 17, "a,b", "y");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'gemm3d' (Gemm)");
    fx_end(&f);
}

/* The exported-BERT shape subgraph: Shape -> Gather -> Unsqueeze -> Concat
 * -> Reshape gives symbolic dims through the known-value table. */
Test(shape, shape_subgraph_feeds_reshape) {
    fx f;
    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "B,S,768");
    FX_SCALAR(&f, "zero", 0);
    FX_SCALAR(&f, "one", 1);
    FX_I64(&f, "axes0", 0);
    FX_I64(&f, "heads", 12, 64);
    fx_node(&f, RG_OP_SHAPE, "shape", 13, "x", "shape");
    fx_node(&f, RG_OP_GATHER, "g0", 13, "shape,zero", "b");
    fx_node(&f, RG_OP_GATHER, "g1", 13, "shape,one", "s");
    fx_node(&f, RG_OP_UNSQUEEZE, "u0", 13, "b,axes0", "bu");
    fx_node(&f, RG_OP_UNSQUEEZE, "u1", 13, "s,axes0", "su");
    rg_node *c = fx_node(&f, RG_OP_CONCAT, "cat", 13, "bu,su,heads", "target");
    fx_attr_int(&f, c, "axis", 0);
    fx_node(&f, RG_OP_RESHAPE, "split_heads", 13, "x,target", "y");
    fx_node(&f, RG_OP_MUL, "bs", 13, "b,s", "bs");
    fx_node(&f, RG_OP_UNSQUEEZE, "u2", 13, "bs,axes0", "bsu");
    FX_I64(&f, "hidden", 768);
    rg_node *c2 = fx_node(&f, RG_OP_CONCAT, "cat2", 13, "bsu,hidden", "flat");
    fx_attr_int(&f, c2, "axis", 0);
    fx_node(&f, RG_OP_RESHAPE, "merge", 13, "x,flat", "z");
    fx_node(&f, RG_OP_CONSTANT_OF_SHAPE, "zeros", 13, "shape", "zeros");
    fx_input(&f, "bias", F32, "768");
    fx_node(&f, RG_OP_EXPAND, "exp", 13, "bias,shape", "wide");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "shape", "int64[3]");
    FX_EXPECT_TYPE(&f, "b", "int64[]");
    FX_EXPECT_TYPE(&f, "bu", "int64[1]");
    FX_EXPECT_TYPE(&f, "target", "int64[4]");
    FX_EXPECT_TYPE(&f, "y", "float32[B, S, 12, 64]");
    FX_EXPECT_TYPE(&f, "z", "float32[B*S, 768]");
    FX_EXPECT_TYPE(&f, "zeros", "float32[B, S, 768]");
    FX_EXPECT_TYPE(&f, "wide", "float32[B, S, 768]");
    fx_end(&f);

    /* rg_infer_node alone has no side table: the rank stays, dims go */
    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "B,S,768");
    fx_node(&f, RG_OP_SHAPE, "shape", 13, "x", "shape");
    rg_node *r = fx_node(&f, RG_OP_RESHAPE, "r", 13, "x,shape", "y");
    cr_assert_eq(rg_infer_node(f.g, f.g->nodes[0], &f.err), RG_OK);
    cr_assert_eq(rg_infer_node(f.g, r, &f.err), RG_OK);
    FX_EXPECT_TYPE(&f, "y", "float32[?, ?, ?]");
    fx_end(&f);
}

Test(shape, shape_start_end_opset15) {
    fx f;
    fx_begin(&f, 15);
    fx_input(&f, "x", F32, "B,S,768");
    rg_node *n = fx_node(&f, RG_OP_SHAPE, "tail", 15, "x", "tail");
    fx_attr_int(&f, n, "start", -2);
    n = fx_node(&f, RG_OP_SHAPE, "clamped", 15, "x", "clamped");
    fx_attr_int(&f, n, "start", 1);
    fx_attr_int(&f, n, "end", 100);
    FX_I64(&f, "hidden", 768);
    rg_node *c = fx_node(&f, RG_OP_CONCAT, "cat", 15, "hidden,tail", "dims");
    fx_attr_int(&f, c, "axis", 0);
    fx_node(&f, RG_OP_CONSTANT_OF_SHAPE, "cos", 15, "dims", "y");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "tail", "int64[2]");
    FX_EXPECT_TYPE(&f, "clamped", "int64[2]");
    FX_EXPECT_TYPE(&f, "y", "float32[768, S, 768]");
    fx_end(&f);
}

Test(shape, reshape_rules) {
    fx f;
    fx_begin(&f, 14);
    fx_input(&f, "x", F32, "B,S,768");
    fx_input(&f, "h", F32, "B,S,12,64");
    FX_I64(&f, "split", 0, 0, 12, -1);
    FX_I64(&f, "merge", 0, 0, -1);
    FX_I64(&f, "flat", -1, 768);
    FX_I64(&f, "zeros", 0, 768);
    fx_node(&f, RG_OP_RESHAPE, "r1", 14, "x,split", "y1");
    fx_node(&f, RG_OP_RESHAPE, "r2", 14, "h,merge", "y2");
    fx_node(&f, RG_OP_RESHAPE, "r3", 14, "x,flat", "y3");
    rg_node *n = fx_node(&f, RG_OP_RESHAPE, "r4", 14, "x,zeros", "y4");
    fx_attr_int(&f, n, "allowzero", 1);
    fx_input(&f, "dyn", I64, "3");
    fx_node(&f, RG_OP_RESHAPE, "r5", 14, "x,dyn", "y5");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "y1", "float32[B, S, 12, 64]");
    FX_EXPECT_TYPE(&f, "y2", "float32[B, S, 768]");
    FX_EXPECT_TYPE(&f, "y3", "float32[B*S, 768]");
    FX_EXPECT_TYPE(&f, "y4", "float32[0, 768]");
    FX_EXPECT_TYPE(&f, "y5", "float32[?, ?, ?]");
    fx_end(&f);

    fx_begin(&f, 14);
    fx_input(&f, "x", F32, "2,3");
    FX_I64(&f, "bad", 4, -1);
    fx_node(&f, RG_OP_RESHAPE, "indivisible", 14, "x,bad", "y");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'indivisible' (Reshape)");
    fx_end(&f);

    fx_begin(&f, 14);
    fx_input(&f, "x", F32, "2,3");
    FX_I64(&f, "bad", 7);
    fx_node(&f, RG_OP_RESHAPE, "count", 14, "x,bad", "y");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'count' (Reshape)");
    fx_end(&f);

    fx_begin(&f, 14);
    fx_input(&f, "x", F32, "2,3");
    FX_I64(&f, "bad", -1, -1);
    fx_node(&f, RG_OP_RESHAPE, "two_minus", 14, "x,bad", "y");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "more than one -1");
    fx_end(&f);
}

Test(shape, expand_and_constant_of_shape) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "B,1,S");
    FX_I64(&f, "to", 1, 12, 1);
    fx_node(&f, RG_OP_EXPAND, "e", 17, "x,to", "y");
    FX_I64(&f, "dims", 2, 3);
    rg_node *n = fx_node(&f, RG_OP_CONSTANT_OF_SHAPE, "c", 17, "dims", "c");
    rg_tensor *t;
    cr_assert_eq(rg_graph_new_tensor(f.g, I64, 1, (int64_t[]){1}, &t, &f.err), RG_OK);
    fx_attr(&f, n, "value", RG_ATTR_TENSOR)->t = t;
    FX_I64(&f, "empty");
    fx_node(&f, RG_OP_CONSTANT_OF_SHAPE, "s", 17, "empty", "scalar");
    fx_input(&f, "dyn", I64, "?");
    fx_node(&f, RG_OP_CONSTANT_OF_SHAPE, "d", 17, "dyn", "d");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "y", "float32[B, 12, S]");
    FX_EXPECT_TYPE(&f, "c", "int64[2, 3]");
    FX_EXPECT_TYPE(&f, "scalar", "float32[]");
    FX_EXPECT_TYPE(&f, "d", "float32[*]");
    fx_end(&f);

    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "3,4");
    FX_I64(&f, "to", 5, 4);
    fx_node(&f, RG_OP_EXPAND, "bad_expand", 17, "x,to", "y");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'bad_expand' (Expand)");
    fx_end(&f);
}

Test(shape, flatten_transpose) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "B,S,12,64");
    rg_node *n = fx_node(&f, RG_OP_FLATTEN, "f2", 17, "x", "f2");
    fx_attr_int(&f, n, "axis", -2);
    n = fx_node(&f, RG_OP_FLATTEN, "f0", 17, "x", "f0");
    fx_attr_int(&f, n, "axis", 0);
    n = fx_node(&f, RG_OP_TRANSPOSE, "t", 17, "x", "t");
    FX_INTS(&f, n, "perm", 0, 2, 1, 3);
    fx_node(&f, RG_OP_TRANSPOSE, "rev", 17, "x", "rev");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "f2", "float32[B*S, 768]");
    FX_EXPECT_TYPE(&f, "f0", "float32[1, 768*B*S]");
    FX_EXPECT_TYPE(&f, "t", "float32[B, 12, S, 64]");
    FX_EXPECT_TYPE(&f, "rev", "float32[64, 12, S, B]");
    fx_end(&f);

    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "2,3");
    n = fx_node(&f, RG_OP_TRANSPOSE, "badperm", 17, "x", "t");
    FX_INTS(&f, n, "perm", 0, 0);
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'badperm' (Transpose)");
    fx_end(&f);
}

Test(shape, squeeze_unsqueeze_by_opset) {
    fx f;
    fx_begin(&f, 11);
    fx_input(&f, "x", F32, "B,1,S");
    rg_node *n = fx_node(&f, RG_OP_UNSQUEEZE, "u", 11, "x", "u");
    FX_INTS(&f, n, "axes", 0, -1);
    n = fx_node(&f, RG_OP_SQUEEZE, "s", 11, "x", "s");
    FX_INTS(&f, n, "axes", 1);
    fx_node(&f, RG_OP_SQUEEZE, "all", 11, "x", "all");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "u", "float32[1, B, 1, S, 1]");
    FX_EXPECT_TYPE(&f, "s", "float32[B, S]");
    FX_EXPECT_TYPE(&f, "all", "float32[*]"); /* B and S might be 1 */
    fx_end(&f);

    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "2,1,3");
    FX_I64(&f, "a1", 1);
    FX_I64(&f, "a2", 1, 3);
    fx_node(&f, RG_OP_SQUEEZE, "s", 13, "x,a1", "s");
    fx_node(&f, RG_OP_SQUEEZE, "all", 13, "x", "all");
    fx_node(&f, RG_OP_UNSQUEEZE, "u", 13, "x,a2", "u");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "s", "float32[2, 3]");
    FX_EXPECT_TYPE(&f, "all", "float32[2, 3]");
    FX_EXPECT_TYPE(&f, "u", "float32[2, 1, 1, 1, 3]");
    fx_end(&f);

    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "2,3");
    FX_I64(&f, "a", 0);
    fx_node(&f, RG_OP_SQUEEZE, "not_one", 13, "x,a", "s");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'not_one' (Squeeze)");
    fx_end(&f);

    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "2,3");
    rg_node *old = fx_node(&f, RG_OP_UNSQUEEZE, "attr13", 13, "x", "u");
    FX_INTS(&f, old, "axes", 0);
    FX_INFER_FAILS(&f, RG_ERR_INVALID_MODEL, "'attr13' (Unsqueeze)");
    fx_end(&f);
}

Test(shape, concat_sums_symbolic_dims) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "a", F32, "B,S,64");
    fx_input(&f, "b", F32, "B,1,64");
    fx_input(&f, "c", F32, "*");
    rg_node *n = fx_node(&f, RG_OP_CONCAT, "cat", 17, "a,b", "y");
    fx_attr_int(&f, n, "axis", 1);
    n = fx_node(&f, RG_OP_CONCAT, "cat_unknown", 17, "a,c", "z");
    fx_attr_int(&f, n, "axis", -1);
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "y", "float32[B, S+1, 64]");
    FX_EXPECT_TYPE(&f, "z", "float32[B, S, ?]");
    fx_end(&f);

    fx_begin(&f, 17);
    fx_input(&f, "a", F32, "2,3");
    fx_input(&f, "b", F32, "4,3");
    n = fx_node(&f, RG_OP_CONCAT, "mismatch", 17, "a,b", "y");
    fx_attr_int(&f, n, "axis", 1);
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'mismatch' (Concat)");
    fx_end(&f);
}

Test(shape, split_by_opset) {
    fx f;
    fx_begin(&f, 11);
    fx_input(&f, "x", F32, "B,S,2304");
    rg_node *n = fx_node(&f, RG_OP_SPLIT, "qkv", 11, "x", "q,k,v");
    fx_attr_int(&f, n, "axis", -1);
    n = fx_node(&f, RG_OP_SPLIT, "sizes", 11, "x", "a,b");
    fx_attr_int(&f, n, "axis", 2);
    FX_INTS(&f, n, "split", 2000, 304);
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "q", "float32[B, S, 768]");
    FX_EXPECT_TYPE(&f, "v", "float32[B, S, 768]");
    FX_EXPECT_TYPE(&f, "b", "float32[B, S, 304]");
    fx_end(&f);

    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "2,10");
    FX_I64(&f, "sizes", 3, 7);
    n = fx_node(&f, RG_OP_SPLIT, "s13", 13, "x,sizes", "a,b");
    fx_attr_int(&f, n, "axis", 1);
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "a", "float32[2, 3]");
    FX_EXPECT_TYPE(&f, "b", "float32[2, 7]");
    fx_end(&f);

    fx_begin(&f, 18);
    fx_input(&f, "x", F32, "7,S");
    n = fx_node(&f, RG_OP_SPLIT, "s18", 18, "x", "a,b,c");
    fx_attr_int(&f, n, "num_outputs", 3);
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "a", "float32[3, S]");
    FX_EXPECT_TYPE(&f, "c", "float32[1, S]");
    fx_end(&f);

    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "10");
    FX_I64(&f, "sizes", 3, 3);
    fx_node(&f, RG_OP_SPLIT, "badsum", 13, "x,sizes", "a,b");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'badsum' (Split)");
    fx_end(&f);
}

Test(shape, slice_clamping_and_steps) {
    fx f;
    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "10,20,S");
    FX_I64(&f, "st", 2, 1000);
    FX_I64(&f, "en", -3, -1000);
    FX_I64(&f, "ax", 1, 0);
    FX_I64(&f, "sp", 2, -1);
    fx_node(&f, RG_OP_SLICE, "s1", 13, "x,st,en,ax,sp", "y1");
    FX_I64(&f, "zero", 0);
    FX_I64(&f, "big", INT64_MAX);
    FX_I64(&f, "two", 2);
    FX_I64(&f, "ax2", 2);
    fx_node(&f, RG_OP_SLICE, "whole", 13, "x,zero,big,ax2", "y2");
    fx_node(&f, RG_OP_SLICE, "part", 13, "x,zero,two,ax2", "y3");
    fx_node(&f, RG_OP_SLICE, "first_axis", 13, "x,zero,two", "y4");
    fx_input(&f, "dyn", I64, "1");
    fx_node(&f, RG_OP_SLICE, "dynamic", 13, "x,zero,dyn", "y5");
    fx_node(&f, RG_OP_SLICE, "dynamic_axis", 13, "x,zero,dyn,ax2", "y6");
    fx_node(&f, RG_OP_SLICE, "dynamic_axes", 13, "x,zero,dyn,dyn", "y7");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "y1", "float32[10, 8, S]");
    FX_EXPECT_TYPE(&f, "y2", "float32[10, 20, S]");
    FX_EXPECT_TYPE(&f, "y3", "float32[10, 20, ?]");
    FX_EXPECT_TYPE(&f, "y4", "float32[2, 20, S]");
    FX_EXPECT_TYPE(&f, "y5", "float32[?, 20, S]");
    FX_EXPECT_TYPE(&f, "y6", "float32[10, 20, ?]");
    FX_EXPECT_TYPE(&f, "y7", "float32[?, ?, ?]");
    fx_end(&f);

    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "10");
    FX_I64(&f, "a", 0);
    FX_I64(&f, "b", 5);
    FX_I64(&f, "z", 0);
    fx_node(&f, RG_OP_SLICE, "step0", 13, "x,a,b,z,z", "y");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'step0' (Slice)");
    fx_end(&f);
}

Test(shape, gathers) {
    fx f;
    fx_begin(&f, 13);
    fx_input(&f, "emb", F32, "30522,768");
    fx_input(&f, "ids", I64, "B,S");
    fx_input(&f, "x", F32, "B,S,768");
    fx_input(&f, "idx", I64, "B,1,768");
    fx_input(&f, "nd", I64, "B,2");
    fx_node(&f, RG_OP_GATHER, "embed", 13, "emb,ids", "e");
    FX_SCALAR(&f, "zero", 0);
    rg_node *n = fx_node(&f, RG_OP_GATHER, "first", 13, "x,zero", "cls");
    fx_attr_int(&f, n, "axis", 1);
    n = fx_node(&f, RG_OP_GATHER_ELEMENTS, "ge", 13, "x,idx", "ge");
    fx_attr_int(&f, n, "axis", 1);
    fx_node(&f, RG_OP_GATHER_ND, "gnd", 13, "x,nd", "gnd");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "e", "float32[B, S, 768]");
    FX_EXPECT_TYPE(&f, "cls", "float32[B, 768]");
    FX_EXPECT_TYPE(&f, "ge", "float32[B, 1, 768]");
    FX_EXPECT_TYPE(&f, "gnd", "float32[B, 768]");
    fx_end(&f);

    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "2,3");
    fx_input(&f, "i", F32, "2");
    fx_node(&f, RG_OP_GATHER, "float_idx", 13, "x,i", "y");
    FX_INFER_FAILS(&f, RG_ERR_DTYPE, "'float_idx' (Gather)");
    fx_end(&f);

    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "2,3");
    fx_input(&f, "i", I64, "2");
    fx_node(&f, RG_OP_GATHER_ELEMENTS, "ranks", 13, "x,i", "y");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'ranks' (GatherElements)");
    fx_end(&f);
}

Test(shape, tile_and_range) {
    fx f;
    fx_begin(&f, 13);
    fx_input(&f, "x", F32, "B,S");
    FX_I64(&f, "reps", 2, 3);
    fx_node(&f, RG_OP_TILE, "tile", 13, "x,reps", "t");
    FX_SCALAR(&f, "start", 2);
    FX_SCALAR(&f, "limit", 11);
    FX_SCALAR(&f, "delta", 3);
    fx_node(&f, RG_OP_RANGE, "r", 13, "start,limit,delta", "r");
    /* Range(0, S, 1) where S comes from Shape */
    FX_SCALAR(&f, "zero", 0);
    FX_SCALAR(&f, "one", 1);
    fx_node(&f, RG_OP_SHAPE, "shape", 13, "x", "shape");
    fx_node(&f, RG_OP_GATHER, "g", 13, "shape,one", "s");
    fx_node(&f, RG_OP_RANGE, "positions", 13, "zero,s,one", "pos");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "t", "float32[2*B, 3*S]");
    FX_EXPECT_TYPE(&f, "r", "int64[3]");
    FX_EXPECT_TYPE(&f, "pos", "int64[S]");
    fx_end(&f);

    fx_begin(&f, 13);
    FX_SCALAR(&f, "a", 0);
    FX_SCALAR(&f, "z", 0);
    fx_node(&f, RG_OP_RANGE, "zero_delta", 13, "a,a,z", "r");
    FX_INFER_FAILS(&f, RG_ERR_SHAPE, "'zero_delta' (Range)");
    fx_end(&f);
}

Test(shape, undefined_input_dtype_is_named) {
    fx f;
    fx_begin(&f, 17);
    fx_val(&f, "mystery", RG_DTYPE_UNDEFINED, "3");
    cr_assert_eq(rg_graph_add_input(f.g, rg_graph_find_value(f.g, "mystery"), &f.err), RG_OK);
    fx_node(&f, RG_OP_RELU, "relu", 17, "mystery", "y");
    FX_INFER_FAILS(&f, RG_ERR_DTYPE, "'mystery'");
    cr_assert(strstr(f.err.message, "'relu' (Relu)"));
    fx_end(&f);
}

/* Every op with inputs of unknown rank, of each of two dtypes, with the
 * largest arity the table allows: inference may fail but must not crash,
 * and success leaves typed outputs. */
Test(shape, unknown_ranks_never_crash) {
    rg_dtype dtypes[] = {F32, I64, RG_DTYPE_BOOL};
    for (int op = 0; op < RG_OP_COUNT; op++) {
        const rg_op_info *info = rg_op_get((rg_op)op);
        for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
            fx f;
            fx_begin(&f, 17);
            uint32_t nin = info->max_inputs == RG_ARITY_ANY ? 3 : info->max_inputs;
            uint32_t nout = info->max_outputs == RG_ARITY_ANY ? 2 : info->max_outputs;
            rg_value *in[8], *out[8];
            for (uint32_t i = 0; i < nin; i++) {
                char name[16];
                snprintf(name, sizeof name, "in%u", i);
                in[i] = fx_input(&f, name, i == 0 ? dtypes[d] : (i == 1 && d == 0 ? F32 : I64), "*");
            }
            for (uint32_t i = 0; i < nout; i++) {
                char name[16];
                snprintf(name, sizeof name, "out%u", i);
                out[i] = fx_val(&f, name, RG_DTYPE_UNDEFINED, "*");
            }
            rg_node *node;
            cr_assert_eq(rg_graph_add_node(f.g, (rg_op)op, "n", 17, nin, in, nout, out, &node, &f.err), RG_OK);
            rg_status st = rg_infer_node(f.g, node, &f.err);
            if (st == RG_OK)
                cr_assert(rg_dtype_is_valid(out[0]->dtype), "%s gave no dtype", info->name);
            else
                cr_assert(strstr(f.err.message, "'n' ("), "%s: %s", info->name, f.err.message);
            fx_end(&f);
        }
    }
}

/* The exporters' `Where(Equal(shape, -1), ones, shape)` before Expand:
 * sizes are never -1, so the known shape survives. */
Test(shape, known_values_through_equal_where) {
    fx f;
    fx_begin(&f, 13);
    fx_input(&f, "ids", I64, "B,S");
    fx_input(&f, "row", I64, "1,S");
    fx_node(&f, RG_OP_SHAPE, "shape", 13, "ids", "shape");
    FX_I64(&f, "flat", -1);
    fx_node(&f, RG_OP_RESHAPE, "reshape", 13, "shape,flat", "target");
    FX_I64(&f, "two", 2);
    rg_node *n = fx_node(&f, RG_OP_CONSTANT_OF_SHAPE, "ones", 13, "two", "ones");
    rg_tensor *t;
    cr_assert_eq(rg_graph_new_tensor(f.g, I64, 1, (int64_t[]){1}, &t, &f.err), RG_OK);
    ((int64_t *)t->data)[0] = 1;
    fx_attr(&f, n, "value", RG_ATTR_TENSOR)->t = t;
    FX_SCALAR(&f, "minus_one", -1);
    fx_node(&f, RG_OP_MUL, "neg", 13, "ones,minus_one", "negs");
    fx_node(&f, RG_OP_EQUAL, "eq", 13, "target,negs", "eq");
    fx_node(&f, RG_OP_WHERE, "where", 13, "eq,ones,target", "sel");
    fx_node(&f, RG_OP_EXPAND, "expand", 13, "row,sel", "y");
    FX_INFER_OK(&f);
    FX_EXPECT_TYPE(&f, "eq", "bool[2]");
    FX_EXPECT_TYPE(&f, "y", "int64[B, S]");
    fx_end(&f);
}

/* Allocation failures inside inference and verification are reported,
 * not crashed on, and leak nothing. */
Test(shape, allocation_failure) {
    fx f;
    fx_begin(&f, 17);
    fx_input(&f, "x", F32, "B,S");
    fx_node(&f, RG_OP_RELU, "relu", 17, "x", "y");
    f.counting.fail_after = (int64_t)f.counting.allocations;
    cr_assert_eq(rg_infer_shapes(f.g, &f.err), RG_ERR_NOMEM);
    cr_assert_eq(rg_verify(f.g, &f.err), RG_ERR_NOMEM);
    f.counting.fail_after = -1;
    FX_INFER_OK(&f);
    fx_end(&f);
}
