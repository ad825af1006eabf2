/*
 * cuda_plan.c — collecting and compiling a graph's CUDA kernels into the
 * modules of a plan's KERNELS section (see cuda_plan.h).
 */
#include "cuda_plan.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codegen/cuda_fused.h"
#include "codegen/emit.h"
#include "codegen/kernels.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool rg_cg_cuda_target_known(const char *t) {
    return t && (!strcmp(t, "sm_80") || !strcmp(t, "sm_86") || !strcmp(t, "sm_89") || !strcmp(t, "sm_90") ||
                 !strcmp(t, "sm_90a"));
}

bool rg_cg_attention_fast_ok(const rg_node *node) {
    rg_kabi_attention_variant v;
    rg_error ignored = {0};
    const char *mask_kind;
    if (rg_kabi_attention_variant_of(node, &v, &ignored) != RG_OK) return false;
    if (node->ninputs > 2 && node->inputs[2]) return false;
    if (rg_node_attr_string(node, "mask_kind", "none", &mask_kind, &ignored) != RG_OK) return false;
    return !strcmp(mask_kind, "none") || !strcmp(mask_kind, "key_padding");
}

void rg_cg_cuda_kernels_free(rg_cg_cuda_kernels *k) {
    if (!k) return;
    for (size_t i = 0; i < k->nkernels; i++) rg_mem_free(k->alloc, (void *)k->kernels[i].cubin, k->kernels[i].cubin_size);
    rg_mem_free(k->alloc, k->kernels, k->cap * sizeof *k->kernels);
    rg_arena_deinit(&k->arena);
    rg_mem_free(k->alloc, k, sizeof *k);
}

static rg_status nomem(rg_error *err) { return rg_error_set(err, RG_ERR_NOMEM, "out of memory compiling kernels"); }

/* A new module, or NULL when out of memory. */
static rg_ir_kernel *add_module(rg_cg_cuda_kernels *k, const char *name, const char *kind, const char *arch,
                                const char *source, uint32_t max_nodes) {
    if (k->nkernels == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 16;
        rg_ir_kernel *p = rg_mem_realloc(k->alloc, k->kernels, k->cap * sizeof *p, cap * sizeof *p);
        if (!p) return NULL;
        k->kernels = p;
        k->cap = cap;
    }
    rg_ir_kernel *m = &k->kernels[k->nkernels];
    memset(m, 0, sizeof *m);
    m->name = rg_arena_strdup(&k->arena, name);
    m->kind = rg_arena_strdup(&k->arena, kind);
    m->arch = rg_arena_strdup(&k->arena, arch);
    m->source = rg_arena_strdup(&k->arena, source);
    m->source_size = strlen(source);
    m->nodes = rg_arena_array(&k->arena, max_nodes ? max_nodes : 1, sizeof(uint32_t));
    if (!m->name || !m->kind || !m->arch || !m->source || !m->nodes) return NULL;
    k->nkernels++;
    return m;
}

/* The module called `name`, added (kind, arch, source) when there is none
 * yet; NULL when out of memory. */
static rg_ir_kernel *named_module(rg_cg_cuda_kernels *k, const char *name, const char *kind, const char *arch,
                                  const char *source, uint32_t max_nodes) {
    for (size_t i = 0; i < k->nkernels; i++)
        if (!strcmp(k->kernels[i].name, name)) return &k->kernels[i];
    return add_module(k, name, kind, arch, source, max_nodes);
}

static void add_node(rg_ir_kernel *m, uint32_t index) { ((uint32_t *)m->nodes)[m->nnodes++] = index; }

static rg_status compile_module(rg_cg_nvrtc *nvrtc, rg_ir_kernel *m, const rg_graph *g, const char *const *defines,
                                size_t ndefines, rg_error *err) {
    void *cubin = NULL;
    size_t size = 0;
    rg_cg_nvrtc_options options = {.include_dir = NULL, .extra = defines, .extra_count = ndefines};
    rg_status st = rg_cg_nvrtc_compile(nvrtc, m->source, m->name, m->arch, &options, &cubin, &size, err);
    if (st != RG_OK) {
        if (m->nnodes) {
            char label[160];
            rg_error_prefix(err, st, "node %s%s", rg_node_label(g->nodes[m->nodes[0]], label, sizeof label),
                            m->nnodes > 1 ? " and others like it" : "");
        }
        return st;
    }
    m->cubin = cubin;
    m->cubin_size = size;
    return RG_OK;
}

/* The emitted source without its first line, which names the node: nodes
 * whose kernels differ only there share one module. */
static const char *after_first_line(const char *text) {
    const char *nl = strchr(text, '\n');
    return nl ? nl + 1 : text;
}

static rg_status add_fused(rg_cg_cuda_kernels *k, const rg_graph *g, uint32_t index, const char *arch,
                           rg_error *err) {
    const rg_node *node = g->nodes[index];
    rg_cg_emit emit;
    rg_cg_emit_init(&emit, k->alloc);
    rg_kabi_fused_kernel info;
    rg_status st = rg_cg_fused_emit(node, RG_KABI_FUSED_NAME, RG_DTYPE_UNDEFINED, 0, &emit, &info, err);
    if (st == RG_OK) st = rg_cg_emit_status(&emit, err);
    if (st == RG_ERR_UNSUPPORTED && node->op == RG_OP_FUSED) {
        /* no kernel (e.g. a row length known only at run time, as in MPNet's
         * position-bucket arithmetic): the executor runs it on the host when
         * its inputs are there, and otherwise refuses the plan naming it */
        rg_cg_emit_deinit(&emit);
        if (err) err->message[0] = '\0';
        return RG_OK;
    }
    if (st != RG_OK) {
        char label[160];
        rg_error_prefix(err, st, "node %s", rg_node_label(node, label, sizeof label));
        rg_cg_emit_deinit(&emit);
        return st;
    }
    const char *text = rg_cg_emit_text(&emit);
    /* same source as an earlier module: share it */
    for (size_t i = 0; i < k->nkernels; i++) {
        rg_ir_kernel *m = &k->kernels[i];
        if (!strcmp(m->kind, "fused") && !strcmp(after_first_line(m->source), after_first_line(text))) {
            add_node(m, index);
            rg_cg_emit_deinit(&emit);
            return RG_OK;
        }
    }
    char name[64];
    snprintf(name, sizeof name, "rg_fused_module_%zu", k->nkernels);
    rg_ir_kernel *m = add_module(k, name, "fused", arch, text, g->nnodes);
    rg_cg_emit_deinit(&emit);
    if (!m) return nomem(err);
    add_node(m, index);
    return RG_OK;
}

static rg_status add_attention(rg_cg_cuda_kernels *k, const rg_graph *g, uint32_t index, const char *arch,
                               rg_error *err) {
    const rg_node *node = g->nodes[index];
    if (!rg_cg_attention_fast_ok(node)) return RG_OK; /* the general module serves it */
    rg_kabi_attention_variant v;
    rg_status st = rg_cg_attention_variant(node, arch, &v, err);
    if (st != RG_OK) {
        char label[160];
        return rg_error_prefix(err, st, "node %s", rg_node_label(node, label, sizeof label));
    }
    char name[64];
    rg_kabi_attention_kernel_name(&v, name, sizeof name);
    rg_ir_kernel *m = named_module(k, name, "attention", rg_kabi_attention_arch(&v, arch),
                                   rg_cg_kernel_template("attention.cu"), g->nnodes);
    if (!m) return nomem(err);
    add_node(m, index);
    return RG_OK;
}

/* The general attention module, listing every Attention node (after the
 * fast modules, so a node's first module is the fast one when it has one). */
static rg_status add_attention_general(rg_cg_cuda_kernels *k, const rg_graph *g, const char *arch, rg_error *err) {
    rg_ir_kernel *m = NULL;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        if (g->nodes[i]->op != RG_OP_ATTENTION) continue;
        if (!m) {
            const char *text = rg_cg_kernel_template("attention_general.cu");
            RG_ASSERT(text != NULL);
            m = add_module(k, RG_KABI_ATTENTION_GENERAL_MODULE, "attention_general", arch, text, g->nnodes);
            if (!m) return nomem(err);
        }
        add_node(m, i);
    }
    return RG_OK;
}

/* Whether ragged's own kernels (the Hopper GEMM, the persistent kernel) can
 * run a Linear: one with no activation or the erf GELU (cuBLASLt has no such
 * epilogue), in fp16 or bf16, with a constant [K, N] weight. */
static bool linear_ours(const rg_node *node) {
    if (node->op != RG_OP_LINEAR) return false;
    if (!rg_kabi_gemm_dtype_ok(node->outputs[0]->dtype) || node->inputs[0]->dtype != node->outputs[0]->dtype)
        return false;
    if (!node->inputs[1]->constant || node->inputs[1]->rank != 2) return false;
    const char *act;
    rg_error ignored = {0};
    return rg_node_attr_string(node, "activation", "none", &act, &ignored) == RG_OK &&
           (!strcmp(act, "gelu") || !strcmp(act, "none"));
}

/* Whether a Linear may run on the Hopper GEMM for `target` (linear_ours on
 * sm_90). The executor times it against cuBLASLt per shape; shapes it
 * cannot take run on cuBLASLt. */
static bool gemm_wanted(const rg_node *node, const char *target) {
    return rg_kabi_wgmma_target_ok(target) && linear_ours(node);
}

/* The GEMM module of the node's dtype, listing the Linears it serves. */
static rg_status add_gemm(rg_cg_cuda_kernels *k, const rg_graph *g, uint32_t index, rg_error *err) {
    char name[32];
    rg_kabi_gemm_module_name(g->nodes[index]->outputs[0]->dtype, name, sizeof name);
    rg_ir_kernel *m = named_module(k, name, "gemm", rg_kabi_gemm_arch(), rg_cg_kernel_template("gemm.cu"), g->nnodes);
    if (!m) return nomem(err);
    add_node(m, index);
    return RG_OK;
}

/* Whether the persistent kernel (codegen/kernels/persistent.cu) can run the
 * node as a step: a LayerNorm, a Linear (linear_ours), or an Attention the
 * fused kernel takes with head size 32, 64 or 128, all in fp16 or bf16. The
 * executor checks the rest (row lengths, alignment, how many rows) per
 * shape. */
static bool persistent_wanted(const rg_node *node) {
    if (!node->noutputs || !node->outputs[0] || !rg_kabi_gemm_dtype_ok(node->outputs[0]->dtype)) return false;
    if (node->op == RG_OP_LAYER_NORM) return node->noutputs == 1 && node->inputs[0]->dtype == node->outputs[0]->dtype;
    if (node->op == RG_OP_ATTENTION) {
        int64_t d = 0;
        rg_error ignored = {0};
        return rg_cg_attention_fast_ok(node) && rg_node_attr_int(node, "head_size", 0, &d, &ignored) == RG_OK &&
               rg_cg_persistent_head_bit(d) != 0;
    }
    return linear_ours(node);
}

/* The persistent module of each dtype, listing the nodes it can run. Added
 * after every other module, so a node's first module stays its own kernel's. */
static rg_status add_persistent(rg_cg_cuda_kernels *k, const rg_graph *g, const char *arch, rg_error *err) {
    for (uint32_t i = 0; i < g->nnodes; i++) {
        if (!persistent_wanted(g->nodes[i])) continue;
        char name[32];
        rg_kabi_persistent_name(g->nodes[i]->outputs[0]->dtype, name, sizeof name);
        rg_ir_kernel *m =
            named_module(k, name, RG_KABI_PERSISTENT_KIND, arch, rg_cg_kernel_template("persistent.cu"), g->nnodes);
        if (!m) return nomem(err);
        add_node(m, i);
    }
    return RG_OK;
}

/* Module i compiled, with the -D options of an attention variant or a GEMM
 * or persistent module's dtype. */
static rg_status compile_one(rg_cg_cuda_kernels *k, const rg_graph *g, const char *arch, rg_cg_nvrtc *nvrtc, size_t i,
                             rg_error *err) {
    rg_ir_kernel *m = &k->kernels[i];
    if (!strcmp(m->kind, "gemm")) {
        char storage[128];
        const char *defines[RG_CG_GEMM_DEFINES];
        rg_cg_gemm_defines(g->nodes[m->nodes[0]]->outputs[0]->dtype, false, storage, sizeof storage, defines);
        return compile_module(nvrtc, m, g, defines, RG_CG_GEMM_DEFINES, err);
    }
    if (!strcmp(m->kind, RG_KABI_PERSISTENT_KIND)) {
        /* attention only for the head sizes of the nodes it lists */
        unsigned heads = 0;
        for (uint32_t j = 0; j < m->nnodes; j++) {
            const rg_node *n = g->nodes[m->nodes[j]];
            int64_t d = 0;
            rg_error ignored = {0};
            if (n->op == RG_OP_ATTENTION && rg_node_attr_int(n, "head_size", 0, &d, &ignored) == RG_OK)
                heads |= rg_cg_persistent_head_bit(d);
        }
        char storage[128];
        const char *defines[RG_CG_PERSISTENT_DEFINES];
        rg_cg_persistent_defines(g->nodes[m->nodes[0]]->outputs[0]->dtype, heads, storage, sizeof storage, defines);
        return compile_module(nvrtc, m, g, defines, RG_CG_PERSISTENT_DEFINES, err);
    }
    if (strcmp(m->kind, "attention") != 0) return compile_module(nvrtc, m, g, NULL, 0, err);
    rg_kabi_attention_variant v;
    RG_TRY(rg_cg_attention_variant(g->nodes[m->nodes[0]], arch, &v, err));
    char storage[640];
    const char *defines[RG_CG_ATTENTION_DEFINES];
    rg_cg_attention_defines(&v, storage, sizeof storage, defines);
    return compile_module(nvrtc, m, g, defines, RG_CG_ATTENTION_DEFINES, err);
}

/* An allocator that serialises calls to another (the cubins it hands out
 * are the other's: freed with it later). */
typedef struct locked_allocator {
    rg_allocator self;
    const rg_allocator *inner;
    pthread_mutex_t lock;
} locked_allocator;

static void *locked_alloc(void *user, void *ptr, size_t old_size, size_t new_size) {
    locked_allocator *l = user;
    pthread_mutex_lock(&l->lock);
    void *result = l->inner->fn(l->inner->user, ptr, old_size, new_size);
    pthread_mutex_unlock(&l->lock);
    return result;
}

/* NVRTC takes most of a GPU compile, and separate programs compile
 * independently (NVRTC is thread-safe across programs), so up to
 * MAX_COMPILE_THREADS threads take the modules in turn, the GEMM modules
 * and the persistent ones (the longest) first so that they do not finish last. Each module keeps
 * its own status; the first failure in module order is the one reported,
 * so errors do not depend on scheduling. */
#define MAX_COMPILE_THREADS 8

typedef struct compile_work {
    rg_cg_cuda_kernels *k;
    const rg_graph *g;
    const char *arch;
    rg_cg_nvrtc *nvrtc;
    pthread_mutex_t lock; /* guards next */
    size_t next;          /* into order */
    size_t *order;        /* module indices in the order they are taken */
    rg_status *status; /* per module */
    rg_error *errors;  /* per module */
} compile_work;

static void *compile_worker(void *arg) {
    compile_work *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        size_t i = w->next < w->k->nkernels ? w->order[w->next++] : SIZE_MAX;
        pthread_mutex_unlock(&w->lock);
        if (i == SIZE_MAX) return NULL;
        w->status[i] = compile_one(w->k, w->g, w->arch, w->nvrtc, i, &w->errors[i]);
    }
}

static rg_status compile_modules(rg_cg_cuda_kernels *k, const rg_graph *g, const char *arch, rg_cg_nvrtc *nvrtc,
                                 rg_error *err) {
    double start = now_seconds();
    size_t n = k->nkernels;
    if (n == 0) return RG_OK;
    rg_status *status = rg_mem_calloc(k->alloc, n, sizeof *status);
    rg_error *errors = rg_mem_calloc(k->alloc, n, sizeof *errors);
    size_t *order = rg_mem_calloc(k->alloc, n, sizeof *order);
    if (!status || !errors || !order) {
        rg_mem_free(k->alloc, status, n * sizeof *status);
        rg_mem_free(k->alloc, errors, n * sizeof *errors);
        rg_mem_free(k->alloc, order, n * sizeof *order);
        return nomem(err);
    }
    size_t taken = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k->kernels[i].kind, "gemm")) order[taken++] = i;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k->kernels[i].kind, RG_KABI_PERSISTENT_KIND)) order[taken++] = i;
    for (size_t i = 0; i < n; i++)
        if (strcmp(k->kernels[i].kind, "gemm") != 0 && strcmp(k->kernels[i].kind, RG_KABI_PERSISTENT_KIND) != 0)
            order[taken++] = i;
    compile_work w = {
        .k = k, .g = g, .arch = arch, .nvrtc = nvrtc, .order = order, .status = status, .errors = errors};
    pthread_mutex_init(&w.lock, NULL);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t threads = cpus > 1 ? (size_t)cpus : 1;
    if (threads > n) threads = n;
    if (threads > MAX_COMPILE_THREADS) threads = MAX_COMPILE_THREADS;
    pthread_t ids[MAX_COMPILE_THREADS];
    size_t started = 0;
    /* the calling thread is one of the workers; a thread that cannot start is one fewer */
    while (started + 1 < threads && pthread_create(&ids[started], NULL, compile_worker, &w) == 0) started++;
    compile_worker(&w);
    for (size_t t = 0; t < started; t++) pthread_join(ids[t], NULL);
    pthread_mutex_destroy(&w.lock);
    rg_status st = RG_OK;
    for (size_t i = 0; i < n && st == RG_OK; i++)
        if (status[i] != RG_OK) {
            st = status[i];
            if (err) *err = errors[i];
        }
    rg_mem_free(k->alloc, status, n * sizeof *status);
    rg_mem_free(k->alloc, errors, n * sizeof *errors);
    rg_mem_free(k->alloc, order, n * sizeof *order);
    k->nvrtc_seconds = now_seconds() - start;
    return st;
}

static rg_status compile_all(rg_cg_cuda_kernels *k, const rg_graph *g, const char *arch, bool gemm, bool persistent,
                             rg_cg_nvrtc *nvrtc, rg_error *err) {
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const rg_node *node = g->nodes[i];
        if (node->op == RG_OP_FUSED || node->op == RG_OP_LAYER_NORM) RG_TRY(add_fused(k, g, i, arch, err));
        else if (node->op == RG_OP_ATTENTION) RG_TRY(add_attention(k, g, i, arch, err));
        else if (gemm && gemm_wanted(node, arch)) RG_TRY(add_gemm(k, g, i, err));
    }
    RG_TRY(add_attention_general(k, g, arch, err));
    const char *ew = rg_cg_kernel_template("elementwise.cu");
    RG_ASSERT(ew != NULL);
    if (!add_module(k, RG_KABI_ELEMENTWISE_MODULE, "elementwise", arch, ew, 0)) return nomem(err);
    /* data movement on device values (Transpose, Slice, Concat, Gather, Where, Cast, ...): the executor
     * decides at session creation which nodes run it, so every GPU plan carries it */
    const char *mv = rg_cg_kernel_template("movement.cu");
    RG_ASSERT(mv != NULL);
    if (!add_module(k, "rg_movement", "movement", arch, mv, 0)) return nomem(err);
    if (persistent) RG_TRY(add_persistent(k, g, arch, err));
    return compile_modules(k, g, arch, nvrtc, err);
}

rg_status rg_cg_cuda_compile_graph(const rg_graph *g, const char *arch, const rg_allocator *alloc,
                                   rg_cg_cuda_kernels **out, rg_error *err) {
    return rg_cg_cuda_compile_graph_with(g, arch, false, false, alloc, out, err);
}

rg_status rg_cg_cuda_compile_graph_with(const rg_graph *g, const char *arch, bool gemm, bool persistent,
                                        const rg_allocator *alloc,
                                        rg_cg_cuda_kernels **out, rg_error *err) {
    if (!rg_cg_cuda_target_known(arch))
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "unknown CUDA target '%s' (sm_80, sm_86, sm_89, sm_90, sm_90a)",
                            arch ? arch : "(null)");
    if (!alloc) alloc = rg_allocator_default();
    /* NVRTC allocates (options, cubins) from the compile threads: through a
     * lock, since the caller's allocator need not be thread-safe */
    locked_allocator locked = {.self = {locked_alloc, &locked}, .inner = alloc};
    pthread_mutex_init(&locked.lock, NULL);
    rg_cg_nvrtc *nvrtc = NULL;
    rg_status st = rg_cg_nvrtc_open(&locked.self, &nvrtc, err);
    if (st != RG_OK) {
        pthread_mutex_destroy(&locked.lock);
        return st;
    }
    rg_cg_cuda_kernels *k = rg_mem_calloc(alloc, 1, sizeof *k);
    if (!k) {
        st = nomem(err);
        goto fail;
    }
    k->alloc = alloc;
    rg_arena_init(&k->arena, alloc);
    if ((st = compile_all(k, g, arch, gemm, persistent, nvrtc, err)) != RG_OK) goto fail;
    rg_cg_nvrtc_close(nvrtc);
    pthread_mutex_destroy(&locked.lock);
    *out = k;
    return RG_OK;
fail:
    rg_cg_cuda_kernels_free(k);
    rg_cg_nvrtc_close(nvrtc);
    pthread_mutex_destroy(&locked.lock);
    return st;
}
