/*
 * CPU math kernels (runtime/cpu_math.c), called directly through
 * rg_cpu_math_kernels on small hand-built nodes and tensors, against
 * hand-computed values: broadcasting, dtypes, opset-dependent Softmax,
 * reductions, LayerNormalization, MatMul/Gemm, error messages, and that every
 * output and scratch buffer is freed (a counting allocator, also made to fail).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "ir/dtype.h"
#include "ir/graph.h"
#include "runtime/cpu_internal.h"
#include "runtime/cpu_util.h"

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})

static rg_graph *graph;
static rg_counting_allocator counting;
static rg_cpu_ctx ctx;
static int value_counter;

static void setup(void) {
    rg_counting_allocator_init(&counting, NULL, -1);
    ctx.alloc = &counting.base;
    ctx.num_threads = 1;
    value_counter = 0;
    cr_assert_eq(rg_graph_new(NULL, &graph, NULL), RG_OK);
}

static void teardown(void) {
    rg_graph_free(graph);
    cr_assert_eq(counting.in_use, 0, "leaked %zu bytes", counting.in_use);
}

TestSuite(cpu_math, .init = setup, .fini = teardown);

static rg_attr attr_int(const char *name, int64_t v) {
    return (rg_attr){.name = name, .kind = RG_ATTR_INT, .i = v};
}
static rg_attr attr_float(const char *name, float v) {
    return (rg_attr){.name = name, .kind = RG_ATTR_FLOAT, .f = v};
}
static rg_attr attr_ints(const char *name, const int64_t *v, size_t n) {
    return (rg_attr){.name = name, .kind = RG_ATTR_INTS, .ints = v, .count = n};
}
static rg_attr attr_string(const char *name, const char *s) {
    return (rg_attr){.name = name, .kind = RG_ATTR_STRING, .s = s, .s_len = strlen(s)};
}

/* A node of `op` with nin inputs and nout outputs (fresh values) and attrs. */
static const rg_node *make_node(rg_op op, int opset, uint32_t nin, uint32_t nout, uint32_t nattrs,
                                const rg_attr *attrs) {
    rg_value *ins[8], *outs[4];
    char name[32];
    for (uint32_t i = 0; i < nin + nout; i++) {
        rg_value *v;
        snprintf(name, sizeof name, "v%d", value_counter++);
        cr_assert_eq(rg_graph_add_value(graph, name, RG_DTYPE_F32, -1, NULL, &v, NULL), RG_OK);
        if (i < nin) ins[i] = v;
        else outs[i - nin] = v;
    }
    rg_node *n;
    cr_assert_eq(rg_graph_add_node(graph, op, "n", opset, nin, ins, nout, outs, &n, NULL), RG_OK);
    if (nattrs) {
        rg_attr *a = rg_arena_array(&graph->arena, nattrs, sizeof *a);
        memcpy(a, attrs, nattrs * sizeof *a);
        rg_node_set_attrs(n, nattrs, a);
    }
    return n;
}

static rg_tensor tensor(rg_dtype dtype, int rank, const int64_t *dims, const void *data) {
    rg_tensor t = {0};
    cr_assert_eq(rg_tensor_set_shape(&t, dtype, rank, dims, NULL), RG_OK);
    t.data = (void *)data;
    return t;
}

static rg_status run(const rg_node *n, const rg_tensor *const *ins, rg_tensor *outs, rg_error *err) {
    rg_cpu_kernel k = rg_cpu_math_kernels[n->op];
    cr_assert(k, "no kernel for %s", rg_op_name(n->op));
    memset(outs, 0, sizeof *outs * n->noutputs);
    rg_status st = k(&ctx, n, ins, outs, err);
    if (st != RG_OK)
        for (uint32_t i = 0; i < n->noutputs; i++) rg_cpu_free_tensor(&ctx, &outs[i]);
    return st;
}

/* Runs and asserts success. */
static void run_ok(const rg_node *n, const rg_tensor *const *ins, rg_tensor *outs) {
    rg_error err = {0};
    rg_status st = run(n, ins, outs, &err);
    cr_assert_eq(st, RG_OK, "%s failed: %s", rg_op_name(n->op), err.message);
}

static void free_outs(rg_tensor *outs, int n) {
    for (int i = 0; i < n; i++) rg_cpu_free_tensor(&ctx, &outs[i]);
}

static void expect_shape(const rg_tensor *t, rg_dtype dtype, int rank, const int64_t *dims) {
    cr_assert_eq(t->dtype, dtype, "dtype %s, expected %s", rg_dtype_name(t->dtype), rg_dtype_name(dtype));
    cr_assert_eq(t->rank, rank);
    for (int i = 0; i < rank; i++) cr_assert_eq(t->dims[i], dims[i], "dim %d: %lld vs %lld", i, (long long)t->dims[i], (long long)dims[i]);
}

/* Compares any dtype against doubles. */
static void expect_values(const rg_tensor *t, const double *want, size_t n, double tol) {
    cr_assert_eq(rg_tensor_numel(t), n);
    for (size_t i = 0; i < n; i++) {
        double got = rg_load_as_double(t->dtype, t->data, i);
        if (isnan(want[i])) cr_assert(isnan(got), "[%zu] = %g, expected nan", i, got);
        else if (isinf(want[i])) cr_assert_eq(got, want[i], "[%zu] = %g, expected %g", i, got, want[i]);
        else cr_assert(fabs(got - want[i]) <= tol, "[%zu] = %.9g, expected %.9g", i, got, want[i]);
    }
}

#define EXPECT(t, tol, ...) \
    expect_values((t), (const double[]){__VA_ARGS__}, sizeof((const double[]){__VA_ARGS__}) / sizeof(double), (tol))

/* Runs a one-output op on the inputs and expects an error with `status`
 * whose message contains `needle`. */
static void expect_error(const rg_node *n, const rg_tensor *const *ins, rg_status status, const char *needle) {
    rg_tensor outs[3];
    rg_error err = {0};
    rg_status st = run(n, ins, outs, &err);
    cr_assert_eq(st, status, "status %d (%s), expected %d", st, err.message, status);
    cr_assert(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
}

/* ------------------------------------------------------------ elementwise */

Test(cpu_math, add_broadcasts) {
    const rg_node *n = make_node(RG_OP_ADD, 17, 2, 1, 0, NULL);
    float a[] = {1, 2, 3, 4, 5, 6}, b[] = {10, 20, 30};
    rg_tensor ta = tensor(RG_DTYPE_F32, 2, DIMS(2, 3), a), tb = tensor(RG_DTYPE_F32, 1, DIMS(3), b);
    const rg_tensor *ins[] = {&ta, &tb};
    rg_tensor out[1];
    run_ok(n, ins, out);
    expect_shape(&out[0], RG_DTYPE_F32, 2, DIMS(2, 3));
    EXPECT(&out[0], 0, 11, 22, 33, 14, 25, 36);
    free_outs(out, 1);

    /* [2,1] + [1,3] -> [2,3]; and a scalar */
    float c[] = {1, 2}, d[] = {10, 20, 30}, s[] = {100};
    rg_tensor tc = tensor(RG_DTYPE_F32, 2, DIMS(2, 1), c), td = tensor(RG_DTYPE_F32, 2, DIMS(1, 3), d);
    const rg_tensor *ins2[] = {&tc, &td};
    run_ok(n, ins2, out);
    expect_shape(&out[0], RG_DTYPE_F32, 2, DIMS(2, 3));
    EXPECT(&out[0], 0, 11, 21, 31, 12, 22, 32);
    free_outs(out, 1);
    rg_tensor ts = tensor(RG_DTYPE_F32, 0, NULL, s);
    const rg_tensor *ins3[] = {&ts, &ta};
    run_ok(n, ins3, out);
    EXPECT(&out[0], 0, 101, 102, 103, 104, 105, 106);
    free_outs(out, 1);
}

Test(cpu_math, broadcast_long_rows_and_middle_dims) {
    /* [2,3,300] * [3,1]: crosses the chunk size and broadcasts a middle dim */
    enum { L = 300 };
    static float a[2 * 3 * L];
    float b[] = {1, 2, 3};
    for (int i = 0; i < 2 * 3 * L; i++) a[i] = (float)i;
    const rg_node *n = make_node(RG_OP_MUL, 17, 2, 1, 0, NULL);
    rg_tensor ta = tensor(RG_DTYPE_F32, 3, DIMS(2, 3, L), a), tb = tensor(RG_DTYPE_F32, 2, DIMS(3, 1), b);
    const rg_tensor *ins[] = {&ta, &tb};
    rg_tensor out[1];
    run_ok(n, ins, out);
    const float *y = out[0].data;
    for (int i = 0; i < 2 * 3 * L; i++) cr_assert_eq(y[i], a[i] * b[(i / L) % 3], "at %d", i);
    free_outs(out, 1);
}

Test(cpu_math, half_precision_arithmetic) {
    uint16_t a[] = {rg_f32_to_f16(1.5f), rg_f32_to_f16(-2.0f)}, b[] = {rg_f32_to_f16(0.25f)};
    const rg_node *n = make_node(RG_OP_SUB, 17, 2, 1, 0, NULL);
    rg_tensor ta = tensor(RG_DTYPE_F16, 1, DIMS(2), a), tb = tensor(RG_DTYPE_F16, 1, DIMS(1), b);
    const rg_tensor *ins[] = {&ta, &tb};
    rg_tensor out[1];
    run_ok(n, ins, out);
    expect_shape(&out[0], RG_DTYPE_F16, 1, DIMS(2));
    EXPECT(&out[0], 0, 1.25, -2.25);
    free_outs(out, 1);

    uint16_t c[] = {rg_f32_to_bf16(3.0f), rg_f32_to_bf16(0.5f)};
    const rg_node *m = make_node(RG_OP_MUL, 17, 2, 1, 0, NULL);
    rg_tensor tc = tensor(RG_DTYPE_BF16, 1, DIMS(2), c);
    const rg_tensor *ins2[] = {&tc, &tc};
    run_ok(m, ins2, out);
    expect_shape(&out[0], RG_DTYPE_BF16, 1, DIMS(2));
    EXPECT(&out[0], 0, 9.0, 0.25);
    free_outs(out, 1);
}

Test(cpu_math, integer_division_and_mod) {
    int32_t a[] = {-7, 7, -7, 7}, b[] = {2, -2, 3, 3};
    rg_tensor ta = tensor(RG_DTYPE_I32, 1, DIMS(4), a), tb = tensor(RG_DTYPE_I32, 1, DIMS(4), b);
    const rg_tensor *ins[] = {&ta, &tb};
    rg_tensor out[1];
    run_ok(make_node(RG_OP_DIV, 17, 2, 1, 0, NULL), ins, out);
    expect_shape(&out[0], RG_DTYPE_I32, 1, DIMS(4));
    EXPECT(&out[0], 0, -3, -3, -2, 2);
    free_outs(out, 1);
    run_ok(make_node(RG_OP_MOD, 17, 2, 1, 0, NULL), ins, out);
    EXPECT(&out[0], 0, 1, -1, 2, 1); /* sign of the divisor */
    free_outs(out, 1);
    rg_attr fmod = attr_int("fmod", 1);
    run_ok(make_node(RG_OP_MOD, 17, 2, 1, 1, &fmod), ins, out);
    EXPECT(&out[0], 0, -1, 1, -1, 1); /* sign of the dividend */
    free_outs(out, 1);

    int32_t zero[] = {0};
    rg_tensor tz = tensor(RG_DTYPE_I32, 1, DIMS(1), zero);
    const rg_tensor *bad[] = {&ta, &tz};
    expect_error(make_node(RG_OP_DIV, 17, 2, 1, 0, NULL), bad, RG_ERR_INVALID_ARGUMENT, "division by zero");
    expect_error(make_node(RG_OP_MOD, 17, 2, 1, 0, NULL), bad, RG_ERR_INVALID_ARGUMENT, "division by zero");

    /* int64 arithmetic wraps instead of trapping */
    int64_t big[] = {INT64_MAX, INT64_MIN}, one[] = {1, -1};
    rg_tensor tbig = tensor(RG_DTYPE_I64, 1, DIMS(2), big), tone = tensor(RG_DTYPE_I64, 1, DIMS(2), one);
    const rg_tensor *ins2[] = {&tbig, &tone};
    run_ok(make_node(RG_OP_ADD, 17, 2, 1, 0, NULL), ins2, out);
    cr_assert_eq(((int64_t *)out[0].data)[0], INT64_MIN);
    cr_assert_eq(((int64_t *)out[0].data)[1], INT64_MAX);
    free_outs(out, 1);
    run_ok(make_node(RG_OP_DIV, 17, 2, 1, 0, NULL), ins2, out);
    cr_assert_eq(((int64_t *)out[0].data)[1], INT64_MIN);
    free_outs(out, 1);

    /* uint8 subtraction wraps */
    uint8_t u[] = {1}, v[] = {2};
    rg_tensor tu = tensor(RG_DTYPE_U8, 1, DIMS(1), u), tv = tensor(RG_DTYPE_U8, 1, DIMS(1), v);
    const rg_tensor *ins3[] = {&tu, &tv};
    run_ok(make_node(RG_OP_SUB, 17, 2, 1, 0, NULL), ins3, out);
    EXPECT(&out[0], 0, 255);
    free_outs(out, 1);
}

Test(cpu_math, comparisons_and_logic) {
    float a[] = {1, 2, 3}, b[] = {2};
    rg_tensor ta = tensor(RG_DTYPE_F32, 1, DIMS(3), a), tb = tensor(RG_DTYPE_F32, 0, NULL, b);
    const rg_tensor *ins[] = {&ta, &tb};
    rg_tensor out[1];
    const struct {
        rg_op op;
        double want[3];
    } cases[] = {{RG_OP_EQUAL, {0, 1, 0}},         {RG_OP_LESS, {1, 0, 0}},
                 {RG_OP_LESS_OR_EQUAL, {1, 1, 0}}, {RG_OP_GREATER, {0, 0, 1}},
                 {RG_OP_GREATER_OR_EQUAL, {0, 1, 1}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_ok(make_node(cases[i].op, 17, 2, 1, 0, NULL), ins, out);
        expect_shape(&out[0], RG_DTYPE_BOOL, 1, DIMS(3));
        expect_values(&out[0], cases[i].want, 3, 0);
        free_outs(out, 1);
    }
    int64_t ia[] = {5, -5}, ib[] = {-5, -5};
    rg_tensor tia = tensor(RG_DTYPE_I64, 1, DIMS(2), ia), tib = tensor(RG_DTYPE_I64, 1, DIMS(2), ib);
    const rg_tensor *ins_i[] = {&tia, &tib};
    run_ok(make_node(RG_OP_EQUAL, 17, 2, 1, 0, NULL), ins_i, out);
    EXPECT(&out[0], 0, 0, 1);
    free_outs(out, 1);

    uint8_t p[] = {0, 0, 1, 1}, q[] = {0, 1, 0, 1};
    rg_tensor tp = tensor(RG_DTYPE_BOOL, 1, DIMS(4), p), tq = tensor(RG_DTYPE_BOOL, 1, DIMS(4), q);
    const rg_tensor *ins2[] = {&tp, &tq};
    run_ok(make_node(RG_OP_AND, 17, 2, 1, 0, NULL), ins2, out);
    EXPECT(&out[0], 0, 0, 0, 0, 1);
    free_outs(out, 1);
    run_ok(make_node(RG_OP_OR, 17, 2, 1, 0, NULL), ins2, out);
    EXPECT(&out[0], 0, 0, 1, 1, 1);
    free_outs(out, 1);
    run_ok(make_node(RG_OP_XOR, 17, 2, 1, 0, NULL), ins2, out);
    EXPECT(&out[0], 0, 0, 1, 1, 0);
    free_outs(out, 1);
    run_ok(make_node(RG_OP_NOT, 17, 1, 1, 0, NULL), ins2, out);
    expect_shape(&out[0], RG_DTYPE_BOOL, 1, DIMS(4));
    EXPECT(&out[0], 0, 1, 1, 0, 0);
    free_outs(out, 1);
    /* And on floats is a dtype error */
    expect_error(make_node(RG_OP_AND, 17, 2, 1, 0, NULL), ins, RG_ERR_DTYPE, "input 0 has dtype float32");
}

Test(cpu_math, unary_float) {
    float x[] = {-2.0f, -0.5f, 0.0f, 1.0f, NAN};
    rg_tensor tx = tensor(RG_DTYPE_F32, 1, DIMS(5), x);
    const rg_tensor *ins[] = {&tx};
    rg_tensor out[1];
    const struct {
        rg_op op;
        double want[5];
    } cases[] = {
        {RG_OP_ABS, {2, 0.5, 0, 1, NAN}},
        {RG_OP_NEG, {2, 0.5, 0, -1, NAN}},
        {RG_OP_RELU, {0, 0, 0, 1, NAN}},
        {RG_OP_SIGN, {-1, -1, 0, 1, NAN}},
        {RG_OP_FLOOR, {-2, -1, 0, 1, NAN}},
        {RG_OP_CEIL, {-2, -0.0, 0, 1, NAN}},
        {RG_OP_EXP, {exp(-2.0), exp(-0.5), 1, exp(1.0), NAN}},
        {RG_OP_TANH, {tanh(-2.0), tanh(-0.5), 0, tanh(1.0), NAN}},
        {RG_OP_SIGMOID, {1 / (1 + exp(2.0)), 1 / (1 + exp(0.5)), 0.5, 1 / (1 + exp(-1.0)), NAN}},
        {RG_OP_ERF, {erf(-2.0), erf(-0.5), 0, erf(1.0), NAN}},
        {RG_OP_SIN, {sin(-2.0), sin(-0.5), 0, sin(1.0), NAN}},
        {RG_OP_COS, {cos(-2.0), cos(-0.5), 1, cos(1.0), NAN}},
        {RG_OP_RECIPROCAL, {-0.5, -2, INFINITY, 1, NAN}},
        {RG_OP_GELU, {-2 * 0.5 * (1 + erf(-2 / sqrt(2.0))), -0.5 * 0.5 * (1 + erf(-0.5 / sqrt(2.0))), 0,
                      0.5 * (1 + erf(1 / sqrt(2.0))), NAN}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_ok(make_node(cases[i].op, 20, 1, 1, 0, NULL), ins, out);
        expect_shape(&out[0], RG_DTYPE_F32, 1, DIMS(5));
        expect_values(&out[0], cases[i].want, 5, 1e-6);
        free_outs(out, 1);
    }
    run_ok(make_node(RG_OP_ISNAN, 17, 1, 1, 0, NULL), ins, out);
    expect_shape(&out[0], RG_DTYPE_BOOL, 1, DIMS(5));
    EXPECT(&out[0], 0, 0, 0, 0, 0, 1);
    free_outs(out, 1);

    float y[] = {1.0f, 4.0f};
    rg_tensor ty = tensor(RG_DTYPE_F32, 1, DIMS(2), y);
    const rg_tensor *ins2[] = {&ty};
    run_ok(make_node(RG_OP_SQRT, 17, 1, 1, 0, NULL), ins2, out);
    EXPECT(&out[0], 0, 1, 2);
    free_outs(out, 1);
    run_ok(make_node(RG_OP_LOG, 17, 1, 1, 0, NULL), ins2, out);
    EXPECT(&out[0], 1e-6, 0, log(4.0));
    free_outs(out, 1);

    rg_attr tanh_form = attr_string("approximate", "tanh");
    run_ok(make_node(RG_OP_GELU, 20, 1, 1, 1, &tanh_form), ins2, out);
    double g1 = 0.5 * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (1 + 0.044715)));
    double g4 = 0.5 * 4 * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (4 + 0.044715 * 64)));
    EXPECT(&out[0], 1e-6, g1, g4);
    free_outs(out, 1);
    rg_attr bogus = attr_string("approximate", "fast");
    expect_error(make_node(RG_OP_GELU, 20, 1, 1, 1, &bogus), ins2, RG_ERR_INVALID_MODEL, "fast");
}

Test(cpu_math, unary_int_and_dtype_errors) {
    int32_t x[] = {-3, 0, 4};
    rg_tensor tx = tensor(RG_DTYPE_I32, 1, DIMS(3), x);
    const rg_tensor *ins[] = {&tx};
    rg_tensor out[1];
    run_ok(make_node(RG_OP_ABS, 17, 1, 1, 0, NULL), ins, out);
    expect_shape(&out[0], RG_DTYPE_I32, 1, DIMS(3));
    EXPECT(&out[0], 0, 3, 0, 4);
    free_outs(out, 1);
    run_ok(make_node(RG_OP_RELU, 17, 1, 1, 0, NULL), ins, out);
    EXPECT(&out[0], 0, 0, 0, 4);
    free_outs(out, 1);
    run_ok(make_node(RG_OP_SIGN, 17, 1, 1, 0, NULL), ins, out);
    EXPECT(&out[0], 0, -1, 0, 1);
    free_outs(out, 1);
    expect_error(make_node(RG_OP_SQRT, 17, 1, 1, 0, NULL), ins, RG_ERR_DTYPE, "input 0 has dtype int32, which Sqrt");
    /* a missing required input */
    const rg_tensor *none[] = {NULL};
    expect_error(make_node(RG_OP_EXP, 17, 1, 1, 0, NULL), none, RG_ERR_INVALID_MODEL, "input 0 is missing");
}

Test(cpu_math, cast) {
    float x[] = {-2.7f, 0.0f, 1.5f, 300.0f, 1.0f + 1.0f / 2048.0f};
    rg_tensor tx = tensor(RG_DTYPE_F32, 1, DIMS(5), x);
    const rg_tensor *ins[] = {&tx};
    rg_tensor out[1];
    rg_attr to = attr_int("to", 6); /* INT32 */
    run_ok(make_node(RG_OP_CAST, 17, 1, 1, 1, &to), ins, out);
    expect_shape(&out[0], RG_DTYPE_I32, 1, DIMS(5));
    EXPECT(&out[0], 0, -2, 0, 1, 300, 1);
    free_outs(out, 1);
    to = attr_int("to", 10); /* FLOAT16 */
    run_ok(make_node(RG_OP_CAST, 17, 1, 1, 1, &to), ins, out);
    const uint16_t *h = out[0].data;
    cr_assert_eq(h[2], 0x3e00);
    cr_assert_eq(h[4], 0x3c00); /* halfway between 1 and the next half: ties to even */
    free_outs(out, 1);
    to = attr_int("to", 16); /* BFLOAT16 */
    run_ok(make_node(RG_OP_CAST, 17, 1, 1, 1, &to), ins, out);
    cr_assert_eq(((const uint16_t *)out[0].data)[2], 0x3fc0);
    free_outs(out, 1);
    to = attr_int("to", 9); /* BOOL */
    run_ok(make_node(RG_OP_CAST, 17, 1, 1, 1, &to), ins, out);
    EXPECT(&out[0], 0, 1, 0, 1, 1, 1);
    free_outs(out, 1);

    int64_t i[] = {300, -1, 7};
    rg_tensor ti = tensor(RG_DTYPE_I64, 1, DIMS(3), i);
    const rg_tensor *ins2[] = {&ti};
    to = attr_int("to", 3); /* INT8: wraps */
    run_ok(make_node(RG_OP_CAST, 17, 1, 1, 1, &to), ins2, out);
    EXPECT(&out[0], 0, 44, -1, 7);
    free_outs(out, 1);
    to = attr_int("to", 2); /* UINT8 */
    run_ok(make_node(RG_OP_CAST, 17, 1, 1, 1, &to), ins2, out);
    EXPECT(&out[0], 0, 44, 255, 7);
    free_outs(out, 1);
    to = attr_int("to", 1); /* FLOAT */
    run_ok(make_node(RG_OP_CAST, 17, 1, 1, 1, &to), ins2, out);
    EXPECT(&out[0], 0, 300, -1, 7);
    free_outs(out, 1);

    uint8_t b[] = {1, 0};
    rg_tensor tb = tensor(RG_DTYPE_BOOL, 1, DIMS(2), b);
    const rg_tensor *ins3[] = {&tb};
    to = attr_int("to", 10);
    run_ok(make_node(RG_OP_CAST, 17, 1, 1, 1, &to), ins3, out);
    EXPECT(&out[0], 0, 1, 0);
    free_outs(out, 1);

    to = attr_int("to", 11); /* DOUBLE */
    expect_error(make_node(RG_OP_CAST, 17, 1, 1, 1, &to), ins, RG_ERR_DTYPE, "DOUBLE");
}

Test(cpu_math, clip_and_pow) {
    float x[] = {-5, 0, 5}, lo[] = {-1}, hi[] = {2};
    rg_tensor tx = tensor(RG_DTYPE_F32, 1, DIMS(3), x), tlo = tensor(RG_DTYPE_F32, 0, NULL, lo),
              thi = tensor(RG_DTYPE_F32, 0, NULL, hi);
    rg_tensor out[1];
    const rg_tensor *min_only[] = {&tx, &tlo};
    run_ok(make_node(RG_OP_CLIP, 13, 2, 1, 0, NULL), min_only, out);
    EXPECT(&out[0], 0, -1, 0, 5);
    free_outs(out, 1);
    const rg_tensor *max_only[] = {&tx, NULL, &thi};
    run_ok(make_node(RG_OP_CLIP, 13, 3, 1, 0, NULL), max_only, out);
    EXPECT(&out[0], 0, -5, 0, 2);
    free_outs(out, 1);
    int64_t ix[] = {-5, 0, 5}, ilo[] = {-1}, ihi[] = {2};
    rg_tensor tix = tensor(RG_DTYPE_I64, 1, DIMS(3), ix), tilo = tensor(RG_DTYPE_I64, 0, NULL, ilo),
              tihi = tensor(RG_DTYPE_I64, 0, NULL, ihi);
    const rg_tensor *both[] = {&tix, &tilo, &tihi};
    run_ok(make_node(RG_OP_CLIP, 13, 3, 1, 0, NULL), both, out);
    EXPECT(&out[0], 0, -1, 0, 2);
    free_outs(out, 1);
    const rg_tensor *mixed[] = {&tx, &tilo};
    expect_error(make_node(RG_OP_CLIP, 13, 2, 1, 0, NULL), mixed, RG_ERR_DTYPE, "input 1 has dtype int64");

    /* float base, int exponent; int base, int exponent */
    float base[] = {2, 3, 4};
    int64_t e[] = {2, -1, 0};
    rg_tensor tbase = tensor(RG_DTYPE_F32, 1, DIMS(3), base), te = tensor(RG_DTYPE_I64, 1, DIMS(3), e);
    const rg_tensor *ins[] = {&tbase, &te};
    run_ok(make_node(RG_OP_POW, 15, 2, 1, 0, NULL), ins, out);
    expect_shape(&out[0], RG_DTYPE_F32, 1, DIMS(3));
    EXPECT(&out[0], 1e-6, 4, 1.0 / 3, 1);
    free_outs(out, 1);
    int64_t ib[] = {3, -2, 2};
    int64_t ie[] = {3, 3, 10};
    rg_tensor tib = tensor(RG_DTYPE_I64, 1, DIMS(3), ib), tie = tensor(RG_DTYPE_I64, 1, DIMS(3), ie);
    const rg_tensor *ins2[] = {&tib, &tie};
    run_ok(make_node(RG_OP_POW, 15, 2, 1, 0, NULL), ins2, out);
    EXPECT(&out[0], 0, 27, -8, 1024);
    free_outs(out, 1);
}

Test(cpu_math, variadic_and_where) {
    float a[] = {1, 5}, b[] = {3}, c[] = {0, 10, 2, 2};
    rg_tensor ta = tensor(RG_DTYPE_F32, 1, DIMS(2), a), tb = tensor(RG_DTYPE_F32, 0, NULL, b),
              tc = tensor(RG_DTYPE_F32, 2, DIMS(2, 2), c);
    const rg_tensor *ins[] = {&ta, &tb, &tc};
    rg_tensor out[1];
    run_ok(make_node(RG_OP_SUM, 13, 3, 1, 0, NULL), ins, out);
    expect_shape(&out[0], RG_DTYPE_F32, 2, DIMS(2, 2));
    EXPECT(&out[0], 0, 4, 18, 6, 10);
    free_outs(out, 1);
    run_ok(make_node(RG_OP_MAX, 13, 3, 1, 0, NULL), ins, out);
    EXPECT(&out[0], 0, 3, 10, 3, 5);
    free_outs(out, 1);
    run_ok(make_node(RG_OP_MIN, 13, 3, 1, 0, NULL), ins, out);
    EXPECT(&out[0], 0, 0, 3, 1, 2);
    free_outs(out, 1);
    run_ok(make_node(RG_OP_SUM, 13, 1, 1, 0, NULL), ins, out);
    EXPECT(&out[0], 0, 1, 5);
    free_outs(out, 1);

    uint16_t h[] = {rg_f32_to_f16(1.0f), rg_f32_to_f16(2.0f)};
    rg_tensor th = tensor(RG_DTYPE_F16, 1, DIMS(2), h);
    const rg_tensor *hins[] = {&th, &th, &th};
    run_ok(make_node(RG_OP_SUM, 13, 3, 1, 0, NULL), hins, out);
    expect_shape(&out[0], RG_DTYPE_F16, 1, DIMS(2));
    EXPECT(&out[0], 0, 3, 6);
    free_outs(out, 1);

    uint8_t cond[] = {1, 0};
    int64_t x[] = {1, 2, 3, 4}, y[] = {-1};
    rg_tensor tcond = tensor(RG_DTYPE_BOOL, 2, DIMS(2, 1), cond), tx = tensor(RG_DTYPE_I64, 2, DIMS(1, 4), x),
              ty = tensor(RG_DTYPE_I64, 0, NULL, y);
    const rg_tensor *wins[] = {&tcond, &tx, &ty};
    run_ok(make_node(RG_OP_WHERE, 16, 3, 1, 0, NULL), wins, out);
    expect_shape(&out[0], RG_DTYPE_I64, 2, DIMS(2, 4));
    EXPECT(&out[0], 0, 1, 2, 3, 4, -1, -1, -1, -1);
    free_outs(out, 1);
    const rg_tensor *wbad[] = {&tx, &tx, &ty};
    expect_error(make_node(RG_OP_WHERE, 16, 3, 1, 0, NULL), wbad, RG_ERR_DTYPE, "input 0 has dtype int64");
}

Test(cpu_math, broadcast_and_dtype_errors) {
    float a[15] = {0}, b[12] = {0};
    rg_tensor ta = tensor(RG_DTYPE_F32, 2, DIMS(3, 5), a), tb = tensor(RG_DTYPE_F32, 2, DIMS(3, 4), b);
    const rg_tensor *ins[] = {&tb, &ta};
    expect_error(make_node(RG_OP_ADD, 17, 2, 1, 0, NULL), ins, RG_ERR_SHAPE,
                 "input 1 has shape [3, 5] which does not broadcast with [3, 4]");
    int64_t i[12] = {0};
    rg_tensor ti = tensor(RG_DTYPE_I64, 2, DIMS(3, 4), i);
    const rg_tensor *mixed[] = {&tb, &ti};
    expect_error(make_node(RG_OP_MUL, 17, 2, 1, 0, NULL), mixed, RG_ERR_DTYPE,
                 "input 1 has dtype int64 but input 0 has float32");
    const rg_tensor *three[] = {&tb, &tb, &ta};
    expect_error(make_node(RG_OP_SUM, 13, 3, 1, 0, NULL), three, RG_ERR_SHAPE, "input 2 has shape [3, 5]");
}

/* ------------------------------------------------ Softmax and LayerNorm */

Test(cpu_math, softmax_axis_by_opset) {
    /* [2,2,2]; opset 11 default axis 1 flattens to [2,4]; opset 13 axis 1 is one dim */
    float x[] = {0, 1, 2, 3, 4, 5, 6, 7};
    rg_tensor tx = tensor(RG_DTYPE_F32, 3, DIMS(2, 2, 2), x);
    const rg_tensor *ins[] = {&tx};
    rg_tensor out[1];
    run_ok(make_node(RG_OP_SOFTMAX, 11, 1, 1, 0, NULL), ins, out);
    double z = 1 + exp(1.0) + exp(2.0) + exp(3.0);
    EXPECT(&out[0], 1e-6, 1 / z, exp(1.0) / z, exp(2.0) / z, exp(3.0) / z, 1 / z, exp(1.0) / z, exp(2.0) / z,
           exp(3.0) / z);
    free_outs(out, 1);
    rg_attr axis = attr_int("axis", 1);
    run_ok(make_node(RG_OP_SOFTMAX, 13, 1, 1, 1, &axis), ins, out);
    double p = 1 / (1 + exp(2.0)), q = 1 - p;
    EXPECT(&out[0], 1e-6, p, p, q, q, p, p, q, q);
    free_outs(out, 1);
    /* opset 13 default: last axis */
    run_ok(make_node(RG_OP_SOFTMAX, 13, 1, 1, 0, NULL), ins, out);
    double r = 1 / (1 + exp(1.0)), s = 1 - r;
    EXPECT(&out[0], 1e-6, r, s, r, s, r, s, r, s);
    free_outs(out, 1);

    /* large values stay finite; float16 */
    uint16_t h[] = {rg_f32_to_f16(1000.0f), rg_f32_to_f16(1000.0f)};
    rg_tensor th = tensor(RG_DTYPE_F16, 1, DIMS(2), h);
    const rg_tensor *hins[] = {&th};
    run_ok(make_node(RG_OP_SOFTMAX, 13, 1, 1, 0, NULL), hins, out);
    expect_shape(&out[0], RG_DTYPE_F16, 1, DIMS(2));
    EXPECT(&out[0], 0, 0.5, 0.5);
    free_outs(out, 1);

    rg_attr far = attr_int("axis", 3);
    expect_error(make_node(RG_OP_SOFTMAX, 13, 1, 1, 1, &far), ins, RG_ERR_INVALID_MODEL,
                 "axis 3 is out of range for input 0 of shape [2, 2, 2]");
}

Test(cpu_math, layer_norm_with_statistics) {
    float x[] = {1, 2, 3, 4, 0, 0, 4, 4}, w[] = {1, 2, 1, 1}, b[] = {0, 0, 0, 1};
    rg_tensor tx = tensor(RG_DTYPE_F32, 2, DIMS(2, 4), x), tw = tensor(RG_DTYPE_F32, 1, DIMS(4), w),
              tb = tensor(RG_DTYPE_F32, 1, DIMS(4), b);
    const rg_tensor *ins[] = {&tx, &tw, &tb};
    rg_tensor out[3];
    rg_attr eps = attr_float("epsilon", 0.0f);
    run_ok(make_node(RG_OP_LAYER_NORMALIZATION, 17, 3, 3, 1, &eps), ins, out);
    double inv = 1 / sqrt(1.25);
    EXPECT(&out[0], 1e-5, -1.5 * inv, -0.5 * inv * 2, 0.5 * inv, 1.5 * inv + 1, -1, -2, 1, 2);
    expect_shape(&out[1], RG_DTYPE_F32, 2, DIMS(2, 1));
    EXPECT(&out[1], 1e-6, 2.5, 2);
    expect_shape(&out[2], RG_DTYPE_F32, 2, DIMS(2, 1));
    EXPECT(&out[2], 1e-6, inv, 0.5);
    free_outs(out, 3);

    /* float16 input, no bias, axis 0 (normalise everything), statistics stay float32 */
    uint16_t hx[4], hw[4];
    float vals[] = {1, 2, 3, 4};
    for (int i = 0; i < 4; i++) hx[i] = rg_f32_to_f16(vals[i]), hw[i] = rg_f32_to_f16(1.0f);
    rg_tensor thx = tensor(RG_DTYPE_F16, 2, DIMS(2, 2), hx), thw = tensor(RG_DTYPE_F16, 2, DIMS(2, 2), hw);
    const rg_tensor *hins[] = {&thx, &thw, NULL};
    rg_attr attrs[] = {attr_int("axis", 0), attr_float("epsilon", 1e-5f)};
    run_ok(make_node(RG_OP_LAYER_NORMALIZATION, 17, 3, 3, 2, attrs), hins, out);
    expect_shape(&out[0], RG_DTYPE_F16, 2, DIMS(2, 2));
    double s = 1 / sqrt(1.25 + 1e-5);
    EXPECT(&out[0], 2e-3, -1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s);
    expect_shape(&out[1], RG_DTYPE_F32, 2, DIMS(1, 1));
    EXPECT(&out[1], 0, 2.5);
    free_outs(out, 3);

    /* only Y requested */
    const rg_node *only_y = make_node(RG_OP_LAYER_NORMALIZATION, 17, 3, 1, 1, &eps);
    run_ok(only_y, ins, out);
    cr_assert_not_null(out[0].data);
    free_outs(out, 1);

    float bad_w[] = {1, 2, 3};
    rg_tensor tbad = tensor(RG_DTYPE_F32, 1, DIMS(3), bad_w);
    const rg_tensor *bins[] = {&tx, &tbad, NULL};
    expect_error(make_node(RG_OP_LAYER_NORMALIZATION, 17, 3, 1, 0, NULL), bins, RG_ERR_SHAPE,
                 "input 1 has shape [3] which does not broadcast to the normalized shape [4]");
}

/* ----------------------------------------------------------- reductions */

Test(cpu_math, reductions) {
    float x[] = {1, 2, 3, 4, 5, 6};
    rg_tensor tx = tensor(RG_DTYPE_F32, 2, DIMS(2, 3), x);
    rg_tensor out[1];
    /* opset 13 ReduceSum: axes from the input; keepdims=0 */
    int64_t ax1[] = {1}, ax0[] = {-2};
    rg_tensor tax1 = tensor(RG_DTYPE_I64, 1, DIMS(1), ax1), tax0 = tensor(RG_DTYPE_I64, 1, DIMS(1), ax0);
    rg_attr nokeep = attr_int("keepdims", 0);
    const rg_tensor *ins1[] = {&tx, &tax1};
    run_ok(make_node(RG_OP_REDUCE_SUM, 13, 2, 1, 1, &nokeep), ins1, out);
    expect_shape(&out[0], RG_DTYPE_F32, 1, DIMS(2));
    EXPECT(&out[0], 0, 6, 15);
    free_outs(out, 1);
    const rg_tensor *ins0[] = {&tx, &tax0};
    run_ok(make_node(RG_OP_REDUCE_SUM, 13, 2, 1, 0, NULL), ins0, out);
    expect_shape(&out[0], RG_DTYPE_F32, 2, DIMS(1, 3));
    EXPECT(&out[0], 0, 5, 7, 9);
    free_outs(out, 1);
    /* no axes: everything; noop_with_empty_axes: identity */
    const rg_tensor *only_x[] = {&tx, NULL};
    run_ok(make_node(RG_OP_REDUCE_SUM, 13, 2, 1, 0, NULL), only_x, out);
    expect_shape(&out[0], RG_DTYPE_F32, 2, DIMS(1, 1));
    EXPECT(&out[0], 0, 21);
    free_outs(out, 1);
    rg_attr noop = attr_int("noop_with_empty_axes", 1);
    run_ok(make_node(RG_OP_REDUCE_SUM, 13, 2, 1, 1, &noop), only_x, out);
    expect_shape(&out[0], RG_DTYPE_F32, 2, DIMS(2, 3));
    EXPECT(&out[0], 0, 1, 2, 3, 4, 5, 6);
    free_outs(out, 1);

    /* opset 11 ReduceMean: axes attribute */
    rg_attr axes_attr = attr_ints("axes", ax1, 1);
    const rg_tensor *ins_x[] = {&tx};
    run_ok(make_node(RG_OP_REDUCE_MEAN, 11, 1, 1, 1, &axes_attr), ins_x, out);
    expect_shape(&out[0], RG_DTYPE_F32, 2, DIMS(2, 1));
    EXPECT(&out[0], 1e-6, 2, 5);
    free_outs(out, 1);
    /* opset 18 ReduceMax with an axes input, opset 13 ReduceMin with the attribute */
    run_ok(make_node(RG_OP_REDUCE_MAX, 18, 2, 1, 1, &nokeep), ins0, out);
    EXPECT(&out[0], 0, 4, 5, 6);
    free_outs(out, 1);
    rg_attr min_attrs[] = {attr_ints("axes", ax1, 1), attr_int("keepdims", 0)};
    run_ok(make_node(RG_OP_REDUCE_MIN, 13, 1, 1, 2, min_attrs), ins_x, out);
    EXPECT(&out[0], 0, 1, 4);
    free_outs(out, 1);
    run_ok(make_node(RG_OP_REDUCE_PROD, 13, 1, 1, 0, NULL), ins_x, out);
    EXPECT(&out[0], 0, 720);
    free_outs(out, 1);

    int32_t ix[] = {1, -2, 3, 4};
    rg_tensor tix = tensor(RG_DTYPE_I32, 2, DIMS(2, 2), ix);
    const rg_tensor *iins[] = {&tix, &tax1};
    run_ok(make_node(RG_OP_REDUCE_SUM, 13, 2, 1, 0, NULL), iins, out);
    expect_shape(&out[0], RG_DTYPE_I32, 2, DIMS(2, 1));
    EXPECT(&out[0], 0, -1, 7);
    free_outs(out, 1);

    /* a middle axis of a rank-3 tensor, float16 */
    uint16_t h[8];
    for (int i = 0; i < 8; i++) h[i] = rg_f32_to_f16((float)i);
    rg_tensor th = tensor(RG_DTYPE_F16, 3, DIMS(2, 2, 2), h);
    const rg_tensor *hins[] = {&th, &tax1};
    run_ok(make_node(RG_OP_REDUCE_MEAN, 18, 2, 1, 1, &nokeep), hins, out);
    expect_shape(&out[0], RG_DTYPE_F16, 2, DIMS(2, 2));
    EXPECT(&out[0], 0, 1, 2, 5, 6);
    free_outs(out, 1);

    int64_t far[] = {2};
    rg_tensor tfar = tensor(RG_DTYPE_I64, 1, DIMS(1), far);
    const rg_tensor *bad[] = {&tx, &tfar};
    expect_error(make_node(RG_OP_REDUCE_SUM, 13, 2, 1, 0, NULL), bad, RG_ERR_INVALID_MODEL,
                 "axis 2 is out of range for input 0 of shape [2, 3]");
    int64_t twice[] = {1, -1};
    rg_tensor ttwice = tensor(RG_DTYPE_I64, 1, DIMS(2), twice);
    const rg_tensor *dup[] = {&tx, &ttwice};
    expect_error(make_node(RG_OP_REDUCE_SUM, 13, 2, 1, 0, NULL), dup, RG_ERR_INVALID_MODEL, "listed twice");
}

Test(cpu_math, cumsum) {
    float x[] = {1, 2, 3, 4, 5, 6};
    rg_tensor tx = tensor(RG_DTYPE_F32, 2, DIMS(2, 3), x);
    int64_t axis1[] = {1};
    int32_t axis0[] = {0};
    rg_tensor ta1 = tensor(RG_DTYPE_I64, 0, NULL, axis1), ta0 = tensor(RG_DTYPE_I32, 1, DIMS(1), axis0);
    rg_tensor out[1];
    const rg_tensor *ins1[] = {&tx, &ta1};
    run_ok(make_node(RG_OP_CUMSUM, 14, 2, 1, 0, NULL), ins1, out);
    EXPECT(&out[0], 0, 1, 3, 6, 4, 9, 15);
    free_outs(out, 1);
    rg_attr ex_rev[] = {attr_int("exclusive", 1), attr_int("reverse", 1)};
    run_ok(make_node(RG_OP_CUMSUM, 14, 2, 1, 2, ex_rev), ins1, out);
    EXPECT(&out[0], 0, 5, 3, 0, 11, 6, 0);
    free_outs(out, 1);
    int64_t ix[] = {1, 2, 3, 4, 5, 6};
    rg_tensor tix = tensor(RG_DTYPE_I64, 2, DIMS(2, 3), ix);
    const rg_tensor *ins0[] = {&tix, &ta0};
    run_ok(make_node(RG_OP_CUMSUM, 14, 2, 1, 0, NULL), ins0, out);
    EXPECT(&out[0], 0, 1, 2, 3, 5, 7, 9);
    free_outs(out, 1);
}

/* ------------------------------------------------------------- products */

Test(cpu_math, matmul_shapes) {
    float a[] = {1, 2, 3, 4, 5, 6};       /* [2,3] */
    float b[] = {1, 0, 0, 1, 1, 1};       /* [3,2] */
    float v[] = {1, 1, 1};                /* [3] */
    rg_tensor ta = tensor(RG_DTYPE_F32, 2, DIMS(2, 3), a), tb = tensor(RG_DTYPE_F32, 2, DIMS(3, 2), b),
              tv = tensor(RG_DTYPE_F32, 1, DIMS(3), v);
    const rg_node *n = make_node(RG_OP_MATMUL, 13, 2, 1, 0, NULL);
    rg_tensor out[1];
    const rg_tensor *ab[] = {&ta, &tb};
    run_ok(n, ab, out);
    expect_shape(&out[0], RG_DTYPE_F32, 2, DIMS(2, 2));
    EXPECT(&out[0], 0, 4, 5, 10, 11);
    free_outs(out, 1);
    const rg_tensor *vb[] = {&tv, &tb};
    run_ok(n, vb, out);
    expect_shape(&out[0], RG_DTYPE_F32, 1, DIMS(2));
    EXPECT(&out[0], 0, 2, 2);
    free_outs(out, 1);
    const rg_tensor *av[] = {&ta, &tv};
    run_ok(n, av, out);
    expect_shape(&out[0], RG_DTYPE_F32, 1, DIMS(2));
    EXPECT(&out[0], 0, 6, 15);
    free_outs(out, 1);
    const rg_tensor *vv[] = {&tv, &tv};
    run_ok(n, vv, out);
    expect_shape(&out[0], RG_DTYPE_F32, 0, NULL);
    EXPECT(&out[0], 0, 3);
    free_outs(out, 1);

    /* batched A [2,2,3] with a 2-D B (folded), and B batched [2,3,2] against a 2-D A (broadcast) */
    float a3[] = {1, 2, 3, 4, 5, 6, 0, 0, 1, 1, 0, 0};
    rg_tensor ta3 = tensor(RG_DTYPE_F32, 3, DIMS(2, 2, 3), a3);
    const rg_tensor *a3b[] = {&ta3, &tb};
    run_ok(n, a3b, out);
    expect_shape(&out[0], RG_DTYPE_F32, 3, DIMS(2, 2, 2));
    EXPECT(&out[0], 0, 4, 5, 10, 11, 1, 1, 1, 0);
    free_outs(out, 1);
    float b3[] = {1, 0, 0, 1, 1, 1, 2, 0, 0, 2, 0, 0};
    rg_tensor tb3 = tensor(RG_DTYPE_F32, 3, DIMS(2, 3, 2), b3);
    const rg_tensor *ab3[] = {&ta, &tb3};
    run_ok(n, ab3, out);
    expect_shape(&out[0], RG_DTYPE_F32, 3, DIMS(2, 2, 2));
    EXPECT(&out[0], 0, 4, 5, 10, 11, 2, 4, 8, 10);
    free_outs(out, 1);
    /* [2,1,2,3] x [2,3,2] -> [2,2,2,2] */
    rg_tensor ta4 = tensor(RG_DTYPE_F32, 4, DIMS(2, 1, 2, 3), a3);
    const rg_tensor *a4b3[] = {&ta4, &tb3};
    run_ok(n, a4b3, out);
    expect_shape(&out[0], RG_DTYPE_F32, 4, DIMS(2, 2, 2, 2));
    EXPECT(&out[0], 0, 4, 5, 10, 11, 2, 4, 8, 10, 1, 1, 1, 0, 0, 0, 2, 0);
    free_outs(out, 1);

    /* a vector against batched matrices, and batched matrices against a vector */
    const rg_tensor *vb3[] = {&tv, &tb3};
    run_ok(n, vb3, out);
    expect_shape(&out[0], RG_DTYPE_F32, 2, DIMS(2, 2));
    EXPECT(&out[0], 0, 2, 2, 2, 2);
    free_outs(out, 1);
    const rg_tensor *a3v[] = {&ta3, &tv};
    run_ok(n, a3v, out);
    expect_shape(&out[0], RG_DTYPE_F32, 2, DIMS(2, 2));
    EXPECT(&out[0], 0, 6, 15, 1, 1);
    free_outs(out, 1);

    const rg_tensor *bad[] = {&ta, &ta};
    expect_error(n, bad, RG_ERR_SHAPE, "input 1 has shape [2, 3]");
    rg_tensor ta5 = tensor(RG_DTYPE_F32, 3, DIMS(3, 2, 3), a); /* data unused: fails first */
    const rg_tensor *bad_batch[] = {&ta5, &tb3};
    expect_error(n, bad_batch, RG_ERR_SHAPE, "batch dims do not broadcast");
}

Test(cpu_math, matmul_dtypes) {
    uint16_t ha[] = {rg_f32_to_f16(1), rg_f32_to_f16(2), rg_f32_to_f16(3), rg_f32_to_f16(4)};
    rg_tensor ta = tensor(RG_DTYPE_F16, 2, DIMS(2, 2), ha);
    const rg_node *n = make_node(RG_OP_MATMUL, 13, 2, 1, 0, NULL);
    rg_tensor out[1];
    const rg_tensor *aa[] = {&ta, &ta};
    run_ok(n, aa, out);
    expect_shape(&out[0], RG_DTYPE_F16, 2, DIMS(2, 2));
    EXPECT(&out[0], 0, 7, 10, 15, 22);
    free_outs(out, 1);
    uint16_t ba[] = {rg_f32_to_bf16(1), rg_f32_to_bf16(2), rg_f32_to_bf16(3), rg_f32_to_bf16(4)};
    rg_tensor tba = tensor(RG_DTYPE_BF16, 2, DIMS(2, 2), ba);
    const rg_tensor *bb[] = {&tba, &tba};
    run_ok(n, bb, out);
    expect_shape(&out[0], RG_DTYPE_BF16, 2, DIMS(2, 2));
    EXPECT(&out[0], 0, 7, 10, 15, 22);
    free_outs(out, 1);
    int32_t ia[] = {1, 2, 3, 4};
    rg_tensor tia = tensor(RG_DTYPE_I32, 2, DIMS(2, 2), ia);
    const rg_tensor *ii[] = {&tia, &tia};
    run_ok(n, ii, out);
    expect_shape(&out[0], RG_DTYPE_I32, 2, DIMS(2, 2));
    EXPECT(&out[0], 0, 7, 10, 15, 22);
    free_outs(out, 1);
    const rg_tensor *mixed[] = {&ta, &tia};
    expect_error(n, mixed, RG_ERR_DTYPE, "input 1 has dtype int32 but input 0 has float16");
}

Test(cpu_math, gemm) {
    float a[] = {1, 2, 3, 4, 5, 6}; /* [2,3]; as transA: [3,2] read transposed */
    float b[] = {1, 0, 0, 1, 1, 1}; /* [3,2] */
    float c[] = {100, 200};         /* [2]: a row broadcast over M */
    rg_tensor ta = tensor(RG_DTYPE_F32, 2, DIMS(2, 3), a), tb = tensor(RG_DTYPE_F32, 2, DIMS(3, 2), b),
              tc = tensor(RG_DTYPE_F32, 1, DIMS(2), c);
    rg_tensor out[1];
    rg_attr ab[] = {attr_float("alpha", 2.0f), attr_float("beta", 0.5f)};
    const rg_tensor *ins[] = {&ta, &tb, &tc};
    run_ok(make_node(RG_OP_GEMM, 13, 3, 1, 2, ab), ins, out);
    expect_shape(&out[0], RG_DTYPE_F32, 2, DIMS(2, 2));
    EXPECT(&out[0], 0, 58, 110, 70, 122);
    free_outs(out, 1);
    /* transposes, hand-computed on 2x2 operands */
    rg_attr tt[] = {attr_int("transA", 1), attr_int("transB", 1)};
    float a2[] = {1, 2, 3, 4}; /* [2,2] */
    float b2[] = {5, 6, 7, 8}; /* [2,2] */
    rg_tensor ta2 = tensor(RG_DTYPE_F32, 2, DIMS(2, 2), a2), tb2 = tensor(RG_DTYPE_F32, 2, DIMS(2, 2), b2);
    const rg_tensor *ins3[] = {&ta2, &tb2};
    rg_attr ta_only = attr_int("transA", 1), tb_only = attr_int("transB", 1);
    run_ok(make_node(RG_OP_GEMM, 13, 2, 1, 1, &ta_only), ins3, out);
    EXPECT(&out[0], 0, 26, 30, 38, 44); /* [[1,3],[2,4]] x [[5,6],[7,8]] */
    free_outs(out, 1);
    run_ok(make_node(RG_OP_GEMM, 13, 2, 1, 1, &tb_only), ins3, out);
    EXPECT(&out[0], 0, 17, 23, 39, 53); /* [[1,2],[3,4]] x [[5,7],[6,8]] */
    free_outs(out, 1);
    run_ok(make_node(RG_OP_GEMM, 13, 2, 1, 2, tt), ins3, out);
    EXPECT(&out[0], 0, 23, 31, 34, 46); /* [[1,3],[2,4]] x [[5,7],[6,8]] */
    free_outs(out, 1);

    float bad_c[] = {1, 2, 3};
    rg_tensor tbad = tensor(RG_DTYPE_F32, 1, DIMS(3), bad_c);
    const rg_tensor *bad[] = {&ta, &tb, &tbad};
    expect_error(make_node(RG_OP_GEMM, 13, 3, 1, 0, NULL), bad, RG_ERR_SHAPE,
                 "input 2 has shape [3] which does not broadcast to [2, 2]");
}

/* ------------------------------------------------------- failing memory */

/* Every allocation a kernel makes may fail: the kernel must report
 * RG_ERR_NOMEM and free what it took. */
Test(cpu_math, allocation_failures_are_clean) {
    uint16_t h[6];
    for (int i = 0; i < 6; i++) h[i] = rg_f32_to_f16((float)i);
    rg_tensor th = tensor(RG_DTYPE_F16, 2, DIMS(2, 3), h), thw = tensor(RG_DTYPE_F16, 1, DIMS(3), h);
    rg_tensor thb = tensor(RG_DTYPE_F16, 2, DIMS(3, 2), h);
    const rg_node *nodes[] = {
        make_node(RG_OP_LAYER_NORMALIZATION, 17, 3, 3, 0, NULL),
        make_node(RG_OP_MATMUL, 13, 2, 1, 0, NULL),
        make_node(RG_OP_SOFTMAX, 13, 1, 1, 0, NULL),
        make_node(RG_OP_REDUCE_SUM, 13, 1, 1, 0, NULL),
        make_node(RG_OP_GEMM, 13, 2, 1, 0, NULL),
    };
    const rg_tensor *ln[] = {&th, &thw, &thw}, *mm[] = {&th, &thb};
    const rg_tensor *const *inputs[] = {ln, mm, ln, ln, mm};
    for (size_t k = 0; k < sizeof nodes / sizeof nodes[0]; k++) {
        bool succeeded = false;
        for (int64_t fail = 0; fail < 16 && !succeeded; fail++) {
            counting.fail_after = (int64_t)counting.allocations + fail;
            rg_tensor out[3];
            rg_error err = {0};
            size_t before = counting.in_use;
            rg_status st = run(nodes[k], inputs[k], out, &err);
            if (st == RG_OK) {
                succeeded = true;
                free_outs(out, (int)nodes[k]->noutputs);
            } else {
                cr_assert_eq(st, RG_ERR_NOMEM, "%s: %s", rg_op_name(nodes[k]->op), err.message);
            }
            cr_assert_eq(counting.in_use, before, "%s leaked after failure %lld", rg_op_name(nodes[k]->op),
                         (long long)fail);
        }
        cr_assert(succeeded);
    }
    counting.fail_after = -1;
}

/* ---------------------------------------------------------- the helpers */

Test(cpu_math, shape_helpers) {
    char buf[RG_CPU_SHAPE_TEXT_MAX];
    cr_assert_str_eq(rg_cpu_shape_text(2, DIMS(3, 5), buf, sizeof buf), "[3, 5]");
    cr_assert_str_eq(rg_cpu_shape_text(0, NULL, buf, sizeof buf), "[]");
    int rank;
    int64_t dims[RG_MAX_RANK];
    cr_assert(rg_cpu_broadcast_shapes(2, DIMS(4, 1), 3, DIMS(2, 1, 5), &rank, dims));
    cr_assert_eq(rank, 3);
    cr_assert(dims[0] == 2 && dims[1] == 4 && dims[2] == 5);
    cr_assert_not(rg_cpu_broadcast_shapes(1, DIMS(3), 1, DIMS(4), &rank, dims));
    int64_t strides[3];
    rg_cpu_broadcast_strides(3, DIMS(2, 4, 5), 2, DIMS(4, 1), strides);
    cr_assert(strides[0] == 0 && strides[1] == 1 && strides[2] == 0);
}
