/*
 * The plan writer: the header byte by byte, the checksum hash (streaming and
 * pinned), what it refuses to write, IO errors, and that a large plan loads
 * in well under a second. Round trips and corruption live in
 * tests/runtime/test_plan.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codegen/plan_write.h"
#include "ir/serialize.h"
#include "runtime/plan.h"

/* x: float32[n] -> Relu -> y, plus a constant w of `nbytes` bytes added. */
static rg_graph *small_graph(size_t nbytes) {
    rg_graph *g;
    cr_assert_eq(rg_graph_new(NULL, &g, NULL), RG_OK);
    rg_dim n = rg_dim_symbol(rg_graph_symbol(g, "n"));
    rg_value *x, *y, *w, *z;
    cr_assert_eq(rg_graph_add_value(g, "x", RG_DTYPE_F32, 1, &n, &x, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_value(g, "y", RG_DTYPE_F32, 1, &n, &y, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_value(g, "w", RG_DTYPE_F32, -1, NULL, &w, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_value(g, "z", RG_DTYPE_F32, -1, NULL, &z, NULL), RG_OK);
    rg_tensor *t;
    int64_t dims[1] = {(int64_t)(nbytes / 4)};
    cr_assert_eq(rg_graph_new_tensor(g, RG_DTYPE_F32, 1, dims, &t, NULL), RG_OK);
    for (size_t i = 0; i < t->nbytes; i++) ((uint8_t *)t->data)[i] = (uint8_t)(i * 13);
    cr_assert_eq(rg_value_set_constant(g, w, t, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_input(g, x, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_node(g, RG_OP_RELU, "relu", 17, 1, &x, 1, &y, NULL, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_node(g, RG_OP_ADD, "add", 17, 2, (rg_value *[]){y, w}, 1, &z, NULL, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_output(g, z, NULL), RG_OK);
    return g;
}

Test(plan_write, hash_streams_like_one_shot) {
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 31 + 7);
    for (size_t len = 0; len <= sizeof buf; len += 7) {
        uint64_t whole = rg_ir_hash_bytes(buf, len);
        for (size_t cut = 0; cut <= len; cut += 5) {
            rg_ir_hasher h;
            rg_ir_hasher_init(&h);
            rg_ir_hasher_update(&h, buf, cut);
            rg_ir_hasher_update(&h, buf + cut, len - cut > 3 ? 3 : len - cut);
            if (len - cut > 3) rg_ir_hasher_update(&h, buf + cut + 3, len - cut - 3);
            cr_assert_eq(rg_ir_hasher_final(&h), whole, "len %zu cut %zu", len, cut);
        }
    }
    /* pinned: changing the hash changes the format */
    cr_assert_eq(rg_cg_hash_bytes("", 0), rg_ir_hash_bytes("", 0));
    cr_assert_eq(rg_ir_hash_bytes("", 0), 0x549e6118be7c70d0ull, "got 0x%llx",
                 (unsigned long long)rg_ir_hash_bytes("", 0));
    cr_assert_eq(rg_ir_hash_bytes(buf, 300), 0xbc531b2a8cada871ull, "got 0x%llx",
                 (unsigned long long)rg_ir_hash_bytes(buf, 300));
    /* every single-bit flip changes it */
    uint64_t base = rg_ir_hash_bytes(buf, 100);
    for (size_t bit = 0; bit < 800; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_neq(rg_ir_hash_bytes(buf, 100), base, "bit %zu", bit);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

Test(plan_write, header_layout) {
    rg_graph *g = small_graph(1000);
    rg_cg_plan_options opt = {"sm_90", RG_DTYPE_BF16, 0xfeedfacecafebeefull, NULL};
    void *data;
    size_t size;
    rg_error err;
    cr_assert_eq(rg_cg_write_plan_memory(g, &opt, NULL, &data, &size, &err), RG_OK, "%s", err.message);
    const uint8_t *p = data;
    cr_assert_eq(memcmp(p, "RAGGEDPL", 8), 0);
    cr_assert_eq(rg_ir_load_u32(p + 8), 1);
    cr_assert_eq(rg_ir_load_u32(p + 12), 64);
    cr_assert_eq(rg_ir_load_u64(p + 16), size);
    cr_assert_eq(rg_ir_load_u64(p + 24), rg_ir_hash_bytes(p + 64, size - 64));
    cr_assert_eq(memcmp(p + 32, "sm_90\0\0\0\0\0\0\0\0\0\0\0", 16), 0);
    cr_assert_eq(rg_ir_load_u32(p + 48), RG_DTYPE_BF16);
    cr_assert_eq(rg_ir_load_u32(p + 52), 4, "no OPTIONS section without options text");
    cr_assert_eq(rg_ir_load_u64(p + 56), 0xfeedfacecafebeefull);
    uint32_t kinds[4] = {RG_PLAN_SECTION_STRINGS, RG_PLAN_SECTION_GRAPH, RG_PLAN_SECTION_IO, RG_PLAN_SECTION_CONSTANTS};
    uint64_t prev_end = 64 + 4 * 24;
    for (int i = 0; i < 4; i++) {
        const uint8_t *e = p + 64 + 24 * i;
        cr_assert_eq(rg_ir_load_u32(e), kinds[i]);
        cr_assert_eq(rg_ir_load_u32(e + 4), RG_PLAN_SECTION_FLAG_REQUIRED);
        uint64_t off = rg_ir_load_u64(e + 8);
        cr_assert_eq(off % (kinds[i] == RG_PLAN_SECTION_CONSTANTS ? 256 : 8), 0);
        cr_assert_geq(off, prev_end);
        prev_end = off + rg_ir_load_u64(e + 16);
    }
    cr_assert_eq(prev_end, size);
    rg_plan *plan;
    cr_assert_eq(rg_rt_plan_load_memory(data, size, NULL, &plan, &err), RG_OK, "%s", err.message);
    cr_assert_str_eq(plan->target, "sm_90");
    cr_assert_eq(plan->dtype, RG_DTYPE_BF16);
    cr_assert_str_eq(plan->options_text, "");
    rg_plan_free(plan);
    rg_mem_free(rg_allocator_default(), data, size);
    rg_graph_free(g);
}

static void expect_refused(const rg_graph *g, const rg_cg_plan_options *opt, rg_status want, const char *needle) {
    void *data = NULL;
    size_t size = 0;
    rg_error err;
    rg_counting_allocator counting;
    rg_counting_allocator_init(&counting, NULL, -1);
    cr_assert_eq(rg_cg_write_plan_memory(g, opt, &counting.base, &data, &size, &err), want, "%s", err.message);
    cr_assert_null(data);
    cr_assert_not_null(strstr(err.message, needle), "'%s' lacks '%s'", err.message, needle);
    cr_assert_eq(counting.in_use, 0);
}

Test(plan_write, refuses_bad_options_and_graphs) {
    rg_graph *g = small_graph(16);
    expect_refused(g, &(rg_cg_plan_options){"", 0, 0, NULL}, RG_ERR_INVALID_ARGUMENT, "target");
    expect_refused(g, &(rg_cg_plan_options){"seventeen_chars_x", 0, 0, NULL}, RG_ERR_INVALID_ARGUMENT, "target");
    expect_refused(g, &(rg_cg_plan_options){"c pu", 0, 0, NULL}, RG_ERR_INVALID_ARGUMENT, "target");
    expect_refused(g, &(rg_cg_plan_options){"cpu", (rg_dtype)99, 0, NULL}, RG_ERR_INVALID_ARGUMENT, "dtype");
    /* nodes out of order: the loader reads them in file order */
    rg_node *first = g->nodes[0];
    g->nodes[0] = g->nodes[1];
    g->nodes[1] = first;
    expect_refused(g, NULL, RG_ERR_INVALID_ARGUMENT, "rg_graph_topo_sort");
    cr_assert_eq(rg_graph_topo_sort(g, NULL), RG_OK);
    /* a constant whose shape is not its value's */
    rg_value *w = rg_graph_find_value(g, "w");
    w->dims[0] = rg_dim_const(3);
    expect_refused(g, NULL, RG_ERR_INVALID_ARGUMENT, "'w'");
    rg_graph_free(g);
}

Test(plan_write, io_errors_name_the_path) {
    rg_graph *g = small_graph(16);
    rg_error err;
    cr_assert_eq(rg_cg_write_plan(g, NULL, "/nonexistent/dir/model.plan", &err), RG_ERR_IO);
    cr_assert_eq(strncmp(err.message, "/nonexistent/dir/model.plan: ", 29), 0, "%s", err.message);
    cr_assert_null(strchr(err.message, '\n'));
    rg_graph_free(g);
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

Test(plan_write, large_plan_loads_fast) {
    rg_graph *g = small_graph(72u << 20);
    char path[] = "/tmp/rg_plan_large_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    rg_error err;
    rg_cg_plan_options opt = {"cpu", RG_DTYPE_F32, rg_cg_hash_bytes("model", 5), "--dtype fp32"};
    cr_assert_eq(rg_cg_write_plan(g, &opt, path, &err), RG_OK, "%s", err.message);
    double start = seconds_now();
    rg_plan *plan;
    rg_status st = rg_plan_load(path, &plan, &err);
    double elapsed = seconds_now() - start;
    unlink(path);
    cr_assert_eq(st, RG_OK, "%s", err.message);
    cr_log_info("a 72 MB plan loaded in %.3f s", elapsed);
    cr_assert_lt(elapsed, 1.0, "a 72 MB plan took %.3f s to load", elapsed);
    const rg_tensor *w = rg_graph_find_value(plan->graph, "w")->constant;
    cr_assert_eq(w->nbytes, 72u << 20);
    cr_assert_eq(((const uint8_t *)w->data)[12345], (uint8_t)(12345 * 13));
    cr_assert_eq(plan->model_hash, rg_cg_hash_bytes("model", 5));
    rg_plan_free(plan);
    rg_graph_free(g);
}
