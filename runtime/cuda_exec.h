/*
 * cuda_exec.h — the CUDA executor: runs a plan compiled for a GPU target.
 *
 * Created once per session: opens the CUDA runtime (failing with the
 * one-line "no usable GPU: ..." reason where there is none), checks that the
 * plan's kernels are for this GPU's arch, uploads the constants that device
 * nodes read once (in the plan's dtype), loads the plan's modules, opens
 * cuBLASLt and makes the session's stream.
 *
 * Per run (inputs are host memory, as the public API is): the small integer
 * shape arithmetic that is left in the graph runs on the CPU kernels; per
 * concrete shape (the values of the graph's symbols) the intermediates get a
 * memory plan (runtime/memplan.h) in one device arena, and the launch
 * sequence of every device node (cuBLASLt GEMMs, fused attention, generated
 * batch reductions, gathers, casts) is captured as a CUDA graph the first
 * time the shape is seen and replayed after; host values that device nodes
 * read (token ids, position indices, attention lengths) are staged in pinned
 * host memory and copied in by the replayed graph, which also copies the
 * outputs into pinned host buffers the executor owns.
 */
#ifndef RG_RT_CUDA_EXEC_H
#define RG_RT_CUDA_EXEC_H

#include <stdbool.h>

#include "ir/graph.h"
#include "plan.h"
#include "runtime/cuda_api.h"

typedef struct rg_cuda_exec rg_cuda_exec;

/* Opens the GPU and prepares the plan for it. Errors: RG_ERR_DEVICE "no
 * usable GPU: ..." (no driver, no device), RG_ERR_UNSUPPORTED when the plan
 * has no kernels for this GPU (a CPU plan, another arch) or a node has no
 * CUDA implementation (naming it). `alloc` NULL: the default. */
rg_status rg_cuda_exec_new(const rg_plan *plan, const rg_allocator *alloc, rg_cuda_exec **out, rg_error *err);
void rg_cuda_exec_free(rg_cuda_exec *exec);

/* Runs with one host tensor per graph input (g->inputs order, borrowed).
 * Returns when the outputs are in host memory. */
rg_status rg_cuda_exec_run(rg_cuda_exec *exec, const rg_tensor *inputs, size_t ninputs, rg_error *err);

/* Output `index` of the last successful run (host memory owned by the
 * executor); NULL before, and for a device output while outputs stay on the
 * device. */
const rg_tensor *rg_cuda_exec_output(const rg_cuda_exec *exec, size_t index);

/* With `on`, runs leave the outputs the GPU computes in the device arena
 * (no copy to the host, no pinned buffers for them); read them with
 * rg_cuda_exec_output_device. Changing it drops the captured graphs. */
rg_status rg_cuda_exec_set_outputs_on_device(rg_cuda_exec *exec, bool on, rg_error *err);
/* Whether output `index` is left on the device by the current mode. */
bool rg_cuda_exec_output_is_device(const rg_cuda_exec *exec, size_t index);
/* Output `index` of the last successful run as a device tensor (data: a
 * device pointer into the arena, valid until the next run). Works in either
 * mode; RG_ERR_UNSUPPORTED for an output computed on the host. */
rg_status rg_cuda_exec_output_device(const rg_cuda_exec *exec, size_t index, rg_tensor *out, rg_error *err);

/* Runs of Linears, Attentions and LayerNorms as one launch of the plan's
 * persistent kernel (runtime/cuda_persist.h), as rg_session_set_persistent
 * says: RG_PERSISTENT_AUTO times each shape's replay with and without on
 * its first run and keeps the faster; ON uses it wherever a run of two or
 * more nodes can; OFF never. Plans without the module run as if OFF.
 * Changing the mode drops the captured graphs and the choices. */
rg_status rg_cuda_exec_set_persistent(rg_cuda_exec *exec, rg_persistent_mode mode, rg_error *err);

/* Device time of each step of the last run's shape's persistent runs: its
 * programs launched once more, eagerly, `reps` times, with block 0 timing
 * each step (a step's time includes the barrier after it); *count receives
 * the steps (at most cap filled). kind: "Linear 128x2304x768 split 3",
 * "Attention", "LayerNorm". 0 steps when the shape has no run. */
typedef struct rg_cuda_exec_step_time {
    char kind[64];
    float ms; /* mean over reps */
} rg_cuda_exec_step_time;
rg_status rg_cuda_exec_persist_profile(rg_cuda_exec *exec, int reps, rg_cuda_exec_step_time *out, size_t cap,
                                       size_t *count, rg_error *err);

typedef struct rg_cuda_exec_stats {
    size_t weights_bytes;      /* constants on the device */
    size_t arena_bytes;        /* the last run's memory plan */
    size_t arena_lower_bound;  /* its lower bound (max live bytes) */
    size_t arena_capacity;     /* the arena's allocation */
    size_t shapes_cached;      /* memory plans / CUDA graphs held */
    bool last_run_replayed;    /* the last run replayed a captured graph */
    bool last_run_persistent;  /* the last run's graph issued runs of nodes as persistent launches */
    size_t persistent_bytes;   /* device memory of those: programs and scratch */
    char device_name[256];
    char arch[16];
} rg_cuda_exec_stats;

void rg_cuda_exec_stats_get(const rg_cuda_exec *exec, rg_cuda_exec_stats *out);

/* Where a run's time goes (rg_cuda_exec_set_timing on): host timers and,
 * on the device, CUDA events around the input copy, the kernels and the
 * output copy (inside the replayed graph). */
typedef struct rg_cuda_exec_timing {
    double host_prepare_ms; /* input checks, CPU shape nodes, sizes, memory-plan lookup */
    double host_stage_ms;   /* inputs and attention lengths into pinned staging */
    double host_launch_ms;  /* the graph launch call (a shape's first run: eager launches and capture) */
    double host_wait_ms;    /* waiting for the stream */
    double host_total_ms;   /* the whole call */
    float h2d_ms, kernels_ms, d2h_ms; /* device; -1 on a shape's first run (captured) */
    bool replayed;
} rg_cuda_exec_timing;

/* Timing adds 4 events per run (and recaptures each shape's graph once). */
rg_status rg_cuda_exec_set_timing(rg_cuda_exec *exec, bool on, rg_error *err);
/* The last timed run's figures. */
void rg_cuda_exec_timing_get(const rg_cuda_exec *exec, rg_cuda_exec_timing *out);

/* Per-node device times of the last run's shape (see cuda_exec.c):
 * node_ms holds 2 * rg_cuda_exec_node_count() floats (main launch, epilogue
 * kernel); averaged over `reps` replays. */
rg_status rg_cuda_exec_profile(rg_cuda_exec *exec, int reps, float *node_ms, rg_error *err);
size_t rg_cuda_exec_node_count(const rg_cuda_exec *exec);
/* A label grouping node i in a profile ("Linear m128 n2304 k768"), NULL for
 * nodes that run on the host. */
const char *rg_cuda_exec_node_kind(rg_cuda_exec *exec, size_t i, char *buf, size_t cap);

/* For timing: the executor's CUDA context and stream. */
rg_rt_cuda *rg_cuda_exec_cuda(rg_cuda_exec *exec);
rg_rt_cuda_stream rg_cuda_exec_stream(rg_cuda_exec *exec);

/* The CUDA executor behind a session, or NULL when it runs on the CPU (for
 * `ragged bench`). */
struct rg_session;
rg_cuda_exec *rg_session_cuda_exec(struct rg_session *session);

#endif
