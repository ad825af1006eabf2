/*
 * The text emitter: indentation of every started line, empty lines left
 * empty, open/close pairs, long pieces, and that a failed allocation sticks
 * and is reported once (fault injection through the counting allocator).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "codegen/emit.h"

Test(emit, indents_lines_and_blocks) {
    rg_cg_emit e;
    rg_cg_emit_init(&e, NULL);
    cr_assert_str_eq(rg_cg_emit_text(&e), "");
    rg_cg_emit_line(&e, "// kernel from node %s", "ln_1");
    rg_cg_emit_open(&e, "extern \"C\" __global__ void k(float *x, int n)");
    rg_cg_emit_line(&e, "int i = %d * blockIdx.x + threadIdx.x;", 256);
    rg_cg_emit_open(&e, "if (i < n)");
    rg_cg_emitf(&e, "x[i] = %s;\n\ny[i] = 0;\n", "0.f");
    rg_cg_emit_close(&e, NULL);
    rg_cg_emit_close(&e, NULL);
    const char *want = "// kernel from node ln_1\n"
                       "extern \"C\" __global__ void k(float *x, int n) {\n"
                       "    int i = 256 * blockIdx.x + threadIdx.x;\n"
                       "    if (i < n) {\n"
                       "        x[i] = 0.f;\n"
                       "\n"
                       "        y[i] = 0;\n"
                       "    }\n"
                       "}\n";
    cr_assert_str_eq(rg_cg_emit_text(&e), want);
    cr_assert_eq(rg_cg_emit_length(&e), strlen(want));
    cr_assert_eq(rg_cg_emit_status(&e, NULL), RG_OK);
    rg_cg_emit_deinit(&e);
}

Test(emit, pieces_of_a_line_indent_once) {
    rg_cg_emit e;
    rg_cg_emit_init(&e, NULL);
    rg_cg_emit_indent(&e);
    rg_cg_emitf(&e, "a");
    rg_cg_emitf(&e, " = %d", 1);
    rg_cg_emitf(&e, ";\n");
    rg_cg_emit_dedent(&e);
    rg_cg_emit_line(&e, "b;");
    cr_assert_str_eq(rg_cg_emit_text(&e), "    a = 1;\nb;\n");
    rg_cg_emit_deinit(&e);
}

Test(emit, long_pieces_grow_the_buffer) {
    rg_cg_emit e;
    rg_cg_emit_init(&e, NULL);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    rg_cg_emit_indent(&e);
    for (int i = 0; i < 20; i++) rg_cg_emit_line(&e, "%s", big);
    cr_assert_eq(rg_cg_emit_length(&e), 20 * (4 + sizeof big));
    cr_assert_eq(rg_cg_emit_status(&e, NULL), RG_OK);
    rg_cg_emit_deinit(&e);
}

/* Every allocation position fails once: the emitter never crashes, reports
 * RG_ERR_NOMEM, and leaks nothing. */
Test(emit, allocation_failure_is_sticky) {
    for (int64_t fail_after = 0; fail_after < 6; fail_after++) {
        rg_counting_allocator counting;
        rg_counting_allocator_init(&counting, rg_allocator_default(), fail_after);
        rg_cg_emit e;
        rg_cg_emit_init(&e, &counting.base);
        char big[3000];
        memset(big, 'y', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        for (int i = 0; i < 10; i++) rg_cg_emit_line(&e, "%d %s", i, big);
        rg_error err = {0};
        rg_status st = rg_cg_emit_status(&e, &err);
        if (fail_after < 4) {
            cr_assert_eq(st, RG_ERR_NOMEM, "fail_after %d", (int)fail_after);
            cr_assert(strstr(err.message, "out of memory") != NULL);
        }
        cr_assert(rg_cg_emit_text(&e) != NULL);
        rg_cg_emit_deinit(&e);
        cr_assert_eq(counting.in_use, 0);
    }
}
