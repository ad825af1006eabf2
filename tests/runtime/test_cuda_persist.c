/*
 * The persistent kernel (codegen/kernels/persistent.cu, runtime/cuda_persist.c).
 * Everywhere: how steps are built (a Linear's tile rows, its split of k and
 * the scratch bounds the kernel relies on, the shapes and alignments refused, the L2
 * prefetch plan) and both modules compiling with NVRTC. On a GPU of sm_80 or
 * later: Linears, Attentions, LayerNorms and a chained program in one launch
 * against double references over the same rounded inputs, every launch on
 * one scratch zeroed only when allocated (the kernel must leave its barrier
 * counter at zero). Without one that part skips with the reason.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/kernels.h"
#include "ir/arena.h"
#include "ir/dtype.h"
#include "ir/kernel_abi.h"
#include "runtime/cuda_persist.h"
#include "runtime/plan.h"
#include "exported_plan.h"

/* persistent.cu's Linear: tiles of tile_m (32 or 128) rows by 64 columns,
 * k in slices of 64, at most 16 shares of k. */
#define TILE 64
#define MAX_SPLIT 16

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static uint64_t rng_next(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 11;
}

static double rand_in(uint64_t *state, double lo, double hi) {
    return lo + (hi - lo) * (double)rng_next(state) / (double)(1ull << 53);
}

/* ---- everywhere ---- */

/* Addresses only: the step builders never dereference them. */
#define FAKE(addr) ((void *)(uintptr_t)(addr))

/* One Linear on `blocks` blocks: the tile and split invariants that the
 * kernel's indexing and the scratch's size depend on. */
static void check_linear(int blocks, int64_t m, int64_t n, int64_t k) {
    rg_rt_pk_step st;
    char what[96];
    snprintf(what, sizeof what, "%d blocks, m=%lld n=%lld k=%lld", blocks, (long long)m, (long long)n, (long long)k);
    cr_assert(rg_rt_pk_linear(blocks, FAKE(0x10000), FAKE(0x20000), FAKE(0x30000), FAKE(0x40000), m, n, k, true, &st),
              "%s refused", what);
    cr_assert(st.kind == RG_RT_PK_LINEAR && st.m == m && st.n == n && st.k == k && st.flags == 1, "%s", what);
    cr_assert(st.a == FAKE(0x10000) && st.w == FAKE(0x20000) && st.bias == FAKE(0x30000) && st.y == FAKE(0x40000));
    /* the kernel's two tile heights: 32 rows up to 32, else 128 */
    const int64_t tm = st.tile_m;
    cr_assert_eq(tm, m <= 32 ? 32 : 128, "%s: tile_m %lld", what, (long long)tm);
    const int64_t tiles = ceil_div(m, tm) * (n / TILE), slices = k / TILE, split = st.split;
    cr_assert(split >= 1 && split <= MAX_SPLIT && split <= slices, "%s: split %lld", what, (long long)split);
    cr_assert_eq(st.work, tiles * split, "%s", what);
    /* the kernel gives share s the slices [s * per, min(slices, (s + 1) * per)): none may be empty */
    cr_assert_eq(ceil_div(slices, ceil_div(slices, split)), split, "%s: split %lld leaves a share empty", what,
                 (long long)split);
    if (split > 1) {
        cr_assert_lt(tiles, blocks, "%s: split with as many tiles as blocks", what);
        /* shares of the whole [m, n] at most 2 tiles a block: what the scratch holds */
        cr_assert_leq(split * m * n, 2LL * blocks * tm * TILE, "%s: split %lld, partials overflow", what,
                      (long long)split);
    }
}

Test(persist, linear_steps) {
    char name[32];
    rg_kabi_persistent_name(RG_DTYPE_F16, name, sizeof name);
    cr_assert_str_eq(name, "rg_persistent_f16");
    rg_kabi_persistent_name(RG_DTYPE_BF16, name, sizeof name);
    cr_assert_str_eq(name, "rg_persistent_bf16");
    cr_assert_eq(sizeof(rg_rt_pk_step), RG_KABI_PERSISTENT_STEP_BYTES);

    /* BERT-base's Linears on an H100's 132 SMs */
    const int64_t shapes[][2] = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}};
    const int64_t rows[] = {128, 16, 1024};
    for (size_t r = 0; r < 3; r++)
        for (size_t s = 0; s < 4; s++) check_linear(132, rows[r], shapes[s][0], shapes[s][1]);
    /* the GPU test's split case: fewer tiles than blocks, 48 slices of k */
    rg_rt_pk_step st;
    cr_assert(rg_rt_pk_linear(132, FAKE(0x1000), FAKE(0x1000), NULL, FAKE(0x1000), 128, 768, 3072, false, &st));
    cr_assert_gt(st.split, 1, "128 x 768 x 3072 on 132 blocks should split k");

    uint64_t state = 42;
    const int grids[] = {1, 7, 108, 132};
    for (size_t b = 0; b < 4; b++)
        for (int i = 0; i < 2000; i++) {
            int64_t m = 1 + (int64_t)(rng_next(&state) % 1024), n = TILE * (1 + (int64_t)(rng_next(&state) % 64));
            int64_t k = TILE * (1 + (int64_t)(rng_next(&state) % 64));
            check_linear(grids[b], m, n, k);
        }

    /* refusals: rows, shapes that are no multiple of 64, misaligned operands */
    void *p = FAKE(0x1000);
    cr_assert(!rg_rt_pk_linear(132, p, p, NULL, p, 0, 768, 768, false, &st));
    cr_assert(!rg_rt_pk_linear(132, p, p, NULL, p, RG_RT_PK_MAX_ROWS + 1, 768, 768, false, &st));
    cr_assert(rg_rt_pk_linear(132, p, p, NULL, p, RG_RT_PK_MAX_ROWS, 768, 768, false, &st));
    cr_assert(!rg_rt_pk_linear(132, p, p, NULL, p, 16, 96, 768, false, &st));
    cr_assert(!rg_rt_pk_linear(132, p, p, NULL, p, 16, 0, 768, false, &st));
    cr_assert(!rg_rt_pk_linear(132, p, p, NULL, p, 16, 768, 100, false, &st));
    cr_assert(!rg_rt_pk_linear(132, p, p, NULL, p, 16, 768, 0, false, &st));
    void *odd8 = FAKE(0x1008);
    cr_assert(!rg_rt_pk_linear(132, odd8, p, NULL, p, 16, 768, 768, false, &st), "x is read in 16-byte pieces");
    cr_assert(!rg_rt_pk_linear(132, p, odd8, NULL, p, 16, 768, 768, false, &st), "so is w");
    cr_assert(!rg_rt_pk_linear(132, p, p, NULL, odd8, 16, 768, 768, false, &st), "and y");
    cr_assert(!rg_rt_pk_linear(132, p, p, FAKE(0x1001), p, 16, 768, 768, false, &st), "the bias is read in elements");
    cr_assert(rg_rt_pk_linear(132, p, p, FAKE(0x1002), p, 16, 768, 768, false, &st));
}

Test(persist, attention_and_layer_norm_steps) {
    rg_rt_pk_step st;
    void *qkv = FAKE(0x2000), *y = FAKE(0x4000);
    const int32_t *lens = FAKE(0x3000);
    const int64_t dims[] = {32, 64, 128};
    for (size_t d = 0; d < 3; d++) {
        cr_assert(rg_rt_pk_attention(qkv, lens, y, 2, 37, 12, dims[d], 0.125f, false, false, &st), "d=%lld",
                  (long long)dims[d]);
        cr_assert(st.kind == RG_RT_PK_ATTENTION && st.a == qkv && st.r == lens && st.y == y);
        cr_assert(st.m == 2 && st.n == 37 && st.k == 12 && st.split == dims[d] && st.f0 == 0.125f);
        cr_assert_eq(st.work, 2 * 12 * ceil_div(37, 16), "an item is 16 queries of one sequence and head");
        cr_assert_eq(st.flags, 0);
    }
    cr_assert(rg_rt_pk_attention(qkv, NULL, y, 1, 128, 12, 64, 0.5f, true, false, &st) && st.flags == 1);
    cr_assert(st.work == 12 * 8 && st.f0 == 0.5f && st.r == NULL);
    cr_assert(rg_rt_pk_attention(qkv, NULL, y, 1, 128, 12, 64, 0.5f, false, true, &st) && st.flags == 2);
    cr_assert(rg_rt_pk_attention(qkv, NULL, y, 1, 128, 12, 64, 0.5f, true, true, &st) && st.flags == 3);
    cr_assert(rg_rt_pk_attention(qkv, NULL, y, 8, 128, 12, 64, 0.5f, false, false, &st), "1024 tokens");
    cr_assert(!rg_rt_pk_attention(qkv, NULL, y, 2, 37, 12, 48, 0.1f, false, false, &st), "d=48");
    cr_assert(!rg_rt_pk_attention(qkv, NULL, y, 2, 37, 12, 256, 0.1f, false, false, &st), "d=256");
    cr_assert(!rg_rt_pk_attention(qkv, NULL, y, 5, 205, 12, 64, 0.1f, false, false, &st), "1025 tokens");
    cr_assert(!rg_rt_pk_attention(qkv, NULL, y, 1, 1025, 12, 64, 0.1f, false, false, &st), "1025 tokens");
    cr_assert(!rg_rt_pk_attention(qkv, NULL, y, 0, 37, 12, 64, 0.1f, false, false, &st));
    cr_assert(!rg_rt_pk_attention(qkv, NULL, y, 2, 37, 0, 64, 0.1f, false, false, &st));
    cr_assert(!rg_rt_pk_attention(FAKE(0x2008), NULL, y, 2, 37, 12, 64, 0.1f, false, false, &st), "qkv misaligned");
    cr_assert(!rg_rt_pk_attention(qkv, NULL, FAKE(0x4008), 2, 37, 12, 64, 0.1f, false, false, &st), "y misaligned");
    cr_assert(!rg_rt_pk_attention(qkv, FAKE(0x3002), y, 2, 37, 12, 64, 0.1f, false, false, &st), "lens misaligned");

    void *x = FAKE(0x5000), *r = FAKE(0x6000), *g = FAKE(0x7000), *b = FAKE(0x8000);
    const int64_t ns[] = {768, 2048, 8};
    const int64_t row_counts[] = {1, 37, 1024};
    for (size_t i = 0; i < 3; i++) {
        cr_assert(rg_rt_pk_layer_norm(x, r, g, b, y, row_counts[i], ns[i], 1e-5f, &st), "n=%lld", (long long)ns[i]);
        cr_assert(st.kind == RG_RT_PK_LAYER_NORM && st.a == x && st.r == r && st.w == g && st.bias == b && st.y == y);
        cr_assert(st.m == row_counts[i] && st.n == ns[i] && st.f0 == 1e-5f);
        cr_assert_eq(st.work, row_counts[i], "a block a row");
    }
    cr_assert(rg_rt_pk_layer_norm(x, NULL, g, NULL, y, 37, 768, 1e-5f, &st) && !st.r && !st.bias);
    cr_assert(!rg_rt_pk_layer_norm(x, r, g, b, y, 37, 2056, 1e-5f, &st), "over 2048: the row lives in registers");
    cr_assert(!rg_rt_pk_layer_norm(x, r, g, b, y, 37, 12, 1e-5f, &st), "no multiple of 8");
    cr_assert(!rg_rt_pk_layer_norm(x, r, g, b, y, 37, 0, 1e-5f, &st));
    cr_assert(!rg_rt_pk_layer_norm(x, r, g, b, y, 0, 768, 1e-5f, &st));
    cr_assert(!rg_rt_pk_layer_norm(x, r, g, b, y, RG_RT_PK_MAX_ROWS + 1, 768, 1e-5f, &st));
    cr_assert(!rg_rt_pk_layer_norm(x, FAKE(0x6008), g, b, y, 37, 768, 1e-5f, &st), "residual misaligned");
}

/* A split Linear gets the reduce step that adds its shares, unless the
 * LayerNorm right after reads its output alone: then that LayerNorm adds
 * the shares (split) and the Linear's bias (a) itself. */
Test(persist, expand_program) {
    void *x = FAKE(0x1000), *w = FAKE(0x2000), *b = FAKE(0x3000), *y = FAKE(0x4000), *z = FAKE(0x5000);
    rg_rt_pk_step in[4], out[8];
    cr_assert(rg_rt_pk_linear(132, x, w, b, y, 128, 768, 768, false, &in[0]));
    cr_assert_gt(in[0].split, 1);
    cr_assert(rg_rt_pk_layer_norm(y, x, w, b, z, 128, 768, 1e-5f, &in[1]));
    /* not flagged: reduce, then the LayerNorm as built */
    cr_assert_eq(rg_rt_pk_expand(in, 2, out), 3);
    cr_assert(out[1].kind == RG_RT_PK_REDUCE && out[1].y == y && out[1].bias == b && out[1].split == in[0].split &&
              out[1].m == 128 && out[1].n == 768 && out[1].work == 128 * 768 / 4);
    cr_assert(out[2].kind == RG_RT_PK_LAYER_NORM && out[2].split == 0 && out[2].a == y);
    /* flagged: the LayerNorm takes the shares */
    in[0].flags |= RG_RT_PK_ONLY_NEXT_READS;
    cr_assert_eq(rg_rt_pk_expand(in, 2, out), 2);
    cr_assert(out[1].kind == RG_RT_PK_LAYER_NORM && out[1].split == in[0].split && out[1].a == b && out[1].r == x &&
              out[1].y == z);
    /* a GELU Linear, or a LayerNorm of something else, keeps the reduce step */
    in[0].flags |= 1;
    cr_assert_eq(rg_rt_pk_expand(in, 2, out), 3);
    in[0].flags &= ~1;
    in[1].a = z;
    cr_assert_eq(rg_rt_pk_expand(in, 2, out), 3);
    /* a Linear that does not split needs nothing */
    cr_assert(rg_rt_pk_linear(132, x, w, b, y, 1024, 3072, 768, false, &in[2]));
    cr_assert_eq(in[2].split, 1);
    cr_assert_eq(rg_rt_pk_expand(&in[2], 1, out), 1);
}

Test(persist, prefetch_plan) {
    rg_rt_pk_step s[6];
    void *act = FAKE(0x100000), *gamma = FAKE(0x9000), *wa = FAKE(0x1000), *wb = FAKE(0x2000);
    cr_assert(rg_rt_pk_layer_norm(act, NULL, gamma, NULL, act, 4, 64, 1e-5f, &s[0]));
    cr_assert(rg_rt_pk_linear(132, act, wa, NULL, act, 4, 128, 64, false, &s[1]));
    cr_assert(rg_rt_pk_attention(act, NULL, act, 1, 4, 2, 32, 0.1f, false, false, &s[2]));
    cr_assert(rg_rt_pk_linear(132, act, wb, NULL, act, 4, 64, 128, false, &s[3]));
    cr_assert(rg_rt_pk_linear(132, act, wb, NULL, act, 4, 64, 128, true, &s[4]));
    cr_assert(rg_rt_pk_layer_norm(act, NULL, gamma, NULL, act, 4, 64, 1e-5f, &s[5]));
    for (int i = 0; i < 6; i++) { /* the plan overwrites whatever was there */
        s[i].prefetch = FAKE(0xdead0);
        s[i].prefetch_bytes = 7;
    }
    rg_rt_pk_plan_prefetch(s, 6);
    cr_assert(s[0].prefetch == wa && s[0].prefetch_bytes == 64 * 128 * 2, "the first Linear's weights");
    cr_assert(s[1].prefetch == wb && s[1].prefetch_bytes == 128 * 64 * 2, "the Linear two steps on");
    cr_assert(!s[2].prefetch && !s[2].prefetch_bytes, "B's weights already prefetched by step 1");
    cr_assert(!s[3].prefetch && !s[3].prefetch_bytes, "the next Linear reads the same weights");
    cr_assert(!s[4].prefetch && !s[4].prefetch_bytes, "no Linear after it");
    cr_assert(!s[5].prefetch && !s[5].prefetch_bytes, "the last step");
    rg_rt_pk_plan_prefetch(s, 0);
    rg_rt_pk_plan_prefetch(&s[1], 1);
    cr_assert(!s[1].prefetch && !s[1].prefetch_bytes, "a lone Linear prefetches nothing");
}

static rg_cg_nvrtc *nvrtc_or_skip(void) {
    rg_cg_nvrtc *nvrtc = NULL;
    rg_error err = {0};
    if (rg_cg_nvrtc_open(NULL, &nvrtc, &err) != RG_OK) cr_skip_test("NVRTC checks skipped: %s", err.message);
    return nvrtc;
}

/* Both modules for Ampere and Hopper, each holding its kernel by name. */
Test(persist, modules_compile, .timeout = 120) {
    rg_cg_nvrtc *nvrtc = nvrtc_or_skip();
    rg_error err = {0};
    const rg_dtype dtypes[] = {RG_DTYPE_F16, RG_DTYPE_BF16};
    const char *archs[] = {"sm_80", "sm_90"};
    for (int d = 0; d < 2; d++)
        for (int a = 0; a < 2; a++) {
            void *cubin = NULL;
            size_t size = 0;
            cr_assert_eq(rg_cg_persistent_compile(nvrtc, dtypes[d], archs[a], &cubin, &size, &err), RG_OK, "%s",
                         err.message);
            cr_assert(size > 4 && memcmp(cubin, "\177ELF", 4) == 0);
            char name[32];
            rg_kabi_persistent_name(dtypes[d], name, sizeof name);
            bool found = false;
            for (size_t i = 0; i + strlen(name) < size && !found; i++)
                found = !memcmp((char *)cubin + i, name, strlen(name) + 1);
            cr_assert(found, "%s missing from the %s cubin", name, archs[a]);
            rg_mem_free(rg_allocator_default(), cubin, size);
        }
    void *cubin = NULL;
    size_t size = 0;
    cr_assert_eq(rg_cg_persistent_compile(nvrtc, RG_DTYPE_F32, "sm_90", &cubin, &size, &err), RG_ERR_UNSUPPORTED);
    rg_cg_nvrtc_close(nvrtc);
}

/* ---- GPU ---- */

/* The GPU, the module of the dtype under test with its scratch, and the
 * device buffers of the case being run (freed together when it ends). */
typedef struct gpu {
    rg_rt_cuda *cuda;
    rg_cg_nvrtc *nvrtc;
    rg_rt_cuda_stream stream;
    char arch[16];
    int sms;
    rg_dtype dtype;
    rg_rt_cuda_persist *p;
    void *scratch;
    void *bufs[16];
    int nbufs;
} gpu;

static void gpu_open_or_skip(gpu *g) {
    rg_error err = {0};
    rg_status st = rg_rt_cuda_open(NULL, &g->cuda, &err);
    if (st != RG_OK) {
        cr_assert_eq(st, RG_ERR_DEVICE, "%s", err.message);
        cr_skip_test("no GPU here, GPU checks skipped: %s", err.message);
    }
    rg_rt_cuda_device_info info;
    cr_assert_eq(rg_rt_cuda_device_info_get(g->cuda, 0, &info, &err), RG_OK, "%s", err.message);
    rg_rt_cuda_arch_name(&info, g->arch, sizeof g->arch);
    if (info.sm_major < 8) {
        rg_rt_cuda_close(g->cuda);
        cr_skip_test("the persistent kernel needs sm_80 or later (mma.sync, cp.async); this GPU is %s", g->arch);
    }
    g->sms = info.multiprocessors;
    cr_assert_eq(rg_rt_cuda_set_device(g->cuda, 0, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_cg_nvrtc_open(NULL, &g->nvrtc, &err), RG_OK, "GPU present but %s", err.message);
    cr_assert_eq(rg_rt_cuda_stream_new(g->cuda, &g->stream, &err), RG_OK, "%s", err.message);
}

static void gpu_close(gpu *g) {
    rg_rt_cuda_stream_free(g->cuda, g->stream);
    rg_cg_nvrtc_close(g->nvrtc);
    rg_rt_cuda_close(g->cuda);
}

static void sync_or_fail(gpu *c) {
    rg_error err = {0};
    cr_assert_eq(rg_rt_cuda_stream_sync(c->cuda, c->stream, &err), RG_OK, "%s", err.message);
}

/* NaN bytes (0xff), so that an element the kernel forgets to write shows. */
static void fill_nan(gpu *c, void *dev, size_t bytes) {
    rg_error err = {0};
    cr_assert_eq(rg_rt_cuda_memset(c->cuda, dev, 0xff, bytes, c->stream, &err), RG_OK, "%s", err.message);
}

/* A device buffer freed by dev_release: `host` copied in (queued on the
 * test's stream, ahead of the launch), or NaN bytes when `host` is NULL. */
static void *dev_buf(gpu *c, const void *host, size_t bytes) {
    rg_error err = {0};
    void *dev = NULL;
    cr_assert_lt(c->nbufs, 16);
    cr_assert_eq(rg_rt_cuda_malloc(c->cuda, bytes, &dev, &err), RG_OK, "%s", err.message);
    c->bufs[c->nbufs++] = dev;
    if (!host) fill_nan(c, dev, bytes);
    else
        cr_assert_eq(rg_rt_cuda_copy_to_device(c->cuda, dev, host, bytes, c->stream, &err), RG_OK, "%s",
                     err.message);
    return dev;
}

static void *download(gpu *c, const void *dev, size_t bytes) {
    rg_error err = {0};
    void *host = malloc(bytes);
    cr_assert_not_null(host);
    cr_assert_eq(rg_rt_cuda_copy_to_host(c->cuda, host, dev, bytes, c->stream, &err), RG_OK, "%s", err.message);
    sync_or_fail(c);
    return host;
}

static void dev_release(gpu *c) {
    sync_or_fail(c);
    while (c->nbufs) rg_rt_cuda_free(c->cuda, c->bufs[--c->nbufs]);
}

/* The program of `steps` (each split Linear followed by its reduce step,
 * rg_rt_pk_expand) uploaded (the kernel reads its steps in device memory),
 * launched on the shared scratch, and waited for. step_us (or NULL): each
 * given step's time in us, its reduce step included, from the launch's
 * clock readings, which must be written and rising. */
static void run_program(gpu *c, const rg_rt_pk_step *steps, size_t count, double *step_us) {
    rg_error err = {0};
    rg_rt_pk_step *program = malloc(2 * count * sizeof *program);
    cr_assert(program);
    size_t n = rg_rt_pk_expand(steps, count, program);
    cr_assert(n >= count && n <= 2 * count);
    void *dev_steps = NULL;
    uint64_t *dev_times = NULL;
    cr_assert_eq(rg_rt_cuda_malloc(c->cuda, n * sizeof *program, &dev_steps, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_copy_to_device(c->cuda, dev_steps, program, n * sizeof *program, c->stream, &err), RG_OK,
                 "%s", err.message);
    if (step_us) {
        cr_assert_eq(rg_rt_cuda_malloc(c->cuda, (n + 1) * sizeof *dev_times, (void **)&dev_times, &err), RG_OK);
        fill_nan(c, dev_times, (n + 1) * sizeof *dev_times);
    }
    cr_assert_eq(rg_rt_cuda_persist_launch(c->p, dev_steps, n, c->scratch, dev_times, c->stream, &err), RG_OK, "%s",
                 err.message);
    sync_or_fail(c);
    if (step_us) {
        uint64_t *times = download(c, dev_times, (n + 1) * sizeof *times);
        for (size_t i = 0; i < n; i++)
            cr_assert(times[i] && times[i] <= times[i + 1] && times[n] != UINT64_MAX, "step %zu's times %llu, %llu",
                      i, (unsigned long long)times[i], (unsigned long long)times[i + 1]);
        for (size_t i = 0, j = 0; i < count; i++) {
            size_t end = j + 1 + (program[j + 1 < n ? j + 1 : j].kind == RG_RT_PK_REDUCE && j + 1 < n);
            step_us[i] = (double)(times[end] - times[j]) / 1e3;
            j = end;
        }
        free(times);
        rg_rt_cuda_free(c->cuda, dev_times);
    }
    rg_rt_cuda_free(c->cuda, dev_steps);
    free(program);
}

static void pk_open(gpu *c, rg_dtype dtype) {
    rg_error err = {0};
    c->dtype = dtype;
    void *cubin = NULL;
    size_t size = 0;
    cr_assert_eq(rg_cg_persistent_compile(c->nvrtc, dtype, c->arch, &cubin, &size, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_persist_load(c->cuda, cubin, size, dtype, 0, c->sms, NULL, &c->p, &err), RG_OK, "%s",
                 err.message);
    rg_mem_free(rg_allocator_default(), cubin, size); /* NVRTC was opened with the default allocator */
    cr_assert_eq(rg_rt_cuda_persist_dtype(c->p), dtype);
    size_t bytes = rg_rt_cuda_persist_scratch_bytes(c->p);
    cr_assert_eq(rg_rt_cuda_malloc(c->cuda, bytes, &c->scratch, &err), RG_OK, "%s", err.message);
    /* zeroed once: every launch after this relies on the kernel resetting it */
    cr_assert_eq(rg_rt_cuda_memset(c->cuda, c->scratch, 0, bytes, c->stream, &err), RG_OK, "%s", err.message);
    sync_or_fail(c);
    printf("persist %s on %s: %d blocks, %zu bytes of scratch\n", rg_dtype_name(dtype), c->arch,
           rg_rt_cuda_persist_blocks(c->p), bytes);
}

static void pk_close(gpu *c) {
    dev_release(c);
    rg_rt_cuda_free(c->cuda, c->scratch);
    rg_rt_cuda_persist_free(c->p);
}

/* Random elements of the dtype in [lo, hi) on the device (freed by
 * dev_release); *host gets them as doubles, as the kernel sees them. */
static void *rand_dev(gpu *c, size_t count, double lo, double hi, uint64_t *state, double **host) {
    const size_t es = rg_dtype_size(c->dtype);
    unsigned char *bytes = malloc(count * es);
    double *d = malloc(count * sizeof *d);
    cr_assert(bytes && d);
    for (size_t i = 0; i < count; i++) {
        rg_store_from_double(c->dtype, bytes, i, rand_in(state, lo, hi));
        d[i] = rg_load_as_double(c->dtype, bytes, i);
    }
    void *dev = dev_buf(c, bytes, count * es);
    sync_or_fail(c); /* the copy has read `bytes` */
    free(bytes);
    *host = d;
    return dev;
}

/* A copy of `v` rounded to the dtype, as a device buffer between steps holds it. */
static double *rounded(rg_dtype dtype, const double *v, size_t count) {
    double *out = malloc(count * sizeof *out);
    unsigned char one[8];
    cr_assert_not_null(out);
    for (size_t i = 0; i < count; i++) {
        rg_store_from_double(dtype, one, 0, v[i]);
        out[i] = rg_load_as_double(dtype, one, 0);
    }
    return out;
}

static double bound(const gpu *c, double bf16, double fp16) { return c->dtype == RG_DTYPE_BF16 ? bf16 : fp16; }

/* Relative Frobenius error of `got` (the dtype's elements) against `want`,
 * asserted <= `limit` with no NaN, and printed. */
static void check_close(const gpu *c, const char *what, const void *got, const double *want, size_t count,
                        double limit) {
    double err2 = 0, ref2 = 0;
    for (size_t i = 0; i < count; i++) {
        double x = rg_load_as_double(c->dtype, got, i);
        cr_assert(!isnan(x), "%s %s: element %zu is NaN", rg_dtype_name(c->dtype), what, i);
        err2 += (x - want[i]) * (x - want[i]);
        ref2 += want[i] * want[i];
    }
    double rel = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
    printf("persist %s %s: relative Frobenius error %.2e\n", rg_dtype_name(c->dtype), what, rel);
    cr_assert_leq(rel, limit, "%s %s: relative Frobenius error %g over %g", rg_dtype_name(c->dtype), what, rel, limit);
}

/* y [m, n] = act(x [m, k] w [k, n] + b) in double, act the erf GELU. */
static void linear_ref(const double *x, const double *w, const double *b, int64_t m, int64_t n, int64_t k, bool act,
                       double *y) {
    for (int64_t i = 0; i < m; i++) {
        double *row = y + i * n;
        for (int64_t j = 0; j < n; j++) row[j] = b ? b[j] : 0.0;
        for (int64_t kk = 0; kk < k; kk++) {
            double a = x[i * k + kk];
            const double *wr = w + kk * n;
            for (int64_t j = 0; j < n; j++) row[j] += a * wr[j];
        }
        if (act)
            for (int64_t j = 0; j < n; j++) row[j] = 0.5 * row[j] * (1.0 + erf(row[j] / sqrt(2.0)));
    }
}

/* y = LayerNorm(x + r) over rows of n in double; r and b may be NULL. */
static void layer_norm_ref(const double *x, const double *r, const double *g, const double *b, int64_t rows,
                           int64_t n, double eps, double *y) {
    for (int64_t i = 0; i < rows; i++) {
        double *v = y + i * n, mean = 0, var = 0;
        for (int64_t j = 0; j < n; j++) mean += v[j] = x[i * n + j] + (r ? r[i * n + j] : 0);
        mean /= (double)n;
        for (int64_t j = 0; j < n; j++) var += (v[j] - mean) * (v[j] - mean);
        double inv = 1.0 / sqrt(var / (double)n + eps);
        for (int64_t j = 0; j < n; j++) v[j] = (v[j] - mean) * inv * g[j] + (b ? b[j] : 0);
    }
}

static void linear_case(gpu *c, int64_t m, int64_t n, int64_t k, bool act, bool with_bias, uint64_t seed) {
    const size_t es = rg_dtype_size(c->dtype), mn = (size_t)(m * n);
    uint64_t state = seed;
    double *x, *w, *b = NULL, *want = malloc(mn * sizeof(double));
    cr_assert_not_null(want);
    void *dx = rand_dev(c, (size_t)(m * k), -1, 1, &state, &x);
    void *dw = rand_dev(c, (size_t)(k * n), -2 / sqrt((double)k), 2 / sqrt((double)k), &state, &w);
    void *db = with_bias ? rand_dev(c, (size_t)n, -0.5, 0.5, &state, &b) : NULL, *dy = dev_buf(c, NULL, mn * es);
    linear_ref(x, w, b, m, n, k, act, want);
    rg_rt_pk_step st;
    cr_assert(rg_rt_pk_linear(rg_rt_cuda_persist_blocks(c->p), dx, dw, db, dy, m, n, k, act, &st));
    run_program(c, &st, 1, NULL);
    void *got = download(c, dy, mn * es);
    char what[96];
    snprintf(what, sizeof what, "linear m=%lld n=%lld k=%lld%s%s (tile_m %lld, split %lld)", (long long)m,
             (long long)n, (long long)k, act ? " gelu" : "", with_bias ? " bias" : "", (long long)st.tile_m,
             (long long)st.split);
    size_t partials = (size_t)(st.split * m * n) * 4, counters = (size_t)(1 + rg_rt_cuda_persist_blocks(c->p)) * 4;
    if (st.split > 1) /* the split's partial sums fit the module's scratch, past its counters */
        cr_assert_leq(partials + counters, rg_rt_cuda_persist_scratch_bytes(c->p), "%s", what);
    check_close(c, what, got, want, mn, bound(c, 1e-2, 2e-3));
    dev_release(c);
    free(x), free(w), free(b), free(want), free(got);
}

/* Linear -> LayerNorm (residual: the Linear's input) -> Linear with GELU,
 * one launch: grid barriers between the steps, split Linears (each with
 * its reduce step). The reference rounds each intermediate to the
 * dtype, as the device buffers do. The program runs twice, bit-identical. */
static void chain_case(gpu *c, int64_t m, int64_t n, int64_t n2, bool fused, uint64_t seed) {
    const size_t es = rg_dtype_size(c->dtype), mn = (size_t)(m * n), mn2 = (size_t)(m * n2);
    uint64_t state = seed;
    const double s1 = 2 / sqrt((double)n);
    double *x, *w1, *b1, *g, *beta, *w2, *b2;
    void *dx = rand_dev(c, mn, -1, 1, &state, &x), *dw1 = rand_dev(c, (size_t)(n * n), -s1, s1, &state, &w1);
    void *db1 = rand_dev(c, (size_t)n, -0.5, 0.5, &state, &b1), *dg = rand_dev(c, (size_t)n, 0.5, 1.5, &state, &g);
    void *dbeta = rand_dev(c, (size_t)n, -0.5, 0.5, &state, &beta);
    void *dw2 = rand_dev(c, (size_t)(n * n2), -s1, s1, &state, &w2);
    void *db2 = rand_dev(c, (size_t)n2, -0.5, 0.5, &state, &b2);
    double *y1 = malloc(mn * sizeof(double)), *y2 = malloc(mn * sizeof(double)), *y3 = malloc(mn2 * sizeof(double));
    cr_assert(y1 && y2 && y3);
    linear_ref(x, w1, b1, m, n, n, false, y1);
    double *y1r = rounded(c->dtype, y1, mn);
    layer_norm_ref(y1r, x, g, beta, m, n, 1e-5, y2);
    double *y2r = rounded(c->dtype, y2, mn);
    linear_ref(y2r, w2, b2, m, n2, n, true, y3);

    const size_t sizes[3] = {mn, mn, mn2};
    void *dy[3] = {dev_buf(c, NULL, mn * es), dev_buf(c, NULL, mn * es), dev_buf(c, NULL, mn2 * es)};
    const int blocks = rg_rt_cuda_persist_blocks(c->p);
    rg_rt_pk_step steps[3];
    cr_assert(rg_rt_pk_linear(blocks, dx, dw1, db1, dy[0], m, n, n, false, &steps[0]));
    /* fused: the LayerNorm adds the first Linear's shares itself (rg_rt_pk_expand), whose Y is never stored */
    if (fused) steps[0].flags |= RG_RT_PK_ONLY_NEXT_READS;
    cr_assert(rg_rt_pk_layer_norm(dy[0], dx, dg, dbeta, dy[1], m, n, 1e-5f, &steps[1]));
    cr_assert(rg_rt_pk_linear(blocks, dy[1], dw2, db2, dy[2], m, n2, n, true, &steps[2]));
    rg_rt_pk_plan_prefetch(steps, 3);
    cr_assert(steps[0].prefetch == dw2, "the second Linear's weights come in during the first");
    void *got[2][3];
    double us[3];
    for (int run = 0; run < 2; run++) {
        for (int i = 0; run && i < 3; i++) fill_nan(c, dy[i], sizes[i] * es); /* the second must write all too */
        run_program(c, steps, 3, run ? NULL : us);
        for (int i = 0; i < 3; i++) got[run][i] = download(c, dy[i], sizes[i] * es);
    }
    printf("persist %s program m=%lld: steps took %.1f, %.1f, %.1f us\n", rg_dtype_name(c->dtype), (long long)m, us[0],
           us[1], us[2]);
    const double *want[3] = {y1, y2, y3};
    const double limits[3] = {bound(c, 1e-2, 2e-3), bound(c, 1e-2, 3e-3), bound(c, 2e-2, 5e-3)};
    const char *labels[3] = {"linear", "+ layer norm", "+ linear gelu"};
    for (int i = fused && steps[0].split > 1 ? 1 : 0; i < 3; i++) {
        char what[128];
        snprintf(what, sizeof what, "program m=%lld n=%lld n2=%lld (splits %lld, %lld): %s", (long long)m,
                 (long long)n, (long long)n2, (long long)steps[0].split, (long long)steps[2].split, labels[i]);
        check_close(c, what, got[0][i], want[i], sizes[i], limits[i]);
        cr_assert(!memcmp(got[0][i], got[1][i], sizes[i] * es), "%s: a second launch on the same scratch differs",
                  what);
    }
    /* cuda_persist.c's scratch opens with the barrier counter (and room for
     * a counter a block): all back at zero after the launches */
    uint32_t *counters = download(c, c->scratch, (size_t)(1 + blocks) * sizeof(uint32_t));
    for (int i = 0; i <= blocks; i++) cr_assert_eq(counters[i], 0, "scratch counter %d left at %u", i, counters[i]);
    dev_release(c);
    free(counters);
    for (int run = 0; run < 2; run++)
        for (int i = 0; i < 3; i++) free(got[run][i]);
    free(x), free(w1), free(b1), free(g), free(beta), free(w2), free(b2);
    free(y1), free(y2), free(y3), free(y1r), free(y2r);
}

/* softmax(scale q.k) v over qkv [B, S, 3 H D] (per token Q of every head,
 * then K, then V) in double: sequence b's keys j < lens[b] (j <= i when
 * causal); a row with none gets the mean of V over all S (uniform) or zeros. */
static void attention_ref(const double *qkv, const int32_t *lens, int B, int S, int H, int D, double scale,
                          bool causal, bool uniform, double *y) {
    const size_t width = (size_t)3 * H * D;
    double *p = malloc((size_t)S * sizeof *p);
    cr_assert_not_null(p);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < S; i++) {
                const double *q = qkv + ((size_t)b * S + i) * width + (size_t)h * D;
                double *out = y + ((size_t)b * S + i) * H * D + (size_t)h * D;
                int keys = lens ? (lens[b] < S ? lens[b] : S) : S;
                if (causal && keys > i + 1) keys = i + 1;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < keys; j++) {
                    const double *kr = qkv + ((size_t)b * S + j) * width + (size_t)(H + h) * D;
                    double s = 0;
                    for (int d = 0; d < D; d++) s += q[d] * kr[d];
                    p[j] = s * scale;
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j < keys; j++) sum += p[j] = exp(p[j] - mx);
                int over = keys ? keys : uniform ? S : 0;
                for (int d = 0; d < D; d++) out[d] = 0;
                for (int j = 0; j < over; j++) {
                    const double *v = qkv + ((size_t)b * S + j) * width + (size_t)(2 * H + h) * D;
                    for (int d = 0; d < D; d++) out[d] += (keys ? p[j] / sum : 1.0 / S) * v[d];
                }
            }
    free(p);
}

static void attention_case(gpu *c, int B, int S, int H, int D, bool causal, const int32_t *lens, bool uniform,
                           uint64_t seed) {
    const rg_dtype t = c->dtype;
    const size_t es = rg_dtype_size(t), ny = (size_t)B * S * H * D;
    uint64_t state = seed;
    double *qkv, *want = malloc(ny * sizeof(double));
    cr_assert_not_null(want);
    void *dq = rand_dev(c, (size_t)B * S * 3 * H * D, -1, 1, &state, &qkv), *dy = dev_buf(c, NULL, ny * es);
    void *dl = lens ? dev_buf(c, lens, (size_t)B * sizeof(int32_t)) : NULL;
    const float scale = 1.0f / sqrtf((float)D);
    attention_ref(qkv, lens, B, S, H, D, scale, causal, uniform, want);
    rg_rt_pk_step st;
    cr_assert(rg_rt_pk_attention(dq, dl, dy, B, S, H, D, scale, causal, uniform, &st));
    run_program(c, &st, 1, NULL);
    unsigned char *got = download(c, dy, ny * es);
    char what[128];
    snprintf(what, sizeof what, "attention B=%d S=%d H=%d D=%d%s%s%s", B, S, H, D, causal ? " causal" : "",
             lens ? " lens" : "", uniform ? " uniform" : "");
    check_close(c, what, got, want, ny, bound(c, 1e-2, 3e-3));
    /* a sequence with no key and no "uniform": exact zeros */
    for (int b = 0; b < B; b++) {
        if (!lens || lens[b] != 0 || uniform) continue;
        for (size_t i = (size_t)b * S * H * D; i < (size_t)(b + 1) * S * H * D; i++)
            cr_assert(rg_load_as_double(t, got, i) == 0.0, "%s: sequence %d has no key but %g", what, b,
                      rg_load_as_double(t, got, i));
    }
    dev_release(c);
    free(qkv), free(want), free(got);
}

static void layer_norm_case(gpu *c, int64_t rows, int64_t n, bool with_res, bool with_beta, uint64_t seed) {
    const size_t es = rg_dtype_size(c->dtype), count = (size_t)(rows * n);
    uint64_t state = seed;
    double *x, *r = NULL, *g, *b = NULL, *want = malloc(count * sizeof(double));
    cr_assert_not_null(want);
    void *dx = rand_dev(c, count, -1, 3, &state, &x), *dr = with_res ? rand_dev(c, count, -1, 1, &state, &r) : NULL;
    void *dg = rand_dev(c, (size_t)n, 0.5, 1.5, &state, &g);
    void *db = with_beta ? rand_dev(c, (size_t)n, -0.5, 0.5, &state, &b) : NULL, *dy = dev_buf(c, NULL, count * es);
    layer_norm_ref(x, r, g, b, rows, n, 1e-5, want);
    rg_rt_pk_step st;
    cr_assert(rg_rt_pk_layer_norm(dx, dr, dg, db, dy, rows, n, 1e-5f, &st));
    run_program(c, &st, 1, NULL);
    void *got = download(c, dy, count * es);
    char what[96];
    snprintf(what, sizeof what, "layer norm rows=%lld n=%lld%s%s", (long long)rows, (long long)n,
             r ? " residual" : "", b ? " beta" : "");
    check_close(c, what, got, want, count, bound(c, 1e-2, 3e-3));
    dev_release(c);
    free(x), free(r), free(g), free(b), free(want), free(got);
}

Test(persist, steps_match_reference, .timeout = 300) {
    gpu g = {0};
    gpu_open_or_skip(&g);
    const rg_dtype dtypes[] = {RG_DTYPE_F16, RG_DTYPE_BF16};
    uint64_t seed = 1;
    for (int d = 0; d < 2; d++) {
        pk_open(&g, dtypes[d]);
        /* m, n, k, gelu, bias: one row; BERT-base at 16 and 128 tokens (the
         * last splits k on an H100's 132 SMs); a tile's rows past m; one
         * tile; more tiles than blocks */
        const int64_t lin[][5] = {{1, 768, 768, 0, 1},     {16, 2304, 768, 0, 1}, {16, 3072, 768, 1, 1},
                                  {100, 768, 768, 0, 0},   {100, 64, 64, 1, 1},   {64, 64, 64, 1, 0},
                                  {128, 768, 768, 0, 1},   {128, 3072, 768, 1, 1}, {128, 768, 3072, 0, 1},
                                  {1024, 768, 256, 1, 1},  {300, 1024, 512, 0, 0}};
        for (size_t i = 0; i < sizeof lin / sizeof lin[0]; i++)
            linear_case(&g, lin[i][0], lin[i][1], lin[i][2], lin[i][3], lin[i][4], seed++);
        chain_case(&g, 100, 768, 3072, false, seed++);
        chain_case(&g, 16, 768, 3072, false, seed++);
        chain_case(&g, 100, 768, 3072, true, seed++);
        chain_case(&g, 128, 768, 3072, true, seed++);
        /* (B, S, H) with lengths per sequence: shorter than S, empty, full */
        const int shapes[][3] = {{1, 128, 4}, {2, 37, 2}, {3, 100, 1}};
        const int32_t lens[][3] = {{77}, {0, 20}, {100, 0, 63}};
        const int dims[] = {32, 64, 128};
        for (int s = 0; s < 3; s++)
            for (int dd = 0; dd < 3; dd++)
                for (int causal = 0; causal < 2; causal++)
                    for (int l = 0; l < 2; l++)
                        for (int u = 0; u < 2; u++)
                            attention_case(&g, shapes[s][0], shapes[s][1], shapes[s][2], dims[dd], causal,
                                           l ? lens[s] : NULL, u, seed++);
        const int64_t rows[] = {1, 37, 300}, ns[] = {64, 768, 1000, 2048};
        for (int r = 0; r < 3; r++)
            for (int n = 0; n < 4; n++)
                for (int v = 0; v < 4; v++) layer_norm_case(&g, rows[r], ns[n], v & 1, v & 2, seed++);
        pk_close(&g);
    }
    gpu_close(&g);
}

/* `--persistent` plans carry one module per dtype listing the nodes it can
 * run (the 2-layer BERT: the embeddings' LayerNorm, then per layer four
 * Linears, the attention and two LayerNorms); other plans do not, and a CPU
 * target refuses the option. */
static uint32_t persistent_nodes_of(const char *target, rg_dtype dtype, bool persistent) {
    rg_compile_options opt = {.target = target, .dtype = dtype, .persistent = persistent};
    rg_plan *plan = rg_test_exported_plan("bert_L2_classic_o17", &opt);
    uint32_t listed = 0;
    for (size_t m = 0; m < plan->nkernels; m++) {
        const rg_ir_kernel *k = &plan->kernels[m];
        if (strcmp(k->kind, RG_KABI_PERSISTENT_KIND) != 0) continue;
        char name[32];
        rg_kabi_persistent_name(dtype, name, sizeof name);
        cr_assert_str_eq(k->name, name);
        cr_assert_eq(m + 1, plan->nkernels, "the persistent module comes after every other");
        for (uint32_t i = 0; i < k->nnodes; i++) {
            rg_op op = plan->graph->nodes[k->nodes[i]]->op;
            cr_assert(op == RG_OP_LINEAR || op == RG_OP_ATTENTION || op == RG_OP_LAYER_NORM);
        }
        listed += k->nnodes;
    }
    cr_assert_eq(strstr(plan->options_text, "persistent=1") != NULL, persistent, "%s", plan->options_text);
    rg_plan_free(plan);
    return listed;
}

Test(persist, plans_carry_the_module, .timeout = 120) {
    cr_assert_eq(persistent_nodes_of("sm_90", RG_DTYPE_F16, true), 15);
    cr_assert_eq(persistent_nodes_of("sm_80", RG_DTYPE_BF16, true), 15);
    cr_assert_eq(persistent_nodes_of("sm_90", RG_DTYPE_F32, true), 0, "no fp32 kernel");
    cr_assert_eq(persistent_nodes_of("sm_90", RG_DTYPE_F16, false), 0, "only when asked for");
    rg_compile_options opt = {.target = "cpu", .dtype = RG_DTYPE_F16, .persistent = 1};
    rg_error err = {0};
    cr_assert_eq(rg_compile_file("/nonexistent.onnx", "/tmp/rg_persist_never.plan", &opt, &err),
                 RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "--persistent") && strstr(err.message, "cpu"), "%s", err.message);
}

/* Printed, not asserted (performance lives in the benchmarks): what a step
 * costs inside one launch, block 0's clock between steps. A program of
 * LayerNorms over one 64-wide row is the floor a step pays (the grid
 * barrier and the first loads after it); then BERT-base's Linears at 128
 * tokens, 12 of each in a row, with their reduce steps, as a whole layer
 * would run them. Operands are zeros: the times, not the values, matter. */
Test(persist, step_costs, .timeout = 120) {
    gpu g = {0};
    gpu_open_or_skip(&g);
    pk_open(&g, RG_DTYPE_F16);
    const size_t max_w = 3072 * 768, max_act = 128 * 3072;
    void *w = dev_buf(&g, NULL, max_w * 2), *x = dev_buf(&g, NULL, max_act * 2), *y = dev_buf(&g, NULL, max_act * 2);
    void *gamma = dev_buf(&g, NULL, 3072 * 2);
    rg_error err = {0};
    cr_assert_eq(rg_rt_cuda_memset(g.cuda, w, 0, max_w * 2, g.stream, &err), RG_OK);
    cr_assert_eq(rg_rt_cuda_memset(g.cuda, x, 0, max_act * 2, g.stream, &err), RG_OK);
    cr_assert_eq(rg_rt_cuda_memset(g.cuda, gamma, 0, 3072 * 2, g.stream, &err), RG_OK);
    enum { REPEAT = 48 };
    rg_rt_pk_step steps[REPEAT];
    double us[REPEAT];
    for (int i = 0; i < REPEAT; i++) cr_assert(rg_rt_pk_layer_norm(x, NULL, gamma, NULL, y, 1, 64, 1e-5f, &steps[i]));
    run_program(&g, steps, REPEAT, NULL); /* first launch: module and caches warm */
    run_program(&g, steps, REPEAT, us);
    double floor = 0;
    for (int i = 1; i < REPEAT; i++) floor += us[i] / (REPEAT - 1);
    printf("persist step costs (fp16, %d blocks): a LayerNorm of one 64-wide row %.2f us a step\n",
           rg_rt_cuda_persist_blocks(g.p), floor);
    const int64_t linears[][3] = {{2304, 768, 0}, {768, 768, 0}, {3072, 768, 1}, {768, 3072, 0}}; /* n, k, gelu */
    for (int l = 0; l < 4; l++) {
        for (int i = 0; i < 12; i++)
            cr_assert(rg_rt_pk_linear(rg_rt_cuda_persist_blocks(g.p), x, w, gamma, y, 128, linears[l][0],
                                      linears[l][1], linears[l][2], &steps[i]));
        rg_rt_pk_plan_prefetch(steps, 12);
        run_program(&g, steps, 12, NULL);
        run_program(&g, steps, 12, us);
        double mean = 0;
        for (int i = 1; i < 12; i++) mean += us[i] / 11;
        printf("persist step costs: Linear 128x%lldx%lld%s split %lld (with its reduce step) %.2f us\n",
               (long long)linears[l][0], (long long)linears[l][1], linears[l][2] ? " gelu" : "",
               (long long)steps[0].split, mean);        /* the same at every other split the scratch holds: the curve choose_split's estimates stand in for */
        const int64_t slices = linears[l][1] / TILE, chosen = steps[0].split;
        for (int64_t split = 1; split <= MAX_SPLIT && split <= slices; split++) {
            if (split == chosen || ceil_div(slices, ceil_div(slices, split)) != split) continue;
            int64_t tiles = linears[l][0] / TILE; /* 128 rows: one tile high */
            if (split > 1 && split * 128 * linears[l][0] > 2LL * rg_rt_cuda_persist_blocks(g.p) * 128 * TILE) continue;
            for (int i = 0; i < 12; i++) {
                steps[i].split = split;
                steps[i].work = tiles * split;
            }
            run_program(&g, steps, 12, us);
            double t = 0;
            for (int i = 1; i < 12; i++) t += us[i] / 11;
            printf("persist step costs:   forced split %lld: %.2f us\n", (long long)split, t);
        }
    }
    pk_close(&g);
    gpu_close(&g);
}
