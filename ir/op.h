/*
 * op.h — the op table, written once.
 *
 * RG_OP_LIST is the only place an op is named. Each entry is
 *   X(ID, onnx_name, since, min_in, max_in, min_out, max_out, flags, infer)
 * - since: the ai.onnx opset in which the op first exists; a model importing an
 *   older opset cannot use it.
 * - arity: optional inputs count toward max_in; RG_ARITY_ANY means variadic.
 * - flags: properties that passes and backends ask about (RG_OPF_*).
 * - infer: suffix of the shape-inference function rg_infer_<infer> (shape.c),
 *   shared by ops with the same shape rule.
 * The enum, name table, arity table, flag table and inference table are all
 * generated from this list, so they cannot drift apart.
 */
#ifndef RG_IR_OP_H
#define RG_IR_OP_H

#include <stdbool.h>
#include <stdint.h>

#define RG_ARITY_ANY 255

enum {
    RG_OPF_ELEMENTWISE = 1u << 0, /* output[i] depends on input[i] (after broadcasting) */
    RG_OPF_BROADCAST = 1u << 1,   /* inputs broadcast numpy-style */
    RG_OPF_REDUCTION = 1u << 2,   /* reduces along axes */
    RG_OPF_SHAPE_ONLY = 1u << 3,  /* moves or describes data, no arithmetic */
    RG_OPF_FUSIBLE = 1u << 4,     /* may join a Fused node (issue: graph optimiser) */
    RG_OPF_BOOL_OUT = 1u << 5,    /* output dtype is bool */
    RG_OPF_FLOAT_ONLY = 1u << 6,  /* defined on floating-point types only */
};

#define RG_OPF_EW (RG_OPF_ELEMENTWISE | RG_OPF_FUSIBLE)
#define RG_OPF_EWB (RG_OPF_ELEMENTWISE | RG_OPF_BROADCAST | RG_OPF_FUSIBLE)

/* clang-format off */
#define RG_OP_LIST(X) \
    /* elementwise unary */ \
    X(ABS,               "Abs",                1, 1, 1, 1, 1, RG_OPF_EW, unary) \
    X(NEG,               "Neg",                1, 1, 1, 1, 1, RG_OPF_EW, unary) \
    X(SQRT,              "Sqrt",               1, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_FLOAT_ONLY, unary) \
    X(RECIPROCAL,        "Reciprocal",         1, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_FLOAT_ONLY, unary) \
    X(EXP,               "Exp",                1, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_FLOAT_ONLY, unary) \
    X(LOG,               "Log",                1, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_FLOAT_ONLY, unary) \
    X(ERF,               "Erf",                9, 1, 1, 1, 1, RG_OPF_EW, unary) \
    X(TANH,              "Tanh",               1, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_FLOAT_ONLY, unary) \
    X(SIGMOID,           "Sigmoid",            1, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_FLOAT_ONLY, unary) \
    X(RELU,              "Relu",               1, 1, 1, 1, 1, RG_OPF_EW, unary) \
    X(GELU,              "Gelu",              20, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_FLOAT_ONLY, unary) \
    X(FLOOR,             "Floor",              1, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_FLOAT_ONLY, unary) \
    X(CEIL,              "Ceil",               1, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_FLOAT_ONLY, unary) \
    X(SIN,               "Sin",                7, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_FLOAT_ONLY, unary) \
    X(COS,               "Cos",                7, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_FLOAT_ONLY, unary) \
    X(SIGN,              "Sign",               9, 1, 1, 1, 1, RG_OPF_EW, unary) \
    X(NOT,               "Not",                1, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_BOOL_OUT, unary) \
    X(ISNAN,             "IsNaN",              9, 1, 1, 1, 1, RG_OPF_EW | RG_OPF_BOOL_OUT, isnan) \
    X(CAST,              "Cast",               1, 1, 1, 1, 1, RG_OPF_EW, cast) \
    X(CLIP,              "Clip",               1, 1, 3, 1, 1, RG_OPF_EW, unary) \
    X(IDENTITY,          "Identity",           1, 1, 1, 1, 1, RG_OPF_SHAPE_ONLY, unary) \
    X(DROPOUT,           "Dropout",            1, 1, 3, 1, 2, RG_OPF_SHAPE_ONLY, dropout) \
    /* elementwise binary and variadic, numpy broadcasting */ \
    X(ADD,               "Add",                1, 2, 2, 1, 1, RG_OPF_EWB, binary) \
    X(SUB,               "Sub",                1, 2, 2, 1, 1, RG_OPF_EWB, binary) \
    X(MUL,               "Mul",                1, 2, 2, 1, 1, RG_OPF_EWB, binary) \
    X(DIV,               "Div",                1, 2, 2, 1, 1, RG_OPF_EWB, binary) \
    X(POW,               "Pow",                1, 2, 2, 1, 1, RG_OPF_EWB, binary) \
    X(MOD,               "Mod",               10, 2, 2, 1, 1, RG_OPF_EWB, binary) \
    X(EQUAL,             "Equal",              1, 2, 2, 1, 1, RG_OPF_EWB | RG_OPF_BOOL_OUT, binary) \
    X(LESS,              "Less",               1, 2, 2, 1, 1, RG_OPF_EWB | RG_OPF_BOOL_OUT, binary) \
    X(LESS_OR_EQUAL,     "LessOrEqual",       12, 2, 2, 1, 1, RG_OPF_EWB | RG_OPF_BOOL_OUT, binary) \
    X(GREATER,           "Greater",            1, 2, 2, 1, 1, RG_OPF_EWB | RG_OPF_BOOL_OUT, binary) \
    X(GREATER_OR_EQUAL,  "GreaterOrEqual",    12, 2, 2, 1, 1, RG_OPF_EWB | RG_OPF_BOOL_OUT, binary) \
    X(AND,               "And",                1, 2, 2, 1, 1, RG_OPF_EWB | RG_OPF_BOOL_OUT, binary) \
    X(OR,                "Or",                 1, 2, 2, 1, 1, RG_OPF_EWB | RG_OPF_BOOL_OUT, binary) \
    X(XOR,               "Xor",                1, 2, 2, 1, 1, RG_OPF_EWB | RG_OPF_BOOL_OUT, binary) \
    X(MIN,               "Min",                1, 1, RG_ARITY_ANY, 1, 1, RG_OPF_EWB, variadic) \
    X(MAX,               "Max",                1, 1, RG_ARITY_ANY, 1, 1, RG_OPF_EWB, variadic) \
    X(SUM,               "Sum",                1, 1, RG_ARITY_ANY, 1, 1, RG_OPF_EWB, variadic) \
    X(WHERE,             "Where",              9, 3, 3, 1, 1, RG_OPF_EWB, where) \
    /* row reductions and normalisations */ \
    X(SOFTMAX,           "Softmax",            1, 1, 1, 1, 1, RG_OPF_REDUCTION | RG_OPF_FUSIBLE | RG_OPF_FLOAT_ONLY, unary) \
    X(LAYER_NORMALIZATION, "LayerNormalization", 17, 2, 3, 1, 3, RG_OPF_REDUCTION | RG_OPF_FUSIBLE | RG_OPF_FLOAT_ONLY, layer_normalization) \
    X(REDUCE_MEAN,       "ReduceMean",         1, 1, 2, 1, 1, RG_OPF_REDUCTION | RG_OPF_FUSIBLE, reduce) \
    X(REDUCE_SUM,        "ReduceSum",          1, 1, 2, 1, 1, RG_OPF_REDUCTION | RG_OPF_FUSIBLE, reduce) \
    X(REDUCE_MAX,        "ReduceMax",          1, 1, 2, 1, 1, RG_OPF_REDUCTION | RG_OPF_FUSIBLE, reduce) \
    X(REDUCE_MIN,        "ReduceMin",          1, 1, 2, 1, 1, RG_OPF_REDUCTION | RG_OPF_FUSIBLE, reduce) \
    X(REDUCE_PROD,       "ReduceProd",         1, 1, 2, 1, 1, RG_OPF_REDUCTION | RG_OPF_FUSIBLE, reduce) \
    X(CUMSUM,            "CumSum",            11, 2, 2, 1, 1, 0, cumsum) \
    /* matrix products */ \
    X(MATMUL,            "MatMul",             1, 2, 2, 1, 1, 0, matmul) \
    X(GEMM,              "Gemm",               1, 2, 3, 1, 1, 0, gemm) \
    /* shapes and data movement */ \
    X(SHAPE,             "Shape",              1, 1, 1, 1, 1, RG_OPF_SHAPE_ONLY, shape) \
    X(CONSTANT_OF_SHAPE, "ConstantOfShape",    9, 1, 1, 1, 1, RG_OPF_SHAPE_ONLY, constant_of_shape) \
    X(EXPAND,            "Expand",             8, 2, 2, 1, 1, RG_OPF_SHAPE_ONLY, expand) \
    X(RESHAPE,           "Reshape",            5, 2, 2, 1, 1, RG_OPF_SHAPE_ONLY, reshape) \
    X(FLATTEN,           "Flatten",            1, 1, 1, 1, 1, RG_OPF_SHAPE_ONLY, flatten) \
    X(UNSQUEEZE,         "Unsqueeze",          1, 1, 2, 1, 1, RG_OPF_SHAPE_ONLY, unsqueeze) \
    X(SQUEEZE,           "Squeeze",            1, 1, 2, 1, 1, RG_OPF_SHAPE_ONLY, squeeze) \
    X(TRANSPOSE,         "Transpose",          1, 1, 1, 1, 1, RG_OPF_SHAPE_ONLY, transpose) \
    X(CONCAT,            "Concat",             4, 1, RG_ARITY_ANY, 1, 1, RG_OPF_SHAPE_ONLY, concat) \
    X(SPLIT,             "Split",              2, 1, 2, 1, RG_ARITY_ANY, RG_OPF_SHAPE_ONLY, split) \
    X(SLICE,             "Slice",             10, 3, 5, 1, 1, RG_OPF_SHAPE_ONLY, slice) \
    X(GATHER,            "Gather",             1, 2, 2, 1, 1, RG_OPF_SHAPE_ONLY, gather) \
    X(GATHER_ELEMENTS,   "GatherElements",    11, 2, 2, 1, 1, RG_OPF_SHAPE_ONLY, gather_elements) \
    X(GATHER_ND,         "GatherND",          11, 2, 2, 1, 1, RG_OPF_SHAPE_ONLY, gather_nd) \
    X(TILE,              "Tile",               6, 2, 2, 1, 1, RG_OPF_SHAPE_ONLY, tile) \
    X(RANGE,             "Range",             11, 3, 3, 1, 1, 0, range) \
    X(TRILU,             "Trilu",             14, 1, 2, 1, 1, RG_OPF_SHAPE_ONLY, unary)

/* ragged's own ops (domain "ai.ragged"), made by the passes from patterns of
 * ONNX ops; same columns. Their shape rule is `internal`: inference for them
 * lives in ir/internal_ops.c, beside their attribute conventions.
 * - LayerNorm: (x, scale, bias?, residual?) -> (y, x+residual?); normalises
 *   the last axis of x (+ residual), statistics in fp32.
 * - Linear: (x, weight[K,N], bias?) -> y = act(x @ weight + bias).
 * - Attention: scaled dot-product attention over heads, optional mask.
 * - Fused: an expression program of elementwise ops and row reductions. */
#define RG_OP_INTERNAL_LIST(X) \
    X(LAYER_NORM,        "LayerNorm",          1, 2, 4, 1, 2, RG_OPF_REDUCTION | RG_OPF_FLOAT_ONLY, internal) \
    X(LINEAR,            "Linear",             1, 2, 3, 1, 1, RG_OPF_FLOAT_ONLY, internal) \
    X(ATTENTION,         "Attention",          1, 1, 5, 1, 1, RG_OPF_FLOAT_ONLY, internal) \
    X(FUSED,             "Fused",              1, 1, RG_ARITY_ANY, 1, RG_ARITY_ANY, RG_OPF_REDUCTION, internal)
/* clang-format on */

/* Every op: ONNX ones first, then ragged's own. */
#define RG_OP_ALL(X) RG_OP_LIST(X) RG_OP_INTERNAL_LIST(X)

#define RG_DOMAIN_RAGGED "ai.ragged"

typedef enum rg_op {
#define RG_OP_ENUM_(id, ...) RG_OP_##id,
    RG_OP_ALL(RG_OP_ENUM_)
#undef RG_OP_ENUM_
    RG_OP_COUNT
} rg_op;

/* ONNX ops come first in the enum: op < RG_OP_FIRST_INTERNAL. */
#define RG_OP_FIRST_INTERNAL RG_OP_LAYER_NORM

typedef struct rg_op_info {
    const char *name;   /* ONNX op_type */
    const char *domain; /* "" is ai.onnx */
    int since;
    uint8_t min_inputs, max_inputs, min_outputs, max_outputs;
    uint32_t flags;
} rg_op_info;

const rg_op_info *rg_op_get(rg_op op);
const char *rg_op_name(rg_op op);
bool rg_op_has(rg_op op, uint32_t flag);
/* Looks an op up by domain ("" or "ai.onnx" for ONNX ops, "ai.ragged" for
 * ragged's own) and op_type. Returns false when ragged has no such op. */
bool rg_op_lookup(const char *domain, const char *op_type, rg_op *out);

/* The ai.onnx opset range that ragged accepts. */
#define RG_OPSET_MIN 11
#define RG_OPSET_MAX 21

#endif
