/*
 * test_fuse_mask.c — fuse_mask on the exported BERTs: a sequence whose
 * every key is masked gives what the exported graph gives (zeros for the
 * classic exporter's -inf mask behind the NaN guard, a flat softmax for the
 * dynamo exporter's float32-lowest mask), and masks that only half match
 * (a small negative fill, the (b, j) pair swapped) stay additive.
 */
#include "frontend/onnx.h"
#include "helpers.h"

static rg_graph *import_exported(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/exported/%s.onnx", RG_TEST_SOURCE_DIR, name);
    rg_graph *g = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_onnx_import_file(path, NULL, &g, &err), RG_OK, "%s: %s", path, err.message);
    cr_assert_eq(rg_infer_shapes(g, &err), RG_OK, "%s", err.message);
    return g;
}

/* 3 x 12: sequence 0 full, 1 padded after 4 tokens, 2 masked out entirely. */
static void inputs(const rg_graph *g, rg_tensor *in) {
    for (uint32_t i = 0; i < g->ninputs; i++) {
        int64_t dims[2] = {3, 12};
        cr_assert_eq(rg_tensor_set_shape(&in[i], RG_DTYPE_I64, 2, dims, NULL), RG_OK);
        int64_t *p = malloc(in[i].nbytes);
        for (int64_t k = 0; k < 36; k++) {
            int64_t b = k / 12, s = k % 12;
            p[k] = strstr(g->inputs[i]->name, "mask") ? (b == 0 || (b == 1 && s < 4)) : (k * 37) % 500;
        }
        in[i].data = p;
    }
}

static int mask_kinds(const rg_graph *g, const char *kind) {
    int c = 0;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const rg_attr *a = rg_node_attr(g->nodes[i], "mask_kind");
        c += g->nodes[i]->op == RG_OP_ATTENTION && a && !strcmp(a->s, kind);
    }
    return c;
}

/* Runs the pipeline on a copy-by-reimport of `ref` after `mutate`, compares
 * the outputs with the (mutated) imported graph, returns the optimised one. */
static rg_graph *optimise_and_compare(const char *name, void (*mutate)(rg_graph *)) {
    rg_graph *ref = import_exported(name), *g = import_exported(name);
    if (mutate) mutate(ref), mutate(g);
    rg_error err = {0};
    rg_pass_options opt = {.verify = true, .eval = &tp_evaluator};
    cr_assert_eq(rg_pass_run(g, &opt, NULL, &err), RG_OK, "%s", err.message);
    rg_tensor in[2];
    inputs(ref, in);
    tp_outputs want, got;
    cr_assert_eq(tp_run(ref, in, ref->ninputs, &want, &err), RG_OK, "%s", err.message);
    cr_assert_eq(tp_run(g, in, g->ninputs, &got, &err), RG_OK, "%s", err.message);
    double rel = tp_max_rel(&got, &want);
    cr_assert(rel <= 1e-5, "%s: max relative error %g", name, rel);
    tp_outputs_free(&want), tp_outputs_free(&got);
    for (uint32_t i = 0; i < ref->ninputs; i++) free(in[i].data);
    rg_graph_free(ref);
    return g;
}

Test(fuse_mask, empty_rows_zeros_classic) {
    rg_graph *g = optimise_and_compare("bert_L2_classic_o17", NULL);
    cr_assert_eq(mask_kinds(g, "key_padding"), 2);
    rg_graph_free(g);
}

Test(fuse_mask, empty_rows_uniform_dynamo) {
    rg_graph *g = optimise_and_compare("bert_L2_dynamo_o18", NULL);
    cr_assert_eq(mask_kinds(g, "key_padding"), 2);
    rg_graph_free(g);
}

/* The float32-lowest fill becomes -100: masked keys still get a little
 * weight, which key_padding would drop. */
static void small_fill(rg_graph *g) {
    for (uint32_t i = 0; i < g->nnodes; i++) {
        rg_node *n = g->nodes[i];
        rg_tensor *t = n->op == RG_OP_WHERE && n->inputs[2] ? n->inputs[2]->constant : NULL;
        if (t && t->dtype == RG_DTYPE_F32 && rg_tensor_numel(t) == 1 && ((float *)t->data)[0] < -1e30f)
            ((float *)t->data)[0] = -100.0f;
    }
}

Test(fuse_mask, small_fill_stays_additive) {
    rg_graph *g = optimise_and_compare("bert_L2_dynamo_o18", small_fill);
    cr_assert_eq(mask_kinds(g, "key_padding"), 0);
    cr_assert_eq(mask_kinds(g, "additive"), 2);
    rg_graph_free(g);
}

/* The GatherND pair becomes (j, b): the mask of another form (and out of
 * range unless B == S, so only the structure is checked). */
static void swapped_pair(rg_graph *g) {
    for (uint32_t i = 0; i < g->nnodes; i++) {
        rg_node *n = g->nodes[i];
        rg_node *cat = n->op == RG_OP_GATHER_ND && n->inputs[1] ? n->inputs[1]->producer : NULL;
        if (!cat || cat->op != RG_OP_CONCAT || cat->ninputs != 2) continue;
        rg_value *a = cat->inputs[0], *b = cat->inputs[1];
        rg_error err = {0};
        cr_assert_eq(rg_rewrite_set_input(g, cat, 0, b, &err), RG_OK);
        cr_assert_eq(rg_rewrite_set_input(g, cat, 1, a, &err), RG_OK);
    }
}

Test(fuse_mask, swapped_pair_stays_additive) {
    rg_graph *g = import_exported("bert_L2_dynamo_o18");
    swapped_pair(g);
    rg_error err = {0};
    cr_assert_eq(rg_infer_shapes(g, &err), RG_OK, "%s", err.message);
    rg_pass_options opt = {.verify = true, .eval = &tp_evaluator};
    cr_assert_eq(rg_pass_run(g, &opt, NULL, &err), RG_OK, "%s", err.message);
    cr_assert_eq(mask_kinds(g, "key_padding"), 0);
    cr_assert_eq(mask_kinds(g, "additive"), 2);
    rg_graph_free(g);
}
