/*
 * node_tests.c — runs the ONNX backend node tests against ragged's importer,
 * shape inference and CPU executor.
 *
 * Each test is a folder test_<name>/ with model.onnx (usually one node) and
 * test_data_set_<n>/{input,output}_<k>.pb (serialized TensorProtos), as
 * written by tests/onnx/gen_node_tests.py or shipped by older onnx releases.
 *
 * A test is *applicable* when its model lies inside what ragged claims to
 * support: every node's op is in the op table (ir/op.h, via rg_op_lookup, plus
 * Constant, which the importer folds), the ai.onnx opset is within
 * RG_OPSET_MIN..RG_OPSET_MAX, every graph input, output and initializer is a
 * tensor of an element type ragged has, and no attribute holds a subgraph or a
 * sparse tensor. The classification reads the model's protobuf wire format
 * directly (a few fields of ModelProto/GraphProto/NodeProto), independently of
 * the importer, so that an importer wrongly refusing a supported model shows
 * up as a failure instead of hiding among the not-applicable tests.
 *
 * Every applicable test runs in a child process (fork), so a crash, a
 * sanitizer report, a leak or a hang (timeout) fails that test alone and the
 * run goes on. Tolerances follow the ONNX backend's defaults, numpy
 * allclose-style |got - want| <= atol + rtol * |want|:
 *   float32: rtol 1e-3, atol 1e-7 (onnx TestCase defaults)
 *   float16: rtol 1e-2, atol 1e-3; bfloat16: rtol 2e-2, atol 1e-2
 *   (their epsilons are 9.8e-4 and 7.8e-3, and references are rounded
 *   float32 results, so one rounding either side must fit)
 *   NaN matches NaN, an infinity matches the same infinity;
 *   integers and bools must match exactly.
 *
 * Usage: node_tests [--report FILE] [--expected FILE] [--filter SUBSTR]
 *                   [--no-fork] [DIR]
 *   DIR defaults to $RG_ONNX_NODE_TESTS. Exit 0 when every applicable test
 *   passes or is listed in the expected-failure file, 1 otherwise, 77 (ctest's
 *   skip) when there is no node-test folder.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frontend/onnx.h"
#include "ir/dtype.h"
#include "ir/graph.h"
#include "runtime/cpu.h"

#define NT_PATH_MAX 4096
#define NT_MSG_MAX 1024
#define NT_NAME_MAX 256
#define NT_TIMEOUT_S 120
#define NT_EXIT_SKIP 77

/* ------------------------------------------------------------------ paths */

/* snprintf into a path buffer; false when the result would not fit, so that
 * a cut path is never used. */
static bool nt_path(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool nt_path(char *buf, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}

/* A message into a fixed buffer; a long one is cut, which is fine for a
 * message (paths, by contrast, go through nt_path and are checked). */
static void nt_msg(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void nt_msg(char *buf, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ lists */

/* A growable list of owned strings. */
typedef struct nt_strings {
    char **items;
    size_t count, cap;
} nt_strings;

static bool nt_strings_push(nt_strings *l, const char *s) {
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items) return false;
        l->items = items;
        l->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy) return false;
    l->items[l->count++] = copy;
    return true;
}

static void nt_strings_free(nt_strings *l) {
    for (size_t i = 0; i < l->count; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int nt_cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entries of `dir` whose names start with `prefix`. */
static bool nt_list_dir(const char *dir, const char *prefix, nt_strings *out) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    size_t plen = strlen(prefix);
    bool ok = true;
    while (ok && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) == 0) ok = nt_strings_push(out, e->d_name);
    }
    closedir(d);
    if (ok) qsort(out->items, out->count, sizeof *out->items, nt_cmp_str);
    return ok;
}

/* ------------------------------------------------------- protobuf walking */

/* The few wire-format rules needed to read a ModelProto's structure. */
typedef struct pb_reader {
    const uint8_t *p, *end;
} pb_reader;

typedef struct pb_field {
    uint32_t number;
    uint32_t wire;
    uint64_t varint;
    const uint8_t *data;
    size_t len;
} pb_field;

static bool pb_varint(pb_reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return false;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* 1: a field was read; 0: end of message; -1: malformed. */
static int pb_next(pb_reader *r, pb_field *f) {
    if (r->p >= r->end) return 0;
    uint64_t key;
    if (!pb_varint(r, &key)) return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    f->data = NULL;
    f->len = 0;
    switch (f->wire) {
    case 0: return pb_varint(r, &f->varint) ? 1 : -1;
    case 1:
        if (r->end - r->p < 8) return -1;
        r->p += 8;
        return 1;
    case 2: {
        uint64_t len;
        if (!pb_varint(r, &len) || len > (uint64_t)(r->end - r->p)) return -1;
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    case 5:
        if (r->end - r->p < 4) return -1;
        r->p += 4;
        return 1;
    default: return -1;
    }
}

static pb_reader pb_sub(const pb_field *f) {
    return (pb_reader){f->data, f->data + f->len};
}

static void pb_string(const pb_field *f, char *buf, size_t cap) {
    size_t n = f->len < cap - 1 ? f->len : cap - 1;
    memcpy(buf, f->data, n);
    buf[n] = '\0';
}

/* ------------------------------------------------------- classification */

/* In order of priority: a model that is out of scope for several reasons is
 * counted under the first (the most useful to read: a missing op before the
 * opset or dtype that would come next). */
typedef enum nt_class {
    NT_APPLICABLE = 0,
    NT_NA_MALFORMED, /* the file could not be read as a model */
    NT_NA_OP,        /* an op outside ragged's op table */
    NT_NA_DOMAIN,    /* a node of another domain */
    NT_NA_OPSET,     /* ai.onnx opset outside RG_OPSET_MIN..MAX */
    NT_NA_SUBGRAPH,  /* an attribute holding a graph or sparse tensor */
    NT_NA_TYPE,      /* a sequence, map, optional or sparse value */
    NT_NA_DTYPE,     /* an element type ragged lacks */
    NT_CLASS_COUNT
} nt_class;

static const char *const nt_class_names[NT_CLASS_COUNT] = {
    "applicable", "unreadable model", "op", "domain", "opset", "subgraph attribute", "non-tensor type", "dtype",
};

typedef struct nt_classification {
    nt_class cls;
    char reason[NT_MSG_MAX];
    char op[NT_NAME_MAX]; /* for NT_NA_OP: the first missing op */
} nt_classification;

/* Keeps the reason of the highest priority, the first found among equals. */
static void nt_set(nt_classification *c, nt_class cls, const char *fmt, const char *arg) {
    if (c->cls != NT_APPLICABLE && c->cls <= cls) return;
    c->cls = cls;
    nt_msg(c->reason, sizeof c->reason, fmt, arg);
    if (cls == NT_NA_OP) nt_msg(c->op, sizeof c->op, "%s", arg);
}

static void nt_check_elem_type(nt_classification *c, uint64_t code, nt_class cls) {
    if (rg_dtype_from_onnx((int)code) != RG_DTYPE_UNDEFINED) return;
    nt_set(c, cls, "dtype %s", rg_onnx_dtype_name((int)code));
}

/* TensorProto: field 2 data_type. */
static void nt_check_tensor(nt_classification *c, pb_reader r) {
    pb_field f;
    int got;
    while ((got = pb_next(&r, &f)) == 1) {
        if (f.number == 2 && f.wire == 0) nt_check_elem_type(c, f.varint, NT_NA_DTYPE);
    }
    if (got < 0) nt_set(c, NT_NA_MALFORMED, "%s", "malformed TensorProto");
}

/* ValueInfoProto: 2 type → TypeProto: 1 tensor_type → 1 elem_type; any other
 * TypeProto member (4 sequence, 5 map, 8 sparse tensor, 9 optional) is a
 * non-tensor value. */
static void nt_check_value_info(nt_classification *c, pb_reader r) {
    pb_field f, t, e;
    while (pb_next(&r, &f) == 1) {
        if (f.number != 2 || f.wire != 2) continue;
        pb_reader tr = pb_sub(&f);
        while (pb_next(&tr, &t) == 1) {
            if (t.wire != 2) continue;
            if (t.number == 1) {
                pb_reader er = pb_sub(&t);
                while (pb_next(&er, &e) == 1) {
                    if (e.number == 1 && e.wire == 0) nt_check_elem_type(c, e.varint, NT_NA_DTYPE);
                }
            } else if (t.number == 4 || t.number == 5 || t.number == 8 || t.number == 9) {
                nt_set(c, NT_NA_TYPE, "%s", "a sequence, map, sparse or optional value");
            }
        }
    }
}

/* NodeProto: 4 op_type, 7 domain, 5 attribute (AttributeProto: 5 t,
 * 6 g, 11 graphs, 22 sparse_tensor, 23 sparse_tensors, 10 tensors). */
static void nt_check_node(nt_classification *c, pb_reader r) {
    char op_type[NT_NAME_MAX] = "", domain[NT_NAME_MAX] = "";
    pb_field f, a;
    while (pb_next(&r, &f) == 1) {
        if (f.wire != 2) continue;
        if (f.number == 4) pb_string(&f, op_type, sizeof op_type);
        if (f.number == 7) pb_string(&f, domain, sizeof domain);
        if (f.number != 5) continue;
        pb_reader ar = pb_sub(&f);
        while (pb_next(&ar, &a) == 1) {
            if (a.wire != 2) continue;
            if (a.number == 5 || a.number == 10) nt_check_tensor(c, pb_sub(&a));
            if (a.number == 6 || a.number == 11 || a.number == 22 || a.number == 23)
                nt_set(c, NT_NA_SUBGRAPH, "%s", "an attribute holds a graph or sparse tensor");
        }
    }
    bool onnx_domain = domain[0] == '\0' || strcmp(domain, "ai.onnx") == 0;
    if (!onnx_domain) {
        nt_set(c, NT_NA_DOMAIN, "domain '%s'", domain);
        return;
    }
    rg_op op;
    if (strcmp(op_type, "Constant") == 0 || rg_op_lookup("", op_type, &op)) return;
    nt_set(c, NT_NA_OP, "op %s is not in ragged's op table", op_type);
}

/* GraphProto: 1 node, 5 initializer, 11 input, 12 output, 15 sparse_initializer. */
static void nt_check_graph(nt_classification *c, pb_reader r) {
    pb_field f;
    while (pb_next(&r, &f) == 1) {
        if (f.wire != 2) continue;
        if (f.number == 1) nt_check_node(c, pb_sub(&f));
        if (f.number == 5) nt_check_tensor(c, pb_sub(&f));
        if (f.number == 11 || f.number == 12) nt_check_value_info(c, pb_sub(&f));
        if (f.number == 15) nt_set(c, NT_NA_TYPE, "%s", "a sparse initializer");
    }
}

static void nt_classify(const uint8_t *data, size_t size, nt_classification *c) {
    memset(c, 0, sizeof *c);
    pb_reader r = {data, data + size};
    pb_field f, o;
    int64_t opset = -1;
    bool have_graph = false;
    pb_field graph = {0};
    int got;
    while ((got = pb_next(&r, &f)) == 1) {
        if (f.number == 7 && f.wire == 2) {
            graph = f;
            have_graph = true;
        }
        if (f.number != 8 || f.wire != 2) continue;
        char domain[NT_NAME_MAX] = "";
        int64_t version = 0;
        pb_reader orr = pb_sub(&f);
        while (pb_next(&orr, &o) == 1) {
            if (o.number == 1 && o.wire == 2) pb_string(&o, domain, sizeof domain);
            if (o.number == 2 && o.wire == 0) version = (int64_t)o.varint;
        }
        if (domain[0] == '\0' || strcmp(domain, "ai.onnx") == 0) opset = version;
    }
    if (got < 0 || !have_graph) {
        nt_set(c, NT_NA_MALFORMED, "%s", "model.onnx is not a readable ModelProto");
        return;
    }
    nt_check_graph(c, pb_sub(&graph));
    if (opset < RG_OPSET_MIN || opset > RG_OPSET_MAX) {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)opset);
        nt_set(c, NT_NA_OPSET, "opset %s is outside ragged's 11..21", buf);
    }
}

static bool nt_read_file(const char *path, uint8_t **out, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    bool ok = true;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *grown = realloc(buf, cap);
            if (!grown) {
                ok = false;
                break;
            }
            buf = grown;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            ok = !ferror(f);
            break;
        }
    }
    fclose(f);
    if (!ok) {
        free(buf);
        return false;
    }
    *out = buf;
    *size = len;
    return true;
}

/* ------------------------------------------------------------ comparison */

static double nt_float_at(const rg_tensor *t, size_t i) {
    switch (t->dtype) {
    case RG_DTYPE_F32: return ((const float *)t->data)[i];
    case RG_DTYPE_F16: return rg_f16_to_f32(((const uint16_t *)t->data)[i]);
    case RG_DTYPE_BF16: return rg_bf16_to_f32(((const uint16_t *)t->data)[i]);
    default: return NAN;
    }
}

static void nt_tolerance(rg_dtype dtype, double *rtol, double *atol) {
    switch (dtype) {
    case RG_DTYPE_F16: *rtol = 1e-2, *atol = 1e-3; break;
    case RG_DTYPE_BF16: *rtol = 2e-2, *atol = 1e-2; break;
    default: *rtol = 1e-3, *atol = 1e-7; break;
    }
}

static void nt_shape_str(const rg_tensor *t, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "%s[", rg_dtype_name(t->dtype));
    for (int i = 0; i < t->rank && n < cap; i++) {
        n += (size_t)snprintf(buf + n, cap - n, i ? ",%lld" : "%lld", (long long)t->dims[i]);
    }
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* Compares one output; fills msg and returns false on a mismatch. */
static bool nt_compare(size_t index, const rg_tensor *got, const rg_tensor *want, char *msg, size_t cap) {
    bool same_shape = got->dtype == want->dtype && got->rank == want->rank;
    for (int i = 0; same_shape && i < want->rank; i++) same_shape = got->dims[i] == want->dims[i];
    if (!same_shape) {
        char g[128], w[128];
        nt_shape_str(got, g, sizeof g);
        nt_shape_str(want, w, sizeof w);
        nt_msg(msg, cap, "output %zu: got %s, want %s", index, g, w);
        return false;
    }
    size_t n = rg_tensor_numel(want);
    size_t bad = 0, first = 0;
    double worst = 0, got_first = 0, want_first = 0;
    if (rg_dtype_is_float(want->dtype)) {
        double rtol, atol;
        nt_tolerance(want->dtype, &rtol, &atol);
        for (size_t i = 0; i < n; i++) {
            double a = nt_float_at(got, i), b = nt_float_at(want, i);
            bool ok;
            if (isnan(b)) ok = isnan(a);
            else if (isinf(b)) ok = a == b;
            else ok = fabs(a - b) <= atol + rtol * fabs(b);
            if (ok) continue;
            double d = isnan(a) || isinf(a) ? INFINITY : fabs(a - b);
            if (bad++ == 0) first = i, got_first = a, want_first = b;
            if (d > worst) worst = d;
        }
        if (bad == 0) return true;
        nt_msg(msg, cap, "output %zu: %zu of %zu elements off (rtol %g atol %g), first [%zu] got %.9g want %.9g, "
                 "max |diff| %.3g", index, bad, n, rtol, atol, first, got_first, want_first, worst);
        return false;
    }
    size_t esize = rg_dtype_size(want->dtype);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *a = (const uint8_t *)got->data + i * esize, *b = (const uint8_t *)want->data + i * esize;
        bool ok = want->dtype == RG_DTYPE_BOOL ? (*a != 0) == (*b != 0) : memcmp(a, b, esize) == 0;
        if (!ok && bad++ == 0) first = i;
    }
    if (bad == 0) return true;
    nt_msg(msg, cap, "output %zu: %zu of %zu elements differ (exact %s), first at [%zu]", index, bad, n,
             rg_dtype_name(want->dtype), first);
    return false;
}

/* ------------------------------------------------------------ one test */

/* Runs one data set through an executor. */
static bool nt_run_data_set(const rg_graph *g, rg_cpu_exec *exec, const char *set_dir, char *msg, size_t cap) {
    char path[NT_PATH_MAX];
    rg_tensor *inputs = NULL;
    size_t ninputs = 0;
    bool ok = false;
    rg_error err = {0};

    inputs = calloc(g->ninputs ? g->ninputs : 1, sizeof *inputs);
    if (!inputs) {
        nt_msg(msg, cap, "out of memory");
        return false;
    }
    for (; ninputs < g->ninputs; ninputs++) {
        if (!nt_path(path, sizeof path, "%s/input_%zu.pb", set_dir, ninputs)) {
            nt_msg(msg, cap, "path too long in %s", set_dir);
            goto done;
        }
        if (rg_onnx_read_tensor_file(path, NULL, &inputs[ninputs], &err) != RG_OK) {
            nt_msg(msg, cap, "input %zu: %s", ninputs, err.message);
            goto done;
        }
    }
    if (nt_path(path, sizeof path, "%s/input_%zu.pb", set_dir, ninputs) && access(path, F_OK) == 0) {
        nt_msg(msg, cap, "the data set has more inputs than the graph's %u", g->ninputs);
        goto done;
    }
    if (rg_cpu_exec_run(exec, inputs, ninputs, &err) != RG_OK) {
        nt_msg(msg, cap, "run: %s", err.message);
        goto done;
    }
    for (size_t k = 0; k < g->noutputs; k++) {
        rg_tensor want;
        if (!nt_path(path, sizeof path, "%s/output_%zu.pb", set_dir, k)) {
            nt_msg(msg, cap, "path too long in %s", set_dir);
            goto done;
        }
        if (rg_onnx_read_tensor_file(path, NULL, &want, &err) != RG_OK) {
            nt_msg(msg, cap, "output %zu: %s", k, err.message);
            goto done;
        }
        const rg_tensor *got = rg_cpu_exec_output(exec, k);
        bool same = got != NULL && nt_compare(k, got, &want, msg, cap);
        if (!got) nt_msg(msg, cap, "output %zu: the executor returned none", k);
        rg_mem_free(rg_allocator_default(), want.data, want.nbytes ? want.nbytes : 1);
        if (!same) goto done;
    }
    ok = true;
done:
    for (size_t i = 0; i < ninputs; i++) {
        rg_mem_free(rg_allocator_default(), inputs[i].data, inputs[i].nbytes ? inputs[i].nbytes : 1);
    }
    free(inputs);
    return ok;
}

/* Imports, infers shapes, and runs every data set of one test. */
static bool nt_run_test(const char *test_dir, char *msg, size_t cap) {
    char path[NT_PATH_MAX];
    rg_graph *g = NULL;
    rg_cpu_exec *exec = NULL;
    nt_strings sets = {0};
    rg_error err = {0};
    bool ok = false;

    if (!nt_path(path, sizeof path, "%s/model.onnx", test_dir)) {
        nt_msg(msg, cap, "path too long: %s", test_dir);
        goto done;
    }
    if (rg_onnx_import_file(path, NULL, &g, &err) != RG_OK) {
        nt_msg(msg, cap, "import: %s", err.message);
        goto done;
    }
#ifdef RG_HAVE_SHAPE_INFERENCE
    if (rg_infer_shapes(g, &err) != RG_OK) {
        nt_msg(msg, cap, "shape inference: %s", err.message);
        goto done;
    }
#endif
    if (rg_cpu_exec_new(g, NULL, 1, &exec, &err) != RG_OK) {
        nt_msg(msg, cap, "executor: %s", err.message);
        goto done;
    }
    if (!nt_list_dir(test_dir, "test_data_set_", &sets) || sets.count == 0) {
        nt_msg(msg, cap, "no test_data_set_* folder");
        goto done;
    }
    for (size_t i = 0; i < sets.count; i++) {
        char set_dir[NT_PATH_MAX];
        if (!nt_path(set_dir, sizeof set_dir, "%s/%s", test_dir, sets.items[i])) {
            nt_msg(msg, cap, "path too long: %s", test_dir);
            goto done;
        }
        char inner[NT_MSG_MAX];
        if (!nt_run_data_set(g, exec, set_dir, inner, sizeof inner)) {
            nt_msg(msg, cap, "%s: %s", sets.items[i], inner);
            goto done;
        }
    }
    ok = true;
done:
    nt_strings_free(&sets);
    rg_cpu_exec_free(exec);
    rg_graph_free(g);
    return ok;
}

/* Runs a test in a child process; the child writes "P" or "F<message>" to a
 * pipe. A child that dies, times out, or exits non-zero after its verdict (a
 * sanitizer's leak report) fails the test. */
static bool nt_run_isolated(const char *test_dir, bool use_fork, char *msg, size_t cap) {
    if (!use_fork) return nt_run_test(test_dir, msg, cap);
    int fds[2];
    if (pipe(fds) != 0) {
        nt_msg(msg, cap, "pipe: %s", strerror(errno));
        return false;
    }
    fflush(NULL); /* or the child's exit() writes the parent's buffered output again */
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        nt_msg(msg, cap, "fork: %s", strerror(errno));
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        alarm(NT_TIMEOUT_S);
        char inner[NT_MSG_MAX] = "";
        bool ok = nt_run_test(test_dir, inner, sizeof inner);
        char verdict[NT_MSG_MAX + 2];
        int len = snprintf(verdict, sizeof verdict, "%c%s", ok ? 'P' : 'F', ok ? "" : inner);
        if (write(fds[1], verdict, (size_t)len) != len) exit(3);
        close(fds[1]);
        exit(0); /* exit, not _exit: LeakSanitizer checks at exit */
    }
    close(fds[1]);
    char verdict[NT_MSG_MAX + 2];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fds[0], verdict + len, sizeof verdict - 1 - len);
        if (n > 0) len += (size_t)n;
        if (n == 0 || len == sizeof verdict - 1) break;
        if (n < 0 && errno != EINTR) break;
    }
    verdict[len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        nt_msg(msg, cap, "%s (signal %d)%s%s", sig == SIGALRM ? "timed out" : "crashed", sig,
                 len ? " after: " : "", len ? verdict + 1 : "");
        return false;
    }
    if (len == 0) {
        nt_msg(msg, cap, "the child exited with status %d and no verdict", WEXITSTATUS(status));
        return false;
    }
    if (WEXITSTATUS(status) != 0) {
        nt_msg(msg, cap, "exit status %d after the verdict (a sanitizer or leak report above?)%s%s",
                 WEXITSTATUS(status), verdict[0] == 'F' ? ": " : "", verdict + 1);
        return false;
    }
    if (verdict[0] == 'P') return true;
    nt_msg(msg, cap, "%s", verdict + 1);
    return false;
}

/* ------------------------------------------------------------ the run */

typedef struct nt_expected {
    nt_strings names, reasons;
    bool *seen;
} nt_expected;

/* Lines "test_name  reason..."; '#' starts a comment; blank lines skipped. */
static bool nt_expected_load(const char *path, nt_expected *x) {
    memset(x, 0, sizeof *x);
    if (!path) return true;
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[NT_MSG_MAX];
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *name = line + strspn(line, " \t");
        size_t nlen = strcspn(name, " \t\r\n");
        if (nlen == 0) continue;
        char *reason = name + nlen;
        if (*reason) *reason++ = '\0';
        reason += strspn(reason, " \t");
        reason[strcspn(reason, "\r\n")] = '\0';
        ok = nt_strings_push(&x->names, name) && nt_strings_push(&x->reasons, reason);
    }
    fclose(f);
    x->seen = calloc(x->names.count ? x->names.count : 1, sizeof *x->seen);
    return ok && x->seen;
}

static long nt_expected_find(const nt_expected *x, const char *name) {
    for (size_t i = 0; i < x->names.count; i++) {
        if (strcmp(x->names.items[i], name) == 0) return (long)i;
    }
    return -1;
}

static void nt_expected_free(nt_expected *x) {
    nt_strings_free(&x->names);
    nt_strings_free(&x->reasons);
    free(x->seen);
}

/* Counts of missing ops, for the summary: which ops would open most tests. */
typedef struct nt_op_count {
    char name[64];
    int count;
} nt_op_count;

#define NT_MAX_OPS 512

static void nt_count_op(nt_op_count *ops, size_t *nops, const char *name) {
    for (size_t i = 0; i < *nops; i++) {
        if (strcmp(ops[i].name, name) == 0) {
            ops[i].count++;
            return;
        }
    }
    if (*nops == NT_MAX_OPS) return;
    nt_msg(ops[*nops].name, sizeof ops[*nops].name, "%s", name);
    ops[(*nops)++].count = 1;
}

static int nt_cmp_ops(const void *a, const void *b) {
    const nt_op_count *x = a, *y = b;
    if (x->count != y->count) return y->count - x->count;
    return strcmp(x->name, y->name);
}

/* Prints to stdout and to the report file. */
static void nt_say(FILE *report, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void nt_say(FILE *report, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (report) {
        va_start(ap, fmt);
        vfprintf(report, fmt, ap);
        va_end(ap);
    }
}

static void nt_usage(void) {
    fprintf(stderr, "usage: node_tests [--report FILE] [--expected FILE] [--filter SUBSTR] [--no-fork] [DIR]\n");
}

int main(int argc, char **argv) {
    const char *dir = getenv("RG_ONNX_NODE_TESTS");
    const char *report_path = getenv("RG_NODE_TESTS_REPORT");
    const char *expected_path = getenv("RG_NODE_TESTS_EXPECTED");
    const char *filter = NULL;
    bool use_fork = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--report") == 0 && i + 1 < argc) report_path = argv[++i];
        else if (strcmp(argv[i], "--expected") == 0 && i + 1 < argc) expected_path = argv[++i];
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) filter = argv[++i];
        else if (strcmp(argv[i], "--no-fork") == 0) use_fork = false;
        else if (argv[i][0] == '-') {
            nt_usage();
            return 2;
        } else dir = argv[i];
    }
    struct stat st;
    if (!dir || !dir[0] || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("node tests: SKIP: no node-test folder (%s); run tests/onnx/gen_node_tests.py DIR and pass DIR "
               "or set RG_ONNX_NODE_TESTS\n", dir && dir[0] ? dir : "none given");
        return NT_EXIT_SKIP;
    }
    nt_expected expected;
    if (!nt_expected_load(expected_path, &expected)) {
        fprintf(stderr, "node tests: cannot read the expected-failure list %s\n", expected_path);
        return 2;
    }
    FILE *report = report_path ? fopen(report_path, "w") : NULL;
    if (report_path && !report) fprintf(stderr, "node tests: cannot write %s; printing only\n", report_path);

    nt_strings tests = {0};
    if (!nt_list_dir(dir, "test_", &tests)) {
        fprintf(stderr, "node tests: cannot list %s\n", dir);
        return 2;
    }
    int counts[NT_CLASS_COUNT] = {0};
    int passed = 0, failed = 0, xfailed = 0, xpassed = 0;
    nt_op_count *ops = calloc(NT_MAX_OPS, sizeof *ops);
    size_t nops = 0;
    for (size_t t = 0; t < tests.count; t++) {
        const char *name = tests.items[t];
        if (filter && !strstr(name, filter)) continue;
        char test_dir[NT_PATH_MAX], path[NT_PATH_MAX];
        uint8_t *model = NULL;
        size_t size = 0;
        nt_classification c;
        if (!nt_path(test_dir, sizeof test_dir, "%s/%s", dir, name) ||
            !nt_path(path, sizeof path, "%s/model.onnx", test_dir) || !nt_read_file(path, &model, &size)) {
            memset(&c, 0, sizeof c);
            nt_set(&c, NT_NA_MALFORMED, "%s", "cannot read model.onnx");
        } else {
            nt_classify(model, size, &c);
        }
        free(model);
        counts[c.cls]++;
        long x = nt_expected_find(&expected, name);
        if (x >= 0) expected.seen[x] = true;
        if (c.cls != NT_APPLICABLE) {
            if (c.cls == NT_NA_OP && ops) nt_count_op(ops, &nops, c.op);
            nt_say(report, "SKIP  %s: not applicable: %s\n", name, c.reason);
            continue;
        }
        char msg[NT_MSG_MAX] = "";
        bool ok = nt_run_isolated(test_dir, use_fork, msg, sizeof msg);
        if (ok && x < 0) {
            passed++;
            nt_say(report, "PASS  %s\n", name);
        } else if (ok) {
            xpassed++;
            nt_say(report, "XPASS %s: listed as an expected failure but passes: remove it from the list\n", name);
        } else if (x >= 0) {
            xfailed++;
            nt_say(report, "XFAIL %s: %s [expected: %s]\n", name, msg, expected.reasons.items[x]);
        } else {
            failed++;
            nt_say(report, "FAIL  %s: %s\n", name, msg);
        }
    }
    for (size_t i = 0; i < expected.names.count; i++) {
        if (!expected.seen[i] && !filter)
            nt_say(report, "note: expected failure %s names no applicable test here\n", expected.names.items[i]);
    }

    int applicable = counts[NT_APPLICABLE];
    int not_applicable = 0;
    for (int i = 1; i < NT_CLASS_COUNT; i++) not_applicable += counts[i];
    nt_say(report, "\nnot applicable by reason:");
    for (int i = 1; i < NT_CLASS_COUNT; i++) {
        if (counts[i]) nt_say(report, " %s %d;", nt_class_names[i], counts[i]);
    }
    nt_say(report, "\n");
    if (ops && nops) {
        qsort(ops, nops, sizeof *ops, nt_cmp_ops);
        nt_say(report, "ops outside the table, by tests they would open:");
        for (size_t i = 0; i < nops && i < 20; i++) nt_say(report, " %s %d", ops[i].name, ops[i].count);
        nt_say(report, "%s\n", nops > 20 ? " ..." : "");
    }
    nt_say(report, "failed %d, expected failures %d, unexpected passes %d\n", failed, xfailed, xpassed);
    nt_say(report, "node tests: %d passed / %d applicable (%d not applicable)\n", passed, applicable, not_applicable);
    if (report_path && report) printf("node tests: full list in %s\n", report_path);
    if (report) fclose(report);
    free(ops);
    nt_strings_free(&tests);
    nt_expected_free(&expected);
    return failed == 0 && xpassed == 0 ? 0 : 1;
}
