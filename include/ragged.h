/*
 * ragged.h — the one public header of ragged.
 *
 * ragged compiles transformer models exported to ONNX into a plan file and runs
 * variable-length requests from that plan. This header is the whole contract a
 * program needs: compile a model, load a plan, open sessions, bind inputs, run,
 * and read outputs.
 *
 * Conventions (they hold for every function below):
 * - Every fallible function returns an rg_status; RG_OK is zero.
 * - On failure, out-parameters are untouched, the caller owns nothing new, and
 *   when `err` is not NULL it receives the status and a one-line message that
 *   names the file, node, input or CUDA call at fault.
 * - Handles are opaque; every `_free(NULL)` does nothing.
 * - Nothing here aborts or prints on bad input.
 */
#ifndef RAGGED_H
#define RAGGED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RG_VERSION_MAJOR 0
#define RG_VERSION_MINOR 1
#define RG_VERSION_PATCH 0

/* Status codes. Keep rg_status_string() in ir/error.c in step. */
typedef enum rg_status {
    RG_OK = 0,
    RG_ERR_INVALID_ARGUMENT, /* a caller passed something unusable */
    RG_ERR_IO,               /* a file could not be opened, read or written */
    RG_ERR_PARSE,            /* a model file is not valid ONNX protobuf */
    RG_ERR_INVALID_MODEL,    /* a model parses but breaks ONNX's rules */
    RG_ERR_UNSUPPORTED,      /* a valid op, dtype, opset or feature ragged lacks */
    RG_ERR_SHAPE,            /* shapes that do not fit together */
    RG_ERR_DTYPE,            /* a dtype that does not fit */
    RG_ERR_CORRUPT_PLAN,     /* a plan file fails its checks */
    RG_ERR_NOMEM,            /* an allocation failed or a size overflowed */
    RG_ERR_NOT_FOUND,        /* a named input or output does not exist */
    RG_ERR_DEVICE,           /* a CUDA, cuBLAS or NVRTC call failed */
    RG_ERR_INTERNAL,         /* a broken invariant reported rather than aborted */
    RG_STATUS_COUNT
} rg_status;

/* Where a failure is described. Caller-owned; may live on the stack. */
#define RG_ERROR_MESSAGE_MAX 512
typedef struct rg_error {
    rg_status status;
    char message[RG_ERROR_MESSAGE_MAX];
} rg_error;

/* A short constant name for a status ("ok", "parse error", ...). */
const char *rg_status_string(rg_status status);

/* Element types. The numbering is ragged's own, not ONNX's. */
typedef enum rg_dtype {
    RG_DTYPE_UNDEFINED = 0,
    RG_DTYPE_F32,
    RG_DTYPE_F16,
    RG_DTYPE_BF16,
    RG_DTYPE_I64,
    RG_DTYPE_I32,
    RG_DTYPE_I8,
    RG_DTYPE_U8,
    RG_DTYPE_BOOL,
    RG_DTYPE_COUNT
} rg_dtype;

/* "float32", "float16", ... or "undefined" for an out-of-range value. */
const char *rg_dtype_name(rg_dtype dtype);
/* Bytes per element, 0 for RG_DTYPE_UNDEFINED or an out-of-range value. */
size_t rg_dtype_size(rg_dtype dtype);

#define RG_MAX_RANK 8

/* ---------------------------------------------------------------- compile */

typedef struct rg_compile_options {
    const char *target; /* "cpu" (default when NULL), or a CUDA arch: "sm_80", "sm_89", "sm_90" */
    rg_dtype dtype;     /* RG_DTYPE_UNDEFINED keeps the model's dtypes; F16/BF16 run the precision pass */
    int no_optimize;    /* nonzero: write the imported graph without running the passes */
    int tf32;           /* nonzero: float32 GEMMs on the GPU may use TF32 tensor cores */
    int approximate_gelu; /* nonzero: the erf GELU after a Linear becomes the tanh approximation
                             (|difference| <= ~5e-4), which the GPU runs inside the GEMM */
    int custom_gemm;      /* nonzero (sm_90, fp16/bf16): Linears with no activation or the erf GELU
                             may run ragged's own wgmma GEMM (the GELU in its epilogue, split-K tiles
                             for few rows) where it times faster than cuBLASLt (experimental; faster
                             on BERT-base at batch 1, a slower compile) */
    int persistent;       /* nonzero (GPU targets, fp16/bf16): the plan also carries the persistent
                             kernel, which runs a run of Linears, Attentions and LayerNorms as one
                             launch where that times faster (rg_session_set_persistent; experimental:
                             on BERT-base only at batch 1 x 16 faster than separate kernels; +1-2 s
                             of compile) */
} rg_compile_options;

/* Imports `onnx_path`, checks it, runs the optimisation passes (cleanup,
 * folding, pattern and reduction fusion) and writes a plan to `plan_path`. */
rg_status rg_compile_file(const char *onnx_path, const char *plan_path,
                          const rg_compile_options *options, rg_error *err);

/* ------------------------------------------------------------------- plan */

typedef struct rg_plan rg_plan;

/* Loads and checks a plan file (magic, version, checksum, every count, offset
 * and size). The plan is immutable and may be shared by many sessions. */
rg_status rg_plan_load(const char *path, rg_plan **out, rg_error *err);
void rg_plan_free(rg_plan *plan);

/* Describes one graph input or output of a plan. A dim is either fixed
 * (dims[i] >= 0) or symbolic (dims[i] == -1, named by dim_names[i]). */
typedef struct rg_io_info {
    const char *name;
    rg_dtype dtype;
    int rank;
    int64_t dims[RG_MAX_RANK];
    const char *dim_names[RG_MAX_RANK];
} rg_io_info;

size_t rg_plan_input_count(const rg_plan *plan);
size_t rg_plan_output_count(const rg_plan *plan);
/* Returns RG_ERR_NOT_FOUND for an index out of range. */
rg_status rg_plan_input_info(const rg_plan *plan, size_t index, rg_io_info *out, rg_error *err);
rg_status rg_plan_output_info(const rg_plan *plan, size_t index, rg_io_info *out, rg_error *err);

/* ---------------------------------------------------------------- session */

typedef struct rg_session rg_session;

typedef enum rg_device {
    RG_DEVICE_AUTO = 0, /* the GPU when one is usable, else the CPU */
    RG_DEVICE_CPU,
    RG_DEVICE_CUDA,
} rg_device;

typedef struct rg_session_options {
    rg_device device;
    int num_threads; /* CPU executor threads; 0 picks a default */
} rg_session_options;

/* A session holds the per-run state of one plan; use one per thread.
 * `options` may be NULL for defaults. The plan must outlive the session. */
rg_status rg_session_new(const rg_plan *plan, const rg_session_options *options,
                         rg_session **out, rg_error *err);
void rg_session_free(rg_session *session);

/* Binds input `name` to caller memory of the given dtype and shape. The data is
 * read during rg_session_run() and must stay valid until then. The dtype,
 * rank and fixed dims are checked against the plan here; symbolic dims are
 * checked for consistency across inputs when the session runs. */
rg_status rg_session_bind_input(rg_session *session, const char *name, rg_dtype dtype,
                                int rank, const int64_t *dims, const void *data,
                                rg_error *err);

/* The device a session runs on (RG_DEVICE_CPU or RG_DEVICE_CUDA), and when
 * RG_DEVICE_AUTO fell back to the CPU for a plan compiled for a GPU, the
 * one-line reason (the `ragged` command prints it on stderr); NULL otherwise. */
rg_device rg_session_device(const rg_session *session);
const char *rg_session_fallback_reason(const rg_session *session);

/* Runs the plan on the bound inputs. Every input must be bound. */
rg_status rg_session_run(rg_session *session, rg_error *err);

/* A view of one output after a successful run. The memory belongs to the
 * session and stays valid until the next run or rg_session_free(). */
typedef struct rg_tensor_view {
    const char *name;
    rg_dtype dtype;
    int rank;
    int64_t dims[RG_MAX_RANK];
    const void *data;
    size_t nbytes;
} rg_tensor_view;

rg_status rg_session_output(const rg_session *session, const char *name,
                            rg_tensor_view *out, rg_error *err);

/* GPU sessions: with `on`, later runs leave the outputs the GPU computes in
 * device memory instead of copying them to the host (what a caller that
 * feeds them to more GPU work wants; a run then ends when the kernels do).
 * rg_session_output() then fails for those outputs, naming
 * rg_session_output_device(). Off by default. RG_ERR_UNSUPPORTED on a
 * session that runs on the CPU. */
rg_status rg_session_set_outputs_on_device(rg_session *session, bool on, rg_error *err);

/* GPU sessions: runs of Linears, Attentions and LayerNorms as one launch of
 * the plan's persistent kernel, a block per SM walking the nodes with a
 * grid-wide barrier between them (fp16/bf16 plans for sm_80 and later;
 * docs/cuda.md, "One launch for a run of nodes"). With few tokens most of a
 * kernel's time is its fixed cost, which this saves. RG_PERSISTENT_AUTO, the
 * default, times each shape's replay both ways on its first run and keeps
 * the faster; ON uses it wherever it can; OFF never. Changing the mode
 * drops the captured graphs. A CPU session accepts AUTO and OFF. */
typedef enum rg_persistent_mode {
    RG_PERSISTENT_AUTO = 0,
    RG_PERSISTENT_ON = 1,
    RG_PERSISTENT_OFF = 2,
} rg_persistent_mode;
rg_status rg_session_set_persistent(rg_session *session, rg_persistent_mode mode, rg_error *err);

/* GPU sessions: a view of one output of the last successful run whose data
 * is a device pointer (CUDA device memory of the session's GPU, device 0),
 * owned by the session and valid until the next run or rg_session_free().
 * Works whether or not outputs are also copied to the host.
 * RG_ERR_UNSUPPORTED on a CPU session or for an output computed on the host. */
rg_status rg_session_output_device(const rg_session *session, const char *name,
                                   rg_tensor_view *out, rg_error *err);

#ifdef __cplusplus
}
#endif
#endif /* RAGGED_H */
