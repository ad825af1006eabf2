/*
 * cuda_persist.c — loading, programming and launching the persistent
 * kernel (see cuda_persist.h; the kernel is codegen/kernels/persistent.cu).
 */
#include "cuda_persist.h"

#include <stddef.h>

#include "ir/dtype.h"

_Static_assert(sizeof(rg_rt_pk_step) == RG_KABI_PERSISTENT_STEP_BYTES, "rg_rt_pk_step must mirror rg_pk_step");

/* persistent.cu's constants: a Linear's tile columns, its shared memory at
 * 128 rows (4 stages of a 16 KB slice of X and an 8 KB one of W),
 * an attention item's (Q and two K, V buffers per warp of 16 rows of D). */
#define TILE 64
#define SLICE 64
#define MAX_SPLIT 16
#define LINEAR_SMEM (4 * (16384 + 8192))
#define ATTENTION_SMEM(d) ((size_t)16 * (size_t)(d) * 2 * 33)
#define MAX_HEAD_DIM 128
#define LN_MAX 2048

struct rg_rt_cuda_persist {
    const rg_allocator *alloc;
    rg_rt_cuda *cuda;
    rg_rt_cuda_library library;
    rg_rt_cuda_kernel kernel;
    rg_dtype dtype;
    int blocks; /* the grid: every block resident at once */
    char name[32];
};

static size_t max_smem(void) {
    size_t a = ATTENTION_SMEM(MAX_HEAD_DIM);
    return a > LINEAR_SMEM ? a : LINEAR_SMEM;
}

rg_status rg_rt_cuda_persist_load(rg_rt_cuda *cuda, const void *cubin, size_t size, rg_dtype dtype, int device,
                                  int sm_count, const rg_allocator *alloc, rg_rt_cuda_persist **out, rg_error *err) {
    if (!rg_kabi_gemm_dtype_ok(dtype))
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "persistent kernel: no module for dtype %s (f16, bf16 only)",
                            rg_dtype_name(dtype));
    if (sm_count <= 0) return rg_error_set(err, RG_ERR_DEVICE, "persistent kernel: the GPU reports no SMs");
    if (!alloc) alloc = rg_allocator_default();
    rg_rt_cuda_persist *p = rg_mem_calloc(alloc, 1, sizeof *p);
    if (!p) return rg_error_set(err, RG_ERR_NOMEM, "persistent kernel: out of memory");
    p->alloc = alloc;
    p->cuda = cuda;
    p->dtype = dtype;
    rg_kabi_persistent_name(dtype, p->name, sizeof p->name);
    int per_sm = 0;
    rg_status st = rg_rt_cuda_library_load(cuda, cubin, size, p->name, &p->library, err);
    if (st == RG_OK) st = rg_rt_cuda_kernel_get(cuda, p->library, p->name, &p->kernel, err);
    if (st == RG_OK) st = rg_rt_cuda_kernel_set_shared(cuda, p->kernel, device, max_smem(), err);
    if (st == RG_OK)
        st = rg_rt_cuda_blocks_per_sm(cuda, p->kernel, RG_KABI_PERSISTENT_THREADS, max_smem(), &per_sm, err);
    if (st == RG_OK && per_sm < 1)
        st = rg_error_set(err, RG_ERR_DEVICE, "a block of %d threads with %zu bytes of shared memory does not fit an SM",
                          RG_KABI_PERSISTENT_THREADS, max_smem());
    if (st != RG_OK) {
        rg_error_prefix(err, st, "%s", p->name);
        rg_rt_cuda_persist_free(p);
        return st;
    }
    p->blocks = sm_count; /* one a SM: the kernel is written for one (launch bounds) */
    *out = p;
    return RG_OK;
}

void rg_rt_cuda_persist_free(rg_rt_cuda_persist *p) {
    if (!p) return;
    if (p->library) rg_rt_cuda_library_free(p->cuda, p->library);
    rg_mem_free(p->alloc, p, sizeof *p);
}

rg_dtype rg_rt_cuda_persist_dtype(const rg_rt_cuda_persist *p) { return p->dtype; }

int rg_rt_cuda_persist_blocks(const rg_rt_cuda_persist *p) { return p->blocks; }

static bool aligned(const void *ptr, size_t alignment) { return (uintptr_t)ptr % alignment == 0; }

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Shares of k for a Linear of `tiles` tiles and `slices` slices of k: the
 * fewest slices on the busiest block, counting a tile's fixed cost (its
 * pipeline filling: an L2 round trip, the epilogue) as 4 slices and a
 * split's reduce step as 3 (estimates: no measured curve yet); split only
 * while tiles are fewer than blocks, and at most 2 items a block (which
 * bounds the scratch). */
static int64_t choose_split(int64_t tiles, int64_t slices, int64_t blocks) {
    int64_t best = 1, best_cost = INT64_MAX;
    for (int64_t s = 1; s <= MAX_SPLIT && s <= slices; s++) {
        if (s > 1 && (tiles >= blocks || tiles * s > 2 * blocks)) break;
        int64_t per = ceil_div(slices, s);
        if (ceil_div(slices, per) != s) continue; /* the same shares as a smaller split */
        int64_t cost = ceil_div(tiles * s, blocks) * (per + 4) + (s > 1 ? 3 : 0);
        if (cost < best_cost) {
            best = s;
            best_cost = cost;
        }
    }
    return best;
}

bool rg_rt_pk_linear(int blocks, const void *x, const void *w, const void *bias, void *y, int64_t m,
                     int64_t n, int64_t k, bool gelu, rg_rt_pk_step *out) {
    if (m < 1 || m > RG_RT_PK_MAX_ROWS || n < TILE || n % TILE || k < SLICE || k % SLICE || n > INT32_MAX ||
        k > INT32_MAX)
        return false;
    if (!aligned(x, 16) || !aligned(w, 16) || !aligned(y, 16) || !aligned(bias, 2)) return false;
    /* persistent.cu's two tile heights: 32 rows up to 32, else 128 */
    int64_t tile_m = m <= 32 ? 32 : 128;
    int64_t tiles = ceil_div(m, tile_m) * (n / TILE), split = choose_split(tiles, k / SLICE, blocks > 0 ? blocks : 1);
    *out = (rg_rt_pk_step){.kind = RG_RT_PK_LINEAR, .a = x, .w = w, .bias = bias, .y = y, .m = m, .n = n, .k = k,
                           .split = split, .flags = gelu ? 1 : 0, .work = tiles * split, .tile_m = tile_m};
    return true;
}

bool rg_rt_pk_attention(const void *qkv, const int32_t *lens, void *y, int64_t b,
                        int64_t s, int64_t h, int64_t d, float scale, bool causal, bool uniform, rg_rt_pk_step *out) {
    if (d != 32 && d != 64 && d != 128) return false;
    if (b < 1 || s < 1 || h < 1 || b * s > RG_RT_PK_MAX_ROWS || h > 4096) return false;
    if (!aligned(qkv, 16) || !aligned(y, 16) || !aligned(lens, 4)) return false;
    *out = (rg_rt_pk_step){.kind = RG_RT_PK_ATTENTION, .a = qkv, .r = lens, .y = y, .m = b, .n = s, .k = h, .split = d,
                           .flags = (causal ? 1 : 0) | (uniform ? 2 : 0), .f0 = scale,
                           .work = b * h * ceil_div(s, 16)};
    return true;
}

bool rg_rt_pk_layer_norm(const void *x, const void *residual, const void *gamma,
                         const void *beta, void *y, int64_t rows, int64_t n, float epsilon, rg_rt_pk_step *out) {
    if (rows < 1 || rows > RG_RT_PK_MAX_ROWS || n < 8 || n % 8 || n > LN_MAX) return false;
    if (!aligned(x, 16) || !aligned(residual, 16) || !aligned(gamma, 16) || !aligned(beta, 16) || !aligned(y, 16))
        return false;
    *out = (rg_rt_pk_step){.kind = RG_RT_PK_LAYER_NORM, .a = x, .w = gamma, .bias = beta, .r = residual, .y = y,
                           .m = rows, .n = n, .f0 = epsilon, .work = rows /* a block a row */};
    return true;
}

size_t rg_rt_pk_expand(const rg_rt_pk_step *steps, size_t count, rg_rt_pk_step *out) {
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        out[n++] = steps[i];
        if (steps[i].kind != RG_RT_PK_LINEAR || steps[i].split <= 1) continue;
        const rg_rt_pk_step *lin = &steps[i], *next = i + 1 < count ? &steps[i + 1] : NULL;
        if ((lin->flags & RG_RT_PK_ONLY_NEXT_READS) && !(lin->flags & 1) && next &&
            next->kind == RG_RT_PK_LAYER_NORM && next->a == lin->y && next->r != lin->y && next->split == 0 &&
            next->m == lin->m && next->n == lin->n) {
            /* the LayerNorm adds the shares and the bias itself: no reduce step, Y never stored */
            out[n] = *next;
            out[n].split = lin->split;
            out[n++].a = lin->bias;
            i++;
            continue;
        }
        out[n++] = (rg_rt_pk_step){.kind = RG_RT_PK_REDUCE, .bias = lin->bias, .y = lin->y, .m = lin->m, .n = lin->n,
                                   .split = lin->split, .flags = lin->flags & 1, .work = lin->m * lin->n / 4};
    }
    return n;
}

void rg_rt_pk_plan_prefetch(rg_rt_pk_step *steps, size_t count) {
    const void *last = NULL;
    for (size_t i = 0; i < count; i++) {
        steps[i].prefetch = NULL;
        steps[i].prefetch_bytes = 0;
        for (size_t j = i + 1; j < count; j++) {
            if (steps[j].kind != RG_RT_PK_LINEAR) continue;
            if (steps[j].w != last) {
                steps[i].prefetch = steps[j].w;
                /* the element size is 2 bytes in every module (fp16, bf16) */
                steps[i].prefetch_bytes = steps[j].k * steps[j].n * 2;
                last = steps[j].w;
            }
            break;
        }
    }
}

/* The scratch: the barrier counter (room for a counter a block), then the
 * partial sums (split only below `blocks` tiles and up to 2 items a block,
 * 128 x TILE floats each at most). */
static size_t sync_bytes(const rg_rt_cuda_persist *p) {
    size_t bytes = (1 + (size_t)p->blocks) * sizeof(uint32_t);
    return (bytes + 255) / 256 * 256;
}

size_t rg_rt_cuda_persist_scratch_bytes(const rg_rt_cuda_persist *p) {
    return sync_bytes(p) + 2 * (size_t)p->blocks * 128 * TILE * sizeof(float);
}

rg_status rg_rt_cuda_persist_launch(rg_rt_cuda_persist *p, const void *steps, size_t count, void *scratch,
                                    uint64_t *times, rg_rt_cuda_stream stream, rg_error *err) {
    if (!count) return RG_OK;
    if (!steps || !scratch || count > INT32_MAX)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "%s: a program and a scratch are needed", p->name);
    int nsteps = (int)count;
    void *sync = scratch, *partials = (char *)scratch + sync_bytes(p);
    void *args[5] = {(void *)&steps, &nsteps, &sync, &partials, &times};
    unsigned grid[3] = {(unsigned)p->blocks, 1, 1}, block[3] = {RG_KABI_PERSISTENT_THREADS, 1, 1};
    return rg_rt_cuda_launch_cooperative(p->cuda, p->kernel, grid, block, args, max_smem(), stream, err);
}
