/*
 * cmd_dump.c — `ragged dump MODEL.onnx|MODEL.plan [--stage S] [--format F]
 * [--print-after PASS] [--stats] [-o FILE]`: prints a graph at a stage of
 * the pipeline as stable text (rg_print), Graphviz DOT (rg_print_dot) or an
 * ONNX model (rg_onnx_export_file), or its statistics.
 *
 * Stages of an ONNX model: `imported` (shapes inferred, no pass), `optimized`
 * (every pass before the reduction fusion: cleanup, folding, pattern fusion)
 * and `fused` (the whole pipeline). A plan holds its compiled graph; it has
 * no stages to choose from.
 *
 * Whether the file is a plan or an ONNX model is decided by its first bytes
 * (a plan starts with RG_PLAN_MAGIC; ONNX protobuf has no magic), never by
 * its name. An ONNX model is imported and its shapes inferred, so the dump
 * shows what the compiler starts from.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "evaluator.h"
#include "frontend/onnx.h"
#include "frontend/onnx_export.h"
#include "ir/serialize.h"
#include "passes/pass.h"
#include "runtime/plan.h"

enum { OPT_HELP, OPT_OUTPUT, OPT_STATS, OPT_STAGE, OPT_FORMAT, OPT_PRINT_AFTER, OPT_KERNEL, OPT_KERNELS };

static const rg_cli_option dump_options[] = {
    {"help", 'h', false, OPT_HELP},
    {"output", 'o', true, OPT_OUTPUT},
    {"stats", 0, false, OPT_STATS},
    {"stage", 0, true, OPT_STAGE},
    {"format", 0, true, OPT_FORMAT},
    {"print-after", 0, true, OPT_PRINT_AFTER},
    {"kernel", 0, true, OPT_KERNEL},
    {"kernels", 0, false, OPT_KERNELS},
    {NULL, 0, false, 0},
};

typedef enum dump_stage { STAGE_NONE, STAGE_IMPORTED, STAGE_OPTIMIZED, STAGE_FUSED } dump_stage;
typedef enum dump_format { FORMAT_TEXT, FORMAT_DOT, FORMAT_ONNX } dump_format;

/* The pass the reduction fusion starts with: `optimized` stops before it. */
#define FUSION_PASS "fuse_reduce"

static void print_help(void) {
    printf("usage: ragged dump FILE [--stage imported|optimized|fused] [--format text|dot|onnx]\n"
           "                   [--print-after PASS] [--stats] [-o OUT]\n"
           "       ragged dump PLAN --kernels | --kernel NAME [-o OUT]\n"
           "\n"
           "Prints the graph of an ONNX model at a stage of the pipeline, or of a plan.\n"
           "FILE is recognised as a plan by its magic bytes, otherwise read as ONNX.\n"
           "\n"
           "options:\n"
           "  --stage S        imported (default): shapes inferred, no pass; optimized: cleanup,\n"
           "                   folding and pattern fusion; fused: the whole pipeline\n"
           "  --format F       text (default, stable and diffable), dot (Graphviz) or onnx\n"
           "                   (a model with custom-domain ai.ragged ops; needs -o)\n"
           "  --print-after P  also print the graph as text after pass P, to standard error\n"
           "  --stats          print statistics instead: node count per op, value count,\n"
           "                   constant count and bytes; with passes run, one line per pass\n"
           "                   and node counts per op before and after\n"
           "  --kernels        (a GPU plan) list its CUDA modules: name, kind, arch, nodes,\n"
           "                   cubin bytes\n"
           "  --kernel NAME    (a GPU plan) print the CUDA source module NAME was compiled from\n"
           "  -o, --output OUT write to OUT instead of standard output\n"
           "  -h, --help       this text\n"
           "\n"
           "passes, in order:\n");
    size_t n;
    const rg_pass *passes = rg_pass_list(&n);
    for (size_t i = 0; i < n; i++) printf("  %-16s %s\n", passes[i].name, passes[i].summary);
}

typedef struct dump_request {
    const char *path;
    const char *output;
    bool stats;
    dump_stage stage;
    dump_format format;
    const char *print_after;
    const char *kernel; /* --kernel NAME */
    bool kernels;       /* --kernels */
} dump_request;

static rg_status is_plan_file(const char *path, bool *out, rg_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return rg_error_set(err, RG_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char magic[RG_PLAN_MAGIC_SIZE];
    size_t n = fread(magic, 1, sizeof magic, f);
    bool read_failed = ferror(f) != 0;
    fclose(f);
    if (read_failed) return rg_error_set(err, RG_ERR_IO, "cannot read '%s'", path);
    *out = n == sizeof magic && memcmp(magic, RG_PLAN_MAGIC, sizeof magic) == 0;
    return RG_OK;
}

typedef struct op_count {
    rg_op op;
    size_t count;
} op_count;

static int by_count_then_name(const void *a, const void *b) {
    const op_count *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(rg_op_name(x->op), rg_op_name(y->op));
}

static rg_status print_stats(const rg_graph *g, FILE *out, rg_error *err) {
    op_count counts[RG_OP_COUNT];
    for (int op = 0; op < RG_OP_COUNT; op++) counts[op] = (op_count){(rg_op)op, 0};
    for (uint32_t i = 0; i < g->nnodes; i++) counts[g->nodes[i]->op].count++;
    qsort(counts, RG_OP_COUNT, sizeof counts[0], by_count_then_name);

    size_t nconstants = 0;
    uint64_t constant_bytes = 0;
    for (uint32_t i = 0; i < g->nvalues; i++) {
        if (!g->values[i]->constant) continue;
        nconstants++;
        constant_bytes += g->values[i]->constant->nbytes;
    }
    fprintf(out, "graph: %s\n", g->name && g->name[0] ? g->name : "(unnamed)");
    fprintf(out, "inputs: %u\noutputs: %u\n", g->ninputs, g->noutputs);
    fprintf(out, "values: %u\n", g->nvalues);
    fprintf(out, "constants: %zu (%llu bytes)\n", nconstants, (unsigned long long)constant_bytes);
    fprintf(out, "nodes: %u\n", g->nnodes);
    for (int i = 0; i < RG_OP_COUNT && counts[i].count; i++)
        fprintf(out, "  %-20s %zu\n", rg_op_name(counts[i].op), counts[i].count);
    if (ferror(out)) return rg_error_set(err, RG_ERR_IO, "cannot write the statistics");
    return RG_OK;
}

static rg_status print_graph(const rg_graph *g, const dump_request *req, const rg_pass_report *report,
                             rg_error *err) {
    if (req->format == FORMAT_ONNX && !req->stats) return rg_onnx_export_file(g, req->output, err);
    FILE *out = stdout;
    if (req->output) {
        out = fopen(req->output, "w");
        if (!out) return rg_error_set(err, RG_ERR_IO, "cannot create '%s': %s", req->output, strerror(errno));
    }
    rg_status st;
    if (req->stats) {
        st = print_stats(g, out, err);
        if (st == RG_OK && report) rg_pass_report_print(report, out);
    } else {
        st = req->format == FORMAT_DOT ? rg_print_dot(g, out, err) : rg_print(g, out, err);
    }
    if (fflush(out) != 0 && st == RG_OK)
        st = rg_error_set(err, RG_ERR_IO, "cannot write '%s'", req->output ? req->output : "standard output");
    if (req->output && fclose(out) != 0 && st == RG_OK)
        st = rg_error_set(err, RG_ERR_IO, "cannot write '%s'", req->output);
    return st;
}

/* The pass `optimized` stops after: the one before the reduction fusion. */
static const char *last_optimizing_pass(void) {
    size_t n;
    const rg_pass *passes = rg_pass_list(&n);
    for (size_t i = 1; i < n; i++)
        if (strcmp(passes[i].name, FUSION_PASS) == 0) return passes[i - 1].name;
    return NULL;
}

static rg_status run_passes(rg_graph *g, const dump_request *req, rg_pass_report *report, rg_error *err) {
    rg_pass_options opt = {
        .print_after = req->print_after,
        .print_to = stderr,
        .stop_after = req->stage == STAGE_OPTIMIZED ? last_optimizing_pass() : NULL,
        .eval = rg_tool_cpu_evaluator(),
    };
    return rg_pass_run(g, &opt, report, err);
}

/* --kernels: one line per module of the plan's KERNELS section. */
static rg_status print_kernel_list(const rg_plan *plan, FILE *out) {
    fprintf(out, "%-28s %-18s %-7s %6s %10s\n", "name", "kind", "arch", "nodes", "cubin");
    for (size_t i = 0; i < plan->nkernels; i++) {
        const rg_ir_kernel *k = &plan->kernels[i];
        fprintf(out, "%-28s %-18s %-7s %6u %10zu\n", k->name, k->kind, k->arch, k->nnodes, k->cubin_size);
    }
    return RG_OK;
}

/* --kernel NAME: the module's stored source; an unknown name lists the names. */
static rg_status print_kernel(const rg_plan *plan, const char *name, FILE *out, rg_error *err) {
    for (size_t i = 0; i < plan->nkernels; i++)
        if (!strcmp(plan->kernels[i].name, name)) {
            fwrite(plan->kernels[i].source, 1, plan->kernels[i].source_size, out);
            return RG_OK;
        }
    if (!plan->nkernels)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "no kernel '%s': the plan has no CUDA kernels (a CPU plan)",
                            name);
    char names[RG_ERROR_MESSAGE_MAX];
    size_t len = 0;
    names[0] = '\0';
    for (size_t i = 0; i < plan->nkernels && len < sizeof names; i++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", plan->kernels[i].name);
    return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "no kernel '%s' in the plan; its kernels are %s", name, names);
}

static rg_status dump_kernels(const dump_request *req, const rg_plan *plan, rg_error *err) {
    FILE *out = stdout;
    if (req->output) {
        out = fopen(req->output, "w");
        if (!out) return rg_error_set(err, RG_ERR_IO, "cannot create '%s': %s", req->output, strerror(errno));
    }
    rg_status st = req->kernel ? print_kernel(plan, req->kernel, out, err) : print_kernel_list(plan, out);
    if (fflush(out) != 0 && st == RG_OK)
        st = rg_error_set(err, RG_ERR_IO, "cannot write '%s'", req->output ? req->output : "standard output");
    if (req->output && fclose(out) != 0 && st == RG_OK)
        st = rg_error_set(err, RG_ERR_IO, "cannot write '%s'", req->output);
    return st;
}

static rg_status dump(const dump_request *req, rg_error *err) {
    bool plan_file;
    RG_TRY(is_plan_file(req->path, &plan_file, err));
    if (!plan_file && (req->kernel || req->kernels))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "'%s' is not a plan: --kernel and --kernels read a plan "
                            "compiled with --target sm_XX", req->path);
    if (plan_file) {
        if (req->stage != STAGE_NONE || req->print_after)
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT,
                                "'%s' is a plan: it holds its compiled graph, with no stages or passes to choose",
                                req->path);
        rg_plan *plan = NULL;
        RG_TRY(rg_plan_load(req->path, &plan, err));
        rg_status st = req->kernel || req->kernels ? dump_kernels(req, plan, err) : print_graph(plan->graph, req, NULL, err);
        rg_plan_free(plan);
        return st;
    }
    rg_graph *g = NULL;
    RG_TRY(rg_onnx_import_file(req->path, NULL, &g, err));
    rg_status st = rg_infer_shapes(g, err);
    rg_pass_report report;
    bool ran = req->stage == STAGE_OPTIMIZED || req->stage == STAGE_FUSED;
    if (st == RG_OK && ran) st = run_passes(g, req, &report, err);
    if (st != RG_OK) rg_error_prefix(err, st, "%s", req->path);
    else st = print_graph(g, req, ran ? &report : NULL, err);
    rg_graph_free(g);
    return st;
}

int rg_cmd_dump(int argc, char **argv) {
    dump_request req = {0};
    rg_cli_args args;
    rg_cli_args_init(&args, argc, argv, "dump");
    int id;
    const char *value;
    rg_cli_item item;
    while ((item = rg_cli_next(&args, dump_options, &id, &value)) != RG_CLI_END) {
        if (item == RG_CLI_BAD) return RG_EXIT_USAGE;
        if (item == RG_CLI_POSITIONAL) {
            if (req.path) return rg_cli_usage_error("dump", "more than one file given ('%s' and '%s')", req.path, value);
            req.path = value;
            continue;
        }
        switch (id) {
        case OPT_HELP: print_help(); return RG_EXIT_OK;
        case OPT_OUTPUT: req.output = value; break;
        case OPT_STATS: req.stats = true; break;
        case OPT_STAGE:
            if (strcmp(value, "imported") == 0) req.stage = STAGE_IMPORTED;
            else if (strcmp(value, "optimized") == 0) req.stage = STAGE_OPTIMIZED;
            else if (strcmp(value, "fused") == 0) req.stage = STAGE_FUSED;
            else return rg_cli_usage_error("dump", "--stage must be imported, optimized or fused, not '%s'", value);
            break;
        case OPT_FORMAT:
            if (strcmp(value, "text") == 0) req.format = FORMAT_TEXT;
            else if (strcmp(value, "dot") == 0) req.format = FORMAT_DOT;
            else if (strcmp(value, "onnx") == 0) req.format = FORMAT_ONNX;
            else return rg_cli_usage_error("dump", "--format must be text, dot or onnx, not '%s'", value);
            break;
        case OPT_PRINT_AFTER:
            if (!rg_pass_find(value)) {
                char names[512];
                size_t n, len = 0;
                const rg_pass *list = rg_pass_list(&n);
                names[0] = '\0';
                for (size_t i = 0; i < n && len < sizeof names; i++)
                    len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", list[i].name);
                return rg_cli_usage_error("dump", "--print-after: '%s' is not a pass; the passes are %s", value,
                                          names);
            }
            req.print_after = value;
            break;
        case OPT_KERNEL: req.kernel = value; break;
        case OPT_KERNELS: req.kernels = true; break;
        default: return rg_cli_usage_error("dump", "unhandled option");
        }
    }
    if (!req.path) return rg_cli_usage_error("dump", "no model or plan file given");
    if (req.format == FORMAT_ONNX && !req.stats && !req.output)
        return rg_cli_usage_error("dump", "--format onnx writes a binary model: give a file with -o");
    if (req.print_after && req.stage != STAGE_OPTIMIZED && req.stage != STAGE_FUSED)
        req.stage = STAGE_FUSED; /* printing after a pass means running the passes */
    rg_error err = {0};
    if (dump(&req, &err) != RG_OK) return rg_cli_fail(&err);
    return RG_EXIT_OK;
}
