/*
 * test_plan_kernels.c — the plan's KERNELS section: modules written with a
 * plan come back byte for byte; plans without kernels have no section; a
 * damaged section (every truncation of it, every flipped byte, a node index
 * out of range) is a clean RG_ERR_CORRUPT_PLAN or loads harmlessly, with
 * nothing leaked.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/plan_write.h"
#include "ir/serialize.h"
#include "runtime/plan.h"

static rg_graph *relu_graph(void) {
    rg_graph *g = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_graph_new(NULL, &g, &err), RG_OK);
    g->opset = 17;
    rg_dim d[1] = {rg_dim_const(4)};
    rg_value *x, *y;
    cr_assert_eq(rg_graph_add_value(g, "x", RG_DTYPE_F32, 1, d, &x, &err), RG_OK);
    cr_assert_eq(rg_graph_add_value(g, "y", RG_DTYPE_F32, 1, d, &y, &err), RG_OK);
    cr_assert_eq(rg_graph_add_input(g, x, &err), RG_OK);
    rg_node *n;
    cr_assert_eq(rg_graph_add_node(g, RG_OP_RELU, "relu", 17, 1, &x, 1, &y, &n, &err), RG_OK);
    cr_assert_eq(rg_graph_add_output(g, y, &err), RG_OK);
    return g;
}

static const uint32_t node0[1] = {0};
static const char source_a[] = "extern \"C\" __global__ void a(float *p) { p[0] = 1; }";
static const uint8_t cubin_a[13] = {0x7f, 'E', 'L', 'F', 1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t cubin_b[3] = {0xaa, 0xbb, 0xcc};

static const rg_ir_kernel test_kernels[2] = {
    {"rg_relu_a", "elementwise", "sm_90", node0, 1, source_a, sizeof source_a - 1, cubin_a, sizeof cubin_a},
    {"rg_other", "fused", "sm_90", NULL, 0, "", 0, cubin_b, sizeof cubin_b},
};

static void write_with_kernels(const rg_graph *g, size_t nkernels, void **data, size_t *size) {
    rg_cg_plan_options opt = {"sm_90", RG_DTYPE_F32, 0, "target=sm_90", test_kernels, nkernels};
    rg_error err = {0};
    cr_assert_eq(rg_cg_write_plan_memory(g, &opt, NULL, data, size, &err), RG_OK, "%s", err.message);
}

static rg_status load_counted(const void *data, size_t size, rg_plan **keep, rg_error *err) {
    rg_counting_allocator counting;
    rg_counting_allocator_init(&counting, NULL, -1);
    rg_plan *plan = NULL;
    rg_status st = rg_rt_plan_load_memory(data, size, &counting.base, &plan, err);
    if (st == RG_OK && keep) {
        *keep = plan;
        return st;
    }
    if (st == RG_OK) rg_plan_free(plan);
    else cr_assert(err->message[0] && !strchr(err->message, '\n'), "bad message '%s'", err->message);
    cr_assert_eq(counting.in_use, 0, "%zu bytes leaked", counting.in_use);
    return st;
}

static uint8_t *kernels_section(uint8_t *data, size_t *size) {
    uint32_t count = rg_ir_load_u32(data + RG_PLAN_OFF_SECTION_COUNT);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *e = data + RG_PLAN_HEADER_SIZE + i * RG_PLAN_SECTION_ENTRY_SIZE;
        if (rg_ir_load_u32(e) == RG_PLAN_SECTION_KERNELS) {
            *size = (size_t)rg_ir_load_u64(e + 16);
            return data + rg_ir_load_u64(e + 8);
        }
    }
    return NULL;
}

static void fix_checksum(uint8_t *data, size_t size) {
    rg_ir_store_u64(data + RG_PLAN_OFF_CHECKSUM,
                    rg_ir_hash_bytes(data + RG_PLAN_HEADER_SIZE, size - RG_PLAN_HEADER_SIZE));
}

Test(plan_kernels, round_trip) {
    rg_graph *g = relu_graph();
    void *data;
    size_t size;
    write_with_kernels(g, 2, &data, &size);
    rg_plan *plan = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_rt_plan_load_memory(data, size, NULL, &plan, &err), RG_OK, "%s", err.message);
    cr_assert_str_eq(plan->target, "sm_90");
    cr_assert_eq(plan->nkernels, 2);
    for (size_t i = 0; i < 2; i++) {
        const rg_ir_kernel *a = &plan->kernels[i], *b = &test_kernels[i];
        cr_assert_str_eq(a->name, b->name);
        cr_assert_str_eq(a->kind, b->kind);
        cr_assert_str_eq(a->arch, b->arch);
        cr_assert_eq(a->nnodes, b->nnodes);
        for (uint32_t j = 0; j < a->nnodes; j++) cr_assert_eq(a->nodes[j], b->nodes[j]);
        cr_assert_eq(a->source_size, b->source_size);
        cr_assert_eq(memcmp(a->source, b->source, a->source_size), 0);
        cr_assert_eq(a->source[a->source_size], '\0');
        cr_assert_eq(a->cubin_size, b->cubin_size);
        cr_assert_eq(memcmp(a->cubin, b->cubin, a->cubin_size), 0);
        cr_assert_eq((uintptr_t)a->cubin % 16, 0);
    }
    rg_plan_free(plan);
    rg_mem_free(rg_allocator_default(), data, size);
    /* no kernels: no section */
    write_with_kernels(g, 0, &data, &size);
    size_t ksize;
    cr_assert_null(kernels_section(data, &ksize));
    cr_assert_eq(rg_rt_plan_load_memory(data, size, NULL, &plan, &err), RG_OK, "%s", err.message);
    cr_assert_eq(plan->nkernels, 0);
    rg_plan_free(plan);
    rg_mem_free(rg_allocator_default(), data, size);
    rg_graph_free(g);
}

Test(plan_kernels, damage_is_caught) {
    rg_graph *g = relu_graph();
    void *data;
    size_t size;
    write_with_kernels(g, 2, &data, &size);
    size_t ksize;
    uint8_t *copy = malloc(size);
    memcpy(copy, data, size);
    uint8_t *section = kernels_section(copy, &ksize);
    cr_assert_not_null(section);
    size_t koff = (size_t)(section - copy);
    rg_error err;
    /* a node index past the graph's one node */
    size_t node_at = 8 + 8 + 16 + 8 + 16 + 8 + 8 + 8; /* count, name, kind, arch, node count */
    cr_assert_eq(rg_ir_load_u32(copy + koff + node_at), 0);
    rg_ir_store_u32(copy + koff + node_at, 5);
    fix_checksum(copy, size);
    cr_assert_eq(load_counted(copy, size, NULL, &err), RG_ERR_CORRUPT_PLAN);
    cr_assert_not_null(strstr(err.message, "KERNELS"), "%s", err.message);
    /* every flipped byte of the section: corrupt or harmless, never a crash or a leak */
    int caught = 0;
    for (size_t i = 0; i < ksize; i++) {
        memcpy(copy, data, size);
        copy[koff + i] ^= 0x41;
        fix_checksum(copy, size);
        rg_status st = load_counted(copy, size, NULL, &err);
        cr_assert(st == RG_OK || st == RG_ERR_CORRUPT_PLAN, "byte %zu: status %d", i, st);
        caught += st != RG_OK;
    }
    cr_assert_gt(caught, (int)ksize / 2, "only %d of %zu flips caught", caught, ksize);
    /* a section cut short (its table entry says fewer bytes) */
    for (size_t cut = 1; cut < ksize; cut += 3) {
        memcpy(copy, data, size);
        uint32_t count = rg_ir_load_u32(copy + RG_PLAN_OFF_SECTION_COUNT);
        for (uint32_t i = 0; i < count; i++) {
            uint8_t *e = copy + RG_PLAN_HEADER_SIZE + i * RG_PLAN_SECTION_ENTRY_SIZE;
            if (rg_ir_load_u32(e) == RG_PLAN_SECTION_KERNELS) rg_ir_store_u64(e + 16, ksize - cut);
        }
        fix_checksum(copy, size);
        cr_assert_eq(load_counted(copy, size, NULL, &err), RG_ERR_CORRUPT_PLAN, "cut %zu loaded", cut);
    }
    free(copy);
    rg_mem_free(rg_allocator_default(), data, size);
    rg_graph_free(g);
}
