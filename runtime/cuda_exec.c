/*
 * cuda_exec.c — the CUDA executor (see cuda_exec.h).
 *
 * Every value is placed once, when the executor is made: on the host (graph
 * inputs, constants, outputs of the integer shape arithmetic the passes left,
 * computed by the CPU kernels each run) or on the device (outputs of device
 * nodes). A device node's inputs all need a device address: constants are
 * uploaded once; host values it reads are copied into the arena each run.
 * A node that reads a device value but has no CUDA implementation is refused
 * here, naming it, so a session falls back to the CPU before running.
 */
#include "cuda_exec.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "bind.h"
#include "cpu_internal.h"
#include "ir/fused.h"
#include "ir/kernel_abi.h"
#include "memplan.h"
#include "runtime/cublaslt.h"
#include "runtime/cuda_attention.h"
#include "runtime/cuda_fused.h"
#include "runtime/cuda_gemm.h"
#include "runtime/cuda_persist.h"

#define SHAPE_CACHE 16
#define MAX_SYMBOLS RG_RT_MAX_SYMBOLS
#define ARENA_ALIGN 256

typedef enum node_kind {
    NODE_HOST = 0, /* CPU kernel on host values */
    NODE_LINEAR,
    NODE_ATTENTION,
    NODE_FUSED, /* Fused and LayerNorm */
    NODE_GATHER, /* any axis, data on the device or a float constant table */
    NODE_CAST,
    NODE_MOVE,   /* Transpose, Expand, Slice, Concat (strided copies), the Reshape family (a copy) */
    NODE_WHERE,
} node_kind;

#define MOVE_RANK 8 /* RG_MOVE_MAX_RANK in codegen/kernels/movement.cu; RG_MAX_RANK (8) is no more */

/* One launch of the strided kernels: the same members in the same order as
 * rg_move_params in codegen/kernels/movement.cu (all 64-bit: no padding).
 * Element k of the iteration shape dims is written at out_offset +
 * idx . out_strides and read, for input j, at in_offset[j] + idx .
 * in_strides[j] (0 along broadcast dims). */
typedef struct move_params {
    int64_t total, rank;
    int64_t dims[MOVE_RANK], out_strides[MOVE_RANK], in_strides[3][MOVE_RANK];
    int64_t out_offset, in_offset[3];
} move_params;

/* A Gather as outer x n x inner elements over an axis of axis_dim. */
typedef struct gather_dims {
    int64_t outer, n, axis_dim, inner;
} gather_dims;

/* How an Attention node runs: the fused kernel on lengths (with the
 * "uniform" fix-up for empty sequences), or the general kernel. */
typedef struct attention_plan {
    bool general;     /* always the general kernel (bias, additive mask, no fast variant, ...) */
    bool dynamic;     /* key_padding from the host: fast while right-padded, else general */
    int uniform_below; /* > 0: sequences with fewer keys get the mean of V (the fix-up) */
    int head_dim;
    bool causal, uniform;
    rg_rt_cuda_kernel general_kernel, fixup;
} attention_plan;

/* Which way a Linear of one product shape and epilogue runs, where a plan
 * has a GEMM module for it, decided by timing both the first time the shape
 * is seen outside a capture (choose_way). Kept per executor: every layer of
 * a model has the same shapes, so one decision serves them all. */
#define GEMM_CHOICES 32
typedef struct gemm_choice {
    int64_t m, n, k;
    rg_dtype dtype;
    bool gelu;
    bool fused; /* the wgmma GEMM with its epilogue; else cuBLASLt (and for an erf GELU the bias+GELU pass) */
} gemm_choice;

typedef struct exec_node {
    node_kind kind;
    rg_kabi_fused_kernel fused;
    rg_rt_cuda_kernel vec, scalar, kernel;
    rg_rt_cuda_attention *attention; /* borrowed from the module table */
    rg_rt_cuda_gemm *gemm;           /* Linears a plan's GEMM module serves: borrowed likewise */
    rg_rt_cuda_persist *pk;          /* a node the plan's persistent module can run as a step: borrowed likewise */
    rg_kabi_attention_variant variant;
    float scale;
    int heads;
    rg_rt_blaslt_activation activation;
    bool gelu_erf;
    bool bias_gelu; /* gelu_erf: GEMM without epilogue, then rg_bias_gelu_erf (vec / scalar) adds the bias too */
    attention_plan at; /* NODE_ATTENTION: which kernels (prepare_attention) */
    /* NODE_MOVE, NODE_WHERE, NODE_GATHER, NODE_CAST (prepare_movement_node; arguments per run in prepare_moves) */
    move_params *moves; /* one launch per input of a Concat, else one */
    uint32_t nmoves;
    bool plain_copy;    /* the Reshape family: the same bytes, one device copy */
    gather_dims gather;
    uint32_t flag;      /* NODE_GATHER: its error flag (an index out of range) */
    bool any_cast;      /* NODE_CAST through rg_cast_any */
    int cast_from, cast_to;
} exec_node;

typedef struct shape_entry {
    bool used;
    int64_t syms[MAX_SYMBOLS];
    size_t *offsets; /* per value id; SIZE_MAX: no arena slot */
    size_t aux_offset; /* cu_seqlens and seqlens_k (inside the input block) */
    size_t flags_offset; /* the Gather error flags (inside the input block: zeroed by each run's copy in) */
    uint64_t move_hash;  /* the movement arguments its graph was captured with */
    size_t in_offset, in_bytes; /* the input block: uploaded values and aux, one copy from the staging buffer */
    size_t arena_bytes, lower_bound;
    rg_rt_cuda_graph graph;
    bool graph_failed;
    bool graph_timed; /* captured with the timing events inside */
    /* Plans with a GEMM module: the whole replay was timed with every Linear the
     * module can take on it, against the per-shape choices (compare_ways) */
    bool ways_compared;
    bool all_fused; /* and that was faster: the graph runs them all on it */
    /* Plans with a persistent module: the replay was timed with its runs of
     * nodes as single launches (compare_persistent) and that was faster */
    bool pk_compared, persistent;
    void *pk_prog;      /* device: the steps of those runs, built at capture (persist_build) */
    size_t pk_prog_cap; /* bytes */
    uint64_t last_use;
} shape_entry;

/* A run of consecutive device nodes issued as one persistent launch: nodes
 * first..last (host nodes between launch nothing), steps step0.. of the
 * shape's program. */
typedef struct pk_run {
    uint32_t first, last;
    size_t step0, nsteps;
    rg_rt_cuda_persist *pk;
} pk_run;

typedef struct module_state {
    rg_rt_cuda_library library;
    rg_rt_cuda_attention *attention;
    rg_rt_cuda_gemm *gemm;
    rg_rt_cuda_persist *persist;
} module_state;

struct rg_cuda_exec {
    const rg_plan *plan;
    const rg_graph *g;
    const rg_allocator *alloc;
    rg_rt_cuda *cuda;
    rg_rt_blaslt *blaslt;
    rg_rt_cuda_stream stream;
    rg_rt_cuda_device_info info;
    char arch[16];
    bool tf32;
    module_state *modules;
    size_t nmodules;
    rg_rt_cuda_library elementwise;
    uint32_t nflags;          /* Gather nodes on the device: one error flag each */
    int32_t *flags_host;      /* pinned: the flags copied out by each run */
    uint64_t move_hash;       /* this run's movement arguments (prepare_moves) */
    exec_node *nodes;
    bool *on_device;   /* per value: produced by a device node */
    bool *upload;      /* per value: a host value some device node reads */
    uint32_t *last_use; /* per value: last reading step (nnodes: an output) */
    void **const_dev;  /* per value: device copy of a constant, or NULL */
    void *weights;
    size_t weights_bytes;
    const rg_value *mask;     /* the key-padding mask all Attention nodes read, or NULL */
    bool mask_general;        /* this run's mask is not right padding: dynamic nodes run the general kernel */
    int64_t sym_values[MAX_SYMBOLS];
    rg_tensor *shapes;        /* per value: concrete shape this run; data: host or device pointer */
    bool *host_owned;         /* per value: shapes[i].data allocated by a CPU kernel */
    void *arena;
    size_t arena_cap;
    shape_entry cache[SHAPE_CACHE];
    uint64_t clock;
    shape_entry *current;
    void *stage;              /* pinned: the input block's host side, same layout */
    size_t stage_cap;
    rg_tensor *outputs;       /* data: pinned host memory the graph copies into */
    size_t *output_caps;
    bool have_outputs;
    bool outputs_on_device;   /* no copy out: device outputs are read in the arena (rg_cuda_exec_output_device) */
    bool last_replayed;
    /* timing (rg_cuda_exec_set_timing): events before/after the copies in and out */
    bool timing;
    rg_rt_cuda_event ev[4];
    rg_rt_cuda_event tune_ev[2]; /* choose_way's and compare_ways' timings */
    gemm_choice gemm_choices[GEMM_CHOICES];
    uint32_t ngemm_choices;
    uint32_t declined;         /* Linears the GEMM module could take that the last issue ran on cuBLASLt */
    bool force_fused;          /* compare_ways' second capture: every such Linear on the module */
    rg_cuda_exec_timing last_timing;
    /* profiling (rg_cuda_exec_profile): set while its graph is captured */
    rg_rt_cuda_event *prof_ev; /* 2 * nnodes + 1: start, then after each node's main launch and its epilogue */
    uint32_t prof_node;        /* the node launch_all is issuing */
    bool capturing;            /* between capture begin and end on the stream */
    /* runs of nodes as one launch of the persistent kernel (persist_build) */
    rg_persistent_mode pk_mode;
    bool pk_on;                /* launch_all issues the runs as programs (the current shape's pk_prog) */
    bool last_persistent;      /* the last run's graph had such launches */
    pk_run *pk_runs;           /* at most one per node */
    uint32_t npk_runs;
    rg_rt_pk_step *pk_raw;     /* host: the open run's steps as built, at most one per node */
    rg_rt_pk_step *pk_steps;   /* host: the programs (rg_rt_pk_expand: at most two per node) */
    void *pk_scratch;          /* device: the kernel's counters and partial sums */
    size_t pk_scratch_bytes;
};

static rg_cpu_ctx cpu_ctx(const rg_cuda_exec *e) { return (rg_cpu_ctx){e->alloc, 1}; }

static const char *label(const rg_node *n, char *buf, size_t cap) { return rg_node_label(n, buf, cap); }

/* ------------------------------------------------------------ placement */

static bool is_float(rg_dtype d) { return d == RG_DTYPE_F32 || d == RG_DTYPE_F16 || d == RG_DTYPE_BF16; }

static bool value_on_device(const rg_cuda_exec *e, const rg_value *v) { return v && e->on_device[v->id]; }

static const rg_ir_kernel *module_of(const rg_plan *plan, uint32_t node, size_t *index);

static node_kind classify(const rg_cuda_exec *e, const rg_node *n) {
    switch (n->op) {
    case RG_OP_LINEAR: return NODE_LINEAR;
    case RG_OP_ATTENTION: return NODE_ATTENTION;
    case RG_OP_FUSED:
    case RG_OP_LAYER_NORM: {
        /* a Fused node the plan has no kernel for runs on the host (its inputs must be there) */
        size_t m;
        return n->op == RG_OP_FUSED && !module_of(e->plan, n->id, &m) ? NODE_HOST : NODE_FUSED;
    }
    case RG_OP_GATHER:
        if (value_on_device(e, n->inputs[0]) || value_on_device(e, n->inputs[1]) ||
            (n->inputs[0]->constant && is_float(n->inputs[0]->dtype) && n->inputs[0]->rank >= 1))
            return NODE_GATHER;
        return NODE_HOST;
    case RG_OP_CAST:
        /* a large constant cast to float (a dequantized table) is uploaded once and cast on the device, not
         * cast on the host and copied in every run; shape arithmetic never casts one */
        if (value_on_device(e, n->inputs[0]) ||
            (n->inputs[0]->constant && is_float(n->outputs[0]->dtype) && n->inputs[0]->constant->nbytes >= 65536))
            return NODE_CAST;
        return NODE_HOST;
    case RG_OP_TRANSPOSE:
    case RG_OP_EXPAND:
    case RG_OP_SLICE:
    case RG_OP_RESHAPE:
    case RG_OP_SQUEEZE:
    case RG_OP_UNSQUEEZE:
    case RG_OP_FLATTEN:
    case RG_OP_IDENTITY: return value_on_device(e, n->inputs[0]) ? NODE_MOVE : NODE_HOST;
    case RG_OP_CONCAT:
    case RG_OP_WHERE:
        for (uint32_t k = 0; k < n->ninputs; k++)
            if (value_on_device(e, n->inputs[k])) return n->op == RG_OP_WHERE ? NODE_WHERE : NODE_MOVE;
        return NODE_HOST;
    default: return NODE_HOST;
    }
}

/* Inputs a device node reads on the host (Slice starts, a Reshape's shape):
 * never copied in, and never device data. */
static bool host_param(const rg_node *n, uint32_t k) {
    switch (n->op) {
    case RG_OP_SLICE:
    case RG_OP_RESHAPE:
    case RG_OP_EXPAND:
    case RG_OP_SQUEEZE:
    case RG_OP_UNSQUEEZE: return k >= 1;
    default: return false;
    }
}

static rg_status place_nodes(rg_cuda_exec *e, rg_error *err) {
    const rg_graph *g = e->g;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const rg_node *n = g->nodes[i];
        exec_node *x = &e->nodes[i];
        x->kind = classify(e, n);
        if (x->kind == NODE_HOST) {
            /* a host node may read device values only for their shape */
            for (uint32_t k = 0; k < n->ninputs; k++)
                if (value_on_device(e, n->inputs[k]) && n->op != RG_OP_SHAPE) {
                    char l[160];
                    return rg_error_set(err, RG_ERR_UNSUPPORTED,
                                        "node %s: the CUDA executor has no kernel for %s on device data",
                                        label(n, l, sizeof l), rg_op_name(n->op));
                }
            continue;
        }
        if (x->kind == NODE_GATHER) x->flag = e->nflags++;
        for (uint32_t k = 0; k < n->noutputs; k++)
            if (n->outputs[k]) e->on_device[n->outputs[k]->id] = true;
        for (uint32_t k = 0; k < n->ninputs; k++) {
            const rg_value *v = n->inputs[k];
            if (v && host_param(n, k)) {
                if (!e->on_device[v->id]) continue;
                char l[160];
                return rg_error_set(err, RG_ERR_UNSUPPORTED, "node %s: input %u is device data; the CUDA executor "
                                    "reads it on the host", label(n, l, sizeof l), k);
            }
            if (!v || v->constant || e->on_device[v->id]) continue;
            /* an Attention mask is read on the device by the general kernel (besides giving lengths) */
            e->upload[v->id] = true;
        }
    }
    for (uint32_t i = 0; i < g->nvalues; i++) e->last_use[i] = 0;
    for (uint32_t i = 0; i < g->nnodes; i++)
        for (uint32_t k = 0; k < g->nodes[i]->ninputs; k++)
            if (g->nodes[i]->inputs[k]) e->last_use[g->nodes[i]->inputs[k]->id] = i;
    for (uint32_t i = 0; i < g->noutputs; i++) e->last_use[g->outputs[i]->id] = g->nnodes;
    return RG_OK;
}

/* ------------------------------------------------------------ constants */

static rg_status upload_constants(rg_cuda_exec *e, rg_error *err) {
    const rg_graph *g = e->g;
    size_t total = 0;
    size_t *offset = rg_mem_calloc(e->alloc, g->nvalues ? g->nvalues : 1, sizeof *offset);
    if (!offset) return rg_error_set(err, RG_ERR_NOMEM, "out of memory placing constants");
    bool *needed = rg_mem_calloc(e->alloc, g->nvalues ? g->nvalues : 1, sizeof *needed);
    if (!needed) {
        rg_mem_free(e->alloc, offset, (g->nvalues ? g->nvalues : 1) * sizeof *offset);
        return rg_error_set(err, RG_ERR_NOMEM, "out of memory placing constants");
    }
    for (uint32_t i = 0; i < g->nnodes; i++) {
        if (e->nodes[i].kind == NODE_HOST) continue;
        for (uint32_t k = 0; k < g->nodes[i]->ninputs; k++) {
            const rg_value *v = g->nodes[i]->inputs[k];
            if (v && v->constant && !needed[v->id]) {
                needed[v->id] = true;
                offset[v->id] = total;
                total += (v->constant->nbytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
            }
        }
    }
    rg_status st = RG_OK;
    if (total) st = rg_rt_cuda_malloc(e->cuda, total, &e->weights, err);
    for (uint32_t i = 0; st == RG_OK && i < g->nvalues; i++) {
        if (!needed[i]) continue;
        const rg_tensor *t = g->values[i]->constant;
        e->const_dev[i] = (char *)e->weights + offset[i];
        if (t->nbytes) st = rg_rt_cuda_copy_to_device(e->cuda, e->const_dev[i], t->data, t->nbytes, NULL, err);
    }
    if (st == RG_OK) e->weights_bytes = total;
    rg_mem_free(e->alloc, offset, (g->nvalues ? g->nvalues : 1) * sizeof *offset);
    rg_mem_free(e->alloc, needed, (g->nvalues ? g->nvalues : 1) * sizeof *needed);
    return st;
}

/* --------------------------------------------------------------- kernels */

static const rg_ir_kernel *module_of(const rg_plan *plan, uint32_t node, size_t *index) {
    for (size_t m = 0; m < plan->nkernels; m++)
        for (uint32_t k = 0; k < plan->kernels[m].nnodes; k++)
            if (plan->kernels[m].nodes[k] == node) {
                *index = m;
                return &plan->kernels[m];
            }
    return NULL;
}

static rg_status module_library(rg_cuda_exec *e, size_t m, rg_rt_cuda_library *out, rg_error *err) {
    if (!e->modules[m].library) {
        const rg_ir_kernel *k = &e->plan->kernels[m];
        RG_TRY(rg_rt_cuda_library_load(e->cuda, k->cubin, k->cubin_size, k->name, &e->modules[m].library, err));
    }
    *out = e->modules[m].library;
    return RG_OK;
}

static rg_status prepare_fused(rg_cuda_exec *e, uint32_t i, size_t m, rg_error *err) {
    exec_node *x = &e->nodes[i];
    /* the launch shape follows from the node, as it did when codegen emitted the kernel */
    RG_TRY(rg_kabi_fused_kernel_of(e->g->nodes[i], RG_KABI_FUSED_NAME, RG_DTYPE_UNDEFINED, 0, &x->fused, NULL, err));
    rg_rt_cuda_library lib;
    RG_TRY(module_library(e, m, &lib, err));
    if (x->fused.vec_name[0]) RG_TRY(rg_rt_cuda_kernel_get(e->cuda, lib, x->fused.vec_name, &x->vec, err));
    return rg_rt_cuda_kernel_get(e->cuda, lib, x->fused.scalar_name, &x->scalar, err);
}

static const char *dtype_short(rg_dtype d);

/* The plan's general attention module, or SIZE_MAX (plans made before it). */
static size_t general_attention_module(const rg_cuda_exec *e) {
    for (size_t m = 0; m < e->plan->nkernels; m++)
        if (!strcmp(e->plan->kernels[m].kind, "attention_general")) return m;
    return SIZE_MAX;
}

/* Picks the kernels of Attention node i; m is its first module (the fused
 * kernel's variant when it has one). */
static rg_status prepare_attention(rg_cuda_exec *e, uint32_t i, size_t m, rg_error *err) {
    const rg_node *n = e->g->nodes[i];
    exec_node *x = &e->nodes[i];
    attention_plan *at = &x->at;
    int64_t heads, head_size, causal;
    RG_TRY(rg_node_attr_int(n, "num_heads", 0, &heads, err));
    RG_TRY(rg_node_attr_int(n, "head_size", 0, &head_size, err));
    RG_TRY(rg_node_attr_int(n, "causal", 0, &causal, err));
    x->heads = (int)heads;
    at->head_dim = (int)head_size;
    at->causal = causal != 0;
    RG_TRY(rg_node_attr_float(n, "scale", 1.0f / sqrtf((float)head_size), &x->scale, err));
    const char *mask_kind, *empty_rows;
    RG_TRY(rg_node_attr_string(n, "mask_kind", "none", &mask_kind, err));
    RG_TRY(rg_node_attr_string(n, "empty_rows", "zeros", &empty_rows, err));
    at->uniform = !strcmp(empty_rows, "uniform");
    bool key_padding = !strcmp(mask_kind, "key_padding");
    size_t gm = general_attention_module(e);
    const rg_ir_kernel *k = &e->plan->kernels[m];
    bool fast = !strcmp(k->kind, "attention");
    const char *why = NULL; /* why the fused kernel cannot serve this node */
    if (!fast) why = "no fused-kernel variant for it (bias input, additive mask or head size)";
    else if (key_padding && e->on_device[n->inputs[1]->id]) why = "its key_padding mask is computed on the device";
    else if (key_padding && e->mask && e->mask != n->inputs[1]) why = "it reads a second key_padding mask";
    if (why && gm == SIZE_MAX)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "attention: %s, and the plan has no general attention kernel "
                            "(recompile it)", why);
    x->variant = (rg_kabi_attention_variant){n->inputs[0]->dtype, (int)head_size, causal != 0, false};
    if (why) at->general = true;
    else {
        RG_TRY(rg_kabi_attention_variant_of(n, &x->variant, err));
        rg_kabi_attention_set_module_arch(&x->variant, k->arch);
        if (key_padding) {
            e->mask = n->inputs[1];
            at->dynamic = gm != SIZE_MAX; /* else a mask that is not right padding fails the run */
            if (at->uniform) at->uniform_below = 1;
        }
        if (!e->modules[m].attention)
            RG_TRY(rg_rt_cuda_attention_load(e->cuda, k->cubin, k->cubin_size, &x->variant, e->alloc,
                                             &e->modules[m].attention, err));
        x->attention = e->modules[m].attention;
    }
    if (gm == SIZE_MAX) return RG_OK;
    rg_rt_cuda_library lib;
    RG_TRY(module_library(e, gm, &lib, err));
    char name[64];
    rg_dtype dt = n->inputs[0]->dtype;
    if (at->general || at->dynamic) {
        snprintf(name, sizeof name, "rg_attention_general_%s", dtype_short(dt));
        RG_TRY(rg_rt_cuda_kernel_get(e->cuda, lib, name, &at->general_kernel, err));
    }
    if (at->uniform_below) {
        snprintf(name, sizeof name, "rg_attention_uniform_%s", dtype_short(dt));
        RG_TRY(rg_rt_cuda_kernel_get(e->cuda, lib, name, &at->fixup, err));
    }
    return RG_OK;
}

/* The erf GELU after a Linear. Plans from before rg_bias_gelu_erf_* keep
 * the bias epilogue and the in-place GELU kernel; otherwise the GEMM runs
 * with no epilogue and one kernel adds the bias and applies the GELU in a
 * single pass (the same bytes as the GELU alone). */
static rg_status prepare_gelu(rg_cuda_exec *e, const rg_node *n, exec_node *x, rg_error *err) {
    rg_dtype dt = n->outputs[0]->dtype;
    const rg_value *bias = n->ninputs > 2 ? n->inputs[2] : NULL;
    char name[48];
    if (!bias || bias->dtype == dt) {
        rg_error ignored = {0};
        snprintf(name, sizeof name, "rg_bias_gelu_erf_v_%s", dtype_short(dt));
        bool have = rg_rt_cuda_kernel_get(e->cuda, e->elementwise, name, &x->vec, &ignored) == RG_OK;
        snprintf(name, sizeof name, "rg_bias_gelu_erf_%s", dtype_short(dt));
        have = have && rg_rt_cuda_kernel_get(e->cuda, e->elementwise, name, &x->scalar, &ignored) == RG_OK;
        if (have) {
            x->bias_gelu = true;
            return RG_OK;
        }
    }
    snprintf(name, sizeof name, "rg_gelu_erf_%s", dtype_short(dt));
    return rg_rt_cuda_kernel_get(e->cuda, e->elementwise, name, &x->kernel, err);
}

static rg_status prepare_linear(rg_cuda_exec *e, uint32_t i, rg_error *err) {
    const rg_node *n = e->g->nodes[i];
    exec_node *x = &e->nodes[i];
    if (!n->inputs[1]->constant || n->inputs[1]->rank != 2 || (n->ninputs > 2 && n->inputs[2] && !n->inputs[2]->constant))
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "Linear with a weight that is not a constant [K, N] matrix");
    const char *act;
    RG_TRY(rg_node_attr_string(n, "activation", "none", &act, err));
    x->activation = RG_RT_BLASLT_ACT_NONE;
    if (!strcmp(act, "relu")) x->activation = RG_RT_BLASLT_ACT_RELU;
    else if (!strcmp(act, "gelu_tanh")) x->activation = RG_RT_BLASLT_ACT_GELU_TANH;
    else if (!strcmp(act, "gelu")) x->gelu_erf = true; /* bias epilogue, then the erf GELU kernel */
    else if (strcmp(act, "none")) return rg_error_set(err, RG_ERR_UNSUPPORTED, "Linear activation '%s'", act);
    if (x->gelu_erf) RG_TRY(prepare_gelu(e, n, x, err)); /* also the way for shapes the GEMM module cannot take */
    else if (x->activation != RG_RT_BLASLT_ACT_NONE) return RG_OK; /* cuBLASLt's epilogues */
    size_t m;
    const rg_ir_kernel *k = module_of(e->plan, i, &m);
    if (!k || strcmp(k->kind, "gemm") != 0) return RG_OK;
    /* A module for sm_90a runs only on sm_90 GPUs; the plan's target was
     * checked against this one already, so this is the plan's own rule. */
    if (strcmp(k->arch, rg_kabi_gemm_arch()) != 0 || !rg_kabi_gemm_dtype_ok(n->outputs[0]->dtype))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "GEMM module '%s' is for %s, not %s %s", k->name, k->arch,
                            rg_kabi_gemm_arch(), rg_dtype_name(n->outputs[0]->dtype));
    if (!e->modules[m].gemm)
        RG_TRY(rg_rt_cuda_gemm_load(e->cuda, k->cubin, k->cubin_size, n->outputs[0]->dtype, 0, e->alloc,
                                    &e->modules[m].gemm, err));
    x->gemm = e->modules[m].gemm;
    return RG_OK;
}

static const char *dtype_short(rg_dtype d) {
    return d == RG_DTYPE_F32 ? "f32" : d == RG_DTYPE_F16 ? "f16" : "bf16";
}

/* The plan's movement module (every GPU plan since it was added). */
static rg_status movement_library(rg_cuda_exec *e, rg_rt_cuda_library *out, rg_error *err) {
    for (size_t m = 0; m < e->plan->nkernels; m++)
        if (!strcmp(e->plan->kernels[m].kind, "movement")) return module_library(e, m, out, err);
    return rg_error_set(err, RG_ERR_UNSUPPORTED, "the plan has no data-movement kernels (recompile it)");
}

/* Dtype codes of rg_cast_any (codegen/kernels/movement.cu). */
static int cast_code(rg_dtype d) {
    switch (d) {
    case RG_DTYPE_F32: return 0;
    case RG_DTYPE_F16: return 1;
    case RG_DTYPE_BF16: return 2;
    case RG_DTYPE_I8: return 4;
    case RG_DTYPE_U8: return 5;
    case RG_DTYPE_I32: return 8;
    case RG_DTYPE_I64: return 10;
    case RG_DTYPE_BOOL: return 12;
    default: return -1;
    }
}

/* Kernels of a Gather, Cast, Where or movement node; launches per run. */
static rg_status prepare_movement_node(rg_cuda_exec *e, uint32_t i, rg_error *err) {
    const rg_node *n = e->g->nodes[i];
    exec_node *x = &e->nodes[i];
    char name[48];
    rg_rt_cuda_library lib = NULL;
    size_t esize = rg_dtype_size(n->outputs[0]->dtype);
    if (x->kind == NODE_CAST) {
        rg_dtype from = n->inputs[0]->dtype, to = n->outputs[0]->dtype;
        if (from == to) return RG_OK;
        if (is_float(from) && is_float(to)) {
            snprintf(name, sizeof name, "rg_cast_%s_%s", dtype_short(from), dtype_short(to));
            return rg_rt_cuda_kernel_get(e->cuda, e->elementwise, name, &x->kernel, err);
        }
        x->cast_from = cast_code(from);
        x->cast_to = cast_code(to);
        if (x->cast_from < 0 || x->cast_to < 0)
            return rg_error_set(err, RG_ERR_UNSUPPORTED, "Cast from %s to %s", rg_dtype_name(from), rg_dtype_name(to));
        RG_TRY(movement_library(e, &lib, err));
        x->any_cast = true;
        return rg_rt_cuda_kernel_get(e->cuda, lib, "rg_cast_any", &x->kernel, err);
    }
    switch (n->op) {
    case RG_OP_RESHAPE:
    case RG_OP_SQUEEZE:
    case RG_OP_UNSQUEEZE:
    case RG_OP_FLATTEN:
    case RG_OP_IDENTITY: x->plain_copy = true; return RG_OK;
    default: break;
    }
    if (esize != 1 && esize != 2 && esize != 4 && esize != 8)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "%s of %s", rg_op_name(n->op), rg_dtype_name(n->outputs[0]->dtype));
    RG_TRY(movement_library(e, &lib, err));
    x->nmoves = n->op == RG_OP_CONCAT ? n->ninputs : 1;
    x->moves = rg_mem_calloc(e->alloc, x->nmoves, sizeof *x->moves);
    if (!x->moves) return rg_error_set(err, RG_ERR_NOMEM, "out of memory");
    if (n->op == RG_OP_GATHER) {
        rg_dtype it = n->inputs[1]->dtype;
        if (it != RG_DTYPE_I64 && it != RG_DTYPE_I32)
            return rg_error_set(err, RG_ERR_DTYPE, "input 1 (indices) must be int64 or int32, not %s", rg_dtype_name(it));
        const char *is = it == RG_DTYPE_I64 ? "i64" : "i32";
        snprintf(name, sizeof name, "rg_gather_%zu_%s", esize, is);
        RG_TRY(rg_rt_cuda_kernel_get(e->cuda, lib, name, &x->kernel, err));
        snprintf(name, sizeof name, "rg_gather_8_%s", is);
        return rg_rt_cuda_kernel_get(e->cuda, lib, name, &x->vec, err);
    }
    if (n->op == RG_OP_WHERE) {
        if (n->inputs[0]->dtype != RG_DTYPE_BOOL)
            return rg_error_set(err, RG_ERR_DTYPE, "Where condition of %s", rg_dtype_name(n->inputs[0]->dtype));
        snprintf(name, sizeof name, "rg_where_%zu", esize);
    } else {
        snprintf(name, sizeof name, "rg_copy_strided_%zu", esize);
    }
    return rg_rt_cuda_kernel_get(e->cuda, lib, name, &x->kernel, err);
}

static rg_status prepare_nodes(rg_cuda_exec *e, rg_error *err) {
    const rg_graph *g = e->g;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        exec_node *x = &e->nodes[i];
        const rg_node *n = g->nodes[i];
        size_t m = 0;
        rg_status st = RG_OK;
        switch (x->kind) {
        case NODE_HOST:
            if (!rg_cpu_kernel_for(n->op))
                st = rg_error_set(err, RG_ERR_UNSUPPORTED, "no CPU kernel for %s", rg_op_name(n->op));
            break;
        case NODE_LINEAR: st = prepare_linear(e, i, err); break;
        case NODE_FUSED:
        case NODE_ATTENTION:
            if (!module_of(e->plan, i, &m)) {
                st = rg_error_set(err, RG_ERR_UNSUPPORTED, "the plan has no kernel for this node");
                break;
            }
            st = x->kind == NODE_FUSED ? prepare_fused(e, i, m, err) : prepare_attention(e, i, m, err);
            break;
        case NODE_GATHER:
        case NODE_CAST:
        case NODE_MOVE:
        case NODE_WHERE: st = prepare_movement_node(e, i, err); break;
        }
        if (st != RG_OK) {
            char l[160];
            return rg_error_prefix(err, st, "node %s", label(n, l, sizeof l));
        }
    }
    return RG_OK;
}

/* Nodes the plan's persistent module lists and the executor runs the way
 * the kernel's steps do (a Linear with no epilogue or the erf GELU, the
 * fused attention kernel's nodes, LayerNorms) get the module, loaded once. */
static rg_status prepare_persist(rg_cuda_exec *e, rg_error *err) {
    if (e->info.sm_major < 8) return RG_OK;
    for (size_t m = 0; m < e->plan->nkernels; m++) {
        const rg_ir_kernel *k = &e->plan->kernels[m];
        if (strcmp(k->kind, RG_KABI_PERSISTENT_KIND) != 0) continue;
        for (uint32_t j = 0; j < k->nnodes; j++) {
            uint32_t i = k->nodes[j];
            exec_node *x = &e->nodes[i];
            const rg_node *n = e->g->nodes[i];
            bool fits = (x->kind == NODE_LINEAR && (x->gelu_erf || x->activation == RG_RT_BLASLT_ACT_NONE)) ||
                        (x->kind == NODE_ATTENTION && !x->at.general) ||
                        (x->kind == NODE_FUSED && n->op == RG_OP_LAYER_NORM && n->noutputs == 1);
            if (!fits || !n->noutputs || !rg_kabi_gemm_dtype_ok(n->outputs[0]->dtype)) continue;
            if (!e->modules[m].persist)
                RG_TRY(rg_rt_cuda_persist_load(e->cuda, k->cubin, k->cubin_size, n->outputs[0]->dtype, 0,
                                               e->info.multiprocessors, e->alloc, &e->modules[m].persist, err));
            if (rg_rt_cuda_persist_dtype(e->modules[m].persist) == n->outputs[0]->dtype) x->pk = e->modules[m].persist;
        }
    }
    return RG_OK;
}

/* ------------------------------------------------------------- lifecycle */

static rg_status check_arch(rg_cuda_exec *e, rg_error *err) {
    RG_TRY(rg_rt_cuda_device_info_get(e->cuda, 0, &e->info, err));
    rg_rt_cuda_arch_name(&e->info, e->arch, sizeof e->arch);
    const char *target = e->plan->target;
    if (!e->plan->nkernels || strncmp(target, "sm_", 3) != 0)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "the plan was compiled for '%s', not for a GPU (compile with "
                            "--target %s)", target, e->arch);
    /* sm_90a code runs only on sm_90; plain sm_XX cubins need the same major.minor */
    if (strncmp(target, e->arch, strlen(e->arch)) != 0 || (target[strlen(e->arch)] && strcmp(target + strlen(e->arch), "a")))
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "the plan's kernels are for %s; this GPU (%s) is %s", target,
                            e->info.name, e->arch);
    for (size_t m = 0; m < e->plan->nkernels; m++)
        if (!strcmp(e->plan->kernels[m].kind, "elementwise")) {
            RG_TRY(module_library(e, m, &e->elementwise, err));
            return RG_OK;
        }
    return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "the plan has no elementwise kernel module");
}

#define ARRAY(ptr, count) ((ptr) = rg_mem_calloc(alloc, (count) ? (count) : 1, sizeof *(ptr)))

rg_status rg_cuda_exec_new(const rg_plan *plan, const rg_allocator *alloc, rg_cuda_exec **out, rg_error *err) {
    if (!plan || !plan->graph || !out)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_cuda_exec_new needs a plan and an out pointer");
    if (!alloc) alloc = rg_allocator_default();
    const rg_graph *g = plan->graph;
    if (g->nsymbols > MAX_SYMBOLS)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "the graph has %u symbolic dims; at most %d", g->nsymbols - 1,
                            MAX_SYMBOLS - 1);
    rg_status st;
    rg_cuda_exec *e = rg_mem_calloc(alloc, 1, sizeof *e);
    if (!e) return rg_error_set(err, RG_ERR_NOMEM, "out of memory for the CUDA executor");
    e->plan = plan;
    e->g = g;
    e->alloc = alloc;
    const char *tf32;
    size_t tf32_length;
    e->tf32 = rg_rt_plan_option(plan->options_text, "tf32", &tf32, &tf32_length) && tf32_length == 1 &&
              tf32[0] == '1';
    if (!ARRAY(e->modules, plan->nkernels) || !ARRAY(e->nodes, g->nnodes) || !ARRAY(e->on_device, g->nvalues) ||
        !ARRAY(e->upload, g->nvalues) || !ARRAY(e->last_use, g->nvalues) || !ARRAY(e->const_dev, g->nvalues) ||
        !ARRAY(e->shapes, g->nvalues) || !ARRAY(e->host_owned, g->nvalues) || !ARRAY(e->outputs, g->noutputs) ||
        !ARRAY(e->output_caps, g->noutputs) || !ARRAY(e->pk_runs, g->nnodes) || !ARRAY(e->pk_raw, g->nnodes) ||
        !ARRAY(e->pk_steps, (size_t)g->nnodes + g->nnodes)) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory for the CUDA executor");
        goto fail;
    }
    e->nmodules = plan->nkernels;
    if ((st = rg_rt_cuda_open(alloc, &e->cuda, err)) != RG_OK) goto fail;
    if ((st = rg_rt_cuda_set_device(e->cuda, 0, err)) != RG_OK) goto fail;
    if ((st = check_arch(e, err)) != RG_OK) goto fail;
    /* Plans whose kernels all begin with griddepcontrol.wait (pdl=1) have
     * each launched while the one before it ends (docs/cuda.md, "Launch
     * overlap"); older plans' kernels would race. */
    const char *pdl;
    size_t pdl_length;
    if (e->info.sm_major >= 9 && rg_rt_plan_option(plan->options_text, "pdl", &pdl, &pdl_length) && pdl_length == 1 &&
        pdl[0] == '1')
        rg_rt_cuda_set_programmatic(e->cuda, true);
    if ((st = place_nodes(e, err)) != RG_OK) goto fail;
    if ((st = rg_rt_blaslt_open(e->cuda, alloc, &e->blaslt, err)) != RG_OK) goto fail;
    if ((st = prepare_nodes(e, err)) != RG_OK) goto fail;
    if ((st = prepare_persist(e, err)) != RG_OK) goto fail;
    if ((st = upload_constants(e, err)) != RG_OK) goto fail;
    if (e->nflags && (st = rg_rt_cuda_host_alloc(e->cuda, e->nflags * sizeof(int32_t), (void **)&e->flags_host, err)) != RG_OK)
        goto fail;
    if ((st = rg_rt_cuda_stream_new(e->cuda, &e->stream, err)) != RG_OK) goto fail;
    *out = e;
    return RG_OK;
fail:
    rg_cuda_exec_free(e);
    return st;
}

static void free_host_values(rg_cuda_exec *e) {
    rg_cpu_ctx ctx = cpu_ctx(e);
    for (uint32_t i = 0; i < e->g->nvalues; i++) {
        if (e->host_owned[i]) rg_cpu_free_tensor(&ctx, &e->shapes[i]);
        e->host_owned[i] = false;
    }
}

static void drop_graphs(rg_cuda_exec *e) {
    for (int c = 0; c < SHAPE_CACHE; c++) {
        if (e->cache[c].graph) rg_rt_cuda_graph_free(e->cuda, e->cache[c].graph);
        e->cache[c].graph = NULL;
        e->cache[c].graph_failed = false;
    }
}

#define FREE_ARRAY(ptr, count) rg_mem_free(alloc, (ptr), ((count) ? (count) : 1) * sizeof *(ptr))

void rg_cuda_exec_free(rg_cuda_exec *e) {
    if (!e) return;
    const rg_allocator *alloc = e->alloc;
    const rg_graph *g = e->g;
    if (e->cuda) {
        if (e->stream) rg_rt_cuda_stream_sync(e->cuda, e->stream, NULL);
        drop_graphs(e);
        for (size_t m = 0; e->modules && m < e->nmodules; m++) {
            rg_rt_cuda_attention_free(e->modules[m].attention);
            rg_rt_cuda_gemm_free(e->modules[m].gemm);
            rg_rt_cuda_persist_free(e->modules[m].persist);
            if (e->modules[m].library) rg_rt_cuda_library_free(e->cuda, e->modules[m].library);
        }
        rg_rt_blaslt_close(e->blaslt);
        rg_rt_cuda_free(e->cuda, e->weights);
        rg_rt_cuda_free(e->cuda, e->arena);
        rg_rt_cuda_free(e->cuda, e->pk_scratch);
        for (int c = 0; c < SHAPE_CACHE; c++) rg_rt_cuda_free(e->cuda, e->cache[c].pk_prog);
        if (e->stream) rg_rt_cuda_stream_free(e->cuda, e->stream);
    }
    for (int c = 0; c < SHAPE_CACHE; c++) FREE_ARRAY(e->cache[c].offsets, e->cache[c].offsets ? g->nvalues : 0);
    if (e->host_owned && e->shapes) free_host_values(e);
    for (uint32_t i = 0; e->cuda && e->outputs && i < g->noutputs; i++) rg_rt_cuda_host_free(e->cuda, e->outputs[i].data);
    if (e->cuda) {
        rg_rt_cuda_host_free(e->cuda, e->stage);
        rg_rt_cuda_host_free(e->cuda, e->flags_host);
        for (int k = 0; k < 4; k++) rg_rt_cuda_event_free(e->cuda, e->ev[k]);
        for (int k = 0; k < 2; k++) rg_rt_cuda_event_free(e->cuda, e->tune_ev[k]);
    }
    for (uint32_t i = 0; e->nodes && i < g->nnodes; i++)
        if (e->nodes[i].moves) rg_mem_free(alloc, e->nodes[i].moves, e->nodes[i].nmoves * sizeof *e->nodes[i].moves);
    FREE_ARRAY(e->modules, e->nmodules);
    FREE_ARRAY(e->nodes, g->nnodes);
    FREE_ARRAY(e->pk_runs, g->nnodes);
    FREE_ARRAY(e->pk_raw, g->nnodes);
    FREE_ARRAY(e->pk_steps, (size_t)g->nnodes + g->nnodes);
    FREE_ARRAY(e->on_device, g->nvalues);
    FREE_ARRAY(e->upload, g->nvalues);
    FREE_ARRAY(e->last_use, g->nvalues);
    FREE_ARRAY(e->const_dev, g->nvalues);
    FREE_ARRAY(e->shapes, g->nvalues);
    FREE_ARRAY(e->host_owned, g->nvalues);
    FREE_ARRAY(e->outputs, g->noutputs);
    FREE_ARRAY(e->output_caps, g->noutputs);
    rg_rt_cuda_close(e->cuda);
    rg_mem_free(alloc, e, sizeof *e);
}

/* ------------------------------------------------------------------ run */

static rg_status bind_inputs(rg_cuda_exec *e, const rg_tensor *inputs, size_t ninputs, rg_error *err) {
    const rg_graph *g = e->g;
    RG_TRY(rg_rt_bind_inputs(g, inputs, ninputs, e->sym_values, err));
    for (uint32_t i = 0; i < g->ninputs; i++) e->shapes[g->inputs[i]->id] = inputs[i];
    return RG_OK;
}

/* Concrete shapes of the device values, from their symbolic dims. */
static rg_status size_device_values(rg_cuda_exec *e, rg_error *err) {
    const rg_graph *g = e->g;
    for (uint32_t i = 0; i < g->nvalues; i++) {
        const rg_value *v = g->values[i];
        if (!e->on_device[i]) continue;
        int64_t dims[RG_MAX_RANK];
        for (int d = 0; d < v->rank; d++)
            if (!rg_dim_eval(&v->dims[d], e->sym_values, g->nsymbols, &dims[d]) || dims[d] < 0)
                return rg_error_set(err, RG_ERR_SHAPE, "value '%s': dim %d cannot be sized for these inputs", v->name,
                                    d);
        rg_tensor t = {0};
        RG_TRY(rg_tensor_set_shape(&t, v->dtype, v->rank, dims, err));
        e->shapes[i] = t;
    }
    return RG_OK;
}

static rg_status run_host_nodes(rg_cuda_exec *e, rg_error *err) {
    const rg_graph *g = e->g;
    rg_cpu_ctx ctx = cpu_ctx(e);
    for (uint32_t i = 0; i < g->nnodes; i++) {
        if (e->nodes[i].kind != NODE_HOST) continue;
        const rg_node *n = g->nodes[i];
        const rg_tensor *ins[16];
        rg_tensor outs[8];
        if (n->ninputs > 16 || n->noutputs > 8) return rg_error_set(err, RG_ERR_UNSUPPORTED, "too many inputs");
        for (uint32_t k = 0; k < n->ninputs; k++) {
            const rg_value *v = n->inputs[k];
            ins[k] = !v ? NULL : v->constant ? v->constant : &e->shapes[v->id];
        }
        memset(outs, 0, sizeof outs);
        rg_status st = rg_cpu_kernel_for(n->op)(&ctx, n, ins, outs, err);
        for (uint32_t k = 0; k < n->noutputs; k++) {
            if (!n->outputs[k]) {
                if (outs[k].data) rg_cpu_free_tensor(&ctx, &outs[k]);
                continue;
            }
            e->shapes[n->outputs[k]->id] = outs[k];
            e->host_owned[n->outputs[k]->id] = outs[k].data != NULL;
        }
        if (st != RG_OK) {
            char l[160];
            return rg_error_prefix(err, st, "node %s", label(n, l, sizeof l));
        }
    }
    return RG_OK;
}

/* The memory plan of this shape (cached). */
static rg_status plan_shape(rg_cuda_exec *e, shape_entry **out, rg_error *err) {
    const rg_graph *g = e->g;
    shape_entry *free_slot = NULL, *oldest = &e->cache[0];
    for (int c = 0; c < SHAPE_CACHE; c++) {
        shape_entry *s = &e->cache[c];
        if (s->used && !memcmp(s->syms, e->sym_values, sizeof s->syms)) {
            s->last_use = ++e->clock;
            *out = s;
            return RG_OK;
        }
        if (!s->used && !free_slot) free_slot = s;
        if (s->last_use < oldest->last_use) oldest = s;
    }
    shape_entry *s = free_slot ? free_slot : oldest;
    if (s->graph) rg_rt_cuda_graph_free(e->cuda, s->graph);
    s->graph = NULL;
    s->graph_failed = false;
    s->ways_compared = s->all_fused = false;
    s->pk_compared = s->persistent = false;
    s->used = false;
    const rg_allocator *alloc = e->alloc;
    if (!s->offsets && !ARRAY(s->offsets, g->nvalues)) return rg_error_set(err, RG_ERR_NOMEM, "out of memory");
    rg_rt_memplan_tensor *t = rg_mem_calloc(alloc, g->nvalues + 1, sizeof *t);
    uint32_t *which = rg_mem_calloc(alloc, g->nvalues + 1, sizeof *which);
    rg_status st = RG_OK;
    if (!t || !which) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory planning memory");
        goto done;
    }
    /* Host values the device reads (token ids, position ids) and the
     * attention lengths share one block, so a run copies them in with one
     * copy from the pinned staging buffer laid out the same way. */
    size_t n = 0, block = 0;
    for (uint32_t i = 0; i < g->nvalues; i++) {
        s->offsets[i] = SIZE_MAX;
        if (e->upload[i] && !e->on_device[i]) {
            s->offsets[i] = block; /* relative to the block until it is placed */
            block += (e->shapes[i].nbytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
            continue;
        }
        if (!e->on_device[i]) continue;
        uint32_t first = g->values[i]->producer->id;
        uint32_t last = e->last_use[i] > first ? e->last_use[i] : first;
        t[n] = (rg_rt_memplan_tensor){e->shapes[i].nbytes, first, last, 0};
        which[n++] = i;
    }
    int64_t batch = 1;
    if (e->mask) batch = e->shapes[e->mask->id].dims[0];
    size_t aux_local = block;
    block += (size_t)(2 * batch + 1) * sizeof(int32_t);
    size_t flags_local = block;
    block += e->nflags * sizeof(int32_t);
    t[n] = (rg_rt_memplan_tensor){block, 0, g->nnodes, 0};
    rg_rt_memplan_result r;
    if ((st = rg_rt_memplan_solve(t, n + 1, ARENA_ALIGN, alloc, &r, err)) != RG_OK) goto done;
    for (size_t k = 0; k < n; k++) s->offsets[which[k]] = t[k].offset;
    s->in_offset = t[n].offset;
    s->in_bytes = block;
    for (uint32_t i = 0; i < g->nvalues; i++)
        if (e->upload[i] && !e->on_device[i]) s->offsets[i] += s->in_offset;
    s->aux_offset = s->in_offset + aux_local;
    s->flags_offset = s->in_offset + flags_local;
    s->arena_bytes = r.arena_bytes;
    s->lower_bound = r.lower_bound;
    memcpy(s->syms, e->sym_values, sizeof s->syms);
    s->used = true;
    s->last_use = ++e->clock;
    *out = s;
done:
    rg_mem_free(alloc, t, (g->nvalues + 1) * sizeof *t);
    rg_mem_free(alloc, which, (g->nvalues + 1) * sizeof *which);
    return st;
}

static rg_status ensure_arena(rg_cuda_exec *e, size_t bytes, rg_error *err) {
    if (bytes <= e->arena_cap) return RG_OK;
    /* every captured graph holds pointers into the old arena */
    RG_TRY(rg_rt_cuda_stream_sync(e->cuda, e->stream, err));
    drop_graphs(e);
    rg_rt_cuda_free(e->cuda, e->arena);
    e->arena = NULL;
    e->arena_cap = 0;
    size_t cap = bytes + bytes / 4; /* grow in steps, not per shape */
    RG_TRY(rg_rt_cuda_malloc(e->cuda, cap, &e->arena, err));
    e->arena_cap = cap;
    return RG_OK;
}

static void *device_ptr(rg_cuda_exec *e, const rg_value *v) {
    if (!v) return NULL;
    if (v->constant) return e->const_dev[v->id];
    size_t off = e->current->offsets[v->id];
    return off == SIZE_MAX ? NULL : (char *)e->arena + off;
}

/* A device view of a value: its concrete shape and device address. */
static rg_tensor device_tensor(rg_cuda_exec *e, const rg_value *v) {
    rg_tensor t = v->constant ? *v->constant : e->shapes[v->id];
    t.data = device_ptr(e, v);
    return t;
}

/* Lengths for the attention kernel from the [B, S] mask: sequence b's keys
 * are its first len[b] tokens, so the mask must be right padding. Written
 * into the staging buffer at the aux slot. */
/* Dynamic Attention nodes run the general kernel when this run's mask is
 * not right padding. Captured graphs hold the other choice when it changes,
 * so they are dropped; with no general kernel (an older plan) it is an
 * error, as before. */
static rg_status attention_mode(rg_cuda_exec *e, bool general, rg_error *err) {
    if (general) {
        bool dynamic = false;
        for (uint32_t i = 0; i < e->g->nnodes; i++) dynamic |= e->nodes[i].at.dynamic;
        if (!dynamic)
            return rg_error_set(err, RG_ERR_UNSUPPORTED, "mask '%s' is not right padding and the plan has no general "
                                "attention kernel (the fused one takes lengths)", e->mask->name);
    }
    if (general == e->mask_general) return RG_OK;
    RG_TRY(rg_rt_cuda_stream_sync(e->cuda, e->stream, err));
    drop_graphs(e);
    e->mask_general = general;
    return RG_OK;
}

static rg_status stage_aux(rg_cuda_exec *e, rg_error *err) {
    int64_t batch = 1, seq = 0;
    const rg_tensor *m = e->mask ? &e->shapes[e->mask->id] : NULL;
    if (m) {
        if (m->rank != 2) return rg_error_set(err, RG_ERR_SHAPE, "mask '%s' is not [B, S]", e->mask->name);
        batch = m->dims[0];
        seq = m->dims[1];
    }
    int32_t *cu = (int32_t *)((char *)e->stage + (e->current->aux_offset - e->current->in_offset));
    int32_t *lens = cu + batch + 1;
    bool general = false; /* some sequence is not right padding */
    for (int64_t b = 0; b <= batch; b++) cu[b] = (int32_t)(b * seq);
    for (int64_t b = 0; m && b < batch; b++) {
        /* the length is the count of nonzeros; right padding means they all come first */
        int64_t len = 0;
        bool ok = true;
        if (m->dtype == RG_DTYPE_I64) {
            const int64_t *row = (const int64_t *)m->data + b * seq;
            while (len < seq && row[len]) len++;
            for (int64_t j = len; j < seq; j++) ok &= row[j] == 0;
        } else if (m->dtype == RG_DTYPE_I32) {
            const int32_t *row = (const int32_t *)m->data + b * seq;
            while (len < seq && row[len]) len++;
            for (int64_t j = len; j < seq; j++) ok &= row[j] == 0;
        } else {
            while (len < seq && rg_load_as_double(m->dtype, m->data, (size_t)(b * seq + len)) != 0) len++;
            for (int64_t j = len; j < seq; j++) ok &= rg_load_as_double(m->dtype, m->data, (size_t)(b * seq + j)) == 0;
        }
        if (!ok) general = true;
        lens[b] = (int32_t)len;
    }
    return attention_mode(e, general, err);
}

static rg_status record(rg_cuda_exec *e, rg_rt_cuda_event ev, rg_error *err) {
    /* inside a capture only an external record becomes a node the replays record (and only there is it legal) */
    if (!ev) return RG_OK;
    return e->capturing ? rg_rt_cuda_event_record_external(e->cuda, ev, e->stream, err)
                        : rg_rt_cuda_event_record(e->cuda, ev, e->stream, err);
}

static unsigned grid_for(int64_t total, unsigned threads) {
    int64_t blocks = (total + threads - 1) / threads;
    if (blocks < 1) blocks = 1;
    if (blocks > 65535) blocks = 65535;
    return (unsigned)blocks;
}

static rg_status launch_flat(rg_cuda_exec *e, rg_rt_cuda_kernel kernel, void **args, int64_t total, rg_error *err) {
    unsigned grid[3] = {grid_for(total, 256), 1, 1}, block[3] = {256, 1, 1};
    return rg_rt_cuda_launch(e->cuda, kernel, grid, block, args, 0, e->stream, err);
}

/* y[m, n] = gelu_erf(y + bias) in place: 16-byte vectors when the row
 * length and both addresses allow (every BERT shape), else element by
 * element. The kernels are grid-strided past 65535 blocks. */
static rg_status run_bias_gelu(rg_cuda_exec *e, const exec_node *x, void *y, const void *bias, int64_t m, int64_t n,
                               rg_dtype dtype, rg_error *err) {
    int64_t width = (int64_t)(16 / rg_dtype_size(dtype));
    bool vec = n % width == 0 && (uintptr_t)y % 16 == 0 && (uintptr_t)bias % 16 == 0;
    int64_t total = m * n, cols = n;
    if (vec) {
        total /= width;
        cols /= width;
    }
    void *args[4] = {&y, (void *)&bias, &total, &cols};
    /* the vector kernel takes 4 vectors per thread (RG_GELU_UNROLL in elementwise.cu) */
    return launch_flat(e, vec ? x->vec : x->scalar, args, vec ? (total + 3) / 4 : total, err);
}

/* The Linear through cuBLASLt, then for an erf-GELU one the bias+GELU pass. */
static rg_status run_blaslt(rg_cuda_exec *e, const exec_node *x, const rg_rt_blaslt_linear_desc *d, const void *bias,
                            rg_error *err) {
    RG_TRY(rg_rt_blaslt_linear(e->blaslt, d, e->stream, err));
    if (!x->gelu_erf) return RG_OK;
    if (e->prof_ev) RG_TRY(record(e, e->prof_ev[2 * (size_t)e->prof_node + 1], err));
    if (x->bias_gelu) return run_bias_gelu(e, x, d->y, bias, d->m, d->n, d->dtype, err);
    int64_t total = d->m * d->n;
    void *y = d->y;
    void *args[2] = {&y, &total};
    return launch_flat(e, x->kernel, args, total, err);
}

/* The decision for this product shape and epilogue, or NULL when none was made. */
static const gemm_choice *gemm_choice_of(const rg_cuda_exec *e, const rg_rt_gemm_args *a, rg_dtype dtype) {
    for (uint32_t c = 0; c < e->ngemm_choices; c++) {
        const gemm_choice *g = &e->gemm_choices[c];
        if (g->m == a->m && g->n == a->n && g->k == a->k && g->dtype == dtype && g->gelu == a->gelu) return g;
    }
    return NULL;
}

/* Whether the way this product runs is decided, and which (*fused; true,
 * the wgmma GEMM, where it is not): the whole replay's way for this shape
 * (compare_ways), else this product's timed choice (choose_way). */
static bool known_way(const rg_cuda_exec *e, const rg_rt_gemm_args *a, rg_dtype dtype, bool *fused) {
    *fused = true;
    if (e->force_fused || (e->current && e->current->all_fused)) return true;
    const gemm_choice *c = gemm_choice_of(e, a, dtype);
    if (c) *fused = c->fused;
    return c != NULL;
}

/* The two events choose_way and compare_ways time with, made on first use. */
static rg_status tune_events(rg_cuda_exec *e, rg_error *err) {
    for (int k = 0; k < 2; k++)
        if (!e->tune_ev[k]) RG_TRY(rg_rt_cuda_event_new(e->cuda, &e->tune_ev[k], err));
    return RG_OK;
}

/* One run of a Linear one way, as rg_rt_cuda_time_calls issues it. */
typedef struct way_run {
    rg_cuda_exec *e;
    const exec_node *x;
    const rg_rt_blaslt_linear_desc *d;
    const void *bias;
    const rg_rt_gemm_args *a;
    bool fused;
} way_run;

static rg_status run_way(void *ctx, rg_rt_cuda_stream stream, rg_error *err) {
    const way_run *w = ctx;
    return w->fused ? rg_rt_cuda_gemm_launch(w->x->gemm, w->a, stream, err) : run_blaslt(w->e, w->x, w->d, w->bias, err);
}

/* Whether this Linear runs on the wgmma GEMM. Neither way wins everywhere:
 * with few rows its split-K tiles spread a product over every SM and an
 * erf-GELU Linear saves a launch and a pass, while at 64 x 512 cuBLASLt's
 * GEMM is fast enough (about 700 TFLOP/s against about 420) that it and the
 * bias+GELU pass take as long. So the first run of a shape
 * outside a capture times both on the run's own operands, each from a CUDA
 * graph of TUNE_RUNS runs (rg_rt_cuda_time_calls: issued one by one, small
 * kernels would time the host), and remembers the faster (Y ends up the
 * same either way); inside a capture, while profiling, or once GEMM_CHOICES
 * shapes are remembered, a shape not decided runs fused. */
#define TUNE_RUNS 5
static rg_status choose_way(rg_cuda_exec *e, const exec_node *x, const rg_rt_blaslt_linear_desc *d, const void *bias,
                            const rg_rt_gemm_args *a, bool *fused, rg_error *err) {
    if (known_way(e, a, d->dtype, fused) || e->capturing || e->prof_ev || e->ngemm_choices == GEMM_CHOICES)
        return RG_OK;
    RG_TRY(tune_events(e, err));
    float ms[2] = {0, 0}; /* cuBLASLt and the pass, fused */
    for (int way = 0; way < 2; way++) {
        way_run run = {e, x, d, bias, a, way == 1};
        RG_TRY(rg_rt_cuda_time_calls(e->cuda, e->stream, run_way, &run, TUNE_RUNS, e->tune_ev, &ms[way], err));
    }
    *fused = ms[1] <= ms[0];
    e->gemm_choices[e->ngemm_choices++] = (gemm_choice){a->m, a->n, a->k, d->dtype, a->gelu, *fused};
    return RG_OK;
}

static rg_status run_linear(rg_cuda_exec *e, const rg_node *n, exec_node *x, rg_error *err) {
    rg_tensor in = device_tensor(e, n->inputs[0]);
    const rg_tensor *w = n->inputs[1]->constant;
    rg_rt_blaslt_linear_desc d = {0};
    d.k = w->dims[0];
    d.n = w->dims[1];
    d.m = d.k ? (int64_t)(rg_tensor_numel(&in) / (size_t)d.k) : 0;
    d.dtype = n->outputs[0]->dtype;
    d.activation = x->activation;
    d.allow_tf32 = e->tf32;
    d.batch = 1;
    d.x = in.data;
    d.w = device_ptr(e, n->inputs[1]);
    const void *bias = n->ninputs > 2 ? device_ptr(e, n->inputs[2]) : NULL;
    d.bias = x->bias_gelu ? NULL : bias;
    d.y = device_ptr(e, n->outputs[0]);
    if (d.m == 0) return RG_OK;
    rg_rt_gemm_args a = {.x = d.x, .w = d.w, .bias = bias, .y = d.y, .m = d.m, .n = d.n, .k = d.k,
                         .gelu = x->gelu_erf, .tile = -1, .sm_count = e->info.multiprocessors};
    if (x->gemm && rg_rt_cuda_gemm_fits(&a)) {
        bool fused;
        RG_TRY(choose_way(e, x, &d, bias, &a, &fused, err));
        if (fused) {
            /* an erf GELU in the GEMM's epilogue: one pass over Y, not two */
            RG_TRY(rg_rt_cuda_gemm_launch(x->gemm, &a, e->stream, err));
            /* profiling: the node's end event (for an erf-GELU Linear it is recorded here, see launch_all) */
            return e->prof_ev && x->gelu_erf ? record(e, e->prof_ev[2 * (size_t)e->prof_node + 1], err) : RG_OK;
        }
        e->declined++;
    }
    return run_blaslt(e, x, &d, bias, err);
}

/* The general kernel's parameters: the same members in the same order as
 * rg_attention_general_params in codegen/kernels/attention_general.cu. */
typedef struct attention_general_params {
    const void *qkv;
    void *out;
    const void *mask;
    const void *bias;
    int64_t mask_strides[4];
    int64_t bias_strides[4];
    int mask_kind, mask_dtype;
    int batch, seq, heads, head_dim;
    float scale;
    int causal;
    int uniform;
} attention_general_params;

/* Element strides of an additive input over [B, H, S, S] (numpy broadcast,
 * aligned at the right; 0 along broadcast dims). */
static rg_status broadcast_strides(const rg_tensor *t, const int64_t full[4], const char *what, int64_t strides[4],
                                   rg_error *err) {
    if (t->rank > 4) return rg_error_set(err, RG_ERR_SHAPE, "attention %s has rank %d; at most 4", what, t->rank);
    int64_t step = 1;
    for (int a = 3; a >= 0; a--) {
        int src = a - (4 - t->rank);
        strides[a] = 0;
        if (src < 0) continue;
        int64_t d = t->dims[src];
        if (d != 1 && d != full[a])
            return rg_error_set(err, RG_ERR_SHAPE, "attention %s dim %d is %lld; it must be 1 or %lld", what, src,
                                (long long)d, (long long)full[a]);
        if (d != 1) strides[a] = step;
        step *= d;
    }
    return RG_OK;
}

static int mask_dtype_code(rg_dtype d) {
    switch (d) {
    case RG_DTYPE_BOOL: return 0;
    case RG_DTYPE_I32: return 1;
    case RG_DTYPE_I64: return 2;
    case RG_DTYPE_F32: return 3;
    case RG_DTYPE_F16: return 4;
    default: return 5;
    }
}

/* One block per (query, head, sequence), the row's scores in shared memory. */
static rg_status run_attention_general(rg_cuda_exec *e, const rg_node *n, exec_node *x, const rg_tensor *qkv,
                                       rg_error *err) {
    const attention_plan *at = &x->at;
    int64_t batch = qkv->dims[0], seq = qkv->dims[1];
    size_t shared = (size_t)(seq + at->head_dim) * sizeof(float);
    if (shared > 48 * 1024 || batch > 65535 || x->heads > 65535)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "the general attention kernel takes at most %d keys and 65535 "
                            "sequences and heads (%lld x %lld, %d heads)", 48 * 256 - at->head_dim, (long long)batch,
                            (long long)seq, x->heads);
    attention_general_params p;
    memset(&p, 0, sizeof p);
    p.qkv = qkv->data;
    p.out = device_ptr(e, n->outputs[0]);
    p.batch = (int)batch;
    p.seq = (int)seq;
    p.heads = x->heads;
    p.head_dim = at->head_dim;
    p.scale = x->scale;
    p.causal = at->causal;
    p.uniform = at->uniform;
    int64_t full[4] = {batch, x->heads, seq, seq};
    const rg_value *mask = n->ninputs > 1 ? n->inputs[1] : NULL;
    if (mask) {
        rg_tensor m = device_tensor(e, mask);
        const char *kind;
        RG_TRY(rg_node_attr_string(n, "mask_kind", "none", &kind, err));
        p.mask = m.data;
        if (!strcmp(kind, "key_padding")) {
            if (m.rank != 2 || m.dims[0] != batch || m.dims[1] != seq)
                return rg_error_set(err, RG_ERR_SHAPE, "key_padding mask '%s' is not [%lld, %lld]", mask->name,
                                    (long long)batch, (long long)seq);
            p.mask_kind = 2;
            p.mask_dtype = mask_dtype_code(m.dtype);
        } else {
            p.mask_kind = 1;
            RG_TRY(broadcast_strides(&m, full, "mask", p.mask_strides, err));
        }
    }
    if (n->ninputs > 2 && n->inputs[2]) {
        rg_tensor b = device_tensor(e, n->inputs[2]);
        p.bias = b.data;
        RG_TRY(broadcast_strides(&b, full, "bias", p.bias_strides, err));
    }
    unsigned grid[3] = {(unsigned)seq, (unsigned)x->heads, (unsigned)batch}, block[3] = {128, 1, 1};
    void *args[1] = {&p};
    return rg_rt_cuda_launch(e->cuda, at->general_kernel, grid, block, args, (unsigned)shared, e->stream, err);
}

static rg_status run_attention(rg_cuda_exec *e, const rg_node *n, exec_node *x, rg_error *err) {
    rg_tensor qkv = device_tensor(e, n->inputs[0]);
    int64_t hd = (int64_t)x->heads * x->variant.head_dim;
    size_t esize = rg_dtype_size(qkv.dtype);
    int64_t batch = qkv.dims[0], seq = qkv.dims[1];
    if (batch == 0 || seq == 0) return RG_OK;
    if (x->at.general || (x->at.dynamic && e->mask_general)) return run_attention_general(e, n, x, &qkv, err);
    int32_t *aux = (int32_t *)((char *)e->arena + e->current->aux_offset);
    rg_rt_attention_args a = {0};
    a.q = qkv.data;
    a.k = (const char *)qkv.data + (size_t)hd * esize;
    a.v = (const char *)qkv.data + 2 * (size_t)hd * esize;
    a.q_stride = a.k_stride = a.v_stride = 3 * hd;
    a.out = device_ptr(e, n->outputs[0]);
    a.cu_seqlens = aux;
    a.seqlens_k = e->mask && n->ninputs > 1 && n->inputs[1] ? aux + batch + 1 : NULL;
    a.batch = (int)batch;
    a.heads = x->heads;
    a.max_seqlen = (int)seq;
    a.scale = x->scale;
    a.sm_count = e->info.multiprocessors;
    RG_TRY(rg_rt_cuda_attention_launch(x->attention, &a, e->stream, err));
    if (!x->at.uniform_below || !a.seqlens_k || !x->at.fixup) return RG_OK;
    /* sequences with no key: the fused kernel wrote zeros; "uniform" wants the mean of V */
    if (batch > 65535) return rg_error_set(err, RG_ERR_UNSUPPORTED, "more than 65535 sequences");
    const void *lens = a.seqlens_k;
    int below = x->at.uniform_below, s32 = (int)seq, heads = x->heads, dim = x->at.head_dim;
    void *args[7] = {&qkv.data, &a.out, (void *)&lens, &below, &s32, &heads, &dim};
    unsigned grid[3] = {(unsigned)heads, (unsigned)batch, 1}, block[3] = {128, 1, 1};
    return rg_rt_cuda_launch(e->cuda, x->at.fixup, grid, block, args, 0, e->stream, err);
}

static rg_status run_fused(rg_cuda_exec *e, const rg_node *n, exec_node *x, rg_error *err) {
    rg_tensor ins[RG_KABI_FUSED_MAX_INPUTS];
    const rg_tensor *inp[RG_KABI_FUSED_MAX_INPUTS];
    void *outs[RG_KABI_FUSED_MAX_OUTPUTS];
    for (uint32_t k = 0; k < n->ninputs && k < RG_KABI_FUSED_MAX_INPUTS; k++) {
        inp[k] = NULL;
        if (!n->inputs[k] || x->fused.input_kind[k] == RG_KABI_FUSED_IN_UNUSED) continue;
        ins[k] = device_tensor(e, n->inputs[k]);
        inp[k] = &ins[k];
    }
    for (uint32_t k = 0; k < n->noutputs && k < RG_KABI_FUSED_MAX_OUTPUTS; k++) outs[k] = device_ptr(e, n->outputs[k]);
    return rg_rt_fused_launch(e->cuda, &x->fused, x->vec, x->scalar, inp, outs, e->stream, err);
}

static rg_status run_cast(rg_cuda_exec *e, const rg_node *n, exec_node *x, rg_error *err) {
    rg_tensor in = device_tensor(e, n->inputs[0]);
    void *out = device_ptr(e, n->outputs[0]);
    int64_t total = (int64_t)rg_tensor_numel(&in);
    if (total == 0) return RG_OK;
    if (!x->kernel) return rg_rt_cuda_copy_on_device(e->cuda, out, in.data, in.nbytes, e->stream, err);
    if (x->any_cast) {
        void *any[5] = {&out, &in.data, &total, &x->cast_from, &x->cast_to};
        return launch_flat(e, x->kernel, any, total, err);
    }
    void *args[3] = {&out, &in.data, &total};
    return launch_flat(e, x->kernel, args, total, err);
}

/* ------------------------------------------------------- data movement */

/* Gather, Transpose, Expand, Slice, Concat, Where, the Reshape family and
 * Cast on device values. Their kernel arguments (strides, offsets, sizes)
 * come from this run's shapes and host values (Slice starts, Concat axis
 * sizes), computed each run by prepare_moves; a captured graph holds the
 * arguments of its capture, so a shape entry remembers their hash and drops
 * its graph when they change. */

static const rg_tensor *value_shape(const rg_cuda_exec *e, const rg_value *v) {
    return v->constant ? v->constant : &e->shapes[v->id];
}

static void contiguous_strides(int rank, const int64_t *dims, int64_t *strides) {
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        strides[d] = s;
        s *= dims[d];
    }
}

/* Up to `max` integers of a host int32/int64 tensor. */
static rg_status host_ints(const rg_tensor *t, const char *what, int64_t *out, int max, int *count, rg_error *err) {
    if (t->dtype != RG_DTYPE_I64 && t->dtype != RG_DTYPE_I32)
        return rg_error_set(err, RG_ERR_DTYPE, "%s must be int64 or int32, not %s", what, rg_dtype_name(t->dtype));
    size_t n = rg_tensor_numel(t);
    if (n > (size_t)max) return rg_error_set(err, RG_ERR_SHAPE, "%s has %zu entries; at most %d", what, n, max);
    if (n && !t->data) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "%s has no host data", what);
    for (size_t i = 0; i < n; i++)
        out[i] = t->dtype == RG_DTYPE_I64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
    *count = (int)n;
    return RG_OK;
}

static bool same_dims(const move_params *p, const rg_tensor *out) {
    if (p->rank != out->rank) return false;
    for (int d = 0; d < out->rank; d++)
        if (p->dims[d] != out->dims[d]) return false;
    return true;
}

/* Input j read through numpy broadcasting into the iteration shape. */
static rg_status broadcast_into(move_params *p, int j, const rg_tensor *in, const char *what, rg_error *err) {
    if (in->rank > p->rank)
        return rg_error_set(err, RG_ERR_SHAPE, "%s has rank %d, more than the output's %lld", what, in->rank,
                            (long long)p->rank);
    int64_t strides[RG_MAX_RANK];
    contiguous_strides(in->rank, in->dims, strides);
    for (int d = 0; d < p->rank; d++) {
        int src = d - ((int)p->rank - in->rank);
        p->in_strides[j][d] = 0;
        if (src < 0) continue;
        if (in->dims[src] != 1 && in->dims[src] != p->dims[d])
            return rg_error_set(err, RG_ERR_SHAPE, "%s dim %d is %lld; it must be 1 or %lld", what, src,
                                (long long)in->dims[src], (long long)p->dims[d]);
        if (in->dims[src] != 1) p->in_strides[j][d] = strides[src];
    }
    return RG_OK;
}

/* The iteration shape is the output's, written contiguously. */
static void iterate_output(move_params *p, const rg_tensor *out) {
    memset(p, 0, sizeof *p);
    p->rank = out->rank;
    for (int d = 0; d < out->rank; d++) p->dims[d] = out->dims[d];
    contiguous_strides(out->rank, out->dims, p->out_strides);
    p->total = (int64_t)rg_tensor_numel(out);
}

static rg_status move_transpose(const rg_node *n, const rg_tensor *in, const rg_tensor *out, move_params *p,
                                rg_error *err) {
    const int64_t *perm;
    size_t count;
    RG_TRY(rg_node_attr_ints(n, "perm", &perm, &count, err));
    int64_t rev[RG_MAX_RANK];
    if (!perm) {
        for (int d = 0; d < in->rank; d++) rev[d] = in->rank - 1 - d;
        perm = rev;
        count = (size_t)in->rank;
    }
    if (count != (size_t)in->rank)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "perm has %zu entries for data of rank %d", count, in->rank);
    int64_t strides[RG_MAX_RANK];
    contiguous_strides(in->rank, in->dims, strides);
    iterate_output(p, out);
    bool seen[RG_MAX_RANK] = {false};
    for (int d = 0; d < in->rank; d++) {
        if (perm[d] < 0 || perm[d] >= in->rank || seen[perm[d]])
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "perm is not a permutation of 0..%d", in->rank - 1);
        seen[perm[d]] = true;
        if (out->rank != in->rank || out->dims[d] != in->dims[perm[d]])
            return rg_error_set(err, RG_ERR_SHAPE, "output dim %d is not input dim %lld", d, (long long)perm[d]);
        p->in_strides[0][d] = strides[perm[d]];
    }
    return RG_OK;
}

/* ONNX Slice on one axis of size dim: first index and count. */
static int64_t slice_count(int64_t dim, int64_t step, int64_t *start, int64_t end) {
    int64_t s = *start, e = end;
    if (s < 0) s = s < -dim ? -1 : s + dim; /* -1: before the first element */
    if (e < 0) e = e < -dim ? -1 : e + dim;
    if (step > 0) {
        if (s < 0) s = 0;
        if (s > dim) s = dim;
        if (e < 0) e = 0;
        if (e > dim) e = dim;
        *start = s;
        return e > s ? (e - s + step - 1) / step : 0;
    }
    if (s > dim - 1) s = dim - 1;
    if (e > dim - 1) e = dim - 1;
    *start = s;
    if (s < 0) return 0;
    return s > e ? (s - e + (-step) - 1) / (-step) : 0;
}

static rg_status move_slice(rg_cuda_exec *e, const rg_node *n, const rg_tensor *in, const rg_tensor *out,
                            move_params *p, rg_error *err) {
    int64_t starts[RG_MAX_RANK], ends[RG_MAX_RANK], axes[RG_MAX_RANK], steps[RG_MAX_RANK];
    int ns, ne, na, nst;
    if (n->ninputs < 3 || !n->inputs[1] || !n->inputs[2])
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "Slice without starts and ends inputs");
    RG_TRY(host_ints(value_shape(e, n->inputs[1]), "input 1 (starts)", starts, RG_MAX_RANK, &ns, err));
    RG_TRY(host_ints(value_shape(e, n->inputs[2]), "input 2 (ends)", ends, RG_MAX_RANK, &ne, err));
    if (ne != ns) return rg_error_set(err, RG_ERR_SHAPE, "starts has %d entries, ends %d", ns, ne);
    if (n->ninputs > 3 && n->inputs[3]) {
        RG_TRY(host_ints(value_shape(e, n->inputs[3]), "input 3 (axes)", axes, RG_MAX_RANK, &na, err));
        if (na != ns) return rg_error_set(err, RG_ERR_SHAPE, "axes has %d entries, starts %d", na, ns);
    } else {
        for (int i = 0; i < ns; i++) axes[i] = i;
    }
    if (n->ninputs > 4 && n->inputs[4]) {
        RG_TRY(host_ints(value_shape(e, n->inputs[4]), "input 4 (steps)", steps, RG_MAX_RANK, &nst, err));
        if (nst != ns) return rg_error_set(err, RG_ERR_SHAPE, "steps has %d entries, starts %d", nst, ns);
    } else {
        for (int i = 0; i < ns; i++) steps[i] = 1;
    }
    int64_t strides[RG_MAX_RANK];
    contiguous_strides(in->rank, in->dims, strides);
    memset(p, 0, sizeof *p);
    p->rank = in->rank;
    for (int d = 0; d < in->rank; d++) {
        p->dims[d] = in->dims[d];
        p->in_strides[0][d] = strides[d];
    }
    bool seen[RG_MAX_RANK] = {false};
    for (int i = 0; i < ns; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + in->rank : axes[i];
        if (a < 0 || a >= in->rank || seen[a])
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "axis %lld is out of range or repeated",
                                (long long)axes[i]);
        seen[a] = true;
        if (steps[i] == 0) return rg_error_set(err, RG_ERR_INVALID_MODEL, "step 0 on axis %lld", (long long)a);
        int64_t step = steps[i] == INT64_MIN ? -INT64_MAX : steps[i], s = starts[i];
        int64_t count = slice_count(in->dims[a], step, &s, ends[i]);
        p->dims[a] = count;
        p->in_strides[0][a] = count > 1 ? step * strides[a] : 0;
        if (count > 0) p->in_offset[0] += s * strides[a];
    }
    if (!same_dims(p, out))
        return rg_error_set(err, RG_ERR_SHAPE, "the slice's shape differs from the one sized for output '%s'",
                            n->outputs[0]->name);
    contiguous_strides(out->rank, out->dims, p->out_strides);
    p->total = (int64_t)rg_tensor_numel(out);
    return RG_OK;
}

static rg_status move_concat(rg_cuda_exec *e, const rg_node *n, exec_node *x, const rg_tensor *out, rg_error *err) {
    int64_t axis;
    RG_TRY(rg_node_attr_int(n, "axis", 0, &axis, err));
    if (axis < 0) axis += out->rank;
    if (axis < 0 || axis >= out->rank) return rg_error_set(err, RG_ERR_INVALID_MODEL, "axis out of range");
    int64_t out_strides[RG_MAX_RANK], at = 0;
    contiguous_strides(out->rank, out->dims, out_strides);
    for (uint32_t k = 0; k < n->ninputs; k++) {
        move_params *p = &x->moves[k];
        memset(p, 0, sizeof *p);
        if (!n->inputs[k]) continue;
        const rg_tensor *in = value_shape(e, n->inputs[k]);
        if (in->rank != out->rank)
            return rg_error_set(err, RG_ERR_SHAPE, "input %u has rank %d; the output %d", k, in->rank, out->rank);
        for (int d = 0; d < out->rank; d++)
            if (d != axis && in->dims[d] != out->dims[d])
                return rg_error_set(err, RG_ERR_SHAPE, "input %u dim %d is %lld; the output's %lld", k, d,
                                    (long long)in->dims[d], (long long)out->dims[d]);
        p->rank = in->rank;
        for (int d = 0; d < in->rank; d++) {
            p->dims[d] = in->dims[d];
            p->out_strides[d] = out_strides[d];
        }
        contiguous_strides(in->rank, in->dims, p->in_strides[0]);
        p->out_offset = at * out_strides[axis];
        p->total = (int64_t)rg_tensor_numel(in);
        at += in->dims[axis];
    }
    if (at != out->dims[axis])
        return rg_error_set(err, RG_ERR_SHAPE, "the inputs give %lld along axis %lld; the output has %lld",
                            (long long)at, (long long)axis, (long long)out->dims[axis]);
    return RG_OK;
}

/* Every index of a host value against the axis, before anything runs. */
static rg_status check_host_indices(const rg_tensor *idx, int64_t dim, rg_error *err) {
    size_t count = rg_tensor_numel(idx);
    if (count && !idx->data) return RG_OK; /* not a host value */
    for (size_t i = 0; i < count; i++) {
        int64_t v = idx->dtype == RG_DTYPE_I64 ? ((const int64_t *)idx->data)[i] : ((const int32_t *)idx->data)[i];
        if (v < -dim || v >= dim)
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT,
                                "input 1 (indices) holds %lld at position %zu, out of range for an axis of size %lld",
                                (long long)v, i, (long long)dim);
    }
    return RG_OK;
}

static rg_status move_gather(rg_cuda_exec *e, const rg_node *n, exec_node *x, const rg_tensor *out, rg_error *err) {
    const rg_tensor *data = value_shape(e, n->inputs[0]), *idx = value_shape(e, n->inputs[1]);
    int64_t axis;
    RG_TRY(rg_node_attr_int(n, "axis", 0, &axis, err));
    if (axis < 0) axis += data->rank;
    if (axis < 0 || axis >= data->rank) return rg_error_set(err, RG_ERR_INVALID_MODEL, "axis out of range");
    gather_dims *gd = &x->gather;
    gd->outer = gd->inner = 1;
    for (int d = 0; d < axis; d++) gd->outer *= data->dims[d];
    for (int d = (int)axis + 1; d < data->rank; d++) gd->inner *= data->dims[d];
    gd->axis_dim = data->dims[axis];
    gd->n = (int64_t)rg_tensor_numel(idx);
    if ((size_t)(gd->outer * gd->n * gd->inner) != rg_tensor_numel(out) || out->rank != data->rank - 1 + idx->rank)
        return rg_error_set(err, RG_ERR_SHAPE, "the gather's shape differs from the one sized for output '%s'",
                            n->outputs[0]->name);
    if (!e->on_device[n->inputs[1]->id] || n->inputs[1]->constant)
        RG_TRY(check_host_indices(idx, gd->axis_dim, err));
    return RG_OK;
}

static rg_status prepare_move(rg_cuda_exec *e, const rg_node *n, exec_node *x, rg_error *err) {
    const rg_tensor *out = &e->shapes[n->outputs[0]->id];
    const rg_tensor *in = value_shape(e, n->inputs[0]);
    switch (n->op) {
    case RG_OP_GATHER: return move_gather(e, n, x, out, err);
    case RG_OP_CONCAT: return move_concat(e, n, x, out, err);
    case RG_OP_TRANSPOSE: return move_transpose(n, in, out, &x->moves[0], err);
    case RG_OP_SLICE: return move_slice(e, n, in, out, &x->moves[0], err);
    case RG_OP_EXPAND:
        iterate_output(&x->moves[0], out);
        return broadcast_into(&x->moves[0], 0, in, "input 0", err);
    case RG_OP_WHERE:
        iterate_output(&x->moves[0], out);
        for (int j = 0; j < 3; j++) {
            static const char *const what[3] = {"input 0 (condition)", "input 1 (X)", "input 2 (Y)"};
            RG_TRY(broadcast_into(&x->moves[0], j, value_shape(e, n->inputs[j]), what[j], err));
        }
        return RG_OK;
    default:
        /* the Reshape family: the same bytes */
        if (rg_tensor_numel(in) != rg_tensor_numel(out))
            return rg_error_set(err, RG_ERR_SHAPE, "%zu elements in, %zu sized for output '%s'", rg_tensor_numel(in),
                                rg_tensor_numel(out), n->outputs[0]->name);
        return RG_OK;
    }
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t size) {
    const unsigned char *b = p;
    for (size_t i = 0; i < size; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* This run's arguments of every movement node, and their hash. */
static rg_status prepare_moves(rg_cuda_exec *e, rg_error *err) {
    uint64_t h = 14695981039346656037ull;
    for (uint32_t i = 0; i < e->g->nnodes; i++) {
        exec_node *x = &e->nodes[i];
        if (x->kind != NODE_MOVE && x->kind != NODE_WHERE && x->kind != NODE_GATHER) continue;
        const rg_node *n = e->g->nodes[i];
        rg_status st = prepare_move(e, n, x, err);
        if (st != RG_OK) {
            char l[160];
            return rg_error_prefix(err, st, "node %s", label(n, l, sizeof l));
        }
        h = hash_bytes(h, x->moves, x->nmoves * sizeof *x->moves);
        h = hash_bytes(h, &x->gather, sizeof x->gather);
    }
    e->move_hash = h;
    return RG_OK;
}

static rg_status run_move(rg_cuda_exec *e, const rg_node *n, exec_node *x, rg_error *err) {
    void *out = device_ptr(e, n->outputs[0]);
    if (x->plain_copy) {
        rg_tensor in = device_tensor(e, n->inputs[0]);
        if (!in.nbytes) return RG_OK;
        return rg_rt_cuda_copy_on_device(e->cuda, out, in.data, in.nbytes, e->stream, err);
    }
    for (uint32_t k = 0; k < x->nmoves; k++) {
        move_params *p = &x->moves[k];
        if (p->total == 0) continue;
        const void *in = device_ptr(e, n->inputs[k]);
        void *args[3] = {&out, (void *)&in, p};
        RG_TRY(launch_flat(e, x->kernel, args, p->total, err));
    }
    return RG_OK;
}

static rg_status run_where(rg_cuda_exec *e, const rg_node *n, exec_node *x, rg_error *err) {
    move_params *p = &x->moves[0];
    if (p->total == 0) return RG_OK;
    void *out = device_ptr(e, n->outputs[0]);
    const void *c = device_ptr(e, n->inputs[0]), *a = device_ptr(e, n->inputs[1]), *b = device_ptr(e, n->inputs[2]);
    void *args[5] = {&out, (void *)&c, (void *)&a, (void *)&b, p};
    return launch_flat(e, x->kernel, args, p->total, err);
}

static rg_status run_gather(rg_cuda_exec *e, const rg_node *n, exec_node *x, rg_error *err) {
    gather_dims g = x->gather;
    int64_t total = g.outer * g.n * g.inner;
    if (total == 0) return RG_OK;
    size_t esize = rg_dtype_size(n->inputs[0]->dtype);
    rg_rt_cuda_kernel k = x->kernel;
    void *out = device_ptr(e, n->outputs[0]);
    const void *data = device_ptr(e, n->inputs[0]), *idx = device_ptr(e, n->inputs[1]);
    if (esize < 8 && x->vec && (size_t)g.inner * esize % 8 == 0 && (uintptr_t)out % 8 == 0 &&
        (uintptr_t)data % 8 == 0) {
        /* rows of whole 8-byte words (embedding rows): move words */
        g.inner = (int64_t)((size_t)g.inner * esize / 8);
        total = g.outer * g.n * g.inner;
        k = x->vec;
    }
    int *flag = (int *)((char *)e->arena + e->current->flags_offset) + x->flag;
    void *args[8] = {&out, (void *)&data, (void *)&idx, &g.outer, &g.n, &g.axis_dim, &g.inner, &flag};
    return launch_flat(e, k, args, total, err);
}

/* The Gather error flags back to the host (after the copies out). */
static rg_status copy_flags_out(rg_cuda_exec *e, rg_error *err) {
    if (!e->nflags) return RG_OK;
    return rg_rt_cuda_copy_to_host(e->cuda, e->flags_host, (char *)e->arena + e->current->flags_offset,
                                   e->nflags * sizeof(int32_t), e->stream, err);
}

/* After the stream is synchronised: a Gather that met an index out of
 * range wrote zeros there and raised its flag; the run fails naming it. */
static rg_status check_flags(rg_cuda_exec *e, rg_error *err) {
    for (uint32_t i = 0; e->nflags && i < e->g->nnodes; i++) {
        if (e->nodes[i].kind != NODE_GATHER || !e->flags_host[e->nodes[i].flag]) continue;
        char l[160];
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "node %s: input 1 (indices) holds an index out of range "
                            "for an axis of size %lld", label(e->g->nodes[i], l, sizeof l),
                            (long long)e->nodes[i].gather.axis_dim);
    }
    return RG_OK;
}

/* ------------------------------------------------- persistent launches */

static bool value_dtype_is(const rg_value *v, rg_dtype dt) { return !v || v->dtype == dt; }

/* Node n as a step of the persistent kernel for this run's shape, or false
 * where the kernel cannot take it (then it runs as its own kernel and ends
 * the run of nodes). The same operands run_linear, run_attention and
 * run_fused would pass. */
static bool step_of(rg_cuda_exec *e, const rg_node *n, const exec_node *x, rg_rt_pk_step *st) {
    rg_dtype dt = rg_rt_cuda_persist_dtype(x->pk);
    for (uint32_t k = 0; k < n->ninputs; k++)
        if (k != 1 || x->kind != NODE_ATTENTION) /* the attention's mask is int64 */
            if (!value_dtype_is(n->inputs[k], dt)) return false;
    if (n->noutputs != 1 || n->outputs[0]->dtype != dt) return false;
    void *y = device_ptr(e, n->outputs[0]);
    rg_tensor in = device_tensor(e, n->inputs[0]);
    switch (x->kind) {
    case NODE_LINEAR: {
        const rg_tensor *w = n->inputs[1]->constant;
        int64_t k = w->dims[0], m = k ? (int64_t)(rg_tensor_numel(&in) / (size_t)k) : 0;
        const void *bias = n->ninputs > 2 ? device_ptr(e, n->inputs[2]) : NULL;
        return rg_rt_pk_linear(rg_rt_cuda_persist_blocks(x->pk), in.data, device_ptr(e, n->inputs[1]), bias, y, m,
                               w->dims[1], k, x->gelu_erf, st);
    }
    case NODE_ATTENTION: {
        if (x->at.general || (x->at.dynamic && e->mask_general) || (n->ninputs > 2 && n->inputs[2])) return false;
        if (in.rank != 3 || in.dims[2] != 3 * (int64_t)x->heads * x->at.head_dim) return false;
        const int32_t *aux = (const int32_t *)((char *)e->arena + e->current->aux_offset);
        const int32_t *lens = e->mask && n->ninputs > 1 && n->inputs[1] ? aux + in.dims[0] + 1 : NULL;
        return rg_rt_pk_attention(in.data, lens, y, in.dims[0], in.dims[1], x->heads, x->at.head_dim, x->scale,
                                  x->at.causal, x->at.uniform && lens, st);
    }
    case NODE_FUSED: {
        if (n->op != RG_OP_LAYER_NORM || in.rank < 1 || n->ninputs < 2 || !n->inputs[1]) return false;
        int64_t len = in.dims[in.rank - 1];
        const rg_value *beta = n->ninputs > 2 ? n->inputs[2] : NULL, *res = n->ninputs > 3 ? n->inputs[3] : NULL;
        if (rg_tensor_numel(value_shape(e, n->inputs[1])) != (size_t)len) return false;
        if (beta && rg_tensor_numel(value_shape(e, beta)) != (size_t)len) return false;
        if (res) {
            rg_tensor r = device_tensor(e, res);
            if (r.rank != in.rank || memcmp(r.dims, in.dims, sizeof(int64_t) * (size_t)in.rank)) return false;
        }
        float eps;
        rg_error ignored = {0};
        if (!len || rg_node_attr_float(n, "epsilon", 1e-5f, &eps, &ignored) != RG_OK) return false;
        return rg_rt_pk_layer_norm(in.data, device_ptr(e, res), device_ptr(e, n->inputs[1]),
                                   device_ptr(e, beta), y, (int64_t)(rg_tensor_numel(&in) / (size_t)len), len, eps,
                                   st);
    }
    default: return false;
    }
}

/* A run of fewer steps gains nothing from the barrier it replaces. */
#define PK_MIN_STEPS 2

/* The open run's steps (the first nraw of pk_raw) into its program at
 * *nsteps, or the run dropped when it is too short. */
static void close_run(rg_cuda_exec *e, pk_run *run, size_t nraw, size_t *nsteps) {
    if (!run) return;
    if (nraw < PK_MIN_STEPS) {
        e->npk_runs--;
        return;
    }
    run->step0 = *nsteps;
    run->nsteps = rg_rt_pk_expand(e->pk_raw, nraw, &e->pk_steps[*nsteps]);
    rg_rt_pk_plan_prefetch(&e->pk_steps[run->step0], run->nsteps);
    *nsteps += run->nsteps;
}

/* The current shape's runs of nodes the persistent kernel can take, their
 * programs uploaded into the shape's pk_prog (outside any capture: the copy
 * is synchronous) and the scratch allocated; e->npk_runs is 0 when there
 * are none. */
static rg_status persist_build(rg_cuda_exec *e, shape_entry *s, rg_error *err) {
    const rg_graph *g = e->g;
    e->npk_runs = 0;
    size_t nsteps = 0, nraw = 0;
    pk_run *open = NULL;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        exec_node *x = &e->nodes[i];
        if (x->kind == NODE_HOST) continue;
        rg_rt_pk_step st;
        bool ok = x->pk && step_of(e, g->nodes[i], x, &st);
        if (open && (!ok || open->pk != x->pk)) {
            close_run(e, open, nraw, &nsteps);
            open = NULL;
        }
        if (!ok) continue;
        if (!open) {
            open = &e->pk_runs[e->npk_runs++];
            *open = (pk_run){i, i, 0, 0, x->pk};
            nraw = 0;
        }
        if (x->kind == NODE_LINEAR) {
            /* its output read by the next device node alone (a LayerNorm can then add up a split's shares) */
            uint32_t j = i + 1;
            while (j < g->nnodes && e->nodes[j].kind == NODE_HOST) j++;
            if (j < g->nnodes && e->last_use[g->nodes[i]->outputs[0]->id] == j) st.flags |= RG_RT_PK_ONLY_NEXT_READS;
        }
        e->pk_raw[nraw++] = st;
        open->last = i;
    }
    close_run(e, open, nraw, &nsteps);
    if (!e->npk_runs) return RG_OK;
    if (!e->pk_scratch) {
        size_t bytes = rg_rt_cuda_persist_scratch_bytes(e->pk_runs[0].pk);
        RG_TRY(rg_rt_cuda_malloc(e->cuda, bytes, &e->pk_scratch, err));
        e->pk_scratch_bytes = bytes;
        RG_TRY(rg_rt_cuda_memset(e->cuda, e->pk_scratch, 0, bytes, e->stream, err));
    }
    size_t bytes = nsteps * sizeof(rg_rt_pk_step);
    RG_TRY(rg_rt_cuda_stream_sync(e->cuda, e->stream, err)); /* no replay still reads the old program */
    if (bytes > s->pk_prog_cap) {
        rg_rt_cuda_free(e->cuda, s->pk_prog);
        s->pk_prog = NULL;
        s->pk_prog_cap = 0;
        RG_TRY(rg_rt_cuda_malloc(e->cuda, bytes, &s->pk_prog, err));
        s->pk_prog_cap = bytes;
    }
    RG_TRY(rg_rt_cuda_copy_to_device(e->cuda, s->pk_prog, e->pk_steps, bytes, e->stream, err));
    return rg_rt_cuda_stream_sync(e->cuda, e->stream, err);
}

static rg_status launch_run(rg_cuda_exec *e, const pk_run *run, rg_error *err) {
    const char *steps = (const char *)e->current->pk_prog + run->step0 * sizeof(rg_rt_pk_step);
    return rg_rt_cuda_persist_launch(run->pk, steps, run->nsteps, e->pk_scratch, NULL, e->stream, err);
}

/* Issues every device node on the stream, in order; with pk_on, each run
 * of persist_build as one launch. */
static rg_status launch_all(rg_cuda_exec *e, rg_error *err) {
    const rg_graph *g = e->g;
    uint32_t run = 0;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        exec_node *x = &e->nodes[i];
        const rg_node *n = g->nodes[i];
        rg_status st = RG_OK;
        e->prof_node = i;
        if (e->pk_on && run < e->npk_runs && e->pk_runs[run].first == i) {
            st = launch_run(e, &e->pk_runs[run], err);
            if (st != RG_OK) {
                char l[160];
                return rg_error_prefix(err, st, "persistent launch for nodes from %s", label(n, l, sizeof l));
            }
            i = e->pk_runs[run++].last;
            continue;
        }
        switch (x->kind) {
        case NODE_HOST: break;
        case NODE_LINEAR: st = run_linear(e, n, x, err); break;
        case NODE_ATTENTION: st = run_attention(e, n, x, err); break;
        case NODE_FUSED: st = run_fused(e, n, x, err); break;
        case NODE_GATHER: st = run_gather(e, n, x, err); break;
        case NODE_CAST: st = run_cast(e, n, x, err); break;
        case NODE_MOVE: st = run_move(e, n, x, err); break;
        case NODE_WHERE: st = run_where(e, n, x, err); break;
        }
        /* profiling: the GELU after a GEMM records its own event in run_linear */
        if (st == RG_OK && e->prof_ev && x->kind != NODE_HOST) {
            if (!(x->kind == NODE_LINEAR && x->gelu_erf)) st = record(e, e->prof_ev[2 * i + 1], err);
            if (st == RG_OK) st = record(e, e->prof_ev[2 * i + 2], err);
        }
        if (st != RG_OK) {
            char l[160];
            return rg_error_prefix(err, st, "node %s", label(n, l, sizeof l));
        }
    }
    return RG_OK;
}

/* Host values the device reads, into the pinned staging buffer at their
 * place in the input block. */
static rg_status stage_inputs(rg_cuda_exec *e, rg_error *err) {
    for (uint32_t i = 0; i < e->g->nvalues; i++) {
        if (!e->upload[i] || e->on_device[i] || !e->shapes[i].nbytes) continue;
        memcpy((char *)e->stage + (e->current->offsets[i] - e->current->in_offset), e->shapes[i].data,
               e->shapes[i].nbytes);
    }
    memset((char *)e->stage + (e->current->flags_offset - e->current->in_offset), 0, e->nflags * sizeof(int32_t));
    return stage_aux(e, err);
}

/* A buffer that graphs point at grew: every captured graph is stale. */
static rg_status grow_pinned(rg_cuda_exec *e, void **buf, size_t *cap, size_t bytes, rg_error *err) {
    if (bytes <= *cap && *buf) return RG_OK;
    RG_TRY(rg_rt_cuda_stream_sync(e->cuda, e->stream, err));
    drop_graphs(e);
    rg_rt_cuda_host_free(e->cuda, *buf);
    *buf = NULL;
    *cap = 0;
    size_t want = bytes + bytes / 4;
    RG_TRY(rg_rt_cuda_host_alloc(e->cuda, want, buf, err));
    *cap = want;
    return RG_OK;
}

/* Pinned staging for the input block and pinned output buffers big enough
 * for this shape; the output tensors take this run's shapes. */
static rg_status ensure_host_buffers(rg_cuda_exec *e, rg_error *err) {
    const rg_graph *g = e->g;
    RG_TRY(grow_pinned(e, &e->stage, &e->stage_cap, e->current->in_bytes, err));
    for (uint32_t i = 0; i < g->noutputs; i++) {
        const rg_value *v = g->outputs[i];
        const rg_tensor *src = v->constant ? v->constant : &e->shapes[v->id];
        rg_tensor *dst = &e->outputs[i];
        void *data = dst->data;
        if (e->outputs_on_device && e->on_device[v->id]) {
            /* read in the arena: no pinned buffer, no copy (data stays NULL here) */
            *dst = *src;
            dst->data = NULL;
            continue;
        }
        if (src->nbytes > e->output_caps[i] || !data) {
            rg_status st = grow_pinned(e, &data, &e->output_caps[i], src->nbytes, err);
            if (st != RG_OK) {
                dst->data = data;
                return rg_error_prefix(err, st, "output '%s'", v->name);
            }
        }
        *dst = *src;
        dst->data = data;
    }
    return RG_OK;
}

static rg_status copy_in(rg_cuda_exec *e, rg_error *err) {
    return rg_rt_cuda_copy_to_device(e->cuda, (char *)e->arena + e->current->in_offset, e->stage,
                                     e->current->in_bytes, e->stream, err);
}

static rg_status copy_out(rg_cuda_exec *e, rg_error *err) {
    for (uint32_t i = 0; i < e->g->noutputs; i++) {
        const rg_value *v = e->g->outputs[i];
        if (!e->on_device[v->id] || !e->outputs[i].nbytes || e->outputs_on_device) continue;
        RG_TRY(rg_rt_cuda_copy_to_host(e->cuda, e->outputs[i].data, device_ptr(e, v), e->outputs[i].nbytes,
                                       e->stream, err));
    }
    return RG_OK;
}

/* The whole device side of a run: the input block in, every node, the
 * outputs out; with timing on, events between the three. */
static rg_status issue_run(rg_cuda_exec *e, bool timed, rg_error *err) {
    e->declined = 0;
    RG_TRY(copy_in(e, err));
    if (timed) RG_TRY(record(e, e->ev[1], err));
    RG_TRY(launch_all(e, err));
    if (timed) RG_TRY(record(e, e->ev[2], err));
    RG_TRY(copy_out(e, err));
    return copy_flags_out(e, err);
}

/* A captured run, and how many Linears it declined the GEMM module. */
typedef struct captured {
    rg_rt_cuda_graph graph;
    uint32_t declined;
} captured;

/* Captures this shape's run as a graph (NULL when the capture fails: the
 * caller runs eagerly then). */
static captured capture_run(rg_cuda_exec *e, bool timed) {
    rg_error ignored = {0};
    captured r = {NULL, 0};
    if (rg_rt_cuda_capture_begin(e->cuda, e->stream, &ignored) != RG_OK) return r;
    e->capturing = true;
    rg_status st = issue_run(e, timed, &ignored);
    e->capturing = false;
    r.declined = e->declined;
    rg_status end = rg_rt_cuda_capture_end(e->cuda, e->stream, &r.graph, &ignored);
    if (end == RG_OK && st != RG_OK) rg_rt_cuda_graph_free(e->cuda, r.graph);
    if (end != RG_OK || st != RG_OK) r.graph = NULL;
    return r;
}

#define COMPARE_RUNS 5 /* timed replays of each graph */

/* Times the shape's graph against `other` (COMPARE_RUNS replays each),
 * keeps the faster in s->graph (*won: it was other) and frees the slower;
 * then launches the kept one, so this run's outputs are its. */
static rg_status keep_faster(rg_cuda_exec *e, shape_entry *s, rg_rt_cuda_graph other, bool *won, rg_error *err) {
    float mine = 0, theirs = 0;
    *won = false;
    rg_status st = tune_events(e, err);
    if (st == RG_OK) st = rg_rt_cuda_time_graph(e->cuda, e->stream, s->graph, COMPARE_RUNS, e->tune_ev, &mine, err);
    if (st == RG_OK) st = rg_rt_cuda_time_graph(e->cuda, e->stream, other, COMPARE_RUNS, e->tune_ev, &theirs, err);
    if (st == RG_OK && theirs < mine) {
        rg_rt_cuda_graph_free(e->cuda, s->graph);
        s->graph = other;
        *won = true;
    } else {
        rg_rt_cuda_graph_free(e->cuda, other);
    }
    RG_TRY(st);
    return rg_rt_cuda_graph_launch(e->cuda, s->graph, e->stream, err);
}

/* The per-shape choices of choose_way time each Linear alone; under launch
 * overlap a kernel's time between its neighbours is not its time alone (a
 * run of ragged's own kernels overlaps, a cuBLASLt GEMM in between ends
 * it). So where a plan's GEMM module was declined somewhere, the first run
 * of a shape also captures the replay with every Linear the module can take
 * on it, times both replays and keeps the faster graph (and the way for
 * later captures of the shape). Either graph computes the same Y within
 * rounding; the kept one runs last, so this run's outputs are its. */
static rg_status compare_ways(rg_cuda_exec *e, shape_entry *s, bool timed, rg_error *err) {
    s->ways_compared = true;
    e->force_fused = true;
    captured other = capture_run(e, timed);
    e->force_fused = false;
    return other.graph ? keep_faster(e, s, other.graph, &s->all_fused, err) : RG_OK;
}

/* Where the plan has a persistent module and the shape has runs of nodes
 * it can take, the first run of a shape also captures the replay with
 * those runs as single launches, times both replays and keeps the faster
 * (the choice is remembered for later captures of the shape), as
 * compare_ways does. A capture that fails (a launch refused) keeps the
 * graph there is. */
static rg_status compare_persistent(rg_cuda_exec *e, shape_entry *s, bool timed, rg_error *err) {
    s->pk_compared = true;
    RG_TRY(persist_build(e, s, err));
    if (!e->npk_runs) return RG_OK;
    e->pk_on = true;
    captured other = capture_run(e, timed);
    e->pk_on = false;
    return other.graph ? keep_faster(e, s, other.graph, &s->persistent, err) : RG_OK;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

rg_status rg_cuda_exec_run(rg_cuda_exec *e, const rg_tensor *inputs, size_t ninputs, rg_error *err) {
    if (!e) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_cuda_exec_run needs an executor");
    rg_cuda_exec_timing tm = {0};
    bool timed = e->timing;
    double t0 = timed ? now_ms() : 0, t1 = 0, t2 = 0, t3 = 0;
    e->have_outputs = false;
    free_host_values(e);
    RG_TRY(bind_inputs(e, inputs, ninputs, err));
    /* device values first, from the bound symbols: a host node may read one's shape (Shape), never its data */
    RG_TRY(size_device_values(e, err));
    RG_TRY(run_host_nodes(e, err));
    RG_TRY(prepare_moves(e, err));
    shape_entry *s;
    RG_TRY(plan_shape(e, &s, err));
    RG_TRY(ensure_arena(e, s->arena_bytes, err));
    e->current = s;
    if (s->graph && s->move_hash != e->move_hash) {
        /* captured with other movement arguments (host values changed within one shape) */
        rg_rt_cuda_graph_free(e->cuda, s->graph);
        s->graph = NULL;
        s->graph_failed = false;
    }
    s->move_hash = e->move_hash;
    RG_TRY(ensure_host_buffers(e, err));
    if (timed) t1 = now_ms();
    RG_TRY(stage_inputs(e, err));
    if (timed) t2 = now_ms();
    if (s->graph && s->graph_timed != timed) {
        rg_rt_cuda_graph_free(e->cuda, s->graph);
        s->graph = NULL;
        s->graph_failed = false;
    }
    e->last_replayed = false;
    if (timed) RG_TRY(record(e, e->ev[0], err));
    if (s->graph) {
        RG_TRY(rg_rt_cuda_graph_launch(e->cuda, s->graph, e->stream, err));
        e->last_replayed = true;
        e->last_persistent = s->persistent;
    } else {
        /* first run of this shape: eagerly (cuBLASLt picks and caches its algorithms outside a capture), then
         * capture the copies and launches as one graph (nothing captured runs now). Persistent launches where
         * the mode says so or the shape chose them (with ON also in the eager run, whose errors are reported) */
        bool pk = false;
        if (e->pk_mode == RG_PERSISTENT_ON || (e->pk_mode == RG_PERSISTENT_AUTO && s->persistent)) {
            RG_TRY(persist_build(e, s, err));
            pk = e->npk_runs > 0;
        }
        e->pk_on = pk && e->pk_mode == RG_PERSISTENT_ON;
        rg_status st = issue_run(e, timed, err);
        e->last_persistent = e->pk_on;
        e->pk_on = false;
        RG_TRY(st);
        if (!s->graph_failed) {
            e->pk_on = pk;
            captured r = capture_run(e, timed);
            s->graph = r.graph;
            s->graph_failed = s->graph == NULL;
            s->graph_timed = timed;
            if (s->graph && r.declined && !s->ways_compared) st = compare_ways(e, s, timed, err);
            e->pk_on = false;
            RG_TRY(st);
            if (s->graph && pk) s->persistent = true;
            if (s->graph && e->pk_mode == RG_PERSISTENT_AUTO && !s->pk_compared)
                RG_TRY(compare_persistent(e, s, timed, err));
            if (s->graph) e->last_persistent = s->persistent;
        }
    }
    if (timed) {
        RG_TRY(record(e, e->ev[3], err));
        t3 = now_ms();
    }
    RG_TRY(rg_rt_cuda_stream_sync(e->cuda, e->stream, err));
    RG_TRY(check_flags(e, err));
    /* outputs the host computed (none in a usual model) */
    for (uint32_t i = 0; i < e->g->noutputs; i++) {
        const rg_value *v = e->g->outputs[i];
        if (e->on_device[v->id] || !e->outputs[i].nbytes) continue;
        const rg_tensor *src = v->constant ? v->constant : &e->shapes[v->id];
        memcpy(e->outputs[i].data, src->data, src->nbytes);
    }
    if (timed) {
        /* a first run's events were last recorded inside the capture: no device figures for it */
        double t4 = now_ms();
        tm.host_prepare_ms = t1 - t0;
        tm.host_stage_ms = t2 - t1;
        tm.host_launch_ms = t3 - t2;
        tm.host_wait_ms = t4 - t3;
        tm.host_total_ms = t4 - t0;
        tm.h2d_ms = tm.kernels_ms = tm.d2h_ms = -1;
        if (e->last_replayed) {
            /* a timer that cannot be read leaves -1, never fails the run */
            rg_error ignored = {0};
            if (rg_rt_cuda_event_elapsed(e->cuda, e->ev[0], e->ev[1], &tm.h2d_ms, &ignored) != RG_OK) tm.h2d_ms = -1;
            if (rg_rt_cuda_event_elapsed(e->cuda, e->ev[1], e->ev[2], &tm.kernels_ms, &ignored) != RG_OK)
                tm.kernels_ms = -1;
            if (rg_rt_cuda_event_elapsed(e->cuda, e->ev[2], e->ev[3], &tm.d2h_ms, &ignored) != RG_OK) tm.d2h_ms = -1;
        }
        tm.replayed = e->last_replayed;
        e->last_timing = tm;
    }
    e->have_outputs = true;
    return RG_OK;
}

rg_status rg_cuda_exec_set_persistent(rg_cuda_exec *e, rg_persistent_mode mode, rg_error *err) {
    if (!e) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_cuda_exec_set_persistent needs an executor");
    if (mode != RG_PERSISTENT_AUTO && mode != RG_PERSISTENT_ON && mode != RG_PERSISTENT_OFF)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "persistent mode %d (auto 0, on 1, off 2)", (int)mode);
    if (mode == e->pk_mode) return RG_OK;
    RG_TRY(rg_rt_cuda_stream_sync(e->cuda, e->stream, err));
    drop_graphs(e);
    for (int c = 0; c < SHAPE_CACHE; c++) e->cache[c].pk_compared = e->cache[c].persistent = false;
    e->pk_mode = mode;
    return RG_OK;
}

rg_status rg_cuda_exec_set_timing(rg_cuda_exec *e, bool on, rg_error *err) {
    for (int k = 0; on && k < 4; k++)
        if (!e->ev[k]) RG_TRY(rg_rt_cuda_event_new(e->cuda, &e->ev[k], err));
    e->timing = on;
    return RG_OK;
}

void rg_cuda_exec_timing_get(const rg_cuda_exec *e, rg_cuda_exec_timing *out) { *out = e->last_timing; }

const rg_tensor *rg_cuda_exec_output(const rg_cuda_exec *e, size_t index) {
    if (!e || !e->have_outputs || index >= e->g->noutputs) return NULL;
    if (e->outputs_on_device && e->on_device[e->g->outputs[index]->id]) return NULL;
    return &e->outputs[index];
}

/* Captured graphs end with the copies out or not: a change drops them. */
rg_status rg_cuda_exec_set_outputs_on_device(rg_cuda_exec *e, bool on, rg_error *err) {
    if (!e) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_cuda_exec_set_outputs_on_device needs an executor");
    if (e->outputs_on_device == on) return RG_OK;
    RG_TRY(rg_rt_cuda_stream_sync(e->cuda, e->stream, err));
    drop_graphs(e);
    e->outputs_on_device = on;
    e->have_outputs = false; /* the host buffers no longer match the mode */
    return RG_OK;
}

bool rg_cuda_exec_output_is_device(const rg_cuda_exec *e, size_t index) {
    return e && index < e->g->noutputs && e->outputs_on_device && e->on_device[e->g->outputs[index]->id];
}

rg_status rg_cuda_exec_output_device(const rg_cuda_exec *e, size_t index, rg_tensor *out, rg_error *err) {
    if (!e || !out || index >= e->g->noutputs)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_cuda_exec_output_device needs an executor, an output "
                            "index in range and an out pointer");
    const rg_value *v = e->g->outputs[index];
    if (!e->have_outputs || !e->current)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "output '%s' is not available: no successful run yet",
                            v->name);
    if (!e->on_device[v->id] || v->constant)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "output '%s' is computed on the host, not the GPU; read it with "
                            "rg_session_output", v->name);
    size_t off = e->current->offsets[v->id];
    RG_ASSERT(off != SIZE_MAX);
    rg_tensor t = e->shapes[v->id];
    t.data = (char *)e->arena + off;
    *out = t;
    return RG_OK;
}

void rg_cuda_exec_stats_get(const rg_cuda_exec *e, rg_cuda_exec_stats *out) {
    rg_cuda_exec_stats s;
    memset(&s, 0, sizeof s);
    s.weights_bytes = e->weights_bytes;
    if (e->current) {
        s.arena_bytes = e->current->arena_bytes;
        s.arena_lower_bound = e->current->lower_bound;
    }
    s.arena_capacity = e->arena_cap;
    for (int c = 0; c < SHAPE_CACHE; c++) s.shapes_cached += e->cache[c].used;
    s.last_run_replayed = e->last_replayed;
    s.last_run_persistent = e->last_persistent;
    s.persistent_bytes = e->pk_scratch_bytes;
    for (int c = 0; c < SHAPE_CACHE; c++) s.persistent_bytes += e->cache[c].pk_prog_cap;
    snprintf(s.device_name, sizeof s.device_name, "%s", e->info.name);
    snprintf(s.arch, sizeof s.arch, "%s", e->arch);
    *out = s;
}

rg_rt_cuda *rg_cuda_exec_cuda(rg_cuda_exec *e) { return e->cuda; }
rg_rt_cuda_stream rg_cuda_exec_stream(rg_cuda_exec *e) { return e->stream; }

/* Per-node device times: the last run's shape captured again with an event
 * after every device node (and between a GEMM and its GELU kernel), the
 * graph replayed `reps` times; node_ms[2 * i] is node i's main launch,
 * node_ms[2 * i + 1] its epilogue kernel (0 for host nodes). Graph replay
 * keeps the launch gaps of a real run; each event node adds a little. */
rg_status rg_cuda_exec_profile(rg_cuda_exec *e, int reps, float *node_ms, rg_error *err) {
    const rg_graph *g = e->g;
    if (!e->have_outputs || !e->current)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_cuda_exec_profile needs a run first");
    size_t nev = 2 * (size_t)g->nnodes + 1;
    rg_rt_cuda_event *ev = rg_mem_calloc(e->alloc, nev, sizeof *ev);
    if (!ev) return rg_error_set(err, RG_ERR_NOMEM, "out of memory for profiling events");
    rg_rt_cuda_graph graph = NULL;
    rg_status st = RG_OK;
    for (size_t k = 0; st == RG_OK && k < nev; k++) st = rg_rt_cuda_event_new(e->cuda, &ev[k], err);
    for (size_t k = 0; k < 2 * (size_t)g->nnodes; k++) node_ms[k] = 0;
    if (st != RG_OK) goto done;
    if ((st = rg_rt_cuda_capture_begin(e->cuda, e->stream, err)) != RG_OK) goto done;
    e->prof_ev = ev;
    e->capturing = true;
    rg_status run = record(e, ev[0], err);
    if (run == RG_OK) run = launch_all(e, err);
    e->prof_ev = NULL;
    e->capturing = false;
    st = rg_rt_cuda_capture_end(e->cuda, e->stream, &graph, run == RG_OK ? err : NULL);
    if (run != RG_OK) st = run;
    if (st != RG_OK) goto done;
    for (int r = 0; r < reps + 1; r++) {
        if ((st = rg_rt_cuda_graph_launch(e->cuda, graph, e->stream, err)) != RG_OK) goto done;
        if ((st = rg_rt_cuda_stream_sync(e->cuda, e->stream, err)) != RG_OK) goto done;
        if (r == 0) continue; /* warm-up */
        rg_rt_cuda_event prev = ev[0];
        for (uint32_t i = 0; i < g->nnodes; i++) {
            if (e->nodes[i].kind == NODE_HOST) continue;
            float a = 0, b = 0;
            if ((st = rg_rt_cuda_event_elapsed(e->cuda, prev, ev[2 * i + 1], &a, err)) != RG_OK ||
                (st = rg_rt_cuda_event_elapsed(e->cuda, ev[2 * i + 1], ev[2 * i + 2], &b, err)) != RG_OK)
                goto done;
            node_ms[2 * i] += a / (float)reps;
            node_ms[2 * i + 1] += b / (float)reps;
            prev = ev[2 * i + 2];
        }
    }
done:
    if (graph) rg_rt_cuda_graph_free(e->cuda, graph);
    for (size_t k = 0; k < nev; k++) rg_rt_cuda_event_free(e->cuda, ev[k]);
    rg_mem_free(e->alloc, ev, nev * sizeof *ev);
    return st;
}

size_t rg_cuda_exec_node_count(const rg_cuda_exec *e) { return e->g->nnodes; }

/* "Linear 128x768x2304 bias" style: what groups nodes in a profile. NULL for
 * host nodes. Shapes are the last run's. */
const char *rg_cuda_exec_node_kind(rg_cuda_exec *e, size_t i, char *buf, size_t cap) {
    if (i >= e->g->nnodes || e->nodes[i].kind == NODE_HOST) return NULL;
    const rg_node *n = e->g->nodes[i];
    const exec_node *x = &e->nodes[i];
    const rg_tensor *in0 = n->inputs[0] ? (n->inputs[0]->constant ? n->inputs[0]->constant : &e->shapes[n->inputs[0]->id]) : NULL;
    switch (x->kind) {
    case NODE_LINEAR: {
        const rg_tensor *w = n->inputs[1]->constant;
        int64_t k = w->dims[0], nn = w->dims[1], m = k && in0 ? (int64_t)(rg_tensor_numel(in0) / (size_t)k) : 0;
        rg_rt_gemm_args a = {.m = m, .n = nn, .k = k, .gelu = x->gelu_erf, .tile = -1,
                             .sm_count = e->info.multiprocessors};
        int tile = x->gemm ? rg_rt_cuda_gemm_pick(&a) : -1; /* on the wgmma GEMM, this tile */
        bool fused = tile >= 0;
        if (fused) known_way(e, &a, n->outputs[0]->dtype, &fused);
        size_t ntiles;
        const rg_kabi_gemm_tile *tiles = rg_kabi_gemm_tiles(&ntiles);
        snprintf(buf, cap, "Linear m%lld n%lld k%lld%s%s", (long long)m, (long long)nn, (long long)k,
                 fused ? (x->gelu_erf ? " erf-GELU epilogue " : " wgmma GEMM ") : x->gelu_erf ? " +erf-GELU" : "",
                 fused ? tiles[tile].name : "");
        break;
    }
    case NODE_ATTENTION:
        snprintf(buf, cap, "Attention B%lld S%lld H%d D%d", in0 ? (long long)in0->dims[0] : 0LL,
                 in0 && in0->rank > 1 ? (long long)in0->dims[1] : 0LL, x->heads, x->variant.head_dim);
        break;
    case NODE_FUSED: snprintf(buf, cap, "%s rows of %lld", rg_op_name(n->op), in0 && in0->rank ? (long long)in0->dims[in0->rank - 1] : 0LL); break;
    case NODE_GATHER: snprintf(buf, cap, "Gather"); break;
    case NODE_MOVE:
    case NODE_WHERE: snprintf(buf, cap, "%s", rg_op_name(n->op)); break;
    case NODE_CAST: snprintf(buf, cap, "Cast"); break;
    default: snprintf(buf, cap, "%s", rg_op_name(n->op)); break;
    }
    return buf;
}

rg_status rg_cuda_exec_persist_profile(rg_cuda_exec *e, int reps, rg_cuda_exec_step_time *out, size_t cap,
                                       size_t *count, rg_error *err) {
    *count = 0;
    if (!e || !e->current || !e->have_outputs)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "persistent profile: run the shape first");
    if (reps < 1) reps = 1;
    RG_TRY(persist_build(e, e->current, err));
    size_t steps = 0;
    for (uint32_t r = 0; r < e->npk_runs; r++) steps += e->pk_runs[r].nsteps;
    if (!steps) return RG_OK;
    uint64_t *dev = NULL, *host = rg_mem_calloc(e->alloc, steps + 1, sizeof *host);
    double *sum = rg_mem_calloc(e->alloc, steps, sizeof *sum);
    rg_status st = host && sum ? RG_OK : rg_error_set(err, RG_ERR_NOMEM, "out of memory");
    if (st == RG_OK) st = rg_rt_cuda_malloc(e->cuda, (steps + 1) * sizeof *dev, (void **)&dev, err);
    for (int rep = 0; rep < reps && st == RG_OK; rep++)
        for (uint32_t r = 0; r < e->npk_runs && st == RG_OK; r++) {
            const pk_run *run = &e->pk_runs[r];
            const char *prog = (const char *)e->current->pk_prog + run->step0 * sizeof(rg_rt_pk_step);
            st = rg_rt_cuda_persist_launch(run->pk, prog, run->nsteps, e->pk_scratch, dev, e->stream, err);
            if (st == RG_OK)
                st = rg_rt_cuda_copy_to_host(e->cuda, host, dev, (run->nsteps + 1) * sizeof *host, e->stream, err);
            if (st == RG_OK) st = rg_rt_cuda_stream_sync(e->cuda, e->stream, err);
            for (size_t i = 0; st == RG_OK && i < run->nsteps; i++)
                sum[run->step0 + i] += (double)(host[i + 1] - host[i]) * 1e-6;
        }
    for (size_t i = 0; st == RG_OK && i < steps && i < cap; i++) {
        const rg_rt_pk_step *p = &e->pk_steps[i];
        if (p->kind == RG_RT_PK_LINEAR)
            snprintf(out[i].kind, sizeof out[i].kind, "Linear %lldx%lldx%lld%s split %lld", (long long)p->m,
                     (long long)p->n, (long long)p->k, p->flags & 1 ? " +erf-GELU" : "", (long long)p->split);
        else if (p->kind == RG_RT_PK_REDUCE)
            snprintf(out[i].kind, sizeof out[i].kind, "split-K sum %lldx%lld of %lld", (long long)p->m,
                     (long long)p->n, (long long)p->split);
        else
            snprintf(out[i].kind, sizeof out[i].kind, "%s", p->kind == RG_RT_PK_ATTENTION ? "Attention" : "LayerNorm");
        out[i].ms = (float)(sum[i] / reps);
    }
    if (st == RG_OK) *count = steps < cap ? steps : cap;
    rg_rt_cuda_free(e->cuda, dev);
    if (host) rg_mem_free(e->alloc, host, (steps + 1) * sizeof *host);
    if (sum) rg_mem_free(e->alloc, sum, steps * sizeof *sum);
    return st;
}
