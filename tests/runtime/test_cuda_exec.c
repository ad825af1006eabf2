/*
 * test_cuda_exec.c — whole models on the CUDA executor against the CPU
 * executor, and the GPU plan path on machines without a GPU.
 *
 * Here (no GPU): `--target sm_90` compiles an exported BERT (NVRTC works
 * without a GPU), the plan loads with its kernels, and a session in AUTO
 * runs it on the CPU with the same outputs as a CPU plan; RG_DEVICE_CUDA is
 * RG_ERR_DEVICE. On a GPU: the exported BERT variants (and MiniLM from the
 * model cache when present) are compiled for the device's arch in fp32, fp16
 * and bf16 and run on both executors: fp32 max relative error <= 1e-4;
 * fp16/bf16 Frobenius-relative <= 1e-2 against the model's fp32 numbers (the
 * fp32 CPU plan) and <= 1.5e-2 against the CPU executor in the same dtype
 * (two independent roundings), on the last hidden state. A shape beyond the
 * model (its position table) must fail alike on both. GPU cases skip with
 * the one-line no-GPU reason.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ragged.h"
#include "runtime/cuda_api.h"
#include "runtime/cuda_exec.h"
#include "exported_plan.h"

/* The device's arch ("sm_90"), or false with the reason. */
static bool gpu_arch(char *arch, size_t cap, char *why, size_t why_cap) {
    rg_rt_cuda *cuda = NULL;
    rg_error err = {0};
    if (rg_rt_cuda_open(NULL, &cuda, &err) != RG_OK) {
        snprintf(why, why_cap, "%s", err.message);
        return false;
    }
    rg_rt_cuda_device_info info;
    bool ok = rg_rt_cuda_device_info_get(cuda, 0, &info, &err) == RG_OK;
    if (ok) rg_rt_cuda_arch_name(&info, arch, cap);
    else snprintf(why, why_cap, "%s", err.message);
    rg_rt_cuda_close(cuda);
    return ok;
}

typedef struct outputs {
    size_t n;
    float *data[4];
    size_t count[4];
} outputs;

static void outputs_free(outputs *o) {
    for (size_t i = 0; i < o->n; i++) free(o->data[i]);
    o->n = 0;
}

/* Runs `plan` on `device` with ids/mask of batch x seq (the last sequence
 * right-padded by `pad`, left-padded by -pad when pad < 0; pad == seq masks
 * it entirely); float32 outputs copied out. On the GPU with persistent
 * launches as `mode` says; *persisted (when asked) tells whether the last
 * run's graph had any. */
static rg_status run_plan_mode(const char *plan_path, rg_device device, int64_t batch, int64_t seq, int64_t pad,
                               rg_persistent_mode mode, outputs *out, rg_device *used, bool *persisted,
                               rg_error *err) {
    rg_plan *plan = NULL;
    rg_status st = rg_plan_load(plan_path, &plan, err);
    if (st != RG_OK) return st;
    rg_session *s = NULL;
    rg_session_options opt = {device, 1};
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)(batch * seq)), *mask = malloc(sizeof(int64_t) * (size_t)(batch * seq));
    uint64_t state = 99;
    for (int64_t i = 0; i < batch * seq; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int64_t)((state >> 33) % 500);
        bool last = i / seq == batch - 1;
        mask[i] = (last && pad >= 0 && i % seq >= seq - pad) || (last && pad < 0 && i % seq < -pad) ? 0 : 1;
    }
    if ((st = rg_session_new(plan, &opt, &s, err)) != RG_OK) goto done;
    *used = rg_session_device(s);
    if ((st = rg_session_set_persistent(s, mode, err)) != RG_OK) goto done;
    int64_t dims[2] = {batch, seq};
    for (size_t i = 0; i < rg_plan_input_count(plan); i++) {
        rg_io_info info;
        rg_plan_input_info(plan, i, &info, NULL);
        const int64_t *data = strstr(info.name, "mask") ? mask : ids;
        if (strstr(info.name, "type")) data = mask; /* token types 0/1 */
        if ((st = rg_session_bind_input(s, info.name, RG_DTYPE_I64, 2, dims, data, err)) != RG_OK) goto done;
    }
    /* twice: the second run replays the captured graph */
    if ((st = rg_session_run(s, err)) != RG_OK || (st = rg_session_run(s, err)) != RG_OK) goto done;
    if (persisted) {
        rg_cuda_exec_stats stats = {0};
        if (rg_session_cuda_exec(s)) rg_cuda_exec_stats_get(rg_session_cuda_exec(s), &stats);
        *persisted = stats.last_run_persistent;
    }
    out->n = 0;
    for (size_t i = 0; i < rg_plan_output_count(plan) && i < 4; i++) {
        rg_io_info info;
        rg_plan_output_info(plan, i, &info, NULL);
        rg_tensor_view v;
        if ((st = rg_session_output(s, info.name, &v, err)) != RG_OK) goto done;
        cr_assert_eq(v.dtype, RG_DTYPE_F32, "output '%s' is %s", info.name, rg_dtype_name(v.dtype));
        out->count[i] = v.nbytes / 4;
        out->data[i] = malloc(v.nbytes ? v.nbytes : 1);
        memcpy(out->data[i], v.data, v.nbytes);
        out->n++;
    }
done:
    free(ids);
    free(mask);
    rg_session_free(s);
    rg_plan_free(plan);
    return st;
}

static rg_status run_plan(const char *plan_path, rg_device device, int64_t batch, int64_t seq, int64_t pad,
                          outputs *out, rg_device *used, rg_error *err) {
    return run_plan_mode(plan_path, device, batch, seq, pad, RG_PERSISTENT_AUTO, out, used, NULL, err);
}

static void compare(const outputs *got, const outputs *want, double *max_rel, double *frob_rel) {
    cr_assert_eq(got->n, want->n);
    *max_rel = 0;
    *frob_rel = 0;
    for (size_t i = 0; i < got->n; i++) {
        cr_assert_eq(got->count[i], want->count[i]);
        double num = 0, den = 0, diff = 0, scale = 0;
        for (size_t k = 0; k < got->count[i]; k++) {
            double a = got->data[i][k], b = want->data[i][k];
            cr_assert(!isnan(a), "NaN at output %zu element %zu", i, k);
            num += (a - b) * (a - b);
            den += b * b;
            if (fabs(a - b) > diff) diff = fabs(a - b);
            if (fabs(b) > scale) scale = fabs(b);
        }
        double m = scale > 0 ? diff / scale : diff, f = den > 0 ? sqrt(num / den) : sqrt(num);
        if (m > *max_rel) *max_rel = m;
        if (f > *frob_rel) *frob_rel = f;
    }
}

static void compile_or_fail(const char *model, const char *plan, const char *target, rg_dtype dtype) {
    rg_compile_options opt = {.target = target, .dtype = dtype};
    rg_error err = {0};
    cr_assert_eq(rg_compile_file(model, plan, &opt, &err), RG_OK, "%s for %s: %s", model, target, err.message);
}

Test(cuda_exec, gpu_plan_compiles_and_falls_back_here, .timeout = 120) {
    char model[1024], arch[16], why[RG_ERROR_MESSAGE_MAX];
    rg_test_exported_model("bert_L2_classic_o17", model, sizeof model);
    if (gpu_arch(arch, sizeof arch, why, sizeof why)) cr_skip_test("a GPU is present: the GPU tests below cover this");
    rg_compile_options probe = {.target = "sm_90", .dtype = RG_DTYPE_F16};
    rg_error err = {0};
    char gpu_plan[] = "/tmp/rg_cuda_exec_XXXXXX", cpu_plan[] = "/tmp/rg_cuda_exec_cpu_XXXXXX";
    int fd1 = mkstemp(gpu_plan), fd2 = mkstemp(cpu_plan);
    cr_assert(fd1 >= 0 && fd2 >= 0);
    close(fd1);
    close(fd2);
    rg_status st = rg_compile_file(model, gpu_plan, &probe, &err);
    if (st == RG_ERR_DEVICE) cr_skip_test("%s", err.message); /* no NVRTC here */
    cr_assert_eq(st, RG_OK, "%s", err.message);
    rg_plan *plan = NULL;
    cr_assert_eq(rg_plan_load(gpu_plan, &plan, &err), RG_OK, "%s", err.message);
    rg_session *s = NULL;
    rg_session_options cuda = {RG_DEVICE_CUDA, 1};
    cr_assert_eq(rg_session_new(plan, &cuda, &s, &err), RG_ERR_DEVICE, "%s", err.message);
    cr_assert(strstr(err.message, "no usable GPU"), "%s", err.message);
    rg_plan_free(plan);
    compile_or_fail(model, cpu_plan, "cpu", RG_DTYPE_F16);
    outputs a, b;
    rg_device used;
    cr_assert_eq(run_plan(gpu_plan, RG_DEVICE_AUTO, 2, 16, 5, &a, &used, &err), RG_OK, "%s", err.message);
    cr_assert_eq(used, RG_DEVICE_CPU);
    cr_assert_eq(run_plan(cpu_plan, RG_DEVICE_CPU, 2, 16, 5, &b, &used, &err), RG_OK, "%s", err.message);
    double m, f;
    compare(&a, &b, &m, &f);
    cr_assert_eq(m, 0, "the sm_90 plan on the CPU differs from the CPU plan: %g", m);
    outputs_free(&a);
    outputs_free(&b);
    unlink(gpu_plan);
    unlink(cpu_plan);
}

/* Whether a run failed because the shape is beyond what the model takes
 * (its position table): both executors must then fail the same way. */
static bool beyond_model(rg_status st, const rg_error *err) {
    return st == RG_ERR_SHAPE || (st == RG_ERR_INVALID_ARGUMENT && strstr(err->message, "out of range"));
}

/* bf16_bound: the bf16 bound against the model's fp32 numbers (1e-2, the
 * issue's bound, unless a model's own bf16 rounding is known to exceed it). */
static void gpu_model(const char *model, double bf16_bound, bool expect_persistent) {
    char arch[16], why[RG_ERROR_MESSAGE_MAX];
    if (!gpu_arch(arch, sizeof arch, why, sizeof why)) cr_skip_test("%s", why);
    if (access(model, R_OK) != 0) cr_skip_test("%s is missing", model);
    /* RG_GPU_TEST_DTYPE=fp16 (or fp32, bf16) runs one dtype, e.g. under compute-sanitizer */
    const char *only = getenv("RG_GPU_TEST_DTYPE");
    static const rg_dtype dtypes[3] = {RG_DTYPE_F32, RG_DTYPE_F16, RG_DTYPE_BF16};
    /* padded batches, one token, a fully masked sequence, left padding (the general kernel) */
    static const int64_t shapes[6][3] = {{1, 16, 0}, {2, 32, 7}, {4, 128, 40}, {1, 1, 0}, {3, 24, 24}, {2, 20, -6}};
    /* the model's own numbers: the fp32 CPU plan (what ONNX Runtime computes), the reference for the
     * fp16/bf16 bound; each low-precision run is also compared with the CPU executor in its dtype */
    char ref_plan[] = "/tmp/rg_cuda_ref_XXXXXX";
    int fd0 = mkstemp(ref_plan);
    close(fd0);
    compile_or_fail(model, ref_plan, "cpu", RG_DTYPE_F32);
    for (int d = 0; d < 3; d++) {
        static const char *const names[3] = {"fp32", "fp16", "bf16"};
        if (only && strcmp(only, names[d])) continue;
        char gpu_plan[] = "/tmp/rg_cuda_gpu_XXXXXX", cpu_plan[] = "/tmp/rg_cuda_cpu_XXXXXX";
        int fd1 = mkstemp(gpu_plan), fd2 = mkstemp(cpu_plan);
        close(fd1);
        close(fd2);
        /* with the persistent module: the runs below time it (auto) and force it (on) */
        rg_compile_options with = {.target = arch, .dtype = dtypes[d], .persistent = 1};
        rg_error cerr = {0};
        cr_assert_eq(rg_compile_file(model, gpu_plan, &with, &cerr), RG_OK, "%s: %s", model, cerr.message);
        compile_or_fail(model, cpu_plan, "cpu", dtypes[d]);
        for (int c = 0; c < 6; c++) {
            outputs got, want, ref;
            rg_device used;
            rg_error err = {0}, cpu_err = {0};
            rg_status st = run_plan(gpu_plan, RG_DEVICE_CUDA, shapes[c][0], shapes[c][1], shapes[c][2], &got, &used, &err);
            rg_status cst = run_plan(cpu_plan, RG_DEVICE_CPU, shapes[c][0], shapes[c][1], shapes[c][2], &want, &used,
                                     &cpu_err);
            if (beyond_model(st, &err)) {
                cr_assert_eq(cst, st, "%s %s: the GPU fails with '%s', the CPU with '%s'", model,
                             rg_dtype_name(dtypes[d]), err.message, cpu_err.message);
                if (cst == RG_OK) outputs_free(&want);
                continue;
            }
            cr_assert_eq(st, RG_OK, "%s %s: %s", model, rg_dtype_name(dtypes[d]), err.message);
            cr_assert_eq(cst, RG_OK, "%s", cpu_err.message);
            double m, f, rm = 0, rf = 0, cm = 0, cf = 0;
            compare(&got, &want, &m, &f);
            if (dtypes[d] != RG_DTYPE_F32) {
                cr_assert_eq(run_plan(ref_plan, RG_DEVICE_CPU, shapes[c][0], shapes[c][1], shapes[c][2], &ref, &used,
                                      &err), RG_OK, "%s", err.message);
                compare(&got, &ref, &rm, &rf);
                compare(&want, &ref, &cm, &cf);
                outputs_free(&ref);
            }
            printf("%s %s %lldx%lld pad %lld: max rel %.3g, Frobenius rel %.3g", strrchr(model, '/') + 1,
                   rg_dtype_name(dtypes[d]), (long long)shapes[c][0], (long long)shapes[c][1], (long long)shapes[c][2],
                   m, f);
            if (dtypes[d] != RG_DTYPE_F32) printf("; against fp32: GPU %.3g, CPU %.3g (Frobenius rel)", rf, cf);
            printf("\n");
            fflush(stdout);
            if (dtypes[d] == RG_DTYPE_F32) {
                cr_expect(m <= 1e-4, "%s fp32: max relative error %g", model, m);
            } else {
                /* the bound on precision: against the model's fp32 numbers */
                double bound = dtypes[d] == RG_DTYPE_BF16 ? bf16_bound : 1e-2;
                cr_expect(rf <= bound, "%s %s: Frobenius relative error %g against fp32 (bound %g)", model,
                          rg_dtype_name(dtypes[d]), rf, bound);
                /* against the CPU in the same dtype: two independent roundings, each within the bound, can
                 * differ by up to sqrt(2) of it */
                cr_expect(f <= 1.5e-2, "%s %s: Frobenius relative error %g against the CPU executor", model,
                          rg_dtype_name(dtypes[d]), f);
                /* the same with every run of nodes the persistent kernel takes as one launch */
                outputs pk;
                bool persisted = false;
                cr_assert_eq(run_plan_mode(gpu_plan, RG_DEVICE_CUDA, shapes[c][0], shapes[c][1], shapes[c][2],
                                           RG_PERSISTENT_ON, &pk, &used, &persisted, &err), RG_OK, "%s %s persistent: %s",
                             model, rg_dtype_name(dtypes[d]), err.message);
                double pm, pf;
                compare(&pk, &want, &pm, &pf);
                printf("  persistent launches: %s; against the CPU executor: max rel %.3g, Frobenius rel %.3g\n",
                       persisted ? "yes" : "no", pm, pf);
                cr_expect(pf <= 1.5e-2, "%s %s persistent: Frobenius relative error %g against the CPU executor",
                          model, rg_dtype_name(dtypes[d]), pf);
                if (expect_persistent)
                    cr_expect(persisted, "%s %s %lldx%lld: no persistent launch", model, rg_dtype_name(dtypes[d]),
                              (long long)shapes[c][0], (long long)shapes[c][1]);
                outputs_free(&pk);
            }
            outputs_free(&got);
            outputs_free(&want);
        }
        unlink(gpu_plan);
        unlink(cpu_plan);
    }
    unlink(ref_plan);
}

/* persistent: the model's every layer is runs of nodes the persistent kernel takes (BERT-like), so an fp16 or
 * bf16 run must have persistent launches when asked for them (left padding, the general attention kernel,
 * splits the runs but leaves some) */
#define GPU_MODEL(test, file, persistent)                                                                        \
    Test(cuda_exec, test, .timeout = 600) {                                                                    \
        char path[1024];                                                                                       \
        snprintf(path, sizeof path, "%s/%s", rg_test_source_dir(), file);                                      \
        gpu_model(path, 1e-2, persistent);                                                                     \
    }

GPU_MODEL(bert_L2_classic_o17, "tests/data/exported/bert_L2_classic_o17.onnx", true)
GPU_MODEL(bert_L2_dynamo_o18, "tests/data/exported/bert_L2_dynamo_o18.onnx", true)
GPU_MODEL(bert_L4_dynamo_o20, "tests/data/exported/bert_L4_dynamo_o20.onnx", true)
GPU_MODEL(bert_L12_classic_o17, "tests/data/exported/bert_L12_classic_o17.onnx", true)
GPU_MODEL(minilm_L3, "models/cache/paraphrase-MiniLM-L3-v2/model.onnx", false)
GPU_MODEL(gpt2_L2_classic_o17, "tests/data/exported/gpt2_L2_classic_o17.onnx", false)
GPU_MODEL(gpt2_L2_dynamo_o18, "tests/data/exported/gpt2_L2_dynamo_o18.onnx", false)
GPU_MODEL(mpnet_L2_classic_o17, "tests/data/exported/mpnet_L2_classic_o17.onnx", false)

/* The int8 all-MiniLM-L6: models/fetch.sh's copy, else the one
 * bench/gpu-check.sh carries in .gpu-models/. */
static void minilm_int8_path(char *path, size_t cap) {
    snprintf(path, cap, "%s/models/cache/all-MiniLM-L6-v2-int8/model.onnx", rg_test_source_dir());
    if (access(path, R_OK) != 0) snprintf(path, cap, "%s/.gpu-models/all-MiniLM-L6-v2-int8.onnx", rg_test_source_dir());
}

/* The int8 all-MiniLM-L6 (key_padding, empty rows "uniform"). */
Test(cuda_exec, minilm_L6_int8, .timeout = 600) {
    char path[1024];
    minilm_int8_path(path, sizeof path);
    /* In bf16 this trained model lands 1.5-1.8e-2 from its fp32 numbers on the
     * CPU executor as on the GPU (H100, 2026-11-25): the format's rounding over
     * six layers, not the GPU's doing; the GPU-vs-CPU check in bf16 stays. */
    gpu_model(path, 2.5e-2, false);
}

/* --approximate-gelu on a trained model (the random-weight exports keep GELU
 * inputs near 0, where the two forms agree to 1e-6): on the CPU the fp32
 * plan with the tanh GELU stays within 5e-3 (Frobenius) of the exact one
 * (measured 1.9-2.4e-3 on the int8 all-MiniLM-L6, 2026-11-25); on a GPU the
 * fp16 plan with it (GELU in cuBLASLt's epilogue) stays within the issue's
 * 1e-2 of the exact fp32 numbers. */
static void approximate_gelu_model(const char *model) {
    if (access(model, R_OK) != 0) cr_skip_test("%s is missing", model);
    char exact[] = "/tmp/rg_gelu_exact_XXXXXX", approx[] = "/tmp/rg_gelu_approx_XXXXXX";
    int fd1 = mkstemp(exact), fd2 = mkstemp(approx);
    close(fd1);
    close(fd2);
    compile_or_fail(model, exact, "cpu", RG_DTYPE_F32);
    rg_compile_options opt = {.target = "cpu", .dtype = RG_DTYPE_F32, .approximate_gelu = 1};
    rg_error err = {0};
    cr_assert_eq(rg_compile_file(model, approx, &opt, &err), RG_OK, "%s", err.message);
    static const int64_t shapes[3][3] = {{1, 16, 0}, {2, 32, 7}, {4, 128, 40}};
    char arch[16], why[RG_ERROR_MESSAGE_MAX];
    bool gpu = gpu_arch(arch, sizeof arch, why, sizeof why);
    char gpu_plan[] = "/tmp/rg_gelu_gpu_XXXXXX";
    if (gpu) {
        int fd3 = mkstemp(gpu_plan);
        close(fd3);
        rg_compile_options g = {.target = arch, .dtype = RG_DTYPE_F16, .approximate_gelu = 1};
        cr_assert_eq(rg_compile_file(model, gpu_plan, &g, &err), RG_OK, "%s", err.message);
    }
    for (int c = 0; c < 3; c++) {
        outputs want, got;
        rg_device used;
        cr_assert_eq(run_plan(exact, RG_DEVICE_CPU, shapes[c][0], shapes[c][1], shapes[c][2], &want, &used, &err),
                     RG_OK, "%s", err.message);
        cr_assert_eq(run_plan(approx, RG_DEVICE_CPU, shapes[c][0], shapes[c][1], shapes[c][2], &got, &used, &err),
                     RG_OK, "%s", err.message);
        double m, f, gm = 0, gf = 0;
        compare(&got, &want, &m, &f);
        outputs_free(&got);
        if (gpu) {
            cr_assert_eq(run_plan(gpu_plan, RG_DEVICE_CUDA, shapes[c][0], shapes[c][1], shapes[c][2], &got, &used,
                                  &err), RG_OK, "%s", err.message);
            compare(&got, &want, &gm, &gf);
            outputs_free(&got);
        }
        printf("%s --approximate-gelu %lldx%lld: CPU fp32 vs exact: max rel %.3g, Frobenius rel %.3g", model,
               (long long)shapes[c][0], (long long)shapes[c][1], m, f);
        if (gpu) printf("; GPU fp16 vs exact fp32: Frobenius rel %.3g", gf);
        printf("\n");
        fflush(stdout);
        cr_expect(f > 0, "the approximation changed nothing");
        cr_expect(f <= 5e-3, "%s: tanh GELU is %g (Frobenius) from the exact fp32 numbers", model, f);
        if (gpu) cr_expect(gf <= 1e-2, "%s: fp16 with tanh GELU on the GPU is %g from exact fp32", model, gf);
        outputs_free(&want);
    }
    if (!gpu) printf("GPU half of the --approximate-gelu check skipped: %s\n", why);
    unlink(exact);
    unlink(approx);
    if (gpu) unlink(gpu_plan);
}

Test(cuda_exec, approximate_gelu_minilm_L6_int8, .timeout = 600) {
    char path[1024];
    minilm_int8_path(path, sizeof path);
    approximate_gelu_model(path);
}

/* ------------------------------------------- data movement on device values
 *
 * A hand-built graph whose values are on the device from its first Gather
 * (a constant float table, host ids) on: Transpose, Slice with a negative
 * step, Concat, Unsqueeze, Expand, Where over a host condition and a scalar,
 * Gather on axis 1 with int32 indices (one negative), a float Cast to int64
 * feeding a Gather whose indices are device data, and a Reshape. Movement is
 * exact, so the GPU must equal the CPU executor bit for bit. An id out of
 * range is caught on the host; a device index out of range (row 9 of the
 * table holds 50) fails the run after it, naming the node. Here (no GPU)
 * the CPU half runs and the GPU half is skipped with the reason. */

#include "codegen/cuda_plan.h"
#include "codegen/plan_write.h"
#include "runtime/plan.h"

static rg_value *mv_value(rg_graph *g, const char *name, rg_dtype dt, int rank, const int64_t *dims) {
    rg_dim d[RG_MAX_RANK];
    for (int i = 0; i < rank; i++) d[i] = rg_dim_const(dims[i]);
    rg_value *v;
    cr_assert_eq(rg_graph_add_value(g, name, dt, rank, d, &v, NULL), RG_OK);
    return v;
}

static rg_value *mv_const(rg_graph *g, const char *name, rg_dtype dt, int rank, const int64_t *dims, const void *data) {
    rg_tensor *t;
    cr_assert_eq(rg_graph_new_tensor(g, dt, rank, dims, &t, NULL), RG_OK);
    memcpy(t->data, data, t->nbytes);
    rg_value *v = mv_value(g, name, dt, rank, dims);
    cr_assert_eq(rg_value_set_constant(g, v, t, NULL), RG_OK);
    return v;
}

static rg_node *mv_node(rg_graph *g, rg_op op, const char *name, uint32_t nin, rg_value *const *ins, rg_value *out) {
    rg_node *n;
    cr_assert_eq(rg_graph_add_node(g, op, name, 17, nin, ins, 1, &out, &n, NULL), RG_OK);
    return n;
}

static rg_graph *movement_graph(void) {
    rg_graph *g;
    cr_assert_eq(rg_graph_new(NULL, &g, NULL), RG_OK);
    g->opset = 17;
    float table[60];
    for (int i = 0; i < 60; i++) table[i] = i >= 54 ? 50.0f : (float)((i * 7) % 19 - 9); /* row 9: out of range */
    static const int64_t d_table[2] = {10, 6}, d4[1] = {4}, d46[2] = {4, 6}, d64[2] = {6, 4}, d34[2] = {3, 4},
                         d94[2] = {9, 4}, d194[3] = {1, 9, 4}, d294[3] = {2, 9, 4}, d2[1] = {2}, d3[1] = {3},
                         d1[1] = {1}, d93[2] = {9, 3}, d466[3] = {4, 6, 6}, d436[2] = {4, 36};
    rg_value *tab = mv_const(g, "table", RG_DTYPE_F32, 2, d_table, table);
    rg_value *ids = mv_value(g, "ids", RG_DTYPE_I64, 1, d4), *cond = mv_value(g, "cond", RG_DTYPE_BOOL, 2, d94);
    cr_assert_eq(rg_graph_add_input(g, ids, NULL), RG_OK);
    cr_assert_eq(rg_graph_add_input(g, cond, NULL), RG_OK);
    rg_value *g1 = mv_value(g, "g1", RG_DTYPE_F32, 2, d46);
    mv_node(g, RG_OP_GATHER, "gather_rows", 2, (rg_value *[]){tab, ids}, g1);
    rg_value *t = mv_value(g, "t", RG_DTYPE_F32, 2, d64);
    rg_node *tn = mv_node(g, RG_OP_TRANSPOSE, "transpose", 1, (rg_value *[]){g1}, t);
    static int64_t perm[2] = {1, 0};
    static rg_attr perm_attr = {.name = "perm", .kind = RG_ATTR_INTS, .count = 2, .ints = perm};
    rg_node_set_attrs(tn, 1, &perm_attr);
    static const int64_t starts[2] = {5, 0}, ends[2] = {-100, 4}, axes[2] = {0, 1}, steps[2] = {-2, 1};
    rg_value *s = mv_value(g, "s", RG_DTYPE_F32, 2, d34);
    mv_node(g, RG_OP_SLICE, "slice", 5,
            (rg_value *[]){t, mv_const(g, "starts", RG_DTYPE_I64, 1, d2, starts), mv_const(g, "ends", RG_DTYPE_I64, 1, d2, ends),
                           mv_const(g, "axes", RG_DTYPE_I64, 1, d2, axes), mv_const(g, "steps", RG_DTYPE_I64, 1, d2, steps)},
            s);
    rg_value *c = mv_value(g, "c", RG_DTYPE_F32, 2, d94);
    rg_node *cn = mv_node(g, RG_OP_CONCAT, "concat", 2, (rg_value *[]){s, t}, c);
    static rg_attr axis0 = {.name = "axis", .kind = RG_ATTR_INT, .i = 0};
    rg_node_set_attrs(cn, 1, &axis0);
    static const int64_t zero_axis[1] = {0}, expand_to[3] = {2, 9, 4}, reshape_to[2] = {4, 36};
    rg_value *u = mv_value(g, "u", RG_DTYPE_F32, 3, d194), *ex = mv_value(g, "expanded", RG_DTYPE_F32, 3, d294);
    mv_node(g, RG_OP_UNSQUEEZE, "unsqueeze", 2, (rg_value *[]){c, mv_const(g, "uaxes", RG_DTYPE_I64, 1, d1, zero_axis)}, u);
    mv_node(g, RG_OP_EXPAND, "expand", 2, (rg_value *[]){u, mv_const(g, "eshape", RG_DTYPE_I64, 1, d3, expand_to)}, ex);
    static const float zero = 0.0f;
    rg_value *w = mv_value(g, "where", RG_DTYPE_F32, 2, d94);
    mv_node(g, RG_OP_WHERE, "where", 3, (rg_value *[]){cond, c, mv_const(g, "zero", RG_DTYPE_F32, 0, NULL, &zero)}, w);
    static const int32_t cols[3] = {3, -1, 0};
    rg_value *ga = mv_value(g, "cols", RG_DTYPE_F32, 2, d93);
    rg_node *gan = mv_node(g, RG_OP_GATHER, "gather_cols", 2, (rg_value *[]){c, mv_const(g, "ci", RG_DTYPE_I32, 1, d3, cols)}, ga);
    static rg_attr axis1 = {.name = "axis", .kind = RG_ATTR_INT, .i = 1};
    rg_node_set_attrs(gan, 1, &axis1);
    rg_value *ci = mv_value(g, "ci64", RG_DTYPE_I64, 2, d46);
    rg_node *cast = mv_node(g, RG_OP_CAST, "cast", 1, (rg_value *[]){g1}, ci);
    static rg_attr to_i64 = {.name = "to", .kind = RG_ATTR_INT, .i = 7};
    rg_node_set_attrs(cast, 1, &to_i64);
    rg_value *g3 = mv_value(g, "g3", RG_DTYPE_F32, 3, d466), *r = mv_value(g, "reshaped", RG_DTYPE_F32, 2, d436);
    mv_node(g, RG_OP_GATHER, "gather_device_indices", 2, (rg_value *[]){tab, ci}, g3);
    mv_node(g, RG_OP_RESHAPE, "reshape", 2, (rg_value *[]){g3, mv_const(g, "rshape", RG_DTYPE_I64, 1, d2, reshape_to)}, r);
    rg_value *outs[4] = {ex, w, ga, r};
    for (int i = 0; i < 4; i++) cr_assert_eq(rg_graph_add_output(g, outs[i], NULL), RG_OK);
    return g;
}

/* Runs the plan on `device` with these ids; the four outputs (324 floats) into out. */
static rg_status movement_run(const rg_plan *plan, rg_device device, const int64_t *ids, float *out, rg_error *err) {
    rg_session *s = NULL;
    rg_session_options opt = {device, 1};
    bool cond[36];
    for (int i = 0; i < 36; i++) cond[i] = (i * 5) % 3 != 0;
    int64_t d4[1] = {4}, d94[2] = {9, 4};
    rg_status st = rg_session_new(plan, &opt, &s, err);
    if (st == RG_OK) st = rg_session_bind_input(s, "ids", RG_DTYPE_I64, 1, d4, ids, err);
    if (st == RG_OK) st = rg_session_bind_input(s, "cond", RG_DTYPE_BOOL, 2, d94, cond, err);
    /* twice: the second run replays the captured graph */
    if (st == RG_OK) st = rg_session_run(s, err);
    if (st == RG_OK) st = rg_session_run(s, err);
    static const char *const names[4] = {"expanded", "where", "cols", "reshaped"};
    static const size_t counts[4] = {72, 36, 27, 144};
    for (int i = 0, at = 0; st == RG_OK && i < 4; at += (int)counts[i], i++) {
        rg_tensor_view v;
        st = rg_session_output(s, names[i], &v, err);
        if (st != RG_OK) break;
        cr_assert_eq(v.nbytes, counts[i] * sizeof(float), "output %s", names[i]);
        memcpy(out + at, v.data, v.nbytes);
    }
    rg_session_free(s);
    return st;
}

Test(cuda_exec, data_movement_on_device, .timeout = 120) {
    char arch[16] = "sm_90", why[RG_ERROR_MESSAGE_MAX] = "";
    bool gpu = gpu_arch(arch, sizeof arch, why, sizeof why);
    rg_graph *g = movement_graph();
    rg_cg_cuda_kernels *k = NULL;
    rg_error err = {0};
    rg_status st = rg_cg_cuda_compile_graph(g, arch, NULL, &k, &err);
    if (st == RG_ERR_DEVICE) {
        rg_graph_free(g);
        cr_skip_test("%s", err.message); /* no NVRTC */
    }
    cr_assert_eq(st, RG_OK, "%s", err.message);
    rg_cg_plan_options po = {arch, RG_DTYPE_UNDEFINED, 0, NULL, k->kernels, k->nkernels};
    void *data = NULL;
    size_t size = 0;
    cr_assert_eq(rg_cg_write_plan_memory(g, &po, NULL, &data, &size, &err), RG_OK, "%s", err.message);
    rg_plan *plan = NULL;
    cr_assert_eq(rg_rt_plan_load_memory(data, size, NULL, &plan, &err), RG_OK, "%s", err.message);
    static const int64_t ids[4] = {2, 0, 7, 3}, bad_host[4] = {2, 10, 0, 1}, bad_device[4] = {1, 9, 0, 2};
    float want[279], got[279];
    cr_assert_eq(movement_run(plan, RG_DEVICE_CPU, ids, want, &err), RG_OK, "%s", err.message);
    cr_assert_eq(movement_run(plan, RG_DEVICE_CPU, bad_host, want + 0, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(movement_run(plan, RG_DEVICE_CPU, ids, want, &err), RG_OK, "%s", err.message);
    if (gpu) {
        cr_assert_eq(movement_run(plan, RG_DEVICE_CUDA, ids, got, &err), RG_OK, "%s", err.message);
        for (int i = 0; i < 279; i++) cr_assert_eq(got[i], want[i], "element %d: %g, CPU %g", i, got[i], want[i]);
        st = movement_run(plan, RG_DEVICE_CUDA, bad_host, got, &err);
        cr_assert_eq(st, RG_ERR_INVALID_ARGUMENT, "%s", err.message);
        cr_assert(strstr(err.message, "gather_rows"), "%s", err.message);
        st = movement_run(plan, RG_DEVICE_CUDA, bad_device, got, &err);
        cr_assert_eq(st, RG_ERR_INVALID_ARGUMENT, "%s", err.message);
        cr_assert(strstr(err.message, "gather_device_indices"), "%s", err.message);
    }
    rg_plan_free(plan);
    rg_mem_free(rg_allocator_default(), data, size);
    rg_cg_cuda_kernels_free(k);
    rg_graph_free(g);
    if (!gpu) cr_skip_test("CPU half only: %s", why);
}
