/*
 * evaluator.h — the constant-folding evaluator of the passes (passes/pass.h)
 * wired to the CPU kernels, for the tools that run the pipeline.
 */
#ifndef RG_TOOLS_EVALUATOR_H
#define RG_TOOLS_EVALUATOR_H

#include "passes/pass.h"

/* A static evaluator (no state: it allocates with the default allocator and
 * runs one thread); valid for the life of the process. */
const rg_pass_evaluator *rg_tool_cpu_evaluator(void);

#endif
