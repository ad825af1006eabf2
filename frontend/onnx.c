/*
 * onnx.c — ModelProto → rg_graph.
 *
 * The import runs in passes so that node order in the file does not matter
 * (ONNX promises topological order; we sort anyway and report cycles):
 *   1. opsets: the ai.onnx version must lie in RG_OPSET_MIN..RG_OPSET_MAX;
 *   2. initializers become constant values, then graph inputs (an input that
 *      is also an initializer, as old exporters wrote, stays a constant);
 *   3. every node is checked (domain, op, opset, arity) and its outputs are
 *      made as values; Constant nodes become constant values, not nodes;
 *   4. nodes are built with inputs looked up by name and their attributes;
 *   5. graph outputs are looked up; the nodes are sorted.
 * Each failure names the node (its ONNX name, or its index when it has none)
 * and the value, op, domain or opset involved.
 */
#include <limits.h>
#include <string.h>

#include "onnx_internal.h"

typedef struct import_ctx {
    rg_graph *g;
    const Onnx__ModelProto *model;
    const Onnx__GraphProto *graph;
    const char *base_dir;
} import_ctx;

/* "'name' (Op)" or "#index (Op)" for a NodeProto, for messages. */
static const char *node_label(const Onnx__NodeProto *n, size_t index, char *buf, size_t cap) {
    const char *op = rg_onnx_str(n->op_type);
    if (n->name && n->name[0])
        snprintf(buf, cap, "'%s' (%s)", n->name, op);
    else
        snprintf(buf, cap, "#%zu (%s)", index, op);
    return buf;
}

static bool is_onnx_domain(const char *domain) { return !domain || !domain[0] || strcmp(domain, "ai.onnx") == 0; }

/* The version the model imports for `domain`, or -1 when it does not. */
static int64_t imported_version(const Onnx__ModelProto *m, const char *domain) {
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const char *d = rg_onnx_str(m->opset_import[i]->domain);
        if (strcmp(d, domain) == 0) return m->opset_import[i]->has_version ? m->opset_import[i]->version : 0;
    }
    return -1;
}

static rg_status read_opset(import_ctx *c, rg_error *err) {
    const Onnx__ModelProto *m = c->model;
    bool found = false;
    int64_t version = 0;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (!is_onnx_domain(o->domain)) continue;
        int64_t v = o->has_version ? o->version : 0;
        if (found && v != version)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "model imports ai.onnx twice (opsets %lld and %lld)",
                                (long long)version, (long long)v);
        found = true;
        version = v;
    }
    if (!found) return rg_error_set(err, RG_ERR_INVALID_MODEL, "model imports no ai.onnx opset");
    if (version < RG_OPSET_MIN || version > RG_OPSET_MAX)
        return rg_error_set(err, RG_ERR_UNSUPPORTED,
                            "model imports domain ai.onnx at opset %lld; ragged supports opsets %d..%d",
                            (long long)version, RG_OPSET_MIN, RG_OPSET_MAX);
    c->g->opset = (int)version;
    return RG_OK;
}

static rg_status read_header(import_ctx *c, rg_error *err) {
    rg_graph *g = c->g;
    const Onnx__ModelProto *m = c->model;
    g->ir_version = m->has_ir_version ? m->ir_version : 0;
    g->name = rg_arena_strdup(&g->arena, rg_onnx_str(c->graph->name));
    const char *pname = rg_onnx_str(m->producer_name), *pversion = rg_onnx_str(m->producer_version);
    size_t plen = strlen(pname), vlen = strlen(pversion);
    char *producer = rg_arena_alloc(&g->arena, plen + vlen + 2);
    if (!g->name || !producer) return rg_error_set(err, RG_ERR_NOMEM, "out of memory reading the model header");
    memcpy(producer, pname, plen);
    if (plen && vlen) producer[plen++] = ' ';
    memcpy(producer + plen, pversion, vlen);
    g->producer = producer;
    return RG_OK;
}

static rg_status add_initializers(import_ctx *c, rg_error *err) {
    const Onnx__GraphProto *gp = c->graph;
    if (gp->n_sparse_initializer)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "model has %zu sparse initializers; ragged supports none",
                            gp->n_sparse_initializer);
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        const char *name = rg_onnx_str(t->name);
        if (!name[0]) return rg_error_set(err, RG_ERR_INVALID_MODEL, "initializer #%zu has no name", i);
        rg_value *v;
        rg_tensor *tensor;
        RG_TRY(rg_graph_add_value(c->g, name, RG_DTYPE_UNDEFINED, -1, NULL, &v, err));
        rg_status st = rg_onnx_tensor_to_graph(c->g, t, c->base_dir, &tensor, err);
        if (st != RG_OK) return rg_error_prefix(err, st, "initializer '%s'", name);
        RG_TRY(rg_value_set_constant(c->g, v, tensor, err));
    }
    return RG_OK;
}

/* dtype and shape of a graph input from its TypeProto. */
static rg_status input_type(import_ctx *c, const Onnx__ValueInfoProto *vi, rg_dtype *dtype, int *rank,
                            rg_dim *dims, rg_error *err) {
    const char *name = rg_onnx_str(vi->name);
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "graph input '%s' has no type", name);
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "graph input '%s' is not a tensor (sequence, map, optional "
                                                     "and sparse inputs are unsupported)",
                            name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    int code = tt->has_elem_type ? tt->elem_type : 0;
    *dtype = rg_dtype_from_onnx(code);
    if (*dtype == RG_DTYPE_UNDEFINED)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "graph input '%s' has element type %s, which ragged does not "
                                                     "support",
                            name, rg_onnx_dtype_name(code));
    if (!tt->shape) {
        *rank = -1;
        return RG_OK;
    }
    if (tt->shape->n_dim > RG_MAX_RANK)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "graph input '%s' has rank %zu; ragged supports up to %d", name,
                            tt->shape->n_dim, RG_MAX_RANK);
    *rank = (int)tt->shape->n_dim;
    for (int i = 0; i < *rank; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0)
                return rg_error_set(err, RG_ERR_INVALID_MODEL, "graph input '%s': dim %d is negative (%lld)", name,
                                    i, (long long)d->dim_value);
            dims[i] = rg_dim_const(d->dim_value);
        } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param &&
                   d->dim_param[0]) {
            uint16_t sym = rg_graph_symbol(c->g, d->dim_param);
            if (!sym)
                return rg_error_set(err, RG_ERR_NOMEM, "graph input '%s': cannot add symbol '%s'", name,
                                    d->dim_param);
            dims[i] = rg_dim_symbol(sym);
        } else {
            dims[i] = rg_dim_unknown();
        }
    }
    return RG_OK;
}

static rg_status add_inputs(import_ctx *c, rg_error *err) {
    for (size_t i = 0; i < c->graph->n_input; i++) {
        const Onnx__ValueInfoProto *vi = c->graph->input[i];
        const char *name = rg_onnx_str(vi->name);
        if (!name[0]) return rg_error_set(err, RG_ERR_INVALID_MODEL, "graph input #%zu has no name", i);
        rg_value *existing = rg_graph_find_value(c->g, name);
        if (existing && existing->constant && !existing->is_input) continue; /* an initializer: a constant */
        if (existing) return rg_error_set(err, RG_ERR_INVALID_MODEL, "graph input '%s' is listed twice", name);
        rg_dtype dtype = RG_DTYPE_UNDEFINED;
        int rank = -1;
        rg_dim dims[RG_MAX_RANK];
        RG_TRY(input_type(c, vi, &dtype, &rank, dims, err));
        rg_value *v;
        RG_TRY(rg_graph_add_value(c->g, name, dtype, rank, dims, &v, err));
        RG_TRY(rg_graph_add_input(c->g, v, err));
    }
    return RG_OK;
}

/* Constant's one attribute as a tensor. value_float(s)/value_int(s) become
 * float32/int64 tensors of rank 0 (scalars) or 1 (lists). */
static rg_status constant_tensor(import_ctx *c, const Onnx__AttributeProto *a, rg_tensor **out, rg_error *err) {
    const char *name = rg_onnx_str(a->name);
    if (strcmp(name, "value") == 0) {
        if (!a->t) return rg_error_set(err, RG_ERR_INVALID_MODEL, "attribute 'value' holds no tensor");
        return rg_onnx_tensor_to_graph(c->g, a->t, c->base_dir, out, err);
    }
    bool is_float = strcmp(name, "value_float") == 0 || strcmp(name, "value_floats") == 0;
    bool is_int = strcmp(name, "value_int") == 0 || strcmp(name, "value_ints") == 0;
    if (!is_float && !is_int)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "attribute '%s' is not supported (tensor, float(s) and int(s) are)",
                            name);
    bool list = name[strlen(name) - 1] == 's';
    size_t count = list ? (is_float ? a->n_floats : a->n_ints) : 1;
    int64_t dims[1] = {(int64_t)count};
    rg_tensor *t;
    RG_TRY(rg_graph_new_tensor(c->g, is_float ? RG_DTYPE_F32 : RG_DTYPE_I64, list ? 1 : 0, dims, &t, err));
    if (!count) {
        /* an empty list */
    } else if (is_float) {
        if (list) memcpy(t->data, a->floats, sizeof(float) * count);
        else memcpy(t->data, &a->f, sizeof(float));
    } else {
        if (list) memcpy(t->data, a->ints, sizeof(int64_t) * count);
        else memcpy(t->data, &a->i, sizeof(int64_t));
    }
    *out = t;
    return RG_OK;
}

static rg_status add_constant_node(import_ctx *c, const Onnx__NodeProto *n, const char *label, rg_error *err) {
    if (n->n_input != 0 || n->n_output != 1 || !n->output[0] || !n->output[0][0])
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s must have no inputs and one named output", label);
    if (n->n_attribute != 1)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s must have exactly one attribute, it has %zu", label,
                            n->n_attribute);
    rg_tensor *t;
    rg_status st = constant_tensor(c, n->attribute[0], &t, err);
    if (st != RG_OK) return rg_error_prefix(err, st, "node %s", label);
    rg_value *v;
    st = rg_graph_add_value(c->g, n->output[0], RG_DTYPE_UNDEFINED, -1, NULL, &v, err);
    if (st == RG_OK) st = rg_value_set_constant(c->g, v, t, err);
    if (st != RG_OK) return rg_error_prefix(err, st, "node %s", label);
    return RG_OK;
}

/* "2", "1 to 3" or "at least 1", for arity messages. */
static const char *arity_text(unsigned lo, unsigned hi, char *buf, size_t cap) {
    if (hi == RG_ARITY_ANY)
        snprintf(buf, cap, "at least %u", lo);
    else if (lo == hi)
        snprintf(buf, cap, "%u", lo);
    else
        snprintf(buf, cap, "%u to %u", lo, hi);
    return buf;
}

/* Resolves a node's op and checks it against the model's opsets and the op
 * table. *is_constant is set for ai.onnx Constant, which has no op. */
static rg_status resolve_op(import_ctx *c, const Onnx__NodeProto *n, const char *label, rg_op *op,
                            bool *is_constant, rg_error *err) {
    const char *op_type = rg_onnx_str(n->op_type);
    if (!op_type[0]) return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s has no op_type", label);
    if (!is_onnx_domain(n->domain)) {
        int64_t v = imported_version(c->model, n->domain);
        if (v < 0)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s uses domain '%s', which the model does not import",
                                label, n->domain);
        return rg_error_set(err, RG_ERR_UNSUPPORTED,
                            "node %s uses op '%s' of domain '%s' (opset %lld), which ragged does not support", label,
                            op_type, n->domain, (long long)v);
    }
    *is_constant = strcmp(op_type, "Constant") == 0;
    if (*is_constant) return RG_OK;
    if (!rg_op_lookup("", op_type, op))
        return rg_error_set(err, RG_ERR_UNSUPPORTED,
                            "node %s uses op '%s' (domain ai.onnx, opset %d), which ragged does not support", label,
                            op_type, c->g->opset);
    const rg_op_info *info = rg_op_get(*op);
    if (info->since > c->g->opset)
        return rg_error_set(err, RG_ERR_UNSUPPORTED,
                            "node %s uses op '%s', which exists from ai.onnx opset %d; the model imports opset %d",
                            label, op_type, info->since, c->g->opset);
    char want[48];
    if (n->n_input < info->min_inputs || (info->max_inputs != RG_ARITY_ANY && n->n_input > info->max_inputs) ||
        n->n_input > UINT32_MAX)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s has %zu inputs; %s takes %s", label, n->n_input,
                            op_type, arity_text(info->min_inputs, info->max_inputs, want, sizeof want));
    if (n->n_output < info->min_outputs || (info->max_outputs != RG_ARITY_ANY && n->n_output > info->max_outputs) ||
        n->n_output > UINT32_MAX)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s has %zu outputs; %s makes %s", label, n->n_output,
                            op_type, arity_text(info->min_outputs, info->max_outputs, want, sizeof want));
    return RG_OK;
}

/* Pass 3: check every node and create the values it writes. */
static rg_status declare_node_outputs(import_ctx *c, rg_error *err) {
    char label[RG_LABEL_MAX];
    for (size_t i = 0; i < c->graph->n_node; i++) {
        const Onnx__NodeProto *n = c->graph->node[i];
        node_label(n, i, label, sizeof label);
        rg_op op;
        bool is_constant;
        RG_TRY(resolve_op(c, n, label, &op, &is_constant, err));
        if (is_constant) {
            RG_TRY(add_constant_node(c, n, label, err));
            continue;
        }
        const rg_op_info *info = rg_op_get(op);
        for (size_t k = 0; k < n->n_output; k++) {
            const char *name = rg_onnx_str(n->output[k]);
            if (!name[0]) {
                if (k < info->min_outputs)
                    return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s: required output %zu has no name", label,
                                        k);
                continue;
            }
            rg_value *v;
            rg_status st = rg_graph_add_value(c->g, name, RG_DTYPE_UNDEFINED, -1, NULL, &v, err);
            if (st != RG_OK) return rg_error_prefix(err, st, "node %s", label);
        }
    }
    return RG_OK;
}

static rg_status convert_attrs(import_ctx *c, const Onnx__NodeProto *n, const char *label, rg_node *node,
                               rg_error *err) {
    if (!n->n_attribute) return RG_OK;
    if (n->n_attribute > UINT32_MAX)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s has too many attributes", label);
    rg_attr *attrs = rg_arena_array(&c->g->arena, n->n_attribute, sizeof *attrs);
    if (!attrs) return rg_error_set(err, RG_ERR_NOMEM, "node %s: out of memory for attributes", label);
    for (size_t k = 0; k < n->n_attribute; k++) {
        rg_status st = rg_onnx_convert_attr(c->g, n->attribute[k], c->base_dir, &attrs[k], err);
        if (st != RG_OK) return rg_error_prefix(err, st, "node %s", label);
        for (size_t j = 0; j < k; j++)
            if (strcmp(attrs[j].name, attrs[k].name) == 0)
                return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s has attribute '%s' twice", label,
                                    attrs[k].name);
    }
    rg_node_set_attrs(node, (uint32_t)n->n_attribute, attrs);
    return RG_OK;
}

/* Looks up a node's inputs or outputs by name; "" is an omitted optional
 * slot (NULL), allowed only from index `required` on. */
static rg_status lookup_values(import_ctx *c, char *const *names, size_t count, size_t required, const char *what,
                               const char *label, rg_value ***out, rg_error *err) {
    rg_value **values = rg_arena_array(&c->g->arena, count ? count : 1, sizeof *values);
    if (!values) return rg_error_set(err, RG_ERR_NOMEM, "node %s: out of memory", label);
    for (size_t k = 0; k < count; k++) {
        const char *name = rg_onnx_str(names[k]);
        if (!name[0]) {
            if (k < required)
                return rg_error_set(err, RG_ERR_INVALID_MODEL, "node %s: required %s %zu is empty", label, what, k);
            continue;
        }
        values[k] = rg_graph_find_value(c->g, name);
        if (!values[k])
            return rg_error_set(err, RG_ERR_INVALID_MODEL,
                                "node %s: %s '%s' is not a graph input, initializer or node output", label, what,
                                name);
    }
    *out = values;
    return RG_OK;
}

/* Pass 4: build the nodes. */
static rg_status add_nodes(import_ctx *c, rg_error *err) {
    char label[RG_LABEL_MAX];
    for (size_t i = 0; i < c->graph->n_node; i++) {
        const Onnx__NodeProto *n = c->graph->node[i];
        if (strcmp(rg_onnx_str(n->op_type), "Constant") == 0) continue; /* resolve_op checked the domain */
        node_label(n, i, label, sizeof label);
        rg_op op;
        bool known = rg_op_lookup("", n->op_type, &op);
        RG_ASSERT(known); /* declare_node_outputs checked it */
        const rg_op_info *info = rg_op_get(op);
        rg_value **inputs, **outputs;
        RG_TRY(lookup_values(c, n->input, n->n_input, info->min_inputs, "input", label, &inputs, err));
        RG_TRY(lookup_values(c, n->output, n->n_output, info->min_outputs, "output", label, &outputs, err));
        rg_node *node;
        RG_TRY(rg_graph_add_node(c->g, op, rg_onnx_str(n->name), c->g->opset, (uint32_t)n->n_input, inputs,
                                 (uint32_t)n->n_output, outputs, &node, err));
        RG_TRY(convert_attrs(c, n, label, node, err));
    }
    return RG_OK;
}

static rg_status add_outputs(import_ctx *c, rg_error *err) {
    for (size_t i = 0; i < c->graph->n_output; i++) {
        const char *name = rg_onnx_str(c->graph->output[i]->name);
        if (!name[0]) return rg_error_set(err, RG_ERR_INVALID_MODEL, "graph output #%zu has no name", i);
        rg_value *v = rg_graph_find_value(c->g, name);
        if (!v)
            return rg_error_set(err, RG_ERR_INVALID_MODEL,
                                "graph output '%s' is not produced by any node, input or initializer", name);
        if (v->is_output) return rg_error_set(err, RG_ERR_INVALID_MODEL, "graph output '%s' is listed twice", name);
        RG_TRY(rg_graph_add_output(c->g, v, err));
    }
    return RG_OK;
}

static rg_status import_model(import_ctx *c, rg_error *err) {
    if (!c->graph) return rg_error_set(err, RG_ERR_INVALID_MODEL, "model has no graph");
    RG_TRY(read_opset(c, err));
    RG_TRY(read_header(c, err));
    RG_TRY(add_initializers(c, err));
    RG_TRY(add_inputs(c, err));
    RG_TRY(declare_node_outputs(c, err));
    RG_TRY(add_nodes(c, err));
    RG_TRY(add_outputs(c, err));
    return rg_graph_topo_sort(c->g, err);
}

rg_status rg_onnx_import_buffer(const void *data, size_t size, const char *base_dir, const rg_allocator *alloc,
                                rg_graph **out, rg_error *err) {
    if (!out || (!data && size)) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_onnx_import_buffer: no buffer");
    if (size == 0) return rg_error_set(err, RG_ERR_PARSE, "model is empty");
    if (!alloc) alloc = rg_allocator_default();
    rg_onnx_pb_allocator pba;
    rg_onnx_pb_allocator_init(&pba, alloc);
    Onnx__ModelProto *model = onnx__model_proto__unpack(&pba.pb, size, data);
    if (!model)
        return rg_error_set(err, RG_ERR_PARSE,
                            "model is not a valid ONNX protobuf (truncated, corrupt, or out of memory)");
    rg_graph *g = NULL;
    rg_status status = rg_graph_new(alloc, &g, err);
    if (status == RG_OK) {
        import_ctx c = {.g = g, .model = model, .graph = model->graph, .base_dir = base_dir};
        status = import_model(&c, err);
    }
    onnx__model_proto__free_unpacked(model, &pba.pb);
    if (status != RG_OK) {
        rg_graph_free(g);
        return status;
    }
    *out = g;
    return RG_OK;
}

rg_status rg_onnx_import_file(const char *path, const rg_allocator *alloc, rg_graph **out, rg_error *err) {
    if (!path || !out) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_onnx_import_file: no path");
    char base_dir[PATH_MAX];
    RG_TRY(rg_onnx_dirname(path, base_dir, sizeof base_dir, err));
    const void *data;
    size_t size;
    RG_TRY(rg_onnx_map_file(path, &data, &size, err));
    rg_status status = rg_onnx_import_buffer(data, size, base_dir, alloc, out, err);
    rg_onnx_unmap_file(data, size);
    if (status != RG_OK) return rg_error_prefix(err, status, "%s", path);
    return RG_OK;
}

rg_status rg_onnx_read_tensor_file(const char *path, const rg_allocator *alloc, rg_tensor *out, rg_error *err) {
    if (!path || !out) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_onnx_read_tensor_file: no path");
    if (!alloc) alloc = rg_allocator_default();
    char base_dir[PATH_MAX];
    RG_TRY(rg_onnx_dirname(path, base_dir, sizeof base_dir, err));
    const void *data;
    size_t size;
    RG_TRY(rg_onnx_map_file(path, &data, &size, err));
    rg_onnx_pb_allocator pba;
    rg_onnx_pb_allocator_init(&pba, alloc);
    /* an empty file is a valid, empty TensorProto: it then fails the dtype check */
    static const uint8_t nothing[1];
    Onnx__TensorProto *proto = onnx__tensor_proto__unpack(&pba.pb, size, data ? data : nothing);
    rg_onnx_unmap_file(data, size);
    if (!proto)
        return rg_error_set(err, RG_ERR_PARSE, "%s: not a valid TensorProto (truncated, corrupt, or out of memory)",
                            path);
    rg_onnx_tensor_src src;
    void *payload = NULL;
    rg_status status = rg_onnx_tensor_open(proto, base_dir, &src, err);
    if (status != RG_OK) goto done;
    size_t bytes = src.shape.nbytes ? src.shape.nbytes : 1;
    payload = rg_mem_alloc(alloc, bytes);
    if (!payload) {
        status = rg_error_set(err, RG_ERR_NOMEM, "out of memory for a %zu-byte tensor", src.shape.nbytes);
    } else {
        status = rg_onnx_tensor_read(proto, &src, payload, err);
        if (status == RG_OK) {
            *out = src.shape;
            out->data = payload;
            payload = NULL;
        }
    }
    rg_onnx_tensor_close(&src);
    rg_mem_free(alloc, payload, bytes);
done:
    onnx__tensor_proto__free_unpacked(proto, &pba.pb);
    if (status != RG_OK) return rg_error_prefix(err, status, "%s", path);
    return RG_OK;
}
