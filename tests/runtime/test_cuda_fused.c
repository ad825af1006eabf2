/*
 * Generated batch-reduction kernels (codegen/cuda_fused.h) on the GPU
 * against the CPU executor's kernels (rg_cpu_fused, the LayerNorm kernel):
 * softmax with scale and broadcast mask, a bias+GELU chain, LayerNorm with
 * bias, residual and the sum output, and a program using every opcode and
 * store mode, at row lengths 1, 3, 127, 768, 1024, 4096 and many rows, in
 * f32 (max error relative to the largest value <= 1e-4) and f16/bf16
 * (Frobenius-relative <= 1e-2); the scalar variant through a misaligned
 * pointer; and the launch helper's shape checks. The bandwidth test times
 * LayerNorm and softmax against a device-to-device copy moving the same
 * bytes and prints GB/s. Without a GPU every test skips with the one-line
 * reason from rg_rt_cuda_open.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../codegen/cuda_fused_fixtures.h"
#include "codegen/cuda_fused.h"
#include "codegen/nvrtc.h"
#include "ir/dtype.h"
#include "runtime/cpu_internal.h"
#include "runtime/cuda_fused.h"

typedef struct gpu {
    rg_rt_cuda *cuda;
    rg_cg_nvrtc *nvrtc;
    char arch[16];
    rg_rt_cuda_stream stream;
} gpu;

static void gpu_open(gpu *g) {
    memset(g, 0, sizeof *g);
    rg_error err = {0};
    if (rg_rt_cuda_open(NULL, &g->cuda, &err) != RG_OK) {
        cr_assert(strchr(err.message, '\n') == NULL);
        cr_skip_test("no GPU here, GPU checks skipped: %s", err.message);
    }
    rg_rt_cuda_device_info info;
    cr_assert_eq(rg_rt_cuda_device_info_get(g->cuda, 0, &info, &err), RG_OK, "%s", err.message);
    rg_rt_cuda_arch_name(&info, g->arch, sizeof g->arch);
    cr_assert_eq(rg_rt_cuda_set_device(g->cuda, 0, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_cg_nvrtc_open(NULL, &g->nvrtc, &err), RG_OK, "GPU present but %s", err.message);
    cr_assert_eq(rg_rt_cuda_stream_new(g->cuda, &g->stream, &err), RG_OK, "%s", err.message);
}

static void gpu_close(gpu *g) {
    rg_rt_cuda_stream_free(g->cuda, g->stream);
    rg_cg_nvrtc_close(g->nvrtc);
    rg_rt_cuda_close(g->cuda);
}

/* A compiled and loaded kernel pair. */
typedef struct loaded {
    rg_kabi_fused_kernel k;
    rg_rt_cuda_library lib;
    rg_rt_cuda_kernel vec, scalar;
} loaded;

static void load_kernel(gpu *g, const rg_node *n, rg_dtype dt, int64_t len, loaded *out) {
    rg_cg_emit e;
    rg_cg_emit_init(&e, NULL);
    rg_error err = {0};
    cr_assert_eq(rg_cg_fused_emit(n, "rg_test", dt, len, &e, &out->k, &err), RG_OK, "%s", err.message);
    void *cubin = NULL;
    size_t size = 0;
    cr_assert_eq(rg_cg_nvrtc_compile(g->nvrtc, rg_cg_emit_text(&e), n->name, g->arch, NULL, &cubin, &size, &err),
                 RG_OK, "%s", err.message);
    rg_cg_emit_deinit(&e);
    cr_assert_eq(rg_rt_cuda_library_load(g->cuda, cubin, size, n->name, &out->lib, &err), RG_OK, "%s", err.message);
    free(cubin);
    out->vec = NULL;
    if (out->k.vec_name[0])
        cr_assert_eq(rg_rt_cuda_kernel_get(g->cuda, out->lib, out->k.vec_name, &out->vec, &err), RG_OK, "%s",
                     err.message);
    cr_assert_eq(rg_rt_cuda_kernel_get(g->cuda, out->lib, out->k.scalar_name, &out->scalar, &err), RG_OK, "%s",
                 err.message);
}

static uint32_t next_random(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Host tensors for the node's inputs with the node's static shapes. */
static void host_inputs(const rg_node *n, rg_dtype dt, rg_tensor *t, uint32_t seed) {
    for (uint32_t i = 0; i < n->ninputs; i++) {
        const rg_value *v = n->inputs[i];
        int64_t dims[RG_MAX_RANK];
        for (int d = 0; d < v->rank; d++) cr_assert(rg_dim_is_const(&v->dims[d], &dims[d]));
        cr_assert_eq(rg_tensor_set_shape(&t[i], dt, v->rank, dims, NULL), RG_OK);
        t[i].data = malloc(t[i].nbytes ? t[i].nbytes : 1);
        size_t count = rg_tensor_numel(&t[i]);
        for (size_t k = 0; k < count; k++) {
            float x = (float)(next_random(&seed) % 20001) / 5000.0f - 2.0f;
            if (dt == RG_DTYPE_F32) ((float *)t[i].data)[k] = x;
            else if (dt == RG_DTYPE_F16) ((uint16_t *)t[i].data)[k] = rg_f32_to_f16(x);
            else ((uint16_t *)t[i].data)[k] = rg_f32_to_bf16(x);
        }
    }
}

static double value_at(const rg_tensor *t, size_t k) {
    if (t->dtype == RG_DTYPE_F32) return ((const float *)t->data)[k];
    if (t->dtype == RG_DTYPE_F16) return rg_f16_to_f32(((const uint16_t *)t->data)[k]);
    return rg_bf16_to_f32(((const uint16_t *)t->data)[k]);
}

/* f32: max |g - c| over max |c|; f16/bf16: ||g - c|| / ||c||. */
static double compare(const rg_tensor *ref, const void *got_data) {
    rg_tensor got = *ref;
    got.data = (void *)got_data;
    size_t count = rg_tensor_numel(ref);
    double diff = 0, scale = 0, sq_diff = 0, sq_ref = 0;
    for (size_t k = 0; k < count; k++) {
        double c = value_at(ref, k), g = value_at(&got, k);
        if (isnan(c) != isnan(g)) return INFINITY;
        if (isnan(c)) continue;
        diff = fmax(diff, fabs(g - c));
        scale = fmax(scale, fabs(c));
        sq_diff += (g - c) * (g - c);
        sq_ref += c * c;
    }
    if (ref->dtype == RG_DTYPE_F32) return diff == 0 ? 0 : diff / fmax(scale, 1e-30);
    return sq_diff == 0 ? 0 : sqrt(sq_diff / fmax(sq_ref, 1e-60));
}

/* Runs node on the CPU and on the GPU (element offset `misalign` on input 0
 * to force the scalar variant) and compares every output. */
static void check_node(gpu *g, const rg_node *n, rg_dtype dt, int64_t len, size_t misalign, uint32_t seed) {
    rg_error err = {0};
    rg_tensor in[8];
    memset(in, 0, sizeof in);
    host_inputs(n, dt, in, seed);
    rg_cpu_ctx ctx = {.alloc = rg_allocator_default(), .num_threads = 1};
    rg_tensor ref[8];
    memset(ref, 0, sizeof ref);
    const rg_tensor *in_ptrs[8];
    for (uint32_t i = 0; i < n->ninputs; i++) in_ptrs[i] = &in[i];
    rg_cpu_kernel cpu = n->op == RG_OP_FUSED ? rg_cpu_fused : rg_cpu_kernel_for(n->op);
    cr_assert_eq(cpu(&ctx, n, in_ptrs, ref, &err), RG_OK, "CPU: %s", err.message);

    loaded L;
    load_kernel(g, n, dt, len, &L);
    rg_tensor dev_in[8];
    void *dev_base[8], *dev_out[8] = {0};
    const rg_tensor *dev_ptrs[8];
    size_t esize = rg_dtype_size(dt);
    for (uint32_t i = 0; i < n->ninputs; i++) {
        size_t off = i == 0 ? misalign * esize : 0;
        dev_in[i] = in[i];
        cr_assert_eq(rg_rt_cuda_malloc(g->cuda, in[i].nbytes + off + 1, &dev_base[i], &err), RG_OK, "%s", err.message);
        dev_in[i].data = (char *)dev_base[i] + off;
        cr_assert_eq(rg_rt_cuda_copy_to_device(g->cuda, dev_in[i].data, in[i].data, in[i].nbytes, NULL, &err), RG_OK,
                     "%s", err.message);
        dev_ptrs[i] = &dev_in[i];
    }
    for (uint32_t j = 0; j < n->noutputs; j++) {
        cr_assert_eq(rg_rt_cuda_malloc(g->cuda, ref[j].nbytes + 1, &dev_out[j], &err), RG_OK, "%s", err.message);
        cr_assert_eq(rg_rt_cuda_memset(g->cuda, dev_out[j], 0xff, ref[j].nbytes, NULL, &err), RG_OK, "%s", err.message);
    }
    rg_kabi_fused_params params;
    bool vec;
    cr_assert_eq(rg_rt_fused_prepare(&L.k, dev_ptrs, dev_out, &params, &vec, &err), RG_OK, "%s", err.message);
    if (misalign) cr_assert_not(vec, "a misaligned input must take the scalar variant");
    cr_assert_eq(rg_rt_fused_launch(g->cuda, &L.k, L.vec, L.scalar, dev_ptrs, dev_out, g->stream, &err), RG_OK, "%s",
                 err.message);
    cr_assert_eq(rg_rt_cuda_stream_sync(g->cuda, g->stream, &err), RG_OK, "%s", err.message);
    for (uint32_t j = 0; j < n->noutputs; j++) {
        void *host = malloc(ref[j].nbytes ? ref[j].nbytes : 1);
        cr_assert_eq(rg_rt_cuda_copy_to_host(g->cuda, host, dev_out[j], ref[j].nbytes, NULL, &err), RG_OK, "%s",
                     err.message);
        double rel = compare(&ref[j], host);
        double bound = dt == RG_DTYPE_F32 ? 1e-4 : 1e-2;
        cr_assert(rel <= bound, "%s output %u, %s, rows of %lld (%lld rows, %s variant): relative error %g > %g",
                  n->name, j, rg_dtype_name(dt), (long long)len, (long long)params.rows, vec ? "vector" : "scalar",
                  rel, bound);
        free(host);
        rg_rt_cuda_free(g->cuda, dev_out[j]);
        rg_cpu_free_tensor(&ctx, &ref[j]);
    }
    for (uint32_t i = 0; i < n->ninputs; i++) {
        rg_rt_cuda_free(g->cuda, dev_base[i]);
        free(in[i].data);
    }
    rg_rt_cuda_library_free(g->cuda, L.lib);
}

static const int64_t lengths[] = {1, 3, 127, 768, 1024, 4096};
static const rg_dtype dtypes[] = {RG_DTYPE_F32, RG_DTYPE_F16, RG_DTYPE_BF16};

Test(cuda_fused, softmax_against_cpu) {
    gpu g;
    gpu_open(&g);
    for (size_t l = 0; l < 6; l++)
        for (size_t d = 0; d < 3; d++) {
            rg_graph *gr = cf_graph();
            int64_t dims[4] = {3, 4, lengths[l] > 1000 ? 5 : 37, lengths[l]};
            rg_node *n = cf_softmax(gr, dtypes[d], 4, dims, 0.125f);
            check_node(&g, n, dtypes[d], lengths[l], 0, (uint32_t)(l * 3 + d));
            if (lengths[l] == 768) check_node(&g, n, dtypes[d], lengths[l], 1, 99);
            rg_graph_free(gr);
        }
    gpu_close(&g);
}

Test(cuda_fused, gelu_chain_against_cpu) {
    gpu g;
    gpu_open(&g);
    for (size_t l = 0; l < 6; l++)
        for (size_t d = 0; d < 3; d++) {
            rg_graph *gr = cf_graph();
            int64_t dims[3] = {2, 301, lengths[l]};
            rg_node *n = cf_gelu_chain(gr, dtypes[d], 3, dims);
            check_node(&g, n, dtypes[d], lengths[l], 0, (uint32_t)(l + 7 * d));
            rg_graph_free(gr);
        }
    gpu_close(&g);
}

Test(cuda_fused, layer_norm_against_cpu) {
    gpu g;
    gpu_open(&g);
    for (size_t l = 0; l < 6; l++)
        for (size_t d = 0; d < 3; d++)
            for (int sum = 0; sum < 2; sum++) {
                rg_graph *gr = cf_graph();
                int64_t dims[3] = {4, 257, lengths[l]};
                rg_node *n = cf_layer_norm(gr, dtypes[d], 3, dims, sum);
                check_node(&g, n, dtypes[d], 0, sum && lengths[l] == 1024 ? 1 : 0, (uint32_t)(l + 11 * d + sum));
                rg_graph_free(gr);
            }
    gpu_close(&g);
}

Test(cuda_fused, every_opcode_against_cpu) {
    gpu g;
    gpu_open(&g);
    for (size_t l = 0; l < 6; l++)
        for (size_t d = 0; d < 3; d++) {
            rg_graph *gr = cf_graph();
            rg_node *n = cf_everything(gr, dtypes[d], lengths[l] >= 1024 ? 67 : 1000, lengths[l]);
            check_node(&g, n, dtypes[d], lengths[l], 0, (uint32_t)(l + 5 * d));
            rg_graph_free(gr);
        }
    gpu_close(&g);
}

Test(cuda_fused, launch_checks_shapes) {
    gpu g;
    gpu_open(&g);
    rg_graph *gr = cf_graph();
    int64_t dims[2] = {4, 768};
    rg_node *n = cf_gelu_chain(gr, RG_DTYPE_F16, 2, dims);
    loaded L;
    load_kernel(&g, n, RG_DTYPE_F16, 768, &L);
    rg_tensor x = {0}, b = {0};
    int64_t xd[2] = {4, 512}, bd[1] = {768};
    rg_tensor_set_shape(&x, RG_DTYPE_F16, 2, xd, NULL);
    rg_tensor_set_shape(&b, RG_DTYPE_F16, 1, bd, NULL);
    x.data = b.data = (void *)(uintptr_t)256; /* never dereferenced: refused first */
    const rg_tensor *ins[2] = {&x, &b};
    void *outs[1] = {(void *)(uintptr_t)256};
    rg_error err = {0};
    cr_assert_eq(rg_rt_fused_launch(g.cuda, &L.k, L.vec, L.scalar, ins, outs, g.stream, &err), RG_ERR_SHAPE);
    cr_assert(strstr(err.message, "768"), "%s", err.message);
    b.dtype = RG_DTYPE_F32;
    xd[1] = 768;
    rg_tensor_set_shape(&x, RG_DTYPE_F16, 2, xd, NULL);
    cr_assert_eq(rg_rt_fused_launch(g.cuda, &L.k, L.vec, L.scalar, ins, outs, g.stream, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "input 1"), "%s", err.message);
    rg_rt_cuda_library_free(g.cuda, L.lib);
    rg_graph_free(gr);
    gpu_close(&g);
}

/* ------------------------------------------------------------- bandwidth */

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

#define REPS 50

/* Median milliseconds of `launch` (or of a copy of copy_bytes when copy_bytes > 0). */
static float time_median(gpu *g, const loaded *L, const rg_tensor *const *ins, void *const *outs, void *dst,
                         const void *src, size_t copy_bytes) {
    rg_error err = {0};
    rg_rt_cuda_event start, end;
    cr_assert_eq(rg_rt_cuda_event_new(g->cuda, &start, &err), RG_OK);
    cr_assert_eq(rg_rt_cuda_event_new(g->cuda, &end, &err), RG_OK);
    float ms[REPS];
    for (int r = -10; r < REPS; r++) {
        cr_assert_eq(rg_rt_cuda_event_record(g->cuda, start, g->stream, &err), RG_OK);
        if (copy_bytes)
            cr_assert_eq(rg_rt_cuda_copy_on_device(g->cuda, dst, src, copy_bytes, g->stream, &err), RG_OK, "%s",
                         err.message);
        else
            cr_assert_eq(rg_rt_fused_launch(g->cuda, &L->k, L->vec, L->scalar, ins, outs, g->stream, &err), RG_OK,
                         "%s", err.message);
        cr_assert_eq(rg_rt_cuda_event_record(g->cuda, end, g->stream, &err), RG_OK);
        cr_assert_eq(rg_rt_cuda_stream_sync(g->cuda, g->stream, &err), RG_OK, "%s", err.message);
        float t = 0;
        cr_assert_eq(rg_rt_cuda_event_elapsed(g->cuda, start, end, &t, &err), RG_OK);
        if (r >= 0) ms[r] = t;
    }
    rg_rt_cuda_event_free(g->cuda, start);
    rg_rt_cuda_event_free(g->cuda, end);
    qsort(ms, REPS, sizeof *ms, cmp_float);
    return ms[REPS / 2];
}

/* Times node over device buffers (contents: zeros are fine for timing) and
 * a copy moving the same bytes (half read, half written). */
static void bandwidth(gpu *g, const rg_node *n, const char *label) {
    rg_error err = {0};
    loaded L;
    rg_dtype dt = n->inputs[0]->dtype;
    load_kernel(g, n, dt, 0, &L);
    rg_tensor dev_in[8];
    const rg_tensor *ins[8];
    void *outs[8] = {0};
    size_t bytes = 0;
    for (uint32_t i = 0; i < n->ninputs; i++) {
        const rg_value *v = n->inputs[i];
        int64_t dims[RG_MAX_RANK];
        for (int d = 0; d < v->rank; d++) rg_dim_is_const(&v->dims[d], &dims[d]);
        rg_tensor_set_shape(&dev_in[i], dt, v->rank, dims, NULL);
        cr_assert_eq(rg_rt_cuda_malloc(g->cuda, dev_in[i].nbytes, &dev_in[i].data, &err), RG_OK, "%s", err.message);
        rg_rt_cuda_memset(g->cuda, dev_in[i].data, 0, dev_in[i].nbytes, NULL, &err);
        ins[i] = &dev_in[i];
        bytes += dev_in[i].nbytes;
    }
    size_t out_bytes = dev_in[0].nbytes; /* every output here has input 0's shape */
    for (uint32_t j = 0; j < n->noutputs; j++) {
        cr_assert_eq(rg_rt_cuda_malloc(g->cuda, out_bytes, &outs[j], &err), RG_OK, "%s", err.message);
        bytes += out_bytes;
    }
    float kernel_ms = time_median(g, &L, ins, outs, NULL, NULL, 0);
    void *a = NULL, *b = NULL;
    size_t half = bytes / 2;
    cr_assert_eq(rg_rt_cuda_malloc(g->cuda, half, &a, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_malloc(g->cuda, half, &b, &err), RG_OK, "%s", err.message);
    float copy_ms = time_median(g, NULL, NULL, NULL, b, a, half);
    double gbs = (double)bytes / (kernel_ms * 1e-3) / 1e9, copy_gbs = (double)(2 * half) / (copy_ms * 1e-3) / 1e9;
    cr_log_info("bandwidth %-34s %7.1f MB in %7.1f us: %6.0f GB/s; copy of the same bytes %6.0f GB/s; ratio %.0f%% "
                "(%d threads/row, %d rows/block, %d-wide vectors)",
                label, (double)bytes / 1e6, kernel_ms * 1e3, gbs, copy_gbs, 100.0 * gbs / copy_gbs,
                L.k.threads_per_row, L.k.rows_per_block, L.k.vector_width);
    rg_rt_cuda_free(g->cuda, a);
    rg_rt_cuda_free(g->cuda, b);
    for (uint32_t i = 0; i < n->ninputs; i++) rg_rt_cuda_free(g->cuda, dev_in[i].data);
    for (uint32_t j = 0; j < n->noutputs; j++) rg_rt_cuda_free(g->cuda, outs[j]);
    rg_rt_cuda_library_free(g->cuda, L.lib);
}

Test(cuda_fused, bandwidth_layer_norm_and_softmax) {
    gpu g;
    gpu_open(&g);
    struct {
        int64_t rows, n;
        int kind; /* 0 LayerNorm, 1 LayerNorm with sum, 2 softmax */
        const char *label;
    } cases[] = {
        {16384, 768, 0, "LayerNorm+res f16 [16384,768]"},    {65536, 768, 0, "LayerNorm+res f16 [65536,768]"},
        {16384, 768, 1, "LayerNorm+res+sum f16 [16384,768]"}, {384 * 128, 128, 2, "softmax f16 [49152,128]"},
        {96 * 512, 512, 2, "softmax f16 [49152,512]"},    {384 * 128, 128, 3, "softmax f32 [49152,128]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rg_graph *gr = cf_graph();
        int64_t dims[2] = {cases[i].rows, cases[i].n};
        rg_node *n = cases[i].kind == 3   ? cf_softmax(gr, RG_DTYPE_F32, 2, dims, 0.125f)
                     : cases[i].kind == 2 ? cf_softmax(gr, RG_DTYPE_F16, 2, dims, 0.125f)
                                        : cf_layer_norm(gr, RG_DTYPE_F16, 2, dims, cases[i].kind == 1);
        bandwidth(&g, n, cases[i].label);
        rg_graph_free(gr);
    }
    gpu_close(&g);
}
