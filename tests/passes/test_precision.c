/*
 * test_precision.c — the precision pass: a float32 graph computed in float16
 * and bfloat16 on the CPU executor matches its float32 self (Frobenius-
 * relative error <= 1e-2), keeps its float32 interface, stores half-width
 * constants, and leaves integer values alone. On a hand-built graph and on
 * MiniLM-L3 (skipped, naming the path, when the model cache is missing).
 */
#include <unistd.h>

#include "frontend/onnx.h"
#include "helpers.h"

/* ||a - b|| / ||b||, the largest over the outputs. */
static double frobenius_rel(const tp_outputs *a, const tp_outputs *b) {
    cr_assert_eq(a->n, b->n);
    double worst = 0;
    for (size_t i = 0; i < a->n; i++) {
        double num = 0, den = 0;
        cr_assert_eq(a->t[i].dtype, b->t[i].dtype, "output %zu: dtype %s vs %s", i, rg_dtype_name(a->t[i].dtype),
                     rg_dtype_name(b->t[i].dtype));
        size_t n = rg_tensor_numel(&a->t[i]);
        cr_assert_eq(n, rg_tensor_numel(&b->t[i]));
        for (size_t k = 0; k < n; k++) {
            double p = rg_load_as_double(a->t[i].dtype, a->t[i].data, k);
            double q = rg_load_as_double(b->t[i].dtype, b->t[i].data, k);
            num += (p - q) * (p - q);
            den += q * q;
        }
        double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        if (rel > worst) worst = rel;
    }
    return worst;
}

static rg_status run_precision(rg_graph *g, rg_dtype dtype, rg_error *err) {
    static const rg_pass pass = {"precision", "compute in the compile dtype", rg_pass_precision};
    const rg_pass *list[1] = {&pass};
    rg_pass_options opt = {.verify = true, .dtype = dtype};
    return rg_pass_run_list(g, list, 1, &opt, NULL, err);
}

/* y = LayerNorm(x @ W + b) + Cast(int input) on [2, 3, 8] */
static rg_graph *small_graph(void) {
    rg_graph *g = NULL;
    cr_assert_eq(rg_graph_new(NULL, &g, NULL), RG_OK);
    g->opset = 17;
    rg_dim d3[3] = {rg_dim_const(2), rg_dim_const(3), rg_dim_const(8)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 3, d3);
    rg_value *k = tp_input(g, "k", RG_DTYPE_I64, 3, d3);
    float w[64], b[8], s[8], z[8];
    for (int i = 0; i < 64; i++) w[i] = (float)((i * 37) % 17 - 8) / 8.0f;
    for (int i = 0; i < 8; i++) b[i] = 0.1f * (float)i, s[i] = 1.0f + 0.05f * (float)i, z[i] = -0.02f * (float)i;
    int64_t wd[2] = {8, 8}, vd[1] = {8};
    rg_value *W = tp_const(g, "W", RG_DTYPE_F32, 2, wd, w), *B = tp_const(g, "B", RG_DTYPE_F32, 1, vd, b);
    rg_value *S = tp_const(g, "S", RG_DTYPE_F32, 1, vd, s), *Z = tp_const(g, "Z", RG_DTYPE_F32, 1, vd, z);
    rg_value *lin_in[3] = {x, W, B};
    rg_node *lin = tp_node(g, RG_OP_LINEAR, "lin", 3, lin_in, NULL);
    rg_value *ln_in[3] = {lin->outputs[0], S, Z};
    rg_node *ln = tp_node(g, RG_OP_LAYER_NORM, "ln", 3, ln_in, NULL);
    rg_node *cast = tp_node(g, RG_OP_CAST, "cast", 1, &k, NULL);
    tp_attr_int(g, cast, "to", 1);
    rg_value *add_in[2] = {ln->outputs[0], cast->outputs[0]};
    rg_node *add = tp_node(g, RG_OP_ADD, "add", 2, add_in, NULL);
    cr_assert_eq(rg_graph_add_output(g, add->outputs[0], NULL), RG_OK);
    cr_assert_eq(rg_graph_add_output(g, lin->outputs[0], NULL), RG_OK);
    rg_error err = {0};
    cr_assert_eq(rg_infer_shapes(g, &err), RG_OK, "%s", err.message);
    return g;
}

static void small_inputs(rg_tensor in[2], float *xs, int64_t *ks) {
    int64_t dims[3] = {2, 3, 8};
    for (int i = 0; i < 48; i++) xs[i] = (float)((i * 29) % 23 - 11) / 7.0f, ks[i] = i % 3;
    rg_tensor_set_shape(&in[0], RG_DTYPE_F32, 3, dims, NULL);
    in[0].data = xs;
    rg_tensor_set_shape(&in[1], RG_DTYPE_I64, 3, dims, NULL);
    in[1].data = ks;
}

static void check_small(rg_dtype dtype) {
    float xs[48];
    int64_t ks[48];
    rg_tensor in[2];
    small_inputs(in, xs, ks);
    rg_error err = {0};
    rg_graph *ref = small_graph();
    tp_outputs want, got;
    cr_assert_eq(tp_run(ref, in, 2, &want, &err), RG_OK, "%s", err.message);
    rg_graph *g = small_graph();
    cr_assert_eq(run_precision(g, dtype, &err), RG_OK, "%s", err.message);
    tp_verify(g);
    /* interface unchanged, internals in the compile dtype, ints untouched */
    cr_assert_eq(g->inputs[0]->dtype, RG_DTYPE_F32);
    cr_assert_eq(g->inputs[1]->dtype, RG_DTYPE_I64);
    cr_assert_eq(g->outputs[0]->dtype, RG_DTYPE_F32);
    cr_assert_eq(g->outputs[1]->dtype, RG_DTYPE_F32);
    cr_assert_str_eq(g->outputs[0]->name, ref->outputs[0]->name);
    cr_assert_eq(rg_graph_find_value(g, "W")->constant->dtype, dtype);
    cr_assert_eq(rg_graph_find_value(g, "k")->dtype, RG_DTYPE_I64);
    int casts = tp_count(g, RG_OP_CAST);
    cr_assert_eq(casts, 4, "cast of k, x in, two outputs: got %d", casts);
    for (uint32_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i]->op == RG_OP_LINEAR) cr_assert_eq(g->nodes[i]->outputs[0]->dtype, dtype);
    cr_assert_eq(tp_run(g, in, 2, &got, &err), RG_OK, "%s", err.message);
    double rel = frobenius_rel(&got, &want);
    printf("precision %s small graph: relative Frobenius error %.3g\n", rg_dtype_name(dtype), rel);
    cr_assert(rel <= 1e-2, "%s: relative error %g", rg_dtype_name(dtype), rel);
    cr_assert(rel > 0, "the computation did not change precision at all");
    tp_outputs_free(&want);
    tp_outputs_free(&got);
    rg_graph_free(ref);
    rg_graph_free(g);
}

Test(precision, small_f16) { check_small(RG_DTYPE_F16); }
Test(precision, small_bf16) { check_small(RG_DTYPE_BF16); }

Test(precision, f32_is_a_no_op) {
    rg_graph *g = small_graph();
    uint32_t nodes = g->nnodes;
    rg_error err = {0};
    cr_assert_eq(run_precision(g, RG_DTYPE_F32, &err), RG_OK, "%s", err.message);
    cr_assert_eq(g->nnodes, nodes);
    cr_assert_eq(rg_graph_find_value(g, "W")->constant->dtype, RG_DTYPE_F32);
    cr_assert_eq(run_precision(g, RG_DTYPE_I8, &err), RG_ERR_UNSUPPORTED);
    rg_graph_free(g);
}

static void check_minilm(rg_dtype dtype) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/cache/paraphrase-MiniLM-L3-v2/model.onnx", RG_TEST_SOURCE_DIR);
    if (access(path, R_OK) != 0) cr_skip_test("%s is missing: run bash models/fetch.sh", path);
    rg_error err = {0};
    rg_graph *g[2] = {NULL, NULL};
    tp_outputs out[2];
    int64_t ids[2 * 24], mask[2 * 24], types[2 * 24];
    for (int i = 0; i < 48; i++) ids[i] = 100 + (i * 7919) % 20000, mask[i] = !(i >= 40), types[i] = 0;
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(rg_onnx_import_file(path, NULL, &g[k], &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_infer_shapes(g[k], &err), RG_OK, "%s", err.message);
        rg_pass_options opt = {.verify = true, .eval = &tp_evaluator};
        cr_assert_eq(rg_pass_run(g[k], &opt, NULL, &err), RG_OK, "%s", err.message);
        if (k == 1) cr_assert_eq(run_precision(g[k], dtype, &err), RG_OK, "%s", err.message);
        rg_tensor in[8];
        int64_t dims[2] = {2, 24};
        cr_assert_leq(g[k]->ninputs, 8);
        for (uint32_t i = 0; i < g[k]->ninputs; i++) {
            const char *name = g[k]->inputs[i]->name;
            rg_tensor_set_shape(&in[i], RG_DTYPE_I64, 2, dims, NULL);
            in[i].data = strstr(name, "mask") ? mask : strstr(name, "type") ? types : ids;
        }
        cr_assert_eq(tp_run(g[k], in, g[k]->ninputs, &out[k], &err), RG_OK, "%s", err.message);
    }
    double rel = frobenius_rel(&out[1], &out[0]);
    printf("precision %s MiniLM-L3: relative Frobenius error %.3g\n", rg_dtype_name(dtype), rel);
    cr_assert(rel <= 1e-2, "MiniLM in %s: relative error %g", rg_dtype_name(dtype), rel);
    for (int k = 0; k < 2; k++) {
        tp_outputs_free(&out[k]);
        rg_graph_free(g[k]);
    }
}

Test(precision, minilm_f16, .timeout = 120) { check_minilm(RG_DTYPE_F16); }
Test(precision, minilm_bf16, .timeout = 120) { check_minilm(RG_DTYPE_BF16); }
