/*
 * print.c — the graph as stable, diffable text.
 *
 * One line per input, constant, node and output, in graph order, so that a
 * change to a pass shows up as a small diff and golden tests can pin a graph:
 *
 *   graph "name" opset 17
 *   input  %ids: int64[batch, seq]
 *   const  %w: float32[384, 384]  # 589824 bytes
 *   const  %axes: int64[1] = [0]
 *   %y: float32[batch, seq, 384] = MatMul(%x, %w)  # node "MatMul_12" {transB=1}
 *   output %y
 *
 * Values go by their ONNX names (quoted when they hold characters other
 * than letters, digits and _ . : / -); constants of up to 8 elements are
 * printed inline; attributes are sorted by name; floats use %.9g so that a
 * float32 survives the round trip.
 */
#include <inttypes.h>
#include <string.h>

#include "fused.h"
#include "graph.h"

#define INLINE_MAX 8

static bool plain_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '/' || c == '-';
}

/* A C-style quoted string with \" \\ and \xNN escapes. */
static void print_quoted(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f) fprintf(out, "\\x%02x", *p);
        else fputc(*p, out);
    }
    fputc('"', out);
}

static void print_name(FILE *out, const rg_value *v) {
    if (!v) {
        fputc('_', out);
        return;
    }
    fputc('%', out);
    if (!v->name[0]) {
        fprintf(out, "#%u", v->id);
        return;
    }
    bool plain = true;
    for (const unsigned char *p = (const unsigned char *)v->name; *p && plain; p++) plain = plain_char(*p);
    if (plain) fputs(v->name, out);
    else print_quoted(out, v->name);
}

const char *rg_format_type(const rg_graph *g, const rg_value *v, char *buf, size_t cap) {
    size_t len = (size_t)snprintf(buf, cap, "%s", v->dtype == RG_DTYPE_UNDEFINED ? "?" : rg_dtype_name(v->dtype));
    if (v->rank < 0) {
        if (len < cap) snprintf(buf + len, cap - len, "[...]");
        return buf;
    }
    for (int i = 0; i < v->rank && len < cap; i++) {
        char dim[128];
        rg_dim_format(&v->dims[i], g->symbols, g->nsymbols, dim, sizeof dim);
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "[", dim);
    }
    if (len < cap) snprintf(buf + len, cap - len, v->rank ? "]" : "[]");
    return buf;
}

static void print_type(FILE *out, const rg_graph *g, const rg_value *v) {
    char buf[RG_TYPE_TEXT_MAX];
    fputs(rg_format_type(g, v, buf, sizeof buf), out);
}

static void print_element(FILE *out, const rg_tensor *t, size_t i) {
    switch (t->dtype) {
    case RG_DTYPE_I64: fprintf(out, "%" PRId64, ((const int64_t *)t->data)[i]); break;
    case RG_DTYPE_I32: fprintf(out, "%" PRId32, ((const int32_t *)t->data)[i]); break;
    case RG_DTYPE_BOOL: fputs(((const uint8_t *)t->data)[i] ? "true" : "false", out); break;
    default:
        if (rg_dtype_is_integer(t->dtype)) fprintf(out, "%.0f", rg_load_as_double(t->dtype, t->data, i));
        else fprintf(out, "%.9g", rg_load_as_double(t->dtype, t->data, i));
    }
}

/* Up to INLINE_MAX elements as a list, more as a byte count. */
static void print_payload(FILE *out, const rg_tensor *t) {
    size_t n = rg_tensor_numel(t);
    if (!t->data || n > INLINE_MAX) {
        fprintf(out, "  # %zu bytes", t->nbytes);
        return;
    }
    fputs(" = [", out);
    for (size_t i = 0; i < n; i++) {
        if (i) fputs(", ", out);
        print_element(out, t, i);
    }
    fputc(']', out);
}

static void print_tensor_attr(FILE *out, const rg_tensor *t) {
    if (!t) {
        fputs("tensor", out);
        return;
    }
    fprintf(out, "tensor %s[", rg_dtype_name(t->dtype));
    for (int i = 0; i < t->rank; i++) fprintf(out, "%s%" PRId64, i ? ", " : "", t->dims[i]);
    fputc(']', out);
    print_payload(out, t);
}

static void print_attr(FILE *out, const rg_attr *a) {
    fprintf(out, "%s=", a->name);
    switch (a->kind) {
    case RG_ATTR_FLOAT: fprintf(out, "%.9g", (double)a->f); break;
    case RG_ATTR_INT: fprintf(out, "%" PRId64, a->i); break;
    case RG_ATTR_STRING: print_quoted(out, a->s ? a->s : ""); break;
    case RG_ATTR_TENSOR: print_tensor_attr(out, a->t); break;
    case RG_ATTR_FLOATS:
    case RG_ATTR_INTS:
    case RG_ATTR_STRINGS:
        fputc('[', out);
        for (size_t i = 0; i < a->count; i++) {
            if (i) fputs(", ", out);
            if (a->kind == RG_ATTR_FLOATS) fprintf(out, "%.9g", (double)a->floats[i]);
            else if (a->kind == RG_ATTR_INTS) fprintf(out, "%" PRId64, a->ints[i]);
            else print_quoted(out, a->strings[i] ? a->strings[i] : "");
        }
        fputc(']', out);
        break;
    default: fprintf(out, "<%s>", rg_attr_kind_name(a->kind)); break;
    }
}

/* Attributes in name order without allocating: each round picks the least
 * (name, index) greater than the previous one. */
static void print_attrs(FILE *out, const rg_node *node) {
    if (!node->nattrs) return;
    fputs(" {", out);
    const rg_attr *prev = NULL;
    uint32_t prev_index = 0;
    for (uint32_t round = 0; round < node->nattrs; round++) {
        const rg_attr *best = NULL;
        uint32_t best_index = 0;
        for (uint32_t i = 0; i < node->nattrs; i++) {
            const rg_attr *a = &node->attrs[i];
            if (prev) {
                int c = strcmp(a->name, prev->name);
                if (c < 0 || (c == 0 && i <= prev_index)) continue;
            }
            if (!best || strcmp(a->name, best->name) < 0) {
                best = a;
                best_index = i;
            }
        }
        if (!best) break;
        if (round) fputs(", ", out);
        print_attr(out, best);
        prev = best;
        prev_index = best_index;
    }
    fputc('}', out);
}

static void print_node(FILE *out, const rg_graph *g, const rg_node *node) {
    for (uint32_t i = 0; i < node->noutputs; i++) {
        if (i) fputs(", ", out);
        print_name(out, node->outputs[i]);
        if (node->outputs[i]) {
            fputs(": ", out);
            print_type(out, g, node->outputs[i]);
        }
    }
    fprintf(out, " = %s(", rg_op_name(node->op));
    for (uint32_t i = 0; i < node->ninputs; i++) {
        if (i) fputs(", ", out);
        print_name(out, node->inputs[i]);
    }
    fputc(')', out);
    if (node->name[0] || node->nattrs) fputs("  #", out);
    if (node->name[0]) {
        fputs(" node ", out);
        print_quoted(out, node->name);
    }
    if (node->opset && node->opset != g->opset) fprintf(out, " opset %d", node->opset);
    print_attrs(out, node);
    fputc('\n', out);
    /* A Fused node's program, one instruction a line (fused.h). */
    rg_fused_program prog;
    rg_error ignored = {0};
    if (node->op == RG_OP_FUSED && rg_fused_decode(node, &prog, &ignored) == RG_OK)
        rg_fused_print(&prog, "    | ", out);
}

rg_status rg_print(const rg_graph *g, FILE *out, rg_error *err) {
    if (!g || !out) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_print needs a graph and a stream");
    fputs("graph ", out);
    print_quoted(out, g->name ? g->name : "");
    fprintf(out, " opset %d\n", g->opset);
    for (uint32_t i = 0; i < g->ninputs; i++) {
        fputs("input  ", out);
        print_name(out, g->inputs[i]);
        fputs(": ", out);
        print_type(out, g, g->inputs[i]);
        fputc('\n', out);
    }
    for (uint32_t i = 0; i < g->nvalues; i++) {
        const rg_value *v = g->values[i];
        if (!v->constant || v->producer) continue;
        fputs("const  ", out);
        print_name(out, v);
        fputs(": ", out);
        print_type(out, g, v);
        print_payload(out, v->constant);
        fputc('\n', out);
    }
    for (uint32_t i = 0; i < g->nnodes; i++) print_node(out, g, g->nodes[i]);
    for (uint32_t i = 0; i < g->noutputs; i++) {
        fputs("output ", out);
        print_name(out, g->outputs[i]);
        fputc('\n', out);
    }
    if (ferror(out)) return rg_error_set(err, RG_ERR_IO, "writing the graph's text failed");
    return RG_OK;
}
