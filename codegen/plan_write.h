/*
 * plan_write.h — writing a compiled graph as a plan file (format version 1,
 * docs/plan-format.md).
 *
 * The graph sections come from ir/serialize.h; this adds the header (target,
 * dtype, source model hash, checksum), the section table and the OPTIONS
 * section, and writes the result atomically (to `path`.tmp, then renamed) or
 * into memory.
 */
#ifndef RG_CODEGEN_PLAN_WRITE_H
#define RG_CODEGEN_PLAN_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"
#include "ir/serialize.h"
#include "ragged.h"

typedef struct rg_cg_plan_options {
    const char *target;       /* "cpu" (NULL: "cpu"), "sm_90"...; at most 16 printable characters */
    rg_dtype dtype;           /* the compile dtype; RG_DTYPE_UNDEFINED: the model's own */
    uint64_t model_hash;      /* rg_ir_hash_bytes() of the source .onnx bytes, or 0 */
    const char *options_text; /* compile options as text, stored verbatim; NULL: no OPTIONS section */
    const rg_ir_kernel *kernels; /* compiled CUDA modules (KERNELS section); none: no section */
    size_t nkernels;
} rg_cg_plan_options;

/* Writes `g` as a plan to `path` (via `path`.tmp and rename, so a reader never
 * sees half a plan). Nodes must be in execution order. IO failures are
 * RG_ERR_IO naming the path; nothing is left behind on failure. `opt` may be
 * NULL for defaults. */
rg_status rg_cg_write_plan(const rg_graph *g, const rg_cg_plan_options *opt, const char *path, rg_error *err);

/* Same, into one buffer from `alloc` (NULL: the default); the caller frees it
 * with rg_mem_free(alloc, *data, *size). On failure *data and *size are
 * untouched. */
rg_status rg_cg_write_plan_memory(const rg_graph *g, const rg_cg_plan_options *opt, const rg_allocator *alloc,
                                  void **data, size_t *size, rg_error *err);

/* The plan checksum hash (rg_ir_hash_bytes), for hashing the source model. */
uint64_t rg_cg_hash_bytes(const void *data, size_t size);

#endif
