/*
 * onnx_attr.c — AttributeProto → rg_attr.
 *
 * Every attribute kind is kept: scalars and lists are copied into the graph's
 * arena, tensors decoded like initializers. Graphs, sparse tensors and type
 * protos are recorded by kind only (ragged runs no subgraphs), so that an op
 * needing them fails later with a message naming the attribute instead of the
 * attribute vanishing. Models older than IR version 4 may leave `type` unset;
 * the kind is then taken from the field that is filled.
 */
#include <string.h>

#include "onnx_internal.h"

static rg_attr_kind kind_from_fields(const Onnx__AttributeProto *a) {
    if (a->has_f) return RG_ATTR_FLOAT;
    if (a->has_i) return RG_ATTR_INT;
    if (a->has_s) return RG_ATTR_STRING;
    if (a->t) return RG_ATTR_TENSOR;
    if (a->g) return RG_ATTR_GRAPH;
    if (a->sparse_tensor) return RG_ATTR_SPARSE_TENSOR;
    if (a->tp) return RG_ATTR_TYPE_PROTO;
    if (a->n_floats) return RG_ATTR_FLOATS;
    if (a->n_ints) return RG_ATTR_INTS;
    if (a->n_strings) return RG_ATTR_STRINGS;
    if (a->n_tensors) return RG_ATTR_TENSORS;
    if (a->n_graphs) return RG_ATTR_GRAPHS;
    if (a->n_sparse_tensors) return RG_ATTR_SPARSE_TENSORS;
    if (a->n_type_protos) return RG_ATTR_TYPE_PROTOS;
    return RG_ATTR_UNDEFINED;
}

static rg_attr_kind kind_from_type(Onnx__AttributeProto__AttributeType type) {
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return RG_ATTR_FLOAT;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return RG_ATTR_INT;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return RG_ATTR_STRING;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return RG_ATTR_TENSOR;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return RG_ATTR_GRAPH;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR: return RG_ATTR_SPARSE_TENSOR;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO: return RG_ATTR_TYPE_PROTO;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return RG_ATTR_FLOATS;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return RG_ATTR_INTS;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return RG_ATTR_STRINGS;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS: return RG_ATTR_TENSORS;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS: return RG_ATTR_GRAPHS;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS: return RG_ATTR_SPARSE_TENSORS;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS: return RG_ATTR_TYPE_PROTOS;
    default: return RG_ATTR_UNDEFINED;
    }
}

static rg_status oom(const char *name, rg_error *err) {
    return rg_error_set(err, RG_ERR_NOMEM, "out of memory copying attribute '%s'", name);
}

static rg_status convert_strings(rg_graph *g, const Onnx__AttributeProto *a, rg_attr *out, rg_error *err) {
    char **strings = rg_arena_array(&g->arena, a->n_strings, sizeof *strings);
    size_t *lens = rg_arena_array(&g->arena, a->n_strings, sizeof *lens);
    if (!strings || !lens) return oom(out->name, err);
    for (size_t i = 0; i < a->n_strings; i++) {
        strings[i] = rg_arena_strndup(&g->arena, (const char *)a->strings[i].data, a->strings[i].len);
        if (!strings[i]) return oom(out->name, err);
        lens[i] = a->strings[i].len;
    }
    out->strings = (const char *const *)strings;
    out->string_lens = lens;
    return RG_OK;
}

static rg_status convert_tensors(rg_graph *g, const Onnx__AttributeProto *a, const char *base_dir, rg_attr *out,
                                 rg_error *err) {
    rg_tensor **tensors = rg_arena_array(&g->arena, a->n_tensors, sizeof *tensors);
    if (!tensors) return oom(out->name, err);
    for (size_t i = 0; i < a->n_tensors; i++)
        RG_TRY(rg_onnx_tensor_to_graph(g, a->tensors[i], base_dir, &tensors[i], err));
    out->tensors = (rg_tensor *const *)tensors;
    return RG_OK;
}

/* The element count a list kind carries; 0 for other kinds. */
static size_t list_count(const Onnx__AttributeProto *a, rg_attr_kind kind) {
    switch (kind) {
    case RG_ATTR_FLOATS: return a->n_floats;
    case RG_ATTR_INTS: return a->n_ints;
    case RG_ATTR_STRINGS: return a->n_strings;
    case RG_ATTR_TENSORS: return a->n_tensors;
    case RG_ATTR_GRAPHS: return a->n_graphs;
    case RG_ATTR_SPARSE_TENSORS: return a->n_sparse_tensors;
    case RG_ATTR_TYPE_PROTOS: return a->n_type_protos;
    default: return 0;
    }
}

rg_status rg_onnx_convert_attr(rg_graph *g, const Onnx__AttributeProto *a, const char *base_dir, rg_attr *out,
                               rg_error *err) {
    const char *name = rg_onnx_str(a->name);
    if (!name[0]) return rg_error_set(err, RG_ERR_INVALID_MODEL, "an attribute has no name");
    if (a->ref_attr_name && a->ref_attr_name[0])
        return rg_error_set(err, RG_ERR_INVALID_MODEL,
                            "attribute '%s' refers to function attribute '%s' outside a function", name,
                            a->ref_attr_name);
    rg_attr_kind kind = a->has_type ? kind_from_type(a->type) : kind_from_fields(a);
    if (kind == RG_ATTR_UNDEFINED)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "attribute '%s' has no type", name);
    memset(out, 0, sizeof *out);
    out->name = rg_arena_strdup(&g->arena, name);
    if (!out->name) return oom(name, err);
    out->kind = kind;
    out->count = list_count(a, kind);
    switch (kind) {
    case RG_ATTR_FLOAT: out->f = a->f; break;
    case RG_ATTR_INT: out->i = a->i; break;
    case RG_ATTR_STRING:
        out->s = rg_arena_strndup(&g->arena, (const char *)a->s.data, a->s.len);
        if (!out->s) return oom(name, err);
        out->s_len = a->s.len;
        break;
    case RG_ATTR_TENSOR:
        if (!a->t) return rg_error_set(err, RG_ERR_INVALID_MODEL, "tensor attribute '%s' holds no tensor", name);
        RG_TRY(rg_onnx_tensor_to_graph(g, a->t, base_dir, &out->t, err));
        break;
    case RG_ATTR_FLOATS: {
        float *copy = rg_arena_array(&g->arena, a->n_floats, sizeof *copy);
        if (!copy) return oom(name, err);
        if (a->n_floats) memcpy(copy, a->floats, sizeof *copy * a->n_floats);
        out->floats = copy;
        break;
    }
    case RG_ATTR_INTS: {
        int64_t *copy = rg_arena_array(&g->arena, a->n_ints, sizeof *copy);
        if (!copy) return oom(name, err);
        if (a->n_ints) memcpy(copy, a->ints, sizeof *copy * a->n_ints);
        out->ints = copy;
        break;
    }
    case RG_ATTR_STRINGS: return convert_strings(g, a, out, err);
    case RG_ATTR_TENSORS: return convert_tensors(g, a, base_dir, out, err);
    default: break; /* graphs, sparse tensors, type protos: markers only */
    }
    return RG_OK;
}
