/*
 * Batch-reduction kernels for Fused and LayerNorm nodes: the emitted source
 * of three kernels is pinned by golden files (tests/codegen/golden/; set
 * RG_UPDATE_GOLDEN=1 to rewrite them deliberately), every kernel compiles
 * with NVRTC for sm_90 at many row lengths and dtypes (sm_80/sm_89 for a
 * few), the layout chosen for a row length is the designed one, and bad
 * requests are refused with the node named. NVRTC needs no GPU; where it is
 * missing the compile checks skip, saying why.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda_fused.h"
#include "codegen/nvrtc.h"
#include "cuda_fused_fixtures.h"

static char *emit_node(const rg_node *n, const char *name, rg_dtype dt, int64_t len, rg_kabi_fused_kernel *k) {
    rg_cg_emit e;
    rg_cg_emit_init(&e, NULL);
    rg_error err = {0};
    cr_assert_eq(rg_cg_fused_emit(n, name, dt, len, &e, k, &err), RG_OK, "%s", err.message);
    char *text = strdup(rg_cg_emit_text(&e));
    rg_cg_emit_deinit(&e);
    return text;
}

static void check_golden(const char *file, const char *text) {
    const char *dir = getenv("RG_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/codegen/golden/%s", dir ? dir : ".", file);
    const char *update = getenv("RG_UPDATE_GOLDEN");
    if (update && update[0] == '1') {
        FILE *f = fopen(path, "wb");
        cr_assert(f, "cannot write %s", path);
        fputs(text, f);
        fclose(f);
        return;
    }
    FILE *f = fopen(path, "rb");
    cr_assert(f, "no golden file %s (RG_SOURCE_DIR unset?)", path);
    static char want[1 << 16];
    size_t n = fread(want, 1, sizeof want - 1, f);
    fclose(f);
    want[n] = '\0';
    cr_assert_str_eq(text, want, "emitted source differs from %s; rerun with RG_UPDATE_GOLDEN=1 if intended", path);
}

Test(cuda_fused, golden_softmax_scale_mask) {
    rg_graph *g = cf_graph();
    int64_t dims[4] = {2, 12, 128, 128};
    rg_node *n = cf_softmax(g, RG_DTYPE_F16, 4, dims, 0.125f);
    rg_kabi_fused_kernel k;
    char *text = emit_node(n, "rg_softmax", RG_DTYPE_UNDEFINED, 0, &k);
    check_golden("softmax_f16_128.cu", text);
    cr_assert_eq(k.vector_width, 8, "128 halves: 16-byte vectors over half a warp");
    cr_assert_eq(k.threads_per_row, 16);
    cr_assert_eq(k.rows_per_block, 16);
    cr_assert_str_eq(k.vec_name, "rg_softmax_vec");
    cr_assert_str_eq(k.scalar_name, "rg_softmax_scalar");
    free(text);
    rg_graph_free(g);
}

Test(cuda_fused, golden_layer_norm_bias_residual) {
    rg_graph *g = cf_graph();
    int64_t dims[2] = {16, 768};
    rg_node *n = cf_layer_norm(g, RG_DTYPE_F16, 2, dims, true);
    rg_kabi_fused_kernel k;
    char *text = emit_node(n, "rg_ln", RG_DTYPE_UNDEFINED, 0, &k);
    check_golden("layer_norm_f16_768.cu", text);
    cr_assert_eq(k.vector_width, 8);
    cr_assert_eq(k.threads_per_row, 32);
    cr_assert_eq(k.input_kind[3], RG_KABI_FUSED_IN_ROW);
    cr_assert_eq(k.noutputs, 2);
    /* mean then variance: two levels of reductions, no E[x^2] - E[x]^2 */
    cr_assert(strstr(text, "// level 2"));
    free(text);
    rg_graph_free(g);
}

Test(cuda_fused, golden_gelu_chain) {
    rg_graph *g = cf_graph();
    int64_t dims[2] = {64, 3072};
    rg_node *n = cf_gelu_chain(g, RG_DTYPE_F32, 2, dims);
    rg_kabi_fused_kernel k;
    char *text = emit_node(n, "rg_bias_gelu", RG_DTYPE_UNDEFINED, 3072, &k);
    check_golden("gelu_f32_3072.cu", text);
    cr_assert_eq(k.vector_width, 4);
    cr_assert_eq(k.threads_per_row, 96, "3072 floats: 3 warps of 32 elements each");
    cr_assert_eq(k.rows_per_block, 2);
    free(text);
    rg_graph_free(g);
}

Test(cuda_fused, layouts) {
    rg_graph *g = cf_graph();
    int64_t dims[2] = {4, 8};
    rg_node *n = cf_gelu_chain(g, RG_DTYPE_F16, 2, dims);
    struct {
        int64_t n;
        rg_dtype dt;
        int vec, threads, rpb;
        bool has_vec;
    } cases[] = {
        {1, RG_DTYPE_F32, 1, 1, 256, false},      {3, RG_DTYPE_F16, 1, 4, 64, false},
        {127, RG_DTYPE_F32, 1, 32, 8, false},     {768, RG_DTYPE_F16, 8, 32, 8, true},
        {768, RG_DTYPE_F32, 4, 32, 8, true},      {1024, RG_DTYPE_BF16, 8, 32, 8, true},
        {4096, RG_DTYPE_F16, 8, 128, 2, true},    {4096, RG_DTYPE_F32, 4, 128, 2, true},
        {100000, RG_DTYPE_F32, 4, 1024, 1, true}, {512, RG_DTYPE_F16, 8, 32, 8, true}, {128, RG_DTYPE_F16, 8, 16, 16, true},
        {96, RG_DTYPE_F32, 4, 32, 8, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rg_kabi_fused_kernel k;
        char *text = emit_node(n, "k", cases[i].dt, cases[i].n, &k);
        cr_assert_eq(k.vector_width, cases[i].vec, "n=%lld", (long long)cases[i].n);
        cr_assert_eq(k.threads_per_row, cases[i].threads, "n=%lld", (long long)cases[i].n);
        cr_assert_eq(k.rows_per_block, cases[i].rpb, "n=%lld", (long long)cases[i].n);
        cr_assert_eq(k.vec_name[0] != '\0', cases[i].has_vec, "n=%lld", (long long)cases[i].n);
        cr_assert_eq(k.block_threads, k.threads_per_row * k.rows_per_block);
        free(text);
    }
    rg_graph_free(g);
}

Test(cuda_fused, refusals_name_the_node) {
    rg_graph *g = cf_graph();
    int64_t dims[2] = {4, 8};
    rg_node *n = cf_gelu_chain(g, RG_DTYPE_F16, 2, dims);
    rg_cg_emit e;
    rg_cg_emit_init(&e, NULL);
    rg_kabi_fused_kernel k;
    memset(&k, 0x5a, sizeof k);
    rg_error err = {0};
    cr_assert_eq(rg_cg_fused_emit(n, "bad name", RG_DTYPE_F16, 8, &e, &k, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "bias_gelu"), "%s", err.message);
    cr_assert_eq(rg_cg_fused_emit(n, "k", RG_DTYPE_I64, 8, &e, &k, &err), RG_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "bias_gelu") && strstr(err.message, "int64"), "%s", err.message);
    cr_assert_eq(k.ninputs, 0x5a5a5a5au, "out-parameter untouched on failure");
    /* a broken program: store of an undefined register */
    static const int64_t bad[] = {RG_FUSED_STORE, 0, 7, RG_FUSED_STORE_ROW};
    rg_attr attrs[2] = {{.name = "fused_version", .kind = RG_ATTR_INT, .i = RG_FUSED_VERSION},
                        {.name = "program", .kind = RG_ATTR_INTS, .count = 4, .ints = bad}};
    rg_node_set_attrs(n, 2, attrs);
    cr_assert_eq(rg_cg_fused_emit(n, "k", RG_DTYPE_F16, 8, &e, &k, &err), RG_ERR_INVALID_MODEL);
    cr_assert(strstr(err.message, "bias_gelu") && strstr(err.message, "register"), "%s", err.message);
    rg_cg_emit_deinit(&e);
    rg_graph_free(g);
}

/* ------------------------------------------------------------------ NVRTC */

static rg_cg_nvrtc *open_or_skip(void) {
    rg_cg_nvrtc *n = NULL;
    rg_error err = {0};
    if (rg_cg_nvrtc_open(NULL, &n, &err) != RG_OK) cr_skip_test("NVRTC unavailable here: %s", err.message);
    return n;
}

static void compile_ok(rg_cg_nvrtc *nv, const rg_node *n, rg_dtype dt, int64_t len, const char *arch) {
    rg_kabi_fused_kernel k;
    char *text = emit_node(n, "rg_kernel", dt, len, &k);
    void *cubin = NULL;
    size_t size = 0;
    char log[4096] = "";
    rg_cg_nvrtc_options opt = {.log = log, .log_capacity = sizeof log};
    rg_error err = {0};
    rg_status st = rg_cg_nvrtc_compile(nv, text, n->name, arch, &opt, &cubin, &size, &err);
    cr_assert_eq(st, RG_OK, "%s (%s, n=%lld, %s): %s\n%s", n->name, rg_dtype_name(dt), (long long)len, arch,
                 err.message, text);
    cr_assert_eq(memcmp(cubin, "\x7f" "ELF", 4), 0);
    cr_assert(strstr(log, "warning") == NULL, "NVRTC warned for %s n=%lld: %s", n->name, (long long)len, log);
    free(cubin);
    free(text);
}

Test(cuda_fused, every_kernel_compiles_for_sm_90) {
    rg_cg_nvrtc *nv = open_or_skip();
    rg_graph *g[4] = {cf_graph(), cf_graph(), cf_graph(), cf_graph()};
    int64_t d4[4] = {2, 2, 8, 8}, d2[2] = {4, 8};
    rg_node *nodes[4] = {cf_softmax(g[0], RG_DTYPE_F16, 4, d4, 0.125f), cf_gelu_chain(g[1], RG_DTYPE_F16, 2, d2),
                         cf_layer_norm(g[2], RG_DTYPE_F16, 2, d2, true), cf_everything(g[3], RG_DTYPE_F16, 4, 8)};
    const int64_t lengths[] = {1, 3, 127, 768, 1024, 4096};
    const rg_dtype dtypes[] = {RG_DTYPE_F32, RG_DTYPE_F16, RG_DTYPE_BF16};
    for (size_t i = 0; i < 4; i++)
        for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++)
            /* every dtype meets every node and most lengths, without the full product */
            compile_ok(nv, nodes[i], dtypes[(i + l) % 3], lengths[l], "sm_90");
    for (size_t i = 0; i < 4; i++) rg_graph_free(g[i]);
    rg_cg_nvrtc_close(nv);
}

Test(cuda_fused, compiles_for_sm_80_and_sm_89) {
    rg_cg_nvrtc *nv = open_or_skip();
    rg_graph *g = cf_graph(), *g2 = cf_graph();
    int64_t d2[2] = {4, 768};
    rg_node *ln = cf_layer_norm(g, RG_DTYPE_BF16, 2, d2, false);
    rg_node *all = cf_everything(g2, RG_DTYPE_BF16, 4, 768);
    const char *archs[] = {"sm_80", "sm_89"};
    for (size_t a = 0; a < 2; a++) {
        compile_ok(nv, ln, RG_DTYPE_BF16, 768, archs[a]);
        compile_ok(nv, all, RG_DTYPE_F16, 4096, archs[a]);
    }
    rg_graph_free(g);
    rg_graph_free(g2);
    rg_cg_nvrtc_close(nv);
}
