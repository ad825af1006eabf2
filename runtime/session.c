/*
 * session.c — the public session API of include/ragged.h: plan input/output
 * descriptions, and sessions that bind caller memory to a plan's inputs, run
 * the plan and hand out views of its outputs.
 *
 * A session is a thin layer over an executor. Binding checks what can be
 * checked against one input alone (name, dtype, rank, fixed dims) so that a
 * mistake is reported where it is made; what needs all inputs together (the
 * values of symbolic dims) is checked by the executor when the session runs.
 * RG_DEVICE_AUTO picks the CUDA executor for a plan compiled for a GPU when
 * this machine has a usable one of that arch; otherwise the CPU executor,
 * saying why on one line of stderr (docs/cuda.md) when the plan was meant for
 * a GPU. RG_DEVICE_CUDA makes that reason an error instead.
 */
#include <stdio.h>
#include <string.h>

#include "cpu.h"
#include "cuda_exec.h"
#include "plan.h"

struct rg_session {
    const rg_plan *plan;
    const rg_graph *graph;
    const rg_allocator *alloc;
    rg_cpu_exec *exec;
    rg_cuda_exec *cuda_exec; /* instead of exec when running on the GPU */
    char fallback_reason[RG_ERROR_MESSAGE_MAX]; /* why AUTO chose the CPU; "" when it did not */
    rg_tensor *inputs; /* one per graph input, g->inputs order; data borrowed */
    bool *bound;
    size_t ninputs;
    bool have_outputs; /* the last run succeeded */
};

/* ------------------------------------------------------------ plan info */

size_t rg_plan_input_count(const rg_plan *plan) { return plan && plan->graph ? plan->graph->ninputs : 0; }

size_t rg_plan_output_count(const rg_plan *plan) { return plan && plan->graph ? plan->graph->noutputs : 0; }

/* A dim that is exactly one symbol (coefficient 1, no constant) is named by
 * that symbol; any other expression is reported as unnamed. */
static const char *dim_symbol_name(const rg_graph *g, const rg_dim *d) {
    if (d->unknown || d->constant != 0 || d->nterms != 1) return NULL;
    const rg_dim_term *t = &d->term[0];
    if (t->coef != 1 || t->sym[1] != 0) return NULL;
    uint16_t id = t->sym[0];
    return id > 0 && id < g->nsymbols ? g->symbols[id] : NULL;
}

static void describe_value(const rg_graph *g, const rg_value *v, rg_io_info *out) {
    rg_io_info info;
    memset(&info, 0, sizeof info);
    info.name = v->name;
    info.dtype = v->dtype;
    info.rank = v->rank;
    for (int i = 0; i < v->rank && i < RG_MAX_RANK; i++) {
        int64_t fixed;
        if (rg_dim_is_const(&v->dims[i], &fixed) && fixed >= 0) {
            info.dims[i] = fixed;
        } else {
            info.dims[i] = -1;
            info.dim_names[i] = dim_symbol_name(g, &v->dims[i]);
        }
    }
    *out = info;
}

static rg_status io_info(const rg_plan *plan, size_t index, bool input, rg_io_info *out, rg_error *err) {
    const char *kind = input ? "input" : "output";
    if (!plan || !plan->graph || !out)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_plan_%s_info needs a plan and an out pointer", kind);
    const rg_graph *g = plan->graph;
    size_t count = input ? g->ninputs : g->noutputs;
    if (index >= count)
        return rg_error_set(err, RG_ERR_NOT_FOUND, "%s index %zu is out of range: the plan has %zu %ss", kind, index,
                            count, kind);
    describe_value(g, input ? g->inputs[index] : g->outputs[index], out);
    return RG_OK;
}

rg_status rg_plan_input_info(const rg_plan *plan, size_t index, rg_io_info *out, rg_error *err) {
    return io_info(plan, index, true, out, err);
}

rg_status rg_plan_output_info(const rg_plan *plan, size_t index, rg_io_info *out, rg_error *err) {
    return io_info(plan, index, false, out, err);
}

/* ---------------------------------------------------------------- session */

rg_status rg_session_new(const rg_plan *plan, const rg_session_options *options, rg_session **out, rg_error *err) {
    if (!plan || !plan->graph || !out)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_session_new needs a plan and an out pointer");
    rg_session_options opts = {RG_DEVICE_AUTO, 0};
    if (options) opts = *options;
    switch (opts.device) {
    case RG_DEVICE_AUTO:
    case RG_DEVICE_CPU:
    case RG_DEVICE_CUDA: break;
    default: return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "unknown device %d", (int)opts.device);
    }
    if (opts.num_threads < 0)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "num_threads is %d; give 0 for a default or a positive count",
                            opts.num_threads);

    const rg_allocator *alloc = rg_allocator_default();
    const rg_graph *g = plan->graph;
    rg_status st;
    rg_session *s = rg_mem_calloc(alloc, 1, sizeof *s);
    if (!s) return rg_error_set(err, RG_ERR_NOMEM, "out of memory for a session");
    s->plan = plan;
    s->graph = g;
    s->alloc = alloc;
    s->ninputs = g->ninputs;
    if (s->ninputs) {
        s->inputs = rg_mem_calloc(alloc, s->ninputs, sizeof *s->inputs);
        s->bound = rg_mem_calloc(alloc, s->ninputs, sizeof *s->bound);
        if (!s->inputs || !s->bound) {
            st = rg_error_set(err, RG_ERR_NOMEM, "out of memory for a session's %zu inputs", s->ninputs);
            goto fail;
        }
    }
    bool gpu_plan = plan->nkernels > 0;
    if (opts.device == RG_DEVICE_CUDA || (opts.device == RG_DEVICE_AUTO && gpu_plan)) {
        rg_error why = {0};
        st = rg_cuda_exec_new(plan, alloc, &s->cuda_exec, &why);
        if (st != RG_OK && opts.device == RG_DEVICE_CUDA) {
            if (err) *err = why;
            goto fail;
        }
        if (st != RG_OK) {
            /* the library never prints: callers show rg_session_fallback_reason() */
            snprintf(s->fallback_reason, sizeof s->fallback_reason, "%s", why.message);
        }
    }
    if (!s->cuda_exec && (st = rg_cpu_exec_new(g, alloc, opts.num_threads, &s->exec, err)) != RG_OK) goto fail;
    *out = s;
    return RG_OK;
fail:
    rg_session_free(s);
    return st;
}

void rg_session_free(rg_session *s) {
    if (!s) return;
    rg_cpu_exec_free(s->exec);
    rg_cuda_exec_free(s->cuda_exec);
    rg_mem_free(s->alloc, s->inputs, s->ninputs * sizeof *s->inputs);
    rg_mem_free(s->alloc, s->bound, s->ninputs * sizeof *s->bound);
    rg_mem_free(s->alloc, s, sizeof *s);
}

/* "'a', 'b', 'c'" — the names a caller could have meant, for NOT_FOUND
 * messages; cut with "..." when it does not fit. */
static const char *list_names(rg_value *const *values, size_t count, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        int n = snprintf(buf + used, cap - used, "%s'%s'", i ? ", " : "", values[i]->name);
        if (n < 0 || (size_t)n >= cap - used) {
            if (cap > 4) memcpy(buf + cap - 4, "...", 4);
            break;
        }
        used += (size_t)n;
    }
    if (count == 0) snprintf(buf, cap, "none");
    return buf;
}

/* The position of the value called `name` among `values` (a plan's inputs
 * or outputs); RG_ERR_NOT_FOUND listing the names there are. */
static rg_status find_named(rg_value *const *values, size_t count, const char *name, const char *what,
                            size_t *index, rg_error *err) {
    for (size_t i = 0; i < count; i++)
        if (strcmp(values[i]->name, name) == 0) {
            *index = i;
            return RG_OK;
        }
    char names[256];
    return rg_error_set(err, RG_ERR_NOT_FOUND, "the plan has no %s '%s' (%ss: %s)", what, name, what,
                        list_names(values, count, names, sizeof names));
}

static const char *shape_text(int rank, const int64_t *dims, char *buf, size_t cap) {
    size_t used = 0;
    int n = snprintf(buf, cap, "[");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < rank && used < cap; i++) {
        n = snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "", (long long)dims[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    if (used < cap) snprintf(buf + used, cap - used, "]");
    return buf;
}

rg_status rg_session_bind_input(rg_session *s, const char *name, rg_dtype dtype, int rank, const int64_t *dims,
                                const void *data, rg_error *err) {
    if (!s || !name)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_session_bind_input needs a session and an input name");
    const rg_graph *g = s->graph;
    size_t index;
    RG_TRY(find_named(g->inputs, g->ninputs, name, "input", &index, err));
    const rg_value *v = g->inputs[index];
    if (dtype != v->dtype)
        return rg_error_set(err, RG_ERR_DTYPE, "input '%s' expects %s, got %s", name, rg_dtype_name(v->dtype),
                            rg_dtype_name(dtype));
    if (rank < 0 || rank > RG_MAX_RANK)
        return rg_error_set(err, RG_ERR_SHAPE, "input '%s': rank %d is outside 0..%d", name, rank, RG_MAX_RANK);
    if (v->rank >= 0 && rank != v->rank)
        return rg_error_set(err, RG_ERR_SHAPE, "input '%s' expects rank %d, got rank %d", name, v->rank, rank);
    if (rank > 0 && !dims)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "input '%s': no dims given for rank %d", name, rank);
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return rg_error_set(err, RG_ERR_SHAPE, "input '%s': dim %d is negative (%lld)", name, i,
                                (long long)dims[i]);
        int64_t fixed;
        if (v->rank >= 0 && rg_dim_is_const(&v->dims[i], &fixed) && fixed != dims[i]) {
            char got[RG_MAX_RANK * 22 + 4];
            return rg_error_set(err, RG_ERR_SHAPE, "input '%s': dim %d must be %lld, got shape %s", name, i,
                                (long long)fixed, shape_text(rank, dims, got, sizeof got));
        }
    }
    rg_tensor t = {0};
    if (rg_tensor_set_shape(&t, dtype, rank, dims, NULL) != RG_OK)
        return rg_error_set(err, RG_ERR_SHAPE, "input '%s': the shape's size overflows", name);
    if (t.nbytes && !data)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "input '%s': data is NULL for %zu bytes", name, t.nbytes);
    t.data = (void *)data; /* borrowed; the executor only reads inputs */
    s->inputs[index] = t;
    s->bound[index] = true;
    return RG_OK;
}

rg_status rg_session_run(rg_session *s, rg_error *err) {
    if (!s) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_session_run needs a session");
    for (size_t i = 0; i < s->ninputs; i++)
        if (!s->bound[i])
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "input '%s' is not bound", s->graph->inputs[i]->name);
    s->have_outputs = false;
    if (s->cuda_exec) RG_TRY(rg_cuda_exec_run(s->cuda_exec, s->inputs, s->ninputs, err));
    else RG_TRY(rg_cpu_exec_run(s->exec, s->inputs, s->ninputs, err));
    s->have_outputs = true;
    return RG_OK;
}

rg_status rg_session_output(const rg_session *s, const char *name, rg_tensor_view *out, rg_error *err) {
    if (!s || !name || !out)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_session_output needs a session, a name and an out pointer");
    const rg_graph *g = s->graph;
    size_t index;
    RG_TRY(find_named(g->outputs, g->noutputs, name, "output", &index, err));
    if (s->have_outputs && s->cuda_exec && rg_cuda_exec_output_is_device(s->cuda_exec, index))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT,
                            "output '%s' stays in device memory (outputs on device); read it with "
                            "rg_session_output_device", name);
    const rg_tensor *t = !s->have_outputs ? NULL
                         : s->cuda_exec  ? rg_cuda_exec_output(s->cuda_exec, index)
                                         : rg_cpu_exec_output(s->exec, index);
    if (!t)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT,
                            "output '%s' is not available: the session has not run successfully yet", name);
    rg_tensor_view view;
    memset(&view, 0, sizeof view);
    view.name = g->outputs[index]->name;
    view.dtype = t->dtype;
    view.rank = t->rank;
    memcpy(view.dims, t->dims, sizeof view.dims);
    view.data = t->data;
    view.nbytes = t->nbytes;
    *out = view;
    return RG_OK;
}

rg_status rg_session_set_outputs_on_device(rg_session *s, bool on, rg_error *err) {
    if (!s) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_session_set_outputs_on_device needs a session");
    if (!s->cuda_exec) {
        if (!on) return RG_OK;
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "outputs on device: the session runs on the CPU");
    }
    RG_TRY(rg_cuda_exec_set_outputs_on_device(s->cuda_exec, on, err));
    s->have_outputs = false;
    return RG_OK;
}

rg_status rg_session_set_persistent(rg_session *s, rg_persistent_mode mode, rg_error *err) {
    if (!s) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_session_set_persistent needs a session");
    if (mode != RG_PERSISTENT_AUTO && mode != RG_PERSISTENT_ON && mode != RG_PERSISTENT_OFF)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "persistent mode %d (RG_PERSISTENT_AUTO, _ON or _OFF)",
                            (int)mode);
    if (!s->cuda_exec) {
        if (mode != RG_PERSISTENT_ON) return RG_OK;
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "persistent launches: the session runs on the CPU");
    }
    RG_TRY(rg_cuda_exec_set_persistent(s->cuda_exec, mode, err));
    s->have_outputs = false;
    return RG_OK;
}

rg_status rg_session_output_device(const rg_session *s, const char *name, rg_tensor_view *out, rg_error *err) {
    if (!s || !name || !out)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT,
                            "rg_session_output_device needs a session, a name and an out pointer");
    const rg_graph *g = s->graph;
    size_t index;
    RG_TRY(find_named(g->outputs, g->noutputs, name, "output", &index, err));
    if (!s->cuda_exec)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "output '%s' has no device copy: the session runs on the CPU",
                            name);
    if (!s->have_outputs)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT,
                            "output '%s' is not available: the session has not run successfully yet", name);
    rg_tensor t;
    RG_TRY(rg_cuda_exec_output_device(s->cuda_exec, index, &t, err));
    rg_tensor_view view;
    memset(&view, 0, sizeof view);
    view.name = g->outputs[index]->name;
    view.dtype = t.dtype;
    view.rank = t.rank;
    memcpy(view.dims, t.dims, sizeof view.dims);
    view.data = t.data;
    view.nbytes = t.nbytes;
    *out = view;
    return RG_OK;
}

rg_device rg_session_device(const rg_session *s) { return s && s->cuda_exec ? RG_DEVICE_CUDA : RG_DEVICE_CPU; }

const char *rg_session_fallback_reason(const rg_session *s) {
    return s && s->fallback_reason[0] ? s->fallback_reason : NULL;
}

rg_cuda_exec *rg_session_cuda_exec(rg_session *s) { return s ? s->cuda_exec : NULL; }
