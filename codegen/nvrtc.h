/*
 * nvrtc.h — compiling generated CUDA C to cubins with NVRTC, loaded at run time.
 *
 * ragged builds without nvcc and must start on machines with no CUDA at all,
 * so libnvrtc is never linked: rg_cg_nvrtc_open dlopens it and resolves the
 * handful of functions used into a context the caller owns (no globals, so two
 * compilers in one process are independent). Without CUDA headers at build
 * time everything here compiles to stubs that say so.
 *
 * Kernels that should be found by name must be declared extern "C".
 */
#ifndef RG_CG_NVRTC_H
#define RG_CG_NVRTC_H

#include <stdbool.h>
#include <stddef.h>

#include "ir/arena.h"
#include "ir/error.h"

typedef struct rg_cg_nvrtc rg_cg_nvrtc;

/* Opens NVRTC (libnvrtc.so.13, then the toolkit's lib dir found at configure
 * time, then libnvrtc.so). On failure returns RG_ERR_DEVICE with a one-line
 * reason such as "NVRTC not found: libnvrtc.so.13: cannot open shared object
 * file: No such file or directory". `alloc` NULL means the default allocator;
 * it also allocates the cubins that rg_cg_nvrtc_compile returns. */
rg_status rg_cg_nvrtc_open(const rg_allocator *alloc, rg_cg_nvrtc **out, rg_error *err);
/* Unloads NVRTC; NULL does nothing. */
void rg_cg_nvrtc_close(rg_cg_nvrtc *nvrtc);

/* NVRTC's version, e.g. 13 and 0. */
void rg_cg_nvrtc_version(const rg_cg_nvrtc *nvrtc, int *major, int *minor);

/* The include dir found at configure time ("" when none): where
 * <cuda_fp16.h> and <cuda_bf16.h> are looked up by default. */
const char *rg_cg_nvrtc_default_include_dir(void);

typedef struct rg_cg_nvrtc_options {
    /* NULL: rg_cg_nvrtc_default_include_dir(); "": no -I at all. */
    const char *include_dir;
    /* More NVRTC options, passed as given (e.g. "--use_fast_math", "-lineinfo"). */
    const char *const *extra;
    size_t extra_count;
    /* When not NULL, receives NVRTC's whole log (NUL-terminated, cut to fit),
     * on success too (warnings). */
    char *log;
    size_t log_capacity;
} rg_cg_nvrtc_options;

/* Compiles `source` (NUL-terminated CUDA C++) for `arch` ("sm_80", "sm_89",
 * "sm_90", "sm_90a", ...) into a cubin. `name` names the kernel or group of
 * kernels in errors and the program ("name.cu" in the log); `options` may be
 * NULL. On success *cubin (allocated with the context's allocator; free with
 * rg_mem_free(alloc, *cubin, *size)) and *size are set. A compile error
 * returns RG_ERR_DEVICE with the kernel name, the arch and the error lines of
 * the NVRTC log on one line (cut to fit the message). */
rg_status rg_cg_nvrtc_compile(rg_cg_nvrtc *nvrtc, const char *source, const char *name, const char *arch,
                              const rg_cg_nvrtc_options *options, void **cubin, size_t *size, rg_error *err);

#endif
