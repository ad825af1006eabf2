/*
 * test_fuse_reduce.c — elementwise-into-reduction fusion: hand-built graphs
 * that must fuse (softmax with scale and additive mask, add+bias+relu) and
 * graphs that must be left alone (a reduction over another axis, a
 * broadcast that is not per row), each run on the CPU before and after; the
 * program validator; and MiniLM through cleanup, fold and this pass alone.
 */
#include <unistd.h>

#include "frontend/onnx.h"
#include "helpers.h"
#include "ir/fused.h"
#include "ir/serialize.h"

static rg_graph *fr_graph(void) {
    rg_graph *g = NULL;
    cr_assert_eq(rg_graph_new(NULL, &g, NULL), RG_OK);
    g->opset = 17;
    return g;
}

static void fr_fill(rg_tensor *t, float *buf, int rank, const int64_t *dims, unsigned seed) {
    cr_assert_eq(rg_tensor_set_shape(t, RG_DTYPE_F32, rank, dims, NULL), RG_OK);
    size_t n = rg_tensor_numel(t);
    for (size_t i = 0; i < n; i++) buf[i] = (float)(((i + seed) * 37) % 101) / 17.0f - 2.5f;
    t->data = buf;
}

static const rg_pass *fr_passes(size_t *n) {
    static const rg_pass only = {"fuse_reduce", "", rg_pass_fuse_reduce};
    *n = 1;
    return &only;
}

/* Runs fuse_reduce alone, compares the outputs on the CPU. */
static void fr_run(rg_graph *g, const rg_tensor *in, size_t nin) {
    rg_error err = {0};
    cr_assert_eq(rg_infer_shapes(g, &err), RG_OK, "%s", err.message);
    tp_outputs before, after;
    cr_assert_eq(tp_run(g, in, nin, &before, &err), RG_OK, "before: %s", err.message);
    size_t n;
    const rg_pass *pass = fr_passes(&n);
    rg_pass_options opt = {.verify = true};
    cr_assert_eq(rg_pass_run_list(g, &pass, 1, &opt, NULL, &err), RG_OK, "%s", err.message);
    tp_verify(g);
    cr_assert_eq(tp_run(g, in, nin, &after, &err), RG_OK, "after: %s", err.message);
    double rel = tp_max_rel(&after, &before);
    cr_assert(rel <= 1e-5, "outputs differ after fuse_reduce: %g", rel);
    tp_outputs_free(&before);
    tp_outputs_free(&after);
}

static rg_dim d(int64_t v) { return rg_dim_const(v); }

Test(fuse_reduce, softmax_with_scale_and_mask) {
    rg_graph *g = fr_graph();
    rg_dim sd[4] = {d(2), d(3), d(5), d(5)}, md[4] = {d(2), d(1), d(1), d(5)};
    rg_value *x = tp_input(g, "scores", RG_DTYPE_F32, 4, sd);
    rg_value *mask = tp_input(g, "mask", RG_DTYPE_F32, 4, md);
    float scale = 0.125f;
    rg_value *c = tp_const(g, "scale", RG_DTYPE_F32, 0, NULL, &scale);
    rg_value *a, *b, *y;
    tp_node(g, RG_OP_MUL, "scaled", 2, (rg_value *[]){x, c}, &a);
    tp_node(g, RG_OP_ADD, "masked", 2, (rg_value *[]){a, mask}, &b);
    tp_node(g, RG_OP_SOFTMAX, "probs", 1, (rg_value *[]){b}, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    float xs[150], ms[10];
    rg_tensor in[2];
    int64_t xd[4] = {2, 3, 5, 5}, mdd[4] = {2, 1, 1, 5};
    fr_fill(&in[0], xs, 4, xd, 0);
    fr_fill(&in[1], ms, 4, mdd, 3);
    ms[4] = -10000.0f;
    fr_run(g, in, 2);
    cr_assert_eq(g->nnodes, 1);
    cr_assert_eq(tp_count(g, RG_OP_FUSED), 1);
    cr_assert_eq(g->nodes[0]->ninputs, 2, "the scale must be an immediate");
    cr_assert_eq(g->outputs[0]->name[0], 'p', "the graph output keeps its name");
    rg_graph_free(g);
}

Test(fuse_reduce, add_bias_relu_chain) {
    rg_graph *g = fr_graph();
    rg_dim xd[3] = {d(2), d(4), d(8)}, bd[1] = {d(8)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 3, xd);
    rg_value *r = tp_input(g, "r", RG_DTYPE_F32, 3, xd);
    float bias[8] = {1, -1, 2, -2, 0.5f, -0.5f, 0, 3};
    int64_t bdim = 8;
    (void)bd;
    rg_value *bv = tp_const(g, "bias", RG_DTYPE_F32, 1, &bdim, bias);
    rg_value *a, *b, *y;
    tp_node(g, RG_OP_ADD, "sum", 2, (rg_value *[]){x, r}, &a);
    tp_node(g, RG_OP_ADD, "biased", 2, (rg_value *[]){a, bv}, &b);
    tp_node(g, RG_OP_RELU, "y", 1, (rg_value *[]){b}, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_output(g, a, NULL), RG_OK); /* an intermediate read outside */
    float xs[64], rs[64];
    rg_tensor in[2];
    int64_t dims[3] = {2, 4, 8};
    fr_fill(&in[0], xs, 3, dims, 0);
    fr_fill(&in[1], rs, 3, dims, 5);
    fr_run(g, in, 2);
    cr_assert_eq(g->nnodes, 1);
    cr_assert_eq(g->nodes[0]->op, RG_OP_FUSED);
    cr_assert_eq(g->nodes[0]->noutputs, 2);
    rg_graph_free(g);
}

Test(fuse_reduce, layernorm_and_row_mean) {
    rg_graph *g = fr_graph();
    rg_dim xd[2] = {d(3), d(16)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 2, xd);
    float scale[16], bias[16];
    for (int i = 0; i < 16; i++) scale[i] = 1.0f + 0.1f * (float)i, bias[i] = 0.05f * (float)i;
    int64_t n = 16;
    rg_value *s = tp_const(g, "s", RG_DTYPE_F32, 1, &n, scale), *b = tp_const(g, "b", RG_DTYPE_F32, 1, &n, bias);
    rg_value *y, *m;
    tp_node(g, RG_OP_LAYER_NORMALIZATION, "y", 3, (rg_value *[]){x, s, b}, &y);
    int64_t axes = -1;
    rg_value *ax = tp_const_i64(g, "axes", 1, &axes);
    rg_node *rm = tp_node(g, RG_OP_REDUCE_SUM, "m", 2, (rg_value *[]){y, ax}, &m);
    rm->opset = 17;
    cr_assert_eq(rg_graph_add_output(g, m, NULL), RG_OK);
    float xs[48];
    rg_tensor in[1];
    int64_t dims[2] = {3, 16};
    fr_fill(&in[0], xs, 2, dims, 1);
    fr_run(g, in, 1);
    cr_assert_eq(g->nnodes, 1);
    cr_assert_eq(g->nodes[0]->op, RG_OP_FUSED);
    rg_graph_free(g);
}

/* The program is plain attributes: it survives the plan's graph encoding
 * and computes the same after decoding. */
Test(fuse_reduce, program_survives_plan_encoding) {
    rg_graph *g = fr_graph();
    rg_dim xd[2] = {d(5), d(16)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 2, xd);
    float scale[16];
    for (int i = 0; i < 16; i++) scale[i] = 0.5f + 0.25f * (float)i;
    int64_t n = 16;
    rg_value *s = tp_const(g, "s", RG_DTYPE_F32, 1, &n, scale);
    rg_value *y, *z;
    tp_node(g, RG_OP_LAYER_NORMALIZATION, "y", 2, (rg_value *[]){x, s}, &y);
    tp_node(g, RG_OP_SOFTMAX, "z", 1, (rg_value *[]){y}, &z);
    cr_assert_eq(rg_graph_add_output(g, z, NULL), RG_OK);
    float xs[80];
    rg_tensor in[1];
    int64_t dims[2] = {5, 16};
    fr_fill(&in[0], xs, 2, dims, 4);
    fr_run(g, in, 1);
    cr_assert_eq(g->nnodes, 1);
    rg_error err = {0};
    rg_ir_encoded_graph enc;
    cr_assert_eq(rg_ir_encode_graph(g, NULL, &enc, &err), RG_OK, "%s", err.message);
    uint8_t *consts = calloc(1, enc.constants_size ? enc.constants_size : 1);
    for (size_t i = 0; i < enc.nconstants; i++)
        memcpy(consts + enc.constants[i].offset, enc.constants[i].data, enc.constants[i].size);
    rg_ir_graph_sections sec = {enc.strings.data, enc.strings.size, enc.graph.data, enc.graph.size,
                                enc.io.data, enc.io.size, consts, enc.constants_size, false};
    rg_graph *back = NULL;
    cr_assert_eq(rg_ir_decode_graph(&sec, NULL, "test", &back, &err), RG_OK, "%s", err.message);
    cr_assert_eq(back->nnodes, 1);
    cr_assert_eq(back->nodes[0]->op, RG_OP_FUSED);
    rg_fused_program a, b;
    cr_assert_eq(rg_fused_decode(g->nodes[0], &a, &err), RG_OK);
    cr_assert_eq(rg_fused_decode(back->nodes[0], &b, &err), RG_OK, "%s", err.message);
    cr_assert_eq(a.ninstr, b.ninstr);
    cr_assert_eq(memcmp(a.code, b.code, sizeof *a.code * 4 * a.ninstr), 0);
    cr_assert_eq(a.nconstants, b.nconstants);
    tp_outputs o1, o2;
    cr_assert_eq(tp_run(g, in, 1, &o1, &err), RG_OK, "%s", err.message);
    cr_assert_eq(tp_run(back, in, 1, &o2, &err), RG_OK, "%s", err.message);
    cr_assert_eq(tp_max_rel(&o1, &o2), 0.0);
    tp_outputs_free(&o1);
    tp_outputs_free(&o2);
    free(consts);
    rg_ir_encoded_graph_deinit(&enc);
    rg_graph_free(back);
    rg_graph_free(g);
}

/* f16 in, f16 out, f32 inside: close to the f32 graph's result. */
Test(fuse_reduce, half_precision_softmax) {
    rg_graph *g = fr_graph();
    rg_dim xd[2] = {d(3), d(8)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F16, 2, xd);
    rg_value *y;
    tp_node(g, RG_OP_SOFTMAX, "y", 1, (rg_value *[]){x}, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    uint16_t xs[24];
    for (int i = 0; i < 24; i++) xs[i] = rg_f32_to_f16((float)(i % 7) * 0.5f - 1.0f);
    rg_tensor in[1];
    int64_t dims[2] = {3, 8};
    cr_assert_eq(rg_tensor_set_shape(&in[0], RG_DTYPE_F16, 2, dims, NULL), RG_OK);
    in[0].data = xs;
    rg_error err = {0};
    cr_assert_eq(rg_infer_shapes(g, &err), RG_OK, "%s", err.message);
    tp_outputs before, after;
    cr_assert_eq(tp_run(g, in, 1, &before, &err), RG_OK, "%s", err.message);
    const rg_pass *pass = &(rg_pass){"fuse_reduce", "", rg_pass_fuse_reduce};
    cr_assert_eq(rg_pass_run_list(g, &pass, 1, NULL, NULL, &err), RG_OK, "%s", err.message);
    cr_assert_eq(tp_count(g, RG_OP_FUSED), 1);
    cr_assert_eq(tp_run(g, in, 1, &after, &err), RG_OK, "%s", err.message);
    cr_assert_eq(after.t[0].dtype, RG_DTYPE_F16);
    double rel = tp_max_rel(&after, &before);
    cr_assert(rel <= 1e-3, "f16 softmax differs by %g", rel); /* one f16 rounding apart at most */
    tp_outputs_free(&before);
    tp_outputs_free(&after);
    rg_graph_free(g);
}

Test(fuse_reduce, reduction_over_other_axis_left_alone) {
    rg_graph *g = fr_graph();
    rg_dim xd[2] = {d(4), d(6)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 2, xd);
    int64_t axes = 0;
    rg_value *ax = tp_const_i64(g, "axes", 1, &axes);
    rg_value *m;
    tp_node(g, RG_OP_REDUCE_SUM, "m", 2, (rg_value *[]){x, ax}, &m);
    cr_assert_eq(rg_graph_add_output(g, m, NULL), RG_OK);
    float xs[24];
    rg_tensor in[1];
    int64_t dims[2] = {4, 6};
    fr_fill(&in[0], xs, 2, dims, 2);
    fr_run(g, in, 1);
    cr_assert_eq(tp_count(g, RG_OP_REDUCE_SUM), 1);
    cr_assert_eq(tp_count(g, RG_OP_FUSED), 0);
    rg_graph_free(g);
}

/* Softmax over x[4,6], then + c[3,1,6] -> [3,4,6]: the Add's rows are not
 * the Softmax's rows, so the two must not share a program (the Softmax's
 * output is stored and the Add reads it as a broadcast input). */
Test(fuse_reduce, broadcast_not_per_row_left_alone) {
    rg_graph *g = fr_graph();
    rg_dim xd[2] = {d(4), d(6)}, cd[3] = {d(3), d(1), d(6)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 2, xd);
    rg_value *c = tp_input(g, "c", RG_DTYPE_F32, 3, cd);
    rg_value *sm, *a;
    tp_node(g, RG_OP_SOFTMAX, "sm", 1, (rg_value *[]){x}, &sm);
    /* [4,6] + [3,1,6] -> [3,4,6]: the Softmax's rows are not this Add's rows */
    tp_node(g, RG_OP_ADD, "a", 2, (rg_value *[]){sm, c}, &a);
    cr_assert_eq(rg_graph_add_output(g, a, NULL), RG_OK);
    float xs[24], cs[18];
    rg_tensor in[2];
    int64_t dx[2] = {4, 6}, dc[3] = {3, 1, 6};
    fr_fill(&in[0], xs, 2, dx, 0);
    fr_fill(&in[1], cs, 3, dc, 7);
    fr_run(g, in, 2);
    cr_assert_eq(tp_count(g, RG_OP_FUSED), 2, "the Softmax and the Add stay in separate programs");
    rg_graph_free(g);
}

/* A [1, 1, 1] scalar raises the rank: as an immediate it would not, so the
 * group is left alone rather than given a shape its inputs do not span. */
Test(fuse_reduce, rank_raising_scalar_left_alone) {
    rg_graph *g = fr_graph();
    rg_dim xd[2] = {d(3), d(4)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 2, xd);
    float two = 2.0f;
    int64_t ones[3] = {1, 1, 1};
    rg_value *c = tp_const(g, "two", RG_DTYPE_F32, 3, ones, &two);
    rg_value *y;
    tp_node(g, RG_OP_MUL, "y", 2, (rg_value *[]){x, c}, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    float xs[12];
    rg_tensor in[1];
    int64_t dims[2] = {3, 4};
    fr_fill(&in[0], xs, 2, dims, 0);
    fr_run(g, in, 1);
    cr_assert_eq(tp_count(g, RG_OP_MUL), 1);
    cr_assert_eq(g->outputs[0]->rank, 3);
    rg_graph_free(g);
}

Test(fuse_reduce, unknown_dims_left_alone) {
    rg_graph *g = fr_graph();
    rg_dim xd[2] = {rg_dim_unknown(), rg_dim_unknown()};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 2, xd);
    rg_value *y;
    tp_node(g, RG_OP_SOFTMAX, "y", 1, (rg_value *[]){x}, &y);
    cr_assert_eq(rg_graph_add_output(g, y, NULL), RG_OK);
    float xs[12];
    rg_tensor in[1];
    int64_t dims[2] = {3, 4};
    fr_fill(&in[0], xs, 2, dims, 0);
    fr_run(g, in, 1);
    cr_assert_eq(tp_count(g, RG_OP_SOFTMAX), 1);
    rg_graph_free(g);
}

/* Hand-written programs the validator must refuse. */
static rg_status fr_decode(const int64_t *code, size_t n) {
    rg_graph *g = fr_graph();
    rg_dim xd[1] = {d(4)};
    rg_value *x = tp_input(g, "x", RG_DTYPE_F32, 1, xd);
    rg_value *y = tp_value(g, "y", RG_DTYPE_UNDEFINED, -1, NULL);
    rg_node *node;
    cr_assert_eq(rg_graph_add_node(g, RG_OP_FUSED, "f", 17, 1, &x, 1, &y, &node, NULL), RG_OK);
    rg_attr *attrs = rg_arena_array(&g->arena, 2, sizeof *attrs);
    int64_t *copy = rg_arena_array(&g->arena, n, sizeof *copy);
    memcpy(copy, code, n * sizeof *copy);
    attrs[0] = (rg_attr){.name = "fused_version", .kind = RG_ATTR_INT, .i = RG_FUSED_VERSION};
    attrs[1] = (rg_attr){.name = "program", .kind = RG_ATTR_INTS, .count = n, .ints = copy};
    rg_node_set_attrs(node, 2, attrs);
    rg_fused_program p;
    rg_error err = {0};
    rg_status st = rg_fused_decode(node, &p, &err);
    if (st == RG_OK) cr_assert_eq(rg_infer_node(g, node, &err), RG_OK, "%s", err.message);
    rg_graph_free(g);
    return st;
}

Test(fuse_reduce, validator) {
    int64_t ok[] = {RG_FUSED_LOAD, 0, 0, 0, RG_FUSED_RSUM, 0, 0, 0, RG_FUSED_STORE, 0, 1, 1};
    cr_assert_eq(fr_decode(ok, 12), RG_OK);
    int64_t bad_input[] = {RG_FUSED_LOAD, 1, 0, 0, RG_FUSED_STORE, 0, 0, 0};
    cr_assert_eq(fr_decode(bad_input, 8), RG_ERR_INVALID_MODEL);
    int64_t forward_ref[] = {RG_FUSED_EXP, 1, 0, 0, RG_FUSED_LOAD, 0, 0, 0, RG_FUSED_STORE, 0, 0, 0};
    cr_assert_eq(fr_decode(forward_ref, 12), RG_ERR_INVALID_MODEL);
    int64_t reduce_scalar[] = {RG_FUSED_LOAD, 0, 1, 0, RG_FUSED_RSUM, 0, 0, 0, RG_FUSED_STORE, 0, 1, 0};
    cr_assert_eq(fr_decode(reduce_scalar, 12), RG_ERR_INVALID_MODEL);
    int64_t never_stored[] = {RG_FUSED_LOAD, 0, 0, 0};
    cr_assert_eq(fr_decode(never_stored, 4), RG_ERR_INVALID_MODEL);
    int64_t bad_op[] = {RG_FUSED_LOAD, 0, 0, 0, 999, 0, 0, 0, RG_FUSED_STORE, 0, 0, 0};
    cr_assert_eq(fr_decode(bad_op, 12), RG_ERR_INVALID_MODEL);
    int64_t odd[] = {RG_FUSED_LOAD, 0, 0};
    cr_assert_eq(fr_decode(odd, 3), RG_ERR_INVALID_MODEL);
    int64_t row_as_scalar[] = {RG_FUSED_LOAD, 0, 0, 0, RG_FUSED_STORE, 0, 0, 1};
    cr_assert_eq(fr_decode(row_as_scalar, 8), RG_ERR_INVALID_MODEL);
}

/* MiniLM through cleanup, fold and fuse_reduce (no pattern passes): the
 * decomposed and fused forms must agree with the unoptimised graph. */
static void fr_minilm_inputs(const rg_graph *g, int64_t batch, int64_t seq, rg_tensor *in, int64_t **bufs) {
    uint64_t state = 99;
    for (uint32_t i = 0; i < g->ninputs; i++) {
        int64_t dims[2] = {batch, seq};
        cr_assert_eq(rg_tensor_set_shape(&in[i], RG_DTYPE_I64, 2, dims, NULL), RG_OK);
        int64_t *p = malloc(in[i].nbytes);
        for (int64_t k = 0; k < batch * seq; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            const char *name = g->inputs[i]->name;
            p[k] = strstr(name, "mask") ? (k % seq < seq - 3 || k < seq ? 1 : 0)
                   : strstr(name, "type") ? 0
                                          : (int64_t)((state >> 33) % 30000u);
        }
        in[i].data = p;
        bufs[i] = p;
    }
}

Test(fuse_reduce, minilm_without_patterns) {
    char path[4096];
    snprintf(path, sizeof path, "%s/models/cache/paraphrase-MiniLM-L3-v2/model.onnx", RG_TEST_SOURCE_DIR);
    if (access(path, R_OK) != 0) cr_skip_test("%s is missing: run bash models/fetch.sh", path);
    rg_error err = {0};
    rg_graph *ref = NULL, *g = NULL;
    cr_assert_eq(rg_onnx_import_file(path, NULL, &ref, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_infer_shapes(ref, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_onnx_import_file(path, NULL, &g, &err), RG_OK, "%s", err.message);
    const rg_pass *list[3] = {rg_pass_find("cleanup"), rg_pass_find("fold"), rg_pass_find("fuse_reduce")};
    rg_pass_options opt = {.verify = true, .eval = &tp_evaluator};
    rg_pass_report report;
    cr_assert_eq(rg_pass_run_list(g, list, 3, &opt, &report, &err), RG_OK, "%s", err.message);
    tp_verify(g);
    printf("MiniLM-L3 cleanup+fold+fuse_reduce:\n");
    rg_pass_report_print(&report, stdout);
    int64_t shapes[2][2] = {{2, 16}, {1, 64}};
    for (int c = 0; c < 2; c++) {
        rg_tensor in[8];
        int64_t *bufs[8];
        cr_assert_leq(g->ninputs, 8);
        fr_minilm_inputs(ref, shapes[c][0], shapes[c][1], in, bufs);
        tp_outputs a, b;
        cr_assert_eq(tp_run(ref, in, ref->ninputs, &a, &err), RG_OK, "%s", err.message);
        cr_assert_eq(tp_run(g, in, g->ninputs, &b, &err), RG_OK, "%s", err.message);
        double rel = tp_max_rel(&b, &a);
        printf("MiniLM-L3 %lldx%lld after fuse_reduce: max relative error %.3g\n", (long long)shapes[c][0],
               (long long)shapes[c][1], rel);
        cr_assert(rel <= 1e-5, "max relative error %g", rel);
        tp_outputs_free(&a);
        tp_outputs_free(&b);
        for (uint32_t i = 0; i < ref->ninputs; i++) free(bufs[i]);
    }
    cr_assert_eq(report.ops_after[RG_OP_SOFTMAX], 0);
    cr_assert_eq(report.ops_after[RG_OP_ERF], 0);
    cr_assert_gt(report.ops_after[RG_OP_FUSED], 0);
    rg_graph_free(ref);
    rg_graph_free(g);
}
