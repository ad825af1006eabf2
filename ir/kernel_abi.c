/*
 * kernel_abi.c — the decisions codegen/ and runtime/ share about a kernel
 * (see kernel_abi.h): names, the batch-reduction layout for a row length
 * and dtype, what each input is read as, the attention variant of a node.
 * Codegen emits CUDA text from these; the executor launches with them.
 */
#include "kernel_abi.h"

#include <stdio.h>
#include <string.h>

/* Register and shared-memory budget: at most this many elements of a row
 * per thread per ROW register before more threads take the row. */
#define MAX_ELEMENTS_PER_THREAD 32
/* Threads per block when rows are short enough for several per block. */
#define BLOCK_TARGET 256

/* ------------------------------------------------ batch-reduction kernels */

static bool dtype_supported(rg_dtype dtype) {
    return dtype == RG_DTYPE_F32 || dtype == RG_DTYPE_F16 || dtype == RG_DTYPE_BF16;
}

static int next_pow2(int64_t v) {
    int p = 1;
    while (p < v && p < 32) p *= 2;
    return p;
}

/* Vector width, threads per row and rows per block for N elements. */
static void choose_layout(int64_t n, rg_dtype dtype, rg_kabi_fused_kernel *k) {
    int esize = (int)rg_dtype_size(dtype);
    int v = 16 / esize;
    /* the widest access that divides the row; short rows then take fewer
     * lanes (a part of a warp) rather than narrower accesses */
    while (v > 1 && n % v != 0) v /= 2;
    int64_t chunks = (n + v - 1) / v;
    int per_thread = MAX_ELEMENTS_PER_THREAD / v > 0 ? MAX_ELEMENTS_PER_THREAD / v : 1;
    int threads;
    if (chunks <= 32) threads = next_pow2(chunks);
    else {
        int64_t warps = (chunks + 32 * (int64_t)per_thread - 1) / (32 * (int64_t)per_thread);
        threads = warps >= 32 ? 1024 : (int)warps * 32;
    }
    k->vector_width = v;
    k->threads_per_row = threads;
    k->rows_per_block = threads >= BLOCK_TARGET ? 1 : BLOCK_TARGET / threads;
    k->block_threads = k->threads_per_row * k->rows_per_block;
}

static bool is_identifier(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > RG_KABI_FUSED_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

/* LayerNorm (x, scale, bias?, residual?) -> (y, sum?) as an expression
 * program: s = x (+ residual); mean; d = s - mean; var = mean(d * d);
 * y = d * (1 / sqrt(var + eps)) * scale (+ bias). The code goes to
 * src->layer_norm_code, epsilon is src->layer_norm_epsilon. */
static void layer_norm_program(const rg_node *node, rg_kabi_fused_source *src) {
    int64_t *code = src->layer_norm_code;
    uint32_t n = 0;
#define LN_EMIT(op, a, b, c) (code[4 * n] = (op), code[4 * n + 1] = (a), code[4 * n + 2] = (b), \
                              code[4 * n + 3] = (c), (int64_t)n++)
    bool has_bias = node->ninputs > 2 && node->inputs[2];
    bool has_residual = node->ninputs > 3 && node->inputs[3];
    bool want_sum = node->noutputs > 1 && node->outputs[1];
    int64_t s = LN_EMIT(RG_FUSED_LOAD, 0, RG_FUSED_LOAD_ROW, 0);
    if (has_residual) {
        int64_t r = LN_EMIT(RG_FUSED_LOAD, 3, RG_FUSED_LOAD_ROW, 0);
        s = LN_EMIT(RG_FUSED_ADD, s, r, 0);
    }
    if (want_sum) LN_EMIT(RG_FUSED_STORE, 1, s, RG_FUSED_STORE_ROW);
    int64_t mean = LN_EMIT(RG_FUSED_RMEAN, s, 0, 0);
    int64_t d = LN_EMIT(RG_FUSED_SUB, s, mean, 0);
    int64_t sq = LN_EMIT(RG_FUSED_MUL, d, d, 0);
    int64_t var = LN_EMIT(RG_FUSED_RMEAN, sq, 0, 0);
    int64_t e = LN_EMIT(RG_FUSED_CONST, 0, 0, 0);
    int64_t ve = LN_EMIT(RG_FUSED_ADD, var, e, 0);
    int64_t sd = LN_EMIT(RG_FUSED_SQRT, ve, 0, 0);
    int64_t inv = LN_EMIT(RG_FUSED_RECIP, sd, 0, 0);
    int64_t nrm = LN_EMIT(RG_FUSED_MUL, d, inv, 0);
    int64_t g = LN_EMIT(RG_FUSED_LOAD, 1, RG_FUSED_LOAD_ROW, 0);
    int64_t y = LN_EMIT(RG_FUSED_MUL, nrm, g, 0);
    if (has_bias) {
        int64_t b = LN_EMIT(RG_FUSED_LOAD, 2, RG_FUSED_LOAD_ROW, 0);
        y = LN_EMIT(RG_FUSED_ADD, y, b, 0);
    }
    LN_EMIT(RG_FUSED_STORE, 0, y, RG_FUSED_STORE_ROW);
#undef LN_EMIT
    RG_ASSERT(n <= RG_KABI_LAYER_NORM_MAX_INSTR);
    src->program = (rg_fused_program){.ninstr = n, .code = code, .nconstants = 1,
                                      .constants = &src->layer_norm_epsilon, .ninputs = node->ninputs,
                                      .noutputs = node->noutputs};
}

/* The program of `node` into *src (node and sizes already checked). */
static rg_status fused_source(const rg_node *node, const char *nn, rg_kabi_fused_source *src, rg_error *err) {
    if (node->op == RG_OP_LAYER_NORM) {
        if (node->ninputs < 2 || !node->inputs[0] || !node->inputs[1])
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "node '%s' (LayerNorm): inputs 0 and 1 are required", nn);
        if (node->noutputs < 1 || !node->outputs[0])
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "node '%s' (LayerNorm): output 0 is required", nn);
        float eps = 1e-5f;
        RG_TRY(rg_node_attr_float(node, "epsilon", 1e-5f, &eps, err));
        src->layer_norm_epsilon = eps;
        layer_norm_program(node, src);
        return RG_OK;
    }
    rg_error inner = {0};
    rg_status st = rg_fused_decode(node, &src->program, &inner);
    if (st != RG_OK) return rg_error_set(err, st, "node '%s': %s", nn, inner.message);
    return RG_OK;
}

rg_status rg_kabi_fused_kernel_of(const rg_node *node, const char *kernel_name, rg_dtype dtype, int64_t row_length,
                                  rg_kabi_fused_kernel *out, rg_kabi_fused_source *source, rg_error *err) {
    const char *nn = node->name ? node->name : "";
    if (node->op != RG_OP_FUSED && node->op != RG_OP_LAYER_NORM)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "node '%s' (%s): no batch-reduction kernel for this op", nn,
                            rg_op_name(node->op));
    if (!is_identifier(kernel_name))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "node '%s': kernel name '%s' is not a C identifier of "
                            "at most %d bytes", nn, kernel_name, RG_KABI_FUSED_NAME_MAX);
    if (node->ninputs > RG_KABI_FUSED_MAX_INPUTS || node->noutputs > RG_KABI_FUSED_MAX_OUTPUTS)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "node '%s': %u inputs and %u outputs; kernels take at most %d and %d",
                            nn, node->ninputs, node->noutputs, RG_KABI_FUSED_MAX_INPUTS, RG_KABI_FUSED_MAX_OUTPUTS);
    if (dtype == RG_DTYPE_UNDEFINED && node->ninputs > 0 && node->inputs[0]) dtype = node->inputs[0]->dtype;
    if (!dtype_supported(dtype))
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "node '%s': dtype %s; kernels take f32, f16 or bf16", nn,
                            rg_dtype_name(dtype));
    if (row_length <= 0) {
        const rg_value *o = node->noutputs > 0 ? node->outputs[0] : NULL;
        /* a Fused output 0 stored per row has lost the row; input 0 of a LayerNorm always has it */
        const rg_value *v = node->op == RG_OP_LAYER_NORM ? node->inputs[0] : o;
        if (!v || v->rank < 1 || !rg_dim_is_const(&v->dims[v->rank - 1], &row_length))
            return rg_error_set(err, RG_ERR_UNSUPPORTED, "node '%s': the row length is not known at compile time",
                                nn);
    }
    if (row_length < 1 || row_length > INT32_MAX / 2)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "node '%s': row length %lld is out of range", nn,
                            (long long)row_length);

    /* filled locally and copied out only on success (a LayerNorm's program
     * points into the struct, so the copy is re-pointed) */
    rg_kabi_fused_source local;
    RG_TRY(fused_source(node, nn, &local, err));
    const rg_fused_program *prog = &local.program;

    rg_kabi_fused_kernel k;
    memset(&k, 0, sizeof k);
    k.dtype = dtype;
    k.row_length = row_length;
    k.ninputs = node->ninputs;
    k.noutputs = node->noutputs;
    choose_layout(row_length, dtype, &k);
    for (uint32_t j = 0; j < k.ninputs; j++) k.input_kind[j] = RG_KABI_FUSED_IN_UNUSED;
    for (uint32_t i = 0; i < prog->ninstr; i++) {
        rg_fused_instr in = rg_fused_instr_at(prog, i);
        if (in.op == RG_FUSED_LOAD)
            k.input_kind[in.a] = in.b == RG_FUSED_LOAD_SCALAR ? RG_KABI_FUSED_IN_SCALAR : RG_KABI_FUSED_IN_ROW;
        if (in.op == RG_FUSED_STORE) k.output_mode[in.a] = (uint8_t)in.c;
    }
    if (row_length % k.vector_width == 0 && k.vector_width > 1) snprintf(k.vec_name, sizeof k.vec_name, "%s_vec", kernel_name);
    else k.vector_width = 1;
    snprintf(k.scalar_name, sizeof k.scalar_name, "%s_scalar", kernel_name);
    *out = k;
    if (source) {
        *source = local;
        if (local.program.code == local.layer_norm_code) {
            source->program.code = source->layer_norm_code;
            source->program.constants = &source->layer_norm_epsilon;
        }
    }
    return RG_OK;
}

/* --------------------------------------------------------- attention */

int rg_kabi_attention_dtype_code(rg_dtype dtype, const char **short_name) {
    switch (dtype) {
    case RG_DTYPE_F32: *short_name = "f32"; return 0;
    case RG_DTYPE_F16: *short_name = "f16"; return 1;
    case RG_DTYPE_BF16: *short_name = "bf16"; return 2;
    default: *short_name = "?"; return -1;
    }
}

rg_status rg_kabi_attention_check(const rg_kabi_attention_variant *variant, rg_error *err) {
    const char *name;
    if (rg_kabi_attention_dtype_code(variant->dtype, &name) < 0)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "attention kernel: no variant for dtype %s (f32, f16, bf16 only)",
                            rg_dtype_name(variant->dtype));
    if (variant->head_dim != 32 && variant->head_dim != 64 && variant->head_dim != 128)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "attention kernel: head size %d (32, 64 or 128 only)",
                            variant->head_dim);
    if (variant->wgmma && !rg_kabi_attention_wgmma_ok(variant))
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "attention kernel: no wgmma variant for %s at head size %d "
                            "(fp16 or bf16 at 64 only)", rg_dtype_name(variant->dtype), variant->head_dim);
    return RG_OK;
}

bool rg_kabi_attention_wgmma_ok(const rg_kabi_attention_variant *variant) {
    return (variant->dtype == RG_DTYPE_F16 || variant->dtype == RG_DTYPE_BF16) && variant->head_dim == 64;
}

/* The only arch with warpgroup MMA that ragged compiles for. */
#define WGMMA_ARCH "sm_90a"

const char *rg_kabi_attention_arch(const rg_kabi_attention_variant *variant, const char *target) {
    return variant->wgmma ? WGMMA_ARCH : target;
}

void rg_kabi_attention_set_module_arch(rg_kabi_attention_variant *variant, const char *module_arch) {
    variant->wgmma = rg_kabi_attention_wgmma_ok(variant) && module_arch && !strcmp(module_arch, WGMMA_ARCH);
}

void rg_kabi_attention_kernel_name(const rg_kabi_attention_variant *variant, char *out, size_t out_size) {
    const char *name;
    rg_kabi_attention_dtype_code(variant->dtype, &name);
    snprintf(out, out_size, "rg_attention_%s_d%d%s%s", name, variant->head_dim, variant->causal ? "_causal" : "",
             variant->wgmma ? "_wg" : "");
}

rg_status rg_kabi_attention_variant_of(const rg_node *node, rg_kabi_attention_variant *out, rg_error *err) {
    int64_t heads, head_size, causal;
    RG_TRY(rg_node_attr_int(node, "num_heads", 0, &heads, err));
    RG_TRY(rg_node_attr_int(node, "head_size", 0, &head_size, err));
    RG_TRY(rg_node_attr_int(node, "causal", 0, &causal, err));
    rg_kabi_attention_variant v = {node->inputs[0]->dtype, (int)head_size, causal != 0, false};
    RG_TRY(rg_kabi_attention_check(&v, err));
    *out = v;
    return RG_OK;
}

/* ------------------------------------------------------ Hopper GEMM */

/* The instantiations at the end of codegen/kernels/gemm.cu, in the order the
 * launcher prefers them: the warp-specialized tile wherever it fills the
 * GPU (at BERT's widths from 1024 rows; the fastest of ours from 4096, e.g.
 * 0.384 against 0.437 ms for m128n256 on the 32768 x 3072 x 768 erf-GELU
 * Linear, random operands), then the others largest first. */
static const rg_kabi_gemm_tile gemm_tiles[] = {
    {"m128n128p", 2, 128, 6, 1, 1, 1},
    {"m128n256", 2, 256, 4, 1, 1, 0},
    {"m128n128", 2, 128, 5, 1, 1, 0},
    {"m64n128", 1, 128, 4, 2, 1, 0},
    {"m64n64", 1, 64, 4, 3, 1, 0},
    {"m64n64s2", 1, 64, 4, 3, 2, 0},
    {"m64n64s4", 1, 64, 4, 3, 4, 0},
    {"m64n64s8", 1, 64, 4, 3, 8, 0},
};

const rg_kabi_gemm_tile *rg_kabi_gemm_tiles(size_t *count) {
    *count = sizeof gemm_tiles / sizeof gemm_tiles[0];
    return gemm_tiles;
}

size_t rg_kabi_gemm_smem_bytes(const rg_kabi_gemm_tile *tile) {
    /* the stages, 2 KB per warp for the epilogue, 1 KB to align the stages;
     * pingpong tiles: 8 consumer warps, and a full and an empty mbarrier a
     * stage */
    size_t stages = (size_t)tile->stages * (size_t)(64 * tile->warpgroups + tile->bn) * 128;
    if (tile->pingpong) return stages + 8 * 2048 + 1024 + (size_t)tile->stages * 16;
    return stages + (size_t)tile->warpgroups * 4 * 2048 + 1024;
}

int rg_kabi_gemm_threads(const rg_kabi_gemm_tile *tile) { return tile->pingpong ? 384 : 128 * tile->warpgroups; }

bool rg_kabi_gemm_dtype_ok(rg_dtype dtype) { return dtype == RG_DTYPE_F16 || dtype == RG_DTYPE_BF16; }

void rg_kabi_gemm_module_name(rg_dtype dtype, char *out, size_t out_size) {
    snprintf(out, out_size, "rg_gemm_%s", dtype == RG_DTYPE_BF16 ? "bf16" : "f16");
}

void rg_kabi_persistent_name(rg_dtype dtype, char *out, size_t out_size) {
    snprintf(out, out_size, "rg_persistent_%s", dtype == RG_DTYPE_BF16 ? "bf16" : "f16");
}

void rg_kabi_gemm_kernel_name(rg_dtype dtype, bool gelu, const rg_kabi_gemm_tile *tile, char *out, size_t out_size) {
    snprintf(out, out_size, "rg_gemm_%s_%s_%s", dtype == RG_DTYPE_BF16 ? "bf16" : "f16", gelu ? "gelu" : "bias",
             tile->name);
}

const char *rg_kabi_gemm_arch(void) { return WGMMA_ARCH; }

bool rg_kabi_wgmma_target_ok(const char *target) {
    return target && (!strcmp(target, "sm_90") || !strcmp(target, "sm_90a"));
}
