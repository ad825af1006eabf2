/*
 * cpu_util.h — helpers shared by the CPU kernels: output allocation, shape
 * text for error messages, and numpy broadcasting.
 *
 * Broadcasting is written once here. rg_cpu_bcast describes how several
 * operands are read while walking one output shape: every operand gets
 * element strides with 0 on broadcast dims, and adjacent dims that every
 * operand walks contiguously are merged, so that the innermost dim is as long
 * as possible and kernels run plain loops over it. The innermost stride of
 * an operand is always 0 or 1.
 */
#ifndef RG_RUNTIME_CPU_UTIL_H
#define RG_RUNTIME_CPU_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu_internal.h"

/* Room for "[d0, d1, ...]" of a rank-RG_MAX_RANK shape. */
#define RG_CPU_SHAPE_TEXT_MAX (RG_MAX_RANK * 22 + 4)

/* Writes the shape as "[3, 5]" ("[]" for a scalar) into buf; returns buf. */
const char *rg_cpu_shape_text(int rank, const int64_t *dims, char *buf, size_t cap);

/* The numpy broadcast of shapes a and b into out (rank in *rank_out).
 * False when a dim pair is neither equal nor has a 1. */
bool rg_cpu_broadcast_shapes(int rank_a, const int64_t *a, int rank_b, const int64_t *b, int *rank_out,
                             int64_t *out);

/* Element strides for reading a contiguous tensor of shape `in` as shape
 * `out` (right-aligned): 0 on dims where `in` is 1 or missing. The shapes
 * must broadcast (RG_ASSERTed: callers check first). */
void rg_cpu_broadcast_strides(int rank_out, const int64_t *out, int rank_in, const int64_t *in,
                              int64_t *strides);

#define RG_CPU_BCAST_MAX 4

typedef struct rg_cpu_bcast {
    int noperands;
    int rank;                                   /* merged rank, >= 1 */
    int64_t dims[RG_MAX_RANK];                  /* merged dims */
    int64_t strides[RG_CPU_BCAST_MAX][RG_MAX_RANK];
    size_t rows;                                /* product of all dims but the last */
} rg_cpu_bcast;

/* Plans a walk over the output shape (out_rank, out_dims) reading operands of
 * the given shapes (each must broadcast to the output shape). */
void rg_cpu_bcast_init(rg_cpu_bcast *b, int out_rank, const int64_t *out_dims, int noperands,
                       const int *ranks, const int64_t *const *dims);

/* Position of a walk: the index over the outer dims and every operand's
 * element offset at the start of the current row. */
typedef struct rg_cpu_bcast_pos {
    int64_t index[RG_MAX_RANK];
    int64_t offset[RG_CPU_BCAST_MAX];
} rg_cpu_bcast_pos;

void rg_cpu_bcast_start(const rg_cpu_bcast *b, rg_cpu_bcast_pos *pos);
/* Moves to the next row (the innermost dim is the row). */
void rg_cpu_bcast_next_row(const rg_cpu_bcast *b, rg_cpu_bcast_pos *pos);
/* Length of a row, and an operand's stride along it (0 or 1). */
static inline int64_t rg_cpu_bcast_row_len(const rg_cpu_bcast *b) { return b->dims[b->rank - 1]; }
static inline int64_t rg_cpu_bcast_row_stride(const rg_cpu_bcast *b, int operand) {
    return b->strides[operand][b->rank - 1];
}

/* Normalises a possibly negative axis against rank; false when outside
 * [-rank, rank). */
bool rg_cpu_normalize_axis(int64_t axis, int rank, int *out);

#endif
