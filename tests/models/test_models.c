/*
 * test_models.c — whole-model tests: real exported BERT-family models, run
 * through the whole public pipeline (rg_compile_file → plan file →
 * rg_plan_load → session on the CPU) and compared with ONNX Runtime.
 *
 * The models and references come from models/fetch.sh and models/reference.py
 * (models/cache/<model>/model.onnx and ref/b{B}_s{S}/ with a manifest.txt of
 * "input|output NAME FILE" lines and one .npy per tensor). A missing cache is
 * a visible skip, not a pass; scripts/test.sh always fetches it first.
 *
 * Error measure, per output: max_abs = max|ours - ref| and
 * max_rel = max_abs / max(max|ref|, tiny); the bound is max_rel <= 1e-4 for
 * floating outputs. Integer and bool outputs must match exactly. The figures
 * of every case go to stdout and to <build>/models_report_<model>.txt.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/dtype.h"
#include "ir/graph.h"
#include "ragged.h"
#include "tools/npy.h"

#define MODELS_REL_BOUND 1e-4
#define MODELS_TINY 1e-30
#define MODELS_MAX_CASES 64
#define MODELS_MAX_TENSORS 16
#define MODELS_PATH_MAX 4096

typedef struct models_entry {
    char kind[8]; /* "input" or "output" */
    char name[256];
    char file[256];
} models_entry;

typedef struct models_error {
    double max_abs, max_rel;
    bool shape_ok;
} models_error;

/* snprintf into a path buffer; false when it would be cut. */
static bool models_path(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool models_path(char *buf, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}

static const char *models_cache_dir(void) {
    const char *dir = getenv("RG_MODELS_CACHE");
    if (dir && dir[0]) return dir;
    return RG_MODELS_CACHE_DEFAULT;
}

/* <build>/models_report_<model>.txt, rewritten by every run. */
static FILE *models_report_open(const char *model) {
    const char *bin = getenv("RG_BINARY_DIR");
    char path[MODELS_PATH_MAX];
    if (!models_path(path, sizeof path, "%s/models_report_%s.txt", bin && bin[0] ? bin : ".", model)) return NULL;
    return fopen(path, "w");
}

/* Prints to stdout and appends to the report file. */
static void models_say(FILE *report, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void models_say(FILE *report, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
    if (report) {
        va_start(ap, fmt);
        vfprintf(report, fmt, ap);
        va_end(ap);
        fflush(report);
    }
}

static int models_cmp_names(const void *a, const void *b) {
    return strcmp((const char *)a, (const char *)b);
}

/* Case folders under ref/ ("b1_s8", ...), sorted; returns the count. */
static size_t models_list_cases(const char *ref_dir, char cases[][64], size_t cap) {
    DIR *d = opendir(ref_dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] != 'b' || len >= 64) continue;
        memcpy(cases[n++], e->d_name, len + 1);
    }
    closedir(d);
    qsort(cases, n, sizeof cases[0], models_cmp_names);
    return n;
}

static size_t models_read_manifest(const char *case_dir, models_entry *entries, size_t cap) {
    char path[MODELS_PATH_MAX];
    if (!models_path(path, sizeof path, "%s/manifest.txt", case_dir)) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = 0;
    while (n < cap && fscanf(f, "%7s %255s %255s", entries[n].kind, entries[n].name, entries[n].file) == 3) {
        n++;
    }
    fclose(f);
    return n;
}

/* A floating-point element as double, for f32/f16/bf16 tensors. */
static double models_float_at(rg_dtype dtype, const void *data, size_t i) {
    switch (dtype) {
    case RG_DTYPE_F32: return ((const float *)data)[i];
    case RG_DTYPE_F16: return rg_f16_to_f32(((const uint16_t *)data)[i]);
    case RG_DTYPE_BF16: return rg_bf16_to_f32(((const uint16_t *)data)[i]);
    default: return NAN;
    }
}

static bool models_is_float(rg_dtype dtype) {
    return dtype == RG_DTYPE_F32 || dtype == RG_DTYPE_F16 || dtype == RG_DTYPE_BF16;
}

static models_error models_compare(const rg_tensor_view *got, const rg_tensor *want) {
    models_error e = {0, 0, got->rank == want->rank && got->dtype == want->dtype};
    for (int i = 0; e.shape_ok && i < want->rank; i++) e.shape_ok = got->dims[i] == want->dims[i];
    if (!e.shape_ok) {
        e.max_abs = e.max_rel = INFINITY;
        return e;
    }
    size_t n = rg_tensor_numel(want);
    if (models_is_float(want->dtype)) {
        double ref_max = 0;
        for (size_t i = 0; i < n; i++) {
            double a = models_float_at(got->dtype, got->data, i);
            double b = models_float_at(want->dtype, want->data, i);
            double d = fabs(a - b);
            if (isnan(d)) d = INFINITY; /* NaN on either side is a failure */
            if (d > e.max_abs) e.max_abs = d;
            if (fabs(b) > ref_max) ref_max = fabs(b);
        }
        e.max_rel = e.max_abs / fmax(ref_max, MODELS_TINY);
    } else {
        /* Integers and bools: exact; report 1 for a mismatch. */
        bool same = got->nbytes == want->nbytes && memcmp(got->data, want->data, want->nbytes) == 0;
        e.max_abs = e.max_rel = same ? 0 : 1;
    }
    return e;
}

/* Binds every input of a case, runs, compares every output. Returns the
 * number of failed checks (0 on success). */
static int models_run_case(rg_session *session, const char *model, const char *case_name,
                           const char *case_dir, FILE *report) {
    models_entry entries[MODELS_MAX_TENSORS];
    rg_tensor inputs[MODELS_MAX_TENSORS];
    size_t ninputs = 0;
    int failures = 0;
    rg_error err = {0};
    char path[MODELS_PATH_MAX];

    size_t n = models_read_manifest(case_dir, entries, MODELS_MAX_TENSORS);
    if (n == 0) {
        models_say(report, "%s %s: FAIL no manifest.txt in %s\n", model, case_name, case_dir);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(entries[i].kind, "input") != 0) continue;
        models_path(path, sizeof path, "%s/%s", case_dir, entries[i].file);
        rg_tensor *t = &inputs[ninputs];
        if (rg_npy_read(path, NULL, t, &err) != RG_OK) {
            models_say(report, "%s %s: FAIL %s\n", model, case_name, err.message);
            failures++;
            goto done;
        }
        ninputs++;
        if (rg_session_bind_input(session, entries[i].name, t->dtype, t->rank, t->dims, t->data, &err) != RG_OK) {
            models_say(report, "%s %s: FAIL bind %s: %s\n", model, case_name, entries[i].name, err.message);
            failures++;
            goto done;
        }
    }
    if (rg_session_run(session, &err) != RG_OK) {
        models_say(report, "%s %s: FAIL run: %s\n", model, case_name, err.message);
        failures++;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(entries[i].kind, "output") != 0) continue;
        models_path(path, sizeof path, "%s/%s", case_dir, entries[i].file);
        rg_tensor want;
        if (rg_npy_read(path, NULL, &want, &err) != RG_OK) {
            models_say(report, "%s %s: FAIL %s\n", model, case_name, err.message);
            failures++;
            continue;
        }
        rg_tensor_view got;
        if (rg_session_output(session, entries[i].name, &got, &err) != RG_OK) {
            models_say(report, "%s %s %s: FAIL %s\n", model, case_name, entries[i].name, err.message);
            failures++;
            rg_npy_free(NULL, &want);
            continue;
        }
        models_error e = models_compare(&got, &want);
        bool ok = e.shape_ok && (models_is_float(want.dtype) ? e.max_rel <= MODELS_REL_BOUND : e.max_abs == 0);
        if (!e.shape_ok) {
            models_say(report, "%s %s %s: FAIL got %s rank %d, want %s rank %d (or other dims)\n", model,
                       case_name, entries[i].name, rg_dtype_name(got.dtype), got.rank,
                       rg_dtype_name(want.dtype), want.rank);
        } else {
            models_say(report, "%s %s %-18s %-8s max_abs %.3e max_rel %.3e %s\n", model, case_name,
                       entries[i].name, rg_dtype_name(want.dtype), e.max_abs, e.max_rel, ok ? "ok" : "FAIL");
        }
        if (!ok) failures++;
        rg_npy_free(NULL, &want);
    }
done:
    for (size_t i = 0; i < ninputs; i++) rg_npy_free(NULL, &inputs[i]);
    return failures;
}

static void models_check(const char *model) {
    char model_path[MODELS_PATH_MAX], ref_dir[MODELS_PATH_MAX], plan_path[MODELS_PATH_MAX];
    const char *cache = models_cache_dir();
    snprintf(model_path, sizeof model_path, "%s/%s/model.onnx", cache, model);
    snprintf(ref_dir, sizeof ref_dir, "%s/%s/ref", cache, model);
    FILE *probe = fopen(model_path, "rb");
    if (!probe) {
        cr_skip_test("%s is missing: run `bash models/fetch.sh && python3 models/reference.py` "
                     "(scripts/test.sh does)", model_path);
    }
    fclose(probe);
    static char cases[MODELS_MAX_CASES][64];
    size_t ncases = models_list_cases(ref_dir, cases, MODELS_MAX_CASES);
    if (ncases == 0) cr_skip_test("no reference cases under %s: run python3 models/reference.py", ref_dir);

    const char *bin = getenv("RG_BINARY_DIR");
    snprintf(plan_path, sizeof plan_path, "%s/%s.plan", bin && bin[0] ? bin : ".", model);

    FILE *report = models_report_open(model);
    rg_error err = {0};
    rg_plan *plan = NULL;
    rg_session *session = NULL;
    if (rg_compile_file(model_path, plan_path, NULL, &err) != RG_OK) {
        models_say(report, "%s: FAIL compile: %s\n", model, err.message);
        goto fail;
    }
    if (rg_plan_load(plan_path, &plan, &err) != RG_OK) {
        models_say(report, "%s: FAIL plan load: %s\n", model, err.message);
        goto fail;
    }
    rg_session_options options = {.device = RG_DEVICE_CPU, .num_threads = 0};
    if (rg_session_new(plan, &options, &session, &err) != RG_OK) {
        models_say(report, "%s: FAIL session: %s\n", model, err.message);
        goto fail;
    }
    int failures = 0;
    for (size_t c = 0; c < ncases; c++) {
        char case_dir[MODELS_PATH_MAX];
        if (!models_path(case_dir, sizeof case_dir, "%s/%s", ref_dir, cases[c])) {
            models_say(report, "%s %s: FAIL path too long\n", model, cases[c]);
            failures++;
            continue;
        }
        failures += models_run_case(session, model, cases[c], case_dir, report);
    }
    models_say(report, "%s: %zu cases, %d failed checks (bound: max_rel <= %.0e)\n", model, ncases, failures,
               MODELS_REL_BOUND);
    rg_session_free(session);
    rg_plan_free(plan);
    if (report) fclose(report);
    cr_expect_eq(failures, 0, "%s: %d output checks failed (figures above)", model, failures);
    return;
fail:
    rg_session_free(session);
    rg_plan_free(plan);
    if (report) fclose(report);
    cr_assert_fail("%s: %s", model, err.message);
}

/* Each model compiles once and runs every case; a case prints one line per
 * output. The timeout is generous for sanitizer builds on two cores. */
Test(models, paraphrase_minilm_l3, .timeout = 900) { models_check("paraphrase-MiniLM-L3-v2"); }

Test(models, all_minilm_l6_int8, .timeout = 900) { models_check("all-MiniLM-L6-v2-int8"); }
