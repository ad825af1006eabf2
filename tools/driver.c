/*
 * driver.c — rg_compile_file(): the compile pipeline from an ONNX file to a
 * plan file: import, shape inference, verification, the optimisation passes,
 * the precision pass when a dtype is asked for, and for a CUDA target every
 * kernel compiled by NVRTC into the plan's KERNELS section; then the plan is
 * written with the model's hash and the options recorded.
 */
#include "driver.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "codegen/cuda_plan.h"
#include "codegen/plan_write.h"
#include "evaluator.h"
#include "frontend/onnx.h"
#include "ir/graph.h"
#include "ir/kernel_abi.h"
#include "ir/serialize.h"
#include "passes/pass.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The hash of the model file's bytes, recorded in the plan so that a plan can
 * be traced back to (and checked against) the model it came from. */
static rg_status hash_file(const char *path, uint64_t *out, rg_error *err) {
    enum { CHUNK = 1 << 20 };
    const rg_allocator *alloc = rg_allocator_default();
    rg_status st = RG_OK;
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return rg_error_set(err, RG_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    buf = rg_mem_alloc(alloc, CHUNK);
    if (!buf) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory reading '%s'", path);
        goto done;
    }
    rg_ir_hasher h;
    rg_ir_hasher_init(&h);
    size_t n;
    while ((n = fread(buf, 1, CHUNK, f)) > 0) rg_ir_hasher_update(&h, buf, n);
    if (ferror(f)) {
        st = rg_error_set(err, RG_ERR_IO, "cannot read '%s'", path);
        goto done;
    }
    *out = rg_ir_hasher_final(&h);
done:
    rg_mem_free(alloc, buf, CHUNK);
    fclose(f);
    return st;
}

static rg_status check_options(const rg_compile_options *options, rg_error *err) {
    if (options && options->approximate_gelu && options->no_optimize)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "--approximate-gelu needs the passes; drop --no-optimize");
    const char *target = options && options->target ? options->target : "cpu";
    if (strcmp(target, "cpu") != 0 && !rg_cg_cuda_target_known(target))
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "unknown target '%s' (cpu, sm_80, sm_86, sm_89, sm_90, sm_90a)",
                            target);
    /* the GEMM is wgmma code: only Hopper plans can carry it */
    if (options && options->persistent && !strcmp(target, "cpu"))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "--persistent is for GPU targets (sm_80 and later), not cpu");
    if (options && options->custom_gemm && !rg_kabi_wgmma_target_ok(target))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "--custom-gemm is for sm_90 and sm_90a targets, not %s",
                            target);
    if (options && options->dtype != RG_DTYPE_UNDEFINED) {
        rg_dtype d = options->dtype;
        if (d != RG_DTYPE_F32 && d != RG_DTYPE_F16 && d != RG_DTYPE_BF16)
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "compile dtype %d is not float32, float16 or bfloat16",
                                (int)d);
        if (d != RG_DTYPE_F32 && options->no_optimize)
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "--dtype %s needs the passes; drop --no-optimize",
                                rg_dtype_name(d));
    }
    return RG_OK;
}

static uint64_t constant_bytes(const rg_graph *g) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < g->nvalues; i++)
        if (g->values[i]->constant) total += g->values[i]->constant->nbytes;
    return total;
}

/* A pass outside the pipeline (asked for by an option), its errors naming the model. */
static rg_status run_one(rg_graph *g, const rg_pass *pass, const rg_pass_options *opt, const char *onnx_path,
                         rg_error *err) {
    const rg_pass *list[1] = {pass};
    rg_status st = rg_pass_run_list(g, list, 1, opt, NULL, err);
    return st == RG_OK ? RG_OK : rg_error_prefix(err, st, "%s", onnx_path);
}

rg_status rg_driver_compile(const char *onnx_path, const char *plan_path, const rg_compile_options *options,
                            rg_compile_stats *stats, rg_error *err) {
    if (!onnx_path || !plan_path)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_compile_file needs a model path and a plan path");
    RG_TRY(check_options(options, err));
    double start = now_seconds();
    rg_status st;
    rg_graph *g = NULL;
    rg_cg_cuda_kernels *kernels = NULL;
    uint64_t model_hash = 0;
    if ((st = hash_file(onnx_path, &model_hash, err)) != RG_OK) goto fail;
    if ((st = rg_onnx_import_file(onnx_path, NULL, &g, err)) != RG_OK) goto fail;
    if ((st = rg_infer_shapes(g, err)) != RG_OK || (st = rg_verify(g, err)) != RG_OK) {
        rg_error_prefix(err, st, "%s", onnx_path);
        goto fail;
    }
    size_t nodes_imported = g->nnodes;
    if (!(options && options->no_optimize)) {
        /* constant folding evaluates through the CPU kernels */
        rg_pass_options pass_options = {.eval = rg_tool_cpu_evaluator()};
        if ((st = rg_pass_run(g, &pass_options, NULL, err)) != RG_OK) {
            rg_error_prefix(err, st, "%s", onnx_path);
            goto fail;
        }
    }
    rg_dtype dtype = options ? options->dtype : RG_DTYPE_UNDEFINED;
    if (dtype == RG_DTYPE_F16 || dtype == RG_DTYPE_BF16) {
        static const rg_pass precision = {"precision", "compute in the compile dtype", rg_pass_precision};
        rg_pass_options pass_options = {.dtype = dtype};
        if ((st = run_one(g, &precision, &pass_options, onnx_path, err)) != RG_OK) goto fail;
    }
    if (options && options->approximate_gelu) {
        static const rg_pass approximate = {"approximate_gelu", "erf GELU epilogues -> tanh form",
                                            rg_pass_approximate_gelu};
        if ((st = run_one(g, &approximate, NULL, onnx_path, err)) != RG_OK) goto fail;
    }
    const char *target = options && options->target ? options->target : "cpu";
    if (strcmp(target, "cpu") != 0 &&
        (st = rg_cg_cuda_compile_graph_with(g, target, options && options->custom_gemm,
                                            options && options->persistent, NULL, &kernels, err)) != RG_OK) {
        rg_error_prefix(err, st, "%s for %s", onnx_path, target);
        goto fail;
    }

    /* pdl=1: every kernel of the plan waits for the one before it
     * (griddepcontrol.wait, sm_90), so the executor may launch each as a
     * programmatic dependent (docs/cuda.md, "Launch overlap") */
    char options_text[192];
    snprintf(options_text, sizeof options_text, "target=%s dtype=%s optimize=%d tf32=%d gelu=%s%s%s%s", target,
             dtype == RG_DTYPE_UNDEFINED ? "model" : rg_dtype_name(dtype), !(options && options->no_optimize),
             options && options->tf32 ? 1 : 0, options && options->approximate_gelu ? "tanh" : "model",
             options && options->custom_gemm ? " gemm=custom" : "", options && options->persistent ? " persistent=1" : "",
             rg_kabi_wgmma_target_ok(target) ? " pdl=1" : "");
    rg_cg_plan_options plan_options = {0};
    plan_options.target = target;
    plan_options.dtype = dtype;
    plan_options.model_hash = model_hash;
    plan_options.options_text = options_text;
    if (kernels) {
        plan_options.kernels = kernels->kernels;
        plan_options.nkernels = kernels->nkernels;
    }
    if ((st = rg_cg_write_plan(g, &plan_options, plan_path, err)) != RG_OK) goto fail;

    if (stats) {
        struct stat sb;
        rg_compile_stats s = {0};
        s.nodes_imported = nodes_imported;
        s.nodes = g->nnodes;
        s.values = g->nvalues;
        s.constant_bytes = constant_bytes(g);
        s.plan_bytes = stat(plan_path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        s.seconds = now_seconds() - start;
        s.kernel_modules = kernels ? kernels->nkernels : 0;
        s.nvrtc_seconds = kernels ? kernels->nvrtc_seconds : 0;
        *stats = s;
    }
    rg_cg_cuda_kernels_free(kernels);
    rg_graph_free(g);
    return RG_OK;
fail:
    rg_cg_cuda_kernels_free(kernels);
    rg_graph_free(g);
    return st;
}

rg_status rg_compile_file(const char *onnx_path, const char *plan_path, const rg_compile_options *options,
                          rg_error *err) {
    return rg_driver_compile(onnx_path, plan_path, options, NULL, err);
}
