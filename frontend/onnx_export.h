/*
 * onnx_export.h — writing a graph back out as an ONNX model, so that any
 * stage of the pipeline (imported, optimised, fused) can be opened in Netron
 * or checked with the onnx package.
 *
 * ONNX ops keep their domain and attributes; ragged's own ops (LayerNorm,
 * Linear, Attention, Fused) go out as nodes of the custom domain
 * "ai.ragged" (version 1) with their attributes as stored (a Fused node's
 * program is its INTS/FLOATS attributes). Constants become initializers,
 * symbolic dims become dim_params ("batch*seq"), unknown dims stay unset,
 * and values the passes left nameless get "_ragged_v<id>" names.
 *
 * Contract: on failure nothing is left allocated, *out untouched, and no
 * partial file remains.
 */
#ifndef RG_FRONTEND_ONNX_EXPORT_H
#define RG_FRONTEND_ONNX_EXPORT_H

#include <stddef.h>

#include "ir/graph.h"

/* Serializes g as a ModelProto; *out comes from `alloc` (NULL: default)
 * with *size bytes (at least one allocated); free with
 * rg_mem_free(alloc, *out, max(*size, 1)). */
rg_status rg_onnx_export_buffer(const rg_graph *g, const rg_allocator *alloc, void **out, size_t *size,
                                rg_error *err);

/* Writes g as an ONNX model file at path. */
rg_status rg_onnx_export_file(const rg_graph *g, const char *path, rg_error *err);

#endif
