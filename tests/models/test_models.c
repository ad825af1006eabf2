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

/* Compiles `model_path` to <build>/<plan_name>.plan, loads it, and runs every
 * case under `ref_dir`. Returns the number of failed checks; a model that does
 * not compile, load or open a session counts as one, with its message in the
 * report. *ncases gets the number of cases run. */
static int models_check_at(const char *model, const char *model_path, const char *ref_dir,
                           const char *plan_name, size_t *ncases_out) {
    char plan_path[MODELS_PATH_MAX];
    char cases[MODELS_MAX_CASES][64];
    size_t ncases = models_list_cases(ref_dir, cases, MODELS_MAX_CASES);
    *ncases_out = ncases;
    const char *bin = getenv("RG_BINARY_DIR");
    FILE *report = models_report_open(model);
    rg_error err = {0};
    rg_plan *plan = NULL;
    rg_session *session = NULL;
    int failures = 0;
    if (ncases == 0) {
        models_say(report, "%s: FAIL no reference cases under %s\n", model, ref_dir);
        failures = 1;
        goto done;
    }
    if (!models_path(plan_path, sizeof plan_path, "%s/%s.plan", bin && bin[0] ? bin : ".", plan_name)) {
        models_say(report, "%s: FAIL plan path too long\n", model);
        failures = 1;
        goto done;
    }
    if (rg_compile_file(model_path, plan_path, NULL, &err) != RG_OK) {
        models_say(report, "%s: FAIL compile: %s\n", model, err.message);
        failures = 1;
        goto done;
    }
    if (rg_plan_load(plan_path, &plan, &err) != RG_OK) {
        models_say(report, "%s: FAIL plan load: %s\n", model, err.message);
        failures = 1;
        goto done;
    }
    rg_session_options options = {.device = RG_DEVICE_CPU, .num_threads = 0};
    if (rg_session_new(plan, &options, &session, &err) != RG_OK) {
        models_say(report, "%s: FAIL session: %s\n", model, err.message);
        failures = 1;
        goto done;
    }
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
done:
    rg_session_free(session);
    rg_plan_free(plan);
    if (report) fclose(report);
    return failures;
}

static void models_check(const char *model) {
    char model_path[MODELS_PATH_MAX], ref_dir[MODELS_PATH_MAX];
    const char *cache = models_cache_dir();
    if (!models_path(model_path, sizeof model_path, "%s/%s/model.onnx", cache, model) ||
        !models_path(ref_dir, sizeof ref_dir, "%s/%s/ref", cache, model)) {
        cr_assert_fail("%s: cache path too long", model);
    }
    FILE *probe = fopen(model_path, "rb");
    if (!probe) {
        cr_skip_test("not run: %s is missing: run `bash models/fetch.sh && python3 models/reference.py` "
                     "(scripts/test.sh does)", model_path);
    }
    fclose(probe);
    char cases[1][64];
    if (models_list_cases(ref_dir, cases, 1) == 0) {
        cr_skip_test("not run: no reference cases under %s: run python3 models/reference.py", ref_dir);
    }
    size_t ncases = 0;
    int failures = models_check_at(model, model_path, ref_dir, model, &ncases);
    cr_expect_eq(failures, 0, "%s: %d output checks failed (figures above)", model, failures);
}

/* Each model compiles once and runs every case; a case prints one line per
 * output. The timeout is generous for sanitizer builds on two cores. */
Test(models, paraphrase_minilm_l3, .timeout = 900) { models_check("paraphrase-MiniLM-L3-v2"); }

Test(models, all_minilm_l6_int8, .timeout = 900) { models_check("all-MiniLM-L6-v2-int8"); }

/* ------------------------------------------------------------------------
 * Exported models: the small random-weight models of tests/data/exported/
 * (models/export_hf.py, both torch.onnx exporters). models/reference.py
 * writes their cases under <cache>/exported/<name>/ref/ and an index,
 * <cache>/exported/manifest.txt, of "model NAME ONNX_PATH" lines; ctest runs
 * it first as the fixture models_exported_refs. Every model in the index is
 * tested, so a newly exported model needs no change here.
 */

#define EXPORTED_MAX_MODELS 64
#define EXPORTED_POSITIONS 128

typedef struct exported_model {
    char name[128];
    char path[MODELS_PATH_MAX];
} exported_model;

/* Reads the index; returns the number of models, 0 when it is missing. */
static size_t exported_read_index(exported_model *models, size_t cap) {
    char index[MODELS_PATH_MAX], line[MODELS_PATH_MAX + 256];
    if (!models_path(index, sizeof index, "%s/exported/manifest.txt", models_cache_dir())) return 0;
    FILE *f = fopen(index, "r");
    if (!f) return 0;
    size_t n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        /* "model NAME PATH": the path is the rest of the line. */
        char *name = strchr(line, ' ');
        if (strncmp(line, "model ", 6) != 0 || !name) continue;
        name++;
        char *path = strchr(name, ' ');
        if (!path || (size_t)(path - name) >= sizeof models[n].name) continue;
        *path++ = '\0';
        if (strlen(path) >= sizeof models[n].path) continue;
        strcpy(models[n].name, name);
        strcpy(models[n].path, path);
        n++;
    }
    fclose(f);
    return n;
}

static size_t exported_models_or_skip(exported_model *models, size_t cap) {
    size_t n = exported_read_index(models, cap);
    if (n == 0) {
        cr_skip_test("not run: no %s/exported/manifest.txt: run `python3 models/reference.py --exported-only` "
                     "(ctest's fixture models_exported_refs does)", models_cache_dir());
    }
    return n;
}

Test(exported, all_models, .timeout = 900) {
    static exported_model models[EXPORTED_MAX_MODELS];
    size_t n = exported_models_or_skip(models, EXPORTED_MAX_MODELS);
    int total_failures = 0;
    size_t total_cases = 0;
    for (size_t m = 0; m < n; m++) {
        char ref_dir[MODELS_PATH_MAX], plan_name[256];
        models_path(ref_dir, sizeof ref_dir, "%s/exported/%s/ref", models_cache_dir(), models[m].name);
        models_path(plan_name, sizeof plan_name, "exported_%s", models[m].name);
        size_t ncases = 0;
        int failures = models_check_at(models[m].name, models[m].path, ref_dir, plan_name, &ncases);
        cr_expect_eq(failures, 0, "%s: %d checks failed (figures above)", models[m].name, failures);
        total_failures += failures;
        total_cases += ncases;
    }
    printf("exported models: %zu models, %zu cases, %d failed checks\n", n, total_cases, total_failures);
}

/* Compiles one exported model and opens a CPU session on it. */
static void exported_open(const exported_model *model, rg_plan **plan, rg_session **session) {
    char plan_path[MODELS_PATH_MAX];
    const char *bin = getenv("RG_BINARY_DIR");
    cr_assert(models_path(plan_path, sizeof plan_path, "%s/exported_bound_%s.plan", bin && bin[0] ? bin : ".",
                          model->name));
    rg_error err = {0};
    cr_assert_eq(rg_compile_file(model->path, plan_path, NULL, &err), RG_OK, "%s: %s", model->name, err.message);
    cr_assert_eq(rg_plan_load(plan_path, plan, &err), RG_OK, "%s: %s", model->name, err.message);
    rg_session_options options = {.device = RG_DEVICE_CPU, .num_threads = 0};
    rg_status st = rg_session_new(*plan, &options, session, &err);
    if (st != RG_OK) rg_plan_free(*plan);
    cr_assert_eq(st, RG_OK, "%s: %s", model->name, err.message);
}

/* Binds ids and mask of shape [batch, seq] (ids i % 512, mask ones) and
 * runs; returns the first failing status with its message in *err. */
static rg_status exported_bind_run(rg_session *session, int64_t batch, int64_t seq, rg_error *err) {
    int64_t ids[2 * 256], mask[2 * 256];
    if (batch * seq > 2 * 256) return RG_ERR_INVALID_ARGUMENT;
    for (int64_t i = 0; i < batch * seq; i++) {
        ids[i] = (i * 37 + 11) % 512;
        mask[i] = 1;
    }
    int64_t dims[2] = {batch, seq};
    rg_status st = rg_session_bind_input(session, "ids", RG_DTYPE_I64, 2, dims, ids, err);
    if (st == RG_OK) st = rg_session_bind_input(session, "mask", RG_DTYPE_I64, 2, dims, mask, err);
    if (st == RG_OK) st = rg_session_run(session, err);
    return st;
}

/* A sequence longer than the position table: the BERT graphs slice their
 * position ids to the sequence length, so the compiled graph records
 * "sequence <= 128"; binding or running 129 tokens must fail with
 * RG_ERR_SHAPE and a message naming the dim, the value and the bound, and the
 * session must still run a valid request afterwards. */
Test(exported, sequence_bound_bert, .timeout = 300) {
    static exported_model models[EXPORTED_MAX_MODELS];
    size_t n = exported_models_or_skip(models, EXPORTED_MAX_MODELS);
    size_t checked = 0;
    for (size_t m = 0; m < n; m++) {
        if (strncmp(models[m].name, "bert_", 5) != 0) continue;
        rg_plan *plan = NULL;
        rg_session *session = NULL;
        exported_open(&models[m], &plan, &session);
        rg_error err = {0};
        rg_status st = exported_bind_run(session, 1, EXPORTED_POSITIONS + 1, &err);
        printf("exported %s 1x%d: %s: %s\n", models[m].name, EXPORTED_POSITIONS + 1, rg_status_string(st),
               err.message);
        cr_expect_eq(st, RG_ERR_SHAPE, "%s: 129 tokens gave %s: %s", models[m].name, rg_status_string(st),
                     err.message);
        cr_expect(strstr(err.message, "sequence") != NULL, "%s: message does not name the dim: %s",
                  models[m].name, err.message);
        cr_expect(strstr(err.message, "129") != NULL, "%s: message does not give the value: %s", models[m].name,
                  err.message);
        cr_expect(strstr(err.message, "at most 128") != NULL, "%s: message does not give the bound: %s",
                  models[m].name, err.message);
        /* The bound itself is accepted, and the refusal left nothing behind. */
        rg_error err2 = {0};
        st = exported_bind_run(session, 2, EXPORTED_POSITIONS, &err2);
        cr_expect_eq(st, RG_OK, "%s: 2x128 after the refusal: %s", models[m].name, err2.message);
        rg_session_free(session);
        rg_plan_free(plan);
        checked++;
    }
    cr_expect_geq(checked, 2, "the index holds %zu BERT models; want the classic and dynamo ones", checked);
}

/* RoBERTa and MPNet number positions from 2, so 127 and 128 tokens index
 * past their 128-row position table (ONNX Runtime refuses them too): ragged
 * must refuse with a message naming the Gather, not read out of bounds. */
Test(exported, position_overrun_roberta_mpnet, .timeout = 300) {
    static exported_model models[EXPORTED_MAX_MODELS];
    size_t n = exported_models_or_skip(models, EXPORTED_MAX_MODELS);
    for (size_t m = 0; m < n; m++) {
        if (strncmp(models[m].name, "roberta_", 8) != 0 && strncmp(models[m].name, "mpnet_", 6) != 0) continue;
        rg_plan *plan = NULL;
        rg_session *session = NULL;
        exported_open(&models[m], &plan, &session);
        rg_error err = {0};
        rg_status st = exported_bind_run(session, 1, EXPORTED_POSITIONS, &err);
        printf("exported %s 1x%d: %s: %s\n", models[m].name, EXPORTED_POSITIONS, rg_status_string(st),
               err.message);
        cr_expect_neq(st, RG_OK, "%s: 128 tokens ran, past the position table", models[m].name);
        cr_expect(strstr(err.message, "Gather") != NULL && strstr(err.message, "out of range") != NULL,
                  "%s: unclear message: %s", models[m].name, err.message);
        rg_error err2 = {0};
        st = exported_bind_run(session, 2, EXPORTED_POSITIONS - 2, &err2);
        cr_expect_eq(st, RG_OK, "%s: 2x126 after the refusal: %s", models[m].name, err2.message);
        rg_session_free(session);
        rg_plan_free(plan);
    }
}
