/*
 * pass.h — the pass manager and the passes that rewrite an imported graph
 * into the optimised one (DESIGN.md "Passes").
 *
 * A pass is a name and a function over the graph. The manager runs the
 * passes of the pipeline in order, counts what each changed, times it,
 * verifies the graph after it when asked (always in tests and debug builds),
 * can print the graph after a named pass, and can stop after one (for
 * `ragged dump --stage`).
 *
 * passes/ depends on ir/ only. Constant folding needs to compute ops, which
 * is the runtime's business, so the caller hands in an evaluator (the tools
 * wire it to the CPU kernels); without one, folding still turns shape
 * arithmetic into constants and symbolic dims but evaluates nothing.
 */
#ifndef RG_PASSES_PASS_H
#define RG_PASSES_PASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ir/graph.h"

/* Computes one node on concrete inputs (all constants when folding). Each of
 * node->noutputs entries of `outputs` arrives zeroed; the evaluator sets its
 * shape and allocates its data however it likes. The pass copies the results
 * into the graph's arena and then hands every output whose data is not NULL
 * to the free function, on success and on failure alike. RG_ERR_UNSUPPORTED
 * means "cannot compute this here": the node is kept, not an error. */
typedef rg_status (*rg_pass_eval_fn)(void *user, const rg_node *node, const rg_tensor *const *inputs,
                                     rg_tensor *outputs, rg_error *err);
typedef void (*rg_pass_free_fn)(void *user, rg_tensor *tensor);

typedef struct rg_pass_evaluator {
    rg_pass_eval_fn eval;
    rg_pass_free_fn free;
    void *user;
} rg_pass_evaluator;

typedef struct rg_pass_options {
    bool verify;                    /* rg_verify after every pass (forced on in debug builds) */
    const char *print_after;        /* pass name: rg_print the graph after it to print_to */
    FILE *print_to;                 /* NULL: stderr */
    const char *stop_after;         /* pass name: run no pass after it (NULL: run all) */
    const rg_pass_evaluator *eval;  /* NULL: no evaluation of constant nodes */
    size_t fold_max_bytes;          /* largest folded output; 0: RG_PASS_FOLD_MAX_BYTES */
    rg_dtype dtype;                 /* precision pass: the compile dtype (UNDEFINED/F32: no change) */
} rg_pass_options;

#define RG_PASS_FOLD_MAX_BYTES ((size_t)1 << 22)

/* What one pass changed: nodes removed and added, nodes whose inputs or
 * attributes changed in place, values that became constants, and duplicate
 * constants merged into one. */
typedef struct rg_pass_stats {
    uint32_t removed, added, rewritten, folded, merged;
} rg_pass_stats;

#define RG_PASS_REPORT_MAX 16

typedef struct rg_pass_report_entry {
    const char *name;
    rg_pass_stats stats;
    uint32_t nodes_before, nodes_after;
    double seconds;
} rg_pass_report_entry;

typedef struct rg_pass_report {
    uint32_t npasses;
    rg_pass_report_entry pass[RG_PASS_REPORT_MAX];
    uint32_t ops_before[RG_OP_COUNT]; /* node counts per op before the first pass */
    uint32_t ops_after[RG_OP_COUNT];  /* and after the last one that ran */
    double seconds;
} rg_pass_report;

/* Handed to every pass. */
typedef struct rg_pass_ctx {
    rg_graph *g;
    const rg_pass_options *opt;
    rg_pass_stats *stats;
    rg_error *err;
} rg_pass_ctx;

typedef rg_status (*rg_pass_fn)(rg_pass_ctx *cx);

typedef struct rg_pass {
    const char *name;
    const char *summary; /* one line, for `ragged dump --help` and reports */
    rg_pass_fn run;
} rg_pass;

/* The pipeline, in order; *count receives its length. */
const rg_pass *rg_pass_list(size_t *count);
/* The pass of that name, or NULL. */
const rg_pass *rg_pass_find(const char *name);

/* Runs the pipeline on g (shapes are inferred first). `opt` may be NULL
 * (defaults); `report` may be NULL. Names in print_after/stop_after that are
 * no pass are RG_ERR_INVALID_ARGUMENT listing the pass names. On failure the
 * graph may be partly rewritten but still verifies, except when the verifier
 * itself is what failed (the message names the pass). */
rg_status rg_pass_run(rg_graph *g, const rg_pass_options *opt, rg_pass_report *report, rg_error *err);

/* Runs the given passes only, in the given order (tests, tools). */
rg_status rg_pass_run_list(rg_graph *g, const rg_pass *const *passes, size_t npasses, const rg_pass_options *opt,
                           rg_pass_report *report, rg_error *err);

/* Counts nodes per op into counts[RG_OP_COUNT]. */
void rg_pass_count_ops(const rg_graph *g, uint32_t *counts);

/* Writes the report: one line per pass (name, nodes before -> after, what
 * changed, milliseconds) and the per-op counts that changed. */
void rg_pass_report_print(const rg_pass_report *report, FILE *out);

/* ---- the passes (cleanup.c, fold.c) ---- */

/* Identity, inference Dropout, no-op Cast/Reshape/Expand/Squeeze/Unsqueeze/
 * Flatten, one-input Concat, duplicate constants, dead nodes. */
rg_status rg_pass_cleanup(rg_pass_ctx *cx);
/* Shape subgraphs into constants and symbolic dims, then constant folding
 * through the evaluator. */
rg_status rg_pass_fold(rg_pass_ctx *cx);

/* ---- pattern fusion (fuse_patterns.c; op conventions in ir/internal_ops.c) ---- */

/* LayerNormalization-17 and the decomposed ReduceMean/Sub/Pow/Sqrt/Div form
 * over the last axis -> LayerNorm; then a residual Add before a LayerNorm
 * becomes its residual input. */
rg_status rg_pass_fuse_layer_norm(rg_pass_ctx *cx);
/* The erf and tanh forms of GELU -> Gelu (opset 20). */
rg_status rg_pass_fuse_gelu(rg_pass_ctx *cx);
/* MatMul by a constant [K, N] (+ constant bias) -> Linear; a Gelu/Relu that
 * is its only reader becomes its activation epilogue. */
rg_status rg_pass_fuse_linear(rg_pass_ctx *cx);
/* BERT-style self-attention -> one QKV Linear + one Attention node. */
rg_status rg_pass_fuse_attention(rg_pass_ctx *cx);

/* ---- mask canonicalisation (fuse_mask.c) ---- */

/* An Attention whose additive mask is provably the model's [B, S] padding
 * mask (and/or causality) spelled out by the exporter reads that [B, S] mask
 * directly (mask_kind "key_padding", causal=1); the mask arithmetic dies. */
rg_status rg_pass_fuse_mask(rg_pass_ctx *cx);

/* ---- reduction fusion (fuse_reduce.c; the program in ir/fused.h) ---- */

/* Every remaining chain of elementwise ops, with the row reductions next to
 * it (Softmax, LayerNormalization, ReduceMean/Sum/Max over the last axis),
 * -> one Fused node per chain. Runs last. */
rg_status rg_pass_fuse_reduce(rg_pass_ctx *cx);

/* ---- precision (precision.c; not in the default pipeline: the compiler
 * runs it after the pipeline when a dtype is requested) ---- */

/* Float32 constants, activations and Casts -> opt->dtype (F16 or BF16);
 * float32 graph inputs are cast in, float32 graph outputs cast back out. */
rg_status rg_pass_precision(rg_pass_ctx *cx);

/* ---- approximate_gelu (approximate.c; not in the default pipeline: the
 * compiler runs it after the pipeline when asked) ---- */

/* Linear nodes with the erf GELU epilogue ("gelu") take the tanh form
 * ("gelu_tanh"), which cuBLASLt runs inside the GEMM. */
rg_status rg_pass_approximate_gelu(rg_pass_ctx *cx);

#endif
