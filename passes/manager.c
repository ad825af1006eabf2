/*
 * manager.c — runs the passes in order, with shape inference before the
 * first, and after each one: topological order restored, unused values
 * dropped, the verifier (when asked, and always in debug builds), the
 * optional print, and a line in the report with what changed and how long
 * it took.
 */
#include <string.h>
#include <time.h>

#include "ir/rewrite.h"
#include "pass.h"

static const rg_pass pipeline[] = {
    {"cleanup", "drop Identity, inference Dropout, no-op Cast/Reshape/Expand/Squeeze/Unsqueeze, duplicate "
                "constants and dead nodes", rg_pass_cleanup},
    {"fold", "fold shape subgraphs into constants and symbolic dims, evaluate constant nodes, clean up",
     rg_pass_fold},
    {"fuse_layernorm", "LayerNormalization and its decomposed form -> LayerNorm, residual Add folded in",
     rg_pass_fuse_layer_norm},
    {"fuse_gelu", "erf and tanh forms of GELU -> Gelu", rg_pass_fuse_gelu},
    {"fuse_linear", "MatMul by a constant weight (+ bias) -> Linear, Gelu/Relu as its epilogue", rg_pass_fuse_linear},
    {"fuse_attention", "Q/K/V projections, scores, mask, Softmax and context -> QKV Linear + Attention",
     rg_pass_fuse_attention},
    {"fuse_mask", "attention masks built from the [B, S] mask (and causality) -> key_padding/causal Attention",
     rg_pass_fuse_mask},
    {"fuse_reduce", "remaining elementwise chains and the row reductions next to them -> Fused programs",
     rg_pass_fuse_reduce},
};

#define NPIPELINE (sizeof pipeline / sizeof pipeline[0])

const rg_pass *rg_pass_list(size_t *count) {
    *count = NPIPELINE;
    return pipeline;
}

const rg_pass *rg_pass_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < NPIPELINE; i++)
        if (strcmp(pipeline[i].name, name) == 0) return &pipeline[i];
    return NULL;
}

void rg_pass_count_ops(const rg_graph *g, uint32_t *counts) {
    memset(counts, 0, sizeof *counts * RG_OP_COUNT);
    for (uint32_t i = 0; i < g->nnodes; i++) counts[g->nodes[i]->op]++;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool named_in(const char *name, const rg_pass *const *passes, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(passes[i]->name, name) == 0) return true;
    return false;
}

static rg_status unknown_pass(const char *what, const char *name, const rg_pass *const *passes, size_t n,
                              rg_error *err) {
    char names[256] = "";
    size_t len = 0;
    for (size_t i = 0; i < n && len < sizeof names; i++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", passes[i]->name);
    return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "%s '%s' is not a pass; the passes are %s", what, name,
                        names);
}

/* What every pass ends with, so the next one starts from a tidy graph. */
static rg_status settle(rg_graph *g, const rg_pass *pass, bool verify, rg_error *err) {
    RG_TRY(rg_graph_topo_sort(g, err));
    RG_TRY(rg_rewrite_prune_values(g, NULL, err));
    if (!verify) return RG_OK;
    rg_status st = rg_verify(g, err);
    if (st != RG_OK) return rg_error_prefix(err, st, "the graph is broken after pass '%s'", pass->name);
    return RG_OK;
}

rg_status rg_pass_run_list(rg_graph *g, const rg_pass *const *passes, size_t npasses, const rg_pass_options *opt,
                           rg_pass_report *report, rg_error *err) {
    static const rg_pass_options defaults = {0};
    if (!opt) opt = &defaults;
    if (opt->print_after && !named_in(opt->print_after, passes, npasses))
        return unknown_pass("print-after", opt->print_after, passes, npasses, err);
    if (opt->stop_after && !named_in(opt->stop_after, passes, npasses))
        return unknown_pass("stop-after", opt->stop_after, passes, npasses, err);
    bool verify = opt->verify;
#ifndef NDEBUG
    verify = true;
#endif
    rg_pass_report local;
    if (!report) report = &local;
    memset(report, 0, sizeof *report);
    rg_pass_count_ops(g, report->ops_before);
    double start = now_seconds();
    RG_TRY(rg_infer_shapes(g, err));
    for (size_t i = 0; i < npasses; i++) {
        const rg_pass *pass = passes[i];
        rg_pass_report_entry scratch, *entry = &scratch;
        if (report->npasses < RG_PASS_REPORT_MAX) entry = &report->pass[report->npasses++];
        memset(entry, 0, sizeof *entry);
        entry->name = pass->name;
        entry->nodes_before = g->nnodes;
        double t0 = now_seconds();
        rg_pass_ctx cx = {.g = g, .opt = opt, .stats = &entry->stats, .err = err};
        rg_status st = pass->run(&cx);
        if (st != RG_OK) return rg_error_prefix(err, st, "pass '%s'", pass->name);
        RG_TRY(settle(g, pass, verify, err));
        entry->seconds = now_seconds() - t0;
        entry->nodes_after = g->nnodes;
        if (opt->print_after && strcmp(opt->print_after, pass->name) == 0)
            RG_TRY(rg_print(g, opt->print_to ? opt->print_to : stderr, err));
        if (opt->stop_after && strcmp(opt->stop_after, pass->name) == 0) break;
    }
    report->seconds = now_seconds() - start;
    rg_pass_count_ops(g, report->ops_after);
    return RG_OK;
}

rg_status rg_pass_run(rg_graph *g, const rg_pass_options *opt, rg_pass_report *report, rg_error *err) {
    const rg_pass *list[NPIPELINE];
    for (size_t i = 0; i < NPIPELINE; i++) list[i] = &pipeline[i];
    return rg_pass_run_list(g, list, NPIPELINE, opt, report, err);
}

void rg_pass_report_print(const rg_pass_report *report, FILE *out) {
    for (uint32_t i = 0; i < report->npasses; i++) {
        const rg_pass_report_entry *e = &report->pass[i];
        fprintf(out, "pass %-10s nodes %5u -> %5u  removed %u added %u rewritten %u folded %u merged %u  %.3f ms\n",
                e->name, e->nodes_before, e->nodes_after, e->stats.removed, e->stats.added, e->stats.rewritten,
                e->stats.folded, e->stats.merged, e->seconds * 1e3);
    }
    for (int op = 0; op < RG_OP_COUNT; op++) {
        if (!report->ops_before[op] && !report->ops_after[op]) continue;
        fprintf(out, "  %-20s %5u -> %5u\n", rg_op_name((rg_op)op), report->ops_before[op], report->ops_after[op]);
    }
    fprintf(out, "total %.3f ms\n", report->seconds * 1e3);
}
