/*
 * cmd_run.c — `ragged run PLAN [--input NAME=FILE.npy]... [--output
 * NAME=FILE.npy]... [--shape NAME=2x128]... [--dim SYMBOL=N]... [--seed N]
 * [--device cpu|cuda|auto] [--threads N] [--persistent auto|on|off]`.
 *
 * Inputs not given as files are generated, so that a plan can be tried
 * without preparing data. Their shapes come from --shape, else from the
 * plan's fixed dims and the values of symbolic dims (--dim, or learned from
 * the shapes of --shape and --input). The values follow a rule chosen to give
 * valid inputs for transformer models (see print_help). Everything goes
 * through the public API of include/ragged.h, except reading the plan's graph
 * to find the vocabulary size of id inputs.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "npy.h"
#include "runtime/plan.h"

enum { OPT_HELP, OPT_INPUT, OPT_OUTPUT, OPT_SHAPE, OPT_DIM, OPT_SEED, OPT_DEVICE, OPT_THREADS, OPT_PERSISTENT };

static const rg_cli_option run_options[] = {
    {"help", 'h', false, OPT_HELP},   {"input", 'i', true, OPT_INPUT},   {"output", 'o', true, OPT_OUTPUT},
    {"shape", 0, true, OPT_SHAPE},    {"dim", 0, true, OPT_DIM},         {"seed", 0, true, OPT_SEED},
    {"device", 0, true, OPT_DEVICE},  {"threads", 0, true, OPT_THREADS}, {"persistent", 0, true, OPT_PERSISTENT},
    {NULL, 0, false, 0},
};

#define DEFAULT_ID_RANGE 100

static void print_help(void) {
    printf("usage: ragged run PLAN [--input NAME=FILE.npy]... [--output NAME=FILE.npy]...\n"
           "                      [--shape NAME=DIMxDIM...]... [--dim SYMBOL=N]... [--seed N]\n"
           "                      [--device cpu|cuda|auto] [--threads N] [--persistent auto|on|off]\n"
           "\n"
           "Runs a plan once and prints a summary of every output (dtype, shape, min, max, mean,\n"
           "first values), or writes outputs to .npy files.\n"
           "\n"
           "options:\n"
           "  -i, --input NAME=FILE.npy   read input NAME from a .npy file (C order; float32, float16,\n"
           "                              int64, int32, int8, uint8, bool). A bfloat16 input may be\n"
           "                              given as float32 and is converted.\n"
           "  -o, --output NAME=FILE.npy  write output NAME to a .npy file instead of summarising it\n"
           "                              (bfloat16 outputs are written as float32)\n"
           "  --shape NAME=2x128          the shape of a generated input (\"\" for a scalar)\n"
           "  --dim SYMBOL=N              the value of a symbolic dim (e.g. batch_size=2) for every\n"
           "                              generated input\n"
           "  --seed N                    seed of the generated values (default 0)\n"
           "  --device D                  cpu, cuda or auto (default auto: the GPU when the plan has\n"
           "                              kernels for it and one is usable, else the CPU, saying why)\n"
           "  --threads N                 CPU executor threads (default: chosen by the executor)\n"
           "  --persistent M              GPU: runs of Linears, Attentions and LayerNorms as one launch:\n"
           "                              auto (the faster way, timed; the default), on or off\n"
           "  -h, --help                  this text\n"
           "\n"
           "Generated inputs. A dim is taken from --shape, else the plan's fixed value, else the\n"
           "value of its symbol from --dim or from the shapes of --shape and --input. Values:\n"
           "  - a name containing \"mask\": all ones;\n"
           "  - an integer input read by a Gather as indices (token, position and type ids):\n"
           "    uniform in [0, V), V the first dim of that Gather's constant table; other integer\n"
           "    inputs: uniform in [0, %d);\n"
           "  - bool: random true/false;\n"
           "  - float: uniform in [-1, 1].\n",
           DEFAULT_ID_RANGE);
}

/* ----------------------------------------------------------- the request */

#define NAME_MAX_LEN 256

typedef struct name_value {
    char name[NAME_MAX_LEN];
    const char *value;
} name_value;

typedef struct run_request {
    const char *plan_path;
    name_value *inputs, *outputs, *shapes, *dims; /* argv-sized arrays */
    size_t ninputs, noutputs, nshapes, ndims;
    uint64_t seed;
    rg_device device;
    int threads;
    rg_persistent_mode persistent;
} run_request;

static int add_assignment(name_value *list, size_t *count, const char *option, const char *text) {
    const char *rest;
    if (!rg_cli_split_assignment(text, list[*count].name, sizeof list[*count].name, &rest))
        return rg_cli_usage_error("run", "--%s needs NAME=VALUE, got '%s'", option, text);
    for (size_t i = 0; i < *count; i++)
        if (strcmp(list[i].name, list[*count].name) == 0)
            return rg_cli_usage_error("run", "--%s names '%s' twice", option, list[*count].name);
    list[*count].value = rest;
    (*count)++;
    return RG_EXIT_OK;
}

static const name_value *find_name(const name_value *list, size_t count, const char *name) {
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i].name, name) == 0) return &list[i];
    return NULL;
}

/* "2x128" → rank 2, dims {2, 128}; "" → rank 0. */
static bool parse_shape(const char *text, int *rank, int64_t *dims) {
    *rank = 0;
    if (*text == '\0') return true;
    for (;;) {
        if (*rank >= RG_MAX_RANK) return false;
        char part[32];
        size_t len = strcspn(text, "x");
        if (len == 0 || len >= sizeof part) return false;
        memcpy(part, text, len);
        part[len] = '\0';
        if (!rg_cli_parse_int(part, 0, INT64_MAX, &dims[*rank])) return false;
        (*rank)++;
        if (text[len] == '\0') return true;
        text += len + 1;
    }
}

static int parse_args(int argc, char **argv, run_request *req, bool *help) {
    rg_cli_args args;
    rg_cli_args_init(&args, argc, argv, "run");
    int id;
    const char *value;
    rg_cli_item item;
    int rc;
    int64_t n;
    while ((item = rg_cli_next(&args, run_options, &id, &value)) != RG_CLI_END) {
        if (item == RG_CLI_BAD) return RG_EXIT_USAGE;
        if (item == RG_CLI_POSITIONAL) {
            if (req->plan_path)
                return rg_cli_usage_error("run", "more than one plan given ('%s' and '%s')", req->plan_path, value);
            req->plan_path = value;
            continue;
        }
        switch (id) {
        case OPT_HELP: *help = true; return RG_EXIT_OK;
        case OPT_INPUT:
            if ((rc = add_assignment(req->inputs, &req->ninputs, "input", value))) return rc;
            break;
        case OPT_OUTPUT:
            if ((rc = add_assignment(req->outputs, &req->noutputs, "output", value))) return rc;
            break;
        case OPT_SHAPE: {
            if ((rc = add_assignment(req->shapes, &req->nshapes, "shape", value))) return rc;
            int rank;
            int64_t dims[RG_MAX_RANK];
            if (!parse_shape(req->shapes[req->nshapes - 1].value, &rank, dims))
                return rg_cli_usage_error("run", "--shape '%s': expected NAME=DxDx... with up to %d dims", value,
                                          RG_MAX_RANK);
            break;
        }
        case OPT_DIM:
            if ((rc = add_assignment(req->dims, &req->ndims, "dim", value))) return rc;
            if (!rg_cli_parse_int(req->dims[req->ndims - 1].value, 0, INT64_MAX, &n))
                return rg_cli_usage_error("run", "--dim '%s': the value must be a non-negative integer", value);
            break;
        case OPT_SEED:
            if (!rg_cli_parse_int(value, 0, INT64_MAX, &n))
                return rg_cli_usage_error("run", "--seed '%s' is not a non-negative integer", value);
            req->seed = (uint64_t)n;
            break;
        case OPT_DEVICE:
            if (strcmp(value, "cpu") == 0) req->device = RG_DEVICE_CPU;
            else if (strcmp(value, "cuda") == 0) req->device = RG_DEVICE_CUDA;
            else if (strcmp(value, "auto") == 0) req->device = RG_DEVICE_AUTO;
            else return rg_cli_usage_error("run", "unknown device '%s' (cpu, cuda or auto)", value);
            break;
        case OPT_THREADS:
            if (!rg_cli_parse_int(value, 1, 4096, &n))
                return rg_cli_usage_error("run", "--threads '%s' is not a count in 1..4096", value);
            req->threads = (int)n;
            break;
        case OPT_PERSISTENT:
            if (!rg_cli_parse_persistent(value, &req->persistent))
                return rg_cli_usage_error("run", "unknown --persistent '%s' (auto, on or off)", value);
            break;
        default: return rg_cli_usage_error("run", "unhandled option");
        }
    }
    if (!req->plan_path) return rg_cli_usage_error("run", "no plan given");
    return RG_EXIT_OK;
}

/* ------------------------------------------------------------- symbols */

/* The values of named symbolic dims: --dim first, then learned from shapes. */
typedef struct symbol_table {
    const char **names;
    int64_t *values;
    size_t count, cap;
} symbol_table;

static const int64_t *symbol_get(const symbol_table *t, const char *name) {
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->names[i], name) == 0) return &t->values[i];
    return NULL;
}

/* Adds name=value unless the name has a value already (the first wins; a
 * conflict is left for the session to report with the input's name). */
static void symbol_learn(symbol_table *t, const char *name, int64_t value) {
    if (!name || symbol_get(t, name) || t->count == t->cap) return;
    t->names[t->count] = name;
    t->values[t->count] = value;
    t->count++;
}

static void learn_from_shape(symbol_table *t, const rg_io_info *info, int rank, const int64_t *dims) {
    if (rank != info->rank) return;
    for (int d = 0; d < rank; d++)
        if (info->dims[d] < 0) symbol_learn(t, info->dim_names[d], dims[d]);
}

/* -------------------------------------------------------- input values */

typedef struct rng {
    uint64_t state;
} rng;

/* splitmix64: small, fast and good enough for test inputs. */
static uint64_t rng_next(rng *r) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

/* The row count of the constant table a Gather reads with `input` as its
 * indices, or 0 when no Gather reads it directly. */
static int64_t gather_vocab(const rg_graph *g, const char *input) {
    const rg_value *v = rg_graph_find_value(g, input);
    if (!v) return 0;
    for (uint32_t i = 0; i < v->nconsumers; i++) {
        const rg_node *n = v->consumers[i];
        if (n->op != RG_OP_GATHER || n->ninputs < 2 || n->inputs[1] != v || !n->inputs[0]) continue;
        const rg_value *table = n->inputs[0];
        int64_t axis = 0;
        if (rg_node_attr_int(n, "axis", 0, &axis, NULL) != RG_OK || axis != 0) continue;
        if (table->constant && table->constant->rank >= 1 && table->constant->dims[0] > 0)
            return table->constant->dims[0];
    }
    return 0;
}

static bool name_contains(const char *name, const char *word) { return strstr(name, word) != NULL; }

static void fill_generated(const rg_graph *g, const rg_io_info *info, rg_tensor *t, rng *r) {
    size_t n = rg_tensor_numel(t);
    bool mask = name_contains(info->name, "mask");
    int64_t vocab = rg_dtype_is_integer(info->dtype) ? gather_vocab(g, info->name) : 0;
    if (vocab <= 0) vocab = DEFAULT_ID_RANGE;
    if (info->dtype == RG_DTYPE_U8 || info->dtype == RG_DTYPE_I8) vocab = vocab > 100 ? 100 : vocab;
    for (size_t i = 0; i < n; i++) {
        double value;
        if (mask) value = 1.0;
        else if (rg_dtype_is_integer(info->dtype)) value = (double)(rng_next(r) % (uint64_t)vocab);
        else if (info->dtype == RG_DTYPE_BOOL) value = (double)(rng_next(r) & 1);
        else value = rng_unit(r) * 2.0 - 1.0;
        rg_store_from_double(info->dtype, t->data, i, value);
    }
}

/* ------------------------------------------------------------ the run */

typedef struct run_state {
    const rg_allocator *alloc;
    rg_plan *plan;
    rg_session *session;
    rg_tensor *tensors; /* one per plan input, owned */
    size_t ntensors;
    symbol_table symbols;
} run_state;

static void run_state_deinit(run_state *rs) {
    rg_session_free(rs->session);
    for (size_t i = 0; i < rs->ntensors; i++) rg_npy_free(rs->alloc, &rs->tensors[i]);
    rg_mem_free(rs->alloc, rs->tensors, rs->ntensors * sizeof *rs->tensors);
    rg_mem_free(rs->alloc, rs->symbols.names, rs->symbols.cap * sizeof *rs->symbols.names);
    rg_mem_free(rs->alloc, rs->symbols.values, rs->symbols.cap * sizeof *rs->symbols.values);
    rg_plan_free(rs->plan);
}

/* A float32 file for a bfloat16 input is converted in place of the tensor. */
static rg_status convert_to_bf16(const rg_allocator *alloc, rg_tensor *t, rg_error *err) {
    size_t n = rg_tensor_numel(t);
    rg_tensor out = *t;
    out.dtype = RG_DTYPE_BF16;
    out.nbytes = n * 2;
    out.data = NULL;
    if (n) {
        out.data = rg_mem_alloc(alloc, out.nbytes);
        if (!out.data) return rg_error_set(err, RG_ERR_NOMEM, "out of memory converting an input to bfloat16");
        const float *src = t->data;
        uint16_t *dst = out.data;
        for (size_t i = 0; i < n; i++) dst[i] = rg_f32_to_bf16(src[i]);
    }
    rg_npy_free(alloc, t);
    *t = out;
    return RG_OK;
}

static rg_status read_input_files(const run_request *req, run_state *rs, rg_error *err) {
    for (size_t k = 0; k < req->ninputs; k++) {
        const name_value *nv = &req->inputs[k];
        size_t i = 0;
        rg_io_info info;
        for (; i < rs->ntensors; i++) {
            RG_TRY(rg_plan_input_info(rs->plan, i, &info, err));
            if (strcmp(info.name, nv->name) == 0) break;
        }
        if (i == rs->ntensors)
            return rg_error_set(err, RG_ERR_NOT_FOUND, "--input '%s': the plan has no input of that name", nv->name);
        RG_TRY(rg_npy_read(nv->value, rs->alloc, &rs->tensors[i], err));
        if (info.dtype == RG_DTYPE_BF16 && rs->tensors[i].dtype == RG_DTYPE_F32)
            RG_TRY(convert_to_bf16(rs->alloc, &rs->tensors[i], err));
        learn_from_shape(&rs->symbols, &info, rs->tensors[i].rank, rs->tensors[i].dims);
    }
    return RG_OK;
}

/* The shape of a generated input. */
static rg_status generated_shape(const run_request *req, const run_state *rs, const rg_io_info *info, int *rank,
                                 int64_t *dims, rg_error *err) {
    const name_value *shape = find_name(req->shapes, req->nshapes, info->name);
    if (shape) {
        bool ok = parse_shape(shape->value, rank, dims);
        RG_ASSERT(ok); /* checked while parsing arguments */
        return RG_OK;
    }
    if (info->rank < 0)
        return rg_error_set(err, RG_ERR_SHAPE, "input '%s' has an unknown rank: give --shape %s=DxD... or --input",
                            info->name, info->name);
    *rank = info->rank;
    for (int d = 0; d < info->rank; d++) {
        if (info->dims[d] >= 0) {
            dims[d] = info->dims[d];
            continue;
        }
        const int64_t *value = info->dim_names[d] ? symbol_get(&rs->symbols, info->dim_names[d]) : NULL;
        if (!value) {
            if (info->dim_names[d])
                return rg_error_set(err, RG_ERR_SHAPE, "input '%s': dim %d is '%s'; give --dim %s=N or --shape %s=...",
                                    info->name, d, info->dim_names[d], info->dim_names[d], info->name);
            return rg_error_set(err, RG_ERR_SHAPE, "input '%s': dim %d has no fixed size; give --shape %s=...",
                                info->name, d, info->name);
        }
        dims[d] = *value;
    }
    return RG_OK;
}

static rg_status generate_inputs(const run_request *req, run_state *rs, rg_error *err) {
    rng r = {req->seed};
    const rg_graph *g = rs->plan->graph;
    for (size_t i = 0; i < rs->ntensors; i++) {
        rg_io_info info;
        RG_TRY(rg_plan_input_info(rs->plan, i, &info, err));
        if (find_name(req->inputs, req->ninputs, info.name)) continue;
        if (!rg_dtype_is_valid(info.dtype))
            return rg_error_set(err, RG_ERR_DTYPE, "input '%s' has no known dtype; give it with --input", info.name);
        int rank;
        int64_t dims[RG_MAX_RANK];
        RG_TRY(generated_shape(req, rs, &info, &rank, dims, err));
        rg_tensor t = {0};
        if (rg_tensor_set_shape(&t, info.dtype, rank, dims, NULL) != RG_OK)
            return rg_error_set(err, RG_ERR_SHAPE, "input '%s': the generated shape is too large", info.name);
        if (t.nbytes) {
            t.data = rg_mem_alloc(rs->alloc, t.nbytes);
            if (!t.data)
                return rg_error_set(err, RG_ERR_NOMEM, "out of memory for %zu bytes of input '%s'", t.nbytes,
                                    info.name);
        }
        rs->tensors[i] = t;
        fill_generated(g, &info, &rs->tensors[i], &r);
    }
    return RG_OK;
}

/* Symbol values from --dim and from the shapes of --shape. */
static void learn_symbols(const run_request *req, run_state *rs) {
    for (size_t k = 0; k < req->ndims; k++) {
        int64_t value = 0;
        (void)rg_cli_parse_int(req->dims[k].value, 0, INT64_MAX, &value);
        symbol_learn(&rs->symbols, req->dims[k].name, value);
    }
    for (size_t i = 0; i < rs->ntensors; i++) {
        rg_io_info info;
        if (rg_plan_input_info(rs->plan, i, &info, NULL) != RG_OK) continue;
        const name_value *shape = find_name(req->shapes, req->nshapes, info.name);
        int rank;
        int64_t dims[RG_MAX_RANK];
        if (shape && parse_shape(shape->value, &rank, dims)) learn_from_shape(&rs->symbols, &info, rank, dims);
    }
}

static rg_status check_names(const run_request *req, const rg_plan *plan, rg_error *err) {
    for (size_t k = 0; k < req->nshapes; k++) {
        size_t i = 0;
        rg_io_info info;
        for (; i < rg_plan_input_count(plan); i++) {
            RG_TRY(rg_plan_input_info(plan, i, &info, err));
            if (strcmp(info.name, req->shapes[k].name) == 0) break;
        }
        if (i == rg_plan_input_count(plan))
            return rg_error_set(err, RG_ERR_NOT_FOUND, "--shape '%s': the plan has no input of that name",
                                req->shapes[k].name);
        if (find_name(req->inputs, req->ninputs, req->shapes[k].name))
            return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "input '%s' is given both by --input and --shape",
                                req->shapes[k].name);
        int rank;
        int64_t dims[RG_MAX_RANK];
        if (parse_shape(req->shapes[k].value, &rank, dims) && info.rank >= 0 && rank != info.rank)
            return rg_error_set(err, RG_ERR_SHAPE, "--shape %s=%s: input '%s' has rank %d", req->shapes[k].name,
                                req->shapes[k].value, info.name, info.rank);
    }
    for (size_t k = 0; k < req->noutputs; k++) {
        size_t i = 0;
        rg_io_info info;
        for (; i < rg_plan_output_count(plan); i++) {
            RG_TRY(rg_plan_output_info(plan, i, &info, err));
            if (strcmp(info.name, req->outputs[k].name) == 0) break;
        }
        if (i == rg_plan_output_count(plan))
            return rg_error_set(err, RG_ERR_NOT_FOUND, "--output '%s': the plan has no output of that name",
                                req->outputs[k].name);
    }
    return RG_OK;
}

/* --------------------------------------------------------------- outputs */

static void print_shape(const rg_tensor_view *v) {
    printf("[");
    for (int d = 0; d < v->rank; d++) printf("%s%" PRId64, d ? ", " : "", v->dims[d]);
    printf("]");
}

static void summarise(const rg_tensor_view *v) {
    size_t n = 0;
    (void)rg_shape_numel(v->rank, v->dims, &n);
    printf("output '%s': %s ", v->name, rg_dtype_name(v->dtype));
    print_shape(v);
    if (n == 0) {
        printf(" (empty)\n");
        return;
    }
    double lo = INFINITY, hi = -INFINITY, sum = 0.0;
    size_t nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        double x = rg_load_as_double(v->dtype, v->data, i);
        if (!isfinite(x)) {
            nonfinite++;
            continue;
        }
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        sum += x;
    }
    if (nonfinite < n) printf("  min %.6g  max %.6g  mean %.6g", lo, hi, sum / (double)(n - nonfinite));
    if (nonfinite) printf("  (%zu NaN/inf)", nonfinite);
    printf("\n  first values:");
    for (size_t i = 0; i < n && i < 8; i++) printf(" %.6g", rg_load_as_double(v->dtype, v->data, i));
    printf(n > 8 ? " ...\n" : "\n");
}

static rg_status write_output(const run_state *rs, const rg_tensor_view *v, const char *path, rg_error *err) {
    rg_tensor t = {0};
    t.dtype = v->dtype;
    t.rank = v->rank;
    memcpy(t.dims, v->dims, sizeof t.dims);
    t.data = (void *)v->data;
    t.nbytes = v->nbytes;
    if (v->dtype != RG_DTYPE_BF16) return rg_npy_write(path, &t, err);
    /* bfloat16 has no .npy dtype: write float32 */
    size_t n = v->nbytes / 2, bytes;
    if (!rg_size_mul(n, 4, &bytes)) return rg_error_set(err, RG_ERR_NOMEM, "output '%s' is too large", v->name);
    float *f = bytes ? rg_mem_alloc(rs->alloc, bytes) : NULL;
    if (bytes && !f) return rg_error_set(err, RG_ERR_NOMEM, "out of memory converting output '%s'", v->name);
    for (size_t i = 0; i < n; i++) f[i] = rg_bf16_to_f32(((const uint16_t *)v->data)[i]);
    t.dtype = RG_DTYPE_F32;
    t.data = f;
    t.nbytes = bytes;
    rg_status st = rg_npy_write(path, &t, err);
    rg_mem_free(rs->alloc, f, bytes);
    return st;
}

static rg_status report_outputs(const run_request *req, const run_state *rs, rg_error *err) {
    for (size_t i = 0; i < rg_plan_output_count(rs->plan); i++) {
        rg_io_info info;
        RG_TRY(rg_plan_output_info(rs->plan, i, &info, err));
        rg_tensor_view v;
        RG_TRY(rg_session_output(rs->session, info.name, &v, err));
        const name_value *dest = find_name(req->outputs, req->noutputs, info.name);
        if (!dest) {
            summarise(&v);
            continue;
        }
        RG_TRY(write_output(rs, &v, dest->value, err));
        printf("output '%s': %s ", v.name, rg_dtype_name(v.dtype));
        print_shape(&v);
        printf(" written to %s\n", dest->value);
    }
    return RG_OK;
}

static rg_status run(const run_request *req, rg_error *err) {
    run_state rs = {0};
    rs.alloc = rg_allocator_default();
    rg_status st;
    if ((st = rg_plan_load(req->plan_path, &rs.plan, err)) != RG_OK) goto done;
    if ((st = check_names(req, rs.plan, err)) != RG_OK) goto done;
    size_t n = rg_plan_input_count(rs.plan);
    /* room for every --dim and one symbol per input dim */
    size_t cap = req->ndims + n * RG_MAX_RANK;
    rs.symbols.names = rg_mem_calloc(rs.alloc, cap, sizeof *rs.symbols.names);
    rs.symbols.values = rg_mem_calloc(rs.alloc, cap, sizeof *rs.symbols.values);
    rs.tensors = n ? rg_mem_calloc(rs.alloc, n, sizeof *rs.tensors) : NULL;
    rs.symbols.cap = cap;
    rs.ntensors = rs.tensors ? n : 0;
    if ((n && !rs.tensors) || (cap && (!rs.symbols.names || !rs.symbols.values))) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory for %zu inputs", n);
        goto done;
    }
    learn_symbols(req, &rs);
    if ((st = read_input_files(req, &rs, err)) != RG_OK) goto done;
    if ((st = generate_inputs(req, &rs, err)) != RG_OK) goto done;

    rg_session_options options = {req->device, req->threads};
    if ((st = rg_session_new(rs.plan, &options, &rs.session, err)) != RG_OK) goto done;
    rg_cli_note_fallback(rs.session);
    if ((st = rg_session_set_persistent(rs.session, req->persistent, err)) != RG_OK) goto done;
    for (size_t i = 0; i < n; i++) {
        rg_io_info info;
        if ((st = rg_plan_input_info(rs.plan, i, &info, err)) != RG_OK) goto done;
        const rg_tensor *t = &rs.tensors[i];
        if ((st = rg_session_bind_input(rs.session, info.name, t->dtype, t->rank, t->dims, t->data, err)) != RG_OK)
            goto done;
    }
    double start = rg_cli_now();
    if ((st = rg_session_run(rs.session, err)) != RG_OK) goto done;
    double elapsed = rg_cli_now() - start;
    printf("ran %s on the %s in %.3f ms\n", req->plan_path,
           rg_session_device(rs.session) == RG_DEVICE_CUDA ? "gpu" : "cpu", elapsed * 1e3);
    st = report_outputs(req, &rs, err);
done:
    run_state_deinit(&rs);
    return st;
}

int rg_cmd_run(int argc, char **argv) {
    const rg_allocator *alloc = rg_allocator_default();
    size_t slots = (size_t)(argc > 0 ? argc : 1);
    run_request req = {0};
    req.device = RG_DEVICE_AUTO;
    req.inputs = rg_mem_calloc(alloc, slots, sizeof *req.inputs);
    req.outputs = rg_mem_calloc(alloc, slots, sizeof *req.outputs);
    req.shapes = rg_mem_calloc(alloc, slots, sizeof *req.shapes);
    req.dims = rg_mem_calloc(alloc, slots, sizeof *req.dims);
    int rc;
    bool help = false;
    if (!req.inputs || !req.outputs || !req.shapes || !req.dims) {
        rg_error err;
        rg_error_set(&err, RG_ERR_NOMEM, "out of memory for the command line");
        rc = rg_cli_fail(&err);
    } else if ((rc = parse_args(argc, argv, &req, &help)) == RG_EXIT_OK) {
        if (help) {
            print_help();
        } else {
            rg_error err = {0};
            if (run(&req, &err) != RG_OK) rc = rg_cli_fail(&err);
        }
    }
    rg_mem_free(alloc, req.inputs, slots * sizeof *req.inputs);
    rg_mem_free(alloc, req.outputs, slots * sizeof *req.outputs);
    rg_mem_free(alloc, req.shapes, slots * sizeof *req.shapes);
    rg_mem_free(alloc, req.dims, slots * sizeof *req.dims);
    return rc;
}
