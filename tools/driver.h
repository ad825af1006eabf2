/*
 * driver.h — the compile pipeline behind rg_compile_file() and
 * `ragged compile`: import, shape inference, verification, plan writing.
 * The command needs numbers for its summary line that the public function
 * does not return, so the pipeline reports them here.
 */
#ifndef RG_TOOLS_DRIVER_H
#define RG_TOOLS_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "ragged.h"

typedef struct rg_compile_stats {
    size_t nodes_imported; /* nodes after import, before the passes */
    size_t nodes;          /* nodes in the written graph */
    size_t values;         /* values in the written graph */
    uint64_t constant_bytes; /* payload bytes of constant values */
    uint64_t plan_bytes;   /* size of the written plan file */
    double seconds;        /* wall time of the whole pipeline */
    size_t kernel_modules; /* CUDA modules compiled (0 for the CPU target) */
    double nvrtc_seconds;  /* of `seconds`, the time spent in NVRTC */
} rg_compile_stats;

/* rg_compile_file() with statistics; `stats` may be NULL and is written only
 * on success. */
rg_status rg_driver_compile(const char *onnx_path, const char *plan_path, const rg_compile_options *options,
                            rg_compile_stats *stats, rg_error *err);

#endif
