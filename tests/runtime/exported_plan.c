/*
 * exported_plan.c — see exported_plan.h.
 */
#include "exported_plan.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *rg_test_source_dir(void) {
    const char *d = getenv("RG_SOURCE_DIR");
    return d ? d : ".";
}

void rg_test_exported_model(const char *name, char *path, size_t cap) {
    snprintf(path, cap, "%s/tests/data/exported/%s.onnx", rg_test_source_dir(), name);
}

rg_plan *rg_test_exported_plan(const char *name, const rg_compile_options *opt) {
    char model[1024], plan_path[] = "/tmp/rg_exported_plan_XXXXXX";
    rg_test_exported_model(name, model, sizeof model);
    int fd = mkstemp(plan_path);
    cr_assert(fd >= 0);
    close(fd);
    rg_error err = {0};
    rg_status st = rg_compile_file(model, plan_path, opt, &err);
    if (st == RG_ERR_DEVICE) {
        unlink(plan_path);
        cr_skip_test("NVRTC checks skipped: %s", err.message);
    }
    cr_assert_eq(st, RG_OK, "%s", err.message);
    rg_plan *plan = NULL;
    st = rg_plan_load(plan_path, &plan, &err);
    unlink(plan_path);
    cr_assert_eq(st, RG_OK, "%s", err.message);
    return plan;
}
