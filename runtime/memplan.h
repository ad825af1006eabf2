/*
 * memplan.h — the variable-length allocator's planner (DESIGN.md "Allocator").
 *
 * For one concrete shape the executor knows every intermediate's size and
 * the steps at which it is first written and last read. The planner places
 * them in one arena: largest first, each at the best-fitting gap among the
 * already placed tensors whose lifetimes overlap its own (or past the last
 * of them). Two tensors alive at the same step never share a byte. The
 * result is deterministic (ties broken by first step, then index), so a
 * shape planned twice gets the same offsets. The lower bound (the largest
 * sum of live bytes at any step) says how close the arena came.
 */
#ifndef RG_RT_MEMPLAN_H
#define RG_RT_MEMPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "ir/arena.h"
#include "ir/error.h"

typedef struct rg_rt_memplan_tensor {
    size_t size;          /* bytes; 0 takes no space */
    uint32_t first, last; /* steps, first <= last: alive during [first, last] */
    size_t offset;        /* out: bytes from the arena's start, a multiple of the alignment */
} rg_rt_memplan_tensor;

typedef struct rg_rt_memplan_result {
    size_t arena_bytes; /* end of the last placed tensor */
    size_t lower_bound; /* max over steps of the live (aligned) bytes */
} rg_rt_memplan_result;

/* Places the n tensors (offsets written into them); `align` is a power of
 * two (sizes are rounded up to it). RG_ERR_INVALID_ARGUMENT for first > last
 * or a bad alignment, RG_ERR_NOMEM for scratch memory or an arena size that
 * overflows. On failure the offsets are unspecified and *out untouched. */
rg_status rg_rt_memplan_solve(rg_rt_memplan_tensor *tensors, size_t n, size_t align, const rg_allocator *alloc,
                              rg_rt_memplan_result *out, rg_error *err);

#endif
