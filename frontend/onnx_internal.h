/*
 * onnx_internal.h — what the frontend's files share: the protobuf-c glue
 * (an allocator that forwards to rg_allocator), TensorProto decoding and
 * attribute conversion. Only frontend/ includes this header, because only
 * frontend/ may see the generated onnx.pb-c.h.
 */
#ifndef RG_FRONTEND_ONNX_INTERNAL_H
#define RG_FRONTEND_ONNX_INTERNAL_H

#include <stdint.h>

#include "frontend/onnx.h"
#include "onnx.pb-c.h"

/* protobuf-c frees without a size, rg_allocator wants one: each block carries
 * its size in a 16-byte header (16 keeps the payload's alignment). */
typedef struct rg_onnx_pb_allocator {
    ProtobufCAllocator pb;
    const rg_allocator *alloc;
} rg_onnx_pb_allocator;

void rg_onnx_pb_allocator_init(rg_onnx_pb_allocator *a, const rg_allocator *alloc);

/* The text of a protobuf string field, "" when unset. */
static inline const char *rg_onnx_str(const char *s) { return s ? s : ""; }

/* Maps a whole file read-only. An empty file gives *data == NULL, *size == 0.
 * Release with rg_onnx_unmap_file. */
rg_status rg_onnx_map_file(const char *path, const void **data, size_t *size, rg_error *err);
void rg_onnx_unmap_file(const void *data, size_t size);

/* The folder part of `path` ("." when it has none) into buf. */
rg_status rg_onnx_dirname(const char *path, char *buf, size_t cap, rg_error *err);

/* A TensorProto checked and ready to copy: its dtype, shape and byte size,
 * and for external data the opened file and the offset to read from. */
typedef struct rg_onnx_tensor_src {
    rg_tensor shape; /* data is NULL */
    int fd;          /* external data file, -1 otherwise */
    uint64_t offset;
} rg_onnx_tensor_src;

/* Checks t: a supported dtype, dims that are non-negative and whose product
 * fits, and a payload (raw_data, typed field or external file range) of
 * exactly the right size. `base_dir` NULL refuses external data. Opens the
 * external file when there is one; rg_onnx_tensor_close releases it. */
rg_status rg_onnx_tensor_open(const Onnx__TensorProto *t, const char *base_dir, rg_onnx_tensor_src *src,
                              rg_error *err);
/* Copies the payload into dst (src->shape.nbytes bytes). */
rg_status rg_onnx_tensor_read(const Onnx__TensorProto *t, const rg_onnx_tensor_src *src, void *dst,
                              rg_error *err);
void rg_onnx_tensor_close(rg_onnx_tensor_src *src);

/* Open, allocate in the graph's arena, read, close. */
rg_status rg_onnx_tensor_to_graph(rg_graph *g, const Onnx__TensorProto *t, const char *base_dir,
                                  rg_tensor **out, rg_error *err);

/* Converts one attribute into *out; strings, lists and tensors are copied
 * into the graph's arena. */
rg_status rg_onnx_convert_attr(rg_graph *g, const Onnx__AttributeProto *a, const char *base_dir, rg_attr *out,
                               rg_error *err);

#endif
