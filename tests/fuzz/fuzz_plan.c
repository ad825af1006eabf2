/*
 * fuzz_plan.c — libFuzzer target for the plan loader: any bytes must give a
 * plan or a clean error, never a crash, and leave nothing allocated.
 *
 * Random bytes almost never carry the right checksum, so each input is also
 * loaded a second time with the checksum recomputed in a copy: that is what
 * lets the fuzzer reach the section table and the graph decoder. A plan that
 * loads must pass rg_verify. Seed it with plans written by the tests (see
 * docs/plan-format.md, "Fuzzing").
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ir/serialize.h"
#include "runtime/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void load_once(const uint8_t *data, size_t size) {
    rg_counting_allocator counting;
    rg_counting_allocator_init(&counting, NULL, -1);
    rg_plan *plan = NULL;
    rg_error err;
    rg_status st = rg_rt_plan_load_memory(data, size, &counting.base, &plan, &err);
    if (st == RG_OK) {
        if (rg_verify(plan->graph, &err) != RG_OK) abort(); /* the loader let a broken graph through */
        rg_plan_free(plan);
    } else if (plan != NULL || (st != RG_ERR_CORRUPT_PLAN && st != RG_ERR_NOMEM)) {
        abort(); /* *out written on failure, or a status a bad plan should not give */
    }
    if (counting.in_use != 0) abort(); /* a leak on some path */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load_once(data, size);
    if (size < RG_PLAN_HEADER_SIZE) return 0;
    uint32_t header_size = rg_ir_load_u32(data + RG_PLAN_OFF_HEADER_SIZE);
    if (header_size < RG_PLAN_HEADER_SIZE || header_size > size) return 0;
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    rg_ir_store_u64(copy + RG_PLAN_OFF_FILE_SIZE, size);
    rg_ir_store_u64(copy + RG_PLAN_OFF_CHECKSUM, rg_ir_hash_bytes(copy + header_size, size - header_size));
    load_once(copy, size);
    free(copy);
    return 0;
}
