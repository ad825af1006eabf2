/*
 * test_approximate.c — the approximate_gelu pass on exported BERT models:
 * every Linear with the erf GELU epilogue takes the tanh form, nothing else
 * changes, a second run changes nothing, GPT-2 (already tanh) is untouched,
 * and the CPU executor's hidden state stays within 1e-3 relative of the
 * exact graph's (the two GELUs differ by <= ~5e-4).
 */
#include "frontend/onnx.h"
#include "helpers.h"

static rg_graph *optimised(const char *name) {
    rg_graph *g = tp_import_exported(name);
    rg_error err = {0};
    rg_pass_options opt = {.verify = true, .eval = &tp_evaluator};
    cr_assert_eq(rg_pass_run(g, &opt, NULL, &err), RG_OK, "%s: %s", name, err.message);
    return g;
}

static uint32_t approximate(rg_graph *g) {
    static const rg_pass pass = {"approximate_gelu", "erf GELU epilogues -> tanh form", rg_pass_approximate_gelu};
    const rg_pass *list[1] = {&pass};
    rg_pass_options opt = {.verify = true};
    rg_pass_report r;
    rg_error err = {0};
    cr_assert_eq(rg_pass_run_list(g, list, 1, &opt, &r, &err), RG_OK, "%s", err.message);
    cr_assert_eq(r.npasses, 1);
    return r.pass[0].stats.rewritten;
}

/* ids below 500, the second sequence's last 3 tokens padded */
static void inputs(const rg_graph *g, rg_tensor *in, int64_t *data) {
    int64_t dims[2] = {2, 12};
    for (uint32_t i = 0; i < g->ninputs; i++) {
        cr_assert_eq(rg_tensor_set_shape(&in[i], RG_DTYPE_I64, 2, dims, NULL), RG_OK);
        in[i].data = data + 24 * i;
        bool mask = strstr(g->inputs[i]->name, "mask") != NULL;
        for (int k = 0; k < 24; k++) data[24 * i + k] = mask ? !(k >= 21) : (int64_t)((k * 131 + 7) % 500);
    }
}

static void check_bert(const char *name, int layers) {
    rg_graph *exact = optimised(name), *approx = optimised(name);
    cr_assert_eq(tp_count_attr(exact, RG_OP_LINEAR, "activation", "gelu"), layers, "%s: erf GELU epilogues", name);
    uint32_t nodes = approx->nnodes;
    cr_assert_eq(approximate(approx), (uint32_t)layers, "%s: rewritten", name);
    cr_assert_eq(approx->nnodes, nodes);
    cr_assert_eq(tp_count_attr(approx, RG_OP_LINEAR, "activation", "gelu"), 0);
    cr_assert_eq(tp_count_attr(approx, RG_OP_LINEAR, "activation", "gelu_tanh"), layers);
    cr_assert_eq(approximate(approx), 0, "%s: a second run changes nothing", name);

    rg_tensor in[4];
    int64_t data[4 * 24];
    cr_assert_leq(exact->ninputs, 4);
    inputs(exact, in, data);
    tp_outputs want, got;
    rg_error err = {0};
    cr_assert_eq(tp_run(exact, in, exact->ninputs, &want, &err), RG_OK, "%s", err.message);
    cr_assert_eq(tp_run(approx, in, approx->ninputs, &got, &err), RG_OK, "%s", err.message);
    double rel = tp_max_rel(&got, &want);
    printf("%s: approximate GELU, max relative difference %.3g\n", name, rel);
    cr_assert(rel > 0, "%s: the approximation changed nothing at all", name);
    cr_assert(rel <= 1e-3, "%s: max relative difference %g", name, rel);
    tp_outputs_free(&want), tp_outputs_free(&got);
    rg_graph_free(exact);
    rg_graph_free(approx);
}

Test(approximate_gelu, bert_classic) { check_bert("bert_L2_classic_o17", 2); }
Test(approximate_gelu, bert_dynamo) { check_bert("bert_L4_dynamo_o20", 4); }

Test(approximate_gelu, gpt2_is_already_tanh) {
    rg_graph *g = optimised("gpt2_L2_classic_o17");
    int before = tp_count_attr(g, RG_OP_LINEAR, "activation", "gelu_tanh");
    cr_assert_eq(before, 2);
    cr_assert_eq(approximate(g), 0);
    cr_assert_eq(tp_count_attr(g, RG_OP_LINEAR, "activation", "gelu_tanh"), before);
    rg_graph_free(g);
}
