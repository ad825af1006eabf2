/* The `ragged` command, run as a separate process (RG_BINARY_DIR/ragged) on
 * tests/tools/data/tiny.onnx: compile, run and dump succeed with exit 0; a
 * wrong command line exits 2 with a usage message; a missing, garbage or
 * wrong-magic file exits 1 with one "ragged: error: ..." line. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/npy.h"

extern char **environ;

typedef struct result {
    int exit_code; /* -1 when killed by a signal */
    char out[16384];
    char err[4096];
} result;

static void slurp(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
}

static const char *tmp(const char *name) {
    static char bufs[32][512]; /* a ring: a test uses far fewer names */
    static int next;
    char *b = bufs[next++ % 32];
    snprintf(b, 512, "/tmp/rg_test_cli_%ld_%s", (long)getpid(), name);
    return b;
}

static const char *data_path(const char *name) {
    static char buf[4096];
    const char *src = getenv("RG_SOURCE_DIR");
    cr_assert(src, "RG_SOURCE_DIR is not set");
    snprintf(buf, sizeof buf, "%s/tests/tools/data/%s", src, name);
    return buf;
}

/* Runs `ragged` with NULL-terminated args; captures exit code and output. */
static void ragged(result *r, const char *first, ...) {
    const char *bin_dir = getenv("RG_BINARY_DIR");
    cr_assert(bin_dir, "RG_BINARY_DIR is not set");
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/ragged", bin_dir);
    char *argv[64];
    int argc = 0;
    argv[argc++] = bin;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        cr_assert(argc < 63);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;

    char out_path[512], err_path[512];
    snprintf(out_path, sizeof out_path, "/tmp/rg_test_cli_%ld_stdout", (long)getpid());
    snprintf(err_path, sizeof err_path, "/tmp/rg_test_cli_%ld_stderr", (long)getpid());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "cannot start %s", bin);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    slurp(out_path, r->out, sizeof r->out);
    slurp(err_path, r->err, sizeof r->err);
    remove(out_path);
    remove(err_path);
}

static void expect_exit(const result *r, int code) {
    cr_assert_eq(r->exit_code, code, "exit %d, expected %d\nstdout: %s\nstderr: %s", r->exit_code, code, r->out,
                 r->err);
}

/* Exit 1 with exactly one line "ragged: error: ..." that contains `word`. */
static void expect_failure(const result *r, const char *word) {
    expect_exit(r, 1);
    cr_assert_eq(strncmp(r->err, "ragged: error: ", 15), 0, "stderr: %s", r->err);
    const char *nl = strchr(r->err, '\n');
    cr_assert(nl && nl[1] == '\0', "one line: %s", r->err);
    if (word) cr_assert(strstr(r->err, word), "'%s' not in: %s", word, r->err);
}

static void write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(data, 1, size, f), size);
    fclose(f);
}

static const char *compiled_plan(void) {
    const char *plan = tmp("tiny.plan");
    result r;
    ragged(&r, "compile", data_path("tiny.onnx"), "-o", plan, NULL);
    expect_exit(&r, 0);
    return plan;
}

Test(cli, help_and_version) {
    result r;
    ragged(&r, "--version", NULL);
    expect_exit(&r, 0);
    cr_assert_eq(strncmp(r.out, "ragged 0.1.0", 12), 0, "%s", r.out);
    ragged(&r, "--help", NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "compile") && strstr(r.out, "run") && strstr(r.out, "dump"));
    const char *cmds[] = {"compile", "run", "dump"};
    for (int i = 0; i < 3; i++) {
        ragged(&r, cmds[i], "--help", NULL);
        expect_exit(&r, 0);
        cr_assert(strstr(r.out, "usage: ragged"), "%s", r.out);
    }
    ragged(&r, "run", "-h", NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "mask"), "the input rule is documented");
}

Test(cli, usage_errors_exit_2) {
    result r;
    ragged(&r, NULL);
    expect_exit(&r, 2);
    cr_assert(strstr(r.err, "usage"), "%s", r.err);
    const char *const cases[][6] = {
        {"frobnicate"},
        {"--bogus"},
        {"compile", "--bogus"},
        {"compile"},
        {"compile", "a.onnx"},
        {"compile", "a.onnx", "-o"},
        {"compile", "a.onnx", "b.onnx", "-o", "c"},
        {"compile", "a.onnx", "-o", "p", "--dtype", "fp64"},
        {"run"},
        {"run", "p.plan", "--device", "gpu"},
        {"run", "p.plan", "--shape", "x=2xq"},
        {"run", "p.plan", "--shape", "2x3"},
        {"run", "p.plan", "--dim", "batch=-1"},
        {"run", "p.plan", "--seed", "abc"},
        {"run", "p.plan", "--threads", "0"},
        {"run", "p.plan", "--input", "x=a.npy", "--input", "x=b.npy"},
        {"run", "p.plan", "--persistent", "sometimes"},
        {"bench", "p.plan", "--shapes", "1x2", "--persistent", "never"},
        {"dump"},
        {"dump", "--stats=yes", "x"},
        {"dump", "a", "b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *c = cases[i];
        ragged(&r, c[0], c[1], c[2], c[3], c[4], c[5], NULL);
        expect_exit(&r, 2);
        cr_assert(strstr(r.err, "ragged"), "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, "--help"), "case %zu points at --help: %s", i, r.err);
        cr_assert_eq(r.out[0], '\0', "case %zu: nothing on stdout", i);
    }
}

Test(cli, compile_run_dump) {
    const char *plan = tmp("tiny.plan");
    result r;
    ragged(&r, "compile", data_path("tiny.onnx"), "-o", plan, "--target", "cpu", NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "2 nodes"), "%s", r.out);
    cr_assert_eq(strchr(r.out, '\n')[1], '\0', "one line: %s", r.out);

    ragged(&r, "run", plan, "--dim", "batch_size=2", "--dim", "sequence_length=5", NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "output 'hidden': float32 [2, 5, 8]"), "%s", r.out);
    cr_assert(strstr(r.out, "output 'mask': int64 [2, 5, 1]  min 1  max 1  mean 1"), "%s", r.out);

    ragged(&r, "run", plan, "--shape", "input_ids=1x3", "--seed", "5", NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "output 'mask': int64 [1, 3, 1]"), "attention_mask takes input_ids' dims: %s", r.out);

    ragged(&r, "dump", data_path("tiny.onnx"), NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "Gather") && strstr(r.out, "Unsqueeze"), "%s", r.out);
    ragged(&r, "dump", plan, NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "Gather"), "%s", r.out);
    ragged(&r, "dump", plan, "--stats", NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "nodes: 2") && strstr(r.out, "Gather"), "%s", r.out);
    cr_assert(strstr(r.out, "constants: 2 (1608 bytes)"), "%s", r.out);
    const char *text = tmp("dump.txt");
    ragged(&r, "dump", "--stats", "-o", text, data_path("tiny.onnx"), NULL);
    expect_exit(&r, 0);
    char buf[4096];
    slurp(text, buf, sizeof buf);
    cr_assert(strstr(buf, "nodes: 2"), "%s", buf);
    remove(text);
    remove(plan);
}

Test(cli, run_reads_and_writes_npy) {
    const char *plan = compiled_plan();
    const char *ids_path = tmp("ids.npy"), *out_path = tmp("hidden.npy");
    int64_t ids[6] = {3, 3, 7, 0, 49, 3};
    rg_tensor t = {RG_DTYPE_I64, 2, {2, 3}, ids, sizeof ids};
    rg_error err = {0};
    cr_assert_eq(rg_npy_write(ids_path, &t, &err), RG_OK, "%s", err.message);
    result r;
    char in_arg[600], out_arg[600];
    snprintf(in_arg, sizeof in_arg, "input_ids=%s", ids_path);
    snprintf(out_arg, sizeof out_arg, "hidden=%s", out_path);
    ragged(&r, "run", plan, "--input", in_arg, "--output", out_arg, NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "written to"), "%s", r.out);
    cr_assert(strstr(r.out, "output 'mask': int64 [2, 3, 1]"), "%s", r.out);

    rg_tensor hidden;
    cr_assert_eq(rg_npy_read(out_path, NULL, &hidden, &err), RG_OK, "%s", err.message);
    cr_assert_eq(hidden.dtype, RG_DTYPE_F32);
    cr_assert_eq(hidden.rank, 3);
    cr_assert_eq(hidden.dims[2], 8);
    const float *h = hidden.data;
    cr_assert_eq(memcmp(h, h + 8, 8 * sizeof(float)), 0, "same id, same row");
    cr_assert_eq(memcmp(h, h + 5 * 8, 8 * sizeof(float)), 0, "same id, same row");
    cr_assert_neq(memcmp(h, h + 2 * 8, 8 * sizeof(float)), 0, "other id, other row");
    rg_npy_free(NULL, &hidden);

    /* a file of the wrong dtype is reported by the session, naming the input */
    float f[6] = {0};
    rg_tensor wrong = {RG_DTYPE_F32, 2, {2, 3}, f, sizeof f};
    cr_assert_eq(rg_npy_write(ids_path, &wrong, &err), RG_OK);
    ragged(&r, "run", plan, "--input", in_arg, NULL);
    expect_failure(&r, "input 'input_ids' expects int64, got float32");
    remove(ids_path);
    remove(out_path);
    remove(plan);
}

Test(cli, failures_exit_1_with_one_line) {
    const char *plan = compiled_plan();
    result r;
    ragged(&r, "compile", "/nonexistent/model.onnx", "-o", tmp("x.plan"), NULL);
    expect_failure(&r, "/nonexistent/model.onnx");
    ragged(&r, "run", "/nonexistent/model.plan", NULL);
    expect_failure(&r, "/nonexistent/model.plan");
    ragged(&r, "dump", "/nonexistent/model.plan", NULL);
    expect_failure(&r, "/nonexistent/model.plan");

    const char *garbage = tmp("garbage.bin");
    unsigned char bytes[512];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (unsigned char)(i * 131 + 7);
    write_file(garbage, bytes, sizeof bytes);
    ragged(&r, "compile", garbage, "-o", tmp("g.plan"), NULL);
    expect_failure(&r, NULL);
    ragged(&r, "run", garbage, NULL);
    expect_failure(&r, NULL);
    ragged(&r, "dump", garbage, NULL);
    expect_failure(&r, NULL);
    write_file(garbage, "", 0);
    ragged(&r, "run", garbage, NULL);
    expect_failure(&r, NULL);

    /* a plan whose magic is damaged; an ONNX file given as a plan */
    FILE *f = fopen(plan, "rb");
    static unsigned char plan_bytes[1 << 16];
    size_t n = fread(plan_bytes, 1, sizeof plan_bytes, f);
    fclose(f);
    cr_assert(n > 64 && n < sizeof plan_bytes);
    plan_bytes[0] ^= 0x20;
    const char *bad_magic = tmp("badmagic.plan");
    write_file(bad_magic, plan_bytes, n);
    ragged(&r, "run", bad_magic, NULL);
    expect_failure(&r, NULL);
    ragged(&r, "dump", bad_magic, NULL);
    expect_failure(&r, NULL);
    ragged(&r, "run", data_path("tiny.onnx"), NULL);
    expect_failure(&r, NULL);
    /* a truncated plan */
    plan_bytes[0] ^= 0x20;
    write_file(bad_magic, plan_bytes, n / 2);
    ragged(&r, "run", bad_magic, "--dim", "batch_size=1", "--dim", "sequence_length=1", NULL);
    expect_failure(&r, NULL);
    ragged(&r, "dump", bad_magic, NULL);
    expect_failure(&r, NULL);

    ragged(&r, "compile", data_path("tiny.onnx"), "-o", tmp("y.plan"), "--target", "sm_99", NULL);
    expect_failure(&r, "unknown target");
    ragged(&r, "compile", data_path("tiny.onnx"), "-o", tmp("y.plan"), "--dtype", "fp16", "--no-optimize", NULL);
    expect_failure(&r, "float16");
    ragged(&r, "compile", data_path("tiny.onnx"), "-o", tmp("y.plan"), "--approximate-gelu", "--no-optimize", NULL);
    expect_failure(&r, "--approximate-gelu needs the passes");
    ragged(&r, "compile", data_path("tiny.onnx"), "-o", tmp("y.plan"), "--custom-gemm", NULL);
    expect_failure(&r, "--custom-gemm is for sm_90");
    ragged(&r, "compile", data_path("tiny.onnx"), "-o", tmp("y.plan"), "--custom-gemm", "--target", "sm_89", NULL);
    expect_failure(&r, "not sm_89");
    ragged(&r, "compile", data_path("tiny.onnx"), "-o", "/nonexistent/dir/y.plan", NULL);
    expect_failure(&r, NULL);
    /* the persistent kernel: GPU plans only; its run-time mode is auto, on or off */
    ragged(&r, "compile", data_path("tiny.onnx"), "-o", tmp("y.plan"), "--persistent", NULL);
    expect_failure(&r, "--persistent is for GPU targets");
    ragged(&r, "run", plan, "--device", "cpu", "--persistent", "on", "--dim", "batch_size=1", "--dim",
           "sequence_length=2", NULL);
    expect_failure(&r, "runs on the CPU");

    ragged(&r, "run", plan, NULL);
    expect_failure(&r, "--dim");
    ragged(&r, "run", plan, "--device", "cuda", "--dim", "batch_size=1", "--dim", "sequence_length=1", NULL);
    expect_failure(&r, "GPU");
    ragged(&r, "run", plan, "--shape", "nope=1x2", NULL);
    expect_failure(&r, "'nope'");
    ragged(&r, "run", plan, "--output", "nope=x.npy", NULL);
    expect_failure(&r, "'nope'");
    ragged(&r, "run", plan, "--input", "input_ids=/nonexistent/ids.npy", NULL);
    expect_failure(&r, "/nonexistent/ids.npy");
    ragged(&r, "run", plan, "--input", "input_ids=/nonexistent/ids.npy", NULL);
    ragged(&r, "run", plan, "--shape", "input_ids=2x3x4", "--dim", "sequence_length=3", NULL);
    expect_failure(&r, "input_ids");
    ragged(&r, "run", plan, "--shape", "input_ids=2x3", "--shape", "attention_mask=2x4", NULL);
    expect_failure(&r, NULL);
    remove(garbage);
    remove(bad_magic);
    remove(plan);
}

/* ragged dump of a real exported model at the fused stage, in each format. */
static const char *exported_model(void) {
    static char buf[4096];
    const char *src = getenv("RG_SOURCE_DIR");
    cr_assert(src, "RG_SOURCE_DIR is not set");
    snprintf(buf, sizeof buf, "%s/tests/data/exported/bert_L2_classic_o17.onnx", src);
    return buf;
}

Test(cli, dump_fused_stages_and_formats) {
    const char *model = exported_model();
    result r;
    ragged(&r, "dump", model, "--stage", "fused", "--stats", NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "pass fuse_attention") && strstr(r.out, "Attention"), "%s", r.out);

    ragged(&r, "dump", model, "--stage", "fused", "--format", "dot", NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "digraph") && strstr(r.out, "Attention"), "%s", r.out);

    const char *onnx_out = tmp("fused.onnx");
    ragged(&r, "dump", model, "--stage", "fused", "--format", "onnx", "-o", onnx_out, NULL);
    expect_exit(&r, 0);
    static char buf[1 << 16];
    memset(buf, 0, sizeof buf);
    slurp(onnx_out, buf, sizeof buf);
    bool found = false; /* binary protobuf: search past NUL bytes */
    for (size_t i = 0; i + 9 <= sizeof buf && !found; i++) found = memcmp(buf + i, "ai.ragged", 9) == 0;
    cr_assert(found, "no ai.ragged domain in the ONNX output");
    remove(onnx_out);

    ragged(&r, "dump", model, "--stage", "fused", "--print-after", "fuse_linear", NULL);
    expect_exit(&r, 0);
    /* the graph after fuse_linear goes to stderr (captured only in part),
     * the fused graph to stdout */
    cr_assert(!strncmp(r.err, "graph \"", 7), "the graph after fuse_linear on stderr: %s", r.err);
    cr_assert(strstr(r.out, "= Attention("), "%s", r.out);
}

Test(cli, dump_bad_stage_or_pass) {
    const char *model = exported_model();
    result r;
    ragged(&r, "dump", model, "--stage", "bogus", NULL);
    expect_exit(&r, 2);
    cr_assert(strstr(r.err, "imported") && strstr(r.err, "optimized") && strstr(r.err, "fused"), "%s", r.err);
    ragged(&r, "dump", model, "--stage", "fused", "--print-after", "bogus", NULL);
    expect_exit(&r, 2);
    cr_assert(strstr(r.err, "bogus") && strstr(r.err, "fuse_attention") && strstr(r.err, "fold"), "%s", r.err);
}

/* ragged dump PLAN --kernels / --kernel NAME on an sm_90 plan (NVRTC needs no GPU). */
Test(cli, dump_kernels_of_a_gpu_plan, .timeout = 120) {
    const char *plan = tmp("gpu.plan");
    result r;
    ragged(&r, "compile", exported_model(), "-o", plan, "--target", "sm_90", "--dtype", "fp16", NULL);
    if (r.exit_code == 1 && strstr(r.err, "NVRTC")) cr_skip_test("%s", r.err); /* no libnvrtc here */
    expect_exit(&r, 0);
    ragged(&r, "dump", plan, "--kernels", NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "name") && strstr(r.out, "cubin"), "%s", r.out);
    cr_assert(strstr(r.out, "rg_elementwise") && strstr(r.out, "elementwise") && strstr(r.out, "sm_90"), "%s", r.out);
    cr_assert(strstr(r.out, "rg_attention_f16_d32") && strstr(r.out, "rg_attention_general"), "%s", r.out);

    ragged(&r, "dump", plan, "--kernel", "rg_elementwise", NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "rg_gather_rows_w16") && strstr(r.out, "__global__"), "%.400s", r.out);
    ragged(&r, "dump", plan, "--kernel", "rg_fused_module_0", NULL);
    expect_exit(&r, 0);
    cr_assert(strstr(r.out, "extern \"C\"") && strstr(r.out, "rg_fused"), "%.400s", r.out);

    ragged(&r, "dump", plan, "--kernel", "bogus", NULL);
    expect_failure(&r, "bogus");
    cr_assert(strstr(r.err, "rg_elementwise") && strstr(r.err, "rg_fused_module_0"), "%s", r.err);

    /* a CPU plan has none; an ONNX file is not a plan */
    ragged(&r, "dump", compiled_plan(), "--kernel", "rg_elementwise", NULL);
    expect_failure(&r, "CPU plan");
    ragged(&r, "dump", exported_model(), "--kernels", NULL);
    expect_failure(&r, "not a plan");
    remove(plan);
}
