/*
 * test_fuse_patterns.c — the pattern fusion passes (passes/fuse_patterns.c)
 * on hand-built graphs: each pattern in its exporter variants is fused, and
 * each half match (epsilon outside the square root, another axis, another
 * constant, an extra reader, a mask of another form) is left alone. Every
 * case runs the CPU executor before and after and compares (max relative
 * error 1e-5), so "fused" also means "fused correctly". The internal ops'
 * CPU kernels are checked in f16 and bf16 against float32.
 */
#include <unistd.h>

#include "frontend/onnx.h"
#include "helpers.h"

/* ------------------------------------------------------------ builders */

typedef struct gb {
    rg_graph *g;
    int counter;
    uint64_t seed;
} gb;

static void gb_begin(gb *b) {
    memset(b, 0, sizeof *b);
    b->seed = 0x9e3779b97f4a7c15ull;
    cr_assert_eq(rg_graph_new(NULL, &b->g, NULL), RG_OK);
    b->g->opset = 17;
}

static float gb_rand(gb *b) {
    b->seed = b->seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(b->seed >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static const char *gb_name(gb *b, char *buf, size_t cap) {
    snprintf(buf, cap, "t%d", b->counter++);
    return buf;
}

static rg_node *gb_op(gb *b, rg_op op, uint32_t nin, rg_value *const *ins, rg_value **out) {
    char name[32];
    return tp_node(b->g, op, gb_name(b, name, sizeof name), nin, ins, out);
}

static rg_value *op1(gb *b, rg_op op, rg_value *x) {
    rg_value *y;
    gb_op(b, op, 1, &x, &y);
    return y;
}

static rg_value *op2(gb *b, rg_op op, rg_value *x, rg_value *z) {
    rg_value *y, *ins[2] = {x, z};
    gb_op(b, op, 2, ins, &y);
    return y;
}

static rg_value *scalar(gb *b, float v) {
    char name[32];
    return tp_const(b->g, gb_name(b, name, sizeof name), RG_DTYPE_F32, 0, NULL, &v);
}

/* A float32 constant of random values in [lo-1, lo+1]. */
static rg_value *random_const(gb *b, int rank, const int64_t *dims, float offset) {
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    float *data = malloc(n * sizeof *data);
    for (size_t i = 0; i < n; i++) data[i] = gb_rand(b) * 0.5f + offset;
    char name[32];
    rg_value *v = tp_const(b->g, gb_name(b, name, sizeof name), RG_DTYPE_F32, rank, dims, data);
    free(data);
    return v;
}

static void attr_ints(rg_graph *g, rg_node *n, const char *name, int count, const int64_t *vals) {
    rg_attr *a = rg_arena_array(&g->arena, n->nattrs + 1, sizeof *a);
    if (n->nattrs) memcpy(a, n->attrs, sizeof *a * n->nattrs);
    int64_t *copy = rg_arena_array(&g->arena, (size_t)count, sizeof *copy);
    memcpy(copy, vals, sizeof *copy * (size_t)count);
    a[n->nattrs] = (rg_attr){.name = rg_arena_strdup(&g->arena, name), .kind = RG_ATTR_INTS, .ints = copy,
                             .count = (size_t)count};
    rg_node_set_attrs(n, n->nattrs + 1, a);
}

static void attr_one(rg_graph *g, rg_node *n, rg_attr attr) {
    rg_attr *a = rg_arena_array(&g->arena, n->nattrs + 1, sizeof *a);
    if (n->nattrs) memcpy(a, n->attrs, sizeof *a * n->nattrs);
    attr.name = rg_arena_strdup(&g->arena, attr.name);
    if (attr.kind == RG_ATTR_STRING) attr.s = rg_arena_strdup(&g->arena, attr.s), attr.s_len = strlen(attr.s);
    a[n->nattrs] = attr;
    rg_node_set_attrs(n, n->nattrs + 1, a);
}

static rg_value *reduce_mean(gb *b, rg_value *x, int64_t axis) {
    rg_value *y;
    rg_node *n = gb_op(b, RG_OP_REDUCE_MEAN, 1, &x, &y);
    attr_ints(b->g, n, "axes", 1, &axis);
    return y;
}

static rg_value *transpose(gb *b, rg_value *x, const int64_t *perm) {
    rg_value *y;
    rg_node *n = gb_op(b, RG_OP_TRANSPOSE, 1, &x, &y);
    attr_ints(b->g, n, "perm", 4, perm);
    return y;
}

static rg_value *reshape(gb *b, rg_value *x, int n, const int64_t *shape) {
    char name[32];
    rg_value *s = tp_const_i64(b->g, gb_name(b, name, sizeof name), n, shape);
    return op2(b, RG_OP_RESHAPE, x, s);
}

/* A graph input [B, S, width] (or [B, S] when width is 0). */
static rg_value *input_bs(gb *b, const char *name, int64_t width) {
    rg_dim dims[3] = {rg_dim_symbol(rg_graph_symbol(b->g, "B")), rg_dim_symbol(rg_graph_symbol(b->g, "S")),
                      rg_dim_const(width)};
    return tp_input(b->g, name, RG_DTYPE_F32, width ? 3 : 2, dims);
}

static void output(gb *b, rg_value *v) { cr_assert_eq(rg_graph_add_output(b->g, v, NULL), RG_OK); }

/* Random data for every graph input at batch 2, seq 5. Inputs named
 * "mask" get an additive padding mask of shape [B, 1, 1, S]. */
static void make_inputs(gb *b, rg_tensor *in, float **bufs) {
    for (uint32_t i = 0; i < b->g->ninputs; i++) {
        const rg_value *v = b->g->inputs[i];
        int64_t dims[RG_MAX_RANK];
        for (int d = 0; d < v->rank; d++) {
            int64_t c;
            if (rg_dim_is_const(&v->dims[d], &c)) dims[d] = c;
            else dims[d] = v->dims[d].term[0].sym[0] == rg_graph_symbol(b->g, "B") ? 2 : 5;
        }
        cr_assert_eq(rg_tensor_set_shape(&in[i], v->dtype, v->rank, dims, NULL), RG_OK);
        bufs[i] = malloc(in[i].nbytes);
        size_t n = rg_tensor_numel(&in[i]);
        for (size_t k = 0; k < n; k++)
            bufs[i][k] = strcmp(v->name, "mask") ? gb_rand(b) * 2.0f : (k % 5 >= 3 && k >= 5 ? -10000.0f : 0.0f);
        in[i].data = bufs[i];
    }
}

static tp_outputs run(gb *b) {
    rg_tensor in[8];
    float *bufs[8];
    uint64_t seed = b->seed;
    b->seed = 42;
    make_inputs(b, in, bufs);
    b->seed = seed;
    tp_outputs out;
    rg_error err = {0};
    cr_assert_eq(tp_run(b->g, in, b->g->ninputs, &out, &err), RG_OK, "%s", err.message);
    for (uint32_t i = 0; i < b->g->ninputs; i++) free(bufs[i]);
    return out;
}

/* Runs the graph, the pipeline up to and including the fusion passes (fold
 * included, with the evaluator), the graph again; compares; returns the
 * report for counting. */
static rg_pass_report fuse_and_compare(gb *b) {
    rg_error err = {0};
    cr_assert_eq(rg_infer_shapes(b->g, &err), RG_OK, "%s", err.message);
    tp_outputs before = run(b);
    static const char *names[] = {"cleanup", "fold", "fuse_layernorm", "fuse_gelu", "fuse_linear", "fuse_attention"};
    const rg_pass *list[6];
    for (int i = 0; i < 6; i++) cr_assert(list[i] = rg_pass_find(names[i]), "no pass %s", names[i]);
    rg_pass_options opt = {.verify = true, .eval = &tp_evaluator};
    rg_pass_report report;
    cr_assert_eq(rg_pass_run_list(b->g, list, 6, &opt, &report, &err), RG_OK, "%s", err.message);
    tp_verify(b->g);
    tp_outputs after = run(b);
    double rel = tp_max_rel(&after, &before);
    cr_assert(rel <= 1e-5, "max relative error %g after fusion", rel);
    tp_outputs_free(&before);
    tp_outputs_free(&after);
    return report;
}

static void gb_end(gb *b) { rg_graph_free(b->g); }

/* ----------------------------------------------------------- LayerNorm */

typedef struct ln_variant {
    bool square_by_mul;   /* d*d instead of Pow(d, 2) */
    bool eps_outside;     /* sqrt(var) + eps: not a LayerNorm */
    int64_t axis;         /* of both ReduceMeans */
    bool gamma, beta;
    bool gamma_first;     /* Mul(gamma, y) */
} ln_variant;

static rg_value *decomposed_ln(gb *b, rg_value *x, int64_t width, ln_variant v) {
    rg_value *mean = reduce_mean(b, x, v.axis);
    rg_value *d = op2(b, RG_OP_SUB, x, mean);
    rg_value *sq = v.square_by_mul ? op2(b, RG_OP_MUL, d, d) : op2(b, RG_OP_POW, d, scalar(b, 2.0f));
    rg_value *var = reduce_mean(b, sq, v.axis);
    rg_value *den = v.eps_outside ? op2(b, RG_OP_ADD, op1(b, RG_OP_SQRT, var), scalar(b, 1e-5f))
                                  : op1(b, RG_OP_SQRT, op2(b, RG_OP_ADD, var, scalar(b, 1e-5f)));
    rg_value *y = op2(b, RG_OP_DIV, d, den);
    if (v.gamma) {
        rg_value *gamma = random_const(b, 1, &width, 1.0f);
        y = v.gamma_first ? op2(b, RG_OP_MUL, gamma, y) : op2(b, RG_OP_MUL, y, gamma);
    }
    if (v.beta) y = op2(b, RG_OP_ADD, y, random_const(b, 1, &width, 0.0f));
    return y;
}

static int ln_case(ln_variant v, int *leftover_reduce) {
    gb b;
    gb_begin(&b);
    rg_value *x = input_bs(&b, "x", 8);
    output(&b, decomposed_ln(&b, x, 8, v));
    rg_pass_report r = fuse_and_compare(&b);
    *leftover_reduce = (int)r.ops_after[RG_OP_REDUCE_MEAN];
    gb_end(&b);
    return (int)r.ops_after[RG_OP_LAYER_NORM];
}

TestSuite(fuse_layernorm);

Test(fuse_layernorm, decomposed_variants_fuse) {
    int left;
    cr_assert_eq(ln_case((ln_variant){.axis = -1, .gamma = true, .beta = true}, &left), 1);
    cr_assert_eq(left, 0);
    cr_assert_eq(ln_case((ln_variant){.axis = 2, .square_by_mul = true, .gamma = true, .beta = true, .gamma_first = true},
                         &left),
                 1);
    cr_assert_eq(left, 0);
    /* gamma or beta missing: the LayerNorm gets ones / no bias */
    cr_assert_eq(ln_case((ln_variant){.axis = -1}, &left), 1);
    cr_assert_eq(ln_case((ln_variant){.axis = -1, .beta = true}, &left), 1);
    cr_assert_eq(ln_case((ln_variant){.axis = -1, .gamma = true}, &left), 1);
    cr_assert_eq(left, 0);
}

Test(fuse_layernorm, half_matches_are_left_alone) {
    int left;
    cr_assert_eq(ln_case((ln_variant){.axis = -1, .eps_outside = true, .gamma = true, .beta = true}, &left), 0);
    cr_assert_eq(left, 2);
    cr_assert_eq(ln_case((ln_variant){.axis = 1, .gamma = true, .beta = true}, &left), 0);
    cr_assert_eq(left, 2);
}

/* LayerNormalization-17: last axis fused, another axis left alone. */
static int ln_op_case(int64_t axis) {
    gb b;
    gb_begin(&b);
    rg_value *x = input_bs(&b, "x", 8);
    int64_t w = 8;
    rg_value *ins[3] = {x, random_const(&b, 1, &w, 1.0f), random_const(&b, 1, &w, 0.0f)}, *y;
    rg_node *n = gb_op(&b, RG_OP_LAYER_NORMALIZATION, 3, ins, &y);
    attr_one(b.g, n, (rg_attr){.name = "axis", .kind = RG_ATTR_INT, .i = axis});
    attr_one(b.g, n, (rg_attr){.name = "epsilon", .kind = RG_ATTR_FLOAT, .f = 1e-3f});
    output(&b, y);
    rg_pass_report r = fuse_and_compare(&b);
    gb_end(&b);
    return (int)r.ops_after[RG_OP_LAYER_NORM];
}

Test(fuse_layernorm, opset17_op) {
    cr_assert_eq(ln_op_case(-1), 1);
    cr_assert_eq(ln_op_case(2), 1);
    cr_assert_eq(ln_op_case(1), 0);
}

/* Residual Add before a LayerNorm; when the sum is also a graph output
 * (the residual stream of a pre-LN model), LayerNorm's output 1 carries it. */
static void residual_case(bool sum_is_output, bool broadcast) {
    gb b;
    gb_begin(&b);
    rg_value *x = input_bs(&b, "x", 8), *r;
    if (broadcast) {
        int64_t dims[3] = {1, 1, 8};
        r = random_const(&b, 3, dims, 0.0f);
        r = op1(&b, RG_OP_RELU, r); /* not a constant operand, but of another shape */
    } else {
        r = op1(&b, RG_OP_RELU, input_bs(&b, "x2", 8));
    }
    rg_value *s = op2(&b, RG_OP_ADD, x, r);
    int64_t w = 8;
    rg_value *ins[3] = {s, random_const(&b, 1, &w, 1.0f), random_const(&b, 1, &w, 0.0f)}, *y;
    gb_op(&b, RG_OP_LAYER_NORMALIZATION, 3, ins, &y);
    output(&b, y);
    if (sum_is_output) output(&b, s);
    rg_pass_report rep = fuse_and_compare(&b);
    cr_assert_eq(rep.ops_after[RG_OP_LAYER_NORM], 1);
    cr_assert_eq(rep.ops_after[RG_OP_ADD], broadcast ? 1 : 0);
    for (uint32_t i = 0; i < b.g->nnodes; i++) {
        const rg_node *n = b.g->nodes[i];
        if (n->op != RG_OP_LAYER_NORM) continue;
        cr_assert_eq(n->ninputs == 4 && n->inputs[3] != NULL, !broadcast);
        cr_assert_eq(n->noutputs == 2 && n->outputs[1] != NULL, sum_is_output && !broadcast);
    }
    gb_end(&b);
}

Test(fuse_layernorm, residual) {
    residual_case(false, false);
    residual_case(true, false);
    residual_case(false, true);
}

/* ---------------------------------------------------------------- GELU */

typedef enum gelu_form { GELU_X_H_HALF, GELU_XHALF_H, GELU_X_HHALF, GELU_MUL_RSQRT2, GELU_TANH, GELU_TANH_POW,
                         GELU_WRONG_CONST } gelu_form;

static rg_value *gelu_graph(gb *b, rg_value *x, gelu_form form) {
    if (form == GELU_TANH || form == GELU_TANH_POW) {
        rg_value *cube = form == GELU_TANH_POW ? op2(b, RG_OP_POW, x, scalar(b, 3.0f))
                                               : op2(b, RG_OP_MUL, x, op2(b, RG_OP_MUL, x, x));
        rg_value *inner = op2(b, RG_OP_ADD, x, op2(b, RG_OP_MUL, scalar(b, 0.044715f), cube));
        rg_value *t = op1(b, RG_OP_TANH, op2(b, RG_OP_MUL, scalar(b, 0.7978845608f), inner));
        rg_value *h = op2(b, RG_OP_ADD, scalar(b, 1.0f), t);
        return op2(b, RG_OP_MUL, op2(b, RG_OP_MUL, scalar(b, 0.5f), x), h);
    }
    rg_value *arg = form == GELU_MUL_RSQRT2 ? op2(b, RG_OP_MUL, x, scalar(b, 0.70710678f))
                                            : op2(b, RG_OP_DIV, x, scalar(b, form == GELU_WRONG_CONST ? 1.5f : 1.4142135f));
    rg_value *h = op2(b, RG_OP_ADD, op1(b, RG_OP_ERF, arg), scalar(b, 1.0f));
    switch (form) {
    case GELU_XHALF_H: return op2(b, RG_OP_MUL, op2(b, RG_OP_MUL, x, scalar(b, 0.5f)), h);
    case GELU_X_HHALF: return op2(b, RG_OP_MUL, x, op2(b, RG_OP_MUL, h, scalar(b, 0.5f)));
    default: return op2(b, RG_OP_MUL, op2(b, RG_OP_MUL, x, h), scalar(b, 0.5f));
    }
}

/* GELU after a dense layer (so the epilogue applies) or alone. */
static rg_pass_report gelu_case(gelu_form form, bool after_linear) {
    gb b;
    gb_begin(&b);
    rg_value *x = input_bs(&b, "x", 8);
    if (after_linear) {
        int64_t wd[2] = {8, 6}, n = 6;
        x = op2(&b, RG_OP_ADD, random_const(&b, 1, &n, 0.0f), op2(&b, RG_OP_MATMUL, x, random_const(&b, 2, wd, 0.0f)));
    }
    output(&b, gelu_graph(&b, x, form));
    rg_pass_report r = fuse_and_compare(&b);
    if (after_linear && r.ops_after[RG_OP_LINEAR] == 1) {
        const rg_node *lin = NULL;
        for (uint32_t i = 0; i < b.g->nnodes; i++)
            if (b.g->nodes[i]->op == RG_OP_LINEAR) lin = b.g->nodes[i];
        const char *act;
        cr_assert_eq(rg_node_attr_string(lin, "activation", "none", &act, NULL), RG_OK);
        bool tanh_form = form == GELU_TANH || form == GELU_TANH_POW;
        if (form != GELU_WRONG_CONST) cr_assert_str_eq(act, tanh_form ? "gelu_tanh" : "gelu");
        else cr_assert_str_eq(act, "none");
    }
    gb_end(&b);
    return r;
}

TestSuite(fuse_gelu);

Test(fuse_gelu, forms_become_gelu) {
    for (gelu_form f = GELU_X_H_HALF; f <= GELU_TANH_POW; f++) {
        rg_pass_report r = gelu_case(f, false);
        cr_assert_eq(r.ops_after[RG_OP_GELU], 1, "form %d", (int)f);
        cr_assert_eq(r.ops_after[RG_OP_MUL] + r.ops_after[RG_OP_ERF] + r.ops_after[RG_OP_TANH], 0, "form %d", (int)f);
    }
}

Test(fuse_gelu, epilogue_of_linear) {
    for (gelu_form f = GELU_X_H_HALF; f <= GELU_TANH_POW; f++) {
        rg_pass_report r = gelu_case(f, true);
        cr_assert_eq(r.ops_after[RG_OP_LINEAR], 1, "form %d", (int)f);
        cr_assert_eq(r.ops_after[RG_OP_GELU], 0, "form %d", (int)f);
        cr_assert_eq(r.ops_after[RG_OP_MATMUL] + r.ops_after[RG_OP_ADD], 0, "form %d", (int)f);
    }
}

/* The opset-20 Gelu op after a dense layer becomes its epilogue. */
Test(fuse_gelu, onnx_gelu_op) {
    const char *modes[2] = {"none", "tanh"}, *want[2] = {"gelu", "gelu_tanh"};
    for (int m = 0; m < 2; m++) {
        gb b;
        gb_begin(&b);
        b.g->opset = 20;
        int64_t wd[2] = {8, 6}, n = 6;
        rg_value *x = input_bs(&b, "x", 8);
        x = op2(&b, RG_OP_ADD, op2(&b, RG_OP_MATMUL, x, random_const(&b, 2, wd, 0.0f)), random_const(&b, 1, &n, 0.0f));
        rg_value *y;
        rg_node *gelu = gb_op(&b, RG_OP_GELU, 1, &x, &y);
        gelu->opset = 20;
        attr_one(b.g, gelu, (rg_attr){.name = "approximate", .kind = RG_ATTR_STRING, .s = modes[m]});
        output(&b, y);
        rg_pass_report r = fuse_and_compare(&b);
        cr_assert_eq(r.ops_after[RG_OP_LINEAR], 1);
        cr_assert_eq(r.ops_after[RG_OP_GELU], 0);
        const char *act;
        cr_assert_eq(rg_node_attr_string(b.g->nodes[0], "activation", "none", &act, NULL), RG_OK);
        cr_assert_str_eq(act, want[m]);
        gb_end(&b);
    }
}

Test(fuse_gelu, wrong_constant_left_alone) {
    rg_pass_report r = gelu_case(GELU_WRONG_CONST, true);
    cr_assert_eq(r.ops_after[RG_OP_GELU], 0);
    cr_assert_eq(r.ops_after[RG_OP_ERF], 1);
    cr_assert_eq(r.ops_after[RG_OP_LINEAR], 1);
}

/* -------------------------------------------------------------- Linear */

TestSuite(fuse_linear);

Test(fuse_linear, bias_relu_and_extra_readers) {
    gb b;
    gb_begin(&b);
    rg_value *x = input_bs(&b, "x", 8);
    int64_t wd[2] = {8, 6}, n = 6;
    /* bias first, Relu epilogue */
    rg_value *y1 = op1(&b, RG_OP_RELU, op2(&b, RG_OP_ADD, random_const(&b, 1, &n, 0.0f),
                                          op2(&b, RG_OP_MATMUL, x, random_const(&b, 2, wd, 0.0f))));
    /* the product has a second reader: Linear without bias, the Add stays */
    rg_value *p = op2(&b, RG_OP_MATMUL, x, random_const(&b, 2, wd, 0.0f));
    rg_value *y2 = op2(&b, RG_OP_ADD, p, random_const(&b, 1, &n, 0.0f));
    /* a bias that widens the result is not a bias */
    int64_t bd[2] = {5, 6};
    rg_value *y3 = op2(&b, RG_OP_ADD, op2(&b, RG_OP_MATMUL, x, random_const(&b, 2, wd, 0.0f)), random_const(&b, 2, bd, 0.0f));
    output(&b, y1), output(&b, y2), output(&b, p), output(&b, y3);
    rg_pass_report r = fuse_and_compare(&b);
    cr_assert_eq(r.ops_after[RG_OP_LINEAR], 3);
    cr_assert_eq(r.ops_after[RG_OP_MATMUL], 0);
    cr_assert_eq(r.ops_after[RG_OP_RELU], 0);
    cr_assert_eq(r.ops_after[RG_OP_ADD], 2);
    gb_end(&b);
}

/* ----------------------------------------------------------- Attention */

typedef enum mask_form { MASK_NONE, MASK_ADDITIVE, MASK_WHERE } mask_form;

typedef struct att_variant {
    mask_form mask;
    bool scale_on_qk;   /* Mul by 1/sqrt(sqrt(D)) on Q and on K instead of Div on the scores */
    bool key_two_transposes;
    bool dynamo;        /* fixed B=2, S=5; K^T through 3-D reshapes with a Shape reader; NaN guard after Softmax */
} att_variant;

/* One BERT self-attention layer, hidden 8 = 2 heads x 4, as torch.onnx
 * writes it (Reshape targets [0, 0, H, D] and [0, 0, H*D]). */
static rg_pass_report attention_case(att_variant v) {
    gb b;
    gb_begin(&b);
    const int64_t H = 2, D = 4, N = 8;
    rg_value *x, *mask = NULL;
    if (v.dynamo) {
        rg_dim dims[3] = {rg_dim_const(2), rg_dim_const(5), rg_dim_const(N)};
        x = tp_input(b.g, "x", RG_DTYPE_F32, 3, dims);
    } else {
        x = input_bs(&b, "x", N);
    }
    if (v.mask != MASK_NONE) {
        rg_dim dims[4] = {rg_dim_symbol(rg_graph_symbol(b.g, "B")), rg_dim_const(1), rg_dim_const(1),
                          rg_dim_symbol(rg_graph_symbol(b.g, "S"))};
        if (v.dynamo) dims[0] = rg_dim_const(2), dims[3] = rg_dim_const(5);
        mask = tp_input(b.g, "mask", RG_DTYPE_F32, 4, dims);
    }
    int64_t wd[2] = {N, N}, split[4] = {0, 0, H, D}, merge[3] = {0, 0, N};
    static const int64_t heads[4] = {0, 2, 1, 3}, keys[4] = {0, 2, 3, 1}, swap[4] = {0, 1, 3, 2};
    rg_value *proj[3];
    for (int i = 0; i < 3; i++)
        proj[i] = op2(&b, RG_OP_ADD, op2(&b, RG_OP_MATMUL, x, random_const(&b, 2, wd, 0.0f)), random_const(&b, 1, &N, 0.0f));
    rg_value *q = transpose(&b, reshape(&b, proj[0], 4, split), heads);
    rg_value *k;
    if (v.dynamo) {
        static const int64_t swap3[3] = {0, 2, 1}, flat[3] = {-1, 5, D}, back[4] = {2, H, D, 5};
        rg_value *k4 = transpose(&b, reshape(&b, proj[1], 4, split), heads), *t3;
        output(&b, op1(&b, RG_OP_SHAPE, k4));
        rg_node *tn = gb_op(&b, RG_OP_TRANSPOSE, 1, (rg_value *[]){reshape(&b, k4, 3, flat)}, &t3);
        attr_ints(b.g, tn, "perm", 3, swap3);
        k = reshape(&b, t3, 4, back);
    } else {
        k = v.key_two_transposes ? transpose(&b, transpose(&b, reshape(&b, proj[1], 4, split), heads), swap)
                                 : transpose(&b, reshape(&b, proj[1], 4, split), keys);
    }
    rg_value *val = transpose(&b, reshape(&b, proj[2], 4, split), heads);
    if (v.scale_on_qk) {
        q = op2(&b, RG_OP_MUL, q, scalar(&b, 0.70710678f));
        k = op2(&b, RG_OP_MUL, k, scalar(&b, 0.70710678f));
    }
    rg_value *scores = op2(&b, RG_OP_MATMUL, q, k);
    if (!v.scale_on_qk) scores = op2(&b, RG_OP_DIV, scores, scalar(&b, 2.0f));
    if (v.mask == MASK_ADDITIVE) scores = op2(&b, RG_OP_ADD, scores, mask);
    if (v.mask == MASK_WHERE) {
        rg_value *keep = op2(&b, RG_OP_LESS, scalar(&b, -1.0f), mask);
        rg_value *ins[3] = {keep, scores, scalar(&b, -1e9f)}, *w;
        gb_op(&b, RG_OP_WHERE, 3, ins, &w);
        scores = w;
    }
    rg_value *probs = op1(&b, RG_OP_SOFTMAX, scores);
    if (v.dynamo) {
        rg_value *ins[3] = {op1(&b, RG_OP_ISNAN, probs), scalar(&b, 0.0f), probs}, *w;
        gb_op(&b, RG_OP_WHERE, 3, ins, &w);
        probs = w;
    }
    rg_value *ctx = transpose(&b, op2(&b, RG_OP_MATMUL, probs, val), heads);
    output(&b, reshape(&b, ctx, 3, merge));
    rg_pass_report r = fuse_and_compare(&b);
    if (r.ops_after[RG_OP_ATTENTION] == 1) {
        for (uint32_t i = 0; i < b.g->nnodes; i++) {
            const rg_node *n = b.g->nodes[i];
            if (n->op != RG_OP_ATTENTION) continue;
            int64_t h, d;
            float scale;
            cr_assert_eq(rg_node_attr_int(n, "num_heads", 0, &h, NULL), RG_OK);
            cr_assert_eq(rg_node_attr_int(n, "head_size", 0, &d, NULL), RG_OK);
            cr_assert_eq(rg_node_attr_float(n, "scale", 0, &scale, NULL), RG_OK);
            cr_assert_eq(h, H);
            cr_assert_eq(d, D);
            cr_assert_float_eq(scale, 0.5f, 1e-5f);
        }
    }
    gb_end(&b);
    return r;
}

TestSuite(fuse_attention);

Test(fuse_attention, bert_forms) {
    att_variant variants[] = {{MASK_ADDITIVE, false, false}, {MASK_NONE, false, false},
                              {MASK_ADDITIVE, true, false}, {MASK_ADDITIVE, false, true}};
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        rg_pass_report r = attention_case(variants[i]);
        cr_assert_eq(r.ops_after[RG_OP_ATTENTION], 1, "variant %zu", i);
        cr_assert_eq(r.ops_after[RG_OP_LINEAR], 1, "variant %zu: Q, K, V in one Linear", i);
        uint32_t total = 0;
        for (int op = 0; op < RG_OP_COUNT; op++) total += r.ops_after[op];
        cr_assert_eq(total, 2, "variant %zu: %u nodes left", i, total);
    }
}

/* torch.onnx's dynamo exporter: K^T via [B*H, S, D] reshapes (the first
 * one's input also read by a Shape), scale on Q and K, NaN guard. */
Test(fuse_attention, dynamo_form) {
    rg_pass_report r = attention_case((att_variant){MASK_ADDITIVE, true, false, true});
    cr_assert_eq(r.ops_after[RG_OP_ATTENTION], 1);
    cr_assert_eq(r.ops_after[RG_OP_LINEAR], 1);
    cr_assert_eq(r.ops_after[RG_OP_SOFTMAX] + r.ops_after[RG_OP_ISNAN] + r.ops_after[RG_OP_MATMUL], 0);
}

Test(fuse_attention, other_mask_form_left_alone) {
    rg_pass_report r = attention_case((att_variant){MASK_WHERE, false, false});
    cr_assert_eq(r.ops_after[RG_OP_ATTENTION], 0);
    cr_assert_eq(r.ops_after[RG_OP_SOFTMAX], 1);
    cr_assert_eq(r.ops_after[RG_OP_LINEAR], 3);
}

/* --------------------------------------------------- kernels in f16/bf16 */

/* Converts a float32 tensor's data into dtype (f16/bf16). */
static void narrow(const float *src, size_t n, rg_dtype dtype, uint16_t *dst) {
    for (size_t i = 0; i < n; i++) dst[i] = dtype == RG_DTYPE_F16 ? rg_f32_to_f16(src[i]) : rg_f32_to_bf16(src[i]);
}

Test(fuse_kernels, half_precision_matches_f32) {
    gb b;
    gb_begin(&b);
    enum { B = 2, S = 3, H = 2, D = 4, N = 8 };
    float x[B * S * N], w[N * 3 * N], bias[3 * N], scale[N], mask[B * S];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = gb_rand(&b);
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) w[i] = gb_rand(&b) * 0.5f;
    for (size_t i = 0; i < sizeof bias / sizeof *bias; i++) bias[i] = gb_rand(&b) * 0.1f;
    for (size_t i = 0; i < N; i++) scale[i] = 1.0f + gb_rand(&b) * 0.1f;
    for (size_t i = 0; i < B * S; i++) mask[i] = i == B * S - 1 ? -10000.0f : 0.0f;
    rg_cpu_ctx ctx = {.alloc = rg_allocator_default(), .num_threads = 1};
    const rg_op ops[3] = {RG_OP_LINEAR, RG_OP_LAYER_NORM, RG_OP_ATTENTION};
    for (int k = 0; k < 3; k++) {
        rg_value *ins[2], *outv;
        ins[0] = tp_value(b.g, k == 0 ? "a0" : k == 1 ? "b0" : "c0", RG_DTYPE_F32, -1, NULL);
        ins[1] = tp_value(b.g, k == 0 ? "a1" : k == 1 ? "b1" : "c1", RG_DTYPE_F32, -1, NULL);
        outv = tp_value(b.g, k == 0 ? "a2" : k == 1 ? "b2" : "c2", RG_DTYPE_F32, -1, NULL);
        rg_node *n;
        cr_assert_eq(rg_graph_add_node(b.g, ops[k], "n", 17, 2, ins, 1, &outv, &n, NULL), RG_OK);
        if (k == 0) attr_one(b.g, n, (rg_attr){.name = "activation", .kind = RG_ATTR_STRING, .s = "gelu"});
        if (k == 2) {
            attr_one(b.g, n, (rg_attr){.name = "num_heads", .kind = RG_ATTR_INT, .i = H});
            attr_one(b.g, n, (rg_attr){.name = "head_size", .kind = RG_ATTR_INT, .i = D});
            attr_one(b.g, n, (rg_attr){.name = "mask_kind", .kind = RG_ATTR_STRING, .s = "additive"});
        }
        rg_tensor t[2][2] = {{{0}}};
        int64_t xd[3] = {B, S, k == 2 ? 3 * N : N}, wd[2] = {N, 3 * N}, sd[1] = {N}, md[4] = {B, 1, 1, S};
        float xin[B * S * 3 * N];
        for (size_t i = 0; i < sizeof xin / sizeof *xin; i++) xin[i] = x[i % (B * S * N)] * (1.0f + 0.01f * (float)i);
        rg_tensor ref_out = {0};
        for (int dt = 0; dt < 3; dt++) {
            rg_dtype dtype = dt == 0 ? RG_DTYPE_F32 : dt == 1 ? RG_DTYPE_F16 : RG_DTYPE_BF16;
            cr_assert_eq(rg_tensor_set_shape(&t[0][0], dtype, 3, xd, NULL), RG_OK);
            if (k == 0) cr_assert_eq(rg_tensor_set_shape(&t[0][1], dtype, 2, wd, NULL), RG_OK);
            if (k == 1) cr_assert_eq(rg_tensor_set_shape(&t[0][1], dtype, 1, sd, NULL), RG_OK);
            if (k == 2) cr_assert_eq(rg_tensor_set_shape(&t[0][1], dtype, 4, md, NULL), RG_OK);
            const float *src1 = k == 0 ? w : k == 1 ? scale : mask;
            uint16_t h0[B * S * 3 * N], h1[N * 3 * N];
            if (dtype == RG_DTYPE_F32) {
                t[0][0].data = k == 2 ? xin : x;
                t[0][1].data = (void *)src1;
            } else {
                narrow(k == 2 ? xin : x, rg_tensor_numel(&t[0][0]), dtype, h0);
                narrow(src1, rg_tensor_numel(&t[0][1]), dtype, h1);
                t[0][0].data = h0;
                t[0][1].data = h1;
            }
            const rg_tensor *in[2] = {&t[0][0], &t[0][1]};
            rg_tensor out = {0};
            rg_error err = {0};
            cr_assert_eq(rg_cpu_internal_kernels[ops[k]](&ctx, n, in, &out, &err), RG_OK, "%s", err.message);
            cr_assert_eq(out.dtype, dtype);
            if (dt == 0) {
                ref_out = out;
                continue;
            }
            double tol = dtype == RG_DTYPE_F16 ? 2e-2 : 1e-1, worst = 0;
            for (size_t i = 0; i < rg_tensor_numel(&out); i++) {
                double a = rg_load_as_double(dtype, out.data, i), r = ((float *)ref_out.data)[i];
                if (fabs(a - r) > worst) worst = fabs(a - r);
            }
            cr_assert(worst <= tol * 4, "op %s dtype %s: max abs error %g", rg_op_name(ops[k]), rg_dtype_name(dtype), worst);
            rg_cpu_free_tensor(&ctx, &out);
        }
        rg_cpu_free_tensor(&ctx, &ref_out);
    }
    gb_end(&b);
}

/* --------------------------------------------------------------- MiniLM */

/* A MiniLM through the passes up to pattern fusion: per layer one
 * Attention, one QKV Linear with two more Linears (one with the GELU
 * epilogue), two LayerNorms with the residual folded in; and the same
 * outputs at 2x16, 1x64 and 2x16 with a padded sequence (test_minilm.c
 * checks every pass). */
static void per_layer_counts(const char *model, int layers) {
    char path[4096];
    snprintf(path, sizeof path, "%s/models/cache/%s/model.onnx", RG_TEST_SOURCE_DIR, model);
    if (access(path, R_OK) != 0) cr_skip_test("%s is missing: run bash models/fetch.sh", path);
    rg_graph *g = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_onnx_import_file(path, NULL, &g, &err), RG_OK, "%s", err.message);
    static const char *names[] = {"cleanup", "fold", "fuse_layernorm", "fuse_gelu", "fuse_linear", "fuse_attention"};
    const rg_pass *list[6];
    for (int i = 0; i < 6; i++) list[i] = rg_pass_find(names[i]);
    rg_pass_options opt = {.verify = true, .eval = &tp_evaluator};
    rg_pass_report r;
    cr_assert_eq(rg_pass_run_list(g, list, 6, &opt, &r, &err), RG_OK, "%s", err.message);
    printf("%s:\n", model);
    rg_pass_report_print(&r, stdout);
    cr_assert_eq(r.ops_after[RG_OP_ATTENTION], layers);
    cr_assert_eq(r.ops_after[RG_OP_LAYER_NORM], 2 * layers + 1);
    cr_assert_eq(r.ops_after[RG_OP_LINEAR], 4 * layers);
    cr_assert_eq(r.ops_after[RG_OP_MATMUL] + r.ops_after[RG_OP_SOFTMAX] + r.ops_after[RG_OP_ERF] +
                     r.ops_after[RG_OP_LAYER_NORMALIZATION] + r.ops_after[RG_OP_TRANSPOSE] + r.ops_after[RG_OP_RESHAPE],
                 0);
    int gelu_epilogues = 0, residuals = 0;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const rg_node *n = g->nodes[i];
        const char *act;
        if (n->op == RG_OP_LINEAR && rg_node_attr_string(n, "activation", "none", &act, NULL) == RG_OK)
            gelu_epilogues += strcmp(act, "gelu") == 0;
        if (n->op == RG_OP_LAYER_NORM) residuals += n->ninputs == 4 && n->inputs[3];
    }
    cr_assert_eq(gelu_epilogues, layers);
    cr_assert_eq(residuals, 2 * layers);
    rg_graph_free(g);
}

/* torch.onnx's TorchScript exporter */
Test(fuse_minilm, paraphrase_L3) { per_layer_counts("paraphrase-MiniLM-L3-v2", 3); }

/* the dynamo exporter's scaled_dot_product_attention decomposition, int8
 * weights dequantized by fold */
Test(fuse_minilm, all_L6_int8) { per_layer_counts("all-MiniLM-L6-v2-int8", 6); }
