/*
 * plan_write.c — the plan writer: header, section table and sections.
 *
 * The layout is computed first (every section's offset and size is known
 * before a byte is written), then one function emits the bytes after the
 * header through a sink. It runs twice: once into the hasher for the
 * checksum, once into the file or buffer. So constant payloads are never
 * copied into a second buffer, and a large plan costs no more memory to write
 * than the graph it comes from.
 */
#include "plan_write.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ir/serialize.h"

#define MAX_SECTIONS 6

typedef struct planned_section {
    uint32_t kind, flags;
    size_t offset, size;
    const void *data; /* NULL for CONSTANTS, emitted from its payload list */
} planned_section;

typedef struct plan_layout {
    rg_ir_encoded_graph enc;
    planned_section sections[MAX_SECTIONS];
    uint32_t nsections;
    size_t table_end;
    size_t total;
    uint8_t header[RG_PLAN_HEADER_SIZE];
    rg_ir_bytes kernels; /* the encoded KERNELS section, when there are kernels */
} plan_layout;

/* Where emitted bytes go: false on failure (the sink records why). */
typedef bool (*sink_fn)(void *user, const void *data, size_t size);

uint64_t rg_cg_hash_bytes(const void *data, size_t size) { return rg_ir_hash_bytes(data, size); }

static rg_status check_options(const rg_cg_plan_options *opt, const char **target, rg_error *err) {
    *target = opt && opt->target ? opt->target : "cpu";
    size_t len = strlen(*target);
    bool ok = len > 0 && len <= RG_PLAN_TARGET_SIZE;
    for (size_t i = 0; i < len; i++) ok = ok && (*target)[i] > 0x20 && (*target)[i] < 0x7f;
    if (!ok)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "plan target '%s' is not 1 to %u printable characters",
                            *target, RG_PLAN_TARGET_SIZE);
    if (opt && (unsigned)opt->dtype >= RG_DTYPE_COUNT)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "plan dtype %d is not a dtype", (int)opt->dtype);
    return RG_OK;
}

static bool align_up(size_t x, size_t align, size_t *out) {
    if (!rg_size_add(x, align - 1, out)) return false;
    *out &= ~(align - 1);
    return true;
}

static void add_section(plan_layout *l, uint32_t kind, uint32_t flags, const void *data, size_t size) {
    RG_ASSERT(l->nsections < MAX_SECTIONS);
    l->sections[l->nsections++] = (planned_section){kind, flags, 0, size, data};
}

/* Places the sections after the header and table: 8-byte aligned, CONSTANTS
 * last and 256-byte aligned so its payloads are aligned in the file (and in
 * a mapping of it). */
static rg_status place_sections(plan_layout *l, rg_error *err) {
    size_t cur = RG_PLAN_HEADER_SIZE + (size_t)l->nsections * RG_PLAN_SECTION_ENTRY_SIZE;
    l->table_end = cur;
    for (uint32_t i = 0; i < l->nsections; i++) {
        planned_section *s = &l->sections[i];
        size_t align = s->kind == RG_PLAN_SECTION_CONSTANTS ? RG_PLAN_CONSTANT_ALIGN : RG_PLAN_SECTION_ALIGN;
        if (!align_up(cur, align, &s->offset) || !rg_size_add(s->offset, s->size, &cur))
            return rg_error_set(err, RG_ERR_NOMEM, "the plan's size overflows");
    }
    l->total = cur;
    return RG_OK;
}

static bool emit_zeros(sink_fn sink, void *user, size_t count) {
    static const uint8_t zeros[256];
    while (count) {
        size_t n = count < sizeof zeros ? count : sizeof zeros;
        if (!sink(user, zeros, n)) return false;
        count -= n;
    }
    return true;
}

static bool emit_constants(const rg_ir_encoded_graph *enc, sink_fn sink, void *user) {
    size_t at = 0;
    for (size_t i = 0; i < enc->nconstants; i++) {
        const rg_ir_constant_ref *c = &enc->constants[i];
        if (!emit_zeros(sink, user, c->offset - at) || !sink(user, c->data, c->size)) return false;
        at = c->offset + c->size;
    }
    return emit_zeros(sink, user, enc->constants_size - at);
}

/* Emits every byte after the header: the section table, then the sections
 * with zero padding between them. */
static bool emit_body(const plan_layout *l, sink_fn sink, void *user) {
    for (uint32_t i = 0; i < l->nsections; i++) {
        const planned_section *s = &l->sections[i];
        uint8_t entry[RG_PLAN_SECTION_ENTRY_SIZE];
        rg_ir_store_u32(entry, s->kind);
        rg_ir_store_u32(entry + 4, s->flags);
        rg_ir_store_u64(entry + 8, s->offset);
        rg_ir_store_u64(entry + 16, s->size);
        if (!sink(user, entry, sizeof entry)) return false;
    }
    size_t at = l->table_end;
    for (uint32_t i = 0; i < l->nsections; i++) {
        const planned_section *s = &l->sections[i];
        if (!emit_zeros(sink, user, s->offset - at)) return false;
        bool ok = s->kind == RG_PLAN_SECTION_CONSTANTS ? emit_constants(&l->enc, sink, user)
                                                       : sink(user, s->data, s->size);
        if (!ok) return false;
        at = s->offset + s->size;
    }
    return true;
}

static bool hash_sink(void *user, const void *data, size_t size) {
    rg_ir_hasher_update(user, data, size);
    return true;
}

static void fill_header(plan_layout *l, const char *target, const rg_cg_plan_options *opt) {
    uint8_t *h = l->header;
    memset(h, 0, sizeof l->header);
    memcpy(h + RG_PLAN_OFF_MAGIC, RG_PLAN_MAGIC, RG_PLAN_MAGIC_SIZE);
    rg_ir_store_u32(h + RG_PLAN_OFF_VERSION, RG_PLAN_VERSION);
    rg_ir_store_u32(h + RG_PLAN_OFF_HEADER_SIZE, RG_PLAN_HEADER_SIZE);
    rg_ir_store_u64(h + RG_PLAN_OFF_FILE_SIZE, l->total);
    memcpy(h + RG_PLAN_OFF_TARGET, target, strlen(target));
    rg_ir_store_u32(h + RG_PLAN_OFF_DTYPE, opt ? (uint32_t)opt->dtype : 0);
    rg_ir_store_u32(h + RG_PLAN_OFF_SECTION_COUNT, l->nsections);
    rg_ir_store_u64(h + RG_PLAN_OFF_MODEL_HASH, opt ? opt->model_hash : 0);
    rg_ir_hasher hasher;
    rg_ir_hasher_init(&hasher);
    emit_body(l, hash_sink, &hasher);
    rg_ir_store_u64(h + RG_PLAN_OFF_CHECKSUM, rg_ir_hasher_final(&hasher));
}

/* Encodes the graph and lays the plan out; on success the caller deinits
 * l->enc. */
static rg_status plan_layout_make(const rg_graph *g, const rg_cg_plan_options *opt, const rg_allocator *alloc,
                                  plan_layout *l, rg_error *err) {
    const char *target;
    RG_TRY(check_options(opt, &target, err));
    memset(l, 0, sizeof *l);
    RG_TRY(rg_ir_encode_graph(g, alloc, &l->enc, err));
    const uint32_t required = RG_PLAN_SECTION_FLAG_REQUIRED;
    add_section(l, RG_PLAN_SECTION_STRINGS, required, l->enc.strings.data, l->enc.strings.size);
    add_section(l, RG_PLAN_SECTION_GRAPH, required, l->enc.graph.data, l->enc.graph.size);
    add_section(l, RG_PLAN_SECTION_IO, required, l->enc.io.data, l->enc.io.size);
    if (opt && opt->options_text)
        add_section(l, RG_PLAN_SECTION_OPTIONS, 0, opt->options_text, strlen(opt->options_text));
    rg_status st = RG_OK;
    if (opt && opt->nkernels) {
        /* KERNELS is not REQUIRED: a build without it still runs the plan on the CPU */
        l->kernels.alloc = alloc ? alloc : rg_allocator_default();
        st = rg_ir_encode_kernels(opt->kernels, opt->nkernels, &l->kernels, err);
        if (st == RG_OK) add_section(l, RG_PLAN_SECTION_KERNELS, 0, l->kernels.data, l->kernels.size);
    }
    add_section(l, RG_PLAN_SECTION_CONSTANTS, required, NULL, l->enc.constants_size);
    if (st == RG_OK) st = place_sections(l, err);
    if (st != RG_OK) {
        rg_ir_bytes_free(&l->kernels);
        rg_ir_encoded_graph_deinit(&l->enc);
        return st;
    }
    fill_header(l, target, opt);
    return RG_OK;
}

typedef struct memory_sink {
    uint8_t *at;
} memory_sink;

static bool memory_sink_put(void *user, const void *data, size_t size) {
    memory_sink *m = user;
    if (size) memcpy(m->at, data, size);
    m->at += size;
    return true;
}

rg_status rg_cg_write_plan_memory(const rg_graph *g, const rg_cg_plan_options *opt, const rg_allocator *alloc,
                                  void **data, size_t *size, rg_error *err) {
    if (!g || !data || !size)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_cg_write_plan_memory needs a graph and out pointers");
    if (!alloc) alloc = rg_allocator_default();
    plan_layout l;
    RG_TRY(plan_layout_make(g, opt, alloc, &l, err));
    uint8_t *buf = rg_mem_alloc(alloc, l.total);
    if (!buf) {
        rg_ir_bytes_free(&l.kernels);
        rg_ir_encoded_graph_deinit(&l.enc);
        return rg_error_set(err, RG_ERR_NOMEM, "out of memory for a %zu-byte plan", l.total);
    }
    memcpy(buf, l.header, RG_PLAN_HEADER_SIZE);
    memory_sink m = {buf + RG_PLAN_HEADER_SIZE};
    emit_body(&l, memory_sink_put, &m);
    RG_ASSERT((size_t)(m.at - buf) == l.total);
    rg_ir_bytes_free(&l.kernels);
    rg_ir_encoded_graph_deinit(&l.enc);
    *data = buf;
    *size = l.total;
    return RG_OK;
}

typedef struct file_sink {
    FILE *f;
    int errnum; /* first failure */
} file_sink;

static bool file_sink_put(void *user, const void *data, size_t size) {
    file_sink *fs = user;
    if (size && fwrite(data, 1, size, fs->f) != size) {
        if (!fs->errnum) fs->errnum = errno ? errno : EIO;
        return false;
    }
    return true;
}

/* Names the plan's path, and the temporary file when that is what failed. */
static rg_status write_error(rg_error *err, const char *path, const char *tmp, int errnum) {
    char reason[128];
    if (strerror_r(errnum, reason, sizeof reason) != 0) snprintf(reason, sizeof reason, "error %d", errnum);
    if (tmp) return rg_error_set(err, RG_ERR_IO, "%s: cannot write the plan (via %s): %s", path, tmp, reason);
    return rg_error_set(err, RG_ERR_IO, "%s: cannot write the plan: %s", path, reason);
}

/* Writes the laid-out plan to `tmp` and renames it to `path`. */
static rg_status write_file(const plan_layout *l, const char *tmp, const char *path, rg_error *err) {
    errno = 0;
    file_sink fs = {fopen(tmp, "wb"), 0};
    if (!fs.f) return write_error(err, path, tmp, errno ? errno : EIO);
    bool ok = file_sink_put(&fs, l->header, RG_PLAN_HEADER_SIZE) && emit_body(l, file_sink_put, &fs);
    if (ok && fflush(fs.f) != 0) {
        ok = false;
        fs.errnum = errno ? errno : EIO;
    }
    if (fclose(fs.f) != 0 && ok) {
        ok = false;
        fs.errnum = errno ? errno : EIO;
    }
    if (ok && rename(tmp, path) != 0) {
        int errnum = errno;
        remove(tmp);
        return write_error(err, path, NULL, errnum);
    }
    if (!ok) {
        remove(tmp);
        return write_error(err, path, tmp, fs.errnum ? fs.errnum : EIO);
    }
    return RG_OK;
}

rg_status rg_cg_write_plan(const rg_graph *g, const rg_cg_plan_options *opt, const char *path, rg_error *err) {
    if (!g || !path || !path[0])
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_cg_write_plan needs a graph and a path");
    const rg_allocator *alloc = g->alloc ? g->alloc : rg_allocator_default();
    size_t len = strlen(path), tmp_size;
    if (!rg_size_add(len, sizeof ".tmp", &tmp_size))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "plan path is too long");
    char *tmp = rg_mem_alloc(alloc, tmp_size);
    if (!tmp) return rg_error_set(err, RG_ERR_NOMEM, "out of memory writing %s", path);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", sizeof ".tmp");
    plan_layout l;
    rg_status st = plan_layout_make(g, opt, alloc, &l, err);
    if (st == RG_OK) {
        st = write_file(&l, tmp, path, err);
        rg_ir_bytes_free(&l.kernels);
        rg_ir_encoded_graph_deinit(&l.enc);
    }
    rg_mem_free(alloc, tmp, tmp_size);
    return st;
}
