/*
 * kernel_abi.h — the contract between the CUDA kernels codegen/ writes or
 * embeds in a plan and the runtime/ that launches them.
 *
 * Both sides must agree on a kernel's name, its parameter layout and its
 * launch geometry; neither may include the other (codegen/ and runtime/ are
 * separate pipeline stages), so what they share is here, computed from the
 * node alone: codegen/ decides and emits text from it, runtime/ launches
 * from it, and a plan needs to store nothing beyond the node to be launched.
 * Nothing here writes CUDA text or calls CUDA.
 *
 * Batch-reduction kernels (Fused and LayerNorm nodes, codegen/cuda_fused.c)
 * --------------------------------------------------------------------------
 * One translation unit per node holds two kernels, NAME_vec (vector loads;
 * only when the row length is a multiple of the vector width) and
 * NAME_scalar (element loads, any alignment). The launcher picks one from
 * the pointers' alignment. Each kernel takes one parameter,
 * rg_kabi_fused_params by value (mirrored byte for byte in the emitted
 * source as `rg_params`):
 *   inputs[i]   device pointer of node input i (NULL: absent or not loaded)
 *   outputs[j]  device pointer of node output j (NULL: not wanted), each
 *               contiguous in the iteration shape (ROW stores), that shape
 *               with last dim 1 (SCALAR_KEEP) or without it (SCALAR_DROP)
 *   rows        product of the iteration shape's dims but the last
 *   ndims, dims the leading (row) dims of the iteration shape, collapsed
 *               where every input agrees; dims[0] is outermost
 *   strides     strides[i][d]: element stride of input i along dims[d]
 *               (0 where the input broadcasts)
 * Row r of input i starts at element sum_d idx_d(r) * strides[i][d]; a ROW
 * load then reads N consecutive elements, a SCALAR load one. A block of
 * block_threads threads serves rows_per_block rows, threads_per_row each.
 *
 * Attention kernels (codegen/kernels/attention.cu)
 * ------------------------------------------------
 * One specialisation per (dtype, head size, causal, wgmma), named by
 * rg_kabi_attention_kernel_name; the launch shape is the launcher's
 * (runtime/cuda_attention.c). The wgmma variants (fp16/bf16 at head size 64)
 * use Hopper's warpgroup MMA and are compiled for sm_90a: codegen picks them
 * for sm_90 targets, and a plan's attention module compiled for sm_90a holds
 * one (rg_kabi_attention_arch).
 *
 * Hopper GEMM kernels (codegen/kernels/gemm.cu)
 * ---------------------------------------------
 * One module per dtype (fp16, bf16), compiled for sm_90a, named
 * rg_kabi_gemm_module_name; it holds a kernel per (epilogue, tile) of
 * rg_kabi_gemm_tiles, named rg_kabi_gemm_kernel_name. They run the Linears
 * whose epilogue cuBLASLt lacks (the erf GELU); the launcher
 * (runtime/cuda_gemm.c) picks the tile.
 */
#ifndef RG_IR_KERNEL_ABI_H
#define RG_IR_KERNEL_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/fused.h"
#include "ir/graph.h"

/* ------------------------------------------------------------------ names */

/* Base name of the batch-reduction kernels in a plan's "fused" modules
 * (kernels RG_KABI_FUSED_NAME "_vec" and "_scalar"). */
#define RG_KABI_FUSED_NAME "rg_fused"
/* Module names of the embedded templates a plan carries. */
#define RG_KABI_ELEMENTWISE_MODULE "rg_elementwise"
#define RG_KABI_ATTENTION_GENERAL_MODULE "rg_attention_general"

/* ----------------------------------------------- batch-reduction kernels */

#define RG_KABI_FUSED_MAX_INPUTS 16
#define RG_KABI_FUSED_MAX_OUTPUTS 8
#define RG_KABI_FUSED_MAX_DIMS (RG_MAX_RANK - 1)
#define RG_KABI_FUSED_NAME_MAX 56

/* The kernel parameter (see the ABI above). */
typedef struct rg_kabi_fused_params {
    const void *inputs[RG_KABI_FUSED_MAX_INPUTS];
    void *outputs[RG_KABI_FUSED_MAX_OUTPUTS];
    int64_t rows;
    int64_t dims[RG_KABI_FUSED_MAX_DIMS];
    int64_t strides[RG_KABI_FUSED_MAX_INPUTS][RG_KABI_FUSED_MAX_DIMS];
    int32_t ndims;
    int32_t reserved; /* keeps the size a multiple of 8 on both sides */
} rg_kabi_fused_params;

/* How an input is read by the kernel. */
enum { RG_KABI_FUSED_IN_ROW = 0, RG_KABI_FUSED_IN_SCALAR = 1, RG_KABI_FUSED_IN_UNUSED = 2 };

/* A batch-reduction kernel as both sides see it: names, layout, what it
 * reads and writes. */
typedef struct rg_kabi_fused_kernel {
    char vec_name[RG_KABI_FUSED_NAME_MAX + 8];    /* "" when there is no vector variant */
    char scalar_name[RG_KABI_FUSED_NAME_MAX + 8];
    rg_dtype dtype;
    int64_t row_length;  /* N */
    int vector_width;    /* elements per vector access of NAME_vec (1 when absent) */
    int threads_per_row; /* a power of two up to 32, or a multiple of 32 */
    int rows_per_block;
    int block_threads;   /* threads_per_row * rows_per_block */
    uint32_t ninputs, noutputs;
    uint8_t input_kind[RG_KABI_FUSED_MAX_INPUTS]; /* RG_KABI_FUSED_IN_* */
    uint8_t output_mode[RG_KABI_FUSED_MAX_OUTPUTS]; /* RG_FUSED_STORE_*, for present outputs */
} rg_kabi_fused_kernel;

/* Instructions of the program a LayerNorm node is translated into. */
#define RG_KABI_LAYER_NORM_MAX_INSTR 20

/* The expression program a kernel runs: a Fused node's own (pointing into
 * its attributes), or the translation of a LayerNorm node (pointing into
 * this struct, which must therefore stay where it was filled). */
typedef struct rg_kabi_fused_source {
    rg_fused_program program;
    int64_t layer_norm_code[4 * RG_KABI_LAYER_NORM_MAX_INSTR];
    float layer_norm_epsilon;
} rg_kabi_fused_source;

/* Describes the batch-reduction kernel of `node` (op Fused or LayerNorm)
 * named kernel_name + "_vec" / "_scalar": kernel_name must be a C
 * identifier of at most RG_KABI_FUSED_NAME_MAX bytes. dtype
 * RG_DTYPE_UNDEFINED means the dtype of the node's input 0; row_length <= 0
 * means the node's static last dim (of output 0; of input 0 for LayerNorm).
 * On success fills *out and, when `source` is not NULL, *source with the
 * program the kernel runs. Errors (unsupported dtype or node, a dynamic row
 * length, too many inputs, a malformed program) name the node; on failure
 * *out and *source are untouched. */
rg_status rg_kabi_fused_kernel_of(const rg_node *node, const char *kernel_name, rg_dtype dtype, int64_t row_length,
                                  rg_kabi_fused_kernel *out, rg_kabi_fused_source *source, rg_error *err);

/* --------------------------------------------------------- attention */

/* One specialisation of the fused attention kernel. */
typedef struct rg_kabi_attention_variant {
    rg_dtype dtype; /* RG_DTYPE_F32 (plain FMA), RG_DTYPE_F16 or RG_DTYPE_BF16 (tensor cores) */
    int head_dim;   /* 32, 64 or 128 */
    bool causal;    /* key j visible to query i only when j <= i (within the sequence) */
    bool wgmma;     /* the Hopper kernel (sm_90a, warpgroup MMA); see rg_kabi_attention_wgmma_ok */
} rg_kabi_attention_variant;

/* The template's RG_ATTN_DTYPE code for `dtype` (0 f32, 1 f16, 2 bf16), and
 * its short name in kernel names ("f32", ...); -1 and "?" for any other. */
int rg_kabi_attention_dtype_code(rg_dtype dtype, const char **short_name);
/* RG_ERR_UNSUPPORTED naming the dtype or head size ragged has no kernel for. */
rg_status rg_kabi_attention_check(const rg_kabi_attention_variant *variant, rg_error *err);
/* Whether (dtype, head size) has a wgmma kernel: fp16 or bf16 at head size 64. */
bool rg_kabi_attention_wgmma_ok(const rg_kabi_attention_variant *variant);
/* The architecture the variant's module is compiled for: sm_90a for a wgmma
 * variant (its instructions exist only there), else `target`. */
const char *rg_kabi_attention_arch(const rg_kabi_attention_variant *variant, const char *target);
/* Sets variant->wgmma for a plan's attention module compiled for
 * `module_arch`: true exactly when codegen would have compiled the wgmma
 * kernel into it (an eligible variant, a module for sm_90a). */
void rg_kabi_attention_set_module_arch(rg_kabi_attention_variant *variant, const char *module_arch);
/* The kernel's extern "C" name, e.g. "rg_attention_f16_d64_causal"; wgmma
 * variants end in "_wg". */
void rg_kabi_attention_kernel_name(const rg_kabi_attention_variant *variant, char *out, size_t out_size);
/* The variant an Attention node needs (the dtype of its input 0, its
 * head_size and causal attributes); errors when there is no such kernel. */
rg_status rg_kabi_attention_variant_of(const rg_node *node, rg_kabi_attention_variant *out, rg_error *err);

/* ------------------------------------------------------ Hopper GEMM */

/* A block's tile of Y: warpgroups x 64 rows by bn columns, with `stages`
 * 64-deep slices of X and W in flight. With split > 1, a cluster of `split`
 * blocks shares each tile, each taking 1/split of k (for few rows). */
typedef struct rg_kabi_gemm_tile {
    const char *name; /* "m128n256", "m64n64s4": the kernel name's suffix */
    int warpgroups;   /* 1 or 2: bm = 64 * warpgroups rows */
    int bn;           /* columns: 64, 128 or 256 */
    int stages;
    int per_sm;       /* blocks an SM holds at once (shared memory, registers) */
    int split;        /* 1: persistent blocks, a tile each at a time; else the cluster size along k */
    int pingpong;     /* 1: warp-specialized (name ends in "p"): a TMA producer and two consumer
                         warpgroups, each taking whole tiles of 64 * warpgroups rows in turn */
} rg_kabi_gemm_tile;

/* The tiles gemm.cu instantiates, in the launcher's order of preference
 * (the pingpong tile, then largest first); *count receives how many,
 * at most RG_KABI_GEMM_MAX_TILES (what a loaded module has room for). */
#define RG_KABI_GEMM_MAX_TILES 16
const rg_kabi_gemm_tile *rg_kabi_gemm_tiles(size_t *count);
/* Dynamic shared memory a block of `tile` needs, in bytes: the stages, the
 * epilogue's 2 KB per warp and 1 KB to align the stages to 1024. */
size_t rg_kabi_gemm_smem_bytes(const rg_kabi_gemm_tile *tile);
/* Threads a block of `tile` runs: 128 a warpgroup, or 384 for pingpong tiles. */
int rg_kabi_gemm_threads(const rg_kabi_gemm_tile *tile);
/* Whether there is a GEMM kernel for `dtype`: fp16 or bf16. */
bool rg_kabi_gemm_dtype_ok(rg_dtype dtype);
/* The module of `dtype`, "rg_gemm_f16" or "rg_gemm_bf16". */
void rg_kabi_gemm_module_name(rg_dtype dtype, char *out, size_t out_size);
/* The kernel's extern "C" name, e.g. "rg_gemm_f16_gelu_m128n256" (gelu: the
 * erf-GELU epilogue; otherwise bias only). */
void rg_kabi_gemm_kernel_name(rg_dtype dtype, bool gelu, const rg_kabi_gemm_tile *tile, char *out, size_t out_size);
/* The architecture GEMM modules are compiled for: "sm_90a". */
const char *rg_kabi_gemm_arch(void);
/* Whether a plan compiled for `target` gets the wgmma kernels (attention
 * variants, GEMM modules): sm_90 or sm_90a. */
bool rg_kabi_wgmma_target_ok(const char *target);

/* ------------------------------------------- one launch for a run of nodes */

/* codegen/kernels/persistent.cu: a run of Linears, Attentions and
 * LayerNorms as one launch of resident blocks (runtime/cuda_persist.c).
 * One module per dtype (fp16, bf16: rg_kabi_gemm_dtype_ok's), whose only
 * kernel has the module's name, "rg_persistent_f16" or "rg_persistent_bf16". */
#define RG_KABI_PERSISTENT_KIND "persistent"
void rg_kabi_persistent_name(rg_dtype dtype, char *out, size_t out_size);
/* Threads a block, and the program's step size in bytes (struct
 * rg_pk_step, mirrored by the runtime). */
#define RG_KABI_PERSISTENT_THREADS 256
#define RG_KABI_PERSISTENT_STEP_BYTES 128

#endif
