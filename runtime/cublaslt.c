/*
 * cublaslt.c — libcublasLt through dlopen, a cache of chosen algorithms, and
 * the Linear GEMM (see cublaslt.h).
 *
 * The cuBLASLt header gives types and enums only; every function comes from
 * dlsym into the context. Built without the CUDA headers, the open fails with
 * the same words as the CUDA runtime's, and the descriptor check, which needs
 * no GPU, still works.
 *
 * Each distinct problem (shape, dtypes, epilogue, batch, pointer alignment)
 * gets one cache entry holding its matmul descriptor, its three layouts and
 * the algorithm the heuristic chose; a later call only sets the bias pointer
 * and launches. The cache is bounded and never evicts (entries of a plan are
 * reused for the whole session): once full, new problems run the heuristic
 * on temporary descriptors each call and are counted as `uncached`.
 *
 * Autotuning (see the header) keeps a second table, by size class, of the
 * algorithm timing chose; it holds only the algorithm (a plain struct), so
 * it needs no destruction.
 */
#include "cublaslt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_WORKSPACE ((size_t)32 << 20)
#define DEFAULT_CACHE_CAPACITY 256
#define MAX_CACHE_CAPACITY ((size_t)1 << 20)
/* Autotuning: heuristic results asked for, of which the best few get split-K
 * variants, and how long each candidate is timed. */
#define TUNE_HEURISTIC 8
#define TUNE_SPLIT_BASES 3
#define TUNE_MAX_CANDIDATES 40
#define TUNE_TARGET_MS 0.5f
#define TUNE_MAX_REPS 50

static const char *activation_name(rg_rt_blaslt_activation act) {
    switch (act) {
    case RG_RT_BLASLT_ACT_NONE: return "none";
    case RG_RT_BLASLT_ACT_RELU: return "relu";
    case RG_RT_BLASLT_ACT_GELU_TANH: return "gelu_tanh";
    case RG_RT_BLASLT_ACT_GELU_ERF: return "gelu_erf";
    default: return "?";
    }
}

/* "M=128 N=2304 K=768 float16 bias+gelu_tanh batch 1" for messages. */
static void shape_text(const rg_rt_blaslt_linear_desc *d, char *out, size_t size) {
    bool plain = d->activation == RG_RT_BLASLT_ACT_NONE;
    snprintf(out, size, "M=%lld N=%lld K=%lld%s %s %s%s%s batch %lld", (long long)d->m, (long long)d->n,
             (long long)d->k, d->w_transposed ? " (W transposed)" : "", rg_dtype_name(d->dtype), d->bias ? "bias" : "",
             d->bias && !plain ? "+" : "", d->bias && plain ? "" : activation_name(d->activation),
             (long long)(d->batch > 1 ? d->batch : 1));
}

bool rg_rt_blaslt_activation_supported(rg_rt_blaslt_activation act) {
    return act == RG_RT_BLASLT_ACT_NONE || act == RG_RT_BLASLT_ACT_RELU || act == RG_RT_BLASLT_ACT_GELU_TANH;
}

/* Elements a matrix of the batch spans must fit before the next one starts,
 * and every byte offset must fit in int64 (cuBLASLt's layout type). */
static bool batch_fits(int64_t batch, int64_t stride, int64_t elements, size_t elem, bool may_share) {
    if (batch <= 1) return true;
    if (stride == 0) return may_share;
    if (stride < elements) return false;
    size_t span, bytes;
    return rg_size_mul((size_t)(batch - 1), (size_t)stride, &span) && rg_size_add(span, (size_t)elements, &span) &&
           rg_size_mul(span, elem, &bytes) && bytes <= (size_t)INT64_MAX;
}

rg_status rg_rt_blaslt_linear_check(const rg_rt_blaslt_linear_desc *d, rg_error *err) {
    char shape[160];
    shape_text(d, shape, sizeof shape);
    if (d->dtype != RG_DTYPE_F32 && d->dtype != RG_DTYPE_F16 && d->dtype != RG_DTYPE_BF16)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "cuBLASLt linear [%s]: dtype %s is not f32, f16 or bf16", shape,
                            rg_dtype_name(d->dtype));
    if (d->bias_dtype != RG_DTYPE_UNDEFINED && d->bias_dtype != d->dtype)
        return rg_error_set(err, RG_ERR_UNSUPPORTED,
                            "cuBLASLt linear [%s]: bias dtype %s differs from the output's (cuBLASLt wants them equal)",
                            shape, rg_dtype_name(d->bias_dtype));
    if ((unsigned)d->activation >= RG_RT_BLASLT_ACT_COUNT)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "cuBLASLt linear [%s]: activation %d is out of range", shape,
                            (int)d->activation);
    if (!rg_rt_blaslt_activation_supported(d->activation))
        return rg_error_set(err, RG_ERR_UNSUPPORTED,
                            "cuBLASLt linear [%s]: no %s epilogue in cuBLASLt (its GELU is the tanh form); run the bias "
                            "epilogue and a separate activation kernel",
                            shape, activation_name(d->activation));
    if (d->m <= 0 || d->n <= 0 || d->k <= 0 || d->batch < 0)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "cuBLASLt linear [%s]: sizes must be positive", shape);
    if (!d->x || !d->w || !d->y)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "cuBLASLt linear [%s]: X, W and Y must be device pointers",
                            shape);
    size_t elem = rg_dtype_size(d->dtype), xn, wn, yn, bytes;
    if (!rg_size_mul((size_t)d->m, (size_t)d->k, &xn) || !rg_size_mul((size_t)d->k, (size_t)d->n, &wn) ||
        !rg_size_mul((size_t)d->m, (size_t)d->n, &yn) || !rg_size_mul(xn, elem, &bytes) ||
        !rg_size_mul(wn, elem, &bytes) || !rg_size_mul(yn, elem, &bytes) || xn > (size_t)INT64_MAX ||
        wn > (size_t)INT64_MAX || yn > (size_t)INT64_MAX)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "cuBLASLt linear [%s]: the matrices' sizes overflow", shape);
    if (d->batch > 1 && (d->stride_x < 0 || d->stride_w < 0 || d->stride_y < 0))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "cuBLASLt linear [%s]: negative batch stride", shape);
    if (!batch_fits(d->batch, d->stride_x, (int64_t)xn, elem, true) ||
        !batch_fits(d->batch, d->stride_w, (int64_t)wn, elem, true) ||
        !batch_fits(d->batch, d->stride_y, (int64_t)yn, elem, false))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT,
                            "cuBLASLt linear [%s]: batch strides (X %lld, W %lld, Y %lld elements) overlap or overflow",
                            shape, (long long)d->stride_x, (long long)d->stride_w, (long long)d->stride_y);
    if (d->batch > INT32_MAX)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "cuBLASLt linear [%s]: batch exceeds cuBLASLt's int32 count",
                            shape);
    return RG_OK;
}

#ifndef RG_HAVE_CUDA_HEADERS

#pragma GCC diagnostic ignored "-Wunused-parameter"

rg_status rg_rt_blaslt_open(rg_rt_cuda *cuda, const rg_allocator *alloc, rg_rt_blaslt **out, rg_error *err) {
    return rg_error_set(err, RG_ERR_DEVICE, "no usable GPU: ragged was built without CUDA headers");
}
rg_status rg_rt_blaslt_open_with(rg_rt_cuda *cuda, const rg_allocator *alloc, const rg_rt_blaslt_options *options,
                                 rg_rt_blaslt **out, rg_error *err) {
    return rg_error_set(err, RG_ERR_DEVICE, "no usable GPU: ragged was built without CUDA headers");
}
/* Nothing below is reachable without a context from rg_rt_blaslt_open. */
void rg_rt_blaslt_close(rg_rt_blaslt *blaslt) {}
rg_status rg_rt_blaslt_linear(rg_rt_blaslt *blaslt, const rg_rt_blaslt_linear_desc *d, rg_rt_cuda_stream stream,
                              rg_error *err) {
    return rg_error_set(err, RG_ERR_DEVICE, "ragged was built without CUDA headers");
}
void rg_rt_blaslt_cache_stats_get(const rg_rt_blaslt *blaslt, rg_rt_blaslt_cache_stats *stats) {
    memset(stats, 0, sizeof *stats);
}
size_t rg_rt_blaslt_version(const rg_rt_blaslt *blaslt) { return 0; }

#else

#include <cublasLt.h>
#include <dlfcn.h>
#include <time.h>

typedef struct blaslt_fns {
    cublasStatus_t (*Create)(cublasLtHandle_t *);
    cublasStatus_t (*Destroy)(cublasLtHandle_t);
    size_t (*GetVersion)(void);
    const char *(*GetStatusName)(cublasStatus_t);
    const char *(*GetStatusString)(cublasStatus_t);
    cublasStatus_t (*MatmulDescCreate)(cublasLtMatmulDesc_t *, cublasComputeType_t, cudaDataType_t);
    cublasStatus_t (*MatmulDescDestroy)(cublasLtMatmulDesc_t);
    cublasStatus_t (*MatmulDescSetAttribute)(cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, const void *,
                                             size_t);
    cublasStatus_t (*MatrixLayoutCreate)(cublasLtMatrixLayout_t *, cudaDataType, uint64_t, uint64_t, int64_t);
    cublasStatus_t (*MatrixLayoutDestroy)(cublasLtMatrixLayout_t);
    cublasStatus_t (*MatrixLayoutSetAttribute)(cublasLtMatrixLayout_t, cublasLtMatrixLayoutAttribute_t, const void *,
                                               size_t);
    cublasStatus_t (*MatmulPreferenceCreate)(cublasLtMatmulPreference_t *);
    cublasStatus_t (*MatmulPreferenceDestroy)(cublasLtMatmulPreference_t);
    cublasStatus_t (*MatmulPreferenceSetAttribute)(cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t,
                                                   const void *, size_t);
    cublasStatus_t (*MatmulAlgoGetHeuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
                                             cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                             cublasLtMatmulPreference_t, int, cublasLtMatmulHeuristicResult_t[],
                                             int *);
    cublasStatus_t (*MatmulAlgoCheck)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
                                      cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                      const cublasLtMatmulAlgo_t *, cublasLtMatmulHeuristicResult_t *);
    cublasStatus_t (*MatmulAlgoConfigSetAttribute)(cublasLtMatmulAlgo_t *, cublasLtMatmulAlgoConfigAttributes_t,
                                                   const void *, size_t);
    cublasStatus_t (*Matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *,
                             cublasLtMatrixLayout_t, const void *, cublasLtMatrixLayout_t, const void *, const void *,
                             cublasLtMatrixLayout_t, void *, cublasLtMatrixLayout_t, const cublasLtMatmulAlgo_t *,
                             void *, size_t, cudaStream_t);
} blaslt_fns;

/* Everything that decides the algorithm. Built with memset so padding bytes
 * compare equal. */
typedef struct blaslt_key {
    int64_t m, n, k, batch, stride_x, stride_w, stride_y;
    int32_t dtype, activation;
    uint8_t has_bias, w_transposed, tf32, used;
    uint16_t align_x, align_w, align_y, align_bias;
} blaslt_key;

/* A problem ready to run: descriptors with everything but the pointers set,
 * and the algorithm chosen for them. */
typedef struct blaslt_plan {
    blaslt_key key;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, d;
    cublasLtMatmulAlgo_t algo;
} blaslt_plan;

/* The algorithm timing chose for a size class (key.m is the class's M). */
typedef struct blaslt_tuned {
    blaslt_key key;
    cublasLtMatmulAlgo_t algo;
} blaslt_tuned;

struct rg_rt_blaslt {
    const rg_allocator *alloc;
    rg_rt_cuda *cuda;
    void *library;
    blaslt_fns fn;
    cublasLtHandle_t handle;
    void *workspace;
    size_t workspace_bytes;
    size_t version;
    blaslt_plan *slots; /* open addressing, linear probing; slot_count a power of two */
    size_t slot_count, capacity, entries;
    uint64_t hits, misses, uncached;
    bool autotune;
    blaslt_tuned *tuned; /* slot_count slots, like `slots` */
    size_t tuned_entries;
    uint64_t ntuned, tune_reused, tune_won;
    double tune_ms;
    int sm_count;
};

/* "what [shape]: CUBLAS_STATUS_X (cuBLASLt's sentence)" as RG_ERR_DEVICE. */
static rg_status lt_fail(const rg_rt_blaslt *b, cublasStatus_t s, rg_error *err, const char *fmt, ...)
    RG_PRINTF(4, 5);
static rg_status lt_fail(const rg_rt_blaslt *b, cublasStatus_t s, rg_error *err, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *name = b->fn.GetStatusName ? b->fn.GetStatusName(s) : NULL;
    const char *text = b->fn.GetStatusString ? b->fn.GetStatusString(s) : NULL;
    return rg_error_set(err, RG_ERR_DEVICE, "%s: %s (%s)", what, name ? name : "unknown cuBLAS status",
                        text ? text : "?");
}

static rg_status resolve_all(rg_rt_blaslt *b, rg_error *err) {
    blaslt_fns *f = &b->fn;
    const struct {
        const char *symbol;
        void **slot;
    } table[] = {
        {"cublasLtCreate", (void **)&f->Create},
        {"cublasLtDestroy", (void **)&f->Destroy},
        {"cublasLtGetVersion", (void **)&f->GetVersion},
        {"cublasLtGetStatusName", (void **)&f->GetStatusName},
        {"cublasLtGetStatusString", (void **)&f->GetStatusString},
        {"cublasLtMatmulDescCreate", (void **)&f->MatmulDescCreate},
        {"cublasLtMatmulDescDestroy", (void **)&f->MatmulDescDestroy},
        {"cublasLtMatmulDescSetAttribute", (void **)&f->MatmulDescSetAttribute},
        {"cublasLtMatrixLayoutCreate", (void **)&f->MatrixLayoutCreate},
        {"cublasLtMatrixLayoutDestroy", (void **)&f->MatrixLayoutDestroy},
        {"cublasLtMatrixLayoutSetAttribute", (void **)&f->MatrixLayoutSetAttribute},
        {"cublasLtMatmulPreferenceCreate", (void **)&f->MatmulPreferenceCreate},
        {"cublasLtMatmulPreferenceDestroy", (void **)&f->MatmulPreferenceDestroy},
        {"cublasLtMatmulPreferenceSetAttribute", (void **)&f->MatmulPreferenceSetAttribute},
        {"cublasLtMatmulAlgoGetHeuristic", (void **)&f->MatmulAlgoGetHeuristic},
        {"cublasLtMatmulAlgoCheck", (void **)&f->MatmulAlgoCheck},
        {"cublasLtMatmulAlgoConfigSetAttribute", (void **)&f->MatmulAlgoConfigSetAttribute},
        {"cublasLtMatmul", (void **)&f->Matmul},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        *table[i].slot = dlsym(b->library, table[i].symbol);
        if (!*table[i].slot)
            return rg_error_set(err, RG_ERR_DEVICE, "cuBLASLt library lacks %s", table[i].symbol);
    }
    return RG_OK;
}

static void release(rg_rt_blaslt *b) {
    if (b->slots) {
        for (size_t i = 0; i < b->slot_count; i++) {
            blaslt_plan *p = &b->slots[i];
            if (!p->key.used) continue;
            b->fn.MatrixLayoutDestroy(p->a);
            b->fn.MatrixLayoutDestroy(p->b);
            b->fn.MatrixLayoutDestroy(p->d);
            b->fn.MatmulDescDestroy(p->op);
        }
        rg_mem_free(b->alloc, b->slots, b->slot_count * sizeof *b->slots);
    }
    if (b->tuned) rg_mem_free(b->alloc, b->tuned, b->slot_count * sizeof *b->tuned);
    rg_rt_cuda_free(b->cuda, b->workspace);
    if (b->handle) b->fn.Destroy(b->handle);
    if (b->library) dlclose(b->library);
    rg_mem_free(b->alloc, b, sizeof *b);
}

rg_status rg_rt_blaslt_open_with(rg_rt_cuda *cuda, const rg_allocator *alloc, const rg_rt_blaslt_options *options,
                                 rg_rt_blaslt **out, rg_error *err) {
    if (!alloc) alloc = rg_allocator_default();
    size_t workspace = options && options->workspace_bytes ? options->workspace_bytes : DEFAULT_WORKSPACE;
    size_t capacity = options && options->cache_capacity ? options->cache_capacity : DEFAULT_CACHE_CAPACITY;
    if (capacity > MAX_CACHE_CAPACITY)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "cuBLASLt cache capacity %zu exceeds %zu", capacity,
                            MAX_CACHE_CAPACITY);
    char why[256];
    void *lib = rg_rt_cuda_dlopen("libcublasLt.so.13", "libcublasLt.so", why, sizeof why);
    if (!lib) return rg_error_set(err, RG_ERR_DEVICE, "cuBLASLt not found: %s", why);
    rg_rt_blaslt *b = rg_mem_calloc(alloc, 1, sizeof *b);
    if (!b) {
        dlclose(lib);
        return rg_error_set(err, RG_ERR_NOMEM, "out of memory opening cuBLASLt");
    }
    b->alloc = alloc;
    b->cuda = cuda;
    b->library = lib;
    b->capacity = capacity;
    b->slot_count = 2;
    while (b->slot_count < 2 * capacity) b->slot_count *= 2; /* load factor <= 1/2 */
    rg_status st = resolve_all(b, err);
    if (st != RG_OK) goto fail;
    b->version = b->fn.GetVersion();
    if (b->version / 10000 != CUBLAS_VER_MAJOR) {
        st = rg_error_set(err, RG_ERR_DEVICE, "cuBLASLt is version %zu but ragged was built for cuBLAS %d.x",
                          b->version, CUBLAS_VER_MAJOR);
        goto fail;
    }
    b->slots = rg_mem_calloc(alloc, b->slot_count, sizeof *b->slots);
    b->autotune = !(options && options->no_autotune);
    if (b->slots && b->autotune) b->tuned = rg_mem_calloc(alloc, b->slot_count, sizeof *b->tuned);
    if (!b->slots || (b->autotune && !b->tuned)) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory for the cuBLASLt algorithm cache (%zu slots)",
                          b->slot_count);
        goto fail;
    }
    cublasStatus_t s = b->fn.Create(&b->handle);
    if (s != CUBLAS_STATUS_SUCCESS) {
        b->handle = NULL;
        st = lt_fail(b, s, err, "cublasLtCreate");
        goto fail;
    }
    st = rg_rt_cuda_malloc(cuda, workspace, &b->workspace, err);
    if (st != RG_OK) {
        rg_error_prefix(err, st, "cuBLASLt workspace");
        goto fail;
    }
    b->workspace_bytes = workspace;
    int device = 0;
    rg_rt_cuda_device_info info;
    rg_error ignored = {0};
    /* for deciding when split-K is worth trying; a guess suffices */
    b->sm_count = rg_rt_cuda_device_info_get(cuda, device, &info, &ignored) == RG_OK ? info.multiprocessors : 132;
    *out = b;
    return RG_OK;
fail:
    release(b);
    return st;
}

rg_status rg_rt_blaslt_open(rg_rt_cuda *cuda, const rg_allocator *alloc, rg_rt_blaslt **out, rg_error *err) {
    return rg_rt_blaslt_open_with(cuda, alloc, NULL, out, err);
}

void rg_rt_blaslt_close(rg_rt_blaslt *blaslt) {
    if (blaslt) release(blaslt);
}

void rg_rt_blaslt_cache_stats_get(const rg_rt_blaslt *blaslt, rg_rt_blaslt_cache_stats *stats) {
    rg_rt_blaslt_cache_stats s = {blaslt->hits,    blaslt->misses,      blaslt->uncached,
                                  blaslt->entries, blaslt->capacity,    blaslt->ntuned,
                                  blaslt->tune_reused, blaslt->tune_won, blaslt->tune_ms};
    *stats = s;
}

size_t rg_rt_blaslt_version(const rg_rt_blaslt *blaslt) { return blaslt->version; }

/* The largest power of two up to 256 dividing the address (and, for a
 * batch, every matrix's address). cuBLASLt's heuristic assumes 256-byte
 * aligned pointers unless told otherwise, and picks vectorised kernels that
 * would fault on less. */
static uint16_t alignment_of(const void *p, int64_t stride, size_t elem, int64_t batch) {
    uint64_t v = (uint64_t)(uintptr_t)p;
    if (batch > 1) v |= (uint64_t)stride * elem;
    uint16_t a = 1;
    while (a < 256 && (v & (uint64_t)(2 * a - 1)) == 0) a = (uint16_t)(2 * a);
    return a;
}

static void make_key(const rg_rt_blaslt_linear_desc *d, blaslt_key *key) {
    memset(key, 0, sizeof *key);
    size_t elem = rg_dtype_size(d->dtype);
    int64_t batch = d->batch > 1 ? d->batch : 1;
    key->m = d->m, key->n = d->n, key->k = d->k, key->batch = batch;
    if (batch > 1) key->stride_x = d->stride_x, key->stride_w = d->stride_w, key->stride_y = d->stride_y;
    key->dtype = (int32_t)d->dtype;
    key->activation = (int32_t)d->activation;
    key->has_bias = d->bias != NULL;
    key->w_transposed = d->w_transposed;
    key->tf32 = d->dtype == RG_DTYPE_F32 && d->allow_tf32;
    key->used = 1;
    key->align_x = alignment_of(d->x, d->stride_x, elem, batch);
    key->align_w = alignment_of(d->w, d->stride_w, elem, batch);
    key->align_y = alignment_of(d->y, d->stride_y, elem, batch);
    key->align_bias = d->bias ? alignment_of(d->bias, 0, elem, 1) : 0;
}

static size_t key_hash(const blaslt_key *key) {
    const unsigned char *p = (const unsigned char *)key;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < sizeof *key; i++) h = (h ^ p[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

/* Linear probing over either table (slot_count entries of `stride` bytes,
 * each starting with its key): the slot holding `key`, or the empty slot
 * where it would go. */
static void *probe(void *slots, size_t stride, size_t slot_count, const blaslt_key *key) {
    size_t mask = slot_count - 1;
    for (size_t i = key_hash(key) & mask;; i = (i + 1) & mask) {
        blaslt_key *k = (blaslt_key *)((char *)slots + i * stride);
        if (!k->used || memcmp(k, key, sizeof *key) == 0) return k;
    }
}

_Static_assert(offsetof(blaslt_plan, key) == 0, "probe reads the key at the start of an entry");

static blaslt_plan *cache_slot(rg_rt_blaslt *b, const blaslt_key *key) {
    return probe(b->slots, sizeof *b->slots, b->slot_count, key);
}

static cudaDataType_t cuda_type(rg_dtype dtype) {
    return dtype == RG_DTYPE_F16 ? CUDA_R_16F : dtype == RG_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

static cublasLtEpilogue_t epilogue_of(const blaslt_key *key) {
    switch ((rg_rt_blaslt_activation)key->activation) {
    case RG_RT_BLASLT_ACT_RELU: return key->has_bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    case RG_RT_BLASLT_ACT_GELU_TANH: return key->has_bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    default: return key->has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    }
}

static void plan_destroy(rg_rt_blaslt *b, blaslt_plan *p) {
    if (p->a) b->fn.MatrixLayoutDestroy(p->a);
    if (p->b) b->fn.MatrixLayoutDestroy(p->b);
    if (p->d) b->fn.MatrixLayoutDestroy(p->d);
    if (p->op) b->fn.MatmulDescDestroy(p->op);
    p->a = p->b = p->d = NULL;
    p->op = NULL;
}

#define LT_TRY(call, what)                                                                 \
    do {                                                                                   \
        cublasStatus_t rg_lt_s_ = (call);                                                  \
        if (rg_lt_s_ != CUBLAS_STATUS_SUCCESS) {                                           \
            st = lt_fail(b, rg_lt_s_, err, "%s [%s]", what, shape);                        \
            goto fail;                                                                     \
        }                                                                                  \
    } while (0)

/* One column-major layout rows x cols (ld = rows), batched when key says so. */
static cublasStatus_t layout_new(rg_rt_blaslt *b, cublasLtMatrixLayout_t *out, cudaDataType_t type, int64_t rows,
                                 int64_t cols, int32_t batch, int64_t stride) {
    cublasStatus_t s = b->fn.MatrixLayoutCreate(out, type, (uint64_t)rows, (uint64_t)cols, rows);
    if (s != CUBLAS_STATUS_SUCCESS) {
        *out = NULL;
        return s;
    }
    if (batch <= 1) return CUBLAS_STATUS_SUCCESS;
    s = b->fn.MatrixLayoutSetAttribute(*out, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = b->fn.MatrixLayoutSetAttribute(*out, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride);
    return s;
}

/* Builds the descriptors of `key` into `p` and asks the heuristic for the
 * fastest algorithm that fits the workspace and the alignments. Row-major
 * Y = X op(W) is computed as column-major Y^T = op(W)^T X^T (see the header):
 *   A = W^T: W [K, N] row-major is column-major N x K (ld N), no transpose;
 *            W [N, K] row-major is column-major K x N (ld K), transposed;
 *   B = X^T: column-major K x M (ld K); D = Y^T: column-major N x M (ld N). */
/* ---- autotuning ---- */

/* The size class of a problem: M rounded up to a power of two. */
static int64_t size_class(int64_t m) {
    int64_t c = 1;
    while (c < m && c < ((int64_t)1 << 40)) c *= 2;
    return c;
}

_Static_assert(offsetof(blaslt_tuned, key) == 0, "probe reads the key at the start of an entry");

static blaslt_tuned *tuned_slot(rg_rt_blaslt *b, const blaslt_key *key) {
    return probe(b->tuned, sizeof *b->tuned, b->slot_count, key);
}

/* Whether cuBLASLt accepts `algo` for p's descriptors within the workspace. */
static bool algo_fits(rg_rt_blaslt *b, const blaslt_plan *p, const cublasLtMatmulAlgo_t *algo) {
    cublasLtMatmulHeuristicResult_t r;
    memset(&r, 0, sizeof r);
    return b->fn.MatmulAlgoCheck(b->handle, p->op, p->a, p->b, p->d, p->d, algo, &r) == CUBLAS_STATUS_SUCCESS &&
           r.workspaceSize <= b->workspace_bytes;
}

static bool ranges_overlap(const void *p, size_t np, const void *q, size_t nq) {
    uintptr_t a = (uintptr_t)p, c = (uintptr_t)q;
    return a < c + nq && c < a + np;
}

/* Bytes one operand spans over the whole batch. */
static size_t span_bytes(int64_t rows_cols, int64_t batch, int64_t stride, size_t elem) {
    size_t n = (size_t)rows_cols;
    if (batch > 1) n += (size_t)(batch - 1) * (size_t)stride;
    return n * elem;
}

/* One run of a candidate algorithm, as rg_rt_cuda_time_calls issues it. */
typedef struct algo_run {
    rg_rt_blaslt *b;
    const blaslt_plan *p;
    const rg_rt_blaslt_linear_desc *d;
    const cublasLtMatmulAlgo_t *algo;
    bool refused; /* cuBLASLt would not launch it */
} algo_run;

static rg_status run_algo(void *ctx, rg_rt_cuda_stream stream, rg_error *err) {
    algo_run *r = ctx;
    const float one = 1.0f, zero = 0.0f;
    const rg_rt_blaslt_linear_desc *d = r->d;
    if (r->b->fn.Matmul(r->b->handle, r->p->op, &one, d->w, r->p->a, d->x, r->p->b, &zero, d->y, r->p->d, d->y,
                        r->p->d, r->algo, r->b->workspace, r->b->workspace_bytes,
                        (cudaStream_t)stream) == CUBLAS_STATUS_SUCCESS)
        return RG_OK;
    r->refused = true;
    return rg_error_set(err, RG_ERR_UNSUPPORTED, "cublasLtMatmul refused a candidate algorithm");
}

/* Mean ms of one run of `algo` over `reps` (timed from a CUDA graph of the
 * runs: rg_rt_cuda_time_calls), or a negative number when cuBLASLt refused
 * to launch it. */
static rg_status time_algo(rg_rt_blaslt *b, const blaslt_plan *p, const rg_rt_blaslt_linear_desc *d,
                           const cublasLtMatmulAlgo_t *algo, int reps, rg_rt_cuda_stream stream,
                           rg_rt_cuda_event ev[2], float *ms, rg_error *err) {
    algo_run run = {b, p, d, algo, false};
    rg_status st = rg_rt_cuda_time_calls(b->cuda, stream, run_algo, &run, reps, ev, ms, err);
    if (run.refused) {
        *ms = -1;
        return RG_OK;
    }
    return st;
}

/* The candidates: the heuristic's results, then split-K variants of its
 * best few when the output has fewer tiles than twice the SMs (a 128 x 128
 * tile is the common case) and K is long enough to split. */
static int candidates_of(rg_rt_blaslt *b, const blaslt_plan *p, const cublasLtMatmulHeuristicResult_t *results,
                         int found, cublasLtMatmulAlgo_t *out) {
    int n = 0;
    for (int i = 0; i < found && n < TUNE_MAX_CANDIDATES; i++) out[n++] = results[i].algo;
    const blaslt_key *key = &p->key;
    double tiles = (double)((key->m + 127) / 128) * (double)((key->n + 127) / 128) * (double)key->batch;
    if (tiles >= 2.0 * b->sm_count) return n;
    static const int32_t splits[] = {2, 3, 4, 6, 8, 12, 16, 24, 32};
    for (int i = 0; i < found && i < TUNE_SPLIT_BASES; i++)
        for (size_t s = 0; s < sizeof splits / sizeof splits[0] && n < TUNE_MAX_CANDIDATES; s++) {
            if (key->k / splits[s] < 64) break;
            cublasLtMatmulAlgo_t algo = results[i].algo;
            int32_t split = splits[s];
            uint32_t scheme = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE; /* partial sums in fp32 */
            if (b->fn.MatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &split, sizeof split) !=
                    CUBLAS_STATUS_SUCCESS ||
                b->fn.MatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme,
                                                   sizeof scheme) != CUBLAS_STATUS_SUCCESS ||
                !algo_fits(b, p, &algo))
                continue;
            out[n++] = algo;
        }
    return n;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Picks p->algo (already the heuristic's first choice) by size class or by
 * timing; see the header. Falls back to the first choice whenever timing is
 * not possible here. */
static rg_status choose_algo(rg_rt_blaslt *b, blaslt_plan *p, const rg_rt_blaslt_linear_desc *d,
                             const cublasLtMatmulHeuristicResult_t *results, int found, rg_rt_cuda_stream stream,
                             const char *shape, rg_error *err) {
    blaslt_key class_key = p->key;
    class_key.m = size_class(p->key.m);
    blaslt_tuned *t = tuned_slot(b, &class_key);
    if (t->key.used) {
        if (algo_fits(b, p, &t->algo)) {
            p->algo = t->algo;
            b->tune_reused++;
        }
        return RG_OK;
    }
    if (b->tuned_entries >= b->capacity) return RG_OK; /* nowhere to remember it: do not time every call */
    bool capturing = true;
    RG_TRY(rg_rt_cuda_stream_capturing(b->cuda, stream, &capturing, err));
    if (capturing) return RG_OK;
    size_t elem = rg_dtype_size((rg_dtype)p->key.dtype);
    size_t ybytes = span_bytes(d->m * d->n, p->key.batch, d->stride_y, elem);
    if (ranges_overlap(d->y, ybytes, d->x, span_bytes(d->m * d->k, p->key.batch, d->stride_x, elem)) ||
        ranges_overlap(d->y, ybytes, d->w, span_bytes(d->k * d->n, p->key.batch, d->stride_w, elem)) ||
        (d->bias && ranges_overlap(d->y, ybytes, d->bias, (size_t)d->n * elem)))
        return RG_OK; /* running it repeatedly would change its own operands */
    cublasLtMatmulAlgo_t cand[TUNE_MAX_CANDIDATES];
    int n = candidates_of(b, p, results, found, cand);
    if (n <= 1) return RG_OK;

    double start = now_ms();
    rg_rt_cuda_event ev[2] = {NULL, NULL};
    rg_status st = rg_rt_cuda_event_new(b->cuda, &ev[0], err);
    if (st == RG_OK) st = rg_rt_cuda_event_new(b->cuda, &ev[1], err);
    float first = -1, best = -1;
    int best_i = 0;
    /* the first choice, once, decides how many runs a candidate gets */
    if (st == RG_OK) st = time_algo(b, p, d, &cand[0], 1, stream, ev, &first, err);
    int reps = first > 0 ? (int)(TUNE_TARGET_MS / first) : 3;
    if (reps < 3) reps = 3;
    if (reps > TUNE_MAX_REPS) reps = TUNE_MAX_REPS;
    for (int i = 0; st == RG_OK && i < n; i++) {
        float ms;
        st = time_algo(b, p, d, &cand[i], reps, stream, ev, &ms, err);
        if (st == RG_OK && ms > 0 && (best < 0 || ms < best)) best = ms, best_i = i;
        if (i == 0) first = ms;
    }
    if (ev[0]) rg_rt_cuda_event_free(b->cuda, ev[0]);
    if (ev[1]) rg_rt_cuda_event_free(b->cuda, ev[1]);
    b->tune_ms += now_ms() - start;
    if (st != RG_OK) return rg_error_prefix(err, st, "timing GEMM algorithms [%s]", shape);
    if (best < 0) return RG_OK;
    /* a clear win only: timing noise should not swap the first choice */
    bool won = best_i != 0 && first > 0 && best < 0.97f * first;
    p->algo = won ? cand[best_i] : cand[0];
    b->ntuned++;
    b->tune_won += won;
    t->key = class_key; /* there is room: checked above */
    t->algo = p->algo;
    b->tuned_entries++;
    return RG_OK;
}

static rg_status plan_build(rg_rt_blaslt *b, const blaslt_key *key, const rg_rt_blaslt_linear_desc *d,
                            rg_rt_cuda_stream stream, const char *shape, blaslt_plan *p, rg_error *err) {
    const void *bias = d->bias;
    rg_status st = RG_OK;
    cublasLtMatmulPreference_t pref = NULL;
    memset(p, 0, sizeof *p);
    p->key = *key;
    cudaDataType_t type = cuda_type((rg_dtype)key->dtype);
    cublasComputeType_t compute = key->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    int32_t batch = (int32_t)key->batch;

    LT_TRY(b->fn.MatmulDescCreate(&p->op, compute, CUDA_R_32F), "cublasLtMatmulDescCreate");
    cublasOperation_t op_a = key->w_transposed ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = CUBLAS_OP_N;
    LT_TRY(b->fn.MatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a),
           "cublasLtMatmulDescSetAttribute(TRANSA)");
    LT_TRY(b->fn.MatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b),
           "cublasLtMatmulDescSetAttribute(TRANSB)");
    cublasLtEpilogue_t epilogue = epilogue_of(key);
    LT_TRY(b->fn.MatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue),
           "cublasLtMatmulDescSetAttribute(EPILOGUE)");
    if (key->has_bias) {
        int32_t bias_type = (int32_t)type;
        LT_TRY(b->fn.MatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type),
               "cublasLtMatmulDescSetAttribute(BIAS_DATA_TYPE)");
        LT_TRY(b->fn.MatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias),
               "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
    }
    if (key->w_transposed)
        LT_TRY(layout_new(b, &p->a, type, key->k, key->n, batch, key->stride_w), "cublasLtMatrixLayoutCreate(W)");
    else
        LT_TRY(layout_new(b, &p->a, type, key->n, key->k, batch, key->stride_w), "cublasLtMatrixLayoutCreate(W)");
    LT_TRY(layout_new(b, &p->b, type, key->k, key->m, batch, key->stride_x), "cublasLtMatrixLayoutCreate(X)");
    LT_TRY(layout_new(b, &p->d, type, key->n, key->m, batch, key->stride_y), "cublasLtMatrixLayoutCreate(Y)");

    LT_TRY(b->fn.MatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
    uint64_t workspace = b->workspace_bytes;
    LT_TRY(b->fn.MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                              sizeof workspace),
           "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
    uint32_t align_a = key->align_w, align_b = key->align_x, align_d = key->align_y;
    LT_TRY(b->fn.MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                              sizeof align_a),
           "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_A_BYTES)");
    LT_TRY(b->fn.MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                              sizeof align_b),
           "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_B_BYTES)");
    LT_TRY(b->fn.MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d,
                                              sizeof align_d),
           "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_C_BYTES)");
    LT_TRY(b->fn.MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d,
                                              sizeof align_d),
           "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_D_BYTES)");

    cublasLtMatmulHeuristicResult_t results[TUNE_HEURISTIC];
    memset(results, 0, sizeof results);
    int found = 0;
    /* C is D (beta = 0), so D's layout serves as C's. */
    LT_TRY(b->fn.MatmulAlgoGetHeuristic(b->handle, p->op, p->a, p->b, p->d, p->d, pref,
                                        b->autotune ? TUNE_HEURISTIC : 1, results, &found),
           "cublasLtMatmulAlgoGetHeuristic");
    if (found < 1 || results[0].state != CUBLAS_STATUS_SUCCESS) {
        st = lt_fail(b, found < 1 ? CUBLAS_STATUS_NOT_SUPPORTED : results[0].state, err,
                     "cublasLtMatmulAlgoGetHeuristic [%s]: no algorithm (alignments X %u, W %u, Y %u bytes, "
                     "workspace %zu)",
                     shape, key->align_x, key->align_w, key->align_y, b->workspace_bytes);
        goto fail;
    }
    p->algo = results[0].algo;
    b->fn.MatmulPreferenceDestroy(pref);
    pref = NULL;
    if (b->autotune) {
        int usable = 0;
        for (int i = 0; i < found && results[i].state == CUBLAS_STATUS_SUCCESS; i++) usable++;
        if ((st = choose_algo(b, p, d, results, usable, stream, shape, err)) != RG_OK) goto fail;
    }
    return RG_OK;
fail:
    if (pref) b->fn.MatmulPreferenceDestroy(pref);
    plan_destroy(b, p);
    memset(p, 0, sizeof *p); /* the slot stays empty */
    return st;
}

rg_status rg_rt_blaslt_linear(rg_rt_blaslt *b, const rg_rt_blaslt_linear_desc *d, rg_rt_cuda_stream stream,
                              rg_error *err) {
    RG_TRY(rg_rt_blaslt_linear_check(d, err));
    char shape[160];
    shape_text(d, shape, sizeof shape);
    blaslt_key key;
    make_key(d, &key);
    blaslt_plan *slot = cache_slot(b, &key), temporary;
    blaslt_plan *p = slot;
    bool owned = false;
    rg_status st = RG_OK;
    if (slot->key.used) {
        b->hits++;
        if (key.has_bias)
            LT_TRY(b->fn.MatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &d->bias, sizeof d->bias),
                   "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
    } else {
        b->misses++;
        bool full = b->entries >= b->capacity;
        p = full ? &temporary : slot;
        RG_TRY(plan_build(b, &key, d, stream, shape, p, err));
        if (full) {
            b->uncached++;
            owned = true;
        } else {
            b->entries++;
        }
    }
    const float one = 1.0f, zero = 0.0f;
    LT_TRY(b->fn.Matmul(b->handle, p->op, &one, d->w, p->a, d->x, p->b, &zero, d->y, p->d, d->y, p->d, &p->algo,
                        b->workspace, b->workspace_bytes, (cudaStream_t)stream),
           "cublasLtMatmul");
fail:
    if (owned) plan_destroy(b, p);
    return st;
}

#endif
