/*
 * kernels.c — the embedded kernel templates and the attention variants built
 * from them (see kernels.h); the variants' names and checks are the kernel
 * ABI's (ir/kernel_abi.c). The templates' text comes from headers generated
 * at build time from the .cu files in codegen/kernels (codegen/CMakeLists.txt).
 */
#include "kernels.h"

#include <stdio.h>
#include <string.h>

#include "kernels/index.h"

typedef struct kernel_file {
    const char *name;
    const char *text;
} kernel_file;

#define RG_CG_KERNEL_FILE_ENTRY(symbol, file_name) {file_name, symbol},
static const kernel_file kernel_files[] = {RG_CG_KERNEL_FILES(RG_CG_KERNEL_FILE_ENTRY)};
#undef RG_CG_KERNEL_FILE_ENTRY

const char *rg_cg_kernel_template(const char *file_name) {
    if (!file_name) return NULL;
    for (size_t i = 0; i < sizeof kernel_files / sizeof kernel_files[0]; i++)
        if (strcmp(kernel_files[i].name, file_name) == 0) return kernel_files[i].text;
    return NULL;
}

void rg_cg_attention_defines(const rg_kabi_attention_variant *variant, char *storage, size_t storage_size,
                             const char *options[RG_CG_ATTENTION_DEFINES]) {
    RG_ASSERT(storage_size >= 320);
    const char *name;
    int code = rg_kabi_attention_dtype_code(variant->dtype, &name);
    size_t part = storage_size / RG_CG_ATTENTION_DEFINES;
    char *slot[RG_CG_ATTENTION_DEFINES];
    for (int i = 0; i < RG_CG_ATTENTION_DEFINES; i++) slot[i] = storage + (size_t)i * part;
    snprintf(slot[0], part, "-DRG_ATTN_DTYPE=%d", code);
    snprintf(slot[1], part, "-DRG_ATTN_HEAD_DIM=%d", variant->head_dim);
    snprintf(slot[2], part, "-DRG_ATTN_CAUSAL=%d", variant->causal ? 1 : 0);
    snprintf(slot[3], part, "-DRG_ATTN_WGMMA=%d", variant->wgmma ? 1 : 0);
    int used = snprintf(slot[4], part, "-DRG_ATTN_KERNEL=");
    rg_kabi_attention_kernel_name(variant, slot[4] + used, part - (size_t)used);
    for (int i = 0; i < RG_CG_ATTENTION_DEFINES; i++) options[i] = slot[i];
}

rg_status rg_cg_attention_variant(const rg_node *node, const char *target, rg_kabi_attention_variant *out,
                                  rg_error *err) {
    rg_kabi_attention_variant v;
    RG_TRY(rg_kabi_attention_variant_of(node, &v, err));
    v.wgmma = rg_kabi_wgmma_target_ok(target) && rg_kabi_attention_wgmma_ok(&v);
    *out = v;
    return RG_OK;
}

rg_status rg_cg_attention_compile(rg_cg_nvrtc *nvrtc, const rg_kabi_attention_variant *variant, const char *arch,
                                  void **cubin, size_t *size, rg_error *err) {
    RG_TRY(rg_kabi_attention_check(variant, err));
    const char *source = rg_cg_kernel_template("attention.cu");
    RG_ASSERT(source != NULL);
    char storage[640], name[64];
    const char *defines[RG_CG_ATTENTION_DEFINES];
    rg_cg_attention_defines(variant, storage, sizeof storage, defines);
    rg_kabi_attention_kernel_name(variant, name, sizeof name);
    rg_cg_nvrtc_options options = {.include_dir = NULL, .extra = defines, .extra_count = RG_CG_ATTENTION_DEFINES};
    return rg_cg_nvrtc_compile(nvrtc, source, name, rg_kabi_attention_arch(variant, arch), &options, cubin, size,
                               err);
}

void rg_cg_gemm_defines(rg_dtype dtype, bool narrow, char *storage, size_t storage_size,
                        const char *options[RG_CG_GEMM_DEFINES]) {
    RG_ASSERT(storage_size >= 64);
    size_t part = storage_size / RG_CG_GEMM_DEFINES;
    snprintf(storage, part, "-DRG_GEMM_DTYPE=%d", dtype == RG_DTYPE_BF16 ? 2 : 1);
    snprintf(storage + part, part, "-DRG_GEMM_NARROW=%d", narrow ? 1 : 0);
    options[0] = storage;
    options[1] = storage + part;
}

rg_status rg_cg_gemm_compile(rg_cg_nvrtc *nvrtc, rg_dtype dtype, bool narrow, void **cubin, size_t *size,
                             rg_error *err) {
    if (!rg_kabi_gemm_dtype_ok(dtype))
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "GEMM kernel: no module for dtype %s (f16, bf16 only)",
                            rg_dtype_name(dtype));
    const char *source = rg_cg_kernel_template("gemm.cu");
    RG_ASSERT(source != NULL);
    char storage[128], name[32];
    const char *defines[RG_CG_GEMM_DEFINES];
    rg_cg_gemm_defines(dtype, narrow, storage, sizeof storage, defines);
    rg_kabi_gemm_module_name(dtype, name, sizeof name);
    rg_cg_nvrtc_options options = {.include_dir = NULL, .extra = defines, .extra_count = RG_CG_GEMM_DEFINES};
    return rg_cg_nvrtc_compile(nvrtc, source, name, rg_kabi_gemm_arch(), &options, cubin, size, err);
}

unsigned rg_cg_persistent_head_bit(int64_t d) {
    return d == 32 ? RG_CG_HEAD_32 : d == 64 ? RG_CG_HEAD_64 : d == 128 ? RG_CG_HEAD_128 : 0u;
}

void rg_cg_persistent_defines(rg_dtype dtype, unsigned heads, char *storage, size_t storage_size,
                              const char *options[RG_CG_PERSISTENT_DEFINES]) {
    RG_ASSERT(storage_size >= 64);
    size_t part = storage_size / RG_CG_PERSISTENT_DEFINES;
    snprintf(storage, part, "-DRG_PK_DTYPE=%d", dtype == RG_DTYPE_BF16 ? 2 : 1);
    snprintf(storage + part, part, "-DRG_PK_HEAD_DIMS=%u", heads);
    options[0] = storage;
    options[1] = storage + part;
}

rg_status rg_cg_persistent_compile(rg_cg_nvrtc *nvrtc, rg_dtype dtype, const char *arch, void **cubin, size_t *size,
                                   rg_error *err) {
    if (!rg_kabi_gemm_dtype_ok(dtype))
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "persistent kernel: no module for dtype %s (f16, bf16 only)",
                            rg_dtype_name(dtype));
    const char *source = rg_cg_kernel_template("persistent.cu");
    RG_ASSERT(source != NULL);
    char name[32], storage[128];
    rg_kabi_persistent_name(dtype, name, sizeof name);
    const char *defines[RG_CG_PERSISTENT_DEFINES];
    rg_cg_persistent_defines(dtype, RG_CG_HEAD_32 | RG_CG_HEAD_64 | RG_CG_HEAD_128, storage, sizeof storage, defines);
    rg_cg_nvrtc_options options = {.include_dir = NULL, .extra = defines, .extra_count = RG_CG_PERSISTENT_DEFINES};
    return rg_cg_nvrtc_compile(nvrtc, source, name, arch, &options, cubin, size, err);
}
