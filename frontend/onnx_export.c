/*
 * onnx_export.c — IR graph -> ONNX ModelProto (see onnx_export.h).
 *
 * Every protobuf-c message is built in one scratch arena that dies when the
 * function returns, so there is a single cleanup path whatever fails. The
 * payloads of constants are not copied: raw_data points at the graph's own
 * bytes (the in-memory layout is ONNX's little-endian raw layout).
 */
#include "onnx_export.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "onnx.pb-c.h"

typedef struct export_ctx {
    const rg_graph *g;
    rg_arena arena;
    bool nomem;
} export_ctx;

static void *ex_alloc(export_ctx *ex, size_t count, size_t size) {
    void *p = rg_arena_array(&ex->arena, count ? count : 1, size);
    if (!p) ex->nomem = true;
    else memset(p, 0, (count ? count : 1) * size);
    return p;
}

static char *ex_strdup(export_ctx *ex, const char *s) {
    char *p = rg_arena_strdup(&ex->arena, s ? s : "");
    if (!p) ex->nomem = true;
    return p;
}

static char *value_name(export_ctx *ex, const rg_value *v) {
    if (!v) return ex_strdup(ex, "");
    if (v->name && v->name[0]) return (char *)v->name;
    char buf[32];
    snprintf(buf, sizeof buf, "_ragged_v%u", v->id);
    return ex_strdup(ex, buf);
}

static Onnx__TensorProto *tensor_proto(export_ctx *ex, const rg_tensor *t, const char *name) {
    Onnx__TensorProto *p = ex_alloc(ex, 1, sizeof *p);
    if (!p) return NULL;
    *p = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    p->name = (char *)(name ? name : "");
    p->n_dims = (size_t)t->rank;
    p->dims = ex_alloc(ex, (size_t)t->rank, sizeof *p->dims);
    if (!p->dims) return NULL;
    memcpy(p->dims, t->dims, sizeof *p->dims * (size_t)t->rank);
    p->has_data_type = 1;
    p->data_type = rg_dtype_to_onnx(t->dtype);
    p->has_raw_data = 1;
    p->raw_data.len = t->nbytes;
    p->raw_data.data = t->nbytes ? t->data : NULL;
    return p;
}

static Onnx__ValueInfoProto *value_info(export_ctx *ex, const rg_value *v) {
    Onnx__ValueInfoProto *vi = ex_alloc(ex, 1, sizeof *vi);
    Onnx__TypeProto *tp = ex_alloc(ex, 1, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = ex_alloc(ex, 1, sizeof *tt);
    if (!vi || !tp || !tt) return NULL;
    *vi = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    *tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    vi->name = value_name(ex, v);
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = v->dtype == RG_DTYPE_UNDEFINED ? 0 : rg_dtype_to_onnx(v->dtype);
    if (v->rank < 0) return vi;
    Onnx__TensorShapeProto *shape = ex_alloc(ex, 1, sizeof *shape);
    Onnx__TensorShapeProto__Dimension **dims = ex_alloc(ex, (size_t)v->rank, sizeof *dims);
    if (!shape || !dims) return NULL;
    *shape = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    shape->n_dim = (size_t)v->rank;
    shape->dim = dims;
    tt->shape = shape;
    for (int d = 0; d < v->rank; d++) {
        Onnx__TensorShapeProto__Dimension *dim = ex_alloc(ex, 1, sizeof *dim);
        if (!dim) return NULL;
        *dim = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        int64_t value;
        if (rg_dim_is_const(&v->dims[d], &value)) {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = value;
        } else if (!v->dims[d].unknown) {
            char buf[256];
            rg_dim_format(&v->dims[d], ex->g->symbols, ex->g->nsymbols, buf, sizeof buf);
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim->dim_param = ex_strdup(ex, buf);
        }
        dims[d] = dim;
    }
    return vi;
}

/* One attribute; NULL with *skip set for the marker kinds ragged does not keep. */
static Onnx__AttributeProto *attribute(export_ctx *ex, const rg_attr *a, bool *skip) {
    *skip = false;
    Onnx__AttributeProto *p = ex_alloc(ex, 1, sizeof *p);
    if (!p) return NULL;
    *p = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    p->name = (char *)a->name;
    p->has_type = 1;
    switch (a->kind) {
    case RG_ATTR_FLOAT:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        p->has_f = 1;
        p->f = a->f;
        break;
    case RG_ATTR_INT:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        p->has_i = 1;
        p->i = a->i;
        break;
    case RG_ATTR_STRING:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
        p->has_s = 1;
        p->s.len = a->s_len;
        p->s.data = (uint8_t *)a->s;
        break;
    case RG_ATTR_TENSOR:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
        p->t = tensor_proto(ex, a->t, "");
        if (!p->t) return NULL;
        break;
    case RG_ATTR_FLOATS:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
        p->n_floats = a->count;
        p->floats = (float *)a->floats;
        break;
    case RG_ATTR_INTS:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        p->n_ints = a->count;
        p->ints = (int64_t *)a->ints;
        break;
    case RG_ATTR_STRINGS:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
        p->n_strings = a->count;
        p->strings = ex_alloc(ex, a->count, sizeof *p->strings);
        if (!p->strings) return NULL;
        for (size_t i = 0; i < a->count; i++) {
            p->strings[i].data = (uint8_t *)a->strings[i];
            p->strings[i].len = a->string_lens ? a->string_lens[i] : strlen(a->strings[i]);
        }
        break;
    case RG_ATTR_TENSORS:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS;
        p->n_tensors = a->count;
        p->tensors = ex_alloc(ex, a->count, sizeof *p->tensors);
        if (!p->tensors) return NULL;
        for (size_t i = 0; i < a->count; i++)
            if (!(p->tensors[i] = tensor_proto(ex, a->tensors[i], ""))) return NULL;
        break;
    default: *skip = true; return NULL;
    }
    return p;
}

static Onnx__NodeProto *node_proto(export_ctx *ex, const rg_node *n) {
    Onnx__NodeProto *p = ex_alloc(ex, 1, sizeof *p);
    if (!p) return NULL;
    *p = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    const rg_op_info *info = rg_op_get(n->op);
    p->op_type = (char *)info->name;
    p->domain = (char *)info->domain;
    p->name = (char *)n->name;
    p->n_input = n->ninputs;
    p->input = ex_alloc(ex, n->ninputs, sizeof *p->input);
    p->n_output = n->noutputs;
    p->output = ex_alloc(ex, n->noutputs, sizeof *p->output);
    p->attribute = ex_alloc(ex, n->nattrs, sizeof *p->attribute);
    if (!p->input || !p->output || !p->attribute) return NULL;
    for (uint32_t i = 0; i < n->ninputs; i++) p->input[i] = value_name(ex, n->inputs[i]);
    for (uint32_t i = 0; i < n->noutputs; i++) p->output[i] = value_name(ex, n->outputs[i]);
    /* trailing omitted optional inputs/outputs are dropped, as ONNX writes them */
    while (p->n_input && !n->inputs[p->n_input - 1]) p->n_input--;
    while (p->n_output > 1 && !n->outputs[p->n_output - 1]) p->n_output--;
    for (uint32_t i = 0; i < n->nattrs; i++) {
        bool skip;
        Onnx__AttributeProto *a = attribute(ex, &n->attrs[i], &skip);
        if (a) p->attribute[p->n_attribute++] = a;
        else if (!skip) return NULL;
    }
    return p;
}

static Onnx__ModelProto *model_proto(export_ctx *ex) {
    const rg_graph *g = ex->g;
    Onnx__ModelProto *m = ex_alloc(ex, 1, sizeof *m);
    Onnx__GraphProto *gp = ex_alloc(ex, 1, sizeof *gp);
    Onnx__OperatorSetIdProto **opsets = ex_alloc(ex, 2, sizeof *opsets);
    Onnx__OperatorSetIdProto *onnx_set = ex_alloc(ex, 1, sizeof *onnx_set);
    Onnx__OperatorSetIdProto *ragged_set = ex_alloc(ex, 1, sizeof *ragged_set);
    if (!m || !gp || !opsets || !onnx_set || !ragged_set) return NULL;
    *m = (Onnx__ModelProto)ONNX__MODEL_PROTO__INIT;
    *gp = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
    *onnx_set = (Onnx__OperatorSetIdProto)ONNX__OPERATOR_SET_ID_PROTO__INIT;
    *ragged_set = (Onnx__OperatorSetIdProto)ONNX__OPERATOR_SET_ID_PROTO__INIT;
    onnx_set->domain = "";
    onnx_set->has_version = 1;
    onnx_set->version = g->opset;
    ragged_set->domain = RG_DOMAIN_RAGGED;
    ragged_set->has_version = 1;
    ragged_set->version = 1;
    opsets[0] = onnx_set;
    opsets[1] = ragged_set;
    m->n_opset_import = 2;
    m->opset_import = opsets;
    m->has_ir_version = 1;
    /* the IR version that goes with the opset (onnx/helper.py's table) */
    m->ir_version = g->opset >= 21 ? 10 : g->opset >= 19 ? 9 : 8;
    if (g->ir_version > m->ir_version) m->ir_version = g->ir_version;
    m->producer_name = "ragged";
    m->graph = gp;
    gp->name = (char *)(g->name && g->name[0] ? g->name : "ragged");

    size_t nconst = 0;
    for (uint32_t i = 0; i < g->nvalues; i++) nconst += g->values[i]->constant && !g->values[i]->producer;
    gp->initializer = ex_alloc(ex, nconst, sizeof *gp->initializer);
    gp->node = ex_alloc(ex, g->nnodes, sizeof *gp->node);
    gp->input = ex_alloc(ex, g->ninputs, sizeof *gp->input);
    gp->output = ex_alloc(ex, g->noutputs, sizeof *gp->output);
    if (!gp->initializer || !gp->node || !gp->input || !gp->output) return NULL;
    for (uint32_t i = 0; i < g->nvalues; i++) {
        const rg_value *v = g->values[i];
        if (!v->constant || v->producer) continue;
        Onnx__TensorProto *t = tensor_proto(ex, v->constant, value_name(ex, v));
        if (!t) return NULL;
        gp->initializer[gp->n_initializer++] = t;
    }
    for (uint32_t i = 0; i < g->nnodes; i++)
        if (!(gp->node[gp->n_node++] = node_proto(ex, g->nodes[i]))) return NULL;
    for (uint32_t i = 0; i < g->ninputs; i++)
        if (!(gp->input[gp->n_input++] = value_info(ex, g->inputs[i]))) return NULL;
    for (uint32_t i = 0; i < g->noutputs; i++)
        if (!(gp->output[gp->n_output++] = value_info(ex, g->outputs[i]))) return NULL;
    return m;
}

rg_status rg_onnx_export_buffer(const rg_graph *g, const rg_allocator *alloc, void **out, size_t *size,
                                rg_error *err) {
    if (!g || !out || !size) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_onnx_export_buffer: NULL argument");
    if (!alloc) alloc = rg_allocator_default();
    export_ctx ex = {.g = g};
    rg_arena_init(&ex.arena, alloc);
    rg_status st = RG_OK;
    Onnx__ModelProto *m = model_proto(&ex);
    if (!m || ex.nomem) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory exporting graph '%s' to ONNX", g->name ? g->name : "");
        goto done;
    }
    size_t n = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = rg_mem_alloc(alloc, n ? n : 1);
    if (!buf) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory for a %zu-byte ONNX model", n);
        goto done;
    }
    size_t written = onnx__model_proto__pack(m, buf);
    RG_ASSERT(written == n);
    *out = buf;
    *size = n;
done:
    rg_arena_deinit(&ex.arena);
    return st;
}

rg_status rg_onnx_export_file(const rg_graph *g, const char *path, rg_error *err) {
    const rg_allocator *alloc = rg_allocator_default();
    void *buf = NULL;
    size_t size = 0;
    RG_TRY(rg_onnx_export_buffer(g, alloc, &buf, &size, err));
    rg_status st = RG_OK;
    FILE *f = fopen(path, "wb");
    if (!f) {
        st = rg_error_set(err, RG_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    } else {
        bool ok = fwrite(buf, 1, size, f) == size;
        ok = fclose(f) == 0 && ok;
        if (!ok) {
            st = rg_error_set(err, RG_ERR_IO, "cannot write '%s'", path);
            unlink(path);
        }
    }
    rg_mem_free(alloc, buf, size ? size : 1);
    return st;
}
