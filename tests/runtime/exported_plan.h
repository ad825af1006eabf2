/*
 * exported_plan.h — test support shared by the runtime tests: a committed
 * export (tests/data/exported/) compiled into a plan and loaded.
 */
#ifndef RG_TESTS_RUNTIME_EXPORTED_PLAN_H
#define RG_TESTS_RUNTIME_EXPORTED_PLAN_H

#include <stddef.h>

#include "ragged.h"
#include "runtime/plan.h"

/* The source tree ($RG_SOURCE_DIR, "." when unset). */
const char *rg_test_source_dir(void);
/* Writes the path of tests/data/exported/<name>.onnx into path[cap]. */
void rg_test_exported_model(const char *name, char *path, size_t cap);
/* Compiles tests/data/exported/<name>.onnx with `opt` into a temporary plan
 * file, loads it and removes the file; free the plan with rg_plan_free.
 * Skips the calling test, saying why, when the compile needs NVRTC and there
 * is none (RG_ERR_DEVICE); any other failure fails it. */
rg_plan *rg_test_exported_plan(const char *name, const rg_compile_options *opt);

#endif
