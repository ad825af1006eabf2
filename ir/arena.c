/*
 * arena.c — allocator function, counting allocator, bump arena.
 *
 * The arena keeps a list of chunks; a request larger than half a chunk gets a
 * chunk of its own so big constant payloads do not waste the tail of a chunk.
 */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

static void *default_alloc(void *user, void *ptr, size_t old_size, size_t new_size) {
    (void)user;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, new_size);
}

static const rg_allocator default_allocator = {default_alloc, NULL};

const rg_allocator *rg_allocator_default(void) { return &default_allocator; }

void *rg_mem_alloc(const rg_allocator *a, size_t size) {
    if (size == 0) size = 1;
    return a->fn(a->user, NULL, 0, size);
}

void *rg_mem_calloc(const rg_allocator *a, size_t count, size_t size) {
    size_t total;
    if (!rg_size_mul(count, size, &total)) return NULL;
    void *p = rg_mem_alloc(a, total);
    if (p) memset(p, 0, total ? total : 1);
    return p;
}

void *rg_mem_realloc(const rg_allocator *a, void *ptr, size_t old_size, size_t new_size) {
    if (new_size == 0) new_size = 1;
    return a->fn(a->user, ptr, old_size, new_size);
}

void rg_mem_free(const rg_allocator *a, void *ptr, size_t size) {
    if (ptr) a->fn(a->user, ptr, size, 0);
}

bool rg_size_mul(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

bool rg_size_add(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return false;
    *out = a + b;
    return true;
}

static void *counting_alloc(void *user, void *ptr, size_t old_size, size_t new_size) {
    rg_counting_allocator *c = user;
    if (new_size == 0) {
        c->in_use -= old_size;
        return c->inner->fn(c->inner->user, ptr, old_size, 0);
    }
    if (c->fail_after >= 0 && c->allocations >= (uint64_t)c->fail_after) return NULL;
    void *p = c->inner->fn(c->inner->user, ptr, old_size, new_size);
    if (!p) return NULL;
    c->allocations++;
    c->in_use = c->in_use - (ptr ? old_size : 0) + new_size;
    if (c->in_use > c->peak) c->peak = c->in_use;
    return p;
}

void rg_counting_allocator_init(rg_counting_allocator *c, const rg_allocator *inner,
                                int64_t fail_after) {
    memset(c, 0, sizeof *c);
    c->base.fn = counting_alloc;
    c->base.user = c;
    c->inner = inner ? inner : rg_allocator_default();
    c->fail_after = fail_after;
}

#define ARENA_CHUNK_SIZE ((size_t)64 * 1024)

struct rg_arena_chunk {
    rg_arena_chunk *next;
    size_t size; /* bytes of data[] */
    size_t used;
    _Alignas(16) unsigned char data[];
};

void rg_arena_init(rg_arena *arena, const rg_allocator *alloc) {
    memset(arena, 0, sizeof *arena);
    arena->alloc = alloc ? alloc : rg_allocator_default();
}

void rg_arena_deinit(rg_arena *arena) {
    rg_arena_chunk *c = arena->head;
    while (c) {
        rg_arena_chunk *next = c->next;
        rg_mem_free(arena->alloc, c, sizeof *c + c->size);
        c = next;
    }
    arena->head = NULL;
    arena->used = arena->reserved = 0;
}

static rg_arena_chunk *arena_new_chunk(rg_arena *arena, size_t size) {
    size_t total;
    if (!rg_size_add(sizeof(rg_arena_chunk), size, &total)) return NULL;
    rg_arena_chunk *c = rg_mem_alloc(arena->alloc, total);
    if (!c) return NULL;
    c->size = size;
    c->used = 0;
    arena->reserved += size;
    return c;
}

void *rg_arena_alloc_aligned(rg_arena *arena, size_t size, size_t align) {
    if (align < 16) align = 16;
    if (align > 4096 || (align & (align - 1))) return NULL;
    if (size == 0) size = 1;
    size_t need;
    if (!rg_size_add(size, align, &need)) return NULL;
    rg_arena_chunk *c = arena->head;
    uintptr_t base = c ? (uintptr_t)(c->data + c->used) : 0;
    size_t pad = c ? ((align - (base & (align - 1))) & (align - 1)) : 0;
    if (!c || c->used + pad + size > c->size) {
        if (need > ARENA_CHUNK_SIZE / 2) {
            /* A big block gets its own chunk, linked behind the head so the
             * head's free tail stays usable. */
            rg_arena_chunk *big = arena_new_chunk(arena, need);
            if (!big) return NULL;
            if (c) {
                big->next = c->next;
                c->next = big;
            } else {
                big->next = NULL;
                arena->head = big;
            }
            uintptr_t b = (uintptr_t)big->data;
            size_t p = (align - (b & (align - 1))) & (align - 1);
            big->used = p + size;
            arena->used += size;
            memset(big->data + p, 0, size);
            return big->data + p;
        }
        c = arena_new_chunk(arena, ARENA_CHUNK_SIZE);
        if (!c) return NULL;
        c->next = arena->head;
        arena->head = c;
        base = (uintptr_t)c->data;
        pad = (align - (base & (align - 1))) & (align - 1);
    }
    void *p = c->data + c->used + pad;
    c->used += pad + size;
    arena->used += size;
    memset(p, 0, size);
    return p;
}

void *rg_arena_alloc(rg_arena *arena, size_t size) { return rg_arena_alloc_aligned(arena, size, 16); }

void *rg_arena_array(rg_arena *arena, size_t count, size_t size) {
    size_t total;
    if (!rg_size_mul(count, size, &total)) return NULL;
    return rg_arena_alloc(arena, total);
}

char *rg_arena_strndup(rg_arena *arena, const char *s, size_t len) {
    size_t total;
    if (!rg_size_add(len, 1, &total)) return NULL;
    char *d = rg_arena_alloc_aligned(arena, total, 16);
    if (!d) return NULL;
    if (len) memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *rg_arena_strdup(rg_arena *arena, const char *s) { return rg_arena_strndup(arena, s, s ? strlen(s) : 0); }
