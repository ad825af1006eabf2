/*
 * CPU shape and data-movement kernels (runtime/cpu_shape.c), called directly
 * through rg_cpu_shape_kernels on nodes of a real graph: results per op,
 * opset-dependent forms, negative axes and steps, error messages, absurd
 * sizes, allocation failure, and no leaks (a counting allocator backs every
 * output and must be back to zero after each case).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "runtime/cpu_internal.h"

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define MAX_IO 8

static rg_tensor mk(rg_dtype dtype, int rank, const int64_t *dims, const void *data) {
    rg_tensor t = {0};
    rg_status st = rg_tensor_set_shape(&t, dtype, rank, dims, NULL);
    cr_assert_eq(st, RG_OK);
    t.data = (void *)data;
    return t;
}

static rg_tensor f32(int rank, const int64_t *dims, const float *data) { return mk(RG_DTYPE_F32, rank, dims, data); }
static rg_tensor i64(int rank, const int64_t *dims, const int64_t *data) { return mk(RG_DTYPE_I64, rank, dims, data); }
static rg_tensor i64_1d(int n, const int64_t *data) { return i64(1, (const int64_t[]){n}, data); }

static rg_attr a_int(const char *name, int64_t v) { return (rg_attr){.name = name, .kind = RG_ATTR_INT, .i = v}; }
static rg_attr a_ints(const char *name, size_t n, const int64_t *v) {
    return (rg_attr){.name = name, .kind = RG_ATTR_INTS, .count = n, .ints = v};
}

/* One kernel call: a graph holding just this node, outputs from a counting
 * allocator. */
typedef struct call {
    rg_counting_allocator counting;
    rg_cpu_ctx ctx;
    rg_tensor out[MAX_IO];
    uint32_t noutputs;
    rg_error err;
    rg_status status;
} call;

static rg_status run_fail_after(call *c, rg_op op, int opset, uint32_t nin, const rg_tensor *const *in,
                                uint32_t nout, uint32_t nattrs, const rg_attr *attrs, int64_t fail_after) {
    memset(c, 0, sizeof *c);
    rg_counting_allocator_init(&c->counting, rg_allocator_default(), fail_after);
    c->ctx.alloc = &c->counting.base;
    c->ctx.num_threads = 1;
    c->noutputs = nout;
    rg_graph *g = NULL;
    cr_assert_eq(rg_graph_new(NULL, &g, NULL), RG_OK);
    rg_value *vin[MAX_IO] = {0}, *vout[MAX_IO] = {0};
    char name[32];
    for (uint32_t i = 0; i < nin; i++) {
        if (!in[i]) continue; /* omitted optional input */
        snprintf(name, sizeof name, "in%u", i);
        cr_assert_eq(rg_graph_add_value(g, name, in[i]->dtype, -1, NULL, &vin[i], NULL), RG_OK);
    }
    for (uint32_t i = 0; i < nout; i++) {
        snprintf(name, sizeof name, "out%u", i);
        cr_assert_eq(rg_graph_add_value(g, name, RG_DTYPE_UNDEFINED, -1, NULL, &vout[i], NULL), RG_OK);
    }
    rg_node *node = NULL;
    cr_assert_eq(rg_graph_add_node(g, op, "n", opset, nin, vin, nout, vout, &node, NULL), RG_OK);
    if (nattrs) {
        rg_attr *copy = rg_arena_array(&g->arena, nattrs, sizeof *copy);
        cr_assert(copy);
        for (uint32_t i = 0; i < nattrs; i++) {
            copy[i] = attrs[i];
            if (attrs[i].kind == RG_ATTR_INTS && attrs[i].count) {
                int64_t *ints = rg_arena_array(&g->arena, attrs[i].count, sizeof *ints);
                cr_assert(ints);
                memcpy(ints, attrs[i].ints, sizeof *ints * attrs[i].count);
                copy[i].ints = ints;
            }
        }
        rg_node_set_attrs(node, nattrs, copy);
    }
    rg_cpu_kernel k = rg_cpu_shape_kernels[op];
    cr_assert(k, "no shape kernel for %s", rg_op_name(op));
    c->status = k(&c->ctx, node, in, c->out, &c->err);
    if (c->status != RG_OK) {
        /* what the executor does: free whatever the kernel left */
        for (uint32_t o = 0; o < nout; o++)
            if (c->out[o].data) rg_cpu_free_tensor(&c->ctx, &c->out[o]);
        cr_assert_eq(c->counting.in_use, 0, "leak on the error path: %zu bytes", c->counting.in_use);
    }
    rg_graph_free(g);
    return c->status;
}

static rg_status run(call *c, rg_op op, int opset, uint32_t nin, const rg_tensor *const *in, uint32_t nout,
                     uint32_t nattrs, const rg_attr *attrs) {
    return run_fail_after(c, op, opset, nin, in, nout, nattrs, attrs, -1);
}

static void done(call *c) {
    for (uint32_t o = 0; o < c->noutputs; o++)
        if (c->out[o].data) rg_cpu_free_tensor(&c->ctx, &c->out[o]);
    cr_assert_eq(c->counting.in_use, 0, "leak: %zu bytes", c->counting.in_use);
}

static void expect_ok(call *c) { cr_assert_eq(c->status, RG_OK, "%s", c->err.message); }

static void expect_shape(const rg_tensor *t, rg_dtype dtype, int rank, const int64_t *dims) {
    cr_assert_eq(t->dtype, dtype);
    cr_assert_eq(t->rank, rank, "rank %d, want %d", t->rank, rank);
    for (int i = 0; i < rank; i++) cr_assert_eq(t->dims[i], dims[i], "dim %d is %lld, want %lld", i,
                                                (long long)t->dims[i], (long long)dims[i]);
}

static void expect_f32(const rg_tensor *t, int rank, const int64_t *dims, const float *want) {
    expect_shape(t, RG_DTYPE_F32, rank, dims);
    size_t n = rg_tensor_numel(t);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(((const float *)t->data)[i], want[i], "element %zu is %g, want %g", i,
                     ((const float *)t->data)[i], want[i]);
}

static void expect_i64(const rg_tensor *t, int rank, const int64_t *dims, const int64_t *want) {
    expect_shape(t, RG_DTYPE_I64, rank, dims);
    size_t n = rg_tensor_numel(t);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(((const int64_t *)t->data)[i], want[i], "element %zu is %lld, want %lld", i,
                     (long long)((const int64_t *)t->data)[i], (long long)want[i]);
}

static void expect_error(call *c, rg_status status, const char *fragment) {
    cr_assert_eq(c->status, status, "status %d (%s), want %d", c->status, c->err.message, status);
    if (fragment) cr_assert(strstr(c->err.message, fragment), "message '%s' lacks '%s'", c->err.message, fragment);
}

static const float seq6[] = {0, 1, 2, 3, 4, 5};
static const float seq24[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};

/* ------------------------------------------------------- Identity, Dropout */

Test(cpu_shape, identity_all_dtypes) {
    static const uint8_t bytes[48] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    for (int dt = RG_DTYPE_F32; dt < RG_DTYPE_COUNT; dt++) {
        rg_tensor x = mk((rg_dtype)dt, 2, DIMS(2, 3), bytes);
        call c;
        run(&c, RG_OP_IDENTITY, 13, 1, (const rg_tensor *[]){&x}, 1, 0, NULL);
        expect_ok(&c);
        expect_shape(&c.out[0], (rg_dtype)dt, 2, DIMS(2, 3));
        cr_assert_eq(memcmp(c.out[0].data, bytes, x.nbytes), 0);
        done(&c);
    }
}

Test(cpu_shape, dropout_inference) {
    rg_tensor x = f32(1, DIMS(6), seq6);
    call c;
    run(&c, RG_OP_DROPOUT, 13, 1, (const rg_tensor *[]){&x}, 2, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 1, DIMS(6), seq6);
    expect_shape(&c.out[1], RG_DTYPE_BOOL, 1, DIMS(6));
    for (int i = 0; i < 6; i++) cr_assert_eq(((uint8_t *)c.out[1].data)[i], 1);
    done(&c);

    float ratio = 0.25f;
    uint8_t train = 1;
    rg_tensor r = f32(0, NULL, &ratio), t = mk(RG_DTYPE_BOOL, 0, NULL, &train);
    run(&c, RG_OP_DROPOUT, 13, 3, (const rg_tensor *[]){&x, &r, &t}, 1, 0, NULL);
    expect_error(&c, RG_ERR_UNSUPPORTED, "training");
    done(&c);

    ratio = 0;
    run(&c, RG_OP_DROPOUT, 13, 3, (const rg_tensor *[]){&x, &r, &t}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 1, DIMS(6), seq6);
    done(&c);
}

/* ------------------------------------------------------------------- Shape */

Test(cpu_shape, shape_and_start_end) {
    rg_tensor x = f32(3, DIMS(2, 3, 4), seq24);
    call c;
    run(&c, RG_OP_SHAPE, 13, 1, (const rg_tensor *[]){&x}, 1, 0, NULL);
    expect_ok(&c);
    expect_i64(&c.out[0], 1, DIMS(3), DIMS(2, 3, 4));
    done(&c);

    rg_attr attrs[] = {a_int("start", 1), a_int("end", -1)};
    run(&c, RG_OP_SHAPE, 15, 1, (const rg_tensor *[]){&x}, 1, 2, attrs);
    expect_ok(&c);
    expect_i64(&c.out[0], 1, DIMS(1), DIMS(3));
    done(&c);

    rg_attr clamp[] = {a_int("start", -10), a_int("end", 10)};
    run(&c, RG_OP_SHAPE, 15, 1, (const rg_tensor *[]){&x}, 1, 2, clamp);
    expect_ok(&c);
    expect_i64(&c.out[0], 1, DIMS(3), DIMS(2, 3, 4));
    done(&c);

    /* before opset 15 start/end do not exist */
    run(&c, RG_OP_SHAPE, 13, 1, (const rg_tensor *[]){&x}, 1, 2, attrs);
    expect_ok(&c);
    expect_i64(&c.out[0], 1, DIMS(3), DIMS(2, 3, 4));
    done(&c);

    rg_attr empty[] = {a_int("start", 2), a_int("end", 1)};
    run(&c, RG_OP_SHAPE, 15, 1, (const rg_tensor *[]){&x}, 1, 2, empty);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_I64, 1, DIMS(0));
    done(&c);
}

/* --------------------------------------------------------- ConstantOfShape */

Test(cpu_shape, constant_of_shape) {
    rg_tensor shape = i64_1d(2, DIMS(2, 3));
    call c;
    run(&c, RG_OP_CONSTANT_OF_SHAPE, 13, 1, (const rg_tensor *[]){&shape}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(2, 3), (const float[]){0, 0, 0, 0, 0, 0});
    done(&c);

    int64_t seven = 7;
    rg_tensor value = i64_1d(1, &seven);
    rg_attr attr = {.name = "value", .kind = RG_ATTR_TENSOR, .t = &value};
    run(&c, RG_OP_CONSTANT_OF_SHAPE, 13, 1, (const rg_tensor *[]){&shape}, 1, 1, &attr);
    expect_ok(&c);
    expect_i64(&c.out[0], 2, DIMS(2, 3), DIMS(7, 7, 7, 7, 7, 7));
    done(&c);

    rg_tensor scalar_shape = i64(1, DIMS(0), NULL);
    run(&c, RG_OP_CONSTANT_OF_SHAPE, 13, 1, (const rg_tensor *[]){&scalar_shape}, 1, 1, &attr);
    expect_ok(&c);
    expect_i64(&c.out[0], 0, NULL, DIMS(7));
    done(&c);

    rg_tensor neg = i64_1d(2, DIMS(2, -3));
    run(&c, RG_OP_CONSTANT_OF_SHAPE, 13, 1, (const rg_tensor *[]){&neg}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "negative dim -3");
    done(&c);

    rg_tensor huge = i64_1d(3, DIMS(1 << 20, 1 << 20, 1 << 20));
    run(&c, RG_OP_CONSTANT_OF_SHAPE, 13, 1, (const rg_tensor *[]){&huge}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "too large");
    done(&c);

    rg_tensor overflow = i64_1d(2, DIMS(INT64_MAX, INT64_MAX));
    run(&c, RG_OP_CONSTANT_OF_SHAPE, 13, 1, (const rg_tensor *[]){&overflow}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, NULL);
    done(&c);
}

Test(cpu_shape, out_of_memory) {
    rg_tensor shape = i64_1d(2, DIMS(2, 3));
    call c;
    run_fail_after(&c, RG_OP_CONSTANT_OF_SHAPE, 13, 1, (const rg_tensor *[]){&shape}, 1, 0, NULL, 0);
    expect_error(&c, RG_ERR_NOMEM, NULL);
    done(&c);

    /* Split's second output fails: the first is freed by the caller */
    rg_tensor x = f32(1, DIMS(6), seq6);
    run_fail_after(&c, RG_OP_SPLIT, 13, 1, (const rg_tensor *[]){&x}, 2, 0, NULL, 1);
    expect_error(&c, RG_ERR_NOMEM, NULL);
    done(&c);
}

/* ------------------------------------------------------------------ Expand */

Test(cpu_shape, expand) {
    rg_tensor x = f32(2, DIMS(3, 1), (const float[]){1, 2, 3});
    rg_tensor shape = i64_1d(3, DIMS(2, 1, 2));
    call c;
    run(&c, RG_OP_EXPAND, 13, 2, (const rg_tensor *[]){&x, &shape}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 3, DIMS(2, 3, 2), (const float[]){1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
    done(&c);

    /* the given shape may be smaller than the input's */
    rg_tensor small = i64_1d(1, DIMS(1));
    run(&c, RG_OP_EXPAND, 13, 2, (const rg_tensor *[]){&x, &small}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(3, 1), (const float[]){1, 2, 3});
    done(&c);

    rg_tensor bad = i64_1d(2, DIMS(2, 2));
    run(&c, RG_OP_EXPAND, 13, 2, (const rg_tensor *[]){&x, &bad}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "cannot expand [3, 1] to [2, 2]");
    done(&c);

    rg_tensor huge = i64_1d(3, DIMS(1 << 30, 1 << 30, 1));
    run(&c, RG_OP_EXPAND, 13, 2, (const rg_tensor *[]){&x, &huge}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, NULL);
    done(&c);
}

/* ------------------------------------------------------ Reshape and Flatten */

Test(cpu_shape, reshape) {
    rg_tensor x = f32(3, DIMS(2, 3, 4), seq24);
    call c;
    rg_tensor s1 = i64_1d(2, DIMS(0, -1));
    run(&c, RG_OP_RESHAPE, 13, 2, (const rg_tensor *[]){&x, &s1}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(2, 12), seq24);
    done(&c);

    rg_tensor s2 = i64_1d(4, DIMS(-1, 2, 1, 3));
    run(&c, RG_OP_RESHAPE, 13, 2, (const rg_tensor *[]){&x, &s2}, 1, 0, NULL);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 4, DIMS(4, 2, 1, 3));
    done(&c);

    rg_tensor x6 = f32(2, DIMS(2, 3), seq6);
    rg_tensor bad = i64_1d(2, DIMS(4, -1));
    run(&c, RG_OP_RESHAPE, 13, 2, (const rg_tensor *[]){&x6, &bad}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "cannot reshape [2, 3] (6 elements) to [4, -1]");
    done(&c);

    rg_tensor two = i64_1d(2, DIMS(-1, -1));
    run(&c, RG_OP_RESHAPE, 13, 2, (const rg_tensor *[]){&x6, &two}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "more than one -1");
    done(&c);

    rg_tensor count = i64_1d(1, DIMS(7));
    run(&c, RG_OP_RESHAPE, 13, 2, (const rg_tensor *[]){&x6, &count}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "cannot reshape [2, 3] (6 elements) to [7]");
    done(&c);

    /* allowzero: 0 is a real zero dim */
    rg_tensor empty = f32(2, DIMS(0, 3), NULL);
    rg_tensor z = i64_1d(2, DIMS(3, 0));
    rg_attr allow = a_int("allowzero", 1);
    run(&c, RG_OP_RESHAPE, 14, 2, (const rg_tensor *[]){&empty, &z}, 1, 1, &allow);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 2, DIMS(3, 0));
    done(&c);
    /* without it, 0 copies the input's dim 1 (3): [3, 3] has 9 elements */
    run(&c, RG_OP_RESHAPE, 14, 2, (const rg_tensor *[]){&empty, &z}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "cannot reshape [0, 3] (0 elements) to [3, 0]");
    done(&c);
}

Test(cpu_shape, flatten) {
    rg_tensor x = f32(3, DIMS(2, 3, 4), seq24);
    call c;
    run(&c, RG_OP_FLATTEN, 13, 1, (const rg_tensor *[]){&x}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(2, 12), seq24);
    done(&c);
    rg_attr neg = a_int("axis", -1);
    run(&c, RG_OP_FLATTEN, 13, 1, (const rg_tensor *[]){&x}, 1, 1, &neg);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 2, DIMS(6, 4));
    done(&c);
    rg_attr zero = a_int("axis", 0);
    run(&c, RG_OP_FLATTEN, 13, 1, (const rg_tensor *[]){&x}, 1, 1, &zero);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 2, DIMS(1, 24));
    done(&c);
    rg_attr bad = a_int("axis", 4);
    run(&c, RG_OP_FLATTEN, 13, 1, (const rg_tensor *[]){&x}, 1, 1, &bad);
    expect_error(&c, RG_ERR_INVALID_MODEL, "axis 4");
    done(&c);
}

/* ---------------------------------------------------- Unsqueeze and Squeeze */

Test(cpu_shape, unsqueeze) {
    rg_tensor x = f32(2, DIMS(2, 3), seq6);
    call c;
    rg_attr axes = a_ints("axes", 2, DIMS(0, 3));
    run(&c, RG_OP_UNSQUEEZE, 11, 1, (const rg_tensor *[]){&x}, 1, 1, &axes);
    expect_ok(&c);
    expect_f32(&c.out[0], 4, DIMS(1, 2, 3, 1), seq6);
    done(&c);

    rg_tensor ax = i64_1d(2, DIMS(-1, 1));
    run(&c, RG_OP_UNSQUEEZE, 13, 2, (const rg_tensor *[]){&x, &ax}, 1, 0, NULL);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 4, DIMS(2, 1, 3, 1));
    done(&c);

    rg_tensor dup = i64_1d(2, DIMS(1, -3));
    run(&c, RG_OP_UNSQUEEZE, 13, 2, (const rg_tensor *[]){&x, &dup}, 1, 0, NULL);
    expect_error(&c, RG_ERR_INVALID_MODEL, "repeated");
    done(&c);

    rg_tensor far = i64_1d(1, DIMS(3));
    run(&c, RG_OP_UNSQUEEZE, 13, 2, (const rg_tensor *[]){&x, &far}, 1, 0, NULL);
    expect_error(&c, RG_ERR_INVALID_MODEL, "axis 3 is out of range");
    done(&c);
}

Test(cpu_shape, squeeze) {
    rg_tensor x = f32(4, DIMS(1, 2, 1, 3), seq6);
    call c;
    run(&c, RG_OP_SQUEEZE, 13, 1, (const rg_tensor *[]){&x}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(2, 3), seq6);
    done(&c);

    rg_tensor ax = i64_1d(1, DIMS(-2));
    run(&c, RG_OP_SQUEEZE, 13, 2, (const rg_tensor *[]){&x, &ax}, 1, 0, NULL);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 3, DIMS(1, 2, 3));
    done(&c);

    rg_attr attr = a_ints("axes", 1, DIMS(0));
    run(&c, RG_OP_SQUEEZE, 11, 1, (const rg_tensor *[]){&x}, 1, 1, &attr);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 3, DIMS(2, 1, 3));
    done(&c);

    rg_tensor bad = i64_1d(1, DIMS(1));
    run(&c, RG_OP_SQUEEZE, 13, 2, (const rg_tensor *[]){&x, &bad}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "cannot squeeze axis 1 of [1, 2, 1, 3]");
    done(&c);
}

/* --------------------------------------------------------------- Transpose */

Test(cpu_shape, transpose) {
    rg_tensor x = f32(2, DIMS(2, 3), seq6);
    call c;
    run(&c, RG_OP_TRANSPOSE, 13, 1, (const rg_tensor *[]){&x}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(3, 2), (const float[]){0, 3, 1, 4, 2, 5});
    done(&c);

    rg_tensor y = f32(3, DIMS(2, 3, 4), seq24);
    rg_attr perm = a_ints("perm", 3, DIMS(1, 0, 2));
    run(&c, RG_OP_TRANSPOSE, 13, 1, (const rg_tensor *[]){&y}, 1, 1, &perm);
    expect_ok(&c);
    expect_f32(&c.out[0], 3, DIMS(3, 2, 4),
               (const float[]){0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7, 16, 17, 18, 19, 8, 9, 10, 11, 20, 21, 22, 23});
    done(&c);

    rg_attr bad = a_ints("perm", 3, DIMS(0, 0, 2));
    run(&c, RG_OP_TRANSPOSE, 13, 1, (const rg_tensor *[]){&y}, 1, 1, &bad);
    expect_error(&c, RG_ERR_INVALID_MODEL, "permutation");
    done(&c);
}

/* ------------------------------------------------------------------ Concat */

Test(cpu_shape, concat) {
    rg_tensor a = f32(2, DIMS(2, 1), (const float[]){1, 2});
    rg_tensor b = f32(2, DIMS(2, 2), (const float[]){3, 4, 5, 6});
    rg_tensor e = f32(2, DIMS(2, 0), NULL);
    call c;
    rg_attr axis = a_int("axis", -1);
    run(&c, RG_OP_CONCAT, 13, 3, (const rg_tensor *[]){&a, &e, &b}, 1, 1, &axis);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(2, 3), (const float[]){1, 3, 4, 2, 5, 6});
    done(&c);

    rg_attr axis0 = a_int("axis", 0);
    run(&c, RG_OP_CONCAT, 13, 2, (const rg_tensor *[]){&a, &b}, 1, 1, &axis0);
    expect_error(&c, RG_ERR_SHAPE, "input 1 [2, 2] with input 0 [2, 1]");
    done(&c);

    rg_tensor ids = i64_1d(2, DIMS(1, 2)), none = i64(1, DIMS(0), NULL);
    run(&c, RG_OP_CONCAT, 13, 3, (const rg_tensor *[]){&none, &ids, &ids}, 1, 1, &axis0);
    expect_ok(&c);
    expect_i64(&c.out[0], 1, DIMS(4), DIMS(1, 2, 1, 2));
    done(&c);
}

/* ------------------------------------------------------------------- Split */

Test(cpu_shape, split_forms) {
    rg_tensor x = f32(2, DIMS(2, 6), (const float[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    call c;
    rg_attr axis = a_int("axis", -1);
    run(&c, RG_OP_SPLIT, 13, 1, (const rg_tensor *[]){&x}, 3, 1, &axis);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(2, 2), (const float[]){0, 1, 6, 7});
    expect_f32(&c.out[1], 2, DIMS(2, 2), (const float[]){2, 3, 8, 9});
    expect_f32(&c.out[2], 2, DIMS(2, 2), (const float[]){4, 5, 10, 11});
    done(&c);

    rg_attr attrs[] = {a_int("axis", 1), a_ints("split", 2, DIMS(1, 5))};
    run(&c, RG_OP_SPLIT, 11, 1, (const rg_tensor *[]){&x}, 2, 2, attrs);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(2, 1), (const float[]){0, 6});
    expect_f32(&c.out[1], 2, DIMS(2, 5), (const float[]){1, 2, 3, 4, 5, 7, 8, 9, 10, 11});
    done(&c);

    rg_tensor sizes = i64_1d(2, DIMS(4, 2));
    run(&c, RG_OP_SPLIT, 13, 2, (const rg_tensor *[]){&x, &sizes}, 2, 1, &axis);
    expect_ok(&c);
    expect_f32(&c.out[1], 2, DIMS(2, 2), (const float[]){4, 5, 10, 11});
    done(&c);

    rg_tensor wrong = i64_1d(2, DIMS(4, 3));
    run(&c, RG_OP_SPLIT, 13, 2, (const rg_tensor *[]){&x, &wrong}, 2, 1, &axis);
    expect_error(&c, RG_ERR_SHAPE, "axis size 6");
    done(&c);

    rg_tensor seven = f32(1, DIMS(7), (const float[]){1, 2, 3, 4, 5, 6, 7});
    rg_attr num = a_int("num_outputs", 4);
    run(&c, RG_OP_SPLIT, 18, 1, (const rg_tensor *[]){&seven}, 4, 1, &num);
    expect_ok(&c);
    expect_f32(&c.out[0], 1, DIMS(2), (const float[]){1, 2});
    expect_f32(&c.out[2], 1, DIMS(2), (const float[]){5, 6});
    expect_f32(&c.out[3], 1, DIMS(1), (const float[]){7});
    done(&c);

    run(&c, RG_OP_SPLIT, 13, 1, (const rg_tensor *[]){&seven}, 2, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "evenly");
    done(&c);
}

/* ------------------------------------------------------------------- Slice */

Test(cpu_shape, slice_basic_and_negative_steps) {
    rg_tensor x = f32(2, DIMS(4, 6), seq24);
    call c;
    rg_tensor starts = i64_1d(2, DIMS(1, 0)), ends = i64_1d(2, DIMS(3, INT64_MAX));
    rg_tensor axes = i64_1d(2, DIMS(0, -1)), steps = i64_1d(2, DIMS(1, 2));
    run(&c, RG_OP_SLICE, 13, 5, (const rg_tensor *[]){&x, &starts, &ends, &axes, &steps}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(2, 3), (const float[]){6, 8, 10, 12, 14, 16});
    done(&c);

    /* reverse the last axis from -1 down to the start (INT64_MIN end) */
    rg_tensor s2 = i64_1d(1, DIMS(-1)), e2 = i64_1d(1, DIMS(INT64_MIN)), a2 = i64_1d(1, DIMS(1));
    rg_tensor st2 = i64_1d(1, DIMS(-2));
    run(&c, RG_OP_SLICE, 13, 5, (const rg_tensor *[]){&x, &s2, &e2, &a2, &st2}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(4, 3),
               (const float[]){5, 3, 1, 11, 9, 7, 17, 15, 13, 23, 21, 19});
    done(&c);

    /* int32 starts/ends, clamped, no axes or steps */
    int32_t s3[] = {-100, 2}, e3[] = {100, 1000};
    rg_tensor st3 = mk(RG_DTYPE_I32, 1, DIMS(2), s3), en3 = mk(RG_DTYPE_I32, 1, DIMS(2), e3);
    run(&c, RG_OP_SLICE, 13, 3, (const rg_tensor *[]){&x, &st3, &en3}, 1, 0, NULL);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 2, DIMS(4, 4));
    cr_assert_eq(((float *)c.out[0].data)[0], 2);
    done(&c);

    /* empty result */
    rg_tensor s4 = i64_1d(1, DIMS(3)), e4 = i64_1d(1, DIMS(1));
    run(&c, RG_OP_SLICE, 13, 3, (const rg_tensor *[]){&x, &s4, &e4}, 1, 0, NULL);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 2, DIMS(0, 6));
    done(&c);

    /* a huge negative step takes one element */
    rg_tensor s5 = i64_1d(1, DIMS(INT64_MAX)), e5 = i64_1d(1, DIMS(INT64_MIN)), st5 = i64_1d(1, DIMS(INT64_MIN));
    rg_tensor a5 = i64_1d(1, DIMS(0));
    run(&c, RG_OP_SLICE, 13, 5, (const rg_tensor *[]){&x, &s5, &e5, &a5, &st5}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(1, 6), (const float[]){18, 19, 20, 21, 22, 23});
    done(&c);

    rg_tensor zero = i64_1d(1, DIMS(0));
    run(&c, RG_OP_SLICE, 13, 5, (const rg_tensor *[]){&x, &s4, &e4, &a5, &zero}, 1, 0, NULL);
    expect_error(&c, RG_ERR_INVALID_MODEL, "0 step");
    done(&c);

    rg_tensor dup = i64_1d(2, DIMS(0, -2));
    run(&c, RG_OP_SLICE, 13, 4, (const rg_tensor *[]){&x, &starts, &ends, &dup}, 1, 0, NULL);
    expect_error(&c, RG_ERR_INVALID_MODEL, "repeated");
    done(&c);
}

/* ------------------------------------------------------------------ Gather */

Test(cpu_shape, gather) {
    rg_tensor x = f32(2, DIMS(3, 2), seq6);
    call c;
    rg_tensor idx = i64(2, DIMS(2, 2), DIMS(0, 2, -1, 1));
    run(&c, RG_OP_GATHER, 13, 2, (const rg_tensor *[]){&x, &idx}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 3, DIMS(2, 2, 2), (const float[]){0, 1, 4, 5, 4, 5, 2, 3});
    done(&c);

    int32_t one = 1;
    rg_tensor scalar = mk(RG_DTYPE_I32, 0, NULL, &one);
    rg_attr axis = a_int("axis", -1);
    run(&c, RG_OP_GATHER, 13, 2, (const rg_tensor *[]){&x, &scalar}, 1, 1, &axis);
    expect_ok(&c);
    expect_f32(&c.out[0], 1, DIMS(3), (const float[]){1, 3, 5});
    done(&c);

    rg_tensor bad = i64_1d(2, DIMS(1, 3));
    run(&c, RG_OP_GATHER, 13, 2, (const rg_tensor *[]){&x, &bad}, 1, 0, NULL);
    expect_error(&c, RG_ERR_INVALID_ARGUMENT, "holds 3 at position 1, out of range for axis 0 of size 3");
    done(&c);

    rg_tensor neg = i64_1d(1, DIMS(-4));
    run(&c, RG_OP_GATHER, 13, 2, (const rg_tensor *[]){&x, &neg}, 1, 0, NULL);
    expect_error(&c, RG_ERR_INVALID_ARGUMENT, "holds -4");
    done(&c);
}

Test(cpu_shape, gather_elements) {
    rg_tensor x = f32(2, DIMS(3, 3), (const float[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    rg_tensor idx = i64(2, DIMS(2, 3), DIMS(1, 2, 0, 2, 0, -3));
    call c;
    run(&c, RG_OP_GATHER_ELEMENTS, 13, 2, (const rg_tensor *[]){&x, &idx}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(2, 3), (const float[]){4, 8, 3, 7, 2, 3});
    done(&c);

    rg_attr axis = a_int("axis", 1);
    rg_tensor idx2 = i64(2, DIMS(2, 2), DIMS(0, 0, 1, 0));
    run(&c, RG_OP_GATHER_ELEMENTS, 13, 2, (const rg_tensor *[]){&x, &idx2}, 1, 1, &axis);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(2, 2), (const float[]){1, 1, 5, 4});
    done(&c);

    rg_tensor bad = i64(2, DIMS(1, 1), DIMS(3));
    run(&c, RG_OP_GATHER_ELEMENTS, 13, 2, (const rg_tensor *[]){&x, &bad}, 1, 0, NULL);
    expect_error(&c, RG_ERR_INVALID_ARGUMENT, "holds 3");
    done(&c);

    rg_tensor wide = i64(2, DIMS(1, 4), DIMS(0, 0, 0, 0));
    run(&c, RG_OP_GATHER_ELEMENTS, 13, 2, (const rg_tensor *[]){&x, &wide}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, NULL);
    done(&c);
}

Test(cpu_shape, gather_nd) {
    rg_tensor x = mk(RG_DTYPE_I32, 3, DIMS(2, 2, 2), (const int32_t[]){0, 1, 2, 3, 4, 5, 6, 7});
    call c;
    rg_tensor idx = i64(2, DIMS(2, 2), DIMS(0, 1, 1, 0));
    run(&c, RG_OP_GATHER_ND, 13, 2, (const rg_tensor *[]){&x, &idx}, 1, 0, NULL);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_I32, 2, DIMS(2, 2));
    cr_assert_eq(memcmp(c.out[0].data, (const int32_t[]){2, 3, 4, 5}, 16), 0);
    done(&c);

    /* batch_dims 1: data [2, 2, 2], indices [2, 1] address axis 1 per batch */
    rg_tensor bidx = i64(2, DIMS(2, 1), DIMS(1, 0));
    rg_attr b = a_int("batch_dims", 1);
    run(&c, RG_OP_GATHER_ND, 13, 2, (const rg_tensor *[]){&x, &bidx}, 1, 1, &b);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_I32, 2, DIMS(2, 2));
    cr_assert_eq(memcmp(c.out[0].data, (const int32_t[]){2, 3, 4, 5}, 16), 0);
    done(&c);

    rg_tensor full = i64(2, DIMS(2, 3), DIMS(0, 0, 1, -1, -1, -1));
    run(&c, RG_OP_GATHER_ND, 13, 2, (const rg_tensor *[]){&x, &full}, 1, 0, NULL);
    expect_ok(&c);
    cr_assert_eq(memcmp(c.out[0].data, (const int32_t[]){1, 7}, 8), 0);
    done(&c);

    rg_tensor bad = i64(1, DIMS(2), DIMS(0, 2));
    run(&c, RG_OP_GATHER_ND, 13, 2, (const rg_tensor *[]){&x, &bad}, 1, 0, NULL);
    expect_error(&c, RG_ERR_INVALID_ARGUMENT, "holds 2");
    done(&c);
}

/* -------------------------------------------------------------------- Tile */

Test(cpu_shape, tile) {
    rg_tensor x = f32(2, DIMS(2, 2), (const float[]){1, 2, 3, 4});
    rg_tensor reps = i64_1d(2, DIMS(2, 3));
    call c;
    run(&c, RG_OP_TILE, 13, 2, (const rg_tensor *[]){&x, &reps}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(4, 6),
               (const float[]){1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
    done(&c);

    rg_tensor neg = i64_1d(2, DIMS(1, -1));
    run(&c, RG_OP_TILE, 13, 2, (const rg_tensor *[]){&x, &neg}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "negative");
    done(&c);

    rg_tensor huge = i64_1d(2, DIMS(INT64_MAX / 2, 1));
    run(&c, RG_OP_TILE, 13, 2, (const rg_tensor *[]){&x, &huge}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, NULL);
    done(&c);
}

/* ------------------------------------------------------------------- Range */

Test(cpu_shape, range) {
    call c;
    int64_t s = 10, l = 4, d = -3;
    rg_tensor ts = i64(0, NULL, &s), tl = i64(0, NULL, &l), td = i64(0, NULL, &d);
    run(&c, RG_OP_RANGE, 13, 3, (const rg_tensor *[]){&ts, &tl, &td}, 1, 0, NULL);
    expect_ok(&c);
    expect_i64(&c.out[0], 1, DIMS(2), DIMS(10, 7));
    done(&c);

    float fs = 1, fl = 5, fd = 1.5f;
    rg_tensor a = f32(0, NULL, &fs), b = f32(0, NULL, &fl), e = f32(0, NULL, &fd);
    run(&c, RG_OP_RANGE, 13, 3, (const rg_tensor *[]){&a, &b, &e}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 1, DIMS(3), (const float[]){1, 2.5f, 4});
    done(&c);

    int32_t i0 = 0, i5 = 5, i2 = 2;
    rg_tensor x0 = mk(RG_DTYPE_I32, 0, NULL, &i0), x5 = mk(RG_DTYPE_I32, 0, NULL, &i5), x2 = mk(RG_DTYPE_I32, 0, NULL, &i2);
    run(&c, RG_OP_RANGE, 13, 3, (const rg_tensor *[]){&x0, &x5, &x2}, 1, 0, NULL);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_I32, 1, DIMS(3));
    cr_assert_eq(memcmp(c.out[0].data, (const int32_t[]){0, 2, 4}, 12), 0);
    done(&c);

    int64_t zero = 0;
    rg_tensor tz = i64(0, NULL, &zero);
    run(&c, RG_OP_RANGE, 13, 3, (const rg_tensor *[]){&ts, &tl, &tz}, 1, 0, NULL);
    expect_error(&c, RG_ERR_INVALID_ARGUMENT, "delta");
    done(&c);

    int64_t lo = INT64_MIN, hi = INT64_MAX, one = 1;
    rg_tensor tlo = i64(0, NULL, &lo), thi = i64(0, NULL, &hi), tone = i64(0, NULL, &one);
    run(&c, RG_OP_RANGE, 13, 3, (const rg_tensor *[]){&tlo, &thi, &tone}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "too many");
    done(&c);

    run(&c, RG_OP_RANGE, 13, 3, (const rg_tensor *[]){&ts, &b, &td}, 1, 0, NULL);
    expect_error(&c, RG_ERR_DTYPE, NULL);
    done(&c);
}

/* ------------------------------------------------------------------- Trilu */

Test(cpu_shape, trilu) {
    rg_tensor x = f32(2, DIMS(3, 3), (const float[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    call c;
    run(&c, RG_OP_TRILU, 14, 1, (const rg_tensor *[]){&x}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(3, 3), (const float[]){1, 2, 3, 0, 5, 6, 0, 0, 9});
    done(&c);

    int64_t k = -1;
    rg_tensor tk = i64(0, NULL, &k);
    rg_attr lower = a_int("upper", 0);
    run(&c, RG_OP_TRILU, 14, 2, (const rg_tensor *[]){&x, &tk}, 1, 1, &lower);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(3, 3), (const float[]){0, 0, 0, 4, 0, 0, 7, 8, 0});
    done(&c);

    int64_t big = INT64_MIN;
    rg_tensor tb = i64(0, NULL, &big);
    run(&c, RG_OP_TRILU, 14, 2, (const rg_tensor *[]){&x, &tb}, 1, 0, NULL);
    expect_ok(&c);
    expect_f32(&c.out[0], 2, DIMS(3, 3), (const float[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    done(&c);

    rg_tensor v = f32(1, DIMS(3), seq6);
    run(&c, RG_OP_TRILU, 14, 1, (const rg_tensor *[]){&v}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "rank 2");
    done(&c);
}

/* ------------------------------------------------- every dtype, every size */

/* Element i of the input holds the bytes i+1 (every byte), so a moved element
 * is recognised whatever its size. */
Test(cpu_shape, strided_moves_every_dtype) {
    static uint8_t bytes[6 * 8];
    for (int dt = RG_DTYPE_F32; dt < RG_DTYPE_COUNT; dt++) {
        size_t esize = rg_dtype_size((rg_dtype)dt);
        for (int i = 0; i < 6; i++) memset(bytes + (size_t)i * esize, i + 1, esize);
        rg_tensor x = mk((rg_dtype)dt, 2, DIMS(2, 3), bytes);
        call c;
        run(&c, RG_OP_TRANSPOSE, 13, 1, (const rg_tensor *[]){&x}, 1, 0, NULL);
        expect_ok(&c);
        expect_shape(&c.out[0], (rg_dtype)dt, 2, DIMS(3, 2));
        static const int want_t[] = {1, 4, 2, 5, 3, 6};
        for (int i = 0; i < 6; i++)
            for (size_t b = 0; b < esize; b++)
                cr_assert_eq(((uint8_t *)c.out[0].data)[(size_t)i * esize + b], want_t[i], "%s element %d",
                             rg_dtype_name((rg_dtype)dt), i);
        done(&c);

        /* reversed columns: a negative inner stride */
        rg_tensor s = i64_1d(1, DIMS(-1)), e = i64_1d(1, DIMS(INT64_MIN)), a = i64_1d(1, DIMS(1)),
                  st = i64_1d(1, DIMS(-1));
        run(&c, RG_OP_SLICE, 13, 5, (const rg_tensor *[]){&x, &s, &e, &a, &st}, 1, 0, NULL);
        expect_ok(&c);
        static const int want_s[] = {3, 2, 1, 6, 5, 4};
        for (int i = 0; i < 6; i++)
            cr_assert_eq(((uint8_t *)c.out[0].data)[(size_t)i * esize], want_s[i], "%s element %d",
                         rg_dtype_name((rg_dtype)dt), i);
        done(&c);

        rg_attr axis = a_int("axis", 1);
        rg_tensor idx2 = i64(2, DIMS(2, 2), DIMS(2, 0, 1, 1));
        run(&c, RG_OP_GATHER_ELEMENTS, 13, 2, (const rg_tensor *[]){&x, &idx2}, 1, 1, &axis);
        expect_ok(&c);
        static const int want_g[] = {3, 1, 5, 5};
        for (int i = 0; i < 4; i++)
            cr_assert_eq(((uint8_t *)c.out[0].data)[(size_t)i * esize], want_g[i], "%s element %d",
                         rg_dtype_name((rg_dtype)dt), i);
        done(&c);
    }
}

Test(cpu_shape, rank_limits) {
    rg_tensor x = f32(4, DIMS(1, 1, 1, 1), seq6);
    rg_tensor idx = i64(6, DIMS(1, 1, 1, 1, 1, 1), DIMS(0));
    call c;
    run(&c, RG_OP_GATHER, 13, 2, (const rg_tensor *[]){&x, &idx}, 1, 0, NULL);
    expect_error(&c, RG_ERR_UNSUPPORTED, "rank 9");
    done(&c);

    rg_tensor nine = i64_1d(9, DIMS(1, 1, 1, 1, 1, 1, 1, 1, 1));
    run(&c, RG_OP_RESHAPE, 13, 2, (const rg_tensor *[]){&x, &nine}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "at most 8");
    done(&c);
}

/* An empty tensor may carry huge dims beside its zero one: nothing may loop
 * over them or overflow on them (UBSan watches in sanitizer builds). */
Test(cpu_shape, empty_tensors_with_huge_dims) {
    const int64_t big = INT64_C(1) << 62;
    rg_tensor x = f32(2, DIMS(0, big), NULL), y = f32(3, DIMS(0, big, 4), NULL);
    call c;
    rg_attr perm = a_ints("perm", 3, DIMS(0, 2, 1));
    run(&c, RG_OP_TRANSPOSE, 13, 1, (const rg_tensor *[]){&y}, 1, 1, &perm);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 3, DIMS(0, 4, big));
    done(&c);

    rg_tensor s = i64_1d(2, DIMS(1, 3)), e = i64_1d(2, DIMS(INT64_MAX, 0)), a = i64_1d(2, DIMS(1, 2));
    rg_tensor st = i64_1d(2, DIMS(3, -1));
    run(&c, RG_OP_SLICE, 13, 5, (const rg_tensor *[]){&y, &s, &e, &a, &st}, 1, 0, NULL);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 3, DIMS(0, big / 3, 3));
    done(&c);

    rg_tensor none = i64(1, DIMS(0), NULL);
    rg_attr axis0 = a_int("axis", 0), axis1 = a_int("axis", 1);
    run(&c, RG_OP_GATHER, 13, 2, (const rg_tensor *[]){&x, &none}, 1, 1, &axis0);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 2, DIMS(0, big));
    done(&c);
    run(&c, RG_OP_GATHER, 13, 2, (const rg_tensor *[]){&x, &none}, 1, 1, &axis1);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 2, DIMS(0, 0));
    done(&c);

    run(&c, RG_OP_SPLIT, 13, 1, (const rg_tensor *[]){&x}, 2, 1, &axis1);
    expect_ok(&c);
    expect_shape(&c.out[1], RG_DTYPE_F32, 2, DIMS(0, big / 2));
    done(&c);

    run(&c, RG_OP_CONCAT, 13, 2, (const rg_tensor *[]){&x, &x}, 1, 1, &axis0);
    expect_ok(&c);
    expect_shape(&c.out[0], RG_DTYPE_F32, 2, DIMS(0, big));
    done(&c);
    rg_tensor x2 = f32(2, DIMS(0, INT64_MAX - 1), NULL);
    run(&c, RG_OP_CONCAT, 13, 2, (const rg_tensor *[]){&x, &x2}, 1, 1, &axis1);
    expect_error(&c, RG_ERR_SHAPE, "overflows");
    done(&c);

    run(&c, RG_OP_TRILU, 14, 1, (const rg_tensor *[]){&x}, 1, 0, NULL);
    expect_ok(&c);
    done(&c);

    rg_tensor z = f32(3, DIMS(0, big, big), NULL);
    run(&c, RG_OP_FLATTEN, 13, 1, (const rg_tensor *[]){&z}, 1, 1, &axis1);
    expect_error(&c, RG_ERR_SHAPE, "overflows");
    done(&c);

    rg_tensor reps = i64_1d(2, DIMS(2, 5));
    run(&c, RG_OP_TILE, 13, 2, (const rg_tensor *[]){&x, &reps}, 1, 0, NULL);
    expect_error(&c, RG_ERR_SHAPE, "overflows");
    done(&c);
}
