/*
 * serialize_kernels.c — the plan's KERNELS section: every CUDA module the
 * compiler generated for the plan's target, with its source (so that
 * `ragged dump --kernel NAME` can show it) and its cubin.
 *
 * Layout (all little-endian; each variable-length field is followed by zero
 * bytes up to a multiple of 8 from the section's start, so cubins are
 * 8-aligned in the file):
 *
 *   u64 module count
 *   per module:
 *     u64 length, name bytes        (1..255, printable)
 *     u64 length, kind bytes        (1..63, printable)
 *     u64 length, arch bytes        (1..16, printable)
 *     u64 node count, count x u32 node index (< the graph's node count)
 *     u64 length, CUDA source bytes
 *     u64 length, cubin bytes
 *
 * The decoder checks every length against the bytes left before use, the
 * padding is zero, and nothing follows the last module.
 */
#include <stdio.h>
#include <string.h>

#include "serialize.h"

static bool put_raw(rg_ir_bytes *b, const void *data, size_t size) {
    size_t need;
    if (!rg_size_add(b->size, size + 8, &need)) return false;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < need) {
            if (!rg_size_mul(cap, 2, &cap)) return false;
        }
        uint8_t *p = rg_mem_realloc(b->alloc, b->data, b->cap, cap);
        if (!p) return false;
        b->data = p;
        b->cap = cap;
    }
    if (size) memcpy(b->data + b->size, data, size);
    b->size += size;
    return true;
}

static bool put_pad(rg_ir_bytes *b) {
    static const uint8_t zeros[8];
    return put_raw(b, zeros, (8 - b->size % 8) % 8);
}

static bool put_u64v(rg_ir_bytes *b, uint64_t v) {
    uint8_t raw[8];
    rg_ir_store_u64(raw, v);
    return put_raw(b, raw, 8);
}

static bool put_blob(rg_ir_bytes *b, const void *data, size_t size) {
    return put_u64v(b, size) && put_raw(b, data, size) && put_pad(b);
}

void rg_ir_bytes_free(rg_ir_bytes *b) {
    if (b->data) rg_mem_free(b->alloc, b->data, b->cap);
    b->data = NULL;
    b->size = b->cap = 0;
}

rg_status rg_ir_encode_kernels(const rg_ir_kernel *kernels, size_t n, rg_ir_bytes *out, rg_error *err) {
    if (!out->alloc) out->alloc = rg_allocator_default();
    bool ok = put_u64v(out, n);
    for (size_t i = 0; ok && i < n; i++) {
        const rg_ir_kernel *k = &kernels[i];
        ok = put_blob(out, k->name, strlen(k->name)) && put_blob(out, k->kind, strlen(k->kind)) &&
             put_blob(out, k->arch, strlen(k->arch)) && put_u64v(out, k->nnodes);
        for (uint32_t j = 0; ok && j < k->nnodes; j++) {
            uint8_t raw[4];
            rg_ir_store_u32(raw, k->nodes[j]);
            ok = put_raw(out, raw, 4);
        }
        ok = ok && put_pad(out) && put_blob(out, k->source, k->source_size) &&
             put_blob(out, k->cubin, k->cubin_size);
    }
    if (!ok) {
        rg_ir_bytes_free(out);
        return rg_error_set(err, RG_ERR_NOMEM, "out of memory encoding %zu kernels", n);
    }
    return RG_OK;
}

typedef struct kreader {
    const uint8_t *p;
    size_t size, pos;
    const char *label;
    rg_error *err;
} kreader;

static rg_status kcorrupt(kreader *r, const char *what, size_t module) {
    return rg_error_set(r->err, RG_ERR_CORRUPT_PLAN, "%s: KERNELS section, module %zu: %s (at byte %zu)", r->label,
                        module, what, r->pos);
}

static rg_status get_u64k(kreader *r, size_t module, uint64_t *out) {
    if (r->size - r->pos < 8) return kcorrupt(r, "truncated", module);
    *out = rg_ir_load_u64(r->p + r->pos);
    r->pos += 8;
    return RG_OK;
}

static rg_status skip_pad(kreader *r, size_t module) {
    size_t pad = (8 - r->pos % 8) % 8;
    if (r->size - r->pos < pad) return kcorrupt(r, "truncated padding", module);
    for (size_t i = 0; i < pad; i++)
        if (r->p[r->pos + i]) return kcorrupt(r, "nonzero padding", module);
    r->pos += pad;
    return RG_OK;
}

/* A length-prefixed field; text fields have bounds and must be printable. */
static rg_status get_field(kreader *r, size_t module, const char *what, size_t min, size_t max, bool text,
                           const uint8_t **data, size_t *size) {
    uint64_t len;
    RG_TRY(get_u64k(r, module, &len));
    if (len < min || len > max || len > r->size - r->pos) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s length %llu is out of range", what, (unsigned long long)len);
        return kcorrupt(r, msg, module);
    }
    for (size_t i = 0; text && i < len; i++)
        if (r->p[r->pos + i] <= 0x20 || r->p[r->pos + i] >= 0x7f) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s holds a character that is not printable", what);
            return kcorrupt(r, msg, module);
        }
    *data = r->p + r->pos;
    *size = (size_t)len;
    r->pos += (size_t)len;
    return skip_pad(r, module);
}

static rg_status decode_module(kreader *r, size_t m, uint32_t nnodes, rg_arena *arena, rg_ir_kernel *k) {
    const uint8_t *d;
    size_t len;
    RG_TRY(get_field(r, m, "name", 1, 255, true, &d, &len));
    k->name = rg_arena_strndup(arena, (const char *)d, len);
    RG_TRY(get_field(r, m, "kind", 1, 63, true, &d, &len));
    k->kind = rg_arena_strndup(arena, (const char *)d, len);
    RG_TRY(get_field(r, m, "arch", 1, RG_PLAN_TARGET_SIZE, true, &d, &len));
    k->arch = rg_arena_strndup(arena, (const char *)d, len);
    uint64_t count;
    RG_TRY(get_u64k(r, m, &count));
    if (count > nnodes || count > (r->size - r->pos) / 4) return kcorrupt(r, "node count out of range", m);
    uint32_t *nodes = rg_arena_array(arena, count ? (size_t)count : 1, sizeof *nodes);
    if (!nodes) return rg_error_set(r->err, RG_ERR_NOMEM, "%s: out of memory loading kernels", r->label);
    for (uint64_t i = 0; i < count; i++) {
        nodes[i] = rg_ir_load_u32(r->p + r->pos);
        r->pos += 4;
        if (nodes[i] >= nnodes) return kcorrupt(r, "node index out of range", m);
    }
    k->nodes = nodes;
    k->nnodes = (uint32_t)count;
    RG_TRY(skip_pad(r, m));
    RG_TRY(get_field(r, m, "source", 0, SIZE_MAX, false, &d, &len));
    k->source = rg_arena_strndup(arena, (const char *)d, len);
    k->source_size = len;
    RG_TRY(get_field(r, m, "cubin", 1, SIZE_MAX, false, &d, &len));
    void *cubin = rg_arena_alloc_aligned(arena, len, 16);
    if (!k->name || !k->kind || !k->arch || !k->source || !cubin)
        return rg_error_set(r->err, RG_ERR_NOMEM, "%s: out of memory loading kernels", r->label);
    memcpy(cubin, d, len);
    k->cubin = cubin;
    k->cubin_size = len;
    return RG_OK;
}

rg_status rg_ir_decode_kernels(const uint8_t *data, size_t size, uint32_t nnodes, rg_arena *arena,
                               const char *label, rg_ir_kernel **out, size_t *count, rg_error *err) {
    kreader r = {data, size, 0, label, err};
    uint64_t n;
    RG_TRY(get_u64k(&r, 0, &n));
    /* a module takes at least 6 length words and 3 one-byte names */
    if (n > (size - 8) / 56) return kcorrupt(&r, "module count out of range", 0);
    rg_ir_kernel *k = rg_arena_array(arena, n ? (size_t)n : 1, sizeof *k);
    if (!k) return rg_error_set(err, RG_ERR_NOMEM, "%s: out of memory loading kernels", label);
    memset(k, 0, (n ? (size_t)n : 1) * sizeof *k);
    for (size_t m = 0; m < n; m++) RG_TRY(decode_module(&r, m, nnodes, arena, &k[m]));
    if (r.pos != size) return kcorrupt(&r, "stray bytes after the last module", (size_t)n);
    *out = k;
    *count = (size_t)n;
    return RG_OK;
}
