/*
 * cuda_fused.c — launch helper for the generated batch-reduction kernels
 * (see cuda_fused.h). Everything here is host arithmetic on shapes; the only
 * CUDA call is the launch itself.
 */
#include "cuda_fused.h"

#include <string.h>

#include "ir/fused.h"

/* The iteration shape: numpy broadcast of the inputs the kernel reads, a
 * per-row input counting with a last dim of 1. */
static rg_status iteration_shape(const rg_kabi_fused_kernel *k, const rg_tensor *const *inputs, int *rank_out,
                                 int64_t *dims, rg_error *err) {
    int rank = 0;
    for (uint32_t i = 0; i < k->ninputs; i++) {
        if (k->input_kind[i] == RG_KABI_FUSED_IN_UNUSED) continue;
        const rg_tensor *t = inputs[i];
        if (!t || !t->data) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "input %u is missing", i);
        if (t->dtype != k->dtype)
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "input %u has dtype %s; the kernel was made for %s", i,
                                rg_dtype_name(t->dtype), rg_dtype_name(k->dtype));
        if (t->rank < 0 || t->rank > RG_MAX_RANK)
            return rg_error_set(err, RG_ERR_SHAPE, "input %u has rank %d", i, t->rank);
        int64_t last = t->rank > 0 ? t->dims[t->rank - 1] : 1;
        if (k->input_kind[i] == RG_KABI_FUSED_IN_SCALAR && last != 1)
            return rg_error_set(err, RG_ERR_SHAPE, "input %u is read once per row but its last dim is %lld", i,
                                (long long)last);
        if (k->input_kind[i] == RG_KABI_FUSED_IN_ROW && last != k->row_length)
            return rg_error_set(err, RG_ERR_SHAPE, "input %u has last dim %lld; the kernel was made for rows of %lld",
                                i, (long long)last, (long long)k->row_length);
        /* right-aligned broadcast into dims */
        if (t->rank > rank) {
            memmove(dims + (t->rank - rank), dims, sizeof *dims * (size_t)rank);
            for (int d = 0; d < t->rank - rank; d++) dims[d] = 1;
            rank = t->rank;
        }
        for (int d = 0; d < t->rank; d++) {
            int64_t *acc = &dims[rank - t->rank + d];
            int64_t v = t->dims[d];
            if (v < 0) return rg_error_set(err, RG_ERR_SHAPE, "input %u has a negative dim", i);
            if (*acc == 1) *acc = v;
            else if (v != 1 && v != *acc)
                return rg_error_set(err, RG_ERR_SHAPE, "input %u: dim %d is %lld, which does not broadcast with %lld",
                                    i, d, (long long)v, (long long)*acc);
        }
    }
    if (rank == 0) dims[rank++] = 1;
    if (dims[rank - 1] != k->row_length)
        return rg_error_set(err, RG_ERR_SHAPE, "the rows have length %lld; the kernel was made for %lld",
                            (long long)dims[rank - 1], (long long)k->row_length);
    *rank_out = rank;
    return RG_OK;
}

rg_status rg_rt_fused_prepare(const rg_kabi_fused_kernel *k, const rg_tensor *const *inputs, void *const *outputs,
                              rg_kabi_fused_params *params, bool *use_vec, rg_error *err) {
    int rank = 0;
    int64_t dims[RG_MAX_RANK];
    RG_TRY(iteration_shape(k, inputs, &rank, dims, err));
    rg_kabi_fused_params p;
    memset(&p, 0, sizeof p);
    /* leading dims with each input's element stride (0 where it broadcasts) */
    int lead = rank - 1, nd = 0;
    int64_t ldims[RG_KABI_FUSED_MAX_DIMS];
    int64_t lstr[RG_KABI_FUSED_MAX_INPUTS][RG_KABI_FUSED_MAX_DIMS];
    memset(lstr, 0, sizeof lstr);
    for (int d = 0; d < lead; d++) {
        if (dims[d] == 1) continue; /* contributes nothing to any offset */
        ldims[nd] = dims[d];
        for (uint32_t i = 0; i < k->ninputs; i++) {
            if (k->input_kind[i] == RG_KABI_FUSED_IN_UNUSED) continue;
            const rg_tensor *t = inputs[i];
            int kd = d - (rank - t->rank);
            if (kd < 0 || t->dims[kd] == 1) continue;
            int64_t stride = 1;
            for (int j = kd + 1; j < t->rank; j++) stride *= t->dims[j];
            lstr[i][nd] = stride;
        }
        nd++;
    }
    /* collapse neighbours that every input walks the same way */
    int out_nd = 0;
    for (int d = 0; d < nd; d++) {
        bool merge = out_nd > 0;
        for (uint32_t i = 0; merge && i < k->ninputs; i++)
            if (p.strides[i][out_nd - 1] != lstr[i][d] * ldims[d]) merge = false;
        if (merge) {
            p.dims[out_nd - 1] *= ldims[d];
            for (uint32_t i = 0; i < k->ninputs; i++) p.strides[i][out_nd - 1] = lstr[i][d];
            continue;
        }
        p.dims[out_nd] = ldims[d];
        for (uint32_t i = 0; i < k->ninputs; i++) p.strides[i][out_nd] = lstr[i][d];
        out_nd++;
    }
    if (out_nd == 0) p.dims[out_nd++] = 1;
    p.ndims = out_nd;
    size_t rows = 1;
    if (!rg_shape_numel(lead, dims, &rows) || rows > (size_t)INT64_MAX)
        return rg_error_set(err, RG_ERR_SHAPE, "the iteration shape is too large");
    p.rows = (int64_t)rows;
    size_t align = (size_t)k->vector_width * rg_dtype_size(k->dtype);
    bool vec = k->vec_name[0] != '\0';
    for (uint32_t i = 0; i < k->ninputs; i++) {
        if (k->input_kind[i] == RG_KABI_FUSED_IN_UNUSED) continue;
        p.inputs[i] = inputs[i]->data;
        if (k->input_kind[i] == RG_KABI_FUSED_IN_ROW && (uintptr_t)inputs[i]->data % align) vec = false;
    }
    for (uint32_t j = 0; j < k->noutputs; j++) {
        p.outputs[j] = outputs ? outputs[j] : NULL;
        if (p.outputs[j] && k->output_mode[j] == RG_FUSED_STORE_ROW && (uintptr_t)p.outputs[j] % align) vec = false;
    }
    *params = p;
    *use_vec = vec;
    return RG_OK;
}

bool rg_rt_fused_grid(const rg_kabi_fused_kernel *k, int64_t rows, unsigned grid[3], unsigned block[3]) {
    int64_t blocks = (rows + k->rows_per_block - 1) / k->rows_per_block;
    if (blocks > INT32_MAX) return false;
    grid[0] = (unsigned)(blocks > 0 ? blocks : 1), grid[1] = 1, grid[2] = 1;
    block[0] = (unsigned)k->block_threads, block[1] = 1, block[2] = 1;
    return true;
}

rg_status rg_rt_fused_launch(rg_rt_cuda *cuda, const rg_kabi_fused_kernel *k, rg_rt_cuda_kernel vec_kernel,
                             rg_rt_cuda_kernel scalar_kernel, const rg_tensor *const *inputs, void *const *outputs,
                             rg_rt_cuda_stream stream, rg_error *err) {
    rg_kabi_fused_params params;
    bool vec;
    RG_TRY(rg_rt_fused_prepare(k, inputs, outputs, &params, &vec, err));
    if (params.rows == 0) return RG_OK;
    unsigned grid[3], block[3];
    if (!rg_rt_fused_grid(k, params.rows, grid, block))
        return rg_error_set(err, RG_ERR_SHAPE, "%lld rows need more blocks than CUDA allows", (long long)params.rows);
    rg_rt_cuda_kernel kernel = vec && vec_kernel ? vec_kernel : scalar_kernel;
    if (!kernel) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "no kernel handle given for %s", k->scalar_name);
    void *args[1] = {&params};
    return rg_rt_cuda_launch(cuda, kernel, grid, block, args, 0, stream, err);
}
