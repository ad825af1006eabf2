/*
 * onnx.h — the ONNX importer: a serialized ModelProto becomes an IR graph.
 *
 * The importer checks what a model declares against what ragged supports (the
 * ai.onnx opset range, the op table, element types) and reports the first
 * mismatch by name. It builds values for graph inputs, initializers, Constant
 * nodes and node outputs, converts attributes, sorts the nodes and checks that
 * every input and output exists. It does not infer shapes; the caller runs
 * rg_infer_shapes() on the result.
 *
 * Constant payloads (raw_data, typed fields and external data alike) are
 * copied into the graph's arena, 64-byte aligned, so the graph never depends
 * on the model buffer or on any file after import. External data files are
 * read with pread; none stays open or mapped.
 *
 * Contract of every function here: on failure *out is untouched, nothing is
 * left allocated, and `err` (may be NULL) holds a one-line message naming the
 * file, node, value or tensor at fault.
 */
#ifndef RG_FRONTEND_ONNX_H
#define RG_FRONTEND_ONNX_H

#include <stddef.h>

#include "ir/graph.h"

/* Imports the model at `path`. External data is looked up in the model's
 * folder. `alloc` may be NULL for the default allocator. */
rg_status rg_onnx_import_file(const char *path, const rg_allocator *alloc, rg_graph **out, rg_error *err);

/* Imports a model held in memory. `base_dir` is the folder external data
 * locations are relative to; NULL refuses models with external data. */
rg_status rg_onnx_import_buffer(const void *data, size_t size, const char *base_dir,
                                const rg_allocator *alloc, rg_graph **out, rg_error *err);

/* Reads a serialized TensorProto file (as in the ONNX backend node tests'
 * test_data_set_N/input_K.pb). out->data comes from `alloc` (NULL: default)
 * and has max(nbytes, 1) bytes; the caller frees it with
 * rg_mem_free(alloc, out->data, max(out->nbytes, 1)). */
rg_status rg_onnx_read_tensor_file(const char *path, const rg_allocator *alloc, rg_tensor *out, rg_error *err);

#endif
