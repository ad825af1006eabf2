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
                             const char *options[4]) {
    RG_ASSERT(storage_size >= 256);
    const char *name;
    int code = rg_kabi_attention_dtype_code(variant->dtype, &name);
    size_t quarter = storage_size / 4;
    char *slot[4] = {storage, storage + quarter, storage + 2 * quarter, storage + 3 * quarter};
    snprintf(slot[0], quarter, "-DRG_ATTN_DTYPE=%d", code);
    snprintf(slot[1], quarter, "-DRG_ATTN_HEAD_DIM=%d", variant->head_dim);
    snprintf(slot[2], quarter, "-DRG_ATTN_CAUSAL=%d", variant->causal ? 1 : 0);
    int used = snprintf(slot[3], quarter, "-DRG_ATTN_KERNEL=");
    rg_kabi_attention_kernel_name(variant, slot[3] + used, quarter - (size_t)used);
    for (int i = 0; i < 4; i++) options[i] = slot[i];
}

rg_status rg_cg_attention_compile(rg_cg_nvrtc *nvrtc, const rg_kabi_attention_variant *variant, const char *arch,
                                  void **cubin, size_t *size, rg_error *err) {
    RG_TRY(rg_kabi_attention_check(variant, err));
    const char *source = rg_cg_kernel_template("attention.cu");
    RG_ASSERT(source != NULL);
    char storage[512], name[64];
    const char *defines[4];
    rg_cg_attention_defines(variant, storage, sizeof storage, defines);
    rg_kabi_attention_kernel_name(variant, name, sizeof name);
    rg_cg_nvrtc_options options = {.include_dir = NULL, .extra = defines, .extra_count = 4};
    return rg_cg_nvrtc_compile(nvrtc, source, name, arch, &options, cubin, size, err);
}
