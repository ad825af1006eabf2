/*
 * cmd_compile.c — `ragged compile MODEL.onnx -o MODEL.plan [--target T]
 * [--dtype D]`: runs the compile pipeline and prints a one-line summary.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "driver.h"

enum { OPT_HELP, OPT_OUTPUT, OPT_TARGET, OPT_DTYPE, OPT_NO_OPTIMIZE, OPT_TF32, OPT_APPROXIMATE_GELU, OPT_CUSTOM_GEMM,
       OPT_PERSISTENT };

static const rg_cli_option compile_options[] = {
    {"help", 'h', false, OPT_HELP},
    {"output", 'o', true, OPT_OUTPUT},
    {"target", 0, true, OPT_TARGET},
    {"dtype", 0, true, OPT_DTYPE},
    {"no-optimize", 0, false, OPT_NO_OPTIMIZE},
    {"tf32", 0, false, OPT_TF32},
    {"approximate-gelu", 0, false, OPT_APPROXIMATE_GELU},
    {"custom-gemm", 0, false, OPT_CUSTOM_GEMM}, {"persistent", 0, false, OPT_PERSISTENT},
    {NULL, 0, false, 0},
};

static void print_help(void) {
    printf("usage: ragged compile MODEL.onnx -o PLAN [--target cpu|sm_80|sm_89|sm_90] [--dtype fp32|fp16|bf16]\n"
           "                      [--tf32] [--approximate-gelu] [--custom-gemm] [--persistent]\n"
           "\n"
           "Imports an ONNX model, infers shapes, checks the graph and writes a plan file.\n"
           "\n"
           "options:\n"
           "  -o, --output PLAN   the plan file to write (required)\n"
           "  --target T          what the plan is for: cpu (default), or a GPU arch (sm_80, sm_86,\n"
           "                      sm_89, sm_90, sm_90a): every CUDA kernel is compiled by NVRTC\n"
           "                      into the plan, which still runs on the CPU where there is no GPU\n"
           "  --dtype D           compute in fp32, fp16 or bf16 (weights and activations; GEMM\n"
           "                      accumulation, LayerNorm statistics and softmax stay fp32; outputs\n"
           "                      are returned as fp32); default: the model's own dtypes\n"
           "  --tf32              fp32 GEMMs on the GPU may use TF32 tensor cores (inexact)\n"
           "  --approximate-gelu  the erf GELU after a Linear becomes its tanh approximation\n"
           "                      (differs by <= ~5e-4), which the GPU runs inside the GEMM\n"
           "                      instead of as a separate pass over the activation\n"
           "  --custom-gemm       sm_90, fp16/bf16 (experimental): Linears with no activation or the\n"
           "                      erf GELU may run ragged's own GEMM (the GELU in its epilogue,\n"
           "                      split-K for few rows) where it times faster than cuBLASLt;\n"
           "                      faster at batch 1, slower to compile (default: cuBLASLt)\n"
           "  --persistent        GPU, fp16/bf16 (experimental): also carry the persistent kernel, which\n"
           "                      runs a run of Linears, Attentions and LayerNorms as one launch where\n"
           "                      the executor times it faster (ragged run/bench --persistent)\n"
           "  --no-optimize       write the imported graph without running the passes\n"
           "  -h, --help          this text\n"
           "\n"
           "On success prints one line: nodes (imported -> written), constant bytes, plan size\n"
           "and time.\n");
}

static bool parse_dtype(const char *text, rg_dtype *out) {
    static const struct {
        const char *name;
        rg_dtype dtype;
    } names[] = {{"fp32", RG_DTYPE_F32}, {"float32", RG_DTYPE_F32},  {"fp16", RG_DTYPE_F16},
                 {"float16", RG_DTYPE_F16}, {"bf16", RG_DTYPE_BF16}, {"bfloat16", RG_DTYPE_BF16}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(text, names[i].name) == 0) {
            *out = names[i].dtype;
            return true;
        }
    }
    return false;
}

/* "12.3 MiB" style sizes for the summary line. */
static const char *human_bytes(uint64_t bytes, char *buf, size_t cap) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    if (u == 0) snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    else snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

int rg_cmd_compile(int argc, char **argv) {
    const char *model = NULL, *output = NULL;
    rg_compile_options options = {.target = NULL, .dtype = RG_DTYPE_UNDEFINED};
    rg_cli_args args;
    rg_cli_args_init(&args, argc, argv, "compile");
    int id;
    const char *value;
    rg_cli_item item;
    while ((item = rg_cli_next(&args, compile_options, &id, &value)) != RG_CLI_END) {
        if (item == RG_CLI_BAD) return RG_EXIT_USAGE;
        if (item == RG_CLI_POSITIONAL) {
            if (model) return rg_cli_usage_error("compile", "more than one model given ('%s' and '%s')", model, value);
            model = value;
            continue;
        }
        switch (id) {
        case OPT_HELP: print_help(); return RG_EXIT_OK;
        case OPT_OUTPUT: output = value; break;
        case OPT_TARGET: options.target = value; break;
        case OPT_NO_OPTIMIZE: options.no_optimize = 1; break;
        case OPT_TF32: options.tf32 = 1; break;
        case OPT_APPROXIMATE_GELU: options.approximate_gelu = 1; break;
        case OPT_CUSTOM_GEMM: options.custom_gemm = 1; break;
        case OPT_PERSISTENT: options.persistent = 1; break;
        case OPT_DTYPE:
            if (!parse_dtype(value, &options.dtype))
                return rg_cli_usage_error("compile", "unknown dtype '%s' (fp32, fp16 or bf16)", value);
            break;
        default: return rg_cli_usage_error("compile", "unhandled option");
        }
    }
    if (!model) return rg_cli_usage_error("compile", "no model given");
    if (!output) return rg_cli_usage_error("compile", "no plan file given (-o PLAN)");

    rg_error err = {0};
    rg_compile_stats stats;
    if (rg_driver_compile(model, output, &options, &stats, &err) != RG_OK) return rg_cli_fail(&err);
    char constants[32], plan[32];
    printf("compiled %s -> %s: %zu -> %zu nodes, %s of constants, plan %s, %.2f s\n", model, output,
           stats.nodes_imported, stats.nodes,
           human_bytes(stats.constant_bytes, constants, sizeof constants),
           human_bytes(stats.plan_bytes, plan, sizeof plan), stats.seconds);
    if (stats.kernel_modules)
        printf("  %zu CUDA modules for %s, %.2f s in NVRTC\n", stats.kernel_modules, options.target,
               stats.nvrtc_seconds);
    return RG_EXIT_OK;
}
