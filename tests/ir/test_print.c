/* The printer's text for a small graph, pinned by a golden file. Set
 * RG_UPDATE_GOLDEN=1 to rewrite tests/ir/golden/ deliberately. */
#include "graph_fixtures.h"

#ifndef RG_TEST_SOURCE_DIR
#define RG_TEST_SOURCE_DIR "."
#endif

#define F32 RG_DTYPE_F32

/* Reads a whole file into a malloc'd string; NULL when absent. */
static char *read_text(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    cr_assert(mem);
    int c;
    while ((c = fgetc(fp)) != EOF) fputc(c, mem);
    fclose(fp);
    fclose(mem);
    return buf;
}

static void check_golden(const char *name, const char *text) {
    const char *dir = getenv("RG_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/ir/golden/%s", dir ? dir : RG_TEST_SOURCE_DIR, name);
    const char *update = getenv("RG_UPDATE_GOLDEN");
    if (update && strcmp(update, "1") == 0) {
        FILE *fp = fopen(path, "wb");
        cr_assert(fp, "cannot write %s", path);
        fputs(text, fp);
        fclose(fp);
    }
    char *want = read_text(path);
    cr_assert(want, "no golden file %s", path);
    cr_assert_str_eq(text, want, "printer output differs from %s:\n%s", path, text);
    free(want);
}

Test(print, golden_small_graph) {
    fx f;
    fx_begin(&f, 17);
    f.g->name = "tiny \"bert\"";
    fx_input(&f, "input_ids", RG_DTYPE_I64, "batch_size,sequence_length");
    fx_const_f32(&f, "embeddings", 2, (int64_t[]){100, 8});
    fx_const_f32(&f, "ln.scale", 1, (int64_t[]){8});
    FX_I64(&f, "perm_shape", 0, 0, 2, -1);
    fx_node(&f, RG_OP_GATHER, "Gather_0", 17, "embeddings,input_ids", "emb");
    rg_node *ln = fx_node(&f, RG_OP_LAYER_NORMALIZATION, "LayerNorm_1", 17, "emb,ln.scale,", "normed,,");
    fx_attr_float(&f, ln, "epsilon", 1e-5f);
    fx_attr_int(&f, ln, "axis", -1);
    fx_node(&f, RG_OP_RESHAPE, "", 17, "normed,perm_shape", "odd name/1");
    rg_node *t = fx_node(&f, RG_OP_TRANSPOSE, "Transpose_3", 14, "odd name/1", "heads");
    FX_INTS(&f, t, "perm", 0, 2, 1, 3);
    rg_node *sp = fx_node(&f, RG_OP_SPLIT, "Split_4", 17, "heads", "left,right");
    fx_attr_int(&f, sp, "axis", 3);
    cr_assert_eq(rg_graph_add_output(f.g, rg_graph_find_value(f.g, "left"), &f.err), RG_OK);
    cr_assert_eq(rg_graph_add_output(f.g, rg_graph_find_value(f.g, "right"), &f.err), RG_OK);
    FX_INFER_OK(&f);
    cr_assert_eq(rg_verify(f.g, &f.err), RG_OK, "%s", f.err.message);

    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    cr_assert(mem);
    cr_assert_eq(rg_print(f.g, mem, &f.err), RG_OK, "%s", f.err.message);
    fclose(mem);
    check_golden("print_small.txt", text);
    free(text);
    fx_end(&f);
}
