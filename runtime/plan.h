/*
 * plan.h — a loaded plan: the graph from the plan file and the header facts
 * around it. Defines the opaque rg_plan of include/ragged.h for the runtime.
 *
 * A plan is immutable once loaded and may be shared by many sessions. It lives
 * entirely in its graph's arena (the struct included), so rg_plan_free() is
 * rg_graph_free(); a plan loaded from a file maps the file read-only and its
 * constant payloads point into that mapping, which is unmapped with the graph.
 * The file format and the loader's checks are in docs/plan-format.md.
 */
#ifndef RG_RUNTIME_PLAN_H
#define RG_RUNTIME_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"
#include "ir/serialize.h"
#include "ragged.h"

struct rg_plan {
    rg_graph *graph;          /* owns the plan: the struct lives in its arena */
    char target[17];          /* "cpu", "sm_90", ... NUL-terminated */
    rg_dtype dtype;           /* compile dtype; RG_DTYPE_UNDEFINED: the model's own */
    uint64_t model_hash;      /* hash of the source .onnx bytes */
    const char *options_text; /* compile options as text; "" when absent */
    uint32_t version;         /* format version of the file */
    size_t file_size;
    bool mapped;              /* constants point into a read-only file mapping */
    const rg_ir_kernel *kernels; /* the KERNELS section (in the graph's arena); none for CPU plans */
    size_t nkernels;
};

/* Loads a plan from `size` bytes at `data` (untrusted, any alignment). The
 * bytes are copied where needed: `data` may be freed once this returns.
 * Memory comes from `alloc` (NULL: the default). Errors: RG_ERR_CORRUPT_PLAN
 * for a bad plan, RG_ERR_NOMEM; on failure *out is untouched and nothing is
 * left allocated. Free with rg_plan_free(). */
rg_status rg_rt_plan_load_memory(const void *data, size_t size, const rg_allocator *alloc, rg_plan **out,
                                 rg_error *err);

/* The value of option `key` in a plan's options text: whitespace-separated
 * key=value tokens, as `ragged compile` writes them ("target=sm_90
 * dtype=fp16 optimize=2 tf32=1"). Only a token whose key is exactly `key`
 * matches ("xtf32=1" is not tf32); tokens without '=' are skipped; when a
 * key appears twice the last one counts. On a match returns true with
 * *value pointing into `text` at the value (not NUL-terminated: it ends at
 * the next whitespace) and *length its length (0 for "key="); otherwise
 * returns false and leaves both untouched. `text` NULL finds nothing. */
bool rg_rt_plan_option(const char *text, const char *key, const char **value, size_t *length);

#endif
