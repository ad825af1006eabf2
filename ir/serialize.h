/*
 * serialize.h — the plan file's graph sections, written and read in one place.
 *
 * A plan (docs/plan-format.md) is a header, a section table and sections. The
 * header and table belong to the writer (codegen/plan_write.c) and the loader
 * (runtime/plan.c); the sections that describe the graph (STRINGS, GRAPH, IO,
 * CONSTANTS) are encoded and decoded here, so both sides share one definition
 * and neither reaches into the other's folder. The checksum hash lives here
 * for the same reason.
 *
 * The decoder treats its bytes as untrusted: every count, index, size and
 * offset is checked before use, and a bad section is RG_ERR_CORRUPT_PLAN with
 * a one-line message naming the file (the `label`) and what is wrong.
 */
#ifndef RG_IR_SERIALIZE_H
#define RG_IR_SERIALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "graph.h"
#include "ragged.h"

/* ---- format constants (docs/plan-format.md) ---- */

#define RG_PLAN_MAGIC "RAGGEDPL"
#define RG_PLAN_MAGIC_SIZE 8
#define RG_PLAN_VERSION 1u
#define RG_PLAN_HEADER_SIZE 64u        /* version 1's fixed header */
#define RG_PLAN_SECTION_ENTRY_SIZE 24u /* u32 kind, u32 flags, u64 offset, u64 size */
#define RG_PLAN_TARGET_SIZE 16u        /* NUL-padded target name ("cpu", "sm_90") */
#define RG_PLAN_SECTION_ALIGN 8u       /* every section starts on a multiple of this */
#define RG_PLAN_CONSTANT_ALIGN 256u    /* CONSTANTS and each payload in it */
#define RG_PLAN_NO_INDEX UINT32_MAX    /* an omitted node input/output */

/* Header byte offsets. */
enum {
    RG_PLAN_OFF_MAGIC = 0,
    RG_PLAN_OFF_VERSION = 8,
    RG_PLAN_OFF_HEADER_SIZE = 12,
    RG_PLAN_OFF_FILE_SIZE = 16,
    RG_PLAN_OFF_CHECKSUM = 24,
    RG_PLAN_OFF_TARGET = 32,
    RG_PLAN_OFF_DTYPE = 48,
    RG_PLAN_OFF_SECTION_COUNT = 52,
    RG_PLAN_OFF_MODEL_HASH = 56,
};

/* Section kinds. Numbers are part of the format: never renumber, only add. */
typedef enum rg_plan_section_kind {
    RG_PLAN_SECTION_STRINGS = 1,
    RG_PLAN_SECTION_GRAPH = 2,
    RG_PLAN_SECTION_IO = 3,
    RG_PLAN_SECTION_CONSTANTS = 4,
    RG_PLAN_SECTION_OPTIONS = 5,
    RG_PLAN_SECTION_KERNELS = 6,   /* generated kernels: CUDA source and cubin (serialize_kernels.c) */
    RG_PLAN_SECTION_LIFETIMES = 7, /* reserved: memory plan */
} rg_plan_section_kind;

/* Section flag: a loader that does not know this kind must refuse the plan
 * instead of skipping the section. */
#define RG_PLAN_SECTION_FLAG_REQUIRED 1u

/* ---- little-endian access (the format is little-endian on every host) ---- */

uint32_t rg_ir_load_u32(const void *p);
uint64_t rg_ir_load_u64(const void *p);
void rg_ir_store_u32(void *p, uint32_t v);
void rg_ir_store_u64(void *p, uint64_t v);

/* ---- checksum ---- */

/* The plan checksum: four FNV-1a lanes over little-endian 64-bit words (so it
 * runs at several GB/s), the tail bytes folded into lane 0, then the lanes and
 * the length mixed into one word. Streaming and one-shot give the same value. */
typedef struct rg_ir_hasher {
    uint64_t lane[4];
    uint64_t total;
    uint8_t pending[32];
    size_t npending;
} rg_ir_hasher;

void rg_ir_hasher_init(rg_ir_hasher *h);
void rg_ir_hasher_update(rg_ir_hasher *h, const void *data, size_t size);
uint64_t rg_ir_hasher_final(const rg_ir_hasher *h);
uint64_t rg_ir_hash_bytes(const void *data, size_t size);

/* ---- encoding (writer side) ---- */

/* A growable byte buffer from an allocator. */
typedef struct rg_ir_bytes {
    const rg_allocator *alloc;
    uint8_t *data;
    size_t size, cap;
} rg_ir_bytes;

/* One payload of the CONSTANTS section: `size` bytes from `data` at `offset`
 * (a multiple of RG_PLAN_CONSTANT_ALIGN) from the section's start. */
typedef struct rg_ir_constant_ref {
    const void *data;
    size_t size;
    size_t offset;
} rg_ir_constant_ref;

/* A graph encoded as the four graph sections. CONSTANTS is not copied: it is
 * the list of payloads and their offsets; the bytes between them are zero. */
typedef struct rg_ir_encoded_graph {
    const rg_allocator *alloc;
    rg_ir_bytes strings, graph, io;
    rg_ir_constant_ref *constants;
    size_t nconstants;
    size_t constants_size;
    size_t constants_cap_; /* private: allocated length of `constants` */
} rg_ir_encoded_graph;

/* Encodes `g`. Nodes must be in execution order (every node input a graph
 * input, a constant or an output of an earlier node): a plan is loaded in file
 * order. Constant payloads shared by several values or attributes are stored
 * once. On failure *out is untouched. `alloc` NULL means the default. */
rg_status rg_ir_encode_graph(const rg_graph *g, const rg_allocator *alloc, rg_ir_encoded_graph *out,
                             rg_error *err);
void rg_ir_encoded_graph_deinit(rg_ir_encoded_graph *e);

/* ---- decoding (loader side) ---- */

typedef struct rg_ir_graph_sections {
    const uint8_t *strings;
    size_t strings_size;
    const uint8_t *graph;
    size_t graph_size;
    const uint8_t *io;
    size_t io_size;
    const uint8_t *constants; /* must be RG_PLAN_CONSTANT_ALIGN-aligned when borrowed */
    size_t constants_size;
    /* true: constant payloads point into `constants`, which must outlive the
     * graph (a read-only file mapping registered with the graph); false: the
     * section is copied into the graph's arena as one aligned block. */
    bool borrow_constants;
} rg_ir_graph_sections;

/* Builds a graph from the sections. `label` (the file name) starts every error
 * message. Bad bytes are RG_ERR_CORRUPT_PLAN; on failure *out is untouched and
 * nothing is left allocated. */
rg_status rg_ir_decode_graph(const rg_ir_graph_sections *s, const rg_allocator *alloc, const char *label,
                             rg_graph **out, rg_error *err);

/* ---- KERNELS section (serialize_kernels.c; docs/plan-format.md) ---- */

/* One compiled CUDA module: its name (the kernels' common prefix), what made
 * it ("fused", "attention", "elementwise"), the arch its cubin is for, the
 * graph nodes (indices in execution order) it serves, its CUDA source and
 * its cubin. Decoded strings are NUL-terminated; the cubin is 16-byte
 * aligned. */
typedef struct rg_ir_kernel {
    const char *name;
    const char *kind;
    const char *arch;
    const uint32_t *nodes;
    uint32_t nnodes;
    const char *source;
    size_t source_size;
    const void *cubin;
    size_t cubin_size;
} rg_ir_kernel;

/* Appends the KERNELS section for `n` modules to `out` (an empty buffer
 * whose alloc is set). RG_ERR_NOMEM on failure. */
rg_status rg_ir_encode_kernels(const rg_ir_kernel *kernels, size_t n, rg_ir_bytes *out, rg_error *err);
/* Frees an rg_ir_bytes buffer (the encoder's). */
void rg_ir_bytes_free(rg_ir_bytes *b);

/* Decodes a KERNELS section into the arena (everything copied). Node
 * indices must be < nnodes. `label` names the file in errors; bad bytes are
 * RG_ERR_CORRUPT_PLAN. */
rg_status rg_ir_decode_kernels(const uint8_t *data, size_t size, uint32_t nnodes, rg_arena *arena,
                               const char *label, rg_ir_kernel **out, size_t *count, rg_error *err);

#endif
