/*
 * cmd_bench.c — `ragged bench PLAN --shapes 1x128,8x128 [--iters N]
 * [--warmup N] [--device cpu|cuda|auto] [--device-outputs] [--json]
 * [--breakdown] [--profile] [--persistent auto|on|off]`: latency of whole
 * runs per batch shape.
 *
 * Per shape: inputs are generated (token ids below 100, masks of ones, token
 * types of zeros), the session runs `warmup` times (on the GPU the first run
 * of a shape plans its memory and captures its CUDA graph), then `iters`
 * timed runs: CUDA events on the session's stream around each run on the
 * GPU, the monotonic clock on the CPU. A run includes copying the inputs in
 * and the outputs out, as the public API does by default; with
 * --device-outputs (rg_session_set_outputs_on_device) the outputs stay in
 * device memory, as a PyTorch model's do, and a run ends with its kernels.
 * Reported: median, p10 and p90 in milliseconds, and on the GPU the device
 * memory held (weights, the arena's allocation) and the shape's arena bytes
 * against its lower bound, and the GPU's used memory (cudaMemGetInfo: the
 * whole device, the CUDA context included) after the shape.
 *
 * On the GPU, --breakdown times `iters` more runs with the executor's timers
 * on (host: input checks and shape work, staging, launch, wait; device:
 * input copy, kernels, output copy) and reports their medians; --profile
 * replays the shape with an event after every node and sums the device time
 * per kind of node (Linear by m, n, k; Attention; LayerNorm/Fused; ...).
 * --persistent sets rg_session_set_persistent (runs of nodes as one launch
 * of the persistent kernel; auto by default) and the report says, per
 * shape, whether the timed graph had such launches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/cuda_api.h"

#include "cli.h"
#include "ragged.h"
#include "runtime/cuda_exec.h"

enum { OPT_HELP, OPT_SHAPES, OPT_ITERS, OPT_WARMUP, OPT_DEVICE, OPT_JSON, OPT_BREAKDOWN, OPT_PROFILE, OPT_DEVICE_OUTPUTS,
       OPT_PERSISTENT };

static const rg_cli_option bench_options[] = {
    {"help", 'h', false, OPT_HELP},     {"shapes", 0, true, OPT_SHAPES}, {"iters", 0, true, OPT_ITERS},
    {"warmup", 0, true, OPT_WARMUP},    {"device", 0, true, OPT_DEVICE}, {"json", 0, false, OPT_JSON},
    {"breakdown", 0, false, OPT_BREAKDOWN}, {"profile", 0, false, OPT_PROFILE},
    {"device-outputs", 0, false, OPT_DEVICE_OUTPUTS}, {"persistent", 0, true, OPT_PERSISTENT}, {NULL, 0, false, 0},
};

static void print_help(void) {
    printf("usage: ragged bench PLAN --shapes BxS[,BxS...] [--iters N] [--warmup N] [--device cpu|cuda|auto]\n"
           "                    [--device-outputs] [--json] [--breakdown] [--profile] [--persistent auto|on|off]\n"
           "\n"
           "Times whole runs of a plan on generated inputs, per batch x sequence-length shape.\n"
           "\n"
           "options:\n"
           "  --shapes LIST   e.g. 1x128,8x128 (required)\n"
           "  --iters N       timed runs per shape (default 100)\n"
           "  --warmup N      untimed runs first (default 10)\n"
           "  --device D      cpu, cuda or auto (default auto)\n"
           "  --device-outputs  GPU: leave the outputs in device memory (no copy to the host)\n"
           "  --json          one JSON object on stdout instead of the table\n"
           "  --breakdown     GPU: medians of host work, input copy, kernels, output copy (more runs)\n"
           "  --profile       GPU: device time per kind of node (one graph with an event per node)\n"
           "  --persistent M  GPU: runs of Linears, Attentions and LayerNorms as one launch: auto (time\n"
           "                  both ways per shape, keep the faster; the default), on, or off\n"
           "  -h, --help      this text\n");
}

#define MAX_SHAPES 32
#define MAX_GROUPS 48

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

typedef struct profile_group {
    char kind[96];
    int count;
    double ms;
} profile_group;

typedef struct shape_result {
    int64_t batch, seq;
    double median, p10, p90;
    size_t arena, lower_bound, arena_capacity, weights, gpu_used, persistent_bytes;
    bool persistent; /* the timed runs' graph had persistent launches */
    bool have_breakdown;
    double prepare, stage, launch, wait, total, h2d, kernels, d2h; /* medians */
    int ngroups;
    double profile_sum;
    double persist_sum; /* the persistent launches' steps (their groups are "persistent ...") */
    profile_group groups[MAX_GROUPS];
} shape_result;

static rg_status bind_generated(rg_session *s, const rg_plan *plan, int64_t batch, int64_t seq, int64_t *ids,
                                int64_t *ones, int64_t *zeros, rg_error *err) {
    int64_t dims[2] = {batch, seq};
    for (size_t i = 0; i < rg_plan_input_count(plan); i++) {
        rg_io_info info;
        RG_TRY(rg_plan_input_info(plan, i, &info, err));
        if (info.dtype != RG_DTYPE_I64 || info.rank != 2)
            return rg_error_set(err, RG_ERR_UNSUPPORTED, "bench generates int64 [B, S] inputs; '%s' is %s of rank %d",
                                info.name, rg_dtype_name(info.dtype), info.rank);
        const int64_t *data = strstr(info.name, "mask") ? ones : strstr(info.name, "type") ? zeros : ids;
        RG_TRY(rg_session_bind_input(s, info.name, RG_DTYPE_I64, 2, dims, data, err));
    }
    return RG_OK;
}

static double median_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* `iters` runs with the executor's timers on; medians of each part. */
static rg_status breakdown(rg_session *s, rg_cuda_exec *gpu, shape_result *r, int iters, rg_error *err) {
    double *v = malloc((size_t)iters * 8 * sizeof *v);
    if (!v) return rg_error_set(err, RG_ERR_NOMEM, "out of memory");
    rg_status st = rg_cuda_exec_set_timing(gpu, true, err);
    for (int i = -2; st == RG_OK && i < iters; i++) { /* two warm-ups: the graph is recaptured with events */
        if ((st = rg_session_run(s, err)) != RG_OK || i < 0) continue;
        rg_cuda_exec_timing t;
        rg_cuda_exec_timing_get(gpu, &t);
        double row[8] = {t.host_prepare_ms, t.host_stage_ms, t.host_launch_ms, t.host_wait_ms, t.host_total_ms,
                         t.h2d_ms, t.kernels_ms, t.d2h_ms};
        for (int k = 0; k < 8; k++) v[k * iters + i] = row[k];
    }
    rg_error ignored = {0};
    rg_cuda_exec_set_timing(gpu, false, &ignored);
    if (st == RG_OK) {
        double *out[8] = {&r->prepare, &r->stage, &r->launch, &r->wait, &r->total, &r->h2d, &r->kernels, &r->d2h};
        for (int k = 0; k < 8; k++) *out[k] = median_of(v + k * iters, iters);
        r->have_breakdown = true;
    }
    free(v);
    return st;
}

static void add_group(shape_result *r, const char *kind, double ms) {
    for (int g = 0; g < r->ngroups; g++)
        if (!strcmp(r->groups[g].kind, kind)) {
            r->groups[g].count++;
            r->groups[g].ms += ms;
            return;
        }
    if (r->ngroups == MAX_GROUPS) kind = "(other)";
    profile_group *g = r->ngroups < MAX_GROUPS ? &r->groups[r->ngroups++] : &r->groups[MAX_GROUPS - 1];
    snprintf(g->kind, sizeof g->kind, "%s", kind);
    g->count++;
    g->ms += ms;
}

static int cmp_group(const void *a, const void *b) {
    double x = ((const profile_group *)a)->ms, y = ((const profile_group *)b)->ms;
    return x > y ? -1 : x < y;
}

/* The steps of the shape's persistent launches as "persistent ..." groups
 * (cap: room for them, at most two steps a node). */
static rg_status persistent_groups(rg_cuda_exec *gpu, shape_result *r, size_t cap, rg_error *err) {
    size_t count = 0;
    rg_cuda_exec_step_time *steps = malloc(cap * sizeof *steps);
    if (!steps) return rg_error_set(err, RG_ERR_NOMEM, "out of memory");
    rg_status st = rg_cuda_exec_persist_profile(gpu, 20, steps, cap, &count, err);
    for (size_t i = 0; st == RG_OK && i < count; i++) {
        char kind[80];
        snprintf(kind, sizeof kind, "persistent %s", steps[i].kind);
        add_group(r, kind, steps[i].ms);
        r->persist_sum += steps[i].ms;
    }
    free(steps);
    return st;
}

static rg_status profile(rg_cuda_exec *gpu, shape_result *r, rg_error *err) {
    size_t n = rg_cuda_exec_node_count(gpu);
    float *ms = malloc((2 * n + 1) * sizeof *ms);
    if (!ms) return rg_error_set(err, RG_ERR_NOMEM, "out of memory");
    rg_status st = rg_cuda_exec_profile(gpu, 20, ms, err);
    for (size_t i = 0; st == RG_OK && i < n; i++) {
        char buf[96];
        const char *kind = rg_cuda_exec_node_kind(gpu, i, buf, sizeof buf);
        if (!kind) continue;
        add_group(r, kind, ms[2 * i]);
        if (strstr(kind, "+erf-GELU")) add_group(r, "erf-GELU kernel (after a GEMM)", ms[2 * i + 1]);
        r->profile_sum += ms[2 * i] + ms[2 * i + 1];
    }
    free(ms);
    rg_cuda_exec_stats stats;
    rg_cuda_exec_stats_get(gpu, &stats);
    if (st == RG_OK && stats.last_run_persistent) st = persistent_groups(gpu, r, 2 * n + 16, err);
    qsort(r->groups, (size_t)r->ngroups, sizeof r->groups[0], cmp_group);
    return st;
}

static rg_status time_shape(rg_session *s, const rg_plan *plan, shape_result *r, int iters, int warmup, bool want_breakdown,
                            bool want_profile, rg_error *err) {
    size_t n = (size_t)(r->batch * r->seq);
    int64_t *ids = malloc(n * sizeof *ids), *ones = malloc(n * sizeof *ones), *zeros = calloc(n, sizeof *zeros);
    double *ms = malloc((size_t)iters * sizeof *ms);
    rg_status st = RG_OK;
    rg_cuda_exec *gpu = rg_session_cuda_exec(s);
    rg_rt_cuda_event start = NULL, end = NULL;
    if (!ids || !ones || !zeros || !ms) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory for inputs");
        goto done;
    }
    for (size_t i = 0; i < n; i++) ids[i] = (int64_t)((i * 7919u + 13u) % 100u), ones[i] = 1;
    if ((st = bind_generated(s, plan, r->batch, r->seq, ids, ones, zeros, err)) != RG_OK) goto done;
    if (gpu && ((st = rg_rt_cuda_event_new(rg_cuda_exec_cuda(gpu), &start, err)) != RG_OK ||
                (st = rg_rt_cuda_event_new(rg_cuda_exec_cuda(gpu), &end, err)) != RG_OK))
        goto done;
    for (int i = 0; i < warmup; i++)
        if ((st = rg_session_run(s, err)) != RG_OK) goto done;
    for (int i = 0; i < iters; i++) {
        if (gpu) {
            rg_rt_cuda *cuda = rg_cuda_exec_cuda(gpu);
            float t;
            if ((st = rg_rt_cuda_event_record(cuda, start, rg_cuda_exec_stream(gpu), err)) != RG_OK ||
                (st = rg_session_run(s, err)) != RG_OK ||
                (st = rg_rt_cuda_event_record(cuda, end, rg_cuda_exec_stream(gpu), err)) != RG_OK ||
                (st = rg_rt_cuda_stream_sync(cuda, rg_cuda_exec_stream(gpu), err)) != RG_OK ||
                (st = rg_rt_cuda_event_elapsed(cuda, start, end, &t, err)) != RG_OK)
                goto done;
            ms[i] = t;
        } else {
            double t0 = now_ms();
            if ((st = rg_session_run(s, err)) != RG_OK) goto done;
            ms[i] = now_ms() - t0;
        }
    }
    qsort(ms, (size_t)iters, sizeof *ms, cmp_double);
    r->median = ms[iters / 2];
    r->p10 = ms[iters / 10];
    r->p90 = ms[(iters * 9) / 10 < iters ? (iters * 9) / 10 : iters - 1];
    if (gpu) {
        rg_cuda_exec_stats stats;
        rg_cuda_exec_stats_get(gpu, &stats);
        r->arena = stats.arena_bytes;
        r->lower_bound = stats.arena_lower_bound;
        r->arena_capacity = stats.arena_capacity;
        r->weights = stats.weights_bytes;
        r->persistent = stats.last_run_persistent;
        r->persistent_bytes = stats.persistent_bytes;
        size_t free_bytes = 0, total_bytes = 0;
        rg_error ignored = {0};
        if (rg_rt_cuda_mem_info(rg_cuda_exec_cuda(gpu), &free_bytes, &total_bytes, &ignored) == RG_OK)
            r->gpu_used = total_bytes - free_bytes;
        /* diagnostics: a failure is reported and the timing above kept */
        rg_error diag = {0};
        if (want_breakdown && breakdown(s, gpu, r, iters, &diag) != RG_OK)
            fprintf(stderr, "ragged bench: breakdown of %lldx%lld failed: %s\n", (long long)r->batch, (long long)r->seq,
                    diag.message);
        diag = (rg_error){0};
        if (want_profile && profile(gpu, r, &diag) != RG_OK) {
            fprintf(stderr, "ragged bench: profile of %lldx%lld failed: %s\n", (long long)r->batch, (long long)r->seq,
                    diag.message);
            r->ngroups = 0;
        }
    }
done:
    if (start) rg_rt_cuda_event_free(rg_cuda_exec_cuda(gpu), start);
    if (end) rg_rt_cuda_event_free(rg_cuda_exec_cuda(gpu), end);
    free(ids);
    free(ones);
    free(zeros);
    free(ms);
    return st;
}

static int parse_shapes(const char *text, shape_result *out, int *count) {
    *count = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long long b = strtoll(p, &end, 10);
        if (end == p || *end != 'x' || b <= 0) return -1;
        p = end + 1;
        long long sq = strtoll(p, &end, 10);
        if (end == p || sq <= 0 || *count == MAX_SHAPES) return -1;
        out[*count].batch = b;
        out[*count].seq = sq;
        (*count)++;
        p = end;
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    return *count ? 0 : -1;
}

static void print_results(const char *plan_path, const char *device, bool device_outputs, const shape_result *r, int n,
                          bool json) {
    if (json) {
        printf("{\"plan\": \"%s\", \"device\": \"%s\", \"device_outputs\": %s, \"shapes\": [", plan_path, device,
               device_outputs ? "true" : "false");
        for (int i = 0; i < n; i++) {
            printf("%s{\"batch\": %lld, \"seq\": %lld, \"median_ms\": %.5f, \"p10_ms\": %.5f, \"p90_ms\": %.5f, "
                   "\"arena_bytes\": %zu, \"arena_lower_bound\": %zu, \"arena_capacity\": %zu, \"weights_bytes\": %zu, "
                   "\"gpu_used_bytes\": %zu, \"persistent\": %s, \"persistent_bytes\": %zu",
                   i ? ", " : "", (long long)r[i].batch, (long long)r[i].seq, r[i].median, r[i].p10, r[i].p90,
                   r[i].arena, r[i].lower_bound, r[i].arena_capacity, r[i].weights, r[i].gpu_used,
                   r[i].persistent ? "true" : "false", r[i].persistent_bytes);
            if (r[i].have_breakdown)
                printf(", \"breakdown_ms\": {\"host_prepare\": %.5f, \"host_stage\": %.5f, \"host_launch\": %.5f, "
                       "\"host_wait\": %.5f, \"host_total\": %.5f, \"h2d\": %.5f, \"kernels\": %.5f, \"d2h\": %.5f}",
                       r[i].prepare, r[i].stage, r[i].launch, r[i].wait, r[i].total, r[i].h2d, r[i].kernels, r[i].d2h);
            if (r[i].ngroups) {
                printf(", \"profile_sum_ms\": %.5f, \"profile\": [", r[i].profile_sum);
                for (int g = 0; g < r[i].ngroups; g++)
                    printf("%s{\"kind\": \"%s\", \"count\": %d, \"ms\": %.5f}", g ? ", " : "", r[i].groups[g].kind,
                           r[i].groups[g].count, r[i].groups[g].ms);
                printf("]");
            }
            printf("}");
        }
        printf("]}\n");
        return;
    }
    printf("%s on the %s%s\n", plan_path, device, device_outputs ? " (outputs left on the device)" : "");
    printf("%-10s %10s %10s %10s %14s %14s %14s %11s\n", "shape", "median ms", "p10 ms", "p90 ms", "arena MiB",
           "lower bd MiB", "weights MiB", "persistent");
    for (int i = 0; i < n; i++) {
        char shape[32];
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)r[i].batch, (long long)r[i].seq);
        printf("%-10s %10.4f %10.4f %10.4f %14.2f %14.2f %14.2f %11s\n", shape, r[i].median, r[i].p10, r[i].p90,
               (double)r[i].arena / 1048576.0, (double)r[i].lower_bound / 1048576.0, (double)r[i].weights / 1048576.0,
               r[i].persistent ? "yes" : "no");
    }
    for (int i = 0; i < n; i++) {
        if (r[i].have_breakdown)
            printf("\n%lldx%lld breakdown (medians, ms): host prepare %.4f, stage %.4f, launch %.4f, wait %.4f, "
                   "total %.4f; device: copy in %.4f, kernels %.4f, copy out %.4f\n",
                   (long long)r[i].batch, (long long)r[i].seq, r[i].prepare, r[i].stage, r[i].launch, r[i].wait,
                   r[i].total, r[i].h2d, r[i].kernels, r[i].d2h);
        if (!r[i].ngroups) continue;
        printf("\n%lldx%lld profile (device ms per replay, event after each node; sum %.4f)\n", (long long)r[i].batch,
               (long long)r[i].seq, r[i].profile_sum);
        if (r[i].persist_sum > 0)
            printf("  (the \"persistent\" rows: the steps of the shape's persistent launches, timed inside them; sum "
                   "%.4f)\n", r[i].persist_sum);
        for (int g = 0; g < r[i].ngroups; g++)
            printf("  %-44s %4d x %9.4f = %9.4f  %5.1f%%\n", r[i].groups[g].kind, r[i].groups[g].count,
                   r[i].groups[g].ms / r[i].groups[g].count, r[i].groups[g].ms,
                   r[i].profile_sum > 0 ? 100.0 * r[i].groups[g].ms / r[i].profile_sum : 0.0);
    }
}

int rg_cmd_bench(int argc, char **argv) {
    const char *plan_path = NULL, *shapes_text = NULL;
    int iters = 100, warmup = 10;
    bool json = false, want_breakdown = false, want_profile = false, device_outputs = false;
    rg_persistent_mode persistent = RG_PERSISTENT_AUTO;
    rg_device device = RG_DEVICE_AUTO;
    rg_cli_args args;
    rg_cli_args_init(&args, argc, argv, "bench");
    int id;
    const char *value;
    rg_cli_item item;
    while ((item = rg_cli_next(&args, bench_options, &id, &value)) != RG_CLI_END) {
        if (item == RG_CLI_BAD) return RG_EXIT_USAGE;
        if (item == RG_CLI_POSITIONAL) {
            if (plan_path) return rg_cli_usage_error("bench", "more than one plan given");
            plan_path = value;
            continue;
        }
        switch (id) {
        case OPT_HELP: print_help(); return RG_EXIT_OK;
        case OPT_SHAPES: shapes_text = value; break;
        case OPT_ITERS:
            iters = atoi(value);
            if (iters < 1 || iters > 1000000) return rg_cli_usage_error("bench", "--iters must be 1..1000000");
            break;
        case OPT_WARMUP:
            warmup = atoi(value);
            if (warmup < 0 || warmup > 1000000) return rg_cli_usage_error("bench", "--warmup must be 0..1000000");
            break;
        case OPT_DEVICE:
            if (!strcmp(value, "cpu")) device = RG_DEVICE_CPU;
            else if (!strcmp(value, "cuda")) device = RG_DEVICE_CUDA;
            else if (!strcmp(value, "auto")) device = RG_DEVICE_AUTO;
            else return rg_cli_usage_error("bench", "unknown device '%s' (cpu, cuda or auto)", value);
            break;
        case OPT_JSON: json = true; break;
        case OPT_BREAKDOWN: want_breakdown = true; break;
        case OPT_PROFILE: want_profile = true; break;
        case OPT_DEVICE_OUTPUTS: device_outputs = true; break;
        case OPT_PERSISTENT:
            if (!rg_cli_parse_persistent(value, &persistent))
                return rg_cli_usage_error("bench", "unknown --persistent '%s' (auto, on or off)", value);
            break;
        default: return rg_cli_usage_error("bench", "unhandled option");
        }
    }
    if (!plan_path) return rg_cli_usage_error("bench", "no plan given");
    shape_result results[MAX_SHAPES];
    memset(results, 0, sizeof results);
    int nshapes;
    if (!shapes_text || parse_shapes(shapes_text, results, &nshapes) != 0)
        return rg_cli_usage_error("bench", "--shapes needs a list like 1x128,8x128");
    rg_error err = {0};
    rg_plan *plan = NULL;
    rg_session *s = NULL;
    int rc = RG_EXIT_OK;
    if (rg_plan_load(plan_path, &plan, &err) != RG_OK) return rg_cli_fail(&err);
    rg_session_options opt = {device, 0};
    if (rg_session_new(plan, &opt, &s, &err) != RG_OK) {
        rc = rg_cli_fail(&err);
        goto done;
    }
    rg_cli_note_fallback(s);
    if ((device_outputs && rg_session_set_outputs_on_device(s, true, &err) != RG_OK) ||
        rg_session_set_persistent(s, persistent, &err) != RG_OK) {
        rc = rg_cli_fail(&err);
        goto done;
    }
    for (int i = 0; i < nshapes; i++)
        if (time_shape(s, plan, &results[i], iters, warmup, want_breakdown, want_profile, &err) != RG_OK) {
            rg_error_prefix(&err, err.status, "shape %lldx%lld", (long long)results[i].batch,
                            (long long)results[i].seq);
            rc = rg_cli_fail(&err);
            goto done;
        }
    print_results(plan_path, rg_session_device(s) == RG_DEVICE_CUDA ? "gpu" : "cpu", device_outputs, results, nshapes,
                  json);
done:
    rg_session_free(s);
    rg_plan_free(plan);
    return rc;
}
