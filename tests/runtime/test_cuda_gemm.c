/*
 * The Hopper GEMM (codegen/kernels/gemm.cu, runtime/cuda_gemm.c).
 * Everywhere: the kernel ABI's tiles and names, the launcher's tile pick and
 * refusals, and both modules (fp16, bf16) compiling with NVRTC for sm_90a.
 * On an sm_90 GPU: every tile, epilogue and dtype against a double
 * reference over the same rounded inputs (relative Frobenius error <= 1e-2,
 * as for cuBLASLt's fp16/bf16), with rows past m left alone; also built with
 * 64-column instructions only (RG_GEMM_NARROW), which do not walk the
 * descriptors' chunk stride; then BERT-base's Linear shapes timed against
 * cuBLASLt (printed, not asserted). Elsewhere those parts skip with the
 * reason.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/kernels.h"
#include "ir/dtype.h"
#include "ragged.h"
#include "runtime/cublaslt.h"
#include "runtime/cuda_gemm.h"
#include "runtime/plan.h"
#include "exported_plan.h"

/* ---- everywhere ---- */

Test(cuda_gemm, tiles_and_names) {
    size_t n = 0;
    const rg_kabi_gemm_tile *tiles = rg_kabi_gemm_tiles(&n);
    cr_assert_geq(n, 2);
    cr_assert_leq(n, RG_KABI_GEMM_MAX_TILES, "a loaded module has room for %d tiles", RG_KABI_GEMM_MAX_TILES);
    for (size_t t = 0; t < n; t++) {
        cr_assert(tiles[t].warpgroups == 1 || tiles[t].warpgroups == 2);
        cr_assert(tiles[t].bn == 64 || tiles[t].bn == 128 || tiles[t].bn == 256);
        cr_assert_geq(tiles[t].stages, 3);
        cr_assert_leq(rg_kabi_gemm_smem_bytes(&tiles[t]), 227 * 1024, "%s over the H100's per-block limit",
                      tiles[t].name);
        cr_assert_geq(tiles[t].per_sm, 1);
        cr_assert(tiles[t].split == 1 || tiles[t].split == 2 || tiles[t].split == 4 || tiles[t].split == 8,
                  "%s: a cluster of %d", tiles[t].name, tiles[t].split);
        cr_assert_eq(64 * tiles[t].warpgroups % tiles[t].split, 0, "%s: whole rows per block", tiles[t].name);
        char suffix[8];
        snprintf(suffix, sizeof suffix, "s%d", tiles[t].split);
        const char *tail = tiles[t].name + strlen(tiles[t].name) - strlen(suffix);
        cr_assert_eq(tiles[t].split > 1, tail > tiles[t].name && !strcmp(tail, suffix),
                     "%s: split-K tiles, and only they, end in s<split>", tiles[t].name);
        /* pingpong tiles: named so, never split, a producer warpgroup and two
         * consumers, whose 8 warps have the epilogue's 2 KB each */
        size_t len = strlen(tiles[t].name);
        cr_assert_eq(tiles[t].pingpong != 0, tiles[t].name[len - 1] == 'p', "%s: pingpong tiles end in p",
                     tiles[t].name);
        cr_assert_eq(rg_kabi_gemm_threads(&tiles[t]), tiles[t].pingpong ? 384 : 128 * tiles[t].warpgroups);
        if (tiles[t].pingpong) {
            cr_assert_eq(tiles[t].split, 1, "%s", tiles[t].name);
            cr_assert_eq(rg_kabi_gemm_smem_bytes(&tiles[t]),
                         (size_t)tiles[t].stages * (size_t)(64 * tiles[t].warpgroups + tiles[t].bn) * 128 + 8 * 2048 +
                             1024 + (size_t)tiles[t].stages * 16);
        }
        cr_assert_leq((size_t)tiles[t].per_sm * (rg_kabi_gemm_smem_bytes(&tiles[t]) + 1024), 228 * 1024,
                      "%s: %d blocks do not fit an SM's shared memory", tiles[t].name, tiles[t].per_sm);
        if (t && !tiles[t - 1].pingpong)
            cr_assert_geq(64 * tiles[t - 1].warpgroups * tiles[t - 1].bn, 64 * tiles[t].warpgroups * tiles[t].bn,
                          "after the pingpong tile, largest first");
    }
    cr_assert(tiles[0].pingpong, "the warp-specialized tile is preferred");
    const rg_kabi_gemm_tile *big = NULL;
    for (size_t t = 0; t < n; t++)
        if (!strcmp(tiles[t].name, "m128n256")) big = &tiles[t];
    cr_assert_not_null(big);
    cr_assert_eq(rg_kabi_gemm_smem_bytes(big), 4 * (128 + 256) * 128 + 8 * 2048 + 1024);
    char name[64];
    rg_kabi_gemm_kernel_name(RG_DTYPE_F16, true, big, name, sizeof name);
    cr_assert_str_eq(name, "rg_gemm_f16_gelu_m128n256");
    rg_kabi_gemm_kernel_name(RG_DTYPE_BF16, false, &tiles[0], name, sizeof name);
    cr_assert_str_eq(name, "rg_gemm_bf16_bias_m128n128p");
    rg_kabi_gemm_module_name(RG_DTYPE_BF16, name, sizeof name);
    cr_assert_str_eq(name, "rg_gemm_bf16");
    cr_assert(rg_kabi_gemm_dtype_ok(RG_DTYPE_F16) && rg_kabi_gemm_dtype_ok(RG_DTYPE_BF16));
    cr_assert(!rg_kabi_gemm_dtype_ok(RG_DTYPE_F32));
    cr_assert_str_eq(rg_kabi_gemm_arch(), "sm_90a");
    cr_assert(rg_kabi_wgmma_target_ok("sm_90") && rg_kabi_wgmma_target_ok("sm_90a"));
    cr_assert(!rg_kabi_wgmma_target_ok("sm_89") && !rg_kabi_wgmma_target_ok("sm_80") && !rg_kabi_wgmma_target_ok(NULL));
}

/* Aligned stand-ins: the pick and fit rules read only the addresses. */
static rg_rt_gemm_args args_of(int64_t m, int64_t n, int64_t k) {
    static _Alignas(16) char buffer[64];
    return (rg_rt_gemm_args){.x = buffer, .w = buffer, .y = buffer, .m = m, .n = n, .k = k, .tile = -1,
                             .sm_count = 132};
}

Test(cuda_gemm, pick_and_refusals) {
    size_t ntiles = 0;
    const rg_kabi_gemm_tile *tiles = rg_kabi_gemm_tiles(&ntiles);
    /* 32768 tokens x 3072: the largest tile fills the GPU many times over */
    rg_rt_gemm_args a = args_of(32768, 3072, 768);
    cr_assert_eq(rg_rt_cuda_gemm_pick(&a), 0);
    /* batch 1: no whole-k tile fills 132 SMs; the smallest split of k that
     * does (96 tiles of 64 x 64, in clusters of 2) */
    a = args_of(128, 3072, 768);
    int t = rg_rt_cuda_gemm_pick(&a);
    cr_assert_geq(t, 0);
    cr_assert_eq(tiles[t].warpgroups * 64 * tiles[t].bn, 64 * 64, "the smallest tile at m=128, got %s", tiles[t].name);
    cr_assert_eq(tiles[t].split, 2, "got %s", tiles[t].name);
    /* 24 tiles: clusters of 8 */
    a = args_of(128, 768, 768);
    t = rg_rt_cuda_gemm_pick(&a);
    cr_assert(t >= 0 && tiles[t].split == 8, "got %d", t);
    /* a split never leaves a block without a slice of k: with 2 slices,
     * no cluster above 2, and 12 tiles of 64 x 64 are too few without it */
    a = args_of(16, 768, 128);
    t = rg_rt_cuda_gemm_pick(&a);
    cr_assert(t >= 0 && tiles[t].split == 2, "got %d", t);
    for (size_t i = 0; i < ntiles; i++) {
        a.tile = (int)i;
        cr_assert_eq(rg_rt_cuda_gemm_fits(&a), tiles[i].split <= 2, "%s with 2 slices of k", tiles[i].name);
    }
    /* n of no tile width but 64, k not a multiple of 64, empty k */
    a = args_of(4096, 832, 768);
    t = rg_rt_cuda_gemm_pick(&a);
    cr_assert(t >= 0 && tiles[t].bn == 64);
    a = args_of(4096, 3072, 100);
    cr_assert_eq(rg_rt_cuda_gemm_pick(&a), -1);
    cr_assert(!rg_rt_cuda_gemm_fits(&a));
    a = args_of(4096, 3000, 768);
    cr_assert(!rg_rt_cuda_gemm_fits(&a), "n = 3000 is no multiple of 64");
    a = args_of(16, 3072, 0);
    cr_assert(!rg_rt_cuda_gemm_fits(&a));
    /* misaligned operands, a tile that does not divide n, an unknown tile */
    a = args_of(16, 3072, 768);
    cr_assert(rg_rt_cuda_gemm_fits(&a));
    a.x = (const char *)a.x + 8;
    cr_assert(!rg_rt_cuda_gemm_fits(&a));
    a = args_of(16, 3072, 768);
    a.bias = (const char *)a.y + 2; /* the bias is read in 4-byte pairs */
    cr_assert(!rg_rt_cuda_gemm_fits(&a));
    a.bias = (const char *)a.y + 4;
    cr_assert(rg_rt_cuda_gemm_fits(&a));
    a = args_of(16, 320, 768);
    a.tile = 0; /* 256 columns */
    cr_assert(!rg_rt_cuda_gemm_fits(&a));
    a.tile = (int)ntiles;
    cr_assert(!rg_rt_cuda_gemm_fits(&a));
    a.tile = (int)ntiles - 1; /* 64 columns */
    cr_assert(rg_rt_cuda_gemm_fits(&a));
}

static rg_cg_nvrtc *nvrtc_or_skip(void) {
    rg_cg_nvrtc *nvrtc = NULL;
    rg_error err = {0};
    if (rg_cg_nvrtc_open(NULL, &nvrtc, &err) != RG_OK) cr_skip_test("NVRTC checks skipped: %s", err.message);
    return nvrtc;
}

/* How often the n bytes at `needle` occur in the `size` bytes at `hay`. */
static size_t occurrences(const void *hay, size_t size, const void *needle, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i + n <= size; i++) count += !memcmp((const char *)hay + i, needle, n);
    return count;
}

Test(cuda_gemm, modules_compile, .timeout = 120) {
    rg_cg_nvrtc *nvrtc = nvrtc_or_skip();
    rg_error err = {0};
    const rg_dtype dtypes[] = {RG_DTYPE_F16, RG_DTYPE_BF16};
    for (int d = 0; d < 2; d++) {
        void *cubin = NULL;
        size_t size = 0;
        cr_assert_eq(rg_cg_gemm_compile(nvrtc, dtypes[d], false, &cubin, &size, &err), RG_OK, "%s", err.message);
        cr_assert(size > 4 && memcmp(cubin, "\177ELF", 4) == 0);
        /* every kernel the ABI names is in it */
        size_t ntiles = 0;
        const rg_kabi_gemm_tile *tiles = rg_kabi_gemm_tiles(&ntiles);
        for (size_t t = 0; t < ntiles; t++)
            for (int gelu = 0; gelu < 2; gelu++) {
                char name[64];
                rg_kabi_gemm_kernel_name(dtypes[d], gelu, &tiles[t], name, sizeof name);
                cr_assert(occurrences(cubin, size, name, strlen(name) + 1), "%s missing from the cubin", name);
            }
        free(cubin);
    }
    void *cubin = NULL;
    size_t size = 0;
    cr_assert_eq(rg_cg_gemm_compile(nvrtc, RG_DTYPE_F32, false, &cubin, &size, &err), RG_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "float32") != NULL || strstr(err.message, "f32") != NULL, "%s", err.message);
    rg_cg_nvrtc_close(nvrtc);
}

/* How often `text` occurs in a module's stored source. */
static size_t source_count(const rg_ir_kernel *k, const char *text) {
    return occurrences(k->source, k->source_size, text, strlen(text));
}

/* The GEMM modules of exported BERT compiled for `target` in `dtype`: how
 * many Linears they list in all (0 when there is none), checking each, and
 * how many of those end in the erf GELU (*gelu, when not NULL). */
static uint32_t gemm_nodes_of(const char *target, rg_dtype dtype, bool custom_gemm, uint32_t *gelu) {
    if (gelu) *gelu = 0;
    rg_compile_options opt = {.target = target, .dtype = dtype, .custom_gemm = custom_gemm};
    rg_plan *plan = rg_test_exported_plan("bert_L2_classic_o17", &opt);
    rg_error err = {0};
    /* Launch overlap (pdl=1) only for sm_90 plans, and there every kernel
     * waits first: a hand-written module calls rg_pdl_begin in each entry
     * point (the GEMM in its body, after the weights' first loads) */
    const char *pdl = NULL;
    size_t pdl_length = 0;
    bool overlap = rg_rt_plan_option(plan->options_text, "pdl", &pdl, &pdl_length);
    cr_assert_eq(overlap, rg_kabi_wgmma_target_ok(target), "%s: %s", target, plan->options_text);
    for (size_t m = 0; overlap && m < plan->nkernels; m++) {
        const rg_ir_kernel *k = &plan->kernels[m];
        cr_assert(k->source && source_count(k, "griddepcontrol.wait") > 0,
                  "module %s does not wait", k->name);
        size_t entries = source_count(k, "__global__");
        size_t waits = source_count(k, "rg_pdl_begin();");
        if (strcmp(k->kind, "gemm") != 0)
            cr_assert_geq(waits, entries, "module %s: %zu entry points, %zu waits", k->name, entries, waits);
    }
    uint32_t listed = 0;
    for (size_t m = 0; m < plan->nkernels; m++) {
        const rg_ir_kernel *k = &plan->kernels[m];
        if (strcmp(k->kind, "gemm") != 0) continue;
        char name[32];
        rg_kabi_gemm_module_name(dtype, name, sizeof name);
        cr_assert_str_eq(k->name, name);
        cr_assert_str_eq(k->arch, "sm_90a");
        for (uint32_t i = 0; i < k->nnodes; i++) {
            const rg_node *n = plan->graph->nodes[k->nodes[i]];
            const char *act = NULL;
            cr_assert_eq(n->op, RG_OP_LINEAR);
            cr_assert_eq(rg_node_attr_string(n, "activation", "none", &act, &err), RG_OK);
            cr_assert(!strcmp(act, "gelu") || !strcmp(act, "none"), "a Linear with activation %s in the module", act);
            if (gelu && !strcmp(act, "gelu")) ++*gelu;
        }
        listed += k->nnodes;
    }
    rg_plan_free(plan);
    return listed;
}

/* With --custom-gemm, sm_90 fp16/bf16 plans carry the module for their
 * Linears without an activation or with the erf GELU (one of those a
 * layer); fp32 plans and plans compiled without the option do not, and
 * other targets refuse the option. */
Test(cuda_gemm, plans_carry_the_module, .timeout = 120) {
    uint32_t gelu = 0;
    cr_assert_eq(gemm_nodes_of("sm_90", RG_DTYPE_F16, true, &gelu), 8,
                 "the 2-layer BERT's Linears: QKV, output, FFN in and out a layer");
    cr_assert_eq(gelu, 2, "one erf-GELU Linear per layer of the 2-layer BERT");
    cr_assert_eq(gemm_nodes_of("sm_90", RG_DTYPE_BF16, true, &gelu), 8);
    cr_assert_eq(gelu, 2);
    cr_assert_eq(gemm_nodes_of("sm_90", RG_DTYPE_F32, true, NULL), 0);
    cr_assert_eq(gemm_nodes_of("sm_90", RG_DTYPE_F16, false, NULL), 0);
    cr_assert_eq(gemm_nodes_of("sm_80", RG_DTYPE_F16, false, NULL), 0);
    /* asked for on a target without wgmma: an error naming the option, no plan */
    char model[1024];
    rg_test_exported_model("bert_L2_classic_o17", model, sizeof model);
    rg_compile_options opt = {.target = "sm_80", .dtype = RG_DTYPE_F16, .custom_gemm = 1};
    rg_error err = {0};
    cr_assert_eq(rg_compile_file(model, "/tmp/rg_gemm_never.plan", &opt, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "--custom-gemm") && strstr(err.message, "sm_80"), "%s", err.message);
    cr_assert_neq(access("/tmp/rg_gemm_never.plan", F_OK), 0, "no plan is written");
}

/* ---- on an sm_90 GPU ---- */

typedef struct gpu {
    rg_rt_cuda *cuda;
    rg_cg_nvrtc *nvrtc;
    rg_rt_cuda_stream stream;
    int sm_count;
} gpu;

static void hopper_open_or_skip(gpu *g) {
    rg_error err = {0};
    rg_status st = rg_rt_cuda_open(NULL, &g->cuda, &err);
    if (st != RG_OK) {
        cr_assert_eq(st, RG_ERR_DEVICE, "%s", err.message);
        cr_skip_test("no GPU here, GPU checks skipped: %s", err.message);
    }
    rg_rt_cuda_device_info info;
    cr_assert_eq(rg_rt_cuda_device_info_get(g->cuda, 0, &info, &err), RG_OK, "%s", err.message);
    if (info.sm_major != 9 || info.sm_minor != 0) {
        rg_rt_cuda_close(g->cuda);
        cr_skip_test("the wgmma GEMM needs an sm_90 GPU; this one is sm_%d%d", info.sm_major, info.sm_minor);
    }
    g->sm_count = info.multiprocessors;
    cr_assert_eq(rg_rt_cuda_set_device(g->cuda, 0, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_stream_new(g->cuda, &g->stream, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_cg_nvrtc_open(NULL, &g->nvrtc, &err), RG_OK, "GPU present but %s", err.message);
}

static void gpu_close(gpu *g) {
    rg_cg_nvrtc_close(g->nvrtc);
    rg_rt_cuda_stream_free(g->cuda, g->stream);
    rg_rt_cuda_close(g->cuda);
}

static rg_rt_cuda_gemm *gemm_new(gpu *g, rg_dtype dtype, bool narrow) {
    rg_error err = {0};
    void *cubin = NULL;
    size_t size = 0;
    cr_assert_eq(rg_cg_gemm_compile(g->nvrtc, dtype, narrow, &cubin, &size, &err), RG_OK, "%s", err.message);
    rg_rt_cuda_gemm *gemm = NULL;
    cr_assert_eq(rg_rt_cuda_gemm_load(g->cuda, cubin, size, dtype, 0, NULL, &gemm, &err), RG_OK, "%s", err.message);
    free(cubin);
    return gemm;
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* n values uniform in [-scale, scale], stored in `dtype` (raw) and as the
 * doubles they round to. */
static void *random_values(rg_dtype dtype, size_t n, double scale, uint64_t *s, double **rounded) {
    void *raw = malloc(n * rg_dtype_size(dtype) + 1);
    *rounded = malloc(n * sizeof(double) + 1);
    cr_assert(raw && *rounded);
    for (size_t i = 0; i < n; i++) {
        double u = (double)(rng_next(s) >> 11) / 9007199254740992.0;
        rg_store_from_double(dtype, raw, i, (2 * u - 1) * scale);
        (*rounded)[i] = rg_load_as_double(dtype, raw, i);
    }
    return raw;
}

static void *upload(gpu *g, const void *host, size_t bytes) {
    void *dev = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_rt_cuda_malloc(g->cuda, bytes ? bytes : 1, &dev, &err), RG_OK, "%s", err.message);
    if (bytes) cr_assert_eq(rg_rt_cuda_copy_to_device(g->cuda, dev, host, bytes, NULL, &err), RG_OK, "%s", err.message);
    return dev;
}

/* One product on one tile against the double reference. Y is allocated
 * with one row more than m, filled with a marker the kernel must leave. */
static void check_case(gpu *g, rg_rt_cuda_gemm *gemm, rg_dtype dtype, int tile, int64_t m, int64_t n, int64_t k,
                       bool gelu, bool bias, int sm_count) {
    uint64_t seed = 0x9E3779B97F4A7C15ull ^ (uint64_t)(m * 131 + n * 7 + k + gelu);
    size_t es = rg_dtype_size(dtype);
    double *xr, *wr, *br;
    void *x = random_values(dtype, (size_t)(m * k), 1.0, &seed, &xr);
    void *w = random_values(dtype, (size_t)(k * n), 1.0 / sqrt((double)k) * 2, &seed, &wr);
    void *b = random_values(dtype, (size_t)n, 0.5, &seed, &br);
    size_t y_count = (size_t)((m + 1) * n);
    unsigned char *y = malloc(y_count * es);
    cr_assert(y);
    memset(y, 0x5a, y_count * es);
    void *dx = upload(g, x, (size_t)(m * k) * es), *dw = upload(g, w, (size_t)(k * n) * es);
    void *db = upload(g, b, (size_t)n * es), *dy = upload(g, y, y_count * es);
    rg_rt_gemm_args a = {.x = dx, .w = dw, .bias = bias ? db : NULL, .y = dy, .m = m, .n = n, .k = k, .gelu = gelu,
                         .tile = tile, .sm_count = sm_count};
    rg_error err = {0};
    cr_assert_eq(rg_rt_cuda_gemm_launch(gemm, &a, g->stream, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_stream_sync(g->cuda, g->stream, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_copy_to_host(g->cuda, y, dy, y_count * es, NULL, &err), RG_OK, "%s", err.message);
    double err2 = 0, ref2 = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = bias ? br[j] : 0.0;
            for (int64_t p = 0; p < k; p++) acc += xr[i * k + p] * wr[p * n + j];
            if (gelu) acc = 0.5 * acc * (1.0 + erf(acc / sqrt(2.0)));
            double got = rg_load_as_double(dtype, y, (size_t)(i * n + j));
            cr_assert(isfinite(got), "y[%lld, %lld] = %g", (long long)i, (long long)j, got);
            err2 += (got - acc) * (got - acc);
            ref2 += acc * acc;
        }
    double rel = sqrt(err2 / (ref2 > 0 ? ref2 : 1));
    cr_assert_leq(rel, 1e-2, "%s tile %d m=%lld n=%lld k=%lld gelu=%d bias=%d: relative error %.3g",
                  rg_dtype_name(dtype), tile, (long long)m, (long long)n, (long long)k, gelu, bias, rel);
    for (size_t i = (size_t)(m * n) * es; i < y_count * es; i++)
        cr_assert_eq(y[i], 0x5a, "the row past m was written (byte %zu)", i);
    rg_rt_cuda_free(g->cuda, dx);
    rg_rt_cuda_free(g->cuda, dw);
    rg_rt_cuda_free(g->cuda, db);
    rg_rt_cuda_free(g->cuda, dy);
    free(x), free(w), free(b), free(xr), free(wr), free(br), free(y);
}

static void check_all(bool narrow) {
    gpu g = {0};
    hopper_open_or_skip(&g);
    const rg_dtype dtypes[] = {RG_DTYPE_F16, RG_DTYPE_BF16};
    /* m: one row, a partial tile, several tiles with a ragged end;
     * k: one slice, three (fewer than the stages), twelve (BERT: uneven
     * shares for a cluster of 8), sixteen (two slices a block of 8) */
    const int64_t shapes[][3] = {{1, 512, 64}, {63, 512, 192}, {130, 512, 768}, {300, 768, 128}, {70, 256, 1024}};
    size_t ntiles = 0;
    const rg_kabi_gemm_tile *tiles = rg_kabi_gemm_tiles(&ntiles);
    for (int d = 0; d < 2; d++) {
        rg_rt_cuda_gemm *gemm = gemm_new(&g, dtypes[d], narrow);
        for (size_t t = 0; t < ntiles; t++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                if (shapes[s][2] / 64 >= tiles[t].split) /* a slice of k for every block of a cluster */
                    check_case(&g, gemm, dtypes[d], (int)t, shapes[s][0], shapes[s][1], shapes[s][2], s % 2 == 0,
                               s != 3, g.sm_count);
        /* the launcher's own pick, with GELU and bias, at an odd m, and at
         * few rows (a split-K tile) */
        check_case(&g, gemm, dtypes[d], -1, 777, 1024, 256, true, true, g.sm_count);
        check_case(&g, gemm, dtypes[d], -1, 100, 768, 768, false, true, g.sm_count);
        /* few SMs: every block runs several tiles, their slices one stream
         * (a tile's first slices load during the previous one's epilogue) */
        for (size_t t = 0; t < ntiles; t++)
            if (tiles[t].split <= 3) check_case(&g, gemm, dtypes[d], (int)t, 777, 1024, 192, t % 2 == 0, true, 3);
        /* pingpong tiles with more slices than stages and several tiles a
         * block: the turns of the two warpgroups keep the ring's phases
         * apart (gemm.cu) */
        for (size_t t = 0; t < ntiles; t++)
            if (tiles[t].pingpong) check_case(&g, gemm, dtypes[d], (int)t, 700, 512, 768, true, true, 5);
        rg_rt_cuda_gemm_free(gemm);
    }
    gpu_close(&g);
}

Test(cuda_gemm, matches_reference, .timeout = 300) { check_all(false); }
Test(cuda_gemm, narrow_instructions_match_reference, .timeout = 300) { check_all(true); }

Test(cuda_gemm, launch_refuses_bad_arguments) {
    gpu g = {0};
    hopper_open_or_skip(&g);
    rg_rt_cuda_gemm *gemm = gemm_new(&g, RG_DTYPE_F16, false);
    rg_error err = {0};
    rg_rt_gemm_args a = args_of(16, 3072, 100);
    cr_assert_eq(rg_rt_cuda_gemm_launch(gemm, &a, g.stream, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "k 100") != NULL, "%s", err.message);
    a = args_of(16, 3072, 768);
    a.y = NULL;
    cr_assert_eq(rg_rt_cuda_gemm_launch(gemm, &a, g.stream, &err), RG_ERR_INVALID_ARGUMENT);
    rg_rt_cuda_gemm_free(gemm);
    gpu_close(&g);
}

/* Mean ms of one call of fn from a CUDA graph of `iterations` of them
 * (rg_rt_cuda_time_calls, as the executor's choice times them). */
static double time_graph(gpu *g, rg_rt_cuda_calls_fn fn, void *ctx, int iterations) {
    rg_error err = {0};
    rg_rt_cuda_event ev[2] = {NULL, NULL};
    cr_assert_eq(rg_rt_cuda_event_new(g->cuda, &ev[0], &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_event_new(g->cuda, &ev[1], &err), RG_OK, "%s", err.message);
    float ms = 0;
    cr_assert_eq(rg_rt_cuda_time_calls(g->cuda, g->stream, fn, ctx, iterations, ev, &ms, &err), RG_OK, "%s",
                 err.message);
    rg_rt_cuda_event_free(g->cuda, ev[0]);
    rg_rt_cuda_event_free(g->cuda, ev[1]);
    return ms;
}

typedef struct ours_ctx {
    rg_rt_cuda_gemm *gemm;
    rg_rt_gemm_args args;
} ours_ctx;

static rg_status launch_ours(void *ctx, rg_rt_cuda_stream stream, rg_error *err) {
    ours_ctx *c = ctx;
    return rg_rt_cuda_gemm_launch(c->gemm, &c->args, stream, err);
}

typedef struct blaslt_ctx {
    rg_rt_blaslt *blaslt;
    rg_rt_blaslt_linear_desc desc;
} blaslt_ctx;

static rg_status launch_blaslt(void *ctx, rg_rt_cuda_stream stream, rg_error *err) {
    blaslt_ctx *c = ctx;
    return rg_rt_blaslt_linear(c->blaslt, &c->desc, stream, err);
}

/* The 2-layer test BERT compiled with and without --custom-gemm, in fp16
 * and bf16, run on the GPU on a padded batch: the outputs agree within the
 * fp16/bf16 bound (relative Frobenius 1e-2). Which way each Linear runs
 * is the executor's timed choice (per Linear, or the whole replay); every
 * way must be right. */
static float *run_bert(const char *plan_path, size_t *count) {
    rg_error err = {0};
    rg_plan *plan = NULL;
    cr_assert_eq(rg_plan_load(plan_path, &plan, &err), RG_OK, "%s", err.message);
    rg_session *s = NULL;
    rg_session_options opt = {RG_DEVICE_CUDA, 1};
    cr_assert_eq(rg_session_new(plan, &opt, &s, &err), RG_OK, "%s", err.message);
    int64_t ids[2 * 40], mask[2 * 40], dims[2] = {2, 40};
    for (int i = 0; i < 80; i++) {
        ids[i] = (i * 37 + 11) % 500;
        mask[i] = i >= 40 + 29 ? 0 : 1; /* the second sequence padded after 29 tokens */
    }
    for (size_t i = 0; i < rg_plan_input_count(plan); i++) {
        rg_io_info info;
        rg_plan_input_info(plan, i, &info, NULL);
        const int64_t *data = strstr(info.name, "mask") || strstr(info.name, "type") ? mask : ids;
        cr_assert_eq(rg_session_bind_input(s, info.name, RG_DTYPE_I64, 2, dims, data, &err), RG_OK, "%s", err.message);
    }
    /* twice: the first run decides and captures, the second replays */
    cr_assert_eq(rg_session_run(s, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_session_run(s, &err), RG_OK, "%s", err.message);
    rg_io_info info;
    rg_plan_output_info(plan, 0, &info, NULL);
    rg_tensor_view v;
    cr_assert_eq(rg_session_output(s, info.name, &v, &err), RG_OK, "%s", err.message);
    *count = v.nbytes / sizeof(float);
    float *out = malloc(v.nbytes ? v.nbytes : 1);
    cr_assert_not_null(out);
    memcpy(out, v.data, v.nbytes);
    rg_session_free(s);
    rg_plan_free(plan);
    return out;
}

Test(cuda_gemm, custom_gemm_plans_match, .timeout = 300) {
    gpu g = {0};
    hopper_open_or_skip(&g);
    gpu_close(&g);
    char model[1024];
    rg_test_exported_model("bert_L2_classic_o17", model, sizeof model);
    const rg_dtype dtypes[] = {RG_DTYPE_F16, RG_DTYPE_BF16};
    for (int d = 0; d < 2; d++) {
        char with[] = "/tmp/rg_gemm_with_XXXXXX", without[] = "/tmp/rg_gemm_without_XXXXXX";
        int f1 = mkstemp(with), f2 = mkstemp(without);
        cr_assert(f1 >= 0 && f2 >= 0);
        close(f1);
        close(f2);
        rg_compile_options a = {.target = "sm_90", .dtype = dtypes[d], .custom_gemm = 1};
        rg_compile_options b = {.target = "sm_90", .dtype = dtypes[d]};
        rg_error err = {0};
        cr_assert_eq(rg_compile_file(model, with, &a, &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_compile_file(model, without, &b, &err), RG_OK, "%s", err.message);
        size_t n1 = 0, n2 = 0;
        float *y1 = run_bert(with, &n1), *y2 = run_bert(without, &n2);
        cr_assert_eq(n1, n2);
        double num = 0, den = 0;
        for (size_t i = 0; i < n1; i++) {
            cr_assert(isfinite(y1[i]), "element %zu is %g", i, y1[i]);
            num += ((double)y1[i] - y2[i]) * ((double)y1[i] - y2[i]);
            den += (double)y2[i] * y2[i];
        }
        double rel = sqrt(num / (den > 0 ? den : 1));
        cr_log_info("%s with and without --custom-gemm: relative Frobenius %.3g", rg_dtype_name(dtypes[d]), rel);
        cr_assert_leq(rel, 1e-2);
        free(y1), free(y2);
        unlink(with), unlink(without);
    }
}

/* The pass the GELU epilogue replaces (elementwise.cu, what plans without
 * --custom-gemm run after cuBLASLt): bias + exact GELU in place, fp16/bf16
 * through Abramowitz and Stegun's erf, f32 through erff. Every element
 * within one unit of its dtype's last place (f32: 1e-6 relative) of
 * gelu(x + b) in double, or 5e-7 absolute (f32's 1 + erff cancels for
 * x < -3), vector kernels on 300 x 3072, scalar ones on an odd row length. */
Test(cuda_gemm, bias_gelu_pass_matches_reference, .timeout = 120) {
    gpu g = {0};
    hopper_open_or_skip(&g);
    rg_error err = {0};
    void *cubin = NULL;
    size_t size = 0;
    rg_cg_nvrtc_options options = {0};
    cr_assert_eq(rg_cg_nvrtc_compile(g.nvrtc, rg_cg_kernel_template("elementwise.cu"), "rg_elementwise", "sm_90",
                                     &options, &cubin, &size, &err),
                 RG_OK, "%s", err.message);
    rg_rt_cuda_library lib = NULL;
    cr_assert_eq(rg_rt_cuda_library_load(g.cuda, cubin, size, "rg_elementwise", &lib, &err), RG_OK, "%s", err.message);
    free(cubin);
    const rg_dtype dtypes[] = {RG_DTYPE_F16, RG_DTYPE_BF16, RG_DTYPE_F32};
    const char *names[] = {"f16", "bf16", "f32"};
    for (int d = 0; d < 3; d++)
        for (int vec = 1; vec >= 0; vec--) {
            int64_t rows = vec ? 300 : 41, cols = vec ? 3072 : 7, n = rows * cols;
            size_t es = rg_dtype_size(dtypes[d]);
            uint64_t seed = 0x5eedULL + (uint64_t)d * 7 + (uint64_t)vec;
            double *xr, *br;
            void *x = random_values(dtypes[d], (size_t)n, 6.0, &seed, &xr); /* past the GELU's bend both ways */
            void *b = random_values(dtypes[d], (size_t)cols, 0.5, &seed, &br);
            void *dx = upload(&g, x, (size_t)n * es), *db = upload(&g, b, (size_t)cols * es);
            char kernel_name[48];
            snprintf(kernel_name, sizeof kernel_name, "rg_bias_gelu_erf_%s%s", vec ? "v_" : "", names[d]);
            rg_rt_cuda_kernel kernel = NULL;
            cr_assert_eq(rg_rt_cuda_kernel_get(g.cuda, lib, kernel_name, &kernel, &err), RG_OK, "%s", err.message);
            int64_t width = vec ? (int64_t)(16 / es) : 1, total = n / width, row = cols / width;
            void *args[4] = {&dx, &db, &total, &row};
            unsigned grid[3] = {256, 1, 1}, block[3] = {256, 1, 1};
            cr_assert_eq(rg_rt_cuda_launch(g.cuda, kernel, grid, block, args, 0, g.stream, &err), RG_OK, "%s",
                         err.message);
            cr_assert_eq(rg_rt_cuda_stream_sync(g.cuda, g.stream, &err), RG_OK, "%s", err.message);
            cr_assert_eq(rg_rt_cuda_copy_to_host(g.cuda, x, dx, (size_t)n * es, NULL, &err), RG_OK, "%s", err.message);
            double ulp = dtypes[d] == RG_DTYPE_F16 ? 1.0 / 1024 : dtypes[d] == RG_DTYPE_BF16 ? 1.0 / 128 : 1e-6;
            for (int64_t i = 0; i < n; i++) {
                double v = xr[i] + br[i % cols], want = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
                double got = rg_load_as_double(dtypes[d], x, (size_t)i);
                cr_assert_leq(fabs(got - want), ulp * fabs(want) + 5e-7, "%s %s element %lld: gelu(%.9g) = %.9g, want %.9g",
                              kernel_name, vec ? "vector" : "scalar", (long long)i, v, got, want);
            }
            rg_rt_cuda_free(g.cuda, dx);
            rg_rt_cuda_free(g.cuda, db);
            free(x), free(b), free(xr), free(br);
        }
    rg_rt_cuda_library_free(g.cuda, lib);
    gpu_close(&g);
}

/* Fills `count` fp16 values at `dev` with values uniform in [-scale, scale]:
 * a block of them made on the host, uploaded over and over. */
static void fill_random_f16(gpu *g, void *dev, size_t count, double scale, uint64_t seed) {
    const size_t block = (size_t)1 << 20;
    double *rounded = NULL;
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    void *host = random_values(RG_DTYPE_F16, block, scale, &s, &rounded);
    rg_error err = {0};
    for (size_t at = 0; at < count; at += block) {
        size_t n = count - at < block ? count - at : block;
        cr_assert_eq(rg_rt_cuda_copy_to_device(g->cuda, (char *)dev + at * 2, host, n * 2, NULL, &err), RG_OK, "%s",
                     err.message);
    }
    free(host), free(rounded);
}

/* Printed, not asserted: BERT-base's Linears at the token counts of the
 * benchmark's shapes, every tile and the pick, against cuBLASLt with the bias
 * epilogue (what a GELU-less Linear costs there) and with its tanh-GELU one. */
Test(cuda_gemm, bert_timing, .timeout = 300) {
    gpu g = {0};
    hopper_open_or_skip(&g);
    rg_error err = {0};
    rg_rt_blaslt *blaslt = NULL;
    cr_assert_eq(rg_rt_blaslt_open(g.cuda, NULL, &blaslt, &err), RG_OK, "%s", err.message);
    rg_rt_cuda_gemm *gemm = gemm_new(&g, RG_DTYPE_F16, false);
    const int64_t tokens[] = {16, 128, 512, 1024, 4096, 32768};
    const int64_t linears[][2] = {{768, 3072}, {768, 2304}, {768, 768}, {3072, 768}}; /* k, n */
    const int64_t max_m = 32768, max_k = 3072, max_n = 3072;
    void *x = NULL, *w = NULL, *b = NULL, *y = NULL;
    cr_assert_eq(rg_rt_cuda_malloc(g.cuda, (size_t)(max_m * max_k) * 2, &x, &err), RG_OK);
    cr_assert_eq(rg_rt_cuda_malloc(g.cuda, (size_t)(max_k * max_n) * 2, &w, &err), RG_OK);
    cr_assert_eq(rg_rt_cuda_malloc(g.cuda, (size_t)max_n * 2, &b, &err), RG_OK);
    cr_assert_eq(rg_rt_cuda_malloc(g.cuda, (size_t)(max_m * max_n) * 2, &y, &err), RG_OK);
    /* Random operands, not zeros: on zeros the tensor cores draw less power
     * and run at higher clocks, and a kernel timed on them came out 20%
     * faster than between the model's kernels (docs/perf.md). */
    fill_random_f16(&g, x, (size_t)(max_m * max_k), 1.0, 11);
    fill_random_f16(&g, w, (size_t)(max_k * max_n), 0.05, 12);
    fill_random_f16(&g, b, (size_t)max_n, 0.1, 13);
    size_t ntiles = 0;
    const rg_kabi_gemm_tile *tiles = rg_kabi_gemm_tiles(&ntiles);
    long long only[3] = {0, 0, 0};
    const char *only_text = getenv("RG_GEMM_TIMING_ONLY");
    if (only_text) cr_assert_eq(sscanf(only_text, "%lld,%lld,%lld", &only[0], &only[1], &only[2]), 3, "%s", only_text);
    for (size_t l = 0; l < 4; l++)
        for (size_t s = 0; s < sizeof tokens / sizeof tokens[0]; s++) {
            int64_t m = tokens[s], k = linears[l][0], n = linears[l][1];
            if (only_text && (m != only[0] || n != only[1] || k != only[2])) continue;
            double flop = 2.0 * (double)m * (double)n * (double)k;
            blaslt_ctx bc = {blaslt, {.m = m, .n = n, .k = k, .dtype = RG_DTYPE_F16, .batch = 1, .x = x, .w = w,
                                      .bias = b, .y = y, .activation = RG_RT_BLASLT_ACT_NONE}};
            double bias_ms = time_graph(&g, launch_blaslt, &bc, 20);
            bc.desc.activation = RG_RT_BLASLT_ACT_GELU_TANH;
            double tanh_ms = time_graph(&g, launch_blaslt, &bc, 20);
            char line[512];
            int used = snprintf(line, sizeof line, "m=%lld n=%lld k=%lld: cuBLASLt bias %.4f ms (%.0f TFLOP/s), "
                                "tanh-GELU %.4f;", (long long)m, (long long)n, (long long)k, bias_ms,
                                flop / bias_ms * 1e-9, tanh_ms);
            ours_ctx oc = {gemm, {.x = x, .w = w, .bias = b, .y = y, .m = m, .n = n, .k = k, .gelu = l == 0,
                                  .sm_count = g.sm_count}};
            for (int t = -1; t < (int)ntiles; t++) {
                oc.args.tile = t;
                if (!rg_rt_cuda_gemm_fits(&oc.args)) continue;
                double ms = time_graph(&g, launch_ours, &oc, 20);
                const char *tile_name = t < 0 ? tiles[rg_rt_cuda_gemm_pick(&oc.args)].name : tiles[t].name;
                used += snprintf(line + used, sizeof line - (size_t)used, " %s%s %.4f (%.0f)", t < 0 ? "pick=" : "",
                                 tile_name, ms, flop / ms * 1e-9);
                if ((size_t)used >= sizeof line) break;
            }
            cr_log_info("gemm %s %s", l == 0 ? "erf-GELU" : "bias", line);
        }
    rg_rt_cuda_free(g.cuda, x);
    rg_rt_cuda_free(g.cuda, w);
    rg_rt_cuda_free(g.cuda, b);
    rg_rt_cuda_free(g.cuda, y);
    rg_rt_cuda_gemm_free(gemm);
    rg_rt_blaslt_close(blaslt);
    gpu_close(&g);
}
