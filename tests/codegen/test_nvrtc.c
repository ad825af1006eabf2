/*
 * NVRTC through dlopen: fp32 and __half kernels compile to cubins (ELF) for
 * sm_80, sm_89 and sm_90; a syntax error comes back as RG_ERR_DEVICE with the
 * kernel name and the offending line on one line; bad arguments are refused;
 * the sm_90a kernels' warpgroup MMAs are not serialized by ptxas.
 * Needs libnvrtc but no GPU; where NVRTC is absent the tests skip, saying why.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/kernels.h"
#include "codegen/nvrtc.h"
#include "ir/kernel_abi.h"

static const char fp32_kernel[] =
    "extern \"C\" __global__ void scale_f32(float *x, float s, int n) {\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) x[i] *= s;\n"
    "}\n";

static const char half_kernel[] =
    "#include <cuda_fp16.h>\n"
    "extern \"C\" __global__ void add_f16(__half *y, const __half *a, const __half *b, int n) {\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) y[i] = __float2half(__half2float(a[i]) + __half2float(b[i]));\n"
    "}\n";

/* Opens NVRTC or skips the calling test with the one-line reason. */
static rg_cg_nvrtc *open_or_skip(void) {
    rg_cg_nvrtc *n = NULL;
    rg_error err = {0};
    if (rg_cg_nvrtc_open(NULL, &n, &err) != RG_OK) {
        cr_assert_eq(err.status, RG_ERR_DEVICE);
        cr_assert(err.message[0] != '\0' && strchr(err.message, '\n') == NULL);
        cr_skip_test("NVRTC unavailable here: %s", err.message);
    }
    return n;
}

static void compile_ok(rg_cg_nvrtc *n, const char *src, const char *name, const char *arch) {
    void *cubin = NULL;
    size_t size = 0;
    rg_error err = {0};
    rg_status st = rg_cg_nvrtc_compile(n, src, name, arch, NULL, &cubin, &size, &err);
    cr_assert_eq(st, RG_OK, "%s for %s: %s", name, arch, err.message);
    cr_assert_gt(size, 64);
    cr_assert_eq(memcmp(cubin, "\x7f" "ELF", 4), 0, "%s for %s is not an ELF cubin", name, arch);
    free(cubin); /* the default allocator is malloc */
}

Test(nvrtc, compiles_fp32_and_half_for_each_arch) {
    rg_cg_nvrtc *n = open_or_skip();
    int major, minor;
    rg_cg_nvrtc_version(n, &major, &minor);
    cr_assert_geq(major, 12);
    const char *archs[] = {"sm_90", "sm_80", "sm_89"};
    for (size_t i = 0; i < 3; i++) {
        compile_ok(n, fp32_kernel, "scale_f32", archs[i]);
        compile_ok(n, half_kernel, "add_f16", archs[i]);
    }
    rg_cg_nvrtc_close(n);
}

Test(nvrtc, syntax_error_names_kernel_and_line) {
    rg_cg_nvrtc *n = open_or_skip();
    const char *bad = "extern \"C\" __global__ void broken(float *x) {\n"
                      "    x[0] = 1.0f\n"
                      "    x[1] = 2.0f;\n"
                      "}\n";
    void *cubin = (void *)0x1;
    size_t size = 7;
    char log[4096];
    rg_cg_nvrtc_options opt = {.log = log, .log_capacity = sizeof log};
    rg_error err = {0};
    rg_status st = rg_cg_nvrtc_compile(n, bad, "broken", "sm_90", &opt, &cubin, &size, &err);
    cr_assert_eq(st, RG_ERR_DEVICE);
    cr_assert_eq(cubin, (void *)0x1, "out-parameters untouched on failure");
    cr_assert_eq(size, 7);
    cr_assert(strstr(err.message, "'broken'") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "sm_90") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "broken.cu(3)") != NULL, "no line in: %s", err.message);
    cr_assert(strchr(err.message, '\n') == NULL, "message must be one line: %s", err.message);
    cr_assert(strstr(log, "error") != NULL, "full log: %s", log);
    rg_cg_nvrtc_close(n);
}

Test(nvrtc, refuses_bad_arguments) {
    rg_cg_nvrtc *n = open_or_skip();
    void *cubin = NULL;
    size_t size = 0;
    rg_error err = {0};
    const char *bad_archs[] = {"sm_9", "compute_90", "sm_90 -G", "", "sm_1000"};
    for (size_t i = 0; i < sizeof bad_archs / sizeof bad_archs[0]; i++) {
        cr_assert_eq(rg_cg_nvrtc_compile(n, fp32_kernel, "k", bad_archs[i], NULL, &cubin, &size, &err),
                     RG_ERR_INVALID_ARGUMENT, "arch '%s'", bad_archs[i]);
    }
    cr_assert_eq(rg_cg_nvrtc_compile(n, fp32_kernel, "k", NULL, NULL, &cubin, &size, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(rg_cg_nvrtc_compile(n, NULL, "k", "sm_90", NULL, &cubin, &size, &err), RG_ERR_INVALID_ARGUMENT);
    rg_cg_nvrtc_close(n);
}

/* An unknown option is NVRTC's error, reported with the kernel name. */
Test(nvrtc, bad_option_is_reported) {
    rg_cg_nvrtc *n = open_or_skip();
    const char *extra[] = {"--no-such-option"};
    rg_cg_nvrtc_options opt = {.extra = extra, .extra_count = 1};
    void *cubin = NULL;
    size_t size = 0;
    rg_error err = {0};
    cr_assert_eq(rg_cg_nvrtc_compile(n, fp32_kernel, "scale_f32", "sm_90", &opt, &cubin, &size, &err), RG_ERR_DEVICE);
    cr_assert(strstr(err.message, "scale_f32") != NULL, "%s", err.message);
    rg_cg_nvrtc_close(n);
}

/* Every allocation the compile makes can fail without a leak or a crash. */
Test(nvrtc, allocation_failures_are_clean) {
    rg_cg_nvrtc *probe = open_or_skip();
    rg_cg_nvrtc_close(probe);
    for (int64_t fail_after = 0; fail_after < 5; fail_after++) {
        rg_counting_allocator counting;
        rg_counting_allocator_init(&counting, rg_allocator_default(), fail_after);
        rg_cg_nvrtc *n = NULL;
        rg_error err = {0};
        if (rg_cg_nvrtc_open(&counting.base, &n, &err) == RG_OK) {
            void *cubin = NULL;
            size_t size = 0;
            if (rg_cg_nvrtc_compile(n, fp32_kernel, "scale_f32", "sm_90", NULL, &cubin, &size, &err) == RG_OK)
                rg_mem_free(&counting.base, cubin, size);
            else
                cr_assert_eq(err.status, RG_ERR_NOMEM, "%s", err.message);
            rg_cg_nvrtc_close(n);
        } else {
            cr_assert_eq(err.status, RG_ERR_NOMEM);
        }
        cr_assert_eq(counting.in_use, 0);
    }
}

/* The sm_90a kernels must keep their warpgroup MMAs asynchronous. ptxas
 * serializes every wgmma of a kernel, and says so only in its verbose log
 * (C7514), when other instructions may read an accumulator while a wgmma
 * writing it is in flight: the kernel stays correct and gets up to twice as
 * slow, which no other test would notice (docs/perf.md has two such tries).
 * Every GEMM tile and every wgmma attention variant is compiled with
 * -Xptxas=-v and its log searched. */
static void assert_not_serialized(rg_cg_nvrtc *n, const char *source, const char *name, const char *arch,
                                  const char *const *defines, size_t count) {
    static char log[1 << 17];
    const char *extra[8];
    cr_assert_leq(count + 1, sizeof extra / sizeof extra[0]);
    for (size_t i = 0; i < count; i++) extra[i] = defines[i];
    extra[count] = "-Xptxas=-v";
    rg_cg_nvrtc_options options = {.include_dir = NULL, .extra = extra, .extra_count = count + 1, .log = log,
                                   .log_capacity = sizeof log};
    void *cubin = NULL;
    size_t size = 0;
    rg_error err = {0};
    log[0] = '\0';
    cr_assert_eq(rg_cg_nvrtc_compile(n, source, name, arch, &options, &cubin, &size, &err), RG_OK, "%s", err.message);
    rg_mem_free(rg_allocator_default(), cubin, size);
    cr_assert(strstr(log, "ptxas info") != NULL, "%s: no ptxas report in the log (did -Xptxas=-v reach ptxas?)", name);
    const char *hit = strstr(log, "C7514");
    if (hit) {
        const char *end = strchr(hit, '\n');
        cr_assert_fail("%s (%s): ptxas serializes its wgmma: %.*s", name, defines[0], end ? (int)(end - hit) : 200, hit);
    }
}

Test(nvrtc, wgmma_kernels_stay_asynchronous, .timeout = 300) {
    rg_cg_nvrtc *n = open_or_skip();
    const rg_dtype dtypes[] = {RG_DTYPE_F16, RG_DTYPE_BF16};
    for (size_t d = 0; d < 2; d++) {
        char storage[640], name[64];
        const char *gemm[RG_CG_GEMM_DEFINES];
        rg_cg_gemm_defines(dtypes[d], false, storage, sizeof storage, gemm);
        rg_kabi_gemm_module_name(dtypes[d], name, sizeof name);
        assert_not_serialized(n, rg_cg_kernel_template("gemm.cu"), name, rg_kabi_gemm_arch(), gemm,
                              RG_CG_GEMM_DEFINES);
        for (int causal = 0; causal < 2; causal++) {
            rg_kabi_attention_variant v = {dtypes[d], 64, causal != 0, true};
            cr_assert(rg_kabi_attention_wgmma_ok(&v));
            const char *attention[RG_CG_ATTENTION_DEFINES];
            rg_cg_attention_defines(&v, storage, sizeof storage, attention);
            rg_kabi_attention_kernel_name(&v, name, sizeof name);
            assert_not_serialized(n, rg_cg_kernel_template("attention.cu"), name, rg_kabi_attention_arch(&v, "sm_90"),
                                  attention, RG_CG_ATTENTION_DEFINES);
        }
    }
    rg_cg_nvrtc_close(n);
}
