/*
 * arena.h — the allocator function and the bump arena that IR objects live in.
 *
 * Every allocation in ragged goes through an rg_allocator, a single function
 * told the old and new size (as in Lua), so that memory can be accounted for
 * and tests can make the Nth allocation fail. A graph owns an rg_arena: nodes,
 * values, names, shapes and constant payloads come from it and die with it.
 */
#ifndef RG_IR_ARENA_H
#define RG_IR_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* new_size == 0 frees `ptr` (returns NULL); ptr == NULL allocates.
 * Returns NULL on failure, leaving `ptr` valid. */
typedef void *(*rg_alloc_fn)(void *user, void *ptr, size_t old_size, size_t new_size);

typedef struct rg_allocator {
    rg_alloc_fn fn;
    void *user;
} rg_allocator;

/* malloc/realloc/free; shared, stateless. */
const rg_allocator *rg_allocator_default(void);

void *rg_mem_alloc(const rg_allocator *a, size_t size);
void *rg_mem_calloc(const rg_allocator *a, size_t count, size_t size);
void *rg_mem_realloc(const rg_allocator *a, void *ptr, size_t old_size, size_t new_size);
void rg_mem_free(const rg_allocator *a, void *ptr, size_t size);

/* Overflow-checked size arithmetic: false when the result does not fit. */
bool rg_size_mul(size_t a, size_t b, size_t *out);
bool rg_size_add(size_t a, size_t b, size_t *out);

/* A counting allocator for tests and accounting: wraps `inner`, tracks bytes
 * in use and the peak, and fails every allocation once `fail_after`
 * successful ones have happened (fail_after < 0: never). */
typedef struct rg_counting_allocator {
    rg_allocator base; /* pass &counting.base where an allocator is wanted */
    const rg_allocator *inner;
    size_t in_use, peak;
    uint64_t allocations;
    int64_t fail_after;
} rg_counting_allocator;

void rg_counting_allocator_init(rg_counting_allocator *c, const rg_allocator *inner,
                                int64_t fail_after);

typedef struct rg_arena_chunk rg_arena_chunk;

typedef struct rg_arena {
    const rg_allocator *alloc;
    rg_arena_chunk *head;
    size_t used;      /* bytes handed out */
    size_t reserved;  /* bytes held in chunks */
} rg_arena;

void rg_arena_init(rg_arena *arena, const rg_allocator *alloc);
void rg_arena_deinit(rg_arena *arena);
/* 16-byte aligned zeroed memory, or NULL when out of memory. */
void *rg_arena_alloc(rg_arena *arena, size_t size);
/* Same, with an explicit power-of-two alignment up to 4096. */
void *rg_arena_alloc_aligned(rg_arena *arena, size_t size, size_t align);
/* Overflow-checked count * size. */
void *rg_arena_array(rg_arena *arena, size_t count, size_t size);
/* A NUL-terminated copy of `len` bytes (len may be 0, s may be NULL then). */
char *rg_arena_strndup(rg_arena *arena, const char *s, size_t len);
char *rg_arena_strdup(rg_arena *arena, const char *s);

#endif
