/*
 * Plan files: round trips through memory and files compared structurally,
 * and a corrupt plan in every way we can think of (bad magic, newer version,
 * bad checksum, every truncation, every flipped byte with the checksum
 * repaired, absurd counts, unknown and missing sections, allocation failure),
 * each of which must be a clean error that leaves nothing allocated.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/plan_write.h"
#include "ir/serialize.h"
#include "runtime/plan.h"

/* ------------------------------------------------------------ the graph */

static rg_tensor *tensor(rg_graph *g, rg_dtype dtype, int rank, const int64_t *dims) {
    rg_tensor *t;
    cr_assert_eq(rg_graph_new_tensor(g, dtype, rank, dims, &t, NULL), RG_OK);
    for (size_t i = 0; i < t->nbytes; i++) ((uint8_t *)t->data)[i] = (uint8_t)(i * 7 + (size_t)dtype);
    return t;
}

static rg_value *value(rg_graph *g, const char *name, rg_dtype dtype, int rank, const rg_dim *dims) {
    rg_value *v;
    cr_assert_eq(rg_graph_add_value(g, name, dtype, rank, dims, &v, NULL), RG_OK);
    return v;
}

static rg_value *constant(rg_graph *g, const char *name, rg_tensor *t) {
    rg_value *v = value(g, name, t->dtype, -1, NULL);
    cr_assert_eq(rg_value_set_constant(g, v, t, NULL), RG_OK);
    return v;
}

static rg_node *node(rg_graph *g, rg_op op, const char *name, uint32_t nin, rg_value *const *ins, uint32_t nout,
                     rg_value *const *outs) {
    rg_node *n;
    cr_assert_eq(rg_graph_add_node(g, op, name, 17, nin, ins, nout, outs, &n, NULL), RG_OK);
    return n;
}

/* A graph touching every feature of the format: symbolic, unknown and
 * unranked shapes; constants of several dtypes (one payload shared, one
 * empty); omitted inputs and outputs; a variadic op; attributes of every kind. */
static rg_graph *make_graph(const rg_allocator *alloc) {
    rg_graph *g;
    cr_assert_eq(rg_graph_new(alloc, &g, NULL), RG_OK);
    g->name = "test graph";
    g->producer = "ragged tests 1.0";
    g->opset = 17;
    g->ir_version = 8;
    uint16_t batch = rg_graph_symbol(g, "batch"), seq = rg_graph_symbol(g, "seq");
    rg_dim b = rg_dim_symbol(batch), s = rg_dim_symbol(seq), four = rg_dim_const(4), one = rg_dim_const(1);
    rg_dim bs = rg_dim_mul(&b, &s), bs4 = rg_dim_mul(&bs, &four), bs4p1 = rg_dim_add(&bs4, &one);
    rg_dim x_dims[3] = {b, s, four};
    rg_dim odd_dims[2] = {bs4p1, rg_dim_unknown()};

    rg_value *x = value(g, "x", RG_DTYPE_F32, 3, x_dims);
    rg_value *ids = value(g, "ids", RG_DTYPE_I64, 2, x_dims);
    int64_t d44[2] = {4, 4}, d4[1] = {4}, d22[2] = {2, 2}, d3[1] = {3}, d5[1] = {5}, d0[1] = {0};
    rg_value *w = constant(g, "w", tensor(g, RG_DTYPE_F32, 2, d44));
    rg_value *bias = constant(g, "bias", tensor(g, RG_DTYPE_F16, 1, d4));
    rg_tensor *shared = tensor(g, RG_DTYPE_BF16, 2, d22);
    rg_value *bf1 = constant(g, "bf1", shared);
    rg_value *bf2 = constant(g, "bf2", shared);
    rg_value *i64c = constant(g, "i64c", tensor(g, RG_DTYPE_I64, 1, d3));
    rg_value *u8c = constant(g, "u8c", tensor(g, RG_DTYPE_U8, 1, d5));
    rg_value *boolc = constant(g, "boolc", tensor(g, RG_DTYPE_BOOL, 1, d3));
    rg_value *empty = constant(g, "empty", tensor(g, RG_DTYPE_I32, 1, d0));
    rg_value *scalar = constant(g, "scalar", tensor(g, RG_DTYPE_I8, 0, NULL));
    cr_assert_eq(rg_graph_add_input(g, x, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_input(g, ids, NULL), RG_OK);

    rg_value *mm = value(g, "mm", RG_DTYPE_F32, 3, x_dims);
    rg_value *add = value(g, "add", RG_DTYPE_F32, 3, x_dims);
    rg_value *clip = value(g, "clip", RG_DTYPE_F32, 3, x_dims);
    rg_value *drop = value(g, "drop", RG_DTYPE_F32, 3, x_dims);
    rg_value *odd = value(g, "odd", RG_DTYPE_F32, 2, odd_dims);
    rg_value *unranked = value(g, "", RG_DTYPE_UNDEFINED, -1, NULL);
    rg_value *cat = value(g, "cat", RG_DTYPE_I64, -1, NULL);
    rg_value *scalar_out = value(g, "scalar_out", RG_DTYPE_I8, 0, NULL);

    node(g, RG_OP_MATMUL, "matmul", 2, (rg_value *[]){x, w}, 1, (rg_value *[]){mm});
    node(g, RG_OP_ADD, "", 2, (rg_value *[]){mm, bias}, 1, (rg_value *[]){add});
    node(g, RG_OP_CLIP, "clip", 3, (rg_value *[]){add, NULL, bf1}, 1, (rg_value *[]){clip});
    node(g, RG_OP_DROPOUT, "dropout", 1, (rg_value *[]){clip}, 2, (rg_value *[]){drop, NULL});
    rg_node *attrs_node = node(g, RG_OP_IDENTITY, "every attribute", 1, (rg_value *[]){drop}, 1, (rg_value *[]){odd});
    node(g, RG_OP_SOFTMAX, "softmax", 1, (rg_value *[]){odd}, 1, (rg_value *[]){unranked});
    node(g, RG_OP_CONCAT, "concat", 4, (rg_value *[]){ids, i64c, i64c, boolc}, 1, (rg_value *[]){cat});
    node(g, RG_OP_IDENTITY, "scalar", 1, (rg_value *[]){scalar}, 1, (rg_value *[]){scalar_out});

    rg_arena *a = &g->arena;
    rg_attr *at = rg_arena_array(a, 12, sizeof *at);
    float *floats = rg_arena_array(a, 3, sizeof *floats);
    floats[0] = 1.5f;
    floats[1] = -0.0f;
    floats[2] = 3e-38f;
    int64_t *ints = rg_arena_array(a, 3, sizeof *ints);
    ints[0] = -1;
    ints[1] = INT64_MAX;
    ints[2] = INT64_MIN;
    const char **strings = rg_arena_array(a, 3, sizeof *strings);
    size_t *lens = rg_arena_array(a, 3, sizeof *lens);
    strings[0] = "alpha";
    lens[0] = 5;
    strings[1] = "";
    lens[1] = 0;
    strings[2] = "with\0nul";
    lens[2] = 8;
    rg_tensor **tensors = rg_arena_array(a, 2, sizeof *tensors);
    tensors[0] = tensor(g, RG_DTYPE_F32, 1, d5);
    tensors[1] = shared; /* shares its payload with bf1/bf2 */
    at[0] = (rg_attr){.name = "f", .kind = RG_ATTR_FLOAT, .f = 0.125f};
    at[1] = (rg_attr){.name = "i", .kind = RG_ATTR_INT, .i = -42};
    at[2] = (rg_attr){.name = "s", .kind = RG_ATTR_STRING, .s = "a\0b", .s_len = 3};
    at[3] = (rg_attr){.name = "t", .kind = RG_ATTR_TENSOR, .t = tensor(g, RG_DTYPE_I64, 2, d22)};
    at[4] = (rg_attr){.name = "g", .kind = RG_ATTR_GRAPH};
    at[5] = (rg_attr){.name = "floats", .kind = RG_ATTR_FLOATS, .count = 3, .floats = floats};
    at[6] = (rg_attr){.name = "ints", .kind = RG_ATTR_INTS, .count = 3, .ints = ints};
    at[7] = (rg_attr){.name = "strings", .kind = RG_ATTR_STRINGS, .count = 3, .strings = strings, .string_lens = lens};
    at[8] = (rg_attr){.name = "tensors", .kind = RG_ATTR_TENSORS, .count = 2, .tensors = tensors};
    at[9] = (rg_attr){.name = "graphs", .kind = RG_ATTR_GRAPHS, .count = 2};
    at[10] = (rg_attr){.name = "sparse", .kind = RG_ATTR_SPARSE_TENSOR};
    at[11] = (rg_attr){.name = "empty ints", .kind = RG_ATTR_INTS, .count = 0};
    rg_node_set_attrs(attrs_node, 12, at);

    cr_assert_eq(rg_graph_add_output(g, unranked, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_output(g, cat, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_output(g, bf2, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_output(g, scalar_out, NULL), RG_OK);
    (void)u8c; /* an unused constant still travels */
    (void)empty;
    rg_error err;
    cr_assert_eq(rg_verify(g, &err), RG_OK, "%s", err.message);
    return g;
}

static const rg_cg_plan_options test_options = {"cpu", RG_DTYPE_F16, 0x1234567890abcdefull, "--dtype fp16 --opt 2"};

/* ------------------------------------------------- structural equality */

static void expect_tensor_equal(const rg_tensor *a, const rg_tensor *b, const char *what) {
    cr_assert((a == NULL) == (b == NULL), "%s: tensor presence differs", what);
    if (!a) return;
    cr_assert_eq(a->dtype, b->dtype, "%s: dtype", what);
    cr_assert_eq(a->rank, b->rank, "%s: rank", what);
    for (int i = 0; i < a->rank; i++) cr_assert_eq(a->dims[i], b->dims[i], "%s: dim %d", what, i);
    cr_assert_eq(a->nbytes, b->nbytes, "%s: nbytes", what);
    cr_assert(a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0, "%s: payload", what);
}

static void expect_dim_equal(const rg_dim *a, const rg_dim *b, const char *what) {
    cr_assert_eq(a->unknown, b->unknown, "%s: unknown", what);
    cr_assert_eq(a->constant, b->constant, "%s: constant", what);
    cr_assert_eq(a->nterms, b->nterms, "%s: nterms", what);
    for (int k = 0; k < a->nterms; k++) {
        cr_assert_eq(a->term[k].coef, b->term[k].coef, "%s: coef", what);
        for (int f = 0; f < RG_DIM_MAX_FACTORS; f++) cr_assert_eq(a->term[k].sym[f], b->term[k].sym[f], "%s: sym", what);
    }
}

static uint32_t id_of(const rg_value *v) { return v ? v->id : UINT32_MAX; }

static void expect_attr_equal(const rg_attr *a, const rg_attr *b) {
    const char *n = a->name;
    cr_assert_str_eq(a->name, b->name);
    cr_assert_eq(a->kind, b->kind, "attr %s kind", n);
    switch (a->kind) {
    case RG_ATTR_FLOAT: cr_assert_eq(memcmp(&a->f, &b->f, 4), 0, "attr %s", n); break;
    case RG_ATTR_INT: cr_assert_eq(a->i, b->i, "attr %s", n); break;
    case RG_ATTR_STRING:
        cr_assert_eq(a->s_len, b->s_len, "attr %s", n);
        cr_assert_eq(memcmp(a->s, b->s, a->s_len), 0, "attr %s", n);
        cr_assert_eq(b->s[b->s_len], '\0', "attr %s is NUL-terminated", n);
        break;
    case RG_ATTR_TENSOR: expect_tensor_equal(a->t, b->t, n); break;
    case RG_ATTR_FLOATS:
        cr_assert_eq(a->count, b->count);
        cr_assert(a->count == 0 || memcmp(a->floats, b->floats, 4 * a->count) == 0, "attr %s", n);
        break;
    case RG_ATTR_INTS:
        cr_assert_eq(a->count, b->count);
        cr_assert(a->count == 0 || memcmp(a->ints, b->ints, 8 * a->count) == 0, "attr %s", n);
        break;
    case RG_ATTR_STRINGS:
        cr_assert_eq(a->count, b->count);
        for (size_t i = 0; i < a->count; i++) {
            cr_assert_eq(a->string_lens[i], b->string_lens[i]);
            cr_assert_eq(memcmp(a->strings[i], b->strings[i], a->string_lens[i]), 0);
        }
        break;
    case RG_ATTR_TENSORS:
        cr_assert_eq(a->count, b->count);
        for (size_t i = 0; i < a->count; i++) expect_tensor_equal(a->tensors[i], b->tensors[i], n);
        break;
    default: cr_assert_eq(a->count, b->count, "attr %s count", n); break;
    }
}

static void expect_graph_equal(const rg_graph *a, const rg_graph *b) {
    cr_assert_str_eq(a->name, b->name);
    cr_assert_str_eq(a->producer, b->producer);
    cr_assert_eq(a->opset, b->opset);
    cr_assert_eq(a->ir_version, b->ir_version);
    cr_assert_eq(a->nsymbols, b->nsymbols);
    for (uint32_t i = 1; i < a->nsymbols; i++) cr_assert_str_eq(a->symbols[i], b->symbols[i]);
    cr_assert_eq(a->nvalues, b->nvalues);
    for (uint32_t i = 0; i < a->nvalues; i++) {
        const rg_value *x = a->values[i], *y = b->values[i];
        cr_assert_str_eq(x->name, y->name);
        cr_assert_eq(y->id, i);
        cr_assert_eq(x->dtype, y->dtype, "value %s dtype", x->name);
        cr_assert_eq(x->rank, y->rank, "value %s rank", x->name);
        for (int d = 0; d < x->rank; d++) expect_dim_equal(&x->dims[d], &y->dims[d], x->name);
        expect_tensor_equal(x->constant, y->constant, x->name);
        cr_assert_eq(x->is_input, y->is_input);
        cr_assert_eq(x->is_output, y->is_output);
        cr_assert_eq(x->producer ? x->producer->id : UINT32_MAX, y->producer ? y->producer->id : UINT32_MAX);
        cr_assert_eq(x->nconsumers, y->nconsumers, "value %s consumers", x->name);
    }
    cr_assert_eq(a->nnodes, b->nnodes);
    for (uint32_t i = 0; i < a->nnodes; i++) {
        const rg_node *x = a->nodes[i], *y = b->nodes[i];
        cr_assert_eq(x->op, y->op);
        cr_assert_str_eq(x->name, y->name);
        cr_assert_eq(x->opset, y->opset);
        cr_assert_eq(x->ninputs, y->ninputs);
        cr_assert_eq(x->noutputs, y->noutputs);
        for (uint32_t k = 0; k < x->ninputs; k++) cr_assert_eq(id_of(x->inputs[k]), id_of(y->inputs[k]));
        for (uint32_t k = 0; k < x->noutputs; k++) cr_assert_eq(id_of(x->outputs[k]), id_of(y->outputs[k]));
        cr_assert_eq(x->nattrs, y->nattrs);
        for (uint32_t k = 0; k < x->nattrs; k++) expect_attr_equal(&x->attrs[k], &y->attrs[k]);
    }
    cr_assert_eq(a->ninputs, b->ninputs);
    for (uint32_t i = 0; i < a->ninputs; i++) cr_assert_eq(a->inputs[i]->id, b->inputs[i]->id);
    cr_assert_eq(a->noutputs, b->noutputs);
    for (uint32_t i = 0; i < a->noutputs; i++) cr_assert_eq(a->outputs[i]->id, b->outputs[i]->id);
}

/* The graph as rg_print text, malloc'ed. */
static char *print_graph(const rg_graph *g) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    rg_error err;
    cr_assert_eq(rg_print(g, f, &err), RG_OK, "%s", err.message);
    fclose(f);
    return text;
}

/* ------------------------------------------------------------- helpers */

static void write_memory(const rg_graph *g, void **data, size_t *size) {
    rg_error err;
    cr_assert_eq(rg_cg_write_plan_memory(g, &test_options, NULL, data, size, &err), RG_OK, "%s", err.message);
}

static void free_memory(void *data, size_t size) { rg_mem_free(rg_allocator_default(), data, size); }

/* Loads with a counting allocator; the returned status is checked by the
 * caller; afterwards nothing may remain allocated. */
static rg_status load_counted(const void *data, size_t size, rg_error *err) {
    rg_counting_allocator counting;
    rg_counting_allocator_init(&counting, NULL, -1);
    rg_plan *plan = NULL;
    rg_status st = rg_rt_plan_load_memory(data, size, &counting.base, &plan, err);
    if (st == RG_OK) {
        cr_assert_not_null(plan);
        rg_error verr;
        cr_assert_eq(rg_verify(plan->graph, &verr), RG_OK, "a loaded plan fails rg_verify: %s", verr.message);
        rg_plan_free(plan);
    } else {
        cr_assert_null(plan, "*out written on failure");
        cr_assert(err->message[0], "an error without a message");
        cr_assert_null(strchr(err->message, '\n'), "a multi-line message: %s", err->message);
    }
    cr_assert_eq(counting.in_use, 0, "%zu bytes leaked (status %d: %s)", counting.in_use, st,
                 st ? err->message : "ok");
    return st;
}

static void fix_checksum(uint8_t *data, size_t size) {
    uint32_t header_size = rg_ir_load_u32(data + RG_PLAN_OFF_HEADER_SIZE);
    if (header_size < RG_PLAN_HEADER_SIZE || header_size > size) return;
    rg_ir_store_u64(data + RG_PLAN_OFF_CHECKSUM, rg_ir_hash_bytes(data + header_size, size - header_size));
}

static uint8_t *copy_of(const void *data, size_t size) {
    uint8_t *c = malloc(size);
    cr_assert_not_null(c);
    memcpy(c, data, size);
    return c;
}

/* The table entry of a section kind, or NULL. */
static uint8_t *section_entry(uint8_t *data, uint32_t kind) {
    uint32_t count = rg_ir_load_u32(data + RG_PLAN_OFF_SECTION_COUNT);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *e = data + RG_PLAN_HEADER_SIZE + i * RG_PLAN_SECTION_ENTRY_SIZE;
        if (rg_ir_load_u32(e) == kind) return e;
    }
    return NULL;
}

static void expect_corrupt(const void *data, size_t size, const char *needle) {
    rg_error err;
    rg_status st = load_counted(data, size, &err);
    cr_assert_eq(st, RG_ERR_CORRUPT_PLAN, "status %d (%s)", st, err.message);
    if (needle) cr_assert_not_null(strstr(err.message, needle), "'%s' lacks '%s'", err.message, needle);
}

/* With RG_PLAN_SEED_DIR set, the plans the tests write are also saved
 * there: seeds for tests/fuzz/fuzz_plan (docs/plan-format.md). */
static void save_seed(const char *name, const void *data, size_t size) {
    const char *dir = getenv("RG_PLAN_SEED_DIR");
    if (!dir) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.plan", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write seed %s", path);
    cr_assert_eq(fwrite(data, 1, size, f), size);
    fclose(f);
}

/* --------------------------------------------------------------- tests */

Test(plan, empty_graph_round_trips) {
    rg_graph *g;
    cr_assert_eq(rg_graph_new(NULL, &g, NULL), RG_OK);
    void *data;
    size_t size;
    rg_error err;
    cr_assert_eq(rg_cg_write_plan_memory(g, NULL, NULL, &data, &size, &err), RG_OK, "%s", err.message);
    save_seed("empty", data, size);
    cr_assert_eq(load_counted(data, size, &err), RG_OK, "%s", err.message);
    free_memory(data, size);
    rg_graph_free(g);
}

Test(plan, round_trip_memory) {
    rg_graph *g = make_graph(NULL);
    void *data;
    size_t size;
    write_memory(g, &data, &size);
    save_seed("every_feature", data, size);
    rg_counting_allocator counting;
    rg_counting_allocator_init(&counting, NULL, -1);
    rg_plan *plan;
    rg_error err;
    cr_assert_eq(rg_rt_plan_load_memory(data, size, &counting.base, &plan, &err), RG_OK, "%s", err.message);
    free_memory(data, size); /* the plan copied what it needs */
    expect_graph_equal(g, plan->graph);
    char *before = print_graph(g), *after = print_graph(plan->graph);
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
    cr_assert_str_eq(plan->target, "cpu");
    cr_assert_eq(plan->dtype, RG_DTYPE_F16);
    cr_assert_eq(plan->model_hash, test_options.model_hash);
    cr_assert_str_eq(plan->options_text, test_options.options_text);
    cr_assert_eq(plan->version, 1);
    cr_assert_eq(plan->file_size, size);
    cr_assert_not(plan->mapped);
    /* the shared payload was stored once and still reads the same twice */
    cr_assert_eq(rg_verify(plan->graph, &err), RG_OK, "%s", err.message);
    rg_plan_free(plan);
    cr_assert_eq(counting.in_use, 0);
    rg_graph_free(g);
}

Test(plan, writing_is_deterministic_and_reloads_identically) {
    rg_graph *g = make_graph(NULL);
    void *a, *b;
    size_t asize, bsize;
    write_memory(g, &a, &asize);
    rg_plan *plan;
    cr_assert_eq(rg_rt_plan_load_memory(a, asize, NULL, &plan, NULL), RG_OK);
    write_memory(plan->graph, &b, &bsize);
    cr_assert_eq(asize, bsize);
    cr_assert_eq(memcmp(a, b, asize), 0, "write(load(write(g))) differs from write(g)");
    rg_plan_free(plan);
    free_memory(a, asize);
    free_memory(b, bsize);
    rg_graph_free(g);
}

Test(plan, round_trip_file_is_mapped) {
    rg_graph *g = make_graph(NULL);
    char path[] = "/tmp/rg_plan_test_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    rg_error err;
    cr_assert_eq(rg_cg_write_plan(g, &test_options, path, &err), RG_OK, "%s", err.message);
    rg_plan *plan;
    cr_assert_eq(rg_plan_load(path, &plan, &err), RG_OK, "%s", err.message);
    expect_graph_equal(g, plan->graph);
    cr_assert(plan->mapped);
    const rg_tensor *w = rg_graph_find_value(plan->graph, "w")->constant;
    cr_assert_eq((uintptr_t)w->data % RG_PLAN_CONSTANT_ALIGN, 0, "payloads are aligned in the mapping");
    cr_assert_str_eq(plan->options_text, test_options.options_text);
    rg_plan_free(plan);
    char tmp[sizeof path + 4];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cr_assert_neq(access(tmp, F_OK), 0, "the temporary file was left behind");
    unlink(path);
    rg_graph_free(g);
}

Test(plan, io_errors_name_the_file) {
    rg_plan *plan = NULL;
    rg_error err;
    cr_assert_eq(rg_plan_load("/nonexistent/dir/model.plan", &plan, &err), RG_ERR_IO);
    cr_assert_not_null(strstr(err.message, "/nonexistent/dir/model.plan"), "%s", err.message);
    cr_assert_null(plan);
    cr_assert_eq(rg_plan_load("/tmp", &plan, &err), RG_ERR_IO);
    char path[] = "/tmp/rg_plan_empty_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "RAGGEDPL", 8), 8);
    close(fd);
    cr_assert_eq(rg_plan_load(path, &plan, &err), RG_ERR_CORRUPT_PLAN);
    cr_assert_not_null(strstr(err.message, path), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "truncated"), "%s", err.message);
    unlink(path);
}

Test(plan, bad_magic_version_and_checksum) {
    rg_graph *g = make_graph(NULL);
    void *data;
    size_t size;
    write_memory(g, &data, &size);
    uint8_t *c = copy_of(data, size);
    c[0] = 'X';
    expect_corrupt(c, size, "not a ragged plan");
    memcpy(c, data, size);
    rg_ir_store_u32(c + RG_PLAN_OFF_VERSION, 7);
    expect_corrupt(c, size, "plan version 7 is newer than this build supports (1)");
    memcpy(c, data, size);
    c[size / 2] ^= 0x10;
    expect_corrupt(c, size, "checksum mismatch: the plan is corrupt");
    memcpy(c, data, size);
    rg_ir_store_u64(c + RG_PLAN_OFF_FILE_SIZE, size + 1);
    expect_corrupt(c, size, "truncated");
    expect_corrupt("RAGGEDPL", 8, "truncated");
    expect_corrupt("", 0, "not a ragged plan");
    free(c);
    free_memory(data, size);
    rg_graph_free(g);
}

Test(plan, every_truncation_is_a_clean_error) {
    rg_graph *g = make_graph(NULL);
    void *data;
    size_t size;
    write_memory(g, &data, &size);
    for (size_t len = 0; len < size; len++) {
        uint8_t *c = copy_of(data, len ? len : 1); /* exact-size buffer, so ASan sees overreads */
        rg_error err;
        cr_assert_eq(load_counted(c, len, &err), RG_ERR_CORRUPT_PLAN, "prefix %zu loaded", len);
        /* with the size field and checksum made to agree, the sections are what fail */
        if (len >= RG_PLAN_HEADER_SIZE) {
            rg_ir_store_u64(c + RG_PLAN_OFF_FILE_SIZE, len);
            fix_checksum(c, len);
            cr_assert_eq(load_counted(c, len, &err), RG_ERR_CORRUPT_PLAN, "prefix %zu loaded", len);
        }
        free(c);
    }
    free_memory(data, size);
    rg_graph_free(g);
}

/* Every byte, three ways, with the checksum repaired so the structural
 * checks are what stands between the bytes and the executor. */
Test(plan, every_flipped_byte_is_caught_or_harmless) {
    rg_graph *g = make_graph(NULL);
    void *data;
    size_t size;
    write_memory(g, &data, &size);
    uint8_t *c = copy_of(data, size);
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    size_t loaded = 0, rejected = 0;
    for (size_t i = 0; i < size; i++) {
        if (i >= RG_PLAN_OFF_CHECKSUM && i < RG_PLAN_OFF_CHECKSUM + 8) continue;
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(c, data, size);
            c[i] ^= flips[f];
            fix_checksum(c, size);
            rg_error err;
            rg_status st = load_counted(c, size, &err);
            cr_assert(st == RG_OK || st == RG_ERR_CORRUPT_PLAN, "byte %zu ^ 0x%x: status %d: %s", i, flips[f], st,
                      err.message);
            if (st == RG_OK)
                loaded++;
            else
                rejected++;
        }
    }
    /* Payload bytes, padding and plain numbers (opsets, dims, float
     * attributes) can change without breaking anything the loader can see. */
    cr_assert(rejected > 0 && loaded > 0, "%zu caught, %zu loaded", rejected, loaded);
    free(c);
    free_memory(data, size);
    rg_graph_free(g);
}

Test(plan, absurd_counts_and_offsets) {
    rg_graph *g = make_graph(NULL);
    void *data;
    size_t size;
    write_memory(g, &data, &size);
    uint8_t *c = copy_of(data, size);

    rg_ir_store_u32(c + RG_PLAN_OFF_SECTION_COUNT, UINT32_MAX);
    fix_checksum(c, size);
    expect_corrupt(c, size, "does not fit");

    memcpy(c, data, size);
    rg_ir_store_u32(c + RG_PLAN_OFF_HEADER_SIZE, 1u << 30);
    fix_checksum(c, size);
    expect_corrupt(c, size, "header size");

    memcpy(c, data, size);
    rg_ir_store_u64(section_entry(c, RG_PLAN_SECTION_GRAPH) + 8, UINT64_MAX - 7);
    fix_checksum(c, size);
    expect_corrupt(c, size, "outside");

    memcpy(c, data, size);
    rg_ir_store_u64(section_entry(c, RG_PLAN_SECTION_GRAPH) + 16, UINT64_MAX);
    fix_checksum(c, size);
    expect_corrupt(c, size, "outside");

    memcpy(c, data, size);
    uint8_t *strings = section_entry(c, RG_PLAN_SECTION_STRINGS);
    uint8_t *graph = section_entry(c, RG_PLAN_SECTION_GRAPH);
    rg_ir_store_u64(graph + 8, rg_ir_load_u64(strings + 8)); /* GRAPH on top of STRINGS */
    fix_checksum(c, size);
    expect_corrupt(c, size, "overlap");

    memcpy(c, data, size);
    uint64_t strings_at = rg_ir_load_u64(section_entry(c, RG_PLAN_SECTION_STRINGS) + 8);
    rg_ir_store_u32(c + strings_at, UINT32_MAX); /* string count */
    fix_checksum(c, size);
    expect_corrupt(c, size, "do not fit");

    memcpy(c, data, size);
    uint64_t graph_at = rg_ir_load_u64(section_entry(c, RG_PLAN_SECTION_GRAPH) + 8);
    rg_ir_store_u32(c + graph_at, UINT32_MAX); /* the graph name's string index */
    fix_checksum(c, size);
    expect_corrupt(c, size, "string");

    free(c);
    free_memory(data, size);
    rg_graph_free(g);
}

static void rename_string(uint8_t *c, size_t size, const char *from, const char *to) {
    size_t n = strlen(from);
    cr_assert_eq(strlen(to), n);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(c + i, from, n) == 0) {
            memcpy(c + i, to, n);
            fix_checksum(c, size);
            return;
        }
    cr_assert_fail("'%s' not found in the plan", from);
}

Test(plan, unknown_op_is_named) {
    rg_graph *g = make_graph(NULL);
    void *data;
    size_t size;
    write_memory(g, &data, &size);
    uint8_t *c = copy_of(data, size);
    rename_string(c, size, "Softmax", "Softmaz");
    expect_corrupt(c, size, "'Softmaz'");
    free(c);
    free_memory(data, size);
    rg_graph_free(g);
}

Test(plan, unknown_sections_are_skipped_unless_required) {
    rg_graph *g = make_graph(NULL);
    void *data;
    size_t size;
    write_memory(g, &data, &size);
    uint8_t *c = copy_of(data, size);

    uint8_t *options = section_entry(c, RG_PLAN_SECTION_OPTIONS);
    rg_ir_store_u32(options, 99);
    fix_checksum(c, size);
    rg_plan *plan;
    rg_error err;
    cr_assert_eq(rg_rt_plan_load_memory(c, size, NULL, &plan, &err), RG_OK, "%s", err.message);
    cr_assert_str_eq(plan->options_text, "");
    rg_plan_free(plan);

    rg_ir_store_u32(options + 4, RG_PLAN_SECTION_FLAG_REQUIRED);
    fix_checksum(c, size);
    expect_corrupt(c, size, "section kind 99");

    memcpy(c, data, size);
    uint8_t *graph = section_entry(c, RG_PLAN_SECTION_GRAPH);
    rg_ir_store_u32(graph, 98);
    rg_ir_store_u32(graph + 4, 0);
    fix_checksum(c, size);
    expect_corrupt(c, size, "GRAPH section is missing");

    memcpy(c, data, size);
    rg_ir_store_u32(section_entry(c, RG_PLAN_SECTION_OPTIONS), RG_PLAN_SECTION_GRAPH);
    fix_checksum(c, size);
    expect_corrupt(c, size, "twice");
    free(c);
    free_memory(data, size);
    rg_graph_free(g);
}

Test(plan, allocation_failures_are_clean) {
    rg_graph *g = make_graph(NULL);
    void *data;
    size_t size;
    write_memory(g, &data, &size);
    bool succeeded = false;
    for (int64_t n = 0; n < 10000 && !succeeded; n++) {
        rg_counting_allocator counting;
        rg_counting_allocator_init(&counting, NULL, n);
        rg_plan *plan = NULL;
        rg_error err;
        rg_status st = rg_rt_plan_load_memory(data, size, &counting.base, &plan, &err);
        cr_assert(st == RG_OK || st == RG_ERR_NOMEM, "fail after %lld: %d %s", (long long)n, st, err.message);
        if (st == RG_OK) {
            succeeded = true;
            rg_plan_free(plan);
        }
        cr_assert_eq(counting.in_use, 0, "fail after %lld leaks %zu bytes", (long long)n, counting.in_use);
    }
    cr_assert(succeeded);
    free_memory(data, size);
    rg_graph_free(g);
}

Test(plan, writer_allocation_failures_are_clean) {
    rg_graph *g = make_graph(NULL);
    bool succeeded = false;
    for (int64_t n = 0; n < 1000 && !succeeded; n++) {
        rg_counting_allocator counting;
        rg_counting_allocator_init(&counting, NULL, n);
        void *data = NULL;
        size_t size = 0;
        rg_error err;
        rg_status st = rg_cg_write_plan_memory(g, &test_options, &counting.base, &data, &size, &err);
        cr_assert(st == RG_OK || st == RG_ERR_NOMEM, "%d %s", st, err.message);
        if (st == RG_OK) {
            succeeded = true;
            rg_mem_free(&counting.base, data, size);
        } else {
            cr_assert_null(data);
        }
        cr_assert_eq(counting.in_use, 0, "fail after %lld leaks %zu bytes", (long long)n, counting.in_use);
    }
    cr_assert(succeeded);
    rg_graph_free(g);
}
