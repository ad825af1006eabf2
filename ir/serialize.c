/*
 * serialize.c — encoding a graph into the plan's STRINGS, GRAPH, IO and
 * CONSTANTS sections and decoding it back, plus the plan checksum.
 *
 * The byte layout is documented in docs/plan-format.md; this file is its
 * executable form. Encoding trusts the graph (our own data) but refuses what
 * the decoder would reject, so a plan that was written can always be loaded.
 * Decoding trusts nothing: each read is bounds-checked, each count is checked
 * against the bytes left before anything is allocated for it, and each index
 * is checked against what it indexes. Everything the decoder allocates lives in
 * the new graph's arena, so the one failure path is rg_graph_free().
 */
#include "serialize.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ byte order */

static bool host_is_little_endian(void) {
    const uint16_t probe = 1;
    uint8_t first;
    memcpy(&first, &probe, 1);
    return first == 1;
}

uint32_t rg_ir_load_u32(const void *p) {
    const uint8_t *b = p;
    if (host_is_little_endian()) {
        uint32_t v;
        memcpy(&v, b, 4);
        return v;
    }
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

uint64_t rg_ir_load_u64(const void *p) {
    const uint8_t *b = p;
    if (host_is_little_endian()) {
        uint64_t v;
        memcpy(&v, b, 8);
        return v;
    }
    return (uint64_t)rg_ir_load_u32(b) | (uint64_t)rg_ir_load_u32(b + 4) << 32;
}

void rg_ir_store_u32(void *p, uint32_t v) {
    uint8_t *b = p;
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
}

void rg_ir_store_u64(void *p, uint64_t v) {
    uint8_t *b = p;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}

/* -------------------------------------------------------------- checksum */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

void rg_ir_hasher_init(rg_ir_hasher *h) {
    memset(h, 0, sizeof *h);
    for (int i = 0; i < 4; i++) h->lane[i] = FNV_OFFSET + (uint64_t)i;
}

/* Four independent multiply chains, so the CPU overlaps them. */
static void hash_block(uint64_t lane[4], const uint8_t *p) {
    lane[0] = (lane[0] ^ rg_ir_load_u64(p)) * FNV_PRIME;
    lane[1] = (lane[1] ^ rg_ir_load_u64(p + 8)) * FNV_PRIME;
    lane[2] = (lane[2] ^ rg_ir_load_u64(p + 16)) * FNV_PRIME;
    lane[3] = (lane[3] ^ rg_ir_load_u64(p + 24)) * FNV_PRIME;
}

void rg_ir_hasher_update(rg_ir_hasher *h, const void *data, size_t size) {
    const uint8_t *p = data;
    h->total += size;
    if (h->npending) {
        size_t take = 32 - h->npending;
        if (take > size) take = size;
        memcpy(h->pending + h->npending, p, take);
        h->npending += take;
        p += take;
        size -= take;
        if (h->npending < 32) return;
        hash_block(h->lane, h->pending);
        h->npending = 0;
    }
    for (; size >= 32; p += 32, size -= 32) hash_block(h->lane, p);
    if (size) memcpy(h->pending, p, size);
    h->npending = size;
}

uint64_t rg_ir_hasher_final(const rg_ir_hasher *h) {
    uint64_t lane0 = h->lane[0];
    for (size_t i = 0; i < h->npending; i++) lane0 = (lane0 ^ h->pending[i]) * FNV_PRIME;
    uint64_t x = (FNV_OFFSET ^ h->total) * FNV_PRIME;
    x = (x ^ lane0) * FNV_PRIME;
    for (int i = 1; i < 4; i++) x = (x ^ h->lane[i]) * FNV_PRIME;
    /* FNV's multiply only carries upwards; a final avalanche spreads every
     * bit over the whole word. */
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

uint64_t rg_ir_hash_bytes(const void *data, size_t size) {
    rg_ir_hasher h;
    rg_ir_hasher_init(&h);
    rg_ir_hasher_update(&h, data, size);
    return rg_ir_hasher_final(&h);
}

/* ============================================================== encoding */

static bool bytes_reserve(rg_ir_bytes *b, size_t extra) {
    size_t need;
    if (!rg_size_add(b->size, extra, &need)) return false;
    if (need <= b->cap) return true;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need) {
        if (!rg_size_mul(ncap, 2, &ncap)) return false;
    }
    uint8_t *fresh = rg_mem_realloc(b->alloc, b->data, b->cap, ncap);
    if (!fresh) return false;
    b->data = fresh;
    b->cap = ncap;
    return true;
}

static void bytes_free(rg_ir_bytes *b) {
    rg_mem_free(b->alloc, b->data, b->cap);
    b->data = NULL;
    b->size = b->cap = 0;
}

/* A string of the graph and its index in STRINGS, for de-duplication. */
typedef struct string_slot {
    const char *s;
    size_t len;
    uint32_t index;
    bool used;
} string_slot;

/* A constant payload already placed in CONSTANTS. */
typedef struct payload_slot {
    const void *data;
    size_t size;
    size_t offset;
} payload_slot;

typedef struct encoder {
    const rg_graph *g;
    const rg_allocator *alloc;
    rg_error *err;
    bool oom; /* sticky: checked once a section is done */
    rg_ir_bytes strings, graph, io;
    uint32_t nstrings;
    string_slot *string_table;
    size_t string_cap, string_used;
    payload_slot *payload_table;
    size_t payload_cap, payload_used;
    rg_ir_constant_ref *constants;
    size_t nconstants, constants_cap;
    size_t constants_size;
} encoder;

static void put(encoder *e, rg_ir_bytes *b, const void *data, size_t size) {
    if (e->oom || !bytes_reserve(b, size)) {
        e->oom = true;
        return;
    }
    if (size) memcpy(b->data + b->size, data, size);
    b->size += size;
}

static void put_u32(encoder *e, rg_ir_bytes *b, uint32_t v) {
    uint8_t raw[4];
    rg_ir_store_u32(raw, v);
    put(e, b, raw, 4);
}

static void put_u64(encoder *e, rg_ir_bytes *b, uint64_t v) {
    uint8_t raw[8];
    rg_ir_store_u64(raw, v);
    put(e, b, raw, 8);
}

static void put_i32(encoder *e, rg_ir_bytes *b, int32_t v) { put_u32(e, b, (uint32_t)v); }
static void put_i64(encoder *e, rg_ir_bytes *b, int64_t v) { put_u64(e, b, (uint64_t)v); }

static uint64_t hash_string(const char *s, size_t len) {
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
    return h;
}

static bool string_table_grow(encoder *e) {
    size_t ncap = e->string_cap ? e->string_cap * 2 : 256;
    string_slot *fresh = rg_mem_calloc(e->alloc, ncap, sizeof *fresh);
    if (!fresh) return false;
    for (size_t i = 0; i < e->string_cap; i++) {
        if (!e->string_table[i].used) continue;
        size_t j = hash_string(e->string_table[i].s, e->string_table[i].len) & (ncap - 1);
        while (fresh[j].used) j = (j + 1) & (ncap - 1);
        fresh[j] = e->string_table[i];
    }
    rg_mem_free(e->alloc, e->string_table, e->string_cap * sizeof *e->string_table);
    e->string_table = fresh;
    e->string_cap = ncap;
    return true;
}

/* The STRINGS index of `s` (len bytes), appending it on first use. */
static uint32_t intern(encoder *e, const char *s, size_t len) {
    if (!s) {
        s = "";
        len = 0;
    }
    if (e->oom) return 0;
    if (len > UINT32_MAX || e->nstrings == RG_PLAN_NO_INDEX) {
        e->oom = true; /* reported as "too large" below */
        return 0;
    }
    if ((e->string_used + 1) * 2 > e->string_cap && !string_table_grow(e)) {
        e->oom = true;
        return 0;
    }
    size_t j = hash_string(s, len) & (e->string_cap - 1);
    for (; e->string_table[j].used; j = (j + 1) & (e->string_cap - 1)) {
        string_slot *slot = &e->string_table[j];
        if (slot->len == len && memcmp(slot->s, s, len) == 0) return slot->index;
    }
    e->string_table[j] = (string_slot){s, len, e->nstrings, true};
    e->string_used++;
    put_u32(e, &e->strings, (uint32_t)len);
    put(e, &e->strings, s, len);
    return e->nstrings++;
}

static uint32_t intern_cstr(encoder *e, const char *s) { return intern(e, s, s ? strlen(s) : 0); }

static uint64_t hash_pointer(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static bool payload_table_grow(encoder *e) {
    size_t ncap = e->payload_cap ? e->payload_cap * 2 : 64;
    payload_slot *fresh = rg_mem_calloc(e->alloc, ncap, sizeof *fresh);
    if (!fresh) return false;
    for (size_t i = 0; i < e->payload_cap; i++) {
        if (!e->payload_table[i].data) continue;
        size_t j = hash_pointer(e->payload_table[i].data) & (ncap - 1);
        while (fresh[j].data) j = (j + 1) & (ncap - 1);
        fresh[j] = e->payload_table[i];
    }
    rg_mem_free(e->alloc, e->payload_table, e->payload_cap * sizeof *e->payload_table);
    e->payload_table = fresh;
    e->payload_cap = ncap;
    return true;
}

static bool constants_push(encoder *e, const void *data, size_t size, size_t offset) {
    if (e->nconstants == e->constants_cap) {
        size_t ncap = e->constants_cap ? e->constants_cap * 2 : 32;
        rg_ir_constant_ref *fresh = rg_mem_realloc(e->alloc, e->constants, e->constants_cap * sizeof *fresh,
                                                   ncap * sizeof *fresh);
        if (!fresh) return false;
        e->constants = fresh;
        e->constants_cap = ncap;
    }
    e->constants[e->nconstants++] = (rg_ir_constant_ref){data, size, offset};
    return true;
}

/* The CONSTANTS offset of a payload, placing it on first use. Payloads are
 * keyed by address and size: values that share a buffer share its bytes. */
static size_t place_payload(encoder *e, const void *data, size_t size) {
    if (e->oom) return 0;
    if (size == 0 || !data) return 0; /* empty tensors need no bytes */
    if ((e->payload_used + 1) * 2 > e->payload_cap && !payload_table_grow(e)) {
        e->oom = true;
        return 0;
    }
    size_t j = hash_pointer(data) & (e->payload_cap - 1);
    for (; e->payload_table[j].data; j = (j + 1) & (e->payload_cap - 1))
        if (e->payload_table[j].data == data && e->payload_table[j].size == size)
            return e->payload_table[j].offset;
    size_t offset = e->constants_size, end, aligned;
    if (!rg_size_add(offset, size, &end) || !rg_size_add(end, RG_PLAN_CONSTANT_ALIGN - 1, &aligned) ||
        !constants_push(e, data, size, offset)) {
        e->oom = true;
        return 0;
    }
    e->constants_size = aligned & ~(size_t)(RG_PLAN_CONSTANT_ALIGN - 1);
    e->payload_table[j] = (payload_slot){data, size, offset};
    e->payload_used++;
    return offset;
}

/* tensor ref: u32 dtype, i32 rank, i64 dims[rank], u64 offset, u64 nbytes */
static rg_status put_tensor(encoder *e, const rg_tensor *t, const char *what) {
    size_t numel, nbytes;
    if (!t || !rg_dtype_is_valid(t->dtype) || t->rank < 0 || t->rank > RG_MAX_RANK ||
        !rg_shape_numel(t->rank, t->dims, &numel) || !rg_size_mul(numel, rg_dtype_size(t->dtype), &nbytes) ||
        nbytes != t->nbytes || (nbytes && !t->data))
        return rg_error_set(e->err, RG_ERR_INVALID_ARGUMENT,
                            "cannot write %s: its tensor is missing or its dtype, shape and size disagree", what);
    put_u32(e, &e->graph, (uint32_t)t->dtype);
    put_i32(e, &e->graph, t->rank);
    for (int i = 0; i < t->rank; i++) put_i64(e, &e->graph, t->dims[i]);
    put_u64(e, &e->graph, place_payload(e, t->data, nbytes));
    put_u64(e, &e->graph, nbytes);
    return RG_OK;
}

/* dim: i64 constant, u8 unknown, u8 nterms, u16 0, u32 0; per term:
 * i64 coef, u16 sym[3], u16 0 */
static rg_status put_dim(encoder *e, const rg_value *v, const rg_dim *d) {
    if (d->nterms > RG_DIM_MAX_TERMS)
        return rg_error_set(e->err, RG_ERR_INTERNAL, "value '%s' has a dim with %u terms", v->name, d->nterms);
    uint8_t head[8] = {d->unknown ? 1 : 0, d->nterms, 0, 0, 0, 0, 0, 0};
    put_i64(e, &e->graph, d->constant);
    put(e, &e->graph, head, sizeof head);
    for (unsigned k = 0; k < d->nterms; k++) {
        uint8_t syms[8] = {0};
        for (int f = 0; f < RG_DIM_MAX_FACTORS; f++) {
            if (d->term[k].sym[f] >= e->g->nsymbols)
                return rg_error_set(e->err, RG_ERR_INTERNAL, "value '%s' has a dim with unknown symbol %u",
                                    v->name, d->term[k].sym[f]);
            syms[2 * f] = (uint8_t)d->term[k].sym[f];
            syms[2 * f + 1] = (uint8_t)(d->term[k].sym[f] >> 8);
        }
        put_i64(e, &e->graph, d->term[k].coef);
        put(e, &e->graph, syms, sizeof syms);
    }
    return RG_OK;
}

/* The constant's shape must be the value's: executors size buffers from the
 * value and read the payload. */
static bool constant_matches_value(const rg_value *v, const rg_tensor *t) {
    if (v->dtype != t->dtype || v->rank != t->rank) return false;
    for (int i = 0; i < t->rank; i++) {
        int64_t d;
        if (!rg_dim_is_const(&v->dims[i], &d) || d != t->dims[i]) return false;
    }
    return true;
}

/* value: u32 name, u32 dtype, i32 rank, u32 flags (bit 0: constant follows),
 * dims, [tensor ref] */
static rg_status put_value(encoder *e, const rg_value *v) {
    if (!rg_dtype_is_valid(v->dtype) && v->dtype != RG_DTYPE_UNDEFINED)
        return rg_error_set(e->err, RG_ERR_INTERNAL, "value '%s' has dtype %d", v->name, (int)v->dtype);
    if (v->rank < -1 || v->rank > RG_MAX_RANK)
        return rg_error_set(e->err, RG_ERR_INTERNAL, "value '%s' has rank %d", v->name, v->rank);
    if (v->constant && !constant_matches_value(v, v->constant))
        return rg_error_set(e->err, RG_ERR_INVALID_ARGUMENT,
                            "cannot write value '%s': its constant's dtype or shape differs from the value's",
                            v->name);
    put_u32(e, &e->graph, intern_cstr(e, v->name));
    put_u32(e, &e->graph, (uint32_t)v->dtype);
    put_i32(e, &e->graph, v->rank);
    put_u32(e, &e->graph, v->constant ? 1u : 0u);
    for (int i = 0; i < v->rank; i++) RG_TRY(put_dim(e, v, &v->dims[i]));
    if (v->constant) {
        char what[RG_LABEL_MAX];
        snprintf(what, sizeof what, "value '%s'", v->name);
        RG_TRY(put_tensor(e, v->constant, what));
    }
    return RG_OK;
}

static rg_status value_index(encoder *e, const rg_value *v, uint32_t *out) {
    if (!v) {
        *out = RG_PLAN_NO_INDEX;
        return RG_OK;
    }
    if (v->id >= e->g->nvalues || e->g->values[v->id] != v)
        return rg_error_set(e->err, RG_ERR_INTERNAL, "value '%s' is not in the graph's value list", v->name);
    *out = v->id;
    return RG_OK;
}

static bool attr_count_ok(const rg_attr *a) { return a->count <= UINT32_MAX; }

/* attr: u32 name, u32 kind, payload by kind (docs/plan-format.md) */
static rg_status put_attr(encoder *e, const rg_node *n, const rg_attr *a) {
    char what[RG_LABEL_MAX + 64], label[RG_LABEL_MAX];
    snprintf(what, sizeof what, "attribute '%s' of node %s", a->name ? a->name : "",
             rg_node_label(n, label, sizeof label));
    if ((unsigned)a->kind >= RG_ATTR_KIND_COUNT || !attr_count_ok(a))
        return rg_error_set(e->err, RG_ERR_INTERNAL, "%s has kind %d or %zu elements", what, (int)a->kind, a->count);
    rg_ir_bytes *b = &e->graph;
    put_u32(e, b, intern_cstr(e, a->name));
    put_u32(e, b, (uint32_t)a->kind);
    switch (a->kind) {
    case RG_ATTR_FLOAT: {
        uint32_t bits;
        memcpy(&bits, &a->f, 4);
        put_u32(e, b, bits);
        break;
    }
    case RG_ATTR_INT: put_i64(e, b, a->i); break;
    case RG_ATTR_STRING: put_u32(e, b, intern(e, a->s, a->s ? a->s_len : 0)); break;
    case RG_ATTR_TENSOR: RG_TRY(put_tensor(e, a->t, what)); break;
    case RG_ATTR_FLOATS:
        put_u32(e, b, (uint32_t)a->count);
        for (size_t i = 0; i < a->count; i++) {
            uint32_t bits;
            memcpy(&bits, &a->floats[i], 4);
            put_u32(e, b, bits);
        }
        break;
    case RG_ATTR_INTS:
        put_u32(e, b, (uint32_t)a->count);
        for (size_t i = 0; i < a->count; i++) put_i64(e, b, a->ints[i]);
        break;
    case RG_ATTR_STRINGS:
        put_u32(e, b, (uint32_t)a->count);
        for (size_t i = 0; i < a->count; i++) {
            const char *s = a->strings[i];
            size_t len = a->string_lens ? a->string_lens[i] : (s ? strlen(s) : 0);
            put_u32(e, b, intern(e, s, s ? len : 0));
        }
        break;
    case RG_ATTR_TENSORS:
        put_u32(e, b, (uint32_t)a->count);
        for (size_t i = 0; i < a->count; i++) RG_TRY(put_tensor(e, a->tensors[i], what));
        break;
    case RG_ATTR_GRAPHS:
    case RG_ATTR_SPARSE_TENSORS:
    case RG_ATTR_TYPE_PROTOS: put_u32(e, b, (uint32_t)a->count); break; /* markers: no payload */
    default: break; /* UNDEFINED, GRAPH, SPARSE_TENSOR, TYPE_PROTO: markers, no payload */
    }
    return RG_OK;
}

/* Variadic ops have no optional inputs to leave out (as in rg_verify). */
static bool input_required(const rg_op_info *info, uint32_t i) {
    return i < info->min_inputs || info->max_inputs == RG_ARITY_ANY;
}

/* Checks what the loader will check: arity against the op table, required
 * inputs and outputs present, every input defined before the node runs. */
static rg_status check_node(encoder *e, const rg_node *n, const bool *defined) {
    char label[RG_LABEL_MAX];
    const rg_op_info *info = rg_op_get(n->op);
    if (!info) return rg_error_set(e->err, RG_ERR_INTERNAL, "node '%s' has op number %d", n->name, (int)n->op);
    bool in_ok = n->ninputs >= info->min_inputs && (info->max_inputs == RG_ARITY_ANY || n->ninputs <= info->max_inputs);
    bool out_ok =
        n->noutputs >= info->min_outputs && (info->max_outputs == RG_ARITY_ANY || n->noutputs <= info->max_outputs);
    if (!in_ok || !out_ok)
        return rg_error_set(e->err, RG_ERR_INVALID_ARGUMENT, "cannot write node %s: %u inputs and %u outputs break its arity",
                            rg_node_label(n, label, sizeof label), n->ninputs, n->noutputs);
    for (uint32_t i = 0; i < n->ninputs; i++) {
        const rg_value *v = n->inputs[i];
        if (!v && input_required(info, i))
            return rg_error_set(e->err, RG_ERR_INVALID_ARGUMENT, "cannot write node %s: required input %u is missing",
                                rg_node_label(n, label, sizeof label), i);
        if (v && v->id < e->g->nvalues && !defined[v->id])
            return rg_error_set(e->err, RG_ERR_INVALID_ARGUMENT,
                                "cannot write node %s: it reads value '%s' before it is produced "
                                "(sort the graph with rg_graph_topo_sort first)",
                                rg_node_label(n, label, sizeof label), v->name);
    }
    for (uint32_t i = 0; i < n->noutputs; i++) {
        const rg_value *v = n->outputs[i];
        if (!v && i < info->min_outputs)
            return rg_error_set(e->err, RG_ERR_INVALID_ARGUMENT, "cannot write node %s: required output %u is missing",
                                rg_node_label(n, label, sizeof label), i);
        if (v && (v->constant || v->is_input || (v->id < e->g->nvalues && defined[v->id])))
            return rg_error_set(e->err, RG_ERR_INVALID_ARGUMENT,
                                "cannot write node %s: its output '%s' is also a constant, a graph input or "
                                "another node's output", rg_node_label(n, label, sizeof label), v->name);
    }
    return RG_OK;
}

/* node: u32 op name, u32 op domain, u32 node name, i32 opset, u32 ninputs,
 * u32 noutputs, u32 nattrs, u32 inputs[], u32 outputs[], attrs */
static rg_status put_node(encoder *e, const rg_node *n, bool *defined) {
    RG_TRY(check_node(e, n, defined));
    const rg_op_info *info = rg_op_get(n->op);
    rg_ir_bytes *b = &e->graph;
    put_u32(e, b, intern_cstr(e, info->name));
    put_u32(e, b, intern_cstr(e, info->domain));
    put_u32(e, b, intern_cstr(e, n->name));
    put_i32(e, b, n->opset);
    put_u32(e, b, n->ninputs);
    put_u32(e, b, n->noutputs);
    put_u32(e, b, n->nattrs);
    uint32_t index;
    for (uint32_t i = 0; i < n->ninputs; i++) {
        RG_TRY(value_index(e, n->inputs[i], &index));
        put_u32(e, b, index);
    }
    for (uint32_t i = 0; i < n->noutputs; i++) {
        RG_TRY(value_index(e, n->outputs[i], &index));
        put_u32(e, b, index);
        if (n->outputs[i]) defined[index] = true;
    }
    for (uint32_t i = 0; i < n->nattrs; i++) RG_TRY(put_attr(e, n, &n->attrs[i]));
    return RG_OK;
}

static rg_status put_io(encoder *e, uint32_t count, rg_value *const *list) {
    put_u32(e, &e->io, count);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t index;
        RG_TRY(value_index(e, list[i], &index));
        if (index == RG_PLAN_NO_INDEX)
            return rg_error_set(e->err, RG_ERR_INTERNAL, "a graph input or output is NULL");
        put_u32(e, &e->io, index);
    }
    return RG_OK;
}

static rg_status encode_all(encoder *e, bool *defined) {
    const rg_graph *g = e->g;
    put_u32(e, &e->strings, 0); /* count, patched at the end */
    rg_ir_bytes *b = &e->graph;
    put_u32(e, b, intern_cstr(e, g->name));
    put_u32(e, b, intern_cstr(e, g->producer));
    put_i64(e, b, g->ir_version);
    put_i32(e, b, g->opset);
    put_u32(e, b, g->nsymbols ? g->nsymbols - 1 : 0);
    for (uint32_t i = 1; i < g->nsymbols; i++) put_u32(e, b, intern_cstr(e, g->symbols[i]));
    put_u32(e, b, g->nbounds);
    for (uint32_t i = 0; i < g->nbounds; i++) {
        put_u32(e, b, g->bounds[i].sym);
        put_i64(e, b, g->bounds[i].max);
    }
    put_u32(e, b, g->nvalues);
    for (uint32_t i = 0; i < g->nvalues; i++) {
        RG_TRY(put_value(e, g->values[i]));
        defined[i] = g->values[i]->constant || g->values[i]->is_input;
    }
    put_u32(e, b, g->nnodes);
    for (uint32_t i = 0; i < g->nnodes; i++) RG_TRY(put_node(e, g->nodes[i], defined));
    RG_TRY(put_io(e, g->ninputs, g->inputs));
    RG_TRY(put_io(e, g->noutputs, g->outputs));
    if (e->oom)
        return rg_error_set(e->err, RG_ERR_NOMEM, "out of memory (or a size too large for the format) while encoding the plan's graph");
    rg_ir_store_u32(e->strings.data, e->nstrings);
    return RG_OK;
}

rg_status rg_ir_encode_graph(const rg_graph *g, const rg_allocator *alloc, rg_ir_encoded_graph *out,
                             rg_error *err) {
    if (!alloc) alloc = rg_allocator_default();
    encoder e;
    memset(&e, 0, sizeof e);
    e.g = g;
    e.alloc = alloc;
    e.err = err;
    e.strings.alloc = e.graph.alloc = e.io.alloc = alloc;
    bool *defined = rg_mem_calloc(alloc, g->nvalues ? g->nvalues : 1, sizeof *defined);
    rg_status st = defined ? encode_all(&e, defined)
                           : rg_error_set(err, RG_ERR_NOMEM, "out of memory while encoding the plan's graph");
    rg_mem_free(alloc, defined, (g->nvalues ? g->nvalues : 1) * sizeof *defined);
    rg_mem_free(alloc, e.string_table, e.string_cap * sizeof *e.string_table);
    rg_mem_free(alloc, e.payload_table, e.payload_cap * sizeof *e.payload_table);
    if (st != RG_OK) {
        bytes_free(&e.strings);
        bytes_free(&e.graph);
        bytes_free(&e.io);
        rg_mem_free(alloc, e.constants, e.constants_cap * sizeof *e.constants);
        return st;
    }
    memset(out, 0, sizeof *out);
    out->alloc = alloc;
    out->strings = e.strings;
    out->graph = e.graph;
    out->io = e.io;
    out->constants = e.constants;
    out->nconstants = e.nconstants;
    out->constants_size = e.constants_size;
    out->constants_cap_ = e.constants_cap;
    return RG_OK;
}

void rg_ir_encoded_graph_deinit(rg_ir_encoded_graph *enc) {
    if (!enc || !enc->alloc) return;
    bytes_free(&enc->strings);
    bytes_free(&enc->graph);
    bytes_free(&enc->io);
    rg_mem_free(enc->alloc, enc->constants, enc->constants_cap_ * sizeof *enc->constants);
    memset(enc, 0, sizeof *enc);
}

/* ============================================================== decoding */

typedef struct reader {
    const uint8_t *p;
    size_t size, pos;
} reader;

typedef struct decoder {
    rg_graph *g;
    const rg_ir_graph_sections *s;
    const char *label;
    const char *section; /* for messages */
    rg_error *err;
    reader r;
    const char **strings;
    uint32_t *string_lens;
    uint32_t nstrings;
    uint32_t *output_stamp; /* per value: 1 + index of the last node writing it */
    const uint8_t *constants; /* the CONSTANTS bytes payloads point into */
} decoder;

static rg_status corrupt(decoder *d, const char *fmt, ...) RG_PRINTF(2, 3);
static rg_status corrupt(decoder *d, const char *fmt, ...) {
    if (!d->err) return RG_ERR_CORRUPT_PLAN;
    char msg[RG_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rg_error_set(d->err, RG_ERR_CORRUPT_PLAN, "%s: %s section: %s", d->label, d->section, msg);
}

/* A graph-building call failed on what the plan said: keep out-of-memory as
 * it is, anything else means the plan is corrupt. */
static rg_status graph_failure(decoder *d, rg_status st) {
    if (!d->err) return st == RG_ERR_NOMEM ? st : RG_ERR_CORRUPT_PLAN;
    if (st != RG_ERR_NOMEM) st = RG_ERR_CORRUPT_PLAN;
    rg_error_prefix(d->err, st, "%s: %s section", d->label, d->section);
    d->err->status = st;
    return st;
}

static rg_status nomem(decoder *d) {
    return rg_error_set(d->err, RG_ERR_NOMEM, "%s: out of memory while loading the plan", d->label);
}

static void begin(decoder *d, const char *section, const uint8_t *p, size_t size) {
    d->section = section;
    d->r = (reader){p, size, 0};
}

static size_t left(const decoder *d) { return d->r.size - d->r.pos; }

static rg_status need(decoder *d, size_t n) {
    if (left(d) < n)
        return corrupt(d, "ends early (needs %zu more bytes at offset %zu, has %zu)", n, d->r.pos, left(d));
    return RG_OK;
}

static rg_status get_u32(decoder *d, uint32_t *out) {
    RG_TRY(need(d, 4));
    *out = rg_ir_load_u32(d->r.p + d->r.pos);
    d->r.pos += 4;
    return RG_OK;
}

static rg_status get_u64(decoder *d, uint64_t *out) {
    RG_TRY(need(d, 8));
    *out = rg_ir_load_u64(d->r.p + d->r.pos);
    d->r.pos += 8;
    return RG_OK;
}

static rg_status get_i32(decoder *d, int32_t *out) {
    uint32_t v;
    RG_TRY(get_u32(d, &v));
    *out = (int32_t)v;
    return RG_OK;
}

static rg_status get_i64(decoder *d, int64_t *out) {
    uint64_t v;
    RG_TRY(get_u64(d, &v));
    *out = (int64_t)v;
    return RG_OK;
}

/* A count of records each at least `min_each` bytes long must fit in what is
 * left: checked before anything is allocated for them. */
static rg_status get_count(decoder *d, const char *what, size_t min_each, uint32_t *out) {
    uint32_t n;
    RG_TRY(get_u32(d, &n));
    if (min_each && n > left(d) / min_each)
        return corrupt(d, "%u %s do not fit in the %zu bytes left", n, what, left(d));
    *out = n;
    return RG_OK;
}

static rg_status expect_end(decoder *d) {
    if (left(d)) return corrupt(d, "%zu stray bytes after the last record", left(d));
    return RG_OK;
}

static rg_status get_string(decoder *d, const char *what, const char **out, size_t *len) {
    uint32_t index;
    RG_TRY(get_u32(d, &index));
    if (index >= d->nstrings)
        return corrupt(d, "%s names string %u, but there are %u strings", what, index, d->nstrings);
    *out = d->strings[index];
    if (len) *len = d->string_lens[index];
    return RG_OK;
}

static rg_status get_value(decoder *d, const char *what, bool allow_none, rg_value **out) {
    uint32_t index;
    RG_TRY(get_u32(d, &index));
    if (index == RG_PLAN_NO_INDEX && allow_none) {
        *out = NULL;
        return RG_OK;
    }
    if (index >= d->g->nvalues)
        return corrupt(d, "%s names value %u, but there are %u values", what, index, d->g->nvalues);
    *out = d->g->values[index];
    return RG_OK;
}

/* STRINGS: u32 count, then per string u32 length and the bytes. */
static rg_status decode_strings(decoder *d) {
    begin(d, "STRINGS", d->s->strings, d->s->strings_size);
    uint32_t n;
    RG_TRY(get_count(d, "strings", 4, &n));
    d->strings = rg_arena_array(&d->g->arena, n ? n : 1, sizeof *d->strings);
    d->string_lens = rg_arena_array(&d->g->arena, n ? n : 1, sizeof *d->string_lens);
    if (!d->strings || !d->string_lens) return nomem(d);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len;
        RG_TRY(get_u32(d, &len));
        RG_TRY(need(d, len));
        char *copy = rg_arena_strndup(&d->g->arena, (const char *)d->r.p + d->r.pos, len);
        if (!copy) return nomem(d);
        d->r.pos += len;
        d->strings[i] = copy;
        d->string_lens[i] = len;
    }
    d->nstrings = n;
    return expect_end(d);
}

/* tensor ref (see put_tensor); the payload is checked against CONSTANTS. */
static rg_status get_tensor(decoder *d, const char *what, rg_tensor **out) {
    uint32_t dtype;
    int32_t rank;
    RG_TRY(get_u32(d, &dtype));
    RG_TRY(get_i32(d, &rank));
    if (dtype == RG_DTYPE_UNDEFINED || dtype >= RG_DTYPE_COUNT)
        return corrupt(d, "%s has a tensor of dtype %u", what, dtype);
    if (rank < 0 || rank > RG_MAX_RANK)
        return corrupt(d, "%s has a tensor of rank %d (at most %d)", what, (int)rank, RG_MAX_RANK);
    int64_t dims[RG_MAX_RANK];
    for (int i = 0; i < rank; i++) RG_TRY(get_i64(d, &dims[i]));
    uint64_t offset, nbytes;
    RG_TRY(get_u64(d, &offset));
    RG_TRY(get_u64(d, &nbytes));
    size_t numel, want;
    if (!rg_shape_numel(rank, dims, &numel) || !rg_size_mul(numel, rg_dtype_size((rg_dtype)dtype), &want))
        return corrupt(d, "%s has a tensor with a negative dim or a size that overflows", what);
    if (nbytes != want)
        return corrupt(d, "%s has a tensor of %llu bytes, but its shape needs %zu", what,
                       (unsigned long long)nbytes, want);
    if (want && (offset % RG_PLAN_CONSTANT_ALIGN || offset > d->s->constants_size ||
                 want > d->s->constants_size - offset))
        return corrupt(d, "%s has a payload at offset %llu (%zu bytes) outside the %zu-byte CONSTANTS section or not %u-aligned",
                       what, (unsigned long long)offset, want, d->s->constants_size, RG_PLAN_CONSTANT_ALIGN);
    rg_tensor *t = rg_arena_alloc(&d->g->arena, sizeof *t);
    if (!t) return nomem(d);
    if (rg_tensor_set_shape(t, (rg_dtype)dtype, rank, dims, NULL) != RG_OK)
        return corrupt(d, "%s has a tensor whose shape cannot be represented", what);
    if (want) {
        t->data = (void *)(uintptr_t)(d->constants + offset); /* may be a read-only mapping */
    } else {
        t->data = rg_arena_alloc(&d->g->arena, 1);
        if (!t->data) return nomem(d);
    }
    *out = t;
    return RG_OK;
}

static rg_status get_dim(decoder *d, const char *value_name, rg_dim *out) {
    rg_dim dim;
    memset(&dim, 0, sizeof dim);
    RG_TRY(get_i64(d, &dim.constant));
    RG_TRY(need(d, 8));
    const uint8_t *head = d->r.p + d->r.pos;
    d->r.pos += 8;
    if (head[0] > 1 || head[1] > RG_DIM_MAX_TERMS || head[2] || head[3] || rg_ir_load_u32(head + 4))
        return corrupt(d, "value '%s' has a malformed dim (unknown=%u, %u terms)", value_name, head[0], head[1]);
    dim.unknown = head[0] == 1;
    dim.nterms = head[1];
    for (unsigned k = 0; k < dim.nterms; k++) {
        RG_TRY(get_i64(d, &dim.term[k].coef));
        RG_TRY(need(d, 8));
        const uint8_t *syms = d->r.p + d->r.pos;
        d->r.pos += 8;
        for (int f = 0; f < RG_DIM_MAX_FACTORS; f++) {
            uint16_t sym = (uint16_t)(syms[2 * f] | syms[2 * f + 1] << 8);
            if (sym >= d->g->nsymbols)
                return corrupt(d, "value '%s' has a dim naming symbol %u, but there are %u", value_name, sym,
                               d->g->nsymbols - 1);
            dim.term[k].sym[f] = sym;
        }
        if (syms[6] || syms[7]) return corrupt(d, "value '%s' has a dim term with reserved bytes set", value_name);
    }
    *out = dim;
    return RG_OK;
}

static rg_status decode_value(decoder *d, uint32_t index) {
    const char *name;
    uint32_t dtype, flags;
    int32_t rank;
    RG_TRY(get_string(d, "a value", &name, NULL));
    RG_TRY(get_u32(d, &dtype));
    RG_TRY(get_i32(d, &rank));
    RG_TRY(get_u32(d, &flags));
    if (dtype >= RG_DTYPE_COUNT) return corrupt(d, "value '%s' has dtype %u", name, dtype);
    if (rank < -1 || rank > RG_MAX_RANK)
        return corrupt(d, "value '%s' has rank %d (at most %d)", name, (int)rank, RG_MAX_RANK);
    if (flags & ~1u) return corrupt(d, "value '%s' has unknown flags 0x%x", name, flags);
    rg_dim dims[RG_MAX_RANK];
    for (int i = 0; i < rank; i++) RG_TRY(get_dim(d, name, &dims[i]));
    rg_value *v;
    rg_status st = rg_graph_add_value(d->g, name, (rg_dtype)dtype, rank, rank > 0 ? dims : NULL, &v, d->err);
    if (st != RG_OK) return graph_failure(d, st);
    RG_ASSERT(v->id == index);
    if (flags & 1u) {
        char what[RG_LABEL_MAX];
        snprintf(what, sizeof what, "value '%s'", name);
        RG_TRY(get_tensor(d, what, &v->constant));
        if (!constant_matches_value(v, v->constant))
            return corrupt(d, "value '%s' has a constant whose dtype or shape differs from the value's", name);
    }
    return RG_OK;
}

static rg_status get_attr(decoder *d, const char *node_label, rg_attr *a) {
    uint32_t kind, n;
    RG_TRY(get_string(d, "an attribute", &a->name, NULL));
    RG_TRY(get_u32(d, &kind));
    char what[RG_LABEL_MAX + 64];
    snprintf(what, sizeof what, "attribute '%s' of node %s", a->name, node_label);
    if (kind == RG_ATTR_UNDEFINED || kind >= RG_ATTR_KIND_COUNT) return corrupt(d, "%s has kind %u", what, kind);
    a->kind = (rg_attr_kind)kind;
    rg_arena *arena = &d->g->arena;
    switch (a->kind) {
    case RG_ATTR_FLOAT: {
        uint32_t bits;
        RG_TRY(get_u32(d, &bits));
        memcpy(&a->f, &bits, 4);
        break;
    }
    case RG_ATTR_INT: RG_TRY(get_i64(d, &a->i)); break;
    case RG_ATTR_STRING: RG_TRY(get_string(d, what, &a->s, &a->s_len)); break;
    case RG_ATTR_TENSOR: RG_TRY(get_tensor(d, what, &a->t)); break;
    case RG_ATTR_FLOATS: {
        RG_TRY(get_count(d, "floats", 4, &n));
        float *fs = rg_arena_array(arena, n ? n : 1, sizeof *fs);
        if (!fs) return nomem(d);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t bits;
            RG_TRY(get_u32(d, &bits));
            memcpy(&fs[i], &bits, 4);
        }
        a->floats = fs;
        a->count = n;
        break;
    }
    case RG_ATTR_INTS: {
        RG_TRY(get_count(d, "ints", 8, &n));
        int64_t *is = rg_arena_array(arena, n ? n : 1, sizeof *is);
        if (!is) return nomem(d);
        for (uint32_t i = 0; i < n; i++) RG_TRY(get_i64(d, &is[i]));
        a->ints = is;
        a->count = n;
        break;
    }
    case RG_ATTR_STRINGS: {
        RG_TRY(get_count(d, "strings", 4, &n));
        const char **ss = rg_arena_array(arena, n ? n : 1, sizeof *ss);
        size_t *lens = rg_arena_array(arena, n ? n : 1, sizeof *lens);
        if (!ss || !lens) return nomem(d);
        for (uint32_t i = 0; i < n; i++) RG_TRY(get_string(d, what, &ss[i], &lens[i]));
        a->strings = ss;
        a->string_lens = lens;
        a->count = n;
        break;
    }
    case RG_ATTR_TENSORS: {
        RG_TRY(get_count(d, "tensors", 24, &n));
        rg_tensor **ts = rg_arena_array(arena, n ? n : 1, sizeof *ts);
        if (!ts) return nomem(d);
        for (uint32_t i = 0; i < n; i++) RG_TRY(get_tensor(d, what, &ts[i]));
        a->tensors = ts;
        a->count = n;
        break;
    }
    case RG_ATTR_GRAPHS:
    case RG_ATTR_SPARSE_TENSORS:
    case RG_ATTR_TYPE_PROTOS:
        RG_TRY(get_u32(d, &n));
        a->count = n;
        break;
    default: break; /* GRAPH, SPARSE_TENSOR, TYPE_PROTO: markers */
    }
    return RG_OK;
}

static bool arity_ok(unsigned n, unsigned lo, unsigned hi) { return n >= lo && (hi == RG_ARITY_ANY || n <= hi); }

static rg_status decode_node(decoder *d, uint32_t index) {
    const char *op_name, *domain, *name;
    int32_t opset;
    uint32_t nin, nout, nattrs;
    RG_TRY(get_string(d, "a node's op", &op_name, NULL));
    RG_TRY(get_string(d, "a node's domain", &domain, NULL));
    RG_TRY(get_string(d, "a node", &name, NULL));
    rg_op op;
    if (!rg_op_lookup(domain, op_name, &op))
        return corrupt(d, "node '%s' has op '%s%s%s', which this build does not know", name, domain,
                       domain[0] ? "." : "", op_name);
    char label[RG_LABEL_MAX];
    snprintf(label, sizeof label, "'%s' (%s)", name, op_name);
    RG_TRY(get_i32(d, &opset));
    RG_TRY(get_u32(d, &nin));
    RG_TRY(get_u32(d, &nout));
    RG_TRY(get_u32(d, &nattrs));
    const rg_op_info *info = rg_op_get(op);
    if (!arity_ok(nin, info->min_inputs, info->max_inputs) || !arity_ok(nout, info->min_outputs, info->max_outputs))
        return corrupt(d, "node %s has %u inputs and %u outputs, which its op does not allow", label, nin, nout);
    size_t index_bytes;
    if (!rg_size_mul((size_t)nin + nout, 4, &index_bytes)) return corrupt(d, "node %s is too large", label);
    RG_TRY(need(d, index_bytes));
    if (nattrs > (left(d) - index_bytes) / 8)
        return corrupt(d, "node %s has %u attributes, more than fit in the bytes left", label, nattrs);
    rg_value **ins = rg_arena_array(&d->g->arena, nin ? nin : 1, sizeof *ins);
    rg_value **outs = rg_arena_array(&d->g->arena, nout ? nout : 1, sizeof *outs);
    rg_attr *attrs = rg_arena_array(&d->g->arena, nattrs ? nattrs : 1, sizeof *attrs);
    if (!ins || !outs || !attrs) return nomem(d);
    for (uint32_t i = 0; i < nin; i++) {
        RG_TRY(get_value(d, "an input", true, &ins[i]));
        rg_value *v = ins[i];
        if (!v && input_required(info, i)) return corrupt(d, "node %s lacks its required input %u", label, i);
        if (v && !v->producer && !v->constant && !v->is_input)
            return corrupt(d, "node %s reads value '%s' before any node produces it", label, v->name);
    }
    for (uint32_t i = 0; i < nout; i++) {
        RG_TRY(get_value(d, "an output", true, &outs[i]));
        rg_value *v = outs[i];
        if (!v && i < info->min_outputs) return corrupt(d, "node %s lacks its required output %u", label, i);
        if (!v) continue;
        if (v->producer || v->constant || v->is_input || d->output_stamp[v->id] == index + 1)
            return corrupt(d, "node %s writes value '%s', which is already defined", label, v->name);
        d->output_stamp[v->id] = index + 1;
    }
    for (uint32_t i = 0; i < nattrs; i++) RG_TRY(get_attr(d, label, &attrs[i]));
    rg_node *node;
    rg_status st = rg_graph_add_node(d->g, op, name, opset, nin, ins, nout, outs, &node, d->err);
    if (st != RG_OK) return graph_failure(d, st);
    rg_node_set_attrs(node, nattrs, attrs);
    return RG_OK;
}

/* IO: u32 ninputs, u32 value[ninputs], u32 noutputs, u32 value[noutputs].
 * Inputs are read before the nodes (a node may not write a graph input),
 * outputs after them (an output must be defined). */
static rg_status decode_io_inputs(decoder *d) {
    uint32_t n;
    RG_TRY(get_count(d, "graph inputs", 4, &n));
    for (uint32_t i = 0; i < n; i++) {
        rg_value *v;
        RG_TRY(get_value(d, "a graph input", false, &v));
        if (v->is_input) return corrupt(d, "value '%s' is listed twice as a graph input", v->name);
        if (v->constant) return corrupt(d, "graph input '%s' is also a constant", v->name);
        rg_status st = rg_graph_add_input(d->g, v, d->err);
        if (st != RG_OK) return graph_failure(d, st);
    }
    return RG_OK;
}

static rg_status decode_io_outputs(decoder *d) {
    uint32_t n;
    RG_TRY(get_count(d, "graph outputs", 4, &n));
    for (uint32_t i = 0; i < n; i++) {
        rg_value *v;
        RG_TRY(get_value(d, "a graph output", false, &v));
        if (v->is_output) return corrupt(d, "value '%s' is listed twice as a graph output", v->name);
        if (!v->producer && !v->constant && !v->is_input)
            return corrupt(d, "graph output '%s' is never produced", v->name);
        rg_status st = rg_graph_add_output(d->g, v, d->err);
        if (st != RG_OK) return graph_failure(d, st);
    }
    return expect_end(d);
}

/* GRAPH: u32 name, u32 producer, i64 ir_version, i32 opset, u32 nsymbols,
 * u32 symbol[nsymbols], u32 nbounds, (u32 symbol, i64 max)[nbounds],
 * u32 nvalues, values, u32 nnodes, nodes. */
static rg_status decode_graph(decoder *d) {
    rg_graph *g = d->g;
    begin(d, "GRAPH", d->s->graph, d->s->graph_size);
    int32_t opset;
    uint32_t n;
    RG_TRY(get_string(d, "the graph name", &g->name, NULL));
    RG_TRY(get_string(d, "the graph producer", &g->producer, NULL));
    RG_TRY(get_i64(d, &g->ir_version));
    RG_TRY(get_i32(d, &opset));
    g->opset = opset;
    RG_TRY(get_count(d, "symbols", 4, &n));
    if (n >= UINT16_MAX) return corrupt(d, "%u symbols (at most %u)", n, UINT16_MAX - 1);
    for (uint32_t i = 1; i <= n; i++) {
        const char *name;
        RG_TRY(get_string(d, "a symbol", &name, NULL));
        uint16_t id = rg_graph_symbol(g, name);
        if (id == 0) return nomem(d);
        if (id != i) return corrupt(d, "symbol '%s' is listed twice", name);
    }
    RG_TRY(get_count(d, "symbol bounds", 12, &n));
    for (uint32_t i = 0; i < n; i++) {
        uint32_t sym;
        int64_t max;
        RG_TRY(get_u32(d, &sym));
        RG_TRY(get_i64(d, &max));
        if (sym == 0 || sym >= g->nsymbols || max < 0)
            return corrupt(d, "bound %lld on symbol %u is out of range", (long long)max, sym);
        if (rg_graph_bound_symbol(g, (uint16_t)sym, max, NULL) != RG_OK) return nomem(d);
    }
    uint32_t nvalues;
    RG_TRY(get_count(d, "values", 16, &nvalues));
    d->output_stamp = rg_arena_array(&g->arena, nvalues ? nvalues : 1, sizeof *d->output_stamp);
    if (!d->output_stamp) return nomem(d);
    for (uint32_t i = 0; i < nvalues; i++) RG_TRY(decode_value(d, i));
    uint32_t nnodes;
    RG_TRY(get_count(d, "nodes", 28, &nnodes));
    reader graph_reader = d->r;

    begin(d, "IO", d->s->io, d->s->io_size);
    RG_TRY(decode_io_inputs(d));
    reader io_reader = d->r;

    d->section = "GRAPH";
    d->r = graph_reader;
    for (uint32_t i = 0; i < nnodes; i++) RG_TRY(decode_node(d, i));
    RG_TRY(expect_end(d));

    d->section = "IO";
    d->r = io_reader;
    return decode_io_outputs(d);
}

rg_status rg_ir_decode_graph(const rg_ir_graph_sections *s, const rg_allocator *alloc, const char *label,
                             rg_graph **out, rg_error *err) {
    rg_graph *g;
    rg_status st = rg_graph_new(alloc, &g, err);
    if (st != RG_OK) return rg_error_prefix(err, st, "%s", label);
    decoder d;
    memset(&d, 0, sizeof d);
    d.g = g;
    d.s = s;
    d.label = label;
    d.err = err;
    /* Copied constants are copied as one block: payloads shared by several
     * tensors stay shared, and their alignment is kept. */
    d.constants = s->constants;
    if (!s->borrow_constants && s->constants_size) {
        uint8_t *copy = rg_arena_alloc_aligned(&g->arena, s->constants_size, RG_PLAN_CONSTANT_ALIGN);
        if (copy) memcpy(copy, s->constants, s->constants_size);
        d.constants = copy;
    }
    st = d.constants || !s->constants_size ? decode_strings(&d) : nomem(&d);
    if (st == RG_OK) st = decode_graph(&d);
    /* No rg_verify here: the checks above already imply its invariants (the
     * tests and the fuzz target verify every plan that loads), and some of
     * its checks are quadratic in a value's consumers, which a hostile plan
     * could use to stall the loader. */
    if (st != RG_OK) {
        rg_graph_free(g);
        return st;
    }
    *out = g;
    return RG_OK;
}
