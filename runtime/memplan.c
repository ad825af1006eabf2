/*
 * memplan.c — greedy-by-size, best-fit placement of tensors with lifetimes
 * into one arena (see memplan.h). Quadratic in the tensor count, which is a
 * few hundred for a transformer, and run once per shape.
 */
#include "memplan.h"

#include <stdlib.h>
#include <string.h>

typedef struct order_key {
    size_t size;
    uint32_t first;
    uint32_t index;
} order_key;

/* Largest first; then earliest first step; then index: a total order, so
 * the plan is the same on every run and every libc. */
static int by_size_desc(const void *pa, const void *pb) {
    const order_key *a = pa, *b = pb;
    if (a->size != b->size) return a->size > b->size ? -1 : 1;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

typedef struct span {
    size_t begin, end;
} span;

static int by_begin(const void *pa, const void *pb) {
    const span *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    return a->end < b->end ? -1 : a->end > b->end;
}

static bool round_up(size_t v, size_t align, size_t *out) {
    size_t r;
    if (!rg_size_add(v, align - 1, &r)) return false;
    *out = r & ~(align - 1);
    return true;
}

/* The offset for a tensor of `size` bytes given the spans it must avoid
 * (sorted by begin): the smallest gap that holds it, else past them all. */
static size_t best_fit(const span *busy, size_t nbusy, size_t size) {
    size_t best = SIZE_MAX, best_gap = SIZE_MAX, cursor = 0;
    for (size_t i = 0; i < nbusy; i++) {
        if (busy[i].begin > cursor) {
            size_t gap = busy[i].begin - cursor;
            if (gap >= size && gap < best_gap) best = cursor, best_gap = gap;
        }
        if (busy[i].end > cursor) cursor = busy[i].end;
    }
    return best != SIZE_MAX ? best : cursor;
}

static size_t live_lower_bound(const rg_rt_memplan_tensor *t, const size_t *aligned, size_t n, uint32_t steps,
                               size_t *live) {
    memset(live, 0, (size_t)steps * sizeof *live);
    for (size_t i = 0; i < n; i++)
        for (uint32_t s = t[i].first; s <= t[i].last; s++) live[s] += aligned[i];
    size_t best = 0;
    for (uint32_t s = 0; s < steps; s++)
        if (live[s] > best) best = live[s];
    return best;
}

rg_status rg_rt_memplan_solve(rg_rt_memplan_tensor *tensors, size_t n, size_t align, const rg_allocator *alloc,
                              rg_rt_memplan_result *out, rg_error *err) {
    if (align == 0 || (align & (align - 1)))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "memory plan: alignment %zu is not a power of two", align);
    if (!alloc) alloc = rg_allocator_default();
    uint32_t steps = 0;
    for (size_t i = 0; i < n; i++) {
        if (tensors[i].first > tensors[i].last)
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "memory plan: tensor %zu lives from step %u to %u", i,
                                tensors[i].first, tensors[i].last);
        if (tensors[i].last + 1u > steps) steps = tensors[i].last + 1u;
    }
    rg_status st = RG_OK;
    order_key *order = rg_mem_calloc(alloc, n ? n : 1, sizeof *order);
    span *busy = rg_mem_calloc(alloc, n ? n : 1, sizeof *busy);
    size_t *aligned = rg_mem_calloc(alloc, n ? n : 1, sizeof *aligned);
    bool *placed = rg_mem_calloc(alloc, n ? n : 1, sizeof *placed);
    size_t *live = rg_mem_calloc(alloc, steps ? steps : 1, sizeof *live);
    if (!order || !busy || !aligned || !placed || !live) {
        st = rg_error_set(err, RG_ERR_NOMEM, "memory plan: out of memory for %zu tensors", n);
        goto done;
    }
    size_t total_live = 0;
    for (size_t i = 0; i < n; i++) {
        if (!round_up(tensors[i].size, align, &aligned[i]) || !rg_size_add(total_live, aligned[i], &total_live)) {
            st = rg_error_set(err, RG_ERR_NOMEM, "memory plan: tensor sizes overflow");
            goto done;
        }
        order[i] = (order_key){aligned[i], tensors[i].first, (uint32_t)i};
    }
    qsort(order, n, sizeof *order, by_size_desc);
    size_t arena = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k].index;
        size_t nbusy = 0;
        for (size_t j = 0; j < n; j++) {
            if (!placed[j] || aligned[j] == 0) continue;
            if (tensors[j].last < tensors[i].first || tensors[i].last < tensors[j].first) continue;
            busy[nbusy++] = (span){tensors[j].offset, tensors[j].offset + aligned[j]};
        }
        qsort(busy, nbusy, sizeof *busy, by_begin);
        /* every offset is at most the sum of all sizes, which did not overflow */
        size_t offset = aligned[i] ? best_fit(busy, nbusy, aligned[i]) : 0;
        tensors[i].offset = offset;
        placed[i] = true;
        if (offset + aligned[i] > arena) arena = offset + aligned[i];
    }
    out->arena_bytes = arena;
    out->lower_bound = live_lower_bound(tensors, aligned, n, steps, live);
done:
    rg_mem_free(alloc, order, (n ? n : 1) * sizeof *order);
    rg_mem_free(alloc, busy, (n ? n : 1) * sizeof *busy);
    rg_mem_free(alloc, aligned, (n ? n : 1) * sizeof *aligned);
    rg_mem_free(alloc, placed, (n ? n : 1) * sizeof *placed);
    rg_mem_free(alloc, live, (steps ? steps : 1) * sizeof *live);
    return st;
}
