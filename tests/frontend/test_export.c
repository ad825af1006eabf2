/*
 * test_export.c — the dump formats: ONNX export (an ONNX-only graph comes
 * back through our own importer and computes the same; a fused graph with
 * ai.ragged ops passes the onnx checker, when python3 with onnx is there)
 * and the DOT printer's structure (Graphviz itself may be absent).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend/onnx.h"
#include "frontend/onnx_export.h"
#include "ir/fused.h"
#include "passes/pass.h"
#include "runtime/cpu.h"
#include "tools/evaluator.h"

/* The model under RG_SOURCE_DIR (set by ctest), or the working folder. */
static bool minilm_path(char *path, size_t cap) {
    const char *root = getenv("RG_SOURCE_DIR");
    snprintf(path, cap, "%s/models/cache/paraphrase-MiniLM-L3-v2/model.onnx", root ? root : ".");
    return access(path, R_OK) == 0;
}

static rg_graph *import_stage(const char *path, bool fused) {
    rg_graph *g = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_onnx_import_file(path, NULL, &g, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_infer_shapes(g, &err), RG_OK, "%s", err.message);
    if (fused) {
        rg_pass_options opt = {.verify = true, .eval = rg_tool_cpu_evaluator()};
        cr_assert_eq(rg_pass_run(g, &opt, NULL, &err), RG_OK, "%s", err.message);
    }
    return g;
}

/* Runs g on ids/mask inputs of [1, 8]; returns a malloc'd copy of all its
 * outputs' bytes, one after the other. */
static char *run_outputs(const rg_graph *g, size_t *n) {
    rg_tensor in[4];
    int64_t data[4][8];
    cr_assert_leq(g->ninputs, 4);
    for (uint32_t i = 0; i < g->ninputs; i++) {
        int64_t dims[2] = {1, 8};
        cr_assert_eq(rg_tensor_set_shape(&in[i], RG_DTYPE_I64, 2, dims, NULL), RG_OK);
        for (int k = 0; k < 8; k++)
            data[i][k] = strstr(g->inputs[i]->name, "mask") ? 1 : strstr(g->inputs[i]->name, "type") ? 0 : 100 + 37 * k;
        in[i].data = data[i];
    }
    rg_cpu_exec *exec = NULL;
    rg_error err = {0};
    cr_assert_eq(rg_cpu_exec_new(g, NULL, 1, &exec, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_cpu_exec_run(exec, in, g->ninputs, &err), RG_OK, "%s", err.message);
    size_t total = 0;
    for (uint32_t i = 0; i < g->noutputs; i++) total += rg_cpu_exec_output(exec, i)->nbytes;
    char *copy = malloc(total ? total : 1);
    total = 0;
    for (uint32_t i = 0; i < g->noutputs; i++) {
        const rg_tensor *t = rg_cpu_exec_output(exec, i);
        memcpy(copy + total, t->data, t->nbytes);
        total += t->nbytes;
    }
    *n = total;
    rg_cpu_exec_free(exec);
    return copy;
}

Test(export, onnx_graph_reimports_and_computes_the_same) {
    char path[4096];
    if (!minilm_path(path, sizeof path)) cr_skip_test("%s is missing: run bash models/fetch.sh", path);
    rg_graph *g = import_stage(path, false);
    void *buf = NULL;
    size_t size = 0;
    rg_error err = {0};
    cr_assert_eq(rg_onnx_export_buffer(g, NULL, &buf, &size, &err), RG_OK, "%s", err.message);
    rg_graph *back = NULL;
    cr_assert_eq(rg_onnx_import_buffer(buf, size, NULL, NULL, &back, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_infer_shapes(back, &err), RG_OK, "%s", err.message);
    cr_assert_eq(back->nnodes, g->nnodes);
    cr_assert_eq(back->ninputs, g->ninputs);
    cr_assert_eq(back->noutputs, g->noutputs);
    size_t n1, n2;
    char *a = run_outputs(g, &n1), *b = run_outputs(back, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(a, b, n1), 0, "the re-imported graph computes something else");
    free(a);
    free(b);
    rg_mem_free(rg_allocator_default(), buf, size ? size : 1);
    rg_graph_free(back);
    rg_graph_free(g);
}

Test(export, fused_graph_passes_the_onnx_checker) {
    char path[4096], out[128], cmd[512];
    if (!minilm_path(path, sizeof path)) cr_skip_test("%s is missing: run bash models/fetch.sh", path);
    if (system("python3 -c 'import onnx' >/dev/null 2>&1") != 0) cr_skip_test("python3 with onnx is not installed");
    rg_graph *g = import_stage(path, true);
    bool has_fused = false;
    for (uint32_t i = 0; i < g->nnodes; i++) has_fused |= g->nodes[i]->op == RG_OP_FUSED;
    cr_assert(has_fused);
    snprintf(out, sizeof out, "/tmp/rg_export_%ld.onnx", (long)getpid());
    rg_error err = {0};
    cr_assert_eq(rg_onnx_export_file(g, out, &err), RG_OK, "%s", err.message);
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import onnx, sys; m = onnx.load('%s'); onnx.checker.check_model(m); "
             "d = [n.domain for n in m.graph.node]; "
             "sys.exit(0 if d.count('ai.ragged') > 0 and len(d) == %u and "
             "any(o.domain == 'ai.ragged' for o in m.opset_import) else 3)\"",
             out, g->nnodes);
    int rc = system(cmd);
    unlink(out);
    cr_assert_eq(rc, 0, "the onnx checker refused the export (status %d)", rc);
    rg_graph_free(g);
}

Test(export, unwritable_path_is_an_error) {
    rg_graph *g = NULL;
    cr_assert_eq(rg_graph_new(NULL, &g, NULL), RG_OK);
    g->opset = 17;
    rg_error err = {0};
    cr_assert_eq(rg_onnx_export_file(g, "/nonexistent-dir/x.onnx", &err), RG_ERR_IO);
    cr_assert(strstr(err.message, "/nonexistent-dir/x.onnx"), "%s", err.message);
    rg_graph_free(g);
}

static size_t count_of(const char *text, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

Test(export, dot_structure) {
    char path[4096];
    if (!minilm_path(path, sizeof path)) cr_skip_test("%s is missing: run bash models/fetch.sh", path);
    rg_graph *g = import_stage(path, true);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    rg_error err = {0};
    cr_assert_eq(rg_print_dot(g, mem, &err), RG_OK, "%s", err.message);
    fclose(mem);
    cr_assert_eq(strncmp(text, "digraph \"", 9), 0);
    cr_assert_eq(strcmp(text + len - 2, "}\n"), 0);
    /* one declaration per node, one ellipse per graph input and output */
    for (uint32_t i = 0; i < g->nnodes; i++) {
        char decl[32];
        snprintf(decl, sizeof decl, "\n  n%u [label=\"", g->nodes[i]->id);
        cr_assert_eq(count_of(text, decl), 1, "node %u declared %zu times", i, count_of(text, decl));
    }
    cr_assert_eq(count_of(text, "shape=ellipse"), g->ninputs + g->noutputs);
    /* one edge per non-constant input read and per graph output */
    size_t edges = g->noutputs;
    for (uint32_t i = 0; i < g->nnodes; i++)
        for (uint32_t k = 0; k < g->nodes[i]->ninputs; k++) {
            const rg_value *v = g->nodes[i]->inputs[k];
            edges += v && !(v->constant && !v->producer);
        }
    cr_assert_eq(count_of(text, " -> "), edges);
    /* quotes balance on every line; Fused programs are in the labels */
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        size_t quotes = 0;
        for (char *p = line; p < end; p++) quotes += *p == '"' && (p == line || p[-1] != '\\');
        cr_assert_eq(quotes % 2, 0, "unbalanced quotes: %.*s", (int)(end - line), line);
        line = end + 1;
    }
    cr_assert(strstr(text, "Fused\\n") && strstr(text, "store out0"), "no Fused program in the DOT text");
    free(text);
    rg_graph_free(g);
}
