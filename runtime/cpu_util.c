/*
 * cpu_util.c — output allocation, shape text and numpy broadcasting for the
 * CPU kernels (see cpu_util.h).
 */
#include "cpu_util.h"

#include <stdio.h>
#include <string.h>

rg_status rg_cpu_alloc_output(rg_cpu_ctx *ctx, rg_tensor *t, rg_dtype dtype, int rank, const int64_t *dims,
                              rg_error *err) {
    rg_tensor tmp = {0};
    RG_TRY(rg_tensor_set_shape(&tmp, dtype, rank, dims, err));
    /* max(nbytes, 1): empty tensors still get a distinct, freeable pointer */
    tmp.data = rg_mem_calloc(ctx->alloc, tmp.nbytes ? tmp.nbytes : 1, 1);
    if (!tmp.data)
        return rg_error_set(err, RG_ERR_NOMEM, "out of memory for a %zu-byte %s output", tmp.nbytes,
                            rg_dtype_name(dtype));
    *t = tmp;
    return RG_OK;
}

void rg_cpu_free_tensor(rg_cpu_ctx *ctx, rg_tensor *t) {
    if (!t || !t->data) return;
    rg_mem_free(ctx->alloc, t->data, t->nbytes ? t->nbytes : 1);
    t->data = NULL;
}

const char *rg_cpu_shape_text(int rank, const int64_t *dims, char *buf, size_t cap) {
    size_t len = 0;
    if (cap == 0) return buf;
    buf[0] = '\0';
    int n = snprintf(buf, cap, "[");
    for (int i = 0; i < rank && n >= 0; i++) {
        len += (size_t)n;
        if (len >= cap) return buf;
        n = snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "", (long long)dims[i]);
    }
    if (n < 0) return buf;
    len += (size_t)n;
    if (len < cap) snprintf(buf + len, cap - len, "]");
    return buf;
}

bool rg_cpu_broadcast_shapes(int rank_a, const int64_t *a, int rank_b, const int64_t *b, int *rank_out,
                             int64_t *out) {
    int rank = rank_a > rank_b ? rank_a : rank_b;
    int64_t tmp[RG_MAX_RANK];
    RG_ASSERT(rank <= RG_MAX_RANK);
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - rank_a), ib = i - (rank - rank_b);
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da == db || db == 1) tmp[i] = da;
        else if (da == 1) tmp[i] = db;
        else return false;
    }
    memcpy(out, tmp, sizeof(int64_t) * (size_t)rank);
    *rank_out = rank;
    return true;
}

void rg_cpu_broadcast_strides(int rank_out, const int64_t *out, int rank_in, const int64_t *in,
                              int64_t *strides) {
    RG_ASSERT(rank_in <= rank_out);
    int64_t stride = 1;
    for (int i = rank_out - 1; i >= 0; i--) {
        int j = i - (rank_out - rank_in);
        if (j < 0 || in[j] == 1) {
            strides[i] = 0;
            continue;
        }
        RG_ASSERT(in[j] == out[i]);
        strides[i] = stride;
        stride *= in[j];
    }
}

void rg_cpu_bcast_init(rg_cpu_bcast *b, int out_rank, const int64_t *out_dims, int noperands,
                       const int *ranks, const int64_t *const *dims) {
    RG_ASSERT(noperands >= 1 && noperands <= RG_CPU_BCAST_MAX);
    int64_t strides[RG_CPU_BCAST_MAX][RG_MAX_RANK];
    for (int k = 0; k < noperands; k++) rg_cpu_broadcast_strides(out_rank, out_dims, ranks[k], dims[k], strides[k]);
    memset(b, 0, sizeof *b);
    b->noperands = noperands;
    /* A scalar output is one row of one element. */
    b->rank = 1;
    b->dims[0] = 1;
    int r = 0;
    bool have = false;
    for (int i = 0; i < out_rank; i++) {
        if (out_dims[i] == 1 && out_rank > 1) continue; /* size-1 dims carry nothing */
        if (have) {
            /* merge dim i into the previous one when every operand walks them as one */
            bool merge = true;
            for (int k = 0; k < noperands; k++)
                if (b->strides[k][r - 1] != strides[k][i] * out_dims[i]) merge = false;
            if (merge) {
                b->dims[r - 1] *= out_dims[i];
                for (int k = 0; k < noperands; k++) b->strides[k][r - 1] = strides[k][i];
                continue;
            }
        }
        b->dims[r] = out_dims[i];
        for (int k = 0; k < noperands; k++) b->strides[k][r] = strides[k][i];
        r++;
        have = true;
    }
    if (r > 0) b->rank = r;
    size_t rows = 1;
    for (int i = 0; i + 1 < b->rank; i++) rows *= (size_t)b->dims[i];
    if (b->dims[b->rank - 1] == 0) rows = 0;
    for (int i = 0; i + 1 < b->rank; i++)
        if (b->dims[i] == 0) rows = 0;
    b->rows = rows;
}

void rg_cpu_bcast_start(const rg_cpu_bcast *b, rg_cpu_bcast_pos *pos) {
    memset(pos, 0, sizeof *pos);
    (void)b;
}

void rg_cpu_bcast_next_row(const rg_cpu_bcast *b, rg_cpu_bcast_pos *pos) {
    for (int i = b->rank - 2; i >= 0; i--) {
        pos->index[i]++;
        for (int k = 0; k < b->noperands; k++) pos->offset[k] += b->strides[k][i];
        if (pos->index[i] < b->dims[i]) return;
        for (int k = 0; k < b->noperands; k++) pos->offset[k] -= b->strides[k][i] * b->dims[i];
        pos->index[i] = 0;
    }
}

bool rg_cpu_normalize_axis(int64_t axis, int rank, int *out) {
    if (axis < -(int64_t)rank || axis >= (int64_t)rank) return false;
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}
