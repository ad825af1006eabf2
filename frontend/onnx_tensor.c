/*
 * onnx_tensor.c — TensorProto → rg_tensor.
 *
 * A TensorProto holds its payload in one of three places: raw_data
 * (little-endian bytes), a typed repeated field (float_data, int32_data,
 * int64_data; int32_data also carries float16/bfloat16 bits and the 8-bit
 * and bool types), or an external file named by `location`. Every form is
 * checked against the product of the dims before anything is allocated, so a
 * lying header cannot make us allocate or read more than the data it brings.
 *
 * External data is read (pread) into memory the caller provides rather than
 * mapped: payloads then share the arena's alignment and lifetime, and the
 * graph holds no file open. The file must lie inside the model's folder:
 * absolute locations are refused and the resolved path (realpath, so `..` and
 * symlinks are followed) must stay under the resolved folder.
 */
/* realpath() is an XSI function */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "raw_data is little-endian; ragged assumes a little-endian host"
#endif

enum { PB_HEADER = 16 };

static void *pb_alloc(void *user, size_t size) {
    const rg_onnx_pb_allocator *a = user;
    size_t total;
    if (!rg_size_add(size, PB_HEADER, &total)) return NULL;
    unsigned char *p = rg_mem_alloc(a->alloc, total);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    return p + PB_HEADER;
}

static void pb_free(void *user, void *ptr) {
    const rg_onnx_pb_allocator *a = user;
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - PB_HEADER;
    size_t size;
    memcpy(&size, p, sizeof size);
    rg_mem_free(a->alloc, p, size + PB_HEADER);
}

void rg_onnx_pb_allocator_init(rg_onnx_pb_allocator *a, const rg_allocator *alloc) {
    a->alloc = alloc ? alloc : rg_allocator_default();
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
}

rg_status rg_onnx_map_file(const char *path, const void **data, size_t *size, rg_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rg_error_set(err, RG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    rg_status status = RG_OK;
    if (fstat(fd, &st) != 0) {
        status = rg_error_set(err, RG_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        status = rg_error_set(err, RG_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        status = rg_error_set(err, RG_ERR_IO, "%s: file too large", path);
        goto done;
    }
    if (st.st_size == 0) {
        *data = NULL;
        *size = 0;
        goto done;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        status = rg_error_set(err, RG_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        goto done;
    }
    *data = map;
    *size = (size_t)st.st_size;
done:
    close(fd);
    return status;
}

void rg_onnx_unmap_file(const void *data, size_t size) {
    if (data) munmap((void *)(uintptr_t)data, size);
}

rg_status rg_onnx_dirname(const char *path, char *buf, size_t cap, rg_error *err) {
    size_t len = strlen(path);
    if (len + 1 > cap) return rg_error_set(err, RG_ERR_IO, "%s: path too long", path);
    memcpy(buf, path, len + 1);
    char *slash = strrchr(buf, '/');
    if (!slash)
        snprintf(buf, cap, ".");
    else if (slash == buf)
        buf[1] = '\0';
    else
        *slash = '\0';
    return RG_OK;
}

static const char *tensor_name(const Onnx__TensorProto *t) {
    return t->name && t->name[0] ? t->name : "<unnamed>";
}

/* Parses a non-negative decimal string ("offset", "length"). */
static bool parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s) return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Resolves `location` under base_dir, refusing anything outside it, and
 * opens it. */
static rg_status open_external(const Onnx__TensorProto *t, const char *base_dir, const char *location, int *fd_out,
                               uint64_t *file_size, rg_error *err) {
    const char *name = tensor_name(t);
    if (!base_dir)
        return rg_error_set(err, RG_ERR_UNSUPPORTED,
                            "tensor '%s': external data ('%s') needs the model's folder; none was given", name,
                            location);
    if (!location[0])
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "tensor '%s': external data has an empty location", name);
    if (location[0] == '/')
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "tensor '%s': external data location '%s' is absolute",
                            name, location);
    char joined[PATH_MAX], base_real[PATH_MAX], file_real[PATH_MAX];
    int n = snprintf(joined, sizeof joined, "%s/%s", base_dir, location);
    if (n < 0 || (size_t)n >= sizeof joined)
        return rg_error_set(err, RG_ERR_IO, "tensor '%s': external data path '%s' is too long", name, location);
    if (!realpath(base_dir, base_real))
        return rg_error_set(err, RG_ERR_IO, "tensor '%s': model folder '%s': %s", name, base_dir, strerror(errno));
    if (!realpath(joined, file_real))
        return rg_error_set(err, RG_ERR_IO, "tensor '%s': external data file '%s': %s", name, joined,
                            strerror(errno));
    size_t blen = strlen(base_real);
    bool inside = strncmp(file_real, base_real, blen) == 0 &&
                  (file_real[blen] == '/' || (blen == 1 && base_real[0] == '/'));
    if (!inside)
        return rg_error_set(err, RG_ERR_INVALID_MODEL,
                            "tensor '%s': external data location '%s' escapes the model's folder", name, location);
    int fd = open(file_real, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rg_error_set(err, RG_ERR_IO, "tensor '%s': cannot open external data file '%s': %s", name,
                            file_real, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return rg_error_set(err, RG_ERR_IO, "tensor '%s': external data '%s' is not a regular file", name,
                            file_real);
    }
    *fd_out = fd;
    *file_size = (uint64_t)st.st_size;
    return RG_OK;
}

static rg_status external_source(const Onnx__TensorProto *t, const char *base_dir, rg_onnx_tensor_src *src,
                                 rg_error *err) {
    const char *name = tensor_name(t);
    const char *location = NULL;
    uint64_t offset = 0, length = 0;
    bool has_length = false;
    if (t->has_raw_data || t->n_float_data || t->n_int32_data || t->n_int64_data || t->n_double_data ||
        t->n_uint64_data || t->n_string_data)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "tensor '%s': external data and inline data both given",
                            name);
    for (size_t i = 0; i < t->n_external_data; i++) {
        const char *key = rg_onnx_str(t->external_data[i]->key);
        const char *value = rg_onnx_str(t->external_data[i]->value);
        if (strcmp(key, "location") == 0) {
            location = value;
        } else if (strcmp(key, "offset") == 0) {
            if (!parse_u64(value, &offset))
                return rg_error_set(err, RG_ERR_INVALID_MODEL, "tensor '%s': external data offset '%s' is not a number",
                                    name, value);
        } else if (strcmp(key, "length") == 0) {
            if (!parse_u64(value, &length))
                return rg_error_set(err, RG_ERR_INVALID_MODEL, "tensor '%s': external data length '%s' is not a number",
                                    name, value);
            has_length = true;
        }
        /* "checksum" and unknown keys carry nothing we need */
    }
    if (!location)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "tensor '%s': external data without a location", name);
    if (has_length && length != (uint64_t)src->shape.nbytes)
        return rg_error_set(err, RG_ERR_INVALID_MODEL,
                            "tensor '%s': external data length %llu does not match its %zu bytes", name,
                            (unsigned long long)length, src->shape.nbytes);
    int fd;
    uint64_t file_size;
    RG_TRY(open_external(t, base_dir, location, &fd, &file_size, err));
    if (offset > file_size || src->shape.nbytes > file_size - offset) {
        close(fd);
        return rg_error_set(err, RG_ERR_INVALID_MODEL,
                            "tensor '%s': external data range (offset %llu, %zu bytes) lies beyond the end of '%s' "
                            "(%llu bytes)",
                            name, (unsigned long long)offset, src->shape.nbytes, location,
                            (unsigned long long)file_size);
    }
    src->fd = fd;
    src->offset = offset;
    return RG_OK;
}

/* The element count a typed field must have, or 0 with *field_name NULL when
 * the dtype has no typed field ragged reads. */
static size_t typed_count(const Onnx__TensorProto *t, rg_dtype dtype, const char **field_name) {
    switch (dtype) {
    case RG_DTYPE_F32: *field_name = "float_data"; return t->n_float_data;
    case RG_DTYPE_I64: *field_name = "int64_data"; return t->n_int64_data;
    default: *field_name = "int32_data"; return t->n_int32_data;
    }
}

rg_status rg_onnx_tensor_open(const Onnx__TensorProto *t, const char *base_dir, rg_onnx_tensor_src *src,
                              rg_error *err) {
    const char *name = tensor_name(t);
    memset(src, 0, sizeof *src);
    src->fd = -1;
    int code = t->has_data_type ? t->data_type : 0;
    rg_dtype dtype = rg_dtype_from_onnx(code);
    if (dtype == RG_DTYPE_UNDEFINED)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "tensor '%s' has element type %s, which ragged does not support",
                            name, rg_onnx_dtype_name(code));
    if (t->n_dims > RG_MAX_RANK)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "tensor '%s' has rank %zu; ragged supports up to %d", name,
                            t->n_dims, RG_MAX_RANK);
    for (size_t i = 0; i < t->n_dims; i++)
        if (t->dims[i] < 0)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "tensor '%s' has a negative dim (%lld)", name,
                                (long long)t->dims[i]);
    if (t->segment)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "tensor '%s' is segmented, which ragged does not support", name);
    rg_error sub;
    if (rg_tensor_set_shape(&src->shape, dtype, (int)t->n_dims, t->dims, &sub) != RG_OK)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "tensor '%s': %s", name, sub.message);
    size_t numel = rg_tensor_numel(&src->shape);

    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return external_source(t, base_dir, src, err);
    if (t->n_external_data)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "tensor '%s' has external_data entries but is not EXTERNAL",
                            name);
    if (t->has_raw_data) {
        if (t->raw_data.len != src->shape.nbytes)
            return rg_error_set(err, RG_ERR_INVALID_MODEL,
                                "tensor '%s': raw_data has %zu bytes, its %s shape needs %zu", name, t->raw_data.len,
                                rg_dtype_name(dtype), src->shape.nbytes);
        return RG_OK;
    }
    const char *field;
    size_t count = typed_count(t, dtype, &field);
    if (count != numel)
        return rg_error_set(err, RG_ERR_INVALID_MODEL, "tensor '%s': %s holds %zu elements, its dims need %zu", name,
                            field, count, numel);
    return RG_OK;
}

/* int32_data carries the narrow types, one element per entry. */
static rg_status narrow_from_int32(const Onnx__TensorProto *t, rg_dtype dtype, size_t n, void *dst, rg_error *err) {
    int32_t lo = 0, hi = 0;
    switch (dtype) {
    case RG_DTYPE_I8: lo = INT8_MIN, hi = INT8_MAX; break;
    case RG_DTYPE_U8: lo = 0, hi = UINT8_MAX; break;
    case RG_DTYPE_BOOL: lo = 0, hi = 1; break;
    case RG_DTYPE_F16:
    case RG_DTYPE_BF16: lo = 0, hi = UINT16_MAX; break;
    default: RG_ASSERT(!"dtype without an int32_data form");
    }
    for (size_t i = 0; i < n; i++) {
        int32_t v = t->int32_data[i];
        if (v < lo || v > hi)
            return rg_error_set(err, RG_ERR_INVALID_MODEL, "tensor '%s': int32_data[%zu] = %d is out of range for %s",
                                tensor_name(t), i, (int)v, rg_dtype_name(dtype));
        if (rg_dtype_size(dtype) == 2)
            ((uint16_t *)dst)[i] = (uint16_t)v;
        else
            ((uint8_t *)dst)[i] = (uint8_t)v;
    }
    return RG_OK;
}

static rg_status read_external(const Onnx__TensorProto *t, const rg_onnx_tensor_src *src, void *dst, rg_error *err) {
    unsigned char *p = dst;
    size_t left = src->shape.nbytes;
    uint64_t at = src->offset;
    while (left) {
        size_t chunk = left > ((size_t)1 << 30) ? ((size_t)1 << 30) : left;
        ssize_t got = pread(src->fd, p, chunk, (off_t)at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            return rg_error_set(err, RG_ERR_IO, "tensor '%s': reading external data failed: %s", tensor_name(t),
                                got < 0 ? strerror(errno) : "file shrank");
        p += got;
        left -= (size_t)got;
        at += (uint64_t)got;
    }
    return RG_OK;
}

rg_status rg_onnx_tensor_read(const Onnx__TensorProto *t, const rg_onnx_tensor_src *src, void *dst, rg_error *err) {
    size_t nbytes = src->shape.nbytes;
    if (src->fd >= 0) return read_external(t, src, dst, err);
    if (t->has_raw_data) {
        if (nbytes) memcpy(dst, t->raw_data.data, nbytes);
        return RG_OK;
    }
    size_t n = rg_tensor_numel(&src->shape);
    if (n == 0) return RG_OK;
    switch (src->shape.dtype) {
    case RG_DTYPE_F32: memcpy(dst, t->float_data, nbytes); return RG_OK;
    case RG_DTYPE_I64: memcpy(dst, t->int64_data, nbytes); return RG_OK;
    case RG_DTYPE_I32: memcpy(dst, t->int32_data, nbytes); return RG_OK;
    default: return narrow_from_int32(t, src->shape.dtype, n, dst, err);
    }
}

void rg_onnx_tensor_close(rg_onnx_tensor_src *src) {
    if (src->fd >= 0) close(src->fd);
    src->fd = -1;
}

rg_status rg_onnx_tensor_to_graph(rg_graph *g, const Onnx__TensorProto *t, const char *base_dir, rg_tensor **out,
                                  rg_error *err) {
    rg_onnx_tensor_src src;
    RG_TRY(rg_onnx_tensor_open(t, base_dir, &src, err));
    rg_tensor *tensor = NULL;
    rg_status status = rg_graph_new_tensor(g, src.shape.dtype, src.shape.rank, src.shape.dims, &tensor, err);
    if (status == RG_OK) status = rg_onnx_tensor_read(t, &src, tensor->data, err);
    rg_onnx_tensor_close(&src);
    if (status == RG_OK) *out = tensor;
    return status;
}
