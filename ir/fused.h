/*
 * fused.h — the expression program of a Fused node (elementwise ops and row
 * reductions over the last axis), its encoding in node attributes, its
 * validator, printer and shape rule.
 *
 * The model. A Fused node iterates over rows. Its iteration shape I is the
 * numpy broadcast of its inputs' shapes (an input loaded "per row" counts
 * with a last dim of 1); the last dim of I is the row length N, the product
 * of the others the row count R. For every row the program runs once, as a
 * straight list of instructions in SSA form: instruction i defines register
 * i (STORE defines nothing). A register holds either a whole row (N values,
 * kind ROW) or one value for the row (kind SCALAR: constants, per-row loads,
 * reductions and anything computed only from those). Elementwise operations
 * broadcast a SCALAR operand along the row.
 *
 * Instructions are four integers {opcode, a, b, c}:
 *   LOAD   a=input index, b=RG_FUSED_LOAD_ROW | RG_FUSED_LOAD_SCALAR
 *          ROW: the input's last dim is N, other dims broadcast against I;
 *          SCALAR: the input's last dim is 1 (or it has rank 0): one value
 *          per row (a bias per token, a mean) or per tensor.
 *   CONST  a=index into the constants (FLOATS)                      -> SCALAR
 *   unary  a=register                                  (NEG ... GELU_TANH)
 *   binary a, b=registers                                (ADD ... MIN)
 *   RSUM, RMAX, RMEAN  a=ROW register: reduce the row   -> SCALAR
 *   STORE  a=output index, b=register, c=RG_FUSED_STORE_*:
 *          ROW: output shape I; SCALAR_KEEP: I with last dim 1;
 *          SCALAR_DROP: I without its last dim. Every output is stored
 *          exactly once.
 * Arithmetic is float32 whatever the tensors' dtype (f32, f16, bf16; all
 * inputs and outputs share one); reductions may accumulate wider.
 *
 * Encoding (attributes of the node, all kinds the plan file keeps):
 *   fused_version INT    RG_FUSED_VERSION
 *   program       INTS   4 * ninstructions
 *   constants     FLOATS immediates for CONST (may be absent when unused)
 * Codegen (next stage) emits CUDA from the same decoded program.
 */
#ifndef RG_IR_FUSED_H
#define RG_IR_FUSED_H

#include <stdio.h>

#include "graph.h"

#define RG_FUSED_VERSION 1

/* X(ID, text name, operand count: 0 load/const, 1 unary, 2 binary, 3 reduction, 4 store) */
/* clang-format off */
#define RG_FUSED_OP_LIST(X) \
    X(LOAD,      "load",      0) \
    X(CONST,     "const",     0) \
    X(NEG,       "neg",       1) \
    X(ABS,       "abs",       1) \
    X(SQRT,      "sqrt",      1) \
    X(RECIP,     "recip",     1) \
    X(EXP,       "exp",       1) \
    X(LOG,       "log",       1) \
    X(ERF,       "erf",       1) \
    X(TANH,      "tanh",      1) \
    X(SIGMOID,   "sigmoid",   1) \
    X(RELU,      "relu",      1) \
    X(GELU,      "gelu",      1) /* erf form */ \
    X(GELU_TANH, "gelu_tanh", 1) \
    X(FLOOR,     "floor",     1) \
    X(CEIL,      "ceil",      1) \
    X(SIN,       "sin",       1) \
    X(COS,       "cos",       1) \
    X(SIGN,      "sign",      1) \
    X(ADD,       "add",       2) \
    X(SUB,       "sub",       2) \
    X(MUL,       "mul",       2) \
    X(DIV,       "div",       2) \
    X(POW,       "pow",       2) \
    X(MAX,       "max",       2) \
    X(MIN,       "min",       2) \
    X(RSUM,      "rsum",      3) \
    X(RMAX,      "rmax",      3) \
    X(RMEAN,     "rmean",     3) \
    X(STORE,     "store",     4)
/* clang-format on */

typedef enum rg_fused_opcode {
#define RG_FUSED_ENUM_(id, ...) RG_FUSED_##id,
    RG_FUSED_OP_LIST(RG_FUSED_ENUM_)
#undef RG_FUSED_ENUM_
    RG_FUSED_OPCODE_COUNT
} rg_fused_opcode;

enum { RG_FUSED_LOAD_ROW = 0, RG_FUSED_LOAD_SCALAR = 1 };
enum { RG_FUSED_STORE_ROW = 0, RG_FUSED_STORE_SCALAR_KEEP = 1, RG_FUSED_STORE_SCALAR_DROP = 2 };
typedef enum rg_fused_kind { RG_FUSED_KIND_ROW = 0, RG_FUSED_KIND_SCALAR = 1 } rg_fused_kind;

typedef struct rg_fused_instr {
    int32_t op; /* rg_fused_opcode */
    int32_t a, b, c;
} rg_fused_instr;

/* A decoded program; the arrays point into the node's attributes. */
typedef struct rg_fused_program {
    uint32_t ninstr;
    const int64_t *code; /* 4 * ninstr */
    uint32_t nconstants;
    const float *constants;
    uint32_t ninputs, noutputs; /* of the node */
} rg_fused_program;

const char *rg_fused_op_name(rg_fused_opcode op);
/* 0 load/const, 1 unary, 2 binary, 3 reduction, 4 store; -1 for no opcode. */
int rg_fused_op_class(int64_t op);

/* Instruction i of a decoded (validated) program. */
rg_fused_instr rg_fused_instr_at(const rg_fused_program *p, uint32_t i);

/* Decodes and validates node's program: version, opcodes, operands in range
 * and defined before use, reductions over ROW registers, scalar stores of
 * SCALAR registers, every output stored exactly once, every input within
 * range. Errors do not name the node (callers do). */
rg_status rg_fused_decode(const rg_node *node, rg_fused_program *out, rg_error *err);

/* Kind of every register (kinds has p->ninstr entries; STOREs get ROW). */
void rg_fused_kinds(const rg_fused_program *p, rg_fused_kind *kinds);

/* One line per instruction ("  %3 = add %1, %2"), each prefixed by indent. */
void rg_fused_print(const rg_fused_program *p, const char *indent, FILE *out);

/* Builds a program into the graph's arena and sets it on the node (with the
 * node's other attributes kept). */
typedef struct rg_fused_builder {
    int64_t *code;
    uint32_t ninstr, cap;
    float *constants;
    uint32_t nconstants, constants_cap;
    const rg_allocator *alloc;
    bool failed; /* out of memory; reported by rg_fused_builder_finish */
} rg_fused_builder;

void rg_fused_builder_init(rg_fused_builder *b, const rg_allocator *alloc);
void rg_fused_builder_deinit(rg_fused_builder *b);
/* Appends an instruction and returns its register (-1 after a failure). */
int32_t rg_fused_emit(rg_fused_builder *b, rg_fused_opcode op, int32_t a, int32_t b_, int32_t c);
int32_t rg_fused_emit_const(rg_fused_builder *b, float value);
/* Writes the attributes fused_version, program, constants onto node
 * (replacing the node's attributes) in g's arena. */
rg_status rg_fused_builder_finish(rg_fused_builder *b, rg_graph *g, rg_node *node, rg_error *err);

/* The shape rule of Fused (called from internal_ops.c). */
rg_status rg_fused_infer(rg_graph *g, rg_node *node, rg_error *err);

#endif
