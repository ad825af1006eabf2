/*
 * cuda_gemm.c — loading and launching the Hopper GEMM, and its CPU
 * reference (see cuda_gemm.h). The kernels are codegen/kernels/gemm.cu; the
 * module and kernel names and the tiles are ir/kernel_abi.c's.
 */
#include "cuda_gemm.h"

#include "ir/dtype.h"

/* Mirror of struct rg_gemm_params in gemm.cu, passed by value: the two must
 * keep the same fields in the same order. */
struct gemm_params {
    const void *x, *w, *bias;
    void *y;
    long long m;
    int n, k;
};

/* Mirror of struct rg_gemm_tma_params in gemm.cu (the pingpong tiles). */
struct gemm_tma_params {
    rg_rt_tensor_map x, w;
    const void *bias;
    void *y;
    long long m;
    int n, k;
};

struct rg_rt_cuda_gemm {
    const rg_allocator *alloc;
    rg_rt_cuda *cuda;
    rg_rt_cuda_library library;
    rg_dtype dtype;
    rg_rt_cuda_kernel kernels[RG_KABI_GEMM_MAX_TILES][2]; /* [tile][gelu] */
    char name[32];
};

rg_status rg_rt_cuda_gemm_load(rg_rt_cuda *cuda, const void *cubin, size_t size, rg_dtype dtype, int device,
                               const rg_allocator *alloc, rg_rt_cuda_gemm **out, rg_error *err) {
    if (!rg_kabi_gemm_dtype_ok(dtype))
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "GEMM kernel: no module for dtype %s (f16, bf16 only)",
                            rg_dtype_name(dtype));
    size_t ntiles;
    const rg_kabi_gemm_tile *tiles = rg_kabi_gemm_tiles(&ntiles);
    RG_ASSERT(ntiles <= RG_KABI_GEMM_MAX_TILES);
    if (!alloc) alloc = rg_allocator_default();
    rg_rt_cuda_gemm *gemm = rg_mem_calloc(alloc, 1, sizeof *gemm);
    if (!gemm) return rg_error_set(err, RG_ERR_NOMEM, "GEMM kernel: out of memory");
    gemm->alloc = alloc;
    gemm->cuda = cuda;
    gemm->dtype = dtype;
    rg_kabi_gemm_module_name(dtype, gemm->name, sizeof gemm->name);
    rg_status st = rg_rt_cuda_library_load(cuda, cubin, size, gemm->name, &gemm->library, err);
    for (size_t t = 0; t < ntiles && st == RG_OK; t++)
        for (int gelu = 0; gelu < 2 && st == RG_OK; gelu++) {
            char name[64];
            rg_kabi_gemm_kernel_name(dtype, gelu, &tiles[t], name, sizeof name);
            st = rg_rt_cuda_kernel_get(cuda, gemm->library, name, &gemm->kernels[t][gelu], err);
            if (st == RG_OK)
                st = rg_rt_cuda_kernel_set_shared(cuda, gemm->kernels[t][gelu], device,
                                                  rg_kabi_gemm_smem_bytes(&tiles[t]), err);
            if (st != RG_OK) rg_error_prefix(err, st, "%s", name);
        }
    if (st != RG_OK) {
        rg_rt_cuda_gemm_free(gemm);
        return st;
    }
    *out = gemm;
    return RG_OK;
}

void rg_rt_cuda_gemm_free(rg_rt_cuda_gemm *gemm) {
    if (!gemm) return;
    if (gemm->library) rg_rt_cuda_library_free(gemm->cuda, gemm->library);
    rg_mem_free(gemm->alloc, gemm, sizeof *gemm);
}

/* Blocks for one tile each (a split-K tile's cluster counts split). */
static int64_t blocks_of(const rg_kabi_gemm_tile *tile, const rg_rt_gemm_args *a) {
    int64_t bm = 64 * tile->warpgroups;
    return (a->m + bm - 1) / bm * (a->n / tile->bn) * tile->split;
}

/* Whether `tile` can run `a`: the kernel's shape rule, at least one slice
 * of k per block of a split-K cluster, and a grid of at most 2^31 - 1
 * blocks where it is not capped at what the SMs hold (split-K grids, or an
 * unknown SM count). */
static bool tile_fits(const rg_kabi_gemm_tile *tile, const rg_rt_gemm_args *a) {
    if (a->n % tile->bn != 0 || a->k / 64 < tile->split) return false;
    return (a->sm_count > 0 && tile->split == 1) || blocks_of(tile, a) <= INT32_MAX;
}

int rg_rt_cuda_gemm_pick(const rg_rt_gemm_args *a) {
    if (a->m < 0 || a->n <= 0 || a->k <= 0 || a->k % 64 || a->n > INT32_MAX || a->k > INT32_MAX) return -1;
    size_t ntiles;
    const rg_kabi_gemm_tile *tiles = rg_kabi_gemm_tiles(&ntiles);
    int most = -1;
    for (size_t t = 0; t < ntiles; t++) {
        if (!tile_fits(&tiles[t], a)) continue;
        if (blocks_of(&tiles[t], a) >= a->sm_count) return (int)t; /* in order of preference: the first that fills the GPU */
        if (most < 0 || blocks_of(&tiles[t], a) > blocks_of(&tiles[most], a)) most = (int)t;
    }
    return most;
}

static bool aligned(const void *ptr, size_t alignment) { return (uintptr_t)ptr % alignment == 0; }

bool rg_rt_cuda_gemm_fits(const rg_rt_gemm_args *a) {
    /* 16-byte copies of X and W and stores of Y; the bias is read in pairs */
    if (!aligned(a->x, 16) || !aligned(a->w, 16) || !aligned(a->y, 16) || !aligned(a->bias, 4)) return false;
    if (a->tile >= 0) {
        size_t ntiles;
        const rg_kabi_gemm_tile *tiles = rg_kabi_gemm_tiles(&ntiles);
        return (size_t)a->tile < ntiles && rg_rt_cuda_gemm_pick(a) >= 0 && tile_fits(&tiles[a->tile], a);
    }
    return rg_rt_cuda_gemm_pick(a) >= 0;
}

rg_status rg_rt_cuda_gemm_launch(rg_rt_cuda_gemm *gemm, const rg_rt_gemm_args *a, rg_rt_cuda_stream stream,
                                 rg_error *err) {
    if (!a->x || !a->w || !a->y)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "%s: x, w and y must be set", gemm->name);
    if (!rg_rt_cuda_gemm_fits(a))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT,
                            "%s: no tile for m %lld, n %lld, k %lld (tile %d; k a multiple of 64, n of 64, x, w, y "
                            "16-byte aligned)", gemm->name, (long long)a->m, (long long)a->n, (long long)a->k, a->tile);
    if (a->m == 0) return RG_OK;
    size_t ntiles;
    const rg_kabi_gemm_tile *tiles = rg_kabi_gemm_tiles(&ntiles);
    int t = a->tile >= 0 ? a->tile : rg_rt_cuda_gemm_pick(a);
    const rg_kabi_gemm_tile *tile = &tiles[t];
    struct gemm_params params = {
        .x = a->x, .w = a->w, .bias = a->bias, .y = a->y, .m = a->m, .n = (int)a->n, .k = (int)a->k};
    struct gemm_tma_params tma = {.bias = a->bias, .y = a->y, .m = a->m, .n = (int)a->n, .k = (int)a->k};
    void *kernel_args[] = {&params};
    if (tile->pingpong) {
        /* X in boxes of the tile's rows by 64 of k, W in 64 x 64 boxes */
        bool bf16 = gemm->dtype == RG_DTYPE_BF16;
        RG_TRY(rg_rt_cuda_tensor_map_2d(gemm->cuda, &tma.x, bf16, a->x, (uint64_t)a->m, (uint64_t)a->k,
                                        (uint64_t)a->k * 2, (uint32_t)(64 * tile->warpgroups), 64, err));
        RG_TRY(rg_rt_cuda_tensor_map_2d(gemm->cuda, &tma.w, bf16, a->w, (uint64_t)a->k, (uint64_t)a->n,
                                        (uint64_t)a->n * 2, 64, 64, err));
        kernel_args[0] = &tma;
    }
    /* persistent blocks, as many as the SMs hold at once, each taking every
     * grid-th tile (gemm.cu); split-K tiles: a cluster per tile */
    int64_t blocks = blocks_of(tile, a), resident = (int64_t)a->sm_count * tile->per_sm;
    if (tile->split == 1 && resident > 0 && blocks > resident) blocks = resident;
    unsigned grid[3] = {(unsigned)blocks, 1, 1};
    unsigned block[3] = {(unsigned)rg_kabi_gemm_threads(tile), 1, 1};
    return rg_rt_cuda_launch(gemm->cuda, gemm->kernels[t][a->gelu ? 1 : 0], grid, block, kernel_args,
                             rg_kabi_gemm_smem_bytes(tile), stream, err);
}
