/*
 * cuBLASLt GEMMs. The descriptor checks and the epilogue query run
 * everywhere; the GEMMs need a GPU and otherwise skip with the one-line
 * reason from rg_rt_cuda_open. On a GPU every case is compared with a CPU
 * reference in double over the same (rounded) inputs, by the Frobenius norm
 * of the error relative to that of the result: 1e-5 for f32, 1e-2 for f16 and
 * bf16. Large shapes check a spread of rows only, to keep the CPU side short.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/dtype.h"
#include "runtime/cublaslt.h"
#include "runtime/cuda_api.h"

/* ---- without a GPU ---- */

Test(blaslt, activation_query) {
    cr_assert(rg_rt_blaslt_activation_supported(RG_RT_BLASLT_ACT_NONE));
    cr_assert(rg_rt_blaslt_activation_supported(RG_RT_BLASLT_ACT_RELU));
    cr_assert(rg_rt_blaslt_activation_supported(RG_RT_BLASLT_ACT_GELU_TANH));
    cr_assert_not(rg_rt_blaslt_activation_supported(RG_RT_BLASLT_ACT_GELU_ERF), "cuBLASLt has no erf GELU");
}

static rg_rt_blaslt_linear_desc valid_desc(void) {
    static char fake[64]; /* never dereferenced: the check does not touch memory */
    rg_rt_blaslt_linear_desc d = {.m = 8, .n = 16, .k = 4, .dtype = RG_DTYPE_F16, .x = fake, .w = fake, .y = fake};
    return d;
}

Test(blaslt, check_refuses_bad_descriptors) {
    rg_error err = {0};
    rg_rt_blaslt_linear_desc d = valid_desc();
    cr_assert_eq(rg_rt_blaslt_linear_check(&d, &err), RG_OK, "%s", err.message);

    d = valid_desc();
    d.dtype = RG_DTYPE_I32;
    cr_assert_eq(rg_rt_blaslt_linear_check(&d, &err), RG_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "M=8 N=16 K=4") != NULL, "names the shape: %s", err.message);
    cr_assert(strstr(err.message, "int32 none batch 1") != NULL, "%s", err.message);

    d = valid_desc();
    d.activation = RG_RT_BLASLT_ACT_GELU_ERF;
    cr_assert_eq(rg_rt_blaslt_linear_check(&d, &err), RG_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "gelu_erf") != NULL, "%s", err.message);

    d = valid_desc();
    d.bias_dtype = RG_DTYPE_F32;
    cr_assert_eq(rg_rt_blaslt_linear_check(&d, &err), RG_ERR_UNSUPPORTED, "f32 bias with f16 output");

    d = valid_desc();
    d.k = 0;
    cr_assert_eq(rg_rt_blaslt_linear_check(&d, &err), RG_ERR_INVALID_ARGUMENT);

    d = valid_desc();
    d.y = NULL;
    cr_assert_eq(rg_rt_blaslt_linear_check(&d, &err), RG_ERR_INVALID_ARGUMENT);

    d = valid_desc();
    d.batch = 3, d.stride_x = 32, d.stride_w = 0, d.stride_y = 100; /* Y is 128 elements: overlaps */
    cr_assert_eq(rg_rt_blaslt_linear_check(&d, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "overlap") != NULL, "%s", err.message);
    d.stride_y = 0; /* Y can never be shared */
    cr_assert_eq(rg_rt_blaslt_linear_check(&d, &err), RG_ERR_INVALID_ARGUMENT);
    d.stride_y = 128;
    cr_assert_eq(rg_rt_blaslt_linear_check(&d, &err), RG_OK, "%s", err.message);

    d = valid_desc();
    d.m = INT64_MAX / 2, d.k = 4;
    cr_assert_eq(rg_rt_blaslt_linear_check(&d, &err), RG_ERR_INVALID_ARGUMENT, "size overflow");
}

/* ---- with a GPU ---- */

typedef struct gpu {
    rg_rt_cuda *cuda;
    rg_rt_blaslt *blaslt;
} gpu;

static gpu open_with(const rg_rt_blaslt_options *options) {
    gpu g = {0};
    rg_error err = {0};
    rg_status st = rg_rt_cuda_open(NULL, &g.cuda, &err);
    if (st != RG_OK) {
        cr_assert_eq(st, RG_ERR_DEVICE, "%s", err.message);
        cr_assert(strchr(err.message, '\n') == NULL, "reason must be one line: %s", err.message);
        cr_skip_test("no GPU here, cuBLASLt checks skipped: %s", err.message);
        return g;
    }
    cr_assert_eq(rg_rt_cuda_set_device(g.cuda, 0, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_blaslt_open_with(g.cuda, NULL, options, &g.blaslt, &err), RG_OK, "GPU present but %s",
                 err.message);
    return g;
}

static gpu open_or_skip(size_t cache_capacity) {
    rg_rt_blaslt_options options = {.cache_capacity = cache_capacity};
    return open_with(&options);
}

static void close_gpu(gpu *g) {
    rg_rt_blaslt_close(g->blaslt);
    rg_rt_cuda_close(g->cuda);
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* Uniform in [-scale, scale], stored in `dtype`; returns the stored values. */
static void fill(rg_dtype dtype, void *data, double *rounded, size_t n, double scale, uint64_t *s) {
    for (size_t i = 0; i < n; i++) {
        double u = (double)(rng_next(s) >> 11) / 9007199254740992.0;
        rg_store_from_double(dtype, data, i, (2 * u - 1) * scale);
        rounded[i] = rg_load_as_double(dtype, data, i);
    }
}

static double activate(rg_rt_blaslt_activation act, double v) {
    if (act == RG_RT_BLASLT_ACT_RELU) return v > 0 ? v : 0;
    if (act == RG_RT_BLASLT_ACT_GELU_TANH) return 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    return v;
}

typedef struct gemm_case {
    rg_dtype dtype;
    int64_t m, k, n, batch;
    rg_rt_blaslt_activation act;
    bool bias, w_transposed, share_w, tf32;
    double bound;
} gemm_case;

typedef struct host_buf {
    void *raw;
    double *rounded;
    size_t n;
} host_buf;

static host_buf host_new(rg_dtype dtype, size_t n, double scale, uint64_t *s) {
    host_buf h = {malloc(n * rg_dtype_size(dtype)), malloc(n * sizeof(double)), n};
    cr_assert(h.raw && h.rounded);
    fill(dtype, h.raw, h.rounded, n, scale, s);
    return h;
}

static void *upload(gpu *g, const void *host, size_t bytes) {
    void *dev = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_rt_cuda_malloc(g->cuda, bytes, &dev, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_copy_to_device(g->cuda, dev, host, bytes, NULL, &err), RG_OK, "%s", err.message);
    return dev;
}

/* Runs one case `calls` times and checks the last result. */
static void run_case(gpu *g, const gemm_case *c, int calls) {
    uint64_t seed = 0x9E3779B97F4A7C15ull ^ (uint64_t)(c->m * 131 + c->n * 7 + c->k);
    int64_t batch = c->batch > 1 ? c->batch : 1;
    size_t elem = rg_dtype_size(c->dtype);
    size_t xn = (size_t)(c->m * c->k), wn = (size_t)(c->k * c->n), yn = (size_t)(c->m * c->n);
    size_t w_count = c->share_w ? 1 : (size_t)batch;
    host_buf x = host_new(c->dtype, xn * batch, 1.0, &seed);
    host_buf w = host_new(c->dtype, wn * w_count, 1.0 / sqrt((double)c->k), &seed);
    host_buf bias = host_new(c->dtype, (size_t)c->n, 0.5, &seed);
    void *dx = upload(g, x.raw, xn * batch * elem), *dw = upload(g, w.raw, wn * w_count * elem);
    void *dbias = upload(g, bias.raw, (size_t)c->n * elem), *dy = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_rt_cuda_malloc(g->cuda, yn * batch * elem, &dy, &err), RG_OK, "%s", err.message);

    rg_rt_blaslt_linear_desc d = {
        .m = c->m, .n = c->n, .k = c->k, .dtype = c->dtype, .activation = c->act, .w_transposed = c->w_transposed,
        .allow_tf32 = c->tf32, .batch = c->batch, .stride_x = (int64_t)xn, .stride_w = c->share_w ? 0 : (int64_t)wn,
        .stride_y = (int64_t)yn, .x = dx, .w = dw, .bias = c->bias ? dbias : NULL, .y = dy};
    for (int i = 0; i < calls; i++)
        cr_assert_eq(rg_rt_blaslt_linear(g->blaslt, &d, NULL, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_device_sync(g->cuda, &err), RG_OK, "%s", err.message);
    void *y = malloc(yn * batch * elem);
    cr_assert(y);
    cr_assert_eq(rg_rt_cuda_copy_to_host(g->cuda, y, dy, yn * batch * elem, NULL, &err), RG_OK, "%s", err.message);

    /* about 2e8 multiply-adds at most on the CPU */
    double work = (double)batch * (double)c->m * (double)c->n * (double)c->k;
    int64_t row_step = work > 2e8 ? (int64_t)ceil(work / 2e8) : 1;
    double err2 = 0, ref2 = 0;
    for (int64_t b = 0; b < batch; b++) {
        const double *xb = x.rounded + b * xn, *wb = w.rounded + (c->share_w ? 0 : b) * wn;
        for (int64_t m = 0; m < c->m; m += row_step) {
            for (int64_t n = 0; n < c->n; n++) {
                double acc = 0;
                for (int64_t k = 0; k < c->k; k++)
                    acc += xb[m * c->k + k] * (c->w_transposed ? wb[n * c->k + k] : wb[k * c->n + n]);
                if (c->bias) acc += bias.rounded[n];
                double want = activate(c->act, acc);
                double got = rg_load_as_double(c->dtype, y, (size_t)(b * yn + m * c->n + n));
                err2 += (got - want) * (got - want);
                ref2 += want * want;
            }
        }
    }
    double rel = sqrt(err2) / (sqrt(ref2) > 0 ? sqrt(ref2) : 1);
    cr_log_info("cuBLASLt %s M=%lld K=%lld N=%lld batch %lld act %d bias %d%s%s: relative error %.3g (bound %.0e)",
                rg_dtype_name(c->dtype), (long long)c->m, (long long)c->k, (long long)c->n, (long long)batch,
                (int)c->act, c->bias, c->w_transposed ? " W^T" : "", c->tf32 ? " tf32" : "", rel, c->bound);
    cr_assert(isfinite(rel) && rel <= c->bound, "%s M=%lld K=%lld N=%lld: relative error %g > %g",
              rg_dtype_name(c->dtype), (long long)c->m, (long long)c->k, (long long)c->n, rel, c->bound);

    free(y);
    rg_rt_cuda_free(g->cuda, dx);
    rg_rt_cuda_free(g->cuda, dw);
    rg_rt_cuda_free(g->cuda, dbias);
    rg_rt_cuda_free(g->cuda, dy);
    free(x.raw), free(x.rounded), free(w.raw), free(w.rounded), free(bias.raw), free(bias.rounded);
}

static double bound_of(rg_dtype dtype) { return dtype == RG_DTYPE_F32 ? 1e-5 : 1e-2; }

static const rg_dtype dtypes[] = {RG_DTYPE_F32, RG_DTYPE_F16, RG_DTYPE_BF16};

/* (M, K, N) as BERT's Linears see them, and odd sizes. */
static const int64_t shapes[][3] = {{1, 768, 768}, {128, 768, 2304}, {4096, 768, 3072}, {5, 17, 33}, {3, 1, 7}};

Test(blaslt, linear_shapes_and_dtypes) {
    gpu g = open_or_skip(0);
    for (size_t t = 0; t < 3; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            gemm_case c = {.dtype = dtypes[t], .m = shapes[s][0], .k = shapes[s][1], .n = shapes[s][2],
                           .bias = true, .bound = bound_of(dtypes[t])};
            run_case(&g, &c, 1);
        }
    close_gpu(&g);
}

Test(blaslt, every_epilogue) {
    gpu g = open_or_skip(0);
    const rg_rt_blaslt_activation acts[] = {RG_RT_BLASLT_ACT_NONE, RG_RT_BLASLT_ACT_RELU, RG_RT_BLASLT_ACT_GELU_TANH};
    for (size_t t = 0; t < 3; t++)
        for (size_t a = 0; a < 3; a++)
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                gemm_case c = {.dtype = dtypes[t], .m = 77, .k = 96, .n = 200, .act = acts[a], .bias = with_bias,
                               .bound = bound_of(dtypes[t])};
                run_case(&g, &c, 1);
            }
    rg_rt_blaslt_linear_desc d = valid_desc();
    rg_error err = {0};
    d.activation = RG_RT_BLASLT_ACT_GELU_ERF;
    cr_assert_eq(rg_rt_blaslt_linear(g.blaslt, &d, NULL, &err), RG_ERR_UNSUPPORTED);
    close_gpu(&g);
}

Test(blaslt, transposed_w_batched_and_tf32) {
    gpu g = open_or_skip(0);
    for (size_t t = 0; t < 3; t++) {
        /* Gemm with transB */
        gemm_case c = {.dtype = dtypes[t], .m = 33, .k = 64, .n = 48, .w_transposed = true, .bias = true,
                       .bound = bound_of(dtypes[t])};
        run_case(&g, &c, 1);
        /* attention-shaped: [B, S, D] x [B, S, D]^T, and [B, S, S] x [B, S, D] */
        gemm_case qk = {.dtype = dtypes[t], .m = 128, .k = 64, .n = 128, .batch = 12, .w_transposed = true,
                        .bound = bound_of(dtypes[t])};
        run_case(&g, &qk, 1);
        gemm_case pv = {.dtype = dtypes[t], .m = 128, .k = 128, .n = 64, .batch = 12, .bound = bound_of(dtypes[t])};
        run_case(&g, &pv, 1);
        /* one W for the whole batch, with a bias epilogue */
        gemm_case shared = {.dtype = dtypes[t], .m = 17, .k = 40, .n = 24, .batch = 5, .share_w = true,
                            .bias = true, .act = RG_RT_BLASLT_ACT_GELU_TANH, .bound = bound_of(dtypes[t])};
        run_case(&g, &shared, 1);
    }
    gemm_case tf32 = {.dtype = RG_DTYPE_F32, .m = 256, .k = 768, .n = 768, .tf32 = true, .bias = true, .bound = 3e-3};
    run_case(&g, &tf32, 1);
    close_gpu(&g);
}

Test(blaslt, cache_hits_and_a_full_cache) {
    gpu g = open_or_skip(2);
    rg_rt_blaslt_cache_stats s0, s1, s2;
    rg_rt_blaslt_cache_stats_get(g.blaslt, &s0);
    cr_assert_eq(s0.entries, 0);
    cr_assert_eq(s0.capacity, 2);
    gemm_case c = {.dtype = RG_DTYPE_F16, .m = 64, .k = 64, .n = 64, .bias = true, .bound = 1e-2};
    run_case(&g, &c, 3); /* one miss, then two hits */
    rg_rt_blaslt_cache_stats_get(g.blaslt, &s1);
    cr_assert_eq(s1.misses, 1);
    cr_assert_eq(s1.hits, 2);
    cr_assert_eq(s1.entries, 1);
    /* three more shapes: one fills the cache, two run uncached, still right */
    for (int64_t n = 72; n <= 88; n += 8) {
        gemm_case o = {.dtype = RG_DTYPE_F16, .m = 64, .k = 64, .n = n, .bias = true, .bound = 1e-2};
        run_case(&g, &o, 2);
    }
    rg_rt_blaslt_cache_stats_get(g.blaslt, &s2);
    cr_assert_eq(s2.entries, 2);
    cr_assert_eq(s2.uncached, 4, "two uncached shapes, twice each (got %llu)", (unsigned long long)s2.uncached);
    cr_assert_eq(s2.hits, 3);
    cr_log_info("cuBLASLt %zu: cache %llu hits, %llu misses, %llu uncached, %zu/%zu entries",
                rg_rt_blaslt_version(g.blaslt), (unsigned long long)s2.hits, (unsigned long long)s2.misses,
                (unsigned long long)s2.uncached, s2.entries, s2.capacity);
    close_gpu(&g);
}

typedef struct linear_run {
    rg_rt_blaslt *blaslt;
    const rg_rt_blaslt_linear_desc *d;
} linear_run;

static rg_status run_linear(void *ctx, rg_rt_cuda_stream stream, rg_error *err) {
    const linear_run *r = ctx;
    return rg_rt_blaslt_linear(r->blaslt, r->d, stream, err);
}

/* Mean ms of one call of d, from a CUDA graph of `iterations` calls on
 * `stream` (rg_rt_cuda_time_calls: issued one by one, a small GEMM would
 * time the host), after an untimed call that also picks the algorithm. */
static double time_linear(gpu *g, const rg_rt_blaslt_linear_desc *d, rg_rt_cuda_stream stream, int iterations) {
    rg_error err = {0};
    rg_rt_cuda_event ev[2] = {NULL, NULL};
    cr_assert_eq(rg_rt_cuda_event_new(g->cuda, &ev[0], &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_event_new(g->cuda, &ev[1], &err), RG_OK, "%s", err.message);
    linear_run run = {g->blaslt, d};
    float ms = 0;
    cr_assert_eq(rg_rt_cuda_time_calls(g->cuda, stream, run_linear, &run, iterations, ev, &ms, &err), RG_OK, "%s",
                 err.message);
    rg_rt_cuda_event_free(g->cuda, ev[0]);
    rg_rt_cuda_event_free(g->cuda, ev[1]);
    return ms;
}

/* Printed, not asserted: BERT's FFN up-projection at 16384 tokens. */
Test(blaslt, timing) {
    gpu g = open_or_skip(0);
    const int64_t m = 16384, k = 768, n = 3072;
    const rg_dtype timed[] = {RG_DTYPE_F16, RG_DTYPE_BF16, RG_DTYPE_F32};
    for (size_t t = 0; t < 3; t++) {
        rg_error err = {0};
        size_t elem = rg_dtype_size(timed[t]);
        void *dx = NULL, *dw = NULL, *dy = NULL, *db = NULL;
        cr_assert_eq(rg_rt_cuda_malloc(g.cuda, (size_t)(m * k) * elem, &dx, &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_rt_cuda_malloc(g.cuda, (size_t)(k * n) * elem, &dw, &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_rt_cuda_malloc(g.cuda, (size_t)(m * n) * elem, &dy, &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_rt_cuda_malloc(g.cuda, (size_t)n * elem, &db, &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_rt_cuda_memset(g.cuda, dx, 0, (size_t)(m * k) * elem, NULL, &err), RG_OK);
        cr_assert_eq(rg_rt_cuda_memset(g.cuda, dw, 0, (size_t)(k * n) * elem, NULL, &err), RG_OK);
        cr_assert_eq(rg_rt_cuda_memset(g.cuda, db, 0, (size_t)n * elem, NULL, &err), RG_OK);
        rg_rt_cuda_stream stream = NULL;
        cr_assert_eq(rg_rt_cuda_stream_new(g.cuda, &stream, &err), RG_OK, "%s", err.message);
        const rg_rt_blaslt_activation acts[] = {RG_RT_BLASLT_ACT_NONE, RG_RT_BLASLT_ACT_GELU_TANH};
        for (size_t a = 0; a < 2; a++) {
            rg_rt_blaslt_linear_desc d = {.m = m, .n = n, .k = k, .dtype = timed[t], .activation = acts[a],
                                          .x = dx, .w = dw, .bias = a ? db : NULL, .y = dy};
            double per = time_linear(&g, &d, stream, 20);
            cr_log_info("cuBLASLt timing M=%lld K=%lld N=%lld %s %s: %.4f ms, %.1f TFLOP/s", (long long)m,
                        (long long)k, (long long)n, rg_dtype_name(timed[t]), a ? "bias+gelu_tanh" : "no epilogue",
                        per, 2.0 * m * n * k / (per * 1e-3) / 1e12);
        }
        rg_rt_cuda_stream_free(g.cuda, stream);
        rg_rt_cuda_free(g.cuda, dx), rg_rt_cuda_free(g.cuda, dw), rg_rt_cuda_free(g.cuda, dy), rg_rt_cuda_free(g.cuda, db);
    }
    close_gpu(&g);
}

/* Batch-1 BERT shapes: tuned results are right (split-K included), a
 * second M of the same size class reuses the choice without timing, and
 * the tuned time is printed next to the heuristic's first choice. */
Test(blaslt, autotune_small_m, .timeout = 300) {
    gpu g = open_or_skip(0);
    rg_rt_blaslt_options plain_options = {.no_autotune = true};
    gpu plain = open_with(&plain_options);
    static const int64_t bert[][3] = {{128, 768, 2304}, {128, 768, 768}, {128, 768, 3072}, {128, 3072, 768},
                                      {16, 768, 768}};
    for (size_t t = 0; t < 3; t++)
        for (size_t s = 0; s < sizeof bert / sizeof bert[0]; s++) {
            gemm_case c = {.dtype = dtypes[t], .m = bert[s][0], .k = bert[s][1], .n = bert[s][2], .bias = true,
                           .act = bert[s][2] == 3072 ? RG_RT_BLASLT_ACT_GELU_TANH : RG_RT_BLASLT_ACT_NONE,
                           .bound = bound_of(dtypes[t])};
            run_case(&g, &c, 2);
        }
    rg_rt_blaslt_cache_stats s1, s2, sp;
    rg_rt_blaslt_cache_stats_get(g.blaslt, &s1);
    cr_assert_gt(s1.tuned, 0, "nothing was tuned");
    cr_log_info("autotune: %llu problems tuned (%llu beat the first choice) in %.1f ms", (unsigned long long)s1.tuned,
                (unsigned long long)s1.tune_won, s1.tune_ms);
    gemm_case other = {.dtype = RG_DTYPE_F16, .m = 100, .k = 3072, .n = 768, .bias = true, .bound = 1e-2};
    run_case(&g, &other, 1); /* 100 is in 128's class */
    rg_rt_blaslt_cache_stats_get(g.blaslt, &s2);
    cr_assert_eq(s2.tuned, s1.tuned, "M=100 was timed again");
    cr_assert_eq(s2.tune_reused, s1.tune_reused + 1);
    rg_rt_blaslt_cache_stats_get(plain.blaslt, &sp);
    cr_assert_eq(sp.tuned, 0);

    rg_error err = {0};
    rg_rt_cuda_stream stream = NULL;
    cr_assert_eq(rg_rt_cuda_stream_new(g.cuda, &stream, &err), RG_OK, "%s", err.message);
    for (size_t s = 0; s < sizeof bert / sizeof bert[0]; s++) {
        int64_t m = bert[s][0], k = bert[s][1], n = bert[s][2];
        void *dx = NULL, *dw = NULL, *dy = NULL, *db = NULL;
        cr_assert_eq(rg_rt_cuda_malloc(g.cuda, (size_t)(m * k) * 2, &dx, &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_rt_cuda_malloc(g.cuda, (size_t)(k * n) * 2, &dw, &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_rt_cuda_malloc(g.cuda, (size_t)(m * n) * 2, &dy, &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_rt_cuda_malloc(g.cuda, (size_t)n * 2, &db, &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_rt_cuda_memset(g.cuda, dx, 0, (size_t)(m * k) * 2, NULL, &err), RG_OK);
        cr_assert_eq(rg_rt_cuda_memset(g.cuda, dw, 0, (size_t)(k * n) * 2, NULL, &err), RG_OK);
        cr_assert_eq(rg_rt_cuda_memset(g.cuda, db, 0, (size_t)n * 2, NULL, &err), RG_OK);
        rg_rt_blaslt_linear_desc d = {.m = m, .n = n, .k = k, .dtype = RG_DTYPE_F16, .x = dx, .w = dw, .bias = db,
                                      .y = dy};
        double tuned = time_linear(&g, &d, stream, 200), first = time_linear(&plain, &d, stream, 200);
        double bytes = (double)(k * n + m * k + m * n) * 2;
        cr_log_info("fp16 M=%lld K=%lld N=%lld: heuristic %.4f ms, tuned %.4f ms (%.2fx), tuned %.0f GB/s of the "
                    "operands' bytes",
                    (long long)m, (long long)k, (long long)n, first, tuned, first / tuned, bytes / (tuned * 1e-3) / 1e9);
        rg_rt_cuda_free(g.cuda, dx), rg_rt_cuda_free(g.cuda, dw), rg_rt_cuda_free(g.cuda, dy), rg_rt_cuda_free(g.cuda, db);
    }
    rg_rt_cuda_stream_free(g.cuda, stream);
    close_gpu(&plain);
    close_gpu(&g);
}
