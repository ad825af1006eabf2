/*
 * graph.h — the IR: a graph of nodes and values that lives in one arena.
 *
 * A value has a dtype, a (possibly symbolic) shape, an optional constant
 * payload, one producer and its consumers. A node has an op from op.h, its
 * inputs and outputs, typed attributes, and the name of the ONNX node it came
 * from, which every error message about it uses. Everything here is owned by
 * the graph's arena and freed with the graph; files mapped for constant data
 * are unmapped with it too.
 *
 * Nodes are kept in an array; rg_graph_topo_sort() puts it in execution order
 * and reports cycles. Values are found by name through a hash index.
 */
#ifndef RG_IR_GRAPH_H
#define RG_IR_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "dim.h"
#include "dtype.h"
#include "error.h"
#include "op.h"
#include "ragged.h"

/* A concrete tensor: constant payloads in the IR, and run-time tensors of the
 * executors. `data` is not owned by the struct; whoever allocated it frees it. */
typedef struct rg_tensor {
    rg_dtype dtype;
    int rank;
    int64_t dims[RG_MAX_RANK];
    void *data;
    size_t nbytes;
} rg_tensor;

/* Element count of a shape, false on a negative dim or overflow. */
bool rg_shape_numel(int rank, const int64_t *dims, size_t *out);
/* Fills dtype/rank/dims and computes nbytes (data untouched); fails with
 * RG_ERR_SHAPE on rank > RG_MAX_RANK, a negative dim or overflow. */
rg_status rg_tensor_set_shape(rg_tensor *t, rg_dtype dtype, int rank, const int64_t *dims, rg_error *err);
size_t rg_tensor_numel(const rg_tensor *t);

typedef enum rg_attr_kind {
    RG_ATTR_UNDEFINED = 0,
    RG_ATTR_FLOAT,
    RG_ATTR_INT,
    RG_ATTR_STRING,
    RG_ATTR_TENSOR,
    RG_ATTR_GRAPH,        /* kept as a marker: ragged runs no subgraphs */
    RG_ATTR_SPARSE_TENSOR,/* kept as a marker */
    RG_ATTR_TYPE_PROTO,   /* kept as a marker */
    RG_ATTR_FLOATS,
    RG_ATTR_INTS,
    RG_ATTR_STRINGS,
    RG_ATTR_TENSORS,
    RG_ATTR_GRAPHS,
    RG_ATTR_SPARSE_TENSORS,
    RG_ATTR_TYPE_PROTOS,
    RG_ATTR_KIND_COUNT
} rg_attr_kind;

const char *rg_attr_kind_name(rg_attr_kind kind);

typedef struct rg_attr {
    const char *name;
    rg_attr_kind kind;
    float f;
    int64_t i;
    const char *s; /* STRING: bytes, NUL-terminated copy; s_len excludes the NUL */
    size_t s_len;
    rg_tensor *t;
    size_t count; /* list kinds: element count */
    const float *floats;
    const int64_t *ints;
    const char *const *strings;
    const size_t *string_lens;
    rg_tensor *const *tensors;
} rg_attr;

struct rg_node;

typedef struct rg_value {
    uint32_t id;
    const char *name;
    rg_dtype dtype;       /* RG_DTYPE_UNDEFINED until known */
    int rank;             /* -1 when unknown */
    rg_dim *dims;         /* rank entries */
    rg_tensor *constant;  /* payload of an initializer, Constant node or folded value */
    struct rg_node *producer;
    struct rg_node **consumers;
    uint32_t nconsumers, consumers_cap;
    bool is_input;        /* a graph input fed at run time */
    bool is_output;       /* a graph output */
} rg_value;

typedef struct rg_node {
    uint32_t id;
    rg_op op;
    const char *name;     /* ONNX node name, never NULL (may be "") */
    int opset;            /* the ai.onnx opset the node was imported under */
    uint32_t ninputs, noutputs;
    rg_value **inputs;    /* NULL entries: omitted optional inputs */
    rg_value **outputs;   /* NULL entries: omitted optional outputs */
    uint32_t nattrs;
    rg_attr *attrs;
} rg_node;

/* symbol <= max: what a model can take, e.g. sequence_length <= 512 where
 * position embeddings are sliced to the sequence length. Checked by the
 * executors when inputs are bound. */
typedef struct rg_dim_bound {
    uint16_t sym;
    int64_t max;
} rg_dim_bound;

typedef struct rg_mapping {
    void *addr;
    size_t len;
    struct rg_mapping *next;
} rg_mapping;

typedef struct rg_graph {
    rg_arena arena;
    const rg_allocator *alloc;
    const char *name;
    int opset;            /* ai.onnx opset of the model */
    int64_t ir_version;
    const char *producer; /* producer_name + version, for the record */

    rg_node **nodes;
    uint32_t nnodes, nodes_cap;
    rg_value **values;
    uint32_t nvalues, values_cap;
    rg_value **inputs;
    uint32_t ninputs, inputs_cap;
    rg_value **outputs;
    uint32_t noutputs, outputs_cap;
    const char **symbols; /* symbols[0] is NULL; ids index this array */
    uint32_t nsymbols, symbols_cap;
    rg_dim_bound *bounds; /* upper bounds the model puts on symbols */
    uint32_t nbounds, bounds_cap;

    rg_value **index;     /* open-addressing hash of values by name */
    uint32_t index_cap;
    rg_mapping *mappings;
} rg_graph;

rg_status rg_graph_new(const rg_allocator *alloc, rg_graph **out, rg_error *err);
void rg_graph_free(rg_graph *g);

/* Creates a value; `name` is copied; a name already in the graph is an error
 * (RG_ERR_INVALID_MODEL naming it). rank -1 leaves the shape unknown. */
rg_status rg_graph_add_value(rg_graph *g, const char *name, rg_dtype dtype, int rank,
                             const rg_dim *dims, rg_value **out, rg_error *err);
rg_value *rg_graph_find_value(const rg_graph *g, const char *name);
/* Sets a value's dtype and shape (dims copied into the arena). */
rg_status rg_value_set_shape(rg_graph *g, rg_value *v, rg_dtype dtype, int rank, const rg_dim *dims,
                             rg_error *err);

/* Creates a node; inputs may hold NULLs for omitted optional inputs. Outputs
 * must not already have a producer. `name` is copied. */
rg_status rg_graph_add_node(rg_graph *g, rg_op op, const char *name, int opset, uint32_t ninputs,
                            rg_value *const *inputs, uint32_t noutputs, rg_value *const *outputs,
                            rg_node **out, rg_error *err);
/* Attributes are set once, after the node is made; `attrs` must live in the
 * graph's arena. */
void rg_node_set_attrs(rg_node *node, uint32_t nattrs, rg_attr *attrs);

rg_status rg_graph_add_input(rg_graph *g, rg_value *v, rg_error *err);
rg_status rg_graph_add_output(rg_graph *g, rg_value *v, rg_error *err);

/* Rebuilds the name index from g->values, after values were renamed or
 * removed (ir/rewrite.c). */
rg_status rg_graph_reindex(rg_graph *g, rg_error *err);

/* The id of a named symbol, made when absent; 0 when out of memory or ids. */
uint16_t rg_graph_symbol(rg_graph *g, const char *name);
/* Records sym <= max (keeping the tightest bound). */
rg_status rg_graph_bound_symbol(rg_graph *g, uint16_t sym, int64_t max, rg_error *err);
/* The bound on sym, or -1 when it has none. */
int64_t rg_graph_symbol_max(const rg_graph *g, uint16_t sym);

/* A tensor whose payload (64-byte aligned, zeroed) lives in the arena. */
rg_status rg_graph_new_tensor(rg_graph *g, rg_dtype dtype, int rank, const int64_t *dims,
                              rg_tensor **out, rg_error *err);
/* Makes v constant with payload t; sets v's dtype and constant shape. */
rg_status rg_value_set_constant(rg_graph *g, rg_value *v, rg_tensor *t, rg_error *err);

/* Registers a file mapping to munmap when the graph is freed. */
rg_status rg_graph_add_mapping(rg_graph *g, void *addr, size_t len, rg_error *err);

/* Reorders g->nodes so every node follows the producers of its inputs.
 * A cycle is RG_ERR_INVALID_MODEL naming a node on it. */
rg_status rg_graph_topo_sort(rg_graph *g, rg_error *err);

/* "'name' (Op)" or "#id (Op)" for nameless nodes, into buf; returns buf.
 * For error messages. */
const char *rg_node_label(const rg_node *node, char *buf, size_t cap);
#define RG_LABEL_MAX 160

/* Attribute look-ups. Absent: the default is written and RG_OK returned.
 * Present with another kind: RG_ERR_INVALID_MODEL naming the attribute; the
 * caller adds the node to the message. */
const rg_attr *rg_node_attr(const rg_node *node, const char *name);
rg_status rg_node_attr_int(const rg_node *node, const char *name, int64_t dflt, int64_t *out, rg_error *err);
rg_status rg_node_attr_float(const rg_node *node, const char *name, float dflt, float *out, rg_error *err);
/* *out is NULL and *count 0 when absent. */
rg_status rg_node_attr_ints(const rg_node *node, const char *name, const int64_t **out, size_t *count,
                            rg_error *err);
rg_status rg_node_attr_string(const rg_node *node, const char *name, const char *dflt, const char **out,
                              rg_error *err);

/* ---- implemented in shape.c, verify.c and print.c ---- */

/* Infers dtype and shape of every node's outputs, in order; errors name the
 * node. Inputs that are constants are used for data-dependent shapes
 * (Reshape's shape, Slice's starts...); where no constant is available the
 * dims become unknown, never guessed. */
rg_status rg_infer_shapes(rg_graph *g, rg_error *err);
rg_status rg_infer_node(rg_graph *g, rg_node *node, rg_error *err);

/* The elements of a small integer tensor (rank 0 or 1) known as dims though
 * it is not a constant, e.g. Shape of [batch, seq, 384]; len -1: unknown. */
typedef struct rg_known_value {
    int len;
    rg_dim elems[RG_MAX_RANK];
} rg_known_value;

/* rg_infer_shapes that also hands back its known-value table, indexed by
 * value id; nknown must be at least g->nvalues. For the passes that fold
 * shape subgraphs (passes/fold.c). */
rg_status rg_infer_shapes_known(rg_graph *g, rg_known_value *known, uint32_t nknown, rg_error *err);

/* Checks the graph's invariants: arity against the op table, every input
 * produced earlier (topological order) or a graph input or constant, one
 * producer per value, consumer lists in step, outputs produced, no cycles.
 * Names the node or value at fault. */
rg_status rg_verify(const rg_graph *g, rg_error *err);

/* "float32[batch, seq, 768]" (or "?[...]" when unknown) into buf; returns buf.
 * Shared by the text and DOT printers. */
#define RG_TYPE_TEXT_MAX 1200
const char *rg_format_type(const rg_graph *g, const rg_value *v, char *buf, size_t cap);

/* Stable, diffable text form of the graph. */
rg_status rg_print(const rg_graph *g, FILE *out, rg_error *err);
/* The graph as Graphviz DOT (print_dot.c): nodes, graph inputs and outputs,
 * one labelled edge per value read; constants are counted, not drawn. */
rg_status rg_print_dot(const rg_graph *g, FILE *out, rg_error *err);

#endif
