/*
 * The fused attention kernel (codegen/kernels/attention.cu). Everywhere: the
 * template is embedded and every variant (fp32/fp16/bf16, head sizes 32, 64,
 * 128, causal or not, and the sm_90a wgmma kernels for fp16/bf16 at head
 * size 64) compiles with NVRTC. With a GPU: packed batches of
 * mixed lengths read in place from a [T, 3, H, D] QKV buffer, right padding
 * and sequences with no keys, against the double CPU reference; then BERT-base
 * shapes timed (printed, not asserted). Without a GPU those parts skip with
 * rg_rt_cuda_open's one-line reason.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/kernels.h"
#include "ir/dtype.h"
#include "runtime/cuda_attention.h"

static const rg_dtype dtypes[] = {RG_DTYPE_F32, RG_DTYPE_F16, RG_DTYPE_BF16};
static const int head_dims[] = {32, 64, 128};

Test(cuda_attention, template_is_embedded) {
    const char *text = rg_cg_kernel_template("attention.cu");
    cr_assert_not_null(text);
    cr_assert(strstr(text, "RG_ATTN_KERNEL") != NULL);
    cr_assert(strstr(text, "#endif") != NULL, "the whole file, to its end");
    cr_assert_null(rg_cg_kernel_template("no_such.cu"));
    cr_assert_null(rg_cg_kernel_template(NULL));
}

Test(cuda_attention, variants_are_named_and_checked) {
    char name[64];
    rg_kabi_attention_variant v = {RG_DTYPE_F16, 64, true};
    rg_kabi_attention_kernel_name(&v, name, sizeof name);
    cr_assert_str_eq(name, "rg_attention_f16_d64_causal");
    v.wgmma = true;
    rg_kabi_attention_kernel_name(&v, name, sizeof name);
    cr_assert_str_eq(name, "rg_attention_f16_d64_causal_wg");
    cr_assert_str_eq(rg_kabi_attention_arch(&v, "sm_90"), "sm_90a");
    v.wgmma = false;
    cr_assert_str_eq(rg_kabi_attention_arch(&v, "sm_90"), "sm_90");
    rg_error err = {0};
    cr_assert_eq(rg_kabi_attention_check(&v, &err), RG_OK);
    rg_kabi_attention_variant bad_wgmma = {RG_DTYPE_F32, 64, false, true};
    cr_assert_eq(rg_kabi_attention_check(&bad_wgmma, &err), RG_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "wgmma") != NULL, "%s", err.message);
    bad_wgmma = (rg_kabi_attention_variant){RG_DTYPE_BF16, 128, false, true};
    cr_assert_eq(rg_kabi_attention_check(&bad_wgmma, &err), RG_ERR_UNSUPPORTED);
    rg_kabi_attention_variant bad_head = {RG_DTYPE_F16, 48, false};
    cr_assert_eq(rg_kabi_attention_check(&bad_head, &err), RG_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "48") != NULL, "%s", err.message);
    rg_kabi_attention_variant bad_dtype = {RG_DTYPE_I32, 64, false};
    cr_assert_eq(rg_kabi_attention_check(&bad_dtype, &err), RG_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "dtype") != NULL, "%s", err.message);
}

static rg_cg_nvrtc *nvrtc_or_skip(void) {
    rg_cg_nvrtc *nvrtc = NULL;
    rg_error err = {0};
    if (rg_cg_nvrtc_open(NULL, &nvrtc, &err) != RG_OK) cr_skip_test("NVRTC checks skipped: %s", err.message);
    return nvrtc;
}

/* Every variant for Hopper, and one per dtype for Ampere and Ada. */
Test(cuda_attention, every_variant_compiles) {
    rg_cg_nvrtc *nvrtc = nvrtc_or_skip();
    rg_error err = {0};
    for (size_t t = 0; t < 3; t++)
        for (size_t d = 0; d < 3; d++)
            for (int causal = 0; causal < 2; causal++) {
                rg_kabi_attention_variant v = {dtypes[t], head_dims[d], causal};
                const char *archs[] = {"sm_90", "sm_80", "sm_89"};
                int arch_count = d == 1 && !causal ? 3 : 1;
                for (int a = 0; a < arch_count; a++) {
                    void *cubin = NULL;
                    size_t size = 0;
                    cr_assert_eq(rg_cg_attention_compile(nvrtc, &v, archs[a], &cubin, &size, &err), RG_OK, "%s",
                                 err.message);
                    cr_assert_gt(size, 4);
                    cr_assert(memcmp(cubin, "\177ELF", 4) == 0);
                    free(cubin);
                }
                v.wgmma = true;
                if (!rg_kabi_attention_wgmma_ok(&v)) continue;
                void *cubin = NULL;
                size_t size = 0;
                cr_assert_eq(rg_cg_attention_compile(nvrtc, &v, "sm_90", &cubin, &size, &err), RG_OK, "%s",
                             err.message);
                cr_assert(size > 4 && memcmp(cubin, "\177ELF", 4) == 0);
                free(cubin);
            }
    rg_cg_nvrtc_close(nvrtc);
}

/* ---- GPU ---------------------------------------------------------------- */

typedef struct gpu {
    rg_rt_cuda *cuda;
    rg_cg_nvrtc *nvrtc;
    char arch[16];
    bool hopper; /* sm_90: the wgmma variants run too */
} gpu;

static void gpu_open_or_skip(gpu *g) {
    rg_error err = {0};
    rg_status st = rg_rt_cuda_open(NULL, &g->cuda, &err);
    if (st != RG_OK) {
        cr_assert_eq(st, RG_ERR_DEVICE, "%s", err.message);
        cr_assert(strchr(err.message, '\n') == NULL, "%s", err.message);
        cr_skip_test("no GPU here, GPU checks skipped: %s", err.message);
    }
    rg_rt_cuda_device_info info;
    cr_assert_eq(rg_rt_cuda_device_info_get(g->cuda, 0, &info, &err), RG_OK, "%s", err.message);
    rg_rt_cuda_arch_name(&info, g->arch, sizeof g->arch);
    g->hopper = !strcmp(g->arch, "sm_90");
    cr_assert_eq(rg_rt_cuda_set_device(g->cuda, 0, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_cg_nvrtc_open(NULL, &g->nvrtc, &err), RG_OK, "GPU present but %s", err.message);
}

static void gpu_close(gpu *g) {
    rg_cg_nvrtc_close(g->nvrtc);
    rg_rt_cuda_close(g->cuda);
}

/* gpu_open_or_skip, and a skip with the reason unless the GPU is sm_90. */
static void hopper_open_or_skip(gpu *g) {
    gpu_open_or_skip(g);
    if (g->hopper) return;
    gpu_close(g);
    cr_skip_test("the wgmma attention kernels need an sm_90 GPU; this one is %s", g->arch);
}

/* The variant compiled by codegen and loaded by the runtime, as a plan's
 * attention module would be. */
static rg_status attention_new(gpu *g, const rg_kabi_attention_variant *v, rg_rt_cuda_attention **out, rg_error *err) {
    void *cubin = NULL;
    size_t size = 0;
    RG_TRY(rg_cg_attention_compile(g->nvrtc, v, g->arch, &cubin, &size, err));
    rg_status st = rg_rt_cuda_attention_load(g->cuda, cubin, size, v, NULL, out, err);
    rg_mem_free(rg_allocator_default(), cubin, size); /* NVRTC was opened with the default allocator */
    return st;
}

static void *device_copy(gpu *g, const void *host, size_t size) {
    rg_error err = {0};
    void *dev = NULL;
    cr_assert_eq(rg_rt_cuda_malloc(g->cuda, size ? size : 1, &dev, &err), RG_OK, "%s", err.message);
    if (size) cr_assert_eq(rg_rt_cuda_copy_to_device(g->cuda, dev, host, size, NULL, &err), RG_OK, "%s", err.message);
    return dev;
}

static uint64_t rng_next(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 11;
}

static double uniform(uint64_t *state, double lo, double hi) {
    return lo + (hi - lo) * (double)rng_next(state) / (double)(1ull << 53);
}

/* One batch: lengths per sequence, optional key lengths (right padding). */
typedef struct batch_case {
    const char *what;
    int count;
    int lengths[8];
    bool padded;
    int seqlens_k[8];
    bool negative_scale; /* -1/sqrt(D): the kernel's scale folding must not assume a sign */
} batch_case;

/* Runs one variant on one batch, read in place from packed QKV, and compares
 * with the reference. fp32: largest error over the largest reference value
 * <= 1e-4; fp16/bf16: Frobenius norm of the error over the reference's <= 1e-2.
 * Rows that see no key must be exactly zero. */
static double run_case(gpu *g, rg_rt_cuda_attention *attention, const rg_kabi_attention_variant *v,
                       const batch_case *c, int heads, int warps, uint64_t seed, bool check) {
    rg_error err = {0};
    int32_t cu[9] = {0};
    int max_seqlen = 0;
    for (int b = 0; b < c->count; b++) {
        cu[b + 1] = cu[b] + c->lengths[b];
        if (c->lengths[b] > max_seqlen) max_seqlen = c->lengths[b];
    }
    const int tokens = cu[c->count], D = v->head_dim;
    const size_t elem = rg_dtype_size(v->dtype);
    const size_t qkv_count = (size_t)tokens * 3 * (size_t)heads * (size_t)D;
    const size_t out_count = (size_t)tokens * (size_t)heads * (size_t)D;
    unsigned char *qkv = malloc(qkv_count * elem);
    unsigned char *got = malloc(out_count * elem);
    double *want = malloc(out_count * sizeof(double));
    cr_assert(qkv && got && want);
    uint64_t state = seed;
    for (size_t i = 0; i < qkv_count; i++) {
        bool is_v = (i / ((size_t)heads * (size_t)D)) % 3 == 2;
        rg_store_from_double(v->dtype, qkv, i, is_v ? uniform(&state, -1, 1) : uniform(&state, -2, 2));
    }
    int64_t stride = 3 * (int64_t)heads * D;
    rg_rt_attention_args host = {
        .q = qkv, .k = qkv + (size_t)heads * (size_t)D * elem, .v = qkv + 2 * (size_t)heads * (size_t)D * elem,
        .q_stride = stride, .k_stride = stride, .v_stride = stride, .out = NULL,
        .cu_seqlens = cu, .seqlens_k = c->padded ? c->seqlens_k : NULL,
        .batch = c->count, .heads = heads, .max_seqlen = max_seqlen, .scale = (c->negative_scale ? -1.0f : 1.0f) / sqrtf((float)D),
        .warps = v->dtype == RG_DTYPE_F32 ? 0 : warps, .sm_count = 132,
    };
    cr_assert_eq(rg_rt_attention_reference(v->dtype, D, v->causal, &host, want, &err), RG_OK, "%s", err.message);

    unsigned char *qkv_dev = device_copy(g, qkv, qkv_count * elem);
    void *cu_dev = device_copy(g, cu, sizeof(int32_t) * (size_t)(c->count + 1));
    void *seqlens_dev = c->padded ? device_copy(g, c->seqlens_k, sizeof(int32_t) * (size_t)c->count) : NULL;
    void *out_dev = NULL;
    cr_assert_eq(rg_rt_cuda_malloc(g->cuda, out_count * elem, &out_dev, &err), RG_OK, "%s", err.message);
    /* NaN bytes, so a row the kernel forgets to write shows. */
    cr_assert_eq(rg_rt_cuda_memset(g->cuda, out_dev, 0xff, out_count * elem, NULL, &err), RG_OK, "%s", err.message);
    rg_rt_attention_args dev = host;
    dev.q = qkv_dev;
    dev.k = qkv_dev + (size_t)heads * (size_t)D * elem;
    dev.v = qkv_dev + 2 * (size_t)heads * (size_t)D * elem;
    dev.out = out_dev;
    dev.cu_seqlens = cu_dev;
    dev.seqlens_k = seqlens_dev;
    cr_assert_eq(rg_rt_cuda_attention_launch(attention, &dev, NULL, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_device_sync(g->cuda, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_copy_to_host(g->cuda, got, out_dev, out_count * elem, NULL, &err), RG_OK, "%s",
                 err.message);

    char kernel[64], name[80];
    rg_kabi_attention_kernel_name(v, kernel, sizeof kernel);
    snprintf(name, sizeof name, "%s (%d warps)", kernel, warps);
    double max_err = 0, max_ref = 0, err2 = 0, ref2 = 0;
    for (int b = 0; b < c->count; b++) {
        bool no_keys = c->padded && c->seqlens_k[b] <= 0;
        for (size_t i = (size_t)cu[b] * (size_t)heads * (size_t)D; i < (size_t)cu[b + 1] * (size_t)heads * (size_t)D; i++) {
            double x = rg_load_as_double(v->dtype, got, i);
            if (check) cr_assert(isfinite(x), "%s, %s: element %zu is %g", name, c->what, i, x);
            if (check && no_keys) cr_assert(x == 0.0, "%s, %s: row with no keys has %g", name, c->what, x);
            double e = fabs(x - want[i]);
            max_err = fmax(max_err, e);
            max_ref = fmax(max_ref, fabs(want[i]));
            err2 += e * e;
            ref2 += want[i] * want[i];
        }
    }
    double rel;
    if (v->dtype == RG_DTYPE_F32) {
        rel = max_ref > 0 ? max_err / max_ref : max_err;
        if (check) cr_assert_leq(rel, 1e-4, "%s, %s: max error %g of max value %g", name, c->what, max_err, max_ref);
        cr_log_info("%s, %s: max error / max value %.2e", name, c->what, rel);
    } else {
        rel = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
        if (check) cr_assert_leq(rel, 1e-2, "%s, %s: relative Frobenius error %g", name, c->what, rel);
        cr_log_info("%s, %s: relative Frobenius error %.2e", name, c->what, rel);
    }
    rg_rt_cuda_free(g->cuda, qkv_dev);
    rg_rt_cuda_free(g->cuda, cu_dev);
    rg_rt_cuda_free(g->cuda, seqlens_dev);
    rg_rt_cuda_free(g->cuda, out_dev);
    free(qkv);
    free(got);
    free(want);
    return rel;
}

static void check_case(gpu *g, rg_rt_cuda_attention *attention, const rg_kabi_attention_variant *v,
                       const batch_case *c, int heads, int warps, uint64_t seed) {
    run_case(g, attention, v, c, heads, warps, seed, true);
}

static const batch_case cases[] = {
    {"packed lengths 1,7,128,513,1024", 5, {513, 1, 1024, 7, 128}, false, {0}},
    {"right padding with a keyless sequence", 4, {128, 513, 7, 64}, true, {100, 513, 0, 1}},
    {"padded layout [3, 160]", 3, {160, 160, 160}, true, {160, 37, 0}},
    {"negative scale, lengths 70,200", 2, {70, 200}, true, {70, 150}, true},
};

/* Every block shape of one variant on every case: 0 is the launcher's
 * choice; then 1, 2, 4 and 8 warps (fp16/bf16 only). */
static void check_variant(gpu *g, const rg_kabi_attention_variant *v, uint64_t *seed) {
    rg_error err = {0};
    rg_rt_cuda_attention *attention = NULL;
    cr_assert_eq(attention_new(g, v, &attention, &err), RG_OK, "%s", err.message);
    const int warp_counts[] = {0, 1, 2, 4, 8};
    int shapes = v->dtype == RG_DTYPE_F32 ? 1 : 5;
    for (int w = 0; w < shapes; w++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            check_case(g, attention, v, &cases[c], 2, warp_counts[w], (*seed)++);
    rg_rt_cuda_attention_free(attention);
}

Test(cuda_attention, matches_reference) {
    gpu g = {0};
    gpu_open_or_skip(&g);
    uint64_t seed = 1;
    for (size_t t = 0; t < 3; t++)
        for (size_t d = 0; d < 3; d++)
            for (int causal = 0; causal < 2; causal++)
                check_variant(&g, &(rg_kabi_attention_variant){dtypes[t], head_dims[d], causal, false}, &seed);
    gpu_close(&g);
}

/* The sm_90a warpgroup-MMA kernels (fp16/bf16, head size 64), on Hopper. */
Test(cuda_attention, wgmma_matches_reference) {
    gpu g = {0};
    hopper_open_or_skip(&g);
    uint64_t seed = 1;
    for (size_t t = 1; t < 3; t++)
        for (int causal = 0; causal < 2; causal++)
            check_variant(&g, &(rg_kabi_attention_variant){dtypes[t], 64, causal, true}, &seed);
    gpu_close(&g);
}

Test(cuda_attention, launch_checks_arguments) {
    gpu g = {0};
    gpu_open_or_skip(&g);
    rg_error err = {0};
    rg_kabi_attention_variant v = {RG_DTYPE_F16, 64, false};
    rg_rt_cuda_attention *attention = NULL;
    cr_assert_eq(attention_new(&g, &v, &attention, &err), RG_OK, "%s", err.message);
    void *buffer = NULL;
    cr_assert_eq(rg_rt_cuda_malloc(g.cuda, 1 << 20, &buffer, &err), RG_OK, "%s", err.message);
    rg_rt_attention_args a = {.q = buffer, .k = buffer, .v = buffer, .out = buffer, .cu_seqlens = buffer,
                              .q_stride = 64, .k_stride = 64, .v_stride = 64, .batch = 1, .heads = 1,
                              .max_seqlen = 1, .scale = 1};
    a.k = (char *)buffer + 2;
    cr_assert_eq(rg_rt_cuda_attention_launch(attention, &a, NULL, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "aligned") != NULL, "%s", err.message);
    a.k = buffer;
    a.v_stride = 68;
    cr_assert_eq(rg_rt_cuda_attention_launch(attention, &a, NULL, &err), RG_ERR_INVALID_ARGUMENT);
    a.v_stride = 64;
    a.warps = 3;
    cr_assert_eq(rg_rt_cuda_attention_launch(attention, &a, NULL, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "warps") != NULL, "%s", err.message);
    a.warps = 0;
    a.heads = 0;
    cr_assert_eq(rg_rt_cuda_attention_launch(attention, &a, NULL, &err), RG_ERR_INVALID_ARGUMENT);
    rg_rt_cuda_free(g.cuda, buffer);
    rg_rt_cuda_attention_free(attention);
    gpu_close(&g);
}

/* Milliseconds per launch of `attention` on BERT-base-shaped packed QKV
 * (H = 12, D = 64, B sequences of S tokens, no mask), after a warm-up. */
static double time_attention(gpu *g, rg_rt_cuda_attention *attention, rg_dtype dtype, int B, int S, int warps) {
    rg_error err = {0};
    const int heads = 12, D = 64, T = B * S;
    size_t elem = rg_dtype_size(dtype);
    size_t qkv_size = (size_t)T * 3 * heads * D * elem, out_size = (size_t)T * heads * D * elem;
    int32_t *cu = malloc(sizeof(int32_t) * (size_t)(B + 1));
    cr_assert_not_null(cu);
    for (int b = 0; b <= B; b++) cu[b] = b * S;
    void *cu_dev = device_copy(g, cu, sizeof(int32_t) * (size_t)(B + 1));
    void *qkv = NULL, *out = NULL;
    cr_assert_eq(rg_rt_cuda_malloc(g->cuda, qkv_size, &qkv, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_malloc(g->cuda, out_size, &out, &err), RG_OK, "%s", err.message);
    /* 0x2f bytes: small finite values in every dtype. */
    cr_assert_eq(rg_rt_cuda_memset(g->cuda, qkv, 0x2f, qkv_size, NULL, &err), RG_OK, "%s", err.message);
    int64_t stride = 3 * heads * D;
    rg_rt_attention_args a = {.q = qkv, .k = (char *)qkv + (size_t)heads * D * elem,
                              .v = (char *)qkv + 2 * (size_t)heads * D * elem, .q_stride = stride,
                              .k_stride = stride, .v_stride = stride, .out = out, .cu_seqlens = cu_dev,
                              .batch = B, .heads = heads, .max_seqlen = S, .scale = 0.125f, .warps = warps,
                              .sm_count = 132};
    rg_rt_cuda_event start, end;
    cr_assert_eq(rg_rt_cuda_event_new(g->cuda, &start, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_event_new(g->cuda, &end, &err), RG_OK, "%s", err.message);
    const int reps = 20;
    for (int r = 0; r < 3; r++)
        cr_assert_eq(rg_rt_cuda_attention_launch(attention, &a, NULL, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_event_record(g->cuda, start, NULL, &err), RG_OK, "%s", err.message);
    for (int r = 0; r < reps; r++)
        cr_assert_eq(rg_rt_cuda_attention_launch(attention, &a, NULL, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_event_record(g->cuda, end, NULL, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_device_sync(g->cuda, &err), RG_OK, "%s", err.message);
    float ms = 0;
    cr_assert_eq(rg_rt_cuda_event_elapsed(g->cuda, start, end, &ms, &err), RG_OK, "%s", err.message);
    rg_rt_cuda_event_free(g->cuda, start);
    rg_rt_cuda_event_free(g->cuda, end);
    rg_rt_cuda_free(g->cuda, qkv);
    rg_rt_cuda_free(g->cuda, out);
    rg_rt_cuda_free(g->cuda, cu_dev);
    free(cu);
    return ms / reps;
}

static double tflops(int B, int S, double ms) { return 4.0 * B * (double)S * S * 12 * 64 / (ms * 1e-3) / 1e12; }

/* BERT-base attention (H = 12, D = 64, no mask) in packed QKV: milliseconds
 * and TFLOP/s (4 * B * S^2 * H * D), printed only; fp16 also at each block
 * shape. */
Test(cuda_attention, bert_base_timing) {
    gpu g = {0};
    gpu_open_or_skip(&g);
    rg_error err = {0};
    const int shapes[][2] = {{1, 128}, {8, 128}, {32, 128}, {64, 512}};
    const rg_dtype timed[] = {RG_DTYPE_F16, RG_DTYPE_BF16, RG_DTYPE_F32, RG_DTYPE_F16, RG_DTYPE_BF16};
    for (size_t t = 0; t < 5; t++) {
        rg_kabi_attention_variant v = {timed[t], 64, false, t >= 3};
        if (v.wgmma && !g.hopper) continue;
        rg_rt_cuda_attention *attention = NULL;
        cr_assert_eq(attention_new(&g, &v, &attention, &err), RG_OK, "%s", err.message);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int B = shapes[s][0], S = shapes[s][1];
            const int warp_counts[] = {0, 1, 2, 4}, wg_warp_counts[] = {0, 4, 8};
            int tried = v.wgmma ? 3 : v.dtype == RG_DTYPE_F16 ? 4 : 1;
            for (int w = 0; w < tried; w++) {
                int warps = v.wgmma ? wg_warp_counts[w] : warp_counts[w];
                double ms = time_attention(&g, attention, v.dtype, B, S, warps);
                cr_log_info("attention %s%s B=%d S=%d H=12 D=64 warps=%d%s: %.3f ms, %.1f TFLOP/s",
                            rg_dtype_name(v.dtype), v.wgmma ? " wgmma" : "", B, S, warps, warps ? "" : " (auto)", ms,
                            tflops(B, S, ms));
            }
        }
        rg_rt_cuda_attention_free(attention);
    }
    gpu_close(&g);
}

/* The variant's kernel built with two more -D options (knobs of
 * attention.cu), as codegen would build it otherwise, and loaded. */
static rg_rt_cuda_attention *attention_with(gpu *g, const rg_kabi_attention_variant *v, const char *knob1,
                                            const char *knob2) {
    rg_error err = {0};
    char storage[640], name[64];
    const char *defines[RG_CG_ATTENTION_DEFINES + 2];
    rg_cg_attention_defines(v, storage, sizeof storage, defines);
    rg_kabi_attention_kernel_name(v, name, sizeof name);
    defines[RG_CG_ATTENTION_DEFINES] = knob1;
    defines[RG_CG_ATTENTION_DEFINES + 1] = knob2;
    rg_cg_nvrtc_options options = {.include_dir = NULL, .extra = defines, .extra_count = RG_CG_ATTENTION_DEFINES + 2};
    void *cubin = NULL;
    size_t size = 0;
    cr_assert_eq(rg_cg_nvrtc_compile(g->nvrtc, rg_cg_kernel_template("attention.cu"), name,
                                     rg_kabi_attention_arch(v, g->arch), &options, &cubin, &size, &err),
                 RG_OK, "%s", err.message);
    rg_rt_cuda_attention *attention = NULL;
    cr_assert_eq(rg_rt_cuda_attention_load(g->cuda, cubin, size, v, NULL, &attention, &err), RG_OK, "%s",
                 err.message);
    free(cubin);
    return attention;
}

/* A tuning aid: the fp16 head-size-64 kernel built with other key-tile sizes
 * and register budgets (the -D knobs of attention.cu), each checked against
 * the reference and timed; printed only. */
Test(cuda_attention, tuning_sweep) {
    gpu g = {0};
    gpu_open_or_skip(&g);
    const char *knobs[][2] = {
        {"-DRG_ATTN_BN=32", "-DRG_ATTN_MIN_BLOCKS=3"},
        {"-DRG_ATTN_BN=64", "-DRG_ATTN_MIN_BLOCKS=2"},
        {"-DRG_ATTN_BN=32", "-DRG_ATTN_MIN_BLOCKS=2"},
        {"-DRG_ATTN_BN=64", "-DRG_ATTN_MIN_BLOCKS=1"},
    };
    rg_kabi_attention_variant v = {RG_DTYPE_F16, 64, false, false};
    for (size_t k = 0; k < sizeof knobs / sizeof knobs[0]; k++) {
        rg_rt_cuda_attention *attention = attention_with(&g, &v, knobs[k][0], knobs[k][1]);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) check_case(&g, attention, &v, &cases[c], 2, 0, 7);
        double short_ms = time_attention(&g, attention, v.dtype, 32, 128, 0);
        double long_ms = time_attention(&g, attention, v.dtype, 64, 512, 0);
        cr_log_info("sweep %s %s: 32x128 %.1f TFLOP/s, 64x512 %.1f TFLOP/s", knobs[k][0], knobs[k][1],
                    tflops(32, 128, short_ms), tflops(64, 512, long_ms));
        rg_rt_cuda_attention_free(attention);
    }
    gpu_close(&g);
}

/* The sm_90a kernel's two products apart, for the first and the second key
 * tile: built with RG_WG_DEBUG=1 it writes the raw scores Q K^T of tile
 * RG_WG_DEBUG_TILE, with RG_WG_DEBUG=2 it multiplies a one-hot P (query r of
 * a tile picks key r % 64) by V; each is compared with the same product on
 * the host (relative Frobenius error <= 1e-3: fp16 inputs, fp32 sums). This
 * is how the second tile's wrong scores were found (Q's fragments held in
 * registers across tiles). */
Test(cuda_attention, wgmma_products_apart) {
    gpu g = {0};
    hopper_open_or_skip(&g);
    rg_error err = {0};
    const int T = 128, H = 2, D = 64;
    rg_kabi_attention_variant v = {RG_DTYPE_F16, D, false, true};
    size_t qkv_count = (size_t)T * 3 * H * D, out_count = (size_t)T * H * D;
    uint16_t *qkv = malloc(qkv_count * 2), *got = malloc(out_count * 2);
    cr_assert(qkv && got);
    uint64_t state = 3;
    for (size_t i = 0; i < qkv_count; i++) rg_store_from_double(RG_DTYPE_F16, qkv, i, uniform(&state, -1, 1));
    int32_t cu[2] = {0, T};
    void *qkv_dev = device_copy(&g, qkv, qkv_count * 2), *cu_dev = device_copy(&g, cu, sizeof cu), *out_dev = NULL;
    cr_assert_eq(rg_rt_cuda_malloc(g.cuda, out_count * 2, &out_dev, &err), RG_OK, "%s", err.message);
    for (int run = 0; run < 4; run++) {
        int mode = 1 + run % 2, tile = run / 2;
        char knob[32], knob_tile[32];
        snprintf(knob, sizeof knob, "-DRG_WG_DEBUG=%d", mode);
        snprintf(knob_tile, sizeof knob_tile, "-DRG_WG_DEBUG_TILE=%d", tile);
        rg_rt_cuda_attention *attention = attention_with(&g, &v, knob, knob_tile);
        int64_t stride = 3 * H * D;
        rg_rt_attention_args a = {.q = qkv_dev, .k = (char *)qkv_dev + (size_t)H * D * 2,
                                  .v = (char *)qkv_dev + 2 * (size_t)H * D * 2, .q_stride = stride,
                                  .k_stride = stride, .v_stride = stride, .out = out_dev, .cu_seqlens = cu_dev,
                                  .batch = 1, .heads = H, .max_seqlen = T, .scale = 0.125f, .warps = 4,
                                  .sm_count = 132};
        cr_assert_eq(rg_rt_cuda_attention_launch(attention, &a, NULL, &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_rt_cuda_device_sync(g.cuda, &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_rt_cuda_copy_to_host(g.cuda, got, out_dev, out_count * 2, NULL, &err), RG_OK, "%s",
                     err.message);
        double err2 = 0, ref2 = 0;
        int shown = 0;
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++)
                for (int j = 0; j < D; j++) {
                    double want = 0;
                    if (mode == 1) {
                        for (int d = 0; d < D; d++)
                            want += rg_load_as_double(RG_DTYPE_F16, qkv, (size_t)t * stride + (size_t)h * D + d) *
                                    rg_load_as_double(RG_DTYPE_F16, qkv,
                                                      (size_t)(64 * tile + j) * stride + (size_t)(H + h) * D + d);
                    } else {
                        want = rg_load_as_double(RG_DTYPE_F16, qkv,
                                                 (size_t)(64 * tile + t % 64) * stride + (size_t)(2 * H + h) * D + j);
                    }
                    double x = rg_load_as_double(RG_DTYPE_F16, got, ((size_t)t * H + h) * D + j);
                    err2 += (x - want) * (x - want);
                    ref2 += want * want;
                    if (fabs(x - want) > 0.05 * (1 + fabs(want)) && shown < 6) {
                        cr_log_info("mode %d tile %d: token %d head %d column %d: got %.4f want %.4f", mode, tile, t,
                                    h, j, x, want);
                        shown++;
                    }
                }
        cr_log_info("wgmma debug mode %d (%s), key tile %d: relative Frobenius error %.2e", mode,
                    mode == 1 ? "scores Q K^T" : "one-hot P times V", tile, sqrt(err2 / ref2));
        cr_expect_leq(sqrt(err2 / ref2), 1e-3, "mode %d tile %d", mode, tile);
        rg_rt_cuda_attention_free(attention);
    }
    rg_rt_cuda_free(g.cuda, qkv_dev);
    rg_rt_cuda_free(g.cuda, cu_dev);
    rg_rt_cuda_free(g.cuda, out_dev);
    free(qkv);
    free(got);
    gpu_close(&g);
}
