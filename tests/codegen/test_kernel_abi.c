/*
 * The kernel ABI (ir/kernel_abi.h) from codegen's side: the description the
 * executor derives from a node alone (rg_kabi_fused_kernel_of) is exactly
 * the one the emitter wrote the kernel for, for every fixture, dtype and
 * row length tried; a LayerNorm's program is handed out pointing into the
 * caller's struct; refusals leave the out-parameters untouched; attention
 * variants come from a node's attributes and are named as the template's
 * kernels are.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda_fused.h"
#include "codegen/kernels.h"
#include "cuda_fused_fixtures.h"
#include "ir/kernel_abi.h"

static void assert_same_kernel(const rg_kabi_fused_kernel *a, const rg_kabi_fused_kernel *b, const char *what) {
    cr_assert_str_eq(a->vec_name, b->vec_name, "%s", what);
    cr_assert_str_eq(a->scalar_name, b->scalar_name, "%s", what);
    cr_assert_eq(a->dtype, b->dtype, "%s", what);
    cr_assert_eq(a->row_length, b->row_length, "%s", what);
    cr_assert_eq(a->vector_width, b->vector_width, "%s", what);
    cr_assert_eq(a->threads_per_row, b->threads_per_row, "%s", what);
    cr_assert_eq(a->rows_per_block, b->rows_per_block, "%s", what);
    cr_assert_eq(a->block_threads, b->block_threads, "%s", what);
    cr_assert_eq(a->ninputs, b->ninputs, "%s", what);
    cr_assert_eq(a->noutputs, b->noutputs, "%s", what);
    cr_assert_eq(memcmp(a->input_kind, b->input_kind, sizeof a->input_kind), 0, "%s", what);
    cr_assert_eq(memcmp(a->output_mode, b->output_mode, sizeof a->output_mode), 0, "%s", what);
}

Test(kernel_abi, executor_view_matches_emitter) {
    rg_graph *g[5] = {cf_graph(), cf_graph(), cf_graph(), cf_graph(), cf_graph()};
    int64_t d4[4] = {2, 2, 8, 8}, d2[2] = {4, 8};
    rg_node *nodes[5] = {cf_softmax(g[0], RG_DTYPE_F16, 4, d4, 0.125f), cf_gelu_chain(g[1], RG_DTYPE_F16, 2, d2),
                         cf_layer_norm(g[2], RG_DTYPE_F16, 2, d2, true), cf_layer_norm(g[3], RG_DTYPE_BF16, 2, d2, false),
                         cf_everything(g[4], RG_DTYPE_F16, 4, 8)};
    const int64_t lengths[] = {0, 1, 3, 96, 127, 128, 768, 1024, 3072, 4096, 100000};
    const rg_dtype dtypes[] = {RG_DTYPE_UNDEFINED, RG_DTYPE_F32, RG_DTYPE_F16, RG_DTYPE_BF16};
    for (size_t i = 0; i < 5; i++)
        for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++)
            for (size_t d = 0; d < 4; d++) {
                rg_error err = {0};
                rg_cg_emit e;
                rg_cg_emit_init(&e, NULL);
                rg_kabi_fused_kernel emitted, derived;
                cr_assert_eq(rg_cg_fused_emit(nodes[i], RG_KABI_FUSED_NAME, dtypes[d], lengths[l], &e, &emitted, &err),
                             RG_OK, "%s", err.message);
                rg_cg_emit_deinit(&e);
                cr_assert_eq(rg_kabi_fused_kernel_of(nodes[i], RG_KABI_FUSED_NAME, dtypes[d], lengths[l], &derived,
                                                     NULL, &err),
                             RG_OK, "%s", err.message);
                char what[128];
                snprintf(what, sizeof what, "%s n=%lld dtype=%s", nodes[i]->name, (long long)lengths[l],
                         rg_dtype_name(dtypes[d]));
                assert_same_kernel(&emitted, &derived, what);
                cr_assert_str_eq(derived.scalar_name, "rg_fused_scalar", "%s", what);
            }
    for (size_t i = 0; i < 5; i++) rg_graph_free(g[i]);
}

Test(kernel_abi, layer_norm_program_and_kinds) {
    rg_graph *g = cf_graph();
    int64_t dims[2] = {16, 768};
    rg_node *n = cf_layer_norm(g, RG_DTYPE_F16, 2, dims, true);
    rg_error err = {0};
    rg_kabi_fused_kernel k;
    rg_kabi_fused_source *src = malloc(sizeof *src);
    cr_assert_eq(rg_kabi_fused_kernel_of(n, "ln", RG_DTYPE_UNDEFINED, 0, &k, src, &err), RG_OK, "%s", err.message);
    cr_assert_eq(src->program.code, src->layer_norm_code, "points into the caller's struct");
    cr_assert_eq(src->program.constants, &src->layer_norm_epsilon);
    cr_assert_float_eq(src->layer_norm_epsilon, 1e-5f, 0.0f);
    cr_assert_leq(src->program.ninstr, RG_KABI_LAYER_NORM_MAX_INSTR);
    for (int i = 0; i < 4; i++) cr_assert_eq(k.input_kind[i], RG_KABI_FUSED_IN_ROW, "input %d", i);
    cr_assert_eq(k.output_mode[0], RG_FUSED_STORE_ROW);
    cr_assert_eq(k.output_mode[1], RG_FUSED_STORE_ROW);
    cr_assert_eq(k.row_length, 768);
    cr_assert_eq(k.vector_width, 8);
    cr_assert_eq(k.threads_per_row, 32);
    cr_assert_eq(k.rows_per_block, 8);
    cr_assert_str_eq(k.vec_name, "ln_vec");
    free(src);
    rg_graph_free(g);
}

Test(kernel_abi, refusals_leave_outputs_untouched) {
    rg_graph *g = cf_graph();
    int64_t dims[2] = {4, 8};
    rg_node *n = cf_gelu_chain(g, RG_DTYPE_F16, 2, dims);
    rg_kabi_fused_kernel k;
    rg_kabi_fused_source src;
    memset(&k, 0x5a, sizeof k);
    memset(&src, 0x5a, sizeof src);
    rg_error err = {0};
    cr_assert_eq(rg_kabi_fused_kernel_of(n, "bad name", RG_DTYPE_F16, 8, &k, &src, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "bias_gelu"), "%s", err.message);
    cr_assert_eq(rg_kabi_fused_kernel_of(n, "k", RG_DTYPE_I64, 8, &k, &src, &err), RG_ERR_UNSUPPORTED);
    static const int64_t bad[] = {RG_FUSED_STORE, 0, 7, RG_FUSED_STORE_ROW};
    rg_attr attrs[2] = {{.name = "fused_version", .kind = RG_ATTR_INT, .i = RG_FUSED_VERSION},
                        {.name = "program", .kind = RG_ATTR_INTS, .count = 4, .ints = bad}};
    rg_node_set_attrs(n, 2, attrs);
    cr_assert_eq(rg_kabi_fused_kernel_of(n, "k", RG_DTYPE_F16, 8, &k, &src, &err), RG_ERR_INVALID_MODEL);
    cr_assert(strstr(err.message, "bias_gelu") && strstr(err.message, "register"), "%s", err.message);
    cr_assert_eq(k.ninputs, 0x5a5a5a5au);
    cr_assert_eq(src.program.ninstr, 0x5a5a5a5au);
    rg_graph_free(g);
}

Test(kernel_abi, attention_variant_of_a_node) {
    rg_graph *g = cf_graph();
    int64_t dims[2] = {4, 3 * 12 * 64};
    rg_value *qkv = cf_value(g, "qkv", RG_DTYPE_BF16, 2, dims);
    rg_value *out = cf_value(g, "out", RG_DTYPE_BF16, 2, dims);
    rg_node *n = cf_node(g, RG_OP_ATTENTION, "attn", 1, (rg_value *[]){qkv}, 1, (rg_value *[]){out});
    rg_attr attrs[3] = {{.name = "num_heads", .kind = RG_ATTR_INT, .i = 12},
                        {.name = "head_size", .kind = RG_ATTR_INT, .i = 64},
                        {.name = "causal", .kind = RG_ATTR_INT, .i = 1}};
    rg_node_set_attrs(n, 3, attrs);
    rg_error err = {0};
    rg_kabi_attention_variant v;
    cr_assert_eq(rg_kabi_attention_variant_of(n, &v, &err), RG_OK, "%s", err.message);
    cr_assert_eq(v.dtype, RG_DTYPE_BF16);
    cr_assert_eq(v.head_dim, 64);
    cr_assert(v.causal);
    char name[64];
    rg_kabi_attention_kernel_name(&v, name, sizeof name);
    cr_assert_str_eq(name, "rg_attention_bf16_d64_causal");
    cr_assert(!v.wgmma, "the node alone does not pick the Hopper kernel");
    /* codegen's choice per target: the wgmma kernel (sm_90a module) on sm_90 */
    cr_assert_eq(rg_cg_attention_variant(n, "sm_90", &v, &err), RG_OK, "%s", err.message);
    cr_assert(v.wgmma);
    cr_assert_str_eq(rg_kabi_attention_arch(&v, "sm_90"), "sm_90a");
    rg_kabi_attention_kernel_name(&v, name, sizeof name);
    cr_assert_str_eq(name, "rg_attention_bf16_d64_causal_wg");
    cr_assert_eq(rg_cg_attention_variant(n, "sm_90a", &v, &err), RG_OK, "%s", err.message);
    cr_assert(v.wgmma);
    cr_assert_eq(rg_cg_attention_variant(n, "sm_89", &v, &err), RG_OK, "%s", err.message);
    cr_assert(!v.wgmma);
    cr_assert_str_eq(rg_kabi_attention_arch(&v, "sm_89"), "sm_89");
    /* the executor's view of a plan's module: wgmma exactly for an sm_90a module */
    rg_kabi_attention_set_module_arch(&v, "sm_90a");
    cr_assert(v.wgmma);
    rg_kabi_attention_set_module_arch(&v, "sm_90");
    cr_assert(!v.wgmma);
    rg_kabi_attention_set_module_arch(&v, NULL);
    cr_assert(!v.wgmma);
    attrs[1].i = 32; /* head size 32 has no wgmma kernel */
    cr_assert_eq(rg_cg_attention_variant(n, "sm_90", &v, &err), RG_OK, "%s", err.message);
    cr_assert(!v.wgmma && v.head_dim == 32);
    attrs[1].i = 64;
    const char *short_name;
    cr_assert_eq(rg_kabi_attention_dtype_code(RG_DTYPE_F16, &short_name), 1);
    cr_assert_str_eq(short_name, "f16");
    cr_assert_eq(rg_kabi_attention_dtype_code(RG_DTYPE_I8, &short_name), -1);
    attrs[1].i = 80; /* no kernel for that head size */
    memset(&v, 0x5a, sizeof v);
    cr_assert_eq(rg_kabi_attention_variant_of(n, &v, &err), RG_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "80"), "%s", err.message);
    cr_assert_eq(v.head_dim, 0x5a5a5a5a, "untouched on failure");
    rg_graph_free(g);
}
