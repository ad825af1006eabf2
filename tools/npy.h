/*
 * npy.h — reading and writing NumPy .npy files, the tensor format of the
 * `ragged run` command and of test data.
 *
 * Supported: format versions 1.0, 2.0 and 3.0; C order only; little-endian
 * descriptors '<f4' '<f2' '<i8' '<i4' '|i1' '|u1' '|b1' (and their '<'/'='/'|'
 * spellings for one-byte types). bfloat16 has no NumPy dtype, so it is neither
 * read nor written here: callers convert to and from float32 (see
 * docs/cli.md). A file is untrusted input: every header field is checked, and
 * a malformed one is an error naming the file, never a crash.
 */
#ifndef RG_TOOLS_NPY_H
#define RG_TOOLS_NPY_H

#include <stddef.h>

#include "ir/graph.h"

/* Parses an .npy image held in memory. On success `out` gets dtype, shape,
 * nbytes and a copy of the data allocated from `alloc` (NULL: the default
 * allocator; data is NULL when nbytes is 0); free it with rg_npy_free().
 * `name` is used in error messages (a file name). */
rg_status rg_npy_parse(const void *bytes, size_t len, const char *name, const rg_allocator *alloc,
                       rg_tensor *out, rg_error *err);

/* Reads an .npy file; same contract as rg_npy_parse(). */
rg_status rg_npy_read(const char *path, const rg_allocator *alloc, rg_tensor *out, rg_error *err);

/* Releases the data of a tensor filled by rg_npy_parse()/rg_npy_read(). */
void rg_npy_free(const rg_allocator *alloc, rg_tensor *t);

/* Writes `t` as a version 1.0 .npy file (version 2.0 if the header needs it).
 * bfloat16 is refused with RG_ERR_UNSUPPORTED. A failed write removes the
 * partial file. */
rg_status rg_npy_write(const char *path, const rg_tensor *t, rg_error *err);

/* The .npy descriptor of a dtype ("<f4", ...), or NULL when there is none. */
const char *rg_npy_descr(rg_dtype dtype);

#endif
