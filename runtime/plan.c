/*
 * plan.c — loading a plan file: header, section table, then the graph
 * sections through ir/serialize.c.
 *
 * The file is untrusted (docs/plan-format.md lists every check). The header
 * and table are checked here, in the order that gives the most useful message
 * first: magic, version, sizes, checksum, then the fields and the sections.
 * Files are mapped read-only and constant payloads point into the mapping,
 * which the graph unmaps when it is freed; plans in memory are copied.
 */
#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir/serialize.h"

typedef struct section_entry {
    uint32_t kind, flags;
    uint64_t offset, size;
} section_entry;

/* The sections this build knows, found in the table. */
typedef struct known_sections {
    const section_entry *strings, *graph, *io, *constants, *options, *kernels;
} known_sections;

static rg_status corrupt(rg_error *err, const char *label, const char *what) {
    return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: %s", label, what);
}

static rg_status check_header(const uint8_t *data, size_t size, const char *label, rg_error *err) {
    if (size < RG_PLAN_MAGIC_SIZE || memcmp(data, RG_PLAN_MAGIC, RG_PLAN_MAGIC_SIZE) != 0)
        return corrupt(err, label, "not a ragged plan (it does not start with \"" RG_PLAN_MAGIC "\")");
    if (size < RG_PLAN_HEADER_SIZE)
        return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: truncated: %zu bytes, less than the %u-byte header",
                            label, size, RG_PLAN_HEADER_SIZE);
    uint32_t version = rg_ir_load_u32(data + RG_PLAN_OFF_VERSION);
    if (version > RG_PLAN_VERSION)
        return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: plan version %u is newer than this build supports (%u)",
                            label, version, RG_PLAN_VERSION);
    if (version == 0) return corrupt(err, label, "plan version 0 is not a valid version");
    uint32_t header_size = rg_ir_load_u32(data + RG_PLAN_OFF_HEADER_SIZE);
    if (header_size < RG_PLAN_HEADER_SIZE || header_size % RG_PLAN_SECTION_ALIGN || header_size > size)
        return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: header size %u is not a multiple of %u in %u..%zu", label,
                            header_size, RG_PLAN_SECTION_ALIGN, RG_PLAN_HEADER_SIZE, size);
    uint64_t file_size = rg_ir_load_u64(data + RG_PLAN_OFF_FILE_SIZE);
    if (file_size > size)
        return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: truncated: the header says %llu bytes, there are %zu",
                            label, (unsigned long long)file_size, size);
    if (file_size < size)
        return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: %zu bytes, but the header says %llu (trailing data)",
                            label, size, (unsigned long long)file_size);
    uint64_t checksum = rg_ir_load_u64(data + RG_PLAN_OFF_CHECKSUM);
    if (rg_ir_hash_bytes(data + header_size, size - header_size) != checksum)
        return corrupt(err, label, "checksum mismatch: the plan is corrupt");
    return RG_OK;
}

/* The target is a printable name, NUL-padded to 16 bytes. */
static rg_status read_target(const uint8_t *field, char *out, const char *label, rg_error *err) {
    size_t len = 0;
    while (len < RG_PLAN_TARGET_SIZE && field[len]) len++;
    bool ok = len > 0;
    for (size_t i = 0; i < len; i++) ok = ok && field[i] > 0x20 && field[i] < 0x7f;
    for (size_t i = len; i < RG_PLAN_TARGET_SIZE; i++) ok = ok && field[i] == 0;
    if (!ok) return corrupt(err, label, "the target field is not a NUL-padded name");
    memcpy(out, field, len);
    out[len] = '\0';
    return RG_OK;
}

static int compare_offsets(const void *a, const void *b) {
    const section_entry *x = *(const section_entry *const *)a, *y = *(const section_entry *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sections may not overlap: sort by offset and compare neighbours. */
static rg_status check_overlap(section_entry *table, uint32_t count, const rg_allocator *alloc, const char *label,
                               rg_error *err) {
    if (count < 2) return RG_OK;
    const section_entry **order = rg_mem_calloc(alloc, count, sizeof *order);
    if (!order) return rg_error_set(err, RG_ERR_NOMEM, "%s: out of memory checking the section table", label);
    for (uint32_t i = 0; i < count; i++) order[i] = &table[i];
    qsort(order, count, sizeof *order, compare_offsets);
    rg_status st = RG_OK;
    for (uint32_t i = 1; i < count && st == RG_OK; i++)
        if (order[i - 1]->offset + order[i - 1]->size > order[i]->offset)
            st = rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: sections of kinds %u and %u overlap", label,
                              order[i - 1]->kind, order[i]->kind);
    rg_mem_free(alloc, order, sizeof *order * count);
    return st;
}

static rg_status file_section(const section_entry *e, const section_entry **slot, const char *label,
                              rg_error *err) {
    if (*slot) return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: section kind %u appears twice", label, e->kind);
    *slot = e;
    return RG_OK;
}

static rg_status sort_sections(const section_entry *e, known_sections *known, const char *label, rg_error *err) {
    if (e->flags & ~RG_PLAN_SECTION_FLAG_REQUIRED)
        return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: section kind %u has unknown flags 0x%x", label, e->kind,
                            e->flags);
    switch (e->kind) {
    case RG_PLAN_SECTION_STRINGS: return file_section(e, &known->strings, label, err);
    case RG_PLAN_SECTION_GRAPH: return file_section(e, &known->graph, label, err);
    case RG_PLAN_SECTION_IO: return file_section(e, &known->io, label, err);
    case RG_PLAN_SECTION_CONSTANTS: return file_section(e, &known->constants, label, err);
    case RG_PLAN_SECTION_OPTIONS: return file_section(e, &known->options, label, err);
    case RG_PLAN_SECTION_KERNELS: return file_section(e, &known->kernels, label, err);
    default:
        if (e->flags & RG_PLAN_SECTION_FLAG_REQUIRED)
            return rg_error_set(err, RG_ERR_CORRUPT_PLAN,
                                "%s: the plan needs section kind %u, which this build does not know", label, e->kind);
        return RG_OK; /* a later kind this build may skip */
    }
}

/* Reads the section table (after the header) into `table`, checking that
 * every section lies inside the file, after the table, aligned. */
static rg_status read_table(const uint8_t *data, size_t size, uint32_t header_size, uint32_t count,
                            section_entry *table, const char *label, rg_error *err) {
    size_t table_end = header_size + (size_t)count * RG_PLAN_SECTION_ENTRY_SIZE; /* count checked by caller */
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *raw = data + header_size + (size_t)i * RG_PLAN_SECTION_ENTRY_SIZE;
        section_entry *e = &table[i];
        e->kind = rg_ir_load_u32(raw);
        e->flags = rg_ir_load_u32(raw + 4);
        e->offset = rg_ir_load_u64(raw + 8);
        e->size = rg_ir_load_u64(raw + 16);
        if (e->offset < table_end || e->offset > size || e->size > size - e->offset)
            return rg_error_set(err, RG_ERR_CORRUPT_PLAN,
                                "%s: section %u (kind %u) at offset %llu, %llu bytes, lies outside %zu..%zu", label, i,
                                e->kind, (unsigned long long)e->offset, (unsigned long long)e->size, table_end, size);
        if (e->offset % RG_PLAN_SECTION_ALIGN)
            return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: section %u (kind %u) at offset %llu is not %u-aligned",
                                label, i, e->kind, (unsigned long long)e->offset, RG_PLAN_SECTION_ALIGN);
    }
    return RG_OK;
}

static rg_status find_sections(const uint8_t *data, size_t size, const rg_allocator *alloc, const char *label,
                               section_entry **table_out, uint32_t *count_out, known_sections *known, rg_error *err) {
    uint32_t header_size = rg_ir_load_u32(data + RG_PLAN_OFF_HEADER_SIZE);
    uint32_t count = rg_ir_load_u32(data + RG_PLAN_OFF_SECTION_COUNT);
    if (count > (size - header_size) / RG_PLAN_SECTION_ENTRY_SIZE)
        return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: a table of %u sections does not fit in the file", label,
                            count);
    section_entry *table = rg_mem_calloc(alloc, count ? count : 1, sizeof *table);
    if (!table) return rg_error_set(err, RG_ERR_NOMEM, "%s: out of memory reading the section table", label);
    rg_status st = read_table(data, size, header_size, count, table, label, err);
    if (st == RG_OK) st = check_overlap(table, count, alloc, label, err);
    for (uint32_t i = 0; i < count && st == RG_OK; i++) st = sort_sections(&table[i], known, label, err);
    if (st == RG_OK) {
        const char *missing = !known->strings ? "STRINGS"
                              : !known->graph ? "GRAPH"
                              : !known->io    ? "IO"
                              : !known->constants ? "CONSTANTS"
                                                  : NULL;
        if (missing)
            st = rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: the required %s section is missing", label, missing);
        else if (known->constants->offset % RG_PLAN_CONSTANT_ALIGN)
            st = rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: the CONSTANTS section is not %u-aligned", label,
                              RG_PLAN_CONSTANT_ALIGN);
    }
    if (st != RG_OK) {
        rg_mem_free(alloc, table, sizeof *table * (count ? count : 1));
        return st;
    }
    *table_out = table;
    *count_out = count;
    return RG_OK;
}

/* Everything after the header checks: sections, graph, plan struct. The table
 * is scratch memory; the graph owns everything that is kept. */
static rg_status build_plan(const uint8_t *data, size_t size, const rg_allocator *alloc, const char *label,
                            bool borrow, const known_sections *known, rg_plan **out, rg_error *err) {
    rg_ir_graph_sections s = {
        .strings = data + known->strings->offset,
        .strings_size = (size_t)known->strings->size,
        .graph = data + known->graph->offset,
        .graph_size = (size_t)known->graph->size,
        .io = data + known->io->offset,
        .io_size = (size_t)known->io->size,
        .constants = data + known->constants->offset,
        .constants_size = (size_t)known->constants->size,
        .borrow_constants = borrow,
    };
    char target[RG_PLAN_TARGET_SIZE + 1];
    RG_TRY(read_target(data + RG_PLAN_OFF_TARGET, target, label, err));
    uint32_t dtype = rg_ir_load_u32(data + RG_PLAN_OFF_DTYPE);
    if (dtype >= RG_DTYPE_COUNT)
        return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: the header names dtype %u", label, dtype);
    rg_graph *g;
    RG_TRY(rg_ir_decode_graph(&s, alloc, label, &g, err));
    rg_plan *plan = rg_arena_alloc(&g->arena, sizeof *plan);
    const char *options = known->options ? rg_arena_strndup(&g->arena, (const char *)data + known->options->offset,
                                                            (size_t)known->options->size)
                                         : "";
    if (!plan || !options) {
        rg_graph_free(g);
        return rg_error_set(err, RG_ERR_NOMEM, "%s: out of memory while loading the plan", label);
    }
    if (known->kernels) {
        rg_ir_kernel *kernels = NULL;
        size_t nkernels = 0;
        rg_status st = rg_ir_decode_kernels(data + known->kernels->offset, (size_t)known->kernels->size, g->nnodes,
                                            &g->arena, label, &kernels, &nkernels, err);
        if (st != RG_OK) {
            rg_graph_free(g);
            return st;
        }
        plan->kernels = kernels;
        plan->nkernels = nkernels;
    } else {
        plan->kernels = NULL;
        plan->nkernels = 0;
    }
    plan->graph = g;
    memcpy(plan->target, target, sizeof target);
    plan->dtype = (rg_dtype)dtype;
    plan->model_hash = rg_ir_load_u64(data + RG_PLAN_OFF_MODEL_HASH);
    plan->options_text = options;
    plan->version = rg_ir_load_u32(data + RG_PLAN_OFF_VERSION);
    plan->file_size = size;
    plan->mapped = borrow;
    *out = plan;
    return RG_OK;
}

static rg_status load(const uint8_t *data, size_t size, const rg_allocator *alloc, const char *label, bool borrow,
                      rg_plan **out, rg_error *err) {
    if (!alloc) alloc = rg_allocator_default();
    RG_TRY(check_header(data, size, label, err));
    section_entry *table;
    uint32_t count;
    known_sections known = {0};
    RG_TRY(find_sections(data, size, alloc, label, &table, &count, &known, err));
    rg_status st = build_plan(data, size, alloc, label, borrow, &known, out, err);
    rg_mem_free(alloc, table, sizeof *table * (count ? count : 1));
    return st;
}

rg_status rg_rt_plan_load_memory(const void *data, size_t size, const rg_allocator *alloc, rg_plan **out,
                                 rg_error *err) {
    if ((!data && size) || !out)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_rt_plan_load_memory needs data and an out pointer");
    static const uint8_t nothing[1];
    return load(data ? data : nothing, size, alloc, "plan in memory", false, out, err);
}

static rg_status io_error(rg_error *err, const char *path, const char *what, int errnum) {
    char reason[128];
    if (strerror_r(errnum, reason, sizeof reason) != 0) snprintf(reason, sizeof reason, "error %d", errnum);
    return rg_error_set(err, RG_ERR_IO, "%s: cannot %s: %s", path, what, reason);
}

rg_status rg_plan_load(const char *path, rg_plan **out, rg_error *err) {
    if (!path || !out) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_plan_load needs a path and an out pointer");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_error(err, path, "open the plan", errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int errnum = errno;
        close(fd);
        return io_error(err, path, "read the plan", errnum);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return rg_error_set(err, RG_ERR_IO, "%s: cannot read the plan: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return rg_error_set(err, RG_ERR_CORRUPT_PLAN, "%s: not a ragged plan (the file is empty)", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return rg_error_set(err, RG_ERR_IO, "%s: cannot map the plan: too large for this machine", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int errnum = errno;
    close(fd);
    if (map == MAP_FAILED) return io_error(err, path, "map the plan", errnum);
    rg_plan *plan;
    rg_status status = load(map, size, NULL, path, true, &plan, err);
    if (status != RG_OK) {
        munmap(map, size);
        return status;
    }
    status = rg_graph_add_mapping(plan->graph, map, size, err); /* unmaps itself on failure */
    if (status != RG_OK) {
        rg_graph_free(plan->graph);
        return rg_error_prefix(err, status, "%s", path);
    }
    *out = plan;
    return RG_OK;
}

void rg_plan_free(rg_plan *plan) {
    if (plan) rg_graph_free(plan->graph);
}

static bool option_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool rg_rt_plan_option(const char *text, const char *key, const char **value, size_t *length) {
    if (!text || !key || !key[0]) return false;
    size_t key_length = strlen(key);
    for (size_t i = 0; i < key_length; i++)
        if (key[i] == '=' || option_space(key[i])) return false; /* no token has such a key */
    const char *found = NULL;
    size_t found_length = 0;
    const char *p = text;
    while (*p) {
        while (option_space(*p)) p++;
        const char *token = p;
        while (*p && !option_space(*p)) p++;
        size_t token_length = (size_t)(p - token);
        /* "key=value": the key must be the whole part before the first '=' */
        if (token_length > key_length && token[key_length] == '=' && !memcmp(token, key, key_length)) {
            found = token + key_length + 1;
            found_length = token_length - key_length - 1;
        }
    }
    if (!found) return false;
    *value = found;
    *length = found_length;
    return true;
}
