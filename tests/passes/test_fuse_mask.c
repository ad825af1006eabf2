/*
 * test_fuse_mask.c — fuse_mask on the exported BERTs: a sequence whose
 * every key is masked gives what the exported graph gives (zeros for the
 * classic exporter's -inf mask behind the NaN guard, a flat softmax for the
 * dynamo exporter's float32-lowest mask), and masks that only half match
 * (a small negative fill, the (b, j) pair swapped) stay additive.
 */
#include <float.h>

#include "frontend/onnx.h"
#include "helpers.h"

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
    rg_graph *ref = tp_import_exported(name), *g = tp_import_exported(name);
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
    rg_graph *g = tp_import_exported("bert_L2_dynamo_o18");
    swapped_pair(g);
    rg_error err = {0};
    cr_assert_eq(rg_infer_shapes(g, &err), RG_OK, "%s", err.message);
    rg_pass_options opt = {.verify = true, .eval = &tp_evaluator};
    cr_assert_eq(rg_pass_run(g, &opt, NULL, &err), RG_OK, "%s", err.message);
    cr_assert_eq(mask_kinds(g, "key_padding"), 0);
    cr_assert_eq(mask_kinds(g, "additive"), 2);
    rg_graph_free(g);
}

/* ------------------------------------------------ the older additive form */

/* get_extended_attention_mask as transformers < 4.4x exported it:
 * Attention(qkv, (1 - Cast<float>(Unsqueeze(Unsqueeze(mask, 1), 2))) * fill),
 * B and S symbolic, 2 heads of 4. */
enum { OLD_H = 2, OLD_D = 4, OLD_B = 3, OLD_S = 6 };

static rg_value *old_scalar(rg_graph *g, const char *name, float value) {
    return tp_const(g, name, RG_DTYPE_F32, 0, NULL, &value);
}

static rg_graph *old_form(float fill) {
    rg_graph *g = NULL;
    cr_assert_eq(rg_graph_new(NULL, &g, NULL), RG_OK);
    g->opset = 17;
    rg_dim bs[3] = {rg_dim_symbol(rg_graph_symbol(g, "B")), rg_dim_symbol(rg_graph_symbol(g, "S")),
                    rg_dim_const(3 * OLD_H * OLD_D)};
    rg_value *qkv = tp_input(g, "qkv", RG_DTYPE_F32, 3, bs);
    rg_value *mask = tp_input(g, "attention_mask", RG_DTYPE_I64, 2, bs);
    int64_t one = 1, two = 2;
    rg_value *u1, *u2, *f, *inv, *add, *y;
    tp_node(g, RG_OP_UNSQUEEZE, "u1", 2, (rg_value *[]){mask, tp_const_i64(g, "ax1", 1, &one)}, &u1);
    tp_node(g, RG_OP_UNSQUEEZE, "u2", 2, (rg_value *[]){u1, tp_const_i64(g, "ax2", 1, &two)}, &u2);
    tp_attr_int(g, tp_node(g, RG_OP_CAST, "f", 1, &u2, &f), "to", 1);
    tp_node(g, RG_OP_SUB, "inv", 2, (rg_value *[]){old_scalar(g, "one", 1.0f), f}, &inv);
    tp_node(g, RG_OP_MUL, "add", 2, (rg_value *[]){inv, old_scalar(g, "fill", fill)}, &add);
    rg_node *att = tp_node(g, RG_OP_ATTENTION, "y", 2, (rg_value *[]){qkv, add}, &y);
    rg_attr *a = rg_arena_array(&g->arena, 3, sizeof *a);
    a[0] = (rg_attr){.name = "num_heads", .kind = RG_ATTR_INT, .i = OLD_H};
    a[1] = (rg_attr){.name = "head_size", .kind = RG_ATTR_INT, .i = OLD_D};
    a[2] = (rg_attr){.name = "mask_kind", .kind = RG_ATTR_STRING, .s = "additive", .s_len = 8};
    rg_node_set_attrs(att, 3, a);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    rg_error err = {0};
    cr_assert_eq(rg_infer_shapes(g, &err), RG_OK, "%s", err.message);
    return g;
}

/* Runs fuse_mask alone on a copy built the same way; outputs of both for
 * sequence 0 full, 1 padded after 2 tokens, 2 masked out entirely; returns
 * the rewritten graph. */
static rg_graph *old_form_compare(float fill) {
    rg_graph *ref = old_form(fill), *g = old_form(fill);
    rg_error err = {0};
    rg_pass_stats stats = {0};
    rg_pass_options opt = {.verify = true};
    rg_pass_ctx cx = {.g = g, .opt = &opt, .stats = &stats, .err = &err};
    cr_assert_eq(rg_pass_fuse_mask(&cx), RG_OK, "%s", err.message);
    tp_verify(g);
    static float qkv[OLD_B * OLD_S * 3 * OLD_H * OLD_D];
    static int64_t mask[OLD_B * OLD_S];
    for (size_t k = 0; k < sizeof qkv / sizeof *qkv; k++) qkv[k] = (float)((k * 7919) % 97) / 24.0f - 2.0f;
    for (int k = 0; k < OLD_B * OLD_S; k++) mask[k] = k / OLD_S == 0 || (k / OLD_S == 1 && k % OLD_S < 2);
    rg_tensor in[2] = {0};
    int64_t d3[3] = {OLD_B, OLD_S, 3 * OLD_H * OLD_D}, d2[2] = {OLD_B, OLD_S};
    cr_assert_eq(rg_tensor_set_shape(&in[0], RG_DTYPE_F32, 3, d3, NULL), RG_OK);
    cr_assert_eq(rg_tensor_set_shape(&in[1], RG_DTYPE_I64, 2, d2, NULL), RG_OK);
    in[0].data = qkv, in[1].data = mask;
    tp_outputs want, got;
    cr_assert_eq(tp_run(ref, in, 2, &want, &err), RG_OK, "%s", err.message);
    cr_assert_eq(tp_run(g, in, 2, &got, &err), RG_OK, "%s", err.message);
    double rel = tp_max_rel(&got, &want);
    cr_assert(rel <= 1e-5, "fill %g: max relative error %g", fill, rel);
    /* the fully masked sequence: the mean of V (what the additive mask of
     * float32's lowest gives the unfused graph too, checked just above) */
    const float *y = want.t[0].data;
    for (int i = 0; i < OLD_S && fill < -1e30f; i++)
        for (int c = 0; c < OLD_H * OLD_D; c++) {
            double mean = 0;
            for (int j = 0; j < OLD_S; j++) mean += qkv[((2 * OLD_S) + j) * 3 * OLD_H * OLD_D + 2 * OLD_H * OLD_D + c];
            mean /= OLD_S;
            cr_assert_float_eq(y[((2 * OLD_S) + i) * OLD_H * OLD_D + c], mean, 1e-5);
        }
    tp_outputs_free(&want), tp_outputs_free(&got);
    rg_graph_free(ref);
    return g;
}

static const char *attention_attr(const rg_graph *g, const char *name) {
    for (uint32_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i]->op == RG_OP_ATTENTION) {
            const rg_attr *a = rg_node_attr(g->nodes[i], name);
            return a && a->kind == RG_ATTR_STRING ? a->s : "";
        }
    return "";
}

Test(fuse_mask, older_additive_form_lowest_fill) {
    rg_graph *g = old_form_compare(-FLT_MAX);
    cr_assert_eq(mask_kinds(g, "key_padding"), 1);
    cr_assert_str_eq(attention_attr(g, "empty_rows"), "uniform");
    cr_assert_eq(g->nnodes, 1, "the mask arithmetic is dead: %u nodes left", g->nnodes);
    rg_graph_free(g);
}

/* -1e30 rounds every score to the fill as well; -100, -10000 do not (the
 * masked keys keep a weight, or an all-masked row keeps its scores'
 * softmax), and neither does -inf ((1 - 1) * -inf is NaN everywhere). */
Test(fuse_mask, older_additive_form_fills) {
    rg_graph *g = old_form_compare(-1e30f);
    cr_assert_eq(mask_kinds(g, "key_padding"), 1);
    rg_graph_free(g);
    const float keep[] = {-100.0f, -10000.0f};
    for (size_t i = 0; i < 2; i++) {
        g = old_form_compare(keep[i]);
        cr_assert_eq(mask_kinds(g, "additive"), 1, "fill %g", keep[i]);
        rg_graph_free(g);
    }
    g = old_form(-INFINITY);
    rg_error err = {0};
    rg_pass_stats stats = {0};
    rg_pass_options opt = {.verify = true};
    rg_pass_ctx cx = {.g = g, .opt = &opt, .stats = &stats, .err = &err};
    cr_assert_eq(rg_pass_fuse_mask(&cx), RG_OK, "%s", err.message);
    cr_assert_eq(mask_kinds(g, "additive"), 1);
    rg_graph_free(g);
}

/* The real paraphrase-MiniLM-L3-v2 (models/fetch.sh) builds its mask this
 * way: every Attention reads the [B, S] mask after the whole pipeline, and
 * the CPU outputs equal the imported graph's. */
static void minilm_case(const rg_graph *ref, const rg_graph *g, int64_t batch, int64_t seq, int64_t valid_last) {
    rg_tensor in[4] = {0};
    int64_t *bufs[4] = {0};
    cr_assert(ref->ninputs <= 4);
    for (uint32_t i = 0; i < ref->ninputs; i++) {
        int64_t dims[2] = {batch, seq};
        cr_assert_eq(rg_tensor_set_shape(&in[i], RG_DTYPE_I64, 2, dims, NULL), RG_OK);
        bufs[i] = malloc(in[i].nbytes);
        for (int64_t k = 0; k < batch * seq; k++) {
            int64_t b = k / seq, s = k % seq;
            const char *name = ref->inputs[i]->name;
            bufs[i][k] = strstr(name, "mask") ? (b < batch - 1 || s < valid_last)
                         : strstr(name, "type") ? 0
                                                 : 101 + (k * 7919) % 20000;
        }
        in[i].data = bufs[i];
    }
    tp_outputs want, got;
    rg_error err = {0};
    cr_assert_eq(tp_run(ref, in, ref->ninputs, &want, &err), RG_OK, "%s", err.message);
    cr_assert_eq(tp_run(g, in, g->ninputs, &got, &err), RG_OK, "%s", err.message);
    double rel = tp_max_rel(&got, &want);
    cr_assert(rel <= 1e-5, "%lldx%lld, %lld valid in the last: max relative error %g", (long long)batch,
              (long long)seq, (long long)valid_last, rel);
    tp_outputs_free(&want), tp_outputs_free(&got);
    for (int i = 0; i < 4; i++) free(bufs[i]);
}

Test(fuse_mask, minilm_older_additive_form) {
    char path[4096];
    snprintf(path, sizeof path, "%s/models/cache/paraphrase-MiniLM-L3-v2/model.onnx", RG_TEST_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    if (!f) cr_skip("%s is not there (models/fetch.sh fetches it)", path);
    fclose(f);
    rg_graph *ref = NULL, *g = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_onnx_import_file(path, NULL, &ref, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_infer_shapes(ref, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_onnx_import_file(path, NULL, &g, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_infer_shapes(g, &err), RG_OK, "%s", err.message);
    rg_pass_options opt = {.verify = true, .eval = &tp_evaluator};
    cr_assert_eq(rg_pass_run(g, &opt, NULL, &err), RG_OK, "%s", err.message);
    cr_assert_eq(mask_kinds(g, "key_padding"), 3);
    cr_assert_eq(mask_kinds(g, "additive"), 0);
    cr_assert_str_eq(attention_attr(g, "empty_rows"), "uniform");
    minilm_case(ref, g, 2, 16, 11); /* padded */
    minilm_case(ref, g, 2, 16, 0);  /* the last sequence fully masked */
    minilm_case(ref, g, 1, 64, 64);
    rg_graph_free(ref), rg_graph_free(g);
}
