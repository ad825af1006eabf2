/*
 * The ONNX importer against the fixtures of make_models.py: what a good model
 * becomes, and that each kind of bad model is refused with a message naming
 * the culprit. Every import runs on a counting allocator, so each test also
 * checks that nothing leaks on success or failure.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend/onnx.h"

static const char *data_path(const char *name) {
    static char buf[4096];
    const char *root = getenv("RG_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/tests/frontend/data/%s", root ? root : ".", name);
    return buf;
}

/* Imports `name`; on success hands the graph over, on failure checks that the
 * allocator is balanced. */
static rg_status import(const char *name, rg_counting_allocator *ca, rg_graph **g, rg_error *err) {
    rg_counting_allocator_init(ca, NULL, -1);
    *g = NULL;
    rg_status st = rg_onnx_import_file(data_path(name), &ca->base, g, err);
    if (st != RG_OK) {
        cr_assert_null(*g);
        cr_assert_eq(ca->in_use, 0, "%s leaked %zu bytes on failure", name, ca->in_use);
    }
    return st;
}

static void done(rg_graph *g, rg_counting_allocator *ca) {
    rg_graph_free(g);
    cr_assert_eq(ca->in_use, 0, "leaked %zu bytes", ca->in_use);
}

static void expect_error(const char *name, rg_status want, const char *const *needles) {
    rg_counting_allocator ca;
    rg_graph *g;
    rg_error err = {0};
    rg_status st = import(name, &ca, &g, &err);
    cr_assert_eq(st, want, "%s: got %s (%s)", name, rg_status_string(st), err.message);
    for (; *needles; needles++)
        cr_assert(strstr(err.message, *needles), "%s: message '%s' lacks '%s'", name, err.message, *needles);
}

#define EXPECT_ERROR(name, status, ...) expect_error(name, status, (const char *const[]){__VA_ARGS__, NULL})

static const rg_value *value(const rg_graph *g, const char *name) {
    const rg_value *v = rg_graph_find_value(g, name);
    cr_assert_not_null(v, "no value '%s'", name);
    return v;
}

Test(onnx, two_node_model) {
    rg_counting_allocator ca;
    rg_graph *g;
    rg_error err = {0};
    cr_assert_eq(import("two_node.onnx", &ca, &g, &err), RG_OK, "%s", err.message);
    cr_assert_eq(g->opset, 17);
    cr_assert_eq(g->ir_version, 8);
    cr_assert_str_eq(g->name, "g");
    cr_assert_str_eq(g->producer, "make_models 1");
    cr_assert_eq(g->nnodes, 2);
    cr_assert_eq(g->nodes[0]->op, RG_OP_MATMUL);
    cr_assert_eq(g->nodes[1]->op, RG_OP_ADD);
    cr_assert_str_eq(g->nodes[0]->name, "mm");
    cr_assert_eq(g->nodes[0]->opset, 17);
    /* "b" is listed as an input but is an initializer: a constant */
    cr_assert_eq(g->ninputs, 1);
    const rg_value *x = g->inputs[0];
    cr_assert_str_eq(x->name, "x");
    cr_assert_eq(x->dtype, RG_DTYPE_F32);
    cr_assert_eq(x->rank, 3);
    cr_assert_eq(x->dims[0].nterms, 1);
    cr_assert_str_eq(g->symbols[x->dims[0].term[0].sym[0]], "batch");
    cr_assert_str_eq(g->symbols[x->dims[1].term[0].sym[0]], "seq");
    int64_t four;
    cr_assert(rg_dim_is_const(&x->dims[2], &four) && four == 4);
    const rg_value *w = value(g, "w"), *b = value(g, "b");
    cr_assert_not_null(w->constant);
    cr_assert_not_null(b->constant);
    cr_assert(!b->is_input);
    cr_assert_eq(w->constant->rank, 2);
    cr_assert_eq(((const float *)w->constant->data)[5], 5.0f);
    cr_assert_eq(((const float *)b->constant->data)[3], 4.0f);
    cr_assert_eq(g->nodes[1]->inputs[0], g->nodes[0]->outputs[0]);
    cr_assert_eq(g->noutputs, 1);
    cr_assert_str_eq(g->outputs[0]->name, "y");
    cr_assert_eq(g->outputs[0]->producer, g->nodes[1]);
    done(g, &ca);
}

Test(onnx, initializers_of_every_dtype) {
    rg_counting_allocator ca;
    rg_graph *g;
    rg_error err = {0};
    cr_assert_eq(import("initializers.onnx", &ca, &g, &err), RG_OK, "%s", err.message);
    const float *f = value(g, "f32_raw")->constant->data;
    cr_assert(f[0] == 1.5f && f[1] == -2.0f);
    f = value(g, "f32_typed")->constant->data;
    cr_assert(f[0] == 1.5f && f[1] == -2.0f);
    const int64_t *i64 = value(g, "i64_typed")->constant->data;
    cr_assert(i64[0] == 1 && i64[1] == -2 && i64[2] == (int64_t)1 << 40);
    const int32_t *i32 = value(g, "i32_typed")->constant->data;
    cr_assert(i32[0] == 7 && i32[1] == -7);
    const uint16_t *h = value(g, "f16_typed")->constant->data;
    cr_assert(rg_f16_to_f32(h[0]) == 1.0f && rg_f16_to_f32(h[1]) == -2.0f);
    h = value(g, "f16_raw")->constant->data;
    cr_assert(rg_f16_to_f32(h[0]) == 1.0f && rg_f16_to_f32(h[1]) == 0.5f);
    h = value(g, "bf16_raw")->constant->data;
    cr_assert(rg_bf16_to_f32(h[0]) == 1.0f && rg_bf16_to_f32(h[1]) == -2.0f);
    const int8_t *i8 = value(g, "i8_typed")->constant->data;
    cr_assert(i8[0] == -128 && i8[1] == 127);
    const uint8_t *u8 = value(g, "u8_typed")->constant->data;
    cr_assert(u8[0] == 0 && u8[1] == 255);
    const rg_value *bools = value(g, "bool_typed");
    cr_assert_eq(bools->dtype, RG_DTYPE_BOOL);
    u8 = bools->constant->data;
    cr_assert(u8[0] == 1 && u8[1] == 0 && u8[2] == 1);
    const rg_value *scalar = value(g, "scalar");
    cr_assert_eq(scalar->rank, 0);
    cr_assert_eq(*(const int64_t *)scalar->constant->data, 42);
    const rg_value *empty = value(g, "empty");
    cr_assert_eq(empty->rank, 2);
    cr_assert_eq(empty->constant->nbytes, 0);
    cr_assert_eq(g->noutputs, 12);
    done(g, &ca);
}

Test(onnx, constant_nodes) {
    rg_counting_allocator ca;
    rg_graph *g;
    rg_error err = {0};
    cr_assert_eq(import("constants.onnx", &ca, &g, &err), RG_OK, "%s", err.message);
    cr_assert_eq(g->nnodes, 1, "Constant nodes become values, not nodes");
    const rg_tensor *t = value(g, "c_tensor")->constant;
    cr_assert(t->dtype == RG_DTYPE_F32 && t->rank == 2 && ((const float *)t->data)[3] == 4.0f);
    t = value(g, "c_float")->constant;
    cr_assert(t->dtype == RG_DTYPE_F32 && t->rank == 0 && *(const float *)t->data == 2.5f);
    t = value(g, "c_floats")->constant;
    cr_assert(t->rank == 1 && t->dims[0] == 3 && ((const float *)t->data)[2] == 3.0f);
    t = value(g, "c_int")->constant;
    cr_assert(t->dtype == RG_DTYPE_I64 && t->rank == 0 && *(const int64_t *)t->data == -3);
    t = value(g, "c_ints")->constant;
    cr_assert(t->rank == 1 && t->dims[0] == 2 && ((const int64_t *)t->data)[1] == 5);
    cr_assert_eq(g->nodes[0]->inputs[1], value(g, "c_floats"));
    done(g, &ca);
}

Test(onnx, attributes_of_every_kind) {
    rg_counting_allocator ca;
    rg_graph *g;
    rg_error err = {0};
    cr_assert_eq(import("attrs.onnx", &ca, &g, &err), RG_OK, "%s", err.message);
    const rg_node *n = g->nodes[0];
    cr_assert_eq(n->nattrs, 11);
    float f;
    int64_t i;
    const char *s;
    const int64_t *ints;
    size_t count;
    cr_assert_eq(rg_node_attr_float(n, "a_float", 0, &f, &err), RG_OK);
    cr_assert_eq(f, 0.25f);
    cr_assert_eq(rg_node_attr_int(n, "a_int", 0, &i, &err), RG_OK);
    cr_assert_eq(i, 7);
    cr_assert_eq(rg_node_attr_string(n, "a_string", NULL, &s, &err), RG_OK);
    cr_assert_str_eq(s, "hello");
    cr_assert_eq(rg_node_attr(n, "a_string")->s_len, 5);
    cr_assert_eq(rg_node_attr_ints(n, "a_ints", &ints, &count, &err), RG_OK);
    cr_assert(count == 3 && ints[2] == 3);
    const rg_attr *a = rg_node_attr(n, "a_tensor");
    cr_assert(a->kind == RG_ATTR_TENSOR && a->t->dtype == RG_DTYPE_I32 && ((const int32_t *)a->t->data)[1] == 2);
    a = rg_node_attr(n, "a_floats");
    cr_assert(a->kind == RG_ATTR_FLOATS && a->count == 2 && a->floats[1] == 2.0f);
    a = rg_node_attr(n, "a_strings");
    cr_assert(a->kind == RG_ATTR_STRINGS && a->count == 2);
    cr_assert_str_eq(a->strings[1], "bc");
    cr_assert_eq(a->string_lens[1], 2);
    a = rg_node_attr(n, "a_tensors");
    cr_assert(a->kind == RG_ATTR_TENSORS && a->count == 2 && a->tensors[1]->dtype == RG_DTYPE_I64);
    cr_assert_eq(((const int64_t *)a->tensors[1]->data)[1], 9);
    cr_assert_eq(rg_node_attr(n, "a_graph")->kind, RG_ATTR_GRAPH);
    cr_assert_eq(rg_node_attr(n, "a_graphs")->kind, RG_ATTR_GRAPHS);
    cr_assert_eq(rg_node_attr(n, "a_type_proto")->kind, RG_ATTR_TYPE_PROTO);
    /* a wrong-kind look-up is an error naming the attribute (callers add the node) */
    cr_assert_eq(rg_node_attr_int(n, "a_float", 0, &i, &err), RG_ERR_INVALID_MODEL);
    cr_assert(strstr(err.message, "a_float") && strstr(err.message, "float"));
    done(g, &ca);
}

Test(onnx, external_data_in_folder) {
    rg_counting_allocator ca;
    rg_graph *g;
    rg_error err = {0};
    cr_assert_eq(import("ext_ok.onnx", &ca, &g, &err), RG_OK, "%s", err.message);
    const float *w = value(g, "w")->constant->data;
    cr_assert(w[0] == 1.0f && w[3] == 4.0f);
    done(g, &ca);
}

Test(onnx, external_data_refused) {
    EXPECT_ERROR("ext_escape.onnx", RG_ERR_INVALID_MODEL, "'w'", "escapes", "../make_models.py");
    EXPECT_ERROR("ext_absolute.onnx", RG_ERR_INVALID_MODEL, "'w'", "absolute");
    EXPECT_ERROR("ext_range.onnx", RG_ERR_INVALID_MODEL, "'w'", "offset 24", "beyond the end");
}

Test(onnx, external_data_needs_a_folder) {
    FILE *f = fopen(data_path("ext_ok.onnx"), "rb");
    cr_assert_not_null(f);
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    rg_graph *g = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_onnx_import_buffer(buf, n, NULL, NULL, &g, &err), RG_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "external data"), "%s", err.message);
    cr_assert_null(g);
}

/* A symlink inside the folder that points outside it is refused too. */
Test(onnx, external_data_symlink_escape) {
    char dir[] = "/tmp/rg_onnx_test_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char model[600], link[600];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    snprintf(link, sizeof link, "%s/ext_ok.bin", dir);
    FILE *in = fopen(data_path("ext_ok.onnx"), "rb"), *out = fopen(model, "wb");
    cr_assert(in && out);
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    cr_assert_eq(symlink(data_path("ext_ok.bin"), link), 0);
    rg_graph *g = NULL;
    rg_error err = {0};
    rg_status st = rg_onnx_import_file(model, NULL, &g, &err);
    unlink(link);
    unlink(model);
    rmdir(dir);
    cr_assert_eq(st, RG_ERR_INVALID_MODEL, "%s", err.message);
    cr_assert(strstr(err.message, "escapes"), "%s", err.message);
}

Test(onnx, opsets_ops_and_domains_refused) {
    EXPECT_ERROR("opset10.onnx", RG_ERR_UNSUPPORTED, "ai.onnx", "opset 10");
    EXPECT_ERROR("opset22.onnx", RG_ERR_UNSUPPORTED, "ai.onnx", "opset 22");
    EXPECT_ERROR("unknown_op.onnx", RG_ERR_UNSUPPORTED, "'mystery'", "FooBar", "ai.onnx", "opset 17");
    EXPECT_ERROR("gelu_opset17.onnx", RG_ERR_UNSUPPORTED, "'gelu'", "opset 20", "opset 17");
    EXPECT_ERROR("custom_domain.onnx", RG_ERR_UNSUPPORTED, "'custom'", "Foo", "com.example", "opset 1");
    EXPECT_ERROR("constant_string.onnx", RG_ERR_UNSUPPORTED, "Constant", "value_string");
    EXPECT_ERROR("double_input.onnx", RG_ERR_UNSUPPORTED, "'x'", "DOUBLE");
}

Test(onnx, broken_graphs_refused) {
    EXPECT_ERROR("bad_arity.onnx", RG_ERR_INVALID_MODEL, "'add3'", "3 inputs", "takes 2");
    EXPECT_ERROR("cycle.onnx", RG_ERR_INVALID_MODEL, "cycle");
    EXPECT_ERROR("dangling.onnx", RG_ERR_INVALID_MODEL, "'add'", "'missing'");
    EXPECT_ERROR("bad_raw_size.onnx", RG_ERR_INVALID_MODEL, "'w'", "12 bytes", "16");
    EXPECT_ERROR("negative_dim.onnx", RG_ERR_INVALID_MODEL, "'x'", "negative");
    EXPECT_ERROR("no_such_file.onnx", RG_ERR_IO, "no_such_file.onnx");
}

Test(onnx, nodes_sorted) {
    rg_counting_allocator ca;
    rg_graph *g;
    rg_error err = {0};
    cr_assert_eq(import("unordered.onnx", &ca, &g, &err), RG_OK, "%s", err.message);
    cr_assert_str_eq(g->nodes[0]->name, "first");
    cr_assert_str_eq(g->nodes[1]->name, "second");
    done(g, &ca);
}

static unsigned char *slurp(const char *name, size_t *size) {
    FILE *f = fopen(data_path(name), "rb");
    cr_assert_not_null(f);
    static unsigned char buf[16384];
    *size = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

/* Every prefix of a model, and the model with bytes flipped, is refused or
 * imported cleanly, never crashes and never leaks. */
Test(onnx, truncated_and_garbled) {
    size_t size;
    const unsigned char *model = slurp("two_node.onnx", &size);
    unsigned char copy[16384];
    rg_error err;
    size_t imported = 0;
    for (size_t n = 0; n < size; n++) {
        rg_counting_allocator ca;
        rg_counting_allocator_init(&ca, NULL, -1);
        rg_graph *g = NULL;
        /* a cut that falls between fields can leave a valid model (say,
         * without its last opset import); it must then import cleanly */
        if (rg_onnx_import_buffer(model, n, NULL, &ca.base, &g, &err) == RG_OK) {
            rg_graph_free(g);
            imported++;
        }
        cr_assert_eq(ca.in_use, 0);
    }
    cr_assert_lt(imported, size / 8, "%zu of %zu prefixes imported", imported, size);
    for (size_t at = 0; at < size; at++) {
        memcpy(copy, model, size);
        copy[at] ^= 0xA5;
        rg_counting_allocator ca;
        rg_counting_allocator_init(&ca, NULL, -1);
        rg_graph *g = NULL;
        if (rg_onnx_import_buffer(copy, size, NULL, &ca.base, &g, &err) == RG_OK) rg_graph_free(g);
        cr_assert_eq(ca.in_use, 0);
    }
    rg_graph *g = NULL;
    cr_assert_eq(rg_onnx_import_buffer("", 0, NULL, NULL, &g, &err), RG_ERR_PARSE);
    cr_assert(strstr(err.message, "empty"));
    cr_assert_eq(rg_onnx_import_buffer("\xff\xff\xff\xff", 4, NULL, NULL, &g, &err), RG_ERR_PARSE);
}

/* Failing the Nth allocation for every N up to a successful import gives a
 * clean error and no leak. */
static void fail_every_allocation(const char *name) {
    for (int64_t n = 0;; n++) {
        rg_counting_allocator ca;
        rg_counting_allocator_init(&ca, NULL, n);
        rg_graph *g = NULL;
        rg_error err = {0};
        rg_status st = rg_onnx_import_file(data_path(name), &ca.base, &g, &err);
        if (st == RG_OK) {
            rg_graph_free(g);
            cr_assert_eq(ca.in_use, 0);
            cr_assert_gt(n, 0);
            return;
        }
        cr_assert(st == RG_ERR_NOMEM || st == RG_ERR_PARSE, "%s, fail after %lld: %s (%s)", name, (long long)n,
                  rg_status_string(st), err.message);
        cr_assert_null(g);
        cr_assert_eq(ca.in_use, 0, "%s, fail after %lld: leaked %zu", name, (long long)n, ca.in_use);
        cr_assert_lt(n, 100000);
    }
}

Test(onnx, allocation_failures) {
    fail_every_allocation("two_node.onnx");
    fail_every_allocation("attrs.onnx");
    fail_every_allocation("constants.onnx");
    fail_every_allocation("ext_ok.onnx");
}

Test(onnx, read_tensor_file) {
    rg_counting_allocator ca;
    rg_counting_allocator_init(&ca, NULL, -1);
    rg_tensor t;
    rg_error err = {0};
    cr_assert_eq(rg_onnx_read_tensor_file(data_path("tensor_2x3.pb"), &ca.base, &t, &err), RG_OK, "%s",
                 err.message);
    cr_assert(t.dtype == RG_DTYPE_F32 && t.rank == 2 && t.dims[0] == 2 && t.dims[1] == 3 && t.nbytes == 24);
    cr_assert_eq(((const float *)t.data)[5], 5.0f);
    rg_mem_free(&ca.base, t.data, t.nbytes ? t.nbytes : 1);
    cr_assert_eq(ca.in_use, 0);
    /* a model is not a tensor; a missing file is an I/O error */
    cr_assert_neq(rg_onnx_read_tensor_file(data_path("two_node.onnx"), &ca.base, &t, &err), RG_OK);
    cr_assert_eq(rg_onnx_read_tensor_file(data_path("nothing.pb"), &ca.base, &t, &err), RG_ERR_IO);
    cr_assert_eq(ca.in_use, 0);
}
