/*
 * test_memplan.c — the arena planner: tensors alive at the same step never
 * share a byte, the arena is at least the lower bound (and equal to it on
 * simple chains), the plan is deterministic, bad input is refused.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "runtime/memplan.h"

static void check_disjoint(const rg_rt_memplan_tensor *t, size_t n, size_t align, size_t arena) {
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(t[i].offset % align, 0);
        cr_assert_leq(t[i].offset + t[i].size, arena);
        for (size_t j = i + 1; j < n; j++) {
            if (!t[i].size || !t[j].size) continue;
            if (t[i].last < t[j].first || t[j].last < t[i].first) continue;
            bool apart = t[i].offset + t[i].size <= t[j].offset || t[j].offset + t[j].size <= t[i].offset;
            cr_assert(apart, "tensors %zu [%zu,+%zu) and %zu [%zu,+%zu) overlap while both alive", i, t[i].offset,
                      t[i].size, j, t[j].offset, t[j].size);
        }
    }
}

Test(memplan, chain_reuses_memory) {
    /* a transformer-like chain: each step reads the previous output */
    rg_rt_memplan_tensor t[6];
    size_t sizes[6] = {1000, 3000, 1000, 4000, 1000, 1000};
    for (int i = 0; i < 6; i++) t[i] = (rg_rt_memplan_tensor){sizes[i], (uint32_t)i, (uint32_t)i + 1, 0};
    rg_rt_memplan_result r;
    cr_assert_eq(rg_rt_memplan_solve(t, 6, 256, NULL, &r, NULL), RG_OK);
    check_disjoint(t, 6, 256, r.arena_bytes);
    cr_assert_geq(r.arena_bytes, r.lower_bound);
    cr_assert_eq(r.lower_bound, 4096 + 1024);
    cr_assert_lt(r.arena_bytes, 12 * 1024, "no reuse: %zu", r.arena_bytes);
}

Test(memplan, random_never_overlaps_and_is_deterministic) {
    srand(7);
    for (int round = 0; round < 50; round++) {
        size_t n = 1 + (size_t)(rand() % 80);
        rg_rt_memplan_tensor a[80], b[80];
        for (size_t i = 0; i < n; i++) {
            uint32_t first = (uint32_t)(rand() % 40);
            a[i] = (rg_rt_memplan_tensor){(size_t)(rand() % 5000), first, first + (uint32_t)(rand() % 10), 0};
            b[i] = a[i];
        }
        rg_rt_memplan_result ra, rb;
        cr_assert_eq(rg_rt_memplan_solve(a, n, 64, NULL, &ra, NULL), RG_OK);
        cr_assert_eq(rg_rt_memplan_solve(b, n, 64, NULL, &rb, NULL), RG_OK);
        check_disjoint(a, n, 64, ra.arena_bytes);
        cr_assert_geq(ra.arena_bytes, ra.lower_bound);
        cr_assert_eq(ra.arena_bytes, rb.arena_bytes);
        for (size_t i = 0; i < n; i++) cr_assert_eq(a[i].offset, b[i].offset);
    }
}

Test(memplan, refuses_bad_input) {
    rg_rt_memplan_tensor t = {16, 3, 2, 0};
    rg_rt_memplan_result r = {0};
    rg_error err = {0};
    cr_assert_eq(rg_rt_memplan_solve(&t, 1, 64, NULL, &r, &err), RG_ERR_INVALID_ARGUMENT);
    t.last = 4;
    cr_assert_eq(rg_rt_memplan_solve(&t, 1, 48, NULL, &r, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(rg_rt_memplan_solve(NULL, 0, 64, NULL, &r, &err), RG_OK);
    cr_assert_eq(r.arena_bytes, 0);
}
