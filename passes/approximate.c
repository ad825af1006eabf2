/*
 * approximate.c — the approximate_gelu pass: the erf GELU after a Linear
 * becomes the tanh approximation, so it runs in the GEMM's epilogue.
 *
 * cuBLASLt's only GELU epilogue is the tanh form. With the exact erf form
 * the CUDA executor must run the GEMM and then a separate bias+GELU kernel
 * that reads and writes the whole [tokens, 4 * hidden] activation once more
 * (about an eighth of BERT-base's time at 64 x 512 in fp16). The two forms
 * differ by at most about 5e-4 in absolute value (near |x| = 2), below
 * float16's rounding of the same numbers, so for half-precision plans this
 * is usually worth it; it is still a change of the model's arithmetic, so it
 * runs only when the compiler is asked (`ragged compile --approximate-gelu`,
 * rg_compile_options.approximate_gelu), like ONNX Runtime's opt-in GELU
 * approximation. Only Linear epilogues change: a Gelu elsewhere is already
 * one elementwise pass inside a Fused kernel and gains nothing.
 */
#include <string.h>

#include "pass.h"

static rg_status pass_approximate_gelu(rg_pass_ctx *cx) {
    rg_graph *g = cx->g;
    for (uint32_t i = 0; i < g->nnodes; i++) {
        rg_node *n = g->nodes[i];
        if (n->op != RG_OP_LINEAR) continue;
        for (uint32_t a = 0; a < n->nattrs; a++) {
            rg_attr *attr = &n->attrs[a];
            if (strcmp(attr->name, "activation") != 0 || attr->kind != RG_ATTR_STRING || strcmp(attr->s, "gelu") != 0)
                continue;
            /* attribute strings live in the graph's arena, shared by nobody else: point at a new one */
            static const char tanh_form[] = "gelu_tanh";
            const char *s = rg_arena_strndup(&g->arena, tanh_form, sizeof tanh_form - 1);
            if (!s) return rg_error_set(cx->err, RG_ERR_NOMEM, "out of memory rewriting node '%s'", n->name);
            attr->s = s;
            attr->s_len = sizeof tanh_form - 1;
            cx->stats->rewritten++;
        }
    }
    return RG_OK;
}

rg_status rg_pass_approximate_gelu(rg_pass_ctx *cx) { return pass_approximate_gelu(cx); }
