/*
 * cuda_attention.c — loading and launching the fused attention kernel, and
 * its CPU reference (see cuda_attention.h). The kernel itself is
 * codegen/kernels/attention.cu, compiled by codegen/kernels.c; its variants
 * are named by ir/kernel_abi.c.
 */
#include "cuda_attention.h"

#include <math.h>
#include <stdlib.h>

#include "ir/dtype.h"

/* Mirror of struct rg_attention_params in attention.cu, passed by value:
 * the two must keep the same fields in the same order. */
struct attention_params {
    const void *q, *k, *v;
    void *out;
    const int32_t *cu_seqlens;
    const int32_t *seqlens_k;
    long long q_stride, k_stride, v_stride;
    int batch, heads;
    float scale_log2;
    int unused;
};

struct rg_rt_cuda_attention {
    const rg_allocator *alloc;
    rg_rt_cuda *cuda;
    rg_rt_cuda_library library;
    rg_rt_cuda_kernel kernel;
    rg_kabi_attention_variant variant;
    char name[64];
};

rg_status rg_rt_cuda_attention_load(rg_rt_cuda *cuda, const void *cubin, size_t size,
                                    const rg_kabi_attention_variant *variant, const rg_allocator *alloc,
                                    rg_rt_cuda_attention **out, rg_error *err) {
    RG_TRY(rg_kabi_attention_check(variant, err));
    if (!alloc) alloc = rg_allocator_default();
    rg_rt_cuda_attention *attention = rg_mem_calloc(alloc, 1, sizeof *attention);
    if (!attention) return rg_error_set(err, RG_ERR_NOMEM, "attention kernel: out of memory");
    attention->alloc = alloc;
    attention->cuda = cuda;
    attention->variant = *variant;
    rg_kabi_attention_kernel_name(variant, attention->name, sizeof attention->name);
    rg_status st = rg_rt_cuda_library_load(cuda, cubin, size, attention->name, &attention->library, err);
    if (st != RG_OK) goto fail;
    st = rg_rt_cuda_kernel_get(cuda, attention->library, attention->name, &attention->kernel, err);
    if (st != RG_OK) goto fail;
    *out = attention;
    return RG_OK;
fail:
    rg_rt_cuda_attention_free(attention);
    return st;
}

void rg_rt_cuda_attention_free(rg_rt_cuda_attention *attention) {
    if (!attention) return;
    if (attention->library) rg_rt_cuda_library_free(attention->cuda, attention->library);
    rg_mem_free(attention->alloc, attention, sizeof *attention);
}

static bool aligned(const void *ptr, size_t alignment) { return (uintptr_t)ptr % alignment == 0; }

/* The checks the host can make before a launch. */
static rg_status check_args(const rg_rt_cuda_attention *attention, const rg_rt_attention_args *a, rg_error *err) {
    const char *name = attention->name;
    if (a->batch < 0 || a->heads < 1 || a->max_seqlen < 0)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "%s: batch %d, heads %d, max_seqlen %d", name, a->batch,
                            a->heads, a->max_seqlen);
    if (a->batch > 65535 || a->heads > 65535)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "%s: batch %d or heads %d over the grid limit 65535", name,
                            a->batch, a->heads);
    if (!a->q || !a->k || !a->v || !a->out || !a->cu_seqlens)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "%s: q, k, v, out and cu_seqlens must be set", name);
    if (a->q_stride < attention->variant.head_dim || a->k_stride < attention->variant.head_dim ||
        a->v_stride < attention->variant.head_dim)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "%s: token strides %lld/%lld/%lld below the head size %d",
                            name, (long long)a->q_stride, (long long)a->k_stride, (long long)a->v_stride,
                            attention->variant.head_dim);
    if (a->warps != 0 && a->warps != 1 && a->warps != 2 && a->warps != 4 && a->warps != 8)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "%s: %d warps per block (0, 1, 2, 4 or 8)", name, a->warps);
    if (attention->variant.dtype != RG_DTYPE_F32) {
        if (!aligned(a->q, 16) || !aligned(a->k, 16) || !aligned(a->v, 16) || !aligned(a->out, 16))
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "%s: q, k, v and out must be 16-byte aligned", name);
        if (a->q_stride % 8 || a->k_stride % 8 || a->v_stride % 8)
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "%s: token strides must be multiples of 8 elements",
                                name);
    }
    return RG_OK;
}

rg_status rg_rt_cuda_attention_launch(rg_rt_cuda_attention *attention, const rg_rt_attention_args *args,
                                      rg_rt_cuda_stream stream, rg_error *err) {
    RG_TRY(check_args(attention, args, err));
    if (args->batch == 0 || args->max_seqlen == 0) return RG_OK;
    struct attention_params params = {
        .q = args->q, .k = args->k, .v = args->v, .out = args->out,
        .cu_seqlens = args->cu_seqlens, .seqlens_k = args->seqlens_k,
        .q_stride = args->q_stride, .k_stride = args->k_stride, .v_stride = args->v_stride,
        .batch = args->batch, .heads = args->heads,
        .scale_log2 = (float)((double)args->scale * 1.4426950408889634), /* log2(e) */
    };
    /* fp32: 64 queries on 128 threads, or 32 on 64 at head size 128
     * (RG_ATTN_BM, RG_ATTN_THREADS there; the kernel needs exactly these).
     * fp16/bf16: 32 queries a warp and at most 4 warps (RG_ATTN_WM,
     * RG_ATTN_MAX_THREADS there), or 16 and 8 at head size 128. A K/V tile
     * serves a whole block, so long sequences take the most warps; short ones
     * fewer, so that small batches still make enough blocks for every SM. */
    int threads = 128, tile = 64;
    if (attention->variant.dtype == RG_DTYPE_F32 && attention->variant.head_dim == 128) {
        threads = 64;
        tile = 32;
    }
    if (attention->variant.wgmma) {
        /* warpgroups of 4 warps, 64 queries each, at most 2 a block; warps
         * below 4 mean one warpgroup */
        int groups = args->warps >= 8 ? 2 : 1;
        if (args->warps == 0) {
            groups = args->max_seqlen > 64 ? 2 : 1;
            if (groups == 2 && (int64_t)((args->max_seqlen + 127) / 128) * args->heads * args->batch < args->sm_count)
                groups = 1;
        }
        threads = 128 * groups;
        tile = 64 * groups;
    } else if (attention->variant.dtype != RG_DTYPE_F32) {
        bool wide = attention->variant.head_dim == 128;
        int rows = wide ? 16 : 32, max_warps = wide ? 8 : 4;
        int warps = args->warps;
        if (warps == 0) {
            warps = args->max_seqlen > 64 ? max_warps : max_warps / 2;
            /* each warp loads K/V tiles itself when alone, but idle SMs cost more */
            while (warps > 1 && (int64_t)((args->max_seqlen + rows * warps - 1) / (rows * warps)) * args->heads *
                                        args->batch < args->sm_count)
                warps /= 2;
        }
        if (warps > max_warps) warps = max_warps;
        threads = 32 * warps;
        tile = rows * warps;
    }
    unsigned grid[3] = {(unsigned)((args->max_seqlen + tile - 1) / tile), (unsigned)args->heads,
                        (unsigned)args->batch};
    unsigned block[3] = {(unsigned)threads, 1, 1};
    void *kernel_args[] = {&params};
    return rg_rt_cuda_launch(attention->cuda, attention->kernel, grid, block, kernel_args, 0, stream, err);
}

/* Rows first..first+count-1 of one head of a strided tensor, as doubles. */
static void gather(rg_dtype dtype, const void *data, int64_t stride, int head_dim, int head, int first, int count,
                   double *out) {
    for (int r = 0; r < count; r++) {
        size_t base = (size_t)(first + r) * (size_t)stride + (size_t)head * (size_t)head_dim;
        for (int d = 0; d < head_dim; d++) out[(size_t)r * (size_t)head_dim + (size_t)d] = rg_load_as_double(dtype, data, base + (size_t)d);
    }
}

/* One query row against the keys it sees: softmax in double. */
static void reference_row(const double *q, const double *k, const double *v, int head_dim, int visible, double scale,
                          double *scores, double *out) {
    double max = -INFINITY, sum = 0;
    for (int j = 0; j < visible; j++) {
        double dot = 0;
        for (int d = 0; d < head_dim; d++) dot += q[d] * k[(size_t)j * (size_t)head_dim + (size_t)d];
        scores[j] = dot * scale;
        if (scores[j] > max) max = scores[j];
    }
    for (int j = 0; j < visible; j++) sum += scores[j] = exp(scores[j] - max);
    for (int d = 0; d < head_dim; d++) out[d] = 0;
    for (int j = 0; j < visible; j++)
        for (int d = 0; d < head_dim; d++) out[d] += scores[j] / sum * v[(size_t)j * (size_t)head_dim + (size_t)d];
}

rg_status rg_rt_attention_reference(rg_dtype dtype, int head_dim, bool causal, const rg_rt_attention_args *a,
                                    double *out, rg_error *err) {
    rg_kabi_attention_variant variant = {dtype, head_dim, causal, false};
    RG_TRY(rg_kabi_attention_check(&variant, err));
    if (a->batch < 0 || a->heads < 1 || a->max_seqlen < 0 || !a->cu_seqlens || a->cu_seqlens[0] != 0)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "attention reference: bad batch, heads or cu_seqlens");
    for (int b = 0; b < a->batch; b++) {
        int len = a->cu_seqlens[b + 1] - a->cu_seqlens[b];
        if (len < 0 || len > a->max_seqlen)
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT,
                                "attention reference: sequence %d has length %d (max_seqlen %d)", b, len,
                                a->max_seqlen);
    }
    /* Scratch: the scores of one row, and K, V and Q of one (sequence, head) in double. */
    const rg_allocator *alloc = rg_allocator_default();
    size_t rows = (size_t)a->max_seqlen + 1, matrix = 0, total = 0;
    if (!rg_size_mul(rows, (size_t)head_dim, &matrix) || !rg_size_mul(matrix, 3, &total) ||
        !rg_size_add(total, rows, &total) || !rg_size_mul(total, sizeof(double), &total))
        return rg_error_set(err, RG_ERR_NOMEM, "attention reference: size overflow");
    double *scores = rg_mem_alloc(alloc, total);
    if (!scores) return rg_error_set(err, RG_ERR_NOMEM, "attention reference: out of memory");
    double *k = scores + rows, *v = k + matrix, *q = v + matrix;
    for (int b = 0; b < a->batch; b++) {
        int start = a->cu_seqlens[b], len_q = a->cu_seqlens[b + 1] - start, len_k = len_q;
        if (a->seqlens_k) len_k = a->seqlens_k[b] < 0 ? 0 : a->seqlens_k[b] < len_q ? a->seqlens_k[b] : len_q;
        for (int h = 0; h < a->heads; h++) {
            gather(dtype, a->k, a->k_stride, head_dim, h, start, len_k, k);
            gather(dtype, a->v, a->v_stride, head_dim, h, start, len_k, v);
            gather(dtype, a->q, a->q_stride, head_dim, h, start, len_q, q);
            for (int i = 0; i < len_q; i++) {
                int visible = causal && i + 1 < len_k ? i + 1 : len_k;
                reference_row(q + (size_t)i * (size_t)head_dim, k, v, head_dim, visible, (double)a->scale, scores,
                              out + ((size_t)(start + i) * (size_t)a->heads + (size_t)h) * (size_t)head_dim);
            }
        }
    }
    rg_mem_free(alloc, scores, total);
    return RG_OK;
}
