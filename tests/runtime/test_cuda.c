/*
 * The CUDA runtime loaded at run time. Without a usable GPU (CI, the
 * development machine) rg_rt_cuda_open must fail with RG_ERR_DEVICE and a
 * one-line reason, and the GPU checks skip, printing that reason. With a GPU
 * (bench/gpu-check.sh on the GPU machine) a kernel compiled by NVRTC for the
 * device's arch is loaded with cudaLibraryLoadData, launched, timed with
 * events, captured in a CUDA graph and replayed, and its results checked.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/nvrtc.h"
#include "runtime/cuda_api.h"

static const char scale_kernel[] =
    "extern \"C\" __global__ void scale_add(float *x, float s, float b, int n) {\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) x[i] = x[i] * s + b;\n"
    "}\n";

/* Opens CUDA, or checks the failure is a proper one-line reason and skips. */
static rg_rt_cuda *open_or_skip(void) {
    rg_rt_cuda *cuda = NULL;
    rg_error err = {0};
    rg_status st = rg_rt_cuda_open(NULL, &cuda, &err);
    if (st == RG_OK) return cuda;
    cr_assert_eq(st, RG_ERR_DEVICE, "%s", err.message);
    cr_assert(err.message[0] != '\0');
    cr_assert(strchr(err.message, '\n') == NULL, "reason must be one line: %s", err.message);
    cr_skip_test("no GPU here, GPU checks skipped: %s", err.message);
    return NULL;
}

/* Runs everywhere: either a GPU is found, or the reason is one clean line. */
Test(cuda, open_reports_one_line_reason_or_a_device) {
    rg_rt_cuda *cuda = NULL;
    rg_error err = {0};
    rg_status st = rg_rt_cuda_open(NULL, &cuda, &err);
    if (st != RG_OK) {
        cr_assert_eq(st, RG_ERR_DEVICE);
        cr_assert_gt(strlen(err.message), 10);
        cr_assert(strchr(err.message, '\n') == NULL, "%s", err.message);
        cr_assert(strncmp(err.message, "no usable GPU: ", 15) == 0, "%s", err.message);
        cr_assert_null(cuda, "out-parameter untouched on failure");
        return;
    }
    cr_assert_gt(rg_rt_cuda_device_count(cuda), 0);
    cr_assert_geq(rg_rt_cuda_runtime_version(cuda), 12000);
    rg_rt_cuda_close(cuda);
}

Test(cuda, device_info) {
    rg_rt_cuda *cuda = open_or_skip();
    rg_rt_cuda_device_info info;
    rg_error err = {0};
    cr_assert_eq(rg_rt_cuda_device_info_get(cuda, 0, &info, &err), RG_OK, "%s", err.message);
    cr_assert(info.name[0] != '\0');
    cr_assert_geq(info.sm_major, 7);
    cr_assert_gt(info.multiprocessors, 0);
    cr_assert_gt(info.total_memory, (size_t)1 << 30);
    cr_log_info("device 0: %s, sm_%d%d, %d SMs, %zu MiB, runtime %d, driver %d", info.name, info.sm_major,
                info.sm_minor, info.multiprocessors, info.total_memory >> 20, rg_rt_cuda_runtime_version(cuda),
                rg_rt_cuda_driver_version(cuda));
    cr_assert_eq(rg_rt_cuda_device_info_get(cuda, rg_rt_cuda_device_count(cuda), &info, &err),
                 RG_ERR_INVALID_ARGUMENT);
    size_t free_bytes, total_bytes;
    cr_assert_eq(rg_rt_cuda_mem_info(cuda, &free_bytes, &total_bytes, &err), RG_OK, "%s", err.message);
    cr_assert_leq(free_bytes, total_bytes);
    rg_rt_cuda_close(cuda);
}

#define N 1000

static void check_values(const float *host, float scale, float bias, int rounds) {
    for (int i = 0; i < N; i++) {
        float want = (float)i;
        for (int r = 0; r < rounds; r++) want = want * scale + bias;
        cr_assert_float_eq(host[i], want, 1e-4f * (1.0f + want), "x[%d] = %g, want %g", i, host[i], want);
    }
}

Test(cuda, nvrtc_kernel_runs_on_the_device) {
    rg_rt_cuda *cuda = open_or_skip();
    rg_error err = {0};
    rg_rt_cuda_device_info info;
    cr_assert_eq(rg_rt_cuda_device_info_get(cuda, 0, &info, &err), RG_OK, "%s", err.message);
    char arch[16];
    rg_rt_cuda_arch_name(&info, arch, sizeof arch);

    rg_cg_nvrtc *nvrtc = NULL;
    cr_assert_eq(rg_cg_nvrtc_open(NULL, &nvrtc, &err), RG_OK, "GPU present but %s", err.message);
    void *cubin = NULL;
    size_t cubin_size = 0;
    cr_assert_eq(rg_cg_nvrtc_compile(nvrtc, scale_kernel, "scale_add", arch, NULL, &cubin, &cubin_size, &err), RG_OK,
                 "%s", err.message);

    cr_assert_eq(rg_rt_cuda_set_device(cuda, 0, &err), RG_OK, "%s", err.message);
    rg_rt_cuda_library lib = NULL;
    cr_assert_eq(rg_rt_cuda_library_load(cuda, cubin, cubin_size, "scale_add", &lib, &err), RG_OK, "%s", err.message);
    rg_rt_cuda_kernel kernel = NULL;
    cr_assert_eq(rg_rt_cuda_kernel_get(cuda, lib, "scale_add", &kernel, &err), RG_OK, "%s", err.message);
    rg_rt_cuda_kernel missing = NULL;
    cr_assert_eq(rg_rt_cuda_kernel_get(cuda, lib, "no_such_kernel", &missing, &err), RG_ERR_DEVICE);
    cr_assert(strstr(err.message, "no_such_kernel") != NULL, "%s", err.message);

    float host[N];
    for (int i = 0; i < N; i++) host[i] = (float)i;
    void *dev = NULL;
    rg_rt_cuda_stream stream = NULL;
    cr_assert_eq(rg_rt_cuda_malloc(cuda, sizeof host, &dev, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_stream_new(cuda, &stream, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_copy_to_device(cuda, dev, host, sizeof host, NULL, &err), RG_OK, "%s", err.message);

    float scale = 2.0f, bias = 1.0f;
    int n = N;
    void *args[] = {&dev, &scale, &bias, &n};
    unsigned grid[3] = {(N + 255) / 256, 1, 1}, block[3] = {256, 1, 1};
    rg_rt_cuda_event start, end;
    cr_assert_eq(rg_rt_cuda_event_new(cuda, &start, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_event_new(cuda, &end, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_event_record(cuda, start, stream, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_launch(cuda, kernel, grid, block, args, 0, stream, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_event_record(cuda, end, stream, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_stream_sync(cuda, stream, &err), RG_OK, "%s", err.message);
    float ms = -1;
    cr_assert_eq(rg_rt_cuda_event_elapsed(cuda, start, end, &ms, &err), RG_OK, "%s", err.message);
    cr_assert_geq(ms, 0.0f);
    cr_assert_eq(rg_rt_cuda_copy_to_host(cuda, host, dev, sizeof host, NULL, &err), RG_OK, "%s", err.message);
    check_values(host, scale, bias, 1);

    /* The same launch captured as a graph and replayed twice. */
    rg_rt_cuda_graph graph = NULL;
    cr_assert_eq(rg_rt_cuda_capture_begin(cuda, stream, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_launch(cuda, kernel, grid, block, args, 0, stream, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_capture_end(cuda, stream, &graph, &err), RG_OK, "%s", err.message);
    for (int r = 0; r < 2; r++)
        cr_assert_eq(rg_rt_cuda_graph_launch(cuda, graph, stream, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_copy_to_host(cuda, host, dev, sizeof host, stream, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_stream_sync(cuda, stream, &err), RG_OK, "%s", err.message);
    check_values(host, scale, bias, 3);

    /* A launch that cannot run (too many threads) is an error, not a crash. */
    unsigned huge_block[3] = {4096, 1, 1};
    cr_assert_eq(rg_rt_cuda_launch(cuda, kernel, grid, huge_block, args, 0, stream, &err), RG_ERR_DEVICE);
    cr_assert(strstr(err.message, "cudaLaunchKernel") != NULL, "%s", err.message);

    rg_rt_cuda_graph_free(cuda, graph);
    rg_rt_cuda_event_free(cuda, start);
    rg_rt_cuda_event_free(cuda, end);
    rg_rt_cuda_stream_free(cuda, stream);
    rg_rt_cuda_free(cuda, dev);
    rg_rt_cuda_library_free(cuda, lib);
    free(cubin);
    rg_cg_nvrtc_close(nvrtc);
    rg_rt_cuda_close(cuda);
}

/* Truncated or foreign kernel images are refused before the driver sees them. */
Test(cuda, bad_kernel_images_are_refused) {
    rg_rt_cuda *cuda = open_or_skip();
    rg_error err = {0};
    rg_rt_cuda_library lib = NULL;
    unsigned char junk[64] = "not a cubin at all";
    cr_assert_eq(rg_rt_cuda_library_load(cuda, junk, sizeof junk, "junk", &lib, &err), RG_ERR_CORRUPT_PLAN);
    unsigned char elf[64] = {0x7f, 'E', 'L', 'F', 2, 1};
    elf[0x28] = 0xff; /* section headers far past the end */
    cr_assert_eq(rg_rt_cuda_library_load(cuda, elf, sizeof elf, "cut", &lib, &err), RG_ERR_CORRUPT_PLAN);
    cr_assert(strstr(err.message, "cut short") != NULL, "%s", err.message);
    cr_assert_null(lib);
    rg_rt_cuda_close(cuda);
}

/* Tensor maps for the TMA (the GEMM's pingpong tiles): a good one encodes,
 * and the driver's refusals come back as errors naming the shape. */
Test(cuda, tensor_maps_are_checked) {
    rg_rt_cuda *cuda = open_or_skip();
    rg_rt_cuda_device_info info;
    rg_error err = {0};
    cr_assert_eq(rg_rt_cuda_device_info_get(cuda, 0, &info, &err), RG_OK, "%s", err.message);
    if (info.sm_major < 9) {
        rg_rt_cuda_close(cuda);
        cr_skip_test("no TMA before sm_90 (this GPU is sm_%d%d)", info.sm_major, info.sm_minor);
    }
    void *d = NULL;
    cr_assert_eq(rg_rt_cuda_malloc(cuda, 1 << 20, &d, &err), RG_OK, "%s", err.message);
    rg_rt_tensor_map map;
    memset(&map, 0, sizeof map);
    cr_assert_eq(rg_rt_cuda_tensor_map_2d(cuda, &map, false, d, 512, 768, 768 * 2, 128, 64, &err), RG_OK, "%s",
                 err.message);
    uint64_t any = 0;
    for (int i = 0; i < 16; i++) any |= map.opaque[i];
    cr_assert_neq(any, 0, "the map was written");
    cr_assert_eq(rg_rt_cuda_tensor_map_2d(cuda, &map, true, d, 100, 64, 64 * 2, 64, 64, &err), RG_OK, "%s",
                 err.message);
    /* rows 8 bytes apart (the TMA wants multiples of 16), a box wider than
     * the 128-byte swizzle, a misaligned base */
    cr_assert_eq(rg_rt_cuda_tensor_map_2d(cuda, &map, false, d, 64, 4, 8, 64, 4, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "64 x 4") != NULL, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_tensor_map_2d(cuda, &map, false, d, 64, 256, 512, 64, 128, &err),
                 RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "cuTensorMapEncodeTiled") != NULL, "%s", err.message);
    cr_assert_eq(rg_rt_cuda_tensor_map_2d(cuda, &map, false, (char *)d + 2, 64, 64, 128, 64, 64, &err),
                 RG_ERR_INVALID_ARGUMENT);
    rg_rt_cuda_free(cuda, d);
    rg_rt_cuda_close(cuda);
}
