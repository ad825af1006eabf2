/*
 * print_dot.c — the graph as Graphviz DOT, for `ragged dump --format dot`.
 *
 * One box per node (op, ONNX node name, and for a Fused node its program),
 * one ellipse per graph input and output, one edge per value read, labelled
 * with the value's name and type. Constants are not drawn (a BERT graph has
 * hundreds); a node's label counts the constant inputs it reads instead.
 * Nodes are named by their ids, so the text is as stable as the graph's
 * order.
 */
#include <stdlib.h>
#include <string.h>

#include "fused.h"
#include "graph.h"

/* Writes s inside a DOT double-quoted string. */
static void put_escaped(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', out);
        if (*s == '\n') fputs("\\n", out);
        else fputc(*s, out);
    }
}

static void put_type(FILE *out, const rg_graph *g, const rg_value *v) {
    char buf[RG_TYPE_TEXT_MAX];
    put_escaped(out, rg_format_type(g, v, buf, sizeof buf));
}

static const char *name_of(const rg_value *v) { return v->name && v->name[0] ? v->name : "(unnamed)"; }

/* A Fused program as left-justified label lines (\l). */
static void put_program(FILE *out, const rg_node *n) {
    rg_fused_program p;
    rg_error ignored = {0};
    if (rg_fused_decode(n, &p, &ignored) != RG_OK) return;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) return;
    rg_fused_print(&p, "", mem);
    fclose(mem);
    fputs("\\n", out);
    for (char *line = text; line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        put_escaped(out, line);
        fputs("\\l", out);
        if (!end) break;
        line = end + 1;
    }
    free(text);
}

static void put_node(FILE *out, const rg_node *n) {
    const rg_op_info *info = rg_op_get(n->op);
    uint32_t nconst = 0;
    for (uint32_t i = 0; i < n->ninputs; i++) nconst += n->inputs[i] && n->inputs[i]->constant && !n->inputs[i]->producer;
    fprintf(out, "  n%u [label=\"", n->id);
    put_escaped(out, info->name);
    if (n->name[0]) {
        fputs("\\n", out);
        put_escaped(out, n->name);
    }
    if (nconst) fprintf(out, "\\n+%u constant%s", nconst, nconst == 1 ? "" : "s");
    if (n->op == RG_OP_FUSED) put_program(out, n);
    fputc('"', out);
    if (info->domain[0]) fputs(", style=filled, fillcolor=\"#dde8f8\"", out);
    fputs("];\n", out);
}

static void put_edge_label(FILE *out, const rg_graph *g, const rg_value *v) {
    fputs(" [label=\"", out);
    put_escaped(out, name_of(v));
    fputs("\\n", out);
    put_type(out, g, v);
    fputs("\"]", out);
}

rg_status rg_print_dot(const rg_graph *g, FILE *out, rg_error *err) {
    if (!g || !out) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_print_dot needs a graph and a stream");
    fputs("digraph \"", out);
    put_escaped(out, g->name ? g->name : "");
    fputs("\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n"
          "  edge [fontname=\"Helvetica\", fontsize=8];\n",
          out);
    for (uint32_t i = 0; i < g->ninputs; i++) {
        fprintf(out, "  in%u [shape=ellipse, label=\"", i);
        put_escaped(out, name_of(g->inputs[i]));
        fputs("\\n", out);
        put_type(out, g, g->inputs[i]);
        fputs("\"];\n", out);
    }
    for (uint32_t i = 0; i < g->noutputs; i++) {
        fprintf(out, "  out%u [shape=ellipse, label=\"", i);
        put_escaped(out, name_of(g->outputs[i]));
        fputs("\"];\n", out);
    }
    for (uint32_t i = 0; i < g->nnodes; i++) put_node(out, g->nodes[i]);
    /* edges: from the producer (or graph input) of every non-constant input */
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const rg_node *n = g->nodes[i];
        for (uint32_t k = 0; k < n->ninputs; k++) {
            const rg_value *v = n->inputs[k];
            if (!v || (v->constant && !v->producer)) continue;
            if (v->producer) {
                fprintf(out, "  n%u -> n%u", v->producer->id, n->id);
            } else {
                uint32_t j = 0;
                while (j < g->ninputs && g->inputs[j] != v) j++;
                if (j == g->ninputs) continue;
                fprintf(out, "  in%u -> n%u", j, n->id);
            }
            put_edge_label(out, g, v);
            fputs(";\n", out);
        }
    }
    for (uint32_t i = 0; i < g->noutputs; i++) {
        const rg_value *v = g->outputs[i];
        if (v->producer) fprintf(out, "  n%u -> out%u", v->producer->id, i);
        else {
            uint32_t j = 0;
            while (j < g->ninputs && g->inputs[j] != v) j++;
            if (j == g->ninputs) continue;
            fprintf(out, "  in%u -> out%u", j, i);
        }
        put_edge_label(out, g, v);
        fputs(";\n", out);
    }
    fputs("}\n", out);
    if (ferror(out)) return rg_error_set(err, RG_ERR_IO, "writing the graph's DOT text failed");
    return RG_OK;
}
