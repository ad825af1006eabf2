/*
 * fuzz_onnx.c — libFuzzer target for the ONNX importer: any bytes must give
 * a graph or a clean error, never a crash, and leave nothing allocated.
 * External data is refused (base_dir NULL), so no input reaches the file
 * system. Seed it with tests/frontend/data/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "frontend/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rg_counting_allocator counting;
    rg_counting_allocator_init(&counting, NULL, -1);
    rg_graph *g = NULL;
    rg_error err;
    if (rg_onnx_import_buffer(data, size, NULL, &counting.base, &g, &err) == RG_OK) rg_graph_free(g);
    if (counting.in_use != 0) abort(); /* a leak on some path */
    return 0;
}
